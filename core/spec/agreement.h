// SPDX-License-Identifier: Apache-2.0
#pragma once
// Teacher-forced draft/target agreement on real text: at sampled positions of
// a file, the draft proposes its greedy chain of k_max tokens and the target
// checks it as greedy speculative decoding would. Because greedy chains are
// prefixes of each other, one chain of k_max gives the figures for every
// k <= k_max.
#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace sm {

class MambaModel;

struct AgreementResult {
  int k_max = 0;
  int64_t positions = 0;
  std::vector<int64_t> histogram;  // [k_max + 1]: positions where exactly a tokens matched
  double seconds = 0.0;
  bool cancelled = false;
  // Mean accepted draft tokens per target pass with a chain of k (1..k_max).
  double mean_accepted(int k) const;
  // Including the target's bonus token.
  double tokens_per_pass(int k) const { return mean_accepted(k) + 1.0; }
};

// Throws sm::Error if the vocabularies differ or the text is too short.
AgreementResult measure_agreement(MambaModel& target, MambaModel& draft,
                                  std::span<const int32_t> ids, int k_max, int64_t stride,
                                  int64_t max_positions,
                                  const std::function<void(int64_t, int64_t)>& progress = {},
                                  const std::atomic<bool>* cancel = nullptr);

void check_same_vocabulary(const MambaModel& target, const MambaModel& draft);

}  // namespace sm
