// SPDX-License-Identifier: Apache-2.0
// The dump inspector's models on synthetic dumps, each under
// QAbstractItemModelTester: the dataset tree (layer groups in numeric order,
// tensors in forward order, indexOf / datasetAt round trip, reset to empty
// and to another dump), the row table (code x 2^exponent and its error,
// codes of the wrong width dropped) and the diff table (rowOf, the first
// differing tensor in bold).
#include "core/dump/dump_diff.h"
#include "core/dump/dump_reader.h"
#include "tests/core/dump/synthetic_dump.h"

#include <QAbstractItemModelTester>
#include <QFont>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "ui/models/dump_diff_model.h"
#include "ui/models/dump_table_model.h"
#include "ui/models/dump_tree_model.h"

using namespace sm::ui;

namespace {

std::string write_dump(const QTemporaryDir& dir, const QString& name, const sm_test::SyntheticDump& s) {
  const std::string p = dir.filePath(name).toStdString();
  sm_test::write_synthetic_dump(p, s);
  return p;
}

sm_test::SyntheticDump small(int64_t tokens, int d_model, int n_layer) {
  sm_test::SyntheticDump s;
  s.tokens = tokens;
  s.cfg = sm_test::synthetic_config(d_model, n_layer);
  return s;
}

}  // namespace

class TestDumpModels : public QObject {
  Q_OBJECT

 private slots:
  void init() { QVERIFY(dir_.isValid()); }

  void treeGroupsLayersInOrder();
  void treeRoundTripsEveryDataset();
  void treeResetsToEmptyAndToAnotherDump();
  void tableShowsDequantizedValuesAndError();
  void tableDropsCodesOfTheWrongWidth();
  void diffModelRowsAndFirstDifference();

 private:
  QTemporaryDir dir_;
};

void TestDumpModels::treeGroupsLayersInOrder() {
  // 12 layers: numeric order (0, 1, 2, ..., 10, 11), never name order (0, 1, 10, 11, 2, ...).
  const sm::DumpReader r(write_dump(dir_, "twelve.h5", small(9, 16, 12)));
  DumpTreeModel m;
  QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
  auto infos = r.datasets();
  std::reverse(infos.begin(), infos.end());  // a caller's list in any order gives the same groups
  m.setDatasets(infos);
  QCOMPARE(m.rowCount(), 12 + 2);  // 12 layer groups, /tokens and /token_index
  for (int l = 0; l < 12; ++l) {
    const QModelIndex g = m.index(l, DumpTreeModel::NameColumn);
    QCOMPARE(g.data().toString(), QStringLiteral("layer %1").arg(l));
    QVERIFY(m.datasetAt(g) == nullptr);
    QVERIFY(!g.data(DumpTreeModel::DatasetRole).isValid());
    // hidden_in, conv_out, out_proj_in_unrotated, out_proj_in, _codes, _exponent, mixer_out
    QCOMPARE(m.rowCount(g), 7);
    QCOMPARE(m.index(0, 0, g).data(DumpTreeModel::DatasetRole).toString(), QStringLiteral("/layers/%1/mixer_out").arg(l));
  }
  // In the reader's order, the tensors follow the forward.
  m.setDatasets(r.datasets());
  const QStringList expect = {"hidden_in", "conv_out", "out_proj_in_unrotated", "out_proj_in", "out_proj_in_codes",
                              "out_proj_in_exponent", "mixer_out"};
  for (int l = 0; l < 12; ++l) {
    const QModelIndex g = m.index(l, 0);
    QCOMPARE(g.data().toString(), QStringLiteral("layer %1").arg(l));
    QStringList got;
    for (int i = 0; i < m.rowCount(g); ++i) got << m.index(i, 0, g).data().toString();
    QCOMPARE(got, expect);
  }
  QCOMPARE(m.index(12, 0).data().toString(), QStringLiteral("/tokens"));
  QCOMPARE(m.index(13, 0).data().toString(), QStringLiteral("/token_index"));
  QCOMPARE(m.rowCount(m.index(12, 0)), 0);
  // Shape, type and bits columns of a codes item.
  const QModelIndex codes = m.indexOf(QStringLiteral("/layers/3/out_proj_in_codes"));
  QCOMPARE(codes.siblingAtColumn(DumpTreeModel::ShapeColumn).data().toString(), QStringLiteral("[9, 32]"));
  QCOMPARE(codes.siblingAtColumn(DumpTreeModel::DtypeColumn).data().toString(), QStringLiteral("int8"));
  QCOMPARE(codes.siblingAtColumn(DumpTreeModel::BitsColumn).data().toString(), QStringLiteral("4-bit / 8"));
  const QModelIndex ex = m.indexOf(QStringLiteral("/layers/3/out_proj_in_exponent"));
  QCOMPARE(ex.siblingAtColumn(DumpTreeModel::ShapeColumn).data().toString(), QStringLiteral("[9, 4]"));
  QCOMPARE(ex.siblingAtColumn(DumpTreeModel::BitsColumn).data().toString(), QStringLiteral("group 8"));
}

