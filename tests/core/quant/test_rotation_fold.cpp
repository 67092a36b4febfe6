// SPDX-License-Identifier: Apache-2.0
// The offline Hadamard rotation fold: the transforms it uses are orthogonal;
// each folded layer computes the rotated version of the original layer (a
// double-precision check against the dense H_n, independent of the model);
// the folded checkpoint gives the original logits on Mamba-1 and Mamba-2
// (random models, the shipped target and draft, n_groups 2, d_mlp > 0) both
// through MambaModel's online transform (the "quantization" metadata route)
// and, without it, with the online rotation undone in out_proj; and widths
// without a Hadamard matrix or missing tensors fail by name, leaving the
// checkpoint untouched.
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include <gtest/gtest.h>

#include "tests/core/error_of.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/io/error.h"
#include "core/io/model_config.h"
#include "core/io/safetensors.h"
#include "core/model/mamba_model.h"
#include "core/model/random_model.h"
#include "core/quant/hadamard.h"
#include "core/quant/quant_config.h"
#include "core/quant/rotation_fold.h"
#include "tests/core/temp_dir.h"

namespace fs = std::filesystem;

namespace {

using namespace sm::quant;
using sm_test::TempDir;

constexpr double kLogitTol = 1e-4;
constexpr double kLayerTol = 1e-5;  // one float rounding of each folded weight

std::string shipped(const std::string& name) {
  return std::string(SPECMAMBA_TEST_DATA) + "/../../data/models/" + name;
}

using sm_test::error_of;

// ---- Dense double reference ------------------------------------------------

using Vec = std::vector<double>;

Vec randn(int64_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<double> d(0.0, 1.0);
  Vec v(static_cast<size_t>(n));
  for (auto& x : v) x = d(g);
  return v;
}

// y = A x for a row-major float tensor A [rows][cols].
Vec matvec(const FloatTensor& a, const Vec& x) {
  const int64_t rows = a.shape[0], cols = a.shape[1];
  Vec y(static_cast<size_t>(rows), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) y[r] += double(a.data[r * cols + c]) * x[c];
  return y;
}

// H_n x with the dense matrix (not the fast transform the fold uses).
Vec hadamard_times(const Vec& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  const Vec h = hadamard_matrix(n);
  Vec y(x.size(), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) y[i] += h[i * n + j] * x[j];
  return y;
}

Vec rms_normed(const Vec& h, double eps) {
  double ss = 0.0;
  for (double v : h) ss += v * v;
  const double s = 1.0 / std::sqrt(ss / double(h.size()) + eps);
  Vec u(h.size());
  for (size_t i = 0; i < h.size(); ++i) u[i] = h[i] * s;
  return u;
}

Vec scaled(Vec x, const FloatTensor& w, size_t offset) {
  for (size_t i = 0; i < w.data.size(); ++i) x[offset + i] *= w.data[i];
  return x;
}

Vec add(Vec x, const FloatTensor& b) {
  for (size_t i = 0; i < x.size(); ++i) x[i] += b.data[i];
  return x;
}

double max_abs_diff(const Vec& a, const Vec& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

Vec row_of(const FloatTensor& t, int64_t r) {
  const int64_t cols = t.shape[1];
  return Vec(t.data.begin() + r * cols, t.data.begin() + (r + 1) * cols);
}

void expect_all_ones(const FloatTensor& t, const std::string& name) {
  for (float v : t.data) ASSERT_EQ(v, 1.0f) << name;
}

// The folded tensors against the originals, layer by layer, on random inputs:
//   in_proj'(RMSNorm(H_D h)) == in_proj(RMSNorm(h) * norm)
//   out_proj'(H_W y)         == H_D out_proj(y * (1 | gnorm))   (y: the normalised input)
//   embedding'[t]            == H_D embedding[t]
//   lm_head'(RMSNorm(H_D h)) == lm_head(RMSNorm(h) * norm_f)
// The dense H here is built apart from the fast transform the fold calls.
// `tied`: whether the source head was the embedding (cfg is the folded config).
void check_layers(const sm::ModelConfig& cfg, bool tied, const TensorMap& before, const TensorMap& after) {
  const int64_t D = cfg.d_model, M = cfg.arch == sm::Arch::Mamba2 ? cfg.d_mlp : 0, W = M + cfg.d_inner;
  const double eps = cfg.norm_eps;
  const Vec h = randn(D, 11), hr = hadamard_times(h);
  for (int i = 0; i < cfg.n_layer; ++i) {
    const std::string p = "backbone.layers." + std::to_string(i) + ".", m = p + "mixer.";
    SCOPED_TRACE(p);
    expect_all_ones(after.at(p + "norm.weight"), p + "norm.weight");
    const Vec want_in = matvec(before.at(m + "in_proj.weight"), scaled(rms_normed(h, eps), before.at(p + "norm.weight"), 0));
    const Vec got_in = matvec(after.at(m + "in_proj.weight"), rms_normed(hr, eps));
    EXPECT_LT(max_abs_diff(got_in, want_in), kLayerTol) << "in_proj";

    const Vec y = randn(W, 100 + i);
    Vec gy = y;
    if (cfg.arch == sm::Arch::Mamba2) {
      gy = scaled(y, before.at(m + "norm.weight"), static_cast<size_t>(M));
      expect_all_ones(after.at(m + "norm.weight"), m + "norm.weight");
    }
    Vec want_out = matvec(before.at(m + "out_proj.weight"), gy);
    Vec got_out = matvec(after.at(m + "out_proj.weight"), hadamard_times(y));
    if (before.count(m + "out_proj.bias")) {
      want_out = add(want_out, before.at(m + "out_proj.bias"));
      got_out = add(got_out, after.at(m + "out_proj.bias"));
    }
    want_out = hadamard_times(want_out);
    EXPECT_LT(max_abs_diff(got_out, want_out), kLayerTol) << "out_proj";
  }
  const auto emb = before.count("backbone.embeddings.weight") ? "backbone.embeddings.weight" : "backbone.embedding.weight";
  for (int64_t t : {int64_t{0}, int64_t{cfg.vocab_size - 1}})
    EXPECT_LT(max_abs_diff(row_of(after.at(emb), t), hadamard_times(row_of(before.at(emb), t))), kLayerTol)
        << "embedding row " << t;
  const FloatTensor& head0 = !tied ? before.at("lm_head.weight") : before.at(emb);
  expect_all_ones(after.at("backbone.norm_f.weight"), "norm_f");
  const Vec want_head = matvec(head0, scaled(rms_normed(h, eps), before.at("backbone.norm_f.weight"), 0));
  EXPECT_LT(max_abs_diff(matvec(after.at("lm_head.weight"), rms_normed(hr, eps)), want_head), kLayerTol) << "lm_head";
}

// ---- Checkpoints -------------------------------------------------------------

sm::ModelConfig config_of(const std::string& dir) { return sm::parse_model_config(dir + "/config.json"); }

TensorMap tensors_of(const std::string& dir) { return load_float_tensors(sm::TensorStore::open_dir(dir)); }

void write_checkpoint(const std::string& src, const std::string& dst, const TensorMap& t, bool online) {
  fs::create_directories(dst);
  std::map<std::string, std::string> meta;
  if (online) meta["quantization"] = QuantConfig::preset("fp32", true).to_json_string();
  sm::write_safetensors(dst + "/model.safetensors", tensors_to_write(t), meta);
  std::ifstream in(src + "/config.json");
  nlohmann::json j = nlohmann::json::parse(in);
  j["tie_word_embeddings"] = false;
  std::ofstream(dst + "/config.json") << j.dump(2) << "\n";
}

// How the folded checkpoint is run.
enum class Run {
  Online,      // metadata asks MambaModel for H_W before out_proj (the real route)
  UndoOnline,  // no metadata; out_proj' H_W written instead, so a plain model sees only H_D
  Plain,       // no metadata, nothing undone: must NOT match (the transform is needed)
};

// out_proj' H_W: row r becomes H_W^T row (hadamard.h: undo with transform_transposed).
void undo_online(const sm::ModelConfig& cfg, TensorMap& t) {
  for (int i = 0; i < cfg.n_layer; ++i) {
    FloatTensor& w = t.at("backbone.layers." + std::to_string(i) + ".mixer.out_proj.weight");
    Vec d(w.data.begin(), w.data.end());
    transform_transposed_rows(d.data(), d.data(), w.shape[0], w.shape[1]);
    std::copy(d.begin(), d.end(), w.data.begin());
  }
}

std::string fold_checkpoint(const std::string& src, const std::string& dst, Run run) {
  sm::ModelConfig cfg = config_of(src);
  TensorMap t = tensors_of(src);
  fold_rotation(cfg, t);
  if (run == Run::UndoOnline) undo_online(cfg, t);
  write_checkpoint(src, dst, t, run == Run::Online);
  return dst;
}

std::vector<int32_t> prompt() {
  const std::string s = "In the beginning God created the heaven and the earth.";
  std::vector<int32_t> ids;
  for (size_t i = 0; i < 32; ++i) ids.push_back(static_cast<unsigned char>(s[i]));
  return ids;
}

std::vector<float> logits_all(const std::string& dir) {
  auto m = sm::MambaModel::load(dir);
  const auto ids = prompt();
  std::vector<float> lg(ids.size() * static_cast<size_t>(m->vocab_size()));
  auto st = m->new_state();
  m->forward(ids, st, lg.data(), sm::MambaModel::Logits::All);
  return lg;
}

double fold_logit_diff(const std::string& src, Run run) {
  TempDir tmp;
  const auto want = logits_all(src);
  const auto got = logits_all(fold_checkpoint(src, tmp.file("folded"), run));
  double m = 0.0;
  for (size_t i = 0; i < want.size(); ++i) m = std::max(m, std::abs(double(got[i]) - want[i]));
  return m;
}

void expect_fold_preserves_logits(const std::string& src, const std::string& label) {
  const double online = fold_logit_diff(src, Run::Online);
  const double residual = fold_logit_diff(src, Run::UndoOnline);
  const double plain = fold_logit_diff(src, Run::Plain);
  std::printf("[rotation fold] %-22s max |dlogit|: online %.3g, residual-only %.3g, no online transform %.3g\n",
              label.c_str(), online, residual, plain);
  ::testing::Test::RecordProperty(label + "_online", std::to_string(online));
  EXPECT_LT(residual, kLogitTol) << label << ": residual-stream fold (H_D, norms) without the online transform";
  EXPECT_LT(online, kLogitTol) << label << ": folded model run through MambaModel's online H_W "
                               << "(needs the \"quantization\" metadata hook in MambaModel)";
  EXPECT_GT(plain, 1e-2) << label << ": the fold is a no-op for out_proj's input";
}

void expect_layers_fold(const std::string& src) {
  sm::ModelConfig cfg = config_of(src);
  const TensorMap before = tensors_of(src);
  TensorMap after = before;
  const bool tied = cfg.tie_embeddings;
  fold_rotation(cfg, after);
  EXPECT_FALSE(cfg.tie_embeddings);
  ASSERT_TRUE(after.count("lm_head.weight"));
  check_layers(cfg, tied, before, after);
}

std::string random_model(const TempDir& tmp, const sm::RandomModelSpec& spec) {
  const std::string dir = tmp.file("src");
  sm::write_random_model(dir, spec);
  return dir;
}

// tiny-mamba2 (n_groups 2) with d_mlp = 64 extra in_proj rows / out_proj
// columns, so W = 64 + 128 = 192 (K = 12) and gnorm sits at column offset 64.
std::string mamba2_with_mlp(const TempDir& tmp) {
  auto spec = sm::random_model_preset("tiny-mamba2");
  const std::string base = tmp.file("base");
  const sm::ModelConfig cfg = sm::write_random_model(base, spec);
  TensorMap t = tensors_of(base);
  const int64_t M = 64, D = cfg.d_model;
  for (int i = 0; i < cfg.n_layer; ++i) {
    const std::string m = "backbone.layers." + std::to_string(i) + ".mixer.";
    FloatTensor& ip = t.at(m + "in_proj.weight");
    const Vec extra = randn(2 * M * D, 7 + i);
    ip.data.insert(ip.data.begin(), extra.begin(), extra.end());
    for (size_t k = 0; k < static_cast<size_t>(2 * M * D); ++k) ip.data[k] *= 0.125f;
    ip.shape[0] += 2 * M;
    FloatTensor& op = t.at(m + "out_proj.weight");
    const int64_t E = op.shape[1];
    const Vec cols = randn(D * M, 50 + i);
    std::vector<float> w;
    for (int64_t r = 0; r < D; ++r) {
      for (int64_t c = 0; c < M; ++c) w.push_back(static_cast<float>(cols[r * M + c] * 0.1));
      w.insert(w.end(), op.data.begin() + r * E, op.data.begin() + (r + 1) * E);
    }
    op.data = std::move(w);
    op.shape[1] = M + E;
  }
  const std::string dir = tmp.file("src");
  fs::create_directories(dir);
  sm::write_safetensors(dir + "/model.safetensors", tensors_to_write(t));
  fs::copy_file(base + "/config.json", dir + "/config.json");
  return dir;
}

// A Mamba-1 d_model 192 model with use_bias: in_proj.bias (unchanged by the
// fold) and out_proj.bias (rotated by H_D, which is not symmetric here).
std::string mamba1_with_biases(const TempDir& tmp) {
  sm::RandomModelSpec spec;
  spec.arch = sm::Arch::Mamba1;
  spec.d_model = 192;
  spec.seed = 9;
  const std::string base = tmp.file("base");
  const sm::ModelConfig cfg = sm::write_random_model(base, spec);
  TensorMap t = tensors_of(base);
  for (int i = 0; i < cfg.n_layer; ++i) {
    const std::string m = "backbone.layers." + std::to_string(i) + ".mixer.";
    const Vec bi = randn(cfg.in_proj_dim(), 20 + i), bo = randn(cfg.d_model, 30 + i);
    t[m + "in_proj.bias"] = {{cfg.in_proj_dim()}, std::vector<float>(bi.begin(), bi.end())};
    t[m + "out_proj.bias"] = {{cfg.d_model}, std::vector<float>(bo.begin(), bo.end())};
    for (float& v : t[m + "out_proj.bias"].data) v *= 0.1f;
  }
  const std::string dir = tmp.file("src");
  fs::create_directories(dir);
  sm::write_safetensors(dir + "/model.safetensors", tensors_to_write(t));
  std::ifstream in(base + "/config.json");
  nlohmann::json j = nlohmann::json::parse(in);
  j["use_bias"] = true;
  std::ofstream(dir + "/config.json") << j.dump(2) << "\n";
  return dir;
}

sm::RandomModelSpec mamba1_spec(int d_model, bool tied, uint64_t seed) {
  sm::RandomModelSpec s;
  s.arch = sm::Arch::Mamba1;
  s.d_model = d_model;
  s.tie_embeddings = tied;
  s.seed = seed;
  return s;
}

// ---- 1. The transforms are orthogonal ---------------------------------------

TEST(RotationFold, TransformsOfShippedWidthsAreOrthogonal) {
  for (int64_t n : {64, 128, 192, 384}) {
    SCOPED_TRACE(n);
    const Vec h = hadamard_matrix(n);
    double err = 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0.0;
        for (int64_t k = 0; k < n; ++k) s += h[i * n + k] * h[j * n + k];
        err = std::max(err, std::abs(s - (i == j ? 1.0 : 0.0)));
      }
    EXPECT_LT(err, 1e-6);
    // The fast transform the fold uses is this matrix.
    const Vec x = randn(n, 3);
    Vec fx = x;
    transform(fx.data(), fx.data(), n);
    EXPECT_LT(max_abs_diff(fx, hadamard_times(x)), 1e-12);
  }
}

// Widths 64 / 128 give a symmetric Sylvester H, so only the 192 / 384 models
// can tell H from H^T: a fold with a transform on the wrong side passes on
// them only if this fails.
TEST(RotationFold, ShippedTargetWidthsCanTellHFromItsTranspose) {
  for (int64_t n : {192, 384}) {
    const Vec h = hadamard_matrix(n);
    double asym = 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) asym = std::max(asym, std::abs(h[i * n + j] - h[j * n + i]));
    EXPECT_GT(asym, 0.1) << n;
  }
}

