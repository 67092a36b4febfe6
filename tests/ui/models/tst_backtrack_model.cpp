// SPDX-License-Identifier: Apache-2.0
// Backtracking of a recorded run: the table shows both models' records; the
// what-if recomputation of the target reproduces the engine's recorded bytes
// and replayed tokens for every step of real runs on the shipped pair, agrees
// with core's estimate_target_backtrack, behaves monotonically in the budget,
// and meets its end points (budget 0 = replay, full = snapshot); the time
// model recovers known coefficients and refuses to extrapolate what it never
// saw; a 600-step, 213-node run recomputes in under 10 ms.
// The engine's headers first: Qt's emit / slots macros would clash with them.
#include "timing_budget.h"
#include "tests/ui/run_test_support.h"

#include <QAbstractItemModelTester>
#include <QElapsedTimer>
#include <QtTest>

#include <cmath>

#include "core/spec/token_tree.h"
#include "ui/models/backtrack_model.h"

using namespace sm;
using namespace sm::ui;

namespace {

SpecConfig config(BacktrackPolicy policy, int64_t budget) {
  SpecConfig cfg;
  cfg.tree = TreeShape::parse("2,2,1");
  cfg.backtrack = policy;
  cfg.budget = budget;
  return cfg;
}

TokenTree tree_of(const RunRecord& run, const StepRecord& s) {
  TokenTree t(*run.shape);
  for (size_t v = 0; v < s.nodes.size(); ++v) {
    t.token[v] = s.nodes[v].token;
    t.draft_prob[v] = v == 0 ? 1.0f : s.nodes[v].draft_prob;
  }
  return t;
}

// A synthetic run: `steps` steps of `tree`, n_layer layers, varied draft
// probabilities and accepted paths along rank-0 then rank-1 children.
std::shared_ptr<RunRecord> synthetic_run(const char* tree, int steps, int n_layer) {
  auto run = std::make_shared<RunRecord>();
  run->settings.draft = QStringLiteral("draft");
  run->settings.tree = QString::fromLatin1(tree);
  run->settings.backtrack = QStringLiteral("hybrid");
  run->settings.budget = 1 << 20;
  auto shape = std::make_shared<TreeShape>(TreeShape::parse(tree));
  run->shape = shape;
  run->target_geometry = {n_layer, 49152, 1600, 1536, 12};
  run->draft_geometry = {2, 16384, 800, 512, 4};
  for (int i = 0; i < steps; ++i) {
    StepRecord s;
    s.step = i;
    for (int32_t v = 0; v < shape->size(); ++v) {
      NodeRecord n;
      n.node = v;
      n.parent = shape->parent[v];
      n.depth = shape->depth[v];
      n.token = (v * 7 + i) % 256;
      n.draft_prob = v == 0 ? 1.0f : float(0.9 / (1 + shape->rank[v])) * float(1 + (v + i) % 5) / 5.0f;
      s.nodes.push_back(n);
    }
    s.path.assign(1, 0);
    const int depth = i % (shape->max_depth() + 1);
    for (int d = 0; d < depth; ++d) {
      const int32_t p = s.path.back();
      s.path.push_back(shape->first_child[p] + ((i + d) % 2 == 0 ? 0 : shape->n_children[p] - 1));
    }
    s.accepted = depth;
    s.target_backtrack = {true, QStringLiteral("hybrid"), 100000 + i, i % 3, 0, 10.0 + i % 3};
    s.draft_backtrack = {true, QStringLiteral("hybrid"), 50000, i % 2, 0, 5.0};
    run->steps.push_back(std::move(s));
  }
  return run;
}

}  // namespace

class TestBacktrackModel : public QObject {
  Q_OBJECT

 private:
  std::unique_ptr<run_test::ShippedPair> pair_;
  std::shared_ptr<RunRecord> hybrid_, snapshot_, replay_;
  int64_t budget_ = 0;

  std::shared_ptr<RunRecord> run_of(const QString& name) {
    return name == QLatin1String("hybrid") ? hybrid_ : name == QLatin1String("snapshot") ? snapshot_ : replay_;
  }

 private slots:
  void initTestCase() {
    pair_ = std::make_unique<run_test::ShippedPair>();
    // 3.5 nodes' worth of the target's layer states (4 layers): the root and
    // the likeliest nodes are stored, one node only for two of its layers.
    const int64_t layer = 12 * 32 * 32 * 4;
    budget_ = 14 * layer;
    auto rec = [&](BacktrackPolicy p) {
      auto r = run_test::record(*pair_, config(p, budget_), 40);
      return std::make_shared<RunRecord>(std::move(r.record));
    };
    hybrid_ = rec(BacktrackPolicy::Hybrid);
    snapshot_ = rec(BacktrackPolicy::Snapshot);
    replay_ = rec(BacktrackPolicy::Replay);
    QCOMPARE(hybrid_->target_geometry.layer_state_bytes, layer);
    QVERIFY(hybrid_->steps.size() >= 10);
  }

