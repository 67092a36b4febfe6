// SPDX-License-Identifier: Apache-2.0
// The xrt backend without a board (this machine has none): probing says why,
// and every way of opening it fails with an sm::Error that names the problem
// (a missing, empty, garbage, truncated or incomplete xclbin, a directory, no
// board, an index out of range, XILINX_XRT unset or wrong). Nothing crashes.
// Tests that need XRT itself are skipped in a build without it.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "accel/xrt/xrt_device.h"
#include "accel/xrt/xrt_probe.h"
#include "core/io/error.h"

namespace fs = std::filesystem;
using sm::accel::probe_boards;
using sm::accel::XrtDevice;
using sm::accel::XrtOptions;
using sm::accel::XrtReason;

namespace {

// Once XRT has loaded its driver library it keeps it, whatever XILINX_XRT
// says later; the environment tests only insist on their specific message
// until then.
bool g_xrt_loaded = false;

void note(const sm::accel::ProbeResult& p) {
  if (p.kind == XrtReason::kNoBoard || !p.boards.empty()) g_xrt_loaded = true;
}

struct TempDir {
  fs::path dir;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "sm_xrt_test_XXXXXX").string();
    dir = mkdtemp(t.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir, ec);
  }
  std::string file(const std::string& name, const std::string& bytes) const {
    const fs::path p = dir / name;
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p.string();
  }
};

// Sets (or unsets, with nullopt) XILINX_XRT for one scope.
struct EnvGuard {
  std::optional<std::string> saved;
  explicit EnvGuard(const std::optional<std::string>& value) {
    if (const char* v = std::getenv("XILINX_XRT")) saved = v;
    if (value)
      setenv("XILINX_XRT", value->c_str(), 1);
    else
      unsetenv("XILINX_XRT");
  }
  ~EnvGuard() {
    if (saved)
      setenv("XILINX_XRT", saved->c_str(), 1);
    else
      unsetenv("XILINX_XRT");
  }
};

template <class T>
void put(std::string& b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

// A minimal xclbin (struct axlf of xclbin.h, written by hand so the test
// needs no XRT headers): the header, and one EMBEDDED_METADATA section whose
// XML lists `kernels`. XRT parses it like a v++ output; it has no bitstream,
// so no board could run it.
std::string fake_xclbin(const std::vector<std::string>& kernels, const std::string& platform = "sm_test_platform") {
  std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<project name=\"specmamba\"><platform vendor=\"test\" "
      "boardid=\"test\" name=\"test\"><device name=\"fpga0\"><core name=\"OCL_REGION_0\" target=\"hw\">";
  for (const auto& k : kernels)
    xml += "<kernel name=\"" + k +
           "\" language=\"c\" hwControlProtocol=\"ap_ctrl_chain\">"
           "<port name=\"S_AXI_CONTROL\" mode=\"slave\" range=\"0x1000\" dataWidth=\"32\" portType=\"addressable\" "
           "base=\"0x0\"/>"
           "<arg name=\"n\" addressQualifier=\"0\" id=\"0\" port=\"S_AXI_CONTROL\" size=\"0x4\" offset=\"0x10\" "
           "hostOffset=\"0x0\" hostSize=\"0x4\" type=\"int\"/></kernel>";
  xml += "</core></device></platform></project>";
  std::string b(496, '\0');
  std::memcpy(b.data(), "xclbin2", 8);      // m_magic
  put<int32_t>(b, 8, -1);                    // m_signature_length
  std::memset(b.data() + 12, 0xff, 28);      // reserved
  std::memcpy(b.data() + 352, platform.data(), std::min<size_t>(platform.size(), 63));  // m_platformVBNV
  put<uint32_t>(b, 448, 1);                  // m_numSections
  put<uint32_t>(b, 456, 2);                  // m_sections[0].m_sectionKind = EMBEDDED_METADATA
  std::memcpy(b.data() + 460, "metadata", 8);
  put<uint64_t>(b, 480, 496);                // m_sectionOffset
  put<uint64_t>(b, 488, xml.size());         // m_sectionSize
  b += xml;
  put<uint64_t>(b, 304, b.size());           // m_header.m_length
  return b;
}

std::vector<std::string> all_kernels() { return sm::accel::xrt_kernel_names(); }

// The sm::Error message of f(), or "" if f does not throw sm::Error (other
// exceptions fail the test).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const sm::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an sm::Error: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no error";
  return "";
}

