// SPDX-License-Identifier: Apache-2.0
#include "ui/message_banner.h"

#include <algorithm>

#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QStyle>
#include <QToolButton>

namespace sm::ui {

MessageBanner::MessageBanner(QWidget* parent) : QFrame(parent) {
  setObjectName(QStringLiteral("messageBanner"));
  setFrameShape(QFrame::StyledPanel);
  label_ = new QLabel(this);
  label_->setObjectName(QStringLiteral("messageBannerText"));
  label_->setWordWrap(true);
  label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  close_ = new QToolButton(this);
  close_->setAutoRaise(true);
  close_->setIcon(style()->standardIcon(QStyle::SP_TitleBarCloseButton));
  close_->setToolTip(tr("Dismiss"));
  connect(close_, &QToolButton::clicked, this, &QWidget::hide);
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(8, 4, 4, 4);
  layout->addWidget(label_, 1);
  layout->addWidget(close_, 0, Qt::AlignTop);
  if (parent) parent->installEventFilter(this);
  hide();
}

bool MessageBanner::eventFilter(QObject* watched, QEvent* event) {
  if (watched == parentWidget() && event->type() == QEvent::Resize && isVisible()) place();
  return QFrame::eventFilter(watched, event);
}

void MessageBanner::place() {
  QWidget* host = parentWidget();
  if (!host) return;
  const int margin = 8;
  const int w = std::max(120, host->width() - 2 * margin);
  const int h = std::min(host->height() / 2, std::max(minimumSizeHint().height(), heightForWidth(w)));
  setGeometry(margin, margin, w, h > 0 ? h : sizeHint().height());
  raise();
}

void MessageBanner::showMessage(const QString& text, Kind kind) {
  label_->setText(text);
  const char* css = kind == Kind::Error
                        ? "QFrame#messageBanner { background: #fdecea; border: 1px solid #e57373;"
                          " border-radius: 3px; } QLabel { color: #8b1a1a; }"
                        : "QFrame#messageBanner { background: #e8f4fd; border: 1px solid #64b5f6;"
                          " border-radius: 3px; } QLabel { color: #0d3c61; }";
  setStyleSheet(QString::fromLatin1(css));
  show();
  place();
}

QString MessageBanner::text() const { return label_->text(); }

}  // namespace sm::ui
