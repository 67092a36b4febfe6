// SPDX-License-Identifier: Apache-2.0
// The HLS power-of-two SSM kernels (accel/hls/ssm_pot.cpp, tree_ssm.cpp)
// against core/quant's scan, bit for bit (memcmp of the float state and y):
//   sm_ssm_pot  == quant::pot_scan_mamba2 (the fast path, on every SIMD
//                  target) == pot_scan_mamba2_reference, on random shapes,
//                  wild inputs (zeros, -0.0, subnormal scales, saturating
//                  powers of two, huge dt), T 1..24, head ranges, the
//                  shipped models' shapes and the three LUT variants;
//                  errors: the reference's error kind as the status code;
//   sm_tree_ssm == pot_scan_mamba2 with T = 1 per node from its parent's
//                  state, for chains, stars, width trees and random trees,
//                  every tile_heads, the FIFO depth bound, its errors.
// The speed test prints sm_ssm_pot against both core scans on the shipped
// target's shape.
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include <gtest/gtest.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "accel/hls/ssm.h"
#include "accel/hls/top.h"
#include "core/io/error.h"
#include "core/kernels/simd.h"
#include "core/quant/pot_scan.h"
#include "core/quant/ssm_quant.h"
#include "core/spec/token_tree.h"
#include "core/spec/tree_verifier.h"
#include "tests/core/simd_test_support.h"

namespace {

namespace q = sm::quant;
namespace hk = sm::hls_kernels;
namespace hs = sm::hls_kernels::ssm;

// ------------------------------------------------------------ inputs

struct Rng {
  uint64_t s;
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uni() { return double(next() >> 11) * 0x1p-53; }
  int64_t below(int64_t n) { return int64_t(next() % uint64_t(n)); }
  double gauss() { return (uni() + uni() + uni() + uni() - 2.0) * 1.7320508075688772; }
};

enum class Flavor { Normal, Wild };

// A group of n floats: Normal ~ N(0, sd); Wild: a scale 2^k per group from
// subnormal to large (or an all-zero / -0.0 group), with zeros, -0.0 and
// exact powers of two (saturating maxima) mixed in.
void fill_group(Rng& r, Flavor f, float* v, int64_t n, double sd, int kmax) {
  if (f == Flavor::Normal) {
    for (int64_t i = 0; i < n; ++i) v[i] = float(r.gauss() * sd);
    return;
  }
  static const int kScales[] = {-149, -146, -140, -126, -100, -60, -20, -5, 0, 2, 9, 25, 40};
  const int64_t pick = r.below(int64_t(std::size(kScales)) + 1);
  if (pick == int64_t(std::size(kScales))) {
    for (int64_t i = 0; i < n; ++i) v[i] = r.below(2) ? 0.0f : -0.0f;
    return;
  }
  const int k = std::min(kScales[pick], kmax);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = r.below(24);
    if (c == 0) {
      v[i] = 0.0f;
    } else if (c == 1) {
      v[i] = -0.0f;
    } else if (c == 2) {
      const int e = k + int(r.below(3));
      const double sign = r.below(2) ? 1.0 : -1.0;
      v[i] = float(std::ldexp(sign, e));
    } else {
      v[i] = float(std::ldexp(r.gauss(), k));
    }
  }
}

float wild_dt(Rng& r) {
  static const float kDt[] = {-1e4f, -30.0f, -3.0f, -0.5f, -0.0f, 0.0f, 1e-30f, 0.25f, 0.5f, 3.0f,
                              30.0f, 1e4f,   3e30f, -3e30f, 1e-40f, 7.0f, 1e12f, 65536.0f,
                              3e9f,  -3e9f, 2.5e10f, 1e11f, 1.3e11f};  // near dt's 2^46 (Q16) saturation
  if (r.below(3) == 0) return float(r.gauss() * 2.0);
  return kDt[r.below(int64_t(std::size(kDt)))];
}

struct Problem {
  int64_t H, P, N, G, T, xbc_stride, dt_stride;
  std::vector<float> xbc, dt, S;
  q::PotSsmLayer layer;
  std::vector<int32_t> params;  // [3][H]: A, D, dt_bias
};

Problem make_problem(int64_t H, int64_t P, int64_t N, int64_t G, int64_t T, Flavor fl, uint64_t seed,
                     bool zero_state = false) {
  Rng r{seed};
  Problem p{H, P, N, G, T, H * P + 2 * N + 5, H + 3, {}, {}, {}, {}, {}};
  const int64_t E = H * P;
  p.xbc.assign(size_t(T * p.xbc_stride), 4321.0f);  // padding is never read into results
  p.dt.assign(size_t(T * p.dt_stride), -999.0f);
  for (int64_t t = 0; t < T; ++t) {
    float* row = p.xbc.data() + t * p.xbc_stride;
    for (int64_t g = 0; g < E; g += G) fill_group(r, fl, row + g, G, 1.0, 20);
    for (int64_t g = 0; g < N; g += G) fill_group(r, fl, row + E + g, G, 1.0, 20);
    for (int64_t g = 0; g < N; g += G) fill_group(r, fl, row + E + N + g, G, 1.0, 20);
    for (int64_t h = 0; h < H; ++h) p.dt[size_t(t * p.dt_stride + h)] = fl == Flavor::Wild ? wild_dt(r) : float(r.gauss() * 0.5);
  }
  p.S.assign(size_t(H * P * N), 0.0f);
  if (!zero_state)
    for (int64_t g = 0; g < H * P * N; g += G) fill_group(r, fl, p.S.data() + g, G, 0.5, 40);
  auto& prm = p.layer.params;
  for (int64_t h = 0; h < H; ++h) {
    int32_t A = -int32_t(65536 + r.below(15 * 65536));
    int32_t db = -int32_t(150733 + r.below(308019));
    if (fl == Flavor::Wild) {
      const int64_t k = r.below(8);
      if (k == 0) A = 0;
      else if (k == 1) A = -1;
      else if (k == 2) A = -1000 * 65536;
      else if (k == 3) A = INT32_MIN + 1;
      if (r.below(6) == 0) db = r.below(2) ? -20 * 65536 : 10 * 65536;
    }
    prm.A.push_back(A);
    prm.D.push_back(int32_t(r.below(3 * 65536)) - 65536);
    prm.dt_bias.push_back(db);
  }
  p.params = prm.A;
  p.params.insert(p.params.end(), prm.D.begin(), prm.D.end());
  p.params.insert(p.params.end(), prm.dt_bias.begin(), prm.dt_bias.end());
  return p;
}

