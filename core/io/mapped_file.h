// SPDX-License-Identifier: Apache-2.0
#pragma once
// A read-only memory mapping of a whole file, released on destruction.
// Empty files are valid (data() == nullptr, size() == 0). Every failure throws
// sm::Error("PATH: problem (errno text)").
#include <cstddef>
#include <string>

namespace sm {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const std::string& path() const { return path_; }

 private:
  void release() noexcept;
  std::string path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace sm
