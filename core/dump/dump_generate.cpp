// SPDX-License-Identifier: Apache-2.0
#include "core/dump/dump_generate.h"

#include "core/dump/dump_writer.h"
#include "core/model/mamba_model.h"

namespace sm {

GenerateResult generate_with_dump(MambaModel& model, const Tokenizer& tok, std::span<const int32_t> prompt,
                                  const GenerateOptions& opt, DumpWriter& dump, const TokenCallback& on_token,
                                  const std::atomic<bool>* cancel) {
  struct Attach {
    MambaModel& m;
    ActivationTap* before;
    Attach(MambaModel& mm, ActivationTap* t) : m(mm), before(mm.tap()) { m.set_tap(t); }
    ~Attach() { m.set_tap(before); }
  };
  GenerateResult r;
  {
    Attach attach(model, &dump);
    r = generate(model, tok, prompt, opt, on_token, cancel);
  }
  if (r.stats.cancelled) dump.abort();
  else dump.finish();
  return r;
}

}  // namespace sm
