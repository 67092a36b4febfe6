// SPDX-License-Identifier: Apache-2.0
#pragma once
// Calibrated weight quantization: GPTQ (Frantar et al., "GPTQ: Accurate
// Post-Training Quantization for Generative Pre-trained Transformers", 2023),
// written from the paper's algorithm. Plain rounding minimises ||W - Q|| per
// weight; GPTQ minimises the layer's output error on calibration inputs X,
//   ||X W^T - X Q^T||^2 = sum over rows r of (w_r - q_r)^T H (w_r - q_r) / 2,
//   H = 2 X^T X (+ damping),
// by quantizing the input channels one at a time, in order, and moving each
// channel's rounding error onto the channels not yet quantized with the
// inverse-Hessian update (the optimal-brain-surgeon step): with U the upper
// Cholesky factor of H^-1 (H^-1 = U^T U), after quantizing column i
//   e_r = (w_r[i] - q_r[i]) / U[i][i],   w_r[j] -= e_r * U[i][j]  for j > i.
// Columns are processed in blocks (the update of later blocks is applied
// once per block: the "lazy batch" of the paper); blocks start on group
// boundaries, so when a group starts, all its columns already carry every
// update and its scale (Pow2Sum via choose_pow2sum, or Float absmax / qmax)
// is chosen on those error-updated weights, exactly as quantize_weights
// chooses it on the originals. The result is an ordinary QuantizedMatrix:
// the same codes and scales format, run unchanged by linear_int, qlinear and
// every device backend.
//
// Properties (tests/core/quant/test_gptq.cpp): when H is a multiple of the
// identity no error moves and the result equals quantize_weights bit for
// bit; everything is in double, sequential and fixed-order, so the same
// inputs give the same bits.
#include <cstdint>
#include <string>
#include <vector>

#include "core/quant/quantizers.h"

namespace sm::quant {

// Accumulates H = 2 sum_t x_t x_t^T (double, n x n, symmetric) over rows of
// calibration inputs, and counts them.
class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t n = 0);
  int64_t n() const { return n_; }
  int64_t rows() const { return rows_; }
  // rows x n, row stride ld; fails (sm::Error) on a non-finite value.
  void add(const float* x, int64_t rows, int64_t ld);
  // The full symmetric matrix 2 X^T X, row-major n x n.
  std::vector<double> hessian() const;

 private:
  int64_t n_ = 0, rows_ = 0;
  std::vector<double> upper_;  // sum x x^T, upper triangle stored row-major (full n x n buffer)
};

// Accumulates the cross moment C = sum_t x_t y_t^T (double, n x n, full)
// of two aligned row sets (the fp32 inputs x and the quantized inputs y).
class CrossAccumulator {
 public:
  explicit CrossAccumulator(int64_t n = 0);
  int64_t n() const { return n_; }
  void add(const float* x, const float* y, int64_t rows, int64_t ld);
  const std::vector<double>& moment() const { return c_; }

 private:
  int64_t n_ = 0;
  std::vector<double> c_;
};

// The weights W' whose output on the quantized inputs Y best matches W's on
// the exact inputs X (least squares): W' = W C (Y^T Y + lambda I)^-1 with
// C = X^T Y (CrossAccumulator) and H = 2 Y^T Y (HessianAccumulator of Y),
// lambda = damp * mean(diag(Y^T Y)). ||Y Q^T - X W^T||^2 then equals
// ||Y (Q - W')^T||^2 up to a constant, so GPTQ of W' with H minimises the
// layer's output error including the activation quantization's. Fails as
// gptq_quantize does when the system is singular.
std::vector<float> activation_aware_target(const float* W, int64_t rows, int64_t cols, const std::vector<double>& C,
                                           const std::vector<double>& H, double damp,
                                           const std::string& where = "quant::activation_aware_target");

struct GptqOptions {
  int bits = 4;
  int64_t group = 128;
  ScaleKind kind = ScaleKind::Pow2Sum;
  double damp = 0.01;    // lambda = damp * mean(diag H) added to the diagonal
  int64_t block = 128;   // columns per lazy update (rounded up to a multiple of group)
};

struct GptqStats {
  double damp_used = 0;   // the damping fraction that made H positive definite
  int64_t dead_columns = 0;  // input channels that never saw a non-zero value (H[i][i] = 0)
};

// W row-major [rows][cols] (out x in), H row-major [cols][cols] (from
// HessianAccumulator, any positive scale). Fails (sm::Error, naming `where`)
// on bad shapes, bits or group as quantize_weights does, on a non-finite
// weight or Hessian entry, or when H stays singular after raising the
// damping (x10, up to four times). Dead columns (zero diagonal) get diagonal
// 1 so they quantize by plain rounding.
QuantizedMatrix gptq_quantize(const float* W, int64_t rows, int64_t cols, const std::vector<double>& H,
                              const GptqOptions& opt, GptqStats* stats = nullptr,
                              const std::string& where = "quant::gptq_quantize");

// The calibration text of `path`: its first `max_bytes` bytes (0 = all),
// cut back to the last newline when the cut falls inside a line and the
// text has one. Fails (sm::Error naming the path) when the file is missing,
// unreadable or empty.
std::string read_calibration_text(const std::string& path, int64_t max_bytes);

}  // namespace sm::quant
