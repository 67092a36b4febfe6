// SPDX-License-Identifier: Apache-2.0
#include "core/kernels/membw.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

#include "core/kernels/weight_memory.h"

#include "core/kernels/thread_pool.h"
#include "core/model/generator.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels/membw.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "core/kernels/vec_math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace sm {
namespace HWY_NAMESPACE {

// Sums [b, e) as S interleaved sequential streams of 64-byte lines, on the
// widest vectors the CPU has: the same access pattern as the packed GEMV,
// which reads several weight blocks at once.
template <int S>
float SumStreams(const float* p, int64_t b, int64_t e) {
  const DF d;
  constexpr int64_t kLine = 16, kL = static_cast<int64_t>(hn::MaxLanes(DF()));
  const int64_t seg = (e - b) / S / kLine * kLine;
  VF acc[S];
  for (int s = 0; s < S; ++s) acc[s] = hn::Zero(d);
  for (int64_t i = 0; i < seg; i += kLine)
    for (int s = 0; s < S; ++s)
      for (int64_t j = 0; j < kLine; j += kL) acc[s] = hn::Add(acc[s], hn::LoadU(d, p + b + s * seg + i + j));
  VF t = hn::Zero(d);
  for (int s = 0; s < S; ++s) t = hn::Add(t, acc[s]);
  float r = hn::GetLane(hn::SumOfLanes(d, t));
  for (int64_t i = b + S * seg; i < e; ++i) r += p[i];
  return r;
}

float SumRange(const float* p, int64_t b, int64_t e, int streams) {
  switch (streams) {
    case 1: return SumStreams<1>(p, b, e);
    case 4: return SumStreams<4>(p, b, e);
    case 8: return SumStreams<8>(p, b, e);
    default: return SumStreams<12>(p, b, e);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace sm
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sm {

HWY_EXPORT(SumRange);

double measure_read_bandwidth_gbs(size_t bytes, ThreadPool& pool, int repeats) {
  const size_t n = bytes / sizeof(float);
  // The same memory as the weights (huge pages where they get them).
  std::unique_ptr<float, WeightFree> mem(static_cast<float*>(weight_alloc(n * sizeof(float))));
  float* const buf = mem.get();
  std::fill(buf, buf + n, 1.0f);
  std::atomic<double> sink{0.0};
  double best = 0.0;
  // The bound is the best any of these patterns reaches: quoting decode
  // against a weaker pattern would flatter it.
  for (int streams : {1, 4, 8, 12}) {
    for (int r = 0; r < repeats; ++r) {
      const double t0 = now_seconds();
      pool.parallel_for(static_cast<int64_t>(n), [&](int64_t b, int64_t e) {
        const float s = HWY_DYNAMIC_DISPATCH(SumRange)(buf, b, e, streams);
        double cur = sink.load();
        while (!sink.compare_exchange_weak(cur, cur + s)) {
        }
      }, 1024);
      best = std::max(best, static_cast<double>(bytes) / (now_seconds() - t0) / 1e9);
    }
  }
  return sink.load() > 0 ? best : best;  // sink keeps the loads alive
}

}  // namespace sm
#endif
