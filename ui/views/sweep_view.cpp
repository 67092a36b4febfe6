// SPDX-License-Identifier: Apache-2.0
// Core and accel headers first: Qt defines `emit` and `slots` as macros.
#include "accel/dataflow/platform.h"
#include "core/io/default_paths.h"
#include "core/io/error.h"
#include "core/quant/quant_config.h"
#include "core/sweep/sweep.h"

#include "ui/views/sweep_view.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMouseEvent>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardPaths>
#include <QTableView>
#include <QThread>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <map>

#include <qcustomplot.h>

#include "ui/models/sweep_table_model.h"
#include "ui/views/chart_export.h"
#include "ui/views/palette.h"
#include "ui/views/plot_style.h"
#include "ui/workers/sweep_worker.h"

namespace sm::ui {

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

// Okabe-Ito, in an order whose neighbours differ most; shapes repeat the
// grouping for readers who cannot tell the colours apart.
QColor group_colour(int g) {
  static const QColor c[] = {QColor(0x00, 0x72, 0xB2), QColor(0xD5, 0x5E, 0x00), QColor(0x00, 0x9E, 0x73),
                             QColor(0xCC, 0x79, 0xA7), QColor(0xE6, 0x9F, 0x00), QColor(0x56, 0xB4, 0xE9),
                             QColor(0xF0, 0xE4, 0x42), QColor(0x66, 0x66, 0x66)};
  return c[g % 8];
}
QCPScatterStyle::ScatterShape group_shape(int g) {
  static const QCPScatterStyle::ScatterShape s[] = {QCPScatterStyle::ssDisc, QCPScatterStyle::ssSquare,
                                                    QCPScatterStyle::ssTriangle, QCPScatterStyle::ssDiamond,
                                                    QCPScatterStyle::ssTriangleInverted, QCPScatterStyle::ssCrossSquare};
  return s[(g / 8 + g) % 6];
}

// The value of axis `axis` ("preset", "tree", ...) of a configuration, as text.
QString axis_value(const sweep::SweepConfig& c, const std::string& axis) {
  if (axis == "tree") return qs(c.tree);
  if (axis == "verify") return qs(c.verify);
  if (axis == "tile") return QString::number(c.tile);
  if (axis == "backtrack") return qs(c.backtrack);
  if (axis == "budget") return QString::number(c.budget);
  if (axis == "platform") return qs(c.platform);
  return qs(c.preset);
}

// "2,2,1; 1,1,1,1" -> {"2,2,1", "1,1,1,1"}: trees hold commas, so ';' separates.
std::vector<std::string> split_trees(const QString& text) {
  std::vector<std::string> out;
  for (const QString& part : text.split(QLatin1Char(';'), Qt::SkipEmptyParts)) {
    const QString t = part.trimmed();
    if (!t.isEmpty()) out.push_back(t.toStdString());
  }
  return out;
}

std::vector<int64_t> split_ints(const QString& text, const char* field) {
  std::vector<int64_t> out;
  static const QRegularExpression sep(QStringLiteral("[,;\\s]+"));
  for (const QString& part : text.split(sep, Qt::SkipEmptyParts)) {
    bool ok = false;
    const qlonglong v = part.toLongLong(&ok);
    if (!ok) fail(field, "'" + part.toStdString() + "' is not an integer");
    out.push_back(v);
  }
  return out;
}

QString join_ints(const std::vector<int64_t>& v) {
  QStringList s;
  for (int64_t x : v) s << QString::number(x);
  return s.join(QStringLiteral(", "));
}

std::vector<QCheckBox*> check_row(QGridLayout* grid, const std::vector<std::string>& names,
                                  const std::vector<std::string>& checked, int columns, QWidget* parent) {
  std::vector<QCheckBox*> boxes;
  for (size_t i = 0; i < names.size(); ++i) {
    auto* b = new QCheckBox(qs(names[i]), parent);
    b->setChecked(std::find(checked.begin(), checked.end(), names[i]) != checked.end());
    grid->addWidget(b, int(i) / columns, int(i) % columns);
    boxes.push_back(b);
  }
  return boxes;
}

std::vector<std::string> checked_names(const std::vector<QCheckBox*>& boxes) {
  std::vector<std::string> out;
  for (const QCheckBox* b : boxes)
    if (b->isChecked()) out.push_back(b->text().remove(QLatin1Char('&')).toStdString());
  return out;
}

void set_checked(std::vector<QCheckBox*>& boxes, const std::vector<std::string>& names, QWidget* parent,
                 QGridLayout* grid) {
  for (QCheckBox* b : boxes) b->setChecked(false);
  for (const std::string& n : names) {
    auto it = std::find_if(boxes.begin(), boxes.end(),
                           [&](QCheckBox* b) { return b->text().remove(QLatin1Char('&')).toStdString() == n; });
    if (it != boxes.end()) {
      (*it)->setChecked(true);
    } else if (grid) {  // a platform file outside data/platforms
      auto* b = new QCheckBox(qs(n), parent);
      b->setChecked(true);
      grid->addWidget(b, int(boxes.size()) / 2, int(boxes.size()) % 2);
      boxes.push_back(b);
    }
  }
}

std::vector<std::string> platform_names() {
  try {
    return accel::Platform::known_names();
  } catch (const Error&) {
    return {"vck190"};
  }
}

}  // namespace

