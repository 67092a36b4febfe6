// SPDX-License-Identifier: Apache-2.0
// Cycle model, pipeline schedule, state traffic, power and speculation.
#include "accel/dataflow/model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/io/error.h"

namespace sm::accel {
namespace {

int64_t cdiv(int64_t a, int64_t b) { return b <= 0 ? 0 : (a + b - 1) / b; }

// Hadamard of width n = K * 2^m (QuaRot's K list): butterfly m stages + K-matrix adds.
int64_t hadamard_adds(int64_t n) {
  for (int64_t k : {172, 156, 148, 140, 108, 60, 52, 36, 28, 40, 20, 12, 1}) {
    if (n % k) continue;
    int64_t q = n / k;
    if (q & (q - 1)) continue;
    int m = 0;
    while ((int64_t{1} << m) < q) ++m;
    return n * (m + (k > 1 ? k : 0));
  }
  return n * n;  // dense fallback
}

struct Sched {
  const Design& d;
  double bytes_per_cycle;
  std::map<std::string, int64_t> free;
  std::vector<PipeEvent> ev;
  std::map<std::string, UnitCost> units;
  std::vector<std::string> order;
  int64_t bytes = 0;

  UnitCost& unit(const std::string& u) {
    if (!units.count(u)) order.push_back(u), units[u].unit = u;
    return units[u];
  }
  // An op on `lane` (plus DMA when it moves bytes): span = max(compute, memory).
  int64_t op(const std::string& lane, const std::string& u, int layer, int64_t dep, int64_t compute, int64_t nbytes) {
    const int64_t mem = nbytes > 0 ? static_cast<int64_t>(std::ceil(nbytes / bytes_per_cycle)) : 0;
    const int64_t span = std::max(compute, mem);
    int64_t start = std::max(dep, free[lane]);
    if (mem > 0 && lane != "dma") start = std::max(start, free["dma"]);
    const int64_t end = start + span;
    free[lane] = end;
    ev.push_back({lane, u, layer, start, end, compute > 0 ? compute : span});
    if (mem > 0 && lane != "dma") {
      free["dma"] = end;
      ev.push_back({"dma", u, layer, start, end, mem});
    }
    UnitCost& c = unit(u);
    c.cycles += span, c.compute_cycles += compute, c.memory_cycles += mem, c.offchip_bytes += nbytes;
    bytes += nbytes;
    return end;
  }
};

int64_t linear_cycles(const Design& d, int64_t nodes, int64_t in, int64_t out, int wbits) {
  const int64_t passes = cdiv(wbits, d.weight_bits);  // wider weights (head) take bit-sliced passes
  return nodes * passes * cdiv(out, int64_t{d.tile_rows} * d.linear_units) * cdiv(in, d.tile_cols);
}
int64_t weight_bytes(const Design& d, int64_t in, int64_t out, int wbits) {
  const int64_t scale_bits = d.weight_group > 0 ? cdiv(in, d.weight_group) * out * d.weight_scale_bits : 0;
  return cdiv(in * out * wbits + scale_bits, 8);
}

}  // namespace

int64_t state_bytes_per_layer(const ModelConfig& m, const Design& d) {
  return cdiv((m.ssm_state_floats() + m.conv_state_floats()) * d.ssm_bits, 8);
}

int64_t lane_overlap(const std::vector<PipeEvent>& events, const std::string& a, const std::string& b) {
  std::vector<std::pair<int64_t, int64_t>> A, B;
  for (const auto& e : events) {
    if (e.lane == a) A.push_back({e.start, e.end});
    if (e.lane == b) B.push_back({e.start, e.end});
  }
  std::sort(A.begin(), A.end());
  std::sort(B.begin(), B.end());
  int64_t total = 0;
  size_t i = 0, j = 0;
  while (i < A.size() && j < B.size()) {
    const int64_t lo = std::max(A[i].first, B[j].first), hi = std::min(A[i].second, B[j].second);
    if (hi > lo) total += hi - lo;
    (A[i].second < B[j].second) ? ++i : ++j;
  }
  return total;
}

StepResult simulate_step(const ModelConfig& m, const Design& d, const Platform& p, const StepOptions& o) {
  Sched s{d, p.memory.sustained_bytes_per_s() / (d.clock_mhz * 1e6), {}, {}, {}, {}, 0};
  for (const char* l : {"dma", "linear", "conv", "ssm", "verify", "backtrack"}) s.free[l] = 0;
  const int64_t T = std::max<int64_t>(1, o.nodes);
  const int64_t steps = o.ssm_node_steps >= 0 ? o.ssm_node_steps : T;
  const int64_t S = state_bytes_per_layer(m, d);
  const int64_t sread = o.state_read_bytes >= 0 ? o.state_read_bytes : S;
  const int64_t swrite = o.state_write_bytes >= 0 ? o.state_write_bytes : S;
  const int64_t D = m.d_model, E = m.d_inner, N = m.d_state;
  const int64_t lanes = int64_t{d.ssm_par} * d.ssm_state_unroll;
  const int64_t fill = 16;  // pipeline fill of a streamed unit
  int64_t prev = 0;
  for (int l = 0; l < m.n_layer; ++l) {
    const int64_t norm = s.op("linear", "rmsnorm", l, prev, T * 2 * cdiv(D, d.norm_unroll) + fill, 0);
    if (m.arch == Arch::Mamba2) {
      const int64_t H = m.n_heads, P = m.head_dim, GN = int64_t{m.n_groups} * N;
      const int G = d.reorder ? std::min<int>(d.head_groups, static_cast<int>(H)) : 1;
      // B and C first (LightMamba's reordering), then x, z, dt per head group.
      const int64_t bc = s.op("linear", "in_proj", l, norm, linear_cycles(d, T, D, 2 * GN, d.weight_bits),
                              weight_bytes(d, D, 2 * GN, d.weight_bits));
      const int64_t conv_bc = s.op("conv", "conv", l, bc, T * cdiv(2 * GN, d.conv_unroll) + fill, 0);
      int64_t ssm_end = 0, last_chunk = bc;
      std::vector<int64_t> chunk_end(G);
      int64_t heads_done = 0;
      for (int g = 0; g < G; ++g) {
        const int64_t hg = (H * (g + 1)) / G - heads_done;
        heads_done += hg;
        const int64_t outs = 2 * hg * P + hg;  // x, z, dt of this group
        // The DMA stream carries this group's state read and the previous group's write.
        const int64_t st = sread * hg / H + (g > 0 ? swrite * ((H * g) / G - (H * (g - 1)) / G) / H : 0);
        s.unit("state_io").offchip_bytes += st;
        chunk_end[g] = s.op("linear", "in_proj", l, bc, linear_cycles(d, T, D, outs, d.weight_bits),
                            weight_bytes(d, D, outs, d.weight_bits) + st);
        last_chunk = chunk_end[g];
      }
      heads_done = 0;
      for (int g = 0; g < G; ++g) {
        const int64_t hg = (H * (g + 1)) / G - heads_done;
        heads_done += hg;
        const int64_t dep_in = d.reorder ? chunk_end[g] : last_chunk;
        const int64_t cv = s.op("conv", "conv", l, std::max(dep_in, conv_bc), T * cdiv(hg * P, d.conv_unroll) + fill, 0);
        const int64_t ssm_c = steps * cdiv(hg * P * N, lanes) + fill;
        ssm_end = s.op("ssm", "ssm", l, std::max(cv, ssm_end), ssm_c, 0);
      }
      const int64_t tail_write = swrite - swrite * ((H * (G - 1)) / G) / H;
      s.unit("state_io").offchip_bytes += tail_write;
      const int64_t gn = s.op("linear", "gated_norm", l, std::max(ssm_end, last_chunk), T * 3 * cdiv(E, d.norm_unroll) + fill, 0);
      int64_t had = gn;
      if (d.rotation) had = s.op("linear", "hadamard", l, gn, T * cdiv(hadamard_adds(E), d.hadamard_unroll) + fill, 0);
      prev = s.op("linear", "out_proj", l, had, linear_cycles(d, T, E, D, d.weight_bits),
                  weight_bytes(d, E, D, d.weight_bits) + tail_write);
    } else {
      const int64_t R = m.dt_rank;
      s.unit("state_io").offchip_bytes += sread;
      const int64_t ip = s.op("linear", "in_proj", l, norm, linear_cycles(d, T, D, 2 * E, d.weight_bits),
                              weight_bytes(d, D, 2 * E, d.weight_bits) + sread);
      const int64_t cv = s.op("conv", "conv", l, ip, T * cdiv(E, d.conv_unroll) + fill, 0);
      const int64_t xp = s.op("linear", "x_proj", l, cv, linear_cycles(d, T, E, R + 2 * N, d.weight_bits),
                              weight_bytes(d, E, R + 2 * N, d.weight_bits));
      const int64_t dp = s.op("linear", "dt_proj", l, xp, linear_cycles(d, T, R, E, d.weight_bits),
                              weight_bytes(d, R, E, d.weight_bits));
      const int64_t sc = s.op("ssm", "ssm", l, dp, steps * cdiv(E * N, lanes) + fill, 0);
      const int64_t gt = s.op("linear", "gated_norm", l, sc, T * cdiv(E, d.norm_unroll) + fill, 0);
      int64_t had = gt;
      if (d.rotation) had = s.op("linear", "hadamard", l, gt, T * cdiv(hadamard_adds(E), d.hadamard_unroll) + fill, 0);
      s.unit("state_io").offchip_bytes += swrite;
      prev = s.op("linear", "out_proj", l, had, linear_cycles(d, T, E, D, d.weight_bits),
                  weight_bytes(d, E, D, d.weight_bits) + swrite);
    }
  }
  int64_t end = prev;
  if (o.lm_head) {
    const int64_t fn = s.op("linear", "rmsnorm", -1, prev, T * 2 * cdiv(D, d.norm_unroll) + fill, 0);
    // The argmax / top-k streams beside the head's output rows (no extra span).
    end = s.op("linear", "lm_head", -1, fn, linear_cycles(d, T, D, m.vocab_size, d.head_bits),
               weight_bytes(d, D, m.vocab_size, d.head_bits));
  }
  if (o.verify) end = s.op("verify", "verify", -1, end, T * 4 + fill, 0);
  if (o.backtrack_cycles > 0 || o.backtrack_bytes > 0) {
    int64_t bt_end = end;
    for (int l = 0; l < m.n_layer; ++l)
      bt_end = s.op("backtrack", "backtrack", l, end, o.backtrack_cycles, o.backtrack_bytes);
    end = bt_end;
  }
  StepResult r;
  for (const auto& e : s.ev) r.cycles = std::max(r.cycles, e.end);
  r.events = std::move(s.ev);
  r.offchip_bytes = s.bytes;
  for (const auto& u : s.order) r.units.push_back(s.units[u]);
  std::map<std::string, std::pair<int64_t, int64_t>> busy;
  for (const auto& e : r.events) {
    if (e.lane != "dma") r.serial_cycles += e.end - e.start;
    busy[e.lane].first += e.end - e.start;
    busy[e.lane].second += e.active;
    if (e.lane == "linear" && e.active < e.end - e.start) r.linear_memory_stall += e.end - e.start - e.active;
  }
  r.lanes = nlohmann::json::object();
  for (const char* l : {"dma", "linear", "conv", "ssm", "verify", "backtrack"}) {
    const auto b = busy[l];
    r.lanes[l] = {{"busy_cycles", b.first}, {"active_cycles", b.second},
                  {"utilisation", r.cycles ? double(b.second) / r.cycles : 0.0}};
  }
  r.ssm_linear_overlap = lane_overlap(r.events, "ssm", "linear");
  return r;
}

PowerResult estimate_power(const Resources& r, const Design& d, const Platform& p, double bps) {
  PowerResult w;
  const double ghz = d.clock_mhz / 1000.0;
  w.static_w = p.power.static_w;
  w.dynamic_w = p.power.activity * ghz *
                (r.lut / 1000.0 * p.power.lut_w_per_k_ghz + r.dsp * p.power.dsp_w_per_ghz +
                 r.bram * p.power.bram_w_per_ghz + r.uram * p.power.uram_w_per_ghz);
  w.memory_w = bps * p.memory.pj_per_byte * 1e-12;
  return w;
}

namespace {
nlohmann::json units_json(const StepResult& s) {
  nlohmann::json u = nlohmann::json::array();
  for (const auto& c : s.units)
    u.push_back({{"unit", c.unit}, {"cycles", c.cycles}, {"compute_cycles", c.compute_cycles},
                 {"memory_cycles", c.memory_cycles}, {"offchip_bytes", c.offchip_bytes},
                 {"bound", c.unit == "state_io" ? "memory" : c.bound()},
                 {"share", s.cycles ? double(c.cycles) / s.cycles : 0.0}});
  return u;
}
nlohmann::json util_json(const StepResult& s) {
  nlohmann::json u = nlohmann::json::object();
  for (auto it = s.lanes.begin(); it != s.lanes.end(); ++it) u[it.key()] = it.value()["utilisation"];
  return u;
}
nlohmann::json overlap_json(const StepResult& s) {
  return {{"makespan_cycles", s.cycles}, {"serial_cycles", s.serial_cycles},
          {"overlap_cycles", std::max<int64_t>(0, s.serial_cycles - s.cycles)},
          {"ssm_linear_overlap_cycles", s.ssm_linear_overlap}, {"linear_memory_stall_cycles", s.linear_memory_stall},
          {"lanes", s.lanes}};
}
}  // namespace

DecodeResult simulate_decode(const ModelConfig& m, const Design& d, const Platform& p) {
  d.validate_for(m, p);
  DecodeResult r;
  r.resources = estimate_resources(m, d);
  check_fit(r.resources, p);
  r.step = simulate_step(m, d, p, StepOptions{});
  const double sec = r.step.seconds(d.clock_mhz);
  r.tokens_per_second = 1.0 / sec;
  r.latency_ms = sec * 1e3;
  r.power = estimate_power(r.resources, d, p, r.step.offchip_bytes / sec);
  r.energy_per_token_mj = r.power.total() * sec * 1e3;
  return r;
}

nlohmann::json DecodeResult::to_json(const Design& d) const {
  return {{"tokens_per_second", tokens_per_second},
          {"latency_ms", latency_ms},
          {"cycles_per_token", step.cycles},
          {"offchip_bytes_per_token", step.offchip_bytes},
          {"units", units_json(step)},
          {"utilisation", util_json(step)},
          {"overlap", overlap_json(step)},
          {"resources", resources.to_json()},
          {"power_w", power.total()},
          {"power", {{"static_w", power.static_w}, {"dynamic_w", power.dynamic_w}, {"memory_w", power.memory_w}}},
          {"energy_per_token_mj", energy_per_token_mj},
          {"design", d.to_json()}};
}

// ---- trees, verification orders, backtracking -----------------------------

TreeShape TreeShape::parse(const std::string& s) {
  TreeShape t;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    int w = 0;
    try {
      w = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || w < 1 || w > 64)
      fail("tree", "'" + s + "': widths must be integers in 1..64 separated by commas (e.g. 4,2,2)");
    t.widths.push_back(w);
  }
  if (t.widths.empty() || t.widths.size() > 16) fail("tree", "'" + s + "': 1..16 levels expected");
  if (t.nodes() > 4096) fail("tree", "'" + s + "': more than 4096 nodes");
  return t;
}
std::vector<int64_t> TreeShape::level_sizes() const {
  std::vector<int64_t> n{1};
  for (int w : widths) n.push_back(std::min<int64_t>(n.back() * w, 1 << 20));
  return n;
}
int64_t TreeShape::nodes() const {
  int64_t t = 0;
  for (int64_t n : level_sizes()) t += n;
  return t;
}
int64_t TreeShape::leaves() const { return level_sizes().back(); }

