// SPDX-License-Identifier: Apache-2.0
// Speculative decoding in the GUI on tiny random models: the worker's greedy
// speculative output equals its target-only greedy output, tokens stream with
// their source (accepted draft / target bonus), Stop works between steps, a
// bad tree shape is an error signal, and the window colours both kinds.
#include <QLabel>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTextBlock>
#include <QTextDocument>
#include <QtTest>

#include "core/model/random_model.h"
#include "ui/generation_panel.h"
#include "tests/ui/worker_test_support.h"
#include "ui/generation_worker.h"
#include "ui/latency_chart.h"
#include "ui/main_window.h"
#include "ui/message_banner.h"
#include "ui/sampling_controls.h"
#include "ui/spec_controls.h"
#include "ui/token_stream_view.h"

using sm::ui::GenerationRequest;
using sm::ui::GenerationSummary;
using sm::ui::GenerationWorker;
using sm::ui::MainWindow;
using sm::ui::TokenBatch;

class TestSpecGeneration : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase();
  void greedySpecEqualsTargetOnly_data();
  void greedySpecEqualsTargetOnly();
  void stopWorksInSpecMode();
  void badTreeShapeGivesError();
  void badDraftDirGivesError();
  void windowShowsBothColours();

 private:
  bool load(GenerationWorker& w);
  GenerationSummary run(GenerationWorker& w, const GenerationRequest& req, TokenBatch* streamed);

  QTemporaryDir dir_;
  QString target_;
  QString draft_;
};

void TestSpecGeneration::initTestCase() {
  QVERIFY(dir_.isValid());
  target_ = dir_.filePath(QStringLiteral("target"));
  draft_ = dir_.filePath(QStringLiteral("draft"));
  auto spec = sm::random_model_preset("tiny-mamba2");
  spec.seed = 11;
  sm::write_random_model(target_.toStdString(), spec);
  spec.seed = 22;
  sm::write_random_model(draft_.toStdString(), spec);
}

bool TestSpecGeneration::load(GenerationWorker& w) { return worker_test::load(w, target_); }

GenerationSummary TestSpecGeneration::run(GenerationWorker& w, const GenerationRequest& req,
                                 TokenBatch* streamed) {
  return worker_test::run(w, req, streamed);
}

void TestSpecGeneration::greedySpecEqualsTargetOnly_data() {
  QTest::addColumn<bool>("same_draft");  // draft = the target: every draft token is accepted
  QTest::addColumn<QString>("tree");
  QTest::addColumn<QString>("verify");
  QTest::addColumn<QString>("backtrack");
  QTest::newRow("other-draft chain fifo snapshot") << false << "1,1,1,1" << "fifo" << "snapshot";
  QTest::newRow("other-draft 4,2,2,1 dfs replay") << false << "4,2,2,1" << "dfs" << "replay";
  QTest::newRow("same-draft chain fifo snapshot") << true << "1,1,1,1" << "fifo" << "snapshot";
  QTest::newRow("same-draft 2,2,1 paths hybrid") << true << "2,2,1" << "paths" << "hybrid";
}

