// SPDX-License-Identifier: Apache-2.0
#pragma once
// Row-wise element kernels of the Mamba block, dispatched to the CPU's best
// SIMD target (see simd.h). Each element's result depends only on its own
// inputs (and a reduction over the whole row for rms_norm), never on its
// position or the row's alignment, so decode, tree and prefill agree bit for bit.
#include <cstdint>

namespace sm {

// y = x * rsqrt(mean(x^2) + eps) * w over n values (y may alias x).
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);

// y[i] *= silu(z[i]).
void mul_silu(float* y, const float* z, int64_t n);

// out[i] = silu(z[i]) * x[i].
void silu_times(const float* z, const float* x, float* out, int64_t n);

// out[i] = clamp(softplus(in[i] + bias[i]), lo, hi); bias may be null; out may alias in.
void softplus_clamp(const float* in, const float* bias, float* out, int64_t n, float lo, float hi);

}  // namespace sm
