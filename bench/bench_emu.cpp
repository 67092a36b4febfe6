// SPDX-License-Identifier: Apache-2.0
// The emu backend's speed on the CPU: the accelerator's HLS kernels
// (accel/hls, called through accel::EmuDevice) against the CPU backend's
// fast kernels (quant::qlinear, quant::pot_scan_mamba2) and the core integer
// references they all equal bit for bit (quantize_activations + linear_int,
// pot_scan_mamba2_reference), one thread, same shapes and inputs:
//   linear: mamba2-130m out_proj 768 x 1536 and in_proj 3352 x 768, w4a4 and
//           w8a8 (Pow2Sum weights, group 128, activation group 8), T = 1 and 7;
//   ssm:    the shipped target's layer (H 12, P 32, N 32) and a Mamba2-2.7B
//           head (P 64, N 128), T = 1;
//   decode: one token through the shipped target quantized w4a4 (all ops),
//           cpu and emu (needs data/models; skipped without them).
// Ratios against the reference are computed from one run's output (README).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "accel/emu/emu_device.h"
#include "core/io/default_paths.h"
#include "core/model/mamba_model.h"
#include "core/quant/pot_scan.h"
#include "core/quant/qlinear.h"
#include "core/quant/quant_config.h"
#include "core/quant/quantize_model.h"
#include "core/quant/quantizers.h"

#include <unistd.h>

