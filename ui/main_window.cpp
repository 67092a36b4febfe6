// SPDX-License-Identifier: Apache-2.0
#include "ui/main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QKeySequence>
#include <QLabel>
#include <QLayout>
#include <QMenu>
#include <QMenuBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QStatusBar>
#include <QStyle>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>

#include "core/io/default_paths.h"
#include "ui/generation_panel.h"
#include "ui/generation_types.h"
#include "ui/generation_worker.h"
#include "ui/latency_chart.h"
#include "ui/message_banner.h"
#include "ui/model_bar.h"
#include "ui/models/model_dirs.h"
#include "ui/models/run_list_model.h"
#include "ui/models/run_record.h"
#include "ui/models/trace_io.h"
#include "ui/sampling_controls.h"
#include "ui/spec_controls.h"
#include "ui/token_stream_view.h"
#include "ui/views/backtracking_view.h"
#include "ui/views/compare_view.h"
#include "ui/views/fifo_view.h"
#include "ui/views/race_view.h"
#include "ui/workers/race_worker.h"
#include "ui/views/timeline_view.h"
#include "ui/views/token_tree_view.h"
#include "ui/views/dump_inspector_dock.h"
#include "ui/views/dump_inspector_view.h"
#include "ui/views/pipeline_dock.h"
#include "ui/views/sweep_dock.h"
#include "ui/views/sweep_view.h"
#include "ui/views/tuner_view.h"