// ---- 2. Folded layers and logits ---------------------------------------------

TEST(RotationFold, LayersMamba1) {
  TempDir tmp;
  expect_layers_fold(random_model(tmp, mamba1_spec(192, false, 3)));
}

TEST(RotationFold, LayersMamba1WithBiases) {
  TempDir tmp;
  expect_layers_fold(mamba1_with_biases(tmp));
}

TEST(RotationFold, LayersMamba2Target) { expect_layers_fold(shipped("mamba2-target")); }

TEST(RotationFold, LayersMamba2WithMlp) {
  TempDir tmp;
  expect_layers_fold(mamba2_with_mlp(tmp));
}

TEST(RotationFold, LogitsMamba1Tiny) {
  TempDir tmp;
  expect_fold_preserves_logits(random_model(tmp, sm::random_model_preset("tiny-mamba1")), "tiny-mamba1");
}

TEST(RotationFold, LogitsMamba1TiedD192) {
  TempDir tmp;
  expect_fold_preserves_logits(random_model(tmp, mamba1_spec(192, true, 5)), "mamba1-d192-tied");
}

TEST(RotationFold, LogitsMamba1WithBiases) {
  TempDir tmp;
  expect_fold_preserves_logits(mamba1_with_biases(tmp), "mamba1-d192-bias");
}

