// SPDX-License-Identifier: Apache-2.0
// specmamba: the command-line twin of SpecMamba Studio.
#include <iostream>
#include <map>

#include "cli_common.h"
#include "core/io/error.h"
#include "core/kernels/simd.h"

namespace sm::cli {
Runner add_dump_info(CLI::App& app, Common& c);  // cmd_dump_info.cpp
Runner add_dump_diff(CLI::App& app, Common& c);  // cmd_dump_diff.cpp
Runner add_quantize(CLI::App& app, Common& c);   // cmd_quantize.cpp
Runner add_simulate(CLI::App& app, Common& c);   // cmd_simulate.cpp
Runner add_devices(CLI::App& app, Common& c);    // cmd_devices.cpp
Runner add_sweep(CLI::App& app, Common& c);        // cmd_sweep.cpp
Runner add_sweep_merge(CLI::App& app, Common& c);  // cmd_sweep.cpp
}

int main(int argc, char** argv) {
  using namespace sm::cli;
  CLI::App app{"specmamba — Mamba language models with speculative decoding"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "specmamba 0.1.0");
  Common common;
  std::map<CLI::App*, Runner> runners;
  auto reg = [&](Runner (*add)(CLI::App&, Common&)) {
    const size_t before = app.get_subcommands({}).size();
    Runner r = add(app, common);
    runners[app.get_subcommands({})[before]] = std::move(r);
  };
  reg(add_info);
  reg(add_generate);
  reg(add_eval);
  reg(add_bench);
  reg(add_tokenize);
  reg(add_agree);
  reg(add_bench_spec);
  reg(add_random_model);
  reg(add_dump_info);
  reg(add_dump_diff);
  reg(add_quantize);
  reg(add_simulate);
  reg(add_devices);
  reg(add_sweep);
  reg(add_sweep_merge);
  // Exit status: 0 success (and --help / --version), 1 runtime error, 2 usage error.
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message and the usage hint
    return 2;
  }
  try {
    sm::simd::init_from_env();
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const UsageError& e) {
    std::cerr << "specmamba: usage error: " << e.what() << "\nRun with --help for more information."
              << std::endl;
    return 2;
  } catch (const sm::Error& e) {
    std::cerr << "specmamba: error: " << e.what() << std::endl;
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "specmamba: error: out of memory" << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "specmamba: error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
