// SPDX-License-Identifier: Apache-2.0
// The `xrt` backend (accel/xrt/xrt_device.h, docs/xrt.md). Everything that
// touches XRT is under SPECMAMBA_HAVE_XRT; without it the class still links
// and open() reports that this build has no XRT support.
#include "accel/xrt/xrt_device.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>

#include "accel/emu/emu_device.h"
#include "accel/hls/top.h"
#include "accel/xrt/xrt_probe.h"
#include "core/io/error.h"

#if SPECMAMBA_HAVE_XRT
#include <xrt/xrt_bo.h>
#include <xrt/xrt_device.h>
#include <xrt/xrt_kernel.h>
#include <experimental/xrt_xclbin.h>
#endif

namespace sm::accel {

using sm::device::ConvDesc;
using sm::device::Handle;
using sm::device::LinearDesc;
using sm::device::OpCounts;
using sm::device::SsmDesc;

const std::vector<std::string>& xrt_kernel_names() {
  static const std::vector<std::string> names = {"sm_linear", "sm_conv_silu", "sm_ssm_pot", "sm_tree_ssm"};
  return names;
}

bool XrtDevice::built_with_xrt() {
#if SPECMAMBA_HAVE_XRT
  return true;
#else
  return false;
#endif
}

namespace {

[[noreturn, maybe_unused]] void fail_no_xrt() { throw sm::Error(explain_xrt_error(XrtReason::kNoXrtSupport, "")); }

const char* const kBuildHint = "build it with cmake -DSPECMAMBA_XCLBIN=ON, see docs/xrt.md";

// The fixed layout of an xclbin's start (xclbin.h, struct axlf): magic at 0,
// the header at 304 (m_length at 304, m_platformVBNV[64] at 352,
// m_numSections at 448), 40-byte section headers from 456 (kind u32 at 0,
// name[16] at 4, offset u64 at 24, size u64 at 32). Checked here so that a
// truncated or foreign file never reaches XRT's parser, which trusts them
// (an empty file crashes it).
constexpr size_t kAxlfSize = 496, kLengthAt = 304, kVbnvAt = 352, kNumSectionsAt = 448, kSectionsAt = 456,
                 kSectionSize = 40;
constexpr uint32_t kMaxSections = 0x10000;

template <class T>
T load(const std::vector<char>& d, size_t at) {
  T v;
  std::memcpy(&v, d.data() + at, sizeof v);
  return v;
}

[[maybe_unused]] std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// The file's bytes, after the checks that need no XRT.
std::vector<char> read_xclbin_file(const std::string& path) {
  if (path.empty()) fail("xclbin", std::string("no xclbin path given: pass the accelerator's specmamba.xclbin (") +
                                       kBuildHint + ")");
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    if (ec && ec != std::errc::no_such_file_or_directory)
      fail(path, "cannot access the xclbin: " + ec.message());
    fail(path, std::string("no such xclbin file (") + kBuildHint + ")");
  }
  if (fs::is_directory(st)) fail(path, "is a directory, not an xclbin file");
  if (!fs::is_regular_file(st)) fail(path, "not a regular file, not an xclbin");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot read the xclbin: ") + std::strerror(errno));
  std::vector<char> d((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail(path, std::string("cannot read the xclbin: ") + std::strerror(errno));
  if (d.empty()) fail(path, "empty file, not an xclbin");
  if (d.size() < kAxlfSize || std::memcmp(d.data(), "xclbin2\0", 8) != 0)
    fail(path, "not an xclbin (it does not start with an xclbin2 header; " + std::string(kBuildHint) + ")");
  const auto length = load<uint64_t>(d, kLengthAt);
  if (length > d.size())
    fail(path, "truncated xclbin: its header says " + std::to_string(length) + " bytes, the file has " +
                   std::to_string(d.size()));
  const auto n = load<uint32_t>(d, kNumSectionsAt);
  if (n > kMaxSections || kSectionsAt + uint64_t(n) * kSectionSize > d.size())
    fail(path, "corrupt xclbin: " + std::to_string(n) + " section headers do not fit in the file");
  for (uint32_t i = 0; i < n; ++i) {
    const size_t at = kSectionsAt + size_t(i) * kSectionSize;
    const auto off = load<uint64_t>(d, at + 24), size = load<uint64_t>(d, at + 32);
    if (off > d.size() || size > d.size() - off) {
      std::string name(d.data() + at + 4, strnlen(d.data() + at + 4, 16));
      fail(path, "corrupt xclbin: section " + std::to_string(i) + " '" + name + "' lies beyond the end of the file");
    }
  }
  return d;
}

[[maybe_unused]] std::string vbnv_of(const std::vector<char>& d) { return std::string(d.data() + kVbnvAt, strnlen(d.data() + kVbnvAt, 64)); }

[[maybe_unused]] int32_t to_i32(int64_t v, const std::string& layer, const char* what) {
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
    fail(layer, std::string(what) + " " + std::to_string(v) + " does not fit the kernel's int32 argument");
  return static_cast<int32_t>(v);
}

}  // namespace

#if !SPECMAMBA_HAVE_XRT

struct XrtDevice::Impl {
  XclbinInfo info;
  std::vector<KernelTiming> timings;
};

XclbinInfo XrtDevice::inspect_xclbin(const std::string& path) {
  (void)read_xclbin_file(path);  // the file checks need no XRT; the kernel list does
  fail(path, explain_xrt_error(XrtReason::kNoXrtSupport, ""));
}
std::unique_ptr<XrtDevice> XrtDevice::open(const XrtOptions&) { fail_no_xrt(); }
XrtDevice::XrtDevice(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
XrtDevice::~XrtDevice() = default;
std::string XrtDevice::describe() const { return "xrt: no XRT support in this build"; }
Handle XrtDevice::add_linear(const LinearDesc&) { fail_no_xrt(); }
Handle XrtDevice::add_conv(const ConvDesc&) { fail_no_xrt(); }
Handle XrtDevice::add_ssm(const SsmDesc&) { fail_no_xrt(); }
void XrtDevice::linear(Handle, const float*, int64_t, int64_t, float*, int64_t) { fail_no_xrt(); }
void XrtDevice::conv_row(Handle, const float* const*, float*, int64_t, int64_t) { fail_no_xrt(); }
void XrtDevice::ssm_scan(Handle, int64_t, const float*, int64_t, const float*, int64_t, float*, float*, int64_t,
                         int64_t) {
  fail_no_xrt();
}
void XrtDevice::ssm_tree(Handle, int32_t, const int32_t*, const float*, int64_t, const float*, int64_t, const float*,
                         float*, float*, int64_t, int32_t) {
  fail_no_xrt();
}
OpCounts XrtDevice::counts() const { return {}; }
const std::vector<KernelTiming>& XrtDevice::timings() const { return impl_->timings; }
void XrtDevice::clear_timings() { impl_->timings.clear(); }
const XclbinInfo& XrtDevice::xclbin() const { return impl_->info; }
int XrtDevice::device_index() const { return -1; }

#else  // SPECMAMBA_HAVE_XRT

namespace {

// Kernel argument indices (accel/hls/top.h, in declaration order).
namespace lin {
enum { codes, s1, s2, x, y, hbase, hk, rows, cols, T, ldx, ldy, wbits, wgroup, abits, agroup, exp_min, exp_max,
       rotate, status };
}
namespace cv {
enum { win, wT, bias, o, C, K, c0, c1, has_bias };
}
namespace ssm {
enum { xbc, dt_raw, params, lut_sp, lut_exp, lut_cfg, S, y, T, H, P, N, group, xbc_stride, dt_stride, h0, h1,
       status };
}
namespace tree {
enum { xbc, dt_raw, parent, params, lut_sp, lut_exp, lut_cfg, S_root, S_nodes, y, n, H, P, N, group, xbc_stride,
       dt_stride, tile_heads, fifo_depth, status };
}

// A buffer object in one memory bank that grows on demand (contents are not kept).
struct Scratch {
  xrt::bo bo;
  size_t bytes = 0;
  int bank = 0;
};

struct Linear {
  std::string name;
  int32_t rows, cols, wbits, wgroup, abits, agroup, exp_min, exp_max, rotate, hk;
  xrt::bo codes, s1, s2, hbase;
};
struct Conv {
  std::string name;
  int32_t C, K, has_bias;
  xrt::bo wT, bias;
};
struct Ssm {
  std::string name;
  int32_t H, P, N, group;
  xrt::bo params, lut_sp, lut_exp, lut_cfg;
};

}  // namespace

struct XrtDevice::Impl {
  XrtOptions options;
  XclbinInfo info;
  std::string board_name, board_bdf;
  xrt::device dev;
  xrt::uuid uuid;
  xrt::kernel k_linear, k_conv, k_ssm, k_tree;
  std::vector<Linear> linears;
  std::vector<Conv> convs;
  std::vector<Ssm> ssms;
  // Per-call buffers, one set per kernel (calls are serialized by mu).
  Scratch lin_x, lin_y, lin_status, conv_win, conv_o, ssm_xbc, ssm_dt, ssm_S, ssm_y, ssm_status;
  Scratch tree_xbc, tree_dt, tree_parent, tree_root, tree_nodes, tree_y, tree_status;
  mutable std::mutex mu;
  OpCounts counts;
  std::vector<KernelTiming> timings;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();

  int bank(const xrt::kernel& k, int arg, const char* kernel) {
    try {
      return k.group_id(arg);
    } catch (const std::exception& e) {
      fail(info.path, std::string("cannot find the memory bank of ") + kernel + " argument " + std::to_string(arg) +
                          ": " + e.what());
    }
  }

  // A buffer of `bytes` (at least 4: XRT rejects empty buffers) in `bank`,
  // filled from src (when given) and synced to the device.
  xrt::bo upload(const void* src, size_t bytes, int bank_id, const std::string& layer, const char* what) {
    try {
      xrt::bo bo(dev, std::max<size_t>(bytes, 4), xrt::bo::flags::normal, static_cast<xrt::memory_group>(bank_id));
      auto* p = bo.map<char*>();
      std::memset(p, 0, bo.size());
      if (src && bytes) std::memcpy(p, src, bytes);
      bo.sync(XCL_BO_SYNC_BO_TO_DEVICE);
      return bo;
    } catch (const std::exception& e) {
      fail(layer, std::string("cannot upload ") + what + " (" + std::to_string(bytes) + " bytes, memory bank " +
                      std::to_string(bank_id) + "): " + e.what());
    }
  }

  void ensure(Scratch& s, size_t bytes, const std::string& layer) {
    bytes = std::max<size_t>(bytes, 4);
    if (s.bytes >= bytes) return;
    const size_t grow = std::max(bytes, s.bytes + s.bytes / 2);
    try {
      s.bo = xrt::bo(dev, grow, xrt::bo::flags::normal, static_cast<xrt::memory_group>(s.bank));
      s.bytes = grow;
    } catch (const std::exception& e) {
      fail(layer, "cannot allocate a " + std::to_string(grow) + "-byte buffer in memory bank " +
                      std::to_string(s.bank) + ": " + e.what());
    }
  }

  int64_t now_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
  }

  // Starts the run, waits for it, records the timing, checks the command state.
  void run_and_wait(xrt::run& run, const char* kernel, const std::string& layer) {
    KernelTiming t{kernel, layer, now_ns(), 0};
    run.start();
    const ert_cmd_state state = run.wait();
    t.end_ns = now_ns();
    timings.push_back(std::move(t));
    if (state != ERT_CMD_STATE_COMPLETED)
      fail(layer, std::string(kernel) + " did not complete on the board (XRT command state " +
                      std::to_string(static_cast<int>(state)) + ")");
  }

  void check_status(Scratch& s, const char* kernel, const std::string& layer) {
    int32_t status = 0;
    s.bo.read(&status, sizeof status, 0);
    if (status != sm::hls_kernels::kOk)
      fail(layer, std::string(kernel) + " failed: status " + std::to_string(status) + " (" +
                      sm::hls_kernels::status_name(status) + ")");
  }

  void reset_status(Scratch& s) {
    const int32_t zero = 0;
    s.bo.write(&zero, sizeof zero, 0);
    s.bo.sync(XCL_BO_SYNC_BO_TO_DEVICE, sizeof zero, 0);
  }
};

namespace {

// The xclbin at `path`, checked (read_xclbin_file, then XRT's parser and the
// kernel list), with what it holds in `info`.
xrt::xclbin parse_xclbin(const std::string& path, XclbinInfo& info) {
  const std::vector<char> data = read_xclbin_file(path);
  info = XclbinInfo{};
  info.path = path;
  info.platform = vbnv_of(data);
  xrt::xclbin x;
  try {
    x = xrt::xclbin(data);
    info.uuid = x.get_uuid().to_string();
    for (const auto& k : x.get_kernels()) info.kernels.push_back(k.get_name());
  } catch (const std::exception& e) {
    fail(path, std::string("not a valid xclbin: XRT cannot parse it (") + e.what() + ")");
  }
  std::vector<std::string> missing;
  for (const auto& k : xrt_kernel_names())
    if (std::find(info.kernels.begin(), info.kernels.end(), k) == info.kernels.end()) missing.push_back(k);
  if (!missing.empty())
    fail(path, "the xclbin lacks kernel" + std::string(missing.size() > 1 ? "s " : " ") + join(missing) +
                   " of accel/hls/top.h (it has: " + (info.kernels.empty() ? "no kernels" : join(info.kernels)) +
                   "); rebuild it with cmake -DSPECMAMBA_XCLBIN=ON, see docs/xrt.md");
  return x;
}

}  // namespace

XclbinInfo XrtDevice::inspect_xclbin(const std::string& path) {
  XclbinInfo info;
  (void)parse_xclbin(path, info);
  return info;
}

std::unique_ptr<XrtDevice> XrtDevice::open(const XrtOptions& o) {
  auto impl = std::make_unique<Impl>();
  impl->options = o;
  const xrt::xclbin xclbin = parse_xclbin(o.xclbin, impl->info);
  const std::string where = "xrt device " + std::to_string(o.device_index);
  if (o.device_index < 0)
    fail(where, "the device index is out of range: it must be 0 or more (`specmamba devices` lists the boards)");
  try {
    impl->dev = xrt::device(static_cast<unsigned int>(o.device_index));
  } catch (const std::exception& e) {
    const std::string what = e.what();
    XrtReason kind = classify_xrt_error(what);
    if (kind == XrtReason::kNoBoard) {
      // Either no board at all, or fewer than index + 1.
      const ProbeResult p = probe_boards(std::min(o.device_index, 63) + 1);
      if (!p.boards.empty()) {
        const int n = static_cast<int>(p.boards.size());
        fail(where, "the device index is out of range: XRT sees " + std::to_string(n) + " board" +
                        (n > 1 ? "s" : "") + " (index 0.." + std::to_string(n - 1) +
                        "; `specmamba devices` lists them)");
      }
    }
    fail(where, explain_xrt_error(kind, what));
  }
  try {
    impl->board_name = impl->dev.get_info<xrt::info::device::name>();
  } catch (const std::exception&) {
  }
  try {
    impl->board_bdf = impl->dev.get_info<xrt::info::device::bdf>();
  } catch (const std::exception&) {
  }
  try {
    impl->uuid = impl->dev.load_xclbin(xclbin);
  } catch (const std::exception& e) {
    fail(o.xclbin, "board " + std::to_string(o.device_index) + " (" + impl->board_name +
                       ") cannot load the xclbin: " + e.what() + " (it was built for platform '" +
                       impl->info.platform + "'; build one for this board with -DSPECMAMBA_PLATFORM=...)");
  }
  auto make = [&](const char* name) {
    try {
      return xrt::kernel(impl->dev, impl->uuid, name);
    } catch (const std::exception& e) {
      fail(o.xclbin, std::string("cannot open kernel ") + name + " on board " + std::to_string(o.device_index) +
                         ": " + e.what());
    }
  };
  impl->k_linear = make("sm_linear");
  impl->k_conv = make("sm_conv_silu");
  impl->k_ssm = make("sm_ssm_pot");
  impl->k_tree = make("sm_tree_ssm");
  // The per-call buffers live in the banks of the arguments they feed.
  impl->lin_x.bank = impl->bank(impl->k_linear, lin::x, "sm_linear");
  impl->lin_y.bank = impl->bank(impl->k_linear, lin::y, "sm_linear");
  impl->lin_status.bank = impl->bank(impl->k_linear, lin::status, "sm_linear");
  impl->conv_win.bank = impl->bank(impl->k_conv, cv::win, "sm_conv_silu");
  impl->conv_o.bank = impl->bank(impl->k_conv, cv::o, "sm_conv_silu");
  impl->ssm_xbc.bank = impl->bank(impl->k_ssm, ssm::xbc, "sm_ssm_pot");
  impl->ssm_dt.bank = impl->bank(impl->k_ssm, ssm::dt_raw, "sm_ssm_pot");
  impl->ssm_S.bank = impl->bank(impl->k_ssm, ssm::S, "sm_ssm_pot");
  impl->ssm_y.bank = impl->bank(impl->k_ssm, ssm::y, "sm_ssm_pot");
  impl->ssm_status.bank = impl->bank(impl->k_ssm, ssm::status, "sm_ssm_pot");
  impl->tree_xbc.bank = impl->bank(impl->k_tree, tree::xbc, "sm_tree_ssm");
  impl->tree_dt.bank = impl->bank(impl->k_tree, tree::dt_raw, "sm_tree_ssm");
  impl->tree_parent.bank = impl->bank(impl->k_tree, tree::parent, "sm_tree_ssm");
  impl->tree_root.bank = impl->bank(impl->k_tree, tree::S_root, "sm_tree_ssm");
  impl->tree_nodes.bank = impl->bank(impl->k_tree, tree::S_nodes, "sm_tree_ssm");
  impl->tree_y.bank = impl->bank(impl->k_tree, tree::y, "sm_tree_ssm");
  impl->tree_status.bank = impl->bank(impl->k_tree, tree::status, "sm_tree_ssm");
  impl->t0 = std::chrono::steady_clock::now();
  return std::unique_ptr<XrtDevice>(new XrtDevice(std::move(impl)));
}

XrtDevice::XrtDevice(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
XrtDevice::~XrtDevice() = default;

std::string XrtDevice::describe() const {
  const Impl& m = *impl_;
  std::string s = "xrt: board " + std::to_string(m.options.device_index);
  if (!m.board_name.empty()) s += " " + m.board_name;
  if (!m.board_bdf.empty()) s += " (" + m.board_bdf + ")";
  s += ", xclbin " + std::filesystem::path(m.info.path).filename().string();
  if (!m.info.platform.empty()) s += " for " + m.info.platform;
  return s;
}

// The layouts are the emu backend's (EmuDevice::*_layout: what the kernels
// read), uploaded once into the banks of the kernel arguments they feed.
Handle XrtDevice::add_linear(const LinearDesc& d) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  const auto* w = d.weights;
  if (!w) fail(d.name, "no weights");
  if (w->kind == quant::ScaleKind::Pow2Sum && (w->bits != 4 && w->bits != 8))
    fail(d.name, "weight bits " + std::to_string(w->bits) + " (the kernel has 4 and 8)");
  if (w->rows <= 0 || w->cols <= 0 || w->group <= 0 || w->cols % w->group != 0)
    fail(d.name, "bad weight shape " + std::to_string(w->rows) + "x" + std::to_string(w->cols) + " group " +
                     std::to_string(w->group));
  (void)to_i32(w->rows, d.name, "rows");
  (void)to_i32(w->cols, d.name, "cols");
  const size_t ng = static_cast<size_t>(w->rows * w->groups_per_row());
  if (w->kind == quant::ScaleKind::Pow2Sum &&
      (w->codes.size() != static_cast<size_t>(w->rows * w->row_bytes()) || w->s1.size() != ng || w->s2.size() != ng))
    fail(d.name, "weight arrays do not match the shape");
  if ((d.act.bits != 4 && d.act.bits != 8) || d.act.group <= 0 || w->cols % d.act.group != 0)
    fail(d.name, "activation quantization " + std::to_string(d.act.bits) + " bits, group " +
                     std::to_string(d.act.group) + " does not fit " + std::to_string(w->cols) + " columns");
  const EmuDevice::Linear E = EmuDevice::linear_layout(d);  // float scales fail here, naming the layer
  Linear L;
  L.name = d.name;
  L.rows = E.rows;
  L.cols = E.cols;
  L.wbits = E.wbits;
  L.wgroup = E.wgroup;
  L.abits = E.act.bits;
  L.agroup = to_i32(E.act.group, d.name, "activation group");
  L.exp_min = E.act.exp_min;
  L.exp_max = E.act.exp_max;
  L.rotate = E.rotate ? 1 : 0;
  L.hk = E.hk;
  const xrt::kernel& k = m.k_linear;
  L.codes = m.upload(E.codes.data(), E.codes.size(), m.bank(k, lin::codes, "sm_linear"), d.name, "weight codes");
  L.s1 = m.upload(E.s1.data(), E.s1.size() * sizeof(int16_t), m.bank(k, lin::s1, "sm_linear"), d.name, "scales s1");
  L.s2 = m.upload(E.s2.data(), E.s2.size() * sizeof(int16_t), m.bank(k, lin::s2, "sm_linear"), d.name, "scales s2");
  L.hbase = m.upload(E.hbase.data(), E.hbase.size(), m.bank(k, lin::hbase, "sm_linear"), d.name, "Hadamard base");
  m.linears.push_back(std::move(L));
  return static_cast<Handle>(m.linears.size() - 1);
}

Handle XrtDevice::add_conv(const ConvDesc& d) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  if (d.channels <= 0 || d.kernel <= 0 || !d.wT)
    fail(d.name, "bad conv layer: " + std::to_string(d.channels) + " channels, kernel " + std::to_string(d.kernel));
  (void)to_i32(d.channels, d.name, "channels");
  const EmuDevice::Conv E = EmuDevice::conv_layout(d);
  Conv c;
  c.name = d.name;
  c.C = E.C;
  c.K = E.K;
  c.has_bias = E.bias.empty() ? 0 : 1;
  const xrt::kernel& k = m.k_conv;
  c.wT = m.upload(E.wT.data(), E.wT.size() * sizeof(float), m.bank(k, cv::wT, "sm_conv_silu"), d.name, "conv weights");
  c.bias = m.upload(E.bias.data(), E.bias.size() * sizeof(float), m.bank(k, cv::bias, "sm_conv_silu"), d.name,
                    "conv bias");
  m.convs.push_back(std::move(c));
  return static_cast<Handle>(m.convs.size() - 1);
}

Handle XrtDevice::add_ssm(const SsmDesc& d) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  if (!d.layer || !d.tables) fail(d.name, "no SSM parameters or tables");
  if (d.heads <= 0 || d.head_dim <= 0 || d.state <= 0 || d.group <= 0) fail(d.name, "bad SSM shape");
  (void)to_i32(d.heads * d.head_dim * d.state, d.name, "state size");
  const EmuDevice::Ssm E = EmuDevice::ssm_layout(d);  // one parameter per head, or it fails naming the layer
  Ssm s;
  s.name = d.name;
  s.H = E.H;
  s.P = E.P;
  s.N = E.N;
  s.group = E.group;
  const xrt::kernel& k = m.k_ssm;
  s.params = m.upload(E.params.data(), E.params.size() * sizeof(int32_t), m.bank(k, ssm::params, "sm_ssm_pot"),
                      d.name, "SSM parameters");
  s.lut_sp = m.upload(E.lut_sp.data(), E.lut_sp.size() * sizeof(int64_t), m.bank(k, ssm::lut_sp, "sm_ssm_pot"),
                      d.name, "softplus table");
  s.lut_exp = m.upload(E.lut_exp.data(), E.lut_exp.size() * sizeof(int64_t), m.bank(k, ssm::lut_exp, "sm_ssm_pot"),
                       d.name, "exp table");
  s.lut_cfg = m.upload(E.lut_cfg.data(), E.lut_cfg.size() * sizeof(int64_t), m.bank(k, ssm::lut_cfg, "sm_ssm_pot"),
                       d.name, "table configuration");
  m.ssms.push_back(std::move(s));
  return static_cast<Handle>(m.ssms.size() - 1);
}

