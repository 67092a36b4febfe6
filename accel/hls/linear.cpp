// SPDX-License-Identifier: Apache-2.0
// sm_linear: the accelerator's quantized linear unit (contract in top.h; the
// bit-exact reference is quant::transform + quant::quantize_activations +
// quant::linear_int with Pow2Sum weights, docs/integer-kernels.md). The same
// source is the CPU emulation (`emu` backend) and the Vitis HLS kernel.
//
// Dataflow (one activation pass per token of a batch of <= kTileTokens
// tokens, then one weight pass per tile of kTileRows output rows):
//
//        x[t] (m_axi)           hbase (m_axi, once per call -> hb[K][K] on chip)
//          |                       |
//   +------v------+  XWord   +-----v------+  XWord   +-------------+
//   |   load_x    |--------->| rotate_row |--------->| quantize_row|--> act[t][cols] int8
//   | burst, inf? | x_in     | FWHT + H_K | x_rot    | absmax, exp |    aexp[t][groups] int16
//   +-------------+ (1024)   +------------+ (1024)   +-------------+    (on chip, kTileTokens rows)
//                                                                           |
//   codes, s1, s2 (m_axi)                                                   |
//          |                                                                |
//   +------v-------+  WTile 8x8 int8   +------------------------+  QWord   +-v--------+
//   | load_weights |------------------>|        mac_tile        |--------->| store_y  |--> y (m_axi)
//   | 8-row line   | w_tiles (1024)    | 8 ch x 8 rows / cycle  | q_out (8)| Q*2^-32  |
//   | buffer, gaps |------------------>| int32 block acc, then  |          | -> float |
//   +--------------+  ScaleWord        | round_shift -> int64 Q |          +----------+
//                     w_scales (1024)  +------------------------+
//
//   act_pipeline = load_x -> rotate_row -> quantize_row      (#pragma HLS DATAFLOW)
//   tile_pipeline = load_weights -> mac_tile -> store_y      (#pragma HLS DATAFLOW)
//
// Each DATAFLOW region handles one work unit (one token row, one row tile),
// and each FIFO is as deep as one unit's traffic (kColWords / kMaxTiles /
// kTileTokens words): a ping-pong depth in hardware, and what lets the C++
// emulation run the stages one after the other with the shim's depth checks
// (hls_compat.h) on.
//
// Blocks: B = min(wgroup, agroup) channels share one weight scale and one
// activation exponent. A block is ceil(B / 8) tiles, lanes past its end
// zero; B a multiple of 8 wastes nothing. The int32 block sums are rescaled
// once per block and token (8 rows in parallel) exactly as linear_int does:
//   m = (acc << (s1 - s2)) + acc;  term = round_shift(m, s2 + xs + 32);
//   Q += term (int64, sum |term| checked against INT64_MAX);  y = float(Q) * 2^-32.
//
// Supported: every shape, group and window the reference accepts, within the
// on-chip maxima of linear.h (cols <= kMaxCols, at most kMaxTiles tiles per
// row tile: all B >= 8 up to kMaxCols, smaller blocks on narrower rows).
//
// Errors never throw: each stage raises flags (linear.h, ErrorFlag), the top
// function turns them into one Status in the reference's order:
//   kBadShape    bits, groups (range, divisibility, nesting), exponent window,
//                ldx < cols, ldy < rows, negative sizes, the on-chip maxima,
//                null pointers, rotate with a width that has no construction,
//                hk != quant::hadamard_k(cols) or an hbase entry not +-1
//   kNonFinite   NaN / inf in x (columns past cols are never read)
//   kOutOfRange  a finite row whose rotation leaves float range (the
//                reference's quantizer then sees inf)
//   kBadCode     a Pow2Sum gap s1 - s2 outside 1..7 (checked even if T == 0)
//   kOverflow    round_shift leaving int64, or sum |term| > INT64_MAX
#include "accel/hls/linear.h"

#include <cmath>
#include <cstring>

#include "accel/hls/top.h"

// Loop labels name the loops for v++ (reports, pragmas); a C++ compiler sees
// labels nothing jumps to.
#if !defined(__SYNTHESIS__) && defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-label"
#endif

