// SPDX-License-Identifier: Apache-2.0
#pragma once
// Weights of a linear layer repacked for the CPU kernels: output rows in
// blocks of 16, each block stored input-major ([in][16]), so a kernel
// multiplies a broadcast input value by 16 contiguous weights — no horizontal
// sums, one pass over the weights for all T input rows, and the same layout
// serves decode (T = 1), tree batches and prefill.
#include <cstdint>
#include <memory>

namespace sm {

class ThreadPool;

constexpr int64_t kPackLanes = 16;

class PackedMatrix {
 public:
  PackedMatrix() = default;
  // W is row-major [out][in].
  static PackedMatrix pack(const float* W, int64_t out, int64_t in);
  int64_t out() const { return out_; }
  int64_t in() const { return in_; }
  int64_t blocks() const { return (out_ + kPackLanes - 1) / kPackLanes; }
  const float* block(int64_t b) const { return data_.get() + b * in_ * kPackLanes; }
  size_t bytes() const { return static_cast<size_t>(blocks() * in_ * kPackLanes) * sizeof(float); }
  bool empty() const { return !data_; }

 private:
  struct Free {
    void operator()(float* p) const;
  };
  int64_t out_ = 0, in_ = 0;
  std::unique_ptr<float[], Free> data_;
};

// y[T][ldy] (columns [0, out)) = x[T][in] * W^T + bias. Splits output blocks
// across the pool when the work is large enough to pay for the hand-off.
void packed_linear(const float* x, int64_t T, const PackedMatrix& W, const float* bias, float* y,
                   int64_t ldy, ThreadPool* pool);

// The same for output blocks [b0, b1) only (one thread's share).
void packed_linear_blocks(const float* x, int64_t T, const PackedMatrix& W, const float* bias,
                          float* y, int64_t ldy, int64_t b0, int64_t b1);

}  // namespace sm
