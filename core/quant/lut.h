// SPDX-License-Identifier: Apache-2.0
#pragma once
// Lookup tables for the SSM's nonlinearities (exp on x <= 0, softplus, SiLU),
// evaluated in integers only. The contract is in docs/ssm-quant.md.
//
// Input: fixed point Q(kLutInFrac), x = v * 2^-16, int64. A power-of-two code
// c with exponent e becomes v = round_shift(c, e + kLutInFrac) (pot_to_fixed).
// Output: fixed point Q(kLutOutFrac), y = out * 2^-24, int64 (24 bits keep a
// softplus(dt) of 1e-3 to 6e-5 relative, below the int8 requantization after it).
//
// Table: `size` (a power of two) intervals of width step = W / size over the
// range [lo, lo + W]: exp W = 2^r, lo = -2^r; softplus and SiLU W = 2^(r+1),
// lo = -2^r. step must be a whole number of input LSBs. size + 1 entries
// t[i] = round_half_away(f(lo + i * step) * 2^24), computed once in double.
// With u = v - lo_fixed (>= 0), shift = log2(step) + kLutInFrac:
//   Nearest: i = (u + 2^(shift-1)) >> shift (nearest sample), out = t[i]
//   Linear:  i = u >> shift, f = u & (2^shift - 1),
//            out = t[i] + round_shift((t[i+1] - t[i]) * f, -shift)   (i == size: t[size])
// The step must lie in 2^-16 .. 2^10 (shift 0..26) so the interpolation product fits int64.
// Outside the range: exp: x < lo -> 0, x > 0 -> error (the scan only needs x <= 0);
// softplus: x < lo -> 0, x >= lo + W -> x (identity); SiLU: the same.
#include <cstdint>
#include <vector>

namespace sm::quant {

inline constexpr int kLutInFrac = 16;
inline constexpr int kLutOutFrac = 24;

enum class LutFunc : uint8_t { Exp, Softplus, Silu };
enum class LutInterp : uint8_t { Nearest, Linear };

const char* lut_func_name(LutFunc f);

struct LutSpec {
  LutFunc func = LutFunc::Exp;
  int64_t size = 4096;   // number of intervals, a power of two >= 2
  int range_log2 = 4;    // r above: exp on [-16, 0], softplus/SiLU on [-16, 16)
  LutInterp interp = LutInterp::Linear;
};

class Lut {
 public:
  // Fails (sm::Error) on a size that is not a power of two, r outside -8..20,
  // or a step finer than one input LSB.
  explicit Lut(const LutSpec& spec);

  // f(v * 2^-16) * 2^24, rounded as described above; integer arithmetic only.
  int64_t eval(int64_t v) const;

  const LutSpec& spec() const { return spec_; }
  int64_t lo_fixed() const { return lo_; }          // Q16
  int64_t hi_fixed() const { return lo_ + width_; }  // Q16; exp: 0 (inclusive)
  int step_shift() const { return shift_; }           // log2(step) + kLutInFrac
  const std::vector<int64_t>& table() const { return table_; }

  // The function in double (the table's source and the tests' reference).
  static double reference(LutFunc f, double x);

 private:
  LutSpec spec_;
  int64_t lo_ = 0, width_ = 0;
  int shift_ = 0;
  std::vector<int64_t> table_;
};

// round_shift(code, exp + frac), saturated to +-2^62 instead of overflowing
// (every table is flat or the identity that far out).
int64_t pot_to_fixed(int64_t code, int exp, int frac);

}  // namespace sm::quant
