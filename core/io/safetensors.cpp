// SPDX-License-Identifier: Apache-2.0
#include "core/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "core/io/error.h"
#include "core/io/mapped_file.h"

namespace sm {

namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;  // 100 MB

struct DTypeInfo {
  const char* name;
  DType dtype;
  unsigned bits;  // bits per element
};

// Every dtype of the safetensors format. Only F32/F16/BF16 convert; the rest are
// listed so a file holding them opens and the conversion can name the dtype.
constexpr DTypeInfo kDTypes[] = {
    {"F32", DType::F32, 32},      {"F16", DType::F16, 16},         {"BF16", DType::BF16, 16},
    {"F64", DType::F64, 64},      {"I8", DType::I8, 8},            {"U8", DType::U8, 8},
    {"I16", DType::I16, 16},      {"I32", DType::I32, 32},         {"I64", DType::I64, 64},
    {"BOOL", DType::BOOL, 8},     {"U16", DType::OTHER, 16},       {"U32", DType::OTHER, 32},
    {"U64", DType::OTHER, 64},    {"F8_E4M3", DType::OTHER, 8},    {"F8_E5M2", DType::OTHER, 8},
    {"F8_E8M0", DType::OTHER, 8}, {"C64", DType::OTHER, 64},       {"F4", DType::OTHER, 4},
    {"F6_E2M3", DType::OTHER, 6}, {"F6_E3M2", DType::OTHER, 6},
};

const DTypeInfo* find_dtype(const std::string& s) {
  for (const auto& d : kDTypes)
    if (s == d.name) return &d;
  return nullptr;
}

std::string errno_text(int err) { return std::strerror(err); }

// Bytes of `shape` elements of `bits` each; false on overflow or when the
// elements do not fill whole bytes.
bool checked_nbytes(const std::vector<int64_t>& shape, unsigned bits, uint64_t& numel,
                    uint64_t& nbytes, std::string& problem) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      problem = "has a negative dimension in shape " + shape_str(shape);
      return false;
    }
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n) ||
        n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      problem = "shape " + shape_str(shape) + " overflows the element count";
      return false;
    }
  }
  uint64_t total_bits;
  if (__builtin_mul_overflow(n, static_cast<uint64_t>(bits), &total_bits)) {
    problem = "shape " + shape_str(shape) + " overflows the byte count";
    return false;
  }
  if (total_bits % 8 != 0) {
    problem = "has " + std::to_string(n) + " elements of " + std::to_string(bits) +
              " bits, which do not fill whole bytes";
    return false;
  }
  numel = n;
  nbytes = total_bits / 8;
  return true;
}

void convert_f16(const std::byte* src, float* dst, size_t n) {
  size_t i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
#endif
  for (; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = f16_to_f32(h);
  }
}

void convert_bf16(const std::byte* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    uint16_t b;
    std::memcpy(&b, src + 2 * i, 2);
    dst[i] = std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
  }
}

}  // namespace

// ---------------------------------------------------------------------------

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::I16: return "I16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::BOOL: return "BOOL";
    case DType::OTHER: break;
  }
  return "OTHER";
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::F64: return 8;
    case DType::I8: return 1;
    case DType::U8: return 1;
    case DType::I16: return 2;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::BOOL: return 1;
    case DType::OTHER: break;
  }
  return 0;
}

DType parse_dtype(const std::string& s) {
  const DTypeInfo* d = find_dtype(s);
  return d ? d->dtype : DType::OTHER;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;  // +-0
    } else {        // subnormal: normalise
      uint32_t e = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --e;
      }
      mant &= 0x3ffu;
      bits = sign | (e << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / NaN (payload kept)
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

float bf16_to_f32(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

uint16_t f32_to_f16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) {  // inf or NaN
    if (ax == 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u);
    return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));  // quiet NaN
  }
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 -> inf
  if (ax < 0x38800000u) {
    // Below the smallest normal half (2^-14): adding 0.5 lines the float's
    // mantissa up with the half subnormal grid and rounds to nearest even.
    float v = std::bit_cast<float>(ax) + 0.5f;
    return static_cast<uint16_t>(sign | (std::bit_cast<uint32_t>(v) - 0x3f000000u));
  }
  uint32_t odd = (ax >> 13) & 1u;
  ax += 0xc8000fffu + odd;  // rebias exponent (127 -> 15) and round to nearest even
  return static_cast<uint16_t>(sign | (ax >> 13));
}

