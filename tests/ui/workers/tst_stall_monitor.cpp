// SPDX-License-Identifier: Apache-2.0
// The GUI-stall figure of --screenshot-views: a handler that keeps the GUI
// thread busy for 80 ms shows up as an 80 ms stall; many short handlers do not
// add up to one.
#include <QElapsedTimer>
#include <QEventLoop>
#include <QTimer>
#include <QtTest>

#include "ui/workers/stall_monitor.h"

namespace {
void busy_for_ms(int ms) {
  QElapsedTimer t;
  t.start();
  volatile double x = 0;
  while (t.elapsed() < ms) x = x + 1;
}
}  // namespace

class TestStallMonitor : public QObject {
  Q_OBJECT

 private slots:
  void longHandlerIsOneStall() {
    sm::ui::StallMonitor m;
    QEventLoop loop;
    QTimer::singleShot(10, [] { busy_for_ms(80); });
    QTimer::singleShot(200, &loop, &QEventLoop::quit);
    m.start();
    loop.exec();
    m.stop();
    // The beat before the handler came at most one beat earlier.
    QVERIFY2(m.maxStallMs() >= 80.0 - sm::ui::StallMonitor::kBeatMs, qPrintable(QString::number(m.maxStallMs())));
    QVERIFY2(m.maxStallMs() < 150.0, qPrintable(QString::number(m.maxStallMs())));
    QVERIFY(m.beats() >= 10);
  }

  void shortHandlersAreShortStalls() {
    sm::ui::StallMonitor m;
    QEventLoop loop;
    QTimer tick;
    int n = 0;
    QObject::connect(&tick, &QTimer::timeout, [&] {
      busy_for_ms(2);
      if (++n == 40) loop.quit();
    });
    tick.start(5);
    m.start();
    loop.exec();
    m.stop();
    QVERIFY2(m.maxStallMs() < 20.0, qPrintable(QString::number(m.maxStallMs())));
    QVERIFY(m.beats() >= 20);
  }
};

QTEST_MAIN(TestStallMonitor)
#include "tst_stall_monitor.moc"
