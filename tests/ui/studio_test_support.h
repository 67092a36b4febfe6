// SPDX-License-Identifier: Apache-2.0
#pragma once
// MainWindow helpers for the Studio's regression tests: the shipped model
// pair, loading and running through the window's own signals (no sleeps).
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include <QDebug>
#include <QDir>
#include <QSignalSpy>
#include <QString>

#include "ui/generation_panel.h"
#include "ui/main_window.h"
#include "ui/message_banner.h"
#include "ui/sampling_controls.h"
#include "ui/spec_controls.h"

namespace studio_test {

inline QString repoPath(const QString& rel) {
  return QDir::cleanPath(QStringLiteral(SPECMAMBA_TEST_DATA "/../../") + rel);
}
inline QString shippedTarget() { return repoPath(QStringLiteral("data/models/mamba2-target")); }
inline QString shippedDraft() { return repoPath(QStringLiteral("data/models/mamba2-draft")); }

// Loads `dir` through the window; false on failure or time-out.
inline bool load(sm::ui::MainWindow& w, const QString& dir = shippedTarget()) {
  QSignalSpy done(&w, &sm::ui::MainWindow::modelLoadFinished);
  w.loadModel(dir);
  if (done.isEmpty() && !done.wait(60000)) return false;
  return done.first().first().toBool();
}

// Greedy settings; an empty tree means target-only decoding.
inline void configure(sm::ui::MainWindow& w, const QString& tree, int max_tokens,
                      const QString& prompt = QStringLiteral("And God said")) {
  sm::ui::GenerationPanel* p = w.generationPanel();
  p->setPrompt(prompt);
  p->sampling()->setMaxTokens(max_tokens);
  p->sampling()->setParams({});
  sm::ui::SpecRequest r = p->spec()->request();
  r.enabled = !tree.isEmpty();
  r.draft_path = shippedDraft();
  if (!tree.isEmpty()) r.tree = tree;
  p->spec()->setRequest(r);
}

// One generation from the window's settings; true if it started and ended well.
inline bool run(sm::ui::MainWindow& w) {
  QSignalSpy finished(&w, &sm::ui::MainWindow::runFinished);
  if (!w.startGeneration()) return false;
  if (finished.isEmpty() && !finished.wait(120000)) return false;
  if (!finished.first().first().toBool()) qWarning() << "run failed:" << w.messageBanner()->text();
  return finished.first().first().toBool();
}

}  // namespace studio_test
