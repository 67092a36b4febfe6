#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end tests of the `specmamba` CLI: outputs, JSON keys, and that bad
# input gives a clear message and a non-zero exit (never a crash).
# Usage: run_cli_tests.sh PATH/TO/specmamba REPO_ROOT
set -u
BIN=$1
ROOT=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_test_lib.sh"
G=$ROOT/tests/data/golden


"$BIN" random-model "$TMP/m1" --shape tiny-mamba1 >/dev/null || bad "random-model mamba1"
"$BIN" random-model "$TMP/m2" --shape tiny-mamba2 >/dev/null || bad "random-model mamba2"
"$BIN" random-model "$TMP/m2b" --shape tiny-mamba2 --seed 2 >/dev/null || bad "random-model draft"

# info
expect_ok "info text" "architecture +mamba1" "$BIN" info "$G/mamba1-hf"
expect_ok "info json" '"parameters"' "$BIN" info "$G/mamba2-ss" --json
expect_ok "info state-spaces naming" "state-spaces" "$BIN" info "$G/mamba1-ss"

# generate
expect_ok "generate streams and reports tok/s" "." "$BIN" generate "$TMP/m2" --prompt "Hello" --max-tokens 8
"$BIN" generate "$TMP/m2" --prompt "Hello" --max-tokens 8 >/dev/null 2>"$TMP/err" && grep -q "tok/s" "$TMP/err" && ok || bad "generate ends with tok/s"
out=$("$BIN" generate "$TMP/m1" --prompt-ids 1,2,3 --max-tokens 5 --json)
[[ $(json_get 'len(d["ids"])' <<<"$out") == 5 ]] && ok || bad "generate --json ids: $out"
for key in text tokens_per_second decode_tokens_per_second prefill_seconds; do
  [[ $(json_get "'$key' in d" <<<"$out") == True ]] && ok || bad "generate --json has $key"
done
a=$("$BIN" generate "$TMP/m1" --prompt-ids 1,2,3 -n 12 --temperature 0.9 --top-k 50 --top-p 0.9 --seed 5 --json | json_get 'd["ids"]')
b=$("$BIN" generate "$TMP/m1" --prompt-ids 1,2,3 -n 12 --temperature 0.9 --top-k 50 --top-p 0.9 --seed 5 --json | json_get 'd["ids"]')
[[ "$a" == "$b" ]] && ok || bad "same seed, same output"
g1=$("$BIN" generate "$TMP/m2" --prompt-ids 5,6 -n 10 --json --threads 1 | json_get 'd["ids"]')
g2=$("$BIN" generate "$TMP/m2" --prompt-ids 5,6 -n 10 --json --threads 2 | json_get 'd["ids"]')
[[ "$g1" == "$g2" ]] && ok || bad "threads do not change greedy output"

# eval
printf 'In the beginning God created the heaven and the earth.\n' >"$TMP/t.txt"
out=$("$BIN" eval "$TMP/m2" --text "$TMP/t.txt" --json)
for key in nll ppl bpb; do
  [[ $(json_get "d['$key'] > 0" <<<"$out") == True ]] && ok || bad "eval --json $key: $out"
done
expect_ok "eval text" "bits per byte" "$BIN" eval "$TMP/m2" --text "$TMP/t.txt"

# bench
out=$("$BIN" bench "$TMP/m2" --threads 1,2 --prompt-tokens 16 --decode-tokens 8 --repeats 1 --json)
[[ $(json_get 'len(d["results"])' <<<"$out") == 2 ]] && ok || bad "bench --json: $out"
[[ -n $(json_get 'd["simd_target"]' <<<"$out") ]] && ok || bad "bench --json simd_target: $out"

