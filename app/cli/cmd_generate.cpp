// SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "core/default_paths.h"
#include "core/error.h"
#include "core/generator.h"

namespace sm::cli {

namespace {
struct GenerateArgs {
  std::string model = default_target_model();
  std::string prompt;
  std::string prompt_ids;
  int max_tokens = 64;
  float temperature = 0.0f;
  int top_k = 0;
  float top_p = 1.0f;
  uint64_t seed = 0;
  bool ignore_eos = false;
};
}  // namespace

Runner add_generate(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt (streams the text, then tokens/s)");
  auto a = std::make_shared<GenerateArgs>();
  cmd->add_option("MODEL", a->model, "model directory (default: the shipped target)");
  auto* p = cmd->add_option("--prompt", a->prompt, "prompt text");
  auto* pi = cmd->add_option("--prompt-ids", a->prompt_ids, "prompt as token ids, e.g. 1,2,3");
  p->excludes(pi);
  cmd->add_option("--max-tokens,-n", a->max_tokens, "tokens to generate")->check(CLI::Range(0, 1000000));
  cmd->add_option("--temperature,-t", a->temperature, "0 = greedy");
  cmd->add_option("--top-k", a->top_k, "keep the k most likely tokens (0 = off)");
  cmd->add_option("--top-p", a->top_p, "nucleus sampling mass (1 = off)");
  cmd->add_option("--seed", a->seed, "random seed");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "keep going past the end-of-text token");
  cmd->add_option("--threads", c.threads, "worker threads");
  cmd->add_flag("--json", c.json, "print one JSON object instead of streaming");
  return [a, &c] {
    auto m = open_model(a->model, c.threads);
    auto tok = load_tokenizer_for_model(a->model);
    std::vector<int32_t> prompt =
        !a->prompt_ids.empty() ? parse_id_list(a->prompt_ids, "--prompt-ids") : tok->encode(a->prompt);
    GenerateOptions opt;
    opt.max_tokens = a->max_tokens;
    opt.sampling = {a->temperature, a->top_k, a->top_p, a->seed};
    opt.sampling.validate();
    opt.stop_at_eos = !a->ignore_eos;
    TokenCallback stream;
    if (!c.json) {
      if (!a->prompt_ids.empty()) std::cout << tok->decode(prompt);
      else std::cout << a->prompt;
      std::cout.flush();
      stream = [](int32_t, const std::string& bytes) {
        std::cout << bytes;
        std::cout.flush();
      };
    }
    GenerateResult r = generate(*m, *tok, prompt, opt, stream);
    const GenerateStats& s = r.stats;
    if (c.json) {
      nlohmann::json j;
      j["model"] = a->model;
      j["prompt_ids"] = prompt;
      j["ids"] = r.ids;
      j["text"] = r.text;
      j["prompt_tokens"] = s.prompt_tokens;
      j["generated_tokens"] = s.generated;
      j["prefill_seconds"] = s.prefill_seconds;
      j["decode_seconds"] = s.decode_seconds;
      j["prefill_tokens_per_second"] = s.prefill_tokens_per_second();
      j["decode_tokens_per_second"] = s.decode_tokens_per_second();
      j["tokens_per_second"] = s.total_tokens_per_second();
      j["stop_reason"] = s.stop_reason;
      j["threads"] = c.threads;
      j["sampling"] = {{"temperature", opt.sampling.temperature}, {"top_k", opt.sampling.top_k},
                       {"top_p", opt.sampling.top_p}, {"seed", opt.sampling.seed}};
      print_json(j);
    } else {
      std::cout << std::endl;
      std::fprintf(stderr, "[%lld prompt tokens in %.3f s (%.1f tok/s); %lld generated, decode %.1f tok/s]\n",
                   (long long)s.prompt_tokens, s.prefill_seconds, s.prefill_tokens_per_second(),
                   (long long)s.generated, s.decode_tokens_per_second());
    }
    return 0;
  };
}

}  // namespace sm::cli
