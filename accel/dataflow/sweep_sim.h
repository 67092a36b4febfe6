// SPDX-License-Identifier: Apache-2.0
#pragma once
// The simulated-accelerator figures of a sweep row (core/sweep/sweep.h):
// the dataflow model (model.h) of the run's own speculative steps on the
// row's platform, with LightMamba's published design (default_design) at
// the preset's bit widths (Design::apply_quant). Each step is simulated with
// its own accepted length, as PipelineTraceSink does for `specmamba generate
// --device emu`.
#include "core/sweep/sweep.h"

namespace sm::accel {

// Loads every platform of the spec's platform axis; throws sm::Error
// ("axes.platform[i] 'NAME': ...") naming the first unknown one.
void check_sweep_platforms(const sweep::SweepSpec& spec);

// Sim tok/s, energy per token, resources and fit of one run. Throws sm::Error
// when the design cannot be modelled for the models (the runner records it).
sweep::SimResult simulate_sweep_run(const sweep::SimRequest& req);

// simulate_sweep_run as a RunOptions::simulate callback (thread-safe).
sweep::SimulateFn sweep_simulator();

}  // namespace sm::accel
