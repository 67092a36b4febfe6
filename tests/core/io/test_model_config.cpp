// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/io/error.h"
#include "core/io/model_config.h"

namespace fs = std::filesystem;
using sm::Arch;
using sm::ModelConfig;
using sm::Naming;

namespace {

ModelConfig parse(const std::string& text) { return sm::parse_model_config_text(text, "cfg.json"); }

// Parsing must fail with a message naming the input and containing `keyword`.
void expect_error(const std::string& text, const std::string& keyword) {
  try {
    parse(text);
    FAIL() << "expected an error containing '" << keyword << "' for: " << text;
  } catch (const sm::Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind("cfg.json: ", 0), 0u) << msg;
    EXPECT_NE(msg.find(keyword), std::string::npos) << "missing '" << keyword << "' in: " << msg;
  }
}

// A Hugging Face Mamba-1 config as transformers writes it (state-spaces/mamba-130m-hf).
const char* kHfMamba1 = R"({
  "architectures": ["MambaForCausalLM"],
  "bos_token_id": 0,
  "conv_kernel": 4,
  "eos_token_id": 0,
  "expand": 2,
  "fused_add_norm": true,
  "hidden_act": "silu",
  "hidden_size": 768,
  "initializer_range": 0.1,
  "intermediate_size": 1536,
  "layer_norm_epsilon": 1e-05,
  "model_type": "mamba",
  "n_layer": 24,
  "num_hidden_layers": 24,
  "pad_token_id": 0,
  "pad_vocab_size_multiple": 8,
  "rescale_prenorm_residual": false,
  "residual_in_fp32": true,
  "rms_norm": true,
  "state_size": 16,
  "time_step_floor": 0.0001,
  "time_step_init_scheme": "random",
  "time_step_max": 0.1,
  "time_step_min": 0.001,
  "time_step_rank": 48,
  "time_step_scale": 1.0,
  "torch_dtype": "float32",
  "use_bias": false,
  "use_cache": true,
  "use_conv_bias": true,
  "vocab_size": 50280
})";

// A Hugging Face Mamba-2 config (Mamba-Codestral style, scaled down), with the
// bare `Infinity` that Python's json module writes.
const char* kHfMamba2 = R"({
  "architectures": ["Mamba2ForCausalLM"],
  "chunk_size": 128,
  "conv_kernel": 4,
  "expand": 2,
  "head_dim": 64,
  "hidden_act": "silu",
  "hidden_size": 256,
  "layer_norm_epsilon": 1e-06,
  "model_type": "mamba2",
  "n_groups": 2,
  "norm_before_gate": false,
  "num_heads": 8,
  "num_hidden_layers": 6,
  "residual_in_fp32": true,
  "rms_norm": true,
  "state_size": 128,
  "tie_word_embeddings": false,
  "time_step_limit": [0.0, Infinity],
  "time_step_rank": 16,
  "use_bias": false,
  "use_conv_bias": true,
  "vocab_size": 32768
})";

// state-spaces/mamba-130m
const char* kSsMamba1 = R"({
  "d_model": 768,
  "n_layer": 24,
  "vocab_size": 50277,
  "ssm_cfg": {},
  "rms_norm": true,
  "residual_in_fp32": true,
  "fused_add_norm": true,
  "pad_vocab_size_multiple": 8
})";

// state-spaces/mamba2-130m
const char* kSsMamba2 = R"({
  "d_model": 768,
  "d_intermediate": 0,
  "n_layer": 24,
  "vocab_size": 50277,
  "ssm_cfg": {"layer": "Mamba2"},
  "attn_layer_idx": [],
  "attn_cfg": {},
  "rms_norm": true,
  "residual_in_fp32": true,
  "fused_add_norm": true,
  "pad_vocab_size_multiple": 16,
  "tie_embeddings": true
})";

