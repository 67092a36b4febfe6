// SPDX-License-Identifier: Apache-2.0
#pragma once
// The Pareto front of a set of points over two or more chosen axes, each
// maximised (tok/s, speedup) or minimised (energy per token, bits per byte,
// resources). Plain C++ over doubles so the sweep view and its tests share
// one definition of "best".
//
// Point a dominates b when a is at least as good on every axis and strictly
// better on one. Exact duplicates do not dominate each other: every copy of a
// front point is on the front (each is a configuration the user may pick).
// A point with a NaN or infinite value on any chosen axis (a metric that does
// not apply, a failed run) takes no part and is counted in `excluded`.
#include <cstddef>
#include <utility>
#include <vector>

namespace sm::ui {

enum class ParetoDirection { Maximise, Minimise };

struct ParetoAxis {
  const std::vector<double>* values = nullptr;  // one value per point; all axes the same length
  ParetoDirection direction = ParetoDirection::Maximise;
};

struct ParetoFront {
  // Indices of the front's points, ordered by the first axis ascending (then
  // the second, then the index), the order a step line is drawn in.
  std::vector<size_t> indices;
  size_t excluded = 0;  // points with a non-finite value on a chosen axis
};

// O(n log n) for two axes; for more, O(n log n + n * front * axes). Throws
// std::invalid_argument for fewer than two axes or axes of unequal length.
ParetoFront pareto_front(const std::vector<ParetoAxis>& axes);

// Convenience for the common 2-D case.
ParetoFront pareto_front_2d(const std::vector<double>& x, ParetoDirection dx, const std::vector<double>& y,
                            ParetoDirection dy);

// The reference definition, O(n^2 * axes): for tests.
ParetoFront pareto_front_brute_force(const std::vector<ParetoAxis>& axes);

// True if a dominates b under the directions (both of the same size).
bool pareto_dominates(const std::vector<double>& a, const std::vector<double>& b,
                      const std::vector<ParetoDirection>& directions);

// The boundary of the dominated region of a 2-D front, as a polyline through
// the front's points (given in pareto_front's order) with one corner between
// each neighbouring pair: the corner takes the worse coordinate of the two on
// each axis, so the line never passes through a better point than the front.
std::vector<std::pair<double, double>> pareto_staircase(const std::vector<std::pair<double, double>>& front,
                                                       ParetoDirection dx, ParetoDirection dy);

}  // namespace sm::ui
