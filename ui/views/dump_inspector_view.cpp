// SPDX-License-Identifier: Apache-2.0
// core headers first: Qt's emit / slots macros must not reach them.
#include "core/dump/dump_diff.h"
#include "core/dump/dump_reader.h"
#include "core/io/error.h"

#include "ui/views/dump_inspector_view.h"

#include <QAction>
#include <QCheckBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMouseEvent>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QToolBar>
#include <QTreeView>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include <qcustomplot.h>

#include "ui/models/dump_diff_model.h"
#include "ui/models/dump_table_model.h"
#include "ui/models/dump_tree_model.h"
#include "ui/views/palette.h"
#include "ui/views/plot_style.h"

namespace sm::ui {

namespace {

// Heatmap grids follow the plot's pixels, but never fewer bins than this, so
// a dump read while the view is hidden (or tiny) still shows its detail.
constexpr int kMinBins = 256;

QCustomPlot* makePlot(QWidget* parent) {
  auto* p = new QCustomPlot(parent);
  p->setMinimumSize(160, 120);
  apply_plot_palette(p, colors::text());
  p->plotLayout()->insertRow(0);
  auto* title = new QCPTextElement(p, QString(), QFont(p->font().family(), p->font().pointSize(), QFont::Bold));
  title->setTextColor(colors::text());
  p->plotLayout()->addElement(0, 0, title);
  return p;
}

void setTitle(QCustomPlot* p, const QString& text) {
  if (auto* t = qobject_cast<QCPTextElement*>(p->plotLayout()->element(0, 0))) t->setText(text);
}

QCPColorGradient diverging() {
  QCPColorGradient g(QCPColorGradient::gpPolar);
  g.setNanHandling(QCPColorGradient::nhTransparent);
  return g;
}

// Cell centres of bins of `step` source indices starting at `first`.
QCPRange centres(int64_t first, int64_t bins, int64_t step) {
  const double lo = double(first) + (double(step) - 1) / 2;
  const double hi = lo + double(bins - 1) * double(step);
  return hi > lo ? QCPRange(lo, hi) : QCPRange(lo - 0.5, lo + 0.5);
}

QString num(double v) { return QString::number(v, 'g', 4); }

}  // namespace

DumpInspectorView::DumpInspectorView(QWidget* parent) : QWidget(parent) {
  worker_ = new DumpReadWorker(this);
  job_ = new DumpJob(this);
  tree_model_ = new DumpTreeModel(this);
  table_model_ = new DumpTableModel(this);
  diff_model_ = new DumpDiffModel(this);
  buildUi();
  connect(worker_, &DumpReadWorker::tensorReady, this, &DumpInspectorView::showResult);
  connect(worker_, &DumpReadWorker::rowReady, this, [this](const DumpTensorResult& r) {
    if (r.request.path != path_ || r.request.dataset != dataset_) return;
    if (last_) {
      last_->row = r.row;
      last_->quant = r.quant;
      showRowTable(*last_);
    }
  });
  connect(worker_, &DumpReadWorker::diffReady, this, &DumpInspectorView::showDiff);
  connect(worker_, &DumpReadWorker::diffProgress, this, [this](qint64 done, qint64 total) {
    diff_label_->setText(tr("Comparing… %1%").arg(total > 0 ? 100 * done / total : 0));
  });
  connect(worker_, &DumpReadWorker::failed, this, &DumpInspectorView::showError);
  connect(worker_, &DumpReadWorker::cancelled, this, [this] { status_label_->setText(tr("Cancelled")); });
  connect(job_, &DumpJob::progress, this,
          [this](int done, int total) { status_label_->setText(tr("Writing dump… %1 / %2 tokens").arg(done).arg(total)); });
  connect(job_, &DumpJob::failed, this, [this](const QString& m) {
    // A refused second start fails too, while the first job still runs.
    dump_action_->setEnabled(!job_->isBusy());
    showError(tr("Dump failed: %1").arg(m));
  });
  connect(job_, &DumpJob::cancelled, this, [this] {
    dump_action_->setEnabled(true);
    status_label_->setText(tr("Dump cancelled"));
  });
  connect(job_, &DumpJob::finished, this, [this](const QString& path, qint64 tokens, qint64 rows) {
    dump_action_->setEnabled(true);
    if (openDump(path)) status_label_->setText(tr("Wrote %1: %2 tokens run, %3 dumped").arg(path).arg(tokens).arg(rows));
    emit dumpWritten(path);
  });
}

DumpInspectorView::~DumpInspectorView() = default;

void DumpInspectorView::buildUi() {
  auto* top = new QVBoxLayout(this);
  top->setContentsMargins(2, 2, 2, 2);
  top->setSpacing(2);
  auto* bar = new QToolBar(this);
  bar->setIconSize(QSize(16, 16));
  open_action_ = bar->addAction(tr("Open…"), this, &DumpInspectorView::browseOpen);
  open_action_->setToolTip(tr("Open an HDF5 activation dump"));
  diff_action_ = bar->addAction(tr("Diff with…"), this, &DumpInspectorView::browseDiff);
  diff_action_->setToolTip(tr("Compare with another dump of the same model shape"));
  diff_action_->setEnabled(false);
  dump_action_ = bar->addAction(tr("Dump current prompt…"), this, &DumpInspectorView::askDumpPrompt);
  dump_action_->setToolTip(tr("Run the current prompt with an activation dump and open it"));
  file_label_ = new QLabel(tr("No dump open"), this);
  file_label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  bar->addSeparator();
  bar->addWidget(file_label_);
  top->addWidget(bar);

  error_label_ = new QLabel(this);
  error_label_->setWordWrap(true);
  error_label_->setStyleSheet(QStringLiteral("color: #D55E00;"));
  error_label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_label_->hide();
  top->addWidget(error_label_);

  auto* split = new QSplitter(Qt::Horizontal, this);
  tree_ = new QTreeView(split);
  tree_->setModel(tree_model_);
  tree_->setUniformRowHeights(true);
  tree_->setAlternatingRowColors(true);
  tree_->header()->setStretchLastSection(false);
  // Whole names ("out_proj_in_exponent"): the tree scrolls sideways when narrow.
  for (int c = 0; c < DumpTreeModel::ColumnCount; ++c)
    tree_->header()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
  connect(tree_->selectionModel(), &QItemSelectionModel::currentChanged, this, [this](const QModelIndex& i) {
    if (const DumpDatasetInfo* d = tree_model_->datasetAt(i.siblingAtColumn(0))) {
      if (QString::fromStdString(d->name) != dataset_) selectDataset(QString::fromStdString(d->name));
    }
  });

  tabs_ = new QTabWidget(split);
  tabs_->setDocumentMode(true);
  // Heatmap: channels across, token rows down (row 0 on top), a diverging scale.
  heat_plot_ = makePlot(tabs_);
  heat_map_ = new QCPColorMap(heat_plot_->xAxis, heat_plot_->yAxis);
  heat_map_->setInterpolate(false);
  heat_map_->setGradient(diverging());
  heat_scale_ = new QCPColorScale(heat_plot_);
  heat_plot_->plotLayout()->addElement(1, 1, heat_scale_);
  heat_scale_->setType(QCPAxis::atRight);
  heat_scale_->axis()->setTickLabelColor(colors::text());
  heat_map_->setColorScale(heat_scale_);
  auto* group = new QCPMarginGroup(heat_plot_);
  heat_plot_->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
  heat_scale_->setMarginGroup(QCP::msBottom | QCP::msTop, group);
  heat_plot_->xAxis->setLabel(tr("channel"));
  heat_plot_->yAxis->setLabel(tr("token row"));
  heat_plot_->yAxis->setRangeReversed(true);
  heat_plot_->setToolTip(tr("Click a row to show its values, codes and error"));
  connect(heat_plot_, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
    if (!last_ || last_->info.rows() == 0) return;
    const double y = heat_plot_->yAxis->pixelToCoord(e->position().y());
    setSelectedRow(static_cast<qint64>(std::lround(y)));
  });
  tabs_->addTab(heat_plot_, tr("Heatmap"));

