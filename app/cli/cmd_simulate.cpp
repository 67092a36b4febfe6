// SPDX-License-Identifier: Apache-2.0
// `specmamba simulate`: the accelerator's dataflow model (accel/dataflow,
// docs/accelerator-model.md) for a platform, a model shape and a design;
// with a draft shape, tree speculative decoding against autoregressive.
#include <cstdio>
#include <iostream>
#include <memory>

#include "accel/dataflow/model.h"
#include "cli_common.h"
#include "core/io/error.h"

namespace sm::cli {

namespace {
struct SimOpts {
  std::string platform = "vck190", shape = "mamba2-2.7b", bits = "w4a4", tile = "8x8";
  std::string draft_shape, tree = "4,2,2", acceptance = "0.7", order = "fifo", backtrack = "hybrid";
  int ssm_par = 8, ssm_unroll = 8, units = 1, head_groups = 8, hadamard_unroll = 8, fifo_depth = 64;
  double clock = 0;
  int64_t state_buffer = -1, state_tile = 0;
  bool no_reorder = false, no_rotation = false, uram = false;
};

void parse_tile(const std::string& s, int& rows, int& cols) {
  const auto x = s.find('x');
  size_t a = 0, b = 0;
  try {
    if (x == std::string::npos) throw std::invalid_argument("");
    rows = std::stoi(s.substr(0, x), &a);
    cols = std::stoi(s.substr(x + 1), &b);
  } catch (const std::exception&) {
    throw UsageError("--tile '" + s + "': expected ROWSxCOLS, e.g. 8x8");
  }
  if (a != x || b != s.size() - x - 1) throw UsageError("--tile '" + s + "': expected ROWSxCOLS, e.g. 8x8");
}

void print_units(const nlohmann::json& units, double mhz) {
  std::printf("  %-11s %14s %14s %14s %14s %8s  %s\n", "unit", "cycles", "compute", "memory", "offchip_MB", "share",
              "bound");
  for (const auto& u : units)
    std::printf("  %-11s %14lld %14lld %14lld %14.2f %7.1f%%  %s\n", u["unit"].get<std::string>().c_str(),
                (long long)u["cycles"].get<int64_t>(), (long long)u["compute_cycles"].get<int64_t>(),
                (long long)u["memory_cycles"].get<int64_t>(), u["offchip_bytes"].get<int64_t>() / 1e6,
                100 * u["share"].get<double>(), u["bound"].get<std::string>().c_str());
}
}  // namespace

Runner add_simulate(CLI::App& app, Common& c) {
  auto o = std::make_shared<SimOpts>();
  CLI::App* cmd = app.add_subcommand("simulate", "Predict FPGA throughput, resources and energy (dataflow model)");
  cmd->add_option("--platform", o->platform, "vck190 | vhk158 | u280 | u55c, or a platform .json");
  cmd->add_option("--shape", o->shape, "public model name (mamba2-2.7b, mamba-130m, ...) or a model directory");
  cmd->add_option("--bits", o->bits, "quantization preset: w4a4 | w4a8 | w8a8");
  cmd->add_option("--tile", o->tile, "linear tile ROWSxCOLS (default 8x8)");
  cmd->add_option("--units", o->units, "replicated linear tiles (default 1)");
  cmd->add_option("--ssm-par", o->ssm_par, "SSM channel lanes (default 8)");
  cmd->add_option("--ssm-unroll", o->ssm_unroll, "SSM state elements per lane per cycle (default 8)");
  cmd->add_option("--head-groups", o->head_groups, "head groups of the computation reordering (default 8)");
  cmd->add_option("--hadamard-unroll", o->hadamard_unroll, "online Hadamard adds per cycle (default 8)");
  cmd->add_option("--fifo-depth", o->fifo_depth, "inter-stage FIFO depth (default 64)");
  cmd->add_option("--clock", o->clock, "clock in MHz (default: the platform's default)");
  cmd->add_option("--state-buffer", o->state_buffer, "on-chip state buffer bytes (default 1310720)");
  cmd->add_option("--state-tile", o->state_tile, "FIFO verification tile bytes (0 = largest that fits)");
  cmd->add_flag("--no-reorder", o->no_reorder, "disable LightMamba's computation reordering");
  cmd->add_flag("--no-rotation", o->no_rotation, "no online Hadamard before out_proj");
  cmd->add_flag("--uram", o->uram, "keep the state buffer in URAM");
  cmd->add_option("--draft-shape", o->draft_shape, "draft model shape: enables speculative prediction");
  cmd->add_option("--tree", o->tree, "tree widths per depth (default 4,2,2)");
  cmd->add_option("--acceptance", o->acceptance, "per-token acceptance rate or `specmamba agree --json` file");
  cmd->add_option("--order", o->order, "verification order: paths | dfs | fifo (default fifo)");
  cmd->add_option("--backtrack", o->backtrack, "snapshot | replay | hybrid (default hybrid)");
  cmd->add_flag("--json", c.json, "print JSON");
  return [o, &c]() -> int {
    using namespace sm::accel;
    const Platform p = Platform::load(o->platform);
    const ModelConfig m = model_shape(o->shape);
    Design d;
    quant::QuantConfig q;
    try {
      q = quant::QuantConfig::preset(o->bits, !o->no_rotation);
    } catch (const sm::Error& e) {
      throw UsageError(std::string("--bits: ") + e.what());
    }
    d.apply_quant(q);
    parse_tile(o->tile, d.tile_rows, d.tile_cols);
    d.linear_units = o->units, d.ssm_par = o->ssm_par, d.ssm_state_unroll = o->ssm_unroll;
    d.head_groups = o->head_groups, d.hadamard_unroll = o->hadamard_unroll, d.fifo_depth = o->fifo_depth;
    d.clock_mhz = o->clock > 0 ? o->clock : p.default_mhz;
    if (o->clock < 0) throw UsageError("--clock must be > 0");
    if (o->state_buffer >= 0) d.state_buffer_bytes = o->state_buffer;
    d.state_tile_bytes = o->state_tile;
    d.reorder = !o->no_reorder, d.state_in_uram = o->uram;
    const DecodeResult ar = simulate_decode(m, d, p);
    nlohmann::json j = ar.to_json(d);
    j["platform"] = p.name;
    j["shape"] = o->shape;
    j["bits"] = o->bits;
    SpecResult sp;
    const bool spec = !o->draft_shape.empty();
    if (spec) {
      const ModelConfig dm = model_shape(o->draft_shape);
      sp = simulate_speculative(m, dm, d, p, TreeShape::parse(o->tree), Acceptance::parse(o->acceptance),
                                parse_verify_order(o->order), parse_backtrack(o->backtrack));
      nlohmann::json s = sp.to_json();
      s["draft_shape"] = o->draft_shape;
      s["tree"] = o->tree;
      s["acceptance"] = Acceptance::parse(o->acceptance).rate;
      s["order"] = o->order;
      j["autoregressive"] = {{"tokens_per_second", ar.tokens_per_second}, {"latency_ms", ar.latency_ms},
                             {"energy_per_token_mj", ar.energy_per_token_mj}};
      j["speculative"] = s;
      j["speedup"] = sp.speedup;
      j["tokens_per_second"] = sp.tokens_per_second;
      j["latency_ms"] = sp.latency_ms;
      j["energy_per_token_mj"] = sp.energy_per_token_mj;
      j["power_w"] = sp.power_w;
      j["units"] = s["units"];
      j["utilisation"] = s["utilisation"];
    }
    if (c.json) {
      print_json(j);
      return 0;
    }
    std::printf("%s on %s (%s), design %s x%d, SSM %dx%d, %.0f MHz\n", o->shape.c_str(), p.name.c_str(),
                q.summary().c_str(), o->tile.c_str(), d.linear_units, d.ssm_par, d.ssm_state_unroll, d.clock_mhz);
    std::printf("autoregressive: %.2f tokens/s, %.3f ms/token, %lld cycles, %.1f MB off-chip per token\n",
                ar.tokens_per_second, ar.latency_ms, (long long)ar.step.cycles, ar.step.offchip_bytes / 1e6);
    print_units(j["units"], d.clock_mhz);
    std::printf("resources: DSP %lld, LUT %lld, FF %lld, BRAM %lld, URAM %lld (of %lld / %lld / %lld / %lld / %lld)\n",
                (long long)ar.resources.dsp, (long long)ar.resources.lut, (long long)ar.resources.ff,
                (long long)ar.resources.bram, (long long)ar.resources.uram, (long long)p.resources.dsp,
                (long long)p.resources.lut, (long long)p.resources.ff, (long long)p.resources.bram36,
                (long long)p.resources.uram);
    std::printf("utilisation:");
    for (auto it = j["utilisation"].begin(); it != j["utilisation"].end(); ++it)
      std::printf(" %s %.1f%%", it.key().c_str(), 100 * it.value().get<double>());
    std::printf("\n");
    if (spec) {
      std::printf("speculative (%s drafting, tree %s, acceptance %.3f, %s order, backtrack %s):\n",
                  o->draft_shape.c_str(), o->tree.c_str(), Acceptance::parse(o->acceptance).rate, o->order.c_str(),
                  backtrack_name(sp.backtrack_used));
      std::printf("  %.2f tokens/step, %.2f tokens/s, %.3f ms/token, speedup %.2fx, energy %.1f mJ/token (%.2fx)\n",
                  sp.tokens_per_step, sp.tokens_per_second, sp.latency_ms, sp.speedup, sp.energy_per_token_mj,
                  sp.energy_ratio);
      std::printf("  step: draft %lld + verify %lld + backtrack %lld cycles\n", (long long)sp.draft_cycles,
                  (long long)sp.verify_cycles, (long long)sp.backtrack_cycles);
      for (const auto& t : sp.orders)
        std::printf("  state traffic %-5s: %8.2f MB/layer (tile %lld B x %lld%s)\n", verify_order_name(t.order),
                    t.total() / 1e6, (long long)t.tile_bytes, (long long)t.tiles, t.spills ? ", spills" : "");
    }
    std::printf("power %.2f W, energy %.1f mJ/token\n", j["power_w"].get<double>(),
                j["energy_per_token_mj"].get<double>());
    return 0;
  };
}

}  // namespace sm::cli
