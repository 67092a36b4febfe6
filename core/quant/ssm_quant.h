// SPDX-License-Identifier: Apache-2.0
#pragma once
// LightMamba's power-of-two SSM quantization: the integer reference of one
// Mamba-2 decode step (n_groups = 1). Every tensor inside the scan is INT8
// with one power-of-two exponent per group; A, D, dt_bias are Q16 fixed
// point; softplus and exp come from lut.h. Bit-exact contract and the exact
// operation order: docs/ssm-quant.md.
#include <cstdint>
#include <span>
#include <vector>

#include "core/quant/lut.h"

namespace sm::quant {

// Fraction bits of A, D and dt_bias (int32): value = v * 2^-16.
inline constexpr int kSsmParamFrac = 16;

// int8 codes in [-127, 127], value = code * 2^exps[i / group]. The last group
// may be shorter (size need not be a multiple of group: dt has H = 12 with 8).
struct PotTensor {
  int64_t size = 0;
  int64_t group = 8;
  std::vector<int8_t> codes;  // [size]
  std::vector<int16_t> exps;  // [ceil(size / group)], in [kActExpMin, kActExpMax]

  int64_t groups() const { return group > 0 ? (size + group - 1) / group : 0; }
  int exp_at(int64_t i) const { return exps[size_t(i / group)]; }
  double value(int64_t i) const;  // exact
};

// Groups through quantize_activations (8 bits, its exponent rule and rounding);
// a short last group is quantized on its own. Fails on non-finite input.
PotTensor quantize_pot(std::span<const float> x, int64_t group = 8);
// code * 2^exp as float; fails beyond float range.
std::vector<float> dequantize(const PotTensor& t);

// The same rule on exact fixed-point values v * 2^e (one e for the whole
// group): s = ceil(log2 max|v|) + e - 7, raised to kActExpMin (underflow then
// rounds to 0, never fails), code = clamp(round_shift(v, e - s), -127, 127);
// an all-zero group gets s = 0. Fails when s > kActExpMax.
int16_t quantize_pot_group(const int64_t* v, int64_t n, int e, int8_t* codes);
// A whole tensor of values v * 2^e, groups of `group` (short last group allowed).
PotTensor quantize_pot_fixed(std::span<const int64_t> v, int e, int64_t group = 8);

struct SsmShape {
  int64_t heads = 0, head_dim = 0, state = 0;  // H, P, N
};

// Per head, Q16 (kSsmParamFrac). A must be <= 0 (A = -exp(A_log)).
struct SsmParamsFixed {
  std::vector<int32_t> A, D, dt_bias;
};
// round_half_away(v * 2^16); fails if a value is non-finite, does not fit
// int32, or A > 0.
SsmParamsFixed ssm_params_fixed(std::span<const float> A, std::span<const float> D,
                                std::span<const float> dt_bias);

struct SsmTables {
  Lut softplus;
  Lut exp;
  // Sizes from QuantConfig::lut (4096 in the presets), ranges [-16, 16) and [-16, 0].
  static SsmTables make(int64_t softplus_size = 4096, int64_t exp_size = 4096,
                        LutInterp interp = LutInterp::Linear);
};

struct SsmStepInt {
  PotTensor y;  // [H * P], groups of `group` along P
  PotTensor h;  // [H * P * N] (layout [head][p][n]), groups of `group` along N
};

// One token, all heads. x [H*P], B [N], C [N], h [H*P*N] must have group
// `group`, which must divide P and N, with N / group <= 63; dt [H]
// (pre-softplus) may have any group. Integer arithmetic only; single-threaded
// and stateless: the same inputs give the same bits.
SsmStepInt ssm_step_mamba2_int(const SsmShape& shape, const PotTensor& x, const PotTensor& dt,
                               const PotTensor& B, const PotTensor& C, const PotTensor& h,
                               const SsmParamsFixed& params, const SsmTables& tables,
                               int64_t group = 8);

// ---- Pieces of the step, shared by ssm_step_mamba2_int and the fast scan
// (pot_scan.h), so both apply literally the same rule where they share it.

// Steps 1-4 for one head: the dt code and exponent (its own group of 1) ->
// sp = softplus(dt + dt_bias) and dA = exp(A * sp), each INT8 PoT with its
// own exponent. Integer only.
struct SsmHeadScalars {
  int8_t sp_code = 0, dA_code = 0;
  int16_t sp_exp = 0, dA_exp = 0;
};
SsmHeadScalars ssm_head_scalars(int dt_code, int dt_exp, int32_t A, int32_t dt_bias, const SsmTables& tables);

// Step 6 on one group of n states: h'_j = dA * h_j (exponent e1) +
// dB_j * x (exponent e2), the products int8 x int8, aligned to the
// accumulator exponent of docs/ssm-quant.md (exact unless a term is 2^56
// times below the largest), summed in int64 and requantized into out.
// Returns the exponent of out. Fails when it exceeds kActExpMax.
int16_t ssm_state_group(int dA_code, const int8_t* h, int e1, const int8_t* dB, int x_code, int e2, int64_t n,
                        int8_t* out);

}  // namespace sm::quant
