// SPDX-License-Identifier: Apache-2.0
// The pipeline Gantt on a real device run of the shipped pair: bars where the
// model puts them, a click shows the op, the cycles / µs toggle keeps the
// view, zoom and pan stay on the time axis, measured ops overlay, a 600-step
// run is set and drawn within the budget, and the view is linked to the main
// window's step both ways through install_pipeline_view.
#include "accel/dataflow/pipeline_trace.h"
#include "tests/ui/run_test_support.h"
#include "timing_budget.h"
#include "ui/main_window.h"
#include "ui/views/pipeline_dock.h"
#include "ui/views/pipeline_view.h"

#include <QComboBox>
#include <QDockWidget>
#include <QElapsedTimer>
#include <QLabel>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>

#include <qcustomplot.h>

using namespace sm::ui;

namespace {

sm::ui::RunRecord deviceRun(run_test::ShippedPair& p, const std::string& tree, int max_tokens) {
  sm::SpecConfig cfg;
  cfg.tree = sm::TreeShape::parse_widths(tree);
  sm::MemoryEventSink sink;
  sink.add_metadata("target", run_test::repo_path("data/models/mamba2-target"));
  sink.add_metadata("draft", run_test::repo_path("data/models/mamba2-draft"));
  sm::accel::PipelineTraceSink pipe(&sink, p.target->config(), p.draft->config(),
                                    sm::accel::PipelineTraceOptions::defaults());
  sm::GenerateOptions opt;
  opt.max_tokens = max_tokens;
  opt.stop_at_eos = false;
  sm::spec_generate(*p.target, *p.draft, *p.tok, p.tok->encode("And God said"), opt, cfg, &pipe);
  pipe.flush();
  auto r = sm::ui::build_run_record(sink.snapshot(), sink.metadata(), p.tok);
  r.name = QStringLiteral("device run");
  return r;
}

// `steps` steps made of the recorded ones over and over (every event, the
// DeviceOps included): a long run at the cost of a short one.
std::shared_ptr<RunRecord> longRun(const RunRecord& base, int steps, const QString& name) {
  auto r = std::make_shared<RunRecord>();
  r->name = name;
  r->settings = base.settings;
  r->metadata = base.metadata;
  const int n = int(base.steps.size());
  std::vector<std::vector<const sm::Event*>> by_step(static_cast<size_t>(n));
  for (const sm::Event& e : base.events)
    for (int i = 0; i < n; ++i)
      if (base.steps[size_t(i)].step == e.step) by_step[size_t(i)].push_back(&e);
  for (int k = 0; k < steps; ++k) {
    StepRecord s = base.steps[size_t(k % n)];
    s.step = k;
    r->steps.push_back(std::move(s));
    for (const sm::Event* e : by_step[size_t(k % n)]) {
      sm::Event c = *e;
      c.step = k;
      r->events.push_back(std::move(c));
    }
  }
  r->figures.steps = steps;
  return r;
}

std::shared_ptr<RunRecord> withMeasured(const RunRecord& base, int step, double scale) {
  std::vector<sm::Event> events = base.events;
  for (const sm::Event& e : base.events)
    if (const auto* op = std::get_if<sm::DeviceOp>(&e.payload); op && e.step == base.steps[size_t(step)].step) {
      sm::Event m = e;
      auto& mo = std::get<sm::DeviceOp>(m.payload);
      mo.measured = true;
      mo.sim_start_us *= scale;
      mo.sim_end_us *= scale;
      mo.active_us *= scale;
      events.push_back(m);
    }
  auto r = std::make_shared<RunRecord>(sm::ui::build_run_record(events, base.metadata, base.tokenizer));
  r->name = QStringLiteral("measured run");
  return r;
}

void showAt(QWidget& w, int width, int height) {
  w.resize(width, height);
  w.show();
  QVERIFY(QTest::qWaitForWindowExposed(&w));
}

// Renders go to $SPECMAMBA_VIEW_PNG (a folder) when set, for looking at them.
void savePng(QWidget& w, const QString& name) {
  const QString dir = qEnvironmentVariable("SPECMAMBA_VIEW_PNG");
  if (!dir.isEmpty()) QVERIFY(w.grab().save(dir + "/" + name + ".png"));
}

}  // namespace