const char* verify_order_name(VerifyOrder o) {
  return o == VerifyOrder::Paths ? "paths" : o == VerifyOrder::Dfs ? "dfs" : "fifo";
}
VerifyOrder parse_verify_order(const std::string& s) {
  if (s == "paths") return VerifyOrder::Paths;
  if (s == "dfs") return VerifyOrder::Dfs;
  if (s == "fifo") return VerifyOrder::Fifo;
  fail("verify order", "unknown '" + s + "' (expected paths, dfs or fifo)");
}
const char* backtrack_name(Backtrack b) {
  return b == Backtrack::Snapshot ? "snapshot" : b == Backtrack::Replay ? "replay" : "hybrid";
}
Backtrack parse_backtrack(const std::string& s) {
  if (s == "snapshot") return Backtrack::Snapshot;
  if (s == "replay") return Backtrack::Replay;
  if (s == "hybrid") return Backtrack::Hybrid;
  fail("backtrack", "unknown '" + s + "' (expected snapshot, replay or hybrid)");
}

StateTraffic verify_state_traffic(const ModelConfig& m, const Design& d, const TreeShape& t, VerifyOrder o) {
  StateTraffic r;
  r.order = o;
  const int64_t S = state_bytes_per_layer(m, d), B = d.state_buffer_bytes, T = t.nodes(), L = t.leaves();
  const int D = t.depth();
  const auto n = t.level_sizes();
  r.tile_bytes = S, r.tiles = 1, r.node_steps = T;
  if (o == VerifyOrder::Paths) {
    // Every root-to-leaf path from h0: shared prefixes recomputed.
    r.node_steps = 1 + L * D;
    r.live_bytes = 2 * S;
    r.spills = B < 2 * S;
    r.read_bytes = r.spills ? L * S : S;
  } else if (o == VerifyOrder::Dfs) {
    // A stack of D + 1 states; the shallow levels spill first.
    r.live_bytes = (D + 1) * S;
    const int64_t on = S > 0 ? B / S : 0;
    r.read_bytes = S;
    if (on >= D + 1) {
    } else if (on >= 1) {
      r.spills = true;
      for (int lv = 0; lv < D && lv < D + 1 - on; ++lv) {
        r.write_bytes += n[lv] * S;                       // push the parent once
        r.read_bytes += n[lv] * (t.widths[lv] - 1) * S;   // pop it for each later child
      }
    } else {
      r.spills = true;
      r.read_bytes += (T - 1) * S, r.write_bytes = (T - 1) * S;
    }
  } else {
    // FIFO (breadth first) per state tile: a tile's whole traversal on chip.
    int64_t width = 1;
    for (size_t i = 0; i + 1 < n.size(); ++i) width = std::max(width, n[i] + n[i + 1]);
    const int64_t min_tile = int64_t{d.ssm_par} * d.ssm_state_unroll * d.ssm_bits / 8;
    int64_t tile = d.state_tile_bytes > 0 ? d.state_tile_bytes : S;
    if (d.state_tile_bytes == 0)
      while (tile > min_tile && width * tile > B) tile = std::max(min_tile, (tile + 1) / 2);
    r.tile_bytes = tile;
    r.tiles = cdiv(S, tile);
    r.live_bytes = width * tile;
    r.read_bytes = S;
    if (r.live_bytes > B) {
      r.spills = true;
      const int64_t inner = T - 1 - L;  // non-root internal nodes: written and read back
      r.write_bytes = inner * S, r.read_bytes += inner * S;
    }
  }
  return r;
}

