// SPDX-License-Identifier: Apache-2.0
#include "core/kernels/vector_ops.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels/vector_ops.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "core/kernels/vec_math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace sm {
namespace HWY_NAMESPACE {

void RmsNorm(const float* x, const float* w, float* y, int64_t n, float eps) {
  // Four accumulators for latency; which vector feeds which depends on n only.
  const DF d;
  VF acc[4] = {hn::Zero(d), hn::Zero(d), hn::Zero(d), hn::Zero(d)};
  int k = 0;
  ForEachVector(n, [&](DF dd, int64_t i, int64_t c) {
    const VF v = LoadPart(dd, x + i, c);
    acc[k] = hn::MulAdd(v, v, acc[k]);
    k = (k + 1) & 3;
  });
  const VF s = hn::Add(hn::Add(acc[0], acc[1]), hn::Add(acc[2], acc[3]));
  const float ss = hn::GetLane(hn::SumOfLanes(d, s));
  const VF scale = hn::Set(d, 1.0f / std::sqrt(ss / static_cast<float>(n) + eps));
  ForEachVector(n, [&](DF dd, int64_t i, int64_t c) {
    StorePart(dd, hn::Mul(hn::Mul(LoadPart(dd, x + i, c), scale), LoadPart(dd, w + i, c)), y + i, c);
  });
}

void MulSilu(float* y, const float* z, int64_t n) {
  ForEachVector(n, [&](DF d, int64_t i, int64_t c) {
    StorePart(d, hn::Mul(LoadPart(d, y + i, c), Silu(d, LoadPart(d, z + i, c))), y + i, c);
  });
}

void SiluTimes(const float* z, const float* x, float* out, int64_t n) {
  ForEachVector(n, [&](DF d, int64_t i, int64_t c) {
    StorePart(d, hn::Mul(Silu(d, LoadPart(d, z + i, c)), LoadPart(d, x + i, c)), out + i, c);
  });
}

void SoftplusClamp(const float* in, const float* bias, float* out, int64_t n, float lo, float hi) {
  ForEachVector(n, [&](DF d, int64_t i, int64_t c) {
    VF v = LoadPart(d, in + i, c);
    if (bias) v = hn::Add(v, LoadPart(d, bias + i, c));
    v = hn::Min(hn::Max(Softplus(d, v), hn::Set(d, lo)), hn::Set(d, hi));
    StorePart(d, v, out + i, c);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace sm
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sm {
HWY_EXPORT(RmsNorm);
HWY_EXPORT(MulSilu);
HWY_EXPORT(SiluTimes);
HWY_EXPORT(SoftplusClamp);

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
  HWY_DYNAMIC_DISPATCH(RmsNorm)(x, w, y, n, eps);
}
void mul_silu(float* y, const float* z, int64_t n) { HWY_DYNAMIC_DISPATCH(MulSilu)(y, z, n); }
void silu_times(const float* z, const float* x, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SiluTimes)(z, x, out, n);
}
void softplus_clamp(const float* in, const float* bias, float* out, int64_t n, float lo, float hi) {
  HWY_DYNAMIC_DISPATCH(SoftplusClamp)(in, bias, out, n, lo, hi);
}
}  // namespace sm
#endif
