// SPDX-License-Identifier: Apache-2.0
// The pipeline view's model without widgets: its bars are the dataflow
// model's schedule for a recorded device run (and for a CPU run, which it
// simulates itself), its figures are right on hand-built bars, cycles and
// microseconds convert at the run's clock, synthetic measured ops overlay the
// predicted ones (and survive Chrome and HDF5 traces), empty runs say why.
#include "accel/dataflow/model.h"
#include "accel/dataflow/pipeline_trace.h"
#include "core/trace/trace_chrome_reader.h"
#include "core/trace/trace_hdf5_reader.h"
#include "tests/ui/run_test_support.h"
#include "ui/models/pipeline_model.h"

#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <tuple>

using namespace sm::ui;

namespace {

// A speculative run on the shipped pair with the pipeline sink wrapped
// around the recorder, as the Studio records a `--device emu` run.
sm::ui::RunRecord deviceRun(run_test::ShippedPair& p, const std::string& tree, int max_tokens) {
  sm::SpecConfig cfg;
  cfg.tree = sm::TreeShape::parse_widths(tree);
  sm::MemoryEventSink sink;
  sink.add_metadata("target", run_test::repo_path("data/models/mamba2-target"));
  sink.add_metadata("draft", run_test::repo_path("data/models/mamba2-draft"));
  sm::accel::PipelineTraceOptions so = sm::accel::PipelineTraceOptions::defaults();
  so.order = sm::accel::parse_verify_order(sm::verify_order_name(cfg.verify));
  so.backtrack = sm::accel::parse_backtrack(sm::backtrack_policy_name(cfg.backtrack));
  sm::accel::PipelineTraceSink pipe(&sink, p.target->config(), p.draft->config(), so);
  sm::GenerateOptions opt;
  opt.max_tokens = max_tokens;
  opt.stop_at_eos = false;
  sm::spec_generate(*p.target, *p.draft, *p.tok, p.tok->encode("And God said"), opt, cfg, &pipe);
  pipe.flush();
  auto r = sm::ui::build_run_record(sink.snapshot(), sink.metadata(), p.tok);
  r.name = QStringLiteral("device run");
  return r;
}

using OpKey = std::tuple<int, QString, int, int, int64_t, int64_t, int64_t>;  // lane unit layer model start end active

std::vector<OpKey> keysOf(const std::vector<PipeBar>& bars, double mhz, PipeSource s) {
  std::vector<OpKey> out;
  for (const PipeBar& b : bars)
    if (b.source == s)
      out.emplace_back(int(b.lane), b.unit, b.layer, int(b.model), std::llround(b.start_us * mhz),
                       std::llround(b.end_us * mhz), std::llround(b.active_us * mhz));
  std::sort(out.begin(), out.end());
  return out;
}

PipeBar bar(PipeLane lane, double s, double e, double active, PipeSource src = PipeSource::Predicted) {
  PipeBar b;
  b.lane = lane;
  b.unit = QStringLiteral("op");
  b.start_us = s;
  b.end_us = e;
  b.active_us = active;
  b.source = src;
  return b;
}

// The run with every DeviceOp of `step` copied as measured, times x `scale`.
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

}  // namespace

