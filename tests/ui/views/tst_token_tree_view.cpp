// SPDX-License-Identifier: Apache-2.0
// The token tree view with hand-made runs: placeholders, the header, keys and
// buttons stepping (and signalling only for user actions), clicks selecting
// nodes and filling the details, small sizes and a large run's setRun cost.
// With SPECMAMBA_SCREENSHOT_DIR set it also writes token_tree_*.png there.
#include "timing_budget.h"
#include <QtTest>

#include <QAbstractButton>
#include <QSlider>
#include <QWheelEvent>

#include "core/tokenizer/tokenizer.h"
#include "ui/views/token_tree_view.h"

using namespace sm::ui;

namespace {

// Tree "2,2,1": root 0; depth 1: 1, 2; depth 2: 3, 4 (of 1), 5, 6 (of 2);
// depth 3: 7, 8, 9, 10 (one under each of 3..6).
constexpr int kParents[] = {-1, 0, 0, 1, 1, 2, 2, 3, 4, 5, 6};
constexpr int kNodes = 11;

// Greedy acceptance along `ranks` (child rank taken at each depth): the
// chosen child matches the target, earlier siblings are refused, the last
// accepted node's children are all refused, everything else is unexamined.
StepRecord make_step(int index, const std::vector<int>& ranks, const std::string& text) {
  StepRecord s;
  s.step = index + 1;
  s.step_us = 4000 + 100 * index;
  s.draft_us = 1200, s.verify_us = 2300, s.accept_us = 100, s.backtrack_us = 400;
  s.peak_live_states = 4;
  for (int i = 0; i < kNodes; ++i) {
    NodeRecord n;
    n.node = i;
    n.parent = kParents[i];
    n.depth = i == 0 ? 0 : i < 3 ? 1 : i < 7 ? 2 : 3;
    n.token = static_cast<unsigned char>(text[(index + i) % text.size()]);
    n.draft_prob = i == 0 ? 1.0f : 0.9f / (1 + i % 3);
    n.target_prob = i == 0 ? -1.0f : 0.05f * i;
    n.target_argmax = 'x';
    n.verdict = i == 0 ? Verdict::Root : Verdict::NotExamined;
    s.nodes.push_back(n);
  }
  auto first_child = [](int v) { return v == 0 ? 1 : v < 3 ? 3 + 2 * (v - 1) : v < 7 ? v + 4 : -1; };
  auto n_children = [](int v) { return v == 0 ? 2 : v < 3 ? 2 : v < 7 ? 1 : 0; };
  s.path = {0};
  for (int r : ranks) {
    const int cur = s.path.back();
    for (int k = 0; k < r; ++k) {
      NodeRecord& sib = s.nodes[first_child(cur) + k];
      sib.verdict = Verdict::Rejected;
      sib.reason = QStringLiteral("target argmax is 'x'");
    }
    NodeRecord& acc = s.nodes[first_child(cur) + r];
    acc.verdict = Verdict::Accepted;
    acc.reason = QStringLiteral("matches target argmax");
    s.path.push_back(first_child(cur) + r);
  }
  const int last = s.path.back();
  for (int k = 0; k < n_children(last); ++k) {
    NodeRecord& c = s.nodes[first_child(last) + k];
    c.verdict = Verdict::Rejected;
    c.reason = QStringLiteral("p/q = 0.42 < u = 0.77");
  }
  s.accepted = int(ranks.size());
  s.emitted = s.accepted + 1;
  s.bonus_token = 'e';
  return s;
}

std::shared_ptr<RunRecord> make_run(int steps) {
  auto run = std::make_shared<RunRecord>();
  run->name = QStringLiteral("Run 1");
  run->settings.target = QStringLiteral("models/target");
  run->settings.draft = QStringLiteral("models/draft");
  run->settings.tree = QStringLiteral("2,2,1");
  run->tokenizer = sm::make_byte_tokenizer();
  const std::vector<std::vector<int>> paths = {{0, 0, 0}, {1}, {}, {0, 1}, {1, 0, 0}, {0}};
  for (int i = 0; i < steps; ++i) {
    run->steps.push_back(make_step(i, paths[i % paths.size()], "And God said, Let there be light"));
  }
  return run;
}

void screenshot(QWidget& w, const QString& name) {
  const QString dir = qEnvironmentVariable("SPECMAMBA_SCREENSHOT_DIR");
  if (!dir.isEmpty()) QVERIFY(w.grab().save(dir + "/token_tree_" + name + ".png"));
}

}  // namespace

