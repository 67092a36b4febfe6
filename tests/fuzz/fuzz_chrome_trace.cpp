// SPDX-License-Identifier: Apache-2.0
// Chrome trace JSON reader: accepted traces hold only known event types.
#include "core/trace/trace_chrome_reader.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sm::fuzz::expect_clean([&] {
    const auto t = sm::parse_chrome_trace(sm::fuzz::text(data, size), "trace.json");
    for (const auto& e : t.events) (void)sm::event_name(e.payload);
  });
  return 0;
}
