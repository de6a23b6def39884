#!/bin/bash
# test-tls-pkcs11.sh SECURECOMMD SECURECOMM: securecommd in TLS mode with its
# certificate and private key in a PKCS #11 token, proved from outside.
#
# cert_path and key_path may be pkcs11: URIs (RFC 7512); sc-tls.c hands them
# to g_tls_certificate_new_from_pkcs11_uris(), and glib-networking's GnuTLS
# backend reaches the token through p11-kit. The token here is a private
# SoftHSM2 token in a temporary directory (SOFTHSM2_CONF names its config
# and tokendir); the server key and certificate of `securecomm gen-certs`
# are imported into it with p11tool, and the key file is then deleted. What
# is proved:
#   - p11-kit loads SoftHSM2 by itself (softhsm2-common installs
#     /usr/share/p11-kit/modules/softhsm2.module; p11-kit ignores the user's
#     ~/.config/pkcs11 when run as root, so nothing else would do);
#   - the key in the token is sensitive: it cannot be read out;
#   - --check-config accepts the URIs in the daemon config's "tls" section;
#   - securecommd serves the token's certificate, verified by
#     `openssl s_client` and `gnutls-cli` against the CA (fingerprints
#     compared with `certtool -i`), and signs its handshakes with the
#     token's key (there is no other copy);
#   - our own client, `securecomm send --tls-config` with a client
#     certificate from files (CERT_REQUIRED), is served and its message
#     acknowledged;
#   - SIGHUP with the config pointing at other objects of the token serves
#     the new certificate; a PIN given as pin-source=FILE (out of the
#     config) works as pin-value does;
#   - the daemons exit 0 on SIGTERM;
#   - a wrong PIN is refused by --check-config, the daemon survives it, and
#     an error about a key URI does not print its pin-value.
#
# Without softhsm2-util, p11tool, certtool, openssl or gnutls-cli the test
# is skipped, or fails with SC_REQUIRE_TLS_TOOLS=1 (CI installs them).
# Prints TAP.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u

# shellcheck source-path=SCRIPTDIR source=../tap-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tap-lib.sh"

usage="usage: test-tls-pkcs11.sh SECURECOMMD SECURECOMM"
# meson passes paths relative to the build folder; the test works elsewhere.
securecommd=$(realpath "${1:?$usage}") || exit 1
securecomm=$(realpath "${2:?$usage}") || exit 1

tls_require softhsm2-util p11tool certtool openssl gnutls-cli

# The SoftHSM2 library, for p11tool --provider (the daemon finds it through
# p11-kit instead): SC_SOFTHSM2_MODULE, else where distributions put it.
softhsm_module=${SC_SOFTHSM2_MODULE:-}
if [[ -z $softhsm_module ]]; then
  for f in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so \
    /usr/lib64/pkcs11/libsofthsm2.so /usr/lib/pkcs11/libsofthsm2.so; do
    [[ -f $f ]] && softhsm_module=$f && break
  done
fi
[[ -f $softhsm_module ]] || bail_out "no libsofthsm2.so found (set SC_SOFTHSM2_MODULE)"

