// SPDX-License-Identifier: Apache-2.0
#include "core/quant/quantizers.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <string>

#include "core/io/error.h"

namespace sm::quant {

namespace {

void check_bits(const char* where, int bits) {
  if (bits != 4 && bits != 8) fail(where, "bits must be 4 or 8, got " + std::to_string(bits));
}

void check_shape(const char* where, int64_t rows, int64_t cols, int64_t group) {
  if (rows < 0 || cols < 0) fail(where, "negative shape");
  if (group < 1 || group > kMaxGroup)
    fail(where, "group size " + std::to_string(group) + " outside 1.." + std::to_string(kMaxGroup));
  if (cols % group != 0)
    fail(where, "group size " + std::to_string(group) + " does not divide the row length " +
                    std::to_string(cols));
}

std::string at(int64_t r, int64_t c) {
  // Appended piecewise: GCC 12 warns (-Wrestrict, falsely) on "(" + to_string(...).
  std::string s(1, '(');
  s += std::to_string(r);
  s += ", ";
  s += std::to_string(c);
  s += ')';
  return s;
}

// The code of w under scale S > 0. The double quotient of two floats (or of a
// float and an 8-significant-bit Pow2Sum scale) can land on a half-integer
// only if the exact quotient is one, so the tie decision is exact.
int quantize_code(double w, double S, int qm) {
  const double q = w / S;
  if (!(std::abs(q) <= double(qm))) return q > 0 ? qm : -qm;  // clamp before rounding: no int overflow
  return static_cast<int>(std::clamp<int64_t>(round_half_away(q), -qm, qm));
}

float absmax_checked(const char* where, const float* v, int64_t n, int64_t r, int64_t c0) {
  float m = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) fail(where, "non-finite value at " + at(r, c0 + i));
    m = std::max(m, std::abs(v[i]));
  }
  return m;
}

double group_sq_error(const float* w, int64_t n, double S, int qm) {
  double e = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(w[i]) - S * quantize_code(w[i], S, qm);
    e = e + d * d;
  }
  return e;
}

Pow2Sum choose_pow2sum_impl(const float* w, int64_t n, float absmax, int bits) {
  if (absmax == 0.0f) return {};
  const int qm = qmax(bits);
  int e = 0;
  std::frexp(double(absmax) / qm, &e);  // f = m * 2^e, m in [0.5, 1): floor(log2 f) = e - 1
  const int k = e - 1;
  Pow2Sum best{k, k - 1};
  double best_err = std::numeric_limits<double>::infinity();
  for (int s1 = k - 1; s1 <= k + 1; ++s1) {
    for (int gap = 1; gap <= kPow2SumMaxGap; ++gap) {
      const Pow2Sum p{s1, s1 - gap};
      const double err = group_sq_error(w, n, p.value(), qm);
      if (err < best_err) {
        best_err = err;
        best = p;
      }
    }
  }
  return best;
}

float to_float_checked(const char* where, double v) {
  // A double beyond float range has no float to round to (UB in C++).
  if (!(std::abs(v) <= double(FLT_MAX))) fail(where, "value beyond float range");
  return static_cast<float>(v);
}

}  // namespace

int64_t round_half_away(double v) { return static_cast<int64_t>(std::round(v)); }

std::optional<int64_t> round_shift(int64_t v, int k) {
  if (k == 0 || v == 0) return v;
  const bool neg = v < 0;
  const uint64_t u = neg ? uint64_t(0) - uint64_t(v) : uint64_t(v);  // |v|, defined for INT64_MIN
  uint64_t r;
  if (k > 0) {
    if (k >= 63 || u > (uint64_t(INT64_MAX) >> k)) return std::nullopt;
    r = u << k;
  } else {
    const int n = -k;
    if (n > 64) {
      r = 0;  // |v| <= 2^63 < 2^(n-1): below one half
    } else if (n == 64) {
      r = u >= (uint64_t(1) << 63) ? 1 : 0;  // only |INT64_MIN| reaches the half
    } else {
      r = (u + (uint64_t(1) << (n - 1))) >> n;  // u + half <= 2^63 + 2^62: no wrap
    }
  }
  return neg ? -static_cast<int64_t>(r) : static_cast<int64_t>(r);
}

// ---------------------------------------------------------------- int4 packing

