// SPDX-License-Identifier: Apache-2.0
#pragma once
// Dense layers over a batch of rows: y[T, out] = x[T, in] * W[out, in]^T + b.
// Output rows of W are split across the pool's threads; each thread calls
// the skinny kernel (T <= 8, memory-bound) or single-threaded OpenBLAS sgemm
// on its slice (OpenBLAS's own threads are disabled
// so the two pools never fight for the cores).
#include <cstdint>

namespace sm {

class ThreadPool;

void linear(const float* x, int64_t T, int64_t in, const float* W, const float* bias,
            int64_t out, float* y, ThreadPool* pool);

// Call once before any BLAS use (idempotent).
void init_blas_single_threaded();

}  // namespace sm
