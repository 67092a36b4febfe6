// SPDX-License-Identifier: Apache-2.0
// bench-spec: target-only decoding against tree speculative decoding over
// several tree shapes, verification orders and backtracking policies.
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "cli_common.h"
#include "core/io/default_paths.h"
#include "core/io/error.h"
#include "core/kernels/simd.h"
#include "core/model/generator.h"
#include "core/spec/spec_decoder.h"

namespace sm::cli {

namespace {

struct BenchSpecArgs {
  std::string target = default_target_model();
  std::string draft = default_draft_model();
  std::string prompt = "In the beginning God created the heaven and the earth. And the earth was";
  int max_tokens = 128;
  std::string trees = "1,1,1,1;2,2,1;4,2,2,1";
  std::string verify = "fifo";
  std::string backtrack = "snapshot,replay";
  int tile = 0;
  int64_t budget = 262144;
  int repeats = 5;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

Runner add_bench_spec(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand(
      "bench-spec", "Target-only decoding vs tree speculative decoding over tree shapes and policies");
  auto a = std::make_shared<BenchSpecArgs>();
  cmd->add_option("TARGET", a->target, "target model directory (default: the shipped target)");
  cmd->add_option("--draft", a->draft, "draft model directory (default: the shipped draft)");
  cmd->add_option("--prompt", a->prompt, "prompt text");
  cmd->add_option("--max-tokens,-n", a->max_tokens, "tokens to generate per run")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--trees", a->trees, "tree shapes separated by ';' (widths or JSON path lists)");
  cmd->add_option("--verify", a->verify, "verification orders, comma-separated (fifo,dfs,paths)");
  cmd->add_option("--backtrack", a->backtrack,
                  "backtracking policies, comma-separated (snapshot,replay,hybrid)");
  cmd->add_option("--tile", a->tile, "state tile (channels / heads); 0 = whole state");
  cmd->add_option("--budget", a->budget, "hybrid: bytes of stored node states per model and step");
  cmd->add_option("--repeats", a->repeats, "best of N runs")->check(CLI::Range(1, 100));
  cmd->add_option("--threads", c.threads, "worker threads of the target");
  cmd->add_flag("--json", c.json, "print one JSON object");
  return [a, &c] {
    auto target = open_model(a->target, c.threads);
    auto draft = open_model(a->draft, 1);
    auto tok = load_tokenizer_for_model(a->target);
    const std::vector<int32_t> prompt = tok->encode(a->prompt);
    GenerateOptions opt;
    opt.max_tokens = a->max_tokens;
    opt.stop_at_eos = false;

    std::vector<std::string> trees;
    for (const auto& t : split(a->trees, ';')) trees.push_back(t);
    std::vector<VerifyOrder> orders;
    for (const auto& v : split(a->verify, ',')) orders.push_back(parse_verify_order(v));
    std::vector<BacktrackPolicy> policies;
    for (const auto& b : split(a->backtrack, ',')) policies.push_back(parse_backtrack_policy(b));
    if (trees.empty() || orders.empty() || policies.empty())
      fail("bench-spec", "give at least one tree, verification order and backtracking policy");
    std::vector<SpecConfig> cfgs;
    for (const auto& t : trees)
      for (auto o : orders)
        for (auto p : policies) {
          SpecConfig cfg;
          cfg.tree = TreeShape::parse(t);
          cfg.verify = o;
          cfg.tile = a->tile;
          cfg.backtrack = p;
          cfg.budget = a->budget;
          cfg.validate();
          cfgs.push_back(cfg);
        }

    // Runs are interleaved (baseline, config 1, config 2, ..., repeated) and the
    // best decode rate of each is kept, so background load hits all alike.
    GenerateResult base;
    double base_tps = 0.0;
    std::vector<SpecGenerateResult> best(cfgs.size());
    std::vector<double> tps(cfgs.size(), 0.0);
    for (int r = 0; r < a->repeats; ++r) {
      GenerateResult g = generate(*target, *tok, prompt, opt);
      if (r == 0 || g.stats.decode_tokens_per_second() > base_tps) {
        base_tps = g.stats.decode_tokens_per_second();
        base = std::move(g);
      }
      for (size_t i = 0; i < cfgs.size(); ++i) {
        SpecGenerateResult s = spec_generate(*target, *draft, *tok, prompt, opt, cfgs[i]);
        if (r == 0 || s.gen.stats.decode_tokens_per_second() > tps[i]) {
          tps[i] = s.gen.stats.decode_tokens_per_second();
          best[i] = std::move(s);
        }
      }
    }
    nlohmann::json rows = nlohmann::json::array();
    rows.push_back({{"tree", "target-only"}, {"verify", ""}, {"backtrack", ""},
                    {"tokens_per_second", base_tps}, {"mean_accepted", 0.0},
                    {"tokens_per_pass", 1.0}, {"speedup", 1.0}, {"peak_state_bytes", 0},
                    {"steps", base.stats.decode_steps}, {"identical", true}});
    if (!c.json) {
      std::printf("target %s (%lld params), draft %s (%lld params), %d tokens, %d thread(s), best of %d, SIMD %s\n",
                  a->target.c_str(), (long long)target->weights().parameter_count,
                  a->draft.c_str(), (long long)draft->weights().parameter_count, a->max_tokens,
                  c.threads, a->repeats, simd::target_name().c_str());
      std::printf("%-16s %-6s %-9s %6s %10s %9s %9s %8s %11s %5s\n", "tree", "verify", "backtrack",
                  "nodes", "tok/s", "accepted", "tok/pass", "speedup", "state KiB", "same");
      std::printf("%-16s %-6s %-9s %6s %10.1f %9s %9s %7.2fx %11s %5s\n", "target-only", "-", "-",
                  "1", base_tps, "-", "1.00", 1.0, "-", "-");
    }
    for (size_t i = 0; i < cfgs.size(); ++i) {
      const SpecConfig& cfg = cfgs[i];
      const SpecStats& ss = best[i].spec;
      const bool same = best[i].gen.ids == base.ids;
      const double speedup = base_tps > 0 ? tps[i] / base_tps : 0.0;
      rows.push_back({{"tree", cfg.tree.spec},
                      {"tree_nodes", cfg.tree.size()},
                      {"verify", verify_order_name(cfg.verify)},
                      {"backtrack", backtrack_policy_name(cfg.backtrack)},
                      {"tile", cfg.tile},
                      {"budget", cfg.budget},
                      {"tokens_per_second", tps[i]},
                      {"mean_accepted", ss.mean_accepted()},
                      {"tokens_per_pass", ss.tokens_per_pass()},
                      {"speedup", speedup},
                      {"peak_state_bytes", ss.peak_state_bytes},
                      {"peak_live_states", ss.peak_live_states},
                      {"backtrack_bytes_kept", ss.backtrack_bytes_kept},
                      {"replayed_tokens", ss.replayed_tokens()},
                      {"redundant_nodes", ss.redundant_nodes},
                      {"steps", ss.steps},
                      {"draft_seconds", ss.draft_seconds},
                      {"verify_seconds", ss.verify_seconds},
                      {"backtrack_seconds", ss.backtrack_seconds},
                      {"identical", same}});
      if (!c.json) {
        std::string name = cfg.tree.spec;
        if (name.size() > 16) name = name.substr(0, 13) + "...";
        std::printf("%-16s %-6s %-9s %6d %10.1f %9.2f %9.2f %7.2fx %11.1f %5s\n", name.c_str(),
                    verify_order_name(cfg.verify), backtrack_policy_name(cfg.backtrack),
                    cfg.tree.size(), tps[i], ss.mean_accepted(), ss.tokens_per_pass(), speedup,
                    ss.peak_state_bytes / 1024.0, same ? "yes" : "NO");
      }
    }
    if (c.json)
      print_json({{"target", a->target}, {"draft", a->draft}, {"prompt", a->prompt},
                  {"max_tokens", a->max_tokens}, {"threads", c.threads}, {"repeats", a->repeats},
                  {"simd_target", simd::target_name()},
                  {"rows", rows}});
    return 0;
  };
}

}  // namespace sm::cli
