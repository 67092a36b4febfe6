// SPDX-License-Identifier: Apache-2.0
// Chrome trace-event JSON (the "JSON Object Format"), opened by Perfetto and
// chrome://tracing. Events are buffered as sm::Event and serialized at flush()
// by a small streaming writer (no JSON DOM: a trace holds up to ~1e6 FIFO
// events).
//
// Lanes (one "thread" each, named with "M" thread_name events):
//   tid 1 draft      TreeDrafted, NodeDrafted, Backtrack of the draft model
//   tid 2 verify     FifoPush, FifoPop, NodeVerified
//   tid 3 accept     AcceptDecision
//   tid 4 backtrack  Backtrack of the target model
//   tid 5 steps      StepSummary ("X" from t_us lasting step_us)
// Counters ("C"): "live states" from FifoPush/FifoPop, "accepted tokens" per step.
//
// DeviceOp events (a simulated device's timeline) go to their own process,
// pid 2, named after the "sim_device" metadata value, one thread per lane
// (tids in order of the lanes' first appearance). Their "ts" is simulated
// time (step_sim_start_us + sim_start_us) so the steps line up one after the
// other; the wall-clock time of the event is the "wall_us" arg.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <string_view>
#include <type_traits>

#include "core/trace/buffered_trace_sink.h"
#include "core/io/error.h"
#include "core/trace/spec_events.h"

namespace sm {
namespace {

enum Lane : int { kDraft = 1, kVerify = 2, kAccept = 3, kBacktrack = 4, kSteps = 5 };
constexpr const char* kLaneNames[] = {"", "draft", "verify", "accept", "backtrack", "steps"};

// Buffered writer to a FILE*; remembers the first I/O error.
class JsonWriter {
 public:
  explicit JsonWriter(std::FILE* f) : f_(f) { buf_.reserve(kChunk + 4096); }
  ~JsonWriter() = default;

  void raw(std::string_view s) {
    buf_.append(s);
    if (buf_.size() >= kChunk) drain();
  }
  void num(double v) {
    if (!std::isfinite(v)) return raw("null");
    char tmp[32];
    auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    raw(std::string_view(tmp, static_cast<size_t>(r.ptr - tmp)));
  }
  void num(float v) {
    if (!std::isfinite(v)) return raw("null");
    char tmp[32];
    auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    raw(std::string_view(tmp, static_cast<size_t>(r.ptr - tmp)));
  }
  template <class I>
    requires std::is_integral_v<I>
  void num(I v) {
    char tmp[24];
    auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    raw(std::string_view(tmp, static_cast<size_t>(r.ptr - tmp)));
  }
  void boolean(bool b) { raw(b ? "true" : "false"); }
  void str(std::string_view s) {
    buf_.push_back('"');
    for (unsigned char c : s) {
      switch (c) {
        case '"': buf_.append("\\\""); break;
        case '\\': buf_.append("\\\\"); break;
        case '\n': buf_.append("\\n"); break;
        case '\r': buf_.append("\\r"); break;
        case '\t': buf_.append("\\t"); break;
        default:
          if (c < 0x20) {
            char esc[8];
            std::snprintf(esc, sizeof esc, "\\u%04x", c);
            buf_.append(esc);
          } else {
            buf_.push_back(static_cast<char>(c));  // UTF-8 passes through
          }
      }
    }
    buf_.push_back('"');
    if (buf_.size() >= kChunk) drain();
  }
  // "key":
  void key(std::string_view k) {
    buf_.push_back('"');
    buf_.append(k);
    buf_.append("\":");
  }
  // Writes what is buffered; returns errno of the first failure (0 = ok).
  int finish() {
    drain();
    return err_;
  }

 private:
  static constexpr size_t kChunk = 1 << 20;
  void drain() {
    if (!buf_.empty() && err_ == 0) {
      if (std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size()) err_ = errno ? errno : EIO;
    }
    buf_.clear();
  }
  std::FILE* f_;
  std::string buf_;
  int err_ = 0;
};

// Emits the "args" members of a payload (without braces), then returns the
// lane, the event duration override and counter values through the visitor.
struct ArgsWriter {
  JsonWriter& w;
  int32_t event_step;
  void field(const char* k, auto v, bool first = false) {
    if (!first) w.raw(",");
    w.key(k);
    if constexpr (std::is_same_v<decltype(v), bool>) w.boolean(v);
    else if constexpr (std::is_same_v<decltype(v), std::string_view>) w.str(v);
    else w.num(v);
  }
  void step_first() { field("step", event_step, true); }

