// SPDX-License-Identifier: Apache-2.0
#pragma once
// Memory for packed weights. A decode step streams every weight once; on
// 4 KiB pages a 140 MB model is ~35k pages per token, each a TLB miss on
// every stream that crosses it. Debian's kernels offer transparent huge pages
// only on request (THP "madvise"), so weights come from 2 MiB-aligned slabs
// advised MADV_HUGEPAGE. A model's matrices are packed one after another, so
// small ones (a 1 MB in_proj) share slabs instead of each rounding up to
// 2 MiB; a slab is returned to the system when its last block is freed.
// SPECMAMBA_HUGEPAGES=0 turns this off (plain aligned_alloc), for A/B runs.
#include <cstddef>

namespace sm {

// 64-byte aligned, uninitialised; throws std::bad_alloc. Thread-safe.
void* weight_alloc(size_t bytes);
void weight_free(void* p) noexcept;

struct WeightFree {
  void operator()(void* p) const noexcept { weight_free(p); }
};

// Whether weight_alloc advises huge pages (Linux, and not turned off).
bool weight_huge_pages();

}  // namespace sm
