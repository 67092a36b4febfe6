// SPDX-License-Identifier: Apache-2.0
#include "core/trace/spec_events.h"

#include <type_traits>

namespace sm {

const char* event_name(const EventPayload& p) {
  return std::visit(
      [](const auto& v) -> const char* {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, TreeDrafted>) return "TreeDrafted";
        else if constexpr (std::is_same_v<T, NodeDrafted>) return "NodeDrafted";
        else if constexpr (std::is_same_v<T, FifoPush>) return "FifoPush";
        else if constexpr (std::is_same_v<T, FifoPop>) return "FifoPop";
        else if constexpr (std::is_same_v<T, NodeVerified>) return "NodeVerified";
        else if constexpr (std::is_same_v<T, AcceptDecision>) return "AcceptDecision";
        else if constexpr (std::is_same_v<T, Backtrack>) return "Backtrack";
        else if constexpr (std::is_same_v<T, StepSummary>) return "StepSummary";
        else if constexpr (std::is_same_v<T, DeviceOp>) return "DeviceOp";
      },
      p);
}

void MemoryEventSink::on_event(const Event& e) {
  std::lock_guard lk(mu_);
  events_.push_back(e);
}

std::vector<Event> MemoryEventSink::snapshot() const {
  std::lock_guard lk(mu_);
  return events_;
}

std::vector<Event> MemoryEventSink::take_since(size_t& cursor) const {
  std::lock_guard lk(mu_);
  if (cursor > events_.size()) cursor = 0;  // cleared since the last call
  std::vector<Event> out(events_.begin() + static_cast<std::ptrdiff_t>(cursor), events_.end());
  cursor = events_.size();
  return out;
}

size_t MemoryEventSink::size() const {
  std::lock_guard lk(mu_);
  return events_.size();
}

void MemoryEventSink::clear() {
  std::lock_guard lk(mu_);
  std::vector<Event>().swap(events_);  // also release the memory
  meta_.clear();
}

void MemoryEventSink::add_metadata(const std::string& key, const std::string& value) {
  std::lock_guard lk(mu_);
  set_metadata(meta_, key, value);
}

TraceMetadata MemoryEventSink::metadata() const {
  std::lock_guard lk(mu_);
  return meta_;
}

void set_metadata(TraceMetadata& meta, const std::string& key, const std::string& value) {
  for (auto& [k, v] : meta)
    if (k == key) {
      v = value;
      return;
    }
  meta.emplace_back(key, value);
}

std::string format_id_list(std::span<const int32_t> ids) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  return out;
}

}  // namespace sm
