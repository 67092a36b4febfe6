// SPDX-License-Identifier: Apache-2.0
#include "ui/views/view_snapshots.h"

#include "core/io/error.h"
#include "ui/views/dump_inspector_view.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSaveFile>
#include <QScrollArea>

#include "ui/latency_chart.h"
#include "ui/main_window.h"

namespace sm::ui {

QStringList save_view_snapshots(MainWindow& w, const QString& dir, const QJsonObject& extra) {
  if (!QDir().mkpath(dir)) fail(dir.toStdString(), "cannot create the screenshot directory");
  struct Shot {
    const char* name;
    const char* dock;  // null: not a dock
    QWidget* widget;
    bool wide = false;  // a chart or table that needs room: grabbed floating at 1400 x 760
  };
  // The whole window first, in the layout the user sees, before tabs are raised.
  const std::vector<Shot> shots = {
      {"window", nullptr, &w},
      {"generation", nullptr, w.centralWidget()},
      {"token_tree", "tokenTreeDock", nullptr},
      {"fifo", "fifoDock", nullptr},
      {"backtracking", "backtrackDock", nullptr},
      {"timeline", "timelineDock", nullptr, true},
      {"tokens_per_step", "latencyDock", nullptr, true},
      {"runs", "runsDock", nullptr, true},
      {"race", "raceDock", nullptr},
      {"tuner", "tunerDock", nullptr},
      {"pipeline", "pipelineDock", nullptr, true},
      {"sweep", "sweepDock", nullptr, true},
      {"dump_inspector", "dumpInspectorDock", nullptr, true},
  };
  QStringList names;
  for (const Shot& s : shots) {
    QWidget* target = s.widget;
    QDockWidget* d = s.dock ? w.dock(QString::fromLatin1(s.dock)) : nullptr;
    if (s.dock) {
      if (!d) continue;
      w.raiseDock(d->objectName());
      target = d->widget();
    }
    // Let the raised tab lay out and paint before it is grabbed.
    for (int i = 0; i < 3; ++i) QApplication::processEvents();
    if (s.dock && QString::fromLatin1(s.dock) == QLatin1String("latencyDock")) w.latencyChart()->replotNow();
    // An open dump is read in a worker: grab it once its tensor is drawn.
    if (s.dock && QString::fromLatin1(s.dock) == QLatin1String("dumpInspectorDock") && w.dumpInspector()) {
      QElapsedTimer waited;
      waited.start();
      while (w.dumpInspector()->worker()->tensorBusy() && waited.elapsed() < 20000)
        QApplication::processEvents(QEventLoop::AllEvents, 50);
      for (int i = 0; i < 3; ++i) QApplication::processEvents();
    }
    // A wide view squeezed by the layout (the bottom row is 280 px high) is
    // grabbed floating at a readable size, as a user would undock it, then put back.
    QDockWidget* floated = nullptr;
    if (d && s.wide && (target->height() < 700 || target->width() < 1200)) {
      floated = d;
      floated->setFloating(true);
      floated->resize(1400, 760);
      for (int i = 0; i < 5; ++i) QApplication::processEvents();
    }
    const QString path = QDir(dir).filePath(QString::fromLatin1(s.name) + QStringLiteral(".png"));
    const bool saved = target->grab().save(path);
    if (floated) floated->setFloating(false);
    if (!saved) fail(path.toStdString(), "cannot write the screenshot");
    names << QString::fromLatin1(s.name);
  }
  QJsonObject report = extra;
  report.insert(QStringLiteral("views"), QJsonArray::fromStringList(names));
  QSaveFile f(QDir(dir).filePath(QStringLiteral("report.json")));
  if (!f.open(QIODevice::WriteOnly) || f.write(QJsonDocument(report).toJson()) < 0 || !f.commit())
    fail(f.fileName().toStdString(), "cannot write the report");
  return names;
}

}  // namespace sm::ui
