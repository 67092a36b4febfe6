// SPDX-License-Identifier: Apache-2.0
// Event sinks: in-memory recorder, Chrome trace JSON, HDF5 (+ reader).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "tests/core/temp_dir.h"
#include "core/io/error.h"
#include "core/trace/spec_events.h"
#include "core/trace/trace_chrome_reader.h"
#include "core/trace/trace_hdf5_format.h"
#include "core/trace/trace_hdf5_reader.h"

// The HDF5 C API is used directly only to inspect the file layout; Debian's
// header lives under hdf5/serial (the library is linked through specmamba_core).
#if __has_include(<hdf5/serial/hdf5.h>)
#include <hdf5/serial/hdf5.h>
#define SM_HAVE_HDF5_HEADER 1
#elif __has_include(<hdf5.h>)
#include <hdf5.h>
#define SM_HAVE_HDF5_HEADER 1
#endif

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using sm_test::TempDir;

sm::Event ev(double t, double dur, int32_t step, sm::EventPayload p) {
  sm::Event e;
  e.t_us = t;
  e.dur_us = dur;
  e.step = step;
  e.payload = std::move(p);
  return e;
}

// One event of every type, with distinct values in every field.
std::vector<sm::Event> sample_events() {
  std::vector<sm::Event> v;
  v.push_back(ev(10.0, 50.5, 0, sm::TreeDrafted{7, 3, 50.5}));
  v.push_back(ev(11.0, 0, 0, sm::NodeDrafted{1, 0, 1, 4242, 0.625f}));
  v.push_back(ev(12.0, 0, 0, sm::FifoPush{2, 1, 1, 5}));
  v.push_back(ev(13.0, 0, 0, sm::FifoPop{2, 1, 1, 4}));
  v.push_back(ev(14.0, 2.5, 0, sm::NodeVerified{1, 4242, 0.875f}));
  v.push_back(ev(15.0, 0, 0, sm::AcceptDecision{1, 4242, true, "p/q = 0.42 < u \"quoted\"\n\\ é"}));
  v.push_back(ev(16.0, 3.0, 0, sm::Backtrack{sm::ModelRole::Target, "snapshot", 123456789012LL, 2, 3.0}));
  v.push_back(ev(17.0, 0, 0, sm::Backtrack{sm::ModelRole::Draft, "replay", 77, 1, 0.5}));
  sm::StepSummary s;
  s.step = 0;
  s.tree_nodes = 7;
  s.accepted = 3;
  s.emitted = 4;
  s.bonus_token = 99;
  s.peak_live_states = 5;
  s.state_bytes_read = 1LL << 40;
  s.state_bytes_written = (1LL << 33) + 5;
  s.redundant_nodes = 2;
  s.step_us = 120.25;
  s.draft_us = 20.5;
  s.verify_us = 80.25;
  s.accept_us = 4.0;
  s.backtrack_us = 15.5;
  s.sim_us = 3.75;
  v.push_back(ev(9.0, 0, 0, s));  // ts = start of the step, dur = step_us
  // A simulated device op: wall t_us 9 (the step's start), simulated 100 + [0.5, 2.0).
  v.push_back(ev(9.0, 0, 0, sm::DeviceOp{"linear", "in_proj", 2, sm::ModelRole::Draft, 100.0, 0.5, 2.0, 1.25}));
  return v;
}

void expect_same(const sm::Event& a, const sm::Event& b, size_t i) {
  SCOPED_TRACE("event " + std::to_string(i) + " (" + sm::event_name(a.payload) + ")");
  EXPECT_EQ(a.t_us, b.t_us);
  EXPECT_EQ(a.dur_us, b.dur_us);
  EXPECT_EQ(a.step, b.step);
  ASSERT_EQ(a.payload.index(), b.payload.index());
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        const T& y = std::get<T>(b.payload);
        if constexpr (std::is_same_v<T, sm::TreeDrafted>) {
          EXPECT_EQ(x.nodes, y.nodes);
          EXPECT_EQ(x.depth, y.depth);
          EXPECT_EQ(x.draft_us, y.draft_us);
        } else if constexpr (std::is_same_v<T, sm::NodeDrafted>) {
          EXPECT_EQ(x.node, y.node);
          EXPECT_EQ(x.parent, y.parent);
          EXPECT_EQ(x.depth, y.depth);
          EXPECT_EQ(x.token, y.token);
          EXPECT_EQ(x.prob, y.prob);
        } else if constexpr (std::is_same_v<T, sm::FifoPush> || std::is_same_v<T, sm::FifoPop>) {
          EXPECT_EQ(x.layer, y.layer);
          EXPECT_EQ(x.tile, y.tile);
          EXPECT_EQ(x.node, y.node);
          EXPECT_EQ(x.live, y.live);
        } else if constexpr (std::is_same_v<T, sm::NodeVerified>) {
          EXPECT_EQ(x.node, y.node);
          EXPECT_EQ(x.target_argmax, y.target_argmax);
          EXPECT_EQ(x.target_prob, y.target_prob);
        } else if constexpr (std::is_same_v<T, sm::AcceptDecision>) {
          EXPECT_EQ(x.node, y.node);
          EXPECT_EQ(x.token, y.token);
          EXPECT_EQ(x.accepted, y.accepted);
          EXPECT_EQ(x.reason, y.reason);
        } else if constexpr (std::is_same_v<T, sm::Backtrack>) {
          EXPECT_EQ(x.model, y.model);
          EXPECT_EQ(x.policy, y.policy);
          EXPECT_EQ(x.bytes_kept, y.bytes_kept);
          EXPECT_EQ(x.replayed, y.replayed);
          EXPECT_EQ(x.us, y.us);
        } else if constexpr (std::is_same_v<T, sm::DeviceOp>) {
          EXPECT_EQ(x.lane, y.lane);
          EXPECT_EQ(x.unit, y.unit);
          EXPECT_EQ(x.layer, y.layer);
          EXPECT_EQ(x.model, y.model);
          EXPECT_EQ(x.step_sim_start_us, y.step_sim_start_us);
          EXPECT_EQ(x.sim_start_us, y.sim_start_us);
          EXPECT_EQ(x.sim_end_us, y.sim_end_us);
          EXPECT_EQ(x.active_us, y.active_us);
        } else {
          static_assert(std::is_same_v<T, sm::StepSummary>);
          EXPECT_EQ(x.step, y.step);
          EXPECT_EQ(x.tree_nodes, y.tree_nodes);
          EXPECT_EQ(x.accepted, y.accepted);
          EXPECT_EQ(x.emitted, y.emitted);
          EXPECT_EQ(x.bonus_token, y.bonus_token);
          EXPECT_EQ(x.peak_live_states, y.peak_live_states);
          EXPECT_EQ(x.draft_us, y.draft_us);
          EXPECT_EQ(x.verify_us, y.verify_us);
          EXPECT_EQ(x.accept_us, y.accept_us);
          EXPECT_EQ(x.backtrack_us, y.backtrack_us);
          EXPECT_EQ(x.state_bytes_read, y.state_bytes_read);
          EXPECT_EQ(x.state_bytes_written, y.state_bytes_written);
          EXPECT_EQ(x.redundant_nodes, y.redundant_nodes);
          EXPECT_EQ(x.step_us, y.step_us);
          EXPECT_EQ(x.sim_us, y.sim_us);
        }
      },
      a.payload);
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return json::parse(in);
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const sm::Error& e) {
    return e.what();
  }
  return "(no sm::Error thrown)";
}

