// SPDX-License-Identifier: Apache-2.0
// HDF5 trace reader, structure-aware: the input drives the HDF5 API to write
// a well-formed HDF5 file whose contents may be wrong in every way the
// reader must catch (format and version attributes, a missing or misnamed
// /events group, datasets of the wrong class, rank, member names or member
// types, arbitrary row bytes, fixed strings without terminators). Fuzzing
// libhdf5's own binary parser is left to HDF5's maintainers: a corrupt
// file's bytes exercise their code, not ours.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/trace/trace_hdf5_format.h"
#include "core/trace/trace_hdf5_reader.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

using namespace sm::h5trace;

std::vector<std::vector<Member>> all_members() {
  return {Layout<sm::TreeDrafted>::members(),  Layout<sm::NodeDrafted>::members(),
          Layout<sm::FifoPush>::members(),     Layout<sm::NodeVerified>::members(),
          Layout<sm::AcceptDecision>::members(), Layout<sm::Backtrack>::members(),
          Layout<sm::StepSummary>::members(), Layout<sm::DeviceOp>::members()};
}
const std::vector<std::string> kNames = {
    Layout<sm::TreeDrafted>::name,  Layout<sm::NodeDrafted>::name, Layout<sm::FifoPush>::name,
    Layout<sm::FifoPop>::name,      Layout<sm::NodeVerified>::name, Layout<sm::AcceptDecision>::name,
    Layout<sm::Backtrack>::name,    Layout<sm::StepSummary>::name,  Layout<sm::DeviceOp>::name,
    "bogus"};

hid_t scalar_type(FuzzedDataProvider& f) {
  switch (f.ConsumeIntegralInRange(0, 7)) {
    case 0: return H5Tcopy(H5T_NATIVE_DOUBLE);
    case 1: return H5Tcopy(H5T_NATIVE_FLOAT);
    case 2: return H5Tcopy(H5T_NATIVE_INT32);
    case 3: return H5Tcopy(H5T_NATIVE_INT64);
    case 4: return H5Tcopy(H5T_NATIVE_UINT64);
    case 5: return H5Tcopy(H5T_NATIVE_UINT8);
    default: {
      hid_t t = H5Tcopy(H5T_C_S1);
      H5Tset_size(t, f.ConsumeBool() ? kStrLen : f.ConsumeIntegralInRange<size_t>(1, 9));
      return t;
    }
  }
}

void string_attr(hid_t obj, const std::string& name, const std::string& value) {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), value.empty() ? 1 : value.size());
  Handle sp(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj, name.c_str(), t.get(), sp.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (a.ok()) H5Awrite(a.get(), t.get(), value.empty() ? "" : value.data());
}