class TstTokenTreeView : public QObject {
  Q_OBJECT

 private slots:
  void placeholderWithoutRun();
  void targetOnlyRun();
  void headerAndSteps();
  void keys_data();
  void keys();
  void buttonsEmit();
  void setStepDoesNotEmit();
  void clickSelectsNode_data();
  void clickSelectsNode();
  void clickBonusAndBackground();
  void selectNodeIsProgrammatic();
  void ctrlWheelZoomsAndFitRestores();
  void smallSize();
  void setRunIsCheapOnALargeRun();
};

void TstTokenTreeView::placeholderWithoutRun() {
  TokenTreeView v;
  v.resize(600, 400);
  QVERIFY(v.showingPlaceholder());
  QVERIFY(v.placeholderText().contains("No speculative run"));
  QCOMPARE(v.currentStep(), 0);
  v.setRun(make_run(3));
  QVERIFY(!v.showingPlaceholder());
  v.setRun(nullptr);
  QVERIFY(v.showingPlaceholder());
  QVERIFY(!v.grab().isNull());
}

void TstTokenTreeView::targetOnlyRun() {
  auto run = std::make_shared<RunRecord>();
  run->name = QStringLiteral("Run 2");
  run->settings.target = QStringLiteral("models/target");
  TokenTreeView v;
  v.setRun(run);
  QVERIFY(v.showingPlaceholder());
  QVERIFY(v.placeholderText().contains("target-only"));
  QVERIFY(v.placeholderText().contains("speculative run"));
  QSignalSpy steps(&v, &TokenTreeView::stepSelected);
  v.setFocus();
  QTest::keyClick(&v, Qt::Key_Right);
  QCOMPARE(steps.count(), 0);
  QCOMPARE(v.currentStep(), 0);
}

void TstTokenTreeView::headerAndSteps() {
  TokenTreeView v;
  v.setRun(make_run(12));
  QCOMPARE(v.currentStep(), 0);
  QCOMPARE(v.headerText(), QStringLiteral("Step 1 / 12 · 3 of 10 draft tokens accepted · bonus 'e' · 4.00 ms"));
  v.setStep(2);  // path {}: nothing accepted
  QVERIFY(v.headerText().startsWith(QStringLiteral("Step 3 / 12 · 0 of 10 draft tokens accepted")));
  QVERIFY(v.detailsText().contains("Click a node"));
  QVERIFY(v.detailsText().contains("verify 2.30 ms"));
}

void TstTokenTreeView::keys_data() {
  QTest::addColumn<int>("start");
  QTest::addColumn<int>("key");
  QTest::addColumn<int>("expected");  // step after the key; the signal fires iff it moved

  QTest::newRow("right") << 0 << int(Qt::Key_Right) << 1;
  QTest::newRow("left") << 5 << int(Qt::Key_Left) << 4;
  QTest::newRow("left at the first step") << 0 << int(Qt::Key_Left) << 0;
  QTest::newRow("right at the last step") << 24 << int(Qt::Key_Right) << 24;
  QTest::newRow("end") << 3 << int(Qt::Key_End) << 24;
  QTest::newRow("home") << 17 << int(Qt::Key_Home) << 0;
  QTest::newRow("page down") << 3 << int(Qt::Key_PageDown) << 13;
  QTest::newRow("page down near the end") << 20 << int(Qt::Key_PageDown) << 24;
  QTest::newRow("page up") << 17 << int(Qt::Key_PageUp) << 7;
  QTest::newRow("page up near the start") << 4 << int(Qt::Key_PageUp) << 0;
}

