// SPDX-License-Identifier: Apache-2.0
#include "ui/views/dump_inspector_dock.h"

#include "ui/generation_panel.h"
#include "ui/main_window.h"
#include "ui/model_bar.h"
#include "ui/views/dump_inspector_view.h"

namespace sm::ui {

DumpInspectorView* install_dump_inspector(MainWindow& w) {
  auto* view = new DumpInspectorView(&w);
  view->setPromptSource([&w] {
    DumpJobRequest r;
    if (w.modelBar()) {
      r.model_dir = w.modelBar()->path();
      r.threads = w.modelBar()->threads();
    }
    if (w.generationPanel()) r.prompt = w.generationPanel()->prompt();
    return r;
  });
  w.addView(QStringLiteral("dumpInspectorDock"), MainWindow::tr("Dump inspector"), view, Qt::RightDockWidgetArea, true);
  return view;
}

}  // namespace sm::ui
