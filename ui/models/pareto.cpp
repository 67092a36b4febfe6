// SPDX-License-Identifier: Apache-2.0
#include "ui/models/pareto.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace sm::ui {

namespace {

struct Prepared {
  std::vector<size_t> ids;                // points with finite values on every axis
  std::vector<std::vector<double>> keys;  // per point: values turned so that larger is better
  size_t excluded = 0;
};

Prepared prepare(const std::vector<ParetoAxis>& axes) {
  if (axes.size() < 2) throw std::invalid_argument("a Pareto front needs at least two axes");
  for (const ParetoAxis& a : axes)
    if (!a.values || a.values->size() != axes.front().values->size())
      throw std::invalid_argument("Pareto axes must have one value per point");
  const size_t n = axes.front().values->size();
  Prepared p;
  p.keys.resize(n);
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> k(axes.size());
    bool finite = true;
    for (size_t a = 0; a < axes.size() && finite; ++a) {
      const double v = (*axes[a].values)[i];
      finite = std::isfinite(v);
      k[a] = axes[a].direction == ParetoDirection::Maximise ? v : -v;
    }
    if (!finite) {
      ++p.excluded;
      continue;
    }
    p.keys[i] = std::move(k);
    p.ids.push_back(i);
  }
  return p;
}

bool dominates_keys(const std::vector<double>& a, const std::vector<double>& b) {
  bool strictly = false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] < b[i]) return false;
    if (a[i] > b[i]) strictly = true;
  }
  return strictly;
}

// The display order: first axis ascending in its own units, then the second.
void order_for_display(std::vector<size_t>& ids, const std::vector<ParetoAxis>& axes) {
  std::sort(ids.begin(), ids.end(), [&](size_t a, size_t b) {
    for (const ParetoAxis& ax : axes) {
      const double va = (*ax.values)[a], vb = (*ax.values)[b];
      if (va != vb) return va < vb;
    }
    return a < b;
  });
}

ParetoFront front_2d(const std::vector<ParetoAxis>& axes, Prepared p) {
  // Best x first; within one x, best y first. Sweeping, `best_y` is the best
  // y among points with a strictly better x: a point is dominated exactly
  // when that is >= its y, or a point of the same x has a better y.
  std::vector<size_t> ids = p.ids;
  std::sort(ids.begin(), ids.end(), [&](size_t a, size_t b) {
    if (p.keys[a][0] != p.keys[b][0]) return p.keys[a][0] > p.keys[b][0];
    return p.keys[a][1] > p.keys[b][1];
  });
  ParetoFront out;
  out.excluded = p.excluded;
  bool have_best = false;
  double best_y = 0.0;
  for (size_t g = 0; g < ids.size();) {
    const double x = p.keys[ids[g]][0];
    const double top = p.keys[ids[g]][1];
    size_t end = g;
    while (end < ids.size() && p.keys[ids[end]][0] == x) ++end;
    if (!have_best || top > best_y)
      for (size_t i = g; i < end && p.keys[ids[i]][1] == top; ++i) out.indices.push_back(ids[i]);
    if (!have_best || top > best_y) best_y = top;
    have_best = true;
    g = end;
  }
  order_for_display(out.indices, axes);
  return out;
}

ParetoFront front_nd(const std::vector<ParetoAxis>& axes, Prepared p) {
  // In lexicographically descending order a dominator always comes before
  // the point it dominates, and every dominated point is dominated by some
  // front point (dominance is transitive): checking the front so far suffices.
  std::vector<size_t> ids = p.ids;
  std::sort(ids.begin(), ids.end(), [&](size_t a, size_t b) { return p.keys[a] > p.keys[b]; });
  ParetoFront out;
  out.excluded = p.excluded;
  for (size_t id : ids) {
    const bool dominated = std::any_of(out.indices.begin(), out.indices.end(),
                                       [&](size_t f) { return dominates_keys(p.keys[f], p.keys[id]); });
    if (!dominated) out.indices.push_back(id);
  }
  order_for_display(out.indices, axes);
  return out;
}

}  // namespace

ParetoFront pareto_front(const std::vector<ParetoAxis>& axes) {
  Prepared p = prepare(axes);
  return axes.size() == 2 ? front_2d(axes, std::move(p)) : front_nd(axes, std::move(p));
}

ParetoFront pareto_front_2d(const std::vector<double>& x, ParetoDirection dx, const std::vector<double>& y,
                            ParetoDirection dy) {
  return pareto_front({{&x, dx}, {&y, dy}});
}

ParetoFront pareto_front_brute_force(const std::vector<ParetoAxis>& axes) {
  const Prepared p = prepare(axes);
  ParetoFront out;
  out.excluded = p.excluded;
  for (size_t i : p.ids) {
    bool dominated = false;
    for (size_t j : p.ids)
      if (j != i && dominates_keys(p.keys[j], p.keys[i])) {
        dominated = true;
        break;
      }
    if (!dominated) out.indices.push_back(i);
  }
  order_for_display(out.indices, axes);
  return out;
}

bool pareto_dominates(const std::vector<double>& a, const std::vector<double>& b,
                      const std::vector<ParetoDirection>& directions) {
  std::vector<double> ka(a.size()), kb(b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const bool max = directions.at(i) == ParetoDirection::Maximise;
    ka[i] = max ? a[i] : -a[i];
    kb[i] = max ? b.at(i) : -b.at(i);
  }
  return dominates_keys(ka, kb);
}

std::vector<std::pair<double, double>> pareto_staircase(const std::vector<std::pair<double, double>>& front,
                                                       ParetoDirection dx, ParetoDirection dy) {
  auto worse = [](double a, double b, ParetoDirection d) {
    return d == ParetoDirection::Maximise ? std::min(a, b) : std::max(a, b);
  };
  std::vector<std::pair<double, double>> out;
  for (size_t i = 0; i < front.size(); ++i) {
    if (i > 0) {
      const std::pair<double, double> corner{worse(front[i - 1].first, front[i].first, dx),
                                             worse(front[i - 1].second, front[i].second, dy)};
      if (corner != front[i - 1] && corner != front[i]) out.push_back(corner);
    }
    out.push_back(front[i]);
  }
  return out;
}

}  // namespace sm::ui
