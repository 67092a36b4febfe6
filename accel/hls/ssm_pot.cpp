// SPDX-License-Identifier: Apache-2.0
// sm_ssm_pot: one Mamba-2 layer's power-of-two SSM over T tokens on heads
// [h0, h1), bit for bit quant::pot_scan_mamba2 (and its reference
// composition). This file holds the datapath both SSM kernels share (the
// LUT ROM loader and step_head_token, the DATAFLOW region of one head and
// one token, declared in ssm.h) and the top function: ports, checks, the
// LUT ROMs and the head loop with the head's state tile on chip.
//
//   params, lut_sp, lut_exp, lut_cfg (m_axi, once per call)
//        |
//        v
//   [check shape / A <= 0] -> [load_lut x2: softplus ROM, exp ROM]
//                                        |
//   for hd in [h0, h1):                  v
//     S[hd] --m_axi--> [load tile] --> state tile [P][N] (BRAM, float bits)
//     for t in [0, T):                       |  ^
//       xbc[t], dt[t] --m_axi-->             v  |  (in place)
//       +----------------------- DATAFLOW (step_head_token) -----------------------+
//       | load_token -> s_x,s_b,s_c,s_dt -> quantize_token -> s_xq/xe, s_bq/be,    |
//       |   s_cq/ce, s_dtq -> head_scalars (softplus ROM, exp ROM, dt*B)          |
//       |   -> s_dA, s_dbq/dbe -> state_update (8 lanes: h' = dA h + dB x, C.h')  |
//       |   -> s_dot, s_xf/xef -> output_reduce (C.h' + D x, requant) -> s_y      |
//       |   -> store_y --m_axi--> y[t][hd*P ..]                                    |
//       |   stages 2-5 --s_err_q/h/s/o--> merge_errors -> the token's error mask   |
//       +---------------------------------------------------------------------------+
//     state tile --> [store tile] --m_axi--> S[hd]
//   status = the first error in (token, rank) order over all heads
//
// Heads are independent, so the head loop (outer: the head's state stays on
// chip across tokens) gives the same bits as the reference's token-outer
// order; the first error in (token, rank) is the reference's error.
#include "accel/hls/ssm.h"
#include "accel/hls/top.h"

// Loop labels are for the HLS reports.
#if defined(__GNUC__) && !defined(__SYNTHESIS__)
#pragma GCC diagnostic ignored "-Wunused-label"
#endif

namespace sm::hls_kernels::ssm {

static_assert(kSsmPar == 8, "the UNROLL / ARRAY_PARTITION factors below are kSsmPar");
static_assert(kDepthDots == 8064 && kDepthP == 128 && kDepthN == 128, "the STREAM depths below");

// Copies a table from host memory into its ROM and checks the contract:
// size a power of two in 2..kMaxLutSize, step shift 0..26, exp tables end
// at 0, entries and slopes small enough that the interpolation product fits
// int64 (kBadShape / kBadCode otherwise).
int32_t load_lut(const int64_t* entries, const int64_t* cfg, bool is_exp, LutRom& rom) {
  const int64_t size = cfg[0], lo = cfg[1], shift = cfg[2], interp = cfg[3];
  if (size < 2 || size > kMaxLutSize || (size & (size - 1)) != 0) return kBadShape;
  if (shift < 0 || shift > 26 || (interp != 0 && interp != 1)) return kBadShape;
  if (lo > 0 || lo < -(int64_t(1) << 40)) return kBadShape;
  rom.size = size;
  rom.lo = lo;
  rom.shift = int32_t(shift);
  rom.width = size << shift;
  rom.linear = interp == 1;
  rom.is_exp = is_exp;
  if (is_exp && lo + rom.width != 0) return kBadShape;  // exp on [lo, 0]
  const int64_t lim = int64_t(1) << 61, dlim = int64_t(1) << (62 - shift);
lut_load:
  for (int64_t i = 0; i <= size; ++i) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 8193
    const int64_t v = entries[i];
    if (v > lim || v < -lim) return kBadCode;
    if (i > 0) {
      const int64_t d = v - rom.t[i - 1];
      if (d >= dlim || d <= -dlim) return kBadCode;
    }
    rom.t[i] = v;
  }
  return kOk;
}

