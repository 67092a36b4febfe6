// SPDX-License-Identifier: Apache-2.0
// The Tuner dock without runs: fields name themselves in errors, the tree
// editor edits by clicks, the resource meter follows every change and turns
// red naming the resource, and its models pass QAbstractItemModelTester.
#include <QAbstractItemModelTester>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QtTest>

#include "studio_test_support.h"
#include "ui/models/run_delta.h"
#include "ui/models/run_list_model.h"
#include "ui/models/tree_edit.h"
#include "ui/models/what_if.h"
#include "ui/views/resource_meter.h"
#include "ui/views/tree_editor_view.h"
#include "ui/views/tuner_view.h"

using sm::ui::TunerView;

class TestTunerView : public QObject {
  Q_OBJECT

 private slots:
  void invalidInputsNameTheField_data();
  void invalidInputsNameTheField();
  void validSettingsEnableApply();
  void treeEditorAddsAndRemovesBranches();
  void editableTreeRoundTrips();
  void resourceMeterFollowsTheDesign();
  void modelsPassTheTester();

 private:
  void prepare(TunerView& t) {
    t.setModels(studio_test::shippedTarget(), studio_test::shippedDraft());
    t.setQuantPreset(QStringLiteral("fp32"));
    t.setTree(QStringLiteral("2,2,1"));
    t.setDesign(QStringLiteral("vck190"), 8, 8, 8, 0);
  }
};

void TestTunerView::invalidInputsNameTheField_data() {
  QTest::addColumn<QString>("field");
  QTest::addColumn<QString>("expected");
  QTest::newRow("tree") << "tree" << "Tree";
  QTest::newRow("weight group") << "weight-group" << "Weight group";
  QTest::newRow("clock") << "clock" << "Clock";
  QTest::newRow("linear tile") << "tile" << "Linear tile";
  QTest::newRow("ssm parallelism") << "ssm" << "SSM parallelism";
  QTest::newRow("platform") << "platform" << "Platform";
  QTest::newRow("held-out text") << "heldout" << "Held-out text";
}

void TestTunerView::invalidInputsNameTheField() {
  QFETCH(QString, field);
  QFETCH(QString, expected);
  TunerView t;
  prepare(t);
  QVERIFY2(t.validate().isEmpty(), qPrintable(t.validate()));
  if (field == "tree") t.setTree(QStringLiteral("2,x"));
  if (field == "weight-group") {
    t.setQuantPreset(QStringLiteral("w4a4"));
    t.findChild<QSpinBox*>(QStringLiteral("tunerWeightGroup"))->setValue(48);  // divides 192, not the draft's 64
  }
  if (field == "clock") t.setDesign(QStringLiteral("vck190"), 8, 8, 8, 5000);
  if (field == "tile") t.setDesign(QStringLiteral("vck190"), 8, 256, 8, 0);  // wider than d_model 192
  if (field == "ssm") t.setDesign(QStringLiteral("vck190"), 8, 8, 64, 0);    // more than headdim 32
  if (field == "platform") t.setDesign(QStringLiteral("no-such-board"), 8, 8, 8, 0);
  if (field == "heldout") t.setHeldout(QStringLiteral("/no/such/file.txt"), 100);
  const QString problem = t.validate();
  QVERIFY2(problem.startsWith(expected), qPrintable(problem));
  QCOMPARE(t.problemLabel()->text(), problem);
  QVERIFY(!t.applyButton()->isEnabled());
}

void TestTunerView::validSettingsEnableApply() {
  TunerView t;
  prepare(t);
  QVERIFY(t.applyButton()->isEnabled());
  sm::ui::GenerationRequest r;
  r.prompt = QStringLiteral("And God said");
  QString problem;
  t.setQuantPreset(QStringLiteral("w4a4"));
  t.setBacktrack(QStringLiteral("hybrid"), 5000);
  QVERIFY2(t.fillRequest(r, &problem), qPrintable(problem));
  QVERIFY(r.spec.enabled);
  QCOMPARE(r.spec.tree, QStringLiteral("2,2,1"));
  QCOMPARE(r.spec.backtrack, QStringLiteral("hybrid"));
  QCOMPARE(r.spec.budget, qint64(5000));
  QVERIFY(r.quant.enabled);
  QVERIFY(r.quant.auto_group);
  QVERIFY(r.quant.config_json.contains(QStringLiteral("specmamba-quant")));
  QCOMPARE(r.accel.platform, QStringLiteral("vck190"));
  QVERIFY(r.heldout_path.endsWith(QStringLiteral("kjv-heldout.txt")));
}

