// SPDX-License-Identifier: Apache-2.0
#include "ui/latency_chart.h"

#include <QVBoxLayout>

#include <algorithm>

#include <qcustomplot.h>

namespace sm::ui {

namespace {
constexpr int kMeanWindow = 16;
constexpr int kReplotMs = 50;
}  // namespace

LatencyChart::LatencyChart(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("latencyChart"));
  plot_ = new QCustomPlot(this);
  plot_->setMinimumHeight(160);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(plot_);

  plot_->plotLayout()->insertRow(0);
  title_ = new QCPTextElement(plot_, emptyTitle(),
                              QFont(font().family(), font().pointSize(), QFont::Bold));
  plot_->plotLayout()->addElement(0, 0, title_);

  raw_ = plot_->addGraph();
  raw_->setName(tr("latency"));
  raw_->setPen(QPen(QColor(120, 144, 156, 160), 1));
  raw_->setLineStyle(QCPGraph::lsLine);
  raw_->setAdaptiveSampling(true);

  mean_ = plot_->addGraph();
  mean_->setName(tr("mean of %1").arg(kMeanWindow));
  mean_->setPen(QPen(QColor(0x0d, 0x47, 0xa1), 2));
  mean_->setAdaptiveSampling(true);

  plot_->xAxis->setLabel(tr("generated token"));
  plot_->yAxis->setLabel(tr("latency (ms)"));
  plot_->legend->setVisible(true);
  plot_->legend->setFont(QFont(font().family(), std::max(7, font().pointSize() - 1)));
  plot_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  plot_->xAxis->setRange(0, 64);
  plot_->yAxis->setRange(0, 1);

  replot_timer_.setSingleShot(true);
  replot_timer_.setInterval(kReplotMs);
  connect(&replot_timer_, &QTimer::timeout, this, &LatencyChart::replotNow);
}

void LatencyChart::clear() {
  raw_->data()->clear();
  mean_->data()->clear();
  values_.clear();
  window_.clear();
  window_sum_ = 0.0;
  total_ms_ = 0.0;
  title_->setText(emptyTitle());
  plot_->xAxis->setRange(0, 64);
  plot_->yAxis->setRange(0, 1);
  replot_timer_.stop();
  plot_->replot();
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
  // Scale to a high percentile, not the maximum: one scheduler hiccup should
  // not flatten the rest of the curve (drag/zoom shows the spikes).
  const qsizetype k = std::min<qsizetype>(v.size() - 1, (v.size() * 98) / 100);
  std::nth_element(v.begin() + mid, v.begin() + k, v.end());
  const double hi = mode_ == Mode::StepTokens ? *std::max_element(values_.begin(), values_.end()) + 1.0
                                             : std::max(v[k] * 1.3, 1e-3);
  const double last = raw_->data()->isEmpty() ? 0 : (raw_->data()->constEnd() - 1)->key;
  plot_->xAxis->setRange(0, std::max(64.0, last * 1.05));
  plot_->yAxis->setRange(0, hi);
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
