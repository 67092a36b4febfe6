// SPDX-License-Identifier: Apache-2.0
#pragma once
// Puts the sweep view into the main window as the "sweepDock" dock, starting
// from the window's models (the model bar's target, the speculative
// settings' draft), and follows later model loads.
namespace sm::ui {

class MainWindow;
class SweepView;

SweepView* install_sweep_view(MainWindow& w);

}  // namespace sm::ui
