// SPDX-License-Identifier: Apache-2.0
#include "core/kernels/packed_matrix.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/kernels/thread_pool.h"

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

// Largest whole-block vector count for TT rows that keeps accumulators, the
// broadcasts (or weights) and one temporary in registers.
constexpr int VectorsFor(int tt) {
  if (kScalar) return kVecPerBlock;
  if (tt == 1) return kRegs == 32 ? 8 : 12;  // decode: more streams, one weight temp
  int best = kVecPerBlock;
  for (int nv = kVecPerBlock; nv <= 8; nv += kVecPerBlock)
    if (tt * nv + std::min(tt, nv) + 1 <= kRegs) best = nv;
  return best;
}
constexpr int RowsMax() {
  if (kScalar) return 1;
  int tt = 1;
  while (tt < 8 && (tt + 1) * kVecPerBlock + std::min(tt + 1, kVecPerBlock) + 1 <= kRegs) ++tt;
  return tt;
}
constexpr int kRowsMax = RowsMax();

template <int TT, int NV>
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
    VF xb[TT];
    for (int t = 0; t < TT; ++t) xb[t] = hn::Set(d, x[t * in + i]);
    for (int k = 0; k < NV; ++k) {
      const VF w = hn::Load(d, wp[k] + i * kPackLanes);
      for (int t = 0; t < TT; ++t) acc[t][k] = hn::MulAdd(w, xb[t], acc[t][k]);
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

// Rows [0, tt) (tt <= kRowsMax) over vectors [v0, v1), NV at a time.
template <int TT>
HWY_INLINE void Strip(const float* x, int64_t in, const PackedMatrix& W, int64_t v0, int64_t v1,
                      const float* bias, float* y, int64_t ldy) {
  constexpr int NV = VectorsFor(TT);
  int64_t v = v0;
  for (; v + NV <= v1; v += NV) Tile<TT, NV>(x, in, W, v, bias, y, ldy);
  for (; v < v1; v += kVecPerBlock) Tile<TT, kVecPerBlock>(x, in, W, v, bias, y, ldy);
}

template <int TT>
HWY_INLINE void StripUpTo(int tt, const float* x, int64_t in, const PackedMatrix& W, int64_t v0,
                          int64_t v1, const float* bias, float* y, int64_t ldy) {
  if constexpr (TT > 1) {
    if (tt < TT) return StripUpTo<TT - 1>(tt, x, in, W, v0, v1, bias, y, ldy);
  }
  Strip<TT>(x, in, W, v0, v1, bias, y, ldy);
}

void LinearBlocks(const float* x, int64_t T, const PackedMatrix& W, const float* bias, float* y,
                  int64_t ldy, int64_t b0, int64_t b1) {
  const int64_t in = W.in();
  const int64_t v0 = b0 * kVecPerBlock, v1 = b1 * kVecPerBlock;
  if (T <= kRowsMax) return StripUpTo<kRowsMax>(int(T), x, in, W, v0, v1, bias, y, ldy);
  // Panels of rows stay in L2 while a strip of weight columns (NV vectors,
  // in L1/L2) is swept by all of the panel's row tiles, so the weights stream
  // from memory once per panel rather than once per tile.
  constexpr int NV = VectorsFor(kRowsMax);
  const int64_t panel = std::max<int64_t>(kRowsMax, 64 / kRowsMax * kRowsMax);
  for (int64_t p0 = 0; p0 < T; p0 += panel) {
    const int64_t p1 = std::min(T, p0 + panel);
    for (int64_t v = v0; v < v1; v += NV) {
      const int64_t ve = std::min(v1, v + NV);
      for (int64_t t0 = p0; t0 < p1; t0 += kRowsMax) {
        const int tt = static_cast<int>(std::min<int64_t>(kRowsMax, p1 - t0));
        StripUpTo<kRowsMax>(tt, x + t0 * in, in, W, v, ve, bias, y + t0 * ldy, ldy);
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace sm
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sm {

void PackedMatrix::Free::operator()(float* p) const { std::free(p); }

PackedMatrix PackedMatrix::pack(const float* W, int64_t out, int64_t in) {
  PackedMatrix m;
  m.out_ = out;
  m.in_ = in;
  const size_t n = static_cast<size_t>(m.blocks() * in * kPackLanes);
  float* p = static_cast<float*>(std::aligned_alloc(64, std::max<size_t>(64, (n * sizeof(float) + 63) / 64 * 64)));
  if (!p) throw std::bad_alloc();
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
