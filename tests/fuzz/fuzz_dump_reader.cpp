// SPDX-License-Identifier: Apache-2.0
// The activation dump reader (core/dump/dump_reader.h, docs/dump-format.md),
// structure-aware as fuzz_hdf5_trace: the input drives the HDF5 API to write
// a well-formed HDF5 file (to a temporary .h5, since the reader opens paths)
// whose contents may be wrong in every way the reader must catch — format,
// version and other root attributes of any type, shape or length (tracked in
// creation order or not), /tokens, /token_index and /layers as datasets,
// groups or dangling links, layer groups with index names and tensor names
// (with their _codes, _exponent and _unrotated forms) or anything else,
// datasets of any class, rank, size (also huge, unwritten), layout and
// filter, with bits / group attributes of any type, and arbitrary bytes.
// The reader then does what `specmamba dump-info` does, on a few rows: open,
// list, describe, read slices (in range and out of it), tokens, token index.
// libhdf5's own binary parser is HDF5's to fuzz; only rejections through
// sm::Error are accepted here.
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <string>
#include <vector>

#include "core/dump/dump_reader.h"
#include "core/io/hdf5_util.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

using sm::h5::Handle;
using sm::h5::QuietErrors;

std::string temp_path() {
  static const std::string p = [] {
    const char* dir = std::getenv("TMPDIR");
    std::string d = dir && *dir ? dir : "/tmp";
    return d + "/fuzz_dump_reader-" + std::to_string(getpid()) + ".h5";
  }();
  return p;
}
void remove_temp() { std::remove(temp_path().c_str()); }

std::string tensor_name(FuzzedDataProvider& f) {
  if (f.ConsumeIntegralInRange(0, 7) == 0) return f.ConsumeRandomLengthString(16);
  const auto n = std::size(sm::kDumpLayerTensors);
  std::string s = sm::kDumpLayerTensors[f.ConsumeIntegralInRange<size_t>(0, n - 1)];
  switch (f.ConsumeIntegralInRange(0, 5)) {
    case 0: s += sm::kDumpCodesSuffix; break;
    case 1: s += sm::kDumpExponentSuffix; break;
    case 2: s += sm::kDumpUnrotatedSuffix; break;
    case 3: s = f.ConsumeBool() ? sm::kDumpCodesSuffix : s + sm::kDumpCodesSuffix + sm::kDumpExponentSuffix; break;
    default: break;
  }
  return s;
}

hid_t element_type(FuzzedDataProvider& f) {
  switch (f.ConsumeIntegralInRange(0, 13)) {
    case 0: return H5Tcopy(H5T_NATIVE_DOUBLE);
    case 1: return H5Tcopy(H5T_NATIVE_INT8);
    case 2: return H5Tcopy(H5T_NATIVE_UINT8);
    case 3: return H5Tcopy(H5T_NATIVE_INT16);
    case 4: return H5Tcopy(H5T_NATIVE_INT32);
    case 5: return H5Tcopy(H5T_NATIVE_INT64);
    case 6: return H5Tcopy(H5T_NATIVE_UINT64);
    case 7: return H5Tcopy(H5T_IEEE_F32BE);
    case 8: {  // a fixed string
      hid_t t = H5Tcopy(H5T_C_S1);
      H5Tset_size(t, f.ConsumeIntegralInRange<size_t>(1, 9));
      return t;
    }
    case 9: {  // an h5py bool
      hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
      int8_t v = 0;
      H5Tenum_insert(t, "FALSE", &v);
      v = 1;
      H5Tenum_insert(t, "TRUE", &v);
      return t;
    }
    case 10: {  // a compound of one float
      hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(float));
      H5Tinsert(t, "v", 0, H5T_NATIVE_FLOAT);
      return t;
    }
    case 11: {  // an odd-sized integer
      hid_t t = H5Tcopy(H5T_NATIVE_INT32);
      H5Tset_precision(t, f.ConsumeIntegralInRange<size_t>(1, 31));
      return t;
    }
    default: return H5Tcopy(H5T_NATIVE_FLOAT);
  }
}