// ---- SweepChoice ----------------------------------------------------------------

SweepChoice SweepChoice::from(const sweep::SweepConfig& c) {
  return {c.index, qs(c.tree), qs(c.verify), c.tile, qs(c.backtrack), c.budget, qs(c.preset), qs(c.platform)};
}

QVariantMap SweepChoice::toVariantMap() const {
  return {{QStringLiteral("config_index"), qlonglong(config_index)},
          {QStringLiteral("tree"), tree},
          {QStringLiteral("verify"), verify},
          {QStringLiteral("tile"), qlonglong(tile)},
          {QStringLiteral("backtrack"), backtrack},
          {QStringLiteral("budget"), qlonglong(budget)},
          {QStringLiteral("preset"), preset},
          {QStringLiteral("platform"), platform}};
}

// ---- construction -------------------------------------------------------------------

SweepView::SweepView(QWidget* parent) : QWidget(parent) {
  qRegisterMetaType<sm::ui::SweepChoice>();
  worker_ = new SweepWorker(this);
  model_ = new SweepTableModel(this);
  proxy_ = new SweepSortProxy(this);
  proxy_->setSourceModel(model_);

  run_ = new QPushButton(tr("Run"), this);
  run_->setToolTip(tr("Run the sweep from the start (replaces the output file)"));
  resume_ = new QPushButton(tr("Resume"), this);
  resume_->setToolTip(tr("Continue the interrupted sweep saved beside the output file"));
  cancel_ = new QPushButton(tr("Cancel"), this);
  cancel_->setToolTip(tr("Stop after the configurations that are running; Resume continues"));
  open_ = new QPushButton(tr("Open…"), this);
  open_->setToolTip(tr("Open a results file (results.h5) of a finished sweep"));
  progress_ = new QProgressBar(this);
  progress_->setRange(0, 1);
  progress_->setValue(0);
  progress_->setFormat(tr("%v / %m"));
  progress_->setMinimumWidth(80);
  message_ = new QLabel(this);
  message_->setWordWrap(false);
  message_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  message_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);

  auto* buttons = new QHBoxLayout;
  buttons->setContentsMargins(0, 0, 0, 0);
  for (QPushButton* b : {run_, resume_, cancel_, open_}) buttons->addWidget(b);
  buttons->addWidget(progress_, 1);

  auto* split = new QSplitter(Qt::Horizontal, this);
  split->setChildrenCollapsible(false);
  split->addWidget(buildEditor());
  split->addWidget(buildResults());
  split->setStretchFactor(0, 0);
  split->setStretchFactor(1, 1);

  auto* lay = new QVBoxLayout(this);
  lay->setContentsMargins(4, 4, 4, 4);
  lay->setSpacing(3);
  lay->addLayout(buttons);
  lay->addWidget(message_);
  lay->addWidget(split, 1);

  // Object names: for tests and style sheets.
  run_->setObjectName(QStringLiteral("run"));
  resume_->setObjectName(QStringLiteral("resume"));
  cancel_->setObjectName(QStringLiteral("cancel"));
  open_->setObjectName(QStringLiteral("open"));
  connect(run_, &QPushButton::clicked, this, [this] { run(); });
  connect(resume_, &QPushButton::clicked, this, [this] { resume(); });
  connect(cancel_, &QPushButton::clicked, this, &SweepView::cancel);
  connect(open_, &QPushButton::clicked, this, [this] {
    const QString path = QFileDialog::getOpenFileName(this, tr("Open sweep results"), QFileInfo(outputPath()).path(),
                                                      tr("Sweep results (*.h5);;All files (*)"));
    if (!path.isEmpty()) openResults(path);
  });
  connect(worker_, &SweepWorker::planned, this, &SweepView::onPlanned);
  connect(worker_, &SweepWorker::rowFinished, this, &SweepView::onRow);
  connect(worker_, &SweepWorker::progress, this, &SweepView::onProgress);
  connect(worker_, &SweepWorker::finished, this, &SweepView::onFinished);
  connect(worker_, &SweepWorker::failed, this, &SweepView::onFailed);

  setDefaultModels(qs(default_target_model()), qs(default_draft_model()));
  updateCount();
  updateButtons();
  replot();
}

SweepView::~SweepView() { worker_->cancelAndWait(); }