void XrtDevice::linear(Handle h, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  if (h < 0 || static_cast<size_t>(h) >= m.linears.size()) fail("xrt", "unknown linear handle " + std::to_string(h));
  Linear& L = m.linears[h];
  if (T < 0 || ldx < L.cols || ldy < L.rows)
    fail(L.name, "bad call: T " + std::to_string(T) + ", ldx " + std::to_string(ldx) + ", ldy " + std::to_string(ldy));
  m.counts.linear_calls++;
  m.counts.linear_rows += T;
  if (T == 0) return;
  const int32_t t32 = to_i32(T, L.name, "T");
  // Inputs packed [T][cols] and outputs [T][rows]: the kernel never sees the caller's strides.
  const size_t xin = size_t(T) * L.cols, yout = size_t(T) * L.rows;
  try {
    m.ensure(m.lin_x, xin * sizeof(float), L.name);
    m.ensure(m.lin_y, yout * sizeof(float), L.name);
    m.ensure(m.lin_status, sizeof(int32_t), L.name);
    float* xb = m.lin_x.bo.map<float*>();
    for (int64_t t = 0; t < T; ++t) std::memcpy(xb + t * L.cols, x + t * ldx, L.cols * sizeof(float));
    m.lin_x.bo.sync(XCL_BO_SYNC_BO_TO_DEVICE, xin * sizeof(float), 0);
    m.reset_status(m.lin_status);
    xrt::run run(m.k_linear);
    run.set_arg(lin::codes, L.codes);
    run.set_arg(lin::s1, L.s1);
    run.set_arg(lin::s2, L.s2);
    run.set_arg(lin::x, m.lin_x.bo);
    run.set_arg(lin::y, m.lin_y.bo);
    run.set_arg(lin::hbase, L.hbase);
    run.set_arg(lin::hk, L.hk);
    run.set_arg(lin::rows, L.rows);
    run.set_arg(lin::cols, L.cols);
    run.set_arg(lin::T, t32);
    run.set_arg(lin::ldx, L.cols);
    run.set_arg(lin::ldy, L.rows);
    run.set_arg(lin::wbits, L.wbits);
    run.set_arg(lin::wgroup, L.wgroup);
    run.set_arg(lin::abits, L.abits);
    run.set_arg(lin::agroup, L.agroup);
    run.set_arg(lin::exp_min, L.exp_min);
    run.set_arg(lin::exp_max, L.exp_max);
    run.set_arg(lin::rotate, L.rotate);
    run.set_arg(lin::status, m.lin_status.bo);
    m.run_and_wait(run, "sm_linear", L.name);
    m.lin_status.bo.sync(XCL_BO_SYNC_BO_FROM_DEVICE, sizeof(int32_t), 0);
    m.check_status(m.lin_status, "sm_linear", L.name);
    m.lin_y.bo.sync(XCL_BO_SYNC_BO_FROM_DEVICE, yout * sizeof(float), 0);
    const float* yb = m.lin_y.bo.map<const float*>();
    for (int64_t t = 0; t < T; ++t) std::memcpy(y + t * ldy, yb + t * L.rows, L.rows * sizeof(float));
  } catch (const sm::Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(L.name, std::string("XRT failed running sm_linear: ") + e.what());
  }
}

