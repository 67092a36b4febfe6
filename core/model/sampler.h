// SPDX-License-Identifier: Apache-2.0
#pragma once
// Token sampling: greedy (temperature 0), or temperature, top-k and top-p
// applied in that order (as transformers' logits warpers do), from a seeded
// generator so the same seed gives the same output.
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace sm {

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // 1 = off
  uint64_t seed = 0;

  bool greedy() const { return temperature <= 0.0f; }
  // Throws sm::Error for out-of-range values.
  void validate() const;
};

int32_t argmax(std::span<const float> logits);

// The warped distribution over the first `vocab` logits: softmax(logits / T)
// restricted to the top-k, then to the smallest set with mass >= top_p,
// renormalised. Greedy gives a one-hot vector.
std::vector<float> warped_probs(std::span<const float> logits, const SamplingParams& p);

class Sampler {
 public:
  explicit Sampler(SamplingParams p);
  const SamplingParams& params() const { return p_; }
  int32_t sample(std::span<const float> logits);
  // Draws from an explicit distribution (sums to ~1).
  int32_t sample_probs(std::span<const float> probs);
  double uniform();  // [0, 1)
  std::mt19937_64& rng() { return rng_; }

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
};

}  // namespace sm
