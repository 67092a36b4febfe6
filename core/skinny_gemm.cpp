// SPDX-License-Identifier: Apache-2.0
#include "core/skinny_gemm.h"

#if defined(__AVX512F__)
#include <immintrin.h>
// GCC 12 reports a false -Wuninitialized inside _mm512_reduce_add_ps.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace sm {
namespace {

#if defined(__AVX512F__)
// R weight rows x T inputs per block: R*T accumulators in zmm registers.
template <int T, int R>
inline void block(const float* x, int64_t in, const float* W, int64_t o, float* y, int64_t ldy) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= in; i += 16) {
    __m512 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm512_loadu_ps(x + t * in + i);
    for (int r = 0; r < R; ++r) {
      const __m512 w = _mm512_loadu_ps(W + (o + r) * in + i);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(w, xv[t], acc[r][t]);
    }
  }
  if (i < in) {
    const __mmask16 m = static_cast<__mmask16>((1u << (in - i)) - 1);
    __m512 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm512_maskz_loadu_ps(m, x + t * in + i);
    for (int r = 0; r < R; ++r) {
      const __m512 w = _mm512_maskz_loadu_ps(m, W + (o + r) * in + i);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(w, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t * ldy + o + r] = _mm512_reduce_add_ps(acc[r][t]);
}

template <int T>
void run(const float* x, int64_t in, const float* W, int64_t o0, int64_t o1, float* y,
         int64_t ldy) {
  constexpr int R = T <= 2 ? 4 : 2;  // keep R*T + T within 32 registers
  int64_t o = o0;
  for (; o + R <= o1; o += R) block<T, R>(x, in, W, o, y, ldy);
  for (; o < o1; ++o) block<T, 1>(x, in, W, o, y, ldy);
}
#else
template <int T>
void run(const float* x, int64_t in, const float* W, int64_t o0, int64_t o1, float* y,
         int64_t ldy) {
  for (int64_t o = o0; o < o1; ++o) {
    const float* w = W + o * in;
    float acc[T] = {};
    for (int64_t i = 0; i < in; ++i)
      for (int t = 0; t < T; ++t) acc[t] += w[i] * x[t * in + i];
    for (int t = 0; t < T; ++t) y[t * ldy + o] = acc[t];
  }
}
#endif

}  // namespace

void skinny_gemm(const float* x, int64_t T, int64_t in, const float* W, int64_t o0, int64_t o1,
                 float* y, int64_t ldy) {
  switch (T) {
    case 1: return run<1>(x, in, W, o0, o1, y, ldy);
    case 2: return run<2>(x, in, W, o0, o1, y, ldy);
    case 3: return run<3>(x, in, W, o0, o1, y, ldy);
    case 4: return run<4>(x, in, W, o0, o1, y, ldy);
    case 5: return run<5>(x, in, W, o0, o1, y, ldy);
    case 6: return run<6>(x, in, W, o0, o1, y, ldy);
    case 7: return run<7>(x, in, W, o0, o1, y, ldy);
    default: return run<8>(x, in, W, o0, o1, y, ldy);
  }
}

}  // namespace sm
