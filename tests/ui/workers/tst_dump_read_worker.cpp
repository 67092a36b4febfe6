// SPDX-License-Identifier: Apache-2.0
// The dump read worker on synthetic dumps: read_tensor_slice's figures
// (per-channel absmax, histogram, max-abs heatmap bins, exact and sampled,
// the rotation twin, the selected row and its codes) against values computed
// here from the synthetic formula; a new request cancels the one before;
// cancelAll; the destructor with jobs in flight; missing, non-HDF5 and
// foreign HDF5 files fail naming the problem; the diff finds a planted
// difference.
#include "core/dump/dump_diff.h"
#include "core/dump/dump_reader.h"
#include "core/trace/spec_events.h"
#include "tests/core/dump/synthetic_dump.h"

#include <QElapsedTimer>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ui/workers/dump_read_worker.h"

using namespace sm::ui;

namespace {

constexpr int kConvOut = 1, kUnrotated = 2, kOutProjIn = 3;  // synthetic tensor numbers
constexpr int64_t kE = 32;                                   // d_inner of synthetic_config(16)

float value(int64_t t, int layer, int tensor, int64_t c) { return sm_test::synthetic_value(t, layer, tensor, c); }

// The max-abs grid as decimate_maxabs defines it, over the rows listed.
std::vector<float> expected_bins(const std::vector<int64_t>& rows_read, int64_t row0, int64_t row_step,
                                 int64_t bin_rows, int64_t col_step, int64_t bin_cols, int layer, int tensor) {
  std::vector<float> bins(static_cast<size_t>(bin_rows * bin_cols), std::numeric_limits<float>::quiet_NaN());
  for (int64_t r : rows_read)
    for (int64_t c = 0; c < kE; ++c) {
      const float v = value(row0 + r, layer, tensor, c);
      float& o = bins[static_cast<size_t>((r / row_step) * bin_cols + c / col_step)];
      if (std::isnan(o) || std::abs(v) > std::abs(o)) o = v;
    }
  return bins;
}

std::vector<float> expected_absmax(const std::vector<int64_t>& rows, int64_t row0, int layer, int tensor) {
  std::vector<float> m(static_cast<size_t>(kE), 0.0f);
  for (int64_t r : rows)
    for (int64_t c = 0; c < kE; ++c) m[c] = std::max(m[c], std::abs(value(row0 + r, layer, tensor, c)));
  return m;
}

std::vector<int64_t> range(int64_t a, int64_t b) {
  std::vector<int64_t> v;
  for (int64_t i = a; i < b; ++i) v.push_back(i);
  return v;
}

}  // namespace

class TestDumpReadWorker : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase();
  void sliceFiguresMatchTheSyntheticValues();
  void sampledHeatmapReadsLeadingRowsOfEachBin();
  void twinAndSelectedRowWithCodes();
  void newRequestCancelsTheOneBefore();
  void cancelAllDropsEverything();
  void destructorWithJobsInFlight();
  void badFilesFailNamingTheProblem();
  void diffFindsThePlantedDifference();

 private:
  QString path(const char* name) const { return dir_.filePath(QString::fromLatin1(name)); }
  DumpTensorRequest request(const QString& file, const char* dataset) const {
    DumpTensorRequest q;
    q.path = file;
    q.dataset = QString::fromLatin1(dataset);
    return q;
  }
  QTemporaryDir dir_;
  QString small_, long_, planted_;
};

void TestDumpReadWorker::initTestCase() {
  QVERIFY(dir_.isValid());
  small_ = path("small.h5");
  long_ = path("long.h5");
  planted_ = path("planted.h5");
  sm_test::SyntheticDump s;  // 100 tokens, d_model 16, 4 layers
  sm_test::write_synthetic_dump(small_.toStdString(), s);
  sm_test::SyntheticDump p = s;
  p.plant = [](int64_t t, int l, const std::string& name, int64_t c, float v) {
    return t == 41 && l == 2 && name == "conv_out" && c == 5 ? v + 0.5f : v;
  };
  sm_test::write_synthetic_dump(planted_.toStdString(), p);
  sm_test::SyntheticDump lg = s;
  lg.tokens = 640;
  sm_test::write_synthetic_dump(long_.toStdString(), lg);
}

