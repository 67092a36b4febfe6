// SPDX-License-Identifier: Apache-2.0
#pragma once
// The `xrt` backend: the accelerator's kernels (accel/hls/top.h) in an xclbin
// on an AMD/Xilinx board, driven through XRT's native C++ API. Weights go to
// the board once (add_*), each op copies its inputs into reused buffer
// objects, runs the kernel and reads its outputs and status word back.
// docs/xrt.md describes how the board is found, the memory banks and every
// error message. This header needs no XRT headers: a build without libxrt-dev
// still has the class, and open() then says that the build has no XRT support.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/device/device.h"

namespace sm::accel {

struct XrtOptions {
  int device_index = 0;  // xrt::device(index): 0 = the first board XRT sees
  std::string xclbin;    // path of the xclbin with the four kernels of accel/hls/top.h
};

// One kernel call as the host saw it: run.start() .. run.wait() returned, in
// nanoseconds since the device was opened (steady clock).
struct KernelTiming {
  std::string kernel;  // "sm_linear", "sm_conv_silu", "sm_ssm_pot"
  std::string layer;   // the layer's name from its add_* desc
  int64_t start_ns = 0, end_ns = 0;
};

// What an xclbin file holds (read without a board).
struct XclbinInfo {
  std::string path;
  std::string platform;              // the platform (XSA / VBNV) it was built for
  std::string uuid;
  std::vector<std::string> kernels;  // kernel names, as listed in the xclbin
};

// The kernel names the backend needs (accel/hls/top.h), in that order.
const std::vector<std::string>& xrt_kernel_names();

class XrtDevice : public sm::device::Device {
 public:
  ~XrtDevice() override;
  XrtDevice(const XrtDevice&) = delete;
  XrtDevice& operator=(const XrtDevice&) = delete;

  // Checks the xclbin (inspect_xclbin), opens board `device_index`, loads the
  // xclbin and creates the kernels. Every failure is an sm::Error saying why
  // and what to do (no XRT support in this build, a bad xclbin, XILINX_XRT not
  // set, XRT's driver library missing, no board, an index out of range).
  static std::unique_ptr<XrtDevice> open(const XrtOptions& options);
  // Parses `path` without a board: sm::Error naming the file when it is
  // missing, a directory, unreadable, empty, not an xclbin, or lacks one of
  // xrt_kernel_names() (naming the missing ones).
  static XclbinInfo inspect_xclbin(const std::string& path);
  // Whether this build was configured with XRT (SPECMAMBA_HAVE_XRT).
  static bool built_with_xrt();

  std::string name() const override { return "xrt"; }
  std::string describe() const override;

  sm::device::Handle add_linear(const sm::device::LinearDesc& d) override;
  sm::device::Handle add_conv(const sm::device::ConvDesc& d) override;
  sm::device::Handle add_ssm(const sm::device::SsmDesc& d) override;

  void linear(sm::device::Handle h, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy) override;
  void conv_row(sm::device::Handle h, const float* const* ext, float* o, int64_t c0, int64_t c1) override;
  void ssm_scan(sm::device::Handle h, int64_t T, const float* xbc, int64_t xbc_stride, const float* dt_raw,
                int64_t dt_stride, float* S, float* y, int64_t h0, int64_t h1) override;
  void ssm_tree(sm::device::Handle h, int32_t n, const int32_t* parent, const float* xbc, int64_t xbc_stride,
                const float* dt_raw, int64_t dt_stride, const float* S_root, float* S_nodes, float* y,
                int64_t tile_heads, int32_t fifo_depth) override;

  sm::device::OpCounts counts() const override;

  // Device trace: one entry per kernel call, in call order. Read it when no
  // call is in flight (calls append under the device's lock).
  const std::vector<KernelTiming>& timings() const;
  void clear_timings();

  const XclbinInfo& xclbin() const;
  int device_index() const;

  struct Impl;

 private:
  explicit XrtDevice(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sm::accel
