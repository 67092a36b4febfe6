// SPDX-License-Identifier: Apache-2.0
#pragma once
// Per-token decode latency as the tokens stream in. Wraps QCustomPlot so the
// rest of the UI never touches the plot library; samples are appended at any
// rate and the plot is redrawn by a short single-shot timer (merged replots).
#include <QTimer>
#include <QVector>
#include <QWidget>

class QCustomPlot;
class QCPGraph;
class QCPTextElement;

namespace sm::ui {

class LatencyChart : public QWidget {
  Q_OBJECT

 public:
  explicit LatencyChart(QWidget* parent = nullptr);

  void clear();
  // One sample per decoded token: its index and latency in milliseconds.
  void addSample(int token_index, double latency_ms);
  int sampleCount() const { return static_cast<int>(values_.size()); }
  // Redraws now (tests, screenshots); normally replots are throttled.
  void replotNow();

  QCustomPlot* plot() const { return plot_; }

 private:
  void updateRanges();

  QCustomPlot* plot_ = nullptr;
  QCPGraph* raw_ = nullptr;
  QCPGraph* mean_ = nullptr;
  QCPTextElement* title_ = nullptr;
  QTimer replot_timer_;
  QVector<double> values_;
  QVector<double> window_;  // last samples of the moving average
  double window_sum_ = 0.0;
  double total_ms_ = 0.0;
};

}  // namespace sm::ui
