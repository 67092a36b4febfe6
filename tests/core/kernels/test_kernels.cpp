// SPDX-License-Identifier: Apache-2.0
// Dense and element-wise kernels against plain double-precision loops, and
// the property the speculative engine relies on: on every SIMD target, a
// row's result is bit-identical whichever path computes it (T = 1 or a
// batch, one thread or two, a whole range or pieces of it, any alignment).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <array>
#include <cstring>
#include <cmath>
#include <random>

#include "core/kernels/math_kernels.h"
#include "core/kernels/packed_matrix.h"
#include "core/kernels/ssm_kernels.h"
#include "core/kernels/thread_pool.h"
#include "core/kernels/vector_ops.h"
#include "core/io/error.h"
#include "tests/core/simd_test_support.h"

namespace {

std::vector<float> randv(size_t n, std::mt19937& g) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

TEST(Kernels, FastExpIsAccurate) {
  double worst = 0.0;
  for (float x = -80.0f; x < 80.0f; x += 0.01f) {
    const double want = std::exp(double(x));
    worst = std::max(worst, std::abs(sm::exp_fast(x) - want) / want);
  }
  EXPECT_LT(worst, 5e-7);
  EXPECT_LT(sm::exp_fast(-1000.0f), 1e-37f);
  EXPECT_TRUE(std::isfinite(sm::exp_fast(1000.0f)));
}

TEST(Kernels, SoftplusAndSilu) {
  for (float x : {-30.0f, -2.0f, 0.0f, 0.5f, 19.0f, 25.0f}) {
    EXPECT_NEAR(sm::softplus(x), std::log1p(std::exp(double(x))), 1e-6 * std::max(1.0f, x));
    EXPECT_NEAR(sm::silu(x), x / (1.0 + std::exp(-double(x))), 1e-6 * std::max(1.0f, std::abs(x)));
  }
}

TEST(Kernels, ThreadPoolCoversRangeExactlyOnce) {
  sm::ThreadPool pool(3);
  for (int64_t n : {1, 2, 7, 100, 1001}) {
    std::vector<std::atomic<int>> hits(n);
    for (int rep = 0; rep < 50; ++rep)
      pool.parallel_for(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[i]++;
      }, 4);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 50);
  }
}

}  // namespace

namespace {

class KernelsPerTarget : public sm::test::PerSimdTarget {};
SM_INSTANTIATE_PER_SIMD_TARGET(KernelsPerTarget);

TEST_P(KernelsPerTarget, PackedLinearMatchesReference) {
  std::mt19937 g(5);
  sm::ThreadPool pool2(2);
  for (int64_t T : {1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 70, 130}) {
    for (auto [in, out] : {std::pair<int64_t, int64_t>{768, 200}, {37, 130}, {16, 1}, {5, 333}}) {
      auto x = randv(T * in, g), W = randv(out * in, g), b = randv(out, g);
      const sm::PackedMatrix P = sm::PackedMatrix::pack(W.data(), out, in);
      const int64_t ldy = out + 3;  // outputs land in a wider row, as in the model's buffers
      std::vector<float> y1(T * ldy, -7.0f), y2(T * ldy, -7.0f);
      sm::packed_linear(x.data(), T, P, b.data(), y1.data(), ldy, nullptr);
      sm::packed_linear(x.data(), T, P, nullptr, y2.data(), ldy, &pool2);
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t o = 0; o < out; ++o) {
          double s = 0.0;
          for (int64_t i = 0; i < in; ++i) s += double(x[t * in + i]) * W[o * in + i];
          const double tol = 1e-4 * std::sqrt(double(in)) + 1e-5;
          ASSERT_NEAR(y1[t * ldy + o], s + b[o], tol) << "T=" << T << " in=" << in << " out=" << out;
          ASSERT_NEAR(y2[t * ldy + o], s, tol) << "T=" << T << " in=" << in << " out=" << out;
        }
        for (int64_t o = out; o < ldy; ++o) ASSERT_EQ(y1[t * ldy + o], -7.0f) << "wrote past out";
      }
    }
  }
}

}  // namespace