namespace sm::ui {

namespace {
QString tokenCountText(int64_t n) {
  return n == 1 ? MainWindow::tr("1 token") : MainWindow::tr("%1 tokens").arg(n);
}
constexpr int kRecentModels = 8;
}  // namespace

QString MainWindow::stateName(State s) {
  switch (s) {
    case State::Idle: return QStringLiteral("idle");
    case State::Loading: return QStringLiteral("loading");
    case State::Generating: return QStringLiteral("generating");
    case State::Stopped: return QStringLiteral("stopped");
    case State::Error: return QStringLiteral("error");
  }
  return {};
}

MainWindow::MainWindow(QWidget* parent, bool persist) : QMainWindow(parent), persist_(persist) {
  setObjectName(QStringLiteral("SpecMambaStudioMainWindow"));
  setWindowTitle(tr("SpecMamba Studio"));
  setDockNestingEnabled(true);
  setDockOptions(dockOptions() | QMainWindow::AllowTabbedDocks | QMainWindow::GroupedDragging);

  worker_ = new GenerationWorker(this);
  runs_ = new RunListModel(this);

  // The centre scrolls instead of squeezing controls over each other.
  auto* scroll = new QScrollArea(this);
  scroll->setObjectName(QStringLiteral("centralScroll"));
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  // No fixed minimum: the layout's own (every control at its least size)
  // applies, and below it the area scrolls instead of squeezing.
  auto* central = new QWidget(scroll);
  model_bar_ = new ModelBar(central);
  run_header_ = new QLabel(tr("No run yet"), central);
  run_header_->setObjectName(QStringLiteral("runHeader"));
  run_header_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  run_header_->setToolTip(tr("The settings that produced the results on screen"));
  run_header_->setWordWrap(true);
  panel_ = new GenerationPanel(central);
  auto* layout = new QVBoxLayout(central);
  layout->setContentsMargins(8, 8, 8, 4);
  layout->addWidget(model_bar_);
  layout->addWidget(panel_, 1);
  layout->addWidget(run_header_);
  scroll->setWidget(central);
  setCentralWidget(scroll);
  banner_ = new MessageBanner(scroll->viewport());  // an overlay: the layout never moves

  chart_ = new LatencyChart(this);
  setupMenus();
  setupViews();
  panel_->spec()->setDraftPath(QString::fromStdString(sm::default_draft_model()));
  setupStatusBar();

  connect(model_bar_, &ModelBar::loadRequested, this,
          [this](const QString& dir, int) { loadModel(dir); });
  connect(panel_, &GenerationPanel::generateRequested, this, &MainWindow::startGeneration);
  connect(panel_, &GenerationPanel::stopRequested, this, &MainWindow::stopGeneration);

  connect(worker_, &GenerationWorker::modelLoaded, this, &MainWindow::onModelLoaded);
  connect(worker_, &GenerationWorker::tokensArrived, this, &MainWindow::onTokens);
  connect(worker_, &GenerationWorker::generationFinished, this, &MainWindow::onFinished);
  connect(worker_, &GenerationWorker::errorOccurred, this, &MainWindow::onError);
  connect(worker_, &GenerationWorker::busyChanged, this, &MainWindow::updateEnabled);

  panel_->setPrompt(QStringLiteral("In the beginning"));
  resize(1400, 900);
  default_state_ = saveState();
  if (persist_) restoreSettings();
  setState(State::Idle);
}

MainWindow::~MainWindow() {
  // Join the job before the views it reports to go away.
  worker_->cancelAndWait();
}

bool MainWindow::hasModel() const { return worker_->hasModel(); }

void MainWindow::setupViews() {
  tree_view_ = new TokenTreeView(this);
  fifo_view_ = new FifoView(this);
  backtrack_view_ = new BacktrackingView(this);
  timeline_view_ = new TimelineView(this);
  race_view_ = new RaceView(this);
  tuner_ = new TunerView(this);
  tuner_->setRunList(runs_);

  run_table_ = new QTableView(this);
  run_table_->setObjectName(QStringLiteral("runTable"));
  run_table_->setModel(runs_);
  run_table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  run_table_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  run_table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  run_table_->verticalHeader()->hide();
  run_table_->setAlternatingRowColors(true);
  auto* runs_box = new QWidget(this);
  auto* runs_layout = new QVBoxLayout(runs_box);
  runs_layout->setContentsMargins(2, 2, 2, 2);
  auto* buttons = new QHBoxLayout;
  auto* compare = new QPushButton(tr("Compare selected"), runs_box);
  compare->setObjectName(QStringLiteral("compareRunsButton"));
  compare->setToolTip(tr("Select two runs (Ctrl+click) to compare their figures and charts"));
  auto* save = new QPushButton(tr("Export trace…"), runs_box);
  auto* open = new QPushButton(tr("Open trace…"), runs_box);
  auto* remove = new QPushButton(tr("Remove"), runs_box);
  for (QPushButton* b : {compare, save, open, remove}) buttons->addWidget(b);
  buttons->addStretch(1);
  runs_layout->addLayout(buttons);
  runs_layout->addWidget(run_table_, 1);
  connect(compare, &QPushButton::clicked, this, [this] {
    const QModelIndexList rows = run_table_->selectionModel()->selectedRows();
    if (rows.size() != 2) {
      showError(tr("Select exactly two runs in the run list to compare them."));
      return;
    }
    compareRuns(rows[0].row(), rows[1].row());
  });
  connect(save, &QPushButton::clicked, this, &MainWindow::browseTraceToExport);
  connect(open, &QPushButton::clicked, this, &MainWindow::browseTraceToOpen);
  connect(remove, &QPushButton::clicked, this, [this] {
    const QModelIndexList rows = run_table_->selectionModel()->selectedRows();
    std::vector<int> r;
    for (const QModelIndex& i : rows) r.push_back(i.row());
    std::sort(r.rbegin(), r.rend());
    for (int row : r) {
      if (runs_->run(row) == current_run_) showRun(nullptr, false);
      runs_->removeRun(row);
    }
  });
  connect(run_table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          [this](const QModelIndex& cur) {
            if (cur.isValid()) selectRun(cur.row());
          });

  QDockWidget* tree = addView(QStringLiteral("tokenTreeDock"), tr("Token tree"), tree_view_, Qt::RightDockWidgetArea);
  QDockWidget* fifo = addView(QStringLiteral("fifoDock"), tr("FIFO verification"), fifo_view_, Qt::RightDockWidgetArea);
  QDockWidget* back = addView(QStringLiteral("backtrackDock"), tr("Backtracking"), backtrack_view_, Qt::RightDockWidgetArea);
  QDockWidget* timeline = addView(QStringLiteral("timelineDock"), tr("Step timeline"), timeline_view_, Qt::BottomDockWidgetArea);
  latency_dock_ = addView(QStringLiteral("latencyDock"), tr("Tokens per step"), chart_, Qt::BottomDockWidgetArea);
  QDockWidget* list = addView(QStringLiteral("runsDock"), tr("Runs"), runs_box, Qt::BottomDockWidgetArea);
  QDockWidget* race = addView(QStringLiteral("raceDock"), tr("Demo race"), race_view_, Qt::RightDockWidgetArea);
  QDockWidget* tuner = addView(QStringLiteral("tunerDock"), tr("Tuner"), tuner_, Qt::RightDockWidgetArea);
  pipeline_view_ = install_pipeline_view(*this);
  sweep_view_ = install_sweep_view(*this);
  dump_inspector_ = install_dump_inspector(*this);
  tabifyDockWidget(tree, fifo);
  tabifyDockWidget(fifo, back);
  tabifyDockWidget(back, race);
  tabifyDockWidget(race, tuner);
  tabifyDockWidget(tuner, dock(QStringLiteral("dumpInspectorDock")));
  tree->raise();
  tabifyDockWidget(latency_dock_, timeline);
  tabifyDockWidget(timeline, list);
  tabifyDockWidget(list, dock(QStringLiteral("pipelineDock")));
  tabifyDockWidget(dock(QStringLiteral("pipelineDock")), dock(QStringLiteral("sweepDock")));
  latency_dock_->raise();
  resizeDocks({tree}, {620}, Qt::Horizontal);
  resizeDocks({latency_dock_}, {280}, Qt::Vertical);
  // Each tabify call lays the window out with the docks not yet tabbed still
  // side by side and sets that sum (1573 px with eleven docks) as the
  // window's minimum; the window then could not be made smaller than that.
  // Lay out again now that every group is tabbed.
  layout()->invalidate();
  layout()->activate();

  // Linked selection: any view picks the step, every other follows.
  connect(tree_view_, &TokenTreeView::stepSelected, this, &MainWindow::selectStep);
  connect(tree_view_, &TokenTreeView::nodeSelected, this, [this](int step, int node) {
    selectStep(step);
    fifo_view_->selectNode(step, node);
  });
  connect(fifo_view_, &FifoView::stepSelected, this, &MainWindow::selectStep);
  connect(fifo_view_, &FifoView::nodeSelected, this, [this](int step, int node) {
    selectStep(step);
    tree_view_->selectNode(step, node);
  });
  connect(backtrack_view_, &BacktrackingView::stepSelected, this, &MainWindow::selectStep);
  connect(timeline_view_, &TimelineView::stepSelected, this, &MainWindow::selectStep);
  connect(chart_, &LatencyChart::stepClicked, this, &MainWindow::selectStep);
  connect(panel_->output(), &TokenStreamView::stepClicked, this, &MainWindow::selectStep);

  connect(tuner_, &TunerView::applyRequested, this, &MainWindow::applyTuner);
  connect(tuner_, &TunerView::cancelRequested, this, &MainWindow::stopGeneration);
  connect(worker_, &GenerationWorker::progressChanged, tuner_, &TunerView::setProgress);
  connect(this, &MainWindow::currentRunChanged, tuner_, [this] { tuner_->setRun(current_run_); });
  // A sweep point clicked loads its settings into the tuner, ready to Apply.
  connect(sweep_view_, &SweepView::configurationChosen, this, [this](const SweepChoice& c) {
    tuner_->loadSettings(c.toVariantMap());
    raiseDock(QStringLiteral("tunerDock"));
  });
}

void MainWindow::setupMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  open_action_ = file->addAction(tr("&Open Model…"), model_bar_, &ModelBar::browse);
  open_action_->setShortcut(QKeySequence::Open);
  recent_menu_ = file->addMenu(tr("Recent &Models"));
  file->addSeparator();
  open_trace_action_ = file->addAction(tr("Open &Trace…"), this, &MainWindow::browseTraceToOpen);
  open_trace_action_->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
  export_trace_action_ = file->addAction(tr("&Export Trace…"), this, &MainWindow::browseTraceToExport);
  export_trace_action_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
  file->addAction(tr("Open Activation &Dump…"), this, [this] {
    raiseDock(QStringLiteral("dumpInspectorDock"));
    dump_inspector_->openAction()->trigger();
  });
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  QMenu* run = menuBar()->addMenu(tr("&Run"));
  generate_action_ = run->addAction(tr("&Generate"), this, &MainWindow::startGeneration);
  generate_action_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
  stop_action_ = run->addAction(tr("&Stop"), this, &MainWindow::stopGeneration);
  stop_action_->setShortcut(QKeySequence(Qt::Key_Escape));
  run->addSeparator();
  QAction* race = run->addAction(tr("Demo &Race"), this, &MainWindow::startRace);
  race->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_R));
  race->setToolTip(tr("Target-only against speculative decoding of the prompt, measured one after the "
                      "other, played back side by side"));

  view_menu_ = menuBar()->addMenu(tr("&View"));
  presentation_action_ = view_menu_->addAction(tr("&Presentation Mode"));
  presentation_action_->setCheckable(true);
  presentation_action_->setShortcut(QKeySequence(Qt::Key_F11));
  connect(presentation_action_, &QAction::toggled, this, &MainWindow::setPresentationMode);
  view_menu_->addAction(tr("&Reset Layout"), this, [this] { restoreState(default_state_); });
  view_menu_->addSeparator();
}

