// SPDX-License-Identifier: Apache-2.0
#include "ui/views/timeline_view.h"

#include <QHelpEvent>
#include <QLabel>
#include <QMouseEvent>
#include <QStackedLayout>
#include <QToolTip>

#include <algorithm>
#include <cmath>

#include <qcustomplot.h>

#include "ui/views/palette.h"
#include "ui/views/plot_style.h"

namespace sm::ui {

namespace {

constexpr int kRelayoutMs = 30;       // recompute at most ~30 times a second while zooming
constexpr double kLaneHalf = 0.34;    // bar half height, in lanes
constexpr double kMinBandPx = 4;      // a selected step stays visible at any zoom
constexpr int kClickSlopPx = 4;       // a press and release closer than this is a click

QColor lane_color(int lane) {
  switch (TimelineLane(lane)) {
    case TimelineLane::Prefill: return colors::target().darker(125);
    case TimelineLane::Draft: return colors::draft();
    case TimelineLane::Verify: return colors::target();
    case TimelineLane::Accept: return colors::accepted();
    case TimelineLane::TargetBacktrack: return colors::backtrack();
    case TimelineLane::DraftBacktrack: return colors::backtrack().lighter(118);
  }
  return colors::muted();
}

QString duration_text(double us) {
  if (us < 1000) return QStringLiteral("%1 µs").arg(us, 0, 'f', us < 10 ? 1 : 0);
  if (us < 1e6) return QStringLiteral("%1 ms").arg(us / 1e3, 0, 'f', us < 1e4 ? 2 : 1);
  return QStringLiteral("%1 s").arg(us / 1e6, 0, 'f', 2);
}

// "1 step", "3 steps": no translator is installed, so %n would print "step(s)".
QString count_text(int64_t n, const QString& one, const QString& many) {
  return QStringLiteral("%1 %2").arg(n).arg(n == 1 ? one : many);
}

}  // namespace

// Draws all lanes' bars straight from the model's layout: one fillRect per
// bar, merged buckets with an opacity that follows their busy share. Far
// cheaper than a QCPBars per lane for thousands of spans.
class TimelineBarsPlottable : public QCPAbstractPlottable {
 public:
  TimelineBarsPlottable(QCPAxis* key, QCPAxis* value) : QCPAbstractPlottable(key, value) {
    setSelectable(QCP::stNone);
    setAntialiasedFill(false);
  }

  void setLayout(std::shared_ptr<const TimelineLayout> layout) { layout_ = std::move(layout); }
  void setKeyRange(QCPRange r) { key_range_ = r; }

  double selectTest(const QPointF&, bool, QVariant*) const override { return -1; }
  QCPRange getKeyRange(bool& found, QCP::SignDomain) const override {
    found = layout_ != nullptr;
    return key_range_;
  }
  QCPRange getValueRange(bool& found, QCP::SignDomain, const QCPRange&) const override {
    found = true;
    return QCPRange(-0.5, kTimelineLanes - 0.5);
  }

 protected:
  void draw(QCPPainter* painter) override {
    if (!layout_) return;
    QCPAxis* kx = keyAxis();
    QCPAxis* vy = valueAxis();
    const QRect clip = clipRect();
    painter->setAntialiasing(false);
    for (int lane = 0; lane < kTimelineLanes; ++lane) {
      const double yc = vy->coordToPixel(lane);
      const double half = std::abs(vy->coordToPixel(lane + kLaneHalf) - yc);
      const int top = int(std::lround(yc - half)), height = std::max(1, int(std::lround(2 * half)));
      const QColor base = lane_color(lane);
      for (const TimelineBar& b : layout_->lanes[lane]) {
        double x0 = kx->coordToPixel(b.t0 / 1e3), x1 = kx->coordToPixel(b.t1 / 1e3);
        if (x1 < clip.left() || x0 > clip.right()) continue;
        x0 = std::max(x0, double(clip.left() - 1));
        x1 = std::min(x1, double(clip.right() + 1));
        // Whole pixels take the raster engine's fast path; rounding both
        // edges keeps neighbouring buckets from overlapping (a double-blended
        // column); a thin raw span stays visible as a 1 px tick.
        const int left = int(std::lround(x0));
        const QRect r(left, top, std::max(1, int(std::lround(x1)) - left), height);
        QColor c = base;
        if (b.merged) c.setAlphaF(0.12 + 0.88 * b.busy);
        painter->fillRect(r, c);
      }
    }
  }
  void drawLegendIcon(QCPPainter* painter, const QRectF& rect) const override {
    painter->fillRect(rect, lane_color(int(TimelineLane::Draft)));
  }

