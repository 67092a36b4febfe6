// SPDX-License-Identifier: Apache-2.0
#pragma once
// Installs the dump inspector as the "dumpInspectorDock" dock of the main
// window; its "Dump current prompt…" offers the window's model directory
// (model bar) and prompt (generation panel). The view (also
// MainWindow::dumpInspector()) scrolls inside the dock below its least size.
namespace sm::ui {

class DumpInspectorView;
class MainWindow;

DumpInspectorView* install_dump_inspector(MainWindow& w);

}  // namespace sm::ui
