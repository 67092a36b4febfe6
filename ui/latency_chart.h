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
  // TokenLatency: one sample per decoded token, its latency in ms (plain
  // decoding). StepTokens: one sample per speculative step, the tokens it
  // emitted (accepted draft tokens + the bonus token) — the figure that shows
  // how well the draft guesses, and so the speed-up.
  enum class Mode { TokenLatency, StepTokens };

  explicit LatencyChart(QWidget* parent = nullptr);

  Mode mode() const { return mode_; }
  // Also clears the chart.
  void setMode(Mode mode);
  QString titleText() const;

  void clear();
  // One sample: x = token index (or step), y = latency in ms (or tokens).
  void addSample(int token_index, double latency_ms);
  int sampleCount() const { return static_cast<int>(values_.size()); }
  // Redraws now (tests, screenshots); normally replots are throttled.
  void replotNow();

  QCustomPlot* plot() const { return plot_; }

 private:
  void updateRanges();
  QString emptyTitle() const;

  Mode mode_ = Mode::TokenLatency;

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
