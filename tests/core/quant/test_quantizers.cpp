// SPDX-License-Identifier: Apache-2.0
// The integer quantizers and the reference linear kernel against the
// contract in docs/integer-kernels.md: rounding and clamping, edge inputs,
// the Pow2Sum search against a brute force, the activation exponent rule,
// int4 packing, and the kernel against an independent long-double / int64
// implementation bit for bit, plus its error bound against the fp32 product.
#include <gtest/gtest.h>

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "core/io/error.h"
#include "core/kernels/packed_matrix.h"
#include "core/quant/quantizers.h"

namespace {

using sm::quant::QuantizedActivations;
using sm::quant::QuantizedMatrix;
using sm::quant::ScaleKind;
namespace q = sm::quant;

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

std::vector<int> wcodes(const QuantizedMatrix& w) {
  std::vector<int> out;
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t c = 0; c < w.cols; ++c) out.push_back(w.code(r, c));
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// ------------------------------------------------------------------ rounding

TEST(Quantizers, RoundHalfAwayFromZero) {
  EXPECT_EQ(q::round_half_away(0.5), 1);
  EXPECT_EQ(q::round_half_away(-0.5), -1);
  EXPECT_EQ(q::round_half_away(2.5), 3);
  EXPECT_EQ(q::round_half_away(-2.5), -3);
  EXPECT_EQ(q::round_half_away(2.4999999999999996), 2);
  EXPECT_EQ(q::round_half_away(-0.49999999999999994), 0);
}

TEST(Quantizers, RoundShiftIsExactAndTotal) {
  EXPECT_EQ(*q::round_shift(5, -1), 3);    // 2.5 -> 3
  EXPECT_EQ(*q::round_shift(-5, -1), -3);  // -2.5 -> -3
  EXPECT_EQ(*q::round_shift(7, -2), 2);    // 1.75
  EXPECT_EQ(*q::round_shift(-6, -2), -2);  // -1.5 -> -2
  EXPECT_EQ(*q::round_shift(-5, -2), -1);  // -1.25
  EXPECT_EQ(*q::round_shift(3, 4), 48);
  EXPECT_EQ(*q::round_shift(-3, 4), -48);
  EXPECT_EQ(*q::round_shift(1, 62), int64_t(1) << 62);
  EXPECT_FALSE(q::round_shift(1, 63).has_value());
  EXPECT_FALSE(q::round_shift(INT64_MAX, 1).has_value());
  EXPECT_FALSE(q::round_shift(-3, 200).has_value());
  EXPECT_EQ(*q::round_shift(0, 1000), 0);
  EXPECT_EQ(*q::round_shift(INT64_MAX, -63), 1);  // just below 2^63 / 2^63 = 1 - eps -> 1
  EXPECT_EQ(*q::round_shift(INT64_MIN, -64), -1);  // exactly -0.5
  EXPECT_EQ(*q::round_shift(INT64_MAX, -64), 0);
  EXPECT_EQ(*q::round_shift(INT64_MIN, -65), 0);
  EXPECT_EQ(*q::round_shift(INT64_MIN, -1000), 0);
  EXPECT_EQ(*q::round_shift(INT64_MIN, -62), -2);
  // Against long double for random values and shifts.
  std::mt19937_64 g(7);
  for (int i = 0; i < 20000; ++i) {
    const int64_t v = int64_t(g() >> (g() % 40)) * ((g() & 1) ? 1 : -1);
    const int k = int(g() % 80) - 60;
    const long double want = std::roundl(std::ldexp(static_cast<long double>(v), k));
    const auto got = q::round_shift(v, k);
    if (std::fabs(want) < 9.2e18L) {
      ASSERT_TRUE(got.has_value()) << v << " " << k;
      ASSERT_EQ(static_cast<long double>(*got), want) << v << " " << k;
    } else {
      ASSERT_FALSE(got.has_value()) << v << " " << k;
    }
  }
}

// ------------------------------------------------------------------- weights

TEST(Quantizers, WeightTiesRoundAwayFromZeroAndClamp) {
  // absmax 7 with qmax 7: the float scale is exactly 1, so w / scale is w.
  const std::vector<float> w = {7.0f, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, -7.0f};
  const auto m = q::quantize_weights(w.data(), 1, 8, 4, 8, ScaleKind::Float);
  EXPECT_EQ(m.scales[0], 1.0f);
  EXPECT_EQ(wcodes(m), (std::vector<int>{7, 1, -1, 2, -2, 3, -3, -7}));
  // 8 bits: scale 127/127 = 1, ties at 126.5 go to 127, -126.5 to -127.
  const std::vector<float> w8 = {127.0f, 126.5f, -126.5f, 0.5f, -127.0f, 3.5f, -3.5f, 0.0f};
  const auto m8 = q::quantize_weights(w8.data(), 1, 8, 8, 8, ScaleKind::Float);
  EXPECT_EQ(wcodes(m8), (std::vector<int>{127, 127, -127, 1, -127, 4, -4, 0}));
  // Pow2Sum clamps what lies beyond qmax * S and never emits -2^(bits-1).
  std::vector<float> big(128);
  std::mt19937 g(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& v : big) v = nd(g);
  big[5] = 40.0f;
  big[9] = -40.0f;
  const auto p = q::quantize_weights(big.data(), 1, 128, 4, 128, ScaleKind::Pow2Sum);
  for (int c : wcodes(p)) {
    EXPECT_GE(c, -7);
    EXPECT_LE(c, 7);
  }
  EXPECT_EQ(p.code(0, 5), -p.code(0, 9));  // symmetric
}

TEST(Quantizers, WeightEdgeCases) {
  // All zero: float scale 0, Pow2Sum {0, -1}, codes 0, dequantizes to 0.
  const std::vector<float> z(16, 0.0f);
  for (auto kind : {ScaleKind::Float, ScaleKind::Pow2Sum}) {
    const auto m = q::quantize_weights(z.data(), 2, 8, 4, 8, kind);
    for (int c : wcodes(m)) EXPECT_EQ(c, 0);
    for (float v : q::dequantize(m)) EXPECT_EQ(v, 0.0f);
  }
  EXPECT_EQ(q::quantize_weights(z.data(), 1, 8, 8, 8, ScaleKind::Float).scales[0], 0.0f);
  const auto pz = q::quantize_weights(z.data(), 1, 8, 8, 8, ScaleKind::Pow2Sum);
  EXPECT_EQ(pz.s1[0], 0);
  EXPECT_EQ(pz.s2[0], -1);

  // Subnormals are quantized, not flushed (the scale itself may be subnormal;
  // dequantizing rounds once more, to a multiple of 2^-149).
  const float d3 = std::ldexp(3.0f, -136), d1 = std::ldexp(1.0f, -136);
  ASSERT_LT(d3, FLT_MIN);
  const std::vector<float> den = {d3, -d1, d1, 0.0f, -d3, d1, 0.0f, d3};
  for (auto kind : {ScaleKind::Float, ScaleKind::Pow2Sum}) {
    for (int bits : {4, 8}) {
      const auto m = q::quantize_weights(den.data(), 1, 8, bits, 8, kind);
      // Float maps absmax to qmax; Pow2Sum may pick a scale that puts it lower.
      if (kind == ScaleKind::Float) {
        EXPECT_EQ(m.code(0, 0), q::qmax(bits)) << bits;
      }
      EXPECT_GT(m.code(0, 0), q::qmax(bits) / 2) << bits;
      EXPECT_EQ(m.code(0, 4), -m.code(0, 0)) << bits;
      EXPECT_NE(m.code(0, 1), 0);
      const auto dq = q::dequantize(m);
      for (size_t i = 0; i < den.size(); ++i) {
        const double S = m.scale(0, 0);
        const double bound = std::max(S / 2, std::abs(double(den[i])) - q::qmax(bits) * S);
        EXPECT_LE(std::abs(double(dq[i]) - den[i]), bound + std::ldexp(1.0, -150)) << i;
      }
    }
  }

  // One huge outlier: it takes qmax, the rest round to 0; nothing overflows.
  std::vector<float> out(32, 1.0f);
  out[3] = 1e30f;
  for (auto kind : {ScaleKind::Float, ScaleKind::Pow2Sum}) {
    const auto m = q::quantize_weights(out.data(), 1, 32, 4, 32, kind);
    // Float: code 7. Pow2Sum: 5 * (2^97 + 2^95) is nearer 1e30 than any 7 * S or 6 * S.
    EXPECT_EQ(m.code(0, 3), kind == ScaleKind::Float ? 7 : 5);
    for (int c = 0; c < 32; ++c) {
      if (c != 3) {
        EXPECT_EQ(m.code(0, c), 0);
      }
    }
    const auto dq = q::dequantize(m);
    EXPECT_NEAR(dq[3] / 1e30, 1.0, kind == ScaleKind::Float ? 1e-6 : 0.02);
  }
}

TEST(Quantizers, NonFiniteInputsAreErrors) {
  for (float bad : {kNaN, kInf, -kInf}) {
    std::vector<float> v(16, 0.25f);
    v[11] = bad;
    EXPECT_THROW(q::quantize_weights(v.data(), 2, 8, 4, 8, ScaleKind::Float), sm::Error);
    EXPECT_THROW(q::quantize_weights(v.data(), 2, 8, 8, 8, ScaleKind::Pow2Sum), sm::Error);
    EXPECT_THROW(q::quantize_activations(v.data(), 2, 8, 4, 8), sm::Error);
    EXPECT_THROW(q::choose_pow2sum(v, 4), sm::Error);
    EXPECT_THROW(q::act_exponent(bad, 4), sm::Error);
  }
  EXPECT_THROW(q::act_exponent(-1.0f, 4), sm::Error);
  try {
    std::vector<float> v(16, 0.25f);
    v[11] = kNaN;
    q::quantize_activations(v.data(), 2, 8, 4, 8);
    FAIL();
  } catch (const sm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("(1, 3)"), std::string::npos) << e.what();
  }
}

