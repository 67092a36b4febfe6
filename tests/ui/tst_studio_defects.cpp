// SPDX-License-Identifier: Apache-2.0
// Regression tests for the Studio defects of issue 10 (items 5, 7, 10), on
// the shipped model pair: a typing mistake keeps the last results, small
// windows lose no control, the status bar and the banner do not overlap or
// move anything, the chart title agrees with the status bar, the legend stays
// off the data, a folder of models can be opened, settings persist, and the
// command line offers the CLI's speculative options.
#include <QAbstractItemView>
#include <QApplication>
#include <QComboBox>
#include <QFile>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProcess>
#include <QPushButton>
#include <QRegularExpression>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTableView>
#include <QTemporaryDir>
#include <QTimer>
#include <QWheelEvent>
#include <QtTest>

#include <qcustomplot.h>

#include "tests/ui/studio_test_support.h"
#include "ui/generation_worker.h"
#include "ui/latency_chart.h"
#include "ui/models/model_dirs.h"
#include "ui/models/run_list_model.h"
#include "ui/models/run_record.h"
#include "ui/token_stream_view.h"

using sm::ui::LatencyChart;
using sm::ui::MainWindow;
using namespace studio_test;

namespace {

QScrollArea* centralScroll(MainWindow& w) {
  return w.findChild<QScrollArea*>(QStringLiteral("centralScroll"));
}

// The generation panel's controls, by object name.
const QStringList& panelControls() {
  static const QStringList names = {
      QStringLiteral("promptEdit"),      QStringLiteral("generateButton"),   QStringLiteral("stopButton"),
      QStringLiteral("maxTokensSpin"),   QStringLiteral("temperatureSpin"),  QStringLiteral("topKSpin"),
      QStringLiteral("topPSpin"),        QStringLiteral("seedEdit"),         QStringLiteral("draftPathEdit"),
      QStringLiteral("openDraftButton"), QStringLiteral("treeShapeCombo"),   QStringLiteral("verifyOrderCombo"),
      QStringLiteral("backtrackCombo"),  QStringLiteral("budgetSpin"),       QStringLiteral("tileSpin")};
  return names;
}

QRect rectIn(const QWidget* w, const QWidget* ancestor) {
  return QRect(w->mapTo(ancestor, QPoint(0, 0)), w->size());
}
// The least size a layout may give `w` (an explicit minimum wins over the hint).
QSize layoutMinimum(const QWidget* w) {
  const QSize hint = w->minimumSizeHint();
  return QSize(w->minimumWidth() > 0 ? w->minimumWidth() : hint.width(),
               w->minimumHeight() > 0 ? w->minimumHeight() : hint.height());
}
QRect globalRect(const QWidget* w) { return QRect(w->mapToGlobal(QPoint(0, 0)), w->size()); }

void settle() {
  for (int i = 0; i < 3; ++i) QApplication::processEvents();
}

QString specFigure(const QString& status, const QString& unit) {
  const QRegularExpression re(QStringLiteral("([0-9]+(?:\\.[0-9]+)?) %1").arg(QRegularExpression::escape(unit)));
  return re.match(status).captured(1);
}

QString studioBinary() {
  return QDir::cleanPath(QCoreApplication::applicationDirPath() + QStringLiteral("/../app/specmamba-studio"));
}

}  // namespace

class TestStudioDefects : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase();
  void typingMistakeKeepsResults();
  void smallWindowLosesNoControl_data();
  void smallWindowLosesNoControl();
  void statusLabelsDoNotOverlap();
  void errorBannerDoesNotMoveLayout();
  void chartTitleMatchesStatus_data();
  void chartTitleMatchesStatus();
  void legendStaysOffTheData_data();
  void legendStaysOffTheData();
  void denseSamplesHideRawUntilZoomed();
  void folderOfModelsOffersThem();
  void settingsPersist();
  void commandLineOffersSpeculativeOptions();
  void commandLineRejectsBadNumbers_data();
  void commandLineRejectsBadNumbers();

 private:
  QTemporaryDir settings_dir_;
};

