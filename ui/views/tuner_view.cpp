// SPDX-License-Identifier: Apache-2.0
// accel/ and core/ headers first: Qt's `emit` / `slots` macros must not reach them.
#include "accel/dataflow/model.h"
#include "accel/dataflow/platform.h"
#include "core/io/default_paths.h"
#include "core/io/model_config.h"
#include "core/quant/quant_config.h"
#include "core/spec/token_tree.h"
#include "ui/models/design_fit.h"

#include "ui/views/tuner_view.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSignalBlocker>
#include <QSlider>
#include <QSpinBox>
#include <QTableView>
#include <QVBoxLayout>

#include <cstring>
#include <exception>
#include <stdexcept>
#include <optional>

#include "ui/generation_worker.h"
#include "ui/models/run_delta.h"
#include "ui/models/run_record.h"
#include "ui/models/tree_edit.h"
#include "ui/models/what_if.h"
#include "ui/views/resource_meter.h"
#include "ui/views/tree_editor_view.h"

namespace sm::ui {

namespace {

QSpinBox* spin(QWidget* parent, const char* name, int lo, int hi, int value, const QString& special = {}) {
  auto* s = new QSpinBox(parent);
  s->setObjectName(QString::fromLatin1(name));
  s->setRange(lo, hi);
  s->setValue(value);
  if (!special.isEmpty()) s->setSpecialValueText(special);
  return s;
}

QComboBox* combo(QWidget* parent, const char* name, const QStringList& items) {
  auto* c = new QComboBox(parent);
  c->setObjectName(QString::fromLatin1(name));
  c->addItems(items);
  return c;
}

// Bit-width choices of QuantConfig: 4, 8 or 16 (= float).
QComboBox* bits_combo(QWidget* parent, const char* name, int value) {
  auto* c = new QComboBox(parent);
  c->setObjectName(QString::fromLatin1(name));
  c->addItem(QStringLiteral("4"), 4);
  c->addItem(QStringLiteral("8"), 8);
  c->addItem(QStringLiteral("16 (float)"), 16);
  c->setCurrentIndex(c->findData(value));
  return c;
}

// core's quantization field names -> the tuner's labels.
QString quantMessage(QString m) {
  static const std::pair<const char*, const char*> kFields[] = {
      {"linear_weights.bits", "Weight bits"},           {"linear_weights.group", "Weight group"},
      {"lm_head_weights.bits", "Head bits"},            {"lm_head_weights.group", "Weight group"},
      {"linear_activations.bits", "Activation bits"},   {"linear_activations.group", "Activation group"},
      {"rotation", "Rotation"}};
  m.replace(QStringLiteral("Quantization: "), QString());
  if (m.startsWith(QLatin1String("Weight group:")) || m.startsWith(QLatin1String("Activation group:"))) return m;
  for (const auto& [core, gui] : kFields)
    if (m.startsWith(QLatin1String(core))) return QString::fromLatin1(gui) + m.mid(int(strlen(core)));
  return QStringLiteral("Quantization: ") + m;
}

QString defaultHeldout() {
  return QDir::cleanPath(QString::fromStdString(sm::data_dir()) + QStringLiteral("/kjv-heldout.txt"));
}

}  // namespace

QStringList TunerView::treePresets() {
  return {QStringLiteral("1,1,1,1"), QStringLiteral("2,2,1"), QStringLiteral("2,1"), QStringLiteral("1,1,1"),
          QStringLiteral("3,2,1"),   QStringLiteral("4,2,2"), QStringLiteral("4,2,2,1"), QStringLiteral("8,1,1")};
}

TunerView::TunerView(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("tunerView"));
  what_if_ = new WhatIfModel(this);
  deltas_ = new RunDeltaModel(this);

  // Everything scrolls: a small window or a narrow dock never clips a control.
  auto* scroll = new QScrollArea(this);
  scroll->setObjectName(QStringLiteral("tunerScroll"));
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  auto* content = new QWidget(scroll);
  auto* col = new QVBoxLayout(content);
  col->setContentsMargins(4, 4, 4, 4);

