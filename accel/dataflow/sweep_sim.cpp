// SPDX-License-Identifier: Apache-2.0
#include "accel/dataflow/sweep_sim.h"

#include <algorithm>
#include <map>

#include "accel/dataflow/model.h"
#include "accel/dataflow/pipeline_trace.h"
#include "accel/dataflow/platform.h"
#include "core/io/error.h"

namespace sm::accel {

namespace {

// Nodes per depth as widths (rounded up where a level is not a whole multiple
// of the one above, as PipelineTraceSink does for path-list trees).
TreeShape widths_of(const std::vector<int64_t>& levels) {
  TreeShape t;
  for (size_t i = 0; i + 1 < levels.size(); ++i) {
    const int64_t above = std::max<int64_t>(1, levels[i]);
    t.widths.push_back(static_cast<int>(std::max<int64_t>(1, (levels[i + 1] + above - 1) / above)));
  }
  return t;
}

}  // namespace

void check_sweep_platforms(const sweep::SweepSpec& spec) {
  for (size_t i = 0; i < spec.platform.size(); ++i) {
    try {
      (void)Platform::load(spec.platform[i]);
    } catch (const Error& e) {
      fail("axes.platform[" + std::to_string(i) + "] '" + spec.platform[i] + "'", e.what());
    }
  }
}

sweep::SimResult simulate_sweep_run(const sweep::SimRequest& req) {
  if (!req.config) fail("simulation", "no configuration");
  const Platform p = Platform::load(req.config->platform);
  Design d = default_design(p);
  d.apply_quant(req.quant);
  // The reordering granularity cannot exceed the model's heads (as the pipeline trace clamps it).
  for (const ModelConfig* m : {&req.target, &req.draft})
    if (m->arch == Arch::Mamba2 && m->n_heads > 0) d.head_groups = std::min(d.head_groups, m->n_heads);
  d.validate();
  d.validate_for(req.target, p);
  d.validate_for(req.draft, p);
  const TreeShape tree = widths_of(req.tree_levels);
  const VerifyOrder order = parse_verify_order(req.config->verify);
  const Backtrack bt = parse_backtrack(req.config->backtrack);

  std::map<int64_t, SpecStep> by_accepted;  // a step's cost depends only on its accepted length
  int64_t cycles = 0, bytes = 0;
  for (int64_t a : req.accepted_per_step) {
    auto it = by_accepted.find(a);
    if (it == by_accepted.end())
      it = by_accepted.emplace(a, simulate_spec_step(req.target, req.draft, d, p, tree, a, order, bt)).first;
    cycles += it->second.cycles();
    bytes += it->second.offchip_bytes();
  }
  sweep::SimResult r;
  // Resources as simulate_speculative counts them: the target's design, the draft's state buffer if larger.
  Resources res = estimate_resources(req.target, d);
  res.bram = std::max(res.bram, estimate_resources(req.draft, d).bram);
  r.dsp = res.dsp, r.lut = res.lut, r.bram = res.bram, r.uram = res.uram;
  try {
    check_fit(res, p);
    r.fits = 1;
  } catch (const Error& e) {
    r.fits = 0;
    r.fit_note = e.what();
  }
  const double seconds = cycles / (d.clock_mhz * 1e6);
  if (seconds > 0 && req.tokens > 0) {
    r.tokens_per_second = static_cast<double>(req.tokens) / seconds;
    const PowerResult pw = estimate_power(res, d, p, bytes / seconds);
    r.energy_per_token_mj = pw.total() * seconds / static_cast<double>(req.tokens) * 1e3;
  }
  return r;
}

sweep::SimulateFn sweep_simulator() { return [](const sweep::SimRequest& r) { return simulate_sweep_run(r); }; }

}  // namespace sm::accel
