// SPDX-License-Identifier: Apache-2.0
// The accelerator model's platform spec (data/platforms/*.json,
// accel/dataflow/platform.h) and the dataflow model's string options (tree
// widths, verification order, backtracking, acceptance rate). An accepted
// platform keeps its documented ranges, and the dataflow model (resources,
// pipeline, power, a decode step on the shipped draft's shape) runs on it
// without a sanitizer report: any rejection is an sm::Error.
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "accel/dataflow/model.h"
#include "accel/dataflow/platform.h"
#include "core/io/model_config.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

// data/models/mamba2-draft/config.json without its training notes (a fixed
// small shape, so one simulated decode step stays cheap).
const char* kDraftConfig = R"({"model_type": "mamba2", "hidden_size": 64, "state_size": 32, "num_heads": 4,
  "head_dim": 32, "n_groups": 1, "expand": 2, "conv_kernel": 4, "num_hidden_layers": 2, "vocab_size": 256,
  "layer_norm_epsilon": 1e-05, "use_bias": false, "use_conv_bias": true, "tie_word_embeddings": true,
  "rms_norm": true, "norm_before_gate": false, "chunk_size": 32})";

void check_platform(const sm::accel::Platform& p, const nlohmann::json& j) {
  // Every accepted number is the file's number (no silent narrowing).
  if (j.at("memory").at("channels").get<int64_t>() != p.memory.channels)
    sm::fuzz::finding("memory.channels " + j.at("memory").at("channels").dump() + " was read as " +
                      std::to_string(p.memory.channels));
  if (!(p.max_mhz >= 1 && p.default_mhz >= 1 && p.default_mhz <= p.max_mhz))
    sm::fuzz::finding("accepted a clock outside 1 <= default_mhz <= max_mhz");
  if (p.memory.channels < 1) sm::fuzz::finding("accepted memory.channels < 1");
  if (!(p.memory.efficiency > 0 && p.memory.efficiency <= 1)) sm::fuzz::finding("accepted an efficiency outside (0, 1]");
  if (!(p.memory.peak_gbps > 0)) sm::fuzz::finding("accepted a non-positive peak bandwidth");
  if (p.resources.dsp < 0 || p.resources.lut < 0 || p.resources.ff < 0 || p.resources.bram36 < 0 ||
      p.resources.uram < 0)
    sm::fuzz::finding("accepted a negative resource count");
  if (!(p.power.max_w >= p.power.static_w)) sm::fuzz::finding("accepted max_w < static_w");
}

std::string temp_path() {
  static const std::string p = [] {
    const char* dir = std::getenv("TMPDIR");
    std::string d = dir && *dir ? dir : "/tmp";
    return d + "/fuzz_platform_json-" + std::to_string(getpid()) + ".json";
  }();
  return p;
}
void remove_temp() { std::remove(temp_path().c_str()); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sm::ModelConfig shape = sm::parse_model_config_text(kDraftConfig, "draft config");
  static const bool registered = (temp_path(), std::atexit(remove_temp), true);  // after the path: removed before it is destroyed
  (void)registered;
  const std::string text(sm::fuzz::text(data, size));

  // The platform file through Platform::load_file (a temporary file: it reads paths).
  const std::string path = temp_path();
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || (size && std::fwrite(data, 1, size, f) != size)) sm::fuzz::finding("cannot write " + path);
    std::fclose(f);
  }
  nlohmann::json j;  // for the oracle: the numbers as the file has them
  bool json_ok = true;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    json_ok = false;
  }
  sm::fuzz::expect_clean([&] {
    const sm::accel::Platform p = sm::accel::Platform::load_file(path);
    if (!json_ok) sm::fuzz::finding("load_file accepted text that is not JSON");
    check_platform(p, j);
  });
  if (json_ok) {
    sm::fuzz::expect_clean([&] {
      const sm::accel::Platform p = sm::accel::Platform::from_json(j, "fuzz.json");
      sm::accel::Design d = sm::accel::Design::lightmamba();
      d.clock_mhz = p.default_mhz;  // as `specmamba simulate` without --clock
      // Validates the design for the platform, checks the fit, runs one step.
      const sm::accel::DecodeResult r = sm::accel::simulate_decode(shape, d, p);
      (void)r.to_json(d).dump();
      if (size % 8 != 0) return;  // the speculative model costs several steps: one input in eight
      sm::accel::Acceptance acc;
      acc.rate = 0.7;
      const sm::accel::SpecResult sp =
          sm::accel::simulate_speculative(shape, shape, d, p, sm::accel::TreeShape::parse("2,1"), acc);
      (void)sp.to_json().dump();
    });
  }

  // The string options of the dataflow model (`specmamba simulate`).
  sm::fuzz::expect_clean([&] {
    const sm::accel::TreeShape t = sm::accel::TreeShape::parse(text);
    if (t.widths.empty() || t.widths.size() > 16 || t.nodes() > 4096)
      sm::fuzz::finding("accepted a tree outside 1..16 levels or 4096 nodes");
    for (int w : t.widths)
      if (w < 1 || w > 64) sm::fuzz::finding("accepted a tree width outside 1..64");
  });
  sm::fuzz::expect_clean([&] { (void)sm::accel::parse_verify_order(text); });
  sm::fuzz::expect_clean([&] { (void)sm::accel::parse_backtrack(text); });
  // A rate; anything else is a file name to open, so only texts that cannot
  // name a file outside the working directory (and rarely any at all) go in.
  if (!text.empty() && text.size() < 64 && text.find('/') == std::string::npos &&
      text.find('\0') == std::string::npos && (std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '.'))
    sm::fuzz::expect_clean([&] {
      const sm::accel::Acceptance a = sm::accel::Acceptance::parse(text);
      if (!(a.rate > 0 && a.rate <= 1)) sm::fuzz::finding("accepted a rate outside (0, 1]");
    });
  return 0;
}
