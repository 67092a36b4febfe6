// SPDX-License-Identifier: Apache-2.0
#include "core/spec/token_tree.h"

#include "ui/models/what_if.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <functional>

namespace sm::ui {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Where the greedy walk is at one generated-token index: a node of a recorded
// step that lies on its accepted path.
struct PathNode {
  int32_t step = -1;  // index into run.steps
  int32_t node = -1;
};

}  // namespace

bool is_rank_subtree(const TreeShape& candidate, const TreeShape& recorded) {
  // Ranks are contiguous from 0, so it is enough that every node of the
  // candidate has at most as many children as the node at the same rank path.
  std::function<bool(int32_t, int32_t)> walk = [&](int32_t c, int32_t r) {
    if (candidate.n_children[size_t(c)] > recorded.n_children[size_t(r)]) return false;
    for (int32_t i = 0; i < candidate.n_children[size_t(c)]; ++i)
      if (!walk(candidate.first_child[size_t(c)] + i, recorded.first_child[size_t(r)] + i)) return false;
    return true;
  };
  return candidate.size() > 0 && recorded.size() > 0 && walk(0, 0);
}

TreeWhatIfResult rescore_tree(const RunRecord& run, const TreeShape& shape) {
  TreeWhatIfResult res;
  res.nodes = shape.size();
  res.depth = shape.max_depth();
  auto fail = [&](const QString& why) {
    res.exact = false;
    res.reason = why;
    return res;
  };
  if (!run.settings.speculative() || !run.shape || run.steps.empty())
    return fail(QStringLiteral("the run has no speculative steps to re-score"));
  if (run.settings.temperature > 0)
    return fail(QStringLiteral("a sampled run (temperature %1) draws other tokens with another tree")
                    .arg(run.settings.temperature, 0, 'g', 3));
  if (!is_rank_subtree(shape, *run.shape))
    return fail(QStringLiteral("%1 is not a subtree of the recorded tree %2")
                    .arg(QString::fromStdString(shape.describe()), QString::fromStdString(run.shape->describe())));
  const int64_t total = int64_t(run.generated_ids.size());
  if (total < 1) return fail(QStringLiteral("the run has no generated tokens"));

  // Generated index -> the recorded path node there. Step s's root is the
  // token before its first output token; its accepted path runs on from there.
  std::vector<PathNode> at(static_cast<size_t>(total));
  std::vector<std::vector<std::vector<int32_t>>> kids(run.steps.size());
  for (size_t s = 0; s < run.steps.size(); ++s) {
    const StepRecord& st = run.steps[s];
    kids[s].resize(st.nodes.size());
    for (size_t v = 1; v < st.nodes.size(); ++v) {
      const int32_t p = st.nodes[v].parent;
      if (p < 0 || size_t(p) >= v) return fail(QStringLiteral("step %1 has a malformed tree").arg(st.step));
      kids[s][size_t(p)].push_back(int32_t(v));  // breadth-first: siblings in rank order
    }
    for (size_t i = 0; i < st.path.size(); ++i) {
      const int64_t g = int64_t(st.first_token) - 1 + int64_t(i);
      if (g >= 0 && g < total) at[size_t(g)] = {int32_t(s), st.path[i]};
    }
  }

  int64_t root = 0;  // generated index of the current step's root (token 0 comes from the prefill)
  while (root + 1 < total) {
    const int64_t room = total - (root + 1);  // tokens this step may still emit
    int32_t u = 0;                            // node of the new tree
    int32_t k = 0;                            // accepted so far
    // Past `room` accepted tokens nothing more reaches the output.
    while (k < room && shape.n_children[size_t(u)] > 0) {
      const PathNode pn = at[size_t(root + k)];
      if (pn.step < 0)
        return fail(QStringLiteral("token %1 lies on no recorded accepted path").arg(root + k));
      const StepRecord& st = run.steps[size_t(pn.step)];
      const int32_t want = st.nodes[size_t(pn.node)].target_argmax;
      if (want < 0) return fail(QStringLiteral("step %1 did not record the target's argmax").arg(st.step));
      const std::vector<int32_t>& rec = kids[size_t(pn.step)][size_t(pn.node)];
      const int32_t w = shape.n_children[size_t(u)];
      // The draft's proposals here: the recorded tree's children, or where the
      // tree drafted fewer (a fully accepted leaf), the run's draft pass.
      std::vector<int32_t> proposals;
      for (int32_t c : rec) proposals.push_back(st.nodes[size_t(c)].token);
      const size_t g = size_t(root + k);
      if (int32_t(proposals.size()) < w && g < run.draft_topk.size() &&
          run.draft_topk[g].size() > proposals.size()) {
        proposals = run.draft_topk[g];
        ++res.draft_pass_positions;
      }
      const int32_t known = std::min<int32_t>(w, int32_t(proposals.size()));
      int32_t hit = -1;
      for (int32_t j = 0; j < known; ++j)
        if (proposals[size_t(j)] == want) hit = j;
      if (hit >= 0) {
        u = shape.first_child[size_t(u)] + hit;
        ++k;
        continue;
      }
      if (w > int32_t(proposals.size()))
        return fail(QStringLiteral("step %1 (after token %2) needs %3 draft proposals where the recorded "
                                   "run made %4")
                        .arg(res.steps.size())
                        .arg(root + k)
                        .arg(w)
                        .arg(proposals.size()));
      break;  // rejected: the target's token is not among the proposals the new tree keeps
    }
    WhatIfStepResult r;
    r.root_index = int32_t(root);
    r.accepted = int32_t(std::min<int64_t>(k, room));
    r.emitted = int32_t(std::min<int64_t>(int64_t(k) + 1, room));
    res.steps.push_back(r);
    root += r.emitted;
  }
  res.exact = true;

  int64_t acc = 0, emitted = 0;
  for (const WhatIfStepResult& s : res.steps) {
    acc += s.accepted;
    emitted += s.emitted;
  }
  if (!res.steps.empty()) {
    res.mean_accepted = double(acc) / double(res.steps.size());
    res.tokens_per_pass = double(emitted) / double(res.steps.size());
  }
  // Mean recorded phases, rescaled to the new tree's depth and size.
  double draft = 0, verify = 0, rest = 0, step_sum = 0;
  for (const StepRecord& s : run.steps) {
    draft += s.draft_us;
    verify += s.verify_us;
    rest += s.accept_us + s.backtrack_us;
    step_sum += s.step_us;
  }
  const double n = double(run.steps.size());
  const int old_depth = run.shape->max_depth();
  if (step_sum > 0 && run.figures.tokens_per_second > 0 && old_depth > 0) {
    const double per_step = draft / n * double(res.depth) / old_depth +
                            verify / n * double(res.nodes) / double(run.shape->size()) + rest / n;
    const double predicted_us = per_step * double(res.steps.size());
    // Scaled from the measured rate: decode time beyond the steps' phases scales along.
    if (predicted_us > 0)
      res.predicted_tokens_per_second = run.figures.tokens_per_second * step_sum / predicted_us;
  }
  return res;
}

