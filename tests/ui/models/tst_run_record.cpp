// SPDX-License-Identifier: Apache-2.0
// The run record the views share: built from a real run on the shipped pair,
// it agrees with the engine's own statistics and output; saved as a Chrome or
// HDF5 trace and reopened it is the same record; malformed streams are
// refused with a message naming the problem.
#include <QTemporaryDir>
#include <QtTest>

#include "core/io/error.h"
#include "run_test_support.h"
#include "ui/models/trace_io.h"

using namespace sm;
using namespace sm::ui;

namespace {

SpecConfig config(const char* tree, BacktrackPolicy policy = BacktrackPolicy::Snapshot) {
  SpecConfig cfg;
  cfg.tree = TreeShape::parse(tree);
  cfg.backtrack = policy;
  return cfg;
}

QString error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

}  // namespace

class TestRunRecord : public QObject {
  Q_OBJECT

 private:
  std::unique_ptr<run_test::ShippedPair> pair_;

 private slots:
  void initTestCase() { pair_ = std::make_unique<run_test::ShippedPair>(); }

  void recordAgreesWithTheEngine_data() {
    QTest::addColumn<QString>("tree");
    QTest::addColumn<int>("tokens");
    QTest::newRow("chain") << "1,1,1,1" << 60;
    QTest::newRow("2,2,1") << "2,2,1" << 61;
    QTest::newRow("4,2,2") << "4,2,2" << 47;
  }
  void recordAgreesWithTheEngine() {
    QFETCH(QString, tree);
    QFETCH(int, tokens);
    auto r = run_test::record(*pair_, config(tree.toUtf8().constData()), tokens);
    const RunRecord& run = r.record;
    QCOMPARE(int64_t(run.generated_ids.size()), r.result.gen.stats.generated);
    QCOMPARE(run.figures.steps, r.result.spec.steps);
    QCOMPARE(run.settings.tree, tree);
    QVERIFY(run.shape);
    QCOMPARE(run.shape->size(), TreeShape::parse(tree.toStdString()).size());
    QCOMPARE(run.target_geometry.n_layer, 4);
    QVERIFY(run.target_geometry.layer_state_bytes > 0);
    int64_t accepted = 0, emitted = 0;
    for (const StepRecord& s : run.steps) {
      QCOMPARE(int(s.nodes.size()), run.shape->size());
      QVERIFY(s.emitted >= 1);
      QVERIFY(s.phases_sum_us() <= s.step_us * 1.0001 + 1e-6);
      // The step's output is its accepted path's tokens, then the bonus.
      std::vector<int32_t> out;
      for (size_t i = 1; i < s.path.size(); ++i) {
        const NodeRecord& n = s.nodes[size_t(s.path[i])];
        QCOMPARE(n.verdict, Verdict::Accepted);
        QCOMPARE(n.parent, s.path[i - 1]);
        out.push_back(n.token);
      }
      out.push_back(s.bonus_token);
      for (int i = 0; i < s.emitted; ++i) {
        QCOMPARE(run.generated_ids[size_t(s.first_token + i)], out[size_t(i)]);
        QCOMPARE(run.step_of_token(s.first_token + i), int(&s - run.steps.data()));
      }
      accepted += std::min<int64_t>(int64_t(s.path.size()) - 1, s.emitted);
      emitted += s.emitted;
      for (const NodeRecord& n : s.nodes) {
        QVERIFY(n.draft_prob >= 0 && n.draft_prob <= 1);
        QVERIFY(n.target_prob >= 0 && n.target_prob <= 1);
        QVERIFY(n.target_argmax >= 0);
      }
      QVERIFY(s.target_backtrack.present && s.draft_backtrack.present);
    }
    QCOMPARE(emitted + 1, int64_t(run.generated_ids.size()));
    QCOMPARE(accepted, r.result.spec.accepted);
    QCOMPARE(emitted, r.result.spec.emitted);
    QCOMPARE(run.step_of_token(0), -1);
  }

  // The example: -n 3 --tree 4,2,2 emits 2 tokens from its only step.
  void statisticsCountOnlyEmittedTokens() {
    auto r = run_test::record(*pair_, config("4,2,2"), 3);
    QCOMPARE(r.result.gen.stats.generated, int64_t(3));
    QCOMPARE(r.result.spec.steps, int64_t(1));
    QCOMPARE(r.result.spec.emitted, int64_t(2));
    QVERIFY(r.result.spec.accepted <= 2);
    QCOMPARE(r.result.spec.tokens_per_pass(), 2.0);
    QCOMPARE(r.record.figures.tokens_per_pass, 2.0);
    QCOMPARE(r.record.figures.mean_accepted, r.result.spec.mean_accepted());
  }

