// SPDX-License-Identifier: Apache-2.0
#include "ui/models/timeline_model.h"

#include <QCoreApplication>

#include <algorithm>
#include <cmath>

#include "ui/models/run_record.h"

namespace sm::ui {

namespace {
constexpr size_t kCacheSize = 4;  // current view, plus a few recent ones while panning
}

QString timeline_lane_name(TimelineLane lane) {
  switch (lane) {
    case TimelineLane::Prefill: return QCoreApplication::translate("Timeline", "prefill");
    case TimelineLane::Draft: return QCoreApplication::translate("Timeline", "draft");
    case TimelineLane::Verify: return QCoreApplication::translate("Timeline", "verify");
    case TimelineLane::Accept: return QCoreApplication::translate("Timeline", "accept");
    case TimelineLane::TargetBacktrack: return QCoreApplication::translate("Timeline", "backtrack (target)");
    case TimelineLane::DraftBacktrack: return QCoreApplication::translate("Timeline", "backtrack (draft)");
  }
  return {};
}

bool TimelineLayout::any_merged() const {
  return std::any_of(merged.begin(), merged.end(), [](bool m) { return m; });
}

// ---- TimeAxis ---------------------------------------------------------------

TimeAxis::TimeAxis(double lo, double hi, double width) {
  setPixelWidth(width);
  setBounds(lo, hi);
}

void TimeAxis::setBounds(double lo, double hi) {
  if (!(hi > lo)) hi = lo + kMinSpanUs;
  b_lo_ = lo;
  b_hi_ = hi;
  reset();
}

void TimeAxis::setPixelWidth(double width) { width_ = std::max(1.0, width); }

double TimeAxis::toPixel(double t_us) const { return (t_us - lo_) / span() * width_; }

double TimeAxis::toTime(double px) const { return lo_ + px / width_ * span(); }

void TimeAxis::setRange(double lo, double hi) {
  if (hi < lo) std::swap(lo, hi);
  lo_ = lo;
  hi_ = hi;
  clamp();
}

void TimeAxis::zoom(double factor, double px) {
  if (!(factor > 0)) return;
  const double anchor = toTime(px);
  const double new_span = std::max(kMinSpanUs, span() / factor);
  const double frac = px / width_;
  setRange(anchor - frac * new_span, anchor + (1 - frac) * new_span);
}

void TimeAxis::pan(double dpx) {
  const double dt = -dpx * usPerPixel();
  setRange(lo_ + dt, hi_ + dt);
}

void TimeAxis::reset() {
  lo_ = b_lo_;
  hi_ = b_hi_;
}

void TimeAxis::clamp() {
  const double bound_span = b_hi_ - b_lo_;
  double s = std::clamp(hi_ - lo_, std::min(kMinSpanUs, bound_span), bound_span);
  // Keep the centre when the span itself had to change.
  if (s != hi_ - lo_) {
    const double mid = 0.5 * (lo_ + hi_);
    lo_ = mid - 0.5 * s;
  }
  lo_ = std::clamp(lo_, b_lo_, b_hi_ - s);
  hi_ = lo_ + s;
  if (s == bound_span) {  // exact, so isReset() holds after zooming all the way out
    lo_ = b_lo_;
    hi_ = b_hi_;
  }
}

// ---- TimelineModel ----------------------------------------------------------

TimelineModel::TimelineModel(std::shared_ptr<const RunRecord> run) { setRun(std::move(run)); }

void TimelineModel::setRun(std::shared_ptr<const RunRecord> run) {
  run_ = std::move(run);
  for (auto& s : spans_) s.clear();
  step_t0_.clear();
  step_t1_.clear();
  cache_.clear();
  steps_ = 0;
  start_ = 0;
  end_ = 1;
  if (!run_ || run_->steps.empty()) return;

  const auto& steps = run_->steps;
  steps_ = static_cast<int>(steps.size());
  step_t0_.reserve(steps.size());
  step_t1_.reserve(steps.size());
  for (int lane = 1; lane < kTimelineLanes; ++lane) spans_[lane].reserve(steps.size());
  auto add = [&](TimelineLane lane, int step, double t0, double us) {
    if (us > 0) spans_[int(lane)].push_back({lane, step, t0, t0 + us});
  };
  for (int i = 0; i < steps_; ++i) {
    const StepRecord& s = steps[i];
    double t = s.t_us;
    add(TimelineLane::Draft, i, t, s.draft_us);
    t += std::max(0.0, s.draft_us);
    add(TimelineLane::Verify, i, t, s.verify_us);
    t += std::max(0.0, s.verify_us);
    add(TimelineLane::Accept, i, t, s.accept_us);
    t += std::max(0.0, s.accept_us) + std::max(0.0, s.backtrack_us);
    double end = std::max(t, s.t_us + s.step_us);
    // The two backtracks are timed by their own events and fill the phase.
    if (s.target_backtrack.present) {
      add(TimelineLane::TargetBacktrack, i, s.target_backtrack.t_us, s.target_backtrack.us);
      end = std::max(end, s.target_backtrack.t_us + s.target_backtrack.us);
    }
    if (s.draft_backtrack.present) {
      add(TimelineLane::DraftBacktrack, i, s.draft_backtrack.t_us, s.draft_backtrack.us);
      end = std::max(end, s.draft_backtrack.t_us + s.draft_backtrack.us);
    }
    step_t0_.push_back(s.t_us);
    step_t1_.push_back(end);
  }
  const double first = steps.front().t_us;
  const double prefill = std::max(0.0, run_->figures.prefill_us);
  add(TimelineLane::Prefill, -1, first - prefill, prefill);
  // Steps are recorded in time order, but a hand-edited trace need not be.
  for (auto& lane : spans_)
    if (!std::is_sorted(lane.begin(), lane.end(), [](auto& a, auto& b) { return a.t0 < b.t0; }))
      std::stable_sort(lane.begin(), lane.end(), [](auto& a, auto& b) { return a.t0 < b.t0; });

  start_ = first - prefill;
  end_ = *std::max_element(step_t1_.begin(), step_t1_.end());
  for (const auto& lane : spans_)
    if (!lane.empty()) {
      start_ = std::min(start_, lane.front().t0);
      for (const auto& sp : lane) end_ = std::max(end_, sp.t1);
    }
  if (!(end_ > start_)) end_ = start_ + TimeAxis::kMinSpanUs;
}

const std::vector<TimelineSpan>& TimelineModel::spans(TimelineLane lane) const { return spans_[int(lane)]; }

std::vector<TimelineSpan> TimelineModel::allSpans() const {
  std::vector<TimelineSpan> all;
  size_t n = 0;
  for (const auto& lane : spans_) n += lane.size();
  all.reserve(n);
  for (const auto& lane : spans_) all.insert(all.end(), lane.begin(), lane.end());
  return all;
}

double TimelineModel::prefillUs() const {
  const auto& p = spans_[int(TimelineLane::Prefill)];
  return p.empty() ? 0.0 : p.front().us();
}

int TimelineModel::stepAt(double t_us) const {
  if (step_t0_.empty()) return -1;
  const auto it = std::upper_bound(step_t0_.begin(), step_t0_.end(), t_us);
  if (it == step_t0_.begin()) return -1;
  const size_t idx = size_t(it - step_t0_.begin()) - 1;
  if (idx + 1 == step_t0_.size() && t_us > step_t1_[idx]) return -1;
  return int(idx);
}

std::pair<double, double> TimelineModel::stepExtent(int step) const {
  if (step < 0 || step >= steps_) return {0, 0};
  return {step_t0_[step], step_t1_[step]};
}

std::shared_ptr<const TimelineLayout> TimelineModel::layout(double lo, double hi, double width) const {
  width = std::max(2 * kMinBarPx, width);
  if (hi < lo) std::swap(lo, hi);
  if (!(hi > lo)) hi = lo + TimeAxis::kMinSpanUs;
  for (size_t i = 0; i < cache_.size(); ++i)
    if (cache_[i].lo == lo && cache_[i].hi == hi && cache_[i].width == width) {
      std::rotate(cache_.begin(), cache_.begin() + i, cache_.begin() + i + 1);  // most recent first
      return cache_.front().layout;
    }
  auto out = std::make_shared<TimelineLayout>();
  for (int lane = 0; lane < kTimelineLanes; ++lane) layoutLane(lane, lo, hi, width, *out);
  cache_.insert(cache_.begin(), {lo, hi, width, out});
  if (cache_.size() > kCacheSize) cache_.pop_back();
  return out;
}

void TimelineModel::layoutLane(int lane, double lo, double hi, double width, TimelineLayout& out) const {
  const auto& spans = spans_[lane];
  auto& bars = out.lanes[lane];
  // Spans of one lane do not overlap, so t1 is sorted as well as t0.
  const auto first = std::upper_bound(spans.begin(), spans.end(), lo,
                                      [](double v, const TimelineSpan& s) { return v < s.t1; });
  const auto last = std::lower_bound(first, spans.end(), hi,
                                     [](const TimelineSpan& s, double v) { return s.t0 < v; });
  const size_t n = size_t(last - first);
  if (n == 0) return;
  const double px_per_us = width / (hi - lo);

  // Raw spans when there is room: sparse enough to tell apart, or all wide.
  bool raw = double(n) <= width / (2 * kMinBarPx);
  if (!raw) {
    raw = std::all_of(first, last, [&](const TimelineSpan& s) {
      return (std::min(s.t1, hi) - std::max(s.t0, lo)) * px_per_us >= kMinBarPx;
    });
  }
  if (raw) {
    bars.reserve(n);
    for (auto it = first; it != last; ++it) bars.push_back({it->t0, it->t1, 1.0, it->step, it->step, 1, false});
    return;
  }

  out.merged[lane] = true;
  // At least (hi - lo) / m per cell (m cells leave room for the partial ones
  // at both ends), rounded up to a quarter power of two: nearby views (a pan,
  // the view's margin clamped at the run's end) then share one grid.
  const int m = std::max(1, int(std::floor(width / kMinBarPx)) - 1);
  const double cell = std::exp2(std::ceil(std::log2((hi - lo) / m) * 4) / 4);
  const auto k0 = static_cast<int64_t>(std::floor((lo - start_) / cell));
  const auto k1 = static_cast<int64_t>(std::ceil((hi - start_) / cell));
  const size_t cells = size_t(std::max<int64_t>(1, k1 - k0));
  struct Acc {
    double busy = 0;
    int first = -1, last = -1, spans = 0;
  };
  std::vector<Acc> acc(cells);
  const double grid_lo = start_ + double(k0) * cell, grid_hi = grid_lo + double(cells) * cell;
  // The cells at both ends reach past the view: count all of their spans, so
  // a bucket reads the same whichever view it is at the edge of.
  const auto g_first = std::upper_bound(spans.begin(), first, grid_lo,
                                        [](double v, const TimelineSpan& s) { return v < s.t1; });
  const auto g_last = std::lower_bound(last, spans.end(), grid_hi,
                                       [](const TimelineSpan& s, double v) { return s.t0 < v; });
  for (auto it = g_first; it != g_last; ++it) {
    const double a = std::max(it->t0, grid_lo), b = std::min(it->t1, grid_hi);
    if (!(b > a)) continue;
    size_t c = size_t(std::clamp<int64_t>(int64_t(std::floor((a - grid_lo) / cell)), 0, int64_t(cells) - 1));
    for (; c < cells; ++c) {
      const double c0 = grid_lo + double(c) * cell, c1 = c0 + cell;
      if (c0 >= b) break;
      const double overlap = std::min(b, c1) - std::max(a, c0);
      if (overlap <= 0) continue;
      Acc& x = acc[c];
      x.busy += overlap;
      if (x.spans == 0) x.first = it->step;
      x.last = it->step;
      ++x.spans;
    }
  }
  bars.reserve(cells);
  for (size_t c = 0; c < cells; ++c) {
    const Acc& x = acc[c];
    if (x.spans == 0) continue;
    const double c0 = grid_lo + double(c) * cell;
    bars.push_back({c0, c0 + cell, std::min(1.0, x.busy / cell), x.first, x.last, x.spans, true});
  }
}

}  // namespace sm::ui
