// SPDX-License-Identifier: Apache-2.0
#pragma once
// Verification of a whole token tree by the target in one pass.
//
// Per layer, everything but the scan runs node-parallel (TreeForward). The
// scan walks the tree in one of three orders, tile by tile over the state's
// independent units (channels for Mamba-1, heads for Mamba-2); the tile loop
// is outermost, so only one tile of each live state is resident:
//
//   paths  every root-to-leaf path as its own sequence from the committed
//          state, all paths advanced together as a batch (the naive baseline:
//          one live state per path, shared prefixes recomputed)
//   dfs    depth-first with a stack of ancestor states
//   fifo   breadth-first: pop a node's state, compute its children (the last
//          child in place of the popped state), push the children that have
//          children; leaves are computed and dropped
//
// A walk is the same for every tile and every layer, so it is compiled once
// per (shape, order) into a VerifySchedule of slot operations, which also
// gives the figures: peak live states (distinct slots), committed-state loads
// (read once per tile for dfs/fifo, once per path per tile for paths) and
// redundant node computations. Node states that backtracking wants are
// written out of the walk into a SnapshotStore (the only state writes).
#include <cstdint>
#include <string>
#include <vector>

#include "core/spec/backtrack.h"
#include "core/spec/token_tree.h"
#include "core/spec/tree_forward.h"

namespace sm {

struct SpecEmitter;

enum class VerifyOrder { Paths, Dfs, Fifo };
const char* verify_order_name(VerifyOrder o);
VerifyOrder parse_verify_order(const std::string& s);  // throws sm::Error

struct ScanOp {
  enum Kind : uint8_t { Load, Copy, Step, Push, Pop, Free };
  Kind kind = Step;
  uint8_t first = 0;  // Step: first computation of this node (paths repeats nodes)
  int16_t slot = 0;   // Load/Copy: destination; Step: state slot; Free: slot
  int16_t src = 0;    // Copy: source slot
  int32_t node = -1;  // Step/Push/Pop
  int32_t live = 0;   // slots in use after the op (for events)
};

struct VerifySchedule {
  std::vector<ScanOp> ops;
  int32_t slot_count = 0;  // distinct state slots = peak live states (not "slots": a Qt macro)
  int32_t loads = 0;  // committed-state loads per tile
  int32_t steps = 0;  // node scan steps per tile
  static VerifySchedule build(const TreeShape& shape, VerifyOrder order);
};

struct VerifyStats {
  int32_t peak_live_states = 0;
  int64_t peak_live_bytes = 0;      // slots x tile bytes
  int64_t state_bytes_read = 0;     // committed SSM tiles loaded + committed conv windows
  int64_t state_bytes_written = 0;  // node states written out for backtracking
  int32_t redundant_nodes = 0;      // node scan steps beyond one per node (paths), per layer
  int32_t tiles = 0;
};

class TreeVerifier {
 public:
  // tile: units (channels / heads) per tile; 0 or >= units = one tile.
  TreeVerifier(MambaModel& target, const TreeShape& shape, VerifyOrder order, int tile);

  TreeForward& forward() { return fwd_; }
  const VerifySchedule& schedule() const { return sched_; }
  VerifyOrder order() const { return order_; }
  int32_t tiles() const { return static_cast<int32_t>(tiles_.size()); }

  // Computes every node of `tree` from `committed` (left unchanged); the
  // states selected in `store` are written to it, and the logits of
  // `logit_nodes` to logits + node * V. The logits of other nodes can be
  // had afterwards from forward().logits_for() (acceptance usually needs only
  // a path's worth: computing them lazily saves most of the lm_head work).
  VerifyStats verify(const TokenTree& tree, const ModelState& committed, SnapshotStore& store,
                     float* logits, std::span<const int32_t> logit_nodes, const SpecEmitter* ev);

 private:
  void plan_execution(int threads);
  void walk(int layer, int tile_index, int64_t u0, int64_t u1, float* arena,
            const float* committed_ssm, SnapshotStore& store, const SpecEmitter* ev);

  TreeForward fwd_;
  const TreeShape& shape_;
  VerifyOrder order_;
  VerifySchedule sched_;
  std::vector<std::pair<int64_t, int64_t>> tiles_;       // logical tiles
  std::vector<std::pair<int64_t, int64_t>> exec_tiles_;  // split further across threads
  std::vector<std::vector<float>> arenas_;               // one per thread
  int64_t tile_units_ = 0;
  int exec_threads_ = 0;
  std::vector<int32_t> nodes_, parents_, tokens_;
  std::vector<float> node_states_;  // [n][layer state] when the device scans the tree
};

}  // namespace sm
