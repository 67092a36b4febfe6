// SPDX-License-Identifier: Apache-2.0
#include "core/io/model_config.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/io/error.h"

namespace sm {

namespace {

using nlohmann::json;

constexpr const char* kSupported =
    "supported: mamba, mamba2 (Hugging Face) and state-spaces MambaConfig";

// Python's json module writes float('inf') as a bare `Infinity`, which is not
// JSON; Hugging Face Mamba-2 configs do so for time_step_limit. Replace the
// token (outside strings) by an 8-character finite number that is far beyond
// float range, so positions in parser messages stay right.
std::string replace_infinity(const std::string& text) {
  static constexpr std::string_view kInf = "Infinity";
  static constexpr std::string_view kBig = "1.79e308";  // same length
  static_assert(kInf.size() == kBig.size());
  std::string out = text;
  bool in_string = false;
  for (size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == 'I' && out.compare(i, kInf.size(), kInf) == 0) {
      bool word_before = i > 0 && (std::isalnum(static_cast<unsigned char>(out[i - 1])) || out[i - 1] == '_');
      size_t j = i + kInf.size();
      bool word_after = j < out.size() && (std::isalnum(static_cast<unsigned char>(out[j])) || out[j] == '_');
      if (!word_before && !word_after) out.replace(i, kInf.size(), kBig);
      i = j - 1;
    }
  }
  return out;
}

// Typed, validated access to one JSON object; every message names the file.
class Fields {
 public:
  Fields(const json& obj, std::string where, std::string prefix = "")
      : obj_(obj), where_(std::move(where)), prefix_(std::move(prefix)) {}

  bool has(const char* key) const { return obj_.contains(key) && !obj_.at(key).is_null(); }
  const json& at(const char* key) const { return obj_.at(key); }
  std::string name(const char* key) const { return prefix_ + key; }
  // 'name', quoted (built by appending: GCC 12 warns falsely on "'" + string).
  std::string q(const char* key) const {
    std::string s(1, '\'');
    s.append(prefix_).append(key).push_back('\'');
    return s;
  }

  [[noreturn]] void bad(const std::string& what) const { fail(where_, what); }
  [[noreturn]] void bad_type(const char* key, const char* want) const {
    bad(q(key) + " must be " + want + ", not a JSON " + at(key).type_name());
  }

  int64_t integer(const char* key, int64_t def) const {
    if (!has(key)) return def;
    const json& v = at(key);
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) bad(q(key) + " is absurdly large");
      return static_cast<int64_t>(u);
    }
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float()) {
      double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e18)
        return static_cast<int64_t>(d);
      bad(q(key) + " must be an integer, not " + v.dump());
    }
    bad_type(key, "an integer");
  }
  int64_t required_integer(const char* key) const { return integer(key, 0); }

  double number(const char* key, double def) const {
    if (!has(key)) return def;
    const json& v = at(key);
    if (!v.is_number()) bad_type(key, "a number");
    return v.get<double>();
  }

  bool boolean(const char* key, bool def) const {
    if (!has(key)) return def;
    const json& v = at(key);
    if (!v.is_boolean()) bad_type(key, "true or false");
    return v.get<bool>();
  }

  void require(std::initializer_list<const char*> keys) const {
    std::string missing;
    int count = 0;
    for (const char* k : keys) {
      if (!has(k)) {
        missing += (count++ ? ", " : "") + std::string(k);
      }
    }
    if (count == 1) bad("missing required field '" + missing + "'");
    if (count > 1) bad("missing required fields: " + missing);
  }

 private:
  const json& obj_;
  std::string where_;
  std::string prefix_;
};

int checked_int(const Fields& f, const char* key, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo) {
    if (lo == 1) f.bad(f.q(key) + " must be positive, not " + std::to_string(v));
    f.bad(f.q(key) + " must be at least " + std::to_string(lo) + ", not " +
          std::to_string(v));
  }
  if (v > hi)
    f.bad(f.q(key) + " = " + std::to_string(v) + " is absurdly large (limit " +
          std::to_string(hi) + ")");
  return static_cast<int>(v);
}

