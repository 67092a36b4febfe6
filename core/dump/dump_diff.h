// SPDX-License-Identifier: Apache-2.0
#pragma once
// The difference of two activation dumps of the same model shape (fp32 vs
// w4a4, cpu vs emu, rotated vs not): per common dataset the largest absolute
// and relative difference, and the first (token, layer, tensor) in run order
// where they differ by more than a tolerance. Read a block of rows at a
// time, never a whole file.
//
// Run order is the order of a token-by-token forward: position p, then layer
// 0..n-1 of p, and within a layer the tensors as the forward computes them
// (the reader's order: T_unrotated, T, T_codes, T_exponent), /logits after
// the last layer. Every input of a tensor comes earlier in this order (its
// layer's earlier tensors, earlier layers of the same token, earlier tokens
// through the state), so the first difference is one that nothing before it
// explains: where the two runs start to diverge. (The prefill batches rows
// layer by layer, but a row's result does not depend on the batching.)
// Rows are matched by sequence position (/token_index), so dumps with
// different token filters compare on the positions they share.
//
// A rotated and an unrotated dump (rotation attribute) are compared in the
// unrotated basis: the rotated one's out_proj_in_unrotated against the
// other's out_proj_in (Mamba-1; Mamba-2 folds its gated-norm weight into
// out_proj when rotating, so neither out_proj_in form matches there). Its
// residual-stream tensors (hidden_in, in_proj_in, mixer_out, their codes and
// exponents) and its rotated out_proj_in have no unrotated form in the dump;
// they are listed in `other_basis`, not compared.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/dump/dump_reader.h"

namespace sm {

struct DumpDiffOptions {
  double tol = 0.0;  // values differ when |a - b| > tol (NaN against a number always differs)
};

struct DatasetDiff {
  std::string name;       // "/layers/3/conv_out", "/logits" (in dump a)
  std::string name_b;     // its counterpart in b: the same name, or out_proj_in[_unrotated] across bases
  int layer = -1;         // -1 for /logits
  int64_t rows = 0;       // rows compared (common positions)
  int64_t cols = 0;
  double max_abs = 0;     // max |a - b|
  double max_rel = 0;     // max_abs / max(max |a|, max |b|): relative to the tensor's scale
  int64_t max_position = -1, max_col = -1;  // where max_abs is
  int64_t beyond = 0;     // values with |a - b| > tol
  int64_t first_position = -1, first_col = -1;  // first position (then column) beyond tol
  double first_a = 0, first_b = 0;
};

struct DumpDiff {
  std::vector<DatasetDiff> datasets;   // common datasets in run order
  std::vector<std::string> only_a, only_b;  // datasets in one dump only
  // Rotated vs unrotated: the rotated dump's tensors in the rotated basis
  // (its names), not compared. Empty when both share a basis.
  std::vector<std::string> other_basis;
  bool bases_differ = false;
  int64_t positions = 0;               // common positions compared
  int64_t first_token_mismatch = -1;   // first position whose token ids differ
  // The first difference in run order (see above); -1 / empty when none.
  int64_t first_position = -1;
  int first_layer = -1;                // -1 with first_dataset "/logits"
  std::string first_dataset;
  int64_t first_col = -1;
  double first_a = 0, first_b = 0;
  bool cancelled = false;              // stopped early: the figures are partial
  bool differs() const { return first_position >= 0; }
};

// Throws sm::Error naming both files when the model shapes differ (config
// fields arch, d_model, n_layer, vocab_size, d_state, d_inner, ...) or a
// common dataset has different columns. progress(done, total) in rows of
// datasets compared, from the calling thread.
DumpDiff diff_dumps(const DumpReader& a, const DumpReader& b, const DumpDiffOptions& opt = {},
                    const std::atomic<bool>* cancel = nullptr,
                    const std::function<void(int64_t done, int64_t total)>& progress = {});

// The rows of both dumps at common positions, aligned: the positions shared,
// and for each the row in a and in b.
struct RowMatch {
  std::vector<int64_t> positions, row_a, row_b;
};
RowMatch match_rows(const DumpReader& a, const DumpReader& b);

// The dataset of b that a's `name` is compared with: `name` itself when both
// dumps share a basis (empty if b lacks it); across bases see above (empty
// for a tensor in the rotated basis).
std::string diff_counterpart(const DumpReader& a, const DumpReader& b, const std::string& name);

// Reads n matched rows starting at match index i0 of dataset `name` of a and
// its counterpart in b (diff_counterpart) into out = a - b ([n][cols]).
void read_diff_rows(const DumpReader& a, const DumpReader& b, const RowMatch& m, const std::string& name,
                    int64_t i0, int64_t n, float* out);

}  // namespace sm
