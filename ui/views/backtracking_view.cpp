// SPDX-License-Identifier: Apache-2.0
#include "ui/views/backtracking_view.h"

#include <QComboBox>
#include <QFrame>
#include <QGridLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPainter>
#include <QScrollArea>
#include <QSlider>
#include <QStackedLayout>
#include <QTabWidget>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include <qcustomplot.h>

#include "ui/generation_types.h"
#include "ui/views/palette.h"
#include "ui/views/plot_style.h"

namespace sm::ui {

namespace {

constexpr int kScatterMaxSteps = 80;  // markers beyond this only clutter

QString bytes_text(int64_t b) { return format_bytes(uint64_t(std::max<int64_t>(0, b))); }

QString us_text(double us) {
  if (!std::isfinite(us)) return QStringLiteral("n/a");
  if (us >= 1000.0) return QString::number(us / 1000.0, 'f', 2) + QStringLiteral(" ms");
  return QString::number(us, 'f', us < 10 ? 2 : 1) + QStringLiteral(" µs");
}

QColor with_alpha(QColor c, int a) {
  c.setAlpha(a);
  return c;
}

// Byte-valued axis labels ("512 kB", "2.16 MB").
class BytesTicker : public QCPAxisTicker {
 protected:
  QString getTickLabel(double tick, const QLocale&, QChar, int) override {
    return tick < 0 ? QString() : bytes_text(int64_t(std::llround(tick)));
  }
};

}  // namespace

// Stored states (solid) and replay inputs (hatched) against a scale, with the
// budget as a dashed marker. The text next to it says the same in numbers.
class ByteBar : public QWidget {
 public:
  explicit ByteBar(QWidget* parent) : QWidget(parent) {
    setMinimumSize(60, 14);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
  }
  void set(QColor colour, int64_t states, int64_t inputs, int64_t scale, int64_t budget) {
    colour_ = colour, states_ = states, inputs_ = inputs, scale_ = scale, budget_ = budget;
    update();
  }
  void clear() { set(colour_, 0, 0, 0, -1); }
  QSize sizeHint() const override { return {160, 14}; }

 protected:
  void paintEvent(QPaintEvent*) override {
    QPainter p(this);
    const QRectF r = QRectF(rect()).adjusted(0.5, 0.5, -0.5, -0.5);
    p.fillRect(r, colors::base());
    if (scale_ > 0) {
      const double w = r.width() / double(scale_);
      const double xs = std::min(r.width(), states_ * w), xi = std::min(r.width() - xs, inputs_ * w);
      p.fillRect(QRectF(r.left(), r.top(), xs, r.height()), colour_);
      p.fillRect(QRectF(r.left() + xs, r.top(), xi, r.height()), QBrush(colour_, Qt::BDiagPattern));
      if (budget_ >= 0) {
        const double xb = r.left() + std::min(r.width(), budget_ * w);
        p.setPen(QPen(colors::text(), 2, Qt::DashLine));
        p.drawLine(QPointF(xb, r.top()), QPointF(xb, r.bottom()));
      }
    }
    p.setPen(colors::muted());
    p.setBrush(Qt::NoBrush);
    p.drawRect(r);
  }

 private:
  QColor colour_;
  int64_t states_ = 0, inputs_ = 0, scale_ = 0, budget_ = -1;
};

BacktrackingView::BacktrackingView(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("backtrackingView"));
  stack_ = new QStackedLayout(this);
  placeholder_ = new QLabel(this);
  placeholder_->setAlignment(Qt::AlignCenter);
  placeholder_->setWordWrap(true);
  placeholder_->setMargin(12);
  stack_->addWidget(placeholder_);

  auto* scroll = new QScrollArea(this);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  auto* content = new QWidget(scroll);
  scroll->setWidget(content);
  stack_->addWidget(scroll);
  auto* v = new QVBoxLayout(content);
  v->setContentsMargins(6, 6, 6, 6);
  v->setSpacing(4);