// [min, max] clamp of dt after softplus; missing max (or null, or beyond
// float range) means +inf.
void read_dt_limit(const Fields& f, const char* key, ModelConfig& c) {
  c.dt_min = 0.0f;
  c.dt_max = std::numeric_limits<float>::infinity();
  if (!f.has(key)) return;
  const json& v = f.at(key);
  if (!v.is_array() || v.size() > 2) f.bad_type(key, "an array [min, max]");
  auto get = [&](size_t i, double def) {
    if (i >= v.size() || v[i].is_null()) return def;
    if (!v[i].is_number()) f.bad(f.q(key) + " must hold numbers, not " + v[i].dump());
    return v[i].get<double>();
  };
  double lo = get(0, 0.0);
  double hi = get(1, INFINITY);
  if (std::isnan(lo) || std::isnan(hi) || lo < 0.0 || hi <= lo)
    f.bad(f.q(key) + " must be [min, max] with 0 <= min < max, not " + v.dump());
  c.dt_min = static_cast<float>(lo);
  c.dt_max = hi >= static_cast<double>(std::numeric_limits<float>::max())
                 ? std::numeric_limits<float>::infinity()
                 : static_cast<float>(hi);
}

void read_eps(const Fields& f, const char* key, ModelConfig& c) {
  double eps = f.number(key, 1e-5);
  if (!(eps > 0.0 && eps < 1.0)) f.bad(f.q(key) + " must be in (0, 1), not " + std::to_string(eps));
  c.norm_eps = static_cast<float>(eps);
}

constexpr int64_t kMaxDModel = 65536;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxVocab = 10'000'000;
constexpr int64_t kMaxState = 4096;
constexpr int64_t kMaxConv = 64;
constexpr int64_t kMaxExpand = 64;
constexpr int64_t kMaxWidth = 1 << 22;  // d_inner, head counts, head dims

// Mamba-2 head layout: n_heads defaults to d_inner / head_dim.
void finish_mamba2_heads(const Fields& f, ModelConfig& c, const char* heads_key, const char* hd_key,
                         const char* groups_key) {
  if (c.n_heads == 0) {
    if (c.d_inner % c.head_dim != 0)
      f.bad("the SSM width " + std::to_string(c.d_inner) + " is not a multiple of '" +
            f.name(hd_key) + "' = " + std::to_string(c.head_dim));
    c.n_heads = c.d_inner / c.head_dim;
  }
  if (static_cast<int64_t>(c.n_heads) * c.head_dim != c.d_inner)
    f.bad("inconsistent head counts: '" + f.name(heads_key) + "' (" + std::to_string(c.n_heads) +
          ") * '" + f.name(hd_key) + "' (" + std::to_string(c.head_dim) + ") != SSM width " +
          std::to_string(c.d_inner));
  if (c.n_heads % c.n_groups != 0)
    f.bad("inconsistent head counts: " + std::to_string(c.n_heads) + " heads are not divisible by '" +
          f.name(groups_key) + "' = " + std::to_string(c.n_groups));
}