QWidget* SweepView::buildEditor() {
  auto* box = new QWidget;
  auto* form = new QFormLayout(box);
  form->setContentsMargins(2, 2, 6, 2);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  form->setRowWrapPolicy(QFormLayout::WrapLongRows);

  auto dir_row = [&](QLineEdit*& edit, const QString& label, const QString& title) {
    edit = new QLineEdit(box);
    auto* browse = new QPushButton(tr("…"), box);
    browse->setFixedWidth(28);
    browse->setToolTip(title);
    connect(browse, &QPushButton::clicked, this, [this, edit, title] {
      const QString d = QFileDialog::getExistingDirectory(this, title, edit->text());
      if (!d.isEmpty()) edit->setText(d);
    });
    auto* row = new QHBoxLayout;
    row->setContentsMargins(0, 0, 0, 0);
    row->addWidget(edit, 1);
    row->addWidget(browse);
    form->addRow(label, row);
  };
  dir_row(target_, tr("Target"), tr("Target model directory"));
  dir_row(draft_, tr("Draft"), tr("Draft model directory"));

  prompt_ = new QLineEdit(QStringLiteral("And God said"), box);
  form->addRow(tr("Prompt"), prompt_);
  max_tokens_ = new QSpinBox(box);
  max_tokens_->setRange(1, 100000);
  max_tokens_->setValue(32);
  form->addRow(tr("Max tokens"), max_tokens_);

  trees_ = new QLineEdit(QStringLiteral("1,1,1,1; 2,2,1"), box);
  trees_->setToolTip(tr("Tree shapes separated by ';': widths per depth (\"2,2,1\") or a JSON path list"));
  form->addRow(tr("Trees"), trees_);

  auto grid_row = [&](const QString& label, const std::vector<std::string>& names,
                      const std::vector<std::string>& checked, int columns, QGridLayout** out_grid) {
    auto* w = new QWidget(box);
    auto* grid = new QGridLayout(w);
    grid->setContentsMargins(0, 0, 0, 0);
    grid->setHorizontalSpacing(8);
    grid->setVerticalSpacing(0);
    auto boxes = check_row(grid, names, checked, columns, w);
    form->addRow(label, w);
    if (out_grid) *out_grid = grid;
    return boxes;
  };
  verify_ = grid_row(tr("Verify"), {"fifo", "dfs", "paths"}, {"fifo"}, 3, nullptr);
  tiles_ = new QLineEdit(QStringLiteral("0"), box);
  tiles_->setToolTip(tr("Verification state tiles (0 = whole state), separated by commas"));
  form->addRow(tr("Tiles"), tiles_);
  backtrack_ = grid_row(tr("Backtrack"), {"snapshot", "replay", "hybrid"}, {"snapshot"}, 2, nullptr);
  budgets_ = new QLineEdit(QStringLiteral("0"), box);
  budgets_->setToolTip(tr("Hybrid backtracking: bytes of node states kept per model and step, separated by commas"));
  form->addRow(tr("Budgets"), budgets_);
  // Two columns: the editor stays readable at its 200 px minimum.
  presets_ = grid_row(tr("Presets"), quant::QuantConfig::preset_names(), {"fp32"}, 2, nullptr);
  QGridLayout* platform_grid = nullptr;
  platforms_ = grid_row(tr("Platforms"), platform_names(), {"vck190"}, 2, &platform_grid);
  platforms_box_ = platform_grid;

  jobs_ = new QSpinBox(box);
  jobs_->setRange(1, 256);
  jobs_->setValue(std::max(1, QThread::idealThreadCount() / 2));
  jobs_->setToolTip(tr("Configurations run at once, each on one thread"));
  form->addRow(tr("Jobs"), jobs_);

  out_ = new QLineEdit(box);
  const QString data = QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation);
  out_->setText(QDir(data.isEmpty() ? QDir::tempPath() : data).filePath(QStringLiteral("sweeps/results.h5")));
  auto* out_browse = new QPushButton(tr("…"), box);
  out_browse->setFixedWidth(28);
  connect(out_browse, &QPushButton::clicked, this, [this] {
    const QString p = QFileDialog::getSaveFileName(this, tr("Sweep results file"), outputPath(),
                                                   tr("Sweep results (*.h5)"), nullptr,
                                                   QFileDialog::DontConfirmOverwrite);
    if (!p.isEmpty()) setOutputPath(p);
  });
  auto* out_row = new QHBoxLayout;
  out_row->setContentsMargins(0, 0, 0, 0);
  out_row->addWidget(out_, 1);
  out_row->addWidget(out_browse);
  form->addRow(tr("Output"), out_row);

  count_ = new QLabel(box);
  form->addRow(count_);

  target_->setObjectName(QStringLiteral("target"));
  draft_->setObjectName(QStringLiteral("draft"));
  prompt_->setObjectName(QStringLiteral("prompt"));
  trees_->setObjectName(QStringLiteral("trees"));
  tiles_->setObjectName(QStringLiteral("tiles"));
  budgets_->setObjectName(QStringLiteral("budgets"));
  out_->setObjectName(QStringLiteral("output"));

  // Every edit recounts the cross product and re-checks the spec.
  for (QLineEdit* e : {target_, draft_, prompt_, trees_, tiles_, budgets_})
    connect(e, &QLineEdit::textChanged, this, &SweepView::updateCount);
  connect(out_, &QLineEdit::textChanged, this, &SweepView::updateButtons);
  connect(max_tokens_, &QSpinBox::valueChanged, this, &SweepView::updateCount);
  for (auto* list : {&verify_, &backtrack_, &presets_, &platforms_})
    for (QCheckBox* b : *list) connect(b, &QCheckBox::toggled, this, &SweepView::updateCount);

  auto* scroll = new QScrollArea;
  scroll->setWidget(box);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  scroll->setMinimumWidth(200);
  scroll->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Expanding);
  box->setMinimumWidth(200);
  return scroll;
}

