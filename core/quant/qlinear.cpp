// SPDX-License-Identifier: Apache-2.0
// Highway leaves AVX3_DL out unless asked; its VNNI kernel is the fastest int8
// path where the CPU has it. Only this file's dispatch tables see the target.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#include "core/quant/qlinear.h"

#include <algorithm>
#include <bit>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "core/io/error.h"
#include "core/kernels/thread_pool.h"
#include "core/kernels/weight_memory.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/quant/qlinear.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "core/quant/qlinear-inl.h"

#if HWY_ONCE
namespace sm::quant {

HWY_EXPORT(GetKernel);
HWY_EXPORT(QuantizeRow);
HWY_EXPORT(Sums8);

namespace {

using detail::kQScaleBytes;
using detail::kQTileRows;
using detail::QBlock;
using detail::QKernel;
using detail::QToken;

// The largest per-block exponent step d folded into the int32 group sums:
// the madd multiplier 2^d must be a positive int16.
constexpr int kMaxStep = 14;

// Runs its scope with FTZ / DAZ off (the model's forward pass turns them on
// for its own float kernels): quantizing subnormal activations and the
// reference fallback then see the values the contract speaks of.
class DefaultFpMode {
 public:
#if defined(__SSE__)
  DefaultFpMode() : saved_(_mm_getcsr()) {
    if (saved_ & kFlush) _mm_setcsr(saved_ & ~kFlush);
  }
  ~DefaultFpMode() {
    if (saved_ & kFlush) _mm_setcsr(saved_);
  }

