// SPDX-License-Identifier: Apache-2.0
#include <iostream>

#include "cli_common.h"
#include "core/model/random_model.h"

namespace sm::cli {

Runner add_random_model(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("random-model", "Write a random-weight checkpoint of a named shape (for benchmarks and tests)");
  auto out = std::make_shared<std::string>();
  auto shape = std::make_shared<std::string>("mamba-130m");
  auto seed = std::make_shared<uint64_t>(1);
  cmd->add_option("OUT_DIR", *out, "directory to write")->required();
  cmd->add_option("--shape", *shape, "mamba-130m | mamba2-130m | tiny-mamba1 | tiny-mamba2");
  cmd->add_option("--seed", *seed, "random seed");
  cmd->add_flag("--json", c.json, "print one JSON object");
  return [=, &c] {
    RandomModelSpec spec = random_model_preset(*shape);
    spec.seed = *seed;
    ModelConfig cfg = write_random_model(*out, spec);
    if (c.json) print_json({{"dir", *out}, {"shape", *shape}, {"config", config_json(cfg)}});
    else std::cout << "wrote " << *shape << " (" << arch_name(cfg.arch) << ") to " << *out << std::endl;
    return 0;
  };
}

}  // namespace sm::cli
