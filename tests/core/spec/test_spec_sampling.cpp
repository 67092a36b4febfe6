// SPDX-License-Identifier: Apache-2.0
// Acceptance: greedy walks, and the stochastic multi-branch procedure
// preserving the target's distribution. Statistical tests use a fixed seed
// and chi-square bounds at significance alpha = 1e-3 (critical values by the
// Wilson-Hilferty approximation), so a correct implementation fails with
// probability ~1e-3 per seed; the seeds below pass.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>

#include <unistd.h>

#include "core/io/error.h"
#include "core/model/mamba_model.h"
#include "core/model/random_model.h"
#include "core/io/safetensors.h"
#include "core/model/sampler.h"
#include "core/spec/spec_acceptance.h"
#include "core/spec/spec_decoder.h"
#include "core/tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace {

// Upper 1e-3 quantile of chi-square with df degrees of freedom.
double chi2_critical_1e3(int df) {
  const double z = 3.090232;  // standard normal upper 1e-3 quantile
  const double a = 2.0 / (9.0 * df);
  return df * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

// Chi-square statistic of counts against probabilities; cells with zero
// expected probability must be empty. Returns {statistic, degrees of freedom}.
std::pair<double, int> chi_square(const std::vector<int64_t>& counts, const std::vector<double>& probs,
                                  int64_t n) {
  double x2 = 0.0;
  int cells = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (probs[i] <= 0.0) {
      EXPECT_EQ(counts[i], 0) << "cell " << i << " has probability 0 but was drawn";
      continue;
    }
    const double e = probs[i] * n;
    x2 += (counts[i] - e) * (counts[i] - e) / e;
    ++cells;
  }
  return {x2, cells - 1};
}

// ---- Synthetic target / draft over a small vocabulary ------------------
constexpr int V = 4;

// A distribution after a token prefix: deterministic, with zeros (as after
// top-k / top-p warping) that differ between target and draft.
std::vector<float> synth(const std::vector<int32_t>& prefix, bool draft) {
  uint64_t h = draft ? 0x9E3779B97F4A7C15ull : 0x51ED27A3ull;
  for (int32_t t : prefix) h = (h ^ uint64_t(t + 1)) * 0x100000001B3ull;
  std::mt19937_64 g(h);
  std::vector<float> p(V);
  double sum = 0.0;
  for (int i = 0; i < V; ++i) {
    p[i] = std::uniform_real_distribution<float>(0.05f, 1.0f)(g);
    sum += p[i];
  }
  // Zero one token: the target never says 3 after an even prefix length; the
  // draft never proposes 0 after an odd one.
  const int zero = draft ? (prefix.size() % 2 ? 0 : -1) : (prefix.size() % 2 ? -1 : 3);
  if (zero >= 0) {
    sum -= p[zero];
    p[zero] = 0.0f;
  }
  for (auto& x : p) x = static_cast<float>(x / sum);
  return p;
}

std::vector<int32_t> prefix_of(const sm::TokenTree& tree, int32_t node) {
  std::vector<int32_t> pre;
  for (int32_t u : tree.shape->path_to(node)) pre.push_back(tree.token[u]);
  return pre;
}