namespace sm::hls_kernels::linear {
namespace {

inline int32_t min32(int32_t a, int32_t b) { return a < b ? a : b; }
inline bool is_pow2(int32_t n) { return n > 0 && (n & (n - 1)) == 0; }

inline uint32_t float_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}

// The K quant::hadamard_k(n) picks (QuaRot's order, 40 before 20), 0 if none.
int32_t hadamard_k_of(int32_t n) {
  constexpr int32_t kOrder[11] = {44, 148, 140, 108, 60, 52, 36, 28, 40, 20, 12};
  if (n <= 0) return 0;
hadk_loop:
  for (int32_t i = 0; i < 11; ++i) {
#pragma HLS UNROLL
    if (n % kOrder[i] == 0 && is_pow2(n / kOrder[i])) return kOrder[i];
  }
  return is_pow2(n) ? 1 : 0;
}

// Position of the highest set bit + 1 (a priority encoder), for m < 2^24.
inline int32_t bit_length24(uint32_t m) {
  int32_t len = 0;
bitlen_loop:
  for (int32_t i = 0; i < 24; ++i) {
#pragma HLS UNROLL
    if ((m >> i) & 1u) len = i + 1;
  }
  return len;
}

// A finite float's magnitude as M * 2^(e - 150): M the integer significand
// (hidden bit included), e the biased exponent (1 for subnormals).
struct Unpacked {
  uint32_t M;
  int32_t e;
};
inline Unpacked unpack(uint32_t mag_bits) {
  const int32_t E = static_cast<int32_t>(mag_bits >> 23);
  const uint32_t f = mag_bits & 0x7FFFFFu;
  return {E ? (f | 0x800000u) : f, E ? E : 1};
}

// quant::act_exponent from the bits of absmax (sign clear, finite):
// ceil(log2(absmax)) - (bits - 1); absmax == 0 gives 0.
inline int32_t act_exponent_bits(uint32_t amax, int32_t bits) {
  if (amax == 0) return 0;
  const Unpacked u = unpack(amax);
  const int32_t pow2 = (u.M & (u.M - 1)) == 0 ? 1 : 0;
  return bit_length24(u.M) + u.e - 150 - pow2 - (bits - 1);
}

// clamp(round_half_away(x * 2^-s), -qmax, qmax), exactly, with shifts only:
// |x| 2^-s = M * 2^k with k = e - 150 - s.
inline int8_t act_code(uint32_t xb, int32_t s, int32_t qm) {
  const uint32_t a = xb & 0x7FFFFFFFu;
  if (a == 0) return 0;
  const Unpacked u = unpack(a);
  const int32_t k = u.e - 150 - s;
  uint64_t mag;
  if (k >= 8) {
    mag = static_cast<uint64_t>(qm);  // M >= 1: at least 256
  } else if (k >= 0) {
    mag = static_cast<uint64_t>(u.M) << k;
  } else if (k <= -32) {
    mag = 0;  // M < 2^24 < 2^(n-1): below one half
  } else {
    const int32_t n = -k;
    mag = (static_cast<uint64_t>(u.M) + (uint64_t(1) << (n - 1))) >> n;  // ties away from zero
  }
  if (mag > static_cast<uint64_t>(qm)) mag = static_cast<uint64_t>(qm);
  const int32_t v = static_cast<int32_t>(mag);
  return static_cast<int8_t>((xb >> 31) ? -v : v);
}

// quant::round_shift: v * 2^k rounded to nearest, ties away from zero; false
// when the result leaves int64.
inline bool round_shift(int64_t v, int32_t k, int64_t& out) {
  if (k == 0 || v == 0) {
    out = v;
    return true;
  }
  const bool neg = v < 0;
  const uint64_t u = neg ? uint64_t(0) - uint64_t(v) : uint64_t(v);
  uint64_t r;
  if (k > 0) {
    if (k >= 63 || u > (uint64_t(INT64_MAX) >> k)) return false;
    r = u << k;
  } else {
    const int32_t n = -k;
    if (n > 64) r = 0;
    else if (n == 64) r = u >= (uint64_t(1) << 63) ? 1 : 0;
    else r = (u + (uint64_t(1) << (n - 1))) >> n;
  }
  out = neg ? -static_cast<int64_t>(r) : static_cast<int64_t>(r);
  return true;
}

// ------------------------------------------------------------ argument check

int32_t check_args(const uint8_t* codes, const int16_t* s1, const int16_t* s2, const float* x,
                   const float* y, const int8_t* hbase, int32_t hk, int32_t rows, int32_t cols,
                   int32_t T, int32_t ldx, int32_t ldy, int32_t wbits, int32_t wgroup, int32_t abits,
                   int32_t agroup, int32_t exp_min, int32_t exp_max, int32_t rotate, Geometry& g) {
  if (rows < 0 || cols < 0 || T < 0) return kBadShape;
  if (rows > kMaxRows || cols > kMaxCols || T > kMaxTokens) return kBadShape;
  if ((wbits != 4 && wbits != 8) || (abits != 4 && abits != 8)) return kBadShape;
  if (wgroup < 1 || wgroup > kMaxGroup || agroup < 1 || agroup > kMaxGroup) return kBadShape;
  if (cols % wgroup != 0 || cols % agroup != 0) return kBadShape;
  if (exp_min > exp_max || exp_min < kExpMin || exp_max > kExpMax) return kBadShape;
  if (ldx < cols || ldy < rows) return kBadShape;
  const int32_t B = min32(wgroup, agroup);
  const int32_t Bmax = wgroup > agroup ? wgroup : agroup;
  if (Bmax % B != 0) return kBadShape;
  // |acc| <= B * 2^(wbits-1) * 2^(abits-1) must fit int32 (always, below kMaxCols).
  if ((static_cast<int64_t>(B) << (wbits - 1 + abits - 1)) > INT32_MAX) return kBadShape;
  const int32_t nsub = (B + kTileCols - 1) / kTileCols;
  const int32_t nblocks = cols / B;
  if (static_cast<int64_t>(nblocks) * nsub > kMaxTiles) return kBadShape;
  int32_t K = 1;
  if (rotate != 0) {
    K = hadamard_k_of(cols);
    if (K == 0 || hk != K) return kBadShape;
    if (K > 1 && hbase == nullptr) return kBadShape;
  }
  const bool work = T > 0 && rows > 0;
  if ((work && y == nullptr) || (T > 0 && cols > 0 && x == nullptr)) return kBadShape;
  if (rows > 0 && cols > 0 && (s1 == nullptr || s2 == nullptr || (work && codes == nullptr)))
    return kBadShape;
  g.rows = rows;
  g.cols = cols;
  g.T = T;
  g.ldx = ldx;
  g.ldy = ldy;
  g.wbits = wbits;
  g.wgroup = wgroup;
  g.abits = abits;
  g.agroup = agroup;
  g.exp_min = exp_min;
  g.exp_max = exp_max;
  g.rotate = rotate != 0 ? 1 : 0;
  g.hk = K;
  g.hm = cols / K;
  g.B = B;
  g.nblocks = nblocks;
  g.nsub = nsub;
  g.row_bytes = wbits == 4 ? (cols + 1) / 2 : cols;
  g.wgroups = cols / wgroup;
  g.agroups = cols / agroup;
  return kOk;
}

// H_K onto the chip; every entry must be +-1.
int32_t load_hbase(const int8_t* hbase, int32_t K, int8_t hb[kMaxHadamardK * kMaxHadamardK]) {
  int32_t bad = 0;
hbase_loop:
  for (int32_t i = 0; i < K * K; ++i) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=21904
    const int8_t v = hbase[i];
    if (v != 1 && v != -1) bad = 1;
    hb[i] = v;
  }
  return bad ? kBadShape : kOk;
}

