// SPDX-License-Identifier: Apache-2.0
#pragma once
// Picks the backend a run asks for (`--device cpu|emu|xrt`): cpu is the
// model's own kernels (no device), emu the accelerator's HLS kernels on the
// CPU, xrt a board. Without a usable board, xrt falls back to emu and says
// exactly why; a bad xclbin the user named is an error, not a fallback.
#include <memory>
#include <string>
#include <vector>

#include "core/device/device.h"

namespace sm::accel {

struct DeviceRequest {
  std::string backend = "cpu";  // cpu, emu or xrt
  std::string xclbin;           // xrt: the xclbin with the kernels of accel/hls/top.h
  int board = 0;                // xrt: the board index
};

struct OpenedDevice {
  std::shared_ptr<device::Device> device;  // null: cpu
  std::string backend;                     // what runs: cpu, emu or xrt
  std::string fallback;                    // why xrt was asked for and emu runs (empty otherwise)
};

// "cpu", "emu", "xrt".
const std::vector<std::string>& backend_names();

// sm::Error for an unknown backend name or a bad xclbin file.
OpenedDevice open_device(const DeviceRequest& req);

}  // namespace sm::accel