void TestStudioDefects::initTestCase() {
  QVERIFY(settings_dir_.isValid());
  // Never the user's settings.
  QStandardPaths::setTestModeEnabled(true);
  QCoreApplication::setOrganizationName(QStringLiteral("SpecMambaRegressionTests"));
  QCoreApplication::setApplicationName(QStringLiteral("tst_studio_defects"));
  for (auto fmt : {QSettings::NativeFormat, QSettings::IniFormat})
    QSettings::setPath(fmt, QSettings::UserScope, settings_dir_.path());
  QSettings().clear();
  QVERIFY(QFileInfo(shippedTarget() + QStringLiteral("/config.json")).isFile());
}

void TestStudioDefects::typingMistakeKeepsResults() {
  MainWindow w;
  w.show();
  QVERIFY(QTest::qWaitForWindowExposed(&w));
  QVERIFY(load(w));
  configure(w, QStringLiteral("1,1,1,1"), 40);
  QVERIFY(run(w));

  sm::ui::TokenStreamView* out = w.generationPanel()->output();
  LatencyChart* chart = w.latencyChart();
  const QString text = out->toPlainText();
  const QString generated = out->generatedText();
  const int samples = chart->sampleCount();
  const QString title = chart->titleText();
  const QString header = w.runHeaderText();
  const int rows = w.runs()->size();
  const auto run_before = w.currentRun();
  QVERIFY(run_before);
  QVERIFY(!generated.isEmpty());
  QCOMPARE(samples, int(run_before->steps.size()));
  QCOMPARE(rows, 1);

  w.generationPanel()->spec()->setTree(QStringLiteral("abc"));
  auto* prompt = w.findChild<QPlainTextEdit*>(QStringLiteral("promptEdit"));
  QVERIFY(prompt);
  prompt->setFocus();
  QSignalSpy finished(&w, &MainWindow::runFinished);
  QSignalSpy states(&w, &MainWindow::stateChanged);
  QTest::keyClick(prompt, Qt::Key_Return, Qt::ControlModifier);
  settle();
  QCOMPARE(finished.size(), 1);  // refused at once, not by the worker later
  QCOMPARE(finished.first().first().toBool(), false);
  QVERIFY(states.isEmpty());     // never went to Generating
  QVERIFY(!w.worker()->isBusy());

  auto unchanged = [&] {
    QCOMPARE(out->toPlainText(), text);
    QCOMPARE(out->generatedText(), generated);
    QCOMPARE(chart->sampleCount(), samples);
    QCOMPARE(chart->titleText(), title);
    QCOMPARE(w.runHeaderText(), header);
    QCOMPARE(w.runs()->size(), rows);
    QCOMPARE(w.currentRun(), run_before);
  };
  unchanged();
  const QString msg = w.messageBanner()->text();
  QVERIFY(w.messageBanner()->isVisible());
  QVERIFY2(msg.contains(QStringLiteral("Tree")), qPrintable(msg));
  QVERIFY2(!msg.contains(QStringLiteral("--tree")), qPrintable(msg));
  QVERIFY2(msg.contains(QStringLiteral("abc")), qPrintable(msg));  // what was typed

  QVERIFY(!w.startGeneration());
  unchanged();
  QCOMPARE(w.state(), MainWindow::State::Idle);
}

void TestStudioDefects::smallWindowLosesNoControl_data() {
  QTest::addColumn<QSize>("size");
  QTest::newRow("640x480") << QSize(640, 480);
  QTest::newRow("1024x640") << QSize(1024, 640);
  QTest::newRow("1600x1000") << QSize(1600, 1000);
}