int32_t load_layer(const int32_t* params, int32_t h0, int32_t h1, const int64_t* lut_sp, const int64_t* lut_exp,
                   const int64_t* lut_cfg, LutRom& rom_sp, LutRom& rom_exp) {
check_params:
  for (int32_t hd = h0; hd < h1; ++hd) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 256
    if (params[hd] > 0) return kBadCode;  // A = -exp(A_log) <= 0
  }
  const int32_t st = load_lut(lut_sp, lut_cfg, false, rom_sp);
  return st == kOk ? load_lut(lut_exp, lut_cfg + 4, true, rom_exp) : st;
}

// ------------------------------------------------------------ stages

// Stage 1: burst-read x, B, C and dt of the token as IEEE bits.
inline void load_token(const HeadToken& in, hls::stream<uint32_t>& s_x, hls::stream<uint32_t>& s_b,
                       hls::stream<uint32_t>& s_c, hls::stream<uint32_t>& s_dt) {
load_x:
  for (int32_t p = 0; p < in.P; ++p) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 128
    s_x.write(f2u(in.x[p]));
  }
load_bc:
  for (int32_t n = 0; n < in.N; ++n) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 128
    s_b.write(f2u(in.B[n]));
    s_c.write(f2u(in.C[n]));
  }
  s_dt.write(f2u(*in.dt));
}

// quantize_activations (8 bits) of `n` floats in groups of G from a stream:
// codes per element, one exponent per group.
inline void quantize_floats(hls::stream<uint32_t>& in, int32_t n, int32_t G, hls::stream<int8_t>& codes,
                            hls::stream<int16_t>& exps, uint8_t* err) {
  uint32_t buf[kMaxGroup];
#pragma HLS ARRAY_PARTITION variable = buf cyclic factor = 8
quant_groups:
  for (int32_t g0 = 0; g0 < n; g0 += G) {
#pragma HLS LOOP_TRIPCOUNT max = 64
    uint32_t m = 0;
  quant_max:
    for (int32_t j = 0; j < G; ++j) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 128
      buf[j] = in.read();
      const uint32_t a = buf[j] & 0x7fffffffu;
      m = a > m ? a : m;
    }
    if (m >= 0x7f800000u) {
      *err |= kErrNonFinite;
      m = 0;
    }
    const int32_t s = m ? float_group_exp(m) : 0;
    exps.write(int16_t(s));
  quant_codes:
    for (int32_t j = 0; j < G; ++j) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 128
      codes.write(m ? float_code(buf[j], s) : int8_t(0));
    }
  }
}

// Stage 2: quantize x (groups of G along P), B and C (groups of G along N)
// and dt (a group of one).
inline void quantize_token(int32_t P, int32_t N, int32_t G, hls::stream<uint32_t>& s_x,
                           hls::stream<uint32_t>& s_b, hls::stream<uint32_t>& s_c, hls::stream<uint32_t>& s_dt,
                           hls::stream<int8_t>& s_xq, hls::stream<int16_t>& s_xe, hls::stream<int8_t>& s_bq,
                           hls::stream<int16_t>& s_be, hls::stream<int8_t>& s_cq, hls::stream<int16_t>& s_ce,
                           hls::stream<ScalarPot>& s_dtq, hls::stream<uint8_t>& s_err) {
  uint8_t err = 0;
  quantize_floats(s_x, P, G, s_xq, s_xe, &err);
  quantize_floats(s_b, N, G, s_bq, s_be, &err);
  quantize_floats(s_c, N, G, s_cq, s_ce, &err);
  // dt: a group of one (the head's own exponent).
  const uint32_t d = s_dt.read(), a = d & 0x7fffffffu;
  if (a >= 0x7f800000u) err |= kErrNonFinite;
  const bool live = a != 0 && a < 0x7f800000u;
  const int32_t s = live ? float_group_exp(a) : 0;
  s_dtq.write(ScalarPot{live ? float_code(d, s) : int8_t(0), int16_t(s)});
  s_err.write(err);
}

// The INT8 PoT of one Q24 fixed-point value (quantize_pot_group, n = 1).
inline ScalarPot quantize_q24(int64_t v, bool* ovf) {
  if (v == 0) return ScalarPot{0, 0};
  const int32_t s = fixed_group_exp(mag64(v), -kLutOutFrac, ovf);
  return ScalarPot{fixed_code(v, -kLutOutFrac - s), int16_t(s)};
}

