// SPDX-License-Identifier: Apache-2.0
// Quantized checkpoints end to end: quantize_model writes them, every path
// loads them, speculative decoding stays lossless on them, and files that lie
// about their shapes, bits or scales are rejected naming the tensor.
#include <gtest/gtest.h>

#include "tests/core/error_of.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/io/default_paths.h"
#include "core/io/error.h"
#include "core/io/safetensors.h"
#include "core/model/generator.h"
#include "core/model/mamba_model.h"
#include "core/model/random_model.h"
#include "core/quant/quantize_model.h"
#include "core/spec/spec_decoder.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/core/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using sm::quant::QuantConfig;

bool shipped() {
  return fs::exists(fs::path(sm::default_target_model()) / "config.json") &&
         fs::exists(fs::path(sm::default_draft_model()) / "config.json");
}

QuantConfig preset(const std::string& name, bool rotation, int64_t group = 64) {
  QuantConfig q = QuantConfig::preset(name, rotation);
  if (q.linear_weights.quantized()) q.linear_weights.group = q.lm_head_weights.group = int(group);
  return q;
}

using sm_test::error_of;

std::vector<float> all_logits(sm::MambaModel& m, const std::vector<int32_t>& ids) {
  auto st = m.new_state();
  std::vector<float> out(ids.size() * size_t(m.vocab_size()));
  m.forward(ids, st, out.data(), sm::MambaModel::Logits::All);
  return out;
}

TEST(QuantizedModel, ShippedPairGreedySpeculativeOutputIsTheQuantizedTargetsOwn) {
  if (!shipped()) GTEST_SKIP() << "shipped models not present";
  sm_test::TempDir dir;
  const std::string t = dir.file("t"), d = dir.file("d");
  sm::quant::quantize_model(sm::default_target_model(), t, preset("w4a4", true));
  sm::quant::quantize_model(sm::default_draft_model(), d, preset("w4a4", true));
  auto target = sm::MambaModel::load(t);
  auto draft = sm::MambaModel::load(d);
  EXPECT_TRUE(target->weights().quant.pot_ssm);
  auto tok = sm::load_tokenizer_for_model(t);
  const auto prompt = tok->encode("And God said");
  sm::GenerateOptions o;
  o.max_tokens = 24;
  o.stop_at_eos = false;
  const auto want = sm::generate(*target, *tok, prompt, o).ids;
  for (const char* shape : {"1,1,1,1", "2,2,1"})
    for (auto pol : {sm::BacktrackPolicy::Snapshot, sm::BacktrackPolicy::Replay}) {
      sm::SpecConfig cfg;
      cfg.tree = sm::TreeShape::parse(shape);
      cfg.backtrack = pol;
      cfg.tile = 5;  // head tiles of the integer SSM must not change a bit
      auto r = sm::spec_generate(*target, *draft, *tok, prompt, o, cfg);
      EXPECT_EQ(r.gen.ids, want) << shape << " " << sm::backtrack_policy_name(pol);
    }
}

TEST(QuantizedModel, PrefillRowsEqualDecodeStepsBitForBit) {
  if (!shipped()) GTEST_SKIP() << "shipped models not present";
  sm_test::TempDir dir;
  const std::string t = dir.file("t");
  sm::quant::quantize_model(sm::default_target_model(), t, preset("w8a8", true));
  auto m = sm::MambaModel::load(t);
  const std::vector<int32_t> ids = {65, 110, 100, 32, 71, 111, 100, 32, 115, 97, 105, 100};
  const auto batch = all_logits(*m, ids);
  auto st = m->new_state();
  std::vector<float> one(size_t(m->vocab_size()));
  for (size_t i = 0; i < ids.size(); ++i) {
    m->decode(ids[i], st, one.data());
    EXPECT_EQ(std::memcmp(one.data(), batch.data() + i * one.size(), one.size() * sizeof(float)), 0) << "row " << i;
  }
}

TEST(QuantizedModel, RotatedFp32CheckpointKeepsTheLogits) {
  if (!shipped()) GTEST_SKIP() << "shipped models not present";
  sm_test::TempDir dir;
  const std::string r = dir.file("r");
  const auto rep = sm::quant::quantize_model(sm::default_target_model(), r, QuantConfig::preset("fp32", true));
  EXPECT_TRUE(rep.quantized.empty());
  auto a = sm::MambaModel::load(sm::default_target_model());
  auto b = sm::MambaModel::load(r);
  EXPECT_FALSE(b->config().tie_embeddings);
  const std::vector<int32_t> ids = {73, 110, 32, 116, 104, 101, 32, 98, 101, 103};
  const auto la = all_logits(*a, ids), lb = all_logits(*b, ids);
  float worst = 0;
  for (size_t i = 0; i < la.size(); ++i) worst = std::max(worst, std::abs(la[i] - lb[i]));
  EXPECT_LT(worst, 1e-4f);
}

