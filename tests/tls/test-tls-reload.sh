#!/bin/bash
# test-tls-reload.sh: securecommd's TLS certificate replaced under a running
# session (issue 5, hot reload), seen from outside.
#
# The daemon runs in TLS mode (CERT_REQUIRED) with certificate A, on a
# private session bus; certificates A, B and C come from one CA (tls-lib.sh
# make_pki: reload-a, reload-b, reload-c), each on its own key. A session
# (`securecomm connect --tls-config`, its standard input a FIFO) stays open
# throughout. What is proved:
#   - before: openssl s_client is served A; the session exchanges a message
#     each way;
#   - SIGHUP after A's files are replaced by B's: the daemon logs the reload,
#     a new s_client is served B (compared by SHA-256 fingerprint with
#     `openssl x509 -fingerprint`), and the old session still exchanges a
#     message each way, as the same client;
#   - a change on disk alone (C's files moved in, no signal): a new s_client
#     is served C;
#   - a broken certificate file, then SIGHUP: the daemon logs a clear line
#     naming the file, keeps C (s_client is served C) and still serves a
#     new `securecomm send`; the same for a certificate that does not match
#     the key;
#   - the old session ends cleanly: connect exits 0, every line acknowledged.
#
# Waits are hang guards (WAIT_TRIES polls 0.1 s apart), not timing
# assertions. Prints TAP (the plan at the end). Skips as a whole when a tool
# is missing, unless SC_REQUIRE_TLS_TOOLS=1.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u

# shellcheck source-path=SCRIPTDIR source=tls-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/tls-lib.sh"

tls_require dbus-run-session dbus-daemon mkfifo openssl certtool
exec_on_private_bus "$@"

: "${daemon:?set SC_TLS_SECURECOMMD}" "${sc:?set SC_TLS_SECURECOMM}" "${ctl:?set SC_TLS_SECURECOMMCTL}"