// Stage 3: the head's scalars (steps 1-4: softplus and exp ROMs) and
// dt * B (step 5), one exponent per group of G along N.
inline void head_scalars(const HeadToken& in, const LutRom& lut_sp, const LutRom& lut_exp,
                         hls::stream<ScalarPot>& s_dtq, hls::stream<int8_t>& s_bq, hls::stream<int16_t>& s_be,
                         hls::stream<ScalarPot>& s_dA, hls::stream<int8_t>& s_dbq, hls::stream<int16_t>& s_dbe,
                         hls::stream<uint8_t>& s_err) {
  uint8_t err = 0;
  bool bad = false, ovf = false;
  const ScalarPot dt = s_dtq.read();
  // 1. t = clamp(dt code << (exp + 16), +-2^46) + dt_bias (pot_to_fixed saturates first).
  const int64_t lim = int64_t(1) << 46;
  const int32_t k = dt.exp + kLutInFrac;
  int64_t t = k > 46 ? (dt.code > 0 ? lim : (dt.code < 0 ? -lim : 0)) : round_shift(dt.code, k);
  t = t > lim ? lim : (t < -lim ? -lim : t);
  // 2. sp = softplus(t), INT8 PoT.
  const ScalarPot sp = quantize_q24(lut_eval(lut_sp, t + in.dt_bias, &bad), &ovf);
  // 3-4. dA = exp(round_shift(A * sp, sp.exp)); an overflowing shift is far left (0).
  bool far = false;
  const int64_t a = round_shift(int64_t(in.A) * sp.code, sp.exp, &far);
  const ScalarPot dA = quantize_q24(far ? 0 : lut_eval(lut_exp, a, &bad), &ovf);
  s_dA.write(dA);
  // 5. dB = sp.code * B.code at sp.exp + B.exp, per group.
  int32_t v[kMaxGroup];
#pragma HLS ARRAY_PARTITION variable = v cyclic factor = 8
dtb_groups:
  for (int32_t g0 = 0; g0 < in.N; g0 += in.G) {
#pragma HLS LOOP_TRIPCOUNT max = 63
    const int32_t e = sp.exp + s_be.read();
    uint32_t m = 0;
  dtb_mul:
    for (int32_t j = 0; j < in.G; ++j) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 128
      v[j] = int32_t(sp.code) * s_bq.read();
      const uint32_t av = uint32_t(v[j] < 0 ? -v[j] : v[j]);
      m = av > m ? av : m;
    }
    const int32_t s = m ? fixed_group_exp(m, e, &ovf) : 0;
    s_dbe.write(int16_t(s));
  dtb_code:
    for (int32_t j = 0; j < in.G; ++j) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 128
      s_dbq.write(m ? fixed_code(v[j], e - s) : int8_t(0));
    }
  }
  if (bad) err |= kErrLutInput;
  if (ovf) err |= kErrOverflow;
  s_err.write(err);
}

// Stage 4: the state update (step 6) and the C . h' dots of step 7, kSsmPar
// states per cycle. For each (p, state group): quantize the stored floats,
// h' = dA h + dB x aligned in int64, requantize, write the floats back
// (s_in and s_out may be the same tile: a group is read before it is
// written), emit the group's dot. x codes go on to the output stage.
inline void state_update(int32_t P, int32_t N, int32_t G, hls::stream<ScalarPot>& s_dA,
                         hls::stream<int8_t>& s_dbq, hls::stream<int16_t>& s_dbe, hls::stream<int8_t>& s_xq,
                         hls::stream<int16_t>& s_xe, hls::stream<int8_t>& s_cq, hls::stream<int16_t>& s_ce,
                         const uint32_t* s_in, uint32_t* s_out, hls::stream<GroupDot>& s_dot,
                         hls::stream<int8_t>& s_xf, hls::stream<int16_t>& s_xef, hls::stream<uint8_t>& s_err) {
  const int32_t NG = N / G;
  int8_t db[kMaxState], cq[kMaxState];
  int16_t dbe[kMaxStateGroups], ce[kMaxStateGroups];
  int32_t dbmax[kMaxStateGroups];
#pragma HLS ARRAY_PARTITION variable = db cyclic factor = 8
#pragma HLS ARRAY_PARTITION variable = cq cyclic factor = 8
  const ScalarPot dA = s_dA.read();
state_load_groups:
  for (int32_t g = 0; g < NG; ++g) {
#pragma HLS LOOP_TRIPCOUNT max = 63
    dbe[g] = s_dbe.read();
    ce[g] = s_ce.read();
    int32_t m = 0;
  state_load_n:
    for (int32_t j = 0; j < G; ++j) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 128
      const int32_t n = g * G + j;
      db[n] = s_dbq.read();
      cq[n] = s_cq.read();
      m = imax(m, db[n] < 0 ? -db[n] : db[n]);
    }
    dbmax[g] = m;
  }
  bool nonfinite = false, ovf = false, range = false;
  const int32_t adA = dA.code < 0 ? -dA.code : dA.code;
  int8_t hc[kMaxGroup];
  int64_t v[kMaxGroup];