void TestDumpReadWorker::sliceFiguresMatchTheSyntheticValues() {
  DumpTensorRequest q = request(small_, "/layers/1/conv_out");
  q.max_bin_rows = 7;
  q.max_bin_cols = 5;
  q.histogram_bins = 16;
  q.selected_row = 42;
  const DumpTensorResult r = read_tensor_slice(q);
  QCOMPARE(r.info.rows(), int64_t(100));
  QCOMPARE(r.info.cols(), kE);
  // Every row read (100 < max_read_rows): an exact reduction into 7 x 5 bins of 15 rows x 7 channels.
  const sm::Heatmap& h = r.heatmap;
  QCOMPARE(h.rows_read, int64_t(100));
  QVERIFY(!h.sampled);
  QCOMPARE(h.row_step, int64_t(15));
  QCOMPARE(h.col_step, int64_t(7));
  QCOMPARE(h.bin_rows, int64_t(7));
  QCOMPARE(h.bin_cols, int64_t(5));
  const auto bins = expected_bins(range(0, 100), 0, 15, 7, 7, 5, 1, kConvOut);
  QCOMPARE(h.values.size(), bins.size());
  for (size_t i = 0; i < bins.size(); ++i) QCOMPARE(h.values[i], bins[i]);
  // Absmax per channel, histogram of every value.
  QCOMPARE(r.absmax, expected_absmax(range(0, 100), 0, 1, kConvOut));
  QCOMPARE(r.histogram.total(), int64_t(100 * kE));
  QCOMPARE(r.histogram.counts.size(), size_t(16));
  QCOMPARE(r.histogram.nonfinite, int64_t(0));
  QCOMPARE(r.values_read, int64_t(100 * kE));
  double lo = 1e9, hi = -1e9, sum = 0;
  for (int64_t t = 0; t < 100; ++t)
    for (int64_t c = 0; c < kE; ++c) {
      lo = std::min(lo, double(value(t, 1, kConvOut, c)));
      hi = std::max(hi, double(value(t, 1, kConvOut, c)));
      sum += value(t, 1, kConvOut, c);
    }
  QCOMPARE(r.histogram.lo, lo);
  QCOMPARE(r.histogram.hi, hi);
  QVERIFY(std::abs(r.outliers.mean - sum / double(100 * kE)) < 1e-9);
  QVERIFY(r.outliers.channels.empty());  // a sine has nothing beyond 6 sigma
  QVERIFY(r.twin.isEmpty());             // conv_out has no rotation twin
  // The selected row, position 42, fp32 (no codes for conv_out).
  QCOMPARE(r.row.row, int64_t(42));
  QCOMPARE(r.row.position, int64_t(42));
  QVERIFY(!r.row.quantized());
  QCOMPARE(int64_t(r.row.values.size()), kE);
  for (int64_t c = 0; c < kE; ++c) QCOMPARE(r.row.values[c], value(42, 1, kConvOut, c));

  // A slice: rows [10, 30) only.
  q.row0 = 10;
  q.rows = 20;
  q.max_bin_rows = 512;
  q.max_bin_cols = 1024;
  const DumpTensorResult s = read_tensor_slice(q);
  QCOMPARE(s.heatmap.rows, int64_t(20));
  QCOMPARE(s.heatmap.rows_read, int64_t(20));
  QCOMPARE(s.heatmap.bin_rows, int64_t(20));
  QCOMPARE(s.heatmap.bin_cols, kE);
  QCOMPARE(s.heatmap.at(3, 7), value(13, 1, kConvOut, 7));  // one value per bin: the value itself
  QCOMPARE(s.absmax, expected_absmax(range(0, 20), 10, 1, kConvOut));
  QCOMPARE(s.histogram.total(), int64_t(20 * kE));
}

