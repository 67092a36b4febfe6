// SPDX-License-Identifier: Apache-2.0
#pragma once
// Reads an HDF5 trace written by make_hdf5_sink() back into events.
#include <cstddef>
#include <string>
#include <vector>

#include "core/trace/spec_events.h"

namespace sm {

// All events of the trace, sorted by t_us (ties in recording order).
// Throws sm::Error("PATH: ...") if the file is missing, not HDF5, not a
// SpecMamba trace, of a newer version, or malformed.
std::vector<Event> read_hdf5_trace(const std::string& path);

// The root attributes stored as strings (format, time_unit, producer and the
// caller's TraceMetadata); "version" is returned as its decimal text.
TraceMetadata read_hdf5_trace_metadata(const std::string& path);

// The same from an HDF5 file image in memory (what H5Fget_file_image gives),
// e.g. a trace received over a pipe; `where` names it in errors. The fuzzer
// reads through these, so no file is written per input.
std::vector<Event> read_hdf5_trace_image(const void* data, size_t size, const std::string& where);
TraceMetadata read_hdf5_trace_image_metadata(const void* data, size_t size, const std::string& where);

}  // namespace sm
