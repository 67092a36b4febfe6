// SPDX-License-Identifier: Apache-2.0
#pragma once
// `specmamba quantize`: an fp32 checkpoint in, a quantized one out
// (docs/quantization.md, "Quantized checkpoints"). The rotation is folded
// first when the config asks for it; then every linear layer is quantized
// with the group TensorQuant::group_for gives it (the weight group, or one
// group per row for a narrow input such as dt_proj's; layers it fits neither
// way stay fp32 and are listed); the embedding stays as stored. The output
// directory is written beside its final name and renamed when complete, and
// an existing one is never overwritten.
#include <cstdint>
#include <string>
#include <vector>

#include "core/quant/quant_config.h"

namespace sm::quant {

// Calibrated weight quantization (GPTQ, core/quant/gptq.h). With a text
// path, the rotated (when the config rotates) fp32 model is run over the
// text with an activation tap, the inputs of every quantized linear layer
// (in_proj, out_proj after the online Hadamard; Mamba-1's x_proj and
// dt_proj) give its Hessian, and the layer is quantized with GPTQ instead of
// plain rounding. The LM head keeps plain rounding. The config written
// records it (QuantConfig::calibration: method "gptq", or "gptq-act-aware").
// The defaults are the measured best on the shipped models
// (docs/quantization.md, "Calibrated weights").
struct CalibrationOptions {
  std::string text_path;          // empty: plain rounding (no calibration)
  int64_t max_bytes = 0;          // bytes of the text to use (0 = all; cut back to a line end)
  // Activation-aware target (activation_aware_target): GPTQ on the inputs as
  // the runtime quantizes them, towards the weights that best reproduce the
  // fp32 outputs. -1: on when the linear activations are 4-bit, 1 on, 0 off.
  int act_aware = -1;
  double damp = -1;               // fraction of the mean Hessian diagonal; < 0: 0.001 act-aware, else 0.01
  int refine = -1;                // extra passes on the inputs of the previous pass's quantized model;
                                  // -1: 1 without act-aware, 0 with
  int threads = 1;                // threads of the calibration forward
  size_t hessian_budget = size_t(256) << 20;  // bytes of Hessians held at once (more layers: more passes)
};

struct QuantizeReport {
  QuantConfig config;                 // as written (may differ from the request: see notes)
  std::vector<std::string> quantized; // tensor names
  std::vector<std::string> kept_fp32; // linear layers no group fits (group_for)
  std::vector<std::string> notes;     // adjustments made, for the user
  size_t bytes_in = 0, bytes_out = 0; // tensor bytes of the source and the result
  double max_rel_error = 0;           // worst per-tensor ||W - deq(Q)|| / ||W||
  double mean_rel_error = 0;          // mean of the same over quantized tensors
  // Calibration (when asked for): tensors quantized with GPTQ, tokens seen, and
  // the mean over them of the calibration output error ||X (W - Q)^T||^2
  // of GPTQ divided by that of plain rounding (below 1: GPTQ helped).
  std::vector<std::string> calibrated;
  int64_t calib_tokens = 0;
  double calib_error_ratio = 0;
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
// Fails naming the calibration file when it is missing or empty.
QuantizeReport quantize_model(const std::string& src_dir, const std::string& dst_dir, QuantConfig config,
                              const CalibrationOptions& calib = {});

}  // namespace sm::quant
