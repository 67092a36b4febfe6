// SPDX-License-Identifier: Apache-2.0
#include "core/dump/dump_writer.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "core/dump/dump_reader.h"
#include "core/io/error.h"
#include "core/io/hdf5_util.h"
#include "core/model/mamba_model.h"
#include "core/quant/quant_config.h"

namespace sm {

// ---- IndexFilter --------------------------------------------------------------

namespace {

constexpr int64_t kOpenEnd = std::numeric_limits<int64_t>::max();

std::string trim(std::string s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.erase(s.begin());
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

bool parse_index(const std::string& s, int64_t& v) {
  if (s.empty() || s.front() < '0' || s.front() > '9') return false;  // no sign, no blank
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && v < kOpenEnd;
}

}  // namespace

IndexFilter IndexFilter::parse(const std::string& spec, const std::string& what) {
  IndexFilter f;
  const std::string all = trim(spec);
  if (all.empty() || all == "all") return f;
  f.all_ = false;
  size_t i = 0;
  while (i <= all.size()) {
    size_t j = all.find(',', i);
    if (j == std::string::npos) j = all.size();
    const std::string item = trim(all.substr(i, j - i));
    const auto bad = [&](const std::string& why) {
      fail(what, "'" + item + "' " + why + " (expected indices and ranges like 0,3,5-7 or 64-)");
    };
    if (item.empty()) bad("is an empty item");
    const size_t dash = item.find('-');
    int64_t a = 0, b = 0;
    if (dash == std::string::npos) {
      if (!parse_index(item, a)) bad("is not a non-negative integer");
      b = a;
    } else {
      if (!parse_index(trim(item.substr(0, dash)), a)) bad("is not a range");
      const std::string rest = trim(item.substr(dash + 1));
      if (rest.empty()) b = kOpenEnd;
      else if (!parse_index(rest, b)) bad("is not a range");
      if (b < a) bad("ends before it starts");
    }
    f.ranges_.emplace_back(a, b);
    i = j + 1;
  }
  // Sorted and merged, so contains() and spec() see one canonical form.
  std::sort(f.ranges_.begin(), f.ranges_.end());
  std::vector<std::pair<int64_t, int64_t>> merged;
  for (const auto& r : f.ranges_) {
    if (!merged.empty() && (merged.back().second == kOpenEnd || r.first <= merged.back().second + 1))
      merged.back().second = std::max(merged.back().second, r.second);
    else
      merged.push_back(r);
  }
  f.ranges_ = std::move(merged);
  return f;
}

bool IndexFilter::contains(int64_t i) const {
  if (all_) return i >= 0;
  for (const auto& [a, b] : ranges_)
    if (i >= a && i <= b) return true;
  return false;
}

bool IndexFilter::intersects(int64_t first, int64_t count) const {
  if (count <= 0) return false;
  const int64_t last = first + count - 1;
  if (all_) return last >= 0;
  for (const auto& [a, b] : ranges_)
    if (a <= last && b >= first) return true;
  return false;
}

int64_t IndexFilter::max_index() const {
  if (all_ || ranges_.empty() || ranges_.back().second == kOpenEnd) return -1;
  return ranges_.back().second;
}

std::string IndexFilter::spec() const {
  if (all_) return "all";
  std::string s;
  for (const auto& [a, b] : ranges_) {
    if (!s.empty()) s += ',';
    s += std::to_string(a);
    if (b == kOpenEnd) s += '-';
    else if (b != a) s += '-' + std::to_string(b);
  }
  return s;
}

void check_layer_filter(const IndexFilter& layers, int n_layer, const std::string& what) {
  if (layers.all()) return;
  if (!layers.intersects(0, n_layer))
    fail(what, "selects no layer of the model (it has " + std::to_string(n_layer) + " layers: 0.." +
                   std::to_string(n_layer - 1) + ")");
  const int64_t mx = layers.max_index();
  if (mx >= n_layer)
    fail(what, "layer " + std::to_string(mx) + " does not exist (the model has " +
                   std::to_string(n_layer) + " layers: 0.." + std::to_string(n_layer - 1) + ")");
}

std::string model_config_json_text(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["arch"] = arch_name(c.arch);
  j["naming"] = naming_name(c.naming);
  j["d_model"] = c.d_model;
  j["n_layer"] = c.n_layer;
  j["vocab_size"] = c.vocab_size;
  j["d_state"] = c.d_state;
  j["d_conv"] = c.d_conv;
  j["expand"] = c.expand;
  j["d_inner"] = c.d_inner;
  if (c.arch == Arch::Mamba1) {
    j["dt_rank"] = c.dt_rank;
  } else {
    j["n_heads"] = c.n_heads;
    j["head_dim"] = c.head_dim;
    j["n_groups"] = c.n_groups;
    j["d_mlp"] = c.d_mlp;
    j["chunk_size"] = c.chunk_size;
  }
  j["conv_dim"] = c.conv_dim();
  j["in_proj_dim"] = c.in_proj_dim();
  j["dt_min"] = c.dt_min;
  if (std::isfinite(c.dt_max)) j["dt_max"] = c.dt_max;
  else j["dt_max"] = nullptr;  // JSON has no infinity
  j["norm_eps"] = c.norm_eps;
  j["tie_embeddings"] = c.tie_embeddings;
  j["conv_bias"] = c.conv_bias;
  j["proj_bias"] = c.proj_bias;
  j["residual_in_fp32"] = c.residual_in_fp32;
  return j.dump();
}

// ---- the HDF5 file ------------------------------------------------------------------

namespace {

using h5::h5fail;
using h5::Handle;
using h5::QuietErrors;

constexpr hsize_t kChunkRows = 64;    // rows per chunk (and per append)
constexpr hsize_t kChunkCols = 4096;  // at most 64 x 4096 floats = 1 MiB per chunk
constexpr hsize_t kChunk1D = 4096;    // /tokens, /token_index
constexpr int kDeflateLevel = 4;

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
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* p = value.c_str();
  if (!attr.ok() || H5Awrite(attr.get(), type.get(), &p) < 0)
    h5fail(path, std::string("cannot write attribute ") + name);
}

void write_int_attr(hid_t obj, const char* name, int64_t value, hid_t file_type, const std::string& path) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(obj, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.ok() || H5Awrite(attr.get(), H5T_NATIVE_INT64, &value) < 0)
    h5fail(path, std::string("cannot write attribute ") + name);
}

// h5py's bool: an int8 enum {FALSE = 0, TRUE = 1}.
void write_bool_attr(hid_t obj, const char* name, bool value, const std::string& path) {
  Handle type(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose);
  const int8_t f = 0, t = 1, v = value ? 1 : 0;
  if (!type.ok() || H5Tenum_insert(type.get(), "FALSE", &f) < 0 || H5Tenum_insert(type.get(), "TRUE", &t) < 0)
    h5fail(path, "cannot create bool type");
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.ok() || H5Awrite(attr.get(), type.get(), &v) < 0)
    h5fail(path, std::string("cannot write attribute ") + name);
}