void TestStudioDefects::smallWindowLosesNoControl() {
  QFETCH(QSize, size);
  MainWindow w;
  w.generationPanel()->spec()->setSpeculative(true);  // its fields are the ones to keep
  w.resize(size);
  w.show();
  QVERIFY(QTest::qWaitForWindowExposed(&w));
  settle();
  QCOMPARE(w.size(), size);  // no minimum size forces it larger

  QScrollArea* scroll = centralScroll(w);
  QVERIFY(scroll);
  QWidget* content = scroll->widget();
  QVERIFY(content);
  auto* prompt = w.findChild<QPlainTextEdit*>(QStringLiteral("promptEdit"));
  const QRect prompt_rect = rectIn(prompt, content);
  QVERIFY(prompt_rect.height() >= prompt->fontMetrics().lineSpacing() * 2);

  // The rows of settings and buttons never overlap the prompt.
  const QList<QWidget*> rows = {w.generationPanel()->sampling(), w.generationPanel()->spec(),
                                w.generationPanel()->generateButton(), w.generationPanel()->stopButton()};
  for (QWidget* r : rows)
    QVERIFY2(!prompt_rect.intersects(rectIn(r, content)),
             qPrintable(QStringLiteral("%1 overlaps the prompt").arg(r->metaObject()->className())));

  QList<QWidget*> controls;
  for (const QString& name : panelControls()) {
    auto* c = w.findChild<QWidget*>(name);
    QVERIFY2(c, qPrintable(name));
    QVERIFY2(c->isVisible(), qPrintable(name));
    QVERIFY2(content->isAncestorOf(c), qPrintable(name));
    // Not squeezed below what it needs to show its value.
    const QSize need = layoutMinimum(c);
    QVERIFY2(c->width() >= need.width() && c->height() >= need.height(),
             qPrintable(QStringLiteral("%1 is %2x%3, needs %4x%5")
                            .arg(name)
                            .arg(c->width())
                            .arg(c->height())
                            .arg(need.width())
                            .arg(need.height())));
    controls << c;
  }
  // Their labels are whole too ("Ma" for "Max tokens" is a lost label).
  for (QWidget* row : {static_cast<QWidget*>(w.generationPanel()->sampling()),
                       static_cast<QWidget*>(w.generationPanel()->spec())})
    for (QLabel* l : row->findChildren<QLabel*>())
      QVERIFY2(l->width() >= layoutMinimum(l).width(),
               qPrintable(QStringLiteral("label '%1' is %2 px, needs %3").arg(l->text()).arg(l->width()).arg(layoutMinimum(l).width())));
  for (int i = 0; i < controls.size(); ++i)
    for (int j = i + 1; j < controls.size(); ++j)
      QVERIFY2(!rectIn(controls[i], content).intersects(rectIn(controls[j], content)),
               qPrintable(panelControls()[i] + QStringLiteral(" overlaps ") + panelControls()[j]));

  // Every control can be scrolled into the viewport.
  const QRect viewport = scroll->viewport()->rect();
  QVERIFY(!viewport.isEmpty());
  for (int i = 0; i < controls.size(); ++i) {
    QWidget* c = controls[i];
    // Focus (Tab) brings its text cursor into view; the whole of it can be
    // scrolled into view too.
    scroll->ensureWidgetVisible(c, 2, 2);
    settle();
    QVERIFY2(rectIn(c, scroll->viewport()).intersects(viewport), qPrintable(panelControls()[i]));
    const QRect in_content = rectIn(c, content);
    scroll->ensureVisible(in_content.center().x(), in_content.center().y(), c->width() / 2 + 2,
                          c->height() / 2 + 2);
    settle();
    const QRect r = rectIn(c, scroll->viewport());
    const QRect shown = r.intersected(viewport);
    if (c == prompt)  // it grows with the window: a few lines of it are enough
      QVERIFY2(shown.height() >= prompt->fontMetrics().lineSpacing() * 2, qPrintable(panelControls()[i]));
    else if (c->width() > viewport.width() - 4)  // a stretched line edit: all of the view
      QVERIFY2(shown.height() == r.height() && shown.width() >= viewport.width() - 4, qPrintable(panelControls()[i]));
    else
      QVERIFY2(viewport.contains(r),
               qPrintable(QStringLiteral("%1 at %2,%3 %4x%5 outside the %6x%7 viewport")
                              .arg(panelControls()[i])
                              .arg(r.x())
                              .arg(r.y())
                              .arg(r.width())
                              .arg(r.height())
                              .arg(viewport.width())
                              .arg(viewport.height())));
  }
}

