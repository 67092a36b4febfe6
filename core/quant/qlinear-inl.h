// SPDX-License-Identifier: Apache-2.0
// Per-target kernels of qlinear.cpp, included once per Highway target (the
// usual re-inclusion guard). Everything here computes exact integers; the
// argument that they equal the reference's is in docs/integer-kernels.md
// ("Fast kernels (qlinear)") and in the comments of qlinear.cpp's prepare().
//
// x86 targets use intrinsics (Highway 1.0.3 has no u8 x s8 pairwise
// multiply-add): maddubs + madd on SSE4 / AVX2 / AVX-512BW, vpdpbusd on
// AVX3_DL when the CPU has AVX512-VNNI. Other targets (EMU128, SCALAR, non-x86)
// run a plain C++ kernel that evaluates the same integers directly.
#if defined(SM_QUANT_QLINEAR_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SM_QUANT_QLINEAR_INL_H_
#undef SM_QUANT_QLINEAR_INL_H_
#else
#define SM_QUANT_QLINEAR_INL_H_
#endif

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/quant/qlinear.h"
#include "hwy/highway.h"

#if HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || \
    HWY_TARGET == HWY_AVX3_DL
#define SM_QLIN_X86 1
#include <immintrin.h>
#else
#define SM_QLIN_X86 0
#endif

