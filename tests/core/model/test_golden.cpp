// SPDX-License-Identifier: Apache-2.0
// The fp32 engine against independent float64 reference logits and states
// (tools/make_golden.py) for Mamba-1 and Mamba-2 in both namings and dtypes.
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include <gtest/gtest.h>

#include <tuple>

#include "tests/core/simd_test_support.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/model/mamba_model.h"

namespace {

struct Golden {
  nlohmann::json j;
  std::unique_ptr<sm::MambaModel> model;
  double scale = 1.0;  // max |logit|, the tolerance's reference
};

Golden load_case(const std::string& name) {
  const std::string dir = std::string(SPECMAMBA_TEST_DATA) + "/golden/" + name;
  Golden g;
  std::ifstream f(dir + "/expected.json");
  g.j = nlohmann::json::parse(f);
  g.model = sm::MambaModel::load(dir);
  for (const auto& p : g.j["logits"])
    for (const auto& row : p)
      for (double v : row) g.scale = std::max(g.scale, std::abs(v));
  return g;
}

double max_err(const float* got, const nlohmann::json& want) {
  double e = 0.0;
  for (size_t i = 0; i < want.size(); ++i) e = std::max(e, std::abs(double(got[i]) - want[i].get<double>()));
  return e;
}

// Every case once per SIMD target: the numerics must hold on each.
class GoldenTest : public sm::test::PerSimdTargetT<std::tuple<std::string, int64_t>> {
 protected:
  int64_t target_bits() const override { return std::get<1>(GetParam()); }
  std::string case_name() const { return std::get<0>(GetParam()); }
};

TEST_P(GoldenTest, PrefillMatchesReferenceAtEveryPosition) {
  Golden g = load_case(case_name());
  const int V = g.model->vocab_size();
  ASSERT_EQ(V, g.j["vocab_size"].get<int>());
  for (size_t p = 0; p < g.j["prompts"].size(); ++p) {
    auto ids = g.j["prompts"][p].get<std::vector<int32_t>>();
    std::vector<float> logits(ids.size() * V);
    sm::ModelState st = g.model->new_state();
    g.model->forward(ids, st, logits.data(), sm::MambaModel::Logits::All);
    for (size_t t = 0; t < ids.size(); ++t)
      EXPECT_LE(max_err(&logits[t * V], g.j["logits"][p][t]), 1e-4 * g.scale)
          << case_name() << " prompt " << p << " position " << t;
  }
}

TEST_P(GoldenTest, DecodeStepByStepMatchesReference) {
  Golden g = load_case(case_name());
  const int V = g.model->vocab_size();
  for (size_t p = 0; p < g.j["prompts"].size(); ++p) {
    auto ids = g.j["prompts"][p].get<std::vector<int32_t>>();
    std::vector<float> logits(V);
    sm::ModelState st = g.model->new_state();
    for (size_t t = 0; t < ids.size(); ++t) {
      g.model->decode(ids[t], st, logits.data());
      EXPECT_LE(max_err(logits.data(), g.j["logits"][p][t]), 1e-4 * g.scale)
          << case_name() << " prompt " << p << " step " << t;
    }
  }
}

TEST_P(GoldenTest, PrefillStateEqualsRepeatedDecodeAndReference) {
  Golden g = load_case(case_name());
  const auto& fs = g.j["final_state"];
  auto ids = g.j["prompts"][fs["prompt"].get<int>()].get<std::vector<int32_t>>();
  sm::ModelState a = g.model->new_state(), b = g.model->new_state(), c = g.model->new_state();
  g.model->forward(ids, a, nullptr, sm::MambaModel::Logits::None);
  for (int32_t id : ids) g.model->decode(id, b, nullptr);
  g.model->set_chunk(5);  // prefill in uneven chunks, and on two threads
  g.model->set_threads(2);
  g.model->forward(ids, c, nullptr, sm::MambaModel::Logits::None);
  ASSERT_EQ(a.position, static_cast<int64_t>(ids.size()));
  for (size_t l = 0; l < a.layers.size(); ++l) {
    const auto& want = fs["layers"][l];
    EXPECT_LE(max_err(a.layers[l].conv.data(), want["conv_state"]), 1e-4) << "layer " << l;
    EXPECT_LE(max_err(a.layers[l].ssm.data(), want["ssm_state"]), 1e-4) << "layer " << l;
    for (size_t i = 0; i < a.layers[l].ssm.size(); ++i) {
      ASSERT_NEAR(a.layers[l].ssm[i], b.layers[l].ssm[i], 1e-5);
      ASSERT_NEAR(a.layers[l].ssm[i], c.layers[l].ssm[i], 1e-5);
    }
    for (size_t i = 0; i < a.layers[l].conv.size(); ++i) {
      ASSERT_NEAR(a.layers[l].conv[i], b.layers[l].conv[i], 1e-5);
      ASSERT_NEAR(a.layers[l].conv[i], c.layers[l].conv[i], 1e-5);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllCases, GoldenTest,
                         ::testing::Combine(::testing::Values("mamba1-hf", "mamba1-ss", "mamba2-hf", "mamba2-ss"),
                                            ::testing::ValuesIn(sm::test::simd_target_bits())),
                         [](const auto& info) {
                           std::string n = std::get<0>(info.param);
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n + "_" + sm::test::simd_target_label(std::get<1>(info.param));
                         });

}  // namespace
