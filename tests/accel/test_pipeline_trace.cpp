// SPDX-License-Identifier: Apache-2.0
// The pipeline-trace decorator: forwards every event, adds the dataflow
// model's DeviceOp timeline per speculative step and fills StepSummary::sim_us.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "accel/dataflow/model.h"
#include "accel/dataflow/pipeline_trace.h"
#include "core/io/default_paths.h"
#include "core/io/error.h"
#include "core/trace/spec_events.h"

namespace {
using namespace sm::accel;

sm::Event ev(double t, double dur, int32_t step, sm::EventPayload p) {
  sm::Event e;
  e.t_us = t;
  e.dur_us = dur;
  e.step = step;
  e.payload = std::move(p);
  return e;
}

// The events of one step of a 2,2,1 tree (1 + 2 + 4 + 4 = 11 nodes) as spec_decoder emits them.
std::vector<sm::Event> step_of_221(int32_t step, double t0, int32_t accepted) {
  std::vector<sm::Event> v;
  int32_t node = 1;
  const int per_depth[] = {2, 4, 4};
  for (int depth = 1; depth <= 3; ++depth)
    for (int i = 0; i < per_depth[depth - 1]; ++i, ++node)
      v.push_back(ev(t0 + node, 0, step, sm::NodeDrafted{node, 0, depth, 40 + node, 0.5f}));
  v.push_back(ev(t0, 20, step, sm::TreeDrafted{11, 3, 20}));
  v.push_back(ev(t0 + 21, 0, step, sm::FifoPush{0, 0, 1, 1}));
  v.push_back(ev(t0 + 22, 0, step, sm::FifoPop{0, 0, 1, 0}));
  v.push_back(ev(t0 + 23, 1, step, sm::NodeVerified{1, 41, 0.75f}));
  v.push_back(ev(t0 + 24, 0, step, sm::AcceptDecision{1, 41, true, "matches target argmax"}));
  v.push_back(ev(t0 + 25, 2, step, sm::Backtrack{sm::ModelRole::Target, "snapshot", 1000, 0, 2}));
  sm::StepSummary s;
  s.step = step;
  s.tree_nodes = 11;
  s.accepted = accepted;
  s.emitted = accepted + 1;
  s.bonus_token = 7;
  s.step_us = 40;
  s.draft_us = 20;
  s.verify_us = 10;
  s.accept_us = 5;
  s.backtrack_us = 5;
  v.push_back(ev(t0, 0, step, s));
  return v;
}

bool same_event(const sm::Event& a, const sm::Event& b, bool ignore_sim_us) {
  if (a.t_us != b.t_us || a.dur_us != b.dur_us || a.step != b.step || a.payload.index() != b.payload.index())
    return false;
  // Field by field, for every type the test sends.
  if (const auto* x = std::get_if<sm::StepSummary>(&a.payload)) {
    const auto& y = std::get<sm::StepSummary>(b.payload);
    return x->step == y.step && x->tree_nodes == y.tree_nodes && x->accepted == y.accepted &&
           x->emitted == y.emitted && x->bonus_token == y.bonus_token && x->step_us == y.step_us &&
           x->draft_us == y.draft_us && x->verify_us == y.verify_us && x->accept_us == y.accept_us &&
           x->backtrack_us == y.backtrack_us && (ignore_sim_us || x->sim_us == y.sim_us);
  }
  if (const auto* x = std::get_if<sm::NodeDrafted>(&a.payload)) {
    const auto& y = std::get<sm::NodeDrafted>(b.payload);
    return x->node == y.node && x->parent == y.parent && x->depth == y.depth && x->token == y.token &&
           x->prob == y.prob;
  }
  if (const auto* x = std::get_if<sm::AcceptDecision>(&a.payload)) {
    const auto& y = std::get<sm::AcceptDecision>(b.payload);
    return x->node == y.node && x->token == y.token && x->accepted == y.accepted && x->reason == y.reason;
  }
  if (const auto* x = std::get_if<sm::Backtrack>(&a.payload)) {
    const auto& y = std::get<sm::Backtrack>(b.payload);
    return x->model == y.model && x->policy == y.policy && x->bytes_kept == y.bytes_kept &&
           x->replayed == y.replayed && x->us == y.us;
  }
  if (const auto* x = std::get_if<sm::TreeDrafted>(&a.payload)) {
    const auto& y = std::get<sm::TreeDrafted>(b.payload);
    return x->nodes == y.nodes && x->depth == y.depth && x->draft_us == y.draft_us;
  }
  if (const auto* x = std::get_if<sm::FifoPush>(&a.payload)) {
    const auto& y = std::get<sm::FifoPush>(b.payload);
    return x->layer == y.layer && x->tile == y.tile && x->node == y.node && x->live == y.live;
  }
  if (const auto* x = std::get_if<sm::FifoPop>(&a.payload)) {
    const auto& y = std::get<sm::FifoPop>(b.payload);
    return x->layer == y.layer && x->tile == y.tile && x->node == y.node && x->live == y.live;
  }
  if (const auto* x = std::get_if<sm::NodeVerified>(&a.payload)) {
    const auto& y = std::get<sm::NodeVerified>(b.payload);
    return x->node == y.node && x->target_argmax == y.target_argmax && x->target_prob == y.target_prob;
  }
  return false;  // a type this test does not send
}

struct Models {
  sm::ModelConfig target = model_shape(sm::data_dir() + "/models/mamba2-target");
  sm::ModelConfig draft = model_shape(sm::data_dir() + "/models/mamba2-draft");
};

TEST(PipelineTrace, DefaultsAreSimulatesDefaults) {
  const PipelineTraceOptions o = PipelineTraceOptions::defaults();
  EXPECT_EQ(o.platform.name, "vck190");
  EXPECT_EQ(o.design.clock_mhz, o.platform.default_mhz);
  EXPECT_EQ(o.design.tile_rows, 8);
  EXPECT_EQ(o.design.weight_bits, Design::lightmamba().weight_bits);
  EXPECT_EQ(o.order, VerifyOrder::Fifo);
  std::string msg;
  try {
    PipelineTraceOptions::defaults("bogus");
  } catch (const sm::Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("vck190"), std::string::npos) << msg;
  EXPECT_NE(msg.find("u280"), std::string::npos) << msg;
}

TEST(PipelineTrace, ForwardsEveryEventAndAddsTheDeviceTimeline) {
  const Models m;
  sm::MemoryEventSink mem;
  const PipelineTraceOptions opt = PipelineTraceOptions::defaults();
  PipelineTraceSink pipe(&mem, m.target, m.draft, opt);
  std::vector<sm::Event> sent = step_of_221(0, 100, 2);
  const auto second = step_of_221(1, 200, 0);
  sent.insert(sent.end(), second.begin(), second.end());
  for (const auto& e : sent) pipe.on_event(e);
  pipe.add_metadata("stop_reason", "max_tokens");
  pipe.flush();

  // Every event arrives unchanged and in order (StepSummary gains sim_us), with DeviceOps between.
  const auto got = mem.snapshot();
  std::vector<sm::Event> forwarded;
  std::map<int32_t, std::vector<sm::DeviceOp>> ops;  // step -> ops
  for (const auto& e : got) {
    if (const auto* op = std::get_if<sm::DeviceOp>(&e.payload)) ops[e.step].push_back(*op);
    else forwarded.push_back(e);
  }
  ASSERT_EQ(forwarded.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i)
    EXPECT_TRUE(same_event(sent[i], forwarded[i], true)) << "event " << i << " " << sm::event_name(sent[i].payload);
  // The ops of a step come just before its summary.
  for (size_t i = 0; i + 1 < got.size(); ++i) {
    if (std::holds_alternative<sm::DeviceOp>(got[i].payload)) {
      EXPECT_TRUE(std::holds_alternative<sm::DeviceOp>(got[i + 1].payload) ||
                  std::holds_alternative<sm::StepSummary>(got[i + 1].payload));
    }
  }

  const double mhz = opt.design.clock_mhz;
  std::vector<double> sim_us;
  for (const auto& e : forwarded)
    if (const auto* s = std::get_if<sm::StepSummary>(&e.payload)) sim_us.push_back(s->sim_us);
  ASSERT_EQ(sim_us.size(), 2u);
  ASSERT_EQ(ops.size(), 2u);
  for (int step = 0; step < 2; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const auto& v = ops[step];
    ASSERT_FALSE(v.empty());
    std::set<std::string> lanes;
    std::map<std::string, double> lane_free;
    double end = 0;
    bool draft = false, target = false;
    for (const auto& op : v) {
      lanes.insert(op.lane);
      EXPECT_GE(op.sim_start_us, 0.0);
      EXPECT_LE(op.sim_start_us, op.sim_end_us);
      EXPECT_GE(op.active_us, 0.0);
      EXPECT_LE(op.active_us, op.sim_end_us - op.sim_start_us + 1e-9);
      // One op at a time per lane, in order.
      EXPECT_GE(op.sim_start_us, lane_free[op.lane] - 1e-9) << op.lane << " " << op.unit;
      lane_free[op.lane] = op.sim_end_us;
      end = std::max(end, op.sim_end_us);
      EXPECT_EQ(op.step_sim_start_us, step == 0 ? 0.0 : sim_us[0]);
      draft |= op.model == sm::ModelRole::Draft;
      target |= op.model == sm::ModelRole::Target;
    }
    for (const char* l : {"dma", "linear", "ssm", "conv", "verify", "backtrack"}) EXPECT_TRUE(lanes.count(l)) << l;
    EXPECT_TRUE(draft && target);
    EXPECT_GT(sim_us[step], 0.0);
    EXPECT_NEAR(end, sim_us[step], 1e-9 * sim_us[step]) << "the summary's sim_us is the timeline's makespan";

    // The same step through the dataflow model directly.
    const SpecStep st = simulate_spec_step(m.target, m.draft, opt.design, opt.platform, TreeShape::parse("2,2,1"),
                                           1 + (step == 0 ? 2 : 0), opt.order, opt.backtrack);
    EXPECT_DOUBLE_EQ(sim_us[step], st.cycles() / mhz);
    size_t n = 0;
    for (const auto& p : st.draft_passes) n += p.events.size();
    EXPECT_EQ(v.size(), n + st.verify.events.size());
    // The first draft pass (the root alone) is simulate_step's autoregressive-like pass.
    StepOptions first;
    first.nodes = 1;
    first.state_read_bytes = state_bytes_per_layer(m.draft, opt.design);
    first.state_write_bytes = 0;
    const StepResult r0 = simulate_step(m.draft, opt.design, opt.platform, first);
    EXPECT_EQ(st.draft_passes.at(0).cycles, r0.cycles);
    double draft_end = 0, target_start = 1e300;
    for (const auto& op : v) {
      if (op.model == sm::ModelRole::Draft) draft_end = std::max(draft_end, op.sim_end_us);
      else target_start = std::min(target_start, op.sim_start_us);
    }
    EXPECT_NEAR(draft_end, st.draft_cycles / mhz, 1e-9 * draft_end);
    EXPECT_GE(target_start, draft_end - 1e-9) << "verification starts after the draft";
    EXPECT_NEAR(sim_us[step] - draft_end, st.verify.cycles / mhz, 1e-9 * sim_us[step]);
  }
  EXPECT_LE(sim_us[1], sim_us[0]) << "fewer accepted nodes to replay: never slower";

  const auto t = pipe.totals();
  EXPECT_EQ(t.steps, 2);
  EXPECT_EQ(t.tokens, 3 + 1);
  EXPECT_NEAR(t.seconds, (sim_us[0] + sim_us[1]) * 1e-6, 1e-15);
  EXPECT_GT(t.tokens_per_second(), 0.0);
  EXPECT_NEAR(t.tokens_per_second(), 4 / t.seconds, 1e-9 * t.tokens_per_second());
  EXPECT_EQ(t.device_ops, static_cast<int64_t>(ops[0].size() + ops[1].size()));

  // Metadata: the caller's, plus the simulated device and its results.
  std::map<std::string, std::string> meta;
  for (const auto& [k, v] : mem.metadata()) meta[k] = v;
  EXPECT_EQ(meta["stop_reason"], "max_tokens");
  EXPECT_EQ(meta["sim_platform"], "vck190");
  EXPECT_EQ(meta["sim_device"], pipe.describe());
  EXPECT_NE(meta["sim_device"].find("vck190"), std::string::npos);
  EXPECT_NEAR(std::stod(meta["sim_seconds"]), t.seconds, 1e-6 * t.seconds);
  EXPECT_NEAR(std::stod(meta["sim_tokens_per_second"]), t.tokens_per_second(), 1e-6 * t.tokens_per_second());
  EXPECT_FALSE(meta["sim_design"].empty());
}

// The factored per-step function is what simulate_speculative uses.
TEST(PipelineTrace, SpecStepMatchesSimulateSpeculative) {
  const sm::ModelConfig tm = model_shape("mamba2-2.7b"), dm = model_shape("mamba2-130m");
  const Platform p = Platform::load("vck190");
  const Design d = default_design(p);
  for (const char* tree : {"4,2,2", "1,1,1", "2,2"}) {
    SCOPED_TRACE(tree);
    const TreeShape t = TreeShape::parse(tree);
    const Acceptance acc = Acceptance::parse("0.7");
    const SpecResult r = simulate_speculative(tm, dm, d, p, t, acc);
    const SpecStep st = simulate_spec_step(tm, dm, d, p, t, 1 + std::llround(acc.expected_accepted(t)));
    EXPECT_EQ(st.cycles(), r.step_cycles);
    EXPECT_EQ(st.draft_cycles, r.draft_cycles);
    EXPECT_EQ(st.verify_cycles, r.verify_cycles);
    EXPECT_EQ(st.backtrack_cycles, r.backtrack_cycles);
    EXPECT_EQ(st.draft_passes.size(), t.widths.size());
  }
}

TEST(PipelineTrace, NullInnerKeepsTotalsAndLastStepCutCounts) {
  const Models m;
  PipelineTraceSink pipe(nullptr, m.target, m.draft, PipelineTraceOptions::defaults("u280"));
  for (const auto& e : step_of_221(0, 0, 3)) pipe.on_event(e);
  pipe.add_metadata("last_step_cut", "2");
  pipe.flush();
  const auto t = pipe.totals();
  EXPECT_EQ(t.steps, 1);
  EXPECT_EQ(t.tokens, 4 - 2);
  EXPECT_GT(t.seconds, 0.0);
  EXPECT_GT(t.device_ops, 0);
  EXPECT_NE(pipe.describe().find("u280"), std::string::npos);
}

TEST(PipelineTrace, StepWithoutNodeEventsIsAChainOrTheGivenTree) {
  const Models m;
  sm::StepSummary s;
  s.tree_nodes = 4;
  s.accepted = 1;
  s.emitted = 2;
  PipelineTraceOptions opt = PipelineTraceOptions::defaults();
  const PipelineTraceSink chain(nullptr, m.target, m.draft, opt);
  int64_t cycles = 0;
  const auto ev_chain = chain.step_events(s, 0, 5.0, {}, 0.0, &cycles);
  EXPECT_EQ(cycles, simulate_spec_step(m.target, m.draft, opt.design, opt.platform, TreeShape::parse("1,1,1"), 2,
                                       opt.order, opt.backtrack)
                        .cycles());
  for (const auto& e : ev_chain) EXPECT_EQ(e.t_us, 5.0);
  opt.tree = TreeShape::parse("2,2");
  const PipelineTraceSink given(nullptr, m.target, m.draft, opt);
  given.step_events(s, 0, 0.0, {}, 0.0, &cycles);
  EXPECT_EQ(cycles, simulate_spec_step(m.target, m.draft, opt.design, opt.platform, TreeShape::parse("2,2"), 2,
                                       opt.order, opt.backtrack)
                        .cycles());
  // Levels from the events win over the given tree.
  given.step_events(s, 0, 0.0, {1, 1, 1, 1}, 0.0, &cycles);
  EXPECT_EQ(cycles, simulate_spec_step(m.target, m.draft, opt.design, opt.platform, TreeShape::parse("1,1,1"), 2,
                                       opt.order, opt.backtrack)
                        .cycles());
}

TEST(PipelineTrace, DesignThatDoesNotSuitTheModelsIsRefused) {
  const Models m;
  PipelineTraceOptions opt = PipelineTraceOptions::defaults();
  opt.design.tile_cols = 256;  // wider than the target's d_model (192)
  std::string msg;
  try {
    PipelineTraceSink bad(nullptr, m.target, m.draft, opt);
  } catch (const sm::Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("design"), std::string::npos) << msg;
}

}  // namespace
