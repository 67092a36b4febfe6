// SPDX-License-Identifier: Apache-2.0
#include "core/spec/token_tree.h"

#include "ui/models/tree_edit.h"

#include <QStringList>

#include <algorithm>
#include <deque>

namespace sm::ui {

EditableTree::EditableTree() : parent_{-1} {}

EditableTree EditableTree::fromShape(const TreeShape& s) {
  EditableTree t;
  t.parent_.assign(s.parent.begin(), s.parent.end());
  if (t.parent_.empty()) t.parent_ = {-1};
  return t;
}

EditableTree EditableTree::parse(const QString& text) {
  return fromShape(TreeShape::parse(text.toStdString()));
}

std::vector<std::vector<int>> EditableTree::kidLists() const {
  std::vector<std::vector<int>> kids(parent_.size());
  for (size_t v = 1; v < parent_.size(); ++v) kids[size_t(parent_[v])].push_back(int(v));
  return kids;
}

void EditableTree::renumber(const std::vector<std::vector<int>>& kids) {
  // Breadth-first from the root, children in their list order (= rank).
  std::vector<int32_t> parent = {-1};
  std::deque<std::pair<int, int>> queue = {{0, 0}};  // old index, new index
  while (!queue.empty()) {
    const auto [old, now] = queue.front();
    queue.pop_front();
    for (int c : kids[size_t(old)]) {
      parent.push_back(now);
      queue.emplace_back(c, int(parent.size()) - 1);
    }
  }
  parent_ = std::move(parent);
}

int EditableTree::depth() const {
  std::vector<int> d(parent_.size(), 0);
  int m = 0;
  for (size_t v = 1; v < parent_.size(); ++v) m = std::max(m, d[v] = d[size_t(parent_[v])] + 1);
  return m;
}

int EditableTree::children(int node) const {
  int n = 0;
  for (size_t v = 1; v < parent_.size(); ++v) n += parent_[v] == node;
  return n;
}

int EditableTree::addChild(int node) {
  if (node < 0 || node >= size() || size() >= kMaxTreeNodes) return -1;
  std::vector<std::vector<int>> kids = kidLists();
  const int fresh = size();
  kids.emplace_back();
  kids[size_t(node)].push_back(fresh);
  // Track the new node through the renumbering by its rank path.
  std::vector<int32_t> old_parent = parent_;
  old_parent.push_back(node);
  renumber(kids);
  // The new node is the last child of `node`'s new index: find it by counting.
  std::vector<int> rank_path;
  for (int v = fresh; v > 0; v = old_parent[size_t(v)]) {
    const auto& sib = kids[size_t(old_parent[size_t(v)])];
    rank_path.insert(rank_path.begin(), int(std::find(sib.begin(), sib.end(), v) - sib.begin()));
  }
  const std::vector<std::vector<int>> now = kidLists();
  int cur = 0;
  for (int r : rank_path) cur = now[size_t(cur)][size_t(r)];
  return cur;
}

bool EditableTree::removeBranch(int node) {
  if (node <= 0 || node >= size()) return false;
  std::vector<std::vector<int>> kids = kidLists();
  auto& sib = kids[size_t(parent_[size_t(node)])];
  sib.erase(std::find(sib.begin(), sib.end(), node));
  renumber(kids);  // the unreachable branch is dropped
  return true;
}

QString EditableTree::spec() const {
  if (size() <= 1) return {};
  const std::vector<std::vector<int>> kids = kidLists();
  // Regular: every node of a level has the same number of children, and only the last level has none.
  std::vector<int> level = {0}, widths;
  bool regular = true;
  while (true) {
    const size_t w = kids[size_t(level.front())].size();
    std::vector<int> next;
    for (int v : level) {
      if (kids[size_t(v)].size() != w) regular = false;
      next.insert(next.end(), kids[size_t(v)].begin(), kids[size_t(v)].end());
    }
    if (!regular || w == 0) break;
    widths.push_back(int(w));
    level = std::move(next);
  }
  if (regular) {
    QStringList parts;
    for (int w : widths) parts << QString::number(w);
    return parts.join(QLatin1Char(','));
  }
  // Paths of child ranks, every node listed (prefixes included) in breadth-first order.
  std::vector<QString> path(parent_.size());
  QStringList items;
  for (size_t v = 0; v < parent_.size(); ++v)
    for (size_t r = 0; r < kids[v].size(); ++r) {
      const int c = kids[v][r];
      path[size_t(c)] = path[v].isEmpty() ? QString::number(r) : path[v] + QLatin1Char(',') + QString::number(r);
      items << QLatin1Char('[') + path[size_t(c)] + QLatin1Char(']');
    }
  return QLatin1Char('[') + items.join(QLatin1Char(',')) + QLatin1Char(']');
}

std::vector<NodeRecord> EditableTree::nodes() const {
  std::vector<NodeRecord> out(parent_.size());
  for (size_t v = 0; v < parent_.size(); ++v) {
    NodeRecord& n = out[v];
    n.node = int32_t(v);
    n.parent = parent_[v];
    n.depth = v == 0 ? 0 : out[size_t(parent_[v])].depth + 1;
    n.token = int32_t(v);
    n.verdict = v == 0 ? Verdict::Root : Verdict::NotExamined;
  }
  return out;
}

}  // namespace sm::ui
