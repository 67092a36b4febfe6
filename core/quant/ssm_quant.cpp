// SPDX-License-Identifier: Apache-2.0
#include "core/quant/ssm_quant.h"

#include <algorithm>
#include <bit>
#include <climits>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>

#include "core/io/error.h"
#include "core/quant/quantizers.h"

namespace sm::quant {

namespace {

constexpr int kBits = 8;
constexpr int kQmax = 127;
// Aligned terms stay below 2^56, so a sum of up to 64 of them fits int64.
constexpr int kAlignBits = 56;
constexpr int64_t kMaxTerms = 64;

uint64_t magnitude(int64_t v) { return v < 0 ? uint64_t(0) - uint64_t(v) : uint64_t(v); }

struct Term {
  int64_t v;
  int e;  // value = v * 2^e
};

// The accumulator exponent for a set of terms: the finest exponent among the
// non-zero terms, but no finer than top - 56 (top = the highest bit position
// reached), so every aligned term is < 2^56. Terms finer than that are
// rounded (error < 2^-56 of the largest term); zero terms do not count.
int align_exponent(std::span<const Term> terms) {
  int emin = INT_MAX, top = INT_MIN;
  for (const Term& t : terms) {
    if (t.v == 0) continue;
    emin = std::min(emin, t.e);
    top = std::max(top, t.e + int(std::bit_width(magnitude(t.v))));
  }
  if (emin == INT_MAX) return 0;
  return std::max(emin, top - kAlignBits);
}

int64_t aligned(const Term& t, int e) {
  const auto r = round_shift(t.v, t.e - e);  // |result| < 2^56 by align_exponent
  if (!r) fail("quant::ssm_step_mamba2_int", "internal: term alignment overflow");
  return *r;
}

void check_pot(const char* where, const char* name, const PotTensor& t, int64_t size, int64_t group) {
  if (t.size != size || int64_t(t.codes.size()) != size)
    fail(where, std::string(name) + ": size " + std::to_string(t.size) + ", expected " + std::to_string(size));
  if (group > 0 && t.group != group)
    fail(where, std::string(name) + ": group " + std::to_string(t.group) + ", expected " + std::to_string(group));
  if (t.group < 1 || int64_t(t.exps.size()) != t.groups())
    fail(where, std::string(name) + ": bad group / exponent count");
  for (int8_t c : t.codes)
    if (c < -kQmax) fail(where, std::string(name) + ": code -128 (codes are symmetric, -127..127)");
  for (int16_t e : t.exps)
    if (e < kActExpMin || e > kActExpMax) fail(where, std::string(name) + ": exponent out of range");
}

}  // namespace

double PotTensor::value(int64_t i) const { return std::ldexp(double(codes[size_t(i)]), exp_at(i)); }

PotTensor quantize_pot(std::span<const float> x, int64_t group) {
  if (group < 1) fail("quant::quantize_pot", "group must be >= 1");
  PotTensor t;
  t.size = int64_t(x.size());
  t.group = group;
  t.codes.resize(x.size());
  t.exps.resize(size_t(t.groups()));
  const int64_t full = t.size / group * group;
  // Full groups in one call, the short tail as its own group: the same rule for both.
  for (auto [off, n, g] : {std::tuple{int64_t(0), full, group}, std::tuple{full, t.size - full, t.size - full}}) {
    if (n == 0) continue;
    const QuantizedActivations q = quantize_activations(x.data() + off, 1, n, kBits, g);
    std::copy(q.codes.begin(), q.codes.end(), t.codes.begin() + off);
    std::copy(q.exps.begin(), q.exps.end(), t.exps.begin() + off / group);
  }
  return t;
}

std::vector<float> dequantize(const PotTensor& t) {
  std::vector<float> out(size_t(t.size));
  for (int64_t i = 0; i < t.size; ++i) {
    const double v = t.value(i);
    if (std::abs(v) > double(std::numeric_limits<float>::max()))
      fail("quant::dequantize(PotTensor)", "value " + std::to_string(i) + " exceeds float range");
    out[size_t(i)] = float(v);
  }
  return out;
}

int16_t quantize_pot_group(const int64_t* v, int64_t n, int e, int8_t* codes) {
  uint64_t m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, magnitude(v[i]));
  if (m == 0) {
    std::fill(codes, codes + n, int8_t(0));
    return 0;
  }
  // ceil(log2 m) = bit_width(m - 1) for m >= 1: exact, as act_exponent's frexp rule.
  int s = int(std::bit_width(m - 1)) + e - (kBits - 1);
  s = std::max(s, kActExpMin);
  if (s > kActExpMax) fail("quant::quantize_pot_group", "exponent " + std::to_string(s) + " above the int16 window");
  for (int64_t i = 0; i < n; ++i) {
    const auto r = round_shift(v[i], e - s);  // a left shift only when m < 128: no overflow
    codes[i] = int8_t(std::clamp<int64_t>(*r, -kQmax, kQmax));
  }
  return int16_t(s);
}

