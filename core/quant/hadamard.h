// SPDX-License-Identifier: Apache-2.0
#pragma once
// Orthonormal Hadamard rotations for the LightMamba / QuaRot scheme: the
// residual-stream rotation folded into the weights offline and the online
// rotation before out_proj. A width n = K * 2^k is rotated by
//   H_n = (H_K ⊗ H_{2^k}) / sqrt(n)
// with H_{2^k} the Sylvester (Walsh) matrix and H_K a small ±1 Hadamard matrix
// built here from a Paley construction (see hadamard.cpp), in O(n log n + n K)
// without forming the n x n matrix. K is chosen as QuaRot's get_hadK does
// (see PAPERS.md), so 2560 and 5120 use K = 40, 192 / 384 / 768 / 1536 use 12.
//
// Conventions (x a column vector of length n, indices i = a * 2^k + b):
//   transform(x)            = H_n x
//   transform_transposed(x) = H_n^T x   (its inverse: H_n is orthogonal)
// Folding: if activations are rotated x' = H_n x, then W x = (W H_n^T) x', and
// row r of W H_n^T is transform(row r of W) — fold a weight by transforming
// its rows; undo a rotation with transform_transposed.
#include <cstdint>
#include <vector>

namespace sm::quant {

bool is_pow2(int64_t n);

// Normalised in-place fast Walsh–Hadamard transform of one row of length
// n = 2^k: x <- H_{2^k} x / sqrt(n). H_{2^k} is symmetric, so this is its own
// inverse. Throws sm::Error naming n when it is not a power of two.
void fwht(float* x, int64_t n);
void fwht(double* x, int64_t n);
// The same on `rows` contiguous rows of length n (row r at x + r * n).
void fwht_rows(float* x, int64_t rows, int64_t n);
void fwht_rows(double* x, int64_t rows, int64_t n);

// The K with n / K a power of two that transform() uses for width n, or 0 when
// no construction is available (n <= 0, odd K such as 3 or 7, or K = 156, 172).
int hadamard_k(int64_t n);
// Every K > 1 with a construction, ascending.
std::vector<int> hadamard_base_sizes();
// The K x K ±1 matrix H_K (row-major) with H_K H_K^T = K I; K = 1 gives {1}.
// Throws sm::Error naming K when there is no construction for it.
std::vector<int8_t> hadamard_base(int K);

// out = H_n in (out may equal in). Throws sm::Error naming n when
// hadamard_k(n) == 0.
void transform(const float* in, float* out, int64_t n);
void transform(const double* in, double* out, int64_t n);
// out = H_n^T in (equal to transform for symmetric H_K: K = 1, 28, 36, 52, 148).
void transform_transposed(const float* in, float* out, int64_t n);
void transform_transposed(const double* in, double* out, int64_t n);
// The same on `rows` contiguous rows of length n.
void transform_rows(const float* in, float* out, int64_t rows, int64_t n);
void transform_rows(const double* in, double* out, int64_t rows, int64_t n);
void transform_transposed_rows(const float* in, float* out, int64_t rows, int64_t n);
void transform_transposed_rows(const double* in, double* out, int64_t rows, int64_t n);

// The dense orthonormal H_n (row-major n x n), for tests and offline folding of
// small widths; n at most kMaxDenseHadamard (512 MB of doubles).
inline constexpr int64_t kMaxDenseHadamard = 8192;
std::vector<double> hadamard_matrix(int64_t n);

}  // namespace sm::quant