TEST(Quantizers, ShapeAndBitsAreValidated) {
  std::vector<float> v(256, 1.0f);
  EXPECT_THROW(q::quantize_weights(v.data(), 1, 24, 5, 8, ScaleKind::Float), sm::Error);
  EXPECT_THROW(q::quantize_weights(v.data(), 1, 24, 4, 0, ScaleKind::Float), sm::Error);
  EXPECT_THROW(q::quantize_weights(v.data(), 1, 24, 4, 16, ScaleKind::Float), sm::Error);
  EXPECT_THROW(q::quantize_activations(v.data(), 1, 24, 4, 7), sm::Error);
  EXPECT_THROW(q::quantize_activations(v.data(), 1, 24, 2, 8), sm::Error);
  EXPECT_THROW(q::quantize_activations(v.data(), 1, 24, 4, 8, 3, 2), sm::Error);
  EXPECT_THROW(q::quantize_activations(v.data(), 1, 24, 4, 8, -500, 0), sm::Error);
  std::vector<float> huge(q::kMaxGroup * 2, 1.0f);
  EXPECT_THROW(q::quantize_weights(huge.data(), 1, q::kMaxGroup * 2, 8, q::kMaxGroup * 2,
                                   ScaleKind::Float),
               sm::Error);
  EXPECT_NO_THROW(
      q::quantize_weights(huge.data(), 2, q::kMaxGroup, 8, q::kMaxGroup, ScaleKind::Float));
}