PotTensor quantize_pot_fixed(std::span<const int64_t> v, int e, int64_t group) {
  if (group < 1) fail("quant::quantize_pot_fixed", "group must be >= 1");
  PotTensor t;
  t.size = int64_t(v.size());
  t.group = group;
  t.codes.resize(v.size());
  t.exps.resize(size_t(t.groups()));
  for (int64_t g = 0; g < t.groups(); ++g) {
    const int64_t off = g * group, n = std::min(group, t.size - off);
    t.exps[size_t(g)] = quantize_pot_group(v.data() + off, n, e, t.codes.data() + off);
  }
  return t;
}

SsmParamsFixed ssm_params_fixed(std::span<const float> A, std::span<const float> D,
                                std::span<const float> dt_bias) {
  const char* where = "quant::ssm_params_fixed";
  if (A.size() != D.size() || A.size() != dt_bias.size()) fail(where, "A, D, dt_bias sizes differ");
  auto conv = [&](std::span<const float> src, const char* name) {
    std::vector<int32_t> out;
    for (size_t i = 0; i < src.size(); ++i) {
      const double s = std::ldexp(double(src[i]), kSsmParamFrac);
      if (!std::isfinite(s) || std::abs(s) >= 2147483647.0)
        fail(where, std::string(name) + "[" + std::to_string(i) + "] is not finite or beyond Q16 int32");
      out.push_back(int32_t(round_half_away(s)));
    }
    return out;
  };
  SsmParamsFixed p{conv(A, "A"), conv(D, "D"), conv(dt_bias, "dt_bias")};
  for (size_t i = 0; i < p.A.size(); ++i)
    if (p.A[i] > 0) fail(where, "A[" + std::to_string(i) + "] > 0 (A = -exp(A_log) is negative)");
  return p;
}

SsmTables SsmTables::make(int64_t softplus_size, int64_t exp_size, LutInterp interp) {
  return {Lut({LutFunc::Softplus, softplus_size, 4, interp}), Lut({LutFunc::Exp, exp_size, 4, interp})};
}

SsmHeadScalars ssm_head_scalars(int dt_code, int dt_exp, int32_t A, int32_t dt_bias, const SsmTables& tables) {
  SsmHeadScalars r;
  // 1-2. softplus(dt + dt_bias), Q24, then INT8 PoT (a group of one).
  // Saturated at 2^46 (2^30 in value): the softplus table is the identity long before.
  const int64_t lim = int64_t(1) << 46;
  const int64_t t = std::clamp<int64_t>(pot_to_fixed(dt_code, dt_exp, kLutInFrac), -lim, lim);
  int64_t fixed = tables.softplus.eval(t + dt_bias);
  r.sp_exp = quantize_pot_group(&fixed, 1, -kLutOutFrac, &r.sp_code);
  // 3-4. exp(dt * A): A (Q16) * sp code, back to Q16 by the sp exponent; an
  // overflow means dt * A far below the table (exp = 0).
  const int64_t prod = int64_t(A) * r.sp_code;  // |.| < 2^38
  const auto a = round_shift(prod, r.sp_exp);
  fixed = a ? tables.exp.eval(*a) : 0;
  r.dA_exp = quantize_pot_group(&fixed, 1, -kLutOutFrac, &r.dA_code);
  return r;
}