void TstTokenTreeView::keys() {
  QFETCH(int, start);
  QFETCH(int, key);
  QFETCH(int, expected);
  TokenTreeView v;
  v.resize(800, 600);
  v.setRun(make_run(25));
  v.setStep(start);
  QSignalSpy spy(&v, &TokenTreeView::stepSelected);
  QTest::keyClick(&v, Qt::Key(key));
  QCOMPARE(v.currentStep(), expected);
  if (expected == start) {
    QCOMPARE(spy.count(), 0);
  } else {
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy.at(0).at(0).toInt(), expected);
  }
  QVERIFY(v.headerText().startsWith(QStringLiteral("Step %1 / 25").arg(expected + 1)));
  const auto* slider = v.findChild<QSlider*>();
  QVERIFY(slider);
  QCOMPARE(slider->value(), expected);
}

void TstTokenTreeView::buttonsEmit() {
  TokenTreeView v;
  v.resize(800, 600);
  v.setRun(make_run(6));
  QSignalSpy spy(&v, &TokenTreeView::stepSelected);
  QAbstractButton* next = nullptr;
  QAbstractButton* prev = nullptr;
  for (auto* b : v.findChildren<QAbstractButton*>()) {
    if (b->toolTip().startsWith("Next step")) next = b;
    if (b->toolTip().startsWith("Previous step")) prev = b;
  }
  QVERIFY(next && prev);
  QVERIFY(!prev->isEnabled());  // nothing before the first step
  next->click();
  next->click();
  QCOMPARE(v.currentStep(), 2);
  prev->click();
  QCOMPARE(v.currentStep(), 1);
  QCOMPARE(spy.count(), 3);
  QCOMPARE(spy.at(2).at(0).toInt(), 1);
  // Dragging the slider is a user action too.
  auto* slider = v.findChild<QSlider*>();
  slider->setValue(4);
  QCOMPARE(v.currentStep(), 4);
  QCOMPARE(spy.count(), 4);
  QCOMPARE(spy.at(3).at(0).toInt(), 4);
}

void TstTokenTreeView::setStepDoesNotEmit() {
  TokenTreeView v;
  v.setRun(make_run(10));
  QSignalSpy steps(&v, &TokenTreeView::stepSelected);
  QSignalSpy nodes(&v, &TokenTreeView::nodeSelected);
  v.setStep(7);
  QCOMPARE(v.currentStep(), 7);
  v.setStep(100);  // clamped
  QCOMPARE(v.currentStep(), 9);
  v.setStep(-3);
  QCOMPARE(v.currentStep(), 0);
  QCOMPARE(steps.count(), 0);
  QCOMPARE(nodes.count(), 0);
  QCOMPARE(v.findChild<QSlider*>()->value(), 0);
}

void TstTokenTreeView::clickSelectsNode_data() {
  QTest::addColumn<int>("node");
  QTest::addColumn<QString>("verdict");
  QTest::addColumn<QString>("reason");
  // Step 3 (index 3) accepts ranks {0, 1}: 0 -> 1 -> 4; 3 refused; 8 under 4 refused.
  QTest::newRow("root") << 0 << "root" << "";
  QTest::newRow("accepted at depth 1") << 1 << "accepted" << "matches target argmax";
  QTest::newRow("refused sibling") << 3 << "rejected" << "target argmax is 'x'";
  QTest::newRow("accepted at depth 2") << 4 << "accepted" << "matches target argmax";
  QTest::newRow("refused under the last accepted") << 8 << "rejected" << "p/q = 0.42 < u = 0.77";
  QTest::newRow("never reached") << 9 << "not examined" << "acceptance stopped";
}

