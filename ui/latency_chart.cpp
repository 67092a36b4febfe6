// SPDX-License-Identifier: Apache-2.0
#include "ui/latency_chart.h"

#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include <qcustomplot.h>

#include "ui/views/chart_export.h"
#include "ui/views/palette.h"

namespace sm::ui {

namespace {
constexpr int kMeanWindow = 16;
constexpr int kReplotMs = 50;
}  // namespace

LatencyChart::LatencyChart(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("latencyChart"));
  plot_ = new QCustomPlot(this);
  plot_->setMinimumHeight(120);  // with the docks above it, 640x480 still fits
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(plot_);

  plot_->plotLayout()->insertRow(0);
  title_ = new QCPTextElement(plot_, emptyTitle(),
                              QFont(font().family(), font().pointSize(), QFont::Bold));
  plot_->plotLayout()->addElement(0, 0, title_);

  raw_ = plot_->addGraph();
  raw_->setName(tr("latency"));
  QColor raw_colour = colors::muted();
  raw_colour.setAlpha(200);
  raw_->setPen(QPen(raw_colour, 1));
  raw_->setLineStyle(QCPGraph::lsLine);
  raw_->setAdaptiveSampling(true);

  mean_ = plot_->addGraph();
  mean_->setName(tr("mean of %1").arg(kMeanWindow));
  mean_->setPen(QPen(colors::accepted(), 2));
  mean_->setAdaptiveSampling(true);

  plot_->xAxis->setLabel(tr("generated token"));
  plot_->yAxis->setLabel(tr("latency (ms)"));
  // Tokens and steps are whole: no tick at step 2.5.
  auto ticker = QSharedPointer<QCPAxisTickerFixed>::create();
  ticker->setTickStep(1.0);
  ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
  plot_->xAxis->setTicker(ticker);
  // The legend sits in its own row under the title, never over the data.
  plot_->legend->setVisible(true);
  plot_->legend->setFont(QFont(font().family(), std::max(7, font().pointSize() - 1)));
  plot_->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  plot_->legend->setBorderPen(Qt::NoPen);
  plot_->legend->setBrush(Qt::NoBrush);
  plot_->plotLayout()->insertRow(1);
  plot_->plotLayout()->addElement(1, 0, plot_->legend);
  plot_->plotLayout()->setRowStretchFactor(1, 0.001);
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  plot_->axisRect()->setRangeDrag(Qt::Horizontal);
  plot_->axisRect()->setRangeZoom(Qt::Horizontal);
  plot_->xAxis->setRange(0, 64);
  plot_->yAxis->setRange(0, 1);
  marker_ = new QCPItemStraightLine(plot_);
  marker_->setPen(QPen(colors::highlight(), 2));
  marker_->setVisible(false);
  connect(plot_->xAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this, [this] {
    updateDensity();
  });
  connect(plot_, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
    if (e->buttons() & Qt::LeftButton) user_zoomed_ = true;  // a drag pans
  });
  connect(plot_, &QCustomPlot::mouseWheel, this, [this](QWheelEvent*) { user_zoomed_ = true; });
  connect(plot_, &QCustomPlot::mouseRelease, this, [this](QMouseEvent* e) {
    if (mode_ != Mode::StepTokens || values_.isEmpty() || e->button() != Qt::LeftButton) return;
    const double key = plot_->xAxis->pixelToCoord(e->position().x());
    // Samples are keyed by 1-based step: the index is key - 1.
    const int step = static_cast<int>(std::lround(key)) - 1;
    if (step >= 0 && step < values_.size()) {
      setSelectedStep(step);
      emit stepClicked(step);
    }
  });
  install_chart_export(
      plot_, QStringLiteral("tokens_per_step"),
      [this] {
        CsvTable t;
        t.header = {mode_ == Mode::StepTokens ? QStringLiteral("step") : QStringLiteral("token"),
                    mode_ == Mode::StepTokens ? QStringLiteral("tokens") : QStringLiteral("latency_ms"),
                    QStringLiteral("moving_mean")};
        auto m = mean_->data()->constBegin();
        for (auto it = raw_->data()->constBegin(); it != raw_->data()->constEnd(); ++it, ++m)
          t.rows.push_back({QString::number(it->key), QString::number(it->value, 'g', 9),
                            QString::number(m->value, 'g', 9)});
        return t;
      },
      [this] { resetZoom(); });

  replot_timer_.setSingleShot(true);
  replot_timer_.setInterval(kReplotMs);
  connect(&replot_timer_, &QTimer::timeout, this, &LatencyChart::replotNow);
}

void LatencyChart::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  // A short dock (a 640x480 window) keeps its height for the data: the
  // legend row goes (the y label still names the series), back when roomy.
  const bool roomy = plot_->height() >= 200;
  if (plot_->legend->visible() == roomy) return;
  plot_->legend->setVisible(roomy);
  plot_->legend->setMaximumSize(QWIDGETSIZE_MAX, roomy ? QWIDGETSIZE_MAX : 0);
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