TEST(RotationFold, LogitsMamba2Target) { expect_fold_preserves_logits(shipped("mamba2-target"), "mamba2-target"); }

TEST(RotationFold, LogitsMamba2Draft) { expect_fold_preserves_logits(shipped("mamba2-draft"), "mamba2-draft"); }

TEST(RotationFold, LogitsMamba2TwoGroups) {
  TempDir tmp;
  auto spec = sm::random_model_preset("tiny-mamba2");
  ASSERT_EQ(spec.n_groups, 2);
  expect_fold_preserves_logits(random_model(tmp, spec), "tiny-mamba2-g2");
}

TEST(RotationFold, LogitsMamba2WithMlp) {
  TempDir tmp;
  expect_fold_preserves_logits(mamba2_with_mlp(tmp), "tiny-mamba2-dmlp64");
}

TEST(RotationFold, TiedHeadBecomesUntiedLmHead) {
  sm::ModelConfig cfg = config_of(shipped("mamba2-draft"));
  ASSERT_TRUE(cfg.tie_embeddings);
  TensorMap t = tensors_of(shipped("mamba2-draft"));
  ASSERT_FALSE(t.count("lm_head.weight"));
  fold_rotation(cfg, t);
  EXPECT_FALSE(cfg.tie_embeddings);
  EXPECT_EQ(cfg.d_mlp, 0);
  ASSERT_TRUE(t.count("lm_head.weight"));
  EXPECT_EQ(t.at("lm_head.weight").shape, t.at("backbone.embeddings.weight").shape);
  EXPECT_NE(t.at("lm_head.weight").data, t.at("backbone.embeddings.weight").data);
}