  void traceRoundTrip_data() {
    QTest::addColumn<QString>("suffix");
    QTest::newRow("chrome") << "json";
    QTest::newRow("hdf5") << "h5";
  }
  void traceRoundTrip() {
    QFETCH(QString, suffix);
    auto r = run_test::record(*pair_, config("2,2,1", BacktrackPolicy::Hybrid), 40);
    RunRecord run = r.record;
    run.name = "Run 1";
    run.figures.baseline_tokens_per_second = 1234.5;
    QTemporaryDir dir;
    const QString path = dir.filePath("run." + suffix);
    save_trace(run, path);
    const RunRecord back = open_trace(path);
    QCOMPARE(back.name, QString("run." + suffix));
    QCOMPARE(back.settings.describe(), run.settings.describe());
    QCOMPARE(back.settings.prompt, QString("And God said"));
    QCOMPARE(back.generated_ids, run.generated_ids);
    QCOMPARE(back.prompt_ids, run.prompt_ids);
    QCOMPARE(back.figures.steps, run.figures.steps);
    QCOMPARE(back.figures.tokens_per_pass, run.figures.tokens_per_pass);
    QCOMPARE(back.figures.mean_accepted, run.figures.mean_accepted);
    QCOMPARE(back.figures.prefill_us, run.figures.prefill_us);
    QCOMPARE(back.figures.baseline_tokens_per_second, 1234.5);
    QVERIFY(back.tokenizer);  // the target directory still exists
    QCOMPARE(back.steps.size(), run.steps.size());
    for (size_t i = 0; i < run.steps.size(); ++i) {
      const StepRecord &a = run.steps[i], &b = back.steps[i];
      QCOMPARE(b.path, a.path);
      QCOMPARE(b.bonus_token, a.bonus_token);
      QCOMPARE(b.draft_us, a.draft_us);
      QCOMPARE(b.verify_us, a.verify_us);
      QCOMPARE(b.fifo.size(), a.fifo.size());
      QCOMPARE(b.target_backtrack.bytes_kept, a.target_backtrack.bytes_kept);
      for (size_t v = 0; v < a.nodes.size(); ++v) {
        QCOMPARE(b.nodes[v].token, a.nodes[v].token);
        QCOMPARE(b.nodes[v].draft_prob, a.nodes[v].draft_prob);
        QCOMPARE(b.nodes[v].target_prob, a.nodes[v].target_prob);
        QCOMPARE(b.nodes[v].verdict, a.nodes[v].verdict);
        QCOMPARE(b.nodes[v].reason, a.nodes[v].reason);
      }
    }
    // Saved again from the reopened record: the same file content comes back.
    const QString again = dir.filePath("again." + suffix);
    save_trace(back, again);
    QCOMPARE(open_trace(again).generated_ids, run.generated_ids);
  }

  void badFilesAreRefusedByName() {
    QTemporaryDir dir;
    const QString txt = dir.filePath("run.txt");
    QVERIFY(error_of([&] { open_trace(txt); }).contains("must end in .json"));
    const QString missing = dir.filePath("missing.json");
    QVERIFY(error_of([&] { open_trace(missing); }).contains("missing.json"));
    QFile f(dir.filePath("junk.h5"));
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("not hdf5");
    f.close();
    QVERIFY(error_of([&] { open_trace(f.fileName()); }).contains("junk.h5"));
    RunRecord empty;
    QVERIFY(!error_of([&] { save_trace(empty, dir.filePath("no/such/dir/x.json")); }).isEmpty());
  }

  void malformedStreamsAreRefused() {
    auto ev = [](int step, EventPayload p) {
      Event e;
      e.step = step;
      e.payload = std::move(p);
      return e;
    };
    StepSummary sum;
    sum.emitted = 1;
    // Node 2 drafted without node 1.
    QVERIFY(error_of([&] {
              build_run_record({ev(0, NodeDrafted{0, -1, 0, 5, 1}), ev(0, NodeDrafted{2, 0, 1, 6, 0.5f}),
                                ev(0, sum)},
                               {});
            }).contains("node 1 is missing"));
    // A parent after its child.
    QVERIFY(error_of([&] {
              build_run_record({ev(0, NodeDrafted{0, -1, 0, 5, 1}), ev(0, NodeDrafted{1, 3, 1, 6, 0.5f}),
                                ev(0, sum)},
                               {});
            }).contains("invalid parent"));
    QVERIFY(error_of([&] { build_run_record({ev(0, AcceptDecision{0, 1, true, ""})}, {}); })
                .contains("out of range"));
    QVERIFY(error_of([&] { build_run_record({ev(-3, sum)}, {}); }).contains("negative step"));
    QVERIFY(error_of([&] { build_run_record({}, {{"generated_ids", "1,x"}}); }).contains("generated_ids"));
  }
};

QTEST_MAIN(TestRunRecord)
#include "tst_run_record.moc"
