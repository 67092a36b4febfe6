// SPDX-License-Identifier: Apache-2.0
#pragma once
// --screenshot-views DIR: one PNG per view of the main window (each dock
// raised and laid out first) and DIR/report.json with the view names, the
// longest GUI-thread stall during the run and the run's figures.
#include <QJsonObject>
#include <QStringList>

namespace sm::ui {

class MainWindow;

// Throws sm::Error naming the file on failure.
QStringList save_view_snapshots(MainWindow& window, const QString& dir, const QJsonObject& report_extra);

}  // namespace sm::ui
