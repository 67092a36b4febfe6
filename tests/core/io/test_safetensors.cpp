// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "tests/core/temp_dir.h"
#include "core/io/error.h"
#include "core/io/mapped_file.h"
#include "core/io/safetensors.h"

namespace fs = std::filesystem;
using sm::DType;

namespace {

using sm_test::TempDir;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good());
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// A safetensors file from a raw header text and data bytes (header length as given
// unless `declared` overrides it).
void write_crafted(const std::string& path, const std::string& header, const std::string& data,
                   int64_t declared = -1) {
  uint64_t n = declared >= 0 ? static_cast<uint64_t>(declared) : header.size();
  write_bytes(path, le64(n) + header + data);
}

template <class T>
std::vector<std::byte> raw(const std::vector<T>& v) {
  std::vector<std::byte> b(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Expects opening `path` to throw sm::Error whose message has the file name and `keyword`.
void expect_open_error(const std::string& path, const std::string& keyword) {
  try {
    sm::SafeTensorsFile::open(path);
    FAIL() << "expected an error containing '" << keyword << "' for " << path;
  } catch (const sm::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(keyword), std::string::npos) << "missing '" << keyword << "' in: " << msg;
  }
}

std::string f32_data(size_t n) { return std::string(n * 4, '\0'); }

}  // namespace

// ---------------------------------------------------------------------------
// Round trips

TEST(Safetensors, RoundTripF32WithMetadata) {
  TempDir dir;
  const std::string p = dir.file("a.safetensors");
  std::vector<float> w = {1.0f, -2.5f, 3.25f, 0.0f, 1e-30f, -7.0f};
  std::vector<float> b = {0.5f, 0.25f};
  sm::write_safetensors(p, {sm::f32_tensor("w", {2, 3}, w), sm::f32_tensor("b", {2}, b)},
                        {{"format", "pt"}, {"quant", "none"}});
  EXPECT_FALSE(fs::exists(p + ".tmp"));

  auto f = sm::SafeTensorsFile::open(p);
  EXPECT_EQ(f->path(), p);
  ASSERT_EQ(f->tensors().size(), 2u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->metadata().at("quant"), "none");

  auto store = sm::TensorStore::open_files({p});
  const sm::TensorInfo* tw = store.find("w");
  ASSERT_NE(tw, nullptr);
  EXPECT_EQ(tw->dtype, DType::F32);
  EXPECT_EQ(tw->dtype_str, "F32");
  EXPECT_EQ(tw->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(tw->numel(), 6);
  EXPECT_EQ(tw->nbytes, 24u);
  EXPECT_EQ(tw->file, p);
  EXPECT_EQ(sm::to_f32(*tw), w);
  EXPECT_EQ(sm::to_f32(*store.find("b")), b);
  EXPECT_EQ(store.find("missing"), nullptr);
  EXPECT_EQ(store.names(), (std::vector<std::string>{"b", "w"}));

  // The header is padded to 8 bytes, as the format recommends.
  std::ifstream in(p, std::ios::binary);
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  EXPECT_EQ(n % 8, 0u);
}

TEST(Safetensors, RoundTripF16AndBF16) {
  TempDir dir;
  const std::string p = dir.file("h.safetensors");
  std::vector<float> vals = {0.0f, 1.0f, -2.0f, 0.5f, 65504.0f, -0.125f, 3.0f, 1024.0f, 0.75f, -1.5f, 6.0f};
  std::vector<uint16_t> h, bf;
  for (float v : vals) {
    h.push_back(sm::f32_to_f16(v));
    bf.push_back(sm::f32_to_bf16(v));
  }
  sm::write_safetensors(p, {{"half", "F16", {11}, raw(h)}, {"brain", "BF16", {1, 11}, raw(bf)},
                            {"full", "F32", {11}, raw(vals)}});
  auto store = sm::TensorStore::open_files({p});
  const auto* th = store.find("half");
  const auto* tb = store.find("brain");
  ASSERT_TRUE(th && tb);
  EXPECT_EQ(th->dtype, DType::F16);
  EXPECT_EQ(tb->dtype, DType::BF16);
  EXPECT_EQ(th->nbytes, 22u);
  EXPECT_EQ(sm::to_f32(*th), vals);  // all exactly representable in half
  EXPECT_EQ(sm::to_f32(*tb), (std::vector<float>{0.0f, 1.0f, -2.0f, 0.5f, 65536.0f, -0.125f, 3.0f,
                                                  1024.0f, 0.75f, -1.5f, 6.0f}));
  EXPECT_EQ(sm::to_f32(*store.find("full")), vals);
}

TEST(Safetensors, UnalignedF32DataIsReadSafely) {
  TempDir dir;
  const std::string p = dir.file("u.safetensors");
  // Header of odd length: the F32 data starts at an odd address in the mapping.
  std::string header = R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})";
  if (header.size() % 2 == 0) header += " ";
  std::vector<float> v = {1.5f, -2.0f, 42.0f};
  std::string data(reinterpret_cast<const char*>(v.data()), 12);
  write_crafted(p, header, data);
  auto f = sm::SafeTensorsFile::open(p);
  ASSERT_EQ(f->tensors().size(), 1u);
  EXPECT_EQ(sm::to_f32(f->tensors()[0]), v);
}

