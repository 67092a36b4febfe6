// SPDX-License-Identifier: Apache-2.0
// The FIFO view: placeholders, programmatic vs user selection, stepping ops
// across tiles and layers, the compare panes, and renders at both sizes.
#include "timing_budget.h"
#include <QCheckBox>
#include <QComboBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableView>
#include <QtTest>

#include <random>

#include "core/spec/token_tree.h"
#include "ui/models/fifo_walk.h"
#include "ui/views/fifo_view.h"

using namespace sm;
using namespace sm::ui;

namespace {

// A run over `spec` with `steps` steps, 2 layers x (16 units / tile 8) = 2 tiles,
// FIFO events recorded from the schedule of `verify`.
std::shared_ptr<RunRecord> make_run(const std::string& spec, const QString& verify, int steps,
                                    bool fifo_events = true) {
  auto run = std::make_shared<RunRecord>();
  run->name = QStringLiteral("Run 1");
  run->settings.target = QStringLiteral("target");
  run->settings.draft = QStringLiteral("draft");
  run->settings.tree = QString::fromStdString(spec);
  run->settings.verify = verify;
  run->settings.tile = 8;
  run->target_geometry.n_layer = 2;
  run->target_geometry.state_units = 16;
  run->target_geometry.layer_state_bytes = 16 * 16 * 16 * 4;
  auto shape = std::make_shared<TreeShape>(TreeShape::parse(spec));
  run->shape = shape;
  const VerifySchedule sched = VerifySchedule::build(*shape, verify_order_or_fifo(verify));
  std::mt19937 rng(7);
  for (int s = 0; s < steps; ++s) {
    StepRecord st;
    st.step = s;
    for (int v = 0; v < shape->size(); ++v) {
      NodeRecord n;
      n.node = v;
      n.parent = shape->parent[v];
      n.depth = shape->depth[v];
      n.token = int(rng() % 200) + 32;
      n.verdict = v == 0 ? Verdict::Root : Verdict::NotExamined;
      st.nodes.push_back(n);
    }
    st.path = {0};
    if (fifo_events)
      for (int l = 0; l < 2; ++l)
        for (int t = 0; t < 2; ++t)
          for (const ScanOp& op : sched.ops)
            if (op.kind == ScanOp::Push || op.kind == ScanOp::Pop)
              st.fifo.push_back({op.kind == ScanOp::Push, l, t, op.node, op.live, 0.0});
    run->steps.push_back(std::move(st));
  }
  return run;
}

int visible_panes(const FifoView& v) {
  int n = 0;
  for (QWidget* w : v.findChildren<QWidget*>(QStringLiteral("walkPane")))
    if (w->isVisible()) ++n;
  return n;
}

}  // namespace

class TstFifoView : public QObject {
  Q_OBJECT

 private slots:
  void placeholder_without_run() {
    FifoView v;
    v.resize(600, 400);
    v.show();
    QVERIFY(v.showingPlaceholder());
    QVERIFY(v.placeholderText().contains(QStringLiteral("No speculative run yet")));
    QCOMPARE(v.currentStep(), -1);
    QCOMPARE(v.opCount(), 0);
    v.setStep(3);  // harmless
    QTest::keyClick(&v, Qt::Key_Right);
    QCOMPARE(v.currentOp(), 0);
  }

  void placeholder_for_target_only_run() {
    auto run = std::make_shared<RunRecord>();
    run->settings.target = QStringLiteral("target");
    FifoView v;
    v.setRun(run);
    QVERIFY(v.showingPlaceholder());
    QVERIFY(v.placeholderText().contains(QStringLiteral("needs a speculative run")));
    // A real run after it replaces the placeholder, null brings it back.
    v.setRun(make_run("2,2,1", "fifo", 3));
    QVERIFY(!v.showingPlaceholder());
    v.setRun(nullptr);
    QVERIFY(v.showingPlaceholder());
    QVERIFY(v.placeholderText().contains(QStringLiteral("No speculative run yet")));
  }