  hist_plot_ = makePlot(tabs_);
  hist_bars_ = new QCPBars(hist_plot_->xAxis, hist_plot_->yAxis);
  hist_bars_->setPen(Qt::NoPen);
  hist_bars_->setBrush(colors::accepted());
  hist_plot_->xAxis->setLabel(tr("value"));
  hist_plot_->yAxis->setLabel(tr("count"));
  tabs_->addTab(hist_plot_, tr("Histogram"));

  auto* channels = new QWidget(tabs_);
  auto* ch = new QHBoxLayout(channels);
  ch->setContentsMargins(0, 0, 0, 0);
  ch->setSpacing(2);
  auto make_absmax = [&](QCustomPlot*& plot, QCPBars*& bars, QCPGraph*& marks) {
    plot = makePlot(channels);
    bars = new QCPBars(plot->xAxis, plot->yAxis);
    bars->setPen(Qt::NoPen);
    bars->setBrush(colors::target());
    bars->setWidth(1.0);
    marks = plot->addGraph();
    marks->setLineStyle(QCPGraph::lsNone);
    marks->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssTriangle, colors::rejected(), colors::rejected(), 7));
    marks->setName(tr("outlier channel"));
    plot->xAxis->setLabel(tr("channel"));
    plot->yAxis->setLabel(tr("absmax"));
    ch->addWidget(plot);
  };
  make_absmax(absmax_plot_, absmax_bars_, outlier_marks_);
  make_absmax(twin_plot_, twin_bars_, twin_marks_);
  twin_plot_->hide();
  tabs_->addTab(channels, tr("Channels"));

  auto* values = new QWidget(tabs_);
  auto* vl = new QVBoxLayout(values);
  vl->setContentsMargins(2, 2, 2, 2);
  auto* rowbar = new QHBoxLayout;
  rowbar->addWidget(new QLabel(tr("Token row"), values));
  row_spin_ = new QSpinBox(values);
  row_spin_->setRange(0, 0);
  row_spin_->setKeyboardTracking(false);
  connect(row_spin_, &QSpinBox::valueChanged, this, [this](int v) { setSelectedRow(v); });
  rowbar->addWidget(row_spin_);
  quant_label_ = new QLabel(values);
  quant_label_->setWordWrap(true);
  rowbar->addWidget(quant_label_, 1);
  vl->addLayout(rowbar);
  table_ = new QTableView(values);
  table_->setModel(table_model_);
  table_->verticalHeader()->hide();
  table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 4);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  vl->addWidget(table_);
  tabs_->addTab(values, tr("Values"));

  auto* diff = new QWidget(tabs_);
  auto* dl = new QVBoxLayout(diff);
  dl->setContentsMargins(2, 2, 2, 2);
  diff_label_ = new QLabel(tr("Diff with… compares this dump with another one."), diff);
  diff_label_->setWordWrap(true);
  diff_label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  dl->addWidget(diff_label_);
  auto* dsplit = new QSplitter(Qt::Vertical, diff);
  diff_table_ = new QTableView(dsplit);
  diff_table_->setModel(diff_model_);
  diff_table_->verticalHeader()->hide();
  diff_table_->verticalHeader()->setDefaultSectionSize(diff_table_->fontMetrics().height() + 4);
  diff_table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  diff_table_->horizontalHeader()->setSectionResizeMode(DumpDiffModel::DatasetColumn, QHeaderView::Stretch);
  diff_table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  connect(diff_table_, &QTableView::clicked, this, [this](const QModelIndex& i) {
    selectDataset(i.siblingAtColumn(0).data(DumpDiffModel::DatasetRole).toString());
  });
  diff_plot_ = makePlot(dsplit);
  diff_map_ = new QCPColorMap(diff_plot_->xAxis, diff_plot_->yAxis);
  diff_map_->setInterpolate(false);
  diff_map_->setGradient(diverging());
  diff_scale_ = new QCPColorScale(diff_plot_);
  diff_plot_->plotLayout()->addElement(1, 1, diff_scale_);
  diff_scale_->axis()->setTickLabelColor(colors::text());
  diff_map_->setColorScale(diff_scale_);
  auto* dgroup = new QCPMarginGroup(diff_plot_);
  diff_plot_->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, dgroup);
  diff_scale_->setMarginGroup(QCP::msBottom | QCP::msTop, dgroup);
  diff_plot_->xAxis->setLabel(tr("channel"));
  diff_plot_->yAxis->setLabel(tr("token row"));
  diff_plot_->yAxis->setRangeReversed(true);
  dl->addWidget(dsplit, 1);
  tabs_->addTab(diff, tr("Diff"));

  split->addWidget(tree_);
  split->addWidget(tabs_);
  split->setStretchFactor(0, 0);
  split->setStretchFactor(1, 1);
  // Names and shapes in view; the plots get the rest (a narrow dock scrolls the tree sideways).
  split->setSizes({fontMetrics().horizontalAdvance(QStringLiteral("out_proj_in_exponent [512, 5120]")) + 48, 900});
  top->addWidget(split, 1);
  status_label_ = new QLabel(this);
  status_label_->setWordWrap(true);
  top->addWidget(status_label_);
}