  // Top: the selected step, both models.
  header_ = new QLabel(content);
  header_->setWordWrap(true);
  QFont bold = header_->font();
  bold.setBold(true);
  header_->setFont(bold);
  v->addWidget(header_);
  auto* grid = new QGridLayout;
  grid->setHorizontalSpacing(8);
  grid->setVerticalSpacing(2);
  auto row = [&](int r, const QString& name, QColor c, ByteBar*& bar, QLabel*& text) {
    auto* l = new QLabel(QStringLiteral("<span style='color:%1'>■</span> %2").arg(c.name(), name), content);
    bar = new ByteBar(content);
    text = new QLabel(content);
    text->setWordWrap(true);
    text->setTextInteractionFlags(Qt::TextSelectableByMouse);
    grid->addWidget(l, r, 0);
    grid->addWidget(bar, r, 1);
    grid->addWidget(text, r, 2);
  };
  row(0, tr("Target"), colors::target(), target_bar_, target_text_);
  row(1, tr("Draft"), colors::draft(), draft_bar_, draft_text_);
  grid->setColumnStretch(1, 1);
  grid->setColumnStretch(2, 2);
  v->addLayout(grid);

  // Middle: the chart and the table.
  tabs_ = new QTabWidget(content);
  tabs_->setDocumentMode(true);
  plot_ = new QCustomPlot(tabs_);
  plot_->setObjectName(QStringLiteral("backtrackPlot"));
  tabs_->addTab(plot_, tr("Chart"));
  table_model_ = new BacktrackTableModel(this);
  table_ = new QTableView(tabs_);
  table_->setModel(table_model_);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->verticalHeader()->setVisible(false);
  table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 6);
  table_->horizontalHeader()->setStretchLastSection(false);
  for (int c = 0; c < BacktrackTableModel::ColumnCount; ++c) {
    // Sized from the header text, not the rows: cheap for any run length.
    const QString h = table_model_->headerData(c, Qt::Horizontal).toString();
    table_->setColumnWidth(c, std::max(72, table_->fontMetrics().horizontalAdvance(h) + 24));
  }
  tabs_->addTab(table_, tr("Table"));
  tabs_->setMinimumHeight(180);
  v->addWidget(tabs_, 1);
  connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          [this](const QModelIndex& cur) {
            if (cur.isValid() && cur.row() != step_) userStep(cur.row());
          });
  buildChart();

  // Bottom: the what-if.
  auto* box = new QFrame(content);
  box->setFrameShape(QFrame::StyledPanel);
  auto* w = new QGridLayout(box);
  w->setContentsMargins(6, 4, 6, 4);
  w->setVerticalSpacing(2);
  auto* title = new QLabel(tr("What-if, target:"), box);
  title->setFont(bold);
  policy_ = new QComboBox(box);
  policy_->setObjectName(QStringLiteral("whatIfPolicy"));
  for (BacktrackPolicy p : {BacktrackPolicy::Snapshot, BacktrackPolicy::Replay, BacktrackPolicy::Hybrid})
    policy_->addItem(QString::fromLatin1(backtrack_policy_name(p)), int(p));
  policy_->setToolTip(tr("Backtracking policy to recompute the target's cost with"));
  slider_ = new QSlider(Qt::Horizontal, box);
  slider_->setObjectName(QStringLiteral("whatIfBudget"));
  slider_->setMinimumWidth(80);
  slider_->setToolTip(tr("Hybrid budget for stored states, in whole layer states (a partial one stores nothing)"));
  budget_label_ = new QLabel(box);
  budget_label_->setMinimumWidth(budget_label_->fontMetrics().horizontalAdvance(QStringLiteral("000.0 kB / 00.00 MB")));
  auto* controls = new QHBoxLayout;
  controls->addWidget(title);
  controls->addWidget(policy_);
  controls->addWidget(slider_, 1);
  controls->addWidget(budget_label_);
  w->addLayout(controls, 0, 0, 1, 5);
  const QString figures[3] = {tr("peak state bytes"), tr("tokens replayed"), tr("backtrack time")};
  const QString rows[2] = {tr("recorded"), tr("what-if")};
  for (int f = 0; f < 3; ++f) {
    auto* h = new QLabel(figures[f], box);
    h->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
    w->addWidget(h, 1, f + 1);
  }
  for (int r = 0; r < 2; ++r) {
    w->addWidget(new QLabel(rows[r], box), r + 2, 0);
    for (int f = 0; f < 3; ++f) {
      totals_[f][r] = new QLabel(box);
      totals_[f][r]->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
      if (r == 1) totals_[f][r]->setFont(bold);
      w->addWidget(totals_[f][r], r + 2, f + 1);
    }
  }
  w->setColumnStretch(4, 1);  // figures stay next to their labels on wide windows
  w->setHorizontalSpacing(16);
  note_ = new QLabel(box);
  note_->setWordWrap(true);
  QPalette np = note_->palette();
  np.setColor(QPalette::WindowText, colors::muted());
  note_->setPalette(np);
  w->addWidget(note_, 4, 0, 1, 5);
  v->addWidget(box);

  connect(policy_, &QComboBox::currentIndexChanged, this, [this] { recomputeWhatIf(); });
  connect(slider_, &QSlider::valueChanged, this, [this] { recomputeWhatIf(); });
  setRun(nullptr);
}

