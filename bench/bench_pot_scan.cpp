// SPDX-License-Identifier: Apache-2.0
// The power-of-two SSM scan (core/quant/pot_scan.h): the fast path on every
// SIMD target this CPU runs, next to the reference composition
// (pot_scan_mamba2_reference: quantize_pot -> ssm_step_mamba2_int ->
// dequantize per token, the code before the fast path) and the fp32 Mamba-2
// scan (scan_mamba2) on the same shape, all single-threaded.
// Shapes: the shipped target's layer (H 12, P 32, N 32) and one Mamba2-2.7B
// head (P 64, N 128); T = 1 (decode) and T = 64 (prefill chunk); group 8.
// "per_elem" is the time per state element per token (H * P * N * T).
// Names end in the target; --benchmark_filter=AVX2 picks one.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/kernels/simd.h"
#include "core/kernels/ssm_kernels.h"
#include "core/quant/pot_scan.h"
#include "core/quant/ssm_quant.h"

namespace {

namespace q = sm::quant;

struct Shape {
  const char* name;
  int64_t H, P, N;
};
constexpr Shape kShapes[] = {{"target_H12_P32_N32", 12, 32, 32}, {"mamba2_2.7b_head_P64_N128", 1, 64, 128}};

// Realistic inputs (as tests/core/quant/test_ssm_quant.cpp): x, B, C ~ N(0, 1),
// raw dt ~ N(0, 0.5), softplus(dt_bias) log-uniform in [1e-3, 0.1],
// A = -[1, 16], D in [0.5, 1.5]; the state starts at zero.
struct Problem {
  int64_t T, H, P, N, stride;
  std::vector<float> xbc, dt_raw, dt_sp, S, y, A, D;
  q::PotSsmLayer layer;
  q::SsmTables tables = q::SsmTables::make();

  Problem(const Shape& s, int64_t T_) : T(T_), H(s.H), P(s.P), N(s.N), stride(s.H * s.P + 2 * s.N) {
    std::mt19937 g(7);
    std::normal_distribution<double> n01(0.0, 1.0);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    xbc.resize(size_t(T * stride));
    for (auto& v : xbc) v = float(n01(g));
    std::vector<float> bias(static_cast<size_t>(H));
    for (int64_t h = 0; h < H; ++h) {
      A.push_back(float(-(1.0 + 15.0 * u(g))));
      D.push_back(float(0.5 + u(g)));
      const double dt0 = std::exp(std::log(1e-3) + u(g) * (std::log(0.1) - std::log(1e-3)));
      bias[size_t(h)] = float(std::log(std::expm1(dt0)));
    }
    dt_raw.resize(size_t(T * H));
    dt_sp.resize(size_t(T * H));
    for (int64_t i = 0; i < T * H; ++i) {
      dt_raw[size_t(i)] = float(0.5 * n01(g));
      const double t = double(dt_raw[size_t(i)]) + bias[size_t(i % H)];
      dt_sp[size_t(i)] = float(t > 0 ? t + std::log1p(std::exp(-t)) : std::log1p(std::exp(t)));
    }
    layer.params = q::ssm_params_fixed(A, D, bias);
    S.assign(size_t(H * P * N), 0.0f);
    y.assign(size_t(T * H * P), 0.0f);
  }
};

void per_elem(benchmark::State& st, const Problem& p) {
  st.counters["per_elem"] = benchmark::Counter(double(p.T * p.H * p.P * p.N),
                                               benchmark::Counter::kIsIterationInvariantRate |
                                                   benchmark::Counter::kInvert);
}

void PotFast(benchmark::State& st, int64_t target, Shape s) {
  sm::simd::ScopedTarget scope(target);
  Problem p(s, st.range(0));
  for (auto _ : st) {
    q::pot_scan_mamba2(p.T, p.H, p.P, p.N, p.xbc.data(), p.stride, p.dt_raw.data(), p.H, p.layer, p.tables, 8,
                       p.S.data(), p.y.data(), 0, p.H);
    benchmark::DoNotOptimize(p.y.data());
  }
  per_elem(st, p);
}

void PotReference(benchmark::State& st, Shape s) {
  Problem p(s, st.range(0));
  for (auto _ : st) {
    q::pot_scan_mamba2_reference(p.T, p.H, p.P, p.N, p.xbc.data(), p.stride, p.dt_raw.data(), p.H, p.layer,
                                 p.tables, 8, p.S.data(), p.y.data(), 0, p.H);
    benchmark::DoNotOptimize(p.y.data());
  }
  per_elem(st, p);
}

// The fp32 scan of the unquantized model (dt already softplus'ed, n_groups 1).
void Fp32Scan(benchmark::State& st, int64_t target, Shape s) {
  sm::simd::ScopedTarget scope(target);
  Problem p(s, st.range(0));
  for (auto _ : st) {
    sm::scan_mamba2(p.T, p.H, p.P, p.N, 1, p.xbc.data(), p.stride, p.dt_sp.data(), p.A.data(), p.D.data(),
                    p.S.data(), p.y.data(), 0, p.H);
    benchmark::DoNotOptimize(p.y.data());
  }
  per_elem(st, p);
}

}  // namespace

int main(int argc, char** argv) {
  for (const Shape& s : kShapes) {
    const std::string name(s.name);
    for (const auto& t : sm::simd::available_targets())
      benchmark::RegisterBenchmark(("PotScanFast/" + name + "/" + t.name).c_str(), PotFast, t.bits, s)
          ->Arg(1)
          ->Arg(64);
    benchmark::RegisterBenchmark(("PotScanReference/" + name).c_str(), PotReference, s)->Arg(1)->Arg(64);
    for (const auto& t : sm::simd::available_targets())
      benchmark::RegisterBenchmark(("Fp32ScanMamba2/" + name + "/" + t.name).c_str(), Fp32Scan, t.bits, s)
          ->Arg(1)
          ->Arg(64);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
