// SPDX-License-Identifier: Apache-2.0
// Tree shapes as widths ("4,2,2,1") or JSON child-rank paths: an accepted
// shape is a well-formed tree within the node and depth limits.
#include <string>

#include "core/spec/token_tree.h"
#include "tests/fuzz/fuzz_common.h"

namespace {
void check(const sm::TreeShape& t) {
  if (t.size() < 1 || t.size() > sm::kMaxTreeNodes) sm::fuzz::finding("tree size out of limits");
  if (t.parent[0] != -1) sm::fuzz::finding("root has a parent");
  for (int32_t i = 1; i < t.size(); ++i) {
    if (t.parent[i] < 0 || t.parent[i] >= i) sm::fuzz::finding("parent not before child");
    if (t.depth[i] != t.depth[t.parent[i]] + 1) sm::fuzz::finding("depth inconsistent");
  }
  if (t.max_depth() > sm::kMaxTreeDepth) sm::fuzz::finding("tree too deep");
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string s(sm::fuzz::text(data, size));
  sm::fuzz::expect_clean([&] { check(sm::TreeShape::parse_widths(s)); });
  sm::fuzz::expect_clean([&] { check(sm::TreeShape::parse_paths_json(s, "tree.json")); });
  if (s.find('/') == std::string::npos)  // parse() reads a .json path; keep the fuzzer off the disk
    sm::fuzz::expect_clean([&] { check(sm::TreeShape::parse(s)); });
  return 0;
}
