// SPDX-License-Identifier: Apache-2.0
#include "core/quant/lut.h"

#include <bit>
#include <cmath>
#include <string>

#include "core/io/error.h"
#include "core/quant/quantizers.h"

namespace sm::quant {

const char* lut_func_name(LutFunc f) {
  switch (f) {
    case LutFunc::Exp: return "exp";
    case LutFunc::Softplus: return "softplus";
    case LutFunc::Silu: return "silu";
  }
  return "?";
}

double Lut::reference(LutFunc f, double x) {
  switch (f) {
    case LutFunc::Exp: return std::exp(x);
    // log1p(exp(x)) loses nothing for x < 0; for x > 0 rewrite to avoid overflow.
    case LutFunc::Softplus: return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
    case LutFunc::Silu: return x / (1.0 + std::exp(-x));
  }
  return 0.0;
}

Lut::Lut(const LutSpec& spec) : spec_(spec) {
  const std::string where = std::string("quant::Lut(") + lut_func_name(spec.func) + ")";
  if (spec.size < 2 || !std::has_single_bit(uint64_t(spec.size)) || spec.size > (int64_t(1) << 24))
    fail(where, "size " + std::to_string(spec.size) + " is not a power of two in 2..2^24");
  if (spec.range_log2 < -8 || spec.range_log2 > 20)
    fail(where, "range_log2 " + std::to_string(spec.range_log2) + " outside -8..20");
  const int width_log2 = spec.range_log2 + (spec.func == LutFunc::Exp ? 0 : 1);
  shift_ = width_log2 + kLutInFrac - std::countr_zero(uint64_t(spec.size));
  if (shift_ < 0) fail(where, "step is finer than one Q16 input LSB (size too large for the range)");
  // Slopes are <= 1.1, so |t[i+1] - t[i]| < 2^(shift + 9) and d * f < 2^(2 shift + 9) must fit int64.
  if (shift_ > 26) fail(where, "step is coarser than 2^10 (size too small for the range)");
  width_ = int64_t(1) << (width_log2 + kLutInFrac);
  lo_ = -(int64_t(1) << (spec.range_log2 + kLutInFrac));
  table_.resize(size_t(spec.size) + 1);
  for (int64_t i = 0; i <= spec.size; ++i) {
    const double x = std::ldexp(double(lo_ + (i << shift_)), -kLutInFrac);  // exact
    table_[size_t(i)] = round_half_away(std::ldexp(reference(spec.func, x), kLutOutFrac));
  }
}

int64_t Lut::eval(int64_t v) const {
  if (v < lo_) return 0;  // exp, softplus, SiLU all vanish to the left (below 2^-23 at r = 4)
  if (spec_.func == LutFunc::Exp) {
    if (v > 0) fail("quant::Lut(exp)", "input " + std::to_string(v) + " * 2^-16 is positive");
  } else if (v >= lo_ + width_) {
    const auto r = round_shift(v, kLutOutFrac - kLutInFrac);  // the identity
    return r ? *r : int64_t(1) << 62;                          // saturate far out
  }
  const int64_t u = v - lo_;
  if (spec_.interp == LutInterp::Nearest) {
    const int64_t half = shift_ > 0 ? int64_t(1) << (shift_ - 1) : 0;
    return table_[size_t((u + half) >> shift_)];
  }
  const int64_t i = u >> shift_;
  if (i >= spec_.size) return table_[size_t(spec_.size)];  // exp at exactly 0
  const int64_t f = u & ((int64_t(1) << shift_) - 1);
  const int64_t d = table_[size_t(i) + 1] - table_[size_t(i)];
  return table_[size_t(i)] + *round_shift(d * f, -shift_);
}

int64_t pot_to_fixed(int64_t code, int exp, int frac) {
  const int64_t lim = int64_t(1) << 62;
  const auto r = round_shift(code, exp + frac);
  if (!r) return code < 0 ? -lim : lim;
  return *r > lim ? lim : (*r < -lim ? -lim : *r);
}

}  // namespace sm::quant