# Exit status: 2 for usage errors (the parser's and ours), 1 for runtime errors, 0 for --help.
expect_rc "bad number is a usage error" 2 "max-tokens" "$BIN" generate "$TMP/m2" --max-tokens abc
expect_rc "unknown option is a usage error" 2 "bogus" "$BIN" generate "$TMP/m2" --bogus
expect_rc "missing subcommand is a usage error" 2 "subcommand" "$BIN"
expect_rc "--verify without --draft or --tree" 2 "needs --draft DIR or --tree" "$BIN" generate "$TMP/m2" --verify dfs
expect_rc "missing model is a runtime error" 1 "error" "$BIN" info /nonexistent/model
expect_rc "missing tokenizer path is an error" 1 "no such model directory or tokenizer" "$BIN" tokenize /nonexistent --text hi
"$BIN" --help >/dev/null 2>&1 && ok || bad "--help exits 0"
"$BIN" generate --tree 1,1 --verify dfs -n 4 --prompt "In" --json >/dev/null 2>"$TMP/err" && ok || bad "--tree alone takes --verify: $(cat "$TMP/err")"
"$BIN" generate --tree 2,1 -n 4 --prompt "In" --trace "$TMP/t.json" >/dev/null 2>"$TMP/err" && [[ -s "$TMP/t.json" ]] && ok || bad "--tree alone takes --trace: $(cat "$TMP/err")"

# SIMD dispatch: info names the target, SPECMAMBA_SIMD caps it, a bad level is a clear error
expect_ok "info prints the SIMD target" "simd target +[A-Z0-9_]+" "$BIN" info "$TMP/m2"
out=$(SPECMAMBA_SIMD=scalar "$BIN" info "$TMP/m2" --json)
[[ $(json_get 'd["simd_target"]' <<<"$out") =~ ^(SCALAR|EMU128)$ ]] && ok || bad "SPECMAMBA_SIMD=scalar: $out"
expect_err "unknown SPECMAMBA_SIMD" "unknown SIMD level 'avx9'.*avx512\|avx2\|sse4\|scalar" env SPECMAMBA_SIMD=avx9 "$BIN" info "$TMP/m2"
a=$(SPECMAMBA_SIMD=scalar "$BIN" generate "$TMP/m2" --prompt-ids 5,6 -n 10 --json | json_get 'd["ids"]')
b=$("$BIN" generate "$TMP/m2" --prompt-ids 5,6 -n 10 --json | json_get 'd["ids"]')
[[ -n "$a" && "$a" == "$b" ]] && ok || bad "greedy ids agree across SIMD targets on a random model: $a vs $b"

# tokenize
expect_ok "tokenize known encoding" "^12092,1533$" "$BIN" tokenize "$ROOT/data/gpt-neox-20b-tokenizer.json" --text "Hello world"
expect_ok "tokenize decode" "^Hello world$" "$BIN" tokenize "$ROOT/data/gpt-neox-20b-tokenizer.json" --decode 12092,1533
expect_ok "tokenize json" '"ids"' "$BIN" tokenize "$TMP/m1" --text "abc" --json

# speculative decoding: lossless against target-only greedy, acceptance figures, bench-spec
base=$("$BIN" generate "$TMP/m2" --prompt-ids 5,6,7 -n 24 --json | json_get 'd["ids"]')
for tree in 1,1,1 2,2,1; do
  for verify in fifo dfs paths; do
    out=$("$BIN" generate "$TMP/m2" --draft "$TMP/m2b" --prompt-ids 5,6,7 -n 24 --tree $tree --verify $verify --tile 1 --backtrack hybrid --budget 4096 --json)
    [[ $(json_get 'd["ids"]' <<<"$out") == "$base" ]] && ok || bad "spec generate $tree $verify differs from target-only"
  done
done
for key in mean_accepted tokens_per_pass peak_live_states state_bytes_read redundant_nodes backtrack_bytes_kept replayed_tokens; do
  [[ $(json_get "'$key' in d" <<<"$out") == True ]] && ok || bad "spec generate --json has $key"
