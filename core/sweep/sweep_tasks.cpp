// SPDX-License-Identifier: Apache-2.0
#include "core/sweep/sweep_tasks.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/io/default_paths.h"
#include "core/io/error.h"
#include "core/io/model_config.h"
#include "core/io/text_file.h"
#include "core/model/evaluator.h"
#include "core/model/generator.h"
#include "core/model/mamba_model.h"
#include "core/quant/quantize_model.h"
#include "core/spec/spec_decoder.h"
#include "core/tokenizer/tokenizer.h"

namespace sm::sweep {

namespace fs = std::filesystem;

namespace {

// `specmamba quantize` calibrates 4-bit weights by default on models this
// narrow (app/cli/cmd_quantize.cpp): wider ones take minutes per layer.
constexpr int64_t kDefaultCalibrationMaxWidth = 1024;

std::unique_ptr<MambaModel> open_single_threaded(const std::string& dir) {
  auto m = MambaModel::load(dir);
  m->set_threads(1);
  return m;
}

quant::QuantConfig preset_config(const SweepSpec& spec, const std::string& preset, const std::string& src) {
  quant::QuantConfig q = quant::QuantConfig::preset(preset, spec.rotation);
  if (q.linear_weights.quantized())
    q.linear_weights.group = q.lm_head_weights.group = static_cast<int>(quant::default_weight_group(src));
  q.validate("sweep preset " + preset);
  return q;
}

quant::CalibrationOptions preset_calibration(const SweepSpec& spec, const quant::QuantConfig& q,
                                             const std::string& src) {
  quant::CalibrationOptions o;
  if (!spec.calibrate || q.linear_weights.bits != 4) return o;
  const ModelConfig c = parse_model_config(src + "/config.json");
  if (std::max<int64_t>(c.d_model, c.d_inner) <= kDefaultCalibrationMaxWidth) o.text_path = data_dir() + "/kjv-calib.txt";
  return o;
}

}  // namespace

PresetModels preset_models(const SweepSpec& spec, const std::string& preset, const std::string& cache) {
  if (preset == "fp32") return {preset, spec.target, spec.draft};
  std::error_code ec;
  auto abs = [&](const std::string& p) { return fs::absolute(p, ec).lexically_normal().string(); };
  const std::string key = fnv1a64_hex(abs(spec.target) + "\n" + abs(spec.draft) + "\n" + preset + "\n" +
                                      (spec.rotation ? "rot" : "norot") + "\n" + (spec.calibrate ? "cal" : "nocal"))
                              .substr(0, 8);
  const fs::path dir = fs::path(cache) / (preset + "-" + key);
  return {preset, (dir / "target").string(), (dir / "draft").string()};
}

bool ensure_quantized(const SweepSpec& spec, const std::string& preset, const std::string& src,
                      const std::string& dst) {
  std::error_code ec;
  if (fs::exists(fs::path(dst) / "config.json", ec)) return false;
  fs::create_directories(fs::path(dst).parent_path(), ec);
  if (ec) fail(fs::path(dst).parent_path().string(), "cannot create the quantized-model cache: " + ec.message());
  const quant::QuantConfig q = preset_config(spec, preset, src);
  try {
    quant::quantize_model(src, dst, q, preset_calibration(spec, q, src));
  } catch (const Error&) {
    // A concurrent shard on the same cache may have renamed its copy into place first.
    if (fs::exists(fs::path(dst) / "config.json", ec)) return false;
    throw;
  }
  return true;
}

double measure_baseline(const SweepSpec& spec, const PresetModels& m, const std::atomic<bool>* cancel) {
  auto target = open_single_threaded(m.target);
  auto tok = load_tokenizer_for_model(m.target);
  const std::vector<int32_t> prompt = tok->encode(spec.prompt);
  GenerateOptions opt;
  opt.max_tokens = spec.max_tokens;
  double best = 0;
  for (int r = 0; r < spec.repeats; ++r) {
    const GenerateResult g = generate(*target, *tok, prompt, opt, {}, cancel);
    if (g.stats.cancelled) return kNaN;
    best = std::max(best, g.stats.total_tokens_per_second());
  }
  return best;
}

double measure_bpb(const SweepSpec& spec, const PresetModels& m, const std::atomic<bool>* cancel) {
  std::string text = read_text_file(spec.eval_text);
  if (spec.eval_bytes > 0 && static_cast<int64_t>(text.size()) > spec.eval_bytes) {
    // Cut back to a line end so that no character is split.
    const size_t nl = text.rfind('\n', static_cast<size_t>(spec.eval_bytes) - 1);
    text.resize(nl == std::string::npos ? static_cast<size_t>(spec.eval_bytes) : nl + 1);
  }
  if (text.size() < 2) fail(spec.eval_text, "eval_text needs at least two bytes");
  auto target = open_single_threaded(m.target);
  auto tok = load_tokenizer_for_model(m.target);
  const EvalResult r = evaluate(*target, *tok, text, 512, {}, cancel);
  return r.cancelled ? kNaN : r.bpb;
}

bool run_config(const SweepSpec& spec, const SweepConfig& cfg, const PresetModels& m, double baseline_tps,
                double bpb, const SimulateFn& simulate, const std::atomic<bool>* cancel, SweepRow& row) {
  const double t0 = now_seconds();
  row = SweepRow{};
  row.config = cfg;
  row.baseline_tokens_per_second = baseline_tps;
  row.bpb = bpb;
  std::unique_ptr<MambaModel> target, draft;
  std::vector<int64_t> accepted_per_step;
  try {
    SpecConfig sc;
    sc.tree = TreeShape::parse(cfg.tree);
    sc.verify = parse_verify_order(cfg.verify);
    sc.tile = static_cast<int>(cfg.tile);
    sc.backtrack = parse_backtrack_policy(cfg.backtrack);
    sc.budget = cfg.budget;
    sc.verbose_events = false;
    sc.validate();
    target = open_single_threaded(m.target);
    draft = open_single_threaded(m.draft);
    auto tok = load_tokenizer_for_model(m.target);
    const std::vector<int32_t> prompt = tok->encode(spec.prompt);
    GenerateOptions opt;
    opt.max_tokens = spec.max_tokens;
    double best = 0;
    for (int r = 0; r < spec.repeats; ++r) {
      std::vector<int64_t> steps;
      const SpecTokenCallback on_token = [&steps](int32_t, const std::string&, const SpecTokenInfo& info) {
        if (info.step > static_cast<int>(steps.size())) steps.push_back(info.step_tokens);
      };
      const SpecGenerateResult res = spec_generate(*target, *draft, *tok, prompt, opt, sc, nullptr, on_token, cancel);
      if (res.gen.stats.cancelled) return false;
      best = std::max(best, res.gen.stats.total_tokens_per_second());
      if (r == 0) {
        // Greedy decoding: every repeat accepts the same tokens.
        accepted_per_step = std::move(steps);
        row.mean_accepted = res.spec.mean_accepted();
        row.tokens_per_pass = res.spec.tokens_per_pass();
        row.generated = res.gen.stats.generated;
        row.steps = res.spec.steps;
      }
    }
    row.tokens_per_second = best;
    row.speedup = baseline_tps > 0 ? best / baseline_tps : kNaN;
    if (simulate) {
      SimRequest req;
      req.config = &cfg;
      req.target = target->config();
      req.draft = draft->config();
      req.quant = target->weights().quant;
      for (int32_t n : sc.tree.level_sizes()) req.tree_levels.push_back(n);
      req.accepted_per_step = accepted_per_step;
      int64_t step_tokens = 0;
      for (int64_t n : accepted_per_step) step_tokens += n;
      req.tokens = std::min(step_tokens, std::max<int64_t>(0, row.generated - 1));
      try {
        const SimResult s = simulate(req);
        row.sim_tokens_per_second = s.tokens_per_second;
        row.energy_per_token_mj = s.energy_per_token_mj;
        row.dsp = s.dsp, row.lut = s.lut, row.bram = s.bram, row.uram = s.uram, row.fits = s.fits;
        row.fit_note = s.fit_note;
      } catch (const Error& e) {
        row.fit_note = std::string("simulation: ") + e.what();
      }
    }
  } catch (const std::bad_alloc&) {
    row.error = "out of memory";
  } catch (const std::exception& e) {
    row.error = e.what();
  }
  if (!row.ok()) {
    row.tokens_per_second = row.speedup = row.mean_accepted = row.tokens_per_pass = kNaN;
    row.generated = row.steps = 0;
  }
  row.seconds = now_seconds() - t0;
  return true;
}

}  // namespace sm::sweep
