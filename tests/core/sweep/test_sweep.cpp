// SPDX-License-Identifier: Apache-2.0
// Sweep specs, the cross product, shards, the results file and merging
// (no model runs here: test_sweep_run.cpp runs sweeps).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/sweep/sweep.h"
#include "tests/core/error_of.h"
#include "tests/core/temp_dir.h"

using namespace sm::sweep;
using sm_test::error_of;

namespace {

SweepSpec parse(const std::string& text) { return SweepSpec::parse(text, "spec.json"); }

std::string parse_error(const std::string& text) {
  return error_of([&] { (void)parse(text); });
}

const char* kFull = R"({"prompt": "In the beginning", "max_tokens": 16,
  "axes": {"tree": ["1,1,1,1", "2,2,1"], "verify": ["fifo", "dfs"], "tile": [0, 4],
           "backtrack": ["snapshot", "hybrid"], "budget": [100000], "preset": ["fp32", "w4a4"],
           "platform": ["vck190"]}})";

SweepRow row_of(const SweepSpec& s, int64_t i) {
  SweepRow r;
  r.config = s.config(i);
  r.tokens_per_second = 100.0 + static_cast<double>(i);
  r.baseline_tokens_per_second = 50;
  r.speedup = r.tokens_per_second / 50;
  r.mean_accepted = 1.5;
  r.tokens_per_pass = 2.5;
  r.generated = 16;
  r.steps = 7;
  r.sim_tokens_per_second = 1234.5;
  r.energy_per_token_mj = 0.25;
  r.dsp = 10, r.lut = 2000, r.bram = 3, r.uram = 0, r.fits = 1;
  r.seconds = 0.01;
  return r;
}

SweepResults results_of(const SweepSpec& s, const Shard& shard) {
  SweepResults r;
  r.spec_text = s.text;
  r.spec_hash = s.hash;
  r.total_configs = s.size();
  r.shard = shard;
  r.complete = true;
  r.columns = result_columns(!s.eval_text.empty());
  for (int64_t i : shard_indices(s.size(), shard)) r.rows.push_back(row_of(s, i));
  return r;
}

}  // namespace

TEST(SweepSpec, DefaultsForMissingAxes) {
  const SweepSpec s = parse(R"({"prompt": "x"})");
  EXPECT_EQ(s.size(), 1);
  const SweepConfig c = s.config(0);
  EXPECT_EQ(c.tree, "1,1,1,1");
  EXPECT_EQ(c.verify, "fifo");
  EXPECT_EQ(c.tile, 0);
  EXPECT_EQ(c.backtrack, "snapshot");
  EXPECT_EQ(c.budget, 0);
  EXPECT_EQ(c.preset, "fp32");
  EXPECT_EQ(c.platform, "vck190");
  EXPECT_EQ(s.max_tokens, 64);
  EXPECT_FALSE(s.target.empty());  // the shipped models
  EXPECT_FALSE(s.draft.empty());
  EXPECT_TRUE(s.eval_text.empty());
}

TEST(SweepSpec, CrossProductCountAndOrder) {
  const SweepSpec s = parse(kFull);
  EXPECT_EQ(s.size(), 2 * 2 * 2 * 2 * 1 * 2 * 1);
  const auto all = s.configs();
  ASSERT_EQ(static_cast<int64_t>(all.size()), s.size());
  // The last axis varies fastest, the tree slowest.
  EXPECT_EQ(all[0].describe(), "tree=1,1,1,1 verify=fifo tile=0 backtrack=snapshot budget=100000 preset=fp32 platform=vck190");
  EXPECT_EQ(all[1].preset, "w4a4");
  EXPECT_EQ(all[1].backtrack, "snapshot");
  EXPECT_EQ(all[2].backtrack, "hybrid");
  EXPECT_EQ(all[4].tile, 4);
  EXPECT_EQ(all[8].verify, "dfs");
  EXPECT_EQ(all[15].tree, "1,1,1,1");
  EXPECT_EQ(all[16].tree, "2,2,1");
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].index, static_cast<int64_t>(i));
    for (size_t j = 0; j < i; ++j) EXPECT_FALSE(all[i].same_settings(all[j])) << i << " " << j;
  }
  EXPECT_NE(error_of([&] { (void)s.config(32); }).find("out of range"), std::string::npos);
}

TEST(SweepSpec, HashIgnoresFormattingButNotContent) {
  const SweepSpec a = parse(R"({"prompt": "x", "max_tokens": 8})");
  const SweepSpec b = parse("{ \"max_tokens\" : 8,\n  \"prompt\":\"x\" }");
  const SweepSpec c = parse(R"({"prompt": "x", "max_tokens": 9})");
  EXPECT_EQ(a.hash, b.hash);
  EXPECT_NE(a.hash, c.hash);
  EXPECT_EQ(a.hash.size(), 16u);
}

TEST(SweepSpec, TreeAsInlinePathList) {
  const SweepSpec s = parse(R"({"prompt": "x", "axes": {"tree": [[[0], [1], [0, 0]], "3"]}})");
  ASSERT_EQ(s.tree.size(), 2u);
  EXPECT_EQ(s.tree[0], "[[0],[1],[0,0]]");
}

