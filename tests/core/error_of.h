// SPDX-License-Identifier: Apache-2.0
#pragma once
// The message of the sm::Error that f throws, or "(no error)".
#include <functional>
#include <string>

#include "core/io/error.h"

namespace sm_test {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const sm::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace sm_test