HWY_BEFORE_NAMESPACE();
// Highway 1.0.3's AVX3_DL attribute string lacks avx512vnni; AVX3_DL code only
// runs on AVX3_DL CPUs, and the VNNI kernel is further gated on the CPU flag.
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC push_options
#pragma GCC target("avx512vnni")
#endif
// GCC 12's AVX-512 conversion intrinsics start from _mm512_undefined_*, which
// -Wmaybe-uninitialized reports once inlined (a known false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace sm::quant {
namespace HWY_NAMESPACE {

using detail::kQScaleBytes;
using detail::kQTileRows;
using detail::QBlock;
using detail::QKernel;
using detail::QLayout;
using detail::QRun;
using detail::QToken;

// ------------------------------------------------------------ shared scalar parts

// The reference's term of one block for one row: round_shift(acc * (2^(s1-s2) + 1),
// s2 + xs + kFracBits), with c1 = s1 + kFracBits, c2 = s2 + kFracBits. The caller's
// bound keeps |acc * (2^gap + 1)| << k below 2^62 whenever acc != 0.
HWY_INLINE int64_t BlockTerm(int64_t acc, int c1, int c2, int xs) {
  if (acc == 0) return 0;
  const int64_t m = acc * ((int64_t(1) << (c1 - c2)) + 1);
  const int k = c2 + xs;
  if (k >= 0) return m << k;
  const int n = std::min(-k, 63);  // |m| < 2^39: every n >= 40 rounds to 0 alike
  const uint64_t u = m < 0 ? uint64_t(0) - uint64_t(m) : uint64_t(m);
  const uint64_t r = (u + (uint64_t(1) << (n - 1))) >> n;  // ties away from zero
  return m < 0 ? -static_cast<int64_t>(r) : static_cast<int64_t>(r);
}

// A group sum S (int32 exact) rescaled: S * (2^s1 + 2^s2) * 2^(e + kFracBits).
HWY_INLINE int64_t GroupTerm(int64_t S, int c1, int c2, int e) {
  if (S == 0) return 0;  // counts of empty groups are arbitrary
  return (S << (c1 + e)) + (S << (c2 + e));
}

// Q * 2^-32 as the reference rounds it, plus the bias. Pool workers run with
// FTZ/DAZ: the one sum that could see it, 0 + a subnormal bias, is written out.
HWY_INLINE float Output(int64_t Q, const float* bias, int64_t r) {
  const float v = static_cast<float>(Q) * 0x1p-32f;  // exact: |Q| >= 1 stays normal
  if (!bias) return v;
  const float b = bias[r];
  const uint32_t ub = std::bit_cast<uint32_t>(b) & 0x7fffffffu;  // bits, not FP compares (DAZ)
  if (Q == 0 && ub != 0 && ub < 0x00800000u) return b;
  return v + b;
}

HWY_INLINE int WeightCode(const QLayout& L, const uint8_t* tile, int64_t row, int64_t c) {
  const uint8_t* g = tile + L.codes_offset(c / L.group);
  c %= L.group;
  if (L.bits == 8) return static_cast<int8_t>(g[(c / 4) * 64 + row * 4 + c % 4]);
  const uint8_t byte = g[(c / 8) * 64 + row * 4 + c % 4];
  return (((c / 4) & 1) ? byte >> 4 : byte & 15) - 8;
}

HWY_INLINE int64_t ScalarBlockDot(const QLayout& L, const uint8_t* tile, int64_t row,
                                  const int8_t* a, int64_t c0, int64_t B) {
  int64_t acc = 0;
  for (int64_t c = c0; c < c0 + B; ++c) acc += WeightCode(L, tile, row, c) * a[c];
  return acc;
}

// The portable kernel: per row and token, the group sums and the individual
// blocks straight from the packed codes, in int64 (no lanes to overflow).
void RunScalar(const QRun& R, int64_t tile0, int64_t tile1) {
  const QLayout& L = *R.layout;
  const int64_t B = R.block, ng = L.cols / L.group, nbg = L.group / B;
  for (int64_t ti = tile0; ti < tile1; ++ti) {
    const uint8_t* tile = L.tile(ti);
    for (int64_t row = 0; row < kQTileRows && ti * kQTileRows + row < L.rows; ++row) {
      const int64_t r = ti * kQTileRows + row;
      for (int64_t t = 0; t < R.ntok; ++t) {
        const QToken& tk = R.tokens[t];
        int64_t Q = 0;
        for (int64_t g = 0; g < ng; ++g) {
          const int8_t* sc = L.scales(ti, g);
          int64_t S = 0;
          for (int64_t k = 0; k < nbg; ++k) {
            const int64_t b = g * nbg + k;
            if (tk.shl[b] < 32) S += ScalarBlockDot(L, tile, row, tk.codes, b * B, B) << tk.shl[b];
          }
          Q += GroupTerm(S, sc[row], sc[kQTileRows + row], tk.e[g]);
          for (int32_t j = tk.ind_begin[g]; j < tk.ind_begin[g + 1]; ++j) {
            const QBlock& blk = tk.ind[j];
            Q += BlockTerm(ScalarBlockDot(L, tile, row, tk.codes, blk.block * B, B), sc[row],
                           sc[kQTileRows + row], blk.xs);
          }
        }
        tk.y[r] = Output(Q, R.bias, r);
      }
    }
  }
}

using detail::kSchemeExact;
using detail::kSchemeOffset;
using detail::kSchemeSign;

#if SM_QLIN_X86
// ------------------------------------------------------------------- x86 ops
// One vector = kRows output rows x 4 input channels (one int32 lane per row).

#if HWY_TARGET == HWY_SSE4
struct Ops {
  using V = __m128i;
  static constexpr int kRows = 4;
  static HWY_INLINE V Load(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const V*>(p)); }
  static HWY_INLINE V Set32(int32_t v) { return _mm_set1_epi32(v); }
  static HWY_INLINE V Set8(int8_t v) { return _mm_set1_epi8(v); }
  static HWY_INLINE V Zero() { return _mm_setzero_si128(); }
  static HWY_INLINE V Add16(V a, V b) { return _mm_add_epi16(a, b); }
  static HWY_INLINE V Add32(V a, V b) { return _mm_add_epi32(a, b); }
  static HWY_INLINE V Sub32(V a, V b) { return _mm_sub_epi32(a, b); }
  static HWY_INLINE V And(V a, V b) { return _mm_and_si128(a, b); }
  static HWY_INLINE V Xor(V a, V b) { return _mm_xor_si128(a, b); }
  static HWY_INLINE V Shr4(V a) { return _mm_srli_epi16(a, 4); }
  static HWY_INLINE V Abs8(V a) { return _mm_abs_epi8(a); }
  // w negated where a < 0 (and zeroed where a == 0, which |a| = 0 zeroes anyway).
  static HWY_INLINE V SignOf(V w, V a) { return _mm_sign_epi8(w, a); }
  static HWY_INLINE V MulU8S8(V u, V s) { return _mm_maddubs_epi16(u, s); }
  static HWY_INLINE V Madd(V a, V b) { return _mm_madd_epi16(a, b); }
  static HWY_INLINE void Store32(int32_t* p, V v) { _mm_storeu_si128(reinterpret_cast<V*>(p), v); }
  // No per-lane 64-bit shifts before AVX2: the rescale runs per lane.
  static HWY_INLINE void Rescale(V S, const int8_t* c1, const int8_t* c2, int e, int64_t* Q) {
    alignas(16) int32_t s[kRows];
    Store32(s, S);
    for (int i = 0; i < kRows; ++i) Q[i] += GroupTerm(s[i], c1[i], c2[i], e);
  }
};
#elif HWY_TARGET == HWY_AVX2
struct Ops {
  using V = __m256i;
  static constexpr int kRows = 8;
  static HWY_INLINE V Load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const V*>(p)); }
  static HWY_INLINE V Set32(int32_t v) { return _mm256_set1_epi32(v); }
  static HWY_INLINE V Set8(int8_t v) { return _mm256_set1_epi8(v); }
  static HWY_INLINE V Zero() { return _mm256_setzero_si256(); }
  static HWY_INLINE V Add16(V a, V b) { return _mm256_add_epi16(a, b); }
  static HWY_INLINE V Add32(V a, V b) { return _mm256_add_epi32(a, b); }
  static HWY_INLINE V Sub32(V a, V b) { return _mm256_sub_epi32(a, b); }
  static HWY_INLINE V And(V a, V b) { return _mm256_and_si256(a, b); }
  static HWY_INLINE V Xor(V a, V b) { return _mm256_xor_si256(a, b); }
  static HWY_INLINE V Shr4(V a) { return _mm256_srli_epi16(a, 4); }
  static HWY_INLINE V Abs8(V a) { return _mm256_abs_epi8(a); }
  static HWY_INLINE V SignOf(V w, V a) { return _mm256_sign_epi8(w, a); }
  static HWY_INLINE V MulU8S8(V u, V s) { return _mm256_maddubs_epi16(u, s); }
  static HWY_INLINE V Madd(V a, V b) { return _mm256_madd_epi16(a, b); }
  static HWY_INLINE void Store32(int32_t* p, V v) { _mm256_storeu_si256(reinterpret_cast<V*>(p), v); }
  // Four int8 counts, sign-extended to int64 lanes, plus e.
  static HWY_INLINE __m256i Counts(const int8_t* c, __m256i e) {
    int32_t v;
    std::memcpy(&v, c, 4);
    return _mm256_add_epi64(_mm256_cvtepi8_epi64(_mm_cvtsi32_si128(v)), e);
  }
  // Q += (S << (c1 + e)) + (S << (c2 + e)) per lane, in int64. Counts of
  // lanes whose S is 0 may be out of range: vpsllvq then gives 0 as well.
  static HWY_INLINE void Rescale(V S, const int8_t* c1, const int8_t* c2, int e, int64_t* Q) {
    const __m256i E = _mm256_set1_epi64x(e);
    const __m256i lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(S));
    const __m256i hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(S, 1));
    __m256i* q = reinterpret_cast<__m256i*>(Q);
    const __m256i tlo = _mm256_add_epi64(_mm256_sllv_epi64(lo, Counts(c1, E)), _mm256_sllv_epi64(lo, Counts(c2, E)));
    const __m256i thi = _mm256_add_epi64(_mm256_sllv_epi64(hi, Counts(c1 + 4, E)),
                                         _mm256_sllv_epi64(hi, Counts(c2 + 4, E)));
    _mm256_storeu_si256(q, _mm256_add_epi64(_mm256_loadu_si256(q), tlo));
    _mm256_storeu_si256(q + 1, _mm256_add_epi64(_mm256_loadu_si256(q + 1), thi));
  }
};
#else  // AVX3, AVX3_DL
struct Ops {
  using V = __m512i;
  static constexpr int kRows = 16;
  static HWY_INLINE V Load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static HWY_INLINE V Set32(int32_t v) { return _mm512_set1_epi32(v); }
  static HWY_INLINE V Set8(int8_t v) { return _mm512_set1_epi8(v); }
  static HWY_INLINE V Zero() { return _mm512_setzero_si512(); }
  static HWY_INLINE V Add16(V a, V b) { return _mm512_add_epi16(a, b); }
  static HWY_INLINE V Add32(V a, V b) { return _mm512_add_epi32(a, b); }
  static HWY_INLINE V Sub32(V a, V b) { return _mm512_sub_epi32(a, b); }
  static HWY_INLINE V And(V a, V b) { return _mm512_and_si512(a, b); }
  static HWY_INLINE V Xor(V a, V b) { return _mm512_xor_si512(a, b); }
  static HWY_INLINE V Shr4(V a) { return _mm512_srli_epi16(a, 4); }
  static HWY_INLINE V Abs8(V a) { return _mm512_abs_epi8(a); }
  // AVX-512 has no vpsignb: negate w under the sign mask of a. Where a == 0, w
  // stays, but its product with |a| = 0 is 0 as with vpsignb.
  static HWY_INLINE V SignOf(V w, V a) {
    return _mm512_mask_sub_epi8(w, _mm512_movepi8_mask(a), _mm512_setzero_si512(), w);
  }
  static HWY_INLINE V MulU8S8(V u, V s) { return _mm512_maddubs_epi16(u, s); }
  static HWY_INLINE V Madd(V a, V b) { return _mm512_madd_epi16(a, b); }
  static HWY_INLINE void Store32(int32_t* p, V v) { _mm512_storeu_si512(p, v); }
  static HWY_INLINE __m512i Counts(const int8_t* c, __m512i e) {
    return _mm512_add_epi64(_mm512_cvtepi8_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c))), e);
  }
  static HWY_INLINE void Rescale(V S, const int8_t* c1, const int8_t* c2, int e, int64_t* Q) {
    const __m512i E = _mm512_set1_epi64(e);
    const __m512i lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(S));
    const __m512i hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(S, 1));
    const __m512i tlo = _mm512_add_epi64(_mm512_sllv_epi64(lo, Counts(c1, E)), _mm512_sllv_epi64(lo, Counts(c2, E)));
    const __m512i thi = _mm512_add_epi64(_mm512_sllv_epi64(hi, Counts(c1 + 8, E)),
                                         _mm512_sllv_epi64(hi, Counts(c2 + 8, E)));
    _mm512_storeu_si512(Q, _mm512_add_epi64(_mm512_loadu_si512(Q), tlo));
    _mm512_storeu_si512(Q + 8, _mm512_add_epi64(_mm512_loadu_si512(Q + 8), thi));
  }
};
#endif

