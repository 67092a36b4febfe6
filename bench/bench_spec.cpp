// SPDX-License-Identifier: Apache-2.0
// The pieces of one speculative step on the shipped pair, on every SIMD
// target: the target's one-token decode (the baseline a step must beat),
// a 7-token prefill (the same linear work as verifying a 7-node chain), the
// 7-node tree verification itself, and the draft's one-token decode.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "core/io/default_paths.h"
#include "core/kernels/simd.h"
#include "core/model/mamba_model.h"
#include "core/spec/backtrack.h"
#include "core/spec/token_tree.h"
#include "core/spec/tree_verifier.h"

namespace {

sm::MambaModel& shipped(bool target) {
  static std::unique_ptr<sm::MambaModel> t = sm::MambaModel::load(sm::default_target_model());
  static std::unique_ptr<sm::MambaModel> d = sm::MambaModel::load(sm::default_draft_model());
  return target ? *t : *d;
}

void Decode(benchmark::State& st, int64_t target_bits, bool target) {
  sm::simd::ScopedTarget scope(target_bits);
  sm::MambaModel& m = shipped(target);
  sm::ModelState s = m.new_state();
  std::vector<float> logits(m.vocab_size());
  int32_t tok = 65;
  for (auto _ : st) {
    m.decode(tok, s, logits.data());
    tok = 65 + (tok + 1) % 26;
  }
  st.SetItemsProcessed(st.iterations());
}

void Prefill7(benchmark::State& st, int64_t target_bits) {
  sm::simd::ScopedTarget scope(target_bits);
  sm::MambaModel& m = shipped(true);
  const std::vector<int32_t> toks = {65, 110, 100, 32, 71, 111, 100};
  std::vector<float> logits(m.vocab_size());
  for (auto _ : st) {
    sm::ModelState s = m.new_state();
    m.forward(toks, s, logits.data());
  }
  st.SetItemsProcessed(st.iterations() * 7);
}

void VerifyChain7(benchmark::State& st, int64_t target_bits) {
  sm::simd::ScopedTarget scope(target_bits);
  sm::MambaModel& m = shipped(true);
  const sm::TreeShape shape = sm::TreeShape::parse("1,1,1,1,1,1");
  sm::TreeVerifier v(m, shape, sm::VerifyOrder::Fifo, 0);
  sm::TokenTree tree(shape);
  for (int32_t i = 0; i < tree.size(); ++i) tree.token[i] = 65 + i;
  const sm::ModelState committed = m.new_state();
  sm::SnapshotStore store;
  std::vector<uint8_t> mask(size_t(shape.size()) * m.config().n_layer, 0);
  store.plan(mask, shape.size(), m.config().n_layer, v.forward().layer_state_floats());
  std::vector<float> logits(size_t(shape.size()) * m.vocab_size());
  std::vector<int32_t> all(shape.size());
  for (int32_t i = 0; i < shape.size(); ++i) all[i] = i;
  for (auto _ : st) v.verify(tree, committed, store, logits.data(), all, nullptr);
  st.SetItemsProcessed(st.iterations() * shape.size());
}

}  // namespace

int main(int argc, char** argv) {
  for (const auto& t : sm::simd::available_targets()) {
    benchmark::RegisterBenchmark(("TargetDecode/" + t.name).c_str(), Decode, t.bits, true);
    benchmark::RegisterBenchmark(("TargetPrefill7/" + t.name).c_str(), Prefill7, t.bits);
    benchmark::RegisterBenchmark(("TargetVerifyChain7/" + t.name).c_str(), VerifyChain7, t.bits);
    benchmark::RegisterBenchmark(("DraftDecode/" + t.name).c_str(), Decode, t.bits, false);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
