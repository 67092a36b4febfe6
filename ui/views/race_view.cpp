// SPDX-License-Identifier: Apache-2.0
#include "ui/views/race_view.h"

#include <QCheckBox>
#include <QComboBox>
#include <QEvent>
#include <QGridLayout>
#include <QFontMetrics>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QShortcut>
#include <QSpinBox>
#include <QTextCursor>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include "ui/views/palette.h"

namespace sm::ui {
namespace {

constexpr double kPresentationScale = 1.6;
constexpr int kTickMs = 16;  // ~60 Hz

// A tint of `c` over the pane's background, readable in light and dark themes
// (the same mix as the output pane's).
QColor tint(const QColor& c, const QColor& base) {
  const double a = colors::dark_theme() ? 0.45 : 0.22;
  return QColor::fromRgbF(base.redF() * (1 - a) + c.redF() * a, base.greenF() * (1 - a) + c.greenF() * a,
                          base.blueF() * (1 - a) + c.blueF() * a);
}

// A label's text colour; an invalid colour returns it to the inherited palette
// (so a later theme change still reaches it).
void set_text_colour(QLabel* label, const QColor& c) {
  if (!c.isValid()) {
    label->setPalette(QPalette());
    return;
  }
  QPalette p = label->palette();
  p.setColor(QPalette::WindowText, c);
  label->setPalette(p);
}

QString rate_text(double tps) { return QLocale().toString(tps, 'f', 0); }

QString ms_text(double s) {
  if (s >= 10) return QStringLiteral("%1 s").arg(s, 0, 'f', 1);
  return QStringLiteral("%1 ms").arg(s * 1e3, 0, 'f', s < 0.01 ? 2 : (s < 1 ? 1 : 0));
}

// "1/300": a factor as a round fraction of real time.
int denominator(double factor) { return factor > 0 ? int(std::lround(1.0 / factor)) : 0; }

struct SpeedItem {
  const char* label;
  double factor;
};
constexpr SpeedItem kSpeeds[] = {{"1/1000", 1e-3}, {"1/300", 1.0 / 300}, {"1/100", 1e-2}, {"1/30", 1.0 / 30},
                                 {"1/10", 0.1},    {"1/4", 0.25},        {"1/2", 0.5},   {"1x (real time)", 1.0}};

}  // namespace

RaceView::RaceView(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("raceView"));
  buildUi();
  updateFormats();
  applyFonts();
  timer_.setInterval(kTickMs);
  timer_.setTimerType(Qt::PreciseTimer);
  connect(&timer_, &QTimer::timeout, this, &RaceView::tick);
  connect(&worker_, &RaceWorker::progress, this, &RaceView::onProgress);
  connect(&worker_, &RaceWorker::finished, this, &RaceView::onMeasured);
  connect(&worker_, &RaceWorker::failed, this, &RaceView::onFailed);
  connect(&worker_, &RaceWorker::cancelled, this, &RaceView::onCancelled);
  setRequest(RaceRequest{});
  setStatus(tr("Start race (Ctrl+R) measures target-only, then speculative decoding of the same prompt, "
               "and plays both back side by side."));
}

RaceView::~RaceView() { worker_.cancelAndWait(); }