 private:
  std::shared_ptr<const TimelineLayout> layout_;
  QCPRange key_range_;
};

TimelineView::TimelineView(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("timelineView"));
  stack_ = new QStackedLayout(this);
  stack_->setContentsMargins(0, 0, 0, 0);

  placeholder_ = new QLabel(this);
  placeholder_->setObjectName(QStringLiteral("timelinePlaceholder"));
  placeholder_->setAlignment(Qt::AlignCenter);
  placeholder_->setWordWrap(true);
  placeholder_->setMargin(16);
  placeholder_->setForegroundRole(QPalette::PlaceholderText);
  stack_->addWidget(placeholder_);

  plot_ = new QCustomPlot(this);
  plot_->setObjectName(QStringLiteral("timelinePlot"));
  plot_->setMinimumSize(200, 120);  // its dock shares 640x480 with the others
  stack_->addWidget(plot_);

  // Follow the application palette so dark themes give a dark chart.
  const QColor text = colors::text(), grid = colors::muted();
  apply_plot_palette(plot_, grid);
  QColor grid_line = grid;
  grid_line.setAlpha(70);
  plot_->xAxis->grid()->setPen(QPen(grid_line, 1, Qt::DotLine));
  plot_->yAxis->grid()->setVisible(false);

  plot_->plotLayout()->insertRow(0);
  title_ = new QCPTextElement(plot_, QString(), QFont(font().family(), font().pointSize(), QFont::Bold));
  title_->setTextColor(text);
  plot_->plotLayout()->addElement(0, 0, title_);
  plot_->plotLayout()->insertRow(1);
  QFont small = font();
  small.setPointSize(std::max(7, font().pointSize() - 1));
  hint_ = new QCPTextElement(plot_, QString(), small);
  hint_->setTextColor(grid);
  plot_->plotLayout()->addElement(1, 0, hint_);
  plot_->plotLayout()->setRowSpacing(0);

  // Lanes top to bottom in phase order; their tick labels are the legend.
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  for (int lane = 0; lane < kTimelineLanes; ++lane) ticker->addTick(lane, timeline_lane_name(TimelineLane(lane)));
  plot_->yAxis->setTicker(ticker);
  plot_->yAxis->setRangeReversed(true);
  plot_->yAxis->setRange(-0.6, kTimelineLanes - 0.4);
  plot_->yAxis->setTickLength(0, 0);
  plot_->yAxis->setSubTicks(false);
  plot_->xAxis->setLabel(tr("time since the run started (ms)"));

  plot_->addLayer(QStringLiteral("band"), plot_->layer(QStringLiteral("main")), QCustomPlot::limBelow);
  bars_ = new TimelineBarsPlottable(plot_->xAxis, plot_->yAxis);

  band_ = new QCPItemRect(plot_);
  band_->setLayer(QStringLiteral("band"));
  band_->setClipToAxisRect(true);
  band_->topLeft->setTypeY(QCPItemPosition::ptAxisRectRatio);
  band_->bottomRight->setTypeY(QCPItemPosition::ptAxisRectRatio);
  band_->topLeft->setCoords(0, 0);
  band_->bottomRight->setCoords(0, 1);
  QColor hl = colors::highlight();
  band_->setPen(QPen(hl, 1));
  hl.setAlpha(60);
  band_->setBrush(hl);
  band_->setSelectable(false);
  band_->setVisible(false);

  prefill_label_ = new QCPItemText(plot_);
  prefill_label_->setClipToAxisRect(true);
  prefill_label_->setFont(small);
  prefill_label_->setSelectable(false);
  prefill_label_->setVisible(false);

  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  plot_->axisRect()->setRangeDrag(Qt::Horizontal);
  plot_->axisRect()->setRangeZoom(Qt::Horizontal);
  plot_->setNoAntialiasingOnDrag(true);

