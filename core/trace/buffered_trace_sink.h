// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shared shape of the file trace sinks: events are buffered under a mutex and
// the whole file is written on flush() (and on destruction if anything is
// unwritten) to PATH.tmp, then renamed over PATH, so a failed write never
// leaves a half-written trace behind.
#include <mutex>
#include <string>
#include <vector>

#include "core/trace/spec_events.h"

namespace sm {

class BufferedTraceSink : public EventSink {
 public:
  BufferedTraceSink(std::string path, TraceMetadata meta);
  ~BufferedTraceSink() override;  // never throws; reports to stderr
  void on_event(const Event& e) override;
  void flush() override;
  void add_metadata(const std::string& key, const std::string& value) override;

 protected:
  // Writes the complete trace to `tmp`; throws sm::Error on failure.
  virtual void write_file(const std::string& tmp, const std::vector<Event>& events,
                          const TraceMetadata& meta) = 0;
  const std::string& path() const { return path_; }
  // Derived destructors must call this: write_file is theirs.
  void finish();

 private:
  void write_locked();

  std::string path_;
  TraceMetadata meta_;
  std::mutex mu_;
  std::vector<Event> events_;
  bool dirty_ = true;  // an unflushed sink writes its (possibly empty) trace on destruction
  bool finished_ = false;
};

}  // namespace sm