  void set_run_uses_the_runs_order() {
    FifoView v;
    v.setRun(make_run("4,2,2", "dfs", 4));
    QCOMPARE(v.orderName(), QStringLiteral("dfs"));
    QCOMPARE(v.currentStep(), 0);
    QCOMPARE(v.opCount(), FifoWalk::build(TreeShape::parse("4,2,2"), VerifyOrder::Dfs).size());
    QCOMPARE(v.tileCount(), 2);
    QCOMPARE(v.layerCount(), 2);
    QVERIFY2(v.agreementText().contains(QStringLiteral("recorded walk matches the schedule")),
             qPrintable(v.agreementText()));
  }

  void set_step_does_not_emit() {
    FifoView v;
    QSignalSpy steps(&v, &FifoView::stepSelected);
    QSignalSpy nodes(&v, &FifoView::nodeSelected);
    v.setRun(make_run("2,2,1", "fifo", 12));
    v.setStep(5);
    QCOMPARE(v.currentStep(), 5);
    v.selectNode(7, 3);
    QCOMPARE(v.currentStep(), 7);
    // Jumps to the op that computes node 3.
    const FifoWalk w = FifoWalk::build(TreeShape::parse("2,2,1"), VerifyOrder::Fifo);
    QCOMPARE(v.currentOp(), w.first_step[3]);
    v.setStep(99);  // clamped
    QCOMPARE(v.currentStep(), 11);
    QCOMPARE(steps.count(), 0);
    QCOMPARE(nodes.count(), 0);
    // The step box is a user action.
    auto* spin = v.findChild<QSpinBox*>();
    QVERIFY(spin);
    spin->setValue(2);
    QCOMPARE(steps.count(), 1);
    QCOMPARE(steps.takeFirst().at(0).toInt(), 2);
  }

  void stepping_ops_with_keys_and_buttons() {
    FifoView v;
    v.resize(900, 600);
    v.show();
    v.setRun(make_run("2,2,1", "fifo", 3));
    const int n = v.opCount();
    QVERIFY(n > 10);
    v.setFocus();
    QTest::keyClick(&v, Qt::Key_Right);
    QTest::keyClick(&v, Qt::Key_Right);
    QCOMPARE(v.currentOp(), 2);
    QTest::keyClick(&v, Qt::Key_Left);
    QCOMPARE(v.currentOp(), 1);
    auto* fwd = v.findChild<QPushButton*>(QStringLiteral("forwardButton"));
    auto* back = v.findChild<QPushButton*>(QStringLiteral("backButton"));
    QVERIFY(fwd && back);
    QTest::mouseClick(fwd, Qt::LeftButton);
    QCOMPARE(v.currentOp(), 2);
    QTest::mouseClick(back, Qt::LeftButton);
    QTest::mouseClick(back, Qt::LeftButton);
    QCOMPARE(v.currentOp(), 0);
    QVERIFY(!back->isEnabled());  // the very first op of layer 0, tile 0
    // Past the last op of a tile: the next tile, then the next layer.
    QTest::keyClick(&v, Qt::Key_End);
    QCOMPARE(v.currentOp(), n - 1);
    QCOMPARE(v.currentTile(), 0);
    QTest::keyClick(&v, Qt::Key_Right);
    QCOMPARE(v.currentOp(), 0);
    QCOMPARE(v.currentTile(), 1);
    QCOMPARE(v.currentLayer(), 0);
    QTest::keyClick(&v, Qt::Key_PageDown);
    QCOMPARE(v.currentTile(), 0);
    QCOMPARE(v.currentLayer(), 1);
    QTest::keyClick(&v, Qt::Key_PageUp);
    QCOMPARE(v.currentLayer(), 0);
    QCOMPARE(v.currentTile(), 1);
    // The end of the last layer's last tile stops there.
    QTest::keyClick(&v, Qt::Key_PageDown);
    QTest::keyClick(&v, Qt::Key_PageDown);
    QTest::keyClick(&v, Qt::Key_End);
    QCOMPARE(v.currentLayer(), 1);
    QCOMPARE(v.currentTile(), 1);
    QTest::keyClick(&v, Qt::Key_Right);
    QCOMPARE(v.currentOp(), n - 1);
    QVERIFY(!fwd->isEnabled());
    // The table follows; clicking a row moves the walk.
    auto* table = v.findChild<QTableView*>();
    QVERIFY(table && table->isVisible());
    QCOMPARE(table->currentIndex().row(), n - 1);
    table->setCurrentIndex(table->model()->index(4, 0));
    QCOMPARE(v.currentOp(), 4);
  }

