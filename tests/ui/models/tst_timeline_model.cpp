// SPDX-License-Identifier: Apache-2.0
#include <QTest>

#include <cmath>
#include <memory>

#include "ui/models/run_record.h"
#include "ui/models/timeline_model.h"

using namespace sm::ui;

namespace {

// Step i starts at 1000 + 1000 i us: draft 400, verify 300, accept 20, backtrack 80
// (target 60 then draft 20), then a 200 us gap before the next step.
std::shared_ptr<RunRecord> handMadeRun(int steps, double prefill_us = 1000) {
  auto run = std::make_shared<RunRecord>();
  run->settings.draft = "draft";
  run->settings.tree = "2,2,1";
  run->figures.prefill_us = prefill_us;
  run->figures.prompt_tokens = 7;
  for (int i = 0; i < steps; ++i) {
    StepRecord s;
    s.step = i;
    s.t_us = 1000.0 + 1000.0 * i;
    s.draft_us = 400;
    s.verify_us = 300;
    s.accept_us = 20;
    s.backtrack_us = 80;
    s.step_us = 800;
    s.target_backtrack = {true, "snapshot", 1024, 0, s.t_us + 720, 60};
    s.draft_backtrack = {true, "snapshot", 256, 1, s.t_us + 780, 20};
    run->steps.push_back(std::move(s));
  }
  return run;
}

double totalUs(const std::vector<TimelineSpan>& spans) {
  double t = 0;
  for (const auto& s : spans) t += s.us();
  return t;
}

}  // namespace

class TstTimelineModel : public QObject {
  Q_OBJECT

 private slots:
  void roundTrip_data() {
    QTest::addColumn<double>("lo");
    QTest::addColumn<double>("hi");
    QTest::addColumn<double>("width");
    QTest::addColumn<double>("t");
    QTest::addColumn<double>("px");
    QTest::newRow("start") << 0.0 << 1000.0 << 500.0 << 0.0 << 0.0;
    QTest::newRow("end") << 0.0 << 1000.0 << 500.0 << 1000.0 << 500.0;
    QTest::newRow("middle") << 0.0 << 1000.0 << 500.0 << 500.0 << 250.0;
    QTest::newRow("offset") << 2000.0 << 6000.0 << 800.0 << 3000.0 << 200.0;
    QTest::newRow("outside") << 2000.0 << 6000.0 << 800.0 << 1000.0 << -200.0;
    QTest::newRow("long run") << 0.0 << 6.0e7 << 1200.0 << 1.5e7 << 300.0;
  }
  void roundTrip() {
    QFETCH(double, lo);
    QFETCH(double, hi);
    QFETCH(double, width);
    QFETCH(double, t);
    QFETCH(double, px);
    TimeAxis axis(lo, hi, width);
    QCOMPARE(axis.toPixel(t), px);
    QCOMPARE(axis.toTime(px), t);
    QCOMPARE(axis.toTime(axis.toPixel(t)), t);
    QCOMPARE(axis.usPerPixel(), (hi - lo) / width);
  }

  void zoomKeepsPoint_data() {
    QTest::addColumn<double>("lo");
    QTest::addColumn<double>("hi");
    QTest::addColumn<double>("factor");
    QTest::addColumn<double>("px");
    // Bounds are [0, 10000] on 1000 px.
    QTest::newRow("in at centre") << 0.0 << 10000.0 << 2.0 << 500.0;
    QTest::newRow("in near left") << 0.0 << 10000.0 << 4.0 << 100.0;
    QTest::newRow("in at right edge") << 0.0 << 10000.0 << 3.0 << 1000.0;
    QTest::newRow("out inside bounds") << 4000.0 << 5000.0 << 0.5 << 300.0;
    QTest::newRow("deep in") << 4000.0 << 4100.0 << 10.0 << 750.0;
  }
  void zoomKeepsPoint() {
    QFETCH(double, lo);
    QFETCH(double, hi);
    QFETCH(double, factor);
    QFETCH(double, px);
    TimeAxis axis(0, 10000, 1000);
    axis.setRange(lo, hi);
    const double before = axis.toTime(px);
    const double span = axis.span();
    axis.zoom(factor, px);
    QVERIFY(std::abs(axis.toTime(px) - before) < 1e-9 * span);
    QVERIFY(std::abs(axis.span() - span / factor) < 1e-9 * span);
  }

