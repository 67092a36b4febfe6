// SPDX-License-Identifier: Apache-2.0
// What-if re-scoring against real re-runs on the shipped pair: a greedy run
// with tree 2,2,1 re-scored for its subtrees must give exactly what running
// those trees gives (steps, accepted tokens per step, mean accepted).
#include "run_test_support.h"

#include <QAbstractItemModelTester>
#include <QtTest>

#include <cmath>

#include "ui/models/what_if.h"
#include "ui/workers/draft_proposals.h"

using namespace sm;
using namespace sm::ui;

namespace {

SpecConfig tree_config(const std::string& tree) {
  SpecConfig c;
  c.tree = TreeShape::parse(tree);
  return c;
}

// Accepted tokens per step as the record counts them (cut at the output's end).
std::vector<int32_t> kept_accepted(const RunRecord& r) {
  std::vector<int32_t> v;
  for (const StepRecord& s : r.steps) v.push_back(std::min(s.accepted, s.emitted));
  return v;
}

}  // namespace

class TestWhatIf : public QObject {
  Q_OBJECT

  std::unique_ptr<run_test::ShippedPair> pair_;
  std::shared_ptr<RunRecord> recorded_;  // tree 2,2,1, greedy, with the draft's proposals
  std::shared_ptr<RunRecord> bare_;      // the same without them (an old trace)

 private slots:
  void initTestCase() {
    pair_ = std::make_unique<run_test::ShippedPair>();
    recorded_ = std::make_shared<RunRecord>(run_test::record(*pair_, tree_config("2,2,1"), 100).record);
    QVERIFY(recorded_->steps.size() > 10);
    bare_ = std::make_shared<RunRecord>(*recorded_);
    // As the Studio's worker records it: the draft's proposals along the output.
    const std::vector<int32_t> prompt = pair_->tok->encode("And God said");
    recorded_->draft_topk = draft_proposals(*pair_->draft, prompt, recorded_->generated_ids, 2);
    QCOMPARE(recorded_->draft_topk.size(), recorded_->generated_ids.size());
    // They agree with what the trees drafted: every recorded accepted-path
    // node's children are the first ranks of its row.
    for (const StepRecord& st : recorded_->steps)
      for (size_t i = 0; i + 1 < st.path.size(); ++i) {
        std::vector<int32_t> kids;
        for (const NodeRecord& n : st.nodes)
          if (n.parent == st.path[i]) kids.push_back(n.token);
        const auto& row = recorded_->draft_topk[size_t(st.first_token - 1) + i];
        QCOMPARE(std::vector<int32_t>(row.begin(), row.begin() + kids.size()), kids);
      }
  }

  void subtreeRanks() {
    const TreeShape big = TreeShape::parse("2,2,1");
    QVERIFY(is_rank_subtree(TreeShape::parse("1,1,1"), big));
    QVERIFY(is_rank_subtree(TreeShape::parse("2,1"), big));
    QVERIFY(is_rank_subtree(TreeShape::parse("[[0],[1],[1,0]]"), big));
    QVERIFY(!is_rank_subtree(TreeShape::parse("3"), big));
    QVERIFY(!is_rank_subtree(TreeShape::parse("1,1,1,1"), big));
    QVERIFY(!is_rank_subtree(TreeShape::parse("2,2,2"), big));
  }

  // The recorded tree re-scored is the recorded run.
  void sameTreeReproducesTheRecord() {
    const TreeWhatIfResult w = rescore_tree(*recorded_, TreeShape::parse("2,2,1"));
    QVERIFY2(w.exact, qPrintable(w.reason));
    QCOMPARE(w.steps.size(), recorded_->steps.size());
    const std::vector<int32_t> want = kept_accepted(*recorded_);
    for (size_t i = 0; i < w.steps.size(); ++i) QCOMPARE(w.steps[i].accepted, want[i]);
    QCOMPARE(w.mean_accepted, recorded_->figures.mean_accepted);
    QCOMPARE(w.tokens_per_pass, recorded_->figures.tokens_per_pass);
  }

