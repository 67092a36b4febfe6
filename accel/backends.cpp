// SPDX-License-Identifier: Apache-2.0
#include "accel/backends.h"

#include "accel/emu/emu_device.h"
#include "accel/xrt/xrt_device.h"
#include "accel/xrt/xrt_probe.h"
#include "core/io/error.h"

namespace sm::accel {

const std::vector<std::string>& backend_names() {
  static const std::vector<std::string> names = {"cpu", "emu", "xrt"};
  return names;
}

OpenedDevice open_device(const DeviceRequest& req) {
  if (req.backend == "cpu") return {nullptr, "cpu", ""};
  if (req.backend == "emu") return {std::make_shared<EmuDevice>(), "emu", ""};
  if (req.backend != "xrt") fail("--device", "unknown backend '" + req.backend + "' (cpu, emu or xrt)");
  // A file the user named is checked first, board or not: a wrong path is
  // their mistake to fix, not a reason to run elsewhere.
  if (!req.xclbin.empty()) XrtDevice::inspect_xclbin(req.xclbin);
  const ProbeResult probe = probe_boards();
  if (probe.boards.empty()) {
    std::string why = probe.reason;
    const size_t advice = why.find("; without a board, run on the emu backend");
    if (advice != std::string::npos) why.resize(advice);  // that is what happens next
    return {std::make_shared<EmuDevice>(), "emu", "xrt: " + why + "; running on emu"};
  }
  if (req.xclbin.empty())
    fail("--device xrt", "a board is attached but no --xclbin FILE was given (build one with "
                         "cmake -DSPECMAMBA_XCLBIN=ON, docs/xrt.md)");
  return {std::shared_ptr<device::Device>(XrtDevice::open({req.board, req.xclbin})), "xrt", ""};
}

}  // namespace sm::accel