  void recomputeEqualsTheRecord_data() {
    QTest::addColumn<QString>("policy");
    QTest::newRow("hybrid") << "hybrid";
    QTest::newRow("snapshot") << "snapshot";
    QTest::newRow("replay") << "replay";
  }
  void recomputeEqualsTheRecord() {
    QFETCH(QString, policy);
    const auto run = run_of(policy);
    const BacktrackPolicy p = parse_backtrack_policy(policy.toStdString());
    const std::vector<WhatIfStep> w = recompute(*run, p, budget_);
    QCOMPARE(w.size(), run->steps.size());
    const int L = run->target_geometry.n_layer;
    int64_t replayed = 0, min_state = INT64_MAX, max_state = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      const BacktrackRecord& b = run->steps[i].target_backtrack;
      QVERIFY(b.present);
      QCOMPARE(b.policy, policy);
      QCOMPARE(w[i].bytes_kept(), b.bytes_kept);
      QCOMPARE(replayed_tokens(w[i].replayed_steps, L), b.replayed);
      replayed += b.replayed;
      min_state = std::min(min_state, w[i].state_bytes);
      max_state = std::max(max_state, w[i].state_bytes);
    }
    const BacktrackWhatIf cached(run);
    QVERIFY(cached.available());
    QCOMPARE(cached.recorded_policy(), p);
    QCOMPARE(cached.recorded().size(), w.size());
    for (size_t i = 0; i < w.size(); ++i) QCOMPARE(cached.recorded()[i].bytes_kept(), w[i].bytes_kept());
    const int64_t full = cached.full_budget();
    QCOMPARE(full, int64_t{run->shape->size()} * L * run->target_geometry.layer_state_bytes);
    if (p == BacktrackPolicy::Hybrid) {
      // The case is only a test if the budget stores some states but not all
      // and some steps still replay.
      QVERIFY(min_state > 0);
      QVERIFY(max_state < full);
      QVERIFY(max_state <= budget_);
      QVERIFY(replayed > 0);
    } else if (p == BacktrackPolicy::Snapshot) {
      QCOMPARE(replayed, int64_t{0});
      QCOMPARE(min_state, full);
    } else {
      QCOMPARE(max_state, int64_t{0});
      QVERIFY(replayed > 0);
    }
  }

  // The cached fast path must match core's estimate for any budget.
  void agreesWithCoreEstimate() {
    const BacktrackWhatIf w(hybrid_);
    const LayerStateGeometry& g = hybrid_->target_geometry;
    for (int64_t budget = 0; budget <= w.full_budget() + g.layer_state_bytes; budget += g.layer_state_bytes / 3)
      for (BacktrackPolicy p : {BacktrackPolicy::Hybrid, BacktrackPolicy::Snapshot, BacktrackPolicy::Replay}) {
        const std::vector<WhatIfStep> mine = w.recompute(p, budget);
        for (size_t i = 0; i < hybrid_->steps.size(); ++i) {
          const StepRecord& s = hybrid_->steps[i];
          const TokenTree t = tree_of(*hybrid_, s);
          const BacktrackEstimate e = estimate_target_backtrack(p, budget, t, s.path, g);
          QCOMPARE(mine[i].state_bytes, e.state_bytes);
          QCOMPARE(mine[i].input_bytes, e.input_bytes);
          QCOMPARE(mine[i].replayed_steps, e.replayed_steps);
        }
      }
  }

  void monotoneInTheBudget() {
    const BacktrackWhatIf w(hybrid_);
    const int64_t step = hybrid_->target_geometry.layer_state_bytes / 2;
    std::vector<WhatIfStep> prev = w.recompute(BacktrackPolicy::Hybrid, 0);
    for (int64_t budget = step; budget <= w.full_budget() + step; budget += step) {
      const std::vector<WhatIfStep> cur = w.recompute(BacktrackPolicy::Hybrid, budget);
      for (size_t i = 0; i < cur.size(); ++i) {
        QVERIFY2(cur[i].replayed_steps <= prev[i].replayed_steps, qPrintable(QString::number(budget)));
        QVERIFY(cur[i].state_bytes >= prev[i].state_bytes);
        QVERIFY(cur[i].state_bytes <= budget);
      }
      prev = cur;
    }
  }

  void endPoints_data() {
    QTest::addColumn<QString>("run");
    QTest::newRow("hybrid run") << "hybrid";
    QTest::newRow("replay run") << "replay";
  }
  void endPoints() {
    QFETCH(QString, run);
    const BacktrackWhatIf w(run_of(run));
    auto same = [](const std::vector<WhatIfStep>& a, const std::vector<WhatIfStep>& b) {
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i)
        if (a[i].state_bytes != b[i].state_bytes || a[i].input_bytes != b[i].input_bytes ||
            a[i].replayed_steps != b[i].replayed_steps || a[i].restored_layers != b[i].restored_layers)
          return false;
      return true;
    };
    QVERIFY(same(w.recompute(BacktrackPolicy::Hybrid, 0), w.recompute(BacktrackPolicy::Replay, 0)));
    QVERIFY(same(w.recompute(BacktrackPolicy::Hybrid, w.full_budget()),
                 w.recompute(BacktrackPolicy::Snapshot, 0)));
    QVERIFY(!same(w.recompute(BacktrackPolicy::Hybrid, w.full_budget() - 1),
                  w.recompute(BacktrackPolicy::Snapshot, 0)));
  }

  void totals() {
    std::vector<WhatIfStep> s(3);
    s[0] = {100, 10, 5, 1.0, 1};
    s[1] = {300, 20, 8, 2.0, 2};
    s[2] = {200, 30, 0, 3.0, 4};
    const WhatIfTotals t = what_if_totals(s, 4);
    QCOMPARE(t.peak_state_bytes, int64_t{300});
    QCOMPARE(t.peak_bytes_kept, int64_t{320});
    QCOMPARE(t.replayed_tokens, int64_t{2 + 2 + 0});
    QCOMPARE(t.total_us, 6.0);
    s[1].est_us = std::nan("");
    QVERIFY(std::isnan(what_if_totals(s, 4).total_us));
    QVERIFY(std::isnan(what_if_totals({}, 4).total_us));
  }

  void timeModelFit_data() {
    QTest::addColumn<bool>("vary_replay");
    QTest::addColumn<bool>("vary_copy");
    QTest::newRow("both vary") << true << true;
    QTest::newRow("replay only") << true << false;
    QTest::newRow("copies only") << false << true;
    QTest::newRow("neither") << false << false;
  }
  void timeModelFit() {
    QFETCH(bool, vary_replay);
    QFETCH(bool, vary_copy);
    std::vector<WhatIfStep> x;
    std::vector<double> us;
    for (int i = 0; i < 30; ++i) {
      WhatIfStep s;
      s.replayed_steps = vary_replay ? i % 7 : 3;
      s.restored_layers = vary_copy ? (i * 5) % 4 : 2;
      x.push_back(s);
      us.push_back(5.0 + 2.0 * s.replayed_steps + 0.5 * s.restored_layers);
    }
    us.push_back(std::nan(""));  // an unknown sample is skipped
    x.push_back({});
    const BacktrackTimeModel m = BacktrackTimeModel::fit(x, us);
    QCOMPARE(m.samples, 30);
    QCOMPARE(m.outliers, 0);
    QCOMPARE(m.replay_free, vary_replay);
    QCOMPARE(m.copy_free, vary_copy);
    // Known inputs reproduce the samples exactly.
    for (int i = 0; i < 30; ++i)
      QVERIFY(std::abs(m.estimate(x[size_t(i)].replayed_steps, x[size_t(i)].restored_layers) - us[size_t(i)]) < 1e-9);
    // Outside what was seen: extrapolated along fitted terms, unknown along pinned ones.
    const double far = m.estimate(10, vary_copy ? 1 : 2);
    if (vary_replay) QVERIFY(std::abs(far - (5.0 + 20.0 + 0.5 * (vary_copy ? 1 : 2))) < 1e-9);
    else QVERIFY(std::isnan(far));
    const double copies = m.estimate(vary_replay ? 1 : 3, 7);
    if (vary_copy) QVERIFY(std::abs(copies - (5.0 + 2.0 * (vary_replay ? 1 : 3) + 3.5)) < 1e-9);
    else QVERIFY(std::isnan(copies));
    QVERIFY(std::isnan(BacktrackTimeModel{}.estimate(0, 0)));
  }

  void timeModelNeverNegative() {
    // Time falling with replays is noise: the coefficient is clamped to 0.
    std::vector<WhatIfStep> x(10);
    std::vector<double> us;
    for (int i = 0; i < 10; ++i) {
      x[size_t(i)].replayed_steps = i;
      us.push_back(20.0 - i);
    }
    const BacktrackTimeModel m = BacktrackTimeModel::fit(x, us);
    QCOMPARE(m.per_replay_us, 0.0);
    QVERIFY(std::abs(m.estimate(100, 0) - 15.5) < 1e-9);
  }

  // One preempted step must not skew the fit.
  void timeModelIgnoresOutliers() {
    std::vector<WhatIfStep> x;
    std::vector<double> us;
    for (int i = 0; i < 40; ++i) {
      WhatIfStep s;
      s.replayed_steps = i % 9;
      x.push_back(s);
      us.push_back(12.0 + 3.0 * s.replayed_steps + ((i * 37) % 11 - 5) * 0.1);  // +-0.5 us jitter
    }
    us[17] = 4000.0;
    const BacktrackTimeModel m = BacktrackTimeModel::fit(x, us);
    QCOMPARE(m.outliers, 1);
    QCOMPARE(m.samples, 39);
    QVERIFY2(std::abs(m.per_replay_us - 3.0) < 0.1, qPrintable(QString::number(m.per_replay_us)));
    QVERIFY(std::abs(m.intercept_us - 12.0) < 0.5);
  }

  // A run that never replayed cannot say what replaying costs.
  void realRunTimeEstimates() {
    const BacktrackWhatIf snap(snapshot_);
    QVERIFY(snap.time_model().valid());
    QVERIFY(!snap.time_model().replay_free);
    const std::vector<WhatIfStep> r = snap.recompute(BacktrackPolicy::Replay, 0);
    QVERIFY(std::isnan(what_if_totals(r, 4).total_us));
    bool any_unknown = false;
    for (const WhatIfStep& s : r)
      if (std::isnan(s.est_us)) {
        any_unknown = true;
        QVERIFY(!snap.time_unknown_reason(s).isEmpty());
      }
    QVERIFY(any_unknown);
    // Its own configuration is estimable (the replay cost is not needed): the
    // mean of the steps the fit kept, so it sums to the recorded total when
    // no step was an outlier, and lies within the recorded range anyway.
    const WhatIfTotals own = what_if_totals(snap.recorded(), 4);
    double recorded_us = 0, lo = INFINITY, hi = 0;
    for (const StepRecord& s : snapshot_->steps) {
      recorded_us += s.target_backtrack.us;
      lo = std::min(lo, s.target_backtrack.us);
      hi = std::max(hi, s.target_backtrack.us);
    }
    QVERIFY(std::isfinite(own.total_us));
    const double per_step = own.total_us / double(snapshot_->steps.size());
    QVERIFY(per_step >= lo && per_step <= hi);
    if (snap.time_model().outliers == 0)
      QVERIFY(std::abs(own.total_us - recorded_us) <= 1e-6 * recorded_us + 1e-9);

    const BacktrackWhatIf rep(replay_);
    QVERIFY(rep.time_model().replay_free);
    const std::vector<WhatIfStep> again = rep.recompute(BacktrackPolicy::Replay, 0);
    for (const WhatIfStep& s : again) {
      QVERIFY(std::isfinite(s.est_us));
      QVERIFY(s.est_us >= 0);
    }
  }

  void unavailable() {
    QVERIFY(!BacktrackWhatIf(nullptr).available());
    auto plain = std::make_shared<RunRecord>();
    QVERIFY(!BacktrackWhatIf(plain).available());
    QVERIFY(recompute(*plain, BacktrackPolicy::Hybrid, 100).empty());
    auto no_geometry = synthetic_run("2,2,1", 5, 4);
    no_geometry->target_geometry = {};
    QVERIFY(!BacktrackWhatIf(no_geometry).available());
    // A malformed step (nodes missing) is all zeros, the rest are computed.
    auto broken = synthetic_run("2,2,1", 5, 4);
    broken->steps[2].nodes.resize(3);
    const std::vector<WhatIfStep> w = recompute(*broken, BacktrackPolicy::Snapshot, 0);
    QCOMPARE(w.size(), size_t{5});
    QCOMPARE(w[2].state_bytes, int64_t{0});
    QVERIFY(std::isnan(w[2].est_us));
    QVERIFY(w[1].state_bytes > 0);
  }

  void fastOnALongRun() {
    auto run = synthetic_run("4,4,4,2", 600, 48);
    QCOMPARE(run->shape->size(), 213);
    // Best of three in this thread's CPU time: the machine is shared (ctest
    // -j2 failed this on wall time once), a scheduler hiccup is not the cost.
    long long build_ns = INT64_MAX;
    for (int rep = 0; rep < 3; ++rep) {
      const long long t0 = timing::thread_cpu_ns();
      const BacktrackWhatIf once(run);
      build_ns = std::min(build_ns, timing::thread_cpu_ns() - t0);
    }
    const BacktrackWhatIf w(run);
    QVERIFY(w.available());
    long long best = INT64_MAX;
    for (int rep = 0; rep < 5; ++rep) {
      const long long t0 = timing::thread_cpu_ns();
      const auto r = w.recompute(BacktrackPolicy::Hybrid, w.full_budget() / 3 + rep);
      const WhatIfTotals tot = what_if_totals(r, 48);
      best = std::min(best, timing::thread_cpu_ns() - t0);
      QVERIFY(tot.peak_state_bytes > 0);
    }
    qInfo("build %.2f ms, recompute %.3f ms (thread CPU)", build_ns / 1e6, best / 1e6);
    QVERIFY2(best < timing::budget(10'000'000), qPrintable(QString::number(best / 1e6) + QStringLiteral(" ms")));
    QVERIFY2(build_ns < timing::budget(20'000'000), qPrintable(QString::number(build_ns / 1e6) + QStringLiteral(" ms")));
  }

  void tableModel() {
    BacktrackTableModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(model.rowCount(), 0);
    model.setRun(hybrid_);
    QCOMPARE(model.rowCount(), int(hybrid_->steps.size()));
    QCOMPARE(model.columnCount(), int(BacktrackTableModel::ColumnCount));
    for (int row = 0; row < model.rowCount(); ++row) {
      const StepRecord& s = hybrid_->steps[size_t(row)];
      auto at = [&](int col, int role) { return model.data(model.index(row, col), role); };
      QCOMPARE(at(BacktrackTableModel::StepColumn, Qt::UserRole).toInt(), s.step);
      QCOMPARE(at(BacktrackTableModel::AcceptedColumn, Qt::UserRole).toInt(), s.accepted);
      QCOMPARE(at(BacktrackTableModel::PolicyColumn, Qt::DisplayRole).toString(), QStringLiteral("hybrid"));
      QCOMPARE(at(BacktrackTableModel::TargetBytesColumn, Qt::UserRole).toLongLong(),
               s.target_backtrack.bytes_kept);
      QCOMPARE(at(BacktrackTableModel::TargetReplayedColumn, Qt::UserRole).toInt(), s.target_backtrack.replayed);
      QCOMPARE(at(BacktrackTableModel::TargetUsColumn, Qt::UserRole).toDouble(), s.target_backtrack.us);
      QCOMPARE(at(BacktrackTableModel::DraftBytesColumn, Qt::UserRole).toLongLong(), s.draft_backtrack.bytes_kept);
      QCOMPARE(at(BacktrackTableModel::DraftReplayedColumn, Qt::UserRole).toInt(), s.draft_backtrack.replayed);
      QCOMPARE(at(BacktrackTableModel::DraftUsColumn, Qt::UserRole).toDouble(), s.draft_backtrack.us);
      QVERIFY(at(BacktrackTableModel::TargetBytesColumn, Qt::DisplayRole).toString().endsWith(QLatin1String("B")));
      QVERIFY(at(BacktrackTableModel::TargetReplayedColumn, Qt::DisplayRole).toString().endsWith(QLatin1String(" tok")));
      const QString t = at(BacktrackTableModel::DraftUsColumn, Qt::DisplayRole).toString();
      QVERIFY2(t.endsWith(QStringLiteral("µs")) || t.endsWith(QLatin1String("ms")), qPrintable(t));
    }
    QCOMPARE(model.headerData(BacktrackTableModel::TargetBytesColumn, Qt::Horizontal).toString(),
             QStringLiteral("Target kept"));
    model.setRun(nullptr);
    QCOMPARE(model.rowCount(), 0);
  }

  void tableMissingRecord() {
    auto run = synthetic_run("2,1", 3, 2);
    run->steps[1].draft_backtrack.present = false;
    BacktrackTableModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setRun(run);
    const QModelIndex i = model.index(1, BacktrackTableModel::DraftBytesColumn);
    QCOMPARE(model.data(i).toString(), QStringLiteral("—"));
    QVERIFY(!model.data(i, Qt::UserRole).isValid());
    QCOMPARE(model.data(model.index(1, BacktrackTableModel::TargetBytesColumn), Qt::UserRole).toLongLong(),
             qlonglong(100001));
  }
};

QTEST_MAIN(TestBacktrackModel)
#include "tst_backtrack_model.moc"