namespace {

// Both scans against a double-precision recurrence, at widths that take the
// vectorised paths (N, P multiples of 16) and widths that do not.
TEST_P(KernelsPerTarget, ScansMatchDoubleReference) {
  std::mt19937 g(9);
  for (auto [H, P, N, G] : {std::array<int64_t, 4>{4, 32, 32, 2}, {3, 8, 16, 1}, {2, 16, 48, 1}, {2, 5, 7, 1}}) {
    const int64_t T = 5, E = H * P, W = E + 2 * G * N;
    auto xbc = randv(T * W, g), dt = randv(T * H, g), A = randv(H, g), D = randv(H, g);
    for (auto& v : dt) v = std::abs(v) * 0.1f;
    for (auto& v : A) v = -std::abs(v);
    std::vector<float> S(H * P * N, 0.0f), y(T * E);
    std::vector<double> Sr(H * P * N, 0.0);
    sm::scan_mamba2(T, H, P, N, G, xbc.data(), W, dt.data(), A.data(), D.data(), S.data(), y.data(), 0, H);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t gg = h / (H / G);
        const double d = dt[t * H + h], dA = std::exp(d * A[h]);
        for (int64_t p = 0; p < P; ++p) {
          double acc = 0.0;
          const double xv = xbc[t * W + h * P + p];
          for (int64_t n = 0; n < N; ++n) {
            double& s = Sr[(h * P + p) * N + n];
            s = s * dA + d * xv * xbc[t * W + E + gg * N + n];
            acc += s * xbc[t * W + E + G * N + gg * N + n];
          }
          ASSERT_NEAR(y[t * E + h * P + p], acc + D[h] * xv, 1e-4 * (1 + std::abs(acc))) << H << "x" << P << "x" << N;
        }
      }
    for (size_t i = 0; i < S.size(); ++i) ASSERT_NEAR(S[i], Sr[i], 1e-4 * (1 + std::abs(Sr[i])));
  }
  for (int64_t N : {16, 8}) {
    const int64_t T = 4, E = 21;
    auto x = randv(T * E, g), dt = randv(T * E, g), bc = randv(T * 2 * N, g), A = randv(E * N, g), D = randv(E, g);
    for (auto& v : dt) v = std::abs(v) * 0.1f;
    for (auto& v : A) v = -std::abs(v);
    std::vector<float> S(E * N, 0.0f), y(T * E);
    std::vector<double> Sr(E * N, 0.0);
    sm::scan_mamba1(T, E, N, x.data(), dt.data(), bc.data(), 2 * N, 0, N, A.data(), D.data(), S.data(), y.data(), 0, E);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t e = 0; e < E; ++e) {
        double acc = 0.0;
        const double d = dt[t * E + e], xv = x[t * E + e];
        for (int64_t n = 0; n < N; ++n) {
          double& s = Sr[e * N + n];
          s = s * std::exp(d * A[e * N + n]) + d * xv * bc[t * 2 * N + n];
          acc += s * bc[t * 2 * N + N + n];
        }
        ASSERT_NEAR(y[t * E + e], acc + D[e] * xv, 1e-4 * (1 + std::abs(acc))) << "N=" << N;
      }
  }
}


bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST_P(KernelsPerTarget, PackedLinearRowsAreBitIdenticalAtAnyBatchSizeAndThreadCount) {
  std::mt19937 g(21);
  sm::ThreadPool pool2(2);
  for (auto [in, out] : {std::pair<int64_t, int64_t>{192, 844}, {384, 192}, {37, 130}, {768, 1000}}) {
    auto W = randv(out * in, g), b = randv(out, g);
    const sm::PackedMatrix P = sm::PackedMatrix::pack(W.data(), out, in);
    for (int64_t T : {2, 3, 4, 5, 6, 7, 8, 9, 13, 64, 67}) {
      auto x = randv(T * in, g);
      std::vector<float> batch(T * out), threaded(T * out);
      sm::packed_linear(x.data(), T, P, b.data(), batch.data(), out, nullptr);
      sm::packed_linear(x.data(), T, P, b.data(), threaded.data(), out, &pool2);
      ASSERT_TRUE(same_bits(batch, threaded)) << "T=" << T << " " << in << "x" << out;
      for (int64_t t = 0; t < T; ++t) {
        std::vector<float> one(out), row(batch.begin() + t * out, batch.begin() + (t + 1) * out);
        sm::packed_linear(x.data() + t * in, 1, P, b.data(), one.data(), out, nullptr);
        ASSERT_TRUE(same_bits(one, row)) << "row " << t << " of T=" << T << " " << in << "x" << out;
      }
    }
  }
}

