// SPDX-License-Identifier: Apache-2.0
#pragma once
// LightMamba / QuaRot: the offline half of the Hadamard rotation. The
// residual stream h is rotated to H_D h (D = d_model) everywhere, which
// RMSNorm cannot see (an orthonormal map keeps the mean square), so every
// RMSNorm weight can first be folded into the linear layer after it and the
// rotation then absorbed into that layer's input side. The out_proj input is
// rotated by H_W at run time (transform() on each row, W = its width) — that
// removes the outlier channels before activation quantization — and its
// inverse is folded into out_proj here.
//
// With hadamard.h's conventions (transform(x) = H x; a weight whose input is
// rotated folds as W H^T, i.e. transform() of each row):
//   embedding' = embedding H_D^T                      (each row transformed)
//   in_proj'   = in_proj diag(norm) H_D^T,             norm'   = 1
//   out_proj'  = H_D out_proj diag(1 | gnorm) H_W^T,   gnorm'  = 1, bias' = H_D b
//   lm_head'   = lm_head diag(norm_f) H_D^T,           norm_f' = 1
// For Mamba-2 the gated RMSNorm normalises each group of y * silu(z) before
// multiplying by gnorm, so gnorm is a diagonal after the normalisation and
// folds into out_proj's y columns (the d_mlp columns before them have no
// norm). The mixer's inside (conv, x_proj, dt_proj, A, D, dt_bias) never sees
// the residual basis and is unchanged.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/io/model_config.h"
#include "core/io/safetensors.h"

namespace sm::quant {

struct FloatTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};
using TensorMap = std::map<std::string, FloatTensor>;

// Every tensor of the store via to_f32 (throws for non-float dtypes).
TensorMap load_float_tensors(const TensorStore& store);

// The tensors as F32 records for write_safetensors, in name order.
std::vector<TensorToWrite> tensors_to_write(const TensorMap& tensors);

// Folds the rotation as above, in double, rounding each result once to float.
// The head is written as "lm_head.weight" and cfg.tie_embeddings becomes false:
// the folded head carries norm_f, the folded embedding does not. A tied head
// is folded from the embedding (a stored copy is ignored, as the loader does).
// For Mamba-2 cfg.d_mlp is derived from in_proj's height. Throws sm::Error naming
// the width when hadamard_k(d_model) or hadamard_k(W) is 0, and naming any
// missing or misshaped tensor — always before any tensor is changed.
void fold_rotation(ModelConfig& cfg, TensorMap& tensors);

}  // namespace sm::quant
