// SPDX-License-Identifier: Apache-2.0
#pragma once
// Reads slices of activation dumps and computes their statistics off the GUI
// thread, so a 1 GB dump stays responsive. Each request runs on its own
// std::thread with its own cancel flag; a new tensor request cancels the
// one before (its result is dropped by id), and the destructor cancels and
// joins everything. Results come back through queued calls on this object.
//
// Only the slice is read (rows [row0, row0 + rows) of one tensor, and the
// rows of its twin and codes the view shows), and for the heatmap no more
// than about max_read_rows rows of it: within that budget every row is read
// and reduced exactly into at most max_bin_rows x max_bin_cols max-abs bins;
// beyond it each row bin reads one leading block of rows (whole 64-row
// chunks where they fit; core/dump/dump_stats.h, decimate_maxabs) and the
// result says `sampled`. The histogram, the per-channel absmax and the
// outlier channels are of the rows read.
#include "core/dump/dump_diff.h"
#include "core/dump/dump_reader.h"
#include "core/dump/dump_stats.h"

#include <QMetaType>
#include <QObject>
#include <QString>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "ui/models/dump_table_model.h"

namespace sm::ui {

struct DumpTensorRequest {
  QString path;
  QString dataset;            // "/layers/3/out_proj_in"
  int64_t row0 = 0;
  int64_t rows = -1;          // -1: to the last row
  int64_t selected_row = 0;   // the row shown in the table (a dataset row, clamped)
  int max_bin_rows = 512;     // heatmap grid: about the pixels it is drawn on
  int max_bin_cols = 1024;
  int64_t max_read_rows = 2048;
  int histogram_bins = 64;
  QString diff_path;          // not empty: also the heatmap of (this dump - diff_path) at matched positions
  bool row_only = false;      // only the selected row (the table): no heatmap, statistics or diff
};

struct DumpTensorResult {
  DumpTensorRequest request;
  DumpDatasetInfo info;
  Heatmap heatmap;            // over the slice's rows
  Histogram histogram;        // of the values read
  std::vector<float> absmax;  // per channel, of the rows read
  OutlierChannels outliers;
  int64_t values_read = 0;    // histogram total + non-finite
  // out_proj_in vs out_proj_in_unrotated: the other one of the pair (same rows).
  QString twin;
  bool twin_is_unrotated = false;
  std::vector<float> twin_absmax;
  OutlierChannels twin_outliers;
  DumpRowSlice row;           // the selected row: values, codes, exponents
  QuantError quant;           // of that row (when quantized)
  Heatmap diff;               // with diff_path: the difference, rows = matched positions
  QString diff_error;         // why there is no diff heatmap
  double seconds = 0;         // time of the job
};

class DumpReadWorker : public QObject {
  Q_OBJECT

 public:
  explicit DumpReadWorker(QObject* parent = nullptr);
  ~DumpReadWorker() override;  // cancels and joins every job

  // Starts reading; cancels any tensor read in flight. Returns the job id.
  // A row_only request is its own kind: it cancels row reads, not a full one.
  uint64_t readTensor(const DumpTensorRequest& request);
  // Starts a diff of two dumps; cancels any diff in flight.
  uint64_t diff(const QString& path_a, const QString& path_b, double tol);
  void cancelAll();
  bool isBusy() const { return !jobs_.empty(); }
  bool tensorBusy() const { return tensor_busy_; }

  // Tests: sleep this long before each block read, to make reads slow.
  void setBlockDelayForTest(int ms) { block_delay_ms_ = ms; }

 signals:
  void tensorReady(const sm::ui::DumpTensorResult& result);
  void rowReady(const sm::ui::DumpTensorResult& result);  // a row_only request
  void diffReady(const sm::DumpDiff& diff);
  void diffProgress(qint64 done, qint64 total);
  void failed(const QString& message);
  void cancelled();

 private:
  enum Kind { TensorKind, RowKind, DiffKind, KindCount };
  struct Job {
    uint64_t id = 0;
    Kind kind = TensorKind;
    std::shared_ptr<std::atomic<bool>> cancel;
    std::thread thread;
  };
  uint64_t start(Kind kind, std::function<void(uint64_t id, const std::atomic<bool>& cancel)> body);
  void endJob(uint64_t id);

  std::vector<Job> jobs_;
  uint64_t next_id_ = 0;
  uint64_t current_[KindCount] = {};  // the current job of each kind; others are stale
  bool tensor_busy_ = false;
  int block_delay_ms_ = 0;
};

// The reading and statistics of one request on the calling thread (the worker's body).
DumpTensorResult read_tensor_slice(const DumpTensorRequest& request, const std::atomic<bool>* cancel = nullptr,
                                   int block_delay_ms = 0);

}  // namespace sm::ui

Q_DECLARE_METATYPE(sm::ui::DumpTensorResult)
Q_DECLARE_METATYPE(sm::DumpDiff)
