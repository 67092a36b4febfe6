// SPDX-License-Identifier: Apache-2.0
// The tree layout against its promises, shape by shape: no overlaps, parents
// centred over their children, one row per depth, leaves on consecutive
// slots, one edge per parent-child pair, hit() finding boxes and missing
// gaps, and the bonus box one row under the last accepted node.
#include <QtTest>

#include <algorithm>
#include <functional>
#include <set>

#include "core/spec/token_tree.h"
#include "ui/models/tree_layout.h"

using sm::TreeShape;
using sm::ui::NodeRecord;
using sm::ui::TreeLayout;

namespace {

constexpr double kW = 80, kH = 40, kHGap = 10, kVGap = 30;

std::vector<NodeRecord> nodes_of(const TreeShape& s) {
  std::vector<NodeRecord> out(s.size());
  for (int i = 0; i < s.size(); ++i) {
    out[i].node = i;
    out[i].parent = s.parent[i];
    out[i].depth = s.depth[i];
    out[i].token = 100 + i;
  }
  return out;
}

// The path that takes child rank `ranks[k]` at depth k.
std::vector<int32_t> path_of(const TreeShape& s, const QList<int>& ranks) {
  std::vector<int32_t> path{0};
  for (int r : ranks) {
    const int cur = path.back();
    if (r >= s.n_children[cur]) qFatal("bad test row: rank %d at node %d", r, cur);
    path.push_back(s.first_child[cur] + r);
  }
  return path;
}

TreeShape shape_of(const QString& spec) {
  if (spec.isEmpty()) {  // a tree of the root alone: no shape text parses to it
    TreeShape s;
    s.parent = {-1};
    s.rank = {0};
    s.depth = {0};
    s.first_child = {1};
    s.n_children = {0};
    return s;
  }
  return TreeShape::parse(spec.toStdString());
}

}  // namespace

class TstTreeLayout : public QObject {
  Q_OBJECT

 private slots:
  void geometry_data();
  void geometry();
  void emptyTree();
  void malformedParentStillDraws();
};

void TstTreeLayout::geometry_data() {
  QTest::addColumn<QString>("spec");
  QTest::addColumn<QList<int>>("ranks");  // accepted path as child ranks from the root
  QTest::addColumn<bool>("bonus");

  QTest::newRow("chain 1,1,1,1, all accepted") << "1,1,1,1" << QList<int>{0, 0, 0, 0} << true;
  QTest::newRow("chain, none accepted") << "1,1,1,1" << QList<int>{} << true;
  QTest::newRow("2,2,1 to a leaf") << "2,2,1" << QList<int>{0, 0, 0} << true;
  QTest::newRow("2,2,1 stopping inside") << "2,2,1" << QList<int>{1} << true;
  QTest::newRow("4,2,2 without bonus") << "4,2,2" << QList<int>{2, 1} << false;
  QTest::newRow("4,2,2 with bonus") << "4,2,2" << QList<int>{3, 1, 0} << true;
  QTest::newRow("single root") << "" << QList<int>{} << true;
  QTest::newRow("single root, no bonus") << "" << QList<int>{} << false;
  QTest::newRow("16 children of the root") << "16" << QList<int>{15} << true;
  QTest::newRow("irregular path list")
      << "[[0],[1],[2],[0,0],[0,1],[0,0,0],[0,0,1],[0,0,2],[2,0],[2,0,0],[2,0,0,0]]"
      << QList<int>{2, 0, 0} << true;
  QTest::newRow("213 nodes 4,4,4,2") << "4,4,4,2" << QList<int>{1, 3, 2, 1} << true;
}