void TestDumpReadWorker::sampledHeatmapReadsLeadingRowsOfEachBin() {
  // 640 rows, a budget of 40 rows in 4 bins of 160: each bin reads its first 10 rows.
  DumpTensorRequest q = request(long_, "/layers/3/conv_out");
  q.max_bin_rows = 4;
  q.max_bin_cols = 32;
  q.max_read_rows = 40;
  const DumpTensorResult r = read_tensor_slice(q);
  const sm::Heatmap& h = r.heatmap;
  QVERIFY(h.sampled);
  QCOMPARE(h.rows, int64_t(640));
  QCOMPARE(h.row_step, int64_t(160));
  QCOMPARE(h.rows_read, int64_t(40));
  std::vector<int64_t> read;
  for (int64_t b = 0; b < 4; ++b)
    for (int64_t i = 0; i < 10; ++i) read.push_back(b * 160 + i);
  const auto bins = expected_bins(read, 0, 160, 4, 1, 32, 3, kConvOut);
  for (size_t i = 0; i < bins.size(); ++i) QCOMPARE(h.values[i], bins[i]);
  QCOMPARE(r.histogram.total(), int64_t(40 * kE));
  QCOMPARE(r.absmax, expected_absmax(read, 0, 3, kConvOut));

  // A slice from row 5: 60 bins of 10 rows, 3 read in each, several bins per 64-row chunk
  // (served from one read of the chunk) and some reads across two chunks.
  q.row0 = 5;
  q.rows = 600;
  q.max_bin_rows = 60;
  q.max_read_rows = 180;
  const DumpTensorResult s = read_tensor_slice(q);
  QVERIFY(s.heatmap.sampled);
  QCOMPARE(s.heatmap.row_step, int64_t(10));
  QCOMPARE(s.heatmap.rows_read, int64_t(180));
  std::vector<int64_t> sread;
  for (int64_t b = 0; b < 60; ++b)
    for (int64_t i = 0; i < 3; ++i) sread.push_back(b * 10 + i);
  const auto sbins = expected_bins(sread, 5, 10, 60, 1, 32, 3, kConvOut);
  QCOMPARE(s.heatmap.values.size(), sbins.size());
  for (size_t i = 0; i < sbins.size(); ++i) QCOMPARE(s.heatmap.values[i], sbins[i]);
  QCOMPARE(s.absmax, expected_absmax(sread, 5, 3, kConvOut));
}