void XrtDevice::conv_row(Handle h, const float* const* ext, float* o, int64_t c0, int64_t c1) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  if (h < 0 || static_cast<size_t>(h) >= m.convs.size()) fail("xrt", "unknown conv handle " + std::to_string(h));
  Conv& c = m.convs[h];
  if (c0 < 0 || c1 > c.C || c0 > c1)
    fail(c.name, "channel range [" + std::to_string(c0) + ", " + std::to_string(c1) + ") outside 0.." +
                     std::to_string(c.C));
  m.counts.conv_rows++;
  if (c0 == c1) return;
  const size_t n = size_t(c1 - c0), C = size_t(c.C), K = size_t(c.K);
  try {
    m.ensure(m.conv_win, K * C * sizeof(float), c.name);
    m.ensure(m.conv_o, C * sizeof(float), c.name);
    // The window [K][C], oldest row first; only channels [c0, c1) are read.
    float* win = m.conv_win.bo.map<float*>();
    for (size_t k = 0; k < K; ++k) std::memcpy(win + k * C + c0, ext[k] + c0, n * sizeof(float));
    m.conv_win.bo.sync(XCL_BO_SYNC_BO_TO_DEVICE, ((K - 1) * C + n) * sizeof(float), size_t(c0) * sizeof(float));
    xrt::run run(m.k_conv);
    run.set_arg(cv::win, m.conv_win.bo);
    run.set_arg(cv::wT, c.wT);
    run.set_arg(cv::bias, c.bias);
    run.set_arg(cv::o, m.conv_o.bo);
    run.set_arg(cv::C, c.C);
    run.set_arg(cv::K, c.K);
    const int32_t a = static_cast<int32_t>(c0), b = static_cast<int32_t>(c1);
    run.set_arg(cv::c0, a);
    run.set_arg(cv::c1, b);
    run.set_arg(cv::has_bias, c.has_bias);
    m.run_and_wait(run, "sm_conv_silu", c.name);
    m.conv_o.bo.sync(XCL_BO_SYNC_BO_FROM_DEVICE, n * sizeof(float), size_t(c0) * sizeof(float));
    m.conv_o.bo.read(o + c0, n * sizeof(float), size_t(c0) * sizeof(float));
  } catch (const sm::Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(c.name, std::string("XRT failed running sm_conv_silu: ") + e.what());
  }
}

