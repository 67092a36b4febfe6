// SPDX-License-Identifier: Apache-2.0
#pragma once
// The causal depthwise conv1d + SiLU of one output row (sm_conv_silu; the
// DATAFLOW stages are in conv_silu.cpp), its float arithmetic here:
//   o[c] = silu(bias[c] + sum_k wT[k][c] * win[k][c])
// in sm::conv_silu_row's exact float operation order: the accumulator
// starts at bias[c] (or +0.0f without bias), k ascending, each step one
// multiply-add; SiLU is x / (1 + exp_fast(-x)) with the exp_fast polynomial
// of core/kernels/math_kernels.h, step by step.
//
// conv_silu_row is NOT the same bits on every SIMD target: Highway's
// MulAdd / NegMulAdd are fused (one rounding, FMA) on AVX2 and AVX-512 and
// a multiply then an add (two roundings) on SSE4 and the scalar target. So
// the datapath exists in both forms (kFused): the fused one is the kernel's
// (a DSP multiply-add with one rounding; the bits of the engine's default
// dispatch on any AVX2 CPU), the unfused one reproduces SSE4 / scalar.
// tests/accel/test_hls_conv.cpp checks each against conv_silu_row on every
// SIMD target.
#include <cmath>
#include <cstdint>
#include <cstring>

namespace sm::hls_kernels::conv {

inline constexpr int32_t kMaxConvK = 8;     // conv taps (Mamba: 4)
inline constexpr int32_t kConvChunk = 512;  // channels per DATAFLOW region call (FIFO depth); II = 1 per channel
inline constexpr bool kConvFused = true;    // the kernel's multiply-add

template <bool kFused>
inline float mul_add(float a, float b, float c) {  // a * b + c
  if constexpr (kFused) {
    return std::fma(a, b, c);
  } else {
    return a * b + c;
  }
}
template <bool kFused>
inline float neg_mul_add(float a, float b, float c) {  // c - a * b
  if constexpr (kFused) {
    return std::fma(-a, b, c);
  } else {
    return c - a * b;
  }
}

// exp_fast (≈2 ulp), operation for operation as the vector ExpFast.
template <bool kFused>
inline float exp_fast(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.0f ? 88.0f : x;
  const float n = std::floor(mul_add<kFused>(x, 1.44269504088896341f, 0.5f));
  float f = neg_mul_add<kFused>(n, 0.693359375f, x);
  f = neg_mul_add<kFused>(n, -2.12194440e-4f, f);
  float p = 1.9875691500e-4f;
  p = mul_add<kFused>(p, f, 1.3981999507e-3f);
  p = mul_add<kFused>(p, f, 8.3334519073e-3f);
  p = mul_add<kFused>(p, f, 4.1665795894e-2f);
  p = mul_add<kFused>(p, f, 1.6666665459e-1f);
  p = mul_add<kFused>(p, f, 5.0000001201e-1f);
  const float r = mul_add<kFused>(p * f, f, f) + 1.0f;
  const uint32_t e = uint32_t(int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &e, sizeof scale);
  return r * scale;
}

template <bool kFused>
inline float silu(float x) {
  return x / (1.0f + exp_fast<kFused>(-x));
}

// One output row over channels [c0, c1) in chunks of kConvChunk, each a
// DATAFLOW region (conv_load -> conv_mac -> silu -> conv_store), in the fused
// or the unfused form (conv_silu.cpp; sm_conv_silu is the kConvFused one).
// Outside the contract (K outside 1..kMaxConvK, an empty or out-of-bounds
// channel range) nothing is written.
void conv_silu_rows(bool fused, const float* win, const float* wT, const float* bias, float* o, int32_t C,
                    int32_t K, int32_t c0, int32_t c1, bool has_bias);

}  // namespace sm::hls_kernels::conv
