// SPDX-License-Identifier: Apache-2.0
// The PoT SSM scan: the reference composition and the fast path. The fast
// path's exactness argument is in docs/ssm-quant.md ("Fast path"); the
// comments below name the bound each step relies on.
#include "core/quant/pot_scan.h"

#include <algorithm>
#include <bit>
#include <climits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "core/io/error.h"
#include "core/quant/quantizers.h"

#ifndef SM_QUANT_POT_SCAN_SHARED_
#define SM_QUANT_POT_SCAN_SHARED_
namespace sm::quant::pot_detail {

constexpr const char* kWhere = "quant::pot_scan_mamba2";

// One call's arguments, the same for every SIMD target.
struct ScanArgs {
  int64_t T, H, P, N, G, xbc_stride, dt_stride, h0, h1;
  const float* xbc;
  const float* dt;
  const SsmParamsFixed* params;
  const SsmTables* tables;
  float* S;
  float* y;
};

// Per-thread scratch: grows to the largest shape seen, never shrinks, so a
// thread allocates nothing once warm. Codes are int32 (the SIMD lane type).
struct Scratch {
  std::vector<int32_t> bq, cq;   // [T][N] B, C codes
  std::vector<int32_t> be, ce;   // [T][N/G] their exponents
  std::vector<int32_t> dbq;      // [N] dt*B codes of the head being stepped
  std::vector<int32_t> dbe;      // [N/G]
  std::vector<uint8_t> dbz;      // [N/G] 1 when the dt*B group is all zero
  std::vector<int32_t> xq, xe;   // [P], [P/G] x codes and exponents of the head
  std::vector<int32_t> dot, dote;  // [P][N/G] C . h' of every state group of the head, exponent
  std::vector<int32_t> tmp;      // [G * 8] int32 lanes (a group, or a block's [G][L])
  std::vector<float> tf;         // [G * 8] a block's floats, transposed
  std::vector<int32_t> xg, e2g, k2g;  // [P * N/G] lane tables of the block path
  std::vector<int32_t> dbT;      // [N/G][G][8]
  std::vector<int32_t> cT, ceT;  // [T][N/G][G][8], [T][N/G][8]
  std::vector<int64_t> ysum;     // [G] the int64 sums of one output group
  std::vector<int8_t> c8;        // [3G] int8 codes for the exact int64 fallback
};

[[noreturn]] inline void fail_nonfinite() { fail(kWhere, "non-finite value in x, dt, B, C or the state"); }
[[noreturn]] inline void fail_exponent(int s) {
  fail(kWhere, "result exponent " + std::to_string(s) + " above the int16 window");
}
[[noreturn]] inline void fail_range() { fail(kWhere, "result beyond float range"); }

// 2^k as a float, k in [-126, 127] (a normal number, exact).
inline float pow2f(int k) { return std::bit_cast<float>(uint32_t(k + 127) << 23); }

// act_exponent(m, 8) (quantize_activations' rule) from the float bits of a
// group's largest |x| (> 0, finite): s = ceil(log2 m) - 7, exact. Floats
// give -156 .. 121, inside [kActExpMin, kActExpMax].
inline int float_group_exp(uint32_t m) {
  const uint32_t E = m >> 23, F = m & 0x7fffffu;
  const int ceil_log2 = E == 0 ? -149 + int(std::bit_width(F - 1)) : int(E) - 127 + (F != 0 ? 1 : 0);
  return ceil_log2 - 7;
}

// The requantization exponent of a group of exact values v * 2^e with
// max |v| = m > 0 (quantize_pot_group's rule): ceil(log2 m) + e - 7, raised
// to kActExpMin; above kActExpMax is an error.
inline int fixed_group_exp(uint64_t m, int e) {
  const int s = std::max(int(std::bit_width(m - 1)) + e - 7, kActExpMin);
  if (s > kActExpMax) fail_exponent(s);
  return s;
}

// round_shift(v, k) for |v| < 2^62 and a result that fits (the callers' bounds).
inline int64_t shift_round(int64_t v, int k) {
  if (v == 0) return 0;  // any k: a zero term may come with a shift past 63
  if (k >= 0) return v < 0 ? -int64_t(uint64_t(-v) << k) : int64_t(uint64_t(v) << k);
  const int n = -k;
  if (n >= 63) return 0;  // |v| < 2^62 < 2^(n-1): below one half
  const uint64_t u = v < 0 ? uint64_t(-v) : uint64_t(v);
  const int64_t r = int64_t((u + (uint64_t(1) << (n - 1))) >> n);
  return v < 0 ? -r : r;
}

// One float quantized alone (dt: a group of one), as quantize_activations.
inline int quant_float1(float x, int* exp) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t m = bits & 0x7fffffffu;
  if (m >= 0x7f800000u) fail_nonfinite();
  *exp = 0;
  if (m == 0) return 0;
  const int s = float_group_exp(m), k = 1 - s, ka = k >> 1;
  // |x| * 2^(1-s) <= 256 in two exact steps (each factor a normal float);
  // floor of twice the value, then (n + 1) >> 1 is round-half-away.
  const float sc = std::bit_cast<float>(m) * pow2f(ka) * pow2f(k - ka);
  const int c = std::min((int(sc) + 1) >> 1, 127);
  *exp = s;
  return (bits >> 31) ? -c : c;
}

}  // namespace sm::quant::pot_detail
#endif  // SM_QUANT_POT_SCAN_SHARED_

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/quant/pot_scan.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace sm::quant {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace pot_detail;  // NOLINT

// ---------------------------------------------------------------- lanes
// A group of G values is NV vectors of L lanes (L a power of two dividing G).

// Codes of one float vector given the group exponent s as fa * fb = 2^(1-s):
// |x| * fa is exact (or, when fa < 1, either exact or below 2^-126 and then
// so is the product, whose code is 0 anyway), * fb likewise, the result is
// 2|x| 2^-s <= 256, truncation gives floor, (n + 1) >> 1 rounds half away.
template <class D, class VF = hn::Vec<D>>
HWY_INLINE hn::Vec<hn::RebindToSigned<D>> FloatCodes(D d, VF x, VF fa, VF fb) {
  const hn::RebindToSigned<D> di;
  const auto n = hn::ConvertTo(di, hn::Mul(hn::Mul(hn::Abs(x), fa), fb));
  const auto c = hn::Min(hn::ShiftRight<1>(hn::Add(n, hn::Set(di, 1))), hn::Set(di, 127));
  const auto sgn = hn::ShiftRight<31>(hn::BitCast(di, x));  // 0 or -1 (-0.0 gives code 0)
  return hn::Sub(hn::Xor(c, sgn), sgn);
}

// Largest |x| of a group as float bits (integer max of the magnitude bits:
// exact, and NaN / inf compare above every finite value).
template <class D>
HWY_INLINE uint32_t AbsMaxBits(D d, int64_t NV, const float* HWY_RESTRICT x) {
  const hn::RebindToSigned<D> di;
  const size_t L = hn::Lanes(d);
  const auto mask = hn::Set(di, 0x7fffffff);
  auto mx = hn::Zero(di);
  for (int64_t j = 0; j < NV; ++j) mx = hn::Max(mx, hn::And(hn::BitCast(di, hn::LoadU(d, x + j * L)), mask));
  return uint32_t(hn::GetLane(hn::MaxOfLanes(di, mx)));
}

// quantize_activations (8 bits) of one group of floats into int32 codes.
template <class D>
HWY_INLINE int QuantFloatGroup(D d, int64_t NV, const float* HWY_RESTRICT x, int32_t* HWY_RESTRICT codes) {
  const hn::RebindToSigned<D> di;
  const size_t L = hn::Lanes(d);
  const uint32_t m = AbsMaxBits(d, NV, x);
  if (m >= 0x7f800000u) fail_nonfinite();
  if (m == 0) {
    for (int64_t j = 0; j < NV; ++j) hn::StoreU(hn::Zero(di), di, codes + j * L);
    return 0;
  }
  const int s = float_group_exp(m), k = 1 - s, ka = k >> 1;
  const auto fa = hn::Set(d, pow2f(ka)), fb = hn::Set(d, pow2f(k - ka));
  for (int64_t j = 0; j < NV; ++j) hn::StoreU(FloatCodes(d, hn::LoadU(d, x + j * L), fa, fb), di, codes + j * L);
  return s;
}

// Codes of exact int32 values v * 2^e (|v| < 2^31) at exponent s = e + k:
// round_shift(v, -k) clamped to +-127. k <= 0 only when max |v| < 128 (a
// left shift by <= 7, no overflow); |v| + 2^(k-1) < 2^32 fits uint32.
template <class DI, class VI = hn::Vec<DI>>
HWY_INLINE VI RequantCodes(DI di, VI v, int k) {
  const hn::RebindToUnsigned<DI> du;
  const VI a = hn::Abs(v);
  VI c;
  if (k <= 0) {
    c = hn::ShiftLeftSame(a, -k);
  } else if (k < 32) {
    c = hn::BitCast(di, hn::ShiftRightSame(hn::Add(hn::BitCast(du, a), hn::Set(du, uint32_t(1) << (k - 1))), k));
  } else {
    c = hn::Zero(di);  // |v| < 2^31 <= 2^(k-1): below one half
  }
  c = hn::Min(c, hn::Set(di, 127));
  const VI sgn = hn::ShiftRight<31>(v);
  return hn::Sub(hn::Xor(c, sgn), sgn);
}

// Floats code * 2^s, each rounded once: code * 2^(s>>1) is exact (|s>>1| <= 80).
template <class D, class VI>
HWY_INLINE hn::Vec<D> DequantCodes(D d, VI c, hn::Vec<D> fa, hn::Vec<D> fb) {
  return hn::Mul(hn::Mul(hn::ConvertTo(d, c), fa), fb);
}

// code * 2^s of a float group can exceed FLT_MAX only if 127 * 2^s does (s >= 122).
template <class D>
HWY_INLINE void CheckRange(D d, int64_t NV, const float* HWY_RESTRICT x, int s) {
  if (s > 121 && AbsMaxBits(d, NV, x) >= 0x7f800000u) fail_range();
}

// ------------------------------------------------------------- per head

// Step 5 for one group: dB = requantized sp * B codes (|v| <= 127^2).
template <class D>
HWY_INLINE int DtBGroup(D d, int64_t NV, int sp, int e, const int32_t* HWY_RESTRICT bq, int32_t* HWY_RESTRICT out,
                        bool* zero) {
  const hn::RebindToSigned<D> di;
  const size_t L = hn::Lanes(d);
  const auto vs = hn::Set(di, sp);
  auto mx = hn::Zero(di);
  for (int64_t j = 0; j < NV; ++j) mx = hn::Max(mx, hn::Abs(hn::Mul(hn::LoadU(di, bq + j * L), vs)));
  const int32_t m = hn::GetLane(hn::MaxOfLanes(di, mx));
  if (m == 0) {
    for (int64_t j = 0; j < NV; ++j) hn::StoreU(hn::Zero(di), di, out + j * L);
    *zero = true;
    return 0;
  }
  const int s = fixed_group_exp(uint64_t(m), e);
  auto any = hn::Zero(di);
  for (int64_t j = 0; j < NV; ++j) {
    const auto c = RequantCodes(di, hn::Mul(hn::LoadU(di, bq + j * L), vs), s - e);
    any = hn::Or(any, c);
    hn::StoreU(c, di, out + j * L);
  }
  *zero = hn::AllTrue(di, hn::Eq(any, hn::Zero(di)));  // possible when s was raised to kActExpMin
  return s;
}

// Per-head, per-token inputs of the state update.
struct HeadStep {
  int a, eA;                     // dA code and exponent
  const int32_t* dbq;            // [N] dt*B codes
  const int32_t* dbe;            // [N/G]
  const uint8_t* dbz;            // [N/G] the dt*B group is all zero
  const int32_t* xq;             // [P] x codes
  const int32_t* xe;             // [P/G]
  const int32_t* cq;             // [N] C codes
  const int32_t* ce;             // [N/G]
};

// Step 6 + the C . h' dot of step 7 for one state group q (row q / NG,
// group g = q % NG) of one head, in place: quantize the stored floats,
// h' = dA h + dB x, requantize, store the new floats, dot[q] / dote[q].
// Handles every case, including the rare ones the block path leaves to it.
// kNV > 0: NV == kNV, the group lives in registers; kNV == 0: any NV,
// through tmp.
template <class D, int kNV>
HWY_INLINE void StateGroup(D d, int64_t NV, int64_t G, int64_t NG, int64_t q, float* HWY_RESTRICT hg,
                           const HeadStep& hs, int32_t* HWY_RESTRICT dot, int32_t* HWY_RESTRICT dote,
                           int32_t* HWY_RESTRICT tmp, int8_t* HWY_RESTRICT c8) {
  using VI = hn::Vec<hn::RebindToSigned<D>>;
  const hn::RebindToSigned<D> di;
  const size_t L = hn::Lanes(d);
  const int64_t nv = kNV > 0 ? kNV : NV;
  const int64_t g = q % NG, p = q / NG;
  const int a = hs.a, xc = hs.xq[p], ex = hs.xe[p / G];
  const int32_t* HWY_RESTRICT db = hs.dbq + g * G;
  const int32_t* HWY_RESTRICT cq = hs.cq + g * G;
  VI keep[kNV > 0 ? kNV : 1];
  const uint32_t m = AbsMaxBits(d, nv, hg);
  if (m >= 0x7f800000u) fail_nonfinite();
  const int eh = m ? float_group_exp(m) : 0, kq = 1 - eh, kqa = kq >> 1;
  const auto fa = hn::Set(d, pow2f(kqa)), fb = hn::Set(d, pow2f(kq - kqa));
  // The two kinds of terms (dA * h at e1, dB * x at e2) and whether each has
  // a non-zero term: h codes are all zero only for an all-zero group (the
  // group maximum always gets a code >= 64).
  const bool k1 = a != 0 && m != 0, k2 = xc != 0 && !hs.dbz[g];
  const int e1 = hs.eA + eh, e2 = hs.dbe[g] + ex, dd = e1 - e2;
  if (k1 && k2 && (dd > 17 || dd < -17)) [[unlikely]] {
    // Exponents too far apart for int32 lanes (rare: |dA h| and |dB x|
    // 2^17 apart): the reference's own int64 rule on this group.
    for (int64_t j = 0; j < nv; ++j) hn::StoreU(FloatCodes(d, hn::LoadU(d, hg + j * L), fa, fb), di, tmp + j * L);
    for (int64_t j = 0; j < G; ++j) {
      c8[j] = int8_t(tmp[j]);
      c8[G + j] = int8_t(db[j]);
    }
    const int s = ssm_state_group(a, c8, e1, c8 + G, xc, e2, G, c8 + 2 * G);
    for (int64_t j = 0; j < G; ++j) tmp[j] = c8[2 * G + j];
    const int sa = s >> 1;
    const auto ga = hn::Set(d, pow2f(sa)), gb = hn::Set(d, pow2f(s - sa));
    auto acc = hn::Zero(di);
    for (int64_t j = 0; j < nv; ++j) {
      const VI c = hn::LoadU(di, tmp + j * L);
      acc = hn::Add(acc, hn::Mul(c, hn::LoadU(di, cq + j * L)));
      hn::StoreU(DequantCodes(d, c, ga, gb), d, hg + j * L);
    }
    CheckRange(d, nv, hg, s);
    dot[q] = hn::GetLane(hn::SumOfLanes(di, acc));
    dote[q] = hs.ce[g] + s;
    return;
  }
  // Otherwise every non-zero term fits int32 lanes at e = the finer exponent
  // of the kinds present (a kind with no non-zero term is dropped): the
  // coarser kind's shift (<= 17) folds into its scalar factor,
  // |h| * (a << 17) <= 127^2 * 2^17 and the other term <= 127^2, so the sum
  // fits int32 and is the exact value / 2^e. Branch-free.
  const int e = k1 && k2 ? std::min(e1, e2) : (k1 ? e1 : e2);
  const int A1 = k1 ? a << (e1 - e) : 0;
  const int X2 = k2 ? xc << (e2 - e) : 0;
  const VI vA = hn::Set(di, A1), vX = hn::Set(di, X2);
  VI mx = hn::Zero(di);
  for (int64_t j = 0; j < nv; ++j) {
    const VI hc = FloatCodes(d, hn::LoadU(d, hg + j * L), fa, fb);
    const VI v = hn::Add(hn::Mul(hc, vA), hn::Mul(hn::LoadU(di, db + j * L), vX));
    if constexpr (kNV > 0) {
      keep[j] = v;
    } else {
      hn::StoreU(v, di, tmp + j * L);
    }
    mx = hn::Max(mx, hn::Abs(v));
  }
  const int32_t mv = hn::GetLane(hn::MaxOfLanes(di, mx));
  if (mv == 0) {  // all-zero result (nothing to add, or exact cancellation): codes 0, exponent 0
    for (int64_t j = 0; j < nv; ++j) hn::StoreU(hn::Zero(d), d, hg + j * L);
    dot[q] = 0;
    dote[q] = hs.ce[g];
    return;
  }
  const int s = fixed_group_exp(uint64_t(mv), e), k = s - e, sa = s >> 1;
  const auto ga = hn::Set(d, pow2f(sa)), gb = hn::Set(d, pow2f(s - sa));
  VI acc = hn::Zero(di);
  for (int64_t j = 0; j < nv; ++j) {
    VI v;
    if constexpr (kNV > 0) {
      v = keep[j];
    } else {
      v = hn::LoadU(di, tmp + j * L);
    }
    const VI c = RequantCodes(di, v, k);
    acc = hn::Add(acc, hn::Mul(c, hn::LoadU(di, cq + j * L)));  // |sum| <= G * 127^2 < 2^31
    hn::StoreU(DequantCodes(d, c, ga, gb), d, hg + j * L);
  }
  CheckRange(d, nv, hg, s);
  dot[q] = hn::GetLane(hn::SumOfLanes(di, acc));
  dote[q] = hs.ce[g] + s;
}

// ------------------------------------------------- lane = group (blocks)
// L consecutive state groups of a head at once, one group per lane: the L x
// G block is transposed in L x L tiles so that vector j holds element j of
// every group. Every per-group decision of StateGroup becomes a lane-wise
// select, with no horizontal reduction and no scalar round trip. Only the
// common case is handled here; a block with any unusual lane (non-finite,
// a state or result exponent outside [-126, 121], kinds 2^17 apart) is left
// untouched and redone group by group by StateGroup, which is exact in
// every case. Within the common case: 2^(1-eh) and 2^s are normal floats,
// so one multiply quantizes exactly (see FloatCodes) and one dequantizes
// exactly (code * 2^s >= 2^-126 is normal, 127 * 2^121 < FLT_MAX); the
// requantization shift k = bit_width(max|v| - 1) - 7 is in [-7, 24].

#if HWY_TARGET != HWY_SCALAR
template <class D>
constexpr bool kBlockLanes = hn::MaxLanes(D()) == 8 || hn::MaxLanes(D()) == 4;

// In-register transpose of L rows of L floats (L = 4 or 8).
template <class D, class VF = hn::Vec<D>>
HWY_INLINE void Transpose(D d, VF* r) {
  const hn::Repartition<uint64_t, D> d64;
  constexpr size_t L = hn::MaxLanes(D());
  auto lo64 = [&](VF a, VF b) { return hn::BitCast(d, hn::InterleaveLower(d64, hn::BitCast(d64, a), hn::BitCast(d64, b))); };
  auto hi64 = [&](VF a, VF b) { return hn::BitCast(d, hn::InterleaveUpper(d64, hn::BitCast(d64, a), hn::BitCast(d64, b))); };
  if constexpr (L == 4) {
    const VF t0 = hn::InterleaveLower(d, r[0], r[1]), t1 = hn::InterleaveUpper(d, r[0], r[1]);
    const VF t2 = hn::InterleaveLower(d, r[2], r[3]), t3 = hn::InterleaveUpper(d, r[2], r[3]);
    r[0] = lo64(t0, t2);
    r[1] = hi64(t0, t2);
    r[2] = lo64(t1, t3);
    r[3] = hi64(t1, t3);
  } else if constexpr (L == 8) {
    // Within each 128-bit half as for L = 4, then swap halves across rows i, i + 4.
    VF t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
      t[i] = hn::InterleaveLower(d, r[i], r[i + 1]);
      t[i + 1] = hn::InterleaveUpper(d, r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
      u[i] = lo64(t[i], t[i + 2]);
      u[i + 1] = hi64(t[i], t[i + 2]);
      u[i + 2] = lo64(t[i + 1], t[i + 3]);
      u[i + 3] = hi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 4; ++i) {
      r[i] = hn::ConcatLowerLower(d, u[i + 4], u[i]);
      r[i + 4] = hn::ConcatUpperUpper(d, u[i + 4], u[i]);
    }
  }
}

#else
template <class D>
constexpr bool kBlockLanes = false;
#endif

// Lane tables of one head and token for the block path.
struct BlockTables {
  int64_t nph = 1, gcd = 1;   // phases of the group index along blocks
  const int32_t* dbT;         // [nph][G][L]: dB code j of each lane's group
  const int32_t* cT;          // [nph][G][L]: C code j of each lane's group
  const int32_t* ceT;         // [nph][L]: C exponent of each lane's group
  const int32_t* xg;          // [P*NG]: x code of each group's row
  const int32_t* e2g;         // [P*NG]: dB exponent + x exponent
  const int32_t* k2g;         // [P*NG]: -1 when dB x has a non-zero term, else 0
};

#if HWY_TARGET != HWY_SCALAR
// bit_width(x) for 0 <= x < 2^31 - 64, lane-wise: the exponent of float(x),
// one less when rounding carried it to the next power of two.
template <class DI, class VI = hn::Vec<DI>>
HWY_INLINE VI BitWidth(DI di, VI x) {
  const hn::Rebind<float, DI> df;
  const VI E = hn::Sub(hn::ShiftRight<23>(hn::BitCast(di, hn::ConvertTo(df, x))), hn::Set(di, 127));
  const VI Ec = hn::Max(E, hn::Zero(di));
  const VI carried = hn::VecFromMask(di, hn::Lt(x, hn::Set(di, 1) << Ec));  // -1 where x < 2^E
  const VI bw = hn::Add(hn::Add(Ec, hn::Set(di, 1)), carried);
  return hn::IfThenZeroElse(hn::Eq(x, hn::Zero(di)), bw);
}

// One block of L groups starting at group q0; false (nothing written) when a
// lane is unusual. tf / tv: [G][L] scratch.
template <class D>
HWY_INLINE bool StateBlock(D d, int64_t G, int64_t q0, float* HWY_RESTRICT blk, const HeadStep& hs,
                           const BlockTables& bt, int64_t ph, int32_t* HWY_RESTRICT dot, int32_t* HWY_RESTRICT dote,
                           float* HWY_RESTRICT tf, int32_t* HWY_RESTRICT tv) {
  using VF = hn::Vec<D>;
  const hn::RebindToSigned<D> di;
  using VI = hn::Vec<decltype(di)>;
  constexpr size_t L = hn::MaxLanes(D());
  // Load and transpose: tf[j] = element j of the L groups.
  VI mb = hn::Zero(di);
  const VI absmask = hn::Set(di, 0x7fffffff);
  for (int64_t t0 = 0; t0 < G; t0 += int64_t(L)) {
    VF r[L];
    for (size_t i = 0; i < L; ++i) r[i] = hn::LoadU(d, blk + int64_t(i) * G + t0);
    Transpose(d, r);
    for (size_t i = 0; i < L; ++i) {
      hn::StoreU(r[i], d, tf + (t0 + int64_t(i)) * int64_t(L));
      mb = hn::Max(mb, hn::And(hn::BitCast(di, r[i]), absmask));
    }
  }
  // Lane-wise exponent of the stored group (normal maxima; others are unusual).
  const VI one = hn::Set(di, 1), zero = hn::Zero(di);
  const auto mz = hn::Eq(mb, zero);
  const VI E = hn::ShiftRight<23>(mb);
  const VI nzF = hn::VecFromMask(di, hn::Ne(hn::And(mb, hn::Set(di, 0x7fffff)), zero));  // -1 if F != 0
  const VI eh = hn::IfThenZeroElse(mz, hn::Sub(hn::Sub(E, hn::Set(di, 127 + 7)), nzF));
  auto unusual = hn::Or(hn::Gt(mb, hn::Set(di, 0x7f7fffff)), hn::AndNot(mz, hn::Lt(eh, hn::Set(di, -126))));
  const VF fq = hn::BitCast(d, hn::ShiftLeft<23>(hn::Sub(hn::Set(di, 128), eh)));  // 2^(1 - eh)
  // Terms: k1 (dA h has a non-zero term), k2 (dB x has one), e1, e2, the shift.
  const VI xg = hn::LoadU(di, bt.xg + q0), e2 = hn::LoadU(di, bt.e2g + q0);
  const auto k2 = hn::MaskFromVec(hn::LoadU(di, bt.k2g + q0));
  const auto k1 = hs.a != 0 ? hn::Not(mz) : hn::MaskFromVec(zero);
  const VI e1 = hn::Add(hn::Set(di, hs.eA), eh);
  const VI dd = hn::Sub(e1, e2);
  const auto both = hn::And(k1, k2);
  unusual = hn::Or(unusual, hn::And(both, hn::Gt(hn::Abs(dd), hn::Set(di, 17))));
  if (!hn::AllFalse(di, unusual)) return false;
  const VI e = hn::IfThenElse(both, hn::Min(e1, e2), hn::IfThenElse(k1, e1, e2));
  // Shift counts clamped to [0, 31]: lanes a mask drops may hold any count,
  // and a count outside the lane width is undefined in C++ (EMU128); the
  // lanes kept have counts in [0, 17], which the clamp leaves alone.
  const VI c31 = hn::Set(di, 31);
  const VI A1 = hn::IfThenElseZero(k1, hn::Set(di, hs.a) << hn::Min(hn::Max(hn::Sub(e1, e), zero), c31));
  const VI X2 = hn::IfThenElseZero(k2, xg << hn::Min(hn::Max(hn::Sub(e2, e), zero), c31));
  const int32_t* dbT = bt.dbT + ph * G * int64_t(L);
  VI mx = zero;
  for (int64_t j = 0; j < G; ++j) {
    const VF x = hn::LoadU(d, tf + j * int64_t(L));
    const VI n = hn::ConvertTo(di, hn::Mul(hn::Abs(x), fq));
    const VI c = hn::Min(hn::ShiftRight<1>(hn::Add(n, one)), hn::Set(di, 127));
    const VI sgn = hn::ShiftRight<31>(hn::BitCast(di, x));
    const VI hc = hn::Sub(hn::Xor(c, sgn), sgn);
    const VI v = hn::Add(hn::Mul(hc, A1), hn::Mul(hn::LoadU(di, dbT + j * int64_t(L)), X2));
    hn::StoreU(v, di, tv + j * int64_t(L));
    mx = hn::Max(mx, hn::Abs(v));
  }
  // Requantization exponent per lane; an all-zero lane gets 0.
  const auto vz = hn::Eq(mx, zero);
  const VI s = hn::IfThenZeroElse(vz, hn::Add(BitWidth(di, hn::Sub(mx, one)), hn::Sub(e, hn::Set(di, 7))));
  unusual = hn::AndNot(vz, hn::Or(hn::Lt(s, hn::Set(di, -126)), hn::Gt(s, hn::Set(di, 121))));
  if (!hn::AllFalse(di, unusual)) return false;
  const VI k = hn::IfThenZeroElse(vz, hn::Sub(s, e));  // in [-7, 24]
  const hn::RebindToUnsigned<D> du;
  const auto kl = hn::BitCast(du, hn::Max(hn::Neg(k), zero)), kr = hn::BitCast(du, hn::Max(k, zero));
  const auto half = hn::BitCast(du, hn::IfThenElseZero(hn::Gt(k, zero), one << hn::Max(hn::Sub(k, one), zero)));
  const VF fs = hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(s, hn::Set(di, 127))));  // 2^s
  const int32_t* cT = bt.cT + ph * G * int64_t(L);
  VI acc = zero;
  for (int64_t j = 0; j < G; ++j) {
    const VI v = hn::LoadU(di, tv + j * int64_t(L));
    const auto u = hn::Add(hn::BitCast(du, hn::Abs(v)) << kl, half) >> kr;
    const VI c0 = hn::Min(hn::BitCast(di, u), hn::Set(di, 127));
    const VI sgn = hn::ShiftRight<31>(v);
    const VI c = hn::Sub(hn::Xor(c0, sgn), sgn);
    acc = hn::Add(acc, hn::Mul(c, hn::LoadU(di, cT + j * int64_t(L))));
    hn::StoreU(hn::Mul(hn::ConvertTo(d, c), fs), d, tf + j * int64_t(L));
  }
  hn::StoreU(acc, di, dot + q0);
  hn::StoreU(hn::Add(hn::LoadU(di, bt.ceT + ph * int64_t(L)), s), di, dote + q0);
  // Transpose back and store.
  for (int64_t t0 = 0; t0 < G; t0 += int64_t(L)) {
    VF r[L];
    for (size_t i = 0; i < L; ++i) r[i] = hn::LoadU(d, tf + (t0 + int64_t(i)) * int64_t(L));
    Transpose(d, r);
    for (size_t i = 0; i < L; ++i) hn::StoreU(r[i], d, blk + int64_t(i) * G + t0);
  }
  return true;
}
#else
template <class D>
HWY_INLINE bool StateBlock(D, int64_t, int64_t, float*, const HeadStep&, const BlockTables&, int64_t, int32_t*,
                           int32_t*, float*, int32_t*) {
  return false;
}
#endif

