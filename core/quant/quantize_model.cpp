// SPDX-License-Identifier: Apache-2.0
#include "core/quant/quantize_model.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/io/error.h"
#include "core/io/model_config.h"
#include "core/io/safetensors.h"
#include "core/quant/quantizers.h"
#include "core/quant/rotation_fold.h"

namespace sm::quant {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Linear {
  std::string name;
  int64_t rows, cols;
  bool required;  // false: may stay fp32 when the group does not divide cols
};

// The linear layers the loader runs through LinearOp, with their shapes.
std::vector<Linear> linear_layers(const ModelConfig& c) {
  std::vector<Linear> v;
  const int64_t D = c.d_model, E = c.d_inner, N = c.d_state, W = E + c.d_mlp;
  for (int i = 0; i < c.n_layer; ++i) {
    const std::string m = "backbone.layers." + std::to_string(i) + ".mixer.";
    v.push_back({m + "in_proj.weight", c.in_proj_dim(), D, true});
    v.push_back({m + "out_proj.weight", D, W, true});
    if (c.arch == Arch::Mamba1) {
      v.push_back({m + "x_proj.weight", c.dt_rank + 2 * N, E, true});
      v.push_back({m + "dt_proj.weight", E, c.dt_rank, false});  // dt_rank (48 for 130m) rarely divides
    }
  }
  return v;
}

ScaleKind weight_kind(const TensorQuant& q, const std::string& field) {
  if (q.scale == ScaleFormat::Float) return ScaleKind::Float;
  if (q.scale == ScaleFormat::Pow2Sum) return ScaleKind::Pow2Sum;
  fail("quantize", field + ".scale: pow2 weight scales are not supported (use pow2sum or float)");
}

TensorToWrite raw_tensor(std::string name, const char* dtype, std::vector<int64_t> shape, const void* data,
                         size_t n) {
  TensorToWrite t{std::move(name), dtype, std::move(shape), std::vector<std::byte>(n)};
  if (n) std::memcpy(t.bytes.data(), data, n);
  return t;
}

void add_quantized(std::vector<TensorToWrite>& out, const std::string& name, const QuantizedMatrix& q) {
  const int64_t groups = q.groups_per_row();
  out.push_back(q.bits == 8 ? raw_tensor(name + ".qcodes", "I8", {q.rows, q.cols}, q.codes.data(), q.codes.size())
                            : raw_tensor(name + ".qcodes", "U8", {q.rows, q.row_bytes()}, q.codes.data(), q.codes.size()));
  if (q.kind == ScaleKind::Float) {
    out.push_back(raw_tensor(name + ".qscale", "F32", {q.rows, groups}, q.scales.data(), q.scales.size() * 4));
  } else {
    out.push_back(raw_tensor(name + ".qs1", "I16", {q.rows, groups}, q.s1.data(), q.s1.size() * 2));
    out.push_back(raw_tensor(name + ".qs2", "I16", {q.rows, groups}, q.s2.data(), q.s2.size() * 2));
  }
}

double relative_error(const std::vector<float>& w, const QuantizedMatrix& q) {
  const std::vector<float> d = dequantize(q);
  double num = 0, den = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    num += double(w[i] - d[i]) * double(w[i] - d[i]);
    den += double(w[i]) * w[i];
  }
  return den > 0 ? std::sqrt(num / den) : 0.0;
}

// Mamba-2's d_mlp from in_proj's height (fold_rotation derives it too).
void derive_d_mlp(ModelConfig& c, const TensorMap& t) {
  if (c.arch != Arch::Mamba2) return;
  auto it = t.find("backbone.layers.0.mixer.in_proj.weight");
  if (it == t.end() || it->second.shape.size() != 2) return;  // the loader names it later
  const int64_t base = 2 * int64_t(c.d_inner) + 2 * int64_t(c.n_groups) * c.d_state + c.n_heads;
  if (it->second.shape[0] >= base) c.d_mlp = static_cast<int>((it->second.shape[0] - base) / 2);
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) fail(p.string(), "cannot read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
  if (!out.flush()) fail(p.string(), "cannot write");
}