// T == 0: no weight pass runs, but the reference still checks every gap.
uint8_t scan_scales(const int16_t* s1, const int16_t* s2, const Geometry& g) {
  uint8_t f = 0;
  const int64_t n = static_cast<int64_t>(g.rows) * g.wgroups;
scan_loop:
  for (int64_t i = 0; i < n; ++i) {
#pragma HLS PIPELINE II=1
    const int32_t gap = int32_t(s1[i]) - int32_t(s2[i]);
    if (gap < 1 || gap > kMaxGap) f |= kFlagBadGap;
  }
  return f;
}

// -------------------------------------------------------- activation stages

// Burst-reads one token row into 8-channel words; flags NaN / inf.
void load_x(const float* xrow, const Geometry& g, hls::stream<XWord>& out, uint8_t& flags) {
  uint8_t f = 0;
  const int32_t words = (g.cols + kTileCols - 1) / kTileCols;
load_x_words:
  for (int32_t w = 0; w < words; ++w) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=1024
    XWord xw;
  load_x_lanes:
    for (int32_t l = 0; l < kTileCols; ++l) {
#pragma HLS UNROLL
      const int32_t c = w * kTileCols + l;
      const float v = c < g.cols ? xrow[c] : 0.0f;
      if ((float_bits(v) & 0x7F800000u) == 0x7F800000u) f |= kFlagNonFinite;
      xw.v[l] = v;
    }
    out.write(xw);
  }
  flags = f;
}

// quant::transform of the row when g.rotate, else a pass-through. The float
// operations are the reference's, in its order: Walsh butterflies (stage h =
// 1, 2, 4, ... of each length-hm segment: a + b, a - b), then for K = 1 one
// multiply by s, for K > 1 out[a*hm + j] = (±z[j] ± z[hm + j] ± ...) * s with
// the signs of row a of H_K, terms in column order; s = float(1 / sqrt(n)).
void rotate_row(hls::stream<XWord>& in, hls::stream<XWord>& out, const int8_t* hb, const Geometry& g) {
  const int32_t words = (g.cols + kTileCols - 1) / kTileCols;
  if (!g.rotate) {
  pass_words:
    for (int32_t w = 0; w < words; ++w) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=1024
      out.write(in.read());
    }
    return;
  }
  float z[kMaxCols];
#pragma HLS ARRAY_PARTITION variable=z cyclic factor=8
rot_read:
  for (int32_t w = 0; w < words; ++w) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=1024
    const XWord xw = in.read();
  rot_read_lanes:
    for (int32_t l = 0; l < kTileCols; ++l) {
#pragma HLS UNROLL
      const int32_t c = w * kTileCols + l;
      if (c < g.cols) z[c] = xw.v[l];
    }
  }
  // Butterflies: a pair (j, j + h) lies in one aligned 2h-block, so one loop
  // over all n/2 pairs covers the K segments (2h <= hm never crosses one).
  const int32_t half = g.cols / 2;
