// SPDX-License-Identifier: Apache-2.0
// Soak and cancel: generation (plain, and speculative with every
// backtracking policy) is cancelled hundreds of times at random points —
// from the token callback and from another thread — and then: no crash or
// leak (the suite also runs under ASan), every cancelled run's trace is a
// complete, readable file with no temporary left behind, and the next
// undisturbed run's output equals a run on a fresh model.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "core/model/generator.h"
#include "core/model/mamba_model.h"
#include "core/model/random_model.h"
#include "core/spec/spec_decoder.h"
#include "core/tokenizer/tokenizer.h"
#include "core/trace/spec_events.h"
#include "core/trace/trace_chrome_reader.h"
#include "core/trace/trace_hdf5_reader.h"

namespace fs = std::filesystem;

namespace {

struct Models {
  fs::path dir;
  std::unique_ptr<sm::MambaModel> target, draft;
  std::unique_ptr<sm::Tokenizer> tok = sm::make_byte_tokenizer();
};

Models& models() {
  static Models m = [] {
    Models x;
    x.dir = fs::temp_directory_path() / ("sm_soak_" + std::to_string(::getpid()));
    auto t = sm::random_model_preset("tiny-mamba2");
    t.seed = 71;
    auto d = t;
    d.d_model = 32;
    d.n_layer = 1;
    d.seed = 72;
    sm::write_random_model((x.dir / "t").string(), t);
    sm::write_random_model((x.dir / "d").string(), d);
    x.target = sm::MambaModel::load((x.dir / "t").string());
    x.draft = sm::MambaModel::load((x.dir / "d").string());
    return x;
  }();
  return m;
}

const std::vector<int32_t> kPrompt = {83, 111, 97, 107, 32};

sm::GenerateOptions options(int n, bool sampled) {
  sm::GenerateOptions o;
  o.max_tokens = n;
  o.stop_at_eos = false;
  if (sampled) {
    o.sampling.temperature = 0.9f;
    o.sampling.top_k = 40;
    o.sampling.seed = 5;
  }
  return o;
}

sm::SpecConfig spec(sm::BacktrackPolicy p) {
  sm::SpecConfig c;
  c.tree = sm::TreeShape::parse("2,2,1");
  c.backtrack = p;
  c.budget = 4096;
  return c;
}

// One run; cancel after `after` tokens from the callback, or from a helper
// thread after `delay_us` when `after` < 0; kNever: undisturbed.
constexpr int kNever = 1 << 30;
std::vector<int32_t> run(int kind, int n, bool sampled, int after, int delay_us, bool* cancelled,
                         sm::EventSink* sink = nullptr) {
  Models& m = models();
  std::atomic<bool> cancel{false};
  int seen = 0;
  auto on_token = [&](int32_t, const std::string&) {
    if (after >= 0 && after != kNever && ++seen >= after) cancel = true;
  };
  std::thread killer;
  if (after < 0)
    killer = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
      cancel = true;
    });
  std::vector<int32_t> ids;
  bool c = false;
  if (kind == 0) {
    auto r = sm::generate(*m.target, *m.tok, kPrompt, options(n, sampled), on_token, &cancel);
    ids = r.ids;
    c = r.stats.cancelled;
  } else {
    const auto policy = static_cast<sm::BacktrackPolicy>(kind - 1);
    auto r = sm::spec_generate(*m.target, *m.draft, *m.tok, kPrompt, options(n, sampled), spec(policy), sink,
                               on_token, &cancel);
    ids = r.gen.ids;
    c = r.gen.stats.cancelled;
  }
  if (killer.joinable()) killer.join();
  if (cancelled) *cancelled = c;
  return ids;
}

// kind 0: plain; 1..3: speculative with snapshot / replay / hybrid.
class SoakCancel : public ::testing::TestWithParam<int> {};

TEST_P(SoakCancel, HundredsOfCancellationsLeaveTheNextRunUndisturbed) {
  const int kind = GetParam();
  const int n = 40;
  for (bool sampled : {false, true}) {
    const auto want = run(kind, n, sampled, kNever, 0, nullptr);
    ASSERT_EQ(static_cast<int>(want.size()), n);
    std::mt19937 rng(100 + kind);
    int cancelled_runs = 0;
    for (int i = 0; i < 60; ++i) {
      bool c = false;
      const bool from_callback = i % 2 == 0;
      const auto got = run(kind, n, sampled, from_callback ? int(rng() % n) + 1 : -1, int(rng() % 3000), &c);
      cancelled_runs += c;
      // What was emitted before the cancel is a prefix of the undisturbed output.
      ASSERT_LE(got.size(), want.size());
      ASSERT_TRUE(std::equal(got.begin(), got.end(), want.begin())) << "run " << i;
      if (from_callback) ASSERT_TRUE(c || got.size() == want.size()) << "run " << i;
    }
    EXPECT_GT(cancelled_runs, 20);
    EXPECT_EQ(run(kind, n, sampled, kNever, 0, nullptr), want) << "after the cancellations";
  }
}

std::string kind_name(const ::testing::TestParamInfo<int>& info) {
  static const char* const names[] = {"plain", "snapshot", "replay", "hybrid"};
  return names[info.param];
}
INSTANTIATE_TEST_SUITE_P(Kinds, SoakCancel, ::testing::Values(0, 1, 2, 3), kind_name);

TEST(SoakCancel, CancelledRunsLeaveCompleteTraces) {
  const fs::path dir = models().dir / "traces";
  fs::create_directories(dir);
  std::mt19937 rng(9);
  int with_events = 0;
  for (int i = 0; i < 40; ++i) {
    const bool json = i % 2 == 0;
    const std::string path = (dir / (json ? "t.json" : "t.h5")).string();
    {
      auto sink = json ? sm::make_chrome_trace_sink(path) : sm::make_hdf5_sink(path);
      run(1 + i % 3, 30, false, int(rng() % 20) + 1, 0, nullptr, sink.get());
    }  // destroyed mid-stream: writes what it has, atomically
    ASSERT_FALSE(fs::exists(path + ".tmp")) << i;
    std::vector<sm::Event> events;
    ASSERT_NO_THROW(events = json ? sm::read_chrome_trace(path).events : sm::read_hdf5_trace(path)) << i;
    with_events += !events.empty();  // a cancel before the first step leaves an empty trace
    fs::remove(path);
  }
  EXPECT_GT(with_events, 30);
}

}  // namespace

namespace {
class RemoveModels : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("sm_soak_" + std::to_string(::getpid())), ec);
  }
};
const auto* const kRemoveModels = ::testing::AddGlobalTestEnvironment(new RemoveModels);
}  // namespace