  void zoomClamps() {
    TimeAxis axis(0, 10000, 1000);
    axis.setRange(0, 1000);
    axis.zoom(0.5, 0);  // out at the left edge: grows to the right only
    QCOMPARE(axis.lower(), 0.0);
    QCOMPARE(axis.upper(), 2000.0);
    axis.zoom(0.01, 500);  // far out: the whole run, exactly
    QVERIFY(axis.isReset());
    axis.zoom(1e9, 500);  // far in: stops at the minimum span
    QCOMPARE(axis.span(), TimeAxis::kMinSpanUs);
    QVERIFY(std::abs(axis.toTime(500) - 5000.0) < 1e-6);
  }

  void pan_data() {
    QTest::addColumn<double>("lo");
    QTest::addColumn<double>("dpx");
    QTest::addColumn<double>("expectedLo");
    // View of 1000 us on 500 px (2 us per px) within [0, 10000].
    QTest::newRow("drag right shows earlier") << 4000.0 << 100.0 << 3800.0;
    QTest::newRow("drag left shows later") << 4000.0 << -250.0 << 4500.0;
    QTest::newRow("stops at start") << 100.0 << 400.0 << 0.0;
    QTest::newRow("stops at end") << 8500.0 << -1000.0 << 9000.0;
    QTest::newRow("zero") << 4000.0 << 0.0 << 4000.0;
  }
  void pan() {
    QFETCH(double, lo);
    QFETCH(double, dpx);
    QFETCH(double, expectedLo);
    TimeAxis axis(0, 10000, 500);
    axis.setRange(lo, lo + 1000);
    axis.pan(dpx);
    QCOMPARE(axis.lower(), expectedLo);
    QCOMPARE(axis.span(), 1000.0);
  }

  void clamp_data() {
    QTest::addColumn<double>("lo");
    QTest::addColumn<double>("hi");
    QTest::addColumn<double>("expectedLo");
    QTest::addColumn<double>("expectedHi");
    QTest::newRow("inside") << 100.0 << 900.0 << 100.0 << 900.0;
    QTest::newRow("before start") << -300.0 << 200.0 << 0.0 << 500.0;
    QTest::newRow("after end") << 9800.0 << 10300.0 << 9500.0 << 10000.0;
    QTest::newRow("wider than run") << -5000.0 << 20000.0 << 0.0 << 10000.0;
    QTest::newRow("reversed") << 900.0 << 100.0 << 100.0 << 900.0;
    QTest::newRow("too narrow") << 5000.0 << 5000.0 << 5000.0 - 0.5 << 5000.0 + 0.5;
  }
  void clamp() {
    QFETCH(double, lo);
    QFETCH(double, hi);
    QFETCH(double, expectedLo);
    QFETCH(double, expectedHi);
    TimeAxis axis(0, 10000, 800);
    axis.setRange(lo, hi);
    QCOMPARE(axis.lower(), expectedLo);
    QCOMPARE(axis.upper(), expectedHi);
  }

  void reset() {
    TimeAxis axis(-50, 7000, 800);
    QVERIFY(axis.isReset());
    axis.zoom(8, 100);
    axis.pan(30);
    QVERIFY(!axis.isReset());
    axis.reset();
    QVERIFY(axis.isReset());
    QCOMPARE(axis.lower(), -50.0);
    QCOMPARE(axis.upper(), 7000.0);
    axis.setBounds(10, 20);  // new run: the view follows
    QCOMPARE(axis.lower(), 10.0);
    QCOMPARE(axis.upper(), 20.0);
  }

  void spansFromRun() {
    TimelineModel model(handMadeRun(3));
    QVERIFY(!model.empty());
    QCOMPARE(model.stepCount(), 3);
    const auto& pre = model.spans(TimelineLane::Prefill);
    QCOMPARE(pre.size(), size_t(1));
    QCOMPARE(pre[0].t0, 0.0);  // ends where the first step starts
    QCOMPARE(pre[0].t1, 1000.0);
    QCOMPARE(pre[0].step, -1);
    QCOMPARE(model.prefillUs(), 1000.0);
    for (int lane = 1; lane < kTimelineLanes; ++lane)
      QCOMPARE(model.spans(TimelineLane(lane)).size(), size_t(3));
    for (int i = 0; i < 3; ++i) {
      const auto& d = model.spans(TimelineLane::Draft)[i];
      const auto& v = model.spans(TimelineLane::Verify)[i];
      const auto& a = model.spans(TimelineLane::Accept)[i];
      const auto& tb = model.spans(TimelineLane::TargetBacktrack)[i];
      const auto& db = model.spans(TimelineLane::DraftBacktrack)[i];
      for (const auto* s : {&d, &v, &a, &tb, &db}) QCOMPARE(s->step, i);
      const double t = 1000.0 + 1000.0 * i;
      QCOMPARE(d.t0, t);
      QCOMPARE(d.t1, v.t0);  // contiguous, in phase order
      QCOMPARE(v.t1, a.t0);
      QCOMPARE(a.t1, tb.t0);
      QCOMPARE(tb.t1, db.t0);
      QCOMPARE(db.t1, t + 800);
      QCOMPARE(d.us(), 400.0);
      QCOMPARE(v.us(), 300.0);
      QCOMPARE(a.us(), 20.0);
    }
    QCOMPARE(model.runStart(), 0.0);
    QCOMPARE(model.runEnd(), 3800.0);
    QCOMPARE(model.allSpans().size(), size_t(1 + 5 * 3));
    QCOMPARE(model.allSpans().front().lane, TimelineLane::Prefill);
  }