QWidget* SweepView::buildResults() {
  auto* w = new QWidget;
  auto* lay = new QVBoxLayout(w);
  lay->setContentsMargins(0, 0, 0, 0);
  lay->setSpacing(2);

  x_axis_ = new QComboBox(w);
  y_axis_ = new QComboBox(w);
  for (const SweepMetric& m : sweep_metrics()) {
    const QString arrow = m.direction == ParetoDirection::Maximise ? QStringLiteral(" ↑") : QStringLiteral(" ↓");
    x_axis_->addItem(m.label + arrow, qs(m.key));
    y_axis_->addItem(m.label + arrow, qs(m.key));
  }
  x_axis_->setCurrentIndex(x_axis_->findData(QStringLiteral("tokens_per_second")));
  y_axis_->setCurrentIndex(y_axis_->findData(QStringLiteral("energy_per_token_mj")));
  x_axis_->setToolTip(tr("Horizontal axis (↑ higher is better, ↓ lower is better)"));
  y_axis_->setToolTip(tr("Vertical axis (↑ higher is better, ↓ lower is better)"));
  colour_by_ = new QComboBox(w);
  for (const std::string& a : sweep::axis_names()) colour_by_->addItem(qs(a), qs(a));
  colour_by_->setCurrentIndex(colour_by_->findData(QStringLiteral("preset")));
  colour_by_->setToolTip(tr("The axis whose values colour the points"));
  auto* choosers = new QHBoxLayout;
  choosers->setContentsMargins(0, 0, 0, 0);
  choosers->addWidget(new QLabel(tr("x"), w));
  choosers->addWidget(x_axis_, 1);
  choosers->addWidget(new QLabel(tr("y"), w));
  choosers->addWidget(y_axis_, 1);
  choosers->addWidget(new QLabel(tr("colour"), w));
  choosers->addWidget(colour_by_, 1);
  for (QComboBox* c : {x_axis_, y_axis_, colour_by_}) {
    c->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    c->setMinimumContentsLength(6);
    connect(c, &QComboBox::currentIndexChanged, this, &SweepView::replot);
  }

  plot_ = new QCustomPlot(w);
  plot_->setMinimumSize(160, 64);  // the dock may be a 200 px bottom row (small screens)
  apply_plot_palette(plot_, colors::text());
  for (QCPAxis* a : {plot_->xAxis, plot_->yAxis}) a->grid()->setPen(QPen(colors::muted(), 0, Qt::DotLine));
  plot_->legend->setVisible(true);
  plot_->legend->setBrush(colors::base());
  plot_->legend->setBorderPen(Qt::NoPen);
  plot_->legend->setTextColor(colors::text());
  QFont lf = font();
  lf.setPointSizeF(std::max(7.0, lf.pointSizeF() - 1));
  plot_->legend->setFont(lf);
  plot_->legend->setIconSize(14, 10);
  plot_->legend->setFillOrder(QCPLegend::foColumnsFirst);
  plot_->legend->setWrap(6);
  plot_->legend->setRowSpacing(0);
  plot_->plotLayout()->insertRow(0);
  plot_->plotLayout()->addElement(0, 0, plot_->legend);
  plot_->plotLayout()->setRowStretchFactor(0, 0.001);
  plot_->legend->setMargins(QMargins(4, 2, 4, 0));
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  connect(plot_, &QCustomPlot::mouseRelease, this, &SweepView::onPlotClick);
  install_chart_export(
      plot_, QStringLiteral("sweep_pareto"),
      [this] {
        CsvTable t;
        const auto [xk, yk] = axes();
        t.header = {QStringLiteral("config_index"), qs(xk), qs(yk), QStringLiteral("on_front")};
        for (const Point& p : points_) {
          const bool front = std::find(front_configs_.begin(), front_configs_.end(), p.config) != front_configs_.end();
          t.rows.push_back({QString::number(p.config), QString::number(p.x, 'g', 10), QString::number(p.y, 'g', 10),
                            front ? QStringLiteral("1") : QStringLiteral("0")});
        }
        return t;
      },
      [this] { replot(); });

  plot_note_ = new QLabel(w);
  plot_note_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  plot_note_->setForegroundRole(QPalette::PlaceholderText);

  auto* plot_box = new QWidget(w);
  auto* pl = new QVBoxLayout(plot_box);
  pl->setContentsMargins(0, 0, 0, 0);
  pl->setSpacing(1);
  pl->addLayout(choosers);
  pl->addWidget(plot_, 1);
  pl->addWidget(plot_note_);

  table_ = new QTableView(w);
  table_->setModel(proxy_);
  table_->setSortingEnabled(true);
  table_->sortByColumn(SweepTableModel::Index, Qt::AscendingOrder);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->verticalHeader()->setVisible(false);
  table_->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 4);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->horizontalHeader()->setDefaultSectionSize(64);
  table_->setColumnWidth(SweepTableModel::Index, 34);
  table_->setColumnWidth(SweepTableModel::Tree, 80);
  table_->setMinimumHeight(44);
  connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          [this](const QModelIndex& current) { onTableClick(current); });

  auto* split = new QSplitter(Qt::Vertical, w);
  split->setChildrenCollapsible(false);
  split->addWidget(plot_box);
  split->addWidget(table_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  lay->addWidget(split, 1);
  return w;
}