walsh_stages:
  for (int32_t lh = 0; (1 << lh) < g.hm; ++lh) {
#pragma HLS LOOP_TRIPCOUNT max=13
    const int32_t h = 1 << lh;
  walsh_pairs:
    for (int32_t i = 0; i < half; ++i) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=4096
#pragma HLS DEPENDENCE variable=z inter false
      const int32_t j = ((i >> lh) << (lh + 1)) | (i & (h - 1));
      const float a = z[j], b = z[j + h];
      z[j] = a + b;
      z[j + h] = a - b;
    }
  }
  const float s = static_cast<float>(1.0 / std::sqrt(static_cast<double>(g.cols)));
  const int32_t K = g.hk, m = g.hm;
  XWord ow{};
  int32_t lane = 0;
  if (K == 1) {
  scale_words:
    for (int32_t c = 0; c < g.cols; ++c) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=8192
      ow.v[lane] = z[c] * s;
      if (++lane == kTileCols || c + 1 == g.cols) {
        out.write(ow);
        ow = XWord{};
        lane = 0;
      }
    }
    return;
  }
mix_rows:
  for (int32_t a = 0; a < K; ++a) {
#pragma HLS LOOP_TRIPCOUNT max=148
  mix_cols:
    for (int32_t j = 0; j < m; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=256
      const int8_t* sign = hb + a * K;
      float acc = sign[0] > 0 ? z[j] : -z[j];
    mix_terms:
      for (int32_t c = 1; c < K; ++c) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=147
        const float v = z[c * m + j];
        acc = sign[c] > 0 ? acc + v : acc - v;
      }
      ow.v[lane] = acc * s;
      if (++lane == kTileCols || a * m + j + 1 == g.cols) {
        out.write(ow);
        ow = XWord{};
        lane = 0;
      }
    }
  }
}

// quant::quantize_activations of one row: per group of agroup channels the
// absmax (as float bits: the order of non-negative floats), its exponent
// clamped to [exp_min, exp_max], then the codes. A non-finite value here with
// a finite input row can only come from the rotation (flag kFlagRotRange).
void quantize_row(hls::stream<XWord>& in, int8_t* code, int16_t* exps, const Geometry& g, uint8_t& flags) {
  uint32_t xb[kMaxCols];
#pragma HLS ARRAY_PARTITION variable=xb cyclic factor=8
  uint8_t f = 0;
  const int32_t words = (g.cols + kTileCols - 1) / kTileCols;
q_read:
  for (int32_t w = 0; w < words; ++w) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=1024
    const XWord xw = in.read();
  q_read_lanes:
    for (int32_t l = 0; l < kTileCols; ++l) {
#pragma HLS UNROLL
      const int32_t c = w * kTileCols + l;
      const uint32_t b = float_bits(xw.v[l]);
      if (c < g.cols) {
        if ((b & 0x7F800000u) == 0x7F800000u) f |= kFlagRotRange;
        xb[c] = b;
      }
    }
  }
  const int32_t qm = (1 << (g.abits - 1)) - 1;
q_groups:
  for (int32_t gi = 0; gi < g.agroups; ++gi) {
#pragma HLS LOOP_TRIPCOUNT max=1024
    const int32_t c0 = gi * g.agroup;
    uint32_t amax = 0;
  q_absmax:
    for (int32_t i = 0; i < g.agroup; ++i) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=128
      const uint32_t a = xb[c0 + i] & 0x7FFFFFFFu;
      amax = a > amax ? a : amax;
    }
    int32_t s = act_exponent_bits(amax, g.abits);
    s = s < g.exp_min ? g.exp_min : (s > g.exp_max ? g.exp_max : s);
    exps[gi] = static_cast<int16_t>(s);
  q_codes:
    for (int32_t i = 0; i < g.agroup; ++i) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=128
      code[c0 + i] = act_code(xb[c0 + i], s, qm);
    }
  }
q_pad:
  for (int32_t i = 0; i < kTileCols; ++i) {
#pragma HLS UNROLL
    code[g.cols + i] = 0;  // the MAC's last tile of a row may read up to 7 past it
  }
  flags = f;
}

// One token row: load -> rotate -> quantize into the on-chip batch buffers.
void act_pipeline(const float* xrow, int8_t* code, int16_t* exps, const int8_t* hb, const Geometry& g,
                  uint8_t& f_load, uint8_t& f_quant) {
#pragma HLS DATAFLOW
  hls::stream<XWord> x_in("x_in");
  hls::stream<XWord> x_rot("x_rot");
#pragma HLS STREAM variable=x_in depth=1024
#pragma HLS STREAM variable=x_rot depth=1024
#ifndef __SYNTHESIS__
  x_in.set_depth(kColWords);
  x_rot.set_depth(kColWords);
#endif
  load_x(xrow, g, x_in, f_load);
  rotate_row(x_in, x_rot, hb, g);
  quantize_row(x_rot, code, exps, g, f_quant);
}