void TestDumpReadWorker::twinAndSelectedRowWithCodes() {
  DumpTensorRequest q = request(small_, "/layers/2/out_proj_in");
  q.selected_row = 9;
  const DumpTensorResult r = read_tensor_slice(q);
  QCOMPARE(r.twin, QStringLiteral("/layers/2/out_proj_in_unrotated"));
  QVERIFY(r.twin_is_unrotated);
  QCOMPARE(r.absmax, expected_absmax(range(0, 100), 0, 2, kOutProjIn));
  QCOMPARE(r.twin_absmax, expected_absmax(range(0, 100), 0, 2, kUnrotated));
  QVERIFY(r.absmax != r.twin_absmax);
  // The row: the float values beside 4-bit codes in groups of 8.
  QCOMPARE(r.row.dataset, QStringLiteral("/layers/2/out_proj_in"));
  QVERIFY(r.row.quantized());
  QCOMPARE(r.row.bits, 4);
  QCOMPARE(r.row.group, int64_t(8));
  QCOMPARE(int64_t(r.row.codes.size()), kE);
  QCOMPARE(int64_t(r.row.exponents.size()), kE / 8);
  QCOMPARE(int64_t(r.quant.dequantized.size()), kE);
  double max_err = 0;
  for (int64_t c = 0; c < kE; ++c) {
    QCOMPARE(r.row.values[c], value(9, 2, kOutProjIn, c));
    const float deq = std::ldexp(r.row.codes[c], int(r.row.exponents[c / 8]));
    QCOMPARE(r.quant.dequantized[c], deq);
    QCOMPARE(r.quant.error[c], deq - r.row.values[c]);
    max_err = std::max(max_err, double(std::abs(deq - r.row.values[c])));
  }
  QCOMPARE(r.quant.max_abs, max_err);
  QVERIFY(max_err > 0);

  // The unrotated twin: its own values, paired with the rotated one; no codes (those are of the rotated row).
  const DumpTensorResult u = read_tensor_slice(request(small_, "/layers/2/out_proj_in_unrotated"));
  QCOMPARE(u.twin, QStringLiteral("/layers/2/out_proj_in"));
  QVERIFY(!u.twin_is_unrotated);
  QCOMPARE(u.row.dataset, QStringLiteral("/layers/2/out_proj_in_unrotated"));
  QVERIFY(!u.row.quantized());
  for (int64_t c = 0; c < kE; ++c) QCOMPARE(u.row.values[c], value(0, 2, kUnrotated, c));

  // A codes dataset selected: the base tensor's values beside the codes.
  const DumpTensorResult k = read_tensor_slice(request(small_, "/layers/2/out_proj_in_codes"));
  QCOMPARE(k.row.dataset, QStringLiteral("/layers/2/out_proj_in"));
  QVERIFY(k.row.quantized());
  for (int64_t c = 0; c < kE; ++c) QVERIFY(std::abs(k.row.codes[c]) <= 7);
  QCOMPARE(k.histogram.total(), int64_t(100 * kE));
  QVERIFY(k.histogram.lo >= -7 && k.histogram.hi <= 7);
}

void TestDumpReadWorker::newRequestCancelsTheOneBefore() {
  DumpReadWorker w;
  QSignalSpy ready(&w, &DumpReadWorker::tensorReady);
  QSignalSpy failed(&w, &DumpReadWorker::failed);
  QSignalSpy cancelled(&w, &DumpReadWorker::cancelled);
  // The first request would take 10 blocks x 200 ms; the second is read without delay.
  w.setBlockDelayForTest(200);
  QElapsedTimer t;
  t.start();
  w.readTensor(request(long_, "/layers/0/conv_out"));
  QVERIFY(w.tensorBusy());
  w.setBlockDelayForTest(0);
  w.readTensor(request(long_, "/layers/1/mixer_out"));
  QVERIFY(ready.wait(10000));
  QTRY_VERIFY_WITH_TIMEOUT(!w.isBusy(), 10000);
  const qint64 ms = t.elapsed();
  QVERIFY2(ms < 1500, qPrintable(QStringLiteral("%1 ms: the first read was not cancelled").arg(ms)));
  QCOMPARE(ready.count(), 1);
  const auto res = ready.first().first().value<DumpTensorResult>();
  QCOMPARE(res.request.dataset, QStringLiteral("/layers/1/mixer_out"));
  QCOMPARE(res.heatmap.rows_read, int64_t(640));
  QCOMPARE(failed.count(), 0);
  QCOMPARE(cancelled.count(), 0);  // the superseded result is dropped, not reported
  QVERIFY(!w.tensorBusy());

  // A row-only request is its own kind: it does not cancel a full read.
  w.readTensor(request(small_, "/layers/0/hidden_in"));
  DumpTensorRequest row = request(small_, "/layers/0/hidden_in");
  row.row_only = true;
  row.selected_row = 17;
  QSignalSpy rows(&w, &DumpReadWorker::rowReady);
  w.readTensor(row);
  QTRY_VERIFY_WITH_TIMEOUT(!w.isBusy(), 10000);
  QCOMPARE(ready.count(), 2);
  QCOMPARE(rows.count(), 1);
  const auto rr = rows.first().first().value<DumpTensorResult>();
  QCOMPARE(rr.row.row, int64_t(17));
  QCOMPARE(rr.heatmap.rows_read, int64_t(0));  // no heatmap for a row
  QCOMPARE(rr.row.values[3], value(17, 0, 0, 3));
}

