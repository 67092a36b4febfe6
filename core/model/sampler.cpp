// SPDX-License-Identifier: Apache-2.0
#include "core/model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/io/error.h"

namespace sm {

void SamplingParams::validate() const {
  if (!(temperature >= 0.0f) || !std::isfinite(temperature))
    fail("", "temperature must be >= 0 (got " + std::to_string(temperature) + ")");
  if (top_k < 0) fail("", "top-k must be >= 0 (got " + std::to_string(top_k) + ")");
  if (!(top_p > 0.0f && top_p <= 1.0f))
    fail("", "top-p must be in (0, 1] (got " + std::to_string(top_p) + ")");
}

int32_t argmax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::vector<float> warped_probs(std::span<const float> logits, const SamplingParams& p) {
  const size_t V = logits.size();
  std::vector<float> probs(V, 0.0f);
  if (V == 0) return probs;
  if (p.greedy()) {
    probs[argmax(logits)] = 1.0f;
    return probs;
  }
  // Candidate set after top-k, sorted by logit (descending) when needed.
  std::vector<int32_t> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  size_t keep = V;
  const bool need_sort = p.top_k > 0 || p.top_p < 1.0f;
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < V) keep = p.top_k;
  auto by_logit = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  if (need_sort) {
    if (keep < V) {
      std::partial_sort(idx.begin(), idx.begin() + keep, idx.end(), by_logit);
      idx.resize(keep);
    } else {
      std::sort(idx.begin(), idx.end(), by_logit);
    }
  }
  const float inv_t = 1.0f / p.temperature;
  float mx = -INFINITY;
  for (int32_t i : idx) mx = std::max(mx, logits[i] * inv_t);
  double sum = 0.0;
  std::vector<double> e(idx.size());
  for (size_t j = 0; j < idx.size(); ++j) sum += e[j] = std::exp(double(logits[idx[j]]) * inv_t - mx);
  size_t n = idx.size();
  if (p.top_p < 1.0f) {
    // Smallest prefix (in descending order) whose mass reaches top_p.
    double cum = 0.0;
    for (size_t j = 0; j < idx.size(); ++j) {
      cum += e[j] / sum;
      if (cum >= p.top_p) {
        n = j + 1;
        break;
      }
    }
    sum = std::accumulate(e.begin(), e.begin() + n, 0.0);
  }
  for (size_t j = 0; j < n; ++j) probs[idx[j]] = static_cast<float>(e[j] / sum);
  return probs;
}

Sampler::Sampler(SamplingParams p) : p_(p), rng_(p.seed) { p_.validate(); }

double Sampler::uniform() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

int32_t Sampler::sample_probs(std::span<const float> probs) {
  double total = 0.0;
  for (float q : probs) total += q;
  double r = uniform() * total, cum = 0.0;
  int32_t last_nonzero = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0.0f) continue;
    cum += probs[i];
    last_nonzero = static_cast<int32_t>(i);
    if (r < cum) return last_nonzero;
  }
  return last_nonzero;
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (p_.greedy()) return argmax(logits);
  std::vector<float> probs = warped_probs(logits, p_);
  return sample_probs(probs);
}

}  // namespace sm
