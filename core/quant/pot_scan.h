// SPDX-License-Identifier: Apache-2.0
#pragma once
// The Mamba-2 scan of a quantized model with LightMamba's power-of-two SSM:
// for each token in order, x, dt, B, C and the state are quantized to INT8
// power-of-two tensors and stepped by the integer rule of
// ssm_step_mamba2_int (ssm_quant.h). The state lives between tokens as the
// exact values of its codes (code * 2^exp in float), so ModelState keeps its
// fp32 layout and backtracking copies it unchanged. Heads are independent
// (per-head exponents for per-head scalars), so any head range gives the
// same bits as the whole layer.
//
// pot_scan_mamba2 is the fast path (docs/ssm-quant.md, "Fast path"): one
// fused pass per head and state group (quantize the stored state, step,
// requantize, write back, C . h'), int32 SIMD lanes where the contract's
// bounds allow it and the reference's own int64 rule where they do not, no
// heap allocation per call once a thread's scratch has grown. It is bit for
// bit the reference composition pot_scan_mamba2_reference on every SIMD
// target (tests/core/quant/test_pot_scan.cpp).
#include <cstdint>

#include "core/quant/ssm_quant.h"

namespace sm::quant {

struct PotSsmLayer {
  SsmParamsFixed params;  // A, D, dt_bias per head, Q16
};

// heads [h0, h1) over T tokens. xbc: [T][xbc_stride] with x at 0 (H*P), B at
// H*P (N), C at H*P + N (n_groups = 1). dt_raw: [T][dt_stride], before
// softplus (dt_bias is added inside, in fixed point). S: [H][P][N], indexed by
// absolute head. y: [T][H*P]. `group` must divide P and N, N / group <= 63.
// Fails (sm::Error) on non-finite inputs, a result exponent above 160 or a
// result beyond float range; S and y are then unspecified for the heads and
// token being stepped (earlier tokens are done).
void pot_scan_mamba2(int64_t T, int64_t H, int64_t P, int64_t N, const float* xbc, int64_t xbc_stride,
                     const float* dt_raw, int64_t dt_stride, const PotSsmLayer& layer,
                     const SsmTables& tables, int64_t group, float* S, float* y, int64_t h0, int64_t h1);

// The same scan by composition, one token at a time: quantize_pot (x, dt
// with a group of 1, B, C, the state) -> ssm_step_mamba2_int -> dequantize.
// Slow (heap tensors per token); the definition the fast path must match.
void pot_scan_mamba2_reference(int64_t T, int64_t H, int64_t P, int64_t N, const float* xbc,
                               int64_t xbc_stride, const float* dt_raw, int64_t dt_stride,
                               const PotSsmLayer& layer, const SsmTables& tables, int64_t group, float* S,
                               float* y, int64_t h0, int64_t h1);

}  // namespace sm::quant