using V = Ops::V;
constexpr int kRows = Ops::kRows;
constexpr int kVecPerTile = static_cast<int>(kQTileRows) / kRows;

HWY_INLINE V Bcast(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return Ops::Set32(v);
}

// Broadcast activation quads of one channel pair (8 channels).
struct Act {
  V a0, a1, u0, u1;  // u: |a|, used by the sign scheme only
};

// ------------------------------------------------------- the three dot schemes
// Each gives, per block and lane, sum over the block of w * a (exactly, or plus
// a per-token offset that prepare() cancels through init / corr), scaled by
// 2^d through its per-block multiplier m: Begin / Pair... / End.

// Weights of one channel pair for one vector: w0 = quad q, w1 = quad q + 1,
// two's complement (kUnsigned false, 8-bit only) or offset binary (code + 2^(bits-1)).
template <int kBits, bool kUnsigned>
HWY_INLINE void LoadPair(const uint8_t* p, V& w0, V& w1) {
  if constexpr (kBits == 8) {
    w0 = Ops::Load(p);
    w1 = Ops::Load(p + 64);
    if constexpr (kUnsigned) {
      w0 = Ops::Xor(w0, Ops::Set8(-128));
      w1 = Ops::Xor(w1, Ops::Set8(-128));
    }
  } else {
    static_assert(kUnsigned, "int4 codes are stored offset binary");
    const V v = Ops::Load(p);
    const V m = Ops::Set8(0x0F);
    w0 = Ops::And(v, m);
    w1 = Ops::And(Ops::Shr4(v), m);
  }
}

