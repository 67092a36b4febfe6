// SPDX-License-Identifier: Apache-2.0
#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>

#include "core/math_kernels.h"

namespace sm {

std::pair<int64_t, int64_t> chunk_range(int64_t n, int parts, int i, int64_t align) {
  const int64_t units = (n + align - 1) / align;
  const int64_t base = units / parts, extra = units % parts;
  const int64_t u0 = i * base + std::min<int64_t>(i, extra);
  const int64_t u1 = u0 + base + (i < extra ? 1 : 0);
  return {std::min(n, u0 * align), std::min(n, u1 * align)};
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
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

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                              int64_t align) {
  if (n <= 0) return;
  align = std::max<int64_t>(1, align);
  const int64_t units = (n + align - 1) / align;
  const int chunks = static_cast<int>(std::min<int64_t>(n_threads_, units));
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    job_n_ = n;
    job_align_ = align;
    job_chunks_ = chunks;
    pending_.store(n_threads_ - 1);
    generation_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_all();
  auto [b, e] = chunk_range(n, chunks, 0, align);
  fn(b, e);
  while (pending_.load(std::memory_order_acquire) != 0) {
    std::this_thread::yield();
  }
}

void ThreadPool::worker(int index) {
  flush_subnormals_on_this_thread();
  uint64_t seen = 0;
  for (;;) {
    // Spin for a short while: the next parallel region usually follows within
    // microseconds during decode.
    const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
    while (generation_.load(std::memory_order_acquire) == seen &&
           std::chrono::steady_clock::now() < spin_until) {
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return generation_.load() != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_) return;
    const std::function<void(int64_t, int64_t)>* job;
    int64_t n, align;
    int chunks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      job = job_;
      n = job_n_;
      align = job_align_;
      chunks = job_chunks_;
    }
    if (index < chunks) {
      auto [b, e] = chunk_range(n, chunks, index, align);
      (*job)(b, e);
    }
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace sm
