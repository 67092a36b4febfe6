// SPDX-License-Identifier: Apache-2.0
#include "core/kernels/simd.h"

#include <atomic>

#include <cstdlib>
#include <mutex>

#include "core/io/error.h"
#include "hwy/highway.h"
#include "hwy/targets.h"

namespace sm::simd {

namespace {

int64_t usable() { return hwy::SupportedTargets() & HWY_TARGETS; }

int64_t best(int64_t targets) { return targets & -targets; }  // lowest bit = best

struct Level {
  const char* name;
  int64_t needs;     // the CPU must support one of these
  int64_t disabled;  // targets above the level
};

constexpr int64_t kAvx3 = HWY_AVX3 | HWY_AVX3_DL;
constexpr Level kLevels[] = {
    {"avx512", kAvx3, 0},
    {"avx2", HWY_AVX2, kAvx3},
    {"sse4", HWY_SSE4, kAvx3 | HWY_AVX2},
    {"scalar", HWY_SCALAR | HWY_EMU128, ~int64_t(HWY_SCALAR | HWY_EMU128)},
};

std::string level_names() {
  std::string s;
  for (const Level& l : kLevels) s += (s.empty() ? "" : "|") + std::string(l.name);
  return s;
}

}  // namespace

std::string target_name() { return hwy::TargetName(best(usable())); }

std::vector<Target> available_targets() {
  std::vector<Target> out;
  for (int64_t t = usable(); t != 0; t &= t - 1) out.push_back({best(t), hwy::TargetName(best(t))});
  return out;
}

// The targets the last cap_target disabled; a ScopedTarget lifts and restores it.
static std::atomic<int64_t> g_disabled{0};

void cap_target(const std::string& level) {
  if (level.empty() || level == "best") {
    hwy::DisableTargets(0);
    g_disabled = 0;
    return;
  }
  for (const Level& l : kLevels) {
    if (level != l.name) continue;
    hwy::DisableTargets(0);
    if (!(usable() & l.needs)) {
      std::string have;
      for (const Level& o : kLevels)
        if (usable() & o.needs) have += (have.empty() ? "" : ", ") + std::string(o.name);
      fail("SPECMAMBA_SIMD", "'" + level + "' is not available on this CPU or in this build (available: " + have + ")");
    }
    hwy::DisableTargets(l.disabled);
    g_disabled = l.disabled;
    return;
  }
  fail("SPECMAMBA_SIMD", "unknown SIMD level '" + level + "' (expected " + level_names() + ")");
}

void init_from_env() {
  static std::once_flag once;
  static std::string error;
  std::call_once(once, [] {
    const char* v = std::getenv("SPECMAMBA_SIMD");
    if (!v) return;
    try {
      cap_target(v);
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  if (!error.empty()) throw Error(error);
}

// SPECMAMBA_SIMD is judged against the CPU before the scope narrows the
// targets (read inside an AVX2-only scope, "scalar" was refused as
// unavailable); the scope then runs exactly its target, whatever the cap, and
// restores the cap when it ends.
ScopedTarget::ScopedTarget(int64_t target) {
  init_from_env();
  hwy::DisableTargets(0);
  hwy::SetSupportedTargetsForTest(target);
}
ScopedTarget::~ScopedTarget() {
  hwy::SetSupportedTargetsForTest(0);
  hwy::DisableTargets(g_disabled.load());
}

}  // namespace sm::simd
