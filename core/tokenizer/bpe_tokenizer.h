// SPDX-License-Identifier: Apache-2.0
#pragma once
// Byte-level BPE (GPT-2 / GPT-NeoX) from a Hugging Face tokenizer.json.
// Most code should use sm::load_bpe_tokenizer() from core/tokenizer.h; this
// header exposes the concrete class for tests and benchmarks (cache control,
// the pre-tokenizer on its own).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/tokenizer/tokenizer.h"

namespace sm {

struct BpeOptions {
  // Cache pre-token -> ids (per thread, lock-free, 512 KiB per encoding
  // thread). encode() is safe to call from several threads either way.
  bool use_cache = true;
  // Pre-tokens of up to this many bytes are merged by the simple quadratic
  // loop; longer ones by the O(n log n) priority-queue loop. Both give the
  // same result (tests force one or the other).
  std::size_t small_piece_limit = 48;
};

class BpeTokenizer final : public Tokenizer {
 public:
  // Throws sm::Error("PATH: problem") for an unreadable or malformed file.
  static std::unique_ptr<BpeTokenizer> load(const std::string& tokenizer_json_path,
                                            const BpeOptions& options = {});
  // Same, from the file's text (path is used only in messages).
  static std::unique_ptr<BpeTokenizer> from_json_text(std::string_view json_text,
                                                      const std::string& path,
                                                      const BpeOptions& options = {});
  ~BpeTokenizer() override;

  std::vector<int32_t> encode(std::string_view text) const override;
  // Appends to out (no allocation of a fresh vector).
  void encode_append(std::string_view text, std::vector<int32_t>& out) const;
  std::string token_bytes(int32_t id) const override;  // "" for unassigned ids
  std::string decode(std::span<const int32_t> ids) const override;
  int32_t vocab_size() const override;
  int32_t eos_id() const override;
  std::string name() const override;

  // False if text holds a byte the vocabulary has no token for (GPT-NeoX:
  // C0, C1, F5..FF, which never occur in UTF-8): encode() turns each into
  // U+FFFD, so decode(encode(text)) != text. True for all other byte strings,
  // valid UTF-8 or not.
  bool encodes_exactly(std::string_view text) const;
  // The GPT-2 regex split of text that holds no added tokens (for tests).
  std::vector<std::string_view> pre_tokenize(std::string_view text) const;
  // Id of an added token's content or of a byte-level vocabulary string; -1 if none.
  int32_t added_token_id(std::string_view content) const;
  int32_t vocab_id(std::string_view byte_level_token) const;

  void set_cache_enabled(bool enabled);  // not concurrently with encode()
  void clear_cache() const;             // invalidates this tokenizer's entries

  struct Impl;

 private:
  explicit BpeTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sm