QString DumpInspectorView::errorText() const { return error_label_->isVisible() || !error_label_->text().isEmpty() ? error_label_->text() : QString(); }

void DumpInspectorView::showError(const QString& message) {
  error_label_->setText(message);
  error_label_->show();
  emit errorShown(message);
}

void DumpInspectorView::clearError() {
  error_label_->clear();
  error_label_->hide();
}

bool DumpInspectorView::openDump(const QString& path, QString* error) {
  std::vector<DumpDatasetInfo> infos;
  try {
    // Metadata only: the attributes and the dataset list.
    const DumpReader r(QFile::encodeName(path).toStdString());
    infos = r.datasets();
  } catch (const std::exception& e) {
    const QString msg = tr("Cannot open dump: %1").arg(QString::fromUtf8(e.what()));
    if (error) *error = msg;
    showError(msg);
    return false;
  }
  worker_->cancelAll();
  clearError();
  path_ = path;
  infos_ = infos;
  dataset_.clear();
  last_.reset();
  diff_.reset();
  diff_path_.clear();
  diff_model_->setDiff({});
  diff_label_->setText(tr("Diff with… compares this dump with another one."));
  diff_map_->data()->clear();
  diff_plot_->replot();
  tree_model_->setDatasets(std::move(infos));
  tree_->expandToDepth(0);
  file_label_->setText(QFileInfo(path).fileName());
  file_label_->setToolTip(path);
  diff_action_->setEnabled(true);
  // The first tensor of the first layer, else the first dataset.
  QString first;
  for (const auto& d : infos_)
    if (d.name.rfind("/layers/", 0) == 0) {
      first = QString::fromStdString(d.name);
      break;
    }
  if (first.isEmpty() && !infos_.empty()) first = QString::fromStdString(infos_.front().name);
  emit dumpOpened(path);
  if (!first.isEmpty()) selectDataset(first);
  return true;
}

