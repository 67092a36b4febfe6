// SPDX-License-Identifier: Apache-2.0
#pragma once
// The sequential parts of a Mamba block over a chain of T tokens: causal
// depthwise conv1d and the selective scans, dispatched to the CPU's best SIMD
// target (simd.h). Each function works on a channel (or head) range so
// callers can split it across threads; channels and heads are independent,
// so any split is exact, and a channel's result never depends on T, the
// range or the alignment (decode, tree and prefill agree bit for bit).
#include <cstdint>
#include <functional>

namespace sm {

// o[c] = silu(b[c] + sum_k wT[k * C + c] * ext[k][c]) for c in [c0, c1):
// one conv output row from its K input rows (oldest first). b may be null.
void conv_silu_row(const float* const* ext, int K, const float* wT, int64_t C, const float* b,
                   float* o, int64_t c0, int64_t c1);

// out[t][c] = conv_silu_row over ext = window (K-1 rows, oldest first)
// followed by the T input rows (in + t * in_stride), for c in [c0, c1). The
// window then holds the last K-1 inputs.
void causal_conv_silu(const float* in, int64_t in_stride, int64_t T, int64_t C, int K,
                      const float* wT, const float* b, float* window, float* out, int64_t c0,
                      int64_t c1);

// The same windowing with each output row computed by `row(ext, o, c0, c1)`
// (a device's conv, core/device): ext holds the row's K inputs, oldest first.
using ConvRowFn = std::function<void(const float* const* ext, float* o, int64_t c0, int64_t c1)>;
void causal_conv_rows(const float* in, int64_t in_stride, int64_t T, int64_t C, int K, float* window,
                      float* out, int64_t c0, int64_t c1, const ConvRowFn& row);

// Mamba-1 selective scan for channels [e0, e1).
//   x, dt: [T][E]; bc: [T][bc_stride] with B at +b_off and C at +c_off (N each)
//   S: [E][N] updated in place; y: [T][E] = S.C + D*x
void scan_mamba1(int64_t T, int64_t E, int64_t N, const float* x, const float* dt,
                 const float* bc, int64_t bc_stride, int64_t b_off, int64_t c_off,
                 const float* A, const float* D, float* S, float* y, int64_t e0, int64_t e1);

// Mamba-2 scan for heads [h0, h1) (head dim P, groups G over H heads).
//   xbc: [T][xbc_stride], x at 0 (H*P), B at E (G*N), C at E + G*N
//   dt: [T][H] already softplus'ed; S: [H][P][N]; y: [T][E]
void scan_mamba2(int64_t T, int64_t H, int64_t P, int64_t N, int64_t G, const float* xbc,
                 int64_t xbc_stride, const float* dt, const float* A, const float* D, float* S,
                 float* y, int64_t h0, int64_t h1);

// y[t] = RMSNorm over each of G groups of (y[t] * silu(z[t])) * w, in place.
void gated_rms_norm(float* y, int64_t y_stride, const float* z, int64_t z_stride, int64_t T,
                    int64_t E, int64_t G, const float* w, float eps);

}  // namespace sm
