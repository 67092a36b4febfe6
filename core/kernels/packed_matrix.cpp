// SPDX-License-Identifier: Apache-2.0
#include "core/kernels/packed_matrix.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/kernels/thread_pool.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

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

namespace {

// One tile: TT input rows x NB output blocks, accumulated over all inputs.
template <int TT, int NB>
inline void tile(const float* x, int64_t in, const PackedMatrix& W, int64_t b, int64_t out,
                 const float* bias, float* y, int64_t ldy) {
#if defined(__AVX512F__)
  __m512 acc[TT][NB];
  for (int t = 0; t < TT; ++t)
    for (int k = 0; k < NB; ++k) acc[t][k] = _mm512_setzero_ps();
  const float* w[NB];
  for (int k = 0; k < NB; ++k) w[k] = W.block(b + k);
  for (int64_t i = 0; i < in; ++i) {
    __m512 wv[NB];
    for (int k = 0; k < NB; ++k) wv[k] = _mm512_load_ps(w[k] + i * kPackLanes);
    for (int t = 0; t < TT; ++t) {
      const __m512 xb = _mm512_set1_ps(x[t * in + i]);
      for (int k = 0; k < NB; ++k) acc[t][k] = _mm512_fmadd_ps(wv[k], xb, acc[t][k]);
    }
  }
  for (int k = 0; k < NB; ++k) {
    const int64_t o0 = (b + k) * kPackLanes;
    const int64_t n = std::min<int64_t>(kPackLanes, out - o0);
    const __mmask16 m = static_cast<__mmask16>(n >= 16 ? 0xFFFF : (1u << n) - 1);
    const __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias + o0) : _mm512_setzero_ps();
    for (int t = 0; t < TT; ++t)
      _mm512_mask_storeu_ps(y + t * ldy + o0, m, _mm512_add_ps(acc[t][k], bv));
  }
#else
  float acc[TT][NB][kPackLanes] = {};
  for (int64_t i = 0; i < in; ++i)
    for (int k = 0; k < NB; ++k) {
      const float* wv = W.block(b + k) + i * kPackLanes;
      for (int t = 0; t < TT; ++t) {
        const float xv = x[t * in + i];
        for (int l = 0; l < kPackLanes; ++l) acc[t][k][l] += wv[l] * xv;
      }
    }
  for (int k = 0; k < NB; ++k) {
    const int64_t o0 = (b + k) * kPackLanes;
    const int64_t n = std::min<int64_t>(kPackLanes, out - o0);
    for (int t = 0; t < TT; ++t)
      for (int64_t l = 0; l < n; ++l) y[t * ldy + o0 + l] = acc[t][k][l] + (bias ? bias[o0 + l] : 0.0f);
  }
#endif
}

// Enough independent accumulators to hide FMA latency, few enough to stay in
// the 32 vector registers.
template <int TT>
void rows(const float* x, int64_t in, const PackedMatrix& W, int64_t b0, int64_t b1, int64_t out,
          const float* bias, float* y, int64_t ldy) {
  constexpr int NB = TT == 1 ? 8 : TT == 2 ? 4 : TT <= 4 ? 3 : 2;
  int64_t b = b0;
  for (; b + NB <= b1; b += NB) tile<TT, NB>(x, in, W, b, out, bias, y, ldy);
  for (; b < b1; ++b) tile<TT, 1>(x, in, W, b, out, bias, y, ldy);
}

}  // namespace

using TileFn = void (*)(const float*, int64_t, const PackedMatrix&, int64_t, int64_t, const float*,
                       float*, int64_t);

template <int TT>
constexpr TileFn tile_fn(int nb) {
  return nb == 2 ? &tile<TT, 2> : &tile<TT, 1>;
}

void packed_linear_blocks(const float* x, int64_t T, const PackedMatrix& W, const float* bias,
                          float* y, int64_t ldy, int64_t b0, int64_t b1) {
  const int64_t in = W.in(), out = W.out();
  if (T <= 8) {
    switch (T) {
      case 1: return rows<1>(x, in, W, b0, b1, out, bias, y, ldy);
      case 2: return rows<2>(x, in, W, b0, b1, out, bias, y, ldy);
      case 3: return rows<3>(x, in, W, b0, b1, out, bias, y, ldy);
      case 4: return rows<4>(x, in, W, b0, b1, out, bias, y, ldy);
      case 5: return rows<5>(x, in, W, b0, b1, out, bias, y, ldy);
      case 6: return rows<6>(x, in, W, b0, b1, out, bias, y, ldy);
      case 7: return rows<7>(x, in, W, b0, b1, out, bias, y, ldy);
      default: return rows<8>(x, in, W, b0, b1, out, bias, y, ldy);
    }
  }
  // Prefill: a panel of up to 64 input rows stays in L2 while a pair of
  // weight blocks is swept by all of its 8-row tiles, so the weights stream
  // from memory once per panel instead of once per tile.
  static constexpr TileFn fns[9][3] = {
      {}, {nullptr, tile_fn<1>(1), tile_fn<1>(2)}, {nullptr, tile_fn<2>(1), tile_fn<2>(2)},
      {nullptr, tile_fn<3>(1), tile_fn<3>(2)}, {nullptr, tile_fn<4>(1), tile_fn<4>(2)},
      {nullptr, tile_fn<5>(1), tile_fn<5>(2)}, {nullptr, tile_fn<6>(1), tile_fn<6>(2)},
      {nullptr, tile_fn<7>(1), tile_fn<7>(2)}, {nullptr, tile_fn<8>(1), tile_fn<8>(2)}};
  for (int64_t p0 = 0; p0 < T; p0 += 64) {
    const int64_t p1 = std::min(T, p0 + 64);
    for (int64_t b = b0; b < b1; b += 2) {
      const int nb = static_cast<int>(std::min<int64_t>(2, b1 - b));
      for (int64_t t0 = p0; t0 < p1; t0 += 8) {
        const int tt = static_cast<int>(std::min<int64_t>(8, p1 - t0));
        fns[tt][nb](x + t0 * in, in, W, b, out, bias, y + t0 * ldy, ldy);
      }
    }
  }
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
