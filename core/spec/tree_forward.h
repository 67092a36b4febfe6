// SPDX-License-Identifier: Apache-2.0
#pragma once
// The forward pass of one model over the nodes of a token tree (the target's
// verification pass, or one depth level of the draft's tree growth).
//
// Everything except the scan is computed node-parallel: norms and every
// linear layer (in_proj, x_proj/dt_proj, out_proj, lm_head) as one batch over
// the nodes, and conv1d for each node from its window = the conv inputs of its
// ancestors, nearest first, falling back to the committed window above the
// first node (conv needs no state, so it runs for all nodes up front). The
// scan of each layer is delegated to a callback that walks the tree in the
// order it wants (paths / dfs / fifo with tiles for the target, level by
// level for the draft), calling scan_node() for each node on a state tile.
//
// Linear layers use the model's packed kernels, whose result for a row does
// not depend on the batch size, so every node's result is bit-identical to a
// one-token decode step of MambaModel.
//
// Node ids are the caller's (parent[i] < i, -1 = child of the committed
// state). Rows are assigned in the order nodes are run and keep, for the
// whole step, each node's conv input and scan inputs (x, dt, B, C) per layer:
// replay backtracking re-runs the scan from them without any GEMM.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/model/mamba_model.h"

namespace sm {

class TreeForward {
 public:
  explicit TreeForward(MambaModel& m);

  MambaModel& model() { return m_; }
  const ModelConfig& cfg() const { return cfg_; }

  // Independent units of the SSM state: channels (Mamba-1) or heads (Mamba-2),
  // and the floats of one unit's state (N, or P*N).
  int64_t state_units() const { return units_; }
  int64_t unit_floats() const { return unit_floats_; }
  int64_t layer_state_floats() const { return units_ * unit_floats_; }
  // Bytes per node and layer of what replay needs to recompute a node's state
  // (x, dt, B) and of its conv input row (for the conv windows).
  int64_t replay_input_bytes() const;
  int64_t conv_row_bytes() const { return int64_t{cfg_.conv_dim()} * 4; }

  // Starts a step over `n` nodes. `committed` must stay alive and unchanged
  // until the last call that reads it (run, conv_window_after).
  void begin(std::span<const int32_t> parent, std::span<const int32_t> tokens,
             const ModelState& committed);

  // Runs `nodes` (every ancestor run before or earlier in the list) through
  // all layers. scan(layer, nodes) must call scan_node() for every node of the
  // list (each node's y row is the last one written). Writes logits for
  // nodes[logits_from..] into logits ([count][V]) if logits is non-null.
  using ScanFn = std::function<void(int layer, std::span<const int32_t> nodes)>;
  void run(std::span<const int32_t> nodes, const ScanFn& scan, float* logits,
           int32_t logits_from = 0);

  // Final norm + lm_head for `nodes` of the last run() batch, bit-identical to
  // run()'s logits: row i goes to out + nodes[i] * V.
  void logits_for(std::span<const int32_t> nodes, float* out);

  // One scan step of `node` at `layer` on units [u0, u1): S_tile holds that
  // tile of the parent's state ((u1-u0) * unit_floats floats) and receives the
  // node's. Writes the node's y for the tile into its batch row during run(),
  // into a scratch row otherwise.
  void scan_node(int layer, int32_t node, float* S_tile, int64_t u0, int64_t u1);

  // Whether the bound device scans `layer`'s whole tree itself (Device::ssm_tree).
  bool device_scans_tree(int layer) const;
  // Every node's scan at `layer` on the device, in FIFO order with tiles of
  // `tile_units` heads and at most `fifo_depth` live states: S_nodes gets
  // each node's state ([n][layer_state_floats]), the batch rows their y.
  // During run(), when the batch is the whole tree (nodes 0..n-1 in order).
  void scan_tree_on_device(int layer, const float* S_root, float* S_nodes, int64_t tile_units, int32_t fifo_depth);

  // The conv window ([K-1][C], oldest first) after consuming `node`.
  void conv_window_after(int layer, int32_t node, float* out) const;

  // Tokens of nodes not yet run may be set after begin() (the draft learns
  // them level by level).
  void set_token(int32_t node, int32_t token) { token_[node] = token; }

  int32_t row(int32_t node) const { return row_[node]; }
  int32_t n_nodes() const { return static_cast<int32_t>(parent_.size()); }

 private:
  void mixer(int l, int32_t r0, int32_t m, std::span<const int32_t> nodes, const ScanFn& scan);
  void conv_node(int l, int32_t node);
  // Conv input row of `node` at layer l, or committed row `-(src+1)`.
  const float* conv_src(int l, int32_t src) const;
  float* grow(std::vector<float>& v, size_t n);

  MambaModel& m_;
  const ModelConfig& cfg_;
  const ModelWeights& w_;
  int64_t units_ = 0, unit_floats_ = 0;
  int64_t P_ = 0, C_ = 0, XD_ = 0, DTW_ = 0;  // row widths: in_proj, conv, x_proj, dt
  int64_t off_conv_ = 0;                      // conv input offset in an in_proj row

  std::vector<int32_t> parent_, token_, row_;
  std::vector<int32_t> win_src_;  // [n][K-1] nearest first: node id, or -(committed row + 1)
  const ModelState* committed_ = nullptr;
  int32_t rows_used_ = 0;
  int32_t batch_r0_ = 0, batch_m_ = 0, last_r0_ = 0, last_m_ = 0;

  // Per layer, per row: kept for the whole step.
  std::vector<std::vector<float>> proj_, xc_, xdbl_, dt_;
  // Per batch.
  std::vector<float> h_, u_, y_, ycat_, out_, dtin_, yscratch_, lrows_;
};

}  // namespace sm