TEST(Safetensors, ScalarsEmptyTensorsAndTrailingBytes) {
  TempDir dir;
  const std::string p = dir.file("s.safetensors");
  std::string header =
      R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
      R"("e":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]},)"
      R"("e2":{"dtype":"F16","shape":[0],"data_offsets":[0,0]}})";
  float one = 1.0f;
  std::string data(reinterpret_cast<const char*>(&one), 4);
  write_crafted(p, header, data + "junk");
  auto store = sm::TensorStore::open_files({p});
  EXPECT_EQ(store.find("s")->numel(), 1);
  EXPECT_EQ(sm::to_f32(*store.find("s")), std::vector<float>{1.0f});
  EXPECT_TRUE(sm::to_f32(*store.find("e")).empty());
  EXPECT_TRUE(sm::to_f32(*store.find("e2")).empty());
}

TEST(Safetensors, EmptyHeaderObjectIsValid) {
  TempDir dir;
  const std::string p = dir.file("empty.safetensors");
  sm::write_safetensors(p, {});
  auto f = sm::SafeTensorsFile::open(p);
  EXPECT_TRUE(f->tensors().empty());
  EXPECT_TRUE(f->metadata().empty());
}

TEST(Safetensors, MultiShardDirectory) {
  TempDir dir;
  sm::write_safetensors(dir.file("model-00002-of-00002.safetensors"),
                        {sm::f32_tensor("layers.1.w", {2}, {3.0f, 4.0f}),
                         sm::f32_tensor("norm_f.weight", {1}, {9.0f})});
  sm::write_safetensors(dir.file("model-00001-of-00002.safetensors"),
                        {sm::f32_tensor("layers.0.w", {2}, {1.0f, 2.0f})});
  write_bytes(dir.file("model.safetensors.index.json"), R"({"weight_map": {}})");
  write_bytes(dir.file("README.md"), "not a tensor file");
  fs::create_directory(dir.file("sub.safetensors"));  // a directory is not a shard

  auto store = sm::TensorStore::open_dir(dir.str());
  ASSERT_EQ(store.files().size(), 2u);
  EXPECT_NE(store.files()[0]->path().find("model-00001-of-00002"), std::string::npos);
  EXPECT_NE(store.files()[1]->path().find("model-00002-of-00002"), std::string::npos);
  EXPECT_EQ(store.names(), (std::vector<std::string>{"layers.0.w", "layers.1.w", "norm_f.weight"}));
  EXPECT_EQ(sm::to_f32(*store.find("layers.0.w")), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(sm::to_f32(*store.find("layers.1.w")), (std::vector<float>{3.0f, 4.0f}));
  EXPECT_NE(store.find("norm_f.weight")->file.find("00002"), std::string::npos);

  // The store (and its pointers) survive copies and moves.
  sm::TensorStore copy = store;
  sm::TensorStore moved = std::move(store);
  EXPECT_EQ(sm::to_f32(*copy.find("layers.1.w"))[1], 4.0f);
  EXPECT_EQ(sm::to_f32(*moved.find("layers.0.w"))[0], 1.0f);
}

TEST(Safetensors, DirectoryWithoutShardsFails) {
  TempDir dir;
  write_bytes(dir.file("config.json"), "{}");
  try {
    sm::TensorStore::open_dir(dir.str());
    FAIL();
  } catch (const sm::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(dir.str()), std::string::npos) << msg;
    EXPECT_NE(msg.find("no *.safetensors files"), std::string::npos) << msg;
  }
}

