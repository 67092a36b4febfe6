// SPDX-License-Identifier: Apache-2.0
// MainWindow end to end on a tiny random model: load, click Generate, watch
// the text stream in, Stop, errors, closing mid-run.
#include <QDockWidget>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QtTest>

#include "core/model/random_model.h"
#include "ui/generation_panel.h"
#include "ui/generation_worker.h"
#include "ui/latency_chart.h"
#include "ui/main_window.h"
#include "ui/message_banner.h"
#include "ui/sampling_controls.h"
#include "ui/token_stream_view.h"

using sm::ui::MainWindow;

class TestMainWindow : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase();
  void startsIdleWithoutModel();
  void generateStreamsPromptAndOutput();
  void stopButtonEnabledOnlyWhileGenerating();
  void badModelShowsErrorWithoutCrashing();
  void closingDuringGenerationCancels();

 private:
  bool loadTiny(MainWindow& w);
  QTemporaryDir dir_;
  QString model_;
};

void TestMainWindow::initTestCase() {
  QVERIFY(dir_.isValid());
  model_ = dir_.filePath(QStringLiteral("tiny"));
  sm::write_random_model(model_.toStdString(), sm::random_model_preset("tiny-mamba2"));
}

bool TestMainWindow::loadTiny(MainWindow& w) {
  QSignalSpy done(&w, &MainWindow::modelLoadFinished);
  w.loadModel(model_);
  if (!done.wait(60000)) return false;
  return done.first().first().toBool();
}

void TestMainWindow::startsIdleWithoutModel() {
  MainWindow w;
  w.show();
  QCOMPARE(w.state(), MainWindow::State::Idle);
  QVERIFY(!w.hasModel());
  auto* gen = w.findChild<QPushButton*>(QStringLiteral("generateButton"));
  auto* stop = w.findChild<QPushButton*>(QStringLiteral("stopButton"));
  QVERIFY(gen && stop);
  QVERIFY(!gen->isEnabled());
  QVERIFY(!stop->isEnabled());
  QVERIFY(w.findChild<QDockWidget*>(QStringLiteral("latencyDock")));
  QCOMPARE(w.findChild<QLabel*>(QStringLiteral("stateLabel"))->text(), QStringLiteral("idle"));
}

void TestMainWindow::generateStreamsPromptAndOutput() {
  MainWindow w;
  w.show();
  QVERIFY(QTest::qWaitForWindowExposed(&w));
  QVERIFY(loadTiny(w));
  auto* info = w.findChild<QLabel*>(QStringLiteral("modelInfoLabel"));
  QVERIFY(info->text().contains(QStringLiteral("mamba2")));
  QVERIFY(info->text().contains(QStringLiteral("layers")));

  const QString prompt = QStringLiteral("In the beginning");
  w.generationPanel()->setPrompt(prompt);
  w.generationPanel()->sampling()->setMaxTokens(120);
  auto* gen = w.findChild<QPushButton*>(QStringLiteral("generateButton"));
  QVERIFY(gen->isEnabled());

  QSignalSpy finished(&w, &MainWindow::runFinished);
  QTest::mouseClick(gen, Qt::LeftButton);
  QVERIFY(finished.wait(60000));
  QCOMPARE(finished.first().first().toBool(), true);
  QCOMPARE(w.state(), MainWindow::State::Idle);

  auto* out = w.findChild<sm::ui::TokenStreamView*>(QStringLiteral("outputView"));
  QVERIFY(out);
  const QString text = out->toPlainText();
  QVERIFY2(text.startsWith(prompt), qPrintable(text.left(80)));
  QVERIFY(text.size() > prompt.size());
  QVERIFY(!out->generatedText().isEmpty());

  const QString rate = w.findChild<QLabel*>(QStringLiteral("tokensPerSecondLabel"))->text();
  QVERIFY2(QRegularExpression(QStringLiteral("^\\d+(\\.\\d+)? tok/s$")).match(rate).hasMatch(),
           qPrintable(rate));
  QCOMPARE(w.findChild<QLabel*>(QStringLiteral("tokenCountLabel"))->text(),
           QStringLiteral("120 tokens"));
  QCOMPARE(w.findChild<QLabel*>(QStringLiteral("stateLabel"))->text(), QStringLiteral("idle"));
  QCOMPARE(w.latencyChart()->sampleCount(), 119);  // every decoded token but the first
  QVERIFY(gen->isEnabled());
}

