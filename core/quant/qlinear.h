// SPDX-License-Identifier: Apache-2.0
#pragma once
// Fast quantized linear layers on the CPU (W4/W8 x A4/A8), bit-exact against
// the integer reference sm::quant::linear_int on every SIMD target, for every
// batch size and thread count. The exactness argument and the layout are in
// docs/integer-kernels.md, "Fast kernels (qlinear)"; in short:
//
//  - Pow2Sum weights: when every block term of the reference is an exact
//    left shift (the shift s2 + xs + 32 is >= 0), its int64 sum Q is a plain
//    integer sum, and any exact integer evaluation gives the same Q, hence
//    the same float. The kernels sum the int8 block products of one weight
//    group in int32 lanes, each block scaled by 2^(xs - e_g) (e_g the group's
//    smallest activation exponent), and rescale once per group in int64.
//    Blocks that do not fit that scheme (tiny activations whose term needs
//    rounding, exponents far from the rest) are summed on their own and
//    rescaled with the reference's rounding; a token row whose int32 / int64
//    bounds cannot be proved runs through linear_int itself.
//  - Float-scale weights always run the reference (its binary64 sum is
//    order-dependent; nothing faster reproduces it cheaply).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/quant/quantizers.h"

namespace sm {
class ThreadPool;
}

namespace sm::quant {

// How qlinear quantizes its float input: quantize_activations' parameters.
struct ActQuant {
  int bits = 8;
  int64_t group = 8;
  int exp_min = kActExpMin;
  int exp_max = kActExpMax;
};

namespace detail {

// Output rows per packed tile: one AVX-512 vector of int32 lanes, two AVX2
// vectors, four SSE4 vectors. Fixed, so the layout is the same on every target.
inline constexpr int64_t kQTileRows = 16;
// Per tile and weight group: int8 (s1 + kFracBits) for the 16 rows, then int8 (s2 + kFracBits).
inline constexpr int64_t kQScaleBytes = 2 * kQTileRows;

// The packed Pow2Sum weights, read by the per-target kernels. Tile i holds
// rows [16 i, 16 i + 16) as one contiguous stream in the order decode reads
// it: per pair of weight groups, one 64-byte scale line (kQScaleBytes for
// each group of the pair), then the two groups' codes, channel quad after
// channel quad (w8: 64 bytes per quad, [row][4 channels] int8; w4: 64 bytes
// per quad pair, byte [row][j] = (code(quad q) + 8) | (code(quad q + 1) + 8) << 4).
// Scales inline (not at the tile's end) keep decode a few sequential streams:
// a separate sparse scale stream costs a DRAM stall per group. Rows past
// `rows` are zero codes.
struct QLayout {
  int64_t rows = 0, cols = 0, group = 0;
  int bits = 0;
  int64_t tiles = 0, tile_bytes = 0;
  int64_t group_bytes = 0;  // codes of one group in one tile: group * 16 * bits / 8 (a multiple of 64)
  const uint8_t* data = nullptr;

  const uint8_t* tile(int64_t t) const { return data + t * tile_bytes; }
  // Byte offsets within a tile.
  int64_t codes_offset(int64_t g) const { return (g / 2 + 1) * 64 + g * group_bytes; }
  int64_t scales_offset(int64_t g) const { return (g / 2) * (64 + 2 * group_bytes) + (g % 2) * kQScaleBytes; }
  const uint8_t* codes(int64_t t, int64_t g) const { return tile(t) + codes_offset(g); }
  const int8_t* scales(int64_t t, int64_t g) const {
    return reinterpret_cast<const int8_t*>(tile(t) + scales_offset(g));
  }
};

// A block rescaled on its own (see the header comment): its index, its
// activation exponent and the offset correction of its raw dot product.
struct QBlock {
  int32_t block, xs, corr;
};

// One token row prepared for the fast kernels (built per call).
struct QToken {
  const int8_t* codes;       // [cols] activation codes
  float* y;                  // [rows] output
  const int32_t* mul;        // [blocks] 2^d in both int16 halves (0: block not in the group sum)
  const int32_t* shl;        // [blocks] d (32: not in the group sum)
  const int32_t* init;       // [groups] start value of the int32 group sum (minus the offset correction)
  const int32_t* e;          // [groups] the group's base exponent e_g
  const int32_t* ind_begin;  // [groups + 1] ranges into ind
  const QBlock* ind;
};

struct QRun {
  const QLayout* layout;
  const QToken* tokens;
  int64_t ntok;
  int64_t block;  // B = min(weight group, activation group), a multiple of 8
  const float* bias;
};

// What one SIMD target runs: which integers its int32 lanes hold (0: exact
// sums, 1: exact sums via the sign trick, 2: sums plus offset * sum(a), with
// this offset), and the kernel over output tiles [tile0, tile1).
inline constexpr int kSchemeExact = 0, kSchemeSign = 1, kSchemeOffset = 2;
struct QKernel {
  int scheme;
  int offset;
  void (*run)(const QRun&, int64_t tile0, int64_t tile1);
};

}  // namespace detail

class PackedQMatrix {
 public:
  PackedQMatrix();
  ~PackedQMatrix();
  PackedQMatrix(PackedQMatrix&&) noexcept;
  PackedQMatrix& operator=(PackedQMatrix&&) noexcept;

