// SPDX-License-Identifier: Apache-2.0
// Hadamard rotations: every base matrix is Hadamard, every supported width's
// H_n is orthonormal, the fast transform equals the dense product and the
// test's own element formula, transposes invert, float matches double and is
// bit-identical on every SIMD target, and unsupported widths fail by name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/io/error.h"
#include "core/kernels/simd.h"
#include "core/quant/hadamard.h"

namespace {

using namespace sm::quant;

std::vector<int64_t> dense_widths() {
  std::vector<int64_t> w;
  for (int64_t n = 1; n <= 2048; n *= 2) w.push_back(n);
  for (int64_t n : {12, 20, 24, 28, 36, 40, 44, 52, 56, 60, 80, 104, 108, 140, 148, 192, 296, 384, 768, 1536, 2560})
    w.push_back(n);
  return w;
}

std::vector<int64_t> large_widths() { return {4096, 5120, 8192, 10240, 3072 * 2}; }

std::vector<double> randn(int64_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<double> d(0.0, 1.0);
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(g);
  return v;
}

std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Element (i, j) of H_n from the documented definition, written here from
// hadamard_base() alone: H_K[a][c] * (-1)^popcount(b & d) / sqrt(n) for
// i = a * m + b, j = c * m + d, m = n / K.
double element(const std::vector<int8_t>& hk, int64_t K, int64_t n, int64_t i, int64_t j) {
  const int64_t m = n / K, a = i / m, b = i % m, c = j / m, d = j % m;
  int bits = 0;
  for (int64_t t = b & d; t; t &= t - 1) ++bits;
  const int s = hk[a * K + c] * ((bits & 1) ? -1 : 1);
  return s / std::sqrt(static_cast<double>(n));
}

TEST(Hadamard, IsPow2) {
  EXPECT_TRUE(is_pow2(1));
  EXPECT_TRUE(is_pow2(2));
  EXPECT_TRUE(is_pow2(8192));
  EXPECT_TRUE(is_pow2(int64_t{1} << 40));
  EXPECT_FALSE(is_pow2(0));
  EXPECT_FALSE(is_pow2(-4));
  EXPECT_FALSE(is_pow2(12));
  EXPECT_FALSE(is_pow2(8191));
}

TEST(Hadamard, KChoiceFollowsQuaRot) {
  EXPECT_EQ(hadamard_k(192), 12);
  EXPECT_EQ(hadamard_k(384), 12);
  EXPECT_EQ(hadamard_k(768), 12);
  EXPECT_EQ(hadamard_k(1536), 12);
  EXPECT_EQ(hadamard_k(2560), 40);  // QuaRot tries 40 before 20
  EXPECT_EQ(hadamard_k(5120), 40);
  EXPECT_EQ(hadamard_k(20), 20);
  EXPECT_EQ(hadamard_k(28 * 64), 28);
  EXPECT_EQ(hadamard_k(36), 36);
  EXPECT_EQ(hadamard_k(44 * 2), 44);
  EXPECT_EQ(hadamard_k(148 * 4), 148);
  for (int64_t n = 1; n <= 8192; n *= 2) EXPECT_EQ(hadamard_k(n), 1) << n;
  for (int64_t n : {0, -12, 3, 6, 7, 9, 100, 156, 172 * 8, 2559, 12 * 7})
    EXPECT_EQ(hadamard_k(n), 0) << n;
}

TEST(Hadamard, BaseMatricesAreHadamard) {
  const std::vector<int> want = {12, 20, 28, 36, 40, 44, 52, 60, 108, 140, 148};
  ASSERT_EQ(hadamard_base_sizes(), want);
  EXPECT_EQ(hadamard_base(1), std::vector<int8_t>{1});
  for (int K : want) {
    const auto h = hadamard_base(K);
    ASSERT_EQ(h.size(), static_cast<size_t>(K) * K);
    for (int8_t v : h) ASSERT_TRUE(v == 1 || v == -1) << K;
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < K; ++j) {
        int s = 0;
        for (int c = 0; c < K; ++c) s += h[i * K + c] * h[j * K + c];
        ASSERT_EQ(s, i == j ? K : 0) << "K=" << K << " rows " << i << ", " << j;
      }
  }
}

