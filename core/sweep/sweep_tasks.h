// SPDX-License-Identifier: Apache-2.0
#pragma once
// The units of work run_sweep schedules (internal to core/sweep): a preset's
// quantized models, its target-only baseline and bits per byte, and one
// configuration's measured run.
#include <atomic>
#include <string>

#include "core/sweep/sweep.h"

namespace sm::sweep {

// The target and draft directories of one preset.
struct PresetModels {
  std::string preset;
  std::string target, draft;
};

// Where `preset`'s quantized pair lives under `cache` (fp32: the spec's own
// models). The directory name carries a hash of the sources and the options,
// so a cache never serves another spec's models.
PresetModels preset_models(const SweepSpec& spec, const std::string& preset, const std::string& cache);

// Quantizes `src` into `dst` with `preset` the way `specmamba quantize`
// does by default (weight group default_weight_group, rotation and GPTQ
// calibration of 4-bit weights as the spec says), unless `dst` exists
// (another process may have finished it first). Returns true when it
// quantized.
bool ensure_quantized(const SweepSpec& spec, const std::string& preset, const std::string& src,
                      const std::string& dst);

// Fastest of spec.repeats target-only greedy runs (tokens per second, prefill + decode).
double measure_baseline(const SweepSpec& spec, const PresetModels& m, const std::atomic<bool>* cancel);

// Bits per byte of the preset's target on spec.eval_text (spec.eval_bytes of it).
double measure_bpb(const SweepSpec& spec, const PresetModels& m, const std::atomic<bool>* cancel);

// One configuration: speculative decoding timed spec.repeats times, the
// acceptance figures, and the simulated figures through `simulate` (may be
// empty). Errors of the configuration go into the row's error; a
// cancellation mid-run returns false (no row).
bool run_config(const SweepSpec& spec, const SweepConfig& cfg, const PresetModels& m, double baseline_tps,
                double bpb, const SimulateFn& simulate, const std::atomic<bool>* cancel, SweepRow& row);

}  // namespace sm::sweep