  void missingPiecesAreSkipped() {
    auto run = handMadeRun(2, 0);
    run->steps[1].accept_us = 0;
    run->steps[1].draft_backtrack.present = false;
    TimelineModel model(run);
    QVERIFY(model.spans(TimelineLane::Prefill).empty());
    QCOMPARE(model.spans(TimelineLane::Accept).size(), size_t(1));
    QCOMPARE(model.spans(TimelineLane::DraftBacktrack).size(), size_t(1));
    QCOMPARE(model.runStart(), 1000.0);
  }

  void emptyRuns() {
    TimelineModel none;
    QVERIFY(none.empty());
    QCOMPARE(none.stepAt(5), -1);
    auto target_only = std::make_shared<RunRecord>();
    target_only->figures.prefill_us = 300;
    TimelineModel model(target_only);
    QVERIFY(model.empty());
    QVERIFY(model.allSpans().empty());
    const auto layout = model.layout(0, 100, 400);
    for (const auto& lane : layout->lanes) QVERIFY(lane.empty());
  }

  void stepAt_data() {
    QTest::addColumn<double>("t");
    QTest::addColumn<int>("step");
    QTest::newRow("prefill") << 500.0 << -1;
    QTest::newRow("first step start") << 1000.0 << 0;
    QTest::newRow("inside step 1") << 2300.0 << 1;
    QTest::newRow("gap belongs to step before") << 2900.0 << 1;
    QTest::newRow("last step end") << 3800.0 << 2;
    QTest::newRow("past the end") << 3900.0 << -1;
    QTest::newRow("before the run") << -10.0 << -1;
  }
  void stepAt() {
    QFETCH(double, t);
    QFETCH(int, step);
    TimelineModel model(handMadeRun(3));
    QCOMPARE(model.stepAt(t), step);
  }

  void stepExtent() {
    TimelineModel model(handMadeRun(3));
    QCOMPARE(model.stepExtent(1), std::make_pair(2000.0, 2800.0));
    QCOMPARE(model.stepExtent(3), std::make_pair(0.0, 0.0));
    QCOMPARE(model.stepExtent(-1), std::make_pair(0.0, 0.0));
  }

  void shortRunIsRaw() {
    TimelineModel model(handMadeRun(12));
    const auto layout = model.layout(model.runStart(), model.runEnd(), 800);
    QVERIFY(!layout->any_merged());
    QCOMPARE(layout->lanes[int(TimelineLane::Draft)].size(), size_t(12));
    for (const auto& b : layout->lanes[int(TimelineLane::Verify)]) {
      QCOMPARE(b.busy, 1.0);
      QCOMPARE(b.first_step, b.last_step);
      QVERIFY(!b.merged);
    }
  }

  void aggregation_data() {
    QTest::addColumn<double>("width");
    QTest::newRow("800 px") << 800.0;
    QTest::newRow("1200 px") << 1200.0;
    QTest::newRow("333 px") << 333.0;
  }
  void aggregation() {
    QFETCH(double, width);
    TimelineModel model(handMadeRun(6000));
    const auto layout = model.layout(model.runStart(), model.runEnd(), width);
    QVERIFY(layout->any_merged());
    for (int lane = 1; lane < kTimelineLanes; ++lane) {
      const auto& bars = layout->lanes[lane];
      QVERIFY(layout->merged[lane]);
      QVERIFY2(double(bars.size()) <= width / 2, qPrintable(QString::number(bars.size())));
      QVERIFY(bars.size() > width / 4);  // the whole run is covered, not a handful of bars
      double busy = 0;
      int prev_last = -1;
      for (const auto& b : bars) {
        QVERIFY(b.busy > 0 && b.busy <= 1.0);
        QVERIFY((b.t1 - b.t0) * width / (model.runEnd() - model.runStart()) >= TimelineModel::kMinBarPx);
        QVERIFY(b.first_step <= b.last_step);
        QVERIFY(b.first_step >= prev_last);  // in order; a span cut by a cell edge is in both
        prev_last = b.last_step;
        busy += b.busy * (b.t1 - b.t0);
      }
      const double expected = totalUs(model.spans(TimelineLane(lane)));
      QVERIFY2(std::abs(busy - expected) < 1e-6 * expected,
               qPrintable(QString("%1 vs %2").arg(busy).arg(expected)));
      QCOMPARE(bars.front().first_step, 0);
      QCOMPARE(bars.back().last_step, 5999);
    }
    // Draft is 400 of every 1000 us: its buckets are about 40 % busy.
    const auto& draft = layout->lanes[int(TimelineLane::Draft)];
    const auto& mid = draft[draft.size() / 2];
    QVERIFY2(mid.busy > 0.3 && mid.busy < 0.5, qPrintable(QString::number(mid.busy)));
    // The prefill is one long span: still drawn as itself.
    QVERIFY(!layout->merged[int(TimelineLane::Prefill)]);
    QCOMPARE(layout->lanes[int(TimelineLane::Prefill)].size(), size_t(1));
  }