// w8 x a8: maddubs(|a|, w * sign(a)): each int16 pair sum is at most
// 2 * 128 * 127 (no -128 weight; qlinear.cpp checks), so each quad gets its
// own madd. The lanes hold the exact sum.
struct DotSign {
  static constexpr int kBits = 8;
  static constexpr bool kSignScheme = true;
  static HWY_INLINE Act MakeAct(V a0, V a1) { return {a0, a1, Ops::Abs8(a0), Ops::Abs8(a1)}; }
  static HWY_INLINE void Load(const uint8_t* p, V& w0, V& w1) { LoadPair<8, false>(p, w0, w1); }
  static HWY_INLINE V Mult(const QToken& t, int64_t b) { return Bcast(&t.mul[b]); }
  static HWY_INLINE V One() { return Ops::Set32(0x00010001); }
  static HWY_INLINE V Begin(V S) { return S; }
  static HWY_INLINE V Pair(V acc, V w0, V w1, const Act& a, V m) {
    const V p0 = Ops::MulU8S8(a.u0, Ops::SignOf(w0, a.a0));
    const V p1 = Ops::MulU8S8(a.u1, Ops::SignOf(w1, a.a1));
    return Ops::Add32(acc, Ops::Add32(Ops::Madd(p0, m), Ops::Madd(p1, m)));
  }
  static HWY_INLINE V End(V /*S*/, V acc, V /*m*/) { return acc; }
};

// w4 (any activation) and w8 x a4: maddubs(w + 2^(bits-1), a). The unsigned
// weight is at most 15 (or 255 against |a| <= 8), so both quads' int16 sums
// (<= 8160) add in int16 and share one madd. The lanes hold the sum plus
// 2^(bits-1) * sum(a) * 2^d, which the token's init / corr cancel.
template <int kB>
struct DotOffset {
  static constexpr int kBits = kB;
  static constexpr bool kSignScheme = false;
  static HWY_INLINE Act MakeAct(V a0, V a1) { return {a0, a1, a0, a1}; }
  static HWY_INLINE void Load(const uint8_t* p, V& w0, V& w1) { LoadPair<kB, true>(p, w0, w1); }
  static HWY_INLINE V Mult(const QToken& t, int64_t b) { return Bcast(&t.mul[b]); }
  static HWY_INLINE V One() { return Ops::Set32(0x00010001); }
  static HWY_INLINE V Begin(V S) { return S; }
  static HWY_INLINE V Pair(V acc, V w0, V w1, const Act& a, V m) {
    const V p = Ops::Add16(Ops::MulU8S8(w0, a.a0), Ops::MulU8S8(w1, a.a1));
    return Ops::Add32(acc, Ops::Madd(p, m));
  }
  static HWY_INLINE V End(V /*S*/, V acc, V /*m*/) { return acc; }
};

