// SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <iostream>
#include <random>

#include "cli_common.h"
#include "core/io/default_paths.h"
#include "core/model/generator.h"
#include "core/kernels/membw.h"
#include "core/kernels/simd.h"

namespace sm::cli {

namespace {

// Bytes one decode step must read: every layer weight and the lm_head, as
// stored (quantized codes and scales for a quantized model).
double decode_bytes(const MambaModel& m) { return static_cast<double>(m.weights().decode_bytes); }

}  // namespace

Runner add_bench(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("bench", "Prefill and decode tokens/s, against the machine's memory-bandwidth bound");
  auto model = std::make_shared<std::string>(default_target_model());
  auto threads = std::make_shared<std::string>("1");
  auto prompt = std::make_shared<int>(256);
  auto decode = std::make_shared<int>(64);
  auto repeats = std::make_shared<int>(3);
  cmd->add_option("MODEL", *model, "model directory (default: the shipped target)");
  cmd->add_option("--threads", *threads, "thread counts to measure, e.g. 1,2");
  cmd->add_option("--prompt-tokens", *prompt, "prefill length")->check(CLI::Range(1, 100000));
  cmd->add_option("--decode-tokens", *decode, "decode steps")->check(CLI::Range(1, 100000));
  cmd->add_option("--repeats", *repeats, "best of N runs")->check(CLI::Range(1, 100));
  cmd->add_flag("--json", c.json, "print one JSON object");
  return [=, &c] {
    auto counts = parse_id_list(*threads, "--threads");
    auto m = open_model(*model, 1);
    const ModelConfig& cfg = m->config();
    std::mt19937 rng(7);
    std::vector<int32_t> ids(*prompt);
    for (auto& id : ids) id = static_cast<int32_t>(rng() % cfg.vocab_size);
    std::vector<float> logits(cfg.vocab_size);
    const double bytes = decode_bytes(*m);
    nlohmann::json rows = nlohmann::json::array();
    if (!c.json)
      std::printf("%-8s %12s %12s %12s %12s %10s\n", "threads", "prefill t/s", "decode t/s",
                  "read GB/s", "bound t/s", "of bound");
    for (int32_t t : counts) {
      if (t < 1 || t > 256) throw std::runtime_error("--threads values must be in 1..256");
      m->set_threads(t);
      const double bw = measure_read_bandwidth_gbs(size_t(512) << 20, m->pool());
      double best_prefill = 0, best_decode = 0;
      for (int r = 0; r < *repeats; ++r) {
        ModelState st = m->new_state();
        double t0 = now_seconds();
        m->forward(ids, st, logits.data(), MambaModel::Logits::Last);
        best_prefill = std::max(best_prefill, *prompt / (now_seconds() - t0));
        int32_t tok = ids.back();
        t0 = now_seconds();
        for (int i = 0; i < *decode; ++i) {
          m->decode(tok, st, logits.data());
          tok = static_cast<int32_t>((tok + 1) % cfg.vocab_size);
        }
        best_decode = std::max(best_decode, *decode / (now_seconds() - t0));
      }
      const double bound = bw * 1e9 / bytes;
      rows.push_back({{"threads", t}, {"prefill_tokens_per_second", best_prefill},
                      {"decode_tokens_per_second", best_decode}, {"read_bandwidth_gbs", bw},
                      {"decode_bound_tokens_per_second", bound},
                      {"decode_fraction_of_bound", best_decode / bound}});
      if (!c.json)
        std::printf("%-8d %12.1f %12.2f %12.1f %12.2f %9.0f%%\n", t, best_prefill, best_decode, bw,
                    bound, 100.0 * best_decode / bound);
    }
    if (c.json) {
      print_json({{"model", *model}, {"parameters", m->weights().parameter_count},
                  {"decode_bytes_per_token", bytes}, {"prompt_tokens", *prompt},
                  {"decode_tokens", *decode}, {"simd_target", simd::target_name()}, {"results", rows}});
    } else {
      std::printf("model %s: %lld parameters, %.1f MB read per decode token, SIMD target %s\n",
                  model->c_str(), (long long)m->weights().parameter_count, bytes / 1e6,
                  simd::target_name().c_str());
    }
    return 0;
  };
}

}  // namespace sm::cli
