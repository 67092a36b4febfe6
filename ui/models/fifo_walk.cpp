// SPDX-License-Identifier: Apache-2.0
#include "ui/models/fifo_walk.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <utility>

namespace sm::ui {

FifoTiling FifoTiling::from(const LayerStateGeometry& g, int tile) {
  FifoTiling t;
  t.layers = std::max(0, g.n_layer);
  t.units = std::max<int64_t>(0, g.state_units);
  if (t.units == 0) return t;  // unknown: one tile, no bytes
  t.tile_units = (tile <= 0 || tile >= t.units) ? t.units : tile;
  t.tiles = static_cast<int32_t>((t.units + t.tile_units - 1) / t.tile_units);
  t.tile_bytes = g.layer_state_bytes / t.units * t.tile_units;
  return t;
}

FifoWalk FifoWalk::build(const TreeShape& shape, VerifyOrder order, const FifoTiling& tiling) {
  const VerifySchedule s = VerifySchedule::build(shape, order);
  FifoWalk w;
  w.order = order;
  w.tiling = tiling;
  w.first_step.assign(shape.size(), -1);
  w.frames.reserve(s.ops.size());
  const int32_t n_slots = s.slot_count;
  std::vector<int32_t> held(n_slots, kSlotFree);
  std::vector<int32_t> queue;
  for (const ScanOp& op : s.ops) {
    FifoFrame f;
    f.op = op;
    switch (op.kind) {
      case ScanOp::Load:
        held[op.slot] = kStateCommitted;
        break;
      case ScanOp::Copy:
        f.source_slot = op.src;
        f.source_state = held[op.src];
        held[op.slot] = held[op.src];
        break;
      case ScanOp::Step:
        f.computed = op.node;
        f.source_slot = op.slot;
        f.source_state = held[op.slot];
        f.recompute = !op.first;
        held[op.slot] = op.node;
        if (w.first_step[op.node] < 0) w.first_step[op.node] = static_cast<int32_t>(w.frames.size());
        break;
      case ScanOp::Push:
        queue.push_back(op.slot);
        break;
      case ScanOp::Pop:
        // FIFO pops the front, the dfs stack its top.
        if (order == VerifyOrder::Dfs) {
          auto it = std::find(queue.rbegin(), queue.rend(), int32_t{op.slot});
          if (it != queue.rend()) queue.erase(std::next(it).base());
        } else {
          auto it = std::find(queue.begin(), queue.end(), int32_t{op.slot});
          if (it != queue.end()) queue.erase(it);
        }
        break;
      case ScanOp::Free:
        f.freed_slot = op.slot;
        f.freed_state = held[op.slot];
        held[op.slot] = kSlotFree;
        break;
    }
    f.held = held;
    f.queue = queue;
    f.live = static_cast<int32_t>(
        std::count_if(held.begin(), held.end(), [](int32_t v) { return v != kSlotFree; }));
    w.frames.push_back(std::move(f));
  }
  FifoWalkSummary& m = w.summary;
  m.ops = static_cast<int32_t>(s.ops.size());
  m.nodes = shape.size();
  m.peak_live = n_slots;
  m.peak_state_bytes = int64_t{n_slots} * tiling.tile_bytes;
  m.loads = s.loads;
  m.steps = s.steps;
  m.redundant = s.steps - shape.size();
  return w;
}

int FifoWalk::frame_at_fraction(double f) const {
  if (frames.empty()) return -1;
  const int n = size();
  const int i = static_cast<int>(std::lround(std::clamp(f, 0.0, 1.0) * n)) - 1;
  return std::clamp(i, 0, n - 1);
}

bool FifoWalk::is_live(int frame, int32_t node) const {
  if (frame < 0 || frame >= size()) return false;
  const auto& s = frames[frame].held;
  return std::find(s.begin(), s.end(), node) != s.end();
}

int32_t FifoWalk::peak_until(int frame) const {
  int32_t p = 0;
  for (int i = 0; i <= frame && i < size(); ++i) p = std::max(p, frames[i].live);
  return p;
}

VerifyOrder verify_order_or_fifo(const QString& name) {
  if (name == QLatin1String("dfs")) return VerifyOrder::Dfs;
  if (name == QLatin1String("paths")) return VerifyOrder::Paths;
  return VerifyOrder::Fifo;
}

QString verify_order_label(VerifyOrder o) { return QString::fromLatin1(verify_order_name(o)); }

QString scan_op_name(ScanOp::Kind k) {
  switch (k) {
    case ScanOp::Load: return QStringLiteral("load");
    case ScanOp::Copy: return QStringLiteral("copy");
    case ScanOp::Step: return QStringLiteral("step");
    case ScanOp::Push: return QStringLiteral("push");
    case ScanOp::Pop: return QStringLiteral("pop");
    case ScanOp::Free: return QStringLiteral("free");
  }
  return QStringLiteral("?");
}

namespace {

QString node_name(int32_t node, const std::function<QString(int32_t)>& token) {
  QString s = QStringLiteral("n%1").arg(node);
  if (token) {
    const QString t = token(node);
    if (!t.isEmpty()) s += QStringLiteral(" \u201c%1\u201d").arg(t);
  }
  return s;
}

QString state_name(int32_t state, const std::function<QString(int32_t)>& token) {
  if (state == kStateCommitted) return QStringLiteral("the committed state");
  if (state == kSlotFree) return QStringLiteral("nothing");
  return node_name(state, token) + QStringLiteral("'s state");
}

}  // namespace

QString describe_frame(const FifoFrame& f, VerifyOrder order,
                       const std::function<QString(int32_t)>& token) {
  const ScanOp& op = f.op;
  const bool stack = order == VerifyOrder::Dfs;
  switch (op.kind) {
    case ScanOp::Load:
      return QStringLiteral("Load the committed state into slot %1").arg(op.slot);
    case ScanOp::Copy:
      return QStringLiteral("Copy %1 from slot %2 to slot %3 for %4")
          .arg(state_name(f.source_state, token))
          .arg(op.src)
          .arg(op.slot)
          .arg(node_name(op.node, token));
    case ScanOp::Step:
      return QStringLiteral("Compute %1 from %2 in slot %3%4")
          .arg(node_name(op.node, token), state_name(f.source_state, token))
          .arg(op.slot)
          .arg(f.recompute ? QStringLiteral(" (recomputed: shared prefix)") : QString());
    case ScanOp::Push:
      return stack ? QStringLiteral("Push %1 (slot %2) onto the stack").arg(node_name(op.node, token)).arg(op.slot)
                   : QStringLiteral("Push %1 (slot %2) to the back of the FIFO")
                         .arg(node_name(op.node, token))
                         .arg(op.slot);
    case ScanOp::Pop:
      return stack ? QStringLiteral("Pop %1 (slot %2): its last child continues in place")
                         .arg(node_name(op.node, token))
                         .arg(op.slot)
                   : QStringLiteral("Pop %1 (slot %2) from the front: compute its children")
                         .arg(node_name(op.node, token))
                         .arg(op.slot);
    case ScanOp::Free:
      return QStringLiteral("Free slot %1: %2 dropped").arg(op.slot).arg(state_name(f.freed_state, token));
  }
  return {};
}

FifoAgreement check_recorded_walk(const std::vector<FifoRecord>& fifo, const VerifySchedule& s) {
  FifoAgreement a;
  std::vector<const ScanOp*> expect;
  for (const ScanOp& op : s.ops)
    if (op.kind == ScanOp::Push || op.kind == ScanOp::Pop) expect.push_back(&op);
  a.records = static_cast<int32_t>(fifo.size());
  if (fifo.empty()) {
    a.status = FifoAgreement::NoEvents;
    a.message = expect.empty() ? QStringLiteral("this order keeps no queue: no FIFO events to check")
                               : QStringLiteral("no FIFO events recorded (traced with --no-fifo-events)");
    return a;
  }
  // Records in arrival order per (layer, tile); layer 0 / tile 0 first in a well-formed trace.
  std::map<std::pair<int32_t, int32_t>, std::vector<const FifoRecord*>> groups;
  for (const FifoRecord& r : fifo) groups[{r.layer, r.tile}].push_back(&r);
  a.groups = static_cast<int32_t>(groups.size());
  auto op_text = [](bool push, int32_t node, int32_t live) {
    return QStringLiteral("%1 n%2 (live %3)").arg(push ? QStringLiteral("push") : QStringLiteral("pop")).arg(node).arg(live);
  };
  if (groups.find({0, 0}) == groups.end()) {
    a.status = FifoAgreement::Differs;
    a.message = QStringLiteral("no events recorded for layer 0, tile 0");
    return a;
  }
  for (const auto& [key, recs] : groups) {
    const size_t n = std::min(recs.size(), expect.size());
    for (size_t i = 0; i < n; ++i) {
      const FifoRecord& r = *recs[i];
      const ScanOp& op = *expect[i];
      if (r.push == (op.kind == ScanOp::Push) && r.node == op.node && r.live == op.live) continue;
      a.status = FifoAgreement::Differs;
      a.message = QStringLiteral("layer %1, tile %2, event %3: recorded %4, schedule %5")
                      .arg(key.first)
                      .arg(key.second)
                      .arg(i + 1)
                      .arg(op_text(r.push, r.node, r.live), op_text(op.kind == ScanOp::Push, op.node, op.live));
      return a;
    }
    if (recs.size() != expect.size()) {
      a.status = FifoAgreement::Differs;
      a.message = QStringLiteral("layer %1, tile %2: %3 events recorded, the schedule has %4")
                      .arg(key.first)
                      .arg(key.second)
                      .arg(recs.size())
                      .arg(expect.size());
      return a;
    }
  }
  a.status = FifoAgreement::Matches;
  a.message = QStringLiteral("recorded walk matches the schedule (%1 layer/tile walks, %2 events)")
                  .arg(a.groups)
                  .arg(a.records);
  return a;
}

// ---- FifoOpsModel ----

FifoOpsModel::FifoOpsModel(QObject* parent) : QAbstractTableModel(parent) {}

void FifoOpsModel::setWalk(const FifoWalk* walk, std::vector<QString> tokens) {
  beginResetModel();
  walk_ = walk;
  tokens_ = std::move(tokens);
  endResetModel();
}

int FifoOpsModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() || !walk_ ? 0 : walk_->size();
}

int FifoOpsModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QString FifoOpsModel::node_text(int32_t node) const {
  QString s = QStringLiteral("n%1").arg(node);
  if (node >= 0 && size_t(node) < tokens_.size() && !tokens_[node].isEmpty())
    s += QStringLiteral(" \u201c%1\u201d").arg(tokens_[node]);
  return s;
}

QString FifoOpsModel::state_text(int32_t state) const {
  if (state == kStateCommitted) return QStringLiteral("committed");
  if (state == kSlotFree) return QStringLiteral("\u2014");
  return node_text(state);
}

QVariant FifoOpsModel::data(const QModelIndex& index, int role) const {
  if (!walk_ || !index.isValid() || index.row() >= walk_->size()) return {};
  const FifoFrame& f = walk_->frames[index.row()];
  if (role == Qt::TextAlignmentRole)
    return index.column() == Op || index.column() == Node || index.column() == From
               ? QVariant(Qt::AlignLeft | Qt::AlignVCenter)
               : QVariant(Qt::AlignRight | Qt::AlignVCenter);
  if (role == Qt::ToolTipRole) {
    std::function<QString(int32_t)> tok = [this](int32_t n) {
      return n >= 0 && size_t(n) < tokens_.size() ? tokens_[n] : QString();
    };
    return describe_frame(f, walk_->order, tok);
  }
  if (role != Qt::DisplayRole) return {};
  switch (index.column()) {
    case Index: return index.row() + 1;  // as the view counts ops: 1..n
    case Op: return scan_op_name(f.op.kind) + (f.recompute ? QStringLiteral(" (again)") : QString());
    case Node:
      if (f.op.kind == ScanOp::Load) return QStringLiteral("committed");
      if (f.op.kind == ScanOp::Free) return state_text(f.freed_state);
      return node_text(f.op.node);
    case Slot: return int(f.op.slot);
    case From:
      if (f.op.kind == ScanOp::Step || f.op.kind == ScanOp::Copy)
        return QStringLiteral("s%1 \u00b7 %2").arg(f.source_slot).arg(
            f.source_state == kStateCommitted ? QStringLiteral("committed")
                                              : f.source_state == kSlotFree ? QStringLiteral("\u2014")
                                                                            : QStringLiteral("n%1").arg(f.source_state));
      return QStringLiteral("\u2014");
    case Live: return f.live;
  }
  return {};
}

QVariant FifoOpsModel::headerData(int section, Qt::Orientation o, int role) const {
  if (role != Qt::DisplayRole || o != Qt::Horizontal) return QAbstractTableModel::headerData(section, o, role);
  switch (section) {
    case Index: return QStringLiteral("#");
    case Op: return QStringLiteral("op");
    case Node: return QStringLiteral("node");
    case Slot: return QStringLiteral("slot");
    case From: return QStringLiteral("from");
    case Live: return QStringLiteral("live");
  }
  return {};
}

}  // namespace sm::ui
