// SPDX-License-Identifier: Apache-2.0
// The dataflow model's pipeline schedule as DeviceOp trace events, step by step.
#include "accel/dataflow/pipeline_trace.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "core/io/error.h"

namespace sm::accel {

Design default_design(const Platform& p) {
  Design d = Design::lightmamba();
  d.clock_mhz = p.default_mhz;
  return d;
}

PipelineTraceOptions PipelineTraceOptions::defaults(const std::string& platform) {
  PipelineTraceOptions o;
  o.platform = Platform::load(platform);
  o.design = default_design(o.platform);
  return o;
}

namespace {

// The design as checked for one model: the reordering granularity cannot
// exceed the model's heads (simulate_step clamps it the same way).
void validate_for_model(Design d, const ModelConfig& m, const Platform& p) {
  if (m.arch == Arch::Mamba2 && m.n_heads > 0) d.head_groups = std::min(d.head_groups, m.n_heads);
  d.validate_for(m, p);
}

// A tree of the given nodes per depth as widths: exact when every level is a
// whole multiple of the one above (trees given by widths), else rounded up.
TreeShape tree_of_levels(const std::vector<int64_t>& levels) {
  TreeShape t;
  for (size_t i = 0; i + 1 < levels.size(); ++i) {
    const int64_t above = std::max<int64_t>(1, levels[i]);
    t.widths.push_back(static_cast<int>(std::max<int64_t>(1, (levels[i + 1] + above - 1) / above)));
  }
  return t;
}

std::string num_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

PipelineTraceSink::PipelineTraceSink(EventSink* inner, const ModelConfig& target, const ModelConfig& draft,
                                     PipelineTraceOptions opt)
    : inner_(inner), target_(target), draft_(draft), opt_(std::move(opt)) {
  validate_for_model(opt_.design, target_, opt_.platform);
  validate_for_model(opt_.design, draft_, opt_.platform);
  if (inner_) {
    inner_->add_metadata("sim_device", describe());
    inner_->add_metadata("sim_platform", opt_.platform.name);
    inner_->add_metadata("sim_clock_mhz", num_text(opt_.design.clock_mhz));
    inner_->add_metadata("sim_design", opt_.design.to_json().dump());
  }
}

std::string PipelineTraceSink::describe() const {
  const Design& d = opt_.design;
  std::ostringstream s;
  s << opt_.platform.name << ", design " << d.tile_rows << "x" << d.tile_cols << " x" << d.linear_units
    << ", SSM " << d.ssm_par << "x" << d.ssm_state_unroll << ", " << d.clock_mhz << " MHz, dataflow model";
  return s.str();
}

std::vector<Event> PipelineTraceSink::step_events(const StepSummary& s, int32_t event_step, double t_us,
                                                  const std::vector<int64_t>& level_sizes,
                                                  double step_sim_start_us, int64_t* step_cycles) const {
  TreeShape tree;
  if (level_sizes.size() > 1) {
    tree = tree_of_levels(level_sizes);
  } else if (!opt_.tree.widths.empty()) {
    tree = opt_.tree;
  } else {
    tree.widths.assign(static_cast<size_t>(std::max(1, s.tree_nodes - 1)), 1);  // a chain
  }
  const int64_t accepted_nodes = 1 + std::max(0, s.accepted);
  const SpecStep st =
      simulate_spec_step(target_, draft_, opt_.design, opt_.platform, tree, accepted_nodes, opt_.order, opt_.backtrack);
  const double mhz = opt_.design.clock_mhz;  // cycles per simulated microsecond
  std::vector<Event> out;
  auto add = [&](const std::vector<PipeEvent>& evs, int64_t offset, ModelRole role) {
    for (const PipeEvent& p : evs) {
      Event e;
      e.t_us = t_us;
      e.step = event_step;
      e.payload = DeviceOp{p.lane, p.unit, p.layer, role, step_sim_start_us,
                           static_cast<double>(offset + p.start) / mhz,
                           static_cast<double>(offset + p.end) / mhz, static_cast<double>(p.active) / mhz};
      out.push_back(std::move(e));
    }
  };
  int64_t offset = 0;
  for (const StepResult& pass : st.draft_passes) {
    add(pass.events, offset, ModelRole::Draft);
    offset += pass.cycles;
  }
  add(st.verify.events, offset, ModelRole::Target);
  if (step_cycles) *step_cycles = st.cycles();
  return out;
}

void PipelineTraceSink::on_event(const Event& e) {
  std::lock_guard lk(mu_);
  if (const auto* nd = std::get_if<NodeDrafted>(&e.payload)) {
    if (nd->depth >= 1 && nd->depth <= 4096) {
      auto& lv = levels_[e.step];
      if (lv.size() <= static_cast<size_t>(nd->depth)) lv.resize(static_cast<size_t>(nd->depth) + 1, 0);
      lv[0] = 1;  // the root
      ++lv[static_cast<size_t>(nd->depth)];
    }
  } else if (const auto* s = std::get_if<StepSummary>(&e.payload)) {
    std::vector<int64_t> levels;
    if (auto it = levels_.find(e.step); it != levels_.end()) levels = std::move(it->second);
    levels_.erase(levels_.begin(), levels_.upper_bound(e.step));  // this step and any left over before it
    // A level without nodes ends the tree (depths are contiguous from 1).
    if (auto z = std::find(levels.begin(), levels.end(), int64_t{0}); z != levels.end()) levels.erase(z, levels.end());
    const double start_us = static_cast<double>(totals_.cycles) / opt_.design.clock_mhz;
    int64_t cycles = 0;
    const std::vector<Event> ops = step_events(*s, e.step, e.t_us, levels, start_us, &cycles);
    if (inner_)
      for (const Event& op : ops) inner_->on_event(op);
    totals_.steps += 1;
    totals_.tokens += std::max(0, s->emitted);
    totals_.cycles += cycles;
    totals_.seconds = static_cast<double>(totals_.cycles) / (opt_.design.clock_mhz * 1e6);
    totals_.device_ops += static_cast<int64_t>(ops.size());
    if (inner_) {
      Event amended = e;
      std::get<StepSummary>(amended.payload).sim_us = static_cast<double>(cycles) / opt_.design.clock_mhz;
      inner_->on_event(amended);
    }
    return;
  }
  if (inner_) inner_->on_event(e);
}

void PipelineTraceSink::flush() {
  std::lock_guard lk(mu_);
  if (!inner_) return;
  Totals t = totals_;
  t.tokens = std::max<int64_t>(0, t.tokens - cut_);
  inner_->add_metadata("sim_seconds", num_text(t.seconds));
  inner_->add_metadata("sim_tokens_per_second", num_text(t.tokens_per_second()));
  inner_->flush();
}

void PipelineTraceSink::add_metadata(const std::string& key, const std::string& value) {
  std::lock_guard lk(mu_);
  if (key == "last_step_cut") {
    try {
      cut_ = std::max<int64_t>(0, std::stoll(value));
    } catch (const std::exception&) {
      cut_ = 0;
    }
  }
  if (inner_) inner_->add_metadata(key, value);
}

PipelineTraceSink::Totals PipelineTraceSink::totals() const {
  std::lock_guard lk(mu_);
  Totals t = totals_;
  t.tokens = std::max<int64_t>(0, t.tokens - cut_);
  return t;
}

}  // namespace sm::accel
