// SPDX-License-Identifier: Apache-2.0
#pragma once
// The tuner's accelerator side without a run: the design its fields describe
// (accel::default_design of the platform, the quantization's bit widths, the
// linear tile, SSM parallelism and clock), checked with core's validate /
// validate_for, and its resources (accel::estimate_resources) against the
// platform, one bar per DSP / LUT / BRAM / URAM with check_fit's verdict.
// Include accel headers before Qt ones in .cpp files that use this.
#include <QString>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "accel/dataflow/model.h"
#include "accel/dataflow/platform.h"
#include "core/io/model_config.h"
#include "core/quant/quant_config.h"
#include "ui/generation_types.h"
#include "ui/models/resource_bars.h"

namespace sm::ui {

struct DesignFit {
  QString problem;          // the first invalid field, in the GUI's words; empty: valid
  std::optional<accel::Platform> platform;
  accel::Design design;
  accel::Resources resources;
  std::vector<ResourceBar> bars;  // DSP, LUT, BRAM, URAM (empty when the design is invalid)
  QString fit_problem;      // check_fit's message naming the resource; empty: fits
  bool valid() const { return problem.isEmpty(); }
  bool fits() const { return valid() && fit_problem.isEmpty(); }
};

// Core's design / platform messages in the tuner's field names
// ("design: tile: ..." -> "Linear tile: ...").
QString designMessage(const QString& core_message);

// The design for `request` on its platform (loaded by name or path), with
// the bit widths of `quant` when given.
accel::Design design_for(const AccelRequest& request, const accel::Platform& platform,
                         const quant::QuantConfig* quant);

// Everything above for the target shape `model`. Never throws.
DesignFit evaluate_design(const ModelConfig& model, const AccelRequest& request, const quant::QuantConfig* quant);

// "tile 8x8 · SSM 8 · 400 MHz"
QString design_text(const accel::Design& d);

}  // namespace sm::ui
