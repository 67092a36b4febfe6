// SPDX-License-Identifier: Apache-2.0
// weight_alloc: alignment, no overlap between live blocks, blocks of every
// size class (shared slabs and own mappings), frees in any order, and huge
// pages where the kernel gives them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/kernels/weight_memory.h"

namespace sm {
namespace {

struct Block {
  uint8_t* p;
  size_t n;
  uint8_t tag;
};

TEST(WeightMemory, AlignedDisjointAndIntactUnderRandomFrees) {
  std::mt19937 rng(7);
  const size_t sizes[] = {1, 63, 64, 4096, 100000, (size_t(1) << 20) + 5, (size_t(3) << 20), (size_t(17) << 20),
                          (size_t(40) << 20)};
  std::vector<Block> live;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 24; ++i) {
      const size_t n = sizes[rng() % std::size(sizes)];
      auto* p = static_cast<uint8_t*>(weight_alloc(n));
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << n;
      const auto tag = static_cast<uint8_t>(rng());
      std::memset(p, tag, n);
      live.push_back({p, n, tag});
    }
    // No two live blocks overlap.
    std::vector<Block> sorted = live;
    std::sort(sorted.begin(), sorted.end(), [](const Block& a, const Block& b) { return a.p < b.p; });
    for (size_t i = 1; i < sorted.size(); ++i) EXPECT_LE(sorted[i - 1].p + sorted[i - 1].n, sorted[i].p);
    // Free half in random order; the rest must be untouched.
    std::shuffle(live.begin(), live.end(), rng);
    const size_t keep = live.size() / 2;
    for (size_t i = keep; i < live.size(); ++i) weight_free(live[i].p);
    live.resize(keep);
    for (const Block& b : live) {
      EXPECT_EQ(b.p[0], b.tag);
      EXPECT_EQ(b.p[b.n - 1], b.tag);
      EXPECT_EQ(b.p[b.n / 2], b.tag);
    }
  }
  for (const Block& b : live) weight_free(b.p);
  weight_free(nullptr);  // a no-op, as free(nullptr)
}

// Freeing everything and allocating again reuses memory rather than growing
// without bound (the GUI loads model after model).
TEST(WeightMemory, ReloadingDoesNotGrowTheAddressSpace) {
  auto mapped_kb = [] {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind("VmSize:", 0) == 0) return std::strtoll(line.c_str() + 7, nullptr, 10);
    return 0LL;
  };
  auto load = [] {
    std::vector<void*> v;
    for (int i = 0; i < 50; ++i) v.push_back(weight_alloc(size_t(1) << 20));
    v.push_back(weight_alloc(size_t(38) << 20));
    for (void* p : v) std::memset(p, 1, 64);
    for (void* p : v) weight_free(p);
  };
  load();
  const long long after_first = mapped_kb();
  for (int i = 0; i < 10; ++i) load();
  if (after_first == 0) GTEST_SKIP() << "no /proc/self/status";
  EXPECT_LE(mapped_kb(), after_first + 64 * 1024) << "10 reloads grew the address space";
}

TEST(WeightMemory, LargeBlocksGetHugePagesWhenTheKernelOffersThem) {
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode;
  std::getline(thp, mode);
  if (!weight_huge_pages() || mode.find("[never]") != std::string::npos || mode.empty())
    GTEST_SKIP() << "huge pages off (SPECMAMBA_HUGEPAGES=0, not Linux, or THP never)";
  const size_t n = size_t(64) << 20;
  auto* p = static_cast<uint8_t*>(weight_alloc(n));
  std::memset(p, 1, n);
  // AnonHugePages of the mapping that holds p, from /proc/self/smaps.
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in = false;
  long long huge_kb = -1;
  while (std::getline(smaps, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
      in = reinterpret_cast<uintptr_t>(p) >= lo && reinterpret_cast<uintptr_t>(p) < hi;
    } else if (in && line.rfind("AnonHugePages:", 0) == 0) {
      huge_kb = std::strtoll(line.c_str() + 14, nullptr, 10);
      break;
    }
  }
  weight_free(p);
  // The kernel may be short of free 2 MiB pages; most of 64 MiB should still be huge.
  EXPECT_GE(huge_kb, 32 * 1024) << "AnonHugePages of the weight mapping (kB)";
}

}  // namespace
}  // namespace sm
