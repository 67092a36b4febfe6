// SPDX-License-Identifier: Apache-2.0
// The fast quantized linear kernels (core/quant/qlinear.h) against the integer
// reference linear_int, bit for bit (memcmp, output padding included), on every
// SIMD target this CPU runs: shapes, bits, groups, batch sizes, threads, bias,
// clamping exponent windows, the individually rescaled blocks, the per-row
// reference fallback, hand-built extreme codes, FTZ/DAZ callers, and the
// errors. Each case also checks which path ran, so a kernel that silently
// fell back to the reference everywhere would fail.
#define HWY_WANT_AVX3_DL  // list AVX3_DL too: qlinear.cpp compiles it
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "core/io/error.h"
#include "core/kernels/thread_pool.h"
#include "core/quant/qlinear.h"
#include "core/quant/quantizers.h"
#include "hwy/targets.h"
#include "tests/core/simd_test_support.h"

namespace {

namespace q = sm::quant;
using q::ActQuant;
using q::PackedQMatrix;
using q::QuantizedActivations;
using q::QuantizedMatrix;
using q::ScaleKind;

constexpr uint32_t kSentinel = 0x7fc0dead;  // a NaN in the output padding: must survive

// simd::available_targets() plus AVX3_DL, which only qlinear.cpp compiles.
std::vector<int64_t> qlinear_targets() {
  std::vector<int64_t> v = sm::test::simd_target_bits();
  for (int64_t t = hwy::SupportedTargets() & HWY_TARGETS; t != 0; t &= t - 1) {
    const int64_t bit = t & -t;
    if (std::find(v.begin(), v.end(), bit) == v.end()) v.push_back(bit);
  }
  return v;
}

struct Case {
  int64_t rows, cols, T;
  int wbits, abits;
  int64_t wg, ag;
  bool bias = false;
  int64_t ldx_pad = 0, ldy_pad = 0;
  float xscale = 1.0f, wscale = 1.0f;
  int exp_min = q::kActExpMin, exp_max = q::kActExpMax;
  uint32_t seed = 1;
};

std::string describe(const Case& c) {
  return "rows " + std::to_string(c.rows) + " cols " + std::to_string(c.cols) + " T " +
         std::to_string(c.T) + " w" + std::to_string(c.wbits) + "a" + std::to_string(c.abits) +
         " wg " + std::to_string(c.wg) + " ag " + std::to_string(c.ag) + (c.bias ? " bias" : "") +
         " xscale " + std::to_string(c.xscale) + " window [" + std::to_string(c.exp_min) + ", " +
         std::to_string(c.exp_max) + "] seed " + std::to_string(c.seed);
}

// Weights ~N(0, 0.05) with rare 10x outliers; activations ~N(0, 1) with 20x
// outliers and one group in seven 1000x quieter (varied exponents per group).
struct Data {
  std::vector<float> W, X, bias;  // X: [T][cols + ldx_pad], padding filled with NaN
};
Data make_data(const Case& c) {
  std::mt19937 g(c.seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Data d;
  d.W.resize(c.rows * c.cols);
  for (auto& v : d.W) v = c.wscale * 0.05f * nd(g) * (g() % 100 == 0 ? 10.0f : 1.0f);
  const int64_t ldx = c.cols + c.ldx_pad;
  d.X.assign(c.T * ldx, std::numeric_limits<float>::quiet_NaN());
  for (int64_t t = 0; t < c.T; ++t)
    for (int64_t i = 0; i < c.cols; ++i) {
      float v = c.xscale * nd(g) * (g() % 50 == 0 ? 20.0f : 1.0f);
      if ((i / 8) % 7 == 3) v *= 1e-3f;
      d.X[t * ldx + i] = v;
    }
  d.bias.resize(c.rows);
  for (auto& v : d.bias) v = nd(g);
  return d;
}

std::vector<float> sentinel_buffer(int64_t T, int64_t ldy) {
  std::vector<float> y(std::max<int64_t>(1, T * ldy));
  for (auto& v : y) v = std::bit_cast<float>(kSentinel);
  return y;
}

// The reference: linear_int, then the bias as one float add per output.
std::vector<float> reference(const QuantizedActivations& x, const QuantizedMatrix& w,
                             const float* bias, int64_t ldy) {
  auto y = sentinel_buffer(x.rows, ldy);
  q::linear_int(x, w, y.data(), ldy);
  if (bias)
    for (int64_t t = 0; t < x.rows; ++t)
      for (int64_t r = 0; r < w.rows; ++r) y[t * ldy + r] = y[t * ldy + r] + bias[r];
  return y;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::string first_difference(const std::vector<float>& got, const std::vector<float>& want, int64_t ldy) {
  for (size_t i = 0; i < got.size(); ++i)
    if (std::bit_cast<uint32_t>(got[i]) != std::bit_cast<uint32_t>(want[i]))
      return "first difference at (" + std::to_string(i / ldy) + ", " + std::to_string(i % ldy) +
             "): got " + std::to_string(got[i]) + " want " + std::to_string(want[i]);
  return "sizes differ";
}

struct Outcome {
  q::QLinearStats stats;
};

// Runs one case through the float entry point with 1 and 2 threads and
// checks the bits; returns the stats of the single-threaded call.
Outcome check_case(const Case& c, sm::ThreadPool* pool2) {
  const Data d = make_data(c);
  const int64_t ldx = c.cols + c.ldx_pad, ldy = c.rows + c.ldy_pad;
  const auto W = q::quantize_weights(d.W.data(), c.rows, c.cols, c.wbits, c.wg, ScaleKind::Pow2Sum);
  const PackedQMatrix P = PackedQMatrix::pack(W);
  // The reference quantizes a dense copy (no row padding).
  std::vector<float> dense(c.T * c.cols);
  for (int64_t t = 0; t < c.T; ++t)
    std::copy_n(d.X.data() + t * ldx, c.cols, dense.data() + t * c.cols);
  const auto xq = q::quantize_activations(dense.data(), c.T, c.cols, c.abits, c.ag, c.exp_min, c.exp_max);
  const float* bias = c.bias ? d.bias.data() : nullptr;
  const auto want = reference(xq, W, bias, ldy);
  const ActQuant aq{c.abits, c.ag, c.exp_min, c.exp_max};

  Outcome out;
  for (sm::ThreadPool* pool : {static_cast<sm::ThreadPool*>(nullptr), pool2}) {
    auto y = sentinel_buffer(c.T, ldy);
    q::qlinear(d.X.data(), c.T, ldx, aq, P, bias, y.data(), ldy, pool);
    if (!pool) out.stats = q::qlinear_last_stats();
    EXPECT_TRUE(same_bits(y, want)) << describe(c) << (pool ? " (2 threads) " : " (1 thread) ")
                                    << first_difference(y, want, ldy);
    // The pre-quantized entry point gives the same bits.
    auto y2 = sentinel_buffer(c.T, ldy);
    q::qlinear(xq, P, bias, y2.data(), ldy, pool);
    EXPECT_TRUE(same_bits(y2, want)) << describe(c) << " (quantized input) " << first_difference(y2, want, ldy);
  }
  return out;
}

class QLinear : public sm::test::PerSimdTarget {
 protected:
  sm::ThreadPool pool2_{2};
};

// ------------------------------------------------------------------- shapes

TEST_P(QLinear, ShippedAndMambaShapes) {
  // 192 / 384 wide as in the shipped models, 768 / 1536 as mamba-130m; odd row
  // counts and every batch size class: decode, tree batches, prefill.
  const Case cases[] = {
      {844, 192, 1, 8, 8, 64, 8, true},     {61, 192, 7, 4, 8, 32, 8, true},
      {37, 384, 3, 4, 4, 128, 8},           {130, 384, 16, 8, 4, 128, 8, true},
      {77, 768, 1, 4, 8, 128, 8, true},     {45, 768, 2, 8, 8, 128, 8},
      {33, 768, 64, 4, 4, 128, 8, true},    {80, 1536, 1, 8, 8, 128, 8},
      {19, 1536, 130, 8, 8, 128, 8, true},  {23, 1536, 7, 4, 8, 128, 16},
      {100, 768, 130, 4, 8, 64, 8},         {5, 384, 64, 8, 4, 192, 8, true},
  };
  uint32_t seed = 10;
  int64_t fast_rows = 0, singles = 0;
  for (Case c : cases) {
    c.seed = seed++;
    c.ldx_pad = seed % 3;
    c.ldy_pad = seed % 2 * 5;
    const Outcome o = check_case(c, &pool2_);
    fast_rows += c.T - o.stats.fallback_rows;
    singles += o.stats.single_blocks;
  }
  // This data needs no whole-row fallback; its quiet groups are what the
  // individually rescaled blocks exist for.
  int64_t total_rows = 0;
  for (const Case& c : cases) total_rows += c.T;
  EXPECT_EQ(fast_rows, total_rows);
  EXPECT_GT(singles, 0);
}

TEST_P(QLinear, RandomShapesGroupsAndBits) {
  std::mt19937 g(123);
  const int64_t groups[] = {8, 16, 32, 64, 128};
  const int64_t Ts[] = {1, 2, 3, 7, 16, 64, 130};
  int64_t fallback = 0, rows_total = 0;
  for (int i = 0; i < 28; ++i) {
    Case c{};
    c.wbits = g() % 2 ? 4 : 8;
    c.abits = g() % 2 ? 4 : 8;
    c.wg = groups[g() % 5];
    c.ag = groups[g() % 4];  // nests with every weight group: all are powers of two
    c.cols = c.wg * c.ag / std::min(c.wg, c.ag) * (1 + g() % 3);
    if (c.cols < 64) c.cols *= 4;
    c.T = Ts[i % 7];
    c.rows = 1 + g() % (c.T > 16 ? 40 : 150);
    c.bias = g() % 2;
    c.ldx_pad = g() % 4;
    c.ldy_pad = g() % 3;
    c.seed = 1000 + i;
    const Outcome o = check_case(c, &pool2_);
    fallback += o.stats.fallback_rows;
    rows_total += c.T;
  }
  EXPECT_EQ(fallback, 0);
}

TEST_P(QLinear, WeightGroupsSmallerThanActivationGroups) {
  for (int64_t wg : {8, 16}) {
    for (int64_t ag : {32, 64}) {
      const Case c{29, 256, 5, wg == 8 ? 4 : 8, 8, wg, ag, true, 1, 1, 1.0f, 1.0f,
                   q::kActExpMin, q::kActExpMax, uint32_t(wg + ag)};
      EXPECT_EQ(check_case(c, &pool2_).stats.fallback_rows, 0) << describe(c);
    }
  }
}

TEST_P(QLinear, ThreadsSplitTilesWithoutChangingBits) {
  // Large enough for the pool to split output tiles (>= 24 tiles, >= 2^19
  // multiply-adds), with 2 and 3 threads (uneven chunks), against the reference.
  sm::ThreadPool pool3(3);
  const Case cases[] = {{1027, 768, 1, 8, 8, 128, 8, true}, {1000, 768, 1, 4, 4, 128, 8},
                        {520, 768, 5, 4, 8, 64, 8, true}, {390, 1536, 20, 8, 4, 128, 8}};
  uint32_t seed = 900;
  for (Case c : cases) {
    c.seed = seed++;
    check_case(c, &pool2_);
    check_case(c, &pool3);
  }
}

// ------------------------------------------------------- exponent windows

TEST_P(QLinear, ClampingExponentWindows) {
  // A 4-bit hardware field over integer-scaled inputs (LightMamba: [0, 15]),
  // and narrow windows around 0 that saturate large groups and coarsen small ones.
  const struct {
    int lo, hi;
    float xscale;
  } windows[] = {{0, 15, 64.0f}, {-2, 0, 1.0f}, {-9, -6, 1.0f}, {-7, -7, 1.0f}, {-20, -3, 0.01f}};
  uint32_t seed = 50;
  for (const auto& wdw : windows)
    for (int ab : {4, 8}) {
      Case c{70, 384, 9, ab == 4 ? 8 : 4, ab, 128, 8, true};
      c.exp_min = wdw.lo;
      c.exp_max = wdw.hi;
      c.xscale = wdw.xscale;
      c.seed = seed++;
      check_case(c, &pool2_);
    }
}

// ------------------------------------------- single blocks and the fallback

TEST_P(QLinear, TinyActivationsTakeTheRoundedSingleBlocks) {
  // Terms below 2^-32 need the reference's per-block rounding: s2 + xs + 32 < 0.
  for (float xs : {1e-4f, 1e-6f, 1e-9f, 1e-30f}) {
    for (int wb : {4, 8}) {
      Case c{41, 256, 6, wb, 8, 64, 8, true};
      c.xscale = xs;
      c.seed = uint32_t(wb * 7 + std::ilogb(xs) * 13 + 400);
      const Outcome o = check_case(c, &pool2_);
      EXPECT_EQ(o.stats.fallback_rows, 0) << describe(c);
      EXPECT_GT(o.stats.single_blocks, 0) << describe(c);
    }
  }
}

TEST_P(QLinear, HugeOutputsFallBackOrFailLikeTheReference) {
  // Outputs growing towards 2^31: first the kernels' conservative int64 bound
  // (2^62 on the sum of |terms|) cannot be proved and those rows run the
  // reference, which still succeeds; then the reference itself refuses
  // ("exceeds the int64 fixed-point range") and so must qlinear, with its
  // message. Token 1 is ordinary and stays on the fast path throughout.
  const int64_t rows = 20, cols = 128, T = 3;
  std::mt19937 g(77);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> W(rows * cols), X0(T * cols);
  for (auto& v : W) v = 0.5f + 0.05f * nd(g);
  for (auto& v : X0) v = 1.0f + 0.1f * nd(g);
  for (int wb : {4, 8}) {
    const auto Wq = q::quantize_weights(W.data(), rows, cols, wb, 32, ScaleKind::Pow2Sum);
    const auto P = PackedQMatrix::pack(Wq);
    int fell_back = 0, refused = 0;
    for (float scale = 1e6f; scale < 1e8f; scale *= 1.25f) {
      std::vector<float> X(X0);
      for (int64_t i = 0; i < T * cols; ++i)
        if (i / cols != 1) X[i] *= scale;
      const auto xq = q::quantize_activations(X.data(), T, cols, 8, 8);
      std::string ref_msg;
      std::vector<float> want;
      try {
        want = reference(xq, Wq, nullptr, rows);
      } catch (const sm::Error& e) {
        ref_msg = e.what();
      }
      auto y = sentinel_buffer(T, rows);
      std::string got_msg;
      try {
        q::qlinear(X.data(), T, cols, ActQuant{}, P, nullptr, y.data(), rows, &pool2_);
      } catch (const sm::Error& e) {
        got_msg = e.what();
      }
      EXPECT_EQ(got_msg, ref_msg) << wb << " " << scale;
      if (ref_msg.empty()) {
        EXPECT_TRUE(same_bits(y, want)) << wb << " " << scale << " " << first_difference(y, want, rows);
        const auto st = q::qlinear_last_stats();
        EXPECT_LE(st.fallback_rows, 2);
        if (st.fallback_rows == 2) ++fell_back;
      } else {
        ++refused;
      }
    }
    EXPECT_GT(fell_back, 0) << wb;
    EXPECT_GT(refused, 0) << wb;
  }
}

// ------------------------------------------------------ hand-built extremes

QuantizedMatrix random_codes(int64_t rows, int64_t cols, int bits, int64_t group, uint32_t seed,
                             bool extremes) {
  std::mt19937 g(seed);
  const int lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
  std::vector<int8_t> codes(rows * cols);
  for (auto& c : codes) c = int8_t(extremes && g() % 3 == 0 ? (g() % 2 ? lo : hi) : lo + int(g() % (hi - lo + 1)));
  QuantizedMatrix w;
  w.rows = rows;
  w.cols = cols;
  w.bits = bits;
  w.group = group;
  w.kind = ScaleKind::Pow2Sum;
  if (bits == 8) {
    w.codes.assign(codes.begin(), codes.end());
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      const auto p = q::pack_int4(std::span(codes).subspan(r * cols, cols));
      w.codes.insert(w.codes.end(), p.begin(), p.end());
    }
  }
  const int64_t n = rows * (cols / group);
  for (int64_t i = 0; i < n; ++i) {
    const int s1 = -int(g() % 14) - 2;
    w.s1.push_back(int16_t(s1));
    w.s2.push_back(int16_t(s1 - 1 - int(g() % 7)));
  }
  return w;
}

QuantizedActivations random_acts(int64_t T, int64_t cols, int bits, int64_t group, uint32_t seed,
                                 bool extremes) {
  std::mt19937 g(seed);
  const int lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
  QuantizedActivations x;
  x.rows = T;
  x.cols = cols;
  x.bits = bits;
  x.group = group;
  for (int64_t i = 0; i < T * cols; ++i)
    x.codes.push_back(int8_t(extremes && g() % 3 == 0 ? (g() % 2 ? lo : hi) : lo + int(g() % (hi - lo + 1))));
  for (int64_t i = 0; i < T * (cols / group); ++i) x.exps.push_back(int16_t(-int(g() % 12)));
  return x;
}

TEST_P(QLinear, ExtremeCodesIncludingMinusTwoToTheBitsMinusOne) {
  // Codes of -2^(bits-1) (never produced by the quantizers, accepted by the
  // reference) and saturated ones everywhere, on both sides.
  int cases = 0;
  for (int wb : {4, 8})
    for (int ab : {4, 8})
      for (int64_t wg : {8, 64})
        for (int64_t T : {1, 5}) {
          const auto w = random_codes(35, 128, wb, wg, uint32_t(cases + 1), true);
          const auto x = random_acts(T, 128, ab, 8, uint32_t(cases + 100), true);
          const auto P = PackedQMatrix::pack(w);
          EXPECT_EQ(P.has_min_code(), wb == 8);
          const auto want = reference(x, w, nullptr, 35);
          auto y = sentinel_buffer(T, 35);
          q::qlinear(x, P, nullptr, y.data(), 35, &pool2_);
          EXPECT_TRUE(same_bits(y, want)) << wb << ab << " " << wg << " " << T << " "
                                          << first_difference(y, want, 35);
          ++cases;
        }
}

TEST_P(QLinear, ZeroInputsAndZeroWeights) {
  const Case c{21, 128, 4, 8, 8, 32, 8, true};
  const Data d = make_data(c);
  std::vector<float> zx(c.T * c.cols, 0.0f), zw(c.rows * c.cols, 0.0f);
  zx[5] = -0.0f;
  for (int wb : {4, 8}) {
    for (bool zero_w : {false, true}) {
      const auto W = q::quantize_weights(zero_w ? zw.data() : d.W.data(), c.rows, c.cols, wb, 32,
                                         ScaleKind::Pow2Sum);
      const auto P = PackedQMatrix::pack(W);
      const auto& X = zero_w ? d.X : zx;
      std::vector<float> dense(X.begin(), X.begin() + c.T * c.cols);
      const auto xq = q::quantize_activations(dense.data(), c.T, c.cols, 8, 8);
      for (const float* bias : {static_cast<const float*>(nullptr), d.bias.data()}) {
        const auto want = reference(xq, W, bias, c.rows);
        auto y = sentinel_buffer(c.T, c.rows);
        q::qlinear(dense.data(), c.T, c.cols, ActQuant{}, P, bias, y.data(), c.rows, nullptr);
        EXPECT_TRUE(same_bits(y, want)) << wb << zero_w;
      }
    }
  }
}

// --------------------------------------------------- reference-only inputs

TEST_P(QLinear, ReferenceOnlyInputsStillMatch) {
  const Case c{27, 96, 3, 8, 8, 32, 8, true};
  const Data d = make_data(c);
  const float* bias = d.bias.data();
  // Float scales: always the reference.
  const auto Wf = q::quantize_weights(d.W.data(), c.rows, c.cols, 8, 32, ScaleKind::Float);
  // Weight group 12 and activation group 4: not multiples of 8.
  const auto W12 = q::quantize_weights(d.W.data(), c.rows, c.cols, 4, 12, ScaleKind::Pow2Sum);
  const auto W32 = q::quantize_weights(d.W.data(), c.rows, c.cols, 4, 32, ScaleKind::Pow2Sum);
  struct Run {
    const QuantizedMatrix* w;
    int64_t ag;
    bool fast;
  } runs[] = {{&Wf, 8, false}, {&W12, 12, false}, {&W32, 4, true}};
  for (const Run& r : runs) {
    const auto P = PackedQMatrix::pack(*r.w);
    EXPECT_EQ(P.fast(), r.fast);
    std::vector<float> dense(d.X.begin(), d.X.begin() + c.T * c.cols);
    const auto xq = q::quantize_activations(dense.data(), c.T, c.cols, 8, r.ag);
    const auto want = reference(xq, *r.w, bias, c.rows);
    auto y = sentinel_buffer(c.T, c.rows);
    q::qlinear(dense.data(), c.T, c.cols, ActQuant{8, r.ag}, P, bias, y.data(), c.rows, &pool2_);
    EXPECT_TRUE(same_bits(y, want)) << r.ag;
    EXPECT_EQ(q::qlinear_last_stats().fallback_rows, c.T);
  }
}

// -------------------------------------------------------- FP environment

#if defined(__SSE__)
TEST_P(QLinear, FlushToZeroCallersGetTheDefaultModeBits) {
  // The model's forward pass runs with FTZ | DAZ (and so do pool workers):
  // subnormal activations and biases must still follow the contract.
  // Large enough (>= 24 tiles, rows x cols x T >= 2^19) for the pool's FTZ workers to take tiles.
  const Case c{420, 256, 8, 8, 8, 64, 8, true};
  Data d = make_data(c);
  for (int64_t i = 0; i < 16; ++i) d.X[i] = std::ldexp(float(i % 5) - 2.0f, -140);  // subnormal groups
  for (int64_t r = 0; r < c.rows; r += 3) d.bias[r] = std::ldexp(1.0f, -140 - int(r % 7));
  std::fill(d.X.begin() + c.cols, d.X.begin() + 2 * c.cols, 0.0f);  // token 1: Q = 0 + subnormal bias
  for (int wb : {4, 8}) {
    const auto W = q::quantize_weights(d.W.data(), c.rows, c.cols, wb, c.wg, ScaleKind::Pow2Sum);
    const auto P = PackedQMatrix::pack(W);
    const auto xq = q::quantize_activations(d.X.data(), c.T, c.cols, 8, 8);
    const auto want = reference(xq, W, d.bias.data(), c.rows);
    const unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | 0x8040);
    auto y = sentinel_buffer(c.T, c.rows);
    q::qlinear(d.X.data(), c.T, c.cols, ActQuant{}, P, d.bias.data(), y.data(), c.rows, &pool2_);
    const auto xf = q::quantize_activations_fast(d.X.data(), c.T, c.cols, c.cols, ActQuant{});
    const unsigned after = _mm_getcsr();
    _mm_setcsr(saved);
    EXPECT_EQ(after, saved | 0x8040);  // restored for the caller
    EXPECT_TRUE(same_bits(y, want)) << wb << " " << first_difference(y, want, c.rows);
    EXPECT_EQ(xf.codes, xq.codes);
    EXPECT_EQ(xf.exps, xq.exps);
  }
}
#endif

// -------------------------------------------------------- the quantizer

TEST_P(QLinear, FastActivationQuantizerIsBitExact) {
  std::mt19937 g(9);
  std::vector<float> special = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 8.0f, 7.5f, -7.5f, 126.5f, 0.25f,
                                FLT_MAX, -FLT_MAX, FLT_MIN, std::ldexp(1.0f, -149), std::ldexp(3.0f, -149),
                                std::ldexp(5.0f, -148), std::nextafter(8.0f, 0.0f), std::nextafter(8.0f, 99.0f),
                                std::ldexp(1.0f, -30), std::ldexp(1.5f, -31), 1e30f, -1e-30f};
  for (int trial = 0; trial < 60; ++trial) {
    const int bits = trial % 2 ? 4 : 8;
    const int64_t group = (trial % 3 == 0) ? 8 : (trial % 3 == 1 ? 16 : 64);
    const int64_t cols = group * 4, T = 3, ldx = cols + 3;
    std::vector<float> x(T * ldx, std::numeric_limits<float>::quiet_NaN());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < cols; ++i) {
        float v;
        switch (g() % 4) {
          case 0: v = special[g() % special.size()]; break;
          case 1: v = std::ldexp(float(int(g() % 256) - 128) + (g() % 2 ? 0.5f : 0.0f), int(g() % 60) - 40); break;  // ties
          default: v = std::ldexp(std::normal_distribution<float>(0, 1)(g), int(g() % 270) - 150);  // to 2^120: finite
        }
        x[t * ldx + i] = v;
      }
    ActQuant aq{bits, group};
    if (trial % 5 == 1) aq = {bits, group, -3, 4};
    if (trial % 5 == 2) aq = {bits, group, -160, -150};
    std::vector<float> dense(T * cols);
    for (int64_t t = 0; t < T; ++t) std::copy_n(x.data() + t * ldx, cols, dense.data() + t * cols);
    const auto want = q::quantize_activations(dense.data(), T, cols, bits, group, aq.exp_min, aq.exp_max);
    const auto got = q::quantize_activations_fast(x.data(), T, cols, ldx, aq);
    ASSERT_EQ(got.codes, want.codes) << trial;
    ASSERT_EQ(got.exps, want.exps) << trial;
    ASSERT_EQ(got.rows, T);
    ASSERT_EQ(got.group, group);
  }
  // Non-finite input: the reference's error, naming the same element.
  std::vector<float> bad(2 * 16, 1.0f);
  bad[16 + 5] = std::numeric_limits<float>::infinity();
  std::string want_msg, got_msg;
  try {
    q::quantize_activations(bad.data(), 2, 16, 8, 8);
  } catch (const sm::Error& e) {
    want_msg = e.what();
  }
  try {
    q::quantize_activations_fast(bad.data(), 2, 16, 16, ActQuant{});
  } catch (const sm::Error& e) {
    got_msg = e.what();
  }
  EXPECT_FALSE(want_msg.empty());
  EXPECT_EQ(got_msg, want_msg);
}

