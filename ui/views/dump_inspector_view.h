// SPDX-License-Identifier: Apache-2.0
#pragma once
// The HDF5 activation dump inspector: the dump's layers and tensors in a
// tree on the left; for the selected tensor a heatmap of tokens x channels
// (QCPColorMap, decimated by max-abs to about the plot's pixels) with a
// colour scale, a histogram of its values, the per-channel absmax with the
// outlier channels (> 6 sigma) marked — before and after the online
// rotation side by side for out_proj_in / out_proj_in_unrotated — and a
// token row's float values beside its integer codes, power-of-two exponents
// and quantization error. "Diff with…" compares another dump (first
// differing token and layer, per-tensor maxima, a diff heatmap); "Dump
// current prompt…" writes a dump in a worker and opens it. All reading runs
// in DumpReadWorker; the GUI thread only opens files (attributes and
// dataset metadata) and draws.
#include "core/dump/dump_diff.h"
#include "core/dump/dump_reader.h"

#include <QString>
#include <QWidget>

#include <functional>
#include <memory>
#include <optional>

#include "ui/workers/dump_job.h"
#include "ui/workers/dump_read_worker.h"

class QAction;
class QCPBars;
class QCPColorMap;
class QCPColorScale;
class QCPGraph;
class QCustomPlot;
class QLabel;
class QSpinBox;
class QTabWidget;
class QTableView;
class QTreeView;

namespace sm::ui {

class DumpDiffModel;
class DumpTableModel;
class DumpTreeModel;

class DumpInspectorView : public QWidget {
  Q_OBJECT

 public:
  explicit DumpInspectorView(QWidget* parent = nullptr);
  ~DumpInspectorView() override;

  // Opens a dump (reads its attributes and dataset list) and selects its
  // first tensor. False, with the reason in *error and on the view, for a
  // missing, foreign or damaged file; the dump shown before stays.
  bool openDump(const QString& path, QString* error = nullptr);
  QString dumpPath() const { return path_; }
  QString errorText() const;  // the last error shown, empty when none

  // Selects a dataset of the open dump and starts reading it; false if absent.
  bool selectDataset(const QString& dataset);
  QString currentDataset() const { return dataset_; }
  // The dataset row whose values, codes and error the table shows.
  void setSelectedRow(qint64 row);
  qint64 selectedRow() const;

  // Compares the open dump with `other` in the worker (diffShown / errorShown
  // follow) and draws the diff heatmap of the current tensor. False if no dump
  // is open or `other` cannot be opened.
  bool diffWith(const QString& other, double tol = 0.0, QString* error = nullptr);
  QString diffPath() const { return diff_path_; }
  QString diffSummaryText() const;

  // "Dump current prompt…": the defaults the dialog offers (model dir,
  // prompt) come from this source (install_dump_inspector sets it from the
  // main window). startDump runs a request without the dialog.
  void setPromptSource(std::function<DumpJobRequest()> source) { prompt_source_ = std::move(source); }
  bool startDump(const DumpJobRequest& request);

  // For tests and screenshots.
  DumpTreeModel* treeModel() const { return tree_model_; }
  DumpTableModel* tableModel() const { return table_model_; }
  DumpDiffModel* diffModel() const { return diff_model_; }
  QTreeView* treeView() const { return tree_; }
  QTabWidget* tabs() const { return tabs_; }
  QCustomPlot* heatmapPlot() const { return heat_plot_; }
  QCPColorMap* heatmap() const { return heat_map_; }
  QCPColorScale* heatmapScale() const { return heat_scale_; }
  QCPBars* histogramBars() const { return hist_bars_; }
  QCPBars* absmaxBars() const { return absmax_bars_; }
  QCPBars* twinAbsmaxBars() const { return twin_bars_; }
  QCPGraph* outlierMarks() const { return outlier_marks_; }
  QCustomPlot* twinAbsmaxPlot() const { return twin_plot_; }
  QCPColorMap* diffHeatmap() const { return diff_map_; }
  DumpReadWorker* worker() const { return worker_; }
  DumpJob* dumpJob() const { return job_; }
  const DumpTensorResult* lastResult() const { return last_ ? &*last_ : nullptr; }
  const DumpDiff* lastDiff() const { return diff_ ? &*diff_ : nullptr; }
  QAction* openAction() const { return open_action_; }
  QAction* diffAction() const { return diff_action_; }
  QAction* dumpAction() const { return dump_action_; }

 signals:
  void dumpOpened(const QString& path);
  void tensorShown(const QString& dataset);  // the heatmap, histogram, absmax and table are drawn
  void diffShown();
  void errorShown(const QString& message);
  void dumpWritten(const QString& path);

 private:
  void buildUi();
  void browseOpen();
  void browseDiff();
  void askDumpPrompt();
  void requestRead();
  void showResult(const DumpTensorResult& r);
  void showDiff(const DumpDiff& d);
  void showError(const QString& message);
  void clearError();
  void drawHeatmap(QCustomPlot* plot, QCPColorMap* map, QCPColorScale* scale, const Heatmap& h, int64_t row0,
                   const QString& title);
  void drawAbsmax(QCustomPlot* plot, QCPBars* bars, QCPGraph* marks, const std::vector<float>& absmax,
                  const OutlierChannels& o, const QString& title, double ymax);
  void showRowTable(const DumpTensorResult& r);

  QString path_, dataset_, diff_path_;
  double diff_tol_ = 0.0;
  std::vector<DumpDatasetInfo> infos_;
  std::optional<DumpTensorResult> last_;
  std::optional<DumpDiff> diff_;
  std::function<DumpJobRequest()> prompt_source_;

  DumpReadWorker* worker_ = nullptr;
  DumpJob* job_ = nullptr;
  DumpTreeModel* tree_model_ = nullptr;
  DumpTableModel* table_model_ = nullptr;
  DumpDiffModel* diff_model_ = nullptr;

  QAction* open_action_ = nullptr;
  QAction* diff_action_ = nullptr;
  QAction* dump_action_ = nullptr;
  QLabel* file_label_ = nullptr;
  QLabel* error_label_ = nullptr;
  QLabel* status_label_ = nullptr;
  QTreeView* tree_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QCustomPlot* heat_plot_ = nullptr;
  QCPColorMap* heat_map_ = nullptr;
  QCPColorScale* heat_scale_ = nullptr;
  QCustomPlot* hist_plot_ = nullptr;
  QCPBars* hist_bars_ = nullptr;
  QCustomPlot* absmax_plot_ = nullptr;
  QCPBars* absmax_bars_ = nullptr;
  QCPGraph* outlier_marks_ = nullptr;
  QCustomPlot* twin_plot_ = nullptr;
  QCPBars* twin_bars_ = nullptr;
  QCPGraph* twin_marks_ = nullptr;
  QSpinBox* row_spin_ = nullptr;
  QLabel* quant_label_ = nullptr;
  QTableView* table_ = nullptr;
  QLabel* diff_label_ = nullptr;
  QTableView* diff_table_ = nullptr;
  QCustomPlot* diff_plot_ = nullptr;
  QCPColorMap* diff_map_ = nullptr;
  QCPColorScale* diff_scale_ = nullptr;
};

}  // namespace sm::ui
