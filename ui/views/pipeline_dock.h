// SPDX-License-Identifier: Apache-2.0
#pragma once
// Puts the pipeline view into the main window as the "Pipeline" dock (bottom
// area) and links it: the window's current run and step drive the view, a
// step chosen in the view selects it everywhere (MainWindow::selectStep).
namespace sm::ui {

class MainWindow;
class PipelineView;

// The view (also MainWindow::pipelineView()) scrolls inside the dock below its least size.
PipelineView* install_pipeline_view(MainWindow& w);

}  // namespace sm::ui