INSTANTIATE_TEST_SUITE_P(Simd, QLinear, ::testing::ValuesIn(qlinear_targets()),
                         [](const auto& info) { return std::string(hwy::TargetName(info.param)); });

// ------------------------------------------------- target-independent parts

TEST(QLinearApi, BytesAndShape) {
  std::vector<float> W(37 * 256, 0.25f);
  for (int wb : {4, 8}) {
    const auto w = q::quantize_weights(W.data(), 37, 256, wb, 64, ScaleKind::Pow2Sum);
    const auto P = PackedQMatrix::pack(w);
    ASSERT_TRUE(P.fast());
    EXPECT_EQ(P.rows(), 37);
    EXPECT_EQ(P.cols(), 256);
    EXPECT_EQ(P.bits(), wb);
    EXPECT_EQ(P.group(), 64);
    EXPECT_EQ(P.kind(), ScaleKind::Pow2Sum);
    // 3 tiles of 16 rows; per tile: the codes and one 64-byte scale line per pair of groups.
    const size_t tile = 16 * 256 * wb / 8 + 2 * 64;
    EXPECT_EQ(P.bytes(), 3 * tile);
    EXPECT_EQ(P.reference().codes, w.codes);
    const auto wf = q::quantize_weights(W.data(), 37, 256, wb, 64, ScaleKind::Float);
    const auto Pf = PackedQMatrix::pack(wf);
    EXPECT_FALSE(Pf.fast());
    EXPECT_EQ(Pf.bytes(), wf.codes.size() + wf.scales.size() * 4);
  }
  // Odd group count: the last scale line is half used.
  const auto w3 = q::quantize_weights(W.data(), 16, 192, 8, 64, ScaleKind::Pow2Sum);
  EXPECT_EQ(PackedQMatrix::pack(w3).bytes(), size_t(16 * 192 + 128));
  // Moves keep the packed data valid.
  PackedQMatrix a = PackedQMatrix::pack(w3);
  PackedQMatrix b = std::move(a);
  EXPECT_TRUE(b.fast());
  EXPECT_EQ(b.layout().data, b.layout().tile(0));
}