void TestStudioDefects::statusLabelsDoNotOverlap() {
  MainWindow w;
  w.resize(1024, 640);
  w.show();
  QVERIFY(QTest::qWaitForWindowExposed(&w));
  QVERIFY(load(w));
  configure(w, QStringLiteral("2,2,1"), 30);
  QVERIFY(run(w));
  settle();
  QCOMPARE(w.width(), 1024);

  QList<QLabel*> labels;
  for (const char* name : {"specStatsLabel", "tokenCountLabel", "tokensPerSecondLabel", "stateLabel"}) {
    auto* l = w.statusBar()->findChild<QLabel*>(QString::fromLatin1(name));
    QVERIFY2(l, name);
    QVERIFY2(l->isVisible(), name);
    QVERIFY2(!l->text().isEmpty(), name);
    // The whole text fits.
    QVERIFY2(l->width() >= l->fontMetrics().horizontalAdvance(l->text()),
             qPrintable(QStringLiteral("%1: '%2' in %3 px").arg(QString::fromLatin1(name), l->text()).arg(l->width())));
    QVERIFY2(w.statusBar()->rect().contains(rectIn(l, w.statusBar())), name);
    labels << l;
  }
  for (int i = 0; i < labels.size(); ++i)
    for (int j = i + 1; j < labels.size(); ++j)
      QVERIFY2(!rectIn(labels[i], w.statusBar()).intersects(rectIn(labels[j], w.statusBar())),
               qPrintable(labels[i]->objectName() + QStringLiteral(" overlaps ") + labels[j]->objectName()));
}

void TestStudioDefects::errorBannerDoesNotMoveLayout() {
  MainWindow w;
  w.resize(1200, 800);
  w.show();
  QVERIFY(QTest::qWaitForWindowExposed(&w));
  QVERIFY(load(w));
  configure(w, QStringLiteral("2,2,1"), 10);
  settle();
  auto* prompt = w.findChild<QPlainTextEdit*>(QStringLiteral("promptEdit"));
  QPushButton* gen = w.generationPanel()->generateButton();
  const QRect prompt_before = globalRect(prompt), gen_before = globalRect(gen);
  QVERIFY(!w.messageBanner()->isVisible());

  w.generationPanel()->spec()->setTree(QStringLiteral("0,1"));
  QVERIFY(!w.startGeneration());
  settle();
  QVERIFY(w.messageBanner()->isVisible());
  QCOMPARE(globalRect(prompt), prompt_before);
  QCOMPARE(globalRect(gen), gen_before);

  // Over the centre, on top of it, and readable.
  QWidget* viewport = centralScroll(w)->viewport();
  const QRect banner = globalRect(w.messageBanner());
  QVERIFY(globalRect(viewport).contains(banner));
  QCOMPARE(viewport->children().last(), static_cast<QObject*>(w.messageBanner()));
  auto* text = w.messageBanner()->findChild<QLabel*>(QStringLiteral("messageBannerText"));
  QVERIFY(text->height() >= text->heightForWidth(text->width()));

  // Dismissing it moves nothing either.
  w.messageBanner()->hide();
  settle();
  QCOMPARE(globalRect(prompt), prompt_before);
  QCOMPARE(globalRect(gen), gen_before);
}

void TestStudioDefects::chartTitleMatchesStatus_data() {
  QTest::addColumn<QString>("tree");  // empty: target-only
  QTest::addColumn<int>("max_tokens");
  QTest::addColumn<int>("steps");     // expected; -1: whatever the run took
  QTest::newRow("speculative 2,2,1") << QStringLiteral("2,2,1") << 40 << -1;
  QTest::newRow("speculative chain") << QStringLiteral("1,1,1,1") << 40 << -1;
  // The one step is cut by max_tokens: 2 of its tokens reach the output.
  QTest::newRow("cut step 4,2,2 -n 3") << QStringLiteral("4,2,2") << 3 << 1;
  QTest::newRow("target-only") << QString() << 30 << -1;
}

