// SPDX-License-Identifier: Apache-2.0
#pragma once
// Writes a random-weight checkpoint (HF layout: config.json + model.safetensors)
// of any Mamba shape, for tests and for benchmarking real model sizes that
// cannot be downloaded here.
#include <cstdint>
#include <string>

#include "core/io/model_config.h"

namespace sm {

struct RandomModelSpec {
  Arch arch = Arch::Mamba1;
  int d_model = 64;
  int n_layer = 2;
  int vocab_size = 256;
  int d_state = 16;
  int d_conv = 4;
  int expand = 2;
  int head_dim = 16;  // Mamba-2
  int n_groups = 1;   // Mamba-2
  bool tie_embeddings = true;
  uint64_t seed = 1;
};

// Parses a named shape: "mamba-130m" (Mamba-1, d 768, 24 layers, vocab 50280),
// "mamba2-130m", "tiny-mamba1", "tiny-mamba2". Throws sm::Error otherwise.
RandomModelSpec random_model_preset(const std::string& name);

// Creates DIR (if needed) and writes the checkpoint; returns the config.
ModelConfig write_random_model(const std::string& dir, const RandomModelSpec& spec);

}  // namespace sm
