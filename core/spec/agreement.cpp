// SPDX-License-Identifier: Apache-2.0
#include "core/spec/agreement.h"

#include <algorithm>

#include "core/io/error.h"
#include "core/model/generator.h"
#include "core/model/mamba_model.h"
#include "core/model/sampler.h"

namespace sm {

double AgreementResult::mean_accepted(int k) const {
  if (positions == 0 || k < 1) return 0.0;
  double sum = 0.0;
  for (int a = 0; a < static_cast<int>(histogram.size()); ++a)
    sum += double(std::min(a, k)) * histogram[a];
  return sum / positions;
}

void check_same_vocabulary(const MambaModel& target, const MambaModel& draft) {
  if (target.vocab_size() != draft.vocab_size())
    fail("", "draft and target vocabularies differ: " + draft.where() + " has " +
                 std::to_string(draft.vocab_size()) + " ids, " + target.where() + " has " +
                 std::to_string(target.vocab_size()));
}

AgreementResult measure_agreement(MambaModel& target, MambaModel& draft,
                                  std::span<const int32_t> ids, int k_max, int64_t stride,
                                  int64_t max_positions,
                                  const std::function<void(int64_t, int64_t)>& progress,
                                  const std::atomic<bool>* cancel) {
  check_same_vocabulary(target, draft);
  if (k_max < 1 || k_max > 64) fail("", "k must be between 1 and 64");
  if (stride < 1) fail("", "stride must be >= 1");
  const int64_t n = static_cast<int64_t>(ids.size());
  if (n < 2) fail("", "the text has fewer than 2 tokens");
  for (int32_t id : ids) target.check_token(id);
  const int64_t V = target.vocab_size();

  AgreementResult r;
  r.k_max = k_max;
  r.histogram.assign(k_max + 1, 0);
  const double t0 = now_seconds();
  ModelState ts = target.new_state(), ds = draft.new_state();
  std::vector<float> tl(V), dl(V), rows(static_cast<size_t>(k_max * V));
  std::vector<int32_t> chain(k_max);
  int64_t fed = 0;
  const int64_t total = max_positions > 0 ? std::min(max_positions, (n - 1 + stride - 1) / stride)
                                          : (n - 1 + stride - 1) / stride;
  for (int64_t p = 0; p < n - 1 && r.positions < total; p += stride) {
    if (cancel && cancel->load()) {
      r.cancelled = true;
      break;
    }
    // Teacher forcing: both models consume the file up to and including ids[p].
    std::span<const int32_t> seg(ids.data() + fed, p + 1 - fed);
    target.forward(seg, ts, tl.data());
    draft.forward(seg, ds, dl.data());
    fed = p + 1;
    // The draft's greedy chain from here.
    ModelState d2 = ds;
    chain[0] = argmax(dl);
    for (int i = 1; i < k_max; ++i) {
      draft.decode(chain[i - 1], d2, dl.data());
      chain[i] = argmax(dl);
    }
    // The target verifies the chain in one pass.
    int a = 0;
    if (argmax(tl) == chain[0]) {
      a = 1;
      if (k_max > 1) {
        ModelState t2 = ts;
        target.forward(std::span<const int32_t>(chain.data(), k_max - 1), t2, rows.data(),
                       MambaModel::Logits::All);
        while (a < k_max &&
               argmax(std::span<const float>(rows.data() + (a - 1) * V, V)) == chain[a])
          ++a;
      }
    }
    ++r.histogram[a];
    ++r.positions;
    if (progress && r.positions % 64 == 0) progress(r.positions, total);
  }
  r.seconds = now_seconds() - t0;
  return r;
}

}  // namespace sm
