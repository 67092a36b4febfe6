// SPDX-License-Identifier: Apache-2.0
// run_sweep on the shipped models: rows, resume after an interruption,
// shards merging to the unsharded sweep, errors and atomic output.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "accel/dataflow/sweep_sim.h"
#include "core/sweep/sweep.h"
#include "tests/core/error_of.h"
#include "tests/core/temp_dir.h"

using namespace sm::sweep;
using sm_test::error_of;
namespace fs = std::filesystem;

namespace {

// 8 configurations, fp32 only (quantization has its own test below).
const char* kSpec = R"({"prompt": "In the beginning God created", "max_tokens": 16,
  "axes": {"tree": ["1,1,1", "2,2"], "verify": ["fifo", "dfs"], "backtrack": ["snapshot"],
           "tile": [0], "preset": ["fp32"], "platform": ["vck190"], "budget": [0, 100000]}})";

RunOptions options(const std::string& out) {
  RunOptions o;
  o.out = out;
  o.simulate = sm::accel::sweep_simulator();
  return o;
}

// What must not depend on timing: the settings and the acceptance.
void expect_same_configs(const SweepResults& a, const SweepResults& b) {
  ASSERT_EQ(a.rows.size(), b.rows.size());
  for (size_t i = 0; i < a.rows.size(); ++i) {
    EXPECT_EQ(a.rows[i].config.index, b.rows[i].config.index);
    EXPECT_TRUE(a.rows[i].config.same_settings(b.rows[i].config)) << i;
    EXPECT_DOUBLE_EQ(a.rows[i].mean_accepted, b.rows[i].mean_accepted) << i;
    EXPECT_EQ(a.rows[i].generated, b.rows[i].generated) << i;
    EXPECT_EQ(a.rows[i].steps, b.rows[i].steps) << i;
    EXPECT_DOUBLE_EQ(a.rows[i].sim_tokens_per_second, b.rows[i].sim_tokens_per_second) << i;
  }
}

}  // namespace

TEST(SweepRun, RowsHaveFigures) {
  sm_test::TempDir dir;
  const SweepSpec s = SweepSpec::parse(kSpec, "spec");
  std::vector<std::string> messages;
  int rows_seen = 0;
  RunOptions o = options(dir.file("r.h5"));
  o.progress = [&](const SweepProgress& p) {
    if (p.row) ++rows_seen;
    else messages.push_back(p.message);
  };
  const RunResult r = run_sweep(s, o);
  EXPECT_FALSE(r.cancelled);
  EXPECT_EQ(r.computed, 8);
  EXPECT_EQ(rows_seen, 8);
  ASSERT_EQ(r.results.rows.size(), 8u);
  for (const SweepRow& row : r.results.rows) {
    EXPECT_TRUE(row.ok()) << row.error;
    EXPECT_GT(row.tokens_per_second, 0);
    EXPECT_GT(row.baseline_tokens_per_second, 0);
    EXPECT_NEAR(row.speedup, row.tokens_per_second / row.baseline_tokens_per_second, 1e-9);
    EXPECT_GE(row.mean_accepted, 0);
    EXPECT_GT(row.sim_tokens_per_second, 0);
    EXPECT_GT(row.energy_per_token_mj, 0);
    EXPECT_GT(row.lut, 0);
    EXPECT_EQ(row.fits, 1) << row.fit_note;
    EXPECT_EQ(row.generated, 16);
  }
  EXPECT_TRUE(fs::exists(dir.file("r.h5")));
  EXPECT_FALSE(fs::exists(partial_path(dir.file("r.h5"))));
  const SweepResults back = read_results(dir.file("r.h5"));
  EXPECT_TRUE(back.complete);
  expect_same_configs(back, r.results);
  // Rerunning a complete sweep reuses everything.
  const RunResult again = run_sweep(s, options(dir.file("r.h5")));
  EXPECT_EQ(again.computed, 0);
  EXPECT_EQ(again.reused, 8);
}

