// SPDX-License-Identifier: Apache-2.0
#include "core/spec/spec_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/spec/agreement.h"
#include "core/io/error.h"
#include "core/model/mamba_model.h"
#include "core/tokenizer/tokenizer.h"

namespace sm {

void SpecConfig::validate() const {
  if (tree.size() < 2) fail("--tree", "the tree shape has no draft tokens");
  if (tile < 0) fail("--tile", "the tile size must be >= 0 (0 = the whole state)");
  if (budget < 0) fail("--budget", "the hybrid budget must be >= 0 bytes");
}

SpecDecoder::SpecDecoder(MambaModel& target, MambaModel& draft, const SpecConfig& cfg,
                         const SamplingParams& sampling, EventSink* sink, double t0)
    : target_(target), draft_(draft), cfg_(cfg), sp_(sampling), sampler_(sampling) {
  cfg_.validate();
  check_same_vocabulary(target, draft);
  if (cfg_.tree.max_width() > target.vocab_size())
    fail(cfg_.tree.spec, "a node has more children than the vocabulary has tokens");
  ev_.sink = sink;
  ev_.t0 = t0;
  ev_.verbose = cfg_.verbose_events;
  verifier_ = std::make_unique<TreeVerifier>(target, cfg_.tree, cfg_.verify, cfg_.tile);
  drafter_ = std::make_unique<TreeDrafter>(draft, cfg_.tree);
  tree_ = TokenTree(cfg_.tree);
  const size_t nv = size_t(cfg_.tree.size()) * target.vocab_size();
  logits_.assign(nv, 0.0f);
  if (!sp_.greedy()) {
    q_.assign(nv, 0.0f);
    p_.assign(nv, 0.0f);
  }
  tstate_ = target.new_state();
  dstate_ = draft.new_state();
  // The draft's best path (rank-0 children from the root): the likeliest to
  // be accepted, so its logits are computed eagerly in one batch.
  for (int32_t v = 0;; v = cfg_.tree.first_child[v]) {
    primary_.push_back(v);
    if (cfg_.tree.n_children[v] == 0) break;
  }
  for (int32_t v = 0; v < cfg_.tree.size(); ++v) all_nodes_.push_back(v);
}

SpecDecoder::~SpecDecoder() = default;

int32_t SpecDecoder::prefill(std::span<const int32_t> prompt) {
  if (prompt.empty()) fail("", "the prompt is empty: give some text or token ids");
  for (int32_t id : prompt) target_.check_token(id);
  tstate_ = target_.new_state();
  dstate_ = draft_.new_state();
  std::vector<float> l(target_.vocab_size());
  target_.forward(prompt, tstate_, l.data(), MambaModel::Logits::Last);
  draft_.forward(prompt, dstate_, nullptr, MambaModel::Logits::None);
  root_ = sampler_.sample(l);
  pending_.clear();
  return root_;
}

const float* SpecDecoder::node_logits(int32_t node) {
  if (!l_ready_[node]) {
    one_.assign(1, node);
    verifier_->forward().logits_for(one_, logits_.data());
    l_ready_[node] = 1;
  }
  return logits_.data() + size_t(node) * target_.vocab_size();
}

std::span<const float> SpecDecoder::target_probs(int32_t node) {
  const int32_t V = target_.vocab_size();
  float* row = p_.data() + size_t(node) * V;
  if (!p_ready_[node]) {
    std::vector<float> w = warped_probs(std::span<const float>(node_logits(node), V), sp_);
    std::memcpy(row, w.data(), V * sizeof(float));
    p_ready_[node] = 1;
  }
  return {row, size_t(V)};
}

const std::vector<int32_t>& SpecDecoder::step() {
  const TreeShape& shape = cfg_.tree;
  const int32_t n = shape.size(), V = target_.vocab_size();
  const int L = target_.config().n_layer;
  const double t_step = now_seconds();
  ev_.step = static_cast<int32_t>(stats_.steps);
  const double t_step_us = ev_.on() ? ev_.now_us() : 0.0;

  // 1. Draft.
  tree_.token[0] = root_;
  tree_.draft_prob[0] = 1.0f;
  const DraftStats ds = drafter_->grow(tree_, dstate_, pending_, sp_, sampler_, cfg_.backtrack,
                                       cfg_.budget, sp_.greedy() ? nullptr : q_.data(), &ev_);
  const double t_verify = now_seconds();
  if (ev_.on())
    ev_.post(TreeDrafted{n, shape.max_depth(), ds.us}, t_step_us, ds.us);

  // 2. Verify.
  TreeForward& tf = verifier_->forward();
  const int64_t layer_bytes = tf.layer_state_floats() * 4;
  plan_target_snapshots(cfg_.backtrack, cfg_.budget, tree_, L, layer_bytes, mask_);
  store_.plan(mask_, n, L, tf.layer_state_floats());
  const std::vector<int32_t>& eager = ev_.on() ? all_nodes_ : primary_;
  vstats_ = verifier_->verify(tree_, tstate_, store_, logits_.data(), eager, &ev_);
  l_ready_.assign(n, 0);
  for (int32_t v : eager) l_ready_[v] = 1;
  const double t_accept = now_seconds();

  // 3. Accept.
  argmax_.assign(n, -1);
  auto node_argmax = [&](int32_t v) {
    if (argmax_[v] < 0) argmax_[v] = argmax(std::span<const float>(node_logits(v), V));
    return argmax_[v];
  };
  if (ev_.on()) {
    for (int32_t v = 0; v < n; ++v) node_argmax(v);
    for (int32_t v = 0; v < n; ++v) {
      float prob = 1.0f;
      if (v > 0) {  // target softmax at the parent, for the node's token
        const float* row = logits_.data() + size_t(shape.parent[v]) * V;
        const float mx = row[argmax_[shape.parent[v]]];
        double sum = 0.0;
        for (int32_t i = 0; i < V; ++i) sum += std::exp(double(row[i]) - mx);
        prob = static_cast<float>(std::exp(double(row[tree_.token[v]]) - mx) / sum);
      }
      ev_.post_now(NodeVerified{v, argmax_[v], prob});
    }
  }
  decisions_.clear();
  std::vector<AcceptDecision>* dec = ev_.on() ? &decisions_ : nullptr;
  if (sp_.greedy()) {
    acc_ = accept_greedy(tree_, ArgmaxFn(node_argmax), dec);
  } else {
    p_ready_.assign(n, 0);
    auto p = [&](int32_t v) { return target_probs(v); };
    auto q = [&](int32_t v) {
      return std::span<const float>(q_.data() + size_t(v) * V, size_t(V));
    };
    acc_ = accept_stochastic(tree_, p, q, sampler_, dec);
  }
  if (dec)
    for (auto& d : decisions_) ev_.post_now(d);
  const double t_back = now_seconds();

  // 4. Backtrack both models.
  path_.assign(1, 0);
  path_.insert(path_.end(), acc_.path.begin(), acc_.path.end());
  tbt_ = BacktrackResult{};
  auto stored = [&](int32_t node, int l) -> const float* { return store_.at(node, l); };
  tbt_.replayed_steps = backtrack_state(tf, tstate_, path_, stored, scratch_);
  tbt_.path_nodes = static_cast<int32_t>(path_.size());
  tbt_.state_bytes = store_.bytes();
  tbt_.input_bytes = (int64_t{n} * L - store_.blocks()) * tf.replay_input_bytes() +
                     int64_t{n} * L * tf.conv_row_bytes();
  const double t_dback = now_seconds();
  tbt_.us = (t_dback - t_back) * 1e6;
  dbt_ = drafter_->backtrack(dstate_, tree_, path_, pending_);
  const double t_end = now_seconds();
  const char* policy = backtrack_policy_name(cfg_.backtrack);
  if (ev_.on()) {
    const double tb = (t_back - ev_.t0) * 1e6;
    ev_.post(Backtrack{ModelRole::Target, policy, tbt_.state_bytes + tbt_.input_bytes,
                       (tbt_.replayed_steps + L - 1) / L, tbt_.us},
             tb, tbt_.us);
    const int Ld = draft_.config().n_layer;
    ev_.post(Backtrack{ModelRole::Draft, policy, dbt_.state_bytes + dbt_.input_bytes,
                       (dbt_.replayed_steps + Ld - 1) / Ld, dbt_.us},
             tb + tbt_.us, dbt_.us);
  }

  // Output: accepted draft tokens, then the bonus (the next root).
  out_.clear();
  for (int32_t v : acc_.path) out_.push_back(tree_.token[v]);
  out_.push_back(acc_.bonus);
  root_ = acc_.bonus;

  SpecStats& s = stats_;
  ++s.steps;
  s.accepted += static_cast<int64_t>(acc_.path.size());
  s.emitted += static_cast<int64_t>(out_.size());
  s.drafted += n - 1;
  s.draft_passes += ds.passes;
  s.peak_live_states = std::max(s.peak_live_states, vstats_.peak_live_states);
  s.state_bytes_read += vstats_.state_bytes_read;
  s.state_bytes_written += vstats_.state_bytes_written;
  s.redundant_nodes += vstats_.redundant_nodes;
  s.backtrack_bytes_kept =
      std::max(s.backtrack_bytes_kept,
               tbt_.state_bytes + tbt_.input_bytes + dbt_.state_bytes + dbt_.input_bytes);
  s.target_state_bytes_max = std::max(s.target_state_bytes_max, tbt_.state_bytes);
  s.draft_state_bytes_max = std::max(s.draft_state_bytes_max, dbt_.state_bytes);
  s.target_replayed_tokens += double(tbt_.replayed_steps) / L;
  s.draft_replayed_tokens += double(dbt_.replayed_steps) / draft_.config().n_layer;
  s.peak_state_bytes = std::max(
      s.peak_state_bytes, vstats_.peak_live_bytes + store_.bytes() + ds.peak_state_bytes);
  s.draft_seconds += t_verify - t_step;
  s.verify_seconds += t_accept - t_verify;
  s.accept_seconds += t_back - t_accept;
  s.backtrack_seconds += t_end - t_back;
  if (ev_.on()) {
    StepSummary sum;
    sum.step = ev_.step;
    sum.tree_nodes = n;
    sum.accepted = static_cast<int32_t>(acc_.path.size());
    sum.emitted = static_cast<int32_t>(out_.size());
    sum.bonus_token = acc_.bonus;
    sum.peak_live_states = vstats_.peak_live_states;
    sum.state_bytes_read = vstats_.state_bytes_read;
    sum.state_bytes_written = vstats_.state_bytes_written;
    sum.redundant_nodes = vstats_.redundant_nodes;
    sum.step_us = (t_end - t_step) * 1e6;
    sum.draft_us = (t_verify - t_step) * 1e6;
    sum.verify_us = (t_accept - t_verify) * 1e6;
    sum.accept_us = (t_back - t_accept) * 1e6;
    sum.backtrack_us = (t_end - t_back) * 1e6;
    ev_.post(sum, t_step_us, sum.step_us);
  }
  return out_;
}

namespace {
LayerStateGeometry geometry_of(TreeForward& f, int n_layer) {
  return {n_layer, f.layer_state_floats() * 4, f.replay_input_bytes(), f.conv_row_bytes(),
          f.state_units()};
}

void add_geometry(EventSink& sink, const std::string& who, const LayerStateGeometry& g) {
  sink.add_metadata(who + "_layers", std::to_string(g.n_layer));
  sink.add_metadata(who + "_layer_state_bytes", std::to_string(g.layer_state_bytes));
  sink.add_metadata(who + "_replay_input_bytes", std::to_string(g.replay_input_bytes));
  sink.add_metadata(who + "_conv_row_bytes", std::to_string(g.conv_row_bytes));
  sink.add_metadata(who + "_state_units", std::to_string(g.state_units));
}

std::string num_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

LayerStateGeometry SpecDecoder::target_geometry() const {
  return geometry_of(verifier_->forward(), target_.config().n_layer);
}

LayerStateGeometry SpecDecoder::draft_geometry() const {
  return geometry_of(drafter_->forward(), draft_.config().n_layer);
}

SpecGenerateResult spec_generate(MambaModel& target, MambaModel& draft, const Tokenizer& tok,
                                 std::span<const int32_t> prompt, const GenerateOptions& opt,
                                 const SpecConfig& cfg, EventSink* sink,
                                 const SpecTokenCallback& on_token,
                                 const std::atomic<bool>* cancel) {
  if (prompt.empty()) fail("", "the prompt is empty: give some text or token ids");
  if (opt.max_tokens < 0) fail("", "max-tokens must be >= 0");
  for (int32_t id : prompt) target.check_token(id);
  SpecDecoder dec(target, draft, cfg, opt.sampling, sink);
  SpecGenerateResult res;
  GenerateResult& r = res.gen;
  r.stats.prompt_tokens = static_cast<int64_t>(prompt.size());
  r.stats.stop_reason = "max_tokens";

  double t0 = now_seconds();
  const int32_t first = dec.prefill(prompt);
  r.stats.prefill_seconds = now_seconds() - t0;

  bool done = opt.max_tokens == 0;
  size_t cut = 0;  // tokens of the last step not emitted
  auto emit = [&](int32_t id, const SpecTokenInfo& info) {
    r.ids.push_back(id);
    const std::string bytes = tok.token_bytes(id);
    r.text += bytes;
    ++r.stats.generated;
    if (on_token) on_token(id, bytes, info);
    if (opt.stop_at_eos && id == tok.eos_id()) {
      r.stats.stop_reason = "eos";
      done = true;
    } else if (r.stats.generated >= opt.max_tokens) {
      done = true;
    }
  };
  if (!done) emit(first, {0, false, 1, r.stats.prefill_seconds * 1e3});
  while (!done) {
    if (cancel && cancel->load()) {
      r.stats.cancelled = true;
      r.stats.stop_reason = "cancelled";
      break;
    }
    t0 = now_seconds();
    const std::vector<int32_t>& toks = dec.step();
    const double dt = now_seconds() - t0;
    r.stats.decode_seconds += dt;
    const int n = static_cast<int>(toks.size());
    const int step = static_cast<int>(dec.stats().steps);
    size_t kept = 0;
    for (int32_t id : toks) {
      emit(id, {step, int(kept) + 1 < n, n, dt * 1e3});  // the last one is the bonus
      ++kept;
      if (done) break;
    }
    cut = toks.size() - kept;
  }
  r.stats.decode_steps = std::max<int64_t>(0, r.stats.generated - 1);
  res.spec = dec.stats();
  // The statistics describe what was emitted: tokens of the last step cut off
  // at max_tokens or EOS are not counted (the bonus token is the last one).
  if (cut > 0) {
    res.spec.emitted -= static_cast<int64_t>(cut);
    const int64_t step_accepted = static_cast<int64_t>(dec.last_accept().path.size());
    const int64_t kept_accepted = std::min<int64_t>(step_accepted, int64_t(dec.last_emitted()) - int64_t(cut));
    res.spec.accepted -= step_accepted - kept_accepted;
  }
  if (sink) {
    sink->add_metadata("tree", cfg.tree.spec);
    sink->add_metadata("tree_nodes", std::to_string(cfg.tree.size()));
    sink->add_metadata("verify", verify_order_name(cfg.verify));
    sink->add_metadata("tile", std::to_string(cfg.tile));
    sink->add_metadata("backtrack", backtrack_policy_name(cfg.backtrack));
    sink->add_metadata("budget", std::to_string(cfg.budget));
    sink->add_metadata("temperature", num_text(opt.sampling.temperature));
    sink->add_metadata("top_k", std::to_string(opt.sampling.top_k));
    sink->add_metadata("top_p", num_text(opt.sampling.top_p));
    sink->add_metadata("seed", std::to_string(opt.sampling.seed));
    sink->add_metadata("max_tokens", std::to_string(opt.max_tokens));
    add_geometry(*sink, "target", dec.target_geometry());
    add_geometry(*sink, "draft", dec.draft_geometry());
    sink->add_metadata("prompt_tokens", std::to_string(prompt.size()));
    sink->add_metadata("prompt_ids", format_id_list(prompt));
    sink->add_metadata("generated_ids", format_id_list(r.ids));
    sink->add_metadata("prefill_us", std::to_string(r.stats.prefill_seconds * 1e6));
    sink->add_metadata("decode_seconds", std::to_string(r.stats.decode_seconds));
    sink->add_metadata("stop_reason", r.stats.stop_reason);
    sink->add_metadata("last_step_cut", std::to_string(cut));
  }
  return res;
}

SpecGenerateResult spec_generate(MambaModel& target, MambaModel& draft, const Tokenizer& tok,
                                 std::span<const int32_t> prompt, const GenerateOptions& opt,
                                 const SpecConfig& cfg, EventSink* sink,
                                 const TokenCallback& on_token, const std::atomic<bool>* cancel) {
  SpecTokenCallback cb;
  if (on_token) cb = [&](int32_t id, const std::string& bytes, const SpecTokenInfo&) { on_token(id, bytes); };
  return spec_generate(target, draft, tok, prompt, opt, cfg, sink, cb, cancel);
}

}  // namespace sm
