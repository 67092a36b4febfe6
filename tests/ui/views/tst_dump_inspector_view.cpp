// SPDX-License-Identifier: Apache-2.0
// The dump inspector view: opening a dump selects its first tensor and draws
// heatmap, histogram and absmax (figures checked against the synthetic
// formula); out_proj_in shows the absmax before and after the rotation side
// by side; a quantized model's dump shows codes and exponents in the table;
// a bad file keeps the dump shown before and says why; a diff with a
// planted difference names its token and layer; "Dump current prompt" writes
// a dump and opens it.
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include "core/dump/dump_generate.h"
#include "core/dump/dump_reader.h"
#include "core/dump/dump_writer.h"
#include "core/model/generator.h"
#include "core/model/mamba_model.h"
#include "core/quant/quant_config.h"
#include "core/quant/quantize_model.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/core/dump/synthetic_dump.h"

#include <QDir>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTreeView>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <qcustomplot.h>

#include "ui/models/dump_diff_model.h"
#include "ui/models/dump_table_model.h"
#include "ui/models/dump_tree_model.h"
#include "ui/views/dump_inspector_view.h"

using namespace sm::ui;

namespace {

QString shippedTarget() { return QDir::cleanPath(QStringLiteral(SPECMAMBA_TEST_DATA "/../../data/models/mamba2-target")); }

float value(int64_t t, int layer, int tensor, int64_t c) { return sm_test::synthetic_value(t, layer, tensor, c); }

std::vector<double> absmax_of(int layer, int tensor, int64_t rows, int64_t cols) {
  std::vector<double> m(static_cast<size_t>(cols), 0.0);
  for (int64_t t = 0; t < rows; ++t)
    for (int64_t c = 0; c < cols; ++c) m[c] = std::max(m[c], double(std::abs(value(t, layer, tensor, c))));
  return m;
}

std::vector<double> bar_values(QCPBars* bars) {
  std::vector<double> v;
  for (auto it = bars->data()->constBegin(); it != bars->data()->constEnd(); ++it) v.push_back(it->value);
  return v;
}

// Waits for tensorShown(dataset); false on time-out.
bool waitShown(QSignalSpy& shown, const QString& dataset) {
  for (int i = 0; i < 100; ++i) {
    for (const auto& args : shown)
      if (args.first().toString() == dataset) return true;
    if (!shown.wait(200)) continue;
  }
  return false;
}

}  // namespace

class TestDumpInspectorView : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase();
  void openSelectsTheFirstTensorAndDraws();
  void outProjInShowsTheRotationTwin();
  void quantizedDumpShowsCodesAndExponents();
  void badFileKeepsThePreviousDump();
  void diffNamesThePlantedTokenAndLayer();
  void startDumpWritesAndOpens();

 private:
  QTemporaryDir dir_;
  QString small_, planted_, no_twin_;
};

void TestDumpInspectorView::initTestCase() {
  QVERIFY(dir_.isValid());
  small_ = dir_.filePath(QStringLiteral("small.h5"));
  planted_ = dir_.filePath(QStringLiteral("planted.h5"));
  no_twin_ = dir_.filePath(QStringLiteral("no_twin.h5"));
  sm_test::SyntheticDump s;  // 100 tokens, d_model 16 (d_inner 32), 4 layers
  sm_test::write_synthetic_dump(small_.toStdString(), s);
  sm_test::SyntheticDump p = s;
  p.plant = [](int64_t t, int l, const std::string& name, int64_t c, float v) {
    return t == 41 && l == 2 && name == "conv_out" && c == 5 ? v + 0.5f : v;
  };
  sm_test::write_synthetic_dump(planted_.toStdString(), p);
  sm_test::SyntheticDump n = s;
  n.unrotated_twin = false;
  sm_test::write_synthetic_dump(no_twin_.toStdString(), n);
}

