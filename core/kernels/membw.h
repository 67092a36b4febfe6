// SPDX-License-Identifier: Apache-2.0
#pragma once
// Measures sustained read bandwidth, the bound of memory-bound decode, so
// benchmarks can state decode speed as a fraction of it.
#include <cstddef>

namespace sm {

class ThreadPool;

// Best-of-`repeats` GB/s reading a `bytes`-sized buffer with the pool's threads.
double measure_read_bandwidth_gbs(size_t bytes, ThreadPool& pool, int repeats = 3);

}  // namespace sm
