// SPDX-License-Identifier: Apache-2.0
// config.json in both namings (transformers and state-spaces): accepted
// configs have dimensions the engine can allocate.
#include <string>

#include "core/io/model_config.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sm::fuzz::expect_clean([&] {
    const sm::ModelConfig c = sm::parse_model_config_text(std::string(sm::fuzz::text(data, size)), "config.json");
    if (c.d_model <= 0 || c.n_layer <= 0 || c.vocab_size <= 0 || c.d_inner <= 0 || c.d_state <= 0)
      sm::fuzz::finding("accepted a config with a non-positive dimension");
  });
  return 0;
}
