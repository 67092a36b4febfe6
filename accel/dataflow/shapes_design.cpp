// SPDX-License-Identifier: Apache-2.0
// Model shapes, the design struct, its validation and the resource estimate.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "accel/dataflow/model.h"
#include "core/io/error.h"

namespace sm::accel {

namespace {
ModelConfig mamba2(int d, int layers) {
  ModelConfig c;
  c.arch = Arch::Mamba2;
  c.d_model = d, c.n_layer = layers, c.vocab_size = 50288, c.d_state = 128, c.d_conv = 4, c.expand = 2;
  c.d_inner = 2 * d, c.head_dim = 64, c.n_heads = c.d_inner / 64, c.n_groups = 1, c.d_mlp = 0;
  return c;
}
ModelConfig mamba1(int d, int layers) {
  ModelConfig c;
  c.arch = Arch::Mamba1;
  c.d_model = d, c.n_layer = layers, c.vocab_size = 50280, c.d_state = 16, c.d_conv = 4, c.expand = 2;
  c.d_inner = 2 * d, c.dt_rank = (d + 15) / 16;
  return c;
}
struct Named { const char* name; ModelConfig cfg; };
const std::vector<Named>& table() {
  static const std::vector<Named> t = {
      {"mamba-130m", mamba1(768, 24)},   {"mamba-370m", mamba1(1024, 48)}, {"mamba-790m", mamba1(1536, 48)},
      {"mamba-1.4b", mamba1(2048, 48)},  {"mamba-2.8b", mamba1(2560, 64)}, {"mamba2-130m", mamba2(768, 24)},
      {"mamba2-370m", mamba2(1024, 48)}, {"mamba2-780m", mamba2(1536, 48)}, {"mamba2-1.3b", mamba2(2048, 48)},
      {"mamba2-2.7b", mamba2(2560, 64)}};
  return t;
}
std::string fmt_count(int64_t v) {
  std::ostringstream s;
  if (v >= 1000000) s << (v / 1e6) << "M";
  else if (v >= 10000) s << (v / 1000) << "k";
  else s << v;
  return s.str();
}
}  // namespace

std::vector<std::string> model_shape_names() {
  std::vector<std::string> v;
  for (const auto& n : table()) v.push_back(n.name);
  return v;
}

ModelConfig model_shape(const std::string& name_or_dir) {
  for (const auto& n : table())
    if (name_or_dir == n.name) return n.cfg;
  namespace fs = std::filesystem;
  if (fs::is_directory(name_or_dir)) {
    ModelConfig c = parse_model_config(name_or_dir + "/config.json");
    if (c.arch == Arch::Mamba2 && c.d_mlp < 0) c.d_mlp = 0;
    return c;
  }
  std::string list;
  for (const auto& n : model_shape_names()) list += (list.empty() ? "" : ", ") + n;
  fail("shape", "unknown model shape '" + name_or_dir + "' (known: " + list + ", or a model directory)");
}

Design Design::lightmamba() {
  Design d;
  d.apply_quant(quant::QuantConfig::preset("w4a4", true));
  return d;
}

void Design::apply_quant(const quant::QuantConfig& q) {
  auto bits = [](const quant::TensorQuant& t) { return t.quantized() ? t.bits : 16; };
  weight_bits = bits(q.linear_weights);
  act_bits = bits(q.linear_activations);
  head_bits = bits(q.lm_head_weights);
  ssm_bits = q.pot_ssm ? bits(q.ssm) : 16;
  weight_group = q.linear_weights.quantized() ? q.linear_weights.group : 0;
  weight_scale_bits = !q.linear_weights.quantized() ? 0
                      : q.linear_weights.scale == quant::ScaleFormat::Pow2Sum ? 2 * q.linear_weights.exponent_bits
                      : q.linear_weights.scale == quant::ScaleFormat::Pow2    ? q.linear_weights.exponent_bits
                                                                              : 16;
  rotation = q.rotation;
}

void Design::validate() const {
  auto need = [](bool ok, const std::string& field, const std::string& what) {
    if (!ok) fail("design", field + ": " + what);
  };
  need(tile_rows >= 1 && tile_cols >= 1, "tile",
       "rows and cols must be >= 1 (got " + std::to_string(tile_rows) + "x" + std::to_string(tile_cols) + ")");
  need(tile_rows <= 1024 && tile_cols <= 1024, "tile",
       "at most 1024x1024 (got " + std::to_string(tile_rows) + "x" + std::to_string(tile_cols) + ")");
  need(linear_units >= 1 && linear_units <= 256, "linear_units", "must be in 1..256");
  need(ssm_par >= 1 && ssm_state_unroll >= 1, "ssm_par", "SSM lanes and state unroll must be >= 1");
  need(conv_unroll >= 1 && norm_unroll >= 1 && hadamard_unroll >= 1, "unroll", "conv/norm/hadamard unroll must be >= 1");
  need(head_groups >= 1, "head_groups", "must be >= 1");
  need(clock_mhz > 0 && std::isfinite(clock_mhz), "clock", "must be > 0 MHz");
  for (auto [v, n] : {std::pair{weight_bits, "weight_bits"}, {act_bits, "act_bits"}, {head_bits, "head_bits"},
                      {ssm_bits, "ssm_bits"}})
    need(v >= 1 && v <= 16, n, "must be in 1..16 (got " + std::to_string(v) + ")");
  need(fifo_depth >= 2, "fifo_depth", "must be >= 2");
  need(state_buffer_bytes >= 0 && state_tile_bytes >= 0, "state_buffer", "sizes must be >= 0");
}

void Design::validate_for(const ModelConfig& m, const Platform& p) const {
  validate();
  auto need = [](bool ok, const std::string& field, const std::string& what) {
    if (!ok) fail("design", field + ": " + what);
  };
  std::ostringstream clk;
  clk << "clock " << clock_mhz << " MHz exceeds " << p.name << "'s limit of " << p.max_mhz << " MHz";
  need(clock_mhz <= p.max_mhz, "clock", clk.str());
  need(tile_cols <= m.d_model, "tile",
       "cols " + std::to_string(tile_cols) + " wider than the model's d_model " + std::to_string(m.d_model));
  need(int64_t{tile_rows} * linear_units <= m.d_model, "tile",
       "rows x units " + std::to_string(tile_rows * linear_units) + " more than out_proj's " +
           std::to_string(m.d_model) + " output channels");
  if (weight_group > 0)
    need(weight_group % tile_cols == 0 || tile_cols % weight_group == 0, "tile",
         "cols " + std::to_string(tile_cols) + " must divide or be a multiple of the weight group " +
             std::to_string(weight_group) + " (a tile row must not straddle scale groups)");
  if (m.arch == Arch::Mamba2) {
    need(head_groups <= m.n_heads, "head_groups",
         std::to_string(head_groups) + " more than the model's " + std::to_string(m.n_heads) + " heads");
    need(ssm_par <= m.head_dim, "ssm_par", std::to_string(ssm_par) + " more than headdim " + std::to_string(m.head_dim));
  } else {
    need(ssm_par <= m.d_inner, "ssm_par", "more than d_inner");
  }
  need(ssm_state_unroll <= m.d_state, "ssm_state_unroll",
       std::to_string(ssm_state_unroll) + " more than d_state " + std::to_string(m.d_state));
  if (state_tile_bytes > 0)
    need(state_tile_bytes <= state_bytes_per_layer(m, *this), "state_tile", "larger than one layer's state");
}

nlohmann::json Design::to_json() const {
  return {{"tile", std::to_string(tile_rows) + "x" + std::to_string(tile_cols)},
          {"linear_units", linear_units},
          {"macs_per_cycle", macs_per_cycle()},
          {"ssm_par", ssm_par},
          {"ssm_state_unroll", ssm_state_unroll},
          {"conv_unroll", conv_unroll},
          {"norm_unroll", norm_unroll},
          {"hadamard_unroll", hadamard_unroll},
          {"head_groups", head_groups},
          {"reorder", reorder},
          {"clock_mhz", clock_mhz},
          {"weight_bits", weight_bits},
          {"act_bits", act_bits},
          {"head_bits", head_bits},
          {"ssm_bits", ssm_bits},
          {"weight_group", weight_group},
          {"rotation", rotation},
          {"fifo_depth", fifo_depth},
          {"state_buffer_bytes", state_buffer_bytes},
          {"state_tile_bytes", state_tile_bytes},
          {"state_in_uram", state_in_uram}};
}

// ---- resources ---------------------------------------------------------
// LUT-based MAC array as LightMamba (no DSP in the linear tile), DSPs for
// the SSM's 8x8-bit multiplies, BRAM36 for buffers and lookup tables.
// Coefficients per component are estimates (docs/accelerator-model.md).
Resources estimate_resources(const ModelConfig& m, const Design& d) {
  Resources r;
  const int64_t macs = d.macs_per_cycle();
  const int64_t lanes = int64_t{d.ssm_par} * d.ssm_state_unroll;
  auto ceil_div = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  // LUT: a w x a bit LUT multiplier ~ w*a LUTs, its share of the adder tree
  // and accumulator ~ 40 LUTs; the weight rescale (two shifts + add per
  // output row) ~ 200 LUTs per row.
  const int64_t lut_mac = macs * (int64_t{d.weight_bits} * d.act_bits + 40);
  const int64_t lut_rescale = int64_t{d.tile_rows} * d.linear_units * 200;
  // SSM element lane: three requantizing shift/round/saturate stages, adders.
  const int64_t lut_ssm = lanes * 500;
  const int64_t lut_quant = int64_t{d.norm_unroll} * 600 + int64_t{d.conv_unroll} * 4 * 64;  // quantizers, conv taps
  const int64_t lut_had = d.rotation ? int64_t{d.hadamard_unroll} * 120 : 0;
  const int ports = d.linear_units + 2;  // weight stream per unit + state in + state out
  const int64_t lut_ctrl = 40000 + int64_t{ports} * 6000;  // AXI masters, datamovers, control, NoC
  r.lut = lut_mac + lut_rescale + lut_ssm + lut_quant + lut_had + lut_ctrl;
  r.ff = r.lut * 13 / 10;
  // DSP: dA*h, dB*x, C*h per state element lane; D*x and y*silu(z) per
  // channel lane; x^2 and x*rsqrt*w per norm lane; dt*A and dt path.
  const int64_t dsp_ssm = 3 * lanes, dsp_ch = 2 * d.ssm_par, dsp_norm = 2 * d.norm_unroll, dsp_dt = 4;
  r.dsp = dsp_ssm + dsp_ch + dsp_norm + dsp_dt;
  if (d.ssm_bits > 8) r.dsp += dsp_ssm;  // wider SSM words need two DSPs per multiply
  // BRAM36 = 4608 bytes; buffers are banked for the unrolled lanes.
  constexpr int64_t kBram = 4608, kUram = 36864;
  const int64_t banks = lanes;
  int64_t bram_state = 0;
  if (d.state_in_uram) r.uram = banks * std::max<int64_t>(1, ceil_div(ceil_div(d.state_buffer_bytes, banks), kUram));
  else bram_state = d.state_buffer_bytes > 0 ? banks * ceil_div(ceil_div(d.state_buffer_bytes, banks), kBram) : 0;
  // Weight tile double buffer: rows*cols*wbits bits wide, 1024 deep.
  const int64_t wbits = int64_t{d.tile_rows} * d.tile_cols * d.weight_bits;
  const int64_t bram_weights = d.linear_units * ceil_div(wbits, 72) * 2 * 2;
  // Activations (in_proj output, x / z / y, residual in 32 bit), ping-pong, 8 banks.
  const int64_t act_bytes = m.in_proj_dim() + 3 * int64_t{m.d_inner} + 4 * int64_t{m.d_model};
  const int64_t bram_act = 2 * 8 * ceil_div(ceil_div(act_bytes, 8), kBram);
  const int64_t bram_conv = d.conv_unroll * ceil_div(ceil_div(m.conv_state_floats(), d.conv_unroll), kBram);
  // 4096-entry tables: SiLU for conv and gate lanes (dual ported), exp and softplus; rsqrt 8x512.
  const int64_t bram_lut = ceil_div(d.conv_unroll + d.norm_unroll, 2) + 2 + 4;
  const int64_t bram_fifo = d.fifo_depth >= 512 ? 16 * ceil_div(d.fifo_depth, 512) : 0;
  r.bram = bram_state + bram_weights + bram_act + bram_conv + bram_lut + bram_fifo;
  r.breakdown = {
      {"lut", {{"mac_array", lut_mac}, {"rescale", lut_rescale}, {"ssm", lut_ssm}, {"quantizers_conv", lut_quant},
               {"hadamard", lut_had}, {"control_dma", lut_ctrl}}},
      {"dsp", {{"ssm_state", dsp_ssm}, {"ssm_channel", dsp_ch}, {"norm", dsp_norm}, {"dt", dsp_dt}}},
      {"bram", {{"state_buffer", bram_state}, {"weights", bram_weights}, {"activations", bram_act},
                {"conv_state", bram_conv}, {"tables", bram_lut}, {"fifos", bram_fifo}}}};
  return r;
}

nlohmann::json Resources::to_json() const {
  return {{"dsp", dsp}, {"lut", lut}, {"ff", ff}, {"bram", bram}, {"uram", uram}, {"breakdown", breakdown}};
}

void check_fit(const Resources& r, const Platform& p) {
  auto one = [&](const char* name, int64_t used, int64_t have) {
    if (used > have)
      fail("design", "does not fit " + p.name + ": " + name + " " + fmt_count(used) + " > " + fmt_count(have) +
                         " available (" + std::to_string(used) + " > " + std::to_string(have) + ")");
  };
  one("DSP", r.dsp, p.resources.dsp);
  one("LUT", r.lut, p.resources.lut);
  one("FF", r.ff, p.resources.ff);
  one("BRAM", r.bram, p.resources.bram36);
  one("URAM", r.uram, p.resources.uram);
}

}  // namespace sm::accel
