// SPDX-License-Identifier: Apache-2.0
// pot_scan_mamba2 (core/quant/pot_scan.h), the PoT SSM scan of a quantized
// model: golden hashes of the state and y bits, captured from the original
// per-token reference composition (quantize_pot -> ssm_step_mamba2_int ->
// dequantize) before the fast path existed, so any change of a single bit is
// caught; the fast path against pot_scan_mamba2_reference on random shapes
// and inputs, bit for bit, on every SIMD target; head-range and token
// splits; errors.
//
// The inputs come from a portable generator (splitmix64, integer and IEEE
// +,* only, ldexp), the parameters are drawn directly in Q16, so the hashes
// do not depend on the standard library's distributions or on libm. Only the
// LUTs are built with std::exp / log1p (in double, rounded to Q24).
#include <gtest/gtest.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/io/error.h"
#include "core/quant/pot_scan.h"
#include "core/quant/ssm_quant.h"
#include "tests/core/simd_test_support.h"

namespace {

namespace q = sm::quant;

// ------------------------------------------------------------ generator

struct Rng {
  uint64_t s;
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uni() { return double(next() >> 11) * 0x1p-53; }  // [0, 1)
  int64_t below(int64_t n) { return int64_t(next() % uint64_t(n)); }
  // Irwin-Hall(4), scaled to sd 1: no libm.
  double gauss() { return (uni() + uni() + uni() + uni() - 2.0) * 1.7320508075688772; }
};

enum class Flavor { Normal, Wild };

uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001B3ull;
  return h;
}
constexpr uint64_t kFnvBasis = 0xCBF29CE484222325ull;

// One float group of `n` values: Normal ~ N(0, sd); Wild: a random scale
// 2^k per group (k from tiny / subnormal to large, or an all-zero group),
// with zeros, -0.0 and exact powers of two (saturating group maxima) mixed in.
void fill_group(Rng& r, Flavor f, float* v, int64_t n, double sd, int kmax) {
  if (f == Flavor::Normal) {
    for (int64_t i = 0; i < n; ++i) v[i] = float(r.gauss() * sd);
    return;
  }
  static const int kScales[] = {-145, -135, -120, -90, -50, -20, -6, -1, 0, 3, 10, 20, 40};
  const int64_t pick = r.below(int64_t(std::size(kScales)) + 1);
  if (pick == int64_t(std::size(kScales))) {
    for (int64_t i = 0; i < n; ++i) v[i] = r.below(2) ? 0.0f : -0.0f;
    return;
  }
  const int k = std::min(kScales[pick], kmax);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = r.below(32);
    if (c == 0) {
      v[i] = 0.0f;
    } else if (c == 1) {
      v[i] = -0.0f;
    } else if (c == 2) {
      // Two draws sequenced explicitly (as GCC evaluated the call's
      // arguments when the hashes were captured): argument order is
      // unspecified, and Clang goes the other way.
      const int e = k + int(r.below(3));
      const double sign = r.below(2) ? 1.0 : -1.0;
      v[i] = float(std::ldexp(sign, e));
    } else {
      v[i] = float(std::ldexp(r.gauss(), k));
    }
  }
}

float wild_dt(Rng& r) {
  static const float kDt[] = {-1e4f, -30.0f, -3.0f, -0.5f, -0.0f, 0.0f, 1e-30f, 0.25f, 0.5f,
                              3.0f,  30.0f,  1e4f,  3e30f, -3e30f, 1e-40f, 7.0f};
  if (r.below(3) == 0) return float(r.gauss() * 2.0);
  return kDt[r.below(int64_t(std::size(kDt)))];
}

struct Case {
  const char* name;
  int64_t H, P, N, G, T;
  Flavor flavor;
  uint64_t seed;
  int tables;  // 0: default (linear 4096), 1: nearest 4096, 2: nearest 256 / 512
  bool zero_state = false;
};

q::SsmTables make_tables(int kind) {
  if (kind == 1) return q::SsmTables::make(4096, 4096, q::LutInterp::Nearest);
  if (kind == 2) return q::SsmTables::make(256, 512, q::LutInterp::Nearest);
  return q::SsmTables::make();
}

