// SPDX-License-Identifier: Apache-2.0
// The quantization config of a quantized checkpoint (safetensors metadata
// "quantization", core/quant/quant_config.h). Oracle: an accepted config
// writes JSON that reads back equal and writes the same text again; its
// summary and width checks never fail other than with sm::Error.
#include <string>

#include "core/io/error.h"
#include "core/quant/quant_config.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using sm::quant::QuantConfig;
  const std::string text(sm::fuzz::text(data, size));
  QuantConfig c;
  bool accepted = false;
  sm::fuzz::expect_clean([&] {
    c = QuantConfig::from_json_string(text, "fuzz");
    accepted = true;
  });
  if (!accepted) return 0;

  std::string out;
  QuantConfig back;
  try {
    out = c.to_json_string();
    back = QuantConfig::from_json_string(out, "round trip");
  } catch (const std::exception& e) {
    sm::fuzz::finding(std::string("an accepted config does not round-trip: ") + e.what());
  }
  if (!(back == c)) sm::fuzz::finding("round trip changed the config: " + out);
  if (back.to_json_string() != out) sm::fuzz::finding("round trip changed the JSON text: " + out);
  // The ADL hooks take the same path.
  if (nlohmann::json(c).get<QuantConfig>() != c) sm::fuzz::finding("json(c).get<QuantConfig>() differs");

  sm::fuzz::expect_clean([&] { (void)c.summary(); });
  for (int64_t width : {0, 1, 7, 8, 64, 96, 128, 4096, 5120}) {
    sm::fuzz::expect_clean([&] { c.linear_weights.check_width(width, "fuzz", "linear_weights"); });
    sm::fuzz::expect_clean([&] { c.linear_activations.check_width(width, "fuzz", "linear_activations"); });
    if (width > 0) sm::fuzz::expect_clean([&] { c.check_rotation_width(width, "fuzz"); });
  }
  return 0;
}