QDockWidget* MainWindow::addView(const QString& object_name, const QString& title, QWidget* view,
                                 Qt::DockWidgetArea area, bool scrolls) {
  auto* dock = new QDockWidget(title, this);
  dock->setObjectName(object_name);
  if (scrolls) {
    auto* scroll = new QScrollArea(dock);
    scroll->setObjectName(object_name + QStringLiteral("Scroll"));
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setWidget(view);
    dock->setWidget(scroll);
  } else {
    dock->setWidget(view);
  }
  addDockWidget(area, dock);
  view_menu_->addAction(dock->toggleViewAction());
  return dock;
}

QDockWidget* MainWindow::dock(const QString& object_name) const {
  return findChild<QDockWidget*>(object_name);
}

void MainWindow::raiseDock(const QString& object_name) {
  if (QDockWidget* d = dock(object_name)) {
    d->show();
    d->raise();
  }
}

bool MainWindow::openDump(const QString& path) {
  raiseDock(QStringLiteral("dumpInspectorDock"));
  return dump_inspector_->openDump(path);
}

void MainWindow::setupStatusBar() {
  state_label_ = new QLabel(this);
  state_label_->setObjectName(QStringLiteral("stateLabel"));
  count_label_ = new QLabel(this);
  count_label_->setObjectName(QStringLiteral("tokenCountLabel"));
  rate_label_ = new QLabel(this);
  rate_label_->setObjectName(QStringLiteral("tokensPerSecondLabel"));
  spec_label_ = new QLabel(this);
  spec_label_->setObjectName(QStringLiteral("specStatsLabel"));
  spec_label_->setToolTip(tr("Speculative decoding: draft tokens accepted per target pass, tokens "
                             "emitted per pass (accepted + bonus) and target passes (steps)"));
  spec_label_->setVisible(false);
  // Permanent labels keep their size; the transient message gets the rest
  // and is elided by QStatusBar, so nothing overlaps at 1024 px.
  statusBar()->addPermanentWidget(spec_label_);
  for (QLabel* l : {count_label_, rate_label_, state_label_}) {
    l->setAlignment(Qt::AlignCenter);
    l->setContentsMargins(6, 0, 6, 0);
    statusBar()->addPermanentWidget(l);
  }
  count_label_->setText(tr("0 tokens"));
  rate_label_->setText(tr("– tok/s"));
}