#pragma HLS ARRAY_PARTITION variable = hc cyclic factor = 8
#pragma HLS ARRAY_PARTITION variable = v cyclic factor = 8
  int16_t xe = 0;
state_rows:
  for (int32_t p = 0; p < P; ++p) {
#pragma HLS LOOP_TRIPCOUNT max = 128
    if (p % G == 0) {
      xe = s_xe.read();
      s_xef.write(xe);
    }
    const int8_t xc = s_xq.read();
    s_xf.write(xc);
    const int32_t ax = xc < 0 ? -xc : xc;
  state_groups:
    for (int32_t g = 0; g < NG; ++g) {
#pragma HLS LOOP_TRIPCOUNT max = 63
      const int32_t base = p * N + g * G;
      // The stored group's exponent (quantize_pot of the float state).
      uint32_t m = 0;
    state_max:
      for (int32_t j = 0; j < G; ++j) {
#pragma HLS PIPELINE II = 1
#pragma HLS UNROLL factor = 8
#pragma HLS LOOP_TRIPCOUNT max = 128
        const uint32_t a = s_in[base + j] & 0x7fffffffu;
        m = a > m ? a : m;
      }
      if (m >= 0x7f800000u) {
        nonfinite = true;
        m = 0;
      }
      const int32_t eh = m ? float_group_exp(m) : 0;
      int32_t hmax = 0;
    state_codes:
      for (int32_t j = 0; j < G; ++j) {
#pragma HLS PIPELINE II = 1
#pragma HLS UNROLL factor = 8
#pragma HLS LOOP_TRIPCOUNT max = 128
        hc[j] = m ? float_code(s_in[base + j], eh) : int8_t(0);
        hmax = imax(hmax, hc[j] < 0 ? -hc[j] : hc[j]);
      }
      // The accumulator exponent (align_exponent) from the two kinds' maxima:
      // every a-term has e1, every b-term e2.
      const int32_t e1 = dA.exp + eh, e2 = dbe[g] + xe;
      const uint64_t am = uint64_t(adA) * uint64_t(hmax), bm = uint64_t(ax) * uint64_t(dbmax[g]);
      int32_t e = 0;
      if (am || bm) {
        const int32_t emin = imin(am ? e1 : INT32_MAX, bm ? e2 : INT32_MAX);
        const int32_t top = imax(am ? e1 + bw64(am) : INT32_MIN, bm ? e2 + bw64(bm) : INT32_MIN);
        e = imax(emin, top - kAlignBits);
      }
      // Both kinds aligned by a left shift (e is the finer exponent: every
      // term exact, the common case) is a multiply by 2^k; otherwise the
      // rounding shifts of the reference's aligned().
      const int32_t k1 = e1 - e, k2 = e2 - e;
      const bool lshift = (!am || (k1 >= 0 && k1 < 63)) && (!bm || (k2 >= 0 && k2 < 63));
      const int64_t m1 = am && lshift ? int64_t(1) << k1 : 0, m2 = bm && lshift ? int64_t(1) << k2 : 0;
      uint64_t vm = 0;
    state_mac:
      for (int32_t j = 0; j < G; ++j) {
#pragma HLS PIPELINE II = 1
#pragma HLS UNROLL factor = 8
#pragma HLS LOOP_TRIPCOUNT max = 128
        const int64_t ta = int64_t(dA.code) * hc[j], tb = int64_t(db[g * G + j]) * xc;
        v[j] = lshift ? ta * m1 + tb * m2 : round_shift(ta, k1) + round_shift(tb, k2);
        const uint64_t av = mag64(v[j]);
        vm = av > vm ? av : vm;
      }
      const int32_t s = vm ? fixed_group_exp(vm, e, &ovf) : 0;
      // Requantization: round half away by n = s - e bits (a right shift but
      // for max |v| < 128), clamped to 127.
      const int32_t n = s - e;
      const bool rshift = vm && n > 0 && n < 63;
      const uint64_t half = rshift ? uint64_t(1) << (n - 1) : 0;
      int32_t dot = 0;
    state_requant:
      for (int32_t j = 0; j < G; ++j) {
#pragma HLS PIPELINE II = 1
#pragma HLS UNROLL factor = 8
#pragma HLS LOOP_TRIPCOUNT max = 128
        int8_t c = 0;
        if (rshift) {
          const uint64_t r = (mag64(v[j]) + half) >> n;
          const int32_t ci = r > 127 ? 127 : int32_t(r);
          c = int8_t(v[j] < 0 ? -ci : ci);
        } else if (vm) {
          c = fixed_code(v[j], -n);
        }
        s_out[base + j] = pot_float_bits(c, s, &range);
        dot += int32_t(cq[g * G + j]) * c;  // |dot| <= G * 127^2 < 2^31
      }
      s_dot.write(GroupDot{dot, int16_t(ce[g] + s)});
    }
  }
  s_err.write(uint8_t((nonfinite ? kErrNonFinite : 0) | (ovf ? kErrOverflow : 0) | (range ? kErrRange : 0)));
}

