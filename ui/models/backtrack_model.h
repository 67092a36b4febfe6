// SPDX-License-Identifier: Apache-2.0
#pragma once
// Backtracking of a recorded run: a table of both models' recorded cost per
// step, and the target's cost recomputed under another policy or budget from
// the recorded trees alone (no model is run). The draft's backtracking runs
// inside the drafter with its own storage rules, so it is only shown as
// recorded.
#include <QAbstractTableModel>

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "core/spec/backtrack.h"
#include "ui/models/run_record.h"

namespace sm::ui {

// One step of the target's backtracking under a what-if policy and budget.
struct WhatIfStep {
  int64_t state_bytes = 0;      // stored node states
  int64_t input_bytes = 0;      // replay inputs of unstored (node, layer) + conv rows
  int32_t replayed_steps = 0;   // (node, layer) scan steps recomputed
  double est_us = std::numeric_limits<double>::quiet_NaN();  // NaN: unknown (see BacktrackTimeModel)
  int32_t restored_layers = 0;  // layers copied back from a stored state
  int64_t bytes_kept() const { return state_bytes + input_bytes; }
};

struct WhatIfTotals {
  int64_t peak_state_bytes = 0;
  int64_t peak_bytes_kept = 0;  // states + inputs
  int64_t replayed_tokens = 0;  // sum over steps of ceil(replayed steps / n_layer)
  double total_us = std::numeric_limits<double>::quiet_NaN();  // NaN if any step is unknown
};

// Tokens as the engine reports them: (node, layer) steps rounded up over layers.
int32_t replayed_tokens(int32_t replayed_steps, int n_layer);
WhatIfTotals what_if_totals(const std::vector<WhatIfStep>& steps, int n_layer);

// The target's backtrack time as a linear model fitted to the recorded run:
//   us = intercept + per_replay * replayed_steps + per_copy * restored_layers
// (a scan step replayed costs a recurrence update; a restore is one layer
// state memcpy; the intercept is the conv-window rebuild and overhead), by
// least squares over the recorded steps, coefficients kept non-negative,
// after leaving out outliers (a step preempted by the OS can take 100x the
// usual time: samples whose residual is beyond 5 robust sigmas, by the
// median absolute deviation, are dropped and the fit repeated).
// A regressor that never varied in the run cannot be separated from the
// intercept: it is pinned at its recorded value and any what-if step with a
// different value is unknown (NaN). So a run that never replayed gives no
// estimate for replaying, rather than an invented one.
struct BacktrackTimeModel {
  double intercept_us = 0, per_replay_us = 0, per_copy_us = 0;
  bool replay_free = false, copy_free = false;  // fitted; else pinned
  int32_t pinned_replay = 0, pinned_copy = 0;
  int samples = 0;               // steps the fit used
  int outliers = 0;              // recorded steps left out as outliers (preemption, page faults)
  double r2 = std::numeric_limits<double>::quiet_NaN();

  bool valid() const { return samples > 0; }
  double estimate(int32_t replayed_steps, int32_t restored_layers) const;
  // Fits from per-step regressors and recorded times (same length).
  static BacktrackTimeModel fit(const std::vector<WhatIfStep>& recorded_config,
                                const std::vector<double>& us);
};

// What-if recomputation of one run's target backtracking. Builds the per-step
// trees and snapshot priority orders once, so a recompute over a 600-step run
// takes well under a millisecond.
class BacktrackWhatIf {
 public:
  BacktrackWhatIf() = default;
  explicit BacktrackWhatIf(std::shared_ptr<const RunRecord> run);

  // False for a null or target-only run, an unknown target geometry, or no steps.
  bool available() const { return available_; }
  const RunRecord* run() const { return run_.get(); }
  // The bytes that hold every node state of the tree: nodes x n_layer x layer_state_bytes.
  int64_t full_budget() const;
  // One entry per run step; a step whose nodes do not match the run's shape
  // is all zeros with est_us NaN.
  std::vector<WhatIfStep> recompute(BacktrackPolicy policy, int64_t budget) const;
  // The recorded policy and budget, recomputed (proven equal to the recorded
  // bytes and tokens by the tests): splits recorded bytes into states and inputs.
  const std::vector<WhatIfStep>& recorded() const { return recorded_; }
  BacktrackPolicy recorded_policy() const { return recorded_policy_; }
  int64_t recorded_budget() const { return recorded_budget_; }
  const BacktrackTimeModel& time_model() const { return time_; }
  // Why a what-if time is n/a, or empty when the model can estimate it.
  QString time_unknown_reason(const WhatIfStep& s) const;

 private:
  WhatIfStep step_cost(size_t i, BacktrackPolicy policy, int64_t blocks) const;

  std::shared_ptr<const RunRecord> run_;
  bool available_ = false;
  LayerStateGeometry g_;
  int32_t n_nodes_ = 0;
  // Per step: position of each node in snapshot_priority order (empty: step unusable).
  std::vector<std::vector<int32_t>> pos_;
  BacktrackPolicy recorded_policy_ = BacktrackPolicy::Snapshot;
  int64_t recorded_budget_ = 0;
  std::vector<WhatIfStep> recorded_;
  BacktrackTimeModel time_;
};

// Convenience without a cache (tests, one-off use).
std::vector<WhatIfStep> recompute(const RunRecord& run, BacktrackPolicy policy, int64_t budget);

// One row per step: both models' recorded backtracking.
class BacktrackTableModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column {
    StepColumn,
    AcceptedColumn,
    PolicyColumn,
    TargetBytesColumn,
    TargetReplayedColumn,
    TargetUsColumn,
    DraftBytesColumn,
    DraftReplayedColumn,
    DraftUsColumn,
    ColumnCount
  };

  explicit BacktrackTableModel(QObject* parent = nullptr);
  void setRun(std::shared_ptr<const RunRecord> run);
  const RunRecord* run() const { return run_.get(); }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  // DisplayRole: text with units; UserRole: the raw number (step, tokens,
  // bytes as qlonglong, us as double); ToolTipRole: a sentence.
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

 private:
  std::shared_ptr<const RunRecord> run_;
};

}  // namespace sm::ui
