// SPDX-License-Identifier: Apache-2.0
#include "core/dump/dump_stats.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/io/error.h"

namespace sm {

namespace {

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

bool stop(const std::atomic<bool>* cancel) { return cancel && cancel->load(std::memory_order_relaxed); }

// Calls f(block, n) for each block of kDumpBlockRows rows; false if cancelled.
template <class F>
bool for_blocks(const DumpReader& r, const DumpDatasetInfo& d, std::vector<float>& block,
                const std::atomic<bool>* cancel, F&& f) {
  const int64_t rows = d.rows(), cols = d.cols();
  for (int64_t r0 = 0; r0 < rows; r0 += kDumpBlockRows) {
    if (stop(cancel)) return false;
    const int64_t n = std::min(kDumpBlockRows, rows - r0);
    block.resize(static_cast<size_t>(n * cols));
    r.read_into(d.name, r0, n, 0, cols, block.data());
    f(block, n);
  }
  return true;
}

}  // namespace

bool dump_is_codes(const DumpDatasetInfo& d) { return d.integer && ends_with(d.name, kDumpCodesSuffix); }
bool dump_is_exponent(const DumpDatasetInfo& d) { return d.integer && ends_with(d.name, kDumpExponentSuffix); }
bool dump_is_ids(const DumpDatasetInfo& d) { return d.name == "/tokens" || d.name == "/token_index"; }

std::string dump_base_name(const std::string& name) {
  for (const char* s : {kDumpCodesSuffix, kDumpExponentSuffix, kDumpUnrotatedSuffix})
    if (ends_with(name, s)) return name.substr(0, name.size() - std::strlen(s));
  return name;
}

TensorStats tensor_stats(const DumpReader& r, const DumpDatasetInfo& d, const std::atomic<bool>* cancel) {
  TensorStats s;
  const int64_t rows = d.rows(), cols = d.cols();
  if (rows == 0 || cols == 0) return s;
  s.absmax.assign(static_cast<size_t>(cols), 0.0);
  std::vector<float> block;
  double sum = 0, sumsq = 0;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  bool ok = for_blocks(r, d, block, cancel, [&](const std::vector<float>& b, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < cols; ++c) {
        const double v = b[i * cols + c];
        if (!std::isfinite(v)) {
          ++s.nonfinite;
          continue;
        }
        ++s.count;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        sum += v;
        sumsq += v * v;
        s.absmax[c] = std::max(s.absmax[c], std::abs(v));
      }
  });
  if (!ok) {
    s.cancelled = true;
    return s;
  }
  if (s.count == 0) return s;
  if (dump_is_codes(d) && d.bits >= 2 && d.bits <= 16) {
    const double qmax = double((1 << (d.bits - 1)) - 1);
    ok = for_blocks(r, d, block, cancel, [&](const std::vector<float>& b, int64_t) {
      for (float v : b)
        if (std::abs(double(v)) >= qmax) ++s.saturated;
    });
  }
  s.min = lo;
  s.max = hi;
  s.mean = sum / s.count;
  s.std = std::sqrt(std::max(0.0, sumsq / s.count - s.mean * s.mean));
  const auto it = std::max_element(s.absmax.begin(), s.absmax.end());
  s.channel_absmax = *it;
  s.channel = it - s.absmax.begin();
  std::vector<double> sorted = s.absmax;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  s.channel_absmax_median = sorted[sorted.size() / 2];
  if (ok && s.std > 0) {
    const double lim = kDumpOutlierSigma * s.std;
    ok = for_blocks(r, d, block, cancel, [&](const std::vector<float>& b, int64_t) {
      for (float v : b)
        if (std::isfinite(v) && std::abs(double(v) - s.mean) > lim) ++s.outliers;
    });
  }
  s.cancelled = !ok;
  return s;
}

int64_t Histogram::total() const {
  int64_t t = 0;
  for (int64_t c : counts) t += c;
  return t;
}

Histogram histogram(std::span<const float> values, int bins) {
  if (bins < 1) fail("histogram", "needs at least one bin, got " + std::to_string(bins));
  Histogram h;
  h.counts.assign(static_cast<size_t>(bins), 0);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (float v : values) {
    if (!std::isfinite(v)) {
      ++h.nonfinite;
      continue;
    }
    lo = std::min(lo, double(v));
    hi = std::max(hi, double(v));
  }
  if (lo > hi) return h;  // nothing finite
  if (lo == hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  h.lo = lo;
  h.hi = hi;
  const double scale = double(bins) / (hi - lo);
  for (float v : values) {
    if (!std::isfinite(v)) continue;
    const int64_t i = std::min<int64_t>(bins - 1, static_cast<int64_t>((double(v) - lo) * scale));
    ++h.counts[static_cast<size_t>(i)];
  }
  return h;
}

std::vector<float> channel_absmax(std::span<const float> values, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0 || static_cast<int64_t>(values.size()) != rows * cols)
    fail("channel_absmax", "values do not hold " + std::to_string(rows) + " x " + std::to_string(cols));
  std::vector<float> m(static_cast<size_t>(cols), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float v = values[r * cols + c];
      if (std::isfinite(v)) m[c] = std::max(m[c], std::abs(v));
    }
  return m;
}