tmp=$(mktemp -d /tmp/sc-tls-pkcs11.XXXXXX) || exit 1
daemon_pid=
cleanup () {
  if [[ -n $daemon_pid ]]; then
    kill "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp" || exit 1

# ---- the token ------------------------------------------------------------------

readonly TOKEN=securecomm-test
readonly PIN=sc-user-4711
readonly SO_PIN=sc-so-0815
# Objects are found by token label, object label and type: the token is
# visible only to processes with our SOFTHSM2_CONF.
readonly T="pkcs11:token=$TOKEN"

mkdir tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$tmp" >softhsm2.conf
export SOFTHSM2_CONF=$tmp/softhsm2.conf

softhsm2-util --init-token --free --label "$TOKEN" --pin "$PIN" --so-pin "$SO_PIN" \
  >init-token.log 2>&1 || bail_out "softhsm2-util --init-token failed" init-token.log

# The test PKI: pki/ is what the daemon and clients use; pki2/ holds the
# second server certificate (another CA: only its fingerprint is checked).
for d in pki pki2; do
  "$securecomm" gen-certs "$d" >"gen-certs-$d.log" 2>&1 \
    || bail_out "securecomm gen-certs $d failed" "gen-certs-$d.log"
done

# import LABEL ID DIR: DIR/server.key and DIR/server.crt into the token as
# LABEL (CKA_LABEL) and ID (CKA_ID, hex); the key file is then deleted.
import () {
  local label=$1 id=$2 dir=$3
  local what
  for what in privkey:key certificate:crt; do
    p11tool --provider "$softhsm_module" --login --write --set-pin "$PIN" \
      "--load-${what%:*}" "$dir/server.${what#*:}" --label "$label" --id "$id" "$T" \
      >>import.log 2>&1 || bail_out "p11tool could not import $dir into the token" import.log
  done
  rm -f "$dir/server.key"
}
import server 01 pki
import server2 02 pki2

p11tool --list-tokens >tokens.log 2>&1
if ! grep -q "URL: .*token=$TOKEN\$" tokens.log; then
  bail_out "p11-kit does not load SoftHSM2 (p11tool --list-tokens): no softhsm2.module in \
/usr/share/p11-kit/modules or /etc/pkcs11/modules?" tokens.log
fi
ok "p11-kit loads SoftHSM2 and finds the private token"

p11tool --list-privkeys --login --set-pin "$PIN" "$T;object=server" >privkeys.log 2>&1
if grep -q 'CKA_SENSITIVE' privkeys.log && ! grep -q 'CKA_EXTRACTABLE' privkeys.log; then
  ok "the server key in the token is sensitive and not extractable"
else
  not_ok "the server key in the token is sensitive and not extractable" "$(cat privkeys.log)"
fi

# sha256 CERT_PEM_ON_STDIN: the certificate's SHA-256 fingerprint, as
# certtool -i prints it.
sha256 () {
  certtool -i 2>/dev/null | sed -n '/^\tFingerprint:/{n;n;s/^\t\tsha256://p;}'
}
p11tool --export "$T;object=server;type=cert" >token-server.crt 2>export.log
fp_token=$(sha256 <token-server.crt)
fp_file=$(sha256 <pki/server.crt)
fp_file2=$(sha256 <pki2/server.crt)
if [[ -n $fp_token && $fp_token == "$fp_file" ]]; then
  ok "the token holds the server certificate of gen-certs"
else
  not_ok "the token holds the server certificate of gen-certs" \
    "token: ${fp_token:-none}, file: $fp_file" "$(cat export.log)"
fi

# ---- the configuration ---------------------------------------------------------------

readonly CERT_URI="$T;object=server;type=cert"
readonly KEY_URI="$T;object=server;type=private?pin-value=$PIN"

# daemon_json FILE CERT_URI KEY_URI: the daemon config, its "tls" section in
# the seed's format, with the client certificate required.
daemon_json () {
  printf '{\n  "tls": {\n    "enabled": true,\n    "cert_path": "%s",\n    "key_path": "%s",
    "ca_path": "%s",\n    "verify_mode": "CERT_REQUIRED"\n  }\n}\n' \
    "$2" "$3" "$tmp/pki/ca.crt" >"$1"
}
daemon_json daemon.json "$CERT_URI" "$KEY_URI"
printf '{"enabled": true, "cert_path": "%s", "key_path": "%s", "ca_path": "%s",
  "verify_mode": "CERT_REQUIRED", "server_name": "localhost"}\n' \
  "$tmp/pki/client.crt" "$tmp/pki/client.key" "$tmp/pki/ca.crt" >client.json

"$securecommd" --check-config --config daemon.json >check.log 2>&1
rc=$?
if [[ $rc -eq 0 ]] && grep -q "daemon.json: the configuration is valid" check.log; then
  ok "--check-config accepts pkcs11: URIs as tls.cert_path and tls.key_path"
else
  not_ok "--check-config accepts pkcs11: URIs as tls.cert_path and tls.key_path" \
    "exit $rc" "$(cat check.log)"
fi

# ---- the daemon --------------------------------------------------------------------------