q::SsmTables make_tables(int kind) {
  if (kind == 1) return q::SsmTables::make(4096, 4096, q::LutInterp::Nearest);
  if (kind == 2) return q::SsmTables::make(256, 512, q::LutInterp::Nearest);
  if (kind == 3) return q::SsmTables::make(512, 256, q::LutInterp::Linear);
  return q::SsmTables::make();
}

// The kernels' LUT arguments from core's tables.
struct LutArgs {
  std::vector<int64_t> sp, ex, cfg;
  explicit LutArgs(const q::SsmTables& t) : sp(t.softplus.table()), ex(t.exp.table()) {
    for (const q::Lut* l : {&t.softplus, &t.exp})
      cfg.insert(cfg.end(), {l->spec().size, l->lo_fixed(), int64_t(l->step_shift()),
                             l->spec().interp == q::LutInterp::Linear ? 1 : 0});
  }
};

// ------------------------------------------------------------ runs

struct ScanRun {
  std::vector<float> S, y;
  int32_t status = hk::kOk;
};

// The status a core error message corresponds to.
int32_t classify(const std::string& msg) {
  if (msg.find("non-finite") != std::string::npos) return hk::kNonFinite;
  if (msg.find("int16 window") != std::string::npos) return hk::kOverflow;
  if (msg.find("float range") != std::string::npos) return hk::kOutOfRange;
  if (msg.find("A > 0") != std::string::npos || msg.find("positive") != std::string::npos) return hk::kBadCode;
  return hk::kBadShape;
}

using ScanFn = decltype(&q::pot_scan_mamba2);

ScanRun run_core(ScanFn scan, const Problem& p, const q::SsmTables& tb, int64_t h0, int64_t h1,
             const std::vector<float>* S0 = nullptr, int64_t T = -1, int64_t G = -1) {
  ScanRun r{S0 ? *S0 : p.S, std::vector<float>(size_t(p.T * p.H * p.P), -3.0f), hk::kOk};
  try {
    scan(T < 0 ? p.T : T, p.H, p.P, p.N, p.xbc.data(), p.xbc_stride, p.dt.data(), p.dt_stride, p.layer, tb,
         G < 0 ? p.G : G, r.S.data(), r.y.data(), h0, h1);
  } catch (const sm::Error& e) {
    r.status = classify(e.what());
  }
  return r;
}

ScanRun run_kernel(const Problem& p, const LutArgs& la, int64_t h0, int64_t h1, const std::vector<float>* S0 = nullptr,
               int64_t T = -1, int64_t G = -1) {
  ScanRun r{S0 ? *S0 : p.S, std::vector<float>(size_t(p.T * p.H * p.P), -3.0f), -1};
  sm_ssm_pot(p.xbc.data(), p.dt.data(), p.params.data(), la.sp.data(), la.ex.data(), la.cfg.data(), r.S.data(),
             r.y.data(), int32_t(T < 0 ? p.T : T), int32_t(p.H), int32_t(p.P), int32_t(p.N),
             int32_t(G < 0 ? p.G : G), int32_t(p.xbc_stride), int32_t(p.dt_stride), int32_t(h0), int32_t(h1),
             &r.status);
  return r;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::string first_diff(const std::vector<float>& a, const std::vector<float>& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    if (x != y) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "first difference at %zu: %.9g (0x%08x) vs %.9g (0x%08x)", i, a[i], x, b[i], y);
      return buf;
    }
  }
  return a.size() == b.size() ? "none" : "sizes differ";
}

// Kernel against the reference (and the fast path when given): on success
// the bits of S and y, on failure the same status.
void expect_match(const Problem& p, const q::SsmTables& tb, const LutArgs& la, int64_t h0, int64_t h1,
                  const std::string& what, bool with_fast = true, int* errors = nullptr) {
  const ScanRun k = run_kernel(p, la, h0, h1);
  const ScanRun ref = run_core(&q::pot_scan_mamba2_reference, p, tb, h0, h1);
  EXPECT_EQ(k.status, ref.status) << what;
  if (ref.status == hk::kOk && k.status == hk::kOk) {
    EXPECT_TRUE(same_bits(k.S, ref.S)) << what << ": S " << first_diff(k.S, ref.S);
    EXPECT_TRUE(same_bits(k.y, ref.y)) << what << ": y " << first_diff(k.y, ref.y);
  } else if (errors) {
    ++*errors;
  }
  if (with_fast) {
    const ScanRun f = run_core(&q::pot_scan_mamba2, p, tb, h0, h1);
    EXPECT_EQ(f.status == hk::kOk, k.status == hk::kOk) << what << " (fast path)";
    if (f.status == hk::kOk && k.status == hk::kOk) {
      EXPECT_TRUE(same_bits(k.S, f.S)) << what << ": S vs fast " << first_diff(k.S, f.S);
      EXPECT_TRUE(same_bits(k.y, f.y)) << what << ": y vs fast " << first_diff(k.y, f.y);
    }
  }
}

// ------------------------------------------------------------ sm_ssm_pot

struct Shape {
  const char* name;
  int64_t H, P, N, G, T;
  Flavor fl;
  int tables;
  bool zero_state;
};

const Shape kShapes[] = {
    {"target_normal", 12, 32, 32, 8, 6, Flavor::Normal, 0, false},
    {"target_wild", 12, 32, 32, 8, 6, Flavor::Wild, 0, false},
    {"target_wild_long", 12, 32, 32, 8, 24, Flavor::Wild, 0, false},
    {"draft_normal", 4, 32, 32, 8, 5, Flavor::Normal, 0, false},
    {"draft_wild_nearest", 4, 32, 32, 8, 5, Flavor::Wild, 1, false},
    {"odd_g2", 3, 4, 6, 2, 4, Flavor::Wild, 0, false},
    {"odd_g3_small_luts", 5, 3, 9, 3, 4, Flavor::Wild, 2, false},
    {"tiny_g1", 1, 2, 2, 1, 7, Flavor::Wild, 0, false},
    {"g1_n32", 2, 4, 32, 1, 3, Flavor::Wild, 3, false},
    {"g16", 2, 16, 48, 16, 3, Flavor::Wild, 0, false},
    {"head_2p7b", 2, 64, 128, 8, 2, Flavor::Normal, 0, false},
    {"zero_state", 3, 8, 8, 8, 4, Flavor::Normal, 0, true},
    {"p24_n40_wild", 7, 24, 40, 8, 3, Flavor::Wild, 0, false},
    {"g4_wild", 3, 12, 20, 4, 3, Flavor::Wild, 1, false},
    {"g32_wild", 2, 32, 64, 32, 3, Flavor::Wild, 0, false},
    {"max_dots", 1, 128, 126, 2, 1, Flavor::Normal, 0, false},  // P * N/G = 8064: the deepest FIFO
    {"max_tile_g128", 1, 128, 128, 128, 2, Flavor::Wild, 0, false},
};

