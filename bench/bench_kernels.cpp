// SPDX-License-Identifier: Apache-2.0
// Hot-path kernels on every SIMD target this CPU runs, each next to its
// baseline in the same run:
//   the packed linear kernel (decode, tree batches, prefill) vs OpenBLAS
//   sgemv/sgemm, on mamba-130m's in_proj and on the shipped target's;
//   the selective scans, conv1d, RMSNorm; a whole decode step.
// Names end in the target (".../AVX2"); --benchmark_filter=AVX2 picks one.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/kernels/packed_matrix.h"
#include "core/kernels/simd.h"
#include "core/kernels/ssm_kernels.h"
#include "core/kernels/vector_ops.h"
#include "core/model/mamba_model.h"
#include "core/model/random_model.h"

namespace {

std::vector<float> randv(size_t n, float scale = 1.0f) {
  std::mt19937 g(1);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

struct Shape {
  const char* name;
  int64_t in, out;
};
// mamba-130m in_proj (9.4 MB of fp32 weights) and the shipped target's (0.65 MB).
constexpr Shape kShapes[] = {{"m130_in_proj", 768, 3072}, {"target_in_proj", 192, 844}};

void flops(benchmark::State& st, int64_t T, const Shape& s) {
  st.SetBytesProcessed(st.iterations() * s.in * s.out * 4);
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * T * s.in * s.out * st.iterations(),
                                             benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void PackedLinear(benchmark::State& st, int64_t target, Shape s) {
  sm::simd::ScopedTarget scope(target);
  const int64_t T = st.range(0);
  auto W = randv(s.in * s.out), x = randv(T * s.in);
  const sm::PackedMatrix P = sm::PackedMatrix::pack(W.data(), s.out, s.in);
  std::vector<float> y(T * s.out);
  for (auto _ : st) {
    sm::packed_linear(x.data(), T, P, nullptr, y.data(), s.out, nullptr);
    benchmark::DoNotOptimize(y.data());
  }
  flops(st, T, s);
}

// Baseline: OpenBLAS, sgemv for T = 1, sgemm otherwise (its own dispatch).
void OpenBlas(benchmark::State& st, Shape s) {
  openblas_set_num_threads(1);
  const int64_t T = st.range(0);
  auto W = randv(s.in * s.out), x = randv(T * s.in);
  std::vector<float> y(T * s.out);
  for (auto _ : st) {
    if (T == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, s.out, s.in, 1.0f, W.data(), s.in, x.data(), 1, 0.0f, y.data(), 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, s.out, s.in, 1.0f, x.data(), s.in,
                  W.data(), s.in, 0.0f, y.data(), s.out);
    benchmark::DoNotOptimize(y.data());
  }
  flops(st, T, s);
}

// One decode step of a Mamba-1 scan (E 1536, N 16: mamba-130m).
void ScanMamba1Step(benchmark::State& st, int64_t target) {
  sm::simd::ScopedTarget scope(target);
  const int64_t E = 1536, N = 16;
  auto x = randv(E), dt = randv(E, 0.01f), bc = randv(2 * N), A = randv(E * N), D = randv(E);
  for (auto& a : A) a = -std::abs(a);
  for (auto& d : dt) d = std::abs(d);
  std::vector<float> S(E * N, 0.0f), y(E);
  for (auto _ : st) {
    sm::scan_mamba1(1, E, N, x.data(), dt.data(), bc.data(), 2 * N, 0, N, A.data(), D.data(), S.data(), y.data(), 0, E);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetItemsProcessed(st.iterations() * E * N);
}

// One decode step of a Mamba-2 scan (H 24, P 64, N 128: mamba2-130m).
void ScanMamba2Step(benchmark::State& st, int64_t target) {
  sm::simd::ScopedTarget scope(target);
  const int64_t H = 24, P = 64, N = 128, G = 1, E = H * P;
  auto xbc = randv(E + 2 * G * N), dt = randv(H, 0.01f), A = randv(H), D = randv(H);
  for (auto& a : A) a = -std::abs(a);
  for (auto& d : dt) d = std::abs(d);
  std::vector<float> S(H * P * N, 0.0f), y(E);
  for (auto _ : st) {
    sm::scan_mamba2(1, H, P, N, G, xbc.data(), E + 2 * G * N, dt.data(), A.data(), D.data(), S.data(), y.data(), 0, H);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetItemsProcessed(st.iterations() * H * P * N);
}

// conv1d + SiLU over 3328 channels (mamba2-130m's xBC), one token, K = 4.
void ConvSilu(benchmark::State& st, int64_t target) {
  sm::simd::ScopedTarget scope(target);
  const int64_t C = 3328;
  const int K = 4;
  auto in = randv(C), w = randv(K * C), b = randv(C), win = randv((K - 1) * C);
  std::vector<float> out(C);
  for (auto _ : st) {
    sm::causal_conv_silu(in.data(), C, 1, C, K, w.data(), b.data(), win.data(), out.data(), 0, C);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetItemsProcessed(st.iterations() * C);
}

void RmsNorm(benchmark::State& st, int64_t target) {
  sm::simd::ScopedTarget scope(target);
  const int64_t n = 768;
  auto x = randv(n), w = randv(n);
  std::vector<float> y(n);
  for (auto _ : st) {
    sm::rms_norm(x.data(), w.data(), y.data(), n, 1e-5f);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetItemsProcessed(st.iterations() * n);
}

// A whole decode step of a small model (the shipped target's shape class).
void DecodeStepTinyMamba2(benchmark::State& st, int64_t target) {
  sm::simd::ScopedTarget scope(target);
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

}  // namespace

int main(int argc, char** argv) {
  const std::vector<int64_t> rows = {1, 2, 4, 7, 8, 128};
  for (const Shape& s : kShapes) {
    for (const auto& t : sm::simd::available_targets()) {
      auto* b = benchmark::RegisterBenchmark(("PackedLinear/" + std::string(s.name) + "/" + t.name).c_str(), PackedLinear, t.bits, s);
      for (int64_t r : rows) b->Arg(r);
    }
    auto* b = benchmark::RegisterBenchmark(("OpenBlas/" + std::string(s.name)).c_str(), OpenBlas, s);
    for (int64_t r : rows) b->Arg(r);
  }
  for (const auto& t : sm::simd::available_targets()) {
    benchmark::RegisterBenchmark(("ScanMamba1Step/" + t.name).c_str(), ScanMamba1Step, t.bits);
    benchmark::RegisterBenchmark(("ScanMamba2Step/" + t.name).c_str(), ScanMamba2Step, t.bits);
    benchmark::RegisterBenchmark(("ConvSilu/" + t.name).c_str(), ConvSilu, t.bits);
    benchmark::RegisterBenchmark(("RmsNorm/" + t.name).c_str(), RmsNorm, t.bits);
    benchmark::RegisterBenchmark(("DecodeStepTinyMamba2/" + t.name).c_str(), DecodeStepTinyMamba2, t.bits);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
