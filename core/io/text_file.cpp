// SPDX-License-Identifier: Apache-2.0
#include "core/io/text_file.h"

#include <fstream>
#include <sstream>

#include "core/io/error.h"

namespace sm {

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot open file");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) fail(path, "read error");
  return ss.str();
}

}  // namespace sm
