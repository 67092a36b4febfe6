// SPDX-License-Identifier: Apache-2.0
#include "ui/views/pipeline_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHelpEvent>
#include <QLabel>
#include <QMouseEvent>
#include <QScrollArea>
#include <QScrollBar>
#include <QSpinBox>
#include <QSplitter>
#include <QStackedLayout>
#include <QTextDocument>
#include <QToolButton>
#include <QToolTip>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <set>

#include <qcustomplot.h>

#include "ui/views/palette.h"
#include "ui/views/plot_style.h"

namespace sm::ui {

namespace {

constexpr double kPredictedHalf = 0.36;  // bar half heights, in lanes
constexpr double kMeasuredHalf = 0.15;
constexpr int kClickSlopPx = 4;          // a press and release closer than this is a click
constexpr int kNarrowPx = 720;           // below this the figures go under the chart
constexpr double kMinSpanUs = 1e-3;      // deepest zoom: a nanosecond
constexpr int kOutlineMinPx = 6;         // narrower measured bars are drawn without an outline
constexpr double kTopLane = -1.0;        // the y range starts above the DMA lane: room for the band labels

// Units of the dataflow model, each its own colour (Okabe-Ito first, then
// tints): DMA bars take the colour of the op whose bytes they move.
QColor unit_color(const QString& unit) {
  static const std::pair<const char*, QColor> table[] = {
      {"in_proj", QColor(0x00, 0x72, 0xB2)},    {"out_proj", QColor(0x56, 0xB4, 0xE9)},
      {"x_proj", QColor(0x33, 0x8E, 0xC8)},     {"dt_proj", QColor(0x7F, 0xA7, 0xD9)},
      {"lm_head", QColor(0x3C, 0x3C, 0x9E)},    {"rmsnorm", QColor(0x99, 0x99, 0x99)},
      {"gated_norm", QColor(0xB0, 0x8F, 0x5C)}, {"hadamard", QColor(0xE6, 0x9F, 0x00)},
      {"conv", QColor(0x00, 0x9E, 0x73)},       {"ssm", QColor(0xD5, 0x5E, 0x00)},
      {"verify", QColor(0xF0, 0xE4, 0x42)},     {"backtrack", QColor(0xCC, 0x79, 0xA7)},
  };
  for (const auto& [name, c] : table)
    if (unit == QLatin1String(name)) return c;
  return QColor::fromHsv(int(qHash(unit) % 360), 110, 190);  // stable for units the table lacks
}

QString lane_key(PipeLane lane) { return pipe_lane_name(lane); }

QString percent(double share) { return QStringLiteral("%1%").arg(share * 100, 0, 'f', 0); }

// The label under the chart has room for a line or two: the tooltip keeps the line breaks.
QString oneLine(QString s) { return s.replace(QLatin1Char('\n'), QStringLiteral(" — ")); }

QString model_name(ModelRole r) { return r == ModelRole::Draft ? QStringLiteral("draft") : QStringLiteral("target"); }

}  // namespace

// Draws the model's bars with one fillRect each (cheaper than QCPBars per
// lane and unit); keys are in the view's time unit.
class PipelineBarsPlottable : public QCPAbstractPlottable {
 public:
  PipelineBarsPlottable(QCPAxis* key, QCPAxis* value) : QCPAbstractPlottable(key, value) {
    setSelectable(QCP::stNone);
  }
  void setModel(const PipelineModel* m, double scale, int selected) {
    model_ = m;
    scale_ = scale;
    selected_ = selected;
  }
  double selectTest(const QPointF&, bool, QVariant*) const override { return -1; }
  QCPRange getKeyRange(bool& found, QCP::SignDomain) const override {
    found = model_ && !model_->bars().empty();
    return found ? QCPRange(0, model_->stepEndUs() * scale_) : QCPRange();
  }
  QCPRange getValueRange(bool& found, QCP::SignDomain, const QCPRange&) const override {
    found = true;
    return QCPRange(-0.5, kPipeLanes - 0.5);
  }