#if HWY_TARGET == HWY_AVX3_DL
// VNNI: vpdpbusd sums four u8 x s8 products into int32 without saturation, so
// every combination uses offset-binary weights; the block sum is shifted by d
// (a count of 32 zeroes blocks outside the group sum).
template <int kB>
struct DotVnni {
  static constexpr int kBits = kB;
  static constexpr bool kSignScheme = false;
  static HWY_INLINE Act MakeAct(V a0, V a1) { return {a0, a1, a0, a1}; }
  static HWY_INLINE void Load(const uint8_t* p, V& w0, V& w1) { LoadPair<kB, true>(p, w0, w1); }
  static HWY_INLINE V Mult(const QToken& t, int64_t b) { return Bcast(&t.shl[b]); }
  static HWY_INLINE V One() { return Ops::Zero(); }
  static HWY_INLINE V Begin(V /*S*/) { return Ops::Zero(); }
  static HWY_INLINE V Pair(V acc, V w0, V w1, const Act& a, V /*m*/) {
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(acc, w0, a.a0), w1, a.a1);
  }
  static HWY_INLINE V End(V S, V acc, V m) { return Ops::Add32(S, _mm512_sllv_epi32(acc, m)); }
};
#endif

// --------------------------------------------------------------- the kernels

// Where vector v (global index: rows [v * kRows, v * kRows + kRows)) lives.
struct VecPos {
  const uint8_t* base;  // its tile, plus its row offset within a quad
  int64_t tile;
  int sub;  // row offset within the tile, in vectors
};

HWY_INLINE VecPos Locate(const QLayout& L, int64_t v) {
  const int64_t tile = v / kVecPerTile;
  const int sub = static_cast<int>(v % kVecPerTile);
  return {L.tile(tile) + sub * kRows * 4, tile, sub};
}

// Register plans (16 vector registers on SSE4 / AVX2, 32 on AVX-512).
// Decode (one token: the weights are the whole cost) reads one tile at a time,
// so the whole matrix is a single sequential stream, which the hardware
// prefetchers follow best. Measured on an AVX-512 EPYC (Zen 4 VM), mamba-130m
// shape, interleaved runs: 4 tiles at once with a software prefetch of the next
// panel gave w8a8 127-142 tok/s, one tile without prefetch 154-178 (w4a4
// 155-184 -> 179-213; AVX2 target 120-135 -> 120-153). A single stream of the
// same arithmetic reads at 29 GB/s there, four interleaved streams at 19-25.
// Batches keep one tile's weight vectors in registers (or L1) for
// BatchTokens() tokens.
constexpr int kDecodeVecs = kVecPerTile;
constexpr int kBatchVecs = kRows == 4 ? 4 : 2;  // one tile (SSE4, AVX2) or two (AVX-512)
// The sign scheme needs two more registers per token (|a| of both quads).
// On AVX2, 3 x 2 / 4 x 2 panels and 1-vector panels of 5-8 tokens measured
// within noise of each other.
template <class D>
constexpr int BatchTokens() {
  if constexpr (kRows == 16) return 6;
  if constexpr (kRows == 4) return 2;
  return D::kSignScheme ? 3 : 4;
}

// One individually rescaled block for NV vectors of one token: the raw dot
// product (multiplier 1), minus the offset correction, then the reference's
// rounding per lane.
template <class D, int NV>
HWY_INLINE void SingleBlock(const QLayout& L, int64_t B, const VecPos* pos, int64_t g,
                            const QToken& tk, const QBlock& blk, int64_t* Q) {
  constexpr int64_t kPair = D::kBits == 8 ? 128 : 64;
  const V one = D::One();
  V acc[NV];
  for (int v = 0; v < NV; ++v) acc[v] = D::Begin(Ops::Zero());
  const int64_t goff = L.codes_offset(g), pair0 = g * (L.group / 8);
  for (int64_t pp = 0; pp < B / 8; ++pp) {
    const int64_t pair = blk.block * (B / 8) + pp;
    const Act a = D::MakeAct(Bcast(tk.codes + pair * 8), Bcast(tk.codes + pair * 8 + 4));
    for (int v = 0; v < NV; ++v) {
      V w0, w1;
      D::Load(pos[v].base + goff + (pair - pair0) * kPair, w0, w1);
      acc[v] = D::Pair(acc[v], w0, w1, a, one);
    }
  }
  const V corr = Ops::Set32(blk.corr);
  for (int v = 0; v < NV; ++v) {
    alignas(64) int32_t lanes[kRows];
    Ops::Store32(lanes, Ops::Sub32(D::End(Ops::Zero(), acc[v], one), corr));
    const int8_t* sc = L.scales(pos[v].tile, g) + pos[v].sub * kRows;
    for (int i = 0; i < kRows; ++i)
      Q[v * kRows + i] += BlockTerm(lanes[i], sc[i], sc[kQTileRows + i], blk.xs);
  }
}

