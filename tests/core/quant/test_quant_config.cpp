// SPDX-License-Identifier: Apache-2.0
// QuantConfig: the presets hold LightMamba's numbers, validation names the
// offending field, the JSON form round-trips every preset and rejects
// unknown keys, missing keys, wrong types and wrong format/version by name.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/io/error.h"
#include "core/quant/quant_config.h"

namespace {

using namespace sm::quant;
using json = nlohmann::json;

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const sm::Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_HAS(expr, text)                                              \
  do {                                                                            \
    const std::string msg_ = error_of([&] { (void)(expr); });                     \
    EXPECT_NE(msg_.find(text), std::string::npos) << "message: '" << msg_ << "'"; \
  } while (0)

TEST(QuantConfig, PresetNames) {
  EXPECT_EQ(QuantConfig::preset_names(), (std::vector<std::string>{"fp32", "w8a8", "w4a8", "w4a4"}));
}

TEST(QuantConfig, W4A4IsLightMamba) {
  for (bool rot : {true, false}) {
    const auto c = QuantConfig::preset("w4a4", rot);
    EXPECT_EQ(c.name, "w4a4");
    EXPECT_EQ(c.rotation, rot);
    EXPECT_EQ(c.linear_weights, (TensorQuant{4, 128, ScaleFormat::Pow2Sum, 3}));
    EXPECT_EQ(c.linear_activations, (TensorQuant{4, 8, ScaleFormat::Pow2, 4}));
    EXPECT_EQ(c.lm_head_weights, (TensorQuant{8, 128, ScaleFormat::Pow2Sum, 3}));
    EXPECT_EQ(c.ssm, (TensorQuant{8, 8, ScaleFormat::Pow2, 4}));
    EXPECT_TRUE(c.pot_ssm);
    EXPECT_EQ(c.lut, (LutSizes{4096, 4096, 4096}));
    EXPECT_NO_THROW(c.validate("test"));
  }
}

TEST(QuantConfig, OtherPresets) {
  const auto fp = QuantConfig::preset("fp32", false);
  EXPECT_FALSE(fp.linear_weights.quantized());
  EXPECT_FALSE(fp.lm_head_weights.quantized());
  EXPECT_FALSE(fp.linear_activations.quantized());
  EXPECT_FALSE(fp.ssm.quantized());
  EXPECT_FALSE(fp.pot_ssm);
  EXPECT_EQ(fp.lut, (LutSizes{0, 0, 0}));
  EXPECT_FALSE(fp.rotation);
  EXPECT_TRUE(QuantConfig::preset("fp32", true).rotation);

  const auto w8a8 = QuantConfig::preset("w8a8", true);
  EXPECT_EQ(w8a8.linear_weights.bits, 8);
  EXPECT_EQ(w8a8.linear_activations.bits, 8);
  const auto w4a8 = QuantConfig::preset("w4a8", false);
  EXPECT_EQ(w4a8.linear_weights.bits, 4);
  EXPECT_EQ(w4a8.linear_activations.bits, 8);
  EXPECT_FALSE(w4a8.rotation);
  // Only the linear bit widths differ from w4a4.
  auto same = QuantConfig::preset("w4a4", false);
  same.name = "w4a8";
  same.linear_activations.bits = 8;
  EXPECT_EQ(same, w4a8);

  for (const auto& name : QuantConfig::preset_names())
    for (bool rot : {false, true}) EXPECT_NO_THROW(QuantConfig::preset(name, rot).validate(name));
}

TEST(QuantConfig, UnknownPresetListsThePresets) {
  const std::string msg = error_of([] { QuantConfig::preset("w2a2", true); });
  EXPECT_NE(msg.find("'w2a2'"), std::string::npos) << msg;
  for (const auto& name : QuantConfig::preset_names()) EXPECT_NE(msg.find(name), std::string::npos) << msg;
}

struct BadCase {
  const char* what;
  std::function<void(QuantConfig&)> edit;
  const char* field;
};

TEST(QuantConfig, ValidationNamesTheField) {
  const std::vector<BadCase> cases = {
      {"weight bits 5", [](QuantConfig& c) { c.linear_weights.bits = 5; }, "linear_weights.bits: 5"},
      {"lm head bits 2", [](QuantConfig& c) { c.lm_head_weights.bits = 2; }, "lm_head_weights.bits: 2"},
      {"act bits 32", [](QuantConfig& c) { c.linear_activations.bits = 32; }, "linear_activations.bits: 32"},
      {"ssm bits 0", [](QuantConfig& c) { c.ssm.bits = 0; }, "ssm.bits: 0"},
      {"act group 0", [](QuantConfig& c) { c.linear_activations.group = 0; }, "linear_activations.group"},
      {"weight group -1", [](QuantConfig& c) { c.linear_weights.group = -1; }, "linear_weights.group"},
      {"ssm group 0", [](QuantConfig& c) { c.ssm.group = 0; }, "ssm.group"},
      {"act pow2sum", [](QuantConfig& c) { c.linear_activations.scale = ScaleFormat::Pow2Sum; },
       "linear_activations.scale"},
      {"pot ssm float scale",
       [](QuantConfig& c) {
         c.ssm.scale = ScaleFormat::Float;
         c.ssm.exponent_bits = 0;
       },
       "ssm.scale"},
      {"pow2 ssm without pot", [](QuantConfig& c) { c.pot_ssm = false; }, "ssm.scale"},
      {"pot ssm in float", [](QuantConfig& c) { c.ssm.bits = 16; }, "ssm.bits"},
      {"pow2 exponent 0", [](QuantConfig& c) { c.linear_activations.exponent_bits = 0; },
       "linear_activations.exponent_bits"},
      {"pow2sum exponent 9", [](QuantConfig& c) { c.linear_weights.exponent_bits = 9; },
       "linear_weights.exponent_bits"},
      {"float scale with exponent",
       [](QuantConfig& c) { c.lm_head_weights.scale = ScaleFormat::Float; }, "lm_head_weights.exponent_bits"},
      {"lut not pow2", [](QuantConfig& c) { c.lut.exp = 1000; }, "lut.exp: 1000"},
      {"lut missing for pot", [](QuantConfig& c) { c.lut.softplus = 0; }, "lut.softplus"},
      {"lut too big", [](QuantConfig& c) { c.lut.silu = 1 << 21; }, "lut.silu"},
      {"lut 1", [](QuantConfig& c) { c.lut.silu = 1; }, "lut.silu"},
  };
  for (const auto& bc : cases) {
    auto c = QuantConfig::preset("w4a4", true);
    bc.edit(c);
    const std::string msg = error_of([&] { c.validate("model.safetensors"); });
    EXPECT_NE(msg.find(bc.field), std::string::npos) << bc.what << ": '" << msg << "'";
    EXPECT_EQ(msg.rfind("model.safetensors: ", 0), 0u) << bc.what << ": '" << msg << "'";
  }
}

TEST(QuantConfig, ValidVariations) {
  // A float tensor's group and scale are unused, so leftovers are fine.
  auto c = QuantConfig::preset("fp32", false);
  c.linear_weights.group = 0;
  c.linear_activations.scale = ScaleFormat::Pow2Sum;
  EXPECT_NO_THROW(c.validate(""));
  // Tables without PoT SSM (to study LUT error in the float path).
  c = QuantConfig::preset("fp32", false);
  c.lut = {4096, 1024, 256};
  EXPECT_NO_THROW(c.validate(""));
  // w4a4 linear layers with a float-scaled 8-bit SSM and exact functions.
  c = QuantConfig::preset("w4a4", true);
  c.pot_ssm = false;
  c.ssm = {8, 8, ScaleFormat::Float, 0};
  c.lut = {0, 0, 0};
  EXPECT_NO_THROW(c.validate(""));
  // Pow2 weight scales and float activation scales.
  c = QuantConfig::preset("w8a8", false);
  c.linear_weights.scale = ScaleFormat::Pow2;
  c.linear_activations = {8, 64, ScaleFormat::Float, 0};
  EXPECT_NO_THROW(c.validate(""));
}

TEST(QuantConfig, GroupMustDivideTheWidthAtUse) {
  const auto c = QuantConfig::preset("w4a4", true);
  EXPECT_NO_THROW(c.linear_weights.check_width(2560, "m", "linear_weights"));
  EXPECT_NO_THROW(c.linear_weights.check_width(5120, "m", "linear_weights"));
  EXPECT_NO_THROW(c.linear_activations.check_width(192, "m", "linear_activations"));
  // The shipped small models' d_model 192 is not a multiple of 128.
  EXPECT_ERROR_HAS(c.linear_weights.check_width(192, "m", "linear_weights"),
                   "m: linear_weights.group: 128 does not divide the width 192");
  EXPECT_ERROR_HAS(c.ssm.check_width(12, "m", "ssm"), "ssm.group: 8 does not divide the width 12");
  EXPECT_ERROR_HAS(c.ssm.check_width(0, "m", "ssm"), "width 0");
  TensorQuant zero{4, 0, ScaleFormat::Pow2, 4};
  EXPECT_ERROR_HAS(zero.check_width(64, "m", "ssm"), "ssm.group: must be at least 1");
  // Float tensors have no groups.
  EXPECT_NO_THROW(QuantConfig::preset("fp32", false).linear_weights.check_width(7, "m", "linear_weights"));
}

TEST(QuantConfig, RotationNeedsAHadamardWidth) {
  const auto on = QuantConfig::preset("w4a4", true);
  EXPECT_NO_THROW(on.check_rotation_width(192, "m"));
  EXPECT_NO_THROW(on.check_rotation_width(2560, "m"));
  EXPECT_NO_THROW(on.check_rotation_width(5120, "m"));
  EXPECT_ERROR_HAS(on.check_rotation_width(7, "m"), "m: rotation: no Hadamard matrix for width 7");
  EXPECT_ERROR_HAS(on.check_rotation_width(172, "m"), "width 172");
  EXPECT_NO_THROW(QuantConfig::preset("w4a4", false).check_rotation_width(7, "m"));
}

TEST(QuantConfig, JsonRoundTripForEveryPreset) {
  for (const auto& name : QuantConfig::preset_names())
    for (bool rot : {false, true}) {
      SCOPED_TRACE(name + (rot ? " rot" : ""));
      const auto c = QuantConfig::preset(name, rot);
      const json j = c.to_json();
      EXPECT_EQ(j.at("format"), "specmamba-quant");
      EXPECT_EQ(j.at("version"), 1);
      EXPECT_EQ(j.at("rotation"), rot);
      EXPECT_EQ(QuantConfig::from_json(j, "t"), c);
      EXPECT_EQ(QuantConfig::from_json_string(c.to_json_string(), "t"), c);
      // ADL hooks.
      const json k = c;
      EXPECT_EQ(k, j);
      EXPECT_EQ(k.get<QuantConfig>(), c);
    }
  // A non-preset config survives too.
  auto c = QuantConfig::preset("w4a4", true);
  c.name = "mine";
  c.linear_weights = {8, 64, ScaleFormat::Pow2, 5};
  c.pot_ssm = false;
  c.ssm = {8, 16, ScaleFormat::Float, 0};
  c.lut = {1024, 0, 2};
  EXPECT_EQ(QuantConfig::from_json(c.to_json(), "t"), c);
  // Field names and values as documented.
  const json w = QuantConfig::preset("w4a4", true).to_json();
  EXPECT_EQ(w.at("linear_weights"), (json{{"bits", 4}, {"group", 128}, {"scale", "pow2sum"}, {"exponent_bits", 3}}));
  EXPECT_EQ(w.at("linear_activations").at("scale"), "pow2");
  EXPECT_EQ(w.at("lut"), (json{{"exp", 4096}, {"softplus", 4096}, {"silu", 4096}}));
  EXPECT_EQ(w.at("pot_ssm"), true);
}

TEST(QuantConfig, JsonRejectsUnknownAndMissingKeys) {
  const json base = QuantConfig::preset("w4a4", true).to_json();
  json j = base;
  j["dither"] = true;
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f.safetensors"), "f.safetensors: dither: unknown key");
  j = base;
  j["linear_weights"]["zero_point"] = 0;
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "linear_weights.zero_point: unknown key");
  j = base;
  j["lut"]["gelu"] = 256;
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "lut.gelu: unknown key");
  j = base;
  j.erase("rotation");
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "rotation: missing");
  j = base;
  j["ssm"].erase("group");
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "ssm.group: missing");
  // ADL path names the config.
  j = base;
  j["extra"] = 1;
  try {
    (void)j.get<QuantConfig>();
    ADD_FAILURE() << "no error";
  } catch (const sm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("extra: unknown key"), std::string::npos) << e.what();
  }
}