 protected:
  void draw(QCPPainter* painter) override {
    if (!model_) return;
    const QRect clip = clipRect();
    const auto& bars = model_->bars();
    painter->setAntialiasing(false);
    // Predicted first, measured on top, the selection last.
    for (int pass = 0; pass < 3; ++pass) {
      for (int i = 0; i < int(bars.size()); ++i) {
        const PipeBar& b = bars[size_t(i)];
        const bool measured = b.source == PipeSource::Measured;
        if ((pass == 0 && measured) || (pass == 1 && !measured) || (pass == 2 && i != selected_)) continue;
        const QRectF r = rectOf(b);
        if (r.right() < clip.left() || r.left() > clip.right()) continue;
        if (pass == 2) {
          painter->setPen(QPen(colors::highlight(), 2));
          painter->setBrush(Qt::NoBrush);
          painter->drawRect(r.adjusted(-2, -2, 2, 2));
          continue;
        }
        const QColor c = unit_color(b.unit);
        QColor pale = c;
        pale.setAlpha(measured ? 150 : 80);
        const QRect whole = r.toAlignedRect();
        painter->fillRect(whole, pale);
        // The active share from the op's start: solid.
        const double span = b.span_us();
        const double share = span > 0 ? b.active_us / span : 1.0;
        QRect active = whole;
        active.setWidth(std::max(1, int(std::lround(whole.width() * share))));
        painter->fillRect(active, c);
        if (measured && whole.width() >= kOutlineMinPx) {
          // An outline in the unit's own darker shade: short ops stay in their colour.
          painter->setPen(QPen(c.darker(170), 1));
          painter->setBrush(Qt::NoBrush);
          painter->drawRect(whole.adjusted(0, 0, -1, -1));
        }
      }
    }
  }
  void drawLegendIcon(QCPPainter* painter, const QRectF& rect) const override {
    painter->fillRect(rect, unit_color(QStringLiteral("in_proj")));
  }

 public:
  QRectF rectOf(const PipeBar& b) const {
    QCPAxis* kx = keyAxis();
    QCPAxis* vy = valueAxis();
    const double yc = vy->coordToPixel(int(b.lane));
    const double half = std::abs(vy->coordToPixel(int(b.lane) + (b.source == PipeSource::Measured ? kMeasuredHalf
                                                                                                   : kPredictedHalf)) -
                                 yc);
    double x0 = kx->coordToPixel(b.start_us * scale_), x1 = kx->coordToPixel(b.end_us * scale_);
    if (x1 - x0 < 1) x1 = x0 + 1;  // a short op stays visible as a tick
    return QRectF(QPointF(x0, yc - half), QPointF(x1, yc + half));
  }

 private:
  const PipelineModel* model_ = nullptr;
  double scale_ = 1;
  int selected_ = -1;
};

PipelineView::PipelineView(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("pipelineView"));
  stack_ = new QStackedLayout(this);
  stack_->setContentsMargins(0, 0, 0, 0);

  placeholder_ = new QLabel(this);
  placeholder_->setObjectName(QStringLiteral("pipelinePlaceholder"));
  placeholder_->setAlignment(Qt::AlignCenter);
  placeholder_->setWordWrap(true);
  placeholder_->setMargin(16);
  placeholder_->setForegroundRole(QPalette::PlaceholderText);
  stack_->addWidget(placeholder_);

  auto* page = new QWidget(this);
  auto* col = new QVBoxLayout(page);
  col->setContentsMargins(4, 4, 4, 4);
  col->setSpacing(3);

  // Controls: step, layer range, time unit, and where the bars come from.
  auto* bar = new QHBoxLayout;
  bar->setSpacing(4);
  bar->addWidget(new QLabel(tr("Step"), page));
  step_box_ = new QSpinBox(page);
  step_box_->setObjectName(QStringLiteral("pipelineStep"));
  step_box_->setToolTip(tr("The speculative step shown (index into the run's steps)"));
  bar->addWidget(step_box_);
  step_count_ = new QLabel(page);
  step_count_->setMinimumWidth(step_count_->fontMetrics().horizontalAdvance(tr("of %1").arg(99999)));
  bar->addWidget(step_count_);
  bar->addSpacing(6);
  bar->addWidget(new QLabel(tr("Layers"), page));
  layer_lo_ = new QSpinBox(page);
  layer_lo_->setObjectName(QStringLiteral("pipelineLayerLow"));
  layer_hi_ = new QSpinBox(page);
  layer_hi_->setObjectName(QStringLiteral("pipelineLayerHigh"));
  layer_lo_->setToolTip(tr("First layer shown"));
  layer_hi_->setToolTip(tr("Last layer shown; ops of no layer (final norm, lm_head, verify) only with every layer"));
  bar->addWidget(layer_lo_);
  bar->addWidget(new QLabel(QStringLiteral("–"), page));
  bar->addWidget(layer_hi_);
  all_layers_ = new QToolButton(page);
  all_layers_->setObjectName(QStringLiteral("pipelineAllLayers"));
  all_layers_->setText(tr("All"));
  all_layers_->setToolTip(tr("Every layer"));
  bar->addWidget(all_layers_);
  bar->addSpacing(6);
  unit_box_ = new QComboBox(page);
  unit_box_->setObjectName(QStringLiteral("pipelineUnit"));
  unit_box_->addItem(tr("cycles"), int(PipeTimeUnit::Cycles));
  unit_box_->addItem(tr("µs"), int(PipeTimeUnit::Microseconds));
  unit_box_->setToolTip(tr("Time axis in device cycles (at the run's clock) or microseconds"));
  bar->addWidget(unit_box_);
  source_label_ = new QLabel(page);
  source_label_->setObjectName(QStringLiteral("pipelineSource"));
  source_label_->setForegroundRole(QPalette::PlaceholderText);
  // Takes what the controls leave (the full text is its tooltip).
  source_label_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  bar->addWidget(source_label_, 1);
  col->addLayout(bar);

