// SPDX-License-Identifier: Apache-2.0
// The sweep view on the shipped pair: the editor's spec round-trips; a sweep
// of 6 configurations fills the table and the plot; a run stopped midway is
// resumed without recomputing its rows; the plotted front and staircase are
// pareto.h's for every axis pair; clicking a point or a row emits that
// configuration; a results file opens; screenshots at 900x600 and 600x400.
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include "core/sweep/sweep.h"

#include <QFile>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

#include <qcustomplot.h>

#include "ui/models/pareto.h"
#include "ui/models/sweep_table_model.h"
#include "ui/views/sweep_view.h"
#include "ui/workers/sweep_worker.h"

using sm::ui::SweepChoice;
using sm::ui::SweepTableModel;
using sm::ui::SweepView;
using Status = SweepTableModel::RowStatus;

namespace {

const QString kModels = QStringLiteral(SPECMAMBA_TEST_DATA "/../../data/models/");

// 3 trees x 2 backtracking policies, fp32, 16 tokens, on the shipped pair.
sm::sweep::SweepSpec six_configs() {
  const QString json = QStringLiteral(R"({"target": "%1mamba2-target", "draft": "%1mamba2-draft",
    "prompt": "And God said", "max_tokens": 16,
    "axes": {"tree": ["1,1,1,1", "2,2,1", "3,1"], "backtrack": ["snapshot", "hybrid"],
             "budget": [100000], "preset": ["fp32"], "platform": ["vck190"]}})")
                           .arg(kModels);
  return sm::sweep::SweepSpec::parse(json.toStdString(), "test");
}

bool wait_finished(SweepView& v, bool* complete) {
  QSignalSpy done(&v, &SweepView::runFinished);
  for (int i = 0; i < 600 && done.isEmpty(); ++i) done.wait(500);
  if (done.isEmpty()) return false;
  *complete = done.first().first().toBool();
  return true;
}

void prepare(SweepView& v, const QString& out) {
  v.setSpec(six_configs());
  v.setOutputPath(out);
  v.setJobs(2);
  v.resize(900, 600);
  v.show();
}

}  // namespace

class TestSweepView : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase();
  void editorRoundTripsTheSpec();
  void badSpecIsRefusedWithItsMessage();
  void sixConfigurationsComplete();
  void plottedFrontIsParetoFront();
  void clickingAPointEmitsItsConfiguration();
  void clickingARowEmitsItsConfiguration();
  void openedResultsShowTheSameSweep();
  void screenshots();
  void cancelledRunResumesWithoutRecomputing();

 private:
  QTemporaryDir dir_;
  QString out_;
};

void TestSweepView::initTestCase() {
  QVERIFY(dir_.isValid());
  out_ = dir_.filePath(QStringLiteral("results.h5"));
}

void TestSweepView::editorRoundTripsTheSpec() {
  SweepView v;
  const sm::sweep::SweepSpec s = six_configs();
  v.setSpec(s);
  const sm::sweep::SweepSpec back = v.spec();
  QCOMPARE(back.size(), 6);
  QVERIFY(back.tree == s.tree);
  QVERIFY(back.backtrack == s.backtrack);
  QVERIFY(back.budget == s.budget);
  QVERIFY(back.preset == s.preset);
  QVERIFY(back.platform == s.platform);
  QCOMPARE(back.max_tokens, 16);
  QCOMPARE(back.hash, s.hash);  // the same sweep: resumable from the CLI's file
}

void TestSweepView::badSpecIsRefusedWithItsMessage() {
  SweepView v;
  v.setSpec(six_configs());
  v.setOutputPath(dir_.filePath(QStringLiteral("bad.h5")));
  // A tile list that is not numbers fails before any work, naming the field.
  auto* tiles = v.findChild<QLineEdit*>(QStringLiteral("tiles"));
  QVERIFY(tiles);
  tiles->setText(QStringLiteral("0, four"));
  QVERIFY(!v.run());
  QVERIFY2(v.message().contains(QStringLiteral("Tiles")), qPrintable(v.message()));
  QVERIFY(!v.isRunning());
  QVERIFY(!QFile::exists(dir_.filePath(QStringLiteral("bad.h5"))));
}

