// SPDX-License-Identifier: Apache-2.0
#include "timing_budget.h"
#include <QElapsedTimer>
#include <QLabel>
#include <QSignalSpy>
#include <QTest>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>
#include <memory>

#include <qcustomplot.h>

#include "ui/models/run_record.h"
#include "ui/views/timeline_view.h"

using namespace sm::ui;

namespace {

// A speculative run whose phase times vary from step to step like a real one
// (drafting 40-60 % of a step, a rejection now and then making backtracking longer).
std::shared_ptr<RunRecord> syntheticRun(int steps, const QString& name = "Run 1") {
  auto run = std::make_shared<RunRecord>();
  run->name = name;
  run->settings.draft = "draft-130m";
  run->settings.target = "target-370m";
  run->settings.tree = "4,2,2";
  run->figures.prefill_us = 18000;
  run->figures.prompt_tokens = 9;
  double t = 18500;
  for (int i = 0; i < steps; ++i) {
    StepRecord s;
    s.step = i;
    s.t_us = t;
    const double wobble = 0.5 + 0.5 * std::sin(i * 0.7);
    s.draft_us = 2200 + 900 * wobble;
    s.verify_us = 1500 + 400 * std::cos(i * 1.3);
    s.accept_us = 60 + 20 * wobble;
    s.accepted = i % 4 == 3 ? 0 : 1 + i % 3;
    const double tb = s.accepted == 0 ? 420 : 180, db = s.accepted == 0 ? 160 : 70;
    s.backtrack_us = tb + db;
    s.step_us = s.draft_us + s.verify_us + s.accept_us + s.backtrack_us;
    const double back = t + s.draft_us + s.verify_us + s.accept_us;
    s.target_backtrack = {true, "snapshot", 4096, 0, back, tb};
    s.draft_backtrack = {true, "snapshot", 1024, s.accepted == 0 ? 1 : 0, back + tb, db};
    t += s.step_us + 35;  // the engine's bookkeeping between steps
    run->steps.push_back(std::move(s));
  }
  run->figures.steps = steps;
  return run;
}

// Renders go to $SPECMAMBA_VIEW_PNG (a folder) when set, for looking at them.
void savePng(QWidget& w, const QString& name) {
  const QString dir = qEnvironmentVariable("SPECMAMBA_VIEW_PNG");
  if (!dir.isEmpty()) w.grab().save(dir + "/" + name + ".png");
}

}  // namespace

class TstTimelineView : public QObject {
  Q_OBJECT

 private:
  void showAt(TimelineView& v, int w, int h) {
    v.resize(w, h);
    v.show();
    QVERIFY(QTest::qWaitForWindowExposed(&v));
    v.plot()->replot();
    QTest::qWait(60);  // the throttled relayout after the first layout
    v.plot()->replot();
  }

 private slots:
  void placeholders_data() {
    QTest::addColumn<int>("kind");
    QTest::addColumn<QString>("text");
    QTest::newRow("no run") << 0 << "No speculative run yet";
    QTest::newRow("target-only") << 1 << "needs a speculative run";
    QTest::newRow("no steps") << 2 << "has no speculative steps";
  }
  void placeholders() {
    QFETCH(int, kind);
    QFETCH(QString, text);
    TimelineView v;
    std::shared_ptr<RunRecord> run;
    if (kind == 1) {
      run = std::make_shared<RunRecord>();
      run->name = "Run 2";
      run->figures.prefill_us = 500;
    } else if (kind == 2) {
      run = syntheticRun(0);
    }
    v.setRun(syntheticRun(5));
    QVERIFY(!v.showingPlaceholder());
    v.setRun(run);
    QVERIFY(v.showingPlaceholder());
    QVERIFY2(v.placeholderText().contains(text), qPrintable(v.placeholderText()));
    QCOMPARE(v.currentStep(), -1);
    v.resize(480, 320);
    QVERIFY(!v.grab().isNull());
  }