// Stage 5: y per group of G outputs (step 7): the N/G dots and D * x of each
// output, one accumulator exponent for the group, int64 sums (at most 64
// terms < 2^56), requantized, as float bits.
inline void output_reduce(int32_t P, int32_t N, int32_t G, int32_t D, hls::stream<GroupDot>& s_dot,
                          hls::stream<int8_t>& s_xf, hls::stream<int16_t>& s_xef, hls::stream<uint32_t>& s_y,
                          hls::stream<uint8_t>& s_err) {
  const int32_t NG = N / G;
  GroupDot dots[kMaxGroup][kMaxStateGroups];
  int64_t dx[kMaxGroup], sum[kMaxGroup];
#pragma HLS ARRAY_PARTITION variable = dots complete dim = 2
  bool ovf = false, range = false;
out_groups:
  for (int32_t p0 = 0; p0 < P; p0 += G) {
#pragma HLS LOOP_TRIPCOUNT max = 128
    const int32_t exD = s_xef.read() - kParamFrac;
    int32_t emin = INT32_MAX, top = INT32_MIN;
  out_terms:
    for (int32_t j = 0; j < G; ++j) {
#pragma HLS LOOP_TRIPCOUNT max = 128
      dx[j] = int64_t(D) * s_xf.read();  // |D x| < 2^38
      if (dx[j]) {
        emin = imin(emin, exD);
        top = imax(top, exD + bw64(mag64(dx[j])));
      }
    out_dots:
      for (int32_t g = 0; g < NG; ++g) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 63
        dots[j][g] = s_dot.read();
        if (dots[j][g].dot) {
          emin = imin(emin, dots[j][g].exp);
          top = imax(top, dots[j][g].exp + bw64(mag64(dots[j][g].dot)));
        }
      }
    }
    const int32_t e = emin == INT32_MAX ? 0 : imax(emin, top - kAlignBits);
    uint64_t m = 0;
  out_sum:
    for (int32_t j = 0; j < G; ++j) {
#pragma HLS LOOP_TRIPCOUNT max = 128
      int64_t acc = round_shift(dx[j], exD - e);
    out_acc:
      for (int32_t g = 0; g < NG; ++g) {
#pragma HLS UNROLL
        acc += round_shift(dots[j][g].dot, dots[j][g].exp - e);
      }
      sum[j] = acc;
      const uint64_t a = mag64(acc);
      m = a > m ? a : m;
    }
    const int32_t s = m ? fixed_group_exp(m, e, &ovf) : 0;
  out_requant:
    for (int32_t j = 0; j < G; ++j) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 128
      const int8_t c = m ? fixed_code(sum[j], e - s) : int8_t(0);
      s_y.write(pot_float_bits(c, s, &range));
    }
  }
  s_err.write(uint8_t((ovf ? kErrOverflow : 0) | (range ? kErrRange : 0)));
}

// Stage 6: burst-write y.
inline void store_y(int32_t P, hls::stream<uint32_t>& s_y, float* y) {
store_y:
  for (int32_t p = 0; p < P; ++p) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 128
    y[p] = u2f(s_y.read());
  }
}

