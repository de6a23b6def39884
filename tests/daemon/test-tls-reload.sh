#!/bin/bash
# test-tls-reload.sh SECURECOMMD SECURECOMM: securecommd's TLS start-up
# checks and certificate reload (src/daemon/sc-daemon-tls.c), from outside.
#
# Certificates come from `securecomm gen-certs` (two sets, a and b, with the
# same subject and different keys). What is proved:
#   - --check-config loads the TLS files: a key that is not the certificate's,
#     a file that is no certificate, a raw GnuTLS "priority" key are refused
#     with exit status 2 and a message naming the file, key and reason; a
#     daemon started with a bad file exits 2 before it touches its identity;
#   - a certificate and key replaced with `mv` are reloaded after the quiet
#     time: the log says "TLS certificate reloaded" and, when openssl is
#     installed, a new TLS client is served the new certificate;
#   - a broken certificate written over it is refused with a warning naming
#     the file, and the old certificate is still served;
#   - SIGHUP reloads; a changed min_version is reported as needing a restart,
#     and TLS cannot be turned off by a reload;
#   - the daemon keeps serving throughout and exits 0 on SIGTERM.
# Prints TAP.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u

# shellcheck source-path=SCRIPTDIR source=../tap-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tap-lib.sh"

# meson passes paths relative to the build folder; the test works elsewhere.
securecommd=$(realpath "${1:?usage: test-tls-reload.sh SECURECOMMD SECURECOMM}") || exit 1
securecomm=$(realpath "${2:?usage: test-tls-reload.sh SECURECOMMD SECURECOMM}") || exit 1

tmp=$(mktemp -d /tmp/sc-tls-reload.XXXXXX) || exit 1
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

if ! "$securecomm" gen-certs a >/dev/null 2>&1 || ! "$securecomm" gen-certs b >/dev/null 2>&1; then
  skip_all "securecomm gen-certs failed"
fi
mkdir live && cp a/* live/
echo "not a certificate" >junk.crt

tls_config () { # tls_config EXTRA_JSON_MEMBERS
  printf '{"enabled": true, "cert_path": "live/server.crt", "key_path": "live/server.key",
  "ca_path": "live/ca.crt", "verify_mode": "CERT_OPTIONAL"%s}\n' "$1"
}

# --- start-up checks --------------------------------------------------------

tls_config "" >tls.json
out=$("$securecommd" --check-config --tls-config tls.json 2>&1)
check "--check-config accepts gen-certs files" \
  grep -q "tls.json: the configuration is valid" <<<"$out"

expect_refused () { # expect_refused DESCRIPTION FILE PATTERN [OPTION]
  local out status
  out=$("$securecommd" --check-config "${4:---tls-config}" "$2" 2>&1)
  status=$?
  if [[ $status -eq 2 ]] && grep -q -- "$3" <<<"$out"; then
    ok "$1"
  else
    not_ok "$1" "exit $status: $out"
  fi
}

sed 's|"key_path": "live/server.key"|"key_path": "b/server.key"|' tls.json >wrong-key.json
expect_refused "--check-config: a key that is not the certificate's" wrong-key.json \
  "wrong-key.json: TLS: key_path $tmp/b/server.key: not the key of the certificate"
sed 's|"cert_path": "live/server.crt"|"cert_path": "junk.crt"|' tls.json >junk.json
expect_refused "--check-config: a file that is no certificate" junk.json \
  "junk.json: TLS: cert_path $tmp/junk.crt"
tls_config ', "priority": "NORMAL:+VERS-TLS1.0"' >priority.json
expect_refused "--check-config: a raw GnuTLS priority string is no key" priority.json \
  "priority.json: priority: unknown key"
printf '{"tls": {"enabled": true, "cert_path": "live/server.crt", "key_path": "live/server.key"}}\n' \
  >no-ca.json
expect_refused "--check-config: CERT_REQUIRED without a CA in the \"tls\" section" no-ca.json \
  "no-ca.json: tls.verify_mode: CERT_REQUIRED needs tls.ca_path" --config

SECURECOMMD_PASSPHRASE='test' "$securecommd" --no-bus --port 0 --state-dir "$tmp/state0" \
  --tls-config junk.json >bad-start.log 2>&1
status=$?
if [[ $status -eq 2 && ! -e state0/identity.key ]]; then
  ok "a bad TLS file stops the start-up (exit 2) before the identity key"
else
  not_ok "a bad TLS file stops the start-up (exit 2) before the identity key" \
    "exit $status: $(cat bad-start.log)"
fi

# --- reload -------------------------------------------------------------------

SECURECOMMD_PASSPHRASE='test' "$securecommd" --no-bus --port 0 --state-dir "$tmp/state" \
  --tls-config tls.json >daemon.log 2>&1 &
daemon_pid=$!

# wait_log COUNT PATTERN: until the log has COUNT lines matching PATTERN.
wait_log () {
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(grep -c -- "$2" daemon.log) -ge $1 ]] && return 0
    kill -0 "$daemon_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

if ! wait_log 1 "listening on port"; then
  not_ok "the daemon starts in TLS mode" "$(cat daemon.log)"
  finish
  exit
fi
ok "the daemon starts in TLS mode"
port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' daemon.log | head -n 1)

fingerprint () {
  openssl x509 -in "$1" -noout -fingerprint -sha256
}
served () {
  echo | timeout 10 openssl s_client -connect "127.0.0.1:$port" -cert a/client.crt \
    -key a/client.key 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
check_served () { # check_served DESCRIPTION CERT
  if ! command -v openssl >/dev/null; then
    skip "$1" "openssl is not installed"
  elif [[ $(served) == "$(fingerprint "$2")" ]]; then
    ok "$1"
  else
    not_ok "$1"
  fi
}

check_served "a client is served the first certificate" a/server.crt

reloaded='TLS certificate reloaded: '
cp b/server.key live/.new.key && cp b/server.crt live/.new.crt
mv live/.new.key live/server.key && mv live/.new.crt live/server.crt
check "a certificate and key replaced with mv are reloaded" \
  wait_log 1 "${reloaded}O=SecureComm,CN=localhost ($tmp/live/server.crt; TLS files changed)"
check_served "a new client is served the new certificate" b/server.crt

cp junk.crt live/.new.crt && mv live/.new.crt live/server.crt
check "a broken certificate is refused with a warning naming it" \
  wait_log 1 "TLS certificate not reloaded, the current one stays in use: cert_path $tmp/live/server.crt"
check_served "the old certificate stays in use" b/server.crt

cp a/server.key live/server.key && cp a/server.crt live/server.crt
sleep 0.5 # the writes above reload too: let that settle, then count
before=$(grep -c -- "; SIGHUP)" daemon.log)
kill -HUP "$daemon_pid"
check "SIGHUP reloads" wait_log $((before + 1)) "${reloaded}.*; SIGHUP)"
check_served "after SIGHUP the first certificate is served again" a/server.crt

tls_config ', "min_version": "1.3"' >tls.json
kill -HUP "$daemon_pid"
check "a changed min_version is reported as needing a restart" \
  wait_log 1 "SIGHUP: TLS min_version, cipher_suites changed: .*only with a restart"

printf '{"enabled": false}\n' >tls.json
kill -HUP "$daemon_pid"
check "TLS cannot be turned off by a reload" wait_log 1 "cannot be turned off while securecommd runs"

kill -TERM "$daemon_pid"
wait "$daemon_pid"
status=$?
daemon_pid=
check "the daemon exits 0 on SIGTERM" test "$status" -eq 0
finish_with_log daemon.log
