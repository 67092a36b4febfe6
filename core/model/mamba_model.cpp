// SPDX-License-Identifier: Apache-2.0
#include "core/model/mamba_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/dump/activation_tap.h"
#include "core/io/error.h"
#include "core/kernels/packed_matrix.h"
#include "core/kernels/simd.h"
#include "core/kernels/math_kernels.h"
#include "core/kernels/ssm_kernels.h"
#include "core/kernels/vector_ops.h"
#include "core/model/layer_ops.h"
#include "core/quant/hadamard.h"
#include "core/quant/quantizers.h"

namespace sm {

namespace {
// Workspace slots.
enum Slot { kHidden, kNormed, kProj, kConv, kXdbl, kDtIn, kDt, kY, kOut, kYcat, kTapLogits, kSlots };

// ---- activation tap (dumps) --------------------------------------------------
// Everything below runs only for a layer the tap wants (layer_tap_ set).

// The codes of a quantized linear layer's input rows x[T][op.in()] (already
// rotated where the layer rotates), quantized exactly as the layer does.
void tap_linear_codes(ActivationTap* tap, int layer, int64_t first, const char* name, const LinearOp& op,
                      const float* x, int64_t T) {
  if (!op.is_quantized() || !tap->wants_codes()) return;
  const ActQuantSpec& a = op.act_quant();
  const quant::QuantizedActivations q =
      quant::quantize_activations(x, T, op.in(), a.bits, a.group, a.exp_min, a.exp_max);
  tap->on_codes(layer, name, first, T, op.in(), a.bits, a.group, q.codes.data(), q.exps.data());
}

// The input of a linear layer as its product consumes it: for a layer that
// rotates its input online, `name` is the rotated row and NAME_unrotated the
// row before the Hadamard transform. x is [T][op.in()], contiguous.
void tap_linear_input(ActivationTap* tap, int layer, int64_t first, const std::string& name, const LinearOp& op,
                      const float* x, int64_t T) {
  const int64_t W = op.in();
  if (!op.rotate_input()) {
    tap->on_tensor(layer, name.c_str(), first, T, W, x, W);
    tap_linear_codes(tap, layer, first, name.c_str(), op, x, T);
    return;
  }
  std::vector<float> rot(static_cast<size_t>(T * W));
  quant::transform_rows(x, rot.data(), T, W);  // what LinearOp::run computes
  tap->on_tensor(layer, (name + "_unrotated").c_str(), first, T, W, x, W);
  tap->on_tensor(layer, name.c_str(), first, T, W, rot.data(), W);
  tap_linear_codes(tap, layer, first, name.c_str(), op, rot.data(), T);
}

// The power-of-two SSM's INT8 tensors of a batch: the scan of T tokens is
// replayed step by step from the state it started from (S, [H][P][N]) with
// the same quantizers and the same integer step as quant::pot_scan_mamba2,
// so the codes are exactly the kernel's; the replay must reproduce the
// scan's outputs ys [T][E] and final state bit for bit (else it fails).
void tap_pot_codes(ActivationTap* tap, int layer, int64_t first, const ModelConfig& c, int64_t T,
                   const float* xbc, int64_t xbc_stride, const float* dt_raw, int64_t dt_stride,
                   const quant::PotSsmLayer& pl, const quant::SsmTables& tables, int64_t group,
                   std::vector<float> S, const float* ys, const float* S_after, const std::string& where) {
  const int64_t H = c.n_heads, Pd = c.head_dim, N = c.d_state, E = H * Pd;
  const int64_t gE = (E + group - 1) / group, gN = (N + group - 1) / group;
  std::vector<int8_t> xc(T * E), bc(T * N), cc(T * N), dc(T * H), yc(T * E);
  std::vector<int16_t> xe(T * gE), be(T * gN), ce(T * gN), de(T * H), ye(T * gE);
  const auto put = [](const quant::PotTensor& q, int8_t* codes, int16_t* exps) {
    std::copy(q.codes.begin(), q.codes.end(), codes);
    std::copy(q.exps.begin(), q.exps.end(), exps);
  };
  const quant::SsmShape shape{H, Pd, N};
  for (int64_t t = 0; t < T; ++t) {
    const float* row = xbc + t * xbc_stride;
    const quant::PotTensor x = quant::quantize_pot(std::span<const float>(row, size_t(E)), group);
    const quant::PotTensor dt = quant::quantize_pot(std::span<const float>(dt_raw + t * dt_stride, size_t(H)), 1);
    const quant::PotTensor B = quant::quantize_pot(std::span<const float>(row + E, size_t(N)), group);
    const quant::PotTensor C = quant::quantize_pot(std::span<const float>(row + E + N, size_t(N)), group);
    const quant::PotTensor h = quant::quantize_pot(std::span<const float>(S.data(), S.size()), group);
    const quant::SsmStepInt out = quant::ssm_step_mamba2_int(shape, x, dt, B, C, h, pl.params, tables, group);
    S = quant::dequantize(out.h);
    const std::vector<float> y = quant::dequantize(out.y);
    if (y.size() != size_t(E) || std::memcmp(y.data(), ys + t * E, E * sizeof(float)) != 0)
      fail(where, "dump: the PoT SSM codes of layer " + std::to_string(layer) + " token " +
                      std::to_string(first + t) + " do not reproduce the scan's output");
    put(x, &xc[t * E], &xe[t * gE]);
    put(dt, &dc[t * H], &de[t * H]);
    put(B, &bc[t * N], &be[t * gN]);
    put(C, &cc[t * N], &ce[t * gN]);
    put(out.y, &yc[t * E], &ye[t * gE]);
  }
  if (std::memcmp(S.data(), S_after, S.size() * sizeof(float)) != 0)
    fail(where, "dump: the PoT SSM codes of layer " + std::to_string(layer) + " do not reproduce the scan's state");
  tap->on_codes(layer, "x", first, T, E, 8, group, xc.data(), xe.data());
  tap->on_codes(layer, "B", first, T, N, 8, group, bc.data(), be.data());
  tap->on_codes(layer, "C", first, T, N, 8, group, cc.data(), ce.data());
  tap->on_codes(layer, "dt_raw", first, T, H, 8, 1, dc.data(), de.data());
  tap->on_codes(layer, "ssm_out", first, T, E, 8, group, yc.data(), ye.data());
}

}  // namespace

std::unique_ptr<MambaModel> MambaModel::load(const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) fail(dir, "not a model directory (expected config.json and *.safetensors)");
  ModelConfig cfg = parse_model_config((fs::path(dir) / "config.json").string());
  return from_store(cfg, TensorStore::open_dir(dir), dir);
}