// The stages' error masks, one per token.
inline void merge_errors(hls::stream<uint8_t>& a, hls::stream<uint8_t>& b, hls::stream<uint8_t>& c,
                         hls::stream<uint8_t>& d, uint8_t* err) {
  *err = uint8_t(a.read() | b.read() | c.read() | d.read());
}

// One head, one token: the DATAFLOW region. s_in / s_out: the head's state
// tile [P][N] as float bits (on chip; may be the same array); y: [P] in host
// memory. Returns the token's error mask.
uint8_t step_head_token(const HeadToken& in, const LutRom& lut_sp, const LutRom& lut_exp,
                               const uint32_t* s_in, uint32_t* s_out, float* y) {
#pragma HLS DATAFLOW
  hls::stream<uint32_t> s_x("s_x", kDepthP), s_b("s_b", kDepthN), s_c("s_c", kDepthN), s_dt("s_dt", 1);
  hls::stream<int8_t> s_xq("s_xq", kDepthP), s_bq("s_bq", kDepthN), s_cq("s_cq", kDepthN);
  hls::stream<int16_t> s_xe("s_xe", kDepthP), s_be("s_be", kDepthN), s_ce("s_ce", kDepthN);
  hls::stream<ScalarPot> s_dtq("s_dtq", 1), s_dA("s_dA", 1);
  hls::stream<int8_t> s_dbq("s_dbq", kDepthN), s_xf("s_xf", kDepthP);
  hls::stream<int16_t> s_dbe("s_dbe", kDepthN), s_xef("s_xef", kDepthP);
  hls::stream<GroupDot> s_dot("s_dot", kDepthDots);
  hls::stream<uint32_t> s_y("s_y", kDepthP);
  // One error FIFO per stage (a FIFO has one producer and one consumer).
  hls::stream<uint8_t> s_err_q("s_err_q", 1), s_err_h("s_err_h", 1), s_err_s("s_err_s", 1), s_err_o("s_err_o", 1);
#pragma HLS STREAM variable = s_x depth = 128
#pragma HLS STREAM variable = s_b depth = 128
#pragma HLS STREAM variable = s_c depth = 128
#pragma HLS STREAM variable = s_xq depth = 128
#pragma HLS STREAM variable = s_bq depth = 128
#pragma HLS STREAM variable = s_cq depth = 128
#pragma HLS STREAM variable = s_xe depth = 128
#pragma HLS STREAM variable = s_be depth = 128
#pragma HLS STREAM variable = s_ce depth = 128
#pragma HLS STREAM variable = s_dbq depth = 128
#pragma HLS STREAM variable = s_dbe depth = 128
#pragma HLS STREAM variable = s_xf depth = 128
#pragma HLS STREAM variable = s_xef depth = 128
#pragma HLS STREAM variable = s_dot depth = 8064
#pragma HLS STREAM variable = s_y depth = 128
#pragma HLS STREAM variable = s_err_q depth = 1
#pragma HLS STREAM variable = s_err_h depth = 1
#pragma HLS STREAM variable = s_err_s depth = 1
#pragma HLS STREAM variable = s_err_o depth = 1
  load_token(in, s_x, s_b, s_c, s_dt);
  quantize_token(in.P, in.N, in.G, s_x, s_b, s_c, s_dt, s_xq, s_xe, s_bq, s_be, s_cq, s_ce, s_dtq, s_err_q);
  head_scalars(in, lut_sp, lut_exp, s_dtq, s_bq, s_be, s_dA, s_dbq, s_dbe, s_err_h);
  state_update(in.P, in.N, in.G, s_dA, s_dbq, s_dbe, s_xq, s_xe, s_cq, s_ce, s_in, s_out, s_dot, s_xf, s_xef,
               s_err_s);
  output_reduce(in.P, in.N, in.G, in.D, s_dot, s_xf, s_xef, s_y, s_err_o);
  store_y(in.P, s_y, y);
  uint8_t err = 0;
  merge_errors(s_err_q, s_err_h, s_err_s, s_err_o, &err);
  return err;
}

}  // namespace sm::hls_kernels::ssm

namespace {

using namespace sm::hls_kernels;       // NOLINT
using namespace sm::hls_kernels::ssm;  // NOLINT

void put_status(int32_t* status, int32_t v) {
  if (status) *status = v;
}

}  // namespace

