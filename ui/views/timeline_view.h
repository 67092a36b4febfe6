// SPDX-License-Identifier: Apache-2.0
#pragma once
// The step timeline: a Gantt chart of every step's draft, verify, accept and
// backtrack phases on the run's wall clock, one lane per phase and model,
// with the prefill in its own lane. Wheel zooms and drag pans the time axis
// only; double-click resets. Long runs are drawn as merged buckets whose
// opacity is the lane's busy share, so the chart stays readable and fast.
// Click selects the step under the cursor; hovering shows its phase times.
//
// Steps are indices into RunRecord::steps; -1: none selected.
#include <QTimer>
#include <QWidget>

#include <memory>

#include "ui/models/run_record.h"
#include "ui/models/timeline_model.h"
#include "ui/views/chart_export.h"

class QCustomPlot;
class QCPItemRect;
class QCPItemText;
class QCPTextElement;
class QLabel;
class QStackedLayout;

namespace sm::ui {

class TimelineBarsPlottable;

class TimelineView : public QWidget {
  Q_OBJECT

 public:
  explicit TimelineView(QWidget* parent = nullptr);
  ~TimelineView() override;

  // Null: no run (placeholder). A newer snapshot of the same run (same name)
  // keeps the zoom and the selection.
  void setRun(std::shared_ptr<const RunRecord> run);
  int currentStep() const { return step_; }

  // For tests and the lead's checks.
  QCustomPlot* plot() const { return plot_; }
  const TimelineModel& model() const { return model_; }
  const TimeAxis& timeAxis() const { return axis_; }
  bool showingPlaceholder() const;
  QString placeholderText() const;
  QString titleText() const;
  // Plot-widget position of the middle of a step's bar in `lane`; invalid if
  // the step has no span there or it is out of view.
  QPoint stepPoint(int step, TimelineLane lane = TimelineLane::Verify) const;
  // The tooltip shown at a plot-widget position (empty: none).
  QString toolTipAt(const QPoint& pos) const;
  // The spans as the CSV export writes them: lane, step, start_us, end_us.
  CsvTable spansCsv() const;
  // Shows [lo, hi] us (clamped to the run) and redraws.
  void setVisibleRange(double lo_us, double hi_us);

 public slots:
  // Programmatic: never emits. Scrolls the step into view if it is outside.
  void setStep(int step);
  void resetZoom();

 signals:
  void stepSelected(int step);

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;

 private:
  void onRangeChanged();
  void relayout();         // the bars for the visible range (cached by the model)
  void updateOverlays();   // selection band, prefill label, titles
  void updateTitles();
  void applyAxisRange();   // axis_ -> the plot's x axis
  int laneAt(const QPoint& pos) const;

  std::shared_ptr<const RunRecord> run_;
  TimelineModel model_;
  TimeAxis axis_;
  std::shared_ptr<const TimelineLayout> layout_;  // what is drawn
  int step_ = -1;

  QStackedLayout* stack_ = nullptr;
  QLabel* placeholder_ = nullptr;
  QCustomPlot* plot_ = nullptr;
  QCPTextElement* title_ = nullptr;
  QCPTextElement* hint_ = nullptr;
  TimelineBarsPlottable* bars_ = nullptr;
  QCPItemRect* band_ = nullptr;
  QCPItemText* prefill_label_ = nullptr;
  QTimer relayout_timer_;   // throttles recomputation while zooming / panning
  QPoint press_pos_;
  bool pressed_ = false;
  bool syncing_ = false;    // guards the range clamp against re-entry
};

}  // namespace sm::ui
