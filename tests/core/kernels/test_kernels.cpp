// SPDX-License-Identifier: Apache-2.0
// Dense and element-wise kernels against plain double-precision loops.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <random>

#include "core/kernels/math_kernels.h"
#include "core/kernels/packed_matrix.h"
#include "core/kernels/ssm_kernels.h"
#include "core/kernels/thread_pool.h"

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

TEST(Kernels, PackedLinearMatchesReference) {
  std::mt19937 g(5);
  sm::ThreadPool pool2(2);
  for (int64_t T : {1, 2, 3, 4, 7, 8, 9, 17, 70, 130}) {
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
TEST(Kernels, ScansMatchDoubleReference) {
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

}  // namespace