// The candidate set recomputed independently: k found by comparisons, errors
// in long double.
struct Brute {
  int s1, s2;
  long double err;
};
long double sq_err(const std::vector<float>& w, long double S, int qm) {
  long double e = 0;
  for (float v : w) {
    long double c = std::roundl(static_cast<long double>(v) / S);
    c = std::max<long double>(-qm, std::min<long double>(qm, c));
    const long double d = static_cast<long double>(v) - S * c;
    e += d * d;
  }
  return e;
}
Brute brute_pow2sum(const std::vector<float>& w, int bits, int lo, int hi) {
  const int qm = q::qmax(bits);
  float m = 0;
  for (float v : w) m = std::max(m, std::abs(v));
  int k = -200;  // largest k with qm * 2^k <= absmax
  while (static_cast<long double>(qm) * std::ldexp(1.0L, k + 1) <= m) ++k;
  Brute best{0, 0, std::numeric_limits<long double>::infinity()};
  for (int s1 = k + lo; s1 <= k + hi; ++s1)
    for (int s2 = s1 - q::kPow2SumMaxGap; s2 < s1; ++s2) {
      const long double e = sq_err(w, std::ldexp(1.0L, s1) + std::ldexp(1.0L, s2), qm);
      if (e < best.err) best = {s1, s2, e};
    }
  return best;
}

TEST(Quantizers, Pow2SumPicksTheBestCandidate) {
  std::mt19937 g(11);
  int exact_matches = 0, wide_wins = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const int bits = trial % 2 ? 4 : 8;
    const int n = (trial % 3 == 0) ? 8 : (trial % 3 == 1 ? 32 : 128);
    const float sigma = std::ldexp(1.0f, int(g() % 40) - 25);
    std::normal_distribution<float> nd(0.0f, sigma);
    std::vector<float> w(n);
    for (auto& v : w) v = nd(g);
    if (trial % 5 == 0) w[g() % n] *= 30.0f;  // outlier groups
    if (trial % 7 == 0) w[0] = std::ldexp(7.0f, -10) * (g() % 2 ? 1 : -1);  // absmax / qmax ~ 2^k
    const auto p = q::choose_pow2sum(w, bits);
    ASSERT_GT(p.s1, p.s2);
    ASSERT_LE(p.s1 - p.s2, q::kPow2SumMaxGap);
    const Brute b = brute_pow2sum(w, bits, -1, 1);
    const long double mine = sq_err(w, std::ldexp(1.0L, p.s1) + std::ldexp(1.0L, p.s2), q::qmax(bits));
    ASSERT_LE(mine, b.err * (1 + 1e-12L)) << trial;
    if (p.s1 == b.s1 && p.s2 == b.s2) ++exact_matches;
    // The documented window is wide enough: a much wider search finds nothing better.
    const Brute wide = brute_pow2sum(w, bits, -6, 6);
    if (wide.err < b.err * (1 - 1e-12L)) ++wide_wins;
    // quantize_weights uses the same choice.
    const auto m = q::quantize_weights(w.data(), 1, n, bits, n, ScaleKind::Pow2Sum);
    ASSERT_EQ(m.s1[0], p.s1);
    ASSERT_EQ(m.s2[0], p.s2);
  }
  EXPECT_GE(exact_matches, 390);  // ties in double vs long double aside
  EXPECT_EQ(wide_wins, 0);
  // An exact tie: 9 * 2^-4 = 6 * (2^-4 + 2^-5) = 3 * (2^-3 + 2^-4), both with
  // zero error; the first in the documented order (smaller s1) wins.
  const std::vector<float> tie = {0.5625f, 0.0f, 0.0f, 0.0f};
  const auto p = q::choose_pow2sum(tie, 4);
  EXPECT_EQ(p.s1, -4);
  EXPECT_EQ(p.s2, -5);
}

