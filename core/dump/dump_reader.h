// SPDX-License-Identifier: Apache-2.0
#pragma once
// Lazy reader of HDF5 activation dumps (docs/dump-format.md). Opening reads
// only the root attributes; datasets() reads only the metadata of the
// datasets; read() reads exactly the asked slice (through a hyperslab, so
// HDF5 decompresses only the chunks the slice touches).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sm {

inline constexpr const char* kDumpFormat = "specmamba-dump";
inline constexpr int32_t kDumpVersion = 1;

// The float tensors of a layer group, in the order the forward computes
// them (docs/dump-format.md). Every model has hidden_in, in_proj_in,
// in_proj_out, conv_out, B, C, dt, ssm_out, out_proj_in and mixer_out;
// Mamba-1 also dt_proj_in; the power-of-two SSM also x and dt_raw.
inline constexpr const char* kDumpLayerTensors[] = {"hidden_in", "in_proj_in", "in_proj_out", "conv_out", "x",
                                                    "B", "C", "dt_proj_in", "dt_raw", "dt", "ssm_out",
                                                    "out_proj_in", "mixer_out"};
// Beside a tensor T: T_unrotated (the input of an online rotation, before
// it), T_codes and T_exponent (the integer form a quantized model's kernel
// consumes). datasets() lists T_unrotated, T, T_codes, T_exponent in that order.
inline constexpr const char* kDumpUnrotatedSuffix = "_unrotated";
inline constexpr const char* kDumpCodesSuffix = "_codes";
inline constexpr const char* kDumpExponentSuffix = "_exponent";

struct DumpDatasetInfo {
  std::string name;            // "/tokens", "/layers/0/hidden_in", "/logits"
  std::vector<int64_t> shape;  // [rows] or [rows, cols]
  bool integer = false;        // stored as integers (/tokens, /token_index, *_codes, *_exponent)
  std::string dtype;           // "float32", "int8", "int32", "int64", ...
  int bits = 0;                // *_codes: the code width (dataset attribute `bits`), else 0
  int64_t group = 0;           // *_codes, *_exponent: channels per exponent (attribute `group`), else 0
  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  int64_t cols() const { return shape.size() > 1 ? shape[1] : 1; }
};

struct DumpAttributes {
  std::string format;
  int64_t version = 0;
  std::string model;         // model path
  std::string config;        // JSON text
  std::string quantization;  // JSON text
  bool rotation = false;
  // Every root attribute as text, in creation order (bools "true"/"false").
  std::vector<std::pair<std::string, std::string>> all;
};

class DumpReader {
 public:
  // Throws sm::Error("PATH: ...") for a missing file, a file that is not
  // HDF5 (or is truncated), an HDF5 file that is not a dump, or a version
  // this build does not read.
  explicit DumpReader(const std::string& path);
  ~DumpReader();
  DumpReader(DumpReader&&) noexcept;
  DumpReader& operator=(DumpReader&&) noexcept;

  const std::string& path() const { return path_; }
  const DumpAttributes& attributes() const { return attrs_; }

  // Every dataset: /tokens, /token_index, /layers/<i>/<tensor> (layers in
  // numeric order, tensors in kDumpLayerTensors order, each followed by its
  // _codes and _exponent and preceded by its _unrotated; unknown names
  // after), then any other (/logits).
  std::vector<DumpDatasetInfo> datasets() const;
  bool has(const std::string& name) const;          // "/logits" or "logits"
  DumpDatasetInfo info(const std::string& name) const;  // throws if absent
  std::vector<int> layers() const;                  // the /layers/<i> groups present

  // Rows [row0, row0 + rows) and columns [col0, col0 + cols) as float,
  // row-major [rows][cols]; cols < 0 means to the last column. A 1-D
  // dataset has one column; integer datasets (codes, exponents) convert
  // exactly. Throws sm::Error for a slice out of range.
  std::vector<float> read(const std::string& name, int64_t row0, int64_t rows, int64_t col0 = 0,
                          int64_t cols = -1) const;
  // The same into out (rows * cols floats, cols resolved as above).
  void read_into(const std::string& name, int64_t row0, int64_t rows, int64_t col0, int64_t cols,
                 float* out) const;

  std::vector<int32_t> tokens() const;       // /tokens: every id run
  std::vector<int64_t> token_index() const;  // /token_index: the position of each dumped row

 private:
  struct Impl;
  std::string path_;
  DumpAttributes attrs_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sm