// Joint distribution of the first three emitted tokens after the root
// (tokens missing from a step's emission are drawn from the target, as the
// next steps would). `broken` replaces the residual by plain p on rejection.
void run_synthetic(const char* shape_spec, uint64_t seed, bool broken, double* out_x2,
                   int* out_df, double* out_mean_accepted) {
  const sm::TreeShape shape = sm::TreeShape::parse(shape_spec);
  sm::TokenTree tree(shape);
  sm::Sampler rng({1.0f, 0, 1.0f, seed});
  std::map<std::vector<int32_t>, std::vector<float>> pc, qc;
  auto P = [&](const std::vector<int32_t>& pre) -> const std::vector<float>& {
    auto it = pc.find(pre);
    return it != pc.end() ? it->second : pc.emplace(pre, synth(pre, false)).first->second;
  };
  auto Q = [&](const std::vector<int32_t>& pre) -> const std::vector<float>& {
    auto it = qc.find(pre);
    return it != qc.end() ? it->second : qc.emplace(pre, synth(pre, true)).first->second;
  };
  const int64_t n = 60000;
  std::vector<int64_t> counts(V * V * V, 0);
  int64_t accepted = 0;
  std::vector<float> pv, qv;
  for (int64_t it = 0; it < n; ++it) {
    tree.token[0] = 0;  // the root token (its own value is irrelevant)
    // Children: i.i.d. samples of the draft's q at their parent.
    for (int32_t v = 1; v < shape.size(); ++v) {
      const auto& q = Q(prefix_of(tree, shape.parent[v]));
      tree.token[v] = rng.sample_probs(q);
      tree.draft_prob[v] = q[tree.token[v]];
    }
    auto p_fn = [&](int32_t v) {
      pv = P(prefix_of(tree, v));
      return std::span<const float>(pv);
    };
    auto q_fn = [&](int32_t v) {
      qv = Q(prefix_of(tree, v));
      return std::span<const float>(qv);
    };
    std::vector<int32_t> seq;
    if (!broken) {
      const sm::AcceptResult r = sm::accept_stochastic(tree, p_fn, q_fn, rng);
      for (int32_t v : r.path) seq.push_back(tree.token[v]);
      seq.push_back(r.bonus);
      accepted += static_cast<int64_t>(r.path.size());
    } else {  // naive: on rejection, fall back to sampling p (not the residual)
      int32_t cur = 0;
      for (;;) {
        const auto p = P(prefix_of(tree, cur));
        int32_t next = -1;
        if (shape.n_children[cur] > 0) {
          const auto q = Q(prefix_of(tree, cur));
          for (int32_t i = 0; i < shape.n_children[cur] && next < 0; ++i) {
            const int32_t c = shape.first_child[cur] + i;
            if (rng.uniform() * q[tree.token[c]] < p[tree.token[c]]) next = c;
          }
        }
        if (next < 0) {
          seq.push_back(rng.sample_probs(p));
          break;
        }
        seq.push_back(tree.token[next]);
        cur = next;
      }
    }
    while (seq.size() < 3) {
      std::vector<int32_t> pre = {0};
      pre.insert(pre.end(), seq.begin(), seq.end());
      seq.push_back(rng.sample_probs(P(pre)));
    }
    ++counts[(seq[0] * V + seq[1]) * V + seq[2]];
  }
  std::vector<double> want(V * V * V);
  for (int a = 0; a < V; ++a)
    for (int b = 0; b < V; ++b)
      for (int c = 0; c < V; ++c)
        want[(a * V + b) * V + c] =
            double(P({0})[a]) * P({0, a})[b] * P({0, a, b})[c];
  const auto [x2, df] = chi_square(counts, want, n);
  *out_x2 = x2;
  *out_df = df;
  *out_mean_accepted = double(accepted) / n;
}

TEST(StochasticAcceptance, PreservesTheTargetDistribution) {
  for (const char* shape : {"1,1", "3,2", "2,2,2", "[[0],[1],[2],[3],[0,0],[1,0],[1,1]]"}) {
    double x2 = 0, acc = 0;
    int df = 0;
    run_synthetic(shape, 1234, false, &x2, &df, &acc);
    std::printf("  tree %-40s chi2 %7.2f (df %d, critical %.2f), mean accepted %.2f\n", shape, x2,
                df, chi2_critical_1e3(df), acc);
    EXPECT_LT(x2, chi2_critical_1e3(df)) << shape << ": chi2 " << x2 << " df " << df;
    EXPECT_GT(acc, 0.3) << shape;  // the test exercises acceptance and rejection
  }
}

TEST(StochasticAcceptance, NaiveResamplingIsDetected) {
  // The same test rejects the classic mistake, so it has power.
  double x2 = 0, acc = 0;
  int df = 0;
  run_synthetic("3,2", 1234, true, &x2, &df, &acc);
  std::printf("  naive: chi2 %.1f (df %d, critical %.2f)\n", x2, df, chi2_critical_1e3(df));
  EXPECT_GT(x2, chi2_critical_1e3(df)) << "chi2 " << x2;
}