  void subtreeEqualsRealRerun_data() {
    QTest::addColumn<QString>("tree");
    QTest::newRow("1,1,1") << QStringLiteral("1,1,1");
    QTest::newRow("2,1") << QStringLiteral("2,1");
    QTest::newRow("1") << QStringLiteral("1");
    QTest::newRow("2,2") << QStringLiteral("2,2");
  }
  void subtreeEqualsRealRerun() {
    QFETCH(QString, tree);
    const std::string t = tree.toStdString();
    const TreeWhatIfResult w = rescore_tree(*recorded_, TreeShape::parse(t));
    const RunRecord real = run_test::record(*pair_, tree_config(t), 100).record;
    QCOMPARE(real.generated_ids, recorded_->generated_ids);  // greedy: the same text
    // From the trees alone (an old trace without the draft's proposals) the
    // replay stops where no tree drafted; the steps before are exact.
    const TreeWhatIfResult bare = rescore_tree(*bare_, TreeShape::parse(t));
    QVERIFY(bare.steps.size() <= real.steps.size());
    for (size_t i = 0; i < bare.steps.size(); ++i) QCOMPARE(bare.steps[i].accepted, kept_accepted(real)[i]);
    if (!bare.exact) QVERIFY2(bare.reason.contains(QStringLiteral("draft proposals")), qPrintable(bare.reason));
    const std::vector<int32_t> want = kept_accepted(real);
    for (size_t i = 0; i < w.steps.size(); ++i) QCOMPARE(w.steps[i].accepted, want[i]);
    QVERIFY2(w.exact, qPrintable(w.reason));
    QCOMPARE(w.steps.size(), want.size());
    QCOMPARE(int64_t(w.steps.size()), real.figures.steps);
    QCOMPARE(w.mean_accepted, real.figures.mean_accepted);
    QCOMPARE(w.tokens_per_pass, real.figures.tokens_per_pass);
    QVERIFY(std::isfinite(w.predicted_tokens_per_second) && w.predicted_tokens_per_second > 0);
  }

  void nonSubtreeNeedsRerun() {
    for (const char* t : {"3", "2,2,2", "1,1,1,1"}) {
      const TreeWhatIfResult w = rescore_tree(*recorded_, TreeShape::parse(t));
      QVERIFY2(!w.exact, t);
      QVERIFY(w.reason.contains(QStringLiteral("not a subtree")));
    }
  }

  void sampledRunNeedsRerun() {
    SamplingParams sp;
    sp.temperature = 0.8f;
    sp.seed = 7;
    const RunRecord sampled = run_test::record(*pair_, tree_config("2,2,1"), 30, "And God said", sp).record;
    const TreeWhatIfResult w = rescore_tree(sampled, TreeShape::parse("1,1,1"));
    QVERIFY(!w.exact);
    QVERIFY(w.reason.contains(QStringLiteral("sampled")));
  }

  void modelFiguresAndStatus() {
    WhatIfModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QVERIFY(m.status().contains(QStringLiteral("no run")));
    m.setRun(recorded_);
    m.setTree(QStringLiteral("2,1"));
    QVERIFY2(!m.needsRerun(), qPrintable(m.status()));
    const double wi = m.whatIfValue(WhatIfModel::MeanAccepted);
    QCOMPARE(m.data(m.index(WhatIfModel::MeanAccepted, WhatIfModel::WhatIfColumn), Qt::UserRole).toDouble(), wi);
    QVERIFY(wi <= m.recordedValue(WhatIfModel::MeanAccepted));  // a subtree never accepts more per step here
    m.setTree(QStringLiteral("3,3"));
    QVERIFY(m.needsRerun());
    QVERIFY(m.status().startsWith(QStringLiteral("needs a re-run")));
    QCOMPARE(m.data(m.index(WhatIfModel::MeanAccepted, WhatIfModel::WhatIfColumn)).toString(), QStringLiteral("re-run"));
    m.setTree(QStringLiteral("2,x"));
    QVERIFY(m.status().startsWith(QStringLiteral("Tree:")));
  }

  // Budget what-if: the recorded policy gives the recorded totals; a smaller
  // hybrid budget keeps fewer bytes.
  void budgetRescoring() {
    WhatIfModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    m.setRun(recorded_);
    m.setTree(QStringLiteral("2,2,1"));
    QVERIFY(m.budgetResult().available);
    QCOMPARE(m.whatIfValue(WhatIfModel::BacktrackPeakBytes), m.recordedValue(WhatIfModel::BacktrackPeakBytes));
    const double snapshot_bytes = m.whatIfValue(WhatIfModel::BacktrackPeakBytes);
    m.setBacktrack(BacktrackPolicy::Replay, 0);
    QVERIFY(m.whatIfValue(WhatIfModel::BacktrackPeakBytes) < snapshot_bytes);
    QVERIFY(m.whatIfValue(WhatIfModel::ReplayedTokens) > 0);
  }
};

QTEST_GUILESS_MAIN(TestWhatIf)
#include "tst_what_if.moc"