std::string open_error(const std::string& xclbin, int index = 0) {
  return error_of([&] { XrtDevice::open(XrtOptions{index, xclbin}); });
}

#define EXPECT_HAS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << "message: " << (text)

bool has_any(const std::string& s, std::initializer_list<const char*> parts) {
  for (const char* p : parts)
    if (s.find(p) != std::string::npos) return true;
  return false;
}

#define NEED_XRT() \
  if (!XrtDevice::built_with_xrt()) GTEST_SKIP() << "this build has no XRT"

// The explanations open() and probe_boards() give for a device that does not open.
const std::initializer_list<const char*> kDeviceReasons = {"no FPGA board found", "XILINX_XRT is not set",
                                                           "cannot load its driver library"};

}  // namespace

TEST(XrtProbe, NoBoardGivesAReason) {
  const auto p = probe_boards();
  note(p);
  if (!p.boards.empty()) GTEST_SKIP() << "a board is attached: " << p.boards[0].name;
  EXPECT_EQ(p.xrt_support, XrtDevice::built_with_xrt());
  EXPECT_NE(p.kind, XrtReason::kNone);
  EXPECT_FALSE(p.reason.empty());
  EXPECT_HAS(p.reason, "emu backend");
  if (!p.xrt_support) {
    EXPECT_EQ(p.kind, XrtReason::kNoXrtSupport);
    EXPECT_HAS(p.reason, "this build has no XRT support (libxrt-dev was not found at configure time)");
  } else {
    EXPECT_FALSE(p.xrt_message.empty());
    EXPECT_TRUE(has_any(p.reason, kDeviceReasons)) << p.reason;
  }
}

TEST(XrtProbe, ClassifiesXrtMessages) {
  EXPECT_EQ(sm::accel::classify_xrt_error("XILINX_XRT not set"), XrtReason::kXilinxXrtNotSet);
  EXPECT_EQ(sm::accel::classify_xrt_error("No such library '/bogus/lib/libxrt_core.so.2'"),
            XrtReason::kLibraryMissing);
  EXPECT_EQ(sm::accel::classify_xrt_error("Could not open device with index '0'"), XrtReason::kNoBoard);
  EXPECT_EQ(sm::accel::classify_xrt_error("something else"), XrtReason::kOther);
  EXPECT_HAS(sm::accel::explain_xrt_error(XrtReason::kXilinxXrtNotSet, "XILINX_XRT not set"),
             "XILINX_XRT is not set");
  EXPECT_HAS(sm::accel::explain_xrt_error(XrtReason::kLibraryMissing, "No such library '/x/lib/libxrt_core.so.2'"),
             "/x/lib/libxrt_core.so.2");
  EXPECT_HAS(sm::accel::explain_xrt_error(XrtReason::kNoBoard, "Could not open device with index '0'"),
             "no FPGA board found");
  EXPECT_HAS(sm::accel::explain_xrt_error(XrtReason::kNoXrtSupport, ""),
             "this build has no XRT support (libxrt-dev was not found at configure time)");
  EXPECT_STREQ(sm::accel::xrt_reason_name(XrtReason::kNoBoard), "no-board");
}

TEST(XrtDevice, NoXrtSupportSaysSo) {
  if (XrtDevice::built_with_xrt()) GTEST_SKIP() << "this build has XRT";
  TempDir t;
  const std::string msg = open_error(t.file("ok.xclbin", fake_xclbin(all_kernels())));
  EXPECT_HAS(msg, "this build has no XRT support (libxrt-dev was not found at configure time)");
}

TEST(XrtDevice, MissingXclbin) {
  NEED_XRT();
  TempDir t;
  const std::string path = (t.dir / "nosuch.xclbin").string();
  const std::string msg = open_error(path);
  EXPECT_HAS(msg, path);
  EXPECT_HAS(msg, "no such xclbin file");
  EXPECT_HAS(msg, "SPECMAMBA_XCLBIN");
}

