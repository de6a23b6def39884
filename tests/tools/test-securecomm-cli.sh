#!/bin/bash
# test-securecomm-cli.sh: the securecomm client end to end against the real
# securecommd (private session bus, real sockets on 127.0.0.1), with the
# exit statuses securecomm(1) documents: 0 success, 1 a failure once the
# session was up, 2 usage error, 3 no session (nothing sent).
#
# The programs come from the environment (meson test sets them):
#   SC_TOOLS_SECURECOMMD, SC_TOOLS_SECURECOMM, SC_TOOLS_SECURECOMMCTL.
#
# What is proved:
#   - send: exit 0 once every message is acknowledged (the daemon counts
#     them), with the state changes in order on standard error; a message
#     that starts with a dash after --; a message larger than the daemon
#     takes is not sent and exits 1;
#   - listen --count N --json: prints what the daemon sends as JSON lines and
#     exits 0 after N; closed by the daemon before N, exits 1 and says so;
#   - connect: interactive; every line of standard input is sent (the
#     daemon receives it), every message from the daemon is printed on
#     standard output, the states on standard error, end of input exits 0;
#     when the daemon stops answering (SIGSTOP) the lines are not
#     acknowledged and it exits 1 after --timeout, saying so;
#   - no session: a wrong --pin exits 3 naming both fingerprints, no trust
#     option exits 3 saying how to get one, a closed port exits 3 saying
#     what to check;
#   - usage errors exit 2 (no command, unknown command, missing arguments,
#     options that do not apply, a bad HOST:PORT); --help explains the
#     commands, examples and exit statuses; --version exits 0.
#
# Waits poll for an event at most WAIT_TRIES times, 0.1 s apart: a guard
# against hangs, not a timing assertion. Prints TAP (the plan at the end).
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u

# shellcheck source-path=SCRIPTDIR source=../tap-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tap-lib.sh"

readonly MAX_MESSAGE_SIZE=64 # bytes: the daemon's limit here, for the too-large case

require_tools dbus-run-session dbus-daemon mkfifo
exec_on_private_bus "$@"

daemon=${SC_TOOLS_SECURECOMMD:?set SC_TOOLS_SECURECOMMD to the securecommd to test}
sc=${SC_TOOLS_SECURECOMM:?set SC_TOOLS_SECURECOMM to the securecomm to test}
ctl=${SC_TOOLS_SECURECOMMCTL:?set SC_TOOLS_SECURECOMMCTL to the securecommctl to test}

