#!/bin/bash
# test-securecommctl.sh: securecommctl and securecomm against the real
# securecommd on a private session bus (dbus-run-session), with real clients
# over 127.0.0.1.
#
# The programs come from the environment (meson test sets them):
#   SC_TOOLS_SECURECOMMD, SC_TOOLS_SECURECOMM, SC_TOOLS_SECURECOMMCTL.
#
# What is proved:
#   - every securecommctl command does what securecommctl(1) says, with exit
#     status 0: status (fingerprint, version, client count), clients, info,
#     send (the listener prints the message), close (the listener exits, the
#     client list empties), monitor --json (ClientConnected, MessageReceived,
#     ClientDisconnected of a real sender; SIGINT ends it with 0; the daemon
#     leaving the bus ends it with 1), shutdown (the daemon exits 0);
#   - errors: an unknown client id exits 1 with the hint, a usage error
#     exits 2, a system bus that is not there exits 3 naming it, a bus
#     policy that refuses the call (a private bus and a second daemon)
#     exits 3 with the AccessDenied hint, a daemon that is not running exits
#     3 with the hint (securecommctl(1): 3 is "the daemon was not reached").
#
# securecomm's own exit statuses are test-securecomm-cli.sh's.
#
# Waits poll for an event at most WAIT_TRIES times, 0.1 s apart: a guard
# against hangs, not a timing assertion. Prints TAP (the plan at the end);
# exits non-zero when a test failed.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u

# shellcheck source-path=SCRIPTDIR source=../tap-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tap-lib.sh"

require_tools dbus-run-session dbus-daemon dbus-send
exec_on_private_bus "$@"

daemon=${SC_TOOLS_SECURECOMMD:?set SC_TOOLS_SECURECOMMD to the securecommd to test}
client=${SC_TOOLS_SECURECOMM:?set SC_TOOLS_SECURECOMM to the securecomm to test}
ctl=${SC_TOOLS_SECURECOMMCTL:?set SC_TOOLS_SECURECOMMCTL to the securecommctl to test}

