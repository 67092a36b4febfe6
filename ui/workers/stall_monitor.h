// SPDX-License-Identifier: Apache-2.0
#pragma once
// Measures how long the GUI thread stays busy in one go, as a user feels it:
// a precise 4 ms heartbeat timer runs on the GUI thread, and whenever the
// thread is busy (a long handler, a slow paint) the next beat comes late. The
// longest lateness is the longest stall; --screenshot-views reports it as
// max_gui_stall_ms. (The event dispatcher's awake/aboutToBlock signals would
// be exact, but the glib dispatcher does not emit them per iteration.)
#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

namespace sm::ui {

class StallMonitor : public QObject {
  Q_OBJECT

 public:
  explicit StallMonitor(QObject* parent = nullptr);

  void start();  // resets the figures and starts measuring
  void stop();
  bool running() const { return timer_.isActive(); }
  double maxStallMs() const { return max_ms_; }
  // Sum of the lateness of every beat: the time the thread was busy beyond
  // the heartbeat's own slack.
  double totalLateMs() const { return total_ms_; }
  int beats() const { return beats_; }

  static constexpr int kBeatMs = 4;

 private:
  void beat();

  QTimer timer_;
  QElapsedTimer clock_;
  qint64 last_ns_ = 0;
  double max_ms_ = 0, total_ms_ = 0;
  int beats_ = 0;
};

}  // namespace sm::ui
