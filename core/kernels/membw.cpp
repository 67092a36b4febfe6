// SPDX-License-Identifier: Apache-2.0
#include "core/kernels/membw.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "core/model/generator.h"
#include "core/kernels/thread_pool.h"

namespace sm {

double measure_read_bandwidth_gbs(size_t bytes, ThreadPool& pool, int repeats) {
  const size_t n = bytes / sizeof(float);
  std::vector<float> buf(n, 1.0f);
  std::atomic<double> sink{0.0};
  double best = 0.0;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = now_seconds();
    pool.parallel_for(static_cast<int64_t>(n), [&](int64_t b, int64_t e) {
      // Eight interleaved streams, as the packed GEMV kernel reads eight
      // weight blocks at once: one sequential stream under-uses the
      // prefetchers and would understate the bound.
      constexpr int kStreams = 8, kLanes = 16;
      const int64_t seg = (e - b) / kStreams / kLanes * kLanes;
      float acc[kStreams][kLanes] = {};
      for (int64_t i = 0; i < seg; i += kLanes)
        for (int st = 0; st < kStreams; ++st) {
          const float* p = buf.data() + b + st * seg + i;
#pragma omp simd
          for (int k = 0; k < kLanes; ++k) acc[st][k] += p[k];
        }
      float s = 0.0f;
      for (int64_t i = b + kStreams * seg; i < e; ++i) s += buf[i];
      for (auto& a : acc)
        for (float v : a) s += v;
      double cur = sink.load();
      while (!sink.compare_exchange_weak(cur, cur + s)) {
      }
    }, 1024);
    const double dt = now_seconds() - t0;
    best = std::max(best, static_cast<double>(bytes) / dt / 1e9);
  }
  return sink.load() > 0 ? best : best;  // sink keeps the loads alive
}

}  // namespace sm
