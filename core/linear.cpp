// SPDX-License-Identifier: Apache-2.0
#include "core/linear.h"

#include <cblas.h>

#include <algorithm>
#include <mutex>

#include "core/skinny_gemm.h"
#include "core/thread_pool.h"

namespace sm {

void init_blas_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

namespace {

void linear_slice(const float* x, int64_t T, int64_t in, const float* W, const float* bias,
                  int64_t out, float* y, int64_t o0, int64_t o1) {
  const int64_t n = o1 - o0;
  if (n <= 0) return;
  const float* Ws = W + o0 * in;
  if (T <= kSkinnyMaxRows) {
    skinny_gemm(x, T, in, W, o0, o1, y, out);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(T), static_cast<int>(n),
                static_cast<int>(in), 1.0f, x, static_cast<int>(in), Ws, static_cast<int>(in),
                0.0f, y + o0, static_cast<int>(out));
  }
  if (bias) {
    for (int64_t t = 0; t < T; ++t) {
      float* yr = y + t * out;
#pragma omp simd
      for (int64_t o = o0; o < o1; ++o) yr[o] += bias[o];
    }
  }
}

}  // namespace

void linear(const float* x, int64_t T, int64_t in, const float* W, const float* bias,
            int64_t out, float* y, ThreadPool* pool) {
  init_blas_single_threaded();
  // Below ~1 MB of weights a hand-off to another thread costs more than it saves.
  if (!pool || pool->size() == 1 || out < 64 || out * in * std::min<int64_t>(T, 8) < (1 << 18)) {
    linear_slice(x, T, in, W, bias, out, y, 0, out);
    return;
  }
  pool->parallel_for(
      out, [&](int64_t o0, int64_t o1) { linear_slice(x, T, in, W, bias, out, y, o0, o1); }, 16);
}

}  // namespace sm