// ------------------------------------------------------------ weight stages

// Burst-reads the tile's rows into an unpacked line buffer (int4: element 2i
// in the low nibble, two's complement), then emits, block by block, one
// ScaleWord and ceil(B / 8) WTiles. A gap outside 1..kMaxGap is flagged and
// replaced by 1 (so no stage shifts by an absurd amount; the result is
// unspecified after an error anyway).
void load_weights(const uint8_t* codes, const int16_t* s1, const int16_t* s2, int32_t r0,
                  const Geometry& g, hls::stream<WTile>& w_tiles, hls::stream<ScaleWord>& w_scales,
                  uint8_t& flags) {
  int8_t line[kTileRows][kMaxCols + kTileCols];
#pragma HLS ARRAY_PARTITION variable=line complete dim=1
#pragma HLS ARRAY_PARTITION variable=line cyclic factor=8 dim=2
  uint8_t f = 0;
  const int32_t nr = min32(kTileRows, g.rows - r0);
  const int32_t pad_end = g.cols + kTileCols;  // a block's last tile may look up to 7 past the row
line_rows:
  for (int32_t r = 0; r < kTileRows; ++r) {
#pragma HLS LOOP_TRIPCOUNT max=8
    if (r >= nr) {
      // Rows past the matrix multiply as zeros.
    line_zero:
      for (int32_t i = 0; i < pad_end; ++i) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=8200
        line[r][i] = 0;
      }
      continue;
    }
    const uint8_t* src = codes + static_cast<int64_t>(r0 + r) * g.row_bytes;
    if (g.wbits == 8) {
    line_bytes8:
      for (int32_t i = 0; i < g.cols; ++i) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=8192
        line[r][i] = static_cast<int8_t>(src[i]);
      }
    } else {
      // Element 2i in the low nibble; an odd row's last high nibble is padding.
    line_bytes4:
      for (int32_t i = 0; i < g.cols / 2; ++i) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=4096
        const int32_t b = src[i];
        const int32_t lo = b & 0x0F, hi = b >> 4;
        line[r][2 * i] = static_cast<int8_t>(lo >= 8 ? lo - 16 : lo);
        line[r][2 * i + 1] = static_cast<int8_t>(hi >= 8 ? hi - 16 : hi);
      }
      if (g.cols % 2 != 0) {
        const int32_t lo = src[g.cols / 2] & 0x0F;
        line[r][g.cols - 1] = static_cast<int8_t>(lo >= 8 ? lo - 16 : lo);
      }
    }
  line_pad:
    for (int32_t i = g.cols; i < pad_end; ++i) {
#pragma HLS UNROLL
      line[r][i] = 0;
    }
  }
w_blocks:
  for (int32_t b = 0; b < g.nblocks; ++b) {
#pragma HLS LOOP_TRIPCOUNT max=1024
    const int32_t c0 = b * g.B;
    const int32_t gw = c0 / g.wgroup;
    ScaleWord sw;
  w_scale_rows:
    for (int32_t r = 0; r < kTileRows; ++r) {
#pragma HLS UNROLL
      int16_t a = 1, e = 0;
      if (r < nr) {
        const int64_t i = static_cast<int64_t>(r0 + r) * g.wgroups + gw;
        a = s1[i];
        e = s2[i];
        const int32_t gap = int32_t(a) - int32_t(e);
        if (gap < 1 || gap > kMaxGap) {
          f |= kFlagBadGap;
          a = 1;
          e = 0;
        }
      }
      sw.s1[r] = a;
      sw.s2[r] = e;
    }
    w_scales.write(sw);
  w_subtiles:
    for (int32_t j = 0; j < g.nsub; ++j) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=16
      WTile t;
    w_tile_lanes:
      for (int32_t l = 0; l < kTileCols; ++l) {
#pragma HLS UNROLL
        // Lanes past the block's end (the next block, or the row's padding) are 0.
        const int32_t k = j * kTileCols + l;
        const int8_t lane_mask = k < g.B ? int8_t(-1) : int8_t(0);
      w_tile_rows:
        for (int32_t r = 0; r < kTileRows; ++r) {
#pragma HLS UNROLL
          t.w[l][r] = static_cast<int8_t>(line[r][c0 + k] & lane_mask);
        }
      }
      w_tiles.write(t);
    }
  }
  flags = f;
}

