// SPDX-License-Identifier: Apache-2.0
#pragma once
// The tuner's tree editor: a tree shape as children per node, edited by
// "add a child here" and "remove this branch", written back as the text
// TreeShape::parse reads (widths "2,2,1" when the tree is regular, else a
// JSON list of child-rank paths). Nodes are renumbered breadth-first after
// every edit, as core numbers them. No widgets.
#include <QString>

#include <cstdint>
#include <vector>

#include "ui/models/run_record.h"

namespace sm {
struct TreeShape;
}

namespace sm::ui {

class EditableTree {
 public:
  EditableTree();  // a lone root
  static EditableTree fromShape(const TreeShape& s);
  // TreeShape::parse; throws sm::Error as it does.
  static EditableTree parse(const QString& text);

  int size() const { return static_cast<int>(parent_.size()); }  // incl. the root
  int depth() const;
  int children(int node) const;
  int parent(int node) const { return parent_[size_t(node)]; }

  // Adds a last child to `node`; returns the new node's index (after renumbering), -1 if full.
  int addChild(int node);
  // Removes `node` and everything below it (not the root); false if it cannot.
  bool removeBranch(int node);

  // "2,2,1" or "[[0],[1],[0,0]]"; "" for a lone root (no draft tokens).
  QString spec() const;
  // Breadth-first records for TreeLayout (tokens are the node numbers).
  std::vector<NodeRecord> nodes() const;

 private:
  void renumber(const std::vector<std::vector<int>>& kids);
  std::vector<std::vector<int>> kidLists() const;
  std::vector<int32_t> parent_;
};

}  // namespace sm::ui