void TestDumpModels::treeRoundTripsEveryDataset() {
  const sm::DumpReader r(write_dump(dir_, "four.h5", small(20, 16, 4)));
  DumpTreeModel m;
  QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
  m.setDatasets(r.datasets());
  QCOMPARE(m.datasets().size(), r.datasets().size());
  int seen = 0;
  for (const sm::DumpDatasetInfo& d : r.datasets()) {
    const QString name = QString::fromStdString(d.name);
    const QModelIndex i = m.indexOf(name);
    QVERIFY2(i.isValid(), qPrintable(name));
    QCOMPARE(i.column(), 0);
    const sm::DumpDatasetInfo* back = m.datasetAt(i);
    QVERIFY(back != nullptr);
    QCOMPARE(QString::fromStdString(back->name), name);
    QCOMPARE(back->shape, d.shape);
    QCOMPARE(i.data(DumpTreeModel::DatasetRole).toString(), name);
    // A tensor sits under its layer's group; a root dataset at the top.
    if (name.startsWith(QStringLiteral("/layers/"))) {
      const int layer = name.section(QLatin1Char('/'), 2, 2).toInt();
      QCOMPARE(i.parent().data().toString(), QStringLiteral("layer %1").arg(layer));
      QCOMPARE(i.data().toString(), leafName(d.name));
      QCOMPARE(m.index(i.row(), 0, i.parent()), i);
    } else {
      QVERIFY(!i.parent().isValid());
      QCOMPARE(i.data().toString(), name);
    }
    ++seen;
  }
  QCOMPARE(seen, 4 * 7 + 2);
  QVERIFY(!m.indexOf(QStringLiteral("/layers/4/hidden_in")).isValid());
  QVERIFY(!m.indexOf(QStringLiteral("/logits")).isValid());
  QVERIFY(m.datasetAt({}) == nullptr);
  DumpTreeModel other;
  other.setDatasets(r.datasets());
  QVERIFY(m.datasetAt(other.indexOf(QStringLiteral("/tokens"))) == nullptr);  // another model's index
}

