// SPDX-License-Identifier: Apache-2.0
#pragma once
// Simulated accelerator time in the trace (docs/accelerator-model.md,
// "Pipeline events in traces"): an EventSink decorator that forwards every
// event to the sink it wraps and, on each speculative step's StepSummary,
// runs the dataflow model for that step (the draft's passes over the step's
// tree levels, then the target's verification of every node and the
// backtracking) and emits one DeviceOp per pipeline op before the summary,
// whose sim_us it fills in. It keeps the run's simulated totals, so a caller
// can report simulated tokens per second beside the wall-clock figure.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "accel/dataflow/model.h"
#include "accel/dataflow/platform.h"
#include "core/io/model_config.h"
#include "core/trace/spec_events.h"

namespace sm::accel {

// The platform `specmamba simulate` models when given none.
inline constexpr const char* kDefaultSimPlatform = "vck190";

// The design `specmamba simulate` models by default on `p`: LightMamba's
// published one (w4a4, 8x8 LUT tile, SSM 8x8) at the platform's default clock.
Design default_design(const Platform& p);

struct PipelineTraceOptions {
  Platform platform;
  Design design;
  VerifyOrder order = VerifyOrder::Fifo;
  Backtrack backtrack = Backtrack::Hybrid;
  // The tree when a step's NodeDrafted events are missing (no widths: a
  // chain of StepSummary::tree_nodes - 1).
  TreeShape tree;
  // Platform::load(platform) (a name or a .json path) with default_design().
  static PipelineTraceOptions defaults(const std::string& platform = kDefaultSimPlatform);
};

class PipelineTraceSink : public EventSink {
 public:
  // `inner` (not owned) receives every event; null = nothing is forwarded
  // (only the totals are kept). Checks the design against both models
  // (sm::Error "design: ..."). Adds the metadata sim_device, sim_platform,
  // sim_clock_mhz and sim_design to `inner` at once, sim_seconds and
  // sim_tokens_per_second at every flush().
  PipelineTraceSink(EventSink* inner, const ModelConfig& target, const ModelConfig& draft,
                    PipelineTraceOptions opt);

  void on_event(const Event& e) override;
  void flush() override;
  void add_metadata(const std::string& key, const std::string& value) override;

  struct Totals {
    int64_t steps = 0;       // steps simulated
    int64_t tokens = 0;      // tokens they emitted (less the last step's cut, once known)
    int64_t cycles = 0;      // simulated device cycles
    double seconds = 0;      // the same in seconds at the design's clock
    int64_t device_ops = 0;  // DeviceOp events emitted
    double tokens_per_second() const { return seconds > 0 ? static_cast<double>(tokens) / seconds : 0.0; }
  };
  Totals totals() const;
  const PipelineTraceOptions& options() const { return opt_; }
  // "vck190, design 8x8 x1, SSM 8x8, 400 MHz, dataflow model": the sim_device metadata value.
  std::string describe() const;

  // The device timeline of one step: what on_event emits for a StepSummary
  // `s` whose tree had `level_sizes` nodes per depth ([1, n1, n2, ...];
  // empty: from options().tree or a chain). Events carry the step's wall time
  // `t_us`; their simulated times start at `step_sim_start_us`.
  std::vector<Event> step_events(const StepSummary& s, int32_t event_step, double t_us,
                                 const std::vector<int64_t>& level_sizes, double step_sim_start_us,
                                 int64_t* step_cycles = nullptr) const;

 private:
  EventSink* inner_;
  ModelConfig target_, draft_;
  PipelineTraceOptions opt_;
  mutable std::mutex mu_;
  std::map<int32_t, std::vector<int64_t>> levels_;  // step -> drafted nodes per depth (index 0 = root)
  Totals totals_;
  int64_t cut_ = 0;  // last_step_cut metadata
};

}  // namespace sm::accel
