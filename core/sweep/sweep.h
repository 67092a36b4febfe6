// SPDX-License-Identifier: Apache-2.0
#pragma once
// Parameter sweeps (docs/sweeps.md): a SweepSpec (SPEC.json, the contract of
// `specmamba sweep`) names value lists for the tuner's axes; every
// configuration of their cross product is run (speculative decoding of the
// target with the draft, greedy) and measured, one SweepRow each, into a
// results file (HDF5: /results/<column>, one 1-D dataset per column, all of
// one length). Sweeps are resumable (progress is saved after every
// configuration), can be split into shards (Slurm job arrays) and merged.
//
// Layering: core knows nothing of the accelerator. The simulated accelerator
// figures (sim tok/s, energy, resources) come in through RunOptions::simulate,
// which accel/dataflow/sweep_sim.h provides.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/io/model_config.h"
#include "core/quant/quant_config.h"

namespace sm::sweep {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- the spec ---------------------------------------------------------------

// The axes in cross-product order: the first is the outermost loop, the last
// (platform) varies fastest. Every axis is optional; a missing one takes the
// single value `specmamba generate` uses by default (tree "1,1,1,1", verify
// fifo, tile 0, backtrack snapshot, budget 0, preset fp32, platform vck190).
inline const std::vector<std::string>& axis_names() {
  static const std::vector<std::string> names = {"tree",   "verify", "tile",    "backtrack",
                                                 "budget", "preset", "platform"};
  return names;
}

// One configuration of the cross product.
struct SweepConfig {
  int64_t index = 0;         // position in the cross product (0-based)
  std::string tree;          // core TreeShape::parse text: "2,2,1" or a JSON path list
  std::string verify;        // fifo | dfs | paths
  int64_t tile = 0;          // verification state tile (channels / heads; 0 = whole)
  std::string backtrack;     // snapshot | replay | hybrid
  int64_t budget = 0;        // hybrid: bytes of stored node states per model and step
  std::string preset;        // fp32 | w8a8 | w4a8 | w4a4 (QuantConfig::preset)
  std::string platform;      // accelerator platform of the simulated figures (data/platforms name or .json)

  // {"tree": ..., "verify": ..., ...}: the axis values (no index).
  nlohmann::json to_json() const;
  // "tree=2,2,1 verify=fifo tile=0 ...": for messages and logs.
  std::string describe() const;
  bool same_settings(const SweepConfig& o) const;  // every axis equal (index ignored)
};

struct SweepSpec {
  // Models (directories); empty in the JSON = the shipped pair
  // (default_target_model() / default_draft_model()), resolved by parse().
  std::string target, draft;
  std::string prompt;        // required: non-empty text
  int max_tokens = 64;       // 1..100000 (optional key; 64 as `specmamba generate`)
  // Optional keys beyond the contract:
  std::string eval_text;     // held-out text file: adds a `bpb` column (bits per byte, per preset)
  int64_t eval_bytes = 0;    // bytes of eval_text used (0 = all; cut back to a line end)
  bool rotation = true;      // quantized presets fold the Hadamard rotation (as `specmamba quantize`)
  bool calibrate = true;     // 4-bit presets calibrate with GPTQ as `specmamba quantize` does by default
  int repeats = 1;           // timed runs per configuration (and baseline); the fastest counts (1..100)

  // The axes' value lists (never empty after parse; duplicates are errors).
  std::vector<std::string> tree, verify, backtrack, preset, platform;
  std::vector<int64_t> tile, budget;

  std::string text;          // the JSON text as given (stored in the results file)
  std::string hash;          // 16 hex digits over the parsed JSON (whitespace and key order do not count)

  // Strict: unknown keys (top level or under "axes") are errors naming the
  // key; wrong types, empty or duplicate value lists, bad values (an unknown
  // verify order / backtrack policy / preset, tile or budget < 0, a tree shape
  // TreeShape::parse rejects) are sm::Error("WHERE: KEY: problem"). Platform
  // names are checked by the caller that knows them (accel:
  // check_sweep_platforms), model directories when the sweep runs.
  static SweepSpec parse(const std::string& json_text, const std::string& where);
  static SweepSpec load(const std::string& path);  // parse(file text, path)

