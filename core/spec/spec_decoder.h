// SPDX-License-Identifier: Apache-2.0
#pragma once
// Tree speculative decoding of a target Mamba model with a smaller draft.
//
// One step (DESIGN.md, "Data flow of one speculative step"):
//   1. the draft grows a token tree below the root (TreeDrafter)
//   2. the target verifies the whole tree in one pass (TreeVerifier)
//   3. acceptance walks it (greedy, or lossless stochastic multi-branch)
//   4. both models backtrack to the last accepted node (snapshot / replay /
//      hybrid); the target's bonus token becomes the next root
// Invariants between steps: the target has consumed every emitted token but
// the root; the draft every emitted token but the root and `pending` (an
// accepted leaf it never ran).
//
// Greedy output is token-identical to MambaModel greedy decoding for every
// shape, order, tile size and policy: every node's logits are bit-identical
// to a one-token decode step along its path.
//
// Events (when a sink is given; timestamps in microseconds since t0), per step:
// NodeDrafted for every drafted node (prob = draft probability of its token,
// softmax at temperature 1 when greedy, the warped q otherwise), TreeDrafted,
// FifoPush / FifoPop per layer and tile (only with verbose_events), NodeVerified
// for every node (target_argmax = the target's greedy token after the node,
// target_prob = the target's softmax probability of the node's token at its
// parent; 1 for the root), AcceptDecision per child examined, Backtrack for
// the target and the draft (bytes_kept = stored states + replay inputs,
// replayed = tokens recomputed, rounded up over layers), StepSummary. With a
// sink every node's logits are computed (for NodeVerified); without one only
// the draft's best path eagerly and the rest on demand.
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/spec/backtrack.h"
#include "core/model/generator.h"
#include "core/spec/spec_acceptance.h"
#include "core/spec/spec_emitter.h"
#include "core/spec/token_tree.h"
#include "core/spec/tree_drafter.h"
#include "core/spec/tree_verifier.h"

namespace sm {

class MambaModel;
class Tokenizer;

struct SpecConfig {
  TreeShape tree = TreeShape::parse_widths("1,1,1,1");
  VerifyOrder verify = VerifyOrder::Fifo;
  int tile = 0;                 // channels (Mamba-1) / heads (Mamba-2) per tile; 0 = whole state
  BacktrackPolicy backtrack = BacktrackPolicy::Snapshot;
  int64_t budget = 0;           // hybrid: bytes of stored node states, per model and step
  bool verbose_events = true;   // FifoPush / FifoPop per tile (only when a sink is given)
  void validate() const;        // throws sm::Error
};

struct SpecStats {
  int64_t steps = 0;            // speculative steps = target passes
  int64_t accepted = 0;         // draft tokens accepted
  int64_t emitted = 0;          // accepted + bonus tokens
  int64_t drafted = 0;          // draft tokens proposed
  int64_t draft_passes = 0;     // batched draft forward calls
  int32_t peak_live_states = 0; // verification walk
  int64_t state_bytes_read = 0;
  int64_t state_bytes_written = 0;
  int64_t redundant_nodes = 0;
  int64_t backtrack_bytes_kept = 0;   // max per step, both models: states + replay inputs
  int64_t target_state_bytes_max = 0; // max per step of stored target states (hybrid: <= budget)
  int64_t draft_state_bytes_max = 0;  // same for the draft
  double target_replayed_tokens = 0;  // sum of (node, layer) replays / n_layer
  double draft_replayed_tokens = 0;
  int64_t peak_state_bytes = 0;       // max per step: live walk tiles + snapshots + draft states
  double draft_seconds = 0, verify_seconds = 0, accept_seconds = 0, backtrack_seconds = 0;

  double mean_accepted() const { return steps ? double(accepted) / steps : 0.0; }
  double tokens_per_pass() const { return steps ? double(emitted) / steps : 0.0; }
  double replayed_tokens() const { return target_replayed_tokens + draft_replayed_tokens; }
};

class SpecDecoder {
 public:
  // Throws sm::Error if the vocabularies differ or the configuration is bad.
  SpecDecoder(MambaModel& target, MambaModel& draft, const SpecConfig& cfg,
              const SamplingParams& sampling, EventSink* sink = nullptr,
              double t0 = now_seconds());
  ~SpecDecoder();
  SpecDecoder(const SpecDecoder&) = delete;
  SpecDecoder& operator=(const SpecDecoder&) = delete;

