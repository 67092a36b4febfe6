// SPDX-License-Identifier: Apache-2.0
#include "ui/views/compare_view.h"

#include <QDialogButtonBox>
#include <QFileInfo>
#include <QHeaderView>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include "ui/models/run_record.h"
#include "ui/views/chart_export.h"
#include "ui/views/palette.h"

namespace sm::ui {
namespace {

struct Series {
  QVector<double> x, y;
};

// Cumulative generated tokens against decode time (ms): from the step times
// for speculative runs, the mean rate for target-only runs.
Series progress_of(const RunRecord& r) {
  Series s;
  s.x.push_back(0);
  s.y.push_back(1);  // the prefill's token
  if (!r.steps.empty()) {
    const double t0 = r.steps.front().t_us;
    double tokens = 1;
    for (const StepRecord& st : r.steps) {
      tokens += st.emitted;
      s.x.push_back((st.t_us + st.step_us - t0) / 1e3);
      s.y.push_back(tokens);
    }
  } else if (r.figures.decode_seconds > 0) {
    s.x.push_back(r.figures.decode_seconds * 1e3);
    s.y.push_back(double(r.figures.generated));
  }
  return s;
}

Series steps_of(const RunRecord& r) {
  Series s;
  for (size_t i = 0; i < r.steps.size(); ++i) {
    s.x.push_back(double(i));
    s.y.push_back(r.steps[i].emitted);
  }
  return s;
}

QCustomPlot* make_plot(QWidget* parent, const QString& x, const QString& y) {
  auto* p = new QCustomPlot(parent);
  p->setMinimumHeight(150);
  p->xAxis->setLabel(x);
  p->yAxis->setLabel(y);
  p->legend->setVisible(true);
  p->legend->setBrush(Qt::NoBrush);
  p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
  p->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  return p;
}

void add_series(QCustomPlot* p, const Series& s, const QString& name, const QColor& c, Qt::PenStyle style,
                bool steps) {
  QCPGraph* g = p->addGraph();
  g->setName(name);
  g->setPen(QPen(c, 2, style));
  g->setLineStyle(steps ? QCPGraph::lsStepCenter : QCPGraph::lsLine);
  g->setAdaptiveSampling(true);
  g->setData(s.x, s.y, true);
}

CsvTable csv_of(QCustomPlot* p, const QString& x, const QString& y) {
  CsvTable t;
  t.header = {QStringLiteral("run"), x, y};
  for (int i = 0; i < p->graphCount(); ++i)
    for (auto it = p->graph(i)->data()->constBegin(); it != p->graph(i)->data()->constEnd(); ++it)
      t.rows.push_back({p->graph(i)->name(), QString::number(it->key, 'g', 9), QString::number(it->value, 'g', 9)});
  return t;
}

}  // namespace

CompareView::CompareView(QWidget* parent) : QDialog(parent) {
  setObjectName(QStringLiteral("compareView"));
  setWindowTitle(tr("Compare runs"));
  resize(900, 720);
  table_ = new QTableWidget(this);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  progress_ = make_plot(this, tr("decode time (ms)"), tr("tokens generated"));
  steps_ = make_plot(this, tr("speculative step"), tr("tokens per step"));
  install_chart_export(progress_, QStringLiteral("compare_progress"),
                       [this] { return csv_of(progress_, QStringLiteral("ms"), QStringLiteral("tokens")); },
                       [this] { progress_->rescaleAxes(); progress_->replot(); });
  install_chart_export(steps_, QStringLiteral("compare_steps"),
                       [this] { return csv_of(steps_, QStringLiteral("step"), QStringLiteral("tokens")); },
                       [this] { steps_->rescaleAxes(); steps_->replot(); });
  auto* split = new QSplitter(Qt::Vertical, this);
  split->addWidget(table_);
  split->addWidget(progress_);
  split->addWidget(steps_);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::close);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(split, 1);
  layout->addWidget(buttons);
}