void TestMainWindow::stopButtonEnabledOnlyWhileGenerating() {
  MainWindow w;
  w.show();
  QVERIFY(loadTiny(w));
  auto* gen = w.findChild<QPushButton*>(QStringLiteral("generateButton"));
  auto* stop = w.findChild<QPushButton*>(QStringLiteral("stopButton"));
  QVERIFY(!stop->isEnabled());
  w.generationPanel()->setPrompt(QStringLiteral("Stop"));
  w.generationPanel()->sampling()->setMaxTokens(100000);

  QSignalSpy finished(&w, &MainWindow::runFinished);
  QTest::mouseClick(gen, Qt::LeftButton);
  QCOMPARE(w.state(), MainWindow::State::Generating);
  QVERIFY(stop->isEnabled());
  QVERIFY(!gen->isEnabled());
  QCOMPARE(w.findChild<QLabel*>(QStringLiteral("stateLabel"))->text(),
           QStringLiteral("generating"));
  // Let some tokens through, then stop.
  QTRY_VERIFY_WITH_TIMEOUT(
      !w.findChild<sm::ui::TokenStreamView*>(QStringLiteral("outputView"))->generatedText().isEmpty(),
      30000);
  QTest::mouseClick(stop, Qt::LeftButton);
  QVERIFY(finished.wait(10000));
  QCOMPARE(w.state(), MainWindow::State::Stopped);
  QCOMPARE(w.findChild<QLabel*>(QStringLiteral("stateLabel"))->text(), QStringLiteral("stopped"));
  QVERIFY(!stop->isEnabled());
  QVERIFY(gen->isEnabled());
  QVERIFY(w.statusTokensPerSecondText().endsWith(QStringLiteral("tok/s")));
}

void TestMainWindow::badModelShowsErrorWithoutCrashing() {
  MainWindow w;
  w.show();
  const QString bad = dir_.filePath(QStringLiteral("missing-model"));
  QSignalSpy done(&w, &MainWindow::modelLoadFinished);
  w.loadModel(bad);
  QCOMPARE(w.state(), MainWindow::State::Loading);
  QVERIFY(done.wait(30000));
  QCOMPARE(done.first().first().toBool(), false);
  QCOMPARE(w.state(), MainWindow::State::Error);
  QVERIFY(w.messageBanner()->isVisible());
  QVERIFY2(w.messageBanner()->text().contains(bad), qPrintable(w.messageBanner()->text()));
  QVERIFY(w.statusBar()->currentMessage().contains(bad));
  QVERIFY(!w.findChild<QPushButton*>(QStringLiteral("generateButton"))->isEnabled());
  QVERIFY(w.findChild<QPushButton*>(QStringLiteral("loadModelButton"))->isEnabled());

  // Generate without a model reports, it does not crash.
  QSignalSpy finished(&w, &MainWindow::runFinished);
  QVERIFY(!w.startGeneration());
  QCOMPARE(finished.size(), 1);
  QCOMPARE(finished.first().first().toBool(), false);

  // An empty prompt on a good model is an error too, then the window recovers.
  QVERIFY(loadTiny(w));
  QVERIFY(!w.messageBanner()->isVisible());
  w.generationPanel()->setPrompt(QString());
  finished.clear();
  QVERIFY(w.startGeneration());
  QVERIFY(finished.wait(30000));
  QCOMPARE(finished.first().first().toBool(), false);
  QCOMPARE(w.state(), MainWindow::State::Error);
  QVERIFY(w.messageBanner()->text().contains(QStringLiteral("prompt")));
  QVERIFY(w.findChild<QPushButton*>(QStringLiteral("generateButton"))->isEnabled());
}

void TestMainWindow::closingDuringGenerationCancels() {
  auto* w = new MainWindow;
  w->setAttribute(Qt::WA_DeleteOnClose);
  w->show();
  QVERIFY(loadTiny(*w));
  w->generationPanel()->sampling()->setMaxTokens(100000);
  QVERIFY(w->startGeneration());
  QTRY_VERIFY_WITH_TIMEOUT(w->latencyChart()->sampleCount() > 0, 30000);
  QPointer<MainWindow> guard(w);
  QElapsedTimer t;
  t.start();
  QVERIFY(w->close());
  QVERIFY(t.elapsed() < 5000);
  QTRY_VERIFY(guard.isNull());  // deleted once the close event is done
}

QTEST_MAIN(TestMainWindow)
#include "tst_main_window.moc"