// ---- acceptance ----------------------------------------------------------

namespace {
double chain_expect(double r, int k) {
  double e = 0, p = 1;
  for (int i = 0; i < k; ++i) p *= r, e += p;
  return e;
}
}  // namespace

Acceptance Acceptance::parse(const std::string& s) {
  Acceptance a;
  try {
    size_t used = 0;
    double v = std::stod(s, &used);
    if (used == s.size()) {
      if (!(v > 0 && v <= 1)) fail("acceptance", "rate " + s + " must be in (0, 1]");
      a.rate = v, a.source = "rate " + s;
      return a;
    }
  } catch (const std::invalid_argument&) {
  } catch (const std::out_of_range&) {
  }
  std::error_code ec;
  // A directory opens as a stream whose first read throws std::ios_base::failure.
  if (std::filesystem::is_directory(s, ec))
    fail(s, "is a directory, not an acceptance file (expected a rate in (0, 1] or `specmamba agree --json` output)");
  std::ifstream in(s);
  if (!in) fail(s, "cannot open acceptance file (expected a rate in (0, 1] or `specmamba agree --json` output)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    fail(s, std::string("invalid JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("rows") || !j["rows"].is_array() || j["rows"].empty())
    fail(s, "key 'rows': expected a non-empty array (from `specmamba agree --json`)");
  int best_k = 0;
  double best = 0;
  for (const auto& row : j["rows"]) {
    if (!row.is_object() || !row.contains("k") || !row["k"].is_number_integer() || !row.contains("mean_accepted") ||
        !row["mean_accepted"].is_number())
      fail(s, "rows[]: each row needs integer 'k' and number 'mean_accepted'");
    const int k = row["k"].get<int>();
    const double ma = row["mean_accepted"].get<double>();
    if (k < 1 || ma < 0 || ma > k) fail(s, "rows[]: mean_accepted must be in [0, k]");
    if (k > best_k) best_k = k, best = ma;
  }
  // Per-token rate r with sum_{i<=k} r^i = mean_accepted (bisection).
  double lo = 0, hi = 1;
  for (int it = 0; it < 60; ++it) {
    const double mid = 0.5 * (lo + hi);
    (chain_expect(mid, best_k) < best ? lo : hi) = mid;
  }
  a.rate = std::max(1e-6, 0.5 * (lo + hi));
  std::ostringstream src;
  src << s << " (k=" << best_k << ", mean_accepted " << best << ")";
  a.source = src.str();
  return a;
}