// The source config.json with the head's tying updated, in its own key style.
std::string output_config(const fs::path& src, bool tie) {
  json j;
  try {
    j = json::parse(read_text(src));
  } catch (const json::parse_error& e) {
    fail(src.string(), std::string("invalid JSON: ") + e.what());
  }
  const bool state_spaces = j.contains("d_model") && !j.contains("model_type");
  j[state_spaces ? "tie_embeddings" : "tie_word_embeddings"] = tie;
  return j.dump(2) + "\n";
}

void check_group(const TensorQuant& q, int64_t width, const std::string& field, const std::string& what,
                 const std::string& where) {
  if (!q.quantized() || width % q.group == 0) return;
  fail(where, field + ".group: " + std::to_string(q.group) + " does not divide " + what + " " +
                  std::to_string(width) + " (try --group " + std::to_string(std::gcd(width, int64_t{q.group})) + ")");
}

}  // namespace

int64_t default_weight_group(const std::string& model_dir) {
  ModelConfig c = parse_model_config((fs::path(model_dir) / "config.json").string());
  const TensorStore store = TensorStore::open_dir(model_dir);
  if (c.arch == Arch::Mamba2)
    if (const TensorInfo* ip = store.find("backbone.layers.0.mixer.in_proj.weight"); ip && ip->shape.size() == 2) {
      const int64_t base = 2 * int64_t(c.d_inner) + 2 * int64_t(c.n_groups) * c.d_state + c.n_heads;
      if (ip->shape[0] >= base) c.d_mlp = static_cast<int>((ip->shape[0] - base) / 2);
    }
  for (int64_t g = 128; g >= 8; g /= 2) {
    bool ok = c.d_model % g == 0 && (c.d_inner + c.d_mlp) % g == 0;
    if (c.arch == Arch::Mamba1) ok = ok && c.d_inner % g == 0;
    if (ok) return g;
  }
  fail(model_dir, "no weight group of 8..128 (a power of two) divides d_model " + std::to_string(c.d_model) +
                      " and the out_proj input " + std::to_string(c.d_inner + c.d_mlp) + "; give --group");
}

