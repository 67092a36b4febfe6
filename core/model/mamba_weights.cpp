// SPDX-License-Identifier: Apache-2.0
#include "core/model/mamba_weights.h"

#include <cmath>
#include <cstring>
#include <set>
#include <sstream>

#include "core/io/error.h"

namespace sm {
namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

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

}  // namespace

std::unique_ptr<ModelWeights> load_weights(ModelConfig& cfg, TensorStore store,
                                           const std::string& where) {
  auto w = std::make_unique<ModelWeights>();
  w->store = std::move(store);
  Loader L(*w, where);
  const int64_t D = cfg.d_model, V = cfg.vocab_size, E = cfg.d_inner, N = cfg.d_state,
                K = cfg.d_conv;

  w->embedding = L.get({"backbone.embeddings.weight", "backbone.embedding.weight"}, {V, D});
  w->norm_f = L.get({"backbone.norm_f.weight"}, {D});
  if (cfg.tie_embeddings) {
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
    const TensorInfo& ip = L.require({"backbone.layers.0.mixer.in_proj.weight"});
    const int64_t base = 2 * E + 2 * int64_t(cfg.n_groups) * N + cfg.n_heads;
    const int64_t rows = ip.shape.empty() ? 0 : ip.shape[0];
    if (ip.shape.size() != 2 || rows < base || (rows - base) % 2 != 0)
      fail(ip.file, "tensor '" + ip.name + "' has shape " + shape_str(ip.shape) +
                        ", expected [" + std::to_string(base) + " (+ 2*d_mlp), " +
                        std::to_string(D) + "]");
    cfg.d_mlp = static_cast<int>((rows - base) / 2);
  }

  const int64_t C = cfg.conv_dim(), P = cfg.in_proj_dim(), H = cfg.n_heads;
  for (int i = 0; i < cfg.n_layer; ++i) {
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    const std::string m = p + "mixer.";
    LayerWeights lw;
    lw.norm = L.get({p + "norm.weight"}, {D});
    lw.in_proj = L.get({m + "in_proj.weight"}, {P, D});
    lw.in_proj_b = L.get_optional({m + "in_proj.bias"}, {P});
    lw.conv_wT = load_conv(L, m, C, K);
    lw.conv_b = L.get_optional({m + "conv1d.bias"}, {C});
    lw.out_proj = L.get({m + "out_proj.weight"}, {D, E + cfg.d_mlp});
    lw.out_proj_b = L.get_optional({m + "out_proj.bias"}, {D});
    if (cfg.arch == Arch::Mamba1) {
      const int64_t R = cfg.dt_rank;
      lw.x_proj = L.get({m + "x_proj.weight"}, {R + 2 * N, E});
      lw.dt_proj = L.get({m + "dt_proj.weight"}, {E, R});
      lw.dt_proj_b = L.get({m + "dt_proj.bias"}, {E});
      lw.A = neg_exp(L.copy(L.require({m + "A_log"}), {E, N}), E * N);
      lw.D = L.get({m + "D"}, {E});
    } else {
      lw.dt_bias = L.get({m + "dt_bias"}, {H});
      lw.A = neg_exp(L.copy(L.require({m + "A_log"}), {H}), H);
      lw.D = L.get({m + "D"}, {H});
      lw.gnorm = L.get({m + "norm.weight"}, {E});
    }
    if (cfg.conv_bias && !lw.conv_b) fail(where, "missing tensor '" + m + "conv1d.bias'");
    if (cfg.proj_bias && !lw.in_proj_b) fail(where, "missing tensor '" + m + "in_proj.bias'");
    w->layers.push_back(lw);
  }
  L.check_no_extra();
  for (const LayerWeights& lw : w->layers) {
    PackedLayerWeights pl;
    pl.in_proj = PackedMatrix::pack(lw.in_proj, P, D);
    pl.out_proj = PackedMatrix::pack(lw.out_proj, D, E + cfg.d_mlp);
    if (cfg.arch == Arch::Mamba1) {
      pl.x_proj = PackedMatrix::pack(lw.x_proj, cfg.dt_rank + 2 * N, E);
      pl.dt_proj = PackedMatrix::pack(lw.dt_proj, E, cfg.dt_rank);
    }
    w->packed.push_back(std::move(pl));
  }
  w->lm_head_packed = PackedMatrix::pack(w->lm_head, V, D);
  return w;
}

}  // namespace sm
