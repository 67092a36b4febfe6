// SPDX-License-Identifier: Apache-2.0
#pragma once
// A sweep in the background: core/sweep's run_sweep on its own std::thread
// (which runs `jobs` configurations at a time, one per task), every finished
// configuration handed to the GUI thread as rowFinished() the moment it is
// measured. Cancel stops after the running configurations; the progress is
// in OUT.partial, so starting the same spec with the same output file again
// resumes: the rows already done are reported at once (reused = true) and
// only the rest is computed.
//
// Same job shape as RaceWorker: each job has an id, reports through queued
// invokeMethod calls on this object, stale reports (after cancelAndWait) are
// dropped by id, and the destructor cancels and joins.
#include "core/sweep/sweep.h"

#include <QMetaType>
#include <QObject>
#include <QString>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace sm::ui {

struct SweepJob {
  sweep::SweepSpec spec;  // parsed (SweepSpec::parse) but platforms not yet checked
  QString out;            // results.h5; OUT.partial and OUT.cache/ beside it
  int jobs = 1;           // configurations at once
  // Test hook (RunOptions::stop_after): stop as if cancelled once this many
  // configurations were computed in this run; < 0 = off.
  int64_t stop_after = -1;
};

struct SweepOutcome {
  sweep::SweepResults results;  // every row done so far, in configuration order
  QString out;
  int64_t computed = 0;         // configurations run by this job
  int64_t reused = 0;           // taken from an earlier, interrupted run
  bool cancelled = false;       // OUT.partial holds the progress; OUT is untouched
  double seconds = 0;
};

class SweepWorker : public QObject {
  Q_OBJECT

 public:
  explicit SweepWorker(QObject* parent = nullptr);
  ~SweepWorker() override;  // cancels the running sweep and joins it

  bool isBusy() const { return busy_; }
  // Starts a sweep; false (and failed) if one is already running.
  bool start(const SweepJob& job);
  // Asks the sweep to stop after its running configurations; it ends in
  // finished() with outcome.cancelled set.
  void stop();
  // stop() and join; nothing more is emitted for the cancelled job.
  void cancelAndWait();

  // Configurations computed (not reused) by jobs of this worker, all told.
  int64_t configurationsComputed() const { return computed_total_; }

 signals:
  // The configurations the job will report, in order (before any row).
  void planned(const std::vector<sm::sweep::SweepConfig>& configs);
  void rowFinished(const sm::sweep::SweepRow& row, bool reused);
  // done/total in configurations (reused included); message: the phase
  // ("quantizing w4a4 target", "baseline fp32", "config 3/12 ...").
  void progress(qlonglong done, qlonglong total, const QString& message);
  void finished(const sm::ui::SweepOutcome& outcome);
  void failed(const QString& message);

 private:
  void joinThread();

  bool busy_ = false;
  uint64_t job_id_ = 0;
  std::thread thread_;
  std::atomic<bool> cancel_{false};
  int64_t computed_total_ = 0;
};

// run_sweep's options for `job` (no progress or cancel yet): out, jobs, the
// test hook, and accel's simulator for the sim columns, after checking the
// spec's platforms (throws sm::Error naming an unknown one).
sweep::RunOptions sweep_run_options(const SweepJob& job);

}  // namespace sm::ui

Q_DECLARE_METATYPE(sm::sweep::SweepRow)
Q_DECLARE_METATYPE(sm::ui::SweepOutcome)
Q_DECLARE_METATYPE(std::vector<sm::sweep::SweepConfig>)