TEST(XrtDevice, EmptyPath) {
  NEED_XRT();
  EXPECT_HAS(open_error(""), "no xclbin path given");
}

TEST(XrtDevice, GarbageFile) {
  NEED_XRT();
  TempDir t;
  const std::string path = t.file("garbage.xclbin", std::string(4096, 'x'));
  const std::string msg = open_error(path);
  EXPECT_HAS(msg, path);
  EXPECT_HAS(msg, "not an xclbin");
  // Short garbage too (shorter than the header).
  const std::string small = t.file("small.xclbin", "hello\n");
  EXPECT_HAS(open_error(small), "not an xclbin");
}

TEST(XrtDevice, EmptyFile) {  // XRT's own parser crashes on this one
  NEED_XRT();
  TempDir t;
  const std::string path = t.file("empty.xclbin", "");
  const std::string msg = open_error(path);
  EXPECT_HAS(msg, path);
  EXPECT_HAS(msg, "empty file, not an xclbin");
}

TEST(XrtDevice, Directory) {  // XRT's own parser throws std::bad_alloc on this one
  NEED_XRT();
  TempDir t;
  const std::string msg = open_error(t.dir.string());
  EXPECT_HAS(msg, t.dir.string());
  EXPECT_HAS(msg, "is a directory, not an xclbin file");
}

TEST(XrtDevice, UnreadableFile) {
  NEED_XRT();
  TempDir t;
  const std::string path = t.file("locked.xclbin", fake_xclbin(all_kernels()));
  ::chmod(path.c_str(), 0);
  if (::access(path.c_str(), R_OK) == 0) GTEST_SKIP() << "running as root: every file is readable";
  const std::string msg = open_error(path);
  EXPECT_HAS(msg, path);
  EXPECT_HAS(msg, "cannot read the xclbin");
}

TEST(XrtDevice, TruncatedAndCorruptXclbin) {
  NEED_XRT();
  TempDir t;
  std::string whole = fake_xclbin(all_kernels());
  const std::string cut = t.file("cut.xclbin", whole.substr(0, whole.size() - 40));
  EXPECT_HAS(open_error(cut), "truncated xclbin");
  std::string bad = whole;
  put<uint64_t>(bad, 480, uint64_t(1) << 40);  // the section's offset far past the end
  const std::string corrupt = t.file("corrupt.xclbin", bad);
  const std::string msg = open_error(corrupt);
  EXPECT_HAS(msg, "corrupt xclbin");
  EXPECT_HAS(msg, "metadata");
  std::string many = whole;
  put<uint32_t>(many, 448, 1000);  // more section headers than the file holds
  EXPECT_HAS(open_error(t.file("many.xclbin", many)), "section headers do not fit");
}

TEST(XrtDevice, XclbinLackingKernelsNamesThem) {
  NEED_XRT();
  TempDir t;
  const std::string path = t.file("partial.xclbin", fake_xclbin({"sm_linear", "sm_conv_silu", "other_kernel"}));
  const std::string msg = open_error(path);
  EXPECT_HAS(msg, path);
  EXPECT_HAS(msg, "lacks kernels sm_ssm_pot, sm_tree_ssm");
  EXPECT_HAS(msg, "it has: sm_linear, sm_conv_silu, other_kernel");
  const std::string none = t.file("none.xclbin", fake_xclbin({}));
  EXPECT_HAS(open_error(none), "lacks kernels sm_linear, sm_conv_silu, sm_ssm_pot, sm_tree_ssm");
  EXPECT_HAS(open_error(none), "no kernels");
}

TEST(XrtDevice, InspectsAGoodXclbinWithoutABoard) {
  NEED_XRT();
  TempDir t;
  const std::string path = t.file("good.xclbin", fake_xclbin(all_kernels(), "xilinx_u280_test"));
  const auto info = XrtDevice::inspect_xclbin(path);
  EXPECT_EQ(info.platform, "xilinx_u280_test");
  EXPECT_EQ(info.kernels, all_kernels());
  EXPECT_EQ(info.path, path);
}