TEST(StochasticAcceptance, IdenticalDistributionsAcceptTheFirstChild) {
  const sm::TreeShape shape = sm::TreeShape::parse("3,2,1");
  sm::TokenTree tree(shape);
  sm::Sampler rng({1.0f, 0, 1.0f, 5});
  const std::vector<float> p = {0.1f, 0.2f, 0.3f, 0.4f};
  for (int it = 0; it < 200; ++it) {
    for (int32_t v = 1; v < shape.size(); ++v) tree.token[v] = rng.sample_probs(p);
    auto f = [&](int32_t) { return std::span<const float>(p); };
    const auto r = sm::accept_stochastic(tree, f, f, rng);
    ASSERT_EQ(r.path.size(), 3u);
    EXPECT_EQ(r.path[0], shape.first_child[0]);
  }
}

TEST(GreedyAcceptance, LongestMatchingPathAndBonus) {
  const sm::TreeShape shape = sm::TreeShape::parse("2,2");  // 0; 1 2; 3 4 (of 1), 5 6 (of 2)
  sm::TokenTree tree(shape);
  tree.token = {9, 10, 11, 20, 21, 22, 23};
  std::vector<int32_t> argmax = {11, 0, 23, 0, 0, 0, 0};
  argmax[6] = 42;
  std::vector<sm::AcceptDecision> log;
  auto r = sm::accept_greedy(tree, std::span<const int32_t>(argmax), &log);
  EXPECT_EQ(r.path, (std::vector<int32_t>{2, 6}));
  EXPECT_EQ(r.last, 6);
  EXPECT_EQ(r.bonus, 42);
  ASSERT_EQ(log.size(), 4u);  // 1 rejected, 2 accepted, 5 rejected, 6 accepted
  EXPECT_FALSE(log[0].accepted);
  EXPECT_TRUE(log[1].accepted);
  EXPECT_EQ(log[1].reason, "matches target argmax");
  // Nothing matches: only the bonus.
  argmax[0] = 7;
  r = sm::accept_greedy(tree, std::span<const int32_t>(argmax));
  EXPECT_TRUE(r.path.empty());
  EXPECT_EQ(r.last, 0);
  EXPECT_EQ(r.bonus, 7);
}

// ---- End to end with random models -------------------------------------

struct Models {
  fs::path dir;
  std::unique_ptr<sm::MambaModel> target, draft;
};

