// SPDX-License-Identifier: Apache-2.0
#pragma once
// Geometry of one step's token tree, drawn top-down: one row per depth, the
// leaves on consecutive slots in depth-first order, every parent centred over
// its first and last child. Subtrees then own disjoint slot ranges, so no two
// boxes of a row overlap, whatever the shape. Pure geometry (no widgets): the
// view paints and hit-tests from it, the tests check it.
#include <QPointF>
#include <QRectF>
#include <QSizeF>

#include <cstdint>
#include <utility>
#include <vector>

#include "ui/models/run_record.h"

namespace sm::ui {

struct TreeLayout {
  static constexpr int kBonus = -2;  // Box::node and hit() for the bonus box

  struct Box {
    int node = 0;       // index into the step's nodes, or kBonus
    int depth = 0;      // row
    QRectF rect;
  };
  // boxes[i] is node i; the bonus box, if any, comes last (bonus_index).
  std::vector<Box> boxes;
  // (parent box, child box) index pairs, one per non-root box, parents first.
  std::vector<std::pair<int, int>> edges;
  QRectF bounds;          // union of all boxes; top-left at (0, 0)
  int bonus_index = -1;   // index into boxes; -1: no bonus box
  int max_depth = 0;

  // `nodes` breadth-first with parent < child (node 0 = root). With
  // `with_bonus` and a non-empty `path`, the bonus token gets a box one row
  // under the path's last node, laid out as that node's last child so it
  // never covers a rejected sibling. `box` is the size of every box, `hgap`
  // the space between neighbouring slots, `vgap` between rows.
  static TreeLayout compute(const std::vector<NodeRecord>& nodes,
                            const std::vector<int32_t>& path, bool with_bonus,
                            QSizeF box, double hgap, double vgap);

  // Node under `p`, kBonus for the bonus box, -1 for none.
  int hit(QPointF p) const;
  bool empty() const { return boxes.empty(); }
};

}  // namespace sm::ui