done
"$BIN" generate "$TMP/m2" --draft "$TMP/m2b" --prompt-ids 5,6,7 -n 16 --tree 2,1 --trace "$TMP/trace.json" >/dev/null 2>&1
json_get '"traceEvents" in d' <"$TMP/trace.json" | grep -q True && ok || bad "--trace writes Chrome trace JSON"
out=$("$BIN" generate --tree 1,1,1 --prompt "And God said" -n 12 --json)
[[ $(json_get 'd["draft"].endswith("mamba2-draft") and d["mean_accepted"] >= 0' <<<"$out") == True ]] && ok || bad "--tree alone uses the shipped pair"
out=$("$BIN" bench-spec "$TMP/m2" --draft "$TMP/m2b" -n 16 --trees "1,1;2,1" --backtrack replay --repeats 1 --json)
[[ $(json_get 'len(d["rows"]) >= 3' <<<"$out") == True ]] && ok || bad "bench-spec --json rows: $(head -c 300 <<<"$out")"
[[ -n $(json_get 'd["simd_target"]' <<<"$out") ]] && ok || bad "bench-spec --json simd_target"
expect_err "zero tree width" "width" "$BIN" generate "$TMP/m2" --draft "$TMP/m2b" --prompt a --tree 2,0,1
expect_err "unknown verify order" "verify" "$BIN" generate "$TMP/m2" --draft "$TMP/m2b" --prompt a --verify sideways
expect_err "mismatched vocabularies" "vocabularies differ" "$BIN" generate "$G/mamba1-hf" --draft "$TMP/m2" --prompt-ids 1,2 -n 4

# bad input
expect_err "missing model dir" "/nonexistent/model" "$BIN" info /nonexistent/model
expect_err "prompt ids outside vocabulary" "token id 999 is outside the vocabulary" "$BIN" generate "$TMP/m1" --prompt-ids 1,999
expect_err "prompt ids not numbers" "not a token id" "$BIN" generate "$TMP/m1" --prompt-ids 1,x
expect_err "empty prompt" "prompt is empty" "$BIN" generate "$TMP/m1" --prompt ""
expect_err "bad temperature" "temperature" "$BIN" generate "$TMP/m1" --prompt a --temperature -1
expect_err "missing text file" "nofile.txt" "$BIN" eval "$TMP/m1" --text "$TMP/nofile.txt"
cp -r "$TMP/m1" "$TMP/badcfg"; echo '{"model_type": "mamba", "hidden_size": ' >"$TMP/badcfg/config.json"
expect_err "malformed config.json" "config.json" "$BIN" info "$TMP/badcfg"
cp -r "$TMP/m1" "$TMP/llama"; echo '{"model_type": "llama"}' >"$TMP/llama/config.json"
expect_err "unknown architecture" "llama" "$BIN" info "$TMP/llama"
cp -r "$TMP/m1" "$TMP/trunc"; truncate -s 5000 "$TMP/trunc/model.safetensors"
expect_err "truncated safetensors" "model.safetensors" "$BIN" generate "$TMP/trunc" --prompt a
cp -r "$TMP/m1" "$TMP/lie"; python3 - "$TMP/lie/model.safetensors" <<'PY'
import struct, sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[0:8] = struct.pack('<Q', len(b) * 4)   # header length past the end of the file
open(p, 'wb').write(b)
PY
expect_err "header length past the file" "model.safetensors" "$BIN" info "$TMP/lie"
echo 'not json' >"$TMP/tok.json"
expect_err "malformed tokenizer.json" "tok.json" "$BIN" tokenize "$TMP/tok.json" --text hi
cp -r "$TMP/m2" "$TMP/withtok"; echo '{"model": {}}' >"$TMP/withtok/tokenizer.json"
expect_err "model with malformed tokenizer.json" "tokenizer.json" "$BIN" generate "$TMP/withtok" --prompt hi
expect_err "unknown subcommand" "" "$BIN" frobnicate