std::vector<uint8_t> pack_int4(std::span<const int8_t> codes) {
  std::vector<uint8_t> out((codes.size() + 1) / 2, 0);
  for (size_t i = 0; i < codes.size(); ++i) {
    const int v = codes[i];
    if (v < -8 || v > 7) fail("quant::pack_int4", "code " + std::to_string(v) + " at " +
                                                       std::to_string(i) + " outside -8..7");
    const uint8_t nib = static_cast<uint8_t>(v) & 0x0F;
    out[i / 2] |= (i % 2 == 0) ? nib : static_cast<uint8_t>(nib << 4);
  }
  return out;
}

std::vector<int8_t> unpack_int4(std::span<const uint8_t> bytes, int64_t n) {
  if (n < 0 || bytes.size() != static_cast<size_t>((n + 1) / 2))
    fail("quant::unpack_int4", std::to_string(bytes.size()) + " bytes cannot hold exactly " +
                                   std::to_string(n) + " int4 codes");
  if (n % 2 == 1 && (bytes.back() & 0xF0) != 0)
    fail("quant::unpack_int4", "non-zero padding nibble after an odd number of codes");
  std::vector<int8_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int nib = (i % 2 == 0) ? (bytes[i / 2] & 0x0F) : (bytes[i / 2] >> 4);
    out[i] = static_cast<int8_t>(nib >= 8 ? nib - 16 : nib);
  }
  return out;
}

// --------------------------------------------------------------------- weights

double Pow2Sum::value() const { return std::ldexp(1.0, s1) + std::ldexp(1.0, s2); }

Pow2Sum choose_pow2sum(std::span<const float> w, int bits) {
  check_bits("quant::choose_pow2sum", bits);
  const float m = absmax_checked("quant::choose_pow2sum", w.data(), int64_t(w.size()), 0, 0);
  return choose_pow2sum_impl(w.data(), int64_t(w.size()), m, bits);
}

double QuantizedMatrix::scale(int64_t r, int64_t g) const {
  const size_t i = static_cast<size_t>(r * groups_per_row() + g);
  if (kind == ScaleKind::Float) return scales[i];
  return Pow2Sum{s1[i], s2[i]}.value();
}

QuantizedMatrix quantize_weights(const float* W, int64_t rows, int64_t cols, int bits,
                                 int64_t group, ScaleKind kind) {
  const char* where = "quant::quantize_weights";
  check_bits(where, bits);
  check_shape(where, rows, cols, group);
  QuantizedMatrix q;
  q.rows = rows;
  q.cols = cols;
  q.bits = bits;
  q.group = group;
  q.kind = kind;
  const int64_t ng = q.groups_per_row();
  q.codes.assign(static_cast<size_t>(rows * q.row_bytes()), 0);
  if (kind == ScaleKind::Float) {
    q.scales.assign(static_cast<size_t>(rows * ng), 0.0f);
  } else {
    q.s1.assign(static_cast<size_t>(rows * ng), 0);
    q.s2.assign(static_cast<size_t>(rows * ng), 0);
  }
  const int qm = qmax(bits);
  std::vector<int8_t> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < ng; ++g) {
      const float* w = W + r * cols + g * group;
      const float m = absmax_checked(where, w, group, r, g * group);
      double S;
      if (kind == ScaleKind::Float) {
        const float s = m / float(qm);
        q.scales[r * ng + g] = s;
        S = s;
      } else {
        const Pow2Sum p = choose_pow2sum_impl(w, group, m, bits);
        q.s1[r * ng + g] = static_cast<int16_t>(p.s1);
        q.s2[r * ng + g] = static_cast<int16_t>(p.s2);
        S = m == 0.0f ? 0.0 : p.value();
      }
      for (int64_t i = 0; i < group; ++i)
        row[g * group + i] = static_cast<int8_t>(S == 0.0 ? 0 : quantize_code(w[i], S, qm));
    }
    uint8_t* dst = q.codes.data() + r * q.row_bytes();
    if (bits == 8) {
      std::copy(row.begin(), row.end(), reinterpret_cast<int8_t*>(dst));
    } else {
      const auto packed = pack_int4(row);
      std::copy(packed.begin(), packed.end(), dst);
    }
  }
  return q;
}

std::vector<float> dequantize(const QuantizedMatrix& w) {
  std::vector<float> out(static_cast<size_t>(w.rows * w.cols));
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t c = 0; c < w.cols; ++c)
      out[r * w.cols + c] = to_float_checked(
          "quant::dequantize", double(w.code(r, c)) * w.scale(r, c / w.group));
  return out;
}

