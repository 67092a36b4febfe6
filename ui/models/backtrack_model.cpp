// SPDX-License-Identifier: Apache-2.0
#include "ui/models/backtrack_model.h"

#include <algorithm>
#include <cmath>

#include "core/spec/token_tree.h"
#include "ui/generation_types.h"

namespace sm::ui {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

QString time_text(double us) {
  if (!std::isfinite(us)) return QStringLiteral("n/a");
  if (us >= 1000.0) return QString::number(us / 1000.0, 'f', 2) + QStringLiteral(" ms");
  return QString::number(us, 'f', us < 10 ? 2 : 1) + QStringLiteral(" µs");
}

bool parse_policy(const QString& text, BacktrackPolicy& out) {
  if (text == QLatin1String("snapshot")) out = BacktrackPolicy::Snapshot;
  else if (text == QLatin1String("replay")) out = BacktrackPolicy::Replay;
  else if (text == QLatin1String("hybrid")) out = BacktrackPolicy::Hybrid;
  else return false;
  return true;
}

}  // namespace

int32_t replayed_tokens(int32_t replayed_steps, int n_layer) {
  return n_layer > 0 ? (replayed_steps + n_layer - 1) / n_layer : 0;
}

WhatIfTotals what_if_totals(const std::vector<WhatIfStep>& steps, int n_layer) {
  WhatIfTotals t;
  t.total_us = steps.empty() ? kNaN : 0.0;
  for (const WhatIfStep& s : steps) {
    t.peak_state_bytes = std::max(t.peak_state_bytes, s.state_bytes);
    t.peak_bytes_kept = std::max(t.peak_bytes_kept, s.bytes_kept());
    t.replayed_tokens += replayed_tokens(s.replayed_steps, n_layer);
    t.total_us += s.est_us;  // NaN propagates: one unknown step makes the total unknown
  }
  return t;
}

// ---- time model ----------------------------------------------------------

double BacktrackTimeModel::estimate(int32_t replayed_steps, int32_t restored_layers) const {
  if (samples == 0) return kNaN;
  if (!replay_free && replayed_steps != pinned_replay) return kNaN;
  if (!copy_free && restored_layers != pinned_copy) return kNaN;
  const double us = intercept_us + per_replay_us * replayed_steps + per_copy_us * restored_layers;
  return std::max(0.0, us);
}

namespace {

// Least squares on the samples with use[i] set (see the header for the model).
BacktrackTimeModel fit_once(const std::vector<WhatIfStep>& x, const std::vector<double>& us,
                            const std::vector<uint8_t>& use) {
  BacktrackTimeModel m;
  double n = 0, mr = 0, mk = 0, my = 0;
  for (size_t i = 0; i < use.size(); ++i) {
    if (!use[i]) continue;
    if (n == 0) {
      m.pinned_replay = x[i].replayed_steps;
      m.pinned_copy = x[i].restored_layers;
    }
    m.replay_free |= x[i].replayed_steps != m.pinned_replay;
    m.copy_free |= x[i].restored_layers != m.pinned_copy;
    n += 1;
    mr += x[i].replayed_steps;
    mk += x[i].restored_layers;
    my += us[i];
  }
  m.samples = static_cast<int>(n);
  if (n == 0) return m;
  mr /= n, mk /= n, my /= n;
  // Centred sums: a pinned regressor centres to zero and drops out.
  double srr = 0, skk = 0, srk = 0, sry = 0, sky = 0, syy = 0;
  for (size_t i = 0; i < use.size(); ++i) {
    if (!use[i]) continue;
    const double r = x[i].replayed_steps - mr, k = x[i].restored_layers - mk, y = us[i] - my;
    srr += r * r, skk += k * k, srk += r * k, sry += r * y, sky += k * y, syy += y * y;
  }
  // Non-negative least squares over the (at most four) subsets of free
  // regressors: the feasible subset with the smallest residual wins.
  double best_sse = syy, best_b = 0, best_c = 0;
  auto consider = [&](double b, double c) {
    if (b < 0 || c < 0) return;
    const double sse = syy - 2 * (b * sry + c * sky) + b * b * srr + c * c * skk + 2 * b * c * srk;
    if (sse < best_sse) best_sse = sse, best_b = b, best_c = c;
  };
  if (m.replay_free) consider(sry / srr, 0);
  if (m.copy_free) consider(0, sky / skk);
  const double det = srr * skk - srk * srk;
  if (m.replay_free && m.copy_free && det > 1e-9 * srr * skk)
    consider((sry * skk - sky * srk) / det, (sky * srr - sry * srk) / det);
  m.per_replay_us = best_b;
  m.per_copy_us = best_c;
  m.intercept_us = my - best_b * mr - best_c * mk;
  m.r2 = syy > 0 ? 1.0 - std::max(0.0, best_sse) / syy : kNaN;
  return m;
}

double median(std::vector<double> v) {
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + ptrdiff_t(mid), v.end());
  return v[mid];
}

}  // namespace