// ---------------------------------------------------------------- memory sink

TEST(EventNames, EveryType) {
  std::set<std::string> names;
  for (const auto& e : sample_events()) names.insert(sm::event_name(e.payload));
  EXPECT_EQ(names, (std::set<std::string>{"TreeDrafted", "NodeDrafted", "FifoPush", "FifoPop", "NodeVerified",
                                          "AcceptDecision", "Backtrack", "StepSummary", "DeviceOp"}));
}

TEST(MemoryEventSink, ConcurrentWritersAndTakeSince) {
  sm::MemoryEventSink sink;
  constexpr int kThreads = 4, kPerThread = 10000;
  std::atomic<bool> done{false};
  std::vector<sm::Event> taken;
  size_t cursor = 0;
  std::thread reader([&] {
    while (!done.load()) {
      auto part = sink.take_since(cursor);
      EXPECT_EQ(cursor, taken.size() + part.size());
      taken.insert(taken.end(), part.begin(), part.end());
      (void)sink.snapshot().size();
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&sink, t] {
      for (int i = 0; i < kPerThread; ++i) sink.on_event(ev(i, 0, t, sm::FifoPush{t, 0, i, i}));
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
  auto rest = sink.take_since(cursor);
  taken.insert(taken.end(), rest.begin(), rest.end());

  ASSERT_EQ(sink.size(), size_t(kThreads * kPerThread));
  ASSERT_EQ(taken.size(), size_t(kThreads * kPerThread));
  EXPECT_EQ(cursor, sink.size());
  EXPECT_TRUE(sink.take_since(cursor).empty());
  // Every writer's events arrive complete and in its own order.
  std::vector<int> next(kThreads, 0);
  for (const auto& e : taken) {
    const auto& p = std::get<sm::FifoPush>(e.payload);
    ASSERT_EQ(p.layer, e.step);
    ASSERT_EQ(p.node, next[p.layer]++);
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kPerThread);

  const auto snap = sink.snapshot();
  EXPECT_EQ(snap.size(), taken.size());
  sink.clear();
  EXPECT_EQ(sink.size(), 0u);
  sink.on_event(ev(1, 0, 0, sm::FifoPop{}));
  auto after_clear = sink.take_since(cursor);  // stale cursor beyond size: restart at 0
  EXPECT_EQ(after_clear.size(), 1u);
  EXPECT_EQ(cursor, 1u);
}

TEST(MultiSink, FansOut) {
  sm::MemoryEventSink a, b;
  sm::MultiSink m;
  EXPECT_TRUE(m.empty());
  m.add(&a);
  m.add(&b);
  for (const auto& e : sample_events()) m.on_event(e);
  m.flush();
  EXPECT_EQ(a.size(), sample_events().size());
  EXPECT_EQ(b.size(), sample_events().size());
}

// ---------------------------------------------------------------- Chrome trace

TEST(ChromeTrace, PhasesLanesArgsCounters) {
  TempDir tmp;
  const std::string path = tmp.file("trace.json");
  {
    auto sink = sm::make_chrome_trace_sink(path, {{"draft_model", "mamba-130m"}, {"policy", "hybrid"}});
    for (const auto& e : sample_events()) sink->on_event(e);
    sink->flush();
  }
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  const json j = read_json(path);
  EXPECT_EQ(j.at("displayTimeUnit"), "ms");
  EXPECT_EQ(j.at("metadata").at("format"), "specmamba-trace");
  EXPECT_EQ(j.at("metadata").at("draft_model"), "mamba-130m");
  EXPECT_EQ(j.at("metadata").at("policy"), "hybrid");
  const json& evs = j.at("traceEvents");
  ASSERT_TRUE(evs.is_array());

  std::map<std::string, int> lane_tid;  // lane name -> tid
  std::map<std::string, int> device_tid;  // simulated device lane -> tid (pid 2)
  std::map<std::string, std::vector<json>> by_name;
  std::vector<json> counters, device_ops;
  std::string device_process;
  double last_ts = -1e300;
  for (const auto& e : evs) {
    ASSERT_TRUE(e.contains("ph"));
    if (e.at("pid") == 2) {  // the simulated device's timeline
      if (e.at("ph") == "M" && e.at("name") == "thread_name") device_tid[e.at("args").at("name")] = e.at("tid");
      else if (e.at("ph") == "M" && e.at("name") == "process_name") device_process = e.at("args").at("name");
      else if (e.at("ph") != "M") device_ops.push_back(e);
      continue;
    }
    ASSERT_EQ(e.at("pid"), 1);
    const std::string ph = e.at("ph");
    if (ph == "M") {
      if (e.at("name") == "thread_name") lane_tid[e.at("args").at("name")] = e.at("tid");
      continue;
    }
    if (ph == "C") {
      counters.push_back(e);
      continue;
    }
    const double ts = e.at("ts");
    EXPECT_GE(ts, last_ts) << "events are written in time order";
    last_ts = ts;
    by_name[e.at("name")].push_back(e);
  }
  ASSERT_EQ(lane_tid.size(), 5u);
  for (const char* lane : {"draft", "verify", "accept", "backtrack", "steps"}) EXPECT_TRUE(lane_tid.count(lane)) << lane;
  std::set<int> tids;
  for (const auto& [name, tid] : lane_tid) tids.insert(tid);
  EXPECT_EQ(tids.size(), 5u) << "one tid per lane";

  auto one = [&](const std::string& name) -> const json& {
    EXPECT_EQ(by_name[name].size(), 1u) << name;
    return by_name[name].at(0);
  };
  // Complete vs instant.
  const json& tree = one("TreeDrafted");
  EXPECT_EQ(tree.at("ph"), "X");
  EXPECT_EQ(tree.at("ts"), 10.0);
  EXPECT_EQ(tree.at("dur"), 50.5);
  EXPECT_EQ(tree.at("tid"), lane_tid["draft"]);
  EXPECT_EQ(tree.at("args").at("nodes"), 7);
  EXPECT_EQ(tree.at("args").at("depth"), 3);
  EXPECT_EQ(tree.at("args").at("draft_us"), 50.5);

  const json& nd = one("NodeDrafted");
  EXPECT_EQ(nd.at("ph"), "i");
  EXPECT_EQ(nd.at("s"), "t");
  EXPECT_FALSE(nd.contains("dur"));
  EXPECT_EQ(nd.at("tid"), lane_tid["draft"]);
  EXPECT_EQ(nd.at("args"), json({{"step", 0}, {"node", 1}, {"parent", 0}, {"depth", 1}, {"token", 4242},
                                 {"prob", 0.625}}));

  const json& push = one("FifoPush");
  EXPECT_EQ(push.at("tid"), lane_tid["verify"]);
  EXPECT_EQ(push.at("args"), json({{"step", 0}, {"layer", 2}, {"tile", 1}, {"node", 1}, {"live", 5}}));
  EXPECT_EQ(one("FifoPop").at("tid"), lane_tid["verify"]);
  EXPECT_EQ(one("FifoPop").at("args").at("live"), 4);

  const json& nv = one("NodeVerified");
  EXPECT_EQ(nv.at("ph"), "X");
  EXPECT_EQ(nv.at("dur"), 2.5);
  EXPECT_EQ(nv.at("tid"), lane_tid["verify"]);
  EXPECT_EQ(nv.at("args").at("target_argmax"), 4242);
  EXPECT_EQ(nv.at("args").at("target_prob"), 0.875);

  const json& acc = one("AcceptDecision");
  EXPECT_EQ(acc.at("tid"), lane_tid["accept"]);
  EXPECT_EQ(acc.at("args").at("accepted"), true);
  EXPECT_EQ(acc.at("args").at("token"), 4242);
  EXPECT_EQ(acc.at("args").at("reason"), "p/q = 0.42 < u \"quoted\"\n\\ é");

  ASSERT_EQ(by_name["Backtrack"].size(), 2u);
  for (const auto& b : by_name["Backtrack"]) {
    if (b.at("args").at("model") == "target") {
      EXPECT_EQ(b.at("tid"), lane_tid["backtrack"]);
      EXPECT_EQ(b.at("ph"), "X");
      EXPECT_EQ(b.at("args").at("policy"), "snapshot");
      EXPECT_EQ(b.at("args").at("bytes_kept"), 123456789012LL);
      EXPECT_EQ(b.at("args").at("replayed"), 2);
      EXPECT_EQ(b.at("args").at("us"), 3.0);
    } else {
      EXPECT_EQ(b.at("args").at("model"), "draft");
      EXPECT_EQ(b.at("tid"), lane_tid["draft"]);
      EXPECT_EQ(b.at("ph"), "i");
    }
  }

  const json& st = one("StepSummary");
  EXPECT_EQ(st.at("ph"), "X");
  EXPECT_EQ(st.at("ts"), 9.0);
  EXPECT_EQ(st.at("dur"), 120.25);
  EXPECT_EQ(st.at("tid"), lane_tid["steps"]);
  EXPECT_EQ(st.at("args"), json({{"step", 0},
                                 {"tree_nodes", 7},
                                 {"accepted", 3},
                                 {"emitted", 4},
                                 {"bonus_token", 99},
                                 {"peak_live_states", 5},
                                 {"state_bytes_read", 1LL << 40},
                                 {"state_bytes_written", (1LL << 33) + 5},
                                 {"redundant_nodes", 2},
                                 {"step_us", 120.25},
                                 {"draft_us", 20.5},
                                 {"verify_us", 80.25},
                                 {"accept_us", 4.0},
                                 {"backtrack_us", 15.5},
                                 {"sim_us", 3.75}}));

  // The device op: its own process and lane, ts/dur in simulated time, the wall time in args.
  EXPECT_EQ(device_process, "simulated device");
  EXPECT_EQ(device_tid, (std::map<std::string, int>{{"linear", 1}}));
  ASSERT_EQ(device_ops.size(), 1u);
  const json& op = device_ops[0];
  EXPECT_EQ(op.at("name"), "DeviceOp");
  EXPECT_EQ(op.at("ph"), "X");
  EXPECT_EQ(op.at("ts"), 100.5);
  EXPECT_EQ(op.at("dur"), 1.5);
  EXPECT_EQ(op.at("tid"), 1);
  EXPECT_EQ(op.at("args"), json({{"step", 0},
                                 {"lane", "linear"},
                                 {"unit", "in_proj"},
                                 {"layer", 2},
                                 {"model", "draft"},
                                 {"step_sim_start_us", 100.0},
                                 {"sim_start_us", 0.5},
                                 {"sim_end_us", 2.0},
                                 {"active_us", 1.25},
                                 {"wall_us", 9.0}}));

  // Counters: live states after push (5) and pop (4), accepted tokens (3).
  std::vector<std::pair<std::string, json>> got;
  for (const auto& c : counters) got.emplace_back(c.at("name"), c.at("args"));
  EXPECT_EQ(got, (std::vector<std::pair<std::string, json>>{{"accepted tokens", json({{"accepted", 3}})},
                                                             {"live states", json({{"live", 5}})},
                                                             {"live states", json({{"live", 4}})}}));
}

TEST(ChromeTrace, WrittenOnDestructionAndRewrittenAfterMoreEvents) {
  TempDir tmp;
  const std::string path = tmp.file("d.json");
  {
    auto sink = sm::make_chrome_trace_sink(path);
    sink->on_event(sample_events()[0]);
  }
  EXPECT_EQ(read_json(path).at("metadata").at("events"), 1);
  {
    auto sink = sm::make_chrome_trace_sink(path);
    sink->on_event(sample_events()[0]);
    sink->flush();
    EXPECT_EQ(read_json(path).at("metadata").at("events"), 1);
    sink->on_event(sample_events()[1]);
  }  // destructor rewrites: an event arrived after flush()
  EXPECT_EQ(read_json(path).at("metadata").at("events"), 2);
  {
    auto sink = sm::make_chrome_trace_sink(tmp.file("empty.json"));
  }
  const json e = read_json(tmp.file("empty.json"));
  EXPECT_EQ(e.at("metadata").at("events"), 0);
  EXPECT_TRUE(e.at("traceEvents").is_array());
}

TEST(ChromeTrace, UnwritablePathErrors) {
  const std::string path = "/nonexistent/dir/x.json";
  auto sink = sm::make_chrome_trace_sink(path);
  sink->on_event(sample_events()[0]);
  const std::string msg = error_of([&] { sink->flush(); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
  testing::internal::CaptureStderr();
  sink.reset();  // destructor retries, must not throw
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(path), std::string::npos) << err;
}

// ---------------------------------------------------------------- HDF5

std::vector<sm::Event> many_events(size_t per_type, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> i32(-1000000, 1000000);
  std::uniform_real_distribution<double> real(0.0, 1000.0);
  std::uniform_real_distribution<float> prob(0.0f, 1.0f);
  std::vector<sm::Event> v;
  const std::vector<std::string> reasons = {"matches target argmax", "p/q = 0.42 < u", "", "résidu ≥ u"};
  const std::vector<std::string> policies = {"snapshot", "replay", "hybrid"};
  for (size_t i = 0; i < per_type; ++i) {
    const int32_t step = static_cast<int32_t>(i);
    v.push_back(ev(0, real(rng), step, sm::TreeDrafted{i32(rng), i32(rng), real(rng)}));
    v.push_back(ev(0, 0, step, sm::NodeDrafted{i32(rng), i32(rng), i32(rng), i32(rng), prob(rng)}));
    v.push_back(ev(0, 0, step, sm::FifoPush{i32(rng), i32(rng), i32(rng), i32(rng)}));
    v.push_back(ev(0, 0, step, sm::FifoPop{i32(rng), i32(rng), i32(rng), i32(rng)}));
    v.push_back(ev(0, real(rng), step, sm::NodeVerified{i32(rng), i32(rng), prob(rng)}));
    v.push_back(ev(0, 0, step, sm::AcceptDecision{i32(rng), i32(rng), (rng() & 1) != 0, reasons[i % reasons.size()]}));
    v.push_back(ev(0, real(rng), step,
                   sm::Backtrack{(rng() & 1) ? sm::ModelRole::Draft : sm::ModelRole::Target,
                                 policies[i % policies.size()], (int64_t(i32(rng)) << 20), i32(rng), real(rng)}));
    sm::StepSummary s;
    s.step = step + 1;  // differs from the event's step on purpose: both must survive
    s.tree_nodes = i32(rng);
    s.accepted = i32(rng);
    s.emitted = i32(rng);
    s.bonus_token = i32(rng);
    s.peak_live_states = i32(rng);
    s.state_bytes_read = int64_t(i32(rng)) << 24;
    s.state_bytes_written = int64_t(i32(rng)) << 24;
    s.redundant_nodes = i32(rng);
    s.step_us = real(rng);
    s.sim_us = real(rng);
    v.push_back(ev(0, real(rng), step, s));
    const std::vector<std::string> lanes = {"dma", "linear", "ssm"};
    const double a = real(rng);
    v.push_back(ev(0, (i % 5 == 0) ? real(rng) : 0.0, step,
                   sm::DeviceOp{lanes[i % 3], i % 2 ? "in_proj" : "ssm", i32(rng),
                                (rng() & 1) ? sm::ModelRole::Draft : sm::ModelRole::Target, real(rng), a,
                                a + real(rng), real(rng)}));
  }
  std::shuffle(v.begin(), v.end(), rng);
  // Non-decreasing timestamps with many ties (order among ties = recording order).
  double t = 0;
  for (auto& e : v) {
    if (rng() % 3 == 0) t += real(rng) / 7.0;
    e.t_us = t;
  }
  return v;
}

TEST(Hdf5Trace, RoundTripEveryEventType) {
  TempDir tmp;
  const std::string path = tmp.file("trace.h5");
  const auto events = many_events(5000, 42);  // > one chunk (4096 rows) per type
  {
    auto sink = sm::make_hdf5_sink(path, {{"draft_model", "mamba-130m"}, {"note", "ünïcode"}});
    for (const auto& e : events) sink->on_event(e);
    sink->flush();
  }
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  const auto back = sm::read_hdf5_trace(path);
  ASSERT_EQ(back.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    expect_same(events[i], back[i], i);
    if (::testing::Test::HasFailure()) break;
  }
  const auto meta = sm::read_hdf5_trace_metadata(path);
  std::map<std::string, std::string> m(meta.begin(), meta.end());
  EXPECT_EQ(m["format"], "specmamba-trace");
  EXPECT_EQ(m["version"], "1");
  EXPECT_EQ(m["draft_model"], "mamba-130m");
  EXPECT_EQ(m["note"], "ünïcode");
}

TEST(Hdf5Trace, SampleRoundTripSortedByTime) {
  TempDir tmp;
  const std::string path = tmp.file("s.h5");
  auto events = sample_events();
  { auto sink = sm::make_hdf5_sink(path); for (const auto& e : events) sink->on_event(e); }  // destructor writes
  auto back = sm::read_hdf5_trace(path);
  std::stable_sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.t_us < b.t_us; });
  ASSERT_EQ(back.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) expect_same(events[i], back[i], i);
}

TEST(Hdf5Trace, LongStringsAreTruncatedOnACharacterBoundary) {
  TempDir tmp;
  const std::string path = tmp.file("long.h5");
  std::string reason(62, 'a');
  reason += "é and more";  // 'é' occupies bytes 62-63: fits exactly
  std::string reason2(63, 'b');
  reason2 += "é";  // 'é' would straddle byte 64: dropped whole
  {
    auto sink = sm::make_hdf5_sink(path);
    sink->on_event(ev(1, 0, 0, sm::AcceptDecision{0, 0, false, reason}));
    sink->on_event(ev(2, 0, 0, sm::AcceptDecision{0, 0, false, reason2}));
    sink->flush();
  }
  const auto back = sm::read_hdf5_trace(path);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(std::get<sm::AcceptDecision>(back[0].payload).reason, reason.substr(0, 64));
  EXPECT_EQ(std::get<sm::AcceptDecision>(back[1].payload).reason, std::string(63, 'b'));
}

TEST(Hdf5Trace, EmptyTrace) {
  TempDir tmp;
  const std::string path = tmp.file("empty.h5");
  {
    auto sink = sm::make_hdf5_sink(path);
    sink->flush();
  }
  EXPECT_TRUE(sm::read_hdf5_trace(path).empty());
}

#ifdef SM_HAVE_HDF5_HEADER
// The on-disk layout: root attributes, 9 extendible, chunked, compressed
// compound datasets (also when empty), the documented field names.
TEST(Hdf5Trace, FileLayout) {
  TempDir tmp;
  const std::string path = tmp.file("layout.h5");
  {
    auto sink = sm::make_hdf5_sink(path);
    sink->on_event(sample_events()[2]);  // one FifoPush, every other type empty
    sink->flush();
  }
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  {
    hid_t a = H5Aopen(f, "version", H5P_DEFAULT);
    ASSERT_GE(a, 0);
    int v = 0;
    EXPECT_GE(H5Aread(a, H5T_NATIVE_INT, &v), 0);
    EXPECT_EQ(v, 1);
    H5Aclose(a);
    EXPECT_GT(H5Aexists(f, "format"), 0);
  }
  const std::map<std::string, std::vector<std::string>> expected = {
      {"tree_drafted", {"t_us", "dur_us", "step", "nodes", "depth", "draft_us", "seq"}},
      {"node_drafted", {"t_us", "dur_us", "step", "node", "parent", "depth", "token", "prob", "seq"}},
      {"fifo_push", {"t_us", "dur_us", "step", "layer", "tile", "node", "live", "seq"}},
      {"fifo_pop", {"t_us", "dur_us", "step", "layer", "tile", "node", "live", "seq"}},
      {"node_verified", {"t_us", "dur_us", "step", "node", "target_argmax", "target_prob", "seq"}},
      {"accept", {"t_us", "dur_us", "step", "node", "token", "accepted", "reason", "seq"}},
      {"backtrack", {"t_us", "dur_us", "step", "model", "policy", "bytes_kept", "replayed", "us", "seq"}},
      {"step_summary",
       {"t_us", "dur_us", "step", "summary_step", "tree_nodes", "accepted", "emitted", "bonus_token",
        "peak_live_states", "state_bytes_read", "state_bytes_written", "redundant_nodes", "step_us",
        "draft_us", "verify_us", "accept_us", "backtrack_us", "sim_us", "seq"}},
      {"device_op",
       {"t_us", "dur_us", "step", "lane", "unit", "layer", "model", "step_sim_start_us", "sim_start_us",
        "sim_end_us", "active_us", "seq"}},
  };
  for (const auto& [name, fields] : expected) {
    SCOPED_TRACE(name);
    hid_t d = H5Dopen2(f, ("/events/" + name).c_str(), H5P_DEFAULT);
    ASSERT_GE(d, 0);
    hid_t s = H5Dget_space(d);
    hsize_t dims = 99, maxdims = 0;
    ASSERT_EQ(H5Sget_simple_extent_dims(s, &dims, &maxdims), 1);
    EXPECT_EQ(dims, name == "fifo_push" ? 1u : 0u);
    EXPECT_EQ(maxdims, H5S_UNLIMITED);
    hid_t t = H5Dget_type(d);
    ASSERT_EQ(H5Tget_class(t), H5T_COMPOUND);
    ASSERT_EQ(H5Tget_nmembers(t), static_cast<int>(fields.size()));
    for (size_t i = 0; i < fields.size(); ++i) {
      char* n = H5Tget_member_name(t, static_cast<unsigned>(i));
      EXPECT_EQ(std::string(n), fields[i]);
      H5free_memory(n);
    }
    hid_t p = H5Dget_create_plist(d);
    EXPECT_EQ(H5Pget_layout(p), H5D_CHUNKED);
    hsize_t chunk = 0;
    EXPECT_EQ(H5Pget_chunk(p, 1, &chunk), 1);
    EXPECT_EQ(chunk, 4096u);
    if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
      unsigned flags = 0;
      size_t nelem = 1;
      unsigned level = 0;
      EXPECT_GE(H5Pget_filter_by_id2(p, H5Z_FILTER_DEFLATE, &flags, &nelem, &level, 0, nullptr, nullptr), 0);
      EXPECT_EQ(level, 4u);
    }
    H5Pclose(p);
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
  }
  H5Fclose(f);
}

TEST(Hdf5Trace, HdfFileThatIsNotATraceErrors) {
  TempDir tmp;
  const std::string path = tmp.file("other.h5");
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  H5Fclose(f);
  const std::string msg = error_of([&] { sm::read_hdf5_trace(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a SpecMamba trace"), std::string::npos) << msg;
}
#endif

TEST(Hdf5Trace, UnwritablePathErrors) {
  const std::string path = "/nonexistent/dir/x.h5";
  auto sink = sm::make_hdf5_sink(path);
  sink->on_event(sample_events()[0]);
  const std::string msg = error_of([&] { sink->flush(); });
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  std::printf("  [message] %s\n", msg.c_str());
  testing::internal::CaptureStderr();
  sink.reset();  // destructor retries, must not throw
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_EQ(err.find("HDF5-DIAG"), std::string::npos) << "HDF5's own error printing is silenced";
}

TEST(Hdf5Trace, ReadingBadFilesErrors) {
  TempDir tmp;
  const std::string missing = tmp.file("missing.h5");
  std::string msg = error_of([&] { sm::read_hdf5_trace(missing); });
  EXPECT_NE(msg.find(missing), std::string::npos) << msg;

  const std::string text = tmp.file("text.h5");
  std::ofstream(text) << "this is not HDF5\n";
  msg = error_of([&] { sm::read_hdf5_trace(text); });
  EXPECT_NE(msg.find(text), std::string::npos) << msg;
  EXPECT_NE(msg.find("not an HDF5 file"), std::string::npos) << msg;

  // A real trace cut in half.
  const std::string good = tmp.file("good.h5"), cut = tmp.file("cut.h5");
  {
    auto sink = sm::make_hdf5_sink(good);
    for (const auto& e : many_events(2000, 7)) sink->on_event(e);
  }
  const auto size = fs::file_size(good);
  fs::copy_file(good, cut);
  fs::resize_file(cut, size / 2);
  testing::internal::CaptureStderr();
  msg = error_of([&] { sm::read_hdf5_trace(cut); });
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(msg.find(cut), std::string::npos) << msg;
  EXPECT_EQ(err.find("HDF5-DIAG"), std::string::npos) << err;
  std::printf("  [message] %s\n", msg.c_str());
}

// ---------------------------------------------------------------- timing

TEST(Hdf5Trace, FileImageInMemoryReadsLikeTheFile) {
  TempDir tmp;
  const std::string path = tmp.file("img.h5");
  const auto events = many_events(50, 44);
  {
    auto sink = sm::make_hdf5_sink(path, {{"k", "v"}});
    for (const auto& e : events) sink->on_event(e);
  }
  std::ifstream f(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto back = sm::read_hdf5_trace_image(bytes.data(), bytes.size(), "image");
  ASSERT_EQ(back.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) expect_same(events[i], back[i], i);
  const auto meta = sm::read_hdf5_trace_image_metadata(bytes.data(), bytes.size(), "image");
  EXPECT_NE(std::find(meta.begin(), meta.end(), std::pair<std::string, std::string>("k", "v")), meta.end());
  EXPECT_THROW(sm::read_hdf5_trace_image(bytes.data(), 100, "image"), sm::Error);
  EXPECT_THROW(sm::read_hdf5_trace_image("not hdf5", 8, "image"), sm::Error);
  EXPECT_THROW(sm::read_hdf5_trace_image(nullptr, 0, "image"), sm::Error);
}

TEST(ChromeTraceReader, RoundTripEveryEventType) {
  TempDir tmp;
  const std::string path = tmp.file("trace.json");
  const auto events = many_events(500, 43);
  {
    auto sink = sm::make_chrome_trace_sink(path, {{"draft_model", "mamba-130m"}, {"note", "ünïcode"}});
    for (const auto& e : events) sink->on_event(e);
    sink->flush();
  }
  const auto back = sm::read_chrome_trace(path);
  ASSERT_EQ(back.events.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    expect_same(events[i], back.events[i], i);
    if (::testing::Test::HasFailure()) break;
  }
  std::map<std::string, std::string> m(back.metadata.begin(), back.metadata.end());
  EXPECT_EQ(m["format"], "specmamba-trace");
  EXPECT_EQ(m["version"], "1");
  EXPECT_EQ(m["draft_model"], "mamba-130m");
  EXPECT_EQ(m["note"], "ünïcode");
}

TEST(ChromeTraceReader, SampleRoundTripSortedByTime) {
  TempDir tmp;
  const std::string path = tmp.file("s.json");
  auto events = sample_events();
  {
    auto sink = sm::make_chrome_trace_sink(path);
    for (const auto& e : events) sink->on_event(e);
  }
  std::stable_sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.t_us < b.t_us; });
  const auto back = sm::read_chrome_trace(path);
  ASSERT_EQ(back.events.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) expect_same(events[i], back.events[i], i);
}

TEST(ChromeTraceReader, BadTracesErrorNamingTheProblem) {
  auto expect_error = [](const std::string& text, const std::string& what) {
    try {
      sm::parse_chrome_trace(text, "t.json");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const sm::Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind("t.json: ", 0), 0u) << e.what();
    }
  };
  const std::string meta = R"("metadata":{"format":"specmamba-trace","version":1})";
  expect_error("", "not valid JSON");
  expect_error("[1,2]", "JSON object");
  expect_error(R"({"traceEvents":[]})", "no 'metadata'");
  expect_error(R"({"metadata":{"format":"perf"},"traceEvents":[]})", "not a SpecMamba trace");
  expect_error(R"({"metadata":{"format":"specmamba-trace","version":7},"traceEvents":[]})", "newer");
  expect_error("{" + meta + "}", "no 'traceEvents'");
  expect_error("{" + meta + R"(,"traceEvents":[{"name":"x")", "not valid JSON");
  expect_error("{" + meta + R"(,"traceEvents":[3]})", "event 0 is not an object");
  expect_error("{" + meta + R"(,"traceEvents":[{"ph":"i"}]})", "needs string 'name'");
  expect_error("{" + meta + R"(,"traceEvents":[{"name":"FifoPush","ph":"i","ts":1,"args":{"step":0,"layer":0,"tile":0,"node":0}}]})",
               "event 0 (FifoPush) is missing 'live'");
  expect_error("{" + meta + R"(,"traceEvents":[{"name":"FifoPush","ph":"i","ts":1,"args":{"step":0,"layer":"x","tile":0,"node":0,"live":1}}]})",
               "'layer' must be an integer");
  expect_error("{" + meta + R"(,"traceEvents":[{"name":"FifoPush","ph":"i","ts":1,"args":{"step":0,"layer":1e20,"tile":0,"node":0,"live":1}}]})",
               "'layer' must be an integer");
  expect_error("{" + meta + R"(,"traceEvents":[{"name":"FifoPush","ph":"i","ts":1,"args":{"step":9999999999,"layer":0,"tile":0,"node":0,"live":1}}]})",
               "out of range");
  expect_error("{" + meta + R"(,"traceEvents":[{"name":"Nope","ph":"i","ts":1,"args":{"step":0}}]})", "unknown type");
  expect_error("{" + meta + R"(,"traceEvents":[{"name":"FifoPush","ph":"B","ts":1,"args":{}}]})", "phase 'B'");
  expect_error("{" + meta + R"(,"traceEvents":[{"name":"Backtrack","ph":"i","ts":1,"args":{"step":0,"model":"gpu","policy":"x","bytes_kept":0,"replayed":0,"us":0}}]})",
               "'model' must be");
  EXPECT_THROW(sm::read_chrome_trace("/nonexistent/trace.json"), sm::Error);
  // An empty trace is fine.
  const auto t = sm::parse_chrome_trace("{" + meta + R"(,"traceEvents":[]})", "t.json");
  EXPECT_TRUE(t.events.empty());
}

TEST(TraceSinks, MillionFifoEventsSerializeQuickly) {
  TempDir tmp;
  constexpr int kN = 1000000;
  std::vector<sm::Event> events;
  events.reserve(kN);
  for (int i = 0; i < kN; ++i)
    events.push_back(ev(i * 0.25, 0, i / 10000, sm::FifoPush{i % 48, (i / 48) % 16, i % 4096, i % 300}));

  for (const char* kind : {"chrome", "hdf5"}) {
    const std::string path = tmp.file(std::string("big.") + (kind[0] == 'c' ? "json" : "h5"));
    auto sink = kind[0] == 'c' ? sm::make_chrome_trace_sink(path) : sm::make_hdf5_sink(path);
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& e : events) sink->on_event(e);
    const auto t1 = std::chrono::steady_clock::now();
    sink->flush();
    const auto t2 = std::chrono::steady_clock::now();
    const double rec = std::chrono::duration<double>(t1 - t0).count();
    const double ser = std::chrono::duration<double>(t2 - t1).count();
    std::printf("  [timing] %-6s 1e6 FifoPush: record %.3f s, flush %.3f s, file %.1f MB\n", kind, rec, ser,
                fs::file_size(path) / 1e6);
    EXPECT_LT(ser, 20.0);
    if (kind[0] == 'h') {
      const auto t3 = std::chrono::steady_clock::now();
      const auto back = sm::read_hdf5_trace(path);
      const double rd = std::chrono::duration<double>(std::chrono::steady_clock::now() - t3).count();
      std::printf("  [timing] hdf5 read back 1e6 events: %.3f s\n", rd);
      ASSERT_EQ(back.size(), events.size());
      expect_same(events.back(), back.back(), kN - 1);
    }
  }
}

}  // namespace