// The environment tests come before the other device tests: XRT keeps its
// driver library once it has found it.
TEST(XrtDevice, XilinxXrtUnset) {
  NEED_XRT();
  TempDir t;
  const std::string path = t.file("good.xclbin", fake_xclbin(all_kernels()));
  EnvGuard env(std::nullopt);
  const bool loaded = g_xrt_loaded;
  const auto p = probe_boards();
  note(p);
  if (!p.boards.empty()) GTEST_SKIP() << "a board is attached";
  EXPECT_FALSE(p.reason.empty());
  const std::string msg = open_error(path);
  EXPECT_HAS(msg, "xrt device 0");
  if (!loaded) {
    EXPECT_EQ(p.kind, XrtReason::kXilinxXrtNotSet) << p.reason;
    EXPECT_HAS(msg, "XILINX_XRT is not set");
    EXPECT_HAS(msg, "/opt/xilinx/xrt/setup.sh");
  } else {
    EXPECT_TRUE(has_any(msg, kDeviceReasons)) << msg;
  }
}

TEST(XrtDevice, XilinxXrtBogusFolder) {
  NEED_XRT();
  TempDir t;
  const std::string path = t.file("good.xclbin", fake_xclbin(all_kernels()));
  const std::string bogus = (t.dir / "no_xrt_here").string();
  EnvGuard env(bogus);
  const bool loaded = g_xrt_loaded;
  const auto p = probe_boards();
  note(p);
  if (!p.boards.empty()) GTEST_SKIP() << "a board is attached";
  EXPECT_FALSE(p.reason.empty());
  const std::string msg = open_error(path);
  EXPECT_HAS(msg, "xrt device 0");
  if (!loaded) {
    EXPECT_EQ(p.kind, XrtReason::kLibraryMissing) << p.reason;
    EXPECT_HAS(msg, "cannot load its driver library");
    EXPECT_HAS(msg, bogus + "/lib/libxrt_core.so.2");
    EXPECT_HAS(msg, "XILINX_XRT=" + bogus);
  } else {
    EXPECT_TRUE(has_any(msg, kDeviceReasons)) << msg;
  }
}

// With XILINX_XRT at a prefix whose lib/ is Debian's library folder, XRT
// loads its driver and finds no board.
TEST(XrtDevice, NoBoardAndIndexOutOfRange) {
  NEED_XRT();
  TempDir t;
  const std::string path = t.file("good.xclbin", fake_xclbin(all_kernels()));
  std::optional<EnvGuard> env;
  const fs::path debian = "/usr/lib/x86_64-linux-gnu";
  if (fs::exists(debian / "libxrt_core.so.2")) {
    fs::create_directories(t.dir / "xrt");
    fs::create_directory_symlink(debian, t.dir / "xrt" / "lib");
    env.emplace((t.dir / "xrt").string());
  }
  const auto p = probe_boards();
  note(p);
  if (!p.boards.empty()) GTEST_SKIP() << "a board is attached";
  EXPECT_FALSE(p.reason.empty());
  const bool no_board = p.kind == XrtReason::kNoBoard;
  for (int index : {0, 3, 99}) {
    const std::string msg = open_error(path, index);
    EXPECT_HAS(msg, "xrt device " + std::to_string(index));
    if (no_board) {
      EXPECT_HAS(msg, "no FPGA board found");
      EXPECT_HAS(msg, "index '" + std::to_string(index) + "'");
      EXPECT_HAS(msg, "xbutil examine");
    } else {
      EXPECT_TRUE(has_any(msg, kDeviceReasons)) << msg;
    }
  }
  const std::string neg = open_error(path, -1);
  EXPECT_HAS(neg, "xrt device -1");
  EXPECT_HAS(neg, "out of range");
}

TEST(XrtDevice, BadXclbinIsReportedBeforeTheDevice) {
  NEED_XRT();
  // The xclbin is checked first: its problem is the one reported, whatever the board situation.
  TempDir t;
  const std::string msg = open_error(t.file("g.xclbin", "garbage"), 7);
  EXPECT_HAS(msg, "not an xclbin");
}
