// SPDX-License-Identifier: Apache-2.0
#pragma once
// Runs model loading and generation off the GUI thread, one job at a time.
//
// The shape follows hotspot's JobTracker: every job has an id, runs on its own
// thread with a cancel flag, and hands its results back with a queued
// QMetaObject::invokeMethod on this object (events for a destroyed receiver
// are dropped by Qt; the destructor cancels and joins before that happens).
// Tokens stream through a mutex-guarded buffer and reach the GUI in batches,
// at most ~60 per second, however fast the model decodes.
#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "ui/generation_types.h"

namespace sm {
class MambaModel;
class Tokenizer;
}  // namespace sm

namespace sm::ui {

// Checks a request's speculative settings with core's parsers, exactly as the
// run would, without running anything: the problem in the GUI's words, or an
// empty string. The window calls it before it clears the last results.
QString checkRequest(const GenerationRequest& request);
// Core's messages name CLI flags ("--tree: the tree shape is empty"); the
// GUI names its fields ("Tree: the tree shape is empty").
QString guiMessage(const QString& core_message);

class GenerationWorker : public QObject {
  Q_OBJECT

 public:
  enum class Job { None, Load, Generate };

  explicit GenerationWorker(QObject* parent = nullptr);
  ~GenerationWorker() override;  // cancels the running job and joins it

  bool isBusy() const { return job_ != Job::None; }
  Job currentJob() const { return job_; }
  bool hasModel() const { return model_ != nullptr; }
  const ModelInfo& modelInfo() const { return info_; }
  // The draft model of the last speculative run (loaded on demand by
  // generate() in the job thread and kept while its path stays the same).
  bool hasDraft() const { return draft_ != nullptr; }
  const QString& draftPath() const { return draft_path_; }

  // Start a job; false (and errorOccurred) if one is already running.
  bool loadModel(const QString& dir, int threads = 1);
  // With request.spec.enabled: tree speculative decoding (sm::SpecDecoder)
  // with the draft at request.spec.draft_path; tokens stream with their
  // source (accepted draft token or the target's bonus token).
  bool generate(const GenerationRequest& request);

  // Asks the running generation to stop after the current token.
  void stop();
  // stop() and wait for the job's thread to end (window closing). Results of
  // the cancelled job are discarded.
  void cancelAndWait();

  // Minimum spacing of tokensArrived signals (default 16 ms).
  void setBatchInterval(int ms) { batch_interval_ms_ = ms; }

 signals:
  void busyChanged(bool busy);
  void loadStarted(const QString& dir);
  void modelLoaded(const sm::ui::ModelInfo& info);
  void generationStarted();
  void tokensArrived(const sm::ui::TokenBatch& tokens);
  void generationFinished(const sm::ui::GenerationSummary& summary);
  // A load or a generation failed; the message is sm::Error's, as is.
  void errorOccurred(const QString& message);
  // Work of a tuner run besides decoding: "Quantizing the target" (0 of 2),
  // "Bits per byte" (tokens done of total), ... stop() cancels it too
  // (quantizing a model finishes first; the evaluation stops at a chunk).
  void progressChanged(const QString& stage, qint64 done, qint64 total);

 private:
  void start(Job job, std::function<void()> body);
  void finishJob(uint64_t id);
  void onTokensPending(uint64_t id);
  void drainTokens();
  void joinThread();
  void pushToken(uint64_t id, TokenEvent ev);  // worker thread
  void postProgress(uint64_t id, const QString& stage, qint64 done, qint64 total);  // worker thread

  Job job_ = Job::None;
  uint64_t job_id_ = 0;
  std::thread thread_;
  std::atomic<bool> cancel_{false};

  std::shared_ptr<MambaModel> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  ModelInfo info_;
  std::shared_ptr<MambaModel> draft_;
  QString draft_path_;

  // Token hand-off from the worker thread.
  std::mutex pending_mu_;
  TokenBatch pending_;
  bool flush_posted_ = false;
  QTimer flush_timer_;
  QElapsedTimer since_last_batch_;
  int batch_interval_ms_ = 16;
};

}  // namespace sm::ui
