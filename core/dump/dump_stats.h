// SPDX-License-Identifier: Apache-2.0
#pragma once
// Statistics of activation-dump tensors, shared by `specmamba dump-info`
// and the Studio's dump inspector: whole-tensor summaries streamed a chunk
// of rows at a time, and statistics of one slice held in memory (histogram,
// per-channel absmax, outlier channels, quantization error of the integer
// codes, a max-abs decimated heatmap).
#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/dump/dump_reader.h"

namespace sm {

// A value is an outlier when |x - mean| > kDumpOutlierSigma * std (mean and
// std of the tensor or slice it belongs to).
inline constexpr double kDumpOutlierSigma = 6.0;
// The writer's chunk rows: a block of this many rows decompresses each chunk once.
inline constexpr int64_t kDumpBlockRows = 64;

struct TensorStats {
  int64_t count = 0;  // finite values
  int64_t nonfinite = 0;
  double min = 0, max = 0, mean = 0, std = 0;
  double channel_absmax = 0;         // max over channels of the channel's absmax
  int64_t channel = -1;              // that channel
  double channel_absmax_median = 0;  // the typical channel, for scale
  int64_t outliers = 0;              // values with |x - mean| > 6 std
  int64_t saturated = 0;             // *_codes: |code| >= qmax
  std::vector<double> absmax;        // per channel
  bool cancelled = false;            // stopped early: the figures are partial
};

// Every row of dataset d, kDumpBlockRows at a time (three passes: range and
// absmax, then saturation of codes, then outliers, which need mean and std).
TensorStats tensor_stats(const DumpReader& r, const DumpDatasetInfo& d, const std::atomic<bool>* cancel = nullptr);

// Name helpers (docs/dump-format.md suffixes).
bool dump_is_codes(const DumpDatasetInfo& d);
bool dump_is_exponent(const DumpDatasetInfo& d);
bool dump_is_ids(const DumpDatasetInfo& d);  // /tokens, /token_index
// "T" for "T_codes", "T_exponent" or "T_unrotated"; the name itself otherwise.
std::string dump_base_name(const std::string& name);

// --- one slice in memory: values row-major [rows][cols] ---

struct Histogram {
  double lo = 0, hi = 0;        // range of the finite values; bin i covers [lo + i w, lo + (i+1) w)
  std::vector<int64_t> counts;  // the last bin includes hi
  int64_t nonfinite = 0;        // not counted in any bin
  double bin_width() const { return counts.empty() ? 0.0 : (hi - lo) / double(counts.size()); }
  int64_t total() const;        // sum of counts
};
// bins >= 1; all-equal values put everything in the middle bin of [v - 0.5, v + 0.5].
Histogram histogram(std::span<const float> values, int bins);

// max over rows of |x| for each column (non-finite values ignored).
std::vector<float> channel_absmax(std::span<const float> values, int64_t rows, int64_t cols);

struct OutlierChannels {
  double mean = 0, std = 0;        // of the slice's finite values
  double threshold = 0;            // kDumpOutlierSigma * std
  std::vector<int64_t> per_channel;  // outlier values in each column
  std::vector<int64_t> channels;   // columns with at least one outlier, ascending
  int64_t outliers = 0;            // sum of per_channel
};
// Channels holding values with |x - mean| > sigma * std, mean and std over the whole slice.
OutlierChannels outlier_channels(std::span<const float> values, int64_t rows, int64_t cols,
                                 double sigma = kDumpOutlierSigma);

struct QuantError {
  std::vector<float> dequantized;  // code * 2^exponent[c / group]
  std::vector<float> error;        // dequantized - value
  double max_abs = 0;              // max |error|
  int64_t at = -1;                 // its index
  double rms = 0;
  double rel = 0;                  // max_abs / max |value| (0 when all values are 0)
};
// codes and values [rows][cols], exponents [rows][ceil(cols / group)]. Throws
// sm::Error when the sizes do not fit or group < 1.
QuantError quant_error(std::span<const float> values, std::span<const float> codes,
                       std::span<const float> exponents, int64_t rows, int64_t cols, int64_t group);

// --- decimated heatmap ---

// Reads rows [row0, row0 + n) of a [rows][cols] tensor into out (n * cols floats).
using RowBlockReader = std::function<void(int64_t row0, int64_t n, float* out)>;

struct Heatmap {
  int64_t rows = 0, cols = 0;          // of the source
  int64_t bin_rows = 0, bin_cols = 0;  // of the grid
  int64_t row_step = 1, col_step = 1;  // source rows / columns per bin (the last bin may hold fewer)
  int64_t rows_read = 0;               // source rows actually read
  bool sampled = false;                // some rows of a bin were not read
  bool cancelled = false;
  // [bin_rows][bin_cols]: in each bin the value of largest |x| among the rows
  // read, sign kept, so an outlier never averages away; NaN where no finite value.
  std::vector<float> values;
  float at(int64_t br, int64_t bc) const { return values[static_cast<size_t>(br * bin_cols + bc)]; }
};

// A grid of at most max_bin_rows x max_bin_cols bins over the tensor, reading
// at most about max_read_rows source rows: when rows fit that budget every
// row is read (the reduction is exact); otherwise each row bin reads one
// block of consecutive rows from its start, whole chunks of kDumpBlockRows
// where they fit, and the bin is marked sampled. Columns are always reduced
// exactly (a chunk spans every column of a row, so reading fewer gains nothing).
Heatmap decimate_maxabs(int64_t rows, int64_t cols, int64_t max_bin_rows, int64_t max_bin_cols,
                        const RowBlockReader& read, int64_t max_read_rows = 4096,
                        const std::atomic<bool>* cancel = nullptr);

}  // namespace sm
