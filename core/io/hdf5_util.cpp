// SPDX-License-Identifier: Apache-2.0
#include "core/io/hdf5_util.h"

#include <cstring>

namespace sm::h5 {

bool read_string_attr(hid_t obj, const char* name, std::string& out) {
  if (H5Aexists(obj, name) <= 0) return false;
  Handle attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) return false;
  Handle ftype(H5Aget_type(attr.get()), H5Tclose);
  if (!ftype.ok() || H5Tget_class(ftype.get()) != H5T_STRING) return false;
  Handle space(H5Aget_space(attr.get()), H5Sclose);
  if (!space.ok() || H5Sget_simple_extent_npoints(space.get()) != 1) return false;
  if (H5Tis_variable_str(ftype.get()) > 0) {
    Handle mtype(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mtype.get(), H5T_VARIABLE);
    H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get()));
    char* p = nullptr;
    if (H5Aread(attr.get(), mtype.get(), &p) < 0) return false;
    out = p ? p : "";
    H5free_memory(p);
    return true;
  }
  const size_t n = H5Tget_size(ftype.get());
  std::string buf(n, '\0');
  Handle mtype(H5Tcopy(ftype.get()), H5Tclose);
  if (n == 0 || H5Aread(attr.get(), mtype.get(), buf.data()) < 0) return false;
  buf.resize(strnlen(buf.data(), n));
  out = std::move(buf);
  return true;
}

bool read_int_attr(hid_t obj, const char* name, int64_t& out, bool* is_bool) {
  if (H5Aexists(obj, name) <= 0) return false;
  Handle attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) return false;
  Handle space(H5Aget_space(attr.get()), H5Sclose);
  if (!space.ok() || H5Sget_simple_extent_npoints(space.get()) != 1) return false;
  Handle ftype(H5Aget_type(attr.get()), H5Tclose);
  if (!ftype.ok()) return false;
  const H5T_class_t cls = H5Tget_class(ftype.get());
  if (is_bool) *is_bool = cls == H5T_ENUM;
  if (cls == H5T_INTEGER) return H5Aread(attr.get(), H5T_NATIVE_INT64, &out) >= 0;
  if (cls != H5T_ENUM) return false;
  // Enum values convert only to the same enum: read with its own type, then widen its base.
  Handle base(H5Tget_super(ftype.get()), H5Tclose);
  Handle mtype(H5Tcopy(ftype.get()), H5Tclose);
  if (!base.ok() || !mtype.ok() || H5Tget_size(base.get()) > sizeof(int64_t)) return false;
  unsigned char raw[sizeof(int64_t)] = {};
  if (H5Aread(attr.get(), mtype.get(), raw) < 0) return false;
  const size_t n = H5Tget_size(base.get());
  int64_t v = 0;
  if (n == 1) v = *reinterpret_cast<int8_t*>(raw);
  else if (n == 2) { int16_t x; std::memcpy(&x, raw, 2); v = x; }
  else if (n == 4) { int32_t x; std::memcpy(&x, raw, 4); v = x; }
  else std::memcpy(&v, raw, 8);
  out = v;
  return true;
}

}  // namespace sm::h5
