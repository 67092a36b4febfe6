// SPDX-License-Identifier: Apache-2.0
// The sweep worker on the shipped pair: 6 configurations complete and stream
// one row each; a run cancelled midway leaves a consistent OUT.partial and no
// OUT; resuming computes only the missing configurations (the reused rows
// come back unchanged); an unknown platform fails before anything runs.
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include "core/sweep/sweep.h"

#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <set>

#include "ui/workers/sweep_worker.h"

using sm::sweep::SweepRow;
using sm::ui::SweepJob;
using sm::ui::SweepOutcome;
using sm::ui::SweepWorker;

namespace {

// 3 trees x 2 backtracking policies, fp32, 16 tokens: a few seconds.
QString spec_json(const QString& platform = QStringLiteral("vck190")) {
  const QString root = QStringLiteral(SPECMAMBA_TEST_DATA "/../../data/models/");
  return QStringLiteral(R"({"target": "%1mamba2-target", "draft": "%1mamba2-draft",
    "prompt": "And God said", "max_tokens": 16,
    "axes": {"tree": ["1,1,1,1", "2,2,1", "2,1"], "backtrack": ["snapshot", "hybrid"],
             "budget": [100000], "preset": ["fp32"], "platform": ["%2"]}})")
      .arg(root, platform);
}

SweepJob job_in(const QTemporaryDir& dir, int64_t stop_after = -1) {
  SweepJob j;
  j.spec = sm::sweep::SweepSpec::parse(spec_json().toStdString(), "test");
  j.out = dir.filePath(QStringLiteral("results.h5"));
  j.jobs = 2;
  j.stop_after = stop_after;
  return j;
}

struct Run {
  std::vector<SweepRow> fresh, reused;
  SweepOutcome outcome;
  QString error;
};

Run run(SweepWorker& w, const SweepJob& job, const std::function<void(SweepWorker&)>& on_first_row = {}) {
  Run r;
  QSignalSpy finished(&w, &SweepWorker::finished);
  QSignalSpy failed(&w, &SweepWorker::failed);
  auto conn = QObject::connect(&w, &SweepWorker::rowFinished, &w, [&](const SweepRow& row, bool reused) {
    (reused ? r.reused : r.fresh).push_back(row);
    if (!reused && r.fresh.size() == 1 && on_first_row) on_first_row(w);
  });
  if (!w.start(job)) return r;
  for (int i = 0; i < 600 && finished.isEmpty() && failed.isEmpty(); ++i) finished.wait(500);
  QObject::disconnect(conn);
  if (!failed.isEmpty()) r.error = failed.first().first().toString();
  if (!finished.isEmpty()) r.outcome = finished.first().first().value<SweepOutcome>();
  return r;
}

std::set<int64_t> indices(const std::vector<SweepRow>& rows) {
  std::set<int64_t> s;
  for (const SweepRow& r : rows) s.insert(r.config.index);
  return s;
}

}  // namespace

class TestSweepWorker : public QObject {
  Q_OBJECT

 private slots:
  void sixConfigurationsComplete();
  void cancelMidwayLeavesAConsistentPartial();
  void resumeComputesOnlyTheMissingRows();
  void unknownPlatformFailsBeforeRunning();
};

void TestSweepWorker::sixConfigurationsComplete() {
  QTemporaryDir dir;
  SweepWorker w;
  QSignalSpy planned(&w, &SweepWorker::planned);
  QSignalSpy progress(&w, &SweepWorker::progress);
  const SweepJob job = job_in(dir);
  const Run r = run(w, job);
  QVERIFY2(r.error.isEmpty(), qPrintable(r.error));
  QVERIFY(!w.isBusy());
  QCOMPARE(planned.size(), 1);
  QCOMPARE(planned.first().first().value<std::vector<sm::sweep::SweepConfig>>().size(), size_t(6));
  QVERIFY(!progress.isEmpty());
  QCOMPARE(progress.last().at(0).toLongLong(), 6);
  QCOMPARE(progress.last().at(1).toLongLong(), 6);

  QVERIFY(!r.outcome.cancelled);
  QCOMPARE(r.outcome.computed, 6);
  QCOMPARE(r.outcome.reused, 0);
  QCOMPARE(r.fresh.size(), size_t(6));
  QVERIFY(r.reused.empty());
  QCOMPARE(indices(r.fresh), (std::set<int64_t>{0, 1, 2, 3, 4, 5}));
  for (const SweepRow& row : r.fresh) {
    QVERIFY2(row.ok(), row.error.c_str());
    QVERIFY(row.tokens_per_second > 0);
    QVERIFY(row.speedup > 0);
    QVERIFY(row.mean_accepted >= 0);
    QVERIFY(row.config.same_settings(job.spec.config(row.config.index)));
  }
  QCOMPARE(w.configurationsComputed(), 6);

  // The file holds exactly what was streamed, and no partial is left.
  const sm::sweep::SweepResults file = sm::sweep::read_results(job.out.toStdString());
  QVERIFY(file.complete);
  QCOMPARE(file.rows.size(), size_t(6));
  QVERIFY(!QFile::exists(QString::fromStdString(sm::sweep::partial_path(job.out.toStdString()))));
}

