// SPDX-License-Identifier: Apache-2.0
#include "core/spec/backtrack.h"

#include <algorithm>
#include <cstring>

#include "core/io/error.h"
#include "core/kernels/math_kernels.h"
#include "core/spec/token_tree.h"
#include "core/spec/tree_forward.h"

namespace sm {

const char* backtrack_policy_name(BacktrackPolicy p) {
  switch (p) {
    case BacktrackPolicy::Snapshot: return "snapshot";
    case BacktrackPolicy::Replay: return "replay";
    case BacktrackPolicy::Hybrid: return "hybrid";
  }
  return "?";
}

BacktrackPolicy parse_backtrack_policy(const std::string& s) {
  if (s == "snapshot") return BacktrackPolicy::Snapshot;
  if (s == "replay") return BacktrackPolicy::Replay;
  if (s == "hybrid") return BacktrackPolicy::Hybrid;
  fail("--backtrack", "unknown policy '" + s + "' (expected snapshot, replay or hybrid)");
}

void snapshot_priority(const TokenTree& tree, std::vector<int32_t>& order) {
  const TreeShape& s = *tree.shape;
  const int32_t n = s.size();
  thread_local std::vector<double> cum;
  cum.assign(n, 1.0);
  for (int32_t v = 1; v < n; ++v) cum[v] = cum[s.parent[v]] * double(tree.draft_prob[v]);
  order.resize(n);
  for (int32_t v = 0; v < n; ++v) order[v] = v;
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    if (cum[a] != cum[b]) return cum[a] > cum[b];
    return s.depth[a] > s.depth[b];
  });
}

void SnapshotStore::plan(std::span<const uint8_t> mask, int32_t n_nodes, int n_layer,
                         int64_t layer_floats) {
  n_layer_ = n_layer;
  layer_floats_ = layer_floats;
  block_.assign(size_t(n_nodes) * n_layer, -1);
  blocks_ = 0;
  for (size_t i = 0; i < block_.size(); ++i)
    if (i < mask.size() && mask[i]) block_[i] = blocks_++;
  const size_t need = size_t(blocks_) * layer_floats;
  if (data_.size() < need) data_.resize(need);
}

void plan_target_snapshots(BacktrackPolicy policy, int64_t budget, const TokenTree& tree,
                           int n_layer, int64_t layer_bytes, std::vector<uint8_t>& mask) {
  const int32_t n = tree.size();
  mask.assign(size_t(n) * n_layer, policy == BacktrackPolicy::Snapshot ? 1 : 0);
  if (policy != BacktrackPolicy::Hybrid || budget <= 0 || layer_bytes <= 0) return;
  thread_local std::vector<int32_t> order;
  snapshot_priority(tree, order);
  int64_t used = 0;
  for (int32_t v : order)
    for (int l = 0; l < n_layer; ++l) {
      if (used + layer_bytes > budget) return;
      mask[size_t(v) * n_layer + l] = 1;
      used += layer_bytes;
    }
}

BacktrackEstimate estimate_target_backtrack(BacktrackPolicy policy, int64_t budget,
                                            const TokenTree& tree, std::span<const int32_t> path,
                                            const LayerStateGeometry& g) {
  thread_local std::vector<uint8_t> mask;
  plan_target_snapshots(policy, budget, tree, g.n_layer, g.layer_state_bytes, mask);
  const int32_t n = tree.size();
  int64_t blocks = 0;
  for (uint8_t m : mask) blocks += m;
  BacktrackEstimate e;
  e.state_bytes = blocks * g.layer_state_bytes;
  e.input_bytes = (int64_t{n} * g.n_layer - blocks) * g.replay_input_bytes +
                  int64_t{n} * g.n_layer * g.conv_row_bytes;
  const int32_t len = static_cast<int32_t>(path.size());
  for (int l = 0; l < g.n_layer; ++l) {
    int32_t start = 0;  // after the deepest stored state on the path
    for (int32_t i = len - 1; i >= 0; --i)
      if (mask[size_t(path[i]) * g.n_layer + l]) {
        start = i + 1;
        break;
      }
    e.replayed_steps += len - start;
  }
  return e;
}

int32_t backtrack_state(TreeForward& fwd, ModelState& state, std::span<const int32_t> path,
                        const std::function<const float*(int32_t, int)>& stored,
                        std::vector<float>& scratch) {
  if (path.empty()) return 0;
  const ModelConfig& c = fwd.cfg();
  const int64_t lf = fwd.layer_state_floats();
  const size_t conv_floats = size_t(c.conv_state_floats());
  if (scratch.size() < conv_floats) scratch.resize(conv_floats);
  const int32_t len = static_cast<int32_t>(path.size());
  int32_t replayed = 0;
  flush_subnormals_on_this_thread();  // the same arithmetic as the forward pass
  for (int l = 0; l < c.n_layer; ++l) {
    LayerState& ls = state.layers[l];
    // Deepest stored state on the path.
    int32_t start = 0;
    for (int32_t i = len - 1; i >= 0; --i) {
      if (const float* s = stored ? stored(path[i], l) : nullptr) {
        std::memcpy(ls.ssm.data(), s, lf * sizeof(float));
        start = i + 1;
        break;
      }
    }
    for (int32_t i = start; i < len; ++i) fwd.scan_node(l, path[i], ls.ssm.data(), 0, fwd.state_units());
    replayed += len - start;
    // The window after the last node: built in scratch first, since it may
    // read the committed rows it replaces.
    fwd.conv_window_after(l, path.back(), scratch.data());
    std::memcpy(ls.conv.data(), scratch.data(), conv_floats * sizeof(float));
  }
  state.position += len;
  return replayed;
}

}  // namespace sm