  int64_t size() const;                      // configurations in the cross product
  SweepConfig config(int64_t index) const;   // throws sm::Error when out of range
  std::vector<SweepConfig> configs() const;  // all, in index order
};

// ---- shards -----------------------------------------------------------------

// Shard k of n runs the configurations whose index % n == k.
struct Shard {
  int64_t k = 0, n = 1;
  bool whole() const { return n == 1; }
  bool contains(int64_t index) const { return index % n == k; }
  std::string describe() const;  // "3/8"
  // "K/N"; "/N" or "N": K from $SLURM_ARRAY_TASK_ID (an error when it is
  // unset or not a number); 0 <= K < N, N >= 1. Errors name the problem.
  static Shard parse(const std::string& text);
  // The same with the environment value given (tests).
  static Shard parse(const std::string& text, const char* slurm_array_task_id);
};

// Indices of `spec`'s configurations that shard `s` runs.
std::vector<int64_t> shard_indices(int64_t total, const Shard& s);

// ---- results ------------------------------------------------------------------

// One measured configuration. Numbers that do not apply are NaN (bpb without
// eval_text, the simulated figures when the design cannot be modelled) or -1
// (resources); a configuration that failed has `error` set and NaN figures.
struct SweepRow {
  SweepConfig config;
  double tokens_per_second = kNaN;           // speculative decoding, wall clock, (prefill + decode)
  double baseline_tokens_per_second = kNaN;  // target alone, greedy, same preset, same sweep
  double speedup = kNaN;                     // tokens_per_second / baseline_tokens_per_second
  double mean_accepted = kNaN;               // accepted draft tokens per step
  double tokens_per_pass = kNaN;             // emitted tokens per target pass
  int64_t generated = 0;                     // tokens generated
  int64_t steps = 0;                         // speculative steps
  double bpb = kNaN;                         // target at this preset on eval_text
  double sim_tokens_per_second = kNaN;       // dataflow model of this run on `platform`
  double energy_per_token_mj = kNaN;
  int64_t dsp = -1, lut = -1, bram = -1, uram = -1;  // the design's estimated resources
  int64_t fits = -1;                         // 1: fits the platform, 0: does not, -1: unknown
  // The first resource that does not fit, or why the design could not be
  // simulated ("" when it fits); the measured figures stand either way.
  std::string fit_note;
  std::string error;                         // why the configuration failed ("" = it ran)
  double seconds = 0;                        // wall time of the configuration's task

