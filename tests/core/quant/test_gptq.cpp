// SPDX-License-Identifier: Apache-2.0
// Calibrated weight quantization (core/quant/gptq.h): GPTQ lowers the output
// error on correlated inputs against plain rounding, equals plain rounding
// bit for bit when H is a multiple of the identity, yields a QuantizedMatrix
// the integer kernel runs, is deterministic; the calibration text and the
// "calibration" key of the quantization config; quantize_model end to end.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "core/io/default_paths.h"
#include "core/io/error.h"
#include "core/model/mamba_model.h"
#include "core/quant/gptq.h"
#include "core/quant/quant_config.h"
#include "core/quant/quantize_model.h"
#include "core/quant/quantizers.h"
#include "tests/core/error_of.h"
#include "tests/core/temp_dir.h"

namespace {

namespace q = sm::quant;
namespace fs = std::filesystem;
using q::QuantizedMatrix;
using q::ScaleKind;
using sm_test::error_of;

// Inputs with strongly correlated channels: X = Z A (+ a per-channel scale
// spread), Z standard normal. Rows x n.
std::vector<float> correlated_inputs(int64_t T, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t k = n / 4;  // low-rank core: channels share k factors
  std::vector<float> A(static_cast<size_t>(k * n)), Z(static_cast<size_t>(T * k)), X(static_cast<size_t>(T * n));
  for (float& v : A) v = nd(rng);
  for (float& v : Z) v = nd(rng);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.1 * nd(rng);  // a little independent noise keeps H full rank
      for (int64_t i = 0; i < k; ++i) s += double(Z[t * k + i]) * A[i * n + j];
      X[t * n + j] = static_cast<float>(s * (1.0 + 0.5 * std::sin(double(j))));
    }
  return X;
}

std::vector<float> random_weights(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::vector<float> W(static_cast<size_t>(rows * cols));
  for (float& v : W) v = nd(rng);
  return W;
}

// ||X W^T - X deq(Q)^T||_F, in double.
double output_error(const std::vector<float>& X, int64_t T, const std::vector<float>& W, const QuantizedMatrix& Q) {
  const std::vector<float> D = q::dequantize(Q);
  const int64_t n = Q.cols;
  double e = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t r = 0; r < Q.rows; ++r) {
      double s = 0;
      for (int64_t j = 0; j < n; ++j) s += double(X[t * n + j]) * (double(W[r * n + j]) - double(D[r * n + j]));
      e += s * s;
    }
  return std::sqrt(e);
}

std::vector<double> hessian_of(const std::vector<float>& X, int64_t T, int64_t n) {
  q::HessianAccumulator acc(n);
  acc.add(X.data(), T / 2, n);  // in two batches: accumulation across calls
  acc.add(X.data() + (T / 2) * n, T - T / 2, n);
  EXPECT_EQ(acc.rows(), T);
  return acc.hessian();
}

bool same(const QuantizedMatrix& a, const QuantizedMatrix& b) {
  return a.rows == b.rows && a.cols == b.cols && a.bits == b.bits && a.group == b.group && a.kind == b.kind &&
         a.codes == b.codes && a.scales == b.scales && a.s1 == b.s1 && a.s2 == b.s2;
}

TEST(Gptq, HessianIsTwiceXtX) {
  const int64_t T = 37, n = 11;
  const std::vector<float> X = correlated_inputs(T, n, 5);
  const std::vector<double> H = hessian_of(X, T, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t t = 0; t < T; ++t) s += double(X[t * n + i]) * X[t * n + j];
      EXPECT_NEAR(H[i * n + j], 2 * s, 1e-9 * (1 + std::abs(s))) << i << "," << j;
      EXPECT_EQ(H[i * n + j], H[j * n + i]);
    }
}

struct Case {
  int bits;
  int64_t group;
  ScaleKind kind;
};

class GptqCases : public ::testing::TestWithParam<Case> {};

TEST_P(GptqCases, LowerOutputErrorThanPlainRounding) {
  const Case c = GetParam();
  const int64_t T = 2048, n = 128, rows = 48;
  const std::vector<float> X = correlated_inputs(T, n, 11);
  const std::vector<float> W = random_weights(rows, n, 12);
  const std::vector<double> H = hessian_of(X, T, n);
  const QuantizedMatrix plain = q::quantize_weights(W.data(), rows, n, c.bits, c.group, c.kind);
  q::GptqOptions o;
  o.bits = c.bits;
  o.group = c.group;
  o.kind = c.kind;
  o.block = 32;
  const QuantizedMatrix g = q::gptq_quantize(W.data(), rows, n, H, o);
  const double ep = output_error(X, T, W, plain), eg = output_error(X, T, W, g);
  EXPECT_LT(eg, 0.8 * ep) << "gptq " << eg << " vs plain " << ep;
}