tmp=$(mktemp -d /tmp/sc-tls-reload.XXXXXX) || exit 1
pids=()
cleanup () {
  local pid
  exec 3>&- 2>/dev/null
  for pid in "${pids[@]}" $daemon_pid; do
    kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

make_pki "$tmp/pki"
live=$tmp/live
mkdir -p "$live"

# install_cert NAME: NAME's certificate and key become the live files, each
# replaced at once (written beside it, then renamed over it), as an
# administrator or certbot would.
install_cert () {
  cp "$pki/$1.crt" "$live/server.crt.new" && mv -f "$live/server.crt.new" "$live/server.crt"
  cp "$pki/$1.key" "$live/server.key.new" && mv -f "$live/server.key.new" "$live/server.key"
}
install_cert reload-a
tls_json "$tmp/reload.tls.json" "$live/server.crt" "$live/server.key" \
  '"verify_mode": "CERT_REQUIRED"'
tls_json "$tmp/client.json" "$pki/good/client.crt" "$pki/good/client.key"
fp_a=$(sha256_fingerprint "$pki/reload-a.crt")
fp_b=$(sha256_fingerprint "$pki/reload-b.crt")
fp_c=$(sha256_fingerprint "$pki/reload-c.crt")

start_daemon reload "$tmp/reload.tls.json"
target=127.0.0.1:$port

# served: the SHA-256 fingerprint of the certificate a new s_client gets.
served () {
  openssl s_client -connect "$target" -servername localhost -CAfile "$pki/trust.pem" \
    -cert "$pki/good/client.crt" -key "$pki/good/client.key" </dev/null 2>/dev/null \
    | openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/^.*=//'
}
served_is () { [[ $(served) == "$1" ]]; }
# logged_since OFFSET PATTERN: the daemon logged a line matching PATTERN
# after byte OFFSET.
logged_since () { tail -c +$(($1 + 1)) "$daemon_log" | grep -Eq -- "$2"; }

got=$(served)
check "before: s_client is served certificate A" test "$got" = "$fp_a"

# ---- the session that stays open ------------------------------------------------
"$ctl" monitor --json >"$tmp/monitor.out" 2>"$tmp/monitor.err" &
pids+=($!)
wait_for grep -q subscribed "$tmp/monitor.err" || bail_out "monitor did not subscribe"
mkfifo "$tmp/in"
"$sc" connect --tls-config "$tmp/client.json" "$target" <"$tmp/in" >"$tmp/connect.out" \
  2>"$tmp/connect.err" &
connect_pid=$!
pids+=("$connect_pid")
exec 3>"$tmp/in" # its standard input, open until fd 3 is closed
wait_for grep -qx 'securecomm: connected' "$tmp/connect.err" \
  || bail_out "connect did not connect" "$tmp/connect.err" "$daemon_log"
not_reconnected () { ! grep -q reconnecting "$tmp/connect.err"; }
one_client () { "$ctl" clients 2>/dev/null | head -1; }
has_client () { [[ -n $(one_client) ]]; }
wait_for has_client || bail_out "the daemon lists no client"
id=$(one_client)

# exchange WHEN: one line from the session to the daemon, one message back.
exchange () {
  local when=$1
  echo "line $when" >&3
  check "$when: the old session's line reaches the daemon" \
    wait_for grep -q "\"message\":\"line $when\"" "$tmp/monitor.out"
  "$ctl" send "$id" "message $when" >/dev/null 2>&1
  check "$when: the daemon's message reaches the old session" \
    wait_for grep -qx "message $when" "$tmp/connect.out"
}
exchange "before reload"

# ---- SIGHUP after B replaced A on disk ------------------------------------------
start=$(log_size)
install_cert reload-b
kill -HUP "$daemon_pid"
check "SIGHUP: the daemon logs that it reloaded the certificate" \
  wait_for logged_since "$start" 'TLS certificate reloaded: .*SIGHUP'
got=$(served)
check "after SIGHUP: a new s_client is served certificate B" test "$got" = "$fp_b"
exchange "after SIGHUP"
check "the old session is the same client (no reconnection)" test "$(one_client)" = "$id"
check "the old session never reconnected" not_reconnected

# ---- a change on disk alone ----------------------------------------------------
install_cert reload-c
if wait_for served_is "$fp_c"; then
  ok "the files changed on disk, no signal: a new s_client is served certificate C"
else
  not_ok "the files changed on disk, no signal: a new s_client is served certificate C" \
    "served: $(served)" "$(tail -n 5 "$daemon_log")"
fi
exchange "after the change on disk"

# ---- broken files: the current certificate stays ------------------------------------
start=$(log_size)
printf 'not a certificate\n' >"$live/server.crt.new" && mv -f "$live/server.crt.new" "$live/server.crt"
kill -HUP "$daemon_pid"
check "a broken certificate file and SIGHUP: the daemon says it keeps the current one, naming the file" \
  wait_for logged_since "$start" \
  "SIGHUP: TLS certificate not reloaded, the current one stays in use: .*${live//./\\.}/server\\.crt"
got=$(served)
check "after the broken file: s_client is still served certificate C" test "$got" = "$fp_c"
run send-broken "$sc" send --quiet --tls-config "$tmp/client.json" "$target" "after a broken file"
expect "after the broken file: a new securecomm send exits 0" 0 send-broken

start=$(log_size)
cp "$pki/reload-a.crt" "$live/server.crt.new" && mv -f "$live/server.crt.new" "$live/server.crt"
kill -HUP "$daemon_pid"
check "a certificate that does not match the key and SIGHUP: the daemon keeps the current one" \
  wait_for logged_since "$start" 'SIGHUP: TLS certificate not reloaded, the current one stays in use'
got=$(served)
check "after the mismatched key: s_client is still served certificate C" test "$got" = "$fp_c"
exchange "after the refused reloads"

# ---- the old session ends cleanly -----------------------------------------------------
exec 3>&-
wait_exit "$connect_pid"
expect "the old session exits 0 at the end of its input, every line acknowledged" 0 connect
check "and it never reconnected" not_reconnected

stop_daemon

finish_with_log "$daemon_log"