TEST(QLinearApi, MismatchesAndBadInputsThrow) {
  std::vector<float> W(8 * 64, 0.5f), X(2 * 64, 1.0f), y(2 * 8);
  const auto w = q::quantize_weights(W.data(), 8, 64, 8, 32, ScaleKind::Pow2Sum);
  const auto P = PackedQMatrix::pack(w);
  EXPECT_NO_THROW(q::qlinear(X.data(), 2, 64, ActQuant{}, P, nullptr, y.data(), 8, nullptr));
  // Activation width != weight width.
  const auto x48 = q::quantize_activations(X.data(), 2, 48, 8, 8);
  EXPECT_THROW(q::qlinear(x48, P, nullptr, y.data(), 8, nullptr), sm::Error);
  // Activation bits.
  auto x5 = q::quantize_activations(X.data(), 2, 64, 8, 8);
  x5.bits = 5;
  EXPECT_THROW(q::qlinear(x5, P, nullptr, y.data(), 8, nullptr), sm::Error);
  EXPECT_THROW(q::qlinear(X.data(), 2, 64, ActQuant{3, 8}, P, nullptr, y.data(), 8, nullptr), sm::Error);
  EXPECT_THROW(q::qlinear(X.data(), 2, 64, ActQuant{8, 7}, P, nullptr, y.data(), 8, nullptr), sm::Error);
  EXPECT_THROW(q::qlinear(X.data(), 2, 64, ActQuant{8, 8, 3, 2}, P, nullptr, y.data(), 8, nullptr), sm::Error);
  // 4-bit activation codes outside -8..7, exponents outside the window.
  auto xb = q::quantize_activations(X.data(), 2, 64, 4, 8);
  xb.codes[3] = 9;
  EXPECT_THROW(q::qlinear(xb, P, nullptr, y.data(), 8, nullptr), sm::Error);
  xb.codes[3] = 0;
  xb.exps[1] = 500;
  EXPECT_THROW(q::qlinear(xb, P, nullptr, y.data(), 8, nullptr), sm::Error);
  // Groups that do not nest (32 and 24 both divide 96).
  std::vector<float> W96(8 * 96, 0.5f), X96(96, 1.0f);
  const auto P96 = PackedQMatrix::pack(q::quantize_weights(W96.data(), 8, 96, 4, 32, ScaleKind::Pow2Sum));
  EXPECT_THROW(q::qlinear(X96.data(), 1, 96, ActQuant{8, 24}, P96, nullptr, y.data(), 8, nullptr), sm::Error);
  // ldy too small, ldx too small, non-finite input.
  EXPECT_THROW(q::qlinear(X.data(), 2, 64, ActQuant{}, P, nullptr, y.data(), 7, nullptr), sm::Error);
  EXPECT_THROW(q::qlinear(X.data(), 2, 63, ActQuant{}, P, nullptr, y.data(), 8, nullptr), sm::Error);
  X[70] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(q::qlinear(X.data(), 2, 64, ActQuant{}, P, nullptr, y.data(), 8, nullptr), sm::Error);
  // Malformed matrices are refused when packed.
  auto bad = w;
  bad.bits = 5;
  EXPECT_THROW(PackedQMatrix::pack(bad), sm::Error);
  bad = w;
  bad.codes.pop_back();
  EXPECT_THROW(PackedQMatrix::pack(bad), sm::Error);
  bad = w;
  bad.s2[1] = int16_t(bad.s1[1] - 8);
  EXPECT_THROW(PackedQMatrix::pack(bad), sm::Error);
  bad = w;
  bad.group = 24;
  EXPECT_THROW(PackedQMatrix::pack(bad), sm::Error);
  bad = w;
  bad.s1.pop_back();
  EXPECT_THROW(PackedQMatrix::pack(bad), sm::Error);
}

TEST(QLinearApi, BestTargetWithoutScope) {
  // Whatever the CPU's best target is (AVX3_DL's VNNI kernel where present),
  // with no ScopedTarget in the way.
  Case c{90, 512, 5, 8, 8, 128, 8, true};
  sm::ThreadPool pool(2);
  for (int wb : {4, 8})
    for (int ab : {4, 8}) {
      c.wbits = wb;
      c.abits = ab;
      c.seed = uint32_t(wb * 10 + ab);
      EXPECT_EQ(check_case(c, &pool).stats.fallback_rows, 0);
    }
}

}  // namespace
