// SPDX-License-Identifier: Apache-2.0
#include "core/kernels/thread_pool.h"

#include <algorithm>
#include <chrono>

#include "core/kernels/math_kernels.h"

namespace sm {

std::pair<int64_t, int64_t> chunk_range(int64_t n, int parts, int i, int64_t align) {
  const int64_t units = (n + align - 1) / align;
  const int64_t base = units / parts, extra = units % parts;
  const int64_t u0 = i * base + std::min<int64_t>(i, extra);
  const int64_t u1 = u0 + base + (i < extra ? 1 : 0);
  return {std::min(n, u0 * align), std::min(n, u1 * align)};
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this] { worker(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::drain(uint64_t gen) {
  uint64_t w = claim_.load(std::memory_order_acquire);
  for (;;) {
    if ((w >> 32) != (gen & 0xffffffffu)) return;  // a newer job, or none
    const int idx = static_cast<int>(w & 0xffffffffu);
    if (idx >= job_chunks_.load(std::memory_order_relaxed)) return;
    if (!claim_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel)) continue;
    // The caller cannot finish (and replace the job) before this chunk is done.
    auto [b, e] = chunk_range(job_n_, job_chunks_, idx, job_align_);
    (*job_)(b, e);
    done_.fetch_add(1, std::memory_order_release);
    w = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                              int64_t align) {
  if (n <= 0) return;
  align = std::max<int64_t>(1, align);
  const int64_t units = (n + align - 1) / align;
  // Two chunks per thread: a late worker leaves less for the caller to finish.
  const int chunks = static_cast<int>(std::min<int64_t>(max_chunks(), units));
  if (n_threads_ == 1 || chunks <= 1) {
    fn(0, n);
    return;
  }
  job_ = &fn;
  job_n_ = n;
  job_align_ = align;
  job_chunks_.store(chunks, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  uint64_t gen;
  {
    std::lock_guard<std::mutex> lock(mu_);
    gen = generation_.load() + 1;
    claim_.store((gen & 0xffffffffu) << 32, std::memory_order_release);
    generation_.store(gen, std::memory_order_release);
  }
  cv_.notify_all();
  drain(gen);
  while (done_.load(std::memory_order_acquire) != chunks) std::this_thread::yield();
}

void ThreadPool::worker() {
  flush_subnormals_on_this_thread();
  uint64_t seen = 0;
  for (;;) {
    // Spin for a short while: the next parallel region usually follows within
    // microseconds during decode.
    const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
    while (generation_.load(std::memory_order_acquire) == seen &&
           std::chrono::steady_clock::now() < spin_until) {
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return generation_.load() != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_) return;
    drain(seen);
  }
}

}  // namespace sm
