// SPDX-License-Identifier: Apache-2.0
// A quantized checkpoint as the engine loads it: the bytes are one
// model.safetensors (written to a temporary file, since TensorStore maps
// files), whose metadata "quantization" is read together with its
// NAME.qcodes / .qs1 / .qs2 / .qscale tensors by load_weights for a fixed
// tiny Mamba-2 config. Every rejection is an sm::Error; an accepted load
// has every layer and, for quantized linears, scales inside the config's
// range (checked by the loader) and consistent shapes.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "core/io/model_config.h"
#include "core/io/safetensors.h"
#include "core/model/mamba_weights.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

// The tiny Mamba-2 the committed seeds were written for
// (tests/fuzz/make_quantized_seeds.py): D 16, E 32, N 8, 4 heads of 8,
// one layer, 16 tokens, untied head (so the head can be quantized).
const char* kConfig = R"({"model_type": "mamba2", "hidden_size": 16, "state_size": 8, "num_heads": 4,
  "head_dim": 8, "n_groups": 1, "expand": 2, "conv_kernel": 4, "num_hidden_layers": 1, "vocab_size": 16,
  "layer_norm_epsilon": 1e-05, "use_bias": false, "use_conv_bias": true, "tie_word_embeddings": false,
  "rms_norm": true, "chunk_size": 8})";

std::string temp_path() {
  static const std::string p = [] {
    const char* dir = std::getenv("TMPDIR");
    std::string d = dir && *dir ? dir : "/tmp";
    return d + "/fuzz_quantized_safetensors-" + std::to_string(getpid()) + ".safetensors";
  }();
  return p;
}

void remove_temp() { std::remove(temp_path().c_str()); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sm::ModelConfig base = sm::parse_model_config_text(kConfig, "tiny config");
  static const bool registered = (temp_path(), std::atexit(remove_temp), true);  // after the path: removed before it is destroyed
  (void)registered;
  const std::string path = temp_path();
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) sm::fuzz::finding("cannot write " + path);
    if (size && std::fwrite(data, 1, size, f) != size) sm::fuzz::finding("cannot write " + path);
    std::fclose(f);
  }
  sm::fuzz::expect_clean([&] {
    sm::TensorStore store = sm::TensorStore::open_files({path});
    sm::ModelConfig cfg = base;
    auto w = sm::load_weights(cfg, std::move(store), "fuzz");
    if (static_cast<int>(w->layers.size()) != cfg.n_layer || static_cast<int>(w->packed.size()) != cfg.n_layer)
      sm::fuzz::finding("accepted weights without every layer");
    if (cfg.d_mlp < 0) sm::fuzz::finding("accepted a negative d_mlp");
    if (w->quant.pot_ssm && static_cast<int>(w->pot_ssm.size()) != cfg.n_layer)
      sm::fuzz::finding("PoT SSM without fixed-point parameters for every layer");
    (void)w->quant.summary();
  });
  return 0;
}