TEST(SweepSpec, ErrorsNameTheProblem) {
  auto has = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos ? ::testing::AssertionSuccess()
                                               : ::testing::AssertionFailure() << "'" << msg << "' lacks '" << part << "'";
  };
  EXPECT_TRUE(has(parse_error("{"), "not valid JSON"));
  EXPECT_TRUE(has(parse_error("[1]"), "expected a JSON object"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "colour": 1})"), "unknown key 'colour'"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "axes": {"trees": ["1"]}})"), "unknown axis 'trees'"));
  EXPECT_TRUE(has(parse_error(R"({"max_tokens": 4})"), "prompt: missing"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": ""})"), "prompt: empty"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "max_tokens": 0})"), "max_tokens: 0 is out of range"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "max_tokens": "8"})"), "max_tokens: expected an integer"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "axes": {"verify": ["fifo", "bfs"]}})"), "axes.verify[1] 'bfs'"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "axes": {"backtrack": ["undo"]}})"), "axes.backtrack[0] 'undo'"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "axes": {"preset": ["w2a2"]}})"), "axes.preset[0] 'w2a2'"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "axes": {"tile": [-1]}})"), "axes.tile[0]: must be >= 0"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "axes": {"tile": [1.5]}})"), "axes.tile[0]: expected an integer"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "axes": {"budget": ["big"]}})"), "axes.budget[0]: expected an integer"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "axes": {"tile": []}})"), "axes.tile: the list is empty"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "axes": {"tile": 4}})"), "axes.tile: expected a list"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "axes": {"tile": [4, 4]}})"), "value 4 is listed twice"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "axes": {"platform": ["vck190", "vck190"]}})"), "listed twice"));
  // Impossible tree shapes, as core's TreeShape::parse rejects them.
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "axes": {"tree": ["2,0,1"]}})"), "axes.tree[0] '2,0,1'"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "axes": {"tree": ["16,16"]}})"), "axes.tree[0] '16,16'"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "axes": {"tree": [[[1]]]}})"), "axes.tree[0]"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "axes": {"tree": [7]}})"), "axes.tree[0]: expected a string"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "eval_bytes": 10})"), "eval_bytes: needs eval_text"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "rotation": "yes"})"), "rotation: expected true or false"));
  EXPECT_TRUE(has(parse_error(R"({"prompt": "x", "repeats": 0})"), "repeats: 0 is out of range"));
  EXPECT_TRUE(has(error_of([] { (void)SweepSpec::load("/nonexistent/spec.json"); }), "cannot open"));
}

TEST(SweepShard, Parse) {
  EXPECT_EQ(Shard::parse("2/5", nullptr).k, 2);
  EXPECT_EQ(Shard::parse("2/5", nullptr).n, 5);
  EXPECT_EQ(Shard::parse("/4", "3").k, 3);
  EXPECT_EQ(Shard::parse("4", "1").k, 1);
  EXPECT_EQ(Shard::parse("4", "1").n, 4);
  EXPECT_EQ(Shard::parse("0/1", nullptr).whole(), true);
  EXPECT_NE(error_of([] { (void)Shard::parse("/4", nullptr); }).find("SLURM_ARRAY_TASK_ID is not set"), std::string::npos);
  EXPECT_NE(error_of([] { (void)Shard::parse("5/4", nullptr); }).find("must be below N"), std::string::npos);
  EXPECT_NE(error_of([] { (void)Shard::parse("4", "4"); }).find("--array=0-3"), std::string::npos);
  EXPECT_NE(error_of([] { (void)Shard::parse("0/0", nullptr); }).find("N must be >= 1"), std::string::npos);
  EXPECT_NE(error_of([] { (void)Shard::parse("a/4", nullptr); }).find("not a non-negative integer"), std::string::npos);
  EXPECT_NE(error_of([] { (void)Shard::parse("-1/4", nullptr); }).find("not a non-negative integer"), std::string::npos);
  EXPECT_NE(error_of([] { (void)Shard::parse("/4", "x"); }).find("SLURM_ARRAY_TASK_ID"), std::string::npos);
}

TEST(SweepShard, IndicesPartitionTheConfigs) {
  std::vector<int> count(11, 0);
  for (int64_t k = 0; k < 3; ++k)
    for (int64_t i : shard_indices(11, {k, 3})) {
      EXPECT_EQ(i % 3, k);
      ++count[static_cast<size_t>(i)];
    }
  for (int c : count) EXPECT_EQ(c, 1);
  EXPECT_EQ(shard_indices(2, {3, 4}).size(), 0u);
}

