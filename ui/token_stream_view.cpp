// SPDX-License-Identifier: Apache-2.0
#include "ui/token_stream_view.h"

#include <QFontDatabase>
#include <QMouseEvent>
#include <QScrollBar>
#include <QTextBlock>
#include <QTextCursor>
#include <QToolTip>

#include <algorithm>

#include "core/tokenizer/tokenizer.h"
#include "ui/models/run_record.h"
#include "ui/views/palette.h"

namespace sm::ui {
namespace {

// A tint of `c` over the pane's background, readable in light and dark themes.
QColor tint(const QColor& c, const QColor& base) {
  const double a = colors::dark_theme() ? 0.45 : 0.22;
  return QColor::fromRgbF(base.redF() * (1 - a) + c.redF() * a, base.greenF() * (1 - a) + c.greenF() * a,
                          base.blueF() * (1 - a) + c.blueF() * a);
}

}  // namespace

TokenStreamView::TokenStreamView(QWidget* parent) : QPlainTextEdit(parent) {
  setReadOnly(true);
  setObjectName(QStringLiteral("outputView"));
  setPlaceholderText(tr("Generated text appears here."));
  setLineWrapMode(QPlainTextEdit::WidgetWidth);
  setWordWrapMode(QTextOption::WrapAtWordBoundaryOrAnywhere);
  setMouseTracking(true);
  viewport()->setMouseTracking(true);
  QFont f = font();
  f.setPointSizeF(f.pointSizeF() * 1.1);
  setFont(f);
  updateFormats();
}

void TokenStreamView::updateFormats() {
  const QColor base = palette().color(QPalette::Base);
  prompt_fmt_.setForeground(palette().color(QPalette::Text));
  generated_fmt_.setForeground(palette().color(QPalette::Text));
  generated_fmt_.setBackground(tint(colors::bonus(), base));
  draft_fmt_.setForeground(palette().color(QPalette::Text));
  draft_fmt_.setBackground(tint(colors::accepted(), base));
  draft_fmt_.setFontUnderline(true);  // not colour alone
  draft_fmt_.setUnderlineColor(colors::accepted());
  note_fmt_.setForeground(palette().color(QPalette::PlaceholderText));
  note_fmt_.setFontItalic(true);
}

void TokenStreamView::changeEvent(QEvent* e) {
  if (e->type() == QEvent::PaletteChange) updateFormats();
  QPlainTextEdit::changeEvent(e);
}

void TokenStreamView::startRun(const QString& prompt) {
  endBatch();
  clear();
  generated_.clear();
  spans_.clear();
  decoder_.resetState();
  draft_tokens_ = 0;
  target_tokens_ = 0;
  block_chars_ = 0;
  highlighted_ = -1;
  setExtraSelections({});
  appendWithFormat(prompt, prompt_fmt_);
}

void TokenStreamView::appendGenerated(const QByteArray& bytes, bool accepted_draft, int tokens,
                                      int step) {
  (accepted_draft ? draft_tokens_ : target_tokens_) += tokens;
  const QString text = decoder_(bytes);
  if (text.isEmpty()) return;
  generated_ += text;
  // A paragraph is laid out whole on every change, so a run without line
  // breaks would make appending quadratic: past kMaxBlock characters the pane
  // breaks the paragraph at a space (shown as a line break; generatedText()
  // keeps the exact text).
  const qsizetype nl = text.lastIndexOf(QLatin1Char('\n'));
  block_chars_ = nl >= 0 ? int(text.size() - nl - 1) : block_chars_ + int(text.size());
  QString shown = text;
  if (block_chars_ > kMaxBlock) {
    const qsizetype sp = shown.lastIndexOf(QLatin1Char(' '));
    if (sp >= 0) {
      shown[sp] = QChar::ParagraphSeparator;
      block_chars_ = int(shown.size() - sp - 1);
    }
  }
  const int begin = document()->characterCount() - 1;
  appendWithFormat(shown, accepted_draft ? draft_fmt_ : generated_fmt_);
  const int end = document()->characterCount() - 1;
  if (!spans_.empty() && spans_.back().step == step && spans_.back().end == begin)
    spans_.back().end = end;
  else
    spans_.push_back({begin, end, step});
  if (step >= 0 && step == highlighted_) highlightStep(step);
}

void TokenStreamView::showRun(const RunRecord& run) {
  startRun(run.settings.prompt);
  if (!run.tokenizer) {
    appendNote(tr("[%1 tokens; token text needs the run's tokenizer]").arg(run.generated_ids.size()));
    return;
  }
  // One batch per source and step, as they streamed.
  auto bytes_of = [&](size_t i) {
    const std::string b = run.tokenizer->token_bytes(run.generated_ids[i]);
    return QByteArray(b.data(), qsizetype(b.size()));
  };
  if (!run.generated_ids.empty()) appendGenerated(bytes_of(0), false, 1, -1);
  if (run.steps.empty()) {
    QByteArray rest;
    for (size_t i = 1; i < run.generated_ids.size(); ++i) rest += bytes_of(i);
    if (!rest.isEmpty()) appendGenerated(rest, false, int(run.generated_ids.size()) - 1, -1);
    return;
  }
  for (size_t s = 0; s < run.steps.size(); ++s) {
    const StepRecord& st = run.steps[s];
    const int accepted = std::min<int>(int(st.path.size()) - 1, st.emitted);
    QByteArray draft, bonus;
    for (int i = 0; i < st.emitted; ++i) {
      const size_t idx = size_t(st.first_token + i);
      if (idx >= run.generated_ids.size()) break;
      (i < accepted ? draft : bonus) += bytes_of(idx);
    }
    if (!draft.isEmpty()) appendGenerated(draft, true, accepted, int(s));
    if (!bonus.isEmpty()) appendGenerated(bonus, false, st.emitted - accepted, int(s));
  }
}

void TokenStreamView::appendNote(const QString& note) {
  appendWithFormat(QStringLiteral("  ") + note, note_fmt_);
}

void TokenStreamView::beginBatch() {
  if (batching_) return;
  QScrollBar* bar = verticalScrollBar();
  follow_ = bar->value() >= bar->maximum() - 4;  // keep following the tail
  batch_ = QTextCursor(document());
  batch_.movePosition(QTextCursor::End);
  batch_.beginEditBlock();
  batching_ = true;
}

void TokenStreamView::endBatch() {
  if (!batching_) return;
  batching_ = false;
  batch_.endEditBlock();
  if (follow_) verticalScrollBar()->setValue(verticalScrollBar()->maximum());
}

void TokenStreamView::appendWithFormat(const QString& text, const QTextCharFormat& fmt) {
  if (batching_) {
    batch_.movePosition(QTextCursor::End);
    batch_.insertText(text, fmt);
    return;
  }
  QScrollBar* bar = verticalScrollBar();
  const bool follow = bar->value() >= bar->maximum() - 4;  // keep following the tail
  QTextCursor c(document());
  c.movePosition(QTextCursor::End);
  c.insertText(text, fmt);
  if (follow) bar->setValue(bar->maximum());
}

int TokenStreamView::stepAtPosition(int position) const {
  auto it = std::upper_bound(spans_.begin(), spans_.end(), position,
                             [](int p, const Span& s) { return p < s.begin; });
  if (it == spans_.begin()) return -1;
  --it;
  return position < it->end ? it->step : -1;
}

int TokenStreamView::stepAt(const QPoint& viewport_pos) const {
  const QTextCursor c = cursorForPosition(viewport_pos);
  // cursorForPosition gives the nearest gap; the character is the one after it
  // unless the point is past the line's end.
  const QRect r = cursorRect(c);
  int pos = c.position();
  if (viewport_pos.x() < r.left() && pos > 0) --pos;
  return stepAtPosition(pos);
}

std::pair<int, int> TokenStreamView::stepRange(int step) const {
  int first = -1, last = -1;
  for (const Span& s : spans_)
    if (s.step == step) {
      if (first < 0) first = s.begin;
      last = s.end;
    }
  return first < 0 ? std::pair{0, 0} : std::pair{first, last};
}

void TokenStreamView::highlightStep(int step) {
  highlighted_ = step;
  QList<QTextEdit::ExtraSelection> sel;
  const auto [first, last] = stepRange(step);
  if (step >= 0 && last > first) {
    QTextEdit::ExtraSelection s;
    s.cursor = QTextCursor(document());
    s.cursor.setPosition(first);
    s.cursor.setPosition(last, QTextCursor::KeepAnchor);
    s.format.setBackground(palette().color(QPalette::Highlight));
    s.format.setForeground(palette().color(QPalette::HighlightedText));
    sel.push_back(s);
  }
  setExtraSelections(sel);
}

void TokenStreamView::mouseMoveEvent(QMouseEvent* e) {
  QPlainTextEdit::mouseMoveEvent(e);
  const int step = stepAt(e->position().toPoint());
  if (step != hovered_) {
    hovered_ = step;
    if (step >= 0) {
      QToolTip::showText(e->globalPosition().toPoint(), tr("step %1 (click to select)").arg(step), viewport());
      emit stepHovered(step);
    } else {
      QToolTip::hideText();
    }
  }
}

void TokenStreamView::mouseReleaseEvent(QMouseEvent* e) {
  QPlainTextEdit::mouseReleaseEvent(e);
  if (e->button() != Qt::LeftButton || textCursor().hasSelection()) return;  // a text selection
  const int step = stepAt(e->position().toPoint());
  if (step >= 0) {
    highlightStep(step);
    emit stepClicked(step);
  }
}

}  // namespace sm::ui