void TestSweepView::sixConfigurationsComplete() {
  SweepView v;
  prepare(v, out_);
  QVERIFY(v.run());
  QVERIFY(v.isRunning());
  bool complete = false;
  QVERIFY(wait_finished(v, &complete));
  QVERIFY2(complete, qPrintable(v.message()));
  QCOMPARE(v.model()->rowCount(), 6);
  QCOMPARE(v.model()->count(Status::Done), 6);
  QVERIFY2(v.message().startsWith(QStringLiteral("Done")), qPrintable(v.message()));
  QVERIFY(QFile::exists(out_));
  QCOMPARE(v.worker()->configurationsComputed(), 6);
  QVERIFY(!v.frontConfigs().empty());
}

void TestSweepView::plottedFrontIsParetoFront() {
  SweepView v;
  prepare(v, out_);
  QVERIFY(v.openResults(out_));
  const SweepTableModel* m = v.model();
  QCOMPARE(m->count(Status::Done), 6);
  int pairs_with_front = 0;
  for (const sm::ui::SweepMetric& mx : sm::ui::sweep_metrics())
    for (const sm::ui::SweepMetric& my : sm::ui::sweep_metrics()) {
      if (mx.key == my.key) continue;
      v.setAxes(mx.key, my.key);
      const std::vector<double> xs = m->metricValues(mx.key), ys = m->metricValues(my.key);
      const sm::ui::ParetoFront f = sm::ui::pareto_front_2d(xs, mx.direction, ys, my.direction);
      std::vector<int64_t> expect;
      std::vector<std::pair<double, double>> pts;
      for (size_t i : f.indices) {
        expect.push_back(m->entry(int(i)).config.index);
        pts.push_back({xs[i], ys[i]});
      }
      QCOMPARE(v.frontConfigs(), expect);
      QVERIFY(v.frontLine() == sm::ui::pareto_staircase(pts, mx.direction, my.direction));
      QCOMPARE(v.excludedPoints(), f.excluded);
      pairs_with_front += !expect.empty();
    }
  // tok/s, speedup, accepted, sim tok/s, energy and LUT exist for the shipped pair on vck190.
  QVERIFY(pairs_with_front >= 6 * 5);
}

void TestSweepView::clickingAPointEmitsItsConfiguration() {
  SweepView v;
  prepare(v, out_);
  QVERIFY(v.openResults(out_));
  v.setAxes("tokens_per_second", "mean_accepted");
  QVERIFY(QTest::qWaitForWindowExposed(&v));
  v.plot()->replot();
  QSignalSpy chosen(&v, &SweepView::configurationChosen);
  // Every plotted point, clicked, emits its own configuration's settings.
  int clicked = 0;
  for (int r = 0; r < v.model()->rowCount(); ++r) {
    const sm::sweep::SweepConfig& c = v.model()->entry(r).config;
    QPointF px;
    if (!v.pointPosition(c.index, &px)) continue;
    chosen.clear();
    QTest::mouseClick(v.plot(), Qt::LeftButton, {}, px.toPoint());
    QCOMPARE(chosen.size(), 1);
    const SweepChoice got = chosen.first().first().value<SweepChoice>();
    // Points that coincide on screen are one click: the choice must be one of them.
    QPointF gpx;
    QVERIFY(v.pointPosition(got.config_index, &gpx));
    QVERIFY(QLineF(gpx, px).length() < 1.5);
    if (got.config_index != c.index) continue;
    ++clicked;
    QCOMPARE(got, SweepChoice::from(c));
    QCOMPARE(got.toVariantMap().value(QStringLiteral("tree")).toString(), QString::fromStdString(c.tree));
    QCOMPARE(got.toVariantMap().value(QStringLiteral("budget")).toLongLong(), c.budget);
    QCOMPARE(v.chosenConfiguration(), c.index);
    // The table follows.
    const QModelIndex cur = v.table()->currentIndex();
    QCOMPARE(cur.data(SweepTableModel::ConfigIndexRole).toLongLong(), c.index);
  }
  QVERIFY(clicked >= 2);
  // Empty space chooses nothing.
  chosen.clear();
  QTest::mouseClick(v.plot(), Qt::LeftButton, {}, QPoint(2, 2));
  QCOMPARE(chosen.size(), 0);
}

