// SPDX-License-Identifier: Apache-2.0
// `specmamba devices`: the backends a model can run on — the CPU ones, always
// there, and the FPGA boards XRT sees, or why there are none (docs/xrt.md).
// Exit status 0 whatever the hardware: no board is not an error.
#include <iostream>

#include "accel/xrt/xrt_device.h"
#include "accel/xrt/xrt_probe.h"
#include "cli_common.h"
#include "core/kernels/simd.h"

namespace sm::cli {

Runner add_devices(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("devices", "List the CPU backends and the FPGA boards XRT sees (or why none)");
  cmd->add_flag("--json", c.json, "print one JSON object");
  return [&c] {
    std::string simd = "?";
    try {
      simd = simd::target_name();
    } catch (...) {
    }
    nlohmann::json backends = nlohmann::json::array();
    backends.push_back({{"name", "cpu"},
                        {"available", true},
                        {"description", "the model's own CPU kernels (fp32 and quantized, SIMD " + simd + ")"}});
    backends.push_back({{"name", "emu"},
                        {"available", true},
                        {"description", "the accelerator's HLS kernels (accel/hls) run on the CPU, bit-exact with "
                                        "the hardware datapath"}});
    accel::ProbeResult p;
    try {
      p = accel::probe_boards();
    } catch (const std::exception& e) {  // probe_boards does not throw; belt and braces
      p.kind = accel::XrtReason::kOther;
      p.reason = std::string("probing XRT failed: ") + e.what();
    }
    nlohmann::json boards = nlohmann::json::array();
    for (const auto& b : p.boards)
      boards.push_back({{"index", b.index},
                        {"name", b.name},
                        {"bdf", b.bdf},
                        {"platform", b.platform},
                        {"max_clock_mhz", b.max_clock_mhz}});
    const bool available = !p.boards.empty();
    nlohmann::json xrt = {{"available", available},
                          {"built_with_xrt", accel::XrtDevice::built_with_xrt()},
                          {"reason", p.reason},
                          {"kind", accel::xrt_reason_name(p.kind)},
                          {"xrt_message", p.xrt_message}};
    if (c.json) {
      print_json({{"backends", backends}, {"boards", boards}, {"xrt", xrt}});
      return 0;
    }
    std::cout << "CPU backends (always available):\n";
    for (const auto& b : backends)
      std::cout << "  " << b["name"].get<std::string>() << "    " << b["description"].get<std::string>() << "\n";
    std::cout << "FPGA boards (xrt backend):\n";
    if (available) {
      for (const auto& b : p.boards)
        std::cout << "  [" << b.index << "] " << (b.name.empty() ? "(unnamed)" : b.name)
                  << (b.bdf.empty() ? "" : "  bdf " + b.bdf)
                  << (b.max_clock_mhz ? "  up to " + std::to_string(b.max_clock_mhz) + " MHz" : "") << "\n";
    } else {
      std::cout << "  none: " << p.reason << "\n";
    }
    return 0;
  };
}

}  // namespace sm::cli
