// SPDX-License-Identifier: Apache-2.0
#pragma once
// Integer quantizers and the bit-exact integer reference linear kernel
// (LightMamba-style W4A4 / W8A8). This file is the reference every faster
// kernel and every accelerator backend must reproduce bit for bit; the
// contract is written out in docs/integer-kernels.md.
//
// Conventions shared by every function here:
//  - Codes are symmetric: [-qmax, qmax] with qmax = 2^(bits-1) - 1. The
//    quantizers never emit -2^(bits-1), so q(-x) = -q(x) exactly (negation
//    and Hadamard sign flips commute with quantization) and a float scale of
//    absmax / qmax reaches both ends of the range. The kernel still accepts
//    -2^(bits-1) in hand-built inputs (LightMamba's hardware clamps to it),
//    and its overflow bounds are proved with |code| <= 2^(bits-1).
//  - Rounding is to nearest, ties away from zero (std::round), everywhere.
//  - NaN or infinity in any input is an error (sm::Error), never UB and
//    never a silent saturation. Subnormal inputs are quantized like normal
//    ones (frexp / ldexp are exact on them; nothing is flushed to zero).
//  - Bits are 4 or 8; group sizes are 1..kMaxGroup and divide the row.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace sm::quant {

enum class ScaleKind : uint8_t {
  Float,    // one binary32 scale per group: absmax / qmax
  Pow2Sum,  // scale = 2^s1 + 2^s2, 1 <= s1 - s2 <= kPow2SumMaxGap: rescale by shifts only
};

// Largest group (weights and activations). The int32 per-block sum is then
// safe for 8-bit x 8-bit codes even at -128 x -128: 65536 * 128 * 128 = 2^30.
inline constexpr int64_t kMaxGroup = 65536;
static_assert(kMaxGroup * 128 * 128 <= INT32_MAX, "int32 block sum could overflow");

// Fraction bits of the int64 fixed-point accumulator of the Pow2Sum path:
// an output is Q * 2^-kFracBits, so |y| < 2^31 and the resolution is 2^-32.
inline constexpr int kFracBits = 32;

// s1 - s2 ranges over 1..7 (a 3-bit shift difference, as in LightMamba).
inline constexpr int kPow2SumMaxGap = 7;

// Activation exponents live in [kActExpMin, kActExpMax]: wide enough that
// every finite float group gets its natural exponent (-156 .. 125), narrow
// enough for int16 storage and small shift arithmetic.
inline constexpr int kActExpMin = -160;
inline constexpr int kActExpMax = 160;

inline constexpr int qmax(int bits) { return (1 << (bits - 1)) - 1; }

// Nearest integer, ties away from zero. v must be finite with |v| < 2^62.
int64_t round_half_away(double v);

// v * 2^k rounded to an integer, ties away from zero, computed exactly for
// every int64 v and every k; nullopt when the result does not fit in int64.
std::optional<int64_t> round_shift(int64_t v, int k);

// ---------------------------------------------------------------- int4 packing
// Two's complement nibbles, two codes per byte, element 2i in the low nibble.
// An odd count is padded with a zero high nibble in the last byte; unpack
// rejects a non-zero pad (it means the byte count or n is wrong).
std::vector<uint8_t> pack_int4(std::span<const int8_t> codes);
std::vector<int8_t> unpack_int4(std::span<const uint8_t> bytes, int64_t n);

// --------------------------------------------------------------------- weights
struct Pow2Sum {
  int s1 = 0, s2 = -1;
  double value() const;  // 2^s1 + 2^s2, exact in double
};

// The Pow2Sum scale of one group: with k = floor(log2(absmax / qmax)), the
// candidates are s1 in {k-1, k, k+1} x (s1 - s2) in {1..7}, visited in that
// order (s1 ascending, then gap ascending); the first with the smallest
// squared error sum((w - S * code(w, S))^2) (double, element order) wins.
// An all-zero group gives {0, -1}.
Pow2Sum choose_pow2sum(std::span<const float> w, int bits);

struct QuantizedMatrix {
  int64_t rows = 0, cols = 0;  // [out][in]; groups run along cols (the input dimension)
  int bits = 0;
  int64_t group = 0;
  ScaleKind kind = ScaleKind::Float;
  // Row-major, row_bytes() per row: int8 codes (bits 8) or packed nibbles
  // (bits 4, each row starts on a byte boundary; odd cols pad the last byte).
  std::vector<uint8_t> codes;
  std::vector<float> scales;    // Float: [rows][groups_per_row()]
  std::vector<int16_t> s1, s2;  // Pow2Sum: [rows][groups_per_row()]