class HlsSsmPot : public sm::test::PerSimdTarget {};

TEST_P(HlsSsmPot, FixedShapesMatchBothScans) {
  int errors = 0;
  for (const Shape& s : kShapes) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      const Problem p = make_problem(s.H, s.P, s.N, s.G, s.T, s.fl, seed * 1000 + uint64_t(s.H * s.P), s.zero_state);
      const q::SsmTables tb = make_tables(s.tables);
      const LutArgs la(tb);
      expect_match(p, tb, la, 0, s.H, std::string(s.name) + " seed " + std::to_string(seed), true, &errors);
    }
  }
  // Wild inputs should make some problems fail (both ways) but not most.
  std::printf("[info] fixed shapes: %d of %d problems raised an error (both ways)\n", errors, 3 * int(std::size(kShapes)));
  EXPECT_LT(errors, 20);
}

TEST_P(HlsSsmPot, RandomProblemsMatchBothScans) {
  Rng r{0xabcdef12ull + uint64_t(GetParam())};
  const int64_t kG[] = {1, 2, 3, 4, 8, 16};
  int errors = 0, ranges = 0;
  for (int it = 0; it < 160; ++it) {
    const int64_t G = kG[r.below(6)];
    const int64_t P = G * (1 + r.below(G >= 8 ? 4 : 8)), N = G * (1 + r.below(std::min<int64_t>(63, 64 / G)));
    const int64_t H = 1 + r.below(12), T = 1 + r.below(24);
    const Flavor fl = r.below(2) ? Flavor::Wild : Flavor::Normal;
    const Problem p = make_problem(H, P, N, G, T, fl, r.next(), r.below(5) == 0);
    const q::SsmTables tb = make_tables(int(r.below(4)));
    const LutArgs la(tb);
    int64_t h0 = 0, h1 = H;
    if (r.below(2)) {
      h0 = r.below(H);
      h1 = h0 + 1 + r.below(H - h0);
      ++ranges;
    }
    char what[160];
    std::snprintf(what, sizeof what, "it %d H %" PRId64 " P %" PRId64 " N %" PRId64 " G %" PRId64 " T %" PRId64
                  " heads [%" PRId64 ", %" PRId64 ")", it, H, P, N, G, T, h0, h1);
    expect_match(p, tb, la, h0, h1, what, true, &errors);
    if (::testing::Test::HasFailure()) return;
  }
  std::printf("[info] random problems: %d of 160 raised an error (both ways), %d on head sub-ranges\n", errors, ranges);
  EXPECT_GT(ranges, 20);
  EXPECT_LT(errors, 80);
}

SM_INSTANTIATE_PER_SIMD_TARGET(HlsSsmPot);

TEST(HlsSsmPotSplits, HeadRangesAndTokensComposeToOneCall) {
  const Problem p = make_problem(12, 32, 32, 8, 9, Flavor::Wild, 77);
  const q::SsmTables tb = make_tables(0);
  const LutArgs la(tb);
  const ScanRun whole = run_kernel(p, la, 0, 12);
  ASSERT_EQ(whole.status, hk::kOk);
  // Heads split unevenly, one call per piece, on the same buffers.
  ScanRun pieces{p.S, std::vector<float>(whole.y.size(), -3.0f), hk::kOk};
  for (auto [a, b] : {std::pair{0, 5}, {5, 6}, {6, 12}}) {
    int32_t st = -1;
    sm_ssm_pot(p.xbc.data(), p.dt.data(), p.params.data(), la.sp.data(), la.ex.data(), la.cfg.data(), pieces.S.data(),
               pieces.y.data(), 9, 12, 32, 32, 8, int32_t(p.xbc_stride), int32_t(p.dt_stride), a, b, &st);
    ASSERT_EQ(st, hk::kOk);
  }
  EXPECT_TRUE(same_bits(pieces.S, whole.S));
  EXPECT_TRUE(same_bits(pieces.y, whole.y));
  // Token by token (T = 1 calls on shifted pointers).
  std::vector<float> S = p.S, y(whole.y.size(), -3.0f);
  for (int64_t t = 0; t < 9; ++t) {
    int32_t st = -1;
    sm_ssm_pot(p.xbc.data() + t * p.xbc_stride, p.dt.data() + t * p.dt_stride, p.params.data(), la.sp.data(),
               la.ex.data(), la.cfg.data(), S.data(), y.data() + t * 12 * 32, 1, 12, 32, 32, 8, 0, 0, 0, 12, &st);
    ASSERT_EQ(st, hk::kOk);
  }
  EXPECT_TRUE(same_bits(S, whole.S));
  EXPECT_TRUE(same_bits(y, whole.y));
  // Heads outside the range are untouched, in S and in y.
  const ScanRun part = run_kernel(p, la, 3, 7);
  ASSERT_EQ(part.status, hk::kOk);
  for (int64_t h = 0; h < 12; ++h) {
    if (h >= 3 && h < 7) continue;
    for (int64_t i = 0; i < 32 * 32; ++i) ASSERT_EQ(part.S[size_t(h * 1024 + i)], p.S[size_t(h * 1024 + i)]);
    for (int64_t t = 0; t < 9; ++t)
      for (int64_t i = 0; i < 32; ++i) ASSERT_EQ(part.y[size_t(t * 384 + h * 32 + i)], -3.0f);
  }
}

