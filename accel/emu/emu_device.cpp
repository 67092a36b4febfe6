// SPDX-License-Identifier: Apache-2.0
#include "accel/emu/emu_device.h"

#include <algorithm>
#include <cstring>

#include "accel/hls/top.h"
#include "core/io/error.h"
#include "core/quant/hadamard.h"

namespace sm::accel {

using device::Handle;

void check_status(int32_t status, const std::string& layer, const char* kernel) {
  if (status != hls_kernels::kOk)
    fail(layer, std::string(kernel) + " on the accelerator: " + hls_kernels::status_name(status));
}

std::string EmuDevice::describe() const {
  return "emu: the accelerator's HLS kernels (accel/hls) run on the CPU, bit-exact with the FPGA datapath";
}

EmuDevice::Linear EmuDevice::linear_layout(const device::LinearDesc& d) {
  const quant::QuantizedMatrix& w = *d.weights;
  if (w.kind != quant::ScaleKind::Pow2Sum)
    fail(d.name,
         "the accelerator's linear unit rescales by shifts and needs 2^s1 + 2^s2 weight scales; this layer has "
         "float scales");
  Linear L;
  L.name = d.name;
  L.rows = static_cast<int32_t>(w.rows);
  L.cols = static_cast<int32_t>(w.cols);
  L.wbits = w.bits;
  L.wgroup = static_cast<int32_t>(w.group);
  L.act = d.act;
  L.rotate = d.rotate_input;
  L.codes = w.codes;
  L.s1 = w.s1;
  L.s2 = w.s2;
  if (L.rotate) {
    L.hk = quant::hadamard_k(w.cols);
    if (L.hk == 0) fail(d.name, "no Hadamard construction for width " + std::to_string(w.cols));
    L.hbase = quant::hadamard_base(L.hk);
  } else {
    L.hbase = {1};
  }
  return L;
}

EmuDevice::Conv EmuDevice::conv_layout(const device::ConvDesc& d) {
  Conv c;
  c.name = d.name;
  c.C = static_cast<int32_t>(d.channels);
  c.K = d.kernel;
  c.wT.assign(d.wT, d.wT + d.channels * d.kernel);
  if (d.bias) c.bias.assign(d.bias, d.bias + d.channels);
  return c;
}

EmuDevice::Ssm EmuDevice::ssm_layout(const device::SsmDesc& d) {
  Ssm s;
  s.name = d.name;
  s.H = static_cast<int32_t>(d.heads);
  s.P = static_cast<int32_t>(d.head_dim);
  s.N = static_cast<int32_t>(d.state);
  s.group = static_cast<int32_t>(d.group);
  const quant::SsmParamsFixed& p = d.layer->params;
  if (int64_t(p.A.size()) != d.heads || int64_t(p.D.size()) != d.heads || int64_t(p.dt_bias.size()) != d.heads)
    fail(d.name, "SSM parameters do not have one value per head");
  s.params.insert(s.params.end(), p.A.begin(), p.A.end());
  s.params.insert(s.params.end(), p.D.begin(), p.D.end());
  s.params.insert(s.params.end(), p.dt_bias.begin(), p.dt_bias.end());
  s.lut_sp = d.tables->softplus.table();
  s.lut_exp = d.tables->exp.table();
  for (const quant::Lut* t : {&d.tables->softplus, &d.tables->exp})
    s.lut_cfg.insert(s.lut_cfg.end(), {t->spec().size, t->lo_fixed(), int64_t(t->step_shift()),
                                       int64_t(t->spec().interp == quant::LutInterp::Linear)});
  return s;
}

// Every layer runs its kernel once when added (zero inputs): a shape the
// kernel does not support fails here, naming the layer.
Handle EmuDevice::add_linear(const device::LinearDesc& d) {
  lin_.push_back(linear_layout(d));
  try {
    std::vector<float> x(size_t(lin_.back().cols), 0.0f), y(size_t(lin_.back().rows));
    run_linear(lin_.back(), x.data(), 1, lin_.back().cols, y.data(), lin_.back().rows);
  } catch (...) {
    lin_.pop_back();
    throw;
  }
  return Handle(lin_.size() - 1);
}

Handle EmuDevice::add_conv(const device::ConvDesc& d) {
  if (d.kernel < 1 || d.channels < 1) fail(d.name, "conv1d needs a kernel and channels");
  conv_.push_back(conv_layout(d));
  return Handle(conv_.size() - 1);
}

Handle EmuDevice::add_ssm(const device::SsmDesc& d) {
  ssm_.push_back(ssm_layout(d));
  try {
    const Ssm& s = ssm_.back();
    const int64_t xs = int64_t(s.H) * s.P + 2 * int64_t(s.N);
    std::vector<float> xbc(size_t(xs), 0.0f), dt(size_t(s.H), 0.0f), S(size_t(s.H) * s.P * s.N, 0.0f),
        y(size_t(s.H) * s.P);
    run_ssm(s, 1, xbc.data(), xs, dt.data(), s.H, S.data(), y.data(), 0, s.H);
  } catch (...) {
    ssm_.pop_back();
    throw;
  }
  return Handle(ssm_.size() - 1);
}

namespace {

template <class T>
const T& at(const std::deque<T>& v, Handle h, const char* what) {
  if (h < 0 || size_t(h) >= v.size()) fail("emu", std::string("no ") + what + " layer with handle " + std::to_string(h));
  return v[size_t(h)];
}

}  // namespace

void EmuDevice::run_linear(const Linear& L, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy) {
  int32_t status = 0;
  sm_linear(L.codes.data(), L.s1.data(), L.s2.data(), x, y, L.hbase.data(), L.hk, L.rows, L.cols,
            static_cast<int32_t>(T), static_cast<int32_t>(ldx), static_cast<int32_t>(ldy), L.wbits, L.wgroup,
            L.act.bits, static_cast<int32_t>(L.act.group), L.act.exp_min, L.act.exp_max, L.rotate ? 1 : 0,
            &status);
  check_status(status, L.name, "sm_linear");
}

void EmuDevice::linear(Handle h, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy) {
  run_linear(at(lin_, h, "linear"), x, T, ldx, y, ldy);
  ++linear_calls_;
  linear_rows_ += T;
}

void EmuDevice::conv_row(Handle h, const float* const* ext, float* o, int64_t c0, int64_t c1) {
  const Conv& c = at(conv_, h, "conv");
  // The host gathers the row's window ([K][C], oldest first) into one buffer,
  // as the DMA would for the hardware kernel.
  thread_local std::vector<float> win;
  win.resize(size_t(c.K) * c.C);
  for (int k = 0; k < c.K; ++k) std::memcpy(win.data() + size_t(k) * c.C + c0, ext[k] + c0, (c1 - c0) * sizeof(float));
  sm_conv_silu(win.data(), c.wT.data(), c.bias.empty() ? nullptr : c.bias.data(), o, c.C, c.K,
               static_cast<int32_t>(c0), static_cast<int32_t>(c1), c.bias.empty() ? 0 : 1);
  ++conv_rows_;
}

void EmuDevice::run_ssm(const Ssm& s, int64_t T, const float* xbc, int64_t xbc_stride, const float* dt_raw,
                        int64_t dt_stride, float* S, float* y, int64_t h0, int64_t h1) {
  int32_t status = 0;
  sm_ssm_pot(xbc, dt_raw, s.params.data(), s.lut_sp.data(), s.lut_exp.data(), s.lut_cfg.data(), S, y,
             static_cast<int32_t>(T), s.H, s.P, s.N, s.group, static_cast<int32_t>(xbc_stride),
             static_cast<int32_t>(dt_stride), static_cast<int32_t>(h0), static_cast<int32_t>(h1), &status);
  check_status(status, s.name, "sm_ssm_pot");
}

void EmuDevice::ssm_scan(Handle h, int64_t T, const float* xbc, int64_t xbc_stride, const float* dt_raw,
                         int64_t dt_stride, float* S, float* y, int64_t h0, int64_t h1) {
  run_ssm(at(ssm_, h, "ssm"), T, xbc, xbc_stride, dt_raw, dt_stride, S, y, h0, h1);
  ++ssm_calls_;
  ssm_tokens_ += T;
}

void EmuDevice::ssm_tree(Handle h, int32_t n, const int32_t* parent, const float* xbc, int64_t xbc_stride,
                         const float* dt_raw, int64_t dt_stride, const float* S_root, float* S_nodes, float* y,
                         int64_t tile_heads, int32_t fifo_depth) {
  const Ssm& s = at(ssm_, h, "ssm");
  int32_t status = 0;
  sm_tree_ssm(xbc, dt_raw, parent, s.params.data(), s.lut_sp.data(), s.lut_exp.data(), s.lut_cfg.data(), S_root,
              S_nodes, y, n, s.H, s.P, s.N, s.group, static_cast<int32_t>(xbc_stride),
              static_cast<int32_t>(dt_stride), static_cast<int32_t>(tile_heads), fifo_depth, &status);
  check_status(status, s.name, "sm_tree_ssm");
  ++tree_calls_;
  tree_nodes_ += n;
}

device::OpCounts EmuDevice::counts() const {
  return {linear_calls_.load(), linear_rows_.load(), conv_rows_.load(), ssm_calls_.load(),
          ssm_tokens_.load(),   tree_calls_.load(),  tree_nodes_.load()};
}

}  // namespace sm::accel