BacktrackingView::~BacktrackingView() = default;

bool BacktrackingView::eventFilter(QObject* watched, QEvent* event) {
  if (watched == plot_ && event->type() == QEvent::Resize) {
    // As many legend columns as fit: one row at 1200 px, three at 480.
    const int cols = std::clamp(plot_->width() / 140, 1, 8);
    if (plot_->legend->wrap() != cols) {
      plot_->legend->setWrap(cols);
      plot_->legend->setFillOrder(plot_->legend->fillOrder(), true);  // rearranges to the new wrap
      plot_->replot(QCustomPlot::rpQueuedReplot);
    }
  }
  return QWidget::eventFilter(watched, event);
}

void BacktrackingView::buildChart() {
  QCustomPlot* p = plot_;
  apply_plot_palette(p);
  for (QCPAxis* a : {p->xAxis, p->yAxis, p->yAxis2})
    a->grid()->setPen(QPen(with_alpha(colors::muted(), 60), 1, Qt::DotLine));
  p->yAxis2->grid()->setVisible(false);
  p->yAxis2->setVisible(true);
  p->xAxis->setLabel(tr("speculative step"));
  p->yAxis->setLabel(tr("bytes kept"));
  p->yAxis2->setLabel(tr("tokens replayed"));
  p->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new BytesTicker));
  QSharedPointer<QCPAxisTickerFixed> x_ticker(new QCPAxisTickerFixed);
  x_ticker->setTickStep(1.0);  // whole steps only
  x_ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
  p->xAxis->setTicker(x_ticker);
  QSharedPointer<QCPAxisTicker> y2_ticker(new QCPAxisTicker);
  p->yAxis2->setTicker(y2_ticker);
  p->yAxis2->setNumberFormat(QStringLiteral("f"));
  p->yAxis2->setNumberPrecision(0);

  // Bars first so the lines draw over them.
  b_target_ = new QCPBars(p->xAxis, p->yAxis2);
  b_target_->setName(tr("target replayed"));
  b_target_->setPen(QPen(colors::target(), 1));
  b_target_->setBrush(with_alpha(colors::target(), 90));
  b_draft_ = new QCPBars(p->xAxis, p->yAxis2);
  b_draft_->setName(tr("draft replayed"));
  b_draft_->setPen(QPen(colors::draft(), 1));
  b_draft_->setBrush(QBrush(colors::draft(), Qt::BDiagPattern));
  auto* group = new QCPBarsGroup(p);
  group->setSpacingType(QCPBarsGroup::stAbsolute);
  group->setSpacing(0);
  b_target_->setWidth(0.4);
  b_draft_->setWidth(0.4);
  b_target_->setBarsGroup(group);
  b_draft_->setBarsGroup(group);

  auto graph = [&](const QString& name, QPen pen) {
    QCPGraph* g = p->addGraph(p->xAxis, p->yAxis);
    g->setName(name);
    g->setPen(pen);
    return g;
  };
  g_target_ = graph(tr("target kept"), QPen(colors::target(), 2));
  g_draft_ = graph(tr("draft kept"), QPen(colors::draft(), 2));
  g_budget_ = graph(tr("budget (recorded)"), QPen(colors::text(), 1.5, Qt::DashLine));
  g_what_if_budget_ = graph(tr("what-if budget"), QPen(colors::backtrack(), 1.5, Qt::DotLine));
  g_what_if_ = graph(tr("what-if kept"), QPen(colors::backtrack(), 2.5, Qt::DashDotLine));
  g_what_if_rep_ = p->addGraph(p->xAxis, p->yAxis2);
  g_what_if_rep_->setName(tr("what-if replayed"));
  g_what_if_rep_->setLineStyle(QCPGraph::lsNone);
  g_what_if_rep_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCross, colors::backtrack(), 7));
  g_what_if_rep_->setPen(QPen(colors::backtrack(), 1.5));

  cursor_ = new QCPItemStraightLine(p);
  cursor_->setPen(QPen(colors::highlight(), 2));
  cursor_->setSelectable(false);

  // Legend above the axis rect, in columns, so it never hides data.
  p->legend->setVisible(true);
  p->legend->setBrush(colors::base());
  p->legend->setBorderPen(Qt::NoPen);
  p->legend->setTextColor(colors::text());
  QFont lf = font();
  lf.setPointSizeF(std::max(7.0, lf.pointSizeF() - 1));
  p->legend->setFont(lf);
  p->legend->setFillOrder(QCPLegend::foColumnsFirst);
  p->legend->setWrap(8);  // adapted to the width on resize (eventFilter)
  p->legend->setIconSize(18, 10);
  p->legend->setRowSpacing(0);
  p->plotLayout()->insertRow(0);
  p->plotLayout()->addElement(0, 0, p->legend);
  p->plotLayout()->setRowStretchFactor(0, 0.001);
  p->legend->setMargins(QMargins(4, 2, 4, 0));

  // An explicit minimum: the legend's own would widen the whole view.
  p->setMinimumSize(200, 150);
  p->installEventFilter(this);

  p->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  p->axisRect()->setRangeDrag(Qt::Horizontal);
  p->axisRect()->setRangeZoom(Qt::Horizontal);
  connect(p->xAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this, [this](const QCPRange& r) {
    // Keep the view on the run: no panning into empty space.
    const double n = double(xs_.size());
    if (n == 0) return;
    QCPRange c = r;
    const double lo = -0.5, hi = n - 0.5;
    if (c.size() > hi - lo) c = QCPRange(lo, hi);
    if (c.lower < lo) c = QCPRange(lo, lo + c.size());
    if (c.upper > hi) c = QCPRange(hi - c.size(), hi);
    if (c != r) plot_->xAxis->setRange(c);
  });
  connect(p, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
    pressed_ = e->button() == Qt::LeftButton;
    press_pos_ = e->pos();
  });
  connect(p, &QCustomPlot::mouseRelease, this, [this](QMouseEvent* e) {
    if (!pressed_ || e->button() != Qt::LeftButton) return;
    pressed_ = false;
    if ((e->pos() - press_pos_).manhattanLength() <= 4) onPlotRelease(e->pos());
  });
  install_chart_export(plot_, QStringLiteral("backtracking"), [this] { return chartCsv(); },
                       [this] { resetZoom(); });
}

