// SPDX-License-Identifier: Apache-2.0
// The accelerator's dataflow model: strict platform loader, design
// validation, calibration to LightMamba's published figures, the pipeline's
// overlap accounting, verification-order state traffic and speculation.
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "accel/dataflow/model.h"
#include "core/io/default_paths.h"
#include "core/io/error.h"

namespace {
using namespace sm::accel;
using sm::Error;

std::string err_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

nlohmann::json platform_json(const std::string& name) {
  std::ifstream in(sm::data_dir() + "/platforms/" + name + ".json");
  return nlohmann::json::parse(in);
}

TEST(PlatformLoader, LoadsAllShippedPlatforms) {
  for (const char* n : {"vck190", "vhk158", "u280", "u55c"}) {
    Platform p = Platform::load(n);
    EXPECT_EQ(p.name, n);
    EXPECT_GT(p.resources.lut, 100000);
    EXPECT_GT(p.memory.sustained_bytes_per_s(), 1e9);
    EXPECT_TRUE(p.source.contains("memory"));
  }
  Platform v = Platform::load("vck190");
  EXPECT_EQ(v.resources.dsp, 1968);
  EXPECT_EQ(v.resources.bram36, 967);
  EXPECT_DOUBLE_EQ(v.memory.peak_gbps, 25.6);
}

TEST(PlatformLoader, StrictKeysNameFileAndKey) {
  auto j = platform_json("vck190");
  j["memory"]["bogus"] = 1;
  EXPECT_NE(err_of([&] { Platform::from_json(j, "x.json"); }).find("x.json: unknown key 'memory.bogus'"), std::string::npos);
  j = platform_json("vck190");
  j["resources"].erase("uram");
  EXPECT_NE(err_of([&] { Platform::from_json(j, "y.json"); }).find("y.json: missing key 'resources.uram'"), std::string::npos);
  j = platform_json("vck190");
  j["clock"]["max_mhz"] = "fast";
  EXPECT_NE(err_of([&] { Platform::from_json(j, "z.json"); }).find("clock.max_mhz"), std::string::npos);
  j = platform_json("vck190");
  j["source"].erase("power");
  EXPECT_NE(err_of([&] { Platform::from_json(j, "s.json"); }).find("source.power"), std::string::npos);
  EXPECT_NE(err_of([] { Platform::load("nosuchboard"); }).find("unknown platform 'nosuchboard'"), std::string::npos);
}

TEST(Design, ValidationErrors) {
  Design d = Design::lightmamba();
  const auto m = model_shape("mamba2-2.7b");
  const auto p = Platform::load("vck190");
  EXPECT_NO_THROW(d.validate_for(m, p));
  Design z = d;
  z.tile_rows = 0;
  EXPECT_NE(err_of([&] { z.validate(); }).find("tile: rows and cols must be >= 1 (got 0x8)"), std::string::npos);
  Design c = d;
  c.clock_mhz = 900;
  EXPECT_NE(err_of([&] { c.validate_for(m, p); }).find("exceeds vck190's limit"), std::string::npos);
  Design w = d;
  w.tile_cols = 24;  // straddles groups of 128
  EXPECT_NE(err_of([&] { w.validate_for(m, p); }).find("weight group"), std::string::npos);
  Design h = d;
  h.head_groups = 100;
  EXPECT_NE(err_of([&] { h.validate_for(m, p); }).find("head_groups"), std::string::npos);
  Design big = d;
  big.tile_rows = 256, big.tile_cols = 256, big.linear_units = 8;
  EXPECT_NE(err_of([&] { simulate_decode(m, big, p); }).find("does not fit vck190: LUT"), std::string::npos);
  EXPECT_NE(err_of([] { model_shape("mamba-9b"); }).find("unknown model shape 'mamba-9b'"), std::string::npos);
}

double rel(double a, double b) { return std::fabs(a - b) / b; }

Design u280_design() {
  Design d = Design::lightmamba();
  d.linear_units = 16, d.hadamard_unroll = 64, d.clock_mhz = 300;
  return d;
}

TEST(Calibration, LightMambaVck190) {
  const auto r = simulate_decode(model_shape("mamba2-2.7b"), Design::lightmamba(), Platform::load("vck190"));
  std::printf("vck190: %.2f tok/s, DSP %lld, LUT %lld, BRAM %lld\n", r.tokens_per_second, (long long)r.resources.dsp,
              (long long)r.resources.lut, (long long)r.resources.bram);
  EXPECT_LT(rel(r.tokens_per_second, 7.21), 0.15);
  EXPECT_LT(rel(r.resources.dsp, 228), 0.25);
  EXPECT_LT(rel(r.resources.lut, 107000), 0.25);
  EXPECT_LT(rel(r.resources.bram, 456), 0.25);
  // Linear layers bind (in_proj and out_proj are ~88% of the token).
  int64_t lin = 0;
  for (const auto& u : r.step.units)
    if (u.unit == "in_proj" || u.unit == "out_proj") lin += u.cycles;
  EXPECT_GT(double(lin) / r.step.cycles, 0.8);
}

TEST(Calibration, LightMambaU280) {
  const auto r = simulate_decode(model_shape("mamba2-2.7b"), u280_design(), Platform::load("u280"));
  std::printf("u280: %.2f tok/s\n", r.tokens_per_second);
  EXPECT_LT(rel(r.tokens_per_second, 93), 0.15);
}

TEST(Pipeline, OverlapAccounting) {
  const auto m = model_shape("mamba2-2.7b");
  const auto p = Platform::load("vck190");
  Design d = Design::lightmamba();
  const auto on = simulate_step(m, d, p, {});
  d.reorder = false;
  const auto off = simulate_step(m, d, p, {});
  EXPECT_GT(on.ssm_linear_overlap, 0);
  EXPECT_EQ(off.ssm_linear_overlap, 0);  // without reordering the SSM waits for all of in_proj
  EXPECT_LT(on.cycles, off.cycles);
  for (const auto* s : {&on, &off}) {
    EXPECT_LE(s->cycles, s->serial_cycles);
    int64_t sum = 0;
    for (const auto& u : s->units) sum += u.cycles;
    EXPECT_EQ(sum, s->serial_cycles);  // every op's span is counted once in its unit
    for (auto it = s->lanes.begin(); it != s->lanes.end(); ++it) {
      EXPECT_LE(it.value()["active_cycles"].get<int64_t>(), it.value()["busy_cycles"].get<int64_t>());
      EXPECT_LE(it.value()["busy_cycles"].get<int64_t>(), s->cycles);  // a lane runs one op at a time
    }
  }
  std::vector<PipeEvent> ev{{"ssm", "a", 0, 0, 10, 10}, {"ssm", "b", 0, 20, 30, 10}, {"linear", "c", 0, 5, 25, 20}};
  EXPECT_EQ(lane_overlap(ev, "ssm", "linear"), 5 + 5);
}

TEST(StateTraffic, FifoWithTilingBeatsDfsWhenBufferIsSmall) {
  const auto m = model_shape("mamba2-2.7b");
  Design d = Design::lightmamba();
  const auto t = TreeShape::parse("4,2,2");
  EXPECT_EQ(t.nodes(), 29);
  EXPECT_EQ(t.leaves(), 16);
  const int64_t S = state_bytes_per_layer(m, d);
  d.state_buffer_bytes = 256 * 1024;  // far below one layer's state
  const auto dfs = verify_state_traffic(m, d, t, VerifyOrder::Dfs);
  const auto fifo = verify_state_traffic(m, d, t, VerifyOrder::Fifo);
  const auto paths = verify_state_traffic(m, d, t, VerifyOrder::Paths);
  Design untiled = d;
  untiled.state_tile_bytes = S;
  const auto fifo1 = verify_state_traffic(m, untiled, t, VerifyOrder::Fifo);
  EXPECT_FALSE(fifo.spills);
  EXPECT_GT(fifo.tiles, 1);
  EXPECT_EQ(fifo.total(), S);  // h0 read once, tile by tile
  EXPECT_TRUE(dfs.spills);
  EXPECT_LT(fifo.total(), dfs.total());
  EXPECT_LT(fifo.total(), paths.total());
  EXPECT_TRUE(fifo1.spills);  // FIFO without tiling needs the whole frontier on chip
  EXPECT_GT(paths.node_steps, fifo.node_steps);
  // With a large buffer dfs keeps its stack on chip and ties with fifo.
  d.state_buffer_bytes = 8 * S;
  EXPECT_EQ(verify_state_traffic(m, d, t, VerifyOrder::Dfs).total(), S);
}

TEST(Speculative, AcceptanceAndPrediction) {
  const auto t = TreeShape::parse("4,2,2");
  Acceptance a = Acceptance::parse("0.5");
  EXPECT_NEAR(a.expected_accepted(TreeShape::parse("1")), 0.5, 1e-12);
  EXPECT_NEAR(a.expected_accepted(t), (1 - 0.0625) * (1 + 0.75 + 0.75 * 0.75), 1e-12);
  EXPECT_NE(err_of([] { Acceptance::parse("1.5"); }).find("(0, 1]"), std::string::npos);
  EXPECT_NE(err_of([] { TreeShape::parse("4,0"); }).find("tree"), std::string::npos);
  // An `agree --json` file: mean_accepted 1.4 at k=2 -> r + r^2 = 1.4.
  const std::string f = (std::filesystem::temp_directory_path() / "sm_agree_test.json").string();
  std::ofstream(f) << R"({"rows":[{"k":1,"mean_accepted":0.8},{"k":2,"mean_accepted":1.4}]})";
  Acceptance af = Acceptance::parse(f);
  EXPECT_NEAR(af.rate + af.rate * af.rate, 1.4, 1e-6);
  std::filesystem::remove(f);

  const auto tm = model_shape("mamba2-2.7b"), dm = model_shape("mamba2-130m");
  for (const char* plat : {"vck190", "vhk158"}) {
    const auto p = Platform::load(plat);
    Design d = Design::lightmamba();
    const auto r = simulate_speculative(tm, dm, d, p, TreeShape::parse("1,1,1"), Acceptance::parse("0.7"));
    EXPECT_GT(r.tokens_per_second, 0);
    EXPECT_NEAR(r.speedup, r.tokens_per_second / r.autoregressive.tokens_per_second, 1e-9);
    EXPECT_GT(r.tokens_per_step, 1.0);
    EXPECT_EQ(r.step_cycles, r.draft_cycles + r.verify_cycles + r.backtrack_cycles);
    EXPECT_GT(r.energy_per_token_mj, 0);
  }
  // Bigger trees cost linear compute on a compute-bound design: fewer tokens/s.
  const auto p = Platform::load("vck190");
  const auto small = simulate_speculative(tm, dm, Design::lightmamba(), p, TreeShape::parse("1,1"), Acceptance::parse("0.7"));
  const auto large = simulate_speculative(tm, dm, Design::lightmamba(), p, TreeShape::parse("4,2,2"), Acceptance::parse("0.7"));
  EXPECT_GT(small.tokens_per_second, large.tokens_per_second);
}

// Fuzzer finding (tests/fuzz/corpus/fuzz_platform_json/regression-acceptance-directory):
// an acceptance argument naming a directory (".") opened as a stream whose first
// read threw std::ios_base::failure instead of the parser's own error.
TEST(Speculative, AcceptanceNamingADirectoryIsAClearError) {
  std::ifstream f(std::string(SPECMAMBA_SOURCE_DIR) + "/tests/fuzz/corpus/fuzz_platform_json/regression-acceptance-directory",
                  std::ios::binary);
  const std::string input((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_EQ(input, ".");
  EXPECT_NE(err_of([&] { Acceptance::parse(input); }).find(".: is a directory"), std::string::npos);
  const std::string dir = std::filesystem::temp_directory_path().string();
  EXPECT_NE(err_of([&] { Acceptance::parse(dir); }).find("is a directory"), std::string::npos);
}

// Fuzzer finding (tests/fuzz/corpus/fuzz_platform_json/regression-number-overflow):
// a number beyond double ("80e840") made nlohmann throw out_of_range (406), which
// load_file did not catch (only parse_error): now "invalid JSON" like any bad text.
TEST(Platform, NumberOverflowIsInvalidJson) {
  const std::string path =
      std::string(SPECMAMBA_SOURCE_DIR) + "/tests/fuzz/corpus/fuzz_platform_json/regression-number-overflow";
  ASSERT_TRUE(std::filesystem::exists(path));
  const std::string msg = err_of([&] { Platform::load_file(path); });
  EXPECT_NE(msg.find(path + ": invalid JSON"), std::string::npos) << msg;
  EXPECT_NE(msg.find("80e840"), std::string::npos) << msg;
  // The acceptance file reader had the same catch.
  const std::string f = (std::filesystem::temp_directory_path() / "sm_agree_overflow.json").string();
  std::ofstream(f) << R"({"rows":[{"k":1,"mean_accepted":1e999}]})";
  EXPECT_NE(err_of([&] { Acceptance::parse(f); }).find("invalid JSON"), std::string::npos);
  std::filesystem::remove(f);
}

}  // namespace
