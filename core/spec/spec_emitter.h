// SPDX-License-Identifier: Apache-2.0
#pragma once
// How the speculative engine emits events: a thin wrapper over an optional
// EventSink with the run's start time and the current step. Every emit site
// checks on() (or fifo() for the very frequent per-tile FIFO events) first,
// so a null sink costs one branch.
#include <utility>

#include "core/model/generator.h"
#include "core/trace/spec_events.h"

namespace sm {

struct SpecEmitter {
  EventSink* sink = nullptr;
  double t0 = 0.0;        // now_seconds() at the start of the run
  int32_t step = 0;
  bool verbose = true;    // FifoPush / FifoPop per tile

  bool on() const { return sink != nullptr; }
  bool fifo() const { return sink != nullptr && verbose; }
  double now_us() const { return (now_seconds() - t0) * 1e6; }
  // (Not "emit": Qt defines it as a macro and core headers reach Qt code.)
  void post(EventPayload p, double t_us, double dur_us = 0.0) const {
    Event e;
    e.t_us = t_us;
    e.dur_us = dur_us;
    e.step = step;
    e.payload = std::move(p);
    sink->on_event(e);
  }
  void post_now(EventPayload p) const { post(std::move(p), now_us()); }
};

}  // namespace sm
