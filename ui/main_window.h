// SPDX-License-Identifier: Apache-2.0
#pragma once
// SpecMamba Studio's main window: the generation view in the centre (in a
// scroll area, so no control is lost in a small window), the analysis views
// in dock widgets — token tree, FIFO verification, backtracking, step
// timeline, tokens per step and the run list — all linked by one selected
// step of one selected run. A status bar shows the run state, token count and
// rates. Heavy work goes through GenerationWorker; the window only reacts to
// its signals. Settings, window layout and docks persist (QSettings).
#include <QMainWindow>

#include <memory>

class QAction;
class QDockWidget;
class QLabel;
class QMenu;
class QTableView;

namespace sm::ui {

class BacktrackingView;
class DumpInspectorView;
class FifoView;
class GenerationPanel;
class GenerationWorker;
class LatencyChart;
class MessageBanner;
class ModelBar;
class PipelineView;
class RaceView;
class RunListModel;
class SweepView;
class TimelineView;
class TokenTreeView;
class TunerView;
struct GenerationRequest;
struct GenerationSummary;
struct ModelInfo;
struct RaceRequest;
struct RunRecord;
struct TokenEvent;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  enum class State { Idle, Loading, Generating, Stopped, Error };
  Q_ENUM(State)
  static QString stateName(State s);

  // persist: read and write QSettings (off in tests and headless screenshots).
  explicit MainWindow(QWidget* parent = nullptr, bool persist = false);
  ~MainWindow() override;

  State state() const { return state_; }
  bool hasModel() const;

  ModelBar* modelBar() const { return model_bar_; }
  GenerationPanel* generationPanel() const { return panel_; }
  LatencyChart* latencyChart() const { return chart_; }
  GenerationWorker* worker() const { return worker_; }
  MessageBanner* messageBanner() const { return banner_; }
  QMenu* viewMenu() const { return view_menu_; }
  TokenTreeView* tokenTreeView() const { return tree_view_; }
  FifoView* fifoView() const { return fifo_view_; }
  BacktrackingView* backtrackingView() const { return backtrack_view_; }
  TimelineView* timelineView() const { return timeline_view_; }
  RaceView* raceView() const { return race_view_; }
  RunListModel* runs() const { return runs_; }
  TunerView* tunerView() const { return tuner_; }
  PipelineView* pipelineView() const { return pipeline_view_; }
  SweepView* sweepView() const { return sweep_view_; }
  DumpInspectorView* dumpInspector() const { return dump_inspector_; }
  // The request the generation panel, the model bar and the spec controls describe.
  GenerationRequest currentRequest() const;
  // Generates with `request` as given (the tuner's settings): the same checks,
  // streaming and run-list row as startGeneration(); false if it could not start.
  bool startGenerationWith(const GenerationRequest& request);
  QTableView* runTable() const { return run_table_; }

  // Shows the dump inspector's dock and opens `path` in it (false and the
  // reason on the view for a bad file).
  bool openDump(const QString& path);

  // Adds an analysis view as a dock (listed in the View menu). With
  // `scrolls` the view sits in a scroll area: below its least size the dock
  // scrolls instead of forcing the window larger than a small screen.
  QDockWidget* addView(const QString& object_name, const QString& title, QWidget* view,
                       Qt::DockWidgetArea area, bool scrolls = false);
  QDockWidget* dock(const QString& object_name) const;
  void raiseDock(const QString& object_name);  // shows it and brings its tab forward

  QString statusTokensPerSecondText() const;
  // Speculative runs: "mean accepted … per pass · … tokens per pass · … steps".
  QString statusSpecText() const;
  // What produced the results on screen: "Run 3 · mamba2-target · tree 2,2,1 · fifo · …".
  QString runHeaderText() const;
  // Accepted draft tokens / target tokens streamed in the current run.
  int acceptedDraftTokens() const { return spec_accepted_; }

  // The run every view shows, and its selected step (-1: none).
  std::shared_ptr<const RunRecord> currentRun() const { return current_run_; }
  int currentStep() const { return current_step_; }

  // Recent model directories, newest first (File > Recent Models).
  QStringList recentModels() const { return recent_models_; }

