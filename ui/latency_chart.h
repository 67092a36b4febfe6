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
class QCPItemStraightLine;

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

  // The title after a run, from the run's summary (the same figures as the
  // status bar); cleared by clear() / setMode().
  void setFinalTitle(const QString& title);
  // Step mode: marks a sample (linked selection); -1 clears.
  void setSelectedStep(int step);
  int selectedStep() const { return selected_; }
  // Whether the raw samples are drawn (hidden when denser than the pixels:
  // the moving average stays, zoom in to see them).
  bool rawVisible() const;
  // Resets the x range to the whole run.
  void resetZoom();

 signals:
  // Step mode: the user clicked near a sample (0-based step index).
  void stepClicked(int step);

 protected:
  void resizeEvent(QResizeEvent* event) override;

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
  QString final_title_;
  int selected_ = -1;
  QCPItemStraightLine* marker_ = nullptr;
  bool user_zoomed_ = false;
  void updateDensity();
};

}  // namespace sm::ui