void TestDumpModels::treeResetsToEmptyAndToAnotherDump() {
  const sm::DumpReader a(write_dump(dir_, "a.h5", small(10, 16, 4)));
  const sm::DumpReader b(write_dump(dir_, "b.h5", small(5, 8, 2)));
  DumpTreeModel m;
  QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
  QSignalSpy reset(&m, &QAbstractItemModel::modelReset);
  m.setDatasets(a.datasets());
  QCOMPARE(m.rowCount(), 6);
  m.clear();
  QCOMPARE(m.rowCount(), 0);
  QVERIFY(m.datasets().empty());
  QVERIFY(!m.indexOf(QStringLiteral("/tokens")).isValid());
  m.setDatasets(b.datasets());
  QCOMPARE(m.rowCount(), 2 + 2);
  QCOMPARE(m.rowCount(m.index(1, 0)), 7);
  QVERIFY(!m.indexOf(QStringLiteral("/layers/3/hidden_in")).isValid());
  const QModelIndex h = m.indexOf(QStringLiteral("/layers/1/hidden_in"));
  QCOMPARE(h.siblingAtColumn(DumpTreeModel::ShapeColumn).data().toString(), QStringLiteral("[5, 8]"));
  m.setDatasets(a.datasets());
  QCOMPARE(m.rowCount(), 6);
  QCOMPARE(m.indexOf(QStringLiteral("/layers/1/hidden_in")).siblingAtColumn(DumpTreeModel::ShapeColumn).data().toString(),
           QStringLiteral("[10, 16]"));
  QCOMPARE(reset.count(), 4);
}

void TestDumpModels::tableShowsDequantizedValuesAndError() {
  const sm::DumpReader r(write_dump(dir_, "q.h5", small(12, 16, 2)));
  const std::string name = "/layers/1/out_proj_in";
  const int64_t row = 7, cols = 32, group = 8;
  DumpRowSlice s;
  s.dataset = QString::fromStdString(name);
  s.row = row;
  s.position = row;
  s.values = r.read(name, row, 1);
  s.codes = r.read(name + "_codes", row, 1);
  s.exponents = r.read(name + "_exponent", row, 1);
  s.bits = 4;
  s.group = group;
  QCOMPARE(int64_t(s.values.size()), cols);
  QCOMPARE(int64_t(s.exponents.size()), cols / group);

  DumpTableModel m;
  QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
  m.setSlice(s);
  QVERIFY(m.slice().quantized());
  QCOMPARE(m.rowCount(), int(cols));
  QCOMPARE(m.columnCount(), int(DumpTableModel::ColumnCount));
  double max_err = 0;
  for (int c = 0; c < cols; ++c) {
    // The file's own figures, recomputed here: code and exponent as int8, value = code * 2^e.
    const auto code = static_cast<int8_t>(s.codes[c]);
    const auto e = static_cast<int8_t>(s.exponents[c / group]);
    QVERIFY(code >= -7 && code <= 7);
    const double deq = double(code) * std::pow(2.0, double(e));
    const double value = sm_test::synthetic_value(row, 1, 3, c);
    QCOMPARE(float(value), s.values[c]);
    auto num = [&](int col) { return m.index(c, col).data(DumpTableModel::NumberRole).toDouble(); };
    QCOMPARE(num(DumpTableModel::ChannelColumn), double(c));
    QCOMPARE(num(DumpTableModel::ValueColumn), double(s.values[c]));
    QCOMPARE(num(DumpTableModel::CodeColumn), double(code));
    QCOMPARE(num(DumpTableModel::ExponentColumn), double(e));
    QCOMPARE(num(DumpTableModel::DequantColumn), deq);
    QCOMPARE(m.dequantized(c), deq);
    QCOMPARE(num(DumpTableModel::ErrorColumn), deq - double(s.values[c]));
    QCOMPARE(m.index(c, DumpTableModel::CodeColumn).data().toString(), QString::number(int(code)));
    QCOMPARE(m.index(c, DumpTableModel::ExponentColumn).data().toString(), QStringLiteral("2^%1").arg(int(e)));
    // A saturated code is coloured, the others are not.
    const bool saturated = std::abs(int(code)) >= 7;
    QCOMPARE(m.index(c, DumpTableModel::CodeColumn).data(Qt::ForegroundRole).isValid(), saturated);
    max_err = std::max(max_err, std::abs(deq - double(s.values[c])));
  }
  // Steps of 2^(ceil(log2 absmax) - 3) <= 2^-2 for |x| <= 1.1, codes clamped at 7: error at most one step, not zero.
  QVERIFY(max_err > 0);
  QVERIFY(max_err <= 0.25 + 1e-9);

  // An fp32 row: channel and value only; dequantized is the value.
  DumpRowSlice f;
  f.dataset = QStringLiteral("/layers/1/hidden_in");
  f.values = r.read("/layers/1/hidden_in", 3, 1);
  m.setSlice(f);
  QVERIFY(!m.slice().quantized());
  QCOMPARE(m.columnCount(), 2);
  QCOMPARE(m.rowCount(), 16);
  QCOMPARE(m.dequantized(5), double(f.values[5]));
  QCOMPARE(m.index(5, DumpTableModel::ValueColumn).data(DumpTableModel::NumberRole).toDouble(), double(f.values[5]));
  QVERIFY(!m.index(5, DumpTableModel::CodeColumn).isValid());
  m.clear();
  QCOMPARE(m.rowCount(), 0);
  m.setSlice(s);
  QCOMPARE(m.rowCount(), int(cols));
  QCOMPARE(m.columnCount(), int(DumpTableModel::ColumnCount));
}

