// SPDX-License-Identifier: Apache-2.0
#include "ui/main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFileInfo>
#include <QKeySequence>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QPushButton>
#include <QStatusBar>
#include <QVBoxLayout>

#include <algorithm>

#include "ui/generation_panel.h"
#include "ui/generation_types.h"
#include "ui/generation_worker.h"
#include "ui/latency_chart.h"
#include "ui/message_banner.h"
#include "ui/model_bar.h"
#include "core/io/default_paths.h"
#include "ui/sampling_controls.h"
#include "ui/spec_controls.h"
#include "ui/token_stream_view.h"

namespace sm::ui {

namespace {
QString tokenCountText(int64_t n) {
  return n == 1 ? MainWindow::tr("1 token") : MainWindow::tr("%1 tokens").arg(n);
}
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

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setObjectName(QStringLiteral("SpecMambaStudioMainWindow"));
  setWindowTitle(tr("SpecMamba Studio"));
  setDockNestingEnabled(true);

  worker_ = new GenerationWorker(this);

  auto* central = new QWidget(this);
  model_bar_ = new ModelBar(central);
  banner_ = new MessageBanner(central);
  panel_ = new GenerationPanel(central);
  auto* layout = new QVBoxLayout(central);
  layout->setContentsMargins(8, 8, 8, 4);
  layout->addWidget(model_bar_);
  layout->addWidget(banner_);
  layout->addWidget(panel_, 1);
  setCentralWidget(central);

  chart_ = new LatencyChart(this);
  setupMenus();
  QDockWidget* latency_dock =
      addView(QStringLiteral("latencyDock"), tr("Decode latency"), chart_, Qt::BottomDockWidgetArea);
  latency_dock_ = latency_dock;
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
  resize(1280, 860);
  resizeDocks({latency_dock}, {260}, Qt::Vertical);
  setState(State::Idle);
}

MainWindow::~MainWindow() {
  // Join the job before the views it reports to go away.
  worker_->cancelAndWait();
}

bool MainWindow::hasModel() const { return worker_->hasModel(); }

void MainWindow::setupMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  open_action_ = file->addAction(tr("&Open Model…"), model_bar_, &ModelBar::browse);
  open_action_->setShortcut(QKeySequence::Open);
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  QMenu* run = menuBar()->addMenu(tr("&Run"));
  generate_action_ = run->addAction(tr("&Generate"), this, &MainWindow::startGeneration);
  generate_action_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
  stop_action_ = run->addAction(tr("&Stop"), this, &MainWindow::stopGeneration);
  stop_action_->setShortcut(QKeySequence(Qt::Key_Escape));

  view_menu_ = menuBar()->addMenu(tr("&View"));
}

QDockWidget* MainWindow::addView(const QString& object_name, const QString& title, QWidget* view,
                                 Qt::DockWidgetArea area) {
  auto* dock = new QDockWidget(title, this);
  dock->setObjectName(object_name);
  dock->setWidget(view);
  addDockWidget(area, dock);
  view_menu_->addAction(dock->toggleViewAction());
  return dock;
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
  spec_label_->setAlignment(Qt::AlignCenter);
  spec_label_->setVisible(false);
  statusBar()->addPermanentWidget(spec_label_);
  for (QLabel* l : {count_label_, rate_label_, state_label_}) {
    l->setMinimumWidth(l->fontMetrics().horizontalAdvance(QStringLiteral("0000000 tokens")) + 8);
    l->setAlignment(Qt::AlignCenter);
    statusBar()->addPermanentWidget(l);
  }
  count_label_->setText(tr("0 tokens"));
  rate_label_->setText(tr("– tok/s"));
}

QString MainWindow::statusTokensPerSecondText() const { return rate_label_->text(); }
QString MainWindow::statusSpecText() const { return spec_label_->text(); }

void MainWindow::updateSpecLabel(double mean_accepted, double tokens_per_pass, int64_t steps) {
  spec_label_->setText(tr("mean accepted %1/pass · %2 tok/pass · %3 steps")
                           .arg(mean_accepted, 0, 'f', 2)
                           .arg(tokens_per_pass, 0, 'f', 2)
                           .arg(steps));
}

void MainWindow::setState(State s) {
  state_ = s;
  state_label_->setText(stateName(s));
  const char* colour = s == State::Error        ? "#b71c1c"
                       : s == State::Generating ? "#0d47a1"
                       : s == State::Loading    ? "#6a1b9a"
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
  open_action_->setEnabled(!busy);
}

