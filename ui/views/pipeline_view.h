// SPDX-License-Identifier: Apache-2.0
#pragma once
// The accelerator pipeline of one speculative step: a Gantt chart with a row
// per lane (DMA, linear, conv, SSM, verify, backtrack), bars coloured by unit
// (solid: the lane works; pale: it holds the op but waits for memory),
// measured ops (a board's timings) as thin outlined bars over the predicted
// ones, the draft's passes and the target's verification as shaded bands;
// beside it the figures: per-lane busy share, stall, overlap between lanes,
// makespan and the measured - predicted deltas (PipelineModel).
//
// Wheel zooms and drag pans the time axis only; double-click resets. The
// step and the layer range are chosen above the chart, the axis shows cycles
// at the run's clock or microseconds. Clicking a bar shows its unit, layer
// and times below the chart; hovering shows the same as a tooltip.
// Steps are indices into RunRecord::steps; -1: none.
#include <QWidget>

#include <memory>

#include "ui/models/pipeline_model.h"
#include "ui/models/run_record.h"
#include "ui/views/chart_export.h"

class QComboBox;
class QCustomPlot;
class QCPItemRect;
class QCPItemText;
class QCPTextElement;
class QLabel;
class QScrollArea;
class QSpinBox;
class QSplitter;
class QStackedLayout;
class QToolButton;

namespace sm::ui {

class PipelineBarsPlottable;

class PipelineView : public QWidget {
  Q_OBJECT

 public:
  explicit PipelineView(QWidget* parent = nullptr);
  ~PipelineView() override;

  // Null: no run (placeholder). A newer snapshot of the same run (same
  // name) keeps the step, the layer range and the zoom.
  void setRun(std::shared_ptr<const RunRecord> run);
  int currentStep() const { return model_.step(); }

  PipeTimeUnit timeUnit() const { return unit_; }
  void setTimeUnit(PipeTimeUnit unit);
  // Layers [lo, hi] (clamped); the time axis zooms to their ops.
  void setLayerRange(int lo, int hi);

  // For tests and the lead's checks.
  QCustomPlot* plot() const { return plot_; }
  const PipelineModel& model() const { return model_; }
  bool showingPlaceholder() const;
  QString placeholderText() const;
  QString titleText() const;
  QString figuresText() const;    // the figures pane as plain text
  QString selectionText() const;  // the clicked bar's details on one line (empty: none)
  int selectedBar() const { return selected_; }
  // Plot-widget position of the middle of bar `index` (PipelineModel::bars()); invalid if out of view.
  QPoint barPoint(int index) const;
  // The tooltip shown at a plot-widget position (empty: none).
  QString toolTipAt(const QPoint& pos) const;
  // The bars as the CSV export writes them.
  CsvTable barsCsv() const;
  // The visible time range in µs from the step's start.
  std::pair<double, double> visibleRangeUs() const;

 public slots:
  // Programmatic: never emits.
  void setStep(int step);
  void resetZoom();
  void selectBar(int index);

 signals:
  void stepSelected(int step);

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;

 private:
  void showStep(int step);        // model, controls, zoom, figures
  void syncControls();            // spin boxes from the model (signals blocked)
  void updateBands();             // draft / target shading and the title
  void updateBandLabels();        // hides a label wider than its band
  void updateFigures();
  void fitFigures();              // the figures pane's width for its text
  void applyUnit();               // axis label and the key range in the current unit
  void onRangeChanged();
  int barUnder(const QPoint& pos) const;
  QString barText(int index) const;
  QString timeText(double us) const { return model_.timeText(us, unit_); }

  std::shared_ptr<const RunRecord> run_;
  PipelineModel model_;
  PipeTimeUnit unit_ = PipeTimeUnit::Cycles;
  int selected_ = -1;
  double bound_lo_us_ = 0, bound_hi_us_ = 1;  // pan / zoom limits
  bool syncing_ = false;

  QStackedLayout* stack_ = nullptr;
  QLabel* placeholder_ = nullptr;
  QSpinBox* step_box_ = nullptr;
  QLabel* step_count_ = nullptr;
  QSpinBox* layer_lo_ = nullptr;
  QSpinBox* layer_hi_ = nullptr;
  QToolButton* all_layers_ = nullptr;
  QComboBox* unit_box_ = nullptr;
  QLabel* source_label_ = nullptr;
  QSplitter* split_ = nullptr;
  QCustomPlot* plot_ = nullptr;
  QCPTextElement* title_ = nullptr;
  PipelineBarsPlottable* bars_ = nullptr;
  QCPItemRect* draft_band_ = nullptr;
  QCPItemRect* target_band_ = nullptr;
  QCPItemText* draft_label_ = nullptr;
  QCPItemText* target_label_ = nullptr;
  QLabel* figures_ = nullptr;
  QScrollArea* figures_scroll_ = nullptr;
  QLabel* selection_ = nullptr;
  QPoint press_pos_;
  bool pressed_ = false;
};

}  // namespace sm::ui
