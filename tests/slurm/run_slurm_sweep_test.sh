#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A sweep as a Slurm job array, for real: starts a one-node Slurm cluster on
# localhost (munged, slurmctld, slurmd with a generated munge key and
# slurm.conf, all state under a temp dir), runs scripts/sweep-slurm.sh on a
# small spec with 3 shards, waits for the dependent merge job, checks that
# the merged file holds the same configurations as a local unsharded sweep
# (settings and acceptance, not timings), and stops the daemons.
#
# Usage: run_slurm_sweep_test.sh PATH/TO/specmamba REPO_ROOT
# Needs root and Debian's slurm-wlm and munge (apt-get install -y slurm-wlm
# munge); exits 77 (ctest: skipped) without them. ctest: configure with
# -DSPECMAMBA_SLURM_TESTS=ON and run `ctest -L slurm`.
set -u
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROOT=$(cd "$2" && pwd)
N=3

skip() {
  echo "SKIP: $*"
  exit 77
}
[[ $(id -u) -eq 0 ]] || skip "needs root (slurmd runs jobs as their users)"
for b in munged slurmctld slurmd sbatch squeue scontrol sinfo; do
  command -v "$b" >/dev/null || skip "$b not found (apt-get install -y slurm-wlm munge)"
done

TMP=$(mktemp -d /tmp/specmamba-slurm.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  if [[ ${KEEP_TMP:-0} == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
fail_with() {
  echo "FAIL: $*"
  for f in "$TMP"/log/*.log "$TMP"/res.h5.parts/*.log; do
    [[ -f $f ]] && { echo "---- $f"; tail -n 30 "$f"; }
  done
  exit 1
}

# Ports nobody listens on (a session may run other clusters).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
mkdir -p "$TMP"/{munge,state,spool,log,run}

# ---- munge ------------------------------------------------------------------------
dd if=/dev/urandom of="$TMP/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$TMP/munge/munge.key"
chmod 711 "$TMP/munge"  # clients need to reach the socket
MUNGE_SOCKET=$TMP/munge/munge.socket
munged --force --foreground --key-file="$TMP/munge/munge.key" --socket="$MUNGE_SOCKET" \
  --pid-file="$TMP/munge/munged.pid" --log-file="$TMP/log/munged.log" --seed-file="$TMP/munge/munged.seed" \
  >"$TMP/log/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [[ -S $MUNGE_SOCKET ]] && break; sleep 0.1; done
[[ -S $MUNGE_SOCKET ]] || fail_with "munged did not start"

# ---- slurm.conf ----------------------------------------------------------------------
MEM=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
export SLURM_CONF=$TMP/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=specmamba-test
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
SlurmctldPidFile=$TMP/run/slurmctld.pid
SlurmdPidFile=$TMP/run/slurmd.pid
SlurmctldLogFile=$TMP/log/slurmctld.log
SlurmdLogFile=$TMP/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
SlurmdTimeout=60
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -D -i -f "$SLURM_CONF" >"$TMP/log/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -N localhost -f "$SLURM_CONF" >"$TMP/log/slurmd.out" 2>&1 &
PIDS+=($!)
state=
for _ in $(seq 1 300); do
  state=$(sinfo -h -N -o '%t' 2>/dev/null | head -1)
  [[ $state == idle* ]] && break
  sleep 0.2
done
[[ $state == idle* ]] || fail_with "the node did not come up (state '$state')"
echo "slurm up: slurmctld :$CTLD_PORT, slurmd :$SLURMD_PORT, node localhost $state"

# ---- the sweep -------------------------------------------------------------------------
SPEC=$TMP/spec.json
cat >"$SPEC" <<'EOF'
{"prompt": "In the beginning God created", "max_tokens": 16,
 "axes": {"tree": ["1,1,1", "2,2"], "verify": ["fifo", "dfs"], "budget": [0, 100000], "platform": ["vck190", "u280"]}}
EOF
out=$(bash "$ROOT/scripts/sweep-slurm.sh" "$SPEC" "$N" --out "$TMP/res.h5" --bin "$BIN" 2>"$TMP/submit.err") \
  || fail_with "sweep-slurm.sh failed: $(cat "$TMP/submit.err")"
cat "$TMP/submit.err"
ARRAY_JOB=$(sed -n 's/^ARRAY_JOB=//p' <<<"$out")
MERGE_JOB=$(sed -n 's/^MERGE_JOB=//p' <<<"$out")
[[ -n $ARRAY_JOB && -n $MERGE_JOB ]] || fail_with "no job ids in: $out"
deps=$(scontrol show job "$MERGE_JOB" | grep -o 'Dependency=[^ ]*')
[[ $deps == *"afterok:$ARRAY_JOB"* ]] || fail_with "the merge job does not depend on the array (afterok): $deps"

merge_state() { scontrol show job "$MERGE_JOB" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
st=
for _ in $(seq 1 1500); do
  st=$(merge_state)
  case $st in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|DEADLINE) break ;; esac
  sleep 0.2
done
[[ $st == COMPLETED ]] || fail_with "merge job $MERGE_JOB ended $st"
tasks=$(scontrol show job "$ARRAY_JOB" | grep -c 'JobState=COMPLETED')
[[ $tasks -eq $N ]] || fail_with "$tasks of $N array tasks COMPLETED"
[[ -f $TMP/res.h5 ]] || fail_with "no merged results file"
for ((k = 0; k < N; k++)); do
  [[ -f $TMP/res.h5.parts/part-$k.h5 ]] || fail_with "no part-$k.h5"
done

# The configurations (not the timings) of the merged file and of a local, unsharded sweep.
configs_of() {
  "$BIN" sweep "$SPEC" --out "$1" --json -q | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["complete"] and d["shard"] == "0/1", d["shard"]
keys = ["config_index", "tree", "verify", "tile", "backtrack", "budget", "preset", "platform",
        "mean_accepted", "generated", "steps", "sim_tokens_per_second", "energy_per_token_mj", "lut", "fits", "error"]
for r in d["rows"]:
    print(" ".join(str(r[k]) for k in keys))'
}
configs_of "$TMP/res.h5" >"$TMP/merged.txt" || fail_with "cannot read the merged file"
"$BIN" sweep "$SPEC" --out "$TMP/local.h5" -q >/dev/null 2>"$TMP/local.err" || fail_with "local sweep: $(cat "$TMP/local.err")"
configs_of "$TMP/local.h5" >"$TMP/local.txt"
rows=$(wc -l <"$TMP/local.txt")
[[ $rows -eq 16 ]] || fail_with "local sweep has $rows rows, not 16"
diff "$TMP/local.txt" "$TMP/merged.txt" >"$TMP/diff.txt" || fail_with "merged != local: $(head -20 "$TMP/diff.txt")"
echo "PASS: $N-task job array $ARRAY_JOB + merge job $MERGE_JOB (afterok) == local sweep ($rows configurations)"
