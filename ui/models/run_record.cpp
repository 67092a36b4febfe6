// SPDX-License-Identifier: Apache-2.0
#include "ui/models/run_record.h"

#include <sstream>

#include <QStringList>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/io/error.h"
#include "core/spec/token_tree.h"
#include "core/tokenizer/tokenizer.h"

namespace sm::ui {
namespace {

int64_t to_i64(const TraceMetadata& m, const char* key, int64_t fallback = 0) {
  bool ok = false;
  const qlonglong v = metadata_value(m, key).toLongLong(&ok);
  return ok ? v : fallback;
}

double to_f64(const TraceMetadata& m, const char* key, double fallback = 0) {
  bool ok = false;
  const double v = metadata_value(m, key).toDouble(&ok);
  return ok && std::isfinite(v) ? v : fallback;
}

std::vector<int32_t> to_ids(const TraceMetadata& m, const char* key) {
  std::vector<int32_t> ids;
  const QString text = metadata_value(m, key);
  if (text.isEmpty()) return ids;
  for (const QString& part : text.split(',')) {
    bool ok = false;
    const int v = part.trimmed().toInt(&ok);
    if (!ok) fail(std::string("trace metadata '") + key + "'", "is not a list of token ids");
    ids.push_back(v);
  }
  return ids;
}

LayerStateGeometry geometry(const TraceMetadata& m, const std::string& who) {
  auto key = [&](const char* suffix) { return who + suffix; };
  LayerStateGeometry g;
  g.n_layer = static_cast<int>(to_i64(m, key("_layers").c_str()));
  g.layer_state_bytes = to_i64(m, key("_layer_state_bytes").c_str());
  g.replay_input_bytes = to_i64(m, key("_replay_input_bytes").c_str());
  g.conv_row_bytes = to_i64(m, key("_conv_row_bytes").c_str());
  g.state_units = to_i64(m, key("_state_units").c_str());
  return g;
}

RunSettings settings_of(const TraceMetadata& m) {
  RunSettings s;
  s.target = metadata_value(m, "target");
  s.draft = metadata_value(m, "draft");
  s.tree = metadata_value(m, "tree");
  s.verify = metadata_value(m, "verify");
  s.tile = static_cast<int>(to_i64(m, "tile"));
  s.backtrack = metadata_value(m, "backtrack");
  s.budget = to_i64(m, "budget");
  s.temperature = to_f64(m, "temperature");
  s.top_k = static_cast<int>(to_i64(m, "top_k"));
  s.top_p = to_f64(m, "top_p", 1.0);
  s.seed = static_cast<uint64_t>(to_i64(m, "seed"));
  s.threads = static_cast<int>(to_i64(m, "threads", 1));
  s.max_tokens = static_cast<int>(to_i64(m, "max_tokens"));
  s.prompt = metadata_value(m, "prompt");
  s.device = metadata_value(m, "device");
  s.quantization = metadata_value(m, "quantization");
  s.platform = metadata_value(m, "sim_platform");
  s.design = metadata_value(m, "design");
  return s;
}

// Per-step accumulation while the stream is read.
struct StepBuilder {
  StepRecord rec;
  std::map<int32_t, NodeRecord> nodes;
  bool summary = false;
};

std::string step_where(int32_t step) { return "trace step " + std::to_string(step); }

void finish_step(StepBuilder& b) {
  StepRecord& r = b.rec;
  const auto where = step_where(r.step);
  r.nodes.reserve(b.nodes.size());
  int32_t expect = 0;
  for (auto& [index, node] : b.nodes) {
    if (index != expect) fail(where, "node " + std::to_string(expect) + " is missing");
    if (index > 0 && (node.parent < 0 || node.parent >= index))
      fail(where, "node " + std::to_string(index) + " has an invalid parent " + std::to_string(node.parent));
    node.node = index;
    node.depth = index == 0 ? 0 : r.nodes[size_t(node.parent)].depth + 1;
    r.nodes.push_back(std::move(node));
    ++expect;
  }
  if (!r.nodes.empty()) r.nodes[0].verdict = Verdict::Root;
  // The accepted path, from the decisions: each accepted node's parent is the previous one.
  r.path.assign(1, 0);
  for (const NodeRecord& n : r.nodes)
    if (n.verdict == Verdict::Accepted && n.parent == r.path.back()) r.path.push_back(n.node);
}

std::shared_ptr<const TreeShape> shape_from(const StepRecord& s) {
  if (s.nodes.size() < 2) return nullptr;
  // Ranks are the order among siblings (children are contiguous, by rank).
  std::vector<std::vector<int64_t>> rank_path(s.nodes.size());
  std::vector<int32_t> children(s.nodes.size(), 0);
  std::vector<std::vector<int64_t>> paths;
  for (size_t v = 1; v < s.nodes.size(); ++v) {
    const int32_t p = s.nodes[v].parent;
    rank_path[v] = rank_path[size_t(p)];
    rank_path[v].push_back(children[size_t(p)]++);
    paths.push_back(rank_path[v]);
  }
  return std::make_shared<const TreeShape>(TreeShape::from_paths(paths, "trace tree"));
}

}  // namespace

QString metadata_value(const TraceMetadata& m, const char* key, const QString& fallback) {
  for (const auto& [k, v] : m)
    if (k == key) return QString::fromStdString(v);
  return fallback;
}

QString RunSettings::describe() const {
  if (!speculative()) return QStringLiteral("target-only");
  QString s = QStringLiteral("tree %1 · %2").arg(tree, verify);
  if (tile > 0) s += QStringLiteral(" · tile %1").arg(tile);
  s += QStringLiteral(" · %1").arg(backtrack);
  if (backtrack == QLatin1String("hybrid")) s += QStringLiteral(" %1 B").arg(budget);
  if (temperature > 0) s += QStringLiteral(" · T %1").arg(temperature);
  return s;
}

int RunRecord::step_of_token(int index) const {
  if (index <= 0 || steps.empty()) return -1;
  // Steps are in order and their output ranges are contiguous.
  auto it = std::upper_bound(steps.begin(), steps.end(), index,
                             [](int i, const StepRecord& s) { return i < s.first_token; });
  if (it == steps.begin()) return -1;
  --it;
  return index < it->first_token + it->emitted ? static_cast<int>(it - steps.begin()) : -1;
}

QString RunRecord::token_text(int32_t id) const {
  if (!tokenizer || id < 0 || id >= tokenizer->vocab_size()) return QStringLiteral("#%1").arg(id);
  const std::string bytes = tokenizer->token_bytes(id);
  QString out;
  for (unsigned char c : bytes) {
    if (c == '\n') out += QChar(0x23CE);
    else if (c == ' ') out += QChar(0x2423);
    else if (c < 0x20 || c == 0x7f) out += QStringLiteral("\\x%1").arg(int(c), 2, 16, QChar('0'));
    else if (c < 0x80) out += QChar(c);
    else out += QString::fromUtf8(reinterpret_cast<const char*>(&c), 1);
  }
  // Multi-byte tokens that are whole UTF-8 sequences read better decoded.
  const QString utf8 = QString::fromUtf8(bytes.data(), qsizetype(bytes.size()));
  if (!utf8.contains(QChar::ReplacementCharacter) && bytes.size() > 1 &&
      std::none_of(bytes.begin(), bytes.end(), [](unsigned char c) { return c < 0x20 || c == ' '; }))
    return utf8;
  return out;
}

std::string format_proposals(const std::vector<std::vector<int32_t>>& rows) {
  std::ostringstream s;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i) s << ';';
    for (size_t j = 0; j < rows[i].size(); ++j) s << (j ? " " : "") << rows[i][j];
  }
  return s.str();
}

