// SPDX-License-Identifier: Apache-2.0
#include "core/kernels/ssm_kernels.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "core/kernels/math_kernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>
// GCC 12 reports a false -Wuninitialized inside _mm512_reduce_add_ps.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace sm {

void causal_conv_silu(const float* in, int64_t in_stride, int64_t T, int64_t C, int K,
                      const float* wT, const float* b, float* window, float* out, int64_t c0,
                      int64_t c1) {
  const int64_t W = K - 1;
  // Row r of the extended input: the window for r < W, else input row r - W.
  auto row = [&](int64_t r) -> const float* { return r < W ? window + r * C : in + (r - W) * in_stride; };
  for (int64_t t = 0; t < T; ++t) {
    float* o = out + t * C;
    if (b) {
      std::memcpy(o + c0, b + c0, (c1 - c0) * sizeof(float));
    } else {
      std::memset(o + c0, 0, (c1 - c0) * sizeof(float));
    }
    for (int k = 0; k < K; ++k) {
      const float* e = row(t + k);
      const float* w = wT + k * C;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) o[c] += w[c] * e[c];
    }
#pragma omp simd
    for (int64_t c = c0; c < c1; ++c) o[c] = silu(o[c]);
  }
  // New window: the last W rows of ext (rows T .. T+W-1).
  if (W > 0) {
    std::vector<float> tmp(static_cast<size_t>(W * (c1 - c0)));
    for (int64_t r = 0; r < W; ++r)
      std::memcpy(&tmp[r * (c1 - c0)], row(T + r) + c0, (c1 - c0) * sizeof(float));
    for (int64_t r = 0; r < W; ++r)
      std::memcpy(window + r * C + c0, &tmp[r * (c1 - c0)], (c1 - c0) * sizeof(float));
  }
}

#if defined(__AVX512F__)
namespace {

// exp_fast on 16 lanes, the same polynomial as the scalar version.
inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  f = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), f);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 r = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, f), f, f), _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(r, n);
}

// CH channels advance together so their independent state chains hide the
// latency of each other's time steps. N == 16: one register per channel.
template <int CH>
void scan_mamba1_n16(int64_t T, int64_t E, const float* x, const float* dt, const float* bc,
                     int64_t bc_stride, int64_t b_off, int64_t c_off, const float* A,
                     const float* D, float* S, float* y, int64_t e) {
  __m512 s[CH], a[CH];
  for (int c = 0; c < CH; ++c) {
    s[c] = _mm512_loadu_ps(S + (e + c) * 16);
    a[c] = _mm512_loadu_ps(A + (e + c) * 16);
  }
  for (int64_t t = 0; t < T; ++t) {
    const __m512 B = _mm512_loadu_ps(bc + t * bc_stride + b_off);
    const __m512 C = _mm512_loadu_ps(bc + t * bc_stride + c_off);
    for (int c = 0; c < CH; ++c) {
      const float d = dt[t * E + e + c], xv = x[t * E + e + c];
      const __m512 dA = exp16(_mm512_mul_ps(_mm512_set1_ps(d), a[c]));
      s[c] = _mm512_fmadd_ps(s[c], dA, _mm512_mul_ps(_mm512_set1_ps(d * xv), B));
      y[t * E + e + c] = _mm512_reduce_add_ps(_mm512_mul_ps(s[c], C)) + D[e + c] * xv;
    }
  }
  for (int c = 0; c < CH; ++c) _mm512_storeu_ps(S + (e + c) * 16, s[c]);
}

// Lane i of the result = sum of the 16 lanes of v[i]: a transposing
// reduction tree, 4 shuffle+add levels for 16 sums instead of 16 reductions.
inline __m512 reduce16(const __m512* v) {
  __m512 b[8], c[4];
  for (int k = 0; k < 8; ++k)
    b[k] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0x44),
                         _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0xEE));
  for (int k = 0; k < 4; ++k)
    c[k] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * k], b[2 * k + 1], 0x88),
                         _mm512_shuffle_f32x4(b[2 * k], b[2 * k + 1], 0xDD));
  const __m512 d0 = _mm512_add_ps(_mm512_unpacklo_ps(c[0], c[1]), _mm512_unpackhi_ps(c[0], c[1]));
  const __m512 d1 = _mm512_add_ps(_mm512_unpacklo_ps(c[2], c[3]), _mm512_unpackhi_ps(c[2], c[3]));
  const __m512 e = _mm512_add_ps(_mm512_shuffle_ps(d0, d1, 0x44), _mm512_shuffle_ps(d0, d1, 0xEE));
  // e's lane 4j+m holds the sum of v[4m+j].
  const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(idx, e);
}