void CompareView::setRuns(std::shared_ptr<const RunRecord> a, const QString& name_a, double baseline_a,
                          std::shared_ptr<const RunRecord> b, const QString& name_b, double baseline_b) {
  if (!a || !b) return;
  struct Row {
    QString label;
    QString va, vb;
    double na = 0, nb = 0;  // for the ratio; 0: none
  };
  auto num = [](double v, int d) { return QString::number(v, 'f', d); };
  auto speed = [](const RunRecord& r, double base) {
    return base > 0 && r.settings.speculative() ? r.figures.tokens_per_second / base : 0.0;
  };
  const RunFigures &fa = a->figures, &fb = b->figures;
  const double sa = speed(*a, baseline_a), sb = speed(*b, baseline_b);
  const std::vector<Row> rows = {
      {tr("Target"), QFileInfo(a->settings.target).fileName(), QFileInfo(b->settings.target).fileName()},
      {tr("Draft"), QFileInfo(a->settings.draft).fileName(), QFileInfo(b->settings.draft).fileName()},
      {tr("Settings"), a->settings.describe(), b->settings.describe()},
      {tr("Threads"), QString::number(a->settings.threads), QString::number(b->settings.threads)},
      {tr("Prompt"), a->settings.prompt.left(60), b->settings.prompt.left(60)},
      {tr("Tokens generated"), QString::number(fa.generated), QString::number(fb.generated)},
      {tr("Decode tok/s"), num(fa.tokens_per_second, 1), num(fb.tokens_per_second, 1), fa.tokens_per_second, fb.tokens_per_second},
      {tr("Speedup over target-only"), sa > 0 ? num(sa, 2) + "x" : "–", sb > 0 ? num(sb, 2) + "x" : "–", sa, sb},
      {tr("Prefill (ms)"), num(fa.prefill_us / 1e3, 2), num(fb.prefill_us / 1e3, 2), fa.prefill_us, fb.prefill_us},
      {tr("Steps"), QString::number(fa.steps), QString::number(fb.steps), double(fa.steps), double(fb.steps)},
      {tr("Tokens per pass"), num(fa.tokens_per_pass, 2), num(fb.tokens_per_pass, 2), fa.tokens_per_pass, fb.tokens_per_pass},
      {tr("Mean accepted"), num(fa.mean_accepted, 2), num(fb.mean_accepted, 2), fa.mean_accepted, fb.mean_accepted},
      {tr("Stop"), fa.stop_reason, fb.stop_reason},
      {tr("Same output"), a->generated_ids == b->generated_ids ? tr("yes") : tr("no"), QString()},
  };
  table_->clear();
  table_->setColumnCount(3);
  table_->setRowCount(int(rows.size()));
  table_->setHorizontalHeaderLabels({name_a, name_b, tr("%1 / %2").arg(name_b, name_a)});
  QStringList labels;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    labels << r.label;
    table_->setItem(int(i), 0, new QTableWidgetItem(r.va));
    table_->setItem(int(i), 1, new QTableWidgetItem(r.vb));
    if (r.na > 0 && r.nb > 0) table_->setItem(int(i), 2, new QTableWidgetItem(num(r.nb / r.na, 3)));
  }
  table_->setVerticalHeaderLabels(labels);

  progress_->clearGraphs();
  steps_->clearGraphs();
  add_series(progress_, progress_of(*a), name_a, colors::accepted(), Qt::SolidLine, false);
  add_series(progress_, progress_of(*b), name_b, colors::bonus(), Qt::DashLine, false);
  add_series(steps_, steps_of(*a), name_a, colors::accepted(), Qt::SolidLine, true);
  add_series(steps_, steps_of(*b), name_b, colors::bonus(), Qt::DashLine, true);
  for (QCustomPlot* p : {progress_, steps_}) {
    p->rescaleAxes();
    p->yAxis->setRangeLower(0);
    p->replot();
  }
  steps_->setVisible(!a->steps.empty() || !b->steps.empty());
}

}  // namespace sm::ui
