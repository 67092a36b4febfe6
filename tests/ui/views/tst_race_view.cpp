// SPDX-License-Identifier: Apache-2.0
// The race view on the shipped model pair: a race measures both lanes, plays
// them back and ends with both panes holding the full texts, the speedup and
// the lossless check; playback follows the measured times scaled by the
// factor; Stop cancels measuring and freezes playback; presentation mode
// scales the fonts and hides the secondary controls; renders at both sizes.
// RACE_VIEW_PNG_DIR=/some/dir writes the renders there.
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QStringDecoder>
#include <QTextBlock>
#include <QTextDocument>
#include <QtTest>

#include "race_test_support.h"
#include "ui/views/race_view.h"

using sm::ui::RaceLane;
using sm::ui::RaceRequest;
using sm::ui::RaceView;

namespace {

using race_test::shipped_request;

QString decoded(const RaceLane& lane) { return QStringDecoder(QStringDecoder::Utf8)(lane.text()); }

void save(QWidget& w, const char* name) {
  const QByteArray dir = qgetenv("RACE_VIEW_PNG_DIR");
  if (dir.isEmpty()) return;
  QTest::qWait(30);  // let pending layout requests run, as they would on screen
  w.grab().save(QString::fromUtf8(dir) + QLatin1Char('/') + QLatin1String(name));
}

template <class T>
T* child(QWidget& w, const char* name) {
  T* c = w.findChild<T*>(QString::fromLatin1(name));
  if (!c) qWarning("no child %s", name);
  return c;
}

}  // namespace

class TestRaceView : public QObject {
  Q_OBJECT

 private slots:
  void raceShowsBothLanesAndSpeedup();
  void playbackFollowsMeasuredTimes();
  void stopFreezesPlayback();
  void stopDuringMeasuring();
  void ctrlRStarts();
  void badTreeShowsError();
  void presentationScalesFontsAndHidesControls();
  void factorText_data();
  void factorText();
  void smallRender();
  void darkTheme();
};

void TestRaceView::raceShowsBothLanesAndSpeedup() {
  RaceView v;
  v.resize(1200, 800);
  v.show();
  v.setRequest(shipped_request(300));
  QCOMPARE(child<QLabel>(v, "specTitle")->text(), QStringLiteral("Speculative (tree 2,2,1)"));
  QCOMPARE(child<QLabel>(v, "plainTitle")->text(), QStringLiteral("Target only"));
  QSignalSpy measured(&v, &RaceView::measured);
  QSignalSpy finished(&v, &RaceView::finished);
  v.start();
  QVERIFY(v.isRunning());
  QVERIFY(!child<QPushButton>(v, "raceStart")->isEnabled());
  QVERIFY(measured.wait(120000));
  QVERIFY(v.isPlaying());
  QVERIFY(v.result());
  // Automatic factor: the target-only lane plays at ~30 tok/s.
  const double target_play_s = v.result()->plain.tokens.back().t_s / v.playbackFactor();
  QVERIFY2(target_play_s > 7 && target_play_s < 13, qPrintable(QString::number(target_play_s)));
  QTest::qWait(3000);
  save(v, "race_mid_1200x800.png");
  v.setPresentation(true);
  QTest::qWait(1000);
  save(v, "race_mid_presentation_1200x800.png");
  v.setPresentation(false);
  QVERIFY(finished.isEmpty());
  QVERIFY(child<QLabel>(v, "raceStatus")->text().contains(QStringLiteral("of real time")));

  v.finishPlaybackNow();
  QCOMPARE(finished.count(), 1);
  QVERIFY(!v.isRunning());
  save(v, "race_done_1200x800.png");
  const QString prompt = QStringLiteral("And God said");
  QCOMPARE(child<QPlainTextEdit>(v, "plainPane")->toPlainText(), prompt + decoded(v.result()->plain));
  QCOMPARE(child<QPlainTextEdit>(v, "specPane")->toPlainText(), prompt + decoded(v.result()->spec));
  QVERIFY(v.result()->same_output);
  const QString speedup = child<QLabel>(v, "raceSpeedup")->text();
  QVERIFY2(QRegularExpression(QStringLiteral("^\\d+\\.\\d+x")).match(speedup).hasMatch(), qPrintable(speedup));
  QVERIFY(child<QLabel>(v, "raceCheck")->text().contains(QStringLiteral("same output: yes")));
  QVERIFY(child<QLabel>(v, "plainFigure")->text().startsWith(QStringLiteral("300 tokens")));
  QVERIFY(child<QLabel>(v, "specFigure")->text().startsWith(QStringLiteral("300 tokens")));
  QVERIFY(child<QPushButton>(v, "raceReplay")->isEnabled());

  // Accepted draft tokens carry the underlined tint; the target-only pane has none.
  auto underlined = [](QPlainTextEdit* pane) {
    int n = 0;
    for (QTextBlock b = pane->document()->begin(); b.isValid(); b = b.next())
      for (auto it = b.begin(); !it.atEnd(); ++it)
        if (it.fragment().charFormat().fontUnderline()) n += it.fragment().length();
    return n;
  };
  QCOMPARE(underlined(child<QPlainTextEdit>(v, "plainPane")), 0);
  QVERIFY(underlined(child<QPlainTextEdit>(v, "specPane")) > 0);

  // Replay starts over from the race's prompt, whatever the field says now.
  child<QLineEdit>(v, "racePrompt")->setText(QStringLiteral("edited"));
  v.replay();
  QVERIFY(child<QPlainTextEdit>(v, "plainPane")->toPlainText().startsWith(prompt));
  QVERIFY(v.isPlaying());
  QVERIFY(child<QPlainTextEdit>(v, "plainPane")->toPlainText().size() < prompt.size() + decoded(v.result()->plain).size());
  QCOMPARE(child<QLabel>(v, "raceSpeedup")->text(), QStringLiteral("racing…"));
  v.finishPlaybackNow();
  QCOMPARE(finished.count(), 2);
}