void RaceView::buildUi() {
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  auto* scroll = new QScrollArea(this);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setWidgetResizable(true);
  outer->addWidget(scroll);
  auto* content = new QWidget;
  // Below this the view scrolls instead of squeezing the panes to nothing.
  content->setMinimumSize(420, 300);
  scroll->setWidget(content);
  auto* root = new QVBoxLayout(content);
  root->setContentsMargins(8, 6, 8, 6);
  root->setSpacing(4);

  auto* buttons = new QHBoxLayout;
  start_ = new QPushButton(tr("Start race"));
  start_->setObjectName(QStringLiteral("raceStart"));
  start_->setToolTip(tr("Measure both lanes, one after the other, then play them back (Ctrl+R)"));
  stop_ = new QPushButton(tr("Stop"));
  stop_->setObjectName(QStringLiteral("raceStop"));
  stop_->setToolTip(tr("Cancel the measurement, or freeze the playback"));
  replay_ = new QPushButton(tr("Replay"));
  replay_->setObjectName(QStringLiteral("raceReplay"));
  replay_->setToolTip(tr("Play the last race again"));
  presentation_box_ = new QCheckBox(tr("Presentation"));
  presentation_box_->setObjectName(QStringLiteral("racePresentation"));
  presentation_box_->setToolTip(tr("Larger fonts, fewer controls"));
  buttons->addWidget(start_);
  buttons->addWidget(stop_);
  buttons->addWidget(replay_);
  buttons->addStretch(1);
  buttons->addWidget(presentation_box_);
  root->addLayout(buttons);

  secondary_ = new QWidget;
  secondary_grid_ = new QGridLayout(secondary_);
  secondary_grid_->setContentsMargins(0, 0, 0, 0);
  prompt_ = new QLineEdit;
  prompt_->setObjectName(QStringLiteral("racePrompt"));
  prompt_->setPlaceholderText(tr("prompt"));
  prompt_->setMinimumWidth(60);
  tokens_ = new QSpinBox;
  tokens_->setObjectName(QStringLiteral("raceTokens"));
  tokens_->setRange(1, 100000);
  tokens_->setToolTip(tr("Tokens to generate in each lane"));
  tree_ = new QLineEdit;
  tree_->setObjectName(QStringLiteral("raceTree"));
  tree_->setToolTip(tr("Draft tree: widths per depth, e.g. 2,2,1"));
  tree_->setMaximumWidth(90);
  speed_ = new QComboBox;
  speed_->setObjectName(QStringLiteral("raceSpeed"));
  speed_->setToolTip(tr("Playback speed: seconds on screen per measured second"));
  speed_->addItem(tr("auto (%1 tok/s)").arg(kAutoTokensPerSecond, 0, 'f', 0), 0.0);
  for (const SpeedItem& s : kSpeeds) speed_->addItem(QString::fromLatin1(s.label), s.factor);
  QWidget* items[8] = {new QLabel(tr("Prompt")), prompt_, new QLabel(tr("Tokens")), tokens_,
                       new QLabel(tr("Tree")),   tree_,   new QLabel(tr("Speed")),  speed_};
  std::copy(std::begin(items), std::end(items), secondary_items_);
  placeSecondary(false);
  root->addWidget(secondary_);

  status_ = new QLabel;
  status_->setObjectName(QStringLiteral("raceStatus"));
  status_->setWordWrap(true);
  root->addWidget(status_);

  speedup_ = new QLabel;
  speedup_->setObjectName(QStringLiteral("raceSpeedup"));
  speedup_->setAlignment(Qt::AlignCenter);
  check_ = new QLabel;
  check_->setObjectName(QStringLiteral("raceCheck"));
  check_->setAlignment(Qt::AlignCenter);
  check_->setWordWrap(true);
  root->addWidget(speedup_);
  root->addWidget(check_);

  auto* lanes = new QHBoxLayout;
  lanes->setSpacing(10);
  for (Lane* lane : {&plain_, &spec_}) {
    const bool spec = lane == &spec_;
    const QString id = spec ? QStringLiteral("spec") : QStringLiteral("plain");
    auto* col = new QVBoxLayout;
    col->setSpacing(2);
    lane->title = new QLabel;
    lane->title->setObjectName(id + QStringLiteral("Title"));
    lane->title->setWordWrap(true);
    lane->figure = new QLabel;
    lane->figure->setObjectName(id + QStringLiteral("Figure"));
    lane->figure->setWordWrap(true);
    lane->detail = new QLabel;
    lane->detail->setObjectName(id + QStringLiteral("Detail"));
    lane->detail->setWordWrap(true);
    lane->pane = new QPlainTextEdit;
    lane->pane->setObjectName(id + QStringLiteral("Pane"));
    lane->pane->setReadOnly(true);
    lane->pane->setLineWrapMode(QPlainTextEdit::WidgetWidth);
    lane->pane->setWordWrapMode(QTextOption::WrapAtWordBoundaryOrAnywhere);
    lane->pane->setMinimumHeight(60);
    col->addWidget(lane->title);
    col->addWidget(lane->figure);
    col->addWidget(lane->detail);
    col->addWidget(lane->pane, 1);
    lanes->addLayout(col, 1);
  }
  root->addLayout(lanes, 1);

  legend_ = new QLabel;
  legend_->setObjectName(QStringLiteral("raceLegend"));
  legend_->setWordWrap(true);
  legend_->setTextFormat(Qt::RichText);
  root->addWidget(legend_);

  connect(start_, &QPushButton::clicked, this, &RaceView::start);
  connect(stop_, &QPushButton::clicked, this, &RaceView::stop);
  connect(replay_, &QPushButton::clicked, this, &RaceView::replay);
  connect(presentation_box_, &QCheckBox::toggled, this, &RaceView::setPresentation);
  connect(tree_, &QLineEdit::textChanged, this, &RaceView::updateTitles);
  connect(speed_, &QComboBox::currentIndexChanged, this, [this] {
    const double pos = playbackPosition();
    factor_ = speed_->currentData().toDouble();
    if (state_ == State::Playing) {  // keep the playback where it is
      play_offset_s_ = pos;
      clock_.restart();
    }
    if (state_ == State::Playing || state_ == State::Done || state_ == State::Stopped) tick();
  });
  // Only while the focus is in the view: the main window has its own shortcuts.
  auto* shortcut = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_R), this);
  shortcut->setContext(Qt::WidgetWithChildrenShortcut);
  connect(shortcut, &QShortcut::activated, this, [this] {
    if (start_->isEnabled()) start();
  });
  updateControls();
}