void TestSpecGeneration::greedySpecEqualsTargetOnly() {
  QFETCH(bool, same_draft);
  QFETCH(QString, tree);
  QFETCH(QString, verify);
  QFETCH(QString, backtrack);
  GenerationWorker w;
  QVERIFY(load(w));
  GenerationRequest req;
  req.prompt = QStringLiteral("In the beginning");
  req.max_tokens = 80;
  req.sampling = {};  // greedy
  const GenerationSummary plain = run(w, req, nullptr);
  QCOMPARE(plain.generated, int64_t{80});
  QVERIFY(!plain.speculative);

  req.spec.enabled = true;
  req.spec.draft_path = same_draft ? target_ : draft_;
  req.spec.tree = tree;
  req.spec.verify = verify;
  req.spec.backtrack = backtrack;
  req.spec.budget = 4096;
  TokenBatch streamed;
  const GenerationSummary s = run(w, req, &streamed);
  QVERIFY(s.speculative);
  QCOMPARE(s.stop_reason, QStringLiteral("max_tokens"));
  QCOMPARE(s.ids, plain.ids);
  QCOMPARE(s.text, plain.text);
  QVERIFY(s.steps > 0);
  QVERIFY(w.hasDraft());

  // Streamed: the same ids; per step, accepted draft tokens then one bonus.
  QCOMPARE(streamed.size(), s.ids.size());
  int accepted = 0, bonus = 0;
  for (int i = 0; i < streamed.size(); ++i) {
    const auto& t = streamed[i];
    QCOMPARE(t.id, s.ids[i]);
    QCOMPARE(t.index, i);
    if (i == 0) {
      QCOMPARE(t.step, 0);  // from the prefill
      QVERIFY(!t.draft);
      continue;
    }
    QVERIFY(t.step >= 1);
    QVERIFY(t.step >= streamed[i - 1].step);
    if (t.draft) {
      ++accepted;
    } else {
      ++bonus;
      if (i + 1 < streamed.size()) QVERIFY(streamed[i + 1].step == t.step + 1);  // the bonus ends it
    }
  }
  // The last step may be cut short by max_tokens; all the others are whole.
  QVERIFY(accepted <= s.accepted);
  QVERIFY(bonus >= s.steps - 1 && bonus <= s.steps);
  if (same_draft) {
    QVERIFY2(accepted > bonus, qPrintable(QStringLiteral("%1 accepted, %2 bonus").arg(accepted).arg(bonus)));
    QVERIFY(s.mean_accepted > 1.0);
  }
  QVERIFY(s.tokens_per_pass >= 1.0);
}

void TestSpecGeneration::stopWorksInSpecMode() {
  GenerationWorker w;
  QVERIFY(load(w));
  GenerationRequest req;
  req.prompt = QStringLiteral("Stop me");
  req.max_tokens = 1000000;
  req.spec.enabled = true;
  req.spec.draft_path = draft_;
  req.spec.tree = QStringLiteral("2,2,1");
  QSignalSpy tokens(&w, &GenerationWorker::tokensArrived);
  QSignalSpy finished(&w, &GenerationWorker::generationFinished);
  QVERIFY(w.generate(req));
  QVERIFY(tokens.wait(30000));
  QElapsedTimer t;
  t.start();
  w.stop();
  QVERIFY(finished.wait(10000));
  QVERIFY2(t.elapsed() < 5000, qPrintable(QString::number(t.elapsed())));
  const auto s = finished.first().first().value<GenerationSummary>();
  QVERIFY(s.cancelled);
  QCOMPARE(s.stop_reason, QStringLiteral("cancelled"));
  QVERIFY(s.speculative);
  QVERIFY(s.generated > 0 && s.generated < 1000000);
  QVERIFY(!w.isBusy());
}

void TestSpecGeneration::badTreeShapeGivesError() {
  GenerationWorker w;
  QVERIFY(load(w));
  GenerationRequest req;
  req.prompt = QStringLiteral("x");
  req.spec.enabled = true;
  req.spec.draft_path = draft_;
  req.spec.tree = QStringLiteral("0,1");
  QSignalSpy error(&w, &GenerationWorker::errorOccurred);
  QSignalSpy finished(&w, &GenerationWorker::generationFinished);
  QVERIFY(w.generate(req));
  QVERIFY(error.wait(30000));
  const QString msg = error.first().first().toString();
  QVERIFY2(msg.contains(QStringLiteral("width")), qPrintable(msg));
  QVERIFY(finished.isEmpty());
  QVERIFY(!w.isBusy());

  // Bad verify order / policy too; and the worker still runs afterwards.
  error.clear();
  req.spec.tree = QStringLiteral("2,1");
  req.spec.verify = QStringLiteral("sideways");
  QVERIFY(w.generate(req));
  QVERIFY(error.wait(30000));
  QVERIFY(!error.first().first().toString().isEmpty());
  req.spec.verify = QStringLiteral("fifo");
  req.max_tokens = 5;
  QCOMPARE(run(w, req, nullptr).generated, int64_t{5});
}

void TestSpecGeneration::badDraftDirGivesError() {
  GenerationWorker w;
  QVERIFY(load(w));
  GenerationRequest req;
  req.prompt = QStringLiteral("x");
  req.spec.enabled = true;
  req.spec.draft_path = dir_.filePath(QStringLiteral("no-such-draft"));
  QSignalSpy error(&w, &GenerationWorker::errorOccurred);
  QVERIFY(w.generate(req));
  QVERIFY(error.wait(30000));
  QVERIFY2(error.first().first().toString().contains(req.spec.draft_path),
           qPrintable(error.first().first().toString()));
  QVERIFY(!w.hasDraft());
}

