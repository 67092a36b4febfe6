// SPDX-License-Identifier: Apache-2.0
#include <cstdio>

#include "cli_common.h"
#include "core/spec/agreement.h"
#include "core/io/default_paths.h"

namespace sm::cli {

Runner add_agree(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand(
      "agree", "How many greedy draft tokens the target accepts per pass on real text (teacher-forced)");
  auto target = std::make_shared<std::string>(default_target_model());
  auto draft = std::make_shared<std::string>(default_draft_model());
  auto text = std::make_shared<std::string>();
  auto k = std::make_shared<int>(8);
  auto stride = std::make_shared<int64_t>(4);
  auto max_pos = std::make_shared<int64_t>(0);
  cmd->add_option("TARGET", *target, "target model directory (default: the shipped target)");
  cmd->add_option("--draft", *draft, "draft model directory (default: the shipped draft)");
  cmd->add_option("--text", *text, "text file")->required();
  cmd->add_option("--k", *k, "longest chain measured (the table has every k up to it)")
      ->check(CLI::Range(1, 8));
  cmd->add_option("--stride", *stride, "measure every N-th position")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--max-positions", *max_pos, "stop after N positions (0 = whole file)");
  cmd->add_option("--threads", c.threads, "worker threads");
  cmd->add_flag("--json", c.json, "print one JSON object");
  return [=, &c] {
    auto t = open_model(*target, c.threads);
    auto d = open_model(*draft, 1);
    auto tok = load_tokenizer_for_model(*target);
    const auto ids = tok->encode(read_file(*text));
    AgreementResult r = measure_agreement(*t, *d, ids, *k, *stride, *max_pos);
    nlohmann::json rows = nlohmann::json::array();
    for (int kk = 1; kk <= *k; ++kk)
      rows.push_back({{"k", kk}, {"mean_accepted", r.mean_accepted(kk)},
                      {"tokens_per_pass", r.tokens_per_pass(kk)},
                      {"acceptance_rate", r.mean_accepted(kk) / kk}});
    if (c.json) {
      print_json({{"target", *target}, {"draft", *draft}, {"text", *text},
                  {"positions", r.positions}, {"stride", *stride}, {"histogram", r.histogram},
                  {"rows", rows}, {"seconds", r.seconds}});
      return 0;
    }
    std::printf("%lld positions (every %lld-th token of %s), %.1f s\n", (long long)r.positions,
                (long long)*stride, text->c_str(), r.seconds);
    std::printf("%3s %15s %16s %16s\n", "k", "mean accepted", "tokens per pass", "acceptance rate");
    for (int kk = 1; kk <= *k; ++kk)
      std::printf("%3d %15.3f %16.3f %15.1f%%\n", kk, r.mean_accepted(kk), r.tokens_per_pass(kk),
                  100.0 * r.mean_accepted(kk) / kk);
    return 0;
  };
}

}  // namespace sm::cli