// --------------------------------------------------------------- activations

TEST(Quantizers, ActivationExponentFormula) {
  struct Case {
    float absmax;
    int bits, want;
  };
  const Case cases[] = {
      {8.0f, 4, 0},                               // exactly 2^3: ceil(log2) = 3
      {std::nextafter(8.0f, 100.0f), 4, 1},       // just above
      {std::nextafter(8.0f, 0.0f), 4, 0},         // just below
      {1.0f, 8, -7},
      {std::nextafter(1.0f, 2.0f), 8, -6},
      {std::nextafter(1.0f, 0.0f), 8, -7},
      {0.75f, 4, -3},
      {100.0f, 4, 4},                             // 2^6 < 100 <= 2^7
      {std::ldexp(1.0f, -149), 4, -152},          // smallest subnormal, a power of two
      {std::ldexp(3.0f, -149), 4, -150},          // subnormal, not a power of two
      {FLT_MIN, 8, -133},
      {FLT_MAX, 4, 125},
      {0.0f, 4, 0},
  };
  for (const auto& c : cases) EXPECT_EQ(q::act_exponent(c.absmax, c.bits), c.want) << c.absmax;
  // Against the definition: the smallest k with 2^k >= absmax.
  std::mt19937 g(5);
  for (int i = 0; i < 20000; ++i) {
    const float v = std::ldexp(std::uniform_real_distribution<float>(0.5f, 1.0f)(g),
                               int(g() % 250) - 140);
    if (v == 0.0f) continue;
    int k = -160;
    while (std::ldexp(1.0L, k) < v) ++k;
    ASSERT_EQ(q::act_exponent(v, 4), k - 3) << v;
    ASSERT_EQ(q::act_exponent(v, 8), k - 7) << v;
  }
}

TEST(Quantizers, ActivationRoundingSaturationAndEdges) {
  // absmax 8 -> s = 0 (4 bits); 8 and 7.5 saturate at 7; ties away from zero.
  const std::vector<float> x = {8.0f, 0.5f, -0.5f, 1.5f, -2.5f, 7.5f, -7.5f, -8.0f};
  for (int sh : {0, 5, -9}) {
    std::vector<float> xs(x);
    for (auto& v : xs) v = std::ldexp(v, sh);
    const auto a = q::quantize_activations(xs.data(), 1, 8, 4, 8);
    EXPECT_EQ(a.exps[0], sh);
    EXPECT_EQ(a.codes, (std::vector<int8_t>{7, 1, -1, 2, -3, 7, -7, -7}));
  }
  // 8 bits: absmax 1 -> s = -7, 1.0 -> 128 saturates at 127.
  const std::vector<float> x8 = {1.0f, -1.0f, 0.5f, std::ldexp(3.0f, -8), 0, 0, 0, 0};
  const auto a8 = q::quantize_activations(x8.data(), 1, 8, 8, 8);
  EXPECT_EQ(a8.exps[0], -7);
  EXPECT_EQ(a8.codes[0], 127);
  EXPECT_EQ(a8.codes[1], -127);
  EXPECT_EQ(a8.codes[2], 64);
  EXPECT_EQ(a8.codes[3], 2);  // 1.5 -> 2

  // absmax 0: exponent 0, codes 0; with a window, the window's nearest end.
  const std::vector<float> z(8, 0.0f);
  EXPECT_EQ(q::quantize_activations(z.data(), 1, 8, 4, 8).exps[0], 0);
  EXPECT_EQ(q::quantize_activations(z.data(), 1, 8, 4, 8, 2, 9).exps[0], 2);
  // -0.0 is zero.
  const std::vector<float> nz(8, -0.0f);
  EXPECT_EQ(q::quantize_activations(nz.data(), 1, 8, 4, 8).codes, std::vector<int8_t>(8, 0));

  // Subnormal group quantized exactly: 3 * 2^-146 -> s = -147, code 6.
  std::vector<float> d(8, 0.0f);
  d[0] = std::ldexp(3.0f, -146);
  d[1] = -std::ldexp(1.0f, -149);  // 0.25 of a step -> 0
  d[2] = std::ldexp(5.0f, -148);   // 2.5 steps -> 3
  const auto ad = q::quantize_activations(d.data(), 1, 8, 4, 8);
  EXPECT_EQ(ad.exps[0], -147);
  EXPECT_EQ(ad.codes[0], 6);
  EXPECT_EQ(ad.codes[1], 0);
  EXPECT_EQ(ad.codes[2], 3);
  EXPECT_EQ(q::dequantize(ad)[0], d[0]);

  // A single huge outlier: it keeps its magnitude, the rest of its group is 0.
  std::vector<float> o(16, 1.0f);
  o[2] = 1e30f;
  const auto ao = q::quantize_activations(o.data(), 1, 16, 4, 8);
  EXPECT_EQ(ao.exps[0], 97);  // 2^99 < 1e30 <= 2^100
  EXPECT_EQ(ao.codes[2], 6);  // 1e30 / 2^97 = 6.31
  EXPECT_EQ(ao.codes[0], 0);
  EXPECT_EQ(ao.exps[1], -3);  // the next group is untouched
  EXPECT_EQ(ao.codes[8], 7);  // 1.0 = 8 steps: saturates
  // FLT_MAX itself stays finite through quantize / dequantize.
  std::vector<float> mx(8, FLT_MAX);
  mx[1] = -FLT_MAX;
  for (int bits : {4, 8}) {
    const auto am = q::quantize_activations(mx.data(), 1, 8, bits, 8);
    EXPECT_EQ(am.codes[0], q::qmax(bits));
    EXPECT_TRUE(std::isfinite(q::dequantize(am)[1]));
  }

  // A narrow exponent window saturates big groups and coarsens small ones.
  const std::vector<float> w = {100.0f, -50.0f, 3.0f, 0, 0, 0, 0, 0, 0.01f, 0.02f, -0.03f, 0.04f, 0, 0, 0, 0};
  const auto aw = q::quantize_activations(w.data(), 1, 16, 4, 8, -2, 0);
  EXPECT_EQ(aw.exps[0], 0);
  EXPECT_EQ(aw.codes[0], 7);
  EXPECT_EQ(aw.codes[1], -7);
  EXPECT_EQ(aw.codes[2], 3);
  EXPECT_EQ(aw.exps[1], -2);
  EXPECT_EQ(aw.codes[8], 0);   // 0.04 steps
  EXPECT_EQ(aw.codes[11], 0);  // 0.16 steps
}

