// SPDX-License-Identifier: Apache-2.0
#include "core/quant/rotation_fold.h"

#include <algorithm>
#include <sstream>
#include <utility>

#include "core/io/error.h"
#include "core/quant/hadamard.h"

namespace sm::quant {
namespace {

constexpr const char* kWhere = "rotation fold";

using Matrix = std::vector<double>;  // row-major, computed in double and rounded once

FloatTensor* find_checked(TensorMap& t, const std::string& name, const std::vector<int64_t>& shape) {
  auto it = t.find(name);
  if (it == t.end()) return nullptr;
  if (it->second.shape != shape)
    fail(kWhere, "tensor '" + name + "' has shape " + shape_str(it->second.shape) + ", expected " +
                     shape_str(shape));
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  // A hand-built map can disagree with itself; the folds index by shape.
  if (static_cast<int64_t>(it->second.data.size()) != numel)
    fail(kWhere, "tensor '" + name + "' has " + std::to_string(it->second.data.size()) +
                     " values for shape " + shape_str(shape));
  return &it->second;
}

FloatTensor& require(TensorMap& t, const std::string& name, const std::vector<int64_t>& shape) {
  if (FloatTensor* f = find_checked(t, name, shape)) return *f;
  fail(kWhere, "missing tensor '" + name + "'");
}

void check_width(int64_t n, const std::string& what, const std::string& note = "") {
  if (hadamard_k(n) != 0) return;
  std::string ks = "1";
  for (int k : hadamard_base_sizes()) ks += ", " + std::to_string(k);
  fail(kWhere, "no Hadamard matrix for " + what + " " + std::to_string(n) + note +
                   ": the rotation needs a width K * 2^k with K in {" + ks + "}");
}

// Everything one fold touches, looked up and shape-checked before any tensor
// changes, so a failed fold leaves the map as it was.
struct LayerRefs {
  FloatTensor* norm;
  FloatTensor* in_proj;
  FloatTensor* out_proj;
  FloatTensor* out_proj_b;  // optional
  FloatTensor* gnorm;       // Mamba-2 only
};

struct ModelRefs {
  int64_t D = 0, V = 0, W = 0, M = 0;  // M: columns of out_proj's input before the gated-norm part
  FloatTensor* embedding = nullptr;
  FloatTensor* norm_f = nullptr;
  const FloatTensor* head_src = nullptr;  // the embedding when tied
  std::vector<LayerRefs> layers;
};

// Mamba-2 checkpoints may carry 2 * d_mlp extra leading in_proj rows; the
// loader derives d_mlp the same way.
int64_t derive_d_mlp(const ModelConfig& cfg, TensorMap& t) {
  const std::string name = "backbone.layers.0.mixer.in_proj.weight";
  auto it = t.find(name);
  if (it == t.end()) fail(kWhere, "missing tensor '" + name + "'");
  const auto& s = it->second.shape;
  const int64_t base = 2 * int64_t{cfg.d_inner} + 2 * int64_t{cfg.n_groups} * cfg.d_state + cfg.n_heads;
  if (s.size() != 2 || s[0] < base || (s[0] - base) % 2 != 0)
    fail(kWhere, "tensor '" + name + "' has shape " + shape_str(s) + ", expected [" +
                     std::to_string(base) + " (+ 2*d_mlp), " + std::to_string(cfg.d_model) + "]");
  return (s[0] - base) / 2;
}

const char* embedding_name(const TensorMap& t) {
  for (const char* n : {"backbone.embeddings.weight", "backbone.embedding.weight"})
    if (t.count(n)) return n;
  return "backbone.embeddings.weight";  // named in the error
}

ModelRefs collect(ModelConfig& cfg, TensorMap& t) {
  ModelRefs r;
  r.D = cfg.d_model;
  r.V = cfg.vocab_size;
  if (cfg.arch == Arch::Mamba2) cfg.d_mlp = static_cast<int>(derive_d_mlp(cfg, t));
  r.M = cfg.arch == Arch::Mamba2 ? cfg.d_mlp : 0;
  r.W = r.M + cfg.d_inner;
  check_width(r.D, "d_model");
  check_width(r.W, "out_proj input width", r.M ? " (d_mlp + d_inner)" : " (d_inner)");

  r.embedding = &require(t, embedding_name(t), {r.V, r.D});
  r.norm_f = &require(t, "backbone.norm_f.weight", {r.D});
  r.head_src = cfg.tie_embeddings ? r.embedding : &require(t, "lm_head.weight", {r.V, r.D});
  const int64_t P = cfg.in_proj_dim();
  for (int i = 0; i < cfg.n_layer; ++i) {
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    const std::string m = p + "mixer.";
    LayerRefs l;
    l.norm = &require(t, p + "norm.weight", {r.D});
    l.in_proj = &require(t, m + "in_proj.weight", {P, r.D});
    l.out_proj = &require(t, m + "out_proj.weight", {r.D, r.W});
    l.out_proj_b = find_checked(t, m + "out_proj.bias", {r.D});
    l.gnorm = cfg.arch == Arch::Mamba2 ? &require(t, m + "norm.weight", {cfg.d_inner}) : nullptr;
    r.layers.push_back(l);
  }
  return r;
}

Matrix to_double(const FloatTensor& t) { return Matrix(t.data.begin(), t.data.end()); }

void store(FloatTensor& t, const Matrix& m) {
  for (size_t i = 0; i < m.size(); ++i) t.data[i] = static_cast<float>(m[i]);
}

void set_ones(FloatTensor& t) { std::fill(t.data.begin(), t.data.end(), 1.0f); }

// w <- w diag(s) on columns [c0, c0 + |s|): a norm weight that multiplies this
// layer's input.
void scale_columns(Matrix& w, int64_t cols, const FloatTensor& s, int64_t c0) {
  const int64_t rows = static_cast<int64_t>(w.size()) / cols, n = static_cast<int64_t>(s.data.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < n; ++c) w[r * cols + c0 + c] *= s.data[c];
}

// w <- w H_cols^T, i.e. transform() of each row: a layer whose input arrives
// rotated, or an embedding whose rows are residual vectors to rotate.
void transform_each_row(Matrix& w, int64_t cols) {
  transform_rows(w.data(), w.data(), static_cast<int64_t>(w.size()) / cols, cols);
}

// w <- H_rows w: a layer whose output must leave rotated. Done on the
// transpose so each transformed column is contiguous.
void transform_each_column(Matrix& w, int64_t cols) {
  const int64_t rows = static_cast<int64_t>(w.size()) / cols;
  Matrix t(w.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) t[c * rows + r] = w[r * cols + c];
  transform_rows(t.data(), t.data(), cols, rows);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) w[r * cols + c] = t[c * rows + r];
}

// A linear layer reading RMSNorm(h) * norm: W diag(norm) H_D^T, norm' = 1.
void fold_norm_into_input(FloatTensor& w, FloatTensor& norm, int64_t D) {
  Matrix m = to_double(w);
  scale_columns(m, D, norm, 0);
  transform_each_row(m, D);
  store(w, m);
}

void fold_out_proj(LayerRefs& l, const ModelRefs& r) {
  Matrix m = to_double(*l.out_proj);
  if (l.gnorm) scale_columns(m, r.W, *l.gnorm, r.M);
  transform_each_row(m, r.W);
  transform_each_column(m, r.W);
  store(*l.out_proj, m);
  if (l.gnorm) set_ones(*l.gnorm);
  if (l.out_proj_b) {
    Matrix b = to_double(*l.out_proj_b);
    transform(b.data(), b.data(), r.D);
    store(*l.out_proj_b, b);
  }
}

}  // namespace