// A minimal HF Mamba-2 config with one field replaced or added.
std::string hf2(const std::string& extra) {
  return R"({"model_type": "mamba2", "hidden_size": 256, "num_hidden_layers": 2, "vocab_size": 1000)" +
         (extra.empty() ? std::string() : ", " + extra) + "}";
}
std::string hf1(const std::string& extra) {
  return R"({"model_type": "mamba", "hidden_size": 256, "num_hidden_layers": 2, "vocab_size": 1000)" +
         (extra.empty() ? std::string() : ", " + extra) + "}";
}
std::string ss(const std::string& ssm_cfg, const std::string& extra = "") {
  return R"({"d_model": 256, "n_layer": 2, "vocab_size": 1000, "ssm_cfg": )" + ssm_cfg +
         (extra.empty() ? std::string() : ", " + extra) + "}";
}

}  // namespace

// ---------------------------------------------------------------------------
// Valid configs

TEST(ModelConfig, HuggingFaceMamba1) {
  ModelConfig c = parse(kHfMamba1);
  EXPECT_EQ(c.arch, Arch::Mamba1);
  EXPECT_EQ(c.naming, Naming::HuggingFace);
  EXPECT_STREQ(sm::arch_name(c.arch), "mamba1");
  EXPECT_STREQ(sm::naming_name(c.naming), "huggingface");
  EXPECT_EQ(c.d_model, 768);
  EXPECT_EQ(c.n_layer, 24);
  EXPECT_EQ(c.vocab_size, 50280);
  EXPECT_EQ(c.d_state, 16);
  EXPECT_EQ(c.d_conv, 4);
  EXPECT_EQ(c.expand, 2);
  EXPECT_EQ(c.d_inner, 1536);
  EXPECT_EQ(c.dt_rank, 48);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_TRUE(c.tie_embeddings);  // default
  EXPECT_TRUE(c.conv_bias);
  EXPECT_FALSE(c.proj_bias);
  EXPECT_TRUE(c.residual_in_fp32);
  EXPECT_EQ(c.conv_dim(), 1536);
  EXPECT_EQ(c.in_proj_dim(), 3072);
  EXPECT_EQ(c.conv_state_floats(), 3 * 1536);
  EXPECT_EQ(c.ssm_state_floats(), 1536 * 16);
}

TEST(ModelConfig, HuggingFaceMamba1AutoRankAndDefaults) {
  // No model_type: detected from "architectures"; time_step_rank "auto".
  ModelConfig c = parse(R"({"architectures": ["MambaForCausalLM"], "hidden_size": 100,
      "num_hidden_layers": 3, "vocab_size": 300, "time_step_rank": "auto",
      "use_bias": true, "use_conv_bias": false, "tie_word_embeddings": false,
      "residual_in_fp32": false, "layer_norm_epsilon": 1e-6})");
  EXPECT_EQ(c.arch, Arch::Mamba1);
  EXPECT_EQ(c.naming, Naming::HuggingFace);
  EXPECT_EQ(c.dt_rank, 7);  // ceil(100 / 16)
  EXPECT_EQ(c.d_inner, 200);
  EXPECT_EQ(c.d_state, 16);
  EXPECT_EQ(c.d_conv, 4);
  EXPECT_TRUE(c.proj_bias);
  EXPECT_FALSE(c.conv_bias);
  EXPECT_FALSE(c.tie_embeddings);
  EXPECT_FALSE(c.residual_in_fp32);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-6f);
  EXPECT_TRUE(std::isinf(c.dt_max));

  EXPECT_EQ(parse(hf1("")).dt_rank, 16);  // missing rank: auto
  EXPECT_EQ(parse(hf1(R"("hidden_size": 768)")).dt_rank, 48);
  EXPECT_EQ(parse(hf1(R"("intermediate_size": 300)")).d_inner, 300);
  EXPECT_EQ(parse(hf1(R"("expand": 3, "state_size": 8, "conv_kernel": 2)")).conv_state_floats(), 768);
}