void parse_hf(const json& j, const std::string& where, Arch arch, ModelConfig& c) {
  Fields f(j, where);
  c.naming = Naming::HuggingFace;
  c.arch = arch;
  f.require({"hidden_size", "num_hidden_layers", "vocab_size"});
  c.d_model = checked_int(f, "hidden_size", f.required_integer("hidden_size"), 1, kMaxDModel);
  c.n_layer = checked_int(f, "num_hidden_layers", f.required_integer("num_hidden_layers"), 1, kMaxLayers);
  c.vocab_size = checked_int(f, "vocab_size", f.required_integer("vocab_size"), 1, kMaxVocab);
  c.expand = checked_int(f, "expand", f.integer("expand", 2), 1, kMaxExpand);
  c.d_conv = checked_int(f, "conv_kernel", f.integer("conv_kernel", 4), 1, kMaxConv);
  c.proj_bias = f.boolean("use_bias", false);
  c.conv_bias = f.boolean("use_conv_bias", true);
  c.residual_in_fp32 = f.boolean("residual_in_fp32", true);
  read_eps(f, "layer_norm_epsilon", c);

  if (arch == Arch::Mamba1) {
    c.d_state = checked_int(f, "state_size", f.integer("state_size", 16), 1, kMaxState);
    c.tie_embeddings = f.boolean("tie_word_embeddings", true);
    int64_t inner = f.has("intermediate_size") ? f.integer("intermediate_size", 0)
                                               : int64_t{c.expand} * c.d_model;
    c.d_inner = checked_int(f, "intermediate_size", inner, 1, kMaxWidth);
    if (f.has("time_step_rank") && f.at("time_step_rank").is_string()) {
      const std::string s = f.at("time_step_rank").get<std::string>();
      if (s != "auto") f.bad("'time_step_rank' must be \"auto\" or an integer, not \"" + s + "\"");
      c.dt_rank = (c.d_model + 15) / 16;
    } else if (f.has("time_step_rank")) {
      if (!f.at("time_step_rank").is_number()) f.bad_type("time_step_rank", "\"auto\" or an integer");
      c.dt_rank = checked_int(f, "time_step_rank", f.integer("time_step_rank", 0), 1, kMaxDModel);
    } else {
      c.dt_rank = (c.d_model + 15) / 16;
    }
    c.dt_min = 0.0f;
    c.dt_max = std::numeric_limits<float>::infinity();
    return;
  }

  // Mamba-2
  c.d_state = checked_int(f, "state_size", f.integer("state_size", 128), 1, kMaxState);
  c.head_dim = checked_int(f, "head_dim", f.integer("head_dim", 64), 1, kMaxWidth);
  c.n_groups = checked_int(f, "n_groups", f.integer("n_groups", 1), 1, kMaxWidth);
  c.chunk_size = checked_int(f, "chunk_size", f.integer("chunk_size", 256), 1, 1 << 20);
  c.tie_embeddings = f.boolean("tie_word_embeddings", false);  // Mamba2Config's default
  if (f.boolean("norm_before_gate", false))
    f.bad("'norm_before_gate': true is not supported (only the gate-then-norm Mamba-2 block)");
  if (!f.boolean("rms_norm", true))
    f.bad("'rms_norm': false is not supported (the Mamba-2 block needs its gated RMSNorm)");
  c.d_inner = checked_int(f, "expand", int64_t{c.expand} * c.d_model, 1, kMaxWidth);
  c.n_heads = f.has("num_heads") ? checked_int(f, "num_heads", f.integer("num_heads", 0), 1, kMaxWidth) : 0;
  finish_mamba2_heads(f, c, "num_heads", "head_dim", "n_groups");
  read_dt_limit(f, "time_step_limit", c);
}