QString MainWindow::statusTokensPerSecondText() const { return rate_label_->text(); }
QString MainWindow::statusSpecText() const { return spec_label_->text(); }
QString MainWindow::runHeaderText() const { return run_header_->text(); }

void MainWindow::updateSpecLabel(double mean_accepted, double tokens_per_pass, int64_t steps) {
  spec_label_->setText(tr("%1 accepted/pass · %2 tok/pass · %3 steps")
                           .arg(mean_accepted, 0, 'f', 2)
                           .arg(tokens_per_pass, 0, 'f', 2)
                           .arg(steps));
}

void MainWindow::setState(State s) {
  state_ = s;
  state_label_->setText(stateName(s));
  const char* colour = s == State::Error        ? "#d55e00"
                       : s == State::Generating ? "#0072b2"
                       : s == State::Loading    ? "#cc79a7"
                                                : "palette(window-text)";
  state_label_->setStyleSheet(QStringLiteral("QLabel { color: %1; font-weight: bold; }")
                                  .arg(QString::fromLatin1(colour)));
  updateEnabled();
  emit stateChanged(s);
}

void MainWindow::updateEnabled() {
  const bool busy = worker_->isBusy();
  const bool generating = state_ == State::Generating;
  panel_->setGenerateEnabled(!busy && worker_->hasModel());
  panel_->setStopEnabled(generating);
  generate_action_->setEnabled(!busy && worker_->hasModel());
  stop_action_->setEnabled(generating);
  model_bar_->setLoadEnabled(!busy);
  panel_->spec()->setEnabled(!busy);
  tuner_->setBusy(busy);
  open_action_->setEnabled(!busy);
  recent_menu_->setEnabled(!busy);
}

void MainWindow::loadModel(const QString& dir) {
  if (worker_->isBusy()) {
    showError(tr("Cannot load a model while a job is running."));
    return;
  }
  // A folder of models (data/models): offer the ones inside.
  const ModelDirScan scan = scan_model_dir(dir);
  if (!scan.is_model && !scan.models.isEmpty()) {
    QString chosen = scan.models.size() == 1 ? scan.models.first() : QString();
    if (chosen.isEmpty()) {
      QStringList names;
      for (const QString& m : scan.models) names << QFileInfo(m).fileName();
      bool ok = false;
      const QString pick = QInputDialog::getItem(this, tr("Choose a model"),
                                                 tr("%1 holds several models:").arg(dir), names, 0,
                                                 false, &ok);
      if (!ok) return;
      chosen = scan.models[names.indexOf(pick)];
    }
    loadModel(chosen);
    return;
  }
  if (model_bar_->path() != dir) model_bar_->setPath(dir);
  banner_->hide();
  model_bar_->setInfoText(tr("loading %1 …").arg(dir));
  statusBar()->showMessage(tr("Loading %1 …").arg(dir));
  setState(State::Loading);
  worker_->loadModel(dir, model_bar_->threads());  // failures arrive through onError
}

void MainWindow::onModelLoaded(const ModelInfo& info) {
  model_bar_->setInfo(info);
  setWindowTitle(tr("SpecMamba Studio — %1").arg(QFileInfo(info.path).fileName()));
  statusBar()->showMessage(tr("Loaded %1").arg(QDir::toNativeSeparators(info.path)), 5000);
  addRecentModel(info.path);
  tuner_->setModels(info.path, panel_->spec()->draftPath());
  setState(State::Idle);
  emit modelLoadFinished(true);
}

GenerationRequest MainWindow::currentRequest() const {
  GenerationRequest req;
  req.prompt = panel_->prompt();
  req.max_tokens = panel_->sampling()->maxTokens();
  req.sampling = panel_->sampling()->params();
  req.spec = panel_->spec()->request();
  req.device = model_bar_->device();
  return req;
}

bool MainWindow::startGeneration() { return startGenerationWith(currentRequest()); }

bool MainWindow::applyTuner() {
  if (worker_->isBusy()) return false;
  GenerationRequest req = currentRequest();
  QString problem;
  if (!tuner_->fillRequest(req, &problem)) {
    showError(problem);
    emit runFinished(false);
    return false;
  }
  return startGenerationWith(req);
}