TEST(ModelConfig, HuggingFaceMamba2) {
  ModelConfig c = parse(kHfMamba2);
  EXPECT_EQ(c.arch, Arch::Mamba2);
  EXPECT_EQ(c.naming, Naming::HuggingFace);
  EXPECT_STREQ(sm::arch_name(c.arch), "mamba2");
  EXPECT_EQ(c.d_model, 256);
  EXPECT_EQ(c.n_layer, 6);
  EXPECT_EQ(c.vocab_size, 32768);
  EXPECT_EQ(c.d_inner, 512);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.n_groups, 2);
  EXPECT_EQ(c.d_state, 128);
  EXPECT_EQ(c.chunk_size, 128);
  EXPECT_EQ(c.d_mlp, 0);
  EXPECT_FALSE(c.tie_embeddings);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-6f);
  EXPECT_EQ(c.dt_min, 0.0f);
  EXPECT_TRUE(std::isinf(c.dt_max) && c.dt_max > 0);
  EXPECT_EQ(c.conv_dim(), 512 + 2 * 2 * 128);
  EXPECT_EQ(c.in_proj_dim(), 2 * 512 + 2 * 2 * 128 + 8);
  EXPECT_EQ(c.conv_state_floats(), 3 * 1024);
  EXPECT_EQ(c.ssm_state_floats(), 8 * 64 * 128);

  // d_mlp (found when the weights load) widens in_proj.
  c.d_mlp = 10;
  EXPECT_EQ(c.in_proj_dim(), 20 + 2 * 512 + 2 * 2 * 128 + 8);
}

TEST(ModelConfig, HuggingFaceMamba2DefaultsAndLimits) {
  ModelConfig c = parse(hf2(""));
  EXPECT_EQ(c.d_state, 128);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.n_groups, 1);
  EXPECT_EQ(c.n_heads, 8);  // 512 / 64
  EXPECT_EQ(c.chunk_size, 256);
  EXPECT_TRUE(std::isinf(c.dt_max));

  c = parse(hf2(R"("time_step_limit": [0.001, 0.1])"));
  EXPECT_FLOAT_EQ(c.dt_min, 0.001f);
  EXPECT_FLOAT_EQ(c.dt_max, 0.1f);
  EXPECT_TRUE(std::isinf(parse(hf2(R"("time_step_limit": [0.0])")).dt_max));
  EXPECT_TRUE(std::isinf(parse(hf2(R"("time_step_limit": [0.0, null])")).dt_max));
  EXPECT_TRUE(std::isinf(parse(hf2(R"("time_step_limit": [0.0, 1e300])")).dt_max));
  EXPECT_TRUE(std::isinf(parse(hf2(R"("time_step_limit": [0.0,Infinity])")).dt_max));

  // Detected from "architectures" alone.
  c = parse(R"({"architectures": ["Mamba2ForCausalLM"], "hidden_size": 128, "head_dim": 32,
      "num_hidden_layers": 1, "vocab_size": 10})");
  EXPECT_EQ(c.arch, Arch::Mamba2);
  EXPECT_EQ(c.n_heads, 8);

  // "Infinity" inside a string is left alone.
  c = parse(hf2(R"("note": "Infinity and beyond", "name": "Infinity")"));
  EXPECT_EQ(c.arch, Arch::Mamba2);
}