void TestDumpReadWorker::cancelAllDropsEverything() {
  DumpReadWorker w;
  QSignalSpy ready(&w, &DumpReadWorker::tensorReady);
  QSignalSpy diffs(&w, &DumpReadWorker::diffReady);
  QSignalSpy failed(&w, &DumpReadWorker::failed);
  w.setBlockDelayForTest(200);
  QElapsedTimer t;
  t.start();
  w.readTensor(request(long_, "/layers/0/conv_out"));
  w.diff(small_, planted_, 0.0);
  QVERIFY(w.isBusy());
  w.cancelAll();
  QVERIFY(!w.tensorBusy());
  QTRY_VERIFY_WITH_TIMEOUT(!w.isBusy(), 10000);
  QVERIFY2(t.elapsed() < 1500, qPrintable(QString::number(t.elapsed())));
  QCOMPARE(ready.count(), 0);
  QCOMPARE(diffs.count(), 0);
  QCOMPARE(failed.count(), 0);
  // The worker still works afterwards.
  w.setBlockDelayForTest(0);
  w.readTensor(request(small_, "/layers/0/conv_out"));
  QVERIFY(ready.wait(10000));
  QCOMPARE(ready.count(), 1);
}

void TestDumpReadWorker::destructorWithJobsInFlight() {
  auto* w = new DumpReadWorker;
  QSignalSpy destroyed(w, &QObject::destroyed);
  w->setBlockDelayForTest(300);
  w->readTensor(request(long_, "/layers/0/conv_out"));
  DumpTensorRequest row = request(long_, "/layers/0/conv_out");
  row.row_only = true;
  w->readTensor(row);
  w->diff(long_, long_, 0.0);
  QCOMPARE(w->isBusy(), true);
  QElapsedTimer t;
  t.start();
  delete w;  // cancels and joins: within about one block delay, not the 3 s the read would take
  QVERIFY2(t.elapsed() < 2000, qPrintable(QString::number(t.elapsed())));
  QCOMPARE(destroyed.count(), 1);
  QCoreApplication::processEvents();  // results posted to the dead worker are discarded
  QCoreApplication::sendPostedEvents();
}

void TestDumpReadWorker::badFilesFailNamingTheProblem() {
  const QString missing = path("nope.h5");
  const QString text = path("text.h5");
  {
    QFile f(text);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("this is not HDF5\n");
  }
  const QString trace = path("trace.h5");  // an HDF5 file, but a run trace
  {
    auto sink = sm::make_hdf5_sink(trace.toStdString());
    sink->flush();
  }
  QVERIFY(QFile::exists(trace));
  struct Case {
    QString file;
    QString dataset;
    QString expect;
  } cases[] = {{missing, "/layers/0/conv_out", "no such file"},
               {text, "/layers/0/conv_out", "not an HDF5 file"},
               {trace, "/layers/0/conv_out", "not a SpecMamba activation dump"},
               {small_, "/layers/7/conv_out", "no dataset /layers/7/conv_out"}};
  DumpReadWorker w;
  for (const Case& c : cases) {
    QSignalSpy failed(&w, &DumpReadWorker::failed);
    QSignalSpy ready(&w, &DumpReadWorker::tensorReady);
    DumpTensorRequest q;
    q.path = c.file;
    q.dataset = c.dataset;
    w.readTensor(q);
    QVERIFY(failed.wait(10000));
    const QString msg = failed.first().first().toString();
    QVERIFY2(msg.contains(c.expect), qPrintable(msg));
    QVERIFY2(msg.contains(c.file), qPrintable(msg));
    QCOMPARE(ready.count(), 0);
    QTRY_VERIFY(!w.isBusy());
    QVERIFY(!w.tensorBusy());
  }
  // The diff names the bad side.
  QSignalSpy failed(&w, &DumpReadWorker::failed);
  w.diff(small_, trace, 0.0);
  QVERIFY(failed.wait(10000));
  QVERIFY2(failed.first().first().toString().contains(QStringLiteral("not a SpecMamba activation dump")),
           qPrintable(failed.first().first().toString()));
  // A diff heatmap against a bad file keeps the tensor and says why in diff_error.
  DumpTensorRequest q = request(small_, "/layers/0/conv_out");
  q.diff_path = missing;
  const DumpTensorResult r = read_tensor_slice(q);
  QCOMPARE(r.heatmap.rows_read, int64_t(100));
  QVERIFY2(r.diff_error.contains(QStringLiteral("no such file")), qPrintable(r.diff_error));
  QCOMPARE(r.diff.rows, int64_t(0));
}