TEST(Hadamard, H12MatchesPaleyByHand) {
  // Paley I over GF(11), squares {1, 3, 4, 5, 9}: H = I + [[0, 1ᵀ], [-1, Q]]
  // with Q[a][b] = chi(a - b); row a+1 of Q is the row "+-+---+++-+" (the
  // diagonal set to +) rotated right by a.
  const char* rows[12] = {
      "++++++++++++", "-+-+---+++-+", "-++-+---+++-", "--++-+---+++", "-+-++-+---++", "-++-++-+---+",
      "-+++-++-+---", "--+++-++-+--", "---+++-++-+-", "----+++-++-+", "-+---+++-++-", "--+---+++-++",
  };
  const auto h = hadamard_base(12);
  for (int i = 0; i < 12; ++i)
    for (int j = 0; j < 12; ++j)
      EXPECT_EQ(h[i * 12 + j], rows[i][j] == '+' ? 1 : -1) << "row " << i << " col " << j;
  // The typed matrix is itself Hadamard (guards the golden data).
  for (int i = 0; i < 12; ++i)
    for (int j = 0; j < 12; ++j) {
      int s = 0;
      for (int c = 0; c < 12; ++c) s += (rows[i][c] == '+' ? 1 : -1) * (rows[j][c] == '+' ? 1 : -1);
      EXPECT_EQ(s, i == j ? 12 : 0);
    }
}

TEST(Hadamard, DenseMatricesAreOrthonormal) {
  for (int64_t n : dense_widths()) {
    SCOPED_TRACE("n=" + std::to_string(n));
    const auto h = hadamard_matrix(n);
    ASSERT_EQ(h.size(), static_cast<size_t>(n * n));
    // Every entry is ±1/sqrt(n); with the signs, H Hᵀ = I reduces to exact
    // integer row products (fast enough for n = 2560).
    const double s = std::sqrt(static_cast<double>(n));
    std::vector<int8_t> sign(h.size());
    for (size_t i = 0; i < h.size(); ++i) {
      ASSERT_NEAR(std::abs(h[i]) * s, 1.0, 1e-12);
      sign[i] = h[i] > 0 ? 1 : -1;
    }
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i; j < n; ++j) {
        const int8_t* a = sign.data() + i * n;
        const int8_t* b = sign.data() + j * n;
        int32_t acc = 0;
        for (int64_t c = 0; c < n; ++c) acc += a[c] * b[c];
        ASSERT_EQ(acc, i == j ? n : 0) << "rows " << i << ", " << j;
      }
    // And in floating point on a few row pairs, to the stated 1e-6.
    for (int64_t i = 0; i < n; i += std::max<int64_t>(1, n / 7))
      for (int64_t j = 0; j < n; j += std::max<int64_t>(1, n / 5)) {
        double acc = 0.0;
        for (int64_t c = 0; c < n; ++c) acc += h[i * n + c] * h[j * n + c];
        ASSERT_NEAR(acc, i == j ? 1.0 : 0.0, 1e-6);
      }
  }
}

TEST(Hadamard, DenseMatchesElementFormula) {
  for (int64_t n : {12, 40, 52, 192, 2560}) {
    const int K = hadamard_k(n);
    const auto hk = hadamard_base(K);
    const auto h = hadamard_matrix(n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) ASSERT_DOUBLE_EQ(h[i * n + j], element(hk, K, n, i, j)) << n << " " << i << " " << j;
  }
}

TEST(Hadamard, FastTransformEqualsDenseProduct) {
  for (int64_t n : dense_widths()) {
    SCOPED_TRACE("n=" + std::to_string(n));
    const auto h = hadamard_matrix(n);
    const auto x = randn(n, static_cast<uint32_t>(n));
    std::vector<double> want(n, 0.0), want_t(n, 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        want[i] += h[i * n + j] * x[j];
        want_t[i] += h[j * n + i] * x[j];
      }
    std::vector<double> y(n), yt(n);
    transform(x.data(), y.data(), n);
    transform_transposed(x.data(), yt.data(), n);
    const auto xf = to_float(x);
    std::vector<float> yf(n), ytf(n);
    transform(xf.data(), yf.data(), n);
    transform_transposed(xf.data(), ytf.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(y[i], want[i], 1e-10) << i;
      ASSERT_NEAR(yt[i], want_t[i], 1e-10) << i;
      ASSERT_NEAR(yf[i], want[i], 1e-5) << i;
      ASSERT_NEAR(ytf[i], want_t[i], 1e-5) << i;
    }
  }
}

