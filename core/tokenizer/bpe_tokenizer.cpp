// SPDX-License-Identifier: Apache-2.0
// Byte-level BPE as in Hugging Face `tokenizers` for GPT-2 / GPT-NeoX:
//
//   1. Added tokens are split out of the text first, leftmost-longest, in two
//      passes like tokenizers' AddedVocabulary: the tokens with
//      "normalized": false on the raw text, then those with "normalized": true
//      on the pieces left over.
//   2. Normalizer: a tokenizer.json may ask for NFC. It is deliberately NOT
//      applied. Input already in NFC (nearly all real text) tokenizes exactly
//      as HF does; non-NFC input is tokenized as is (HF would compose it
//      first), so that decode(encode(s)) == s holds byte for byte.
//   3. The ByteLevel pre-tokenizer's GPT-2 regex
//        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      is a hand-written scanner over code points (core/unicode_class.h).
//      Invalid UTF-8 bytes are characters of their own, of class "other"
//      (HF only ever sees valid UTF-8; this keeps every byte string encodable).
//   4. Each pre-token's bytes go through the GPT-2 byte -> unicode map
//      (implicitly: symbols are token ids from the start) and rank-ordered
//      merges, lowest rank first, leftmost first among equal ranks — the same
//      order as tokenizers' priority-queue merge loop.
//   5. The one lossy case: GPT-2 / GPT-NeoX vocabularies have no token for the
//      13 bytes that never occur in UTF-8 (C0, C1, F5..FF); each becomes
//      U+FFFD. Every other byte string, valid UTF-8 or not, round-trips.
//   6. Unassigned ids (e.g. the embedding's padding rows 50277..50279) decode
//      to "" rather than throwing, like HF's decode skipping unknown ids.
#include "core/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/io/error.h"
#include "core/tokenizer/unicode_class.h"