std::unique_ptr<MambaModel> MambaModel::from_store(ModelConfig cfg, TensorStore store,
                                                   const std::string& where) {
  simd::init_from_env();  // a bad SPECMAMBA_SIMD is an error before any work
  std::unique_ptr<MambaModel> m(new MambaModel());
  m->w_ = load_weights(cfg, std::move(store), where);
  m->cfg_ = cfg;
  m->where_ = where;
  m->pool_ = std::make_unique<ThreadPool>(1);
  m->ws_.resize(kSlots);
  return m;
}

MambaModel::~MambaModel() = default;

void MambaModel::set_threads(int n) {
  if (n != pool_->size()) pool_ = std::make_unique<ThreadPool>(std::max(1, n));
}

ModelState MambaModel::new_state() const {
  ModelState s;
  s.layers.resize(cfg_.n_layer);
  for (auto& l : s.layers) {
    l.conv.assign(cfg_.conv_state_floats(), 0.0f);
    l.ssm.assign(cfg_.ssm_state_floats(), 0.0f);
  }
  return s;
}

size_t MambaModel::state_bytes() const {
  return static_cast<size_t>(cfg_.n_layer) *
         (cfg_.conv_state_floats() + cfg_.ssm_state_floats()) * sizeof(float);
}

void MambaModel::check_token(int32_t id) const {
  if (id < 0 || id >= cfg_.vocab_size)
    fail("", "token id " + std::to_string(id) + " is outside the vocabulary of " + where_ +
                 " (0.." + std::to_string(cfg_.vocab_size - 1) + ")");
}

