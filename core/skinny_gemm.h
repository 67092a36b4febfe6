// SPDX-License-Identifier: Apache-2.0
#pragma once
// y[t][o] = sum_i x[t][i] * W[o][i] for a few rows t (T <= kSkinnyMaxRows):
// decode (T = 1) and tree verification (a handful of nodes). These shapes are
// memory-bound, so the kernel streams each weight row once for all T inputs;
// OpenBLAS's sgemv reached only about half the read bandwidth here.
#include <cstdint>

namespace sm {

constexpr int64_t kSkinnyMaxRows = 8;

// Output rows [o0, o1) of y (row stride ldy); x is [T][in] contiguous.
void skinny_gemm(const float* x, int64_t T, int64_t in, const float* W, int64_t o0, int64_t o1,
                 float* y, int64_t ldy);

}  // namespace sm
