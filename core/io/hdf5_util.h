// SPDX-License-Identifier: Apache-2.0
#pragma once
// Small helpers around the HDF5 C API shared by the run traces (core/trace)
// and the activation dumps (core/dump): an RAII handle, silencing HDF5's own
// error printing, errors that carry HDF5's description, attribute readers.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/io/error.h"

namespace sm::h5 {

// ---- RAII handle ------------------------------------------------------------
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer c) : id_(id), close_(c) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  ~Handle() { reset(); }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }
  // Closes now; returns the closer's status (files: flushes to disk).
  herr_t close() {
    herr_t r = 0;
    if (id_ >= 0 && close_) r = close_(id_);
    id_ = H5I_INVALID_HID;
    return r;
  }
  void reset() { (void)close(); }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

// ---- errors -------------------------------------------------------------------
// Silences HDF5's automatic error printing for this thread while alive.
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The outermost and innermost descriptions on the current HDF5 error stack.
inline std::string error_stack_text() {
  std::vector<std::string> descs;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* d) -> herr_t {
        auto* v = static_cast<std::vector<std::string>*>(d);
        if (e && e->desc && *e->desc) v->emplace_back(e->desc);
        return 0;
      },
      &descs);
  H5Eclear2(H5E_DEFAULT);
  if (descs.empty()) return {};
  if (descs.size() == 1 || descs.front() == descs.back()) return descs.front();
  return descs.front() + " (" + descs.back() + ")";
}

// Throws sm::Error("PATH: what: <hdf5 detail>").
[[noreturn]] inline void h5fail(const std::string& path, const std::string& what) {
  std::string detail = error_stack_text();
  fail(path, detail.empty() ? what : what + ": " + detail);
}

// A scalar string attribute (fixed or variable length); false if absent or
// not a string.
bool read_string_attr(hid_t obj, const char* name, std::string& out);
// A scalar integer, or a bool stored as h5py does (an integer enum); false
// otherwise. *is_bool (if given) says which it was.
bool read_int_attr(hid_t obj, const char* name, int64_t& out, bool* is_bool = nullptr);

}  // namespace sm::h5