// ---- the spec editor ----------------------------------------------------------------

void SweepView::setDefaultModels(const QString& target, const QString& draft) {
  if (target_->text() == default_target_ && !target.isEmpty()) target_->setText(target);
  if (draft_->text() == default_draft_ && !draft.isEmpty()) draft_->setText(draft);
  if (!target.isEmpty()) default_target_ = target;
  if (!draft.isEmpty()) default_draft_ = draft;
}

void SweepView::setSpec(const sweep::SweepSpec& s) {
  try {
    loaded_spec_ = s.text.empty() ? nlohmann::json::object() : nlohmann::json::parse(s.text);
  } catch (const nlohmann::json::exception&) {
    loaded_spec_ = nlohmann::json::object();
  }
  target_->setText(qs(s.target));
  draft_->setText(qs(s.draft));
  prompt_->setText(qs(s.prompt));
  max_tokens_->setValue(s.max_tokens);
  QStringList trees;
  for (const std::string& t : s.tree) trees << qs(t);
  trees_->setText(trees.join(QStringLiteral("; ")));
  set_checked(verify_, s.verify, nullptr, nullptr);
  tiles_->setText(join_ints(s.tile));
  set_checked(backtrack_, s.backtrack, nullptr, nullptr);
  budgets_->setText(join_ints(s.budget));
  set_checked(presets_, s.preset, nullptr, nullptr);
  set_checked(platforms_, s.platform, platforms_box_->parentWidget(), platforms_box_);
  for (QCheckBox* b : platforms_) connect(b, &QCheckBox::toggled, this, &SweepView::updateCount, Qt::UniqueConnection);
  updateCount();
}

QString SweepView::specJson() const {
  using nlohmann::json;
  // What a spec without the key means (sweep.h), taken from core itself.
  static const sweep::SweepSpec defaults = sweep::SweepSpec::parse(R"({"prompt": "-"})", "defaults");
  // Starts from the loaded spec, so keys the editor does not show (eval_text,
  // repeats, ...) survive; a value left at its default is written only if the
  // loaded spec had it. Both keep the spec's hash, so a file made by
  // `specmamba sweep` resumes from here.
  json j = loaded_spec_.is_object() ? loaded_spec_ : json::object();
  json axes = j.contains("axes") && j["axes"].is_object() ? j["axes"] : json::object();
  const json loaded_axes = axes;
  auto put = [](json& obj, const json& original, const char* key, const json& value, const json& fallback) {
    if (value == fallback && !original.contains(key))
      obj.erase(key);
    else
      obj[key] = value;
  };
  const json loaded = j;
  put(j, loaded, "target", target_->text().trimmed().toStdString(), defaults.target);
  put(j, loaded, "draft", draft_->text().trimmed().toStdString(), defaults.draft);
  j["prompt"] = prompt_->text().toStdString();
  put(j, loaded, "max_tokens", max_tokens_->value(), defaults.max_tokens);
  // An empty list means the axis's default too.
  auto axis = [&](const char* name, const auto& values, const auto& fallback) {
    put(axes, loaded_axes, name, values.empty() ? json(fallback) : json(values), json(fallback));
  };
  axis("tree", split_trees(trees_->text()), defaults.tree);
  axis("verify", checked_names(verify_), defaults.verify);
  axis("tile", split_ints(tiles_->text(), "Tiles"), defaults.tile);
  axis("backtrack", checked_names(backtrack_), defaults.backtrack);
  axis("budget", split_ints(budgets_->text(), "Budgets"), defaults.budget);
  axis("preset", checked_names(presets_), defaults.preset);
  axis("platform", checked_names(platforms_), defaults.platform);
  if (axes.empty() && !loaded.contains("axes"))
    j.erase("axes");
  else
    j["axes"] = axes;
  return qs(j.dump(2));
}

