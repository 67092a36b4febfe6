// SPDX-License-Identifier: Apache-2.0
// sm_conv_silu (accel/hls/conv_silu.cpp) against sm::conv_silu_row, bit for
// bit, on every SIMD target. conv_silu_row's multiply-adds are fused on the
// AVX targets and not on SSE4 / scalar, so the HLS datapath's two forms
// (conv.h, kFused) are each checked against the targets they claim, the
// kernel (fused) against the AVX targets, and the two forms are shown to
// differ on these inputs (otherwise the per-target checks would prove nothing).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "accel/hls/conv.h"
#include "accel/hls/top.h"
#include "core/kernels/simd.h"
#include "core/kernels/ssm_kernels.h"
#include "tests/core/simd_test_support.h"

namespace {

namespace cv = sm::hls_kernels::conv;

struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uni() { return double(next() >> 11) * 0x1p-53; }
  int64_t below(int64_t n) { return int64_t(next() % uint64_t(n)); }
  float gauss(double sd) { return float((uni() + uni() + uni() + uni() - 2.0) * 1.7320508075688772 * sd); }
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct ConvCase {
  int32_t C, K, c0, c1;
  bool bias;
  std::vector<float> win, wT, b;
};

// Values from tiny to large (the SiLU tails, exp's clamps at -87.3 / 88),
// zeros and -0.0 mixed in.
ConvCase make_case(Rng& r, int32_t C, int32_t K, int32_t c0, int32_t c1, bool bias) {
  ConvCase c{C, K, c0, c1, bias, {}, {}, {}};
  static const double kScale[] = {1e-3, 0.3, 1.0, 3.0, 30.0, 200.0};
  const double sd = kScale[r.below(6)];
  auto val = [&](double s) {
    const int64_t k = r.below(40);
    if (k == 0) return 0.0f;
    if (k == 1) return -0.0f;
    if (k == 2) return r.gauss(s * 1000.0);
    return r.gauss(s);
  };
  for (int32_t i = 0; i < K * C; ++i) c.win.push_back(val(sd));
  for (int32_t i = 0; i < K * C; ++i) c.wT.push_back(val(0.5));
  for (int32_t i = 0; i < C; ++i) c.b.push_back(val(0.5));
  return c;
}

// conv_silu_row on the current dispatch target; o starts as a sentinel so
// untouched channels compare too.
std::vector<float> run_core(const ConvCase& c) {
  std::vector<const float*> ext;
  for (int32_t k = 0; k < c.K; ++k) ext.push_back(c.win.data() + int64_t(k) * c.C);
  std::vector<float> o(size_t(c.C), 7.5f);
  sm::conv_silu_row(ext.data(), c.K, c.wT.data(), c.C, c.bias ? c.b.data() : nullptr, o.data(), c.c0, c.c1);
  return o;
}

std::vector<float> run_kernel(const ConvCase& c) {
  std::vector<float> o(size_t(c.C), 7.5f);
  sm_conv_silu(c.win.data(), c.wT.data(), c.bias ? c.b.data() : nullptr, o.data(), c.C, c.K, c.c0, c.c1,
               c.bias ? 1 : 0);
  return o;
}

template <bool kFused>
std::vector<float> run_form(const ConvCase& c) {
  std::vector<float> o(size_t(c.C), 7.5f);
  cv::conv_silu_rows(kFused, c.win.data(), c.wT.data(), c.bias ? c.b.data() : nullptr, o.data(), c.C, c.K, c.c0,
                             c.c1, c.bias);
  return o;
}

bool target_has_fma() { return sm::simd::target_name().rfind("AVX", 0) == 0; }

class HlsConv : public sm::test::PerSimdTarget {};

TEST_P(HlsConv, MatchesConvSiluRowBitForBit) {
  Rng r{0x5eed0001ull + uint64_t(GetParam())};
  const bool fma = target_has_fma();
  int forms_differ = 0;
  // Shipped shapes (target / draft xBC width, K = 4), odd widths, chunk
  // boundaries (512), sub-ranges, every K, with and without bias.
  struct Shape {
    int32_t C, K;
  };
  const Shape shapes[] = {{448, 4}, {192, 4}, {1, 1}, {7, 2}, {33, 3}, {513, 4}, {1100, 8}, {16, 5}, {64, 6}, {5376, 4}};
  for (const Shape& s : shapes) {
    for (int rep = 0; rep < 6; ++rep) {
      int32_t c0 = 0, c1 = s.C;
      if (rep >= 2) {
        c0 = int32_t(r.below(s.C));
        c1 = c0 + 1 + int32_t(r.below(s.C - c0));
      }
      const ConvCase c = make_case(r, s.C, s.K, c0, c1, rep % 2 == 0);
      const std::vector<float> core = run_core(c), kern = run_kernel(c);
      const std::vector<float> fused = run_form<true>(c), plain = run_form<false>(c);
      const std::string what = "C " + std::to_string(s.C) + " K " + std::to_string(s.K) + " [" +
                               std::to_string(c0) + ", " + std::to_string(c1) + ") bias " + std::to_string(c.bias);
      EXPECT_TRUE(same_bits(kern, fused)) << what;
      EXPECT_TRUE(same_bits(fma ? fused : plain, core)) << what << " on " << sm::simd::target_name();
      forms_differ += !same_bits(fused, plain);
      // Channels outside [c0, c1) are never written.
      for (int32_t i = 0; i < s.C; ++i) {
        if (i < c0 || i >= c1) {
          ASSERT_EQ(kern[size_t(i)], 7.5f) << what;
        }
      }
    }
  }
  EXPECT_GT(forms_differ, 10) << "the fused and unfused forms should differ on these inputs";
}

TEST_P(HlsConv, SiluTailsAndSpecialValues) {
  // One channel per value, K = 1, weight 1, no bias: the accumulator is the
  // value itself, so this sweeps exp_fast's clamps and SiLU's tails.
  std::vector<float> vals = {0.0f, -0.0f, 1e-45f, -1e-45f, 1e-38f, 0.5f, -0.5f, 20.0f, -20.0f, 87.2f, -87.2f,
                             87.4f, -87.4f, 88.0f, -88.0f, 88.5f, -88.5f, 100.0f, -100.0f, 1e30f, -1e30f,
                             3.4e38f, -3.4e38f, INFINITY, -INFINITY};
  for (int i = -2000; i <= 2000; ++i) vals.push_back(float(i) * 0.0137f);
  ConvCase c{int32_t(vals.size()), 1, 0, int32_t(vals.size()), false, vals,
             std::vector<float>(vals.size(), 1.0f), {}};
  const std::vector<float> core = run_core(c), kern = run_kernel(c);
  EXPECT_TRUE(same_bits(target_has_fma() ? run_form<true>(c) : run_form<false>(c), core));
  EXPECT_TRUE(same_bits(kern, run_form<true>(c)));
  // Sanity of the values themselves (not only agreement).
  EXPECT_EQ(kern[0], 0.0f);
  EXPECT_NEAR(kern[5], 0.5f / (1.0f + std::exp(-0.5f)), 1e-6f);
  EXPECT_NEAR(kern[8], -20.0f / (1.0f + std::exp(20.0f)), 1e-10f);
  EXPECT_EQ(kern[23], INFINITY);
}

SM_INSTANTIATE_PER_SIMD_TARGET(HlsConv);

TEST(HlsConvContract, OutOfContractWritesNothing) {
  Rng r{99};
  const ConvCase c = make_case(r, 40, 4, 0, 40, true);
  for (auto [K, c0, c1] : {std::tuple{0, 0, 40}, {9, 0, 40}, {4, -1, 40}, {4, 0, 41}, {4, 10, 10}, {4, 20, 10}}) {
    std::vector<float> o(40, 7.5f);
    sm_conv_silu(c.win.data(), c.wT.data(), c.b.data(), o.data(), 40, K, c0, c1, 1);
    for (float v : o) ASSERT_EQ(v, 7.5f) << K << " " << c0 << " " << c1;
  }
  // has_bias = 0 ignores the bias pointer; the result equals a zero bias.
  std::vector<float> o1(40), o2(40);
  const std::vector<float> zero(40, 0.0f);
  sm_conv_silu(c.win.data(), c.wT.data(), c.b.data(), o1.data(), 40, 4, 0, 40, 0);
  sm_conv_silu(c.win.data(), c.wT.data(), zero.data(), o2.data(), 40, 4, 0, 40, 1);
  EXPECT_TRUE(same_bits(o1, o2));
}

}  // namespace