tmp=$(mktemp -d /tmp/sc-tools.XXXXXX) || exit 1
pids=()
cleanup () {
  local pid
  for pid in "${pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# has_name --session|--bus=ADDRESS: whether io.github.SecureComm1 has an
# owner on that bus.
has_name () {
  dbus-send "$1" --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:io.github.SecureComm1 2>/dev/null \
    | grep -q 'boolean true'
}

# access_denied_test: a second daemon on a private "system" bus whose policy
# lets nobody call it: securecommctl --system is refused by the bus, exits 3
# and says who may call. The daemon is then stopped with SIGTERM.
access_denied_test () {
  local what="--system refused by the bus policy exits 3 with the AccessDenied hint"
  local bus=unix:path=$tmp/deny-bus pid
  cat >"$tmp/deny-bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>$bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <deny send_destination="io.github.SecureComm1"/>
  </policy>
</busconfig>
EOF
  dbus-daemon --nofork --nopidfile --config-file="$tmp/deny-bus.conf" >"$tmp/deny-bus.log" 2>&1 &
  pids+=($!)
  if ! wait_for test -S "$tmp/deny-bus"; then
    not_ok "$what" "dbus-daemon did not start: $(cat "$tmp/deny-bus.log")"
    return
  fi
  DBUS_SYSTEM_BUS_ADDRESS=$bus SECURECOMMD_PASSPHRASE=x "$daemon" --system --port 0 \
    --state-dir "$tmp/deny-state" >"$tmp/deny-daemon.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  if ! wait_for has_name --bus="$bus"; then
    not_ok "$what" "securecommd did not take its name: $(cat "$tmp/deny-daemon.log")"
    return
  fi
  run denied env DBUS_SYSTEM_BUS_ADDRESS="$bus" "$ctl" --system status
  expect "$what" 3 denied \
    'not allowed: on the system bus only root and the group securecomm may call securecommd' \
    'org\.freedesktop\.DBus\.Error\.AccessDenied'
  kill -TERM "$pid"
  wait_exit "$pid"
}

# ---- the daemon ----------------------------------------------------------
SECURECOMMD_PASSPHRASE=x "$daemon" --session --port 0 --state-dir "$tmp/state" \
  >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
pids+=("$daemon_pid")
if ! wait_for eval "has_name --session || ! kill -0 $daemon_pid 2>/dev/null" \
  || ! has_name --session; then
  bail_out "securecommd did not take its bus name" "$tmp/daemon.log"
fi


run status "$ctl" status
fp=$(sed -n 's/^Server fingerprint: *\([0-9a-f]\{64\}\)$/\1/p' "$tmp/status.out")
port=$(grep -Eo '127\.0\.0\.1:[0-9]+' "$tmp/status.out" | head -1 | cut -d: -f2)
[[ -n $port ]] || port=$(sed -n 's/^Listening on: *.*:\([0-9]*\).*$/\1/p' "$tmp/status.out")
version=$("$daemon" --version | cut -d' ' -f2)
expect "status exits 0 and shows the fingerprint, the version, TLS off and 0 clients" 0 status \
  '^Server fingerprint: +[0-9a-f]{64}$' "^Version: +${version//./\\.}$" '^TLS: +no$' \
  '^Connected clients: +0$' '^Listening on: +.*:[0-9]+'
[[ -n $fp && -n $port ]] \
  || bail_out "no fingerprint or port in the status: $(cat "$tmp/status.out")" "$tmp/daemon.log"
target=127.0.0.1:$port

# ---- a monitor, subscribed before any client comes ------------------------
"$ctl" monitor --json >"$tmp/monitor.out" 2>"$tmp/monitor.err" &
monitor_pid=$!
pids+=("$monitor_pid")
check "monitor --json subscribes (and says so on standard error)" \
  wait_for grep -q subscribed "$tmp/monitor.err"

# ---- a listening client ---------------------------------------------------
"$client" listen --pin "$fp" "$target" >"$tmp/listener.out" 2>"$tmp/listener.err" &
listener_pid=$!
pids+=("$listener_pid")
has_client () { [[ -n $("$ctl" clients 2>/dev/null) ]]; }
wait_for has_client \
  || bail_out "the listener did not connect: $(cat "$tmp/listener.err")" "$tmp/daemon.log"

run status "$ctl" status
expect "status counts the connected client (ClientCount 1)" 0 status '^Connected clients: +1$'

run clients "$ctl" clients
id=$(head -1 "$tmp/clients.out")
expect "clients lists the listener's anonymous id, alone" 0 clients '^anon-[0-9a-f]{16}$'
check "clients prints exactly one line for one client" [ "$(wc -l <"$tmp/clients.out")" -eq 1 ]

run info "$ctl" info "$id"
expect "info ID shows the address, anonymity, counters and ISO 8601 times" 0 info \
  "^Client: +$id$" '^Address: +127\.0\.0\.1:[0-9]+$' '^Authenticated: +no$' \
  '^Fingerprint: +none \(anonymous\)$' '^Messages sent: +0$' '^Messages received: +0$' \
  '^Bytes received: +[0-9]+$' '^Protocol version: +1$' \
  '^Connected since: +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}$'

run send "$ctl" send "$id" hello
expect "send ID hello exits 0 and prints the message id" 0 send '^[0-9]+$'
check "the listener prints hello" wait_for grep -qx hello "$tmp/listener.out"

run send "$ctl" send "$id" -- -dash
expect "send ID -- -dash sends a message that starts with a dash" 0 send '^[0-9]+$'
check "the listener prints -dash" wait_for grep -qx -- -dash "$tmp/listener.out"

run info "$ctl" info "$id"
expect "info counts the two messages sent" 0 info '^Messages sent: +2$'

# ---- a sending client, seen by the monitor --------------------------------
run csend "$client" send --quiet --pin "$fp" "$target" hi
expect "securecomm send --pin FP hi exits 0" 0 csend
json_has () { grep -q -- "$1" "$tmp/monitor.out"; }
check "monitor prints the MessageReceived hi" wait_for json_has '"event":"MessageReceived".*"message":"hi"'
sender=$(grep '"message":"hi"' "$tmp/monitor.out" | grep -Eo '"client_id":"[^"]*"' | head -1 \
  | cut -d'"' -f4)
check "monitor prints the sender's ClientConnected with its info" \
  json_has "\"event\":\"ClientConnected\",\"client_id\":\"$sender\",\"info\":{.*\"address\":\"127.0.0.1:"
check "monitor prints the sender's ClientDisconnected with a reason" \
  wait_for json_has "\"event\":\"ClientDisconnected\",\"client_id\":\"$sender\",\"reason\":\"[^\"]"
check "monitor printed the listener's ClientConnected" \
  json_has "\"event\":\"ClientConnected\",\"client_id\":\"$id\""
if command -v jq >/dev/null; then
  all_json () {
    jq -e -s 'all(has("time") and has("event") and has("client_id"))' "$tmp/monitor.out" \
      >/dev/null
  }
  check "every monitor line is a JSON object with time, event and client_id" all_json
else
  ok "every monitor line is a JSON object # SKIP jq is not installed"
fi
# securecomm send once sent its HOST:PORT target as a first message.
not_target () { ! json_has "\"message\":\"$target\""; }
check "securecomm send sends its MESSAGE arguments only" not_target

# ---- a second monitor, in text, ended by SIGINT ---------------------------
"$ctl" monitor >"$tmp/monitor2.out" 2>"$tmp/monitor2.err" &
monitor2_pid=$!
pids+=("$monitor2_pid")
if wait_for grep -q subscribed "$tmp/monitor2.err"; then
  kill -INT "$monitor2_pid"
  if wait_exit "$monitor2_pid"; then
    expect "monitor ends on SIGINT with status 0" 0 monitor2
  else
    not_ok "monitor ends on SIGINT with status 0" "still running"
  fi
else
  not_ok "monitor ends on SIGINT with status 0" "it did not subscribe: $(cat "$tmp/monitor2.err")"
fi

# ---- close ----------------------------------------------------------------
run close "$ctl" close "$id"
expect "close ID exits 0" 0 close
if wait_exit "$listener_pid"; then
  ok "the listener exits after close (status $rc)"
else
  not_ok "the listener exits after close" "still running: $(cat "$tmp/listener.err")"
fi
no_client () { [[ -z $("$ctl" clients 2>/dev/null) ]]; }
check "clients is empty after close" wait_for no_client
run clients "$ctl" clients
expect "clients exits 0 with no clients" 0 clients
check "monitor prints the listener's ClientDisconnected" \
  wait_for json_has "\"event\":\"ClientDisconnected\",\"client_id\":\"$id\""

# ---- errors ---------------------------------------------------------------
run info "$ctl" info nosuch
expect "info nosuch exits 1 with the hint and the error name" 1 info \
  'no client with that id; .securecommctl clients. lists them' \
  'io\.github\.SecureComm1\.Error\.UnknownClient'
run send "$ctl" send nosuch x
expect "send to an unknown id exits 1 (UnknownClient)" 1 send 'Error\.UnknownClient'
run close "$ctl" close nosuch
expect "close of an unknown id exits 1 (UnknownClient)" 1 close 'Error\.UnknownClient'
run usage "$ctl" frobnicate
expect "an unknown command exits 2" 2 usage 'unknown command'
run usage "$ctl"
expect "no command exits 2" 2 usage 'no command'
run usage "$ctl" info
expect "info without an ID exits 2" 2 usage 'usage: securecommctl info ID'
run usage "$ctl" --json status
expect "--json with another command than monitor exits 2" 2 usage 'monitor only'
run system env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/no-system-bus" "$ctl" --system status
expect "--system without a system bus exits 3 and says so" 3 system \
  'cannot connect to the system bus'
access_denied_test
run help "$ctl" --help
expect "--help exits 0 and explains every command, with examples and exit statuses" 0 help \
  '^  status ' '^  clients ' '^  info ID ' '^  send ID MESSAGE ' '^  close ID ' '^  monitor ' \
  '^  shutdown ' '--system' '--session' '--json' '^Examples:' '^  securecommctl status$' \
  '^Exit status: 0 success; 1 ' '2 usage error; 3 the daemon could not be reached'
run version "$ctl" --version
expect "--version exits 0" 0 version "^securecommctl ${version//./\\.}$"

# ---- shutdown -------------------------------------------------------------
run shutdown "$ctl" shutdown
expect "shutdown exits 0" 0 shutdown
if wait_exit "$daemon_pid"; then
  if [[ $rc -eq 0 ]]; then
    ok "the daemon exits 0 after shutdown"
  else
    not_ok "the daemon exits 0 after shutdown" "status $rc" "$(cat "$tmp/daemon.log")"
  fi
else
  not_ok "the daemon exits 0 after shutdown" "still running"
fi
if wait_exit "$monitor_pid"; then
  expect "monitor exits 1 when the daemon leaves the bus, and says so" 1 monitor \
    'securecommd left the bus'
else
  not_ok "monitor exits 1 when the daemon leaves the bus" "still running"
fi
run status "$ctl" status
expect "status with no daemon exits 3 with the hint" 3 status \
  'securecommd is not running on the session bus \(try --system\)'

finish_with_log "$tmp/daemon.log"
