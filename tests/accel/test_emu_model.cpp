// SPDX-License-Identifier: Apache-2.0
// Quantized models on the emu backend (core/device/bind.h + accel/emu): the
// shipped pair quantized with every preset gives the same logits, bit for
// bit, and the same tokens as on the CPU backend, plain or speculative, for
// every tree shape, verification order, tile and backtracking policy; the
// ops really ran on the device; fp32 models and layers the accelerator
// cannot run are refused with an error naming them, the model staying usable.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "accel/backends.h"
#include "accel/emu/emu_device.h"
#include "core/io/default_paths.h"
#include "core/io/error.h"
#include "core/kernels/simd.h"
#include "core/model/generator.h"
#include "core/model/mamba_model.h"
#include "core/quant/quantize_model.h"
#include "core/spec/spec_decoder.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/core/error_of.h"
#include "tests/core/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using sm::quant::QuantConfig;
using sm_test::error_of;

// The accelerator's conv fuses each multiply-add (one rounding), as the CPU
// kernels do on AVX2 / AVX-512; on SSE4 and scalar they round twice, so the
// two backends agree only where the CPU target has FMA (docs/accelerator-model.md).
bool cpu_conv_fuses() {
  sm::simd::init_from_env();  // SPECMAMBA_SIMD caps the target before the first model loads
  return sm::simd::target_name().rfind("AVX", 0) == 0;
}

#define SKIP_UNLESS_COMPARABLE()                                                                  \
  do {                                                                                            \
    if (!shipped()) GTEST_SKIP() << "shipped models not present";                                 \
    if (!cpu_conv_fuses()) GTEST_SKIP() << "CPU target " << sm::simd::target_name() << " has no FMA conv"; \
  } while (0)

bool shipped() {
  return fs::exists(fs::path(sm::default_target_model()) / "config.json") &&
         fs::exists(fs::path(sm::default_draft_model()) / "config.json");
}

QuantConfig preset(const std::string& name, bool rotation) {
  QuantConfig q = QuantConfig::preset(name, rotation);
  if (q.linear_weights.quantized()) q.linear_weights.group = q.lm_head_weights.group = 64;
  return q;
}

std::vector<float> all_logits(sm::MambaModel& m, const std::vector<int32_t>& ids) {
  auto st = m.new_state();
  std::vector<float> out(ids.size() * size_t(m.vocab_size()));
  m.forward(ids, st, out.data(), sm::MambaModel::Logits::All);
  return out;
}

const std::vector<int32_t> kIds = {65, 110, 100, 32, 71, 111, 100, 32, 115, 97, 105, 100, 44, 32, 76};

TEST(EmuModel, EveryPresetGivesTheCpuBackendsLogitsBitForBit) {
  SKIP_UNLESS_COMPARABLE();
  sm_test::TempDir dir;
  for (const auto& [name, rot] : std::vector<std::pair<std::string, bool>>{
           {"w8a8", true}, {"w4a8", false}, {"w4a4", true}, {"w4a4", false}}) {
    const std::string q = dir.file(name + (rot ? "r" : ""));
    sm::quant::quantize_model(sm::default_target_model(), q, preset(name, rot));
    auto cpu = sm::MambaModel::load(q);
    auto emu = sm::MambaModel::load(q);
    auto dev = std::make_shared<sm::accel::EmuDevice>();
    const sm::device::BindReport rep = emu->use_device(dev);
    EXPECT_EQ(rep.linear, 2 * emu->config().n_layer + 1) << rep.summary();  // in/out_proj per layer + head
    EXPECT_EQ(rep.ssm, emu->config().n_layer);
    const auto a = all_logits(*cpu, kIds), b = all_logits(*emu, kIds);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << name << (rot ? " rot" : "");
    // Prefill (one call of 15 rows) and decode steps on the device agree too.
    auto st = emu->new_state();
    std::vector<float> one(size_t(emu->vocab_size()));
    for (size_t i = 0; i < kIds.size(); ++i) {
      emu->decode(kIds[i], st, one.data());
      EXPECT_EQ(std::memcmp(one.data(), b.data() + i * one.size(), one.size() * sizeof(float)), 0) << "row " << i;
    }
    const sm::device::OpCounts n = dev->counts();
    EXPECT_GT(n.linear_calls, 0);
    EXPECT_EQ(n.ssm_tokens, 2 * int64_t(kIds.size()) * emu->config().n_layer);
    EXPECT_GT(n.conv_rows, 0);
  }
}