void RaceView::placeSecondary(bool narrow) {
  if (int(narrow) == secondary_narrow_) return;
  secondary_narrow_ = int(narrow);
  for (QWidget* w : secondary_items_) secondary_grid_->removeWidget(w);
  for (int c = 0; c < 8; ++c) secondary_grid_->setColumnStretch(c, 0);
  if (!narrow) {
    for (int i = 0; i < 8; ++i) secondary_grid_->addWidget(secondary_items_[i], 0, i);
    secondary_grid_->setColumnStretch(1, 1);
  } else {  // prompt on its own row, the short fields below
    secondary_grid_->addWidget(secondary_items_[0], 0, 0);
    secondary_grid_->addWidget(secondary_items_[1], 0, 1, 1, 6);
    for (int i = 2; i < 8; ++i) secondary_grid_->addWidget(secondary_items_[i], 1, i - 2);
    secondary_grid_->setColumnStretch(6, 1);
  }
}

void RaceView::resizeEvent(QResizeEvent* e) {
  QWidget::resizeEvent(e);
  placeSecondary(width() < 760);
  const bool compact = width() < 600 || height() < 450;
  if (compact != compact_) {
    compact_ = compact;
    applyFonts();
    for (Lane* lane : {&plain_, &spec_}) lane->detail->setVisible(!compact_ && !presentation_);
  }
}

void RaceView::applyFonts() {
  const QFont base = font();
  const double s = presentation_ ? kPresentationScale : 1.0;
  auto scaled = [&](double k, bool bold) {
    QFont f = base;
    f.setPointSizeF(base.pointSizeF() * k * s);
    f.setBold(bold);
    return f;
  };
  for (QWidget* w : {static_cast<QWidget*>(start_), static_cast<QWidget*>(stop_), static_cast<QWidget*>(replay_),
                     static_cast<QWidget*>(presentation_box_), static_cast<QWidget*>(status_),
                     static_cast<QWidget*>(legend_)})
    w->setFont(scaled(1.0, false));
  speedup_->setFont(scaled(compact_ ? 1.6 : 2.2, true));
  check_->setFont(scaled(1.1, false));
  // The headline's room stays reserved, so the panes do not jump when it appears.
  speedup_->setMinimumHeight(QFontMetrics(speedup_->font()).height());
  for (Lane* lane : {&plain_, &spec_}) {
    lane->title->setFont(scaled(1.1, true));
    lane->figure->setFont(scaled(compact_ ? 1.25 : 1.7, true));
    lane->detail->setFont(scaled(0.95, false));
    lane->pane->setFont(scaled(1.15, false));
  }
}

