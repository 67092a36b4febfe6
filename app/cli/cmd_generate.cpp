// SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "accel/backends.h"
#include "accel/dataflow/pipeline_trace.h"
#include "cli_common.h"
#include "core/dump/dump_generate.h"
#include "core/dump/dump_replay.h"
#include "core/dump/dump_writer.h"
#include "core/io/default_paths.h"
#include "core/io/error.h"
#include "core/model/generator.h"
#include "core/spec/spec_decoder.h"

namespace sm::cli {

namespace {
struct GenerateArgs {
  std::string model = default_target_model();
  std::string prompt;
  std::string prompt_ids;
  int max_tokens = 64;
  float temperature = 0.0f;
  int top_k = 0;
  float top_p = 1.0f;
  uint64_t seed = 0;
  bool ignore_eos = false;
  // Speculative decoding (with --draft).
  std::string draft;
  std::string tree = "1,1,1,1";
  std::string verify = "fifo";
  int tile = 0;
  std::string backtrack = "snapshot";
  int64_t budget = 0;
  std::string trace;
  bool no_fifo_events = false;
  // Activation dump (of a speculative run: the target replayed over the committed sequence).
  std::string dump;
  std::string dump_layers;
  std::string dump_tokens;
  bool dump_logits = false;
  // Backend of the quantized ops.
  std::string device = "cpu";
  std::string xclbin;
  int board = 0;
  // The simulated accelerator of a device run (accel/dataflow/pipeline_trace.h).
  std::string platform = accel::kDefaultSimPlatform;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A trace sink for --trace FILE: Chrome trace JSON (.json) or HDF5 (.h5).
std::unique_ptr<EventSink> open_trace_sink(const std::string& path, const TraceMetadata& meta) {
  if (ends_with(path, ".json")) return make_chrome_trace_sink(path, meta);
  if (ends_with(path, ".h5") || ends_with(path, ".hdf5")) return make_hdf5_sink(path, meta);
  fail(path, "--trace FILE must end in .json (Chrome trace) or .h5 (HDF5)");
}

}  // namespace

Runner add_generate(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand(
      "generate", "Generate text from a prompt (streams the text, then tokens/s); with --draft, "
                  "by tree speculative decoding");
  auto a = std::make_shared<GenerateArgs>();
  cmd->add_option("MODEL", a->model, "model directory (default: the shipped target)");
  auto* p = cmd->add_option("--prompt", a->prompt, "prompt text");
  auto* pi = cmd->add_option("--prompt-ids", a->prompt_ids, "prompt as token ids, e.g. 1,2,3");
  p->excludes(pi);
  cmd->add_option("--max-tokens,-n", a->max_tokens, "tokens to generate")->check(CLI::Range(0, 1000000));
  cmd->add_option("--temperature,-t", a->temperature, "0 = greedy");
  cmd->add_option("--top-k", a->top_k, "keep the k most likely tokens (0 = off)");
  cmd->add_option("--top-p", a->top_p, "nucleus sampling mass (1 = off)");
  cmd->add_option("--seed", a->seed, "random seed");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "keep going past the end-of-text token");
  cmd->add_option("--threads", c.threads, "worker threads");
  cmd->add_flag("--json", c.json, "print one JSON object instead of streaming");
  cmd->add_option("--device", a->device,
                  "where the quantized ops run: cpu (the model's kernels), emu (the accelerator's kernels "
                  "on the CPU) or xrt (an FPGA board; falls back to emu without one)")
      ->check(CLI::IsMember({"cpu", "emu", "xrt"}));
  cmd->add_option("--xclbin", a->xclbin, "xrt: the accelerator's xclbin (docs/xrt.md)");
  cmd->add_option("--board", a->board, "xrt: board index (specmamba devices lists them)")->check(CLI::Range(0, 63));
  auto* platform_opt = cmd->add_option(
      "--platform", a->platform,
      std::string("emu/xrt with speculative decoding: the platform whose simulated accelerator timeline goes "
                  "into the trace and the simulated tokens/s (a name from data/platforms or a .json; default ") +
          accel::kDefaultSimPlatform + ")");
  auto* d = cmd->add_option("--draft", a->draft, "draft model directory: enables speculative decoding");
  auto* tree = cmd->add_option("--tree", a->tree,
                  "token tree: widths per depth (\"4,2,2,1\"; a chain of k is \"1,...,1\"), a JSON "
                  "list of child-rank paths, or a .json file with one; without --draft the shipped "
                  "draft is used");
  // Speculative options need --draft or --tree (which alone uses the shipped draft).
  std::vector<CLI::Option*> spec_opts = {
      cmd->add_option("--verify", a->verify, "tree verification order: fifo, dfs or paths"),
      cmd->add_option("--tile", a->tile,
                      "state tile for verification: channels (Mamba-1) / heads (Mamba-2); 0 = whole"),
      cmd->add_option("--backtrack", a->backtrack, "state backtracking: snapshot, replay or hybrid"),
      cmd->add_option("--budget", a->budget,
                      "hybrid: bytes of stored node states per model and step (replay inputs come on top)"),
      cmd->add_option("--trace", a->trace, "write the speculative events: FILE.json (Chrome trace) or FILE.h5"),
      cmd->add_flag("--no-fifo-events", a->no_fifo_events, "leave the per-tile FIFO events out of the trace")};
  auto* dump_opt = cmd->add_option("--dump", a->dump,
                                   "write the activations of the prompt and the generated tokens to an HDF5 "
                                   "dump (docs/dump-format.md)");
  std::vector<CLI::Option*> dump_opts = {
      cmd->add_option("--dump-layers", a->dump_layers, "layers to dump, e.g. 0,3,5-7 (default: all)"),
      cmd->add_option("--dump-tokens", a->dump_tokens, "token positions to dump, e.g. 0-63 or 64- (default: all)"),
      cmd->add_flag("--dump-logits", a->dump_logits, "also dump the logits of every token run")};
  return [a, tree, d, spec_opts, dump_opt, dump_opts, platform_opt, &c] {
    if (platform_opt->count() > 0 && a->device == "cpu")
      throw UsageError("--platform needs --device emu or xrt (the simulated accelerator of a device run)");
    if (d->count() == 0 && tree->count() == 0)
      for (const CLI::Option* o : spec_opts)
        if (o->count() > 0)
          throw UsageError(o->get_name() + " needs --draft DIR or --tree SHAPE (speculative decoding)");
    if (dump_opt->count() == 0)
      for (const CLI::Option* o : dump_opts)
        if (o->count() > 0) throw UsageError(o->get_name() + " needs --dump FILE");
    if (!a->dump.empty() && !a->trace.empty()) {
      namespace fs = std::filesystem;
      std::error_code ec;
      const auto norm = [&](const std::string& p) { return fs::absolute(p, ec).lexically_normal(); };
      if (norm(a->dump) == norm(a->trace))
        throw UsageError("--dump and --trace name the same file (" + a->dump + "); give them different paths");
    }
    DumpOptions dopt;
    if (!a->dump.empty()) {
      try {
        dopt.layers = IndexFilter::parse(a->dump_layers, "--dump-layers");
        dopt.tokens = IndexFilter::parse(a->dump_tokens, "--dump-tokens");
      } catch (const Error& e) {
        throw UsageError(e.what());
      }
      dopt.logits = a->dump_logits;
      dopt.model = a->model;
    }
    // --tree alone means speculative decoding with the shipped draft.
    if (a->draft.empty() && tree->count() > 0) a->draft = default_draft_model();
    if (a->device != "xrt" && !a->xclbin.empty()) throw UsageError("--xclbin needs --device xrt");
    if (platform_opt->count() > 0 && a->draft.empty())
      throw UsageError("--platform needs --draft DIR or --tree SHAPE (speculative decoding)");
    // A device run with speculation also simulates the accelerator's timeline.
    const bool simulate_device = !a->draft.empty() && a->device != "cpu";
    accel::PipelineTraceOptions sim_opt;
    if (simulate_device) sim_opt = accel::PipelineTraceOptions::defaults(a->platform);  // names the known ones
    auto m = open_model(a->model, c.threads);
    const accel::OpenedDevice dev = accel::open_device({a->device, a->xclbin, a->board});
    if (!dev.fallback.empty()) std::cerr << "specmamba: " << dev.fallback << "\n";
    if (dev.device) m->use_device(dev.device);
    if (!a->dump.empty()) {
      try {
        check_layer_filter(dopt.layers, m->config().n_layer, "--dump-layers");
      } catch (const Error& e) {
        throw UsageError(e.what());
      }
    }
    auto tok = load_tokenizer_for_model(a->model);
    std::vector<int32_t> prompt =
        !a->prompt_ids.empty() ? parse_id_list(a->prompt_ids, "--prompt-ids") : tok->encode(a->prompt);
    GenerateOptions opt;
    opt.max_tokens = a->max_tokens;
    opt.sampling = {a->temperature, a->top_k, a->top_p, a->seed};
    opt.sampling.validate();
    opt.stop_at_eos = !a->ignore_eos;
    const bool spec = !a->draft.empty();
    SpecConfig cfg;
    if (spec) {
      cfg.tree = TreeShape::parse(a->tree);
      cfg.verify = parse_verify_order(a->verify);
      cfg.tile = a->tile;
      cfg.backtrack = parse_backtrack_policy(a->backtrack);
      cfg.budget = a->budget;
      cfg.verbose_events = !a->no_fifo_events;
      cfg.validate();
      if (!a->dump.empty())
        dopt.spec = nlohmann::json{{"draft", a->draft},
                                   {"tree", cfg.tree.spec},
                                   {"tree_nodes", cfg.tree.size()},
                                   {"tree_depth", cfg.tree.max_depth()},
                                   {"verify", verify_order_name(cfg.verify)},
                                   {"tile", cfg.tile},
                                   {"backtrack", backtrack_policy_name(cfg.backtrack)},
                                   {"budget", cfg.budget},
                                   {"dumped", "target replayed over the committed sequence"}}
                        .dump();
    }
    // Created before any output (a bad path fails first) and after the model:
    // on an error the writer is destroyed first and removes its temp file.
    // quantization and rotation come from the model.
    std::unique_ptr<DumpWriter> dump;
    if (!a->dump.empty()) dump = std::make_unique<DumpWriter>(a->dump, *m, dopt);
    std::unique_ptr<MambaModel> draft;
    std::unique_ptr<EventSink> sink;
    std::unique_ptr<accel::PipelineTraceSink> pipeline;  // wraps `sink` (or nothing) on device runs
    if (spec) {
      draft = open_model(a->draft, 1);  // a tiny draft gains nothing from threads
      if (dev.device) draft->use_device(dev.device);
      if (!a->trace.empty())
        // spec_generate adds the settings, geometry and results.
        sink = open_trace_sink(a->trace, {{"target", a->model}, {"draft", a->draft},
                                          {"threads", std::to_string(c.threads)},
                                          {"prompt", a->prompt_ids.empty() ? a->prompt : ""}});
      if (simulate_device && dev.device) {
        sim_opt.order = accel::parse_verify_order(verify_order_name(cfg.verify));
        sim_opt.backtrack = accel::parse_backtrack(backtrack_policy_name(cfg.backtrack));
        pipeline = std::make_unique<accel::PipelineTraceSink>(sink.get(), m->config(), draft->config(), sim_opt);
        // Without --trace the events only feed the simulation, which needs no FIFO events.
        if (!sink) cfg.verbose_events = false;
      }
    }
    TokenCallback stream;
    if (!c.json) {
      if (!a->prompt_ids.empty()) std::cout << tok->decode(prompt);
      else std::cout << a->prompt;
      std::cout.flush();
      stream = [](int32_t, const std::string& bytes) {
        std::cout << bytes;
        std::cout.flush();
      };
    }
    GenerateResult r;
    SpecStats ss;
    int64_t dump_tokens = 0, dump_rows = 0;
    if (spec) {
      EventSink* events = pipeline ? static_cast<EventSink*>(pipeline.get()) : sink.get();
      SpecGenerateResult sr = spec_generate(*m, *draft, *tok, prompt, opt, cfg, events, stream);
      r = std::move(sr.gen);
      ss = sr.spec;
      if (pipeline) pipeline->flush();  // also flushes `sink`
      else if (sink) sink->flush();
      if (dump) {
        // The verification pass is not tapped: the target runs once more over
        // the committed sequence (bit-identical rows, docs/dump-format.md).
        replay_generation(*m, prompt, r.ids, *dump);
        dump->finish();
        dump_tokens = dump->tokens_seen();
        dump_rows = dump->rows_written();
      }
    } else {
      r = dump ? generate_with_dump(*m, *tok, prompt, opt, *dump, stream) : generate(*m, *tok, prompt, opt, stream);
      if (dump) {
        dump_tokens = dump->tokens_seen();
        dump_rows = dump->rows_written();
      }
    }
    const GenerateStats& s = r.stats;
    if (c.json) {
      nlohmann::json j;
      j["model"] = a->model;
      j["prompt_ids"] = prompt;
      j["ids"] = r.ids;
      j["text"] = r.text;
      j["prompt_tokens"] = s.prompt_tokens;
      j["generated_tokens"] = s.generated;
      j["prefill_seconds"] = s.prefill_seconds;
      j["decode_seconds"] = s.decode_seconds;
      j["prefill_tokens_per_second"] = s.prefill_tokens_per_second();
      j["decode_tokens_per_second"] = s.decode_tokens_per_second();
      j["tokens_per_second"] = s.total_tokens_per_second();
      j["stop_reason"] = s.stop_reason;
      j["threads"] = c.threads;
      j["device"] = dev.backend;
      if (dev.device) {
        const device::OpCounts oc = dev.device->counts();
        j["device_info"] = {{"requested", a->device},
                            {"describe", dev.device->describe()},
                            {"fallback", dev.fallback},
                            {"linear_calls", oc.linear_calls},
                            {"linear_rows", oc.linear_rows},
                            {"conv_rows", oc.conv_rows},
                            {"ssm_calls", oc.ssm_calls},
                            {"ssm_tokens", oc.ssm_tokens}};
      }
      if (!a->dump.empty()) j["dump"] = a->dump;
      j["sampling"] = {{"temperature", opt.sampling.temperature}, {"top_k", opt.sampling.top_k},
                       {"top_p", opt.sampling.top_p}, {"seed", opt.sampling.seed}};
      if (spec) {
        j["draft"] = a->draft;
        j["speculative"] = {{"tree", cfg.tree.spec}, {"tree_nodes", cfg.tree.size()},
                            {"tree_depth", cfg.tree.max_depth()},
                            {"verify", verify_order_name(cfg.verify)}, {"tile", cfg.tile},
                            {"backtrack", backtrack_policy_name(cfg.backtrack)},
                            {"budget", cfg.budget}};
        j["mean_accepted"] = ss.mean_accepted();
        j["tokens_per_pass"] = ss.tokens_per_pass();
        j["steps"] = ss.steps;
        j["peak_live_states"] = ss.peak_live_states;
        j["state_bytes_read"] = ss.state_bytes_read;
        j["state_bytes_written"] = ss.state_bytes_written;
        j["redundant_nodes"] = ss.redundant_nodes;
        j["backtrack_bytes_kept"] = ss.backtrack_bytes_kept;
        j["replayed_tokens"] = ss.replayed_tokens();
        j["target_state_bytes_max"] = ss.target_state_bytes_max;
        j["draft_state_bytes_max"] = ss.draft_state_bytes_max;
        j["peak_state_bytes"] = ss.peak_state_bytes;
        j["draft_seconds"] = ss.draft_seconds;
        j["verify_seconds"] = ss.verify_seconds;
        j["backtrack_seconds"] = ss.backtrack_seconds;
        if (!a->trace.empty()) j["trace"] = a->trace;
        if (pipeline) {
          const auto t = pipeline->totals();
          j["simulated_tokens_per_second"] = t.tokens_per_second();
          j["simulated_seconds"] = t.seconds;
          j["simulated_device"] = pipeline->describe();
        }
      }
      print_json(j);
    } else {
      std::cout << std::endl;
      std::fprintf(stderr, "[%lld prompt tokens in %.3f s (%.1f tok/s); %lld generated, decode %.1f tok/s]\n",
                   (long long)s.prompt_tokens, s.prefill_seconds, s.prefill_tokens_per_second(),
                   (long long)s.generated, s.decode_tokens_per_second());
      if (!a->dump.empty())
        std::fprintf(stderr, "[dump %s: %lld tokens run, %lld dumped%s]\n", a->dump.c_str(), (long long)dump_tokens,
                     (long long)dump_rows, spec ? "; the target replayed over the committed sequence" : "");
      if (spec) {
        // A device run adds the simulated accelerator's rate (accel/dataflow/pipeline_trace.h).
        std::string sim;
        if (pipeline) {
          const auto t = pipeline->totals();
          char buf[96];
          std::snprintf(buf, sizeof buf, "; simulated %.1f tok/s on ", t.tokens_per_second());
          sim = buf + pipeline->describe();
        }
        std::fprintf(stderr,
                     "[speculative %s, tree %s, %s: %lld steps, %.2f accepted per step, %.2f "
                     "tokens per target pass%s]\n",
                     verify_order_name(cfg.verify), cfg.tree.spec.c_str(),
                     backtrack_policy_name(cfg.backtrack), (long long)ss.steps, ss.mean_accepted(),
                     ss.tokens_per_pass(), sim.c_str());
      }
    }
    return 0;
  };
}

}  // namespace sm::cli