// ----------------------------------------------------------------- activations

int act_exponent(float absmax, int bits) {
  check_bits("quant::act_exponent", bits);
  if (!std::isfinite(absmax) || absmax < 0.0f)
    fail("quant::act_exponent", "absmax must be finite and >= 0");
  if (absmax == 0.0f) return 0;
  int e = 0;
  const double m = std::frexp(double(absmax), &e);  // absmax = m * 2^e, m in [0.5, 1)
  const int ceil_log2 = (m == 0.5) ? e - 1 : e;     // exact powers of two: log2 itself
  return ceil_log2 - (bits - 1);
}

QuantizedActivations quantize_activations(const float* x, int64_t rows, int64_t cols, int bits,
                                          int64_t group, int exp_min, int exp_max) {
  const char* where = "quant::quantize_activations";
  check_bits(where, bits);
  check_shape(where, rows, cols, group);
  if (exp_min > exp_max || exp_min < kActExpMin || exp_max > kActExpMax)
    fail(where, "exponent window [" + std::to_string(exp_min) + ", " + std::to_string(exp_max) +
                    "] is empty or outside [" + std::to_string(kActExpMin) + ", " +
                    std::to_string(kActExpMax) + "]");
  QuantizedActivations q;
  q.rows = rows;
  q.cols = cols;
  q.bits = bits;
  q.group = group;
  const int64_t ng = q.groups_per_row();
  q.codes.assign(static_cast<size_t>(rows * cols), 0);
  q.exps.assign(static_cast<size_t>(rows * ng), 0);
  const int qm = qmax(bits);
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t g = 0; g < ng; ++g) {
      const float* v = x + t * cols + g * group;
      const float m = absmax_checked(where, v, group, t, g * group);
      const int s = std::clamp(act_exponent(m, bits), exp_min, exp_max);
      q.exps[t * ng + g] = static_cast<int16_t>(s);
      int8_t* out = q.codes.data() + t * cols + g * group;
      for (int64_t i = 0; i < group; ++i) {
        // |x| <= 2^128 and |s| <= 160: x * 2^-s stays a normal double, so exact.
        const double scaled = std::ldexp(double(v[i]), -s);
        out[i] = static_cast<int8_t>(
            std::abs(scaled) > qm ? (scaled > 0 ? qm : -qm)
                                  : std::clamp<int64_t>(round_half_away(scaled), -qm, qm));
      }
    }
  }
  return q;
}

std::vector<float> dequantize(const QuantizedActivations& x) {
  std::vector<float> out(x.codes.size());
  const int64_t ng = x.groups_per_row();
  for (int64_t t = 0; t < x.rows; ++t)
    for (int64_t c = 0; c < x.cols; ++c)
      out[t * x.cols + c] =
          to_float_checked("quant::dequantize",
                           std::ldexp(double(x.codes[t * x.cols + c]), x.exps[t * ng + c / x.group]));
  return out;
}

// ------------------------------------------------------------ the linear kernel

