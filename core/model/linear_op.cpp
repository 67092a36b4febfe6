// SPDX-License-Identifier: Apache-2.0
#include "core/model/linear_op.h"

#include <bit>
#include <vector>

#include "core/device/device.h"
#include "core/io/error.h"
#include "core/quant/hadamard.h"

namespace sm {

LinearOp::LinearOp() = default;
LinearOp::LinearOp(LinearOp&&) noexcept = default;
LinearOp& LinearOp::operator=(LinearOp&&) noexcept = default;
LinearOp::~LinearOp() = default;

LinearOp LinearOp::fp32(const float* W, int64_t out, int64_t in) {
  LinearOp op;
  op.out_ = out;
  op.in_ = in;
  op.fp_ = PackedMatrix::pack(W, out, in);
  return op;
}

LinearOp LinearOp::quantized(quant::QuantizedMatrix w, int act_bits, int64_t act_group, int exp_min,
                             int exp_max) {
  LinearOp op;
  op.out_ = w.rows;
  op.in_ = w.cols;
  op.q_ = std::make_unique<quant::PackedQMatrix>(quant::PackedQMatrix::pack(w));
  op.aq_ = {act_bits, act_group, exp_min, exp_max};
  return op;
}

void LinearOp::bind(device::Device& dev, const std::string& name) {
  if (!q_) fail(name, "only quantized layers run on a device");
  dev_ = nullptr;
  handle_ = dev.add_linear({name, &q_->reference(), aq_, rotate_input_});
  dev_ = &dev;
}

namespace {

// y += bias as the CPU kernels round it: IEEE addition, with the one sum that
// FTZ/DAZ would change (0 + a subnormal bias) written out.
void add_bias(float* y, int64_t T, int64_t n, int64_t ldy, const float* bias) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t r = 0; r < n; ++r) {
      float& v = y[t * ldy + r];
      const uint32_t ub = std::bit_cast<uint32_t>(bias[r]) & 0x7fffffffu;
      v = (v == 0.0f && ub != 0 && ub < 0x00800000u) ? bias[r] : v + bias[r];
    }
}

}  // namespace

size_t LinearOp::bytes() const { return q_ ? q_->bytes() : fp_.bytes(); }

void LinearOp::run(const float* x, int64_t T, const float* bias, float* y, int64_t ldy,
                   ThreadPool* pool) const {
  if (dev_) {  // the device rotates and quantizes the input itself
    dev_->linear(handle_, x, T, in_, y, ldy);
    if (bias) add_bias(y, T, out_, ldy, bias);
    return;
  }
  if (rotate_input_) {
    // One scratch per thread: forwards of different models may run concurrently.
    thread_local std::vector<float> rotated;
    rotated.resize(static_cast<size_t>(T * in_));
    quant::transform_rows(x, rotated.data(), T, in_);
    x = rotated.data();
  }
  if (!q_) {
    packed_linear(x, T, fp_, bias, y, ldy, pool);
    return;
  }
  quant::qlinear(x, T, in_, aq_, *q_, bias, y, ldy, pool);
}

}  // namespace sm
