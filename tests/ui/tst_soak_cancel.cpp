// SPDX-License-Identifier: Apache-2.0
// Soak and cancel through the GUI worker: hundreds of generations (plain and
// speculative with every backtracking policy) stopped at random points,
// then an undisturbed run equal to a fresh worker's; and main windows closed
// in the middle of a run. Run under ASan too (scripts/test.sh --sanitize).
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>
#include <random>

#include "core/model/random_model.h"
#include "tests/ui/worker_test_support.h"
#include "ui/generation_panel.h"
#include "ui/generation_worker.h"
#include "ui/main_window.h"
#include "ui/sampling_controls.h"
#include "ui/spec_controls.h"

using sm::ui::GenerationRequest;
using sm::ui::GenerationSummary;
using sm::ui::GenerationWorker;

class TestSoakCancel : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase();
  void workerSurvivesHundredsOfStops();
  void closingTheWindowMidRunIsClean();

 private:
  GenerationRequest request(int kind, int max_tokens) const;
  QTemporaryDir dir_;
  QString target_, draft_;
};

void TestSoakCancel::initTestCase() {
  QVERIFY(dir_.isValid());
  target_ = dir_.filePath(QStringLiteral("target"));
  draft_ = dir_.filePath(QStringLiteral("draft"));
  auto spec = sm::random_model_preset("tiny-mamba2");
  spec.seed = 81;
  sm::write_random_model(target_.toStdString(), spec);
  spec.seed = 82;
  sm::write_random_model(draft_.toStdString(), spec);
}

// kind 0: plain; 1..3: speculative with snapshot / replay / hybrid.
GenerationRequest TestSoakCancel::request(int kind, int max_tokens) const {
  GenerationRequest r;
  r.prompt = QStringLiteral("Soak ");
  r.max_tokens = max_tokens;
  r.stop_at_eos = false;
  if (kind > 0) {
    r.spec.enabled = true;
    r.spec.draft_path = draft_;
    r.spec.tree = QStringLiteral("2,1,1");
    const char* policies[] = {"snapshot", "replay", "hybrid"};
    r.spec.backtrack = QString::fromLatin1(policies[kind - 1]);
    r.spec.budget = 4096;
  }
  return r;
}

void TestSoakCancel::workerSurvivesHundredsOfStops() {
  QByteArray want[4];
  {
    GenerationWorker fresh;
    QVERIFY(worker_test::load(fresh, target_));
    for (int k = 0; k < 4; ++k) want[k] = worker_test::run(fresh, request(k, 48), nullptr).text;
  }
  GenerationWorker w;
  QVERIFY(worker_test::load(w, target_));
  std::mt19937 rng(3);
  int cancelled = 0;
  for (int i = 0; i < 240; ++i) {
    const int kind = i % 4;
    QSignalSpy finished(&w, &GenerationWorker::generationFinished);
    QVERIFY(w.generate(request(kind, 100000)));
    QThread::usleep(rng() % 3000);
    w.stop();
    QVERIFY2(finished.wait(20000), qPrintable(QStringLiteral("run %1 did not finish").arg(i)));
    const auto s = finished.first().first().value<GenerationSummary>();
    cancelled += s.cancelled;
    QVERIFY(!w.isBusy());
  }
  QVERIFY2(cancelled > 200, qPrintable(QString::number(cancelled)));
  for (int k = 0; k < 4; ++k) QCOMPARE(worker_test::run(w, request(k, 48), nullptr).text, want[k]);
}

void TestSoakCancel::closingTheWindowMidRunIsClean() {
  for (int i = 0; i < 6; ++i) {
    auto* win = new sm::ui::MainWindow;
    QSignalSpy loaded(win, &sm::ui::MainWindow::modelLoadFinished);
    win->loadModel(target_);
    QVERIFY(loaded.wait(30000));
    QVERIFY(loaded.first().first().toBool());
    win->generationPanel()->setPrompt(QStringLiteral("Close me"));
    win->generationPanel()->sampling()->setMaxTokens(1000000);
    win->generationPanel()->spec()->setDraftPath(draft_);
    win->generationPanel()->spec()->setSpeculative(i % 2 == 1);
    QVERIFY(win->startGeneration());
    QTest::qWait(5 + 10 * i);
    QElapsedTimer t;
    t.start();
    if (i % 3 == 0) {
      win->close();  // closeEvent cancels and joins
    }
    delete win;      // the destructor must too
    QVERIFY2(t.elapsed() < 5000, qPrintable(QString::number(t.elapsed())));
  }
}

QTEST_MAIN(TestSoakCancel)
#include "tst_soak_cancel.moc"