// ---------------------------------------------------------------------- int4

TEST(Quantizers, Int4PackRoundTripsEveryPair) {
  std::vector<int8_t> all;
  for (int a = -8; a <= 7; ++a)
    for (int b = -8; b <= 7; ++b) {
      all.push_back(int8_t(a));
      all.push_back(int8_t(b));
    }
  const auto packed = q::pack_int4(all);
  ASSERT_EQ(packed.size(), all.size() / 2);
  EXPECT_EQ(q::unpack_int4(packed, int64_t(all.size())), all);
  // Every byte value appears exactly once, and decodes as two's complement.
  std::vector<int> seen(256, 0);
  for (uint8_t b : packed) ++seen[b];
  for (int s : seen) EXPECT_EQ(s, 1);
  // Layout: element 0 in the low nibble.
  EXPECT_EQ(q::pack_int4(std::vector<int8_t>{-1, 1}), (std::vector<uint8_t>{0x1F}));
  EXPECT_EQ(q::pack_int4(std::vector<int8_t>{-8, 7}), (std::vector<uint8_t>{0x78}));
  EXPECT_EQ(q::pack_int4(std::vector<int8_t>{}), std::vector<uint8_t>{});
}

TEST(Quantizers, Int4OddLengthsArePaddedAndChecked) {
  const std::vector<int8_t> odd = {3, -4, -8};
  const auto p = q::pack_int4(odd);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[1], 0x08);  // zero pad in the high nibble
  EXPECT_EQ(q::unpack_int4(p, 3), odd);
  EXPECT_THROW(q::unpack_int4(p, 2), sm::Error);   // byte count does not match
  EXPECT_THROW(q::unpack_int4(p, 5), sm::Error);
  EXPECT_THROW(q::unpack_int4(p, -1), sm::Error);
  std::vector<uint8_t> bad = p;
  bad[1] = 0x98;  // non-zero pad
  EXPECT_THROW(q::unpack_int4(bad, 3), sm::Error);
  EXPECT_THROW(q::pack_int4(std::vector<int8_t>{8}), sm::Error);
  EXPECT_THROW(q::pack_int4(std::vector<int8_t>{-9}), sm::Error);
  // Odd rows in a matrix: every row starts on a byte, the pad nibble is zero.
  std::mt19937 g(2);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> w(3 * 5);
  for (auto& v : w) v = nd(g);
  const auto m = q::quantize_weights(w.data(), 3, 5, 4, 5, ScaleKind::Float);
  ASSERT_EQ(m.row_bytes(), 3);
  ASSERT_EQ(m.codes.size(), 9u);
  for (int r = 0; r < 3; ++r) {
    const auto row = q::unpack_int4(std::span(m.codes).subspan(r * 3, 3), 5);
    for (int c = 0; c < 5; ++c) EXPECT_EQ(row[c], m.code(r, c));
  }
}

// ----------------------------------------------------------- the linear kernel

int raw_wcode(const QuantizedMatrix& w, int64_t r, int64_t c) {
  if (w.bits == 8) return std::bit_cast<int8_t>(w.codes[r * w.cols + c]);
  const uint8_t byte = w.codes[r * ((w.cols + 1) / 2) + c / 2];
  const int nib = (c & 1) ? byte >> 4 : byte & 15;
  return (nib ^ 8) - 8;
}

long double raw_wscale(const QuantizedMatrix& w, int64_t r, int64_t g) {
  const int64_t i = r * (w.cols / w.group) + g;
  if (w.kind == ScaleKind::Float) return w.scales[i];
  return std::ldexp(1.0L, w.s1[i]) + std::ldexp(1.0L, w.s2[i]);
}

