// SPDX-License-Identifier: Apache-2.0
#pragma once
// Every chart follows the application palette, so a dark system theme gives
// dark charts: background, axis lines, ticks and labels. Grids, legends and
// titles stay each view's own.
#include <QColor>

#include "ui/views/palette.h"

class QCustomPlot;

namespace sm::ui {

// axis_line: the colour of axis lines and ticks (labels use the text colour).
void apply_plot_palette(QCustomPlot* plot, const QColor& axis_line = colors::muted());

}  // namespace sm::ui
