#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's quantization quality table: held-out bits per byte of the
# shipped draft and target under every preset with rotation on and off, and
# greedy acceptance (`agree`, k = 4) of quantized drafts against quantized and
# fp32 targets. Plain rounding (--no-calibrate) in the first table; the 4-bit
# presets calibrated with GPTQ on data/kjv-calib.txt (`--calibrate`, the
# default of `quantize` for 4-bit weights) in the second. Markdown on stdout.
#   scripts/quant-quality.sh [BUILD_DIR] [HELD_OUT_BYTES]   (default: build, the whole held-out file)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
N=${2:-0}
BIN=$B/app/specmamba
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
TEXT=data/kjv-heldout.txt
if [[ $N -gt 0 ]]; then head -c "$N" "$TEXT" >"$W/held.txt"; TEXT=$W/held.txt; fi
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
bpb() {  # cached in a file (callers run it in a subshell): each directory is evaluated once
  local f="$W/bpb.${1//\//_}"
  [[ -s $f ]] || "$BIN" eval "$1" --text "$TEXT" --json | json 'd["bpb"]' >"$f"
  cat "$f"
}
agree4() { "$BIN" agree "$1" --draft "$2" --text "$TEXT" --k 4 --json | json '[r["mean_accepted"] for r in d["rows"] if r["k"] == 4][0]'; }

CALIB=data/kjv-calib.txt
declare -A dir
for m in draft target; do
  dir[$m/fp32]=data/models/mamba2-$m
  for p in w8a8 w4a8 w4a4; do
    for r in rot norot; do
      flag=""; [[ $r == norot ]] && flag="--no-rotation"
      "$BIN" quantize data/models/mamba2-$m --preset $p $flag --no-calibrate --out "$W/$m-$p-$r" >/dev/null
      dir[$m/$p-$r]=$W/$m-$p-$r
      if [[ $p != w8a8 ]]; then
        "$BIN" quantize data/models/mamba2-$m --preset $p $flag --calibrate $CALIB --out "$W/$m-$p-$r-cal" >/dev/null
        dir[$m/$p-$r-cal]=$W/$m-$p-$r-cal
      fi
    done
  done
done

echo "Held-out bits per byte ($(wc -c <"$TEXT") bytes of data/kjv-heldout.txt); in brackets the change against fp32:"
echo
echo "| model | fp32 | w8a8 rot | w8a8 | w4a8 rot | w4a8 | w4a4 rot | w4a4 |"
echo "|---|---|---|---|---|---|---|---|"
for m in draft target; do
  base=$(bpb "${dir[$m/fp32]}")
  row="| $m | $(printf %.4f "$base")"
  for p in w8a8 w4a8 w4a4; do
    for r in rot norot; do
      v=$(bpb "${dir[$m/$p-$r]}")
      row+=" | $(python3 -c "print(f'{$v:.4f} ({($v-$base)/$base*100:+.2f}%)')")"
    done
  done
  echo "$row |"
done
echo
echo "Calibrated 4-bit weights (GPTQ, \`quantize --calibrate $CALIB\`, the default for 4-bit presets; $(wc -c <$CALIB)"
echo "bytes of the KJV's training part, never the held-out file): held-out bits per byte, in brackets against fp32,"
echo "then the plain-rounding figure above:"
echo
echo "| model | fp32 | w4a8 rot cal | w4a8 cal | w4a4 rot cal | w4a4 cal |"
echo "|---|---|---|---|---|---|"
for m in draft target; do
  base=$(bpb "${dir[$m/fp32]}")
  row="| $m | $(printf %.4f "$base")"
  for p in w4a8 w4a4; do
    for r in rot norot; do
      v=$(bpb "${dir[$m/$p-$r-cal]}"); u=$(bpb "${dir[$m/$p-$r]}")
      row+=" | $(python3 -c "print(f'{$v:.4f} ({($v-$base)/$base*100:+.2f}%; plain {($u-$base)/$base*100:+.2f}%)')")"
    done
  done
  echo "$row |"
done
echo
echo "Greedy acceptance, mean accepted tokens of a 4-token draft chain (\`agree --k 4\`):"
echo
echo "| draft \\ target | fp32 | w8a8 rot | w4a4 rot |"
echo "|---|---|---|---|"
for d in fp32 w8a8-rot w4a8-rot w4a4-rot w4a4-rot-cal; do
  row="| $d"
  for t in fp32 w8a8-rot w4a4-rot; do
    row+=" | $(printf %.3f "$(agree4 "${dir[target/$t]}" "${dir[draft/$d]}")")"
  done
  echo "$row |"
done
echo
echo "Both calibrated (w4a4-rot-cal draft, w4a4-rot-cal target): $(printf %.3f "$(agree4 "${dir[target/w4a4-rot-cal]}" "${dir[draft/w4a4-rot-cal]}")")"
echo
echo "Rotation on a model with outlier channels: the shipped target with 4 channels per layer scaled"
echo "x32 in the norm weight and 1/32 in in_proj (tools/inject_outliers.py; same function in fp32):"
echo
python3 tools/inject_outliers.py data/models/mamba2-target "$W/outliers" >/dev/null
base=$(bpb "$W/outliers")
echo "| model | fp32 | w4a4 rot | w4a4 | loss cut by rotation |"
echo "|---|---|---|---|---|"
for r in rot norot; do
  flag=""; [[ $r == norot ]] && flag="--no-rotation"
  "$BIN" quantize "$W/outliers" --preset w4a4 $flag --no-calibrate --out "$W/outliers-$r" >/dev/null
done
a=$(bpb "$W/outliers-rot"); b=$(bpb "$W/outliers-norot")
python3 -c "print(f'| target + outliers | {$base:.4f} | {$a:.4f} ({($a-$base)/$base*100:+.2f}%) | {$b:.4f} ({($b-$base)/$base*100:+.2f}%) | {(1-($a-$base)/($b-$base))*100:.0f}% |')"