// Written differently on purpose: all block sums first (int64), the Pow2Sum
// terms as exact long double values rounded by roundl, the float terms exact
// in long double and only the block-order double sum rounded as specified.
std::vector<float> independent_linear(const QuantizedActivations& x, const QuantizedMatrix& w) {
  const int64_t B = std::min(w.group, x.group), nb = w.cols / B;
  std::vector<float> y(x.rows * w.rows);
  std::vector<int64_t> acc(nb);
  for (int64_t t = 0; t < x.rows; ++t)
    for (int64_t r = 0; r < w.rows; ++r) {
      std::fill(acc.begin(), acc.end(), 0);
      for (int64_t c = 0; c < w.cols; ++c)
        acc[c / B] += int64_t(raw_wcode(w, r, c)) * x.codes[t * x.cols + c];
      if (w.kind == ScaleKind::Pow2Sum) {
        int64_t Q = 0;
        for (int64_t b = 0; b < nb; ++b) {
          const int64_t gi = r * (w.cols / w.group) + b * B / w.group;
          const int xs = x.exps[t * (x.cols / x.group) + b * B / x.group];
          const long double v = std::ldexp(static_cast<long double>(acc[b]), w.s1[gi] + xs + q::kFracBits) +
                                std::ldexp(static_cast<long double>(acc[b]), w.s2[gi] + xs + q::kFracBits);
          Q += static_cast<int64_t>(std::roundl(v));
        }
        y[t * w.rows + r] = static_cast<float>(static_cast<long double>(Q)) * 0x1p-32f;
      } else {
        double sum = 0;
        for (int64_t b = 0; b < nb; ++b) {
          const int xs = x.exps[t * (x.cols / x.group) + b * B / x.group];
          const long double v = static_cast<long double>(acc[b]) *
                                raw_wscale(w, r, b * B / w.group) * std::ldexp(1.0L, xs);
          sum += static_cast<double>(v);  // exact: |acc| < 2^22, scale has 24 bits
        }
        y[t * w.rows + r] = static_cast<float>(sum);
      }
    }
  return y;
}
static_assert(q::kFracBits == 32, "the independent kernel hard-codes 2^-32");

struct Data {
  std::vector<float> W, X;
};
Data random_data(int64_t rows, int64_t cols, int64_t T, uint32_t seed, float scale = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Data d;
  d.W.resize(rows * cols);
  d.X.resize(T * cols);
  for (auto& v : d.W) v = scale * 0.05f * nd(g) * (g() % 100 == 0 ? 10.0f : 1.0f);
  for (int64_t i = 0; i < T * cols; ++i) {
    float v = scale * nd(g) * (g() % 50 == 0 ? 20.0f : 1.0f);
    if ((i / 8) % 7 == 3) v *= 1e-3f;  // some quiet groups: varied exponents
    d.X[i] = v;
  }
  return d;
}

TEST(LinearInt, MatchesIndependentImplementationAndErrorBound) {
  struct Shape {
    int64_t rows, cols, T;
  };
  const Shape shapes[] = {{16, 128, 1}, {33, 256, 3}, {7, 384, 5}};
  int cases = 0;
  double worst_ratio_4 = 0, worst_ratio_8 = 0;
  for (const auto& sh : shapes)
    for (int wb : {4, 8})
      for (int ab : {4, 8})
        for (int64_t g : {8, 32, 128})
          for (int64_t G : {8, 32, 128})
            for (auto kind : {ScaleKind::Float, ScaleKind::Pow2Sum}) {
              // Every other case is tiny (2^-12 on both sides), so that the
              // Pow2Sum terms fall below 2^-32 and the per-term rounding runs.
              const Data d = random_data(sh.rows, sh.cols, sh.T, uint32_t(cases * 31 + 1),
                                         cases % 2 ? 0x1p-12f : 1.0f);
              const auto w = q::quantize_weights(d.W.data(), sh.rows, sh.cols, wb, g, kind);
              const auto x = q::quantize_activations(d.X.data(), sh.T, sh.cols, ab, G);
              const auto y = q::linear_int(x, w);
              const auto want = independent_linear(x, w);
              ASSERT_TRUE(same_bits(y, want))
                  << "rows " << sh.rows << " cols " << sh.cols << " wb " << wb << " ab " << ab
                  << " g " << g << " G " << G << " kind " << int(kind);
              // Against the real-valued product of the dequantized operands: only
              // the specified rescale roundings separate them.
              // Against the fp32 product: within the derived quantization bound.
              const int64_t nb = sh.cols / std::min(g, G);
              const int qw = q::qmax(wb), qa = q::qmax(ab);
              for (int64_t t = 0; t < sh.T; ++t)
                for (int64_t r = 0; r < sh.rows; ++r) {
                  long double exact = 0, absterms = 0, ref = 0, bound = 0;
                  for (int64_t c = 0; c < sh.cols; ++c) {
                    const long double S = raw_wscale(w, r, c / g);
                    const long double wq = raw_wcode(w, r, c) * S;
                    const long double A = std::ldexp(1.0L, x.exps[t * (sh.cols / G) + c / G]);
                    const long double xq = x.codes[t * sh.cols + c] * A;
                    exact += wq * xq;
                    absterms += std::fabs(wq * xq);
                    const long double wv = d.W[r * sh.cols + c], xv = d.X[t * sh.cols + c];
                    ref += wv * xv;
                    // |w - w^| <= max(S/2, |w| - qmax S), |x - x^| <= max(A/2, |x| - qmax A).
                    const long double ew = std::max(S / 2, std::fabs(wv) - qw * S);
                    const long double ea = std::max(A / 2, std::fabs(xv) - qa * A);
                    bound += ew * std::fabs(xv) + (std::fabs(wv) + ew) * ea;
                  }
                  const long double yi = y[t * sh.rows + r];
                  const long double rescale =
                      std::fabs(exact) * 0x1p-23L + nb * 0x1p-33L + absterms * nb * 0x1p-52L;
                  ASSERT_LE(std::fabs(yi - exact), rescale) << t << " " << r;
                  const long double err = std::fabs(yi - ref);
                  ASSERT_LE(err, bound * (1 + 1e-9L) + rescale) << t << " " << r;
                  auto& worst = (wb == 4 && ab == 4) ? worst_ratio_4 : worst_ratio_8;
                  if (bound > 0) worst = std::max(worst, double(err / bound));
                }
              ++cases;
            }
  EXPECT_EQ(cases, 3 * 2 * 2 * 3 * 3 * 2);
  // The bound is not vacuous: some outputs get within a few percent of it.
  EXPECT_GT(worst_ratio_4, 0.05);
  EXPECT_GT(worst_ratio_8, 0.05);
}

