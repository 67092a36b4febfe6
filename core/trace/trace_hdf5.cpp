// SPDX-License-Identifier: Apache-2.0
// HDF5 trace sink: buffers events and writes one compound dataset per event
// type under /events at flush() (layout in core/trace_hdf5_format.h).
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <type_traits>

#include "core/trace/buffered_trace_sink.h"
#include "core/io/error.h"
#include "core/trace/spec_events.h"
#include "core/trace/trace_hdf5_format.h"

namespace sm {
namespace {

using namespace h5trace;

constexpr size_t kWriteBatch = 1u << 16;  // rows converted and written per H5Dwrite

bool deflate_available() {
  if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0) return false;
  unsigned int info = 0;
  if (H5Zget_filter_info(H5Z_FILTER_DEFLATE, &info) < 0) return false;
  return (info & H5Z_FILTER_CONFIG_ENCODE_ENABLED) != 0;
}

void write_string_attr(hid_t obj, const char* name, const std::string& value, const std::string& path) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  if (!type.ok() || H5Tset_size(type.get(), H5T_VARIABLE) < 0 || H5Tset_cset(type.get(), H5T_CSET_UTF8) < 0)
    h5fail(path, "cannot create string type");
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);  // a repeated metadata key: last wins
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* p = value.c_str();
  if (!attr.ok() || H5Awrite(attr.get(), type.get(), &p) < 0)
    h5fail(path, std::string("cannot write attribute ") + name);
}

void write_int_attr(hid_t obj, const char* name, int32_t value, const std::string& path) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(obj, name, H5T_STD_I32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.ok() || H5Awrite(attr.get(), H5T_NATIVE_INT32, &value) < 0)
    h5fail(path, std::string("cannot write attribute ") + name);
}

