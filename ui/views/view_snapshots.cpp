// SPDX-License-Identifier: Apache-2.0
#include "ui/views/view_snapshots.h"

#include <QApplication>
#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSaveFile>
#include <QScrollArea>

#include "core/io/error.h"
#include "ui/latency_chart.h"
#include "ui/main_window.h"

namespace sm::ui {

QStringList save_view_snapshots(MainWindow& w, const QString& dir, const QJsonObject& extra) {
  if (!QDir().mkpath(dir)) fail(dir.toStdString(), "cannot create the screenshot directory");
  struct Shot {
    const char* name;
    const char* dock;  // null: not a dock
    QWidget* widget;
  };
  // The whole window first, in the layout the user sees, before tabs are raised.
  const std::vector<Shot> shots = {
      {"window", nullptr, &w},
      {"generation", nullptr, w.centralWidget()},
      {"token_tree", "tokenTreeDock", nullptr},
      {"fifo", "fifoDock", nullptr},
      {"backtracking", "backtrackDock", nullptr},
      {"timeline", "timelineDock", nullptr},
      {"tokens_per_step", "latencyDock", nullptr},
      {"runs", "runsDock", nullptr},
      {"race", "raceDock", nullptr},
      {"tuner", "tunerDock", nullptr},
  };
  QStringList names;
  for (const Shot& s : shots) {
    QWidget* target = s.widget;
    if (s.dock) {
      QDockWidget* d = w.dock(QString::fromLatin1(s.dock));
      if (!d) continue;
      d->show();
      d->raise();
      target = d->widget();
    }
    // Let the raised tab lay out and paint before it is grabbed.
    for (int i = 0; i < 3; ++i) QApplication::processEvents();
    if (s.dock && QString::fromLatin1(s.dock) == QLatin1String("latencyDock")) w.latencyChart()->replotNow();
    const QString path = QDir(dir).filePath(QString::fromLatin1(s.name) + QStringLiteral(".png"));
    if (!target->grab().save(path)) fail(path.toStdString(), "cannot write the screenshot");
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