TEST(LinearInt, AgreesWithFp32KernelOnDequantizedOperands) {
  const Data d = random_data(40, 256, 4, 99);
  for (auto kind : {ScaleKind::Float, ScaleKind::Pow2Sum}) {
    const auto w = q::quantize_weights(d.W.data(), 40, 256, 4, 128, kind);
    const auto x = q::quantize_activations(d.X.data(), 4, 256, 4, 8);
    const auto wd = q::dequantize(w), xd = q::dequantize(x);
    const auto pm = sm::PackedMatrix::pack(wd.data(), 40, 256);
    std::vector<float> yf(4 * 40);
    sm::packed_linear(xd.data(), 4, pm, nullptr, yf.data(), 40, nullptr);
    const auto yi = q::linear_int(x, w);
    for (size_t i = 0; i < yf.size(); ++i) {
      double mag = 0;
      const int64_t t = i / 40, r = i % 40;
      for (int c = 0; c < 256; ++c) mag += std::abs(double(wd[r * 256 + c]) * xd[t * 256 + c]);
      EXPECT_NEAR(yi[i], yf[i], 256 * 0x1p-23 * mag + 1e-9) << i;
    }
  }
}

TEST(LinearInt, MaximumGroupCannotOverflowInt32) {
  // The worst case the bound allows: 65536 products of -128 x -128 = 2^30.
  const int64_t n = q::kMaxGroup;
  QuantizedActivations x;
  x.rows = 1;
  x.cols = n;
  x.bits = 8;
  x.group = n;
  x.codes.assign(n, -128);
  x.exps.assign(1, 0);
  for (auto kind : {ScaleKind::Float, ScaleKind::Pow2Sum}) {
    QuantizedMatrix w;
    w.rows = 1;
    w.cols = n;
    w.bits = 8;
    w.group = n;
    w.kind = kind;
    w.codes.assign(n, 0x80);  // -128
    w.scales.assign(1, 1.0f);
    w.s1.assign(1, 0);
    w.s2.assign(1, -1);
    const auto y = q::linear_int(x, w);
    EXPECT_EQ(y[0], kind == ScaleKind::Float ? 0x1p30f : 0x1.8p30f);
  }
  // And through the quantizers: all-ones saturate at 127 x 127.
  std::vector<float> ones(n, 1.0f);
  const auto w = q::quantize_weights(ones.data(), 1, n, 8, n, ScaleKind::Pow2Sum);
  const auto xa = q::quantize_activations(ones.data(), 1, n, 8, n);
  EXPECT_EQ(xa.codes[0], 127);
  const double want = 65536.0 * 127 * 127 * w.scale(0, 0) * std::ldexp(1.0, xa.exps[0]);
  EXPECT_EQ(q::linear_int(xa, w)[0], float(want));
}