# activation dumps (generate/eval --dump, dump-info)
expect_ok "generate --dump" "." "$BIN" generate "$TMP/m2" --prompt-ids 5,6,7 -n 6 --dump "$TMP/d.h5" --dump-logits
[[ -f "$TMP/d.h5" && ! -e "$TMP/d.h5.tmp" ]] && ok || bad "generate --dump writes the dump and leaves no temp file"
# 3 prompt tokens + 5 decode steps (the last generated token is never run) = 8 rows.
expect_ok "dump-info lists layers and shapes" "/layers/1/mixer_out +\[8, 64\]" "$BIN" dump-info "$TMP/d.h5"
out=$("$BIN" dump-info "$TMP/d.h5" --json)
[[ $(json_get 'd["attributes"]["format"] == "specmamba-dump" and d["attributes"]["version"] == 1 and d["attributes"]["quantization"]["name"] == "fp32" and d["attributes"]["quantization"]["pot_ssm"] is False and d["attributes"]["rotation"] is False and "spec" not in d["attributes"]' <<<"$out") == True ]] && ok || bad "dump-info --json attributes: $(head -c 300 <<<"$out")"
# fp32: float tensors only (no _codes / _exponent / _unrotated), no rotation table
[[ $(json_get 'not any(x["name"].endswith(("_codes", "_exponent", "_unrotated")) for x in d["datasets"]) and all(x["dtype"] == "float32" for x in d["datasets"] if x["name"].startswith("/layers/")) and d["rotation_outliers"] == []' <<<"$out") == True ]] && ok || bad "fp32 dump has no codes datasets"
[[ $(json_get '{x["name"]: x["shape"] for x in d["datasets"]}["/layers/0/in_proj_in"] == [8, 64]' <<<"$out") == True ]] && ok || bad "dump has in_proj_in"
[[ $(json_get '{x["name"]: x["shape"] for x in d["datasets"]}["/logits"] == [8, 256] and {x["name"]: x["shape"] for x in d["datasets"]}["/tokens"] == [8]' <<<"$out") == True ]] && ok || bad "dump-info --json shapes"
[[ $(json_get 'all(k in [x for x in d["datasets"] if x["name"] == "/layers/0/hidden_in"][0] for k in ("min", "max", "mean", "std", "channel_absmax", "outliers"))' <<<"$out") == True ]] && ok || bad "dump-info --json statistics"
"$BIN" generate "$TMP/m2" --prompt-ids 5,6,7 -n 6 --dump "$TMP/f.h5" --dump-layers 1 --dump-tokens 0-2 --json >/dev/null || bad "generate with dump filters"
out=$("$BIN" dump-info "$TMP/f.h5" --json)
[[ $(json_get 'd["layers"] == [1] and {x["name"]: x["shape"] for x in d["datasets"]}["/layers/1/hidden_in"] == [3, 64] and "/logits" not in [x["name"] for x in d["datasets"]]' <<<"$out") == True ]] && ok || bad "dump filters honoured: $(head -c 300 <<<"$out")"
out=$("$BIN" eval "$TMP/m2" --text "$TMP/t.txt" --dump "$TMP/e.h5" --dump-layers 0 --json)
[[ $(json_get 'd["dump"]' <<<"$out") == "$TMP/e.h5" ]] && ok || bad "eval --dump: $out"
expect_ok "dump-info of an eval dump" "/layers/0/dt" "$BIN" dump-info "$TMP/e.h5"
expect_rc "bad --dump-layers" 2 "--dump-layers: '1,x'|--dump-layers: 'x'" "$BIN" generate "$TMP/m2" --prompt a --dump "$TMP/x.h5" --dump-layers 1,x
expect_rc "--dump-layers past the model" 2 "--dump-layers: layer 9 does not exist" "$BIN" generate "$TMP/m2" --prompt a --dump "$TMP/x.h5" --dump-layers 0,9
expect_rc "bad --dump-tokens" 2 "--dump-tokens" "$BIN" eval "$TMP/m2" --text "$TMP/t.txt" --dump "$TMP/x.h5" --dump-tokens 9-3
expect_rc "--dump-layers without --dump" 2 "--dump-layers needs --dump FILE" "$BIN" generate "$TMP/m2" --prompt a --dump-layers 0
expect_rc "--dump and --trace on one file" 2 "--dump and --trace name the same file" "$BIN" generate "$TMP/m2" --draft "$TMP/m2b" --prompt a --dump "$TMP/x.h5" --trace "$TMP/./x.h5"
expect_rc "speculative --dump-layers past the model" 2 "--dump-layers: layer 9 does not exist" "$BIN" generate "$TMP/m2" --draft "$TMP/m2b" --prompt a --dump "$TMP/x.h5" --dump-layers 0,9
expect_rc "speculative --dump-logits without --dump" 2 "--dump-logits needs --dump FILE" "$BIN" generate "$TMP/m2" --tree 2,1 --prompt a --dump-logits
[[ ! -e "$TMP/x.h5" && ! -e "$TMP/x.h5.tmp" ]] && ok || bad "refused dumps leave no file"

