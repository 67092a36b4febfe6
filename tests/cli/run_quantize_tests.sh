#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end tests of `specmamba quantize` and of every command on its output.
# Usage: run_quantize_tests.sh PATH/TO/specmamba REPO_ROOT
set -u
BIN=$1
ROOT=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_test_lib.sh"

T=$ROOT/data/models/mamba2-target
D=$ROOT/data/models/mamba2-draft
head -c 1500 "$ROOT/data/kjv-heldout.txt" >"$TMP/held.txt"

expect_ok "quantize w4a4 (default group 64 for d_model 192)" "w4a4 \+ rotation, weights 4-bit g64" \
  "$BIN" quantize "$T" --preset w4a4 --out "$TMP/t4"
expect_ok "quantize draft w4a4" "wrote" "$BIN" quantize "$D" --preset w4a4 --out "$TMP/d4"
out=$("$BIN" quantize "$T" --preset w8a8 --no-rotation --group 32 --head-bits 16 --out "$TMP/t8" --json)
[[ $(json_get 'd["quantization"]["linear_weights"]["group"]' <<<"$out") == 32 ]] && ok || bad "--group 32: $out"
[[ $(json_get 'd["quantization"]["rotation"]' <<<"$out") == False ]] && ok || bad "--no-rotation: $out"
[[ $(json_get 'd["quantization"]["lm_head_weights"]["bits"]' <<<"$out") == 16 ]] && ok || bad "--head-bits 16: $out"
for key in bytes_in bytes_out decode_bytes weight_rel_error_mean kept_fp32 notes; do
  [[ $(json_get "'$key' in d" <<<"$out") == True ]] && ok || bad "quantize --json has $key"
done

# Every command loads the result like any model.
expect_ok "info names the quantization" "quantization w4a4 \+ rotation" "$BIN" info "$TMP/t4"
[[ $("$BIN" info "$TMP/t4" --json | json_get 'd["quantization"]["name"]') == w4a4 ]] && ok || bad "info --json quantization"
expect_ok "generate" "." "$BIN" generate "$TMP/t4" --prompt "And God said" -n 8
expect_ok "eval" "bits per byte" "$BIN" eval "$TMP/t4" --text "$TMP/held.txt"
expect_ok "bench" "decode" "$BIN" bench "$TMP/t4" --prompt-tokens 16 --decode-tokens 8 --repeats 1
a=$("$BIN" generate "$TMP/t4" --prompt "And God said" -n 24 --json | json_get 'd["ids"]')
b=$("$BIN" generate "$TMP/t4" --draft "$TMP/d4" --tree 2,2,1 --prompt "And God said" -n 24 --json | json_get 'd["ids"]')
[[ -n "$a" && "$a" == "$b" ]] && ok || bad "greedy speculative w4a4 pair == w4a4 target alone: $a vs $b"
c=$("$BIN" generate "$T" --draft "$TMP/d4" --tree 1,1,1 --prompt "And God said" -n 24 --json | json_get 'd["ids"]')
e=$("$BIN" generate "$T" --prompt "And God said" -n 24 --json | json_get 'd["ids"]')
[[ -n "$c" && "$c" == "$e" ]] && ok || bad "quantized draft, fp32 target == fp32 target alone"
expect_ok "agree quantized draft vs quantized target" "." "$BIN" agree "$TMP/t4" --draft "$TMP/d4" --text "$TMP/held.txt" --k 4
expect_ok "bench-spec" "." "$BIN" bench-spec "$TMP/t4" --draft "$TMP/d4" -n 16 --trees 1,1 --repeats 1

# dump-diff: fp32 against itself, against its rotated w4a4 (one basis), bad input.
"$BIN" generate "$T" --prompt "And God said" -n 6 --dump "$TMP/f1.h5" >/dev/null 2>&1 || bad "dump f1"
"$BIN" generate "$T" --prompt "And God said" -n 6 --dump "$TMP/f2.h5" >/dev/null 2>&1 || bad "dump f2"
"$BIN" generate "$TMP/t4" --prompt "And God said" -n 6 --dump "$TMP/q4.h5" >/dev/null 2>&1 || bad "dump q4"
expect_ok "dump-diff of equal runs" "no difference beyond 0" "$BIN" dump-diff "$TMP/f1.h5" "$TMP/f2.h5"
out=$("$BIN" dump-diff "$TMP/f1.h5" "$TMP/q4.h5" --json)
[[ $(json_get 'd["differs"] and d["bases_differ"] and d["first"]["layer"] == 0 and d["first"]["dataset"] == "/layers/0/in_proj_out" and "/layers/0/hidden_in" in d["other_basis"] and all(x["name"] != "/layers/0/hidden_in" for x in d["datasets"])' <<<"$out") == True ]] && ok ||
  bad "dump-diff fp32 vs rotated w4a4 compares in one basis: $(head -c 400 <<<"$out")"
expect_ok "dump-diff text names the rotation" "not compared \(rotated basis\): hidden_in, in_proj_in" "$BIN" dump-diff "$TMP/q4.h5" "$TMP/f1.h5"
out=$("$BIN" dump-diff "$TMP/f1.h5" "$TMP/q4.h5" --tol 1e9 --json)
[[ $(json_get 'not d["differs"] and d["first"] is None' <<<"$out") == True ]] && ok || bad "dump-diff --tol 1e9: nothing beyond"
"$BIN" generate "$D" --prompt "And God said" -n 6 --dump "$TMP/dd.h5" >/dev/null 2>&1 || bad "dump dd"
expect_rc "dump-diff of different shapes" 1 "different model shapes" "$BIN" dump-diff "$TMP/f1.h5" "$TMP/dd.h5"
expect_rc "dump-diff of a missing file" 1 "$TMP/none.h5: no such file" "$BIN" dump-diff "$TMP/f1.h5" "$TMP/none.h5"
expect_rc "dump-diff of a text file" 1 "$TMP/held.txt" "$BIN" dump-diff "$TMP/f1.h5" "$TMP/held.txt"
expect_rc "dump-diff negative --tol" 2 "tol" "$BIN" dump-diff "$TMP/f1.h5" "$TMP/f2.h5" --tol -1

