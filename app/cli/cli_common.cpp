// SPDX-License-Identifier: Apache-2.0
#include "cli_common.h"

#include <charconv>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/io/error.h"
#include "core/io/text_file.h"

namespace sm::cli {

std::vector<int32_t> parse_id_list(const std::string& s, const std::string& what) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string item = s.substr(i, j - i);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    int64_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size() || v < 0 ||
        v > INT32_MAX)
      fail(what, "'" + item + "' is not a token id (expected comma-separated non-negative integers)");
    ids.push_back(static_cast<int32_t>(v));
    i = j + 1;
  }
  return ids;
}

std::string read_file(const std::string& path) { return read_text_file(path); }

std::unique_ptr<MambaModel> open_model(const std::string& dir, int threads) {
  if (threads < 1 || threads > 256) fail("", "--threads must be between 1 and 256");
  auto m = MambaModel::load(dir);
  m->set_threads(threads);
  return m;
}

void print_json(const nlohmann::json& j) {
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

nlohmann::json config_json(const ModelConfig& c) {
  nlohmann::json j;
  j["arch"] = arch_name(c.arch);
  j["naming"] = naming_name(c.naming);
  j["d_model"] = c.d_model;
  j["n_layer"] = c.n_layer;
  j["vocab_size"] = c.vocab_size;
  j["d_state"] = c.d_state;
  j["d_conv"] = c.d_conv;
  j["d_inner"] = c.d_inner;
  if (c.arch == Arch::Mamba1) {
    j["dt_rank"] = c.dt_rank;
  } else {
    j["n_heads"] = c.n_heads;
    j["head_dim"] = c.head_dim;
    j["n_groups"] = c.n_groups;
    j["d_mlp"] = c.d_mlp;
  }
  j["tie_embeddings"] = c.tie_embeddings;
  return j;
}

}  // namespace sm::cli
