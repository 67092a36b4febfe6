// SPDX-License-Identifier: Apache-2.0
#pragma once
// The accelerator's kernels as the hardware sees them: the extern "C" top
// functions v++ compiles into the xclbin (kernel names = function names),
// and that the `emu` backend calls directly on host memory. The `xrt`
// backend passes the same arguments, in this order, as buffer objects and
// scalars (accel/xrt). Pointer arguments are m_axi ports; everything else is
// a scalar register.
//
// Each kernel is bit-exact with a core/ reference (tests/accel/test_hls_*.cpp
// and test_backend_ops.cpp):
//   sm_linear    quant::quantize_activations + quant::linear_int (Pow2Sum
//                weights), after quant::transform of each row when rotate
//   sm_conv_silu sm::conv_silu_row
//   sm_ssm_pot   quant::pot_scan_mamba2 (the reference composition)
//   sm_tree_ssm  pot_scan_mamba2 of every tree node (T = 1) from its
//                parent's state, in FIFO order, tile by tile over heads
// A kernel cannot throw: it writes a status code (below) and the host turns
// it into sm::Error naming the layer. Outputs are unspecified after an error.
#include <cstdint>

namespace sm::hls_kernels {

enum Status : int32_t {
  kOk = 0,
  kBadShape = 1,     // a size / group / width the kernel does not support
  kOverflow = 2,     // linear_int's int64 fixed-point bound, or a scan exponent > 160
  kOutOfRange = 3,   // a result beyond float range
  kNonFinite = 4,    // a NaN or infinite input
  kBadCode = 5,      // a weight code or scale gap outside the contract
};
const char* status_name(int32_t status);

}  // namespace sm::hls_kernels

extern "C" {

// y[t][r] (row stride ldy) for t < T, r < rows: the quantized linear layer.
//   codes: QuantizedMatrix::codes ([rows][row_bytes]: int8, or two int4 per byte)
//   s1, s2: [rows][cols / wgroup] (Pow2Sum scale 2^s1 + 2^s2)
//   x: [T][ldx] float input; rotate != 0: each row first goes through the
//      orthonormal Hadamard of width cols (hbase: the K x K ±1 base matrix of
//      quant::hadamard_base(hadamard_k(cols)), hk = K; ignored when rotate == 0)
//   activations: abits per code, agroup channels per exponent, exponents
//      clamped to [exp_min, exp_max] (quant::quantize_activations)
void sm_linear(const uint8_t* codes, const int16_t* s1, const int16_t* s2, const float* x, float* y,
               const int8_t* hbase, int32_t hk, int32_t rows, int32_t cols, int32_t T, int32_t ldx,
               int32_t ldy, int32_t wbits, int32_t wgroup, int32_t abits, int32_t agroup, int32_t exp_min,
               int32_t exp_max, int32_t rotate, int32_t* status);

// o[c] = silu(bias[c] + sum_k wT[k][c] * win[k][c]) for c in [c0, c1):
// win is [K][C], oldest row first (the host gathers a node's window there).
// bias may be null (has_bias == 0).
void sm_conv_silu(const float* win, const float* wT, const float* bias, float* o, int32_t C, int32_t K,
                  int32_t c0, int32_t c1, int32_t has_bias);

// One Mamba-2 layer's power-of-two SSM over T tokens on heads [h0, h1)
// (pot_scan_mamba2's arguments, flattened):
//   params: [3][H] int32 Q16: A, D, dt_bias
//   lut_sp, lut_exp: the tables' entries (Lut::table(), size + 1 each)
//   lut_cfg: int64 [2][4] = {size, lo_fixed, step_shift, interp (0 nearest,
//            1 linear)} for softplus, then exp
void sm_ssm_pot(const float* xbc, const float* dt_raw, const int32_t* params, const int64_t* lut_sp,
                const int64_t* lut_exp, const int64_t* lut_cfg, float* S, float* y, int32_t T, int32_t H,
                int32_t P, int32_t N, int32_t group, int32_t xbc_stride, int32_t dt_stride, int32_t h0,
                int32_t h1, int32_t* status);

// Tree verification's scan of one layer (SpecMamba's FIFO order with state
// tiling): for each tile of `tile_heads` heads (the outer loop: one tile of
// each live state is on chip), nodes are popped from a FIFO in breadth-first
// order starting at the root's children; a popped node's state tile is
// stepped from its parent's (S_root for parent -1) and pushed for its
// children. parent[v] < v (topological). xbc / dt_raw: one row per node
// (strides as sm_ssm_pot). S_nodes: [n][H][P][N], every node's state (the
// snapshot that backtracking keeps); y: [n][H * P]. fifo_depth bounds the
// live states per tile (kBadShape when the tree needs more).
void sm_tree_ssm(const float* xbc, const float* dt_raw, const int32_t* parent, const int32_t* params,
                 const int64_t* lut_sp, const int64_t* lut_exp, const int64_t* lut_cfg, const float* S_root,
                 float* S_nodes, float* y, int32_t n, int32_t H, int32_t P, int32_t N, int32_t group,
                 int32_t xbc_stride, int32_t dt_stride, int32_t tile_heads, int32_t fifo_depth,
                 int32_t* status);

}  // extern "C"
