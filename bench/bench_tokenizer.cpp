// SPDX-License-Identifier: Apache-2.0
// Tokenizer throughput (bytes_per_second) on ~4 MB of English text: the
// GPL-3 text repeated (/usr/share/common-licenses/GPL-3, with a built-in
// paragraph as fallback), plus a multilingual mix. Baselines in the same run:
// a std::string copy and the byte tokenizer.
//
//   build-tok/bench/bench_tokenizer --benchmark_min_time=1
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include <benchmark/benchmark.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tokenizer/bpe_tokenizer.h"
#include "core/tokenizer/tokenizer.h"

namespace {

const std::string kTokenizerPath = SPECMAMBA_SOURCE_DIR "/data/gpt-neox-20b-tokenizer.json";
constexpr std::size_t kTextBytes = 4u << 20;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string repeat_to(const std::string& unit, std::size_t bytes) {
  std::string s;
  s.reserve(bytes + unit.size());
  while (s.size() < bytes) s += unit;
  return s;
}

const std::string& english_text() {
  static const std::string text = [] {
    std::string unit = read_file("/usr/share/common-licenses/GPL-3");
    if (unit.size() < 1000) {
      unit =
          "The licenses for most software and other practical works are designed to take away "
          "your freedom to share and change the works. By contrast, the GNU General Public "
          "License is intended to guarantee your freedom to share and change all versions of a "
          "program--to make sure it remains free software for all its users.\n\n";
    }
    return repeat_to(unit, kTextBytes);
  }();
  return text;
}

// Prose, code, CJK, Cyrillic, emoji, whitespace runs: the golden test strings.
const std::string& mixed_text() {
  static const std::string text = [] {
    std::string unit;
    try {
      const auto j = nlohmann::json::parse(read_file(SPECMAMBA_SOURCE_DIR "/tests/data/tokenizer_golden.json"));
      for (const auto& c : j["cases"]) unit += c["text"].get<std::string>() + "\n";
    } catch (const std::exception&) {
      unit = "Hello world \xe4\xbd\xa0\xe5\xa5\xbd \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xf0\x9f\x98\x80\n";
    }
    return repeat_to(unit, kTextBytes / 4);
  }();
  return text;
}

const sm::BpeTokenizer& bpe(bool cache) {
  static std::unique_ptr<sm::BpeTokenizer> warm, cold;
  auto& t = cache ? warm : cold;
  if (!t) {
    sm::BpeOptions o;
    o.use_cache = cache;
    t = sm::BpeTokenizer::load(kTokenizerPath, o);
  }
  return *t;
}

void BM_StringCopy(benchmark::State& state) {
  const std::string& text = english_text();
  for (auto _ : state) {
    std::string copy = text;
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}
BENCHMARK(BM_StringCopy)->Unit(benchmark::kMillisecond);

void BM_ByteTokenizerEncode(benchmark::State& state) {
  const std::string& text = english_text();
  auto tok = sm::make_byte_tokenizer();
  for (auto _ : state) {
    auto ids = tok->encode(text);
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}
BENCHMARK(BM_ByteTokenizerEncode)->Unit(benchmark::kMillisecond);

// arg 1: pre-token cache on (warmed by one encode first); 0: no cache.
void BM_BpeEncodeEnglish(benchmark::State& state) {
  const std::string& text = english_text();
  const sm::BpeTokenizer& tok = bpe(state.range(0) != 0);
  std::size_t tokens = tok.encode(text).size();
  for (auto _ : state) {
    auto ids = tok.encode(text);
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
  state.counters["bytes/token"] = benchmark::Counter(double(text.size()) / double(tokens), benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_BpeEncodeEnglish)->ArgName("cache")->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);
// Several threads encoding with one shared tokenizer (the cache is per thread).
BENCHMARK(BM_BpeEncodeEnglish)->ArgName("cache")->Arg(1)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_BpeEncodeMixedUnicode(benchmark::State& state) {
  const std::string& text = mixed_text();
  const sm::BpeTokenizer& tok = bpe(state.range(0) != 0);
  std::size_t tokens = tok.encode(text).size();
  for (auto _ : state) {
    auto ids = tok.encode(text);
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
  state.counters["bytes/token"] = benchmark::Counter(double(text.size()) / double(tokens), benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_BpeEncodeMixedUnicode)->ArgName("cache")->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

void BM_BpeDecode(benchmark::State& state) {
  const std::string& text = english_text();
  const sm::BpeTokenizer& tok = bpe(true);
  const std::vector<int32_t> ids = tok.encode(text);
  for (auto _ : state) {
    std::string s = tok.decode(ids);
    benchmark::DoNotOptimize(s.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}
BENCHMARK(BM_BpeDecode)->Unit(benchmark::kMillisecond);

void BM_BpeLoad(benchmark::State& state) {
  for (auto _ : state) {
    auto tok = sm::BpeTokenizer::load(kTokenizerPath);
    benchmark::DoNotOptimize(tok.get());
  }
}
BENCHMARK(BM_BpeLoad)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
