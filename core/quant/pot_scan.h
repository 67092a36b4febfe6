// SPDX-License-Identifier: Apache-2.0
#pragma once
// The Mamba-2 scan of a quantized model with LightMamba's power-of-two SSM:
// for each token in order, x, dt, B, C and the state are quantized to INT8
// power-of-two tensors and stepped by the integer reference
// ssm_step_mamba2_int (ssm_quant.h). The state lives between tokens as the
// exact values of its codes (code * 2^exp in float), so ModelState keeps its
// fp32 layout and backtracking copies it unchanged. Heads are independent
// (per-head exponents for per-head scalars), so any head range gives the
// same bits as the whole layer.
#include <cstdint>

#include "core/quant/ssm_quant.h"

namespace sm::quant {

struct PotSsmLayer {
  SsmParamsFixed params;  // A, D, dt_bias per head, Q16
};

// heads [h0, h1) over T tokens. xbc: [T][xbc_stride] with x at 0 (H*P), B at
// H*P (N), C at H*P + N (n_groups = 1). dt_raw: [T][dt_stride], before
// softplus (dt_bias is added inside, in fixed point). S: [H][P][N], indexed by
// absolute head. y: [T][H*P]. `group` must divide P and N.
void pot_scan_mamba2(int64_t T, int64_t H, int64_t P, int64_t N, const float* xbc, int64_t xbc_stride,
                     const float* dt_raw, int64_t dt_stride, const PotSsmLayer& layer,
                     const SsmTables& tables, int64_t group, float* S, float* y, int64_t h0, int64_t h1);

}  // namespace sm::quant
