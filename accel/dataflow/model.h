// SPDX-License-Identifier: Apache-2.0
#pragma once
// The accelerator's dataflow model (docs/accelerator-model.md): from a model
// shape, a design and a platform it predicts cycles per unit for one decode
// step (compute- or bandwidth-bound, whichever binds), a pipeline schedule on
// the lanes DMA / linear / conv / SSM / verify / backtrack with LightMamba's
// computation reordering, off-chip state traffic of each tree-verification
// order, resources, power and energy, and speculative-decoding throughput.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "accel/dataflow/platform.h"
#include "core/io/model_config.h"
#include "core/quant/quant_config.h"

namespace sm::accel {

// Public model names (mamba-130m ... mamba-2.8b, mamba2-130m ... mamba2-2.7b),
// or a directory with config.json. Throws sm::Error listing the names.
ModelConfig model_shape(const std::string& name_or_dir);
std::vector<std::string> model_shape_names();

struct Design {
  int tile_rows = 8;          // linear tile: output channels per cycle
  int tile_cols = 8;          // linear tile: input channels per cycle
  int linear_units = 1;       // replicated tiles working on disjoint output channels
  int ssm_par = 8;            // SSM channel lanes (headdim direction)
  int ssm_state_unroll = 8;   // state elements per channel lane per cycle
  int conv_unroll = 8;        // conv1d channels per cycle
  int norm_unroll = 8;        // RMSNorm / gate / quantizer elements per cycle
  int hadamard_unroll = 8;    // butterfly adds per cycle (x the K-matrix adds)
  int head_groups = 8;        // reordering granularity: in_proj emits x, z, dt per head group
  bool reorder = true;        // LightMamba's computation reordering
  double clock_mhz = 400;
  // From the QuantConfig (apply_quant): bit widths and groups.
  int weight_bits = 4, act_bits = 4, head_bits = 8, ssm_bits = 8;
  int weight_group = 128, weight_scale_bits = 6;  // two 3-bit shifts per group
  bool rotation = true;
  int fifo_depth = 64;                  // inter-stage FIFOs (entries of 64 bit)
  int64_t state_buffer_bytes = 1310720; // on-chip state buffer (one layer's INT8 state in two layouts)
  int64_t state_tile_bytes = 0;         // FIFO verification tile (0 = largest that fits)
  bool state_in_uram = false;