// Step 7 for one group of G outputs: terms dot[j][g] (exponent dote[j][g])
// and D * x_j (exponent exD), the reference's align_exponent / aligned / sum /
// quantize_pot_group in int64 (the same rule, written out without optional),
// then y = code * 2^s as float. |dot| <= G * 127^2 < 2^31, |D x| < 2^38.
HWY_INLINE void OutputGroup(int64_t G, int64_t NG, const int32_t* HWY_RESTRICT dot,
                            const int32_t* HWY_RESTRICT dote, int32_t D, const int32_t* HWY_RESTRICT xq, int exD,
                            int64_t* HWY_RESTRICT sum, float* HWY_RESTRICT y) {
  // The accumulator exponent: the finest exponent of a non-zero term, but no
  // finer than top - 56 (branch-free over the terms).
  int emin = INT_MAX, top = INT_MIN;
  for (int64_t j = 0; j < G; ++j) {
    for (int64_t g = 0; g < NG; ++g) {
      const int32_t v = dot[j * NG + g];
      const int e = dote[j * NG + g];
      const int bw = int(std::bit_width(uint32_t(v < 0 ? -v : v)));
      emin = std::min(emin, v ? e : INT_MAX);
      top = std::max(top, v ? e + bw : INT_MIN);
    }
    const int64_t v = int64_t(D) * xq[j];
    const int bw = int(std::bit_width(uint64_t(v < 0 ? -v : v)));
    emin = std::min(emin, v ? exD : INT_MAX);
    top = std::max(top, v ? exD + bw : INT_MIN);
  }
  if (emin == INT_MAX) {
    std::fill(y, y + G, 0.0f);
    return;
  }
  uint64_t m = 0;
  int e = emin;
  if (top - 56 <= emin) [[likely]] {
    // Every non-zero term is aligned by a left shift of at most 56 - its
    // bit width: exact, < 2^56; zero terms add 0 (their shift is unused).
    for (int64_t j = 0; j < G; ++j) {
      const int64_t dv = int64_t(D) * xq[j];
      int64_t s = dv ? dv * (int64_t(1) << (exD - e)) : 0;
      for (int64_t g = 0; g < NG; ++g) {
        const int32_t v = dot[j * NG + g];
        s += v ? int64_t(v) * (int64_t(1) << (dote[j * NG + g] - e)) : 0;
      }
      sum[j] = s;
      m = std::max(m, uint64_t(s < 0 ? -s : s));
    }
  } else {
    e = top - 56;  // terms finer than that are rounded, as the reference's aligned()
    for (int64_t j = 0; j < G; ++j) {
      int64_t s = shift_round(int64_t(D) * xq[j], exD - e);
      for (int64_t g = 0; g < NG; ++g) s += shift_round(dot[j * NG + g], dote[j * NG + g] - e);
      sum[j] = s;
      m = std::max(m, uint64_t(s < 0 ? -s : s));
    }
  }
  if (m == 0) {
    std::fill(y, y + G, 0.0f);
    return;
  }
  const int s = fixed_group_exp(m, e), n = s - e;  // code = round_shift(sum, -n)
  const int sa = s >> 1;
  const float fa = pow2f(sa), fb = pow2f(s - sa);
  const bool range = s > 121;  // 127 * 2^s can exceed FLT_MAX only then
  for (int64_t j = 0; j < G; ++j) {
    const int64_t v = sum[j];
    const uint64_t u = uint64_t(v < 0 ? -v : v);  // < 2^62
    uint64_t c;
    if (n <= 0) {
      c = u << -n;  // only when m < 128 (n >= -7): no overflow
    } else if (n < 63) {
      c = (u + (uint64_t(1) << (n - 1))) >> n;
    } else {
      c = 0;
    }
    const int ci = int(std::min<uint64_t>(c, 127));
    // code * 2^(s>>1) is exact (|s>>1| <= 80), so the second multiply is the only rounding.
    const float f = float(v < 0 ? -ci : ci) * fa * fb;
    if (range && (std::bit_cast<uint32_t>(f) << 1) >= 0xff000000u) fail_range();
    y[j] = f;
  }
}

