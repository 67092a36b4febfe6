// SPDX-License-Identifier: Apache-2.0
#pragma once
// The sweep view: a spec editor over the tuner's axes (tree shapes, verify
// orders, tiles, backtracking policies, budgets, quantization presets,
// platforms; models, prompt, token count, jobs, output file), Run / Cancel /
// Resume with a progress bar, the results table (SweepTableModel, sortable)
// and a Pareto scatter of two chosen figures (QCustomPlot): points coloured by
// an axis, the front drawn as the staircase of pareto.h. Clicking a point or a
// table row selects that configuration and emits configurationChosen with its
// settings, which the tuner loads. A finished results.h5 can be opened too.
#include "core/sweep/sweep.h"

#include <QMetaType>
#include <QModelIndex>
#include <QPointF>
#include <QString>
#include <QVariantMap>
#include <QWidget>

#include <cstdint>
#include <utility>
#include <vector>

#include "ui/models/pareto.h"

class QCheckBox;
class QComboBox;
class QCPCurve;
class QCPGraph;
class QCustomPlot;
class QGridLayout;
class QMouseEvent;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QSplitter;
class QTableView;

namespace sm::ui {

class SweepSortProxy;
class SweepTableModel;
class SweepWorker;
struct SweepOutcome;

// The settings of one configuration, as the tuner takes them.
struct SweepChoice {
  int64_t config_index = -1;
  QString tree, verify;
  int64_t tile = 0;
  QString backtrack;
  int64_t budget = 0;
  QString preset, platform;

  static SweepChoice from(const sweep::SweepConfig& c);
  // {"tree", "verify", "tile", "backtrack", "budget", "preset", "platform"}
  // (tile and budget as qlonglong) plus "config_index".
  QVariantMap toVariantMap() const;
  bool operator==(const SweepChoice& o) const = default;
};

class SweepView : public QWidget {
  Q_OBJECT

 public:
  explicit SweepView(QWidget* parent = nullptr);
  ~SweepView() override;

  // ---- the spec editor ----
  // Models the editor starts from (the window's model bar); a field the user
  // changed is left alone.
  void setDefaultModels(const QString& target, const QString& draft);
  // Fills the editor from a spec (every axis, models, prompt, max tokens).
  void setSpec(const sweep::SweepSpec& spec);
  // The editor's contents as SPEC.json text (the `specmamba sweep` contract).
  QString specJson() const;
  // Parses specJson(); throws sm::Error naming the field.
  sweep::SweepSpec spec() const;
  void setOutputPath(const QString& path);
  QString outputPath() const;
  void setJobs(int jobs);
  int jobs() const;

  // ---- running ----
  // Run: a fresh sweep (OUT and OUT.partial are replaced); Resume: continues
  // the interrupted sweep in OUT.partial. False (and the message line) if
  // the spec is invalid or a sweep is running.
  bool run();
  bool resume();
  void cancel();
  bool isRunning() const;
  // Opens a finished (or merged) results file; false and the message line on error.
  bool openResults(const QString& path);
  SweepWorker* worker() const { return worker_; }
  // Test hook: the next run stops as if cancelled after this many computed
  // configurations (< 0: off).
  void setStopAfter(int64_t n) { stop_after_ = n; }

  // ---- results and the plot ----
  SweepTableModel* model() const { return model_; }
  QTableView* table() const { return table_; }
  QCustomPlot* plot() const { return plot_; }
  QString message() const;  // the line under the buttons: errors and the last phase

  // Axes by SweepMetric key ("tokens_per_second", "energy_per_token_mj", ...).
  void setAxes(const std::string& x_key, const std::string& y_key);
  std::pair<std::string, std::string> axes() const;
  // The axis that colours the points: "preset", "tree", "platform", ...
  void setColourBy(const std::string& axis);

  // Configuration indices on the plotted front, in plotting order, and the
  // staircase drawn through them (plot coordinates).
  const std::vector<int64_t>& frontConfigs() const { return front_configs_; }
  std::vector<std::pair<double, double>> frontLine() const;
  size_t excludedPoints() const { return excluded_; }
  // Where a configuration's point is drawn (widget pixels of plot()); false
  // if it is not plotted.
  bool pointPosition(int64_t config_index, QPointF* pixel) const;

  // Selects a configuration (point, table row) and emits configurationChosen.
  void chooseConfiguration(int64_t config_index);
  int64_t chosenConfiguration() const { return chosen_; }

 signals:
  void configurationChosen(const sm::ui::SweepChoice& choice);
  void runFinished(bool complete);  // complete: every configuration measured

 private:
  struct Point {
    double x, y;
    int64_t config;
    int group;
  };
  QWidget* buildEditor();
  QWidget* buildResults();
  bool startJob(bool fresh);
  void onPlanned(const std::vector<sweep::SweepConfig>& configs);
  void onRow(const sweep::SweepRow& row, bool reused);
  void onProgress(qlonglong done, qlonglong total, const QString& message);
  void onFinished(const SweepOutcome& outcome);
  void onFailed(const QString& message);
  void onPlotClick(QMouseEvent* event);
  void onTableClick(const QModelIndex& proxy_index);
  void setMessage(const QString& text, bool error);
  void updateButtons();
  void updateCount();
  void replot();
  void highlightChosen();

  SweepWorker* worker_ = nullptr;
  SweepTableModel* model_ = nullptr;
  SweepSortProxy* proxy_ = nullptr;

  // Editor
  nlohmann::json loaded_spec_;  // the spec setSpec() was given, as JSON
  QLineEdit* target_ = nullptr;
  QLineEdit* draft_ = nullptr;
  QString default_target_, default_draft_;
  QLineEdit* prompt_ = nullptr;
  QSpinBox* max_tokens_ = nullptr;
  QLineEdit* trees_ = nullptr;
  std::vector<QCheckBox*> verify_, backtrack_, presets_, platforms_;
  QGridLayout* platforms_box_ = nullptr;  // grows when a spec names a platform file
  QLineEdit* tiles_ = nullptr;
  QLineEdit* budgets_ = nullptr;
  QSpinBox* jobs_ = nullptr;
  QLineEdit* out_ = nullptr;
  QLabel* count_ = nullptr;

  // Run controls
  QPushButton* run_ = nullptr;
  QPushButton* cancel_ = nullptr;
  QPushButton* resume_ = nullptr;
  QPushButton* open_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* message_ = nullptr;

  // Results
  QTableView* table_ = nullptr;
  QCustomPlot* plot_ = nullptr;
  QComboBox* x_axis_ = nullptr;
  QComboBox* y_axis_ = nullptr;
  QComboBox* colour_by_ = nullptr;
  QLabel* plot_note_ = nullptr;
  QCPCurve* front_curve_ = nullptr;
  QCPGraph* front_marks_ = nullptr;
  QCPGraph* chosen_mark_ = nullptr;
  std::vector<Point> points_;
  std::vector<int64_t> front_configs_;
  size_t excluded_ = 0;
  int64_t chosen_ = -1;
  int64_t stop_after_ = -1;
  bool choosing_ = false;  // re-entrancy guard: table selection <-> plot
};

}  // namespace sm::ui

Q_DECLARE_METATYPE(sm::ui::SweepChoice)
