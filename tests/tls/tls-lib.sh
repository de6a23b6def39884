# shellcheck shell=bash
# tls-lib.sh: what the TLS shell tests share beyond ../tap-lib.sh (which it
# sources: TAP output, waits, tls_require); sourced, not run.
#
#   - make_pki: the test PKI, `securecomm gen-certs` for the good one and
#     certtool for the bad cases (see make_pki);
#   - tls_json: a TLS configuration file in the seed's tls_config.json format;
#   - start_daemon / stop_daemon: securecommd in TLS mode on 127.0.0.1, any
#     free port, on the private session bus or on none;
#   - try_client: an outside TLS client (openssl s_client, gnutls-cli) against
#     the daemon, judged by what the daemon made of the connection.
#
# The caller sets $tmp (a private directory, removed by the caller), and
# the environment has SC_TLS_SECURECOMMD, SC_TLS_SECURECOMM and
# SC_TLS_SECURECOMMCTL (meson test sets them).
#
# SPDX-License-Identifier: LGPL-2.1-or-later

# shellcheck source-path=SCRIPTDIR source=../tap-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tap-lib.sh"

# ms the daemon waits for the SecureComm ClientHello once TLS is up: long,
# so that an outside client the daemon accepted (and that never speaks
# SecureComm) is still connected when the test looks at it. Refusals are
# immediate and never wait for it.
readonly HANDSHAKE_TIMEOUT_MS=300000

# ---- the test PKI ------------------------------------------------------------------

# certtool_quiet ARGS...: certtool, its chatter in $pki/certtool.log.
certtool_quiet () {
  certtool "$@" >>"$pki/certtool.log" 2>&1 || bail_out "certtool $* failed" "$pki/certtool.log"
}

# leaf NAME ISSUER TEMPLATE: $pki/NAME.key (a new ECDSA P-256 key) and
# $pki/NAME.crt from TEMPLATE (certtool's format), signed by ISSUER (the
# base name of a CA made by ca_cert).
leaf () {
  local name=$1 issuer=$2
  printf '%s\n' "$3" >"$pki/$name.tmpl"
  certtool_quiet --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile="$pki/$name.key"
  certtool_quiet --generate-certificate --load-privkey="$pki/$name.key" \
    --load-ca-certificate="$pki/$issuer.crt" --load-ca-privkey="$pki/$issuer.key" \
    --template="$pki/$name.tmpl" --outfile="$pki/$name.crt"
}

# ca_cert NAME CN: a self-signed CA, valid from 2019 to 2099 (around every
# leaf below, the past and future ones too).
ca_cert () {
  local name=$1
  printf 'cn = "%s"\norganization = "SecureComm tests"\nca\ncert_signing_key\ncrl_signing_key\n%s\n' \
    "$2" 'activation_date = "2019-01-01 00:00:00"
expiration_date = "2099-12-31 00:00:00"' >"$pki/$name.tmpl"
  certtool_quiet --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile="$pki/$name.key"
  certtool_quiet --generate-self-signed --load-privkey="$pki/$name.key" \
    --template="$pki/$name.tmpl" --outfile="$pki/$name.crt"
}

# Templates: a server certificate for localhost and 127.0.0.1, a client
# certificate, each for its TLS role (extended key usage); validity and
# serial are appended.
readonly SERVER_TMPL='cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
signing_key
tls_www_server'
readonly CLIENT_TMPL='cn = "client"
signing_key
tls_www_client'
readonly VALID_NOW='expiration_days = 365'
readonly EXPIRED='activation_date = "2020-01-01 00:00:00"
expiration_date = "2020-12-31 00:00:00"'
readonly NOT_YET='activation_date = "2090-01-01 00:00:00"
expiration_date = "2091-01-01 00:00:00"'