void TestStudioDefects::chartTitleMatchesStatus() {
  QFETCH(QString, tree);
  QFETCH(int, max_tokens);
  QFETCH(int, steps);
  MainWindow w;
  w.show();
  QVERIFY(QTest::qWaitForWindowExposed(&w));
  QVERIFY(load(w));
  configure(w, tree, max_tokens, QStringLiteral("In the beginning"));
  QVERIFY(run(w));
  LatencyChart* chart = w.latencyChart();
  chart->replotNow();
  const QString title = chart->titleText();
  const auto rec = w.currentRun();
  QVERIFY(rec);
  QCOMPARE(rec->figures.generated, int64_t(max_tokens));

  if (tree.isEmpty()) {
    const QString rate = specFigure(w.statusTokensPerSecondText(), QStringLiteral("tok/s"));
    QVERIFY2(!rate.isEmpty(), qPrintable(w.statusTokensPerSecondText()));
    QVERIFY2(title.contains(rate + QStringLiteral(" tok/s")), qPrintable(title + QStringLiteral(" / ") + rate));
    QCOMPARE(chart->sampleCount(), max_tokens - 1);  // the first token is the prefill's
    return;
  }
  const QString status = w.statusSpecText();
  const QString per_pass = specFigure(status, QStringLiteral("tok/pass"));
  const QString accepted = specFigure(status, QStringLiteral("accepted/pass"));
  const QString step_count = specFigure(status, QStringLiteral("steps"));
  QVERIFY2(!per_pass.isEmpty() && !accepted.isEmpty() && !step_count.isEmpty(), qPrintable(status));
  QVERIFY2(title.contains(per_pass + QStringLiteral(" tok/pass")), qPrintable(title + QStringLiteral(" / ") + status));
  QVERIFY2(title.contains(QStringLiteral("(") + accepted + QStringLiteral(" accepted")),
           qPrintable(title + QStringLiteral(" / ") + status));
  QVERIFY2(title.contains(step_count + QStringLiteral(" steps")), qPrintable(title + QStringLiteral(" / ") + status));

  // One sample per step, each the tokens it put into the output.
  QCOMPARE(step_count.toInt(), int(rec->steps.size()));
  QCOMPARE(chart->sampleCount(), int(rec->steps.size()));
  QCOMPARE(int64_t(chart->sampleCount()), rec->figures.steps);
  QCPGraph* raw = chart->plot()->graph(0);
  QCOMPARE(raw->dataCount(), chart->sampleCount());
  int emitted = 0;
  for (int i = 0; i < raw->dataCount(); ++i) {
    QCOMPARE(raw->data()->at(i)->key, double(i + 1));
    QCOMPARE(raw->data()->at(i)->value, double(rec->steps[size_t(i)].emitted));
    emitted += rec->steps[size_t(i)].emitted;
  }
  QCOMPARE(emitted, max_tokens - 1);
  QCOMPARE(per_pass, QString::number(double(emitted) / rec->steps.size(), 'f', 2));
  if (steps >= 0) {
    QCOMPARE(int(rec->steps.size()), steps);
    QCOMPARE(per_pass, QStringLiteral("2.00"));
  }
}

void TestStudioDefects::legendStaysOffTheData_data() {
  QTest::addColumn<int>("mode");
  QTest::newRow("token latency") << int(LatencyChart::Mode::TokenLatency);
  QTest::newRow("step tokens") << int(LatencyChart::Mode::StepTokens);
}