TEST(EmuModel, SpeculativeDecodingOnEmuIsTheCpuTargetsOwnOutput) {
  SKIP_UNLESS_COMPARABLE();
  sm_test::TempDir dir;
  const std::string t = dir.file("t"), d = dir.file("d");
  sm::quant::quantize_model(sm::default_target_model(), t, preset("w4a4", true));
  sm::quant::quantize_model(sm::default_draft_model(), d, preset("w4a4", true));
  auto cpu = sm::MambaModel::load(t);
  auto tok = sm::load_tokenizer_for_model(t);
  const auto prompt = tok->encode("And God said");
  sm::GenerateOptions o;
  o.max_tokens = 20;
  o.stop_at_eos = false;
  const auto want = sm::generate(*cpu, *tok, prompt, o).ids;
  const sm::accel::OpenedDevice dev = sm::accel::open_device({"emu", "", 0});
  auto target = sm::MambaModel::load(t);
  auto draft = sm::MambaModel::load(d);
  target->use_device(dev.device);
  draft->use_device(dev.device);  // one device holds both models' layers
  EXPECT_EQ(sm::generate(*target, *tok, prompt, o).ids, want);
  for (const char* shape : {"1,1,1,1", "2,2,1", "4,2"})
    for (auto order : {sm::VerifyOrder::Fifo, sm::VerifyOrder::Dfs})
      for (auto pol : {sm::BacktrackPolicy::Snapshot, sm::BacktrackPolicy::Replay}) {
        sm::SpecConfig cfg;
        cfg.tree = sm::TreeShape::parse(shape);
        cfg.verify = order;
        cfg.backtrack = pol;
        cfg.tile = 5;
        auto r = sm::spec_generate(*target, *draft, *tok, prompt, o, cfg);
        EXPECT_EQ(r.gen.ids, want) << shape << " " << sm::backtrack_policy_name(pol);
      }
  // FIFO verification ran as the device's tree kernel, dfs as per-node scans.
  const sm::device::OpCounts n = dev.device->counts();
  EXPECT_GT(n.tree_calls, 0);
  EXPECT_GT(n.ssm_calls, 0);
}

TEST(EmuModel, SampledOutputMatchesTheCpuBackendForTheSameSeed) {
  SKIP_UNLESS_COMPARABLE();
  sm_test::TempDir dir;
  const std::string t = dir.file("t");
  sm::quant::quantize_model(sm::default_target_model(), t, preset("w8a8", true));
  auto cpu = sm::MambaModel::load(t);
  auto emu = sm::MambaModel::load(t);
  emu->use_device(std::make_shared<sm::accel::EmuDevice>());
  auto tok = sm::load_tokenizer_for_model(t);
  sm::GenerateOptions o;
  o.max_tokens = 40;
  o.stop_at_eos = false;
  o.sampling = {0.9f, 0, 0.95f, 1234};
  const auto prompt = tok->encode("In the beginning");
  EXPECT_EQ(sm::generate(*emu, *tok, prompt, o).ids, sm::generate(*cpu, *tok, prompt, o).ids);
}

TEST(EmuModel, Fp32ModelIsRefusedWithTheQuantizeHintAndStaysOnTheCpu) {
  if (!shipped()) GTEST_SKIP() << "shipped models not present";
  auto m = sm::MambaModel::load(sm::default_target_model());
  const std::string e = error_of([&] { m->use_device(std::make_shared<sm::accel::EmuDevice>()); });
  EXPECT_NE(e.find("specmamba quantize"), std::string::npos) << e;
  EXPECT_EQ(m->device(), nullptr);
  auto st = m->new_state();
  std::vector<float> lg(size_t(m->vocab_size()));
  m->decode(65, st, lg.data());  // still runs
}

TEST(EmuModel, FloatScaleLayerIsRefusedNamingItAndNothingStaysBound) {
  if (!shipped()) GTEST_SKIP() << "shipped models not present";
  sm_test::TempDir dir;
  const std::string t = dir.file("t");
  QuantConfig q = preset("w8a8", false);
  q.linear_weights.scale = sm::quant::ScaleFormat::Float;
  q.linear_weights.exponent_bits = 0;
  sm::quant::quantize_model(sm::default_target_model(), t, q);
  auto m = sm::MambaModel::load(t);
  auto ref = sm::MambaModel::load(t);
  const std::string e = error_of([&] { m->use_device(std::make_shared<sm::accel::EmuDevice>()); });
  EXPECT_NE(e.find("layers.0.in_proj"), std::string::npos) << e;
  EXPECT_EQ(m->device(), nullptr);
  EXPECT_EQ(all_logits(*m, kIds), all_logits(*ref, kIds));  // back on the CPU kernels, unchanged
}

TEST(EmuModel, BindingTwiceIsAnError) {
  if (!shipped()) GTEST_SKIP() << "shipped models not present";
  sm_test::TempDir dir;
  const std::string t = dir.file("t");
  sm::quant::quantize_model(sm::default_target_model(), t, preset("w8a8", false));
  auto m = sm::MambaModel::load(t);
  m->use_device(std::make_shared<sm::accel::EmuDevice>());
  EXPECT_NE(error_of([&] { m->use_device(std::make_shared<sm::accel::EmuDevice>()); }).find("already bound"),
            std::string::npos);
}

TEST(Backends, XrtWithoutABoardFallsBackToEmuSayingWhy) {
  const sm::accel::OpenedDevice d = sm::accel::open_device({"xrt", "", 0});
  if (d.backend == "xrt") GTEST_SKIP() << "a board is attached";
  EXPECT_EQ(d.backend, "emu");
  ASSERT_NE(d.device, nullptr);
  EXPECT_EQ(d.device->name(), "emu");
  EXPECT_NE(d.fallback.find("xrt: "), std::string::npos) << d.fallback;
  EXPECT_NE(d.fallback.find("running on emu"), std::string::npos) << d.fallback;
}

TEST(Backends, NamesAndErrors) {
  EXPECT_EQ(sm::accel::open_device({"cpu", "", 0}).device, nullptr);
  EXPECT_NE(error_of([] { sm::accel::open_device({"gpu", "", 0}); }).find("unknown backend 'gpu'"), std::string::npos);
  sm_test::TempDir dir;
  // A bad xclbin the user named is an error even without a board.
  EXPECT_NE(error_of([&] { sm::accel::open_device({"xrt", dir.file("missing.xclbin"), 0}); }).find("missing.xclbin"),
            std::string::npos);
}

}  // namespace
