// SPDX-License-Identifier: Apache-2.0
// The sweep table under QAbstractItemModelTester: pending rows, results
// streaming in (in place and appended), failures with their message, a
// results file replacing the table, metric values for the Pareto plot, and
// sorting through SweepSortProxy with missing figures last both ways.
#include "core/sweep/sweep.h"

#include <QAbstractItemModelTester>
#include <QtTest>

#include <cmath>

#include "ui/models/sweep_table_model.h"

using sm::sweep::SweepConfig;
using sm::sweep::SweepRow;
using sm::ui::SweepSortProxy;
using sm::ui::SweepTableModel;
using Status = SweepTableModel::RowStatus;

namespace {

SweepConfig config(int64_t index, const std::string& tree, const std::string& preset = "fp32") {
  SweepConfig c;
  c.index = index;
  c.tree = tree;
  c.verify = "fifo";
  c.tile = 0;
  c.backtrack = "snapshot";
  c.budget = 100000;
  c.preset = preset;
  c.platform = "vck190";
  return c;
}

SweepRow row(const SweepConfig& c, double tps, double energy = std::nan("")) {
  SweepRow r;
  r.config = c;
  r.tokens_per_second = tps;
  r.baseline_tokens_per_second = tps / 2;
  r.speedup = 2.0;
  r.mean_accepted = 1.5;
  r.energy_per_token_mj = energy;
  r.lut = 1000 + c.index;
  return r;
}

QString cell(const QAbstractItemModel& m, int r, int c) { return m.index(r, c).data().toString(); }

std::vector<int64_t> order(const QAbstractItemModel& m) {
  std::vector<int64_t> out;
  for (int r = 0; r < m.rowCount(); ++r) out.push_back(m.index(r, 0).data(SweepTableModel::ConfigIndexRole).toLongLong());
  return out;
}

}  // namespace

class TestSweepTableModel : public QObject {
  Q_OBJECT

 private slots:
  void pendingThenResultsInPlace();
  void unknownResultIsAppended();
  void failedRowKeepsItsMessage();
  void setResultsReplacesTheTable();
  void metricValuesOnlyForDoneRows();
  void sortingPutsMissingFiguresLast();
};

void TestSweepTableModel::pendingThenResultsInPlace() {
  SweepTableModel m;
  QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
  m.addPending({config(0, "1,1,1,1"), config(1, "2,2,1"), config(2, "2,1")});
  QCOMPARE(m.rowCount(), 3);
  QCOMPARE(m.columnCount(), int(SweepTableModel::ColumnCount));
  QCOMPARE(cell(m, 1, SweepTableModel::Status), QStringLiteral("pending"));
  QCOMPARE(cell(m, 1, SweepTableModel::Tree), QStringLiteral("2,2,1"));
  QVERIFY(cell(m, 1, SweepTableModel::TokensPerSecond).isEmpty());

  m.setRunning(1);
  QCOMPARE(cell(m, 1, SweepTableModel::Status), QStringLiteral("running"));
  QSignalSpy changed(&m, &QAbstractItemModel::dataChanged);
  m.addResult(row(config(1, "2,2,1"), 1234.4, 0.5));
  QCOMPARE(m.rowCount(), 3);  // in place
  QCOMPARE(changed.size(), 1);
  QCOMPARE(changed.first().at(0).toModelIndex().row(), 1);
  QCOMPARE(cell(m, 1, SweepTableModel::Status), QStringLiteral("done"));
  QCOMPARE(m.index(1, SweepTableModel::TokensPerSecond).data(SweepTableModel::SortRole).toDouble(), 1234.4);
  QCOMPARE(cell(m, 1, SweepTableModel::Speedup), QLocale().toString(2.0, 'f', 2));
  QCOMPARE(cell(m, 1, SweepTableModel::Lut), QLocale().toString(1001.0, 'f', 0));
  QVERIFY(cell(m, 1, SweepTableModel::Dsp).isEmpty());  // -1: unknown
  QCOMPARE(m.count(Status::Done), 1);
  QCOMPARE(m.count(Status::Pending), 2);

  // A resumed run lists the same configurations again: done rows stay done.
  m.setRunning(2);
  m.addPending({config(0, "1,1,1,1"), config(1, "2,2,1"), config(2, "2,1")});
  QCOMPARE(m.rowCount(), 3);
  QCOMPARE(m.count(Status::Done), 1);
  QCOMPARE(m.count(Status::Running), 0);
  m.setRunning(0);
  m.resetUnfinished();
  QCOMPARE(m.count(Status::Pending), 2);
  m.clear();
  QCOMPARE(m.rowCount(), 0);
}