 private:
  static constexpr unsigned kFlush = 0x8040;  // FTZ | DAZ
  unsigned saved_;
#endif
};

// Per calling thread, reused across calls (decode makes hundreds per token).
struct Scratch {
  QuantizedActivations xq;  // the float entry point's quantized rows
  std::vector<int32_t> mul, shl, init, e, ind_begin;
  std::vector<QBlock> ind;
  std::vector<QToken> tokens;
  std::vector<int64_t> slow;
  std::vector<int32_t> abs8, sum8;      // per 8 channels of every token
  std::vector<int32_t> asum, sigma, xs;  // per block of one token
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

thread_local QLinearStats g_stats;

// ------------------------------------------------------------------ packing

void check_matrix(const QuantizedMatrix& w) {
  const char* where = "quant::PackedQMatrix::pack";
  if (w.bits != 4 && w.bits != 8) fail(where, "bits must be 4 or 8, got " + std::to_string(w.bits));
  if (w.rows < 0 || w.cols < 0) fail(where, "negative shape");
  if (w.group < 1 || w.group > kMaxGroup || w.cols % w.group != 0)
    fail(where, "group size " + std::to_string(w.group) + " does not fit the row length " +
                    std::to_string(w.cols));
  const size_t n = static_cast<size_t>(w.rows * w.groups_per_row());
  if (w.codes.size() != static_cast<size_t>(w.rows * w.row_bytes()))
    fail(where, "code array size does not match the shape");
  if (w.kind == ScaleKind::Float ? w.scales.size() != n : (w.s1.size() != n || w.s2.size() != n))
    fail(where, "scale array size does not match the shape");
  if (w.kind == ScaleKind::Pow2Sum)
    for (size_t i = 0; i < n; ++i) {
      const int gap = w.s1[i] - w.s2[i];
      if (gap < 1 || gap > kPow2SumMaxGap) fail(where, "Pow2Sum exponent gap outside 1..7");
    }
}

// Whether every s + kFracBits fits the layout's int8 scale bytes.
bool scales_fit_int8(const QuantizedMatrix& w) {
  for (size_t i = 0; i < w.s1.size(); ++i)
    for (int s : {int(w.s1[i]), int(w.s2[i])})
      if (s + kFracBits < INT8_MIN || s + kFracBits > INT8_MAX) return false;
  return true;
}

// ------------------------------------------------------------ activations

// linear_int's own checks on the activations (it is what raises the errors:
// any failure here sends the call to it). Codes and exponents from the fast
// quantizer are in range by construction (`trusted`).
bool activations_ok(const QuantizedActivations& x, const PackedQMatrix& w, int64_t ldy, bool trusted) {
  if (x.bits != 4 && x.bits != 8) return false;
  if (x.rows < 0 || x.cols != w.cols() || x.group < 1 || x.group > kMaxGroup || x.cols % x.group != 0)
    return false;
  if (ldy < w.rows()) return false;
  if (x.codes.size() != static_cast<size_t>(x.rows * x.cols) ||
      x.exps.size() != static_cast<size_t>(x.rows * x.groups_per_row()))
    return false;
  const int64_t B = std::min(w.group(), x.group);
  if (std::max(w.group(), x.group) % B != 0) return false;
  if ((B << (w.bits() - 1 + x.bits - 1)) > INT32_MAX) return false;
  if (trusted) return true;
  int8_t cmin = 0, cmax = 0;  // min / max reductions: vectorized
  for (int8_t c : x.codes) {
    cmin = std::min(cmin, c);
    cmax = std::max(cmax, c);
  }
  int16_t emin = 0, emax = 0;
  for (int16_t e : x.exps) {
    emin = std::min(emin, e);
    emax = std::max(emax, e);
  }
  return cmin >= -(1 << (x.bits - 1)) && cmax <= (1 << (x.bits - 1)) - 1 && emin >= kActExpMin &&
         emax <= kActExpMax;
}

// quantize_activations' parameter checks; on failure the reference itself
// raises its error (it checks before reading x).
void check_act_params(int64_t T, int64_t cols, const ActQuant& aq) {
  const bool ok = (aq.bits == 4 || aq.bits == 8) && T >= 0 && aq.group >= 1 &&
                  aq.group <= kMaxGroup && cols % aq.group == 0 && aq.exp_min <= aq.exp_max &&
                  aq.exp_min >= kActExpMin && aq.exp_max <= kActExpMax;
  if (ok) return;
  quantize_activations(nullptr, std::min<int64_t>(T, 0), cols, aq.bits, aq.group, aq.exp_min, aq.exp_max);
  fail("quant::qlinear", "invalid activation quantization parameters");
}

void quantize_into(const float* x, int64_t T, int64_t ldx, int64_t cols, const ActQuant& aq,
                   QuantizedActivations& q) {
  check_act_params(T, cols, aq);
  if (T > 0 && ldx < cols) fail("quant::qlinear", "ldx smaller than the row length");
  const int64_t ng = cols / aq.group;
  q.rows = T;
  q.cols = cols;
  q.bits = aq.bits;
  q.group = aq.group;
  q.codes.resize(static_cast<size_t>(T * cols));
  q.exps.resize(static_cast<size_t>(T * ng));
  for (int64_t t = 0; t < T; ++t) {
    if (HWY_DYNAMIC_DISPATCH(QuantizeRow)(x + t * ldx, cols, aq.bits, aq.group, aq.exp_min,
                                          aq.exp_max, q.codes.data() + t * cols, q.exps.data() + t * ng))
      continue;
    // A non-finite value: the reference names it.
    std::vector<float> dense(static_cast<size_t>(T * cols));
    for (int64_t r = 0; r < T; ++r) std::memcpy(dense.data() + r * cols, x + r * ldx, cols * sizeof(float));
    quantize_activations(dense.data(), T, cols, aq.bits, aq.group, aq.exp_min, aq.exp_max);
    fail("quant::qlinear", "non-finite activation");
  }
}

// ----------------------------------------------------------------- prepare

// 2^k as a double, |k| <= 1022 (no libm call on the per-token path).
double pow2d(int k) { return std::bit_cast<double>(static_cast<uint64_t>(1023 + k) << 52); }

// The base exponent of one group: the smallest candidate exponent e such
// that every grouped block (candidates with xs >= e) has d = xs - e <=
// kMaxStep and wmax * sum asum 2^d < 2^31. At e = the largest candidate both
// hold (|S| <= 128 * 128 * group <= 2^30), so there always is one. Returns
// the bound wmax * sum asum 2^d through *bound. Candidates: asum > 0 and
// xs >= thr (every row's shift s2 + xs + 32 >= 0).
int base_exponent(const int32_t* as, const int32_t* xs, int64_t nbg, int thr, int lo, int hi,
                  int64_t wmax, int64_t* bound) {
  for (int e = lo;;) {
    if (hi - e <= kMaxStep) {
      int64_t sum = 0;
      for (int64_t k = 0; k < nbg; ++k)
        if (as[k] > 0 && xs[k] >= e) sum += int64_t(as[k]) << (xs[k] - e);  // xs >= e >= thr
      if (wmax * sum < (int64_t(1) << 31)) {
        *bound = wmax * sum;
        return e;
      }
    }
    int next = hi;  // the next candidate exponent above e
    for (int64_t k = 0; k < nbg; ++k)
      if (as[k] > 0 && xs[k] > e && xs[k] >= thr) next = std::min(next, xs[k]);
    e = next;
  }
}

// Token row t for the fast kernels, or false: the row runs the reference.
//
// The reference sums, over blocks b of B channels, term_b = round_shift(acc_b *
// (2^gap + 1), s2 + xs_b + 32). Per weight group g this picks a base exponent
// e_g and splits its non-zero blocks in two:
//  - grouped: every row's shift s2 + xs_b + 32 >= 0 (checked with the group's
//    smallest s2 over all rows), so term_b = acc_b (2^s1 + 2^s2) 2^(xs_b + 32)
//    exactly, and d_b = xs_b - e_g in [0, kMaxStep]. Their terms add up to
//    S_g (2^s1 + 2^s2) 2^(e_g + 32) with S_g = sum acc_b 2^d_b, an integer the
//    kernels sum in int32 lanes: |S_g| <= wmax * sum |a| 2^d_b < 2^31 is
//    checked here, so even lanes that wrap on the way (the offset scheme) end
//    exact, and the int16 stages are bounded statically (see the -inl.h).
//  - individual: the rest (tiny activations whose term needs the rounding,
//    exponents far below the group's): summed alone, rounded per row exactly
//    as the reference does.
// Zero blocks have term 0 whatever the shift and are skipped. Finally the sum
// of |term| bound must stay below 2^62: then the reference cannot fail, every
// partial int64 sum of the kernels fits, and Q is the same integer.
bool prepare(const PackedQMatrix& w, const QuantizedActivations& x, int64_t t, int64_t B,
             int offset, Scratch& s, int32_t* mul, int32_t* shl, int32_t* init, int32_t* e,
             int32_t* ind_begin) {
  const int64_t cols = w.cols(), wg = w.group(), ag = x.group;
  const int64_t ng = cols / wg, nbg = wg / B, nb = cols / B, per8 = B / 8, ratio = ag / B;  // ag: a multiple of B
  const int32_t* abs8 = s.abs8.data() + t * (cols / 8);
  const int32_t* sum8 = s.sum8.data() + t * (cols / 8);
  const int16_t* xe = x.exps.data() + t * (cols / ag);
  const int64_t wmax = w.max_abs_code();
  // Per block: sum |a| (<= 128 B, fits int32), sum a, exponent.
  s.asum.resize(nb);
  s.sigma.resize(nb);
  s.xs.resize(nb);
  if (per8 == 1) {
    std::copy(abs8, abs8 + nb, s.asum.begin());
    std::copy(sum8, sum8 + nb, s.sigma.begin());
  } else {
    for (int64_t b = 0; b < nb; ++b) {
      int32_t as = 0, sg = 0;
      for (int64_t j = b * per8; j < (b + 1) * per8; ++j) {
        as += abs8[j];
        sg += sum8[j];
      }
      s.asum[b] = as;
      s.sigma[b] = sg;
    }
  }
  for (int64_t i = 0; i < cols / ag; ++i)  // each activation group spans `ratio` blocks
    std::fill_n(s.xs.begin() + i * ratio, ratio, int32_t(xe[i]));
  double total = 0.0;  // bound on sum |term|: exact products, a relative error of ~1e-15 in the sum
  for (int64_t g = 0; g < ng; ++g) {
    ind_begin[g] = static_cast<int32_t>(s.ind.size());
    const int32_t* as = s.asum.data() + g * nbg;
    const int32_t* sg = s.sigma.data() + g * nbg;
    const int32_t* xs = s.xs.data() + g * nbg;
    const int s1M = w.s1_max(g), thr = -kFracBits - w.s2_min(g);
    int lo = INT_MAX, hi = INT_MIN;
    for (int64_t k = 0; k < nbg; ++k) {
      const bool cand = as[k] > 0 && xs[k] >= thr;
      lo = cand ? std::min(lo, int(xs[k])) : lo;
      hi = cand ? std::max(hi, int(xs[k])) : hi;
    }
    const bool grouped = lo <= hi;
    int64_t bound = 0;
    const int eg = grouped ? base_exponent(as, xs, nbg, thr, lo, hi, wmax, &bound) : INT_MAX;
    int64_t corr = 0;
    for (int64_t k = 0; k < nbg; ++k) {
      const int64_t b = g * nbg + k;
      if (as[k] > 0 && xs[k] >= eg) {  // grouped (eg >= thr)
        const int d = xs[k] - eg;
        mul[b] = (int32_t(1) << d) * 0x10001;
        shl[b] = d;
        corr += int64_t(sg[k]) << d;
      } else {
        mul[b] = 0;
        shl[b] = 32;
        if (as[k] == 0) continue;
        const uint32_t c = static_cast<uint32_t>(offset * sg[k]);  // lanes are mod 2^32
        s.ind.push_back({static_cast<int32_t>(b), xs[k], static_cast<int32_t>(c)});
        total += double(wmax * as[k]) * pow2d(s1M + 1 + xs[k] + kFracBits) + 1.0;
      }
    }
    init[g] = static_cast<int32_t>(static_cast<uint32_t>(-(offset * corr)));
    e[g] = grouped ? eg : 0;
    if (grouped) total += double(bound) * pow2d(s1M + 1 + eg + kFracBits);
  }
  ind_begin[ng] = static_cast<int32_t>(s.ind.size());
  return total < 0x1p62;
}

// The reference for every row (it raises every error), plus the bias.
void reference_all(const QuantizedActivations& x, const PackedQMatrix& w, const float* bias,
                   float* y, int64_t ldy) {
  linear_int(x, w.reference(), y, ldy);
  if (bias)
    for (int64_t t = 0; t < x.rows; ++t)
      for (int64_t r = 0; r < w.rows(); ++r) y[t * ldy + r] = y[t * ldy + r] + bias[r];
  g_stats.fallback_rows = x.rows;
}

// Row t alone through the reference. If it fails, the whole call through the
// reference names the failing output as the reference would.
void reference_row(const QuantizedActivations& x, int64_t t, const PackedQMatrix& w,
                   const float* bias, float* y, int64_t ldy) {
  QuantizedActivations one;
  one.rows = 1;
  one.cols = x.cols;
  one.bits = x.bits;
  one.group = x.group;
  const int64_t ngx = x.groups_per_row();
  one.codes.assign(x.codes.begin() + t * x.cols, x.codes.begin() + (t + 1) * x.cols);
  one.exps.assign(x.exps.begin() + t * ngx, x.exps.begin() + (t + 1) * ngx);
  float* out = y + t * ldy;
  try {
    linear_int(one, w.reference(), out, ldy);
  } catch (const Error&) {
    std::vector<float> tmp(static_cast<size_t>(x.rows * w.rows()));
    linear_int(x, w.reference(), tmp.data(), w.rows());
    throw;
  }
  if (bias)
    for (int64_t r = 0; r < w.rows(); ++r) out[r] = out[r] + bias[r];
}

void run_tiles(const QKernel& K, const detail::QRun& R, const PackedQMatrix& w, ThreadPool* pool) {
  const int64_t tiles = w.layout().tiles;
  // Below ~0.5 M multiply-adds a hand-off to another thread costs more than it saves.
  if (!pool || pool->size() == 1 || tiles < 24 ||
      w.rows() * w.cols() * std::min<int64_t>(R.ntok, 8) < (int64_t(1) << 19)) {
    K.run(R, 0, tiles);
    return;
  }
  // Chunks of 12 tiles: whole decode panels (2, 3 or 4 tiles) on every target.
  pool->parallel_for(tiles, [&](int64_t t0, int64_t t1) { K.run(R, t0, t1); }, 12);
}

void qlinear_impl(const QuantizedActivations& x, const PackedQMatrix& w, const float* bias,
                  float* y, int64_t ldy, ThreadPool* pool, bool trusted) {
  g_stats = {};
  if (!w.fast() || !activations_ok(x, w, ldy, trusted)) return reference_all(x, w, bias, y, ldy);
  const int64_t B = std::min(w.group(), x.group);
  if (B % 8 != 0) return reference_all(x, w, bias, y, ldy);
  const QKernel K = HWY_DYNAMIC_DISPATCH(GetKernel)(w.bits(), x.bits);
  // The sign scheme would negate a -128 weight into itself.
  if (K.scheme == detail::kSchemeSign && w.has_min_code()) return reference_all(x, w, bias, y, ldy);

  Scratch& s = scratch();
  const int64_t nb = w.cols() / B, ng = w.cols() / w.group(), T = x.rows;
  s.mul.resize(T * nb);
  s.shl.resize(T * nb);
  s.init.resize(T * ng);
  s.e.resize(T * ng);
  s.ind_begin.resize(T * (ng + 1));
  s.ind.clear();
  s.tokens.clear();
  s.slow.clear();
  s.abs8.resize(T * w.cols() / 8);
  s.sum8.resize(T * w.cols() / 8);
  HWY_DYNAMIC_DISPATCH(Sums8)(x.codes.data(), T * w.cols(), s.abs8.data(), s.sum8.data());
  for (int64_t t = 0; t < T; ++t) {
    const int64_t i = static_cast<int64_t>(s.tokens.size());
    const size_t mark = s.ind.size();
    if (!prepare(w, x, t, B, K.offset, s, s.mul.data() + i * nb, s.shl.data() + i * nb,
                 s.init.data() + i * ng, s.e.data() + i * ng, s.ind_begin.data() + i * (ng + 1))) {
      s.ind.resize(mark);
      s.slow.push_back(t);
      continue;
    }
    s.tokens.push_back({x.codes.data() + t * x.cols, y + t * ldy, nullptr, nullptr, nullptr,
                        nullptr, nullptr, nullptr});
  }
  for (size_t i = 0; i < s.tokens.size(); ++i) {  // s.ind is complete: pointers are stable now
    QToken& tk = s.tokens[i];
    tk.mul = s.mul.data() + i * nb;
    tk.shl = s.shl.data() + i * nb;
    tk.init = s.init.data() + i * ng;
    tk.e = s.e.data() + i * ng;
    tk.ind_begin = s.ind_begin.data() + i * (ng + 1);
    tk.ind = s.ind.data();
  }
  if (!s.tokens.empty()) {
    const detail::QRun R{&w.layout(), s.tokens.data(), static_cast<int64_t>(s.tokens.size()), B, bias};
    run_tiles(K, R, w, pool);
  }
  for (int64_t t : s.slow) reference_row(x, t, w, bias, y, ldy);
  g_stats.fallback_rows = static_cast<int64_t>(s.slow.size());
  g_stats.single_blocks = static_cast<int64_t>(s.ind.size());
}

}  // namespace

// ------------------------------------------------------------ PackedQMatrix

void PackedQMatrix::Free::operator()(uint8_t* p) const { weight_free(p); }

PackedQMatrix::PackedQMatrix() = default;
PackedQMatrix::~PackedQMatrix() = default;
PackedQMatrix::PackedQMatrix(PackedQMatrix&&) noexcept = default;
PackedQMatrix& PackedQMatrix::operator=(PackedQMatrix&&) noexcept = default;

size_t PackedQMatrix::bytes() const {
  if (fast()) return static_cast<size_t>(layout_.tiles * layout_.tile_bytes);
  return ref_.codes.size() + (ref_.kind == ScaleKind::Float ? ref_.scales.size() * sizeof(float)
                                                            : (ref_.s1.size() + ref_.s2.size()) * sizeof(int16_t));
}

PackedQMatrix PackedQMatrix::pack(const QuantizedMatrix& w) {
  check_matrix(w);
  PackedQMatrix m;
  m.ref_ = w;
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t c = 0; c < w.cols; ++c) {
      const int v = w.code(r, c);
      m.wmax_ = std::max(m.wmax_, std::abs(v));
      if (w.bits == 8 && v == -128) m.has_min8_ = true;
    }
  if (w.kind != ScaleKind::Pow2Sum || w.group % 8 != 0 || w.rows == 0 || w.cols == 0 ||
      !scales_fit_int8(w))
    return m;

