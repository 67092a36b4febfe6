// SPDX-License-Identifier: Apache-2.0
// The part-2 views inside the main window: the pipeline, sweep and dump
// inspector docks exist and are linked (a sweep point loads the tuner), the
// window opens dumps and names a bad one, and the Studio binary's
// --screenshot-views writes tuner.png, sweep.png, pipeline.png and
// dump_inspector.png (the inspector showing the --dump file).
#include <QComboBox>
#include <QDockWidget>
#include <QFile>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLineEdit>
#include <QMenu>
#include <QProcess>
#include <QScrollArea>
#include <QSet>
#include <QSettings>
#include <QStandardPaths>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>

#include "tests/ui/studio_test_support.h"
#include "ui/main_window.h"
#include "ui/models/sweep_table_model.h"
#include "ui/views/dump_inspector_view.h"
#include "ui/views/pipeline_view.h"
#include "ui/views/sweep_view.h"
#include "ui/views/tuner_view.h"

using namespace sm::ui;

namespace {

QString binary(const char* name) {
  return QDir::cleanPath(QCoreApplication::applicationDirPath() + QStringLiteral("/../app/") +
                         QString::fromLatin1(name));
}

// Runs the CLI; its output on failure.
bool cli(const QStringList& args, QString* out = nullptr) {
  QProcess p;
  p.setProcessChannelMode(QProcess::MergedChannels);
  p.start(binary("specmamba"), args);
  const bool ok = p.waitForFinished(120000) && p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0;
  const QString text = QString::fromUtf8(p.readAll());
  if (out) *out = text;
  if (!ok) qWarning().noquote() << "specmamba" << args.join(' ') << "failed:\n" << text;
  return ok;
}

// Runs the Studio offscreen; its exit code (-1 on a crash or time-out) and output in *log.
int studio(const QStringList& args, QString* log) {
  QProcess p;
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
  env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
  p.setProcessEnvironment(env);
  p.setProcessChannelMode(QProcess::MergedChannels);
  p.start(binary("specmamba-studio"), args);
  const bool done = p.waitForFinished(180000);
  *log = QString::fromUtf8(p.readAll());
  return done && p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
}

// Distinct colours in a coarse sample: a blank or single-colour grab has 1-2.
int colours(const QImage& img) {
  QSet<QRgb> seen;
  for (int y = 0; y < img.height(); y += 7)
    for (int x = 0; x < img.width(); x += 7) seen.insert(img.pixel(x, y));
  return static_cast<int>(seen.size());
}

}  // namespace

class TestStudioViews : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase();
  void docksAreInstalled();
  void sweepPointLoadsTheTuner();
  void openDumpNamesABadFile();
  void screenshotViewsWriteThePartTwoViews();
  void screenshotViewsStopOnABadDump();
  void windowFitsASmallScreen();
  void tunerSettingsPersist();

 private:
  QTemporaryDir tmp_, settings_dir_;
  QString dump_, sweep_;
};

void TestStudioViews::initTestCase() {
  QVERIFY(tmp_.isValid());
  // The windows that persist write here, never the user's settings.
  QStandardPaths::setTestModeEnabled(true);
  QCoreApplication::setOrganizationName(QStringLiteral("SpecMambaViewTests"));
  for (auto fmt : {QSettings::NativeFormat, QSettings::IniFormat})
    QSettings::setPath(fmt, QSettings::UserScope, settings_dir_.path());
  QVERIFY2(QFileInfo(binary("specmamba")).isExecutable(), "build the specmamba CLI first");
  dump_ = tmp_.filePath(QStringLiteral("run.h5"));
  QVERIFY(cli({QStringLiteral("generate"), studio_test::shippedTarget(), QStringLiteral("--prompt"),
               QStringLiteral("And God said"), QStringLiteral("--max-tokens"), QStringLiteral("6"),
               QStringLiteral("--dump"), dump_}));
  const QString spec = tmp_.filePath(QStringLiteral("spec.json"));
  QFile f(spec);
  QVERIFY(f.open(QIODevice::WriteOnly));
  const QJsonObject s{
      {QStringLiteral("target"), studio_test::shippedTarget()},
      {QStringLiteral("draft"), studio_test::shippedDraft()},
      {QStringLiteral("prompt"), QStringLiteral("And God said")},
      {QStringLiteral("max_tokens"), 8},
      {QStringLiteral("axes"),
       QJsonObject{{QStringLiteral("tree"), QJsonArray{QStringLiteral("1,1,1"), QStringLiteral("3,2,1")}},
                   {QStringLiteral("verify"), QJsonArray{QStringLiteral("dfs")}},
                   {QStringLiteral("backtrack"), QJsonArray{QStringLiteral("replay")}}}}};
  f.write(QJsonDocument(s).toJson());
  f.close();
  sweep_ = tmp_.filePath(QStringLiteral("sweep.h5"));
  QVERIFY(cli({QStringLiteral("sweep"), spec, QStringLiteral("--out"), sweep_}));
}

