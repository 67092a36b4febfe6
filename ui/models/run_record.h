// SPDX-License-Identifier: Apache-2.0
#pragma once
// One run as the Studio's views see it: the settings that produced it, its
// summary figures and, per speculative step, the drafted tree with both
// models' probabilities and the acceptance verdicts, the verification walk's
// FIFO operations, both models' backtracking and the phase times.
//
// Built from the engine's event stream plus the trace metadata, so a live run
// (MemoryEventSink), a Chrome JSON trace and an HDF5 trace written by
// `specmamba generate --trace` all give the same record. Plain value types,
// no widgets: the views and their tests share it.
#include <QByteArray>
#include <QString>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "core/spec/backtrack.h"
#include "core/trace/spec_events.h"

namespace sm {
class Tokenizer;
struct TreeShape;
}  // namespace sm

namespace sm::ui {

enum class Verdict : uint8_t {
  Root,         // node 0: the last emitted token, not drafted this step
  Accepted,     // on the accepted path
  Rejected,     // examined by acceptance and refused
  NotExamined,  // below a rejected node, or a sibling acceptance never reached
};

struct NodeRecord {
  int32_t node = 0;
  int32_t parent = -1;
  int32_t depth = 0;
  int32_t token = 0;
  float draft_prob = 1.0f;   // draft probability of the token at its parent
  float target_prob = -1.0f; // target probability at its parent; < 0: not recorded
  int32_t target_argmax = -1;  // the target's greedy token after this node; -1: not recorded
  Verdict verdict = Verdict::NotExamined;
  QString reason;            // AcceptDecision::reason ("matches target argmax", "p/q = ...")
};

struct FifoRecord {
  bool push = true;          // FifoPush, else FifoPop
  int32_t layer = 0;
  int32_t tile = 0;
  int32_t node = 0;
  int32_t live = 0;          // live states after the operation
  double t_us = 0;
};

struct BacktrackRecord {
  bool present = false;
  QString policy;            // snapshot / replay / hybrid
  int64_t bytes_kept = 0;    // stored states + replay inputs
  int32_t replayed = 0;      // tokens recomputed
  double t_us = 0;           // start, since the run started
  double us = 0;
};

struct StepRecord {
  int32_t step = 0;
  double t_us = 0;           // start of the step, since the run started
  double step_us = 0;
  double draft_us = 0, verify_us = 0, accept_us = 0, backtrack_us = 0;  // phases in order
  std::vector<NodeRecord> nodes;   // breadth-first, nodes[0] = root
  std::vector<int32_t> path;       // accepted nodes, root first (path[0] = 0)
  int32_t bonus_token = 0;
  int32_t accepted = 0;            // draft tokens accepted (as the engine decided)
  int32_t emitted = 0;             // tokens of this step that reached the output (cut at max_tokens)
  int32_t first_token = 0;         // index of this step's first output token among generated ids
  int32_t peak_live_states = 0;
  int64_t state_bytes_read = 0;
  int64_t state_bytes_written = 0;
  int32_t redundant_nodes = 0;
  std::vector<FifoRecord> fifo;    // empty when the run had --no-fifo-events
  BacktrackRecord target_backtrack, draft_backtrack;
  double phases_sum_us() const { return draft_us + verify_us + accept_us + backtrack_us; }
};

// What produced the run (the run list's columns, the compare view's header).
struct RunSettings {
  QString target;            // model directory
  QString draft;             // empty: target-only run
  QString tree;              // shape text, e.g. "4,2,2"
  QString verify;            // fifo / dfs / paths
  int tile = 0;
  QString backtrack;         // snapshot / replay / hybrid
  int64_t budget = 0;
  double temperature = 0, top_p = 1;
  int top_k = 0;
  uint64_t seed = 0;
  int threads = 1;
  int max_tokens = 0;
  QString prompt;
  // Tuner runs (empty otherwise): what ran the ops, the quantization, the
  // simulated platform and design.
  QString device;
  QString quantization;
  QString platform;
  QString design;
  bool speculative() const { return !draft.isEmpty(); }
  // "tree 4,2,2 · fifo · tile 0 · snapshot" / "target-only"
  QString describe() const;
};

struct RunFigures {
  int64_t prompt_tokens = 0;
  int64_t generated = 0;
  double prefill_us = 0;
  double decode_seconds = 0;
  double tokens_per_second = 0;        // generated / decode time
  int64_t steps = 0;
  double mean_accepted = 0;            // over emitted tokens only
  double tokens_per_pass = 0;
  double baseline_tokens_per_second = 0;  // target-only in the same session; 0: not measured
  // Measured after the run when asked for (the tuner); < 0 / 0: not measured.
  double bpb = -1;                     // bits per byte of the target on the held-out text
  QString bpb_text;                    // which text
  double sim_tokens_per_second = 0;    // dataflow model of the chosen design
  double energy_per_token_mj = 0;
  int64_t dsp = -1, lut = -1, bram = -1, uram = -1;  // estimate_resources; -1: not modelled
  QString fit_problem;                 // check_fit's message; empty: fits
  double speedup() const {
    return baseline_tokens_per_second > 0 ? tokens_per_second / baseline_tokens_per_second : 0;
  }
  QString stop_reason;
};

struct RunRecord {
  QString name;              // "Run 3", or the trace's file name
  QString source_path;       // the trace file it was opened from / saved to; empty: live only
  RunSettings settings;
  RunFigures figures;
  std::vector<int32_t> prompt_ids, generated_ids;
  std::vector<StepRecord> steps;
  LayerStateGeometry target_geometry, draft_geometry;  // n_layer 0: unknown
  TraceMetadata metadata;    // everything the trace carried, as is
  std::vector<Event> events; // the raw stream (saved again by Export Trace)
  // The draft's ranked proposals after every generated token (what-if
  // re-scoring; ui/workers/draft_proposals.h; trace metadata "draft_topk").
  // Empty when the run did not record them.
  std::vector<std::vector<int32_t>> draft_topk;
  // Token text for display; null: "#id". Shared, never mutated.
  std::shared_ptr<const Tokenizer> tokenizer;

  // The step that emitted generated token `index`; -1 for the first token
  // (it comes from the prefill) or an index out of range.
  int step_of_token(int index) const;
  // Display text of a token id: printable bytes as text, the rest escaped
  // ("\n" -> "⏎", other control bytes as \xNN).
  QString token_text(int32_t id) const;
  // The run's tree shape (fixed for a run), rebuilt from the first step's
  // nodes: for verification schedules and backtracking recomputation. Null
  // for target-only runs.
  std::shared_ptr<const TreeShape> shape;
};

// Builds a record from an event stream and its metadata (the keys
// spec_generate adds, see docs/traces.md). Throws sm::Error naming the
// problem if the stream is inconsistent (a node with no parent drafted, a
// step number going backwards, ...), never crashes on a malformed trace.
RunRecord build_run_record(std::vector<Event> events, TraceMetadata metadata,
                           std::shared_ptr<const Tokenizer> tokenizer = nullptr);

// "12 7;3 9;..." and back: RunRecord::draft_topk as the "draft_topk" metadata value.
std::string format_proposals(const std::vector<std::vector<int32_t>>& rows);
std::vector<std::vector<int32_t>> parse_proposals(const std::string& text);

// Metadata value or fallback.
QString metadata_value(const TraceMetadata& m, const char* key, const QString& fallback = {});

}  // namespace sm::ui
