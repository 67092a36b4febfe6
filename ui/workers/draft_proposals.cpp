// SPDX-License-Identifier: Apache-2.0
#include "ui/workers/draft_proposals.h"

#include <algorithm>
#include <numeric>

#include "core/model/mamba_model.h"

namespace sm::ui {

std::vector<std::vector<int32_t>> draft_proposals(MambaModel& draft, std::span<const int32_t> prompt,
                                                  std::span<const int32_t> generated, int k) {
  std::vector<std::vector<int32_t>> rows;
  if (prompt.empty() || generated.empty() || k <= 0) return rows;
  const int32_t V = draft.vocab_size();
  k = std::min(k, V);
  ModelState state = draft.new_state();
  std::vector<float> logits(static_cast<size_t>(V));
  draft.forward(prompt, state, nullptr, MambaModel::Logits::None);
  std::vector<int32_t> idx(static_cast<size_t>(V));
  rows.reserve(generated.size());
  for (int32_t t : generated) {
    draft.decode(t, state, logits.data());
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
      return logits[size_t(a)] > logits[size_t(b)] || (logits[size_t(a)] == logits[size_t(b)] && a < b);
    });
    rows.emplace_back(idx.begin(), idx.begin() + k);
  }
  return rows;
}

}  // namespace sm::ui