  split_ = new QSplitter(Qt::Horizontal, page);
  split_->setChildrenCollapsible(false);
  plot_ = new QCustomPlot(split_);
  plot_->setObjectName(QStringLiteral("pipelinePlot"));
  plot_->setMinimumSize(200, 110);
  split_->addWidget(plot_);
  auto* scroll = figures_scroll_ = new QScrollArea(split_);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  figures_ = new QLabel(scroll);
  figures_->setObjectName(QStringLiteral("pipelineFigures"));
  figures_->setTextFormat(Qt::RichText);
  figures_->setAlignment(Qt::AlignLeft | Qt::AlignTop);
  figures_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  figures_->setMargin(4);
  scroll->setWidget(figures_);
  scroll->setMinimumSize(120, 60);
  split_->addWidget(scroll);
  split_->setStretchFactor(0, 3);
  split_->setStretchFactor(1, 1);
  col->addWidget(split_, 1);

  selection_ = new QLabel(page);
  selection_->setObjectName(QStringLiteral("pipelineSelection"));
  selection_->setWordWrap(true);
  selection_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  col->addWidget(selection_);
  stack_->addWidget(page);

  // Follow the application palette so dark themes give a dark chart.
  const QColor text = colors::text(), grid = colors::muted();
  apply_plot_palette(plot_, grid);
  QColor grid_line = grid;
  grid_line.setAlpha(70);
  plot_->xAxis->grid()->setPen(QPen(grid_line, 1, Qt::DotLine));
  plot_->yAxis->grid()->setVisible(false);
  plot_->xAxis->setNumberFormat(QStringLiteral("gb"));

  plot_->plotLayout()->insertRow(0);
  title_ = new QCPTextElement(plot_, QString(), QFont(font().family(), font().pointSize(), QFont::Bold));
  title_->setTextColor(text);
  plot_->plotLayout()->addElement(0, 0, title_);
  plot_->plotLayout()->setRowSpacing(0);

  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  for (int lane = 0; lane < kPipeLanes; ++lane) ticker->addTick(lane, lane_key(PipeLane(lane)));
  plot_->yAxis->setTicker(ticker);
  plot_->yAxis->setRangeReversed(true);
  plot_->yAxis->setRange(kTopLane, kPipeLanes - 0.4);
  plot_->yAxis->setTickLength(0, 0);
  plot_->yAxis->setSubTicks(false);

  plot_->addLayer(QStringLiteral("band"), plot_->layer(QStringLiteral("main")), QCustomPlot::limBelow);
  QFont small = font();
  small.setPointSize(std::max(7, font().pointSize() - 1));
  auto make_band = [&](QCPItemRect*& band, QCPItemText*& label, const QColor& c) {
    band = new QCPItemRect(plot_);
    band->setLayer(QStringLiteral("band"));
    band->setClipToAxisRect(true);
    band->topLeft->setTypeY(QCPItemPosition::ptAxisRectRatio);
    band->bottomRight->setTypeY(QCPItemPosition::ptAxisRectRatio);
    QColor fill = c;
    fill.setAlpha(colors::dark_theme() ? 45 : 28);
    band->setPen(Qt::NoPen);
    band->setBrush(fill);
    band->setSelectable(false);
    label = new QCPItemText(plot_);
    label->setLayer(QStringLiteral("band"));
    label->setClipToAxisRect(true);
    label->setFont(small);
    label->setColor(c.darker(colors::dark_theme() ? 80 : 140));
    label->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
    label->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
    label->setPadding(QMargins(3, 1, 0, 0));
    label->setSelectable(false);
  };
  make_band(draft_band_, draft_label_, colors::draft());
  make_band(target_band_, target_label_, colors::target());
  draft_label_->setText(tr("draft passes"));
  target_label_->setText(tr("target verification"));

