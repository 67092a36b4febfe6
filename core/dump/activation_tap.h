// SPDX-License-Identifier: Apache-2.0
#pragma once
// An observer of the intermediate tensors of MambaModel::forward (activation
// dumps, outlier studies). The model calls it on the forward's own thread,
// once per row batch (a prefill chunk of T tokens, or one decode token), in
// the order the tensors are computed. Tensors are row-major [rows][cols]
// with a row stride `ld` (several tensors are column slices of a wider
// buffer); the pointer is valid only during the call and must not be kept.
//
// wants() is the filter: the model asks once per layer and batch, and skips
// every call (and every copy) of a layer the tap does not want, so a filtered
// dump costs nothing for the layers and tokens it leaves out.
//
// Quantized models: a tap that says wants_codes() also gets, through
// on_codes(), the integer codes the kernels consume (the inputs of the
// integer linear layers, the power-of-two SSM's INT8 tensors). They are
// computed only for a layer the tap wants, so a tap without codes, or a
// filtered-out layer, costs nothing extra.
#include <cstdint>

namespace sm {

class ActivationTap {
 public:
  // The `layer` argument of wants() / on_tensor() for the final logits.
  static constexpr int kLogits = -1;

  virtual ~ActivationTap() = default;

  // Before any tensor of a batch: the ids of tokens [first_token, first_token
  // + rows) of the sequence (first_token = the state's position).
  virtual void on_tokens(int64_t first_token, const int32_t* ids, int64_t rows) = 0;

  // Whether any tensor of `layer` (or kLogits) is wanted for these tokens.
  // Asking for kLogits makes the model compute logits for every row of the
  // batch, even where the caller asked for the last row only or none.
  virtual bool wants(int layer, int64_t first_token, int64_t rows) const = 0;

  // One tensor of one batch; `name` is a dataset name of docs/dump-format.md
  // ("hidden_in", "conv_out", ..., "logits").
  virtual void on_tensor(int layer, const char* name, int64_t first_token, int64_t rows,
                         int64_t cols, const float* data, int64_t ld) = 0;

  // Whether the model should compute and hand over integer codes (on_codes).
  virtual bool wants_codes() const { return false; }

  // The integer form of tensor `name` of a wanted layer: value = code *
  // 2^exps[r][c / group], codes[rows][cols] (row stride cols) in
  // [-(2^(bits-1) - 1), 2^(bits-1) - 1], exps[rows][ceil(cols / group)] (the
  // last group of a row may be shorter). Called after on_tensor(name) of the
  // same batch (where a float tensor of that name exists).
  virtual void on_codes(int layer, const char* name, int64_t first_token, int64_t rows, int64_t cols,
                        int bits, int64_t group, const int8_t* codes, const int16_t* exps) {
    (void)layer, (void)name, (void)first_token, (void)rows, (void)cols, (void)bits, (void)group,
        (void)codes, (void)exps;
  }
};

}  // namespace sm
