// SPDX-License-Identifier: Apache-2.0
// Tokenizers: the byte tokenizer, the GPT-NeoX BPE (against golden vectors
// from tools/ref_bpe_encode.py, an independent Python implementation), round
// trips over arbitrary bytes, malformed tokenizer.json files.
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tokenizer/bpe_tokenizer.h"
#include "core/io/error.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/unicode_class.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Ids = std::vector<int32_t>;

const std::string kNeoxPath = SPECMAMBA_SOURCE_DIR "/data/gpt-neox-20b-tokenizer.json";
const std::string kGoldenPath = SPECMAMBA_TEST_DATA "/tokenizer_golden.json";

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// One shared instance per option set: loading takes tens of milliseconds.
const sm::BpeTokenizer& neox(int variant = 0) {
  static std::unique_ptr<sm::BpeTokenizer> toks[4];
  if (!toks[variant]) {
    sm::BpeOptions o;
    if (variant == 1) o.use_cache = false;
    if (variant == 2) o.small_piece_limit = 0;        // always the priority-queue loop
    if (variant == 3) o.small_piece_limit = 1 << 20;  // always the quadratic loop
    toks[variant] = sm::BpeTokenizer::load(kNeoxPath, o);
  }
  return *toks[variant];
}

// What decode(encode(s)) gives: s, with each byte the vocabulary lacks
// (C0, C1, F5..FF) replaced by U+FFFD.
std::string expected_round_trip(std::string_view s) {
  std::string r;
  for (unsigned char c : s) {
    if (c == 0xC0 || c == 0xC1 || c >= 0xF5) r += "\xEF\xBF\xBD"; else r += char(c);
  }
  return r;
}

std::string hex(std::string_view s) {
  std::string h;
  char buf[4];
  for (unsigned char c : s) {
    std::snprintf(buf, sizeof buf, "%02x ", c);
    h += buf;
  }
  return h;
}

// ---- byte tokenizer -------------------------------------------------------------

TEST(ByteTokenizer, EncodesBytesAsIds) {
  auto tok = sm::make_byte_tokenizer();
  EXPECT_EQ(tok->name(), "bytes");
  EXPECT_EQ(tok->vocab_size(), 256);
  EXPECT_EQ(tok->eos_id(), -1);
  const std::string s("A\0\xff\x80 z", 6);
  const Ids ids = tok->encode(s);
  EXPECT_EQ(ids, (Ids{65, 0, 255, 128, 32, 122}));
  EXPECT_EQ(tok->decode(ids), s);
  EXPECT_TRUE(tok->encode("").empty());
  EXPECT_EQ(tok->token_bytes(255), "\xff");
  EXPECT_EQ(tok->token_bytes(256), "");
  EXPECT_EQ(tok->token_bytes(-1), "");
}

TEST(ByteTokenizer, RoundTripsAllBytes) {
  auto tok = sm::make_byte_tokenizer();
  std::string all;
  for (int b = 0; b < 256; ++b) all += char(b);
  EXPECT_EQ(tok->decode(tok->encode(all)), all);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(tok->token_bytes(b), std::string(1, char(b)));
}

// ---- Unicode classes ------------------------------------------------------------

TEST(UnicodeClass, Classes) {
  using sm::unicode::CharClass;
  using sm::unicode::classify;
  EXPECT_EQ(classify(U'a'), CharClass::Letter);
  EXPECT_EQ(classify(U'Z'), CharClass::Letter);
  EXPECT_EQ(classify(U'\u00e9'), CharClass::Letter);  // é
  EXPECT_EQ(classify(U'\u4e2d'), CharClass::Letter);  // 中
  EXPECT_EQ(classify(U'\u02b0'), CharClass::Letter);  // Lm
  EXPECT_EQ(classify(U'7'), CharClass::Number);
  EXPECT_EQ(classify(U'\u0663'), CharClass::Number);  // Arabic-Indic 3
  EXPECT_EQ(classify(U'\u00bd'), CharClass::Number);  // ½ (No)
  EXPECT_EQ(classify(U'\u2160'), CharClass::Number);  // Ⅰ (Nl)
  for (char32_t c : {U' ', U'\t', U'\n', U'\v', U'\f', U'\r', U'\u0085', U'\u00a0', U'\u1680',
                     U'\u2000', U'\u200a', U'\u2028', U'\u2029', U'\u202f', U'\u205f', U'\u3000'})
    EXPECT_EQ(classify(c), CharClass::Space) << std::hex << unsigned(c);
  for (char32_t c : {U'!', U'\'', U'_', U'\u0301', U'\u200b', U'\u200d', U'\U0001F600', U'\u001c',
                     U'\ue000', char32_t(0x10FFFF), char32_t(0x110000)})
    EXPECT_EQ(classify(c), CharClass::Other) << std::hex << unsigned(c);
}

