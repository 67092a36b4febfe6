// SPDX-License-Identifier: Apache-2.0
#pragma once
// The `emu` backend: the accelerator's HLS kernels (accel/hls/top.h) called
// directly on host memory, so a quantized model runs through exactly the
// datapath the FPGA implements, bit for bit (and token for token with the
// CPU backend, whose kernels meet the same core/ references). Weights are
// copied once, in the kernels' own layout, when a layer is added; each layer
// is checked then by one run of its kernel, so an unsupported shape is an
// error at bind time naming the layer, not in the middle of a generation.
#include <atomic>
#include <deque>
#include <string>
#include <vector>

#include "core/device/device.h"

namespace sm::accel {

class EmuDevice final : public device::Device {
 public:
  EmuDevice() = default;
  std::string name() const override { return "emu"; }
  std::string describe() const override;

  device::Handle add_linear(const device::LinearDesc& d) override;
  device::Handle add_conv(const device::ConvDesc& d) override;
  device::Handle add_ssm(const device::SsmDesc& d) override;

  void linear(device::Handle h, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy) override;
  void conv_row(device::Handle h, const float* const* ext, float* o, int64_t c0, int64_t c1) override;
  void ssm_scan(device::Handle h, int64_t T, const float* xbc, int64_t xbc_stride, const float* dt_raw,
                int64_t dt_stride, float* S, float* y, int64_t h0, int64_t h1) override;
  void ssm_tree(device::Handle h, int32_t n, const int32_t* parent, const float* xbc, int64_t xbc_stride,
                const float* dt_raw, int64_t dt_stride, const float* S_root, float* S_nodes, float* y,
                int64_t tile_heads, int32_t fifo_depth) override;

  device::OpCounts counts() const override;

  // The layouts the kernels read, shared with the xrt backend's uploads.
  struct Linear {
    std::string name;
    int32_t rows = 0, cols = 0, wbits = 0, wgroup = 0;
    quant::ActQuant act;
    bool rotate = false;
    std::vector<uint8_t> codes;
    std::vector<int16_t> s1, s2;
    std::vector<int8_t> hbase;  // the Hadamard base matrix when rotate
    int32_t hk = 1;
  };
  struct Conv {
    std::string name;
    int32_t C = 0, K = 0;
    std::vector<float> wT, bias;
  };
  struct Ssm {
    std::string name;
    int32_t H = 0, P = 0, N = 0, group = 0;
    std::vector<int32_t> params;        // [3][H]: A, D, dt_bias (Q16)
    std::vector<int64_t> lut_sp, lut_exp;
    std::vector<int64_t> lut_cfg;       // [2][4]
  };
  static Linear linear_layout(const device::LinearDesc& d);
  static Conv conv_layout(const device::ConvDesc& d);
  static Ssm ssm_layout(const device::SsmDesc& d);

 private:
  static void run_linear(const Linear& L, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy);
  static void run_ssm(const Ssm& s, int64_t T, const float* xbc, int64_t xbc_stride, const float* dt_raw,
                      int64_t dt_stride, float* S, float* y, int64_t h0, int64_t h1);
  // deque: references stay valid while layers are added.
  std::deque<Linear> lin_;
  std::deque<Conv> conv_;
  std::deque<Ssm> ssm_;
  std::atomic<int64_t> linear_calls_{0}, linear_rows_{0}, conv_rows_{0}, ssm_calls_{0}, ssm_tokens_{0},
      tree_calls_{0}, tree_nodes_{0};
};

// Throws sm::Error "<layer>: <kernel> on the accelerator: <status name>" for a
// non-zero kernel status.
void check_status(int32_t status, const std::string& layer, const char* kernel);

}  // namespace sm::accel
