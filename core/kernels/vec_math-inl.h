// SPDX-License-Identifier: Apache-2.0
// Per-target vector math shared by the kernels (included once per Highway
// target from a file that includes hwy/foreach_target.h). The usual Highway
// guard lets it be re-included for each target.
#if defined(SM_KERNELS_VEC_MATH_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SM_KERNELS_VEC_MATH_INL_H_
#undef SM_KERNELS_VEC_MATH_INL_H_
#else
#define SM_KERNELS_VEC_MATH_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace sm {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 lanes: the packed weight blocks are 16 floats wide.
using DF = hn::CappedTag<float, 16>;
using VF = hn::Vec<DF>;

// The scalar exp_fast polynomial (≈2 ulp) on a vector.
template <class D, class V>
HWY_INLINE V ExpFast(D d, V x) {
  const hn::RebindToSigned<D> di;
  x = hn::Min(hn::Max(x, hn::Set(d, -87.3f)), hn::Set(d, 88.0f));
  const V n = hn::Floor(hn::MulAdd(x, hn::Set(d, 1.44269504088896341f), hn::Set(d, 0.5f)));
  V f = hn::NegMulAdd(n, hn::Set(d, 0.693359375f), x);
  f = hn::NegMulAdd(n, hn::Set(d, -2.12194440e-4f), f);
  V p = hn::Set(d, 1.9875691500e-4f);
  p = hn::MulAdd(p, f, hn::Set(d, 1.3981999507e-3f));
  p = hn::MulAdd(p, f, hn::Set(d, 8.3334519073e-3f));
  p = hn::MulAdd(p, f, hn::Set(d, 4.1665795894e-2f));
  p = hn::MulAdd(p, f, hn::Set(d, 1.6666665459e-1f));
  p = hn::MulAdd(p, f, hn::Set(d, 5.0000001201e-1f));
  const V r = hn::Add(hn::MulAdd(hn::Mul(p, f), f, f), hn::Set(d, 1.0f));
  const auto e = hn::ShiftLeft<23>(hn::Add(hn::ConvertTo(di, n), hn::Set(di, 127)));
  return hn::Mul(r, hn::BitCast(d, e));
}

template <class D, class V>
HWY_INLINE V Silu(D d, V x) {
  return hn::Div(x, hn::Add(hn::Set(d, 1.0f), ExpFast(d, hn::Neg(x))));
}

// torch's softplus (threshold 20).
template <class D, class V>
HWY_INLINE V Softplus(D d, V x) {
  return hn::IfThenElse(hn::Gt(x, hn::Set(d, 20.0f)), x, hn::Log1p(d, ExpFast(d, x)));
}

// Calls f(d, i, count) for full vectors and once for the tail, where f loads
// with LoadPart and stores with StorePart: the tail runs the same vector code
// on a zero-padded copy, so an element's result never depends on where it
// sits in the range (the path-independence the bit-exactness tests need).
template <class F>
HWY_INLINE void ForEachVector(int64_t n, const F& f) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + L <= n; i += L) f(d, i, L);
  if (i < n) f(d, i, n - i);
}

// Loads `count` floats (count <= Lanes) from p, zero-padding the rest.
HWY_INLINE VF LoadPart(DF d, const float* p, int64_t count) {
  if (count == static_cast<int64_t>(hn::Lanes(d))) return hn::LoadU(d, p);
  HWY_ALIGN float buf[16] = {};
  std::memcpy(buf, p, static_cast<size_t>(count) * sizeof(float));
  return hn::Load(d, buf);
}

HWY_INLINE void StorePart(DF d, VF v, float* p, int64_t count) {
  if (count == static_cast<int64_t>(hn::Lanes(d))) return hn::StoreU(v, d, p);
  HWY_ALIGN float buf[16];
  hn::Store(v, d, buf);
  std::memcpy(p, buf, static_cast<size_t>(count) * sizeof(float));
}

}  // namespace HWY_NAMESPACE
}  // namespace sm
HWY_AFTER_NAMESPACE();

#endif  // SM_KERNELS_VEC_MATH_INL_H_
