// SPDX-License-Identifier: Apache-2.0
// The Tuner changes a run: Apply re-runs the prompt with the tuner's settings
// in the worker, and the new run joins the run list beside the last one with
// its own figures (tree, mean accepted, bits per byte, simulated tok/s,
// resources, energy); a quantized Apply quantizes into the cache once and
// reuses it; the delta table compares the newest two runs.
#include <QAbstractItemModelTester>
#include <QDir>
#include <QDockWidget>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QtTest>

#include <cmath>

#include "studio_test_support.h"
#include "ui/generation_worker.h"
#include "ui/models/run_delta.h"
#include "ui/models/run_list_model.h"
#include "ui/models/run_record.h"
#include "ui/models/what_if.h"
#include "ui/views/tuner_view.h"

using sm::ui::MainWindow;
using sm::ui::RunListModel;

namespace {

bool apply(MainWindow& w) {
  QSignalSpy finished(&w, &MainWindow::runFinished);
  if (!w.applyTuner()) return false;
  if (finished.isEmpty() && !finished.wait(300000)) return false;
  if (!finished.first().first().toBool()) qWarning() << "tuner run failed:" << w.messageBanner()->text();
  return finished.first().first().toBool();
}

}  // namespace

class TestTunerApply : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void dockIsThere() {
    MainWindow w;
    QDockWidget* d = w.dock(QStringLiteral("tunerDock"));
    QVERIFY(d);
    QCOMPARE(d->windowTitle(), QStringLiteral("Tuner"));
    QCOMPARE(d->widget(), static_cast<QWidget*>(w.tunerView()));
  }

  void applyAddsARunWithOtherFigures() {
    MainWindow w;
    QAbstractItemModelTester tester(w.runs(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    QVERIFY(studio_test::load(w));
    studio_test::configure(w, QStringLiteral("2,2,1"), 60);
    QVERIFY(studio_test::run(w));
    QCOMPARE(w.runs()->size(), 1);

    sm::ui::TunerView* t = w.tunerView();
    t->setQuantPreset(QStringLiteral("fp32"));
    t->setTree(QStringLiteral("1"));
    t->setHeldout(studio_test::repoPath(QStringLiteral("data/kjv-heldout.txt")), 2048);
    t->setDesign(QStringLiteral("vck190"), 8, 8, 8, 0);
    // What-if of the recorded run before re-running: 1 is a subtree of 2,2,1.
    QVERIFY2(!t->whatIf()->needsRerun(), qPrintable(t->whatIf()->status()));
    const double predicted = t->whatIf()->whatIfValue(sm::ui::WhatIfModel::MeanAccepted);

    QVERIFY2(apply(w), qPrintable(w.runHeaderText()));
    QCOMPARE(w.runs()->size(), 2);
    const auto first = w.runs()->run(0), second = w.runs()->run(1);
    QCOMPARE(second->settings.tree, QStringLiteral("1"));
    QVERIFY(second->figures.mean_accepted != first->figures.mean_accepted);
    QCOMPARE(second->figures.mean_accepted, predicted);  // the what-if said so
    QCOMPARE(second->generated_ids, first->generated_ids);  // greedy: the same text
    QVERIFY(second->figures.bpb > 0.5 && second->figures.bpb < 4);
    QVERIFY(second->figures.sim_tokens_per_second > 0);
    QVERIFY(second->figures.energy_per_token_mj > 0);
    QVERIFY(second->figures.dsp > 0 && second->figures.lut > 0);
    QCOMPARE(second->settings.platform, QStringLiteral("vck190"));
    // The run list shows them, the delta table compares with the run before.
    const QString bpb = w.runs()->data(w.runs()->index(1, RunListModel::BitsPerByte)).toString();
    QVERIFY2(bpb != QStringLiteral("–"), qPrintable(bpb));
    QCOMPARE(w.runs()->data(w.runs()->index(0, RunListModel::BitsPerByte)).toString(), QStringLiteral("–"));
    sm::ui::RunDeltaModel* d = t->deltas();
    QCOMPARE(d->latestRow(), 1);
    QCOMPARE(d->data(d->index(sm::ui::RunDeltaModel::MeanAccepted, sm::ui::RunDeltaModel::DeltaColumn), Qt::UserRole).toDouble(),
             second->figures.mean_accepted - first->figures.mean_accepted);
    QCOMPARE(w.currentRun(), second);  // the what-if now re-scores the new run
  }

  void quantizedApplyUsesTheCache() {
    MainWindow w;
    QVERIFY(studio_test::load(w));
    studio_test::configure(w, QStringLiteral("2,2,1"), 30);
    sm::ui::TunerView* t = w.tunerView();
    t->setTree(QStringLiteral("2,2,1"));
    t->setQuantPreset(QStringLiteral("w8a8"));
    t->setHeldout(QString(), 0);
    QSignalSpy progress(w.worker(), &sm::ui::GenerationWorker::progressChanged);
    QVERIFY2(apply(w), qPrintable(w.runHeaderText()));
    QVERIFY(!progress.isEmpty());
    QCOMPARE(progress.first().at(0).toString(), QStringLiteral("Quantizing the target"));
    const auto run = w.runs()->run(w.runs()->size() - 1);
    QVERIFY2(run->settings.quantization.startsWith(QStringLiteral("w8a8")), qPrintable(run->settings.quantization));
    QVERIFY(run->figures.bpb < 0);  // no held-out text given
    const QDir cache(QStandardPaths::writableLocation(QStandardPaths::CacheLocation) + QStringLiteral("/quantized"));
    const QStringList made = cache.entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    QVERIFY2(made.size() >= 2, qPrintable(made.join(',')));  // target and draft
    // Again: the cached copies are reused (no new directory).
    QVERIFY(apply(w));
    QCOMPARE(cache.entryList(QDir::Dirs | QDir::NoDotAndDotDot), made);
  }

  void invalidTunerFieldRefusesToRun() {
    MainWindow w;
    QVERIFY(studio_test::load(w));
    w.tunerView()->setTree(QStringLiteral("2,,1"));
    QSignalSpy finished(&w, &MainWindow::runFinished);
    QVERIFY(!w.applyTuner());
    QCOMPARE(w.runs()->size(), 0);
    QVERIFY(w.messageBanner()->text().startsWith(QStringLiteral("Tree")));
  }
};

QTEST_MAIN(TestTunerApply)
#include "tst_tuner_apply.moc"
