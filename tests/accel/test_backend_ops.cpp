// SPDX-License-Identifier: Apache-2.0
// Backend ops (in the manner of ggml's test-backend-ops): every op of every
// available device backend (emu always; xrt when a board is attached)
// against the core/ reference it is defined by, bit for bit, through the
// sm::device::Device interface the model uses: random shapes and inputs, and
// the shapes of the shipped models and of mamba2-130m.
//   linear   quantize_activations (+ quant::transform when rotating) + linear_int
//   conv_row conv_silu_row
//   ssm_scan pot_scan_mamba2_reference
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "accel/emu/emu_device.h"
#include "accel/xrt/xrt_device.h"
#include "accel/xrt/xrt_probe.h"
#include "core/io/error.h"
#include "core/kernels/simd.h"
#include "core/kernels/ssm_kernels.h"
#include "core/quant/hadamard.h"
#include "core/quant/pot_scan.h"
#include "core/quant/quantizers.h"
#include "core/quant/ssm_quant.h"
#include "tests/core/error_of.h"

namespace {

namespace q = sm::quant;
using sm::device::Device;
using sm_test::error_of;

// The backends this machine can run. xrt needs a board and an xclbin
// (SPECMAMBA_XCLBIN in the environment); without them only emu is tested,
// and the xrt backend's own tests cover its behaviour without a board.
std::vector<std::shared_ptr<Device>> backends() {
  std::vector<std::shared_ptr<Device>> v = {std::make_shared<sm::accel::EmuDevice>()};
  const char* xclbin = std::getenv("SPECMAMBA_XCLBIN");
  if (xclbin && *xclbin && !sm::accel::probe_boards().boards.empty())
    v.push_back(std::shared_ptr<Device>(sm::accel::XrtDevice::open({0, xclbin})));
  return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::vector<float> randn(std::mt19937& rng, size_t n, float sd) {
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// ------------------------------------------------------------------ linear

struct LinearCase {
  int64_t rows, cols, T;
  int wbits, abits;
  int64_t wgroup, agroup;
  bool rotate;
  int exp_min = q::kActExpMin, exp_max = q::kActExpMax;
};

std::string name_of(const LinearCase& c) {
  return std::to_string(c.rows) + "x" + std::to_string(c.cols) + " T" + std::to_string(c.T) + " w" +
         std::to_string(c.wbits) + "g" + std::to_string(c.wgroup) + " a" + std::to_string(c.abits) + "g" +
         std::to_string(c.agroup) + (c.rotate ? " rot" : "");
}

void check_linear(Device& dev, const LinearCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const auto W = randn(rng, size_t(c.rows * c.cols), 0.05f);
  const q::QuantizedMatrix w = q::quantize_weights(W.data(), c.rows, c.cols, c.wbits, c.wgroup, q::ScaleKind::Pow2Sum);
  const q::ActQuant aq{c.abits, c.agroup, c.exp_min, c.exp_max};
  const int64_t ldx = c.cols + 3, ldy = c.rows + 5;
  auto x = randn(rng, size_t(c.T * ldx), 1.0f);
  if (c.T > 1) x[size_t(ldx + 1)] = 40.0f;  // an outlier channel
  const sm::device::Handle h = dev.add_linear({"case " + name_of(c), &w, aq, c.rotate});
  std::vector<float> got(size_t(c.T * ldy), -7.0f), want(got);
  dev.linear(h, x.data(), c.T, ldx, got.data(), ldy);
  std::vector<float> in(size_t(c.T * c.cols));
  for (int64_t t = 0; t < c.T; ++t) {
    if (c.rotate)
      q::transform(x.data() + t * ldx, in.data() + t * c.cols, c.cols);
    else
      std::memcpy(in.data() + t * c.cols, x.data() + t * ldx, size_t(c.cols) * sizeof(float));
  }
  const q::QuantizedActivations a = q::quantize_activations(in.data(), c.T, c.cols, c.abits, c.agroup, c.exp_min, c.exp_max);
  q::linear_int(a, w, want.data(), ldy);
  EXPECT_TRUE(same_bits(got, want)) << dev.name() << " " << name_of(c);
}

TEST(BackendOps, LinearRandomShapes) {
  const LinearCase cases[] = {
      {16, 64, 1, 8, 8, 64, 8, false},  {13, 40, 3, 8, 8, 8, 8, false},   {33, 96, 2, 4, 4, 32, 8, false},
      {8, 128, 7, 4, 8, 128, 16, false}, {21, 64, 5, 8, 4, 16, 64, false}, {64, 192, 4, 4, 4, 64, 8, true},
      {40, 64, 9, 8, 8, 64, 8, true},    {24, 128, 2, 4, 4, 32, 32, false, -12, 3},
  };
  for (auto& dev : backends())
    for (size_t i = 0; i < std::size(cases); ++i) check_linear(*dev, cases[i], 100 + uint32_t(i));
}

// The linear layers of the shipped pair (d_model 192 / 64 is in the model
// configs; here the target's and mamba2-130m's widths) at decode and tree sizes.
TEST(BackendOps, LinearModelShapes) {
  const LinearCase cases[] = {
      {2 * 384 + 2 * 32 + 12, 192, 1, 4, 4, 64, 8, false},  // target in_proj (w4a4)
      {192, 384, 7, 4, 4, 64, 8, true},                        // target out_proj, rotated, a tree batch
      {256, 192, 1, 8, 8, 64, 8, false},                       // the 8-bit head
      {3352, 768, 1, 4, 4, 128, 8, false},                     // mamba2-130m in_proj
      {768, 1536, 2, 8, 8, 128, 8, true},                      // mamba2-130m out_proj, rotated
  };
  for (auto& dev : backends())
    for (size_t i = 0; i < std::size(cases); ++i) check_linear(*dev, cases[i], 200 + uint32_t(i));
}

TEST(BackendOps, LinearRefusesFloatScalesNamingTheLayer) {
  std::mt19937 rng(5);
  const auto W = randn(rng, 16 * 64, 0.05f);
  const q::QuantizedMatrix w = q::quantize_weights(W.data(), 16, 64, 8, 64, q::ScaleKind::Float);
  for (auto& dev : backends()) {
    const std::string e = error_of([&] { dev->add_linear({"layers.1.in_proj", &w, {}, false}); });
    EXPECT_NE(e.find("layers.1.in_proj"), std::string::npos) << e;
    EXPECT_NE(e.find("2^s1 + 2^s2"), std::string::npos) << e;
  }
}

// ------------------------------------------------------------------ conv

// The accelerator fuses the conv's multiply-adds; the CPU kernel does too on
// its FMA targets (AVX2, AVX-512), which are the reference here (0: none).
int64_t fma_target() {
  for (const auto& t : sm::simd::available_targets())
    if (t.name.rfind("AVX", 0) == 0) return t.bits;
  return 0;
}

void check_conv(Device& dev, int64_t C, int K, bool bias, int64_t c0, int64_t c1, uint32_t seed) {
  const int64_t fma = fma_target();
  std::optional<sm::simd::ScopedTarget> on;
  if (fma) on.emplace(fma);
  std::mt19937 rng(seed);
  const auto wT = randn(rng, size_t(K * C), 0.3f);
  const auto b = randn(rng, size_t(C), 0.1f);
  const auto rows = randn(rng, size_t(K * C), 2.0f);
  std::vector<const float*> ext(static_cast<size_t>(K));
  for (int k = 0; k < K; ++k) ext[size_t(k)] = rows.data() + k * C;
  const sm::device::Handle h = dev.add_conv({"conv", C, K, wT.data(), bias ? b.data() : nullptr});
  std::vector<float> got(size_t(C), -3.0f), want(got);
  dev.conv_row(h, ext.data(), got.data(), c0, c1);
  sm::conv_silu_row(ext.data(), K, wT.data(), C, bias ? b.data() : nullptr, want.data(), c0, c1);
  if (fma)  // without an FMA target there is no CPU reference with the accelerator's rounding
    EXPECT_TRUE(same_bits(got, want)) << dev.name() << " C" << C << " K" << K << " [" << c0 << "," << c1 << ")";
}

TEST(BackendOps, ConvRow) {
  if (!fma_target()) GTEST_SKIP() << "no FMA target on this CPU";
  for (auto& dev : backends()) {
    check_conv(*dev, 384 + 64, 4, true, 0, 448, 1);     // target conv_dim
    check_conv(*dev, 1536 + 256, 4, true, 16, 1000, 2);  // mamba2-130m, a thread's channel range
    check_conv(*dev, 37, 3, false, 5, 37, 3);
    check_conv(*dev, 8, 1, true, 0, 8, 4);
  }
}

// ------------------------------------------------------------------ ssm

struct SsmCase {
  int64_t H, P, N, group, T, h0, h1;
  int tables;  // 0 default, 1 nearest, 2 small nearest
};

void check_ssm(Device& dev, const SsmCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t E = c.H * c.P, stride = E + 2 * c.N + 1, dts = c.H + 1;
  auto xbc = randn(rng, size_t(c.T * stride), 1.0f);
  auto dt = randn(rng, size_t(c.T * dts), 0.7f);
  std::vector<float> A(size_t(c.H)), D(size_t(c.H)), db(size_t(c.H));
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int64_t h = 0; h < c.H; ++h) {
    A[size_t(h)] = -(1.0f + 15.0f * u(rng));
    D[size_t(h)] = 2.0f * u(rng) - 0.5f;
    db[size_t(h)] = -4.0f + 2.0f * u(rng);
  }
  const q::PotSsmLayer layer{q::ssm_params_fixed(A, D, db)};
  const q::SsmTables tables = c.tables == 1   ? q::SsmTables::make(4096, 4096, q::LutInterp::Nearest)
                              : c.tables == 2 ? q::SsmTables::make(256, 512, q::LutInterp::Nearest)
                                              : q::SsmTables::make();
  const auto S0 = randn(rng, size_t(E * c.N), 0.5f);
  const sm::device::Handle h = dev.add_ssm({"ssm", c.H, c.P, c.N, c.group, &layer, &tables});
  std::vector<float> Sg = S0, Sw = S0, yg(size_t(c.T * E), -1.0f), yw(yg);
  dev.ssm_scan(h, c.T, xbc.data(), stride, dt.data(), dts, Sg.data(), yg.data(), c.h0, c.h1);
  q::pot_scan_mamba2_reference(c.T, c.H, c.P, c.N, xbc.data(), stride, dt.data(), dts, layer, tables, c.group,
                               Sw.data(), yw.data(), c.h0, c.h1);
  EXPECT_TRUE(same_bits(Sg, Sw)) << dev.name() << " state H" << c.H << " P" << c.P << " N" << c.N;
  EXPECT_TRUE(same_bits(yg, yw)) << dev.name() << " y H" << c.H << " P" << c.P << " N" << c.N;
}

TEST(BackendOps, SsmScan) {
  const SsmCase cases[] = {
      {12, 32, 32, 8, 1, 0, 12, 0},   // the shipped target, one decode token
      {12, 32, 32, 8, 6, 3, 8, 0},    // a head range (a thread's share / a state tile)
      {4, 32, 32, 8, 5, 0, 4, 1},     // the shipped draft
      {3, 16, 24, 8, 4, 0, 3, 2},
      {24, 64, 128, 8, 2, 0, 24, 0},  // mamba2-130m
  };
  for (auto& dev : backends())
    for (size_t i = 0; i < std::size(cases); ++i) check_ssm(*dev, cases[i], 300 + uint32_t(i));
}

// ssm_tree: every node of a tree stepped from its parent's state, on the
// device in FIFO order with head tiles, equals the per-node reference.
TEST(BackendOps, SsmTreeEqualsThePerNodeReference) {
  const int64_t H = 12, P = 32, N = 32, E = H * P, stride = E + 2 * N + 3, dts = H + 2, L = E * N;
  // Tree 2,2,1 (nodes breadth-first): 0 1 | 2 3 (of 0) 4 5 (of 1) | 6 7 8 9
  const std::vector<int32_t> parent = {-1, -1, 0, 0, 1, 1, 2, 3, 4, 5};
  const int32_t n = int32_t(parent.size());
  std::mt19937 rng(77);
  const auto xbc = randn(rng, size_t(n * stride), 1.0f);
  const auto dt = randn(rng, size_t(n * dts), 0.7f);
  std::vector<float> A(static_cast<size_t>(H)), D(A), db(A);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int64_t h = 0; h < H; ++h) {
    A[size_t(h)] = -(1.0f + 15.0f * u(rng));
    D[size_t(h)] = 2.0f * u(rng) - 0.5f;
    db[size_t(h)] = -4.0f + 2.0f * u(rng);
  }
  const q::PotSsmLayer layer{q::ssm_params_fixed(A, D, db)};
  const q::SsmTables tables = q::SsmTables::make();
  const auto S0 = randn(rng, size_t(L), 0.5f);
  std::vector<float> want_S(size_t(n * L)), want_y(size_t(n * E));
  for (int32_t v = 0; v < n; ++v) {
    std::vector<float> S = parent[size_t(v)] < 0 ? S0 : std::vector<float>(want_S.begin() + parent[size_t(v)] * L,
                                                                          want_S.begin() + (parent[size_t(v)] + 1) * L);
    q::pot_scan_mamba2_reference(1, H, P, N, xbc.data() + v * stride, stride, dt.data() + v * dts, dts, layer, tables,
                                 8, S.data(), want_y.data() + v * E, 0, H);
    std::copy(S.begin(), S.end(), want_S.begin() + v * L);
  }
  for (auto& dev : backends()) {
    const sm::device::Handle h = dev->add_ssm({"ssm", H, P, N, 8, &layer, &tables});
    for (int64_t tile : {int64_t(1), int64_t(5), H}) {
      std::vector<float> S(size_t(n * L), -1.0f), y(size_t(n * E), -1.0f);
      dev->ssm_tree(h, n, parent.data(), xbc.data(), stride, dt.data(), dts, S0.data(), S.data(), y.data(), tile, 4);
      EXPECT_TRUE(same_bits(S, want_S)) << dev->name() << " tile " << tile;
      EXPECT_TRUE(same_bits(y, want_y)) << dev->name() << " tile " << tile;
    }
    // Too few live-state slots for this tree: an error naming the layer.
    std::vector<float> S(size_t(n * L)), y(size_t(n * E));
    const std::string e = error_of([&] {
      dev->ssm_tree(h, n, parent.data(), xbc.data(), stride, dt.data(), dts, S0.data(), S.data(), y.data(), H, 1);
    });
    EXPECT_NE(e.find("ssm"), std::string::npos) << e;
    EXPECT_EQ(dev->counts().tree_calls, 3);
  }
}

TEST(BackendOps, SsmScanFailsOnNonFiniteInputNamingTheLayer) {
  const int64_t H = 2, P = 8, N = 8, E = H * P, stride = E + 2 * N;
  std::vector<float> A = {-1.0f, -2.0f}, D = {1.0f, 0.5f}, db = {-3.0f, -3.0f};
  const q::PotSsmLayer layer{q::ssm_params_fixed(A, D, db)};
  const q::SsmTables tables = q::SsmTables::make();
  std::vector<float> xbc(size_t(stride), 0.5f), dt(size_t(H), 0.1f), S(size_t(E * N), 0.0f), y(static_cast<size_t>(E));
  xbc[3] = std::numeric_limits<float>::quiet_NaN();
  for (auto& dev : backends()) {
    const sm::device::Handle h = dev->add_ssm({"layers.4.ssm", H, P, N, 8, &layer, &tables});
    const std::string e = error_of([&] { dev->ssm_scan(h, 1, xbc.data(), stride, dt.data(), H, S.data(), y.data(), 0, H); });
    EXPECT_NE(e.find("layers.4.ssm"), std::string::npos) << e;
  }
}

TEST(BackendOps, CountsEveryOp) {
  for (auto& dev : backends()) {
    check_linear(*dev, {16, 64, 3, 8, 8, 64, 8, false}, 9);
    check_conv(*dev, 16, 4, true, 0, 16, 9);
    check_ssm(*dev, {2, 8, 8, 8, 2, 0, 2, 0}, 9);
    const sm::device::OpCounts n = dev->counts();
    EXPECT_EQ(n.linear_calls, 1);
    EXPECT_EQ(n.linear_rows, 3);
    EXPECT_EQ(n.conv_rows, 1);
    EXPECT_EQ(n.ssm_calls, 1);
    EXPECT_EQ(n.ssm_tokens, 2);
  }
}

}  // namespace