class TestPipelineView : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    pair_ = std::make_unique<run_test::ShippedPair>();
    device_ = std::make_shared<RunRecord>(deviceRun(*pair_, "2,2,1", 60));
    QVERIFY(device_->steps.size() >= 6);
  }

  void emptyAndCpuRuns() {
    PipelineView v;
    showAt(v, 800, 400);
    QVERIFY(v.showingPlaceholder());
    QVERIFY(!v.placeholderText().isEmpty());
    auto target_only = std::make_shared<RunRecord>();
    target_only->name = QStringLiteral("plain");
    v.setRun(target_only);
    QVERIFY(v.showingPlaceholder());
    QVERIFY(v.placeholderText().contains(QStringLiteral("target-only")));
    // A CPU run: simulated by the view's model, and it says so.
    sm::SpecConfig cfg;
    cfg.tree = sm::TreeShape::parse_widths("2,1");
    auto cpu = std::make_shared<RunRecord>(run_test::record(*pair_, cfg, 12).record);
    v.setRun(cpu);
    QVERIFY(!v.showingPlaceholder());
    QCOMPARE(v.model().origin(), PipelineOrigin::DataflowModel);
    auto* source = v.findChild<QLabel*>(QStringLiteral("pipelineSource"));
    QVERIFY(source && source->text().contains(QStringLiteral("CPU run")));
    QVERIFY(!v.model().bars().empty());
    v.setRun(nullptr);
    QVERIFY(v.showingPlaceholder());
  }

  void drawsTheStepAndShowsAClickedBar() {
    PipelineView v;
    showAt(v, 1200, 520);
    v.setRun(device_);
    QVERIFY(!v.showingPlaceholder());
    QCOMPARE(v.currentStep(), 0);
    v.setStep(2);
    v.plot()->replot();
    QCOMPARE(v.currentStep(), 2);
    QVERIFY(v.titleText().contains(QStringLiteral("Step 2")));
    QVERIFY(v.figuresText().contains(QStringLiteral("linear ∥ SSM")));
    // The x axis shows the whole step at first.
    const PipeFigures& f = v.model().figures(PipeSource::Predicted);
    const auto [lo, hi] = v.visibleRangeUs();
    QVERIFY(lo <= f.start_us && hi >= f.end_us);

    // Click the longest SSM bar: its unit, layer and times appear.
    int pick = -1;
    for (int i = 0; i < int(v.model().bars().size()); ++i) {
      const PipeBar& b = v.model().bars()[size_t(i)];
      if (b.lane == PipeLane::Ssm && (pick < 0 || b.span_us() > v.model().bars()[size_t(pick)].span_us())) pick = i;
    }
    QVERIFY(pick >= 0);
    const QPoint at = v.barPoint(pick);
    QVERIFY(!at.isNull());
    QTest::mouseClick(v.plot(), Qt::LeftButton, {}, at);
    QCOMPARE(v.selectedBar(), pick);
    const PipeBar& b = v.model().bars()[size_t(pick)];
    QVERIFY(v.selectionText().contains(b.unit));
    QVERIFY(v.selectionText().contains(QStringLiteral("layer %1").arg(b.layer)));
    QVERIFY(v.selectionText().contains(v.model().timeText(b.end_us, PipeTimeUnit::Cycles)));
    QCOMPARE(v.toolTipAt(at).replace(QLatin1Char('\n'), QStringLiteral(" — ")), v.selectionText());
    // Empty space: no bar, the selection clears.
    QTest::mouseClick(v.plot(), Qt::LeftButton, {}, QPoint(v.plot()->axisRect()->left() + 1, v.plot()->axisRect()->top() + 1));
    QCOMPARE(v.selectedBar(), -1);
    QVERIFY(v.selectionText().isEmpty());
    savePng(v, "pipeline");

    // The CSV holds every bar shown, in both units.
    const CsvTable csv = v.barsCsv();
    QCOMPARE(csv.rows.size(), v.model().bars().size());
    QCOMPARE(csv.header.size(), 12);
  }

  void unitToggleKeepsTheView() {
    PipelineView v;
    showAt(v, 1000, 420);
    v.setRun(device_);
    QCOMPARE(v.timeUnit(), PipeTimeUnit::Cycles);
    const double mhz = v.model().clockMhz();
    const auto us = v.visibleRangeUs();
    QVERIFY(std::abs(v.plot()->xAxis->range().upper - us.second * mhz) < 1e-6 * us.second * mhz);
    QVERIFY(v.plot()->xAxis->label().contains(QStringLiteral("cycles")));
    auto* box = v.findChild<QComboBox*>(QStringLiteral("pipelineUnit"));
    QVERIFY(box);
    box->setCurrentIndex(box->findData(int(PipeTimeUnit::Microseconds)));
    QCOMPARE(v.timeUnit(), PipeTimeUnit::Microseconds);
    QVERIFY(v.plot()->xAxis->label().contains(QStringLiteral("µs")));
    QVERIFY(std::abs(v.plot()->xAxis->range().upper - us.second) < 1e-6 * us.second);
    const auto after = v.visibleRangeUs();
    QVERIFY(std::abs(after.first - us.first) < 1e-9 && std::abs(after.second - us.second) < 1e-9);
    QVERIFY(v.figuresText().contains(QStringLiteral("µs")));
    v.setTimeUnit(PipeTimeUnit::Cycles);
    QVERIFY(v.figuresText().contains(QStringLiteral("cycles")));
  }

  void zoomAndPanStayOnTheTimeAxis() {
    PipelineView v;
    showAt(v, 1000, 420);
    v.setRun(device_);
    v.plot()->replot();
    QVERIFY(v.plot()->interactions().testFlag(QCP::iRangeDrag));
    QVERIFY(v.plot()->interactions().testFlag(QCP::iRangeZoom));
    QCOMPARE(v.plot()->axisRect()->rangeZoom(), Qt::Horizontal);
    QCOMPARE(v.plot()->axisRect()->rangeDrag(), Qt::Horizontal);
    const QCPRange y = v.plot()->yAxis->range();
    const auto full = v.visibleRangeUs();
    // Zoom in 8x around the middle, then pan far left: clamped to the step.
    const QCPRange r = v.plot()->xAxis->range();
    v.plot()->xAxis->scaleRange(1.0 / 8, r.center());
    auto z = v.visibleRangeUs();
    QVERIFY(std::abs((z.second - z.first) - (full.second - full.first) / 8) < 1e-6 * (full.second - full.first));
    v.plot()->xAxis->moveRange(-1e12);
    z = v.visibleRangeUs();
    QVERIFY(std::abs(z.first - full.first) < 1e-6 * (full.second - full.first));
    QCOMPARE(v.plot()->yAxis->range().lower, y.lower);
    // Zooming out past the step stops at the step.
    v.plot()->xAxis->scaleRange(100, v.plot()->xAxis->range().center());
    z = v.visibleRangeUs();
    QVERIFY(std::abs(z.first - full.first) < 1e-6 * (full.second - full.first));
    QVERIFY(std::abs(z.second - full.second) < 1e-6 * (full.second - full.first));
    v.resetZoom();
    QCOMPARE(v.visibleRangeUs(), full);
  }

  void layerRangeControls() {
    PipelineView v;
    showAt(v, 1000, 420);
    v.setRun(device_);
    const size_t all = v.model().bars().size();
    auto* hi = v.findChild<QSpinBox*>(QStringLiteral("pipelineLayerHigh"));
    QVERIFY(hi);
    QCOMPARE(hi->value(), v.model().layerCount() - 1);
    hi->setValue(0);
    QCOMPARE(v.model().layerHigh(), 0);
    QVERIFY(v.model().bars().size() < all);
    for (const PipeBar& b : v.model().bars()) QCOMPARE(b.layer, 0);
    QVERIFY(v.titleText().contains(QStringLiteral("layer 0")));
    // The axis follows the layer's ops.
    const PipeFigures& f = v.model().figures(PipeSource::Predicted);
    const auto [lo, hi_us] = v.visibleRangeUs();
    QVERIFY(hi_us - lo < 1.1 * f.makespan_us);
    v.setLayerRange(0, 99);
    QCOMPARE(v.model().bars().size(), all);
  }

  void measuredOverlay() {
    PipelineView v;
    showAt(v, 1200, 520);
    v.setRun(withMeasured(*device_, 1, 1.2));
    v.setStep(1);
    v.plot()->replot();
    QVERIFY(v.model().hasMeasured());
    QVERIFY(v.titleText().contains(QStringLiteral("measured")));
    QVERIFY(v.figuresText().contains(QStringLiteral("measured − predicted")));
    QVERIFY(v.figuresText().contains(QStringLiteral("×1.200")));
    // A measured bar is thinner than its predicted twin and sits inside its lane.
    int meas = -1;
    for (int i = 0; i < int(v.model().bars().size()); ++i)
      if (v.model().bars()[size_t(i)].source == PipeSource::Measured &&
          v.model().bars()[size_t(i)].lane == PipeLane::Ssm)
        meas = i;
    QVERIFY(meas >= 0);
    const QPoint at = v.barPoint(meas);
    QVERIFY(!at.isNull());
    QTest::mouseClick(v.plot(), Qt::LeftButton, {}, at);
    QCOMPARE(v.selectedBar(), meas);
    QVERIFY(v.selectionText().contains(QStringLiteral("measured:")));
    QVERIFY(v.selectionText().contains(QStringLiteral("predicted:")));
    savePng(v, "pipeline_measured");
    v.setStep(2);  // no measured ops there
    QVERIFY(!v.figuresText().contains(QStringLiteral("measured − predicted")));
  }

  void smallSize() {
    PipelineView v;
    showAt(v, 500, 300);
    v.setRun(device_);
    v.plot()->replot();
    QVERIFY(v.plot()->axisRect()->width() > 150);
    QVERIFY(v.plot()->axisRect()->height() > 40);
    savePng(v, "pipeline_500x300");
  }

  void setRunIsFast() {
    PipelineView v;
    showAt(v, 1200, 600);
    v.setRun(device_);  // fonts and buffers, once
    v.plot()->replot();
    std::vector<std::shared_ptr<RunRecord>> runs;
    for (int i = 0; i < 3; ++i) runs.push_back(longRun(*device_, 600, QStringLiteral("Run %1").arg(i)));
    size_t ops = 0;
    for (const sm::Event& e : runs[0]->events) ops += std::holds_alternative<sm::DeviceOp>(e.payload);
    QVERIFY(ops > 600 * 50);
    std::vector<qint64> times;
    QElapsedTimer timer;
    for (const auto& run : runs) {
      timer.start();
      v.setRun(run);
      v.plot()->replot();
      times.push_back(timer.elapsed());
    }
    std::sort(times.begin(), times.end());
    qInfo("600 steps, %zu device ops: setRun + replot %lld ms (median of 3)", ops, times[1]);
    QVERIFY2(times[1] < timing::budget(20), qPrintable(QString("setRun + replot took %1 ms").arg(times[1])));
    timer.start();
    v.setStep(599);
    v.plot()->replot();
    QVERIFY2(timer.elapsed() < timing::budget(20), "setStep + replot");
    QCOMPARE(v.currentStep(), 599);
  }

  void stepLinking() {
    PipelineView v;
    showAt(v, 900, 400);
    v.setRun(device_);
    QSignalSpy spy(&v, &PipelineView::stepSelected);
    v.setStep(3);
    QCOMPARE(v.currentStep(), 3);
    QCOMPARE(spy.count(), 0);  // programmatic: never emits
    auto* box = v.findChild<QSpinBox*>(QStringLiteral("pipelineStep"));
    QVERIFY(box);
    QCOMPARE(box->value(), 3);
    box->setValue(5);  // as the user does
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy.takeFirst().at(0).toInt(), 5);
    QCOMPARE(v.currentStep(), 5);
    v.setStep(int(device_->steps.size()) + 3);  // out of range: ignored
    QCOMPARE(v.currentStep(), 5);
  }

  void dockFollowsTheMainWindow() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("device.json"));
    {
      auto sink = sm::make_chrome_trace_sink(path.toStdString(), device_->metadata);
      for (const sm::Event& e : device_->events) sink->on_event(e);
      sink->flush();
    }
    MainWindow w;  // installs the pipeline dock itself
    QDockWidget* dock = w.dock(QStringLiteral("pipelineDock"));
    QVERIFY(dock);
    QCOMPARE(w.dockWidgetArea(dock), Qt::BottomDockWidgetArea);
    PipelineView* v = w.pipelineView();
    QVERIFY(v);
    QVERIFY(dock->isAncestorOf(v));
    QVERIFY(v->showingPlaceholder());
    QVERIFY(w.openTrace(path));
    QVERIFY(!v->showingPlaceholder());
    QCOMPARE(v->model().origin(), PipelineOrigin::DeviceTrace);
    QCOMPARE(v->currentStep(), w.currentStep());
    w.selectStep(4);
    QCOMPARE(v->currentStep(), 4);
    v->findChild<QSpinBox*>(QStringLiteral("pipelineStep"))->setValue(2);
    QCOMPARE(w.currentStep(), 2);
    QCOMPARE(v->currentStep(), 2);
  }

 private:
  std::unique_ptr<run_test::ShippedPair> pair_;
  std::shared_ptr<RunRecord> device_;
};

QTEST_MAIN(TestPipelineView)
#include "tst_pipeline_view.moc"