 public slots:
  // Loads DIR with the thread count of the model bar. A directory holding
  // model directories (data/models) offers them instead of failing.
  void loadModel(const QString& dir);
  // Generates from the prompt box; false if it could not start (a bad
  // setting leaves the last results on screen).
  bool startGeneration();
  // The tuner's Apply: the window's prompt and sampling with the tuner's settings.
  bool applyTuner();
  void stopGeneration();
  // Linked selection: every view, the text and the charts follow.
  void selectStep(int step);
  void selectRun(int row);
  // File > Open Trace / Export Trace; false (and the banner) on failure.
  bool openTrace(const QString& path);
  bool exportTrace(const QString& path);
  // Makes `row_a` and `row_b` the compared pair (View > Compare Runs).
  void compareRuns(int row_a, int row_b);
  // Larger fonts, fewer controls: for demos on a projector.
  void setPresentationMode(bool on);
  // The demo race with the window's settings (Run > Demo Race).
  void startRace();

 signals:
  void stateChanged(sm::ui::MainWindow::State state);
  void modelLoadFinished(bool ok);
  // A generation ended: ok is false when it failed (cancelled counts as ok).
  void runFinished(bool ok);
  void currentRunChanged();
  void currentStepChanged(int step);

 protected:
  void closeEvent(QCloseEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;

 private:
  void setupViews();
  void setupMenus();
  void setupStatusBar();
  void setState(State s);
  void updateEnabled();
  void onModelLoaded(const ModelInfo& info);
  void onTokens(const QVector<TokenEvent>& tokens);
  void onFinished(const GenerationSummary& summary);
  void onError(const QString& message);
  void showError(const QString& message);
  void showRun(std::shared_ptr<const RunRecord> run, bool render_text);
  void addRecentModel(const QString& dir);
  void rebuildRecentMenu();
  void restoreSettings();
  void saveSettings() const;
  void browseTraceToOpen();
  void browseTraceToExport();
  void updateSpecLabel(double mean_accepted, double tokens_per_pass, int64_t steps);
  void keepCentreUsable();
  RaceRequest raceRequest() const;

  bool persist_ = false;
  GenerationWorker* worker_ = nullptr;
  ModelBar* model_bar_ = nullptr;
  GenerationPanel* panel_ = nullptr;
  MessageBanner* banner_ = nullptr;
  LatencyChart* chart_ = nullptr;
  TokenTreeView* tree_view_ = nullptr;
  FifoView* fifo_view_ = nullptr;
  BacktrackingView* backtrack_view_ = nullptr;
  TimelineView* timeline_view_ = nullptr;
  RaceView* race_view_ = nullptr;
  TunerView* tuner_ = nullptr;
  PipelineView* pipeline_view_ = nullptr;
  SweepView* sweep_view_ = nullptr;
  DumpInspectorView* dump_inspector_ = nullptr;
  RunListModel* runs_ = nullptr;
  QTableView* run_table_ = nullptr;
  QLabel* run_header_ = nullptr;
  QMenu* view_menu_ = nullptr;
  QMenu* recent_menu_ = nullptr;
  QAction* open_action_ = nullptr;
  QAction* open_trace_action_ = nullptr;
  QAction* export_trace_action_ = nullptr;
  QAction* generate_action_ = nullptr;
  QAction* stop_action_ = nullptr;
  QAction* presentation_action_ = nullptr;
  QLabel* state_label_ = nullptr;
  QLabel* count_label_ = nullptr;
  QLabel* rate_label_ = nullptr;
  QLabel* spec_label_ = nullptr;
  QDockWidget* latency_dock_ = nullptr;
  QByteArray default_state_;
  QStringList recent_models_;

  std::shared_ptr<const RunRecord> current_run_;
  int current_step_ = -1;
  bool selecting_ = false;  // re-entrancy guard of linked selection

  State state_ = State::Idle;
  int tokens_ = 0;
  double first_token_s_ = -1.0;  // elapsed time of the first token (end of prefill)
  double last_token_s_ = 0.0;
  bool spec_run_ = false;
  int spec_steps_ = 0;        // steps seen so far
  int spec_accepted_ = 0;     // accepted draft tokens streamed
  int spec_step_tokens_ = 0;  // tokens streamed from steps (all but the prefill's)
  int chart_step_ = 0;        // step whose tokens are being counted for the chart
  int chart_step_tokens_ = 0;
};

}  // namespace sm::ui
