// SPDX-License-Identifier: Apache-2.0
#pragma once
// SpecMamba Studio's main window: the generation view in the centre, analysis
// views in dock widgets (today the decode-latency chart; token tree, FIFO,
// backtracking and pipeline views dock in beside it later), a status bar
// with the run state, token count and tokens/s. All heavy work goes through
// GenerationWorker; the window only reacts to its signals.
#include <QMainWindow>

class QAction;
class QDockWidget;
class QLabel;
class QMenu;

namespace sm::ui {

class GenerationPanel;
class GenerationWorker;
class LatencyChart;
class MessageBanner;
class ModelBar;
struct GenerationSummary;
struct ModelInfo;
struct TokenEvent;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  enum class State { Idle, Loading, Generating, Stopped, Error };
  Q_ENUM(State)
  static QString stateName(State s);

  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  State state() const { return state_; }
  bool hasModel() const;

  ModelBar* modelBar() const { return model_bar_; }
  GenerationPanel* generationPanel() const { return panel_; }
  LatencyChart* latencyChart() const { return chart_; }
  GenerationWorker* worker() const { return worker_; }
  MessageBanner* messageBanner() const { return banner_; }
  QMenu* viewMenu() const { return view_menu_; }

  // Adds an analysis view as a dock (listed in the View menu).
  QDockWidget* addView(const QString& object_name, const QString& title, QWidget* view,
                       Qt::DockWidgetArea area);

  QString statusTokensPerSecondText() const;
  // Speculative runs: "mean accepted … per pass · … tokens per pass · … steps".
  QString statusSpecText() const;
  // Accepted draft tokens / target tokens streamed in the current run.
  int acceptedDraftTokens() const { return spec_accepted_; }

 public slots:
  // Loads DIR with the thread count of the model bar.
  void loadModel(const QString& dir);
  // Generates from the prompt box; false if it could not start.
  bool startGeneration();
  void stopGeneration();

 signals:
  void stateChanged(sm::ui::MainWindow::State state);
  void modelLoadFinished(bool ok);
  // A generation ended: ok is false when it failed (cancelled counts as ok).
  void runFinished(bool ok);

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void setupMenus();
  void setupStatusBar();
  void setState(State s);
  void updateEnabled();
  void onModelLoaded(const ModelInfo& info);
  void onTokens(const QVector<TokenEvent>& tokens);
  void onFinished(const GenerationSummary& summary);
  void onError(const QString& message);
  void showError(const QString& message);

  GenerationWorker* worker_ = nullptr;
  ModelBar* model_bar_ = nullptr;
  GenerationPanel* panel_ = nullptr;
  MessageBanner* banner_ = nullptr;
  LatencyChart* chart_ = nullptr;
  QMenu* view_menu_ = nullptr;
  QAction* open_action_ = nullptr;
  QAction* generate_action_ = nullptr;
  QAction* stop_action_ = nullptr;
  QLabel* state_label_ = nullptr;
  QLabel* count_label_ = nullptr;
  QLabel* rate_label_ = nullptr;
  QLabel* spec_label_ = nullptr;
  QDockWidget* latency_dock_ = nullptr;

  State state_ = State::Idle;
  int tokens_ = 0;
  double first_token_s_ = -1.0;  // elapsed time of the first token (end of prefill)
  double last_token_s_ = 0.0;
  bool spec_run_ = false;
  int spec_steps_ = 0;        // steps seen so far
  int spec_accepted_ = 0;     // accepted draft tokens streamed
  int spec_step_tokens_ = 0;  // tokens streamed from steps (all but the prefill's)
  void updateSpecLabel(double mean_accepted, double tokens_per_pass, int64_t steps);
};

}  // namespace sm::ui