# speculative dumps: the target replayed over the committed sequence equals the plain run's dump
"$BIN" generate "$TMP/m2" --prompt-ids 5,6,7 -n 16 --dump "$TMP/pg.h5" --dump-logits --json >"$TMP/pg.json" || bad "plain generate --dump"
"$BIN" generate "$TMP/m2" --draft "$TMP/m2b" --tree 2,2,1 --verify dfs --prompt-ids 5,6,7 -n 16 --dump "$TMP/sg.h5" --dump-logits --json >"$TMP/sg.json" || bad "speculative generate --dump"
[[ "$(json_get 'd["ids"]' <"$TMP/sg.json")" == "$(json_get 'd["ids"]' <"$TMP/pg.json")" && $(json_get 'd["dump"]' <"$TMP/sg.json") == "$TMP/sg.h5" ]] && ok || bad "speculative --dump: same ids, dump reported"
"$BIN" dump-info "$TMP/pg.h5" --json >"$TMP/pg.info" && "$BIN" dump-info "$TMP/sg.h5" --json >"$TMP/sg.info" || bad "dump-info of the speculative pair"
python3 - "$TMP/pg.info" "$TMP/sg.info" <<'PY' && ok || bad "speculative dump == plain dump (dump-info statistics of every dataset)"
import json, sys
p, s = (json.load(open(f)) for f in sys.argv[1:3])
assert p["datasets"] == s["datasets"], "datasets differ"
sp = s["attributes"].pop("spec")
assert sp["tree"] == "2,2,1" and sp["verify"] == "dfs" and sp["draft"].endswith("m2b"), sp
assert "spec" not in p["attributes"]
for k in ("format", "version", "config", "quantization", "rotation", "tokens_run", "has_logits"):
    assert p["attributes"][k] == s["attributes"][k], k
PY
"$BIN" generate --tree 1,1,1 --prompt "In" -n 6 --dump "$TMP/st.h5" --dump-layers 1 --dump-tokens 0-1 >/dev/null 2>"$TMP/err" && grep -q "replayed over the committed sequence" "$TMP/err" && ok || bad "--tree alone with --dump filters: $(cat "$TMP/err")"
expect_ok "dump-info of a speculative dump shows spec" '^spec +\{' "$BIN" dump-info "$TMP/st.h5"