// One extendible dataset and the rows not yet written to it.
struct Series {
  Handle ds;
  std::string name;  // "/layers/0/hidden_in", for messages
  hid_t mem_type = H5I_INVALID_HID;
  size_t elem = 0;   // bytes per element
  int64_t cols = 0;  // 0: one-dimensional
  int bits = 0;        // codes datasets: bits and group, fixed at creation
  int64_t group = 0;
  int64_t written = 0;
  int64_t pending_rows = 0;
  std::vector<unsigned char> pending;

  size_t row_bytes() const { return elem * static_cast<size_t>(cols ? cols : 1); }

  void append(const void* row, const std::string& path) {
    const size_t n = row_bytes();
    const auto* p = static_cast<const unsigned char*>(row);
    pending.insert(pending.end(), p, p + n);
    if (++pending_rows >= static_cast<int64_t>(cols ? kChunkRows : kChunk1D)) flush(path);
  }

  void flush(const std::string& path) {
    if (pending_rows == 0) return;
    const int rank = cols ? 2 : 1;
    const hsize_t dims[2] = {hsize_t(written + pending_rows), hsize_t(cols)};
    const hsize_t off[2] = {hsize_t(written), 0};
    const hsize_t cnt[2] = {hsize_t(pending_rows), hsize_t(cols)};
    if (H5Dset_extent(ds.get(), dims) < 0) h5fail(path, "cannot extend " + name);
    Handle fspace(H5Dget_space(ds.get()), H5Sclose);
    Handle mspace(H5Screate_simple(rank, cnt, nullptr), H5Sclose);
    if (!fspace.ok() || !mspace.ok() ||
        H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, off, nullptr, cnt, nullptr) < 0 ||
        H5Dwrite(ds.get(), mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, pending.data()) < 0)
      h5fail(path, "cannot write " + name);
    written += pending_rows;
    pending_rows = 0;
    pending.clear();
  }
};

}  // namespace

