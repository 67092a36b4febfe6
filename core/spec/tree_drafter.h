// SPDX-License-Identifier: Apache-2.0
#pragma once
// The draft side of a speculative step: grows the token tree level by level
// (all nodes of one depth that have children run as one batch through the
// draft, each from its parent's state), then backtracks the draft's state
// after acceptance.
//
// Node ids inside the drafter are "extended": tokens the draft still owes
// (pending: the previous step's last accepted token when it was a leaf, which
// the draft never consumed) come first as a chain, then the tree's nodes.
// Level 0 is pending + root; level d is the depth-d nodes with children.
// Leaves are proposed but never consumed by the draft.
//
// Greedy: a node's children are its top-w tokens by draft probability
// (softmax at temperature 1, recorded as the node's prob). Temperature > 0:
// children are w i.i.d. samples of the warped q (duplicates allowed), which
// is what lossless multi-branch acceptance requires; q is kept per node.
//
// State memory: a node's full state (all layers) lives in a block while its
// children are computed; afterwards it is kept only if the backtracking
// policy wants it (snapshot: all; replay: none; hybrid: most probable first
// while within the budget, shallow levels first).
#include <cstdint>
#include <span>
#include <vector>

#include "core/spec/backtrack.h"
#include "core/model/sampler.h"
#include "core/spec/token_tree.h"
#include "core/spec/tree_forward.h"

namespace sm {

struct SpecEmitter;

struct DraftStats {
  int32_t passes = 0;         // batched draft forward calls
  int32_t nodes_run = 0;      // nodes consumed by the draft
  int64_t kept_bytes = 0;     // node states kept for backtracking
  int64_t peak_state_bytes = 0;  // node-state blocks resident at once
  double us = 0;
};

class TreeDrafter {
 public:
  TreeDrafter(MambaModel& draft, const TreeShape& shape);

  // Fills tree.token / draft_prob below the root (tree.token[0] is the root),
  // from `committed` after consuming `pending`. q_rows ([n][V], may be null
  // when greedy) receives the warped q of every node with children.
  DraftStats grow(TokenTree& tree, const ModelState& committed, std::span<const int32_t> pending,
                  const SamplingParams& sp, Sampler& rng, BacktrackPolicy policy, int64_t budget,
                  float* q_rows, const SpecEmitter* ev);

  // After acceptance (accepted = tree nodes root..last): sets `committed` to
  // the state after the deepest accepted node the draft consumed; `pending`
  // receives the accepted leaf the draft still owes (if any).
  BacktrackResult backtrack(ModelState& committed, const TokenTree& tree,
                            std::span<const int32_t> accepted, std::vector<int32_t>& pending);

  TreeForward& forward() { return fwd_; }

 private:
  int32_t alloc_block();
  float* block(int32_t node) { return blocks_.data() + size_t(block_of_[node]) * block_floats_; }
  void propose(TokenTree& tree, int32_t t, const float* logits, const SamplingParams& sp,
               Sampler& rng, float* q_rows, const SpecEmitter* ev);

  TreeForward fwd_;
  const TreeShape& shape_;
  std::vector<std::vector<int32_t>> levels_;  // tree nodes with children, per depth >= 1
  int64_t block_floats_ = 0;
  std::vector<float> blocks_;
  std::vector<int32_t> free_blocks_;
  int32_t blocks_used_ = 0, blocks_peak_ = 0;
  std::vector<int32_t> block_of_;  // per ext node, -1 = none
  std::vector<uint8_t> kept_;      // per ext node
  int32_t off_ = 0;                // ext id of the root
  int32_t blocks_made_ = 0;
  std::vector<int32_t> parent_, token_, batch_, prev_batch_, order_, path_, idx_;
  std::vector<float> logits_, scratch_;
  std::vector<double> cum_;
};

}  // namespace sm
