// SPDX-License-Identifier: Apache-2.0
#pragma once
// The conv and scan of one layer on whatever runs the model: the bound
// device (core/device/bind.h) or the CPU kernels. Shared by MambaModel and
// TreeForward so decode, prefill and tree verification pick the same one.
#include <cstdint>

#include "core/device/device.h"
#include "core/kernels/ssm_kernels.h"
#include "core/model/mamba_weights.h"

namespace sm {

// One conv output row from its K input rows (oldest first), channels [c0, c1).
inline void layer_conv_row(const ModelWeights& w, int l, const float* const* ext, int K, int64_t C, float* o,
                           int64_t c0, int64_t c1) {
  if (w.device)
    w.device->conv_row(w.conv_dev[size_t(l)], ext, o, c0, c1);
  else
    conv_silu_row(ext, K, w.layers[size_t(l)].conv_wT, C, w.layers[size_t(l)].conv_b, o, c0, c1);
}

// causal_conv_silu on the layer's weights (window updated).
inline void layer_causal_conv(const ModelWeights& w, int l, const float* in, int64_t in_stride, int64_t T,
                              int64_t C, int K, float* window, float* out, int64_t c0, int64_t c1) {
  if (!w.device) {
    const LayerWeights& lw = w.layers[size_t(l)];
    causal_conv_silu(in, in_stride, T, C, K, lw.conv_wT, lw.conv_b, window, out, c0, c1);
    return;
  }
  device::Device& d = *w.device;
  const device::Handle h = w.conv_dev[size_t(l)];
  causal_conv_rows(in, in_stride, T, C, K, window, out, c0, c1,
                   [&](const float* const* ext, float* o, int64_t a, int64_t z) { d.conv_row(h, ext, o, a, z); });
}

// quant::pot_scan_mamba2 of layer l (w.pot_ssm non-empty), heads [h0, h1).
inline void layer_pot_scan(const ModelWeights& w, int l, int64_t T, int64_t H, int64_t P, int64_t N,
                           const float* xbc, int64_t xbc_stride, const float* dt_raw, int64_t dt_stride,
                           float* S, float* y, int64_t h0, int64_t h1) {
  if (w.device && w.ssm_dev[size_t(l)] >= 0)
    w.device->ssm_scan(w.ssm_dev[size_t(l)], T, xbc, xbc_stride, dt_raw, dt_stride, S, y, h0, h1);
  else
    quant::pot_scan_mamba2(T, H, P, N, xbc, xbc_stride, dt_raw, dt_stride, w.pot_ssm[size_t(l)], *w.ssm_tables,
                           w.quant.ssm.group, S, y, h0, h1);
}

}  // namespace sm