template <class D, int kNV>
void ScanHeads(const ScanArgs& A, Scratch& sc) {
  const D d;
  const int64_t T = A.T, P = A.P, N = A.N, G = A.G, E = A.H * A.P;
  const int64_t NV = G / int64_t(hn::Lanes(d)), NG = N / G, PG = P / G, Q = P * NG;
  constexpr int64_t L = int64_t(hn::MaxLanes(D()));
  constexpr bool kBlocks = kBlockLanes<D>;
  const int64_t gcd = std::gcd(NG, L), nph = NG / gcd;
  // B and C of every token: shared by all heads (and C's lane tables).
  for (int64_t t = 0; t < T; ++t) {
    const float* row = A.xbc + t * A.xbc_stride;
    for (int64_t g = 0; g < NG; ++g) {
      sc.be[size_t(t * NG + g)] = QuantFloatGroup(d, NV, row + E + g * G, sc.bq.data() + t * N + g * G);
      sc.ce[size_t(t * NG + g)] = QuantFloatGroup(d, NV, row + E + N + g * G, sc.cq.data() + t * N + g * G);
    }
    if constexpr (kBlocks) {
      int32_t* cT = sc.cT.data() + t * nph * G * L;
      int32_t* ceT = sc.ceT.data() + t * nph * L;
      for (int64_t ph = 0; ph < nph; ++ph) {
        int64_t g = ph * gcd;
        for (int64_t i = 0; i < L; ++i, g = g + 1 == NG ? 0 : g + 1) {
          ceT[ph * L + i] = sc.ce[size_t(t * NG + g)];
          for (int64_t j = 0; j < G; ++j) cT[(ph * G + j) * L + i] = sc.cq[size_t(t * N + g * G + j)];
        }
      }
    }
  }
  const SsmParamsFixed& prm = *A.params;
  for (int64_t hd = A.h0; hd < A.h1; ++hd) {
    float* Sh = A.S + hd * P * N;
    for (int64_t t = 0; t < T; ++t) {
      const float* row = A.xbc + t * A.xbc_stride;
      // 1-4: the head's sp and dA (shared with the reference).
      int dt_exp = 0;
      const int dt_code = quant_float1(A.dt[t * A.dt_stride + hd], &dt_exp);
      const SsmHeadScalars hsc =
          ssm_head_scalars(dt_code, dt_exp, prm.A[size_t(hd)], prm.dt_bias[size_t(hd)], *A.tables);
      // 5: dt * B.
      for (int64_t g = 0; g < NG; ++g) {
        bool zero = false;
        sc.dbe[size_t(g)] = DtBGroup(d, NV, hsc.sp_code, hsc.sp_exp + sc.be[size_t(t * NG + g)],
                                     sc.bq.data() + t * N + g * G, sc.dbq.data() + g * G, &zero);
        sc.dbz[size_t(g)] = zero;
      }
      // x of the head.
      for (int64_t pg = 0; pg < PG; ++pg)
        sc.xe[size_t(pg)] = QuantFloatGroup(d, NV, row + hd * P + pg * G, sc.xq.data() + pg * G);
      const HeadStep hs{hsc.dA_code, hsc.dA_exp, sc.dbq.data(), sc.dbe.data(), sc.dbz.data(), sc.xq.data(),
                        sc.xe.data(), sc.cq.data() + t * N, sc.ce.data() + t * NG};
      // 6 (+ the dots of 7): blocks of L groups, the rest (and unusual blocks) group by group.
      int64_t q = 0;
      if constexpr (kBlocks) {
        // Lane i of a block at phase ph holds group (ph * gcd + i) % NG.
        for (int64_t ph = 0; ph < nph; ++ph) {
          int64_t g = ph * gcd;
          for (int64_t i = 0; i < L; ++i, g = g + 1 == NG ? 0 : g + 1)
            for (int64_t j = 0; j < G; ++j) sc.dbT[size_t((ph * G + j) * L + i)] = sc.dbq[size_t(g * G + j)];
        }
        for (int64_t p = 0, qq = 0; p < P; ++p) {
          const int32_t xc = sc.xq[size_t(p)], ex = sc.xe[size_t(p / G)];
          for (int64_t g = 0; g < NG; ++g, ++qq) {
            sc.xg[size_t(qq)] = xc;
            sc.e2g[size_t(qq)] = sc.dbe[size_t(g)] + ex;
            sc.k2g[size_t(qq)] = (xc != 0 && !sc.dbz[size_t(g)]) ? -1 : 0;
          }
        }
        const BlockTables bt{nph, gcd, sc.dbT.data(), sc.cT.data() + t * nph * G * L, sc.ceT.data() + t * nph * L,
                             sc.xg.data(), sc.e2g.data(), sc.k2g.data()};
        for (int64_t off = 0; q + L <= Q; q += L, off = (off + L) % NG) {
          const int64_t ph = off / gcd;  // off = q % NG
          if (!StateBlock(d, G, q, Sh + q * G, hs, bt, ph, sc.dot.data(), sc.dote.data(), sc.tf.data(),
                          sc.tmp.data()))
            for (int64_t i = 0; i < L; ++i)
              StateGroup<D, kNV>(d, NV, G, NG, q + i, Sh + (q + i) * G, hs, sc.dot.data(), sc.dote.data(),
                                 sc.tmp.data(), sc.c8.data());
        }
      }
      for (; q < Q; ++q)
        StateGroup<D, kNV>(d, NV, G, NG, q, Sh + q * G, hs, sc.dot.data(), sc.dote.data(), sc.tmp.data(),
                           sc.c8.data());
      // 7: each group of G outputs.
      float* yh = A.y + t * E + hd * P;
      for (int64_t pg = 0; pg < PG; ++pg)
        OutputGroup(G, NG, sc.dot.data() + pg * G * NG, sc.dote.data() + pg * G * NG, prm.D[size_t(hd)],
                    sc.xq.data() + pg * G, sc.xe[size_t(pg)] - kSsmParamFrac, sc.ysum.data(), yh + pg * G);
    }
  }
}

