// SPDX-License-Identifier: Apache-2.0
// The race worker on the shipped model pair: both lanes measured with
// per-token times, the greedy outputs identical, draft tokens marked in the
// speculative lane; a bad tree fails before any lane runs; Stop cancels.
#include <QSignalSpy>
#include <QtTest>

#include <algorithm>

#include "race_test_support.h"
#include "ui/workers/race_worker.h"

using sm::ui::RaceLane;
using sm::ui::RaceRequest;
using sm::ui::RaceResult;
using sm::ui::RaceWorker;

namespace {

using race_test::shipped_request;

QStringList phases(const QSignalSpy& spy) {
  QStringList out;
  for (const auto& args : spy) out << args.at(0).toString();
  return out;
}

}  // namespace

class TestRaceWorker : public QObject {
  Q_OBJECT

 private slots:
  void greedyRaceOnShippedPair();
  void badTreeFailsBeforeAnyLane();
  void cancelEndsInCancelled();
  void secondStartWhileBusyIsRefused();
};

void TestRaceWorker::greedyRaceOnShippedPair() {
  RaceWorker w;
  QSignalSpy finished(&w, &RaceWorker::finished);
  QSignalSpy failed(&w, &RaceWorker::failed);
  QSignalSpy progress(&w, &RaceWorker::progress);
  QVERIFY(w.start(shipped_request(60)));
  QVERIFY(w.isBusy());
  QVERIFY2(finished.wait(120000), qPrintable(failed.isEmpty() ? QString() : failed.first().first().toString()));
  QVERIFY(!w.isBusy());
  const RaceResult r = finished.first().first().value<RaceResult>();
  qInfo("target-only %.0f tok/s, speculative %.0f tok/s (%.2fx), %.2f tokens/pass", r.plain.tokens_per_second,
        r.spec.tokens_per_second, r.speedup(), r.spec.tokens_per_pass);

  for (const RaceLane* lane : {&r.plain, &r.spec}) {
    QCOMPARE(int(lane->tokens.size()), 60);
    QCOMPARE(lane->tokens.front().t_s, 0.0);
    for (size_t i = 1; i < lane->tokens.size(); ++i) QVERIFY(lane->tokens[i].t_s >= lane->tokens[i - 1].t_s);
    QVERIFY(lane->tokens.back().t_s > 0);
    QVERIFY(lane->prefill_s > 0);
    QVERIFY(lane->decode_s > 0);
    QVERIFY(lane->tokens_per_second > 0);
    QVERIFY(!lane->text().isEmpty());
  }
  QVERIFY(r.same_output);
  QCOMPARE(r.plain.text(), r.spec.text());
  QCOMPARE(r.plain.draftTokens(), 0);
  QVERIFY(r.spec.draftTokens() > 0);
  QVERIFY(!r.spec.tokens.front().draft);  // the prefill's token is the target's
  QCOMPARE(r.plain.steps, 59);
  QVERIFY(r.spec.steps < 59);
  QVERIFY(r.spec.tokens_per_pass > 1.0);
  // Every pass emits one bonus token after its accepted draft tokens; the
  // last pass may lose its bonus to the 60-token cut.
  const int bonus_and_prefill = 60 - r.spec.draftTokens();
  QVERIFY2(bonus_and_prefill == r.spec.steps + 1 || bonus_and_prefill == r.spec.steps,
           qPrintable(QStringLiteral("%1 draft, %2 steps").arg(r.spec.draftTokens()).arg(r.spec.steps)));
  QVERIFY(r.speedup() > 0);
  QVERIFY(r.tree.startsWith(QStringLiteral("2,2,1")));

  // Both lanes reported, in order, and the token counts end at the total.
  const QStringList ph = phases(progress);
  QVERIFY(ph.contains(QStringLiteral("target-only")));
  QVERIFY(ph.lastIndexOf(QStringLiteral("target-only")) < ph.indexOf(QStringLiteral("speculative")));
  QCOMPARE(progress.last().at(1).toInt(), 60);
  QCOMPARE(progress.last().at(2).toInt(), 60);
}

void TestRaceWorker::badTreeFailsBeforeAnyLane() {
  RaceWorker w;
  QSignalSpy finished(&w, &RaceWorker::finished);
  QSignalSpy failed(&w, &RaceWorker::failed);
  QSignalSpy progress(&w, &RaceWorker::progress);
  QVERIFY(w.start(shipped_request(60, QStringLiteral("2,x"))));
  QVERIFY(failed.wait(30000));
  const QString msg = failed.first().first().toString();
  qInfo("%s", qPrintable(msg));
  QVERIFY2(msg.contains(QStringLiteral("2,x")), qPrintable(msg));
  QVERIFY2(msg.startsWith(QStringLiteral("Tree")), qPrintable(msg));
  QVERIFY(finished.isEmpty());
  QVERIFY2(progress.isEmpty(), qPrintable(phases(progress).join(',')));  // nothing loaded, no lane ran
  QVERIFY(!w.isBusy());
}

void TestRaceWorker::cancelEndsInCancelled() {
  RaceWorker w;
  w.setProgressInterval(0);
  QSignalSpy finished(&w, &RaceWorker::finished);
  QSignalSpy cancelled(&w, &RaceWorker::cancelled);
  QSignalSpy progress(&w, &RaceWorker::progress);
  // Long enough that the target-only lane is still decoding when Stop comes.
  QVERIFY(w.start(shipped_request(100000)));
  QTRY_VERIFY_WITH_TIMEOUT(
      std::any_of(progress.begin(), progress.end(),
                  [](const QList<QVariant>& a) { return a.at(0).toString() == QLatin1String("target-only") && a.at(1).toInt() > 0; }),
      60000);
  w.stop();
  QVERIFY(cancelled.wait(30000));
  QVERIFY(finished.isEmpty());
  QVERIFY(!w.isBusy());
  QVERIFY(!phases(progress).contains(QStringLiteral("speculative")));
}

void TestRaceWorker::secondStartWhileBusyIsRefused() {
  RaceWorker w;
  QSignalSpy failed(&w, &RaceWorker::failed);
  QSignalSpy cancelled(&w, &RaceWorker::cancelled);
  QVERIFY(w.start(shipped_request(100000)));
  QVERIFY(!w.start(shipped_request(10)));
  QCOMPARE(failed.count(), 1);
  w.cancelAndWait();  // joins; the cancelled job stays quiet
  QVERIFY(!w.isBusy());
  QTest::qWait(50);
  QVERIFY(cancelled.isEmpty());
}

QTEST_MAIN(TestRaceWorker)
#include "tst_race_worker.moc"