void TestRaceView::playbackFollowsMeasuredTimes() {
  RaceView v;
  v.resize(800, 500);
  v.show();
  v.setRequest(shipped_request(200));
  v.setPlaybackFactor(1e-3);  // ~40 ms measured -> ~40 s on screen
  QSignalSpy measured(&v, &RaceView::measured);
  QSignalSpy finished(&v, &RaceView::finished);
  v.start();
  QVERIFY(measured.wait(120000));
  QTest::qWait(500);
  auto* plain = child<QPlainTextEdit>(v, "plainPane");
  const QString full = QStringLiteral("And God said") + decoded(v.result()->plain);
  const QString part = plain->toPlainText();
  QVERIFY(full.startsWith(part));
  QVERIFY2(part.size() < full.size(), "1/1000 of real time must not have finished within 0.5 s");
  QVERIFY(finished.isEmpty());

  // Real time: the rest plays within a fraction of a second.
  v.setPlaybackFactor(1.0);
  QCOMPARE(v.playbackFactor(), 1.0);
  QVERIFY(finished.wait(5000));
  QCOMPARE(plain->toPlainText(), full);
  QVERIFY(child<QLabel>(v, "raceStatus")->text().contains(QStringLiteral("real time")));
}

void TestRaceView::stopFreezesPlayback() {
  RaceView v;
  v.show();
  v.setRequest(shipped_request(200));
  v.setPlaybackFactor(1e-3);
  QSignalSpy measured(&v, &RaceView::measured);
  QSignalSpy finished(&v, &RaceView::finished);
  v.start();
  QVERIFY(measured.wait(120000));
  QTest::qWait(200);
  QTest::mouseClick(child<QPushButton>(v, "raceStop"), Qt::LeftButton);
  QVERIFY(!v.isRunning());
  auto* spec = child<QPlainTextEdit>(v, "specPane");
  const QString frozen = spec->toPlainText();
  QTest::qWait(300);
  QCOMPARE(spec->toPlainText(), frozen);
  QVERIFY(child<QLabel>(v, "raceStatus")->text().contains(QStringLiteral("stopped")));
  // Jumping to the end of a stopped playback shows everything without a finished() signal.
  v.finishPlaybackNow();
  QCOMPARE(spec->toPlainText(), QStringLiteral("And God said") + decoded(v.result()->spec));
  QVERIFY(finished.isEmpty());
}