daemon_log=
port=
# start_daemon NAME CONFIG: securecommd with CONFIG on 127.0.0.1, any free
# port, no bus; its output in NAME.log, its port in $port. Returns 1 when it
# exits or does not listen.
start_daemon () {
  daemon_log=$tmp/$1.log
  SECURECOMMD_PASSPHRASE=x "$securecommd" --no-bus --config "$2" --host 127.0.0.1 --port 0 \
    --state-dir "$tmp/state-$1" >"$daemon_log" 2>&1 &
  daemon_pid=$!
  wait_for daemon_listening || return 1
  port=$(sed -n 's/^.*listening on port \([0-9]*\) .*$/\1/p' "$daemon_log" | head -n 1)
}
daemon_listening () {
  alive "$daemon_pid" || return 1
  grep -q 'listening on port [0-9]' "$daemon_log"
}
# stop_daemon NAME: SIGTERM; it must exit 0.
stop_daemon () {
  kill -TERM "$daemon_pid" 2>/dev/null
  wait_exit "$daemon_pid"
  daemon_pid=
  if [[ $rc -eq 0 ]]; then
    ok "securecommd ($1) exits 0 on SIGTERM"
  else
    not_ok "securecommd ($1) exits 0 on SIGTERM" "exit $rc" "$(tail -n 30 "$daemon_log")"
  fi
}
# logged COUNT PATTERN: the daemon's log has COUNT lines matching PATTERN.
logged () { [[ $(grep -Ec -- "$2" "$daemon_log") -ge $1 ]]; }
readonly ESTABLISHED='TLS from 127\.0\.0\.1:[0-9]+: TLS 1\.[23], .*'\
'peer certificate "O=SecureComm,CN=client"'

# via_openssl NAME: what `openssl s_client` is served, verified against the
# CA for localhost, with the client certificate: its output in NAME.out, the
# served certificate in NAME.crt.
via_openssl () {
  timeout 30 openssl s_client -connect "127.0.0.1:$port" -CAfile pki/ca.crt \
    -verify_return_error -verify_hostname localhost -cert pki/client.crt \
    -key pki/client.key </dev/null >"$1.out" 2>&1
  openssl x509 <"$1.out" >"$1.crt" 2>/dev/null
}
# via_gnutls NAME: the same with gnutls-cli (which verifies by default).
via_gnutls () {
  timeout 30 gnutls-cli --x509cafile=pki/ca.crt --x509certfile=pki/client.crt \
    --x509keyfile=pki/client.key --save-cert="$1.crt" -p "$port" localhost \
    </dev/null >"$1.out" 2>&1
}
# expect_served DESCRIPTION NAME STATUS FINGERPRINT: the client NAME, which
# exited STATUS, exited 0 and was served the certificate FINGERPRINT.
expect_served () {
  local what=$1 name=$2 status=$3 want=$4 got
  got=$(sha256 <"$name.crt")
  if [[ $status -eq 0 && -n $got && $got == "$want" ]]; then
    ok "$what"
  else
    not_ok "$what" "exit $status; served ${got:-nothing}, expected $want" \
      "$(tail -n 15 "$name.out")" "daemon: $(tail -n 5 "$daemon_log")"
  fi
}

if ! start_daemon pin-value daemon.json; then
  bail_out "securecommd did not start with its key in the token" "$daemon_log"
fi
ok "securecommd starts in TLS mode with pkcs11: URIs (pin-value in the key URI)"

via_openssl s_client
expect_served "openssl s_client verifies the token's certificate and is served it" \
  s_client $? "$fp_token"
check "openssl s_client: verify return code 0" grep -q 'Verify return code: 0 (ok)' s_client.out
via_gnutls gnutls_cli
expect_served "gnutls-cli verifies the token's certificate and is served it" \
  gnutls_cli $? "$fp_token"
check "the daemon logs both TLS connections with the client's certificate" \
  wait_for logged 2 "$ESTABLISHED"

SECURECOMM_PASSPHRASE=client timeout 60 "$securecomm" send --tls-config client.json \
  -i "$tmp/client-identity.key" "127.0.0.1:$port" "signed by the token" >send.out 2>&1
rc=$?
if [[ $rc -eq 0 ]] && grep -q '1 message acknowledged' send.out; then
  ok "securecomm send --tls-config (client certificate from files) is served and acknowledged"
else
  not_ok "securecomm send --tls-config (client certificate from files) is served and acknowledged" \
    "exit $rc" "$(cat send.out)" "daemon: $(tail -n 8 "$daemon_log")"
fi

# Another pair of objects in the token, after SIGHUP.
daemon_json daemon.json "$T;object=server2;type=cert" \
  "$T;object=server2;type=private?pin-value=$PIN"
