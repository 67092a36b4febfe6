// SPDX-License-Identifier: Apache-2.0
#include <QFile>
#include <QMenu>
#include <QTemporaryDir>
#include <QTest>

#include <qcustomplot.h>

#include "core/io/error.h"
#include "ui/views/chart_export.h"

using namespace sm::ui;

class TstChartExport : public QObject {
  Q_OBJECT

 private:
  QCustomPlot* makePlot(QWidget* parent) {
    auto* plot = new QCustomPlot(parent);
    plot->resize(400, 300);
    QCPGraph* g = plot->addGraph();
    g->setData({0, 1, 2, 3}, {1, 3, 2, 4});
    plot->rescaleAxes();
    plot->replot();
    return plot;
  }
  static CsvTable table() {
    CsvTable t;
    t.header = {"lane", "value"};
    t.rows.push_back({"plain", "1"});
    t.rows.push_back({"a,b", "say \"hi\""});
    t.rows.push_back({"two\nlines", "µs"});
    return t;
  }
  static QByteArray readAll(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return {};
    return f.readAll();
  }

 private slots:
  void csvField_data() {
    QTest::addColumn<QString>("in");
    QTest::addColumn<QString>("out");
    QTest::newRow("plain") << "abc" << "abc";
    QTest::newRow("empty") << "" << "";
    QTest::newRow("comma") << "a,b" << "\"a,b\"";
    QTest::newRow("quote") << "say \"hi\"" << "\"say \"\"hi\"\"\"";
    QTest::newRow("newline") << "a\nb" << "\"a\nb\"";
    QTest::newRow("cr") << "a\rb" << "\"a\rb\"";
  }
  void csvField() {
    QFETCH(QString, in);
    QFETCH(QString, out);
    QCOMPARE(csv_field(in), out);
  }

  void formats_data() {
    QTest::addColumn<QString>("suffix");
    QTest::addColumn<QByteArray>("magic");
    QTest::newRow("png") << "png" << QByteArray("\x89PNG\r\n\x1a\n", 8);
    QTest::newRow("svg") << "svg" << QByteArray("<?xml");
    QTest::newRow("pdf") << "pdf" << QByteArray("%PDF");
    QTest::newRow("csv") << "csv" << QByteArray("lane,value\r\n");
  }
  void formats() {
    QFETCH(QString, suffix);
    QFETCH(QByteArray, magic);
    QWidget w;
    QCustomPlot* plot = makePlot(&w);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath("chart." + suffix);
    save_chart(plot, path, &TstChartExport::table);
    const QByteArray data = readAll(path);
    QVERIFY2(data.size() > magic.size(), qPrintable(QString::number(data.size())));
    QVERIFY2(data.startsWith(magic), data.left(16).constData());
    if (suffix == "svg") QVERIFY(data.contains("<svg"));
    if (suffix == "png") {
      QImage img(path);
      QCOMPARE(img.width(), 800);  // 2x scale
      QCOMPARE(img.height(), 600);
    }
  }

  void csvQuoting() {
    QTemporaryDir dir;
    const QString path = dir.filePath("t.csv");
    write_csv(table(), path);
    const QByteArray expected =
        "lane,value\r\nplain,1\r\n\"a,b\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",\xC2\xB5s\r\n";
    QCOMPARE(readAll(path), expected);
  }

  void badSuffix() {
    QWidget w;
    QCustomPlot* plot = makePlot(&w);
    QTemporaryDir dir;
    const QString path = dir.filePath("chart.bmpx");
    try {
      save_chart(plot, path, &TstChartExport::table);
      QFAIL("no error for an unknown suffix");
    } catch (const sm::Error& e) {
      const QString msg = QString::fromStdString(e.what());
      QVERIFY2(msg.contains("chart.bmpx") && msg.contains("unknown export format"), qPrintable(msg));
    }
    QVERIFY(!QFile::exists(path));
  }

  void unwritable_data() {
    QTest::addColumn<QString>("suffix");
    for (const char* s : {"png", "svg", "pdf", "csv"}) QTest::newRow(s) << QString(s);
  }
  void unwritable() {
    QFETCH(QString, suffix);
    QWidget w;
    QCustomPlot* plot = makePlot(&w);
    QTemporaryDir dir;
    const QString path = dir.filePath("missing/folder/chart." + suffix);
    try {
      save_chart(plot, path, &TstChartExport::table);
      QFAIL("no error for a missing folder");
    } catch (const sm::Error& e) {
      const QString msg = QString::fromStdString(e.what());
      QVERIFY2(msg.contains("missing/folder/chart." + suffix) && msg.contains("cannot write"), qPrintable(msg));
    }
  }

  void csvWithoutSource() {
    QWidget w;
    QCustomPlot* plot = makePlot(&w);
    QTemporaryDir dir;
    QVERIFY_THROWS_EXCEPTION(sm::Error, save_chart(plot, dir.filePath("x.csv")));
  }

  void contextMenu() {
    QWidget w;
    QCustomPlot* plot = makePlot(&w);
    QVERIFY(make_chart_menu(plot) == nullptr);
    int resets = 0;
    install_chart_export(plot, "demo", &TstChartExport::table, [&] { ++resets; });
    QCOMPARE(plot->contextMenuPolicy(), Qt::CustomContextMenu);
    std::unique_ptr<QMenu> menu(make_chart_menu(plot));
    QVERIFY(menu);
    QStringList texts;
    for (QAction* a : menu->actions())
      if (!a->isSeparator()) texts << a->text();
    QCOMPARE(texts, QStringList({"Save as PNG…", "Save as SVG…", "Save as PDF…", "Export data as CSV…",
                                 "Reset zoom"}));
    menu->actions().last()->trigger();
    QCOMPARE(resets, 1);
    w.resize(400, 300);
    plot->resize(400, 300);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QTest::mouseDClick(plot, Qt::LeftButton, {}, QPoint(200, 150));
    QCOMPARE(resets, 2);
  }

  void defaultResetRescales() {
    QWidget w;
    QCustomPlot* plot = makePlot(&w);
    install_chart_export(plot, "demo", {});
    plot->xAxis->setRange(100, 200);
    std::unique_ptr<QMenu> menu(make_chart_menu(plot));
    QVERIFY(!menu->actions()[3]->isEnabled());  // no CSV source
    menu->actions().last()->trigger();
    QCOMPARE(plot->xAxis->range().lower, 0.0);
    QCOMPARE(plot->xAxis->range().upper, 3.0);
  }

  void reinstallReplaces() {
    QWidget w;
    QCustomPlot* plot = makePlot(&w);
    int first = 0, second = 0;
    install_chart_export(plot, "a", {}, [&] { ++first; });
    install_chart_export(plot, "b", {}, [&] { ++second; });
    std::unique_ptr<QMenu> menu(make_chart_menu(plot));
    menu->actions().last()->trigger();
    QCOMPARE(first, 0);
    QCOMPARE(second, 1);
  }
};

QTEST_MAIN(TstChartExport)
#include "tst_chart_export.moc"