// Kernels hold no mutable static state: threads on disjoint heads of one
// layer (the same S and y buffers) give the one-call bits.
TEST(HlsSsmPotSplits, ConcurrentThreadsOnDisjointHeads) {
  const Problem p = make_problem(12, 32, 32, 8, 5, Flavor::Wild, 2024);
  const q::SsmTables tb = make_tables(0);
  const LutArgs la(tb);
  const ScanRun whole = run_kernel(p, la, 0, 12);
  ASSERT_EQ(whole.status, hk::kOk);
  const std::vector<int32_t> parent = sm::TreeShape::parse_widths("2,2").parent;
  const Problem pt = make_problem(12, 32, 32, 8, int64_t(parent.size()), Flavor::Normal, 7);
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<float> S = p.S, y(whole.y.size(), -3.0f);
    int32_t st[4] = {-1, -1, -1, -1};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
      threads.emplace_back([&, i] {
        sm_ssm_pot(p.xbc.data(), p.dt.data(), p.params.data(), la.sp.data(), la.ex.data(), la.cfg.data(), S.data(),
                   y.data(), 5, 12, 32, 32, 8, int32_t(p.xbc_stride), int32_t(p.dt_stride), 3 * i, 3 * i + 3, &st[i]);
      });
    // A tree kernel on other buffers at the same time.
    int32_t tst = -1;
    std::vector<float> Sn(parent.size() * 12 * 32 * 32), yn(parent.size() * 12 * 32);
    threads.emplace_back([&] {
      sm_tree_ssm(pt.xbc.data(), pt.dt.data(), parent.data(), pt.params.data(), la.sp.data(), la.ex.data(),
                  la.cfg.data(), pt.S.data(), Sn.data(), yn.data(), int32_t(parent.size()), 12, 32, 32, 8,
                  int32_t(pt.xbc_stride), int32_t(pt.dt_stride), 4, 8, &tst);
    });
    for (auto& th : threads) th.join();
    for (int i = 0; i < 4; ++i) ASSERT_EQ(st[i], hk::kOk);
    ASSERT_EQ(tst, hk::kOk);
    EXPECT_TRUE(same_bits(S, whole.S));
    EXPECT_TRUE(same_bits(y, whole.y));
  }
}

TEST(HlsSsmPotModels, ShippedShapesEveryLut) {
  sm::simd::init_from_env();  // SPECMAMBA_SIMD picks the fast path's target here
  int models = 0;
  for (const char* name : {"mamba2-target", "mamba2-draft"}) {
    std::ifstream f(std::string(SPECMAMBA_SOURCE_DIR) + "/data/models/" + name + "/config.json");
    ASSERT_TRUE(f.good()) << name;
    const nlohmann::json c = nlohmann::json::parse(f);
    const int64_t H = c.at("num_heads"), P = c.at("head_dim"), N = c.at("state_size");
    ++models;
    for (int kind = 0; kind < 4; ++kind) {
      const q::SsmTables tb = make_tables(kind);
      const LutArgs la(tb);
      for (int64_t T : {1, 2, 17}) {
        for (Flavor fl : {Flavor::Normal, Flavor::Wild}) {
          const Problem p = make_problem(H, P, N, 8, T, fl, uint64_t(kind * 100 + T) + (fl == Flavor::Wild ? 7 : 0));
          expect_match(p, tb, la, 0, H, std::string(name) + " lut " + std::to_string(kind) + " T " + std::to_string(T));
        }
      }
    }
  }
  EXPECT_EQ(models, 2);
}

TEST(HlsSsmPotErrors, InputsGiveTheReferencesStatus) {
  const q::SsmTables tb = make_tables(0);
  const LutArgs la(tb);
  const Problem base = make_problem(4, 8, 16, 8, 3, Flavor::Normal, 5);
  auto check = [&](const Problem& p, int32_t want, const std::string& what) {
    const ScanRun k = run_kernel(p, la, 0, p.H);
    const ScanRun ref = run_core(&q::pot_scan_mamba2_reference, p, tb, 0, p.H);
    EXPECT_EQ(ref.status, want) << what << " (reference)";
    EXPECT_EQ(k.status, want) << what;
  };
  // Non-finite values in x, B, C, dt, the state; in padding they are ignored.
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    for (int where = 0; where < 6; ++where) {
      Problem p = base;
      const int64_t E = p.H * p.P;
      float* row = p.xbc.data() + 1 * p.xbc_stride;
      switch (where) {
        case 0: row[5] = bad; break;
        case 1: row[E + 3] = bad; break;
        case 2: row[E + p.N + 15] = bad; break;
        case 3: p.dt[size_t(2 * p.dt_stride + 3)] = bad; break;
        case 4: p.S[77] = bad; break;
        case 5: row[E + 2 * p.N + 1] = bad; p.dt[size_t(p.dt_stride + p.H)] = bad; break;  // padding
      }
      check(p, where == 5 ? hk::kOk : hk::kNonFinite, "non-finite at " + std::to_string(where));
    }
  }
  // Exponent overflow (> 160) and float range: huge dt, x, B, C at a sweep of
  // scales; both kinds must be seen, and agree with the reference.
  int seen_overflow = 0, seen_range = 0, seen_ok = 0;
  for (int kx = 0; kx <= 127; kx += 3) {
    Problem p = make_problem(2, 8, 8, 8, 2, Flavor::Normal, uint64_t(kx));
    for (float& v : p.xbc) v = float(std::ldexp(double(v), kx));
    for (float& v : p.dt) v = 1e9f;
    const ScanRun k = run_kernel(p, la, 0, 2);
    const ScanRun ref = run_core(&q::pot_scan_mamba2_reference, p, tb, 0, 2);
    EXPECT_EQ(k.status, ref.status) << "scale 2^" << kx;
    if (k.status == ref.status && k.status == hk::kOk) {
      EXPECT_TRUE(same_bits(k.S, ref.S) && same_bits(k.y, ref.y));
    }
    seen_overflow += ref.status == hk::kOverflow;
    seen_range += ref.status == hk::kOutOfRange;
    seen_ok += ref.status == hk::kOk;
  }
  EXPECT_GT(seen_overflow, 0);
  EXPECT_GT(seen_range, 0);
  EXPECT_GT(seen_ok, 0);
  // The first error in token order wins: token 0 overflows in head 0,
  // token 1 has a NaN in head 1's x.
  {
    Problem p = make_problem(2, 8, 8, 8, 2, Flavor::Normal, 3);
    for (int64_t i = 0; i < 8; ++i) p.xbc[size_t(i)] = 1e38f;  // x of head 0, token 0
    for (int64_t i = 16; i < 24; ++i) p.xbc[size_t(i)] = 1e38f;  // B, token 0
    p.dt[0] = 1e9f;
    p.xbc[size_t(p.xbc_stride + 9)] = NAN;
    check(p, hk::kOverflow, "overflow before a later NaN");
    p.xbc[size_t(9)] = NAN;  // now token 0 has a NaN (head 1) too: non-finite comes first
    check(p, hk::kNonFinite, "NaN and overflow in one token");
  }
  // A > 0.
  {
    Problem p = base;
    p.layer.params.A[2] = 1;
    p.params[2] = 1;
    check(p, hk::kBadCode, "A > 0");
  }
}