// A root or dataset attribute of any kind.
void attribute(FuzzedDataProvider& f, hid_t obj, const std::string& name) {
  if (name.empty() || H5Aexists(obj, name.c_str()) != 0) {
    H5Eclear2(H5E_DEFAULT);
    return;
  }
  Handle space;
  switch (f.ConsumeIntegralInRange(0, 9)) {
    case 0: space = Handle(H5Screate(H5S_NULL), H5Sclose); break;
    case 1: {
      const hsize_t n = f.ConsumeIntegralInRange<hsize_t>(0, 3);
      space = Handle(H5Screate_simple(1, &n, nullptr), H5Sclose);
      break;
    }
    default: space = Handle(H5Screate(H5S_SCALAR), H5Sclose);
  }
  Handle type;
  const int kind = f.ConsumeIntegralInRange(0, 3);
  std::string value;
  if (kind == 0) {  // variable-length string, as the writer stores them
    type = Handle(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), H5T_VARIABLE);
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
    value = f.ConsumeRandomLengthString(64);
  } else if (kind == 1) {  // fixed string, maybe unterminated
    value = f.ConsumeRandomLengthString(64);
    type = Handle(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), std::max<size_t>(1, value.size()));
    if (f.ConsumeBool()) H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
    value.resize(std::max<size_t>(1, value.size()));
  } else {
    type = Handle(element_type(f), H5Tclose);
  }
  Handle a(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.ok()) return;
  const hssize_t n = std::max<hssize_t>(0, H5Sget_simple_extent_npoints(space.get()));
  if (n == 0 || H5Sget_simple_extent_type(space.get()) == H5S_NULL) return;
  if (kind == 0) {
    std::vector<const char*> ptrs(static_cast<size_t>(n), value.c_str());
    H5Awrite(a.get(), type.get(), ptrs.data());
  } else if (kind == 1) {
    std::string all;
    for (hssize_t i = 0; i < n; ++i) all += value;
    H5Awrite(a.get(), type.get(), all.data());
  } else {
    std::vector<uint8_t> raw = f.ConsumeBytes<uint8_t>(H5Tget_size(type.get()) * static_cast<size_t>(n));
    raw.resize(H5Tget_size(type.get()) * static_cast<size_t>(n));
    H5Awrite(a.get(), type.get(), raw.data());
  }
}

void int_attribute(hid_t obj, const char* name, int64_t v, hid_t type) {
  Handle sp(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj, name, type, sp.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (a.ok()) H5Awrite(a.get(), H5T_NATIVE_INT64, &v);
}

void string_attribute(hid_t obj, const char* name, const std::string& value) {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), H5T_VARIABLE);
  Handle sp(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj, name, t.get(), sp.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* p = value.c_str();
  if (a.ok()) H5Awrite(a.get(), t.get(), &p);
}

