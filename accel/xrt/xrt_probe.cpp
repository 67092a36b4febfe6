// SPDX-License-Identifier: Apache-2.0
#include "accel/xrt/xrt_probe.h"

#include <cstdlib>
#include <exception>

#if SPECMAMBA_HAVE_XRT
#include <xrt/xrt_device.h>
#endif

namespace sm::accel {

const char* xrt_reason_name(XrtReason r) {
  switch (r) {
    case XrtReason::kNone: return "none";
    case XrtReason::kNoXrtSupport: return "no-xrt-support";
    case XrtReason::kXilinxXrtNotSet: return "xilinx-xrt-not-set";
    case XrtReason::kLibraryMissing: return "library-missing";
    case XrtReason::kNoBoard: return "no-board";
    case XrtReason::kOther: return "other";
  }
  return "other";
}

XrtReason classify_xrt_error(const std::string& what) {
  if (what.find("XILINX_XRT not set") != std::string::npos) return XrtReason::kXilinxXrtNotSet;
  if (what.find("No such library") != std::string::npos || what.find("libxrt_core") != std::string::npos)
    return XrtReason::kLibraryMissing;
  if (what.find("Could not open device") != std::string::npos || what.find("No devices found") != std::string::npos)
    return XrtReason::kNoBoard;
  return XrtReason::kOther;
}

std::string explain_xrt_error(XrtReason kind, const std::string& what) {
  const char* env = std::getenv("XILINX_XRT");
  const std::string xilinx_xrt = env ? env : "";
  const std::string emu = "; without a board, run on the emu backend (the same kernels on the CPU)";
  switch (kind) {
    case XrtReason::kNone: return "";
    case XrtReason::kNoXrtSupport:
      return "this build has no XRT support (libxrt-dev was not found at configure time): install libxrt-dev "
             "and uuid-dev and reconfigure" + emu;
    case XrtReason::kXilinxXrtNotSet:
      return "XRT cannot start: XILINX_XRT is not set (XRT says \"" + what +
             "\"). Source the XRT setup script (source /opt/xilinx/xrt/setup.sh) or, with Debian's libxrt1, "
             "set XILINX_XRT to a folder whose lib/ links to /usr/lib/x86_64-linux-gnu" + emu;
    case XrtReason::kLibraryMissing:
      return "XRT cannot load its driver library (XRT says \"" + what + "\"): XILINX_XRT" +
             (xilinx_xrt.empty() ? std::string(" is unset or wrong") : "=" + xilinx_xrt + " is not an XRT install") +
             ". Set XILINX_XRT to the folder whose lib/ holds libxrt_core.so.2 (package libxrt1)" + emu;
    case XrtReason::kNoBoard:
      return "no FPGA board found: XRT sees no device (XRT says \"" + what +
             "\"). Attach an Alveo/Versal board with its xocl/zocl driver loaded (`xbutil examine` lists it)" + emu;
    case XrtReason::kOther:
      return "XRT could not open a device: " + what + emu;
  }
  return what;
}

ProbeResult probe_boards(int max_boards) {
  ProbeResult r;
#if !SPECMAMBA_HAVE_XRT
  (void)max_boards;
  r.xrt_support = false;
  r.kind = XrtReason::kNoXrtSupport;
  r.reason = explain_xrt_error(r.kind, "");
  return r;
#else
  r.xrt_support = true;
  for (int i = 0; i < max_boards; ++i) {
    try {
      xrt::device dev(static_cast<unsigned int>(i));
      BoardInfo b;
      b.index = i;
      // Each query on its own: an old shell may not answer one of them.
      try {
        b.name = dev.get_info<xrt::info::device::name>();
      } catch (const std::exception&) {
      }
      try {
        b.bdf = dev.get_info<xrt::info::device::bdf>();
      } catch (const std::exception&) {
      }
      try {
        b.platform = dev.get_info<xrt::info::device::platform>();
      } catch (const std::exception&) {
      }
      try {
        b.max_clock_mhz = dev.get_info<xrt::info::device::max_clock_frequency_mhz>();
      } catch (const std::exception&) {
      }
      r.boards.push_back(std::move(b));
    } catch (const std::exception& e) {
      if (i == 0) {
        r.xrt_message = e.what();
        r.kind = classify_xrt_error(r.xrt_message);
        r.reason = explain_xrt_error(r.kind, r.xrt_message);
      }
      break;
    } catch (...) {
      if (i == 0) {
        r.xrt_message = "unknown exception";
        r.kind = XrtReason::kOther;
        r.reason = explain_xrt_error(r.kind, r.xrt_message);
      }
      break;
    }
  }
  return r;
#endif
}

}  // namespace sm::accel