void MainWindow::loadModel(const QString& dir) {
  if (worker_->isBusy()) {
    showError(tr("Cannot load a model while a job is running."));
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
  setState(State::Idle);
  emit modelLoadFinished(true);
}

bool MainWindow::startGeneration() {
  if (worker_->isBusy()) return false;
  if (!worker_->hasModel()) {
    showError(tr("No model is loaded: choose a model directory and press Load."));
    emit runFinished(false);
    return false;
  }
  GenerationRequest req;
  req.prompt = panel_->prompt();
  req.max_tokens = panel_->sampling()->maxTokens();
  req.sampling = panel_->sampling()->params();
  req.spec = panel_->spec()->request();

  banner_->hide();
  panel_->output()->startRun(req.prompt);
  spec_run_ = req.spec.enabled;
  spec_steps_ = spec_accepted_ = spec_step_tokens_ = 0;
  chart_->setMode(spec_run_ ? LatencyChart::Mode::StepTokens : LatencyChart::Mode::TokenLatency);
  latency_dock_->setWindowTitle(spec_run_ ? tr("Tokens per step") : tr("Decode latency"));
  spec_label_->setVisible(spec_run_);
  if (spec_run_) updateSpecLabel(0, 0, 0);
  tokens_ = 0;
  first_token_s_ = -1.0;
  last_token_s_ = 0.0;
  count_label_->setText(tr("0 tokens"));
  rate_label_->setText(tr("– tok/s"));
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
  // Runs of tokens of the same source go to the pane together.
  QByteArray bytes;
  bool run_draft = false;
  int run_tokens = 0;
  auto flush = [&] {
    if (run_tokens) panel_->output()->appendGenerated(bytes, run_draft, run_tokens);
    bytes.clear();
    run_tokens = 0;
  };
  for (const TokenEvent& t : tokens) {
    if (run_tokens && t.draft != run_draft) flush();
    run_draft = t.draft;
    bytes += t.bytes;
    ++run_tokens;
    if (t.index == 0) {
      first_token_s_ = t.elapsed_s;  // prefill is not a decode step: keep it off the chart
    } else if (!spec_run_) {
      chart_->addSample(t.index, t.latency_ms);
    } else if (t.step > 0) {
      ++spec_step_tokens_;
      if (t.draft) ++spec_accepted_;
      spec_steps_ = std::max(spec_steps_, t.step);
      if (!t.draft) chart_->addSample(t.step, t.step_tokens);  // the bonus ends its step
    }
    last_token_s_ = t.elapsed_s;
  }
  flush();
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
  chart_->replotNow();
  count_label_->setText(tokenCountText(s.generated));
  rate_label_->setText(tr("%1 tok/s").arg(s.decode_tokens_per_second, 0, 'f', 1));
  rate_label_->setToolTip(tr("decode %1 tok/s, prefill %2 tokens in %3 ms, overall %4 tok/s")
                              .arg(s.decode_tokens_per_second, 0, 'f', 1)
                              .arg(s.prompt_tokens)
                              .arg(s.prefill_seconds * 1e3, 0, 'f', 1)
                              .arg(s.total_tokens_per_second, 0, 'f', 1));
  if (s.speculative) updateSpecLabel(s.mean_accepted, s.tokens_per_pass, s.steps);
  if (s.cancelled) panel_->output()->appendNote(tr("[stopped]"));
  statusBar()->showMessage(
      tr("%1 tokens (prompt %2, prefill %3 ms), decode %4 tok/s — %5")
          .arg(s.generated)
          .arg(s.prompt_tokens)
          .arg(s.prefill_seconds * 1e3, 0, 'f', 1)
          .arg(s.decode_tokens_per_second, 0, 'f', 1)
          .arg(s.stop_reason));
  if (s.speculative)
    spec_label_->setToolTip(tr("Speculative decoding, tree %1: %2 target passes, %3 of %4 draft "
                               "tokens accepted (mean accepted per pass, tokens per pass incl. "
                               "the bonus token, steps)")
                                .arg(s.tree)
                                .arg(s.steps)
                                .arg(s.accepted)
                                .arg(s.drafted));
  setState(s.cancelled ? State::Stopped : State::Idle);
  emit runFinished(true);
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
  statusBar()->showMessage(tr("Error: %1").arg(message));
}

void MainWindow::closeEvent(QCloseEvent* event) {
  worker_->cancelAndWait();
  QMainWindow::closeEvent(event);
}

}  // namespace sm::ui
