#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end tests of `specmamba simulate` (the dataflow model).
# Usage: run_simulate_tests.sh PATH/TO/specmamba REPO_ROOT
set -u
BIN=$1
ROOT=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_test_lib.sh"
# Here the pattern may match stdout too (simulate's figures go there).
expect_rc() {
  local name=$1 want=$2 pat=$3; shift 3
  "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
  if [[ $rc -eq $want ]] && grep -qE -- "$pat" "$TMP/err" "$TMP/out"; then ok; else bad "$name (rc=$rc, want $want): $(head -c 400 "$TMP/err")"; fi
}

out=$("$BIN" simulate --platform vck190 --shape mamba2-2.7b --bits w4a4 --tile 8x8 --ssm-par 8 --clock 400 --json)
for key in tokens_per_second latency_ms units utilisation resources power_w energy_per_token_mj; do
  [[ $(json_get "'$key' in d" <<<"$out") == True ]] && ok || bad "simulate --json has $key"
done
for key in dsp lut bram uram; do
  [[ $(json_get "'$key' in d['resources']" <<<"$out") == True ]] && ok || bad "resources has $key"
done
[[ $(json_get '6.1 < d["tokens_per_second"] < 8.3' <<<"$out") == True ]] && ok || bad "vck190 tok/s near 7.21: $(json_get 'd["tokens_per_second"]' <<<"$out")"
out=$("$BIN" simulate --platform vhk158 --shape mamba2-2.7b --draft-shape mamba2-130m --tree 4,2,2 --acceptance 0.7 --json)
[[ $(json_get '"speedup" in d and d["speedup"] > 0' <<<"$out") == True ]] && ok || bad "speculative speedup"
[[ $(json_get 'len(d["speculative"]["state_traffic"]) == 3' <<<"$out") == True ]] && ok || bad "state_traffic per order"
echo '{"rows":[{"k":1,"mean_accepted":0.7},{"k":3,"mean_accepted":1.6}]}' >"$TMP/agree.json"
expect_rc "acceptance file" 0 "speedup" "$BIN" simulate --platform vck190 --draft-shape mamba2-130m --tree 2,2 --acceptance "$TMP/agree.json"
expect_rc "text output" 0 "tokens/s" "$BIN" simulate --platform u280 --units 16 --hadamard-unroll 64
mkdir -p "$TMP/model" && cp "$ROOT/data/models/mamba2-target/config.json" "$TMP/model/" 2>/dev/null && \
  expect_rc "model directory shape" 0 "tokens/s" "$BIN" simulate --platform vck190 --shape "$TMP/model" --tile 8x8
expect_rc "unknown platform" 1 "unknown platform 'nosuch'" "$BIN" simulate --platform nosuch
expect_rc "unknown shape" 1 "unknown model shape 'mamba-9b'" "$BIN" simulate --shape mamba-9b
expect_rc "tile 0x8" 1 "tile: rows and cols must be >= 1 \(got 0x8\)" "$BIN" simulate --tile 0x8
expect_rc "tile syntax" 2 "usage error: --tile" "$BIN" simulate --tile eight
expect_rc "bad bits" 2 "usage error: --bits" "$BIN" simulate --bits w3a3
expect_rc "does not fit" 1 "does not fit vck190: LUT" "$BIN" simulate --tile 256x256 --units 8
expect_rc "clock too high" 1 "exceeds vck190's limit" "$BIN" simulate --clock 900
expect_rc "bad acceptance" 1 "acceptance" "$BIN" simulate --draft-shape mamba2-130m --acceptance 1.5
expect_rc "bad tree" 1 "tree" "$BIN" simulate --draft-shape mamba2-130m --tree 4,x

echo "simulate CLI tests: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