  void play_animates() {
    FifoView v;
    v.setRun(make_run("2,2,1", "fifo", 2));
    QVERIFY(!v.isPlaying());
    QTest::keyClick(&v, Qt::Key_Space);
    QVERIFY(v.isPlaying());
    QTRY_VERIFY_WITH_TIMEOUT(v.currentOp() >= 1, 2000);
    QTest::keyClick(&v, Qt::Key_Space);
    QVERIFY(!v.isPlaying());
    const int at = v.currentOp();
    QTest::qWait(400);
    QCOMPARE(v.currentOp(), at);
  }

  void order_change_keeps_fraction() {
    FifoView v;
    v.setRun(make_run("4,2,2", "fifo", 2));
    v.setOp(v.opCount() - 1);
    auto* combo = v.findChild<QComboBox*>();
    QVERIFY(combo);
    combo->setCurrentIndex(2);  // paths
    QCOMPARE(v.orderName(), QStringLiteral("paths"));
    QCOMPARE(v.currentOp(), v.opCount() - 1);
    QCOMPARE(v.opCount(), FifoWalk::build(TreeShape::parse("4,2,2"), VerifyOrder::Paths).size());
    // The recorded walk is still checked against the run's own order.
    QVERIFY2(v.agreementText().contains(QStringLiteral("recorded fifo walk")), qPrintable(v.agreementText()));
  }

  void compare_toggle_shows_three_panes() {
    FifoView v;
    v.resize(1200, 800);
    v.show();
    v.setRun(make_run("2,2,1", "fifo", 3));
    QCOMPARE(visible_panes(v), 1);
    auto* box = v.findChild<QCheckBox*>();
    QVERIFY(box);
    QTest::mouseClick(box, Qt::LeftButton);
    QVERIFY(v.compareOrders());
    QCOMPARE(visible_panes(v), 3);
    QVERIFY(!v.findChild<QTableView*>()->isVisible());
    // Side by side when wide.
    const auto panes = v.findChildren<QWidget*>(QStringLiteral("walkPane"));
    QCOMPARE(panes[0]->y(), panes[1]->y());
    QVERIFY(panes[0]->x() < panes[1]->x());
    v.setCompareOrders(false);
    QCOMPARE(visible_panes(v), 1);
  }

  void clicking_a_node_selects_it() {
    FifoView v;
    v.resize(1200, 800);
    v.show();
    QVERIFY(QTest::qWaitForWindowExposed(&v));
    v.setRun(make_run("2,2,1", "fifo", 4));
    v.setStep(2);
    v.setCompareOrders(true);
    v.grab();  // paints: node centres known
    QSignalSpy nodes(&v, &FifoView::nodeSelected);
    QSignalSpy steps(&v, &FifoView::stepSelected);
    // Node 9 in the dfs pane: the fifo walk moves to the same fraction.
    const QPoint c = v.nodeCenter(1, 9);
    QVERIFY(!c.isNull());
    QWidget* target = v.childAt(c);
    QVERIFY(target);
    QTest::mouseClick(target, Qt::LeftButton, {}, target->mapFrom(&v, c));
    QCOMPARE(nodes.count(), 1);
    QCOMPARE(nodes.at(0).at(0).toInt(), 2);
    QCOMPARE(nodes.at(0).at(1).toInt(), 9);
    QCOMPARE(steps.count(), 0);
    const TreeShape t = TreeShape::parse("2,2,1");
    const FifoWalk dfs = FifoWalk::build(t, VerifyOrder::Dfs);
    const FifoWalk fifo = FifoWalk::build(t, VerifyOrder::Fifo);
    QCOMPARE(v.currentOp(), fifo.frame_at_fraction(double(dfs.first_step[9] + 1) / dfs.size()));
  }