TEST(Safetensors, MissingDirectoryFails) {
  TempDir dir;
  const std::string missing = dir.file("nope");
  try {
    sm::TensorStore::open_dir(missing);
    FAIL();
  } catch (const sm::Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos);
  }
  const std::string file = dir.file("plain.txt");
  write_bytes(file, "x");
  EXPECT_THROW(sm::TensorStore::open_dir(file), sm::Error);
}

TEST(Safetensors, DuplicateTensorAcrossShardsNamesBothFiles) {
  TempDir dir;
  const std::string a = dir.file("a.safetensors"), b = dir.file("b.safetensors");
  sm::write_safetensors(a, {sm::f32_tensor("shared", {1}, {1.0f})});
  sm::write_safetensors(b, {sm::f32_tensor("shared", {1}, {2.0f})});
  try {
    sm::TensorStore::open_dir(dir.str());
    FAIL();
  } catch (const sm::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(a), std::string::npos) << msg;
    EXPECT_NE(msg.find(b), std::string::npos) << msg;
    EXPECT_NE(msg.find("shared"), std::string::npos) << msg;
  }
}

TEST(Safetensors, MissingFileReportsErrno) {
  TempDir dir;
  const std::string p = dir.file("absent.safetensors");
  expect_open_error(p, "No such file or directory");
}

// ---------------------------------------------------------------------------
// Malformed files: one test per problem

TEST(SafetensorsMalformed, EmptyFile) {
  TempDir dir;
  const std::string p = dir.file("zero.safetensors");
  write_bytes(p, "");
  expect_open_error(p, "too short");
}

TEST(SafetensorsMalformed, ShorterThan8Bytes) {
  TempDir dir;
  const std::string p = dir.file("short.safetensors");
  write_bytes(p, "abcde");
  expect_open_error(p, "too short");
}

TEST(SafetensorsMalformed, HeaderLengthLargerThanFile) {
  TempDir dir;
  const std::string p = dir.file("lies.safetensors");
  write_crafted(p, "{}", "", 4096);
  expect_open_error(p, "exceeds the file size");
}

TEST(SafetensorsMalformed, HeaderLengthAbsurd) {
  TempDir dir;
  const std::string p = dir.file("huge.safetensors");
  write_crafted(p, "{}", "", int64_t{1} << 40);
  expect_open_error(p, "absurdly large");
}

TEST(SafetensorsMalformed, HeaderNotJson) {
  TempDir dir;
  const std::string p = dir.file("notjson.safetensors");
  write_crafted(p, R"({"x": {"dtype": "F32", )", "");
  expect_open_error(p, "not valid JSON");
}

TEST(SafetensorsMalformed, HeaderNotObject) {
  TempDir dir;
  const std::string p = dir.file("array.safetensors");
  write_crafted(p, "[1, 2, 3]", "");
  expect_open_error(p, "not an object");
}

TEST(SafetensorsMalformed, TensorEntryNotObject) {
  TempDir dir;
  const std::string p = dir.file("entry.safetensors");
  write_crafted(p, R"({"x": 5})", "");
  expect_open_error(p, "'x'");
  expect_open_error(p, "not an object");
}

TEST(SafetensorsMalformed, MissingDtype) {
  TempDir dir;
  const std::string p = dir.file("nodtype.safetensors");
  write_crafted(p, R"({"x":{"shape":[1],"data_offsets":[0,4]}})", f32_data(1));
  expect_open_error(p, "missing 'dtype'");
}