// Mamba-2 scan when P and N are multiples of 16: 16 head rows at a time, their
// y sums reduced together.
void scan_mamba2_avx512(int64_t T, int64_t H, int64_t P, int64_t N, int64_t G, const float* xbc,
                        int64_t xbc_stride, const float* dt, const float* A, const float* D,
                        float* S, float* y, int64_t h0, int64_t h1) {
  const int64_t E = H * P, heads_per_group = H / G;
  for (int64_t h = h0; h < h1; ++h) {
    const int64_t g = h / heads_per_group;
    float* sh = S + h * P * N;
    for (int64_t t = 0; t < T; ++t) {
      const float* row = xbc + t * xbc_stride;
      const float* x = row + h * P;
      const float* B = row + E + g * N;
      const float* Cm = row + E + G * N + g * N;
      const float d = dt[t * H + h];
      const __m512 dA = _mm512_set1_ps(exp_fast(d * A[h]));
      float* yo = y + t * E + h * P;
      for (int64_t p0 = 0; p0 < P; p0 += 16) {
        __m512 acc[16];
        for (int pp = 0; pp < 16; ++pp) {
          float* s = sh + (p0 + pp) * N;
          const __m512 dtx = _mm512_set1_ps(d * x[p0 + pp]);
          __m512 a = _mm512_setzero_ps();
          for (int64_t n = 0; n < N; n += 16) {
            const __m512 v = _mm512_fmadd_ps(_mm512_loadu_ps(s + n), dA,
                                             _mm512_mul_ps(dtx, _mm512_loadu_ps(B + n)));
            _mm512_storeu_ps(s + n, v);
            a = _mm512_fmadd_ps(v, _mm512_loadu_ps(Cm + n), a);
          }
          acc[pp] = a;
        }
        const __m512 xv = _mm512_loadu_ps(x + p0);
        _mm512_storeu_ps(yo + p0, _mm512_fmadd_ps(_mm512_set1_ps(D[h]), xv, reduce16(acc)));
      }
    }
  }
}

}  // namespace
#endif

void scan_mamba1(int64_t T, int64_t E, int64_t N, const float* x, const float* dt,
                 const float* bc, int64_t bc_stride, int64_t b_off, int64_t c_off,
                 const float* A, const float* D, float* S, float* y, int64_t e0, int64_t e1) {
  int64_t e = e0;
#if defined(__AVX512F__)
  if (N == 16) {
    for (; e + 4 <= e1; e += 4)
      scan_mamba1_n16<4>(T, E, x, dt, bc, bc_stride, b_off, c_off, A, D, S, y, e);
    for (; e < e1; ++e) scan_mamba1_n16<1>(T, E, x, dt, bc, bc_stride, b_off, c_off, A, D, S, y, e);
    return;
  }
#endif
  for (; e < e1; ++e) {
    float* s = S + e * N;
    const float* a = A + e * N;
    for (int64_t t = 0; t < T; ++t) {
      const float d = dt[t * E + e], xv = x[t * E + e], dtx = d * xv;
      const float* B = bc + t * bc_stride + b_off;
      const float* Cm = bc + t * bc_stride + c_off;
      float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
      for (int64_t n = 0; n < N; ++n) {
        const float v = s[n] * exp_fast(d * a[n]) + dtx * B[n];
        s[n] = v;
        acc += v * Cm[n];
      }
      y[t * E + e] = acc + D[e] * xv;
    }
  }
}

void scan_mamba2(int64_t T, int64_t H, int64_t P, int64_t N, int64_t G, const float* xbc,
                 int64_t xbc_stride, const float* dt, const float* A, const float* D, float* S,
                 float* y, int64_t h0, int64_t h1) {
#if defined(__AVX512F__)
  if (P % 16 == 0 && N % 16 == 0)
    return scan_mamba2_avx512(T, H, P, N, G, xbc, xbc_stride, dt, A, D, S, y, h0, h1);
#endif
  const int64_t E = H * P, heads_per_group = H / G;
  for (int64_t h = h0; h < h1; ++h) {
    const int64_t g = h / heads_per_group;
    float* sh = S + h * P * N;
    for (int64_t t = 0; t < T; ++t) {
      const float* row = xbc + t * xbc_stride;
      const float* x = row + h * P;
      const float* B = row + E + g * N;
      const float* Cm = row + E + G * N + g * N;
      const float d = dt[t * H + h];
      const float dA = exp_fast(d * A[h]);
      float* yo = y + t * E + h * P;
      for (int64_t p = 0; p < P; ++p) {
        float* s = sh + p * N;
        const float dtx = d * x[p];
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int64_t n = 0; n < N; ++n) {
          const float v = s[n] * dA + dtx * B[n];
          s[n] = v;
          acc += v * Cm[n];
        }
        yo[p] = acc + D[h] * x[p];
      }
    }
  }
}

void gated_rms_norm(float* y, int64_t y_stride, const float* z, int64_t z_stride, int64_t T,
                    int64_t E, int64_t G, const float* w, float eps) {
  const int64_t gs = E / G;
  for (int64_t t = 0; t < T; ++t) {
    float* yr = y + t * y_stride;
    const float* zr = z + t * z_stride;
#pragma omp simd
    for (int64_t i = 0; i < E; ++i) yr[i] *= silu(zr[i]);
    for (int64_t g = 0; g < G; ++g) rms_norm(yr + g * gs, w + g * gs, yr + g * gs, static_cast<int>(gs), eps);
  }
}

}  // namespace sm
