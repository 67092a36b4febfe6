// SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "core/dump/dump_writer.h"
#include "core/io/default_paths.h"
#include "core/io/error.h"
#include "core/model/evaluator.h"

namespace sm::cli {

Runner add_eval(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("eval", "Mean NLL per token, perplexity and bits per byte over a text file");
  auto model = std::make_shared<std::string>(default_target_model());
  auto text = std::make_shared<std::string>();
  auto chunk = std::make_shared<int64_t>(512);
  cmd->add_option("MODEL", *model, "model directory (default: the shipped target)");
  cmd->add_option("--text", *text, "text file")->required();
  cmd->add_option("--chunk", *chunk, "tokens per forward pass")->check(CLI::Range(1, 65536));
  cmd->add_option("--threads", c.threads, "worker threads");
  cmd->add_flag("--json", c.json, "print one JSON object");
  // Activation dump of the evaluated sequence (every token but the last is run).
  auto dump = std::make_shared<std::string>();
  auto dump_layers = std::make_shared<std::string>();
  auto dump_tokens = std::make_shared<std::string>();
  auto dump_logits = std::make_shared<bool>(false);
  auto* dump_opt = cmd->add_option("--dump", *dump, "write the activations to an HDF5 dump (docs/dump-format.md)");
  std::vector<CLI::Option*> dump_opts = {
      cmd->add_option("--dump-layers", *dump_layers, "layers to dump, e.g. 0,3,5-7 (default: all)"),
      cmd->add_option("--dump-tokens", *dump_tokens, "token positions to dump, e.g. 0-63 or 64- (default: all)"),
      cmd->add_flag("--dump-logits", *dump_logits, "also dump the logits of every token run")};
  return [=, &c] {
    if (dump_opt->count() == 0)
      for (const CLI::Option* o : dump_opts)
        if (o->count() > 0) throw UsageError(o->get_name() + " needs --dump FILE");
    DumpOptions dopt;
    if (!dump->empty()) {
      try {
        dopt.layers = IndexFilter::parse(*dump_layers, "--dump-layers");
        dopt.tokens = IndexFilter::parse(*dump_tokens, "--dump-tokens");
      } catch (const Error& e) {
        throw UsageError(e.what());
      }
      dopt.logits = *dump_logits;
      dopt.model = *model;
    }
    auto m = open_model(*model, c.threads);
    if (!dump->empty()) {
      try {
        check_layer_filter(dopt.layers, m->config().n_layer, "--dump-layers");
      } catch (const Error& e) {
        throw UsageError(e.what());
      }
    }
    auto tok = load_tokenizer_for_model(*model);
    const std::string data = read_file(*text);
    // Declared after the model: on an error the writer goes first and removes its temp file.
    std::unique_ptr<DumpWriter> writer;
    if (!dump->empty()) {
      writer = std::make_unique<DumpWriter>(*dump, *m, dopt);  // quantization and rotation from the model
      m->set_tap(writer.get());
    }
    EvalResult r = evaluate(*m, *tok, data, *chunk);
    if (writer) {
      m->set_tap(nullptr);
      writer->finish();
    }
    if (c.json) {
      nlohmann::json j = {{"model", *model}, {"text", *text}, {"tokens", r.tokens}, {"bytes", r.bytes},
                          {"nll", r.nll}, {"ppl", r.ppl}, {"bpb", r.bpb}, {"seconds", r.seconds},
                          {"tokens_per_second", r.seconds > 0 ? r.tokens / r.seconds : 0.0}};
      if (!dump->empty()) j["dump"] = *dump;
      print_json(j);
    } else {
      std::printf("tokens          %lld (%lld bytes)\n", (long long)r.tokens, (long long)r.bytes);
      std::printf("nll             %.6f nats/token\n", r.nll);
      std::printf("perplexity      %.4f\n", r.ppl);
      std::printf("bits per byte   %.6f\n", r.bpb);
      std::printf("time            %.2f s (%.0f tok/s)\n", r.seconds, r.seconds > 0 ? r.tokens / r.seconds : 0.0);
      if (!dump->empty()) std::printf("dump            %s\n", dump->c_str());
    }
    return 0;
  };
}

}  // namespace sm::cli