// TT tokens x NV vectors (NV * kRows output rows starting at vector v0): every
// weight vector loaded once per panel is used by all TT tokens, every
// broadcast activation by all NV vectors. Group sums stay in registers; the
// int64 totals live in Q (touched once per group). kPPB: channel pairs per
// block when known at compile time (1: B = 8, the usual activation group), else 0.
template <class D, int kPPB, int TT, int NV>
HWY_INLINE void Panel(const QRun& R, const QToken* tk, int64_t v0) {
  const QLayout& L = *R.layout;
  const int64_t ng = L.cols / L.group, ppb = kPPB ? kPPB : R.block / 8;
  const int64_t pairs_per_group = L.group / 8;
  constexpr int64_t kPair = D::kBits == 8 ? 128 : 64;
  VecPos pos[NV];
  for (int v = 0; v < NV; ++v) pos[v] = Locate(L, v0 + v);
  alignas(64) int64_t Q[TT][NV * kRows] = {};

  int64_t pair = 0;  // channel pair index: channels [8 pair, 8 pair + 8)
  for (int64_t g = 0; g < ng; ++g) {
    const uint8_t* gp[NV];  // this group's codes, per vector
    for (int v = 0; v < NV; ++v) gp[v] = pos[v].base + L.codes_offset(g) - pair * kPair;
    V S[TT][NV];
    for (int t = 0; t < TT; ++t) {
      const V init = Ops::Set32(tk[t].init[g]);
      for (int v = 0; v < NV; ++v) S[t][v] = init;
    }
    for (const int64_t pair_end = pair + pairs_per_group; pair < pair_end;) {
      const int64_t b = pair / ppb;  // a shift or nothing: ppb is 1 or a power of two in practice
      V A[TT][NV];
      for (int t = 0; t < TT; ++t)
        for (int v = 0; v < NV; ++v) A[t][v] = D::Begin(S[t][v]);
      for (int64_t pp = 0; pp < ppb; ++pp, ++pair) {
        const int64_t off = pair * kPair;
        V w0[NV], w1[NV];
        for (int v = 0; v < NV; ++v) D::Load(gp[v] + off, w0[v], w1[v]);
        for (int t = 0; t < TT; ++t) {
          const int8_t* a = tk[t].codes + pair * 8;
          const Act act = D::MakeAct(Bcast(a), Bcast(a + 4));
          const V m = D::Mult(tk[t], b);
          for (int v = 0; v < NV; ++v) A[t][v] = D::Pair(A[t][v], w0[v], w1[v], act, m);
        }
      }
      for (int t = 0; t < TT; ++t) {
        const V m = D::Mult(tk[t], b);
        for (int v = 0; v < NV; ++v) S[t][v] = D::End(S[t][v], A[t][v], m);
      }
    }
    for (int t = 0; t < TT; ++t) {
      for (int v = 0; v < NV; ++v) {
        const int8_t* sc = L.scales(pos[v].tile, g) + pos[v].sub * kRows;
        Ops::Rescale(S[t][v], sc, sc + kQTileRows, tk[t].e[g], Q[t] + v * kRows);
      }
      for (int32_t j = tk[t].ind_begin[g]; j < tk[t].ind_begin[g + 1]; ++j)
        SingleBlock<D, NV>(L, R.block, pos, g, tk[t], tk[t].ind[j], Q[t]);
    }
  }

  for (int v = 0; v < NV; ++v)
    for (int i = 0; i < kRows; ++i) {
      const int64_t r = (v0 + v) * kRows + i;
      if (r >= L.rows) return;
      for (int t = 0; t < TT; ++t) tk[t].y[r] = Output(Q[t][v * kRows + i], R.bias, r);
    }
}

// tt (<= TT) tokens over NV vectors: the largest instantiated panel that fits.
template <class D, int kPPB, int TT, int NV>
HWY_INLINE void PanelUpTo(int tt, const QRun& R, const QToken* tk, int64_t v0) {
  if constexpr (TT > 1) {
    if (tt < TT) return PanelUpTo<D, kPPB, TT - 1, NV>(tt, R, tk, v0);
  }
  Panel<D, kPPB, TT, NV>(R, tk, v0);
}