struct Problem {
  int64_t H, P, N, G, T, xbc_stride, dt_stride;
  std::vector<float> xbc, dt, S;
  q::PotSsmLayer layer;
};

Problem make_problem(const Case& c) {
  Rng r{c.seed};
  Problem p{c.H, c.P, c.N, c.G, c.T, c.H * c.P + 2 * c.N + 3, c.H + 2, {}, {}, {}, {}};
  const int64_t E = c.H * c.P;
  p.xbc.assign(size_t(c.T * p.xbc_stride), 12345.0f);  // padding must never be read into results
  p.dt.assign(size_t(c.T * p.dt_stride), -777.0f);
  for (int64_t t = 0; t < c.T; ++t) {
    float* row = p.xbc.data() + t * p.xbc_stride;
    for (int64_t g = 0; g < E; g += c.G) fill_group(r, c.flavor, row + g, c.G, 1.0, 20);      // x
    for (int64_t g = 0; g < c.N; g += c.G) fill_group(r, c.flavor, row + E + g, c.G, 1.0, 20);  // B
    for (int64_t g = 0; g < c.N; g += c.G) fill_group(r, c.flavor, row + E + c.N + g, c.G, 1.0, 20);  // C
    for (int64_t h = 0; h < c.H; ++h)
      p.dt[size_t(t * p.dt_stride + h)] = c.flavor == Flavor::Wild ? wild_dt(r) : float(r.gauss() * 0.5);
  }
  p.S.assign(size_t(c.H * c.P * c.N), 0.0f);
  if (!c.zero_state)
    for (int64_t g = 0; g < c.H * c.P * c.N; g += c.G) fill_group(r, c.flavor, p.S.data() + g, c.G, 0.5, 40);
  // Q16 parameters, drawn directly: A = -[1, 16] (some 0, tiny, huge), D in
  // [-1, 2], dt_bias in [-7, -2.3] (softplus 1e-3 .. 0.1; some far out).
  auto& P = p.layer.params;
  for (int64_t h = 0; h < c.H; ++h) {
    int32_t A = -int32_t(65536 + r.below(15 * 65536));
    int32_t db = -int32_t(150733 + r.below(308019));
    if (c.flavor == Flavor::Wild) {
      const int64_t k = r.below(8);
      if (k == 0) A = 0;
      else if (k == 1) A = -1;
      else if (k == 2) A = -1000 * 65536;
      if (r.below(6) == 0) db = r.below(2) ? -20 * 65536 : 10 * 65536;
    }
    P.A.push_back(A);
    P.D.push_back(int32_t(r.below(3 * 65536)) - 65536);
    P.dt_bias.push_back(db);
  }
  return p;
}

struct Hashes {
  uint64_t state, y;
};

Hashes hash_run(const Problem& p, const std::vector<float>& S, const std::vector<float>& y) {
  return {fnv1a(kFnvBasis, S.data(), S.size() * sizeof(float)), fnv1a(kFnvBasis, y.data(), y.size() * sizeof(float))};
}

using ScanFn = decltype(&q::pot_scan_mamba2);

// All heads, all tokens in one call.
Hashes run_whole(const Problem& p, const q::SsmTables& tables, std::vector<float>* S_out = nullptr,
                 std::vector<float>* y_out = nullptr, ScanFn scan = &q::pot_scan_mamba2) {
  std::vector<float> S = p.S, y(size_t(p.T * p.H * p.P), -1.0f);
  scan(p.T, p.H, p.P, p.N, p.xbc.data(), p.xbc_stride, p.dt.data(), p.dt_stride, p.layer, tables, p.G, S.data(),
       y.data(), 0, p.H);
  if (S_out) *S_out = S;
  if (y_out) *y_out = y;
  return hash_run(p, S, y);
}