void TstTreeLayout::geometry() {
  QFETCH(QString, spec);
  QFETCH(QList<int>, ranks);
  QFETCH(bool, bonus);
  const TreeShape s = shape_of(spec);
  const auto nodes = nodes_of(s);
  const auto path = path_of(s, ranks);
  const TreeLayout L = TreeLayout::compute(nodes, path, bonus, {kW, kH}, kHGap, kVGap);
  const int n = s.size();
  const int last = path.back();

  QCOMPARE(int(L.boxes.size()), n + (bonus ? 1 : 0));
  QCOMPARE(L.bonus_index, bonus ? n : -1);
  for (int i = 0; i < n; ++i) QCOMPARE(L.boxes[i].node, i);
  if (bonus) QCOMPARE(L.boxes[n].node, TreeLayout::kBonus);

  // Parents and depths as the layout should see them, the bonus included.
  std::vector<int> parent(s.parent.begin(), s.parent.end());
  std::vector<int> depth(s.depth.begin(), s.depth.end());
  if (bonus) {
    parent.push_back(last);
    depth.push_back(s.depth[last] + 1);
  }
  const int total = int(parent.size());
  std::vector<std::vector<int>> children(total);
  for (int i = 1; i < total; ++i) children[parent[i]].push_back(i);

  // Rows by depth, boxes of the requested size.
  int max_depth = 0;
  for (int i = 0; i < total; ++i) {
    const QRectF r = L.boxes[i].rect;
    QCOMPARE(L.boxes[i].depth, depth[i]);
    QCOMPARE(r.size(), QSizeF(kW, kH));
    QCOMPARE(r.top(), depth[i] * (kH + kVGap));
    max_depth = std::max(max_depth, depth[i]);
  }
  QCOMPARE(L.max_depth, max_depth);

  // No two boxes overlap; in a row they are at least one gap apart.
  for (int i = 0; i < total; ++i) {
    for (int j = i + 1; j < total; ++j) {
      const QRectF a = L.boxes[i].rect, b = L.boxes[j].rect;
      if (a.intersects(b)) QFAIL(qPrintable(QStringLiteral("boxes %1 and %2 overlap").arg(i).arg(j)));
      if (depth[i] == depth[j]) {
        QVERIFY2(std::abs(a.center().x() - b.center().x()) >= kW + kHGap - 1e-9,
                 qPrintable(QStringLiteral("boxes %1 and %2 closer than a slot").arg(i).arg(j)));
      }
    }
  }

  // Parents centred over their first and last child.
  for (int i = 0; i < total; ++i) {
    if (children[i].empty()) continue;
    const double mid = (L.boxes[children[i].front()].rect.center().x() +
                        L.boxes[children[i].back()].rect.center().x()) / 2;
    QCOMPARE(L.boxes[i].rect.center().x(), mid);
  }

  // Leaves on consecutive slots, in depth-first order, from x = 0.
  std::vector<int> leaves;
  std::function<void(int)> dfs = [&](int v) {
    if (children[v].empty()) leaves.push_back(v);
    for (int c : children[v]) dfs(c);
  };
  dfs(0);
  for (size_t k = 0; k < leaves.size(); ++k) {
    QCOMPARE(L.boxes[leaves[k]].rect.left(), double(k) * (kW + kHGap));
  }

  // One edge per child, parent -> child.
  std::set<std::pair<int, int>> want, got(L.edges.begin(), L.edges.end());
  for (int i = 1; i < total; ++i) want.emplace(parent[i], i);
  QCOMPARE(int(L.edges.size()), total - 1);
  QVERIFY(got == want);

  // Bounds: from the origin, covering every box and nothing more.
  QCOMPARE(L.bounds.topLeft(), QPointF(0, 0));
  QCOMPARE(L.bounds.width(), double(leaves.size()) * (kW + kHGap) - kHGap);
  QCOMPARE(L.bounds.height(), max_depth * (kH + kVGap) + kH);

  // hit(): every centre and a point just inside each corner, misses in
  // the gaps beside, between rows and outside.
  for (int i = 0; i < total; ++i) {
    const QRectF r = L.boxes[i].rect;
    QCOMPARE(L.hit(r.center()), L.boxes[i].node);
    QCOMPARE(L.hit(r.topLeft() + QPointF(1, 1)), L.boxes[i].node);
    QCOMPARE(L.hit(r.bottomRight() - QPointF(1, 1)), L.boxes[i].node);
    QCOMPARE(L.hit(QPointF(r.right() + kHGap / 2, r.center().y())), -1);
    QCOMPARE(L.hit(QPointF(r.left() - kHGap / 2, r.center().y())), -1);
    QCOMPARE(L.hit(QPointF(r.center().x(), r.bottom() + kVGap / 2)), -1);
  }
  QCOMPARE(L.hit(QPointF(-5, -5)), -1);
  QCOMPARE(L.hit(L.bounds.bottomRight() + QPointF(5, 5)), -1);

  // The bonus box: one row under the last accepted node, straight below it
  // when that node is a leaf, right of all its drafted children otherwise.
  if (bonus) {
    const QRectF b = L.boxes[n].rect, a = L.boxes[last].rect;
    QCOMPARE(b.top(), a.bottom() + kVGap);
    QCOMPARE(L.hit(b.center()), TreeLayout::kBonus);
    if (s.n_children[last] == 0) {
      QCOMPARE(b.center().x(), a.center().x());
    } else {
      const int drafted_last = s.first_child[last] + s.n_children[last] - 1;
      QVERIFY(b.left() > L.boxes[drafted_last].rect.right());
    }
  }
}

void TstTreeLayout::emptyTree() {
  const TreeLayout L = TreeLayout::compute({}, {}, true, {kW, kH}, kHGap, kVGap);
  QVERIFY(L.empty());
  QVERIFY(L.edges.empty());
  QCOMPARE(L.bonus_index, -1);
  QCOMPARE(L.hit(QPointF(0, 0)), -1);
}

void TstTreeLayout::malformedParentStillDraws() {
  // A parent index at or after its child breaks the breadth-first promise:
  // the node is drawn under the root rather than crashing the view.
  std::vector<NodeRecord> nodes(3);
  nodes[1].parent = 0;
  nodes[2].parent = 7;
  const TreeLayout L = TreeLayout::compute(nodes, {0}, false, {kW, kH}, kHGap, kVGap);
  QCOMPARE(int(L.boxes.size()), 3);
  QCOMPARE(L.boxes[2].depth, 1);
  QVERIFY(!L.boxes[1].rect.intersects(L.boxes[2].rect));
  QVERIFY((std::set<std::pair<int, int>>(L.edges.begin(), L.edges.end()) ==
           std::set<std::pair<int, int>>{{0, 1}, {0, 2}}));
}

QTEST_MAIN(TstTreeLayout)
#include "tst_tree_layout.moc"
