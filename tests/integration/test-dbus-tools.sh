#!/bin/bash
# test-dbus-tools.sh SECURECOMMD SC_TEST_CLIENT INTERFACE_XML VERSION
#
# Drives the real securecommd with the tools an operator uses: busctl and
# gdbus (and dbus-send when installed), on a private session bus started
# with dbus-run-session. A real client (sc-test-client) is connected over
# 127.0.0.1. What is proved:
#   - the daemon takes its bus name; its properties read as documented;
#   - GetClientIds lists the connected client, ClientCount counts it,
#     GetClientInfo describes it;
#   - SendMessage from gdbus and from busctl reaches the client, with
#     message ids 1 and 2;
#   - an unknown client id fails with io.github.SecureComm1.Error.UnknownClient
#     and a non-zero status;
#   - introspection shows every method, signal and property of the
#     interface XML;
#   - Shutdown closes the client cleanly, releases the name, and the daemon
#     exits with status 0.
#
# Waits poll for an event at most WAIT_TRIES times, 0.1 s apart: a guard
# against hangs, not a timing assertion. Prints TAP.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u

WAIT_TRIES=300 # 30 s: the hang guard of tap-lib.sh wait_for
# shellcheck source-path=SCRIPTDIR source=../tap-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tap-lib.sh"

readonly NAME=io.github.SecureComm1
readonly OBJ=/io/github/SecureComm1
readonly IFACE=io.github.SecureComm1.Server

require_tools dbus-run-session dbus-daemon busctl gdbus mkfifo
exec_on_private_bus "$@"

securecommd=${1:?usage: test-dbus-tools.sh SECURECOMMD SC_TEST_CLIENT INTERFACE_XML VERSION}
client=${2:?usage}
xml=${3:?usage}
version=${4:?usage}

tmp=$(mktemp -d /tmp/sc-dbus-tools.XXXXXX) || exit 1

