// SPDX-License-Identifier: Apache-2.0
// specmamba quantize MODEL --preset w4a4 [--no-rotation] [--group 128] --out DIR
//                   [--calibrate FILE [--calib-bytes N] | --no-calibrate]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "core/io/default_paths.h"
#include "core/io/model_config.h"
#include "core/quant/quantize_model.h"

namespace sm::cli {

namespace {

struct QuantizeArgs {
  std::string model, out, preset = "w4a4";
  bool no_rotation = false, no_pot_ssm = false;
  int64_t group = 0;  // 0: default_weight_group
  int head_bits = 0, act_group = 0, lut = -1;
  std::string calibrate;  // GPTQ calibration text ("" = the default below)
  bool no_calibrate = false;
  std::string calib_act_aware = "auto";
  int64_t calib_bytes = 0;
  double calib_damp = -1;
  int calib_refine = -1;
};

// Whether 4-bit weights are calibrated when neither --calibrate nor
// --no-calibrate is given, and on what (docs/quantization.md, "Calibrated
// weights"): measured on the shipped pair, GPTQ on data/kjv-calib.txt.
constexpr bool kCalibrate4BitByDefault = true;
std::string default_calibration_text() { return data_dir() + "/kjv-calib.txt"; }
// The default applies to models whose linear inputs are at most this wide
// (the shipped pair: 192 / 384): the CPU implementation's cost grows with
// width^3 per layer and tokens * width^2, minutes already for mamba-130m.
// Wider models calibrate when --calibrate asks.
constexpr int64_t kDefaultCalibrationMaxWidth = 1024;

bool small_enough_to_calibrate_by_default(const std::string& model) {
  try {
    const ModelConfig c = parse_model_config(model + "/config.json");
    return std::max<int64_t>(c.d_model, c.d_inner) <= kDefaultCalibrationMaxWidth;
  } catch (const std::exception&) {
    return true;  // quantize_model names the problem
  }
}

quant::CalibrationOptions calibration_from(const QuantizeArgs& a, const quant::QuantConfig& q, int threads) {
  if (!a.calibrate.empty() && a.no_calibrate) throw UsageError("--calibrate and --no-calibrate exclude each other");
  const bool any = q.linear_weights.quantized();
  if (!a.calibrate.empty() && !any)
    throw UsageError("--calibrate needs a quantized preset (w8a8, w4a8, w4a4), not " + a.preset);
  if (a.calib_bytes < 0) throw UsageError("--calib-bytes must be >= 0 (0: the whole file)");
  if (std::isnan(a.calib_damp)) throw UsageError("--calib-damp must be a number");
  if (a.calib_act_aware != "auto" && a.calib_act_aware != "on" && a.calib_act_aware != "off")
    throw UsageError("--calib-act-aware takes auto, on or off, not " + a.calib_act_aware);
  quant::CalibrationOptions o;
  if (!a.calibrate.empty()) o.text_path = a.calibrate;
  else if (!a.no_calibrate && kCalibrate4BitByDefault && any && q.linear_weights.bits == 4 &&
           small_enough_to_calibrate_by_default(a.model))
    o.text_path = default_calibration_text();
  o.max_bytes = a.calib_bytes;
  o.damp = a.calib_damp;
  o.act_aware = a.calib_act_aware == "auto" ? -1 : a.calib_act_aware == "on" ? 1 : 0;
  o.threads = threads;
  o.refine = a.calib_refine;
  return o;
}

quant::QuantConfig config_from(const QuantizeArgs& a) {
  quant::QuantConfig q = quant::QuantConfig::preset(a.preset, !a.no_rotation);
  const bool any = q.linear_weights.quantized();
  if (a.group) {
    if (!any) throw UsageError("--group needs a quantized preset (w8a8, w4a8, w4a4), not " + a.preset);
    q.linear_weights.group = q.lm_head_weights.group = static_cast<int>(a.group);
  } else if (any) {
    q.linear_weights.group = q.lm_head_weights.group = static_cast<int>(quant::default_weight_group(a.model));
  }
  if (a.head_bits) {
    if (!any) throw UsageError("--head-bits needs a quantized preset");
    if (a.head_bits == 16) q.lm_head_weights = {};
    else q.lm_head_weights.bits = a.head_bits;
  }
  if (a.act_group) {
    if (!any) throw UsageError("--act-group needs a quantized preset");
    q.linear_activations.group = a.act_group;
  }
  if (a.no_pot_ssm) {
    q.pot_ssm = false;
    q.ssm = {};
    q.lut = {};
  }
  if (a.lut >= 0) {
    if (!q.pot_ssm) throw UsageError("--lut sizes the power-of-two SSM's tables; this config has no PoT SSM");
    q.lut = {a.lut, a.lut, a.lut};
  }
  q.validate("quantize");
  return q;
}

}  // namespace

Runner add_quantize(CLI::App& app, Common& c) {
  auto a = std::make_shared<QuantizeArgs>();
  auto* cmd = app.add_subcommand("quantize", "Write a quantized copy of a model (LightMamba W4A4 / W8A8, rotation)");
  cmd->add_option("MODEL", a->model, "fp32 model directory")->required();
  cmd->add_option("--preset", a->preset, "fp32, w8a8, w4a8 or w4a4 (docs/quantization.md)")->capture_default_str();
  cmd->add_flag("--no-rotation", a->no_rotation, "do not fold the Hadamard rotation");
  cmd->add_option("--group", a->group,
                  "weight group (input channels per scale); default 128, or the largest power of two "
                  "below it dividing the model's widths");
  cmd->add_option("--head-bits", a->head_bits, "LM head bits: 4, 8 (default) or 16 (fp32)");
  cmd->add_option("--act-group", a->act_group, "activation group (channels per exponent, default 8)");
  cmd->add_flag("--no-pot-ssm", a->no_pot_ssm, "keep the SSM in fp32 (no power-of-two SSM)");
  cmd->add_option("--lut", a->lut, "entries of the SSM's exp / softplus / SiLU tables (a power of two)");
  cmd->add_option("--calibrate", a->calibrate,
                  "calibrate the weights with GPTQ on this text (inputs of each linear layer on it)");
  cmd->add_flag("--no-calibrate", a->no_calibrate, "plain rounding of the weights (no calibration)");
  cmd->add_option("--calib-bytes", a->calib_bytes, "bytes of the calibration text to use (default: all)");
  cmd->add_option("--calib-damp", a->calib_damp,
                  "GPTQ damping, a fraction of the mean Hessian diagonal (default 0.001 act-aware, else 0.01)");
  cmd->add_option("--calib-act-aware", a->calib_act_aware,
                  "auto (default: on for 4-bit activations), on or off: GPTQ on the runtime-quantized inputs "
                  "towards the weights that best reproduce the fp32 outputs");
  cmd->add_option("--calib-refine", a->calib_refine,
                  "extra GPTQ passes on the previous pass's quantized model (default 1, 0 act-aware)");
  cmd->add_option("--out", a->out, "output directory (must not exist)")->required();
  cmd->add_option("--threads", c.threads, "worker threads of the calibration forward");
  cmd->add_flag("--json", c.json, "print one JSON object");
  return [a, &c] {
    const quant::QuantConfig q = config_from(*a);
    const quant::CalibrationOptions co = calibration_from(*a, q, c.threads);
    const auto t0 = std::chrono::steady_clock::now();
    const quant::QuantizeReport r = quant::quantize_model(a->model, a->out, q, co);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto m = open_model(a->out, 1);  // proves the result loads
    if (c.json) {
      print_json({{"model", a->model}, {"out", a->out}, {"quantization", r.config.to_json()},
                  {"quantized_tensors", r.quantized.size()}, {"kept_fp32", r.kept_fp32}, {"notes", r.notes},
                  {"bytes_in", r.bytes_in}, {"bytes_out", r.bytes_out},
                  {"decode_bytes", m->weights().decode_bytes},
                  {"weight_rel_error_mean", r.mean_rel_error}, {"weight_rel_error_max", r.max_rel_error},
                  {"calibrated_tensors", r.calibrated.size()}, {"calib_text", co.text_path},
                  {"calib_tokens", r.calib_tokens}, {"calib_error_ratio", r.calib_error_ratio},
                  {"seconds", secs}});
      return 0;
    }
    for (const auto& n : r.notes) std::cout << "note: " << n << "\n";
    if (!r.kept_fp32.empty())
      std::cout << "kept fp32 (the group does not divide their input): " << r.kept_fp32.size() << " tensors ("
                << r.kept_fp32.front() << (r.kept_fp32.size() > 1 ? ", ..." : "") << ")\n";
    std::printf("wrote %s: preset %s%s, weights %d-bit g%d, head %s, activations %d-bit g%d, PoT SSM %s\n",
                a->out.c_str(), r.config.name.c_str(), r.config.rotation ? " + rotation" : "",
                r.config.linear_weights.bits, r.config.linear_weights.group,
                r.config.lm_head_weights.quantized() ? (std::to_string(r.config.lm_head_weights.bits) + "-bit").c_str()
                                                     : "fp32",
                r.config.linear_activations.bits, r.config.linear_activations.group, r.config.pot_ssm ? "on" : "off");
    std::printf("%zu tensors quantized, weight error ||W-Q||/||W|| mean %.4f max %.4f\n", r.quantized.size(),
                r.mean_rel_error, r.max_rel_error);
    if (!r.calibrated.empty())
      std::printf("calibrated (GPTQ) %zu tensors on %s (%d bytes, %lld tokens): output error x%.3f of plain rounding\n",
                  r.calibrated.size(), co.text_path.c_str(), r.config.calibration.bytes,
                  static_cast<long long>(r.calib_tokens), r.calib_error_ratio);
    std::printf("%.2f MB -> %.2f MB (%.2fx), %.2f MB read per decode step, %.1f s\n", r.bytes_in / 1e6,
                r.bytes_out / 1e6, r.bytes_out ? double(r.bytes_in) / r.bytes_out : 0.0,
                m->weights().decode_bytes / 1e6, secs);
    return 0;
  };
}

}  // namespace sm::cli