TEST(UnicodeClass, Utf8Decoder) {
  auto dec = [](std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    return sm::unicode::decode_utf8(p, p + s.size());
  };
  EXPECT_TRUE(dec("\xc3\xa9").valid);
  EXPECT_EQ(dec("\xc3\xa9").cp, U'\u00e9');
  EXPECT_EQ(dec("\xf0\x9f\x98\x80").cp, U'\U0001F600');
  EXPECT_EQ(dec("\xf0\x9f\x98\x80").len, 4u);
  for (std::string_view bad : {"\x80", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80",
                               "\xf4\x90\x80\x80", "\xf0\x9f\x98", "\xe2\x82", "\xff", "\xc3"}) {
    EXPECT_FALSE(dec(bad).valid) << hex(bad);
    EXPECT_EQ(dec(bad).len, 1u) << hex(bad);
  }
}

// ---- GPT-NeoX BPE: basics ---------------------------------------------------------

TEST(BpeTokenizer, LoadsGptNeox) {
  const auto t0 = std::chrono::steady_clock::now();
  auto tok = sm::load_bpe_tokenizer(kNeoxPath);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[          ] load time " << ms << " ms\n";
  EXPECT_LT(ms, 2000.0);  // ~50 ms on an idle machine; generous for loaded CI
  EXPECT_EQ(tok->vocab_size(), 50277);
  EXPECT_EQ(tok->eos_id(), 0);
  EXPECT_EQ(tok->name(), "gpt-neox-bpe");
  EXPECT_EQ(tok->token_bytes(0), "<|endoftext|>");
  EXPECT_EQ(tok->token_bytes(1), "<|padding|>");
  EXPECT_EQ(tok->token_bytes(12092), "Hello");
  EXPECT_EQ(tok->token_bytes(1533), " world");
  EXPECT_EQ(tok->token_bytes(253), " the");
  EXPECT_EQ(tok->token_bytes(187), "\n");
  EXPECT_EQ(tok->token_bytes(50254), std::string(24, ' '));
  EXPECT_EQ(tok->token_bytes(50276), "  ");
  EXPECT_EQ(tok->token_bytes(50277), "");  // padding rows of the embedding
  EXPECT_EQ(tok->token_bytes(-5), "");
  EXPECT_EQ(tok->decode(Ids{12092, 50279, 1533}), "Hello world");
  EXPECT_EQ(neox().added_token_id("<|endoftext|>"), 0);
  EXPECT_EQ(neox().vocab_id("\xc4\xa0the"), 253);  // "Ġthe"
}

TEST(BpeTokenizer, KnownEncodings) {
  const auto& tok = neox();
  EXPECT_EQ(tok.encode("Hello world"), (Ids{12092, 1533}));
  EXPECT_EQ(tok.encode("The"), (Ids{510}));
  EXPECT_EQ(tok.encode(" the"), (Ids{253}));
  EXPECT_TRUE(tok.encode("").empty());
}

TEST(BpeTokenizer, AddedTokensAreSplitFirst) {
  const auto& tok = neox();
  EXPECT_EQ(tok.encode("<|endoftext|>"), (Ids{0}));
  EXPECT_EQ(tok.encode("a  b"), (Ids{66, 50276, 67}));                // "  " is token 50276
  EXPECT_EQ(tok.encode(std::string(24, ' ')), (Ids{50254}));
  EXPECT_EQ(tok.encode(std::string(48, ' ')), (Ids{50254, 50254}));   // leftmost-longest
  EXPECT_EQ(tok.encode(std::string(25, ' ') + "x"), (Ids{50254, 1269}));  // " x"
  EXPECT_EQ(tok.encode("x<|endoftext|><|padding|>"), (Ids{89, 0, 1}));
}

// ---- golden vectors ----------------------------------------------------------------

