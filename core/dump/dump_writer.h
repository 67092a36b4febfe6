// SPDX-License-Identifier: Apache-2.0
#pragma once
// An ActivationTap that writes an HDF5 activation dump (format
// "specmamba-dump", version 1; layout in docs/dump-format.md). Rows are
// buffered per dataset and appended a chunk (64 rows) at a time to
// extendible, gzip-compressed datasets in PATH.tmp; finish() renames it to
// PATH. A writer destroyed unfinished (an error, a cancelled run) removes
// its temporary file and leaves PATH untouched.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/dump/activation_tap.h"
#include "core/io/model_config.h"

namespace sm {

class MambaModel;

// A set of non-negative indices (layers or token positions): "0,3,5-7",
// "64-" (64 and everything after), "" or "all" (everything).
class IndexFilter {
 public:
  IndexFilter() = default;  // everything
  // Throws sm::Error("WHAT: ...") naming the bad item.
  static IndexFilter parse(const std::string& spec, const std::string& what);

  bool all() const { return all_; }
  bool contains(int64_t i) const;
  // Whether any of [first, first + count) is in the set.
  bool intersects(int64_t first, int64_t count) const;
  // The largest index in the set; -1 when the set is unbounded (all, "N-").
  int64_t max_index() const;
  // Canonical text ("all", "0,3,5-7", "64-").
  std::string spec() const;

 private:
  bool all_ = true;
  std::vector<std::pair<int64_t, int64_t>> ranges_;  // inclusive, sorted, merged; open end = INT64_MAX
};

// Throws sm::Error("WHAT: ...") if the filter names a layer the model lacks.
void check_layer_filter(const IndexFilter& layers, int n_layer, const std::string& what);

// The model config as the JSON text of the dump's `config` attribute
// (every ModelConfig field; an infinite dt_max is null).
std::string model_config_json_text(const ModelConfig& cfg);

struct DumpOptions {
  IndexFilter layers;  // layer groups written
  IndexFilter tokens;  // token positions (of the sequence) written
  bool logits = false;  // write /logits
  std::string model;    // root attribute `model` (the model's path)
  // Root attributes `quantization` (JSON text of the QuantConfig; empty =
  // the fp32 preset's) and `rotation`; the constructor that takes a
  // MambaModel sets both from the model.
  std::string quantization;
  bool rotation = false;
  // Root attribute `spec` (JSON text of the speculative settings) when not
  // empty: the dump is the target replayed over a speculative run's
  // committed sequence (docs/dump-format.md, "Speculative runs").
  std::string spec;
};

class DumpWriter : public ActivationTap {
 public:
  // Creates PATH.tmp and writes the root attributes; throws sm::Error.
  DumpWriter(std::string path, const ModelConfig& cfg, DumpOptions opt);
  // The same for `model`, with `quantization` = model.weights().quant.to_json()
  // and `rotation` = its rotation flag (whatever opt said).
  DumpWriter(std::string path, const MambaModel& model, DumpOptions opt);
  ~DumpWriter() override;  // unfinished: closes and removes PATH.tmp; never throws
  DumpWriter(const DumpWriter&) = delete;
  DumpWriter& operator=(const DumpWriter&) = delete;

  // Writes the buffered rows, closes the file and renames PATH.tmp to PATH.
  // On failure removes PATH.tmp and throws sm::Error. Once only.
  void finish();
  // Drops everything written so far and removes PATH.tmp (as the destructor).
  void abort();

  const std::string& path() const { return path_; }
  std::string temp_path() const { return path_ + ".tmp"; }
  int64_t tokens_seen() const { return tokens_seen_; }
  int64_t rows_written() const { return rows_kept_; }  // tokens that passed the filter

  // ActivationTap. Batches must continue the sequence (first_token ==
  // tokens_seen()): a dump is one sequence from an empty state.
  void on_tokens(int64_t first_token, const int32_t* ids, int64_t rows) override;
  bool wants(int layer, int64_t first_token, int64_t rows) const override;
  void on_tensor(int layer, const char* name, int64_t first_token, int64_t rows, int64_t cols,
                 const float* data, int64_t ld) override;
  // Integer codes: /layers/<i>/<name>_codes (int8 [rows, cols], attributes
  // bits and group) and /layers/<i>/<name>_exponent (int8 [rows,
  // ceil(cols / group)], attribute group). An exponent outside int8 is an
  // error naming the dataset and the token (never wrapped).
  bool wants_codes() const override { return file_ != nullptr; }
  void on_codes(int layer, const char* name, int64_t first_token, int64_t rows, int64_t cols, int bits,
                int64_t group, const int8_t* codes, const int16_t* exps) override;

 private:
  void check_tensor(int layer, const std::string& leaf, int64_t first_token, int64_t rows, int64_t cols) const;
  struct File;
  std::string path_;
  DumpOptions opt_;
  int n_layer_ = 0;
  int64_t tokens_seen_ = 0;
  int64_t rows_kept_ = 0;
  std::unique_ptr<File> file_;  // null once finished or aborted
};

}  // namespace sm