TEST(HlsSsmPotErrors, ShapesAndTables) {
  const q::SsmTables tb = make_tables(0);
  const LutArgs la(tb);
  const Problem p = make_problem(4, 8, 16, 8, 2, Flavor::Normal, 9);
  auto call = [&](int32_t T, int32_t H, int32_t P, int32_t N, int32_t G, int32_t h0, int32_t h1, const LutArgs& l,
                  int32_t xs = -1) {
    std::vector<float> S(size_t(std::max(1, H) * std::max(1, P) * std::max(1, N)), 0.0f), y(size_t(4096 * 4), 0.0f);
    std::vector<float> xbc(size_t(100000), 0.5f), dt(size_t(1000), 0.1f);
    std::vector<int32_t> prm(size_t(3 * std::max(1, H) + 3), -65536);
    int32_t st = -1;
    sm_ssm_pot(xbc.data(), dt.data(), prm.data(), l.sp.data(), l.ex.data(), l.cfg.data(), S.data(), y.data(), T, H, P,
               N, G, xs < 0 ? H * P + 2 * N : xs, H, h0, h1, &st);
    return st;
  };
  EXPECT_EQ(call(2, 4, 8, 16, 8, 0, 4, la), hk::kOk);
  // Empty work: nothing checked, as pot_scan_mamba2.
  EXPECT_EQ(call(0, 4, 8, 16, 8, 0, 4, la), hk::kOk);
  EXPECT_EQ(call(2, 4, 8, 16, 8, 2, 2, la), hk::kOk);
  EXPECT_EQ(call(2, 4, 8, 16, 5, 0, 4, la), hk::kBadShape);   // G does not divide P
  EXPECT_EQ(call(2, 4, 8, 12, 8, 0, 4, la), hk::kBadShape);   // nor N
  EXPECT_EQ(call(2, 4, 8, 64, 1, 0, 4, la), hk::kBadShape);   // N / G = 64 > 63
  EXPECT_EQ(call(2, 4, 8, 63, 1, 0, 4, la), hk::kOk);         // 63 is fine
  EXPECT_EQ(call(2, 4, 8, 16, 0, 0, 4, la), hk::kBadShape);
  EXPECT_EQ(call(2, 4, 8, 16, 8, -1, 4, la), hk::kBadShape);
  EXPECT_EQ(call(2, 4, 8, 16, 8, 0, 5, la), hk::kBadShape);
  EXPECT_EQ(call(2, 0, 8, 16, 8, 0, 1, la), hk::kBadShape);
  EXPECT_EQ(call(1, 1, 256, 8, 8, 0, 1, la), hk::kBadShape);  // P beyond kMaxHeadDim
  EXPECT_EQ(call(1, 1, 8, 256, 8, 0, 1, la), hk::kBadShape);  // N beyond kMaxState
  EXPECT_EQ(call(1, 300, 8, 8, 8, 0, 1, la), hk::kBadShape);  // H beyond kMaxHeads
  EXPECT_EQ(call(2, 4, 8, 16, 8, 0, 4, la, 10), hk::kBadShape);  // xbc rows overlap
  // Tables: wrong sizes, shifts, ranges, entries.
  auto bad_cfg = [&](int idx, int64_t v) {
    LutArgs l = la;
    l.cfg[size_t(idx)] = v;
    return call(2, 4, 8, 16, 8, 0, 4, l);
  };
  EXPECT_EQ(bad_cfg(0, 3000), hk::kBadShape);    // not a power of two
  EXPECT_EQ(bad_cfg(0, 16384), hk::kBadShape);   // beyond kMaxLutSize
  EXPECT_EQ(bad_cfg(4, 1), hk::kBadShape);
  EXPECT_EQ(bad_cfg(2, 27), hk::kBadShape);      // step shift beyond 26
  EXPECT_EQ(bad_cfg(3, 2), hk::kBadShape);       // interp
  EXPECT_EQ(bad_cfg(5, -(int64_t(1) << 19)), hk::kBadShape);  // exp table not ending at 0
  EXPECT_EQ(bad_cfg(1, 65536), hk::kBadShape);   // lo > 0
  {
    LutArgs l = la;
    l.sp[100] = int64_t(1) << 62;
    EXPECT_EQ(call(2, 4, 8, 16, 8, 0, 4, l), hk::kBadCode);
    // A softplus table gone negative drives the exp table above 0 (Lut::eval's
    // "positive input" error): kBadCode.
    LutArgs neg = la;
    for (int64_t& v : neg.sp) v = -(int64_t(1) << 24);
    EXPECT_EQ(call(2, 4, 8, 16, 8, 0, 4, neg), hk::kBadCode);
  }
  // The LUT rule on its own: identical to Lut::eval over a dense sweep.
  for (int kind = 0; kind < 4; ++kind) {
    const q::SsmTables t = make_tables(kind);
    const LutArgs l(t);
    hs::LutRom sp, ex;
    ASSERT_EQ(hs::load_lut(l.sp.data(), l.cfg.data(), false, sp), hk::kOk);
    ASSERT_EQ(hs::load_lut(l.ex.data(), l.cfg.data() + 4, true, ex), hk::kOk);
    Rng r{uint64_t(kind)};
    for (int i = 0; i < 200000; ++i) {
      const int64_t v = i < 100000 ? int64_t(i - 50000) * 23 - 1 : int64_t(r.below(int64_t(1) << 24)) - (int64_t(1) << 23);
      bool bad = false;
      ASSERT_EQ(hs::lut_eval(sp, v, &bad), t.softplus.eval(v)) << v;
      if (v <= 0) {
        ASSERT_EQ(hs::lut_eval(ex, v, &bad), t.exp.eval(v)) << v;
      }
      ASSERT_FALSE(bad);
    }
    bool bad = false;
    hs::lut_eval(ex, 1, &bad);
    EXPECT_TRUE(bad);
    EXPECT_EQ(hs::lut_eval(sp, int64_t(1) << 46, &bad), t.softplus.eval(int64_t(1) << 46));
  }
}