void TestStudioDefects::legendStaysOffTheData() {
  QFETCH(int, mode);
  LatencyChart chart;
  chart.resize(900, 300);
  chart.show();
  QVERIFY(QTest::qWaitForWindowExposed(&chart));
  chart.setMode(LatencyChart::Mode(mode));
  double top = 0;
  for (int i = 1; i <= 300; ++i) {
    const double v = i == 150 ? 40.0 : 2.0 + (i % 5);  // one spike far above the rest
    chart.addSample(i, v);
    top = std::max(top, v);
  }
  chart.replotNow();
  QCustomPlot* plot = chart.plot();
  QVERIFY(plot->legend->visible());
  QVERIFY(!plot->axisRect()->insetLayout()->elements(false).contains(plot->legend));
  QVERIFY(plot->legend->layout() != plot->axisRect()->insetLayout());
  QVERIFY(!plot->legend->outerRect().intersects(plot->axisRect()->rect()));
  QVERIFY2(plot->yAxis->range().upper >= top,
           qPrintable(QStringLiteral("y up to %1, max sample %2").arg(plot->yAxis->range().upper).arg(top)));
  QVERIFY(plot->yAxis->range().lower <= 0);

  // A short dock (640x480 window) gives the legend's row to the data, and
  // takes it back when tall again.
  const int tall_rect = plot->axisRect()->height();
  chart.resize(900, 150);
  settle();
  chart.replotNow();
  QVERIFY(!plot->legend->visible());
  QVERIFY2(plot->axisRect()->height() >= 40, qPrintable(QString::number(plot->axisRect()->height())));
  QVERIFY(plot->yAxis->range().upper >= top);
  chart.resize(900, 300);
  settle();
  chart.replotNow();
  QVERIFY(plot->legend->visible());
  QCOMPARE(plot->axisRect()->height(), tall_rect);
  QVERIFY(!plot->legend->outerRect().intersects(plot->axisRect()->rect()));
}

void TestStudioDefects::denseSamplesHideRawUntilZoomed() {
  LatencyChart chart;
  chart.resize(1000, 320);
  chart.show();
  QVERIFY(QTest::qWaitForWindowExposed(&chart));
  chart.setMode(LatencyChart::Mode::TokenLatency);
  const int n = 20000;
  for (int i = 1; i <= n; ++i) chart.addSample(i, 4.0 + (i % 97 == 0 ? 30.0 : (i % 7) * 0.1));
  chart.replotNow();
  QCustomPlot* plot = chart.plot();
  QCOMPARE(chart.sampleCount(), n);
  QVERIFY(!chart.rawVisible());  // 20,000 samples in < 1000 px: the mean only
  QVERIFY(plot->xAxis->range().lower <= 1 && plot->xAxis->range().upper >= n);

  // Wheel-zoom in (one event, 30 notches) to under 200 samples.
  const QPointF at = plot->axisRect()->rect().center();
  QWheelEvent wheel(at, plot->mapToGlobal(at), QPoint(), QPoint(0, 120 * 30), Qt::NoButton, Qt::NoModifier,
                    Qt::NoScrollPhase, false);
  QApplication::sendEvent(plot, &wheel);
  const double size = plot->xAxis->range().size();
  QVERIFY2(size <= 200 && size > 10, qPrintable(QString::number(size)));
  QVERIFY(chart.rawVisible());
  chart.replotNow();  // a redraw (new samples) keeps the user's zoom
  QCOMPARE(plot->xAxis->range().size(), size);
  QVERIFY(chart.rawVisible());

  QTest::mouseDClick(plot, Qt::LeftButton, Qt::NoModifier, at.toPoint());
  QVERIFY2(plot->xAxis->range().lower <= 1 && plot->xAxis->range().upper >= n,
           qPrintable(QStringLiteral("%1..%2").arg(plot->xAxis->range().lower).arg(plot->xAxis->range().upper)));
  QVERIFY(!chart.rawVisible());
}