void MambaModel::parallel(int64_t work, int64_t n, int64_t align,
                          const std::function<void(int64_t, int64_t)>& fn) {
  // Small loops stay on this thread: a hand-off costs microseconds.
  if (work < (1 << 17) || pool_->size() == 1)
    fn(0, n);
  else
    pool_->parallel_for(n, fn, align);
}

float* MambaModel::buf(int slot, size_t n) {
  auto& v = ws_[slot];
  if (v.size() < n) v.resize(n);
  return v.data();
}

void MambaModel::tap_tensor_slow(const char* name, int64_t T, int64_t cols, const float* data,
                                 int64_t ld) {
  layer_tap_->on_tensor(tap_layer_, name, tap_first_, T, cols, data, ld);
}

void MambaModel::forward(std::span<const int32_t> tokens, ModelState& state, float* logits,
                         Logits mode) {
  std::lock_guard<std::mutex> lock(mu_);
  flush_subnormals_on_this_thread();
  if (state.layers.size() != static_cast<size_t>(cfg_.n_layer))
    fail(where_, "state has " + std::to_string(state.layers.size()) + " layers, model has " +
                     std::to_string(cfg_.n_layer));
  for (int32_t id : tokens) check_token(id);
  const int64_t T = static_cast<int64_t>(tokens.size());
  for (int64_t t0 = 0; t0 < T; t0 += chunk_) {
    const int64_t n = std::min(chunk_, T - t0);
    const bool last = t0 + n == T;
    Logits m = mode == Logits::All ? Logits::All : (last ? mode : Logits::None);
    float* out = mode == Logits::All ? (logits ? logits + t0 * cfg_.vocab_size : nullptr) : logits;
    forward_chunk(tokens.data() + t0, n, state, out, m);
  }
}

void MambaModel::forward_chunk(const int32_t* tokens, int64_t T, ModelState& state,
                               float* logits, Logits mode) {
  const int64_t D = cfg_.d_model, V = cfg_.vocab_size;
  const int64_t pos = state.position;
  if (tap_) tap_->on_tokens(pos, tokens, T);
  float* h = buf(kHidden, T * D);
  for (int64_t t = 0; t < T; ++t)
    std::memcpy(h + t * D, w_->embedding + int64_t(tokens[t]) * D, D * sizeof(float));

  for (int l = 0; l < cfg_.n_layer; ++l) {
    const LayerWeights& lw = w_->layers[l];
    layer_tap_ = tap_ && tap_->wants(l, pos, T) ? tap_ : nullptr;
    tap_layer_ = l;
    tap_first_ = pos;
    tap_tensor("hidden_in", T, D, h, D);
    float* u = buf(kNormed, T * D);
    for (int64_t t = 0; t < T; ++t)
      rms_norm(h + t * D, lw.norm, u + t * D, static_cast<int>(D), cfg_.norm_eps);
    if (layer_tap_) tap_linear_input(layer_tap_, l, pos, "in_proj_in", w_->packed[l].in_proj, u, T);
    float* proj = buf(kProj, T * cfg_.in_proj_dim());
    w_->packed[l].in_proj.run(u, T, lw.in_proj_b, proj, cfg_.in_proj_dim(), pool_.get());
    tap_tensor("in_proj_out", T, cfg_.in_proj_dim(), proj, cfg_.in_proj_dim());
    if (cfg_.arch == Arch::Mamba1)
      mixer_mamba1(l, T, state.layers[l]);
    else
      mixer_mamba2(l, T, state.layers[l]);
    const float* out = ws_[kOut].data();
    tap_tensor("mixer_out", T, D, out, D);
    h = ws_[kHidden].data();  // buffers may have moved
    for (int64_t i = 0; i < T * D; ++i) h[i] += out[i];
  }
  layer_tap_ = nullptr;
  state.position += T;

  // The tap gets logits for every row. When the caller's rows are all rows,
  // they are handed over after the head below; otherwise the head runs once
  // more over all rows for the tap alone (the caller's logits are unchanged).
  const bool tap_logits = tap_ && tap_->wants(ActivationTap::kLogits, pos, T);
  const bool all_rows = logits && (mode == Logits::All || (mode == Logits::Last && T == 1));
  if (tap_logits && !all_rows) {
    float* u = buf(kNormed, T * D);
    float* lg = buf(kTapLogits, T * V);
    h = ws_[kHidden].data();
    for (int64_t r = 0; r < T; ++r)
      rms_norm(h + r * D, w_->norm_f, u + r * D, static_cast<int>(D), cfg_.norm_eps);
    w_->lm_head_op.run(u, T, nullptr, lg, V, pool_.get());
    tap_->on_tensor(ActivationTap::kLogits, "logits", pos, T, V, lg, V);
  }
  if (mode == Logits::None || !logits) return;
  const int64_t first = mode == Logits::All ? 0 : T - 1, rows = T - first;
  float* u = buf(kNormed, rows * D);
  h = ws_[kHidden].data();
  for (int64_t r = 0; r < rows; ++r)
    rms_norm(h + (first + r) * D, w_->norm_f, u + r * D, static_cast<int>(D), cfg_.norm_eps);
  w_->lm_head_op.run(u, rows, nullptr, logits, V, pool_.get());
  if (tap_logits && all_rows) tap_->on_tensor(ActivationTap::kLogits, "logits", pos, T, V, logits, V);
}