sweep::SweepSpec SweepView::spec() const { return sweep::SweepSpec::parse(specJson().toStdString(), "sweep"); }

void SweepView::setOutputPath(const QString& path) { out_->setText(path); }
QString SweepView::outputPath() const { return out_->text().trimmed(); }
void SweepView::setJobs(int jobs) { jobs_->setValue(jobs); }
int SweepView::jobs() const { return jobs_->value(); }

void SweepView::updateCount() {
  try {
    const sweep::SweepSpec s = spec();
    count_->setText(tr("%n configuration(s)", nullptr, int(std::min<int64_t>(s.size(), INT32_MAX))));
    count_->setToolTip(QString());
    count_->setStyleSheet(QString());
  } catch (const std::exception& e) {
    count_->setText(qs(e.what()));
    count_->setToolTip(qs(e.what()));
    count_->setStyleSheet(QStringLiteral("color: #D55E00"));
  }
  count_->setWordWrap(true);
}

// ---- running ----------------------------------------------------------------------

bool SweepView::isRunning() const { return worker_->isBusy(); }

QString SweepView::message() const { return message_->text(); }

void SweepView::setMessage(const QString& text, bool error) {
  message_->setText(text);
  message_->setToolTip(text);
  message_->setStyleSheet(error ? QStringLiteral("color: #D55E00") : QString());
}

void SweepView::updateButtons() {
  const bool busy = worker_->isBusy();
  const std::string out = QFile::encodeName(outputPath()).toStdString();
  const bool resumable = !out.empty() && QFileInfo::exists(QFile::decodeName(sweep::partial_path(out).c_str()));
  run_->setEnabled(!busy);
  resume_->setEnabled(!busy && resumable);
  cancel_->setEnabled(busy);
  open_->setEnabled(!busy);
}

bool SweepView::run() { return startJob(true); }
bool SweepView::resume() { return startJob(false); }

bool SweepView::startJob(bool fresh) {
  if (worker_->isBusy()) {
    setMessage(tr("A sweep is already running"), true);
    return false;
  }
  SweepJob job;
  try {
    job.spec = spec();
  } catch (const std::exception& e) {
    setMessage(qs(e.what()), true);
    return false;
  }
  job.out = outputPath();
  job.jobs = jobs();
  job.stop_after = stop_after_;
  if (job.out.isEmpty()) {
    setMessage(tr("Choose an output file"), true);
    return false;
  }
  QDir().mkpath(QFileInfo(job.out).absolutePath());
  const std::string out = QFile::encodeName(job.out).toStdString();
  if (fresh) {
    // A fresh run must not reuse an earlier run's rows; the model cache stays.
    QFile::remove(QFile::decodeName(sweep::partial_path(out).c_str()));
    QFile::remove(job.out);
  }
  model_->clear();
  chosen_ = -1;
  progress_->setRange(0, int(std::min<int64_t>(job.spec.size(), INT32_MAX)));
  progress_->setValue(0);
  setMessage(fresh ? tr("Starting…") : tr("Resuming…"), false);
  if (!worker_->start(job)) return false;
  updateButtons();
  replot();
  return true;
}

void SweepView::cancel() {
  if (!worker_->isBusy()) return;
  worker_->stop();
  setMessage(tr("Stopping after the running configurations…"), false);
}

void SweepView::onPlanned(const std::vector<sweep::SweepConfig>& configs) {
  model_->addPending(configs);
  progress_->setRange(0, std::max(1, int(configs.size())));
}

void SweepView::onRow(const sweep::SweepRow& row, bool) {
  model_->addResult(row);
  progress_->setValue(model_->count(SweepTableModel::RowStatus::Done) +
                      model_->count(SweepTableModel::RowStatus::Failed));
  replot();
}

void SweepView::onProgress(qlonglong done, qlonglong total, const QString& message) {
  progress_->setRange(0, int(std::max<qlonglong>(1, total)));
  progress_->setValue(int(done));
  if (!message.isEmpty()) setMessage(message, false);
}

void SweepView::onFinished(const SweepOutcome& o) {
  model_->resetUnfinished();
  const int failed = model_->count(SweepTableModel::RowStatus::Failed);
  QString text;
  if (o.cancelled)
    text = tr("Stopped: %1 of %2 configurations saved; Resume continues")
               .arg(o.results.rows.size())
               .arg(model_->rowCount());
  else
    text = tr("Done: %1 configurations (%2 computed, %3 reused) in %4 s → %5")
               .arg(o.results.rows.size())
               .arg(o.computed)
               .arg(o.reused)
               .arg(o.seconds, 0, 'f', 1)
               .arg(QDir::toNativeSeparators(o.out));
  if (failed) text += tr(" · %n failed", nullptr, failed);
  setMessage(text, false);
  updateButtons();
  replot();
  emit runFinished(!o.cancelled);
}

void SweepView::onFailed(const QString& message) {
  model_->resetUnfinished();
  setMessage(message, true);
  updateButtons();
  emit runFinished(false);
}

