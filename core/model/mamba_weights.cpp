// SPDX-License-Identifier: Apache-2.0
#include "core/model/mamba_weights.h"

#include <cmath>
#include <cstring>
#include <set>
#include <sstream>

#include "core/io/error.h"
#include "core/quant/hadamard.h"

namespace sm {
namespace {

class Loader {
 public:
  Loader(ModelWeights& w, const std::string& where) : w_(w), where_(where) {}

  const TensorInfo* find_any(std::initializer_list<std::string> names) {
    for (const auto& n : names)
      if (auto* t = w_.store.find(n)) return t;
    return nullptr;
  }

  const TensorInfo& require(std::initializer_list<std::string> names) {
    if (auto* t = find_any(names)) return *t;
    fail(where_, "missing tensor '" + *names.begin() + "'");
  }

  void check_shape(const TensorInfo& t, const std::vector<int64_t>& shape) {
    if (t.shape != shape)
      fail(t.file, "tensor '" + t.name + "' has shape " + shape_str(t.shape) + ", expected " +
                       shape_str(shape));
  }

  // Returns the tensor as fp32, zero-copy when possible.
  const float* get(const TensorInfo& t, const std::vector<int64_t>& shape) {
    check_shape(t, shape);
    used_.insert(t.name);
    count(t);
    if (t.dtype == DType::F32 && reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0)
      return reinterpret_cast<const float*>(t.data);
    std::vector<float> v = to_f32(t);
    return keep(v.data(), v.size());
  }
  const float* get(std::initializer_list<std::string> names, const std::vector<int64_t>& shape) {
    return get(require(names), shape);
  }
  const float* get_optional(std::initializer_list<std::string> names,
                            const std::vector<int64_t>& shape) {
    const TensorInfo* t = find_any(names);
    return t ? get(*t, shape) : nullptr;
  }
  // A converted copy the caller may transform.
  float* copy(const TensorInfo& t, const std::vector<int64_t>& shape) {
    check_shape(t, shape);
    used_.insert(t.name);
    count(t);
    std::vector<float> v = to_f32(t);
    return keep(v.data(), v.size());
  }
  float* keep(const float* data, size_t n) {
    auto buf = std::make_unique<float[]>(n);
    std::memcpy(buf.get(), data, n * sizeof(float));
    float* p = buf.get();
    w_.owned.push_back(std::move(buf));
    return p;
  }
  void mark_used(const std::string& name) { used_.insert(name); }
  // A tensor of exactly `dtype` and `shape`, as stored (quantized codes and scales).
  const TensorInfo& raw(const std::string& name, DType dtype, const std::vector<int64_t>& shape) {
    const TensorInfo& t = require({name});
    check_shape(t, shape);
    if (t.dtype != dtype)
      fail(t.file, "tensor '" + name + "' has dtype " + t.dtype_str + ", expected " + dtype_name(dtype));
    used_.insert(name);
    w_.bytes += t.nbytes;
    return t;
  }
  void count_params(int64_t n) { w_.parameter_count += n; }

  void check_no_extra() {
    std::vector<std::string> extra;
    for (const auto& n : w_.store.names())
      if (!used_.count(n)) extra.push_back(n);
    if (extra.empty()) return;
    std::string list;
    for (size_t i = 0; i < extra.size() && i < 5; ++i) list += (i ? ", " : "") + extra[i];
    if (extra.size() > 5) list += ", ... (" + std::to_string(extra.size()) + " in all)";
    fail(where_, "unexpected tensor(s) not used by this " + std::string("architecture: ") + list);
  }

 private:
  void count(const TensorInfo& t) {
    w_.parameter_count += t.numel();
    w_.bytes += static_cast<size_t>(t.numel()) * sizeof(float);
  }
  ModelWeights& w_;
  std::string where_;
  std::set<std::string> used_;
};

const float* load_conv(Loader& L, const std::string& p, int64_t C, int64_t K) {
  const TensorInfo& t = L.require({p + "conv1d.weight"});
  float* w = L.copy(t, t.shape.size() == 2 ? std::vector<int64_t>{C, K}
                                           : std::vector<int64_t>{C, 1, K});
  std::vector<float> wt(static_cast<size_t>(C * K));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t k = 0; k < K; ++k) wt[k * C + c] = w[c * K + k];
  std::memcpy(w, wt.data(), wt.size() * sizeof(float));
  return w;
}

float* neg_exp(float* a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) a[i] = -std::exp(a[i]);
  return a;
}