void TestDumpInspectorView::openSelectsTheFirstTensorAndDraws() {
  DumpInspectorView v;
  v.resize(1100, 700);
  v.show();
  QSignalSpy opened(&v, &DumpInspectorView::dumpOpened);
  QSignalSpy shown(&v, &DumpInspectorView::tensorShown);
  QString error;
  QVERIFY2(v.openDump(small_, &error), qPrintable(error));
  QCOMPARE(opened.count(), 1);
  QCOMPARE(v.dumpPath(), small_);
  QCOMPARE(v.currentDataset(), QStringLiteral("/layers/0/hidden_in"));
  QVERIFY(v.diffAction()->isEnabled());
  QVERIFY(shown.wait(10000));
  QCOMPARE(shown.first().first().toString(), QStringLiteral("/layers/0/hidden_in"));
  QVERIFY(v.errorText().isEmpty());
  QCOMPARE(v.treeView()->currentIndex(), v.treeModel()->indexOf(QStringLiteral("/layers/0/hidden_in")));
  QCOMPARE(v.treeModel()->rowCount(), 4 + 2);

  // Heatmap: 100 rows x 16 channels fit the grid, one value per cell.
  QCPColorMapData* hm = v.heatmap()->data();
  QCOMPARE(hm->keySize(), 16);
  QCOMPARE(hm->valueSize(), 100);
  for (int t : {0, 7, 99})
    for (int c : {0, 3, 15}) QCOMPARE(hm->cell(c, t), double(value(t, 0, 0, c)));
  QVERIFY(v.heatmap()->dataRange().upper > 0.9);
  // Histogram: 64 bins holding every value.
  const std::vector<double> hist = bar_values(v.histogramBars());
  QCOMPARE(hist.size(), size_t(64));
  double total = 0;
  for (double h : hist) total += h;
  QCOMPARE(total, 100.0 * 16);
  // Absmax per channel.
  QCOMPARE(bar_values(v.absmaxBars()), absmax_of(0, 0, 100, 16));
  QVERIFY(v.twinAbsmaxPlot()->isHidden());
  // The table: row 0, fp32.
  QCOMPARE(v.tableModel()->rowCount(), 16);
  QCOMPARE(v.tableModel()->columnCount(), 2);
  QCOMPARE(v.tableModel()->index(4, DumpTableModel::ValueColumn).data(DumpTableModel::NumberRole).toDouble(),
           double(value(0, 0, 0, 4)));

  // Picking another tensor in the tree reads it.
  v.treeView()->setCurrentIndex(v.treeModel()->indexOf(QStringLiteral("/layers/3/mixer_out")));
  QCOMPARE(v.currentDataset(), QStringLiteral("/layers/3/mixer_out"));
  QVERIFY(waitShown(shown, QStringLiteral("/layers/3/mixer_out")));
  QCOMPARE(v.heatmap()->data()->cell(2, 50), double(value(50, 3, 4, 2)));
  QCOMPARE(bar_values(v.absmaxBars()), absmax_of(3, 4, 100, 16));
  // A token row for the table.
  QSignalSpy reset(v.tableModel(), &QAbstractItemModel::modelReset);
  v.setSelectedRow(61);
  QVERIFY(reset.wait(10000));
  QCOMPARE(v.selectedRow(), qint64(61));
  QCOMPARE(v.tableModel()->slice().row, int64_t(61));
  QCOMPARE(v.tableModel()->index(9, DumpTableModel::ValueColumn).data(DumpTableModel::NumberRole).toDouble(),
           double(value(61, 3, 4, 9)));
  QVERIFY(!v.selectDataset(QStringLiteral("/layers/9/hidden_in")));
}