void XrtDevice::ssm_scan(Handle h, int64_t T, const float* xbc, int64_t xbc_stride, const float* dt_raw,
                         int64_t dt_stride, float* S, float* y, int64_t h0, int64_t h1) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  if (h < 0 || static_cast<size_t>(h) >= m.ssms.size()) fail("xrt", "unknown ssm handle " + std::to_string(h));
  Ssm& s = m.ssms[h];
  const int64_t HP = int64_t(s.H) * s.P, W = HP + 2 * int64_t(s.N), PN = int64_t(s.P) * s.N;
  if (T < 0 || h0 < 0 || h1 > s.H || h0 > h1 || xbc_stride < W || dt_stride < s.H)
    fail(s.name, "bad call: T " + std::to_string(T) + ", heads [" + std::to_string(h0) + ", " + std::to_string(h1) +
                     ") of " + std::to_string(s.H) + ", strides " + std::to_string(xbc_stride) + "/" +
                     std::to_string(dt_stride));
  m.counts.ssm_calls++;
  m.counts.ssm_tokens += T;
  if (T == 0 || h0 == h1) return;
  const int32_t t32 = to_i32(T, s.name, "T");
  const size_t sOff = size_t(h0 * PN) * sizeof(float), sBytes = size_t((h1 - h0) * PN) * sizeof(float);
  try {
    m.ensure(m.ssm_xbc, size_t(T * W) * sizeof(float), s.name);
    m.ensure(m.ssm_dt, size_t(T * s.H) * sizeof(float), s.name);
    m.ensure(m.ssm_S, size_t(s.H * PN) * sizeof(float), s.name);
    m.ensure(m.ssm_y, size_t(T * HP) * sizeof(float), s.name);
    m.ensure(m.ssm_status, sizeof(int32_t), s.name);
    // Rows packed: xbc stride W, dt stride H; the state only for heads [h0, h1).
    float* xb = m.ssm_xbc.bo.map<float*>();
    float* db = m.ssm_dt.bo.map<float*>();
    for (int64_t t = 0; t < T; ++t) {
      std::memcpy(xb + t * W, xbc + t * xbc_stride, size_t(W) * sizeof(float));
      std::memcpy(db + t * s.H, dt_raw + t * dt_stride, size_t(s.H) * sizeof(float));
    }
    m.ssm_xbc.bo.sync(XCL_BO_SYNC_BO_TO_DEVICE, size_t(T * W) * sizeof(float), 0);
    m.ssm_dt.bo.sync(XCL_BO_SYNC_BO_TO_DEVICE, size_t(T * s.H) * sizeof(float), 0);
    m.ssm_S.bo.write(S + h0 * PN, sBytes, sOff);
    m.ssm_S.bo.sync(XCL_BO_SYNC_BO_TO_DEVICE, sBytes, sOff);
    m.reset_status(m.ssm_status);
    xrt::run run(m.k_ssm);
    run.set_arg(ssm::xbc, m.ssm_xbc.bo);
    run.set_arg(ssm::dt_raw, m.ssm_dt.bo);
    run.set_arg(ssm::params, s.params);
    run.set_arg(ssm::lut_sp, s.lut_sp);
    run.set_arg(ssm::lut_exp, s.lut_exp);
    run.set_arg(ssm::lut_cfg, s.lut_cfg);
    run.set_arg(ssm::S, m.ssm_S.bo);
    run.set_arg(ssm::y, m.ssm_y.bo);
    run.set_arg(ssm::T, t32);
    run.set_arg(ssm::H, s.H);
    run.set_arg(ssm::P, s.P);
    run.set_arg(ssm::N, s.N);
    run.set_arg(ssm::group, s.group);
    const int32_t w32 = static_cast<int32_t>(W), a = static_cast<int32_t>(h0), b = static_cast<int32_t>(h1);
    run.set_arg(ssm::xbc_stride, w32);
    run.set_arg(ssm::dt_stride, s.H);
    run.set_arg(ssm::h0, a);
    run.set_arg(ssm::h1, b);
    run.set_arg(ssm::status, m.ssm_status.bo);
    m.run_and_wait(run, "sm_ssm_pot", s.name);
    m.ssm_status.bo.sync(XCL_BO_SYNC_BO_FROM_DEVICE, sizeof(int32_t), 0);
    m.check_status(m.ssm_status, "sm_ssm_pot", s.name);
    m.ssm_S.bo.sync(XCL_BO_SYNC_BO_FROM_DEVICE, sBytes, sOff);
    m.ssm_S.bo.read(S + h0 * PN, sBytes, sOff);
    m.ssm_y.bo.sync(XCL_BO_SYNC_BO_FROM_DEVICE, size_t(T * HP) * sizeof(float), 0);
    const float* yb = m.ssm_y.bo.map<const float*>();
    for (int64_t t = 0; t < T; ++t)
      std::memcpy(y + t * HP + h0 * s.P, yb + t * HP + h0 * s.P, size_t((h1 - h0) * s.P) * sizeof(float));
  } catch (const sm::Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(s.name, std::string("XRT failed running sm_ssm_pot: ") + e.what());
  }
}