TEST(ModelConfig, StateSpacesMamba1) {
  ModelConfig c = parse(kSsMamba1);
  EXPECT_EQ(c.arch, Arch::Mamba1);
  EXPECT_EQ(c.naming, Naming::StateSpaces);
  EXPECT_STREQ(sm::naming_name(c.naming), "state-spaces");
  EXPECT_EQ(c.d_model, 768);
  EXPECT_EQ(c.n_layer, 24);
  EXPECT_EQ(c.vocab_size, 50280);  // 50277 padded up to a multiple of 8
  EXPECT_EQ(c.d_state, 16);
  EXPECT_EQ(c.d_conv, 4);
  EXPECT_EQ(c.d_inner, 1536);
  EXPECT_EQ(c.dt_rank, 48);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_TRUE(c.conv_bias);
  EXPECT_FALSE(c.proj_bias);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_EQ(c.in_proj_dim(), 3072);

  c = parse(ss(R"({"layer": "Mamba1", "d_state": 8, "d_conv": 3, "expand": 1, "dt_rank": 5,
      "bias": true, "conv_bias": false})", R"("tie_embeddings": false)"));
  EXPECT_EQ(c.arch, Arch::Mamba1);
  EXPECT_EQ(c.d_state, 8);
  EXPECT_EQ(c.d_conv, 3);
  EXPECT_EQ(c.d_inner, 256);
  EXPECT_EQ(c.dt_rank, 5);
  EXPECT_TRUE(c.proj_bias);
  EXPECT_FALSE(c.conv_bias);
  EXPECT_FALSE(c.tie_embeddings);
  EXPECT_EQ(c.conv_state_floats(), 2 * 256);
  EXPECT_EQ(parse(ss(R"({"dt_rank": "auto"})")).dt_rank, 16);
  // ssm_cfg may be absent entirely.
  EXPECT_EQ(parse(R"({"d_model": 64, "n_layer": 1, "vocab_size": 256})").arch, Arch::Mamba1);
}

TEST(ModelConfig, StateSpacesMamba2) {
  ModelConfig c = parse(kSsMamba2);
  EXPECT_EQ(c.arch, Arch::Mamba2);
  EXPECT_EQ(c.naming, Naming::StateSpaces);
  EXPECT_EQ(c.vocab_size, 50288);  // multiple of 16
  EXPECT_EQ(c.d_inner, 1536);
  EXPECT_EQ(c.d_state, 128);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.n_heads, 24);
  EXPECT_EQ(c.n_groups, 1);
  EXPECT_EQ(c.d_mlp, 0);
  EXPECT_EQ(c.chunk_size, 256);
  EXPECT_TRUE(std::isinf(c.dt_max));
  EXPECT_EQ(c.conv_dim(), 1536 + 256);
  EXPECT_EQ(c.in_proj_dim(), 3352);  // in_proj.weight of mamba2-130m is [3352, 768]
  EXPECT_EQ(c.ssm_state_floats(), 24 * 64 * 128);

  c = parse(ss(R"({"layer": "Mamba2", "d_state": 16, "headdim": 32, "ngroups": 2,
      "chunk_size": 64, "dt_limit": [0.0001, 0.5], "d_ssm": 256})"));
  EXPECT_EQ(c.d_inner, 256);
  EXPECT_EQ(c.d_mlp, 256);  // expand * d_model - d_ssm
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_groups, 2);
  EXPECT_EQ(c.chunk_size, 64);
  EXPECT_FLOAT_EQ(c.dt_min, 0.0001f);
  EXPECT_FLOAT_EQ(c.dt_max, 0.5f);
  EXPECT_EQ(c.in_proj_dim(), 2 * 512 + 2 * 2 * 16 + 8);
}

TEST(ModelConfig, VocabPadding) {
  EXPECT_EQ(parse(ss("{}", R"("pad_vocab_size_multiple": 8)")).vocab_size, 1000);
  EXPECT_EQ(parse(ss("{}", R"("pad_vocab_size_multiple": 64)")).vocab_size, 1024);
  EXPECT_EQ(parse(ss("{}", R"("pad_vocab_size_multiple": 1)")).vocab_size, 1000);
  EXPECT_EQ(parse(ss("{}", R"("vocab_size": 1001)")).vocab_size, 1008);  // default multiple 8
  // Hugging Face vocab_size is already the embedding row count.
  EXPECT_EQ(parse(hf1(R"("vocab_size": 50277, "pad_vocab_size_multiple": 8)")).vocab_size, 50277);
}

