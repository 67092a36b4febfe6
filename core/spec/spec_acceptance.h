// SPDX-License-Identifier: Apache-2.0
#pragma once
// Acceptance: which path of a verified token tree is kept, and the target's
// bonus token after it.
//
// Greedy: cur = root; while a child of cur has token == argmax(p_cur), descend
// into it. Output is identical to target-only greedy decoding.
//
// Stochastic (SpecInfer multi-step speculative sampling; lossless when the
// children of a node are i.i.d. samples from the draft's q at that node, and
// p and q went through the same temperature / top-k / top-p warping): at cur,
// for each child x_i in order, accept with probability min(1, p(x_i)/q(x_i))
// and descend; on rejection p <- normalize(max(p - q, 0)) and try the next
// child. If none is accepted the bonus is sampled from the residual p; at a
// leaf it is sampled from p_leaf.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/trace/spec_events.h"
#include "core/spec/token_tree.h"

namespace sm {

class Sampler;

struct AcceptResult {
  std::vector<int32_t> path;  // accepted nodes below the root, in order
  int32_t last = 0;           // last accepted node (the root if none)
  int32_t bonus = 0;          // the target's token after `last`
};

// argmax(v) = the target's greedy token after node v (asked only for nodes
// on the walk). decisions (optional) receives one entry per child examined.
using ArgmaxFn = std::function<int32_t(int32_t node)>;
AcceptResult accept_greedy(const TokenTree& tree, const ArgmaxFn& argmax,
                           std::vector<AcceptDecision>* decisions = nullptr);
AcceptResult accept_greedy(const TokenTree& tree, std::span<const int32_t> argmax,
                           std::vector<AcceptDecision>* decisions = nullptr);

// p(v) / q(v): the target's / draft's warped distribution after node v (q is
// only asked for nodes with children). Draws from `rng`.
using ProbFn = std::function<std::span<const float>(int32_t node)>;
AcceptResult accept_stochastic(const TokenTree& tree, const ProbFn& p, const ProbFn& q,
                               Sampler& rng, std::vector<AcceptDecision>* decisions = nullptr);

}  // namespace sm