// Metadata known only after the run (prefill time, output ids) reaches both
// file formats and the in-memory sink; a later value replaces an earlier one.
TEST(TraceSinks, LateMetadataIsStoredAndReplaces) {
  TempDir tmp;
  const std::string json_path = tmp.file("late.json"), h5_path = tmp.file("late.h5");
  sm::MemoryEventSink mem;
  {
    auto chrome = sm::make_chrome_trace_sink(json_path, {{"tree", "2,2,1"}});
    auto h5 = sm::make_hdf5_sink(h5_path, {{"tree", "2,2,1"}});
    sm::MultiSink all;
    all.add(chrome.get());
    all.add(h5.get());
    all.add(&mem);
    for (const auto& e : sample_events()) all.on_event(e);
    all.add_metadata("prefill_us", "12.5");
    all.add_metadata("tree", "4,2,2");
    all.flush();
  }
  const auto chrome = sm::read_chrome_trace(json_path);
  for (const sm::TraceMetadata& meta :
       {chrome.metadata, sm::read_hdf5_trace_metadata(h5_path), mem.metadata()}) {
    std::map<std::string, std::string> m(meta.begin(), meta.end());
    EXPECT_EQ(m["prefill_us"], "12.5");
    EXPECT_EQ(m["tree"], "4,2,2");
    EXPECT_EQ(std::count_if(meta.begin(), meta.end(), [](const auto& kv) { return kv.first == "tree"; }), 1);
  }
  mem.clear();
  EXPECT_TRUE(mem.metadata().empty());
}

