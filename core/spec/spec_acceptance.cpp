// SPDX-License-Identifier: Apache-2.0
#include "core/spec/spec_acceptance.h"

#include <cstdio>
#include <string>

#include "core/model/sampler.h"

namespace sm {

namespace {

std::string fmt(const char* f, double a, double b) {
  char buf[96];
  std::snprintf(buf, sizeof buf, f, a, b);
  return buf;
}

}  // namespace

AcceptResult accept_greedy(const TokenTree& tree, std::span<const int32_t> argmax,
                           std::vector<AcceptDecision>* decisions) {
  return accept_greedy(tree, [&](int32_t v) { return argmax[v]; }, decisions);
}

AcceptResult accept_greedy(const TokenTree& tree, const ArgmaxFn& argmax,
                           std::vector<AcceptDecision>* decisions) {
  const TreeShape& s = *tree.shape;
  AcceptResult r;
  int32_t cur = 0;
  int32_t want = argmax(cur);
  for (;;) {
    int32_t next = -1;
    for (int32_t i = 0; i < s.n_children[cur]; ++i) {
      const int32_t c = s.first_child[cur] + i;
      const bool ok = tree.token[c] == want;
      if (decisions)
        decisions->push_back({c, tree.token[c], ok,
                              ok ? std::string("matches target argmax")
                                 : "target argmax is " + std::to_string(want)});
      if (ok) {
        next = c;
        break;
      }
    }
    if (next < 0) break;
    r.path.push_back(next);
    cur = next;
    want = argmax(cur);
  }
  r.last = cur;
  r.bonus = want;
  return r;
}

AcceptResult accept_stochastic(const TokenTree& tree, const ProbFn& p, const ProbFn& q,
                               Sampler& rng, std::vector<AcceptDecision>* decisions) {
  const TreeShape& s = *tree.shape;
  AcceptResult r;
  std::vector<float> resid;
  int32_t cur = 0;
  for (;;) {
    const std::span<const float> pc = p(cur);
    const int32_t k = s.n_children[cur];
    if (k == 0) {  // leaf: the bonus comes from the target at the leaf
      r.last = cur;
      r.bonus = rng.sample_probs(pc);
      return r;
    }
    const std::span<const float> qc = q(cur);
    resid.assign(pc.begin(), pc.end());
    int32_t next = -1;
    for (int32_t i = 0; i < k; ++i) {
      const int32_t c = s.first_child[cur] + i;
      const int32_t x = tree.token[c];
      const double px = resid[x], qx = qc[x];
      const double u = rng.uniform();
      // Accept with probability min(1, px / qx) (qx > 0 for a sample of q).
      const bool ok = qx > 0.0 ? u * qx < px : px > 0.0;
      if (decisions)
        decisions->push_back(
            {c, x, ok,
             ok ? fmt("u=%.3f < p/q=%.3f", u, qx > 0 ? px / qx : 1.0)
                : fmt("u=%.3f >= p/q=%.3f; resample from residual", u, qx > 0 ? px / qx : 0.0)});
      if (ok) {
        next = c;
        break;
      }
      // Residual: normalize(max(p - q, 0)).
      double sum = 0.0;
      for (size_t j = 0; j < resid.size(); ++j) {
        const float d = resid[j] - qc[j];
        resid[j] = d > 0.0f ? d : 0.0f;
        sum += resid[j];
      }
      if (sum > 0.0) {
        const float inv = static_cast<float>(1.0 / sum);
        for (float& v : resid) v *= inv;
      } else {
        // p <= q everywhere means p == q up to rounding (a rejection then has
        // probability ~0): the residual's limit is q itself.
        resid.assign(qc.begin(), qc.end());
      }
    }
    if (next < 0) {
      r.last = cur;
      r.bonus = rng.sample_probs(resid);
      return r;
    }
    r.path.push_back(next);
    cur = next;
  }
}

}  // namespace sm