void TestDumpInspectorView::outProjInShowsTheRotationTwin() {
  DumpInspectorView v;
  v.resize(1100, 700);
  v.show();
  QSignalSpy shown(&v, &DumpInspectorView::tensorShown);
  QVERIFY(v.openDump(small_));
  QVERIFY(waitShown(shown, QStringLiteral("/layers/0/hidden_in")));
  QVERIFY(v.selectDataset(QStringLiteral("/layers/1/out_proj_in")));
  QVERIFY(waitShown(shown, QStringLiteral("/layers/1/out_proj_in")));
  QVERIFY(!v.twinAbsmaxPlot()->isHidden());
  QCOMPARE(bar_values(v.absmaxBars()), absmax_of(1, 3, 100, 32));      // after the rotation
  QCOMPARE(bar_values(v.twinAbsmaxBars()), absmax_of(1, 2, 100, 32));  // before: out_proj_in_unrotated
  QCOMPARE(v.lastResult()->twin, QStringLiteral("/layers/1/out_proj_in_unrotated"));
  // The unrotated one goes left.
  auto* layout = v.absmaxBars()->parentPlot()->parentWidget()->layout();
  QVERIFY(layout->indexOf(v.twinAbsmaxPlot()) < layout->indexOf(v.absmaxBars()->parentPlot()));
  // The codes of out_proj_in in the table.
  QCOMPARE(v.tableModel()->columnCount(), int(DumpTableModel::ColumnCount));
  // Back to a tensor without a twin: one plot.
  QVERIFY(v.selectDataset(QStringLiteral("/layers/1/conv_out")));
  QVERIFY(waitShown(shown, QStringLiteral("/layers/1/conv_out")));
  QVERIFY(v.twinAbsmaxPlot()->isHidden());
  // A dump without out_proj_in_unrotated: no twin for out_proj_in either.
  shown.clear();
  QVERIFY(v.openDump(no_twin_));
  QVERIFY(waitShown(shown, QStringLiteral("/layers/0/hidden_in")));
  QVERIFY(v.selectDataset(QStringLiteral("/layers/1/out_proj_in")));
  QVERIFY(waitShown(shown, QStringLiteral("/layers/1/out_proj_in")));
  QVERIFY(v.twinAbsmaxPlot()->isHidden());
  QVERIFY(v.lastResult()->twin.isEmpty());
}

void TestDumpInspectorView::quantizedDumpShowsCodesAndExponents() {
  // Quantize the shipped target (w4a4, rotated, plain rounding) as `specmamba quantize --no-calibrate` does.
  const std::string src = QFile::encodeName(shippedTarget()).toStdString();
  const std::string qdir = QFile::encodeName(dir_.filePath(QStringLiteral("w4a4"))).toStdString();
  sm::quant::QuantConfig qc = sm::quant::QuantConfig::preset("w4a4", true);
  qc.linear_weights.group = qc.lm_head_weights.group = static_cast<int>(sm::quant::default_weight_group(src));
  qc.validate("test");
  sm::quant::quantize_model(src, qdir, qc);
  // Dump four generated tokens of it.
  const QString path = dir_.filePath(QStringLiteral("w4a4.h5"));
  {
    auto m = sm::MambaModel::load(qdir);
    auto tok = sm::load_tokenizer_for_model(qdir);
    sm::DumpOptions o;
    o.model = qdir;
    sm::DumpWriter w(QFile::encodeName(path).toStdString(), *m, o);
    sm::GenerateOptions g;
    g.max_tokens = 4;
    const auto prompt = tok->encode("And God said");
    sm::generate_with_dump(*m, *tok, prompt, g, w);
  }
  const sm::DumpReader r(QFile::encodeName(path).toStdString());
  QVERIFY(r.attributes().rotation);
  const std::string name = "/layers/1/in_proj_in";
  QVERIFY(r.has(name + "_codes"));

  DumpInspectorView v;
  v.resize(1100, 700);
  v.show();
  QSignalSpy shown(&v, &DumpInspectorView::tensorShown);
  QVERIFY(v.openDump(path));
  QVERIFY(waitShown(shown, QStringLiteral("/layers/0/hidden_in")));
  QVERIFY(v.selectDataset(QString::fromStdString(name)));
  QVERIFY(waitShown(shown, QString::fromStdString(name)));
  DumpTableModel* t = v.tableModel();
  QVERIFY(t->slice().quantized());
  QCOMPARE(t->columnCount(), int(DumpTableModel::ColumnCount));
  QCOMPARE(t->slice().bits, 4);
  const int64_t group = r.info(name + "_codes").group;
  QCOMPARE(t->slice().group, group);
  const int64_t cols = r.info(name).cols();
  QCOMPARE(t->rowCount(), int(cols));
  const auto values = r.read(name, 0, 1), codes = r.read(name + "_codes", 0, 1), exps = r.read(name + "_exponent", 0, 1);
  int nonzero = 0;
  for (int c = 0; c < cols; ++c) {
    auto num = [&](int col) { return t->index(c, col).data(DumpTableModel::NumberRole).toDouble(); };
    QCOMPARE(num(DumpTableModel::ValueColumn), double(values[c]));
    QCOMPARE(num(DumpTableModel::CodeColumn), double(codes[c]));
    QVERIFY(std::abs(codes[c]) <= 7);
    QCOMPARE(num(DumpTableModel::ExponentColumn), double(exps[c / group]));
    const double deq = std::ldexp(double(codes[c]), int(exps[c / group]));
    QCOMPARE(num(DumpTableModel::DequantColumn), deq);
    QCOMPARE(num(DumpTableModel::ErrorColumn), deq - double(values[c]));
    if (codes[c] != 0) ++nonzero;
  }
  QVERIFY(nonzero > cols / 2);
  QVERIFY(v.lastResult()->quant.max_abs > 0);
  // A codes dataset itself: its heatmap holds integers, the table the same pairing.
  QVERIFY(v.selectDataset(QString::fromStdString(name + "_codes")));
  QVERIFY(waitShown(shown, QString::fromStdString(name + "_codes")));
  QVERIFY(v.tableModel()->slice().quantized());
  QVERIFY(v.heatmap()->dataRange().upper <= 7.0);
}