// ---- 3. Errors -----------------------------------------------------------------

TEST(RotationFold, DModelWithoutHadamardFailsNamingIt) {
  TempDir tmp;
  auto spec = mamba1_spec(68, true, 1);  // 68 = 17 * 4: no K with odd part 17
  spec.n_layer = 1;
  const std::string dir = random_model(tmp, spec);
  sm::ModelConfig cfg = config_of(dir);
  TensorMap t = tensors_of(dir);
  const std::string e = error_of([&] { fold_rotation(cfg, t); });
  EXPECT_NE(e.find("d_model 68"), std::string::npos) << e;
}

TEST(RotationFold, OutProjWidthWithoutHadamardFailsNamingIt) {
  TempDir tmp;
  auto spec = mamba1_spec(64, true, 1);
  spec.expand = 17;  // d_inner 1088 = 17 * 64: no K with odd part 17
  spec.n_layer = 1;
  spec.vocab_size = 16;
  const std::string dir = random_model(tmp, spec);
  sm::ModelConfig cfg = config_of(dir);
  TensorMap t = tensors_of(dir);
  const std::string e = error_of([&] { fold_rotation(cfg, t); });
  EXPECT_NE(e.find("1088"), std::string::npos) << e;
  EXPECT_NE(e.find("out_proj"), std::string::npos) << e;
}

