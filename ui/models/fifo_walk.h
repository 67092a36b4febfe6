// SPDX-License-Identifier: Apache-2.0
#pragma once
// The target's verification walk of one tree, op by op, for the FIFO view:
// VerifySchedule::build(shape, order) replayed into frames that say what every
// state slot holds after each ScanOp, which node is computed from which state
// and when a state is dropped. The walk is the same for every (layer, tile)
// and every step of a run (the shape is fixed), so one walk per order serves
// the whole run; only the tokens differ between steps.
//
// Also checks a step's recorded FifoPush / FifoPop events against the
// schedule, so the view can say whether the engine walked the way the
// schedule says.
#include <QAbstractTableModel>
#include <QString>

#include <cstdint>
#include <functional>
#include <vector>

#include "core/spec/backtrack.h"
#include "core/spec/tree_verifier.h"
#include "ui/models/run_record.h"

namespace sm::ui {

constexpr int32_t kSlotFree = -1;       // slot holds nothing
constexpr int32_t kStateCommitted = -2;  // the pre-step committed state

struct FifoFrame {
  ScanOp op;
  std::vector<int32_t> held;  // after the op: node whose state each slot holds, or kSlot*/kState*
  std::vector<int32_t> queue;  // after the op: slots waiting in the FIFO (front first) / stack (bottom first)
  int32_t live = 0;            // occupied slots after the op
  int32_t computed = -1;       // Step: node computed
  int32_t source_slot = -1;    // Step: slot read and overwritten; Copy: slot copied from
  int32_t source_state = kSlotFree;  // Step / Copy: state read (parent node or kStateCommitted)
  int32_t freed_slot = -1;     // Free: slot released
  int32_t freed_state = kSlotFree;   // Free: state dropped
  bool recompute = false;      // Step computing a node again (paths)
};

struct FifoTiling {
  int32_t layers = 0;          // 0: geometry unknown
  int64_t units = 0;           // state units (channels / heads); 0: unknown
  int64_t tile_units = 0;      // units per tile
  int32_t tiles = 1;
  int64_t tile_bytes = 0;      // one tile of one layer's state; 0: unknown
  // settings.tile: 0 or >= units = one tile.
  static FifoTiling from(const LayerStateGeometry& g, int tile);
};

struct FifoWalkSummary {
  int32_t ops = 0;
  int32_t nodes = 0;
  int32_t peak_live = 0;         // = schedule.slot_count
  int64_t peak_state_bytes = 0;  // peak_live x tile bytes; 0: geometry unknown
  int32_t loads = 0;             // committed-state loads per tile
  int32_t steps = 0;             // node scan steps per tile
  int32_t redundant = 0;         // steps beyond one per node (paths)
};

struct FifoWalk {
  VerifyOrder order = VerifyOrder::Fifo;
  std::vector<FifoFrame> frames;
  std::vector<int32_t> first_step;  // per node: frame of its first computation, -1: never
  FifoWalkSummary summary;
  FifoTiling tiling;

  static FifoWalk build(const TreeShape& shape, VerifyOrder order, const FifoTiling& tiling = {});
  int size() const { return static_cast<int>(frames.size()); }
  // Frame at op fraction f in [0, 1] (f = (i + 1) / ops), for synchronised panes.
  int frame_at_fraction(double f) const;
  // Whether `node`'s state is held by a slot after frame i.
  bool is_live(int frame, int32_t node) const;
  // Peak occupancy over frames 0..i.
  int32_t peak_until(int frame) const;
};

// "fifo" / "dfs" / "paths" -> order; anything else -> Fifo.
VerifyOrder verify_order_or_fifo(const QString& name);
QString verify_order_label(VerifyOrder o);

QString scan_op_name(ScanOp::Kind k);
// One line: "Step n3: computed from n1's state in slot 0 (in place)". `token`
// gives the display text of a node (may be null).
QString describe_frame(const FifoFrame& f, VerifyOrder order,
                       const std::function<QString(int32_t)>& token = {});

// Recorded FIFO events of one step vs the schedule of the run's order.
struct FifoAgreement {
  enum Status { NoEvents, Matches, Differs };
  Status status = NoEvents;
  int32_t groups = 0;   // (layer, tile) walks in the record
  int32_t records = 0;
  QString message;      // "recorded walk matches the schedule (24 layer/tile walks)" / the first difference
};
FifoAgreement check_recorded_walk(const std::vector<FifoRecord>& fifo, const VerifySchedule& s);

// The frames as a table: #, op, node, slot, from, live.
class FifoOpsModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { Index, Op, Node, Slot, From, Live, ColumnCount };
  explicit FifoOpsModel(QObject* parent = nullptr);

  // `walk` must outlive the model's use of it (the view keeps it); null clears.
  void setWalk(const FifoWalk* walk, std::vector<QString> tokens = {});
  const FifoWalk* walk() const { return walk_; }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;

 private:
  QString node_text(int32_t node) const;
  QString state_text(int32_t state) const;

  const FifoWalk* walk_ = nullptr;
  std::vector<QString> tokens_;
};

}  // namespace sm::ui