TEST_P(KernelsPerTarget, ScansStepByStepEqualTheChunkedScanAndAnyChannelSplit) {
  std::mt19937 g(22);
  // Mamba-2: (H, P, N, G) incl. the shipped target's (12, 32, 32, 1) and odd widths.
  for (auto [H, P, N, G] : {std::array<int64_t, 4>{12, 32, 32, 1}, {4, 64, 128, 2}, {3, 5, 7, 1}}) {
    const int64_t T = 6, E = H * P, W = E + 2 * G * N;
    auto xbc = randv(T * W, g), dt = randv(T * H, g), A = randv(H, g), D = randv(H, g);
    for (auto& v : dt) v = std::abs(v) * 0.1f;
    for (auto& v : A) v = -std::abs(v);
    auto S0 = randv(H * P * N, g);
    std::vector<float> Sa = S0, Sb = S0, Sc = S0, ya(T * E), yb(T * E), yc(T * E);
    sm::scan_mamba2(T, H, P, N, G, xbc.data(), W, dt.data(), A.data(), D.data(), Sa.data(), ya.data(), 0, H);
    for (int64_t t = 0; t < T; ++t)
      sm::scan_mamba2(1, H, P, N, G, xbc.data() + t * W, W, dt.data() + t * H, A.data(), D.data(),
                      Sb.data(), yb.data() + t * E, 0, H);
    sm::scan_mamba2(T, H, P, N, G, xbc.data(), W, dt.data(), A.data(), D.data(), Sc.data(), yc.data(), 0, 1);
    sm::scan_mamba2(T, H, P, N, G, xbc.data(), W, dt.data(), A.data(), D.data(), Sc.data(), yc.data(), 1, H);
    ASSERT_TRUE(same_bits(Sa, Sb) && same_bits(ya, yb)) << "mamba2 steps " << H << "x" << P << "x" << N;
    ASSERT_TRUE(same_bits(Sa, Sc) && same_bits(ya, yc)) << "mamba2 split " << H << "x" << P << "x" << N;
  }
  for (int64_t N : {16, 12}) {
    const int64_t T = 5, E = 23;
    auto x = randv(T * E, g), dt = randv(T * E, g), bc = randv(T * 2 * N, g), A = randv(E * N, g), D = randv(E, g);
    for (auto& v : dt) v = std::abs(v) * 0.1f;
    for (auto& v : A) v = -std::abs(v);
    auto S0 = randv(E * N, g);
    std::vector<float> Sa = S0, Sb = S0, Sc = S0, ya(T * E), yb(T * E), yc(T * E);
    sm::scan_mamba1(T, E, N, x.data(), dt.data(), bc.data(), 2 * N, 0, N, A.data(), D.data(), Sa.data(), ya.data(), 0, E);
    for (int64_t t = 0; t < T; ++t)
      sm::scan_mamba1(1, E, N, x.data() + t * E, dt.data() + t * E, bc.data() + t * 2 * N, 2 * N, 0, N,
                      A.data(), D.data(), Sb.data(), yb.data() + t * E, 0, E);
    // A split at 7 puts channels in different interleave groups.
    sm::scan_mamba1(T, E, N, x.data(), dt.data(), bc.data(), 2 * N, 0, N, A.data(), D.data(), Sc.data(), yc.data(), 0, 7);
    sm::scan_mamba1(T, E, N, x.data(), dt.data(), bc.data(), 2 * N, 0, N, A.data(), D.data(), Sc.data(), yc.data(), 7, E);
    ASSERT_TRUE(same_bits(Sa, Sb) && same_bits(ya, yb)) << "mamba1 steps N=" << N;
    ASSERT_TRUE(same_bits(Sa, Sc) && same_bits(ya, yc)) << "mamba1 split N=" << N;
  }
}

// Element-wise results must not depend on where an element sits (vector body
// or tail) or on the row's alignment; rms_norm only on the row's values.
TEST_P(KernelsPerTarget, ElementKernelsDoNotDependOnPositionOrAlignment) {
  std::mt19937 g(23);
  const int64_t n = 203;
  auto z = randv(n + 8, g), x = randv(n + 8, g), w = randv(n + 8, g);
  for (int64_t off : {1, 3, 5}) {
    std::vector<float> a(n), b(n - off);
    std::vector<float> ya(x.begin(), x.begin() + n), yb(x.begin() + off, x.begin() + n);
    sm::mul_silu(ya.data(), z.data(), n);
    sm::mul_silu(yb.data(), z.data() + off, n - off);
    ASSERT_EQ(0, std::memcmp(ya.data() + off, yb.data(), (n - off) * 4)) << "mul_silu off " << off;
    sm::silu_times(z.data(), x.data(), a.data(), n);
    sm::silu_times(z.data() + off, x.data() + off, b.data(), n - off);
    ASSERT_EQ(0, std::memcmp(a.data() + off, b.data(), (n - off) * 4)) << "silu_times off " << off;
    sm::softplus_clamp(z.data(), w.data(), a.data(), n, 1e-3f, 5.0f);
    sm::softplus_clamp(z.data() + off, w.data() + off, b.data(), n - off, 1e-3f, 5.0f);
    ASSERT_EQ(0, std::memcmp(a.data() + off, b.data(), (n - off) * 4)) << "softplus off " << off;
    // The same row at another alignment: identical bits.
    std::vector<float> shifted(n + off), ra(n), rb(n), ws(n + off);
    std::copy(x.begin(), x.begin() + n, shifted.begin() + off);
    std::copy(w.begin(), w.begin() + n, ws.begin() + off);
    sm::rms_norm(x.data(), w.data(), ra.data(), n, 1e-5f);
    sm::rms_norm(shifted.data() + off, ws.data() + off, rb.data(), n, 1e-5f);
    ASSERT_TRUE(same_bits(ra, rb)) << "rms_norm off " << off;
  }
}