bool MainWindow::startGenerationWith(const GenerationRequest& req) {
  if (worker_->isBusy()) return false;
  if (!worker_->hasModel()) {
    showError(tr("No model is loaded: choose a model directory and press Load."));
    emit runFinished(false);
    return false;
  }
  // A bad setting is reported before anything is cleared: the last results stay.
  if (const QString problem = checkRequest(req); !problem.isEmpty()) {
    showError(problem);
    emit runFinished(false);
    return false;
  }

  banner_->hide();
  panel_->output()->startRun(req.prompt);
  spec_run_ = req.spec.enabled;
  spec_steps_ = spec_accepted_ = spec_step_tokens_ = 0;
  chart_step_ = chart_step_tokens_ = 0;
  chart_->setMode(spec_run_ ? LatencyChart::Mode::StepTokens : LatencyChart::Mode::TokenLatency);
  latency_dock_->setWindowTitle(spec_run_ ? tr("Tokens per step") : tr("Decode latency"));
  spec_label_->setVisible(spec_run_);
  if (spec_run_) updateSpecLabel(0, 0, 0);
  tokens_ = 0;
  first_token_s_ = -1.0;
  last_token_s_ = 0.0;
  count_label_->setText(tr("0 tokens"));
  rate_label_->setText(tr("– tok/s"));
  run_header_->setText(tr("Running · %1 · %2 · %3")
                           .arg(QFileInfo(worker_->modelInfo().path).fileName(),
                                spec_run_ ? tr("tree %1 · %2 · %3").arg(req.spec.tree, req.spec.verify, req.spec.backtrack)
                                          : tr("target-only"),
                                req.device));
  statusBar()->showMessage(spec_run_ ? tr("Generating (speculative, tree %1)…").arg(req.spec.tree)
                                     : tr("Generating…"));
  setState(State::Generating);
  return worker_->generate(req);  // failures arrive through onError
}

void MainWindow::stopGeneration() {
  if (state_ != State::Generating) return;
  worker_->stop();
  statusBar()->showMessage(tr("Stopping…"));
}

void MainWindow::onTokens(const QVector<TokenEvent>& tokens) {
  if (tokens.isEmpty()) return;
  // Runs of tokens of the same source and step go to the pane together.
  QByteArray bytes;
  bool run_draft = false;
  int run_tokens = 0, run_step = -1;
  panel_->output()->beginBatch();  // one layout per batch, not per piece
  auto flush = [&] {
    if (run_tokens) panel_->output()->appendGenerated(bytes, run_draft, run_tokens, run_step);
    bytes.clear();
    run_tokens = 0;
  };
  for (const TokenEvent& t : tokens) {
    const int step = t.step > 0 ? t.step - 1 : -1;  // TokenEvent steps are 1-based
    if (run_tokens && (t.draft != run_draft || step != run_step)) flush();
    run_draft = t.draft;
    run_step = step;
    bytes += t.bytes;
    ++run_tokens;
    if (t.index == 0) {
      first_token_s_ = t.elapsed_s;  // prefill is not a decode step: keep it off the chart
    } else if (!spec_run_) {
      chart_->addSample(t.index, t.latency_ms);
    } else if (t.step > 0) {
      ++spec_step_tokens_;
      if (t.draft) ++spec_accepted_;
      // One chart sample per step: the tokens it emitted (a step cut at
      // max_tokens counts what reached the output, as the status does).
      if (t.step != chart_step_) {
        if (chart_step_ > 0) chart_->addSample(chart_step_, chart_step_tokens_);
        chart_step_ = t.step;
        chart_step_tokens_ = 0;
      }
      ++chart_step_tokens_;
      spec_steps_ = std::max(spec_steps_, t.step);
    }
    last_token_s_ = t.elapsed_s;
  }
  flush();
  panel_->output()->endBatch();
  if (spec_run_ && spec_steps_ > 0)
    updateSpecLabel(double(spec_accepted_) / spec_steps_, double(spec_step_tokens_) / spec_steps_,
                    spec_steps_);
  tokens_ += static_cast<int>(tokens.size());
  count_label_->setText(tokenCountText(tokens_));
  if (first_token_s_ >= 0 && tokens_ > 1 && last_token_s_ > first_token_s_)
    rate_label_->setText(
        tr("%1 tok/s").arg((tokens_ - 1) / (last_token_s_ - first_token_s_), 0, 'f', 1));
}

void MainWindow::onFinished(const GenerationSummary& s) {
  if (spec_run_ && chart_step_ > 0) {
    chart_->addSample(chart_step_, chart_step_tokens_);
    chart_step_ = 0;
  }
  // Chart title and status bar from the same figures.
  if (s.speculative) {
    updateSpecLabel(s.mean_accepted, s.tokens_per_pass, s.steps);
    chart_->setFinalTitle(tr("Tokens per step: %1 tok/pass (%2 accepted + bonus) · %3 steps · %4 tok/s")
                              .arg(s.tokens_per_pass, 0, 'f', 2)
                              .arg(s.mean_accepted, 0, 'f', 2)
                              .arg(s.steps)
                              .arg(s.decode_tokens_per_second, 0, 'f', 1));
  } else {
    chart_->setFinalTitle(tr("Decode latency per token · %1 tok/s · %2 tokens")
                              .arg(s.decode_tokens_per_second, 0, 'f', 1)
                              .arg(s.generated));
  }
  count_label_->setText(tokenCountText(s.generated));
  rate_label_->setText(tr("%1 tok/s").arg(s.decode_tokens_per_second, 0, 'f', 1));
  rate_label_->setToolTip(tr("decode %1 tok/s, prefill %2 tokens in %3 ms, overall %4 tok/s")
                              .arg(s.decode_tokens_per_second, 0, 'f', 1)
                              .arg(s.prompt_tokens)
                              .arg(s.prefill_seconds * 1e3, 0, 'f', 1)
                              .arg(s.total_tokens_per_second, 0, 'f', 1));
  if (s.cancelled) panel_->output()->appendNote(tr("[stopped]"));
  statusBar()->showMessage(
      tr("%1 tokens (prompt %2, prefill %3 ms), decode %4 tok/s on %5 — %6")
          .arg(s.generated)
          .arg(s.prompt_tokens)
          .arg(s.prefill_seconds * 1e3, 0, 'f', 1)
          .arg(s.decode_tokens_per_second, 0, 'f', 1)
          .arg(s.device, s.stop_reason));
  if (s.sim_tokens_per_second > 0) {
    rate_label_->setText(tr("%1 tok/s · simulated %2 tok/s")
                             .arg(s.decode_tokens_per_second, 0, 'f', 1)
                             .arg(s.sim_tokens_per_second, 0, 'f', 1));
    rate_label_->setToolTip(rate_label_->toolTip() + tr("\nsimulated accelerator: %1").arg(s.sim_device));
  }
  if (!s.device_note.isEmpty()) banner_->showMessage(s.device_note, MessageBanner::Kind::Info);
  if (s.speculative)
    spec_label_->setToolTip(tr("Speculative decoding, tree %1: %2 target passes, %3 of %4 draft "
                               "tokens accepted (mean accepted per pass, tokens per pass incl. "
                               "the bonus token, steps)")
                                .arg(s.tree)
                                .arg(s.steps)
                                .arg(s.accepted)
                                .arg(s.drafted));
  if (s.record) {
    const int row = runs_->addRun(s.record);
    showRun(s.record, false);  // the pane already holds the streamed text
    run_table_->selectionModel()->blockSignals(true);
    run_table_->selectRow(row);
    run_table_->selectionModel()->blockSignals(false);
  }
  setState(s.cancelled ? State::Stopped : State::Idle);
  emit runFinished(true);
}

