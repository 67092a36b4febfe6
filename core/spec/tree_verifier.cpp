// SPDX-License-Identifier: Apache-2.0
#include "core/spec/tree_verifier.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <functional>

#include "core/io/error.h"
#include "core/spec/spec_emitter.h"

namespace sm {

const char* verify_order_name(VerifyOrder o) {
  switch (o) {
    case VerifyOrder::Paths: return "paths";
    case VerifyOrder::Dfs: return "dfs";
    case VerifyOrder::Fifo: return "fifo";
  }
  return "?";
}

VerifyOrder parse_verify_order(const std::string& s) {
  if (s == "paths") return VerifyOrder::Paths;
  if (s == "dfs") return VerifyOrder::Dfs;
  if (s == "fifo") return VerifyOrder::Fifo;
  fail("--verify", "unknown verification order '" + s + "' (expected fifo, dfs or paths)");
}

namespace {

struct ScheduleBuilder {
  VerifySchedule s;
  std::vector<int16_t> free_slots;
  int16_t next = 0;
  int32_t live = 0;

  int16_t alloc() {
    ++live;
    if (!free_slots.empty()) {
      const int16_t id = free_slots.back();
      free_slots.pop_back();
      return id;
    }
    s.slot_count = std::max<int32_t>(s.slot_count, next + 1);
    return next++;
  }
  void op(ScanOp::Kind k, int32_t node, int16_t slot, int16_t src = 0, bool first = false) {
    ScanOp o;
    o.kind = k;
    o.first = first ? 1 : 0;
    o.slot = slot;
    o.src = src;
    o.node = node;
    o.live = live;
    s.ops.push_back(o);
    if (k == ScanOp::Load) ++s.loads;
    if (k == ScanOp::Step) ++s.steps;
  }
  void release(int16_t slot) {
    --live;
    free_slots.push_back(slot);
    op(ScanOp::Free, -1, slot);
  }
};

}  // namespace

VerifySchedule VerifySchedule::build(const TreeShape& t, VerifyOrder order) {
  ScheduleBuilder b;
  const int32_t n = t.size();
  switch (order) {
    case VerifyOrder::Paths: {
      // The naive baseline: the tree flattened into one sequence per
      // root-to-leaf path, all advanced together as a batch, each with its own
      // state from the committed one; shared prefixes are recomputed.
      std::vector<std::vector<int32_t>> paths;
      for (int32_t leaf = 0; leaf < n; ++leaf)
        if (t.is_leaf(leaf)) paths.push_back(t.path_to(leaf));
      std::vector<int16_t> slot(paths.size());
      for (size_t p = 0; p < paths.size(); ++p) {
        slot[p] = b.alloc();
        b.op(ScanOp::Load, -1, slot[p]);
      }
      std::vector<uint8_t> seen(n, 0);
      size_t longest = 0;
      for (const auto& path : paths) longest = std::max(longest, path.size());
      for (size_t d = 0; d < longest; ++d)
        for (size_t p = 0; p < paths.size(); ++p) {
          if (d >= paths[p].size()) continue;
          const int32_t v = paths[p][d];
          b.op(ScanOp::Step, v, slot[p], 0, !seen[v]);
          seen[v] = 1;
        }
      for (size_t p = 0; p < paths.size(); ++p) b.release(slot[p]);
      break;
    }
    case VerifyOrder::Dfs: {
      std::function<void(int32_t, int16_t)> visit = [&](int32_t v, int16_t s) {
        b.op(ScanOp::Step, v, s, 0, true);
        const int32_t k = t.n_children[v];
        if (k == 0) {
          b.release(s);
          return;
        }
        b.op(ScanOp::Push, v, s);
        for (int32_t i = 0; i < k; ++i) {
          const int32_t c = t.first_child[v] + i;
          if (i + 1 < k) {
            const int16_t d = b.alloc();
            b.op(ScanOp::Copy, c, d, s);
            visit(c, d);
          } else {
            b.op(ScanOp::Pop, v, s);
            visit(c, s);
          }
        }
      };
      const int16_t s = b.alloc();
      b.op(ScanOp::Load, -1, s);
      visit(0, s);
      break;
    }
    case VerifyOrder::Fifo: {
      std::deque<std::pair<int32_t, int16_t>> fifo;
      const int16_t s0 = b.alloc();
      b.op(ScanOp::Load, -1, s0);
      b.op(ScanOp::Step, 0, s0, 0, true);
      b.op(ScanOp::Push, 0, s0);
      fifo.emplace_back(0, s0);
      while (!fifo.empty()) {
        const auto [v, s] = fifo.front();
        fifo.pop_front();
        b.op(ScanOp::Pop, v, s);
        const int32_t k = t.n_children[v];
        for (int32_t i = 0; i < k; ++i) {
          const int32_t c = t.first_child[v] + i;
          int16_t d = s;  // the last child takes over the popped state
          if (i + 1 < k) {
            d = b.alloc();
            b.op(ScanOp::Copy, c, d, s);
          }
          b.op(ScanOp::Step, c, d, 0, true);
          if (t.n_children[c] > 0) {
            b.op(ScanOp::Push, c, d);
            fifo.emplace_back(c, d);
          } else {
            b.release(d);
          }
        }
      }
      break;
    }
  }
  return b.s;
}

TreeVerifier::TreeVerifier(MambaModel& target, const TreeShape& shape, VerifyOrder order,
                           int tile)
    : fwd_(target), shape_(shape), order_(order), sched_(VerifySchedule::build(shape, order)) {
  if (tile < 0) fail("--tile", "the tile size must be >= 0 (0 = the whole state)");
  const int64_t units = fwd_.state_units();
  const int64_t t = (tile == 0 || tile >= units) ? units : tile;
  for (int64_t u = 0; u < units; u += t) tiles_.emplace_back(u, std::min(units, u + t));
  tile_units_ = t;
}

void TreeVerifier::plan_execution(int threads) {
  // Execution may split tiles further across threads: units are independent,
  // so results and the reported (logical) figures do not change.
  exec_threads_ = threads;
  exec_tiles_.clear();
  for (auto [u0, u1] : tiles_) {
    const int64_t parts =
        threads > 1 && int64_t(tiles_.size()) < threads ? std::min<int64_t>(threads, u1 - u0) : 1;
    for (int64_t p = 0; p < parts; ++p)
      exec_tiles_.emplace_back(u0 + (u1 - u0) * p / parts, u0 + (u1 - u0) * (p + 1) / parts);
  }
  // One arena per chunk the pool may hand out (ThreadPool::max_chunks()).
  arenas_.resize(std::max(1, fwd_.model().pool().max_chunks()));
  for (auto& a : arenas_) a.assign(size_t(sched_.slot_count) * tile_units_ * fwd_.unit_floats(), 0.0f);
}

void TreeVerifier::walk(int l, int tile_index, int64_t u0, int64_t u1, float* arena,
                        const float* committed_ssm, SnapshotStore& store, const SpecEmitter* ev) {
  const int64_t uf = fwd_.unit_floats(), tf = (u1 - u0) * uf;
  const size_t bytes = size_t(tf) * sizeof(float);
  const bool events = ev && ev->fifo();
  for (const ScanOp& op : sched_.ops) {
    float* slot = arena + op.slot * tf;
    switch (op.kind) {
      case ScanOp::Load:
        std::memcpy(slot, committed_ssm + u0 * uf, bytes);
        break;
      case ScanOp::Copy:
        std::memcpy(slot, arena + op.src * tf, bytes);
        break;
      case ScanOp::Step:
        fwd_.scan_node(l, op.node, slot, u0, u1);
        if (op.first)
          if (float* dst = store.at(op.node, l)) std::memcpy(dst + u0 * uf, slot, bytes);
        break;
      case ScanOp::Push:
        if (events) ev->post_now(FifoPush{l, tile_index, op.node, op.live});
        break;
      case ScanOp::Pop:
        if (events) ev->post_now(FifoPop{l, tile_index, op.node, op.live});
        break;
      case ScanOp::Free:
        break;
    }
  }
}

VerifyStats TreeVerifier::verify(const TokenTree& tree, const ModelState& committed,
                                 SnapshotStore& store, float* logits,
                                 std::span<const int32_t> logit_nodes, const SpecEmitter* ev) {
  const int32_t n = shape_.size();
  if (tree.shape != &shape_ && tree.size() != n) fail("", "token tree does not match the verifier's shape");
  const ModelConfig& c = fwd_.cfg();
  parents_.assign(shape_.parent.begin(), shape_.parent.end());
  tokens_.assign(tree.token.begin(), tree.token.end());
  nodes_.resize(n);
  for (int32_t v = 0; v < n; ++v) nodes_[v] = v;
  fwd_.begin(parents_, tokens_, committed);
  ThreadPool& pool = fwd_.model().pool();
  if (pool.size() != exec_threads_) plan_execution(pool.size());

  auto scan = [&](int l, std::span<const int32_t>) {
    const float* S0 = committed.layers[l].ssm.data();
    if (order_ == VerifyOrder::Fifo && fwd_.device_scans_tree(l)) {  // the accelerator walks the tree
      const int64_t L = fwd_.layer_state_floats();
      node_states_.resize(size_t(n) * L);
      fwd_.scan_tree_on_device(l, S0, node_states_.data(), tile_units_, sched_.slot_count);
      for (int32_t v = 0; v < n; ++v)
        if (float* dst = store.at(v, l)) std::memcpy(dst, node_states_.data() + size_t(v) * L, size_t(L) * sizeof(float));
      if (ev && ev->fifo())  // the same FIFO events the host walk posts
        for (size_t t = 0; t < tiles_.size(); ++t)
          for (const ScanOp& op : sched_.ops) {
            if (op.kind == ScanOp::Push) ev->post_now(FifoPush{l, int(t), op.node, op.live});
            if (op.kind == ScanOp::Pop) ev->post_now(FifoPop{l, int(t), op.node, op.live});
          }
      return;
    }
    if (ev && ev->fifo()) {  // events in order, on this thread, per logical tile
      for (size_t t = 0; t < tiles_.size(); ++t)
        walk(l, int(t), tiles_[t].first, tiles_[t].second, arenas_[0].data(), S0, store, ev);
      return;
    }
    if (exec_tiles_.size() > 1 && pool.size() > 1) {
      std::atomic<int> next_arena{0};
      pool.parallel_for(int64_t(exec_tiles_.size()), [&](int64_t t0, int64_t t1) {
        float* arena = arenas_[next_arena.fetch_add(1)].data();  // one arena per chunk
        for (int64_t t = t0; t < t1; ++t)
          walk(l, int(t), exec_tiles_[t].first, exec_tiles_[t].second, arena, S0, store, nullptr);
      });
      return;
    }
    for (size_t t = 0; t < exec_tiles_.size(); ++t)
      walk(l, int(t), exec_tiles_[t].first, exec_tiles_[t].second, arenas_[0].data(), S0, store,
           nullptr);
  };
  fwd_.run(nodes_, scan, nullptr, 0);
  if (logits) fwd_.logits_for(logit_nodes, logits);

  VerifyStats s;
  const int64_t layer_bytes = fwd_.layer_state_floats() * 4;
  const int64_t max_tile = tiles_.front().second - tiles_.front().first;
  s.tiles = tiles();
  s.peak_live_states = sched_.slot_count;
  s.peak_live_bytes = int64_t{sched_.slot_count} * max_tile * fwd_.unit_floats() * 4;
  s.state_bytes_read = int64_t{c.n_layer} * (sched_.loads * layer_bytes + c.conv_state_floats() * 4);
  s.state_bytes_written = store.bytes();
  s.redundant_nodes = sched_.steps - n;
  return s;
}

}  // namespace sm
