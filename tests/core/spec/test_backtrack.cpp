// SPDX-License-Identifier: Apache-2.0
// Backtracking: snapshot, replay and hybrid leave bit-identical states (equal
// to plain sequential decoding of the accepted tokens), hybrid never exceeds
// its budget, the byte accounting adds up, and the events are emitted.
#include <gtest/gtest.h>

#include "tests/core/simd_test_support.h"

#include <filesystem>
#include <random>

#include <unistd.h>

#include "core/io/error.h"
#include "core/model/mamba_model.h"
#include "core/model/random_model.h"
#include "core/io/safetensors.h"
#include "core/spec/spec_decoder.h"

namespace fs = std::filesystem;

namespace {

struct Pair {
  std::unique_ptr<sm::MambaModel> target, draft;
};

fs::path g_dir;
std::vector<Pair>* g_pairs = nullptr;

class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    g_dir = fs::temp_directory_path() / ("sm_backtrack_" + std::to_string(::getpid()));
    g_pairs = new std::vector<Pair>();
    for (const char* arch : {"tiny-mamba1", "tiny-mamba2"}) {
      sm::RandomModelSpec t = sm::random_model_preset(arch);
      t.seed = 31;
      const fs::path tp = g_dir / (std::string(arch) + "t"), dp = g_dir / (std::string(arch) + "d");
      sm::write_random_model(tp.string(), t);
      // Draft: the target perturbed, so acceptance is partial.
      fs::create_directories(dp);
      fs::copy_file(tp / "config.json", dp / "config.json");
      sm::TensorStore st = sm::TensorStore::open_dir(tp.string());
      std::mt19937_64 rng(4);
      std::normal_distribution<float> nd(0.0f, 1.0f);
      std::vector<sm::TensorToWrite> out;
      for (const auto& name : st.names()) {
        std::vector<float> v = sm::to_f32(*st.find(name));
        for (float& x : v) x *= 1.0f + 0.1f * nd(rng);
        out.push_back(sm::f32_tensor(name, st.find(name)->shape, v));
      }
      sm::write_safetensors((dp / "model.safetensors").string(), out);
      g_pairs->push_back({sm::MambaModel::load(tp.string()), sm::MambaModel::load(dp.string())});
    }
  }
  void TearDown() override {
    delete g_pairs;
    fs::remove_all(g_dir);
  }
};
const auto* g_env = ::testing::AddGlobalTestEnvironment(new Env);

const std::vector<int32_t> kPrompt = {84, 104, 101, 32, 113, 117};

// State after the prompt and then `tokens` one decode step at a time.
sm::ModelState sequential_state(sm::MambaModel& m, std::span<const int32_t> tokens) {
  sm::ModelState s = m.new_state();
  std::vector<float> l(m.vocab_size());
  m.forward(kPrompt, s, l.data());
  for (int32_t t : tokens) m.decode(t, s, l.data());
  return s;
}

sm::SpecConfig config(const char* tree, sm::BacktrackPolicy p, int64_t budget,
                      sm::VerifyOrder o = sm::VerifyOrder::Fifo, int tile = 0) {
  sm::SpecConfig c;
  c.tree = sm::TreeShape::parse(tree);
  c.backtrack = p;
  c.budget = budget;
  c.verify = o;
  c.tile = tile;
  return c;
}

// Once per SIMD target: the policies must leave bit-identical states on each.
class Backtrack : public sm::test::PerSimdTarget {};
SM_INSTANTIATE_PER_SIMD_TARGET(Backtrack);

