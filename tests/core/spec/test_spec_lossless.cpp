// SPDX-License-Identifier: Apache-2.0
// Greedy tree speculative decoding is lossless: token-identical to
// target-only greedy decoding for every tree shape x verification order x
// backtracking policy x tile size, on random Mamba-1 and Mamba-2 models with
// (a) an unrelated random draft, (b) a perturbed copy of the target (partial
// acceptance) and (c) the target itself (which must accept everything); and
// every tree node's logits are bit-identical to sequential decoding.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <unistd.h>

#include "core/io/default_paths.h"
#include "core/io/error.h"
#include "core/model/generator.h"
#include "core/model/mamba_model.h"
#include "core/model/random_model.h"
#include "core/io/safetensors.h"
#include "core/spec/spec_decoder.h"
#include "core/tokenizer/tokenizer.h"
#include "core/spec/tree_verifier.h"
#include "tests/core/simd_test_support.h"

namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& tag) {
  auto d = fs::temp_directory_path() / ("sm_spec_" + tag + "_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

// A copy of the model in `src` with every weight scaled by (1 + noise * N(0,1)).
void write_perturbed_copy(const fs::path& src, const fs::path& dst, float noise, uint64_t seed) {
  fs::create_directories(dst);
  fs::copy_file(src / "config.json", dst / "config.json", fs::copy_options::overwrite_existing);
  sm::TensorStore st = sm::TensorStore::open_dir(src.string());
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<sm::TensorToWrite> out;
  for (const auto& name : st.names()) {
    const sm::TensorInfo* t = st.find(name);
    std::vector<float> v = sm::to_f32(*t);
    for (float& x : v) x *= 1.0f + noise * nd(rng);
    out.push_back(sm::f32_tensor(name, t->shape, v));
  }
  sm::write_safetensors((dst / "model.safetensors").string(), out);
}

struct Pair {
  std::unique_ptr<sm::MambaModel> target, other, noisy;
};

// Every test runs once per SIMD target: bit-exactness must hold on each.
class SpecLossless : public sm::test::PerSimdTarget {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(temp_dir("lossless"));
    for (const char* arch : {"tiny-mamba1", "tiny-mamba2"}) {
      sm::RandomModelSpec t = sm::random_model_preset(arch);
      t.seed = 11;
      sm::RandomModelSpec d = t;
      d.d_model = 32;
      d.n_layer = 1;
      d.n_groups = 1;
      d.seed = 12;
      const fs::path tp = *dir_ / (std::string(arch) + "-t"), dp = *dir_ / (std::string(arch) + "-d"),
                     np = *dir_ / (std::string(arch) + "-n");
      sm::write_random_model(tp.string(), t);
      sm::write_random_model(dp.string(), d);
      write_perturbed_copy(tp, np, 0.1f, 5);
      Pair p;
      p.target = sm::MambaModel::load(tp.string());
      p.other = sm::MambaModel::load(dp.string());
      p.noisy = sm::MambaModel::load(np.string());
      pairs_->push_back(std::move(p));
    }
  }
  static void TearDownTestSuite() {
    pairs_->clear();
    fs::remove_all(*dir_);
    delete dir_;
  }
  static fs::path* dir_;
  static std::vector<Pair>* pairs_;
};
fs::path* SpecLossless::dir_ = nullptr;
std::vector<Pair>* SpecLossless::pairs_ = new std::vector<Pair>();

const std::vector<int32_t> kPrompt = {72, 101, 108, 108, 111, 44, 32, 119};

std::vector<int32_t> target_only(sm::MambaModel& m, int n) {
  auto tok = sm::make_byte_tokenizer();
  sm::GenerateOptions o;
  o.max_tokens = n;
  o.stop_at_eos = false;
  return sm::generate(m, *tok, kPrompt, o).ids;
}

TEST_P(SpecLossless, GreedyOutputIsTokenIdenticalForEveryConfiguration) {
  auto tok = sm::make_byte_tokenizer();
  const int n_tokens = 16;
  const std::vector<std::string> shapes = {"1,1,1,1", "2,2,1", "3,1", "[[0],[1],[2],[0,0],[0,1],[1,0],[0,0,0]]"};
  int runs = 0;
  for (Pair& p : *pairs_) {
    const auto want = target_only(*p.target, n_tokens);
    const std::string arch = sm::arch_name(p.target->config().arch);
    for (sm::MambaModel* draft : {p.other.get(), p.noisy.get(), p.target.get()}) {
      const char* dname = draft == p.other.get() ? "other" : draft == p.noisy.get() ? "noisy" : "self";
      for (const auto& shape : shapes) {
        double accepted_self = -1.0;
        for (auto order : {sm::VerifyOrder::Paths, sm::VerifyOrder::Dfs, sm::VerifyOrder::Fifo}) {
          for (int tile : {0, 1, 3}) {
            for (int pol = 0; pol < 4; ++pol) {
              sm::SpecConfig cfg;
              cfg.tree = sm::TreeShape::parse(shape);
              cfg.verify = order;
              cfg.tile = tile;
              cfg.backtrack = pol == 0   ? sm::BacktrackPolicy::Snapshot
                              : pol == 1 ? sm::BacktrackPolicy::Replay
                                         : sm::BacktrackPolicy::Hybrid;
              cfg.budget = pol == 2 ? 3 * p.target->config().ssm_state_floats() * 4 + 17 : 0;
              sm::GenerateOptions o;
              o.max_tokens = n_tokens;
              o.stop_at_eos = false;
              auto r = sm::spec_generate(*p.target, *draft, *tok, kPrompt, o, cfg);
              ASSERT_EQ(r.gen.ids, want) << arch << " draft=" << dname << " tree=" << shape
                                         << " verify=" << sm::verify_order_name(order)
                                         << " tile=" << tile << " policy=" << pol;
              ++runs;
              if (draft == p.target.get()) {
                // The target as its own draft accepts every drafted level.
                EXPECT_DOUBLE_EQ(r.spec.mean_accepted(), cfg.tree.max_depth()) << shape;
              }
              if (accepted_self < 0) accepted_self = r.spec.mean_accepted();
              EXPECT_DOUBLE_EQ(r.spec.mean_accepted(), accepted_self)
                  << "acceptance must not depend on order/tile/policy";
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(runs, 2 * 3 * 4 * 3 * 3 * 4);
}

TEST_P(SpecLossless, PerturbedDraftGivesPartialAcceptance) {
  // Guards the test above against a degenerate setup (all-or-nothing acceptance).
  auto tok = sm::make_byte_tokenizer();
  for (Pair& p : *pairs_) {
    sm::SpecConfig cfg;
    cfg.tree = sm::TreeShape::parse("2,2,2,1");
    sm::GenerateOptions o;
    o.max_tokens = 40;
    o.stop_at_eos = false;
    auto r = sm::spec_generate(*p.target, *p.noisy, *tok, kPrompt, o, cfg);
    EXPECT_GT(r.spec.mean_accepted(), 0.2);
    EXPECT_LT(r.spec.mean_accepted(), 4.0);
  }
}

TEST_P(SpecLossless, EveryNodeLogitsAreBitIdenticalToSequentialDecode) {
  for (Pair& p : *pairs_) {
    sm::MambaModel& m = *p.target;
    const int V = m.vocab_size();
    const sm::TreeShape shape = sm::TreeShape::parse("3,2,1,1");
    sm::TokenTree tree(shape);
    std::mt19937 rng(3);
    for (int32_t v = 0; v < shape.size(); ++v) tree.token[v] = int32_t(rng() % V);
    sm::ModelState committed = m.new_state();
    std::vector<float> l(V);
    m.forward(kPrompt, committed, l.data());
    const sm::ModelState before = committed;
    // Reference: sequential decode along every node's path.
    std::vector<float> want(size_t(shape.size()) * V);
    for (int32_t v = 0; v < shape.size(); ++v) {
      sm::ModelState s = committed;
      for (int32_t u : shape.path_to(v)) m.decode(tree.token[u], s, want.data() + size_t(v) * V);
    }
    for (auto order : {sm::VerifyOrder::Paths, sm::VerifyOrder::Dfs, sm::VerifyOrder::Fifo})
      for (int tile : {0, 2, 5}) {
        sm::TreeVerifier ver(m, shape, order, tile);
        sm::SnapshotStore store;
        std::vector<uint8_t> mask(size_t(shape.size()) * m.config().n_layer, 1);
        store.plan(mask, shape.size(), m.config().n_layer, m.config().ssm_state_floats());
        std::vector<float> got(want.size());
        std::vector<int32_t> all(shape.size());
        for (int32_t v = 0; v < shape.size(); ++v) all[v] = v;
        ver.verify(tree, committed, store, got.data(), all, nullptr);
        EXPECT_EQ(committed, before) << "verification must not modify the committed state";
        for (int32_t v = 0; v < shape.size(); ++v)
          EXPECT_EQ(0, std::memcmp(got.data() + size_t(v) * V, want.data() + size_t(v) * V,
                                   V * sizeof(float)))
              << sm::arch_name(m.config().arch) << " " << sm::verify_order_name(order)
              << " tile " << tile << " node " << v;
        // Stored node states equal the sequential states.
        for (int32_t v = 0; v < shape.size(); ++v) {
          sm::ModelState s = committed;
          for (int32_t u : shape.path_to(v)) m.decode(tree.token[u], s, l.data());
          for (int layer = 0; layer < m.config().n_layer; ++layer)
            EXPECT_EQ(0, std::memcmp(store.at(v, layer), s.layers[layer].ssm.data(),
                                     s.layers[layer].ssm.size() * sizeof(float)))
                << "node " << v << " layer " << layer;
        }
      }
  }
}

TEST_P(SpecLossless, WorksWithSeveralThreads) {
  auto tok = sm::make_byte_tokenizer();
  for (Pair& p : *pairs_) {
    const auto want = target_only(*p.target, 16);
    p.target->set_threads(2);
    for (int tile : {0, 4}) {
      sm::SpecConfig cfg;
      cfg.tree = sm::TreeShape::parse("2,2,1");
      cfg.tile = tile;
      sm::GenerateOptions o;
      o.max_tokens = 16;
      o.stop_at_eos = false;
      EXPECT_EQ(sm::spec_generate(*p.target, *p.noisy, *tok, kPrompt, o, cfg).gen.ids, want);
    }
    p.target->set_threads(1);
  }
}

TEST_P(SpecLossless, MismatchedVocabulariesAreRejected) {
  sm::RandomModelSpec s = sm::random_model_preset("tiny-mamba1");
  s.vocab_size = 300;
  const fs::path d = *dir_ / "v300";
  sm::write_random_model(d.string(), s);
  auto other = sm::MambaModel::load(d.string());
  sm::SpecConfig cfg;
  try {
    sm::SpecDecoder dec(*(*pairs_)[0].target, *other, cfg, {});
    FAIL() << "expected an error";
  } catch (const sm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocabularies differ"), std::string::npos) << e.what();
  }
}

SM_INSTANTIATE_PER_SIMD_TARGET(SpecLossless);

class SpecShippedPair : public sm::test::PerSimdTarget {};

TEST_P(SpecShippedPair, GreedyOutputMatchesTargetOnly) {
  const std::string t = sm::default_target_model(), d = sm::default_draft_model();
  if (!fs::exists(fs::path(t) / "config.json") || !fs::exists(fs::path(d) / "config.json"))
    GTEST_SKIP() << "shipped models not present";
  auto target = sm::MambaModel::load(t);
  auto draft = sm::MambaModel::load(d);
  auto tok = sm::load_tokenizer_for_model(t);
  const auto prompt = tok->encode("In the beginning God created");
  sm::GenerateOptions o;
  o.max_tokens = 48;
  o.stop_at_eos = false;
  const auto want = sm::generate(*target, *tok, prompt, o).ids;
  for (const char* shape : {"1,1,1,1", "4,2,2,1", "2,1,1,1,1"})
    for (auto pol : {sm::BacktrackPolicy::Snapshot, sm::BacktrackPolicy::Replay,
                     sm::BacktrackPolicy::Hybrid}) {
      sm::SpecConfig cfg;
      cfg.tree = sm::TreeShape::parse(shape);
      cfg.backtrack = pol;
      cfg.budget = 200000;
      cfg.tile = 5;
      auto r = sm::spec_generate(*target, *draft, *tok, prompt, o, cfg);
      EXPECT_EQ(r.gen.ids, want) << shape << " " << sm::backtrack_policy_name(pol);
      EXPECT_GT(r.spec.mean_accepted(), 0.0);
    }
}

SM_INSTANTIATE_PER_SIMD_TARGET(SpecShippedPair);

}  // namespace
