// SPDX-License-Identifier: Apache-2.0
#pragma once
// The power-of-two SSM datapath shared by sm_ssm_pot and sm_tree_ssm: one
// head stepped by one token (step_head_token, a DATAFLOW region of six
// stages joined by hls::stream FIFOs, defined with its pragmas in
// ssm_pot.cpp), the on-chip LUT ROMs, the integer helpers and the
// compile-time maxima that size every on-chip buffer.
//
// The arithmetic is LightMamba's integer rule of docs/ssm-quant.md
// ("The step, in order"), reproduced here from the contract (the kernel does
// not call core/): floats enter as their IEEE bit patterns and are quantized
// with integer operations only; codes are int8, exponents int16, products
// and accumulators int32 / int64, and the results leave as IEEE bit
// patterns assembled with integer operations (round to nearest even, as the
// reference's float(double)). No floating-point operator is used.
//
// Errors never throw: each stage sets a bit of a per-token error mask
// (kErr*), in the order the reference composition would raise them within
// a token (non-finite input, exp-table input, exponent overflow, float
// range). A kernel keeps the first error in token (or node) order.
#include <cstdint>
#include <cstring>

#include "accel/hls/hls_compat.h"
#include "accel/hls/top.h"

namespace sm::hls_kernels::ssm {

// ------------------------------------------------------------ compile-time maxima
// Sizes beyond these are kBadShape: they size the on-chip buffers.
inline constexpr int32_t kSsmPar = 8;              // state lanes per cycle (LightMamba's 8-wide SSM)
inline constexpr int32_t kMaxHeads = 256;          // H
inline constexpr int32_t kMaxHeadDim = 128;        // P
inline constexpr int32_t kMaxState = 128;          // N
inline constexpr int32_t kMaxGroup = 128;          // G (divides P and N)
inline constexpr int32_t kMaxStateGroups = 63;     // N / G (int64 accumulator bound of step 7)
inline constexpr int32_t kMaxHeadState = kMaxHeadDim * kMaxState;  // one head's state tile
inline constexpr int32_t kMaxLutSize = 8192;       // LUT intervals (size + 1 ROM entries)
inline constexpr int32_t kMaxNodes = 256;          // tree nodes (core's kMaxTreeNodes)
inline constexpr int32_t kMaxFifoDepth = 64;       // live state tiles on chip (tree), and
inline constexpr int32_t kMaxTileElems = 16384;    // tile_heads * P * N floats per live state,
inline constexpr int32_t kStatePoolWords = 16 * kMaxTileElems;  // fifo_depth * tile: 1 MiB on chip

// ------------------------------------------------------------ the contract's constants
inline constexpr int32_t kExpMin = -160;  // kActExpMin
inline constexpr int32_t kExpMax = 160;   // kActExpMax
inline constexpr int32_t kParamFrac = 16;  // A, D, dt_bias: Q16
inline constexpr int32_t kLutInFrac = 16;
inline constexpr int32_t kLutOutFrac = 24;
inline constexpr int32_t kAlignBits = 56;  // aligned terms < 2^56
inline constexpr int32_t kQmax = 127;

// Per-token error mask, lowest bit first in the reference's order.
inline constexpr uint8_t kErrNonFinite = 1;  // a NaN / inf in x, dt, B, C or the state
inline constexpr uint8_t kErrLutInput = 2;   // exp table input above 0 (only with a bad table)
inline constexpr uint8_t kErrOverflow = 4;   // a result exponent above 160
inline constexpr uint8_t kErrRange = 8;      // a result beyond float range

// The status of the lowest error bit of a mask (kOk for 0).
inline int32_t mask_status(uint8_t m) {
  if (m & kErrNonFinite) return kNonFinite;
  if (m & kErrLutInput) return kBadCode;
  if (m & kErrOverflow) return kOverflow;
  if (m & kErrRange) return kOutOfRange;
  return kOk;
}
// Rank of the first error of a mask (0..3), 4 for none: a kernel keeps the
// error with the smallest (token, rank).
inline int32_t mask_rank(uint8_t m) {
  for (int32_t r = 0; r < 4; ++r)
    if (m & (1u << r)) return r;
  return 4;
}

// ------------------------------------------------------------ integer helpers

inline uint32_t f2u(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float u2f(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Bits needed for x (bit_width): 0 for 0.
inline int32_t bw64(uint64_t x) { return x ? 64 - __builtin_clzll(x) : 0; }
inline uint64_t mag64(int64_t v) { return v < 0 ? uint64_t(0) - uint64_t(v) : uint64_t(v); }
inline int32_t imin(int32_t a, int32_t b) { return a < b ? a : b; }
inline int32_t imax(int32_t a, int32_t b) { return a > b ? a : b; }

// v * 2^k rounded half away from zero (the reference's round_shift) where
// the result fits; total for every (v, k): an unrepresentable left shift
// sets *ovf (if given) and gives 0.
inline int64_t round_shift(int64_t v, int32_t k, bool* ovf = nullptr) {
  if (v == 0 || k == 0) return v;
  const bool neg = v < 0;
  const uint64_t u = mag64(v);
  uint64_t r;
  if (k > 0) {
    if (k >= 63 || u > (uint64_t(INT64_MAX) >> k)) {
      if (ovf) *ovf = true;
      return 0;
    }
    r = u << k;
  } else {
    const int32_t n = -k;
    if (n > 64) {
      r = 0;
    } else if (n == 64) {
      r = u >= (uint64_t(1) << 63) ? 1 : 0;
    } else {
      r = (u + (uint64_t(1) << (n - 1))) >> n;
    }
  }
  return neg ? -int64_t(r) : int64_t(r);
}

// quantize_activations' exponent (8 bits) from the float bits of a group's
// largest |x| (finite, > 0): ceil(log2 m) - 7, exact, subnormals included.
inline int32_t float_group_exp(uint32_t m) {
  const uint32_t E = m >> 23, F = m & 0x7fffffu;
  const int32_t ceil_log2 = E == 0 ? -149 + bw64(F - 1) : int32_t(E) - 127 + (F != 0 ? 1 : 0);
  return ceil_log2 - 7;
}

// The code of one float (bits) in a group of exponent s: round_half_away(|x| 2^-s)
// clamped to 127, sign reapplied (-0.0 gives 0). |x| <= 2^(s+7), so the
// mantissa is shifted left by at most 7.
inline int8_t float_code(uint32_t bits, int32_t s) {
  const uint32_t a = bits & 0x7fffffffu, E = a >> 23;
  const uint64_t mant = E ? ((a & 0x7fffffu) | 0x800000u) : a;
  const int32_t k = (E ? int32_t(E) : 1) - 150 - s;
  uint64_t c;
  if (mant == 0) {
    c = 0;
  } else if (k >= 0) {
    c = k > 7 ? 128 : mant << k;  // k > 7 cannot happen for a group member
  } else if (-k >= 40) {
    c = 0;
  } else {
    c = (mant + (uint64_t(1) << (-k - 1))) >> -k;
  }
  const int32_t ci = c > 127 ? 127 : int32_t(c);
  return int8_t((bits >> 31) ? -ci : ci);
}

// IEEE bits of code * 2^s rounded once to float (nearest even, as
// float(double)); sets *range when the value exceeds FLT_MAX. A code has at
// most 7 significant bits, so the value is exact unless it is subnormal.
inline uint32_t pot_float_bits(int32_t code, int32_t s, bool* range) {
  if (code == 0) return 0;
  const uint32_t sign = code < 0 ? 0x80000000u : 0u;
  const uint32_t a = uint32_t(code < 0 ? -code : code);
  const int32_t w = bw64(a), top = s + w - 1;  // value in [2^top, 2^(top+1))
  if (top > 127) {
    *range = true;
    return sign | 0x7f800000u;
  }
  if (top >= -126) return sign | (uint32_t(top + 127) << 23) | ((a << (24 - w)) & 0x7fffffu);
  // Subnormal: a * 2^(s + 149) units of 2^-149.
  const int32_t sh = s + 149;
  if (sh >= 0) return sign | (a << sh);
  const int32_t n = -sh;
  if (n >= 9) return sign;  // a < 2^8 <= 2^(n-1): below one half
  uint32_t r = a >> n;
  const uint32_t rem = a & ((1u << n) - 1u), half = 1u << (n - 1);
  if (rem > half || (rem == half && (r & 1u))) ++r;
  return sign | r;  // r == 2^23 is the smallest normal's encoding
}

// quantize_pot_group's exponent of exact values v * 2^e with max |v| = m > 0:
// ceil(log2 m) + e - 7 raised to kExpMin; above kExpMax sets *ovf (and is
// clamped so the datapath stays defined).
inline int32_t fixed_group_exp(uint64_t m, int32_t e, bool* ovf) {
  int32_t s = imax(bw64(m - 1) + e - 7, kExpMin);
  if (s > kExpMax) {
    *ovf = true;
    s = kExpMax;
  }
  return s;
}
inline int8_t fixed_code(int64_t v, int32_t k) {
  const int64_t r = round_shift(v, k);
  return int8_t(r > kQmax ? kQmax : (r < -kQmax ? -kQmax : r));
}

// ------------------------------------------------------------ LUT ROMs

// One table on chip: t[0..size], with its configuration (lut.h's rule).
struct LutRom {
  int64_t t[kMaxLutSize + 1];
  int64_t size = 0, lo = 0, width = 0;
  int32_t shift = 0;
  bool linear = true;
  bool is_exp = false;
};

// Copies a table from host memory into its ROM and checks the contract:
// size a power of two in 2..kMaxLutSize, step shift 0..26, exp tables end
// at 0, entries and slopes small enough that the interpolation product fits
// int64 (kBadShape / kBadCode otherwise). Defined in ssm_pot.cpp.
int32_t load_lut(const int64_t* entries, const int64_t* cfg, bool is_exp, LutRom& rom);
// What both SSM kernels do before their first step: A <= 0 for heads
// [h0, h1) (kBadCode), then the softplus and exp ROMs (load_lut).
int32_t load_layer(const int32_t* params, int32_t h0, int32_t h1, const int64_t* lut_sp, const int64_t* lut_exp,
                   const int64_t* lut_cfg, LutRom& rom_sp, LutRom& rom_exp);

// f(v * 2^-16) * 2^24 (lut.h): left of the range 0; softplus right of it the
// identity v << 8; exp of v > 0 sets *bad.
inline int64_t lut_eval(const LutRom& r, int64_t v, bool* bad) {
  if (v < r.lo) return 0;
  if (r.is_exp) {
    if (v > 0) {
      *bad = true;
      return 0;
    }
  } else if (v >= r.lo + r.width) {
    bool ovf = false;
    const int64_t id = round_shift(v, kLutOutFrac - kLutInFrac, &ovf);
    return ovf ? int64_t(1) << 62 : id;
  }
  const int64_t u = v - r.lo;
  if (!r.linear) {
    const int64_t half = r.shift > 0 ? int64_t(1) << (r.shift - 1) : 0;
    return r.t[(u + half) >> r.shift];
  }
  const int64_t i = u >> r.shift;
  if (i >= r.size) return r.t[r.size];
  const int64_t f = u & ((int64_t(1) << r.shift) - 1);
  return r.t[i] + round_shift((r.t[i + 1] - r.t[i]) * f, -r.shift);
}

// ------------------------------------------------------------ stream items

struct ScalarPot {  // one INT8 PoT value
  int8_t code;
  int16_t exp;
};
struct GroupDot {  // C . h' of one state group and its exponent
  int32_t dot;
  int16_t exp;
};

// The FIFO depths: one token of one head. The emulation runs the stages of
// a region one after another, so a FIFO holds everything its producer
// writes per region call; the same depth goes into the STREAM pragma.
inline constexpr int32_t kDepthP = kMaxHeadDim;
inline constexpr int32_t kDepthN = kMaxState;
inline constexpr int32_t kDepthDots = kMaxHeadDim * kMaxStateGroups;

// One head stepped by one token: where its inputs are in host memory.
struct HeadToken {
  const float* x;   // [P] x of the head (xbc row + hd * P)
  const float* B;   // [N]
  const float* C;   // [N]
  const float* dt;  // the head's raw dt
  int32_t A, D, dt_bias;  // Q16
  int32_t P, N, G;
};

// One head, one token: the DATAFLOW region of six stages and an error
// merge (ssm_pot.cpp):
//   load_token -> quantize_token -> head_scalars -> state_update (kSsmPar
//   lanes) -> output_reduce -> store_y;  stages 2-5 -> merge_errors
// s_in / s_out: the head's state tile [P][N] as float bits (on chip; may be
// the same array); y: [P] in host memory. Returns the token's error mask.
uint8_t step_head_token(const HeadToken& in, const LutRom& lut_sp, const LutRom& lut_exp, const uint32_t* s_in,
                        uint32_t* s_out, float* y);

// The shape checks both kernels share (kOk or kBadShape).
inline int32_t check_shape(int32_t H, int32_t P, int32_t N, int32_t G) {
  if (H < 1 || P < 1 || N < 1 || G < 1) return kBadShape;
  if (H > kMaxHeads || P > kMaxHeadDim || N > kMaxState || G > kMaxGroup) return kBadShape;
  if (P % G != 0 || N % G != 0 || N / G > kMaxStateGroups) return kBadShape;
  return kOk;
}

}  // namespace sm::hls_kernels::ssm
