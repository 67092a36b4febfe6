// SPDX-License-Identifier: Apache-2.0
#pragma once
// FPGA platform specs (data/platforms/NAME.json): clock limits, fabric
// resources, off-chip memory and power coefficients. Every number carries its
// source in the file's "source" object (data sheet, PAPERS.md or "estimate").
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sm::accel {

struct PlatformResources {
  int64_t dsp = 0, lut = 0, ff = 0, bram36 = 0, uram = 0;
};

struct PlatformMemory {
  std::string type;        // "DDR4", "HBM2", "HBM2e"
  double peak_gbps = 0;    // total peak off-chip bandwidth, GB/s (1e9 B/s)
  int channels = 0;        // independent channels / pseudo-channels
  double efficiency = 0;   // sustained / peak for the accelerator's streams (0, 1]
  double capacity_gb = 0;
  double pj_per_byte = 0;  // off-chip access energy
  double sustained_bytes_per_s() const { return peak_gbps * 1e9 * efficiency; }
};

struct PlatformPower {
  double static_w = 0, max_w = 0;
  double lut_w_per_k_ghz = 0;  // dynamic W per 1000 LUT per GHz
  double dsp_w_per_ghz = 0, bram_w_per_ghz = 0, uram_w_per_ghz = 0;
  double activity = 0;         // mean toggle activity factor relative to the coefficients' 100%
};

struct Platform {
  static constexpr const char* kFormat = "specmamba-platform";
  static constexpr int kVersion = 1;
  std::string name, board, device;
  double default_mhz = 0, max_mhz = 0;
  PlatformResources resources;
  PlatformMemory memory;
  PlatformPower power;
  nlohmann::json source;  // key -> citation

  // Strict: every key present with the right type, no unknown keys; errors
  // are sm::Error("WHERE: KEY: problem").
  static Platform from_json(const nlohmann::json& j, const std::string& where);
  static Platform load_file(const std::string& path);
  // A name ("vck190") from data_dir()/platforms, or a path to a .json file.
  static Platform load(const std::string& name_or_path);
  static std::vector<std::string> known_names();  // files in data_dir()/platforms
};

}  // namespace sm::accel