void RaceView::updateFormats() {
  const QPalette pal = plain_.pane->palette();
  prompt_fmt_ = QTextCharFormat();
  prompt_fmt_.setForeground(colors::muted());
  target_fmt_ = QTextCharFormat();
  target_fmt_.setForeground(pal.color(QPalette::Text));
  draft_fmt_ = QTextCharFormat();
  draft_fmt_.setForeground(pal.color(QPalette::Text));
  draft_fmt_.setBackground(tint(colors::accepted(), pal.color(QPalette::Base)));
  draft_fmt_.setFontUnderline(true);  // not colour alone
  // The accepted blue is too dark to see on a dark tint: its lighter partner there.
  draft_fmt_.setUnderlineColor(colors::dark_theme() ? colors::draft() : colors::accepted());
  legend_->setText(tr("<span style=\"background:%1; text-decoration:underline\">&nbsp;underlined, tinted&nbsp;</span>"
                      " accepted draft token &nbsp;·&nbsp; plain: the target's own token (prefill, bonus) "
                      "&nbsp;·&nbsp; grey: the prompt")
                       .arg(draft_fmt_.background().color().name()));
}

void RaceView::changeEvent(QEvent* e) {
  QWidget::changeEvent(e);
  if (e->type() == QEvent::FontChange) applyFonts();  // e.g. the window's presentation mode
  if (e->type() == QEvent::PaletteChange) updateFormats();
}

void RaceView::setRequest(const RaceRequest& request) {
  request_ = request;
  prompt_->setText(request.prompt);
  tokens_->setValue(request.max_tokens);
  tree_->setText(request.spec.tree);
  const QString dirs = tr("target: %1\ndraft: %2").arg(request.target_dir, request.draft_dir);
  start_->setToolTip(tr("Measure both lanes, one after the other, then play them back (Ctrl+R)\n") + dirs);
  updateTitles();
}

RaceRequest RaceView::request() const {
  RaceRequest r = request_;
  r.prompt = prompt_->text();
  r.max_tokens = tokens_->value();
  r.spec.tree = tree_->text().trimmed();
  return r;
}

void RaceView::updateTitles() {
  plain_.title->setText(tr("Target only"));
  const QString tree = state_ == State::Measuring || !result_ ? tree_->text().trimmed() : result_->tree.section(' ', 0, 0);
  spec_.title->setText(tr("Speculative (tree %1)").arg(tree));
}

void RaceView::updateControls() {
  const bool measuring = state_ == State::Measuring;
  start_->setEnabled(!measuring);
  stop_->setEnabled(isRunning());
  replay_->setEnabled(result_ && !measuring);
  prompt_->setEnabled(!measuring);
  tokens_->setEnabled(!measuring);
  tree_->setEnabled(!measuring);
}

void RaceView::setStatus(const QString& text, bool error) {
  set_text_colour(status_, error ? colors::rejected() : QColor());
  status_->setText(text);
}

void RaceView::start() {
  if (state_ == State::Measuring) return;
  timer_.stop();
  state_ = State::Measuring;
  result_.reset();
  const RaceRequest r = request();
  race_prompt_ = r.prompt;
  resetPanes();
  updateTitles();
  setStatus(tr("starting…"));
  updateControls();
  if (!worker_.start(r)) {
    state_ = State::Idle;
    updateControls();
  }
}

void RaceView::stop() {
  if (state_ == State::Measuring) {
    worker_.stop();
    setStatus(tr("stopping…"));
  } else if (state_ == State::Playing) {
    timer_.stop();
    play_offset_s_ = playbackPosition();
    state_ = State::Stopped;
    setStatus(tr("playback stopped at %1 of %2 measured; Replay plays it again")
                  .arg(ms_text(playbackPosition()),
                       ms_text(std::max(result_->plain.tokens.empty() ? 0.0 : result_->plain.tokens.back().t_s,
                                        result_->spec.tokens.empty() ? 0.0 : result_->spec.tokens.back().t_s))));
    updateControls();
  }
}

void RaceView::replay() {
  if (!result_ || state_ == State::Measuring) return;
  beginPlayback();
}

void RaceView::onProgress(const QString& phase, int done, int total) {
  if (state_ != State::Measuring) return;
  if (phase == QLatin1String("loading"))
    setStatus(tr("loading models…"));
  else if (phase == QLatin1String("target-only"))
    setStatus(tr("measuring target-only… %1/%2").arg(done).arg(total));
  else
    setStatus(tr("measuring speculative (tree %1)… %2/%3").arg(request().spec.tree).arg(done).arg(total));
}

