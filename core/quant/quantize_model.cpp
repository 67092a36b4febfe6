// SPDX-License-Identifier: Apache-2.0
#include "core/quant/quantize_model.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/io/error.h"
#include "core/io/model_config.h"
#include "core/io/safetensors.h"
#include "core/dump/activation_tap.h"
#include "core/model/mamba_model.h"
#include "core/quant/gptq.h"
#include "core/quant/quantizers.h"
#include "core/quant/rotation_fold.h"
#include "core/tokenizer/tokenizer.h"

namespace sm::quant {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Linear {
  std::string name;
  int64_t rows, cols;
  bool required;  // false: may stay fp32 when no group fits cols (TensorQuant::group_for)
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
      v.push_back({m + "dt_proj.weight", E, c.dt_rank, false});  // dt_rank: 48 for 130m, one group per row
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


// The tap name of a linear layer's input (core/model/mamba_model.cpp), or
// nullptr for a layer calibration does not see.
const char* input_tap_name(const std::string& tensor) {
  auto ends = [&](const char* s) {
    const std::string t(s);
    return tensor.size() >= t.size() && tensor.compare(tensor.size() - t.size(), t.size(), t) == 0;
  };
  if (ends(".mixer.in_proj.weight")) return "in_proj_in";
  if (ends(".mixer.out_proj.weight")) return "out_proj_in";  // after the online Hadamard
  if (ends(".mixer.x_proj.weight")) return "conv_out";        // Mamba-1: x_proj runs on the conv output
  if (ends(".mixer.dt_proj.weight")) return "dt_proj_in";
  return nullptr;
}

int layer_of(const std::string& tensor) {
  const std::string p = "backbone.layers.";
  if (tensor.compare(0, p.size(), p) != 0) return -1;
  return std::stoi(tensor.substr(p.size()));
}

// The calibration moments of one layer input: H of what the layer's
// kernel is fed (fp32 inputs, or their runtime quantization), and with the
// activation-aware target the cross moment of fp32 and quantized inputs.
struct InputMoments {
  HessianAccumulator h;
  std::optional<CrossAccumulator> cross;
};

// Collects the moments of every wanted (layer, input name) from the
// forward's tensors; optionally through the runtime's activation quantizer.
class HessianTap final : public ActivationTap {
 public:
  HessianTap(const TensorQuant* act_quant, bool cross) : aq_(act_quant), cross_(cross && act_quant) {}
  void want(int layer, const std::string& name, int64_t width) {
    InputMoments m{HessianAccumulator(width), std::nullopt};
    if (cross_) m.cross.emplace(width);
    slots_.emplace(std::make_pair(layer, name), std::move(m));
    layers_.insert(layer);
  }
  std::map<std::pair<int, std::string>, InputMoments> take() { return std::move(slots_); }
  void on_tokens(int64_t, const int32_t*, int64_t) override {}
  bool wants(int layer, int64_t, int64_t) const override { return layers_.count(layer) != 0; }
  void on_tensor(int layer, const char* name, int64_t, int64_t rows, int64_t cols, const float* data,
                 int64_t ld) override {
    auto it = slots_.find({layer, name});
    if (it == slots_.end()) return;
    InputMoments& m = it->second;
    if (cols != m.h.n()) fail("calibration", std::string(name) + ": width " + std::to_string(cols) + " is not " +
                                                 std::to_string(m.h.n()));
    if (!aq_) {
      m.h.add(data, rows, ld);
      return;
    }
    // The runtime's quantizer (mamba_weights.cpp's act_window): a signed
    // exponent_bits field for ceil(log2 absmax).
    std::vector<float> x(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r) std::copy(data + r * ld, data + r * ld + cols, x.begin() + r * cols);
    const int half = 1 << (aq_->exponent_bits - 1);
    const QuantizedActivations qa = quantize_activations(x.data(), rows, cols, aq_->bits, aq_->group,
                                                         -half - (aq_->bits - 1), half - 1 - (aq_->bits - 1));
    const std::vector<float> d = dequantize(qa);
    m.h.add(d.data(), rows, cols);
    if (m.cross) m.cross->add(x.data(), d.data(), rows, cols);
  }