  bool ok() const { return error.empty(); }
};

// Columns of a results file, in file order: the axes, then the measured figures.
enum class ColumnKind { String, Int, Float };
struct ColumnInfo {
  std::string name;
  ColumnKind kind;
  bool numeric() const { return kind != ColumnKind::String; }
};
// The columns; `bpb` only when the spec has eval_text. Names: config_index,
// the axes (tree ... platform), tokens_per_second, baseline_tokens_per_second,
// speedup, mean_accepted, tokens_per_pass, generated, steps, [bpb],
// sim_tokens_per_second, energy_per_token_mj, dsp, lut, bram, uram, fits,
// fit_note, error, seconds.
std::vector<ColumnInfo> result_columns(bool with_bpb);
// A numeric column's value in a row (NaN for an unknown or string column):
// for Pareto axes ("tokens_per_second", "speedup", "energy_per_token_mj", "lut", ...).
double column_value(const SweepRow& row, const std::string& column);

// What a results file holds.
struct SweepResults {
  std::string spec_text;       // root attribute "spec"
  std::string spec_hash;       // root attribute "spec_hash"
  int64_t total_configs = 0;   // of the whole cross product
  Shard shard;                 // root attributes shard_k / shard_n (merged / unsharded: 0/1)
  bool complete = false;       // every configuration of the shard is present
  std::vector<ColumnInfo> columns;
  std::vector<SweepRow> rows;  // in config index order
};

// Writes `res` to `path` atomically (PATH.tmp-PID, then rename over PATH; on
// failure nothing is left at PATH or the temp name). Root attributes: format
// "specmamba-sweep", version, spec, spec_hash, total_configs, shard_k,
// shard_n, complete, columns (JSON list of names).
void write_results(const std::string& path, const SweepResults& res);
// Strict reader: sm::Error("PATH: problem") for a file that is not a sweep
// results file, columns of different lengths, missing columns.
SweepResults read_results(const std::string& path);

// Joins shard files into one complete result. Errors (naming the files):
// parts of different specs (hash), different columns, a configuration in two
// parts, configurations missing from every part, an incomplete part.
SweepResults merge_results(const std::vector<SweepResults>& parts, const std::vector<std::string>& names);

// ---- the runner ---------------------------------------------------------------

// What the simulated-accelerator callback gets for one configuration's run.
struct SimRequest {
  const SweepConfig* config = nullptr;
  ModelConfig target, draft;               // the models' shapes
  quant::QuantConfig quant;                // the preset as quantized (fp32: QuantConfig::preset("fp32"))
  std::vector<int64_t> tree_levels;        // nodes per depth of the tree, [1, n1, n2, ...]
  std::vector<int64_t> accepted_per_step;  // kept path per step: root + accepted draft tokens
  // Tokens the speculative steps produced (the last step's cut at max_tokens
  // taken off; the prefill's first token is not a step's), as the pipeline
  // trace of `specmamba generate --device emu` counts them.
  int64_t tokens = 0;
};
struct SimResult {
  double tokens_per_second = kNaN, energy_per_token_mj = kNaN;
  int64_t dsp = -1, lut = -1, bram = -1, uram = -1, fits = -1;
  std::string fit_note;
};
// Called from worker threads, concurrently: must be thread-safe. Throwing
// sm::Error leaves the simulated figures NaN and records the message in the
// row's fit_note.
using SimulateFn = std::function<SimResult(const SimRequest&)>;

struct SweepProgress {
  int64_t done = 0;            // configurations of this run finished (reused ones included)
  int64_t total = 0;           // configurations of this run (the shard's)
  int64_t reused = 0;          // taken from an earlier, interrupted run
  const SweepRow* row = nullptr;  // the configuration just finished (null for phase messages)
  std::string message;         // "quantizing w4a4 target", "baseline w4a4", "config 3/12 ..."
};
// Called on whichever thread finished the work, one call at a time.
using ProgressFn = std::function<void(const SweepProgress&)>;

struct RunOptions {
  // The results file. Beside it: OUT.partial (progress so far, rewritten
  // atomically after every configuration and read back by a rerun) and
  // OUT.cache/ (quantized models per preset, reused by reruns).
  std::string out;
  std::string cache;           // quantized-model cache directory; empty: cache_dir(out)
  int jobs = 1;                // configurations run at once (each single-threaded)
  Shard shard;                 // the configurations to run
  SimulateFn simulate;         // empty: no simulated columns (NaN)
  ProgressFn progress;         // may be empty
  const std::atomic<bool>* cancel = nullptr;  // set: stop after the running configurations
  // Test hook: stop (as if cancelled) once this many configurations were
  // computed in this run (not counting reused ones); < 0 = off.
  int64_t stop_after = -1;
};

struct RunResult {
  SweepResults results;        // the rows done so far (all of the shard when complete)
  int64_t computed = 0;        // configurations run now
  int64_t reused = 0;          // configurations taken from OUT.partial or a complete OUT
  bool cancelled = false;      // stopped early: OUT.partial holds the progress, OUT is untouched
  double seconds = 0;
};

// Runs the shard's configurations not done yet. Order: quantize the presets
// into OUT.cache/ (once), evaluate bpb and the target-only baseline per
// preset, then the configurations on `jobs` threads. Finishes by writing OUT
// (atomically) and removing OUT.partial. Errors (sm::Error): OUT or
// OUT.partial from a different spec or shard, unreadable models, a bad
// out path. A failure inside one configuration is recorded in its row.
RunResult run_sweep(const SweepSpec& spec, const RunOptions& opt);

// 64-bit FNV-1a of `s` as 16 hex digits (SweepSpec::hash; stable across builds).
std::string fnv1a64_hex(const std::string& s);

// The partial-progress and cache paths run_sweep uses for `out`.
std::string partial_path(const std::string& out);
std::string cache_dir(const std::string& out);

}  // namespace sm::sweep
