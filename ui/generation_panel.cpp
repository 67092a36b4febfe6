// SPDX-License-Identifier: Apache-2.0
#include "ui/generation_panel.h"

#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSplitter>
#include <QStyle>
#include <QVBoxLayout>

#include "ui/sampling_controls.h"
#include "ui/spec_controls.h"
#include "ui/token_stream_view.h"

namespace sm::ui {

GenerationPanel::GenerationPanel(QWidget* parent) : QWidget(parent) {
  prompt_ = new QPlainTextEdit(this);
  prompt_->setObjectName(QStringLiteral("promptEdit"));
  prompt_->setPlaceholderText(tr("Type a prompt, then Generate (Ctrl+Return)"));
  prompt_->setTabChangesFocus(true);
  prompt_->installEventFilter(this);

  sampling_ = new SamplingControls(this);
  spec_ = new SpecControls(this);

  generate_ = new QPushButton(style()->standardIcon(QStyle::SP_MediaPlay), tr("&Generate"), this);
  generate_->setObjectName(QStringLiteral("generateButton"));
  generate_->setToolTip(tr("Generate from the prompt (Ctrl+Return)"));
  generate_->setDefault(true);
  stop_ = new QPushButton(style()->standardIcon(QStyle::SP_MediaStop), tr("St&op"), this);
  stop_->setObjectName(QStringLiteral("stopButton"));
  stop_->setToolTip(tr("Stop after the current token"));
  stop_->setEnabled(false);

  output_ = new TokenStreamView(this);

  auto* top = new QWidget(this);
  auto* top_layout = new QVBoxLayout(top);
  top_layout->setContentsMargins(0, 0, 0, 0);
  auto* prompt_label = new QLabel(tr("&Prompt"), top);
  prompt_label->setBuddy(prompt_);
  top_layout->addWidget(prompt_label);
  // Generate / Stop beside the prompt: the settings rows keep the width.
  auto* prompt_row = new QHBoxLayout;
  prompt_row->addWidget(prompt_, 1);
  auto* buttons = new QVBoxLayout;
  buttons->addWidget(generate_);
  buttons->addWidget(stop_);
  buttons->addStretch(1);
  prompt_row->addLayout(buttons);
  top_layout->addLayout(prompt_row, 1);
  top_layout->addWidget(sampling_);
  top_layout->addWidget(spec_);

  auto* bottom = new QWidget(this);
  auto* bottom_layout = new QVBoxLayout(bottom);
  bottom_layout->setContentsMargins(0, 0, 0, 0);
  // Legend in the output pane's own colours.
  auto swatch = [](const QTextCharFormat& f, const QString& text) {
    return QStringLiteral("<span style=\"color:%1; background-color:%2;\">&nbsp;%3&nbsp;</span>")
        .arg(f.foreground().color().name(), f.background().color().name(), text.toHtmlEscaped());
  };
  auto* out_label = new QLabel(
      tr("Output: prompt, then generated text — %1 %2")
          .arg(swatch(output_->targetFormat(), tr("target token")),
               swatch(output_->draftFormat(), tr("accepted draft token"))),
      bottom);
  out_label->setObjectName(QStringLiteral("outputLegend"));
  out_label->setTextFormat(Qt::RichText);
  bottom_layout->addWidget(out_label);
  bottom_layout->addWidget(output_, 1);

  auto* split = new QSplitter(Qt::Vertical, this);
  split->setObjectName(QStringLiteral("generationSplitter"));
  split->setChildrenCollapsible(false);
  split->addWidget(top);
  split->addWidget(bottom);
  split->setStretchFactor(0, 0);
  split->setStretchFactor(1, 1);
  prompt_->setMinimumHeight(prompt_->fontMetrics().lineSpacing() * 3 + 12);
  split->setSizes({prompt_->fontMetrics().lineSpacing() * 5 + 60, 600});

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(split);

  connect(generate_, &QPushButton::clicked, this, &GenerationPanel::generateRequested);
  connect(stop_, &QPushButton::clicked, this, &GenerationPanel::stopRequested);
}

QString GenerationPanel::prompt() const { return prompt_->toPlainText(); }
void GenerationPanel::setPrompt(const QString& text) { prompt_->setPlainText(text); }
void GenerationPanel::setGenerateEnabled(bool enabled) { generate_->setEnabled(enabled); }
void GenerationPanel::setStopEnabled(bool enabled) { stop_->setEnabled(enabled); }

void GenerationPanel::setPresentationMode(bool on) {
  sampling_->setVisible(!on);
  spec_->setVisible(!on);
  QFont f = output_->font();
  static const qreal base = f.pointSizeF();
  f.setPointSizeF(on ? base * 1.6 : base);
  output_->setFont(f);
}

bool GenerationPanel::eventFilter(QObject* watched, QEvent* event) {
  if (watched == prompt_ && event->type() == QEvent::KeyPress) {
    auto* key = static_cast<QKeyEvent*>(event);
    if ((key->key() == Qt::Key_Return || key->key() == Qt::Key_Enter) &&
        (key->modifiers() & Qt::ControlModifier)) {
      if (generate_->isEnabled()) emit generateRequested();
      return true;
    }
  }
  return QWidget::eventFilter(watched, event);
}

}  // namespace sm::ui
