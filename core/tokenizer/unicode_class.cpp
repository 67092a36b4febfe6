// SPDX-License-Identifier: Apache-2.0
#include "core/tokenizer/unicode_class.h"

#include <algorithm>
#include <array>

namespace sm::unicode {
namespace {

struct UnicodeRange {
  char32_t first;
  char32_t last;
  CharClass cls;
};
constexpr CharClass kLetter = CharClass::Letter;
constexpr CharClass kNumber = CharClass::Number;
constexpr CharClass kSpace = CharClass::Space;

#include "core/tokenizer/unicode_tables.inc"

constexpr bool table_is_sorted() {
  for (std::size_t i = 0; i < std::size(kUnicodeRanges); ++i) {
    if (kUnicodeRanges[i].first > kUnicodeRanges[i].last) return false;
    if (i > 0 && kUnicodeRanges[i - 1].last >= kUnicodeRanges[i].first) return false;
  }
  return true;
}
static_assert(table_is_sorted(), "unicode_tables.inc must hold sorted, disjoint ranges");

constexpr CharClass lookup(char32_t cp) {
  // First range whose last >= cp.
  std::size_t lo = 0, hi = std::size(kUnicodeRanges);
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (kUnicodeRanges[mid].last < cp) lo = mid + 1; else hi = mid;
  }
  if (lo < std::size(kUnicodeRanges) && kUnicodeRanges[lo].first <= cp) return kUnicodeRanges[lo].cls;
  return CharClass::Other;
}

constexpr std::array<uint8_t, 0x800> make_low() {
  std::array<uint8_t, 0x800> a{};
  for (char32_t c = 0; c < 0x800; ++c) a[c] = static_cast<uint8_t>(lookup(c));
  return a;
}
}  // namespace

namespace detail {
constinit const std::array<uint8_t, 0x800> kLowClass = make_low();
}  // namespace detail

CharClass classify_slow(char32_t cp) {
  if (cp < 0x800) return static_cast<CharClass>(detail::kLowClass[cp]);
  if (cp > 0x10FFFF) return CharClass::Other;
  return lookup(cp);
}

const char* table_version() { return kUnicodeVersion; }

}  // namespace sm::unicode
