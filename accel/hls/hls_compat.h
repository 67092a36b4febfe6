// SPDX-License-Identifier: Apache-2.0
#pragma once
// What the HLS kernels in accel/hls need from Vitis HLS, for a plain C++
// compiler: under v++ (__SYNTHESIS__) the real <hls_stream.h>; otherwise a
// FIFO with the same interface (read / write / empty / full / size), bounded
// by the depth a `#pragma HLS stream depth=` line gives it in hardware, so an
// emulation that would overflow a hardware FIFO fails instead of growing.
// Kernels use fixed-width <cstdint> types (int8_t ... int64_t), which v++
// maps to ap_int of that width; `#pragma HLS` lines are ignored here
// (-Wno-unknown-pragmas for accel/hls).
#include <cstdint>

#ifdef __SYNTHESIS__
#include <hls_stream.h>
#else
#include <cstddef>
#include <deque>
#include <stdexcept>
#include <string>

namespace hls {

template <class T>
class stream {
 public:
  explicit stream(const char* name = "stream", size_t depth = 0) : name_(name), depth_(depth) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  void write(const T& v) {
    if (depth_ && q_.size() >= depth_)
      throw std::length_error(std::string("hls::stream '") + name_ + "' overflows its depth " +
                              std::to_string(depth_));
    q_.push_back(v);
  }
  T read() {
    if (q_.empty()) throw std::length_error(std::string("hls::stream '") + name_ + "' read while empty");
    T v = q_.front();
    q_.pop_front();
    return v;
  }
  void operator<<(const T& v) { write(v); }
  void operator>>(T& v) { v = read(); }
  bool empty() const { return q_.empty(); }
  bool full() const { return depth_ && q_.size() >= depth_; }
  size_t size() const { return q_.size(); }
  // The depth the hardware FIFO has (0: unbounded, emulation only).
  void set_depth(size_t depth) { depth_ = depth; }

 private:
  const char* name_;
  size_t depth_;
  std::deque<T> q_;
};

}  // namespace hls
#endif