TEST(SweepRun, ResumesAfterAnInterruption) {
  sm_test::TempDir dir;
  const SweepSpec s = SweepSpec::parse(kSpec, "spec");
  const std::string out = dir.file("r.h5");
  RunOptions o = options(out);
  o.stop_after = 3;
  const RunResult first = run_sweep(s, o);
  EXPECT_TRUE(first.cancelled);
  EXPECT_EQ(first.computed, 3);
  EXPECT_FALSE(fs::exists(out));  // nothing at --out until the sweep is complete
  ASSERT_TRUE(fs::exists(partial_path(out)));
  const SweepResults partial = read_results(partial_path(out));
  EXPECT_FALSE(partial.complete);
  ASSERT_EQ(partial.rows.size(), 3u);

  // A cancel flag set from outside stops the same way (after the running configuration).
  std::atomic<bool> cancel{false};
  RunOptions oc = options(out);
  oc.cancel = &cancel;
  oc.progress = [&](const SweepProgress& p) {
    if (p.row) cancel = true;
  };
  const RunResult second = run_sweep(s, oc);
  EXPECT_TRUE(second.cancelled);
  EXPECT_EQ(second.reused, 3);
  EXPECT_EQ(second.computed, 1);
  EXPECT_EQ(read_results(partial_path(out)).rows.size(), 4u);

  std::set<int64_t> computed_now;
  RunOptions o3 = options(out);
  o3.jobs = 2;
  o3.progress = [&](const SweepProgress& p) {
    if (p.row) computed_now.insert(p.row->config.index);
  };
  const RunResult third = run_sweep(s, o3);
  EXPECT_FALSE(third.cancelled);
  EXPECT_EQ(third.reused, 4);
  EXPECT_EQ(third.computed, 4);
  for (const SweepRow& row : partial.rows) EXPECT_EQ(computed_now.count(row.config.index), 0u);  // not recomputed
  ASSERT_EQ(third.results.rows.size(), 8u);
  // The rows kept from the first run are the same rows (timings included).
  for (const SweepRow& row : partial.rows)
    EXPECT_DOUBLE_EQ(third.results.rows[static_cast<size_t>(row.config.index)].tokens_per_second,
                     row.tokens_per_second);
  EXPECT_TRUE(fs::exists(out));
  EXPECT_FALSE(fs::exists(partial_path(out)));
  const RunResult whole = run_sweep(s, options(dir.file("whole.h5")));
  expect_same_configs(third.results, whole.results);
}

TEST(SweepRun, ShardsMergeToTheUnshardedSweep) {
  sm_test::TempDir dir;
  const SweepSpec s = SweepSpec::parse(kSpec, "spec");
  std::vector<SweepResults> parts;
  std::vector<std::string> names;
  for (int64_t k = 0; k < 3; ++k) {
    RunOptions o = options(dir.file("part-" + std::to_string(k) + ".h5"));
    o.shard = {k, 3};
    const RunResult r = run_sweep(s, o);
    for (const SweepRow& row : r.results.rows) EXPECT_EQ(row.config.index % 3, k);
    names.push_back(o.out);
    parts.push_back(read_results(o.out));
  }
  const SweepResults merged = merge_results(parts, names);
  const RunResult whole = run_sweep(s, options(dir.file("whole.h5")));
  expect_same_configs(merged, whole.results);
  // A shard's file is not another shard's.
  RunOptions o = options(names[0]);
  o.shard = {1, 3};
  EXPECT_NE(error_of([&] { (void)run_sweep(s, o); }).find("holds shard 0/3"), std::string::npos);
}

TEST(SweepRun, DifferentSpecForAnExistingOutIsAnError) {
  sm_test::TempDir dir;
  const SweepSpec a = SweepSpec::parse(R"({"prompt": "In the", "max_tokens": 8})", "a");
  const SweepSpec b = SweepSpec::parse(R"({"prompt": "In the", "max_tokens": 9})", "b");
  const std::string out = dir.file("r.h5");
  RunOptions o = options(out);
  (void)run_sweep(a, o);
  EXPECT_NE(error_of([&] { (void)run_sweep(b, o); }).find("holds a sweep of a different spec"), std::string::npos);
  // The same for an interrupted one.
  const std::string out2 = dir.file("r2.h5");
  const SweepSpec c = SweepSpec::parse(kSpec, "c");
  RunOptions o2 = options(out2);
  o2.stop_after = 1;
  (void)run_sweep(c, o2);
  o2.stop_after = -1;
  EXPECT_NE(error_of([&] { (void)run_sweep(a, o2); }).find(".partial: holds a sweep of a different spec"),
            std::string::npos);
}

