// SPDX-License-Identifier: Apache-2.0
// core/accel headers first: Qt's `emit` / `signals` macros must not reach them.
#include "accel/dataflow/pipeline_trace.h"
#include "ui/models/pipeline_model.h"
#include "ui/models/run_record.h"

#include <QStringList>

#include <algorithm>
#include <cmath>
#include <exception>
#include <tuple>

namespace sm::ui {

namespace {

constexpr std::array<std::string_view, kPipeLanes> kLaneKeys = {"dma", "linear", "conv", "ssm", "verify", "backtrack"};

using Spans = std::vector<std::pair<double, double>>;

// Sorted, disjoint union of spans.
Spans merged(Spans s) {
  std::sort(s.begin(), s.end());
  Spans out;
  for (const auto& [a, b] : s) {
    if (b <= a) continue;
    if (!out.empty() && a <= out.back().second)
      out.back().second = std::max(out.back().second, b);
    else
      out.push_back({a, b});
  }
  return out;
}

double length_of(const Spans& disjoint) {
  double t = 0;
  for (const auto& [a, b] : disjoint) t += b - a;
  return t;
}

double intersect_disjoint(const Spans& A, const Spans& B) {
  double total = 0;
  size_t i = 0, j = 0;
  while (i < A.size() && j < B.size()) {
    const double lo = std::max(A[i].first, B[j].first), hi = std::min(A[i].second, B[j].second);
    if (hi > lo) total += hi - lo;
    (A[i].second < B[j].second) ? ++i : ++j;
  }
  return total;
}

// The tree's nodes per depth ([1, n1, n2, ...]) as the pipeline sink counts them.
std::vector<int64_t> level_sizes(const StepRecord& s) {
  std::vector<int64_t> lv;
  for (const NodeRecord& n : s.nodes) {
    if (n.depth < 0) continue;
    if (lv.size() <= size_t(n.depth)) lv.resize(size_t(n.depth) + 1, 0);
    ++lv[size_t(n.depth)];
  }
  if (!lv.empty()) lv[0] = 1;
  if (auto z = std::find(lv.begin(), lv.end(), int64_t{0}); z != lv.end()) lv.erase(z, lv.end());
  return lv;
}

PipeBar bar_of(const DeviceOp& op, PipeLane lane) {
  PipeBar b;
  b.lane = lane;
  b.unit = QString::fromStdString(op.unit);
  b.layer = op.layer;
  b.model = op.model;
  b.source = op.measured ? PipeSource::Measured : PipeSource::Predicted;
  b.start_us = op.sim_start_us;
  b.end_us = std::max(op.sim_start_us, op.sim_end_us);
  b.active_us = std::clamp(op.active_us, 0.0, b.end_us - b.start_us);
  return b;
}

bool bar_order(const PipeBar& a, const PipeBar& b) {
  return std::tie(a.source, a.lane, a.start_us, a.end_us) < std::tie(b.source, b.lane, b.start_us, b.end_us);
}

}  // namespace

QString pipe_lane_name(PipeLane lane) {
  switch (lane) {
    case PipeLane::Dma: return QStringLiteral("DMA");
    case PipeLane::Linear: return QStringLiteral("linear");
    case PipeLane::Conv: return QStringLiteral("conv");
    case PipeLane::Ssm: return QStringLiteral("SSM");
    case PipeLane::Verify: return QStringLiteral("verify");
    case PipeLane::Backtrack: return QStringLiteral("backtrack");
  }
  return {};
}

std::optional<PipeLane> parse_pipe_lane(std::string_view lane) {
  for (int i = 0; i < kPipeLanes; ++i)
    if (kLaneKeys[size_t(i)] == lane) return PipeLane(i);
  return std::nullopt;
}

double union_length(Spans spans) { return length_of(merged(std::move(spans))); }

double intersection_length(Spans a, Spans b) { return intersect_disjoint(merged(std::move(a)), merged(std::move(b))); }

PipeFigures compute_pipe_figures(const std::vector<PipeBar>& bars, PipeSource source) {
  PipeFigures f;
  std::array<Spans, kPipeLanes> spans;
  for (const PipeBar& b : bars) {
    if (b.source != source) continue;
    if (!f.present) f.start_us = b.start_us, f.end_us = b.end_us;
    f.present = true;
    f.start_us = std::min(f.start_us, b.start_us);
    f.end_us = std::max(f.end_us, b.end_us);
    if (b.lane != PipeLane::Dma) f.serial_us += b.span_us();
    LaneFigures& l = f.lanes[size_t(b.lane)];
    l.ops += 1;
    l.active_us += b.active_us;
    l.wait_us += b.span_us() - b.active_us;
    spans[size_t(b.lane)].push_back({b.start_us, b.end_us});
  }
  f.makespan_us = f.end_us - f.start_us;
  std::array<Spans, kPipeLanes> unions;
  for (int i = 0; i < kPipeLanes; ++i) {
    unions[size_t(i)] = merged(std::move(spans[size_t(i)]));
    LaneFigures& l = f.lanes[size_t(i)];
    l.busy_us = length_of(unions[size_t(i)]);
    l.busy_share = f.makespan_us > 0 ? l.busy_us / f.makespan_us : 0;
    if (!unions[size_t(i)].empty())
      l.gap_us = (unions[size_t(i)].back().second - unions[size_t(i)].front().first) - l.busy_us;
  }
  for (int a = 0; a < kPipeLanes; ++a)
    for (int b = a; b < kPipeLanes; ++b) {
      const double v = a == b ? f.lanes[size_t(a)].busy_us : intersect_disjoint(unions[size_t(a)], unions[size_t(b)]);
      f.overlap[size_t(a)][size_t(b)] = f.overlap[size_t(b)][size_t(a)] = v;
    }
  return f;
}

void match_pipe_bars(std::vector<PipeBar>& bars) {
  // Key: lane, unit, layer, model; the k-th predicted op of a key pairs with
  // the k-th measured one (in time order), as a board runs the same schedule.
  using Key = std::tuple<int, QString, int, int>;
  std::map<Key, std::array<std::vector<int>, kPipeSources>> groups;
  for (int i = 0; i < int(bars.size()); ++i) {
    bars[size_t(i)].match = -1;
    const PipeBar& b = bars[size_t(i)];
    groups[{int(b.lane), b.unit, b.layer, int(b.model)}][size_t(b.source)].push_back(i);
  }
  for (auto& [key, g] : groups) {
    for (auto& v : g)
      std::stable_sort(v.begin(), v.end(), [&](int x, int y) { return bars[size_t(x)].start_us < bars[size_t(y)].start_us; });
    const size_t n = std::min(g[0].size(), g[1].size());
    for (size_t k = 0; k < n; ++k) {
      bars[size_t(g[0][k])].match = g[1][k];
      bars[size_t(g[1][k])].match = g[0][k];
    }
  }
}

PipeDeltas compute_pipe_deltas(const std::vector<PipeBar>& bars, const PipeFigures& predicted,
                               const PipeFigures& measured) {
  PipeDeltas d;
  if (!predicted.present || !measured.present) return d;
  d.present = true;
  d.makespan_us = measured.makespan_us - predicted.makespan_us;
  d.makespan_ratio = predicted.makespan_us > 0 ? measured.makespan_us / predicted.makespan_us : 0;
  for (int i = 0; i < kPipeLanes; ++i) d.busy_us[size_t(i)] = measured.lanes[size_t(i)].busy_us - predicted.lanes[size_t(i)].busy_us;
  double sum = 0;
  for (const PipeBar& b : bars) {
    if (b.match < 0) {
      ++d.unmatched;
      continue;
    }
    if (b.source != PipeSource::Measured) continue;
    ++d.matched;
    sum += std::abs(b.end_us - bars[size_t(b.match)].end_us);
  }
  d.mean_abs_end_us = d.matched > 0 ? sum / d.matched : 0;
  return d;
}

PipelineModel::PipelineModel() = default;
PipelineModel::~PipelineModel() = default;

int PipelineModel::stepCount() const { return run_ ? int(run_->steps.size()) : 0; }

void PipelineModel::setRun(std::shared_ptr<const RunRecord> run) {
  run_ = std::move(run);
  origin_ = PipelineOrigin::None;
  empty_reason_.clear();
  device_.clear();
  has_measured_ = false;
  clock_mhz_ = 400;
  step_ops_.clear();
  sim_.reset();
  sim_cache_.clear();
  layers_ = 0;
  step_ = -1;

  if (!run_) {
    empty_reason_ = QStringLiteral("No run yet: generate with a draft and a tree (--device emu for the device's "
                                   "timeline), or File > Open Trace");
  } else if (!run_->settings.speculative() || run_->steps.empty()) {
    empty_reason_ = run_->settings.speculative()
                        ? QStringLiteral("\"%1\" has no speculative steps yet.").arg(run_->name)
                        : QStringLiteral("The pipeline view needs a speculative run: \"%1\" is target-only.")
                              .arg(run_->name);
  } else {
    // One pass over the stream: each DeviceOp joins its step (steps are
    // sorted by number; ops arrive grouped by step, so the last hit is cached).
    const auto& steps = run_->steps;
    step_ops_.assign(steps.size(), {});
    size_t ops = 0;
    int last = -1;
    for (size_t i = 0; i < run_->events.size(); ++i) {
      const Event& e = run_->events[i];
      const auto* op = std::get_if<DeviceOp>(&e.payload);
      if (!op) continue;
      if (last < 0 || steps[size_t(last)].step != e.step) {
        auto it = std::lower_bound(steps.begin(), steps.end(), e.step,
                                   [](const StepRecord& s, int32_t n) { return s.step < n; });
        last = it != steps.end() && it->step == e.step ? int(it - steps.begin()) : -1;
        if (last < 0) continue;  // a step cut off after the last token
      }
      step_ops_[size_t(last)].push_back(uint32_t(i));
      has_measured_ = has_measured_ || op->measured;
      if (op->layer + 1 > layers_) layers_ = op->layer + 1;
      ++ops;
    }
    if (ops > 0) {
      origin_ = PipelineOrigin::DeviceTrace;
      device_ = metadata_value(run_->metadata, "sim_device", QStringLiteral("device trace"));
      bool ok = false;
      const double mhz = metadata_value(run_->metadata, "sim_clock_mhz").toDouble(&ok);
      if (ok && mhz > 0) clock_mhz_ = mhz;
    } else {
      step_ops_.clear();
      // A CPU run: the schedule the device run would have recorded.
      try {
        const ModelConfig target = accel::model_shape(run_->settings.target.toStdString());
        const ModelConfig draft = accel::model_shape(run_->settings.draft.toStdString());
        accel::PipelineTraceOptions o = accel::PipelineTraceOptions::defaults();
        try {
          o.order = accel::parse_verify_order(run_->settings.verify.toStdString());
          o.backtrack = accel::parse_backtrack(run_->settings.backtrack.toStdString());
        } catch (const std::exception&) {
          // An older trace without these settings: the sink's defaults (fifo, hybrid).
        }
        sim_ = std::make_unique<accel::PipelineTraceSink>(nullptr, target, draft, o);
        origin_ = PipelineOrigin::DataflowModel;
        clock_mhz_ = o.design.clock_mhz;
        device_ = QString::fromStdString(sim_->describe());
        layers_ = std::max(target.n_layer, draft.n_layer);
      } catch (const std::exception& ex) {
        empty_reason_ = QStringLiteral("No device run: \"%1\" ran on the CPU and its models' shapes cannot be read "
                                       "for the dataflow model (%2). Generate with --device emu.")
                            .arg(run_->name, QString::fromStdString(ex.what()));
      }
    }
  }
  layer_lo_ = 0;
  layer_hi_ = layers_ - 1;
  step_ = empty() ? -1 : 0;
  rebuild();
}

void PipelineModel::setStep(int step) {
  step_ = (empty() || step < 0 || step >= stepCount()) ? -1 : step;
  rebuild();
}

void PipelineModel::setLayerRange(int lo, int hi) {
  if (layers_ <= 0) return;
  lo = std::clamp(lo, 0, layers_ - 1);
  hi = std::clamp(hi, 0, layers_ - 1);
  if (hi < lo) std::swap(lo, hi);
  layer_lo_ = lo;
  layer_hi_ = hi;
  rebuild();
}

std::vector<PipeBar> PipelineModel::stepBars(int step) const {
  if (step < 0 || step >= stepCount()) return {};
  if (origin_ == PipelineOrigin::DeviceTrace) {
    std::vector<PipeBar> out;
    out.reserve(step_ops_[size_t(step)].size());
    for (uint32_t i : step_ops_[size_t(step)]) {
      const DeviceOp& op = std::get<DeviceOp>(run_->events[i].payload);
      if (auto lane = parse_pipe_lane(op.lane)) out.push_back(bar_of(op, *lane));
    }
    return out;
  }
  if (origin_ != PipelineOrigin::DataflowModel) return {};
  if (auto it = sim_cache_.find(step); it != sim_cache_.end()) return it->second;
  const StepRecord& s = run_->steps[size_t(step)];
  StepSummary summary;
  summary.step = s.step;
  summary.tree_nodes = int32_t(s.nodes.size());
  summary.accepted = s.accepted;
  std::vector<PipeBar> out;
  for (const Event& e : sim_->step_events(summary, s.step, s.t_us, level_sizes(s), 0.0))
    if (const auto* op = std::get_if<DeviceOp>(&e.payload))
      if (auto lane = parse_pipe_lane(op->lane)) out.push_back(bar_of(*op, *lane));
  if (sim_cache_.size() > 64) sim_cache_.clear();  // browsing a long run: keep memory bounded
  sim_cache_[step] = out;
  return out;
}

void PipelineModel::rebuild() {
  bars_.clear();
  step_end_us_ = 0;
  std::vector<PipeBar> all = stepBars(step_);
  for (const PipeBar& b : all) step_end_us_ = std::max(step_end_us_, b.end_us);
  const bool every = allLayers();
  for (PipeBar& b : all)
    if (b.layer < 0 ? every : (b.layer >= layer_lo_ && b.layer <= layer_hi_)) bars_.push_back(std::move(b));
  std::stable_sort(bars_.begin(), bars_.end(), bar_order);
  match_pipe_bars(bars_);
  for (int s = 0; s < kPipeSources; ++s) figures_[size_t(s)] = compute_pipe_figures(bars_, PipeSource(s));
  deltas_ = compute_pipe_deltas(bars_, figures_[0], figures_[1]);
}

QString PipelineModel::timeText(double us, PipeTimeUnit unit) const {
  if (unit == PipeTimeUnit::Cycles) return QStringLiteral("%1 cycles").arg(std::llround(us * clock_mhz_));
  const double a = std::abs(us);
  return QStringLiteral("%1 µs").arg(us, 0, 'f', a >= 100 ? 1 : (a >= 1 ? 2 : 3));
}

int PipelineModel::barAt(PipeLane lane, double t_us, PipeSource prefer) const {
  int other = -1;
  for (int i = 0; i < int(bars_.size()); ++i) {
    const PipeBar& b = bars_[size_t(i)];
    if (b.lane != lane || t_us < b.start_us || t_us > b.end_us) continue;
    if (b.source == prefer) return i;
    if (other < 0) other = i;
  }
  return other;
}

}  // namespace sm::ui
