// SPDX-License-Identifier: Apache-2.0
// tokenizer.json: a tokenizer that loads encodes and decodes without fault,
// and every id it produces is inside its vocabulary.
#include <string>

#include "core/tokenizer/bpe_tokenizer.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sm::fuzz::expect_clean([&] {
    auto tok = sm::BpeTokenizer::from_json_text(sm::fuzz::text(data, size), "tokenizer.json");
    const auto ids = tok->encode("Hello world, ünïcode 123 \n\t done");
    for (int32_t id : ids)
      if (id < 0 || id >= tok->vocab_size()) sm::fuzz::finding("id outside the vocabulary");
    (void)tok->decode(ids);
  });
  return 0;
}
