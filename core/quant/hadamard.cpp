// SPDX-License-Identifier: Apache-2.0
#include "core/quant/hadamard.h"

#include <cmath>
#include <cstring>
#include <string>

#include "core/io/error.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/quant/hadamard.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

// The float kernels, once per SIMD target. Every output is a fixed sequence of
// IEEE adds/subtracts and one multiply, the same in the vector body and the
// scalar remainder, so every target gives bit-identical results.
HWY_BEFORE_NAMESPACE();
namespace sm::quant {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Unnormalised Walsh butterflies on `rows` rows of length m (a power of two).
void Butterflies(float* x, int64_t rows, int64_t m) {
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t r = 0; r < rows; ++r) {
    float* p = x + r * m;
    for (int64_t h = 1; h < m; h *= 2) {
      for (int64_t i = 0; i < m; i += 2 * h) {
        int64_t j = i;
        if (h >= L) {  // h and L are powers of two: no remainder
          for (; j < i + h; j += L) {
            const auto a = hn::LoadU(d, p + j);
            const auto b = hn::LoadU(d, p + j + h);
            hn::StoreU(hn::Add(a, b), d, p + j);
            hn::StoreU(hn::Sub(a, b), d, p + j + h);
          }
        }
        for (; j < i + h; ++j) {
          const float a = p[j], b = p[j + h];
          p[j] = a + b;
          p[j + h] = a - b;
        }
      }
    }
  }
}

void Scale(float* x, int64_t n, float s) {
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const auto vs = hn::Set(d, s);
  int64_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), vs), d, x + i);
  for (; i < n; ++i) x[i] *= s;
}

