// SPDX-License-Identifier: Apache-2.0
#pragma once
// The Tuner dock: every setting of a run in one scrolling panel — tree shape
// (presets, free text, a clickable editor), verify order, tile, backtracking
// policy and budget, quantization preset with free bit widths / groups and
// rotation, device, platform and design parameters (linear tile, SSM
// parallelism, clock), the held-out text for bits per byte — with
//  - a live resource meter (DSP, LUT, BRAM, URAM against the platform,
//    red and named when the design does not fit), updated on every change;
//  - what-if figures of the current run for tree and budget changes (no run);
//  - Apply: the window re-runs with these settings (applyRequested), the new
//    run lands in the run list, and the delta table compares it with the
//    run before it; quantization and bits-per-byte progress, and Cancel.
// Every field is checked with core's parsers; a problem names the field.
#include <QVariantMap>
#include <QWidget>

#include <memory>

#include "ui/generation_types.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSlider;
class QSpinBox;
class QTableView;

namespace sm::ui {

class ResourceMeter;
class RunDeltaModel;
class RunListModel;
class TreeEditorView;
class WhatIfModel;
struct RunRecord;

class TunerView : public QWidget {
  Q_OBJECT

 public:
  explicit TunerView(QWidget* parent = nullptr);
  ~TunerView() override;

  static QStringList treePresets();

  // The target (and draft) whose shapes the meter and the group checks use.
  void setModels(const QString& target_dir, const QString& draft_dir);
  // The run the what-if figures re-score.
  void setRun(std::shared_ptr<const RunRecord> run);
  void setRunList(RunListModel* runs);
  // A run is going on: Apply off, Cancel on.
  void setBusy(bool busy);
  void setProgress(const QString& stage, qint64 done, qint64 total);

  // Writes the tuner's settings into `request` (prompt and sampling stay as
  // given); false with `problem` naming the field when one is invalid.
  bool fillRequest(GenerationRequest& request, QString* problem) const;
  // The first invalid field's message, or empty (what Apply would refuse).
  QString validate() const;

  // Field access (tests, presets).
  QString tree() const;
  void setTree(const QString& tree);
  void setBacktrack(const QString& policy, qint64 budget);
  void setBudget(qint64 budget);  // clamped to the field's range
  void setQuantPreset(const QString& preset);
  void setDesign(const QString& platform, int tile_rows, int tile_cols, int ssm_par, double clock_mhz);
  void setHeldout(const QString& path, qint64 bytes);
  void setTargetOnly(bool on);
  void setPlatform(const QString& platform);
  // Loads the keys present of {"tree", "verify", "tile", "backtrack",
  // "budget", "preset", "platform"} (a sweep point's settings); others stay.
  void loadSettings(const QVariantMap& settings);
  // Every field by its object name ("tunerTree", "tunerQuantPreset", ...),
  // for the window's saved settings; restoreFields sets the preset choosers
  // first so the fields they fill are then restored as saved. Unknown names
  // and values a field cannot take are skipped.
  QVariantMap fieldValues() const;
  void restoreFields(const QVariantMap& values);

  WhatIfModel* whatIf() const { return what_if_; }
  RunDeltaModel* deltas() const { return deltas_; }
  ResourceMeter* resourceMeter() const { return meter_; }
  TreeEditorView* treeEditor() const { return editor_; }
  QLabel* problemLabel() const { return problem_; }
  QPushButton* applyButton() const { return apply_; }

 signals:
  void applyRequested();
  void cancelRequested();

 private:
  QWidget* buildTreeBox();
  QWidget* buildSpecBox();
  QWidget* buildQuantBox();
  QWidget* buildDeviceBox();
  QWidget* buildResultsBox();
  void onTreeTextChanged();
  void onSettingsChanged();
  void onQuantPresetChanged();
  void updateMeter();
  void updateWhatIf();
  void updateProblem();
  QString quantConfigJson(QString* problem) const;
  AccelRequest accelRequest() const;

  // Tree
  QComboBox* tree_presets_ = nullptr;
  QLineEdit* tree_ = nullptr;
  TreeEditorView* editor_ = nullptr;
  QCheckBox* target_only_ = nullptr;
  // Speculation
  QComboBox* verify_ = nullptr;
  QSpinBox* tile_ = nullptr;
  QComboBox* backtrack_ = nullptr;
  QSpinBox* budget_ = nullptr;
  QSlider* budget_slider_ = nullptr;
  // Quantization
  QComboBox* quant_preset_ = nullptr;
  QComboBox* weight_bits_ = nullptr;
  QComboBox* act_bits_ = nullptr;
  QComboBox* head_bits_ = nullptr;
  QSpinBox* weight_group_ = nullptr;
  QSpinBox* act_group_ = nullptr;
  QCheckBox* rotation_ = nullptr;
  // Device and design
  QComboBox* device_ = nullptr;
  QCheckBox* simulate_ = nullptr;
  QComboBox* platform_ = nullptr;
  QSpinBox* tile_rows_ = nullptr;
  QSpinBox* tile_cols_ = nullptr;
  QSpinBox* ssm_par_ = nullptr;
  QDoubleSpinBox* clock_ = nullptr;
  QLineEdit* heldout_ = nullptr;
  QSpinBox* heldout_bytes_ = nullptr;
  // Results
  ResourceMeter* meter_ = nullptr;
  QLabel* what_if_status_ = nullptr;
  QTableView* what_if_table_ = nullptr;
  QTableView* delta_table_ = nullptr;
  QLabel* problem_ = nullptr;
  QPushButton* apply_ = nullptr;
  QPushButton* cancel_ = nullptr;
  QProgressBar* progress_ = nullptr;

  WhatIfModel* what_if_ = nullptr;
  RunDeltaModel* deltas_ = nullptr;
  QString target_dir_, draft_dir_;
  bool busy_ = false;
  bool syncing_ = false;  // a programmatic update must not loop through the editor
};

}  // namespace sm::ui
