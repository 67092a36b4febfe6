// SPDX-License-Identifier: Apache-2.0
#include "core/spec/tree_drafter.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/io/error.h"
#include "core/model/generator.h"
#include "core/spec/spec_emitter.h"

namespace sm {

TreeDrafter::TreeDrafter(MambaModel& draft, const TreeShape& shape) : fwd_(draft), shape_(shape) {
  block_floats_ = int64_t{fwd_.cfg().n_layer} * fwd_.layer_state_floats();
  const int32_t depth = shape.max_depth();
  levels_.assign(std::max(0, depth - 1), {});
  for (int32_t v = 1; v < shape.size(); ++v)
    if (shape.n_children[v] > 0) levels_[shape.depth[v] - 1].push_back(v);
  if (shape.max_width() > fwd_.cfg().vocab_size)
    fail(shape.spec, "a node has " + std::to_string(shape.max_width()) +
                         " children but the vocabulary has only " +
                         std::to_string(fwd_.cfg().vocab_size) + " tokens");
}

int32_t TreeDrafter::alloc_block() {
  int32_t b;
  if (!free_blocks_.empty()) {
    b = free_blocks_.back();
    free_blocks_.pop_back();
  } else {
    b = blocks_made_++;  // distinct blocks handed out so far
    const size_t need = size_t(b + 1) * block_floats_;
    if (blocks_.size() < need) blocks_.resize(need);
  }
  blocks_peak_ = std::max(blocks_peak_, ++blocks_used_);
  return b;
}

void TreeDrafter::propose(TokenTree& tree, int32_t t, const float* row, const SamplingParams& sp,
                          Sampler& rng, float* q_rows, const SpecEmitter* ev) {
  const int32_t w = shape_.n_children[t], fc = shape_.first_child[t];
  const int32_t V = fwd_.cfg().vocab_size;
  const std::span<const float> logits(row, V);
  if (sp.greedy()) {
    float mx = row[0];
    for (int32_t i = 1; i < V; ++i) mx = std::max(mx, row[i]);
    double sum = 0.0;
    for (int32_t i = 0; i < V; ++i) sum += std::exp(double(row[i]) - mx);
    if (w == 1) {
      idx_.assign(1, argmax(logits));
    } else {
      idx_.resize(V);
      for (int32_t i = 0; i < V; ++i) idx_[i] = i;
      std::partial_sort(idx_.begin(), idx_.begin() + w, idx_.end(), [&](int32_t a, int32_t b) {
        return row[a] > row[b] || (row[a] == row[b] && a < b);
      });
    }
    for (int32_t i = 0; i < w; ++i) {
      tree.token[fc + i] = idx_[i];
      tree.draft_prob[fc + i] = static_cast<float>(std::exp(double(row[idx_[i]]) - mx) / sum);
    }
  } else {
    std::vector<float> q = warped_probs(logits, sp);
    if (q_rows) std::memcpy(q_rows + int64_t{t} * V, q.data(), V * sizeof(float));
    for (int32_t i = 0; i < w; ++i) {
      const int32_t tok = rng.sample_probs(q);
      tree.token[fc + i] = tok;
      tree.draft_prob[fc + i] = q[tok];
    }
  }
  for (int32_t i = 0; i < w; ++i) {
    const int32_t c = fc + i;
    fwd_.set_token(c + off_, tree.token[c]);
    if (ev && ev->on())
      ev->post_now(NodeDrafted{c, t, shape_.depth[c], tree.token[c], tree.draft_prob[c]});
  }
}

DraftStats TreeDrafter::grow(TokenTree& tree, const ModelState& committed,
                             std::span<const int32_t> pending, const SamplingParams& sp,
                             Sampler& rng, BacktrackPolicy policy, int64_t budget, float* q_rows,
                             const SpecEmitter* ev) {
  const double t_start = now_seconds();
  const int32_t n = shape_.size(), P = static_cast<int32_t>(pending.size());
  const int32_t n_ext = n + P;
  const int32_t V = fwd_.cfg().vocab_size;
  const int L = fwd_.cfg().n_layer;
  const int64_t lf = fwd_.layer_state_floats(), block_bytes = block_floats_ * 4;
  off_ = P;
  parent_.resize(n_ext);
  token_.assign(n_ext, 0);
  for (int32_t i = 0; i < P; ++i) {
    parent_[i] = i - 1;
    token_[i] = pending[i];
  }
  parent_[P] = P - 1;
  token_[P] = tree.token[0];
  for (int32_t v = 1; v < n; ++v) parent_[v + P] = shape_.parent[v] + P;
  fwd_.begin(parent_, token_, committed);

  block_of_.assign(n_ext, -1);
  kept_.assign(n_ext, 0);
  free_blocks_.clear();
  blocks_made_ = 0;
  blocks_used_ = blocks_peak_ = 0;
  cum_.assign(n_ext, 1.0);
  DraftStats st;

  auto scan = [&](int l, std::span<const int32_t> nodes) {
    for (int32_t v : nodes) {
      const int32_t p = parent_[v];
      const float* src = p < 0 ? committed.layers[l].ssm.data() : block(p) + l * lf;
      float* dst = block(v) + l * lf;
      std::memcpy(dst, src, lf * sizeof(float));
      fwd_.scan_node(l, v, dst, 0, fwd_.state_units());
    }
  };

  batch_.clear();
  for (int32_t i = 0; i <= P; ++i) batch_.push_back(i);
  prev_batch_.clear();
  for (size_t level = 0;; ++level) {
    for (int32_t v : batch_) block_of_[v] = alloc_block();
    const int32_t from = level == 0 ? P : 0;
    const int32_t rows = static_cast<int32_t>(batch_.size()) - from;
    if (logits_.size() < size_t(rows) * V) logits_.resize(size_t(rows) * V);
    fwd_.run(batch_, scan, logits_.data(), from);
    ++st.passes;
    st.nodes_run += static_cast<int32_t>(batch_.size());
    // The parents are no longer needed for growth.
    for (int32_t v : prev_batch_)
      if (!kept_[v]) {
        free_blocks_.push_back(block_of_[v]);
        --blocks_used_;
        block_of_[v] = -1;
      }
    // Which of this level's states backtracking keeps.
    for (int32_t v : batch_)
      if (v > P) cum_[v] = cum_[parent_[v]] * double(tree.draft_prob[v - P]);
    if (policy == BacktrackPolicy::Snapshot) {
      for (int32_t v : batch_) kept_[v] = 1;
      st.kept_bytes += int64_t(batch_.size()) * block_bytes;
    } else if (policy == BacktrackPolicy::Hybrid) {
      order_ = batch_;
      std::stable_sort(order_.begin(), order_.end(), [&](int32_t a, int32_t b) {
        if (cum_[a] != cum_[b]) return cum_[a] > cum_[b];
        return a > b;  // deeper (later) first among equals
      });
      for (int32_t v : order_)
        if (st.kept_bytes + block_bytes <= budget) {
          kept_[v] = 1;
          st.kept_bytes += block_bytes;
        }
    }
    for (int32_t i = from; i < static_cast<int32_t>(batch_.size()); ++i)
      propose(tree, batch_[i] - P, logits_.data() + int64_t{i - from} * V, sp, rng, q_rows, ev);
    if (level >= levels_.size()) break;
    prev_batch_.swap(batch_);
    batch_.clear();
    for (int32_t t : levels_[level]) batch_.push_back(t + P);
  }
  for (int32_t v : batch_)
    if (!kept_[v]) {
      free_blocks_.push_back(block_of_[v]);
      --blocks_used_;
      block_of_[v] = -1;
    }
  (void)L;
  st.peak_state_bytes = int64_t{blocks_peak_} * block_bytes;
  st.us = (now_seconds() - t_start) * 1e6;
  return st;
}

BacktrackResult TreeDrafter::backtrack(ModelState& committed, const TokenTree& tree,
                                       std::span<const int32_t> accepted,
                                       std::vector<int32_t>& pending) {
  const double t0 = now_seconds();
  BacktrackResult r;
  const int32_t P = off_;
  const int L = fwd_.cfg().n_layer;
  pending.clear();
  path_.clear();
  for (int32_t i = 0; i <= P; ++i) path_.push_back(i);
  for (size_t i = 1; i < accepted.size(); ++i) {
    const int32_t a = accepted[i];
    if (shape_.n_children[a] > 0)
      path_.push_back(a + P);
    else
      pending.push_back(tree.token[a]);
  }
  const int64_t lf = fwd_.layer_state_floats();
  auto stored = [&](int32_t node, int l) -> const float* {
    return kept_[node] && block_of_[node] >= 0 ? block(node) + l * lf : nullptr;
  };
  r.replayed_steps = backtrack_state(fwd_, committed, path_, stored, scratch_);
  r.path_nodes = static_cast<int32_t>(path_.size());
  int32_t consumed = 0, kept = 0;
  for (size_t v = 0; v < block_of_.size(); ++v) {
    if (fwd_.row(int32_t(v)) >= 0) ++consumed;
    if (kept_[v]) ++kept;
  }
  r.state_bytes = int64_t{kept} * block_floats_ * 4;
  r.input_bytes = int64_t{consumed - kept} * L * fwd_.replay_input_bytes() +
                  int64_t{consumed} * L * fwd_.conv_row_bytes();
  r.us = (now_seconds() - t0) * 1e6;
  return r;
}

}  // namespace sm
