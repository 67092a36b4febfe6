// SPDX-License-Identifier: Apache-2.0
#pragma once
// The few Unicode facts the GPT-2 / GPT-NeoX pre-tokenizer needs: whether a
// code point is a letter (\p{L}), a number (\p{N}), white space (\s, the
// White_Space property) or anything else, plus a lenient UTF-8 decoder.
// Tables are generated offline by tools/gen_unicode_tables.py.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sm::unicode {

enum class CharClass : uint8_t { Other = 0, Letter = 1, Number = 2, Space = 3 };

// Class of a code point; anything above U+10FFFF is Other.
CharClass classify_slow(char32_t cp);  // binary search over the range table

namespace detail {
extern const std::array<uint8_t, 0x800> kLowClass;
}

inline CharClass classify(char32_t cp) {
  if (cp < 0x800) return static_cast<CharClass>(detail::kLowClass[cp]);
  return classify_slow(cp);
}

// The Unicode version of the tables (e.g. "14.0.0").
const char* table_version();

// One "character" of a byte string. A well-formed UTF-8 sequence (shortest
// form, no surrogates, <= U+10FFFF) decodes to its code point; every other
// byte is a character of its own, with valid = false (class Other).
struct Utf8Char {
  char32_t cp;  // the code point, or the byte value when !valid
  uint32_t len;  // bytes consumed, 1..4
  bool valid;
};

inline Utf8Char decode_utf8(const unsigned char* p, const unsigned char* end) {
  const unsigned char b0 = p[0];
  if (b0 < 0x80) return {b0, 1, true};
  const std::ptrdiff_t avail = end - p;
  auto cont = [](unsigned char b) { return (b & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (avail >= 2 && cont(p[1])) return {char32_t((b0 & 0x1F) << 6 | (p[1] & 0x3F)), 2, true};
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (avail >= 3 && cont(p[1]) && cont(p[2])) {
      const char32_t cp = char32_t((b0 & 0x0F) << 12 | (p[1] & 0x3F) << 6 | (p[2] & 0x3F));
      if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) return {cp, 3, true};
    }
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (avail >= 4 && cont(p[1]) && cont(p[2]) && cont(p[3])) {
      const char32_t cp = char32_t((b0 & 0x07) << 18 | (p[1] & 0x3F) << 12 | (p[2] & 0x3F) << 6 |
                                   (p[3] & 0x3F));
      if (cp >= 0x10000 && cp <= 0x10FFFF) return {cp, 4, true};
    }
  }
  return {b0, 1, false};
}

// Class of the character starting at p (invalid bytes are Other).
inline CharClass classify_at(const unsigned char* p, const unsigned char* end, uint32_t* len) {
  if (p[0] < 0x80) {
    *len = 1;
    return static_cast<CharClass>(detail::kLowClass[p[0]]);
  }
  const Utf8Char c = decode_utf8(p, end);
  *len = c.len;
  return c.valid ? classify(c.cp) : CharClass::Other;
}

}  // namespace sm::unicode