// The MAC tile: per block, the 8 x 8 weight tile times each token's 8
// activation codes (64 multiply-adds per cycle, one token per cycle) into
// int32 block sums; at the block's end one Pow2Sum rescale per token and row
// into the int64 Q. Tokens and rows of the tile are independent; blocks are
// summed in column order (any order gives the same Q once the |term| bound
// holds, docs/integer-kernels.md).
void mac_tile(hls::stream<WTile>& w_tiles, hls::stream<ScaleWord>& w_scales,
              const int8_t act[kTileTokens][kMaxCols + kTileCols], const int16_t aexp[kTileTokens][kMaxTiles],
              int32_t nt, const Geometry& g, hls::stream<QWord>& q_out, uint8_t& flags) {
  // Q in two's complement modulo 2^64: exact while the |term| bound holds
  // (then no partial sum leaves int64), and no undefined overflow after it
  // failed (the result is unspecified then).
  uint64_t Q[kTileTokens][kTileRows];
  uint64_t mag[kTileTokens][kTileRows];
  int32_t acc[kTileTokens][kTileRows];
#pragma HLS ARRAY_PARTITION variable=Q complete dim=2
#pragma HLS ARRAY_PARTITION variable=mag complete dim=2
#pragma HLS ARRAY_PARTITION variable=acc complete dim=2
  uint8_t f = 0;
mac_init:
  for (int32_t tk = 0; tk < kTileTokens; ++tk) {
#pragma HLS PIPELINE II=1
    for (int32_t r = 0; r < kTileRows; ++r) {
#pragma HLS UNROLL
      Q[tk][r] = 0;
      mag[tk][r] = 0;
    }
  }
mac_blocks:
  for (int32_t b = 0; b < g.nblocks; ++b) {
#pragma HLS LOOP_TRIPCOUNT max=1024
    const ScaleWord sw = w_scales.read();
    const int32_t c0 = b * g.B;
    const int32_t ga = c0 / g.agroup;
  mac_zero:
    for (int32_t tk = 0; tk < nt; ++tk) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=8
      for (int32_t r = 0; r < kTileRows; ++r) {
#pragma HLS UNROLL
        acc[tk][r] = 0;
      }
    }
  mac_subtiles:
    for (int32_t j = 0; j < g.nsub; ++j) {
#pragma HLS LOOP_TRIPCOUNT max=16
      const WTile t = w_tiles.read();
      const int32_t cj = c0 + j * kTileCols;
    mac_tokens:
      for (int32_t tk = 0; tk < nt; ++tk) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=8
        // 8 channels x 8 rows: each lane's activation times its column of
        // row codes (|w a| <= 2^14: int16 products), summed per row in int32.
        int32_t part[kTileRows];
#pragma HLS ARRAY_PARTITION variable=part complete
      mac_part_init:
        for (int32_t r = 0; r < kTileRows; ++r) {
#pragma HLS UNROLL
          part[r] = 0;
        }
      mac_lanes:
        for (int32_t l = 0; l < kTileCols; ++l) {
#pragma HLS UNROLL
          // Lanes past the block meet zero weights (and, past the row, the
          // zero padding of act).
          const int16_t a = int16_t(act[tk][cj + l]);
        mac_rows:
          for (int32_t r = 0; r < kTileRows; ++r) {
#pragma HLS UNROLL
            part[r] += int16_t(int16_t(t.w[l][r]) * a);
          }
        }
      mac_acc:
        for (int32_t r = 0; r < kTileRows; ++r) {
#pragma HLS UNROLL
          acc[tk][r] += part[r];
        }
      }
    }
  mac_rescale:
    for (int32_t tk = 0; tk < nt; ++tk) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=8
      const int32_t xs = aexp[tk][ga];
      int64_t mm[kTileRows];
      int32_t k[kTileRows];
#pragma HLS ARRAY_PARTITION variable=mm complete
#pragma HLS ARRAY_PARTITION variable=k complete
      // |acc| <= 8192 * 2^14 = 2^27, so |mm| < 2^35: a left shift by up to 27
      // cannot leave int64 and a right shift by 1..62 is a plain rounding.
      constexpr int32_t kFastLeftMax = 27;
      bool all_fast = true;  // every row's round_shift without its corner cases
    rescale_prep:
      for (int32_t r = 0; r < kTileRows; ++r) {
#pragma HLS UNROLL
        const int32_t gap = int32_t(sw.s1[r]) - int32_t(sw.s2[r]);
        const int64_t a = acc[tk][r];
        mm[r] = a * (int64_t(1) << gap) + a;  // (acc << gap) + acc, |.| < 2^38
        // round_shift(0, k) = 0 for every k: a zero sum (a zero block, or a
        // row past the matrix) takes the fast path with any valid shift.
        k[r] = mm[r] == 0 ? -1 : int32_t(sw.s2[r]) + xs + kFracBits;
        all_fast = all_fast && k[r] > -63 && k[r] <= kFastLeftMax;
      }
      uint64_t u[kTileRows], term[kTileRows];
      bool bad[kTileRows];