  static Design lightmamba();  // the published VCK190 design
  void apply_quant(const quant::QuantConfig& q);
  // Intrinsic checks (tile 0x8, bits, clock <= 0 ...): sm::Error("design: FIELD: ...").
  void validate() const;
  // Shape- and platform-dependent checks (clock above the platform's limit,
  // tile wider than the layer, group not divisible ...).
  void validate_for(const ModelConfig& m, const Platform& p) const;
  int64_t macs_per_cycle() const { return int64_t{tile_rows} * tile_cols * linear_units; }
  nlohmann::json to_json() const;
};

struct Resources {
  int64_t dsp = 0, lut = 0, ff = 0, bram = 0, uram = 0;
  nlohmann::json breakdown;  // per component
  nlohmann::json to_json() const;
};
Resources estimate_resources(const ModelConfig& m, const Design& d);
// Throws sm::Error naming the first resource that does not fit ("design does not fit vck190: LUT 1.2M > 900k").
void check_fit(const Resources& r, const Platform& p);

// Tree shape: widths per depth ("4,2,2": root has 4 children, each of those 2, ...).
struct TreeShape {
  std::vector<int> widths;
  static TreeShape parse(const std::string& s);  // throws sm::Error
  std::vector<int64_t> level_sizes() const;      // nodes per depth, [1, w0, w0*w1, ...]
  int64_t nodes() const;                         // incl. the root (the last accepted token)
  int64_t leaves() const;
  int depth() const { return static_cast<int>(widths.size()); }
};

enum class VerifyOrder { Paths, Dfs, Fifo };
const char* verify_order_name(VerifyOrder o);
VerifyOrder parse_verify_order(const std::string& s);

// Off-chip state traffic of one layer's tree verification (bytes) and the
// SSM node-steps the order costs.
struct StateTraffic {
  VerifyOrder order = VerifyOrder::Fifo;
  int64_t tile_bytes = 0;   // FIFO tile used (state bytes for the others)
  int64_t tiles = 1;
  int64_t read_bytes = 0, write_bytes = 0;
  int64_t node_steps = 0;   // SSM steps (paths recompute shared prefixes)
  int64_t live_bytes = 0;   // on-chip bytes the order wants
  bool spills = false;
  int64_t total() const { return read_bytes + write_bytes; }
};
int64_t state_bytes_per_layer(const ModelConfig& m, const Design& d);  // SSM + conv state
StateTraffic verify_state_traffic(const ModelConfig& m, const Design& d, const TreeShape& t, VerifyOrder o);

enum class Backtrack { Snapshot, Replay, Hybrid };
const char* backtrack_name(Backtrack b);
Backtrack parse_backtrack(const std::string& s);

// One pipeline op on one lane (cycles from the step's start).
struct PipeEvent {
  std::string lane, unit;
  int layer = -1;
  int64_t start = 0, end = 0;
  int64_t active = 0;  // cycles the lane's hardware does work (<= end - start)
};

struct UnitCost {
  std::string unit;
  int64_t cycles = 0;          // span on its lane (max of compute and memory)
  int64_t compute_cycles = 0, memory_cycles = 0;
  int64_t offchip_bytes = 0;
  std::string bound() const { return memory_cycles > compute_cycles ? "memory" : "compute"; }
};

struct StepOptions {
  int64_t nodes = 1;                  // tokens processed per pass (tree nodes, 1 = autoregressive)
  int64_t ssm_node_steps = -1;        // -1 = nodes
  int64_t state_read_bytes = -1;      // per layer; -1 = stream (read + write every state, LightMamba)
  int64_t state_write_bytes = -1;
  bool lm_head = true;
  bool verify = false;                // add the verify lane's comparison
  int64_t backtrack_cycles = 0;       // per layer, on the backtrack lane
  int64_t backtrack_bytes = 0;        // per layer
};

struct StepResult {
  int64_t cycles = 0;                 // makespan
  int64_t serial_cycles = 0;          // sum of every op's span (no overlap)
  int64_t offchip_bytes = 0;
  std::vector<UnitCost> units;        // summed over layers
  std::vector<PipeEvent> events;
  nlohmann::json lanes;               // lane -> {busy, active, utilisation}
  int64_t ssm_linear_overlap = 0;     // cycles in which SSM and linear lanes both work
  int64_t linear_memory_stall = 0;    // linear span waiting for DMA beyond its compute
  double seconds(double mhz) const { return cycles / (mhz * 1e6); }
};

StepResult simulate_step(const ModelConfig& m, const Design& d, const Platform& p, const StepOptions& o);
// Intersection length of two lanes' busy intervals in `events`.
int64_t lane_overlap(const std::vector<PipeEvent>& events, const std::string& a, const std::string& b);

struct PowerResult {
  double static_w = 0, dynamic_w = 0, memory_w = 0;
  double total() const { return static_w + dynamic_w + memory_w; }
};
PowerResult estimate_power(const Resources& r, const Design& d, const Platform& p, double offchip_bytes_per_s);

// Autoregressive decode of one token.
struct DecodeResult {
  StepResult step;
  Resources resources;
  PowerResult power;
  double tokens_per_second = 0, latency_ms = 0, energy_per_token_mj = 0;
  nlohmann::json to_json(const Design& d) const;
};
DecodeResult simulate_decode(const ModelConfig& m, const Design& d, const Platform& p);

// Acceptance: a per-token rate, or the `specmamba agree --json` file
// (rows[k].mean_accepted for chains of k drafts, turned into a per-token rate).
struct Acceptance {
  double rate = 0;          // per draft token, chain model
  std::string source;
  static Acceptance parse(const std::string& file_or_rate);  // throws sm::Error
  // Expected accepted draft tokens of a tree whose level d has widths[d]
  // alternatives per node: sum_d prod_{i<=d} (1 - (1 - rate)^w_i).
  double expected_accepted(const TreeShape& t) const;
};

struct SpecResult {
  DecodeResult autoregressive;      // target alone
  int64_t draft_cycles = 0, verify_cycles = 0, backtrack_cycles = 0, step_cycles = 0;
  double tokens_per_step = 0, tokens_per_second = 0, latency_ms = 0, energy_per_token_mj = 0, power_w = 0;
  double speedup = 0, energy_ratio = 0;
  std::vector<StateTraffic> orders;  // paths, dfs, fifo for the target
  Backtrack backtrack_used = Backtrack::Snapshot;
  nlohmann::json backtrack;          // costs of each policy
  StepResult verify_step;
  Resources resources;
  nlohmann::json to_json() const;
};
// One speculative step on the device: the draft's passes (one per tree level
// over that level's nodes, in order), then the target's verification of every
// node in `order` with the verify lane's comparison and the backtracking of
// the chosen policy. `accepted_nodes` is the path kept (root + accepted draft
// tokens): what replay recomputes. No validation (simulate_speculative does it).
struct SpecStep {
  std::vector<StepResult> draft_passes;  // cycles from each pass's own start
  int64_t draft_cycles = 0, draft_bytes = 0;
  StepResult verify;                     // from the verification's start (= draft_cycles into the step)
  int64_t verify_cycles = 0;             // verify.cycles without the backtrack lane's span
  int64_t backtrack_cycles = 0;
  std::vector<StateTraffic> orders;      // paths, dfs, fifo for the target
  Backtrack backtrack_used = Backtrack::Snapshot;
  nlohmann::json backtrack;              // costs of each policy
  int64_t cycles() const { return draft_cycles + verify.cycles; }
  int64_t offchip_bytes() const { return draft_bytes + verify.offchip_bytes; }
};
SpecStep simulate_spec_step(const ModelConfig& target, const ModelConfig& draft, const Design& d, const Platform& p,
                            const TreeShape& tree, int64_t accepted_nodes, VerifyOrder order = VerifyOrder::Fifo,
                            Backtrack bt = Backtrack::Hybrid);

SpecResult simulate_speculative(const ModelConfig& target, const ModelConfig& draft, const Design& d,
                                const Platform& p, const TreeShape& tree, const Acceptance& acc,
                                VerifyOrder order = VerifyOrder::Fifo, Backtrack bt = Backtrack::Hybrid);

}  // namespace sm::accel
