// SPDX-License-Identifier: Apache-2.0
#pragma once
// A real speculative run on the shipped pair, recorded as the Studio records
// it (MemoryEventSink + metadata -> RunRecord), for the Qt tests.
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include <QString>

#include <memory>
#include <string>

#include "core/model/generator.h"
#include "core/model/mamba_model.h"
#include "core/spec/spec_decoder.h"
#include "core/tokenizer/tokenizer.h"
#include "core/trace/spec_events.h"
#include "ui/models/run_record.h"

namespace run_test {

inline std::string repo_path(const std::string& rel) {
  return std::string(SPECMAMBA_TEST_DATA) + "/../../" + rel;
}

struct ShippedPair {
  std::unique_ptr<sm::MambaModel> target, draft;
  std::shared_ptr<const sm::Tokenizer> tok;
  ShippedPair()
      : target(sm::MambaModel::load(repo_path("data/models/mamba2-target"))),
        draft(sm::MambaModel::load(repo_path("data/models/mamba2-draft"))),
        tok(sm::load_tokenizer_for_model(repo_path("data/models/mamba2-target"))) {}
};

struct RecordedRun {
  sm::SpecGenerateResult result;
  sm::ui::RunRecord record;
};

// Runs `prompt` for `max_tokens` with `cfg` (greedy unless `sampling` says
// otherwise) and builds the record from the events and metadata.
inline RecordedRun record(ShippedPair& p, const sm::SpecConfig& cfg, int max_tokens,
                          const std::string& prompt = "And God said",
                          sm::SamplingParams sampling = {}) {
  sm::MemoryEventSink sink;
  sink.add_metadata("target", repo_path("data/models/mamba2-target"));
  sink.add_metadata("draft", repo_path("data/models/mamba2-draft"));
  sink.add_metadata("prompt", prompt);
  sm::GenerateOptions opt;
  opt.max_tokens = max_tokens;
  opt.sampling = sampling;
  opt.stop_at_eos = false;
  const std::vector<int32_t> ids = p.tok->encode(prompt);
  RecordedRun r;
  r.result = sm::spec_generate(*p.target, *p.draft, *p.tok, ids, opt, cfg, &sink);
  r.record = sm::ui::build_run_record(sink.snapshot(), sink.metadata(), p.tok);
  return r;
}

}  // namespace run_test
