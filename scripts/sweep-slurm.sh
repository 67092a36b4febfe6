#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a sweep as a Slurm job array (docs/sweeps.md, "On a Slurm cluster"):
# N array tasks, task K running `specmamba sweep SPEC --shard K/N`, and a
# merge job that starts when every task succeeded (afterok) and joins the
# parts into the results file.
#
#   scripts/sweep-slurm.sh SPEC.json N [--out results.h5] [--bin PATH/specmamba]
#                          [--jobs J] [--parts DIR] [-- SBATCH_ARGS...]
#
# --out      the merged results file (default: results.h5 in the current directory)
# --parts    where the shards go (default: OUT.parts/): part-K.h5, slurm-ARRAY_K.log
# --bin      the specmamba binary (default: $SPECMAMBA, else `specmamba` on PATH,
#            else build/app/specmamba of this checkout)
# --jobs     configurations at once inside each task (default 1; sbatch gets
#            --cpus-per-task J)
# after --    further sbatch options for both jobs (--partition, --time, ...)
#
# Prints the job ids as ARRAY_JOB=ID and MERGE_JOB=ID. The tasks share the
# quantized-model cache OUT.cache/. A task that fails (or is cancelled) keeps
# its progress in part-K.h5.partial: resubmitting the same command reruns the
# array, and every task continues where it stopped.
set -euo pipefail

usage() {
  sed -n '4,21p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
die() {
  echo "sweep-slurm.sh: $*" >&2
  exit 2
}

[[ $# -ge 2 ]] || usage
SPEC=$1
N=$2
shift 2
OUT=results.h5
BIN=${SPECMAMBA:-}
JOBS=1
PARTS=
SBATCH_EXTRA=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) [[ $# -ge 2 ]] || die "--out needs a file"; OUT=$2; shift 2 ;;
    --bin) [[ $# -ge 2 ]] || die "--bin needs a path"; BIN=$2; shift 2 ;;
    --jobs) [[ $# -ge 2 ]] || die "--jobs needs a number"; JOBS=$2; shift 2 ;;
    --parts) [[ $# -ge 2 ]] || die "--parts needs a directory"; PARTS=$2; shift 2 ;;
    --) shift; SBATCH_EXTRA=("$@"); break ;;
    -h|--help) usage ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$N'"
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive integer, got '$JOBS'"
[[ -f $SPEC ]] || die "no such spec file: $SPEC"
command -v sbatch >/dev/null || die "sbatch not found: is this a Slurm submit host?"
if [[ -z $BIN ]]; then
  if command -v specmamba >/dev/null; then BIN=$(command -v specmamba)
  else BIN=$(cd "$(dirname "$0")/.." && pwd)/build/app/specmamba; fi
fi
[[ -x $BIN ]] || die "specmamba binary not found or not executable: $BIN (give --bin)"

# The tasks run elsewhere: every path absolute.
abs() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }
[[ -d $(dirname "$OUT") ]] || die "the directory of --out does not exist: $(dirname "$OUT")"
SPEC=$(abs "$SPEC")
OUT=$(abs "$OUT")
BIN=$(abs "$BIN")
[[ -n $PARTS ]] || PARTS=$OUT.parts
mkdir -p "$PARTS"
PARTS=$(cd "$PARTS" && pwd)

# A bad spec fails here, not in N tasks: an impossible shard makes specmamba
# parse and check the spec, then stop at the shard before running anything.
if ! "$BIN" sweep "$SPEC" --out "$PARTS/check.h5" --shard "$N/$N" >/dev/null 2>"$PARTS/check.err"; then
  if ! grep -q -- "--shard" "$PARTS/check.err"; then
    cat "$PARTS/check.err" >&2
    rm -f "$PARTS/check.err"
    exit 1
  fi
fi
rm -f "$PARTS/check.err"

q() { printf '%q' "$1"; }
task_cmd="exec $(q "$BIN") sweep $(q "$SPEC") --shard /$N --jobs $JOBS --cache $(q "$OUT.cache") -q"
task_cmd+=" --out $(q "$PARTS")/part-\${SLURM_ARRAY_TASK_ID}.h5"
parts_list=""
for ((k = 0; k < N; k++)); do parts_list+=" $(q "$PARTS/part-$k.h5")"; done
merge_cmd="exec $(q "$BIN") sweep-merge$parts_list --out $(q "$OUT")"

array_id=$(sbatch --parsable --job-name=sweep --array="0-$((N - 1))" --cpus-per-task="$JOBS" \
  --chdir="$PARTS" --output="$PARTS/slurm-%A_%a.log" "${SBATCH_EXTRA[@]}" --wrap="$task_cmd")
array_id=${array_id%%;*}  # "ID;cluster" on multi-cluster setups
merge_id=$(sbatch --parsable --job-name=sweep-merge --dependency="afterok:$array_id" --kill-on-invalid-dep=yes \
  --chdir="$PARTS" --output="$PARTS/slurm-merge-%j.log" "${SBATCH_EXTRA[@]}" --wrap="$merge_cmd")
merge_id=${merge_id%%;*}
echo "submitted: $N sweep tasks (job array $array_id), merge job $merge_id -> $OUT" >&2
echo "ARRAY_JOB=$array_id"
echo "MERGE_JOB=$merge_id"