// Traces written before the step phase times existed still open: the missing
// fields read as 0, every other field as written. A missing field that was
// always part of the format is still an error.
TEST(Hdf5Trace, TracesWithoutPhaseTimesStillOpen) {
  namespace h5 = sm::h5trace;
  using Row = h5::RowStepSummary;
  TempDir tmp;
  const std::string path = tmp.file("old.h5");
  auto fresh = [&] {
    auto sink = sm::make_hdf5_sink(path);
    for (const auto& e : sample_events()) sink->on_event(e);
    sink->flush();
  };
  fresh();
  // Rewrite /events/step_summary as an older build wrote it, without the phase fields.
  auto rewrite_without = [&](const std::vector<std::string>& dropped) {
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    hid_t ds = H5Dopen2(f, "/events/step_summary", H5P_DEFAULT);
    ASSERT_GE(ds, 0);
    hid_t space = H5Dget_space(ds);
    hsize_t n = 0;
    H5Sget_simple_extent_dims(space, &n, nullptr);
    std::vector<Row> rows(n);
    h5::Handle full = h5::compound_type<Row>(h5::Layout<sm::StepSummary>::members());
    ASSERT_GE(H5Dread(ds, full.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()), 0);
    H5Dclose(ds);
    ASSERT_GE(H5Ldelete(f, "/events/step_summary", H5P_DEFAULT), 0);
    std::vector<h5::Member> kept;
    for (const auto& m : h5::Layout<sm::StepSummary>::members())
      if (std::find(dropped.begin(), dropped.end(), m.name) == dropped.end()) kept.push_back(m);
    h5::Handle old_type = h5::compound_type<Row>(kept);
    H5Sclose(space);
    space = H5Screate_simple(1, &n, nullptr);  // contiguous: fixed size
    // Packed, as an older build's smaller row: no bytes for the dropped fields.
    hid_t file_type = H5Tcopy(old_type.get());
    ASSERT_GE(H5Tpack(file_type), 0);
    hid_t nds = H5Dcreate2(f, "/events/step_summary", file_type, space, H5P_DEFAULT, H5P_DEFAULT,
                           H5P_DEFAULT);
    H5Tclose(file_type);
    ASSERT_GE(nds, 0);
    ASSERT_GE(H5Dwrite(nds, old_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()), 0);
    H5Dclose(nds);
    H5Sclose(space);
    H5Fclose(f);
  };
  rewrite_without({"draft_us", "verify_us", "accept_us", "backtrack_us", "sim_us"});
  {
    // Nor had it a device_op dataset.
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    ASSERT_GE(H5Ldelete(f, "/events/device_op", H5P_DEFAULT), 0);
    H5Fclose(f);
  }
  const auto back = sm::read_hdf5_trace(path);
  auto want = sample_events();
  std::erase_if(want, [](const sm::Event& e) { return std::holds_alternative<sm::DeviceOp>(e.payload); });
  ASSERT_EQ(back.size(), want.size());
  int summaries = 0;
  for (const auto& e : back)
    if (const auto* s = std::get_if<sm::StepSummary>(&e.payload)) {
      ++summaries;
      EXPECT_EQ(s->accepted, 3);
      EXPECT_EQ(s->step_us, 120.25);
      EXPECT_EQ(s->draft_us, 0.0);
      EXPECT_EQ(s->backtrack_us, 0.0);
      EXPECT_EQ(s->sim_us, 0.0);
    }
  EXPECT_EQ(summaries, 1);
  // A trace with the phase times but from before sim_us: sim_us alone reads as 0.
  fresh();
  rewrite_without({"sim_us"});
  for (const auto& e : sm::read_hdf5_trace(path))
    if (const auto* s = std::get_if<sm::StepSummary>(&e.payload)) {
      EXPECT_EQ(s->draft_us, 20.5);
      EXPECT_EQ(s->sim_us, 0.0);
    }
  fresh();
  rewrite_without({"draft_us", "verify_us", "accept_us", "backtrack_us", "sim_us", "accepted"});
  try {
    sm::read_hdf5_trace(path);
    ADD_FAILURE() << "a trace without 'accepted' must be refused";
  } catch (const sm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("has no field \"accepted\""), std::string::npos) << e.what();
  }
}