  void operator()(const TreeDrafted& p) {
    step_first();
    field("nodes", p.nodes);
    field("depth", p.depth);
    field("draft_us", p.draft_us);
  }
  void operator()(const NodeDrafted& p) {
    step_first();
    field("node", p.node);
    field("parent", p.parent);
    field("depth", p.depth);
    field("token", p.token);
    field("prob", p.prob);
  }
  void operator()(const FifoPush& p) {
    step_first();
    field("layer", p.layer);
    field("tile", p.tile);
    field("node", p.node);
    field("live", p.live);
  }
  void operator()(const FifoPop& p) {
    step_first();
    field("layer", p.layer);
    field("tile", p.tile);
    field("node", p.node);
    field("live", p.live);
  }
  void operator()(const NodeVerified& p) {
    step_first();
    field("node", p.node);
    field("target_argmax", p.target_argmax);
    field("target_prob", p.target_prob);
  }
  void operator()(const AcceptDecision& p) {
    step_first();
    field("node", p.node);
    field("token", p.token);
    field("accepted", p.accepted);
    field("reason", std::string_view(p.reason));
  }
  void operator()(const Backtrack& p) {
    step_first();
    field("model", std::string_view(p.model == ModelRole::Draft ? "draft" : "target"));
    field("policy", std::string_view(p.policy));
    field("bytes_kept", p.bytes_kept);
    field("replayed", p.replayed);
    field("us", p.us);
  }
  void operator()(const StepSummary& p) {
    // The payload's own step number is the "step" arg; the event's step is
    // kept separately only if it differs.
    field("step", p.step, true);
    if (event_step != p.step) field("event_step", event_step);
    field("tree_nodes", p.tree_nodes);
    field("accepted", p.accepted);
    field("emitted", p.emitted);
    field("bonus_token", p.bonus_token);
    field("peak_live_states", p.peak_live_states);
    field("state_bytes_read", p.state_bytes_read);
    field("state_bytes_written", p.state_bytes_written);
    field("redundant_nodes", p.redundant_nodes);
    field("step_us", p.step_us);
    field("draft_us", p.draft_us);
    field("verify_us", p.verify_us);
    field("accept_us", p.accept_us);
    field("backtrack_us", p.backtrack_us);
    field("sim_us", p.sim_us);
  }
  void operator()(const DeviceOp& p) {
    step_first();
    field("lane", std::string_view(p.lane));
    field("unit", std::string_view(p.unit));
    field("layer", p.layer);
    field("model", std::string_view(p.model == ModelRole::Draft ? "draft" : "target"));
    field("step_sim_start_us", p.step_sim_start_us);
    field("sim_start_us", p.sim_start_us);
    field("sim_end_us", p.sim_end_us);
    field("active_us", p.active_us);
    if (p.measured) field("measured", true);  // only when set: predicted ops read as before
  }
};


int lane_of(const EventPayload& p) {
  switch (p.index()) {
    case 0: case 1: return kDraft;              // TreeDrafted, NodeDrafted
    case 2: case 3: case 4: return kVerify;     // FifoPush, FifoPop, NodeVerified
    case 5: return kAccept;                     // AcceptDecision
    case 6: return std::get<Backtrack>(p).model == ModelRole::Draft ? kDraft : kBacktrack;
    default: return kSteps;                     // StepSummary (DeviceOp has its own lanes)
  }
}

void write_counter(JsonWriter& w, const char* name, double ts, const char* arg, int64_t v) {
  w.raw(",\n{\"name\":");
  w.str(name);
  w.raw(",\"ph\":\"C\",\"ts\":");
  w.num(ts);
  w.raw(",\"pid\":1,\"args\":{");
  w.key(arg);
  w.num(v);
  w.raw("}}");
}

void write_trace(JsonWriter& w, const std::vector<Event>& events, const TraceMetadata& meta) {
  w.raw("{\"displayTimeUnit\":\"ms\",\n\"metadata\":{\"format\":\"specmamba-trace\",\"version\":1,"
        "\"producer\":\"SpecMamba Studio\",\"time_unit\":\"us\",\"events\":");
  w.num(static_cast<uint64_t>(events.size()));
  for (const auto& [k, v] : meta) {
    w.raw(",");
    w.str(k);
    w.raw(":");
    w.str(v);
  }
  w.raw("},\n\"traceEvents\":[\n");
  w.raw("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,"
        "\"args\":{\"name\":\"SpecMamba speculative decoding\"}}");
  for (int lane = kDraft; lane <= kSteps; ++lane) {
    w.raw(",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":");
    w.num(lane);
    w.raw(",\"args\":{\"name\":");
    w.str(kLaneNames[lane]);
    w.raw("}},\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":");
    w.num(lane);
    w.raw(",\"args\":{\"sort_index\":");
    w.num(lane);
    w.raw("}}");
  }

  // Time order (events may arrive slightly out of order from several threads).
  std::vector<uint32_t> order(events.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return events[a].t_us < events[b].t_us; });

  // The simulated device's lanes, in order of first appearance.
  std::vector<std::string> device_lanes;
  auto device_tid = [&](const std::string& lane) -> int {
    for (size_t i = 0; i < device_lanes.size(); ++i)
      if (device_lanes[i] == lane) return static_cast<int>(i) + 1;
    device_lanes.push_back(lane);
    return static_cast<int>(device_lanes.size());
  };
  for (uint32_t idx : order)
    if (const auto* op = std::get_if<DeviceOp>(&events[idx].payload)) (void)device_tid(op->lane);
  if (!device_lanes.empty()) {
    std::string pname = "simulated device";
    for (const auto& [k, v] : meta)
      if (k == "sim_device") pname = "simulated device: " + v;
    w.raw(",\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":2,\"tid\":0,\"args\":{\"name\":");
    w.str(pname);
    w.raw("}},\n{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":2,\"tid\":0,\"args\":{\"sort_index\":2}}");
    for (size_t i = 0; i < device_lanes.size(); ++i) {
      const int tid = static_cast<int>(i) + 1;
      w.raw(",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":2,\"tid\":");
      w.num(tid);
      w.raw(",\"args\":{\"name\":");
      w.str(device_lanes[i]);
      w.raw("}},\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":2,\"tid\":");
      w.num(tid);
      w.raw(",\"args\":{\"sort_index\":");
      w.num(tid);
      w.raw("}}");
    }
  }

  for (uint32_t idx : order) {
    const Event& e = events[idx];
    if (const auto* op = std::get_if<DeviceOp>(&e.payload)) {
      // On the simulated device's clock: ts and dur are simulated microseconds.
      const double sdur = op->sim_end_us - op->sim_start_us;
      const bool scomplete = sdur > 0 && std::isfinite(sdur);
      w.raw(",\n{\"name\":\"DeviceOp\"");
      w.raw(scomplete ? ",\"ph\":\"X\",\"ts\":" : ",\"ph\":\"i\",\"s\":\"t\",\"ts\":");
      w.num(op->step_sim_start_us + op->sim_start_us);
      if (scomplete) {
        w.raw(",\"dur\":");
        w.num(sdur);
      }
      w.raw(",\"pid\":2,\"tid\":");
      w.num(device_tid(op->lane));
      w.raw(",\"args\":{");
      ArgsWriter{w, e.step}(*op);
      w.raw(",");
      w.key("wall_us");
      w.num(e.t_us);
      if (e.dur_us != 0) {
        w.raw(",");
        w.key("event_dur");
        w.num(e.dur_us);
      }
      w.raw("}}");
      continue;
    }
    double dur = e.dur_us;
    if (const auto* s = std::get_if<StepSummary>(&e.payload); s && s->step_us > 0) dur = s->step_us;
    const bool complete = dur > 0 && std::isfinite(dur);
    w.raw(",\n{\"name\":");
    w.str(event_name(e.payload));
    w.raw(complete ? ",\"ph\":\"X\",\"ts\":" : ",\"ph\":\"i\",\"s\":\"t\",\"ts\":");
    w.num(e.t_us);
    if (complete) {
      w.raw(",\"dur\":");
      w.num(dur);
    }
    w.raw(",\"pid\":1,\"tid\":");
    w.num(lane_of(e.payload));
    w.raw(",\"args\":{");
    std::visit(ArgsWriter{w, e.step}, e.payload);
    // A step's "dur" shows step_us; its own duration, if any, is kept for readers.
    if (std::holds_alternative<StepSummary>(e.payload) && e.dur_us != 0) {
      w.raw(",");
      w.key("event_dur");
      w.num(e.dur_us);
    }
    w.raw("}}");

    if (const auto* p = std::get_if<FifoPush>(&e.payload)) {
      write_counter(w, "live states", e.t_us, "live", p->live);
    } else if (const auto* q = std::get_if<FifoPop>(&e.payload)) {
      write_counter(w, "live states", e.t_us, "live", q->live);
    } else if (const auto* s = std::get_if<StepSummary>(&e.payload)) {
      write_counter(w, "accepted tokens", e.t_us, "accepted", s->accepted);
    }
  }
  w.raw("\n]}\n");
}

class ChromeTraceSink : public BufferedTraceSink {
 public:
  using BufferedTraceSink::BufferedTraceSink;
  ~ChromeTraceSink() override { finish(); }

 private:
  void write_file(const std::string& tmp, const std::vector<Event>& events,
                  const TraceMetadata& meta) override {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail(path(), std::string("cannot write trace: ") + std::strerror(errno));
    int err = 0;
    {
      JsonWriter w(f);
      write_trace(w, events, meta);
      err = w.finish();
    }
    if (std::fflush(f) != 0 && err == 0) err = errno ? errno : EIO;
    if (std::fclose(f) != 0 && err == 0) err = errno ? errno : EIO;
    if (err != 0) fail(path(), std::string("cannot write trace: ") + std::strerror(err));
  }
};

}  // namespace

std::unique_ptr<EventSink> make_chrome_trace_sink(const std::string& path, const TraceMetadata& metadata) {
  if (path.empty()) fail("trace", "empty output path");
  return std::make_unique<ChromeTraceSink>(path, metadata);
}

}  // namespace sm
