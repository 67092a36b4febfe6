// SPDX-License-Identifier: Apache-2.0
#include "core/tokenizer/tokenizer.h"

#include <filesystem>
#include <system_error>

#include "core/tokenizer/bpe_tokenizer.h"
#include "core/io/error.h"

namespace sm {

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string s;
  for (int32_t id : ids) s += token_bytes(id);
  return s;
}

namespace {

class ByteTokenizer final : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<int32_t> ids(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
    return ids;
  }
  // "" for ids outside [0, 256), like an unassigned id of a BPE vocabulary.
  std::string token_bytes(int32_t id) const override {
    if (id < 0 || id > 255) return {};
    return std::string(1, static_cast<char>(id));
  }
  std::string decode(std::span<const int32_t> ids) const override {
    std::string s;
    s.reserve(ids.size());
    for (int32_t id : ids)
      if (id >= 0 && id <= 255) s += static_cast<char>(id);
    return s;
  }
  int32_t vocab_size() const override { return 256; }
  std::string name() const override { return "bytes"; }
};

}  // namespace

std::unique_ptr<Tokenizer> make_byte_tokenizer() { return std::make_unique<ByteTokenizer>(); }

std::unique_ptr<Tokenizer> load_tokenizer_for_model(const std::string& model_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path path(model_dir);
  // A tokenizer.json (or any .json file) named directly.
  if (path.extension() == ".json" && !fs::is_directory(path, ec)) {
    if (!fs::exists(path, ec)) fail(model_dir, "tokenizer file does not exist");
    return load_bpe_tokenizer(model_dir);
  }
  if (!fs::exists(path, ec)) fail(model_dir, "no such model directory or tokenizer.json");
  const fs::path tj = path / "tokenizer.json";
  if (fs::exists(tj, ec)) return load_bpe_tokenizer(tj.string());
  return make_byte_tokenizer();
}

}  // namespace sm
