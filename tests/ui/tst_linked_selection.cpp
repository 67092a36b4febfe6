// SPDX-License-Identifier: Apache-2.0
// Linked selection in the main window after a real speculative run on the
// shipped pair: a step picked in any view (tree keys, a click on the chart,
// the timeline, the backtracking chart or the output text) is shown by every
// other view, with no signal loop; the run list switches every view to the
// selected run; an exported and re-opened run has the same figures.
#include <QApplication>
#include <QDockWidget>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTextCursor>
#include <QtTest>

#include <qcustomplot.h>

#include "tests/ui/studio_test_support.h"
#include "ui/latency_chart.h"
#include "ui/models/run_list_model.h"
#include "ui/models/run_record.h"
#include "ui/token_stream_view.h"
#include "ui/views/backtracking_view.h"
#include "ui/views/fifo_view.h"
#include "ui/views/timeline_view.h"
#include "ui/views/token_tree_view.h"

using sm::ui::MainWindow;
using namespace studio_test;

namespace {
void settle() {
  for (int i = 0; i < 3; ++i) QApplication::processEvents();
}
}  // namespace

class TestLinkedSelection : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase();
  void everySourceSelectsEverywhere();
  void runListSwitchesEveryView();
  void exportedRunReopensWithSameFigures();
  void cleanupTestCase();

 private:
  // Every view shows `step`; each source fired at most once, `source` once.
  void expectStep(int step, QSignalSpy* source);
  void clearSpies();
  void raise(const char* dock);

  std::unique_ptr<MainWindow> w_;
  QString text1_, text2_;
  std::vector<std::unique_ptr<QSignalSpy>> spies_;
  std::unique_ptr<QSignalSpy> changed_;
  QSignalSpy *tree_ = nullptr, *fifo_ = nullptr, *back_ = nullptr, *timeline_ = nullptr,
             *chart_ = nullptr, *text_ = nullptr;
};

void TestLinkedSelection::initTestCase() {
  w_ = std::make_unique<MainWindow>();
  w_->resize(1400, 900);
  w_->show();
  QVERIFY(QTest::qWaitForWindowExposed(w_.get()));
  QVERIFY(load(*w_));
  configure(*w_, QStringLiteral("2,2,1"), 60);
  QVERIFY(run(*w_));
  text1_ = w_->generationPanel()->output()->generatedText();
  QVERIFY(w_->currentRun());
  QVERIFY2(w_->currentRun()->steps.size() >= 14, qPrintable(QString::number(w_->currentRun()->steps.size())));

  auto spy = [this](auto* obj, auto signal) {
    spies_.push_back(std::make_unique<QSignalSpy>(obj, signal));
    return spies_.back().get();
  };
  tree_ = spy(w_->tokenTreeView(), &sm::ui::TokenTreeView::stepSelected);
  fifo_ = spy(w_->fifoView(), &sm::ui::FifoView::stepSelected);
  back_ = spy(w_->backtrackingView(), &sm::ui::BacktrackingView::stepSelected);
  timeline_ = spy(w_->timelineView(), &sm::ui::TimelineView::stepSelected);
  chart_ = spy(w_->latencyChart(), &sm::ui::LatencyChart::stepClicked);
  text_ = spy(w_->generationPanel()->output(), &sm::ui::TokenStreamView::stepClicked);
  changed_ = std::make_unique<QSignalSpy>(w_.get(), &MainWindow::currentStepChanged);
}

void TestLinkedSelection::cleanupTestCase() {
  spies_.clear();
  changed_.reset();
  w_.reset();
}

void TestLinkedSelection::clearSpies() {
  for (auto& s : spies_) s->clear();
  changed_->clear();
}

void TestLinkedSelection::raise(const char* name) {
  QDockWidget* d = w_->dock(QString::fromLatin1(name));
  QVERIFY(d);
  d->show();
  d->raise();
  settle();
}

