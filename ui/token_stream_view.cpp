// SPDX-License-Identifier: Apache-2.0
#include "ui/token_stream_view.h"

#include <QFontDatabase>
#include <QScrollBar>
#include <QTextCursor>

namespace sm::ui {

TokenStreamView::TokenStreamView(QWidget* parent) : QPlainTextEdit(parent) {
  setReadOnly(true);
  setObjectName(QStringLiteral("outputView"));
  setPlaceholderText(tr("Generated text appears here."));
  setLineWrapMode(QPlainTextEdit::WidgetWidth);
  setWordWrapMode(QTextOption::WrapAtWordBoundaryOrAnywhere);
  QFont f = font();
  f.setPointSizeF(f.pointSizeF() * 1.1);
  setFont(f);

  prompt_fmt_.setForeground(palette().color(QPalette::Text));
  generated_fmt_.setForeground(QColor(0x0d, 0x47, 0xa1));   // deep blue
  generated_fmt_.setBackground(QColor(0xe3, 0xf2, 0xfd));   // pale blue
  draft_fmt_.setForeground(QColor(0x1b, 0x5e, 0x20));       // deep green
  draft_fmt_.setBackground(QColor(0xc8, 0xe6, 0xc9));       // pale green
  note_fmt_.setForeground(palette().color(QPalette::PlaceholderText));
  note_fmt_.setFontItalic(true);
}

void TokenStreamView::startRun(const QString& prompt) {
  clear();
  generated_.clear();
  decoder_.resetState();
  draft_tokens_ = 0;
  target_tokens_ = 0;
  appendWithFormat(prompt, prompt_fmt_);
}

void TokenStreamView::appendGenerated(const QByteArray& bytes, bool accepted_draft, int tokens) {
  (accepted_draft ? draft_tokens_ : target_tokens_) += tokens;
  const QString text = decoder_(bytes);
  if (text.isEmpty()) return;
  generated_ += text;
  appendWithFormat(text, accepted_draft ? draft_fmt_ : generated_fmt_);
}

void TokenStreamView::appendNote(const QString& note) {
  appendWithFormat(QStringLiteral("  ") + note, note_fmt_);
}

void TokenStreamView::appendWithFormat(const QString& text, const QTextCharFormat& fmt) {
  QScrollBar* bar = verticalScrollBar();
  const bool follow = bar->value() >= bar->maximum() - 4;  // keep following the tail
  QTextCursor c(document());
  c.movePosition(QTextCursor::End);
  c.insertText(text, fmt);
  if (follow) bar->setValue(bar->maximum());
}

}  // namespace sm::ui