  void zoomedInGivesRawSpans() {
    TimelineModel model(handMadeRun(6000));
    TimeAxis axis(model.runStart(), model.runEnd(), 800);
    axis.zoom(1000, 400);  // ~6 steps on screen
    const auto layout = model.layout(axis.lower(), axis.upper(), 800);
    QVERIFY(!layout->any_merged());
    for (int lane = 1; lane < kTimelineLanes; ++lane) {
      std::vector<TimelineSpan> visible;
      for (const auto& s : model.spans(TimelineLane(lane)))
        if (s.t1 > axis.lower() && s.t0 < axis.upper()) visible.push_back(s);
      const auto& bars = layout->lanes[lane];
      QCOMPARE(bars.size(), visible.size());
      QVERIFY(!bars.empty());
      for (size_t i = 0; i < bars.size(); ++i) {
        QCOMPARE(bars[i].t0, visible[i].t0);
        QCOMPARE(bars[i].t1, visible[i].t1);
        QCOMPARE(bars[i].first_step, visible[i].step);
        QCOMPARE(bars[i].spans, 1);
      }
    }
  }

  void middleZoomMergesOnlyThinLanes() {
    // 300 steps on 800 px (2.7 px per step, draft spans 1.1 px): merged. 80 steps
    // (10 px per step): raw, even the 0.2 px accept spans, which are far apart.
    TimelineModel model(handMadeRun(6000));
    const double lo = 1000.0 + 1000.0 * 3000;
    const auto crowded = model.layout(lo, lo + 300 * 1000.0, 800);
    QVERIFY(crowded->merged[int(TimelineLane::Draft)]);
    QVERIFY(crowded->merged[int(TimelineLane::Accept)]);
    const auto roomy = model.layout(lo, lo + 80 * 1000.0, 800);
    QVERIFY(!roomy->merged[int(TimelineLane::Draft)]);
    QVERIFY(!roomy->merged[int(TimelineLane::Accept)]);  // 0.2 px wide but 10 px apart
    QCOMPARE(roomy->lanes[int(TimelineLane::Draft)].size(), size_t(80));
  }

  void panningKeepsBucketGrid() {
    TimelineModel model(handMadeRun(6000));
    const double span = 1.0e6, w = 800;
    const auto a = model.layout(2.0e6, 2.0e6 + span, w);
    const auto b = model.layout(2.0e6 + span / 3, 2.0e6 + span / 3 + span, w);
    const auto& la = a->lanes[int(TimelineLane::Verify)];
    const auto& lb = b->lanes[int(TimelineLane::Verify)];
    QVERIFY(!la.empty() && !lb.empty());
    // A bucket both views show has the same edges and contents.
    int shared = 0;
    for (const auto& x : la)
      for (const auto& y : lb)
        if (std::abs(x.t0 - y.t0) < 1e-6) {
          QVERIFY(std::abs(x.t1 - y.t1) < 1e-6);
          QCOMPARE(x.busy, y.busy);
          ++shared;
        }
    QVERIFY(shared > 100);
  }

  void layoutIsCached() {
    TimelineModel model(handMadeRun(600));
    const auto a = model.layout(0, 1e5, 800);
    const auto b = model.layout(0, 2e5, 800);
    QCOMPARE(model.layout(0, 1e5, 800).get(), a.get());
    QCOMPARE(model.layout(0, 2e5, 800).get(), b.get());
    QVERIFY(model.layout(0, 1e5, 801).get() != a.get());
    model.setRun(handMadeRun(10));
    QVERIFY(model.layout(0, 1e5, 800).get() != a.get());  // a new run drops the cache
  }
};

QTEST_MAIN(TstTimelineModel)
#include "tst_timeline_model.moc"