const Case kCases[] = {
    {"target_normal", 12, 32, 32, 8, 6, Flavor::Normal, 1, 0},
    {"target_wild", 12, 32, 32, 8, 6, Flavor::Wild, 2, 0},
    {"h4_normal", 4, 32, 32, 8, 5, Flavor::Normal, 3, 0},
    {"h4_wild_nearest", 4, 32, 32, 8, 5, Flavor::Wild, 4, 1},
    {"odd_g2", 3, 4, 6, 2, 4, Flavor::Wild, 5, 0},
    {"odd_g3_small_luts", 5, 3, 9, 3, 4, Flavor::Wild, 6, 2},
    {"tiny_g1", 1, 2, 2, 1, 7, Flavor::Wild, 7, 0},
    {"g1_n32", 2, 4, 32, 1, 3, Flavor::Wild, 8, 0},
    {"g16", 2, 16, 48, 16, 3, Flavor::Wild, 9, 0},
    {"head_2p7b", 2, 64, 128, 8, 2, Flavor::Normal, 10, 0},
    {"zero_state", 3, 8, 8, 8, 4, Flavor::Normal, 11, 0, true},
    {"p24_n40_wild", 7, 24, 40, 8, 3, Flavor::Wild, 12, 0},
    {"g4_wild", 3, 12, 20, 4, 3, Flavor::Wild, 13, 1},
    {"g32_wild", 2, 32, 64, 32, 3, Flavor::Wild, 14, 0},
    {"target_wild_long", 12, 32, 32, 8, 24, Flavor::Wild, 15, 0},
};

// FNV-1a 64 of the final state and of every y, captured from the original
// implementation (one ssm_step_mamba2_int per token on std::vector
// PotTensors). Order: kCases.
const Hashes kGolden[] = {
    {0x04c97016274ae2eeull, 0x004fc998ad6cc340ull},  // target_normal
    {0x45039f583a99a8e0ull, 0x1fdace9c488c61e7ull},  // target_wild
    {0x57367190c53837f7ull, 0x0239d7c72c0a6d61ull},  // h4_normal
    {0x25bf2eb26fb41d47ull, 0x2f5e42d048774c50ull},  // h4_wild_nearest
    {0x31e08626f72ae1d3ull, 0x0ff00b47ebac996full},  // odd_g2
    {0xd9ee46271962bfc4ull, 0x5d6a5e01308c6523ull},  // odd_g3_small_luts
    {0xb7cbca5b89669536ull, 0x3b7e405e76868449ull},  // tiny_g1
    {0xa74ea5e838943143ull, 0xa15d0e1576111820ull},  // g1_n32
    {0xd27643fe60fc96a9ull, 0xe76b5bfc8b4bedbeull},  // g16
    {0x21a14d3fa5158079ull, 0xe2652776c88d67feull},  // head_2p7b
    {0x7c407f37a3a61c8bull, 0x3199df031b74d0eaull},  // zero_state
    {0x533f050f682f9c29ull, 0xb44b3b5ab99bde7cull},  // p24_n40_wild
    {0xe871c10e6e832416ull, 0x5a9422c7fa7b6653ull},  // g4_wild
    {0xa0434d24241f9d6dull, 0x9f040282181526beull},  // g32_wild
    {0x3d27149f4000b0eaull, 0x08c0f8b634f12983ull},  // target_wild_long
};
static_assert(std::size(kGolden) == std::size(kCases));

void check_golden(ScanFn scan) {
  for (size_t i = 0; i < std::size(kCases); ++i) {
    const Case& c = kCases[i];
    const Problem p = make_problem(c);
    const Hashes h = run_whole(p, make_tables(c.tables), nullptr, nullptr, scan);
    EXPECT_EQ(h.state, kGolden[i].state) << c.name;
    EXPECT_EQ(h.y, kGolden[i].y) << c.name;
    if (h.state != kGolden[i].state || h.y != kGolden[i].y)
      std::printf("    {0x%016" PRIx64 "ull, 0x%016" PRIx64 "ull},  // %s\n", h.state, h.y, c.name);
  }
}

// The reference composition still gives the captured bits (it shares
// ssm_head_scalars / ssm_state_group with ssm_step_mamba2_int).
TEST(PotScan, ReferenceGoldenHashes) { check_golden(&q::pot_scan_mamba2_reference); }

// Every test below runs once per SIMD target the CPU supports.
class PotScanSimd : public sm::test::PerSimdTarget {};