bool DumpInspectorView::selectDataset(const QString& dataset) {
  const QModelIndex i = tree_model_->indexOf(dataset);
  if (!i.isValid()) return false;
  dataset_ = dataset;
  {
    const QSignalBlocker block(tree_->selectionModel());
    tree_->selectionModel()->setCurrentIndex(i, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    tree_->scrollTo(i);
  }
  requestRead();
  return true;
}

qint64 DumpInspectorView::selectedRow() const { return row_spin_->value(); }

void DumpInspectorView::setSelectedRow(qint64 row) {
  if (!last_) return;
  row = std::clamp<qint64>(row, 0, std::max<qint64>(0, last_->info.rows() - 1));
  if (row_spin_->value() != row) {
    const QSignalBlocker block(row_spin_);
    row_spin_->setValue(static_cast<int>(row));
  }
  DumpTensorRequest q = last_->request;
  q.selected_row = row;
  q.row_only = true;
  worker_->readTensor(q);
}

void DumpInspectorView::requestRead() {
  if (path_.isEmpty() || dataset_.isEmpty()) return;
  DumpTensorRequest q;
  q.path = path_;
  q.dataset = dataset_;
  q.selected_row = last_ && last_->request.dataset == dataset_ ? row_spin_->value() : row_spin_->value();
  const QRect px = heat_plot_->axisRect()->rect();
  q.max_bin_cols = std::max(kMinBins, px.width());
  q.max_bin_rows = std::max(kMinBins, px.height());
  q.diff_path = diff_path_;
  status_label_->setText(tr("Reading %1…").arg(dataset_));
  worker_->readTensor(q);
}

void DumpInspectorView::drawHeatmap(QCustomPlot* plot, QCPColorMap* map, QCPColorScale* scale, const Heatmap& h,
                                    int64_t row0, const QString& title) {
  map->data()->setSize(static_cast<int>(h.bin_cols), static_cast<int>(h.bin_rows));
  if (h.bin_cols > 0 && h.bin_rows > 0) {
    map->data()->setRange(centres(0, h.bin_cols, h.col_step), centres(row0, h.bin_rows, h.row_step));
    double m = 0;
    for (int64_t br = 0; br < h.bin_rows; ++br)
      for (int64_t bc = 0; bc < h.bin_cols; ++bc) {
        const float v = h.at(br, bc);
        map->data()->setCell(static_cast<int>(bc), static_cast<int>(br), v);
        if (std::isfinite(v)) m = std::max(m, double(std::abs(v)));
      }
    if (m <= 0) m = 1;
    map->setDataRange(QCPRange(-m, m));  // symmetric: white is zero
    plot->xAxis->setRange(-0.5, double(h.cols) - 0.5);
    plot->yAxis->setRange(double(row0) - 0.5, double(row0 + h.rows) - 0.5);
  }
  (void)scale;
  setTitle(plot, title);
  plot->replot();
}

void DumpInspectorView::drawAbsmax(QCustomPlot* plot, QCPBars* bars, QCPGraph* marks, const std::vector<float>& a,
                                   const OutlierChannels& o, const QString& title, double ymax) {
  QVector<double> keys(static_cast<qsizetype>(a.size())), vals(keys.size());
  for (size_t c = 0; c < a.size(); ++c) {
    keys[c] = double(c);
    vals[c] = a[c];
  }
  bars->setData(keys, vals, true);
  QVector<double> mk, mv;
  for (int64_t c : o.channels) {
    mk << double(c);
    mv << double(a[static_cast<size_t>(c)]);
  }
  marks->setData(mk, mv, true);
  plot->xAxis->setRange(-0.5, double(a.size()) - 0.5);
  plot->yAxis->setRange(0, ymax > 0 ? ymax * 1.08 : 1.0);
  setTitle(plot, title);
  plot->replot();
}

void DumpInspectorView::showRowTable(const DumpTensorResult& r) {
  table_model_->setSlice(r.row);
  if (r.row.quantized()) {
    quant_label_->setText(tr("position %1 · %2-bit codes, group %3 · error max %4 (channel %5), rms %6, %7% of absmax")
                              .arg(r.row.position)
                              .arg(r.row.bits)
                              .arg(r.row.group)
                              .arg(num(r.quant.max_abs))
                              .arg(r.quant.at)
                              .arg(num(r.quant.rms))
                              .arg(num(100 * r.quant.rel)));
  } else {
    quant_label_->setText(tr("position %1 · not quantized (no codes in this dump)").arg(r.row.position));
  }
}

void DumpInspectorView::showResult(const DumpTensorResult& r) {
  if (r.request.path != path_ || r.request.dataset != dataset_) return;  // superseded
  last_ = r;
  clearError();
  const QString name = leafName(r.info.name);
  const int64_t row0 = std::clamp<int64_t>(r.request.row0, 0, r.info.rows());
  {
    const QSignalBlocker block(row_spin_);
    row_spin_->setRange(0, static_cast<int>(std::max<int64_t>(0, r.info.rows() - 1)));
    row_spin_->setValue(static_cast<int>(r.row.row < 0 ? 0 : r.row.row));
  }
  drawHeatmap(heat_plot_, heat_map_, heat_scale_, r.heatmap, row0,
              tr("%1 %2 (max |x| per %3×%4 bin)")
                  .arg(name, shapeText(r.info.shape))
                  .arg(r.heatmap.row_step)
                  .arg(r.heatmap.col_step));

  // Histogram.
  const Histogram& h = r.histogram;
  QVector<double> hk, hv;
  double hmax = 0;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    hk << h.lo + (double(i) + 0.5) * h.bin_width();
    hv << double(h.counts[i]);
    hmax = std::max(hmax, double(h.counts[i]));
  }
  hist_bars_->setWidth(h.bin_width());
  hist_bars_->setData(hk, hv, true);
  hist_plot_->xAxis->setRange(h.lo, h.hi > h.lo ? h.hi : h.lo + 1);
  hist_plot_->yAxis->setRange(0, hmax > 0 ? hmax * 1.08 : 1);
  setTitle(hist_plot_, tr("%1: %2 values, range [%3, %4]").arg(name).arg(h.total()).arg(num(h.lo), num(h.hi)));
  hist_plot_->replot();

  // Absmax; with a rotation twin, before (unrotated) on the left and after on the right, on one scale.
  double ymax = 0;
  for (float v : r.absmax) ymax = std::max(ymax, double(v));
  for (float v : r.twin_absmax) ymax = std::max(ymax, double(v));
  auto caption = [&](const QString& what, const OutlierChannels& o) {
    return tr("%1: %n outlier channel(s) > 6σ", nullptr, int(o.channels.size())).arg(what);
  };
  if (r.twin.isEmpty()) {
    twin_plot_->hide();
    drawAbsmax(absmax_plot_, absmax_bars_, outlier_marks_, r.absmax, r.outliers, caption(name, r.outliers), ymax);
  } else {
    twin_plot_->show();
    const bool twin_before = r.twin_is_unrotated;
    const QString before = tr("before rotation"), after = tr("after rotation");
    // absmax_plot_ always shows the selected tensor; its twin goes left when it is the unrotated one.
    auto* layout = static_cast<QHBoxLayout*>(absmax_plot_->parentWidget()->layout());
    layout->removeWidget(absmax_plot_);
    layout->removeWidget(twin_plot_);
    layout->addWidget(twin_before ? twin_plot_ : absmax_plot_);
    layout->addWidget(twin_before ? absmax_plot_ : twin_plot_);
    drawAbsmax(absmax_plot_, absmax_bars_, outlier_marks_, r.absmax, r.outliers,
               caption(name + " · " + (twin_before ? after : before), r.outliers), ymax);
    drawAbsmax(twin_plot_, twin_bars_, twin_marks_, r.twin_absmax, r.twin_outliers,
               caption(leafName(r.twin.toStdString()) + " · " + (twin_before ? before : after), r.twin_outliers),
               ymax);
  }
  showRowTable(r);

  if (!r.request.diff_path.isEmpty()) {
    if (!r.diff_error.isEmpty()) {
      diff_map_->data()->clear();
      setTitle(diff_plot_, r.diff_error);
      diff_plot_->replot();
    } else {
      drawHeatmap(diff_plot_, diff_map_, diff_scale_, r.diff, 0,
                  tr("%1: this − %2 (matched rows)").arg(name, QFileInfo(r.request.diff_path).fileName()));
    }
  }
  status_label_->setText(tr("%1 · read %2 of %3 rows in %4 ms · %5×%6 bins%7")
                             .arg(QString::fromStdString(r.info.name))
                             .arg(r.heatmap.rows_read)
                             .arg(r.heatmap.rows)
                             .arg(r.seconds * 1e3, 0, 'f', 1)
                             .arg(r.heatmap.bin_rows)
                             .arg(r.heatmap.bin_cols)
                             .arg(r.heatmap.sampled ? tr(" · sampled (leading rows of each bin)") : QString()));
  emit tensorShown(r.request.dataset);
}