  void agreement_reports_differences() {
    auto run = make_run("2,2,1", "fifo", 2);
    run->steps[1].fifo[3].live += 2;
    FifoView v;
    v.setRun(run);
    QVERIFY(v.agreementText().contains(QStringLiteral("matches")));
    v.setStep(1);
    QVERIFY2(v.agreementText().contains(QStringLiteral("layer 0, tile 0, event 4")), qPrintable(v.agreementText()));
    v.setRun(make_run("2,2,1", "fifo", 2, false));
    QVERIFY(v.agreementText().contains(QStringLiteral("--no-fifo-events")));
  }

  void renders_at_both_sizes_data() {
    QTest::addColumn<int>("w");
    QTest::addColumn<int>("h");
    QTest::addColumn<bool>("compare");
    QTest::newRow("1200x800") << 1200 << 800 << false;
    QTest::newRow("1200x800 compare") << 1200 << 800 << true;
    QTest::newRow("480x320") << 480 << 320 << false;
    QTest::newRow("480x320 compare") << 480 << 320 << true;
  }
  void renders_at_both_sizes() {
    QFETCH(int, w);
    QFETCH(int, h);
    QFETCH(bool, compare);
    FifoView v;
    v.setRun(make_run("4,2,2", "fifo", 12));
    v.setStep(4);
    v.setOp(20);
    v.setCompareOrders(compare);
    v.resize(w, h);
    v.show();
    QVERIFY(QTest::qWaitForWindowExposed(&v));
    const QImage img = v.grab().toImage();
    QCOMPARE(img.size(), QSize(w, h) * img.devicePixelRatio());
    // Every control stays inside the view.
    for (QWidget* c : v.findChildren<QWidget*>()) {
      if (!c->isVisible() || !(qobject_cast<QPushButton*>(c) || qobject_cast<QSpinBox*>(c) ||
                               qobject_cast<QComboBox*>(c) || qobject_cast<QCheckBox*>(c)))
        continue;
      const QRect r(c->mapTo(&v, QPoint(0, 0)), c->size());
      QVERIFY2(QRect(0, 0, w, h).contains(r), qPrintable(c->objectName() + QStringLiteral(" outside")));
    }
    // Panes never overlap (stacked or side by side).
    QList<QRect> panes;
    for (QWidget* pane : v.findChildren<QWidget*>(QStringLiteral("walkPane")))
      if (pane->isVisible()) panes << pane->geometry();
    QCOMPARE(panes.size(), compare ? 3 : 1);
    for (int i = 0; i < panes.size(); ++i)
      for (int j = i + 1; j < panes.size(); ++j) QVERIFY(!panes[i].intersects(panes[j]));
    const QString out = qEnvironmentVariable("FIFO_VIEW_PNG");
    if (!out.isEmpty())
      img.save(QStringLiteral("%1_%2x%3%4.png").arg(out).arg(w).arg(h).arg(compare ? "_compare" : ""));
  }

  void set_run_is_fast() {
    // ~600 steps of a 256-node tree with FIFO records: setRun must not walk them all.
    auto run = make_run("4,4,3,3", "fifo", 600);  // 213 nodes
    FifoView v;
    QElapsedTimer t;
    t.start();
    v.setRun(run);
    QVERIFY2(t.elapsed() < timing::budget(20), qPrintable(QString::number(t.elapsed())));
  }
};

QTEST_MAIN(TstFifoView)
#include "tst_fifo_view.moc"
