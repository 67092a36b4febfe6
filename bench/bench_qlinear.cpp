// SPDX-License-Identifier: Apache-2.0
// The fast quantized linear kernels (qlinear, bit-exact against linear_int)
// beside the fp32 packed kernel (packed_linear) on mamba-130m's shapes, one
// thread, on the dispatch target (SPECMAMBA_SIMD=sse4|scalar caps it):
//   in_proj 768 -> 3072, out_proj 1536 -> 768, x_proj 1536 -> 80, lm_head 768 -> 50280
//   x T = 1 (decode), 7 (tree batch), 64, 256 (prefill)
//   x w8a8, w4a8, w4a4 (Pow2Sum, weight group 128, activation group 8).
// Counters: GBps = bytes() streamed per call / wall time (cpuGBps: / thread
// CPU time, which leaves out time the thread was not scheduled on a busy
// machine); BW = GBps / the single-thread read bandwidth measured at start
// (core/kernels/membw.h); x_fp32 = fp32 wall time / this wall time (same
// shape, T and cache state); GOPS = 2 T rows cols / wall time; fallback /
// singles = reference rows and individually rescaled blocks per call (the
// data should keep both at or near 0).
// "/cold" runs rotate through enough copies of the matrix (> 96 MB) that every
// call streams from DRAM, as a decode step through all layers does; the
// others reuse one copy, which stays in the caches where it fits.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/kernels/membw.h"
#include "core/kernels/packed_matrix.h"
#include "core/kernels/simd.h"
#include "core/kernels/thread_pool.h"
#include "core/quant/qlinear.h"
#include "core/quant/quantizers.h"