int16_t ssm_state_group(int dA_code, const int8_t* h, int e1, const int8_t* dB, int x_code, int e2, int64_t n,
                        int8_t* out) {
  // On the stack up to 64 states (every preset), on the heap beyond.
  constexpr int64_t kStack = 64;
  Term terms_s[2 * kStack];
  int64_t v_s[kStack];
  std::vector<Term> terms_h;
  std::vector<int64_t> v_h;
  if (n > kStack) {
    terms_h.resize(size_t(2 * n));
    v_h.resize(size_t(n));
  }
  Term* terms = n > kStack ? terms_h.data() : terms_s;
  int64_t* v = n > kStack ? v_h.data() : v_s;
  for (int64_t j = 0; j < n; ++j) {
    terms[2 * j] = {int64_t(dA_code) * h[j], e1};
    terms[2 * j + 1] = {int64_t(dB[j]) * x_code, e2};
  }
  const int e = align_exponent(std::span<const Term>(terms, size_t(2 * n)));
  for (int64_t j = 0; j < n; ++j) v[j] = aligned(terms[2 * j], e) + aligned(terms[2 * j + 1], e);
  return quantize_pot_group(v, n, e, out);
}

// Operation order (docs/ssm-quant.md has the same list with the bounds):
//  1. t[hd]   = pot_to_fixed(dt) (Q16) + dt_bias[hd]                   int64
//  2. sp      = quantize_pot_fixed(softplus_lut(t), e = -24)            PotTensor [H]
//  3. a[hd]   = round_shift(A[hd] * sp.code, sp.exp)  (Q16, <= 0)       int64
//  4. dA      = quantize_pot_fixed(exp_lut(a), e = -24)                 PotTensor [H]
//  5. dB      = per n-group: sp.code * B.code at e = sp.exp + B.exp     PotTensor [H*N]
//  6. h'      = per (hd, p, n-group): dA.code * h.code (e1) + dB.code * x.code (e2),
//               aligned (align_exponent), exact int64 sum, requantized  PotTensor [H*P*N]
//  7. y       = per (hd, p-group): sum over n-groups of the int32 dot C.code . h'.code
//               (e = C.exp + h'.exp) + D * x.code (e = x.exp - 16), aligned over
//               the p-group's terms, int64 sums, requantized              PotTensor [H*P]
SsmStepInt ssm_step_mamba2_int(const SsmShape& shape, const PotTensor& x, const PotTensor& dt,
                               const PotTensor& B, const PotTensor& C, const PotTensor& h,
                               const SsmParamsFixed& params, const SsmTables& tables, int64_t group) {
  const char* where = "quant::ssm_step_mamba2_int";
  const int64_t H = shape.heads, P = shape.head_dim, N = shape.state, G = group;
  if (H < 1 || P < 1 || N < 1) fail(where, "empty shape");
  if (G < 1 || P % G != 0 || N % G != 0)
    fail(where, "group " + std::to_string(G) + " must divide P and N");
  if (G > kMaxGroup) fail(where, "group above kMaxGroup (int32 dot product bound)");
  if (N / G + 1 > kMaxTerms) fail(where, "N / group must be <= 63 (int64 accumulator bound)");
  if (tables.softplus.spec().func != LutFunc::Softplus || tables.exp.spec().func != LutFunc::Exp)
    fail(where, "tables are not softplus and exp");
  check_pot(where, "x", x, H * P, G);
  check_pot(where, "dt", dt, H, 0);
  check_pot(where, "B", B, N, G);
  check_pot(where, "C", C, N, G);
  check_pot(where, "h", h, H * P * N, G);
  if (int64_t(params.A.size()) != H || int64_t(params.D.size()) != H || int64_t(params.dt_bias.size()) != H)
    fail(where, "A, D, dt_bias must have one value per head");
  for (int32_t a : params.A)
    if (a > 0) fail(where, "A > 0");

  // 1-4. Per head: sp = softplus(dt + dt_bias), dA = exp(dt * A), each INT8
  // PoT with one exponent per head: per-head scalars never share an exponent
  // across heads, so the step of a range of heads does not depend on the
  // others (state tiles, threads).
  PotTensor sp, dA;
  for (PotTensor* t : {&sp, &dA}) {
    t->size = H;
    t->group = 1;
    t->codes.resize(size_t(H));
    t->exps.resize(size_t(H));
  }
  for (int64_t hd = 0; hd < H; ++hd) {
    const SsmHeadScalars s = ssm_head_scalars(dt.codes[size_t(hd)], dt.exp_at(hd), params.A[size_t(hd)],
                                              params.dt_bias[size_t(hd)], tables);
    sp.codes[size_t(hd)] = s.sp_code;
    sp.exps[size_t(hd)] = s.sp_exp;
    dA.codes[size_t(hd)] = s.dA_code;
    dA.exps[size_t(hd)] = s.dA_exp;
  }

  // 5. dt * B per head, groups along N (the B groups): one exponent per group.
  PotTensor dB;
  dB.size = H * N;
  dB.group = G;
  dB.codes.resize(size_t(H * N));
  dB.exps.resize(size_t(H * N / G));
  std::vector<int64_t> v(static_cast<size_t>(G));
  for (int64_t hd = 0; hd < H; ++hd) {
    for (int64_t g = 0; g < N / G; ++g) {
      for (int64_t j = 0; j < G; ++j) v[size_t(j)] = int64_t(sp.codes[size_t(hd)]) * B.codes[size_t(g * G + j)];
      const int e = sp.exp_at(hd) + B.exps[size_t(g)];
      dB.exps[size_t(hd * N / G + g)] =
          quantize_pot_group(v.data(), G, e, dB.codes.data() + hd * N + g * G);
    }
  }

  // 6. h' = dA * h + dB * x per group of G along N: within a group every
  // product of a kind shares its exponent, so the group sum is exact.
  SsmStepInt out;
  out.h.size = H * P * N;
  out.h.group = G;
  out.h.codes.resize(size_t(out.h.size));
  out.h.exps.resize(size_t(out.h.size / G));
  for (int64_t hd = 0; hd < H; ++hd) {
    for (int64_t p = 0; p < P; ++p) {
      const int64_t xi = hd * P + p;
      for (int64_t g = 0; g < N / G; ++g) {
        const int64_t base = (hd * P + p) * N + g * G;
        out.h.exps[size_t(base / G)] = ssm_state_group(
            dA.codes[size_t(hd)], h.codes.data() + base, dA.exp_at(hd) + h.exp_at(base),
            dB.codes.data() + hd * N + g * G, x.codes[size_t(xi)], dB.exp_at(hd * N + g * G) + x.exp_at(xi), G,
            out.h.codes.data() + base);
      }
    }
  }

  // 7. y = C . h' + D x, one aligned accumulator per group of G outputs.
  out.y.size = H * P;
  out.y.group = G;
  out.y.codes.resize(size_t(H * P));
  out.y.exps.resize(size_t(H * P / G));
  const int64_t per = N / G + 1;  // terms per output
  std::vector<Term> terms(size_t(G * per), Term{0, 0});
  for (int64_t hd = 0; hd < H; ++hd) {
    for (int64_t p0 = 0; p0 < P; p0 += G) {
      for (int64_t j = 0; j < G; ++j) {
        const int64_t xi = hd * P + p0 + j;
        for (int64_t g = 0; g < N / G; ++g) {
          const int64_t base = xi * N + g * G;
          int32_t acc = 0;  // |acc| <= G * 127^2 < 2^31 (G <= kMaxGroup)
          for (int64_t k = 0; k < G; ++k) acc += int32_t(C.codes[size_t(g * G + k)]) * out.h.codes[size_t(base + k)];
          terms[size_t(j * per + g)] = {acc, C.exps[size_t(g)] + out.h.exps[size_t(base / G)]};
        }
        terms[size_t(j * per + per - 1)] = {int64_t(params.D[size_t(hd)]) * x.codes[size_t(xi)],
                                            x.exp_at(xi) - kSsmParamFrac};
      }
      const int e = align_exponent(terms);
      for (int64_t j = 0; j < G; ++j) {
        int64_t s = 0;
        for (int64_t k = 0; k < per; ++k) s += aligned(terms[size_t(j * per + k)], e);
        v[size_t(j)] = s;
      }
      out.y.exps[size_t((hd * P + p0) / G)] = quantize_pot_group(v.data(), G, e, out.y.codes.data() + hd * P + p0);
    }
  }
  return out;
}

}  // namespace sm::quant
