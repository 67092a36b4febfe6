// SPDX-License-Identifier: Apache-2.0
#pragma once
// Compile-time geometry of the quantized linear unit (sm_linear, top.h) and
// the words its dataflow stages pass to each other (accel/hls/linear.cpp).
//
// The compute tile is LightMamba's: kTileRows output rows x kTileCols input
// channels per cycle (64 int8 x int8 multiply-adds), reused for each token of
// a batch of up to kTileTokens tokens whose activation codes sit on chip, so
// a weight tile is fetched once per batch.
//
// Everything on chip is sized by the maxima below; a call beyond them gets
// Status::kBadShape. Rows and tokens are streamed, so their maxima only bound
// the loop trip counts.
#include <cstdint>

#include "accel/hls/hls_compat.h"

namespace sm::hls_kernels::linear {

inline constexpr int32_t kTileRows = 8;    // output rows per MAC tile
inline constexpr int32_t kTileCols = 8;    // input channels per MAC tile (and per stream word)
inline constexpr int32_t kTileTokens = 8;  // tokens whose codes are on chip per weight pass

inline constexpr int32_t kMaxCols = 8192;          // input width (line buffers, activation buffer)
inline constexpr int32_t kMaxRows = 1 << 20;       // output width (streamed)
inline constexpr int32_t kMaxTokens = 1 << 16;     // tokens per call (streamed)
inline constexpr int32_t kMaxGroup = 65536;        // quant::kMaxGroup
inline constexpr int32_t kColWords = kMaxCols / kTileCols;  // stream words per activation row
// Weight tiles per row tile: a block of B channels takes ceil(B / 8) tiles
// (the lanes past the block's end are zero), so B a multiple of 8 uses
// cols / 8 of them; blocks of 1..7 channels fit for narrower rows only.
// This is also the most weight / activation groups a row can have.
inline constexpr int32_t kMaxTiles = kMaxCols / kTileCols;
inline constexpr int32_t kMaxHadamardK = 148;      // largest base of quant::hadamard_base_sizes()

// Pow2Sum fixed point (quant::kFracBits, kPow2SumMaxGap) and the activation
// exponent field (quant::kActExpMin / kActExpMax).
inline constexpr int32_t kFracBits = 32;
inline constexpr int32_t kMaxGap = 7;
inline constexpr int32_t kExpMin = -160;
inline constexpr int32_t kExpMax = 160;

// One stream word of activations: 8 consecutive channels (the last word of a
// row is zero-padded).
struct XWord {
  float v[kTileCols];
};

// One weight tile: 8 channels x 8 rows of one block, channel-major (w[l]
// is the column of 8 row codes that meets activation lane l), zero outside
// the block and below the last row.
struct WTile {
  int8_t w[kTileCols][kTileRows];
};

// The Pow2Sum exponents of the 8 rows for one block.
struct ScaleWord {
  int16_t s1[kTileRows];
  int16_t s2[kTileRows];
};

// The int64 fixed-point sums Q of one token's 8 rows.
struct QWord {
  int64_t q[kTileRows];
};

// Per-call geometry, derived once from the scalar arguments.
struct Geometry {
  int32_t rows, cols, T, ldx, ldy;
  int32_t wbits, wgroup, abits, agroup;
  int32_t exp_min, exp_max;
  int32_t rotate, hk, hm;  // hm = cols / hk: the Walsh length
  int32_t B;               // block = min(wgroup, agroup)
  int32_t nblocks;         // cols / B
  int32_t nsub;            // tiles per block: ceil(B / 8)
  int32_t row_bytes;       // bytes per weight row
  int32_t wgroups, agroups;  // groups per row
};

// Error flags of the stages, combined into one Status by priority (the order
// in which the reference raises them: quantization, then the weights'
// scales, then the fixed-point range).
enum ErrorFlag : uint8_t {
  kFlagNonFinite = 1,   // NaN / inf in x
  kFlagRotRange = 2,    // a finite row whose rotation leaves float range
  kFlagBadGap = 4,      // s1 - s2 outside 1..kMaxGap
  kFlagOverflow = 8,    // sum |term| beyond int64
};

}  // namespace sm::hls_kernels::linear