void TestSpecGeneration::windowShowsBothColours() {
  MainWindow w;
  w.show();
  QVERIFY(QTest::qWaitForWindowExposed(&w));
  {
    QSignalSpy done(&w, &MainWindow::modelLoadFinished);
    w.loadModel(target_);
    QVERIFY(done.wait(60000));
  }
  sm::ui::SpecControls* spec = w.generationPanel()->spec();
  QVERIFY(!spec->speculative());  // off by default
  QVERIFY(!spec->draftPath().isEmpty());  // the shipped draft

  // A bad shape: refused before the run starts, core's message in the GUI's
  // words in the banner, no crash.
  spec->setSpeculative(true);
  spec->setDraftPath(target_);  // the target as its own draft: every draft token is accepted
  spec->setTree(QStringLiteral("0,1"));
  QSignalSpy finished(&w, &MainWindow::runFinished);
  QVERIFY(!w.startGeneration());
  QCOMPARE(finished.size(), 1);
  QCOMPARE(finished.first().first().toBool(), false);
  QVERIFY(w.messageBanner()->isVisible());
  QVERIFY2(w.messageBanner()->text().contains(QStringLiteral("width")),
           qPrintable(w.messageBanner()->text()));
  QVERIFY2(!w.messageBanner()->text().contains(QStringLiteral("--tree")),
           qPrintable(w.messageBanner()->text()));

  spec->setTree(QStringLiteral("1,1,1,1"));
  w.generationPanel()->setPrompt(QStringLiteral("In the beginning"));
  w.generationPanel()->sampling()->setMaxTokens(100);
  finished.clear();
  QVERIFY(w.startGeneration());
  QVERIFY(!spec->isEnabled());  // locked while running
  QVERIFY(finished.wait(60000));
  QCOMPARE(finished.first().first().toBool(), true);
  QVERIFY(!w.messageBanner()->isVisible());
  QVERIFY(spec->isEnabled());

  auto* out = w.generationPanel()->output();
  QVERIFY(out->draftTokenCount() > 0);
  QVERIFY(out->targetTokenCount() > 0);
  QCOMPARE(out->draftTokenCount() + out->targetTokenCount(), 100);
  QCOMPARE(w.acceptedDraftTokens(), out->draftTokenCount());

  // Both backgrounds are in the document.
  const QColor draft_bg = out->draftFormat().background().color();
  const QColor target_bg = out->targetFormat().background().color();
  QVERIFY(draft_bg != target_bg);
  bool saw_draft = false, saw_target = false;
  for (QTextBlock b = out->document()->begin(); b.isValid(); b = b.next())
    for (auto it = b.begin(); !it.atEnd(); ++it) {
      const QColor bg = it.fragment().charFormat().background().color();
      saw_draft |= bg == draft_bg;
      saw_target |= bg == target_bg;
    }
  QVERIFY(saw_draft);
  QVERIFY(saw_target);

  // Live figures and the chart in step mode.
  const QString figures = w.statusSpecText();
  QVERIFY2(figures.contains(QStringLiteral("accepted/pass")) && figures.contains(QStringLiteral("steps")),
           qPrintable(figures));
  QVERIFY(w.findChild<QLabel*>(QStringLiteral("specStatsLabel"))->isVisible());
  QCOMPARE(w.latencyChart()->mode(), sm::ui::LatencyChart::Mode::StepTokens);
  QVERIFY(w.latencyChart()->sampleCount() > 0);
  QVERIFY(w.latencyChart()->sampleCount() < 100);  // one per step, not per token
  w.latencyChart()->replotNow();
  QVERIFY(w.latencyChart()->titleText().contains(QStringLiteral("steps")));

  // Turning it off goes back to plain decoding.
  spec->setSpeculative(false);
  finished.clear();
  QVERIFY(w.startGeneration());
  QVERIFY(finished.wait(60000));
  QCOMPARE(out->draftTokenCount(), 0);
  QCOMPARE(out->targetTokenCount(), 100);
  QCOMPARE(w.latencyChart()->mode(), sm::ui::LatencyChart::Mode::TokenLatency);
  QVERIFY(!w.findChild<QLabel*>(QStringLiteral("specStatsLabel"))->isVisible());
}

QTEST_MAIN(TestSpecGeneration)
#include "tst_spec_generation.moc"