TEST(ModelConfig, ReadsFromFile) {
  fs::path dir = fs::temp_directory_path() / ("specmamba_cfg_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string p = (dir / "config.json").string();
  {
    std::ofstream(p) << kSsMamba2;
  }
  EXPECT_EQ(sm::parse_model_config(p).n_heads, 24);
  {
    std::ofstream(p) << "{ \"d_model\": 768,\n  \"n_layer\": }";
  }
  try {
    sm::parse_model_config(p);
    FAIL();
  } catch (const sm::Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind(p + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find("malformed JSON"), std::string::npos) << msg;
    EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
  }
  try {
    sm::parse_model_config(dir.string());
    FAIL();
  } catch (const sm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("directory"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
  try {
    sm::parse_model_config(p);
    FAIL();
  } catch (const sm::Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind(p + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  }
}

// ---------------------------------------------------------------------------
// Errors

TEST(ModelConfigErrors, MalformedJson) {
  expect_error("{\"model_type\": \"mamba\",", "malformed JSON");
  expect_error("{\"model_type\": \"mamba\",", "line 1");
  expect_error("", "malformed JSON");
  expect_error(hf2(R"("time_step_limit": [0.0, NaN])"), "malformed JSON");
}

TEST(ModelConfigErrors, NotAnObject) {
  expect_error("[1, 2]", "not an object");
  expect_error("\"mamba\"", "not an object");
}

TEST(ModelConfigErrors, UnknownArchitecture) {
  try {
    parse(R"({"model_type": "llama", "hidden_size": 4096})");
    FAIL();
  } catch (const sm::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "cfg.json: unknown architecture 'llama'; supported: mamba, mamba2 (Hugging Face) "
              "and state-spaces MambaConfig");
  }
  expect_error(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 4096})",
               "unknown architecture 'LlamaForCausalLM'");
  expect_error(R"({"hidden_size": 4096})", "unknown architecture");
  expect_error("{}", "supported: mamba, mamba2");
  expect_error(ss(R"({"layer": "Mamba3"})"), "unknown architecture 'Mamba3'");
  expect_error(R"({"model_type": 5})", "'model_type' must be a string");
}

TEST(ModelConfigErrors, MissingRequiredFields) {
  expect_error(R"({"model_type": "mamba", "num_hidden_layers": 2})",
               "missing required fields: hidden_size, vocab_size");
  expect_error(R"({"model_type": "mamba2", "hidden_size": 64, "vocab_size": 10})",
               "missing required field 'num_hidden_layers'");
  expect_error(R"({"d_model": 64, "vocab_size": 10})", "missing required field 'n_layer'");
  expect_error(R"({"d_model": 64, "n_layer": 2})", "missing required field 'vocab_size'");
}

TEST(ModelConfigErrors, WrongJsonTypes) {
  expect_error(hf1(R"("hidden_size": "768")"), "'hidden_size' must be an integer");
  expect_error(hf1(R"("state_size": 16.5)"), "'state_size' must be an integer");
  expect_error(hf1(R"("use_bias": "no")"), "'use_bias' must be true or false");
  expect_error(hf1(R"("time_step_rank": "big")"), "time_step_rank");
  expect_error(hf1(R"("time_step_rank": [1])"), "time_step_rank");
  expect_error(hf1(R"("layer_norm_epsilon": "1e-5")"), "'layer_norm_epsilon' must be a number");
  expect_error(hf2(R"("time_step_limit": 0.1)"), "time_step_limit");
  expect_error(hf2(R"("time_step_limit": ["a", "b"])"), "time_step_limit");
  expect_error(ss("5"), "'ssm_cfg' must be an object");
  expect_error(ss(R"({"d_state": "16"})"), "'ssm_cfg.d_state' must be an integer");
  expect_error(ss(R"({"layer": 2})"), "ssm_cfg.layer");
  expect_error(ss("{}", R"("attn_layer_idx": 3)"), "attn_layer_idx");
  expect_error(R"({"architectures": "MambaForCausalLM", "hidden_size": 4})", "'architectures' must be an array");
  // Integral floats are fine.
  EXPECT_EQ(parse(hf1(R"("hidden_size": 256.0)")).d_model, 256);
}

TEST(ModelConfigErrors, NonPositiveSizes) {
  expect_error(hf1(R"("hidden_size": 0)"), "'hidden_size' must be positive");
  expect_error(hf1(R"("num_hidden_layers": -3)"), "'num_hidden_layers' must be positive");
  expect_error(hf1(R"("vocab_size": 0)"), "'vocab_size' must be positive");
  expect_error(hf2(R"("head_dim": 0)"), "'head_dim' must be positive");
  expect_error(hf2(R"("n_groups": -1)"), "'n_groups' must be positive");
  expect_error(ss(R"({"d_conv": 0})"), "'ssm_cfg.d_conv' must be positive");
  expect_error(hf1(R"("time_step_rank": 0)"), "'time_step_rank' must be positive");
  expect_error(hf1(R"("layer_norm_epsilon": 0)"), "layer_norm_epsilon");
  expect_error(hf2(R"("time_step_limit": [0.1, 0.01])"), "time_step_limit");
  expect_error(hf2(R"("time_step_limit": [-1, 1])"), "time_step_limit");
}

TEST(ModelConfigErrors, AbsurdSizes) {
  expect_error(hf1(R"("hidden_size": 100000)"), "absurdly large");
  expect_error(R"({"d_model": 100000, "n_layer": 2, "vocab_size": 10})", "'d_model' = 100000 is absurdly large");
  expect_error(hf1(R"("num_hidden_layers": 5000)"), "absurdly large");
  expect_error(hf1(R"("vocab_size": 20000000)"), "absurdly large");
  expect_error(hf1(R"("hidden_size": 99999999999999999999)"), "hidden_size");
  expect_error(hf2(R"("state_size": 1000000)"), "absurdly large");
}

TEST(ModelConfigErrors, InconsistentHeadCounts) {
  expect_error(hf2(R"("num_heads": 7)"), "inconsistent head counts");
  expect_error(hf2(R"("num_heads": 8, "n_groups": 3)"), "inconsistent head counts");
  expect_error(hf2(R"("head_dim": 48)"), "not a multiple of 'head_dim'");
  expect_error(ss(R"({"layer": "Mamba2", "headdim": 48})"), "not a multiple of 'ssm_cfg.headdim'");
  expect_error(ss(R"({"layer": "Mamba2", "ngroups": 3})"), "inconsistent head counts");
  expect_error(ss(R"({"layer": "Mamba2", "d_ssm": 1024})"), "d_ssm");
}

TEST(ModelConfigErrors, UnsupportedVariants) {
  expect_error(hf2(R"("norm_before_gate": true)"), "norm_before_gate");
  expect_error(hf2(R"("rms_norm": false)"), "rms_norm");
  expect_error(ss("{}", R"("rms_norm": false)"), "rms_norm");
  expect_error(ss("{}", R"("attn_layer_idx": [3, 7])"), "hybrid attention layers");
  expect_error(ss("{}", R"("d_intermediate": 512)"), "d_intermediate");
  expect_error(ss(R"({"layer": "Mamba2", "norm_before_gate": true})"), "norm_before_gate");
  expect_error(ss(R"({"layer": "Mamba2", "rmsnorm": false})"), "rmsnorm");
  expect_error(R"({"architectures": ["MambaForCausalLM", "Mamba2ForCausalLM"], "hidden_size": 4})", "both");
  // Empty / absent hybrid fields are fine.
  EXPECT_NO_THROW(parse(ss("{}", R"("attn_layer_idx": [], "attn_cfg": {}, "d_intermediate": 0)")));
}