  problem_ = new QLabel(content);
  problem_->setObjectName(QStringLiteral("tunerProblem"));
  problem_->setWordWrap(true);
  problem_->setStyleSheet(QStringLiteral("QLabel { color: #d55e00; font-weight: bold; }"));
  problem_->hide();

  auto* actions = new QHBoxLayout;
  apply_ = new QPushButton(tr("Apply (re-run)"), content);
  apply_->setObjectName(QStringLiteral("tunerApply"));
  apply_->setToolTip(tr("Run the prompt again with these settings; the run joins the run list"));
  cancel_ = new QPushButton(tr("Cancel"), content);
  cancel_->setObjectName(QStringLiteral("tunerCancel"));
  cancel_->setEnabled(false);
  progress_ = new QProgressBar(content);
  progress_->setObjectName(QStringLiteral("tunerProgress"));
  progress_->setTextVisible(true);
  progress_->setFormat(tr("idle"));
  progress_->setValue(0);
  actions->addWidget(apply_);
  actions->addWidget(cancel_);
  actions->addWidget(progress_, 1);

  col->addLayout(actions);
  col->addWidget(problem_);
  col->addWidget(buildTreeBox());
  col->addWidget(buildSpecBox());
  col->addWidget(buildQuantBox());
  col->addWidget(buildDeviceBox());
  col->addWidget(buildResultsBox());
  col->addStretch(1);
  scroll->setWidget(content);
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  outer->addWidget(scroll);

  connect(apply_, &QPushButton::clicked, this, [this] {
    updateProblem();
    if (validate().isEmpty()) emit applyRequested();
  });
  connect(cancel_, &QPushButton::clicked, this, &TunerView::cancelRequested);
  connect(what_if_, &WhatIfModel::statusChanged, what_if_status_, &QLabel::setText);

  setTree(QStringLiteral("2,2,1"));
  onQuantPresetChanged();
  onSettingsChanged();
}

TunerView::~TunerView() = default;

QWidget* TunerView::buildTreeBox() {
  auto* box = new QGroupBox(tr("Tree shape"));
  auto* form = new QFormLayout(box);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  tree_presets_ = combo(box, "tunerTreePresets", treePresets());
  tree_presets_->insertItem(0, tr("custom"));
  tree_ = new QLineEdit(box);
  tree_->setObjectName(QStringLiteral("tunerTree"));
  tree_->setToolTip(tr("Widths per depth (\"4,2,2\") or a JSON list of child-rank paths (\"[[0],[1],[0,0]]\")"));
  editor_ = new TreeEditorView(box);
  target_only_ = new QCheckBox(tr("target-only (the speedup baseline)"), box);
  target_only_->setObjectName(QStringLiteral("tunerTargetOnly"));
  form->addRow(tr("Preset"), tree_presets_);
  form->addRow(tr("Tree"), tree_);
  form->addRow(editor_);
  form->addRow(target_only_);
  connect(tree_presets_, &QComboBox::currentTextChanged, this, [this](const QString& t) {
    if (syncing_ || tree_presets_->currentIndex() == 0) return;
    setTree(t);
  });
  connect(tree_, &QLineEdit::textChanged, this, &TunerView::onTreeTextChanged);
  connect(editor_, &TreeEditorView::treeEdited, this, [this](const QString& spec) {
    syncing_ = true;
    tree_->setText(spec);
    syncing_ = false;
    onTreeTextChanged();
  });
  connect(target_only_, &QCheckBox::toggled, this, &TunerView::onSettingsChanged);
  return box;
}