template <class D, int kPPB>
void RunPanels(const QRun& R, int64_t tile0, int64_t tile1) {
  const int64_t v_end = tile1 * kVecPerTile;
  int64_t v = tile0 * kVecPerTile;
  if (R.ntok == 1) {
    for (; v < v_end; v += kDecodeVecs) Panel<D, kPPB, 1, kDecodeVecs>(R, R.tokens, v);  // whole tiles
    return;
  }
  constexpr int kTokens = BatchTokens<D>();
  for (; v < v_end;) {
    const bool full = v + kBatchVecs <= v_end;
    for (int64_t t = 0; t < R.ntok; t += kTokens) {
      const int tt = static_cast<int>(std::min<int64_t>(kTokens, R.ntok - t));
      if (full)
        PanelUpTo<D, kPPB, kTokens, kBatchVecs>(tt, R, R.tokens + t, v);
      else
        PanelUpTo<D, kPPB, kTokens, 1>(tt, R, R.tokens + t, v);
    }
    v += full ? kBatchVecs : 1;
  }
}

template <class D>
void RunX86(const QRun& R, int64_t tile0, int64_t tile1) {
  if (R.block == 8) return RunPanels<D, 1>(R, tile0, tile1);
  RunPanels<D, 0>(R, tile0, tile1);
}

#if HWY_TARGET == HWY_AVX3_DL
bool CpuHasVnni() {
  static const bool has = __builtin_cpu_supports("avx512vnni");
  return has;
}
#endif

QKernel GetKernel(int wbits, int abits) {
#if HWY_TARGET == HWY_AVX3_DL
  if (CpuHasVnni()) {
    if (wbits == 8) return {kSchemeOffset, 128, &RunX86<DotVnni<8>>};
    return {kSchemeOffset, 8, &RunX86<DotVnni<4>>};
  }
#endif
  if (wbits == 8 && abits == 8) return {kSchemeSign, 0, &RunX86<DotSign>};
  if (wbits == 8) return {kSchemeOffset, 128, &RunX86<DotOffset<8>>};
  return {kSchemeOffset, 8, &RunX86<DotOffset<4>>};
}

#else  // !SM_QLIN_X86

QKernel GetKernel(int /*wbits*/, int /*abits*/) { return {kSchemeExact, 0, &RunScalar}; }

#endif  // SM_QLIN_X86

// ------------------------------------------------------- activation quantizer

// ceil(log2(|v|)) - (bits - 1) from the bits of a finite, non-zero |v|: the
// integer form of act_exponent (no FP compare, so no DAZ dependence).
HWY_INLINE int ExponentFromBits(uint32_t u, int bits) {
  const int E = static_cast<int>(u >> 23);
  const uint32_t M = u & 0x7fffffu;
  int ceil_log2;
  if (E != 0) {
    ceil_log2 = M == 0 ? E - 127 : E - 126;
  } else {  // subnormal: M * 2^-149, M in [2^p, 2^(p+1))
    const int p = 31 - std::countl_zero(M);
    ceil_log2 = (M & (M - 1)) == 0 ? p - 149 : p - 148;
  }
  return ceil_log2 - (bits - 1);
}

namespace hn = hwy::HWY_NAMESPACE;

// The largest |x| of a group as float bits (integer max: no FP compare, so
// no DAZ dependence); >= 0x7f800000 means a non-finite value.
template <class D>
HWY_INLINE uint32_t AbsMaxBits(D d, const float* v, int64_t n) {
  const hn::RebindToUnsigned<D> du;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto m = hn::Zero(du);
  for (int64_t i = 0; i < n; i += N)
    m = hn::Max(m, hn::And(hn::BitCast(du, hn::LoadU(d, v + i)), hn::Set(du, 0x7fffffffu)));
  return hn::GetLane(hn::MaxOfLanes(du, m));
}

HWY_INLINE float Pow2f(int k) { return std::bit_cast<float>(static_cast<uint32_t>(127 + k) << 23); }  // |k| <= 127