void int_attr(hid_t obj, const char* name, int64_t v, hid_t type) {
  Handle sp(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj, name, type, sp.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (a.ok()) H5Awrite(a.get(), H5T_NATIVE_INT64, &v);
}

void dataset(FuzzedDataProvider& f, hid_t group, const std::vector<std::vector<Member>>& layouts) {
  const std::string name = f.ConsumeBool() ? kNames[f.ConsumeIntegralInRange<size_t>(0, kNames.size() - 1)]
                                           : f.ConsumeRandomLengthString(12);
  if (name.empty() || H5Lexists(group, name.c_str(), H5P_DEFAULT) != 0) return;
  Handle type;
  if (f.ConsumeIntegralInRange(0, 5) == 0) {
    type = Handle(scalar_type(f), H5Tclose);
  } else {
    std::vector<Member> ms = layouts[f.ConsumeIntegralInRange<size_t>(0, layouts.size() - 1)];
    if (!ms.empty() && f.ConsumeIntegralInRange(0, 3) == 0)
      ms.erase(ms.begin() + f.ConsumeIntegralInRange<size_t>(0, ms.size() - 1));
    std::vector<Handle> member_types;
    size_t total = 0;
    for (size_t i = 0; i < ms.size(); ++i) {
      member_types.emplace_back(scalar_type(f), H5Tclose);
      total += H5Tget_size(member_types.back().get());
    }
    type = Handle(H5Tcreate(H5T_COMPOUND, total ? total : 1), H5Tclose);
    size_t off = 0;
    for (size_t i = 0; i < ms.size(); ++i) {
      H5Tinsert(type.get(), ms[i].name, off, member_types[i].get());
      off += H5Tget_size(member_types[i].get());
    }
  }
  const int rank = f.ConsumeIntegralInRange(0, 5) == 0 ? 2 : 1;
  hsize_t dims[2] = {f.ConsumeIntegralInRange<hsize_t>(0, 40), 2};
  Handle space(H5Screate_simple(rank, dims, nullptr), H5Sclose);
  Handle ds(H5Dcreate2(group, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            H5Dclose);
  if (!ds.ok()) return;
  const size_t bytes = H5Tget_size(type.get()) * dims[0] * (rank == 2 ? dims[1] : 1);
  std::vector<uint8_t> raw = f.ConsumeBytes<uint8_t>(bytes);
  raw.resize(bytes);
  if (bytes) H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto layouts = all_members();
  FuzzedDataProvider f(data, size);
  std::vector<uint8_t> image;
  {
    QuietErrors quiet;
    // In memory (core driver, no backing store): the image is read back below.
    Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    H5Pset_fapl_core(fapl.get(), 1 << 16, 0);
    Handle file(H5Fcreate("fuzz.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
    if (!file.ok()) return 0;
    switch (f.ConsumeIntegralInRange(0, 3)) {
      case 0: break;  // no format
      case 1: string_attr(file.get(), "format", f.ConsumeRandomLengthString(20)); break;
      case 2: int_attr(file.get(), "format", 1, H5T_NATIVE_INT32); break;
      default: string_attr(file.get(), "format", kFormat);
    }
    switch (f.ConsumeIntegralInRange(0, 3)) {
      case 0: break;
      case 1: string_attr(file.get(), "version", "1"); break;
      case 2: int_attr(file.get(), "version", f.ConsumeIntegral<int64_t>(), H5T_NATIVE_INT64); break;
      default: int_attr(file.get(), "version", f.ConsumeIntegralInRange(0, 2), H5T_NATIVE_INT32);
    }
    for (int i = f.ConsumeIntegralInRange(0, 3); i > 0; --i) {
      const std::string k = f.ConsumeRandomLengthString(12);
      if (!k.empty() && H5Aexists(file.get(), k.c_str()) == 0)
        string_attr(file.get(), k, f.ConsumeRandomLengthString(80));
    }
    if (f.ConsumeIntegralInRange(0, 7) == 0) {
      hsize_t one = 1;
      Handle sp(H5Screate_simple(1, &one, nullptr), H5Sclose);
      Handle d(H5Dcreate2(file.get(), "events", H5T_NATIVE_INT32, sp.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    } else if (f.ConsumeIntegralInRange(0, 7) != 0) {
      Handle g(H5Gcreate2(file.get(), "events", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
      for (int i = f.ConsumeIntegralInRange(0, 4); i > 0 && g.ok(); --i) dataset(f, g.get(), layouts);
    }
    H5Fflush(file.get(), H5F_SCOPE_GLOBAL);
    const ssize_t n = H5Fget_file_image(file.get(), nullptr, 0);
    if (n <= 0) return 0;
    image.resize(static_cast<size_t>(n));
    if (H5Fget_file_image(file.get(), image.data(), image.size()) != n) return 0;
  }
  sm::fuzz::expect_clean([&] { (void)sm::read_hdf5_trace_image(image.data(), image.size(), "fuzz.h5"); });
  sm::fuzz::expect_clean([&] { (void)sm::read_hdf5_trace_image_metadata(image.data(), image.size(), "fuzz.h5"); });
  return 0;
}