TEST(BpeTokenizer, MatchesGoldenVectors) {
  const json golden = json::parse(read_file(kGoldenPath));
  ASSERT_GE(golden["cases"].size(), 40u);
  for (int variant = 0; variant < 4; ++variant) {
    const auto& tok = neox(variant);
    for (int pass = 0; pass < 2; ++pass) {  // second pass: warm cache
      for (const json& c : golden["cases"]) {
        const std::string text = c["text"].get<std::string>();
        const Ids expected = c["ids"].get<Ids>();
        EXPECT_EQ(tok.encode(text), expected) << "variant " << variant << " text " << json(text).dump();
        EXPECT_EQ(tok.decode(expected), text);
      }
    }
  }
}

// ---- pre-tokenizer ----------------------------------------------------------------

TEST(BpeTokenizer, PreTokenizerFollowsGpt2Regex) {
  auto split = [](std::string_view s) {
    std::vector<std::string> out;
    for (std::string_view p : neox().pre_tokenize(s)) out.emplace_back(p);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(split("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split("don't I'll we've"), (V{"don", "'t", " I", "'ll", " we", "'ve"}));
  EXPECT_EQ(split("DON'T"), (V{"DON", "'", "T"}));
  EXPECT_EQ(split("''s"), (V{"''", "s"}));
  EXPECT_EQ(split("abc123 456"), (V{"abc", "123", " 456"}));
  EXPECT_EQ(split("x   y"), (V{"x", "  ", " y"}));
  EXPECT_EQ(split("x \n\ny"), (V{"x", " \n", "\n", "y"}));
  EXPECT_EQ(split("x\ty"), (V{"x", "\t", "y"}));
  EXPECT_EQ(split("x  "), (V{"x", "  "}));
  EXPECT_EQ(split(" !?"), (V{" !?"}));
  EXPECT_EQ(split("a\xc2\xa0" "b"), (V{"a", "\xc2\xa0", "b"}));  // NBSP is \s, not " "
  EXPECT_EQ(split("\xe4\xb8\xad\xe6\x96\x87 \xe4\xb8\xad"), (V{"\xe4\xb8\xad\xe6\x96\x87", " \xe4\xb8\xad"}));
  // Invalid bytes are characters of class "other".
  EXPECT_EQ(split("a\xff" "b"), (V{"a", "\xff", "b"}));
  EXPECT_EQ(split(" \x80\xbf!x"), (V{" \x80\xbf!", "x"}));
  EXPECT_EQ(split("\xe4\xb8x"), (V{"\xe4\xb8", "x"}));  // truncated 中
}

// ---- round trips -----------------------------------------------------------------

TEST(BpeTokenizer, RoundTripsText) {
  const auto& tok = neox();
  const std::vector<std::string> texts = {
      "Plain ASCII prose, with punctuation; and (brackets)!",
      "Unicode: caf\xc3\xa9, \xe4\xb8\xad\xe6\x96\x87, \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
      "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7",
      "e\xcc\x81 (not NFC: e + combining acute) and A\xcc\x8a",
      std::string(100, ' ') + "x" + std::string(77, ' ') + "\n" + std::string(30, '\t'),
      "0123456789012345678901234567890123456789 3.14159265358979",
      "\r\n\r\n\n\n\n   \t\t \xe3\x80\x80 \xc2\xa0",
      "<|endoftext|> <|endoftext|<|padding|>|>",
      std::string(10000, '='),  // one long pre-token: the priority-queue loop
  };
  for (const std::string& s : texts) {
    EXPECT_TRUE(tok.encodes_exactly(s));
    EXPECT_EQ(tok.decode(tok.encode(s)), s) << json(s).dump();
  }
}

TEST(BpeTokenizer, RoundTripsInvalidUtf8) {
  const auto& tok = neox();
  // Bytes that occur in UTF-8, in invalid sequences: exact round trip.
  const std::vector<std::string> exact = {
      "\xe2\x82",                 // truncated 3-byte sequence
      "abc\xf0\x9f\x98",          // truncated emoji at the end
      "\x80",                     // lone continuation byte
      "\x80\x81\xbf x \xbf",      // several
      "\xe0\x80\xaf",             // overlong 3-byte '/'
      "\xf0\x80\x80\xaf",         // overlong 4-byte '/'
      "\xed\xa0\x80\xed\xb0\x80", // UTF-16 surrogates
      "\xf4\x90\x80\x80",         // above U+10FFFF
      " \xc3 \xc3\xa9\xc3",       // truncated 2-byte sequences around a valid one
      std::string("nul\0inside", 10),
  };
  for (const std::string& s : exact) {
    EXPECT_TRUE(tok.encodes_exactly(s)) << hex(s);
    EXPECT_EQ(tok.decode(tok.encode(s)), s) << hex(s);
  }
  // C0, C1, F5..FF never occur in UTF-8 and have no token: they become U+FFFD.
  const std::vector<std::string> lossy = {"\xff\xfe", "\xc0\xaf", "\xc1\xbf", "a\xf5" "b", "\xf8\x88\x80\x80\x80"};
  for (const std::string& s : lossy) {
    EXPECT_FALSE(tok.encodes_exactly(s)) << hex(s);
    EXPECT_EQ(tok.decode(tok.encode(s)), expected_round_trip(s)) << hex(s);
  }
  EXPECT_EQ(tok.encode("\xff"), tok.encode("\xef\xbf\xbd"));
}

TEST(BpeTokenizer, RoundTripsRandomBytes) {
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<int> len_dist(0, 80), byte_dist(0, 255);
  for (int i = 0; i < 3000; ++i) {
    std::string s(std::size_t(len_dist(rng)), '\0');
    for (char& c : s) c = char(byte_dist(rng));
    const Ids ids = neox().encode(s);
    ASSERT_EQ(neox().decode(ids), expected_round_trip(s)) << hex(s);
    if (i % 4 == 0) {
      ASSERT_EQ(neox(1).encode(s), ids) << hex(s);  // no cache
      ASSERT_EQ(neox(2).encode(s), ids) << hex(s);  // priority-queue loop
      ASSERT_EQ(neox(3).encode(s), ids) << hex(s);  // quadratic loop
    }
  }
}

// Random concatenations of fragments that stress the scanner, the added-token
// split and the merge loops; all fragments are exactly representable.
TEST(BpeTokenizer, RoundTripsRandomFragments) {
  const std::vector<std::string> frags = {
      " ", "  ", "\t", "\n", "\r\n", "\xc2\xa0", "\xe3\x80\x80", "'s", "'", "'ll", "'T",
      "a", "The", " the", "word", "WORD", "1", "2024", " 42", "\xc3\xa9", "\xe4\xb8\xad",
      "\xd0\xb6", "\xf0\x9f\x98\x80", "\xe2\x80\x8d", "\xcc\x81", "!", "...", "?!", "(", "}",
      "\x80", "\xe2\x82", "\xed\xa0\x80", "<|endoftext|>", "<|endo", "|>", "<|padding|>",
      std::string(24, ' '), std::string(7, ' '), "====", "\\", "\"", "_", "-",
  };
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> pick(0, frags.size() - 1);
  std::uniform_int_distribution<int> count(0, 40);
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    for (int k = count(rng); k > 0; --k) s += frags[pick(rng)];
    const Ids ids = neox().encode(s);
    ASSERT_EQ(neox().decode(ids), s) << json(s).dump();
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < 50277);
    if (i % 4 == 0) {
      ASSERT_EQ(neox(1).encode(s), ids);
      ASSERT_EQ(neox(2).encode(s), ids);
      ASSERT_EQ(neox(3).encode(s), ids);
    }
  }
}

TEST(BpeTokenizer, LongPiecesAgreeBetweenMergeLoops) {
  std::mt19937 rng(99);
  const std::string punct = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~";
  std::uniform_int_distribution<std::size_t> pick(0, punct.size() - 1);
  for (int len : {49, 100, 1000, 5000}) {
    std::string s;
    for (int i = 0; i < len; ++i) s += punct[pick(rng)];
    const Ids heap = neox(2).encode(s);
    EXPECT_EQ(neox(3).encode(s), heap);
    EXPECT_EQ(neox().decode(heap), s);
  }
}

TEST(BpeTokenizer, EncodeIsThreadSafe) {
  const json golden = json::parse(read_file(kGoldenPath));
  std::vector<std::pair<std::string, Ids>> cases;
  for (const json& c : golden["cases"]) cases.emplace_back(c["text"].get<std::string>(), c["ids"].get<Ids>());
  neox();  // load before the threads start
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 50; ++rep)
        for (std::size_t i = 0; i < cases.size(); ++i) {
          const auto& [text, ids] = cases[(i + std::size_t(t) * 7) % cases.size()];
          if (neox().encode(text) != ids) ++failures[t];
        }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

TEST(BpeTokenizer, CacheCanBeClearedAndDisabled) {
  auto tok = sm::BpeTokenizer::load(kNeoxPath);
  const std::string s = "The cache holds pre-tokens; the cache holds them per thread.";
  const Ids a = tok->encode(s);
  tok->clear_cache();
  EXPECT_EQ(tok->encode(s), a);
  tok->set_cache_enabled(false);
  EXPECT_EQ(tok->encode(s), a);
  tok->set_cache_enabled(true);
  EXPECT_EQ(tok->encode(s), a);
  EXPECT_EQ(tok->encode(s), a);
}

// ---- malformed files ---------------------------------------------------------------

// GPT-2's byte -> code point map, written out independently of the library.
std::string byte_char(int b) {
  static const std::vector<int> cps = [] {
    std::vector<int> bs, cs;
    for (int c = '!'; c <= '~'; ++c) bs.push_back(c);
    for (int c = 0xA1; c <= 0xAC; ++c) bs.push_back(c);
    for (int c = 0xAE; c <= 0xFF; ++c) bs.push_back(c);
    cs = bs;
    int n = 0;
    for (int c = 0; c < 256; ++c)
      if (std::find(bs.begin(), bs.end(), c) == bs.end()) {
        bs.push_back(c);
        cs.push_back(256 + n++);
      }
    std::vector<int> m(256);
    for (std::size_t i = 0; i < bs.size(); ++i) m[std::size_t(bs[i])] = cs[i];
    return m;
  }();
  const int cp = cps[std::size_t(b)];
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

// A small valid byte-level BPE tokenizer.json: 256 byte tokens, a few merges.
json small_tokenizer() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  const std::string G = byte_char(' ');  // "Ġ"
  vocab[G + "t"] = 256;
  vocab["he"] = 257;
  vocab[G + "the"] = 258;
  return json{
      {"version", "1.0"},
      {"added_tokens", json::array({json{{"id", 259}, {"content", "<|endoftext|>"}, {"special", true},
                                         {"normalized", false}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({G + " t", "h e", G + "t he"})}}},
  };
}

class TempFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("specmamba_tok_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  // Loading must fail with "PATH: ...needle...".
  void expect_error(const std::string& text, const std::string& needle) {
    const std::string p = write("tokenizer_" + std::to_string(counter_++) + ".json", text);
    try {
      sm::load_bpe_tokenizer(p);
      ADD_FAILURE() << "no error for " << text.substr(0, 200) << " (expected " << needle << ")";
    } catch (const sm::Error& e) {
      const std::string msg = e.what();
      if (std::getenv("SM_SHOW_ERRORS")) std::cout << msg << "\n";
      EXPECT_EQ(msg.rfind(p + ": ", 0), 0u) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg << "\nexpected: " << needle;
    }
  }
  fs::path dir_;
  int counter_ = 0;
};

TEST_F(TempFiles, SmallTokenizerWorks) {
  const json j = small_tokenizer();
  auto tok = sm::load_bpe_tokenizer(write("t.json", j.dump()));
  EXPECT_EQ(tok->vocab_size(), 260);
  EXPECT_EQ(tok->eos_id(), 259);
  EXPECT_EQ(tok->name(), "byte-level-bpe");
  EXPECT_EQ(tok->encode(" the"), (Ids{258}));
  EXPECT_EQ(tok->encode("he<|endoftext|>"), (Ids{257, 259}));
  // Every byte is representable here (all 256 byte tokens exist).
  std::string all;
  for (int b = 0; b < 256; ++b) all += char(b);
  EXPECT_EQ(tok->decode(tok->encode(all)), all);
  // Merges as [a, b] pairs mean the same.
  json k = j;
  json pairs = json::array();
  for (const json& m : j["model"]["merges"]) {
    const std::string s = m.get<std::string>();
    pairs.push_back(json::array({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)}));
  }
  k["model"]["merges"] = pairs;
  auto tok2 = sm::load_bpe_tokenizer(write("t2.json", k.dump()));
  EXPECT_EQ(tok2->encode(" the the he"), tok->encode(" the the he"));
}

TEST_F(TempFiles, MalformedFilesAreReported) {
  const json base = small_tokenizer();
  const std::string G = byte_char(' ');
  auto with = [&](auto&& edit) {
    json j = base;
    edit(j);
    return j.dump();
  };
  expect_error("this is not json", "not a valid JSON");
  expect_error(base.dump().substr(0, 300), "not a valid JSON");  // truncated
  expect_error("", "not a valid JSON");
  expect_error("[1, 2]", "top level is not an object");
  expect_error(with([](json& j) { j.erase("model"); }), "no \"model\"");
  expect_error(with([](json& j) { j["model"]["type"] = "WordPiece"; }), "only BPE");
  expect_error(with([](json& j) { j["model"].erase("vocab"); }), "no \"vocab\"");
  expect_error(with([](json& j) { j["model"]["vocab"] = json::array(); }), "\"vocab\" is not an object");
  expect_error(with([](json& j) { j["model"]["vocab"] = json::object(); }), "vocabulary is empty");
  expect_error(with([](json& j) { j["model"].erase("merges"); }), "no \"merges\"");
  expect_error(with([](json& j) { j["model"]["merges"] = "h e"; }), "\"merges\" is not an array");
  expect_error(with([](json& j) { j["model"]["vocab"]["he"] = "257"; }), "non-integer id");
  expect_error(with([](json& j) { j["model"]["vocab"]["he"] = 1.5; }), "non-integer id");
  expect_error(with([](json& j) { j["model"]["vocab"]["he"] = -3; }), "out-of-range id");
  expect_error(with([](json& j) { j["model"]["vocab"]["he"] = 256; }), "duplicate id 256");
  expect_error(with([](json& j) { j["model"]["merges"].push_back("x y z"); }), "not two tokens");
  expect_error(with([](json& j) { j["model"]["merges"].push_back("xy"); }), "not two tokens");
  expect_error(with([](json& j) { j["model"]["merges"].push_back(7); }), "merge #3");
  expect_error(with([](json& j) { j["model"]["merges"].push_back(json::array({"a"})); }), "merge #3");
  expect_error(with([](json& j) { j["model"]["merges"].push_back("zz q"); }), "unknown token \"zz\"");
  expect_error(with([](json& j) { j["model"]["merges"].push_back("q r"); }), "not in the vocabulary");
  expect_error(with([](json& j) { j["model"]["vocab"].erase("a"); }), "byte-level token for byte 0x61");
  expect_error(with([](json& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }), "unsupported pre_tokenizer");
  expect_error(with([](json& j) { j.erase("pre_tokenizer"); }), "no pre_tokenizer");
  expect_error(with([](json& j) { j["pre_tokenizer"]["add_prefix_space"] = true; }), "add_prefix_space");
  expect_error(with([](json& j) { j["normalizer"] = {{"type", "Lowercase"}}; }), "unsupported normalizer");
  expect_error(with([](json& j) { j["model"]["continuing_subword_prefix"] = "##"; }), "continuing_subword_prefix");
  expect_error(with([](json& j) { j["added_tokens"][0]["id"] = 5; }), "which the vocabulary gives");
  expect_error(with([](json& j) { j["added_tokens"].push_back({{"id", 259}, {"content", "<x>"}}); }),
               "duplicate id 259");
  expect_error(with([](json& j) { j["added_tokens"].push_back({{"content", "<x>"}}); }), "malformed added token");
  expect_error(with([](json& j) { j["added_tokens"] = 3; }), "not an array");
  // Not a file at all.
  try {
    sm::load_bpe_tokenizer((dir_ / "missing.json").string());
    ADD_FAILURE();
  } catch (const sm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open"), std::string::npos) << e.what();
  }
}

TEST_F(TempFiles, NFCNormalizerIsAcceptedButNotApplied) {
  json j = small_tokenizer();
  j["normalizer"] = {{"type", "NFC"}};
  auto tok = sm::load_bpe_tokenizer(write("nfc.json", j.dump()));
  const std::string decomposed = "e\xcc\x81";
  EXPECT_EQ(tok->decode(tok->encode(decomposed)), decomposed);
}

TEST_F(TempFiles, LoadTokenizerForModel) {
  // A directory without tokenizer.json: bytes.
  EXPECT_EQ(sm::load_tokenizer_for_model(dir_.string())->name(), "bytes");
  // With one: BPE.
  write("tokenizer.json", small_tokenizer().dump());
  auto tok = sm::load_tokenizer_for_model(dir_.string());
  EXPECT_EQ(tok->vocab_size(), 260);
  // A .json file named directly.
  auto neox_tok = sm::load_tokenizer_for_model(kNeoxPath);
  EXPECT_EQ(neox_tok->name(), "gpt-neox-bpe");
  EXPECT_EQ(neox_tok->encode("Hello world"), (Ids{12092, 1533}));
  // A missing .json file is an error, not a silent byte tokenizer.
  EXPECT_THROW(sm::load_tokenizer_for_model((dir_ / "nope.json").string()), sm::Error);
  // A broken tokenizer.json in a model directory is reported.
  write("tokenizer.json", "{\"model\": 5}");
  EXPECT_THROW(sm::load_tokenizer_for_model(dir_.string()), sm::Error);
}

}  // namespace
