// SPDX-License-Identifier: Apache-2.0
#pragma once
// One linear layer as the forward passes use it: fp32 weights packed for the
// SIMD kernels, or integer weights with dynamic activation quantization
// (LightMamba's W4A4 / W8A8, core/quant). An optional online Hadamard
// rotation of each input row (the out_proj input of a rotated model) runs
// first. Every row's result depends on that row alone, never on T, the
// thread count or the SIMD target, so decode, tree batches and prefill agree
// bit for bit in both modes.
#include <cstdint>
#include <memory>
#include <string>

#include "core/kernels/packed_matrix.h"
#include "core/quant/qlinear.h"

namespace sm {

class ThreadPool;
namespace device {
class Device;
}


// Activation quantization of a quantized layer's input rows.
using ActQuantSpec = quant::ActQuant;

class LinearOp {
 public:
  LinearOp();
  LinearOp(LinearOp&&) noexcept;
  LinearOp& operator=(LinearOp&&) noexcept;
  ~LinearOp();

  // W is row-major [out][in].
  static LinearOp fp32(const float* W, int64_t out, int64_t in);
  // Integer weights; activations quantized per row with `bits` per group of
  // `group` channels, power-of-two exponents clamped to [exp_min, exp_max].
  static LinearOp quantized(quant::QuantizedMatrix w, int act_bits, int64_t act_group, int exp_min,
                            int exp_max);

  // Input rows are rotated by the orthonormal Hadamard H_in before the product.
  void set_rotate_input(bool on) { rotate_input_ = on; }
  bool rotate_input() const { return rotate_input_; }

  // Runs on `dev` from now on: the weights are uploaded once (sm::Error when
  // the device cannot run this layer, naming it). Only quantized layers go to
  // a device; fp32 ones stay on the CPU. dev must outlive the op.
  void bind(device::Device& dev, const std::string& name);
  bool on_device() const { return dev_ != nullptr; }
  void unbind() {
    dev_ = nullptr;
    handle_ = -1;
  }

  // y[T][ldy] (columns [0, out)) = op(x[T][in]) + bias (bias may be null).
  void run(const float* x, int64_t T, const float* bias, float* y, int64_t ldy, ThreadPool* pool) const;

  int64_t out() const { return out_; }
  int64_t in() const { return in_; }
  bool is_quantized() const { return q_ != nullptr; }
  bool empty() const { return out_ == 0; }
  // Weight bytes one decode step streams (codes and scales when quantized).
  size_t bytes() const;
  const PackedMatrix& fp32_weights() const { return fp_; }
  const quant::PackedQMatrix* quantized_weights() const { return q_.get(); }
  const quant::ActQuant& act_quant() const { return aq_; }

 private:
  int64_t out_ = 0, in_ = 0;
  PackedMatrix fp_;
  std::unique_ptr<quant::PackedQMatrix> q_;
  quant::ActQuant aq_;
  bool rotate_input_ = false;
  device::Device* dev_ = nullptr;
  int32_t handle_ = -1;
};

}  // namespace sm