void LatencyChart::clear() {
  raw_->data()->clear();
  mean_->data()->clear();
  values_.clear();
  window_.clear();
  window_sum_ = 0.0;
  total_ms_ = 0.0;
  final_title_.clear();
  selected_ = -1;
  marker_->setVisible(false);
  user_zoomed_ = false;
  title_->setText(emptyTitle());
  plot_->xAxis->setRange(0, 64);
  plot_->yAxis->setRange(0, 1);
  replot_timer_.stop();
  plot_->replot();
}

void LatencyChart::setFinalTitle(const QString& title) {
  final_title_ = title;
  title_->setText(title);
  replotNow();
}

void LatencyChart::setSelectedStep(int step) {
  selected_ = step;
  marker_->setVisible(step >= 0 && mode_ == Mode::StepTokens);
  if (step >= 0) {
    marker_->point1->setCoords(step + 1, 0);
    marker_->point2->setCoords(step + 1, 1);
    // Keep the marked step in view.
    const QCPRange r = plot_->xAxis->range();
    if (step + 1 < r.lower || step + 1 > r.upper) plot_->xAxis->setRange(step + 1 - r.size() / 2, step + 1 + r.size() / 2);
  }
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

bool LatencyChart::rawVisible() const { return raw_->visible(); }

void LatencyChart::resetZoom() {
  user_zoomed_ = false;
  replotNow();
}

void LatencyChart::updateDensity() {
  // More samples than half the pixels turn the raw line into a solid wall.
  const QCPRange r = plot_->xAxis->range();
  const double px = std::max(1, plot_->axisRect()->width());
  const double visible = std::min<double>(values_.size(), std::max(1.0, r.size()));
  const bool show = visible <= px / 2;
  if (show != raw_->visible()) raw_->setVisible(show);
  mean_->setName(show ? tr("mean of %1").arg(kMeanWindow)
                      : tr("mean of %1 (zoom in for every sample)").arg(kMeanWindow));
}

QString LatencyChart::emptyTitle() const {
  return mode_ == Mode::StepTokens ? tr("Tokens per speculative step") : tr("Decode latency per token");
}

QString LatencyChart::titleText() const { return title_->text(); }

void LatencyChart::setMode(Mode mode) {
  mode_ = mode;
  if (mode == Mode::StepTokens) {
    raw_->setName(tr("tokens (accepted + bonus)"));
    raw_->setLineStyle(QCPGraph::lsStepCenter);
    plot_->xAxis->setLabel(tr("speculative step"));
    plot_->yAxis->setLabel(tr("tokens per step"));
  } else {
    raw_->setName(tr("latency"));
    raw_->setLineStyle(QCPGraph::lsLine);
    plot_->xAxis->setLabel(tr("generated token"));
    plot_->yAxis->setLabel(tr("latency (ms)"));
  }
  clear();
}

void LatencyChart::addSample(int token_index, double latency_ms) {
  values_.push_back(latency_ms);
  total_ms_ += latency_ms;
  window_.push_back(latency_ms);
  window_sum_ += latency_ms;
  if (window_.size() > kMeanWindow) {
    window_sum_ -= window_.front();
    window_.pop_front();
  }
  raw_->addData(token_index, latency_ms);
  mean_->addData(token_index, window_sum_ / window_.size());
  if (!replot_timer_.isActive()) replot_timer_.start();
}

void LatencyChart::updateRanges() {
  if (values_.isEmpty()) return;
  QVector<double> v = values_;
  const qsizetype mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  const double median = v[mid];
  // Every spike stays on the chart: the axis reaches the maximum.
  const double top = *std::max_element(values_.begin(), values_.end());
  const double hi = mode_ == Mode::StepTokens ? top + 1.0 : std::max(top * 1.08, 1e-3);
  const double last = raw_->data()->isEmpty() ? 0 : (raw_->data()->constEnd() - 1)->key;
  // Streaming, room to grow (no rescale per sample); finished, fit the run.
  const double right = final_title_.isEmpty() ? std::max(64.0, last * 1.02) : std::max(last * 1.02, last + 1.0);
  if (!user_zoomed_) plot_->xAxis->setRange(0, right);
  plot_->yAxis->setRange(0, hi);
  updateDensity();
  if (!final_title_.isEmpty()) {
    title_->setText(final_title_);
    return;
  }
  const double mean = total_ms_ / values_.size();
  if (mode_ == Mode::StepTokens) {
    title_->setText(tr("Tokens per speculative step: mean %1 (%2 accepted + 1 bonus), %3 steps")
                        .arg(mean, 0, 'f', 2)
                        .arg(mean - 1.0, 0, 'f', 2)
                        .arg(values_.size()));
    return;
  }
  auto ms = [](double x) { return QString::number(x, 'f', x < 0.1 ? 3 : x < 10 ? 2 : 1); };
  title_->setText(tr("Decode latency per token: median %1 ms, mean %2 ms (%3 tok/s), %4 tokens")
                      .arg(ms(median), ms(mean))
                      .arg(mean > 0 ? 1000.0 / mean : 0.0, 0, 'f', 1)
                      .arg(values_.size()));
}

void LatencyChart::replotNow() {
  replot_timer_.stop();
  updateRanges();
  plot_->replot();
}

}  // namespace sm::ui
