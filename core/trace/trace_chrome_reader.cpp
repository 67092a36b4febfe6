// SPDX-License-Identifier: Apache-2.0
#include "core/trace/trace_chrome_reader.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/io/error.h"
#include "core/io/mapped_file.h"

namespace sm {
namespace {

using json = nlohmann::json;

// One trace event's args, with errors that name the event and the field.
class Args {
 public:
  Args(const json& a, const std::string& where, size_t index, const std::string& name)
      : a_(a), where_(where), index_(index), name_(name) {}

  const json& get(const char* k) const {
    auto it = a_.find(k);
    if (it == a_.end()) bad(std::string("is missing '") + k + "'");
    return *it;
  }
  int32_t i32(const char* k) const { return static_cast<int32_t>(integer(k, INT32_MIN, INT32_MAX)); }
  int64_t i64(const char* k) const {
    return integer(k, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  }
  double num(const char* k) const {
    const json& v = get(k);
    if (v.is_null()) return std::nan("");  // the writer's spelling of a non-finite value
    if (!v.is_number()) bad(std::string("'") + k + "' must be a number");
    return v.get<double>();
  }
  float f32(const char* k) const { return static_cast<float>(num(k)); }
  bool boolean(const char* k) const {
    const json& v = get(k);
    if (!v.is_boolean()) bad(std::string("'") + k + "' must be true or false");
    return v.get<bool>();
  }
  std::string str(const char* k) const {
    const json& v = get(k);
    if (!v.is_string()) bad(std::string("'") + k + "' must be a string");
    return v.get<std::string>();
  }
  bool has(const char* k) const { return a_.contains(k); }
  [[noreturn]] void bad(const std::string& what) const {
    fail(where_, "trace event " + std::to_string(index_) + " (" + name_ + ") " + what);
  }

 private:
  int64_t integer(const char* k, int64_t lo, int64_t hi) const {
    const json& v = get(k);
    if (v.is_number_unsigned()) {
      if (v.get<uint64_t>() > static_cast<uint64_t>(hi)) bad(std::string("'") + k + "' is out of range");
      return static_cast<int64_t>(v.get<uint64_t>());
    }
    if (!v.is_number_integer()) bad(std::string("'") + k + "' must be an integer");
    const int64_t x = v.get<int64_t>();
    if (x < lo || x > hi) bad(std::string("'") + k + "' is out of range");
    return x;
  }
  const json& a_;
  const std::string& where_;
  size_t index_;
  const std::string& name_;
};

EventPayload payload_of(const std::string& name, const Args& a, int32_t& step) {
  step = a.i32("step");
  if (name == "TreeDrafted") return TreeDrafted{a.i32("nodes"), a.i32("depth"), a.num("draft_us")};
  if (name == "NodeDrafted")
    return NodeDrafted{a.i32("node"), a.i32("parent"), a.i32("depth"), a.i32("token"), a.f32("prob")};
  if (name == "FifoPush") return FifoPush{a.i32("layer"), a.i32("tile"), a.i32("node"), a.i32("live")};
  if (name == "FifoPop") return FifoPop{a.i32("layer"), a.i32("tile"), a.i32("node"), a.i32("live")};
  if (name == "NodeVerified") return NodeVerified{a.i32("node"), a.i32("target_argmax"), a.f32("target_prob")};
  if (name == "AcceptDecision")
    return AcceptDecision{a.i32("node"), a.i32("token"), a.boolean("accepted"), a.str("reason")};
  if (name == "Backtrack") {
    const std::string model = a.str("model");
    if (model != "draft" && model != "target") a.bad("'model' must be \"draft\" or \"target\"");
    return Backtrack{model == "draft" ? ModelRole::Draft : ModelRole::Target, a.str("policy"),
                     a.i64("bytes_kept"), a.i32("replayed"), a.num("us")};
  }
  if (name == "StepSummary") {
    StepSummary s{a.i32("step"), a.i32("tree_nodes"), a.i32("accepted"), a.i32("emitted"),
                  a.i32("bonus_token"), a.i32("peak_live_states"), a.i64("state_bytes_read"),
                  a.i64("state_bytes_written"), a.i32("redundant_nodes"), a.num("step_us")};
    // Phase times arrived later than the format: traces without them read as 0.
    for (auto [key, dst] : {std::pair{"draft_us", &s.draft_us}, {"verify_us", &s.verify_us},
                            {"accept_us", &s.accept_us}, {"backtrack_us", &s.backtrack_us}})
      if (a.has(key)) *dst = a.num(key);
    if (a.has("sim_us")) s.sim_us = a.num("sim_us");  // added later still: 0 when absent
    if (a.has("event_step")) step = a.i32("event_step");
    return s;
  }
  if (name == "DeviceOp") {
    const std::string model = a.str("model");
    if (model != "draft" && model != "target") a.bad("'model' must be \"draft\" or \"target\"");
    return DeviceOp{a.str("lane"), a.str("unit"), a.i32("layer"),
                    model == "draft" ? ModelRole::Draft : ModelRole::Target, a.num("step_sim_start_us"),
                    a.num("sim_start_us"), a.num("sim_end_us"), a.num("active_us"),
                    a.has("measured") && a.boolean("measured")};  // added later: absent = predicted
  }
  a.bad("is of an unknown type");
}

std::string clean_json_error(const std::string& msg) {
  // Drop nlohmann's "[json.exception.parse_error.101] " tag.
  if (auto p = msg.find("] "); p != std::string::npos && msg.rfind("[json.exception", 0) == 0)
    return msg.substr(p + 2);
  return msg;
}

}  // namespace

ChromeTrace parse_chrome_trace(std::string_view text, const std::string& where) {
  ChromeTrace out;
  bool in_events = false, saw_events = false, saw_meta = false;
  size_t index = 0;
  std::string top_key;
  // Each traceEvents element is converted as soon as it is complete and then
  // dropped from the DOM (the callback returns false).
  json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) -> bool {
    if (depth == 1 && ev == json::parse_event_t::key) {
      top_key = parsed.is_string() ? parsed.get<std::string>() : "";
      in_events = top_key == "traceEvents";
      return true;
    }
    if (depth == 1 && ev == json::parse_event_t::array_start && in_events) saw_events = true;
    if (depth == 2 && in_events && ev == json::parse_event_t::value) {
      fail(where, "trace event " + std::to_string(index) + " is not an object");
    }
    if (depth == 2 && in_events && ev == json::parse_event_t::object_end) {
      const size_t i = index++;
      auto name_it = parsed.find("name");
      auto ph_it = parsed.find("ph");
      if (name_it == parsed.end() || !name_it->is_string() || ph_it == parsed.end() || !ph_it->is_string())
        fail(where, "trace event " + std::to_string(i) + " needs string 'name' and 'ph'");
      const std::string name = name_it->get<std::string>();
      const std::string ph = ph_it->get<std::string>();
      if (ph == "M" || ph == "C") return false;  // lane names and counters: derived data
      if (ph != "X" && ph != "i")
        fail(where, "trace event " + std::to_string(i) + " (" + name + ") has phase '" + ph +
                        "'; SpecMamba traces use X and i");
      auto args_it = parsed.find("args");
      if (args_it == parsed.end() || !args_it->is_object())
        fail(where, "trace event " + std::to_string(i) + " (" + name + ") has no 'args' object");
      const json& top = parsed;
      Args ev_fields(top, where, i, name);
      Args a(*args_it, where, i, name);
      Event e;
      e.t_us = ev_fields.num("ts");
      e.dur_us = ph == "X" ? ev_fields.num("dur") : 0.0;
      e.payload = payload_of(name, a, e.step);
      if (std::holds_alternative<StepSummary>(e.payload))
        e.dur_us = a.has("event_dur") ? a.num("event_dur") : 0.0;
      if (std::holds_alternative<DeviceOp>(e.payload)) {
        // ts / dur are simulated time (derived from the args); the event's own time is wall_us.
        e.t_us = a.num("wall_us");
        e.dur_us = a.has("event_dur") ? a.num("event_dur") : 0.0;
      }
      out.events.push_back(std::move(e));
      return false;
    }
    return true;
  };
  json root;
  try {
    root = json::parse(text.begin(), text.end(), cb);
  } catch (const json::exception& e) {
    fail(where, "not valid JSON: " + clean_json_error(e.what()));
  }
  if (!root.is_object()) fail(where, "a trace is a JSON object with 'metadata' and 'traceEvents'");
  auto meta = root.find("metadata");
  if (meta != root.end() && meta->is_object()) {
    saw_meta = true;
    auto fmt = meta->find("format");
    if (fmt == meta->end() || !fmt->is_string() || fmt->get<std::string>() != "specmamba-trace")
      fail(where, "not a SpecMamba trace (metadata.format is not \"specmamba-trace\")");
    auto ver = meta->find("version");
    if (ver == meta->end() || !ver->is_number_integer())
      fail(where, "metadata.version must be an integer");
    if (ver->get<int64_t>() > 1)
      fail(where, "trace version " + std::to_string(ver->get<int64_t>()) +
                      " is newer than this program reads (1)");
    for (auto it = meta->begin(); it != meta->end(); ++it)
      out.metadata.emplace_back(it.key(), it->is_string() ? it->get<std::string>() : it->dump());
  }
  if (!saw_meta) fail(where, "not a SpecMamba trace (no 'metadata' object)");
  if (!saw_events) fail(where, "has no 'traceEvents' array");
  return out;
}

ChromeTrace read_chrome_trace(const std::string& path) {
  MappedFile f(path);
  const char* p = reinterpret_cast<const char*>(f.data());
  return parse_chrome_trace(std::string_view(p ? p : "", f.size()), path);
}

}  // namespace sm
