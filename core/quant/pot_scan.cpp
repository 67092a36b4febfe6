// SPDX-License-Identifier: Apache-2.0
#include "core/quant/pot_scan.h"

#include <algorithm>
#include <span>
#include <vector>

namespace sm::quant {

namespace {

std::vector<int32_t> slice(const std::vector<int32_t>& v, int64_t h0, int64_t h1) {
  return {v.begin() + h0, v.begin() + h1};
}

void store(const PotTensor& t, float* out) {
  const std::vector<float> v = dequantize(t);
  std::copy(v.begin(), v.end(), out);
}

}  // namespace

void pot_scan_mamba2(int64_t T, int64_t H, int64_t P, int64_t N, const float* xbc, int64_t xbc_stride,
                     const float* dt_raw, int64_t dt_stride, const PotSsmLayer& layer,
                     const SsmTables& tables, int64_t group, float* S, float* y, int64_t h0, int64_t h1) {
  const int64_t nh = h1 - h0, E = H * P;
  if (nh <= 0) return;
  const SsmParamsFixed params{slice(layer.params.A, h0, h1), slice(layer.params.D, h0, h1),
                              slice(layer.params.dt_bias, h0, h1)};
  const SsmShape shape{nh, P, N};
  float* state = S + h0 * P * N;
  for (int64_t t = 0; t < T; ++t) {
    const float* row = xbc + t * xbc_stride;
    const PotTensor x = quantize_pot(std::span<const float>(row + h0 * P, size_t(nh * P)), group);
    // One exponent per head: a head's dt never depends on its neighbours'.
    const PotTensor dt = quantize_pot(std::span<const float>(dt_raw + t * dt_stride + h0, size_t(nh)), 1);
    const PotTensor B = quantize_pot(std::span<const float>(row + E, size_t(N)), group);
    const PotTensor C = quantize_pot(std::span<const float>(row + E + N, size_t(N)), group);
    const PotTensor h = quantize_pot(std::span<const float>(state, size_t(nh * P * N)), group);
    const SsmStepInt out = ssm_step_mamba2_int(shape, x, dt, B, C, h, params, tables, group);
    store(out.h, state);
    store(out.y, y + t * E + h0 * P);
  }
}

}  // namespace sm::quant
