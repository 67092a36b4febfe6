// SPDX-License-Identifier: Apache-2.0
#pragma once
// Right-click export for every chart: PNG, SVG or PDF of the plot and its
// data as CSV. Each view hands over a function that writes its data (header
// row, then one row per point or bar) so the CSV is what the chart shows.
#include <QString>
#include <QStringList>

#include <functional>
#include <vector>

class QCustomPlot;
class QMenu;
class QWidget;

namespace sm::ui {

struct CsvTable {
  QStringList header;
  std::vector<QStringList> rows;
};
using CsvSource = std::function<CsvTable()>;

// Adds the context menu (Save as PNG / SVG / PDF, Export data as CSV, Reset
// zoom) to `plot`. `name` is the default file name stem ("timeline").
// `reset_zoom` is called by "Reset zoom" and on double-click; null: rescaleAxes.
void install_chart_export(QCustomPlot* plot, const QString& name, CsvSource csv,
                          std::function<void()> reset_zoom = {});

// The same actions without a dialog (tests, --screenshot-views). The format
// follows the suffix: .png, .svg, .pdf or .csv. Throws sm::Error on failure.
void save_chart(QCustomPlot* plot, const QString& path, const CsvSource& csv = {});
void write_csv(const CsvTable& table, const QString& path);
// RFC 4180 quoting of one field.
QString csv_field(const QString& s);

// The context menu install_chart_export shows (parented to `plot`, caller
// owns it); null if install_chart_export was never called on `plot`.
QMenu* make_chart_menu(QCustomPlot* plot);

}  // namespace sm::ui