// Writes /events/<name> from the events at `indices` (all of payload type P).
template <class P>
void write_dataset(hid_t group, const std::vector<Event>& events, const std::vector<uint32_t>& indices,
                   bool deflate, const std::string& path) {
  using L = Layout<P>;
  using Row = typename L::Row;
  const std::string where = std::string("/events/") + L::name;

  Handle mem = compound_type<Row>(L::members());
  if (!mem.ok()) h5fail(path, "cannot build the type of " + where);
  Handle file_type(H5Tcopy(mem.get()), H5Tclose);
  if (!file_type.ok() || H5Tpack(file_type.get()) < 0) h5fail(path, "cannot build the type of " + where);

  const hsize_t n = indices.size();
  const hsize_t maxdims = H5S_UNLIMITED;
  Handle space(H5Screate_simple(1, &n, &maxdims), H5Sclose);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  const hsize_t chunk = kChunkRows;
  if (!space.ok() || !dcpl.ok() || H5Pset_chunk(dcpl.get(), 1, &chunk) < 0)
    h5fail(path, "cannot set up " + where);
  if (deflate && (H5Pset_shuffle(dcpl.get()) < 0 || H5Pset_deflate(dcpl.get(), kDeflateLevel) < 0))
    h5fail(path, "cannot enable compression for " + where);
  Handle ds(H5Dcreate2(group, L::name, file_type.get(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
            H5Dclose);
  if (!ds.ok()) h5fail(path, "cannot create " + where);
  write_string_attr(ds.get(), "event", event_name(EventPayload(P{})), path);

  std::vector<Row> rows;
  rows.reserve(std::min<size_t>(indices.size(), kWriteBatch));
  for (size_t start = 0; start < indices.size(); start += kWriteBatch) {
    const size_t count = std::min(kWriteBatch, indices.size() - start);
    rows.assign(count, Row{});
    for (size_t i = 0; i < count; ++i) {
      const uint32_t idx = indices[start + i];
      const Event& e = events[idx];
      Row& r = rows[i];
      r.t_us = e.t_us;
      r.dur_us = e.dur_us;
      r.step = e.step;
      r.seq = idx;
      L::fill(r, std::get<P>(e.payload));
    }
    const hsize_t off = start, cnt = count;
    Handle fspace(H5Dget_space(ds.get()), H5Sclose);
    Handle mspace(H5Screate_simple(1, &cnt, nullptr), H5Sclose);
    if (!fspace.ok() || !mspace.ok() ||
        H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &off, nullptr, &cnt, nullptr) < 0 ||
        H5Dwrite(ds.get(), mem.get(), mspace.get(), fspace.get(), H5P_DEFAULT, rows.data()) < 0)
      h5fail(path, "cannot write " + where);
  }
}

// /events/device_op_measured beside device_op (rows `indices`), only when
// some op was measured on a board.
void write_measured_flags(hid_t group, const std::vector<Event>& events, const std::vector<uint32_t>& indices,
                          const std::string& path) {
  std::vector<uint8_t> flags(indices.size());
  bool any = false;
  for (size_t i = 0; i < indices.size(); ++i) {
    flags[i] = std::get<DeviceOp>(events[indices[i]].payload).measured ? 1 : 0;
    any = any || flags[i] != 0;
  }
  if (!any) return;
  const std::string where = std::string("/events/") + kDeviceOpMeasured;
  const hsize_t n = flags.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Handle ds(H5Dcreate2(group, kDeviceOpMeasured, H5T_STD_U8LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            H5Dclose);
  if (!space.ok() || !ds.ok() || H5Dwrite(ds.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, flags.data()) < 0)
    h5fail(path, "cannot write " + where);
}

void write_hdf5_file(const std::string& path, const std::string& tmp, const std::vector<Event>& events,
                const TraceMetadata& meta) {
  QuietErrors quiet;
  std::array<std::vector<uint32_t>, std::variant_size_v<EventPayload>> by_type;
  for (size_t i = 0; i < events.size(); ++i) by_type[events[i].payload.index()].push_back(static_cast<uint32_t>(i));

  // Track attribute creation order on the root so metadata reads back in order.
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  if (!fcpl.ok() || H5Pset_attr_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0)
    h5fail(path, "cannot set up HDF5 file properties");
  Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT), H5Fclose);
  if (!file.ok()) h5fail(path, "cannot create HDF5 trace");
  write_string_attr(file.get(), "format", kFormat, path);
  write_int_attr(file.get(), "version", kVersion, path);
  write_string_attr(file.get(), "time_unit", "us", path);
  write_string_attr(file.get(), "producer", "SpecMamba Studio", path);
  for (const auto& [k, v] : meta) {
    if (k == "format" || k == "version") continue;  // reserved
    write_string_attr(file.get(), k.c_str(), v, path);
  }

  Handle group(H5Gcreate2(file.get(), "events", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  if (!group.ok()) h5fail(path, "cannot create group /events");
  const bool deflate = deflate_available();
  size_t type_index = 0;
  for_each_layout([&]<class P>() {
    write_dataset<P>(group.get(), events, by_type[type_index], deflate, path);
    if constexpr (std::is_same_v<P, DeviceOp>) write_measured_flags(group.get(), events, by_type[type_index], path);
    ++type_index;
  });
  group.reset();
  if (file.close() < 0) h5fail(path, "cannot write HDF5 trace");
}

class Hdf5TraceSink : public BufferedTraceSink {
 public:
  using BufferedTraceSink::BufferedTraceSink;
  ~Hdf5TraceSink() override { finish(); }

 private:
  void write_file(const std::string& tmp, const std::vector<Event>& events,
                  const TraceMetadata& meta) override {
    if (events.size() > UINT32_MAX) fail(path(), "too many events for one trace");
    write_hdf5_file(path(), tmp, events, meta);
  }
};

}  // namespace

std::unique_ptr<EventSink> make_hdf5_sink(const std::string& path, const TraceMetadata& metadata) {
  if (path.empty()) fail("trace", "empty output path");
  return std::make_unique<Hdf5TraceSink>(path, metadata);
}

}  // namespace sm