TEST(SweepResultsFile, RoundTrip) {
  sm_test::TempDir dir;
  const SweepSpec s = parse(kFull);
  SweepResults r = results_of(s, {});
  r.rows[3].error = "boom";
  r.rows[3].tokens_per_second = kNaN;
  r.rows[5].fit_note = "design does not fit vck190: LUT";
  r.rows[5].fits = 0;
  const std::string path = dir.file("r.h5");
  write_results(path, r);
  const SweepResults back = read_results(path);
  EXPECT_EQ(back.spec_text, s.text);
  EXPECT_EQ(back.spec_hash, s.hash);
  EXPECT_EQ(back.total_configs, 32);
  EXPECT_TRUE(back.complete);
  ASSERT_EQ(back.rows.size(), 32u);
  for (size_t i = 0; i < back.rows.size(); ++i) {
    EXPECT_TRUE(back.rows[i].config.same_settings(s.config(static_cast<int64_t>(i))));
    EXPECT_EQ(back.rows[i].config.index, static_cast<int64_t>(i));
  }
  EXPECT_EQ(back.rows[3].error, "boom");
  EXPECT_TRUE(std::isnan(back.rows[3].tokens_per_second));
  EXPECT_EQ(back.rows[5].fits, 0);
  EXPECT_EQ(back.rows[5].fit_note, r.rows[5].fit_note);
  EXPECT_DOUBLE_EQ(back.rows[7].tokens_per_second, 107.0);
  EXPECT_EQ(back.rows[7].lut, 2000);
  EXPECT_DOUBLE_EQ(column_value(back.rows[7], "energy_per_token_mj"), 0.25);
  EXPECT_TRUE(std::isnan(column_value(back.rows[7], "tree")));
  // No bpb column without eval_text; one with.
  for (const auto& c : back.columns) EXPECT_NE(c.name, "bpb");
  bool found = false;
  for (const auto& c : result_columns(true)) found |= c.name == "bpb";
  EXPECT_TRUE(found);
  // No temp file left beside it.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.str())) (void)e, ++files;
  EXPECT_EQ(files, 1);
}

TEST(SweepResultsFile, AtomicWriteLeavesNothingOnFailure) {
  sm_test::TempDir dir;
  const SweepSpec s = parse(kFull);
  const std::string path = dir.file("missing_dir/r.h5");
  EXPECT_NE(error_of([&] { write_results(path, results_of(s, {})); }).find("cannot create"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir.str()));
}

TEST(SweepResultsFile, ReaderRejectsOtherFiles) {
  sm_test::TempDir dir;
  const std::string txt = dir.file("x.h5");
  std::ofstream(txt) << "not hdf5";
  EXPECT_NE(error_of([&] { (void)read_results(txt); }).find("not an HDF5 file"), std::string::npos);
  EXPECT_NE(error_of([&] { (void)read_results(dir.file("none.h5")); }).find("no such file"), std::string::npos);
}

TEST(SweepMerge, ShardsMergeToTheWhole) {
  const SweepSpec s = parse(kFull);
  std::vector<SweepResults> parts;
  for (int64_t k = 0; k < 3; ++k) parts.push_back(results_of(s, {k, 3}));
  const SweepResults m = merge_results(parts, {"p0", "p1", "p2"});
  const SweepResults whole = results_of(s, {});
  ASSERT_EQ(m.rows.size(), whole.rows.size());
  EXPECT_TRUE(m.complete);
  EXPECT_EQ(m.shard.n, 1);
  for (size_t i = 0; i < m.rows.size(); ++i) {
    EXPECT_EQ(m.rows[i].config.index, static_cast<int64_t>(i));
    EXPECT_TRUE(m.rows[i].config.same_settings(whole.rows[i].config));
  }
}

TEST(SweepMerge, Errors) {
  const SweepSpec s = parse(kFull);
  const SweepSpec other = parse(R"({"prompt": "y", "axes": {"tile": [0, 4]}})");
  std::vector<SweepResults> parts = {results_of(s, {0, 2}), results_of(s, {1, 2})};
  auto err = [](const std::vector<SweepResults>& p) {
    return error_of([&] { (void)merge_results(p, {"a.h5", "b.h5", "c.h5"}); });
  };
  EXPECT_EQ(err(parts), "(no error)");
  // A different spec.
  EXPECT_NE(err({parts[0], results_of(other, {1, 2})}).find("b.h5 is from a different spec"), std::string::npos);
  // A configuration twice.
  EXPECT_NE(err({parts[0], parts[1], results_of(s, {1, 4})}).find("is in both b.h5 and c.h5"), std::string::npos);
  // Missing configurations.
  const std::string missing = err({parts[0]});
  EXPECT_NE(missing.find("16 of 32 configurations are in no part: 1, 3, 5"), std::string::npos) << missing;
  // An interrupted part.
  SweepResults cut = parts[1];
  cut.complete = false;
  EXPECT_NE(err({parts[0], cut}).find("b.h5 is incomplete"), std::string::npos);
  // Other columns (one part with bpb).
  SweepResults cols = parts[1];
  cols.columns = result_columns(true);
  EXPECT_NE(err({parts[0], cols}).find("other columns"), std::string::npos);
  // A row whose settings are not the spec's.
  SweepResults wrong = parts[1];
  wrong.rows[0].config.tile = 99;
  EXPECT_NE(err({parts[0], wrong}).find("does not match the spec's"), std::string::npos);
  EXPECT_NE(error_of([] { (void)merge_results({}, {}); }).find("no parts"), std::string::npos);
}