void TestRaceView::stopDuringMeasuring() {
  RaceView v;
  v.show();
  v.setRequest(shipped_request(100000));  // long enough to be caught measuring
  QSignalSpy measured(&v, &RaceView::measured);
  v.start();
  auto* status = child<QLabel>(v, "raceStatus");
  QTRY_VERIFY_WITH_TIMEOUT(status->text().startsWith(QStringLiteral("measuring target-only")), 60000);
  QVERIFY2(QRegularExpression(QStringLiteral("measuring target-only… \\d+/100000")).match(status->text()).hasMatch(),
           qPrintable(status->text()));
  QVERIFY(child<QPushButton>(v, "raceStop")->isEnabled());
  QTest::mouseClick(child<QPushButton>(v, "raceStop"), Qt::LeftButton);
  QTRY_VERIFY_WITH_TIMEOUT(!v.isRunning(), 30000);
  QVERIFY(measured.isEmpty());
  QVERIFY(!v.result());
  QVERIFY(status->text().contains(QStringLiteral("stopped")));
  QVERIFY(child<QPushButton>(v, "raceStart")->isEnabled());
  QVERIFY(!child<QPushButton>(v, "raceReplay")->isEnabled());
}

void TestRaceView::ctrlRStarts() {
  RaceView v;
  v.show();
  QVERIFY(QTest::qWaitForWindowActive(&v));
  v.setRequest(shipped_request(100000));
  auto* pane = child<QPlainTextEdit>(v, "plainPane");
  pane->setFocus();
  QTest::keyClick(pane, Qt::Key_R, Qt::ControlModifier);
  QVERIFY(v.isMeasuring());
  v.stop();
  QTRY_VERIFY_WITH_TIMEOUT(!v.isRunning(), 60000);
}

void TestRaceView::badTreeShowsError() {
  RaceView v;
  v.show();
  v.setRequest(shipped_request(60));
  child<QLineEdit>(v, "raceTree")->setText(QStringLiteral("2,x"));
  QCOMPARE(v.request().spec.tree, QStringLiteral("2,x"));
  QCOMPARE(child<QLabel>(v, "specTitle")->text(), QStringLiteral("Speculative (tree 2,x)"));
  QSignalSpy failed(&v, &RaceView::raceFailed);
  v.start();
  QVERIFY(failed.wait(30000));
  QVERIFY(!v.isRunning());
  const QString status = child<QLabel>(v, "raceStatus")->text();
  QVERIFY2(status.startsWith(QStringLiteral("Race failed: Tree: 2,x")), qPrintable(status));
  QVERIFY(!v.result());
}

void TestRaceView::presentationScalesFontsAndHidesControls() {
  RaceView v;
  v.resize(1200, 800);
  v.show();
  auto* pane = child<QPlainTextEdit>(v, "specPane");
  auto* speedup = child<QLabel>(v, "raceSpeedup");
  const qreal pane_pt = pane->font().pointSizeF();
  const qreal speedup_pt = speedup->font().pointSizeF();
  QVERIFY(child<QLineEdit>(v, "racePrompt")->isVisible());
  QTest::mouseClick(child<QCheckBox>(v, "racePresentation"), Qt::LeftButton);
  QVERIFY(v.presentation());
  QCOMPARE(pane->font().pointSizeF(), pane_pt * 1.6);
  QCOMPARE(speedup->font().pointSizeF(), speedup_pt * 1.6);
  QVERIFY(!child<QLineEdit>(v, "racePrompt")->isVisible());
  QVERIFY(!child<QComboBox>(v, "raceSpeed")->isVisible());
  QVERIFY(child<QPushButton>(v, "raceStart")->isVisible());
  v.setPresentation(false);
  QVERIFY(!child<QCheckBox>(v, "racePresentation")->isChecked());
  QCOMPARE(pane->font().pointSizeF(), pane_pt);
  QVERIFY(child<QLineEdit>(v, "racePrompt")->isVisible());
}

void TestRaceView::factorText_data() {
  QTest::addColumn<double>("factor");
  QTest::addColumn<QString>("text");
  QTest::newRow("1/300") << 1.0 / 300 << QStringLiteral("1/300");
  QTest::newRow("1/1000") << 1e-3 << QStringLiteral("1/1000");
  QTest::newRow("custom 1/250") << 1.0 / 250 << QStringLiteral("1/250");
  QTest::newRow("real time") << 1.0 << QStringLiteral("1x (real time)");
}

