// SPDX-License-Identifier: Apache-2.0
#include "ui/views/tree_editor_view.h"

#include <QMouseEvent>
#include <QPainter>

#include <algorithm>

#include "ui/views/palette.h"

namespace sm::ui {

TreeEditorView::TreeEditorView(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("treeEditor"));
  setMouseTracking(false);
  setToolTip(tr("Click a node to give it another child; right-click (or Shift+click) a node to remove its branch"));
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
  relayout();
}

void TreeEditorView::setTree(const EditableTree& tree) {
  tree_ = tree;
  relayout();
  update();
}

void TreeEditorView::relayout() {
  layout_ = TreeLayout::compute(tree_.nodes(), {}, false, QSizeF(26, 18), 6, 16);
  // Fit the drawing into the widget, never larger than 1:1.
  const QRectF b = layout_.bounds;
  const double m = 6;
  if (b.width() <= 0 || b.height() <= 0) {
    scale_ = 1;
    offset_ = {m, m};
    return;
  }
  scale_ = std::min({1.0, (width() - 2 * m) / b.width(), (height() - 2 * m) / b.height()});
  scale_ = std::max(scale_, 0.2);
  offset_ = QPointF((width() - b.width() * scale_) / 2, m);
}

void TreeEditorView::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  relayout();
}

QPointF TreeEditorView::toLayout(QPointF p) const { return (p - offset_) / scale_; }

QPoint TreeEditorView::nodeCentre(int node) const {
  if (node < 0 || node >= int(layout_.boxes.size())) return {};
  return (layout_.boxes[size_t(node)].rect.center() * scale_ + offset_).toPoint();
}

void TreeEditorView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing);
  p.fillRect(rect(), palette().base());
  p.translate(offset_);
  p.scale(scale_, scale_);
  p.setPen(QPen(palette().color(QPalette::Mid), 1.2));
  for (const auto& [a, b] : layout_.edges) {
    const QRectF pa = layout_.boxes[size_t(a)].rect, pb = layout_.boxes[size_t(b)].rect;
    p.drawLine(QPointF(pa.center().x(), pa.bottom()), QPointF(pb.center().x(), pb.top()));
  }
  QFont f = font();
  f.setPointSizeF(std::max(6.0, f.pointSizeF() * 0.85));
  p.setFont(f);
  for (const TreeLayout::Box& box : layout_.boxes) {
    const bool root = box.node == 0;
    p.setPen(QPen(palette().color(QPalette::Text), 1));
    p.setBrush(root ? palette().color(QPalette::Mid) : palette().color(QPalette::AlternateBase));
    p.drawRoundedRect(box.rect, 3, 3);
    p.drawText(box.rect, Qt::AlignCenter, root ? tr("root") : QString::number(box.node));
  }
}

void TreeEditorView::mousePressEvent(QMouseEvent* event) {
  const int node = layout_.hit(toLayout(event->position()));
  if (node < 0) return QWidget::mousePressEvent(event);
  const bool remove = event->button() == Qt::RightButton ||
                      (event->button() == Qt::LeftButton && (event->modifiers() & Qt::ShiftModifier));
  bool changed = false;
  if (remove) changed = tree_.removeBranch(node);
  else if (event->button() == Qt::LeftButton) changed = tree_.addChild(node) >= 0;
  if (!changed) return;
  relayout();
  update();
  emit treeEdited(tree_.spec());
}

}  // namespace sm::ui