uint16_t f32_to_bf16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

// ---------------------------------------------------------------------------

SafeTensorsFile::~SafeTensorsFile() = default;

std::shared_ptr<SafeTensorsFile> SafeTensorsFile::open(const std::string& path) {
  std::shared_ptr<SafeTensorsFile> f(new SafeTensorsFile());
  f->path_ = path;
  f->map_ = std::make_unique<MappedFile>(path);
  parse(*f, f->map_->data(), f->map_->size(), path);
  return f;
}

std::shared_ptr<SafeTensorsFile> SafeTensorsFile::from_bytes(const std::byte* data, size_t size,
                                                             const std::string& where) {
  std::shared_ptr<SafeTensorsFile> f(new SafeTensorsFile());
  f->path_ = where;
  parse(*f, data, size, where);
  return f;
}

void SafeTensorsFile::parse(SafeTensorsFile& out, const std::byte* base, uint64_t size,
                            const std::string& path) {
  SafeTensorsFile* f = &out;

  if (size < 8)
    fail(path, "file is too short (" + std::to_string(size) +
                   " bytes) to be a safetensors file: it needs an 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(base[i]);
  if (n > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(n) +
                   " is absurdly large (limit 100 MB); this is not a safetensors file");
  if (n > size - 8)
    fail(path, "header length " + std::to_string(n) + " exceeds the file size (" +
                   std::to_string(size) + " bytes); the file is truncated or not safetensors");

  const char* hbeg = reinterpret_cast<const char*>(base + 8);
  const char* hend = hbeg + n;
  // Duplicate top-level keys would silently shadow each other; record the first.
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (depth == 1 && ev == json::parse_event_t::key && parsed.is_string()) {
      const auto& k = parsed.get_ref<const std::string&>();
      if (!seen.insert(k).second && duplicate.empty()) duplicate = k;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(hbeg, hend, cb);
  } catch (const json::exception& e) {
    std::string msg = e.what();  // drop nlohmann's "[json.exception.parse_error.101] " tag
    if (auto p = msg.find("] "); p != std::string::npos && msg.rfind("[json.exception", 0) == 0)
      msg = msg.substr(p + 2);
    fail(path, "header is not valid JSON: " + msg);
  }
  if (!header.is_object()) fail(path, std::string("header is a JSON ") + header.type_name() +
                                          ", not an object");
  if (!duplicate.empty()) fail(path, "header lists '" + duplicate + "' twice");

  const uint64_t data_size = size - 8 - n;
  const std::byte* data = base + 8 + n;

  struct Range {
    uint64_t begin, end;
    size_t idx;
  };
  std::vector<Range> ranges;

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (v.is_null()) continue;
      if (!v.is_object()) fail(path, "__metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          fail(path, "__metadata__ value for '" + m.key() + "' is a " + m.value().type_name() +
                         ", not a string");
        f->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!v.is_object()) fail(path, where + " is a JSON " + v.type_name() + ", not an object");
    for (const char* key : {"dtype", "shape", "data_offsets"})
      if (!v.contains(key)) fail(path, where + " is missing '" + key + "'");
    const json& jd = v["dtype"];
    const json& js = v["shape"];
    const json& jo = v["data_offsets"];
    if (!jd.is_string()) fail(path, where + ": 'dtype' must be a string");
    if (!js.is_array()) fail(path, where + ": 'shape' must be an array of integers");
    if (!jo.is_array() || jo.size() != 2)
      fail(path, where + ": 'data_offsets' must be an array [begin, end]");

    TensorInfo t;
    t.name = name;
    t.file = path;
    t.dtype_str = jd.get<std::string>();
    const DTypeInfo* di = find_dtype(t.dtype_str);
    if (!di) fail(path, where + " has unknown dtype '" + t.dtype_str + "'");
    t.dtype = di->dtype;
    for (const json& d : js) {
      if (d.is_number_unsigned()) {
        uint64_t u = d.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          fail(path, where + " has a dimension too large (" + std::to_string(u) + ")");
        t.shape.push_back(static_cast<int64_t>(u));
      } else if (d.is_number_integer()) {
        t.shape.push_back(d.get<int64_t>());  // negative: reported below
      } else {
        fail(path, where + ": 'shape' must be an array of integers, found a " + d.type_name());
      }
    }
    uint64_t offs[2];
    for (int k = 0; k < 2; ++k) {
      const json& o = jo[k];
      if (o.is_number_unsigned()) {
        offs[k] = o.get<uint64_t>();
      } else if (o.is_number_integer()) {
        fail(path, where + " has a negative data offset");
      } else {
        fail(path, where + ": 'data_offsets' must hold two integers, found a " + o.type_name());
      }
    }
    uint64_t numel = 0, nbytes = 0;
    std::string problem;
    if (!checked_nbytes(t.shape, di->bits, numel, nbytes, problem))
      fail(path, where + " " + problem);
    if (offs[0] > offs[1])
      fail(path, where + " has data_offsets begin " + std::to_string(offs[0]) + " > end " +
                     std::to_string(offs[1]));
    if (offs[1] > data_size)
      fail(path, where + " has data_offsets [" + std::to_string(offs[0]) + ", " +
                     std::to_string(offs[1]) + "] past the end of the data (" +
                     std::to_string(data_size) + " bytes); the file is truncated or the offsets "
                     "are out of range");
    if (offs[1] - offs[0] != nbytes)
      fail(path, where + " has " + std::to_string(offs[1] - offs[0]) + " bytes of data but shape " +
                     shape_str(t.shape) + " of " + t.dtype_str + " needs " +
                     std::to_string(nbytes) + " (byte size mismatch)");
    t.data = data + offs[0];
    t.nbytes = static_cast<size_t>(nbytes);
    ranges.push_back({offs[0], offs[1], f->tensors_.size()});
    f->tensors_.push_back(std::move(t));
  }

  // No two tensors may share bytes (empty tensors own no bytes).
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t max_end = 0;
  size_t owner = 0;
  bool have_owner = false;
  for (const Range& r : ranges) {
    if (r.begin == r.end) continue;
    if (have_owner && r.begin < max_end)
      fail(path, "tensors '" + f->tensors_[owner].name + "' and '" + f->tensors_[r.idx].name +
                     "' overlap in the data region");
    if (!have_owner || r.end > max_end) {
      max_end = r.end;
      owner = r.idx;
      have_owner = true;
    }
  }
  (void)f;
}