TEST_P(PotScanSimd, GoldenHashes) { check_golden(&q::pot_scan_mamba2); }

TEST_P(PotScanSimd, HeadRangeSplitGivesTheSameBits) {
  for (const Case& c : kCases) {
    const Problem p = make_problem(c);
    const q::SsmTables tables = make_tables(c.tables);
    std::vector<float> S0, y0;
    run_whole(p, tables, &S0, &y0);
    for (int64_t k = 1; k < p.H; k += (p.H > 4 ? 3 : 1)) {
      std::vector<float> S = p.S, y(size_t(p.T * p.H * p.P), -1.0f);
      // [k, H) first: the ranges must not depend on each other or on order.
      q::pot_scan_mamba2(p.T, p.H, p.P, p.N, p.xbc.data(), p.xbc_stride, p.dt.data(), p.dt_stride, p.layer, tables,
                         p.G, S.data(), y.data(), k, p.H);
      q::pot_scan_mamba2(p.T, p.H, p.P, p.N, p.xbc.data(), p.xbc_stride, p.dt.data(), p.dt_stride, p.layer, tables,
                         p.G, S.data(), y.data(), 0, k);
      EXPECT_EQ(0, std::memcmp(S.data(), S0.data(), S.size() * sizeof(float))) << c.name << " split " << k;
      EXPECT_EQ(0, std::memcmp(y.data(), y0.data(), y.size() * sizeof(float))) << c.name << " split " << k;
    }
    // One head at a time, the way tree_forward's scan_node tiles a layer.
    std::vector<float> S = p.S, y(size_t(p.T * p.H * p.P), -1.0f);
    for (int64_t h = 0; h < p.H; ++h)
      q::pot_scan_mamba2(p.T, p.H, p.P, p.N, p.xbc.data(), p.xbc_stride, p.dt.data(), p.dt_stride, p.layer, tables,
                         p.G, S.data(), y.data(), h, h + 1);
    EXPECT_EQ(0, std::memcmp(S.data(), S0.data(), S.size() * sizeof(float))) << c.name << " per head";
    EXPECT_EQ(0, std::memcmp(y.data(), y0.data(), y.size() * sizeof(float))) << c.name << " per head";
  }
}

TEST_P(PotScanSimd, TokenByTokenEqualsOneCall) {
  for (const Case& c : kCases) {
    const Problem p = make_problem(c);
    const q::SsmTables tables = make_tables(c.tables);
    std::vector<float> S0, y0;
    run_whole(p, tables, &S0, &y0);
    std::vector<float> S = p.S, y(size_t(p.T * p.H * p.P), -1.0f);
    for (int64_t t = 0; t < p.T; ++t)
      q::pot_scan_mamba2(1, p.H, p.P, p.N, p.xbc.data() + t * p.xbc_stride, p.xbc_stride,
                         p.dt.data() + t * p.dt_stride, p.dt_stride, p.layer, tables, p.G, S.data(),
                         y.data() + t * p.H * p.P, 0, p.H);
    EXPECT_EQ(0, std::memcmp(S.data(), S0.data(), S.size() * sizeof(float))) << c.name;
    EXPECT_EQ(0, std::memcmp(y.data(), y0.data(), y.size() * sizeof(float))) << c.name;
  }
}