 private:
  const TensorQuant* aq_;
  bool cross_;
  std::map<std::pair<int, std::string>, InputMoments> slots_;
  std::set<int> layers_;
};

// sum over rows of (w - q)^T H (w - q): the calibration output error (times 2).
double hessian_error(const std::vector<float>& w, const QuantizedMatrix& q, const std::vector<double>& H) {
  const std::vector<float> d = dequantize(q);
  const int64_t n = q.cols;
  std::vector<double> e(static_cast<size_t>(n)), He(static_cast<size_t>(n));
  double total = 0;
  for (int64_t r = 0; r < q.rows; ++r) {
    for (int64_t i = 0; i < n; ++i) e[i] = double(w[r * n + i]) - double(d[r * n + i]);
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      const double* h = H.data() + i * n;
      for (int64_t j = 0; j < n; ++j) s += h[j] * e[j];
      total += e[i] * s;
    }
  }
  return total;
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

QuantizeReport quantize_model(const std::string& src_dir, const std::string& dst_dir, QuantConfig config,
                              const CalibrationOptions& calib) {
  const fs::path src(src_dir), dst(dst_dir);
  std::error_code ec;
  if (!fs::is_directory(src, ec)) fail(src_dir, "not a model directory (expected config.json and *.safetensors)");
  if (fs::exists(dst, ec)) fail(dst_dir, "already exists; quantize writes a new directory (remove it or pick another)");
  config.validate("quantize");
  config.calibration = {};  // set below when calibration is used, never taken from the caller
  const bool calibrate = !calib.text_path.empty();
  std::string calib_text;
  if (calibrate) {
    if (!config.linear_weights.quantized())
      fail(calib.text_path, "calibration quantizes linear weights; this config keeps them fp32");
    calib_text = read_calibration_text(calib.text_path, calib.max_bytes);  // names the file when missing or empty
  }
  const bool act_aware = calib.act_aware < 0 ? config.linear_activations.bits == 4 : calib.act_aware != 0;
  const double damp = calib.damp < 0 ? (act_aware ? 0.001 : 0.01) : calib.damp;
  const int refine = calib.refine < 0 ? (act_aware ? 0 : 1) : calib.refine;
  if (act_aware && !config.linear_activations.quantized())
    fail("quantize", "activation-aware calibration needs quantized activations");
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
  const int64_t act_group = config.linear_activations.quantized() ? config.linear_activations.group : 0;
  check_group(wq, cfg.d_model, "linear_weights", "d_model", src_dir);
  check_group(wq, W, "linear_weights", "the out_proj input width", src_dir);
  check_group(config.lm_head_weights, cfg.d_model, "lm_head_weights", "d_model", src_dir);
  if (wq.quantized() || config.lm_head_weights.quantized())
    check_group(config.linear_activations, cfg.d_model, "linear_activations", "d_model", src_dir);

  using Hessians = std::map<std::pair<int, std::string>, InputMoments>;
  // The Hessians of the calibrated layers' inputs from the model in `dir`
  // run over the calibration text (the tap sees the inputs as the layers get
  // them: rotated, out_proj's after the online Hadamard).
  std::vector<int32_t> calib_ids;
  if (calibrate) {
    const auto tok = load_tokenizer_for_model(src_dir);
    calib_ids = tok->encode(calib_text);
    if (calib_ids.empty()) fail(calib.text_path, "the calibration text gives no tokens");
    rep.calib_tokens = static_cast<int64_t>(calib_ids.size());
  }
  auto collect = [&](const fs::path& dir) {
    Hessians hessians;
    auto model = MambaModel::load(dir.string());
    model->set_threads(std::max(1, calib.threads));
    std::map<int, std::vector<std::pair<std::string, int64_t>>> per_layer;
    for (const Linear& l : linear_layers(cfg)) {
      const char* tn = input_tap_name(l.name);
      if (!tn || wq.group_for(l.cols, act_group) == 0) continue;
      per_layer[layer_of(l.name)].push_back({tn, l.cols});
    }
    // Layers in passes whose Hessians fit the budget (one pass for small models).
    std::vector<std::vector<int>> passes(1);
    size_t bytes = 0;
    for (const auto& [layer, ins] : per_layer) {
      size_t b = 0;
      for (const auto& in : ins) b += size_t(in.second * in.second) * sizeof(double);
      if (!passes.back().empty() && bytes + b > calib.hessian_budget) passes.emplace_back(), bytes = 0;
      passes.back().push_back(layer);
      bytes += b;
    }
    for (const auto& pass : passes) {
      if (pass.empty()) continue;
      HessianTap tap(act_aware ? &config.linear_activations : nullptr, act_aware);
      for (int layer : pass)
        for (const auto& in : per_layer[layer]) tap.want(layer, in.first, in.second);
      model->set_tap(&tap);
      ModelState st = model->new_state();
      const size_t chunk = 512;
      for (size_t i = 0; i < calib_ids.size(); i += chunk)
        model->forward(std::span<const int32_t>(calib_ids.data() + i, std::min(chunk, calib_ids.size() - i)), st,
                       nullptr, MambaModel::Logits::None);
      model->set_tap(nullptr);
      for (auto& kv : tap.take()) hessians.insert_or_assign(kv.first, std::move(kv.second));
    }
    return hessians;
  };

  // The output tensors: linear layers (GPTQ where a Hessian is given), the
  // head, the rest of `t` as stored. Fills the report's per-tensor fields.
  bool tie = cfg.tie_embeddings;
  auto build = [&](const Hessians& hessians) {
    std::vector<TensorToWrite> out;
    rep.quantized.clear();
    rep.kept_fp32.clear();
    rep.calibrated.clear();
    rep.max_rel_error = 0;
    double err_sum = 0, calib_ratio_sum = 0;
    std::set<std::string> consumed;
    auto quantize_one = [&](const std::string& name, const std::vector<float>& w, int64_t rows, int64_t cols,
                            const TensorQuant& q, const std::string& field, const std::string& as) {
      QuantizedMatrix qm = quantize_weights(w.data(), rows, cols, q.bits, q.group, weight_kind(q, field));
      const char* tn = input_tap_name(name);
      if (auto it = tn ? hessians.find({layer_of(name), tn}) : hessians.end(); it != hessians.end()) {
        const std::vector<double> H = it->second.h.hessian();
        const std::vector<float> target =
            it->second.cross ? activation_aware_target(w.data(), rows, cols, it->second.cross->moment(), H,
                                                       damp, "quantize: calibration " + name)
                             : std::vector<float>();
        GptqOptions go;
        go.bits = q.bits;
        go.group = q.group;
        go.kind = weight_kind(q, field);
        go.damp = damp;
        QuantizedMatrix g = gptq_quantize(target.empty() ? w.data() : target.data(), rows, cols, H, go, nullptr,
                                          "quantize: gptq " + name);
        // Against the calibration target (W, or W' when activation-aware).
        const std::vector<float>& ref = target.empty() ? w : target;
        const double e_plain = hessian_error(ref, qm, H), e_gptq = hessian_error(ref, g, H);
        calib_ratio_sum += e_plain > 0 ? e_gptq / e_plain : 1.0;
        rep.calibrated.push_back(as);
        qm = std::move(g);
      }
      const double e = relative_error(w, qm);
      rep.max_rel_error = std::max(rep.max_rel_error, e);
      err_sum += e;
      add_quantized(out, as, qm);
      rep.quantized.push_back(as);
    };
    if (wq.quantized()) {
      for (const Linear& l : linear_layers(cfg)) {
        auto it = t.find(l.name);
        if (it == t.end()) fail(src_dir, "missing tensor '" + l.name + "'");
        if (it->second.shape != std::vector<int64_t>{l.rows, l.cols})
          fail(src_dir, "tensor '" + l.name + "' does not have the shape its config implies");
        TensorQuant lq = wq;
        lq.group = static_cast<int>(wq.group_for(l.cols, act_group));
        if (lq.group == 0) {
          if (l.required) check_group(wq, l.cols, "linear_weights", "the input width of " + l.name, src_dir);
          rep.kept_fp32.push_back(l.name);
          continue;
        }
        quantize_one(l.name, it->second.data, l.rows, l.cols, lq, "linear_weights", l.name);
        consumed.insert(l.name);
      }
    }
    tie = cfg.tie_embeddings;
    if (config.lm_head_weights.quantized()) {
      const int64_t V = cfg.vocab_size, D = cfg.d_model;
      auto head = t.find("lm_head.weight");
      const bool from_embedding = tie || head == t.end();
      const std::string emb_name = t.count("backbone.embeddings.weight") ? "backbone.embeddings.weight"
                                                                          : "backbone.embedding.weight";
      const FloatTensor& src_head = from_embedding ? t.at(emb_name) : head->second;
      if (src_head.shape != std::vector<int64_t>{V, D})
        fail(src_dir, "the LM head does not have shape [vocab, d_model]");
      quantize_one("lm_head.weight", src_head.data, V, D, config.lm_head_weights, "lm_head_weights",
                   "lm_head.weight");
      consumed.insert("lm_head.weight");
      tie = false;
    }
    rep.mean_rel_error = rep.quantized.empty() ? 0 : err_sum / double(rep.quantized.size());
    rep.calib_error_ratio = rep.calibrated.empty() ? 0 : calib_ratio_sum / double(rep.calibrated.size());
    TensorMap rest;
    for (const auto& kv : t)
      if (!consumed.count(kv.first)) rest.insert(kv);
    for (TensorToWrite& f : tensors_to_write(rest)) out.push_back(std::move(f));
    return out;
  };

  // A model directory (written as DIR.partial-PID, renamed when complete).
  auto write_model = [&](const fs::path& dir, const std::vector<TensorToWrite>& out, const QuantConfig& qc,
                         bool tied) {
    const fs::path tmp = dir.parent_path() / (dir.filename().string() + ".partial-" + std::to_string(::getpid()));
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    if (ec) fail(tmp.string(), "cannot create: " + ec.message());
    try {
      write_safetensors((tmp / "model.safetensors").string(), out, {{"quantization", qc.to_json_string()}});
      write_text(tmp / "config.json", output_config(src / "config.json", tied));
      for (const auto& e : fs::directory_iterator(src)) {
        const std::string n = e.path().filename().string();
        if (e.is_regular_file() && n != "config.json" && e.path().extension() != ".safetensors")
          fs::copy_file(e.path(), tmp / n);
      }
      fs::rename(tmp, dir);
    } catch (...) {
      fs::remove_all(tmp, ec);
      throw;
    }
  };

  Hessians hessians;
  if (calibrate && wq.quantized()) {
    // Scratch models beside the destination, removed whatever happens.
    const fs::path scratch = dst.parent_path() / (dst.filename().string() + ".calib-" + std::to_string(::getpid()));
    struct Cleanup {
      fs::path p;
      ~Cleanup() {
        std::error_code e;
        fs::remove_all(p, e);
      }
    } cleanup{scratch};
    fs::remove_all(scratch, ec);
    fs::create_directories(scratch, ec);
    if (ec) fail(scratch.string(), "cannot create: " + ec.message());
    // Pass 0: inputs of the fp32 model (rotated when the config rotates).
    write_model(scratch / "fp32", tensors_to_write(t), QuantConfig::preset("fp32", config.rotation),
                cfg.tie_embeddings);
    hessians = collect(scratch / "fp32");
    // Refinement passes: inputs of the quantized model of the previous pass,
    // so each layer is calibrated on what its quantized predecessors give it.
    for (int pass = 1; pass <= refine; ++pass) {
      const std::vector<TensorToWrite> out = build(hessians);
      const fs::path d = scratch / ("pass" + std::to_string(pass));
      write_model(d, out, config, tie);
      hessians = collect(d);
    }
  }
  std::vector<TensorToWrite> out = build(hessians);
  if (!rep.calibrated.empty()) {
    config.calibration.method = act_aware ? "gptq-act-aware" : "gptq";
    config.calibration.text = fs::path(calib.text_path).filename().string();
    config.calibration.bytes = static_cast<int>(calib_text.size());
    config.validate("quantize");
  } else if (calibrate) {
    rep.notes.push_back("calibration: no linear layer could be calibrated; plain rounding throughout");
  }
  for (const TensorToWrite& f : out) rep.bytes_out += f.bytes.size();
  rep.config = config;
  write_model(dst, out, config, tie);
  return rep;
}

}  // namespace sm::quant
