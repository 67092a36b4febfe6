// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/io/error.h"
#include "core/model/generator.h"
#include "core/model/mamba_model.h"
#include "core/model/random_model.h"
#include "core/model/sampler.h"
#include "core/tokenizer/tokenizer.h"

namespace {

TEST(Sampler, GreedyIsArgmax) {
  std::vector<float> l = {0.1f, 2.0f, -1.0f, 1.9f};
  sm::Sampler s({0.0f, 0, 1.0f, 1});
  EXPECT_EQ(s.sample(l), 1);
}

TEST(Sampler, TopKKeepsOnlyKTokens) {
  std::vector<float> l = {1.0f, 3.0f, 2.0f, 0.0f, 2.5f};
  auto p = sm::warped_probs(l, {1.0f, 2, 1.0f, 0});
  EXPECT_GT(p[1], 0.0f);
  EXPECT_GT(p[4], 0.0f);
  EXPECT_EQ(p[0] + p[2] + p[3], 0.0f);
  EXPECT_NEAR(p[1] + p[4], 1.0f, 1e-6);
  EXPECT_NEAR(p[1] / p[4], std::exp(0.5f), 1e-4);
}

TEST(Sampler, TopPKeepsSmallestSetReachingMass) {
  // softmax of log-probs {0.5, 0.3, 0.15, 0.05}
  std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  auto p = sm::warped_probs(l, {1.0f, 0, 0.75f, 0});
  EXPECT_NEAR(p[0], 0.5f / 0.8f, 1e-5);
  EXPECT_NEAR(p[1], 0.3f / 0.8f, 1e-5);
  EXPECT_EQ(p[2], 0.0f);
  EXPECT_EQ(p[3], 0.0f);
}

TEST(Sampler, TemperatureSharpens) {
  std::vector<float> l = {0.0f, 1.0f};
  auto hot = sm::warped_probs(l, {2.0f, 0, 1.0f, 0});
  auto cold = sm::warped_probs(l, {0.5f, 0, 1.0f, 0});
  EXPECT_NEAR(hot[1], 1.0 / (1.0 + std::exp(-0.5)), 1e-5);
  EXPECT_NEAR(cold[1], 1.0 / (1.0 + std::exp(-2.0)), 1e-5);
}

TEST(Sampler, EmpiricalFrequenciesMatchDistribution) {
  std::vector<float> l = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  sm::Sampler s({1.0f, 0, 1.0f, 42});
  std::vector<int> counts(3);
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[s.sample(l)];
  // 5 sigma bounds for a binomial.
  const double want[3] = {0.6, 0.3, 0.1};
  for (int i = 0; i < 3; ++i)
    EXPECT_NEAR(counts[i] / double(n), want[i], 5 * std::sqrt(want[i] * (1 - want[i]) / n));
}

TEST(Sampler, BadParametersAreRejected) {
  EXPECT_THROW(sm::Sampler({-1.0f, 0, 1.0f, 0}), sm::Error);
  EXPECT_THROW(sm::Sampler({1.0f, -2, 1.0f, 0}), sm::Error);
  EXPECT_THROW(sm::Sampler({1.0f, 0, 0.0f, 0}), sm::Error);
  EXPECT_THROW(sm::Sampler({1.0f, 0, 1.5f, 0}), sm::Error);
}

TEST(Generate, SameSeedSameOutputDifferentSeedDiffers) {
  const auto dir = std::filesystem::temp_directory_path() / ("sm_gen_" + std::to_string(::getpid()));
  sm::write_random_model(dir.string(), sm::random_model_preset("tiny-mamba1"));
  auto m = sm::MambaModel::load(dir.string());
  auto tok = sm::make_byte_tokenizer();
  std::vector<int32_t> prompt = {72, 101, 108, 108, 111};
  sm::GenerateOptions o;
  o.max_tokens = 40;
  o.sampling = {1.0f, 20, 0.95f, 123};
  auto a = sm::generate(*m, *tok, prompt, o);
  auto b = sm::generate(*m, *tok, prompt, o);
  o.sampling.seed = 124;
  auto c = sm::generate(*m, *tok, prompt, o);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_NE(a.ids, c.ids);
  EXPECT_EQ(a.ids.size(), 40u);
  // Greedy generation equals step-by-step argmax decoding.
  o.sampling = {};
  auto g = sm::generate(*m, *tok, prompt, o);
  sm::ModelState st = m->new_state();
  std::vector<float> logits(m->vocab_size());
  m->forward(prompt, st, logits.data());
  for (int32_t id : g.ids) {
    ASSERT_EQ(id, sm::argmax(logits));
    m->decode(id, st, logits.data());
  }
  std::atomic<bool> cancel{true};
  auto x = sm::generate(*m, *tok, prompt, o, {}, &cancel);
  EXPECT_TRUE(x.stats.cancelled);
  EXPECT_EQ(x.stats.stop_reason, "cancelled");
  EXPECT_THROW(sm::generate(*m, *tok, {}, o), sm::Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
