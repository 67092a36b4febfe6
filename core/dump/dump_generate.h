// SPDX-License-Identifier: Apache-2.0
#pragma once
// A plain generation with an activation dump attached: what `specmamba
// generate --dump` does without --draft, and what the Studio's "Dump current
// prompt" runs in its worker. The writer is attached for the run only (the
// tap attached before is restored, also on an error); a finished run
// finishes the dump (PATH appears), a cancelled one aborts it (PATH.tmp is
// removed and PATH left as it was).
#include <atomic>
#include <cstdint>
#include <span>

#include "core/model/generator.h"

namespace sm {

class DumpWriter;

GenerateResult generate_with_dump(MambaModel& model, const Tokenizer& tok, std::span<const int32_t> prompt,
                                  const GenerateOptions& opt, DumpWriter& dump, const TokenCallback& on_token = {},
                                  const std::atomic<bool>* cancel = nullptr);

}  // namespace sm
