// SPDX-License-Identifier: Apache-2.0
// core headers first: Qt's emit / slots macros must not reach them.
#include "core/dump/dump_diff.h"
#include "core/dump/dump_reader.h"
#include "core/dump/dump_stats.h"
#include "core/io/error.h"

#include "ui/workers/dump_read_worker.h"

#include <QFile>

#include <algorithm>
#include <chrono>
#include <exception>

#include "ui/workers/job_support.h"

namespace sm::ui {

namespace {

std::string local(const QString& path) { return QFile::encodeName(path).toStdString(); }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The partner across the online rotation: T <-> T_unrotated, when both are float datasets.
std::string twin_of(const DumpReader& r, const std::string& name) {
  const std::string u = kDumpUnrotatedSuffix;
  std::string other = ends_with(name, u) ? name.substr(0, name.size() - u.size()) : name + u;
  if (other == name || !r.has(other) || r.info(other).integer) return {};
  return other;
}

// Serves a read of fewer rows than a block from the aligned block of
// kDumpBlockRows rows around it (one chunk row of the file; `offset` is the
// slice's first row, so blocks align on the dataset's rows), read once and
// kept. A sampled heatmap reads a few rows per bin, often several bins in one
// chunk; DumpReader opens the dataset per read, so HDF5's chunk cache does not
// survive between reads and each of them would decompress the whole chunk again.
RowBlockReader block_cached(RowBlockReader read, int64_t rows, int64_t cols, int64_t offset) {
  struct Block {
    int64_t first = -1;
    std::vector<float> data;
  };
  auto block = std::make_shared<Block>();
  return [read = std::move(read), block, rows, cols, offset](int64_t i, int64_t n, float* out) {
    const int64_t start = offset + i - (offset + i) % kDumpBlockRows - offset;  // relative start of the block
    const int64_t lo = std::max<int64_t>(0, start), hi = std::min<int64_t>(rows, start + kDumpBlockRows);
    if (n >= hi - lo || i + n > hi) {  // a whole block, or across two: read as asked
      read(i, n, out);
      return;
    }
    if (block->first != lo) {
      block->first = -1;
      block->data.resize(static_cast<size_t>((hi - lo) * cols));
      read(lo, hi - lo, block->data.data());
      block->first = lo;
    }
    std::copy_n(block->data.data() + (i - lo) * cols, n * cols, out);
  };
}

// Reads the heatmap of `rows` x `cols` through `read`, keeping every row read in `kept`.
Heatmap heatmap_keeping(int64_t rows, int64_t cols, const DumpTensorRequest& q, const RowBlockReader& read,
                        std::vector<float>& kept, const std::atomic<bool>* cancel, int delay_ms) {
  kept.clear();
  RowBlockReader keep = [&](int64_t r0, int64_t n, float* out) {
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    read(r0, n, out);
    kept.insert(kept.end(), out, out + n * cols);
  };
  return decimate_maxabs(rows, cols, q.max_bin_rows, q.max_bin_cols, keep, q.max_read_rows, cancel);
}

}  // namespace

namespace {

// The heatmap and statistics of the slice and of its rotation twin; false if cancelled.
bool read_stats(const DumpReader& r, const DumpTensorRequest& q, const std::string& name, int64_t row0,
                int64_t rows, DumpTensorResult& res, const std::atomic<bool>* cancel, int delay_ms) {
  const int64_t cols = res.info.cols();
  auto reader_of = [&](const std::string& ds) -> RowBlockReader {
    return block_cached([&r, ds, row0, cols](int64_t i, int64_t n, float* out) { r.read_into(ds, row0 + i, n, 0, cols, out); },
                        rows, cols, row0);
  };
  std::vector<float> kept;
  res.heatmap = heatmap_keeping(rows, cols, q, reader_of(name), kept, cancel, delay_ms);
  if (res.heatmap.cancelled) return false;
  const int64_t kept_rows = cols > 0 ? static_cast<int64_t>(kept.size()) / cols : 0;
  res.histogram = histogram(kept, std::max(1, q.histogram_bins));
  res.values_read = static_cast<int64_t>(kept.size());
  res.absmax = channel_absmax(kept, kept_rows, cols);
  res.outliers = outlier_channels(kept, kept_rows, cols);
  const std::string tw = twin_of(r, name);
  if (tw.empty() || r.info(tw).cols() != cols || r.info(tw).rows() != res.info.rows()) return true;
  res.twin = QString::fromStdString(tw);
  res.twin_is_unrotated = ends_with(tw, kDumpUnrotatedSuffix);
  std::vector<float> tk;
  if (heatmap_keeping(rows, cols, q, reader_of(tw), tk, cancel, delay_ms).cancelled) return false;
  res.twin_absmax = channel_absmax(tk, kept_rows, cols);
  res.twin_outliers = outlier_channels(tk, kept_rows, cols);
  return true;
}

// The selected row: the float values of the base tensor beside its codes and exponents.
void read_row(const DumpReader& r, const DumpTensorRequest& q, const std::string& name, DumpTensorResult& res) {
  if (res.info.rows() == 0) return;
  const int64_t sel = std::clamp<int64_t>(q.selected_row, 0, res.info.rows() - 1);
  // T_codes / T_exponent: the values of T beside them. T_unrotated keeps its
  // own values and has no codes (those are of T, the rotated row).
  const bool unrotated = ends_with(name, kDumpUnrotatedSuffix);
  const std::string base = unrotated ? name : dump_base_name(name);
  const std::string float_name = r.has(base) && !r.info(base).integer ? base : name;
  DumpRowSlice& s = res.row;
  s.dataset = QString::fromStdString(float_name);
  s.row = sel;
  const auto pos = r.token_index();
  s.position = sel < static_cast<int64_t>(pos.size()) ? pos[sel] : sel;
  const int64_t fcols = r.info(float_name).cols();
  s.values = r.read(float_name, sel, 1, 0, fcols);
  const std::string cn = base + kDumpCodesSuffix, en = base + kDumpExponentSuffix;
  if (unrotated || !r.has(cn) || !r.has(en)) return;
  const auto ci = r.info(cn);
  if (ci.cols() != fcols || ci.rows() != r.info(float_name).rows() || ci.group < 1) return;
  s.codes = r.read(cn, sel, 1);
  s.exponents = r.read(en, sel, 1);
  s.bits = ci.bits;
  s.group = ci.group;
  if (static_cast<int64_t>(s.exponents.size()) == (fcols + s.group - 1) / s.group)
    res.quant = quant_error(s.values, s.codes, s.exponents, 1, fcols, s.group);
}

// The heatmap of (this dump - q.diff_path) over the slice's matched rows; false if cancelled.
bool read_diff(const DumpReader& r, const DumpTensorRequest& q, const std::string& name, int64_t row0,
               int64_t rows, DumpTensorResult& res, const std::atomic<bool>* cancel, int delay_ms) {
  try {
    const DumpReader b(local(q.diff_path));
    // The dataset b is compared with: the same name, or its form across bases (dump_diff.h).
    if (diff_counterpart(r, b, name).empty())
      fail(b.path(), b.has(name) ? name + " is in another basis (rotated vs unrotated): not compared"
                                 : "has no " + name);
    const RowMatch m = match_rows(r, b);
    int64_t i0 = 0;
    while (i0 < static_cast<int64_t>(m.row_a.size()) && m.row_a[i0] < row0) ++i0;
    int64_t i1 = i0;
    while (i1 < static_cast<int64_t>(m.row_a.size()) && m.row_a[i1] < row0 + rows) ++i1;
    const RowBlockReader cached = block_cached(
        [&](int64_t i, int64_t n, float* out) { read_diff_rows(r, b, m, name, i0 + i, n, out); }, i1 - i0,
        res.info.cols(), m.row_a.empty() || i0 >= static_cast<int64_t>(m.row_a.size()) ? 0 : m.row_a[i0]);
    RowBlockReader dr = [&](int64_t i, int64_t n, float* out) {
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      cached(i, n, out);
    };
    res.diff = decimate_maxabs(i1 - i0, res.info.cols(), q.max_bin_rows, q.max_bin_cols, dr, q.max_read_rows,
                               cancel);
    return !res.diff.cancelled;
  } catch (const std::exception& e) {
    res.diff_error = QString::fromUtf8(e.what());
    return true;
  }
}

}  // namespace

DumpTensorResult read_tensor_slice(const DumpTensorRequest& q, const std::atomic<bool>* cancel, int delay_ms) {
  const auto t0 = std::chrono::steady_clock::now();
  DumpTensorResult res;
  res.request = q;
  const DumpReader r(local(q.path));
  const std::string name = q.dataset.toStdString();
  res.info = r.info(name);
  const int64_t row0 = std::clamp<int64_t>(q.row0, 0, res.info.rows());
  const int64_t rows = q.rows < 0 ? res.info.rows() - row0 : std::min(q.rows, res.info.rows() - row0);
  bool ok = q.row_only || read_stats(r, q, name, row0, rows, res, cancel, delay_ms);
  if (ok) read_row(r, q, name, res);
  if (ok && !q.row_only && !q.diff_path.isEmpty()) ok = read_diff(r, q, name, row0, rows, res, cancel, delay_ms);
  if (!ok) res.heatmap.cancelled = true;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

DumpReadWorker::DumpReadWorker(QObject* parent) : QObject(parent) {
  qRegisterMetaType<sm::ui::DumpTensorResult>();
  qRegisterMetaType<sm::DumpDiff>();
}

DumpReadWorker::~DumpReadWorker() {
  for (Job& j : jobs_) j.cancel->store(true);
  for (Job& j : jobs_)
    if (j.thread.joinable()) j.thread.join();
}

void DumpReadWorker::cancelAll() {
  for (Job& j : jobs_) j.cancel->store(true);
  for (uint64_t& c : current_) c = 0;  // whatever still arrives is stale
  tensor_busy_ = false;
}

uint64_t DumpReadWorker::start(Kind kind, std::function<void(uint64_t, const std::atomic<bool>&)> body) {
  for (Job& j : jobs_)
    if (j.kind == kind) j.cancel->store(true);
  const uint64_t id = ++next_id_;
  current_[kind] = id;
  if (kind == TensorKind) tensor_busy_ = true;
  Job j;
  j.id = id;
  j.kind = kind;
  j.cancel = std::make_shared<std::atomic<bool>>(false);
  auto cancel = j.cancel;
  j.thread = std::thread([id, cancel, body = std::move(body)] { body(id, *cancel); });
  jobs_.push_back(std::move(j));
  return id;
}

void DumpReadWorker::endJob(uint64_t id) {
  for (auto it = jobs_.begin(); it != jobs_.end(); ++it)
    if (it->id == id) {
      if (it->thread.joinable()) it->thread.join();  // it has posted its result: about to return
      jobs_.erase(it);
      return;
    }
}

uint64_t DumpReadWorker::readTensor(const DumpTensorRequest& request) {
  const int delay = block_delay_ms_;
  const Kind kind = request.row_only ? RowKind : TensorKind;
  return start(kind, [this, request, delay, kind](uint64_t id, const std::atomic<bool>& cancel) {
    DumpTensorResult res;
    QString error;
    try {
      res = read_tensor_slice(request, &cancel, delay);
    } catch (...) {
      error = what_of(std::current_exception());
    }
    const bool was_cancelled = cancel.load() || res.heatmap.cancelled;
    QMetaObject::invokeMethod(
        this,
        [this, id, kind, res = std::move(res), error, was_cancelled] {
          const bool current = id == current_[kind];
          endJob(id);
          if (!current) return;
          if (kind == TensorKind) tensor_busy_ = false;
          if (!error.isEmpty()) emit failed(error);
          else if (was_cancelled) emit cancelled();
          else if (kind == RowKind) emit rowReady(res);
          else emit tensorReady(res);
        },
        Qt::QueuedConnection);
  });
}

uint64_t DumpReadWorker::diff(const QString& path_a, const QString& path_b, double tol) {
  return start(DiffKind, [this, path_a, path_b, tol](uint64_t id, const std::atomic<bool>& cancel) {
    DumpDiff d;
    QString error;
    try {
      const DumpReader a(local(path_a)), b(local(path_b));
      auto last = std::chrono::steady_clock::now();
      d = diff_dumps(a, b, {tol}, &cancel, [&](int64_t done, int64_t total) {
        const auto now = std::chrono::steady_clock::now();
        if (now - last < std::chrono::milliseconds(50)) return;
        last = now;
        QMetaObject::invokeMethod(
            this, [this, id, done, total] { if (id == current_[DiffKind]) emit diffProgress(done, total); },
            Qt::QueuedConnection);
      });
    } catch (...) {
      error = what_of(std::current_exception());
    }
    const bool was_cancelled = cancel.load() || d.cancelled;
    QMetaObject::invokeMethod(
        this,
        [this, id, d = std::move(d), error, was_cancelled] {
          const bool current = id == current_[DiffKind];
          endJob(id);
          if (!current) return;
          if (!error.isEmpty()) emit failed(error);
          else if (was_cancelled) emit cancelled();
          else emit diffReady(d);
        },
        Qt::QueuedConnection);
  });
}

}  // namespace sm::ui
