// SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "core/io/default_paths.h"
#include "core/model/evaluator.h"

namespace sm::cli {

Runner add_eval(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("eval", "Mean NLL per token, perplexity and bits per byte over a text file");
  auto model = std::make_shared<std::string>(default_target_model());
  auto text = std::make_shared<std::string>();
  auto chunk = std::make_shared<int64_t>(512);
  cmd->add_option("MODEL", *model, "model directory (default: the shipped target)");
  cmd->add_option("--text", *text, "text file")->required();
  cmd->add_option("--chunk", *chunk, "tokens per forward pass")->check(CLI::Range(1, 65536));
  cmd->add_option("--threads", c.threads, "worker threads");
  cmd->add_flag("--json", c.json, "print one JSON object");
  return [=, &c] {
    auto m = open_model(*model, c.threads);
    auto tok = load_tokenizer_for_model(*model);
    const std::string data = read_file(*text);
    EvalResult r = evaluate(*m, *tok, data, *chunk);
    if (c.json) {
      print_json({{"model", *model}, {"text", *text}, {"tokens", r.tokens}, {"bytes", r.bytes},
                  {"nll", r.nll}, {"ppl", r.ppl}, {"bpb", r.bpb}, {"seconds", r.seconds},
                  {"tokens_per_second", r.seconds > 0 ? r.tokens / r.seconds : 0.0}});
    } else {
      std::printf("tokens          %lld (%lld bytes)\n", (long long)r.tokens, (long long)r.bytes);
      std::printf("nll             %.6f nats/token\n", r.nll);
      std::printf("perplexity      %.4f\n", r.ppl);
      std::printf("bits per byte   %.6f\n", r.bpb);
      std::printf("time            %.2f s (%.0f tok/s)\n", r.seconds, r.seconds > 0 ? r.tokens / r.seconds : 0.0);
    }
    return 0;
  };
}

}  // namespace sm::cli