TEST_P(Backtrack, PoliciesLeaveBitIdenticalStatesEqualToSequentialDecoding) {
  for (Pair& p : *g_pairs) {
    const int64_t layer = p.target->config().ssm_state_floats() * 4;
    std::vector<sm::SpecConfig> cfgs = {
        config("2,2,1", sm::BacktrackPolicy::Snapshot, 0),
        config("2,2,1", sm::BacktrackPolicy::Replay, 0),
        config("2,2,1", sm::BacktrackPolicy::Hybrid, 3 * layer),
        config("2,2,1", sm::BacktrackPolicy::Hybrid, 1 << 30),
        config("2,2,1", sm::BacktrackPolicy::Replay, 0, sm::VerifyOrder::Paths, 3),
        config("2,2,1", sm::BacktrackPolicy::Hybrid, 5 * layer + 7, sm::VerifyOrder::Dfs, 1)};
    std::vector<std::unique_ptr<sm::SpecDecoder>> decs;
    for (const auto& c : cfgs)
      decs.push_back(std::make_unique<sm::SpecDecoder>(*p.target, *p.draft, c, sm::SamplingParams{}));
    std::vector<int32_t> emitted;
    for (auto& d : decs) {
      const int32_t first = d->prefill(kPrompt);
      if (&d == &decs.front()) emitted.push_back(first);
    }
    for (int step = 0; step < 8; ++step) {
      const std::vector<int32_t> out = decs[0]->step();
      for (size_t i = 1; i < decs.size(); ++i) {
        ASSERT_EQ(decs[i]->step(), out) << "config " << i << " step " << step;
        EXPECT_EQ(decs[i]->target_state(), decs[0]->target_state()) << "config " << i;
        EXPECT_EQ(decs[i]->draft_state(), decs[0]->draft_state()) << "config " << i;
        EXPECT_EQ(decs[i]->draft_pending(), decs[0]->draft_pending());
      }
      emitted.insert(emitted.end(), out.begin(), out.end());
      // The target has consumed everything but the root (the last token).
      const std::span<const int32_t> t_done(emitted.data(), emitted.size() - 1);
      EXPECT_EQ(decs[0]->target_state(), sequential_state(*p.target, t_done)) << "step " << step;
      // The draft also owes its pending token.
      const size_t owed = 1 + decs[0]->draft_pending().size();
      const std::span<const int32_t> d_done(emitted.data(), emitted.size() - owed);
      EXPECT_EQ(decs[0]->draft_state(), sequential_state(*p.draft, d_done)) << "step " << step;
    }
    EXPECT_GT(decs[0]->stats().mean_accepted(), 0.3);
  }
}

TEST_P(Backtrack, HybridNeverExceedsItsBudget) {
  for (Pair& p : *g_pairs) {
    const int L = p.target->config().n_layer;
    const int64_t layer = p.target->config().ssm_state_floats() * 4;
    const int64_t dnode = p.draft->config().ssm_state_floats() * 4 * p.draft->config().n_layer;
    const int64_t n = sm::TreeShape::parse("3,2,1").size();
    for (int64_t budget : {int64_t{0}, int64_t{1}, layer - 1, layer, layer + 1, 2 * layer + layer / 2,
                           dnode, 3 * dnode - 1, 7 * layer, n * L * layer - 1, n * L * layer,
                           int64_t{1} << 40}) {
      sm::SpecDecoder d(*p.target, *p.draft, config("3,2,1", sm::BacktrackPolicy::Hybrid, budget),
                        {});
      d.prefill(kPrompt);
      for (int step = 0; step < 6; ++step) {
        d.step();
        const auto& t = d.last_target_backtrack();
        const auto& dr = d.last_draft_backtrack();
        EXPECT_LE(t.state_bytes, budget) << "target, budget " << budget;
        EXPECT_LE(dr.state_bytes, budget) << "draft, budget " << budget;
        // Greedy filling: what is left is smaller than one more stored state.
        EXPECT_TRUE(t.state_bytes == n * L * layer || budget - t.state_bytes < layer) << budget;
        if (budget == 0) {
          EXPECT_EQ(t.state_bytes, 0);
          EXPECT_EQ(t.replayed_steps, t.path_nodes * L);  // pure replay
        }
        if (budget >= n * L * layer) {
          EXPECT_EQ(t.replayed_steps, 0);  // pure snapshot
        }
        EXPECT_EQ(d.last_verify().state_bytes_written, t.state_bytes);
        // The model-free estimate (the Studio's what-if) agrees with the engine.
        std::vector<int32_t> path{0};
        for (int32_t v : d.last_accept().path) path.push_back(v);
        for (auto policy : {sm::BacktrackPolicy::Hybrid, sm::BacktrackPolicy::Snapshot,
                            sm::BacktrackPolicy::Replay}) {
          const sm::BacktrackEstimate e =
              sm::estimate_target_backtrack(policy, budget, d.last_tree(), path, d.target_geometry());
          if (policy != sm::BacktrackPolicy::Hybrid) {
            EXPECT_EQ(e.state_bytes, policy == sm::BacktrackPolicy::Snapshot ? n * L * layer : 0);
            EXPECT_EQ(e.replayed_steps, policy == sm::BacktrackPolicy::Snapshot ? 0 : t.path_nodes * L);
            continue;
          }
          EXPECT_EQ(e.state_bytes, t.state_bytes) << budget;
          EXPECT_EQ(e.input_bytes, t.input_bytes) << budget;
          EXPECT_EQ(e.replayed_steps, t.replayed_steps) << budget;
        }
      }
      EXPECT_LE(d.stats().target_state_bytes_max, budget);
      EXPECT_LE(d.stats().draft_state_bytes_max, budget);
    }
  }
}

