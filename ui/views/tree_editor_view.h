// SPDX-License-Identifier: Apache-2.0
#pragma once
// The tuner's tree editor: the tree shape drawn with TreeLayout's geometry;
// a click on a node adds a child to it, a right click (or Shift+click)
// removes the node's branch. Emits the edited shape as TreeShape text.
#include <QWidget>

#include "ui/models/tree_edit.h"
#include "ui/models/tree_layout.h"

namespace sm::ui {

class TreeEditorView : public QWidget {
  Q_OBJECT

 public:
  explicit TreeEditorView(QWidget* parent = nullptr);

  void setTree(const EditableTree& tree);
  const EditableTree& tree() const { return tree_; }
  // Centre of node `node`'s box in widget coordinates (tests click it).
  QPoint nodeCentre(int node) const;

  QSize sizeHint() const override { return {320, 150}; }
  QSize minimumSizeHint() const override { return {160, 90}; }

 signals:
  // The shape after a click, as EditableTree::spec() writes it.
  void treeEdited(const QString& spec);

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;

 private:
  void relayout();
  QPointF toLayout(QPointF widget_point) const;

  EditableTree tree_;
  TreeLayout layout_;
  double scale_ = 1;
  QPointF offset_;
};

}  // namespace sm::ui
