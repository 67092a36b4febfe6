// SPDX-License-Identifier: Apache-2.0
#include "core/quant/gptq.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

#include "core/io/error.h"

namespace sm::quant {

// ------------------------------------------------------------ Hessian

HessianAccumulator::HessianAccumulator(int64_t n) : n_(n), upper_(static_cast<size_t>(n * n), 0.0) {
  if (n < 0) fail("quant::HessianAccumulator", "negative width");
}

void HessianAccumulator::add(const float* x, int64_t rows, int64_t ld) {
  const char* where = "quant::HessianAccumulator";
  if (rows <= 0 || n_ == 0) return;
  if (ld < n_) fail(where, "row stride " + std::to_string(ld) + " below the width " + std::to_string(n_));
  for (int64_t t = 0; t < rows; ++t)
    for (int64_t i = 0; i < n_; ++i)
      if (!std::isfinite(x[t * ld + i])) fail(where, "non-finite calibration input");
  // Upper triangle, four rows of H at a time against each input row (the
  // inner loop runs over contiguous j and vectorises); the summation order
  // per entry is the row order, fixed.
  const int64_t n = n_;
  for (int64_t i0 = 0; i0 < n; i0 += 4) {
    const int64_t ni = std::min<int64_t>(4, n - i0);
    double* h[4];
    for (int k = 0; k < 4; ++k) h[k] = upper_.data() + (i0 + std::min<int64_t>(k, ni - 1)) * n;
    for (int64_t t = 0; t < rows; ++t) {
      const float* r = x + t * ld;
      double a[4];
      for (int k = 0; k < 4; ++k) a[k] = k < ni ? double(r[i0 + k]) : 0.0;
      if (ni == 4) {
        for (int64_t j = i0; j < n; ++j) {
          const double v = r[j];
          h[0][j] += a[0] * v;
          h[1][j] += a[1] * v;
          h[2][j] += a[2] * v;
          h[3][j] += a[3] * v;
        }
      } else {
        for (int k = 0; k < ni; ++k)
          for (int64_t j = i0; j < n; ++j) h[k][j] += a[k] * double(r[j]);
      }
    }
  }
  rows_ += rows;
}

std::vector<double> HessianAccumulator::hessian() const {
  const int64_t n = n_;
  std::vector<double> H(static_cast<size_t>(n * n));
  // Entries left of the diagonal in a 4-row band were accumulated too (the
  // band starts at i0); the upper triangle proper is j >= i.
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) H[i * n + j] = H[j * n + i] = 2.0 * upper_[i * n + j];
  return H;
}

CrossAccumulator::CrossAccumulator(int64_t n) : n_(n), c_(static_cast<size_t>(n * n), 0.0) {
  if (n < 0) fail("quant::CrossAccumulator", "negative width");
}

void CrossAccumulator::add(const float* x, const float* y, int64_t rows, int64_t ld) {
  const int64_t n = n_;
  for (int64_t t = 0; t < rows; ++t) {
    const float* xr = x + t * ld;
    const float* yr = y + t * ld;
    for (int64_t i = 0; i < n; ++i) {
      const double a = xr[i];
      if (a == 0.0) continue;
      double* c = c_.data() + i * n;
      for (int64_t j = 0; j < n; ++j) c[j] += a * double(yr[j]);
    }
  }
}

// ------------------------------------------------------------ linear algebra

