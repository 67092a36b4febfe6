// SPDX-License-Identifier: Apache-2.0
#pragma once
// Language-model quality over a text: the whole text as one sequence from an
// empty state; each token after the first is predicted from all before it.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace sm {

class MambaModel;
class Tokenizer;

struct EvalResult {
  int64_t tokens = 0;      // predicted tokens (all but the first)
  int64_t bytes = 0;       // bytes of the predicted tokens
  double nll_sum = 0.0;    // nats
  double nll = 0.0;        // mean nats per token
  double ppl = 0.0;        // exp(nll)
  double bpb = 0.0;        // bits per byte
  double seconds = 0.0;
  bool cancelled = false;
};

// progress(done_tokens, total_tokens) after every chunk.
EvalResult evaluate(MambaModel& model, const Tokenizer& tok, const std::string& text,
                    int64_t chunk = 512,
                    const std::function<void(int64_t, int64_t)>& progress = {},
                    const std::atomic<bool>* cancel = nullptr);

}  // namespace sm