  // Consumes the prompt in both models; returns the first generated token
  // (sampled from the prompt's logits, like generate()), the first root.
  int32_t prefill(std::span<const int32_t> prompt);
  // One speculative step; returns the tokens it emitted (accepted + bonus).
  const std::vector<int32_t>& step();

  const SpecStats& stats() const { return stats_; }
  const SpecConfig& config() const { return cfg_; }
  const ModelState& target_state() const { return tstate_; }
  const ModelState& draft_state() const { return dstate_; }
  const std::vector<int32_t>& draft_pending() const { return pending_; }
  int32_t root() const { return root_; }
  const TokenTree& last_tree() const { return tree_; }
  const AcceptResult& last_accept() const { return acc_; }
  const VerifyStats& last_verify() const { return vstats_; }
  const BacktrackResult& last_target_backtrack() const { return tbt_; }
  const BacktrackResult& last_draft_backtrack() const { return dbt_; }
  // [n][V]; rows of nodes the last acceptance walk did not visit are stale
  // unless an event sink is attached (then every node's logits are computed).
  const std::vector<float>& last_logits() const { return logits_; }
  // Per-model state sizes for backtracking estimates (trace metadata).
  LayerStateGeometry target_geometry() const;
  LayerStateGeometry draft_geometry() const;
  // Tokens the last step emitted (accepted + bonus).
  size_t last_emitted() const { return out_.size(); }

 private:
  const float* node_logits(int32_t node);
  std::span<const float> target_probs(int32_t node);

  MambaModel& target_;
  MambaModel& draft_;
  SpecConfig cfg_;
  SamplingParams sp_;
  Sampler sampler_;
  SpecEmitter ev_;
  std::unique_ptr<TreeVerifier> verifier_;
  std::unique_ptr<TreeDrafter> drafter_;
  ModelState tstate_, dstate_;
  std::vector<int32_t> pending_;
  int32_t root_ = 0;
  TokenTree tree_;
  SnapshotStore store_;
  std::vector<uint8_t> mask_;
  std::vector<float> logits_, q_, p_, scratch_;
  std::vector<uint8_t> p_ready_, l_ready_;
  std::vector<int32_t> argmax_, path_, out_, primary_, all_nodes_, one_;
  std::vector<AcceptDecision> decisions_;
  AcceptResult acc_;
  VerifyStats vstats_;
  BacktrackResult tbt_, dbt_;
  SpecStats stats_;
};

struct SpecGenerateResult {
  GenerateResult gen;  // ids, text, timing (decode_steps = tokens from the decode phase)
  SpecStats spec;
};

// generate() with speculative decoding: same options, streaming, EOS and
// cancellation behaviour. With a sink, the run's settings and results are
// added to the trace metadata (docs/traces.md lists the keys):
// tree, verify, tile, backtrack, budget, sampling, max_tokens, per-model state
// geometry, prompt_ids, generated_ids, prefill_us, stop_reason, ...
SpecGenerateResult spec_generate(MambaModel& target, MambaModel& draft, const Tokenizer& tok,
                                 std::span<const int32_t> prompt, const GenerateOptions& opt,
                                 const SpecConfig& cfg, EventSink* sink = nullptr,
                                 const TokenCallback& on_token = {},
                                 const std::atomic<bool>* cancel = nullptr);

// Where a streamed token came from (the GUI colours and counts by it).
struct SpecTokenInfo {
  int step = 0;          // 1-based speculative step; 0 for the prefill's token
  bool draft = false;    // an accepted draft token (else the target's bonus / prefill token)
  int step_tokens = 0;   // tokens the step produced (before any cut at max_tokens)
  double step_ms = 0.0;  // the step's wall time (the prefill's for step 0)
};
using SpecTokenCallback = std::function<void(int32_t, const std::string&, const SpecTokenInfo&)>;
SpecGenerateResult spec_generate(MambaModel& target, MambaModel& draft, const Tokenizer& tok,
                                 std::span<const int32_t> prompt, const GenerateOptions& opt,
                                 const SpecConfig& cfg, EventSink* sink,
                                 const SpecTokenCallback& on_token,
                                 const std::atomic<bool>* cancel);

}  // namespace sm
