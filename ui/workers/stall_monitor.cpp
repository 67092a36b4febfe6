// SPDX-License-Identifier: Apache-2.0
#include "ui/workers/stall_monitor.h"

#include <algorithm>

namespace sm::ui {

StallMonitor::StallMonitor(QObject* parent) : QObject(parent) {
  timer_.setTimerType(Qt::PreciseTimer);
  timer_.setInterval(kBeatMs);
  connect(&timer_, &QTimer::timeout, this, &StallMonitor::beat);
}

void StallMonitor::start() {
  max_ms_ = total_ms_ = 0;
  beats_ = 0;
  clock_.start();
  last_ns_ = 0;
  timer_.start();
}

void StallMonitor::stop() {
  beat();  // a stall still in progress when measuring ends counts too
  timer_.stop();
}

void StallMonitor::beat() {
  if (!clock_.isValid()) return;
  const qint64 now = clock_.nsecsElapsed();
  const double late = std::max(0.0, double(now - last_ns_) / 1e6 - kBeatMs);
  last_ns_ = now;
  max_ms_ = std::max(max_ms_, late);
  total_ms_ += late;
  ++beats_;
}

}  // namespace sm::ui