void TestDumpReadWorker::diffFindsThePlantedDifference() {
  DumpReadWorker w;
  QSignalSpy diffs(&w, &DumpReadWorker::diffReady);
  QSignalSpy failed(&w, &DumpReadWorker::failed);
  w.diff(small_, planted_, 0.0);
  QVERIFY(diffs.wait(10000));
  QCOMPARE(failed.count(), 0);
  const auto d = diffs.first().first().value<sm::DumpDiff>();
  QVERIFY(d.differs());
  QCOMPARE(d.first_position, int64_t(41));
  QCOMPARE(d.first_layer, 2);
  QCOMPARE(d.first_dataset, std::string("/layers/2/conv_out"));
  QCOMPARE(d.first_col, int64_t(5));
  QCOMPARE(d.first_b - d.first_a, double(value(41, 2, kConvOut, 5) + 0.5f) - double(value(41, 2, kConvOut, 5)));
  QCOMPARE(d.positions, int64_t(100));
  QCOMPARE(d.first_token_mismatch, int64_t(-1));
  // Identical dumps: no difference.
  w.diff(small_, small_, 0.0);
  QVERIFY(diffs.wait(10000));
  QVERIFY(!diffs.last().first().value<sm::DumpDiff>().differs());

  // The diff heatmap of the tensor: a - b is -0.5 at (41, 5), zero elsewhere.
  DumpTensorRequest q = request(small_, "/layers/2/conv_out");
  q.diff_path = planted_;
  const DumpTensorResult r = read_tensor_slice(q);
  QVERIFY2(r.diff_error.isEmpty(), qPrintable(r.diff_error));
  QCOMPARE(r.diff.rows, int64_t(100));
  QCOMPARE(r.diff.bin_rows, int64_t(100));
  QCOMPARE(r.diff.bin_cols, kE);
  int nonzero = 0;
  for (int64_t br = 0; br < r.diff.bin_rows; ++br)
    for (int64_t bc = 0; bc < r.diff.bin_cols; ++bc)
      if (r.diff.at(br, bc) != 0.0f) {
        ++nonzero;
        QCOMPARE(br, int64_t(41));
        QCOMPARE(bc, int64_t(5));
        QCOMPARE(r.diff.at(br, bc), value(41, 2, kConvOut, 5) - (value(41, 2, kConvOut, 5) + 0.5f));
      }
  QCOMPARE(nonzero, 1);

  // Sampled: 10 bins of 10 rows, 2 read in each; bin 4 reads positions 40 and 41.
  q.max_bin_rows = 10;
  q.max_read_rows = 20;
  const DumpTensorResult sr = read_tensor_slice(q);
  QVERIFY(sr.diff.sampled);
  QCOMPARE(sr.diff.rows_read, int64_t(20));
  for (int64_t br = 0; br < 10; ++br)
    for (int64_t bc = 0; bc < kE; ++bc)
      QCOMPARE(sr.diff.at(br, bc), br == 4 && bc == 5 ? r.diff.at(41, 5) : 0.0f);
}

QTEST_MAIN(TestDumpReadWorker)
#include "tst_dump_read_worker.moc"
