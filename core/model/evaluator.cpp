// SPDX-License-Identifier: Apache-2.0
#include "core/model/evaluator.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/io/error.h"
#include "core/model/generator.h"
#include "core/model/mamba_model.h"
#include "core/tokenizer/tokenizer.h"

namespace sm {

EvalResult evaluate(MambaModel& model, const Tokenizer& tok, const std::string& text,
                    int64_t chunk, const std::function<void(int64_t, int64_t)>& progress,
                    const std::atomic<bool>* cancel) {
  const std::vector<int32_t> ids = tok.encode(text);
  if (ids.size() < 2) fail("", "the text has fewer than 2 tokens; nothing to evaluate");
  for (int32_t id : ids) model.check_token(id);
  const int64_t V = model.vocab_size(), n = static_cast<int64_t>(ids.size());
  chunk = std::max<int64_t>(1, chunk);
  EvalResult r;
  const double t0 = now_seconds();
  ModelState state = model.new_state();
  std::vector<float> logits(static_cast<size_t>(chunk * V));
  // Feed tokens 0..n-2; row t predicts token t+1.
  for (int64_t s = 0; s < n - 1; s += chunk) {
    if (cancel && cancel->load()) {
      r.cancelled = true;
      break;
    }
    const int64_t len = std::min(chunk, n - 1 - s);
    model.forward(std::span<const int32_t>(ids.data() + s, len), state, logits.data(),
                  MambaModel::Logits::All);
    for (int64_t t = 0; t < len; ++t) {
      const float* row = logits.data() + t * V;
      const float mx = *std::max_element(row, row + V);
      double se = 0.0;
      for (int64_t v = 0; v < V; ++v) se += std::exp(double(row[v]) - mx);
      const int32_t target = ids[s + t + 1];
      r.nll_sum += (std::log(se) + mx) - row[target];
      r.bytes += static_cast<int64_t>(tok.token_bytes(target).size());
      ++r.tokens;
    }
    if (progress) progress(s + len, n - 1);
  }
  r.seconds = now_seconds() - t0;
  if (r.tokens > 0) {
    r.nll = r.nll_sum / r.tokens;
    r.ppl = std::exp(r.nll);
    r.bpb = r.bytes > 0 ? r.nll_sum / std::log(2.0) / r.bytes : 0.0;
  }
  return r;
}

}  // namespace sm