void MambaModel::mixer_mamba1(int l, int64_t T, LayerState& st) {
  const LayerWeights& lw = w_->layers[l];
  const int64_t E = cfg_.d_inner, N = cfg_.d_state, R = cfg_.dt_rank, P = cfg_.in_proj_dim();
  const int K = cfg_.d_conv;
  const float* proj = ws_[kProj].data();  // [T][x (E) | z (E)]
  float* xc = buf(kConv, T * E);
  parallel(T * E * K, E, 16, [&](int64_t c0, int64_t c1) {
    layer_causal_conv(*w_, l, proj, P, T, E, K, st.conv.data(), xc, c0, c1);
  });
  tap_tensor("conv_out", T, E, xc, E);
  if (layer_tap_) tap_linear_codes(layer_tap_, l, tap_first_, "conv_out", w_->packed[l].x_proj, xc, T);
  const int64_t XD = R + 2 * N;
  float* xdbl = buf(kXdbl, T * XD);
  w_->packed[l].x_proj.run(xc, T, nullptr, xdbl, XD, pool_.get());
  tap_tensor("B", T, N, xdbl + R, XD);
  tap_tensor("C", T, N, xdbl + R + N, XD);
  float* dtin = buf(kDtIn, T * R);
  for (int64_t t = 0; t < T; ++t) std::memcpy(dtin + t * R, xdbl + t * XD, R * sizeof(float));
  if (layer_tap_) tap_linear_input(layer_tap_, l, tap_first_, "dt_proj_in", w_->packed[l].dt_proj, dtin, T);
  float* dt = buf(kDt, T * E);
  w_->packed[l].dt_proj.run(dtin, T, lw.dt_proj_b, dt, E, pool_.get());
  softplus_clamp(dt, nullptr, dt, T * E, cfg_.dt_min, cfg_.dt_max);
  tap_tensor("dt", T, E, dt, E);
  float* y = buf(kY, T * E);
  parallel(T * E * N * 8, E, 8, [&](int64_t e0, int64_t e1) {
    scan_mamba1(T, E, N, xc, dt, xdbl, XD, R, R + N, lw.A, lw.D, st.ssm.data(), y, e0, e1);
  });
  tap_tensor("ssm_out", T, E, y, E);
  for (int64_t t = 0; t < T; ++t) mul_silu(y + t * E, proj + t * P + E, E);
  if (layer_tap_) tap_linear_input(layer_tap_, l, tap_first_, "out_proj_in", w_->packed[l].out_proj, y, T);
  float* out = buf(kOut, T * cfg_.d_model);
  w_->packed[l].out_proj.run(y, T, lw.out_proj_b, out, cfg_.d_model, pool_.get());
}