namespace sm {
namespace {

using unicode::CharClass;
using json = nlohmann::json;

constexpr int32_t kNoRank = INT32_MAX;

// GPT-2's reversible byte <-> printable code point map.
struct ByteLevelMap {
  std::array<char32_t, 256> to_cp{};
  std::array<int16_t, 512> to_byte{};  // code point (< 512) -> byte, or -1
  ByteLevelMap() {
    to_byte.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      to_cp[b] = printable ? char32_t(b) : char32_t(256 + n++);
      to_byte[to_cp[b]] = int16_t(b);
    }
  }
};
const ByteLevelMap& byte_level() {
  static const ByteLevelMap m;
  return m;
}

void append_utf8(std::string& s, char32_t cp) {
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += char(0xE0 | (cp >> 12));
    s += char(0x80 | ((cp >> 6) & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  } else {
    s += char(0xF0 | (cp >> 18));
    s += char(0x80 | ((cp >> 12) & 0x3F));
    s += char(0x80 | ((cp >> 6) & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  }
}

// Raw bytes -> byte-level string ("Ġthe" for " the").
std::string to_byte_level(std::string_view raw) {
  std::string s;
  s.reserve(raw.size() * 2);
  for (unsigned char b : raw) append_utf8(s, byte_level().to_cp[b]);
  return s;
}

// Byte-level string -> raw bytes. Characters outside the map (which a
// byte-level vocabulary should not hold) are kept as their UTF-8 bytes, as
// the ByteLevel decoder does.
std::string from_byte_level(std::string_view s) {
  std::string raw;
  raw.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unicode::Utf8Char c = unicode::decode_utf8(p, end);
    if (c.valid && c.cp < 512 && byte_level().to_byte[c.cp] >= 0) {
      raw += char(byte_level().to_byte[c.cp]);
    } else {
      raw.append(reinterpret_cast<const char*>(p), c.len);
    }
    p += c.len;
  }
  return raw;
}

std::string show(std::string_view s) {
  std::string q = json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
  if (q.size() > 80) q = q.substr(0, 77) + "...";
  return q;
}

// A JSON value for a message, shortened.
std::string brief(const json& v) {
  std::string d = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (d.size() > 80) d = d.substr(0, 77) + "...";
  return d;
}

// nlohmann's message without its "[json.exception.parse_error.101] " prefix.
std::string json_error(const std::exception& e) {
  std::string m = e.what();
  if (!m.empty() && m[0] == '[') {
    if (const std::size_t close = m.find("] "); close != std::string::npos) m.erase(0, close + 2);
  }
  return m;
}

// (left id, right id) -> (rank, merged id); open addressing, linear probing.
class MergeTable {
 public:
  struct Slot {
    uint64_t key;
    int32_t rank;
    int32_t id;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  void reserve(std::size_t n) {
    std::size_t cap = 16;
    shift_ = 60;
    while (cap < n * 2) {
      cap *= 2;
      --shift_;
    }
    slots_.assign(cap, Slot{kEmpty, kNoRank, -1});
    mask_ = cap - 1;
  }
  // Returns false if the pair is already present (the first rank is kept).
  bool insert(int32_t a, int32_t b, int32_t rank, int32_t id) {
    const uint64_t key = make_key(a, b);
    for (std::size_t i = hash(key);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.key == kEmpty) {
        s = Slot{key, rank, id};
        return true;
      }
      if (s.key == key) return false;
    }
  }
  const Slot* find(int32_t a, int32_t b) const {
    const uint64_t key = make_key(a, b);
    for (std::size_t i = hash(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s;
      if (s.key == kEmpty) return nullptr;
    }
  }

 private:
  static uint64_t make_key(int32_t a, int32_t b) {
    return uint64_t(uint32_t(a)) << 32 | uint32_t(b);
  }
  std::size_t hash(uint64_t key) const {
    return std::size_t((key * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  int shift_ = 60;
};

// Byte-level token string -> id: one flat open-addressing table over a
// contiguous string arena (a std::unordered_map<std::string, int> spent most
// of the load time in cache misses).
class VocabTable {
 public:
  void reserve(std::size_t n) {
    std::size_t cap = 16;
    while (cap < n * 2) cap *= 2;
    slots_.assign(cap, Slot{0, -1});
    mask_ = cap - 1;
  }
  // Inserts s -> id; returns the id s already had, or -1.
  int32_t insert(std::string_view s, int32_t id) {
    if (size_ * 2 >= slots_.size()) grow();
    const uint64_t h = hash(s);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.id < 0) {
        slot = Slot{uint32_t(h >> 32), id};
        if (std::size_t(id) >= spans_.size()) spans_.resize(std::size_t(id) + 1, Span{0, kNone});
        spans_[id] = Span{uint32_t(arena_.size()), uint32_t(s.size())};
        arena_.append(s);
        ++size_;
        return -1;
      }
      if (slot.hash == uint32_t(h >> 32) && token(slot.id) == s) return slot.id;
    }
  }
  int32_t find(std::string_view s) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash(s);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.id < 0) return -1;
      if (slot.hash == uint32_t(h >> 32) && token(slot.id) == s) return slot.id;
    }
  }
  bool has_id(int32_t id) const {
    return id >= 0 && std::size_t(id) < spans_.size() && spans_[id].len != kNone;
  }
  std::string_view token(int32_t id) const {
    if (!has_id(id)) return {};
    return std::string_view(arena_).substr(spans_[id].offset, spans_[id].len);
  }
  std::size_t id_limit() const { return spans_.size(); }

 private:
  static constexpr uint32_t kNone = ~uint32_t{0};
  struct Slot {
    uint32_t hash;  // high half of the 64-bit hash
    int32_t id;     // -1: empty
  };
  struct Span {
    uint32_t offset, len;
  };
  static uint64_t hash(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, then a final mix
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h ^ (h >> 29);
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    reserve(std::max<std::size_t>(16, old.size()));
    for (const Slot& o : old) {
      if (o.id < 0) continue;
      const uint64_t h = hash(token(o.id));
      std::size_t i = h & mask_;
      while (slots_[i].id >= 0) i = (i + 1) & mask_;
      slots_[i] = o;
    }
  }
  std::vector<Slot> slots_;
  std::size_t mask_ = 0, size_ = 0;
  std::string arena_;
  std::vector<Span> spans_;
};

// Byte trie of added-token contents, for leftmost-longest matching.
class AddedTrie {
 public:
  AddedTrie() { root_.fill(-1); }
  bool empty() const { return nodes_.empty(); }
  void insert(std::string_view s, int32_t id) {
    if (s.empty()) return;
    int32_t node = child_of_root(uint8_t(s[0]), true);
    for (std::size_t i = 1; i < s.size(); ++i) node = child(node, uint8_t(s[i]), true);
    nodes_[node].token = id;
  }
  // Longest token starting at text[pos]: returns its length (0 if none).
  std::size_t match(const unsigned char* p, const unsigned char* end, int32_t* id) const {
    int32_t node = root_[*p];
    if (node < 0) return 0;
    std::size_t best = 0;
    for (const unsigned char* q = p + 1;; ++q) {
      if (nodes_[node].token >= 0) {
        best = std::size_t(q - p);
        *id = nodes_[node].token;
      }
      if (q == end) break;
      node = find_child(node, *q);
      if (node < 0) break;
    }
    return best;
  }

 private:
  struct Node {
    int32_t token = -1;
    std::vector<std::pair<uint8_t, int32_t>> kids;
  };
  int32_t child_of_root(uint8_t b, bool create) {
    if (root_[b] < 0 && create) {
      root_[b] = int32_t(nodes_.size());
      nodes_.emplace_back();
    }
    return root_[b];
  }
  int32_t child(int32_t node, uint8_t b, bool create) {
    for (auto& [k, n] : nodes_[node].kids)
      if (k == b) return n;
    if (!create) return -1;
    const int32_t n = int32_t(nodes_.size());
    nodes_.emplace_back();
    nodes_[node].kids.emplace_back(b, n);
    return n;
  }
  int32_t find_child(int32_t node, uint8_t b) const {
    for (const auto& [k, n] : nodes_[node].kids)
      if (k == b) return n;
    return -1;
  }
  std::array<int32_t, 256> root_;
  std::vector<Node> nodes_;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

uint64_t fnv1a(const unsigned char* p, std::size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

// Pre-token -> ids cache: per thread, direct-mapped, one 64-byte line per
// entry, shared by all tokenizers on the thread (entries are tagged with the
// tokenizer's serial number, so a destroyed tokenizer's entries are just
// misses). No locks, so encode() scales across threads; bounded memory
// (kEntries * 64 bytes = 512 KiB per thread that encodes); a collision simply
// replaces the old entry. It replaced a sharded, mutex-guarded
// unordered_map<string, vector<int>>, which was slower single-threaded and
// allocated per entry. Hit rate on English prose is high: warm encoding runs
// at ~2.5x the uncached speed (bench/bench_tokenizer.cpp).
class PieceCache {
 public:
  static constexpr std::size_t kEntries = 1 << 13;
  static constexpr std::size_t kMaxKey = 22;
  static constexpr std::size_t kMaxIds = 6;
  struct alignas(64) Entry {
    uint64_t owner;  // tokenizer serial; 0: empty
    uint32_t hash;
    uint8_t key_len, n_ids;
    unsigned char key[kMaxKey];
    int32_t ids[kMaxIds];
  };
  static_assert(sizeof(Entry) == 64);

  static Entry& slot(uint64_t h) {
    thread_local std::unique_ptr<Entry[]> entries;
    if (!entries) entries.reset(new Entry[kEntries]());
    return entries[h & (kEntries - 1)];
  }
};

// Per-thread scratch for the merge loops.
struct Scratch {
  std::vector<int32_t> ids, ranks, merged;
  struct Sym {
    int32_t id, prev, next;
  };
  std::vector<Sym> syms;
  struct Cand {
    int32_t rank, pos, left, right, merged;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Cand> heap;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace

struct BpeTokenizer::Impl {
  std::string path;
  BpeOptions options;
  std::array<int32_t, 256> byte_id{};            // single-byte token per byte (-1: missing)
  std::array<bool, 256> byte_missing{};          // no token for this byte: becomes U+FFFD
  bool any_byte_missing = false;
  VocabTable vocab;  // byte-level string -> id
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> added;  // content -> id
  std::vector<std::string> id_bytes;             // id -> raw bytes
  MergeTable merges;
  AddedTrie raw_trie;   // added tokens with normalized == false
  AddedTrie norm_trie;  // added tokens with normalized == true
  bool ignore_merges = false;
  int32_t eos = -1;
  int32_t n_vocab = 0;
  std::string name;
  // Tags this tokenizer's entries in the per-thread PieceCache; 0 disables
  // the cache; a fresh serial invalidates all entries.
  std::atomic<uint64_t> serial{0};
  static uint64_t new_serial() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }

  // ---- pre-tokenizer ----------------------------------------------------

  // End of the pre-token starting at p (p < end): the GPT-2 regex, by hand.
  static const unsigned char* next_piece(const unsigned char* p, const unsigned char* end) {
    // 's 't 're 've 'm 'll 'd
    if (*p == '\'' && end - p >= 2) {
      const unsigned char c = p[1];
      if (c == 's' || c == 't' || c == 'm' || c == 'd') return p + 2;
      if (end - p >= 3) {
        const unsigned char c2 = p[2];
        if ((c == 'r' && c2 == 'e') || (c == 'v' && c2 == 'e') || (c == 'l' && c2 == 'l'))
          return p + 3;
      }
    }
    // Longest run of characters of class cls starting at q.
    auto run_end = [end](const unsigned char* q, CharClass cls) {
      while (q < end) {
        uint32_t l = 0;
        if (unicode::classify_at(q, end, &l) != cls) break;
        q += l;
      }
      return q;
    };
    uint32_t len = 0;
    const CharClass c0 = unicode::classify_at(p, end, &len);
    if (*p == ' ' && end - p >= 2) {
      // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+" including the space.
      uint32_t len1 = 0;
      const CharClass c1 = unicode::classify_at(p + 1, end, &len1);
      if (c1 != CharClass::Space) return run_end(p + 1 + len1, c1);
    }
    // "\p{L}+", "\p{N}+", "[^\s\p{L}\p{N}]+" without one.
    if (c0 != CharClass::Space) return run_end(p + len, c0);
    // \s+(?!\S)|\s+ : the whole run if it ends the text; otherwise all but
    // its last character (which may start the next piece as " ?..."),
    // unless the run is a single character.
    const unsigned char* last = p;
    const unsigned char* q = p + len;
    while (q < end) {
      uint32_t l = 0;
      if (unicode::classify_at(q, end, &l) != CharClass::Space) break;
      last = q;
      q += l;
    }
    return (q == end || last == p) ? q : last;
  }

  // ---- BPE ------------------------------------------------------------------

  // Quadratic loop: fine (and fastest) for short pieces.
  void merge_small(const unsigned char* p, std::size_t n, std::vector<int32_t>& out) const {
    Scratch& s = scratch();
    s.ids.resize(n);
    s.ranks.resize(n);
    s.merged.resize(n);
    int32_t* ids = s.ids.data();
    int32_t* ranks = s.ranks.data();
    int32_t* merged = s.merged.data();
    for (std::size_t i = 0; i < n; ++i) ids[i] = byte_id[p[i]];
    auto pair_at = [&](std::size_t i) {
      const MergeTable::Slot* m = merges.find(ids[i], ids[i + 1]);
      ranks[i] = m ? m->rank : kNoRank;
      merged[i] = m ? m->id : -1;
    };
    for (std::size_t i = 0; i + 1 < n; ++i) pair_at(i);
    std::size_t m = n;
    while (m > 1) {
      std::size_t best = 0;
      int32_t best_rank = ranks[0];
      for (std::size_t i = 1; i + 1 < m; ++i)
        if (ranks[i] < best_rank) {
          best_rank = ranks[i];
          best = i;
        }
      if (best_rank == kNoRank) break;
      ids[best] = merged[best];
      for (std::size_t i = best + 1; i + 1 < m; ++i) ids[i] = ids[i + 1];
      for (std::size_t i = best + 1; i + 2 < m; ++i) {
        ranks[i] = ranks[i + 1];
        merged[i] = merged[i + 1];
      }
      --m;
      if (best + 1 < m) pair_at(best);
      if (best > 0) pair_at(best - 1);
    }
    out.insert(out.end(), ids, ids + m);
  }

  // Priority-queue loop (as in tokenizers): O(n log n) for long pieces.
  void merge_large(const unsigned char* p, std::size_t n, std::vector<int32_t>& out) const {
    Scratch& s = scratch();
    auto& syms = s.syms;
    auto& heap = s.heap;
    syms.resize(n);
    heap.clear();
    for (std::size_t i = 0; i < n; ++i)
      syms[i] = {byte_id[p[i]], int32_t(i) - 1, i + 1 < n ? int32_t(i + 1) : -1};
    const std::greater<Scratch::Cand> cmp;
    auto push = [&](int32_t l) {
      const int32_t r = syms[l].next;
      if (r < 0) return;
      if (const MergeTable::Slot* m = merges.find(syms[l].id, syms[r].id)) {
        heap.push_back({m->rank, l, syms[l].id, syms[r].id, m->id});
        std::push_heap(heap.begin(), heap.end(), cmp);
      }
    };
    for (std::size_t i = 0; i + 1 < n; ++i) push(int32_t(i));
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), cmp);
      const Scratch::Cand c = heap.back();
      heap.pop_back();
      // Stale if either side has merged since (spans only grow, and a token
      // id fixes the span's length, so equal ids mean unchanged symbols).
      Scratch::Sym& l = syms[c.pos];
      if (l.id != c.left || l.next < 0 || syms[l.next].id != c.right) continue;
      Scratch::Sym& r = syms[l.next];
      l.id = c.merged;
      l.next = r.next;
      if (r.next >= 0) syms[r.next].prev = c.pos;
      r.id = -1;
      if (l.prev >= 0) push(l.prev);
      push(c.pos);
    }
    for (int32_t i = 0; i >= 0; i = syms[i].next) out.push_back(syms[i].id);
  }

  bool has_missing_byte(const unsigned char* p, std::size_t n) const {
    if (!any_byte_missing) return false;
    for (std::size_t i = 0; i < n; ++i)
      if (byte_missing[p[i]]) return true;
    return false;
  }

  void encode_piece(const unsigned char* p, std::size_t n, std::vector<int32_t>& out) const {
    if (has_missing_byte(p, n)) {
      // A byte no token holds (C0, C1, F5..FF: never part of UTF-8, so they
      // are not in the GPT-2 / GPT-NeoX vocabulary) is encoded as U+FFFD,
      // the one lossy case. U+FFFD has the same pre-tokenizer class (other)
      // as an invalid byte, so the piece boundaries do not change.
      std::string sub;
      for (std::size_t i = 0; i < n; ++i) {
        if (byte_missing[p[i]]) sub += "\xEF\xBF\xBD"; else sub += char(p[i]);
      }
      bpe_piece(reinterpret_cast<const unsigned char*>(sub.data()), sub.size(), out);
      return;
    }
    bpe_piece(p, n, out);
  }

  void bpe_piece(const unsigned char* p, std::size_t n, std::vector<int32_t>& out) const {
    if (n == 1) {
      out.push_back(byte_id[*p]);
      return;
    }
    if (ignore_merges) {
      const std::string_view key(reinterpret_cast<const char*>(p), n);
      if (const int32_t id = vocab.find(to_byte_level(key)); id >= 0) {
        out.push_back(id);
        return;
      }
    }
    PieceCache::Entry* e = nullptr;
    uint64_t h = 0;
    const uint64_t owner = serial.load(std::memory_order_relaxed);
    if (owner != 0 && n <= PieceCache::kMaxKey) {
      h = fnv1a(p, n);
      e = &PieceCache::slot(h);
      if (e->owner == owner && e->hash == uint32_t(h >> 32) && e->key_len == n &&
          std::memcmp(e->key, p, n) == 0) {
        out.insert(out.end(), e->ids, e->ids + e->n_ids);
        return;
      }
    }
    const std::size_t start = out.size();
    if (n <= options.small_piece_limit) {
      merge_small(p, n, out);
    } else {
      merge_large(p, n, out);
    }
    const std::size_t n_ids = out.size() - start;
    if (e && n_ids <= PieceCache::kMaxIds) {
      e->owner = owner;
      e->hash = uint32_t(h >> 32);
      e->key_len = uint8_t(n);
      e->n_ids = uint8_t(n_ids);
      std::memcpy(e->key, p, n);
      std::memcpy(e->ids, out.data() + start, n_ids * sizeof(int32_t));
    }
  }

  void encode_plain(const unsigned char* p, const unsigned char* end,
                    std::vector<int32_t>& out) const {
    while (p < end) {
      const unsigned char* q = next_piece(p, end);
      encode_piece(p, std::size_t(q - p), out);
      p = q;
    }
  }

  // Splits [p, end) at the trie's tokens (leftmost-longest) and calls
  // piece(begin, end) for the text in between.
  template <class F>
  static void split_added(const AddedTrie& trie, const unsigned char* p, const unsigned char* end,
                          std::vector<int32_t>& out, F&& piece) {
    if (trie.empty()) {
      if (p < end) piece(p, end);
      return;
    }
    const unsigned char* last = p;
    for (const unsigned char* q = p; q < end;) {
      int32_t id = -1;
      const std::size_t len = trie.match(q, end, &id);
      if (len == 0) {
        ++q;
        continue;
      }
      if (last < q) piece(last, q);
      out.push_back(id);
      q += len;
      last = q;
    }
    if (last < end) piece(last, end);
  }

  void encode(std::string_view text, std::vector<int32_t>& out) const {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const auto* end = p + text.size();
    split_added(raw_trie, p, end, out, [&](const unsigned char* a, const unsigned char* b) {
      split_added(norm_trie, a, b, out, [&](const unsigned char* c, const unsigned char* d) {
        encode_plain(c, d, out);
      });
    });
  }
};

// ---- loading ----------------------------------------------------------------

namespace {

// Bytes that no UTF-8 text holds: overlong leads C0 C1 and F5..FF.
bool never_in_utf8(uint8_t b) { return b == 0xC0 || b == 0xC1 || b >= 0xF5; }

[[noreturn]] void bad(const std::string& path, const std::string& what) { fail(path, what); }

int32_t get_id(const std::string& path, const json& v, const std::string& what) {
  if (!v.is_number_integer()) bad(path, what + " has a non-integer id " + v.dump());
  const int64_t id = v.get<int64_t>();
  if (id < 0 || id >= (int64_t{1} << 24))
    bad(path, what + " has an out-of-range id " + std::to_string(id));
  return int32_t(id);
}

void check_supported(const std::string& path, const json& root) {
  if (auto it = root.find("normalizer"); it != root.end() && !it->is_null()) {
    const json& n = *it;
    // NFC is accepted but not applied (see the top of this file).
    if (!n.is_object() || n.value("type", "") != "NFC")
      bad(path, "unsupported normalizer " + brief(n) + " (only NFC or none)");
  }
  auto it = root.find("pre_tokenizer");
  if (it == root.end() || it->is_null())
    bad(path, "no pre_tokenizer (only ByteLevel is implemented)");
  if (!it->is_object() || it->value("type", "") != "ByteLevel")
    bad(path, "unsupported pre_tokenizer " + brief(*it) + " (only ByteLevel is implemented)");
  if (it->value("add_prefix_space", false))
    bad(path, "unsupported pre_tokenizer: ByteLevel with add_prefix_space true");
  if (!it->value("use_regex", true))
    bad(path, "unsupported pre_tokenizer: ByteLevel with use_regex false");
}

// The parsed file: a DOM of everything except model.vocab and model.merges,
// which are streamed into flat vectors (a DOM of 100k small strings costs
// more than all the rest of loading).
struct ParsedFile {
  json root;
  bool has_vocab = false, has_merges = false;
  using Vocab = std::vector<std::pair<std::string, int32_t>>;
  Vocab vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // "a b" strings split later
  std::vector<bool> merge_is_pair;
};

class TokenizerSax final : public nlohmann::json_sax<json> {
 public:
  TokenizerSax(ParsedFile& out, const std::string& path) : out_(out), path_(path) {}

  bool null() override { return scalar(json(nullptr)); }
  bool boolean(bool v) override { return scalar(json(v)); }
  bool number_integer(number_integer_t v) override {
    if (mode_ == Mode::kVocab) return vocab_id(v);
    return scalar(json(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (mode_ == Mode::kVocab) return vocab_id(v > number_unsigned_t(INT64_MAX) ? -1 : int64_t(v));
    return scalar(json(v));
  }
  bool number_float(number_float_t v, const string_t&) override { return scalar(json(v)); }
  bool string(string_t& v) override {
    if (mode_ == Mode::kMerges) {
      out_.merges.emplace_back(std::move(v), std::string());
      out_.merge_is_pair.push_back(false);
      return true;
    }
    if (mode_ == Mode::kMergePair) {
      if (pair_len_ >= 2) bad_merge();
      (pair_len_ == 0 ? out_.merges.back().first : out_.merges.back().second) = std::move(v);
      ++pair_len_;
      return true;
    }
    return scalar(json(std::move(v)));
  }
  bool binary(binary_t&) override { return scalar(json()); }

  bool start_object(std::size_t) override {
    not_in_vocab_or_merges();
    if (in_model() && key_ == "vocab" && !out_.has_vocab) {
      out_.has_vocab = true;
      mode_ = Mode::kVocab;
      return true;
    }
    return open(json::object());
  }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool end_object() override {
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kDom;
      return true;
    }
    return close();
  }
  bool start_array(std::size_t) override {
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kMergePair;
      pair_len_ = 0;
      out_.merges.emplace_back();
      out_.merge_is_pair.push_back(true);
      return true;
    }
    not_in_vocab_or_merges();
    if (in_model() && key_ == "merges" && !out_.has_merges) {
      out_.has_merges = true;
      mode_ = Mode::kMerges;
      return true;
    }
    return open(json::array());
  }
  bool end_array() override {
    if (mode_ == Mode::kMergePair) {
      if (pair_len_ != 2) bad_merge();
      mode_ = Mode::kMerges;
      return true;
    }
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kDom;
      return true;
    }
    return close();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    bad(path_, "not a valid JSON tokenizer file: " + json_error(e));
  }

 private:
  enum class Mode { kDom, kVocab, kMerges, kMergePair };

  // Directly inside the top-level "model" object?
  bool in_model() const {
    return stack_.size() == 2 && stack_[1].second == "model" && stack_[1].first->is_object();
  }
  bool vocab_id(int64_t v) {
    if (v < 0 || v >= (int64_t{1} << 24))
      bad(path_, "vocab entry " + show(key_) + " has an out-of-range id " + std::to_string(v));
    out_.vocab.emplace_back(std::move(key_), int32_t(v));
    return true;
  }
  // A value that is neither a vocab id nor a merge where one is expected.
  void not_in_vocab_or_merges() {
    if (mode_ == Mode::kVocab) bad(path_, "vocab entry " + show(key_) + " has a non-integer id");
    if (mode_ == Mode::kMerges || mode_ == Mode::kMergePair) bad_merge();
  }
  [[noreturn]] void bad_merge() {
    const std::size_t index = out_.merges.size() - (mode_ == Mode::kMergePair ? 1 : 0);
    bad(path_, "merge #" + std::to_string(index) + " is neither \"a b\" nor [\"a\", \"b\"]");
  }
  bool scalar(json&& v) {
    not_in_vocab_or_merges();
    return value(std::move(v));
  }
  json* place(json&& v) {
    if (stack_.empty()) {
      out_.root = std::move(v);
      return &out_.root;
    }
    json& parent = *stack_.back().first;
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    json& slot = parent[key_];
    slot = std::move(v);
    return &slot;
  }
  bool value(json&& v) {
    place(std::move(v));
    return true;
  }
  bool open(json&& v) {
    std::string k = stack_.empty() || stack_.back().first->is_array() ? std::string() : key_;
    json* p = place(std::move(v));
    stack_.emplace_back(p, std::move(k));
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  ParsedFile& out_;
  const std::string& path_;
  Mode mode_ = Mode::kDom;
  std::string key_;
  int pair_len_ = 0;
  std::vector<std::pair<json*, std::string>> stack_;  // open containers and their keys
};

}  // namespace

std::unique_ptr<BpeTokenizer> BpeTokenizer::from_json_text(std::string_view text,
                                                           const std::string& path,
                                                           const BpeOptions& options) {
  ParsedFile parsed;
  {
    TokenizerSax sax(parsed, path);
    try {
      json::sax_parse(text.begin(), text.end(), &sax);
    } catch (const json::exception& e) {
      bad(path, "not a valid JSON tokenizer file: " + json_error(e));
    }
  }
  const json& root = parsed.root;
  if (!root.is_object()) bad(path, "not a tokenizer.json: the top level is not an object");
  auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object())
    bad(path, "not a tokenizer.json: no \"model\" object");
  const json& model = *model_it;
  if (auto t = model.find("type"); t != model.end()) {
    if (!t->is_string() || t->get<std::string>() != "BPE")
      bad(path, "model type is " + brief(*t) + ", only BPE is supported");
  }
  check_supported(path, root);
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it != model.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty()))
      bad(path, std::string("unsupported BPE option \"") + key + "\"");
  }

  auto impl = std::make_unique<Impl>();
  Impl& t = *impl;
  t.path = path;
  t.options = options;
  t.ignore_merges = model.value("ignore_merges", false);

  // Vocabulary.
  if (!parsed.has_vocab) {
    if (model.contains("vocab")) bad(path, "model \"vocab\" is not an object");
    bad(path, "model has no \"vocab\"");
  }
  if (parsed.vocab.empty()) bad(path, "model vocabulary is empty");
  t.vocab.reserve(parsed.vocab.size());
  for (const auto& [token, id] : parsed.vocab) {
    if (t.vocab.has_id(id))
      bad(path, "duplicate id " + std::to_string(id) + " in the vocabulary (" +
                    show(t.vocab.token(id)) + " and " + show(token) + ")");
    if (t.vocab.insert(token, id) >= 0) bad(path, "duplicate vocabulary entry " + show(token));
  }
  { ParsedFile::Vocab().swap(parsed.vocab); }
  t.id_bytes.resize(t.vocab.id_limit());
  for (std::size_t id = 0; id < t.id_bytes.size(); ++id)
    if (t.vocab.has_id(int32_t(id))) t.id_bytes[id] = from_byte_level(t.vocab.token(int32_t(id)));

  // Every byte that can occur in UTF-8 needs its single-character token, or
  // some text is unencodable. The other 13 (C0, C1, F5..FF) are missing from
  // GPT-2 / GPT-NeoX vocabularies; they become U+FFFD (see encode_piece).
  for (int b = 0; b < 256; ++b) {
    std::string s;
    append_utf8(s, byte_level().to_cp[b]);
    if (const int32_t id = t.vocab.find(s); id >= 0) {
      t.byte_id[b] = id;
      continue;
    }
    t.byte_id[b] = -1;
    t.byte_missing[b] = true;
    t.any_byte_missing = true;
    if (!never_in_utf8(uint8_t(b)) || b == 0xEF || b == 0xBF || b == 0xBD) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "the vocabulary lacks the byte-level token for byte 0x%02X", b);
      bad(path, buf);
    }
  }

  // Merges, ranked by order.
  if (!parsed.has_merges) {
    if (model.contains("merges")) bad(path, "model \"merges\" is not an array");
    bad(path, "model has no \"merges\"");
  }
  t.merges.reserve(parsed.merges.size());
  std::string a, b, ab;
  for (std::size_t i = 0; i < parsed.merges.size(); ++i) {
    auto& [first, second] = parsed.merges[i];
    const int32_t rank = int32_t(i);
    const std::string where = "merge #" + std::to_string(rank);
    if (!parsed.merge_is_pair[i]) {
      const std::string& s = first;
      const std::size_t sp = s.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() ||
          s.find(' ', sp + 1) != std::string::npos)
        bad(path, where + " " + show(s) + " is not two tokens separated by one space");
      a.assign(s, 0, sp);
      b.assign(s, sp + 1);
    } else {
      a.swap(first);
      b.swap(second);
    }
    const int32_t ia = t.vocab.find(a);
    if (ia < 0) bad(path, where + " refers to unknown token " + show(a));
    const int32_t ib = t.vocab.find(b);
    if (ib < 0) bad(path, where + " refers to unknown token " + show(b));
    ab.assign(a).append(b);
    const int32_t iab = t.vocab.find(ab);
    if (iab < 0)
      bad(path, where + " (" + show(a) + " + " + show(b) + ") makes " + show(ab) +
                    ", which is not in the vocabulary");
    t.merges.insert(ia, ib, rank, iab);  // duplicates: first rank wins
  }

  // Added tokens.
  if (auto at = root.find("added_tokens"); at != root.end() && !at->is_null()) {
    if (!at->is_array()) bad(path, "\"added_tokens\" is not an array");
    std::unordered_map<int32_t, std::string> added_by_id;
    for (const json& tok : *at) {
      if (!tok.is_object() || !tok.contains("content") || !tok["content"].is_string() ||
          !tok.contains("id"))
        bad(path, "malformed added token " + brief(tok));
      const std::string content = tok["content"].get<std::string>();
      const std::string what = "added token " + show(content);
      if (content.empty()) bad(path, "added token with empty content");
      const int32_t id = get_id(path, tok["id"], what);
      if (auto [it, ok] = added_by_id.emplace(id, content); !ok && it->second != content)
        bad(path, "duplicate id " + std::to_string(id) + " in added_tokens (" + show(it->second) +
                      " and " + show(content) + ")");
      if (t.vocab.has_id(id) && t.id_bytes[id] != content)
        bad(path, what + " has id " + std::to_string(id) + ", which the vocabulary gives to " +
                      show(t.vocab.token(id)));
      if (std::size_t(id) >= t.id_bytes.size()) t.id_bytes.resize(std::size_t(id) + 1);
      t.id_bytes[id] = content;
      t.added.emplace(content, id);
      if (tok.value("normalized", true))
        t.norm_trie.insert(content, id);
      else
        t.raw_trie.insert(content, id);
    }
  }

  t.n_vocab = int32_t(t.id_bytes.size());
  if (auto it = t.added.find("<|endoftext|>"); it != t.added.end()) {
    t.eos = it->second;
  } else {
    t.eos = t.vocab.find("<|endoftext|>");
  }
  t.name = (t.n_vocab == 50277 && t.eos == 0) ? "gpt-neox-bpe" : "byte-level-bpe";
  t.serial = options.use_cache ? Impl::new_serial() : 0;
  return std::unique_ptr<BpeTokenizer>(new BpeTokenizer(std::move(impl)));
}

