// SPDX-License-Identifier: Apache-2.0
#include "core/kernels/packed_matrix.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/kernels/thread_pool.h"
#include "core/kernels/weight_memory.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels/packed_matrix.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "core/kernels/vec_math-inl.h"

// Per target: a micro-tile of TT input rows x NV column vectors accumulates
// over all inputs with one FMA chain per output, in input order. The tile
// shape therefore never changes a result: a row's outputs are bit-identical
// whether it is decoded alone (T = 1), in a tree batch or in a prefill panel.
HWY_BEFORE_NAMESPACE();
namespace sm {
namespace HWY_NAMESPACE {

constexpr int kLanes = static_cast<int>(hn::MaxLanes(DF()));
constexpr int kVecPerBlock = static_cast<int>(kPackLanes) / kLanes;  // vectors per 16-column block
constexpr bool kScalar = kLanes == 1;
constexpr int kRegs = (HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL) ? 32 : 16;

// Two register plans. Tree batches (T <= 8) on 16-register targets take
// the weights from L1 as FMA memory operands, so all but one register hold
// accumulators; prefill panels (and everything on AVX-512's 32 registers)
// load a strip of weights into registers once per input and reuse it for
// every row (the 6x16 / 8x48 shape of BLAS micro-kernels). Measured on both
// (bench_kernels), each plan is the faster one where it is used.
constexpr int RegsFor(bool in_regs, int tt, int nv) { return tt * nv + (in_regs ? nv : 0) + 1; }

// Widest whole-block strip for tt rows that fits the registers.
constexpr int VectorsFor(bool in_regs, int tt) {
  if (kScalar) return kVecPerBlock;
  // Decode on AVX-512 reads one block at a time: the matrix is one sequential
  // stream, which the EPYC Zen 4 machines read fastest (mamba-130m fp32 decode,
  // interleaved runs: 41-45 tok/s with 8 blocks at once, 51-55 with one). On
  // AVX2 there it was neutral (49 vs 50), and 12 streams were measured best on
  // Zen 3, so 16-register targets keep them.
  if (tt == 1) return kRegs == 32 ? kVecPerBlock : 12;
  int best = kVecPerBlock;
  for (int nv = kVecPerBlock; nv <= 8; nv += kVecPerBlock)
    if (RegsFor(in_regs, tt, nv) <= kRegs) best = nv;
  return best;
}
constexpr int RowsMax(bool in_regs, int cap) {
  if (kScalar) return 1;
  int tt = 1;
  while (tt < cap && RegsFor(in_regs, tt + 1, kVecPerBlock) <= kRegs) ++tt;
  return tt;
}
constexpr bool kSmallInRegs = kRegs == 32;
constexpr int kSmallRows = RowsMax(kSmallInRegs, kRegs == 32 ? 8 : 4);
constexpr int kPanelRows = RowsMax(true, 8);

template <bool InRegs, int TT, int NV>
HWY_INLINE void Tile(const float* HWY_RESTRICT x, int64_t in, const PackedMatrix& W, int64_t v0,
                     const float* bias, float* HWY_RESTRICT y, int64_t ldy) {
  const DF d;
  const float* wp[NV];
  for (int k = 0; k < NV; ++k) {
    const int64_t v = v0 + k;
    wp[k] = W.block(v / kVecPerBlock) + (v % kVecPerBlock) * kLanes;
  }
  VF acc[TT][NV];
  for (int t = 0; t < TT; ++t)
    for (int k = 0; k < NV; ++k) acc[t][k] = hn::Zero(d);
  for (int64_t i = 0; i < in; ++i) {
    if constexpr (InRegs) {
      VF w[NV];
      for (int k = 0; k < NV; ++k) w[k] = hn::Load(d, wp[k] + i * kPackLanes);
      for (int t = 0; t < TT; ++t) {
        const VF xb = hn::Set(d, x[t * in + i]);
        for (int k = 0; k < NV; ++k) acc[t][k] = hn::MulAdd(w[k], xb, acc[t][k]);
      }
    } else {
      for (int t = 0; t < TT; ++t) {
        const VF xb = hn::Set(d, x[t * in + i]);
        for (int k = 0; k < NV; ++k)
          acc[t][k] = hn::MulAdd(hn::Load(d, wp[k] + i * kPackLanes), xb, acc[t][k]);
      }
    }
  }
  const int64_t out = W.out();
  for (int k = 0; k < NV; ++k) {
    const int64_t c = (v0 + k) * kLanes;
    if (c >= out) break;
    const int64_t n = std::min<int64_t>(kLanes, out - c);
    const VF b = bias ? LoadPart(d, bias + c, n) : hn::Zero(d);
    for (int t = 0; t < TT; ++t) StorePart(d, hn::Add(acc[t][k], b), y + t * ldy + c, n);
  }
}

// tt (<= TT) rows over one strip of NV vectors, or of one block at the end.
template <bool InRegs, int TT, int NV>
HWY_INLINE void TileUpTo(int tt, bool full, const float* x, int64_t in, const PackedMatrix& W,
                         int64_t v, const float* bias, float* y, int64_t ldy) {
  if constexpr (TT > 1) {
    if (tt < TT) return TileUpTo<InRegs, TT - 1, NV>(tt, full, x, in, W, v, bias, y, ldy);
  }
  if (full)
    Tile<InRegs, TT, NV>(x, in, W, v, bias, y, ldy);
  else
    Tile<InRegs, TT, kVecPerBlock>(x, in, W, v, bias, y, ldy);
}

// Rows [0, T) in panels that stay in L2 while each strip of weight columns
// (in L1/L2) is swept by all of the panel's row tiles: the weights stream
// from memory once per panel rather than once per tile.
template <bool InRegs, int Rows, int NV>
HWY_INLINE void Sweep(const float* x, int64_t T, const PackedMatrix& W, const float* bias, float* y,
                      int64_t ldy, int64_t v0, int64_t v1) {
  const int64_t in = W.in();
  const int64_t panel = std::max<int64_t>(Rows, 64 / Rows * Rows);
  for (int64_t p0 = 0; p0 < T; p0 += panel) {
    const int64_t p1 = std::min(T, p0 + panel);
    for (int64_t v = v0; v < v1;) {
      const bool full = v + NV <= v1;
      for (int64_t t0 = p0; t0 < p1; t0 += Rows) {
        const int tt = static_cast<int>(std::min<int64_t>(Rows, p1 - t0));
        TileUpTo<InRegs, Rows, NV>(tt, full, x + t0 * in, in, W, v, bias, y + t0 * ldy, ldy);
      }
      v += full ? NV : kVecPerBlock;
    }
  }
}

template <int TT>
HWY_INLINE void SmallBatch(const float* x, const PackedMatrix& W, const float* bias, float* y,
                           int64_t ldy, int64_t v0, int64_t v1) {
  constexpr bool kInRegs = kSmallInRegs || TT == 2;  // two rows: measured faster in registers
  // Balanced row tiles (7 = 4 + 3, 5 = 3 + 2), not a full tile and a sliver.
  constexpr int kMax = kInRegs ? kPanelRows : kSmallRows;
  constexpr int R = (TT + (TT + kMax - 1) / kMax - 1) / ((TT + kMax - 1) / kMax);
  Sweep<kInRegs, R, VectorsFor(kInRegs, R)>(x, TT, W, bias, y, ldy, v0, v1);
}

void LinearBlocks(const float* x, int64_t T, const PackedMatrix& W, const float* bias, float* y,
                  int64_t ldy, int64_t b0, int64_t b1) {
  const int64_t v0 = b0 * kVecPerBlock, v1 = b1 * kVecPerBlock;
  switch (T) {
    case 1: return SmallBatch<1>(x, W, bias, y, ldy, v0, v1);
    case 2: return SmallBatch<2>(x, W, bias, y, ldy, v0, v1);
    case 3: return SmallBatch<3>(x, W, bias, y, ldy, v0, v1);
    case 4: return SmallBatch<4>(x, W, bias, y, ldy, v0, v1);
    case 5: return SmallBatch<5>(x, W, bias, y, ldy, v0, v1);
    case 6: return SmallBatch<6>(x, W, bias, y, ldy, v0, v1);
    case 7: return SmallBatch<7>(x, W, bias, y, ldy, v0, v1);
    case 8: return SmallBatch<8>(x, W, bias, y, ldy, v0, v1);
    default:
      return Sweep<true, kPanelRows, VectorsFor(true, kPanelRows)>(x, T, W, bias, y, ldy, v0, v1);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace sm
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sm {

void PackedMatrix::Free::operator()(float* p) const { weight_free(p); }

PackedMatrix PackedMatrix::pack(const float* W, int64_t out, int64_t in) {
  PackedMatrix m;
  m.out_ = out;
  m.in_ = in;
  const size_t n = static_cast<size_t>(m.blocks() * in * kPackLanes);
  float* p = static_cast<float*>(weight_alloc(n * sizeof(float)));
  m.data_.reset(p);
  for (int64_t b = 0; b < m.blocks(); ++b) {
    float* dst = p + b * in * kPackLanes;
    for (int64_t l = 0; l < kPackLanes; ++l) {
      const int64_t o = b * kPackLanes + l;
      for (int64_t i = 0; i < in; ++i) dst[i * kPackLanes + l] = o < out ? W[o * in + i] : 0.0f;
    }
  }
  return m;
}

HWY_EXPORT(LinearBlocks);

void packed_linear_blocks(const float* x, int64_t T, const PackedMatrix& W, const float* bias,
                          float* y, int64_t ldy, int64_t b0, int64_t b1) {
  HWY_DYNAMIC_DISPATCH(LinearBlocks)(x, T, W, bias, y, ldy, b0, b1);
}

void packed_linear(const float* x, int64_t T, const PackedMatrix& W, const float* bias, float* y,
                   int64_t ldy, ThreadPool* pool) {
  const int64_t blocks = W.blocks();
  // Below ~1 MB of weights a hand-off to another thread costs more than it saves.
  if (!pool || pool->size() == 1 || blocks < 4 ||
      W.out() * W.in() * std::min<int64_t>(T, 8) < (1 << 18)) {
    packed_linear_blocks(x, T, W, bias, y, ldy, 0, blocks);
    return;
  }
  pool->parallel_for(blocks, [&](int64_t b0, int64_t b1) {
    packed_linear_blocks(x, T, W, bias, y, ldy, b0, b1);
  });
}

}  // namespace sm
#endif