TensorMap load_float_tensors(const TensorStore& store) {
  TensorMap out;
  for (const std::string& name : store.names()) {
    const TensorInfo* t = store.find(name);
    out[name] = FloatTensor{t->shape, to_f32(*t)};
  }
  return out;
}

std::vector<TensorToWrite> tensors_to_write(const TensorMap& tensors) {
  std::vector<TensorToWrite> out;
  out.reserve(tensors.size());
  for (const auto& [name, t] : tensors) out.push_back(f32_tensor(name, t.shape, t.data));
  return out;
}

void fold_rotation(ModelConfig& cfg, TensorMap& tensors) {
  ModelConfig folded = cfg;  // cfg changes only when the fold succeeds
  ModelRefs r = collect(folded, tensors);

  // The head first: when tied it is folded from the embedding as it was.
  FloatTensor head{{r.V, r.D}, r.head_src->data};
  fold_norm_into_input(head, *r.norm_f, r.D);
  set_ones(*r.norm_f);

  Matrix e = to_double(*r.embedding);
  transform_each_row(e, r.D);
  store(*r.embedding, e);

  for (LayerRefs& l : r.layers) {
    fold_norm_into_input(*l.in_proj, *l.norm, r.D);
    set_ones(*l.norm);
    fold_out_proj(l, r);
  }
  tensors["lm_head.weight"] = std::move(head);
  folded.tie_embeddings = false;
  cfg = folded;
}

}  // namespace sm::quant