tmp=$(mktemp -d /tmp/sc-cli.XXXXXX) || exit 1
pids=()
daemon_pid=
cleanup () {
  local pid
  exec 3>&- 2>/dev/null
  [[ -n $daemon_pid ]] && kill -CONT "$daemon_pid" 2>/dev/null
  for pid in "${pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# The states a session went through, from a stderr file, on one line.
states () { sed -n 's/^securecomm: \(connecting\|handshaking\|connected\|closed\)$/\1/p' "$1" | tr '\n' ' '; }
# How many messages the daemon received from client ID (securecommctl info).
received_from () { "$ctl" info "$1" 2>/dev/null | sed -n 's/^Messages received: *//p'; }
# The id of the one connected client, or nothing.
one_client () { "$ctl" clients 2>/dev/null | head -1; }
no_client () { [[ -z $(one_client) ]]; }
has_client () { [[ -n $(one_client) ]]; }

# ---- the daemon ----------------------------------------------------------
printf '{ "sessions": { "max_message_size": %d } }\n' "$MAX_MESSAGE_SIZE" >"$tmp/daemon.json"
SECURECOMMD_PASSPHRASE=x "$daemon" --session --config "$tmp/daemon.json" --port 0 \
  --state-dir "$tmp/state" >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
pids+=("$daemon_pid")
wait_for "$ctl" status >"$tmp/status.out" 2>/dev/null \
  || bail_out "securecommd did not start" "$tmp/daemon.log"
"$ctl" status >"$tmp/status.out" 2>&1
fp=$(sed -n 's/^Server fingerprint: *\([0-9a-f]\{64\}\)$/\1/p' "$tmp/status.out")
port=$(grep -Eo '127\.0\.0\.1:[0-9]+' "$tmp/status.out" | head -1 | cut -d: -f2)
[[ -n $fp && -n $port ]] \
  || bail_out "no fingerprint or port in: $(cat "$tmp/status.out")" "$tmp/daemon.log"
target=127.0.0.1:$port

# ---- send ------------------------------------------------------------------
"$ctl" monitor --json >"$tmp/monitor.out" 2>"$tmp/monitor.err" &
pids+=($!)
wait_for grep -q subscribed "$tmp/monitor.err" \
  || bail_out "monitor did not subscribe" "$tmp/daemon.log"
run send "$sc" send --pin "$fp" "$target" one two
expect "send of two messages exits 0 once both are acknowledged" 0 send \
  '^securecomm: 2 messages acknowledged$'
check "send reports connecting, handshaking, connected, closed in that order" \
  test "$(states "$tmp/send.err")" = "connecting handshaking connected closed "
got_both () { grep -q '"message":"one"' "$tmp/monitor.out" && grep -q '"message":"two"' "$tmp/monitor.out"; }
check "the daemon received both messages" wait_for got_both
run dash "$sc" send --quiet --pin "$fp" "$target" -- -dash
expect "send HOST -- -dash exits 0 (a message that starts with a dash)" 0 dash
check "the daemon received -dash" wait_for grep -q '"message":"-dash"' "$tmp/monitor.out"
big=$(head -c $((MAX_MESSAGE_SIZE + 1)) /dev/zero | tr '\0' x)
run big "$sc" send --pin "$fp" "$target" "$big"
expect "a message larger than the daemon takes is not sent: exit 1, saying so" 1 big \
  'message 1 of 1 not sent: .*too large'
wait_for no_client

# ---- listen ----------------------------------------------------------------
"$sc" listen --json --count 2 --pin "$fp" "$target" >"$tmp/listen.out" 2>"$tmp/listen.err" &
listen_pid=$!
pids+=("$listen_pid")
wait_for has_client \
  || bail_out "the listener did not connect: $(cat "$tmp/listen.err")" "$tmp/daemon.log"
id=$(one_client)
"$ctl" send "$id" "first" >/dev/null
"$ctl" send "$id" 'second "quoted"' >/dev/null
if wait_exit "$listen_pid"; then
  expect "listen --count 2 exits 0 after two messages" 0 listen
else
  not_ok "listen --count 2 exits 0 after two messages" "still running"
fi
check "listen --json prints them as JSON lines, in order" test "$(cat "$tmp/listen.out")" = \
  "$(printf '%s\n' '{"message":"first","bytes":5}' '{"message":"second \"quoted\"","bytes":15}')"
wait_for no_client

"$sc" listen --count 2 --pin "$fp" "$target" >"$tmp/early.out" 2>"$tmp/early.err" &
early_pid=$!
pids+=("$early_pid")
wait_for has_client \
  || bail_out "the listener did not connect: $(cat "$tmp/early.err")" "$tmp/daemon.log"
id=$(one_client)
"$ctl" send "$id" "only one" >/dev/null
wait_for grep -qx "only one" "$tmp/early.out"
"$ctl" close "$id" >/dev/null
if wait_exit "$early_pid"; then
  expect "listen --count 2 closed after one message exits 1 and says so" 1 early \
    'the session ended after 1 of 2 messages'
else
  not_ok "listen --count 2 closed after one message exits 1" "still running"
fi
wait_for no_client

# ---- connect, interactive ----------------------------------------------------
mkfifo "$tmp/in"
"$sc" connect --pin "$fp" "$target" <"$tmp/in" >"$tmp/connect.out" 2>"$tmp/connect.err" &
connect_pid=$!
pids+=("$connect_pid")
exec 3>"$tmp/in" # its standard input, open until fd 3 is closed
wait_for grep -qx 'securecomm: connected' "$tmp/connect.err" \
  || bail_out "connect did not connect: $(cat "$tmp/connect.err")" "$tmp/daemon.log"
wait_for has_client
id=$(one_client)
"$ctl" send "$id" "from the daemon" >/dev/null
check "connect prints a message from the daemon on standard output" \
  wait_for grep -qx "from the daemon" "$tmp/connect.out"
printf 'typed one\ntyped two\n' >&3
two_received () { [[ $(received_from "$id") == 2 ]]; }
check "connect sends each line typed (the daemon receives two)" wait_for two_received
check "and the daemon got them as typed" \
  wait_for grep -q '"message":"typed two"' "$tmp/monitor.out"
