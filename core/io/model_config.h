// SPDX-License-Identifier: Apache-2.0
#pragma once
// Architecture hyper-parameters of a Mamba-1 or Mamba-2 language model, read
// from config.json in either the Hugging Face (`transformers`) naming or the
// original state-spaces naming.
#include <cstdint>
#include <limits>
#include <string>

namespace sm {

enum class Arch { Mamba1, Mamba2 };
enum class Naming { HuggingFace, StateSpaces };

const char* arch_name(Arch a);
const char* naming_name(Naming n);

struct ModelConfig {
  Arch arch = Arch::Mamba2;
  Naming naming = Naming::HuggingFace;
  int d_model = 0;
  int n_layer = 0;
  int vocab_size = 0;  // rows of the embedding (already padded)
  int d_state = 16;
  int d_conv = 4;
  int expand = 2;
  int d_inner = 0;     // expand * d_model unless given
  // Mamba-1
  int dt_rank = 0;     // "auto" -> ceil(d_model / 16)
  // Mamba-2
  int n_heads = 0;
  int head_dim = 64;
  int n_groups = 1;
  int d_mlp = 0;       // derived from in_proj's width when the weights load
  int chunk_size = 256;
  float dt_min = 0.0f;  // time_step_limit / dt_limit clamp after softplus
  float dt_max = std::numeric_limits<float>::infinity();
  float norm_eps = 1e-5f;
  bool tie_embeddings = true;
  bool conv_bias = true;
  bool proj_bias = false;  // in_proj / out_proj bias
  bool residual_in_fp32 = true;

  int conv_dim() const;     // channels of conv1d: E (Mamba-1) or E + 2GN (Mamba-2)
  int in_proj_dim() const;  // output width of in_proj
  // Per-layer decode state sizes in floats.
  int64_t conv_state_floats() const;  // (d_conv - 1) * conv_dim
  int64_t ssm_state_floats() const;   // E*N (Mamba-1) or H*P*N (Mamba-2)
};

// Parses and validates config.json; throws sm::Error("PATH: problem") for
// malformed JSON, missing or nonsensical fields, unknown architectures.
ModelConfig parse_model_config(const std::string& path);
// Same, from a JSON text (where = name used in messages).
ModelConfig parse_model_config_text(const std::string& text, const std::string& where);

}  // namespace sm
