# shellcheck shell=bash
# tap-lib.sh: what every shell test shares; sourced, not run:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/../tap-lib.sh"
#
#   - TAP output: ok, not_ok, skip, todo, check, run + expect, bail_out, and
#     finish or finish_with_log (the plan at the end, and the exit status
#     meson reads);
#   - skipping a whole test (TAP "1..0 # SKIP"): skip_all, require_tools,
#     and tls_require, for which SC_REQUIRE_TLS_TOOLS=1 (CI) turns a missing
#     tool into a failure;
#   - waits that are hang guards, not timing assertions: wait_for polls up
#     to WAIT_TRIES times, 0.1 s apart (600, a minute, unless the script
#     sets WAIT_TRIES, not readonly, before sourcing this), and wait_exit;
#     alive and gone;
#   - exec_on_private_bus: the script again under dbus-run-session;
#   - the environment: English messages, and no proxy for 127.0.0.1 (GIO's
#     libproxy module, C++, aborts under AddressSanitizer).
#
# run and expect keep their files in $tmp, which the caller makes (and
# removes).
#
# SPDX-License-Identifier: LGPL-2.1-or-later

readonly WAIT_TRIES=${WAIT_TRIES:-600}

export LC_ALL=C.UTF-8 LANGUAGE=
export GIO_USE_PROXY_RESOLVER=dummy

# ---- TAP -------------------------------------------------------------------------

n=0      # tests so far
failed=0 # of them failed
rc=0     # the status of the last run or wait_exit

ok () {
  n=$((n + 1))
  echo "ok $n - $1"
}
# tap_diag DETAIL...: each DETAIL as TAP diagnostics ("# " before each line).
tap_diag () {
  local line
  for line in "$@"; do
    printf '%s\n' "$line" | sed 's/^/# /'
  done
}
# not_ok DESCRIPTION [DETAIL...]: a failure; each DETAIL is shown as TAP
# diagnostics.
not_ok () {
  n=$((n + 1))
  failed=$((failed + 1))
  echo "not ok $n - $1"
  shift
  tap_diag "$@"
}
# skip DESCRIPTION REASON: one test skipped (TAP SKIP).
skip () {
  n=$((n + 1))
  echo "ok $n - $1 # SKIP $2"
}
# todo DESCRIPTION REASON [DETAIL...]: a known failure (TAP TODO): reported,
# not counted as a failure.
todo () {
  local what=$1 reason=$2
  shift 2
  n=$((n + 1))
  echo "not ok $n - $what # TODO $reason"
  tap_diag "$@"
}
# check DESCRIPTION CMD...: passes when CMD succeeds. CMD's standard output
# is discarded: it would mix with the TAP stream.
check () {
  local what=$1
  shift
  if "$@" >/dev/null; then ok "$what"; else not_ok "$what" "failed: $*"; fi
}
# run NAME CMD...: runs CMD; its standard output in $tmp/NAME.out, its
# standard error in $tmp/NAME.err, its status in $rc.
# shellcheck disable=SC2154 # $tmp is the caller's
run () {
  local name=$1
  shift
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  rc=$?
}
# expect DESCRIPTION STATUS NAME [PATTERN...]: the last run (or wait_exit)
# ended with STATUS, and $tmp/NAME.out and $tmp/NAME.err (either may be
# missing) together match every extended regex PATTERN.
expect () {
  local what=$1 status=$2 name=$3 pattern all
  shift 3
  all=$(cat "$tmp/$name.out" "$tmp/$name.err" 2>/dev/null)
  if [[ $rc -ne $status ]]; then
    not_ok "$what" "exit status $rc, expected $status" "$all"
    return
  fi
  for pattern in "$@"; do
    if ! grep -Eq -- "$pattern" <<<"$all"; then
      not_ok "$what" "no match for: $pattern" "$all"
      return
    fi
  done
  ok "$what"
}
# bail_out REASON [FILE...]: stops the test (TAP "Bail out!"), showing each
# FILE that exists as TAP diagnostics.
bail_out () {
  local f
  echo "Bail out! $1"
  shift
  for f in "$@"; do
    [[ -f $f ]] && sed 's/^/# /' "$f"
  done
  exit 1
}
# finish: the plan, and the status meson reads (1 when a test failed). Call
# it last: its status is the script's. (It does not exit: a script that
# ends in exit has shellcheck take its EXIT trap for unreachable code.)
finish () {
  [[ $failed -eq 0 ]] || echo "# $failed test(s) failed"
  echo "1..$n"
  [[ $failed -eq 0 ]]
}
# finish_with_log DAEMON_LOG: the same, with DAEMON_LOG shown as TAP
# diagnostics when a test failed.
finish_with_log () {
  if [[ $failed -ne 0 ]]; then
    echo "# $failed test(s) failed; securecommd said:"
    sed 's/^/#   /' "$1"
  fi
  echo "1..$n"
  [[ $failed -eq 0 ]]
}

# ---- skipping a whole test ---------------------------------------------------------

# skip_all REASON: the test cannot run here: TAP "1..0 # SKIP", exit 0.
skip_all () {
  echo "1..0 # SKIP $*"
  exit 0
}
# missing_tools TOOL...: prints the TOOLs that are not installed; fails when
# there is one.
missing_tools () {
  local tool missing=()
  for tool in "$@"; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  echo "${missing[*]}"
  return 1
}
# require_tools TOOL...: every TOOL must be installed, else the test is
# skipped as a whole.
require_tools () {
  local missing
  missing=$(missing_tools "$@") || skip_all "not installed: $missing"
}
# tls_require TOOL...: the same for the TLS tests' outside tools, unless
# SC_REQUIRE_TLS_TOOLS=1 (CI installs them all, so there a missing tool is
# a failure).
tls_require () {
  local missing
  missing=$(missing_tools "$@") && return 0
  if [[ ${SC_REQUIRE_TLS_TOOLS:-0} == 1 ]]; then
    echo "Bail out! not installed: $missing (SC_REQUIRE_TLS_TOOLS=1)"
    exit 1
  fi
  skip_all "not installed: $missing"
}

# exec_on_private_bus "$@": unless done already, runs this script again, with
# the same arguments, under dbus-run-session (a private session bus that
# ends with it). Call it after the checks that may skip the test.
exec_on_private_bus () {
  if [[ -z ${SC_TEST_ON_PRIVATE_BUS:-} ]]; then
    SC_TEST_ON_PRIVATE_BUS=1 exec dbus-run-session -- bash "$0" "$@"
  fi
}

# ---- waits -----------------------------------------------------------------------

# wait_for CMD...: polls until CMD succeeds; fails after WAIT_TRIES tries.
wait_for () {
  local _
  for _ in $(seq "$WAIT_TRIES"); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}
alive () { kill -0 "$1" 2>/dev/null; }
gone () { ! kill -0 "$1" 2>/dev/null; }
# wait_exit PID: waits for the child PID to end; sets $rc to its status.
# Fails when it still ran after WAIT_TRIES (it is then killed, and $rc is
# the status of that).
wait_exit () {
  local still_running=0
  wait_for gone "$1" || still_running=1
  [[ $still_running -eq 0 ]] || kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  rc=$?
  return $still_running
}