// ---------------------------------------------------------------------------

TensorStore TensorStore::open_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::status(dir, ec);
  if (ec || !fs::exists(st)) fail(dir, "no such directory");
  if (!fs::is_directory(st)) fail(dir, "is not a directory");
  std::vector<std::string> files;
  fs::directory_iterator it(dir, ec), end;
  if (ec) fail(dir, "cannot list the directory: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) fail(dir, "cannot list the directory: " + ec.message());
    const fs::path& p = it->path();
    if (p.extension() != ".safetensors") continue;
    std::error_code ec2;
    if (!fs::is_regular_file(p, ec2)) continue;  // follows symlinks (Hugging Face cache)
    files.push_back(p.string());
  }
  if (ec) fail(dir, "cannot list the directory: " + ec.message());
  if (files.empty()) fail(dir, "no *.safetensors files");
  std::sort(files.begin(), files.end(), [](const std::string& a, const std::string& b) {
    return fs::path(a).filename().string() < fs::path(b).filename().string();
  });
  return open_files(files);
}

TensorStore TensorStore::open_files(const std::vector<std::string>& files) {
  if (files.empty()) fail("", "no safetensors files given");
  TensorStore s;
  for (const std::string& path : files) {
    auto f = SafeTensorsFile::open(path);
    for (const TensorInfo& t : f->tensors()) {
      auto [pos, inserted] = s.index_.emplace(t.name, &t);
      if (!inserted)
        fail(path, "tensor '" + t.name + "' is in both " + pos->second->file + " and " + path);
    }
    s.files_.push_back(std::move(f));
  }
  return s;
}

