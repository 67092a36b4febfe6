// SPDX-License-Identifier: Apache-2.0
#pragma once
// Small synthetic activation dumps written through DumpWriter's tap
// interface (no model run): deterministic values per (token, layer, tensor,
// channel), optionally with planted changes, for the diff and stats tests.
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/dump/dump_writer.h"
#include "core/io/model_config.h"

namespace sm_test {

inline sm::ModelConfig synthetic_config(int d_model = 16, int n_layer = 4) {
  sm::ModelConfig c;
  c.arch = sm::Arch::Mamba2;
  c.d_model = d_model;
  c.n_layer = n_layer;
  c.vocab_size = 256;
  c.d_inner = 2 * d_model;
  c.head_dim = 8;
  c.n_heads = c.d_inner / c.head_dim;
  return c;
}

inline float synthetic_value(int64_t t, int layer, int tensor, int64_t c) {
  return static_cast<float>(std::sin(0.37 * double(t) + 1.3 * layer + 0.71 * tensor + 0.11 * double(c)) *
                            (1.0 + 0.1 * layer));
}

// (token, layer, tensor name, channel, value) -> value to write instead.
using Plant = std::function<float(int64_t, int, const std::string&, int64_t, float)>;

struct SyntheticDump {
  int64_t tokens = 100;
  std::string token_filter;  // "" = all
  sm::ModelConfig cfg = synthetic_config();
  bool codes = true;  // out_proj_in_codes / _exponent (4 bits, group 8)
  Plant plant;
  bool rotation = false;        // the dump's rotation attribute
  bool unrotated_twin = true;   // write out_proj_in_unrotated
};

// hidden_in [T, D], conv_out [T, E], out_proj_in_unrotated / out_proj_in [T, E]
// with codes, mixer_out [T, D] per layer, fed in batches of 7 tokens.
inline void write_synthetic_dump(const std::string& path, const SyntheticDump& s) {
  sm::DumpOptions o;
  o.tokens = sm::IndexFilter::parse(s.token_filter, "tokens");
  o.model = "synthetic";
  o.rotation = s.rotation;
  sm::DumpWriter w(path, s.cfg, o);
  const int64_t D = s.cfg.d_model, E = s.cfg.d_inner;
  const struct {
    const char* name;
    int64_t cols;
  } tensors[] = {{"hidden_in", D}, {"conv_out", E}, {"out_proj_in_unrotated", E}, {"out_proj_in", E}, {"mixer_out", D}};
  for (int64_t t0 = 0; t0 < s.tokens; t0 += 7) {
    const int64_t n = std::min<int64_t>(7, s.tokens - t0);
    std::vector<int32_t> ids;
    for (int64_t t = t0; t < t0 + n; ++t) ids.push_back(static_cast<int32_t>((t * 31) % 256));
    w.on_tokens(t0, ids.data(), n);
    for (int l = 0; l < s.cfg.n_layer; ++l) {
      if (!w.wants(l, t0, n)) continue;
      for (int k = 0; k < 5; ++k) {
        if (k == 2 && !s.unrotated_twin) continue;
        const int64_t cols = tensors[k].cols;
        std::vector<float> v(static_cast<size_t>(n * cols));
        for (int64_t r = 0; r < n; ++r)
          for (int64_t c = 0; c < cols; ++c) {
            float x = synthetic_value(t0 + r, l, k, c);
            if (s.plant) x = s.plant(t0 + r, l, tensors[k].name, c, x);
            v[r * cols + c] = x;
          }
        w.on_tensor(l, tensors[k].name, t0, n, cols, v.data(), cols);
        if (s.codes && std::string(tensors[k].name) == "out_proj_in") {
          // 4-bit codes with a power-of-two exponent per group of 8, as quantize_activations.
          const int64_t g = 8, ng = (cols + g - 1) / g;
          std::vector<int8_t> codes(v.size());
          std::vector<int16_t> exps(static_cast<size_t>(n * ng));
          for (int64_t r = 0; r < n; ++r)
            for (int64_t j = 0; j < ng; ++j) {
              float m = 0;
              for (int64_t c = j * g; c < std::min(cols, (j + 1) * g); ++c) m = std::max(m, std::abs(v[r * cols + c]));
              const int e = m > 0 ? static_cast<int>(std::ceil(std::log2(m))) - 3 : -8;
              exps[r * ng + j] = static_cast<int16_t>(e);
              for (int64_t c = j * g; c < std::min(cols, (j + 1) * g); ++c)
                codes[r * cols + c] = static_cast<int8_t>(
                    std::clamp<long>(std::lround(std::ldexp(v[r * cols + c], -e)), -7, 7));
            }
          w.on_codes(l, "out_proj_in", t0, n, cols, 4, g, codes.data(), exps.data());
        }
      }
    }
  }
  w.finish();
}

}  // namespace sm_test
