#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end tests of `specmamba devices` (the CPU backends and the XRT boards).
# Usage: run_devices_tests.sh PATH/TO/specmamba REPO_ROOT
# Without a board (this project's test machines) the command still exits 0 and says why.
set -u
BIN=$1
ROOT=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_test_lib.sh"

expect_ok "devices lists cpu" "^  cpu " "$BIN" devices
expect_ok "devices lists emu" "^  emu " "$BIN" devices
expect_ok "devices lists boards or the reason" "^  (\[[0-9]+\]|none: .+)" "$BIN" devices
out=$("$BIN" devices); rc=$?
[[ $rc -eq 0 ]] && ok || bad "devices exits 0 (rc=$rc)"
if ! grep -qE '^  \[[0-9]+\]' <<<"$out"; then
  grep -qE 'none: .*(no FPGA board found|XILINX_XRT is not set|cannot load its driver library|no XRT support)' <<<"$out" \
    && ok || bad "devices names why there is no board: $out"
fi
# The same whatever XILINX_XRT says: unset, or a folder without XRT.
expect_ok "devices, XILINX_XRT unset" "none: |^  \[" env -u XILINX_XRT "$BIN" devices
expect_ok "devices, XILINX_XRT bogus" "none: |^  \[" env XILINX_XRT="$TMP/nothing" "$BIN" devices

json=$("$BIN" devices --json); rc=$?
[[ $rc -eq 0 ]] && ok || bad "devices --json exits 0 (rc=$rc)"
if python3 -c 'import json,sys; json.load(sys.stdin)' <<<"$json" 2>/dev/null; then ok; else bad "devices --json is JSON: $(head -c 300 <<<"$json")"; fi
[[ $(json_get '[b["name"] for b in d["backends"]][:2] == ["cpu", "emu"]' <<<"$json") == True ]] && ok || bad "backends cpu, emu"
[[ $(json_get 'isinstance(d["boards"], list)' <<<"$json") == True ]] && ok || bad "boards is a list"
[[ $(json_get 'isinstance(d["xrt"]["available"], bool) and isinstance(d["xrt"]["reason"], str)' <<<"$json") == True ]] \
  && ok || bad "xrt.available (bool) and xrt.reason (string)"
[[ $(json_get 'd["xrt"]["available"] == (len(d["boards"]) > 0)' <<<"$json") == True ]] && ok || bad "available iff boards"
[[ $(json_get 'd["xrt"]["available"] or len(d["xrt"]["reason"]) > 0' <<<"$json") == True ]] && ok || bad "a reason when no board"
json=$(env XILINX_XRT="$TMP/nothing" "$BIN" devices --json)
[[ $(json_get 'd["xrt"]["available"] or "driver library" in d["xrt"]["reason"] or "no FPGA board" in d["xrt"]["reason"] or "no XRT support" in d["xrt"]["reason"]' <<<"$json") == True ]] \
  && ok || bad "bogus XILINX_XRT reason: $(json_get 'd["xrt"]["reason"]' <<<"$json")"
expect_ok "devices --help" "devices" "$BIN" devices --help

# generate --device: the same quantized model gives the same tokens on cpu and emu,
# plain and speculative; xrt without a board falls back to emu and says why.
T=$ROOT/data/models/mamba2-target
D=$ROOT/data/models/mamba2-draft
"$BIN" quantize "$T" --preset w4a4 --no-calibrate --out "$TMP/qt" >/dev/null 2>&1 && ok || bad "quantize target"
"$BIN" quantize "$D" --preset w4a4 --no-calibrate --out "$TMP/qd" >/dev/null 2>&1 && ok || bad "quantize draft"
ids() { json_get 'd["ids"]'; }
cpu=$("$BIN" generate "$TMP/qt" --prompt "And God said" -n 24 --ignore-eos --device cpu --json | ids)
emu=$("$BIN" generate "$TMP/qt" --prompt "And God said" -n 24 --ignore-eos --device emu --json | ids)
[[ -n $cpu && $cpu == "$emu" ]] && ok || bad "emu tokens == cpu tokens: $cpu vs $emu"
spec=$("$BIN" generate "$TMP/qt" --draft "$TMP/qd" --tree 2,2,1 --prompt "And God said" -n 24 --ignore-eos \
  --device emu --json | ids)