void dataset(FuzzedDataProvider& f, hid_t parent, const std::string& name) {
  if (name.empty() || H5Lexists(parent, name.c_str(), H5P_DEFAULT) != 0) {
    H5Eclear2(H5E_DEFAULT);
    return;
  }
  Handle type(element_type(f), H5Tclose);
  const int shape_kind = f.ConsumeIntegralInRange(0, 15);
  int rank = shape_kind == 0 ? 0 : shape_kind == 1 ? 3 : shape_kind < 8 ? 2 : 1;
  hsize_t dims[3] = {0, 0, 0}, maxdims[3] = {0, 0, 0}, chunk[3] = {1, 1, 1};
  const bool huge = f.ConsumeIntegralInRange(0, 15) == 0;
  const bool extendible = f.ConsumeBool();  // max shape [unlimited, ...] as the writer makes them
  for (int i = 0; i < rank; ++i)
    dims[i] = huge && i == 0 ? hsize_t(1) << f.ConsumeIntegralInRange(20, 40) : f.ConsumeIntegralInRange<hsize_t>(0, 6);
  const bool chunked = rank > 0 && (huge || extendible || f.ConsumeBool());
  for (int i = 0; i < rank; ++i) {
    maxdims[i] = chunked && ((i == 0 && extendible) || dims[i] == 0) ? H5S_UNLIMITED : dims[i];
    chunk[i] = f.ConsumeIntegralInRange<hsize_t>(1, 4);
    if (maxdims[i] != H5S_UNLIMITED) chunk[i] = std::min(chunk[i], std::max<hsize_t>(dims[i], 1));
  }
  Handle space(rank == 0 ? H5Screate(f.ConsumeBool() ? H5S_SCALAR : H5S_NULL)
                         : H5Screate_simple(rank, dims, chunked ? maxdims : nullptr),
               H5Sclose);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (chunked && rank > 0) {
    H5Pset_chunk(dcpl.get(), rank, chunk);
    if (f.ConsumeBool()) {
      H5Pset_shuffle(dcpl.get());
      H5Pset_deflate(dcpl.get(), 4);
    }
  }
  Handle ds(H5Dcreate2(parent, name.c_str(), type.get(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
            H5Dclose);
  if (!ds.ok()) return;
  for (int i = f.ConsumeIntegralInRange(0, 2); i > 0; --i)
    attribute(f, ds.get(), f.ConsumeBool() ? (f.ConsumeBool() ? "bits" : "group") : f.ConsumeRandomLengthString(8));
  if (huge) return;  // never written: every read sees the fill value
  hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (rank == 0 && H5Sget_simple_extent_type(space.get()) == H5S_NULL) n = 0;
  const size_t bytes = H5Tget_size(type.get()) * static_cast<size_t>(std::max<hssize_t>(0, n));
  if (bytes == 0 || bytes > 4096) return;
  std::vector<uint8_t> raw = f.ConsumeBytes<uint8_t>(bytes);
  raw.resize(bytes);
  H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data());
}

// A link that is not a plain object: dangling, to a dataset, or a cycle.
void odd_link(FuzzedDataProvider& f, hid_t parent, const std::string& name) {
  if (name.empty() || H5Lexists(parent, name.c_str(), H5P_DEFAULT) != 0) {
    H5Eclear2(H5E_DEFAULT);
    return;
  }
  switch (f.ConsumeIntegralInRange(0, 3)) {
    case 0: H5Lcreate_soft("/nowhere", parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT); break;
    case 1: H5Lcreate_soft("/tokens", parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT); break;
    case 2: H5Lcreate_hard(parent, ".", parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT); break;
    default: H5Lcreate_external("missing.h5", "/x", parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
  }
}

void layer_group(FuzzedDataProvider& f, hid_t layers) {
  static const char* kIndex[] = {"0", "1", "2", "10", "007", "-1", "2147483648", "123456789", "0123456789", "x"};
  const std::string name = f.ConsumeIntegralInRange(0, 7) == 0
                               ? f.ConsumeRandomLengthString(12)
                               : kIndex[f.ConsumeIntegralInRange<size_t>(0, std::size(kIndex) - 1)];
  if (name.empty() || H5Lexists(layers, name.c_str(), H5P_DEFAULT) != 0) {
    H5Eclear2(H5E_DEFAULT);
    return;
  }
  switch (f.ConsumeIntegralInRange(0, 7)) {
    case 0: dataset(f, layers, name); return;
    case 1: odd_link(f, layers, name); return;
    default: break;
  }
  Handle g(H5Gcreate2(layers, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  if (!g.ok()) return;
  for (int i = f.ConsumeIntegralInRange(0, 6); i > 0; --i) {
    const std::string t = tensor_name(f);
    if (f.ConsumeIntegralInRange(0, 9) == 0) odd_link(f, g.get(), t);
    else if (f.ConsumeIntegralInRange(0, 9) == 0) {
      if (!t.empty() && H5Lexists(g.get(), t.c_str(), H5P_DEFAULT) == 0)
        Handle(H5Gcreate2(g.get(), t.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
      H5Eclear2(H5E_DEFAULT);
    } else {
      dataset(f, g.get(), t);
    }
  }
}

// Writes the file the input describes; false when HDF5 refused the image.
bool write_dump(FuzzedDataProvider& f, const std::string& path) {
  QuietErrors quiet;
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_core(fapl.get(), 1 << 16, 0);  // in memory; the image goes to `path` below
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  if (f.ConsumeBool()) H5Pset_attr_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  Handle file(H5Fcreate("fuzz_dump.h5", H5F_ACC_TRUNC, fcpl.get(), fapl.get()), H5Fclose);
  if (!file.ok()) return false;
  const hid_t root = file.get();
  switch (f.ConsumeIntegralInRange(0, 4)) {
    case 0: break;
    case 1: attribute(f, root, "format"); break;
    case 2: string_attribute(root, "format", f.ConsumeRandomLengthString(20)); break;
    default: string_attribute(root, "format", sm::kDumpFormat);
  }
  switch (f.ConsumeIntegralInRange(0, 4)) {
    case 0: break;
    case 1: attribute(f, root, "version"); break;
    case 2: int_attribute(root, "version", f.ConsumeIntegral<int64_t>(), H5T_NATIVE_INT64); break;
    default: int_attribute(root, "version", f.ConsumeIntegralInRange(0, 2), H5T_NATIVE_INT32);
  }
  static const char* kAttrs[] = {"model", "config", "quantization", "rotation", "producer", "layer_filter",
                                 "token_filter", "has_logits", "spec", "tokens_run"};
  for (int i = f.ConsumeIntegralInRange(0, 6); i > 0; --i)
    attribute(f, root,
              f.ConsumeIntegralInRange(0, 3) == 0 ? f.ConsumeRandomLengthString(12)
                                                  : kAttrs[f.ConsumeIntegralInRange<size_t>(0, std::size(kAttrs) - 1)]);
  for (const char* ids : {"tokens", "token_index"}) {
    switch (f.ConsumeIntegralInRange(0, 7)) {
      case 0: break;
      case 1: odd_link(f, root, ids); break;
      case 2: Handle(H5Gcreate2(root, ids, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose); break;
      default: dataset(f, root, ids);
    }
  }
  switch (f.ConsumeIntegralInRange(0, 9)) {
    case 0: break;
    case 1: dataset(f, root, "layers"); break;
    case 2: odd_link(f, root, "layers"); break;
    default: {
      Handle layers(H5Gcreate2(root, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
      for (int i = f.ConsumeIntegralInRange(0, 4); i > 0 && layers.ok(); --i) layer_group(f, layers.get());
    }
  }
  for (int i = f.ConsumeIntegralInRange(0, 2); i > 0; --i) {
    const std::string name = f.ConsumeBool() ? "logits" : f.ConsumeRandomLengthString(12);
    if (f.ConsumeIntegralInRange(0, 4) == 0) odd_link(f, root, name);
    else dataset(f, root, name);
  }
  H5Eclear2(H5E_DEFAULT);
  H5Fflush(root, H5F_SCOPE_GLOBAL);
  const ssize_t n = H5Fget_file_image(root, nullptr, 0);
  if (n <= 0) return false;
  std::vector<uint8_t> image(static_cast<size_t>(n));
  if (H5Fget_file_image(root, image.data(), image.size()) != n) return false;
  std::FILE* out = std::fopen(path.c_str(), "wb");
  if (!out) sm::fuzz::finding("cannot write " + path);
  const bool ok = std::fwrite(image.data(), 1, image.size(), out) == image.size();
  std::fclose(out);
  if (!ok) sm::fuzz::finding("cannot write " + path);
  return true;
}

// A few slices of one dataset: the first rows as dump-info reads them, then
// one slice the input picks (often out of range: an sm::Error).
void read_some(FuzzedDataProvider& f, const sm::DumpReader& r, const sm::DumpDatasetInfo& d) {
  if (d.shape.empty() || d.shape.size() > 2 || d.rows() < 0 || d.cols() < 0)
    sm::fuzz::finding(d.name + ": described with a shape outside rank 1..2");
  if (!r.has(d.name)) sm::fuzz::finding(d.name + ": listed but has() says absent");
  const sm::DumpDatasetInfo again = r.info(d.name);
  if (again.shape != d.shape || again.integer != d.integer) sm::fuzz::finding(d.name + ": info() differs from datasets()");
  const int64_t rows = std::min<int64_t>(d.rows(), 4), cols = std::min<int64_t>(d.cols(), 16);
  const std::vector<float> v = r.read(d.name, 0, rows, 0, cols);
  if (static_cast<int64_t>(v.size()) != rows * cols) sm::fuzz::finding(d.name + ": read() returned a wrong size");
  const int64_t row0 = f.ConsumeIntegralInRange<int64_t>(-1, std::min<int64_t>(d.rows(), 8) + 1);
  const int64_t nrows = f.ConsumeIntegralInRange<int64_t>(-1, 5);
  const int64_t col0 = f.ConsumeIntegralInRange<int64_t>(-1, std::min<int64_t>(d.cols(), 20) + 1);
  const int64_t ncols = f.ConsumeIntegralInRange<int64_t>(-1, 17);
  if (ncols < 0 && d.cols() - col0 > 64) return;  // "to the last column" of a huge row: not a few values
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(0, nrows) * std::max<int64_t>(0, ncols < 0 ? d.cols() - col0 : ncols)) + 1);
  sm::fuzz::expect_clean([&] { r.read_into(d.name, row0, nrows, col0, ncols, out.data()); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool registered = (temp_path(), std::atexit(remove_temp), true);  // after the path: removed before it is destroyed
  (void)registered;
  FuzzedDataProvider f(data, size);
  const std::string path = temp_path();
  if (!write_dump(f, path)) return 0;
  sm::fuzz::expect_clean([&] {
    const sm::DumpReader r(path);
    const sm::DumpAttributes& a = r.attributes();
    if (a.format != sm::kDumpFormat || a.version < 1 || a.version > sm::kDumpVersion)
      sm::fuzz::finding("opened a file that is not a version-1 dump");
    (void)r.layers();
    const std::vector<sm::DumpDatasetInfo> list = r.datasets();
    for (size_t i = 0; i < list.size() && i < 24; ++i) sm::fuzz::expect_clean([&] { read_some(f, r, list[i]); });
    sm::fuzz::expect_clean([&] { (void)r.tokens(); });
    sm::fuzz::expect_clean([&] { (void)r.token_index(); });
    sm::fuzz::expect_clean([&] { (void)r.has(f.ConsumeRandomLengthString(16)); });
  });
  return 0;
}
