// SPDX-License-Identifier: Apache-2.0
#include "ui/workers/stall_monitor.h"

#include <QAbstractEventDispatcher>
#include <QThread>

#include <algorithm>

namespace sm::ui {

StallMonitor::StallMonitor(QObject* parent) : QObject(parent) {
  QAbstractEventDispatcher* d = QAbstractEventDispatcher::instance(QThread::currentThread());
  if (d) {
    connect(d, &QAbstractEventDispatcher::awake, this, &StallMonitor::awake, Qt::DirectConnection);
    connect(d, &QAbstractEventDispatcher::aboutToBlock, this, &StallMonitor::aboutToBlock,
            Qt::DirectConnection);
  }
  clock_.start();
}

void StallMonitor::start() {
  max_ms_ = total_ms_ = 0;
  count_ = 0;
  running_ = true;
  busy_since_ns_ = clock_.nsecsElapsed();  // start() itself runs inside a busy stretch
}

void StallMonitor::stop() {
  aboutToBlock();
  running_ = false;
}

void StallMonitor::awake() {
  if (running_ && busy_since_ns_ < 0) busy_since_ns_ = clock_.nsecsElapsed();
}

void StallMonitor::aboutToBlock() {
  if (!running_ || busy_since_ns_ < 0) return;
  const double ms = double(clock_.nsecsElapsed() - busy_since_ns_) / 1e6;
  busy_since_ns_ = -1;
  max_ms_ = std::max(max_ms_, ms);
  total_ms_ += ms;
  ++count_;
}

}  // namespace sm::ui