TEST(SafetensorsMalformed, MissingShape) {
  TempDir dir;
  const std::string p = dir.file("noshape.safetensors");
  write_crafted(p, R"({"x":{"dtype":"F32","data_offsets":[0,4]}})", f32_data(1));
  expect_open_error(p, "missing 'shape'");
}

TEST(SafetensorsMalformed, MissingDataOffsets) {
  TempDir dir;
  const std::string p = dir.file("nooffs.safetensors");
  write_crafted(p, R"({"x":{"dtype":"F32","shape":[1]}})", f32_data(1));
  expect_open_error(p, "missing 'data_offsets'");
}

TEST(SafetensorsMalformed, DtypeWrongType) {
  TempDir dir;
  const std::string p = dir.file("dtypetype.safetensors");
  write_crafted(p, R"({"x":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})", f32_data(1));
  expect_open_error(p, "'dtype' must be a string");
}

TEST(SafetensorsMalformed, ShapeWrongType) {
  TempDir dir;
  const std::string p = dir.file("shapetype.safetensors");
  write_crafted(p, R"({"x":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", f32_data(1));
  expect_open_error(p, "'shape' must be an array");
  const std::string q = dir.file("shapefloat.safetensors");
  write_crafted(q, R"({"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", f32_data(1));
  expect_open_error(q, "integers");
}

TEST(SafetensorsMalformed, DataOffsetsWrongType) {
  TempDir dir;
  const std::string p = dir.file("offstype.safetensors");
  write_crafted(p, R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", f32_data(1));
  expect_open_error(p, "data_offsets");
  const std::string q = dir.file("offsstr.safetensors");
  write_crafted(q, R"({"x":{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}})", f32_data(1));
  expect_open_error(q, "two integers");
  const std::string r = dir.file("offsneg.safetensors");
  write_crafted(r, R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", f32_data(1));
  expect_open_error(r, "negative data offset");
}

TEST(SafetensorsMalformed, NegativeDimension) {
  TempDir dir;
  const std::string p = dir.file("negdim.safetensors");
  write_crafted(p, R"({"x":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,4]}})", f32_data(1));
  expect_open_error(p, "negative dimension");
}

TEST(SafetensorsMalformed, UnknownDtype) {
  TempDir dir;
  const std::string p = dir.file("dtype.safetensors");
  write_crafted(p, R"({"x":{"dtype":"F24","shape":[1],"data_offsets":[0,3]}})", std::string(3, '\0'));
  expect_open_error(p, "unknown dtype 'F24'");
}

TEST(SafetensorsMalformed, BeginAfterEnd) {
  TempDir dir;
  const std::string p = dir.file("order.safetensors");
  write_crafted(p, R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", f32_data(3));
  expect_open_error(p, "begin 8 > end 4");
}

TEST(SafetensorsMalformed, TruncatedData) {
  TempDir dir;
  const std::string p = dir.file("trunc.safetensors");
  sm::write_safetensors(p, {sm::f32_tensor("w", {4, 4}, std::vector<float>(16, 1.0f))});
  fs::resize_file(p, fs::file_size(p) - 10);
  expect_open_error(p, "truncated");
  expect_open_error(p, "'w'");
}

TEST(SafetensorsMalformed, OffsetsOutOfRange) {
  TempDir dir;
  const std::string p = dir.file("range.safetensors");
  write_crafted(p, R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[1000000,1000004]}})",
                f32_data(1));
  expect_open_error(p, "past the end of the data");
}

TEST(SafetensorsMalformed, ByteSizeMismatch) {
  TempDir dir;
  const std::string p = dir.file("size.safetensors");
  write_crafted(p, R"({"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", f32_data(4));
  expect_open_error(p, "byte size mismatch");
}

TEST(SafetensorsMalformed, OverlappingTensors) {
  TempDir dir;
  const std::string p = dir.file("overlap.safetensors");
  write_crafted(p,
                R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                f32_data(3));
  expect_open_error(p, "overlap");
  // Containment counts too, whatever the key order.
  const std::string q = dir.file("contain.safetensors");
  write_crafted(q,
                R"({"big":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                f32_data(4));
  expect_open_error(q, "overlap");
}

TEST(SafetensorsMalformed, NumelOverflow) {
  TempDir dir;
  const std::string p = dir.file("overflow.safetensors");
  write_crafted(p,
                R"({"x":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})",
                f32_data(1));
  expect_open_error(p, "overflows");
  const std::string q = dir.file("overflow2.safetensors");
  // numel fits in int64, numel * 4 bytes does not
  write_crafted(q, R"({"x":{"dtype":"F32","shape":[2305843009213693952,2],"data_offsets":[0,4]}})",
                f32_data(1));
  expect_open_error(q, "overflows");
}

TEST(SafetensorsMalformed, NonStringMetadata) {
  TempDir dir;
  const std::string p = dir.file("meta.safetensors");
  write_crafted(p, R"({"__metadata__":{"format":"pt","bits":4}})", "");
  expect_open_error(p, "'bits'");
  expect_open_error(p, "not a string");
  const std::string q = dir.file("meta2.safetensors");
  write_crafted(q, R"({"__metadata__":["a"]})", "");
  expect_open_error(q, "__metadata__");
}

TEST(SafetensorsMalformed, DuplicateKeyInHeader) {
  TempDir dir;
  const std::string p = dir.file("dup.safetensors");
  write_crafted(p,
                R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                R"("x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                f32_data(2));
  expect_open_error(p, "twice");
}

// ---------------------------------------------------------------------------
// Other dtypes and conversion

TEST(Safetensors, OtherDtypesAreListedButNotConverted) {
  TempDir dir;
  const std::string p = dir.file("ints.safetensors");
  std::vector<int32_t> ids = {1, 2, 3};
  std::vector<uint8_t> f8 = {0x38, 0x40};
  sm::write_safetensors(p, {{"ids", "I32", {3}, raw(ids)}, {"f8", "F8_E4M3", {2}, raw(f8)}});
  auto store = sm::TensorStore::open_files({p});
  const auto* t = store.find("ids");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::I32);
  EXPECT_EQ(t->nbytes, 12u);
  int32_t second;
  std::memcpy(&second, t->data + 4, 4);
  EXPECT_EQ(second, 2);
  try {
    sm::to_f32(*t);
    FAIL();
  } catch (const sm::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              p + ": tensor ids has dtype I32; only F32, F16 and BF16 are supported");
  }
  const auto* f = store.find("f8");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->dtype, DType::OTHER);
  EXPECT_EQ(f->dtype_str, "F8_E4M3");
  EXPECT_EQ(f->nbytes, 2u);
  try {
    sm::to_f32(*f);
    FAIL();
  } catch (const sm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("dtype F8_E4M3"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, DtypeTables) {
  EXPECT_EQ(sm::dtype_size(DType::F32), 4u);
  EXPECT_EQ(sm::dtype_size(DType::F16), 2u);
  EXPECT_EQ(sm::dtype_size(DType::BF16), 2u);
  EXPECT_EQ(sm::dtype_size(DType::I64), 8u);
  EXPECT_EQ(sm::dtype_size(DType::BOOL), 1u);
  EXPECT_EQ(sm::dtype_size(DType::OTHER), 0u);
  EXPECT_STREQ(sm::dtype_name(DType::BF16), "BF16");
  EXPECT_EQ(sm::parse_dtype("I16"), DType::I16);
  EXPECT_EQ(sm::parse_dtype("U32"), DType::OTHER);
  EXPECT_EQ(sm::parse_dtype("nonsense"), DType::OTHER);
}

TEST(Safetensors, F16SpecialValues) {
  struct Case {
    uint16_t bits;
    float value;
  };
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<Case> cases = {
      {0x0000, 0.0f},
      {0x8000, -0.0f},
      {0x3c00, 1.0f},
      {0xc000, -2.0f},
      {0x7bff, 65504.0f},                  // largest finite
      {0x0001, std::ldexp(1.0f, -24)},     // smallest subnormal
      {0x03ff, std::ldexp(1023.0f, -24)},  // largest subnormal
      {0x0400, std::ldexp(1.0f, -14)},     // smallest normal
      {0x8001, -std::ldexp(1.0f, -24)},
      {0x3555, 0.333251953125f},
      {0x7c00, inf},
      {0xfc00, -inf},
  };
  // Enough elements that the 8-wide F16C path and the scalar tail both run.
  std::vector<uint16_t> bits;
  std::vector<float> want;
  for (int rep = 0; rep < 3; ++rep)
    for (const auto& c : cases) {
      bits.push_back(c.bits);
      want.push_back(c.value);
    }
  bits.push_back(0x7e00);  // quiet NaN
  bits.push_back(0x7c01);  // signalling NaN
  bits.push_back(0xfe00);  // negative NaN

  TempDir dir;
  const std::string p = dir.file("f16.safetensors");
  sm::write_safetensors(p, {{"h", "F16", {static_cast<int64_t>(bits.size())}, raw(bits)}});
  auto store = sm::TensorStore::open_files({p});
  std::vector<float> got = sm::to_f32(*store.find("h"));
  ASSERT_EQ(got.size(), bits.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
        << "element " << i << " bits 0x" << std::hex << bits[i];
    EXPECT_EQ(std::bit_cast<uint32_t>(sm::f16_to_f32(bits[i])), std::bit_cast<uint32_t>(want[i]));
  }
  for (size_t i = want.size(); i < bits.size(); ++i) {
    EXPECT_TRUE(std::isnan(got[i])) << i;
    EXPECT_TRUE(std::isnan(sm::f16_to_f32(bits[i])));
  }
  EXPECT_TRUE(std::signbit(got.back()));
}

TEST(Safetensors, F16ScalarAndVectorAgreeOnAllValues) {
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  TempDir dir;
  const std::string p = dir.file("all.safetensors");
  sm::write_safetensors(p, {{"all", "F16", {65536}, raw(all)}});
  auto store = sm::TensorStore::open_files({p});
  std::vector<float> got = sm::to_f32(*store.find("all"));
  for (uint32_t i = 0; i < 65536; ++i) {
    float s = sm::f16_to_f32(static_cast<uint16_t>(i));
    if (std::isnan(s)) {
      ASSERT_TRUE(std::isnan(got[i])) << i;
      continue;
    }
    ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(s)) << i;
    // and float -> half -> float is the identity on every finite half
    ASSERT_EQ(sm::f32_to_f16(s), static_cast<uint16_t>(i)) << i;
  }
}

TEST(Safetensors, F32ToF16Rounding) {
  EXPECT_EQ(sm::f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie -> even (down)
  EXPECT_EQ(sm::f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(sm::f32_to_f16(1.0f + std::ldexp(1.5f, -11)), 0x3c01);      // above tie
  EXPECT_EQ(sm::f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(sm::f32_to_f16(65520.0f), 0x7c00);  // rounds to inf
  EXPECT_EQ(sm::f32_to_f16(1e10f), 0x7c00);
  EXPECT_EQ(sm::f32_to_f16(-1e10f), 0xfc00);
  EXPECT_EQ(sm::f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);   // tie with 0 -> even (0)
  EXPECT_EQ(sm::f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(sm::f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);   // tie -> even
  EXPECT_EQ(sm::f32_to_f16(1e-30f), 0x0000);
  EXPECT_EQ(sm::f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(sm::f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
  uint16_t nan = sm::f32_to_f16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
}

TEST(Safetensors, BF16Conversion) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<uint16_t> bits = {0x3f80, 0xc000, 0x0000, 0x8000, 0x7f80, 0xff80, 0x4049, 0x0001, 0x7fc0};
  std::vector<float> want = {1.0f, -2.0f, 0.0f, -0.0f, inf, -inf, 3.140625f,
                             std::bit_cast<float>(uint32_t{0x00010000})};
  TempDir dir;
  const std::string p = dir.file("bf.safetensors");
  sm::write_safetensors(p, {{"b", "BF16", {3, 3}, raw(bits)}});
  auto store = sm::TensorStore::open_files({p});
  std::vector<float> got = sm::to_f32(*store.find("b"));
  ASSERT_EQ(got.size(), 9u);
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i])) << i;
  EXPECT_TRUE(std::isnan(got[8]));

  EXPECT_EQ(sm::f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(sm::f32_to_bf16(std::bit_cast<float>(uint32_t{0x3f808000})), 0x3f80);  // tie -> even
  EXPECT_EQ(sm::f32_to_bf16(std::bit_cast<float>(uint32_t{0x3f818000})), 0x3f82);  // tie -> even
  EXPECT_EQ(sm::f32_to_bf16(std::bit_cast<float>(uint32_t{0x3f808001})), 0x3f81);
  EXPECT_TRUE(std::isnan(sm::bf16_to_f32(sm::f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(sm::bf16_to_f32(0x4049), 3.140625f);
}

// ---------------------------------------------------------------------------
// Writing

TEST(SafetensorsWrite, RejectsBadInput) {
  TempDir dir;
  const std::string p = dir.file("bad.safetensors");
  auto expect_write_error = [&](const std::vector<sm::TensorToWrite>& ts, const std::string& kw) {
    try {
      sm::write_safetensors(p, ts);
      FAIL() << kw;
    } catch (const sm::Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(p), std::string::npos) << msg;
      EXPECT_NE(msg.find(kw), std::string::npos) << msg;
    }
    EXPECT_FALSE(fs::exists(p));
    EXPECT_FALSE(fs::exists(p + ".tmp"));
  };
  expect_write_error({{"x", "F32", {3}, raw(std::vector<float>{1, 2})}}, "needs 12");
  expect_write_error({{"x", "Q4", {1}, raw(std::vector<uint8_t>{1})}}, "unknown dtype");
  expect_write_error({sm::f32_tensor("x", {1}, {1}), sm::f32_tensor("x", {1}, {2})}, "twice");
  expect_write_error({{"x", "F32", {-1}, {}}}, "negative");
  expect_write_error({sm::f32_tensor("__metadata__", {1}, {1})}, "__metadata__");
}

TEST(SafetensorsWrite, UnwritableDirectoryFails) {
  TempDir dir;
  const std::string p = dir.file("no/such/dir/x.safetensors");
  try {
    sm::write_safetensors(p, {sm::f32_tensor("x", {1}, {1})});
    FAIL();
  } catch (const sm::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
    EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  }
}

TEST(SafetensorsWrite, OverwritesAtomically) {
  TempDir dir;
  const std::string p = dir.file("x.safetensors");
  sm::write_safetensors(p, {sm::f32_tensor("x", {1}, {1})});
  sm::write_safetensors(p, {sm::f32_tensor("y", {2}, {2, 3})});
  auto f = sm::SafeTensorsFile::open(p);
  ASSERT_EQ(f->tensors().size(), 1u);
  EXPECT_EQ(f->tensors()[0].name, "y");
  EXPECT_FALSE(fs::exists(p + ".tmp"));
}

// ---------------------------------------------------------------------------
// MappedFile

TEST(MappedFile, MapsContentAndEmptyFiles) {
  TempDir dir;
  const std::string p = dir.file("c.bin");
  write_bytes(p, "hello");
  sm::MappedFile m(p);
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(std::memcmp(m.data(), "hello", 5), 0);
  EXPECT_EQ(m.path(), p);

  sm::MappedFile moved(std::move(m));
  EXPECT_EQ(moved.size(), 5u);
  EXPECT_EQ(m.data(), nullptr);  // NOLINT(bugprone-use-after-move)

  const std::string e = dir.file("empty.bin");
  write_bytes(e, "");
  sm::MappedFile me(e);
  EXPECT_TRUE(me.empty());
  EXPECT_EQ(me.data(), nullptr);
}

TEST(MappedFile, ErrorsNameThePathAndErrno) {
  TempDir dir;
  const std::string p = dir.file("missing.bin");
  try {
    sm::MappedFile m(p);
    FAIL();
  } catch (const sm::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
    EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  }
  try {
    sm::MappedFile m(dir.str());
    FAIL();
  } catch (const sm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("directory"), std::string::npos) << e.what();
  }
}