void TestStudioDefects::folderOfModelsOffersThem() {
  const sm::ui::ModelDirScan scan = sm::ui::scan_model_dir(repoPath(QStringLiteral("data/models")));
  QVERIFY(!scan.is_model);
  QCOMPARE(scan.models, QStringList({shippedDraft(), shippedTarget()}));
  QVERIFY(sm::ui::scan_model_dir(shippedTarget()).is_model);

  MainWindow w;
  w.show();
  QVERIFY(QTest::qWaitForWindowExposed(&w));

  // One model inside: it is loaded.
  QTemporaryDir one;
  QVERIFY(one.isValid());
  QVERIFY(QFile::link(shippedTarget(), one.filePath(QStringLiteral("mamba2-target"))));
  QVERIFY(load(w, one.path()));
  QVERIFY(w.hasModel());
  QCOMPARE(QFileInfo(w.worker()->modelInfo().path).fileName(), QStringLiteral("mamba2-target"));
  QVERIFY(!w.messageBanner()->isVisible());

  // Several: the user picks one (the one that is not offered first).
  QString offered_first, picked;
  int dialogs = 0;
  QTimer poll;
  poll.setInterval(20);
  connect(&poll, &QTimer::timeout, this, [&] {
    for (QWidget* top : QApplication::topLevelWidgets()) {
      auto* dlg = qobject_cast<QInputDialog*>(top);
      if (!dlg || !dlg->isVisible()) continue;
      ++dialogs;
      const QStringList items = dlg->comboBoxItems();
      offered_first = dlg->textValue();
      picked = items.value(1);
      dlg->setTextValue(picked);
      dlg->accept();
      poll.stop();
      return;
    }
  });
  poll.start();
  QVERIFY(load(w, repoPath(QStringLiteral("data/models"))));
  poll.stop();
  QCOMPARE(dialogs, 1);
  QCOMPARE(offered_first, QStringLiteral("mamba2-draft"));
  QCOMPARE(picked, QStringLiteral("mamba2-target"));
  QCOMPARE(QDir::cleanPath(w.worker()->modelInfo().path), shippedTarget());
  QVERIFY(!w.messageBanner()->isVisible());
  QVERIFY(!w.messageBanner()->text().contains(QStringLiteral("config.json")));

  // Cancelling the choice loads nothing and keeps the model.
  QSignalSpy done(&w, &MainWindow::modelLoadFinished);
  QTimer::singleShot(0, this, [] {
    // Posted before the dialog's loop starts: reject it once it is shown.
    QTimer* t = new QTimer;
    t->setInterval(20);
    QObject::connect(t, &QTimer::timeout, t, [t] {
      for (QWidget* top : QApplication::topLevelWidgets())
        if (auto* dlg = qobject_cast<QInputDialog*>(top); dlg && dlg->isVisible()) {
          dlg->reject();
          t->deleteLater();
          t->stop();
          return;
        }
    });
    t->start();
  });
  w.loadModel(repoPath(QStringLiteral("data/models")));
  QVERIFY(done.isEmpty());
  QCOMPARE(w.state(), MainWindow::State::Idle);
  QCOMPARE(QDir::cleanPath(w.worker()->modelInfo().path), shippedTarget());
}

void TestStudioDefects::settingsPersist() {
  QSettings().clear();
  {  // Without persist nothing is written (scripted screenshots, tests).
    MainWindow w(nullptr, false);
    w.show();
    w.generationPanel()->setPrompt(QStringLiteral("not saved"));
    QVERIFY(w.close());
  }
  QVERIFY(QSettings().allKeys().isEmpty());

  const QString prompt = QStringLiteral("Persist me, please");
  QRect geometry;
  {
    MainWindow w(nullptr, true);
    w.resize(1111, 777);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QVERIFY(load(w));
    QVERIFY(w.recentModels().contains(shippedTarget()));
    w.generationPanel()->setPrompt(prompt);
    w.generationPanel()->spec()->setTree(QStringLiteral("2,2,1"));
    auto* verify = w.findChild<QComboBox*>(QStringLiteral("verifyOrderCombo"));
    verify->setCurrentText(QStringLiteral("dfs"));
    QCOMPARE(w.generationPanel()->spec()->request().verify, QStringLiteral("dfs"));
    settle();
    geometry = w.geometry();
    QVERIFY(w.close());
  }
  QVERIFY(!QSettings().allKeys().isEmpty());

  MainWindow w(nullptr, true);
  w.show();
  QVERIFY(QTest::qWaitForWindowExposed(&w));
  QCOMPARE(w.generationPanel()->prompt(), prompt);
  QCOMPARE(w.generationPanel()->spec()->tree(), QStringLiteral("2,2,1"));
  QCOMPARE(w.generationPanel()->spec()->request().verify, QStringLiteral("dfs"));
  QCOMPARE(w.size(), geometry.size());
  QCOMPARE(w.recentModels().value(0), shippedTarget());
  QVERIFY(w.close());
  QSettings().clear();
}

