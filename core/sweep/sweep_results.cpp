// SPDX-License-Identifier: Apache-2.0
// The sweep results file: /results/<column> 1-D datasets of one length plus
// root attributes (docs/sweeps.md, "Results file").
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>

#include "core/io/hdf5_util.h"
#include "core/sweep/sweep.h"

namespace sm::sweep {

namespace {

using h5::Handle;
using h5::h5fail;
using h5::QuietErrors;

constexpr const char* kFormat = "specmamba-sweep";
constexpr int64_t kVersion = 1;

// How one column maps onto a SweepRow.
struct ColumnAccess {
  ColumnInfo info;
  std::function<double(const SweepRow&)> get_num;
  std::function<void(SweepRow&, double)> set_num;
  std::function<const std::string&(const SweepRow&)> get_str;
  std::function<void(SweepRow&, std::string)> set_str;
};

#define SM_STR(name, field)                                                                          \
  ColumnAccess{{name, ColumnKind::String}, nullptr, nullptr,                                         \
               [](const SweepRow& r) -> const std::string& { return r.field; },                      \
               [](SweepRow& r, std::string v) { r.field = std::move(v); }}
#define SM_INT(name, field)                                                                          \
  ColumnAccess{{name, ColumnKind::Int}, [](const SweepRow& r) { return static_cast<double>(r.field); }, \
               [](SweepRow& r, double v) { r.field = static_cast<int64_t>(v); }, nullptr, nullptr}
#define SM_FLT(name, field)                                                                          \
  ColumnAccess{{name, ColumnKind::Float}, [](const SweepRow& r) { return r.field; },                 \
               [](SweepRow& r, double v) { r.field = v; }, nullptr, nullptr}

const std::vector<ColumnAccess>& all_columns() {
  static const std::vector<ColumnAccess> cols = {
      SM_INT("config_index", config.index),
      SM_STR("tree", config.tree),
      SM_STR("verify", config.verify),
      SM_INT("tile", config.tile),
      SM_STR("backtrack", config.backtrack),
      SM_INT("budget", config.budget),
      SM_STR("preset", config.preset),
      SM_STR("platform", config.platform),
      SM_FLT("tokens_per_second", tokens_per_second),
      SM_FLT("baseline_tokens_per_second", baseline_tokens_per_second),
      SM_FLT("speedup", speedup),
      SM_FLT("mean_accepted", mean_accepted),
      SM_FLT("tokens_per_pass", tokens_per_pass),
      SM_INT("generated", generated),
      SM_INT("steps", steps),
      SM_FLT("bpb", bpb),
      SM_FLT("sim_tokens_per_second", sim_tokens_per_second),
      SM_FLT("energy_per_token_mj", energy_per_token_mj),
      SM_INT("dsp", dsp),
      SM_INT("lut", lut),
      SM_INT("bram", bram),
      SM_INT("uram", uram),
      SM_INT("fits", fits),
      SM_STR("fit_note", fit_note),
      SM_STR("error", error),
      SM_FLT("seconds", seconds),
  };
  return cols;
}
#undef SM_STR
#undef SM_INT
#undef SM_FLT

std::vector<const ColumnAccess*> columns_for(bool with_bpb) {
  std::vector<const ColumnAccess*> out;
  for (const ColumnAccess& c : all_columns())
    if (with_bpb || c.info.name != "bpb") out.push_back(&c);
  return out;
}

const ColumnAccess* find_column(const std::string& name) {
  for (const ColumnAccess& c : all_columns())
    if (c.info.name == name) return &c;
  return nullptr;
}

Handle vlen_string_type() {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  if (!t.ok() || H5Tset_size(t.get(), H5T_VARIABLE) < 0 || H5Tset_cset(t.get(), H5T_CSET_UTF8) < 0)
    h5fail("", "cannot make an HDF5 string type");
  return t;
}

void write_string_attr(hid_t obj, const char* name, const std::string& value, const std::string& path) {
  Handle type = vlen_string_type();
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* p = value.c_str();
  if (!attr.ok() || H5Awrite(attr.get(), type.get(), &p) < 0) h5fail(path, std::string("cannot write attribute ") + name);
}

void write_int_attr(hid_t obj, const char* name, int64_t value, const std::string& path) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(obj, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.ok() || H5Awrite(attr.get(), H5T_NATIVE_INT64, &value) < 0)
    h5fail(path, std::string("cannot write attribute ") + name);
}

void write_column(hid_t group, const ColumnAccess& c, const std::vector<SweepRow>& rows, const std::string& path) {
  const hsize_t n = rows.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  const std::string what = "cannot write /results/" + c.info.name;
  if (c.info.kind == ColumnKind::String) {
    Handle type = vlen_string_type();
    Handle ds(H5Dcreate2(group, c.info.name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
              H5Dclose);
    if (!ds.ok()) h5fail(path, what);
    std::vector<const char*> ptrs;
    for (const SweepRow& r : rows) ptrs.push_back(c.get_str(r).c_str());
    if (n > 0 && H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0) h5fail(path, what);
    return;
  }
  const bool is_int = c.info.kind == ColumnKind::Int;
  Handle ds(H5Dcreate2(group, c.info.name.c_str(), is_int ? H5T_STD_I64LE : H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                       H5P_DEFAULT, H5P_DEFAULT),
            H5Dclose);
  if (!ds.ok()) h5fail(path, what);
  if (n == 0) return;
  herr_t st;
  if (is_int) {
    std::vector<int64_t> v;
    for (const SweepRow& r : rows) v.push_back(static_cast<int64_t>(c.get_num(r)));
    st = H5Dwrite(ds.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  } else {
    std::vector<double> v;
    for (const SweepRow& r : rows) v.push_back(c.get_num(r));
    st = H5Dwrite(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  }
  if (st < 0) h5fail(path, what);
}

// Reads one column into `rows` (already sized); its length must be rows.size().
void read_column(hid_t group, const ColumnAccess& c, std::vector<SweepRow>& rows, const std::string& path) {
  const std::string where = "/results/" + c.info.name;
  if (H5Lexists(group, c.info.name.c_str(), H5P_DEFAULT) <= 0) fail(path, "missing column " + where);
  Handle ds(H5Dopen2(group, c.info.name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) h5fail(path, "cannot open " + where);
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  if (!space.ok() || H5Sget_simple_extent_ndims(space.get()) != 1) fail(path, where + " is not a 1-D dataset");
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space.get(), &n, nullptr);
  if (n != rows.size())
    fail(path, where + " has " + std::to_string(n) + " rows, config_index has " + std::to_string(rows.size()) +
                   " (all columns must have one length)");
  Handle ftype(H5Dget_type(ds.get()), H5Tclose);
  const H5T_class_t cls = H5Tget_class(ftype.get());
  if (c.info.kind == ColumnKind::String) {
    if (cls != H5T_STRING) fail(where, "expected a string column");
    if (n == 0) return;
    if (H5Tis_variable_str(ftype.get()) > 0) {
      Handle mtype = vlen_string_type();
      std::vector<char*> ptrs(n, nullptr);
      if (H5Dread(ds.get(), mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0) h5fail(path, "cannot read " + where);
      for (hsize_t i = 0; i < n; ++i) c.set_str(rows[i], ptrs[i] ? ptrs[i] : "");
      H5Dvlen_reclaim(mtype.get(), space.get(), H5P_DEFAULT, ptrs.data());
    } else {
      const size_t len = H5Tget_size(ftype.get());
      std::vector<char> buf(n * len);
      Handle mtype(H5Tcopy(ftype.get()), H5Tclose);
      if (H5Dread(ds.get(), mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0) h5fail(path, "cannot read " + where);
      for (hsize_t i = 0; i < n; ++i) c.set_str(rows[i], std::string(buf.data() + i * len, strnlen(buf.data() + i * len, len)));
    }
    return;
  }
  if (cls != H5T_INTEGER && cls != H5T_FLOAT) fail(path, where + ": expected a numeric column");
  if (n == 0) return;
  if (c.info.kind == ColumnKind::Int) {
    std::vector<int64_t> v(n);
    if (H5Dread(ds.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0) h5fail(path, "cannot read " + where);
    for (hsize_t i = 0; i < n; ++i) c.set_num(rows[i], static_cast<double>(v[i]));
  } else {
    std::vector<double> v(n);
    if (H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0) h5fail(path, "cannot read " + where);
    for (hsize_t i = 0; i < n; ++i) c.set_num(rows[i], v[i]);
  }
}

int64_t read_required_int(hid_t obj, const char* name, const std::string& path) {
  int64_t v = 0;
  if (!h5::read_int_attr(obj, name, v)) fail(path, std::string("missing integer attribute ") + name);
  return v;
}

std::string read_required_string(hid_t obj, const char* name, const std::string& path) {
  std::string v;
  if (!h5::read_string_attr(obj, name, v)) fail(path, std::string("missing string attribute ") + name);
  return v;
}

}  // namespace

std::vector<ColumnInfo> result_columns(bool with_bpb) {
  std::vector<ColumnInfo> out;
  for (const ColumnAccess* c : columns_for(with_bpb)) out.push_back(c->info);
  return out;
}

double column_value(const SweepRow& row, const std::string& column) {
  const ColumnAccess* c = find_column(column);
  if (!c || !c->get_num) return kNaN;
  return c->get_num(row);
}

void write_results(const std::string& path, const SweepResults& res) {
  QuietErrors quiet;
  bool with_bpb = false;
  for (const ColumnInfo& c : res.columns) with_bpb |= c.name == "bpb";
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  try {
    {
      Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
      if (!file.ok()) h5fail(path, "cannot create the results file (" + tmp + ")");
      write_string_attr(file.get(), "format", kFormat, path);
      write_int_attr(file.get(), "version", kVersion, path);
      write_string_attr(file.get(), "spec", res.spec_text, path);
      write_string_attr(file.get(), "spec_hash", res.spec_hash, path);
      write_int_attr(file.get(), "total_configs", res.total_configs, path);
      write_int_attr(file.get(), "shard_k", res.shard.k, path);
      write_int_attr(file.get(), "shard_n", res.shard.n, path);
      write_int_attr(file.get(), "complete", res.complete ? 1 : 0, path);
      nlohmann::json names = nlohmann::json::array();
      const auto cols = columns_for(with_bpb);
      for (const ColumnAccess* c : cols) names.push_back(c->info.name);
      write_string_attr(file.get(), "columns", names.dump(), path);
      Handle group(H5Gcreate2(file.get(), "results", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
      if (!group.ok()) h5fail(path, "cannot create /results");
      for (const ColumnAccess* c : cols) write_column(group.get(), *c, res.rows, path);
      group.reset();
      if (file.close() < 0) h5fail(path, "cannot write the results file (" + tmp + ")");
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      const int e = errno;
      fail(path, std::string("cannot write the results file: rename failed: ") + std::strerror(e));
    }
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

SweepResults read_results(const std::string& path) {
  QuietErrors quiet;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(path, "no such file");
  if (H5Fis_hdf5(path.c_str()) <= 0) fail(path, "not an HDF5 file (expected a sweep results file)");
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) h5fail(path, "cannot open the results file");
  std::string format;
  if (!h5::read_string_attr(file.get(), "format", format) || format != kFormat)
    fail(path, "not a sweep results file (root attribute format is not '" + std::string(kFormat) + "')");
  const int64_t version = read_required_int(file.get(), "version", path);
  if (version != kVersion)
    fail(path, "sweep results version " + std::to_string(version) + " (this build reads " + std::to_string(kVersion) + ")");
  SweepResults r;
  r.spec_text = read_required_string(file.get(), "spec", path);
  r.spec_hash = read_required_string(file.get(), "spec_hash", path);
  r.total_configs = read_required_int(file.get(), "total_configs", path);
  r.shard.k = read_required_int(file.get(), "shard_k", path);
  r.shard.n = read_required_int(file.get(), "shard_n", path);
  r.complete = read_required_int(file.get(), "complete", path) != 0;
  if (r.shard.n < 1 || r.shard.k < 0 || r.shard.k >= r.shard.n)
    fail(path, "bad shard attributes " + r.shard.describe());
  nlohmann::json names;
  try {
    names = nlohmann::json::parse(read_required_string(file.get(), "columns", path));
  } catch (const nlohmann::json::exception&) {
    fail(path, "attribute columns is not a JSON list");
  }
  if (!names.is_array()) fail(path, "attribute columns is not a JSON list");
  bool with_bpb = false;
  for (const auto& n : names) with_bpb |= n.is_string() && n.get<std::string>() == "bpb";
  const auto cols = columns_for(with_bpb);
  std::vector<std::string> expect;
  for (const ColumnAccess* c : cols) expect.push_back(c->info.name);
  if (names != nlohmann::json(expect))
    fail(path, "columns " + names.dump() + " are not the sweep columns of this build " + nlohmann::json(expect).dump());
  Handle group(H5Gopen2(file.get(), "results", H5P_DEFAULT), H5Gclose);
  if (!group.ok()) fail(path, "no /results group");
  // config_index first: its length is the row count.
  Handle ds(H5Dopen2(group.get(), "config_index", H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) fail(path, "missing column /results/config_index");
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  hsize_t n = 0;
  if (!space.ok() || H5Sget_simple_extent_ndims(space.get()) != 1) fail(path, "/results/config_index is not 1-D");
  H5Sget_simple_extent_dims(space.get(), &n, nullptr);
  r.rows.resize(n);
  for (const ColumnAccess* c : cols) read_column(group.get(), *c, r.rows, path);
  for (const ColumnAccess* c : cols) r.columns.push_back(c->info);
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const int64_t idx = r.rows[i].config.index;
    if (idx < 0 || idx >= r.total_configs)
      fail(path, "row " + std::to_string(i) + ": config_index " + std::to_string(idx) + " is outside 0.." +
                     std::to_string(r.total_configs - 1));
    if (i > 0 && idx <= r.rows[i - 1].config.index)
      fail(path, "rows are not in increasing config_index order (row " + std::to_string(i) + ")");
  }
  return r;
}

std::string partial_path(const std::string& out) { return out + ".partial"; }
std::string cache_dir(const std::string& out) { return out + ".cache"; }

}  // namespace sm::sweep