  int64_t groups_per_row() const { return group > 0 ? cols / group : 0; }
  int64_t row_bytes() const { return bits == 4 ? (cols + 1) / 2 : cols; }
  // Inline: packing calls it once per weight (130 M times for mamba-130m).
  int code(int64_t r, int64_t c) const {
    const uint8_t* row = codes.data() + r * row_bytes();
    if (bits == 8) return static_cast<int8_t>(row[c]);
    const int nib = (c % 2 == 0) ? (row[c / 2] & 0x0F) : (row[c / 2] >> 4);
    return nib >= 8 ? nib - 16 : nib;
  }
  double scale(int64_t r, int64_t g) const;  // the group's scale, exact
};

// W is row-major [rows][cols]. Float kind: scale = absmax / qmax in binary32
// (a group whose scale is 0 — all zero, or so tiny the division underflows —
// stores scale 0 and all-zero codes); code = clamp(round(w / scale)) with the
// quotient in double, which is exact enough that no tie is misjudged.
QuantizedMatrix quantize_weights(const float* W, int64_t rows, int64_t cols, int bits,
                                 int64_t group, ScaleKind kind);

// code * scale, rounded once to float; fails if a value exceeds float range.
std::vector<float> dequantize(const QuantizedMatrix& w);

// ----------------------------------------------------------------- activations
// s = ceil(log2(absmax)) - (bits - 1), exact (frexp): |x| / 2^s <= 2^(bits-1).
// absmax must be finite and >= 0; absmax == 0 gives 0 (codes are 0 anyway).
int act_exponent(float absmax, int bits);

struct QuantizedActivations {
  int64_t rows = 0, cols = 0;  // [T][in]
  int bits = 0;
  int64_t group = 0;
  std::vector<int8_t> codes;   // [rows][cols], int8 for both 4 and 8 bits
  std::vector<int16_t> exps;   // [rows][cols / group]: value = code * 2^exp

  int64_t groups_per_row() const { return group > 0 ? cols / group : 0; }
};

// Dynamic per-group power-of-two quantization: s = act_exponent(absmax)
// clamped to [exp_min, exp_max] (a narrower window emulates a hardware
// exponent field: values then saturate at +-qmax or round coarser), code =
// clamp(round(x * 2^-s), -qmax, qmax); x * 2^-s is exact in double. A value
// of exactly 2^(bits-1) * 2^s (absmax a power of two) saturates to qmax.
QuantizedActivations quantize_activations(const float* x, int64_t rows, int64_t cols, int bits,
                                          int64_t group = 8, int exp_min = kActExpMin,
                                          int exp_max = kActExpMax);

// code * 2^exp as float; fails if a value exceeds float range.
std::vector<float> dequantize(const QuantizedActivations& x);

// ------------------------------------------------------------ the linear kernel
// y[t][r] (columns [0, w.rows) of rows of length ldy) = sum_c w[r][c] x[t][c],
// on codes. The input is cut into blocks of B = min(w.group, x.group) (one
// must divide the other), inside which both scales are constant:
//   acc = sum over the block of w_code * x_code            (int32, exact)
// Pow2Sum: term = round_shift(acc * (2^(s1-s2) + 1), s2 + xs + kFracBits),
//          Q = sum of terms (int64; sum |term| must be <= INT64_MAX, so any
//          summation order gives the same Q), y = float(Q) * 2^-kFracBits.
// Float:   y = float(sum over blocks in order of double(acc) * (double(scale) * 2^xs)),
//          binary64, multiply then add (no FMA), starting from +0.
// Fails (sm::Error) on shape / bits / group mismatch, activation codes out of
// range, an exponent gap outside 1..kPow2SumMaxGap, int64 overflow of the
// fixed point (sum of |terms| >= 2^31) or a float result beyond float range.
// Single-threaded and stateless: the same inputs give the same bits.
void linear_int(const QuantizedActivations& x, const QuantizedMatrix& w, float* y, int64_t ldy);
std::vector<float> linear_int(const QuantizedActivations& x, const QuantizedMatrix& w);

}  // namespace sm::quant