// The "quantization" metadata of the checkpoint, or the fp32 preset. Every
// shard must carry the same text.
quant::QuantConfig read_quant_config(const TensorStore& store, const std::string& where) {
  const std::string* text = nullptr;
  std::string first_file;
  for (const auto& f : store.files()) {
    auto it = f->metadata().find("quantization");
    const std::string* t = it == f->metadata().end() ? nullptr : &it->second;
    if (&f == &store.files().front()) {
      text = t;
      first_file = f->path();
    } else if ((t == nullptr) != (text == nullptr) || (t && *t != *text)) {
      fail(f->path(), "its \"quantization\" metadata differs from " + first_file + "'s");
    }
  }
  if (!text) return quant::QuantConfig::preset("fp32", false);
  return quant::QuantConfig::from_json_string(*text, first_file + ": metadata \"quantization\"");
}

template <class T>
std::vector<T> copy_as(const TensorInfo& t) {
  std::vector<T> v(t.nbytes / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), t.data, t.nbytes);
  return v;
}

// A quantized [rows][cols] weight stored as NAME.qcodes + scales, checked
// against the config so a file that lies about bits, groups or shapes fails
// here, naming the tensor, rather than in a kernel.
quant::QuantizedMatrix load_quantized(Loader& L, const std::string& name, int64_t rows, int64_t cols,
                                      const quant::TensorQuant& q, const std::string& field,
                                      const std::string& where, int64_t act_group) {
  const int64_t group = q.group_for(cols, act_group);
  if (group == 0) q.check_width(cols, where + ": quantization", field);  // throws, naming the group
  quant::QuantizedMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.bits = q.bits;
  m.group = group;
  const TensorInfo& codes = q.bits == 8 ? L.raw(name + ".qcodes", DType::I8, {rows, cols})
                                        : L.raw(name + ".qcodes", DType::U8, {rows, (cols + 1) / 2});
  m.codes = copy_as<uint8_t>(codes);
  const int64_t groups = cols / group;
  switch (q.scale) {
    case quant::ScaleFormat::Float: {
      m.kind = quant::ScaleKind::Float;
      const TensorInfo& sc = L.raw(name + ".qscale", DType::F32, {rows, groups});
      m.scales = copy_as<float>(sc);
      for (float v : m.scales)
        if (!(v >= 0.0f) || !std::isfinite(v))
          fail(sc.file, "tensor '" + sc.name + "' holds a scale that is negative or not finite");
      break;
    }
    case quant::ScaleFormat::Pow2Sum: {
      m.kind = quant::ScaleKind::Pow2Sum;
      const TensorInfo& s1 = L.raw(name + ".qs1", DType::I16, {rows, groups});
      const TensorInfo& s2 = L.raw(name + ".qs2", DType::I16, {rows, groups});
      m.s1 = copy_as<int16_t>(s1);
      m.s2 = copy_as<int16_t>(s2);
      const int max_gap = (1 << q.exponent_bits) - 1;
      for (size_t i = 0; i < m.s1.size(); ++i) {
        const int gap = m.s1[i] - m.s2[i];
        if (gap < 1 || gap > std::min(max_gap, quant::kPow2SumMaxGap) || m.s1[i] < -126 || m.s1[i] > 127)
          fail(s1.file, "tensor '" + s1.name + "': scale 2^" + std::to_string(m.s1[i]) + " + 2^" +
                            std::to_string(m.s2[i]) + " is outside the config's " + field +
                            " (gap 1.." + std::to_string(max_gap) + ")");
      }
      break;
    }
    case quant::ScaleFormat::Pow2:
      fail(where, "quantization: " + field + ".scale: pow2 weight scales are not supported (use pow2sum or float)");
  }
  L.count_params(rows * cols);
  return m;
}