TEST(QuantConfig, JsonRejectsWrongFormatVersionTypesAndValues) {
  const json base = QuantConfig::preset("w8a8", false).to_json();
  json j = base;
  j["format"] = "gguf";
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "format: 'gguf'");
  j = base;
  j["version"] = 2;
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "version: 2 is not supported");
  j = base;
  j["linear_weights"]["bits"] = "8";
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "linear_weights.bits: expected an integer");
  j = base;
  j["linear_weights"]["bits"] = 8.5;
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "linear_weights.bits: expected an integer");
  j = base;
  j["lut"]["exp"] = true;
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "lut.exp: expected an integer");
  j = base;
  j["ssm"]["group"] = 1e12;
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "ssm.group: expected an integer");
  j = base;
  j["ssm"]["group"] = int64_t{1} << 40;
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "ssm.group: 1099511627776 is out of range");
  j = base;
  j["rotation"] = 1;
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "rotation: expected true or false");
  j = base;
  j["name"] = 3;
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "name: expected a string");
  j = base;
  j["linear_activations"]["scale"] = "log";
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "linear_activations.scale: unknown scale kind 'log'");
  j = base;
  j["lm_head_weights"] = 8;
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "lm_head_weights: expected a JSON object");
  // Parsed values go through validate().
  j = base;
  j["linear_weights"]["bits"] = 5;
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "f: linear_weights.bits: 5");
  j = base;
  j["lut"]["silu"] = 3000;
  EXPECT_ERROR_HAS(QuantConfig::from_json(j, "f"), "lut.silu: 3000");
  EXPECT_ERROR_HAS(QuantConfig::from_json(json::array(), "f"), "f: the quantization config: expected a JSON object");
  EXPECT_ERROR_HAS(QuantConfig::from_json_string("{\"format\":", "meta"), "meta: invalid JSON");
  // Same catch as the platform file's (fuzz_platform_json finding, regression-number-overflow):
  // a number beyond double is nlohmann's out_of_range, not parse_error; the seed
  // tests/fuzz/corpus/fuzz_quant_config/regression-number-overflow holds one.
  EXPECT_ERROR_HAS(QuantConfig::from_json_string("{\"format\": 1e999}", "meta"), "meta: invalid JSON");
}

}  // namespace