struct DumpWriter::File {
  Handle file;
  std::map<std::string, Handle> groups;  // "layers", "layers/0", ...
  std::map<std::string, Series> series;  // by dataset path
  bool deflate = false;

  hid_t group(const std::string& name, const std::string& path) {
    auto it = groups.find(name);
    if (it != groups.end()) return it->second.get();
    Handle g(H5Gcreate2(file.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!g.ok()) h5fail(path, "cannot create group /" + name);
    return groups.emplace(name, std::move(g)).first->second.get();
  }

  // The dataset at `name` (created on first use): [rows] when cols == 0, else [rows][cols].
  Series& get(hid_t parent, const std::string& leaf, const std::string& name, hid_t file_type,
              hid_t mem_type, size_t elem, int64_t cols, const std::string& path) {
    auto it = series.find(name);
    if (it != series.end()) {
      if (it->second.cols != cols)
        fail(path, name + " has " + std::to_string(it->second.cols) + " columns, got a batch of " +
                       std::to_string(cols));
      return it->second;
    }
    const int rank = cols ? 2 : 1;
    const hsize_t dims[2] = {0, hsize_t(cols)};
    const hsize_t maxdims[2] = {H5S_UNLIMITED, hsize_t(cols)};
    const hsize_t chunk[2] = {cols ? kChunkRows : kChunk1D, std::min<hsize_t>(hsize_t(cols), kChunkCols)};
    Handle space(H5Screate_simple(rank, dims, maxdims), H5Sclose);
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    if (!space.ok() || !dcpl.ok() || H5Pset_chunk(dcpl.get(), rank, chunk) < 0)
      h5fail(path, "cannot set up " + name);
    // Shuffle groups the bytes of each float, which gzip then compresses better.
    if (deflate && (H5Pset_shuffle(dcpl.get()) < 0 || H5Pset_deflate(dcpl.get(), kDeflateLevel) < 0))
      h5fail(path, "cannot enable compression for " + name);
    Series s;
    s.ds = Handle(H5Dcreate2(parent, leaf.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                  H5Dclose);
    if (!s.ds.ok()) h5fail(path, "cannot create " + name);
    s.name = name;
    s.mem_type = mem_type;
    s.elem = elem;
    s.cols = cols;
    return series.emplace(name, std::move(s)).first->second;
  }

  bool exists(const std::string& name) const { return series.count(name) != 0; }

  Series& tokens(const std::string& path) {
    return get(file.get(), "tokens", "/tokens", H5T_STD_I32LE, H5T_NATIVE_INT32, sizeof(int32_t), 0, path);
  }
  Series& token_index(const std::string& path) {
    return get(file.get(), "token_index", "/token_index", H5T_STD_I64LE, H5T_NATIVE_INT64, sizeof(int64_t), 0,
               path);
  }
};

DumpWriter::DumpWriter(std::string path, const ModelConfig& cfg, DumpOptions opt)
    : path_(std::move(path)), opt_(std::move(opt)), n_layer_(cfg.n_layer) {
  if (path_.empty()) fail("dump", "empty output path");
  check_layer_filter(opt_.layers, n_layer_, path_);
  QuietErrors quiet;
  const std::string tmp = temp_path();
  auto f = std::make_unique<File>();
  try {
    // Attribute creation order is tracked so that readers list them as written.
    Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
    if (!fcpl.ok() || H5Pset_attr_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0)
      h5fail(path_, "cannot set up HDF5 file properties");
    f->file = Handle(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT), H5Fclose);
    if (!f->file.ok()) h5fail(path_, "cannot create HDF5 dump (" + tmp + ")");
    f->deflate = deflate_available();
    const hid_t root = f->file.get();
    write_string_attr(root, "format", kDumpFormat, path_);
    write_int_attr(root, "version", kDumpVersion, H5T_STD_I32LE, path_);
    write_string_attr(root, "model", opt_.model, path_);
    write_string_attr(root, "config", model_config_json_text(cfg), path_);
    write_string_attr(root, "quantization",
                      opt_.quantization.empty() ? quant::QuantConfig::preset("fp32", false).to_json().dump()
                                                : opt_.quantization,
                      path_);
    write_bool_attr(root, "rotation", opt_.rotation, path_);
    write_string_attr(root, "producer", "SpecMamba Studio", path_);
    write_string_attr(root, "layer_filter", opt_.layers.spec(), path_);
    write_string_attr(root, "token_filter", opt_.tokens.spec(), path_);
    write_bool_attr(root, "has_logits", opt_.logits, path_);
    if (!opt_.spec.empty()) write_string_attr(root, "spec", opt_.spec, path_);
    // Empty datasets from the start: a dump of zero tokens still has the layout.
    f->tokens(path_);
    f->token_index(path_);
    f->group("layers", path_);
  } catch (...) {
    f.reset();
    std::remove(tmp.c_str());
    throw;
  }
  file_ = std::move(f);
}

namespace {
DumpOptions with_model(const MambaModel& m, DumpOptions o) {
  o.quantization = m.weights().quant.to_json().dump();
  o.rotation = m.weights().quant.rotation;
  return o;
}
}  // namespace

DumpWriter::DumpWriter(std::string path, const MambaModel& model, DumpOptions opt)
    : DumpWriter(std::move(path), model.config(), with_model(model, std::move(opt))) {}

DumpWriter::~DumpWriter() { abort(); }

void DumpWriter::abort() {
  if (!file_) return;
  QuietErrors quiet;
  file_.reset();  // closes datasets, groups, then the file
  std::remove(temp_path().c_str());
}

void DumpWriter::on_tokens(int64_t first_token, const int32_t* ids, int64_t rows) {
  if (!file_) fail(path_, "the dump is already finished");
  if (first_token != tokens_seen_)
    fail(path_, "a dump records one sequence from an empty state: batch starts at token " +
                    std::to_string(first_token) + " after " + std::to_string(tokens_seen_) + " tokens");
  QuietErrors quiet;
  Series& tok = file_->tokens(path_);
  Series& idx = file_->token_index(path_);
  for (int64_t r = 0; r < rows; ++r) {
    tok.append(ids + r, path_);
    const int64_t t = first_token + r;
    if (opt_.tokens.contains(t)) {
      idx.append(&t, path_);
      ++rows_kept_;
    }
  }
  tokens_seen_ += rows;
}

bool DumpWriter::wants(int layer, int64_t first_token, int64_t rows) const {
  if (!file_) return false;
  if (layer == kLogits) return opt_.logits && opt_.tokens.intersects(first_token, rows);
  return opt_.layers.contains(layer) && opt_.tokens.intersects(first_token, rows);
}

void DumpWriter::check_tensor(int layer, const std::string& leaf, int64_t first_token, int64_t rows,
                              int64_t cols) const {
  if (layer != kLogits && (layer < 0 || layer >= n_layer_))
    fail(path_, "tensor of layer " + std::to_string(layer) + " (the model has " + std::to_string(n_layer_) +
                    " layers)");
  if (cols <= 0 || rows < 0) fail(path_, "tensor " + leaf + " has a bad shape");
  if (first_token < 0 || first_token + rows > tokens_seen_)
    fail(path_, "tensor " + leaf + " covers tokens that were not announced by on_tokens");
  if (leaf.empty() || leaf.find('/') != std::string::npos || leaf == ".")
    fail(path_, "bad tensor name '" + leaf + "'");
}

void DumpWriter::on_tensor(int layer, const char* name, int64_t first_token, int64_t rows, int64_t cols,
                           const float* data, int64_t ld) {
  if (!file_) fail(path_, "the dump is already finished");
  if (!wants(layer, first_token, rows)) return;  // a caller that does not filter
  const std::string leaf = name;
  check_tensor(layer, leaf, first_token, rows, cols);
  if (ld < cols) fail(path_, "tensor " + leaf + " has a bad shape");
  QuietErrors quiet;
  Series* s = nullptr;
  if (layer == kLogits) {
    s = &file_->get(file_->file.get(), "logits", "/logits", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, sizeof(float),
                    cols, path_);
  } else {
    file_->group("layers", path_);
    const std::string g = "layers/" + std::to_string(layer);
    const hid_t gid = file_->group(g, path_);
    s = &file_->get(gid, leaf, "/" + g + "/" + leaf, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, sizeof(float), cols,
                    path_);
  }
  for (int64_t r = 0; r < rows; ++r)
    if (opt_.tokens.contains(first_token + r)) s->append(data + r * ld, path_);
}

void DumpWriter::on_codes(int layer, const char* name, int64_t first_token, int64_t rows, int64_t cols, int bits,
                          int64_t group, const int8_t* codes, const int16_t* exps) {
  if (!file_) fail(path_, "the dump is already finished");
  const std::string base = name;
  if (layer == kLogits) fail(path_, "codes of " + base + ": only layer tensors have codes");
  if (!wants(layer, first_token, rows)) return;
  check_tensor(layer, base, first_token, rows, cols);
  if (bits < 2 || bits > 8) fail(path_, "codes of " + base + ": " + std::to_string(bits) + " bits (expected 2..8)");
  if (group < 1) fail(path_, "codes of " + base + ": group " + std::to_string(group));
  const std::string g = "layers/" + std::to_string(layer);
  const std::string cname = "/" + g + "/" + base + "_codes", ename = "/" + g + "/" + base + "_exponent";
  const int64_t ng = (cols + group - 1) / group;
  const int qmax = (1 << (bits - 1)) - 1;
  // Everything is checked before a row is appended: a failure leaves both datasets as they were.
  for (int64_t r = 0; r < rows; ++r) {
    if (!opt_.tokens.contains(first_token + r)) continue;
    for (int64_t i = 0; i < ng; ++i) {
      const int e = exps[r * ng + i];
      if (e < -128 || e > 127)
        fail(path_, ename + ": exponent " + std::to_string(e) + " of token " + std::to_string(first_token + r) +
                        " (group " + std::to_string(i) + ") does not fit the dump's int8 exponents");
    }
    for (int64_t c = 0; c < cols; ++c)
      if (codes[r * cols + c] < -qmax - 1 || codes[r * cols + c] > qmax)
        fail(path_, cname + ": code " + std::to_string(codes[r * cols + c]) + " of token " +
                        std::to_string(first_token + r) + " is outside " + std::to_string(bits) + " bits");
  }
  QuietErrors quiet;
  file_->group("layers", path_);
  const hid_t gid = file_->group(g, path_);
  const bool fresh = !file_->exists(cname);
  Series& cs = file_->get(gid, base + "_codes", cname, H5T_STD_I8LE, H5T_NATIVE_INT8, 1, cols, path_);
  Series& es = file_->get(gid, base + "_exponent", ename, H5T_STD_I8LE, H5T_NATIVE_INT8, 1, ng, path_);
  if (fresh) {
    write_int_attr(cs.ds.get(), "bits", bits, H5T_STD_I32LE, path_);
    write_int_attr(cs.ds.get(), "group", group, H5T_STD_I32LE, path_);
    write_int_attr(es.ds.get(), "group", group, H5T_STD_I32LE, path_);
    cs.bits = bits;
    cs.group = group;
  } else if (cs.bits != bits || cs.group != group) {
    fail(path_, cname + " has " + std::to_string(cs.bits) + " bits in groups of " + std::to_string(cs.group) +
                    ", got a batch of " + std::to_string(bits) + " bits in groups of " + std::to_string(group));
  }
  std::vector<int8_t> erow(static_cast<size_t>(ng));
  for (int64_t r = 0; r < rows; ++r) {
    if (!opt_.tokens.contains(first_token + r)) continue;
    cs.append(codes + r * cols, path_);
    for (int64_t i = 0; i < ng; ++i) erow[i] = static_cast<int8_t>(exps[r * ng + i]);
    es.append(erow.data(), path_);
  }
}

void DumpWriter::finish() {
  if (!file_) fail(path_, "the dump is already finished");
  const std::string tmp = temp_path();
  try {
    QuietErrors quiet;
    for (auto& [name, s] : file_->series) s.flush(path_);
    write_int_attr(file_->file.get(), "tokens_run", tokens_seen_, H5T_STD_I64LE, path_);
    file_->series.clear();
    file_->groups.clear();
    if (file_->file.close() < 0) h5fail(path_, "cannot write HDF5 dump");
  } catch (...) {
    abort();
    throw;
  }
  file_.reset();
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    fail(path_, std::string("cannot write dump: rename failed: ") + std::strerror(e));
  }
}

}  // namespace sm