TEST(QuantizedModel, QuantizedLogitsStayCloseToFp32) {
  if (!shipped()) GTEST_SKIP() << "shipped models not present";
  sm_test::TempDir dir;
  auto ref = sm::MambaModel::load(sm::default_target_model());
  const std::vector<int32_t> ids = {73, 110, 32, 116, 104, 101, 32, 98, 101, 103, 105, 110};
  const auto lr = all_logits(*ref, ids);
  double prev = 0;
  for (const char* p : {"w8a8", "w4a4"}) {
    const std::string q = dir.file(p);
    sm::quant::quantize_model(sm::default_target_model(), q, preset(p, true));
    auto m = sm::MambaModel::load(q);
    const auto lq = all_logits(*m, ids);
    double num = 0, den = 0;
    for (size_t i = 0; i < lr.size(); ++i) num += (lq[i] - lr[i]) * (lq[i] - lr[i]), den += lr[i] * lr[i];
    const double rel = std::sqrt(num / den);
    EXPECT_GT(rel, 0.0) << p;  // it is quantized
    EXPECT_LT(rel, 0.25) << p;
    EXPECT_GT(rel, prev) << p << " must be further from fp32 than the wider preset";
    prev = rel;
  }
}

TEST(QuantizedModel, Mamba1RandomModelQuantizesWithItsSsmInFp32) {
  sm_test::TempDir dir;
  sm::RandomModelSpec spec = sm::random_model_preset("tiny-mamba1");
  const std::string src = dir.file("src"), q = dir.file("q");
  sm::write_random_model(src, spec);
  const auto rep = sm::quant::quantize_model(src, q, preset("w8a8", true, 8));
  EXPECT_FALSE(rep.config.pot_ssm);
  ASSERT_EQ(rep.notes.size(), 1u);
  EXPECT_NE(rep.notes[0].find("Mamba-2"), std::string::npos);
  auto m = sm::MambaModel::load(q);
  EXPECT_TRUE(m->weights().packed[0].in_proj.is_quantized());
  const auto l = all_logits(*m, {1, 2, 3, 4});
  for (float v : l) ASSERT_TRUE(std::isfinite(v));
}

// dt_proj's input (dt_rank) is narrower than the weight group: it gets one
// group per row when the activation group divides it, else it stays fp32 as
// before (and such files, like those written before row-wide groups, load).
TEST(QuantizedModel, Mamba1DtProjGetsOneGroupPerRowOrStaysFp32) {
  sm_test::TempDir dir;
  sm::RandomModelSpec spec = sm::random_model_preset("tiny-mamba1");
  spec.d_model = 128;  // dt_rank 8: below group 64, a multiple of the activation group 8
  const std::string src = dir.file("src"), q = dir.file("q");
  sm::write_random_model(src, spec);
  const auto rep = sm::quant::quantize_model(src, q, preset("w8a8", false, 64));
  EXPECT_TRUE(rep.kept_fp32.empty());
  auto m = sm::MambaModel::load(q);
  ASSERT_EQ(m->config().dt_rank, 8);
  const sm::LinearOp& dt = m->weights().packed[0].dt_proj;
  ASSERT_TRUE(dt.is_quantized());
  EXPECT_EQ(dt.quantized_weights()->group(), 8);
  EXPECT_TRUE(dt.quantized_weights()->fast());
  auto f = sm::MambaModel::load(src);
  const std::vector<int32_t> ids = {1, 2, 3, 4, 5, 6};
  const auto lq = all_logits(*m, ids), lf = all_logits(*f, ids);
  double num = 0, den = 0;
  for (size_t i = 0; i < lq.size(); ++i) num += (lq[i] - lf[i]) * double(lq[i] - lf[i]), den += lf[i] * double(lf[i]);
  EXPECT_LT(std::sqrt(num / den), 0.05);

  spec.d_model = 64;  // dt_rank 4: the activation group 8 does not divide it
  const std::string src4 = dir.file("src4"), q4 = dir.file("q4");
  sm::write_random_model(src4, spec);
  const auto rep4 = sm::quant::quantize_model(src4, q4, preset("w8a8", false, 64));
  ASSERT_EQ(rep4.kept_fp32.size(), 2u);
  EXPECT_NE(rep4.kept_fp32[0].find("dt_proj"), std::string::npos);
  auto m4 = sm::MambaModel::load(q4);
  EXPECT_FALSE(m4->weights().packed[0].dt_proj.is_quantized());
  EXPECT_TRUE(m4->weights().packed[0].x_proj.is_quantized());
}