namespace {

// In-place lower Cholesky factor of the symmetric n x n A (row-major; only
// the lower triangle is read and written; the upper is zeroed). False when a
// pivot is not positive.
bool cholesky_lower(std::vector<double>& A, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    double d = A[j * n + j];
    for (int64_t k = 0; k < j; ++k) d -= A[j * n + k] * A[j * n + k];
    if (!(d > 0.0) || !std::isfinite(d)) return false;
    const double ljj = std::sqrt(d);
    A[j * n + j] = ljj;
    for (int64_t i = j + 1; i < n; ++i) {
      double s = A[i * n + j];
      const double* ai = &A[i * n];
      const double* aj = &A[j * n];
      for (int64_t k = 0; k < j; ++k) s -= ai[k] * aj[k];
      A[i * n + j] = s / ljj;
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) A[i * n + j] = 0.0;
  return true;
}

// U, upper triangular with H^-1 = U^T U, from the lower Cholesky factor L of
// H: H^-1 = L^-T L^-1, then the lower Cholesky factor of H^-1, transposed.
bool inverse_upper_factor(const std::vector<double>& L, int64_t n, std::vector<double>& U) {
  // Linv: lower triangular inverse of L, column by column (forward substitution).
  std::vector<double> Li(static_cast<size_t>(n * n), 0.0);
  for (int64_t c = 0; c < n; ++c) {
    Li[c * n + c] = 1.0 / L[c * n + c];
    for (int64_t i = c + 1; i < n; ++i) {
      double s = 0.0;
      for (int64_t k = c; k < i; ++k) s -= L[i * n + k] * Li[k * n + c];
      Li[i * n + c] = s / L[i * n + i];
    }
  }
  // Hinv = Li^T Li: Hinv[i][j] = sum_{k >= max(i,j)} Li[k][i] Li[k][j].
  std::vector<double> Hi(static_cast<size_t>(n * n), 0.0);
  for (int64_t k = 0; k < n; ++k) {
    const double* lk = &Li[k * n];
    for (int64_t i = 0; i <= k; ++i) {
      const double a = lk[i];
      if (a == 0.0) continue;
      double* hi = &Hi[i * n];
      for (int64_t j = 0; j <= i; ++j) hi[j] += a * lk[j];
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j) Hi[j * n + i] = Hi[i * n + j];
  if (!cholesky_lower(Hi, n)) return false;
  U.assign(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j) U[j * n + i] = Hi[i * n + j];
  return true;
}

// The code of w under scale S > 0 (quantizers.cpp's rule: clamp, then round
// half away from zero).
int code_of(double w, double S, int qm) {
  const double q = w / S;
  if (!(std::abs(q) <= double(qm))) return q > 0 ? qm : -qm;
  return static_cast<int>(std::clamp<int64_t>(round_half_away(q), -qm, qm));
}

}  // namespace

std::vector<float> activation_aware_target(const float* W, int64_t rows, int64_t cols, const std::vector<double>& C,
                                           const std::vector<double>& H, double damp, const std::string& where) {
  const int64_t n = cols;
  if (int64_t(C.size()) != n * n || int64_t(H.size()) != n * n) fail(where, "moment sizes do not match the width");
  // A = Y^T Y (+ lambda), from H = 2 Y^T Y; dead inputs get diagonal 1.
  std::vector<double> A(static_cast<size_t>(n * n));
  double mean_diag = 0;
  for (int64_t i = 0; i < n * n; ++i) A[i] = 0.5 * H[i];
  for (int64_t i = 0; i < n; ++i) {
    if (A[i * n + i] <= 0.0) {
      for (int64_t j = 0; j < n; ++j) A[i * n + j] = A[j * n + i] = 0.0;
      A[i * n + i] = 1.0;
    }
    mean_diag += A[i * n + i];
  }
  mean_diag /= double(n);
  for (int64_t i = 0; i < n; ++i) A[i * n + i] += damp * mean_diag;
  if (!cholesky_lower(A, n)) {
    double mn = 1e300, mx = 0;
    for (int64_t i = 0; i < n; ++i) mn = std::min(mn, 0.5 * H[i * n + i]), mx = std::max(mx, 0.5 * H[i * n + i]);
    fail(where, "the quantized inputs' moment is singular (diag " + std::to_string(mn) + ".." + std::to_string(mx) +
                    ", mean " + std::to_string(mean_diag) + ", damp " + std::to_string(damp) + ")");
  }
  // M = C A^-1 (n x n): each row m of M solves A m^T = C[row]^T (A symmetric).
  std::vector<double> M(static_cast<size_t>(n * n));
  std::vector<double> z(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t i = 0; i < n; ++i) {  // L z = c
      double s = C[r * n + i];
      for (int64_t k = 0; k < i; ++k) s -= A[i * n + k] * z[k];
      z[i] = s / A[i * n + i];
    }
    for (int64_t i = n - 1; i >= 0; --i) {  // L^T m = z
      double s = z[i];
      for (int64_t k = i + 1; k < n; ++k) s -= A[k * n + i] * M[r * n + k];
      M[r * n + i] = s / A[i * n + i];
    }
  }
  std::vector<float> out(static_cast<size_t>(rows * cols));
  std::vector<double> acc(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t k = 0; k < n; ++k) {
      const double w = W[r * n + k];
      if (w == 0.0) continue;
      const double* m = M.data() + k * n;
      for (int64_t j = 0; j < n; ++j) acc[j] += w * m[j];
    }
    for (int64_t j = 0; j < n; ++j) {
      if (!(std::abs(acc[j]) <= 3.0e38)) fail(where, "the corrected weights overflow");
      out[r * n + j] = static_cast<float>(acc[j]);
    }
  }
  return out;
}

