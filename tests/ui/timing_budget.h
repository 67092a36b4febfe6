// SPDX-License-Identifier: Apache-2.0
#pragma once
// Time budgets in the GUI tests (setRun < 20 ms, ...) are goals for the
// Release build; under AddressSanitizer every memory access is checked and
// the same work takes several times longer, so the budgets scale.
#if defined(__SANITIZE_ADDRESS__)
#define SM_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SM_TEST_SANITIZED 1
#endif
#endif

#include <ctime>

namespace timing {
// This thread's CPU time in ns: a budget on the work itself, which a busy
// machine (ctest -j, another build) can delay but not make larger.
inline long long thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<long long>(ts.tv_sec) * 1'000'000'000LL + ts.tv_nsec;
}

#ifdef SM_TEST_SANITIZED
inline constexpr long long kScale = 10;
#else
inline constexpr long long kScale = 1;
#endif
// A budget in the unit the caller uses (ms, ns), scaled for sanitized builds.
constexpr long long budget(long long release_budget) { return release_budget * kScale; }
}  // namespace timing
