// SPDX-License-Identifier: Apache-2.0
#pragma once
// Puts a loaded model's quantized ops on a device: every integer linear
// layer (in_proj, out_proj, x_proj, the 8-bit head), every layer's causal
// conv1d and, with the power-of-two SSM (Mamba-2), the scan. What has no
// integer form on the accelerator stays on the CPU: fp32 layers (Mamba-1's
// dt_proj when its group cannot divide dt_rank), norms, gating, Mamba-1's
// float scan. Weights are uploaded here, once.
#include <memory>
#include <string>

#include "core/device/device.h"
#include "core/io/model_config.h"
#include "core/model/mamba_weights.h"

namespace sm::device {

// What bind_device put on the device (for `info`, the Studio and tests).
struct BindReport {
  int linear = 0, conv = 0, ssm = 0;  // ops on the device
  int host_linear = 0;                // fp32 linear layers left on the CPU
  std::string summary() const;        // "12 linear, 2 conv, 2 ssm on emu; 0 fp32 linear on the CPU"
};

// Fails (sm::Error) for an fp32 checkpoint (nothing to run: quantize it
// first), a model already bound, or a layer the device refuses; the weights
// are then left unbound.
BindReport bind_device(ModelWeights& w, const ModelConfig& cfg, std::shared_ptr<Device> dev);

}  // namespace sm::device