TEST(Hadamard, LargeWidthsPreserveNormsAndInnerProducts) {
  for (int64_t n : large_widths()) {
    SCOPED_TRACE("n=" + std::to_string(n));
    ASSERT_NE(hadamard_k(n), 0);
    const auto x = randn(n, 1), z = randn(n, 2);
    std::vector<double> hx(n), hz(n);
    transform(x.data(), hx.data(), n);
    transform(z.data(), hz.data(), n);
    const double nx = dot(x, x), xz = dot(x, z);
    EXPECT_NEAR(dot(hx, hx) / nx, 1.0, 1e-12);
    EXPECT_NEAR((dot(hx, hz) - xz) / nx, 0.0, 1e-12);
    // Unit vectors go to orthonormal columns: H e_i and H e_j.
    for (int64_t i : {int64_t{0}, n / 3, n - 1}) {
      std::vector<double> ei(n, 0.0), ej(n, 0.0), ci(n), cj(n);
      ei[i] = 1.0;
      ej[(i + n / 2 + 1) % n] = 1.0;
      transform(ei.data(), ci.data(), n);
      transform(ej.data(), cj.data(), n);
      EXPECT_NEAR(dot(ci, ci), 1.0, 1e-12);
      EXPECT_NEAR(dot(ci, cj), 0.0, 1e-12);
    }
    // Float: norms and inner products to 1e-5, and sampled outputs against
    // the element formula.
    const auto xf = to_float(x), zf = to_float(z);
    std::vector<float> fx(n), fz(n);
    transform(xf.data(), fx.data(), n);
    transform(zf.data(), fz.data(), n);
    double ff = 0.0, fzd = 0.0;
    for (int64_t i = 0; i < n; ++i) ff += double(fx[i]) * fx[i], fzd += double(fx[i]) * fz[i];
    EXPECT_NEAR(ff / nx, 1.0, 1e-5);
    EXPECT_NEAR((fzd - xz) / nx, 0.0, 1e-5);
    const int K = hadamard_k(n);
    const auto hk = hadamard_base(K);
    for (int64_t i = 0; i < n; i += n / 61 + 1) {
      double want = 0.0;
      for (int64_t j = 0; j < n; ++j) want += element(hk, K, n, i, j) * x[j];
      ASSERT_NEAR(hx[i], want, 1e-9) << i;
      ASSERT_NEAR(fx[i], want, 1e-5) << i;
    }
  }
}

TEST(Hadamard, TransposeInvertsAndSymmetricCasesSelfInvert) {
  std::vector<int64_t> widths = dense_widths();
  for (int64_t n : large_widths()) widths.push_back(n);
  for (int64_t n : widths) {
    SCOPED_TRACE("n=" + std::to_string(n));
    const auto x = randn(n, 7);
    std::vector<double> y(n), back(n), back2(n), twice(n);
    transform(x.data(), y.data(), n);
    transform_transposed(y.data(), back.data(), n);
    transform_transposed(x.data(), back2.data(), n);
    transform(back2.data(), back2.data(), n);
    transform(y.data(), twice.data(), n);
    bool symmetric = true;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(back[i], x[i], 1e-10);
      ASSERT_NEAR(back2[i], x[i], 1e-10);
      symmetric = symmetric && std::abs(twice[i] - x[i]) < 1e-10;
    }
    // Symmetric exactly for K = 1 and the Paley II bases.
    const int K = hadamard_k(n);
    const bool want_symmetric = K == 1 || K == 28 || K == 36 || K == 52 || K == 148;
    EXPECT_EQ(symmetric, want_symmetric) << "K=" << K;
    if (n <= 256) {
      const auto h = hadamard_matrix(n);
      bool dense_symmetric = true;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) dense_symmetric = dense_symmetric && h[i * n + j] == h[j * n + i];
      EXPECT_EQ(dense_symmetric, want_symmetric);
    }
    const auto xf = to_float(x);
    std::vector<float> yf(n), bf(n);
    transform(xf.data(), yf.data(), n);
    transform_transposed(yf.data(), bf.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(bf[i], xf[i], 1e-5);
  }
}

