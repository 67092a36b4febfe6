// SPDX-License-Identifier: Apache-2.0
#include "ui/views/chart_export.h"

#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMessageBox>
#include <QSaveFile>
#include <QSvgGenerator>

#include <memory>

#include <qcustomplot.h>

#include "core/io/error.h"

namespace sm::ui {

namespace {

constexpr double kPngScale = 2.0;  // crisp on high-DPI screens and in slides
constexpr const char* kHookName = "sm_chart_export";

// Per-plot export settings; a child of the plot so it dies with it and its
// connections go with it.
class ExportHook : public QObject {
 public:
  ExportHook(QCustomPlot* plot, QString name, CsvSource csv, std::function<void()> reset)
      : QObject(plot), name(std::move(name)), csv(std::move(csv)), reset(std::move(reset)) {
    setObjectName(QString::fromLatin1(kHookName));
  }
  QString name;
  CsvSource csv;
  std::function<void()> reset;
};

ExportHook* hook_of(QCustomPlot* plot) {
  if (!plot) return nullptr;
  for (QObject* child : plot->children())
    if (auto* h = dynamic_cast<ExportHook*>(child)) return h;
  return nullptr;
}

QString& last_directory() {
  static QString dir = QDir::homePath();
  return dir;
}

std::string where(const QString& path) { return QDir::toNativeSeparators(path).toStdString(); }

// Opens the file once up front so an unwritable path fails with the system's
// reason rather than a bare "could not save".
void require_writable(const QString& path) {
  const QFileInfo info(path);
  if (!info.dir().exists()) fail(where(path), "cannot write: the folder does not exist");
  QFile probe(path);
  if (!probe.open(QIODevice::WriteOnly)) fail(where(path), "cannot write: " + probe.errorString().toStdString());
}

void save_svg(QCustomPlot* plot, const QString& path) {
  QFile file(path);
  if (!file.open(QIODevice::WriteOnly)) fail(where(path), "cannot write: " + file.errorString().toStdString());
  const int w = plot->width(), h = plot->height();
  QSvgGenerator gen;
  gen.setOutputDevice(&file);
  gen.setSize(QSize(w, h));
  gen.setResolution(plot->logicalDpiX());  // so the physical size matches the screen
  gen.setViewBox(QRect(0, 0, w, h));
  gen.setTitle(plot->objectName());
  gen.setDescription(QStringLiteral("SpecMamba Studio chart"));
  QCPPainter painter;
  if (!painter.begin(&gen)) fail(where(path), "cannot start the SVG writer");
  painter.setMode(QCPPainter::pmVectorized);
  plot->toPainter(&painter, w, h);
  painter.end();
  if (file.error() != QFile::NoError) fail(where(path), "write failed: " + file.errorString().toStdString());
}

void run_save_dialog(QCustomPlot* plot, ExportHook* hook, const QString& suffix, const QString& filter) {
  const QString initial = QDir(last_directory()).filePath(hook->name + QLatin1Char('.') + suffix);
  QString path = QFileDialog::getSaveFileName(plot, QObject::tr("Export %1").arg(hook->name), initial, filter);
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty()) path += QLatin1Char('.') + suffix;
  last_directory() = QFileInfo(path).absolutePath();
  try {
    save_chart(plot, path, hook->csv);
  } catch (const std::exception& e) {
    QMessageBox::warning(plot, QObject::tr("Export failed"), QString::fromStdString(e.what()));
  }
}

void do_reset(QCustomPlot* plot, ExportHook* hook) {
  if (hook->reset) {
    hook->reset();
    return;
  }
  plot->rescaleAxes();
  plot->replot();
}

}  // namespace

QString csv_field(const QString& s) {
  const bool quote = s.contains(QLatin1Char(',')) || s.contains(QLatin1Char('"')) ||
                     s.contains(QLatin1Char('\n')) || s.contains(QLatin1Char('\r'));
  if (!quote) return s;
  QString out = s;
  out.replace(QLatin1Char('"'), QStringLiteral("\"\""));
  return QLatin1Char('"') + out + QLatin1Char('"');
}

