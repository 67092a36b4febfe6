// SPDX-License-Identifier: Apache-2.0
#include "core/dump/dump_reader.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iterator>

#include "core/io/error.h"
#include "core/io/hdf5_util.h"

namespace sm {
namespace {

using h5::h5fail;
using h5::Handle;
using h5::QuietErrors;
using h5::read_int_attr;
using h5::read_string_attr;

// The names of a group's links, in name order.
std::vector<std::string> link_names(hid_t group, const std::string& path) {
  H5G_info_t gi;
  if (H5Gget_info(group, &gi) < 0) h5fail(path, "cannot list a group");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < gi.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0) h5fail(path, "cannot list a group");
    std::string name(static_cast<size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<size_t>(len));
    names.push_back(std::move(name));
  }
  return names;
}

H5I_type_t object_type(hid_t parent, const std::string& name) {
  Handle obj(H5Oopen(parent, name.c_str(), H5P_DEFAULT), H5Oclose);
  if (!obj.ok()) {
    H5Eclear2(H5E_DEFAULT);
    return H5I_BADID;
  }
  return H5Iget_type(obj.get());
}

// "/a/b/c" exists (every component, without HDF5 errors for a missing parent).
bool path_exists(hid_t file, const std::string& name) {
  std::string prefix;
  size_t i = 1;
  while (i <= name.size()) {
    size_t j = name.find('/', i);
    if (j == std::string::npos) j = name.size();
    prefix = name.substr(0, j);
    const htri_t e = H5Lexists(file, prefix.c_str(), H5P_DEFAULT);
    if (e <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    i = j + 1;
  }
  return true;
}

std::string normalize(const std::string& name) { return name.empty() || name[0] != '/' ? "/" + name : name; }

bool strip_suffix(std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  if (s.size() <= n || s.compare(s.size() - n, n, suffix) != 0) return false;
  s.resize(s.size() - n);
  return true;
}

// Known tensors in forward order, each as T_unrotated, T, T_codes, T_exponent.
int tensor_rank(const std::string& leaf) {
  std::string base = leaf;
  int sub = 1;
  if (strip_suffix(base, kDumpUnrotatedSuffix)) sub = 0;
  else if (strip_suffix(base, kDumpCodesSuffix)) sub = 2;
  else if (strip_suffix(base, kDumpExponentSuffix)) sub = 3;
  const auto* b = std::begin(kDumpLayerTensors);
  const auto* e = std::end(kDumpLayerTensors);
  const auto* it = std::find_if(b, e, [&](const char* n) { return base == n; });
  if (it == e) return static_cast<int>(4 * (e - b));  // unknown names sort after the known ones
  return static_cast<int>(4 * (it - b) + sub);
}

std::string dtype_name(hid_t type) {
  const size_t bytes = H5Tget_size(type);
  if (H5Tget_class(type) == H5T_FLOAT) return bytes == 4 ? "float32" : bytes == 8 ? "float64" : "float";
  const bool sign = H5Tget_sign(type) == H5T_SGN_2;
  return std::string(sign ? "int" : "uint") + std::to_string(bytes * 8);
}

bool is_index(const std::string& s) {
  return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

struct DumpReader::Impl {
  Handle file;

  DumpDatasetInfo describe(const std::string& name, const std::string& path) const {
    Handle ds(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.ok()) h5fail(path, "cannot open " + name);
    Handle space(H5Dget_space(ds.get()), H5Sclose);
    Handle type(H5Dget_type(ds.get()), H5Tclose);
    if (!space.ok() || !type.ok()) h5fail(path, "cannot read the shape of " + name);
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 1 || rank > 2) fail(path, name + " has rank " + std::to_string(rank) + " (expected 1 or 2)");
    hsize_t dims[2] = {0, 0};
    H5Sget_simple_extent_dims(space.get(), dims, nullptr);
    const H5T_class_t cls = H5Tget_class(type.get());
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) fail(path, name + " is not numeric");
    DumpDatasetInfo d;
    d.name = name;
    for (int i = 0; i < rank; ++i) d.shape.push_back(static_cast<int64_t>(dims[i]));
    d.integer = cls == H5T_INTEGER;
    d.dtype = dtype_name(type.get());
    int64_t v = 0;
    if (h5::read_int_attr(ds.get(), "bits", v)) d.bits = static_cast<int>(v);
    if (h5::read_int_attr(ds.get(), "group", v)) d.group = v;
    H5Eclear2(H5E_DEFAULT);
    return d;
  }

  template <class T>
  std::vector<T> read_1d(const std::string& name, hid_t mem_type, const std::string& path) const {
    if (!path_exists(file.get(), name)) fail(path, "no dataset " + name);
    Handle ds(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.ok()) h5fail(path, "cannot open " + name);
    Handle space(H5Dget_space(ds.get()), H5Sclose);
    if (!space.ok() || H5Sget_simple_extent_ndims(space.get()) != 1) fail(path, name + " is not one-dimensional");
    hsize_t n = 0;
    H5Sget_simple_extent_dims(space.get(), &n, nullptr);
    // A dataset declared far larger than the file could hold (damaged, or
    // written by something else) would have us allocate and read back fill
    // values, up to 2^64 of them. Stored chunks are gzip at worst 1032:1, so
    // the file bounds the real size; a dataset with no storage at all is empty.
    H5D_space_status_t status = H5D_SPACE_STATUS_ERROR;
    hsize_t file_bytes = 0;
    H5Fget_filesize(file.get(), &file_bytes);
    const double bound = 1032.0 * double(file_bytes) + 65536.0;
    if (n > 0 && (H5Dget_space_status(ds.get(), &status) < 0 || status == H5D_SPACE_STATUS_NOT_ALLOCATED ||
                  double(n) * double(sizeof(T)) > bound))
      h5fail(path, name + " declares " + std::to_string(n) + " values but the file does not store them all (damaged dump?)");
    std::vector<T> out(n);
    if (n > 0 && H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
      h5fail(path, "cannot read " + name);
    return out;
  }
};

DumpReader::DumpReader(const std::string& path) : path_(path), impl_(std::make_unique<Impl>()) {
  QuietErrors quiet;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(path, "no such file");
  if (std::filesystem::is_directory(path, ec)) fail(path, "is a directory, not an HDF5 dump");
  const htri_t is_h5 = H5Fis_hdf5(path.c_str());
  if (is_h5 < 0) h5fail(path, "cannot read file (not an HDF5 file, or truncated)");
  if (is_h5 == 0) fail(path, "not an HDF5 file");
  impl_->file = Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!impl_->file.ok()) h5fail(path, "cannot open HDF5 file (truncated or damaged?)");
  const hid_t root = impl_->file.get();

  if (!read_string_attr(root, "format", attrs_.format))
    fail(path, "not a SpecMamba activation dump (no root attribute format = \"" + std::string(kDumpFormat) + "\")");
  if (attrs_.format != kDumpFormat)
    fail(path, "not a SpecMamba activation dump (root attribute format is \"" + attrs_.format +
                   "\", expected \"" + kDumpFormat + "\")");
  if (!read_int_attr(root, "version", attrs_.version)) fail(path, "dump has no integer version attribute");
  if (attrs_.version < 1 || attrs_.version > kDumpVersion)
    fail(path, "unsupported dump version " + std::to_string(attrs_.version) + " (this build reads version " +
                   std::to_string(kDumpVersion) + ")");
  read_string_attr(root, "model", attrs_.model);
  read_string_attr(root, "config", attrs_.config);
  read_string_attr(root, "quantization", attrs_.quantization);
  int64_t rot = 0;
  if (read_int_attr(root, "rotation", rot)) attrs_.rotation = rot != 0;

  H5O_info_t oi;
  if (H5Oget_info2(root, &oi, H5O_INFO_NUM_ATTRS) < 0) h5fail(path, "cannot read root attributes");
  for (hsize_t i = 0; i < oi.num_attrs; ++i) {
    H5_index_t order = H5_INDEX_CRT_ORDER;
    ssize_t len = H5Aget_name_by_idx(root, ".", order, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0) {  // creation order not tracked (a file from another writer): name order
      H5Eclear2(H5E_DEFAULT);
      order = H5_INDEX_NAME;
      len = H5Aget_name_by_idx(root, ".", order, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (len < 0) h5fail(path, "cannot read root attributes");
    }
    std::string name(static_cast<size_t>(len) + 1, '\0');
    H5Aget_name_by_idx(root, ".", order, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<size_t>(len));
    std::string value;
    int64_t iv = 0;
    bool is_bool = false;
    if (read_string_attr(root, name.c_str(), value)) attrs_.all.emplace_back(name, value);
    else if (read_int_attr(root, name.c_str(), iv, &is_bool))
      attrs_.all.emplace_back(name, is_bool ? (iv ? "true" : "false") : std::to_string(iv));
    H5Eclear2(H5E_DEFAULT);
  }
}

DumpReader::~DumpReader() {
  QuietErrors quiet;
  impl_.reset();
}
DumpReader::DumpReader(DumpReader&&) noexcept = default;
DumpReader& DumpReader::operator=(DumpReader&&) noexcept = default;

std::vector<int> DumpReader::layers() const {
  QuietErrors quiet;
  std::vector<int> out;
  if (!path_exists(impl_->file.get(), "/layers")) return out;
  Handle g(H5Gopen2(impl_->file.get(), "/layers", H5P_DEFAULT), H5Gclose);
  if (!g.ok()) h5fail(path_, "cannot open /layers");
  for (const std::string& n : link_names(g.get(), path_))
    if (is_index(n) && object_type(g.get(), n) == H5I_GROUP) out.push_back(std::stoi(n));
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<DumpDatasetInfo> DumpReader::datasets() const {
  QuietErrors quiet;
  const hid_t root = impl_->file.get();
  std::vector<DumpDatasetInfo> out;
  std::vector<std::string> others;
  for (const std::string& n : link_names(root, path_)) {
    if (n == "layers") continue;
    if (object_type(root, n) != H5I_DATASET) continue;
    if (n == "tokens" || n == "token_index") continue;
    others.push_back("/" + n);
  }
  for (const char* n : {"/tokens", "/token_index"})
    if (path_exists(root, n) && object_type(root, n) == H5I_DATASET) out.push_back(impl_->describe(n, path_));
  for (int l : layers()) {
    const std::string g = "/layers/" + std::to_string(l);
    Handle gid(H5Gopen2(root, g.c_str(), H5P_DEFAULT), H5Gclose);
    if (!gid.ok()) h5fail(path_, "cannot open " + g);
    std::vector<std::string> names;
    for (const std::string& n : link_names(gid.get(), path_))
      if (object_type(gid.get(), n) == H5I_DATASET) names.push_back(n);
    std::stable_sort(names.begin(), names.end(),
                     [](const std::string& a, const std::string& b) { return tensor_rank(a) < tensor_rank(b); });
    for (const std::string& n : names) out.push_back(impl_->describe(g + "/" + n, path_));
  }
  for (const std::string& n : others) out.push_back(impl_->describe(n, path_));
  return out;
}

bool DumpReader::has(const std::string& name) const {
  QuietErrors quiet;
  const std::string n = normalize(name);
  return path_exists(impl_->file.get(), n) && object_type(impl_->file.get(), n) == H5I_DATASET;
}

DumpDatasetInfo DumpReader::info(const std::string& name) const {
  QuietErrors quiet;
  const std::string n = normalize(name);
  if (!has(n)) fail(path_, "no dataset " + n);
  return impl_->describe(n, path_);
}

std::vector<float> DumpReader::read(const std::string& name, int64_t row0, int64_t rows, int64_t col0,
                                    int64_t cols) const {
  const DumpDatasetInfo d = info(name);
  if (cols < 0) cols = std::max<int64_t>(0, d.cols() - col0);
  if (rows < 0) fail(path_, d.name + ": negative row count");
  std::vector<float> out(static_cast<size_t>(rows * cols));
  read_into(name, row0, rows, col0, cols, out.data());
  return out;
}

void DumpReader::read_into(const std::string& name, int64_t row0, int64_t rows, int64_t col0, int64_t cols,
                           float* out) const {
  QuietErrors quiet;
  const DumpDatasetInfo d = info(name);
  if (cols < 0) cols = std::max<int64_t>(0, d.cols() - col0);
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "[" + to_string(...) chains.
  const auto range = [](int64_t a, int64_t n) {
    std::string s = "[";
    s += std::to_string(a);
    s += ", ";
    s += std::to_string(a + n);
    s += ")";
    return s;
  };
  if (row0 < 0 || rows < 0 || row0 > d.rows() || rows > d.rows() - row0)
    fail(path_, d.name + ": rows " + range(row0, rows) + " outside its " + std::to_string(d.rows()) + " rows");
  if (col0 < 0 || cols < 0 || col0 > d.cols() || cols > d.cols() - col0)
    fail(path_, d.name + ": columns " + range(col0, cols) + " outside its " + std::to_string(d.cols()) +
                    " columns");
  if (rows == 0 || cols == 0) return;
  Handle ds(H5Dopen2(impl_->file.get(), d.name.c_str(), H5P_DEFAULT), H5Dclose);
  Handle fspace(H5Dget_space(ds.get()), H5Sclose);
  if (!ds.ok() || !fspace.ok()) h5fail(path_, "cannot open " + d.name);
  const int rank = static_cast<int>(d.shape.size());
  const hsize_t off[2] = {hsize_t(row0), hsize_t(col0)};
  const hsize_t cnt[2] = {hsize_t(rows), hsize_t(cols)};
  Handle mspace(H5Screate_simple(rank, cnt, nullptr), H5Sclose);
  if (!mspace.ok() || H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, off, nullptr, cnt, nullptr) < 0 ||
      H5Dread(ds.get(), H5T_NATIVE_FLOAT, mspace.get(), fspace.get(), H5P_DEFAULT, out) < 0)
    h5fail(path_, "cannot read " + d.name + " (damaged file?)");
}

std::vector<int32_t> DumpReader::tokens() const {
  QuietErrors quiet;
  return impl_->read_1d<int32_t>("/tokens", H5T_NATIVE_INT32, path_);
}

std::vector<int64_t> DumpReader::token_index() const {
  QuietErrors quiet;
  return impl_->read_1d<int64_t>("/token_index", H5T_NATIVE_INT64, path_);
}

}  // namespace sm