// A Chrome trace written before the phase times and sim_us (and DeviceOp)
// existed still opens: the missing StepSummary fields read as 0.
TEST(ChromeTraceReader, TracesWithoutPhaseTimesOrSimTimeStillOpen) {
  const std::string text = R"({"displayTimeUnit":"ms",
"metadata":{"format":"specmamba-trace","version":1,"producer":"SpecMamba Studio","time_unit":"us","events":2},
"traceEvents":[
{"name":"process_name","ph":"M","pid":1,"tid":0,"args":{"name":"SpecMamba speculative decoding"}},
{"name":"StepSummary","ph":"X","ts":9,"dur":120.25,"pid":1,"tid":5,"args":{"step":0,"tree_nodes":7,"accepted":3,"emitted":4,"bonus_token":99,"peak_live_states":5,"state_bytes_read":10,"state_bytes_written":11,"redundant_nodes":2,"step_us":120.25}},
{"name":"StepSummary","ph":"X","ts":200,"dur":50,"pid":1,"tid":5,"args":{"step":1,"tree_nodes":7,"accepted":1,"emitted":2,"bonus_token":9,"peak_live_states":5,"state_bytes_read":10,"state_bytes_written":11,"redundant_nodes":2,"step_us":50,"draft_us":20.5,"verify_us":20,"accept_us":4.5,"backtrack_us":5}}
]})";
  const auto t = sm::parse_chrome_trace(text, "old.json");
  ASSERT_EQ(t.events.size(), 2u);
  const auto& a = std::get<sm::StepSummary>(t.events[0].payload);
  EXPECT_EQ(a.accepted, 3);
  EXPECT_EQ(a.step_us, 120.25);
  EXPECT_EQ(a.draft_us, 0.0);
  EXPECT_EQ(a.sim_us, 0.0);
  const auto& b = std::get<sm::StepSummary>(t.events[1].payload);
  EXPECT_EQ(b.draft_us, 20.5);
  EXPECT_EQ(b.sim_us, 0.0);
}