// The SSM tables of the layer were uploaded for sm_ssm_pot; sm_tree_ssm reads
// the same layouts (top.h), so the buffers are shared when the banks agree.
void XrtDevice::ssm_tree(Handle h, int32_t n, const int32_t* parent, const float* xbc, int64_t xbc_stride,
                         const float* dt_raw, int64_t dt_stride, const float* S_root, float* S_nodes, float* y,
                         int64_t tile_heads, int32_t fifo_depth) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  if (h < 0 || static_cast<size_t>(h) >= m.ssms.size()) fail("xrt", "unknown ssm handle " + std::to_string(h));
  Ssm& s = m.ssms[h];
  const int64_t HP = int64_t(s.H) * s.P, W = HP + 2 * int64_t(s.N), L = HP * s.N;
  if (n < 0 || xbc_stride < W || dt_stride < s.H)
    fail(s.name, "bad tree call: " + std::to_string(n) + " nodes, strides " + std::to_string(xbc_stride) + "/" +
                     std::to_string(dt_stride));
  m.counts.tree_calls++;
  m.counts.tree_nodes += n;
  if (n == 0) return;
  try {
    m.ensure(m.tree_xbc, size_t(n * W) * sizeof(float), s.name);
    m.ensure(m.tree_dt, size_t(n * s.H) * sizeof(float), s.name);
    m.ensure(m.tree_parent, size_t(n) * sizeof(int32_t), s.name);
    m.ensure(m.tree_root, size_t(L) * sizeof(float), s.name);
    m.ensure(m.tree_nodes, size_t(n * L) * sizeof(float), s.name);
    m.ensure(m.tree_y, size_t(n * HP) * sizeof(float), s.name);
    m.ensure(m.tree_status, sizeof(int32_t), s.name);
    float* xb = m.tree_xbc.bo.map<float*>();
    float* db = m.tree_dt.bo.map<float*>();
    for (int64_t v = 0; v < n; ++v) {
      std::memcpy(xb + v * W, xbc + v * xbc_stride, size_t(W) * sizeof(float));
      std::memcpy(db + v * s.H, dt_raw + v * dt_stride, size_t(s.H) * sizeof(float));
    }
    m.tree_xbc.bo.sync(XCL_BO_SYNC_BO_TO_DEVICE, size_t(n * W) * sizeof(float), 0);
    m.tree_dt.bo.sync(XCL_BO_SYNC_BO_TO_DEVICE, size_t(n * s.H) * sizeof(float), 0);
    m.tree_parent.bo.write(parent, size_t(n) * sizeof(int32_t), 0);
    m.tree_parent.bo.sync(XCL_BO_SYNC_BO_TO_DEVICE, size_t(n) * sizeof(int32_t), 0);
    m.tree_root.bo.write(S_root, size_t(L) * sizeof(float), 0);
    m.tree_root.bo.sync(XCL_BO_SYNC_BO_TO_DEVICE, size_t(L) * sizeof(float), 0);
    m.reset_status(m.tree_status);
    xrt::run run(m.k_tree);
    run.set_arg(tree::xbc, m.tree_xbc.bo);
    run.set_arg(tree::dt_raw, m.tree_dt.bo);
    run.set_arg(tree::parent, m.tree_parent.bo);
    run.set_arg(tree::params, s.params);
    run.set_arg(tree::lut_sp, s.lut_sp);
    run.set_arg(tree::lut_exp, s.lut_exp);
    run.set_arg(tree::lut_cfg, s.lut_cfg);
    run.set_arg(tree::S_root, m.tree_root.bo);
    run.set_arg(tree::S_nodes, m.tree_nodes.bo);
    run.set_arg(tree::y, m.tree_y.bo);
    run.set_arg(tree::n, n);
    run.set_arg(tree::H, s.H);
    run.set_arg(tree::P, s.P);
    run.set_arg(tree::N, s.N);
    run.set_arg(tree::group, s.group);
    const int32_t w32 = static_cast<int32_t>(W), th = to_i32(tile_heads, s.name, "tile_heads");
    run.set_arg(tree::xbc_stride, w32);
    run.set_arg(tree::dt_stride, s.H);
    run.set_arg(tree::tile_heads, th);
    run.set_arg(tree::fifo_depth, fifo_depth);
    run.set_arg(tree::status, m.tree_status.bo);
    m.run_and_wait(run, "sm_tree_ssm", s.name);
    m.tree_status.bo.sync(XCL_BO_SYNC_BO_FROM_DEVICE, sizeof(int32_t), 0);
    m.check_status(m.tree_status, "sm_tree_ssm", s.name);
    m.tree_nodes.bo.sync(XCL_BO_SYNC_BO_FROM_DEVICE, size_t(n * L) * sizeof(float), 0);
    m.tree_nodes.bo.read(S_nodes, size_t(n * L) * sizeof(float), 0);
    m.tree_y.bo.sync(XCL_BO_SYNC_BO_FROM_DEVICE, size_t(n * HP) * sizeof(float), 0);
    m.tree_y.bo.read(y, size_t(n * HP) * sizeof(float), 0);
  } catch (const sm::Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(s.name, std::string("XRT failed running sm_tree_ssm: ") + e.what());
  }
}

OpCounts XrtDevice::counts() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->counts;
}
const std::vector<KernelTiming>& XrtDevice::timings() const { return impl_->timings; }
void XrtDevice::clear_timings() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->timings.clear();
}
const XclbinInfo& XrtDevice::xclbin() const { return impl_->info; }
int XrtDevice::device_index() const { return impl_->options.device_index; }

#endif  // SPECMAMBA_HAVE_XRT

}  // namespace sm::accel
