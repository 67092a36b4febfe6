// SPDX-License-Identifier: Apache-2.0
#include "core/trace/trace_hdf5_reader.h"

#include <cstring>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <type_traits>

#include "core/io/error.h"
#include "core/trace/trace_hdf5_format.h"

namespace sm {
namespace {

using namespace h5trace;

constexpr hsize_t kReadBatch = 1u << 16;

using h5::read_int_attr;
using h5::read_string_attr;

void check_trace(hid_t file_id, const std::string& path);

// Opens the file and checks that it is a SpecMamba trace this reader knows.
Handle open_trace(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(path, "no such file");
  if (std::filesystem::is_directory(path, ec)) fail(path, "is a directory, not an HDF5 trace");
  const htri_t is_h5 = H5Fis_hdf5(path.c_str());
  if (is_h5 < 0) h5fail(path, "cannot read file");
  if (is_h5 == 0) fail(path, "not an HDF5 file");
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) h5fail(path, "cannot open HDF5 file");
  check_trace(file.get(), path);
  return file;
}

// An HDF5 file image in memory, through the core driver (copied, no backing file).
Handle open_trace_image(const void* data, size_t size, const std::string& where) {
  if (!data || size == 0) fail(where, "empty HDF5 image");
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.ok() || H5Pset_fapl_core(fapl.get(), 1 << 16, 0) < 0 ||
      H5Pset_file_image(fapl.get(), const_cast<void*>(data), size) < 0)
    h5fail(where, "cannot set up an in-memory HDF5 file");
  Handle file(H5Fopen(where.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!file.ok()) h5fail(where, "not an HDF5 file image");
  check_trace(file.get(), where);
  return file;
}

void check_trace(hid_t file_id, const std::string& path) {
  std::string format;
  if (!read_string_attr(file_id, "format", format) || format != kFormat)
    fail(path, "not a SpecMamba trace (root attribute format != \"specmamba-trace\")");
  int64_t version = 0;
  if (!read_int_attr(file_id, "version", version)) fail(path, "trace has no integer version attribute");
  if (version < 1 || version > kVersion)
    fail(path, "unsupported trace version " + std::to_string(version) + " (this build reads version " +
                   std::to_string(kVersion) + ")");
}

bool is_late_field(const char* name) {
  for (const char* late : {"draft_us", "verify_us", "accept_us", "backtrack_us", "sim_us"})
    if (std::strcmp(name, late) == 0) return true;
  return false;
}

template <class P>
void read_dataset(hid_t group, const std::string& path, std::vector<Event>& out, std::vector<uint64_t>& seqs) {
  using L = Layout<P>;
  using Row = typename L::Row;
  const std::string where = std::string("/events/") + L::name;
  const htri_t exists = H5Lexists(group, L::name, H5P_DEFAULT);
  if (exists < 0) h5fail(path, "cannot look up " + where);
  if (exists == 0) return;  // no events of this type

  Handle ds(H5Dopen2(group, L::name, H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) h5fail(path, "cannot open " + where);
  Handle ftype(H5Dget_type(ds.get()), H5Tclose);
  if (!ftype.ok() || H5Tget_class(ftype.get()) != H5T_COMPOUND) fail(path, where + " is not a compound dataset");
  // Fields added to the format later (the step phase times, sim_us) may be missing
  // from older traces: they read as 0. Any other missing field is an error.
  std::vector<Member> present;
  for (const Member& m : L::members()) {
    if (H5Tget_member_index(ftype.get(), m.name) < 0) {
      H5Eclear2(H5E_DEFAULT);
      if (!is_late_field(m.name)) fail(path, where + " has no field \"" + m.name + "\"");
      continue;
    }
    present.push_back(m);
  }
  Handle fspace(H5Dget_space(ds.get()), H5Sclose);
  if (!fspace.ok() || H5Sget_simple_extent_ndims(fspace.get()) != 1) fail(path, where + " is not one-dimensional");
  hsize_t n = 0;
  H5Sget_simple_extent_dims(fspace.get(), &n, nullptr);
  Handle mem = compound_type<Row>(present);
  if (!mem.ok()) h5fail(path, "cannot build the type of " + where);

  std::vector<Row> rows;
  for (hsize_t start = 0; start < n; start += kReadBatch) {
    const hsize_t count = std::min(kReadBatch, n - start);
    rows.assign(count, Row{});
    Handle mspace(H5Screate_simple(1, &count, nullptr), H5Sclose);
    if (!mspace.ok() || H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr) < 0 ||
        H5Dread(ds.get(), mem.get(), mspace.get(), fspace.get(), H5P_DEFAULT, rows.data()) < 0)
      h5fail(path, "cannot read " + where);
    for (const Row& r : rows) {
      Event e;
      e.t_us = r.t_us;
      e.dur_us = r.dur_us;
      e.step = r.step;
      e.payload = L::payload(r);
      out.push_back(std::move(e));
      seqs.push_back(r.seq);
    }
  }
}

// Sets DeviceOp::measured of events[first...] (device_op's rows in order) from
// /events/device_op_measured; absent (older traces, or nothing measured):
// every op stays predicted.
void read_measured_flags(hid_t group, const std::string& path, std::vector<Event>& events, size_t first) {
  const std::string where = std::string("/events/") + kDeviceOpMeasured;
  const htri_t exists = H5Lexists(group, kDeviceOpMeasured, H5P_DEFAULT);
  if (exists < 0) h5fail(path, "cannot look up " + where);
  if (exists == 0) return;
  Handle ds(H5Dopen2(group, kDeviceOpMeasured, H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) h5fail(path, "cannot open " + where);
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  hsize_t n = 0;
  if (!space.ok() || H5Sget_simple_extent_ndims(space.get()) != 1) fail(path, where + " is not one-dimensional");
  H5Sget_simple_extent_dims(space.get(), &n, nullptr);
  if (n != events.size() - first)
    fail(path, where + " has " + std::to_string(n) + " rows for " + std::to_string(events.size() - first) +
                   " device ops");
  std::vector<uint8_t> flags(n);
  if (n > 0 && H5Dread(ds.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, flags.data()) < 0)
    h5fail(path, "cannot read " + where);
  for (size_t i = 0; i < n; ++i) std::get<DeviceOp>(events[first + i].payload).measured = flags[i] != 0;
}

std::vector<Event> read_events(const Handle& file, const std::string& path) {
  const htri_t has_events = H5Lexists(file.get(), "events", H5P_DEFAULT);
  if (has_events <= 0) fail(path, "not a SpecMamba trace (no /events group)");
  Handle group(H5Gopen2(file.get(), "events", H5P_DEFAULT), H5Gclose);
  if (!group.ok()) h5fail(path, "cannot open /events");

  std::vector<Event> events;
  std::vector<uint64_t> seqs;
  for_each_layout([&]<class P>() {
    const size_t first = events.size();
    read_dataset<P>(group.get(), path, events, seqs);
    if constexpr (std::is_same_v<P, DeviceOp>) read_measured_flags(group.get(), path, events, first);
  });

  std::vector<size_t> order(events.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (events[a].t_us != events[b].t_us) return events[a].t_us < events[b].t_us;
    return seqs[a] < seqs[b];
  });
  std::vector<Event> sorted;
  sorted.reserve(events.size());
  for (size_t i : order) sorted.push_back(std::move(events[i]));
  return sorted;
}

TraceMetadata read_metadata(const Handle& file, const std::string& path) {
  H5O_info_t info;
  if (H5Oget_info2(file.get(), &info, H5O_INFO_NUM_ATTRS) < 0) h5fail(path, "cannot read root attributes");
  TraceMetadata meta;
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    const ssize_t len = H5Aget_name_by_idx(file.get(), ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, nullptr, 0,
                                           H5P_DEFAULT);
    std::string name;
    if (len < 0) {
      // Creation order is not tracked unless requested; fall back to name order.
      H5Eclear2(H5E_DEFAULT);
      const ssize_t l2 = H5Aget_name_by_idx(file.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (l2 < 0) h5fail(path, "cannot read root attributes");
      name.resize(static_cast<size_t>(l2) + 1);
      H5Aget_name_by_idx(file.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    } else {
      name.resize(static_cast<size_t>(len) + 1);
      H5Aget_name_by_idx(file.get(), ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    }
    name.resize(std::strlen(name.c_str()));
    std::string value;
    int64_t iv = 0;
    if (read_string_attr(file.get(), name.c_str(), value)) meta.emplace_back(name, value);
    else if (read_int_attr(file.get(), name.c_str(), iv)) meta.emplace_back(name, std::to_string(iv));
  }
  return meta;
}

}  // namespace

std::vector<Event> read_hdf5_trace(const std::string& path) {
  QuietErrors quiet;
  return read_events(open_trace(path), path);
}

TraceMetadata read_hdf5_trace_metadata(const std::string& path) {
  QuietErrors quiet;
  return read_metadata(open_trace(path), path);
}

std::vector<Event> read_hdf5_trace_image(const void* data, size_t size, const std::string& where) {
  QuietErrors quiet;
  return read_events(open_trace_image(data, size, where), where);
}

TraceMetadata read_hdf5_trace_image_metadata(const void* data, size_t size, const std::string& where) {
  QuietErrors quiet;
  return read_metadata(open_trace_image(data, size, where), where);
}

}  // namespace sm
