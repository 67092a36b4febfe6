// SPDX-License-Identifier: Apache-2.0
// The shipped draft/target pair: the C++ engine reproduces the training
// tool's held-out bits per byte, and the pair agrees well enough for
// speculative decoding to pay off.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/spec/agreement.h"
#include "core/io/default_paths.h"
#include "core/model/evaluator.h"
#include "core/model/mamba_model.h"
#include "core/tokenizer/tokenizer.h"

namespace {

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(ShippedModels, EvalMatchesTrainingToolHeldOutBitsPerByte) {
  for (const std::string& dir : {sm::default_target_model(), sm::default_draft_model()}) {
    auto cfg = nlohmann::json::parse(slurp(dir + "/config.json"));
    ASSERT_TRUE(cfg.contains("training")) << dir;
    ASSERT_TRUE(cfg["training"]["heldout_bpb"].is_number()) << dir << ": no full held-out bpb recorded";
    const double want = cfg["training"]["heldout_bpb"];
    auto m = sm::MambaModel::load(dir);
    m->set_threads(2);
    auto tok = sm::load_tokenizer_for_model(dir);
    const std::string text = slurp(sm::data_dir() + "/kjv-heldout.txt");
    ASSERT_GT(text.size(), 100000u);
    sm::EvalResult r = sm::evaluate(*m, *tok, text);
    EXPECT_EQ(r.tokens, static_cast<int64_t>(text.size()) - 1);
    EXPECT_NEAR(r.bpb, want, 0.01 * want) << dir;
  }
}

TEST(ShippedModels, DraftIsTenTimesCheaperAndSharesTheVocabulary) {
  auto t = sm::MambaModel::load(sm::default_target_model());
  auto d = sm::MambaModel::load(sm::default_draft_model());
  sm::check_same_vocabulary(*t, *d);
  EXPECT_GE(t->weights().parameter_count, 10 * d->weights().parameter_count);
}

TEST(ShippedModels, GreedyChainOfFourAcceptsAtLeastTwoAndAHalfTokens) {
  auto t = sm::MambaModel::load(sm::default_target_model());
  auto d = sm::MambaModel::load(sm::default_draft_model());
  auto tok = sm::make_byte_tokenizer();
  const auto ids = tok->encode(slurp(sm::data_dir() + "/kjv-heldout.txt"));
  sm::AgreementResult r = sm::measure_agreement(*t, *d, ids, 4, 16, 4000);
  EXPECT_EQ(r.positions, 4000);
  EXPECT_GE(r.mean_accepted(4), 2.5);
}

}  // namespace