std::vector<std::vector<int32_t>> parse_proposals(const std::string& text) {
  std::vector<std::vector<int32_t>> rows;
  std::istringstream all(text);
  std::string row;
  while (std::getline(all, row, ';')) {
    std::istringstream r(row);
    std::vector<int32_t> ids;
    int64_t v = 0;
    while (r >> v) ids.push_back(int32_t(v));
    rows.push_back(std::move(ids));
  }
  return rows;
}

RunRecord build_run_record(std::vector<Event> events, TraceMetadata metadata,
                           std::shared_ptr<const Tokenizer> tokenizer) {
  RunRecord run;
  run.settings = settings_of(metadata);
  run.target_geometry = geometry(metadata, "target");
  run.draft_geometry = geometry(metadata, "draft");
  run.prompt_ids = to_ids(metadata, "prompt_ids");
  run.generated_ids = to_ids(metadata, "generated_ids");
  run.tokenizer = std::move(tokenizer);

  std::map<int32_t, StepBuilder> steps;
  for (const Event& e : events) {
    if (e.step < 0) fail(step_where(e.step), "has a negative step number");
    StepBuilder& b = steps[e.step];
    b.rec.step = e.step;
    std::visit(
        [&](const auto& p) {
          using T = std::decay_t<decltype(p)>;
          if constexpr (std::is_same_v<T, NodeDrafted>) {
            if (p.node < 0 || p.node >= kMaxTreeNodes)
              fail(step_where(e.step), "node index " + std::to_string(p.node) + " is out of range");
            NodeRecord& n = b.nodes[p.node];
            n.parent = p.parent;
            n.token = p.token;
            n.draft_prob = p.prob;
          } else if constexpr (std::is_same_v<T, NodeVerified>) {
            if (p.node < 0 || p.node >= kMaxTreeNodes)
              fail(step_where(e.step), "node index " + std::to_string(p.node) + " is out of range");
            NodeRecord& n = b.nodes[p.node];
            n.target_argmax = p.target_argmax;
            n.target_prob = p.target_prob;
          } else if constexpr (std::is_same_v<T, AcceptDecision>) {
            if (p.node <= 0 || p.node >= kMaxTreeNodes)
              fail(step_where(e.step), "decision on node " + std::to_string(p.node) + " is out of range");
            NodeRecord& n = b.nodes[p.node];
            n.verdict = p.accepted ? Verdict::Accepted : Verdict::Rejected;
            n.reason = QString::fromStdString(p.reason);
          } else if constexpr (std::is_same_v<T, FifoPush> || std::is_same_v<T, FifoPop>) {
            b.rec.fifo.push_back({std::is_same_v<T, FifoPush>, p.layer, p.tile, p.node, p.live, e.t_us});
          } else if constexpr (std::is_same_v<T, Backtrack>) {
            BacktrackRecord& r = p.model == ModelRole::Target ? b.rec.target_backtrack : b.rec.draft_backtrack;
            r = {true, QString::fromStdString(p.policy), p.bytes_kept, p.replayed, e.t_us, p.us};
          } else if constexpr (std::is_same_v<T, StepSummary>) {
            StepRecord& r = b.rec;
            r.t_us = e.t_us;
            r.step_us = p.step_us;
            r.draft_us = p.draft_us;
            r.verify_us = p.verify_us;
            r.accept_us = p.accept_us;
            r.backtrack_us = p.backtrack_us;
            r.bonus_token = p.bonus_token;
            r.accepted = p.accepted;
            r.emitted = p.emitted;
            r.peak_live_states = p.peak_live_states;
            r.state_bytes_read = p.state_bytes_read;
            r.state_bytes_written = p.state_bytes_written;
            r.redundant_nodes = p.redundant_nodes;
            b.summary = true;
          } else if constexpr (std::is_same_v<T, TreeDrafted>) {
            if (!b.summary) b.rec.t_us = e.t_us;
          }
        },
        e.payload);
  }

  // Steps without a summary were cut off (a cancelled run): dropped, they emitted nothing.
  int32_t next_token = 1;  // generated token 0 comes from the prefill
  const int64_t total = run.generated_ids.empty() ? INT64_MAX : int64_t(run.generated_ids.size());
  for (auto& [index, b] : steps) {
    if (!b.summary) continue;
    finish_step(b);
    StepRecord& r = b.rec;
    r.first_token = next_token;
    // The root is the last token emitted before the step (events carry no root token).
    if (!r.nodes.empty() && size_t(next_token - 1) < run.generated_ids.size())
      r.nodes[0].token = run.generated_ids[size_t(next_token - 1)];
    r.emitted = static_cast<int32_t>(std::clamp<int64_t>(total - next_token, 0, r.emitted));
    next_token += r.emitted;
    if (r.emitted == 0) continue;  // a step after the last emitted token
    run.steps.push_back(std::move(r));
  }
  if (!run.steps.empty()) run.shape = shape_from(run.steps.front());

  RunFigures& f = run.figures;
  f.prompt_tokens = to_i64(metadata, "prompt_tokens", int64_t(run.prompt_ids.size()));
  f.generated = run.generated_ids.empty() ? next_token : int64_t(run.generated_ids.size());
  f.prefill_us = to_f64(metadata, "prefill_us");
  f.decode_seconds = to_f64(metadata, "decode_seconds");
  f.stop_reason = metadata_value(metadata, "stop_reason");
  f.steps = static_cast<int64_t>(run.steps.size());
  int64_t accepted = 0, emitted = 0;
  for (const StepRecord& s : run.steps) {
    accepted += std::min<int64_t>(s.accepted, s.emitted);
    emitted += s.emitted;
  }
  if (f.steps > 0) {
    f.mean_accepted = double(accepted) / double(f.steps);
    f.tokens_per_pass = double(emitted) / double(f.steps);
  }
  // Decode rate as the CLI reports it: tokens after the first over the decode time.
  if (f.decode_seconds > 0 && f.generated > 1) f.tokens_per_second = double(f.generated - 1) / f.decode_seconds;
  f.baseline_tokens_per_second = to_f64(metadata, "baseline_tokens_per_second");
  f.bpb = to_f64(metadata, "bpb", -1);
  f.bpb_text = metadata_value(metadata, "bpb_text");
  f.sim_tokens_per_second = to_f64(metadata, "sim_tokens_per_second");
  f.energy_per_token_mj = to_f64(metadata, "energy_per_token_mj");
  f.dsp = to_i64(metadata, "resources_dsp", -1);
  f.lut = to_i64(metadata, "resources_lut", -1);
  f.bram = to_i64(metadata, "resources_bram", -1);
  f.uram = to_i64(metadata, "resources_uram", -1);
  f.fit_problem = metadata_value(metadata, "fit_problem");
  run.draft_topk = parse_proposals(metadata_value(metadata, "draft_topk").toStdString());
  run.metadata = std::move(metadata);
  run.events = std::move(events);
  return run;
}

}  // namespace sm::ui