void BacktrackingView::setRun(std::shared_ptr<const RunRecord> run) {
  const bool same = run && run_ && run->name == run_->name;
  run_ = std::move(run);
  table_model_->setRun(run_);
  QString why;
  if (!run_) why = tr("No speculative run yet: generate with a tree, or File > Open Trace");
  else if (!run_->settings.speculative())
    why = tr("Backtracking needs a speculative run: this run is target-only. Generate with a draft "
             "model and a tree to see both models return to the last accepted node.");
  else if (run_->steps.empty())
    why = tr("No speculative steps recorded yet.");
  placeholder_->setText(why);
  if (!why.isEmpty()) {
    model_ = BacktrackWhatIf();
    what_if_.clear();
    xs_.clear();
    step_ = -1;
    stack_->setCurrentIndex(0);
    return;
  }
  stack_->setCurrentIndex(1);
  model_ = BacktrackWhatIf(run_);
  const int n = int(run_->steps.size());
  if (step_ < 0 || step_ >= n || !same) step_ = 0;

  // What-if controls start at the recorded configuration.
  {
    const QSignalBlocker b1(policy_), b2(slider_);
    const bool ok = model_.available();
    policy_->setEnabled(ok);
    const int64_t s = run_->target_geometry.layer_state_bytes;
    const int cells = ok ? int(model_.full_budget() / s) : 0;
    if (!same || !ok) {
      policy_->setCurrentIndex(policy_->findData(int(ok ? model_.recorded_policy() : BacktrackPolicy::Snapshot)));
      slider_->setRange(0, cells);
      const int64_t budget = model_.recorded_policy() == BacktrackPolicy::Hybrid
                                 ? model_.recorded_budget()
                                 : model_.full_budget() / 2;
      slider_->setValue(ok ? int(std::min<int64_t>(cells, budget / s)) : 0);
    } else {
      slider_->setRange(0, cells);
    }
    slider_->setSingleStep(1);
    slider_->setPageStep(std::max(1, run_->target_geometry.n_layer));
  }
  fillChart();
  recomputeWhatIf();
  if (!same) resetZoom();
  updateStepPanel();
  updateSelectionLine();
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

void BacktrackingView::fillChart() {
  const auto& steps = run_->steps;
  const size_t n = steps.size();
  xs_.resize(n), t_kept_.resize(n), d_kept_.resize(n), t_rep_.resize(n), d_rep_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    xs_[i] = double(i);
    const BacktrackRecord& t = steps[i].target_backtrack;
    const BacktrackRecord& d = steps[i].draft_backtrack;
    t_kept_[i] = t.present ? double(t.bytes_kept) : qQNaN();
    d_kept_[i] = d.present ? double(d.bytes_kept) : qQNaN();
    t_rep_[i] = t.present ? t.replayed : 0;
    d_rep_[i] = d.present ? d.replayed : 0;
  }
  auto vec = [](const std::vector<double>& v) { return QVector<double>(v.begin(), v.end()); };
  const QVector<double> x = vec(xs_);
  g_target_->setData(x, vec(t_kept_), true);
  g_draft_->setData(x, vec(d_kept_), true);
  b_target_->setData(x, vec(t_rep_), true);
  b_draft_->setData(x, vec(d_rep_), true);
  const bool markers = n <= size_t(kScatterMaxSteps);
  g_target_->setScatterStyle(markers ? QCPScatterStyle(QCPScatterStyle::ssCircle, 5) : QCPScatterStyle());
  g_draft_->setScatterStyle(markers ? QCPScatterStyle(QCPScatterStyle::ssSquare, 5) : QCPScatterStyle());
  const bool hybrid = run_->settings.backtrack == QLatin1String("hybrid");
  recorded_budget_ = hybrid ? double(run_->settings.budget) : -1;
  g_budget_->setVisible(hybrid);
  g_budget_->removeFromLegend();
  if (hybrid) {
    g_budget_->setData({-0.5, double(n) - 0.5}, {recorded_budget_, recorded_budget_}, true);
    g_budget_->addToLegend();
  }
}

