// SPDX-License-Identifier: Apache-2.0
// The Pareto front: hand-computed fronts for both directions, duplicates and
// ties, NaN exclusion, three axes, the staircase, and random sets against the
// O(n^2) definition.
#include <QtTest>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>

#include "ui/models/pareto.h"

using sm::ui::ParetoAxis;
using sm::ui::ParetoDirection;
using sm::ui::ParetoFront;

namespace {

constexpr ParetoDirection kMax = ParetoDirection::Maximise;
constexpr ParetoDirection kMin = ParetoDirection::Minimise;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<size_t> front2(const std::vector<double>& x, ParetoDirection dx, const std::vector<double>& y,
                           ParetoDirection dy, size_t* excluded = nullptr) {
  const ParetoFront f = sm::ui::pareto_front_2d(x, dx, y, dy);
  if (excluded) *excluded = f.excluded;
  return f.indices;
}

using Ids = std::vector<size_t>;

}  // namespace

class TestPareto : public QObject {
  Q_OBJECT

 private slots:
  void maximiseBoth();
  void maximiseOneMinimiseOther();
  void minimiseBoth();
  void duplicatesAllStayOnTheFront();
  void tiesOnOneAxisKeepOnlyTheBetter();
  void nanAndInfinityAreExcludedAndCounted();
  void emptyAndSingle();
  void threeAxes();
  void tooFewAxesOrUnequalLengthsThrow();
  void staircaseCorners();
  void randomSetsMatchBruteForce();
};

void TestPareto::maximiseBoth() {
  // (tok/s, speedup): 1 (3,3) and 3 (5,1) and 4 (1,5) are the front; 0 (2,2)
  // is dominated by 1, 2 (3,1) by 1 (same x, better y).
  const std::vector<double> x{2, 3, 3, 5, 1};
  const std::vector<double> y{2, 3, 1, 1, 5};
  QCOMPARE(front2(x, kMax, y, kMax), (Ids{4, 1, 3}));  // ordered by x ascending
}

void TestPareto::maximiseOneMinimiseOther() {
  // Maximise tok/s, minimise energy per token.
  const std::vector<double> tok{10, 20, 15, 30, 25};
  const std::vector<double> mj{1.0, 2.0, 2.5, 4.0, 4.0};
  // 2 (15, 2.5) is beaten by 1 (20, 2.0); 4 (25, 4.0) by 3 (30, 4.0).
  QCOMPARE(front2(tok, kMax, mj, kMin), (Ids{0, 1, 3}));
  // The other way round, the dominated ones swap: minimise tok, maximise mj.
  QCOMPARE(front2(tok, kMin, mj, kMax), (Ids{0, 2, 4}));
}

void TestPareto::minimiseBoth() {
  // Bits per byte and resources, both lower is better.
  const std::vector<double> bpb{1.2, 1.1, 1.5, 1.1, 2.0};
  const std::vector<double> res{0.5, 0.6, 0.2, 0.7, 0.1};
  QCOMPARE(front2(bpb, kMin, res, kMin), (Ids{1, 0, 2, 4}));
}

void TestPareto::duplicatesAllStayOnTheFront() {
  const std::vector<double> x{1, 4, 4, 2, 4};
  const std::vector<double> y{5, 2, 2, 2, 2};
  // 1, 2 and 4 are the same point: none dominates another; 3 is dominated.
  QCOMPARE(front2(x, kMax, y, kMax), (Ids{0, 1, 2, 4}));
  const std::vector<double> same{7, 7, 7};
  QCOMPARE(front2(same, kMin, same, kMax), (Ids{0, 1, 2}));
}

void TestPareto::tiesOnOneAxisKeepOnlyTheBetter() {
  // Equal y, different x: the better x dominates (strictly better on one axis).
  const std::vector<double> x{1, 2, 3};
  const std::vector<double> y{4, 4, 4};
  QCOMPARE(front2(x, kMax, y, kMax), (Ids{2}));
  QCOMPARE(front2(x, kMin, y, kMax), (Ids{0}));
  // Equal x, different y.
  QCOMPARE(front2(y, kMax, x, kMin), (Ids{0}));
}

void TestPareto::nanAndInfinityAreExcludedAndCounted() {
  const double inf = std::numeric_limits<double>::infinity();
  // Without the exclusion, 1 (NaN) and 3 (inf) would corrupt the order.
  const std::vector<double> x{1, kNaN, 3, inf, 2};
  const std::vector<double> y{3, 9, 1, 9, kNaN};
  size_t excluded = 0;
  QCOMPARE(front2(x, kMax, y, kMax, &excluded), (Ids{0, 2}));
  QCOMPARE(excluded, size_t(3));
  const std::vector<double> all_nan{kNaN, kNaN};
  QCOMPARE(front2(all_nan, kMax, all_nan, kMax, &excluded), Ids{});
  QCOMPARE(excluded, size_t(2));
}

