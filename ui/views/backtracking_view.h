// SPDX-License-Identifier: Apache-2.0
#pragma once
// Backtracking after acceptance, per step and over the run. Top: the selected
// step's policy, stored state bytes against the budget (a bar), tokens
// replayed and time, for the target and the draft. Middle: a chart of bytes
// kept (lines), the budget (dashed) and tokens replayed (bars, right axis),
// the selected step marked; click selects a step, wheel / drag zoom and pan
// the step axis, double-click resets; a table tab lists every step. Bottom:
// a what-if for the target: another policy or budget, recomputed instantly
// from the recorded trees (no model is run) and overlaid on the chart, with
// totals recorded vs what-if. The draft keeps its states inside the drafter,
// so it is shown as recorded only.
//
// Steps are indices into RunRecord::steps; -1: none selected.
#include <QWidget>

#include <memory>
#include <vector>

#include "ui/models/backtrack_model.h"
#include "ui/models/run_record.h"
#include "ui/views/chart_export.h"

class QComboBox;
class QCustomPlot;
class QCPBars;
class QCPGraph;
class QCPItemStraightLine;
class QLabel;
class QSlider;
class QStackedLayout;
class QTabWidget;
class QTableView;

namespace sm::ui {

class ByteBar;

class BacktrackingView : public QWidget {
  Q_OBJECT

 public:
  explicit BacktrackingView(QWidget* parent = nullptr);
  ~BacktrackingView() override;

  // Null: no run (placeholder). Builds the what-if cache (a few ms for 600 steps).
  void setRun(std::shared_ptr<const RunRecord> run);
  int currentStep() const { return step_; }

  // For tests and the lead's checks.
  bool showingPlaceholder() const;
  QString placeholderText() const;
  QString stepText() const;         // the selected step's summary, both models
  QString totalsText() const;       // recorded vs what-if, one line per figure
  QCustomPlot* plot() const { return plot_; }
  QComboBox* policyCombo() const { return policy_; }
  QSlider* budgetSlider() const { return slider_; }
  QTableView* table() const { return table_; }
  BacktrackPolicy whatIfPolicy() const;
  int64_t whatIfBudget() const;     // slider position x one layer state
  const std::vector<WhatIfStep>& whatIf() const { return what_if_; }
  WhatIfTotals whatIfTotals() const;
  CsvTable chartCsv() const;        // exactly the plotted series
  // Plot-widget position over a step's x at mid-height; invalid if out of view.
  QPoint stepPoint(int step) const;

 public slots:
  // Programmatic: never emits.
  void setStep(int step);
  void resetZoom();

 signals:
  void stepSelected(int step);

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  void buildChart();
  void fillChart();                 // recorded series, once per run
  void recomputeWhatIf();           // combo / slider -> what_if_, overlay, totals
  void updateStepPanel();
  void updateSelectionLine();
  void updateYRanges();
  void updateBudgetLabel();
  void onPlotRelease(const QPoint& pos);
  int stepAtPixel(double x) const;
  void userStep(int step);

  std::shared_ptr<const RunRecord> run_;
  BacktrackWhatIf model_;
  BacktrackTableModel* table_model_ = nullptr;
  std::vector<WhatIfStep> what_if_;
  int step_ = -1;

  // Plotted series (the CSV is written from these).
  std::vector<double> xs_, t_kept_, d_kept_, t_rep_, d_rep_, w_kept_, w_rep_;
  double recorded_budget_ = -1, what_if_budget_line_ = -1;  // < 0: not drawn

  QStackedLayout* stack_ = nullptr;
  QLabel* placeholder_ = nullptr;
  QLabel* header_ = nullptr;
  QLabel* target_text_ = nullptr;
  QLabel* draft_text_ = nullptr;
  ByteBar* target_bar_ = nullptr;
  ByteBar* draft_bar_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QCustomPlot* plot_ = nullptr;
  QCPGraph* g_target_ = nullptr;
  QCPGraph* g_draft_ = nullptr;
  QCPGraph* g_budget_ = nullptr;
  QCPGraph* g_what_if_budget_ = nullptr;
  QCPGraph* g_what_if_ = nullptr;
  QCPGraph* g_what_if_rep_ = nullptr;
  QCPBars* b_target_ = nullptr;
  QCPBars* b_draft_ = nullptr;
  QCPItemStraightLine* cursor_ = nullptr;
  QTableView* table_ = nullptr;
  QComboBox* policy_ = nullptr;
  QSlider* slider_ = nullptr;
  QLabel* budget_label_ = nullptr;
  QLabel* totals_[3][2] = {};       // peak state bytes / replayed tokens / time x recorded / what-if
  QLabel* note_ = nullptr;
  QPoint press_pos_;
  bool pressed_ = false;
};

}  // namespace sm::ui