void TestSweepWorker::cancelMidwayLeavesAConsistentPartial() {
  QTemporaryDir dir;
  SweepWorker w;
  SweepJob job = job_in(dir);
  job.jobs = 1;
  // Cancel as the first row reaches the GUI thread: the sweep stops after
  // the configuration it is running.
  const Run r = run(w, job, [](SweepWorker& sw) { sw.stop(); });
  QVERIFY2(r.error.isEmpty(), qPrintable(r.error));
  QVERIFY(r.outcome.cancelled);
  QVERIFY(r.outcome.computed >= 1);
  QVERIFY(r.outcome.computed < 6);
  QCOMPARE(r.fresh.size(), size_t(r.outcome.computed));
  QVERIFY(!QFile::exists(job.out));  // OUT is only written complete
  const std::string partial = sm::sweep::partial_path(job.out.toStdString());
  const sm::sweep::SweepResults saved = sm::sweep::read_results(partial);
  QVERIFY(!saved.complete);
  QCOMPARE(indices(saved.rows), indices(r.fresh));
  QCOMPARE(indices(r.outcome.results.rows), indices(r.fresh));
}

void TestSweepWorker::resumeComputesOnlyTheMissingRows() {
  QTemporaryDir dir;
  SweepWorker w;
  // One job: the hook stops exactly after 2 (with 2 jobs a third may be running).
  SweepJob stopping = job_in(dir, 2);
  stopping.jobs = 1;
  const Run first = run(w, stopping);
  QVERIFY2(first.error.isEmpty(), qPrintable(first.error));
  QVERIFY(first.outcome.cancelled);
  QCOMPARE(first.outcome.computed, 2);
  QCOMPARE(first.fresh.size(), size_t(2));

  const Run second = run(w, job_in(dir));
  QVERIFY2(second.error.isEmpty(), qPrintable(second.error));
  QVERIFY(!second.outcome.cancelled);
  QCOMPARE(second.outcome.reused, 2);
  QCOMPARE(second.outcome.computed, 4);
  QCOMPARE(w.configurationsComputed(), 6);  // 2 + 4: none ran twice
  QCOMPARE(indices(second.reused), indices(first.fresh));
  std::set<int64_t> all = indices(second.reused);
  for (int64_t i : indices(second.fresh)) QVERIFY(all.insert(i).second);
  QCOMPARE(all.size(), size_t(6));
  // The reused rows are the measured ones, not new measurements.
  for (const SweepRow& old : first.fresh) {
    const auto it = std::find_if(second.reused.begin(), second.reused.end(),
                                 [&](const SweepRow& r) { return r.config.index == old.config.index; });
    QVERIFY(it != second.reused.end());
    QCOMPARE(it->tokens_per_second, old.tokens_per_second);
    QCOMPARE(it->seconds, old.seconds);
  }
  QCOMPARE(sm::sweep::read_results(job_in(dir).out.toStdString()).rows.size(), size_t(6));
}

void TestSweepWorker::unknownPlatformFailsBeforeRunning() {
  QTemporaryDir dir;
  SweepWorker w;
  SweepJob job = job_in(dir);
  job.spec = sm::sweep::SweepSpec::parse(spec_json(QStringLiteral("no-such-board")).toStdString(), "test");
  const Run r = run(w, job);
  QVERIFY(r.fresh.empty());
  QVERIFY2(r.error.contains(QStringLiteral("no-such-board")), qPrintable(r.error));
  QVERIFY(!QFile::exists(job.out));
  QVERIFY(!w.isBusy());
}

QTEST_GUILESS_MAIN(TestSweepWorker)
#include "tst_sweep_worker.moc"
