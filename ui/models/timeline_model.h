// SPDX-License-Identifier: Apache-2.0
#pragma once
// The step timeline without widgets: each step's phases as spans on a
// wall-clock axis, one lane per phase and model, the prefill in its own
// lane; a time <-> pixel axis with zoom, pan and clamping; and, for long
// runs, per-lane aggregation into buckets a couple of pixels wide so six
// thousand steps neither turn into a solid wall nor cost thousands of bars.
#include <QString>

#include <array>
#include <memory>
#include <vector>

namespace sm::ui {

struct RunRecord;

enum class TimelineLane : int {
  Prefill,
  Draft,
  Verify,
  Accept,
  TargetBacktrack,
  DraftBacktrack,
};
inline constexpr int kTimelineLanes = 6;
// "prefill", "draft", "verify", "accept", "backtrack (target)", "backtrack (draft)".
QString timeline_lane_name(TimelineLane lane);

struct TimelineSpan {
  TimelineLane lane = TimelineLane::Draft;
  int step = -1;     // index into RunRecord::steps; -1 for the prefill
  double t0 = 0;     // us since the run started
  double t1 = 0;
  double us() const { return t1 - t0; }
};

// One drawn bar: a single span (spans == 1, busy == 1) or a bucket merging
// the spans of one lane that fall in it.
struct TimelineBar {
  double t0 = 0, t1 = 0;
  double busy = 1;       // time the lane was busy in [t0, t1] / (t1 - t0), in [0, 1]
  int first_step = -1;   // step range of the spans it holds
  int last_step = -1;
  int spans = 1;
  bool merged = false;
};

struct TimelineLayout {
  std::array<std::vector<TimelineBar>, kTimelineLanes> lanes;
  std::array<bool, kTimelineLanes> merged{};  // lane drawn as buckets
  bool any_merged() const;
};

// Maps run time (us) to pixels of a plot `width` wide showing [lower, upper],
// kept inside the run's bounds.
class TimeAxis {
 public:
  static constexpr double kMinSpanUs = 1.0;  // deepest zoom

  TimeAxis() = default;
  TimeAxis(double lo, double hi, double width);

  // The run's extent; resets the view to all of it.
  void setBounds(double lo, double hi);
  void setPixelWidth(double width);
  double pixelWidth() const { return width_; }
  double boundLower() const { return b_lo_; }
  double boundUpper() const { return b_hi_; }
  double lower() const { return lo_; }
  double upper() const { return hi_; }
  double span() const { return hi_ - lo_; }
  double usPerPixel() const { return span() / width_; }

  double toPixel(double t_us) const;
  double toTime(double px) const;

  void setRange(double lo, double hi);  // clamped to the bounds
  // factor > 1 zooms in; the time under pixel `px` stays there unless the
  // clamp to the bounds has to move the view.
  void zoom(double factor, double px);
  // Moves the view as a drag by `dpx` pixels does: positive shows earlier times.
  void pan(double dpx);
  void reset();
  bool isReset() const { return lo_ == b_lo_ && hi_ == b_hi_; }

 private:
  void clamp();
  double b_lo_ = 0, b_hi_ = 1, lo_ = 0, hi_ = 1, width_ = 1;
};

class TimelineModel {
 public:
  static constexpr double kMinBarPx = 2.0;  // thinner than this gets merged

  TimelineModel() = default;
  explicit TimelineModel(std::shared_ptr<const RunRecord> run);

  void setRun(std::shared_ptr<const RunRecord> run);
  const RunRecord* run() const { return run_.get(); }
  bool empty() const { return steps_ == 0; }
  int stepCount() const { return steps_; }

  // Sorted by t0; spans of one lane never overlap.
  const std::vector<TimelineSpan>& spans(TimelineLane lane) const;
  std::vector<TimelineSpan> allSpans() const;  // lane by lane
  double runStart() const { return start_; }
  double runEnd() const { return end_; }
  double prefillUs() const;

  // Steps are indices into RunRecord::steps, as in every view.
  // The step running at time t, else -1 (the prefill, or past the end). A
  // gap between steps belongs to the step before it.
  int stepAt(double t_us) const;
  // [start, end] of a step: its phases and both backtracks; {0, 0} if out of range.
  std::pair<double, double> stepExtent(int step) const;

  // What to draw for [lo, hi] on `width` pixels: each lane's raw spans when
  // they are wide or sparse enough, else buckets of >= kMinBarPx (at most
  // width / kMinBarPx per lane) on a grid aligned to the run start, so
  // panning does not make the buckets shimmer. The last few are cached.
  std::shared_ptr<const TimelineLayout> layout(double lo, double hi, double width) const;

 private:
  struct Cached {
    double lo, hi, width;
    std::shared_ptr<const TimelineLayout> layout;
  };
  void layoutLane(int lane, double lo, double hi, double width, TimelineLayout& out) const;

  std::shared_ptr<const RunRecord> run_;
  std::array<std::vector<TimelineSpan>, kTimelineLanes> spans_;
  std::vector<double> step_t0_, step_t1_;  // per index into run_->steps
  int steps_ = 0;
  double start_ = 0, end_ = 1;
  mutable std::vector<Cached> cache_;
};

}  // namespace sm::ui
