// SPDX-License-Identifier: Apache-2.0
#include "core/model/generator.h"

#include <chrono>

#include "core/io/error.h"
#include "core/model/mamba_model.h"
#include "core/tokenizer/tokenizer.h"

namespace sm {

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

double GenerateStats::prefill_tokens_per_second() const {
  return prefill_seconds > 0 ? prompt_tokens / prefill_seconds : 0.0;
}
double GenerateStats::decode_tokens_per_second() const {
  return decode_seconds > 0 ? decode_steps / decode_seconds : 0.0;
}
double GenerateStats::total_tokens_per_second() const {
  const double t = prefill_seconds + decode_seconds;
  return t > 0 ? generated / t : 0.0;
}

GenerateResult generate(MambaModel& model, const Tokenizer& tok, std::span<const int32_t> prompt,
                        const GenerateOptions& opt, const TokenCallback& on_token,
                        const std::atomic<bool>* cancel) {
  if (prompt.empty()) fail("", "the prompt is empty: give some text or token ids");
  if (opt.max_tokens < 0) fail("", "max-tokens must be >= 0");
  for (int32_t id : prompt) model.check_token(id);
  Sampler sampler(opt.sampling);
  GenerateResult r;
  r.stats.prompt_tokens = static_cast<int64_t>(prompt.size());
  r.stats.stop_reason = "max_tokens";
  const int64_t V = model.vocab_size();
  std::vector<float> logits(V);
  ModelState state = model.new_state();

  double t0 = now_seconds();
  model.forward(prompt, state, logits.data(), MambaModel::Logits::Last);
  r.stats.prefill_seconds = now_seconds() - t0;

  for (int i = 0; i < opt.max_tokens; ++i) {
    if (cancel && cancel->load()) {
      r.stats.cancelled = true;
      r.stats.stop_reason = "cancelled";
      break;
    }
    const int32_t id = sampler.sample(logits);
    r.ids.push_back(id);
    const std::string bytes = tok.token_bytes(id);
    r.text += bytes;
    ++r.stats.generated;
    if (on_token) on_token(id, bytes);
    if (opt.stop_at_eos && id == tok.eos_id()) {
      r.stats.stop_reason = "eos";
      break;
    }
    if (i + 1 == opt.max_tokens) break;
    t0 = now_seconds();
    model.decode(id, state, logits.data());
    r.stats.decode_seconds += now_seconds() - t0;
    ++r.stats.decode_steps;
  }
  return r;
}

}  // namespace sm