# Bad input: clear messages, the right exit codes, nothing overwritten.
expect_rc "group 128 does not divide d_model 192" 1 "does not divide d_model 192 \(try --group 64\)" \
  "$BIN" quantize "$T" --preset w4a4 --group 128 --out "$TMP/x"
[[ ! -e "$TMP/x" ]] && ok || bad "a failed quantize left $TMP/x"
expect_rc "existing output" 1 "already exists" "$BIN" quantize "$T" --preset w4a4 --out "$TMP/t4"
expect_rc "quantizing a quantized model" 1 "already quantized" "$BIN" quantize "$TMP/t4" --preset w4a4 --out "$TMP/y"
expect_rc "unknown preset" 1 "unknown preset 'w2a2'" "$BIN" quantize "$T" --preset w2a2 --out "$TMP/z"
expect_rc "--out is required" 2 "out" "$BIN" quantize "$T" --preset w4a4
expect_rc "--group on fp32" 2 "--group needs a quantized preset" "$BIN" quantize "$T" --preset fp32 --group 64 --out "$TMP/z"
expect_rc "bad LUT size" 1 "lut.exp: 1000 is not a power of two" "$BIN" quantize "$T" --preset w4a4 --lut 1000 --out "$TMP/z"

# Calibrated weights (GPTQ, --calibrate; the default for 4-bit presets, docs/quantization.md).
CAL=$ROOT/data/kjv-calib.txt
expect_ok "quantize --calibrate" "calibrated \(GPTQ\) 4 tensors" \
  "$BIN" quantize "$D" --preset w4a4 --calibrate "$CAL" --calib-bytes 8192 --out "$TMP/dc"
expect_ok "info loads the calibrated model" "quantization w4a4 \+ rotation.*gptq-act-aware-calibrated \(kjv-calib.txt" \
  "$BIN" info "$TMP/dc"
[[ $("$BIN" info "$TMP/dc" --json | json_get 'd["quantization"]["calibration"]["method"]') == gptq-act-aware ]] && ok ||
  bad "info --json quantization.calibration"
expect_ok "eval the calibrated model" "bits per byte" "$BIN" eval "$TMP/dc" --text "$TMP/held.txt"
out=$("$BIN" quantize "$D" --preset w4a8 --no-rotation --calibrate "$CAL" --calib-bytes 4096 --json --out "$TMP/dc8")
[[ $(json_get 'd["calibrated_tensors"]' <<<"$out") == 4 ]] && ok || bad "--calibrate --json calibrated_tensors: $out"
[[ $(json_get 'd["quantization"]["calibration"]["method"]' <<<"$out") == gptq ]] && ok || bad "w4a8 calibrates with plain gptq: $out"
[[ $(json_get 'd["quantization"]["calibration"]["bytes"] <= 4096' <<<"$out") == True ]] && ok || bad "--calib-bytes: $out"
out=$("$BIN" quantize "$D" --preset w4a4 --json --out "$TMP/ddef")
[[ $(json_get 'd["calib_text"].endswith("kjv-calib.txt") and d["calibrated_tensors"] == 4' <<<"$out") == True ]] && ok ||
  bad "4-bit presets calibrate on data/kjv-calib.txt by default: $out"
out=$("$BIN" quantize "$D" --preset w4a4 --no-calibrate --json --out "$TMP/dplain")
[[ $(json_get '"calibration" not in d["quantization"] and d["calibrated_tensors"] == 0' <<<"$out") == True ]] && ok ||
  bad "--no-calibrate: plain rounding, no calibration key: $out"
out=$("$BIN" quantize "$D" --preset w8a8 --json --out "$TMP/d8")
[[ $(json_get '"calibration" not in d["quantization"]' <<<"$out") == True ]] && ok || bad "w8a8 is not calibrated by default: $out"
expect_rc "--calibrate a missing file" 1 "$TMP/no-such-calib.txt" \
  "$BIN" quantize "$D" --preset w4a4 --calibrate "$TMP/no-such-calib.txt" --out "$TMP/z"
[[ ! -e "$TMP/z" ]] && ok || bad "a failed calibrated quantize left $TMP/z"
: >"$TMP/empty.txt"
expect_rc "--calibrate an empty file" 1 "$TMP/empty.txt: the calibration text is empty" \
  "$BIN" quantize "$D" --preset w4a4 --calibrate "$TMP/empty.txt" --out "$TMP/z"
expect_rc "--calibrate with --no-calibrate" 2 "exclude each other" \
  "$BIN" quantize "$D" --preset w4a4 --calibrate "$CAL" --no-calibrate --out "$TMP/z"
expect_rc "--calibrate on fp32" 2 "--calibrate needs a quantized preset" \
  "$BIN" quantize "$D" --preset fp32 --calibrate "$CAL" --out "$TMP/z"
ls "$TMP" | grep -q -- '\.calib-\|\.partial-' && bad "scratch directories left in $TMP" || ok

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
