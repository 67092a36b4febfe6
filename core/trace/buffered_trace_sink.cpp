// SPDX-License-Identifier: Apache-2.0
#include "core/trace/buffered_trace_sink.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/io/error.h"

namespace sm {

BufferedTraceSink::BufferedTraceSink(std::string path, TraceMetadata meta)
    : path_(std::move(path)), meta_(std::move(meta)) {}

BufferedTraceSink::~BufferedTraceSink() = default;

void BufferedTraceSink::finish() {
  try {
    std::lock_guard lk(mu_);
    if (dirty_ && !finished_) write_locked();
    finished_ = true;
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "specmamba: trace not written: %s\n", ex.what());
  }
}

void BufferedTraceSink::on_event(const Event& e) {
  std::lock_guard lk(mu_);
  events_.push_back(e);
  dirty_ = true;
}

void BufferedTraceSink::add_metadata(const std::string& key, const std::string& value) {
  std::lock_guard lk(mu_);
  set_metadata(meta_, key, value);
  dirty_ = true;
}

void BufferedTraceSink::flush() {
  std::lock_guard lk(mu_);
  write_locked();
}

void BufferedTraceSink::write_locked() {
  const std::string tmp = path_ + ".tmp";
  try {
    write_file(tmp, events_, meta_);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    fail(path_, std::string("cannot write trace: rename failed: ") + std::strerror(e));
  }
  dirty_ = false;
}

}  // namespace sm