std::unique_ptr<BpeTokenizer> BpeTokenizer::load(const std::string& path,
                                                 const BpeOptions& options) {
  std::ifstream f(path, std::ios::binary);
  if (!f) bad(path, std::string("cannot open tokenizer file: ") + std::strerror(errno));
  std::string text;
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  if (size < 0) bad(path, "cannot read tokenizer file");
  text.resize(std::size_t(size));
  f.seekg(0);
  f.read(text.data(), size);
  if (!f) bad(path, "cannot read tokenizer file");
  return from_json_text(text, path, options);
}

// ---- the public face ------------------------------------------------------

BpeTokenizer::BpeTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BpeTokenizer::~BpeTokenizer() = default;

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  impl_->encode(text, out);
  return out;
}

void BpeTokenizer::encode_append(std::string_view text, std::vector<int32_t>& out) const {
  impl_->encode(text, out);
}

std::string BpeTokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= impl_->n_vocab) return {};
  return impl_->id_bytes[std::size_t(id)];
}

std::string BpeTokenizer::decode(std::span<const int32_t> ids) const {
  std::string s;
  for (int32_t id : ids)
    if (id >= 0 && id < impl_->n_vocab) s += impl_->id_bytes[std::size_t(id)];
  return s;
}

int32_t BpeTokenizer::vocab_size() const { return impl_->n_vocab; }
int32_t BpeTokenizer::eos_id() const { return impl_->eos; }
std::string BpeTokenizer::name() const { return impl_->name; }