void TestDumpInspectorView::badFileKeepsThePreviousDump() {
  const QString text = dir_.filePath(QStringLiteral("notes.h5"));
  {
    QFile f(text);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("plain text\n");
  }
  DumpInspectorView v;
  QSignalSpy shown(&v, &DumpInspectorView::tensorShown);
  QSignalSpy errors(&v, &DumpInspectorView::errorShown);
  QVERIFY(v.openDump(small_));
  QVERIFY(waitShown(shown, QStringLiteral("/layers/0/hidden_in")));
  QVERIFY(v.selectDataset(QStringLiteral("/layers/2/conv_out")));
  QVERIFY(waitShown(shown, QStringLiteral("/layers/2/conv_out")));
  QString error;
  QVERIFY(!v.openDump(text, &error));
  QVERIFY2(error.contains(QStringLiteral("not an HDF5 file")), qPrintable(error));
  QVERIFY(error.contains(text));
  QCOMPARE(v.errorText(), error);
  QCOMPARE(errors.count(), 1);
  // Still the dump and tensor shown before.
  QCOMPARE(v.dumpPath(), small_);
  QCOMPARE(v.currentDataset(), QStringLiteral("/layers/2/conv_out"));
  QCOMPARE(v.treeModel()->rowCount(), 6);
  QCOMPARE(v.lastResult()->request.dataset, QStringLiteral("/layers/2/conv_out"));
  QVERIFY(!v.openDump(dir_.filePath(QStringLiteral("missing.h5")), &error));
  QVERIFY2(error.contains(QStringLiteral("no such file")), qPrintable(error));
  QCOMPARE(v.dumpPath(), small_);
  // The view still works: another tensor is read, and a good open clears the error.
  QVERIFY(v.selectDataset(QStringLiteral("/layers/3/conv_out")));
  QVERIFY(waitShown(shown, QStringLiteral("/layers/3/conv_out")));
  QVERIFY(v.openDump(planted_));
  QVERIFY(v.errorText().isEmpty());
  QCOMPARE(v.dumpPath(), planted_);
}