void TestStudioViews::docksAreInstalled() {
  MainWindow w(nullptr, false);
  for (const char* name : {"pipelineDock", "sweepDock", "dumpInspectorDock", "tunerDock"})
    QVERIFY2(w.dock(QString::fromLatin1(name)), name);
  QVERIFY(w.dock(QStringLiteral("pipelineDock"))->isAncestorOf(w.pipelineView()));
  QVERIFY(w.dock(QStringLiteral("sweepDock"))->isAncestorOf(w.sweepView()));
  QVERIFY(w.dock(QStringLiteral("dumpInspectorDock"))->isAncestorOf(w.dumpInspector()));
  // Each is listed in the View menu.
  QStringList titles;
  for (QAction* a : w.viewMenu()->actions()) titles << a->text();
  for (const char* t : {"Pipeline", "Sweep", "Dump inspector"})
    QVERIFY2(titles.contains(QString::fromUtf8(t)), qPrintable(titles.join(", ")));
}

void TestStudioViews::sweepPointLoadsTheTuner() {
  MainWindow w(nullptr, false);
  w.show();
  SweepView* sv = w.sweepView();
  QVERIFY2(sv->openResults(sweep_), qPrintable(sv->message()));
  QCOMPARE(sv->model()->rowCount(), 2);
  auto* tree = w.tunerView()->findChild<QLineEdit*>(QStringLiteral("tunerTree"));
  auto* verify = w.tunerView()->findChild<QComboBox*>(QStringLiteral("tunerVerify"));
  auto* backtrack = w.tunerView()->findChild<QComboBox*>(QStringLiteral("tunerBacktrack"));
  QVERIFY(tree && verify && backtrack);
  QCOMPARE(verify->currentText(), QStringLiteral("fifo"));  // the tuner's default, before
  w.dock(QStringLiteral("sweepDock"))->raise();
  sv->chooseConfiguration(1);  // tree 3,2,1
  QCOMPARE(w.tunerView()->tree(), QStringLiteral("3,2,1"));
  QCOMPARE(verify->currentText(), QStringLiteral("dfs"));
  QCOMPARE(backtrack->currentText(), QStringLiteral("replay"));
  QVERIFY(w.tunerView()->validate().isEmpty());
  sv->chooseConfiguration(0);
  QCOMPARE(w.tunerView()->tree(), QStringLiteral("1,1,1"));
}

void TestStudioViews::openDumpNamesABadFile() {
  MainWindow w(nullptr, false);
  QVERIFY(w.openDump(dump_));
  QCOMPARE(w.dumpInspector()->dumpPath(), dump_);
  const QString bogus = tmp_.filePath(QStringLiteral("not-a-dump.h5"));
  QFile f(bogus);
  QVERIFY(f.open(QIODevice::WriteOnly));
  f.write("this is not HDF5\n");
  f.close();
  QVERIFY(!w.openDump(bogus));
  QVERIFY2(w.dumpInspector()->errorText().contains(QStringLiteral("not-a-dump.h5")),
           qPrintable(w.dumpInspector()->errorText()));
  QCOMPARE(w.dumpInspector()->dumpPath(), dump_);  // the open dump stays
}

void TestStudioViews::screenshotViewsWriteThePartTwoViews() {
  const QString dir = tmp_.filePath(QStringLiteral("shots"));
  QString log;
  const int rc = studio({studio_test::shippedTarget(), QStringLiteral("--draft"), studio_test::shippedDraft(),
                         QStringLiteral("--tree"), QStringLiteral("2,2,1"), QStringLiteral("--prompt"),
                         QStringLiteral("And God said"), QStringLiteral("--max-tokens"), QStringLiteral("24"),
                         QStringLiteral("--dump"), dump_, QStringLiteral("--open-sweep"), sweep_,
                         QStringLiteral("--screenshot-views"), dir},
                        &log);
  QVERIFY2(rc == 0, qPrintable(log));

  QFile rf(QDir(dir).filePath(QStringLiteral("report.json")));
  QVERIFY(rf.open(QIODevice::ReadOnly));
  const QJsonObject report = QJsonDocument::fromJson(rf.readAll()).object();
  QStringList views;
  for (const QJsonValue& v : report.value(QStringLiteral("views")).toArray()) views << v.toString();
  for (const char* name : {"tuner", "sweep", "pipeline", "dump_inspector", "token_tree", "timeline"}) {
    const QString n = QString::fromLatin1(name);
    QVERIFY2(views.contains(n), qPrintable(views.join(", ")));
    const QImage img(QDir(dir).filePath(n + QStringLiteral(".png")));
    QVERIFY2(!img.isNull(), name);
    QVERIFY2(img.width() >= 400 && img.height() >= 300, name);
    QVERIFY2(colours(img) > 8, name);  // drawn, not a blank grab
  }
  // The wide views are grabbed at a readable size, not the 280 px bottom row.
  const QImage pipeline(QDir(dir).filePath(QStringLiteral("pipeline.png")));
  QVERIFY2(pipeline.height() >= 600, qPrintable(QString::number(pipeline.height())));
  QVERIFY(report.value(QStringLiteral("run_ok")).toBool());
}