// The integer float helpers against their double definitions, exhaustively
// over codes and exponents.
TEST(HlsSsmPotHelpers, FloatBitsOfCodesAndCodesOfFloats) {
  for (int32_t c = -127; c <= 127; ++c) {
    for (int32_t s = -160; s <= 160; ++s) {
      bool range = false;
      const uint32_t bits = hs::pot_float_bits(c, s, &range);
      const double v = std::ldexp(double(c), s);
      if (std::abs(v) > 3.4028234663852886e38) {
        ASSERT_TRUE(range) << c << " " << s;
        continue;
      }
      ASSERT_FALSE(range) << c << " " << s;
      ASSERT_EQ(bits, hs::f2u(float(v))) << c << " " << s;
    }
  }
  Rng r{42};
  for (int i = 0; i < 200000; ++i) {
    const uint32_t m = uint32_t(r.next()) & 0x7f7fffffu;
    if (m == 0) continue;
    const float fm = hs::u2f(m);
    const int32_t s = hs::float_group_exp(m);
    int e = 0;
    const double fr = std::frexp(double(fm), &e);
    ASSERT_EQ(s, (fr == 0.5 ? e - 1 : e) - 7) << fm;
    // A member of the group: |x| <= m.
    const uint32_t a = uint32_t(r.next() % (uint64_t(m) + 1)) | (r.below(2) ? 0x80000000u : 0u);
    const double scaled = std::ldexp(double(hs::u2f(a)), -s);
    const double want = std::abs(scaled) > 127 ? (scaled > 0 ? 127 : -127) : std::round(scaled);
    ASSERT_EQ(int(hs::float_code(a, s)), int(want)) << hs::u2f(a) << " in a group of " << fm;
  }
}

// ------------------------------------------------------------ sm_tree_ssm

struct Tree {
  std::string name;
  std::vector<int32_t> parent;
};

// Peak live states of the FIFO walk, written independently of the kernel:
// TreeVerifier's FIFO slot rule (the last child takes the popped state,
// leaves are dropped), generalized to several roots (children of S_root).
int32_t fifo_peak(const std::vector<int32_t>& parent) {
  const int32_t n = int32_t(parent.size());
  auto children = [&](int32_t u) {
    std::vector<int32_t> c;
    for (int32_t v = 0; v < n; ++v)
      if (parent[size_t(v)] == u) c.push_back(v);
    return c;
  };
  std::vector<int32_t> q{-1};
  int32_t live = 1, peak = 1;
  for (size_t h = 0; h < q.size(); ++h) {
    const std::vector<int32_t> kids = children(q[h]);
    if (kids.empty()) --live;
    for (size_t i = 0; i < kids.size(); ++i) {
      if (i + 1 < kids.size()) peak = std::max(peak, ++live);
      if (!children(kids[i]).empty()) {
        q.push_back(kids[i]);
      } else {
        --live;
      }
    }
  }
  return peak;
}

struct TreeRun {
  std::vector<float> S, y;
  int32_t status = -1;
};

// The definition: pot_scan_mamba2 (T = 1, all heads) per node, in id order
// (parents first), from the parent's state.
TreeRun tree_core(ScanFn scan, const Problem& p, const std::vector<int32_t>& parent, const q::SsmTables& tb) {
  const int64_t n = int64_t(parent.size()), HPN = p.H * p.P * p.N, E = p.H * p.P;
  TreeRun r{std::vector<float>(size_t(n * HPN)), std::vector<float>(size_t(n * E)), hk::kOk};
  for (int64_t v = 0; v < n; ++v) {
    float* Sv = r.S.data() + v * HPN;
    const float* Sp = parent[size_t(v)] < 0 ? p.S.data() : r.S.data() + parent[size_t(v)] * HPN;
    std::memcpy(Sv, Sp, size_t(HPN) * sizeof(float));
    try {
      scan(1, p.H, p.P, p.N, p.xbc.data() + v * p.xbc_stride, p.xbc_stride, p.dt.data() + v * p.dt_stride,
           p.dt_stride, p.layer, tb, p.G, Sv, r.y.data() + v * E, 0, p.H);
    } catch (const sm::Error& e) {
      if (r.status == hk::kOk) r.status = classify(e.what());
    }
  }
  return r;
}

TreeRun tree_kernel(const Problem& p, const std::vector<int32_t>& parent, const LutArgs& la, int32_t tile,
                    int32_t depth) {
  const int64_t n = int64_t(parent.size());
  TreeRun r{std::vector<float>(size_t(n * p.H * p.P * p.N), -5.0f), std::vector<float>(size_t(n * p.H * p.P), -5.0f), -1};
  sm_tree_ssm(p.xbc.data(), p.dt.data(), parent.data(), p.params.data(), la.sp.data(), la.ex.data(), la.cfg.data(),
              p.S.data(), r.S.data(), r.y.data(), int32_t(n), int32_t(p.H), int32_t(p.P), int32_t(p.N),
              int32_t(p.G), int32_t(p.xbc_stride), int32_t(p.dt_stride), tile, depth, &r.status);
  return r;
}

std::vector<Tree> test_trees(Rng& r) {
  std::vector<Tree> t;
  for (const char* w : {"1,1,1,1", "4,2,2", "2,2,1", "6", "3,1,2", "1"})
    t.push_back({std::string("widths ") + w, sm::TreeShape::parse_widths(w).parent});
  t.push_back({"chain of 12", sm::TreeShape::chain(12).parent});
  std::vector<int32_t> star(9, 0);
  star[0] = -1;
  t.push_back({"star of 8", star});
  t.push_back({"three roots", {-1, -1, 0, 1, -1, 2, 2, 4}});
  for (int k = 0; k < 4; ++k) {
    const int32_t n = 2 + int32_t(r.below(20));
    std::vector<int32_t> par(static_cast<size_t>(n), -1);
    // k == 0: several roots (parent -1 anywhere); else one root.
    for (int32_t v = 1; v < n; ++v) par[size_t(v)] = k == 0 ? int32_t(r.below(v + 1)) - 1 : int32_t(r.below(v));
    t.push_back({"random " + std::to_string(k), par});
  }
  return t;
}

class HlsTreeSsm : public sm::test::PerSimdTarget {};

