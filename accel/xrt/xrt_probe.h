// SPDX-License-Identifier: Apache-2.0
#pragma once
// Which FPGA boards XRT sees, or why it sees none: for `specmamba devices`,
// the Studio and XrtDevice::open's error messages. Never throws and never
// crashes for want of hardware, drivers or environment (docs/xrt.md).
#include <string>
#include <vector>

namespace sm::accel {

struct BoardInfo {
  int index = 0;              // xrt::device(index)
  std::string name;           // the shell / platform name (VBNV) the board runs
  std::string bdf;            // PCIe bus:device.function
  std::string platform;       // XRT's platform description (JSON text; may be empty)
  unsigned long max_clock_mhz = 0;
};

// Why no board is usable.
enum class XrtReason {
  kNone,            // boards were found
  kNoXrtSupport,    // this build has no XRT (libxrt-dev missing at configure time)
  kXilinxXrtNotSet, // XRT: "XILINX_XRT not set"
  kLibraryMissing,  // XRT: "No such library '.../libxrt_core.so.2'"
  kNoBoard,         // XRT: "Could not open device with index '0'"
  kOther,           // any other XRT message (kept verbatim in the reason)
};
// "none", "no-xrt-support", "xilinx-xrt-not-set", "library-missing", "no-board", "other".
const char* xrt_reason_name(XrtReason r);

struct ProbeResult {
  bool xrt_support = false;        // the build has XRT (SPECMAMBA_HAVE_XRT)
  std::vector<BoardInfo> boards;   // in index order
  XrtReason kind = XrtReason::kNone;
  std::string reason;              // empty when boards were found; else what is wrong and what to do
  std::string xrt_message;         // the first XRT exception's own text (empty if none)
};

// Opens xrt::device(i) for i = 0, 1, ... until one throws (at most max_boards).
ProbeResult probe_boards(int max_boards = 64);

// The class of an XRT exception text (from xrt::device's constructor).
XrtReason classify_xrt_error(const std::string& what);
// A sentence for the user: what went wrong (quoting XRT's `what`) and what to do.
std::string explain_xrt_error(XrtReason kind, const std::string& what);

}  // namespace sm::accel
