#!/usr/bin/env bash
# demo.sh BUILDDIR: the main job, end to end, on defaults that work out of
# the box: securecommd on localhost:12345 with a fresh identity key, a
# client that listens and one that sends, and the daemon driven over D-Bus
# with busctl and gdbus. Runs inside its own D-Bus session bus
# (dbus-run-session) and its own state directory, so it needs no desktop
# session and leaves nothing behind.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail

build=${1:-_build}
build=$(cd "$build" && pwd)

if [[ -z "${SC_DEMO_INNER:-}" ]]; then
  exec env SC_DEMO_INNER=1 dbus-run-session -- "$0" "$build"
fi

daemon="$build/src/daemon/securecommd"
client="$build/src/tools/securecomm"
state=$(mktemp -d)
listen_out="$state/listen.out"
trap 'rm -rf "$state"' EXIT
export SECURECOMMD_PASSPHRASE="demo-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

say () { printf '\n== %s\n' "$*"; }
dbus_call () {
  busctl --user call io.github.SecureComm1 /io/github/SecureComm1 \
    io.github.SecureComm1.Server "$@"
}
dbus_prop () {
  busctl --user get-property io.github.SecureComm1 /io/github/SecureComm1 \
    io.github.SecureComm1.Server "$1"
}

say "starting securecommd on localhost:12345 (state in $state)"
"$daemon" --session --state-dir "$state" &
daemon_pid=$!
for _ in $(seq 100); do
  busctl --user status io.github.SecureComm1 >/dev/null 2>&1 && break
  kill -0 "$daemon_pid" 2>/dev/null || { echo "securecommd did not start" >&2; exit 1; }
  sleep 0.1
done
fingerprint=$(dbus_prop ServerFingerprint | cut -d'"' -f2)
echo "daemon identity (pin this): $fingerprint"
echo "listening on: $(dbus_prop ListenAddresses)"

say "a client listens (pinned to that fingerprint)"
"$client" listen --pin "$fingerprint" --count 1 localhost:12345 >"$listen_out" &
listener=$!
for _ in $(seq 100); do
  [[ "$(dbus_prop ClientCount)" == "u 1" ]] && break
  sleep 0.1
done

say "busctl --user call ... GetClientIds"
dbus_call GetClientIds
id=$(dbus_call GetClientIds | grep -o '"[^"]*"' | head -1 | tr -d '"')

say "the daemon sends the listener a message over D-Bus (gdbus call ... SendMessage)"
gdbus call --session --dest io.github.SecureComm1 --object-path /io/github/SecureComm1 \
  --method io.github.SecureComm1.Server.SendMessage "$id" "Hello from securecommd"
wait "$listener"
echo "the listener decrypted: $(cat "$listen_out")"

say "another client sends two messages and waits for the acknowledgements"
"$client" send --pin "$fingerprint" localhost:12345 "Hello, secure world!" "Goodbye"

say "shutting the daemon down over D-Bus"
dbus_call Shutdown
wait "$daemon_pid"
echo "securecommd exited cleanly"