void RaceView::onMeasured(const RaceResult& result) {
  result_ = std::make_unique<RaceResult>(result);
  updateTitles();
  emit measured();
  beginPlayback();
}

void RaceView::onFailed(const QString& message) {
  state_ = State::Idle;
  setStatus(tr("Race failed: %1").arg(message), true);
  updateControls();
  emit raceFailed(message);
}

void RaceView::onCancelled() {
  state_ = State::Idle;
  setStatus(tr("race stopped before both lanes were measured"));
  updateControls();
}

void RaceView::resetPanes() {
  headline_shown_ = false;
  speedup_->clear();
  speedup_->setToolTip({});
  check_->clear();
  const QString& prompt = race_prompt_;
  for (Lane* lane : {&plain_, &spec_}) {
    lane->pane->clear();
    lane->decoder.resetState();
    lane->shown = 0;
    QTextCursor c(lane->pane->document());
    c.insertText(prompt, prompt_fmt_);
    lane->figure->setText(tr("0 tokens"));
    lane->detail->clear();
  }
}

double RaceView::autoFactor() const {
  if (!result_ || result_->plain.tokens_per_second <= 0) return 1.0 / 300;
  // The target-only lane at ~30 tok/s, as a round fraction (two digits).
  const double n = result_->plain.tokens_per_second / kAutoTokensPerSecond;
  if (n <= 1) return 1.0;
  const double mag = std::pow(10.0, std::floor(std::log10(n)) - 1);
  return 1.0 / (std::round(n / mag) * mag);
}

double RaceView::playbackFactor() const { return factor_ > 0 ? factor_ : autoFactor(); }

void RaceView::setPlaybackFactor(double factor) {
  int index = 0;
  if (factor > 0) {
    index = -1;
    for (int i = 1; i < speed_->count(); ++i)
      if (std::abs(speed_->itemData(i).toDouble() / factor - 1) < 1e-6) index = i;
    if (index < 0) {
      speed_->addItem(factor >= 1 ? QStringLiteral("%1x").arg(factor) : QStringLiteral("1/%1").arg(denominator(factor)),
                      factor);
      index = speed_->count() - 1;
    }
  }
  speed_->setCurrentIndex(index);
  factor_ = speed_->currentData().toDouble();  // also when the index did not change
}

QString RaceView::factorText() const {
  const double f = playbackFactor();
  if (f >= 1) return f == 1 ? tr("real time") : tr("%1x real time").arg(f);
  return tr("1/%1 of real time").arg(denominator(f));
}

double RaceView::playbackPosition() const {
  if (state_ != State::Playing) return play_offset_s_;
  return play_offset_s_ + clock_.elapsed() / 1000.0 * playbackFactor();
}

void RaceView::beginPlayback() {
  resetPanes();
  state_ = State::Playing;
  play_offset_s_ = 0.0;
  const RaceLane& p = result_->plain;
  const RaceLane& s = result_->spec;
  plain_.detail->setText(tr("prefill %1 · %2 target passes · 1 token per pass").arg(ms_text(p.prefill_s)).arg(p.steps));
  spec_.detail->setText(tr("prefill %1 · %2 target passes · %3 tokens per pass · %4 accepted draft tokens")
                            .arg(ms_text(s.prefill_s))
                            .arg(s.steps)
                            .arg(s.tokens_per_pass, 0, 'f', 2)
                            .arg(s.draftTokens()));
  for (Lane* lane : {&plain_, &spec_}) lane->figure->setToolTip(lane->detail->text());
  // Held back until a lane crosses the line, as in a race.
  speedup_->setText(tr("racing…"));
  set_text_colour(speedup_, colors::muted());
  clock_.start();
  timer_.start();
  updateControls();
  tick();
}