void TestStudioDefects::commandLineOffersSpeculativeOptions() {
  const QString studio = studioBinary();
  QVERIFY2(QFileInfo(studio).isExecutable(), qPrintable(studio + QStringLiteral(" (build specmamba-studio)")));
  QProcess p;
  p.start(studio, {QStringLiteral("--help")});
  QVERIFY(p.waitForFinished(30000));
  QCOMPARE(p.exitStatus(), QProcess::NormalExit);
  QCOMPARE(p.exitCode(), 0);
  const QString help = QString::fromUtf8(p.readAllStandardOutput());

  // The speculative options of `specmamba generate`, named the same way.
  const QString cli = QDir::cleanPath(QCoreApplication::applicationDirPath() + QStringLiteral("/../app/specmamba"));
  QString cli_help;
  if (QFileInfo(cli).isExecutable()) {
    QProcess c;
    c.start(cli, {QStringLiteral("generate"), QStringLiteral("--help")});
    QVERIFY(c.waitForFinished(30000));
    cli_help = QString::fromUtf8(c.readAllStandardOutput());
  }
  for (const char* opt : {"--draft", "--tree", "--verify", "--backtrack", "--budget", "--tile"}) {
    const QString o = QString::fromLatin1(opt);
    const QRegularExpression re(QStringLiteral("(^|[\\s,])%1\\b").arg(QRegularExpression::escape(o)),
                                QRegularExpression::MultilineOption);
    QVERIFY2(help.contains(re), qPrintable(o + QStringLiteral(" missing from\n") + help));
    if (!cli_help.isEmpty()) QVERIFY2(cli_help.contains(re), qPrintable(o + QStringLiteral(" not in the CLI")));
  }
  QVERIFY(help.contains(QStringLiteral("--screenshot-views")));
}

void TestStudioDefects::commandLineRejectsBadNumbers_data() {
  QTest::addColumn<QStringList>("args");
  QTest::addColumn<QString>("flag");
  QTest::newRow("tile -1") << QStringList{QStringLiteral("--tile"), QStringLiteral("-1")} << QStringLiteral("--tile");
  QTest::newRow("tile x") << QStringList{QStringLiteral("--tile"), QStringLiteral("x")} << QStringLiteral("--tile");
  QTest::newRow("budget -5") << QStringList{QStringLiteral("--budget"), QStringLiteral("-5")} << QStringLiteral("--budget");
  QTest::newRow("max-tokens -1") << QStringList{QStringLiteral("--max-tokens"), QStringLiteral("-1")}
                                 << QStringLiteral("--max-tokens");
}

void TestStudioDefects::commandLineRejectsBadNumbers() {
  QFETCH(QStringList, args);
  QFETCH(QString, flag);
  QProcess p;
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
  env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
  p.setProcessEnvironment(env);
  p.start(studioBinary(), args);
  QVERIFY(p.waitForFinished(30000));
  QCOMPARE(p.exitStatus(), QProcess::NormalExit);
  const QString err = QString::fromUtf8(p.readAllStandardError());
  QVERIFY2(p.exitCode() == 2, qPrintable(QString::number(p.exitCode()) + QStringLiteral(": ") + err));
  QVERIFY2(err.contains(flag), qPrintable(err));
}

QTEST_MAIN(TestStudioDefects)
#include "tst_studio_defects.moc"