BudgetWhatIfResult rescore_budget(const BacktrackWhatIf& bt, BacktrackPolicy policy, int64_t budget) {
  BudgetWhatIfResult r;
  if (!bt.available()) {
    r.reason = QStringLiteral("the run has no target backtracking geometry to recompute");
    return r;
  }
  const int n_layer = bt.run()->target_geometry.n_layer;
  r.available = true;
  r.recorded = what_if_totals(bt.recorded(), n_layer);
  r.what_if = what_if_totals(bt.recompute(policy, budget), n_layer);
  return r;
}

// ---- WhatIfModel ----

WhatIfModel::WhatIfModel(QObject* parent) : QAbstractTableModel(parent) { recompute(); }

void WhatIfModel::setRun(std::shared_ptr<const RunRecord> run) {
  run_ = std::move(run);
  bt_ = BacktrackWhatIf(run_);
  if (run_ && !budget_set_) {
    policy_ = bt_.recorded_policy();
    budget_value_ = bt_.recorded_budget();
  }
  recompute();
}

void WhatIfModel::setTree(const QString& tree) {
  tree_text_ = tree;
  recompute();
}

void WhatIfModel::setBacktrack(BacktrackPolicy policy, int64_t budget) {
  policy_ = policy;
  budget_value_ = budget;
  budget_set_ = true;
  recompute();
}

void WhatIfModel::recompute() {
  tree_ = {};
  budget_ = {};
  tree_ok_ = false;
  needs_rerun_ = false;
  if (!run_) {
    status_ = tr("no run: generate with speculative decoding first");
  } else if (!run_->settings.speculative()) {
    status_ = tr("the current run is target-only: nothing to re-score");
  } else {
    QString tree_problem;
    bool same_tree = false;
    try {
      const TreeShape s = TreeShape::parse((tree_text_.isEmpty() ? run_->settings.tree : tree_text_).toStdString());
      tree_ = rescore_tree(*run_, s);
      tree_ok_ = true;
      // Backtracking what-if holds for the recorded tree only (it replays its nodes).
      same_tree = run_->shape && is_rank_subtree(s, *run_->shape) && is_rank_subtree(*run_->shape, s);
    } catch (const std::exception& e) {
      tree_problem = tr("Tree: %1").arg(QString::fromUtf8(e.what()).replace(QStringLiteral("--tree: "), QString()));
    }
    if (same_tree) budget_ = rescore_budget(bt_, policy_, budget_value_);
    if (!tree_problem.isEmpty()) {
      status_ = tree_problem;
      needs_rerun_ = true;
    } else if (!tree_.exact) {
      status_ = tr("needs a re-run: %1").arg(tree_.reason);
      if (!tree_.steps.empty()) status_ += tr(" (the first %1 steps are exact)").arg(tree_.steps.size());
      needs_rerun_ = true;
    } else {
      status_ = tr("exact from the recorded run: %1 steps").arg(tree_.steps.size());
      if (tree_.draft_pass_positions > 0)
        status_ += tr(" (%1 positions from the draft's recorded proposals)").arg(tree_.draft_pass_positions);
    }
  }
  beginResetModel();
  endResetModel();
  emit statusChanged(status_);
}