void TestSweepTableModel::unknownResultIsAppended() {
  SweepTableModel m;
  QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
  QSignalSpy inserted(&m, &QAbstractItemModel::rowsInserted);
  m.addResult(row(config(4, "2,1"), 10));
  m.addResult(row(config(2, "2,2"), 20));
  QCOMPARE(inserted.size(), 2);
  QCOMPARE(m.rowCount(), 2);
  QCOMPARE(m.rowOfConfig(2), 1);
  QCOMPARE(m.rowOfConfig(3), -1);
  QCOMPARE(m.entry(0).config.index, 4);
}

void TestSweepTableModel::failedRowKeepsItsMessage() {
  SweepTableModel m;
  QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
  SweepRow r = row(config(0, "9,9,9"), std::nan(""));
  r.error = "--tree: too many nodes";
  m.addResult(r);
  QCOMPARE(cell(m, 0, SweepTableModel::Status), QStringLiteral("failed"));
  QCOMPARE(cell(m, 0, SweepTableModel::Message), QStringLiteral("--tree: too many nodes"));
  QCOMPARE(m.index(0, SweepTableModel::Status).data(Qt::ToolTipRole).toString(),
           QStringLiteral("--tree: too many nodes"));
  QCOMPARE(m.count(Status::Failed), 1);
  // A failed run is no point of the plot, even with a figure set.
  QVERIFY(std::isnan(m.metricValues("speedup")[0]));
}

void TestSweepTableModel::setResultsReplacesTheTable() {
  SweepTableModel m;
  QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
  m.addPending({config(0, "1"), config(1, "2")});
  QSignalSpy reset(&m, &QAbstractItemModel::modelReset);
  m.setResults({row(config(0, "1"), 5), row(config(1, "2"), 6), row(config(2, "3"), 7)});
  QCOMPARE(reset.size(), 1);
  QCOMPARE(m.rowCount(), 3);
  QCOMPARE(m.count(Status::Done), 3);
  QCOMPARE(m.rowOfConfig(2), 2);
}

void TestSweepTableModel::metricValuesOnlyForDoneRows() {
  SweepTableModel m;
  m.addPending({config(0, "1"), config(1, "2"), config(2, "3")});
  m.addResult(row(config(0, "1"), 5, 0.25));
  m.addResult(row(config(2, "3"), 7));
  const std::vector<double> tps = m.metricValues("tokens_per_second");
  QCOMPARE(tps.size(), size_t(3));
  QCOMPARE(tps[0], 5.0);
  QVERIFY(std::isnan(tps[1]));  // pending
  QCOMPARE(tps[2], 7.0);
  const std::vector<double> e = m.metricValues("energy_per_token_mj");
  QCOMPARE(e[0], 0.25);
  QVERIFY(std::isnan(e[2]));  // not modelled
  QVERIFY(std::isnan(m.metricValues("dsp")[0]));  // resources -1 are missing, not -1
  QCOMPARE(m.metricValues("lut")[2], 1002.0);
  // Every Pareto axis is a results column core knows.
  for (const sm::ui::SweepMetric& mt : sm::ui::sweep_metrics()) {
    bool known = false;
    for (const auto& c : sm::sweep::result_columns(true)) known |= c.name == mt.key;
    QVERIFY2(known, mt.key.c_str());
  }
}

void TestSweepTableModel::sortingPutsMissingFiguresLast() {
  SweepTableModel m;
  SweepSortProxy proxy;
  proxy.setSourceModel(&m);
  QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
  m.addPending({config(0, "1"), config(1, "2"), config(2, "3"), config(3, "4")});
  m.addResult(row(config(0, "1"), 30));
  m.addResult(row(config(1, "2"), 10));
  m.addResult(row(config(3, "4"), 20));
  proxy.sort(SweepTableModel::TokensPerSecond, Qt::AscendingOrder);
  QCOMPARE(order(proxy), (std::vector<int64_t>{1, 3, 0, 2}));
  proxy.sort(SweepTableModel::TokensPerSecond, Qt::DescendingOrder);
  QCOMPARE(order(proxy), (std::vector<int64_t>{0, 3, 1, 2}));
  // Streaming keeps the sort: config 2 arrives fastest.
  m.addResult(row(config(2, "3"), 99));
  QCOMPARE(order(proxy), (std::vector<int64_t>{2, 0, 3, 1}));
  // Text columns sort as text; equal keys stay in configuration order.
  proxy.sort(SweepTableModel::Preset, Qt::DescendingOrder);
  QCOMPARE(order(proxy), (std::vector<int64_t>{0, 1, 2, 3}));
}

QTEST_GUILESS_MAIN(TestSweepTableModel)
#include "tst_sweep_table_model.moc"
