// SPDX-License-Identifier: Apache-2.0
#pragma once
// The recurrent state of a Mamba model: per layer, the conv window (the last
// d_conv-1 inputs of conv1d, oldest first) and the SSM state. A plain value:
// speculative decoding copies, branches and restores it.
#include <cstdint>
#include <vector>

namespace sm {

struct LayerState {
  std::vector<float> conv;  // conv {conv_dim, d_conv-1} stored as [d_conv-1][conv_dim]
  std::vector<float> ssm;   // Mamba-1 {d_state, d_inner}: [E][N]; Mamba-2 {d_state, P, H}: [H][P][N]
  bool operator==(const LayerState&) const = default;  // element-wise float ==
};

struct ModelState {
  std::vector<LayerState> layers;
  int64_t position = 0;  // tokens consumed so far

  size_t bytes() const {
    size_t b = 0;
    for (const auto& l : layers) b += (l.conv.size() + l.ssm.size()) * sizeof(float);
    return b;
  }
  bool operator==(const ModelState&) const = default;
};

}  // namespace sm