  bars_ = new PipelineBarsPlottable(plot_->xAxis, plot_->yAxis);

  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  plot_->axisRect()->setRangeDrag(Qt::Horizontal);
  plot_->axisRect()->setRangeZoom(Qt::Horizontal);
  plot_->setNoAntialiasingOnDrag(true);

  connect(plot_->xAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this,
          [this](const QCPRange&) { onRangeChanged(); });
  connect(plot_, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
    pressed_ = e->button() == Qt::LeftButton;
    press_pos_ = e->pos();
  });
  connect(plot_, &QCustomPlot::mouseRelease, this, [this](QMouseEvent* e) {
    if (!pressed_ || e->button() != Qt::LeftButton) return;
    pressed_ = false;
    if ((e->pos() - press_pos_).manhattanLength() > kClickSlopPx) return;  // a drag
    selectBar(barUnder(e->pos()));
  });
  connect(step_box_, qOverload<int>(&QSpinBox::valueChanged), this, [this](int v) {
    if (syncing_ || v == model_.step()) return;
    showStep(v);
    emit stepSelected(model_.step());
  });
  auto layers_changed = [this] {
    if (!syncing_) setLayerRange(layer_lo_->value(), layer_hi_->value());
  };
  connect(layer_lo_, qOverload<int>(&QSpinBox::valueChanged), this, layers_changed);
  connect(layer_hi_, qOverload<int>(&QSpinBox::valueChanged), this, layers_changed);
  connect(all_layers_, &QToolButton::clicked, this, [this] { setLayerRange(0, model_.layerCount() - 1); });
  connect(unit_box_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int) {
    if (!syncing_) setTimeUnit(PipeTimeUnit(unit_box_->currentData().toInt()));
  });
  // Label widths depend on the laid-out axis rect.
  connect(plot_, &QCustomPlot::afterLayout, this, [this] { updateBandLabels(); });
  plot_->installEventFilter(this);

  install_chart_export(plot_, QStringLiteral("pipeline"), [this] { return barsCsv(); }, [this] { resetZoom(); });
  setRun(nullptr);
}

PipelineView::~PipelineView() = default;

void PipelineView::setRun(std::shared_ptr<const RunRecord> run) {
  const bool same = run && run_ && run->name == run_->name;
  const int keep_step = model_.step();
  const int keep_lo = model_.layerLow(), keep_hi = model_.layerHigh();
  const bool kept_all = model_.allLayers();
  const auto keep_range = visibleRangeUs();
  run_ = std::move(run);
  model_.setRun(run_);
  placeholder_->setText(model_.emptyReason());
  stack_->setCurrentIndex(model_.empty() ? 0 : 1);
  if (model_.empty()) {
    selected_ = -1;
    bars_->setModel(&model_, 1, -1);
    syncControls();
    updateFigures();
    plot_->replot(QCustomPlot::rpQueuedReplot);
    return;
  }
  source_label_->setText(model_.origin() == PipelineOrigin::DeviceTrace
                             ? (model_.hasMeasured() ? tr("predicted + measured · %1") : tr("predicted · %1"))
                                   .arg(model_.deviceText())
                             : tr("CPU run: predicted by the dataflow model · %1").arg(model_.deviceText()));
  source_label_->setToolTip(source_label_->text());
  if (same && keep_step >= 0 && keep_step < model_.stepCount()) {
    // A live run growing: the user's step, layers and zoom stay.
    if (!kept_all) model_.setLayerRange(keep_lo, keep_hi);
    model_.setStep(keep_step);
    selected_ = -1;
    syncControls();
    resetZoom();
    if (keep_range.second > keep_range.first) {
      const double f = model_.toUnit(1, unit_);
      plot_->xAxis->setRange(keep_range.first * f, keep_range.second * f);
    }
    updateBands();
    updateFigures();
    plot_->replot(QCustomPlot::rpQueuedReplot);
    return;
  }
  showStep(0);
}

void PipelineView::setStep(int step) {
  if (model_.empty() || step == model_.step() || step < 0 || step >= model_.stepCount()) return;
  showStep(step);
}