# quantized dumps (the shipped pair, w4a4 with the PoT SSM): codes and exponents beside the floats; rotation before/after
"$BIN" quantize "$ROOT/data/models/mamba2-target" --preset w4a4 --no-calibrate --out "$TMP/q4" >/dev/null || bad "quantize w4a4"
"$BIN" quantize "$ROOT/data/models/mamba2-draft" --preset w4a4 --no-rotation --no-calibrate --out "$TMP/q4nr" >/dev/null || bad "quantize w4a4 --no-rotation"
"$BIN" generate "$TMP/q4" --prompt-ids 5,6,7 -n 6 --dump "$TMP/q.h5" >/dev/null 2>&1 || bad "generate --dump of a w4a4 model"
"$BIN" dump-info "$TMP/q.h5" --json >"$TMP/q.info" || bad "dump-info of a w4a4 dump"
python3 - "$TMP/q.info" <<'PY' && ok || bad "w4a4 dump: codes datasets, bits, quantization and rotation attributes"
import json, sys
d = json.load(open(sys.argv[1]))
a = d["attributes"]
assert a["quantization"]["name"] == "w4a4" and a["quantization"]["rotation"] is True and a["rotation"] is True
ds = {x["name"]: x for x in d["datasets"]}
for t, bits in (("in_proj_in", 4), ("out_proj_in", 4), ("x", 8), ("B", 8), ("C", 8), ("dt_raw", 8), ("ssm_out", 8)):
    c, e, f = ds["/layers/1/%s_codes" % t], ds["/layers/1/%s_exponent" % t], ds["/layers/1/" + t]
    assert c["dtype"] == "int8" and e["dtype"] == "int8" and c["bits"] == bits, t
    assert c["shape"] == f["shape"] and e["shape"] == [f["shape"][0], f["shape"][1] // c["group"]], t
    q = (1 << (bits - 1)) - 1
    assert -q <= c["min"] <= c["max"] <= q and c["max"] > 0 and 0 <= c["saturated"] <= c["count"], t
assert "/layers/0/out_proj_in_unrotated" in ds and "/layers/0/mixer_out_codes" not in ds
r = d["rotation_outliers"]
assert [x["name"] for x in r] == ["/layers/%d/out_proj_in" % i for i in d["layers"]], r
assert all(x["unrotated"] == x["name"] + "_unrotated" and x["outliers_before"] >= 0 for x in r)
PY
expect_ok "dump-info text: codes bits" "out_proj_in_codes .* 4-bit codes, group 8" "$BIN" dump-info "$TMP/q.h5"
expect_ok "dump-info text: outliers before -> after rotation" "/layers/0/out_proj_in +outliers +[0-9]+ -> [0-9]+" "$BIN" dump-info "$TMP/q.h5"
"$BIN" eval "$TMP/q4nr" --text "$TMP/t.txt" --dump "$TMP/qe.h5" --dump-layers 0 --json >/dev/null || bad "eval --dump of an unrotated w4a4 model"
out=$("$BIN" dump-info "$TMP/qe.h5" --json)
[[ $(json_get 'd["attributes"]["rotation"] is False and d["rotation_outliers"] == [] and "/layers/0/out_proj_in_codes" in [x["name"] for x in d["datasets"]] and not any(x["name"].endswith("_unrotated") for x in d["datasets"])' <<<"$out") == True ]] && ok || bad "unrotated w4a4 dump: codes, no _unrotated"
"$BIN" generate "$TMP/q4" --draft "$TMP/q4nr" --tree 2,1 --prompt-ids 5,6,7 -n 8 --dump "$TMP/qs.h5" --json >/dev/null || bad "speculative --dump with quantized models"
"$BIN" generate "$TMP/q4" --prompt-ids 5,6,7 -n 8 --dump "$TMP/qp.h5" --json >/dev/null || bad "quantized plain --dump"
a=$("$BIN" dump-info "$TMP/qs.h5" --json | json_get 'd["datasets"]'); b=$("$BIN" dump-info "$TMP/qp.h5" --json | json_get 'd["datasets"]')
[[ -n "$a" && "$a" == "$b" ]] && ok || bad "quantized speculative dump == plain dump"
expect_err "dump-info of a missing file" "$TMP/none.h5: no such file" "$BIN" dump-info "$TMP/none.h5"
expect_err "dump-info of a text file" "t.txt: not an HDF5 file" "$BIN" dump-info "$TMP/t.txt"
"$BIN" generate "$TMP/m2" --draft "$TMP/m2b" --prompt-ids 5,6,7 -n 4 --tree 2,1 --trace "$TMP/trace.h5" >/dev/null 2>&1
expect_err "dump-info of a trace" "not a SpecMamba activation dump" "$BIN" dump-info "$TMP/trace.h5"
head -c 3000 "$TMP/d.h5" >"$TMP/trunc.h5"
expect_err "dump-info of a truncated dump" "trunc.h5" "$BIN" dump-info "$TMP/trunc.h5"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