namespace {

namespace q = sm::quant;

struct Shape {
  const char* name;
  int64_t in, out;
};
constexpr Shape kShapes[] = {
    {"in_proj", 768, 3072}, {"out_proj", 1536, 768}, {"x_proj", 1536, 80}, {"lm_head", 768, 50280}};

struct Config {
  const char* name;
  int wbits, abits;
};
constexpr Config kConfigs[] = {{"w8a8", 8, 8}, {"w4a8", 4, 8}, {"w4a4", 4, 4}};

constexpr int64_t kWeightGroup = 128, kActGroup = 8;
constexpr size_t kColdBytes = size_t(96) << 20;

double g_membw = 0.0;
// fp32 wall seconds per call, keyed by (shape, T, cold): the x_fp32 baseline.
std::map<std::tuple<std::string, int64_t, bool>, double> g_fp32;

std::vector<float> weights(const Shape& s) {
  std::mt19937 g(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> W(s.in * s.out);
  for (auto& v : W) v = 0.05f * nd(g) * (g() % 100 == 0 ? 10.0f : 1.0f);
  return W;
}

// Post-norm-like activations: N(0, 1) with rare 20x outliers.
std::vector<float> inputs(int64_t n) {
  std::mt19937 g(2);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = nd(g) * (g() % 50 == 0 ? 20.0f : 1.0f);
  return x;
}

int copies_for(size_t bytes, bool cold) {
  return cold ? static_cast<int>(std::min<size_t>(64, (kColdBytes + bytes - 1) / bytes)) : 1;
}

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Wall and thread-CPU seconds per call. On a busy (shared, virtual) machine
// the CPU figure leaves out the time the thread was not running at all.
struct PerCall {
  double wall, cpu;
};
template <class F>
PerCall seconds_per_call(benchmark::State& st, F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = thread_cpu_seconds();
  for (auto _ : st) f();
  const double c1 = thread_cpu_seconds();
  const auto t1 = std::chrono::steady_clock::now();
  const double n = static_cast<double>(st.iterations());
  return {std::chrono::duration<double>(t1 - t0).count() / n, (c1 - c0) / n};
}

void bandwidth_counters(benchmark::State& st, size_t bytes, int64_t ops, PerCall t) {
  st.counters["GBps"] = double(bytes) / t.wall / 1e9;
  st.counters["cpuGBps"] = double(bytes) / t.cpu / 1e9;
  st.counters["BW"] = double(bytes) / t.wall / 1e9 / g_membw;
  st.counters["GOPS"] = 2.0 * double(ops) / t.wall / 1e9;
}

void Fp32(benchmark::State& st, Shape s, int64_t T, bool cold) {
  const auto W = weights(s);
  const sm::PackedMatrix one = sm::PackedMatrix::pack(W.data(), s.out, s.in);
  const int n = copies_for(one.bytes(), cold);
  std::vector<sm::PackedMatrix> P;
  for (int i = 0; i < n; ++i) P.push_back(sm::PackedMatrix::pack(W.data(), s.out, s.in));
  const auto x = inputs(T * s.in);
  std::vector<float> y(T * s.out);
  int i = 0;
  const PerCall t = seconds_per_call(st, [&] {
    sm::packed_linear(x.data(), T, P[i], nullptr, y.data(), s.out, nullptr);
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % n;
  });
  g_fp32[{s.name, T, cold}] = t.wall;
  bandwidth_counters(st, one.bytes(), T * s.in * s.out, t);
}

void QLinear(benchmark::State& st, Shape s, Config c, int64_t T, bool cold) {
  const auto W = weights(s);
  const auto Wq = q::quantize_weights(W.data(), s.out, s.in, c.wbits, kWeightGroup, q::ScaleKind::Pow2Sum);
  const q::PackedQMatrix one = q::PackedQMatrix::pack(Wq);
  const int n = copies_for(one.bytes(), cold);
  std::vector<q::PackedQMatrix> P;
  for (int i = 0; i < n; ++i) P.push_back(q::PackedQMatrix::pack(Wq));
  const auto x = inputs(T * s.in);
  std::vector<float> y(T * s.out);
  const q::ActQuant aq{c.abits, kActGroup};
  int i = 0;
  const PerCall t = seconds_per_call(st, [&] {
    q::qlinear(x.data(), T, s.in, aq, P[i], nullptr, y.data(), s.out, nullptr);
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % n;
  });
  const auto stats = q::qlinear_last_stats();
  bandwidth_counters(st, one.bytes(), T * s.in * s.out, t);
  st.counters["fallback"] = double(stats.fallback_rows);
  st.counters["singles"] = double(stats.single_blocks);
  const auto it = g_fp32.find({s.name, T, cold});
  if (it != g_fp32.end()) st.counters["x_fp32"] = it->second / t.wall;
}

}  // namespace

int main(int argc, char** argv) {
  sm::simd::init_from_env();
  {
    sm::ThreadPool one(1);
    g_membw = sm::measure_read_bandwidth_gbs(size_t(512) << 20, one);
  }
  std::printf("target %s, single-thread read bandwidth %.1f GB/s\n", sm::simd::target_name().c_str(), g_membw);
  benchmark::AddCustomContext("target", sm::simd::target_name());
  benchmark::AddCustomContext("membw_GBps", std::to_string(g_membw));
  const int64_t Ts[] = {1, 7, 64, 256};
  for (const Shape& s : kShapes) {
    for (int64_t T : Ts) {
      for (bool cold : {false, true}) {
        if (cold && T != 1) continue;  // batches are compute-bound: the cache state hardly matters
        const std::string tail = "/T:" + std::to_string(T) + (cold ? "/cold" : "");
        benchmark::RegisterBenchmark(("Fp32/" + std::string(s.name) + tail).c_str(), Fp32, s, T, cold)
            ->Unit(benchmark::kMicrosecond);
        for (const Config& c : kConfigs)
          benchmark::RegisterBenchmark(("QLinear/" + std::string(s.name) + "/" + c.name + tail).c_str(),
                                       QLinear, s, c, T, cold)
              ->Unit(benchmark::kMicrosecond);
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