// Codes of one group with exponent s, as quantize_activations computes them
// in double, here exactly in float: x * 2^-s is two power-of-two products
// (2^a with a in [-126, 127], then 2^b with |b| <= 34), exact unless the
// value leaves the normal range, where the code is 0 (|v| < 2^-126) or
// saturates (|v| >= 2^128) either way. Round half away from zero is trunc
// plus an exact fraction test; |v| is capped at qmax + 1 first.
template <class D>
HWY_INLINE void GroupCodes(D d, const float* v, int64_t n, int s, int qm, int8_t* out) {
  const hn::RebindToSigned<D> di;
  const hn::Rebind<int8_t, D> d8;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int a = std::clamp(-s, -126, 127), b = -s - a;
  const auto fa = hn::Set(d, Pow2f(a)), fb = hn::Set(d, Pow2f(b));
  const auto cap = hn::Set(d, float(qm + 1)), top = hn::Set(d, float(qm));
  const auto half = hn::Set(d, 0.5f), one = hn::Set(d, 1.0f);
  for (int64_t i = 0; i < n; i += N) {
    const auto x = hn::LoadU(d, v + i);
    const auto m = hn::Min(hn::Abs(hn::Mul(hn::Mul(x, fa), fb)), cap);
    const auto r = hn::Trunc(m);
    const auto c = hn::Min(hn::IfThenElse(hn::Ge(hn::Sub(m, r), half), hn::Add(r, one), r), top);
    hn::StoreU(hn::DemoteTo(d8, hn::ConvertTo(di, hn::CopySign(c, x))), d8, out + i);
  }
}

// One row, exactly as quantize_activations; false on a non-finite value
// (the caller reruns the reference for its error).
template <class D>
HWY_INLINE bool QuantizeRowWith(D d, const float* x, int64_t cols, int bits, int64_t group,
                                int exp_min, int exp_max, int8_t* codes, int16_t* exps) {
  const int qm = (1 << (bits - 1)) - 1;
  for (int64_t g = 0; g < cols / group; ++g) {
    const float* v = x + g * group;
    const uint32_t mx = AbsMaxBits(d, v, group);
    if (mx >= 0x7f800000u) return false;
    const int s = std::clamp(mx == 0 ? 0 : ExponentFromBits(mx, bits), exp_min, exp_max);
    exps[g] = static_cast<int16_t>(s);
    GroupCodes(d, v, group, s, qm, codes + g * group);
  }
  return true;
}

// Per 8 channels: sum |a| and sum a (as sum (a + 128) - 1024, so that the
// unsigned SumsOf8 applies; |-128| reads as 128 once reinterpreted as u8).
void Sums8(const int8_t* a, int64_t n, int32_t* abs8, int32_t* sum8) {
  const hn::CappedTag<uint8_t, 64> du8;
  const hn::RebindToSigned<decltype(du8)> di8;
  const hn::Repartition<uint64_t, decltype(du8)> du64;
  const int64_t N = static_cast<int64_t>(hn::Lanes(du8));
  int64_t i = 0;
  if (N >= 8) {
    alignas(64) uint64_t sa[8], ss[8];
    for (; i + N <= n; i += N) {
      const auto v = hn::LoadU(di8, a + i);
      hn::Store(hn::SumsOf8(hn::BitCast(du8, hn::Abs(v))), du64, sa);
      hn::Store(hn::SumsOf8(hn::Xor(hn::BitCast(du8, v), hn::Set(du8, 0x80))), du64, ss);
      for (int64_t j = 0; j < N / 8; ++j) {
        abs8[i / 8 + j] = static_cast<int32_t>(sa[j]);
        sum8[i / 8 + j] = static_cast<int32_t>(ss[j]) - 1024;
      }
    }
  }
  for (; i < n; i += 8) {
    int32_t u = 0, t = 0;
    for (int64_t c = i; c < i + 8; ++c) {
      u += std::abs(int32_t(a[c]));
      t += a[c];
    }
    abs8[i / 8] = u;
    sum8[i / 8] = t;
  }
}

// The widest vector whose lane count divides the group (one lane at worst).
bool QuantizeRow(const float* x, int64_t cols, int bits, int64_t group, int exp_min, int exp_max,
                 int8_t* codes, int16_t* exps) {
  const hn::CappedTag<float, 16> d16;
  const hn::CappedTag<float, 8> d8;
  const hn::CappedTag<float, 4> d4;
  const hn::CappedTag<float, 1> d1;
  if (group % static_cast<int64_t>(hn::Lanes(d16)) == 0)
    return QuantizeRowWith(d16, x, cols, bits, group, exp_min, exp_max, codes, exps);
  if (group % static_cast<int64_t>(hn::Lanes(d8)) == 0)
    return QuantizeRowWith(d8, x, cols, bits, group, exp_min, exp_max, codes, exps);
  if (group % static_cast<int64_t>(hn::Lanes(d4)) == 0)
    return QuantizeRowWith(d4, x, cols, bits, group, exp_min, exp_max, codes, exps);
  return QuantizeRowWith(d1, x, cols, bits, group, exp_min, exp_max, codes, exps);
}

}  // namespace HWY_NAMESPACE
}  // namespace sm::quant
#pragma GCC diagnostic pop
#if HWY_TARGET == HWY_AVX3_DL
#pragma GCC pop_options
#endif
HWY_AFTER_NAMESPACE();

#undef SM_QLIN_X86
#endif  // SM_QUANT_QLINEAR_INL_H_ toggle
