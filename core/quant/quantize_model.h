// SPDX-License-Identifier: Apache-2.0
#pragma once
// `specmamba quantize`: an fp32 checkpoint in, a quantized one out
// (docs/quantization.md, "Quantized checkpoints"). The rotation is folded
// first when the config asks for it; then every linear layer whose input
// width the weight group divides is quantized (the others stay fp32 and are
// listed); the embedding stays as stored. The output directory is written
// beside its final name and renamed when complete, and an existing one is
// never overwritten.
#include <cstdint>
#include <string>
#include <vector>

#include "core/quant/quant_config.h"

namespace sm::quant {

struct QuantizeReport {
  QuantConfig config;                 // as written (may differ from the request: see notes)
  std::vector<std::string> quantized; // tensor names
  std::vector<std::string> kept_fp32; // linear layers the group does not divide
  std::vector<std::string> notes;     // adjustments made, for the user
  size_t bytes_in = 0, bytes_out = 0; // tensor bytes of the source and the result
  double max_rel_error = 0;           // worst per-tensor ||W - deq(Q)|| / ||W||
  double mean_rel_error = 0;          // mean of the same over quantized tensors
};

// The weight group to use for `model_dir` when none is given: 128 if it
// divides every linear input width that must be quantized (d_model and the
// out_proj input; Mamba-1's x_proj input too), else the largest power of two
// below it that does. Throws if none >= 8 does.
int64_t default_weight_group(const std::string& model_dir);

// Quantizes src_dir into dst_dir (which must not exist). Throws sm::Error
// naming the problem: an already quantized source, a group that does not
// divide d_model or the out_proj input, no Hadamard matrix for a width when
// rotating, an existing destination.
QuantizeReport quantize_model(const std::string& src_dir, const std::string& dst_dir, QuantConfig config);

}  // namespace sm::quant