void TestDumpModels::tableDropsCodesOfTheWrongWidth() {
  DumpTableModel m;
  QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
  DumpRowSlice s;
  s.values = {0.5f, -1.0f, 2.0f, 0.25f, 1.5f, -0.75f, 3.0f, 0.0f, 1.0f, -2.0f};  // 10 channels, group 4: 3 exponents
  s.codes = {2, -4, 4, 1, 3, -3, 6, 0, 2, -4};
  s.exponents = {-2, -1, -1};
  s.bits = 4;
  s.group = 4;
  m.setSlice(s);
  QVERIFY(m.slice().quantized());
  QCOMPARE(m.columnCount(), int(DumpTableModel::ColumnCount));
  QCOMPARE(m.dequantized(9), -2.0);       // -4 * 2^-1, the last (short) group
  QCOMPARE(m.dequantized(0), 0.5);        // 2 * 2^-2
  QCOMPARE(m.index(6, DumpTableModel::ErrorColumn).data(DumpTableModel::NumberRole).toDouble(), 0.0);  // 6 * 2^-1 = 3

  DumpRowSlice narrow = s;
  narrow.codes.pop_back();  // 9 codes for 10 values
  m.setSlice(narrow);
  QVERIFY(!m.slice().quantized());
  QVERIFY(m.slice().exponents.empty());
  QCOMPARE(m.columnCount(), 2);
  QCOMPARE(m.rowCount(), 10);
  QCOMPARE(m.dequantized(0), 0.5);  // the float value now

  DumpRowSlice wide = s;
  wide.codes.push_back(1);  // 11 codes
  m.setSlice(wide);
  QVERIFY(!m.slice().quantized());
  QCOMPARE(m.columnCount(), 2);

  DumpRowSlice few_exps = s;
  few_exps.exponents.pop_back();  // 2 exponents do not cover 3 groups
  m.setSlice(few_exps);
  QVERIFY(!m.slice().quantized());
  QCOMPARE(m.columnCount(), 2);

  DumpRowSlice no_group = s;
  no_group.group = 0;
  m.setSlice(no_group);
  QVERIFY(!m.slice().quantized());

  m.setSlice(s);  // and back
  QCOMPARE(m.columnCount(), int(DumpTableModel::ColumnCount));
  QCOMPARE(m.index(1, DumpTableModel::DequantColumn).data(DumpTableModel::NumberRole).toDouble(), -1.0);
}