void TestPareto::emptyAndSingle() {
  const std::vector<double> none;
  size_t excluded = 9;
  QCOMPARE(front2(none, kMax, none, kMax, &excluded), Ids{});
  QCOMPARE(excluded, size_t(0));
  const std::vector<double> one{0.5};
  QCOMPARE(front2(one, kMin, one, kMin), (Ids{0}));
}

void TestPareto::threeAxes() {
  // Maximise tok/s, minimise energy, minimise bpb.
  const std::vector<double> tok{10, 10, 12, 8, 12};
  const std::vector<double> mj{1, 1, 2, 1, 2};
  const std::vector<double> bpb{2.0, 1.9, 1.0, 1.9, 1.0};
  // 0 is dominated by 1 (same tok and mj, better bpb); 3 by 1; 2 and 4 are
  // duplicates and both stay; in 2-D (tok, mj) 1 would not beat 2.
  const ParetoFront f = sm::ui::pareto_front({{&tok, kMax}, {&mj, kMin}, {&bpb, kMin}});
  QCOMPARE(f.indices, (Ids{1, 2, 4}));
  QCOMPARE(f.excluded, size_t(0));
}

void TestPareto::tooFewAxesOrUnequalLengthsThrow() {
  const std::vector<double> a{1, 2}, b{1};
  QVERIFY_THROWS_EXCEPTION(std::invalid_argument, sm::ui::pareto_front({{&a, kMax}}));
  QVERIFY_THROWS_EXCEPTION(std::invalid_argument, sm::ui::pareto_front({{&a, kMax}, {&b, kMax}}));
}

void TestPareto::staircaseCorners() {
  using P = std::pair<double, double>;
  // Max/max: the front falls as x grows; each corner is (left x, right y).
  QCOMPARE(sm::ui::pareto_staircase({{1, 5}, {3, 3}, {5, 1}}, kMax, kMax),
           (std::vector<P>{{1, 5}, {1, 3}, {3, 3}, {3, 1}, {5, 1}}));
  // Min x, max y: the front rises; each corner is (right x, left y).
  QCOMPARE(sm::ui::pareto_staircase({{1, 1}, {2, 4}}, kMin, kMax), (std::vector<P>{{1, 1}, {2, 1}, {2, 4}}));
  // Duplicates get no corner of their own.
  QCOMPARE(sm::ui::pareto_staircase({{2, 2}, {2, 2}}, kMax, kMax), (std::vector<P>{{2, 2}, {2, 2}}));
}

void TestPareto::randomSetsMatchBruteForce() {
  std::mt19937 rng(13);
  // Few distinct values force many ties and duplicates.
  std::uniform_int_distribution<int> coarse(0, 6);
  std::normal_distribution<double> fine(0.0, 1.0);
  std::bernoulli_distribution missing(0.05);
  const ParetoDirection dirs[] = {kMax, kMin};
  for (int round = 0; round < 200; ++round) {
    const size_t n = static_cast<size_t>(rng() % 300);
    const size_t k = 2 + static_cast<size_t>(round % 3);
    std::vector<std::vector<double>> cols(k, std::vector<double>(n));
    for (auto& c : cols)
      for (double& v : c) v = missing(rng) ? kNaN : (round % 2 ? fine(rng) : double(coarse(rng)));
    std::vector<ParetoAxis> axes;
    for (size_t a = 0; a < k; ++a) axes.push_back({&cols[a], dirs[(round / 3 + a) % 2]});
    const ParetoFront fast = sm::ui::pareto_front(axes);
    const ParetoFront ref = sm::ui::pareto_front_brute_force(axes);
    QCOMPARE(fast.indices, ref.indices);
    QCOMPARE(fast.excluded, ref.excluded);
    // And the reference really is the definition.
    std::vector<ParetoDirection> d;
    for (const ParetoAxis& a : axes) d.push_back(a.direction);
    for (size_t f : ref.indices)
      for (size_t j = 0; j < n; ++j) {
        std::vector<double> pj, pf;
        for (auto& c : cols) pj.push_back(c[j]), pf.push_back(c[f]);
        bool finite = true;
        for (double v : pj) finite = finite && std::isfinite(v);
        if (finite) QVERIFY(!sm::ui::pareto_dominates(pj, pf, d));
      }
  }
}

QTEST_APPLESS_MAIN(TestPareto)
#include "tst_pareto.moc"