TEST_P(KernelsPerTarget, ElementKernelsMatchDoubleReference) {
  std::mt19937 g(24);
  const int64_t n = 1000;
  auto z = randv(n, g), x = randv(n, g), w = randv(n, g);
  for (int64_t i = 0; i < n; ++i) z[i] *= 12.0f;  // reach softplus' threshold and exp's tails
  std::vector<float> y(n, 1.0f), sp(n), rn(n);
  sm::mul_silu(y.data(), z.data(), n);
  sm::softplus_clamp(z.data(), nullptr, sp.data(), n, -1e30f, 1e30f);
  sm::rms_norm(x.data(), w.data(), rn.data(), n, 1e-5f);
  double ss = 0.0;
  for (float v : x) ss += double(v) * v;
  const double scale = 1.0 / std::sqrt(ss / n + 1e-5);
  for (int64_t i = 0; i < n; ++i) {
    const double zi = z[i];
    ASSERT_NEAR(y[i], zi / (1.0 + std::exp(-zi)), 2e-6 * std::max(1.0, std::abs(zi))) << zi;
    const double want_sp = zi > 20 ? zi : std::log1p(std::exp(zi));
    ASSERT_NEAR(sp[i], want_sp, 2e-6 * std::max(1.0, want_sp)) << zi;
    ASSERT_NEAR(rn[i], x[i] * scale * w[i], 1e-5 * std::max(1.0, std::abs(x[i] * scale * w[i])));
  }
}

TEST_P(KernelsPerTarget, ConvOverChannelPiecesEqualsWholeRange) {
  std::mt19937 g(25);
  const int64_t C = 77, T = 3;
  const int K = 4;
  auto in = randv(T * C, g), wT = randv(K * C, g), b = randv(C, g), win0 = randv((K - 1) * C, g);
  std::vector<float> wa = win0, wb = win0, oa(T * C), ob(T * C);
  sm::causal_conv_silu(in.data(), C, T, C, K, wT.data(), b.data(), wa.data(), oa.data(), 0, C);
  sm::causal_conv_silu(in.data(), C, T, C, K, wT.data(), b.data(), wb.data(), ob.data(), 0, 13);
  sm::causal_conv_silu(in.data(), C, T, C, K, wT.data(), b.data(), wb.data(), ob.data(), 13, C);
  ASSERT_TRUE(same_bits(oa, ob) && same_bits(wa, wb));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c) {
      double acc = b[c];
      for (int k = 0; k < K; ++k) {
        const int64_t r = t + k;  // row of window ++ input
        const double e = r < K - 1 ? win0[r * C + c] : in[(r - (K - 1)) * C + c];
        acc += double(wT[k * C + c]) * e;
      }
      ASSERT_NEAR(oa[t * C + c], acc / (1.0 + std::exp(-acc)), 1e-5 * std::max(1.0, std::abs(acc)));
    }
}

TEST(SimdDispatch, LevelsAreCheckedAndCapTheTarget) {
  // This test sets and clears the cap itself; an environment cap (applied by
  // the first dispatch) would stand in for "no cap" and fail the comparisons.
  if (const char* cap = std::getenv("SPECMAMBA_SIMD"); cap && *cap) GTEST_SKIP() << "SPECMAMBA_SIMD is set: the test needs the uncapped target";
  const std::string best = sm::simd::target_name();
  EXPECT_THROW(sm::simd::cap_target("avx9000"), sm::Error);
  try {
    sm::simd::cap_target("avx9000");
  } catch (const sm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("avx512|avx2|sse4|scalar"), std::string::npos) << e.what();
  }
  const auto targets = sm::simd::available_targets();
  const bool has_scalar = std::any_of(targets.begin(), targets.end(), [](const auto& t) {
    return t.name == "SCALAR" || t.name == "EMU128";
  });
  if (has_scalar) {  // a -march=native build has no targets below its baseline
    sm::simd::cap_target("scalar");
    EXPECT_TRUE(sm::simd::target_name() == "SCALAR" || sm::simd::target_name() == "EMU128")
        << sm::simd::target_name();
  } else {
    EXPECT_THROW(sm::simd::cap_target("scalar"), sm::Error);
  }
  sm::simd::cap_target("");
  EXPECT_EQ(sm::simd::target_name(), best);
  // Every available target can be selected for a test, best first.
  ASSERT_FALSE(targets.empty());
  EXPECT_EQ(targets.front().name, best);
  for (const auto& t : targets) {
    sm::simd::ScopedTarget s(t.bits);
    EXPECT_EQ(sm::simd::target_name(), t.name);
  }
  EXPECT_EQ(sm::simd::target_name(), best);
}

}  // namespace