bool DumpInspectorView::diffWith(const QString& other, double tol, QString* error) {
  QString msg;
  if (path_.isEmpty()) msg = tr("Open a dump first, then diff it with another one.");
  else
    try {
      const DumpReader r(QFile::encodeName(other).toStdString());
    } catch (const std::exception& e) {
      msg = tr("Cannot open dump: %1").arg(QString::fromUtf8(e.what()));
    }
  if (!msg.isEmpty()) {
    if (error) *error = msg;
    showError(msg);
    return false;
  }
  clearError();
  diff_path_ = other;
  diff_tol_ = tol;
  diff_.reset();
  diff_model_->setDiff({});
  diff_label_->setText(tr("Comparing with %1…").arg(QFileInfo(other).fileName()));
  worker_->diff(path_, other, tol);
  requestRead();  // the diff heatmap of the current tensor
  return true;
}

QString DumpInspectorView::diffSummaryText() const { return diff_ ? diff_label_->text() : QString(); }

void DumpInspectorView::showDiff(const DumpDiff& d) {
  diff_ = d;
  diff_model_->setDiff(d);
  QString text = tr("%1 vs %2: %3 common positions, %4 common datasets, tolerance %5. ")
                     .arg(QFileInfo(path_).fileName(), QFileInfo(diff_path_).fileName())
                     .arg(d.positions)
                     .arg(d.datasets.size())
                     .arg(diff_tol_);
  if (d.differs()) {
    text += tr("First difference (run order: token, then layer, then tensor): token position %1, ")
                .arg(d.first_position);
    if (d.first_layer >= 0) text += tr("layer %1, ").arg(d.first_layer);
    text += tr("%1 channel %2: %3 vs %4.")
                .arg(QString::fromStdString(d.first_dataset))
                .arg(d.first_col)
                .arg(num(d.first_a), num(d.first_b));
  } else {
    text += tr("No difference beyond the tolerance.");
  }
  if (d.first_token_mismatch >= 0) text += tr(" Token ids differ from position %1.").arg(d.first_token_mismatch);
  if (!d.only_a.empty() || !d.only_b.empty())
    text += tr(" %1 datasets only in this dump, %2 only in the other.").arg(d.only_a.size()).arg(d.only_b.size());
  diff_label_->setText(text);
  const int row = diff_model_->rowOf(QString::fromStdString(d.first_dataset));
  if (row >= 0) diff_table_->scrollTo(diff_model_->index(row, 0));
  emit diffShown();
}

