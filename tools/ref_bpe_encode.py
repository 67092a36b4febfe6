#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Independent reference encoder for a Hugging Face byte-level BPE
tokenizer.json (GPT-2 / GPT-NeoX style), written only against the standard
library so the golden vectors in tests/data/tokenizer_golden.json can be
regenerated without the `tokenizers` package.

It deliberately shares no code or design with core/tokenizer/bpe_tokenizer.cpp:
  * the pre-tokenizer is Python's `re` engine (backtracking, real lookahead)
    running the GPT-2 pattern, with \\p{L}, \\p{N} and \\s spelled out as
    explicit character classes built from `unicodedata`;
  * BPE is the original GPT-2 `bpe()` loop (merge every occurrence of the
    lowest-ranked pair, repeat), over byte-level strings;
  * added tokens are split out first, leftmost-longest, in two passes like
    tokenizers' AddedVocabulary (non-normalized tokens on the raw text, then
    normalized tokens on the NFC-normalized remaining pieces).

Usage:
  ref_bpe_encode.py TOKENIZER_JSON --text "some text"    print the ids
  ref_bpe_encode.py TOKENIZER_JSON --golden OUT.json      write golden vectors
"""
import argparse
import json
import re
import sys
import unicodedata

WHITE_SPACE = (set(range(0x09, 0x0E)) | {0x20, 0x85, 0xA0, 0x1680} | set(range(0x2000, 0x200B))
               | {0x2028, 0x2029, 0x202F, 0x205F, 0x3000})


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def class_ranges(pred):
    out, start = [], None
    for cp in range(0x110001):
        inside = cp <= 0x10FFFF and pred(cp)
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            out.append((start, cp - 1))
            start = None
    return "".join(re.escape(chr(a)) if a == b else "%s-%s" % (re.escape(chr(a)), re.escape(chr(b)))
                   for a, b in out)


def gpt2_pattern():
    letters = class_ranges(lambda cp: unicodedata.category(chr(cp)).startswith("L"))
    numbers = class_ranges(lambda cp: unicodedata.category(chr(cp)).startswith("N"))
    spaces = class_ranges(lambda cp: cp in WHITE_SPACE)
    L, N, S = "[%s]" % letters, "[%s]" % numbers, "[%s]" % spaces
    other = "[^%s%s%s]" % (spaces, letters, numbers)
    not_space = "[^%s]" % spaces
    # 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    pat = r"'s|'t|'re|'ve|'m|'ll|'d| ?%s+| ?%s+| ?%s+|%s+(?!%s)|%s+" % (L, N, other, S, not_space, S)
    return re.compile(pat, re.DOTALL)


class RefTokenizer:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        model = tj["model"]
        assert model["type"] == "BPE"
        self.vocab = model["vocab"]
        self.ranks = {}
        for i, m in enumerate(model["merges"]):
            pair = tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
            self.ranks.setdefault(pair, i)
        self.b2u = bytes_to_unicode()
        self.added_raw = {}   # normalized == False
        self.added_norm = {}  # normalized == True
        for t in tj.get("added_tokens", []):
            (self.added_norm if t.get("normalized", True) else self.added_raw)[t["content"]] = t["id"]
        self.nfc = (tj.get("normalizer") or {}).get("type") == "NFC"
        self.pat = gpt2_pattern()

    @staticmethod
    def split_added(text, table):
        """[(piece, id or None)], leftmost-longest matches of table's keys."""
        out, i, last = [], 0, 0
        keys = sorted(table, key=len, reverse=True)
        while i < len(text):
            hit = next((k for k in keys if k and text.startswith(k, i)), None)
            if hit is None:
                i += 1
                continue
            if last < i:
                out.append((text[last:i], None))
            out.append((hit, table[hit]))
            i += len(hit)
            last = i
        if last < len(text):
            out.append((text[last:], None))
        return out

    def bpe(self, token):
        word = tuple(token)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        return [self.vocab[w] for w in word]

    def encode(self, text):
        ids = []
        for piece, tid in self.split_added(text, self.added_raw):
            if tid is not None:
                ids.append(tid)
                continue
            if self.nfc:
                piece = unicodedata.normalize("NFC", piece)
            for sub, sid in self.split_added(piece, self.added_norm):
                if sid is not None:
                    ids.append(sid)
                    continue
                for m in self.pat.finditer(sub):
                    bl = "".join(self.b2u[b] for b in m.group(0).encode("utf-8"))
                    ids.extend(self.bpe(bl))
        return ids