void TestSweepView::clickingARowEmitsItsConfiguration() {
  SweepView v;
  prepare(v, out_);
  QVERIFY(v.openResults(out_));
  QVERIFY(QTest::qWaitForWindowExposed(&v));
  QSignalSpy chosen(&v, &SweepView::configurationChosen);
  QTableView* t = v.table();
  t->sortByColumn(SweepTableModel::TokensPerSecond, Qt::DescendingOrder);
  const QModelIndex idx = t->model()->index(3, SweepTableModel::Tree);
  QTest::mouseClick(t->viewport(), Qt::LeftButton, {}, t->visualRect(idx).center());
  QCOMPARE(chosen.size(), 1);
  const int64_t config = idx.data(SweepTableModel::ConfigIndexRole).toLongLong();
  const SweepChoice got = chosen.first().first().value<SweepChoice>();
  QCOMPARE(got.config_index, config);
  QCOMPARE(got.tree, idx.data().toString());
  QCOMPARE(v.chosenConfiguration(), config);
}

void TestSweepView::openedResultsShowTheSameSweep() {
  SweepView v;
  QVERIFY(v.openResults(out_));
  QCOMPARE(v.model()->rowCount(), 6);
  // The editor holds the file's spec again.
  QCOMPARE(v.spec().hash, six_configs().hash);
  QVERIFY(!v.openResults(dir_.filePath(QStringLiteral("missing.h5"))));
  QVERIFY(v.message().contains(QStringLiteral("missing.h5")));
}

void TestSweepView::screenshots() {
  SweepView v;
  prepare(v, out_);
  QVERIFY(v.openResults(out_));
  v.setAxes("tokens_per_second", "energy_per_token_mj");
  QVERIFY(QTest::qWaitForWindowExposed(&v));
  v.chooseConfiguration(v.frontConfigs().front());
  for (const QSize size : {QSize(900, 600), QSize(600, 400)}) {
    v.resize(size);
    for (int i = 0; i < 5; ++i) QApplication::processEvents();
    v.plot()->replot();
    const QString path = size.width() == 900 ? QStringLiteral("/tmp/sweep.png") : QStringLiteral("/tmp/sweep-600.png");
    QVERIFY(v.grab().save(path));
    // The controls that matter fit at the small size too.
    for (const char* name : {"run", "resume", "cancel", "open"}) {
      auto* b = v.findChild<QPushButton*>(QLatin1String(name));
      QVERIFY(b && b->isVisible() && b->width() >= b->minimumSizeHint().width());
    }
    QVERIFY(v.plot()->height() >= 100);
  }
}

void TestSweepView::cancelledRunResumesWithoutRecomputing() {
  SweepView v;
  const QString out = dir_.filePath(QStringLiteral("resumed.h5"));
  prepare(v, out);
  v.setStopAfter(3);
  QVERIFY(v.run());
  bool complete = true;
  QVERIFY(wait_finished(v, &complete));
  QVERIFY(!complete);
  // 3, or 4 when the second job was already running a configuration.
  const int done = v.model()->count(Status::Done);
  QVERIFY2(done == 3 || done == 4, qPrintable(QString::number(done)));
  QCOMPARE(v.model()->count(Status::Pending), 6 - done);
  QCOMPARE(v.worker()->configurationsComputed(), done);
  QVERIFY(!QFile::exists(out));
  auto* resume = v.findChild<QPushButton*>(QStringLiteral("resume"));
  QVERIFY(resume && resume->isEnabled());

  v.setStopAfter(-1);
  QTest::mouseClick(resume, Qt::LeftButton);
  QVERIFY(v.isRunning());
  QVERIFY(wait_finished(v, &complete));
  QVERIFY2(complete, qPrintable(v.message()));
  QCOMPARE(v.model()->count(Status::Done), 6);
  QCOMPARE(v.worker()->configurationsComputed(), 6);  // done + the rest: nothing ran twice
  QVERIFY2(v.message().contains(QStringLiteral("%1 computed, %2 reused").arg(6 - done).arg(done)),
           qPrintable(v.message()));
  QVERIFY(!resume->isEnabled());
  QCOMPARE(sm::sweep::read_results(out.toStdString()).rows.size(), size_t(6));
}

QTEST_MAIN(TestSweepView)
#include "tst_sweep_view.moc"