QuantizedMatrix gptq_quantize(const float* W, int64_t rows, int64_t cols, const std::vector<double>& H,
                              const GptqOptions& opt, GptqStats* stats, const std::string& where) {
  if (opt.bits != 4 && opt.bits != 8) fail(where, "bits must be 4 or 8, got " + std::to_string(opt.bits));
  if (rows <= 0 || cols <= 0) fail(where, "empty weight matrix");
  if (opt.group < 1 || opt.group > kMaxGroup || cols % opt.group != 0)
    fail(where, "group " + std::to_string(opt.group) + " does not divide the input width " + std::to_string(cols));
  if (int64_t(H.size()) != cols * cols)
    fail(where, "Hessian has " + std::to_string(H.size()) + " entries, expected " + std::to_string(cols) + "^2");
  if (!(opt.damp >= 0.0) || !std::isfinite(opt.damp)) fail(where, "damping must be finite and >= 0");
  for (int64_t i = 0; i < rows * cols; ++i)
    if (!std::isfinite(W[i])) fail(where, "non-finite weight at (" + std::to_string(i / cols) + ", " +
                                              std::to_string(i % cols) + ")");
  for (double h : H)
    if (!std::isfinite(h)) fail(where, "non-finite Hessian entry");

  const int64_t n = cols, G = opt.group;
  // Dead inputs: diagonal 1 (their row and column are zero), so they round plainly.
  std::vector<double> Hd = H;
  int64_t dead = 0;
  double mean_diag = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    if (Hd[i * n + i] <= 0.0) {
      for (int64_t j = 0; j < n; ++j) Hd[i * n + j] = Hd[j * n + i] = 0.0;
      Hd[i * n + i] = 1.0;
      ++dead;
    }
    mean_diag += Hd[i * n + i];
  }
  mean_diag /= double(n);

  std::vector<double> U;
  double damp = opt.damp;
  bool ok = false;
  for (int attempt = 0; attempt < 5 && !ok; ++attempt, damp = damp > 0 ? damp * 10 : 1e-6) {
    std::vector<double> A = Hd;
    for (int64_t i = 0; i < n; ++i) A[i * n + i] += damp * mean_diag;
    ok = cholesky_lower(A, n) && inverse_upper_factor(A, n, U);
    if (ok) break;
  }
  if (!ok) fail(where, "the calibration Hessian is not positive definite even with damping " + std::to_string(damp));
  if (stats) *stats = {damp, dead};

  QuantizedMatrix q;
  q.rows = rows;
  q.cols = cols;
  q.bits = opt.bits;
  q.group = G;
  q.kind = opt.kind;
  const int64_t ng = q.groups_per_row();
  if (opt.kind == ScaleKind::Float) q.scales.assign(static_cast<size_t>(rows * ng), 0.0f);
  else q.s1.assign(static_cast<size_t>(rows * ng), 0), q.s2.assign(static_cast<size_t>(rows * ng), 0);
  const int qm = qmax(opt.bits);

  // Working weights (double) and codes; blocks of whole groups.
  std::vector<double> w(W, W + rows * cols);
  std::vector<int8_t> codes(static_cast<size_t>(rows * cols), 0);
  std::vector<double> scale_of(static_cast<size_t>(rows * ng), 0.0);
  const int64_t block = std::max<int64_t>(G, (std::max<int64_t>(opt.block, 1) + G - 1) / G * G);
  std::vector<double> err(static_cast<size_t>(block));
  std::vector<float> gbuf(static_cast<size_t>(G));
  for (int64_t i1 = 0; i1 < n; i1 += block) {
    const int64_t i2 = std::min(n, i1 + block);
    for (int64_t r = 0; r < rows; ++r) {
      double* wr = w.data() + r * n;
      double S = 0.0;
      for (int64_t i = i1; i < i2; ++i) {
        if (i % G == 0) {  // a group starts: its scale from the current (updated) weights
          const int64_t g = i / G;
          float m = 0.0f;
          for (int64_t k = 0; k < G; ++k) {
            gbuf[k] = static_cast<float>(wr[i + k]);
            if (!std::isfinite(gbuf[k])) fail(where, "the error update overflowed (row " + std::to_string(r) + ")");
            m = std::max(m, std::abs(gbuf[k]));
          }
          if (opt.kind == ScaleKind::Float) {
            const float s = m / float(qm);
            q.scales[r * ng + g] = s;
            S = s;
          } else {
            const Pow2Sum p = choose_pow2sum(gbuf, opt.bits);
            q.s1[r * ng + g] = static_cast<int16_t>(p.s1);
            q.s2[r * ng + g] = static_cast<int16_t>(p.s2);
            S = m == 0.0f ? 0.0 : p.value();
          }
          scale_of[r * ng + g] = S;
        }
        // The group's scale is fixed; the code rounds the updated weight.
        const double wi = wr[i];
        const int c = S == 0.0 ? 0 : code_of(wi, S, qm);
        codes[r * n + i] = static_cast<int8_t>(c);
        const double* ui = U.data() + i * n;
        const double e = (wi - double(c) * S) / ui[i];
        err[i - i1] = e;
        for (int64_t j = i + 1; j < i2; ++j) wr[j] -= e * ui[j];
      }
      // Lazy update of the columns after the block.
      for (int64_t i = i1; i < i2; ++i) {
        const double e = err[i - i1];
        if (e == 0.0) continue;
        const double* ui = U.data() + i * n;
        for (int64_t j = i2; j < n; ++j) wr[j] -= e * ui[j];
      }
    }
  }

  q.codes.assign(static_cast<size_t>(rows * q.row_bytes()), 0);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* dst = q.codes.data() + r * q.row_bytes();
    const int8_t* src = codes.data() + r * n;
    if (opt.bits == 8) {
      std::copy(src, src + n, reinterpret_cast<int8_t*>(dst));
    } else {
      const auto packed = pack_int4(std::span<const int8_t>(src, size_t(n)));
      std::copy(packed.begin(), packed.end(), dst);
    }
  }
  return q;
}

std::string read_calibration_text(const std::string& path, int64_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot read the calibration text (missing or unreadable)");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail(path, "cannot read the calibration text");
  if (text.empty()) fail(path, "the calibration text is empty");
  if (max_bytes > 0 && int64_t(text.size()) > max_bytes) {
    const bool mid_line = text[static_cast<size_t>(max_bytes) - 1] != '\n';
    text.resize(static_cast<size_t>(max_bytes));
    if (mid_line) {
      const size_t nl = text.rfind('\n');
      if (nl != std::string::npos) text.resize(nl + 1);
    }
  }
  return text;
}

}  // namespace sm::quant