void MambaModel::mixer_mamba2(int l, int64_t T, LayerState& st) {
  const LayerWeights& lw = w_->layers[l];
  const int64_t E = cfg_.d_inner, N = cfg_.d_state, H = cfg_.n_heads, Pd = cfg_.head_dim,
                G = cfg_.n_groups, M = cfg_.d_mlp, C = cfg_.conv_dim(), P = cfg_.in_proj_dim();
  const int K = cfg_.d_conv;
  // in_proj row layout: [z0 (M) | x0 (M) | z (E) | xBC (C) | dt (H)]
  const int64_t off_z = 2 * M, off_xbc = off_z + E, off_dt = off_xbc + C;
  const float* proj = ws_[kProj].data();
  float* xbc = buf(kConv, T * C);
  parallel(T * C * K, C, 16, [&](int64_t c0, int64_t c1) {
    layer_causal_conv(*w_, l, proj + off_xbc, P, T, C, K, st.conv.data(), xbc, c0, c1);
  });
  tap_tensor("conv_out", T, C, xbc, C);
  tap_tensor("B", T, G * N, xbc + E, C);
  tap_tensor("C", T, G * N, xbc + E + G * N, C);
  float* dt = buf(kDt, T * H);
  const bool pot = !w_->pot_ssm.empty();
  if (pot) {  // the PoT SSM's own inputs: x, and dt before dt_bias and softplus
    tap_tensor("x", T, E, xbc, C);
    tap_tensor("dt_raw", T, H, proj + off_dt, P);
  }
  for (int64_t t = 0; t < T; ++t)
    softplus_clamp(proj + t * P + off_dt, lw.dt_bias, dt + t * H, H, cfg_.dt_min, cfg_.dt_max);
  tap_tensor("dt", T, H, dt, H);
  if (pot)  // the PoT SSM adds dt_bias and takes softplus itself, in fixed point
    for (int64_t t = 0; t < T; ++t) std::memcpy(dt + t * H, proj + t * P + off_dt, H * sizeof(float));
  const int64_t YW = M + E;  // out_proj input: [silu(z0)*x0 (M) | y (E)]
  float* ycat = buf(kYcat, T * YW);
  float* y = ycat + M;
  // scan writes y with row stride E; use a temporary when M > 0.
  float* ys = M ? buf(kY, T * E) : ycat;
  const bool pot_codes = pot && layer_tap_ && layer_tap_->wants_codes();
  std::vector<float> S0;
  if (pot_codes) S0 = st.ssm;  // the state the scan starts from, for the codes' replay
  parallel(T * E * N * 2, H, 1, [&](int64_t h0, int64_t h1) {
    if (pot)
      layer_pot_scan(*w_, l, T, H, Pd, N, xbc, C, dt, H, st.ssm.data(), ys, h0, h1);
    else
      scan_mamba2(T, H, Pd, N, G, xbc, C, dt, lw.A, lw.D, st.ssm.data(), ys, h0, h1);
  });
  tap_tensor("ssm_out", T, E, ys, E);  // the scan writes row stride E in both cases
  if (pot_codes)
    tap_pot_codes(layer_tap_, l, tap_first_, cfg_, T, xbc, C, proj + off_dt, P, w_->pot_ssm[l], *w_->ssm_tables,
                  w_->quant.ssm.group, std::move(S0), ys, st.ssm.data(), where_);
  if (M) {
    for (int64_t t = 0; t < T; ++t) {
      std::memcpy(y + t * YW, ys + t * E, E * sizeof(float));
      const float* z0 = proj + t * P;
      const float* x0 = proj + t * P + M;
      float* o = ycat + t * YW;
      silu_times(z0, x0, o, M);
    }
  }
  gated_rms_norm(y, YW, proj + off_z, P, T, E, G, lw.gnorm, cfg_.norm_eps);
  if (layer_tap_) tap_linear_input(layer_tap_, l, tap_first_, "out_proj_in", w_->packed[l].out_proj, ycat, T);
  float* out = buf(kOut, T * cfg_.d_model);
  w_->packed[l].out_proj.run(ycat, T, lw.out_proj_b, out, cfg_.d_model, pool_.get());
}

}  // namespace sm