void TestDumpModels::diffModelRowsAndFirstDifference() {
  sm_test::SyntheticDump sa = small(50, 16, 4), sb = sa;
  sb.plant = [](int64_t t, int l, const std::string& name, int64_t c, float v) {
    if (t == 23 && l == 2 && name == "out_proj_in_unrotated" && c == 11) return v + 0.25f;
    if (t >= 30 && l == 3 && name == "hidden_in") return v - 0.5f;  // later in run order
    return v;
  };
  const sm::DumpReader a(write_dump(dir_, "da.h5", sa)), b(write_dump(dir_, "db.h5", sb));
  const sm::DumpDiff d = sm::diff_dumps(a, b);
  QVERIFY(d.differs());
  QCOMPARE(d.first_position, int64_t(23));
  QCOMPARE(d.first_layer, 2);
  QCOMPARE(d.first_dataset, std::string("/layers/2/out_proj_in_unrotated"));

  DumpDiffModel m;
  QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
  m.setDiff(d);
  QCOMPARE(m.rowCount(), int(d.datasets.size()));
  QCOMPARE(m.columnCount(), int(DumpDiffModel::ColumnCount));
  QVERIFY(m.rowCount() >= 4 * 7);
  for (int i = 0; i < m.rowCount(); ++i) {
    const QString name = QString::fromStdString(d.datasets[size_t(i)].name);
    QCOMPARE(m.rowOf(name), i);
    QCOMPARE(m.index(i, DumpDiffModel::DatasetColumn).data().toString(), name);
    QCOMPARE(m.index(i, DumpDiffModel::MaxAbsColumn).data(DumpDiffModel::DatasetRole).toString(), name);
  }
  QCOMPARE(m.rowOf(QStringLiteral("/layers/9/hidden_in")), -1);
  const int first = m.rowOf(QString::fromStdString(d.first_dataset));
  QVERIFY(first >= 0);
  for (int i = 0; i < m.rowCount(); ++i) {
    const QVariant f = m.index(i, DumpDiffModel::BeyondColumn).data(Qt::FontRole);
    QCOMPARE(f.isValid() && f.value<QFont>().bold(), i == first);
  }
  auto num = [&](int row, int col) { return m.index(row, col).data(DumpDiffModel::NumberRole).toDouble(); };
  QCOMPARE(m.index(first, DumpDiffModel::FirstColumn).data().toString(), QStringLiteral("23"));
  QCOMPARE(num(first, DumpDiffModel::BeyondColumn), 1.0);
  QCOMPARE(num(first, DumpDiffModel::MaxAbsColumn), d.datasets[size_t(first)].max_abs);
  QVERIFY(std::abs(num(first, DumpDiffModel::MaxAbsColumn) - 0.25) < 1e-6);
  const int late = m.rowOf(QStringLiteral("/layers/3/hidden_in"));
  QVERIFY(late >= 0);
  QCOMPARE(m.index(late, DumpDiffModel::FirstColumn).data().toString(), QStringLiteral("30"));
  QCOMPARE(num(late, DumpDiffModel::BeyondColumn), 20.0 * 16);
  QVERIFY(std::abs(num(late, DumpDiffModel::MaxAbsColumn) - 0.5) < 1e-6);
  const int same = m.rowOf(QStringLiteral("/layers/0/conv_out"));
  QCOMPARE(m.index(same, DumpDiffModel::FirstColumn).data().toString(), QStringLiteral("–"));
  QCOMPARE(num(same, DumpDiffModel::MaxAbsColumn), 0.0);

  // Reset to empty, then to another diff (identical dumps: no bold row).
  m.setDiff({});
  QCOMPARE(m.rowCount(), 0);
  QCOMPARE(m.rowOf(QString::fromStdString(d.first_dataset)), -1);
  const sm::DumpDiff same_diff = sm::diff_dumps(a, a);
  QVERIFY(!same_diff.differs());
  m.setDiff(same_diff);
  QCOMPARE(m.rowCount(), int(same_diff.datasets.size()));
  for (int i = 0; i < m.rowCount(); ++i)
    QVERIFY(!m.index(i, DumpDiffModel::DatasetColumn).data(Qt::FontRole).isValid());
}

QTEST_MAIN(TestDumpModels)
#include "tst_dump_models.moc"
