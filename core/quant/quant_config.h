// SPDX-License-Identifier: Apache-2.0
#pragma once
// The one quantization config shared by the CPU reference and the
// accelerator (LightMamba's scheme, see PAPERS.md and docs/quantization.md):
// bit widths, group sizes and scale kinds per tensor class, power-of-two SSM,
// lookup-table sizes and the Hadamard rotation. Bit widths and group sizes are
// values, not compile-time choices. It travels as JSON in the metadata of a
// quantized safetensors file.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sm::quant {

// How a group's scale is represented (`e` = exponent_bits).
//   Float   — any float (reference / experiments).
//   Pow2    — 2^s, s in a window of 2^e values; for activations the dynamic
//             quantizer s = clamp(ceil(log2 absmax) - (bits - 1), 0, 2^e - 1)
//             (LightMamba: e = 4, s in [0, 15]).
//   Pow2Sum — 2^s1 + 2^s2 with the gap s1 - s2 in 1..2^e - 1 (LightMamba's
//             weights, e = 3: quantizers.h's kPow2SumMaxGap = 7), so
//             rescaling is two shifts and an add, no multiplier.
// Named apart from quantizers.h's ScaleKind {Float, Pow2Sum} (the weight
// quantizer's kind): Float and Pow2Sum here map to those one to one.
enum class ScaleFormat { Float, Pow2, Pow2Sum };
const char* scale_format_name(ScaleFormat k);
// Throws sm::Error(where: "FIELD: ...") listing the kinds for an unknown name.
ScaleFormat parse_scale_format(const std::string& name, const std::string& where, const std::string& field);

inline constexpr int kFloatBits = 16;  // "bits = 16": the tensor stays float (off)

// Quantization of one tensor class.
struct TensorQuant {
  int bits = kFloatBits;  // 4, 8, or 16 = float
  int group = 0;          // consecutive channels sharing one scale (>= 1 when quantized)
  ScaleFormat scale = ScaleFormat::Float;
  int exponent_bits = 0;  // e above: 1..8 for Pow2 / Pow2Sum, 0 for Float

  bool quantized() const { return bits != kFloatBits; }
  // Throws sm::Error(where: "FIELD.group: ...") when the tensor is quantized and
  // its group does not divide `width` (the channel count where it is used).
  void check_width(int64_t width, const std::string& where, const std::string& field) const;
  // The group a linear layer of input width `width` is quantized with:
  // `group` when it divides the width; the whole row when the width is below
  // the group and a multiple of the activation group (Mamba-1's dt_proj,
  // dt_rank 48 under group 128); 0 when the layer stays fp32.
  int64_t group_for(int64_t width, int64_t act_group) const;
  bool operator==(const TensorQuant&) const = default;
};

// Table sizes of the SSM's nonlinearities (0 = computed exactly in float).
struct LutSizes {
  int exp = 0;
  int softplus = 0;
  int silu = 0;
  bool operator==(const LutSizes&) const = default;
};

// How the weights were rounded: plain rounding to nearest (method empty, the
// default; the JSON then has no "calibration" key, as before it existed) or
// GPTQ on a calibration text (core/quant/gptq.h). Informational: the loader
// and the kernels read the codes and scales the same way either way.
struct Calibration {
  std::string method;  // "" (none), "gptq" or "gptq-act-aware" (quantize_model.h)
  std::string text;    // file name of the calibration text (a label)
  int bytes = 0;       // bytes of it used (>= 1 with gptq)
  bool operator==(const Calibration&) const = default;
};

struct QuantConfig {
  static constexpr const char* kFormat = "specmamba-quant";
  static constexpr int kVersion = 1;

  std::string name = "custom";      // label only (the preset it came from); never interpreted
  TensorQuant linear_weights;       // in_proj, out_proj (x_proj, dt_proj for Mamba-1); groups of input channels
  TensorQuant lm_head_weights;      // the LM head (tied or not); groups of input channels
  TensorQuant linear_activations;   // inputs of the linear layers, quantized dynamically per token
  TensorQuant ssm;                  // dt, B, C, x, dA, dBu, h, y inside the SSM
  bool pot_ssm = false;             // SSM in integers with power-of-two scales (multiplies then shifts)
  LutSizes lut;
  bool rotation = false;            // Hadamard rotation (residual folded offline, online before out_proj)
  Calibration calibration;          // optional JSON key "calibration" (absent = plain rounding)

  // Throws sm::Error(where: "FIELD: problem") for the first invalid field.
  void validate(const std::string& where) const;
  // Throws when rotation is on and `width` has no Hadamard construction.
  void check_rotation_width(int64_t width, const std::string& where) const;

  // Presets: "fp32", "w8a8", "w4a8", "w4a4" (see docs/quantization.md); an
  // unknown name throws sm::Error listing them.
  static QuantConfig preset(const std::string& name, bool rotation);
  static std::vector<std::string> preset_names();

  // One line for people: "w4a4 + rotation: weights 4-bit g128 pow2sum, head 8-bit, ...".
  std::string summary() const;

  nlohmann::json to_json() const;
  // Strict: format and version must match, every field must be present with
  // the right type, unknown keys are errors naming them; then validate().
  // The one optional key is "calibration" (files written before it existed
  // have none); when present it must be complete.
  static QuantConfig from_json(const nlohmann::json& j, const std::string& where);
  std::string to_json_string() const;  // compact, for safetensors metadata
  static QuantConfig from_json_string(const std::string& text, const std::string& where);

  bool operator==(const QuantConfig&) const = default;
};

// nlohmann::json ADL hooks (`json j = cfg; j.get<QuantConfig>()`).
void to_json(nlohmann::json& j, const QuantConfig& c);
void from_json(const nlohmann::json& j, QuantConfig& c);

}  // namespace sm::quant