  // Validates w (bits, shape, array sizes, Pow2Sum gaps: sm::Error) and keeps
  // a copy. Pow2Sum matrices whose group is a multiple of 8 are repacked for
  // the fast kernels; any other matrix (Float kind, other groups) is served by
  // the reference alone.
  static PackedQMatrix pack(const QuantizedMatrix& w);

  int64_t rows() const { return ref_.rows; }
  int64_t cols() const { return ref_.cols; }
  int bits() const { return ref_.bits; }
  int64_t group() const { return ref_.group; }
  ScaleKind kind() const { return ref_.kind; }
  // Bytes one decode step streams: the packed tiles (codes + per-group
  // scales, padded to whole 16-row tiles and 64-byte lines) when fast(), else
  // the reference arrays (codes + float scales, or codes + int16 s1 and s2).
  size_t bytes() const;
  const QuantizedMatrix& reference() const { return ref_; }
  bool fast() const { return data_ != nullptr; }

  // Kernel-facing details (valid when fast()).
  const detail::QLayout& layout() const { return layout_; }
  int max_abs_code() const { return wmax_; }  // largest |weight code|
  bool has_min_code() const { return has_min8_; }  // an 8-bit code of -128 (never produced by the quantizer)
  int s2_min(int64_t g) const { return s2min_[g]; }  // over all rows, of weight group g
  int s1_max(int64_t g) const { return s1max_[g]; }

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  QuantizedMatrix ref_;
  detail::QLayout layout_;
  std::unique_ptr<uint8_t[], Free> data_;
  std::vector<int16_t> s2min_, s1max_;
  int wmax_ = 0;
  bool has_min8_ = false;
};

// y[t][0..rows) (row stride ldy) = linear_int(quantize_activations(x rows, aq.bits, aq.group,
// aq.exp_min, aq.exp_max), w) + bias[r] (a float add after the kernel's float
// result; bias may be null). x is [T][ldx] floats, columns [0, cols). The
// same bits as the reference for every T, thread count and SIMD target, and
// the same errors (sm::Error). Splits output tiles over the pool (may be
// null) when the work pays for the hand-off. The FTZ/DAZ state of the calling
// thread or of the pool's workers does not change the result.
void qlinear(const float* x, int64_t T, int64_t ldx, const ActQuant& aq, const PackedQMatrix& w,
             const float* bias, float* y, int64_t ldy, ThreadPool* pool);

// The same with activations already quantized (tests, the accelerator emulation).
void qlinear(const QuantizedActivations& x, const PackedQMatrix& w, const float* bias, float* y,
             int64_t ldy, ThreadPool* pool);

// quantize_activations, bit for bit (codes and exponents), on rows of stride
// ldx; the fast path of the float qlinear, exposed for its tests.
QuantizedActivations quantize_activations_fast(const float* x, int64_t T, int64_t cols,
                                               int64_t ldx, const ActQuant& aq);

// What the last qlinear call on this thread did, for tests and benchmarks
// (which check that their data exercise the path they mean to): token rows
// that ran the reference (all of them for a reference-only matrix or input),
// and blocks of the fast rows rescaled on their own.
struct QLinearStats {
  int64_t fallback_rows = 0;
  int64_t single_blocks = 0;
};
QLinearStats qlinear_last_stats();

}  // namespace sm::quant