void DumpInspectorView::browseOpen() {
  const QString p = QFileDialog::getOpenFileName(this, tr("Open activation dump"), QFileInfo(path_).absolutePath(),
                                                 tr("HDF5 dumps (*.h5 *.hdf5);;All files (*)"));
  if (!p.isEmpty()) openDump(p);
}

void DumpInspectorView::browseDiff() {
  const QString p = QFileDialog::getOpenFileName(this, tr("Diff with dump"), QFileInfo(path_).absolutePath(),
                                                 tr("HDF5 dumps (*.h5 *.hdf5);;All files (*)"));
  if (p.isEmpty()) return;
  if (diffWith(p)) tabs_->setCurrentIndex(tabs_->count() - 1);
}

bool DumpInspectorView::startDump(const DumpJobRequest& request) {
  clearError();
  if (!job_->start(request)) return false;
  dump_action_->setEnabled(false);
  status_label_->setText(tr("Writing dump %1…").arg(request.out_path));
  return true;
}

void DumpInspectorView::askDumpPrompt() {
  DumpJobRequest req = prompt_source_ ? prompt_source_() : DumpJobRequest{};
  if (req.out_path.isEmpty()) req.out_path = QDir::temp().filePath(QStringLiteral("specmamba-dump.h5"));
  QDialog dlg(this);
  dlg.setWindowTitle(tr("Dump current prompt"));
  auto* form = new QFormLayout(&dlg);
  auto* model = new QLineEdit(req.model_dir, &dlg);
  auto* prompt = new QLineEdit(req.prompt, &dlg);
  auto* tokens = new QSpinBox(&dlg);
  tokens->setRange(0, 100000);
  tokens->setValue(req.max_tokens);
  auto* layers = new QLineEdit(req.layers, &dlg);
  layers->setPlaceholderText(tr("all, or 0,3,5-7"));
  auto* rows = new QLineEdit(req.tokens, &dlg);
  rows->setPlaceholderText(tr("all, or 0-63"));
  auto* logits = new QCheckBox(tr("also the logits"), &dlg);
  logits->setChecked(req.logits);
  auto* out = new QLineEdit(req.out_path, &dlg);
  form->addRow(tr("Model directory"), model);
  form->addRow(tr("Prompt"), prompt);
  form->addRow(tr("Tokens to generate"), tokens);
  form->addRow(tr("Layers"), layers);
  form->addRow(tr("Token positions"), rows);
  form->addRow(QString(), logits);
  form->addRow(tr("Output file"), out);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dlg);
  connect(buttons, &QDialogButtonBox::accepted, &dlg, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, &dlg, &QDialog::reject);
  form->addRow(buttons);
  if (dlg.exec() != QDialog::Accepted) return;
  req.model_dir = model->text();
  req.prompt = prompt->text();
  req.max_tokens = tokens->value();
  req.layers = layers->text();
  req.tokens = rows->text();
  req.logits = logits->isChecked();
  req.out_path = out->text();
  startDump(req);
}

}  // namespace sm::ui
