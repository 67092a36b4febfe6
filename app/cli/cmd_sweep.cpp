// SPDX-License-Identifier: Apache-2.0
// `specmamba sweep SPEC.json --out results.h5 [--jobs N] [--shard K/N] [--json]`
// and `specmamba sweep-merge part-*.h5 --out results.h5` (docs/sweeps.md).
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "accel/dataflow/sweep_sim.h"
#include "cli_common.h"
#include "core/io/error.h"
#include "core/sweep/sweep.h"

namespace sm::cli {

namespace {

std::atomic<bool> g_cancel{false};
std::atomic<int> g_signal{0};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

extern "C" void on_stop_signal(int sig) {
  g_signal.store(sig);
  g_cancel.store(true);
}

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json row_json(const sweep::SweepRow& r, bool with_bpb) {
  nlohmann::json j = r.config.to_json();
  j["config_index"] = r.config.index;
  j["tokens_per_second"] = num(r.tokens_per_second);
  j["baseline_tokens_per_second"] = num(r.baseline_tokens_per_second);
  j["speedup"] = num(r.speedup);
  j["mean_accepted"] = num(r.mean_accepted);
  j["tokens_per_pass"] = num(r.tokens_per_pass);
  j["generated"] = r.generated;
  j["steps"] = r.steps;
  if (with_bpb) j["bpb"] = num(r.bpb);
  j["sim_tokens_per_second"] = num(r.sim_tokens_per_second);
  j["energy_per_token_mj"] = num(r.energy_per_token_mj);
  j["dsp"] = r.dsp, j["lut"] = r.lut, j["bram"] = r.bram, j["uram"] = r.uram, j["fits"] = r.fits;
  j["fit_note"] = r.fit_note;
  j["error"] = r.error;
  j["seconds"] = r.seconds;
  return j;
}

nlohmann::json results_json(const sweep::SweepResults& res) {
  bool with_bpb = false;
  for (const auto& c : res.columns) with_bpb |= c.name == "bpb";
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : res.rows) rows.push_back(row_json(r, with_bpb));
  return {{"spec_hash", res.spec_hash}, {"total_configs", res.total_configs}, {"shard", res.shard.describe()},
          {"complete", res.complete},   {"rows", rows}};
}

void print_table(const sweep::SweepResults& res) {
  std::printf("%5s  %-14s %-5s %4s %-9s %8s %-5s %-7s %9s %7s %8s %11s %9s %4s\n", "cfg", "tree", "order", "tile",
              "backtrack", "budget", "preset", "platform", "tok/s", "speedup", "accepted", "sim tok/s", "mJ/token",
              "fits");
  for (const auto& r : res.rows) {
    const auto& c = r.config;
    if (!r.ok()) {
      std::printf("%5lld  %-14s %-5s %4lld %-9s %8lld %-5s %-7s  error: %s\n", (long long)c.index, c.tree.c_str(),
                  c.verify.c_str(), (long long)c.tile, c.backtrack.c_str(), (long long)c.budget, c.preset.c_str(),
                  c.platform.c_str(), r.error.c_str());
      continue;
    }
    std::printf("%5lld  %-14s %-5s %4lld %-9s %8lld %-5s %-7s %9.1f %7.2f %8.2f %11.1f %9.3f %4s\n",
                (long long)c.index, c.tree.c_str(), c.verify.c_str(), (long long)c.tile, c.backtrack.c_str(),
                (long long)c.budget, c.preset.c_str(), c.platform.c_str(), r.tokens_per_second, r.speedup,
                r.mean_accepted, r.sim_tokens_per_second, r.energy_per_token_mj,
                r.fits == 1 ? "yes" : r.fits == 0 ? "no" : "?");
  }
}

struct SweepArgs {
  std::string spec, out, shard, cache;
  int jobs = 1;
  bool quiet = false;
};

}  // namespace

