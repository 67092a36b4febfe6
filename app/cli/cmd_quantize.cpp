// SPDX-License-Identifier: Apache-2.0
// specmamba quantize MODEL --preset w4a4 [--no-rotation] [--group 128] --out DIR
#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "core/quant/quantize_model.h"

namespace sm::cli {

namespace {

struct QuantizeArgs {
  std::string model, out, preset = "w4a4";
  bool no_rotation = false, no_pot_ssm = false;
  int64_t group = 0;  // 0: default_weight_group
  int head_bits = 0, act_group = 0, lut = -1;
};

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
  cmd->add_option("--out", a->out, "output directory (must not exist)")->required();
  cmd->add_flag("--json", c.json, "print one JSON object");
  return [a, &c] {
    const quant::QuantConfig q = config_from(*a);
    const auto t0 = std::chrono::steady_clock::now();
    const quant::QuantizeReport r = quant::quantize_model(a->model, a->out, q);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto m = open_model(a->out, 1);  // proves the result loads
    if (c.json) {
      print_json({{"model", a->model}, {"out", a->out}, {"quantization", r.config.to_json()},
                  {"quantized_tensors", r.quantized.size()}, {"kept_fp32", r.kept_fp32}, {"notes", r.notes},
                  {"bytes_in", r.bytes_in}, {"bytes_out", r.bytes_out},
                  {"decode_bytes", m->weights().decode_bytes},
                  {"weight_rel_error_mean", r.mean_rel_error}, {"weight_rel_error_max", r.max_rel_error},
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
    std::printf("%.2f MB -> %.2f MB (%.2fx), %.2f MB read per decode step, %.1f s\n", r.bytes_in / 1e6,
                r.bytes_out / 1e6, r.bytes_out ? double(r.bytes_in) / r.bytes_out : 0.0,
                m->weights().decode_bytes / 1e6, secs);
    return 0;
  };
}

}  // namespace sm::cli
