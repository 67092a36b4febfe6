// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shared pieces of the `specmamba` subcommands.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/model/mamba_model.h"
#include "core/tokenizer/tokenizer.h"

namespace sm::cli {

struct Common {
  bool json = false;
  int threads = 1;
};

// A mistake in how the command was called (exit status 2, like the parser's
// own errors); runtime failures are sm::Error (exit status 1).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Each subcommand registers itself and returns the function that runs it.
using Runner = std::function<int()>;
Runner add_info(CLI::App& app, Common& c);
Runner add_generate(CLI::App& app, Common& c);
Runner add_eval(CLI::App& app, Common& c);
Runner add_bench(CLI::App& app, Common& c);
Runner add_tokenize(CLI::App& app, Common& c);
Runner add_random_model(CLI::App& app, Common& c);
Runner add_agree(CLI::App& app, Common& c);
Runner add_bench_spec(CLI::App&, Common&);

// "1,2,3" -> ids; throws sm::Error on anything else.
std::vector<int32_t> parse_id_list(const std::string& s, const std::string& what);
std::string read_file(const std::string& path);
std::unique_ptr<MambaModel> open_model(const std::string& dir, int threads);
void print_json(const nlohmann::json& j);
nlohmann::json config_json(const ModelConfig& c);

}  // namespace sm::cli
