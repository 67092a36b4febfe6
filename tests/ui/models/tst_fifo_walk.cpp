// SPDX-License-Identifier: Apache-2.0
// The FIFO view's walk model: frames replayed from VerifySchedule, the
// figures the README quotes, and the recorded-vs-schedule check.
#include <QAbstractItemModelTester>
#include <QtTest>

#include <algorithm>

#include "core/spec/token_tree.h"
#include "ui/models/fifo_walk.h"

using namespace sm;
using namespace sm::ui;

Q_DECLARE_METATYPE(sm::VerifyOrder)

class TstFifoWalk : public QObject {
  Q_OBJECT

 private:
  static void add_rows() {
    QTest::addColumn<QString>("shape");
    QTest::addColumn<VerifyOrder>("order");
    QTest::addColumn<int>("peak");       // README / worked by hand
    QTest::addColumn<int>("redundant");  // per tile: steps beyond one per node
    QTest::addColumn<int>("loads");
    struct Row { const char* shape; VerifyOrder order; int peak, redundant, loads; };
    const Row rows[] = {
        {"1,1,1,1", VerifyOrder::Fifo, 1, 0, 1},
        {"1,1,1,1", VerifyOrder::Dfs, 1, 0, 1},
        {"1,1,1,1", VerifyOrder::Paths, 1, 0, 1},
        {"2,2,1", VerifyOrder::Fifo, 4, 0, 1},
        {"2,2,1", VerifyOrder::Dfs, 3, 0, 1},
        {"2,2,1", VerifyOrder::Paths, 4, 5, 4},     // 4 paths of 4 nodes over 11 nodes
        {"4,2,2", VerifyOrder::Fifo, 9, 0, 1},
        {"4,2,2", VerifyOrder::Dfs, 4, 0, 1},
        {"4,2,2", VerifyOrder::Paths, 16, 35, 16},  // 16 x 4 steps over 29 nodes
        // leaves [0,0], [0,1], [1,0]: three paths of 3 nodes over 6
        {"[[0],[1],[0,0],[0,1],[1,0]]", VerifyOrder::Fifo, 3, 0, 1},
        {"[[0],[1],[0,0],[0,1],[1,0]]", VerifyOrder::Dfs, 3, 0, 1},
        {"[[0],[1],[0,0],[0,1],[1,0]]", VerifyOrder::Paths, 3, 3, 3},
    };
    for (const Row& r : rows)
      QTest::newRow(QStringLiteral("%1 %2").arg(r.shape, verify_order_name(r.order)).toUtf8())
          << QString::fromLatin1(r.shape) << r.order << r.peak << r.redundant << r.loads;
  }

  static std::vector<FifoRecord> record_of(const VerifySchedule& s, int layers, int tiles) {
    std::vector<FifoRecord> out;
    for (int l = 0; l < layers; ++l)
      for (int t = 0; t < tiles; ++t)
        for (const ScanOp& op : s.ops)
          if (op.kind == ScanOp::Push || op.kind == ScanOp::Pop)
            out.push_back({op.kind == ScanOp::Push, l, t, op.node, op.live, 0.0});
    return out;
  }

 private slots:
  void figures_data() { add_rows(); }
  void figures() {
    QFETCH(QString, shape);
    QFETCH(VerifyOrder, order);
    QFETCH(int, peak);
    QFETCH(int, redundant);
    QFETCH(int, loads);
    const TreeShape t = TreeShape::parse(shape.toStdString());
    const FifoWalk w = FifoWalk::build(t, order);
    QCOMPARE(w.summary.peak_live, peak);
    QCOMPARE(w.summary.redundant, redundant);
    QCOMPARE(w.summary.loads, loads);
    QCOMPARE(w.summary.ops, w.size());
    QCOMPARE(w.summary.nodes, t.size());
    int max_live = 0, steps = 0, loaded = 0;
    for (const FifoFrame& f : w.frames) {
      max_live = std::max(max_live, f.live);
      steps += f.op.kind == ScanOp::Step;
      loaded += f.op.kind == ScanOp::Load;
    }
    QCOMPARE(max_live, peak);
    QCOMPARE(w.peak_until(w.size() - 1), peak);
    QCOMPARE(steps, w.summary.steps);
    QCOMPARE(loaded, loads);
    QCOMPARE(steps - t.size(), redundant);
  }