BacktrackTimeModel BacktrackTimeModel::fit(const std::vector<WhatIfStep>& x,
                                           const std::vector<double>& us) {
  const size_t n = std::min(x.size(), us.size());
  std::vector<uint8_t> use(n);
  int finite = 0;
  for (size_t i = 0; i < n; ++i) finite += use[i] = std::isfinite(us[i]);
  BacktrackTimeModel m = fit_once(x, us, use);
  // A preempted step can take 100x the usual time: drop samples whose
  // residual is far outside the rest (5 robust sigmas, by the median
  // absolute deviation) and refit, a few rounds at most.
  for (int round = 0; round < 3 && m.samples > 2; ++round) {
    std::vector<size_t> idx;
    std::vector<double> res, dev;
    for (size_t i = 0; i < n; ++i)
      if (use[i]) {
        idx.push_back(i);
        res.push_back(us[i] - m.estimate(x[i].replayed_steps, x[i].restored_layers));
      }
    const double med = median(res);
    for (double r : res) dev.push_back(std::abs(r - med));
    const double limit = std::max(5.0 * 1.4826 * median(dev), 1e-6 * (std::abs(m.intercept_us) + 1.0));
    bool changed = false;
    for (size_t j = 0; j < idx.size(); ++j)
      if (dev[j] > limit) use[idx[j]] = 0, changed = true;
    if (!changed) break;
    m = fit_once(x, us, use);
  }
  m.outliers = finite - m.samples;
  return m;
}

// ---- what-if ---------------------------------------------------------------

BacktrackWhatIf::BacktrackWhatIf(std::shared_ptr<const RunRecord> run) : run_(std::move(run)) {
  if (!run_ || !run_->settings.speculative() || run_->steps.empty() || !run_->shape) return;
  g_ = run_->target_geometry;
  if (g_.n_layer <= 0 || g_.layer_state_bytes <= 0) return;
  const TreeShape& shape = *run_->shape;
  n_nodes_ = shape.size();
  pos_.resize(run_->steps.size());
  TokenTree tree(shape);
  std::vector<int32_t> order;
  for (size_t i = 0; i < run_->steps.size(); ++i) {
    const StepRecord& s = run_->steps[i];
    if (static_cast<int32_t>(s.nodes.size()) != n_nodes_ || s.path.empty()) continue;
    bool ok = true;
    for (int32_t v = 0; v < n_nodes_; ++v) {
      tree.token[v] = s.nodes[v].token;
      tree.draft_prob[v] = v == 0 ? 1.0f : s.nodes[v].draft_prob;
    }
    for (int32_t v : s.path) ok &= v >= 0 && v < n_nodes_;
    if (!ok) continue;
    snapshot_priority(tree, order);
    std::vector<int32_t>& pos = pos_[i];
    pos.resize(n_nodes_);
    for (int32_t j = 0; j < n_nodes_; ++j) pos[order[j]] = j;
  }
  available_ = true;

  recorded_budget_ = run_->settings.budget;
  if (!parse_policy(run_->settings.backtrack, recorded_policy_))
    parse_policy(run_->steps.front().target_backtrack.policy, recorded_policy_);
  recorded_ = recompute(recorded_policy_, recorded_budget_);
  std::vector<double> us(run_->steps.size(), kNaN);
  for (size_t i = 0; i < us.size(); ++i) {
    const BacktrackRecord& b = run_->steps[i].target_backtrack;
    const WhatIfStep& w = recorded_[i];
    // Only steps whose recorded cost the recomputation reproduces train the model.
    if (b.present && !pos_[i].empty() && b.bytes_kept == w.bytes_kept() &&
        b.replayed == replayed_tokens(w.replayed_steps, g_.n_layer))
      us[i] = b.us;
  }
  time_ = BacktrackTimeModel::fit(recorded_, us);
  for (size_t i = 0; i < recorded_.size(); ++i)
    if (!pos_[i].empty())
      recorded_[i].est_us = time_.estimate(recorded_[i].replayed_steps, recorded_[i].restored_layers);
}

