// SPDX-License-Identifier: Apache-2.0
#pragma once
// Memory-mapped safetensors files (one or many shards in a model directory).
// Every header field is validated against the file before any byte is read.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sm {

enum class DType { F32, F16, BF16, F64, I8, U8, I16, I32, I64, BOOL, OTHER };

const char* dtype_name(DType d);
size_t dtype_size(DType d);  // bytes per element, 0 for OTHER

struct TensorInfo {
  std::string name;
  DType dtype = DType::OTHER;
  std::string dtype_str;          // as written in the header
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;  // into the mapping
  size_t nbytes = 0;
  std::string file;               // the shard it came from
  int64_t numel() const;
};

class MappedFile;

// One .safetensors file, mapped read-only for the object's lifetime.
class SafeTensorsFile {
 public:
  static std::shared_ptr<SafeTensorsFile> open(const std::string& path);
  // The same checks over bytes in memory that the caller keeps alive (the
  // tensors point into them); `where` names the source in errors. For fuzzing.
  static std::shared_ptr<SafeTensorsFile> from_bytes(const std::byte* data, size_t size,
                                                     const std::string& where);
  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  ~SafeTensorsFile();

 private:
  SafeTensorsFile() = default;
  static void parse(SafeTensorsFile& out, const std::byte* base, uint64_t size,
                    const std::string& path);
  std::string path_;
  std::unique_ptr<MappedFile> map_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All *.safetensors in a directory (sorted by name), as one name -> tensor map.
class TensorStore {
 public:
  static TensorStore open_dir(const std::string& dir);
  static TensorStore open_files(const std::vector<std::string>& files);
  const TensorInfo* find(const std::string& name) const;  // nullptr if absent
  std::vector<std::string> names() const;
  const std::vector<std::shared_ptr<SafeTensorsFile>>& files() const { return files_; }

 private:
  std::vector<std::shared_ptr<SafeTensorsFile>> files_;
  std::map<std::string, const TensorInfo*> index_;
};

// Converts F32/F16/BF16 to float; any other dtype throws sm::Error naming the
// tensor, its file and dtype.
std::vector<float> to_f32(const TensorInfo& t);

// Writes a safetensors file (F32 tensors, or raw bytes with a dtype), atomically
// (temp file + rename). Used by tests and tools.
struct TensorToWrite {
  std::string name;
  std::string dtype = "F32";
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;
};
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// An F32 tensor to write, from float values (numel(shape) must equal values.size()).
TensorToWrite f32_tensor(std::string name, std::vector<int64_t> shape,
                         const std::vector<float>& values);

// "[2, 3]": a shape for error messages.
std::string shape_str(const std::vector<int64_t>& shape);

// The dtype of a safetensors dtype string; DType::OTHER for anything else.
DType parse_dtype(const std::string& s);

// Scalar conversions. float -> half / bfloat16 round to nearest even; NaN stays NaN.
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t b);
uint16_t f32_to_f16(float f);
uint16_t f32_to_bf16(float f);

}  // namespace sm