TEST_P(GptqCases, IdentityHessianEqualsPlainRounding) {
  const Case c = GetParam();
  const int64_t n = 64, rows = 9;
  const std::vector<float> W = random_weights(rows, n, 3);
  for (double scale : {1.0, 3.75, 1e-3}) {
    std::vector<double> H(static_cast<size_t>(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i) H[i * n + i] = scale;
    q::GptqOptions o;
    o.bits = c.bits;
    o.group = c.group;
    o.kind = c.kind;
    for (int64_t block : {int64_t(1), int64_t(16), int64_t(128)}) {
      o.block = block;
      const QuantizedMatrix g = q::gptq_quantize(W.data(), rows, n, H, o);
      const QuantizedMatrix p = q::quantize_weights(W.data(), rows, n, c.bits, c.group, c.kind);
      EXPECT_TRUE(same(g, p)) << "scale " << scale << " block " << block;
    }
  }
}

TEST_P(GptqCases, ValidForTheIntegerKernelAndDeterministic) {
  const Case c = GetParam();
  const int64_t T = 512, n = 64, rows = 24;
  const std::vector<float> X = correlated_inputs(T, n, 21);
  const std::vector<float> W = random_weights(rows, n, 22);
  const std::vector<double> H = hessian_of(X, T, n);
  q::GptqOptions o;
  o.bits = c.bits;
  o.group = c.group;
  o.kind = c.kind;
  const QuantizedMatrix a = q::gptq_quantize(W.data(), rows, n, H, o);
  const QuantizedMatrix b = q::gptq_quantize(W.data(), rows, n, H, o);
  EXPECT_TRUE(same(a, b));
  // Layout of an ordinary QuantizedMatrix.
  EXPECT_EQ(int64_t(a.codes.size()), rows * a.row_bytes());
  const int64_t ng = a.groups_per_row();
  if (c.kind == ScaleKind::Pow2Sum) {
    ASSERT_EQ(int64_t(a.s1.size()), rows * ng);
    for (size_t i = 0; i < a.s1.size(); ++i) {
      EXPECT_GE(a.s1[i] - a.s2[i], 1);
      EXPECT_LE(a.s1[i] - a.s2[i], q::kPow2SumMaxGap);
    }
  } else {
    ASSERT_EQ(int64_t(a.scales.size()), rows * ng);
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t col = 0; col < n; ++col) EXPECT_LE(std::abs(a.code(r, col)), q::qmax(c.bits));
  // The reference integer kernel runs it and agrees with the float product of
  // the dequantized operands.
  const int64_t Tq = 16;
  const q::QuantizedActivations xa = q::quantize_activations(X.data(), Tq, n, 8, 8);
  const std::vector<float> y = q::linear_int(xa, a);
  const std::vector<float> xd = q::dequantize(xa), wd = q::dequantize(a);
  ASSERT_EQ(int64_t(y.size()), Tq * rows);
  for (int64_t t = 0; t < Tq; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0, m = 0;
      for (int64_t j = 0; j < n; ++j) s += double(xd[t * n + j]) * wd[r * n + j], m += std::abs(xd[t * n + j] * wd[r * n + j]);
      EXPECT_NEAR(y[t * rows + r], s, 1e-5 * (1 + m));
    }
}

INSTANTIATE_TEST_SUITE_P(Kinds, GptqCases,
                         ::testing::Values(Case{4, 32, ScaleKind::Pow2Sum}, Case{4, 64, ScaleKind::Pow2Sum},
                                           Case{8, 32, ScaleKind::Pow2Sum}, Case{4, 16, ScaleKind::Float}));

TEST(Gptq, DeadInputsAndSingularHessian) {
  // A channel that never sees input, and a rank-deficient H: damping and the
  // dead-column rule keep it well defined; the dead channel rounds plainly.
  const int64_t T = 8, n = 32, rows = 4;  // T < n: X^T X is singular
  std::vector<float> X = correlated_inputs(T, n, 7);
  for (int64_t t = 0; t < T; ++t) X[t * n + 5] = 0.0f;
  const std::vector<float> W = random_weights(rows, n, 8);
  const std::vector<double> H = hessian_of(X, T, n);
  q::GptqOptions o;
  o.group = 32;
  q::GptqStats st;
  const QuantizedMatrix g = q::gptq_quantize(W.data(), rows, n, H, o, &st);
  EXPECT_EQ(st.dead_columns, 1);
  EXPECT_GT(st.damp_used, 0.0);
  EXPECT_EQ(int64_t(g.codes.size()), rows * g.row_bytes());
}

TEST(Gptq, RejectsBadInput) {
  const int64_t n = 16;
  const std::vector<float> W = random_weights(2, n, 1);
  std::vector<double> H(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) H[i * n + i] = 1;
  q::GptqOptions o;
  o.group = 5;
  EXPECT_NE(error_of([&] { q::gptq_quantize(W.data(), 2, n, H, o); }).find("does not divide"), std::string::npos);
  o.group = 8;
  o.bits = 3;
  EXPECT_NE(error_of([&] { q::gptq_quantize(W.data(), 2, n, H, o); }).find("bits"), std::string::npos);
  o.bits = 4;
  std::vector<double> small(10);
  EXPECT_NE(error_of([&] { q::gptq_quantize(W.data(), 2, n, small, o); }).find("Hessian"), std::string::npos);
  H[3] = std::nan("");
  EXPECT_NE(error_of([&] { q::gptq_quantize(W.data(), 2, n, H, o); }).find("non-finite"), std::string::npos);
  q::HessianAccumulator acc(4);
  const float bad[4] = {1, 2, INFINITY, 0};
  EXPECT_NE(error_of([&] { acc.add(bad, 1, 4); }).find("non-finite"), std::string::npos);
}

TEST(Gptq, ActivationAwareTargetIsTheLeastSquaresFit) {
  // With Y = X (no activation error) the target is W (up to the damping).
  const int64_t T = 1024, n = 32, rows = 5;
  const std::vector<float> X = correlated_inputs(T, n, 31);
  const std::vector<float> W = random_weights(rows, n, 32);
  q::CrossAccumulator c(n);
  c.add(X.data(), X.data(), T, n);
  const std::vector<double> H = hessian_of(X, T, n);
  const std::vector<float> Wt = q::activation_aware_target(W.data(), rows, n, c.moment(), H, 0.0);
  for (size_t i = 0; i < W.size(); ++i) EXPECT_NEAR(Wt[i], W[i], 1e-4);
}

TEST(Gptq, CalibrationText) {
  sm_test::TempDir tmp;
  const std::string missing = tmp.file("no-such-calib.txt");
  EXPECT_NE(error_of([&] { q::read_calibration_text(missing, 0); }).find(missing), std::string::npos);
  const std::string empty = tmp.file("empty.txt");
  std::ofstream(empty).close();
  const std::string e = error_of([&] { q::read_calibration_text(empty, 0); });
  EXPECT_NE(e.find(empty), std::string::npos) << e;
  EXPECT_NE(e.find("empty"), std::string::npos) << e;
  const std::string f = tmp.file("c.txt");
  std::ofstream(f) << "first line\nsecond line\nthird";
  EXPECT_EQ(q::read_calibration_text(f, 0), "first line\nsecond line\nthird");
  EXPECT_EQ(q::read_calibration_text(f, 15), "first line\n");  // cut back to a line end
  EXPECT_EQ(q::read_calibration_text(f, 11), "first line\n");
  EXPECT_EQ(q::read_calibration_text(f, 4), "firs");  // no newline before the cut: kept as is
}

TEST(GptqConfig, CalibrationKeyIsOptionalAndStrict) {
  using q::QuantConfig;
  QuantConfig c = QuantConfig::preset("w4a4", true);
  c.linear_weights.group = c.lm_head_weights.group = 64;
  // Without calibration the JSON is what it always was (old files read back).
  const nlohmann::json old = c.to_json();
  EXPECT_FALSE(old.contains("calibration"));
  EXPECT_EQ(QuantConfig::from_json(old, "old"), c);
  // With it: written, read back equal, shown in the summary.
  c.calibration = {"gptq", "kjv-calib.txt", 63229};
  const nlohmann::json j = c.to_json();
  ASSERT_TRUE(j.contains("calibration"));
  EXPECT_EQ(j["calibration"]["method"], "gptq");
  EXPECT_EQ(QuantConfig::from_json_string(c.to_json_string(), "new"), c);
  EXPECT_NE(c.summary().find("gptq-calibrated (kjv-calib.txt, 63229 bytes)"), std::string::npos) << c.summary();
  // Strict inside: unknown, missing and bad values are named.
  nlohmann::json bad = j;
  bad["calibration"]["seed"] = 1;
  EXPECT_NE(error_of([&] { QuantConfig::from_json(bad, "m"); }).find("calibration.seed: unknown key"),
            std::string::npos);
  bad = j;
  bad["calibration"].erase("bytes");
  EXPECT_NE(error_of([&] { QuantConfig::from_json(bad, "m"); }).find("calibration.bytes: missing"), std::string::npos);
  bad = j;
  bad["calibration"]["method"] = "awq";
  EXPECT_NE(error_of([&] { QuantConfig::from_json(bad, "m"); }).find("calibration.method"), std::string::npos);
  bad = j;
  bad["calibration"]["method"] = "";
  EXPECT_NE(error_of([&] { QuantConfig::from_json(bad, "m"); }).find("calibration.method"), std::string::npos);
  bad = j;
  bad["calibration"]["bytes"] = 0;
  EXPECT_NE(error_of([&] { QuantConfig::from_json(bad, "m"); }).find("calibration.bytes"), std::string::npos);
  bad = j;
  bad["calibration"] = "gptq";
  EXPECT_NE(error_of([&] { QuantConfig::from_json(bad, "m"); }).find("calibration"), std::string::npos);
  // Other unknown top-level keys are still errors.
  bad = old;
  bad["calibrated"] = true;
  EXPECT_NE(error_of([&] { QuantConfig::from_json(bad, "m"); }).find("calibrated: unknown key"), std::string::npos);
}

bool shipped_models() { return fs::exists(fs::path(sm::default_draft_model()) / "config.json"); }

TEST(GptqModel, QuantizeModelCalibrates) {
  if (!shipped_models()) GTEST_SKIP() << "no shipped draft model";
  sm_test::TempDir tmp;
  const std::string calib = tmp.file("calib.txt");
  {
    std::ifstream in(sm::data_dir() + "/kjv-calib.txt", std::ios::binary);
    ASSERT_TRUE(in) << "data/kjv-calib.txt";
    std::string s(6000, '\0');
    in.read(s.data(), std::streamsize(s.size()));
    s.resize(static_cast<size_t>(in.gcount()));
    std::ofstream(calib, std::ios::binary) << s;
  }
  q::QuantConfig c = q::QuantConfig::preset("w4a4", true);
  c.linear_weights.group = c.lm_head_weights.group = 64;
  q::CalibrationOptions o;
  o.text_path = calib;
  o.max_bytes = 4096;
  const auto rep = q::quantize_model(sm::default_draft_model(), tmp.file("cal"), c, o);
  EXPECT_EQ(rep.calibrated.size(), 4u);  // in_proj, out_proj of 2 layers (the head rounds plainly)
  EXPECT_GT(rep.calib_tokens, 3000);
  EXPECT_LT(rep.calib_error_ratio, 1.0);
  EXPECT_EQ(rep.config.calibration.method, "gptq-act-aware");  // the default for 4-bit activations
  EXPECT_EQ(rep.config.calibration.text, "calib.txt");
  EXPECT_LE(rep.config.calibration.bytes, 4096);
  auto m = sm::MambaModel::load(tmp.file("cal"));
  EXPECT_EQ(m->weights().quant.calibration, rep.config.calibration);
  float logits[256];
  auto st = m->new_state();
  const int32_t ids[3] = {65, 110, 100};
  m->forward(ids, st, logits);
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
  // Deterministic: the same run writes the same tensors.
  q::quantize_model(sm::default_draft_model(), tmp.file("cal2"), c, o);
  auto slurp = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(slurp(tmp.file("cal") + "/model.safetensors"), slurp(tmp.file("cal2") + "/model.safetensors"));
  // No scratch directories are left beside the output.
  for (const auto& e : fs::directory_iterator(tmp.str()))
    EXPECT_EQ(e.path().filename().string().find(".calib-"), std::string::npos) << e.path();
  // A missing or empty calibration text is an error naming it; nothing is written.
  o.text_path = tmp.file("missing.txt");
  const std::string e1 = error_of([&] { q::quantize_model(sm::default_draft_model(), tmp.file("x"), c, o); });
  EXPECT_NE(e1.find(o.text_path), std::string::npos) << e1;
  EXPECT_FALSE(fs::exists(tmp.file("x")));
  o.text_path = tmp.file("empty.txt");
  std::ofstream(o.text_path).close();
  const std::string e2 = error_of([&] { q::quantize_model(sm::default_draft_model(), tmp.file("x"), c, o); });
  EXPECT_NE(e2.find(o.text_path), std::string::npos) << e2;
  EXPECT_FALSE(fs::exists(tmp.file("x")));
  // Plain GPTQ (fp32 inputs, one refinement pass by default) on w4a8.
  o.text_path = calib;
  q::QuantConfig c8 = q::QuantConfig::preset("w4a8", false);
  c8.linear_weights.group = c8.lm_head_weights.group = 64;
  const auto r8 = q::quantize_model(sm::default_draft_model(), tmp.file("cal8"), c8, o);
  EXPECT_EQ(r8.config.calibration.method, "gptq");
  EXPECT_EQ(r8.calibrated.size(), 4u);
  EXPECT_LT(r8.calib_error_ratio, 1.0);
  EXPECT_NO_THROW(sm::MambaModel::load(tmp.file("cal8")));
}

}  // namespace
