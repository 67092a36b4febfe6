// SPDX-License-Identifier: Apache-2.0
#pragma once
// Which SIMD target the kernels run on. Every hot kernel is compiled once per
// x86 target (Highway's foreach_target: AVX3 = AVX-512, AVX2 + FMA, SSE4 and
// a portable scalar baseline) and dispatched at run time to the best one the
// CPU supports, so one binary runs everywhere. Results are bit-identical
// between the decode, batched, tree and prefill paths on any one target;
// different targets may differ in the last bits (vector width changes the
// order of the dot-product reductions).
#include <cstdint>
#include <string>
#include <vector>

namespace sm::simd {

// Name of the target the kernels dispatch to now: "AVX3", "AVX2", "SSE4", "SCALAR"...
std::string target_name();

// Every compiled target this CPU can run, best first, with its name.
struct Target {
  int64_t bits;
  std::string name;
};
std::vector<Target> available_targets();

// Caps dispatch at a level: "avx512", "avx2", "sse4" or "scalar" (or "" /
// "best" for no cap). Throws sm::Error naming the problem for an unknown level
// or one this CPU cannot run.
void cap_target(const std::string& level);

// Applies SPECMAMBA_SIMD from the environment (once; later calls rethrow the
// first error). Called by model loading and by both programs' main().
void init_from_env();

// For tests: dispatch to exactly `target` (one of available_targets()) while
// alive, whatever SPECMAMBA_SIMD caps, then back to the cap.
class ScopedTarget {
 public:
  explicit ScopedTarget(int64_t target);
  ~ScopedTarget();
  ScopedTarget(const ScopedTarget&) = delete;
  ScopedTarget& operator=(const ScopedTarget&) = delete;
};

}  // namespace sm::simd