void TestStudioViews::screenshotViewsStopOnABadDump() {
  const QString dir = tmp_.filePath(QStringLiteral("bad-shots"));
  QString log;
  QCOMPARE(studio({studio_test::shippedTarget(), QStringLiteral("--dump"), tmp_.filePath(QStringLiteral("missing.h5")),
                   QStringLiteral("--screenshot-views"), dir},
                  &log),
           1);
  QVERIFY2(log.contains(QStringLiteral("missing.h5")), qPrintable(log));
  QVERIFY(!QFileInfo::exists(QDir(dir).filePath(QStringLiteral("report.json"))));
}

// 900 x 600 (a projector, a laptop with the docks open): the docks' least
// sizes must not force the window wider or taller than that.
void TestStudioViews::windowFitsASmallScreen() {
  for (const QSize size : {QSize(640, 480), QSize(900, 600)}) {
    MainWindow w(nullptr, false);
    QVERIFY(w.openDump(dump_));
    QVERIFY(w.sweepView()->openResults(sweep_));
    w.resize(size);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QCOMPARE(w.size(), size);
    // Every dock of the new views is usable: its view gets at least its least
    // size (scrolling) or the space of the dock.
    for (const char* name : {"sweepDock", "pipelineDock", "dumpInspectorDock"}) {
      QDockWidget* d = w.dock(QString::fromLatin1(name));
      d->raise();
      QApplication::processEvents();
      QWidget* view = qobject_cast<QScrollArea*>(d->widget())->widget();
      QVERIFY2(view->width() >= std::min(view->minimumSizeHint().width(), d->width() - 4), name);
      QVERIFY2(view->height() >= std::min(view->minimumSizeHint().height(), d->height() - 30), name);
    }
  }
}

// The tuner's fields come back in the next session, preset-filled ones as
// they were saved (not as the preset would fill them).
void TestStudioViews::tunerSettingsPersist() {
  QVariantMap saved;
  {
    MainWindow w(nullptr, true);
    TunerView* t = w.tunerView();
    t->setTree(QStringLiteral("3,2,1"));
    t->loadSettings({{QStringLiteral("verify"), QStringLiteral("dfs")},
                     {QStringLiteral("backtrack"), QStringLiteral("hybrid")},
                     {QStringLiteral("budget"), qlonglong(300000)},
                     {QStringLiteral("preset"), QStringLiteral("w4a8")},
                     {QStringLiteral("platform"), QStringLiteral("u280")}});
    auto* group = t->findChild<QSpinBox*>(QStringLiteral("tunerActGroup"));
    QVERIFY(group);
    group->setValue(16);
    saved = t->fieldValues();
    QCOMPARE(saved.value(QStringLiteral("tunerTree")).toString(), QStringLiteral("3,2,1"));
    QCOMPARE(saved.value(QStringLiteral("tunerActGroup")).toInt(), 16);
    w.close();  // saves the settings
  }
  MainWindow w2(nullptr, true);
  const QVariantMap restored = w2.tunerView()->fieldValues();
  for (auto it = saved.begin(); it != saved.end(); ++it)
    QVERIFY2(restored.value(it.key()) == it.value(),
             qPrintable(it.key() + QStringLiteral(": saved ") + it.value().toString() + QStringLiteral(", restored ") +
                        restored.value(it.key()).toString()));
  QCOMPARE(w2.tunerView()->tree(), QStringLiteral("3,2,1"));
  // A headless window (persist off) starts from the defaults.
  MainWindow w3(nullptr, false);
  QVERIFY(w3.tunerView()->tree() != QStringLiteral("3,2,1"));
}

QTEST_MAIN(TestStudioViews)
#include "tst_studio_views.moc"