bool SweepView::openResults(const QString& path) {
  if (worker_->isBusy()) {
    setMessage(tr("A sweep is running"), true);
    return false;
  }
  try {
    const sweep::SweepResults r = sweep::read_results(QFile::encodeName(path).toStdString());
    model_->setResults(r.rows);
    chosen_ = -1;
    // The spec the file was made with fills the editor, so Run repeats it.
    try {
      setSpec(sweep::SweepSpec::parse(r.spec_text, path.toStdString()));
    } catch (const std::exception&) {
      // A spec this build cannot parse: the results are still worth showing.
    }
    setOutputPath(path);
    progress_->setRange(0, int(std::max<int64_t>(1, r.total_configs)));
    progress_->setValue(int(r.rows.size()));
    setMessage(tr("%1: %2 of %3 configurations%4")
                   .arg(QDir::toNativeSeparators(path))
                   .arg(r.rows.size())
                   .arg(r.total_configs)
                   .arg(r.complete ? QString() : tr(" (incomplete)")),
               false);
  } catch (const std::exception& e) {
    setMessage(qs(e.what()), true);
    return false;
  }
  updateButtons();
  replot();
  return true;
}

// ---- the Pareto plot -----------------------------------------------------------------

void SweepView::setAxes(const std::string& x_key, const std::string& y_key) {
  const int xi = x_axis_->findData(qs(x_key)), yi = y_axis_->findData(qs(y_key));
  if (xi < 0 || yi < 0) fail("sweep view", "unknown Pareto axis '" + (xi < 0 ? x_key : y_key) + "'");
  const QSignalBlocker bx(x_axis_), by(y_axis_);
  x_axis_->setCurrentIndex(xi);
  y_axis_->setCurrentIndex(yi);
  replot();
}

std::pair<std::string, std::string> SweepView::axes() const {
  return {x_axis_->currentData().toString().toStdString(), y_axis_->currentData().toString().toStdString()};
}

void SweepView::setColourBy(const std::string& axis) {
  const int i = colour_by_->findData(qs(axis));
  if (i < 0) fail("sweep view", "unknown axis '" + axis + "' to colour by");
  colour_by_->setCurrentIndex(i);
  replot();
}

std::vector<std::pair<double, double>> SweepView::frontLine() const {
  std::vector<std::pair<double, double>> out;
  if (!front_curve_) return out;
  for (auto it = front_curve_->data()->constBegin(); it != front_curve_->data()->constEnd(); ++it)
    out.push_back({it->key, it->value});
  return out;
}

bool SweepView::pointPosition(int64_t config_index, QPointF* pixel) const {
  for (const Point& p : points_)
    if (p.config == config_index) {
      if (pixel) *pixel = QPointF(plot_->xAxis->coordToPixel(p.x), plot_->yAxis->coordToPixel(p.y));
      return true;
    }
  return false;
}