// The activation exponent window of a pow2 field of e bits: a signed e-bit
// field for ceil(log2 absmax), i.e. absmax in (2^-(2^(e-1)+1), 2^(2^(e-1)-1)]
// (e = 4: about 2^-9 .. 128); beyond it codes saturate or lose precision.
// Float activation scales are exact powers of two over the whole range.
std::pair<int, int> act_window(const quant::TensorQuant& a, const std::string& where) {
  if (a.scale != quant::ScaleFormat::Pow2)
    fail(where, "quantization: linear_activations.scale: the integer kernels take pow2 activation scales");
  const int half = 1 << (a.exponent_bits - 1);
  return {-half - (a.bits - 1), half - 1 - (a.bits - 1)};
}

LinearOp load_linear(Loader& L, const std::string& name, int64_t rows, int64_t cols,
                     const quant::QuantConfig& qc, const quant::TensorQuant& wq, const std::string& field,
                     const std::string& where, const float** fp32_rows = nullptr) {
  // A layer whose input width the group does not divide is quantized one group
  // per row or stays fp32 (TensorQuant::group_for); files written before
  // row-wide groups keep such layers as fp32 tensors, which load as such.
  const bool fp32 = !wq.quantized() || (cols % wq.group != 0 && L.find_any({name}));
  if (fp32) {
    const float* w = L.get({name}, {rows, cols});
    if (fp32_rows) *fp32_rows = w;
    return LinearOp::fp32(w, rows, cols);
  }
  const quant::TensorQuant& aq = qc.linear_activations;
  if (!aq.quantized())
    fail(where, "quantization: integer weights need quantized activations (linear_activations.bits is 16)");
  aq.check_width(cols, where + ": quantization", "linear_activations");
  const auto [lo, hi] = act_window(aq, where);
  return LinearOp::quantized(load_quantized(L, name, rows, cols, wq, field, where, aq.group), aq.bits, aq.group,
                             lo, hi);
}

}  // namespace