void linear_int(const QuantizedActivations& x, const QuantizedMatrix& w, float* y, int64_t ldy) {
  const char* where = "quant::linear_int";
  check_bits(where, w.bits);
  check_bits(where, x.bits);
  check_shape(where, w.rows, w.cols, w.group);
  check_shape(where, x.rows, x.cols, x.group);
  if (x.cols != w.cols)
    fail(where, "activation width " + std::to_string(x.cols) + " != weight width " +
                    std::to_string(w.cols));
  if (ldy < w.rows) fail(where, "ldy smaller than the output width");
  const int64_t ngw = w.groups_per_row(), ngx = x.groups_per_row();
  if (w.codes.size() != static_cast<size_t>(w.rows * w.row_bytes()) ||
      x.codes.size() != static_cast<size_t>(x.rows * x.cols) ||
      x.exps.size() != static_cast<size_t>(x.rows * ngx))
    fail(where, "code or exponent array size does not match the shape");
  if (w.kind == ScaleKind::Float ? w.scales.size() != static_cast<size_t>(w.rows * ngw)
                                 : (w.s1.size() != static_cast<size_t>(w.rows * ngw) ||
                                    w.s2.size() != static_cast<size_t>(w.rows * ngw)))
    fail(where, "scale array size does not match the shape");

  // Blocks where both scales are constant; one group must nest in the other.
  const int64_t B = std::min(w.group, x.group);
  if (std::max(w.group, x.group) % B != 0)
    fail(where, "weight group " + std::to_string(w.group) + " and activation group " +
                    std::to_string(x.group) + " do not nest");
  // |acc| <= B * 2^(bw-1) * 2^(ba-1) (codes may reach -2^(bits-1)) must fit int32.
  const int64_t bound = B << (w.bits - 1 + x.bits - 1);
  if (bound > INT32_MAX) fail(where, "block of " + std::to_string(B) + " could overflow int32");

  const int xmin = -(1 << (x.bits - 1)), xmax = (1 << (x.bits - 1)) - 1;
  for (size_t i = 0; i < x.codes.size(); ++i)
    if (x.codes[i] < xmin || x.codes[i] > xmax)
      fail(where, "activation code " + std::to_string(x.codes[i]) + " outside the " +
                      std::to_string(x.bits) + "-bit range");
  for (int16_t e : x.exps)
    if (e < kActExpMin || e > kActExpMax) fail(where, "activation exponent out of range");
  if (w.kind == ScaleKind::Pow2Sum)
    for (size_t i = 0; i < w.s1.size(); ++i) {
      const int gap = w.s1[i] - w.s2[i];
      if (gap < 1 || gap > kPow2SumMaxGap) fail(where, "Pow2Sum exponent gap outside 1..7");
    }

  const int64_t nb = w.cols / B;
  std::vector<int8_t> wrow(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    for (int64_t c = 0; c < w.cols; ++c) wrow[c] = static_cast<int8_t>(w.code(r, c));
    for (int64_t t = 0; t < x.rows; ++t) {
      const int8_t* a = x.codes.data() + t * x.cols;
      const int16_t* xe = x.exps.data() + t * ngx;
      float out;
      if (w.kind == ScaleKind::Pow2Sum) {
        int64_t Q = 0;
        uint64_t mag = 0;  // sum |term| <= INT64_MAX: no partial sum overflows, in any order
        for (int64_t b = 0; b < nb; ++b) {
          const int64_t c0 = b * B;
          int32_t acc = 0;
          for (int64_t c = c0; c < c0 + B; ++c) acc += int32_t(wrow[c]) * int32_t(a[c]);
          const int64_t gi = r * ngw + c0 / w.group;
          const int s1 = w.s1[gi], s2 = w.s2[gi];
          const int xs = xe[c0 / x.group];
          // acc * (2^s1 + 2^s2) * 2^xs = (acc << (s1 - s2) + acc) * 2^(s2 + xs); |.| < 2^38.
          const int64_t m = (int64_t(acc) << (s1 - s2)) + acc;
          const auto term = round_shift(m, s2 + xs + kFracBits);
          const uint64_t u = term ? (*term < 0 ? uint64_t(0) - uint64_t(*term) : uint64_t(*term)) : 0;
          if (!term || u > uint64_t(INT64_MAX) - mag)
            fail(where, "output " + at(t, r) + " exceeds the int64 fixed-point range (sum of |terms| >= 2^" +
                            std::to_string(63 - kFracBits) + ")");
          mag += u;
          Q += *term;
        }
        // One rounding (int64 -> binary32, nearest-even); the power-of-two
        // scale is exact since |Q| >= 1 keeps the result normal.
        out = std::ldexp(static_cast<float>(Q), -kFracBits);
      } else {
        double sum = 0.0;
        for (int64_t b = 0; b < nb; ++b) {
          const int64_t c0 = b * B;
          int32_t acc = 0;
          for (int64_t c = c0; c < c0 + B; ++c) acc += int32_t(wrow[c]) * int32_t(a[c]);
          const double sc = std::ldexp(double(w.scales[r * ngw + c0 / w.group]), xe[c0 / x.group]);
          const double term = double(acc) * sc;
          sum = sum + term;
        }
        if (!std::isfinite(sum)) fail(where, "output " + at(t, r) + " is not finite");
        out = to_float_checked(where, sum);
      }
      y[t * ldy + r] = out;
    }
  }
}

std::vector<float> linear_int(const QuantizedActivations& x, const QuantizedMatrix& w) {
  std::vector<float> y(static_cast<size_t>(x.rows * w.rows));
  linear_int(x, w, y.data(), w.rows);
  return y;
}

}  // namespace sm::quant