void SweepView::replot() {
  plot_->clearPlottables();
  front_curve_ = nullptr;
  front_marks_ = nullptr;
  chosen_mark_ = nullptr;
  points_.clear();
  front_configs_.clear();

  const auto [xk, yk] = axes();
  const SweepMetric* mx = find_sweep_metric(xk);
  const SweepMetric* my = find_sweep_metric(yk);
  const std::vector<double> xs = model_->metricValues(xk), ys = model_->metricValues(yk);
  const std::string colour_axis = colour_by_->currentData().toString().toStdString();

  // Only measured rows take part; the front is pareto.h's over them.
  std::vector<int> rows;
  std::vector<double> dx, dy;
  for (int r = 0; r < model_->rowCount(); ++r)
    if (model_->entry(r).status == SweepTableModel::RowStatus::Done) {
      rows.push_back(r);
      dx.push_back(xs[size_t(r)]);
      dy.push_back(ys[size_t(r)]);
    }
  const ParetoFront front = pareto_front_2d(dx, mx->direction, dy, my->direction);
  excluded_ = front.excluded;

  std::map<QString, int> groups;  // value -> group, in first-seen order of the sorted values
  for (int r : rows) groups.emplace(axis_value(model_->entry(r).config, colour_axis), 0);
  int g = 0;
  for (auto& [value, id] : groups) id = g++;

  std::vector<QCPGraph*> graphs(groups.size(), nullptr);
  for (const auto& [value, id] : groups) {
    QCPGraph* gr = plot_->addGraph();
    gr->setName(qs(colour_axis) + QStringLiteral(" ") + value);
    gr->setLineStyle(QCPGraph::lsNone);
    gr->setScatterStyle(QCPScatterStyle(group_shape(id), group_colour(id), group_colour(id), 7));
    gr->setPen(QPen(group_colour(id)));
    graphs[size_t(id)] = gr;
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!std::isfinite(dx[i]) || !std::isfinite(dy[i])) continue;
    const sweep::SweepConfig& c = model_->entry(rows[i]).config;
    const int id = groups.at(axis_value(c, colour_axis));
    points_.push_back({dx[i], dy[i], c.index, id});
    graphs[size_t(id)]->addData(dx[i], dy[i]);
  }

  // The front: its staircase, and a ring around each of its points.
  std::vector<std::pair<double, double>> fp;
  for (size_t i : front.indices) {
    fp.push_back({dx[i], dy[i]});
    front_configs_.push_back(model_->entry(rows[i]).config.index);
  }
  if (!fp.empty()) {
    const auto stairs = pareto_staircase(fp, mx->direction, my->direction);
    front_curve_ = new QCPCurve(plot_->xAxis, plot_->yAxis);
    front_curve_->setName(tr("Pareto front"));
    front_curve_->setPen(QPen(colors::text(), 1.5, Qt::DashLine));
    QVector<double> t, kx, ky;
    for (size_t i = 0; i < stairs.size(); ++i) {
      t << double(i);
      kx << stairs[i].first;
      ky << stairs[i].second;
    }
    front_curve_->setData(t, kx, ky);
    front_marks_ = plot_->addGraph();
    front_marks_->setLineStyle(QCPGraph::lsNone);
    front_marks_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(colors::text(), 1.5), Qt::NoBrush, 13));
    for (const auto& [x, y] : fp) front_marks_->addData(x, y);
    front_marks_->removeFromLegend();
  }
  chosen_mark_ = plot_->addGraph();
  chosen_mark_->setLineStyle(QCPGraph::lsNone);
  chosen_mark_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssPlusCircle, QPen(colors::highlight(), 2.5), Qt::NoBrush, 18));
  chosen_mark_->removeFromLegend();

  plot_->xAxis->setLabel(x_axis_->currentText());
  plot_->yAxis->setLabel(y_axis_->currentText());
  plot_->legend->setVisible(!groups.empty());

  // Ranges: the points with a margin, so no marker sits on an axis.
  if (!points_.empty()) {
    auto range = [](double lo, double hi) {
      const double span = hi - lo;
      const double pad = span > 0 ? span * 0.08 : std::max(std::abs(hi) * 0.1, 1e-9);
      return QCPRange(lo - pad, hi + pad);
    };
    double x0 = points_[0].x, x1 = x0, y0 = points_[0].y, y1 = y0;
    for (const Point& p : points_) {
      x0 = std::min(x0, p.x), x1 = std::max(x1, p.x);
      y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
    }
    plot_->xAxis->setRange(range(x0, x1));
    plot_->yAxis->setRange(range(y0, y1));
  } else {
    plot_->xAxis->setRange(0, 1);
    plot_->yAxis->setRange(0, 1);
  }

  QString note;
  const int measured = int(rows.size());
  if (measured == 0)
    note = model_->rowCount() ? tr("No configuration measured yet") : tr("Run a sweep or open a results file");
  else
    note = tr("%1 on the front of %2 plotted").arg(front_configs_.size()).arg(points_.size());
  if (excluded_)
    note += tr(" · %n without %1 or %2 (not plotted)", nullptr, int(excluded_))
                .arg(mx->label, my->label);
  plot_note_->setText(note);
  plot_note_->setToolTip(note);
  highlightChosen();
}

void SweepView::highlightChosen() {
  if (!chosen_mark_) return;
  chosen_mark_->data()->clear();
  for (const Point& p : points_)
    if (p.config == chosen_) chosen_mark_->addData(p.x, p.y);
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

void SweepView::onPlotClick(QMouseEvent* event) {
  if (event->button() != Qt::LeftButton) return;
  // The nearest point within a few pixels; a drag that pans ends elsewhere.
  const QPointF at = event->position();
  double best = 10.0 * 10.0;
  int64_t found = -1;
  for (const Point& p : points_) {
    const double px = plot_->xAxis->coordToPixel(p.x) - at.x();
    const double py = plot_->yAxis->coordToPixel(p.y) - at.y();
    const double d = px * px + py * py;
    if (d <= best) {
      best = d;
      found = p.config;
    }
  }
  if (found >= 0) chooseConfiguration(found);
}

void SweepView::onTableClick(const QModelIndex& proxy_index) {
  if (choosing_ || !proxy_index.isValid()) return;
  chooseConfiguration(proxy_index.data(SweepTableModel::ConfigIndexRole).toLongLong());
}

void SweepView::chooseConfiguration(int64_t config_index) {
  const int row = model_->rowOfConfig(config_index);
  if (row < 0) return;
  chosen_ = config_index;
  {
    // Follow in the table without re-entering through currentRowChanged.
    choosing_ = true;
    const QModelIndex src = model_->index(row, 0);
    const QModelIndex pi = proxy_->mapFromSource(src);
    table_->selectionModel()->setCurrentIndex(pi, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    table_->scrollTo(pi);
    choosing_ = false;
  }
  highlightChosen();
  emit configurationChosen(SweepChoice::from(model_->entry(row).config));
}

}  // namespace sm::ui
