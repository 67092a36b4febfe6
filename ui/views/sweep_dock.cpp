// SPDX-License-Identifier: Apache-2.0
#include "ui/views/sweep_dock.h"

#include <QDockWidget>

#include "ui/generation_panel.h"
#include "ui/generation_worker.h"
#include "ui/main_window.h"
#include "ui/model_bar.h"
#include "ui/spec_controls.h"
#include "ui/views/sweep_view.h"

namespace sm::ui {

namespace {

// The loaded model if there is one, else what the model bar names.
QString window_target(const MainWindow& w) {
  if (w.worker() && w.worker()->hasModel()) return w.worker()->modelInfo().path;
  return w.modelBar() ? w.modelBar()->path() : QString();
}

QString window_draft(const MainWindow& w) {
  return w.generationPanel() && w.generationPanel()->spec() ? w.generationPanel()->spec()->request().draft_path
                                                            : QString();
}

}  // namespace

SweepView* install_sweep_view(MainWindow& w) {
  auto* view = new SweepView;
  view->setDefaultModels(window_target(w), window_draft(w));
  w.addView(QStringLiteral("sweepDock"), QObject::tr("Sweep"), view, Qt::BottomDockWidgetArea, true);
  // A field the user has not edited follows the window's models.
  QObject::connect(&w, &MainWindow::modelLoadFinished, view, [view, &w](bool ok) {
    if (ok) view->setDefaultModels(window_target(w), window_draft(w));
  });
  return view;
}

}  // namespace sm::ui
