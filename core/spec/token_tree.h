// SPDX-License-Identifier: Apache-2.0
#pragma once
// Token trees for speculative decoding. A TreeShape is the static structure
// (which child ranks exist at which node), fixed for a whole run; a TokenTree
// is one step's drafted tree: the shape plus a token and a draft probability
// per node.
//
// Nodes are numbered breadth-first; node 0 is the root = the last accepted
// token, which neither model has consumed yet. The children of a node are
// contiguous and ordered by rank: rank 0 is the draft's best token (greedy)
// or the first i.i.d. sample (temperature > 0).
//
// A shape is written either as widths per depth, "4,2,2,1" (the root gets 4
// children, each depth-1 node 2, ...; a chain of k tokens is "1,1,...,1"), or
// as an explicit list of paths of child ranks in JSON (Medusa / Sequoia
// style): [[0],[1],[0,0],[0,1],[1,0]], where [0,1] is the 2nd child of the
// 1st child of the root. In a path list:
//   - every prefix of a listed path is implied (it need not be listed);
//   - ranks among siblings must be contiguous: a node with a child of rank k
//     must also have children of ranks 0..k-1 (listed or implied), because
//     the k-th best token is only drafted with the better ones;
//   - a path listed twice, an empty path, a negative or non-integer rank is
//     an error.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sm {

constexpr int32_t kMaxTreeNodes = 256;  // including the root
constexpr int32_t kMaxTreeDepth = 16;   // draft tokens on the longest path

struct TreeShape {
  std::vector<int32_t> parent;       // [n]; parent[0] = -1, parent[i] < i
  std::vector<int32_t> rank;         // rank among siblings (root: 0)
  std::vector<int32_t> depth;        // root: 0
  std::vector<int32_t> first_child;  // children of i: [first_child[i], +n_children[i])
  std::vector<int32_t> n_children;
  std::string spec;                  // the text it was parsed from

  int32_t size() const { return static_cast<int32_t>(parent.size()); }
  int32_t max_depth() const;
  int32_t max_width() const;  // most children of one node
  bool is_leaf(int32_t i) const { return n_children[i] == 0; }
  int32_t leaf_count() const;
  // Nodes on the path root..node (inclusive), root first.
  std::vector<int32_t> path_to(int32_t node) const;
  // Nodes per depth, e.g. {1, 4, 8, 16, 16} for "4,2,2,1".
  std::vector<int32_t> level_sizes() const;
  std::string describe() const;  // "4,2,2,1 (45 nodes, depth 4)"

  // Throw sm::Error with a message naming the problem.
  static TreeShape chain(int k);
  static TreeShape from_widths(std::span<const int> widths, const std::string& spec = "");
  static TreeShape from_paths(const std::vector<std::vector<int64_t>>& paths,
                              const std::string& where);
  static TreeShape parse_widths(const std::string& text);
  static TreeShape parse_paths_json(const std::string& json_text, const std::string& where);
  // "4,2,2,1", an inline JSON path list "[[0],[1],[0,0]]", or the path of a
  // .json file holding one (a list, or an object with a "paths" list).
  static TreeShape parse(const std::string& spec);

 private:
  void finish();  // fills depth / first_child / n_children from parent and checks limits
};

// One step's drafted tree.
struct TokenTree {
  const TreeShape* shape = nullptr;
  std::vector<int32_t> token;     // [n]; token[0] = root
  std::vector<float> draft_prob;  // [n]; draft probability of token[i] at its parent (root: 1)

  TokenTree() = default;
  explicit TokenTree(const TreeShape& s)
      : shape(&s), token(s.size(), 0), draft_prob(s.size(), 1.0f) {}
  int32_t size() const { return shape ? shape->size() : 0; }
};

}  // namespace sm