// y[a] = s * sum_c sign[a*K + c] * z[c] over the K rows (length m) of z:
// the H_K factor of the Kronecker product, with ±1 entries as add/subtract.
void MixRows(const float* z, float* y, const int8_t* sign, int64_t K, int64_t m, float s) {
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const auto vs = hn::Set(d, s);
  for (int64_t a = 0; a < K; ++a) {
    const int8_t* row = sign + a * K;
    float* out = y + a * m;
    int64_t j = 0;
    for (; j + L <= m; j += L) {
      auto acc = hn::LoadU(d, z + j);
      if (row[0] < 0) acc = hn::Neg(acc);
      for (int64_t c = 1; c < K; ++c) {
        const auto v = hn::LoadU(d, z + c * m + j);
        acc = row[c] > 0 ? hn::Add(acc, v) : hn::Sub(acc, v);
      }
      hn::StoreU(hn::Mul(acc, vs), d, out + j);
    }
    for (; j < m; ++j) {
      float acc = row[0] > 0 ? z[j] : -z[j];
      for (int64_t c = 1; c < K; ++c) acc = row[c] > 0 ? acc + z[c * m + j] : acc - z[c * m + j];
      out[j] = acc * s;
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace sm::quant
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sm::quant {
HWY_EXPORT(Butterflies);
HWY_EXPORT(Scale);
HWY_EXPORT(MixRows);

namespace {

// ---- Small Hadamard matrices ------------------------------------------------
// GF(q) for q = p (m = 1) or q = p^2 (m = 2, elements a + b t with t^2 = r, r a
// non-residue mod p). Elements are encoded as a + b p.
struct Field {
  int p, m, r;
  int q() const { return m == 1 ? p : p * p; }
  int sub(int x, int y) const {
    const int a = ((x % p) - (y % p) + p) % p;
    const int b = m == 1 ? 0 : ((x / p) - (y / p) + p) % p;
    return a + b * p;
  }
  int mul(int x, int y) const {
    const int a = x % p, b = m == 1 ? 0 : x / p, c = y % p, e = m == 1 ? 0 : y / p;
    return (a * c + b * e * r) % p + ((a * e + b * c) % p) * p;
  }
};

// Quadratic character: 0 at 0, +1 on non-zero squares, -1 elsewhere.
std::vector<int> quadratic_character(const Field& f) {
  std::vector<int> chi(f.q(), -1);
  chi[0] = 0;
  for (int x = 1; x < f.q(); ++x) chi[f.mul(x, x)] = 1;
  return chi;
}

using Signs = std::vector<int8_t>;

// Paley I (Paley 1933), q ≡ 3 (mod 4): with the Jacobsthal matrix
// Q[a][b] = chi(a - b) (skew-symmetric here), H = I + [[0, 1ᵀ], [-1, Q]] has
// order q + 1 and H Hᵀ = (q + 1) I. H is skew-Hadamard, not symmetric.
Signs paley1(const Field& f) {
  const int q = f.q(), n = q + 1;
  const auto chi = quadratic_character(f);
  Signs h(static_cast<size_t>(n) * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      int v;
      if (i == 0) v = 1;
      else if (j == 0) v = -1;
      else v = chi[f.sub(i - 1, j - 1)] + (i == j ? 1 : 0);
      h[static_cast<size_t>(i) * n + j] = static_cast<int8_t>(v);
    }
  return h;
}

// Paley II, q ≡ 1 (mod 4): the symmetric conference matrix
// C = [[0, 1ᵀ], [1, Q]] of order q + 1, with each 0 replaced by
// [[1, -1], [-1, -1]] and each ±1 by ±[[1, 1], [1, -1]], is a symmetric
// Hadamard matrix of order 2 (q + 1).
Signs paley2(const Field& f) {
  const int q = f.q(), c = q + 1, n = 2 * c;
  const auto chi = quadratic_character(f);
  static constexpr int kZero[2][2] = {{1, -1}, {-1, -1}};
  static constexpr int kOne[2][2] = {{1, 1}, {1, -1}};
  Signs h(static_cast<size_t>(n) * n);
  for (int u = 0; u < c; ++u)
    for (int v = 0; v < c; ++v) {
      const int cv = (u == 0 && v == 0) ? 0 : (u == 0 || v == 0) ? 1 : chi[f.sub(u - 1, v - 1)];
      for (int s = 0; s < 2; ++s)
        for (int t = 0; t < 2; ++t)
          h[static_cast<size_t>(2 * u + s) * n + 2 * v + t] =
              static_cast<int8_t>(cv == 0 ? kZero[s][t] : cv * kOne[s][t]);
    }
  return h;
}

// Sylvester doubling: [[H, H], [H, -H]] (order 2k).
Signs doubled(const Signs& h, int k) {
  const int n = 2 * k;
  Signs d(static_cast<size_t>(n) * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const int v = h[static_cast<size_t>(i % k) * k + j % k];
      d[static_cast<size_t>(i) * n + j] = static_cast<int8_t>(i >= k && j >= k ? -v : v);
    }
  return d;
}

struct Base {
  int K;
  Signs h, ht;  // H_K and its transpose
};

bool is_hadamard(const Signs& h, int k) {
  for (int i = 0; i < k; ++i)
    for (int j = 0; j < k; ++j) {
      int dot = 0;
      for (int c = 0; c < k; ++c) dot += h[static_cast<size_t>(i) * k + c] * h[static_cast<size_t>(j) * k + c];
      if (dot != (i == j ? k : 0)) return false;
    }
  return true;
}

// Every base matrix, built once. The orders are those QuaRot / SpinQuant use
// (PAPERS.md) that a Paley construction or a doubling reaches; 156 and 172
// need other constructions (Williamson type) and are not here.
const std::vector<Base>& bases() {
  static const std::vector<Base> all = [] {
    std::vector<Base> v;
    auto add = [&](int K, Signs h) {
      // A wrong construction must never rotate a model silently.
      if (!is_hadamard(h, K)) fail("hadamard", "internal error: H_" + std::to_string(K) + " is not Hadamard");
      Signs ht(h.size());
      for (int i = 0; i < K; ++i)
        for (int j = 0; j < K; ++j) ht[static_cast<size_t>(j) * K + i] = h[static_cast<size_t>(i) * K + j];
      v.push_back({K, std::move(h), std::move(ht)});
    };
    add(12, paley1({11, 1, 0}));
    add(20, paley1({19, 1, 0}));
    add(28, paley2({13, 1, 0}));
    add(36, paley2({17, 1, 0}));
    add(40, doubled(v[1].h, 20));
    add(44, paley1({43, 1, 0}));
    add(52, paley2({5, 2, 2}));  // GF(25) = GF(5)[t] / (t^2 - 2); 2 is a non-residue mod 5
    add(60, paley1({59, 1, 0}));
    add(108, paley1({107, 1, 0}));
    add(140, paley1({139, 1, 0}));
    add(148, paley2({73, 1, 0}));
    return v;
  }();
  return all;
}

const Base* find_base(int K) {
  for (const auto& b : bases())
    if (b.K == K) return &b;
  return nullptr;
}

std::string supported_list() {
  std::string s = "1";
  for (const auto& b : bases()) s += ", " + std::to_string(b.K);
  return s;
}

// ---- Transforms ---------------------------------------------------------------

struct Plan {
  int64_t n, m;  // m = n / K
  const Base* base;  // null for K = 1
  double scale;
};

Plan plan_for(int64_t n) {
  const int K = hadamard_k(n);
  if (K == 0)
    fail("hadamard", "no Hadamard matrix for width " + std::to_string(n) +
                         ": it is not K * 2^k with K in {" + supported_list() + "}");
  return {n, n / K, K == 1 ? nullptr : find_base(K), 1.0 / std::sqrt(static_cast<double>(n))};
}

void check_pow2(int64_t n) {
  if (!is_pow2(n)) fail("fwht", "row length " + std::to_string(n) + " is not a power of two");
}

void check_rows(int64_t rows, const char* where) {
  if (rows < 0) fail(where, "negative row count " + std::to_string(rows));
}

template <class T>
void butterflies_scalar(T* p, int64_t m) {
  for (int64_t h = 1; h < m; h *= 2)
    for (int64_t i = 0; i < m; i += 2 * h)
      for (int64_t j = i; j < i + h; ++j) {
        const T a = p[j], b = p[j + h];
        p[j] = a + b;
        p[j + h] = a - b;
      }
}

std::vector<float>& scratch_f() {
  thread_local std::vector<float> s;
  return s;
}
std::vector<double>& scratch_d() {
  thread_local std::vector<double> s;
  return s;
}

void apply(const Plan& pl, const float* in, float* out, bool transposed) {
  const float s = static_cast<float>(pl.scale);
  if (!pl.base) {
    if (out != in) std::memcpy(out, in, static_cast<size_t>(pl.n) * sizeof(float));
    HWY_DYNAMIC_DISPATCH(Butterflies)(out, 1, pl.n);
    HWY_DYNAMIC_DISPATCH(Scale)(out, pl.n, s);
    return;
  }
  // The butterflies run on a copy, so out may alias in.
  auto& z = scratch_f();
  z.assign(in, in + pl.n);
  const int64_t K = pl.base->K;
  HWY_DYNAMIC_DISPATCH(Butterflies)(z.data(), K, pl.m);
  HWY_DYNAMIC_DISPATCH(MixRows)(z.data(), out, transposed ? pl.base->ht.data() : pl.base->h.data(), K, pl.m, s);
}

void apply(const Plan& pl, const double* in, double* out, bool transposed) {
  if (!pl.base) {
    if (out != in) std::memcpy(out, in, static_cast<size_t>(pl.n) * sizeof(double));
    butterflies_scalar(out, pl.n);
    for (int64_t i = 0; i < pl.n; ++i) out[i] *= pl.scale;
    return;
  }
  auto& z = scratch_d();
  z.assign(in, in + pl.n);
  const int64_t K = pl.base->K, m = pl.m;
  for (int64_t a = 0; a < K; ++a) butterflies_scalar(z.data() + a * m, m);
  const int8_t* sign = transposed ? pl.base->ht.data() : pl.base->h.data();
  for (int64_t a = 0; a < K; ++a)
    for (int64_t j = 0; j < m; ++j) {
      double acc = 0.0;
      for (int64_t c = 0; c < K; ++c) acc += sign[a * K + c] > 0 ? z[c * m + j] : -z[c * m + j];
      out[a * m + j] = acc * pl.scale;
    }
}

template <class T>
void apply_rows(const T* in, T* out, int64_t rows, int64_t n, bool transposed, const char* where) {
  check_rows(rows, where);
  const Plan pl = plan_for(n);
  for (int64_t r = 0; r < rows; ++r) apply(pl, in + r * n, out + r * n, transposed);
}

}  // namespace

bool is_pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

void fwht(float* x, int64_t n) { fwht_rows(x, 1, n); }
void fwht(double* x, int64_t n) { fwht_rows(x, 1, n); }

void fwht_rows(float* x, int64_t rows, int64_t n) {
  check_pow2(n);
  check_rows(rows, "fwht");
  if (rows == 0) return;
  HWY_DYNAMIC_DISPATCH(Butterflies)(x, rows, n);
  HWY_DYNAMIC_DISPATCH(Scale)(x, rows * n, static_cast<float>(1.0 / std::sqrt(static_cast<double>(n))));
}

void fwht_rows(double* x, int64_t rows, int64_t n) {
  check_pow2(n);
  check_rows(rows, "fwht");
  const double s = 1.0 / std::sqrt(static_cast<double>(n));
  for (int64_t r = 0; r < rows; ++r) {
    double* p = x + r * n;
    butterflies_scalar(p, n);
    for (int64_t i = 0; i < n; ++i) p[i] *= s;
  }
}

int hadamard_k(int64_t n) {
  if (n <= 0) return 0;
  // QuaRot's get_hadK order (larger K first, 40 before 20; PAPERS.md), 44 from
  // SpinQuant; each K here has a distinct odd part except 40 / 20, so only
  // that pair depends on the order.
  static constexpr int kOrder[] = {44, 148, 140, 108, 60, 52, 36, 28, 40, 20, 12};
  for (int K : kOrder)
    if (n % K == 0 && is_pow2(n / K)) return K;
  return is_pow2(n) ? 1 : 0;
}

std::vector<int> hadamard_base_sizes() {
  std::vector<int> v;
  for (const auto& b : bases()) v.push_back(b.K);
  return v;
}

std::vector<int8_t> hadamard_base(int K) {
  if (K == 1) return {1};
  const Base* b = find_base(K);
  if (!b)
    fail("hadamard", "no Hadamard matrix of order " + std::to_string(K) + " (have " + supported_list() + ")");
  return b->h;
}

void transform(const float* in, float* out, int64_t n) { apply(plan_for(n), in, out, false); }
void transform(const double* in, double* out, int64_t n) { apply(plan_for(n), in, out, false); }
void transform_transposed(const float* in, float* out, int64_t n) { apply(plan_for(n), in, out, true); }
void transform_transposed(const double* in, double* out, int64_t n) { apply(plan_for(n), in, out, true); }

void transform_rows(const float* in, float* out, int64_t rows, int64_t n) {
  apply_rows(in, out, rows, n, false, "hadamard");
}
void transform_rows(const double* in, double* out, int64_t rows, int64_t n) {
  apply_rows(in, out, rows, n, false, "hadamard");
}
void transform_transposed_rows(const float* in, float* out, int64_t rows, int64_t n) {
  apply_rows(in, out, rows, n, true, "hadamard");
}
void transform_transposed_rows(const double* in, double* out, int64_t rows, int64_t n) {
  apply_rows(in, out, rows, n, true, "hadamard");
}

std::vector<double> hadamard_matrix(int64_t n) {
  const Plan pl = plan_for(n);
  if (n > kMaxDenseHadamard)
    fail("hadamard", "width " + std::to_string(n) + " is too large for a dense matrix (at most " +
                         std::to_string(kMaxDenseHadamard) + "); use transform()");
  const int64_t K = pl.base ? pl.base->K : 1, m = pl.m;
  const int8_t one = 1;
  const int8_t* hk = pl.base ? pl.base->h.data() : &one;
  std::vector<double> h(static_cast<size_t>(n) * n);
  // H[(a, b), (c, d)] = H_K[a][c] * (-1)^popcount(b & d) / sqrt(n): the
  // Sylvester matrix in the natural order the butterflies produce.
  for (int64_t a = 0; a < K; ++a)
    for (int64_t b = 0; b < m; ++b)
      for (int64_t c = 0; c < K; ++c)
        for (int64_t d = 0; d < m; ++d) {
          const int sign = hk[a * K + c] * ((__builtin_popcountll(static_cast<uint64_t>(b & d)) & 1) ? -1 : 1);
          h[static_cast<size_t>(a * m + b) * n + c * m + d] = sign * pl.scale;
        }
  return h;
}

}  // namespace sm::quant
#endif  // HWY_ONCE