void parse_state_spaces(const json& j, const std::string& where, ModelConfig& c) {
  Fields f(j, where);
  c.naming = Naming::StateSpaces;
  f.require({"d_model", "n_layer", "vocab_size"});
  c.d_model = checked_int(f, "d_model", f.required_integer("d_model"), 1, kMaxDModel);
  c.n_layer = checked_int(f, "n_layer", f.required_integer("n_layer"), 1, kMaxLayers);
  int64_t vocab = checked_int(f, "vocab_size", f.required_integer("vocab_size"), 1, kMaxVocab);
  int64_t pad = checked_int(f, "pad_vocab_size_multiple", f.integer("pad_vocab_size_multiple", 8), 1,
                            1 << 20);
  if (vocab % pad != 0) vocab += pad - vocab % pad;
  c.vocab_size = checked_int(f, "vocab_size", vocab, 1, kMaxVocab);
  if (!f.boolean("rms_norm", true))
    f.bad("'rms_norm': false (LayerNorm) is not supported; only RMSNorm Mamba models are");
  c.residual_in_fp32 = f.boolean("residual_in_fp32", true);
  (void)f.boolean("fused_add_norm", true);  // type-checked, otherwise irrelevant
  c.tie_embeddings = f.boolean("tie_embeddings", true);
  c.norm_eps = 1e-5f;
  if (f.has("norm_epsilon")) read_eps(f, "norm_epsilon", c);
  if (f.has("attn_layer_idx")) {
    const json& a = f.at("attn_layer_idx");
    if (!a.is_array()) f.bad_type("attn_layer_idx", "an array");
    if (!a.empty())
      f.bad("hybrid attention layers ('attn_layer_idx' = " + a.dump() +
            ") are not supported; only pure Mamba models are");
  }
  if (f.integer("d_intermediate", 0) != 0)
    f.bad("'d_intermediate' = " + std::to_string(f.integer("d_intermediate", 0)) +
          ": MLP blocks between Mamba layers are not supported");

  static const json kEmpty = json::object();
  const json* ssm = &kEmpty;
  if (f.has("ssm_cfg")) {
    if (!f.at("ssm_cfg").is_object()) f.bad_type("ssm_cfg", "an object");
    ssm = &f.at("ssm_cfg");
  }
  Fields s(*ssm, where, "ssm_cfg.");
  c.arch = Arch::Mamba1;
  if (s.has("layer")) {
    const json& l = s.at("layer");
    if (!l.is_string()) s.bad_type("layer", "\"Mamba1\" or \"Mamba2\"");
    const std::string layer = l.get<std::string>();
    if (layer == "Mamba2") c.arch = Arch::Mamba2;
    else if (layer != "Mamba1")
      s.bad("unknown architecture '" + layer + "' in 'ssm_cfg.layer'; " + kSupported +
            " with layer Mamba1 or Mamba2");
  }
  const bool m2 = c.arch == Arch::Mamba2;
  c.d_state = checked_int(s, "d_state", s.integer("d_state", m2 ? 128 : 16), 1, kMaxState);
  c.d_conv = checked_int(s, "d_conv", s.integer("d_conv", 4), 1, kMaxConv);
  c.expand = checked_int(s, "expand", s.integer("expand", 2), 1, kMaxExpand);
  c.proj_bias = s.boolean("bias", false);
  c.conv_bias = s.boolean("conv_bias", true);
  const int expanded = checked_int(s, "expand", int64_t{c.expand} * c.d_model, 1, kMaxWidth);

  if (!m2) {
    c.d_inner = expanded;
    if (s.has("dt_rank") && s.at("dt_rank").is_string()) {
      const std::string r = s.at("dt_rank").get<std::string>();
      if (r != "auto") s.bad("'ssm_cfg.dt_rank' must be \"auto\" or an integer, not \"" + r + "\"");
      c.dt_rank = (c.d_model + 15) / 16;
    } else if (s.has("dt_rank")) {
      if (!s.at("dt_rank").is_number()) s.bad_type("dt_rank", "\"auto\" or an integer");
      c.dt_rank = checked_int(s, "dt_rank", s.integer("dt_rank", 0), 1, kMaxDModel);
    } else {
      c.dt_rank = (c.d_model + 15) / 16;
    }
    c.dt_min = 0.0f;
    c.dt_max = std::numeric_limits<float>::infinity();
    return;
  }

  c.head_dim = checked_int(s, "headdim", s.integer("headdim", 64), 1, kMaxWidth);
  c.n_groups = checked_int(s, "ngroups", s.integer("ngroups", 1), 1, kMaxWidth);
  c.chunk_size = checked_int(s, "chunk_size", s.integer("chunk_size", 256), 1, 1 << 20);
  if (!s.boolean("rmsnorm", true))
    s.bad("'ssm_cfg.rmsnorm': false is not supported (the Mamba-2 block needs its gated RMSNorm)");
  if (s.boolean("norm_before_gate", false))
    s.bad("'ssm_cfg.norm_before_gate': true is not supported (only the gate-then-norm Mamba-2 block)");
  // d_ssm < expand*d_model: the rest of in_proj's x/z halves is a gated MLP.
  c.d_inner = checked_int(s, "d_ssm", s.integer("d_ssm", expanded), 1, kMaxWidth);
  if (c.d_inner > expanded)
    s.bad("'ssm_cfg.d_ssm' = " + std::to_string(c.d_inner) + " exceeds expand * d_model = " +
          std::to_string(expanded));
  c.d_mlp = expanded - c.d_inner;
  c.n_heads = 0;
  finish_mamba2_heads(s, c, "d_ssm", "headdim", "ngroups");
  read_dt_limit(s, "dt_limit", c);
}

}  // namespace

const char* arch_name(Arch a) { return a == Arch::Mamba1 ? "mamba1" : "mamba2"; }
const char* naming_name(Naming n) { return n == Naming::HuggingFace ? "huggingface" : "state-spaces"; }

int ModelConfig::conv_dim() const {
  return arch == Arch::Mamba1 ? d_inner : d_inner + 2 * n_groups * d_state;
}