#pragma HLS ARRAY_PARTITION variable=u complete
#pragma HLS ARRAY_PARTITION variable=term complete
#pragma HLS ARRAY_PARTITION variable=bad complete
      if (all_fast) {
        // The usual case, branch-free: sign and magnitude with masks, then
        // |mm| << k for k >= 0, (|mm| + 2^(n-1)) >> n for k = -n < 0 (ties
        // away from zero), the sign restored.
      rescale_fast:
        for (int32_t r = 0; r < kTileRows; ++r) {
#pragma HLS UNROLL
          const uint64_t sgn = uint64_t(mm[r] >> 63);  // 0 or all ones
          const uint64_t um = (uint64_t(mm[r]) ^ sgn) - sgn;
          const int32_t ls = k[r] > 0 ? k[r] : 0;
          const int32_t rs = k[r] < 0 ? -k[r] : 0;
          const uint64_t half = rs > 0 ? uint64_t(1) << (rs - 1) : uint64_t(0);
          u[r] = ((um << ls) + half) >> rs;
          term[r] = (u[r] ^ sgn) - sgn;
          bad[r] = false;
        }
      } else {
      rescale_general:
        for (int32_t r = 0; r < kTileRows; ++r) {
#pragma HLS UNROLL
          int64_t t = 0;
          bad[r] = !round_shift(mm[r], k[r], t);
          term[r] = uint64_t(t);
          u[r] = t < 0 ? uint64_t(0) - uint64_t(t) : uint64_t(t);
        }
      }
    rescale_sum:
      for (int32_t r = 0; r < kTileRows; ++r) {
#pragma HLS UNROLL
        // The reference's bound: sum |term| <= INT64_MAX.
        if (bad[r] || u[r] > uint64_t(INT64_MAX) - mag[tk][r]) f |= kFlagOverflow;
        mag[tk][r] += u[r];
        Q[tk][r] += term[r];
      }
    }
  }
mac_out:
  for (int32_t tk = 0; tk < nt; ++tk) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=8
    QWord qw;
    for (int32_t r = 0; r < kTileRows; ++r) {
#pragma HLS UNROLL
      qw.q[r] = static_cast<int64_t>(Q[tk][r]);
    }
    q_out.write(qw);
  }
  flags = f;
}

// y = float(Q) * 2^-32: one int64 -> binary32 rounding (nearest-even), then
// an exact power-of-two scaling (|Q| >= 1 keeps it normal; Q = 0 gives +0).
void store_y(hls::stream<QWord>& q_out, float* y, int32_t r0, int32_t t0, int32_t nt, const Geometry& g) {
  const int32_t nr = min32(kTileRows, g.rows - r0);
store_tokens:
  for (int32_t tk = 0; tk < nt; ++tk) {
#pragma HLS PIPELINE II=1
#pragma HLS LOOP_TRIPCOUNT max=8
    const QWord qw = q_out.read();
    float* dst = y + static_cast<int64_t>(t0 + tk) * g.ldy + r0;
  store_rows:
    for (int32_t r = 0; r < kTileRows; ++r) {
#pragma HLS UNROLL
      if (r < nr) dst[r] = static_cast<float>(qw.q[r]) * 0x1p-32f;
    }
  }
}

// One row tile for the current token batch: weights -> MAC -> store.
void tile_pipeline(const uint8_t* codes, const int16_t* s1, const int16_t* s2,
                   const int8_t act[kTileTokens][kMaxCols + kTileCols], const int16_t aexp[kTileTokens][kMaxTiles],
                   float* y, int32_t r0, int32_t t0, int32_t nt, const Geometry& g, uint8_t& f_w,
                   uint8_t& f_mac) {
#pragma HLS DATAFLOW
  hls::stream<WTile> w_tiles("w_tiles");
  hls::stream<ScaleWord> w_scales("w_scales");
  hls::stream<QWord> q_out("q_out");
#pragma HLS STREAM variable=w_tiles depth=1024
#pragma HLS STREAM variable=w_scales depth=1024
#pragma HLS STREAM variable=q_out depth=8
#ifndef __SYNTHESIS__
  w_tiles.set_depth(kMaxTiles);
  w_scales.set_depth(kMaxTiles);
  q_out.set_depth(kTileTokens);
#endif
  load_weights(codes, s1, s2, r0, g, w_tiles, w_scales, f_w);
  mac_tile(w_tiles, w_scales, act, aexp, nt, g, q_out, f_mac);
  store_y(q_out, y, r0, t0, nt, g);
}

// The reference raises quantization errors first, then gaps, then overflow.
int32_t status_of(uint8_t flags) {
  if (flags & kFlagNonFinite) return kNonFinite;
  if (flags & kFlagRotRange) return kOutOfRange;
  if (flags & kFlagBadGap) return kBadCode;
  if (flags & kFlagOverflow) return kOverflow;
  return kOk;
}

}  // namespace
}  // namespace sm::hls_kernels::linear