void MainWindow::showRun(std::shared_ptr<const RunRecord> run, bool render_text) {
  current_run_ = std::move(run);
  current_step_ = -1;
  const RunRecord* r = current_run_.get();
  tree_view_->setRun(current_run_);
  fifo_view_->setRun(current_run_);
  backtrack_view_->setRun(current_run_);
  timeline_view_->setRun(current_run_);
  if (!r) {
    run_header_->setText(tr("No run selected"));
    emit currentRunChanged();
    return;
  }
  const int row = runs_->rowOf(r);
  const QString name = row >= 0 ? runs_->name(row) : r->name;
  QString header = tr("%1 · %2 · %3 · %4 tokens · %5 tok/s")
                       .arg(name, QFileInfo(r->settings.target).fileName(), r->settings.describe())
                       .arg(r->figures.generated)
                       .arg(r->figures.tokens_per_second, 0, 'f', 1);
  if (row >= 0 && runs_->speedup(row) > 0 && r->settings.speculative())
    header += tr(" · %1x target-only").arg(runs_->speedup(row), 0, 'f', 2);
  run_header_->setText(header);
  if (render_text) {
    panel_->output()->showRun(*r);
    if (r->settings.speculative()) {
      chart_->setMode(LatencyChart::Mode::StepTokens);
      for (size_t i = 0; i < r->steps.size(); ++i) chart_->addSample(int(i) + 1, r->steps[i].emitted);
      chart_->setFinalTitle(tr("Tokens per step: %1 tok/pass (%2 accepted + bonus) · %3 steps")
                                .arg(r->figures.tokens_per_pass, 0, 'f', 2)
                                .arg(r->figures.mean_accepted, 0, 'f', 2)
                                .arg(r->figures.steps));
    } else {
      chart_->setMode(LatencyChart::Mode::TokenLatency);
    }
  }
  emit currentRunChanged();
  if (!r->steps.empty()) selectStep(0);
}

void MainWindow::selectStep(int step) {
  if (selecting_ || !current_run_) return;
  if (step < 0 || step >= int(current_run_->steps.size())) return;
  selecting_ = true;
  current_step_ = step;
  tree_view_->setStep(step);
  fifo_view_->setStep(step);
  backtrack_view_->setStep(step);
  timeline_view_->setStep(step);
  chart_->setSelectedStep(step);
  panel_->output()->highlightStep(step);
  const StepRecord& s = current_run_->steps[size_t(step)];
  statusBar()->showMessage(tr("Step %1: %2 of %3 draft tokens accepted, %4 emitted, %5 us")
                               .arg(step)
                               .arg(s.accepted)
                               .arg(int(s.nodes.size()) - 1)
                               .arg(s.emitted)
                               .arg(s.step_us, 0, 'f', 1),
                           8000);
  selecting_ = false;
  emit currentStepChanged(step);
}

void MainWindow::selectRun(int row) {
  auto run = runs_->run(row);
  if (!run || run == current_run_) return;
  if (worker_->isBusy()) return;  // the pane belongs to the running job
  showRun(run, true);
}

bool MainWindow::openTrace(const QString& path) {
  try {
    auto run = std::make_shared<const RunRecord>(open_trace(path));
    const int row = runs_->addRun(run);
    run_table_->selectionModel()->blockSignals(true);
    run_table_->selectRow(row);
    run_table_->selectionModel()->blockSignals(false);
    if (!worker_->isBusy()) showRun(run, true);
    statusBar()->showMessage(tr("Opened %1 (%2 steps)").arg(path).arg(run->steps.size()), 5000);
    return true;
  } catch (const std::exception& e) {
    showError(tr("Cannot open the trace: %1").arg(QString::fromUtf8(e.what())));
    return false;
  }
}