# make_pki DIR: the PKI of the tests, in DIR ($pki from then on):
#   good/            `securecomm gen-certs`: ca.crt, server.crt/.key (localhost,
#                    127.0.0.1, ::1; serverAuth), client.crt/.key (clientAuth)
#   ca2.crt          a second trusted CA (certtool), for the certificates that
#                    need a CA key: gen-certs keeps none
#   trust.pem        good/ca.crt + ca2.crt: what the daemon and our client trust
#   other-ca.crt     a CA that nobody trusts
#   crl.pem          ca2's CRL, revoking revoked-server and revoked-client
#   good2-server, good2-client      controls: ca2's certificates are accepted
#   expired-server, expired-client  valid in 2020 only
#   notyet-server, notyet-client    valid from 2090
#   wronghost-server                for wrong.example only
#   otherca-server, otherca-client  signed by other-ca
#   revoked-server, revoked-client  listed in crl.pem
#   clientauth-server               names localhost, extKeyUsage clientAuth only
#   serverauth-client               extKeyUsage serverAuth only
#   reload-a, reload-b, reload-c    server certificates on three keys
# Each .crt has its .key (unencrypted, as gen-certs writes them).
make_pki () {
  pki=$1
  mkdir -p "$pki"
  "$sc" gen-certs --quiet "$pki/good" >"$pki/gen-certs.log" 2>&1 \
    || bail_out "securecomm gen-certs failed" "$pki/gen-certs.log"
  ca_cert ca2 "SecureComm Test CA 2"
  ca_cert other-ca "Untrusted CA"
  cat "$pki/good/ca.crt" "$pki/ca2.crt" >"$pki/trust.pem"
  leaf good2-server ca2 "$SERVER_TMPL"$'\n'"$VALID_NOW"$'\nserial = 1001'
  leaf good2-client ca2 "$CLIENT_TMPL"$'\n'"$VALID_NOW"$'\nserial = 1002'
  leaf expired-server ca2 "$SERVER_TMPL"$'\n'"$EXPIRED"$'\nserial = 1003'
  leaf expired-client ca2 "$CLIENT_TMPL"$'\n'"$EXPIRED"$'\nserial = 1004'
  leaf notyet-server ca2 "$SERVER_TMPL"$'\n'"$NOT_YET"$'\nserial = 1005'
  leaf notyet-client ca2 "$CLIENT_TMPL"$'\n'"$NOT_YET"$'\nserial = 1006'
  leaf wronghost-server ca2 'cn = "wrong.example"
dns_name = "wrong.example"
signing_key
tls_www_server'$'\n'"$VALID_NOW"$'\nserial = 1007'
  leaf otherca-server other-ca "$SERVER_TMPL"$'\n'"$VALID_NOW"$'\nserial = 1008'
  leaf otherca-client other-ca "$CLIENT_TMPL"$'\n'"$VALID_NOW"$'\nserial = 1009'
  leaf revoked-server ca2 "$SERVER_TMPL"$'\n'"$VALID_NOW"$'\nserial = 1010'
  leaf revoked-client ca2 "$CLIENT_TMPL"$'\n'"$VALID_NOW"$'\nserial = 1011'
  leaf clientauth-server ca2 "${SERVER_TMPL/tls_www_server/tls_www_client}"$'\n'"$VALID_NOW"$'\nserial = 1012'
  leaf serverauth-client ca2 "${CLIENT_TMPL/tls_www_client/tls_www_server}"$'\n'"$VALID_NOW"$'\nserial = 1013'
  leaf reload-a ca2 "$SERVER_TMPL"$'\n'"$VALID_NOW"$'\nserial = 1014'
  leaf reload-b ca2 "$SERVER_TMPL"$'\n'"$VALID_NOW"$'\nserial = 1015'
  leaf reload-c ca2 "$SERVER_TMPL"$'\n'"$VALID_NOW"$'\nserial = 1016'
  cat "$pki/revoked-server.crt" "$pki/revoked-client.crt" >"$pki/revoked.pem"
  printf 'crl_next_update = 30\ncrl_number = 1\n' >"$pki/crl.tmpl"
  certtool_quiet --generate-crl --load-ca-privkey="$pki/ca2.key" \
    --load-ca-certificate="$pki/ca2.crt" --load-certificate="$pki/revoked.pem" \
    --template="$pki/crl.tmpl" --outfile="$pki/crl.pem"
}

# sha256_fingerprint CERT: the certificate's SHA-256 fingerprint as openssl
# prints it (AA:BB:...).
sha256_fingerprint () {
  openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/^.*=//'
}

# spki_sha256 CERT: lowercase hex SHA-256 of the DER SubjectPublicKeyInfo
# (the format of pinned_spki_sha256).
spki_sha256 () {
  openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER \
    | openssl dgst -sha256 -r | cut -d' ' -f1
}

# tls_json FILE CERT KEY [MEMBER...]: a TLS configuration in the seed's
# format, enabled, trusting $pki/trust.pem, with CERT and KEY (either may be
# "" for none) and each MEMBER ('"key": value') added.
tls_json () {
  local file=$1 cert=$2 key=$3 m
  shift 3
  {
    printf '{\n  "enabled": true,\n  "ca_path": "%s"' "$pki/trust.pem"
    [[ -n $cert ]] && printf ',\n  "cert_path": "%s"' "$cert"
    [[ -n $key ]] && printf ',\n  "key_path": "%s"' "$key"
    for m in "$@"; do printf ',\n  %s' "$m"; done
    printf '\n}\n'
  } >"$file"
}

# ---- the daemon ---------------------------------------------------------------------

daemon=${SC_TLS_SECURECOMMD:-}
sc=${SC_TLS_SECURECOMM:-}
ctl=${SC_TLS_SECURECOMMCTL:-}
daemon_pid=
daemon_name=
daemon_log=
port=

