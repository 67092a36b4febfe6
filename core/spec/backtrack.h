// SPDX-License-Identifier: Apache-2.0
#pragma once
// Backtracking of a model's recurrent state after acceptance: the new
// committed state is the state after the last accepted node (the bonus token
// is not consumed; it becomes the next root).
//
//   snapshot  every node's state is stored while the tree is computed; the
//             accepted node's is copied back.
//   replay    nothing but the per-node scan inputs (x, dt, B; no state) is
//             kept; the scan is recomputed along the accepted path from the
//             pre-step committed state (no GEMM).
//   hybrid    states are stored while they fit a byte budget, most probable
//             nodes first (cumulative draft probability, deeper first on
//             ties: the root, then the draft's best path, ...); each layer is
//             then restored from the deepest stored ancestor on the accepted
//             path and replayed from there.
//
// Accounting (per model and step): "state bytes" are the stored node states
// (snapshots; hybrid keeps them <= budget); "input bytes" are the replay
// inputs of every (node, layer) that is not stored, plus every node's conv
// input row (conv windows are always rebuilt from those, for all policies).
// The pre-step committed state is not counted: every policy keeps it.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/model/mamba_state.h"

namespace sm {

class TreeForward;
struct TokenTree;

enum class BacktrackPolicy { Snapshot, Replay, Hybrid };
const char* backtrack_policy_name(BacktrackPolicy p);
BacktrackPolicy parse_backtrack_policy(const std::string& s);  // throws sm::Error

// Nodes ordered by cumulative draft probability (descending), deeper first on
// ties, then breadth-first index.
void snapshot_priority(const TokenTree& tree, std::vector<int32_t>& order);

// Compact storage of the (node, layer) states chosen for snapshotting.
class SnapshotStore {
 public:
  // mask[node * n_layer + layer] != 0 -> stored. Reuses its memory across steps.
  void plan(std::span<const uint8_t> mask, int32_t n_nodes, int n_layer, int64_t layer_floats);
  float* at(int32_t node, int layer) {
    const int32_t b = block_[size_t(node) * n_layer_ + layer];
    return b < 0 ? nullptr : data_.data() + size_t(b) * layer_floats_;
  }
  const float* at(int32_t node, int layer) const {
    return const_cast<SnapshotStore*>(this)->at(node, layer);
  }
  int32_t blocks() const { return blocks_; }
  int64_t bytes() const { return int64_t{blocks_} * layer_floats_ * 4; }

 private:
  std::vector<int32_t> block_;
  std::vector<float> data_;
  int n_layer_ = 0;
  int64_t layer_floats_ = 0;
  int32_t blocks_ = 0;
};

// The target's snapshot plan for one step: mask [n * n_layer]; snapshot ->
// all, replay -> none, hybrid -> (node, layer) pairs in snapshot_priority
// order, layer by layer, while the bytes fit `budget`.
void plan_target_snapshots(BacktrackPolicy policy, int64_t budget, const TokenTree& tree,
                           int n_layer, int64_t layer_bytes, std::vector<uint8_t>& mask);

struct BacktrackResult {
  int64_t state_bytes = 0;    // stored states
  int64_t input_bytes = 0;    // replay inputs + conv rows
  int32_t replayed_steps = 0; // (node, layer) scan steps recomputed
  int32_t path_nodes = 0;     // nodes consumed into the committed state
  double us = 0;
};

// The target's backtracking cost for one step, computed from the tree and the
// accepted path alone (no model): what backtrack_state and the engine's
// accounting report for the same policy and budget. The Studio uses it to
// recompute a recorded run under another budget. `path` starts at the root.
struct BacktrackEstimate {
  int64_t state_bytes = 0;     // stored node states
  int64_t input_bytes = 0;     // replay inputs of unstored (node, layer) + conv rows
  int32_t replayed_steps = 0;  // (node, layer) scan steps recomputed
};
struct LayerStateGeometry {    // per model; the trace metadata carries it
  int n_layer = 0;
  int64_t layer_state_bytes = 0;   // one layer's SSM state
  int64_t replay_input_bytes = 0;  // one (node, layer)'s scan inputs
  int64_t conv_row_bytes = 0;      // one (node, layer)'s conv input row
  int64_t state_units = 0;         // channels (Mamba-1) / heads (Mamba-2): what tiles split
};
BacktrackEstimate estimate_target_backtrack(BacktrackPolicy policy, int64_t budget,
                                            const TokenTree& tree, std::span<const int32_t> path,
                                            const LayerStateGeometry& g);

// Sets `state` (the committed state the tree was computed from) to the state
// after path.back(), where `path` is the chain of nodes from the first one
// computed from `state`. stored(node, layer) returns a stored full-layer SSM
// state or null. Returns the (node, layer) steps replayed. The conv windows
// come from the cached conv inputs.
int32_t backtrack_state(TreeForward& fwd, ModelState& state, std::span<const int32_t> path,
                        const std::function<const float*(int32_t, int)>& stored,
                        std::vector<float>& scratch);

}  // namespace sm