class TestPipelineModel : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    pair_ = std::make_unique<run_test::ShippedPair>();
    device_ = std::make_shared<RunRecord>(deviceRun(*pair_, "2,2,1", 40));
    QVERIFY(device_->steps.size() >= 4);
  }

  void barsEqualTheDataflowModel() {
    PipelineModel m;
    m.setRun(device_);
    QCOMPARE(m.origin(), PipelineOrigin::DeviceTrace);
    QVERIFY(!m.hasMeasured());
    QCOMPARE(m.clockMhz(), sm::accel::default_design(sm::accel::Platform::load("vck190")).clock_mhz);
    const int k = 2;
    m.setStep(k);
    const StepRecord& s = device_->steps[size_t(k)];
    // The tree the step drafted: 2,2,1 gives levels 1, 2, 4, 4.
    std::vector<int> levels;
    for (const NodeRecord& n : s.nodes) {
      if (levels.size() <= size_t(n.depth)) levels.resize(size_t(n.depth) + 1, 0);
      ++levels[size_t(n.depth)];
    }
    QCOMPARE(levels, (std::vector<int>{1, 2, 4, 4}));

    // The same step straight from the dataflow model.
    const sm::accel::Platform p = sm::accel::Platform::load("vck190");
    const sm::accel::Design d = sm::accel::default_design(p);
    const sm::accel::SpecStep st =
        sm::accel::simulate_spec_step(pair_->target->config(), pair_->draft->config(), d, p,
                                      sm::accel::TreeShape::parse("2,2,1"), 1 + s.accepted,
                                      sm::accel::VerifyOrder::Fifo, sm::accel::Backtrack::Snapshot);
    std::vector<OpKey> want;
    std::vector<sm::accel::PipeEvent> all;  // the whole step on one clock, for lane_overlap
    int64_t offset = 0;
    auto add = [&](const std::vector<sm::accel::PipeEvent>& evs, sm::ModelRole role) {
      for (sm::accel::PipeEvent e : evs) {
        e.start += offset;
        e.end += offset;
        all.push_back(e);
        want.emplace_back(int(*parse_pipe_lane(e.lane)), QString::fromStdString(e.unit), e.layer, int(role), e.start,
                          e.end, e.active);
      }
    };
    for (const auto& pass : st.draft_passes) {
      add(pass.events, sm::ModelRole::Draft);
      offset += pass.cycles;
    }
    add(st.verify.events, sm::ModelRole::Target);
    std::sort(want.begin(), want.end());
    const auto got = keysOf(m.bars(), m.clockMhz(), PipeSource::Predicted);
    QCOMPARE(got.size(), want.size());
    QVERIFY(got == want);

    const PipeFigures& f = m.figures(PipeSource::Predicted);
    QVERIFY(f.present);
    QCOMPARE(std::llround(f.makespan_us * m.clockMhz()), st.cycles());
    QCOMPARE(std::llround(f.overlapUs(PipeLane::Linear, PipeLane::Ssm) * m.clockMhz()),
             sm::accel::lane_overlap(all, "linear", "ssm"));
    QVERIFY(f.overlapUs(PipeLane::Linear, PipeLane::Ssm) > 0);  // the dataflow overlaps them
    QVERIFY(!m.figures(PipeSource::Measured).present);
    QVERIFY(!m.deltas().present);
  }

  void figuresOnHandBuiltBars() {
    // linear: [0,10) fully active, [20,30) active 5 -> busy 20, wait 5, gap 10.
    // SSM: [5,25) -> busy 20. DMA: [0,10) moving bytes 4 of it.
    std::vector<PipeBar> bars = {bar(PipeLane::Linear, 0, 10, 10), bar(PipeLane::Linear, 20, 30, 5),
                                 bar(PipeLane::Ssm, 5, 25, 20), bar(PipeLane::Dma, 0, 10, 4)};
    const PipeFigures f = compute_pipe_figures(bars, PipeSource::Predicted);
    QVERIFY(f.present);
    QCOMPARE(f.makespan_us, 30.0);
    QCOMPARE(f.serial_us, 40.0);  // DMA excluded
    QCOMPARE(f.overlap_saving_us(), 10.0);
    const LaneFigures& lin = f.lanes[size_t(PipeLane::Linear)];
    QCOMPARE(lin.ops, 2);
    QCOMPARE(lin.busy_us, 20.0);
    QCOMPARE(lin.active_us, 15.0);
    QCOMPARE(lin.wait_us, 5.0);
    QCOMPARE(lin.gap_us, 10.0);
    QCOMPARE(lin.stall_us(), 15.0);
    QCOMPARE(lin.busy_share, 20.0 / 30.0);
    QCOMPARE(f.lanes[size_t(PipeLane::Ssm)].stall_us(), 0.0);
    QCOMPARE(f.lanes[size_t(PipeLane::Dma)].wait_us, 6.0);
    QCOMPARE(f.lanes[size_t(PipeLane::Conv)].ops, 0);
    QCOMPARE(f.overlapUs(PipeLane::Linear, PipeLane::Ssm), 10.0);  // [5,10) + [20,25)
    QCOMPARE(f.overlapUs(PipeLane::Ssm, PipeLane::Linear), 10.0);
    QCOMPARE(f.overlapUs(PipeLane::Linear, PipeLane::Dma), 10.0);
    QCOMPARE(f.overlapUs(PipeLane::Ssm, PipeLane::Dma), 5.0);
    // As the simulator's own lane_overlap on the same intervals.
    const std::vector<sm::accel::PipeEvent> evs = {
        {"linear", "a", 0, 0, 10, 10}, {"linear", "b", 0, 20, 30, 5}, {"ssm", "s", 0, 5, 25, 20}};
    QCOMPARE(sm::accel::lane_overlap(evs, "linear", "ssm"), int64_t(10));
    // Measured ops may overlap on a lane: unions, not sums.
    QCOMPARE(union_length({{0, 10}, {5, 15}, {20, 21}}), 16.0);
    QCOMPARE(intersection_length({{0, 10}, {5, 15}}, {{8, 30}}), 7.0);
    QVERIFY(!compute_pipe_figures(bars, PipeSource::Measured).present);
  }

  void cyclesAndMicroseconds_data() {
    QTest::addColumn<QString>("mhz");
    QTest::addColumn<double>("us");
    QTest::addColumn<qlonglong>("cycles");
    QTest::newRow("400 MHz") << "400" << 2.5 << 1000LL;
    QTest::newRow("250 MHz") << "250" << 10.0 << 2500LL;
    QTest::newRow("333.3 MHz") << "333.3" << 3.0 << 1000LL;  // 999.9 rounds to 1000
    QTest::newRow("bad clock: the default") << "fast" << 1.0 << 400LL;
  }
  void cyclesAndMicroseconds() {
    QFETCH(QString, mhz);
    QFETCH(double, us);
    QFETCH(qlonglong, cycles);
    auto run = std::make_shared<RunRecord>();
    run->name = QStringLiteral("hand-built");
    run->settings.draft = QStringLiteral("d");
    run->settings.target = QStringLiteral("t");
    StepRecord s;
    s.step = 7;
    s.nodes.resize(1);
    run->steps.push_back(s);
    run->metadata = {{"sim_clock_mhz", mhz.toStdString()}};
    sm::Event e;
    e.step = 7;
    e.payload = sm::DeviceOp{"linear", "in_proj", 0, sm::ModelRole::Target, 0, 0, us, us};
    run->events.push_back(e);
    PipelineModel m;
    m.setRun(run);
    QCOMPARE(m.origin(), PipelineOrigin::DeviceTrace);
    QCOMPARE(m.bars().size(), size_t(1));
    const double end = m.bars()[0].end_us;
    QCOMPARE(std::llround(m.toUnit(end, PipeTimeUnit::Cycles)), cycles);
    QCOMPARE(m.toUnit(end, PipeTimeUnit::Microseconds), us);
    QVERIFY(std::abs(m.fromUnit(m.toUnit(end, PipeTimeUnit::Cycles), PipeTimeUnit::Cycles) - us) < 1e-12);
    QCOMPARE(m.timeText(end, PipeTimeUnit::Cycles), QStringLiteral("%1 cycles").arg(cycles));
    QVERIFY(m.timeText(end, PipeTimeUnit::Microseconds).endsWith(QStringLiteral("µs")));
  }

  void measuredOverlay() {
    const int k = 1;
    const double scale = 1.25;
    auto run = withMeasured(*device_, k, scale);
    PipelineModel m;
    m.setRun(run);
    QVERIFY(m.hasMeasured());
    m.setStep(k);
    const auto pred = keysOf(m.bars(), m.clockMhz(), PipeSource::Predicted);
    const auto meas = keysOf(m.bars(), m.clockMhz(), PipeSource::Measured);
    QVERIFY(!pred.empty());
    QCOMPARE(meas.size(), pred.size());
    // Every op pairs with its measured twin: same lane, unit, layer and model, times x 1.25.
    for (int i = 0; i < int(m.bars().size()); ++i) {
      const PipeBar& b = m.bars()[size_t(i)];
      QVERIFY2(b.match >= 0, qPrintable(b.unit));
      const PipeBar& o = m.bars()[size_t(b.match)];
      QCOMPARE(o.match, i);
      QVERIFY(o.source != b.source);
      QCOMPARE(o.lane, b.lane);
      QCOMPARE(o.unit, b.unit);
      QCOMPARE(o.layer, b.layer);
      QCOMPARE(o.model, b.model);
      const PipeBar& mb = b.source == PipeSource::Measured ? b : o;
      const PipeBar& pb = b.source == PipeSource::Measured ? o : b;
      QVERIFY(std::abs(mb.end_us - scale * pb.end_us) < 1e-9);
    }
    const PipeFigures& p = m.figures(PipeSource::Predicted);
    const PipeFigures& q = m.figures(PipeSource::Measured);
    QVERIFY(q.present);
    QVERIFY(std::abs(q.makespan_us - scale * p.makespan_us) < 1e-9);
    const PipeDeltas& d = m.deltas();
    QVERIFY(d.present);
    QCOMPARE(d.matched, int(pred.size()));
    QCOMPARE(d.unmatched, 0);
    QVERIFY(std::abs(d.makespan_ratio - scale) < 1e-9);
    QVERIFY(std::abs(d.makespan_us - (scale - 1) * p.makespan_us) < 1e-9);
    for (int l = 0; l < kPipeLanes; ++l)
      QVERIFY(std::abs(d.busy_us[size_t(l)] - (scale - 1) * p.lanes[size_t(l)].busy_us) < 1e-9);
    double mean_end = 0;
    for (const PipeBar& b : m.bars())
      if (b.source == PipeSource::Predicted) mean_end += b.end_us;
    mean_end /= double(pred.size());
    QVERIFY(std::abs(d.mean_abs_end_us - (scale - 1) * mean_end) < 1e-9);

    // Another step: predicted only, no deltas.
    m.setStep(k + 1);
    QVERIFY(!m.figures(PipeSource::Measured).present);
    QVERIFY(!m.deltas().present);
    // An op measured but never predicted stays unmatched.
    std::vector<PipeBar> lone = {bar(PipeLane::Ssm, 0, 4, 4), bar(PipeLane::Ssm, 0, 5, 5, PipeSource::Measured),
                                 bar(PipeLane::Verify, 5, 6, 1, PipeSource::Measured)};
    match_pipe_bars(lone);
    QCOMPARE(lone[0].match, 1);
    QCOMPARE(lone[2].match, -1);
    const PipeDeltas ld = compute_pipe_deltas(lone, compute_pipe_figures(lone, PipeSource::Predicted),
                                              compute_pipe_figures(lone, PipeSource::Measured));
    QCOMPARE(ld.matched, 1);
    QCOMPARE(ld.unmatched, 1);
    QCOMPARE(ld.makespan_us, 2.0);
  }

  void measuredSurvivesTraceFiles() {
    auto run = withMeasured(*device_, 1, 1.5);
    size_t measured = 0;
    for (const sm::Event& e : run->events)
      if (const auto* op = std::get_if<sm::DeviceOp>(&e.payload)) measured += op->measured;
    QVERIFY(measured > 0);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    auto count = [](const std::vector<sm::Event>& evs) {
      std::pair<size_t, size_t> n{0, 0};  // predicted, measured
      for (const sm::Event& e : evs)
        if (const auto* op = std::get_if<sm::DeviceOp>(&e.payload)) (op->measured ? n.second : n.first)++;
      return n;
    };
    const auto want = count(run->events);
    for (const char* ext : {"json", "h5"}) {
      const std::string path = (dir.path() + "/t." + ext).toStdString();
      {
        auto sink = std::string(ext) == "json" ? sm::make_chrome_trace_sink(path, run->metadata)
                                               : sm::make_hdf5_sink(path, run->metadata);
        for (const sm::Event& e : run->events) sink->on_event(e);
        sink->flush();
      }
      const std::vector<sm::Event> back = std::string(ext) == "json" ? sm::read_chrome_trace(path).events
                                                                     : sm::read_hdf5_trace(path);
      QCOMPARE(count(back), want);
      PipelineModel m;
      m.setRun(std::make_shared<RunRecord>(sm::ui::build_run_record(back, run->metadata)));
      m.setStep(1);
      QVERIFY2(m.deltas().present, ext);
      QVERIFY(std::abs(m.deltas().makespan_ratio - 1.5) < 1e-6);
    }
  }

  void layerRange() {
    PipelineModel m;
    m.setRun(device_);
    QCOMPARE(m.layerCount(), std::max(pair_->target->config().n_layer, pair_->draft->config().n_layer));
    QVERIFY(m.allLayers());
    const size_t all = m.bars().size();
    bool head = false;
    for (const PipeBar& b : m.bars()) head = head || b.unit == QLatin1String("lm_head");
    QVERIFY(head);  // ops of no layer belong to the whole model
    m.setLayerRange(1, 1);
    QVERIFY(!m.allLayers());
    QVERIFY(!m.bars().empty() && m.bars().size() < all);
    for (const PipeBar& b : m.bars()) QCOMPARE(b.layer, 1);
    m.setLayerRange(5, -3);  // clamped and ordered
    QCOMPARE(m.layerLow(), 0);
    QCOMPARE(m.layerHigh(), m.layerCount() - 1);
    QCOMPARE(m.bars().size(), all);
  }

  void cpuRunIsSimulated() {
    // The same greedy run without the pipeline sink: the model computes the
    // schedule the device run recorded.
    sm::SpecConfig cfg;
    cfg.tree = sm::TreeShape::parse_widths("2,2,1");
    auto cpu = std::make_shared<RunRecord>(run_test::record(*pair_, cfg, 40).record);
    PipelineModel m, d;
    m.setRun(cpu);
    d.setRun(device_);
    QCOMPARE(m.origin(), PipelineOrigin::DataflowModel);
    QVERIFY(m.deviceText().contains(QStringLiteral("vck190")));
    QCOMPARE(m.stepCount(), d.stepCount());
    for (int k : {0, 3}) {
      m.setStep(k);
      d.setStep(k);
      QVERIFY(!m.bars().empty());
      QVERIFY(keysOf(m.bars(), m.clockMhz(), PipeSource::Predicted) ==
              keysOf(d.bars(), d.clockMhz(), PipeSource::Predicted));
    }
  }

  void emptyRuns() {
    PipelineModel m;
    m.setRun(nullptr);
    QVERIFY(m.empty());
    QVERIFY(!m.emptyReason().isEmpty());
    QCOMPARE(m.step(), -1);
    QVERIFY(m.bars().empty());
    m.setStep(3);
    QVERIFY(m.bars().empty());

    auto target_only = std::make_shared<RunRecord>();
    target_only->name = QStringLiteral("plain");
    target_only->settings.target = QStringLiteral("t");
    m.setRun(target_only);
    QVERIFY(m.empty());
    QVERIFY(m.emptyReason().contains(QStringLiteral("target-only")));

    // A CPU run whose models are gone: no device run, said so.
    auto lost = std::make_shared<RunRecord>(*device_);
    lost->events.erase(std::remove_if(lost->events.begin(), lost->events.end(),
                                      [](const sm::Event& e) { return std::holds_alternative<sm::DeviceOp>(e.payload); }),
                       lost->events.end());
    lost->settings.target = QStringLiteral("/nonexistent/target");
    m.setRun(lost);
    QVERIFY(m.empty());
    QVERIFY2(m.emptyReason().startsWith(QStringLiteral("No device run")), qPrintable(m.emptyReason()));
    QVERIFY(m.bars().empty());
  }

 private:
  std::unique_ptr<run_test::ShippedPair> pair_;
  std::shared_ptr<RunRecord> device_;
};

QTEST_GUILESS_MAIN(TestPipelineModel)
#include "tst_pipeline_model.moc"