Runner add_sweep(CLI::App& app, Common& c) {
  auto a = std::make_shared<SweepArgs>();
  auto* cmd = app.add_subcommand(
      "sweep",
      "Run every configuration of a sweep spec (tree x verify x tile x backtrack x budget x preset x platform) "
      "and write one row each to an HDF5 results file (docs/sweeps.md); resumable, shardable");
  cmd->add_option("SPEC", a->spec, "sweep spec JSON (docs/sweeps.md)")->required();
  cmd->add_option("--out", a->out,
                  "results file (HDF5); progress goes to OUT.partial and quantized models to OUT.cache/, so an "
                  "interrupted sweep rerun with the same --out continues where it stopped")
      ->required();
  cmd->add_option("--jobs,-j", a->jobs,
                  "configurations run at once, one per thread, each single-threaded. With more than one, the "
                  "runs compete for cores and memory bandwidth: wall-clock tok/s and speedup are then lower "
                  "and noisier than alone (use 1 for timings; the acceptance and simulated figures are "
                  "unaffected)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--shard", a->shard,
                  "K/N: run only the configurations whose index % N == K (0 <= K < N). \"/N\" or \"N\" takes K "
                  "from $SLURM_ARRAY_TASK_ID (a Slurm job array --array=0-(N-1)); join the parts with "
                  "sweep-merge");
  cmd->add_option("--cache", a->cache, "quantized-model cache directory (default OUT.cache; shards may share one)");
  cmd->add_flag("--quiet,-q", a->quiet, "no progress lines on stderr");
  cmd->add_flag("--json", c.json, "print the results as one JSON object instead of a table");
  return [a, &c] {
    const sweep::SweepSpec spec = sweep::SweepSpec::load(a->spec);
    accel::check_sweep_platforms(spec);
    sweep::RunOptions opt;
    opt.out = a->out;
    opt.cache = a->cache;
    opt.jobs = a->jobs;
    if (!a->shard.empty()) {
      try {
        opt.shard = sweep::Shard::parse(a->shard);
      } catch (const Error& e) {
        throw UsageError(e.what());
      }
    }
    opt.simulate = accel::sweep_simulator();
    opt.cancel = &g_cancel;
    if (!a->quiet)
      opt.progress = [](const sweep::SweepProgress& p) {
        if (p.row) {
          const auto& r = *p.row;
          if (r.ok())
            std::fprintf(stderr, "[%lld/%lld] %s: %.1f tok/s, speedup %.2f, %.2f accepted (%.2f s)\n",
                         (long long)p.done, (long long)p.total, r.config.describe().c_str(), r.tokens_per_second,
                         r.speedup, r.mean_accepted, r.seconds);
          else
            std::fprintf(stderr, "[%lld/%lld] %s: error: %s\n", (long long)p.done, (long long)p.total,
                         r.config.describe().c_str(), r.error.c_str());
        } else {
          std::fprintf(stderr, "sweep: %s\n", p.message.c_str());
        }
      };
    auto old_int = std::signal(SIGINT, on_stop_signal);
    auto old_term = std::signal(SIGTERM, on_stop_signal);
    sweep::RunResult r;
    try {
      r = sweep::run_sweep(spec, opt);
    } catch (...) {
      std::signal(SIGINT, old_int);
      std::signal(SIGTERM, old_term);
      throw;
    }
    std::signal(SIGINT, old_int);
    std::signal(SIGTERM, old_term);
    if (r.cancelled) {
      std::fprintf(stderr,
                   "specmamba: sweep interrupted: %zu of %lld configurations saved in %s; run the same command "
                   "again to continue\n",
                   r.results.rows.size(), (long long)sweep::shard_indices(spec.size(), opt.shard).size(),
                   sweep::partial_path(a->out).c_str());
      const int sig = g_signal.load();
      return sig ? 128 + sig : 1;
    }
    if (c.json) {
      nlohmann::json j = results_json(r.results);
      j["out"] = a->out;
      j["computed"] = r.computed;
      j["reused"] = r.reused;
      j["seconds"] = r.seconds;
      j["jobs"] = a->jobs;
      print_json(j);
    } else {
      print_table(r.results);
      std::fprintf(stderr, "[sweep: %lld configurations (%lld run, %lld reused) in %.2f s -> %s]\n",
                   (long long)r.results.rows.size(), (long long)r.computed, (long long)r.reused, r.seconds,
                   a->out.c_str());
    }
    return 0;
  };
}

Runner add_sweep_merge(CLI::App& app, Common& c) {
  auto parts = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("sweep-merge",
                                 "Join the shard files of one sweep (specmamba sweep --shard K/N) into one results "
                                 "file: every configuration exactly once");
  cmd->add_option("PARTS", *parts, "shard results files")->required();
  cmd->add_option("--out", *out, "merged results file (written atomically)")->required();
  cmd->add_flag("--json", c.json, "print the merged results as one JSON object");
  return [parts, out, &c] {
    std::vector<sweep::SweepResults> loaded;
    for (const auto& p : *parts) loaded.push_back(sweep::read_results(p));
    const sweep::SweepResults merged = sweep::merge_results(loaded, *parts);
    sweep::write_results(*out, merged);
    if (c.json) {
      nlohmann::json j = results_json(merged);
      j["out"] = *out;
      j["parts"] = *parts;
      print_json(j);
    } else {
      std::fprintf(stderr, "[sweep-merge: %zu parts, %zu configurations -> %s]\n", parts->size(),
                   merged.rows.size(), out->c_str());
    }
    return 0;
  };
}

}  // namespace sm::cli
