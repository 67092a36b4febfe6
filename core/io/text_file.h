// SPDX-License-Identifier: Apache-2.0
#pragma once
// A whole file as bytes (prompts, specs, held-out text); sm::Error names the
// file when it cannot be opened or read.
#include <string>

namespace sm {

std::string read_text_file(const std::string& path);

}  // namespace sm
