// SPDX-License-Identifier: Apache-2.0
// safetensors header and tensor table: every tensor a parse accepts lies
// inside the data and converts (F32/F16/BF16) or is refused by name.
#include "core/io/safetensors.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sm::fuzz::expect_clean([&] {
    auto f = sm::SafeTensorsFile::from_bytes(reinterpret_cast<const std::byte*>(data), size, "fuzz.safetensors");
    const auto* end = reinterpret_cast<const std::byte*>(data) + size;
    for (const sm::TensorInfo& t : f->tensors()) {
      if (t.nbytes && (t.data < reinterpret_cast<const std::byte*>(data) || t.data + t.nbytes > end))
        sm::fuzz::finding("tensor " + t.name + " points outside the input");
      if (t.numel() <= (1 << 20)) sm::fuzz::expect_clean([&] { (void)sm::to_f32(t); });
    }
  });
  return 0;
}