void TestLinkedSelection::expectStep(int step, QSignalSpy* source) {
  MainWindow& w = *w_;
  QCOMPARE(w.currentStep(), step);
  QCOMPARE(w.tokenTreeView()->currentStep(), step);
  QCOMPARE(w.fifoView()->currentStep(), step);
  QCOMPARE(w.backtrackingView()->currentStep(), step);
  QCOMPARE(w.timelineView()->currentStep(), step);
  QCOMPARE(w.latencyChart()->selectedStep(), step);
  QCOMPARE(w.generationPanel()->output()->highlightedStep(), step);
  for (auto& s : spies_) {
    QVERIFY2(s->size() <= (s.get() == source ? 1 : 0),
             qPrintable(QStringLiteral("%1 emissions of %2").arg(s->size()).arg(QString::fromLatin1(s->signal()))));
    for (const QList<QVariant>& args : *s) QCOMPARE(args.first().toInt(), step);
  }
  QCOMPARE(source->size(), 1);
  QCOMPARE(changed_->size(), 1);  // one user action, one selection
  clearSpies();
}

void TestLinkedSelection::everySourceSelectsEverywhere() {
  MainWindow& w = *w_;
  const int steps = int(w.currentRun()->steps.size());
  w.selectStep(0);
  settle();
  QCOMPARE(w.currentStep(), 0);
  clearSpies();  // programmatic: no view emitted
  QVERIFY(spies_.front()->isEmpty());

  // The token tree's keys.
  raise("tokenTreeDock");
  w.tokenTreeView()->setFocus();
  QTest::keyClick(w.tokenTreeView(), Qt::Key_Right);
  expectStep(1, tree_);
  QTest::keyClick(w.tokenTreeView(), Qt::Key_End);
  expectStep(steps - 1, tree_);

  // A click on the chart's sample (samples are keyed by 1-based step).
  raise("latencyDock");
  w.latencyChart()->replotNow();
  {
    QCustomPlot* plot = w.latencyChart()->plot();
    const int step = 4;
    const QPoint at(int(std::lround(plot->xAxis->coordToPixel(step + 1))), plot->axisRect()->rect().center().y());
    QTest::mouseClick(plot, Qt::LeftButton, Qt::NoModifier, at);
    expectStep(step, chart_);
  }

  // The timeline's bar of a step.
  raise("timelineDock");
  {
    sm::ui::TimelineView* tl = w.timelineView();
    const int step = 7;
    tl->plot()->replot();
    QTRY_VERIFY_WITH_TIMEOUT(!tl->stepPoint(step).isNull(), 5000);
    tl->plot()->replot();
    QTest::mouseClick(tl->plot(), Qt::LeftButton, Qt::NoModifier, tl->stepPoint(step));
    expectStep(step, timeline_);
  }

  // The backtracking chart.
  raise("backtrackDock");
  {
    sm::ui::BacktrackingView* bt = w.backtrackingView();
    const int step = 10;
    bt->plot()->replot();
    QTRY_VERIFY_WITH_TIMEOUT(!bt->stepPoint(step).isNull(), 5000);
    QTest::mouseClick(bt->plot(), Qt::LeftButton, Qt::NoModifier, bt->stepPoint(step));
    expectStep(step, back_);
  }

  // A character of a step's text in the output pane.
  {
    sm::ui::TokenStreamView* out = w.generationPanel()->output();
    const int step = 12;
    const auto [first, last] = out->stepRange(step);
    QVERIFY(last > first);
    QTextCursor c(out->document());
    c.setPosition(first);
    out->setTextCursor(c);
    out->ensureCursorVisible();
    settle();
    const QPoint at = out->cursorRect(c).center() + QPoint(2, 0);
    QCOMPARE(out->stepAt(at), step);
    QTest::mouseClick(out->viewport(), Qt::LeftButton, Qt::NoModifier, at);
    expectStep(step, text_);
  }

  // Programmatic selection reaches everything and emits nothing.
  w.selectStep(3);
  QCOMPARE(w.tokenTreeView()->currentStep(), 3);
  QCOMPARE(w.generationPanel()->output()->highlightedStep(), 3);
  for (auto& s : spies_) QVERIFY(s->isEmpty());
  QCOMPARE(changed_->size(), 1);
  clearSpies();
}