kill -HUP "$daemon_pid"
check "SIGHUP reloads the certificate from the token" \
  wait_for logged 1 "TLS certificate reloaded: .*object=server2.*SIGHUP"
timeout 30 openssl s_client -connect "127.0.0.1:$port" -cert pki/client.crt -key pki/client.key \
  </dev/null >rotated.out 2>&1
openssl x509 <rotated.out >rotated.crt 2>/dev/null
expect_served "after SIGHUP a new client is served the token's other certificate" \
  rotated 0 "$fp_file2"
check "the daemon keeps running" alive "$daemon_pid"
stop_daemon pin-value

# The PIN from a file: no secret in the daemon's config.
printf '%s' "$PIN" >pin.txt
chmod 600 pin.txt
daemon_json pin-source.json "$CERT_URI" "$T;object=server;type=private?pin-source=$tmp/pin.txt"
if start_daemon pin-source pin-source.json; then
  ok "securecommd starts with the PIN in pin-source=FILE"
  via_gnutls pin_source
  expect_served "with pin-source, gnutls-cli is served the token's certificate" \
    pin_source $? "$fp_token"
  stop_daemon pin-source
else
  not_ok "securecommd starts with the PIN in pin-source=FILE" "$(cat "$daemon_log")"
fi

# ---- a key the token will not use ---------------------------------------------------------------------------
#
# Left to itself, a key URI is only opened at the first handshake: glib-networking 2.74
# (g_tls_certificate_gnutls_copy) then logs "Failed to copy PKCS #11 private
# key" at info level, hands GnuTLS the certificate without its key, and
# gnutls_handshake() dereferences NULL: the daemon dies of SIGSEGV.
# So sc-tls.c has the token sign once when it loads the configuration
# (sc_x509_pkcs11_key_matches) and refuses the key there.

daemon_json wrong-pin.json "$CERT_URI" "$T;object=server;type=private?pin-value=wrong-pin"
"$securecommd" --check-config --config wrong-pin.json >wrong-pin.out 2>&1
wrong_pin_rc=$?
refused_wrong_pin () { [[ $wrong_pin_rc -eq 2 ]] && grep -q 'key_path' wrong-pin.out; }
check "--check-config refuses a key URI with a wrong PIN (exit 2)" refused_wrong_pin

# survives_wrong_pin: the daemon with the wrong PIN either refuses to start
# (exit 2) or refuses a TLS client and keeps serving.
survives_wrong_pin () {
  local rc
  if ! start_daemon wrong-pin wrong-pin.json; then
    wait "$daemon_pid" 2>/dev/null
    rc=$?
    daemon_pid=
    [[ $rc -eq 2 ]]
    return
  fi
  via_gnutls wrong_pin_client
  sleep 1 # the crash, if any, follows the handshake at once
  if alive "$daemon_pid"; then
    kill -TERM "$daemon_pid"
    wait "$daemon_pid"
    rc=$?
    daemon_pid=
    [[ $rc -eq 0 ]]
  else
    wait "$daemon_pid" 2>/dev/null
    wrong_pin_exit=$?
    daemon_pid=
    return 1
  fi
}
wrong_pin_exit=
check "a daemon with a wrong PIN does not start, or survives its first TLS client" \
  survives_wrong_pin
if [[ -n $wrong_pin_exit ]]; then
  echo "# securecommd exited with status $wrong_pin_exit at the first client" \
    "(128 + signal: 139 is SIGSEGV, 134 SIGABRT under ASan)"
  grep -m 1 'PKCS #11' "$daemon_log" | sed 's/^/# /'
fi

# An error about the URIs names them, without the PIN.
daemon_json missing-cert.json "$T;object=nothere;type=cert" "$KEY_URI"
"$securecommd" --check-config --config missing-cert.json >missing-cert.out 2>&1
missing_cert_rc=$?
if [[ $missing_cert_rc -eq 2 ]] && grep -q 'cert_path pkcs11:token=' missing-cert.out; then
  ok "--check-config refuses a certificate URI that names no object (exit 2, naming it)"
else
  not_ok "--check-config refuses a certificate URI that names no object (exit 2, naming it)" \
    "exit $missing_cert_rc" "$(cat missing-cert.out)"
fi
no_pin_printed () { ! grep -q -- "$PIN" missing-cert.out; }
check "an error about the token's URIs does not print the PIN" no_pin_printed

finish