template <size_t kL>
void ScanLanes(const ScanArgs& A, Scratch& sc) {
  using D = hn::CappedTag<float, kL>;
  const int64_t NV = A.G / int64_t(hn::Lanes(D()));
  if (NV == 1) {
    ScanHeads<D, 1>(A, sc);
  } else if (NV == 2) {
    ScanHeads<D, 2>(A, sc);
  } else {
    ScanHeads<D, 0>(A, sc);
  }
}

void PotScanFast(const ScanArgs& A, Scratch& sc) {
  // The widest vector of at most 8 lanes whose lane count divides the group.
  if (A.G % 8 == 0) {
    ScanLanes<8>(A, sc);
  } else if (A.G % 4 == 0) {
    ScanLanes<4>(A, sc);
  } else if (A.G % 2 == 0) {
    ScanLanes<2>(A, sc);
  } else {
    ScanLanes<1>(A, sc);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace sm::quant
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sm::quant {

HWY_EXPORT(PotScanFast);

namespace {

template <class V>
void grow(V& v, int64_t n) {
  if (int64_t(v.size()) < n) v.resize(size_t(n));
}

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
  using namespace pot_detail;  // NOLINT
  if (h1 - h0 <= 0 || T <= 0) return;
  const int64_t G = group;
  // The reference step's checks, once per call.
  if (H < 1 || P < 1 || N < 1) fail(kWhere, "empty shape");
  if (h0 < 0 || h1 > H) fail(kWhere, "head range outside [0, H)");
  if (G < 1 || P % G != 0 || N % G != 0) fail(kWhere, "group " + std::to_string(G) + " must divide P and N");
  if (G > kMaxGroup) fail(kWhere, "group above kMaxGroup (int32 dot product bound)");
  if (N / G > 63) fail(kWhere, "N / group must be <= 63 (int64 accumulator bound)");
  if (tables.softplus.spec().func != LutFunc::Softplus || tables.exp.spec().func != LutFunc::Exp)
    fail(kWhere, "tables are not softplus and exp");
  const SsmParamsFixed& prm = layer.params;
  if (int64_t(prm.A.size()) < h1 || int64_t(prm.D.size()) < h1 || int64_t(prm.dt_bias.size()) < h1)
    fail(kWhere, "A, D, dt_bias must have one value per head");
  for (int64_t hd = h0; hd < h1; ++hd)
    if (prm.A[size_t(hd)] > 0) fail(kWhere, "A > 0");

  thread_local Scratch sc;
  const int64_t NG = N / G;
  grow(sc.bq, T * N);
  grow(sc.cq, T * N);
  grow(sc.be, T * NG);
  grow(sc.ce, T * NG);
  grow(sc.dbq, N);
  grow(sc.dbe, NG);
  grow(sc.dbz, NG);
  grow(sc.xq, P);
  grow(sc.xe, P / G);
  grow(sc.dot, P * NG);
  grow(sc.dote, P * NG);
  grow(sc.tmp, G * 8);
  grow(sc.tf, G * 8);
  grow(sc.xg, P * NG);
  grow(sc.e2g, P * NG);
  grow(sc.k2g, P * NG);
  grow(sc.dbT, NG * G * 8);
  grow(sc.cT, T * NG * G * 8);
  grow(sc.ceT, T * NG * 8);
  grow(sc.c8, 3 * G);
  grow(sc.ysum, G);
  const ScanArgs args{T, H, P, N, G, xbc_stride, dt_stride, h0, h1, xbc, dt_raw, &prm, &tables, S, y};
  HWY_DYNAMIC_DISPATCH(PotScanFast)(args, sc);
}

void pot_scan_mamba2_reference(int64_t T, int64_t H, int64_t P, int64_t N, const float* xbc,
                               int64_t xbc_stride, const float* dt_raw, int64_t dt_stride,
                               const PotSsmLayer& layer, const SsmTables& tables, int64_t group, float* S,
                               float* y, int64_t h0, int64_t h1) {
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
#endif  // HWY_ONCE