OutlierChannels outlier_channels(std::span<const float> values, int64_t rows, int64_t cols, double sigma) {
  if (rows < 0 || cols < 0 || static_cast<int64_t>(values.size()) != rows * cols)
    fail("outlier_channels", "values do not hold " + std::to_string(rows) + " x " + std::to_string(cols));
  OutlierChannels o;
  o.per_channel.assign(static_cast<size_t>(cols), 0);
  double sum = 0, sumsq = 0;
  int64_t n = 0;
  for (float v : values)
    if (std::isfinite(v)) {
      sum += v;
      sumsq += double(v) * v;
      ++n;
    }
  if (n == 0) return o;
  o.mean = sum / n;
  o.std = std::sqrt(std::max(0.0, sumsq / n - o.mean * o.mean));
  o.threshold = sigma * o.std;
  if (o.std <= 0) return o;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float v = values[r * cols + c];
      if (std::isfinite(v) && std::abs(double(v) - o.mean) > o.threshold) ++o.per_channel[c];
    }
  for (int64_t c = 0; c < cols; ++c)
    if (o.per_channel[c] > 0) {
      o.channels.push_back(c);
      o.outliers += o.per_channel[c];
    }
  return o;
}

QuantError quant_error(std::span<const float> values, std::span<const float> codes,
                       std::span<const float> exponents, int64_t rows, int64_t cols, int64_t group) {
  if (group < 1) fail("quant_error", "group " + std::to_string(group) + " (expected >= 1)");
  const int64_t ng = (cols + group - 1) / group;
  if (rows < 0 || cols < 0 || static_cast<int64_t>(values.size()) != rows * cols ||
      static_cast<int64_t>(codes.size()) != rows * cols || static_cast<int64_t>(exponents.size()) != rows * ng)
    fail("quant_error", "values, codes and exponents do not fit " + std::to_string(rows) + " x " +
                            std::to_string(cols) + " in groups of " + std::to_string(group));
  QuantError q;
  q.dequantized.resize(values.size());
  q.error.resize(values.size());
  double sq = 0, vmax = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = static_cast<size_t>(r * cols + c);
      // ldexp is exact: code * 2^e is what the integer kernel multiplies.
      const float dq = std::ldexp(codes[i], static_cast<int>(exponents[static_cast<size_t>(r * ng + c / group)]));
      q.dequantized[i] = dq;
      q.error[i] = dq - values[i];
      const double e = std::abs(double(q.error[i]));
      if (std::isfinite(e)) {
        sq += e * e;
        if (e > q.max_abs || q.at < 0) {
          q.max_abs = e;
          q.at = static_cast<int64_t>(i);
        }
      }
      if (std::isfinite(values[i])) vmax = std::max(vmax, std::abs(double(values[i])));
    }
  if (!values.empty()) q.rms = std::sqrt(sq / double(values.size()));
  q.rel = vmax > 0 ? q.max_abs / vmax : 0.0;
  return q;
}

Heatmap decimate_maxabs(int64_t rows, int64_t cols, int64_t max_bin_rows, int64_t max_bin_cols,
                        const RowBlockReader& read, int64_t max_read_rows, const std::atomic<bool>* cancel) {
  if (rows < 0 || cols < 0 || max_bin_rows < 1 || max_bin_cols < 1 || max_read_rows < 1)
    fail("heatmap", "bad grid " + std::to_string(max_bin_rows) + " x " + std::to_string(max_bin_cols));
  Heatmap h;
  h.rows = rows;
  h.cols = cols;
  if (rows == 0 || cols == 0) return h;
  h.row_step = (rows + max_bin_rows - 1) / max_bin_rows;
  h.col_step = (cols + max_bin_cols - 1) / max_bin_cols;
  h.bin_rows = (rows + h.row_step - 1) / h.row_step;
  h.bin_cols = (cols + h.col_step - 1) / h.col_step;
  h.values.assign(static_cast<size_t>(h.bin_rows * h.bin_cols), std::numeric_limits<float>::quiet_NaN());
  // Rows read per bin: all of them within budget, else a leading block.
  int64_t per_bin = h.row_step;
  if (rows > max_read_rows) {
    per_bin = std::max<int64_t>(1, max_read_rows / h.bin_rows);
    if (per_bin >= kDumpBlockRows) per_bin -= per_bin % kDumpBlockRows;
    per_bin = std::min(per_bin, h.row_step);
    h.sampled = per_bin < h.row_step;
  }
  std::vector<float> block;
  auto reduce = [&](int64_t br, const float* row) {
    float* out = h.values.data() + br * h.bin_cols;
    for (int64_t c = 0; c < cols; ++c) {
      const float v = row[c];
      if (!std::isfinite(v)) continue;
      float& o = out[c / h.col_step];
      if (std::isnan(o) || std::abs(v) > std::abs(o)) o = v;
    }
  };
  // Segments of consecutive rows to read: the whole tensor, or one leading block per bin.
  std::vector<std::pair<int64_t, int64_t>> segments;
  if (!h.sampled) segments.push_back({0, rows});
  else
    for (int64_t br = 0; br < h.bin_rows; ++br)
      segments.push_back({br * h.row_step, std::min(per_bin, rows - br * h.row_step)});
  for (const auto& [s0, n] : segments)
    for (int64_t done = 0; done < n;) {
      if (stop(cancel)) {
        h.cancelled = true;
        return h;
      }
      const int64_t m = std::min(kDumpBlockRows, n - done);
      block.resize(static_cast<size_t>(m * cols));
      read(s0 + done, m, block.data());
      for (int64_t i = 0; i < m; ++i) reduce((s0 + done + i) / h.row_step, block.data() + i * cols);
      done += m;
      h.rows_read += m;
    }
  return h;
}

}  // namespace sm