double Acceptance::expected_accepted(const TreeShape& t) const {
  double e = 0, p = 1;
  for (int w : t.widths) {
    p *= 1.0 - std::pow(1.0 - rate, w);
    e += p;
  }
  return e;
}

// ---- speculative decoding -------------------------------------------------

SpecStep simulate_spec_step(const ModelConfig& tm, const ModelConfig& dm, const Design& d, const Platform& p,
                            const TreeShape& tree, int64_t accepted_nodes, VerifyOrder order, Backtrack bt) {
  SpecStep r;
  const double hz = d.clock_mhz * 1e6;
  const double bpc = p.memory.sustained_bytes_per_s() / hz;
  const auto levels = tree.level_sizes();
  const int64_t T = tree.nodes();

  // Draft: one pass per level over that level's nodes (linear in parallel,
  // SSM node by node); its states stay on chip when they fit.
  const int64_t Sd = state_bytes_per_layer(dm, d);
  for (int lv = 0; lv < tree.depth(); ++lv) {
    StepOptions o;
    o.nodes = levels[lv];
    const int64_t live = (levels[lv] + levels[lv + 1]) * Sd;
    o.state_read_bytes = live > d.state_buffer_bytes ? levels[lv] * Sd : (lv == 0 ? Sd : 0);
    o.state_write_bytes = live > d.state_buffer_bytes ? levels[lv + 1] * Sd : 0;
    StepResult s = simulate_step(dm, d, p, o);
    r.draft_cycles += s.cycles;
    r.draft_bytes += s.offchip_bytes;
    r.draft_passes.push_back(std::move(s));
  }
  // Target verification of all T nodes in the chosen order.
  for (VerifyOrder vo : {VerifyOrder::Paths, VerifyOrder::Dfs, VerifyOrder::Fifo})
    r.orders.push_back(verify_state_traffic(tm, d, tree, vo));
  const StateTraffic& tr = r.orders[static_cast<int>(order)];
  const int64_t S = state_bytes_per_layer(tm, d);
  const int64_t lanes = int64_t{d.ssm_par} * d.ssm_state_unroll;
  const int64_t per_node = tm.arch == Arch::Mamba2 ? cdiv(int64_t{tm.n_heads} * tm.head_dim * tm.d_state, lanes)
                                                   : cdiv(int64_t{tm.d_inner} * tm.d_state, lanes);
  // Snapshot: every node's state stored (on chip if it fits beside the
  // verification's live set), the accepted one is already there.
  const int64_t free_buf = std::max<int64_t>(0, d.state_buffer_bytes - tr.live_bytes);
  const bool snap_on_chip = T * S <= free_buf;
  const int64_t snap_bytes = snap_on_chip ? S : T * S;
  const int64_t snap_cycles = static_cast<int64_t>(std::ceil(snap_bytes / bpc));
  // Replay: cache x, dt, B, C per node; recompute the accepted prefix from h0.
  const int64_t cache_per_node = cdiv((int64_t{tm.conv_dim()} + tm.n_heads) * d.ssm_bits, 8);
  const bool cache_on_chip = T * cache_per_node <= free_buf;
  const int64_t replay_bytes = 2 * S + (cache_on_chip ? 0 : (T + accepted_nodes) * cache_per_node);
  const int64_t replay_compute = accepted_nodes * per_node;
  const int64_t replay_cycles = std::max(replay_compute, static_cast<int64_t>(std::ceil(replay_bytes / bpc)));
  Backtrack used = bt;
  if (bt == Backtrack::Hybrid) used = snap_cycles <= replay_cycles ? Backtrack::Snapshot : Backtrack::Replay;
  r.backtrack_used = used;
  r.backtrack = {
      {"policy", backtrack_name(bt)}, {"used", backtrack_name(used)},
      {"snapshot", {{"bytes_per_layer", snap_bytes}, {"cycles_per_layer", snap_cycles},
                    {"on_chip", snap_on_chip}, {"memory_bytes", T * S * tm.n_layer}}},
      {"replay", {{"bytes_per_layer", replay_bytes}, {"cycles_per_layer", replay_cycles},
                  {"cache_on_chip", cache_on_chip}, {"memory_bytes", T * cache_per_node * tm.n_layer},
                  {"replayed_nodes", accepted_nodes}}}};
  StepOptions o;
  o.nodes = T;
  o.ssm_node_steps = tr.node_steps;
  o.state_read_bytes = tr.read_bytes;
  o.state_write_bytes = tr.write_bytes + (used == Backtrack::Snapshot && !snap_on_chip ? T * S : 0);
  o.verify = true;
  if (used == Backtrack::Snapshot) o.backtrack_cycles = snap_on_chip ? snap_cycles : 8;
  else o.backtrack_cycles = replay_compute, o.backtrack_bytes = replay_bytes;
  if (used == Backtrack::Snapshot && snap_on_chip) o.backtrack_bytes = S, o.backtrack_cycles = 8;
  r.verify = simulate_step(tm, d, p, o);
  for (const auto& u : r.verify.units)
    if (u.unit == "backtrack") r.backtrack_cycles = u.cycles;
  r.verify_cycles = r.verify.cycles - r.backtrack_cycles;
  return r;
}