BacktrackPolicy BacktrackingView::whatIfPolicy() const {
  return static_cast<BacktrackPolicy>(policy_->currentData().toInt());
}

int64_t BacktrackingView::whatIfBudget() const {
  if (!run_) return 0;
  return int64_t{slider_->value()} * run_->target_geometry.layer_state_bytes;
}

WhatIfTotals BacktrackingView::whatIfTotals() const {
  return what_if_totals(what_if_, run_ ? run_->target_geometry.n_layer : 0);
}

void BacktrackingView::recomputeWhatIf() {
  if (!run_ || xs_.empty()) return;
  const BacktrackPolicy p = whatIfPolicy();
  const bool ok = model_.available();
  slider_->setEnabled(ok && p == BacktrackPolicy::Hybrid);
  what_if_ = ok ? model_.recompute(p, whatIfBudget()) : std::vector<WhatIfStep>{};
  const int L = run_->target_geometry.n_layer;
  w_kept_.assign(what_if_.size(), 0);
  w_rep_.assign(what_if_.size(), 0);
  for (size_t i = 0; i < what_if_.size(); ++i) {
    w_kept_[i] = double(what_if_[i].bytes_kept());
    w_rep_[i] = replayed_tokens(what_if_[i].replayed_steps, L);
  }
  const QVector<double> x(xs_.begin(), xs_.begin() + qsizetype(what_if_.size()));
  g_what_if_->setData(x, QVector<double>(w_kept_.begin(), w_kept_.end()), true);
  g_what_if_rep_->setData(x, QVector<double>(w_rep_.begin(), w_rep_.end()), true);
  g_what_if_->setVisible(ok);
  g_what_if_rep_->setVisible(ok);
  const bool budget_line = ok && p == BacktrackPolicy::Hybrid;
  what_if_budget_line_ = budget_line ? double(whatIfBudget()) : -1;
  g_what_if_budget_->setVisible(budget_line);
  g_what_if_budget_->removeFromLegend();
  if (budget_line) {
    g_what_if_budget_->setData({-0.5, double(xs_.size()) - 0.5}, {what_if_budget_line_, what_if_budget_line_}, true);
    g_what_if_budget_->addToLegend();
  }
  for (QCPGraph* g : {g_what_if_, g_what_if_rep_}) {
    if (ok) g->addToLegend();
    else g->removeFromLegend();
  }
  updateBudgetLabel();

  // Totals: recorded (measured) vs what-if (recomputed, time estimated).
  const std::vector<WhatIfStep>& rec = model_.recorded();
  int64_t rec_peak = -1, rec_tokens = 0;
  double rec_us = 0;
  for (size_t i = 0; i < run_->steps.size(); ++i) {
    const BacktrackRecord& b = run_->steps[i].target_backtrack;
    if (!b.present) continue;
    rec_tokens += b.replayed;
    rec_us += b.us;
    // The split into states and inputs is known where the recomputation reproduces the record.
    if (i < rec.size() && rec[i].bytes_kept() == b.bytes_kept) rec_peak = std::max(rec_peak, rec[i].state_bytes);
  }
  totals_[0][0]->setText(rec_peak >= 0 ? bytes_text(rec_peak) : QStringLiteral("n/a"));
  totals_[1][0]->setText(tr("%1 tok").arg(rec_tokens));
  totals_[2][0]->setText(us_text(rec_us));
  totals_[2][0]->setToolTip(tr("Measured: the sum of the target's recorded backtrack times"));
  if (!ok) {
    for (int f = 0; f < 3; ++f) totals_[f][1]->setText(QStringLiteral("n/a"));
    note_->setText(tr("What-if needs the run's tree shape and the target's state geometry (trace "
                      "metadata); this trace has neither. The draft is shown as recorded."));
  } else {
    const WhatIfTotals t = whatIfTotals();
    totals_[0][1]->setText(bytes_text(t.peak_state_bytes));
    totals_[1][1]->setText(tr("%1 tok").arg(t.replayed_tokens));
    totals_[2][1]->setText(std::isfinite(t.total_us) ? QStringLiteral("≈ ") + us_text(t.total_us)
                                                     : QStringLiteral("n/a"));
    QString reason;
    for (const WhatIfStep& s : what_if_)
      if (!std::isfinite(s.est_us) && (reason = model_.time_unknown_reason(s)).size()) break;
    const BacktrackTimeModel& m = model_.time_model();
    QString fit;
    if (m.valid()) {
      fit = tr("Time model, least squares over %1 recorded steps: %2").arg(m.samples).arg(us_text(m.intercept_us));
      if (m.replay_free) fit += tr(" + %1 per replayed (node, layer)").arg(us_text(m.per_replay_us));
      else fit += tr(" (always %1 replayed (node, layer) here)").arg(m.pinned_replay);
      if (m.copy_free) fit += tr(" + %1 per layer restored from a stored state").arg(us_text(m.per_copy_us));
      else fit += tr(" (always %1 layers restored here)").arg(m.pinned_copy);
      if (std::isfinite(m.r2)) fit += tr(" (R² %1)").arg(m.r2, 0, 'f', 2);
      if (m.outliers > 0) fit += m.outliers == 1 ? tr("; 1 outlier step left out")
                                  : tr("; %1 outlier steps left out").arg(m.outliers);
    }
    totals_[2][1]->setToolTip(reason.isEmpty() ? fit : reason);
    QString note = tr("Recomputed from the recorded trees, no model run. The draft is shown as recorded: "
                      "its policy runs inside the drafter.");
    if (!reason.isEmpty()) note += QLatin1Char(' ') + tr("Time n/a: %1.").arg(reason);
    else if (!fit.isEmpty()) note += QLatin1Char(' ') + fit + QLatin1Char('.');
    note_->setText(note);
  }
  updateYRanges();
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

void BacktrackingView::updateBudgetLabel() {
  if (!model_.available()) {
    budget_label_->setText(tr("n/a"));
    return;
  }
  const QString full = bytes_text(model_.full_budget());
  switch (whatIfPolicy()) {
    case BacktrackPolicy::Hybrid:
      budget_label_->setText(QStringLiteral("%1 / %2").arg(bytes_text(whatIfBudget()), full));
      budget_label_->setToolTip(tr("%1 layer states of %2 (every node's state: %3)")
                                    .arg(slider_->value())
                                    .arg(slider_->maximum())
                                    .arg(full));
      break;
    case BacktrackPolicy::Snapshot:
      budget_label_->setText(tr("all: %1").arg(full));
      budget_label_->setToolTip(tr("Snapshot stores every node state; the budget is not used"));
      break;
    case BacktrackPolicy::Replay:
      budget_label_->setText(tr("none stored"));
      budget_label_->setToolTip(tr("Replay stores no state; the budget is not used"));
      break;
  }
}

void BacktrackingView::updateYRanges() {
  double hi = 0, hi2 = 0;
  for (const auto* v : {&t_kept_, &d_kept_, &w_kept_})
    for (double x : *v)
      if (std::isfinite(x)) hi = std::max(hi, x);
  hi = std::max({hi, recorded_budget_, what_if_budget_line_});
  for (const auto* v : {&t_rep_, &d_rep_, &w_rep_})
    for (double x : *v) hi2 = std::max(hi2, x);
  plot_->yAxis->setRange(0, hi > 0 ? hi * 1.12 : 1);
  plot_->yAxis2->setRange(0, std::max(1.0, hi2) * 1.12);
  plot_->yAxis2->ticker()->setTickCount(std::min(5, int(std::max(1.0, hi2))));
}

void BacktrackingView::setStep(int step) {
  if (!run_ || run_->steps.empty()) return;
  const int s = std::clamp(step, 0, int(run_->steps.size()) - 1);
  if (s == step_) return;
  step_ = s;
  updateStepPanel();
  updateSelectionLine();
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

void BacktrackingView::userStep(int step) {
  const int before = step_;
  setStep(step);
  if (step_ != before) emit stepSelected(step_);
}

void BacktrackingView::updateSelectionLine() {
  const bool on = step_ >= 0 && !xs_.empty();
  cursor_->setVisible(on);
  if (on) {
    cursor_->point1->setCoords(step_, 0);
    cursor_->point2->setCoords(step_, 1);
    // Keep the selected step in view when it moves programmatically.
    const QCPRange r = plot_->xAxis->range();
    if (step_ < r.lower || step_ > r.upper) {
      const double half = r.size() / 2;
      plot_->xAxis->setRange(step_ - half, step_ + half);
    }
  }
  if (table_->currentIndex().row() != step_ && step_ >= 0) {
    const QSignalBlocker b(table_->selectionModel());
    table_->selectionModel()->setCurrentIndex(table_model_->index(step_, 0),
                                              QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    table_->viewport()->update();
  }
}

void BacktrackingView::updateStepPanel() {
  if (!run_ || step_ < 0 || step_ >= int(run_->steps.size())) {
    header_->clear();
    target_text_->clear();
    draft_text_->clear();
    target_bar_->clear();
    draft_bar_->clear();
    return;
  }
  const StepRecord& s = run_->steps[size_t(step_)];
  const RunSettings& set = run_->settings;
  const bool hybrid = set.backtrack == QLatin1String("hybrid");
  QString policy = s.target_backtrack.present ? s.target_backtrack.policy : set.backtrack;
  if (hybrid) policy += tr(", budget %1").arg(bytes_text(set.budget));
  header_->setText(tr("Step %1 of %2 · %3 accepted · %4").arg(step_).arg(run_->steps.size() - 1)
                       .arg(s.accepted).arg(policy));

  const int64_t budget = hybrid ? set.budget : -1;
  // Target: stored states and inputs split by the recomputation of the
  // recorded configuration (it reproduces the record, see the tests).
  const BacktrackRecord& t = s.target_backtrack;
  if (!t.present) {
    target_bar_->clear();
    target_text_->setText(tr("not recorded"));
  } else {
    const std::vector<WhatIfStep>& rec = model_.recorded();
    const bool split = size_t(step_) < rec.size() && rec[size_t(step_)].bytes_kept() == t.bytes_kept;
    const int64_t scale = std::max({model_.available() ? model_.full_budget() : 0, t.bytes_kept, budget});
    QString text;
    if (split) {
      const WhatIfStep& w = rec[size_t(step_)];
      target_bar_->set(colors::target(), w.state_bytes, w.input_bytes, scale, budget);
      text = tr("%1 states + %2 inputs").arg(bytes_text(w.state_bytes), bytes_text(w.input_bytes));
    } else {
      target_bar_->set(colors::target(), 0, t.bytes_kept, scale, budget);
      text = tr("%1 kept (states + inputs)").arg(bytes_text(t.bytes_kept));
    }
    if (budget >= 0) text += tr(" · budget %1").arg(bytes_text(budget));
    text += tr(" · %1 tok replayed · %2").arg(t.replayed).arg(us_text(t.us));
    target_text_->setText(text);
    target_bar_->setToolTip(tr("Solid: stored states; hatched: replay inputs; dashed: budget. Full bar: %1")
                                .arg(bytes_text(scale)));
  }
  const BacktrackRecord& d = s.draft_backtrack;
  if (!d.present) {
    draft_bar_->clear();
    draft_text_->setText(tr("not recorded"));
  } else {
    // The draft's record does not split states from inputs: one hatched
    // span, against the largest the run kept.
    int64_t most = 0;
    for (const StepRecord& r : run_->steps) most = std::max(most, r.draft_backtrack.bytes_kept);
    const int64_t scale = std::max(most, budget);
    draft_bar_->set(colors::draft(), 0, d.bytes_kept, scale, budget);
    QString text = tr("%1 kept (states + inputs)").arg(bytes_text(d.bytes_kept));
    if (budget >= 0) text += tr(" · budget %1").arg(bytes_text(budget));
    text += tr(" · %1 tok replayed · %2").arg(d.replayed).arg(us_text(d.us));
    draft_text_->setText(text);
    draft_bar_->setToolTip(tr("As recorded (states + inputs); dashed: budget. Full bar: %1").arg(bytes_text(scale)));
  }
}

void BacktrackingView::resetZoom() {
  if (xs_.empty()) return;
  plot_->xAxis->setRange(-0.5, double(xs_.size()) - 0.5);
  updateYRanges();
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

int BacktrackingView::stepAtPixel(double x) const {
  if (xs_.empty()) return -1;
  const double c = plot_->xAxis->pixelToCoord(x);
  return std::clamp(int(std::lround(c)), 0, int(xs_.size()) - 1);
}

void BacktrackingView::onPlotRelease(const QPoint& pos) {
  if (xs_.empty() || !plot_->axisRect()->rect().contains(pos)) return;
  userStep(stepAtPixel(pos.x()));
}

QPoint BacktrackingView::stepPoint(int step) const {
  if (step < 0 || step >= int(xs_.size())) return {};
  const QRect r = plot_->axisRect()->rect();
  const int x = int(std::lround(plot_->xAxis->coordToPixel(step)));
  if (x < r.left() || x > r.right()) return {};
  return {x, r.center().y()};
}

CsvTable BacktrackingView::chartCsv() const {
  CsvTable t;
  t.header = {QStringLiteral("step"),
              QStringLiteral("target_kept_bytes"),
              QStringLiteral("draft_kept_bytes"),
              QStringLiteral("recorded_budget_bytes"),
              QStringLiteral("target_replayed_tokens"),
              QStringLiteral("draft_replayed_tokens"),
              QStringLiteral("what_if_target_kept_bytes"),
              QStringLiteral("what_if_target_replayed_tokens"),
              QStringLiteral("what_if_budget_bytes")};
  auto num = [](double v) { return std::isfinite(v) ? QString::number(v, 'g', 15) : QString(); };
  for (size_t i = 0; i < xs_.size(); ++i) {
    const bool w = i < w_kept_.size();
    t.rows.push_back({QString::number(i), num(t_kept_[i]), num(d_kept_[i]),
                      recorded_budget_ >= 0 ? num(recorded_budget_) : QString(), num(t_rep_[i]), num(d_rep_[i]),
                      w ? num(w_kept_[i]) : QString(), w ? num(w_rep_[i]) : QString(),
                      what_if_budget_line_ >= 0 ? num(what_if_budget_line_) : QString()});
  }
  return t;
}

bool BacktrackingView::showingPlaceholder() const { return stack_->currentIndex() == 0; }
QString BacktrackingView::placeholderText() const { return placeholder_->text(); }

QString BacktrackingView::stepText() const {
  return header_->text() + QLatin1Char('\n') + tr("Target: ") + target_text_->text() + QLatin1Char('\n') +
         tr("Draft: ") + draft_text_->text();
}

QString BacktrackingView::totalsText() const {
  const QString names[3] = {tr("peak state bytes"), tr("tokens replayed"), tr("backtrack time")};
  QStringList lines;
  for (int f = 0; f < 3; ++f)
    lines << QStringLiteral("%1: recorded %2, what-if %3").arg(names[f], totals_[f][0]->text(), totals_[f][1]->text());
  return lines.join(QLatin1Char('\n'));
}

}  // namespace sm::ui
