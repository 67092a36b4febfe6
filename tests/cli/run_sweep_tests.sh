#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end tests of `specmamba sweep` and `specmamba sweep-merge` on the
# shipped models (docs/sweeps.md): results, errors, interruption by a signal
# and resume, shards and their merge, atomic output.
# Usage: run_sweep_tests.sh PATH/TO/specmamba REPO_ROOT
set -u
BIN=$1
ROOT=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_test_lib.sh"

spec() {  # spec FILE JSON
  printf '%s\n' "$2" >"$1"
}

# The configurations of a results file, timings left out: one line per row.
configs_of() {  # configs_of SPEC OUT  (a complete OUT is reported again, not rerun)
  "$BIN" sweep "$1" --out "$2" --json -q | python3 -c '
import json, sys
d = json.load(sys.stdin)
keys = ["config_index", "tree", "verify", "tile", "backtrack", "budget", "preset", "platform",
        "mean_accepted", "generated", "steps", "sim_tokens_per_second", "lut", "fits", "error"]
for r in d["rows"]:
    print(" ".join(str(r[k]) for k in keys))'
}

# ---- help and bad input -------------------------------------------------------
expect_ok "sweep --help names the spec" "SPEC" "$BIN" sweep --help
expect_ok "sweep --help: --jobs timings compete for cores" "compete for cores" "$BIN" sweep --help
expect_ok "sweep --help: --shard takes K from SLURM_ARRAY_TASK_ID" "SLURM_ARRAY_TASK_ID" "$BIN" sweep --help
expect_ok "sweep-merge --help" "PARTS" "$BIN" sweep-merge --help
expect_rc "sweep without --out" 2 "--out is required" "$BIN" sweep "$TMP/none.json"
expect_err "missing spec file" "none.json: cannot open the sweep spec" "$BIN" sweep "$TMP/none.json" --out "$TMP/x.h5"
spec "$TMP/bad.json" '{"prompt": "x", "colour": 3}'
expect_err "unknown key" "unknown key 'colour'" "$BIN" sweep "$TMP/bad.json" --out "$TMP/x.h5"
spec "$TMP/bad.json" '{"prompt": "x", "axes": {"verify": ["fifo", "bfs"]}}'
expect_err "bad verify value" "axes.verify\[1\] 'bfs'" "$BIN" sweep "$TMP/bad.json" --out "$TMP/x.h5"
spec "$TMP/bad.json" '{"prompt": "x", "axes": {"tree": ["2,0"]}}'
expect_err "impossible tree" "axes.tree\[0\] '2,0'" "$BIN" sweep "$TMP/bad.json" --out "$TMP/x.h5"
spec "$TMP/bad.json" '{"prompt": "x", "axes": {"platform": ["zynq9000"]}}'
expect_err "unknown platform" "axes.platform\[0\] 'zynq9000'" "$BIN" sweep "$TMP/bad.json" --out "$TMP/x.h5"
spec "$TMP/bad.json" '{"prompt": "x", "target": "'"$TMP"'/nomodel"}'
expect_err "missing target model" "target model .*nomodel" "$BIN" sweep "$TMP/bad.json" --out "$TMP/x.h5"
spec "$TMP/bad.json" '{"prompt": "x", "max_tokens": 4'
expect_err "not JSON" "not valid JSON" "$BIN" sweep "$TMP/bad.json" --out "$TMP/x.h5"
spec "$TMP/one.json" '{"prompt": "In the beginning", "max_tokens": 8}'
expect_rc "bad shard" 2 "--shard.*K = 3 must be below N = 3" "$BIN" sweep "$TMP/one.json" --shard 3/3 --out "$TMP/x.h5"
expect_rc "shard K from an unset SLURM_ARRAY_TASK_ID" 2 "SLURM_ARRAY_TASK_ID is not set" \
  env -u SLURM_ARRAY_TASK_ID "$BIN" sweep "$TMP/one.json" --shard /3 --out "$TMP/x.h5"
