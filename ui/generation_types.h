// SPDX-License-Identifier: Apache-2.0
#pragma once
// Value types that travel between the generation worker and the views:
// what to run, what a loaded model is, each streamed token and the summary.
// Plain copyable structs so they can cross threads in queued signals.
#include <QByteArray>
#include <QMetaType>
#include <QString>
#include <QVector>

#include <cstdint>
#include <memory>

#include "core/model/sampler.h"

namespace sm::ui {

struct RunRecord;

// What the model bar and the status line show about a loaded model.
struct ModelInfo {
  QString path;
  QString arch;       // "mamba1" / "mamba2"
  int n_layer = 0;
  int d_model = 0;
  int d_state = 0;
  int vocab_size = 0;
  int64_t parameters = 0;
  uint64_t weight_bytes = 0;
  uint64_t state_bytes = 0;
  QString tokenizer;  // "bytes" or the BPE name
  int threads = 1;
  QString quantization;  // QuantConfig::summary(): "fp32: fp32 weights", "w4a4 + rotation: ..."

  // "mamba2 · 4 layers · d_model 192 · 1.06 M params · bytes tokenizer"
  QString summary() const;
};

// Speculative decoding settings, as typed in the GUI; the worker parses them
// with core's parsers (TreeShape::parse, parse_verify_order, ...), so a bad
// value comes back as sm::Error's message.
struct SpecRequest {
  bool enabled = false;     // false: plain target-only decoding
  QString draft_path;       // draft model directory
  QString tree = QStringLiteral("1,1,1,1");
  QString verify = QStringLiteral("fifo");        // fifo / dfs / paths
  QString backtrack = QStringLiteral("snapshot"); // snapshot / replay / hybrid
  qint64 budget = 0;        // hybrid: bytes of stored node states per model and step
  int tile = 0;             // 0 = whole state
  bool fifo_events = true;  // record FifoPush / FifoPop per layer and tile (the FIFO view)
};

// Quantization of a run (the tuner): the worker quantizes the fp32 target and
// draft with core's quantize_model into a cache directory (reused while the
// source and the config stay the same) and runs those instead.
struct QuantRequest {
  bool enabled = false;  // false: the models run as loaded
  QString config_json;   // quant::QuantConfig::to_json_string()
  // The weight group of each model from quant::default_weight_group (the
  // largest that divides its widths) instead of config_json's.
  bool auto_group = false;
};

// The accelerator the dataflow model times the run on (the tuner's platform
// and design parameters). Runs on a device are always timed; cpu runs when
// `simulate` is set.
struct AccelRequest {
  bool simulate = false;
  QString platform;        // name (data/platforms) or .json path; empty: vck190
  // 0: accel::default_design(platform)'s value.
  int tile_rows = 0, tile_cols = 0, ssm_par = 0;
  double clock_mhz = 0;
};

struct GenerationRequest {
  QString prompt;  // text; the worker tokenizes it with the model's tokenizer
  int max_tokens = 64;
  SamplingParams sampling;
  bool stop_at_eos = true;
  SpecRequest spec;
  // Where the quantized ops run (accel::open_device): cpu, emu or xrt (an FPGA
  // board; without one the run falls back to emu and says why).
  QString device = QStringLiteral("cpu");
  QuantRequest quant;
  AccelRequest accel;
  // Bits per byte of the run's target on this held-out text (core's
  // evaluator, after the generation); empty: not measured.
  QString heldout_path;
  qint64 heldout_bytes = 0;  // first bytes of it to use; 0: all
};

// One generated token as it streams in.
struct TokenEvent {
  int32_t id = 0;
  QByteArray bytes;         // raw bytes (may be a partial UTF-8 sequence)
  int index = 0;            // 0-based position among the generated tokens
  double latency_ms = 0.0;  // since the previous token (the first: prefill + sample)
  double elapsed_s = 0.0;   // since the run started
  // Speculative runs only (step stays 0 in plain runs and for the first token,
  // which comes from the prefill): the step that emitted the token, whether it
  // is an accepted draft token (else the target's bonus token), how many
  // tokens the step emitted and its wall time.
  int step = 0;
  bool draft = false;
  int step_tokens = 0;
  double step_ms = 0.0;
};
using TokenBatch = QVector<TokenEvent>;

struct GenerationSummary {
  QVector<int32_t> prompt_ids;
  QVector<int32_t> ids;  // generated ids only
  QByteArray text;       // their decoded bytes
  int64_t prompt_tokens = 0;
  int64_t generated = 0;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  double decode_tokens_per_second = 0.0;
  double total_tokens_per_second = 0.0;
  bool cancelled = false;
  QString stop_reason;  // "max_tokens", "eos" or "cancelled"
  // Speculative runs only.
  bool speculative = false;
  QString tree;            // shape description, e.g. "1,1,1,1 (5 nodes, depth 4)"
  int64_t steps = 0;       // target passes
  int64_t accepted = 0;    // draft tokens accepted
  int64_t drafted = 0;     // draft tokens proposed
  double mean_accepted = 0.0;    // accepted per pass
  double tokens_per_pass = 0.0;  // accepted + bonus per pass
  // The whole run for the views and the run list (built in the job thread).
  std::shared_ptr<const RunRecord> record;
  QString device = QStringLiteral("cpu");  // what ran the quantized ops
  QString device_note;                     // why xrt was asked for and emu ran (else empty)
  // Speculative runs on a device: the dataflow model's tokens per second for
  // the same steps on the simulated accelerator, and what it modelled.
  double sim_tokens_per_second = 0.0;
  QString sim_device;
  // Tuner runs: the quantization that ran, bits per byte on the held-out
  // text (< 0: not measured) and the simulated design's energy and fit.
  QString quantization;
  double bpb = -1.0;
  double energy_per_token_mj = 0.0;
  QString fit_problem;  // check_fit's message; empty: fits (or not modelled)
};

// "12.3 kB", "4.56 MB", ...
QString format_bytes(uint64_t bytes);
// "82.1 k", "1.06 M", "130 M"
QString format_count(int64_t n);

}  // namespace sm::ui

Q_DECLARE_METATYPE(sm::ui::ModelInfo)
Q_DECLARE_METATYPE(sm::ui::TokenEvent)
Q_DECLARE_METATYPE(sm::ui::TokenBatch)
Q_DECLARE_METATYPE(sm::ui::GenerationSummary)