  void setRunAndStepDoNotEmit() {
    TimelineView v;
    QSignalSpy spy(&v, &TimelineView::stepSelected);
    v.setRun(syntheticRun(12));
    QCOMPARE(v.currentStep(), -1);
    v.setStep(7);
    QCOMPARE(v.currentStep(), 7);
    QVERIFY(v.titleText().contains("step 7"));
    v.setStep(99);  // out of range: nothing selected
    QCOMPARE(v.currentStep(), -1);
    v.setStep(3);
    v.setRun(syntheticRun(14));  // the same run, grown: keeps the selection
    QCOMPARE(v.currentStep(), 3);
    v.setRun(syntheticRun(14, "Run 9"));  // another run
    QCOMPARE(v.currentStep(), -1);
    QCOMPARE(spy.count(), 0);
  }

  void setStepScrollsIntoView() {
    TimelineView v;
    showAt(v, 900, 500);
    v.setRun(syntheticRun(200));
    const auto [a0, a1] = v.model().stepExtent(0);
    v.setVisibleRange(a0, a1 + 20000);
    v.setStep(150);
    const auto [t0, t1] = v.model().stepExtent(150);
    QVERIFY(v.timeAxis().lower() <= t0 && v.timeAxis().upper() >= t1);
    QVERIFY(std::abs(v.timeAxis().span() - (a1 - a0 + 20000)) < 1e-6);  // zoom kept
  }

  void clickSelectsStep() {
    TimelineView v;
    showAt(v, 1000, 600);
    v.setRun(syntheticRun(12));
    v.plot()->replot();
    QSignalSpy spy(&v, &TimelineView::stepSelected);
    for (int step : {5, 0, 11}) {
      for (TimelineLane lane : {TimelineLane::Draft, TimelineLane::TargetBacktrack}) {
        const QPoint p = v.stepPoint(step, lane);
        QVERIFY(!p.isNull());
        QTest::mouseClick(v.plot(), Qt::LeftButton, {}, p);
        QCOMPARE(v.currentStep(), step);
      }
      QCOMPARE(spy.last().at(0).toInt(), step);
    }
    QCOMPARE(spy.count(), 3);  // a second click on the same step does not emit again
    // The prefill is not a step.
    const QPoint pre(v.plot()->xAxis->coordToPixel(5.0), v.plot()->yAxis->coordToPixel(0));
    QTest::mouseClick(v.plot(), Qt::LeftButton, {}, pre);
    QCOMPARE(v.currentStep(), 11);
    QCOMPARE(spy.count(), 3);
  }

  void dragPansWithoutSelecting() {
    TimelineView v;
    showAt(v, 1000, 600);
    v.setRun(syntheticRun(40));
    const double lo = v.model().runStart(), hi = v.model().runEnd();
    v.setVisibleRange(lo + 0.4 * (hi - lo), lo + 0.5 * (hi - lo));
    QSignalSpy spy(&v, &TimelineView::stepSelected);
    const QPoint from = v.plot()->axisRect()->center();
    const QPoint to = from + QPoint(200, 40);
    QTest::mousePress(v.plot(), Qt::LeftButton, {}, from);
    QTest::mouseMove(v.plot(), from + QPoint(100, 20));
    QTest::mouseMove(v.plot(), to);
    QTest::mouseRelease(v.plot(), Qt::LeftButton, {}, to);
    QCOMPARE(spy.count(), 0);
    QCOMPARE(v.currentStep(), -1);
    // Dragging right shows earlier times, by 200 px worth of them; lanes stay put.
    const double expected = lo + 0.4 * (hi - lo) - 200 * v.timeAxis().usPerPixel();
    QVERIFY2(std::abs(v.timeAxis().lower() - expected) < 2 * v.timeAxis().usPerPixel(),
             qPrintable(QString("%1 vs %2").arg(v.timeAxis().lower()).arg(expected)));
    QCOMPARE(v.plot()->yAxis->range().lower, -0.6);
  }

