// SPDX-License-Identifier: Apache-2.0
#pragma once
// The accelerator pipeline of one speculative step without widgets: the ops
// on the lanes DMA / linear / conv / SSM / verify / backtrack as bars (from
// the step's simulated start), for a range of layers, predicted by the
// dataflow model and, when a board ran, measured — and the figures the
// pipeline view prints: per-lane busy share, overlap between lanes, stall
// time, makespan and the measured - predicted deltas.
//
// Where the bars come from (PipelineOrigin):
//  - DeviceTrace: the run's DeviceOp events (a `--device emu|xrt` run; the
//    xrt backend adds measured ops, DeviceOp::measured).
//  - DataflowModel: a CPU run has no DeviceOp events, so the model runs the
//    same schedule the device run would have recorded
//    (accel::PipelineTraceSink::step_events over the run's target and draft
//    shapes, tree, verify order and backtracking, on vck190 with LightMamba's
//    design), step by step on demand. Nothing is measured then.
//  - None: no speculative steps, or the models' config.json cannot be read
//    (a trace opened without its models); emptyReason() says which.
//
// Steps are indices into RunRecord::steps, as in every view.
// core first: Qt's keyword macros must not reach it.
#include "core/trace/spec_events.h"

#include <QString>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace sm::accel {
class PipelineTraceSink;
}

namespace sm::ui {

struct RunRecord;

enum class PipeLane : int { Dma, Linear, Conv, Ssm, Verify, Backtrack };
inline constexpr int kPipeLanes = 6;
// "DMA", "linear", "conv", "SSM", "verify", "backtrack".
QString pipe_lane_name(PipeLane lane);
// From DeviceOp::lane ("dma", "linear", ...); nullopt for an unknown lane.
std::optional<PipeLane> parse_pipe_lane(std::string_view lane);

enum class PipeSource : uint8_t { Predicted, Measured };
inline constexpr int kPipeSources = 2;
enum class PipeTimeUnit : uint8_t { Microseconds, Cycles };
enum class PipelineOrigin : uint8_t { None, DeviceTrace, DataflowModel };

// One op of the selected step, in simulated (or measured) microseconds from
// the step's start.
struct PipeBar {
  PipeLane lane = PipeLane::Linear;
  QString unit;            // in_proj, ssm, lm_head, ...
  int layer = -1;          // -1: not per layer (final norm, lm_head, verify)
  ModelRole model = ModelRole::Target;
  PipeSource source = PipeSource::Predicted;
  double start_us = 0, end_us = 0;
  double active_us = 0;    // the lane works this long within [start, end)
  int match = -1;          // index in bars() of the same op from the other source; -1: none
  double span_us() const { return end_us - start_us; }
};

struct LaneFigures {
  int ops = 0;
  double busy_us = 0;      // union of the lane's spans
  double active_us = 0;    // sum of active time
  double busy_share = 0;   // busy_us / makespan, in [0, 1]
  // Stall: the lane idle while it waits for its input. Inside an op, the
  // span beyond its active time (a linear op waiting for its weights from
  // DMA; on the DMA lane, a transfer held by a slower compute op); between
  // ops, the gaps from the lane's first start to its last end (waiting for
  // an upstream lane's result).
  double wait_us = 0;
  double gap_us = 0;
  double stall_us() const { return wait_us + gap_us; }
};

struct PipeFigures {
  bool present = false;    // any bar of this source in the selection
  double start_us = 0, end_us = 0;  // first start, last end
  double makespan_us = 0;  // end_us - start_us
  double serial_us = 0;    // sum of every non-DMA op's span (no overlap at all)
  std::array<LaneFigures, kPipeLanes> lanes{};
  // overlap[a][b]: time lanes a and b are both busy (intersection of their
  // busy unions; as accel::lane_overlap for the simulator's events).
  std::array<std::array<double, kPipeLanes>, kPipeLanes> overlap{};
  double overlapUs(PipeLane a, PipeLane b) const { return overlap[size_t(a)][size_t(b)]; }
  // serial - makespan: what running lanes side by side saved.
  double overlap_saving_us() const { return serial_us - makespan_us; }
};

// Measured - predicted, where both exist for the selection.
struct PipeDeltas {
  bool present = false;
  double makespan_us = 0;
  double makespan_ratio = 0;  // measured / predicted
  std::array<double, kPipeLanes> busy_us{};
  int matched = 0;            // ops found in both
  int unmatched = 0;          // ops in one source only
  double mean_abs_end_us = 0; // mean |measured end - predicted end| over matched ops
};

// Union and intersection arithmetic on the bars, exposed for tests and the CSV.
double union_length(std::vector<std::pair<double, double>> spans);
double intersection_length(std::vector<std::pair<double, double>> a, std::vector<std::pair<double, double>> b);
PipeFigures compute_pipe_figures(const std::vector<PipeBar>& bars, PipeSource source);
PipeDeltas compute_pipe_deltas(const std::vector<PipeBar>& bars, const PipeFigures& predicted,
                               const PipeFigures& measured);
// Pairs predicted and measured bars of the same op (lane, unit, layer, model
// and occurrence) by setting PipeBar::match on both.
void match_pipe_bars(std::vector<PipeBar>& bars);

class PipelineModel {
 public:
  PipelineModel();
  ~PipelineModel();
  PipelineModel(const PipelineModel&) = delete;
  PipelineModel& operator=(const PipelineModel&) = delete;