TEST(QuantizedModel, QuantizeRefusesWhatItCannotDo) {
  if (!shipped()) GTEST_SKIP() << "shipped models not present";
  sm_test::TempDir dir;
  const std::string out = dir.file("o");
  EXPECT_NE(error_of([&] { sm::quant::quantize_model(sm::default_target_model(), out, preset("w4a4", true, 128)); })
                .find("does not divide d_model 192"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(sm::quant::default_weight_group(sm::default_target_model()), 64);
  sm::quant::quantize_model(sm::default_target_model(), out, preset("w8a8", false));
  EXPECT_NE(error_of([&] { sm::quant::quantize_model(sm::default_target_model(), out, preset("w8a8", false)); })
                .find("already exists"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              sm::quant::quantize_model(out, dir.file("twice"), preset("w8a8", false));
            }).find("already quantized"),
            std::string::npos);
  // Nothing half-written is left beside the destination.
  for (const auto& e : fs::directory_iterator(dir.str()))
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();
}

// A quantized checkpoint rewritten with one tensor or the metadata changed.
class LyingFile : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!shipped()) GTEST_SKIP() << "shipped models not present";
    src_ = dir_.file("q");
    sm::quant::quantize_model(sm::default_target_model(), src_, preset("w4a4", true));
  }
  // Copies the checkpoint, letting `edit` change tensors and metadata, and
  // returns the load error.
  std::string load_edited(const std::function<void(std::vector<sm::TensorToWrite>&, std::map<std::string, std::string>&)>& edit) {
    const std::string out = dir_.file("e" + std::to_string(n_++));
    fs::create_directories(out);
    fs::copy_file(fs::path(src_) / "config.json", fs::path(out) / "config.json");
    auto f = sm::SafeTensorsFile::open((fs::path(src_) / "model.safetensors").string());
    std::vector<sm::TensorToWrite> ts;
    for (const auto& t : f->tensors()) {
      sm::TensorToWrite w{t.name, t.dtype_str, t.shape, std::vector<std::byte>(t.nbytes)};
      std::memcpy(w.bytes.data(), t.data, t.nbytes);
      ts.push_back(std::move(w));
    }
    auto meta = f->metadata();
    edit(ts, meta);
    sm::write_safetensors((fs::path(out) / "model.safetensors").string(), ts, meta);
    return error_of([&] { sm::MambaModel::load(out); });
  }
  sm::TensorToWrite* find(std::vector<sm::TensorToWrite>& ts, const std::string& name) {
    for (auto& t : ts)
      if (t.name == name) return &t;
    return nullptr;
  }
  sm_test::TempDir dir_;
  std::string src_;
  int n_ = 0;
};

TEST_F(LyingFile, UnchangedCopyLoads) {
  EXPECT_EQ(load_edited([](auto&, auto&) {}), "(no error)");
}

TEST_F(LyingFile, CodesOfTheWrongShapeAreNamed) {
  const std::string e = load_edited([&](auto& ts, auto&) {
    auto* t = find(ts, "backbone.layers.1.mixer.in_proj.weight.qcodes");
    t->shape[1] /= 2;
    t->bytes.resize(t->bytes.size() / 2);
  });
  EXPECT_NE(e.find("backbone.layers.1.mixer.in_proj.weight.qcodes"), std::string::npos) << e;
  EXPECT_NE(e.find("shape"), std::string::npos) << e;
}

TEST_F(LyingFile, BitsThatDisagreeWithTheCodesAreNamed) {
  // The metadata claims 8-bit weights; the file holds 4-bit nibbles.
  const std::string e = load_edited([&](auto&, auto& meta) {
    auto j = nlohmann::json::parse(meta.at("quantization"));
    j["linear_weights"]["bits"] = 8;
    meta["quantization"] = j.dump();
  });
  EXPECT_NE(e.find(".qcodes"), std::string::npos) << e;
}

TEST_F(LyingFile, GroupsThatDisagreeWithTheScalesAreNamed) {
  const std::string e = load_edited([&](auto&, auto& meta) {
    auto j = nlohmann::json::parse(meta.at("quantization"));
    j["linear_weights"]["group"] = 32;
    meta["quantization"] = j.dump();
  });
  EXPECT_NE(e.find(".qs1"), std::string::npos) << e;
}

TEST_F(LyingFile, ScaleGapOutsideTheConfigIsNamed) {
  const std::string e = load_edited([&](auto& ts, auto&) {
    auto* s2 = find(ts, "backbone.layers.0.mixer.out_proj.weight.qs2");
    int16_t v = -100;
    std::memcpy(s2->bytes.data(), &v, 2);
  });
  EXPECT_NE(e.find("backbone.layers.0.mixer.out_proj.weight.qs1"), std::string::npos) << e;
  EXPECT_NE(e.find("gap"), std::string::npos) << e;
}

TEST_F(LyingFile, MissingScalesAndBadMetadataAreNamed) {
  std::string e = load_edited([&](auto& ts, auto&) {
    std::erase_if(ts, [](const auto& t) { return t.name == "lm_head.weight.qs2"; });
  });
  EXPECT_NE(e.find("lm_head.weight.qs2"), std::string::npos) << e;
  e = load_edited([&](auto&, auto& meta) { meta["quantization"] = "{\"format\": \"nope\"}"; });
  EXPECT_NE(e.find("quantization"), std::string::npos) << e;
}

}  // namespace
