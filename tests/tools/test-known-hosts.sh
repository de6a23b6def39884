#!/usr/bin/env bash
# securecomm --known-hosts: the first connection records the server's key,
# the next ones must match it, and a changed key is refused with an error
# that names both fingerprints and the file. Real daemon, private bus. TAP.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
# shellcheck source-path=SCRIPTDIR source=../tap-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tap-lib.sh"

exec_on_private_bus "$@"
sc=${SC_TOOLS_SECURECOMM:?}
daemon=${SC_TOOLS_SECURECOMMD:?}
ctl=${SC_TOOLS_SECURECOMMCTL:?}
tmp=$(mktemp -d)

SECURECOMMD_PASSPHRASE=x "$daemon" --session --port 0 --state-dir "$tmp/state" \
  >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
trap 'kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 300); do
  "$ctl" status >"$tmp/status" 2>/dev/null && break
  sleep 0.1
done
fp=$(grep -Eo '[0-9a-f]{64}' "$tmp/status" | head -1)
port=$(grep -Eo '127\.0\.0\.1:[0-9]+' "$tmp/status" | head -1 | cut -d: -f2)
check "the daemon is up (fingerprint and port known)" test -n "$fp" -a -n "$port"

kh="$tmp/kh/known_hosts"
"$sc" send --quiet --known-hosts "$kh" "127.0.0.1:$port" one 2>"$tmp/err"
check "first use: the send succeeds" test $? -eq 0
check "first use: the key is recorded" grep -qx "127.0.0.1:$port $fp" "$kh"
check "the file is mode 0600" test "$(stat -c %a "$kh")" = 600
"$sc" send --quiet --known-hosts "$kh" "127.0.0.1:$port" two 2>"$tmp/err"
check "second use: the recorded key matches" test $? -eq 0
check "the key is recorded once" test "$(grep -c "127.0.0.1:$port" "$kh")" -eq 1
other=$(printf '%064d' 7)
printf '127.0.0.1:%s %s\n' "$port" "$other" >"$kh"
"$sc" send --quiet --known-hosts "$kh" "127.0.0.1:$port" three 2>"$tmp/err"
check "a changed key is refused (exit 3: no session)" test $? -eq 3
check "the error names the presented key" grep -q "$fp" "$tmp/err"
check "the error names the recorded key" grep -q "$other" "$tmp/err"
check "the error names the file" grep -qF "$kh" "$tmp/err"
printf 'garbage\n' >"$kh"
"$sc" send --quiet --known-hosts "$kh" "127.0.0.1:$port" four 2>"$tmp/err"
check "a malformed known-hosts file is an error (exit 3: no session)" test $? -eq 3
check "that names the file and line" grep -qF "$kh:1" "$tmp/err"
finish