namespace {

namespace q = sm::quant;

struct LinearShape {
  const char* name;
  int64_t rows, cols;
};
constexpr LinearShape kLinear[] = {{"130m_out_proj_768x1536", 768, 1536}, {"130m_in_proj_3352x768", 3352, 768}};

struct LinearProblem {
  q::QuantizedMatrix w;
  q::PackedQMatrix packed;
  q::ActQuant aq;
  std::vector<float> x, y;
  int64_t T;
  LinearProblem(const LinearShape& s, int bits, int64_t T_) : T(T_) {
    std::mt19937 g(3);
    std::normal_distribution<float> n(0.0f, 1.0f);
    std::vector<float> W(size_t(s.rows * s.cols));
    for (float& v : W) v = 0.05f * n(g);
    w = q::quantize_weights(W.data(), s.rows, s.cols, bits, 128, q::ScaleKind::Pow2Sum);
    packed = q::PackedQMatrix::pack(w);
    aq = {bits, 8, q::kActExpMin, q::kActExpMax};
    x.resize(size_t(T * s.cols));
    for (float& v : x) v = n(g);
    y.resize(size_t(T * s.rows));
  }
};

enum class Impl { Reference, Cpu, Emu };

void BM_Linear(benchmark::State& st, LinearShape s, int bits, int64_t T, Impl impl) {
  LinearProblem p(s, bits, T);
  sm::accel::EmuDevice dev;
  const sm::device::Handle h = impl == Impl::Emu ? dev.add_linear({"bench", &p.w, p.aq, false}) : -1;
  for (auto _ : st) {
    if (impl == Impl::Reference) {
      const auto a = q::quantize_activations(p.x.data(), T, s.cols, bits, 8);
      q::linear_int(a, p.w, p.y.data(), s.rows);
    } else if (impl == Impl::Cpu) {
      q::qlinear(p.x.data(), T, s.cols, p.aq, p.packed, nullptr, p.y.data(), s.rows, nullptr);
    } else {
      dev.linear(h, p.x.data(), T, s.cols, p.y.data(), s.rows);
    }
    benchmark::DoNotOptimize(p.y.data());
  }
  st.SetItemsProcessed(st.iterations() * T);
}

struct SsmShape {
  const char* name;
  int64_t H, P, N;
};
constexpr SsmShape kSsm[] = {{"target_H12_P32_N32", 12, 32, 32}, {"2.7b_head_P64_N128", 1, 64, 128}};

void BM_Ssm(benchmark::State& st, SsmShape s, Impl impl) {
  std::mt19937 g(5);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  const int64_t stride = s.H * s.P + 2 * s.N;
  std::vector<float> xbc(static_cast<size_t>(stride)), dt(static_cast<size_t>(s.H)), A, D, db,
      S(static_cast<size_t>(s.H * s.P * s.N), 0.0f), y(static_cast<size_t>(s.H * s.P));
  for (float& v : xbc) v = n(g);
  for (float& v : dt) v = 0.5f * n(g);
  for (int64_t h = 0; h < s.H; ++h) {
    A.push_back(-(1.0f + 15.0f * u(g)));
    D.push_back(0.5f + u(g));
    db.push_back(-4.0f + 2.0f * u(g));
  }
  const q::PotSsmLayer layer{q::ssm_params_fixed(A, D, db)};
  const q::SsmTables tables = q::SsmTables::make();
  sm::accel::EmuDevice dev;
  const sm::device::Handle h = impl == Impl::Emu ? dev.add_ssm({"bench", s.H, s.P, s.N, 8, &layer, &tables}) : -1;
  for (auto _ : st) {
    if (impl == Impl::Reference)
      q::pot_scan_mamba2_reference(1, s.H, s.P, s.N, xbc.data(), stride, dt.data(), s.H, layer, tables, 8, S.data(),
                                   y.data(), 0, s.H);
    else if (impl == Impl::Cpu)
      q::pot_scan_mamba2(1, s.H, s.P, s.N, xbc.data(), stride, dt.data(), s.H, layer, tables, 8, S.data(), y.data(),
                         0, s.H);
    else
      dev.ssm_scan(h, 1, xbc.data(), stride, dt.data(), s.H, S.data(), y.data(), 0, s.H);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetItemsProcessed(st.iterations() * s.H * s.P * s.N);
}

// One decode step of the shipped target quantized w4a4 (rotation on).
void BM_Decode(benchmark::State& st, Impl impl) {
  namespace fs = std::filesystem;
  static std::string dir;
  if (dir.empty()) {
    if (!fs::exists(fs::path(sm::default_target_model()) / "config.json")) {
      st.SkipWithError("shipped target not found");
      return;
    }
    dir = (fs::temp_directory_path() / ("specmamba_bench_emu_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir);
    q::QuantConfig c = q::QuantConfig::preset("w4a4", true);
    c.linear_weights.group = c.lm_head_weights.group = 64;
    q::quantize_model(sm::default_target_model(), dir, c);
  }
  auto m = sm::MambaModel::load(dir);
  if (impl == Impl::Emu) m->use_device(std::make_shared<sm::accel::EmuDevice>());
  auto s = m->new_state();
  std::vector<float> lg(size_t(m->vocab_size()));
  int32_t tok = 65;
  for (auto _ : st) {
    m->decode(tok, s, lg.data());
    tok = 32 + (tok + 1) % 90;
    benchmark::DoNotOptimize(lg.data());
  }
  st.SetItemsProcessed(st.iterations());
}

const char* impl_name(Impl i) { return i == Impl::Reference ? "reference" : i == Impl::Cpu ? "cpu" : "emu"; }

int reg = [] {
  for (const auto& s : kLinear)
    for (int bits : {4, 8})
      for (int64_t T : {1, 7})
        for (Impl i : {Impl::Reference, Impl::Cpu, Impl::Emu})
          benchmark::RegisterBenchmark(("linear/" + std::string(s.name) + "/w" + std::to_string(bits) + "a" +
                                        std::to_string(bits) + "/T" + std::to_string(T) + "/" + impl_name(i))
                                           .c_str(),
                                       BM_Linear, s, bits, T, i)
              ->Unit(benchmark::kMicrosecond);
  for (const auto& s : kSsm)
    for (Impl i : {Impl::Reference, Impl::Cpu, Impl::Emu})
      benchmark::RegisterBenchmark(("ssm/" + std::string(s.name) + "/T1/" + impl_name(i)).c_str(), BM_Ssm, s, i)
          ->Unit(benchmark::kMicrosecond);
  for (Impl i : {Impl::Cpu, Impl::Emu})
    benchmark::RegisterBenchmark((std::string("decode/target_w4a4_rot/") + impl_name(i)).c_str(), BM_Decode, i)
        ->Unit(benchmark::kMicrosecond);
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