  void liveRunKeepsZoom() {
    TimelineView v;
    showAt(v, 1000, 600);
    v.setRun(syntheticRun(40));
    v.setVisibleRange(30000, 60000);
    v.setRun(syntheticRun(60));  // the same run, grown
    QCOMPARE(v.timeAxis().lower(), 30000.0);
    QCOMPARE(v.timeAxis().upper(), 60000.0);
    v.resetZoom();
    v.setRun(syntheticRun(80));  // not zoomed: follows the run's growth
    QVERIFY(v.timeAxis().isReset());
    QCOMPARE(v.timeAxis().upper(), v.model().runEnd());
  }

  void doubleClickResets() {
    TimelineView v;
    showAt(v, 1000, 600);
    v.setRun(syntheticRun(40));
    const double lo = v.model().runStart(), hi = v.model().runEnd();
    v.setVisibleRange(lo + 0.3 * (hi - lo), lo + 0.4 * (hi - lo));
    QVERIFY(!v.timeAxis().isReset());
    QTest::mouseDClick(v.plot(), Qt::LeftButton, {}, v.plot()->axisRect()->center());
    QVERIFY(v.timeAxis().isReset());
    QCOMPARE(v.plot()->xAxis->range().lower, lo / 1e3);
    QCOMPARE(v.plot()->xAxis->range().upper, hi / 1e3);
  }

  void wheelZoomsTimeOnlyAndClamps() {
    TimelineView v;
    showAt(v, 1000, 600);
    v.setRun(syntheticRun(40));
    const QCPRange y = v.plot()->yAxis->range();
    const QPointF at = v.plot()->axisRect()->center();
    QWheelEvent in(at, v.plot()->mapToGlobal(at), {}, {0, 120}, Qt::NoButton, {}, Qt::NoScrollPhase, false);
    QApplication::sendEvent(v.plot(), &in);
    QVERIFY(v.timeAxis().span() < v.model().runEnd() - v.model().runStart());
    QCOMPARE(v.plot()->yAxis->range(), y);
    for (int i = 0; i < 10; ++i) {  // far out: stops at the whole run
      QWheelEvent out(at, v.plot()->mapToGlobal(at), {}, {0, -120}, Qt::NoButton, {}, Qt::NoScrollPhase, false);
      QApplication::sendEvent(v.plot(), &out);
    }
    QVERIFY(v.timeAxis().isReset());
    QCOMPARE(v.plot()->xAxis->range().lower, v.model().runStart() / 1e3);
  }

  void tooltip() {
    TimelineView v;
    showAt(v, 1000, 600);
    v.setRun(syntheticRun(12));
    v.plot()->replot();
    const QString tip = v.toolTipAt(v.stepPoint(4, TimelineLane::Verify));
    QVERIFY2(tip.startsWith("Step 4"), qPrintable(tip));
    for (const char* word : {"draft", "verify", "accept", "backtrack", "target", "ms"})
      QVERIFY2(tip.contains(word), qPrintable(tip));
    const QPoint pre(v.plot()->xAxis->coordToPixel(5.0), v.plot()->yAxis->coordToPixel(0));
    QVERIFY2(v.toolTipAt(pre).contains("Prefill: 18.0 ms for 9 prompt tokens"), qPrintable(v.toolTipAt(pre)));
    QVERIFY(v.toolTipAt(QPoint(2, 2)).isEmpty());  // outside the axis rect
  }

  void spansCsv() {
    TimelineView v;
    v.setRun(syntheticRun(12));
    const CsvTable t = v.spansCsv();
    QCOMPARE(t.header, QStringList({"lane", "step", "start_us", "end_us"}));
    QCOMPARE(t.rows.size(), size_t(1 + 5 * 12));
    QCOMPARE(t.rows[0], QStringList({"prefill", "", "500.000", "18500.000"}));
    QCOMPARE(t.rows[1], QStringList({"draft", "0", "18500.000", QString::number(18500 + 2200 + 450, 'f', 3)}));
  }