void RaceView::tick() {
  if (!result_) return;
  const double pos = state_ == State::Done ? std::numeric_limits<double>::infinity() : playbackPosition();
  advance(plain_, result_->plain, pos);
  advance(spec_, result_->spec, pos);
  const bool plain_done = plain_.shown == result_->plain.tokens.size();
  const bool spec_done = spec_.shown == result_->spec.tokens.size();
  if ((plain_done || spec_done) && !headline_shown_) showHeadline();
  const double end = std::max(result_->plain.tokens.empty() ? 0.0 : result_->plain.tokens.back().t_s,
                              result_->spec.tokens.empty() ? 0.0 : result_->spec.tokens.back().t_s);
  if (state_ == State::Playing) {
    setStatus(tr("playback %1 · %2 of %3 measured decode time (prefill not shown)")
                  .arg(factorText(), ms_text(std::min(pos, end)), ms_text(end)));
    if (plain_done && spec_done) {
      timer_.stop();
      state_ = State::Done;
      play_offset_s_ = end;
      setStatus(tr("done · played back at %1 · target-only %2 tok/s, speculative %3 tok/s (measured)")
                    .arg(factorText(), rate_text(result_->plain.tokens_per_second),
                         rate_text(result_->spec.tokens_per_second)));
      updateControls();
      emit finished();
    }
  }
}

void RaceView::advance(Lane& lane, const RaceLane& data, double until_s) {
  const size_t from = lane.shown;
  size_t to = from;
  while (to < data.tokens.size() && data.tokens[to].t_s <= until_s) ++to;
  if (to == from) return;
  QScrollBar* bar = lane.pane->verticalScrollBar();
  const bool follow = bar->value() >= bar->maximum() - 4;
  QTextCursor c(lane.pane->document());
  c.movePosition(QTextCursor::End);
  c.beginEditBlock();
  // One insertion per run of same-source tokens, not per token.
  for (size_t i = from; i < to;) {
    const bool draft = data.tokens[i].draft;
    QByteArray bytes;
    for (; i < to && data.tokens[i].draft == draft; ++i) bytes += data.tokens[i].bytes;
    const QString text = lane.decoder(bytes);
    if (!text.isEmpty()) c.insertText(text, draft ? draft_fmt_ : target_fmt_);
  }
  c.endEditBlock();
  if (follow) bar->setValue(bar->maximum());
  lane.shown = to;
  updateFigure(lane, data);
}

void RaceView::updateFigure(Lane& lane, const RaceLane& data) {
  const size_t n = lane.shown;
  QString rate = QStringLiteral("–");
  if (n == data.tokens.size() && data.tokens_per_second > 0)
    rate = rate_text(data.tokens_per_second);
  else if (n >= 2 && data.tokens[n - 1].t_s > 0)  // decode tokens / decode time so far
    rate = rate_text(double(n - 1) / data.tokens[n - 1].t_s);
  lane.figure->setText(tr("%1 tokens · %2 tok/s").arg(n).arg(rate));
}

void RaceView::showHeadline() {
  headline_shown_ = true;
  set_text_colour(speedup_, QColor());
  const double x = result_->speedup();
  if (x <= 0)
    speedup_->setText(tr("speedup: n/a"));
  else if (x >= 1)
    speedup_->setText(tr("%1x faster").arg(x, 0, 'f', x < 10 ? 2 : 1));
  else
    speedup_->setText(tr("%1x (slower)").arg(x, 0, 'f', 2));
  speedup_->setToolTip(tr("speculative / target-only decode tok/s, measured one after the other"));
  QString check;
  if (result_->greedy)
    check = result_->same_output ? tr("same output: yes") : tr("same output: NO (the outputs differ)");
  else
    check = tr("sampled: outputs may differ");
  check += QStringLiteral(" · ") + tr("%1 tokens per target pass").arg(result_->spec.tokens_per_pass, 0, 'f', 2);
  check_->setText(check);
  set_text_colour(check_, result_->greedy && !result_->same_output ? colors::rejected() : QColor());
}

void RaceView::setPresentation(bool on) {
  presentation_ = on;
  if (presentation_box_->isChecked() != on) presentation_box_->setChecked(on);
  secondary_->setVisible(!on);
  for (Lane* lane : {&plain_, &spec_}) lane->detail->setVisible(!on && !compact_);
  applyFonts();
}

void RaceView::finishPlaybackNow() {
  if (!result_ || state_ == State::Measuring) return;
  if (state_ != State::Playing) {  // stopped or done: show everything, do not emit again
    state_ = State::Done;
    tick();
    updateControls();
    return;
  }
  play_offset_s_ = std::numeric_limits<double>::infinity();
  clock_.restart();
  tick();
}

}  // namespace sm::ui