int64_t BacktrackWhatIf::full_budget() const {
  return int64_t{n_nodes_} * g_.n_layer * g_.layer_state_bytes;
}

// Mirrors plan_target_snapshots + estimate_target_backtrack (the tests check
// both against the engine's records and against estimate_target_backtrack):
// the stored (node, layer) pairs are the first `blocks` of priority order,
// node-major, so layer l of a node at priority position p is stored iff
// p * n_layer + l < blocks.
WhatIfStep BacktrackWhatIf::step_cost(size_t i, BacktrackPolicy policy, int64_t blocks) const {
  WhatIfStep w;
  const std::vector<int32_t>& pos = pos_[i];
  if (pos.empty()) return w;
  const int L = g_.n_layer;
  const int64_t cells = int64_t{n_nodes_} * L;
  w.state_bytes = blocks * g_.layer_state_bytes;
  w.input_bytes = (cells - blocks) * g_.replay_input_bytes + cells * g_.conv_row_bytes;
  const std::vector<int32_t>& path = run_->steps[i].path;
  const int32_t len = static_cast<int32_t>(path.size());
  for (int l = 0; l < L; ++l) {
    int32_t start = 0;
    if (policy == BacktrackPolicy::Snapshot) {
      start = len;
    } else if (blocks > 0) {
      for (int32_t j = len - 1; j >= 0; --j)
        if (int64_t{pos[path[j]]} * L + l < blocks) {
          start = j + 1;
          break;
        }
    }
    w.replayed_steps += len - start;
    w.restored_layers += start > 0;
  }
  w.est_us = time_.estimate(w.replayed_steps, w.restored_layers);
  return w;
}

std::vector<WhatIfStep> BacktrackWhatIf::recompute(BacktrackPolicy policy, int64_t budget) const {
  std::vector<WhatIfStep> out;
  if (!available_) return out;
  const int64_t cells = int64_t{n_nodes_} * g_.n_layer;
  int64_t blocks = 0;
  if (policy == BacktrackPolicy::Snapshot) blocks = cells;
  else if (policy == BacktrackPolicy::Hybrid && budget > 0)
    blocks = std::min(cells, budget / g_.layer_state_bytes);
  out.reserve(pos_.size());
  for (size_t i = 0; i < pos_.size(); ++i) out.push_back(step_cost(i, policy, blocks));
  return out;
}

QString BacktrackWhatIf::time_unknown_reason(const WhatIfStep& s) const {
  if (!time_.valid()) return QObject::tr("no recorded target backtrack times to fit");
  if (!time_.replay_free && s.replayed_steps != time_.pinned_replay)
    return time_.pinned_replay == 0
               ? QObject::tr("the run never replayed, so the replay cost is unknown")
               : QObject::tr("the run always replayed %1 steps, so the replay cost is unknown")
                     .arg(time_.pinned_replay);
  if (!time_.copy_free && s.restored_layers != time_.pinned_copy)
    return time_.pinned_copy == 0
               ? QObject::tr("the run never restored a stored state, so the copy cost is unknown")
               : QObject::tr("the run always restored %1 layers, so the copy cost is unknown")
                     .arg(time_.pinned_copy);
  return {};
}

std::vector<WhatIfStep> recompute(const RunRecord& run, BacktrackPolicy policy, int64_t budget) {
  // Shares the record without owning it: the what-if lives only for this call.
  const BacktrackWhatIf w(std::shared_ptr<const RunRecord>(&run, [](const RunRecord*) {}));
  return w.recompute(policy, budget);
}

// ---- table -------------------------------------------------------------------

BacktrackTableModel::BacktrackTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void BacktrackTableModel::setRun(std::shared_ptr<const RunRecord> run) {
  beginResetModel();
  run_ = std::move(run);
  endResetModel();
}