expect_rc "bad --jobs" 2 "jobs" "$BIN" sweep "$TMP/one.json" --jobs 0 --out "$TMP/x.h5"
expect_err "output directory missing" "does not exist" "$BIN" sweep "$TMP/one.json" --out "$TMP/no/such/x.h5"
[[ ! -e $TMP/x.h5 && ! -e $TMP/no ]] && ok || bad "failed sweeps leave no --out"

# ---- a small sweep ------------------------------------------------------------------
spec "$TMP/s.json" '{"prompt": "In the beginning God created", "max_tokens": 16,
  "axes": {"tree": ["1,1,1", "2,2"], "verify": ["fifo", "dfs"], "budget": [0, 100000]}}'
j=$("$BIN" sweep "$TMP/s.json" --out "$TMP/r.h5" --json -q); rc=$?
[[ $rc -eq 0 ]] && ok || bad "sweep exits 0 (rc=$rc): $(head -c 300 <<<"$j")"
[[ $(json_get 'len(d["rows"]) == 8 and d["complete"] and d["computed"] == 8 and d["total_configs"] == 8' <<<"$j") == True ]] \
  && ok || bad "8 rows: $(head -c 300 <<<"$j")"
[[ $(json_get '[r["config_index"] for r in d["rows"]] == list(range(8))' <<<"$j") == True ]] && ok || bad "rows in order"
[[ $(json_get 'all(r["tokens_per_second"] > 0 and r["speedup"] > 0 and r["mean_accepted"] >= 0 and r["sim_tokens_per_second"] > 0 and r["energy_per_token_mj"] > 0 and r["lut"] > 0 and r["fits"] == 1 for r in d["rows"])' <<<"$j") == True ]] \
  && ok || bad "figures in every row"
[[ $(json_get '[(r["tree"], r["verify"], r["budget"]) for r in d["rows"][:3]] == [("1,1,1", "fifo", 0), ("1,1,1", "fifo", 100000), ("1,1,1", "dfs", 0)]' <<<"$j") == True ]] \
  && ok || bad "cross-product order (last axis fastest)"
[[ $(json_get '"bpb" not in d["rows"][0] and d["rows"][0]["preset"] == "fp32" and d["rows"][0]["platform"] == "vck190"' <<<"$j") == True ]] \
  && ok || bad "defaults of missing axes, no bpb without eval_text"
[[ -f $TMP/r.h5 && ! -e $TMP/r.h5.partial ]] && ok || bad "results written, no partial left"
expect_ok "the table" "speedup" "$BIN" sweep "$TMP/s.json" --out "$TMP/r.h5"
expect_ok "a complete sweep is not rerun" '"computed": 0' "$BIN" sweep "$TMP/s.json" --out "$TMP/r.h5" --json -q
spec "$TMP/s2.json" '{"prompt": "In the beginning God created", "max_tokens": 17}'
expect_err "another spec for an existing --out" "r.h5: holds a sweep of a different spec" \
  "$BIN" sweep "$TMP/s2.json" --out "$TMP/r.h5"

# ---- interrupted by a signal, then resumed ------------------------------------------
spec "$TMP/long.json" '{"prompt": "And God said", "max_tokens": 32,
  "axes": {"tree": ["1,1,1", "2,2", "1,1,1,1", "3,1"], "verify": ["fifo", "dfs", "paths"], "budget": [0, 100000]}}'
"$BIN" sweep "$TMP/long.json" --out "$TMP/l.h5" 2>"$TMP/long.err" >/dev/null &
pid=$!
for _ in $(seq 1 600); do
  grep -q '^\[1/24\]' "$TMP/long.err" 2>/dev/null && break
  sleep 0.05