GOLDEN_TEXTS = [
    "Hello world",
    "The",
    " the",
    "",
    " ",
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times, it was the age of wisdom, "
    "it was the age of foolishness, it was the epoch of belief.",
    "The GNU General Public License is a free, copyleft license for\nsoftware and other "
    "kinds of works.\n",
    "def foo(x):\n    return x * 2\n\n\nclass Bar:\n        pass\n",
    "int main() {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}\n",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
    "https://example.com/path/to?q=1&r=two#frag",
    "1234567",
    "3.14159 2,718 1e-9 0x1F 1000000 42nd",
    "don't I'll we've they're she's he'd I'm",
    "DON'T I'LL 'S ''s 'x rock'n'roll",
    "a  b",
    "a   b    c     d",
    "x   !",
    "a  \n  b",
    "\t\tindented\n\n\nnewlines\r\nwindows\r\n",
    "   leading and trailing   ",
    "\n\n\n",
    "\t \t  \t",
    " " * 24 + "x",
    " " * 25 + "x",
    " " * 50,
    " " * 60 + "end",
    "!!! ??? ... --- === *** >>> <<< ((()))",
    "Café naïve résumé façade Ångström Øresund Ærø",
    "你好，世界！这是一个测试。",
    "日本語のテキストとカタカナ、ひらがな。",
    "안녕하세요 세계",
    "Привет, мир! Съешь же ещё этих мягких французских булок.",
    "Καλημέρα κόσμε",
    "مرحبا بالعالم ١٢٣",
    "नमस्ते दुनिया",
    "I \u2764\ufe0f emoji \U0001F600\U0001F389",
    "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466 family \U0001F3F3\ufe0f\u200d\U0001F308",
    "\U0001F44D\U0001F3FD thumbs",
    "q\u0307 q\u0323\u0308 a\u0332b\u0332 Z\u0324\u0354\u0367algo",
    "non-breaking\u00a0space and\u3000ideographic\u2003em",
    "\u2211 x\u00b2 \u2264 \u221e \u00bd \u2160\u2161",
    "<|endoftext|>",
    "Hello<|endoftext|>world<|padding|> x",
    "<|endoftext <|endoftext|><|endoftext|>",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "| a | b |\n|---|---|\n| 1 | 2 |\n",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokenizer_json")
    ap.add_argument("--text")
    ap.add_argument("--golden")
    args = ap.parse_args()
    tok = RefTokenizer(args.tokenizer_json)
    if args.text is not None:
        print(tok.encode(args.text))
    if args.golden:
        cases = []
        for t in GOLDEN_TEXTS:
            # The C++ tokenizer skips NFC (it keeps decode(encode(s)) == s), so
            # the golden inputs must already be NFC to be comparable with HF.
            if unicodedata.normalize("NFC", t) != t:
                sys.exit("golden text is not NFC: %r" % t)
            cases.append({"text": t, "ids": tok.encode(t)})
        with open(args.golden, "w", encoding="utf-8") as f:
            json.dump({"tokenizer": "gpt-neox-20b-tokenizer.json",
                       "generator": "tools/ref_bpe_encode.py",
                       "unicode_version": unicodedata.unidata_version,
                       "cases": cases}, f, ensure_ascii=False, indent=1)
            f.write("\n")
        print("wrote %d cases to %s" % (len(cases), args.golden))


if __name__ == "__main__":
    main()