bool MainWindow::exportTrace(const QString& path) {
  if (!current_run_) {
    showError(tr("No run to export: generate, or select a run in the run list."));
    return false;
  }
  try {
    save_trace(*current_run_, path);
    statusBar()->showMessage(tr("Saved %1").arg(path), 5000);
    return true;
  } catch (const std::exception& e) {
    showError(tr("Cannot save the trace: %1").arg(QString::fromUtf8(e.what())));
    return false;
  }
}

void MainWindow::browseTraceToOpen() {
  const QString path = QFileDialog::getOpenFileName(this, tr("Open Trace"), QString(), trace_file_filter());
  if (!path.isEmpty()) openTrace(path);
}

void MainWindow::browseTraceToExport() {
  if (!current_run_) {
    showError(tr("No run to export: generate, or select a run in the run list."));
    return;
  }
  const int row = runs_->rowOf(current_run_.get());
  const QString stem = (row >= 0 ? runs_->name(row) : QStringLiteral("run")).replace(' ', '_').toLower();
  const QString path =
      QFileDialog::getSaveFileName(this, tr("Export Trace"), stem + QStringLiteral(".json"), trace_file_filter());
  if (!path.isEmpty()) exportTrace(path);
}

void MainWindow::compareRuns(int row_a, int row_b) {
  auto a = runs_->run(row_a), b = runs_->run(row_b);
  if (!a || !b) return;
  auto* dlg = new CompareView(this);
  dlg->setAttribute(Qt::WA_DeleteOnClose);
  dlg->setRuns(a, runs_->name(row_a), runs_->baseline(row_a), b, runs_->name(row_b), runs_->baseline(row_b));
  dlg->show();
}

RaceRequest MainWindow::raceRequest() const {
  RaceRequest r;
  r.target_dir = worker_->hasModel() ? worker_->modelInfo().path : model_bar_->path();
  const SpecRequest spec = panel_->spec()->request();
  r.draft_dir = spec.draft_path;
  r.prompt = panel_->prompt();
  r.max_tokens = std::clamp(panel_->sampling()->maxTokens(), 1, 5000);
  r.sampling = panel_->sampling()->params();
  r.spec = spec;
  r.spec.enabled = true;
  r.threads = model_bar_->threads();
  return r;
}

void MainWindow::startRace() {
  if (QDockWidget* d = dock(QStringLiteral("raceDock"))) {
    d->show();
    d->raise();
  }
  race_view_->setRequest(raceRequest());
  race_view_->start();
}

void MainWindow::setPresentationMode(bool on) {
  QFont f = QApplication::font();
  static const qreal base = f.pointSizeF();
  f.setPointSizeF(on ? base * 1.5 : base);
  QApplication::setFont(f);
  model_bar_->setVisible(!on);
  panel_->setPresentationMode(on);
  race_view_->setPresentation(on);
  for (const char* name : {"fifoDock", "backtrackDock", "runsDock"})
    if (QDockWidget* d = dock(QString::fromLatin1(name))) d->setVisible(!on);
  if (presentation_action_->isChecked() != on) presentation_action_->setChecked(on);
}

void MainWindow::addRecentModel(const QString& dir) {
  const QString clean = QDir::cleanPath(QFileInfo(dir).absoluteFilePath());
  recent_models_.removeAll(clean);
  recent_models_.prepend(clean);
  while (recent_models_.size() > kRecentModels) recent_models_.removeLast();
  rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
  recent_menu_->clear();
  for (const QString& dir : recent_models_)
    recent_menu_->addAction(QDir::toNativeSeparators(dir), this, [this, dir] { loadModel(dir); });
  recent_menu_->setEnabled(!recent_models_.isEmpty());
}

void MainWindow::restoreSettings() {
  QSettings s;
  if (s.contains(QStringLiteral("window/geometry"))) restoreGeometry(s.value(QStringLiteral("window/geometry")).toByteArray());
  if (s.contains(QStringLiteral("window/state"))) restoreState(s.value(QStringLiteral("window/state")).toByteArray());
  recent_models_ = s.value(QStringLiteral("models/recent")).toStringList();
  rebuildRecentMenu();
  if (s.contains(QStringLiteral("run/prompt"))) panel_->setPrompt(s.value(QStringLiteral("run/prompt")).toString());
  SpecRequest r = panel_->spec()->request();
  r.enabled = s.value(QStringLiteral("spec/enabled"), r.enabled).toBool();
  r.draft_path = s.value(QStringLiteral("spec/draft"), r.draft_path).toString();
  r.tree = s.value(QStringLiteral("spec/tree"), r.tree).toString();
  r.verify = s.value(QStringLiteral("spec/verify"), r.verify).toString();
  r.backtrack = s.value(QStringLiteral("spec/backtrack"), r.backtrack).toString();
  r.budget = s.value(QStringLiteral("spec/budget"), qlonglong(r.budget)).toLongLong();
  r.tile = s.value(QStringLiteral("spec/tile"), r.tile).toInt();
  panel_->spec()->setRequest(r);
  SamplingParams p = panel_->sampling()->params();
  p.temperature = s.value(QStringLiteral("sampling/temperature"), p.temperature).toFloat();
  p.top_k = s.value(QStringLiteral("sampling/top_k"), p.top_k).toInt();
  p.top_p = s.value(QStringLiteral("sampling/top_p"), p.top_p).toFloat();
  p.seed = s.value(QStringLiteral("sampling/seed"), qulonglong(p.seed)).toULongLong();
  panel_->sampling()->setParams(p);
  panel_->sampling()->setMaxTokens(s.value(QStringLiteral("sampling/max_tokens"), panel_->sampling()->maxTokens()).toInt());
  tuner_->restoreFields(s.value(QStringLiteral("tuner/fields")).toMap());
}

