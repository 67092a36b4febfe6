// SPDX-License-Identifier: Apache-2.0
#pragma once
// The typed event stream of speculative decoding. The engine emits events to
// an EventSink; sinks record them in memory (GUI), as Chrome trace JSON
// (Perfetto) or in HDF5. Every event carries a timestamp in microseconds
// since the run started and the speculative step it belongs to.
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace sm {

enum class ModelRole : uint8_t { Draft, Target };

struct TreeDrafted {       // the draft finished growing this step's tree
  int32_t nodes = 0;
  int32_t depth = 0;
  double draft_us = 0;     // time spent drafting
};
struct NodeDrafted {       // one tree node proposed by the draft
  int32_t node = 0;        // index in breadth-first order (0 = root)
  int32_t parent = -1;
  int32_t depth = 0;
  int32_t token = 0;
  float prob = 0.0f;       // draft probability of the token at its parent
};
struct FifoPush {          // a node's state entered the FIFO (or the dfs stack)
  int32_t layer = 0;
  int32_t tile = 0;
  int32_t node = 0;
  int32_t live = 0;        // live states after the push
};
struct FifoPop {
  int32_t layer = 0;
  int32_t tile = 0;
  int32_t node = 0;
  int32_t live = 0;        // live states after the pop
};
struct NodeVerified {      // the target computed this node (all layers)
  int32_t node = 0;
  int32_t target_argmax = 0;
  float target_prob = 0.0f;  // target probability of the node's token at its parent
};
struct AcceptDecision {
  int32_t node = 0;
  int32_t token = 0;
  bool accepted = false;
  std::string reason;      // "matches target argmax", "p/q = 0.42 < u", ...
};
struct Backtrack {
  ModelRole model = ModelRole::Target;
  std::string policy;      // snapshot | replay | hybrid
  int64_t bytes_kept = 0;  // state bytes stored during the pass
  int32_t replayed = 0;    // tokens recomputed
  double us = 0;
};
struct StepSummary {
  int32_t step = 0;
  int32_t tree_nodes = 0;
  int32_t accepted = 0;    // draft tokens accepted
  int32_t emitted = 0;     // accepted + bonus
  int32_t bonus_token = 0;
  int32_t peak_live_states = 0;
  int64_t state_bytes_read = 0;
  int64_t state_bytes_written = 0;
  int32_t redundant_nodes = 0;
  double step_us = 0;
  // The step's phases, in this order from the step's start (the timeline).
  double draft_us = 0, verify_us = 0, accept_us = 0, backtrack_us = 0;
  // The step's time on a simulated device (the sum of its DeviceOp timeline),
  // in simulated microseconds; 0 when the run was not simulated.
  double sim_us = 0;
};
// One op of a simulated device's timeline for a step (a model of the hardware
// the step would run on, not a measurement). Times are simulated
// microseconds; sim_start_us / sim_end_us count from the step's simulated
// start, which is step_sim_start_us into the run's simulated time (the sum of
// the earlier steps' sim_us), so the ops of consecutive steps line up.
// The event's own t_us is the step's wall-clock start. `measured` marks an op
// timed on a board (the xrt backend reads kernel timings back) rather than
// predicted by the dataflow model; both may describe the same step, and the
// pipeline view overlays them.
struct DeviceOp {
  std::string lane;            // the device resource the op occupies ("dma", "linear", ...)
  std::string unit;            // what it computes ("in_proj", "ssm", ...)
  int32_t layer = -1;          // -1: not per layer
  ModelRole model = ModelRole::Target;  // whose pass the op belongs to
  double step_sim_start_us = 0;
  double sim_start_us = 0, sim_end_us = 0;
  double active_us = 0;        // time the lane does work within [start, end)
  bool measured = false;       // added later: absent in older traces = predicted
};

using EventPayload = std::variant<TreeDrafted, NodeDrafted, FifoPush, FifoPop, NodeVerified,
                                  AcceptDecision, Backtrack, StepSummary, DeviceOp>;

struct Event {
  double t_us = 0;     // since the run started
  double dur_us = 0;   // 0 for instants
  int32_t step = 0;
  EventPayload payload;
};

// "TreeDrafted", "NodeDrafted", "FifoPush", "FifoPop", "NodeVerified",
// "AcceptDecision", "Backtrack", "StepSummary", "DeviceOp".
const char* event_name(const EventPayload& p);

// Optional key/value pairs stored with a trace (model names, policy, ...):
// Chrome "metadata" entries, HDF5 string attributes on the root group.
using TraceMetadata = std::vector<std::pair<std::string, std::string>>;
// Sets key to value: replaces an existing entry in place, else appends.
void set_metadata(TraceMetadata& meta, const std::string& key, const std::string& value);
// Token ids as trace metadata stores them: "12,7,301".
std::string format_id_list(std::span<const int32_t> ids);

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_event(const Event& e) = 0;
  virtual void flush() {}
  // A key/value pair known only after the run started (prefill time, output
  // ids, ...): file sinks store it with the trace; a later value for the same
  // key replaces the earlier one.
  virtual void add_metadata(const std::string& key, const std::string& value) {
    (void)key;
    (void)value;
  }
};

// Thread-safe in-memory recorder: the engine appends from a worker thread,
// the GUI takes snapshots.
class MemoryEventSink : public EventSink {
 public:
  void on_event(const Event& e) override;
  std::vector<Event> snapshot() const;
  // Events [cursor, size()); sets cursor = size(). A cursor beyond size()
  // (the sink was cleared meanwhile) restarts from 0.
  std::vector<Event> take_since(size_t& cursor) const;
  size_t size() const;
  void clear();  // events and metadata
  void add_metadata(const std::string& key, const std::string& value) override;
  TraceMetadata metadata() const;

 private:
  mutable std::mutex mu_;
  std::vector<Event> events_;
  TraceMetadata meta_;
};


// Both file sinks buffer the events (thread-safe on_event) and write the whole
// file on flush(); flush() may be called repeatedly (each rewrites the file
// with every event so far) and throws sm::Error("PATH: ...") on I/O failure.
// The destructor writes the file if events arrived since the last flush (or
// it was never flushed); it never throws (failures go to stderr).

// Writes Chrome trace-event JSON (open in Perfetto / chrome://tracing) on
// flush() / destruction; atomic (temp file + rename).
std::unique_ptr<EventSink> make_chrome_trace_sink(const std::string& path,
                                                  const TraceMetadata& metadata = {});
// Writes the events to an HDF5 file (one compound dataset per event type
// under /events, chunked and compressed). Read back with read_hdf5_trace()
// (core/trace_hdf5_reader.h).
std::unique_ptr<EventSink> make_hdf5_sink(const std::string& path,
                                          const TraceMetadata& metadata = {});

// Fans events out to several sinks.
class MultiSink : public EventSink {
 public:
  void add(EventSink* s) { sinks_.push_back(s); }
  void on_event(const Event& e) override {
    for (auto* s : sinks_) s->on_event(e);
  }
  void flush() override {
    for (auto* s : sinks_) s->flush();
  }
  void add_metadata(const std::string& key, const std::string& value) override {
    for (auto* s : sinks_) s->add_metadata(key, value);
  }
  bool empty() const { return sinks_.empty(); }

 private:
  std::vector<EventSink*> sinks_;
};

}  // namespace sm
