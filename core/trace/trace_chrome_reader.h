// SPDX-License-Identifier: Apache-2.0
#pragma once
// Reads a Chrome trace-event JSON file written by make_chrome_trace_sink()
// back into events, so the GUI can browse a trace from `specmamba generate
// --trace run.json` as it browses an HDF5 one.
#include <string>
#include <string_view>
#include <vector>

#include "core/trace/spec_events.h"

namespace sm {

struct ChromeTrace {
  std::vector<Event> events;  // file order (the writer sorts by t_us)
  TraceMetadata metadata;     // "metadata" members as text ("version" as its decimal text)
};

// Parses trace text; `where` names it in errors. Throws sm::Error("WHERE: ...")
// for text that is not JSON, not a SpecMamba trace, of a newer version, or
// has an event with a missing or mistyped field (naming the event's index).
// Streams the events (no whole-file DOM), so million-event traces stay small.
ChromeTrace parse_chrome_trace(std::string_view text, const std::string& where);

// Reads PATH (mapped) and parses it.
ChromeTrace read_chrome_trace(const std::string& path);

}  // namespace sm
