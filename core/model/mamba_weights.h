// SPDX-License-Identifier: Apache-2.0
#pragma once
// Weights of a Mamba-1/Mamba-2 LM as float pointers. F32 tensors point into
// the memory-mapped safetensors files; F16/BF16 are converted once into owned
// buffers. Loading checks that every expected tensor exists with the right
// shape and that no unexpected tensor is left over.
#include <memory>
#include <string>
#include <vector>

#include "core/io/model_config.h"
#include "core/kernels/packed_matrix.h"
#include "core/io/safetensors.h"

namespace sm {

struct LayerWeights {
  const float* norm = nullptr;        // {D}
  const float* in_proj = nullptr;     // {D, in_proj_dim} row-major [in_proj_dim][D]
  const float* in_proj_b = nullptr;   // {in_proj_dim} or null
  const float* conv_wT = nullptr;     // {conv_dim, K} transposed to [K][conv_dim]
  const float* conv_b = nullptr;      // {conv_dim} or null
  const float* out_proj = nullptr;    // [D][E + d_mlp]
  const float* out_proj_b = nullptr;  // {D} or null
  const float* A = nullptr;           // -exp(A_log): Mamba-1 [E][N], Mamba-2 [H]
  const float* D = nullptr;           // Mamba-1 [E], Mamba-2 [H]
  // Mamba-1
  const float* x_proj = nullptr;      // [R + 2N][E]
  const float* dt_proj = nullptr;     // [E][R]
  const float* dt_proj_b = nullptr;   // [E]
  // Mamba-2
  const float* dt_bias = nullptr;     // [H]
  const float* gnorm = nullptr;       // [E] gated RMSNorm weight
};

// The linear layers repacked for the CPU kernels (see packed_matrix.h).
struct PackedLayerWeights {
  PackedMatrix in_proj, out_proj;
  PackedMatrix x_proj, dt_proj;  // Mamba-1
};

struct ModelWeights {
  const float* embedding = nullptr;  // [V][D]
  const float* norm_f = nullptr;     // [D]
  const float* lm_head = nullptr;    // [V][D] (== embedding when tied)
  std::vector<LayerWeights> layers;
  std::vector<PackedLayerWeights> packed;
  PackedMatrix lm_head_packed;
  int64_t parameter_count = 0;
  size_t bytes = 0;  // fp32 bytes of all weights

  TensorStore store;                              // keeps the mappings alive
  std::vector<std::unique_ptr<float[]>> owned;    // converted / derived tensors
};

// Loads weights for `cfg` from the store (cfg.d_mlp is derived here for
// Mamba-2). Throws sm::Error naming the tensor, its file and the problem.
std::unique_ptr<ModelWeights> load_weights(ModelConfig& cfg, TensorStore store,
                                           const std::string& where);

}  // namespace sm
