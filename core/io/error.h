// SPDX-License-Identifier: Apache-2.0
#pragma once
// One exception type for every user-facing failure: the message names the
// file (or input) and the problem, so the CLI and GUI can show it as is.
#include <stdexcept>
#include <string>

namespace sm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "PATH: message" — the form every loader uses.
[[noreturn]] inline void fail(const std::string& where, const std::string& what) {
  throw Error(where.empty() ? what : where + ": " + what);
}

}  // namespace sm