  relayout_timer_.setSingleShot(true);
  relayout_timer_.setInterval(kRelayoutMs);
  connect(&relayout_timer_, &QTimer::timeout, this, [this] {
    relayout();
    plot_->replot(QCustomPlot::rpQueuedReplot);
  });
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
    if (!plot_->axisRect()->rect().contains(e->pos())) return;
    const int step = model_.stepAt(plot_->xAxis->pixelToCoord(e->pos().x()) * 1e3);
    if (step < 0 || step == step_) return;
    step_ = step;
    updateOverlays();
    plot_->replot(QCustomPlot::rpQueuedReplot);
    emit stepSelected(step);
  });
  connect(plot_, &QCustomPlot::afterLayout, this, [this] {
    // A new axis rect width changes how many steps share a pixel.
    if (std::abs(plot_->axisRect()->width() - axis_.pixelWidth()) >= 1 && !relayout_timer_.isActive())
      relayout_timer_.start();
  });
  plot_->installEventFilter(this);

  install_chart_export(plot_, QStringLiteral("timeline"), [this] { return spansCsv(); }, [this] { resetZoom(); });
  setRun(nullptr);
}

TimelineView::~TimelineView() = default;

void TimelineView::setRun(std::shared_ptr<const RunRecord> run) {
  const bool same = run && run_ && run->name == run_->name;
  const bool was_reset = axis_.isReset();
  const double lo = axis_.lower(), hi = axis_.upper();
  run_ = std::move(run);
  model_.setRun(run_);
  if (!run_) {
    placeholder_->setText(tr("No speculative run yet: generate with a tree, or File > Open Trace"));
  } else if (!run_->settings.speculative()) {
    placeholder_->setText(tr("The step timeline needs a speculative run: \"%1\" is target-only. "
                             "Generate with a draft model and a tree.")
                              .arg(run_->name));
  } else if (model_.empty()) {
    placeholder_->setText(tr("\"%1\" has no speculative steps yet.").arg(run_->name));
  }
  stack_->setCurrentIndex(model_.empty() ? 0 : 1);

  axis_.setBounds(model_.runStart(), model_.runEnd());
  if (same && !was_reset) axis_.setRange(lo, hi);  // a live run growing: keep the user's zoom
  if (!same || step_ >= model_.stepCount()) step_ = -1;
  bars_->setKeyRange(QCPRange(model_.runStart() / 1e3, model_.runEnd() / 1e3));
  applyAxisRange();
  relayout();
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

bool TimelineView::showingPlaceholder() const { return stack_->currentIndex() == 0; }
QString TimelineView::placeholderText() const { return placeholder_->text(); }
QString TimelineView::titleText() const { return title_->text(); }

void TimelineView::setStep(int step) {
  if (step < -1 || step >= model_.stepCount()) step = -1;
  step_ = step;
  if (step_ >= 0) {
    const auto [t0, t1] = model_.stepExtent(step_);
    if (t1 < axis_.lower() || t0 > axis_.upper()) {
      const double mid = 0.5 * (t0 + t1), half = 0.5 * axis_.span();
      axis_.setRange(mid - half, mid + half);
      applyAxisRange();
      relayout();
    }
  }
  updateOverlays();
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

void TimelineView::resetZoom() {
  axis_.reset();
  applyAxisRange();
  relayout();
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

void TimelineView::setVisibleRange(double lo_us, double hi_us) {
  axis_.setRange(lo_us, hi_us);
  applyAxisRange();
  relayout();
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

void TimelineView::applyAxisRange() {
  syncing_ = true;
  plot_->xAxis->setRange(axis_.lower() / 1e3, axis_.upper() / 1e3);
  syncing_ = false;
}

void TimelineView::onRangeChanged() {
  if (syncing_) return;
  // Wheel and drag move the plot's axis; clamp it to the run through TimeAxis.
  const QCPRange r = plot_->xAxis->range();
  axis_.setRange(r.lower * 1e3, r.upper * 1e3);
  if (std::abs(axis_.lower() - r.lower * 1e3) > 1e-9 || std::abs(axis_.upper() - r.upper * 1e3) > 1e-9)
    applyAxisRange();
  updateOverlays();
  if (!relayout_timer_.isActive()) relayout_timer_.start();
}

void TimelineView::relayout() {
  relayout_timer_.stop();
  const double width = std::max(50, plot_->axisRect()->width());
  axis_.setPixelWidth(width);
  layout_.reset();
  if (!model_.empty()) {
    // One screen either side, at the same pixels per us, so a drag shows
    // bars at once and the buckets keep their grid.
    const double s = axis_.span();
    const double lo = std::max(model_.runStart(), axis_.lower() - s);
    const double hi = std::min(model_.runEnd(), axis_.upper() + s);
    layout_ = model_.layout(lo, hi, width * (hi - lo) / s);
  }
  bars_->setLayout(layout_);
  updateOverlays();
}

void TimelineView::updateOverlays() {
  const bool have = !model_.empty();
  band_->setVisible(have && step_ >= 0);
  if (have && step_ >= 0) {
    auto [t0, t1] = model_.stepExtent(step_);
    const double min_us = kMinBandPx * axis_.span() / std::max(1, plot_->axisRect()->width());
    if (t1 - t0 < min_us) {
      const double mid = 0.5 * (t0 + t1);
      t0 = mid - 0.5 * min_us;
      t1 = mid + 0.5 * min_us;
    }
    band_->topLeft->setCoords(t0 / 1e3, 0);
    band_->bottomRight->setCoords(t1 / 1e3, 1);
  }

  const double pre_us = model_.prefillUs();
  prefill_label_->setVisible(have && pre_us > 0);
  if (have && pre_us > 0) {
    const QString text = run_->figures.prompt_tokens > 0
                             ? tr("prefill %1 · %2").arg(duration_text(pre_us), count_text(run_->figures.prompt_tokens,
                                                                                 tr("prompt token"), tr("prompt tokens")))
                             : tr("prefill %1").arg(duration_text(pre_us));
    prefill_label_->setText(text);
    const double end_ms = model_.spans(TimelineLane::Prefill).front().t1 / 1e3;
    const double start_ms = model_.spans(TimelineLane::Prefill).front().t0 / 1e3;
    const QRect ar = plot_->axisRect()->rect();
    const double x_end = plot_->xAxis->coordToPixel(end_ms);
    const double x_start = std::max(double(ar.left()), plot_->xAxis->coordToPixel(start_ms));
    const int text_w = QFontMetrics(prefill_label_->font()).horizontalAdvance(text) + 12;
    prefill_label_->position->setType(QCPItemPosition::ptPlotCoords);
    // Beside the bar when there is room (the lane holds nothing else), else inside it.
    if (ar.right() - x_end >= text_w || x_end - x_start < text_w) {
      prefill_label_->position->setCoords(end_ms, int(TimelineLane::Prefill));
      prefill_label_->setPositionAlignment(Qt::AlignLeft | Qt::AlignVCenter);
      prefill_label_->setPadding(QMargins(6, 0, 0, 0));
      prefill_label_->setColor(colors::text());
    } else {
      const double right_px = std::min(x_end, double(ar.right()));
      prefill_label_->position->setCoords(plot_->xAxis->pixelToCoord(right_px), int(TimelineLane::Prefill));
      prefill_label_->setPositionAlignment(Qt::AlignRight | Qt::AlignVCenter);
      prefill_label_->setPadding(QMargins(0, 0, 6, 0));
      prefill_label_->setColor(Qt::white);
    }
  }
  updateTitles();
}

void TimelineView::updateTitles() {
  if (model_.empty()) {
    title_->setText(tr("Step timeline"));
    hint_->setText(QString());
    return;
  }
  const bool narrow = plot_->width() < 640;
  const double decode_us = model_.runEnd() - model_.stepExtent(0).first;
  const QString steps = count_text(model_.stepCount(), tr("step"), tr("steps"));
  QString title = narrow ? tr("Timeline: %1, %2").arg(steps, duration_text(decode_us))
                         : tr("Step timeline: %1, decode %2").arg(steps, duration_text(decode_us));
  if (step_ >= 0) title += tr(" · step %1").arg(step_);
  title_->setText(title);
  QString hint;
  if (layout_ && layout_->any_merged())
    hint = narrow ? tr("faded bars: steps merged, opacity = busy share")
                  : tr("Faded bars merge several steps: opacity is the share of time busy. "
                       "Wheel: zoom · drag: pan · double-click: reset");
  else if (!narrow)
    hint = tr("Wheel: zoom · drag: pan · double-click: reset · click: select a step");
  hint_->setText(hint);
  // An empty row would still take a text line's height from the lanes.
  const bool in_layout = plot_->plotLayout()->hasElement(1, 0) && plot_->plotLayout()->element(1, 0) == hint_;
  if (hint.isEmpty() && in_layout) {
    plot_->plotLayout()->take(hint_);
    plot_->plotLayout()->simplify();
    hint_->setVisible(false);  // out of the layout it would still draw where it was
  } else if (!hint.isEmpty() && !in_layout) {
    plot_->plotLayout()->insertRow(1);
    plot_->plotLayout()->addElement(1, 0, hint_);
    hint_->setVisible(true);
  }
}

int TimelineView::laneAt(const QPoint& pos) const {
  const int lane = int(std::lround(plot_->yAxis->pixelToCoord(pos.y())));
  return lane >= 0 && lane < kTimelineLanes ? lane : -1;
}

QPoint TimelineView::stepPoint(int step, TimelineLane lane) const {
  for (const TimelineSpan& s : model_.spans(lane)) {
    if (s.step != step) continue;
    const double mid = 0.5 * (s.t0 + s.t1);
    if (mid < axis_.lower() || mid > axis_.upper()) return {};
    return QPoint(int(std::lround(plot_->xAxis->coordToPixel(mid / 1e3))),
                  int(std::lround(plot_->yAxis->coordToPixel(int(lane)))));
  }
  return {};
}

QString TimelineView::toolTipAt(const QPoint& pos) const {
  if (model_.empty() || !plot_->axisRect()->rect().contains(pos)) return {};
  const int lane = laneAt(pos);
  const double t = plot_->xAxis->pixelToCoord(pos.x()) * 1e3;
  if (lane == int(TimelineLane::Prefill)) {
    const auto& pre = model_.spans(TimelineLane::Prefill);
    if (pre.empty() || t < pre.front().t0 || t > pre.front().t1) return {};
    return tr("Prefill: %1 for %2")
        .arg(duration_text(pre.front().us()),
             count_text(run_->figures.prompt_tokens, tr("prompt token"), tr("prompt tokens")));
  }
  const int step = model_.stepAt(t);
  if (step < 0) return {};
  const StepRecord& s = run_->steps[size_t(step)];
  QStringList lines;
  const auto [t0, t1] = model_.stepExtent(step);
  lines << tr("Step %1 · %2, at %3").arg(step).arg(duration_text(s.step_us > 0 ? s.step_us : t1 - t0),
                                             duration_text(t0 - model_.runStart()));
  lines << tr("draft %1").arg(duration_text(s.draft_us));
  lines << tr("verify %1").arg(duration_text(s.verify_us));
  lines << tr("accept %1").arg(duration_text(s.accept_us));
  QString back = tr("backtrack %1").arg(duration_text(s.backtrack_us));
  if (s.target_backtrack.present || s.draft_backtrack.present)
    back += tr(" (target %1, draft %2)")
                .arg(duration_text(s.target_backtrack.us), duration_text(s.draft_backtrack.us));
  lines << back;
  lines << tr("%1 accepted + bonus").arg(count_text(s.accepted, tr("token"), tr("tokens")));
  // Under a merged bucket, say what the bucket holds too.
  if (lane > 0 && layout_) {
    if (layout_->merged[lane]) {
      for (const TimelineBar& b : layout_->lanes[lane])
        if (t >= b.t0 && t < b.t1) {
          lines << tr("bar: steps %1–%2 merged, %3 busy %4%")
                       .arg(b.first_step)
                       .arg(b.last_step)
                       .arg(timeline_lane_name(TimelineLane(lane)))
                       .arg(b.busy * 100, 0, 'f', 0);
          break;
        }
    }
  }
  return lines.join(QLatin1Char('\n'));
}

CsvTable TimelineView::spansCsv() const {
  CsvTable t;
  t.header = {QStringLiteral("lane"), QStringLiteral("step"), QStringLiteral("start_us"), QStringLiteral("end_us")};
  const auto spans = model_.allSpans();
  t.rows.reserve(spans.size());
  for (const TimelineSpan& s : spans)
    t.rows.push_back({timeline_lane_name(s.lane), s.step < 0 ? QString() : QString::number(s.step),
                      QString::number(s.t0, 'f', 3), QString::number(s.t1, 'f', 3)});
  return t;
}

bool TimelineView::eventFilter(QObject* watched, QEvent* event) {
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

void TimelineView::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  // The axis rect's width is known after the plot's next layout pass.
  relayout_timer_.start();
}

}  // namespace sm::ui