void TestRaceView::factorText() {
  QFETCH(double, factor);
  QFETCH(QString, text);
  RaceView v;
  v.setPlaybackFactor(factor);
  QCOMPARE(v.playbackFactor(), factor);
  QCOMPARE(child<QComboBox>(v, "raceSpeed")->currentText(), text);
  v.setPlaybackFactor(0);  // automatic
  QVERIFY(child<QComboBox>(v, "raceSpeed")->currentText().startsWith(QStringLiteral("auto")));
}

void TestRaceView::smallRender() {
  RaceView v;
  v.resize(480, 320);
  v.show();
  v.setRequest(shipped_request(120));
  QSignalSpy measured(&v, &RaceView::measured);
  v.start();
  QVERIFY(measured.wait(120000));
  v.finishPlaybackNow();
  QVERIFY(!v.grab().isNull());
  save(v, "race_480x320.png");
  // The button row keeps every control, none on top of another.
  QList<QWidget*> row = {child<QPushButton>(v, "raceStart"), child<QPushButton>(v, "raceStop"),
                         child<QPushButton>(v, "raceReplay"), child<QCheckBox>(v, "racePresentation")};
  for (int i = 0; i < row.size(); ++i) {
    QVERIFY(row[i]->isVisible());
    QVERIFY(row[i]->width() >= row[i]->minimumSizeHint().width());
    for (int j = i + 1; j < row.size(); ++j) QVERIFY(!row[i]->geometry().intersects(row[j]->geometry()));
  }
  // Two readable panes side by side.
  auto* plain = child<QPlainTextEdit>(v, "plainPane");
  auto* spec = child<QPlainTextEdit>(v, "specPane");
  QVERIFY(plain->width() > 150 && spec->width() > 150);
  QVERIFY(plain->height() >= 60);
  QVERIFY(plain->mapTo(&v, QPoint(plain->width(), 0)).x() <= spec->mapTo(&v, QPoint(0, 0)).x());
  v.setPresentation(true);
  save(v, "race_480x320_presentation.png");
}

void TestRaceView::darkTheme() {
  const QPalette light = QApplication::palette();
  QPalette dark;
  dark.setColor(QPalette::Window, QColor(0x2b, 0x2b, 0x2b));
  dark.setColor(QPalette::WindowText, QColor(0xe0, 0xe0, 0xe0));
  dark.setColor(QPalette::Base, QColor(0x1e, 0x1e, 0x1e));
  dark.setColor(QPalette::Text, QColor(0xe0, 0xe0, 0xe0));
  dark.setColor(QPalette::Button, QColor(0x3a, 0x3a, 0x3a));
  dark.setColor(QPalette::ButtonText, QColor(0xe0, 0xe0, 0xe0));
  dark.setColor(QPalette::PlaceholderText, QColor(0x90, 0x90, 0x90));
  QApplication::setPalette(dark);
  {
    RaceView v;
    v.resize(1200, 800);
    v.show();
    v.setRequest(shipped_request(120));
    QSignalSpy measured(&v, &RaceView::measured);
    v.start();
    QVERIFY(measured.wait(120000));
    v.finishPlaybackNow();
    save(v, "race_dark_1200x800.png");
    // Draft tokens: the theme's light text on a dark tint; the target's: the theme's text.
    auto* spec = child<QPlainTextEdit>(v, "specPane");
    int draft = 0, plain = 0;
    for (QTextBlock b = spec->document()->begin(); b.isValid(); b = b.next())
      for (auto it = b.begin(); !it.atEnd(); ++it) {
        const QTextCharFormat f = it.fragment().charFormat();
        if (f.fontUnderline()) {
          ++draft;
          QVERIFY(f.background().color().lightness() < 128);
          QCOMPARE(f.foreground().color(), dark.color(QPalette::Text));
        } else if (f.foreground().color() == dark.color(QPalette::Text)) {
          ++plain;
        }
      }
    QVERIFY(draft > 0 && plain > 0);
  }
  QApplication::setPalette(light);
}

QTEST_MAIN(TestRaceView)
#include "tst_race_view.moc"
