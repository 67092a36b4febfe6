#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets (clang, ASan + UBSan, coverage on core/ and accel/) into
# build-fuzz/ (the fuzz targets and the CLI only: no tests, no GUI) and runs them.
#   scripts/fuzz.sh --smoke [SECONDS]   every target for SECONDS (default 15): CI's smoke test
#   scripts/fuzz.sh --runs N [TARGET]   every target (or one) until N executions (1000000 for the README)
# Seeds: tests/fuzz/corpus/<target>/ plus the shipped files (models' config.json, safetensors
# headers, the tokenizer, traces written by the CLI); the growing corpora stay in build-fuzz/.
# A finding leaves its input as build-fuzz/findings/<target>/crash-* and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ccache-env.sh
mode=${1:---smoke}
arg=${2:-}
only=${3:-}
bash scripts/install-deps.sh
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
  -DSPECMAMBA_SANITIZE=ON -DSPECMAMBA_FUZZ=ON -DSPECMAMBA_BENCH=OFF -DSPECMAMBA_GUI=OFF \
  -DSPECMAMBA_TESTS=OFF >/dev/null
targets=(fuzz_safetensors fuzz_model_config fuzz_tokenizer_json fuzz_bpe_roundtrip fuzz_tree_shape
         fuzz_chrome_trace fuzz_hdf5_trace fuzz_quant_config fuzz_quantized_safetensors fuzz_dump_reader
         fuzz_platform_json)
[[ -n "$only" ]] && targets=("$only")
B=build-fuzz
mkdir -p $B
cmake --build $B -j"$(nproc)" --target "${targets[@]}" specmamba >$B/build.log 2>&1 ||
  { tail -40 $B/build.log; exit 1; }

# The shipped draft quantized by the CLI (w4a4): its metadata and safetensors seed the
# quantization targets.
quantized_draft() {
  local q=$B/seed-models/mamba2-draft-w4a4
  [[ -f "$q/model.safetensors" ]] || { rm -rf "$q"; mkdir -p "$B/seed-models"
    SPECMAMBA_SIMD=scalar ASAN_OPTIONS=detect_leaks=0 "$B/app/specmamba" quantize data/models/mamba2-draft \
      --preset w4a4 --no-calibrate --out "$q" >/dev/null 2>&1 || true; }
  echo "$q/model.safetensors"
}

# Seed corpora: the committed seeds plus what the project ships.
seed() {
  local t=$1 dir=$B/corpus/$1
  mkdir -p "$dir" "$B/findings/$t"
  cp -n tests/fuzz/corpus/"$t"/* "$dir"/ 2>/dev/null || true
  case $t in
    fuzz_safetensors)
      for f in tests/data/golden/*/*.safetensors data/models/*/model.safetensors; do
        head -c 65536 "$f" >"$dir/$(echo "$f" | tr / _)"   # header + some data
      done ;;
    fuzz_model_config)
      for f in tests/data/golden/*/config.json data/models/*/config.json; do cp "$f" "$dir/$(echo "$f" | tr / _)"; done ;;
    fuzz_tokenizer_json) ;;  # the committed mini tokenizers (the real one is 2 MB: too slow a seed)
    fuzz_bpe_roundtrip) head -c 4000 data/kjv-heldout.txt >"$dir/kjv" ;;
    fuzz_chrome_trace)
      [[ -f "$dir/shipped.json" ]] || SPECMAMBA_SIMD=scalar ASAN_OPTIONS=detect_leaks=0 \
        "$B/app/specmamba" generate --tree 2,1 -n 6 --prompt "In the" --trace "$dir/shipped.json" >/dev/null 2>&1 || true ;;
    fuzz_quant_config)  # the "quantization" metadata of the quantized draft
      local q; q=$(quantized_draft)
      [[ -f "$q" ]] && python3 -c 'import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
sys.stdout.write(json.loads(b[8:8 + n])["__metadata__"]["quantization"])' "$q" >"$dir/shipped-draft-w4a4.json" || true ;;
    fuzz_quantized_safetensors)  # its first 64 KiB (header + some data; -max_len keeps 8 KiB) beside the
      local q; q=$(quantized_draft)  # committed complete tiny checkpoints (tests/fuzz/make_quantized_seeds.py)
      [[ -f "$q" ]] && head -c 65536 "$q" >"$dir/shipped-draft-w4a4" || true ;;
    fuzz_dump_reader) ;;  # structure-aware (HDF5 API calls, not file bytes): the committed seeds only
    fuzz_platform_json)
      for f in data/platforms/*.json; do cp "$f" "$dir/$(echo "$f" | tr / _)"; done ;;
  esac
}

# fuzz_quantized_safetensors, fuzz_dump_reader and fuzz_platform_json write each input to a
# temporary file (the readers take paths): on tmpfs that costs ~70 us, on this disk ~1 ms.
[[ -z "${TMPDIR:-}" && -d /dev/shm && -w /dev/shm ]] && export TMPDIR=/dev/shm
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
for t in "${targets[@]}"; do
  seed "$t"
  if [[ "$mode" == "--smoke" ]]; then
    opts=(-max_total_time="${arg:-15}")
  elif [[ "$mode" == "--runs" ]]; then
    opts=(-runs="${arg:-1000000}")
  else
    echo "usage: scripts/fuzz.sh --smoke [SECONDS] | --runs N [TARGET]" >&2; exit 2
  fi
  log=$B/findings/$t.log
  max_len=8192
  [[ $t == fuzz_bpe_roundtrip ]] && max_len=1024  # encode is linear in the text; short inputs find more per second
  start=$(date +%s)
  if "$B/tests/fuzz/$t" "${opts[@]}" -max_len=$max_len -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
       -artifact_prefix="$B/findings/$t/" "$B/corpus/$t" >"$log" 2>&1; then
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "$t: $execs executions in $(( $(date +%s) - start )) s, no finding"
  else
    echo "$t: FINDING (see $log and $B/findings/$t/)"; tail -30 "$log"; status=1
  fi
done
exit $status
