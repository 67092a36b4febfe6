// SPDX-License-Identifier: Apache-2.0
#pragma once
// Tokenizers map text (arbitrary bytes, not necessarily valid UTF-8) to ids
// and back; decode(encode(s)) == s for every byte string, except bytes a BPE
// vocabulary lacks (GPT-NeoX has no token for 0xC0, 0xC1, 0xF5-0xFF, which never
// occur in UTF-8; they encode as U+FFFD).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sm {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // The raw bytes of one token (for streaming output).
  virtual std::string token_bytes(int32_t id) const = 0;
  virtual std::string decode(std::span<const int32_t> ids) const;
  virtual int32_t vocab_size() const = 0;  // ids are in [0, vocab_size)
  virtual int32_t eos_id() const { return -1; }
  virtual std::string name() const = 0;
};

// Token id = byte value (256 ids).
std::unique_ptr<Tokenizer> make_byte_tokenizer();
// GPT-NeoX byte-level BPE from a Hugging Face tokenizer.json.
std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& tokenizer_json_path);
// A model directory's tokenizer: its tokenizer.json if present, else bytes.
std::unique_ptr<Tokenizer> load_tokenizer_for_model(const std::string& model_dir);

}  // namespace sm
