// SPDX-License-Identifier: Apache-2.0
#include "core/kernels/weight_memory.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#define SM_WEIGHT_MMAP 1
#else
#define SM_WEIGHT_MMAP 0
#endif

namespace sm {
namespace {

constexpr size_t kHuge = size_t(2) << 20;
constexpr size_t kSlab = size_t(32) << 20;  // blocks above half a slab get a mapping of their own
constexpr size_t kAlign = 64;

size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

bool huge_enabled() {
  static const bool on = [] {
    if (!SM_WEIGHT_MMAP) return false;
    const char* v = std::getenv("SPECMAMBA_HUGEPAGES");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

#if SM_WEIGHT_MMAP
struct Slab {
  size_t size = 0, used = 0;
  int64_t live = 0;
};

class Slabs {
 public:
  void* alloc(size_t bytes) {
    bytes = round_up(std::max<size_t>(bytes, 1), kAlign);
    std::lock_guard<std::mutex> lock(mu_);
    if (bytes > kSlab / 2) return take(map(round_up(bytes, kHuge)), bytes, false);
    if (!current_ || slabs_[current_].used + bytes > slabs_[current_].size) current_ = map(kSlab);
    return take(current_, bytes, true);
  }

  // False if p is not from a slab (allocated while huge pages were off).
  bool free(void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = slabs_.upper_bound(reinterpret_cast<uintptr_t>(p));
    if (it == slabs_.begin()) return false;
    --it;
    if (reinterpret_cast<uintptr_t>(p) >= it->first + it->second.size) return false;
    if (--it->second.live > 0) return true;
    if (it->first == current_) {
      it->second.used = 0;  // keep the current slab for the next model
      return true;
    }
    munmap(reinterpret_cast<void*>(it->first), it->second.size);
    slabs_.erase(it);
    return true;
  }

 private:
  // A 2 MiB-aligned mapping of `size` bytes (a multiple of 2 MiB).
  uintptr_t map(size_t size) {
    void* raw = mmap(nullptr, size + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const uintptr_t r = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t base = round_up(r, kHuge);
    if (base > r) munmap(raw, base - r);
    if (r + size + kHuge > base + size) munmap(reinterpret_cast<void*>(base + size), r + kHuge - base);
    madvise(reinterpret_cast<void*>(base), size, MADV_HUGEPAGE);  // advice: failure only costs speed
    slabs_[base] = Slab{size, 0, 0};
    return base;
  }

  void* take(uintptr_t base, size_t bytes, bool shared) {
    Slab& s = slabs_[base];
    void* p = reinterpret_cast<void*>(base + s.used);
    s.used += shared ? bytes : s.size;
    ++s.live;
    return p;
  }

  std::mutex mu_;
  std::map<uintptr_t, Slab> slabs_;
  uintptr_t current_ = 0;
};

Slabs& slabs() {
  static Slabs* s = new Slabs;  // never destroyed: weights may outlive static destructors
  return *s;
}
#endif

}  // namespace

bool weight_huge_pages() { return huge_enabled(); }

void* weight_alloc(size_t bytes) {
#if SM_WEIGHT_MMAP
  if (huge_enabled()) return slabs().alloc(bytes);
#endif
  void* p = std::aligned_alloc(kAlign, round_up(std::max<size_t>(bytes, 1), kAlign));
  if (!p) throw std::bad_alloc();
  return p;
}

void weight_free(void* p) noexcept {
  if (!p) return;
#if SM_WEIGHT_MMAP
  if (huge_enabled() && slabs().free(p)) return;
#endif
  std::free(p);
}

}  // namespace sm