void TestTunerView::treeEditorAddsAndRemovesBranches() {
  TunerView t;
  prepare(t);
  t.resize(420, 900);
  t.show();
  QVERIFY(QTest::qWaitForWindowExposed(&t));
  sm::ui::TreeEditorView* ed = t.treeEditor();
  QCOMPARE(ed->tree().size(), 1 + 2 + 4 + 4);
  // A click on the root gives it a third child: no longer regular, so paths.
  QTest::mouseClick(ed, Qt::LeftButton, {}, ed->nodeCentre(0));
  QCOMPARE(ed->tree().size(), 12);
  QVERIFY2(t.tree().startsWith(QLatin1Char('[')), qPrintable(t.tree()));
  QVERIFY(t.validate().isEmpty());
  // Removing that child's branch (the last depth-1 node) gives 2,2,1 back.
  QTest::mouseClick(ed, Qt::RightButton, {}, ed->nodeCentre(3));
  QCOMPARE(t.tree(), QStringLiteral("2,2,1"));
  // Removing depth-1 node 2's branch leaves a root with one child subtree.
  QTest::mouseClick(ed, Qt::LeftButton, Qt::ShiftModifier, ed->nodeCentre(2));
  QCOMPARE(t.tree(), QStringLiteral("1,2,1"));
  // Typing a tree redraws the editor.
  t.setTree(QStringLiteral("3"));
  QCOMPARE(ed->tree().size(), 4);
}

void TestTunerView::editableTreeRoundTrips() {
  for (const char* spec : {"2,2,1", "4", "[[0],[1],[0,0]]", "[[0],[0,0],[0,1],[1]]"}) {
    const sm::ui::EditableTree t = sm::ui::EditableTree::parse(QString::fromLatin1(spec));
    const sm::ui::EditableTree back = sm::ui::EditableTree::parse(t.spec());
    QCOMPARE(back.size(), t.size());
    for (int v = 1; v < t.size(); ++v) QCOMPARE(back.parent(v), t.parent(v));
  }
  sm::ui::EditableTree t = sm::ui::EditableTree::parse(QStringLiteral("1,1"));
  QCOMPARE(t.addChild(1), 3);
  QCOMPARE(t.spec(), QStringLiteral("1,2"));
  QVERIFY(!t.removeBranch(0));  // the root stays
}

void TestTunerView::resourceMeterFollowsTheDesign() {
  TunerView t;
  prepare(t);
  sm::ui::ResourceMeter* m = t.resourceMeter();
  QCOMPARE(int(m->bars().size()), 4);
  QVERIFY2(m->fits(), qPrintable(m->statusText()));
  const int64_t dsp_small = m->bars()[0].used, lut_small = m->bars()[1].used;
  // A bigger tile is re-estimated at once (no run).
  t.setDesign(QStringLiteral("vck190"), 16, 16, 8, 0);
  QVERIFY(m->bars()[1].used > lut_small || m->bars()[0].used > dsp_small);
  // An oversized design: the widest tiles the model allows, 8-bit (DSP multipliers).
  t.setQuantPreset(QStringLiteral("w8a8"));
  t.setDesign(QStringLiteral("vck190"), 192, 192, 32, 0);
  QVERIFY2(!m->fits(), qPrintable(m->statusText()));
  const QStringList over = m->overflowing();
  QVERIFY(!over.isEmpty());
  QVERIFY2(m->statusText().contains(over.first()), qPrintable(m->statusText()));
  QVERIFY(m->statusText().contains(QStringLiteral("does not fit")));
  // Back to a small design: it fits again.
  t.setDesign(QStringLiteral("vck190"), 8, 8, 8, 0);
  QVERIFY(m->fits());
}

void TestTunerView::modelsPassTheTester() {
  TunerView t;
  prepare(t);
  QAbstractItemModelTester a(t.whatIf(), QAbstractItemModelTester::FailureReportingMode::QtTest);
  QAbstractItemModelTester b(t.deltas(), QAbstractItemModelTester::FailureReportingMode::QtTest);
  sm::ui::RunListModel runs;
  QAbstractItemModelTester c(&runs, QAbstractItemModelTester::FailureReportingMode::QtTest);
  t.setRunList(&runs);
  t.setTree(QStringLiteral("1,1"));
  QVERIFY(t.whatIf()->status().contains(QStringLiteral("no run")));
  QCOMPARE(t.deltas()->data(t.deltas()->index(0, sm::ui::RunDeltaModel::LatestColumn)).toString(), QStringLiteral("–"));
}

QTEST_MAIN(TestTunerView)
#include "tst_tuner_view.moc"