[[ $spec == "$cpu" ]] && ok || bad "speculative on emu == cpu target alone: $spec vs $cpu"
j=$("$BIN" generate "$TMP/qt" --prompt "And God said" -n 8 --device emu --json)
[[ $(json_get 'd["device"] == "emu" and d["device_info"]["ssm_tokens"] > 0 and d["device_info"]["linear_calls"] > 0' <<<"$j") == True ]] \
  && ok || bad "device / device_info in --json: $(head -c 300 <<<"$j")"
[[ $(json_get 'd["device"] == "cpu" and "device_info" not in d' <<<"$(
  "$BIN" generate "$TMP/qt" --prompt "And" -n 2 --json)") == True ]] && ok || bad "cpu is the default"
if ! grep -qE '^  \[[0-9]+\]' <<<"$out"; then
  xrt=$("$BIN" generate "$TMP/qt" --prompt "And God said" -n 24 --ignore-eos --device xrt --json 2>"$TMP/xerr" | ids)
  [[ $xrt == "$cpu" ]] && ok || bad "xrt without a board runs on emu: $xrt"
  grep -qE '^specmamba: xrt: .+; running on emu$' "$TMP/xerr" && ok || bad "fallback says why: $(cat "$TMP/xerr")"
  [[ $("$BIN" generate "$TMP/qt" --prompt "And" -n 2 --device xrt --json 2>/dev/null | json_get 'd["device"] + " " + d["device_info"]["requested"]') == "emu xrt" ]] \
    && ok || bad "device_info.requested xrt, device emu"
fi
expect_err "emu on an fp32 model" "specmamba quantize" "$BIN" generate "$T" --prompt "And" -n 2 --device emu
expect_err "emu with an fp32 draft" "mamba2-draft.*|specmamba quantize" "$BIN" generate "$TMP/qt" --draft "$D" --prompt "And" -n 2 --device emu
expect_err "xrt with a missing xclbin" "nothing.xclbin" "$BIN" generate "$TMP/qt" --prompt "And" -n 2 --device xrt --xclbin "$TMP/nothing.xclbin"
echo garbage >"$TMP/bad.xclbin"
expect_err "xrt with a garbage xclbin" "bad.xclbin.*not an xclbin" "$BIN" generate "$TMP/qt" --prompt "And" -n 2 --device xrt --xclbin "$TMP/bad.xclbin"
expect_rc "--xclbin without --device xrt" 2 "needs --device xrt" "$BIN" generate "$TMP/qt" --prompt "And" -n 2 --xclbin "$TMP/bad.xclbin"
expect_rc "unknown device" 2 "device" "$BIN" generate "$TMP/qt" --prompt "And" -n 2 --device gpu

# Simulated accelerator time: a device run with speculation runs the dataflow model per step,
# puts its pipeline ops (DeviceOp) into the trace and reports simulated tokens/s.
j=$("$BIN" generate "$TMP/qt" --draft "$TMP/qd" --tree 2,2,1 --prompt "And God said" -n 24 --ignore-eos \
  --device emu --trace "$TMP/pipe.json" --json 2>"$TMP/err")
[[ $(json_get 'd["simulated_tokens_per_second"] > 0 and d["simulated_seconds"] > 0 and d["tokens_per_second"] > 0' <<<"$j") == True ]] \
  && ok || bad "simulated_tokens_per_second in --json: $(head -c 300 <<<"$j") $(head -c 300 "$TMP/err")"
[[ $(json_get 'd["ids"]' <<<"$j") == "$cpu" ]] && ok || bad "the simulation leaves the tokens alone"
res=$(python3 - "$TMP/pipe.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
ev = t["traceEvents"]
ops = [e for e in ev if e.get("name") == "DeviceOp"]
lanes = {e["args"]["lane"] for e in ops}
steps = [e for e in ev if e.get("name") == "StepSummary"]
names = {e["args"]["name"] for e in ev if e.get("ph") == "M" and e.get("pid") == 2 and e["name"] == "thread_name"}
ok = (len(ops) > 0 and {"dma", "linear", "ssm"} <= lanes and lanes <= names and len(steps) > 0
      and all(e["pid"] == 2 and e["ts"] >= 0 for e in ops)
      and all(s["args"]["sim_us"] > 0 for s in steps)
      and "vck190" in t["metadata"]["sim_device"] and float(t["metadata"]["sim_tokens_per_second"]) > 0)
print(ok)
PY
)
[[ $res == True ]] && ok || bad "the Chrome trace holds DeviceOp events on pid 2 and StepSummary.sim_us: $res"
j5=$("$BIN" generate "$TMP/qt" --draft "$TMP/qd" --tree 2,2,1 --prompt "And God said" -n 24 --ignore-eos \
  --device emu --platform u280 --trace "$TMP/pipe.h5" --json 2>"$TMP/err")
[[ $(json_get 'd["simulated_tokens_per_second"] > 0 and "u280" in d["simulated_device"]' <<<"$j5") == True ]] \
  && ok || bad "--platform u280 with an HDF5 trace: $(head -c 300 <<<"$j5") $(head -c 300 "$TMP/err")"
if python3 -c 'import h5py' 2>/dev/null; then
  [[ $(python3 -c '
import h5py, sys
f = h5py.File(sys.argv[1], "r")
d = f["/events/device_op"]
s = f["/events/step_summary"]
lanes = {x.decode() for x in d["lane"]}
print(len(d) > 0 and {"dma", "linear", "ssm"} <= lanes and (s["sim_us"] > 0).all())' "$TMP/pipe.h5") == True ]] \
    && ok || bad "the HDF5 trace holds /events/device_op and step_summary.sim_us"
else  # no h5py: the dataset and field names are plain bytes in the file's object headers
  grep -qa device_op "$TMP/pipe.h5" && grep -qa sim_us "$TMP/pipe.h5" && grep -qa step_sim_start_us "$TMP/pipe.h5" \
    && ok || bad "the HDF5 trace has /events/device_op and step_summary.sim_us"
fi
# Without --trace the figure is still there; a cpu run has none.
[[ $(json_get 'd["simulated_tokens_per_second"] > 0 and "trace" not in d' <<<"$(
  "$BIN" generate "$TMP/qt" --draft "$TMP/qd" --tree 2,2,1 --prompt "And" -n 8 --device emu --json)") == True ]] \
  && ok || bad "simulated_tokens_per_second without --trace"
[[ $(json_get '"simulated_tokens_per_second" not in d' <<<"$(
  "$BIN" generate "$TMP/qt" --draft "$TMP/qd" --tree 2,2,1 --prompt "And" -n 8 --json)") == True ]] \
  && ok || bad "no simulated figures on cpu"
"$BIN" generate "$TMP/qt" --draft "$TMP/qd" --tree 2,2,1 --prompt "And" -n 8 --device emu >/dev/null 2>"$TMP/err" \
  && grep -qE 'simulated [0-9.]+ tok/s on vck190' "$TMP/err" && ok || bad "the text summary has the simulated tok/s: $(cat "$TMP/err")"
expect_err "--platform bogus names the platforms" "bogus.*vck190|vck190.*bogus" \
  "$BIN" generate "$TMP/qt" --draft "$TMP/qd" --tree 2,2,1 --prompt "And" -n 2 --device emu --platform bogus
expect_rc "--platform without a device" 2 "--platform needs --device" \
  "$BIN" generate "$TMP/qt" --draft "$TMP/qd" --prompt "And" -n 2 --platform vck190
expect_rc "--platform without speculation" 2 "--platform needs --draft" \
  "$BIN" generate "$TMP/qt" --prompt "And" -n 2 --device emu --platform vck190

echo "devices CLI tests: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
