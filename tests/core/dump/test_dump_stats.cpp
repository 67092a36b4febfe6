// SPDX-License-Identifier: Apache-2.0
// Dump statistics: histogram bins and totals, per-channel absmax, outlier
// channels, the quantization error of codes x 2^exponent, the streamed
// tensor statistics (against a brute force over the whole tensor) and the
// max-abs heatmap reduction, exact within its read budget and sampled beyond.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/dump/dump_reader.h"
#include "core/dump/dump_stats.h"
#include "tests/core/dump/synthetic_dump.h"
#include "tests/core/error_of.h"
#include "tests/core/temp_dir.h"

TEST(DumpStats, HistogramBinsAndTotal) {
  const std::vector<float> v = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, std::numeric_limits<float>::quiet_NaN()};
  const sm::Histogram h = sm::histogram(v, 5);
  EXPECT_EQ(h.lo, 0.0);
  EXPECT_EQ(h.hi, 10.0);
  EXPECT_DOUBLE_EQ(h.bin_width(), 2.0);
  EXPECT_EQ(h.counts, (std::vector<int64_t>{2, 2, 2, 2, 3}));  // 10 falls in the last bin
  EXPECT_EQ(h.total(), 11);
  EXPECT_EQ(h.nonfinite, 1);
  const sm::Histogram c = sm::histogram(std::vector<float>(7, 2.5f), 3);
  EXPECT_EQ(c.counts, (std::vector<int64_t>{0, 7, 0}));
  EXPECT_EQ(c.lo, 2.0);
  EXPECT_NE(sm_test::error_of([] { sm::histogram({}, 0); }).find("bin"), std::string::npos);
}

TEST(DumpStats, ChannelAbsmaxAndOutlierChannels) {
  const int64_t rows = 50, cols = 12;
  std::vector<float> v(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows * cols; ++i) v[i] = 0.1f * static_cast<float>(std::sin(0.7 * double(i)));
  v[17 * cols + 7] = 40.0f;
  v[3 * cols + 2] = -35.0f;
  const auto m = sm::channel_absmax(v, rows, cols);
  EXPECT_FLOAT_EQ(m[7], 40.0f);
  EXPECT_FLOAT_EQ(m[2], 35.0f);
  EXPECT_LE(m[0], 0.1f);
  const auto o = sm::outlier_channels(v, rows, cols);
  EXPECT_EQ(o.channels, (std::vector<int64_t>{2, 7}));
  EXPECT_EQ(o.outliers, 2);
  EXPECT_EQ(o.per_channel[7], 1);
  EXPECT_GT(o.threshold, 0.0);
}

TEST(DumpStats, QuantizationErrorOfCodesTimesPowerOfTwo) {
  // Two rows of 4 values, group 2: exponents -2 and 1 in row 0, 0 and 0 in row 1.
  const std::vector<float> values = {0.26f, -0.5f, 6.0f, 3.0f, 1.0f, 2.0f, -3.0f, 0.4f};
  const std::vector<float> codes = {1, -2, 3, 2, 1, 2, -3, 0};
  const std::vector<float> exps = {-2, 1, 0, 0};
  const sm::QuantError q = sm::quant_error(values, codes, exps, 2, 4, 2);
  EXPECT_EQ(q.dequantized, (std::vector<float>{0.25f, -0.5f, 6.0f, 4.0f, 1.0f, 2.0f, -3.0f, 0.0f}));
  EXPECT_EQ(q.error[0], 0.25f - 0.26f);
  EXPECT_FLOAT_EQ(q.error[3], 1.0f);
  EXPECT_DOUBLE_EQ(q.max_abs, 1.0);
  EXPECT_EQ(q.at, 3);
  EXPECT_NEAR(q.rel, 1.0 / 6.0, 1e-12);
  EXPECT_NE(sm_test::error_of([&] { sm::quant_error(values, codes, exps, 2, 4, 1); }).find("do not fit"),
            std::string::npos);
}