double WhatIfModel::recordedValue(Row r) const {
  if (!run_) return kNaN;
  const RunFigures& f = run_->figures;
  switch (r) {
    case MeanAccepted: return f.mean_accepted;
    case TokensPerPass: return f.tokens_per_pass;
    case Steps: return double(f.steps);
    case TokensPerSecond: return f.tokens_per_second;
    case BacktrackPeakBytes: return budget_.available ? double(budget_.recorded.peak_bytes_kept) : kNaN;
    case ReplayedTokens: return budget_.available ? double(budget_.recorded.replayed_tokens) : kNaN;
    case BacktrackTime: return budget_.available ? budget_.recorded.total_us : kNaN;
    default: return kNaN;
  }
}

double WhatIfModel::whatIfValue(Row r) const {
  if (!run_ || !tree_ok_) return kNaN;
  const bool exact = tree_.exact;
  switch (r) {
    case MeanAccepted: return exact ? tree_.mean_accepted : kNaN;
    case TokensPerPass: return exact ? tree_.tokens_per_pass : kNaN;
    case Steps: return exact ? double(tree_.steps.size()) : kNaN;
    case TokensPerSecond: return exact ? tree_.predicted_tokens_per_second : kNaN;
    case BacktrackPeakBytes: return budget_.available ? double(budget_.what_if.peak_bytes_kept) : kNaN;
    case ReplayedTokens: return budget_.available ? double(budget_.what_if.replayed_tokens) : kNaN;
    case BacktrackTime: return budget_.available ? budget_.what_if.total_us : kNaN;
    default: return kNaN;
  }
}

int WhatIfModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : RowCount; }
int WhatIfModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant WhatIfModel::headerData(int section, Qt::Orientation o, int role) const {
  if (o != Qt::Horizontal || role != Qt::DisplayRole) return {};
  static const char* kNames[ColumnCount] = {"Figure", "Recorded", "What-if", "Δ"};
  return section >= 0 && section < ColumnCount ? tr(kNames[section]) : QVariant();
}

QVariant WhatIfModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= RowCount || index.column() >= ColumnCount) return {};
  const Row row = Row(index.row());
  static const char* kFigures[RowCount] = {"Mean accepted", "Tokens per pass", "Steps",
                                           "tok/s (predicted)", "Backtrack peak bytes",
                                           "Replayed tokens", "Backtrack time (µs)"};
  const double rec = recordedValue(row), wi = whatIfValue(row);
  const int decimals = row == Steps || row == BacktrackPeakBytes || row == ReplayedTokens ? 0
                       : row == TokensPerSecond || row == BacktrackTime                ? 1
                                                                                        : 2;
  if (role == Qt::UserRole) {
    switch (index.column()) {
      case RecordedColumn: return rec;
      case WhatIfColumn: return wi;
      case DeltaColumn: return wi - rec;
      default: return {};
    }
  }
  if (role == Qt::TextAlignmentRole)
    return index.column() == FigureColumn ? QVariant(Qt::AlignLeft | Qt::AlignVCenter)
                                          : QVariant(Qt::AlignRight | Qt::AlignVCenter);
  if (role == Qt::ToolTipRole && index.column() == WhatIfColumn && std::isnan(wi)) return status_;
  if (role != Qt::DisplayRole) return {};
  auto text = [&](double v, bool sign) {
    if (std::isnan(v)) return QStringLiteral("–");
    const QString t = QString::number(v, 'f', decimals);
    return sign && v > 0 ? QStringLiteral("+") + t : t;
  };
  switch (index.column()) {
    case FigureColumn: return tr(kFigures[row]);
    case RecordedColumn: return text(rec, false);
    case WhatIfColumn: return std::isnan(wi) && needs_rerun_ && row <= TokensPerSecond ? tr("re-run") : text(wi, false);
    case DeltaColumn: return text(wi - rec, true);
    default: return {};
  }
}

}  // namespace sm::ui