  // Indexes the run's DeviceOp events (one pass, no schedule computed yet)
  // and selects step 0 (or none) with every layer.
  void setRun(std::shared_ptr<const RunRecord> run);
  const RunRecord* run() const { return run_.get(); }
  PipelineOrigin origin() const { return origin_; }
  bool empty() const { return origin_ == PipelineOrigin::None; }
  // Why there is nothing to show (origin() == None), else empty.
  QString emptyReason() const { return empty_reason_; }
  // "vck190, design 8x8 x1, SSM 8x8, 400 MHz, dataflow model" (sim_device) or what was modelled.
  QString deviceText() const { return device_; }
  bool hasMeasured() const { return has_measured_; }  // some step carries measured ops
  int stepCount() const;
  double clockMhz() const { return clock_mhz_; }

  // -1 or out of range: none (no bars).
  void setStep(int step);
  int step() const { return step_; }
  // Layers [lo, hi], clamped to [0, layerCount() - 1]. Ops of no layer
  // (final norm, lm_head, verify) belong to the selection only when it spans
  // every layer.
  void setLayerRange(int lo, int hi);
  int layerLow() const { return layer_lo_; }
  int layerHigh() const { return layer_hi_; }
  int layerCount() const { return layers_; }
  bool allLayers() const { return layer_lo_ == 0 && layer_hi_ == layers_ - 1; }

  // The selected step's bars in the layer range, predicted then measured,
  // each sorted by lane and start; matched pairs linked.
  const std::vector<PipeBar>& bars() const { return bars_; }
  const PipeFigures& figures(PipeSource s) const { return figures_[size_t(s)]; }
  const PipeDeltas& deltas() const { return deltas_; }
  // Every op of the selected step before the layer filter (for the extent of the axis).
  double stepEndUs() const { return step_end_us_; }

  // Time conversion at the run's clock (sim_clock_mhz): 1 us = clockMhz() cycles.
  double toUnit(double us, PipeTimeUnit unit) const { return unit == PipeTimeUnit::Cycles ? us * clock_mhz_ : us; }
  double fromUnit(double v, PipeTimeUnit unit) const { return unit == PipeTimeUnit::Cycles ? v / clock_mhz_ : v; }
  // "1234 cycles" / "3.09 µs".
  QString timeText(double us, PipeTimeUnit unit) const;

  // The bar of `lane` under time `t_us`, preferring `source`; -1: none.
  int barAt(PipeLane lane, double t_us, PipeSource prefer = PipeSource::Predicted) const;

 private:
  void rebuild();  // bars_, figures_ and deltas_ for step_ and the layer range
  std::vector<PipeBar> stepBars(int step) const;  // every op of a step, unfiltered

  std::shared_ptr<const RunRecord> run_;
  PipelineOrigin origin_ = PipelineOrigin::None;
  QString empty_reason_, device_;
  bool has_measured_ = false;
  double clock_mhz_ = 400;
  std::vector<std::vector<uint32_t>> step_ops_;  // per step index: indices of its DeviceOp events
  std::unique_ptr<accel::PipelineTraceSink> sim_;  // DataflowModel origin only
  mutable std::map<int, std::vector<PipeBar>> sim_cache_;
  int step_ = -1;
  int layers_ = 0, layer_lo_ = 0, layer_hi_ = -1;
  double step_end_us_ = 0;
  std::vector<PipeBar> bars_;
  std::array<PipeFigures, kPipeSources> figures_{};
  PipeDeltas deltas_;
};

}  // namespace sm::ui
