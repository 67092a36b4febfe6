// SPDX-License-Identifier: Apache-2.0
#pragma once
// Element-wise kernels shared by the Mamba layers. Written as plain loops that
// GCC vectorises; exp uses a polynomial (≈2 ulp) so it vectorises too, since
// glibc's vector expf is only reachable with -ffast-math.
#include <bit>
#include <cmath>
#include <cstdint>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace sm {

// Decaying SSM states reach subnormal values, which are up to 100x slower to
// multiply; flushing them to zero changes results only below 1e-38.
inline void flush_subnormals_on_this_thread() {
#if defined(__SSE__)
  _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ | DAZ
#endif
}

inline float exp_fast(float x) {
  // Comparisons, not std::fmin/fmax: those honour NaN rules and become libm calls.
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.0f ? 88.0f : x;
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float f = x - n * 0.693359375f;
  f = f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * f + 1.3981999507e-3f;
  p = p * f + 8.3334519073e-3f;
  p = p * f + 4.1665795894e-2f;
  p = p * f + 1.6666665459e-1f;
  p = p * f + 5.0000001201e-1f;
  const float r = p * f * f + f + 1.0f;
  const int32_t e = (static_cast<int32_t>(n) + 127) << 23;
  return r * std::bit_cast<float>(e);
}

inline float silu(float x) { return x / (1.0f + exp_fast(-x)); }

// torch.nn.functional.softplus with threshold 20.
inline float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

// y = x * rsqrt(mean(x^2) + eps) * w over n values.
inline void rms_norm(const float* x, const float* w, float* y, int n, float eps) {
  float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
  for (int i = 0; i < n; ++i) ss += x[i] * x[i];
  const float scale = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
#pragma omp simd
  for (int i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

inline void silu_inplace(float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] = silu(x[i]);
}

}  // namespace sm