Models make_models(const char* arch, uint64_t draft_seed) {
  Models m;
  m.dir = fs::temp_directory_path() /
          ("sm_specs_" + std::string(arch) + std::to_string(draft_seed) + "_" + std::to_string(::getpid()));
  sm::RandomModelSpec t = sm::random_model_preset(arch);
  t.vocab_size = 16;  // small vocabulary: a few likely tokens per position
  t.seed = 21;
  sm::write_random_model((m.dir / "t").string(), t);
  // The draft: the target's weights perturbed (partial agreement).
  fs::create_directories(m.dir / "d");
  fs::copy_file(m.dir / "t" / "config.json", m.dir / "d" / "config.json");
  sm::TensorStore st = sm::TensorStore::open_dir((m.dir / "t").string());
  std::mt19937_64 rng(draft_seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<sm::TensorToWrite> out;
  for (const auto& name : st.names()) {
    std::vector<float> v = sm::to_f32(*st.find(name));
    for (float& x : v) x *= 1.0f + 0.5f * nd(rng);
    out.push_back(sm::f32_tensor(name, st.find(name)->shape, v));
  }
  sm::write_safetensors((m.dir / "d" / "model.safetensors").string(), out);
  m.target = sm::MambaModel::load((m.dir / "t").string());
  m.draft = sm::MambaModel::load((m.dir / "d").string());
  return m;
}

TEST(SpecSampling, SameSeedSameOutputAndSelfDraftAcceptsAll) {
  Models m = make_models("tiny-mamba2", 3);
  auto tok = sm::make_byte_tokenizer();
  const std::vector<int32_t> prompt = {1, 2, 3, 4};
  sm::GenerateOptions o;
  o.max_tokens = 30;
  o.stop_at_eos = false;
  o.sampling = {0.9f, 8, 0.95f, 77};
  sm::SpecConfig cfg;
  cfg.tree = sm::TreeShape::parse("3,2,1");
  auto a = sm::spec_generate(*m.target, *m.draft, *tok, prompt, o, cfg);
  auto b = sm::spec_generate(*m.target, *m.draft, *tok, prompt, o, cfg);
  EXPECT_EQ(a.gen.ids, b.gen.ids);
  EXPECT_EQ(a.gen.ids.size(), 30u);
  for (int32_t id : a.gen.ids) EXPECT_LT(id, 16);
  cfg.backtrack = sm::BacktrackPolicy::Replay;
  auto c = sm::spec_generate(*m.target, *m.draft, *tok, prompt, o, cfg);
  EXPECT_EQ(a.gen.ids, c.gen.ids) << "the backtracking policy must not change sampled output";
  // p == q exactly: every first child is accepted. 1 + 7 x 4 tokens: no step
  // is cut at max_tokens (cut tokens are not counted as accepted).
  o.max_tokens = 29;
  auto s = sm::spec_generate(*m.target, *m.target, *tok, prompt, o, cfg);
  EXPECT_DOUBLE_EQ(s.spec.mean_accepted(), 3.0);
  o.max_tokens = 30;  // the 8th step emits only its first accepted token
  auto cut = sm::spec_generate(*m.target, *m.target, *tok, prompt, o, cfg);
  EXPECT_EQ(cut.spec.steps, 8);
  EXPECT_EQ(cut.spec.accepted, 7 * 3 + 1);
  EXPECT_EQ(cut.spec.emitted, 29);
  fs::remove_all(m.dir);
}

TEST(SpecSampling, FirstSpeculativeTokensFollowTheTarget) {
  // The joint law of (root, first token of step 1) from SpecDecoder equals
  // p(root | prompt) * p(x | prompt, root) computed by plain decoding.
  for (const char* arch : {"tiny-mamba1", "tiny-mamba2"}) {
    Models m = make_models(arch, 9);
    const std::vector<int32_t> prompt = {5, 6, 7};
    const sm::SamplingParams sp = {1.2f, 4, 0.97f, 0};
    const int Vm = m.target->vocab_size();
    // Reference probabilities.
    std::vector<float> l(Vm);
    sm::ModelState st = m.target->new_state();
    m.target->forward(prompt, st, l.data());
    const std::vector<float> p0 = sm::warped_probs(l, sp);
    std::vector<double> want(size_t(Vm) * Vm, 0.0);
    for (int a = 0; a < Vm; ++a) {
      if (p0[a] <= 0) continue;
      sm::ModelState s2 = st;
      m.target->decode(a, s2, l.data());
      const std::vector<float> p1 = sm::warped_probs(l, sp);
      for (int b = 0; b < Vm; ++b) want[a * Vm + b] = double(p0[a]) * p1[b];
    }
    sm::SpecConfig cfg;
    cfg.tree = sm::TreeShape::parse("2,1");
    const int64_t n = 5000;
    std::vector<int64_t> counts(size_t(Vm) * Vm, 0);
    sm::SamplingParams s = sp;
    s.seed = 1000;
    sm::SpecDecoder dec(*m.target, *m.draft, cfg, s);
    for (int64_t i = 0; i < n; ++i) {  // independent draws: the generator runs on
      const int32_t root = dec.prefill(prompt);
      const auto& out = dec.step();
      ++counts[root * Vm + out[0]];
    }
    const double accepted = double(dec.stats().accepted);
    const auto [x2, df] = chi_square(counts, want, n);
    std::printf("  %s: chi2 %.2f (df %d, critical %.2f), mean accepted %.2f\n", arch, x2, df,
                chi2_critical_1e3(df), accepted / n);
    EXPECT_LT(x2, chi2_critical_1e3(df)) << arch << ": chi2 " << x2 << " df " << df;
    EXPECT_GT(accepted / n, 0.2) << arch;  // acceptance happens, and so does rejection
    EXPECT_LT(accepted / n, 1.8) << arch;
    fs::remove_all(m.dir);
  }
}

}  // namespace