cleanup () {
  local f pid
  exec 3>&- 2>/dev/null
  for f in client.pid daemon.pid; do
    if [[ -s $tmp/$f ]] && [[ ! -e $tmp/${f%.pid}.status ]]; then
      pid=$(<"$tmp/$f")
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# check DESCRIPTION GOT WANT: exact comparison.
check_eq () {
  if [[ $2 == "$3" ]]; then
    ok "$1"
  else
    not_ok "$1" "got:  $2" "want: $3"
  fi
}

# check_re DESCRIPTION GOT REGEX
check_re () {
  if [[ $2 =~ $3 ]]; then
    ok "$1"
  else
    not_ok "$1" "got:  $2" "want: /$3/"
  fi
}

has_line () {
  grep -qxF -- "$2" "$1" 2>/dev/null
}

busctl_call () {
  busctl --user call "$NAME" "$OBJ" "$IFACE" "$@"
}

busctl_prop () {
  busctl --user get-property "$NAME" "$OBJ" "$IFACE" "$1"
}

gdbus_call () {
  local method=$1
  shift
  gdbus call --session --dest "$NAME" --object-path "$OBJ" --method "$IFACE.$method" "$@"
}

dump () {
  echo "# ---- $1 ----"
  sed 's/^/# /' "$2" 2>/dev/null
}
# dump_logs: what the daemon and the client said, as TAP diagnostics.
dump_logs () {
  dump "securecommd output" "$tmp/daemon.log"
  dump "sc-test-client output" "$tmp/client.out"
  dump "sc-test-client errors" "$tmp/client.err"
}

# ---- the daemon ------------------------------------------------------------

# Each process runs under a subshell that records its pid and, once it has
# ended, its exit status.
(
  G_DEBUG=fatal-warnings SECURECOMMD_PASSPHRASE="dbus tools test" \
    "$securecommd" --session --port 0 --state-dir "$tmp/state" --verbose \
    >"$tmp/daemon.log" 2>&1 &
  echo $! >"$tmp/daemon.pid"
  wait $!
  echo $? >"$tmp/daemon.status"
) &

if gdbus wait --session --timeout 30 "$NAME"; then
  ok "securecommd owns $NAME"
else
  not_ok "securecommd owns $NAME"
  dump_logs
  bail_out "without the daemon the rest cannot run"
fi

addrs=$(busctl_prop ListenAddresses)
check_re "ListenAddresses lists 127.0.0.1 (busctl get-property)" "$addrs" \
  '^as [0-9]+ .*"127\.0\.0\.1:[0-9]+"'
port=$(grep -o '"127\.0\.0\.1:[0-9]*"' <<<"$addrs" | head -n1 | tr -d '"' | cut -d: -f2)

fp_line=$(busctl_prop ServerFingerprint)
check_re "ServerFingerprint is a SHA-256 in hex" "$fp_line" '^s "[0-9a-f]{64}"$'
fp=$(cut -d'"' -f2 <<<"$fp_line")

check_eq "Version is the project version" "$(busctl_prop Version)" "s \"$version\""
check_eq "TlsEnabled is false" "$(busctl_prop TlsEnabled)" "b false"
check_eq "ClientCount is 0 before any client" "$(busctl_prop ClientCount)" "u 0"

# ---- a client ------------------------------------------------------------

mkfifo "$tmp/in"
(
  "$client" 127.0.0.1 "$port" "$fp" <"$tmp/in" >"$tmp/client.out" 2>"$tmp/client.err" &
  echo $! >"$tmp/client.pid"
  wait $!
  echo $? >"$tmp/client.status"
) &
exec 3>"$tmp/in" # its stdin stays open until we close fd 3

client_connected_or_gone () {
  has_line "$tmp/client.out" connected || [[ -e $tmp/client.status ]]
}
wait_for client_connected_or_gone
if has_line "$tmp/client.out" connected; then
  ok "sc-test-client connects to port $port, pinned to $fp"
else
  not_ok "sc-test-client connects to port $port" "$(cat "$tmp/client.err")"
  dump_logs
  bail_out "without a client the rest cannot run"
fi

# The daemon may finish its side of the handshake a moment later.
one_client () {
  [[ $(busctl_call GetClientIds) =~ ^as\ 1\  ]]
}
wait_for one_client
ids=$(busctl_call GetClientIds)
check_re "GetClientIds lists exactly the client (busctl call)" "$ids" \
  '^as 1 "anon-[0-9a-f]{16}"$'
id=$(cut -d'"' -f2 <<<"$ids")

check_eq "ClientCount is 1 (busctl get-property)" "$(busctl_prop ClientCount)" "u 1"
check_eq "GetClientIds (gdbus call)" "$(gdbus_call GetClientIds)" "(['$id'],)"

info=$(busctl_call GetClientInfo s "$id")
# (a dictionary: its entries come in any order)
check_re "GetClientInfo has the 13 documented entries (busctl call)" "$info" '^a\{sv\} 13 '
check_re "GetClientInfo: address on 127.0.0.1" "$info" '"address" s "127\.0\.0\.1:[0-9]+"'
check_re "GetClientInfo: anonymous" "$info" '"authenticated" b false'
check_re "GetClientInfo: protocol version 1" "$info" '"protocol-version" y 1( |$)'
check_re "GetClientInfo: nothing sent yet" "$info" '"messages-sent" t 0( |$)'

# ---- SendMessage -----------------------------------------------------------

check_eq "SendMessage with gdbus returns message id 1" \
  "$(gdbus_call SendMessage "$id" hello)" "(uint64 1,)"
if wait_for has_line "$tmp/client.out" "received hello"; then
  ok "the client receives the message from gdbus"
else
  not_ok "the client receives the message from gdbus" "$(cat "$tmp/client.out")"
fi
check_eq "SendMessage with busctl returns message id 2" \
  "$(busctl_call SendMessage ss "$id" "hello again")" "t 2"
if wait_for has_line "$tmp/client.out" "received hello again"; then
  ok "the client receives the message from busctl"
else
  not_ok "the client receives the message from busctl" "$(cat "$tmp/client.out")"
fi

# The client's own message is counted by the daemon.
echo "a line from the client" >&3
received_one () {
  [[ $(busctl_call GetClientInfo s "$id") =~ \"messages-received\"\ t\ 1 ]]
}
if wait_for received_one; then
  ok "GetClientInfo counts the message the client sent"
else
  not_ok "GetClientInfo counts the message the client sent" "$(busctl_call GetClientInfo s "$id")"
fi

# ---- errors ------------------------------------------------------------------

out=$(gdbus_call SendMessage anon-0000000000000000 hello 2>&1)
status=$?
check_re "SendMessage to an unknown id fails with UnknownClient (gdbus, status $status)" \
  "$status:$out" '^[1-9][0-9]*:.*GDBus\.Error:io\.github\.SecureComm1\.Error\.UnknownClient:'
out=$(gdbus_call GetClientInfo anon-0000000000000000 2>&1)
status=$?
check_re "GetClientInfo of an unknown id fails with UnknownClient (gdbus, status $status)" \
  "$status:$out" '^[1-9][0-9]*:.*GDBus\.Error:io\.github\.SecureComm1\.Error\.UnknownClient:'
out=$(gdbus_call CloseClientConnection anon-0000000000000000 2>&1)
status=$?
check_re "CloseClientConnection of an unknown id fails with UnknownClient (gdbus)" \
  "$status:$out" '^[1-9][0-9]*:.*GDBus\.Error:io\.github\.SecureComm1\.Error\.UnknownClient:'
# busctl prints the error message, not its name.
out=$(busctl_call SendMessage ss anon-0000000000000000 hello 2>&1)
status=$?
check_re "SendMessage to an unknown id fails (busctl, status $status)" \
  "$status:$out" '^[1-9][0-9]*:.*no client with id'
if command -v dbus-send >/dev/null; then
  out=$(dbus-send --session --print-reply --dest="$NAME" "$OBJ" "$IFACE.SendMessage" \
    string:anon-0000000000000000 string:hello 2>&1)
  status=$?
  check_re "SendMessage to an unknown id fails with UnknownClient (dbus-send)" \
    "$status:$out" '^[1-9][0-9]*:Error io\.github\.SecureComm1\.Error\.UnknownClient:'
fi
check_eq "the client is still listed after the errors" "$(busctl_call GetClientIds)" \
  "as 1 \"$id\""

# ---- introspection -------------------------------------------------------

intro=$(busctl --user introspect "$NAME" "$OBJ")
check_re "busctl introspect shows the interface" "$intro" \
  "(^|"$'\n'")io\\.github\\.SecureComm1\\.Server +interface"
missing=()
while read -r kind member; do
  grep -qE "^\\.$member +$kind " <<<"$intro" || missing+=("$kind $member")
done < <(sed -n 's/.*<\(method\|signal\|property\) name="\([A-Za-z]*\)".*/\1 \2/p' "$xml")
members=$(grep -cE '<(method|signal|property) name=' "$xml")
if [[ ${#missing[@]} -eq 0 && $members -gt 0 ]]; then
  ok "busctl introspect shows all $members members of $(basename "$xml")"
else
  not_ok "busctl introspect shows every member of the XML" "missing: ${missing[*]}"
fi

# ---- Shutdown ------------------------------------------------------------

out=$(busctl_call Shutdown 2>&1)
check_eq "Shutdown (busctl call) succeeds" "$?:$out" "0:"
if wait_for has_line "$tmp/client.out" closed; then
  ok "the client sees its session closed"
else
  not_ok "the client sees its session closed" "$(cat "$tmp/client.out")"
fi
exec 3>&-
wait_for test -s "$tmp/client.status"
check_eq "the client exits with status 0" "$(cat "$tmp/client.status" 2>/dev/null)" "0"
wait_for test -s "$tmp/daemon.status"
check_eq "securecommd exits with status 0" "$(cat "$tmp/daemon.status" 2>/dev/null)" "0"
check_eq "the bus name is released" \
  "$(gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
       --method org.freedesktop.DBus.NameHasOwner "$NAME")" "(false,)"

[[ $failed -eq 0 ]] || dump_logs
finish