void TstTokenTreeView::clickSelectsNode() {
  QFETCH(int, node);
  QFETCH(QString, verdict);
  QFETCH(QString, reason);
  auto run = make_run(8);
  TokenTreeView v;
  v.resize(1200, 800);
  v.show();
  QVERIFY(QTest::qWaitForWindowExposed(&v));
  v.setRun(run);
  v.setStep(3);
  QSignalSpy spy(&v, &TokenTreeView::nodeSelected);
  const QPoint at = v.nodeCenter(node);
  QVERIFY(v.canvas()->rect().contains(at));
  QTest::mouseClick(v.canvas(), Qt::LeftButton, {}, at);
  QCOMPARE(spy.count(), 1);
  QCOMPARE(spy.at(0).at(0).toInt(), 3);
  QCOMPARE(spy.at(0).at(1).toInt(), node);
  QCOMPARE(v.selectedNode(), node);

  const NodeRecord& n = run->steps[3].nodes[node];
  const QString d = v.detailsText();
  QVERIFY2(d.contains(QStringLiteral("%1, depth %2").arg(node).arg(n.depth)), qPrintable(d));
  QVERIFY2(d.contains(QStringLiteral("'%1' (id %2)").arg(run->token_text(n.token)).arg(n.token)), qPrintable(d));
  QVERIFY2(d.contains("'x' (id 120)"), qPrintable(d));  // the target argmax
  QVERIFY2(d.contains(verdict), qPrintable(d));
  if (!reason.isEmpty()) QVERIFY2(d.contains(reason), qPrintable(d));
  if (node > 0) {
    QVERIFY2(d.contains(QString::number(n.draft_prob, 'f', 4)), qPrintable(d));
    QVERIFY2(d.contains(QString::number(n.target_prob, 'f', 4)), qPrintable(d));
  }
  screenshot(v, "1200x800");
}

void TstTokenTreeView::clickBonusAndBackground() {
  TokenTreeView v;
  v.resize(1000, 700);
  v.show();
  QVERIFY(QTest::qWaitForWindowExposed(&v));
  v.setRun(make_run(4));
  QSignalSpy spy(&v, &TokenTreeView::nodeSelected);
  QTest::mouseClick(v.canvas(), Qt::LeftButton, {}, v.nodeCenter(TreeLayout::kBonus));
  QCOMPARE(v.selectedNode(), int(TreeLayout::kBonus));
  QVERIFY(v.detailsText().contains("Bonus token"));
  QVERIFY(v.detailsText().contains("'e' (id 101)"));
  QCOMPARE(spy.count(), 0);  // the bonus is no drafted node
  // Between the root and its first child there is only background.
  const QPoint gap = (v.nodeCenter(0) + v.nodeCenter(1)) / 2;
  QTest::mouseClick(v.canvas(), Qt::LeftButton, {}, gap);
  QCOMPARE(v.selectedNode(), -1);
  QVERIFY(v.detailsText().contains("Click a node"));
  QCOMPARE(spy.count(), 0);
}

void TstTokenTreeView::selectNodeIsProgrammatic() {
  TokenTreeView v;
  v.resize(900, 600);
  v.setRun(make_run(8));
  QSignalSpy steps(&v, &TokenTreeView::stepSelected);
  QSignalSpy nodes(&v, &TokenTreeView::nodeSelected);
  v.selectNode(5, 2);
  QCOMPARE(v.currentStep(), 5);
  QCOMPARE(v.selectedNode(), 2);
  QVERIFY(v.detailsText().contains("2, depth 1"));
  // The shape is fixed for a run: the selection follows to other steps.
  QTest::keyClick(&v, Qt::Key_Right);
  QCOMPARE(v.currentStep(), 6);
  QCOMPARE(v.selectedNode(), 2);
  v.selectNode(6, 99);  // no such node: clears
  QCOMPARE(v.selectedNode(), -1);
  QCOMPARE(nodes.count(), 0);
  QCOMPARE(steps.count(), 1);  // only the key
}

