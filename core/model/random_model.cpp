// SPDX-License-Identifier: Apache-2.0
#include "core/model/random_model.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/io/error.h"
#include "core/io/safetensors.h"

namespace sm {

RandomModelSpec random_model_preset(const std::string& name) {
  RandomModelSpec s;
  if (name == "mamba-130m") {
    s.arch = Arch::Mamba1, s.d_model = 768, s.n_layer = 24, s.vocab_size = 50280, s.d_state = 16;
  } else if (name == "mamba2-130m") {
    s.arch = Arch::Mamba2, s.d_model = 768, s.n_layer = 24, s.vocab_size = 50288,
    s.d_state = 128, s.head_dim = 64;
  } else if (name == "tiny-mamba1") {
    s.arch = Arch::Mamba1, s.d_model = 64, s.n_layer = 2, s.vocab_size = 256, s.d_state = 16,
    s.tie_embeddings = false;  // an untied head keeps random greedy output varied
  } else if (name == "tiny-mamba2") {
    s.arch = Arch::Mamba2, s.d_model = 64, s.n_layer = 2, s.vocab_size = 256, s.d_state = 16,
    s.head_dim = 16, s.n_groups = 2;
  } else {
    fail("", "unknown model shape '" + name +
                 "'; known: mamba-130m, mamba2-130m, tiny-mamba1, tiny-mamba2");
  }
  return s;
}

namespace {

class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  std::vector<float> normal(size_t n, float std, float mean = 0.0f) {
    std::normal_distribution<float> d(mean, std);
    std::vector<float> v(n);
    for (auto& x : v) x = d(g_);
    return v;
  }
  std::vector<float> uniform(size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(g_);
    return v;
  }

 private:
  std::mt19937_64 g_;
};

TensorToWrite tensor(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v) {
  TensorToWrite t;
  t.name = name;
  t.shape = std::move(shape);
  t.bytes.resize(v.size() * sizeof(float));
  std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  return t;
}

// dt in [1e-3, 1e-1] log-uniformly, stored as its softplus inverse.
std::vector<float> dt_bias(Rng& r, size_t n) {
  auto u = r.uniform(n, std::log(1e-3f), std::log(1e-1f));
  for (auto& x : u) {
    const float dt = std::exp(x);
    x = dt + std::log(-std::expm1(-dt));
  }
  return u;
}

}  // namespace

ModelConfig write_random_model(const std::string& dir, const RandomModelSpec& s) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  Rng r(s.seed);
  const int64_t D = s.d_model, E = int64_t(s.expand) * D, N = s.d_state, K = s.d_conv,
                V = s.vocab_size;
  const float wstd = 1.0f / std::sqrt(float(D));
  std::vector<TensorToWrite> ts;
  nlohmann::json cfg;
  ts.push_back(tensor("backbone.embeddings.weight", {V, D}, r.normal(V * D, 0.15f)));
  for (int i = 0; i < s.n_layer; ++i) {
    const std::string m = "backbone.layers." + std::to_string(i) + ".mixer.";
    ts.push_back(tensor("backbone.layers." + std::to_string(i) + ".norm.weight", {D},
                        r.normal(D, 0.1f, 1.0f)));
    if (s.arch == Arch::Mamba1) {
      const int64_t R = (D + 15) / 16;
      ts.push_back(tensor(m + "in_proj.weight", {2 * E, D}, r.normal(2 * E * D, wstd)));
      ts.push_back(tensor(m + "conv1d.weight", {E, 1, K}, r.normal(E * K, 0.3f)));
      ts.push_back(tensor(m + "conv1d.bias", {E}, r.normal(E, 0.1f)));
      ts.push_back(tensor(m + "x_proj.weight", {R + 2 * N, E}, r.normal((R + 2 * N) * E, 1.0f / std::sqrt(float(E)))));
      ts.push_back(tensor(m + "dt_proj.weight", {E, R}, r.normal(E * R, 1.0f / std::sqrt(float(R)))));
      ts.push_back(tensor(m + "dt_proj.bias", {E}, dt_bias(r, E)));
      std::vector<float> alog(E * N);
      for (int64_t e = 0; e < E; ++e)
        for (int64_t n = 0; n < N; ++n) alog[e * N + n] = std::log(float(n + 1));
      ts.push_back(tensor(m + "A_log", {E, N}, alog));
      ts.push_back(tensor(m + "D", {E}, r.normal(E, 0.1f, 1.0f)));
      ts.push_back(tensor(m + "out_proj.weight", {D, E}, r.normal(D * E, 1.0f / std::sqrt(float(E)))));
    } else {
      const int64_t H = E / s.head_dim, G = s.n_groups, C = E + 2 * G * N;
      ts.push_back(tensor(m + "in_proj.weight", {2 * E + 2 * G * N + H, D},
                          r.normal((2 * E + 2 * G * N + H) * D, wstd)));
      ts.push_back(tensor(m + "conv1d.weight", {C, 1, K}, r.normal(C * K, 0.3f)));
      ts.push_back(tensor(m + "conv1d.bias", {C}, r.normal(C, 0.1f)));
      ts.push_back(tensor(m + "dt_bias", {H}, dt_bias(r, H)));
      auto a = r.uniform(H, 1.0f, 16.0f);
      for (auto& x : a) x = std::log(x);
      ts.push_back(tensor(m + "A_log", {H}, a));
      ts.push_back(tensor(m + "D", {H}, r.normal(H, 0.1f, 1.0f)));
      ts.push_back(tensor(m + "norm.weight", {E}, r.normal(E, 0.1f, 1.0f)));
      ts.push_back(tensor(m + "out_proj.weight", {D, E}, r.normal(D * E, 1.0f / std::sqrt(float(E)))));
    }
  }
  ts.push_back(tensor("backbone.norm_f.weight", {D}, r.normal(D, 0.1f, 1.0f)));
  if (!s.tie_embeddings) ts.push_back(tensor("lm_head.weight", {V, D}, r.normal(V * D, wstd)));

  cfg["hidden_size"] = D;
  cfg["num_hidden_layers"] = s.n_layer;
  cfg["vocab_size"] = V;
  cfg["state_size"] = N;
  cfg["conv_kernel"] = K;
  cfg["expand"] = s.expand;
  cfg["layer_norm_epsilon"] = 1e-5;
  cfg["use_bias"] = false;
  cfg["use_conv_bias"] = true;
  cfg["tie_word_embeddings"] = s.tie_embeddings;
  if (s.arch == Arch::Mamba1) {
    cfg["architectures"] = {"MambaForCausalLM"};
    cfg["model_type"] = "mamba";
    cfg["time_step_rank"] = "auto";
  } else {
    cfg["architectures"] = {"Mamba2ForCausalLM"};
    cfg["model_type"] = "mamba2";
    cfg["head_dim"] = s.head_dim;
    cfg["num_heads"] = E / s.head_dim;
    cfg["n_groups"] = s.n_groups;
    cfg["rms_norm"] = true;
    cfg["norm_before_gate"] = false;
  }
  cfg["specmamba_random_seed"] = s.seed;
  write_safetensors((fs::path(dir) / "model.safetensors").string(), ts);
  {
    std::ofstream f(fs::path(dir) / "config.json");
    f << cfg.dump(2) << "\n";
    if (!f) fail(dir, "cannot write config.json");
  }
  return parse_model_config((fs::path(dir) / "config.json").string());
}

}  // namespace sm
