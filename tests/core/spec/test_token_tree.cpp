// SPDX-License-Identifier: Apache-2.0
// Token tree shapes (widths per depth, JSON path lists), their validation,
// and the verification schedules built from them (paths / dfs / fifo).
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "core/io/error.h"
#include "core/spec/token_tree.h"
#include "core/spec/tree_verifier.h"

namespace {

using sm::TreeShape;

std::string error_of(const std::string& spec) {
  try {
    TreeShape::parse(spec);
  } catch (const sm::Error& e) {
    return e.what();
  }
  return "";
}

TEST(TreeShape, WidthsGiveBreadthFirstNodes) {
  const TreeShape s = TreeShape::parse("2,2,1");
  ASSERT_EQ(s.size(), 1 + 2 + 4 + 4);
  EXPECT_EQ(s.max_depth(), 3);
  EXPECT_EQ(s.parent, (std::vector<int32_t>{-1, 0, 0, 1, 1, 2, 2, 3, 4, 5, 6}));
  EXPECT_EQ(s.rank, (std::vector<int32_t>{0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0}));
  EXPECT_EQ(s.depth, (std::vector<int32_t>{0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}));
  EXPECT_EQ(s.first_child[0], 1);
  EXPECT_EQ(s.n_children[0], 2);
  EXPECT_EQ(s.first_child[2], 5);
  EXPECT_EQ(s.n_children[7], 0);
  EXPECT_EQ(s.leaf_count(), 4);
  EXPECT_EQ(s.max_width(), 2);
  EXPECT_EQ(s.level_sizes(), (std::vector<int32_t>{1, 2, 4, 4}));
  EXPECT_EQ(s.path_to(9), (std::vector<int32_t>{0, 2, 5, 9}));
  EXPECT_EQ(TreeShape::parse(" 4, 2 ,2,1 ").size(), 1 + 4 + 8 + 16 + 16);
}

TEST(TreeShape, ChainIsWidthOne) {
  const TreeShape c = TreeShape::parse("1,1,1,1");
  EXPECT_EQ(c.size(), 5);
  EXPECT_EQ(c.max_depth(), 4);
  EXPECT_EQ(c.leaf_count(), 1);
  for (int32_t v = 1; v < c.size(); ++v) EXPECT_EQ(c.parent[v], v - 1);
  EXPECT_EQ(TreeShape::chain(4).parent, c.parent);
}

TEST(TreeShape, PathsWithImpliedPrefixes) {
  // [0,1,0] implies [0] and [0,1]; [1] is listed; BFS order sorts by depth, then rank.
  const TreeShape s = TreeShape::parse("[[0,1,0],[1],[0,0]]");
  ASSERT_EQ(s.size(), 6);
  // 0 root; 1 = [0]; 2 = [1]; 3 = [0,0]; 4 = [0,1]; 5 = [0,1,0]
  EXPECT_EQ(s.parent, (std::vector<int32_t>{-1, 0, 0, 1, 1, 4}));
  EXPECT_EQ(s.rank, (std::vector<int32_t>{0, 0, 1, 0, 1, 0}));
  // The same tree written with all prefixes is identical.
  const TreeShape t = TreeShape::parse("[[0],[1],[0,0],[0,1],[0,1,0]]");
  EXPECT_EQ(t.parent, s.parent);
  // Medusa-style object form.
  EXPECT_EQ(TreeShape::parse(R"({"paths": [[0],[0,0]]})").size(), 3);
  // Widths and the equivalent path list agree.
  const TreeShape w = TreeShape::parse("2,1");
  const TreeShape p = TreeShape::parse("[[0],[1],[0,0],[1,0]]");
  EXPECT_EQ(w.parent, p.parent);
  EXPECT_EQ(w.rank, p.rank);
}

TEST(TreeShape, JsonFile) {
  const auto f = std::filesystem::temp_directory_path() /
                 ("sm_tree_" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream o(f);
    o << "[[0], [1], [0, 0]]\n";
  }
  const TreeShape s = TreeShape::parse(f.string());
  EXPECT_EQ(s.size(), 4);
  EXPECT_EQ(s.spec, f.string());
  std::filesystem::remove(f);
  EXPECT_NE(error_of(f.string()).find("cannot open"), std::string::npos);
}

TEST(TreeShape, MalformedShapesAreRejectedClearly) {
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("0").find("between 1 and"), std::string::npos);
  EXPECT_NE(error_of("2,-1").find("between 1 and"), std::string::npos);
  EXPECT_NE(error_of("4,,2").find("not a width"), std::string::npos);
  EXPECT_NE(error_of("a,b").find("not a width"), std::string::npos);
  EXPECT_NE(error_of("2.5").find("not a width"), std::string::npos);
  EXPECT_NE(error_of("16,16,16").find("more than 256 nodes"), std::string::npos);
  EXPECT_NE(error_of("1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1").find("deep"), std::string::npos);
  EXPECT_EQ(error_of("1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1"), "");  // 16 deep is fine
  EXPECT_EQ(error_of("15,15"), "");                            // 241 nodes is fine
  EXPECT_NE(error_of("[[0],").find("malformed JSON"), std::string::npos);
  EXPECT_NE(error_of("[]").find("empty"), std::string::npos);
  EXPECT_NE(error_of("[[]]").find("empty path"), std::string::npos);
  EXPECT_NE(error_of("[[-1]]").find("child rank -1"), std::string::npos);
  EXPECT_NE(error_of("[[0.5]]").find("integers"), std::string::npos);
  EXPECT_NE(error_of("[[\"0\"]]").find("integers"), std::string::npos);
  EXPECT_NE(error_of("[0, 1]").find("list of child ranks"), std::string::npos);
  EXPECT_NE(error_of("{\"a\": 1}").find("\"paths\""), std::string::npos);
  EXPECT_NE(error_of("[[1]]").find("no sibling [0]"), std::string::npos);
  EXPECT_NE(error_of("[[0],[0,2],[0,0]]").find("no sibling [0,1]"), std::string::npos);
  EXPECT_NE(error_of("[[0],[0]]").find("listed twice"), std::string::npos);
  EXPECT_NE(error_of("/no/such/tree.json").find("cannot open"), std::string::npos);
}

