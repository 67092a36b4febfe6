// SPDX-License-Identifier: Apache-2.0
// run_sweep: resume, the three phases (quantize, per-preset baselines,
// configurations) on a pool of `jobs` threads, progress after every
// configuration, the final atomic write.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/io/error.h"
#include "core/io/model_config.h"
#include "core/model/generator.h"
#include "core/sweep/sweep.h"
#include "core/sweep/sweep_tasks.h"

namespace sm::sweep {

namespace fs = std::filesystem;

namespace {

// Runs tasks 0..n-1 on `jobs` threads (the caller is one of them). The first
// exception stops the claiming of new tasks and is rethrown here.
template <class Fn>
void run_parallel(int64_t n, int jobs, const std::function<bool()>& stopped, Fn fn) {
  std::atomic<int64_t> next{0};
  std::exception_ptr first;
  std::mutex mu;
  auto work = [&] {
    for (;;) {
      if (stopped()) return;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (first) return;
      }
      const int64_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first) first = std::current_exception();
        return;
      }
    }
  };
  const int64_t extra = std::min<int64_t>(jobs, n) - 1;
  std::vector<std::thread> threads;
  for (int64_t t = 0; t < extra; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (first) std::rethrow_exception(first);
}

SweepResults empty_results(const SweepSpec& spec, const Shard& shard) {
  SweepResults r;
  r.spec_text = spec.text;
  r.spec_hash = spec.hash;
  r.total_configs = spec.size();
  r.shard = shard;
  r.columns = result_columns(!spec.eval_text.empty());
  return r;
}

// An earlier file at `path` must be of this spec and shard.
void check_same_sweep(const SweepResults& old, const SweepSpec& spec, const Shard& shard, const std::string& path) {
  if (old.spec_hash != spec.hash)
    fail(path, "holds a sweep of a different spec (hash " + old.spec_hash + ", this spec " + spec.hash +
                   "): remove it (and " + partial_path(path) + ") or choose another --out");
  if (old.shard.k != shard.k || old.shard.n != shard.n)
    fail(path, "holds shard " + old.shard.describe() + " of this spec, not " + shard.describe() +
                   ": choose another --out per shard");
}

}  // namespace

