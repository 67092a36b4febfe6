// SPDX-License-Identifier: Apache-2.0
#include "core/kernels/ssm_kernels.h"

#include <cstring>
#include <vector>

#include "core/kernels/math_kernels.h"
#include "core/kernels/vector_ops.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels/ssm_kernels.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "core/kernels/vec_math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace sm {
namespace HWY_NAMESPACE {

constexpr int64_t kLanes = static_cast<int64_t>(hn::MaxLanes(DF()));

void ConvSiluRow(const float* const* ext, int K, const float* wT, int64_t C, const float* b,
                 float* o, int64_t c0, int64_t c1) {
  ForEachVector(c1 - c0, [&](DF d, int64_t i, int64_t n) {
    const int64_t c = c0 + i;
    VF acc = b ? LoadPart(d, b + c, n) : hn::Zero(d);
    for (int k = 0; k < K; ++k) acc = hn::MulAdd(LoadPart(d, wT + k * C + c, n), LoadPart(d, ext[k] + c, n), acc);
    StorePart(d, Silu(d, acc), o + c, n);
  });
}

// One Mamba-1 channel step on NV vectors of state (count = valid floats of
// the last): s = s * exp(dt * A) + (dt * x) * B; returns sum(s * C).
template <class LoadS, class StoreS>
HWY_INLINE float Mamba1Step(DF d, int64_t NV, int64_t N, const float* a, const float* B,
                            const float* C, float dtv, float dtx, const LoadS& load_s,
                            const StoreS& store_s) {
  const VF dv = hn::Set(d, dtv), xv = hn::Set(d, dtx);
  VF acc = hn::Zero(d);
  for (int64_t j = 0; j < NV; ++j) {
    const int64_t n = std::min<int64_t>(kLanes, N - j * kLanes);
    const VF dA = ExpFast(d, hn::Mul(dv, LoadPart(d, a + j * kLanes, n)));
    const VF s = hn::MulAdd(load_s(j), dA, hn::Mul(xv, LoadPart(d, B + j * kLanes, n)));
    store_s(j, s, n);
    acc = hn::MulAdd(s, LoadPart(d, C + j * kLanes, n), acc);
  }
  return hn::GetLane(hn::SumOfLanes(d, acc));
}

// d_state 16 (every public Mamba-1): the state of CH channels stays in
// registers across time steps; CH independent chains hide each other's latency.
template <int CH>
HWY_INLINE void Mamba1N16(int64_t T, int64_t E, const float* x, const float* dt, const float* bc,
                          int64_t bc_stride, int64_t b_off, int64_t c_off, const float* A,
                          const float* D, float* S, float* y, int64_t e) {
  const DF d;
  constexpr int64_t NV = 16 / kLanes;
  VF s[CH][NV];
  for (int c = 0; c < CH; ++c)
    for (int64_t j = 0; j < NV; ++j) s[c][j] = hn::LoadU(d, S + (e + c) * 16 + j * kLanes);
  for (int64_t t = 0; t < T; ++t) {
    const float* B = bc + t * bc_stride + b_off;
    const float* Cm = bc + t * bc_stride + c_off;
    for (int c = 0; c < CH; ++c) {
      const int64_t ch = e + c;
      const float dv = dt[t * E + ch], xv = x[t * E + ch];
      const float r = Mamba1Step(
          d, NV, 16, A + ch * 16, B, Cm, dv, dv * xv, [&](int64_t j) { return s[c][j]; },
          [&](int64_t j, VF v, int64_t) { s[c][j] = v; });
      y[t * E + ch] = r + D[ch] * xv;
    }
  }
  for (int c = 0; c < CH; ++c)
    for (int64_t j = 0; j < NV; ++j) hn::StoreU(s[c][j], d, S + (e + c) * 16 + j * kLanes);
}

void ScanMamba1(int64_t T, int64_t E, int64_t N, const float* x, const float* dt, const float* bc,
                int64_t bc_stride, int64_t b_off, int64_t c_off, const float* A, const float* D,
                float* S, float* y, int64_t e0, int64_t e1) {
  int64_t e = e0;
  if (N == 16 && kLanes > 1) {
    for (; e + 4 <= e1; e += 4) Mamba1N16<4>(T, E, x, dt, bc, bc_stride, b_off, c_off, A, D, S, y, e);
    for (; e < e1; ++e) Mamba1N16<1>(T, E, x, dt, bc, bc_stride, b_off, c_off, A, D, S, y, e);
    return;
  }
  const DF d;
  const int64_t NV = (N + kLanes - 1) / kLanes;
  for (; e < e1; ++e) {
    float* s = S + e * N;
    for (int64_t t = 0; t < T; ++t) {
      const float dv = dt[t * E + e], xv = x[t * E + e];
      const float* row = bc + t * bc_stride;
      const float r = Mamba1Step(
          d, NV, N, A + e * N, row + b_off, row + c_off, dv, dv * xv,
          [&](int64_t j) { return LoadPart(d, s + j * kLanes, std::min<int64_t>(kLanes, N - j * kLanes)); },
          [&](int64_t j, VF v, int64_t n) { StorePart(d, v, s + j * kLanes, n); });
      y[t * E + e] = r + D[e] * xv;
    }
  }
}

// R head rows of one Mamba-2 step: s = s * dA + (dt * x[p]) * B; y[p] = sum(s * C) + D * x[p].
// Rows are independent, so grouping them (for latency) never changes a row's result.
template <int R>
HWY_INLINE void Mamba2Rows(int64_t N, float* s, const float* x, const float* B, const float* C,
                           float dt, float dA, float Dh, float* y) {
  const DF d;
  const VF dAv = hn::Set(d, dA);
  VF dtx[R], acc[R];
  for (int r = 0; r < R; ++r) {
    dtx[r] = hn::Set(d, dt * x[r]);
    acc[r] = hn::Zero(d);
  }
  if (N % kLanes == 0) {  // every public shape: whole vectors, no tail copies
    for (int64_t i = 0; i < N; i += kLanes) {
      const VF b = hn::LoadU(d, B + i), c = hn::LoadU(d, C + i);
      for (int r = 0; r < R; ++r) {
        float* sr = s + r * N + i;
        const VF v = hn::MulAdd(hn::LoadU(d, sr), dAv, hn::Mul(dtx[r], b));
        hn::StoreU(v, d, sr);
        acc[r] = hn::MulAdd(v, c, acc[r]);
      }
    }
    for (int r = 0; r < R; ++r) y[r] = hn::GetLane(hn::SumOfLanes(d, acc[r])) + Dh * x[r];
    return;
  }
  ForEachVector(N, [&](DF dd, int64_t i, int64_t n) {
    const VF b = LoadPart(dd, B + i, n), c = LoadPart(dd, C + i, n);
    for (int r = 0; r < R; ++r) {
      float* sr = s + r * N + i;
      const VF v = hn::MulAdd(LoadPart(dd, sr, n), dAv, hn::Mul(dtx[r], b));
      StorePart(dd, v, sr, n);
      acc[r] = hn::MulAdd(v, c, acc[r]);
    }
  });
  for (int r = 0; r < R; ++r) y[r] = hn::GetLane(hn::SumOfLanes(d, acc[r])) + Dh * x[r];
}

void ScanMamba2(int64_t T, int64_t H, int64_t P, int64_t N, int64_t G, const float* xbc,
                int64_t xbc_stride, const float* dt, const float* A, const float* D, float* S,
                float* y, int64_t h0, int64_t h1) {
  const int64_t E = H * P, heads_per_group = H / G;
  for (int64_t h = h0; h < h1; ++h) {
    const int64_t g = h / heads_per_group;
    float* sh = S + h * P * N;
    for (int64_t t = 0; t < T; ++t) {
      const float* row = xbc + t * xbc_stride;
      const float* x = row + h * P;
      const float* B = row + E + g * N;
      const float* Cm = row + E + G * N + g * N;
      const float d = dt[t * H + h];
      const float dA = exp_fast(d * A[h]);
      float* yo = y + t * E + h * P;
      int64_t p = 0;
      for (; p + 4 <= P; p += 4) Mamba2Rows<4>(N, sh + p * N, x + p, B, Cm, d, dA, D[h], yo + p);
      for (; p < P; ++p) Mamba2Rows<1>(N, sh + p * N, x + p, B, Cm, d, dA, D[h], yo + p);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace sm
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sm {

HWY_EXPORT(ConvSiluRow);
HWY_EXPORT(ScanMamba1);
HWY_EXPORT(ScanMamba2);

void conv_silu_row(const float* const* ext, int K, const float* wT, int64_t C, const float* b,
                   float* o, int64_t c0, int64_t c1) {
  HWY_DYNAMIC_DISPATCH(ConvSiluRow)(ext, K, wT, C, b, o, c0, c1);
}

void causal_conv_silu(const float* in, int64_t in_stride, int64_t T, int64_t C, int K,
                      const float* wT, const float* b, float* window, float* out, int64_t c0,
                      int64_t c1) {
  causal_conv_rows(in, in_stride, T, C, K, window, out, c0, c1,
                   [&](const float* const* ext, float* o, int64_t a, int64_t z) {
                     conv_silu_row(ext, K, wT, C, b, o, a, z);
                   });
}

void causal_conv_rows(const float* in, int64_t in_stride, int64_t T, int64_t C, int K, float* window,
                      float* out, int64_t c0, int64_t c1, const ConvRowFn& row_fn) {
  const int64_t W = K - 1;
  // Row r of the extended input: the window for r < W, else input row r - W.
  auto row = [&](int64_t r) -> const float* { return r < W ? window + r * C : in + (r - W) * in_stride; };
  std::vector<const float*> ext(static_cast<size_t>(K));
  for (int64_t t = 0; t < T; ++t) {
    for (int k = 0; k < K; ++k) ext[k] = row(t + k);
    row_fn(ext.data(), out + t * C, c0, c1);
  }
  // New window: the last W rows of ext (rows T .. T+W-1).
  if (W > 0) {
    std::vector<float> tmp(static_cast<size_t>(W * (c1 - c0)));
    for (int64_t r = 0; r < W; ++r)
      std::memcpy(&tmp[r * (c1 - c0)], row(T + r) + c0, (c1 - c0) * sizeof(float));
    for (int64_t r = 0; r < W; ++r)
      std::memcpy(window + r * C + c0, &tmp[r * (c1 - c0)], (c1 - c0) * sizeof(float));
  }
}

void scan_mamba1(int64_t T, int64_t E, int64_t N, const float* x, const float* dt,
                 const float* bc, int64_t bc_stride, int64_t b_off, int64_t c_off,
                 const float* A, const float* D, float* S, float* y, int64_t e0, int64_t e1) {
  HWY_DYNAMIC_DISPATCH(ScanMamba1)(T, E, N, x, dt, bc, bc_stride, b_off, c_off, A, D, S, y, e0, e1);
}

void scan_mamba2(int64_t T, int64_t H, int64_t P, int64_t N, int64_t G, const float* xbc,
                 int64_t xbc_stride, const float* dt, const float* A, const float* D, float* S,
                 float* y, int64_t h0, int64_t h1) {
  HWY_DYNAMIC_DISPATCH(ScanMamba2)(T, H, P, N, G, xbc, xbc_stride, dt, A, D, S, y, h0, h1);
}

void gated_rms_norm(float* y, int64_t y_stride, const float* z, int64_t z_stride, int64_t T,
                    int64_t E, int64_t G, const float* w, float eps) {
  const int64_t gs = E / G;
  for (int64_t t = 0; t < T; ++t) {
    float* yr = y + t * y_stride;
    mul_silu(yr, z + t * z_stride, E);
    for (int64_t g = 0; g < G; ++g) rms_norm(yr + g * gs, w + g * gs, yr + g * gs, gs, eps);
  }
}

}  // namespace sm
#endif
