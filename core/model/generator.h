// SPDX-License-Identifier: Apache-2.0
#pragma once
// Plain autoregressive generation (prefill + one decode step per token) with
// streaming, cancellation and timing. The CLI and the GUI worker share it.
#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/model/sampler.h"

namespace sm {

class MambaModel;
class Tokenizer;

struct GenerateOptions {
  SamplingParams sampling;
  int max_tokens = 64;
  bool stop_at_eos = true;
};

struct GenerateStats {
  int64_t prompt_tokens = 0;
  int64_t generated = 0;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;   // all decode steps
  int64_t decode_steps = 0;      // forward calls of one token
  bool cancelled = false;
  std::string stop_reason;       // "max_tokens", "eos" or "cancelled"

  double prefill_tokens_per_second() const;
  double decode_tokens_per_second() const;
  double total_tokens_per_second() const;  // generated / (prefill + decode)
};

struct GenerateResult {
  std::vector<int32_t> ids;  // generated ids only
  std::string text;          // their decoded bytes
  GenerateStats stats;
};

// Called with each new token id and its bytes, on the calling thread.
using TokenCallback = std::function<void(int32_t id, const std::string& bytes)>;

GenerateResult generate(MambaModel& model, const Tokenizer& tok, std::span<const int32_t> prompt,
                        const GenerateOptions& opt, const TokenCallback& on_token = {},
                        const std::atomic<bool>* cancel = nullptr);

// Monotonic seconds, for timing.
double now_seconds();

}  // namespace sm