TEST(SweepRun, FailuresLeaveNoFileAtOut) {
  sm_test::TempDir dir;
  // Missing models: a clear error, nothing at --out.
  const std::string out = dir.file("r.h5");
  for (const char* key : {"target", "draft"}) {
    const SweepSpec s = SweepSpec::parse(
        std::string(R"({"prompt": "x", "max_tokens": 4, ")") + key + R"(": "/nonexistent/model"})", "s");
    const std::string msg = error_of([&] { (void)run_sweep(s, options(out)); });
    EXPECT_NE(msg.find("/nonexistent/model"), std::string::npos) << msg;
    EXPECT_NE(msg.find(key), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(out));
    EXPECT_FALSE(fs::exists(partial_path(out)));
  }
  // An output directory that does not exist.
  const SweepSpec ok = SweepSpec::parse(R"({"prompt": "x", "max_tokens": 4})", "ok");
  EXPECT_NE(error_of([&] { (void)run_sweep(ok, options(dir.file("no/such/r.h5"))); }).find("does not exist"),
            std::string::npos);
  EXPECT_NE(error_of([&] { (void)run_sweep(ok, options(dir.str())); }).find("is a directory"), std::string::npos);
}

TEST(SweepRun, SimulationErrorsAreNotedNotFatal) {
  sm_test::TempDir dir;
  const SweepSpec s = SweepSpec::parse(R"({"prompt": "In the", "max_tokens": 8})", "s");
  RunOptions o = options(dir.file("r.h5"));
  o.simulate = [](const SimRequest&) -> SimResult { throw sm::Error("design: tile: too wide"); };
  const RunResult r = run_sweep(s, o);
  ASSERT_EQ(r.results.rows.size(), 1u);
  const SweepRow& row = r.results.rows[0];
  EXPECT_TRUE(row.ok()) << row.error;
  EXPECT_GT(row.tokens_per_second, 0);
  EXPECT_TRUE(std::isnan(row.sim_tokens_per_second));
  EXPECT_EQ(row.fits, -1);
  EXPECT_EQ(row.fit_note, "simulation: design: tile: too wide");
}

TEST(SweepRun, QuantizedPresetsAreCachedAndHaveBpb) {
  sm_test::TempDir dir;
  const std::string eval = dir.file("eval.txt");
  std::ofstream(eval) << "In the beginning God created the heaven and the earth.\n"
                         "And the earth was without form, and void.\n";
  const std::string spec = R"({"prompt": "In the", "max_tokens": 8, "calibrate": false, "eval_text": ")" + eval +
                           R"(", "axes": {"preset": ["fp32", "w8a8"], "platform": ["vck190", "u280"]}})";
  const SweepSpec s = SweepSpec::parse(spec, "s");
  const std::string out = dir.file("r.h5");
  RunOptions o = options(out);
  o.stop_after = 1;
  (void)run_sweep(s, o);
  const std::string cache = cache_dir(out);
  ASSERT_TRUE(fs::is_directory(cache));
  std::vector<fs::path> made;
  for (const auto& e : fs::directory_iterator(cache)) made.push_back(e.path());
  ASSERT_EQ(made.size(), 1u);  // w8a8 only; fp32 uses the spec's models
  const auto stamp = fs::last_write_time(made[0] / "target" / "model.safetensors");
  std::vector<std::string> messages;
  o.stop_after = -1;
  o.progress = [&](const SweepProgress& p) {
    if (!p.row) messages.push_back(p.message);
  };
  const RunResult r = run_sweep(s, o);
  EXPECT_EQ(fs::last_write_time(made[0] / "target" / "model.safetensors"), stamp);  // reused, not re-quantized
  bool cached = false;
  for (const auto& m : messages) cached |= m.rfind("cached w8a8", 0) == 0;
  EXPECT_TRUE(cached);
  ASSERT_EQ(r.results.rows.size(), 4u);
  bool has_bpb = false;
  for (const auto& c : r.results.columns) has_bpb |= c.name == "bpb";
  EXPECT_TRUE(has_bpb);
  for (const SweepRow& row : r.results.rows) {
    EXPECT_TRUE(row.ok()) << row.error;
    EXPECT_GT(row.bpb, 0);
    EXPECT_GT(row.sim_tokens_per_second, 0);
  }
  // bpb is per preset; platforms share it.
  EXPECT_DOUBLE_EQ(r.results.rows[0].bpb, r.results.rows[1].bpb);
  EXPECT_NE(r.results.rows[0].bpb, r.results.rows[2].bpb);
  // The simulated figures depend on the platform and the preset's bit widths.
  EXPECT_NE(r.results.rows[0].sim_tokens_per_second, r.results.rows[1].sim_tokens_per_second);
  EXPECT_NE(r.results.rows[0].sim_tokens_per_second, r.results.rows[2].sim_tokens_per_second);
}

TEST(SweepSim, UnknownPlatformIsNamed) {
  const SweepSpec s = SweepSpec::parse(R"({"prompt": "x", "axes": {"platform": ["vck190", "zynq9000"]}})", "s");
  const std::string msg = error_of([&] { sm::accel::check_sweep_platforms(s); });
  EXPECT_NE(msg.find("axes.platform[1] 'zynq9000'"), std::string::npos) << msg;
}