QWidget* TunerView::buildSpecBox() {
  auto* box = new QGroupBox(tr("Verification and backtracking"));
  auto* form = new QFormLayout(box);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  verify_ = combo(box, "tunerVerify", {QStringLiteral("fifo"), QStringLiteral("dfs"), QStringLiteral("paths")});
  tile_ = spin(box, "tunerTile", 0, 4096, 0, tr("whole state"));
  tile_->setToolTip(tr("Heads (Mamba-2) / channels (Mamba-1) per verification tile"));
  backtrack_ = combo(box, "tunerBacktrack", {QStringLiteral("snapshot"), QStringLiteral("replay"), QStringLiteral("hybrid")});
  budget_ = spin(box, "tunerBudget", 0, 1 << 30, 0);
  budget_->setSuffix(tr(" B"));
  budget_->setSingleStep(4096);
  budget_slider_ = new QSlider(Qt::Horizontal, box);
  budget_slider_->setObjectName(QStringLiteral("tunerBudgetSlider"));
  budget_slider_->setRange(0, 1000);  // per mille of the budget that keeps every node state
  budget_slider_->setToolTip(tr("Hybrid budget as a share of the bytes that keep every node state"));
  form->addRow(tr("Verify order"), verify_);
  form->addRow(tr("Tile"), tile_);
  form->addRow(tr("Backtracking"), backtrack_);
  form->addRow(tr("Budget"), budget_);
  form->addRow(QString(), budget_slider_);
  for (QComboBox* c : {verify_, backtrack_}) connect(c, &QComboBox::currentTextChanged, this, &TunerView::onSettingsChanged);
  connect(tile_, &QSpinBox::valueChanged, this, &TunerView::onSettingsChanged);
  connect(budget_, &QSpinBox::valueChanged, this, &TunerView::onSettingsChanged);
  connect(budget_slider_, &QSlider::valueChanged, this, [this](int per_mille) {
    if (syncing_ || what_if_->fullBudget() <= 0) return;
    // Scaled to the recorded tree's full budget (every node, every layer).
    budget_->setValue(int(std::min<int64_t>(budget_->maximum(), what_if_->fullBudget() * per_mille / 1000)));
  });
  return box;
}

QWidget* TunerView::buildQuantBox() {
  auto* box = new QGroupBox(tr("Quantization"));
  auto* form = new QFormLayout(box);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  QStringList presets;
  for (const std::string& n : quant::QuantConfig::preset_names()) presets << QString::fromStdString(n);
  quant_preset_ = combo(box, "tunerQuantPreset", presets);
  weight_bits_ = bits_combo(box, "tunerWeightBits", 4);
  act_bits_ = bits_combo(box, "tunerActBits", 4);
  head_bits_ = bits_combo(box, "tunerHeadBits", 8);
  weight_group_ = spin(box, "tunerWeightGroup", 0, 4096, 0, tr("auto"));
  weight_group_->setToolTip(tr("Input channels per weight scale; auto: the largest that divides each model's widths"));
  act_group_ = spin(box, "tunerActGroup", 1, 4096, 8);
  rotation_ = new QCheckBox(tr("Hadamard rotation"), box);
  rotation_->setObjectName(QStringLiteral("tunerRotation"));
  rotation_->setChecked(true);
  form->addRow(tr("Preset"), quant_preset_);
  auto* bits = new QHBoxLayout;
  bits->addWidget(new QLabel(tr("W"), box));
  bits->addWidget(weight_bits_);
  bits->addWidget(new QLabel(tr("A"), box));
  bits->addWidget(act_bits_);
  bits->addWidget(new QLabel(tr("head"), box));
  bits->addWidget(head_bits_);
  form->addRow(tr("Bits"), bits);
  auto* groups = new QHBoxLayout;
  groups->addWidget(new QLabel(tr("W"), box));
  groups->addWidget(weight_group_, 1);
  groups->addWidget(new QLabel(tr("A"), box));
  groups->addWidget(act_group_, 1);
  form->addRow(tr("Groups"), groups);
  form->addRow(rotation_);
  connect(quant_preset_, &QComboBox::currentTextChanged, this, &TunerView::onQuantPresetChanged);
  for (QComboBox* c : {weight_bits_, act_bits_, head_bits_})
    connect(c, &QComboBox::currentIndexChanged, this, &TunerView::onSettingsChanged);
  for (QSpinBox* s : {weight_group_, act_group_}) connect(s, &QSpinBox::valueChanged, this, &TunerView::onSettingsChanged);
  connect(rotation_, &QCheckBox::toggled, this, &TunerView::onSettingsChanged);
  return box;
}