  void longRunIsFast() {
    TimelineView v;
    showAt(v, 1200, 800);
    // The first paint of a plot pays for fonts and buffers once; time the
    // steady state, the median of three runs so a busy machine does not decide.
    v.setRun(syntheticRun(12, "warm-up"));
    v.plot()->replot();
    std::vector<std::shared_ptr<RunRecord>> runs;
    for (int i = 0; i < 3; ++i) runs.push_back(syntheticRun(6000, QString("Run %1").arg(i)));
    std::vector<qint64> times;
    QElapsedTimer timer;
    for (const auto& run : runs) {
      timer.start();
      v.setRun(run);
      v.plot()->replot();
      times.push_back(timer.elapsed());
    }
    std::sort(times.begin(), times.end());
    qInfo("6000 steps: setRun + replot %lld ms (median of 3)", times[1]);
    QVERIFY2(times[1] < timing::budget(50), qPrintable(QString("setRun + replot took %1 ms").arg(times[1])));
    const auto layout = v.model().layout(v.timeAxis().lower(), v.timeAxis().upper(), v.timeAxis().pixelWidth());
    QVERIFY(layout->merged[int(TimelineLane::Draft)]);
    for (const auto& lane : layout->lanes) QVERIFY(double(lane.size()) <= v.timeAxis().pixelWidth() / 2);
    v.setStep(3000);
    savePng(v, "timeline_6000_1200");
    v.resize(480, 320);
    showAt(v, 480, 320);
    savePng(v, "timeline_6000_480");
  }

  void midZoomLongRun() {
    TimelineView v;
    showAt(v, 1200, 800);
    v.setRun(syntheticRun(6000));
    const auto [t0, t1] = v.model().stepExtent(2000);
    v.setVisibleRange(t0, t0 + 120 * (t1 - t0));  // ~120 steps: thin lanes merged, wide ones raw
    v.setStep(2030);
    v.plot()->replot();
    const auto layout = v.model().layout(v.timeAxis().lower(), v.timeAxis().upper(), v.timeAxis().pixelWidth());
    QVERIFY(!layout->merged[int(TimelineLane::Draft)]);
    QVERIFY(v.toolTipAt(v.stepPoint(2030, TimelineLane::Draft)).startsWith("Step 2030"));
    savePng(v, "timeline_6000_mid");
  }

  void darkTheme() {
    const QPalette old = QApplication::palette();
    QPalette dark;
    dark.setColor(QPalette::Window, QColor(30, 30, 30));
    dark.setColor(QPalette::Base, QColor(20, 20, 20));
    dark.setColor(QPalette::WindowText, QColor(230, 230, 230));
    dark.setColor(QPalette::Text, QColor(230, 230, 230));
    dark.setColor(QPalette::PlaceholderText, QColor(140, 140, 140));
    QApplication::setPalette(dark);
    {
      TimelineView v;
      v.setRun(syntheticRun(30));
      v.setStep(10);
      showAt(v, 800, 500);
      const QImage img = v.grab().toImage();
      QVERIFY(img.pixelColor(3, 3).lightness() < 64);
      savePng(v, "timeline_dark");
    }
    QApplication::setPalette(old);
  }

  void smallRender() {
    TimelineView v;
    v.setRun(syntheticRun(12));
    v.setStep(4);
    showAt(v, 480, 320);
    const QImage img = v.grab().toImage();
    QCOMPARE(img.size(), QSize(480, 320));
    savePng(v, "timeline_12_480");
    // Every lane keeps some height and the time axis most of the width.
    QVERIFY2(v.plot()->axisRect()->height() >= kTimelineLanes * 14,
             qPrintable(QString::number(v.plot()->axisRect()->height())));
    QVERIFY(v.plot()->axisRect()->width() >= 300);
    v.resize(1200, 800);
    showAt(v, 1200, 800);
    savePng(v, "timeline_12_1200");
    // Zoomed into the prefill, its label moves inside the bar.
    v.setVisibleRange(0, 17000);
    v.plot()->replot();
    savePng(v, "timeline_12_prefill");
  }
};

QTEST_MAIN(TstTimelineView)
#include "tst_timeline_view.moc"