// A DeviceOp with a missing or mistyped field is refused naming it.
TEST(ChromeTraceReader, BadDeviceOpsErrorNamingTheField) {
  const std::string head = R"({"metadata":{"format":"specmamba-trace","version":1},"traceEvents":[{"name":"DeviceOp","ph":"X","ts":1,"dur":1,"pid":2,"tid":1,"args":)";
  auto error_for = [&](const std::string& args) {
    return error_of([&] { sm::parse_chrome_trace(head + args + "}]}", "t.json"); });
  };
  const std::string good = R"({"step":0,"lane":"dma","unit":"in_proj","layer":0,"model":"target","step_sim_start_us":0,"sim_start_us":0,"sim_end_us":1,"active_us":1,"wall_us":5})";
  EXPECT_EQ(error_for(good), "(no sm::Error thrown)");
  std::string no_lane = good;
  no_lane.erase(no_lane.find(R"("lane":"dma",)"), 13);
  EXPECT_NE(error_for(no_lane).find("(DeviceOp) is missing 'lane'"), std::string::npos) << error_for(no_lane);
  std::string bad_model = good;
  bad_model.replace(bad_model.find("\"target\""), 8, "\"gpu\"");
  EXPECT_NE(error_for(bad_model).find("'model' must be"), std::string::npos) << error_for(bad_model);
  std::string no_wall = good;
  no_wall.erase(no_wall.find(R"(,"wall_us":5)"), 12);
  EXPECT_NE(error_for(no_wall).find("missing 'wall_us'"), std::string::npos) << error_for(no_wall);
}