done
kill -INT "$pid" 2>/dev/null
wait "$pid"; rc=$?
[[ $rc -eq 130 ]] && ok || bad "SIGINT stops the sweep with status 130 (rc=$rc): $(tail -c 300 "$TMP/long.err")"
grep -q "sweep interrupted: .* saved in .*l.h5.partial" "$TMP/long.err" && ok || bad "interrupted message: $(tail -c 300 "$TMP/long.err")"
[[ ! -e $TMP/l.h5 && -f $TMP/l.h5.partial ]] && ok || bad "no --out, a partial file after the interruption"
done_before=$(grep -c '^\[[0-9]*/24\]' "$TMP/long.err")
j=$("$BIN" sweep "$TMP/long.json" --out "$TMP/l.h5" --json 2>"$TMP/long2.err"); rc=$?
[[ $rc -eq 0 ]] && ok || bad "resumed sweep exits 0 (rc=$rc): $(tail -c 300 "$TMP/long2.err")"
[[ $(json_get "d['reused'] == $done_before and d['computed'] == 24 - $done_before and len(d['rows']) == 24" <<<"$j") == True ]] \
  && ok || bad "resume reuses the $done_before rows done: $(json_get '(d["reused"], d["computed"])' <<<"$j")"
grep -q "resuming: $done_before of 24 configurations done before" "$TMP/long2.err" && ok || bad "resuming message"
[[ -f $TMP/l.h5 && ! -e $TMP/l.h5.partial ]] && ok || bad "complete after the resume"

# ---- shards and merge -------------------------------------------------------------------
configs_of "$TMP/s.json" "$TMP/r.h5" >"$TMP/whole.txt"
for k in 0 1; do
  "$BIN" sweep "$TMP/s.json" --shard "$k/3" --out "$TMP/part-$k.h5" -q >/dev/null 2>&1 && ok || bad "shard $k/3"
done
# K from the environment, as in a Slurm array task.
SLURM_ARRAY_TASK_ID=2 "$BIN" sweep "$TMP/s.json" --shard /3 --out "$TMP/part-2.h5" --json -q >"$TMP/p2.json" \
  && ok || bad "shard /3 with SLURM_ARRAY_TASK_ID=2"
[[ $(json_get '[r["config_index"] for r in d["rows"]] == [2, 5] and d["shard"] == "2/3"' <"$TMP/p2.json") == True ]] \
  && ok || bad "shard 2/3 runs configurations 2 and 5"
expect_ok "merge" "" "$BIN" sweep-merge "$TMP"/part-0.h5 "$TMP"/part-1.h5 "$TMP"/part-2.h5 --out "$TMP/merged.h5"
configs_of "$TMP/s.json" "$TMP/merged.h5" >"$TMP/merged.txt"
if [[ -s $TMP/merged.txt ]] && diff -q "$TMP/whole.txt" "$TMP/merged.txt" >/dev/null; then ok; else
  bad "merged shards == unsharded sweep: $(diff "$TMP/whole.txt" "$TMP/merged.txt" | head -5)"; fi
expect_err "merge: a part missing" "configurations are in no part: 2, 5" \
  "$BIN" sweep-merge "$TMP"/part-0.h5 "$TMP"/part-1.h5 --out "$TMP/m2.h5"
expect_err "merge: a part twice" "is in both" \
  "$BIN" sweep-merge "$TMP"/part-0.h5 "$TMP"/part-1.h5 "$TMP"/part-2.h5 "$TMP"/part-1.h5 --out "$TMP/m2.h5"
"$BIN" sweep "$TMP/s2.json" --shard 0/1 --out "$TMP/other.h5" -q >/dev/null 2>&1
expect_err "merge: parts of different specs" "other.h5 is from a different spec" \
  "$BIN" sweep-merge "$TMP"/part-0.h5 "$TMP"/part-1.h5 "$TMP"/part-2.h5 "$TMP/other.h5" --out "$TMP/m2.h5"
printf 'not hdf5\n' >"$TMP/junk.h5"
expect_err "merge: not a results file" "junk.h5: not an HDF5 file" "$BIN" sweep-merge "$TMP/junk.h5" --out "$TMP/m2.h5"
[[ ! -e $TMP/m2.h5 ]] && ok || bad "failed merges leave no --out"
ls "$TMP" | grep -q '\.tmp-' && bad "temp files left behind: $(ls "$TMP")" || ok

echo "sweep CLI tests: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
