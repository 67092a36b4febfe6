// SPDX-License-Identifier: Apache-2.0
#include "ui/models/tree_layout.h"

#include <algorithm>

namespace sm::ui {

TreeLayout TreeLayout::compute(const std::vector<NodeRecord>& nodes,
                               const std::vector<int32_t>& path, bool with_bonus,
                               QSizeF box, double hgap, double vgap) {
  TreeLayout out;
  const int n = static_cast<int>(nodes.size());
  if (n == 0) return out;
  const int last = path.empty() ? -1 : path.back();
  const bool bonus = with_bonus && last >= 0 && last < n;
  const int total = n + (bonus ? 1 : 0);

  // Parents from the records; one that breaks "parent < child" is hung under
  // the root, so a malformed trace still draws (build_run_record rejects them).
  std::vector<int> parent(total, -1), depth(total, 0);
  std::vector<std::vector<int>> children(total);
  for (int i = 1; i < n; ++i) {
    const int p = nodes[i].parent;
    parent[i] = (p >= 0 && p < i) ? p : 0;
  }
  if (bonus) parent[n] = last;
  for (int i = 1; i < total; ++i) {
    depth[i] = depth[parent[i]] + 1;
    children[parent[i]].push_back(i);  // index order = rank order; the bonus is last
  }

  // Depth-first post-order: a leaf takes the next slot, a parent the middle
  // of its first and last child.
  std::vector<double> slot(total, 0.0);
  double next_leaf = 0;
  std::vector<std::pair<int, size_t>> stack{{0, 0}};
  while (!stack.empty()) {
    auto& [v, k] = stack.back();
    if (k < children[v].size()) {
      const int c = children[v][k++];
      stack.emplace_back(c, 0);
      continue;
    }
    if (children[v].empty()) {
      slot[v] = next_leaf++;
    } else {
      slot[v] = (slot[children[v].front()] + slot[children[v].back()]) / 2;
    }
    stack.pop_back();
  }

  const double pitch_x = box.width() + hgap;
  const double pitch_y = box.height() + vgap;
  out.boxes.resize(total);
  for (int i = 0; i < total; ++i) {
    out.boxes[i].node = i < n ? i : kBonus;
    out.boxes[i].depth = depth[i];
    out.boxes[i].rect = QRectF(QPointF(slot[i] * pitch_x, depth[i] * pitch_y), box);
    out.bounds = i == 0 ? out.boxes[i].rect : out.bounds.united(out.boxes[i].rect);
    out.max_depth = std::max(out.max_depth, depth[i]);
    if (i > 0) out.edges.emplace_back(parent[i], i);
  }
  if (bonus) out.bonus_index = n;
  return out;
}

int TreeLayout::hit(QPointF p) const {
  // At most 257 boxes: a linear scan is cheaper than any index.
  for (const Box& b : boxes) {
    if (b.rect.contains(p)) return b.node;
  }
  return -1;
}

}  // namespace sm::ui