TEST_P(HlsTreeSsm, EveryNodeMatchesItsOwnScanForEveryTile) {
  Rng r{0x7ee0000ull + uint64_t(GetParam())};
  const std::vector<Tree> trees = test_trees(r);
  struct TShape {
    int64_t H, P, N, G;
    Flavor fl;
    int tables;
  };
  const TShape shapes[] = {{12, 32, 32, 8, Flavor::Normal, 0}, {12, 32, 32, 8, Flavor::Wild, 1},
                           {4, 32, 32, 8, Flavor::Wild, 0},    {5, 6, 9, 3, Flavor::Wild, 2},
                           {3, 4, 8, 2, Flavor::Normal, 3}};
  int checked = 0;
  for (const TShape& s : shapes) {
    const q::SsmTables tb = make_tables(s.tables);
    const LutArgs la(tb);
    for (const Tree& tr : trees) {
      const int64_t n = int64_t(tr.parent.size());
      const Problem p = make_problem(s.H, s.P, s.N, s.G, n, s.fl, r.next());
      const TreeRun ref = tree_core(&q::pot_scan_mamba2_reference, p, tr.parent, tb);
      const TreeRun fast = tree_core(&q::pot_scan_mamba2, p, tr.parent, tb);
      const int32_t peak = fifo_peak(tr.parent);
      for (int32_t tile : {1, 2, 5, int32_t(s.H), 0}) {
        const TreeRun k = tree_kernel(p, tr.parent, la, tile, peak + (tile == 2 ? 3 : 0));
        const std::string what = tr.name + " H " + std::to_string(s.H) + " tile " + std::to_string(tile);
        ASSERT_EQ(k.status, ref.status) << what;
        if (ref.status != hk::kOk) continue;
        ASSERT_EQ(fast.status, hk::kOk) << what;
        EXPECT_TRUE(same_bits(k.S, ref.S)) << what << ": S " << first_diff(k.S, ref.S);
        EXPECT_TRUE(same_bits(k.y, ref.y)) << what << ": y " << first_diff(k.y, ref.y);
        EXPECT_TRUE(same_bits(k.S, fast.S)) << what << ": S vs fast";
        EXPECT_TRUE(same_bits(k.y, fast.y)) << what << ": y vs fast";
        ++checked;
        if (::testing::Test::HasFailure()) return;
      }
    }
  }
  EXPECT_GT(checked, 150);
}

SM_INSTANTIATE_PER_SIMD_TARGET(HlsTreeSsm);

TEST(HlsTreeSsmFifo, DepthBoundIsThePeakOfLiveStates) {
  sm::simd::init_from_env();
  const q::SsmTables tb = make_tables(0);
  const LutArgs la(tb);
  // The kernel's bound is TreeVerifier's FIFO slot count.
  for (const char* w : {"1,1,1,1,1,1", "4,2,2", "2,2,1", "4,2,2,1", "3,3,3", "8", "1", "2,1,2,1,2"}) {
    const sm::TreeShape shape = sm::TreeShape::parse_widths(w);
    const int32_t peak = sm::VerifySchedule::build(shape, sm::VerifyOrder::Fifo).slot_count;
    ASSERT_EQ(fifo_peak(shape.parent), peak) << w;
    if (std::string(w) == "1,1,1,1,1,1") {
      ASSERT_EQ(peak, 1);  // a chain steps one state in place
    }
    if (std::string(w) == "8") {
      ASSERT_EQ(peak, 2);  // leaves are dropped at once
    }
    const Problem p = make_problem(4, 8, 8, 8, int64_t(shape.size()), Flavor::Normal, 3);
    const TreeRun ok = tree_kernel(p, shape.parent, la, 2, peak);
    EXPECT_EQ(ok.status, hk::kOk) << w;
    if (peak > 1) {
      EXPECT_EQ(tree_kernel(p, shape.parent, la, 2, peak - 1).status, hk::kBadShape) << w;
    }
    const TreeRun ref = tree_core(&q::pot_scan_mamba2_reference, p, shape.parent, tb);
    ASSERT_EQ(ref.status, hk::kOk);
    EXPECT_TRUE(same_bits(ok.S, ref.S) && same_bits(ok.y, ref.y)) << w;
  }
  // Several roots (parent -1): children of S_root.
  EXPECT_EQ(fifo_peak({-1, -1, -1}), 2);
  EXPECT_EQ(fifo_peak({-1, -1, 0, 1}), 2);
  // The pool: fifo_depth tiles of tile_heads * P * N floats must fit kStatePoolWords.
  {
    const std::vector<int32_t> par = sm::TreeShape::parse_widths("2,2").parent;
    const Problem p = make_problem(12, 32, 32, 8, int64_t(par.size()), Flavor::Normal, 4);
    const int32_t slots_full = hs::kStatePoolWords / (12 * 32 * 32);  // 21 whole-layer tiles
    EXPECT_EQ(tree_kernel(p, par, la, 12, slots_full).status, hk::kOk);
    EXPECT_EQ(tree_kernel(p, par, la, 12, slots_full + 1).status, hk::kBadShape);
    EXPECT_EQ(tree_kernel(p, par, la, 4, hs::kMaxFifoDepth).status, hk::kOk);  // 64 tiles of 4 heads
  }
  // A 4,2,2 tree at exactly its depth still matches the definition.
  const sm::TreeShape shape = sm::TreeShape::parse_widths("4,2,2");
  const std::vector<int32_t>& par = shape.parent;
  const Problem p = make_problem(12, 32, 32, 8, int64_t(par.size()), Flavor::Wild, 8);
  const int32_t peak = sm::VerifySchedule::build(shape, sm::VerifyOrder::Fifo).slot_count;
  const TreeRun ref = tree_core(&q::pot_scan_mamba2_reference, p, par, tb), k = tree_kernel(p, par, la, 3, peak);
  ASSERT_EQ(k.status, ref.status);
  if (ref.status == hk::kOk) {
    EXPECT_TRUE(same_bits(k.S, ref.S) && same_bits(k.y, ref.y));
  }
}