QWidget* TunerView::buildDeviceBox() {
  auto* box = new QGroupBox(tr("Device and accelerator design"));
  auto* form = new QFormLayout(box);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  device_ = combo(box, "tunerDevice", {QStringLiteral("cpu"), QStringLiteral("emu"), QStringLiteral("xrt")});
  device_->setToolTip(tr("Where the quantized ops run; without a board xrt falls back to emu"));
  simulate_ = new QCheckBox(tr("time cpu runs on the dataflow model"), box);
  simulate_->setObjectName(QStringLiteral("tunerSimulate"));
  simulate_->setChecked(true);
  QStringList platforms;
  try {
    for (const std::string& n : accel::Platform::known_names()) platforms << QString::fromStdString(n);
  } catch (const std::exception&) {
  }
  platform_ = combo(box, "tunerPlatform", platforms);
  platform_->setEditable(true);  // a .json path works too
  if (const int i = platform_->findText(QStringLiteral("vck190")); i >= 0) platform_->setCurrentIndex(i);
  const accel::Design d = accel::Design::lightmamba();
  tile_rows_ = spin(box, "tunerTileRows", 0, 4096, d.tile_rows, tr("default"));
  tile_cols_ = spin(box, "tunerTileCols", 0, 4096, d.tile_cols, tr("default"));
  ssm_par_ = spin(box, "tunerSsmPar", 0, 4096, d.ssm_par, tr("default"));
  clock_ = new QDoubleSpinBox(box);
  clock_->setObjectName(QStringLiteral("tunerClock"));
  clock_->setRange(0, 2000);
  clock_->setDecimals(0);
  clock_->setSuffix(tr(" MHz"));
  clock_->setSpecialValueText(tr("platform default"));
  clock_->setValue(0);
  heldout_ = new QLineEdit(defaultHeldout(), box);
  heldout_->setObjectName(QStringLiteral("tunerHeldout"));
  heldout_->setToolTip(tr("Held-out text for bits per byte of the run's target (empty: not measured)"));
  heldout_bytes_ = spin(box, "tunerHeldoutBytes", 0, 1 << 30, 8192, tr("all"));
  heldout_bytes_->setSuffix(tr(" B"));
  form->addRow(tr("Device"), device_);
  form->addRow(simulate_);
  form->addRow(tr("Platform"), platform_);
  auto* tile = new QHBoxLayout;
  tile->addWidget(tile_rows_, 1);
  tile->addWidget(new QLabel(QStringLiteral("×"), box));
  tile->addWidget(tile_cols_, 1);
  form->addRow(tr("Linear tile"), tile);
  form->addRow(tr("SSM parallelism"), ssm_par_);
  form->addRow(tr("Clock"), clock_);
  form->addRow(tr("Held-out text"), heldout_);
  form->addRow(tr("Held-out bytes"), heldout_bytes_);
  connect(device_, &QComboBox::currentTextChanged, this, &TunerView::onSettingsChanged);
  connect(platform_, &QComboBox::currentTextChanged, this, &TunerView::onSettingsChanged);
  connect(simulate_, &QCheckBox::toggled, this, &TunerView::onSettingsChanged);
  for (QSpinBox* s : {tile_rows_, tile_cols_, ssm_par_, heldout_bytes_})
    connect(s, &QSpinBox::valueChanged, this, &TunerView::onSettingsChanged);
  connect(clock_, &QDoubleSpinBox::valueChanged, this, &TunerView::onSettingsChanged);
  connect(heldout_, &QLineEdit::textChanged, this, &TunerView::onSettingsChanged);
  return box;
}