TEST_P(Backtrack, AccountingOfSnapshotAndReplay) {
  Pair& p = (*g_pairs)[1];
  const int L = p.target->config().n_layer;
  const int64_t layer = p.target->config().ssm_state_floats() * 4;
  const int32_t n = sm::TreeShape::parse("2,2,1").size();
  sm::SpecDecoder snap(*p.target, *p.draft, config("2,2,1", sm::BacktrackPolicy::Snapshot, 0), {});
  sm::SpecDecoder rep(*p.target, *p.draft, config("2,2,1", sm::BacktrackPolicy::Replay, 0), {});
  snap.prefill(kPrompt);
  rep.prefill(kPrompt);
  for (int step = 0; step < 5; ++step) {
    snap.step();
    rep.step();
    const auto& s = snap.last_target_backtrack();
    const auto& r = rep.last_target_backtrack();
    EXPECT_EQ(s.state_bytes, int64_t{n} * L * layer);
    EXPECT_EQ(s.replayed_steps, 0);
    EXPECT_EQ(r.state_bytes, 0);
    EXPECT_EQ(r.replayed_steps, r.path_nodes * L);
    EXPECT_EQ(r.path_nodes, int32_t(rep.last_accept().path.size()) + 1);
    EXPECT_GT(r.input_bytes, s.input_bytes);  // replay keeps x/dt/B instead of states
    EXPECT_LT(r.state_bytes + r.input_bytes, s.state_bytes + s.input_bytes);
    EXPECT_EQ(snap.last_draft_backtrack().replayed_steps, 0);
    EXPECT_GT(rep.last_draft_backtrack().replayed_steps, 0);
  }
  EXPECT_GT(rep.stats().replayed_tokens(), 0.0);
  EXPECT_EQ(snap.stats().target_replayed_tokens, 0.0);
}

class Recorder : public sm::EventSink {
 public:
  void on_event(const sm::Event& e) override { events.push_back(e); }
  std::vector<sm::Event> events;
  template <class T>
  int count() const {
    int n = 0;
    for (const auto& e : events) n += std::holds_alternative<T>(e.payload);
    return n;
  }
};

TEST(SpecEvents, EveryStepEmitsItsEvents) {
  Pair& p = (*g_pairs)[0];
  for (bool verbose : {true, false}) {
    Recorder rec;
    auto c = config("2,2,1", sm::BacktrackPolicy::Hybrid, 100000, sm::VerifyOrder::Fifo, 32);
    c.verbose_events = verbose;
    sm::SpecDecoder d(*p.target, *p.draft, c, {}, &rec);
    d.prefill(kPrompt);
    const int steps = 4;
    for (int s = 0; s < steps; ++s) d.step();
    const int32_t n = c.tree.size();
    EXPECT_EQ(rec.count<sm::TreeDrafted>(), steps);
    EXPECT_EQ(rec.count<sm::NodeDrafted>(), steps * (n - 1));
    EXPECT_EQ(rec.count<sm::NodeVerified>(), steps * n);
    EXPECT_EQ(rec.count<sm::Backtrack>(), steps * 2);
    EXPECT_EQ(rec.count<sm::StepSummary>(), steps);
    EXPECT_GE(rec.count<sm::AcceptDecision>(), steps);
    const int tiles = int((p.target->config().d_inner + 31) / 32);
    const int layers = p.target->config().n_layer;
    if (verbose) {
      // fifo pushes every node with children once per tile and layer, and pops it.
      const int internal = n - c.tree.leaf_count();
      EXPECT_EQ(rec.count<sm::FifoPush>(), steps * layers * tiles * internal);
      EXPECT_EQ(rec.count<sm::FifoPop>(), steps * layers * tiles * internal);
    } else {
      EXPECT_EQ(rec.count<sm::FifoPush>(), 0);
    }
    int last_step = 0;
    for (const auto& e : rec.events) {
      EXPECT_GE(e.t_us, 0.0);
      EXPECT_GE(e.step, last_step);
      last_step = e.step;
      if (auto* b = std::get_if<sm::Backtrack>(&e.payload)) {
        EXPECT_EQ(b->policy, "hybrid");
        EXPECT_GT(b->bytes_kept, 0);
      }
      if (auto* s = std::get_if<sm::StepSummary>(&e.payload)) {
        EXPECT_EQ(s->emitted, s->accepted + 1);
        EXPECT_EQ(s->tree_nodes, n);
        EXPECT_GT(s->state_bytes_read, 0);
      }
    }
  }
}

}  // namespace