RunResult run_sweep(const SweepSpec& spec, const RunOptions& opt) {
  const double t0 = now_seconds();
  if (opt.out.empty()) fail("sweep", "no output file (--out)");
  if (opt.jobs < 1 || opt.jobs > 256) fail("sweep", "--jobs must be between 1 and 256, got " + std::to_string(opt.jobs));
  if (opt.shard.n < 1 || opt.shard.k < 0 || opt.shard.k >= opt.shard.n)
    fail("sweep", "bad shard " + opt.shard.describe());
  {
    std::error_code ec;
    const fs::path parent = fs::absolute(opt.out, ec).parent_path();
    if (!fs::is_directory(parent, ec)) fail(opt.out, "the output's directory " + parent.string() + " does not exist");
    if (fs::is_directory(opt.out, ec)) fail(opt.out, "is a directory (--out names the results file)");
  }
  for (const auto& [role, dir] : {std::pair{"target", spec.target}, std::pair{"draft", spec.draft}}) {
    try {
      (void)parse_model_config(dir + "/config.json");
    } catch (const Error& e) {
      fail("sweep", std::string(role) + " model " + dir + ": " + e.what());
    }
  }
  const std::string partial = partial_path(opt.out);
  const std::string cache = opt.cache.empty() ? cache_dir(opt.out) : opt.cache;
  const std::vector<int64_t> indices = shard_indices(spec.size(), opt.shard);
  const int64_t total = static_cast<int64_t>(indices.size());

  RunResult result;
  result.results = empty_results(spec, opt.shard);
  std::map<int64_t, SweepRow> done;
  std::error_code ec;
  if (fs::exists(opt.out, ec)) {
    SweepResults old = read_results(opt.out);
    check_same_sweep(old, spec, opt.shard, opt.out);
    if (old.complete) {
      // Finished before: nothing to run.
      result.reused = static_cast<int64_t>(old.rows.size());
      result.results = std::move(old);
      result.seconds = now_seconds() - t0;
      if (opt.progress) opt.progress({total, total, result.reused, nullptr, "already complete: " + opt.out});
      return result;
    }
    for (SweepRow& r : old.rows) done[r.config.index] = std::move(r);
  }
  if (fs::exists(partial, ec)) {
    SweepResults old = read_results(partial);
    check_same_sweep(old, spec, opt.shard, partial);
    for (SweepRow& r : old.rows) done[r.config.index] = std::move(r);
  }
  for (auto it = done.begin(); it != done.end();) {
    // Rows of other settings (cannot happen with a matching hash) are dropped, not trusted.
    if (!opt.shard.contains(it->first) || !it->second.config.same_settings(spec.config(it->first)))
      it = done.erase(it);
    else
      ++it;
  }
  result.reused = static_cast<int64_t>(done.size());

  std::mutex mu;  // guards done, the partial file, progress calls and HDF5
  int64_t finished = result.reused;
  auto snapshot = [&](bool complete) {
    SweepResults r = empty_results(spec, opt.shard);
    r.complete = complete;
    for (const auto& [i, row] : done) r.rows.push_back(row);
    return r;
  };
  auto report = [&](const SweepRow* row, const std::string& msg) {
    if (opt.progress) opt.progress({finished, total, result.reused, row, msg});
  };
  // Written at once: an unwritable --out fails before any work.
  write_results(partial, snapshot(false));
  {
    std::lock_guard<std::mutex> lock(mu);
    report(nullptr, result.reused ? "resuming: " + std::to_string(result.reused) + " of " + std::to_string(total) +
                                        " configurations done before"
                                  : "starting " + std::to_string(total) + " configurations");
  }

  std::vector<SweepConfig> pending;
  for (int64_t i : indices)
    if (!done.count(i)) pending.push_back(spec.config(i));

  std::atomic<int64_t> computed{0};
  auto stopped = [&] {
    return (opt.cancel && opt.cancel->load()) || (opt.stop_after >= 0 && computed.load() >= opt.stop_after);
  };

  // Phase 1: the presets' models.
  std::vector<std::string> presets;
  for (const SweepConfig& c : pending)
    if (std::find(presets.begin(), presets.end(), c.preset) == presets.end()) presets.push_back(c.preset);
  std::map<std::string, PresetModels> models;
  std::vector<std::pair<std::string, std::pair<std::string, std::string>>> quantize;  // preset, (src, dst)
  for (const std::string& p : presets) {
    models[p] = preset_models(spec, p, cache);
    if (p == "fp32") continue;
    quantize.push_back({p, {spec.target, models[p].target}});
    quantize.push_back({p, {spec.draft, models[p].draft}});
  }
  run_parallel(static_cast<int64_t>(quantize.size()), opt.jobs, stopped, [&](int64_t i) {
    const auto& [p, sd] = quantize[static_cast<size_t>(i)];
    const double qt = now_seconds();
    const bool made = ensure_quantized(spec, p, sd.first, sd.second);
    std::lock_guard<std::mutex> lock(mu);
    report(nullptr, (made ? "quantized " : "cached ") + p + " " + sd.first + " -> " + sd.second +
                        (made ? " (" + std::to_string(now_seconds() - qt).substr(0, 5) + " s)" : ""));
  });

  // Phase 2: per preset, the target-only baseline and bits per byte (reused from earlier rows when there).
  std::map<std::string, double> baseline, bpb;
  for (const auto& [i, row] : done) {
    if (std::isfinite(row.baseline_tokens_per_second)) baseline.emplace(row.config.preset, row.baseline_tokens_per_second);
    if (std::isfinite(row.bpb)) bpb.emplace(row.config.preset, row.bpb);
  }
  struct Measure {
    std::string preset;
    bool is_bpb;
  };
  std::vector<Measure> measures;
  for (const std::string& p : presets) {
    if (!baseline.count(p)) measures.push_back({p, false});
    if (!spec.eval_text.empty() && !bpb.count(p)) measures.push_back({p, true});
  }
  run_parallel(static_cast<int64_t>(measures.size()), opt.jobs, stopped, [&](int64_t i) {
    const Measure& m = measures[static_cast<size_t>(i)];
    const double v = m.is_bpb ? measure_bpb(spec, models[m.preset], opt.cancel)
                              : measure_baseline(spec, models[m.preset], opt.cancel);
    std::lock_guard<std::mutex> lock(mu);
    if (std::isnan(v)) return;  // cancelled
    (m.is_bpb ? bpb : baseline)[m.preset] = v;
    char buf[64];
    std::snprintf(buf, sizeof buf, m.is_bpb ? "%.4f bits per byte" : "%.1f tok/s", v);
    report(nullptr, std::string(m.is_bpb ? "bpb " : "baseline (target only) ") + m.preset + ": " + buf);
  });

  // Phase 3: the configurations.
  bool all_measured = true;
  for (const std::string& p : presets)
    all_measured &= baseline.count(p) && (spec.eval_text.empty() || bpb.count(p));
  if (all_measured)
    run_parallel(static_cast<int64_t>(pending.size()), opt.jobs, stopped, [&](int64_t i) {
      const SweepConfig& c = pending[static_cast<size_t>(i)];
      SweepRow row;
      const double b = spec.eval_text.empty() ? kNaN : bpb.at(c.preset);
      if (!run_config(spec, c, models.at(c.preset), baseline.at(c.preset), b, opt.simulate, opt.cancel, row)) return;
      std::lock_guard<std::mutex> lock(mu);
      done[c.index] = row;
      ++finished;
      computed.fetch_add(1);
      write_results(partial, snapshot(false));
      report(&done[c.index], "config " + std::to_string(c.index) + ": " + c.describe());
    });

  result.computed = computed.load();
  bool complete = true;
  for (int64_t i : indices) complete &= done.count(i) > 0;
  if (!complete) {
    result.cancelled = true;
    result.results = snapshot(false);
    result.seconds = now_seconds() - t0;
    report(nullptr, "stopped: " + std::to_string(done.size()) + " of " + std::to_string(total) +
                        " configurations saved in " + partial + " (rerun with the same --out to continue)");
    return result;
  }
  result.results = snapshot(true);
  write_results(opt.out, result.results);
  fs::remove(partial, ec);
  result.seconds = now_seconds() - t0;
  report(nullptr, "wrote " + opt.out);
  return result;
}

}  // namespace sm::sweep
