// SPDX-License-Identifier: Apache-2.0
#pragma once
// Weights of a Mamba-1/Mamba-2 LM as float pointers. F32 tensors point into
// the memory-mapped safetensors files; F16/BF16 are converted once into owned
// buffers. Loading checks that every expected tensor exists with the right
// shape and that no unexpected tensor is left over.
//
// A quantized checkpoint (`specmamba quantize`, docs/quantization.md) carries
// its QuantConfig as JSON under the safetensors metadata key "quantization";
// its quantized linear weights are stored as NAME.qcodes (I8 [out][in] for 8
// bits, U8 [out][ceil(in/2)] nibbles for 4 bits) with NAME.qs1 / NAME.qs2
// (I16 [out][in/group], scale 2^s1 + 2^s2) or NAME.qscale (F32) beside them.
#include <memory>
#include <string>
#include <vector>

#include "core/io/model_config.h"
#include "core/io/safetensors.h"
#include "core/model/linear_op.h"
#include "core/quant/pot_scan.h"
#include "core/quant/quant_config.h"

namespace sm {

namespace device {
class Device;
}

// The small per-layer tensors; the linear layers are PackedLayerWeights.
struct LayerWeights {
  const float* norm = nullptr;        // {D}
  // The linear layers' fp32 source rows ([out][in]); null where quantized.
  const float* in_proj = nullptr;     // [in_proj_dim][D]
  const float* out_proj = nullptr;    // [D][E + d_mlp]
  const float* x_proj = nullptr;      // Mamba-1 [R + 2N][E]
  const float* dt_proj = nullptr;     // Mamba-1 [E][R]
  const float* in_proj_b = nullptr;   // {in_proj_dim} or null
  const float* conv_wT = nullptr;     // {conv_dim, K} transposed to [K][conv_dim]
  const float* conv_b = nullptr;      // {conv_dim} or null
  const float* out_proj_b = nullptr;  // {D} or null
  const float* A = nullptr;           // -exp(A_log): Mamba-1 [E][N], Mamba-2 [H]
  const float* D = nullptr;           // Mamba-1 [E], Mamba-2 [H]
  // Mamba-1
  const float* dt_proj_b = nullptr;   // [E]
  // Mamba-2
  const float* dt_bias = nullptr;     // [H]
  const float* gnorm = nullptr;       // [E] gated RMSNorm weight
};

// The linear layers as the forward passes run them (fp32 packed or integer).
struct PackedLayerWeights {
  LinearOp in_proj, out_proj;
  LinearOp x_proj, dt_proj;  // Mamba-1
};

struct ModelWeights {
  const float* embedding = nullptr;  // [V][D]
  const float* norm_f = nullptr;     // [D]
  const float* lm_head = nullptr;    // [V][D] (== embedding when tied)
  std::vector<LayerWeights> layers;
  std::vector<PackedLayerWeights> packed;
  LinearOp lm_head_op;
  int64_t parameter_count = 0;
  size_t bytes = 0;         // in-memory bytes of all weights (quantized ones as stored)
  size_t decode_bytes = 0;  // weight bytes one decode step reads (no untied embedding table)

  // fp32 preset (nothing quantized, no rotation) unless the checkpoint says otherwise.
  quant::QuantConfig quant = quant::QuantConfig::preset("fp32", false);
  std::vector<quant::PotSsmLayer> pot_ssm;  // per layer, when quant.pot_ssm (Mamba-2)
  std::shared_ptr<const quant::SsmTables> ssm_tables;

  // The device the quantized ops run on (core/device/bind.h), or null: the
  // CPU kernels. Handles per layer (-1: that op stays on the CPU).
  std::shared_ptr<device::Device> device;
  std::vector<int32_t> conv_dev, ssm_dev;

  TensorStore store;                              // keeps the mappings alive
  std::vector<std::unique_ptr<float[]>> owned;    // converted / derived tensors
};

// Loads weights for `cfg` from the store (cfg.d_mlp is derived here for
// Mamba-2). Throws sm::Error naming the tensor, its file and the problem.
std::unique_ptr<ModelWeights> load_weights(ModelConfig& cfg, TensorStore store,
                                           const std::string& where);

}  // namespace sm
