// SPDX-License-Identifier: Apache-2.0
#pragma once
// What-if re-scoring of a recorded run without running a model: the figures
// another tree shape or another backtracking budget would have given.
//
// Tree shape (greedy runs): greedy speculative output equals the target's
// greedy output whatever the tree, so the run's generated ids are the token
// sequence of every re-run; what changes is where steps start and how far
// each step gets. At every position of that sequence the record holds one
// node on an accepted path, with the draft's top-w children it proposed
// there (ranked, core's drafter takes the top-w by draft logit) and the
// target's argmax. A re-run with a tree that is a subtree of the recorded one
// (rank-wise: every node of the new tree is a node of the old one) is replayed
// step by step from those nodes: at each node, accept the child whose rank is
// within the new tree and whose token is the target's argmax. Where the walk
// needs proposals the recorded run never made (re-rooted deep in an old tree,
// the new step wants more depth than remained), the answer is "needs a
// re-run", with the steps computed up to there — unless the run also
// recorded the draft's proposals after every output token
// (RunRecord::draft_topk, up to the recorded tree's widest node), which fill
// those gaps: then every subtree is exact.
//
// Sampled runs draw their children at random, so another tree draws other
// tokens: always "needs a re-run".
//
// Budget (the recorded tree): BacktrackWhatIf recomputes the target's bytes
// and replays under another policy and budget.
#include <QAbstractTableModel>
#include <QString>

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "core/spec/backtrack.h"
#include "ui/models/backtrack_model.h"
#include "ui/models/run_record.h"

namespace sm {
struct TreeShape;
}

namespace sm::ui {

struct WhatIfStepResult {
  int32_t accepted = 0;  // draft tokens accepted that reached the output (the run list's definition)
  int32_t emitted = 0;   // tokens of the step that reached the output (accepted + bonus, cut at the end)
  int32_t root_index = 0;  // generated-token index of the step's root
};

struct TreeWhatIfResult {
  bool exact = false;  // every step computed from recorded data
  QString reason;      // why not (empty when exact)
  std::vector<WhatIfStepResult> steps;  // all steps when exact, else the computed prefix
  int64_t nodes = 0;   // of the new tree, incl. the root
  int draft_pass_positions = 0;  // positions whose proposals came from RunRecord::draft_topk
  int depth = 0;
  double mean_accepted = 0;   // over `steps`, as RunFigures::mean_accepted
  double tokens_per_pass = 0;
  // Decode tok/s the run would have had: the recorded step phases rescaled,
  // drafting by tree depth (one draft pass per level) and verification by
  // node count; NaN when not exact or the record has no step times.
  double predicted_tokens_per_second = std::numeric_limits<double>::quiet_NaN();
};

// True when every node of `candidate` (by its path of child ranks) is a node
// of `recorded`.
bool is_rank_subtree(const TreeShape& candidate, const TreeShape& recorded);

// Re-scores `run` with tree `shape` (see the file comment).
TreeWhatIfResult rescore_tree(const RunRecord& run, const TreeShape& shape);

// Backtracking totals of the recorded tree under another policy and budget.
struct BudgetWhatIfResult {
  bool available = false;
  QString reason;
  WhatIfTotals recorded, what_if;
};
BudgetWhatIfResult rescore_budget(const BacktrackWhatIf& bt, BacktrackPolicy policy, int64_t budget);

// The figures of the current run against the what-if, one row per figure:
// columns Figure / Recorded / What-if / Delta. DisplayRole text, UserRole the
// number (NaN when unknown).
class WhatIfModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Row {
    MeanAccepted, TokensPerPass, Steps, TokensPerSecond,
    BacktrackPeakBytes, ReplayedTokens, BacktrackTime, RowCount
  };
  enum Column { FigureColumn, RecordedColumn, WhatIfColumn, DeltaColumn, ColumnCount };

  explicit WhatIfModel(QObject* parent = nullptr);

  void setRun(std::shared_ptr<const RunRecord> run);
  const RunRecord* run() const { return run_.get(); }
  // Tree text as TreeShape::parse takes it; a parse error becomes the status.
  void setTree(const QString& tree);
  void setBacktrack(BacktrackPolicy policy, int64_t budget);

  // "exact: …" / "needs a re-run: …" / "no run" — what the figures mean.
  QString status() const { return status_; }
  bool needsRerun() const { return needs_rerun_; }
  const TreeWhatIfResult& treeResult() const { return tree_; }
  const BudgetWhatIfResult& budgetResult() const { return budget_; }
  double recordedValue(Row r) const;
  // Bytes that keep every node state of the recorded tree (the budget slider's 100%); 0: unknown.
  int64_t fullBudget() const { return bt_.available() ? bt_.full_budget() : 0; }
  double whatIfValue(Row r) const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;

 signals:
  void statusChanged(const QString& status);

 private:
  void recompute();

  std::shared_ptr<const RunRecord> run_;
  BacktrackWhatIf bt_;
  QString tree_text_;
  BacktrackPolicy policy_ = BacktrackPolicy::Snapshot;
  int64_t budget_value_ = 0;
  bool budget_set_ = false;
  TreeWhatIfResult tree_;
  BudgetWhatIfResult budget_;
  QString status_;
  bool needs_rerun_ = false;
  bool tree_ok_ = false;
};

}  // namespace sm::ui
