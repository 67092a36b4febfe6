// SPDX-License-Identifier: Apache-2.0
#pragma once
// Quantized copies of fp32 models for tuner runs: core's quantize_model
// writes them under the cache location (QStandardPaths::CacheLocation +
// "/quantized/<hash>"), named by a hash of the source directory, its weights'
// size and time, and the config; a later run with the same source and config
// reuses the copy. Called from job threads.
#include <QString>

#include <string>

namespace sm::ui {

struct QuantizedModel {
  QString dir;        // the quantized model directory
  bool reused = false;
  std::string summary;  // QuantConfig::summary() of what was written
};

// The config JSON (QuantConfig::to_json_string) with the weight group of
// `src_dir` from quant::default_weight_group when `auto_group`. Throws sm::Error.
std::string config_for_model(const std::string& config_json, bool auto_group, const std::string& src_dir);

// The cache directory for `src_dir` quantized with `config_json` (no I/O).
QString quantized_cache_dir(const QString& src_dir, const std::string& config_json);

// Returns the cached copy, quantizing `src_dir` first when there is none.
// Throws sm::Error naming the problem (core's quantize_model messages).
QuantizedModel ensure_quantized(const QString& src_dir, const std::string& config_json);

}  // namespace sm::ui