exec 3>&-
if wait_exit "$connect_pid"; then
  expect "connect exits 0 at the end of its input, every line acknowledged" 0 connect
else
  not_ok "connect exits 0 at the end of its input" "still running"
fi
check "connect printed only the daemon's message on standard output" \
  test "$(cat "$tmp/connect.out")" = "from the daemon"
check "connect reported its states on standard error, in order" \
  test "$(states "$tmp/connect.err")" = "connecting handshaking connected closed "
wait_for no_client

# A daemon that stops answering: the line is not acknowledged.
"$sc" connect --timeout 2 --pin "$fp" "$target" <"$tmp/in" >"$tmp/stuck.out" \
  2>"$tmp/stuck.err" &
stuck_pid=$!
pids+=("$stuck_pid")
exec 3>"$tmp/in"
wait_for grep -qx 'securecomm: connected' "$tmp/stuck.err" \
  || bail_out "connect did not connect: $(cat "$tmp/stuck.err")" "$tmp/daemon.log"
kill -STOP "$daemon_pid"
# every thread of the daemon stopped (SIGSTOP reaches each one in its time)
all_stopped () {
  local stat
  for stat in /proc/"$daemon_pid"/task/*/stat; do
    [[ $(cut -d' ' -f3 "$stat" 2>/dev/null) == T ]] || return 1
  done
}
wait_for all_stopped || bail_out "securecommd did not stop on SIGSTOP" "$tmp/daemon.log"
echo "into the void" >&3
exec 3>&-
if wait_exit "$stuck_pid"; then
  expect "connect exits 1 when its lines are not acknowledged within --timeout, saying so" 1 \
    stuck '^securecomm: not every line was acknowledged: '
else
  not_ok "connect exits 1 when its lines are not acknowledged" "still running"
fi
kill -CONT "$daemon_pid"
wait_for no_client

# ---- no session: exit 3 -----------------------------------------------------------
wrong=$(printf '%064d' 0)
run pin "$sc" send --pin "$wrong" "$target" x
expect "a wrong --pin exits 3 and names both fingerprints" 3 pin \
  "the server's key $fp does not match the pinned fingerprint $wrong"
run nopin "$sc" send "$target" x
expect "no trust option exits 3 and says how to get the fingerprint" 3 nopin \
  'no way to trust the server: give --pin' 'securecommctl status'

# ---- usage: exit 2 ------------------------------------------------------------------
usage_case () {
  local what=$1 pattern=$2
  shift 2
  run usage "$sc" "$@"
  expect "$what exits 2" 2 usage "$pattern"
}
usage_case "no command" 'no command given'
usage_case "an unknown command" 'unknown command .frob.' frob
usage_case "send without a message" 'wrong number of arguments for send' send "$target"
usage_case "listen without a target" 'wrong number of arguments for listen' listen
usage_case "an unknown option" 'Unknown option' send --frobnicate "$target" x
usage_case "--force with send" '--force applies to gen-certs only' send --force "$target" x
usage_case "--count with send" '--count .* listen only' send --count 1 "$target" x
usage_case "--timeout with listen" '--timeout .* send and connect only' listen --timeout 5 "$target"
usage_case "a port that is not a number" '' send --pin "$fp" 127.0.0.1:notaport x
run help "$sc" --help
expect "--help exits 0 and explains every command, with examples and exit statuses" 0 help \
  '^  send HOST\[:PORT\] MESSAGE\.\.\. ' '^  listen ' '^  connect ' '^  keygen FILE ' \
  '^  fingerprint FILE ' '^  gen-certs \[DIR\] ' '^Examples:' '--pin' '--known-hosts' \
  '^Exit status: 0 success; 1 ' '2 usage error; 3 no$'
version=$("$daemon" --version | cut -d' ' -f2)
run version "$sc" --version
expect "--version exits 0" 0 version "^securecomm ${version//./\\.}$"

# ---- a closed port: exit 3 -----------------------------------------------------------
"$ctl" shutdown >/dev/null 2>&1
wait_exit "$daemon_pid" || bail_out "the daemon did not stop" "$tmp/daemon.log"
daemon_pid=
run closed "$sc" send --pin "$fp" "$target" x
expect "send to a closed port exits 3 and says what to check" 3 closed \
  'Connection refused' "is securecommd running and listening on $target\\?"

finish_with_log "$tmp/daemon.log"
