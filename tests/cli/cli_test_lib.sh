# SPDX-License-Identifier: Apache-2.0
# Shared by the CLI test scripts (sourced): counters, expectations and JSON access.
# Needs $TMP (a scratch directory) set by the caller.
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect_ok NAME PATTERN CMD... : exit 0 and stdout matches PATTERN
expect_ok() {
  local name=$1 pat=$2; shift 2
  local out
  out=$("$@" 2>"$TMP/err") ; local rc=$?
  if [[ $rc -eq 0 ]] && grep -qE -- "$pat" <<<"$out"; then ok; else bad "$name (rc=$rc): $(head -c 300 <<<"$out") $(head -c 300 "$TMP/err")"; fi
}
# expect_err NAME PATTERN CMD... : exit 1 (not a signal) and stderr matches PATTERN
expect_err() {
  local name=$1 pat=$2; shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
  if [[ $rc -ge 1 && $rc -lt 128 ]] && grep -qE -- "$pat" "$TMP/err"; then ok; else bad "$name (rc=$rc): $(head -c 400 "$TMP/err")"; fi
}
# expect_rc NAME RC PATTERN CMD... : exit status RC exactly and stderr matches PATTERN
expect_rc() {
  local name=$1 want=$2 pat=$3; shift 3
  "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
  if [[ $rc -eq $want ]] && grep -qE -- "$pat" "$TMP/err"; then ok; else bad "$name (rc=$rc, want $want): $(head -c 400 "$TMP/err")"; fi
}
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
