// SPDX-License-Identifier: Apache-2.0
// The output pane: text linked to its steps (hover / click / highlight) and
// appending stays cheap however long the run (the GUI-stall goal).
#include "timing_budget.h"
#include <QElapsedTimer>
#include <QTextBlock>
#include <QtTest>

#include "ui/token_stream_view.h"

using sm::ui::TokenStreamView;

class TestTokenStreamView : public QObject {
  Q_OBJECT

 private slots:
  void textPositionsMapToSteps() {
    TokenStreamView v;
    v.startRun("Prompt ");
    v.appendGenerated("A", false, 1, -1);  // the prefill's token
    v.appendGenerated("bc", true, 2, 0);
    v.appendGenerated("D", false, 1, 0);
    v.appendGenerated("E", false, 1, 1);
    const int p = QString("Prompt ").size();
    QCOMPARE(v.stepAtPosition(0), -1);
    QCOMPARE(v.stepAtPosition(p), -1);
    QCOMPARE(v.stepAtPosition(p + 1), 0);
    QCOMPARE(v.stepAtPosition(p + 3), 0);
    QCOMPARE(v.stepAtPosition(p + 4), 1);
    QCOMPARE(v.stepAtPosition(p + 5), -1);
    QCOMPARE(v.stepRange(0), std::make_pair(p + 1, p + 4));
    v.highlightStep(1);
    QCOMPARE(v.extraSelections().size(), 1);
    QCOMPARE(v.extraSelections().first().cursor.selectedText(), QString("E"));
    QCOMPARE(v.generatedText(), QString("AbcDE"));
    QCOMPARE(v.draftTokenCount(), 2);
    QCOMPARE(v.targetTokenCount(), 3);
  }

  void clickingTextSelectsItsStep() {
    TokenStreamView v;
    v.resize(400, 200);
    v.show();
    QVERIFY(QTest::qWaitForWindowExposed(&v));
    v.startRun("P ");
    v.appendGenerated("xxxxxxxx", true, 8, 3);
    QSignalSpy clicked(&v, &TokenStreamView::stepClicked);
    QTextCursor c(v.document());
    c.setPosition(5);
    const QPoint at = v.cursorRect(c).center() + QPoint(2, 0);
    QTest::mouseClick(v.viewport(), Qt::LeftButton, {}, at);
    QCOMPARE(clicked.size(), 1);
    QCOMPARE(clicked.first().first().toInt(), 3);
    QCOMPARE(v.highlightedStep(), 3);
  }

  // 20,000 tokens in batches as the worker delivers them: the cost per batch
  // must not grow much with the text already shown, even when it is one
  // long paragraph (a block is laid out again on every change).
  void longStreamsStayCheap_data() {
    QTest::addColumn<int>("newline_every");
    QTest::newRow("short lines") << 41;
    QTest::newRow("one long paragraph") << 1000000;
  }
  void longStreamsStayCheap() {
    QFETCH(int, newline_every);
    TokenStreamView v;
    v.resize(800, 500);
    v.show();
    QVERIFY(QTest::qWaitForWindowExposed(&v));
    v.startRun("And God said");
    QElapsedTimer t;
    double first = 0, last = 0;
    for (int batch = 0; batch < 200; ++batch) {
      t.start();
      v.beginBatch();
      for (int i = 0; i < 100; ++i) {
        const int tok = batch * 100 + i;
        v.appendGenerated(tok % newline_every == 0 ? QByteArray("\n") : QByteArray(tok % 5 ? "a" : " "),
                          tok % 3 != 0, 1, tok / 3);
      }
      v.endBatch();
      QCoreApplication::processEvents();
      const double ms = double(t.nsecsElapsed()) / 1e6;
      if (batch < 10) first += ms;
      if (batch >= 190) last += ms;
    }
    qInfo("first 10 batches %.1f ms, last 10 batches %.1f ms", first, last);
    // Quadratic appending made the last batches ~100x the first; allow noise.
    QVERIFY2(last < 8 * first + 50, qPrintable(QString("%1 vs %2").arg(last).arg(first)));
    QVERIFY2(last / 10 < timing::budget(40), "a 100-token batch must append in well under a frame budget");
    QCOMPARE(v.generatedText().size(), 20000);
    QCOMPARE(v.generatedText().count(QLatin1Char('\n')), newline_every < 20000 ? 20000 / newline_every + 1 : 1);
  }
};

QTEST_MAIN(TestTokenStreamView)
#include "tst_token_stream_view.moc"