void write_csv(const CsvTable& table, const QString& path) {
  QSaveFile file(path);
  if (!QFileInfo(path).dir().exists()) fail(where(path), "cannot write: the folder does not exist");
  if (!file.open(QIODevice::WriteOnly)) fail(where(path), "cannot write: " + file.errorString().toStdString());
  auto line = [](const QStringList& fields) {
    QString out;
    for (qsizetype i = 0; i < fields.size(); ++i) {
      if (i) out += QLatin1Char(',');
      out += csv_field(fields[i]);
    }
    out += QStringLiteral("\r\n");  // RFC 4180 record separator
    return out.toUtf8();
  };
  file.write(line(table.header));
  for (const QStringList& row : table.rows) file.write(line(row));
  if (!file.commit()) fail(where(path), "write failed: " + file.errorString().toStdString());
}

void save_chart(QCustomPlot* plot, const QString& path, const CsvSource& csv) {
  const QString suffix = QFileInfo(path).suffix().toLower();
  if (suffix == QLatin1String("csv")) {
    if (!csv) fail(where(path), "this chart has no data to export as CSV");
    write_csv(csv(), path);
    return;
  }
  if (suffix != QLatin1String("png") && suffix != QLatin1String("svg") && suffix != QLatin1String("pdf"))
    fail(where(path), "unknown export format '." + suffix.toStdString() + "' (use .png, .svg, .pdf or .csv)");
  if (!plot) fail(where(path), "no chart to export");
  require_writable(path);
  bool ok = true;
  if (suffix == QLatin1String("png")) {
    ok = plot->savePng(path, 0, 0, kPngScale);
  } else if (suffix == QLatin1String("pdf")) {
    ok = plot->savePdf(path, 0, 0, QCP::epNoCosmetic, QStringLiteral("SpecMamba Studio"), plot->objectName());
  } else {
    save_svg(plot, path);
  }
  if (!ok) {
    QFile::remove(path);  // the probe left an empty file
    fail(where(path), "could not write the " + suffix.toUpper().toStdString() + " file");
  }
}

QMenu* make_chart_menu(QCustomPlot* plot) {
  ExportHook* hook = hook_of(plot);
  if (!hook) return nullptr;
  auto* menu = new QMenu(plot);
  QPointer<QCustomPlot> p(plot);
  auto add_save = [&](const QString& text, const QString& suffix, const QString& filter) {
    QObject::connect(menu->addAction(text), &QAction::triggered, plot, [p, suffix, filter] {
      if (ExportHook* h = hook_of(p)) run_save_dialog(p, h, suffix, filter);
    });
  };
  add_save(QObject::tr("Save as PNG…"), QStringLiteral("png"), QObject::tr("PNG image (*.png)"));
  add_save(QObject::tr("Save as SVG…"), QStringLiteral("svg"), QObject::tr("SVG image (*.svg)"));
  add_save(QObject::tr("Save as PDF…"), QStringLiteral("pdf"), QObject::tr("PDF document (*.pdf)"));
  QAction* csv_action = menu->addAction(QObject::tr("Export data as CSV…"));
  csv_action->setEnabled(static_cast<bool>(hook->csv));
  QObject::connect(csv_action, &QAction::triggered, plot, [p] {
    if (ExportHook* h = hook_of(p)) run_save_dialog(p, h, QStringLiteral("csv"), QObject::tr("CSV table (*.csv)"));
  });
  menu->addSeparator();
  QObject::connect(menu->addAction(QObject::tr("Reset zoom")), &QAction::triggered, plot, [p] {
    if (ExportHook* h = hook_of(p)) do_reset(p, h);
  });
  return menu;
}

void install_chart_export(QCustomPlot* plot, const QString& name, CsvSource csv,
                          std::function<void()> reset_zoom) {
  if (!plot) return;
  delete hook_of(plot);  // a second call replaces the first (and its connections)
  auto* hook = new ExportHook(plot, name, std::move(csv), std::move(reset_zoom));
  plot->setContextMenuPolicy(Qt::CustomContextMenu);
  QObject::connect(plot, &QWidget::customContextMenuRequested, hook, [plot](const QPoint& pos) {
    QMenu* menu = make_chart_menu(plot);
    if (!menu) return;
    menu->setAttribute(Qt::WA_DeleteOnClose);
    menu->popup(plot->mapToGlobal(pos));
  });
  QObject::connect(plot, &QCustomPlot::mouseDoubleClick, hook, [plot, hook](QMouseEvent*) { do_reset(plot, hook); });
}

}  // namespace sm::ui
