// SPDX-License-Identifier: Apache-2.0
// Hot-path kernels, each next to its baseline in the same run:
//   the packed linear kernel (decode, tree batches, prefill) vs OpenBLAS,
//   the selective scans, and a whole decode step.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <filesystem>
#include <random>
#include <vector>

#include "core/model/mamba_model.h"
#include "core/kernels/packed_matrix.h"
#include "core/model/random_model.h"
#include "core/kernels/ssm_kernels.h"

namespace {

std::vector<float> randv(size_t n) {
  std::mt19937 g(1);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// mamba-130m in_proj: 768 -> 3072 (9.4 MB of fp32 weights).
constexpr int64_t kIn = 768, kOut = 3072;

// The engine's kernel: packed weights, one pass for all T rows.
void BM_PackedLinear(benchmark::State& st) {
  const int64_t T = st.range(0);
  auto W = randv(kIn * kOut), x = randv(T * kIn);
  const sm::PackedMatrix P = sm::PackedMatrix::pack(W.data(), kOut, kIn);
  std::vector<float> y(T * kOut);
  for (auto _ : st) {
    sm::packed_linear(x.data(), T, P, nullptr, y.data(), kOut, nullptr);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed(st.iterations() * kIn * kOut * 4);
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * T * kIn * kOut * st.iterations(), benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_PackedLinear)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Arg(128);

// Baseline: OpenBLAS, sgemv for T = 1, sgemm otherwise.
void BM_OpenBlas(benchmark::State& st) {
  openblas_set_num_threads(1);
  const int64_t T = st.range(0);
  auto W = randv(kIn * kOut), x = randv(T * kIn);
  std::vector<float> y(T * kOut);
  for (auto _ : st) {
    if (T == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, kOut, kIn, 1.0f, W.data(), kIn, x.data(), 1, 0.0f, y.data(), 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, kOut, kIn, 1.0f, x.data(), kIn, W.data(), kIn, 0.0f, y.data(), kOut);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed(st.iterations() * kIn * kOut * 4);
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * T * kIn * kOut * st.iterations(), benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_OpenBlas)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Arg(128);

// One decode step of the Mamba-1 selective scan at mamba-130m width (E 1536, N 16).
void BM_ScanMamba1Step(benchmark::State& st) {
  const int64_t E = 1536, N = 16;
  auto x = randv(E), dt = randv(E), bc = randv(2 * N), A = randv(E * N), D = randv(E);
  for (auto& v : dt) v = std::abs(v) * 0.01f;
  for (auto& v : A) v = -std::abs(v);
  std::vector<float> S(E * N), y(E);
  for (auto _ : st) {
    sm::scan_mamba1(1, E, N, x.data(), dt.data(), bc.data(), 2 * N, 0, N, A.data(), D.data(), S.data(), y.data(), 0, E);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetItemsProcessed(st.iterations() * E * N);
}
BENCHMARK(BM_ScanMamba1Step);

// Mamba-2 scan step at mamba2-130m width (H 24, P 64, N 128).
void BM_ScanMamba2Step(benchmark::State& st) {
  const int64_t H = 24, P = 64, N = 128, G = 1, E = H * P;
  auto xbc = randv(E + 2 * G * N), dt = randv(H), A = randv(H), D = randv(H);
  for (auto& v : dt) v = std::abs(v) * 0.01f;
  for (auto& v : A) v = -std::abs(v);
  std::vector<float> S(H * P * N), y(E);
  for (auto _ : st) {
    sm::scan_mamba2(1, H, P, N, G, xbc.data(), E + 2 * G * N, dt.data(), A.data(), D.data(), S.data(), y.data(), 0, H);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetItemsProcessed(st.iterations() * H * P * N);
}
BENCHMARK(BM_ScanMamba2Step);

// A whole decode step of a small model (the shipped target's shape class).
void BM_DecodeStepTinyMamba2(benchmark::State& st) {
  static const std::string dir = [] {
    auto d = (std::filesystem::temp_directory_path() / "sm_bench_tiny2").string();
    sm::write_random_model(d, sm::random_model_preset("tiny-mamba2"));
    return d;
  }();
  auto m = sm::MambaModel::load(dir);
  sm::ModelState s = m->new_state();
  std::vector<float> logits(m->vocab_size());
  int32_t tok = 1;
  for (auto _ : st) {
    m->decode(tok, s, logits.data());
    tok = (tok + 7) % m->vocab_size();
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_DecodeStepTinyMamba2);

}  // namespace

BENCHMARK_MAIN();
