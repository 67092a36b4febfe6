// SPDX-License-Identifier: Apache-2.0
#pragma once
// Measures how long the GUI thread stays busy in one go: the time from the
// event dispatcher waking up to it blocking again is one uninterrupted busy
// stretch (events, timers, paints). The longest one is what a user feels as
// a freeze; --screenshot-views reports it as max_gui_stall_ms.
#include <QElapsedTimer>
#include <QObject>

namespace sm::ui {

class StallMonitor : public QObject {
  Q_OBJECT

 public:
  // Watches the dispatcher of the calling (GUI) thread.
  explicit StallMonitor(QObject* parent = nullptr);

  void start();  // resets the figures and starts measuring
  void stop();
  bool running() const { return running_; }
  double maxStallMs() const { return max_ms_; }
  double totalBusyMs() const { return total_ms_; }
  int stretches() const { return count_; }

 private:
  void awake();
  void aboutToBlock();

  QElapsedTimer clock_;
  qint64 busy_since_ns_ = -1;
  double max_ms_ = 0, total_ms_ = 0;
  int count_ = 0;
  bool running_ = false;
};

}  // namespace sm::ui