QWidget* TunerView::buildResultsBox() {
  auto* box = new QWidget;
  auto* col = new QVBoxLayout(box);
  col->setContentsMargins(0, 0, 0, 0);
  auto* meter_box = new QGroupBox(tr("Resources of the design"), box);
  auto* meter_layout = new QVBoxLayout(meter_box);
  meter_ = new ResourceMeter(meter_box);
  meter_layout->addWidget(meter_);
  col->addWidget(meter_box);

  auto* what_box = new QGroupBox(tr("What-if on the current run (no re-run)"), box);
  auto* what_layout = new QVBoxLayout(what_box);
  what_if_status_ = new QLabel(what_box);
  what_if_status_->setObjectName(QStringLiteral("tunerWhatIfStatus"));
  what_if_status_->setWordWrap(true);
  what_if_table_ = new QTableView(what_box);
  what_if_table_->setObjectName(QStringLiteral("tunerWhatIfTable"));
  what_if_table_->setModel(what_if_);
  auto* delta_box = new QGroupBox(tr("Latest run against the one before"), box);
  auto* delta_layout = new QVBoxLayout(delta_box);
  delta_table_ = new QTableView(delta_box);
  delta_table_->setObjectName(QStringLiteral("tunerDeltaTable"));
  delta_table_->setModel(deltas_);
  for (QTableView* t : {what_if_table_, delta_table_}) {
    t->verticalHeader()->hide();
    t->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    t->horizontalHeader()->setStretchLastSection(true);
    t->setEditTriggers(QAbstractItemView::NoEditTriggers);
    t->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    t->setSizeAdjustPolicy(QAbstractScrollArea::AdjustToContents);
  }
  what_layout->addWidget(what_if_status_);
  what_layout->addWidget(what_if_table_);
  delta_layout->addWidget(delta_table_);
  col->addWidget(what_box);
  col->addWidget(delta_box);
  return box;
}

void TunerView::setModels(const QString& target_dir, const QString& draft_dir) {
  target_dir_ = target_dir;
  draft_dir_ = draft_dir;
  onSettingsChanged();
}

void TunerView::setRun(std::shared_ptr<const RunRecord> run) {
  what_if_->setRun(std::move(run));
  updateWhatIf();
}

void TunerView::setRunList(RunListModel* runs) { deltas_->setRunList(runs); }

void TunerView::setBusy(bool busy) {
  busy_ = busy;
  cancel_->setEnabled(busy);
  updateProblem();
  if (!busy) {
    progress_->setRange(0, 1);
    progress_->setValue(0);
    progress_->setFormat(tr("idle"));
  } else {
    progress_->setRange(0, 0);  // busy until the worker says how far
    progress_->setFormat(tr("running"));
  }
}

void TunerView::setProgress(const QString& stage, qint64 done, qint64 total) {
  const int scale = total > 1000000 ? 1000 : 1;
  progress_->setRange(0, int(std::max<qint64>(1, total / scale)));
  progress_->setValue(int(done / scale));
  progress_->setFormat(QStringLiteral("%1: %p%").arg(stage));
}

QString TunerView::tree() const { return tree_->text().trimmed(); }

void TunerView::setTree(const QString& tree) {
  tree_->setText(tree);  // onTreeTextChanged syncs the editor and the presets
}

void TunerView::setBacktrack(const QString& policy, qint64 budget) {
  backtrack_->setCurrentText(policy);
  setBudget(budget);
}

void TunerView::setBudget(qint64 budget) { budget_->setValue(int(std::min<qint64>(budget, budget_->maximum()))); }

void TunerView::setQuantPreset(const QString& preset) { quant_preset_->setCurrentText(preset); }

void TunerView::setDesign(const QString& platform, int tile_rows, int tile_cols, int ssm_par, double clock_mhz) {
  platform_->setCurrentText(platform);
  tile_rows_->setValue(tile_rows);
  tile_cols_->setValue(tile_cols);
  ssm_par_->setValue(ssm_par);
  clock_->setValue(clock_mhz);
}

void TunerView::setHeldout(const QString& path, qint64 bytes) {
  heldout_->setText(path);
  heldout_bytes_->setValue(int(std::min<qint64>(bytes, heldout_bytes_->maximum())));
}

void TunerView::setTargetOnly(bool on) { target_only_->setChecked(on); }

void TunerView::setPlatform(const QString& platform) { platform_->setCurrentText(platform); }