void MainWindow::saveSettings() const {
  QSettings s;
  s.setValue(QStringLiteral("window/geometry"), saveGeometry());
  s.setValue(QStringLiteral("window/state"), saveState());
  s.setValue(QStringLiteral("models/recent"), recent_models_);
  s.setValue(QStringLiteral("models/last"), model_bar_->path());
  s.setValue(QStringLiteral("run/prompt"), panel_->prompt());
  const SpecRequest r = panel_->spec()->request();
  s.setValue(QStringLiteral("spec/enabled"), r.enabled);
  s.setValue(QStringLiteral("spec/draft"), r.draft_path);
  s.setValue(QStringLiteral("spec/tree"), r.tree);
  s.setValue(QStringLiteral("spec/verify"), r.verify);
  s.setValue(QStringLiteral("spec/backtrack"), r.backtrack);
  s.setValue(QStringLiteral("spec/budget"), qlonglong(r.budget));
  s.setValue(QStringLiteral("spec/tile"), r.tile);
  const SamplingParams p = panel_->sampling()->params();
  s.setValue(QStringLiteral("sampling/temperature"), p.temperature);
  s.setValue(QStringLiteral("sampling/top_k"), p.top_k);
  s.setValue(QStringLiteral("sampling/top_p"), p.top_p);
  s.setValue(QStringLiteral("sampling/seed"), qulonglong(p.seed));
  s.setValue(QStringLiteral("sampling/max_tokens"), panel_->sampling()->maxTokens());
  s.setValue(QStringLiteral("tuner/fields"), tuner_->fieldValues());
}

void MainWindow::onError(const QString& message) {
  const State was = state_;
  showError(message);
  if (was == State::Loading) {
    model_bar_->setInfoText(worker_->hasModel()
                                ? tr("load failed; still using %1").arg(worker_->modelInfo().path)
                                : tr("no model loaded"));
    setState(State::Error);
    emit modelLoadFinished(false);
  } else if (was == State::Generating) {
    if (spec_steps_ == 0) spec_label_->setVisible(false);  // no figures to show
    setState(State::Error);
    emit runFinished(false);
  }
}

void MainWindow::showError(const QString& message) {
  banner_->showMessage(message, MessageBanner::Kind::Error);
  statusBar()->showMessage(tr("Error: %1").arg(message), 10000);
}

void MainWindow::resizeEvent(QResizeEvent* event) {
  QMainWindow::resizeEvent(event);
  keepCentreUsable();
}

void MainWindow::keepCentreUsable() {
  // Docks keep their width when the window shrinks and the centre takes the
  // whole loss (at 640 px it was 60 px wide): give it back what its controls
  // need, up to 3/5 of the width and half the height; the docks shrink down
  // to their own minimum.
  auto* scroll = qobject_cast<QScrollArea*>(centralWidget());
  if (!scroll || !scroll->widget()) return;
  const int bar = style()->pixelMetric(QStyle::PM_ScrollBarExtent) + 2;
  const QSize need = scroll->widget()->minimumSizeHint() + QSize(bar, bar);
  const int short_w = std::min(need.width(), width() * 3 / 5) - scroll->width();
  const int short_h = std::min(need.height(), height() / 2) - scroll->height();
  auto shrink = [this](Qt::DockWidgetArea area, Qt::Orientation o, int by) {
    if (by <= 0) return;
    auto extent = [o](const QDockWidget* d) { return o == Qt::Horizontal ? d->width() : d->height(); };
    QList<QDockWidget*> docks;
    QList<int> sizes;
    for (QDockWidget* d : findChildren<QDockWidget*>(Qt::FindDirectChildrenOnly)) {
      if (!d->isVisibleTo(this) || d->isFloating() || dockWidgetArea(d) != area) continue;
      // One per tab group: the shown tab (the others keep a stale size).
      const QList<QDockWidget*> tabs = tabifiedDockWidgets(d);
      if (std::any_of(tabs.begin(), tabs.end(), [&](QDockWidget* t) { return extent(t) > extent(d); })) continue;
      if (std::any_of(docks.begin(), docks.end(), [&](QDockWidget* t) { return tabs.contains(t); })) continue;
      docks << d;
      sizes << std::max(1, extent(d) - by);
    }
    if (!docks.isEmpty()) resizeDocks(docks, sizes, o);
  };
  shrink(Qt::RightDockWidgetArea, Qt::Horizontal, short_w);
  shrink(Qt::BottomDockWidgetArea, Qt::Vertical, short_h);
}

void MainWindow::closeEvent(QCloseEvent* event) {
  worker_->cancelAndWait();
  if (persist_) saveSettings();
  QMainWindow::closeEvent(event);
}

}  // namespace sm::ui
