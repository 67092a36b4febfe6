// SPDX-License-Identifier: Apache-2.0
#pragma once
// The demo race: target-only and speculative decoding of the same prompt,
// measured one after the other in one job thread (so neither slows the other)
// and handed back as per-token timelines that the race view plays back.
//
// Same job shape as GenerationWorker: each job has an id, runs on its own
// std::thread with a cancel flag and reports through queued invokeMethod
// calls on this object; stale results (cancelled, superseded) are dropped by
// id, and the destructor cancels and joins.
#include <QByteArray>
#include <QElapsedTimer>
#include <QMetaType>
#include <QObject>
#include <QString>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/model/sampler.h"
#include "ui/generation_types.h"

namespace sm::ui {

struct RaceRequest {
  QString target_dir, draft_dir;
  QString prompt = QStringLiteral("And God said");
  int max_tokens = 300;
  SamplingParams sampling;  // greedy by default: the outputs must match
  // tree, verify, backtrack, budget, tile (enabled / draft_path unused)
  SpecRequest spec = [] {
    SpecRequest s;
    s.enabled = true;
    s.tree = QStringLiteral("2,2,1");
    return s;
  }();
  int threads = 1;
};

struct RaceToken {
  int32_t id = 0;
  QByteArray bytes;
  double t_s = 0.0;    // since the lane's decode start; the first token comes right after prefill
  bool draft = false;  // an accepted draft token (speculative lane only)
};

struct RaceLane {
  std::vector<RaceToken> tokens;
  double prefill_s = 0.0;
  double decode_s = 0.0;            // decode forward time (excludes prefill)
  double tokens_per_second = 0.0;   // decode tokens / decode_s, as the CLI reports it
  int steps = 0;                    // target passes after the prefill
  double tokens_per_pass = 0.0;     // emitted tokens per target pass
  int draftTokens() const;
  QByteArray text() const;
};

struct RaceResult {
  RaceLane plain, spec;
  bool same_output = false;  // identical token ids (guaranteed for greedy sampling)
  bool greedy = true;
  QString tree;              // the shape as core describes it, e.g. "2,2,1 (8 nodes, depth 3)"
  // spec / plain decode rate; 0 if either is unknown.
  double speedup() const;
};

class RaceWorker : public QObject {
  Q_OBJECT

 public:
  explicit RaceWorker(QObject* parent = nullptr);
  ~RaceWorker() override;  // cancels the running job and joins it

  bool isBusy() const { return busy_; }
  // Starts a race; false (and failed) if one is already running.
  bool start(const RaceRequest& request);
  // Asks the running race to stop; it ends in cancelled().
  void stop();
  // stop() and join; nothing more is emitted for the cancelled job.
  void cancelAndWait();

  // Minimum spacing of progress signals (default 50 ms).
  void setProgressInterval(int ms) { progress_interval_ms_ = ms; }

 signals:
  // phase: "loading", "target-only" or "speculative"; done/total in tokens.
  void progress(const QString& phase, int done, int total);
  void finished(const sm::ui::RaceResult& result);
  void failed(const QString& message);
  void cancelled();

 private:
  void joinThread();
  void endJob(uint64_t id);

  bool busy_ = false;
  uint64_t job_id_ = 0;
  std::thread thread_;
  std::atomic<bool> cancel_{false};
  int progress_interval_ms_ = 50;
};

}  // namespace sm::ui

Q_DECLARE_METATYPE(sm::ui::RaceResult)