extern "C" void sm_ssm_pot(const float* xbc, const float* dt_raw, const int32_t* params, const int64_t* lut_sp,
                           const int64_t* lut_exp, const int64_t* lut_cfg, float* S, float* y, int32_t T,
                           int32_t H, int32_t P, int32_t N, int32_t group, int32_t xbc_stride,
                           int32_t dt_stride, int32_t h0, int32_t h1, int32_t* status) {
#pragma HLS INTERFACE m_axi port = xbc offset = slave bundle = gmem0 max_read_burst_length = 64
#pragma HLS INTERFACE m_axi port = dt_raw offset = slave bundle = gmem1
#pragma HLS INTERFACE m_axi port = params offset = slave bundle = gmem1
#pragma HLS INTERFACE m_axi port = lut_sp offset = slave bundle = gmem2
#pragma HLS INTERFACE m_axi port = lut_exp offset = slave bundle = gmem2
#pragma HLS INTERFACE m_axi port = lut_cfg offset = slave bundle = gmem1
#pragma HLS INTERFACE m_axi port = S offset = slave bundle = gmem3 max_read_burst_length = 64 max_write_burst_length = 64
#pragma HLS INTERFACE m_axi port = y offset = slave bundle = gmem0 max_write_burst_length = 64
#pragma HLS INTERFACE m_axi port = status offset = slave bundle = gmem1
#pragma HLS INTERFACE s_axilite port = T
#pragma HLS INTERFACE s_axilite port = H
#pragma HLS INTERFACE s_axilite port = P
#pragma HLS INTERFACE s_axilite port = N
#pragma HLS INTERFACE s_axilite port = group
#pragma HLS INTERFACE s_axilite port = xbc_stride
#pragma HLS INTERFACE s_axilite port = dt_stride
#pragma HLS INTERFACE s_axilite port = h0
#pragma HLS INTERFACE s_axilite port = h1
#pragma HLS INTERFACE s_axilite port = return
  // pot_scan_mamba2: nothing to do (and nothing checked) for an empty range.
  if (T <= 0 || h1 <= h0) {
    put_status(status, kOk);
    return;
  }
  int32_t st = check_shape(H, P, N, group);
  const int32_t E = H * P;
  if (st == kOk && (h0 < 0 || h1 > H)) st = kBadShape;
  if (st == kOk && T > 1 && (xbc_stride < E + 2 * N || dt_stride < H)) st = kBadShape;
  if (st != kOk) {
    put_status(status, st);
    return;
  }
  LutRom rom_sp, rom_exp;
#pragma HLS BIND_STORAGE variable = rom_sp type = rom_2p impl = bram
#pragma HLS BIND_STORAGE variable = rom_exp type = rom_2p impl = bram
  st = load_layer(params, h0, h1, lut_sp, lut_exp, lut_cfg, rom_sp, rom_exp);
  if (st != kOk) {
    put_status(status, st);
    return;
  }

  uint32_t tile[kMaxHeadState];
#pragma HLS ARRAY_PARTITION variable = tile cyclic factor = 8
  const int32_t PN = P * N;
  int64_t first = INT64_MAX;  // (token * 4 + rank) of the first error
head_loop:
  for (int32_t hd = h0; hd < h1; ++hd) {
#pragma HLS LOOP_TRIPCOUNT max = 256
    float* Sh = S + int64_t(hd) * PN;
  tile_load:
    for (int32_t i = 0; i < PN; ++i) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 16384
      tile[i] = f2u(Sh[i]);
    }
  token_loop:
    for (int32_t t = 0; t < T; ++t) {
#pragma HLS LOOP_TRIPCOUNT max = 64
      const float* row = xbc + int64_t(t) * xbc_stride;
      const HeadToken in{row + int64_t(hd) * P, row + E, row + E + N, dt_raw + int64_t(t) * dt_stride + hd,
                         params[hd], params[H + hd], params[2 * H + hd], P, N, group};
      const uint8_t err = step_head_token(in, rom_sp, rom_exp, tile, tile, y + int64_t(t) * E + int64_t(hd) * P);
      if (err) {
        const int64_t key = int64_t(t) * 4 + mask_rank(err);
        if (key < first) first = key;
        // Later tokens of this head cannot come first; the next head may.
        break;
      }
    }
  tile_store:
    for (int32_t i = 0; i < PN; ++i) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 16384
      Sh[i] = u2f(tile[i]);
    }
  }
  put_status(status, first == INT64_MAX ? kOk : mask_status(uint8_t(1u << (first % 4))));
}
