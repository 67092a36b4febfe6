// SPDX-License-Identifier: Apache-2.0
#include "core/dump/dump_replay.h"

#include <vector>

#include "core/dump/activation_tap.h"
#include "core/io/error.h"
#include "core/model/mamba_model.h"

namespace sm {

void replay_generation(MambaModel& model, std::span<const int32_t> prompt, std::span<const int32_t> generated,
                       ActivationTap& tap) {
  if (prompt.empty()) fail("", "the prompt is empty: give some text or token ids");
  struct Attach {
    MambaModel& m;
    ActivationTap* before;
    Attach(MambaModel& mm, ActivationTap* t) : m(mm), before(mm.tap()) { m.set_tap(t); }
    ~Attach() { m.set_tap(before); }
  } attach(model, &tap);
  std::vector<float> logits(static_cast<size_t>(model.vocab_size()));
  ModelState state = model.new_state();
  model.forward(prompt, state, logits.data(), MambaModel::Logits::Last);
  for (size_t i = 0; i + 1 < generated.size(); ++i) model.decode(generated[i], state, logits.data());
}

}  // namespace sm
