// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shared by the libFuzzer targets: a parser may reject its input only with
// sm::Error (a clear message); any other exception, crash, leak or
// sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include "core/io/error.h"

namespace sm::fuzz {

inline std::string_view text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs f(); sm::Error is an accepted rejection, anything else aborts.
template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const sm::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "finding: non-sm::Error exception: %s\n", e.what());
    std::abort();
  }
}

[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "finding: %s\n", what.c_str());
  std::abort();
}

}  // namespace sm::fuzz