  void frames_are_consistent_data() { add_rows(); }
  void frames_are_consistent() {
    QFETCH(QString, shape);
    QFETCH(VerifyOrder, order);
    const TreeShape t = TreeShape::parse(shape.toStdString());
    const FifoWalk w = FifoWalk::build(t, order);
    std::vector<int> computed(t.size(), 0);
    std::vector<int32_t> before(w.summary.peak_live, kSlotFree);
    for (int i = 0; i < w.size(); ++i) {
      const FifoFrame& f = w.frames[i];
      QCOMPARE(int(f.held.size()), w.summary.peak_live);
      const int occupied =
          int(std::count_if(f.held.begin(), f.held.end(), [](int32_t v) { return v != kSlotFree; }));
      QCOMPARE(f.live, occupied);
      QCOMPARE(f.op.live, occupied);  // the engine's own count agrees with the replay
      if (f.op.kind == ScanOp::Step) {
        const int32_t v = f.op.node;
        // The slot held the parent's state (the committed one for the root) just before.
        const int32_t parent = t.parent[v] < 0 ? kStateCommitted : t.parent[v];
        QCOMPARE(before[f.op.slot], parent);
        QCOMPARE(f.source_state, parent);
        QCOMPARE(f.source_slot, int(f.op.slot));
        QCOMPARE(f.held[f.op.slot], v);
        QCOMPARE(f.recompute, computed[v] > 0);
        if (computed[v]++ == 0) QCOMPARE(w.first_step[v], i);
        QVERIFY(w.is_live(i, v));
      }
      if (f.op.kind == ScanOp::Free) {
        QCOMPARE(f.freed_state, before[f.op.slot]);
        QVERIFY(f.freed_state != kSlotFree);
        QCOMPARE(f.held[f.op.slot], kSlotFree);
      }
      // Queued slots hold states that are live.
      for (int32_t q : f.queue) QVERIFY(f.held[q] >= 0);
      before = f.held;
    }
    for (int32_t v = 0; v < t.size(); ++v) {
      QVERIFY2(computed[v] >= 1, qPrintable(QStringLiteral("node %1 never computed").arg(v)));
      if (order != VerifyOrder::Paths) QCOMPARE(computed[v], 1);
    }
    // Everything released at the end, the queue empty.
    QCOMPARE(w.frames.back().live, 0);
    QVERIFY(w.frames.back().queue.empty());
  }