void TestDumpInspectorView::diffNamesThePlantedTokenAndLayer() {
  DumpInspectorView v;
  v.resize(1100, 700);
  v.show();
  QSignalSpy shown(&v, &DumpInspectorView::tensorShown);
  QSignalSpy diffs(&v, &DumpInspectorView::diffShown);
  QString error;
  QVERIFY(!v.diffWith(planted_, 0.0, &error));  // nothing open yet
  QVERIFY(!error.isEmpty());
  QVERIFY(v.openDump(small_));
  QVERIFY(waitShown(shown, QStringLiteral("/layers/0/hidden_in")));
  QVERIFY(v.selectDataset(QStringLiteral("/layers/2/conv_out")));
  QVERIFY(waitShown(shown, QStringLiteral("/layers/2/conv_out")));
  shown.clear();
  QVERIFY2(v.diffWith(planted_, 0.0, &error), qPrintable(error));
  QCOMPARE(v.diffPath(), planted_);
  QVERIFY(diffs.wait(10000));
  const QString text = v.diffSummaryText();
  QVERIFY2(text.contains(QStringLiteral("token position 41, layer 2, /layers/2/conv_out channel 5")), qPrintable(text));
  QVERIFY2(text.contains(QStringLiteral("100 common positions")), qPrintable(text));
  QCOMPARE(v.lastDiff()->first_position, int64_t(41));
  QCOMPARE(v.lastDiff()->first_layer, 2);
  QCOMPARE(v.diffModel()->rowCount(), int(v.lastDiff()->datasets.size()));
  const int first = v.diffModel()->rowOf(QStringLiteral("/layers/2/conv_out"));
  QVERIFY(first >= 0);
  QCOMPARE(v.diffModel()->index(first, DumpDiffModel::FirstColumn).data().toString(), QStringLiteral("41"));
  // The current tensor is read again with its diff heatmap: -0.5 at (41, 5), zero elsewhere.
  QVERIFY(waitShown(shown, QStringLiteral("/layers/2/conv_out")));
  QTRY_VERIFY_WITH_TIMEOUT(v.lastResult() && v.lastResult()->request.diff_path == planted_, 10000);
  QCPColorMapData* dm = v.diffHeatmap()->data();
  QCOMPARE(dm->keySize(), 32);
  QCOMPARE(dm->valueSize(), 100);
  QVERIFY(std::abs(dm->cell(5, 41) + 0.5) < 1e-6);
  QCOMPARE(dm->cell(6, 41), 0.0);
  QCOMPARE(dm->cell(5, 40), 0.0);
  // A bad other file: refused, the diff shown stays.
  QVERIFY(!v.diffWith(dir_.filePath(QStringLiteral("missing.h5")), 0.0, &error));
  QVERIFY2(error.contains(QStringLiteral("no such file")), qPrintable(error));
  QCOMPARE(v.diffPath(), planted_);
  // Identical dumps: no difference.
  diffs.clear();
  QVERIFY(v.diffWith(small_));
  QVERIFY(diffs.wait(10000));
  QVERIFY2(v.diffSummaryText().contains(QStringLiteral("No difference")), qPrintable(v.diffSummaryText()));
}

void TestDumpInspectorView::startDumpWritesAndOpens() {
  DumpInspectorView v;
  QSignalSpy written(&v, &DumpInspectorView::dumpWritten);
  QSignalSpy shown(&v, &DumpInspectorView::tensorShown);
  QSignalSpy errors(&v, &DumpInspectorView::errorShown);
  const QString out = dir_.filePath(QStringLiteral("prompt.h5"));
  DumpJobRequest r;
  r.model_dir = shippedTarget();
  r.prompt = QStringLiteral("In the beginning");
  r.out_path = out;
  r.max_tokens = 4;
  QVERIFY(v.startDump(r));
  QVERIFY(!v.dumpAction()->isEnabled());
  QVERIFY(!v.startDump(r));  // one at a time
  QVERIFY(!v.dumpAction()->isEnabled());  // the first one still runs
  QVERIFY(written.wait(60000));
  QCOMPARE(written.first().first().toString(), out);
  QVERIFY(v.dumpAction()->isEnabled());
  QCOMPARE(v.dumpPath(), out);
  QVERIFY(waitShown(shown, QStringLiteral("/layers/0/hidden_in")));
  const auto* res = v.lastResult();
  QVERIFY(res != nullptr);
  QCOMPARE(res->info.cols(), int64_t(192));
  const auto prompt = sm::load_tokenizer_for_model(QFile::encodeName(r.model_dir).toStdString())->encode("In the beginning");
  const sm::DumpReader d(QFile::encodeName(out).toStdString());
  QCOMPARE(d.tokens().size(), prompt.size() + 4 - 1);
  QCOMPARE(res->info.rows(), int64_t(d.tokens().size()));
  QCOMPARE(v.heatmap()->data()->valueSize(), int(d.tokens().size()));
  QCOMPARE(v.heatmap()->data()->keySize(), 192);
  // The refused second start reported why.
  QCOMPARE(errors.count(), 1);
  QVERIFY2(errors.first().first().toString().contains(QStringLiteral("already")),
           qPrintable(errors.first().first().toString()));
}

QTEST_MAIN(TestDumpInspectorView)
#include "tst_dump_inspector_view.moc"
