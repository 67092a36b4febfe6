// SPDX-License-Identifier: Apache-2.0
// GPT-NeoX BPE over arbitrary bytes, with the round trip as the oracle:
// decode(encode(s)) == s for every s without the 13 bytes GPT-NeoX has no
// token for (C0, C1, F5-FF, which encode as U+FFFD), and the byte tokenizer
// round-trips everything.
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include <memory>
#include <string>

#include "core/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_common.h"

namespace {
const sm::Tokenizer& neox() {
  static std::unique_ptr<sm::Tokenizer> t = sm::load_bpe_tokenizer(SPECMAMBA_SOURCE_DIR "/data/gpt-neox-20b-tokenizer.json");
  return *t;
}
const sm::Tokenizer& bytes() {
  static std::unique_ptr<sm::Tokenizer> t = sm::make_byte_tokenizer();
  return *t;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string s(sm::fuzz::text(data, size));
  bool has_untokenized = false;
  for (unsigned char c : s) has_untokenized |= c == 0xC0 || c == 0xC1 || c >= 0xF5;
  sm::fuzz::expect_clean([&] {
    const auto ids = neox().encode(s);
    for (int32_t id : ids)
      if (id < 0 || id >= neox().vocab_size()) sm::fuzz::finding("BPE id outside the vocabulary");
    if (!has_untokenized && neox().decode(ids) != s) sm::fuzz::finding("BPE round trip changed the text");
    if (bytes().decode(bytes().encode(s)) != s) sm::fuzz::finding("byte round trip changed the text");
  });
  return 0;
}
