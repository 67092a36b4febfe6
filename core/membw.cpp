// SPDX-License-Identifier: Apache-2.0
#include "core/membw.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "core/generator.h"
#include "core/thread_pool.h"

namespace sm {

double measure_read_bandwidth_gbs(size_t bytes, ThreadPool& pool, int repeats) {
  const size_t n = bytes / sizeof(float);
  std::vector<float> buf(n, 1.0f);
  std::atomic<double> sink{0.0};
  double best = 0.0;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = now_seconds();
    pool.parallel_for(static_cast<int64_t>(n), [&](int64_t b, int64_t e) {
      float acc[16] = {};
      int64_t i = b;
      for (; i + 16 <= e; i += 16) {
#pragma omp simd
        for (int k = 0; k < 16; ++k) acc[k] += buf[i + k];
      }
      float s = 0.0f;
      for (; i < e; ++i) s += buf[i];
      for (float a : acc) s += a;
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
