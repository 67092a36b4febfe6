// SPDX-License-Identifier: Apache-2.0
#pragma once
// Where the shipped data lives: $SPECMAMBA_DATA if set, else the source
// tree's data/ (the build is run from a checkout).
#include <string>

namespace sm {

std::string data_dir();
std::string default_target_model();  // data/models/mamba2-target
std::string default_draft_model();   // data/models/mamba2-draft

}  // namespace sm
