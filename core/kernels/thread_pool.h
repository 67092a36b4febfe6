// SPDX-License-Identifier: Apache-2.0
#pragma once
// A fixed pool of worker threads for data-parallel loops. Chunks are claimed
// from a shared counter, and the calling thread claims too: when a worker is
// slow to wake (or descheduled on a busy machine), the caller takes its
// chunks instead of waiting for it. Decode issues hundreds of short regions
// per token, so idle workers spin briefly before sleeping.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sm {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads = 1);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // parallel_for calls fn at most this many times per region.
  int max_chunks() const { return 2 * n_threads_; }

  // Calls fn(begin, end) on contiguous chunks covering [0, n); chunk sizes are
  // multiples of `align` (except the last). Blocks until all chunks are done.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                    int64_t align = 1);

 private:
  void worker();
  // Claims and runs chunks of generation `gen` until none are left.
  void drain(uint64_t gen);

  int n_threads_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> claim_{0};  // (generation << 32) | next chunk index
  std::atomic<int> done_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t job_align_ = 1;
  std::atomic<int> job_chunks_{0};  // read by late workers racing a new job
};

// Splits [0, n) into `parts` chunks aligned to `align`; chunk i is returned.
std::pair<int64_t, int64_t> chunk_range(int64_t n, int parts, int i, int64_t align);

}  // namespace sm
