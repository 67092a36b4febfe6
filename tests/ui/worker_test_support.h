// SPDX-License-Identifier: Apache-2.0
#pragma once
// Synchronous helpers over the asynchronous GenerationWorker, shared by the
// Qt tests: load a model and run one job, waiting on the worker's signals.
#include <QDebug>
#include <QSignalSpy>

#include "ui/generation_worker.h"

namespace worker_test {

// Loads `model` into `w`; false if loading failed or timed out.
inline bool load(sm::ui::GenerationWorker& w, const QString& model) {
  QSignalSpy loaded(&w, &sm::ui::GenerationWorker::modelLoaded);
  QSignalSpy failed(&w, &sm::ui::GenerationWorker::errorOccurred);
  if (!w.loadModel(model, 1)) return false;
  if (!loaded.wait(60000)) return false;
  return failed.isEmpty() && w.hasModel() && !w.isBusy();
}

// Runs one generation; appends the streamed tokens to `streamed` if given.
// Returns an empty summary if the job was refused, failed or timed out.
inline sm::ui::GenerationSummary run(sm::ui::GenerationWorker& w, const sm::ui::GenerationRequest& req,
                             sm::ui::TokenBatch* streamed) {
  QSignalSpy finished(&w, &sm::ui::GenerationWorker::generationFinished);
  QSignalSpy error(&w, &sm::ui::GenerationWorker::errorOccurred);
  auto conn = QObject::connect(&w, &sm::ui::GenerationWorker::tokensArrived, &w,
                               [streamed](const sm::ui::TokenBatch& b) {
                                 if (streamed) *streamed += b;
                               });
  if (w.generate(req)) finished.wait(120000);
  QObject::disconnect(conn);
  if (!error.isEmpty()) qWarning() << "error:" << error.first().first().toString();
  if (finished.isEmpty()) return {};
  return finished.first().first().value<sm::ui::GenerationSummary>();
}

}  // namespace worker_test