std::vector<std::string_view> BpeTokenizer::pre_tokenize(std::string_view text) const {
  std::vector<std::string_view> pieces;
  const auto* begin = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = begin + text.size();
  for (const unsigned char* p = begin; p < end;) {
    const unsigned char* q = Impl::next_piece(p, end);
    pieces.emplace_back(text.substr(std::size_t(p - begin), std::size_t(q - p)));
    p = q;
  }
  return pieces;
}

bool BpeTokenizer::encodes_exactly(std::string_view text) const {
  return !impl_->has_missing_byte(reinterpret_cast<const unsigned char*>(text.data()), text.size());
}

int32_t BpeTokenizer::added_token_id(std::string_view content) const {
  auto it = impl_->added.find(content);
  return it == impl_->added.end() ? -1 : it->second;
}

int32_t BpeTokenizer::vocab_id(std::string_view token) const {
  return impl_->vocab.find(token);
}

void BpeTokenizer::set_cache_enabled(bool enabled) {
  impl_->options.use_cache = enabled;
  impl_->serial = enabled ? Impl::new_serial() : 0;
}
void BpeTokenizer::clear_cache() const {
  if (impl_->serial.load() != 0) impl_->serial = Impl::new_serial();
}

std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& tokenizer_json_path) {
  return BpeTokenizer::load(tokenizer_json_path);
}

}  // namespace sm