extern "C" void sm_linear(const uint8_t* codes, const int16_t* s1, const int16_t* s2, const float* x, float* y,
                          const int8_t* hbase, int32_t hk, int32_t rows, int32_t cols, int32_t T, int32_t ldx,
                          int32_t ldy, int32_t wbits, int32_t wgroup, int32_t abits, int32_t agroup,
                          int32_t exp_min, int32_t exp_max, int32_t rotate, int32_t* status) {
#pragma HLS INTERFACE m_axi port=codes offset=slave bundle=gmem_w max_read_burst_length=64
#pragma HLS INTERFACE m_axi port=s1 offset=slave bundle=gmem_s
#pragma HLS INTERFACE m_axi port=s2 offset=slave bundle=gmem_s
#pragma HLS INTERFACE m_axi port=x offset=slave bundle=gmem_x
#pragma HLS INTERFACE m_axi port=hbase offset=slave bundle=gmem_x
#pragma HLS INTERFACE m_axi port=y offset=slave bundle=gmem_y
#pragma HLS INTERFACE m_axi port=status offset=slave bundle=gmem_y
#pragma HLS INTERFACE s_axilite port=codes bundle=control
#pragma HLS INTERFACE s_axilite port=s1 bundle=control
#pragma HLS INTERFACE s_axilite port=s2 bundle=control
#pragma HLS INTERFACE s_axilite port=x bundle=control
#pragma HLS INTERFACE s_axilite port=y bundle=control
#pragma HLS INTERFACE s_axilite port=hbase bundle=control
#pragma HLS INTERFACE s_axilite port=hk bundle=control
#pragma HLS INTERFACE s_axilite port=rows bundle=control
#pragma HLS INTERFACE s_axilite port=cols bundle=control
#pragma HLS INTERFACE s_axilite port=T bundle=control
#pragma HLS INTERFACE s_axilite port=ldx bundle=control
#pragma HLS INTERFACE s_axilite port=ldy bundle=control
#pragma HLS INTERFACE s_axilite port=wbits bundle=control
#pragma HLS INTERFACE s_axilite port=wgroup bundle=control
#pragma HLS INTERFACE s_axilite port=abits bundle=control
#pragma HLS INTERFACE s_axilite port=agroup bundle=control
#pragma HLS INTERFACE s_axilite port=exp_min bundle=control
#pragma HLS INTERFACE s_axilite port=exp_max bundle=control
#pragma HLS INTERFACE s_axilite port=rotate bundle=control
#pragma HLS INTERFACE s_axilite port=status bundle=control
#pragma HLS INTERFACE s_axilite port=return bundle=control
  using namespace sm::hls_kernels;
  using namespace sm::hls_kernels::linear;
  if (status == nullptr) return;
  Geometry g{};
  int32_t st = check_args(codes, s1, s2, x, y, hbase, hk, rows, cols, T, ldx, ldy, wbits, wgroup, abits,
                          agroup, exp_min, exp_max, rotate, g);
  if (st != kOk) {
    *status = st;
    return;
  }
  // H_K on chip (K = 1 needs no base: the transform is the Walsh part alone).
  int8_t hb[kMaxHadamardK * kMaxHadamardK];
#pragma HLS ARRAY_PARTITION variable=hb cyclic factor=4
  hb[0] = 1;
  if (g.rotate && g.hk > 1) {
    st = load_hbase(hbase, g.hk, hb);
    if (st != kOk) {
      *status = st;
      return;
    }
  }
  // The batch's activation codes and exponents (a block's exponent is that
  // of the activation group containing it).
  int8_t act[kTileTokens][kMaxCols + kTileCols];
  int16_t aexp[kTileTokens][kMaxTiles];
#pragma HLS ARRAY_PARTITION variable=act cyclic factor=8 dim=2
  uint8_t err = 0;
  if (g.T == 0 && g.rows > 0) err |= scan_scales(s1, s2, g);
token_batches:
  for (int32_t t0 = 0; t0 < g.T; t0 += kTileTokens) {
#pragma HLS LOOP_TRIPCOUNT max=8192
    const int32_t nt = min32(kTileTokens, g.T - t0);
  batch_rows:
    for (int32_t i = 0; i < nt; ++i) {
#pragma HLS LOOP_TRIPCOUNT max=8
      uint8_t f_load = 0, f_quant = 0;
      const float* xrow = x != nullptr ? x + static_cast<int64_t>(t0 + i) * g.ldx : x;  // x may be null if cols == 0
      act_pipeline(xrow, act[i], aexp[i], hb, g, f_load, f_quant);
      err |= f_load | f_quant;
    }
  row_tiles:
    for (int32_t r0 = 0; r0 < g.rows; r0 += kTileRows) {
#pragma HLS LOOP_TRIPCOUNT max=131072
      uint8_t f_w = 0, f_mac = 0;
      tile_pipeline(codes, s1, s2, act, aexp, y, r0, t0, nt, g, f_w, f_mac);
      err |= f_w | f_mac;
    }
  }
  *status = status_of(err);
}