  void fifo_queue_is_breadth_first() {
    const TreeShape t = TreeShape::parse("2,2,1");
    const FifoWalk w = FifoWalk::build(t, VerifyOrder::Fifo);
    std::vector<int32_t> popped;
    for (const FifoFrame& f : w.frames)
      if (f.op.kind == ScanOp::Pop) popped.push_back(f.op.node);
    // Inner nodes in breadth-first order: root, depth 1, depth 2.
    QCOMPARE(popped, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6}));
    const FifoWalk d = FifoWalk::build(t, VerifyOrder::Dfs);
    int deepest = 0;
    for (const FifoFrame& f : d.frames) deepest = std::max(deepest, int(f.queue.size()));
    QCOMPARE(deepest, 3);  // root, n1 and n3 wait for their last child together
  }

  void tiling_data() {
    QTest::addColumn<int>("tile");
    QTest::addColumn<int>("tiles");
    QTest::addColumn<qlonglong>("tile_bytes");
    // 16 heads, 4 KiB per head per layer
    QTest::newRow("whole state") << 0 << 1 << qlonglong(65536);
    QTest::newRow("tile >= units") << 32 << 1 << qlonglong(65536);
    QTest::newRow("tile 4") << 4 << 4 << qlonglong(16384);
    QTest::newRow("tile 5 (ragged)") << 5 << 4 << qlonglong(20480);
  }
  void tiling() {
    QFETCH(int, tile);
    QFETCH(int, tiles);
    QFETCH(qlonglong, tile_bytes);
    LayerStateGeometry g;
    g.n_layer = 4;
    g.state_units = 16;
    g.layer_state_bytes = 16 * 4096;
    const FifoTiling ft = FifoTiling::from(g, tile);
    QCOMPARE(ft.tiles, tiles);
    QCOMPARE(ft.tile_bytes, tile_bytes);
    QCOMPARE(ft.layers, 4);
    const FifoWalk w = FifoWalk::build(TreeShape::parse("2,2,1"), VerifyOrder::Fifo, ft);
    QCOMPARE(w.summary.peak_state_bytes, 4 * tile_bytes);
  }

  void unknown_geometry_has_no_bytes() {
    const FifoTiling ft = FifoTiling::from(LayerStateGeometry{}, 4);
    QCOMPARE(ft.tiles, 1);
    QCOMPARE(ft.tile_bytes, 0);
    QCOMPARE(FifoWalk::build(TreeShape::parse("2,2,1"), VerifyOrder::Dfs, ft).summary.peak_state_bytes,
             0);
  }

  void fraction_maps_to_frames() {
    const FifoWalk w = FifoWalk::build(TreeShape::parse("4,2,2"), VerifyOrder::Fifo);
    QCOMPARE(w.frame_at_fraction(0.0), 0);
    QCOMPARE(w.frame_at_fraction(1.0), w.size() - 1);
    QCOMPARE(w.frame_at_fraction(0.5), w.size() / 2 - 1 + (w.size() % 2));
    QVERIFY(FifoWalk{}.frame_at_fraction(0.5) < 0);
  }

  void describe_names_the_source() {
    const TreeShape t = TreeShape::parse("2,2,1");
    const FifoWalk w = FifoWalk::build(t, VerifyOrder::Fifo);
    const auto it = std::find_if(w.frames.begin(), w.frames.end(),
                                 [](const FifoFrame& f) { return f.computed == 3; });
    QVERIFY(it != w.frames.end());
    const QString s = describe_frame(*it, w.order, [](int32_t n) { return n == 1 ? QStringLiteral("God") : QString(); });
    QVERIFY2(s.contains(QStringLiteral("n3")) && s.contains(QStringLiteral("n1 \u201cGod\u201d's state")), qPrintable(s));
  }

  void table_model() {
    const TreeShape t = TreeShape::parse("4,2,2");
    FifoOpsModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(m.rowCount(), 0);
    const FifoWalk fifo = FifoWalk::build(t, VerifyOrder::Fifo);
    std::vector<QString> tokens(t.size());
    for (int i = 0; i < t.size(); ++i) tokens[i] = QStringLiteral("t%1").arg(i);
    m.setWalk(&fifo, tokens);
    QCOMPARE(m.rowCount(), fifo.size());
    QCOMPARE(m.columnCount(), int(FifoOpsModel::ColumnCount));
    QCOMPARE(m.headerData(FifoOpsModel::From, Qt::Horizontal).toString(), QStringLiteral("from"));
    // Row 1 computes the root from the committed state in slot 0.
    QCOMPARE(m.index(0, FifoOpsModel::Op).data().toString(), QStringLiteral("load"));
    QCOMPARE(m.index(1, FifoOpsModel::Op).data().toString(), QStringLiteral("step"));
    QCOMPARE(m.index(1, FifoOpsModel::Node).data().toString(), QStringLiteral("n0 \u201ct0\u201d"));
    QCOMPARE(m.index(1, FifoOpsModel::From).data().toString(), QStringLiteral("s0 \u00b7 committed"));
    QCOMPARE(m.index(1, FifoOpsModel::Index).data().toInt(), 2);
    for (int r = 0; r < m.rowCount(); ++r)
      QCOMPARE(m.index(r, FifoOpsModel::Live).data().toInt(), fifo.frames[r].live);
    const FifoWalk paths = FifoWalk::build(t, VerifyOrder::Paths);
    m.setWalk(&paths);
    QCOMPARE(m.rowCount(), paths.size());
    int again = 0;
    for (int r = 0; r < m.rowCount(); ++r)
      again += m.index(r, FifoOpsModel::Op).data().toString().endsWith(QStringLiteral("(again)"));
    QCOMPARE(again, paths.summary.redundant);
    m.setWalk(nullptr);
    QCOMPARE(m.rowCount(), 0);
  }

  void recorded_walk_agreement_data() {
    QTest::addColumn<QString>("shape");
    QTest::addColumn<VerifyOrder>("order");
    QTest::newRow("2,2,1 fifo") << "2,2,1" << VerifyOrder::Fifo;
    QTest::newRow("4,2,2 fifo") << "4,2,2" << VerifyOrder::Fifo;
    QTest::newRow("4,2,2 dfs") << "4,2,2" << VerifyOrder::Dfs;
  }
  void recorded_walk_agreement() {
    QFETCH(QString, shape);
    QFETCH(VerifyOrder, order);
    const VerifySchedule s = VerifySchedule::build(TreeShape::parse(shape.toStdString()), order);
    std::vector<FifoRecord> rec = record_of(s, 3, 2);
    FifoAgreement a = check_recorded_walk(rec, s);
    QCOMPARE(a.status, FifoAgreement::Matches);
    QCOMPARE(a.groups, 6);
    QVERIFY2(a.message.startsWith(QStringLiteral("recorded walk matches the schedule")), qPrintable(a.message));

    // A live count off by one in layer 0 / tile 0.
    std::vector<FifoRecord> bad = rec;
    bad[2].live += 1;
    a = check_recorded_walk(bad, s);
    QCOMPARE(a.status, FifoAgreement::Differs);
    QVERIFY2(a.message.contains(QStringLiteral("layer 0, tile 0, event 3")), qPrintable(a.message));

    // A pop recorded as a push, in a later walk.
    bad = rec;
    const size_t per = rec.size() / 6;
    bad[per * 5 + 1].push = !bad[per * 5 + 1].push;
    a = check_recorded_walk(bad, s);
    QCOMPARE(a.status, FifoAgreement::Differs);
    QVERIFY2(a.message.contains(QStringLiteral("layer 2, tile 1, event 2")), qPrintable(a.message));

    // A walk cut short.
    bad = rec;
    bad.pop_back();
    a = check_recorded_walk(bad, s);
    QCOMPARE(a.status, FifoAgreement::Differs);
    QVERIFY2(a.message.contains(QStringLiteral("layer 2, tile 1")), qPrintable(a.message));

    // The record of another order does not match.
    const VerifyOrder other = order == VerifyOrder::Fifo ? VerifyOrder::Dfs : VerifyOrder::Fifo;
    const VerifySchedule s2 = VerifySchedule::build(TreeShape::parse(shape.toStdString()), other);
    QCOMPARE(check_recorded_walk(record_of(s2, 1, 1), s).status, FifoAgreement::Differs);
  }

  void no_events() {
    const VerifySchedule s = VerifySchedule::build(TreeShape::parse("2,2,1"), VerifyOrder::Fifo);
    FifoAgreement a = check_recorded_walk({}, s);
    QCOMPARE(a.status, FifoAgreement::NoEvents);
    QVERIFY(a.message.contains(QStringLiteral("--no-fifo-events")));
    const VerifySchedule p = VerifySchedule::build(TreeShape::parse("2,2,1"), VerifyOrder::Paths);
    a = check_recorded_walk({}, p);
    QCOMPARE(a.status, FifoAgreement::NoEvents);
    QVERIFY(!a.message.contains(QStringLiteral("--no-fifo-events")));
    // Events without layer 0 / tile 0.
    a = check_recorded_walk({FifoRecord{true, 1, 0, 0, 1, 0.0}}, s);
    QCOMPARE(a.status, FifoAgreement::Differs);
  }
};

QTEST_MAIN(TstFifoWalk)
#include "tst_fifo_walk.moc"