TEST(LinearInt, RejectsBadInputs) {
  const Data d = random_data(4, 48, 2, 5);
  const auto w = q::quantize_weights(d.W.data(), 4, 48, 4, 16, ScaleKind::Pow2Sum);
  const auto x = q::quantize_activations(d.X.data(), 2, 48, 4, 8);
  EXPECT_NO_THROW(q::linear_int(x, w));
  // Groups that do not nest: 16 and 12 (both divide 48).
  const auto x12 = q::quantize_activations(d.X.data(), 2, 48, 4, 12);
  EXPECT_THROW(q::linear_int(x12, w), sm::Error);
  // Width mismatch.
  const auto x40 = q::quantize_activations(d.X.data(), 2, 40, 4, 8);
  EXPECT_THROW(q::linear_int(x40, w), sm::Error);
  // A 4-bit activation code outside -8..7.
  auto xb = x;
  xb.codes[5] = 8;
  EXPECT_THROW(q::linear_int(xb, w), sm::Error);
  xb.codes[5] = -8;  // allowed: within the bound
  EXPECT_NO_THROW(q::linear_int(xb, w));
  // A Pow2Sum gap outside 1..7.
  auto wb = w;
  wb.s2[1] = int16_t(wb.s1[1] - 8);
  EXPECT_THROW(q::linear_int(x, wb), sm::Error);
  wb.s2[1] = wb.s1[1];
  EXPECT_THROW(q::linear_int(x, wb), sm::Error);
  // Truncated arrays.
  auto wt = w;
  wt.codes.pop_back();
  EXPECT_THROW(q::linear_int(x, wt), sm::Error);
  // ldy too small.
  std::vector<float> y(100);
  EXPECT_THROW(q::linear_int(x, w, y.data(), 3), sm::Error);
}

TEST(LinearInt, HugeOutlierFloatPathWorksFixedPointRefuses) {
  std::vector<float> xv(16, 1.0f), wv(4 * 16, 0.5f);
  xv[2] = 1e30f;
  const auto x = q::quantize_activations(xv.data(), 1, 16, 4, 8);
  const auto wf = q::quantize_weights(wv.data(), 4, 16, 4, 16, ScaleKind::Float);
  const auto y = q::linear_int(x, wf);
  // Activation codes: outlier 6 (exp 97), the rest of its group 0, the other
  // group 7 (exp -3); weight codes all 7. Blocks of 8, double, in order.
  const double s = wf.scales[0];
  const double want = double(7 * 6) * std::ldexp(s, 97) + double(8 * 7 * 7) * std::ldexp(s, -3);
  EXPECT_EQ(y[0], float(want));
  const auto wp = q::quantize_weights(wv.data(), 4, 16, 4, 16, ScaleKind::Pow2Sum);
  EXPECT_THROW(q::linear_int(x, wp), sm::Error);  // |y| far beyond 2^31: documented refusal
  // Float range overflow is an error too, not inf.
  std::vector<float> big(16, FLT_MAX);
  const auto xb = q::quantize_activations(big.data(), 1, 16, 8, 8);
  const auto wbig = q::quantize_weights(big.data(), 1, 16, 8, 16, ScaleKind::Float);
  EXPECT_THROW(q::linear_int(xb, wbig), sm::Error);
}

TEST(LinearInt, ZeroInputsGiveZero) {
  std::vector<float> z(3 * 64, 0.0f);
  const Data d = random_data(5, 64, 3, 8);
  for (auto kind : {ScaleKind::Float, ScaleKind::Pow2Sum}) {
    const auto w = q::quantize_weights(d.W.data(), 5, 64, 8, 32, kind);
    const auto x = q::quantize_activations(z.data(), 3, 64, 8, 8);
    for (float v : q::linear_int(x, w)) EXPECT_EQ(std::bit_cast<uint32_t>(v), 0u);  // +0
  }
}

TEST(LinearInt, DeterministicAcrossRunsAndThreads) {
  const Data d = random_data(24, 256, 6, 1234);
  for (auto kind : {ScaleKind::Float, ScaleKind::Pow2Sum}) {
    const auto w = q::quantize_weights(d.W.data(), 24, 256, 4, 32, kind);
    const auto x = q::quantize_activations(d.X.data(), 6, 256, 4, 8);
    const auto y0 = q::linear_int(x, w);
    EXPECT_TRUE(same_bits(y0, q::linear_int(x, w)));
    // Re-quantizing gives the same codes, so the same bits.
    const auto w2 = q::quantize_weights(d.W.data(), 24, 256, 4, 32, kind);
    const auto x2 = q::quantize_activations(d.X.data(), 6, 256, 4, 8);
    EXPECT_EQ(w2.codes, w.codes);
    EXPECT_TRUE(same_bits(y0, q::linear_int(x2, w2)));
    // No shared state: concurrent calls agree.
    std::vector<float> ya, yb;
    std::thread ta([&] { ya = q::linear_int(x, w); });
    std::thread tb([&] { yb = q::linear_int(x, w); });
    ta.join();
    tb.join();
    EXPECT_TRUE(same_bits(y0, ya));
    EXPECT_TRUE(same_bits(y0, yb));
    // Row t of a batch equals the same row alone (no cross-row state).
    const auto x1 = q::quantize_activations(d.X.data() + 3 * 256, 1, 256, 4, 8);
    const auto y1 = q::linear_int(x1, w);
    EXPECT_EQ(std::memcmp(y1.data(), y0.data() + 3 * 24, 24 * sizeof(float)), 0);
  }
}

}  // namespace