TEST(Hadamard, FwhtIsTheNormalisedSylvesterTransform) {
  for (int64_t n = 1; n <= 8192; n *= 2) {
    const auto x = randn(n, 3);
    std::vector<double> d = x, t(n);
    fwht(d.data(), n);
    transform(x.data(), t.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(d[i], t[i]);
    fwht(d.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(d[i], x[i], 1e-12);
    std::vector<float> f = to_float(x), tf(n);
    transform(to_float(x).data(), tf.data(), n);
    fwht(f.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(f[i], tf[i]);
    fwht(f.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(f[i], x[i], 1e-5);
  }
  // A hand case: H_4 [1, 2, 3, 4] / 2 = [5, -1, -2, 0].
  double v[4] = {1, 2, 3, 4};
  fwht(v, 4);
  EXPECT_DOUBLE_EQ(v[0], 5.0);
  EXPECT_DOUBLE_EQ(v[1], -1.0);
  EXPECT_DOUBLE_EQ(v[2], -2.0);
  EXPECT_DOUBLE_EQ(v[3], 0.0);
}

TEST(Hadamard, RowsAndInPlaceMatchSingleRows) {
  const int64_t T = 5;
  for (int64_t n : {64, 192, 2560, 148}) {
    const auto xs = to_float(randn(T * n, 11));
    std::vector<float> batch(T * n), batch_t(T * n), inplace = xs;
    transform_rows(xs.data(), batch.data(), T, n);
    transform_transposed_rows(xs.data(), batch_t.data(), T, n);
    transform_rows(inplace.data(), inplace.data(), T, n);
    for (int64_t r = 0; r < T; ++r) {
      std::vector<float> one(n), one_t(n);
      transform(xs.data() + r * n, one.data(), n);
      transform_transposed(xs.data() + r * n, one_t.data(), n);
      ASSERT_EQ(std::memcmp(one.data(), batch.data() + r * n, n * sizeof(float)), 0);
      ASSERT_EQ(std::memcmp(one_t.data(), batch_t.data() + r * n, n * sizeof(float)), 0);
      ASSERT_EQ(std::memcmp(one.data(), inplace.data() + r * n, n * sizeof(float)), 0);
    }
    const auto xd = randn(T * n, 12);
    std::vector<double> bd(T * n);
    transform_rows(xd.data(), bd.data(), T, n);
    std::vector<double> od(n);
    transform(xd.data() + 2 * n, od.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(od[i], bd[2 * n + i]);
  }
  const auto xs = to_float(randn(3 * 256, 13));
  std::vector<float> rows = xs, one(256);
  fwht_rows(rows.data(), 3, 256);
  transform(xs.data() + 256, one.data(), 256);
  EXPECT_EQ(std::memcmp(one.data(), rows.data() + 256, 256 * sizeof(float)), 0);
  transform_rows(xs.data(), rows.data(), 0, 256);  // zero rows: nothing to do
}

TEST(Hadamard, FloatIsBitIdenticalOnEverySimdTarget) {
  const auto targets = sm::simd::available_targets();
  ASSERT_FALSE(targets.empty());
  for (int64_t n : {8, 12, 40, 192, 1024, 2560, 5120, 8192}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    // Unaligned start: results must not depend on where the row sits.
    std::vector<float> buf(n + 3);
    const auto x = to_float(randn(n, 5));
    std::copy(x.begin(), x.end(), buf.begin() + 3);
    std::vector<float> first;
    for (const auto& t : targets) {
      sm::simd::ScopedTarget scope(t.bits);
      std::vector<float> y(n), f(buf.begin() + 3, buf.end());
      transform(buf.data() + 3, y.data(), n);
      if (is_pow2(n)) {
        fwht(f.data(), n);
        ASSERT_EQ(std::memcmp(f.data(), y.data(), n * sizeof(float)), 0) << t.name;
      }
      if (first.empty()) first = y;
      else ASSERT_EQ(std::memcmp(first.data(), y.data(), n * sizeof(float)), 0) << t.name;
    }
  }
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const sm::Error& e) {
    return e.what();
  }
  return "";
}

TEST(Hadamard, UnsupportedWidthsFailNamingTheWidth) {
  std::vector<float> x(2000), y(2000);
  std::vector<double> xd(2000), yd(2000);
  for (int64_t n : {7, 3, 6, 156, 172, 1000}) {
    const std::string n_s = std::to_string(n);
    EXPECT_NE(error_of([&] { transform(x.data(), y.data(), n); }).find("width " + n_s), std::string::npos) << n;
    EXPECT_NE(error_of([&] { transform_transposed(xd.data(), yd.data(), n); }).find("width " + n_s),
              std::string::npos);
    EXPECT_NE(error_of([&] { transform_rows(x.data(), y.data(), 1, n); }).find("width " + n_s), std::string::npos);
    EXPECT_NE(error_of([&] { hadamard_matrix(n); }).find("width " + n_s), std::string::npos);
  }
  EXPECT_NE(error_of([&] { transform(x.data(), y.data(), 0); }).find("width 0"), std::string::npos);
  EXPECT_NE(error_of([&] { fwht(x.data(), 12); }).find("12 is not a power of two"), std::string::npos);
  EXPECT_NE(error_of([&] { fwht_rows(xd.data(), 2, 0); }).find("0 is not a power of two"), std::string::npos);
  EXPECT_NE(error_of([&] { fwht_rows(x.data(), -1, 16); }).find("negative row count"), std::string::npos);
  EXPECT_NE(error_of([&] { transform_rows(x.data(), y.data(), -2, 16); }).find("negative row count"),
            std::string::npos);
  EXPECT_NE(error_of([] { hadamard_base(156); }).find("order 156"), std::string::npos);
  EXPECT_NE(error_of([] { hadamard_base(7); }).find("order 7"), std::string::npos);
  EXPECT_NE(error_of([] { hadamard_matrix(16384); }).find("too large"), std::string::npos);
  // The message lists what is supported.
  EXPECT_NE(error_of([&] { transform(x.data(), y.data(), 7); }).find("12, 20, 28"), std::string::npos);
}

}  // namespace
