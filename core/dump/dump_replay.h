// SPDX-License-Identifier: Apache-2.0
#pragma once
// Dumps of runs that are not one plain forward sequence (speculative
// decoding): the model is run once more, with the tap attached, over the
// sequence the run committed, exactly as generate() runs it. A model's
// per-row results do not depend on how rows are batched (a tree
// verification pass, a prefill chunk or a one-token decode step give the
// same bits), so this is what the run computed for the committed tokens.
#include <cstdint>
#include <span>

namespace sm {

class ActivationTap;
class MambaModel;

// From an empty state: forward(prompt, Logits::Last), then one decode step
// for every generated token but the last (the last is sampled, never run) —
// generate()'s call sequence, so a tap sees exactly what it would have seen
// attached to a plain generate() that produced `generated`. The tap is
// attached for the replay only (any tap attached before is restored, also
// on an error). Throws sm::Error for an empty prompt or a bad token id.
void replay_generation(MambaModel& model, std::span<const int32_t> prompt, std::span<const int32_t> generated,
                       ActivationTap& tap);

}  // namespace sm
