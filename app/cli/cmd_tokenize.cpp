// SPDX-License-Identifier: Apache-2.0
#include <iostream>

#include "cli_common.h"
#include "core/io/default_paths.h"
#include "core/io/error.h"

namespace sm::cli {

Runner add_tokenize(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("tokenize", "Text to token ids (or ids to text with --decode)");
  auto source = std::make_shared<std::string>(default_target_model());
  auto text = std::make_shared<std::string>();
  auto decode = std::make_shared<std::string>();
  cmd->add_option("MODEL_OR_TOKENIZER_JSON", *source, "model directory or tokenizer.json");
  auto* t = cmd->add_option("--text", *text, "text to encode");
  auto* d = cmd->add_option("--decode", *decode, "ids to decode, e.g. 1,2,3");
  t->excludes(d);
  cmd->add_flag("--json", c.json, "print one JSON object");
  return [=, &c] {
    auto tok = load_tokenizer_for_model(*source);
    if (!decode->empty()) {
      auto ids = parse_id_list(*decode, "--decode");
      for (int32_t id : ids)
        if (id >= tok->vocab_size())
          fail("--decode", "token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                               std::to_string(tok->vocab_size() - 1) + ")");
      const std::string s = tok->decode(ids);
      if (c.json) print_json({{"ids", ids}, {"text", s}});
      else std::cout << s << std::endl;
      return 0;
    }
    auto ids = tok->encode(*text);
    if (c.json) {
      nlohmann::json pieces = nlohmann::json::array();
      for (int32_t id : ids) pieces.push_back(tok->token_bytes(id));
      print_json({{"ids", ids}, {"tokens", pieces}, {"count", ids.size()}, {"tokenizer", tok->name()}});
    } else {
      for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? "," : "") << ids[i];
      std::cout << std::endl;
    }
    return 0;
  };
}

}  // namespace sm::cli