int BacktrackTableModel::rowCount(const QModelIndex& parent) const {
  if (parent.isValid() || !run_) return 0;
  return static_cast<int>(run_->steps.size());
}

int BacktrackTableModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QVariant BacktrackTableModel::data(const QModelIndex& index, int role) const {
  if (!run_ || !index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount)
    return {};
  if (role != Qt::DisplayRole && role != Qt::UserRole && role != Qt::ToolTipRole &&
      role != Qt::TextAlignmentRole)
    return {};
  const StepRecord& s = run_->steps[size_t(index.row())];
  const int col = index.column();
  if (role == Qt::TextAlignmentRole)
    return col == PolicyColumn ? QVariant(int(Qt::AlignLeft | Qt::AlignVCenter))
                               : QVariant(int(Qt::AlignRight | Qt::AlignVCenter));
  const bool target = col >= TargetBytesColumn && col <= TargetUsColumn;
  const BacktrackRecord& b = target ? s.target_backtrack : s.draft_backtrack;
  const QString who = target ? tr("Target") : tr("Draft");
  const bool per_model = col >= TargetBytesColumn;
  if (per_model && !b.present) {
    if (role == Qt::DisplayRole) return QStringLiteral("—");
    if (role == Qt::ToolTipRole) return tr("%1: no backtrack recorded for step %2").arg(who).arg(s.step);
    return {};
  }
  switch (col) {
    case StepColumn:
      if (role == Qt::ToolTipRole) return tr("Speculative step %1").arg(s.step);
      return role == Qt::UserRole ? QVariant(s.step) : QVariant(QString::number(s.step));
    case AcceptedColumn:
      if (role == Qt::ToolTipRole) return tr("%1 draft tokens accepted").arg(s.accepted);
      return role == Qt::UserRole ? QVariant(s.accepted) : QVariant(QString::number(s.accepted));
    case PolicyColumn: {
      QString p = s.target_backtrack.present ? s.target_backtrack.policy : s.draft_backtrack.policy;
      if (p.isEmpty()) p = run_->settings.backtrack;
      if (role == Qt::ToolTipRole) return tr("Backtracking policy: %1").arg(p);
      return p;
    }
    case TargetBytesColumn:
    case DraftBytesColumn:
      if (role == Qt::UserRole) return QVariant(qlonglong(b.bytes_kept));
      if (role == Qt::ToolTipRole)
        return tr("%1 kept %2 (stored states + replay inputs)").arg(who, format_bytes(uint64_t(b.bytes_kept)));
      return format_bytes(uint64_t(std::max<int64_t>(0, b.bytes_kept)));
    case TargetReplayedColumn:
    case DraftReplayedColumn:
      if (role == Qt::UserRole) return QVariant(b.replayed);
      if (role == Qt::ToolTipRole) return tr("%1 recomputed %2 tokens").arg(who).arg(b.replayed);
      return tr("%1 tok").arg(b.replayed);
    case TargetUsColumn:
    case DraftUsColumn:
      if (role == Qt::UserRole) return QVariant(b.us);
      if (role == Qt::ToolTipRole) return tr("%1 backtracking took %2").arg(who, time_text(b.us));
      return time_text(b.us);
    default:
      return {};
  }
}

QVariant BacktrackTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount) return {};
  if (role == Qt::DisplayRole) {
    static const char* names[ColumnCount] = {
        QT_TR_NOOP("Step"),          QT_TR_NOOP("Accepted"),     QT_TR_NOOP("Policy"),
        QT_TR_NOOP("Target kept"),   QT_TR_NOOP("Target replayed"), QT_TR_NOOP("Target time"),
        QT_TR_NOOP("Draft kept"),    QT_TR_NOOP("Draft replayed"),  QT_TR_NOOP("Draft time")};
    return tr(names[section]);
  }
  if (role == Qt::ToolTipRole) {
    if (section == TargetBytesColumn || section == DraftBytesColumn)
      return tr("Bytes kept for backtracking: stored node states + replay inputs");
    if (section == TargetReplayedColumn || section == DraftReplayedColumn)
      return tr("Tokens recomputed: replayed (node, layer) scan steps / layers, rounded up");
  }
  return {};
}

}  // namespace sm::ui