void PipelineView::showStep(int step) {
  model_.setStep(step);
  selected_ = -1;
  syncControls();
  resetZoom();
  updateFigures();
}

void PipelineView::setLayerRange(int lo, int hi) {
  if (model_.empty()) return;
  model_.setLayerRange(lo, hi);
  selected_ = -1;
  syncControls();
  resetZoom();
  updateFigures();
}

void PipelineView::setTimeUnit(PipeTimeUnit unit) {
  if (unit == unit_) return;
  const auto [lo, hi] = visibleRangeUs();
  unit_ = unit;
  syncControls();
  applyUnit();
  const double f = model_.toUnit(1, unit_);
  syncing_ = true;
  plot_->xAxis->setRange(lo * f, hi * f);
  syncing_ = false;
  updateFigures();
  if (selected_ >= 0) selection_->setText(oneLine(barText(selected_)));
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

void PipelineView::syncControls() {
  syncing_ = true;
  const int steps = model_.stepCount();
  step_box_->setRange(0, std::max(0, steps - 1));
  step_box_->setValue(std::max(0, model_.step()));
  step_count_->setText(steps > 0 ? tr("of %1").arg(steps - 1) : QString());
  const int layers = std::max(1, model_.layerCount());
  for (QSpinBox* b : {layer_lo_, layer_hi_}) b->setRange(0, layers - 1);
  layer_lo_->setValue(model_.layerLow());
  layer_hi_->setValue(std::max(0, model_.layerHigh()));
  all_layers_->setEnabled(!model_.allLayers());
  unit_box_->setCurrentIndex(unit_box_->findData(int(unit_)));
  syncing_ = false;
}

void PipelineView::applyUnit() {
  bars_->setModel(&model_, model_.toUnit(1, unit_), selected_);
  plot_->xAxis->setLabel(unit_ == PipeTimeUnit::Cycles
                             ? tr("cycles at %1 MHz from the step's start").arg(model_.clockMhz(), 0, 'g', 4)
                             : tr("µs from the step's simulated start"));
}

void PipelineView::resetZoom() {
  // The selection's ops (both sources) with a little air either side.
  const PipeFigures& p = model_.figures(PipeSource::Predicted);
  const PipeFigures& m = model_.figures(PipeSource::Measured);
  double lo = 0, hi = 1;
  if (p.present || m.present) {
    lo = p.present ? p.start_us : m.start_us;
    hi = p.present ? p.end_us : m.end_us;
    if (m.present) lo = std::min(lo, m.start_us), hi = std::max(hi, m.end_us);
  }
  const double pad = std::max(kMinSpanUs, 0.02 * (hi - lo));
  bound_lo_us_ = lo - pad;
  bound_hi_us_ = hi + pad;
  applyUnit();
  const double f = model_.toUnit(1, unit_);
  syncing_ = true;
  plot_->xAxis->setRange(bound_lo_us_ * f, bound_hi_us_ * f);
  syncing_ = false;
  updateBands();
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

std::pair<double, double> PipelineView::visibleRangeUs() const {
  const double f = model_.toUnit(1, unit_);
  const QCPRange r = plot_->xAxis->range();
  return {r.lower / f, r.upper / f};
}

void PipelineView::onRangeChanged() {
  if (syncing_) return;
  // Wheel and drag move the axis freely: keep it on the step.
  const double f = model_.toUnit(1, unit_);
  QCPRange r = plot_->xAxis->range();
  const double bound = (bound_hi_us_ - bound_lo_us_) * f;
  const double span = std::max(std::min(r.size(), bound), std::min(kMinSpanUs * f, bound));
  const double lo = std::max(bound_lo_us_ * f, std::min(r.lower, bound_hi_us_ * f - span));
  if (std::abs(lo - r.lower) > 1e-12 * bound || std::abs(span - r.size()) > 1e-12 * bound) {
    syncing_ = true;
    plot_->xAxis->setRange(lo, lo + span);
    syncing_ = false;
  }
  updateBandLabels();
}

void PipelineView::updateBands() {
  // The draft's passes come first on the device, then the target's verification.
  double d0 = 0, d1 = -1, t0 = 0, t1 = -1;
  for (const PipeBar& b : model_.bars()) {
    if (b.source != PipeSource::Predicted) continue;
    double& a = b.model == ModelRole::Draft ? d0 : t0;
    double& z = b.model == ModelRole::Draft ? d1 : t1;
    if (z < a) a = b.start_us, z = b.end_us;
    a = std::min(a, b.start_us);
    z = std::max(z, b.end_us);
  }
  const double f = model_.toUnit(1, unit_);
  auto place = [&](QCPItemRect* band, QCPItemText* label, double a, double z) {
    const bool on = z > a;
    band->setVisible(on);
    label->setVisible(on);
    if (!on) return;
    band->topLeft->setCoords(a * f, 0);
    band->bottomRight->setCoords(z * f, 1);
    label->position->setCoords(a * f, 0);
  };
  place(draft_band_, draft_label_, d0, d1);
  place(target_band_, target_label_, t0, t1);
  updateBandLabels();

  if (model_.empty() || model_.step() < 0) {
    title_->setText(tr("Accelerator pipeline"));
    return;
  }
  const PipeFigures& p = model_.figures(PipeSource::Predicted);
  const PipeFigures& m = model_.figures(PipeSource::Measured);
  QString layers = model_.allLayers() ? tr("all %1 layers").arg(model_.layerCount())
                                      : (model_.layerLow() == model_.layerHigh()
                                             ? tr("layer %1").arg(model_.layerLow())
                                             : tr("layers %1–%2").arg(model_.layerLow()).arg(model_.layerHigh()));
  QString title = tr("Step %1 · %2").arg(model_.step()).arg(layers);
  if (p.present) title += tr(" · makespan %1").arg(timeText(p.makespan_us));
  if (m.present) title += tr(" · measured %1").arg(timeText(m.makespan_us));
  title_->setText(title);
}

void PipelineView::updateBandLabels() {
  // A band too narrow for its label (the draft's passes beside a long
  // verification, or zoomed out) goes unlabelled.
  // The labels sit in the strip above the DMA lane: unlabelled when it is lower than a line.
  const double strip = std::abs(plot_->yAxis->coordToPixel(int(PipeLane::Dma) - kPredictedHalf) -
                                plot_->yAxis->coordToPixel(kTopLane));
  const bool room = strip >= QFontMetrics(draft_label_->font()).height();
  for (auto [band, label] : {std::pair{draft_band_, draft_label_}, std::pair{target_band_, target_label_}}) {
    if (!band->visible()) continue;
    if (!room) {
      label->setVisible(false);
      continue;
    }
    const double px = std::abs(plot_->xAxis->coordToPixel(band->bottomRight->coords().x()) -
                               plot_->xAxis->coordToPixel(band->topLeft->coords().x()));
    label->setVisible(px >= QFontMetrics(label->font()).horizontalAdvance(label->text()) + 8);
  }
}

void PipelineView::updateFigures() {
  selection_->setText(selected_ >= 0 ? oneLine(barText(selected_)) : tr("Click a bar for its unit, layer and times."));
  if (model_.empty() || model_.step() < 0) {
    figures_->setText(QString());
    return;
  }
  const PipeFigures& p = model_.figures(PipeSource::Predicted);
  const PipeFigures& m = model_.figures(PipeSource::Measured);
  const PipeDeltas& d = model_.deltas();
  const PipeFigures& main = p.present ? p : m;
  QString h = QStringLiteral("<table cellspacing=0 cellpadding=1>");
  h += QStringLiteral("<tr><th align=left>%1</th><th align=right>%2</th><th align=right>%3</th><th align=right>%4</th>")
           .arg(tr("lane"), tr("ops"), tr("busy"), tr("stall"));
  if (d.present) h += QStringLiteral("<th align=right>%1</th><th align=right>%2</th>").arg(tr("meas. busy"), tr("Δ busy"));
  h += QStringLiteral("</tr>");
  for (int i = 0; i < kPipeLanes; ++i) {
    const LaneFigures& l = main.lanes[size_t(i)];
    h += QStringLiteral("<tr><td>%1</td><td align=right>%2</td><td align=right>%3</td><td align=right>%4</td>")
             .arg(lane_key(PipeLane(i)))
             .arg(l.ops)
             .arg(percent(l.busy_share), timeText(l.stall_us()));
    if (d.present)
      h += QStringLiteral("<td align=right>%1</td><td align=right>%2</td>")
               .arg(percent(m.lanes[size_t(i)].busy_share),
                    (d.busy_us[size_t(i)] > 0 ? QStringLiteral("+") : QString()) + timeText(d.busy_us[size_t(i)]));
    h += QStringLiteral("</tr>");
  }
  h += QStringLiteral("</table>");
  auto line = [&](const QString& k, const QString& v) { h += QStringLiteral("<br>%1: <b>%2</b>").arg(k, v); };
  line(p.present ? tr("makespan") : tr("measured makespan"), timeText(main.makespan_us));
  line(tr("linear ∥ SSM"), timeText(main.overlapUs(PipeLane::Linear, PipeLane::Ssm)));
  line(tr("conv ∥ SSM"), timeText(main.overlapUs(PipeLane::Conv, PipeLane::Ssm)));
  line(tr("linear ∥ DMA"), timeText(main.overlapUs(PipeLane::Linear, PipeLane::Dma)));
  line(tr("overlap saves"), tr("%1 (%2 of serial)")
                                .arg(timeText(main.overlap_saving_us()))
                                .arg(percent(main.serial_us > 0 ? main.overlap_saving_us() / main.serial_us : 0)));
  const LaneFigures& lin = main.lanes[size_t(PipeLane::Linear)];
  line(tr("linear stall"), tr("%1 waiting for DMA + %2 idle").arg(timeText(lin.wait_us), timeText(lin.gap_us)));
  if (d.present) {
    line(tr("measured − predicted"),
         tr("%1%2 (×%3)").arg(d.makespan_us >= 0 ? QStringLiteral("+") : QString(), timeText(d.makespan_us))
             .arg(d.makespan_ratio, 0, 'f', 3));
    line(tr("ops matched"), tr("%1, %2 unmatched, mean |Δ end| %3")
                                .arg(d.matched)
                                .arg(d.unmatched)
                                .arg(timeText(d.mean_abs_end_us)));
  } else if (model_.hasMeasured()) {
    h += tr("<br><i>no measured ops in this selection</i>");
  }

  // Which colour is which unit, for the units on screen.
  std::set<QString> units;
  for (const PipeBar& b : model_.bars()) units.insert(b.unit);
  h += QStringLiteral("<p>");
  for (const QString& u : units)
    h += QStringLiteral("<span style='color:%1'>■</span>&nbsp;%2<br>").arg(unit_color(u).name(), u);
  h += tr("solid: working, pale: waiting");
  if (model_.hasMeasured()) h += tr("<br>thin bars: measured");
  h += QStringLiteral("</p>");
  figures_->setText(h);
  fitFigures();
}

void PipelineView::fitFigures() {
  // Side by side the figures keep their natural width; under the chart they scroll.
  if (split_->orientation() != Qt::Horizontal) {
    figures_scroll_->setMinimumWidth(120);
    return;
  }
  const int want = std::min(figures_->sizeHint().width() + figures_scroll_->verticalScrollBar()->sizeHint().width() + 4,
                            std::max(120, width() / 2));
  figures_scroll_->setMinimumWidth(want);
  const QList<int> sizes = split_->sizes();
  const int total = sizes.value(0) + sizes.value(1);
  if (total > want && sizes.value(1) < want) split_->setSizes({total - want, want});
}

int PipelineView::barUnder(const QPoint& pos) const {
  if (model_.empty() || !plot_->axisRect()->rect().contains(pos)) return -1;
  const double y = plot_->yAxis->pixelToCoord(pos.y());
  const int lane = int(std::lround(y));
  if (lane < 0 || lane >= kPipeLanes || std::abs(y - lane) > kPredictedHalf) return -1;
  const double t = model_.fromUnit(plot_->xAxis->pixelToCoord(pos.x()), unit_);
  // The thin measured bar sits in the middle of the lane: prefer it there.
  const PipeSource prefer = std::abs(y - lane) <= kMeasuredHalf ? PipeSource::Measured : PipeSource::Predicted;
  int hit = model_.barAt(PipeLane(lane), t, prefer);
  if (hit < 0) {
    // A bar too short to hit exactly: the one within 3 px.
    const double slop = std::abs(plot_->xAxis->pixelToCoord(pos.x() + 3) - plot_->xAxis->pixelToCoord(pos.x()));
    const double su = model_.fromUnit(slop, unit_);
    hit = model_.barAt(PipeLane(lane), t - su, prefer);
    if (hit < 0) hit = model_.barAt(PipeLane(lane), t + su, prefer);
  }
  return hit;
}

void PipelineView::selectBar(int index) {
  selected_ = index >= 0 && index < int(model_.bars().size()) ? index : -1;
  bars_->setModel(&model_, model_.toUnit(1, unit_), selected_);
  selection_->setText(selected_ >= 0 ? oneLine(barText(selected_)) : tr("Click a bar for its unit, layer and times."));
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

QString PipelineView::barText(int index) const {
  if (index < 0 || index >= int(model_.bars().size())) return {};
  const PipeBar& b = model_.bars()[size_t(index)];
  auto span_text = [&](const PipeBar& x) {
    return tr("%1 – %2 (%3, active %4)")
        .arg(timeText(x.start_us), timeText(x.end_us), timeText(x.span_us()), timeText(x.active_us));
  };
  QString s = tr("%1 · %2 · %3 pass · %4 lane")
                  .arg(b.unit, b.layer >= 0 ? tr("layer %1").arg(b.layer) : tr("no layer"), model_name(b.model),
                       lane_key(b.lane));
  s += QStringLiteral("\n%1: %2").arg(b.source == PipeSource::Measured ? tr("measured") : tr("predicted"), span_text(b));
  if (b.match >= 0) {
    const PipeBar& o = model_.bars()[size_t(b.match)];
    const PipeBar& meas = b.source == PipeSource::Measured ? b : o;
    const PipeBar& pred = b.source == PipeSource::Measured ? o : b;
    s += QStringLiteral("\n%1: %2").arg(o.source == PipeSource::Measured ? tr("measured") : tr("predicted"), span_text(o));
    const double de = meas.end_us - pred.end_us;
    s += tr("\nmeasured − predicted: end %1%2, span %3%4")
             .arg(de >= 0 ? QStringLiteral("+") : QString(), timeText(de))
             .arg(meas.span_us() >= pred.span_us() ? QStringLiteral("+") : QString(),
                  timeText(meas.span_us() - pred.span_us()));
  }
  return s;
}

QPoint PipelineView::barPoint(int index) const {
  if (index < 0 || index >= int(model_.bars().size())) return {};
  const QRectF r = bars_->rectOf(model_.bars()[size_t(index)]);
  const QPointF c = r.center();
  if (!plot_->axisRect()->rect().contains(c.toPoint())) return {};
  return c.toPoint();
}

QString PipelineView::toolTipAt(const QPoint& pos) const { return barText(barUnder(pos)); }

CsvTable PipelineView::barsCsv() const {
  CsvTable t;
  t.header = {QStringLiteral("step"),     QStringLiteral("source"),   QStringLiteral("model"),
              QStringLiteral("lane"),     QStringLiteral("unit"),     QStringLiteral("layer"),
              QStringLiteral("start_us"), QStringLiteral("end_us"),   QStringLiteral("active_us"),
              QStringLiteral("start_cycles"), QStringLiteral("end_cycles"), QStringLiteral("active_cycles")};
  for (const PipeBar& b : model_.bars()) {
    const auto cyc = [&](double us) { return QString::number(std::llround(model_.toUnit(us, PipeTimeUnit::Cycles))); };
    t.rows.push_back({QString::number(model_.step()),
                      b.source == PipeSource::Measured ? QStringLiteral("measured") : QStringLiteral("predicted"),
                      model_name(b.model), lane_key(b.lane), b.unit, QString::number(b.layer),
                      QString::number(b.start_us, 'f', 4), QString::number(b.end_us, 'f', 4),
                      QString::number(b.active_us, 'f', 4), cyc(b.start_us), cyc(b.end_us), cyc(b.active_us)});
  }
  return t;
}

bool PipelineView::showingPlaceholder() const { return stack_->currentIndex() == 0; }
QString PipelineView::placeholderText() const { return placeholder_->text(); }
QString PipelineView::titleText() const { return title_->text(); }
QString PipelineView::figuresText() const {
  QTextDocument doc;
  doc.setHtml(figures_->text());
  return doc.toPlainText();
}
QString PipelineView::selectionText() const { return selected_ >= 0 ? selection_->text() : QString(); }

bool PipelineView::eventFilter(QObject* watched, QEvent* event) {
  if (watched == plot_ && event->type() == QEvent::ToolTip) {
    auto* he = static_cast<QHelpEvent*>(event);
    const QString tip = toolTipAt(he->pos());
    if (tip.isEmpty())
      QToolTip::hideText();
    else
      QToolTip::showText(he->globalPos(), tip, plot_);
    return true;
  }
  return QWidget::eventFilter(watched, event);
}

void PipelineView::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  // A narrow dock puts the figures under the chart.
  const Qt::Orientation o = width() < kNarrowPx ? Qt::Vertical : Qt::Horizontal;
  if (split_->orientation() != o) split_->setOrientation(o);
  fitFigures();
}

}  // namespace sm::ui
