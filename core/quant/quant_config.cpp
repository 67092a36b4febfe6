// SPDX-License-Identifier: Apache-2.0
#include "core/quant/quant_config.h"

#include <climits>
#include <initializer_list>

#include "core/io/error.h"
#include "core/quant/hadamard.h"

namespace sm::quant {

using json = nlohmann::json;

const char* scale_format_name(ScaleFormat k) {
  switch (k) {
    case ScaleFormat::Float: return "float";
    case ScaleFormat::Pow2: return "pow2";
    case ScaleFormat::Pow2Sum: return "pow2sum";
  }
  return "?";
}

ScaleFormat parse_scale_format(const std::string& name, const std::string& where, const std::string& field) {
  for (ScaleFormat k : {ScaleFormat::Float, ScaleFormat::Pow2, ScaleFormat::Pow2Sum})
    if (name == scale_format_name(k)) return k;
  fail(where, field + ": unknown scale kind '" + name + "' (expected float, pow2 or pow2sum)");
}

void TensorQuant::check_width(int64_t width, const std::string& where, const std::string& field) const {
  if (!quantized()) return;
  if (group <= 0) fail(where, field + ".group: must be at least 1, got " + std::to_string(group));
  if (width <= 0 || width % group != 0)
    fail(where, field + ".group: " + std::to_string(group) + " does not divide the width " + std::to_string(width));
}

int64_t TensorQuant::group_for(int64_t width, int64_t act_group) const {
  if (!quantized() || group <= 0 || width <= 0) return 0;
  if (width % group == 0) return group;
  if (width < group && act_group > 0 && width % act_group == 0) return width;
  return 0;
}

namespace {

enum class Role { Weights, Activations, Ssm };

void validate_tensor(const TensorQuant& t, Role role, bool pot_ssm, const std::string& where,
                     const std::string& field) {
  if (t.bits != 4 && t.bits != 8 && t.bits != kFloatBits)
    fail(where, field + ".bits: " + std::to_string(t.bits) + " is not 4, 8 or 16 (float)");
  if (!t.quantized()) return;  // a float tensor's group and scale are unused
  if (t.group <= 0) fail(where, field + ".group: must be at least 1, got " + std::to_string(t.group));
  if (role == Role::Activations && t.scale == ScaleFormat::Pow2Sum)
    fail(where, field + ".scale: pow2sum is a weight scale; activations take float or pow2");
  if (role == Role::Ssm) {
    if (pot_ssm && t.scale != ScaleFormat::Pow2) fail(where, field + ".scale: PoT SSM needs pow2 scales");
    if (!pot_ssm && t.scale == ScaleFormat::Pow2)
      fail(where, field + ".scale: pow2 SSM scales are the PoT SSM; turn pot_ssm on or use float");
    if (t.scale == ScaleFormat::Pow2Sum) fail(where, field + ".scale: pow2sum is a weight scale; the SSM takes float or pow2");
  }
  if (t.scale == ScaleFormat::Float) {
    if (t.exponent_bits != 0)
      fail(where, field + ".exponent_bits: must be 0 for float scales, got " + std::to_string(t.exponent_bits));
  } else if (t.exponent_bits < 1 || t.exponent_bits > 8) {
    fail(where, field + ".exponent_bits: " + std::to_string(t.exponent_bits) + " is not in 1..8");
  }
}

void validate_lut(int size, bool required, const std::string& where, const std::string& field) {
  if (size == 0) {
    if (required) fail(where, field + ": PoT SSM needs a lookup table (a power of two), got 0");
    return;
  }
  if (size < 2 || size > (1 << 20) || !is_pow2(size))
    fail(where, field + ": " + std::to_string(size) + " is not a power of two in 2..1048576 (or 0 for exact)");
}

// ---- JSON ---------------------------------------------------------------------

json tensor_json(const TensorQuant& t) {
  return {{"bits", t.bits}, {"group", t.group}, {"scale", scale_format_name(t.scale)},
          {"exponent_bits", t.exponent_bits}};
}

std::string join(std::initializer_list<const char*> keys) {
  std::string s;
  for (const char* k : keys) s += (s.empty() ? "" : ", ") + std::string(k);
  return s;
}

std::string child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// Rejects non-objects, unknown keys and missing keys, naming them.
void expect_keys(const json& j, const std::string& where, const std::string& path,
                 std::initializer_list<const char*> keys) {
  const std::string what = path.empty() ? "the quantization config" : path;
  if (!j.is_object()) fail(where, what + ": expected a JSON object");
  for (const auto& [k, v] : j.items()) {
    bool known = false;
    for (const char* key : keys) known = known || k == key;
    if (!known) fail(where, child(path, k) + ": unknown key (expected " + join(keys) + ")");
  }
  for (const char* key : keys)
    if (!j.contains(key)) fail(where, child(path, key) + ": missing");
}

int get_int(const json& j, const char* key, const std::string& where, const std::string& path) {
  const json& v = j.at(key);
  if (!v.is_number_integer()) fail(where, child(path, key) + ": expected an integer, got " + v.dump());
  if (v.is_number_unsigned() ? v.get<uint64_t>() > static_cast<uint64_t>(INT_MAX)
                             : (v.get<int64_t>() > INT_MAX || v.get<int64_t>() < INT_MIN))
    fail(where, child(path, key) + ": " + v.dump() + " is out of range");
  return static_cast<int>(v.get<int64_t>());
}

bool get_bool(const json& j, const char* key, const std::string& where, const std::string& path) {
  const json& v = j.at(key);
  if (!v.is_boolean()) fail(where, child(path, key) + ": expected true or false, got " + v.dump());
  return v.get<bool>();
}

std::string get_string(const json& j, const char* key, const std::string& where, const std::string& path) {
  const json& v = j.at(key);
  if (!v.is_string()) fail(where, child(path, key) + ": expected a string, got " + v.dump());
  return v.get<std::string>();
}

TensorQuant tensor_from_json(const json& j, const std::string& where, const std::string& path) {
  expect_keys(j, where, path, {"bits", "group", "scale", "exponent_bits"});
  TensorQuant t;
  t.bits = get_int(j, "bits", where, path);
  t.group = get_int(j, "group", where, path);
  t.scale = parse_scale_format(get_string(j, "scale", where, path), where, child(path, "scale"));
  t.exponent_bits = get_int(j, "exponent_bits", where, path);
  return t;
}

}  // namespace

void QuantConfig::validate(const std::string& where) const {
  validate_tensor(linear_weights, Role::Weights, pot_ssm, where, "linear_weights");
  validate_tensor(lm_head_weights, Role::Weights, pot_ssm, where, "lm_head_weights");
  validate_tensor(linear_activations, Role::Activations, pot_ssm, where, "linear_activations");
  validate_tensor(ssm, Role::Ssm, pot_ssm, where, "ssm");
  if (pot_ssm && !ssm.quantized()) fail(where, "ssm.bits: PoT SSM needs 4 or 8 bits, got 16 (float)");
  validate_lut(lut.exp, pot_ssm, where, "lut.exp");
  validate_lut(lut.softplus, pot_ssm, where, "lut.softplus");
  validate_lut(lut.silu, pot_ssm, where, "lut.silu");
  if (calibration.method.empty()) {
    if (!calibration.text.empty() || calibration.bytes != 0)
      fail(where, "calibration.method: empty (plain rounding) but a text or byte count is given");
  } else if (calibration.method != "gptq" && calibration.method != "gptq-act-aware") {
    fail(where, "calibration.method: unknown method '" + calibration.method + "' (expected gptq or gptq-act-aware)");
  } else {
    if (calibration.bytes < 1)
      fail(where, "calibration.bytes: must be at least 1, got " + std::to_string(calibration.bytes));
    if (!linear_weights.quantized() && !lm_head_weights.quantized())
      fail(where, "calibration: gptq needs quantized weights");
  }
}

void QuantConfig::check_rotation_width(int64_t width, const std::string& where) const {
  if (!rotation || hadamard_k(width) != 0) return;
  std::string ks = "1";
  for (int k : hadamard_base_sizes()) ks += ", " + std::to_string(k);
  fail(where, "rotation: no Hadamard matrix for width " + std::to_string(width) + " (widths K * 2^k with K in {" +
                  ks + "})");
}

std::vector<std::string> QuantConfig::preset_names() { return {"fp32", "w8a8", "w4a8", "w4a4"}; }

QuantConfig QuantConfig::preset(const std::string& name, bool rotation) {
  QuantConfig c;
  c.name = name;
  c.rotation = rotation;
  if (name == "fp32") return c;
  // LightMamba (PAPERS.md): weights in groups of 128 input channels with
  // 2^s1 + 2^s2 scales (3-bit shift gap); activations dynamic pow2 per group of 8
  // (4-bit exponent); LM head 8-bit; SSM INT8 with a 4-bit pow2 exponent per
  // group of 8; 4096-entry exp / softplus / SiLU tables. The presets differ
  // only in the linear layers' bit widths.
  int wbits = 0, abits = 0;
  if (name == "w8a8") wbits = 8, abits = 8;
  else if (name == "w4a8") wbits = 4, abits = 8;
  else if (name == "w4a4") wbits = 4, abits = 4;
  else {
    std::string list;
    for (const auto& p : preset_names()) list += (list.empty() ? "" : ", ") + p;
    fail("quantization preset", "unknown preset '" + name + "' (expected one of " + list + ")");
  }
  c.linear_weights = {wbits, 128, ScaleFormat::Pow2Sum, 3};
  c.lm_head_weights = {8, 128, ScaleFormat::Pow2Sum, 3};
  c.linear_activations = {abits, 8, ScaleFormat::Pow2, 4};
  c.ssm = {8, 8, ScaleFormat::Pow2, 4};
  c.pot_ssm = true;
  c.lut = {4096, 4096, 4096};
  return c;
}

namespace {
std::string tensor_summary(const TensorQuant& t) {
  if (!t.quantized()) return "fp32";
  return std::to_string(t.bits) + "-bit g" + std::to_string(t.group) + " " + scale_format_name(t.scale);
}
}  // namespace

std::string QuantConfig::summary() const {
  std::string s = name + (rotation ? " + rotation" : "");
  if (!linear_weights.quantized() && !lm_head_weights.quantized() && !pot_ssm) return s;
  s += ": weights " + tensor_summary(linear_weights) + ", head " + tensor_summary(lm_head_weights) +
       ", activations " + tensor_summary(linear_activations) + ", SSM ";
  s += pot_ssm ? "PoT " + tensor_summary(ssm) + ", LUT " + std::to_string(lut.exp) : "fp32";
  if (!calibration.method.empty())
    s += ", " + calibration.method + "-calibrated (" + calibration.text + ", " + std::to_string(calibration.bytes) +
         " bytes)";
  return s;
}

json QuantConfig::to_json() const {
  json j = {{"format", kFormat},
          {"version", kVersion},
          {"name", name},
          {"linear_weights", tensor_json(linear_weights)},
          {"lm_head_weights", tensor_json(lm_head_weights)},
          {"linear_activations", tensor_json(linear_activations)},
          {"ssm", tensor_json(ssm)},
          {"pot_ssm", pot_ssm},
          {"lut", {{"exp", lut.exp}, {"softplus", lut.softplus}, {"silu", lut.silu}}},
          {"rotation", rotation}};
  if (!calibration.method.empty())
    j["calibration"] = {{"method", calibration.method}, {"text", calibration.text}, {"bytes", calibration.bytes}};
  return j;
}

QuantConfig QuantConfig::from_json(const json& j, const std::string& where) {
  if (j.is_object() && j.contains("calibration"))
    expect_keys(j, where, "",
                {"format", "version", "name", "linear_weights", "lm_head_weights", "linear_activations", "ssm",
                 "pot_ssm", "lut", "rotation", "calibration"});
  else
    expect_keys(j, where, "",
                {"format", "version", "name", "linear_weights", "lm_head_weights", "linear_activations", "ssm",
                 "pot_ssm", "lut", "rotation"});
  const std::string format = get_string(j, "format", where, "");
  if (format != kFormat) fail(where, "format: '" + format + "' is not '" + kFormat + "'");
  const int version = get_int(j, "version", where, "");
  if (version != kVersion)
    fail(where, "version: " + std::to_string(version) + " is not supported (this build reads version " +
                    std::to_string(kVersion) + ")");
  QuantConfig c;
  c.name = get_string(j, "name", where, "");
  c.linear_weights = tensor_from_json(j.at("linear_weights"), where, "linear_weights");
  c.lm_head_weights = tensor_from_json(j.at("lm_head_weights"), where, "lm_head_weights");
  c.linear_activations = tensor_from_json(j.at("linear_activations"), where, "linear_activations");
  c.ssm = tensor_from_json(j.at("ssm"), where, "ssm");
  c.pot_ssm = get_bool(j, "pot_ssm", where, "");
  const json& l = j.at("lut");
  expect_keys(l, where, "lut", {"exp", "softplus", "silu"});
  c.lut = {get_int(l, "exp", where, "lut"), get_int(l, "softplus", where, "lut"), get_int(l, "silu", where, "lut")};
  c.rotation = get_bool(j, "rotation", where, "");
  if (j.contains("calibration")) {
    const json& k = j.at("calibration");
    expect_keys(k, where, "calibration", {"method", "text", "bytes"});
    c.calibration.method = get_string(k, "method", where, "calibration");
    if (c.calibration.method.empty())
      fail(where, "calibration.method: empty (omit the calibration key for plain rounding)");
    c.calibration.text = get_string(k, "text", where, "calibration");
    c.calibration.bytes = get_int(k, "bytes", where, "calibration");
  }
  c.validate(where);
  return c;
}

std::string QuantConfig::to_json_string() const { return to_json().dump(); }

QuantConfig QuantConfig::from_json_string(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    fail(where, std::string("invalid JSON: ") + e.what());
  }
  return from_json(j, where);
}

void to_json(json& j, const QuantConfig& c) { j = c.to_json(); }
void from_json(const json& j, QuantConfig& c) { c = QuantConfig::from_json(j, "quantization config"); }

}  // namespace sm::quant
