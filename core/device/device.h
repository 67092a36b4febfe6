// SPDX-License-Identifier: Apache-2.0
#pragma once
// The device interface: the ops of a quantized Mamba model that an
// accelerator runs (integer linear layers with their online Hadamard and
// activation quantization, the causal conv1d + SiLU, the power-of-two SSM
// scan), called by the model (core/model, core/spec) instead of its own CPU
// kernels when a device is bound to its weights (core/device/bind.h).
// Nothing here knows what the device is: accel/ implements it twice (`emu`,
// the accelerator's HLS kernels run on the CPU; `xrt`, the same kernels on a
// board). Every op's result is defined by a core/ reference, bit for bit:
//   linear   -> quant::quantize_activations + quant::linear_int (Pow2Sum)
//   conv_row -> sm::conv_silu_row
//   ssm_scan -> quant::pot_scan_mamba2
//   ssm_tree -> ssm_scan (T = 1) of every tree node from its parent's state
// so a model gives the same tokens on every backend.
#include <cstdint>
#include <string>

#include "core/quant/pot_scan.h"
#include "core/quant/qlinear.h"

namespace sm::device {

// Host data an add_* call describes; the device copies what it needs, so
// nothing here must outlive the call.
struct LinearDesc {
  std::string name;                        // "layers.3.in_proj": for errors
  const quant::QuantizedMatrix* weights;   // [out][in] integer codes + scales
  quant::ActQuant act;                     // dynamic activation quantization of the input
  bool rotate_input = false;               // orthonormal Hadamard of each input row first
};

struct ConvDesc {
  std::string name;
  int64_t channels = 0;
  int kernel = 0;                 // K (d_conv)
  const float* wT = nullptr;      // [K][channels]
  const float* bias = nullptr;    // [channels] or null
};

struct SsmDesc {  // one Mamba-2 layer's power-of-two SSM (n_groups 1)
  std::string name;
  int64_t heads = 0, head_dim = 0, state = 0, group = 0;
  const quant::PotSsmLayer* layer = nullptr;
  const quant::SsmTables* tables = nullptr;
};

using Handle = int32_t;

// What a device has run, per op kind (tests check that a model really used it).
struct OpCounts {
  int64_t linear_calls = 0, linear_rows = 0;
  int64_t conv_rows = 0;
  int64_t ssm_calls = 0, ssm_tokens = 0;
  int64_t tree_calls = 0, tree_nodes = 0;
};

class Device {
 public:
  virtual ~Device() = default;
  // "emu" or "xrt".
  virtual std::string name() const = 0;
  // One line for `info`, `devices` and the Studio: what runs where.
  virtual std::string describe() const = 0;

  // Weights go to the device once. A device that cannot run a layer (float
  // weight scales, a shape outside its limits) throws sm::Error naming it.
  virtual Handle add_linear(const LinearDesc& d) = 0;
  virtual Handle add_conv(const ConvDesc& d) = 0;
  virtual Handle add_ssm(const SsmDesc& d) = 0;

  // y[t][0, out) (row stride ldy) = linear_int(quantize_activations(H x[t]))
  // for t < T, x rows of stride ldx (H: the Hadamard when rotate_input, else
  // the identity). No bias: the caller adds it. One thread at a time.
  virtual void linear(Handle h, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy) = 0;
  // conv_silu_row's contract on channels [c0, c1): ext[k] (k < K) are the K
  // input rows, oldest first. Callable from several threads on disjoint
  // channel ranges or rows.
  virtual void conv_row(Handle h, const float* const* ext, float* o, int64_t c0, int64_t c1) = 0;
  // pot_scan_mamba2's contract on heads [h0, h1) (S indexed by absolute
  // head). Callable from several threads on disjoint heads.
  virtual void ssm_scan(Handle h, int64_t T, const float* xbc, int64_t xbc_stride, const float* dt_raw,
                        int64_t dt_stride, float* S, float* y, int64_t h0, int64_t h1) = 0;

  // Tree verification's scan of one layer (SpecMamba's FIFO order with state
  // tiling, done by the device): every node v < n stepped once from its
  // parent's state (S_root for parent -1; parent[v] < v), breadth-first,
  // tile_heads heads at a time, at most fifo_depth live states per tile.
  // xbc / dt_raw: one row per node (strides as ssm_scan). S_nodes:
  // [n][H][P][N], every node's state; y: [n][H * P]. Equal, node by node, to
  // ssm_scan with T = 1 from the parent's state. One thread at a time.
  virtual void ssm_tree(Handle h, int32_t n, const int32_t* parent, const float* xbc, int64_t xbc_stride,
                        const float* dt_raw, int64_t dt_stride, const float* S_root, float* S_nodes, float* y,
                        int64_t tile_heads, int32_t fifo_depth) = 0;

  virtual OpCounts counts() const = 0;
};

}  // namespace sm::device