  const int64_t ng = w.groups_per_row();
  m.s2min_.assign(ng, INT16_MAX);
  m.s1max_.assign(ng, INT16_MIN);
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t g = 0; g < ng; ++g) {
      m.s2min_[g] = std::min(m.s2min_[g], w.s2[r * ng + g]);
      m.s1max_[g] = std::max(m.s1max_[g], w.s1[r * ng + g]);
    }

  detail::QLayout& L = m.layout_;
  L.rows = w.rows;
  L.cols = w.cols;
  L.group = w.group;
  L.bits = w.bits;
  L.tiles = (w.rows + kQTileRows - 1) / kQTileRows;
  L.group_bytes = kQTileRows * w.group * w.bits / 8;
  L.tile_bytes = (ng + 1) / 2 * 64 + ng * L.group_bytes;
  const size_t total = static_cast<size_t>(L.tiles * L.tile_bytes);
  auto* p = static_cast<uint8_t*>(weight_alloc(total));
  std::memset(p, 0, total);
  m.data_.reset(p);
  L.data = p;
  for (int64_t ti = 0; ti < L.tiles; ++ti) {
    uint8_t* tile = p + ti * L.tile_bytes;
    for (int64_t row = 0; row < kQTileRows; ++row) {
      const int64_t r = ti * kQTileRows + row;
      for (int64_t g = 0; g < ng; ++g) {
        uint8_t* dst = tile + L.codes_offset(g);
        for (int64_t cc = 0; cc < w.group; ++cc) {
          const int code = r < w.rows ? w.code(r, g * w.group + cc) : 0;  // padding rows: zero
          if (w.bits == 8) {
            dst[(cc / 4) * 64 + row * 4 + cc % 4] = static_cast<uint8_t>(code);
          } else {
            const int half = (cc / 4) & 1;  // quad q in the low nibbles, quad q + 1 in the high ones
            dst[(cc / 8) * 64 + row * 4 + cc % 4] |= static_cast<uint8_t>((code + 8) << (4 * half));
          }
        }
        if (r >= w.rows) continue;
        auto* sc = reinterpret_cast<int8_t*>(tile + L.scales_offset(g));
        sc[row] = static_cast<int8_t>(w.s1[r * ng + g] + kFracBits);
        sc[kQTileRows + row] = static_cast<int8_t>(w.s2[r * ng + g] + kFracBits);
      }
    }
  }
  return m;
}

// ------------------------------------------------------------------ entries

void qlinear(const QuantizedActivations& x, const PackedQMatrix& w, const float* bias, float* y,
             int64_t ldy, ThreadPool* pool) {
  DefaultFpMode fp;
  qlinear_impl(x, w, bias, y, ldy, pool, false);
}

void qlinear(const float* x, int64_t T, int64_t ldx, const ActQuant& aq, const PackedQMatrix& w,
             const float* bias, float* y, int64_t ldy, ThreadPool* pool) {
  DefaultFpMode fp;
  Scratch& s = scratch();
  quantize_into(x, T, ldx, w.cols(), aq, s.xq);
  qlinear_impl(s.xq, w, bias, y, ldy, pool, true);
}

QuantizedActivations quantize_activations_fast(const float* x, int64_t T, int64_t cols,
                                               int64_t ldx, const ActQuant& aq) {
  DefaultFpMode fp;
  QuantizedActivations q;
  quantize_into(x, T, ldx, cols, aq, q);
  return q;
}

QLinearStats qlinear_last_stats() { return g_stats; }

}  // namespace sm::quant
#endif  // HWY_ONCE