void TestLinkedSelection::runListSwitchesEveryView() {
  MainWindow& w = *w_;
  configure(w, QStringLiteral("1,1,1,1"), 30, QStringLiteral("In the beginning"));
  QVERIFY(run(w));
  text2_ = w.generationPanel()->output()->generatedText();
  QCOMPARE(w.runs()->size(), 2);  // the first run is kept
  QCOMPARE(w.currentRun(), w.runs()->run(1));
  QVERIFY(text2_ != text1_);

  raise("runsDock");
  auto clickRow = [&](int row) {
    const QRect r = w.runTable()->visualRect(w.runs()->index(row, 0));
    QVERIFY(r.isValid());
    QTest::mouseClick(w.runTable()->viewport(), Qt::LeftButton, Qt::NoModifier, r.center());
    settle();
  };
  auto expectRun = [&](int row, const QString& prompt, const QString& text) {
    const auto run = w.runs()->run(row);
    QCOMPARE(w.currentRun(), run);
    const int steps = int(run->steps.size());
    QCOMPARE(w.tokenTreeView()->headerText().startsWith(QStringLiteral("Step 1 / %1 ").arg(steps)), true);
    QCOMPARE(w.timelineView()->model().stepCount(), steps);
    QCOMPARE(int(w.backtrackingView()->whatIf().size()), steps);
    QCOMPARE(w.latencyChart()->sampleCount(), steps);
    for (int s : {w.tokenTreeView()->currentStep(), w.fifoView()->currentStep(), w.backtrackingView()->currentStep(),
                  w.timelineView()->currentStep(), w.latencyChart()->selectedStep(), w.currentStep()})
      QCOMPARE(s, 0);
    sm::ui::TokenStreamView* out = w.generationPanel()->output();
    QCOMPARE(out->generatedText(), text);
    QVERIFY(out->toPlainText().startsWith(prompt + text.left(8)));
  };
  clickRow(0);
  expectRun(0, QStringLiteral("And God said"), text1_);
  clickRow(1);
  expectRun(1, QStringLiteral("In the beginning"), text2_);
  clickRow(0);
  expectRun(0, QStringLiteral("And God said"), text1_);
  clearSpies();
}

void TestLinkedSelection::exportedRunReopensWithSameFigures() {
  MainWindow& w = *w_;
  if (w.runs()->size() < 2) QSKIP("needs the runs of runListSwitchesEveryView");
  w.selectRun(0);
  const auto original = w.currentRun();
  QCOMPARE(original, w.runs()->run(0));
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const QString path = dir.filePath(QStringLiteral("run.json"));
  QVERIFY(w.exportTrace(path));
  QVERIFY(QFileInfo(path).size() > 0);
  QVERIFY(w.openTrace(path));
  QCOMPARE(w.runs()->size(), 3);
  const auto reopened = w.runs()->run(2);
  QCOMPARE(w.currentRun(), reopened);
  QCOMPARE(reopened->figures.generated, original->figures.generated);
  QCOMPARE(reopened->figures.steps, original->figures.steps);
  QCOMPARE(reopened->steps.size(), original->steps.size());
  QCOMPARE(reopened->generated_ids, original->generated_ids);
  for (int col : {sm::ui::RunListModel::Tokens, sm::ui::RunListModel::Steps, sm::ui::RunListModel::TokensPerPass,
                  sm::ui::RunListModel::MeanAccepted, sm::ui::RunListModel::Tree})
    QCOMPARE(w.runs()->data(w.runs()->index(2, col)), w.runs()->data(w.runs()->index(0, col)));
  QCOMPARE(w.generationPanel()->output()->generatedText(), text1_);
  QCOMPARE(w.latencyChart()->sampleCount(), int(original->steps.size()));
}

QTEST_MAIN(TestLinkedSelection)
#include "tst_linked_selection.moc"