SpecResult simulate_speculative(const ModelConfig& tm, const ModelConfig& dm, const Design& d, const Platform& p,
                                const TreeShape& tree, const Acceptance& acc, VerifyOrder order, Backtrack bt) {
  d.validate_for(tm, p);
  d.validate_for(dm, p);
  SpecResult r;
  r.autoregressive = simulate_decode(tm, d, p);
  Resources rd = estimate_resources(dm, d);
  r.resources = r.autoregressive.resources;
  r.resources.bram = std::max(r.resources.bram, rd.bram);
  const double hz = d.clock_mhz * 1e6;
  const double E = acc.expected_accepted(tree);
  r.tokens_per_step = 1.0 + E;
  const int64_t accepted_nodes = 1 + static_cast<int64_t>(std::llround(E));
  SpecStep st = simulate_spec_step(tm, dm, d, p, tree, accepted_nodes, order, bt);
  r.draft_cycles = st.draft_cycles;
  r.orders = std::move(st.orders);
  r.backtrack_used = st.backtrack_used;
  r.backtrack = std::move(st.backtrack);
  r.backtrack_cycles = st.backtrack_cycles;
  r.verify_cycles = st.verify_cycles;
  const int64_t draft_bytes = st.draft_bytes;
  r.verify_step = std::move(st.verify);
  r.step_cycles = r.draft_cycles + r.verify_step.cycles;
  const double step_s = r.step_cycles / hz;
  r.tokens_per_second = r.tokens_per_step / step_s;
  r.latency_ms = step_s / r.tokens_per_step * 1e3;
  const double bytes = draft_bytes + r.verify_step.offchip_bytes;
  const PowerResult pw = estimate_power(r.resources, d, p, bytes / step_s);
  r.power_w = pw.total();
  r.energy_per_token_mj = pw.total() * step_s / r.tokens_per_step * 1e3;
  r.speedup = r.tokens_per_second / r.autoregressive.tokens_per_second;
  r.energy_ratio = r.autoregressive.energy_per_token_mj / r.energy_per_token_mj;
  return r;
}

nlohmann::json SpecResult::to_json() const {
  nlohmann::json orders_j = nlohmann::json::array();
  for (const auto& t : orders)
    orders_j.push_back({{"order", verify_order_name(t.order)}, {"tile_bytes", t.tile_bytes}, {"tiles", t.tiles},
                        {"read_bytes", t.read_bytes}, {"write_bytes", t.write_bytes}, {"total_bytes", t.total()},
                        {"node_steps", t.node_steps}, {"live_bytes", t.live_bytes}, {"spills", t.spills}});
  return {{"tokens_per_second", tokens_per_second},
          {"latency_ms", latency_ms},
          {"tokens_per_step", tokens_per_step},
          {"speedup", speedup},
          {"energy_per_token_mj", energy_per_token_mj},
          {"energy_ratio", energy_ratio},
          {"power_w", power_w},
          {"step_cycles", step_cycles},
          {"draft_cycles", draft_cycles},
          {"verify_cycles", verify_cycles},
          {"backtrack_cycles", backtrack_cycles},
          {"units", units_json(verify_step)},
          {"utilisation", util_json(verify_step)},
          {"overlap", overlap_json(verify_step)},
          {"state_traffic", orders_j},
          {"backtrack", backtrack}};
}

}  // namespace sm::accel