TEST_P(PotScanSimd, DeterministicAndLeavesOtherHeadsAlone) {
  const Problem p = make_problem(kCases[1]);
  const q::SsmTables tables = make_tables(0);
  std::vector<float> S = p.S, y(size_t(p.T * p.H * p.P), -1.0f);
  q::pot_scan_mamba2(p.T, p.H, p.P, p.N, p.xbc.data(), p.xbc_stride, p.dt.data(), p.dt_stride, p.layer, tables, p.G,
                     S.data(), y.data(), 3, 7);
  const int64_t PN = p.P * p.N, E = p.H * p.P;
  for (int64_t i = 0; i < p.H * PN; ++i) {
    if (i < 3 * PN || i >= 7 * PN) {
      ASSERT_EQ(0, std::memcmp(&S[size_t(i)], &p.S[size_t(i)], 4)) << i;
    }
  }
  for (int64_t t = 0; t < p.T; ++t) {
    for (int64_t i = 0; i < E; ++i) {
      if (i < 3 * p.P || i >= 7 * p.P) {
        ASSERT_EQ(y[size_t(t * E + i)], -1.0f);
      }
    }
  }
  std::vector<float> S2 = p.S, y2(y.size(), -1.0f);
  q::pot_scan_mamba2(p.T, p.H, p.P, p.N, p.xbc.data(), p.xbc_stride, p.dt.data(), p.dt_stride, p.layer, tables, p.G,
                     S2.data(), y2.data(), 3, 7);
  EXPECT_EQ(0, std::memcmp(S.data(), S2.data(), S.size() * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(y.data(), y2.data(), y.size() * sizeof(float)));
}

// Inputs the integer format cannot represent fail (sm::Error), they never
// produce garbage: non-finite x / B / dt / state, a state exponent above
// 160, a result beyond float range.
TEST_P(PotScanSimd, FailsOnUnrepresentableInputsAndResults) {
  const q::SsmTables tables = make_tables(0);
  Case c{"err", 2, 8, 16, 8, 1, Flavor::Normal, 99, 0};
  auto expect_fail = [&](auto&& edit, const char* what) {
    Problem p = make_problem(c);
    edit(p);
    std::vector<float> y(size_t(p.H * p.P));
    try {
      q::pot_scan_mamba2(1, p.H, p.P, p.N, p.xbc.data(), p.xbc_stride, p.dt.data(), p.dt_stride, p.layer, tables,
                         p.G, p.S.data(), y.data(), 0, p.H);
      ADD_FAILURE() << what << ": no error";
    } catch (const sm::Error& e) {
      std::printf("%s: %s\n", what, e.what());
    }
  };
  const int64_t E = c.H * c.P;
  expect_fail([](Problem& p) { p.xbc[5] = NAN; }, "NaN x");
  expect_fail([&](Problem& p) { p.xbc[size_t(E + 3)] = INFINITY; }, "inf B");
  expect_fail([&](Problem& p) { p.xbc[size_t(E + c.N + 1)] = NAN; }, "NaN C");
  expect_fail([](Problem& p) { p.dt[1] = NAN; }, "NaN dt");
  expect_fail([](Problem& p) { p.S[77] = -INFINITY; }, "inf state");
  // dt * B * x = 2^13 * 2^127 * 2^127: exponent far above 160.
  expect_fail(
      [&](Problem& p) {
        for (int64_t i = 0; i < E; ++i) p.xbc[size_t(i)] = 1.7e38f;
        for (int64_t i = 0; i < c.N; ++i) p.xbc[size_t(E + i)] = 1.7e38f;
        p.dt[0] = p.dt[1] = 1e4f;
      },
      "state exponent > 160");
  // 2^64 * 2^64 * ~1 state: representable exponents, beyond float range.
  expect_fail(
      [&](Problem& p) {
        for (int64_t i = 0; i < E; ++i) p.xbc[size_t(i)] = 1.8e19f;
        for (int64_t i = 0; i < c.N; ++i) p.xbc[size_t(E + i)] = 1.8e19f;
        p.dt[0] = p.dt[1] = 20.0f;
      },
      "state beyond float range");
  // A representable state (~2^104), y = C . h' ~ 2^139: y beyond float range.
  expect_fail(
      [&](Problem& p) {
        for (int64_t i = 0; i < E; ++i) p.xbc[size_t(i)] = 1.1e15f;
        for (int64_t i = 0; i < c.N; ++i) p.xbc[size_t(E + i)] = 1.1e15f;
        for (int64_t i = 0; i < c.N; ++i) p.xbc[size_t(E + c.N + i)] = 1.1e9f;
        p.dt[0] = p.dt[1] = 20.0f;
      },
      "y beyond float range");
}

// dA * h + dB * x cancelling exactly in a whole group (h chosen as
// -dB x / dA, representable with x's code = dA's code): h' is all zero with
// exponent 0, which the fast path must special-case like quantize_pot_group.
TEST_P(PotScanSimd, ExactCancellationGivesZeroState) {
  const q::SsmTables tables = make_tables(0);
  for (int64_t G : {1, 2, 8}) {
    const int64_t H = 1, P = G, N = G;
    q::PotSsmLayer layer;
    layer.params = {{-3 * 65536}, {65536}, {-3 * 65536}};
    const float dt = 0.75f;
    const q::PotTensor dtq = q::quantize_pot(std::vector<float>{dt}, 1);
    const q::SsmHeadScalars hs = q::ssm_head_scalars(dtq.codes[0], dtq.exps[0], -3 * 65536, -3 * 65536, tables);
    ASSERT_GT(hs.dA_code, 64);
    ASSERT_GT(hs.sp_code, 0);
    // B = 1 .. : the dB codes and exponent of the (single) group.
    std::vector<float> B(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n) B[size_t(n)] = float(100 + 3 * n);
    const q::PotTensor Bq = q::quantize_pot(B, G);
    std::vector<int64_t> v(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n) v[size_t(n)] = int64_t(hs.sp_code) * Bq.codes[size_t(n)];
    std::vector<int8_t> dB(static_cast<size_t>(N));
    const int eB = q::quantize_pot_group(v.data(), N, hs.sp_exp + Bq.exps[0], dB.data());
    // x = dA_code * 2^-3 for every p (one group, code dA_code, exponent -3).
    const int ex = -3;
    std::vector<float> xbc(static_cast<size_t>(P + 2 * N));
    for (int64_t p = 0; p < P; ++p) xbc[size_t(p)] = std::ldexp(float(hs.dA_code), ex);
    for (int64_t n = 0; n < N; ++n) xbc[size_t(P + n)] = B[size_t(n)];
    for (int64_t n = 0; n < N; ++n) xbc[size_t(P + N + n)] = 1.0f;
    // h[p][n] = -dB[n] * 2^(eB + ex - dA_exp): its codes are dB (one group per row,
    // max code > 64 so the float quantizer keeps the exponent).
    int8_t mx = 0;
    for (int8_t c : dB) mx = std::max<int8_t>(mx, int8_t(std::abs(c)));
    ASSERT_GT(mx, 64);
    std::vector<float> S(static_cast<size_t>(P * N));
    for (int64_t p = 0; p < P; ++p)
      for (int64_t n = 0; n < N; ++n)
        S[size_t(p * N + n)] = -std::ldexp(float(dB[size_t(n)]), eB + ex - hs.dA_exp);
    std::vector<float> Sr = S, yr(static_cast<size_t>(P)), yf(static_cast<size_t>(P));
    q::pot_scan_mamba2_reference(1, H, P, N, xbc.data(), P + 2 * N, &dt, 1, layer, tables, G, Sr.data(), yr.data(), 0, 1);
    q::pot_scan_mamba2(1, H, P, N, xbc.data(), P + 2 * N, &dt, 1, layer, tables, G, S.data(), yf.data(), 0, 1);
    for (float f : Sr) ASSERT_EQ(f, 0.0f) << "G " << G;  // the construction really cancels
    EXPECT_EQ(0, std::memcmp(S.data(), Sr.data(), S.size() * sizeof(float))) << "G " << G;
    EXPECT_EQ(0, std::memcmp(yf.data(), yr.data(), yf.size() * sizeof(float))) << "G " << G;
  }
}

// Subnormal B times a small softplus(dt): the dt * B exponent is raised to
// kActExpMin and every code rounds to 0 although the products are not zero.
TEST_P(PotScanSimd, UnderflowingDtBMatchesReference) {
  const q::SsmTables tables = make_tables(0);
  for (float b : {1e-44f, 3e-42f, 1e-40f, 2e-39f}) {
    for (float dt : {-8.0f, -5.0f, -3.0f, 0.0f}) {
      Case c{"underflow", 2, 8, 16, 8, 2, Flavor::Normal, 77, 0};
      Problem p = make_problem(c);
      const int64_t E = c.H * c.P;
      for (int64_t t = 0; t < c.T; ++t) {
        for (int64_t n = 0; n < c.N; ++n) p.xbc[size_t(t * p.xbc_stride + E + n)] = n % 3 ? b : -b;
        for (int64_t h = 0; h < c.H; ++h) p.dt[size_t(t * p.dt_stride + h)] = dt;
      }
      std::vector<float> Sa, ya, Sb, yb;
      run_whole(p, tables, &Sa, &ya, &q::pot_scan_mamba2_reference);
      run_whole(p, tables, &Sb, &yb, &q::pot_scan_mamba2);
      EXPECT_EQ(0, std::memcmp(Sa.data(), Sb.data(), Sa.size() * sizeof(float))) << b << " " << dt;
      EXPECT_EQ(0, std::memcmp(ya.data(), yb.data(), ya.size() * sizeof(float))) << b << " " << dt;
    }
  }
}

// The fast path against the reference composition, bit for bit, on random
// shapes (groups 1 .. 32, odd P and N), head ranges, token counts, LUTs and
// input magnitudes; when one fails on unrepresentable values, so must the other.
TEST_P(PotScanSimd, MatchesReferenceOnRandomProblems) {
  static const int64_t kGroups[] = {1, 2, 3, 4, 5, 8, 8, 8, 16, 32};
  Rng r{4242};
  int failures = 0, runs = 0;
  for (int trial = 0; trial < 300; ++trial) {
    Case c{"random", 0, 0, 0, 0, 0, Flavor::Wild, 1000 + uint64_t(trial), int(r.below(3))};
    c.G = kGroups[r.below(int64_t(std::size(kGroups)))];
    c.P = c.G * (1 + r.below(c.G >= 16 ? 2 : 5));
    c.N = c.G * (1 + r.below(c.G >= 16 ? 3 : 8));
    c.H = 1 + r.below(5);
    c.T = 1 + r.below(4);
    c.flavor = r.below(4) == 0 ? Flavor::Normal : Flavor::Wild;
    c.zero_state = r.below(8) == 0;
    Problem p = make_problem(c);
    if (r.below(10) == 0) {  // provoke errors: huge x and B with large dt (exponent or float range)
      const int64_t E = c.H * c.P;
      for (int64_t t = 0; t < c.T; ++t)
        for (int64_t i = 0; i < E + c.N; ++i) p.xbc[size_t(t * p.xbc_stride + i)] *= 1e18f;
    }
    const q::SsmTables tables = make_tables(c.tables);
    const int64_t h0 = r.below(c.H), h1 = h0 + 1 + r.below(c.H - h0);
    std::vector<float> Sa = p.S, Sb = p.S, ya(size_t(c.T * c.H * c.P), -1.0f), yb = ya;
    bool fa = false, fb = false;
    try {
      q::pot_scan_mamba2_reference(c.T, c.H, c.P, c.N, p.xbc.data(), p.xbc_stride, p.dt.data(), p.dt_stride, p.layer,
                                   tables, c.G, Sa.data(), ya.data(), h0, h1);
    } catch (const sm::Error&) {
      fa = true;
    }
    try {
      q::pot_scan_mamba2(c.T, c.H, c.P, c.N, p.xbc.data(), p.xbc_stride, p.dt.data(), p.dt_stride, p.layer, tables,
                         c.G, Sb.data(), yb.data(), h0, h1);
    } catch (const sm::Error&) {
      fb = true;
    }
    ++runs;
    ASSERT_EQ(fa, fb) << "trial " << trial << ": reference " << (fa ? "failed" : "ran") << ", fast "
                      << (fb ? "failed" : "ran");
    if (fa) {
      ++failures;
      continue;
    }
    ASSERT_EQ(0, std::memcmp(Sa.data(), Sb.data(), Sa.size() * sizeof(float)))
        << "trial " << trial << " H " << c.H << " P " << c.P << " N " << c.N << " G " << c.G << " T " << c.T;
    ASSERT_EQ(0, std::memcmp(ya.data(), yb.data(), ya.size() * sizeof(float))) << "trial " << trial;
  }
  EXPECT_GT(failures, 0);           // the error paths were exercised
  EXPECT_LT(failures, runs / 4);    // and most trials compared bits
}

SM_INSTANTIATE_PER_SIMD_TARGET(PotScanSimd);

}  // namespace
