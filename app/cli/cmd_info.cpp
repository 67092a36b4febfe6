// SPDX-License-Identifier: Apache-2.0
#include <iostream>

#include "cli_common.h"
#include "core/io/default_paths.h"
#include "core/kernels/simd.h"

namespace sm::cli {

Runner add_info(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("info", "Architecture, dimensions, parameter count and memory of a model");
  auto model = std::make_shared<std::string>(default_target_model());
  cmd->add_option("MODEL", *model, "model directory (config.json + *.safetensors)");
  cmd->add_flag("--json", c.json, "print one JSON object");
  return [model, &c] {
    auto m = open_model(*model, 1);
    auto tok = load_tokenizer_for_model(*model);
    const ModelConfig& cfg = m->config();
    nlohmann::json j;
    j["model"] = *model;
    j["config"] = config_json(cfg);
    j["parameters"] = m->weights().parameter_count;
    j["weight_bytes_fp32"] = m->weights().parameter_count * 4;
    j["weight_bytes"] = m->weights().bytes;
    j["decode_bytes"] = m->weights().decode_bytes;
    j["quantization"] = m->weights().quant.to_json();
    j["state_bytes"] = m->state_bytes();
    j["tokenizer"] = tok->name();
    j["tokenizer_vocab"] = tok->vocab_size();
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : m->weights().store.files()) files.push_back(f->path());
    j["files"] = files;
    j["simd_target"] = simd::target_name();
    if (c.json) {
      print_json(j);
      return 0;
    }
    std::cout << "model        " << *model << "\n"
              << "architecture " << arch_name(cfg.arch) << " (" << naming_name(cfg.naming)
              << " naming)\n"
              << "d_model      " << cfg.d_model << "\n"
              << "layers       " << cfg.n_layer << "\n"
              << "vocab        " << cfg.vocab_size << " (tokenizer " << tok->name() << ", "
              << tok->vocab_size() << " ids)\n"
              << "d_inner      " << cfg.d_inner << "\n"
              << "d_state      " << cfg.d_state << "\n"
              << "d_conv       " << cfg.d_conv << "\n";
    if (cfg.arch == Arch::Mamba1) {
      std::cout << "dt_rank      " << cfg.dt_rank << "\n";
    } else {
      std::cout << "heads        " << cfg.n_heads << " x " << cfg.head_dim << ", groups "
                << cfg.n_groups << (cfg.d_mlp ? ", d_mlp " + std::to_string(cfg.d_mlp) : "")
                << "\n";
    }
    std::cout << "tied lm_head " << (cfg.tie_embeddings ? "yes" : "no") << "\n"
              << "parameters   " << m->weights().parameter_count << "\n"
              << "weights      " << m->weights().bytes / 1e6 << " MB ("
              << (m->weights().quant.linear_weights.quantized() ? "quantized" : "fp32") << "), "
              << m->weights().decode_bytes / 1e6 << " MB read per decode step\n"
              << "quantization " << m->weights().quant.summary() << "\n"
              << "state        " << m->state_bytes() / 1e3 << " kB per sequence\n"
              << "simd target  " << simd::target_name() << " (SPECMAMBA_SIMD=avx512|avx2|sse4|scalar caps it)\n";
    return 0;
  };
}

}  // namespace sm::cli
