// SPDX-License-Identifier: Apache-2.0
// sm_conv_silu: one causal depthwise conv1d output row + SiLU over channels
// [c0, c1), bit for bit sm::conv_silu_row with fused multiply-adds (its
// AVX2 / AVX-512 bits; conv.h explains the targets).
//
//   win [K][C], wT [K][C], bias [C]  (m_axi)
//        |
//   for each chunk of <= 512 channels:
//   +------------------------------ DATAFLOW ------------------------------+
//   | conv_load (K taps + bias per channel) --s_taps--> conv_mac (fma,     |
//   |   k ascending from the bias) --s_acc--> silu (x / (1 + exp_fast(-x)))|
//   |   --s_out--> conv_store --m_axi--> o[c]                              |
//   +----------------------------------------------------------------------+
#include "accel/hls/conv.h"
#include "accel/hls/hls_compat.h"
#include "accel/hls/top.h"

// Loop labels are for the HLS reports.
#if defined(__GNUC__) && !defined(__SYNTHESIS__)
#pragma GCC diagnostic ignored "-Wunused-label"
#endif

namespace sm::hls_kernels::conv {

// One channel's taps and bias, as the MAC stage receives them.
struct ConvTaps {
  float w[kMaxConvK];
  float x[kMaxConvK];
  float b;
};

// Stage 1: gather each channel's K window values, K weights and bias.
inline void conv_load(const float* win, const float* wT, const float* bias, int32_t C, int32_t K, int32_t c0,
                      int32_t c1, bool has_bias, hls::stream<ConvTaps>& s_taps) {
conv_load_ch:
  for (int32_t c = c0; c < c1; ++c) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 512
    ConvTaps t;
#pragma HLS ARRAY_PARTITION variable = t.w complete
#pragma HLS ARRAY_PARTITION variable = t.x complete
  conv_load_k:
    for (int32_t k = 0; k < kMaxConvK; ++k) {
#pragma HLS UNROLL
      t.w[k] = k < K ? wT[int64_t(k) * C + c] : 0.0f;
      t.x[k] = k < K ? win[int64_t(k) * C + c] : 0.0f;
    }
    t.b = has_bias ? bias[c] : 0.0f;
    s_taps.write(t);
  }
}

// Stage 2: the multiply-add chain, k ascending, from the bias.
template <bool kFused>
inline void conv_mac(int32_t n, int32_t K, hls::stream<ConvTaps>& s_taps, hls::stream<float>& s_acc) {
conv_mac_ch:
  for (int32_t i = 0; i < n; ++i) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 512
    const ConvTaps t = s_taps.read();
    float acc = t.b;
  conv_mac_k:
    for (int32_t k = 0; k < kMaxConvK; ++k) {
#pragma HLS UNROLL
      if (k < K) acc = mul_add<kFused>(t.w[k], t.x[k], acc);
    }
    s_acc.write(acc);
  }
}

// Stage 3: SiLU.
template <bool kFused>
inline void conv_silu_stage(int32_t n, hls::stream<float>& s_acc, hls::stream<float>& s_out) {
conv_silu_ch:
  for (int32_t i = 0; i < n; ++i) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 512
    s_out.write(silu<kFused>(s_acc.read()));
  }
}

// Stage 4: write the outputs.
inline void conv_store(int32_t c0, int32_t n, hls::stream<float>& s_out, float* o) {
conv_store_ch:
  for (int32_t i = 0; i < n; ++i) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 512
    o[c0 + i] = s_out.read();
  }
}

// One chunk of at most kConvChunk channels [c0, c1).
template <bool kFused>
inline void conv_chunk(const float* win, const float* wT, const float* bias, float* o, int32_t C, int32_t K,
                       int32_t c0, int32_t c1, bool has_bias) {
#pragma HLS DATAFLOW
  hls::stream<ConvTaps> s_taps("s_taps", kConvChunk);
  hls::stream<float> s_acc("s_acc", kConvChunk), s_out("s_out", kConvChunk);
#pragma HLS STREAM variable = s_taps depth = 512
#pragma HLS STREAM variable = s_acc depth = 512
#pragma HLS STREAM variable = s_out depth = 512
  conv_load(win, wT, bias, C, K, c0, c1, has_bias, s_taps);
  conv_mac<kFused>(c1 - c0, K, s_taps, s_acc);
  conv_silu_stage<kFused>(c1 - c0, s_acc, s_out);
  conv_store(c0, c1 - c0, s_out, o);
}

// The whole row in chunks.
template <bool kFused>
void conv_rows(const float* win, const float* wT, const float* bias, float* o, int32_t C, int32_t K,
                           int32_t c0, int32_t c1, bool has_bias) {
  if (K < 1 || K > kMaxConvK || c0 < 0 || c1 > C || c1 <= c0) return;
conv_chunks:
  for (int32_t a = c0; a < c1; a += kConvChunk) {
#pragma HLS LOOP_TRIPCOUNT max = 16
    conv_chunk<kFused>(win, wT, bias, o, C, K, a, c1 - a < kConvChunk ? c1 : a + kConvChunk, has_bias);
  }
}

void conv_silu_rows(bool fused, const float* win, const float* wT, const float* bias, float* o, int32_t C,
                    int32_t K, int32_t c0, int32_t c1, bool has_bias) {
  if (fused) {
    conv_rows<true>(win, wT, bias, o, C, K, c0, c1, has_bias);
  } else {
    conv_rows<false>(win, wT, bias, o, C, K, c0, c1, has_bias);
  }
}

}  // namespace sm::hls_kernels::conv

extern "C" void sm_conv_silu(const float* win, const float* wT, const float* bias, float* o, int32_t C, int32_t K,
                             int32_t c0, int32_t c1, int32_t has_bias) {
#pragma HLS INTERFACE m_axi port = win offset = slave bundle = gmem0 max_read_burst_length = 64
#pragma HLS INTERFACE m_axi port = wT offset = slave bundle = gmem1 max_read_burst_length = 64
#pragma HLS INTERFACE m_axi port = bias offset = slave bundle = gmem1
#pragma HLS INTERFACE m_axi port = o offset = slave bundle = gmem0 max_write_burst_length = 64
#pragma HLS INTERFACE s_axilite port = C
#pragma HLS INTERFACE s_axilite port = K
#pragma HLS INTERFACE s_axilite port = c0
#pragma HLS INTERFACE s_axilite port = c1
#pragma HLS INTERFACE s_axilite port = has_bias
#pragma HLS INTERFACE s_axilite port = return
  sm::hls_kernels::conv::conv_silu_rows(sm::hls_kernels::conv::kConvFused, win, wT, bias, o, C, K, c0, c1,
                                        has_bias != 0 && bias != nullptr);
}
