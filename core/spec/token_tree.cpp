// SPDX-License-Identifier: Apache-2.0
#include "core/spec/token_tree.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/io/error.h"

namespace sm {

namespace {

std::string path_text(const std::vector<int64_t>& p) {
  std::string s = "[";
  for (size_t i = 0; i < p.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(p[i]);
  }
  s += ']';
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

}  // namespace

int32_t TreeShape::max_depth() const {
  return depth.empty() ? 0 : *std::max_element(depth.begin(), depth.end());
}

int32_t TreeShape::max_width() const {
  return n_children.empty() ? 0 : *std::max_element(n_children.begin(), n_children.end());
}

int32_t TreeShape::leaf_count() const {
  return static_cast<int32_t>(std::count(n_children.begin(), n_children.end(), 0));
}

std::vector<int32_t> TreeShape::path_to(int32_t node) const {
  std::vector<int32_t> p;
  for (int32_t v = node; v >= 0; v = parent[v]) p.push_back(v);
  std::reverse(p.begin(), p.end());
  return p;
}

std::vector<int32_t> TreeShape::level_sizes() const {
  std::vector<int32_t> s(max_depth() + 1, 0);
  for (int32_t d : depth) ++s[d];
  return s;
}

std::string TreeShape::describe() const {
  return spec + " (" + std::to_string(size()) + " nodes, depth " + std::to_string(max_depth()) +
         ")";
}

void TreeShape::finish() {
  const int32_t n = size();
  if (n > kMaxTreeNodes)
    fail(spec, "the tree has " + std::to_string(n) + " nodes; at most " +
                   std::to_string(kMaxTreeNodes) + " (including the root) are supported");
  depth.assign(n, 0);
  first_child.assign(n, 0);
  n_children.assign(n, 0);
  for (int32_t i = 1; i < n; ++i) {
    depth[i] = depth[parent[i]] + 1;
    if (n_children[parent[i]]++ == 0) first_child[parent[i]] = i;
  }
  for (int32_t i = 0; i < n; ++i)
    if (n_children[i] == 0) first_child[i] = n;
  if (max_depth() > kMaxTreeDepth)
    fail(spec, "the tree is " + std::to_string(max_depth()) + " tokens deep; at most " +
                   std::to_string(kMaxTreeDepth) + " are supported");
  if (n < 2) fail(spec, "the tree has no draft tokens");
}

TreeShape TreeShape::chain(int k) {
  std::vector<int> w(std::max(k, 0), 1);
  if (k < 1) fail("", "a chain needs at least 1 draft token (got " + std::to_string(k) + ")");
  std::string spec;
  for (int i = 0; i < k; ++i) spec.append(i ? ",1" : "1");
  return from_widths(w, spec);
}

TreeShape TreeShape::from_widths(std::span<const int> widths, const std::string& spec_in) {
  TreeShape s;
  s.spec = spec_in;
  if (s.spec.empty())
    for (size_t i = 0; i < widths.size(); ++i) {
      if (i) s.spec += ',';
      s.spec += std::to_string(widths[i]);
    }
  if (widths.empty()) fail(s.spec, "the tree shape is empty: give widths per depth, e.g. 4,2,2,1");
  if (static_cast<int32_t>(widths.size()) > kMaxTreeDepth)
    fail(s.spec, "the tree is " + std::to_string(widths.size()) + " tokens deep; at most " +
                     std::to_string(kMaxTreeDepth) + " are supported");
  int64_t count = 1, level = 1;
  for (int w : widths) {
    if (w < 1) fail(s.spec, "tree widths must be positive (got " + std::to_string(w) + ")");
    level *= w;
    count += level;
    if (count > kMaxTreeNodes)
      fail(s.spec, "the tree has more than " + std::to_string(kMaxTreeNodes) +
                       " nodes (including the root); use smaller widths");
  }
  s.parent = {-1};
  s.rank = {0};
  int32_t lo = 0, hi = 1;  // nodes of the current depth
  for (int w : widths) {
    for (int32_t p = lo; p < hi; ++p)
      for (int r = 0; r < w; ++r) {
        s.parent.push_back(p);
        s.rank.push_back(r);
      }
    lo = hi;
    hi = s.size();
  }
  s.finish();
  return s;
}

TreeShape TreeShape::from_paths(const std::vector<std::vector<int64_t>>& paths,
                                const std::string& where) {
  if (paths.empty()) fail(where, "the tree path list is empty");
  // A trie over child ranks; index 0 = root.
  struct Trie {
    std::map<int64_t, int32_t> kids;
  };
  std::vector<Trie> trie(1);
  std::set<std::vector<int64_t>> listed;
  for (const auto& p : paths) {
    if (p.empty()) fail(where, "empty path [] in the tree (the root is implicit)");
    if (static_cast<int32_t>(p.size()) > kMaxTreeDepth)
      fail(where, "path " + path_text(p) + " is " + std::to_string(p.size()) +
                      " tokens deep; at most " + std::to_string(kMaxTreeDepth) +
                      " are supported");
    for (int64_t r : p)
      if (r < 0 || r >= kMaxTreeNodes)
        fail(where, "path " + path_text(p) + " has child rank " + std::to_string(r) +
                        " (ranks are 0 = best child, 1 = second best, ... below " +
                        std::to_string(kMaxTreeNodes) + ")");
    if (!listed.insert(p).second) fail(where, "path " + path_text(p) + " is listed twice");
    int32_t cur = 0;
    for (int64_t r : p) {  // prefixes are implied
      auto it = trie[cur].kids.find(r);
      if (it == trie[cur].kids.end()) {
        if (static_cast<int32_t>(trie.size()) >= kMaxTreeNodes)
          fail(where, "the tree has more than " + std::to_string(kMaxTreeNodes) +
                          " nodes (including the root)");
        trie[cur].kids[r] = static_cast<int32_t>(trie.size());
        cur = static_cast<int32_t>(trie.size());
        trie.emplace_back();
      } else {
        cur = it->second;
      }
    }
  }
  // Breadth-first numbering; check sibling ranks are 0..k-1.
  TreeShape s;
  s.spec = where;
  std::vector<int32_t> queue = {0};
  std::vector<std::vector<int64_t>> node_path = {{}};
  s.parent = {-1};
  s.rank = {0};
  for (size_t qi = 0; qi < queue.size(); ++qi) {
    const int32_t t = queue[qi];
    int64_t expect = 0;
    for (const auto& [r, child] : trie[t].kids) {
      if (r != expect) {
        auto missing = node_path[qi];
        missing.push_back(expect);
        auto have = node_path[qi];
        have.push_back(r);
        fail(where, "path " + path_text(have) + " has no sibling " + path_text(missing) +
                        ": child ranks of a node must be contiguous from 0");
      }
      ++expect;
      queue.push_back(child);
      auto p = node_path[qi];
      p.push_back(r);
      node_path.push_back(std::move(p));
      s.parent.push_back(static_cast<int32_t>(qi));
      s.rank.push_back(static_cast<int32_t>(r));
    }
  }
  s.finish();
  return s;
}

TreeShape TreeShape::parse_widths(const std::string& text) {
  std::vector<int> w;
  const std::string t = trim(text);
  if (t.empty()) fail("--tree", "the tree shape is empty: give widths per depth, e.g. 4,2,2,1");
  size_t i = 0;
  while (i <= t.size()) {
    size_t j = t.find(',', i);
    if (j == std::string::npos) j = t.size();
    const std::string item = trim(t.substr(i, j - i));
    int64_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size())
      fail(t, "'" + item + "' is not a width (expected comma-separated positive integers, "
                           "e.g. 4,2,2,1, or a JSON list of paths)");
    if (v < 1 || v > kMaxTreeNodes)
      fail(t, "tree widths must be between 1 and " + std::to_string(kMaxTreeNodes) + " (got " +
                  item + ")");
    w.push_back(static_cast<int>(v));
    i = j + 1;
  }
  return from_widths(w, t);
}

TreeShape TreeShape::parse_paths_json(const std::string& json_text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    fail(where, std::string("malformed JSON tree: ") + e.what());
  }
  if (j.is_object()) {
    if (!j.contains("paths"))
      fail(where, "a JSON tree must be a list of paths, or an object with a \"paths\" list");
    j = j["paths"];
  }
  if (!j.is_array())
    fail(where, "a JSON tree must be a list of paths of child ranks, e.g. [[0],[1],[0,0]]");
  std::vector<std::vector<int64_t>> paths;
  for (const auto& p : j) {
    if (!p.is_array())
      fail(where, "every tree entry must be a list of child ranks, got " + p.dump());
    std::vector<int64_t> ranks;
    for (const auto& r : p) {
      if (!r.is_number_integer())
        fail(where, "child ranks must be integers, got " + r.dump() + " in " + p.dump());
      ranks.push_back(r.get<int64_t>());
    }
    paths.push_back(std::move(ranks));
  }
  return from_paths(paths, where);
}

TreeShape TreeShape::parse(const std::string& spec) {
  const std::string t = trim(spec);
  if (t.empty()) fail("--tree", "the tree shape is empty: give widths per depth, e.g. 4,2,2,1");
  if (t.front() == '[' || t.front() == '{') {
    TreeShape s = parse_paths_json(t, "--tree");
    s.spec = t;
    return s;
  }
  namespace fs = std::filesystem;
  const bool looks_like_file = t.size() > 5 && t.substr(t.size() - 5) == ".json";
  std::error_code ec;  // the non-throwing overload: a name too long for a path is just not a file
  if (looks_like_file || (t.find_first_not_of("0123456789, ") != std::string::npos &&
                          fs::exists(t, ec))) {
    std::ifstream f(t, std::ios::binary);
    if (!f) fail(t, "cannot open the tree file");
    std::ostringstream ss;
    ss << f.rdbuf();
    return parse_paths_json(ss.str(), t);
  }
  return parse_widths(t);
}

}  // namespace sm
