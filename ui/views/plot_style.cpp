// SPDX-License-Identifier: Apache-2.0
#include "ui/views/plot_style.h"

#include <qcustomplot.h>

namespace sm::ui {

void apply_plot_palette(QCustomPlot* plot, const QColor& axis_line) {
  plot->setBackground(colors::base());
  plot->axisRect()->setBackground(colors::base());
  for (QCPAxis* a : {plot->xAxis, plot->yAxis, plot->xAxis2, plot->yAxis2}) {
    a->setBasePen(QPen(axis_line, 1));
    a->setTickPen(QPen(axis_line, 1));
    a->setSubTickPen(QPen(axis_line, 1));
    a->setTickLabelColor(colors::text());
    a->setLabelColor(colors::text());
  }
}

}  // namespace sm::ui