int ModelConfig::in_proj_dim() const {
  if (arch == Arch::Mamba1) return 2 * d_inner;
  return 2 * d_mlp + 2 * d_inner + 2 * n_groups * d_state + n_heads;
}

int64_t ModelConfig::conv_state_floats() const {
  return int64_t{d_conv - 1} * conv_dim();
}

int64_t ModelConfig::ssm_state_floats() const {
  if (arch == Arch::Mamba1) return int64_t{d_inner} * d_state;
  return int64_t{n_heads} * head_dim * d_state;
}

ModelConfig parse_model_config_text(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(replace_infinity(text));
  } catch (const json::parse_error& e) {
    std::string msg = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " tag; keep line/column.
    if (auto p = msg.find("] "); p != std::string::npos && msg.rfind("[json.exception", 0) == 0)
      msg = msg.substr(p + 2);
    fail(where, "malformed JSON: " + msg);
  } catch (const json::exception& e) {
    fail(where, std::string("malformed JSON: ") + e.what());
  }
  if (!j.is_object()) fail(where, std::string("config is a JSON ") + j.type_name() + ", not an object");

  ModelConfig c;
  if (j.contains("model_type") && !j["model_type"].is_null()) {
    const json& mt = j["model_type"];
    if (!mt.is_string()) fail(where, std::string("'model_type' must be a string, not a JSON ") + mt.type_name());
    const std::string t = mt.get<std::string>();
    if (t == "mamba") parse_hf(j, where, Arch::Mamba1, c);
    else if (t == "mamba2") parse_hf(j, where, Arch::Mamba2, c);
    else fail(where, "unknown architecture '" + t + "'; " + kSupported);
  } else if (j.contains("architectures") && !j["architectures"].is_null()) {
    const json& a = j["architectures"];
    if (!a.is_array()) fail(where, std::string("'architectures' must be an array, not a JSON ") + a.type_name());
    std::string first;
    bool m1 = false, m2 = false;
    for (const json& e : a) {
      if (!e.is_string()) fail(where, "'architectures' must hold strings, not " + e.dump());
      const std::string s = e.get<std::string>();
      if (first.empty()) first = s;
      m1 = m1 || s == "MambaForCausalLM";
      m2 = m2 || s == "Mamba2ForCausalLM";
    }
    if (m1 && m2) fail(where, "'architectures' lists both MambaForCausalLM and Mamba2ForCausalLM");
    if (m1) parse_hf(j, where, Arch::Mamba1, c);
    else if (m2) parse_hf(j, where, Arch::Mamba2, c);
    else fail(where, "unknown architecture '" + (first.empty() ? std::string("(empty list)") : first) + "'; " + kSupported);
  } else if (j.contains("d_model") || j.contains("ssm_cfg") || j.contains("n_layer")) {
    parse_state_spaces(j, where, c);
  } else {
    fail(where, std::string("unknown architecture: no 'model_type', 'architectures' or 'd_model'; ") + kSupported);
  }

  // Derived sizes must stay within int range.
  const int64_t in_proj = c.arch == Arch::Mamba1
                              ? int64_t{2} * c.d_inner
                              : int64_t{2} * c.d_mlp + int64_t{2} * c.d_inner +
                                    int64_t{2} * c.n_groups * c.d_state + c.n_heads;
  if (in_proj > (int64_t{1} << 30))
    fail(where, "in_proj width " + std::to_string(in_proj) + " is absurdly large");
  if (c.arch == Arch::Mamba2 && int64_t{c.n_groups} * c.d_state > (int64_t{1} << 24))
    fail(where, "n_groups * d_state is absurdly large");
  return c;
}

ModelConfig parse_model_config(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail(path, "is a directory, not a config.json file");
  std::FILE* fp = std::fopen(path.c_str(), "rb");
  if (!fp) fail(path, std::string("cannot read: ") + std::strerror(errno));
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, fp)) > 0) {
    text.append(buf, n);
    if (text.size() > (size_t{64} << 20)) {
      std::fclose(fp);
      fail(path, "is absurdly large for a config.json (over 64 MB)");
    }
  }
  bool err = std::ferror(fp) != 0;
  int e = errno;
  std::fclose(fp);
  if (err) fail(path, std::string("cannot read: ") + std::strerror(e));
  return parse_model_config_text(text, path);
}

}  // namespace sm
