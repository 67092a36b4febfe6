// SPDX-License-Identifier: Apache-2.0
#pragma once
// Scalar math shared by the kernels: the exp polynomial (≈2 ulp; the vector
// kernels use the same one, vec_math-inl.h), SiLU, softplus, and the
// subnormal flush every compute thread sets.
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

}  // namespace sm
