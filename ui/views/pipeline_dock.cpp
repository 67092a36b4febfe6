// SPDX-License-Identifier: Apache-2.0
#include "ui/views/pipeline_dock.h"

#include <QDockWidget>

#include "ui/main_window.h"
#include "ui/views/pipeline_view.h"

namespace sm::ui {

PipelineView* install_pipeline_view(MainWindow& w) {
  auto* view = new PipelineView;
  w.addView(QStringLiteral("pipelineDock"), MainWindow::tr("Pipeline"), view, Qt::BottomDockWidgetArea, true);
  view->setRun(w.currentRun());
  view->setStep(w.currentStep());
  QObject::connect(&w, &MainWindow::currentRunChanged, view, [view, &w] {
    view->setRun(w.currentRun());
    view->setStep(w.currentStep());
  });
  QObject::connect(&w, &MainWindow::currentStepChanged, view, &PipelineView::setStep);
  QObject::connect(view, &PipelineView::stepSelected, &w, &MainWindow::selectStep);
  return view;
}

}  // namespace sm::ui