std::unique_ptr<ModelWeights> load_weights(ModelConfig& cfg, TensorStore store,
                                           const std::string& where) {
  auto w = std::make_unique<ModelWeights>();
  w->store = std::move(store);
  Loader L(*w, where);
  const int64_t D = cfg.d_model, V = cfg.vocab_size, E = cfg.d_inner, N = cfg.d_state,
                K = cfg.d_conv;

  const quant::QuantConfig qc = read_quant_config(w->store, where);
  w->quant = qc;
  w->embedding = L.get({"backbone.embeddings.weight", "backbone.embedding.weight"}, {V, D});
  w->norm_f = L.get({"backbone.norm_f.weight"}, {D});
  const bool head_quantized = qc.lm_head_weights.quantized();
  if (head_quantized) {
    if (cfg.tie_embeddings)
      fail(where, "quantization: a quantized LM head is stored apart from the embedding "
                  "(lm_head.weight.qcodes), but config.json says tie_word_embeddings");
    w->lm_head_op = load_linear(L, "lm_head.weight", V, D, qc, qc.lm_head_weights, "lm_head_weights", where);
  } else if (cfg.tie_embeddings) {
    w->lm_head = w->embedding;
    // Some exports save the tied head too; it is ignored, as transformers does.
    if (auto* t = L.find_any({"lm_head.weight"})) {
      L.check_shape(*t, {V, D});
      L.mark_used(t->name);
    }
  } else {
    w->lm_head = L.get({"lm_head.weight"}, {V, D});
  }

  if (cfg.arch == Arch::Mamba2) {
    const std::string ip_name = "backbone.layers.0.mixer.in_proj.weight";
    const bool q = qc.linear_weights.quantized();
    const TensorInfo& ip = L.require({q ? ip_name + ".qcodes" : ip_name});
    const int64_t base = 2 * E + 2 * int64_t(cfg.n_groups) * N + cfg.n_heads;
    const int64_t rows = ip.shape.empty() ? 0 : ip.shape[0];
    if (ip.shape.size() != 2 || rows < base || (rows - base) % 2 != 0)
      fail(ip.file, "tensor '" + ip.name + "' has shape " + shape_str(ip.shape) +
                        ", expected [" + std::to_string(base) + " (+ 2*d_mlp), " +
                        std::to_string(D) + "]");
    cfg.d_mlp = static_cast<int>((rows - base) / 2);
  }

  const int64_t C = cfg.conv_dim(), P = cfg.in_proj_dim(), H = cfg.n_heads;
  const int64_t W = E + cfg.d_mlp;  // out_proj input width
  if (qc.rotation) {
    qc.check_rotation_width(D, where);
    qc.check_rotation_width(W, where);
  }
  if (qc.pot_ssm) {
    if (cfg.arch != Arch::Mamba2)
      fail(where, "quantization: pot_ssm: the power-of-two SSM is implemented for Mamba-2 only");
    const int64_t G = qc.ssm.group;
    if (cfg.n_groups != 1 || cfg.head_dim % G != 0 || N % G != 0 || N / G > 62)
      fail(where, "quantization: pot_ssm needs n_groups 1 and ssm.group dividing head_dim and d_state (got n_groups " +
                      std::to_string(cfg.n_groups) + ", group " + std::to_string(G) + ")");
    w->ssm_tables = std::make_shared<quant::SsmTables>(quant::SsmTables::make(qc.lut.softplus, qc.lut.exp));
  }
  const quant::TensorQuant& lq = qc.linear_weights;
  for (int i = 0; i < cfg.n_layer; ++i) {
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    const std::string m = p + "mixer.";
    LayerWeights lw;
    PackedLayerWeights pl;
    lw.norm = L.get({p + "norm.weight"}, {D});
    pl.in_proj = load_linear(L, m + "in_proj.weight", P, D, qc, lq, "linear_weights", where, &lw.in_proj);
    lw.in_proj_b = L.get_optional({m + "in_proj.bias"}, {P});
    lw.conv_wT = load_conv(L, m, C, K);
    lw.conv_b = L.get_optional({m + "conv1d.bias"}, {C});
    pl.out_proj = load_linear(L, m + "out_proj.weight", D, W, qc, lq, "linear_weights", where, &lw.out_proj);
    pl.out_proj.set_rotate_input(qc.rotation);
    lw.out_proj_b = L.get_optional({m + "out_proj.bias"}, {D});
    if (cfg.arch == Arch::Mamba1) {
      const int64_t R = cfg.dt_rank;
      pl.x_proj = load_linear(L, m + "x_proj.weight", R + 2 * N, E, qc, lq, "linear_weights", where, &lw.x_proj);
      pl.dt_proj = load_linear(L, m + "dt_proj.weight", E, R, qc, lq, "linear_weights", where, &lw.dt_proj);
      lw.dt_proj_b = L.get({m + "dt_proj.bias"}, {E});
      lw.A = neg_exp(L.copy(L.require({m + "A_log"}), {E, N}), E * N);
      lw.D = L.get({m + "D"}, {E});
    } else {
      lw.dt_bias = L.get({m + "dt_bias"}, {H});
      lw.A = neg_exp(L.copy(L.require({m + "A_log"}), {H}), H);
      lw.D = L.get({m + "D"}, {H});
      lw.gnorm = L.get({m + "norm.weight"}, {E});
      if (qc.pot_ssm)
        w->pot_ssm.push_back({quant::ssm_params_fixed({lw.A, size_t(H)}, {lw.D, size_t(H)},
                                                      {lw.dt_bias, size_t(H)})});
    }
    if (cfg.conv_bias && !lw.conv_b) fail(where, "missing tensor '" + m + "conv1d.bias'");
    if (cfg.proj_bias && !lw.in_proj_b) fail(where, "missing tensor '" + m + "in_proj.bias'");
    w->layers.push_back(lw);
    w->packed.push_back(std::move(pl));
  }
  L.check_no_extra();
  if (!head_quantized) w->lm_head_op = LinearOp::fp32(w->lm_head, V, D);
  // What a decode step streams: every weight but the embedding table (one
  // row of it), which the tied head reads in full anyway.
  w->decode_bytes = w->bytes - (head_quantized || !cfg.tie_embeddings ? size_t(V * D) * sizeof(float) : 0);
  return w;
}

}  // namespace sm