# start_daemon NAME TLS_CONFIG [--no-bus]: securecommd with TLS_CONFIG
# (--tls-config) on 127.0.0.1 and a free port, on the session bus unless
# --no-bus; its output in $tmp/NAME.log ($daemon_log), its port in $port.
# Bails out when it does not start.
# shellcheck disable=SC2034 # $port is for the caller
start_daemon () {
  local name=$1 tls=$2 bus=${3:---session}
  daemon_name=$name
  daemon_log=$tmp/$name.log
  printf '{ "sessions": { "handshake_timeout_ms": %d } }\n' "$HANDSHAKE_TIMEOUT_MS" \
    >"$tmp/$name.daemon.json"
  SECURECOMMD_PASSPHRASE=x "$daemon" "$bus" --config "$tmp/$name.daemon.json" --tls-config "$tls" \
    --host 127.0.0.1 --port 0 --state-dir "$tmp/state-$name" >"$daemon_log" 2>&1 &
  daemon_pid=$!
  if ! wait_for daemon_listening; then
    bail_out "securecommd ($name) did not start listening" "$daemon_log"
  fi
  port=$(sed -n 's/^.*listening on port \([0-9]*\) .*$/\1/p' "$daemon_log" | head -1)
  if [[ $bus == --session ]] && ! wait_for "$ctl" status >/dev/null 2>&1; then
    bail_out "securecommd ($name) is not on the bus" "$daemon_log"
  fi
}
daemon_listening () {
  alive "$daemon_pid" || return 2
  grep -q 'listening on port [0-9]' "$daemon_log"
}
# stop_daemon: SIGTERM; the daemon must exit 0 (under the sanitizers, a
# leak or an error found on the way out makes it fail).
stop_daemon () {
  [[ -n $daemon_pid ]] || return 0
  kill -TERM "$daemon_pid" 2>/dev/null
  wait_exit "$daemon_pid"
  daemon_pid=
  if [[ $rc -eq 0 ]]; then
    ok "securecommd ($daemon_name) exits 0 on SIGTERM"
  else
    not_ok "securecommd ($daemon_name) exits 0 on SIGTERM" "exit status $rc" \
      "$(grep -E 'Sanitizer|runtime error|SUMMARY|CRITICAL|ERROR|WARNING|\*\*|abort|#[0-9]+ 0x' \
        "$daemon_log" | head -n 60)" "last lines:" "$(tail -n 8 "$daemon_log")"
  fi
}

# ---- outside clients ------------------------------------------------------------------

# What the daemon logs for each TLS connection, once: the established
# connection at info level (version, suite, peer subject), or why it dropped
# it. (sc-tls.c log_established, sc-server.c drop_client.)
readonly ESTABLISHED_RE='TLS from 127\.0\.0\.1:[0-9]+: TLS 1\.[23], '
readonly DROPPED_RE='dropped the connection from 127\.0\.0\.1: TLS: '

log_size () { stat -c %s "$daemon_log"; }
# new_outcome OFFSET: the daemon logged an outcome after byte OFFSET.
new_outcome () {
  tail -c +$(($1 + 1)) "$daemon_log" | grep -Eq "$ESTABLISHED_RE|$DROPPED_RE"
}

# try_client NAME CMD...: runs the outside TLS client CMD, its standard
# input held open, until the daemon has logged what it made of the
# connection. Sets $outcome:
#   accepted  the daemon logged the established TLS connection, and the
#             client was still connected then (its input is closed after);
#   refused   the daemon dropped the connection, and the client then ended
#             by itself (its input still open);
# anything else says what went wrong. The client's output is in
# $tmp/NAME.out, the daemon's lines about the connection in $tmp/NAME.dlog,
# the client's status in $client_rc. One connection at a time: the
# connections before must have had their outcome logged.
try_client () {
  local name=$1 start pid
  shift
  start=$(log_size)
  rm -f "$tmp/$name.in"
  mkfifo "$tmp/$name.in"
  "$@" <"$tmp/$name.in" >"$tmp/$name.out" 2>&1 &
  pid=$!
  exec 4>"$tmp/$name.in"
  if ! wait_for new_outcome "$start"; then
    outcome="nothing logged by the daemon"
  elif tail -c +$((start + 1)) "$daemon_log" | grep -Eq "$ESTABLISHED_RE"; then
    outcome=accepted
    alive "$pid" || outcome="accepted by the daemon, but the client had ended"
  else
    outcome=refused
    wait_for gone "$pid" || outcome="refused by the daemon, but the client still runs"
  fi
  exec 4>&-
  wait_exit "$pid"
  client_rc=$rc
  tail -c +$((start + 1)) "$daemon_log" | grep -E "$ESTABLISHED_RE|$DROPPED_RE" >"$tmp/$name.dlog"
  rm -f "$tmp/$name.in"
}

# expect_outcome DESCRIPTION NAME WANT [PATTERN...]: the last try_client
# NAME ended in WANT (accepted or refused), and the client's output plus the
# daemon's lines about it match every PATTERN.
expect_outcome () {
  local what=$1 name=$2 want=$3 pattern all
  shift 3
  all=$(cat "$tmp/$name.out" "$tmp/$name.dlog")
  if [[ $outcome != "$want" ]]; then
    not_ok "$what" "outcome: $outcome, expected $want (client status $client_rc)" \
      "daemon: $(cat "$tmp/$name.dlog")" "client: $(tail -n 15 "$tmp/$name.out")"
    return
  fi
  for pattern in "$@"; do
    if ! grep -Eq -- "$pattern" <<<"$all"; then
      not_ok "$what" "no match for: $pattern" "daemon: $(cat "$tmp/$name.dlog")" \
        "client: $(tail -n 15 "$tmp/$name.out")"
      return
    fi
  done
  ok "$what"
}