QuantizeReport quantize_model(const std::string& src_dir, const std::string& dst_dir, QuantConfig config) {
  const fs::path src(src_dir), dst(dst_dir);
  std::error_code ec;
  if (!fs::is_directory(src, ec)) fail(src_dir, "not a model directory (expected config.json and *.safetensors)");
  if (fs::exists(dst, ec)) fail(dst_dir, "already exists; quantize writes a new directory (remove it or pick another)");
  config.validate("quantize");
  ModelConfig cfg = parse_model_config((src / "config.json").string());
  TensorStore store = TensorStore::open_dir(src_dir);
  for (const auto& f : store.files())
    if (f->metadata().count("quantization"))
      fail(f->path(), "is already quantized (metadata \"quantization\"); quantize its fp32 source instead");

  QuantizeReport rep;
  if (cfg.arch == Arch::Mamba1 && config.pot_ssm) {
    config.pot_ssm = false;
    config.ssm = TensorQuant{};
    config.lut = LutSizes{};
    rep.notes.push_back("pot_ssm turned off: the power-of-two SSM is implemented for Mamba-2; this Mamba-1 "
                        "model's SSM stays fp32");
  }
  TensorMap t = load_float_tensors(store);
  for (const auto& f : store.files())
    for (const auto& ti : f->tensors()) rep.bytes_in += ti.nbytes;

  if (config.rotation) {
    config.check_rotation_width(cfg.d_model, src_dir);
    fold_rotation(cfg, t);  // derives d_mlp; unties the head
  } else {
    derive_d_mlp(cfg, t);
  }
  const int64_t W = cfg.d_inner + cfg.d_mlp;
  if (config.rotation) config.check_rotation_width(W, src_dir);
  if (config.pot_ssm) {
    const int64_t G = config.ssm.group;
    if (cfg.n_groups != 1 || cfg.head_dim % G != 0 || cfg.d_state % G != 0)
      fail(src_dir, "pot_ssm needs n_groups 1 and ssm.group " + std::to_string(G) + " dividing head_dim " +
                        std::to_string(cfg.head_dim) + " and d_state " + std::to_string(cfg.d_state));
  }
  const TensorQuant& wq = config.linear_weights;
  check_group(wq, cfg.d_model, "linear_weights", "d_model", src_dir);
  check_group(wq, W, "linear_weights", "the out_proj input width", src_dir);
  check_group(config.lm_head_weights, cfg.d_model, "lm_head_weights", "d_model", src_dir);
  if (wq.quantized() || config.lm_head_weights.quantized())
    check_group(config.linear_activations, cfg.d_model, "linear_activations", "d_model", src_dir);

  std::vector<TensorToWrite> out;
  double err_sum = 0;
  auto quantize_one = [&](const std::string& name, const std::vector<float>& w, int64_t rows, int64_t cols,
                          const TensorQuant& q, const std::string& field, const std::string& as) {
    const QuantizedMatrix qm = quantize_weights(w.data(), rows, cols, q.bits, q.group, weight_kind(q, field));
    const double e = relative_error(w, qm);
    rep.max_rel_error = std::max(rep.max_rel_error, e);
    err_sum += e;
    add_quantized(out, as, qm);
    rep.quantized.push_back(as);
    (void)name;
  };
  if (wq.quantized()) {
    for (const Linear& l : linear_layers(cfg)) {
      auto it = t.find(l.name);
      if (it == t.end()) fail(src_dir, "missing tensor '" + l.name + "'");
      if (it->second.shape != std::vector<int64_t>{l.rows, l.cols})
        fail(src_dir, "tensor '" + l.name + "' does not have the shape its config implies");
      if (l.cols % wq.group != 0) {
        if (l.required) check_group(wq, l.cols, "linear_weights", "the input width of " + l.name, src_dir);
        rep.kept_fp32.push_back(l.name);
        continue;
      }
      quantize_one(l.name, it->second.data, l.rows, l.cols, wq, "linear_weights", l.name);
      t.erase(it);
    }
  }
  bool tie = cfg.tie_embeddings;
  if (config.lm_head_weights.quantized()) {
    const int64_t V = cfg.vocab_size, D = cfg.d_model;
    auto head = t.find("lm_head.weight");
    const bool from_embedding = tie || head == t.end();
    const std::string emb_name = t.count("backbone.embeddings.weight") ? "backbone.embeddings.weight"
                                                                        : "backbone.embedding.weight";
    const FloatTensor& src_head = from_embedding ? t.at(emb_name) : head->second;
    if (src_head.shape != std::vector<int64_t>{V, D}) fail(src_dir, "the LM head does not have shape [vocab, d_model]");
    quantize_one("lm_head.weight", src_head.data, V, D, config.lm_head_weights, "lm_head_weights", "lm_head.weight");
    if (head != t.end()) t.erase(head);
    tie = false;
  }
  rep.mean_rel_error = rep.quantized.empty() ? 0 : err_sum / double(rep.quantized.size());
  for (TensorToWrite& f : tensors_to_write(t)) out.push_back(std::move(f));
  for (const TensorToWrite& f : out) rep.bytes_out += f.bytes.size();
  rep.config = config;

  // Written next to the destination, renamed when complete.
  const fs::path tmp = dst.parent_path() / (dst.filename().string() + ".partial-" + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) fail(tmp.string(), "cannot create: " + ec.message());
  try {
    write_safetensors((tmp / "model.safetensors").string(), out, {{"quantization", config.to_json_string()}});
    write_text(tmp / "config.json", output_config(src / "config.json", tie));
    for (const auto& e : fs::directory_iterator(src)) {
      const std::string n = e.path().filename().string();
      if (e.is_regular_file() && n != "config.json" && e.path().extension() != ".safetensors")
        fs::copy_file(e.path(), tmp / n);
    }
    fs::rename(tmp, dst);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return rep;
}

}  // namespace sm::quant