const TensorInfo* TensorStore::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, info] : index_) out.push_back(name);
  return out;
}

// ---------------------------------------------------------------------------

std::vector<float> to_f32(const TensorInfo& t) {
  const std::string where = t.file.empty() ? std::string("<memory>") : t.file;
  if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
    fail(where, "tensor " + t.name + " has dtype " +
                    (t.dtype_str.empty() ? std::string(dtype_name(t.dtype)) : t.dtype_str) +
                    "; only F32, F16 and BF16 are supported");
  for (int64_t d : t.shape)
    if (d < 0) fail(where, "tensor " + t.name + " has a negative dimension");
  const size_t n = static_cast<size_t>(t.numel());
  const size_t esz = dtype_size(t.dtype);
  if (t.nbytes != n * esz)
    fail(where, "tensor " + t.name + " has " + std::to_string(t.nbytes) + " bytes for " +
                    std::to_string(n) + " elements of " + dtype_name(t.dtype));
  std::vector<float> out(n);
  if (n == 0) return out;
  if (t.data == nullptr) fail(where, "tensor " + t.name + " has no data");
  switch (t.dtype) {
    case DType::F32: std::memcpy(out.data(), t.data, n * 4); break;
    case DType::F16: convert_f16(t.data, out.data(), n); break;
    case DType::BF16: convert_bf16(t.data, out.data(), n); break;
    default: break;
  }
  return out;
}

// ---------------------------------------------------------------------------

TensorToWrite f32_tensor(std::string name, std::vector<int64_t> shape,
                         const std::vector<float>& values) {
  TensorToWrite t;
  t.name = std::move(name);
  t.dtype = "F32";
  t.shape = std::move(shape);
  t.bytes.resize(values.size() * sizeof(float));
  if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    const std::string where = "tensor '" + t.name + "'";
    if (t.name.empty()) fail(path, "cannot write a tensor with an empty name");
    if (t.name == "__metadata__") fail(path, "'__metadata__' is not a valid tensor name");
    if (!names.insert(t.name).second) fail(path, where + " is given twice");
    const DTypeInfo* di = find_dtype(t.dtype);
    if (!di) fail(path, where + " has unknown dtype '" + t.dtype + "'");
    uint64_t numel = 0, nbytes = 0;
    std::string problem;
    if (!checked_nbytes(t.shape, di->bits, numel, nbytes, problem)) fail(path, where + " " + problem);
    if (nbytes != t.bytes.size())
      fail(path, where + ": " + std::to_string(t.bytes.size()) + " bytes given but shape " +
                     shape_str(t.shape) + " of " + t.dtype + " needs " + std::to_string(nbytes));
    header[t.name] = {{"dtype", t.dtype},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string h = header.dump();
  while (h.size() % 8 != 0) h.push_back(' ');

  const std::string tmp = path + ".tmp";
  std::FILE* fp = std::fopen(tmp.c_str(), "wb");
  if (!fp) fail(path, "cannot create " + tmp + ": " + errno_text(errno));
  bool ok = true;
  unsigned char len[8];
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
  ok = ok && std::fwrite(len, 1, 8, fp) == 8;
  ok = ok && std::fwrite(h.data(), 1, h.size(), fp) == h.size();
  for (const TensorToWrite& t : tensors) {
    if (!ok) break;
    if (!t.bytes.empty()) ok = std::fwrite(t.bytes.data(), 1, t.bytes.size(), fp) == t.bytes.size();
  }
  int err = ok ? 0 : errno;
  if (std::fclose(fp) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    std::remove(tmp.c_str());
    fail(path, "cannot write " + tmp + ": " + errno_text(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    std::remove(tmp.c_str());
    fail(path, "cannot rename " + tmp + " into place: " + errno_text(err));
  }
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace sm
