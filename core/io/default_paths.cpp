// SPDX-License-Identifier: Apache-2.0
#include "core/io/default_paths.h"

#include <cstdlib>

#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR

namespace sm {

std::string data_dir() {
  if (const char* env = std::getenv("SPECMAMBA_DATA"); env && *env) return env;
  return std::string(SPECMAMBA_SOURCE_DIR) + "/data";
}

std::string default_target_model() { return data_dir() + "/models/mamba2-target"; }
std::string default_draft_model() { return data_dir() + "/models/mamba2-draft"; }

}  // namespace sm