void TstTokenTreeView::ctrlWheelZoomsAndFitRestores() {
  TokenTreeView v;
  v.resize(1000, 700);
  v.show();
  QVERIFY(QTest::qWaitForWindowExposed(&v));
  v.setRun(make_run(3));
  const double fitted = v.zoom();
  const QSize fitted_size = v.canvas()->size();
  const QPointF at = v.nodeCenter(0);
  QWheelEvent plain(at, v.canvas()->mapToGlobal(at), {}, {0, 120}, Qt::NoButton, Qt::NoModifier,
                    Qt::NoScrollPhase, false);
  QApplication::sendEvent(v.canvas(), &plain);
  QCOMPARE(v.zoom(), fitted);  // a plain wheel scrolls, it does not zoom
  QWheelEvent ctrl(at, v.canvas()->mapToGlobal(at), {}, {0, 240}, Qt::NoButton, Qt::ControlModifier,
                   Qt::NoScrollPhase, false);
  QApplication::sendEvent(v.canvas(), &ctrl);
  QVERIFY(v.zoom() > fitted);
  QVERIFY(v.canvas()->width() > fitted_size.width());
  // The fit no longer follows resizes until asked for again.
  const double zoomed = v.zoom();
  v.resize(900, 700);
  QCOMPARE(v.zoom(), zoomed);
  v.resize(1000, 700);
  QTest::keyClick(&v, Qt::Key_0, Qt::ControlModifier);
  QCOMPARE(v.zoom(), fitted);
  QCOMPARE(v.canvas()->size(), fitted_size);
}

void TstTokenTreeView::smallSize() {
  TokenTreeView v;
  v.resize(480, 320);
  v.show();
  QVERIFY(QTest::qWaitForWindowExposed(&v));
  v.setRun(make_run(30));
  v.selectNode(4, 7);
  const QImage img = v.grab().toImage();
  QCOMPARE(img.size(), QSize(480, 320) * v.devicePixelRatio());
  // Every control stays on screen.
  for (QWidget* w : v.findChildren<QWidget*>()) {
    if (!qobject_cast<QAbstractButton*>(w) && !qobject_cast<QSlider*>(w)) continue;
    QVERIFY(w->isVisible());
    const QRect r(w->mapTo(&v, QPoint(0, 0)), w->size());
    QVERIFY2(v.rect().contains(r), qPrintable(w->toolTip()));
  }
  // The tree still reacts to clicks at this size.
  QSignalSpy spy(&v, &TokenTreeView::nodeSelected);
  QTest::mouseClick(v.canvas(), Qt::LeftButton, {}, v.nodeCenter(0));
  QCOMPARE(spy.count(), 1);
  screenshot(v, "480x320");
}

void TstTokenTreeView::setRunIsCheapOnALargeRun() {
  // ~600 steps of a 213-node tree ("4,4,4,2"): only the shown step is laid out.
  auto run = std::make_shared<RunRecord>();
  run->name = QStringLiteral("big");
  run->settings.draft = QStringLiteral("d");
  const int widths[] = {4, 4, 4, 2};
  std::vector<NodeRecord> nodes(1);
  std::vector<int> level{0};
  for (int w : widths) {
    std::vector<int> next;
    for (int p : level) {
      for (int k = 0; k < w; ++k) {
        NodeRecord n;
        n.node = int(nodes.size());
        n.parent = p;
        n.depth = nodes[p].depth + 1;
        n.token = n.node;
        next.push_back(n.node);
        nodes.push_back(n);
      }
    }
    level = next;
  }
  QCOMPARE(int(nodes.size()), 213);
  for (int i = 0; i < 600; ++i) {
    StepRecord s;
    s.nodes = nodes;
    s.path = {0, 1, 5};
    run->steps.push_back(std::move(s));
  }
  TokenTreeView v;
  v.resize(1200, 800);
  v.show();
  QVERIFY(QTest::qWaitForWindowExposed(&v));
  v.setRun(make_run(2));  // warm up fonts and styles
  QElapsedTimer t;
  t.start();
  v.setRun(run);
  QVERIFY2(t.elapsed() < timing::budget(20), qPrintable(QStringLiteral("%1 ms").arg(t.elapsed())));
  t.restart();
  v.setStep(599);
  QVERIFY2(t.elapsed() < timing::budget(20), qPrintable(QStringLiteral("%1 ms").arg(t.elapsed())));
  // Wide tree: 128 leaves cannot fit 1200 px readably, so it scrolls instead.
  QVERIFY(v.zoom() >= 0.5);
  QVERIFY(v.canvas()->width() > 1200);
  QVERIFY(!v.grab().isNull());
}

QTEST_MAIN(TstTokenTreeView)
#include "tst_token_tree_view.moc"