void expect_missing_fails_untouched(const std::string& src, const std::string& name) {
  SCOPED_TRACE(name);
  sm::ModelConfig cfg = config_of(src);
  TensorMap t = tensors_of(src);
  ASSERT_EQ(t.erase(name), 1u);
  const TensorMap before = t;
  const bool tied = cfg.tie_embeddings;
  const std::string e = error_of([&] { fold_rotation(cfg, t); });
  EXPECT_NE(e.find("missing tensor '" + name + "'"), std::string::npos) << e;
  EXPECT_EQ(cfg.tie_embeddings, tied);
  ASSERT_EQ(t.size(), before.size());
  for (const auto& [n, v] : before) EXPECT_EQ(t.at(n).data, v.data) << n << " changed by a failed fold";
}

TEST(RotationFold, MissingTensorsFailNamingThem) {
  TempDir tmp;
  const std::string m1 = random_model(tmp, sm::random_model_preset("tiny-mamba1"));
  expect_missing_fails_untouched(m1, "backbone.layers.1.norm.weight");
  expect_missing_fails_untouched(m1, "backbone.norm_f.weight");
  expect_missing_fails_untouched(m1, "lm_head.weight");  // untied
  expect_missing_fails_untouched(m1, "backbone.layers.0.mixer.out_proj.weight");
  const std::string m2 = shipped("mamba2-draft");
  expect_missing_fails_untouched(m2, "backbone.layers.1.mixer.norm.weight");
  expect_missing_fails_untouched(m2, "backbone.layers.0.norm.weight");
  expect_missing_fails_untouched(m2, "backbone.embeddings.weight");
}

}  // namespace