TEST(VerifySchedule, ChainNeedsOneLiveStateInEveryOrder) {
  const TreeShape c = TreeShape::parse("1,1,1,1");
  for (auto o : {sm::VerifyOrder::Paths, sm::VerifyOrder::Dfs, sm::VerifyOrder::Fifo}) {
    const auto s = sm::VerifySchedule::build(c, o);
    EXPECT_EQ(s.slot_count, 1) << sm::verify_order_name(o);
    EXPECT_EQ(s.loads, 1);
    EXPECT_EQ(s.steps, 5);
  }
}

TEST(VerifySchedule, PathsRecomputesSharedPrefixes) {
  const TreeShape t = TreeShape::parse("2,2");  // 7 nodes, 4 leaves
  const auto p = sm::VerifySchedule::build(t, sm::VerifyOrder::Paths);
  EXPECT_EQ(p.loads, 4);
  EXPECT_EQ(p.steps, 4 * 3);  // redundant = 12 - 7 = 5
  EXPECT_EQ(p.slot_count, 4);      // the naive batch: one full state per path
  const auto d = sm::VerifySchedule::build(t, sm::VerifyOrder::Dfs);
  EXPECT_EQ(d.loads, 1);
  EXPECT_EQ(d.steps, 7);
  const auto f = sm::VerifySchedule::build(t, sm::VerifyOrder::Fifo);
  EXPECT_EQ(f.loads, 1);
  EXPECT_EQ(f.steps, 7);
  // dfs holds the root-to-node stack; fifo the frontier of parents.
  EXPECT_EQ(d.slot_count, 3);
  EXPECT_EQ(f.slot_count, 3);
  EXPECT_LT(f.slot_count, p.slot_count);
  const TreeShape t422 = TreeShape::parse("4,2,2");
  EXPECT_EQ(sm::VerifySchedule::build(t422, sm::VerifyOrder::Paths).slot_count, 16);
  EXPECT_EQ(sm::VerifySchedule::build(t422, sm::VerifyOrder::Fifo).slot_count, 9);
  const TreeShape wide = TreeShape::parse("4,2,2,1");
  // fifo: the 16 depth-3 states are live at once; dfs: one state per level.
  EXPECT_EQ(sm::VerifySchedule::build(wide, sm::VerifyOrder::Fifo).slot_count, 16);
  EXPECT_EQ(sm::VerifySchedule::build(wide, sm::VerifyOrder::Dfs).slot_count, 4);
}

TEST(VerifySchedule, EveryNodeIsSteppedFromItsParentState) {
  // Simulate the schedule on "states" that record the path they were built from.
  for (const char* spec : {"3,2,1", "[[0],[1],[2],[0,0],[0,1],[2,0],[2,0,0]]", "1,2,1,2"})
    for (auto o : {sm::VerifyOrder::Paths, sm::VerifyOrder::Dfs, sm::VerifyOrder::Fifo}) {
      const TreeShape t = TreeShape::parse(spec);
      const auto s = sm::VerifySchedule::build(t, o);
      std::vector<int32_t> slot_node(s.slot_count, -2);  // node whose state the slot holds (-1 = committed)
      std::vector<int> computed(t.size(), 0);
      for (const auto& op : s.ops) {
        switch (op.kind) {
          case sm::ScanOp::Load: slot_node[op.slot] = -1; break;
          case sm::ScanOp::Copy: slot_node[op.slot] = slot_node[op.src]; break;
          case sm::ScanOp::Step:
            ASSERT_EQ(slot_node[op.slot], t.parent[op.node]) << spec << " node " << op.node;
            slot_node[op.slot] = op.node;
            ++computed[op.node];
            break;
          case sm::ScanOp::Push:
          case sm::ScanOp::Pop:
            EXPECT_EQ(slot_node[op.slot], op.node);
            break;
          case sm::ScanOp::Free: slot_node[op.slot] = -2; break;
        }
        EXPECT_LE(op.live, s.slot_count);
      }
      for (int32_t v = 0; v < t.size(); ++v) {
        EXPECT_GE(computed[v], 1);
        if (o != sm::VerifyOrder::Paths) {
          EXPECT_EQ(computed[v], 1);
        }
      }
    }
}

}  // namespace

namespace {
// Fuzzer finding (tests/fuzz/corpus/fuzz_tree_shape/regression-name-too-long):
// a shape text longer than a file name made std::filesystem::exists throw
// filesystem_error instead of the parser's own error.
TEST(TreeShapeParse, TextLongerThanAFileNameIsAShapeError) {
  const std::string path = std::string(SPECMAMBA_SOURCE_DIR) +
                           "/tests/fuzz/corpus/fuzz_tree_shape/regression-name-too-long";
  std::ifstream f(path, std::ios::binary);
  const std::string input((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_GT(input.size(), 255u);
  EXPECT_THROW(sm::TreeShape::parse(input), sm::Error);
  EXPECT_THROW(sm::TreeShape::parse(std::string(5000, 'x') + ",2"), sm::Error);
}
}  // namespace