TEST(HlsTreeSsmErrors, Statuses) {
  const q::SsmTables tb = make_tables(0);
  const LutArgs la(tb);
  const std::vector<int32_t> par = sm::TreeShape::parse_widths("2,2").parent;  // 7 nodes
  const Problem p = make_problem(4, 8, 16, 8, 7, Flavor::Normal, 12);
  EXPECT_EQ(tree_kernel(p, par, la, 2, 4).status, hk::kOk);
  for (auto bad : {std::vector<int32_t>{-1, 0, 2, 1, 1, 2, 2}, {-1, 0, 0, 3, 1, 2, 2}, {0, 0, 0, 1, 1, 2, 2},
                   {-1, 0, -2, 1, 1, 2, 2}})
    EXPECT_EQ(tree_kernel(p, bad, la, 2, 4).status, hk::kBadShape);  // parent[v] >= v, < -1
  EXPECT_EQ(tree_kernel(p, par, la, -1, 4).status, hk::kBadShape);
  EXPECT_EQ(tree_kernel(p, par, la, 2, 0).status, hk::kBadShape);
  EXPECT_EQ(tree_kernel(p, par, la, 2, hs::kMaxFifoDepth + 1).status, hk::kBadShape);
  // A tile beyond the on-chip tile: 12 heads of 32 x 64 states.
  {
    const Problem big = make_problem(12, 32, 64, 8, 2, Flavor::Normal, 1);
    EXPECT_EQ(tree_kernel(big, {-1, 0}, la, 0, 4).status, hk::kBadShape);
    const TreeRun k = tree_kernel(big, {-1, 0}, la, 8, 4);  // 8 heads fit
    const TreeRun ref = tree_core(&q::pot_scan_mamba2_reference, big, {-1, 0}, tb);
    ASSERT_EQ(k.status, hk::kOk);
    EXPECT_TRUE(same_bits(k.S, ref.S) && same_bits(k.y, ref.y));
  }
  // Too many nodes.
  {
    std::vector<int32_t> chain(size_t(hs::kMaxNodes + 1));  // a chain of kMaxNodes + 1 nodes
    for (int32_t v = 0; v <= hs::kMaxNodes; ++v) chain[size_t(v)] = v - 1;
    const Problem pc = make_problem(1, 2, 2, 1, int64_t(chain.size()), Flavor::Normal, 2);
    EXPECT_EQ(tree_kernel(pc, chain, la, 1, 4).status, hk::kBadShape);
    const std::vector<int32_t> ok(chain.begin(), chain.end() - 1);
    const TreeRun k = tree_kernel(pc, ok, la, 1, 4), ref = tree_core(&q::pot_scan_mamba2_reference, pc, ok, tb);
    ASSERT_EQ(k.status, hk::kOk);
    EXPECT_TRUE(same_bits(k.S, ref.S) && same_bits(k.y, ref.y));
  }
  // Input errors, as the per-node scans report them.
  {
    Problem q1 = p;
    q1.xbc[size_t(5 * q1.xbc_stride + 3)] = NAN;  // node 5's x
    EXPECT_EQ(tree_kernel(q1, par, la, 1, 4).status, hk::kNonFinite);
    Problem q2 = p;
    q2.S[100] = INFINITY;  // the committed state
    EXPECT_EQ(tree_kernel(q2, par, la, 3, 4).status, hk::kNonFinite);
    Problem q3 = p;
    q3.params[1] = 5;  // A > 0
    EXPECT_EQ(tree_kernel(q3, par, la, 3, 4).status, hk::kBadCode);
    Problem q4 = p;
    for (int64_t i = 0; i < q4.H * q4.P + 2 * q4.N; ++i) q4.xbc[size_t(2 * q4.xbc_stride + i)] = 1e38f;
    for (int64_t h = 0; h < q4.H; ++h) q4.dt[size_t(2 * q4.dt_stride + h)] = 1e9f;
    const TreeRun ref = tree_core(&q::pot_scan_mamba2_reference, q4, par, tb);
    EXPECT_EQ(ref.status, hk::kOverflow);
    EXPECT_EQ(tree_kernel(q4, par, la, 1, 4).status, ref.status);
    LutArgs l = la;
    l.cfg[0] = 3;
    EXPECT_EQ(tree_kernel(p, par, l, 1, 4).status, hk::kBadShape);
    // The first error in FIFO order wins: node 2 overflows, node 3 (a child
    // of node 1, later in breadth-first order) has a NaN; then node 1 does.
    Problem q5 = q4;
    q5.xbc[size_t(3 * q5.xbc_stride + 1)] = NAN;
    const TreeRun ref5 = tree_core(&q::pot_scan_mamba2_reference, q5, par, tb);
    EXPECT_EQ(ref5.status, hk::kOverflow);
    for (int32_t tile : {1, 4}) EXPECT_EQ(tree_kernel(q5, par, la, tile, 4).status, hk::kOverflow) << tile;
    q5.xbc[size_t(1 * q5.xbc_stride + 1)] = NAN;
    EXPECT_EQ(tree_core(&q::pot_scan_mamba2_reference, q5, par, tb).status, hk::kNonFinite);
    for (int32_t tile : {1, 4}) EXPECT_EQ(tree_kernel(q5, par, la, tile, 4).status, hk::kNonFinite) << tile;
  }
  // n = 0: nothing to do.
  int32_t st = -1;
  sm_tree_ssm(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0, 4, 8, 16,
              8, 0, 0, 1, 4, &st);
  EXPECT_EQ(st, hk::kOk);
}

// ------------------------------------------------------------ speed

TEST(HlsSsmPotSpeed, AgainstCoreScansOnTheTargetShape) {
  const q::SsmTables tb = make_tables(0);
  const LutArgs la(tb);
  for (int64_t T : {1, 64}) {
    const Problem p = make_problem(12, 32, 32, 8, T, Flavor::Normal, 31);
    using Fn = std::function<void(std::vector<float>&, std::vector<float>&)>;
    // One timing of f (mean of a few calls), in ns per state element per token.
    auto time_once = [&](const Fn& f) {
      std::vector<float> S = p.S, y(size_t(T * 12 * 32));
      const int iters = T == 1 ? 20 : 2;
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < iters; ++i) f(S, y);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
      return s * 1e9 / double(T * 12 * 32 * 32);
    };
    const Fn kern = [&](std::vector<float>& S, std::vector<float>& y) {
      int32_t st = -1;
      sm_ssm_pot(p.xbc.data(), p.dt.data(), p.params.data(), la.sp.data(), la.ex.data(), la.cfg.data(), S.data(),
                 y.data(), int32_t(T), 12, 32, 32, 8, int32_t(p.xbc_stride), int32_t(p.dt_stride), 0, 12, &st);
      ASSERT_EQ(st, hk::kOk);
    };
    const Fn fast = [&](std::vector<float>& S, std::vector<float>& y) {
      q::pot_scan_mamba2(T, 12, 32, 32, p.xbc.data(), p.xbc_stride, p.dt.data(), p.dt_stride, p.layer, tb, 8,
                         S.data(), y.data(), 0, 12);
    };
    const Fn refn = [&](std::vector<float>& S, std::vector<float>& y) {
      q::pot_scan_mamba2_reference(T, 12, 32, 32, p.xbc.data(), p.xbc_stride, p.dt.data(), p.dt_stride, p.layer,
                                   tb, 8, S.data(), y.data(), 0, 12);
    };
    // Interleaved repetitions, the minimum of each (a shared, loaded machine).
    double k = 1e30, f = 1e30, ref = 1e30;
    for (int rep = 0; rep < 9; ++rep) {
      k = std::min(k, time_once(kern));
      f = std::min(f, time_once(fast));
      ref = std::min(ref, time_once(refn));
    }
    std::printf("[speed] H 12 P 32 N 32 T %" PRId64 ": sm_ssm_pot %.2f ns, pot_scan_mamba2 (%s) %.2f ns, "
                "reference %.2f ns per state element per token; kernel / fast %.2fx, reference / kernel %.2fx\n",
                T, k, sm::simd::target_name().c_str(), f, ref, k / f, ref / k);
    EXPECT_GT(k, 0.0);
  }
}

}  // namespace