void TunerView::loadSettings(const QVariantMap& m) {
  // An empty text means the sweep left that axis at its default: keep the field.
  auto text = [&m](const char* key) { return m.value(QLatin1String(key)).toString().trimmed(); };
  auto has = [&m](const char* key) { return m.contains(QLatin1String(key)); };
  if (!text("tree").isEmpty()) setTree(text("tree"));
  if (!text("verify").isEmpty()) verify_->setCurrentText(text("verify"));
  if (has("tile")) tile_->setValue(m.value(QStringLiteral("tile")).toInt());
  if (!text("backtrack").isEmpty()) backtrack_->setCurrentText(text("backtrack"));
  if (const qint64 budget = m.value(QStringLiteral("budget")).toLongLong(); budget > 0) setBudget(budget);
  if (!text("preset").isEmpty()) setQuantPreset(text("preset"));
  if (!text("platform").isEmpty()) setPlatform(text("platform"));
}

QVariantMap TunerView::fieldValues() const {
  QVariantMap m;
  auto named = [](const QObject* o) { return o->objectName().startsWith(QLatin1String("tuner")); };
  for (const QComboBox* c : findChildren<QComboBox*>())
    if (named(c)) m.insert(c->objectName(), c->currentText());
  for (const QLineEdit* e : findChildren<QLineEdit*>())
    if (named(e) && !qobject_cast<QComboBox*>(e->parent())) m.insert(e->objectName(), e->text());
  for (const QSpinBox* b : findChildren<QSpinBox*>())
    if (named(b)) m.insert(b->objectName(), b->value());
  for (const QDoubleSpinBox* b : findChildren<QDoubleSpinBox*>())
    if (named(b)) m.insert(b->objectName(), b->value());
  for (const QCheckBox* b : findChildren<QCheckBox*>())
    if (named(b)) m.insert(b->objectName(), b->isChecked());
  return m;
}

void TunerView::restoreFields(const QVariantMap& values) {
  auto apply = [this](const QString& name, const QVariant& v) {
    if (auto* c = findChild<QComboBox*>(name)) {
      const int i = c->findText(v.toString());
      if (i >= 0) c->setCurrentIndex(i);
      else if (c->isEditable()) c->setCurrentText(v.toString());
    } else if (auto* e = findChild<QLineEdit*>(name)) {
      e->setText(v.toString());
    } else if (auto* b = findChild<QSpinBox*>(name)) {
      b->setValue(v.toInt());
    } else if (auto* d = findChild<QDoubleSpinBox*>(name)) {
      d->setValue(v.toDouble());
    } else if (auto* k = findChild<QCheckBox*>(name)) {
      k->setChecked(v.toBool());
    }
  };
  auto is_preset = [](const QString& name) {
    return name.endsWith(QLatin1String("Preset")) || name.endsWith(QLatin1String("Presets"));
  };
  for (const bool presets : {true, false})
    for (auto it = values.begin(); it != values.end(); ++it)
      if (is_preset(it.key()) == presets) apply(it.key(), it.value());
}

void TunerView::onTreeTextChanged() {
  if (!syncing_) {
    try {
      const EditableTree t = EditableTree::parse(tree());
      editor_->setTree(t);
    } catch (const std::exception&) {
      // The problem label names it; the editor keeps the last valid tree.
    }
  }
  {
    const QSignalBlocker block(tree_presets_);
    const int i = tree_presets_->findText(tree());
    tree_presets_->setCurrentIndex(i >= 0 ? i : 0);
  }
  onSettingsChanged();
}