TEST(DumpStats, TensorStatsAgreeWithABruteForce) {
  sm_test::TempDir tmp;
  sm_test::SyntheticDump s;
  s.tokens = 150;  // three chunks of rows
  s.plant = [](int64_t t, int l, const std::string& n, int64_t c, float v) {
    return t == 120 && l == 1 && n == "conv_out" && c == 9 ? 50.0f : v;
  };
  sm_test::write_synthetic_dump(tmp.file("d.h5"), s);
  const sm::DumpReader r(tmp.file("d.h5"));
  const auto info = r.info("/layers/1/conv_out");
  const sm::TensorStats st = sm::tensor_stats(r, info);
  const auto all = r.read(info.name, 0, info.rows());
  EXPECT_EQ(st.count, info.rows() * info.cols());
  EXPECT_EQ(st.max, 50.0);
  EXPECT_EQ(st.channel, 9);
  EXPECT_EQ(st.channel_absmax, 50.0);
  const auto o = sm::outlier_channels(all, info.rows(), info.cols());
  EXPECT_EQ(st.outliers, o.outliers);
  EXPECT_EQ(o.channels, (std::vector<int64_t>{9}));
  const auto m = sm::channel_absmax(all, info.rows(), info.cols());
  for (int64_t c = 0; c < info.cols(); ++c) EXPECT_FLOAT_EQ(float(st.absmax[c]), m[c]);
  // Codes: 4-bit, the saturated ones counted.
  const auto ci = r.info("/layers/1/out_proj_in_codes");
  EXPECT_EQ(ci.bits, 4);
  const sm::TensorStats cs = sm::tensor_stats(r, ci);
  int64_t sat = 0;
  for (float v : r.read(ci.name, 0, ci.rows())) sat += std::abs(v) >= 7;
  EXPECT_EQ(cs.saturated, sat);
  EXPECT_GT(sat, 0);
}

TEST(DumpStats, HeatmapIsExactWithinBudgetAndSampledBeyond) {
  const int64_t rows = 1000, cols = 30;
  auto value = [](int64_t r, int64_t c) { return static_cast<float>(std::sin(0.013 * r * (c + 1)) * (c % 3 - 1)); };
  int64_t reads = 0;
  sm::RowBlockReader read = [&](int64_t r0, int64_t n, float* out) {
    ++reads;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < cols; ++c) out[i * cols + c] = value(r0 + i, c);
  };
  const sm::Heatmap h = sm::decimate_maxabs(rows, cols, 100, 7, read, 4096);
  EXPECT_EQ(h.row_step, 10);
  EXPECT_EQ(h.col_step, 5);
  EXPECT_EQ(h.bin_rows, 100);
  EXPECT_EQ(h.bin_cols, 6);
  EXPECT_FALSE(h.sampled);
  EXPECT_EQ(h.rows_read, rows);
  for (int64_t br = 0; br < h.bin_rows; ++br)
    for (int64_t bc = 0; bc < h.bin_cols; ++bc) {
      float best = std::numeric_limits<float>::quiet_NaN();
      for (int64_t r = br * 10; r < br * 10 + 10; ++r)
        for (int64_t c = bc * 5; c < std::min(cols, bc * 5 + 5); ++c)
          if (std::isnan(best) || std::abs(value(r, c)) > std::abs(best)) best = value(r, c);
      ASSERT_EQ(h.at(br, bc), best) << br << "," << bc;
    }
  // Over budget: at most the budget is read, and the bins say they are sampled.
  const sm::Heatmap s = sm::decimate_maxabs(rows, cols, 10, 30, read, 200);
  EXPECT_TRUE(s.sampled);
  EXPECT_LE(s.rows_read, 200);
  EXPECT_EQ(s.bin_rows, 10);
  // Each bin holds the max-abs of the leading rows it read, never more than the bin's true max-abs.
  for (int64_t br = 0; br < s.bin_rows; ++br)
    for (int64_t c = 0; c < cols; ++c) {
      float lead = 0, full = 0;
      for (int64_t r = br * s.row_step; r < (br + 1) * s.row_step; ++r) {
        full = std::max(full, std::abs(value(r, c)));
        if (r < br * s.row_step + s.rows_read / s.bin_rows) lead = std::max(lead, std::abs(value(r, c)));
      }
      ASSERT_EQ(std::abs(s.at(br, c)), lead) << br << "," << c;
      ASSERT_LE(std::abs(s.at(br, c)), full);
    }
  std::atomic<bool> cancel{true};
  EXPECT_TRUE(sm::decimate_maxabs(rows, cols, 10, 30, read, 200, &cancel).cancelled);
}
