// SPDX-License-Identifier: Apache-2.0
// Core headers first: Qt defines `emit` and `slots` as macros.
#include "core/io/error.h"
#include "core/sweep/sweep.h"
#include "accel/dataflow/sweep_sim.h"

#include "ui/workers/sweep_worker.h"

#include <QFile>
#include <QFileInfo>

#include <exception>
#include <mutex>
#include <set>
#include <string>

#include "ui/generation_worker.h"
#include "ui/workers/job_support.h"

namespace sm::ui {

namespace {

// The rows an interrupted run left in OUT.partial (or a complete OUT of the
// same spec): run_sweep reuses them, and the table shows them at once.
std::vector<sweep::SweepRow> rows_left_by_earlier_run(const std::string& out, const std::string& spec_hash) {
  for (const std::string& path : {sweep::partial_path(out), out}) {
    if (!QFileInfo::exists(QFile::decodeName(path.c_str()))) continue;
    try {
      sweep::SweepResults r = sweep::read_results(path);
      // A file of another spec makes run_sweep fail with its own message.
      if (r.spec_hash == spec_hash) return std::move(r.rows);
    } catch (const Error&) {
      // Unreadable: run_sweep reports it (or starts over).
    }
  }
  return {};
}

}  // namespace

sweep::RunOptions sweep_run_options(const SweepJob& job) {
  accel::check_sweep_platforms(job.spec);
  sweep::RunOptions opt;
  opt.out = QFile::encodeName(job.out).toStdString();
  opt.jobs = job.jobs;
  opt.stop_after = job.stop_after;
  opt.simulate = accel::sweep_simulator();
  return opt;
}

SweepWorker::SweepWorker(QObject* parent) : QObject(parent) {
  qRegisterMetaType<sm::sweep::SweepRow>();
  qRegisterMetaType<sm::ui::SweepOutcome>();
  qRegisterMetaType<std::vector<sm::sweep::SweepConfig>>();
}

SweepWorker::~SweepWorker() { cancelAndWait(); }

bool SweepWorker::start(const SweepJob& job) {
  if (busy_) {
    emit failed(tr("a sweep is already running"));
    return false;
  }
  joinThread();
  cancel_ = false;
  busy_ = true;
  const uint64_t id = ++job_id_;
  thread_ = std::thread([this, id, job] {
    // Posts `fn` to the GUI thread; dropped once the job is stale.
    auto post = [this, id](auto fn) {
      QMetaObject::invokeMethod(
          this,
          [this, id, fn = std::move(fn)] {
            if (id == job_id_) fn();
          },
          Qt::QueuedConnection);
    };

    SweepOutcome outcome;
    outcome.out = job.out;
    QString error;
    try {
      const std::string out = QFile::encodeName(job.out).toStdString();
      if (out.empty()) fail("--out", "no output file: choose where the results go");
      const sweep::SweepSpec& spec = job.spec;
      sweep::RunOptions opt = sweep_run_options(job);
      opt.cancel = &cancel_;

      std::vector<sweep::SweepConfig> plan;
      for (int64_t i : sweep::shard_indices(spec.size(), opt.shard)) plan.push_back(spec.config(i));
      post([this, plan] { emit planned(plan); });

      // Rows are posted once each: the earlier run's at once, the rest as
      // they finish, whatever run_sweep itself reports for reused rows.
      std::mutex posted_mutex;
      std::set<int64_t> posted, reused;
      auto post_row = [&](const sweep::SweepRow& row) {
        std::lock_guard<std::mutex> lock(posted_mutex);
        if (!posted.insert(row.config.index).second) return;
        const bool was_reused = reused.count(row.config.index) > 0;
        post([this, row, was_reused] { emit rowFinished(row, was_reused); });
      };
      for (const sweep::SweepRow& row : rows_left_by_earlier_run(out, spec.hash)) {
        reused.insert(row.config.index);
        post_row(row);
      }

      opt.progress = [&](const sweep::SweepProgress& p) {
        if (p.row) post_row(*p.row);
        const QString message = QString::fromStdString(p.message);
        const qlonglong done = p.done, total = p.total;
        post([this, done, total, message] { emit progress(done, total, message); });
      };
      const sweep::RunResult r = sweep::run_sweep(spec, opt);
      for (const sweep::SweepRow& row : r.results.rows) post_row(row);
      outcome.results = r.results;
      outcome.computed = r.computed;
      outcome.reused = r.reused;
      outcome.cancelled = r.cancelled;
      outcome.seconds = r.seconds;
    } catch (...) {
      error = what_of(std::current_exception());
    }
    post([this, outcome = std::move(outcome), error] {
      joinThread();
      busy_ = false;
      if (!error.isEmpty()) {
        emit failed(guiMessage(error));
        return;
      }
      computed_total_ += outcome.computed;
      emit finished(outcome);
    });
  });
  return true;
}

void SweepWorker::stop() { cancel_ = true; }

void SweepWorker::cancelAndWait() {
  cancel_ = true;
  joinThread();
  if (busy_) {
    ++job_id_;  // results already posted by the job are now stale
    busy_ = false;
  }
}

void SweepWorker::joinThread() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace sm::ui