void TunerView::onQuantPresetChanged() {
  const QString p = quant_preset_->currentText();
  const bool quantized = p != QLatin1String("fp32");
  if (quantized) {
    try {
      const quant::QuantConfig c = quant::QuantConfig::preset(p.toStdString(), rotation_->isChecked());
      const QSignalBlocker b1(weight_bits_), b2(act_bits_), b3(head_bits_), b4(act_group_);
      weight_bits_->setCurrentIndex(weight_bits_->findData(c.linear_weights.bits));
      act_bits_->setCurrentIndex(act_bits_->findData(c.linear_activations.bits));
      head_bits_->setCurrentIndex(head_bits_->findData(c.lm_head_weights.bits));
      act_group_->setValue(c.linear_activations.group);
    } catch (const std::exception&) {
    }
  }
  for (QWidget* w : std::initializer_list<QWidget*>{weight_bits_, act_bits_, head_bits_, weight_group_, act_group_, rotation_})
    w->setEnabled(quantized);
  onSettingsChanged();
}

QString TunerView::quantConfigJson(QString* problem) const {
  const QString p = quant_preset_->currentText();
  if (p == QLatin1String("fp32")) return {};
  try {
    quant::QuantConfig c = quant::QuantConfig::preset(p.toStdString(), rotation_->isChecked());
    c.name = p.toStdString();
    c.linear_weights.bits = weight_bits_->currentData().toInt();
    c.linear_activations.bits = act_bits_->currentData().toInt();
    const int head = head_bits_->currentData().toInt();
    if (head == quant::kFloatBits) c.lm_head_weights = {};
    else c.lm_head_weights.bits = head;
    if (weight_group_->value() > 0) {
      c.linear_weights.group = weight_group_->value();
      if (c.lm_head_weights.quantized()) c.lm_head_weights.group = weight_group_->value();
    } else {
      // auto: the worker takes each model's default; check with the target's here.
      c.linear_weights.group = 1;
      if (c.lm_head_weights.quantized()) c.lm_head_weights.group = 1;
    }
    c.linear_activations.group = act_group_->value();
    {
      // A preset's name only while its bit widths are kept.
      const quant::QuantConfig base = quant::QuantConfig::preset(p.toStdString(), rotation_->isChecked());
      if (c.linear_weights.bits != base.linear_weights.bits || c.linear_activations.bits != base.linear_activations.bits ||
          c.lm_head_weights.bits != base.lm_head_weights.bits)
        c.name = "custom";
    }
    c.validate("Quantization");
    // The groups must divide both models' widths (what quantize_model requires).
    for (const QString& dir : {target_dir_, draft_dir_}) {
      if (dir.isEmpty() || !QFileInfo::exists(dir + QStringLiteral("/config.json"))) continue;
      const ModelConfig m = accel::model_shape(dir.toStdString());
      const QString who = dir == target_dir_ ? tr("the target") : tr("the draft");
      if (weight_group_->value() > 0 && m.d_model % weight_group_->value() != 0)
        throw std::runtime_error(tr("Weight group: %1 does not divide %2's d_model %3")
                                     .arg(weight_group_->value())
                                     .arg(who)
                                     .arg(m.d_model)
                                     .toStdString());
      if (c.linear_activations.quantized() && m.d_model % act_group_->value() != 0)
        throw std::runtime_error(tr("Activation group: %1 does not divide %2's d_model %3")
                                     .arg(act_group_->value())
                                     .arg(who)
                                     .arg(m.d_model)
                                     .toStdString());
    }
    return QString::fromStdString(c.to_json_string());
  } catch (const std::exception& e) {
    if (problem) *problem = quantMessage(QString::fromUtf8(e.what()));
    return {};
  }
}

AccelRequest TunerView::accelRequest() const {
  AccelRequest a;
  a.simulate = simulate_->isChecked();
  a.platform = platform_->currentText().trimmed();
  a.tile_rows = tile_rows_->value();
  a.tile_cols = tile_cols_->value();
  a.ssm_par = ssm_par_->value();
  a.clock_mhz = clock_->value();
  return a;
}

bool TunerView::fillRequest(GenerationRequest& r, QString* problem) const {
  QString why;
  r.spec.enabled = !target_only_->isChecked();
  r.spec.tree = tree();
  r.spec.verify = verify_->currentText();
  r.spec.tile = tile_->value();
  r.spec.backtrack = backtrack_->currentText();
  r.spec.budget = budget_->value();
  if (r.spec.draft_path.trimmed().isEmpty()) r.spec.draft_path = draft_dir_;
  r.device = device_->currentText();
  r.quant = {};
  const QString json = quantConfigJson(&why);
  if (!why.isEmpty()) {
    if (problem) *problem = why;
    return false;
  }
  if (!json.isEmpty()) {
    r.quant.enabled = true;
    r.quant.config_json = json;
    // auto: the worker puts each model's default group in place of the 1 that passed validation.
    r.quant.auto_group = weight_group_->value() == 0;
  }
  r.accel = accelRequest();
  r.heldout_path = heldout_->text().trimmed();
  r.heldout_bytes = heldout_bytes_->value();
  // The design is checked only where the run uses it: on a device, or timed.
  const bool timed = r.device != QLatin1String("cpu") || r.accel.simulate;
  if (timed && r.spec.enabled && !target_dir_.isEmpty()) {
    try {
      const ModelConfig m = accel::model_shape(target_dir_.toStdString());
      std::optional<quant::QuantConfig> q;
      if (r.quant.enabled) q = quant::QuantConfig::from_json_string(r.quant.config_json.toStdString(), "Quantization");
      const DesignFit fit = evaluate_design(m, r.accel, q ? &*q : nullptr);
      if (!fit.valid()) why = fit.problem;
    } catch (const std::exception& e) {
      why = QString::fromUtf8(e.what());
    }
  }
  if (why.isEmpty()) why = checkRequest(r);
  if (problem) *problem = why;
  return why.isEmpty();
}

QString TunerView::validate() const {
  GenerationRequest r;
  r.prompt = QStringLiteral("x");
  r.spec.draft_path = draft_dir_.isEmpty() ? QStringLiteral("draft") : draft_dir_;
  QString problem;
  fillRequest(r, &problem);
  return problem;
}

void TunerView::onSettingsChanged() {
  {
    const bool hybrid = backtrack_->currentText() == QLatin1String("hybrid");
    budget_->setEnabled(hybrid);
    budget_slider_->setEnabled(hybrid);
  }
  updateMeter();
  updateWhatIf();
  updateProblem();
}

void TunerView::updateProblem() {
  const QString p = validate();
  problem_->setText(p);
  problem_->setVisible(!p.isEmpty());
  apply_->setEnabled(p.isEmpty() && !busy_);
}

void TunerView::updateMeter() {
  if (target_dir_.isEmpty()) {
    meter_->setBars({}, platform_->currentText(), tr("Load a model to size the design for it"));
    return;
  }
  try {
    const ModelConfig m = accel::model_shape(target_dir_.toStdString());
    QString qproblem;
    const QString json = quantConfigJson(&qproblem);
    std::optional<quant::QuantConfig> q;
    if (!json.isEmpty()) q = quant::QuantConfig::from_json_string(json.toStdString(), "Quantization");
    const DesignFit fit = evaluate_design(m, accelRequest(), q ? &*q : nullptr);
    const QString platform = fit.platform ? QString::fromStdString(fit.platform->name) : platform_->currentText();
    if (!fit.valid()) {
      meter_->setBars({}, platform, fit.problem);
      return;
    }
    meter_->setBars(fit.bars, platform, fit.fit_problem);
  } catch (const std::exception& e) {
    meter_->setBars({}, platform_->currentText(), QString::fromUtf8(e.what()));
  }
}

void TunerView::updateWhatIf() {
  what_if_->setTree(tree());
  BacktrackPolicy p = BacktrackPolicy::Snapshot;
  try {
    p = parse_backtrack_policy(backtrack_->currentText().toStdString());
  } catch (const std::exception&) {
  }
  what_if_->setBacktrack(p, budget_->value());
  what_if_status_->setText(what_if_->status());
  // The slider follows the budget as a share of the recorded tree's full one.
  if (what_if_->fullBudget() > 0) {
    syncing_ = true;
    budget_slider_->setValue(int(std::min<int64_t>(1000, int64_t(budget_->value()) * 1000 / what_if_->fullBudget())));
    syncing_ = false;
  }
}

}  // namespace sm::ui
