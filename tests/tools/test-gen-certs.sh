#!/usr/bin/env bash
# test-gen-certs.sh: `securecomm gen-certs`, the real binary, checked with
# the tools people use on certificates: GnuTLS's certtool and OpenSSL.
#
# What is proved:
#   - gen-certs [DIR] exits 0 and writes ca.crt, server.crt, server.key,
#     client.crt and client.key (into test_certs without DIR); keys mode
#     0600, certificates 0644, a new directory 0700;
#   - certtool verifies the server certificate against ca.crt for serverAuth
#     and the names localhost, 127.0.0.1 and ::1 under the "high" profile,
#     the client certificate for clientAuth; and refuses the server one for
#     example.com and the client one for serverAuth;
#   - openssl verify -purpose sslserver/sslclient accepts each certificate
#     for its own purpose only; openssl x509 -checkhost/-checkip match
#     localhost, 127.0.0.1 and ::1 and nothing else;
#   - the CA is CA:TRUE (critical) with keyCertSign and cRLSign; the leaves
#     are CA:FALSE with digitalSignature, key identifiers on all three;
#     16-byte serials; valid now, not expiring within 824 days but within 826;
#   - the keys are unencrypted PKCS#8 P-256 keys that match their
#     certificates, and a real mutual TLS handshake (openssl s_server and
#     s_client) succeeds with them;
#   - a second run refuses to overwrite (exit 1, naming the file and
#     --force, files unchanged); --force replaces them (exit 0, new keys,
#     still 0600); usage errors exit 2.
#
# Prints TAP; a check whose tool is missing is skipped.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
# shellcheck source-path=SCRIPTDIR source=../tap-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tap-lib.sh"

sc=${SC_TOOLS_SECURECOMM:?set SC_TOOLS_SECURECOMM to the securecomm to test}

tmp=$(mktemp -d /tmp/sc-gen-certs.XXXXXX) || exit 1
server_pid=
cleanup () {
  [[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# check_out DESCRIPTION PATTERN CMD...: passes when CMD succeeds and its
# output (stdout and stderr) matches the extended regex PATTERN.
check_out () {
  local what=$1 pattern=$2 out
  shift 2
  if ! out=$("$@" 2>&1); then
    not_ok "$what" "failed: $*" "$out"
  elif ! grep -Eq -- "$pattern" <<<"$out"; then
    not_ok "$what" "no match for: $pattern" "$out"
  else
    ok "$what"
  fi
}
# check_fails DESCRIPTION CMD...: passes when CMD fails.
check_fails () {
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then not_ok "$what" "succeeded: $*"; else ok "$what"; fi
}
mode () { stat -c %a "$1"; }
have () { command -v "$1" >/dev/null; }

readonly SERVER_AUTH=1.3.6.1.5.5.7.3.1
readonly CLIENT_AUTH=1.3.6.1.5.5.7.3.2
pki=$tmp/pki
files=(ca.crt server.crt server.key client.crt client.key)

# ---- generation -------------------------------------------------------------
"$sc" gen-certs "$pki" >"$tmp/gen.out" 2>"$tmp/gen.err"
rc=$?
if [[ $rc -eq 0 ]]; then
  ok "gen-certs DIR exits 0"
else
  not_ok "gen-certs DIR exits 0" "status $rc" "$(cat "$tmp/gen.err")"
  bail_out "nothing to check"
fi
check "it says the keys are for tests only" grep -q 'for tests only' "$tmp/gen.err"
missing=()
for f in "${files[@]}"; do [[ -s $pki/$f ]] || missing+=("$f"); done
check "the five files are written" test ${#missing[@]} -eq 0
check "the new directory is mode 0700" test "$(mode "$pki")" = 700
check "the keys are mode 0600" test "$(mode "$pki/server.key"):$(mode "$pki/client.key")" = 600:600
check "the certificates are mode 0644" \
  test "$(mode "$pki/ca.crt"):$(mode "$pki/server.crt"):$(mode "$pki/client.crt")" = 644:644:644
mkdir "$tmp/cwd"
(cd "$tmp/cwd" && "$sc" gen-certs --quiet >/dev/null 2>&1)
check "without DIR it writes into test_certs" test -s "$tmp/cwd/test_certs/server.key"

# ---- certtool (GnuTLS) --------------------------------------------------------
ct_verify () {
  certtool --verify --verify-profile=high --load-ca-certificate "$pki/ca.crt" --infile "$@"
}
if have certtool; then
  for name in localhost 127.0.0.1 ::1; do
    check_out "certtool: server.crt verifies for serverAuth and $name" 'Chain verification output: Verified' \
      ct_verify "$pki/server.crt" --verify-purpose=$SERVER_AUTH --verify-hostname="$name"
  done
  check_out "certtool: client.crt verifies for clientAuth" 'Chain verification output: Verified' \
    ct_verify "$pki/client.crt" --verify-purpose=$CLIENT_AUTH
  check_fails "certtool: server.crt does not verify for example.com" \
    ct_verify "$pki/server.crt" --verify-hostname=example.com
  check_fails "certtool: client.crt does not verify for serverAuth" \
    ct_verify "$pki/client.crt" --verify-purpose=$SERVER_AUTH
else
  skip "certtool checks" "certtool (gnutls-bin) is not installed"
fi

# ---- openssl --------------------------------------------------------------------
# key_matches KEY CERT: the public key of KEY is the one in CERT.
key_matches () {
  local from_key from_cert
  from_key=$(openssl pkey -in "$pki/$1" -pubout) || return 1
  from_cert=$(openssl x509 -in "$pki/$2" -noout -pubkey) || return 1
  [[ -n $from_key && $from_key == "$from_cert" ]]
}
if have openssl; then
  ov () { openssl verify -CAfile "$pki/ca.crt" "$@"; }
  check_out "openssl verify -purpose sslserver: server.crt for localhost" ': OK$' \
    ov -purpose sslserver -verify_hostname localhost "$pki/server.crt"
  check_out "openssl verify -purpose sslserver: server.crt for 127.0.0.1" ': OK$' \
    ov -purpose sslserver -verify_ip 127.0.0.1 "$pki/server.crt"
  check_out "openssl verify -purpose sslclient: client.crt" ': OK$' \
    ov -purpose sslclient "$pki/client.crt"
  check_fails "openssl verify -purpose sslclient refuses server.crt" \
    ov -purpose sslclient "$pki/server.crt"
  check_fails "openssl verify -purpose sslserver refuses client.crt" \
    ov -purpose sslserver "$pki/client.crt"
  check_fails "openssl verify refuses server.crt for example.com" \
    ov -purpose sslserver -verify_hostname example.com "$pki/server.crt"

  x509 () { openssl x509 -noout -in "$pki/$1" "${@:2}"; }
  check_out "openssl x509 -checkhost localhost matches" '^Hostname localhost does match' \
    x509 server.crt -checkhost localhost
  check_out "openssl x509 -checkip 127.0.0.1 matches" '^IP 127.0.0.1 does match' \
    x509 server.crt -checkip 127.0.0.1
  check_out "openssl x509 -checkip ::1 matches" '^IP ::1 does match' x509 server.crt -checkip ::1
  check_out "openssl x509 -checkhost example.com does not match" 'does NOT match' \
    x509 server.crt -checkhost example.com
  check_out "openssl x509 -checkip 127.0.0.2 does not match" 'does NOT match' \
    x509 server.crt -checkip 127.0.0.2

  x509 ca.crt -text >"$tmp/ca.txt" 2>&1
  x509 server.crt -text >"$tmp/server.txt" 2>&1
  x509 client.crt -text >"$tmp/client.txt" 2>&1
  ext () { grep -A1 -E "$2" "$tmp/$1.txt" | tr -s ' \n' ' '; }
  has_key_ids () { grep -q 'Subject Key Identifier' "$1" && grep -q 'Authority Key Identifier' "$1"; }
  check "ca.crt: basicConstraints critical CA:TRUE" \
    grep -Eq 'Basic Constraints: critical CA:TRUE' <<<"$(ext ca 'Basic Constraints')"
  check "ca.crt: keyUsage critical keyCertSign, cRLSign" \
    grep -Eq 'Key Usage: critical Certificate Sign, CRL Sign $' <<<"$(ext ca 'X509v3 Key Usage')"
  check "server.crt: CA:FALSE, digitalSignature, serverAuth" \
    grep -Eq 'critical CA:FALSE.*Key Usage: critical Digital Signature .*Extended Key Usage: TLS Web Server Authentication $' \
    <<<"$(ext server 'Basic Constraints|X509v3 Key Usage|Extended Key Usage')"
  check "server.crt: SANs DNS:localhost, 127.0.0.1 and ::1" \
    grep -Fq 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1' "$tmp/server.txt"
  check "client.crt: CA:FALSE, digitalSignature, clientAuth" \
    grep -Eq 'critical CA:FALSE.*Key Usage: critical Digital Signature .*Extended Key Usage: TLS Web Client Authentication $' \
    <<<"$(ext client 'Basic Constraints|X509v3 Key Usage|Extended Key Usage')"
  check "client.crt: subject CN=client" grep -Eq 'Subject: O = SecureComm, CN = client$' "$tmp/client.txt"
  for c in ca server client; do
    check "$c.crt: subject and authority key identifiers" has_key_ids "$tmp/$c.txt"
    ski=$(grep -A1 'Subject Key Identifier' "$tmp/$c.txt" | tail -1 | tr -d ' ')
    aki=$(grep -A1 'Authority Key Identifier' "$tmp/$c.txt" | tail -1 | tr -d ' ' | sed 's/^keyid://')
    ca_ski=$(grep -A1 'Subject Key Identifier' "$tmp/ca.txt" | tail -1 | tr -d ' ')
    check "$c.crt: authority key id is the CA's subject key id" \
      test -n "$ski" -a -n "$aki" -a "$aki" = "$ca_ski"
    serial=$(x509 "$c.crt" -serial | cut -d= -f2)
    check "$c.crt: a 16-byte serial ($serial)" grep -Eq '^[0-7][0-9A-F]{31}$' <<<"$serial"
    check "$c.crt: ECDSA P-256, signed with ECDSA-SHA256" \
      grep -Eq 'prime256v1.*ecdsa-with-SHA256' <<<"$(grep -E 'ASN1 OID|Signature Algorithm' "$tmp/$c.txt" | tr '\n' ' ')"
    check "$c.crt: does not expire within 824 days" x509 "$c.crt" -checkend $((824 * 86400))
    check_fails "$c.crt: expires within 826 days" x509 "$c.crt" -checkend $((826 * 86400))
  done

  for k in server client; do
    check "$k.key: unencrypted PKCS#8" grep -qx -- '-----BEGIN PRIVATE KEY-----' "$pki/$k.key"
    check_out "$k.key: a P-256 key, read without a passphrase" 'ASN1 OID: prime256v1' \
      openssl pkey -in "$pki/$k.key" -passin pass: -noout -text
    check "$k.key matches $k.crt" key_matches "$k.key" "$k.crt"
  done
  check_fails "server.key does not match client.crt" key_matches server.key client.crt
else
  skip "openssl checks" "openssl is not installed"
fi

# ---- a real mutual TLS handshake ---------------------------------------------------
if have openssl && have timeout; then
  timeout 60 openssl s_server -accept 127.0.0.1:0 -naccept 1 -www -cert "$pki/server.crt" \
    -key "$pki/server.key" -CAfile "$pki/ca.crt" -Verify 1 -verify_return_error \
    >"$tmp/s_server.out" 2>&1 &
  server_pid=$!
  port=
  for _ in $(seq 300); do
    port=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$tmp/s_server.out")
    [[ -n $port ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -n $port ]]; then
    check_out "openssl s_client verifies localhost and presents client.crt (mutual TLS)" \
      '^Verification: OK' timeout 30 openssl s_client -connect "127.0.0.1:$port" -brief \
      -CAfile "$pki/ca.crt" -verify_return_error -verify_hostname localhost \
      -cert "$pki/client.crt" -key "$pki/client.key" </dev/null
  else
    not_ok "openssl s_server starts with server.crt and server.key" "$(cat "$tmp/s_server.out")"
  fi
  kill "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=
else
  skip "mutual TLS handshake" "openssl or timeout is not installed"
fi

# ---- overwriting ---------------------------------------------------------------------
sha () { (cd "$pki" && sha256sum "${files[@]}"); }
before=$(sha)
"$sc" gen-certs "$pki" >/dev/null 2>"$tmp/again.err"
rc=$?
check "a second gen-certs refuses to overwrite (exit 1)" test $rc -eq 1
check "and names the file and --force" grep -Eq "$pki/ca.crt exists already.*--force" "$tmp/again.err"
check "and leaves the files as they were" test "$(sha)" = "$before"
chmod 0644 "$pki/server.key"
"$sc" gen-certs --force "$pki" >/dev/null 2>"$tmp/force.err"
rc=$?
check "gen-certs --force exits 0" test $rc -eq 0
check "and writes new keys" test "$(cd "$pki" && sha256sum server.key client.key)" \
  != "$(grep -E ' (server|client)\.key$' <<<"$before")"
check "and every key is mode 0600 again" \
  test "$(mode "$pki/server.key"):$(mode "$pki/client.key")" = 600:600
if have openssl; then
  check_out "the new server.crt verifies against the new ca.crt" ': OK$' \
    openssl verify -CAfile "$pki/ca.crt" -purpose sslserver "$pki/server.crt"
fi

# ---- usage -------------------------------------------------------------------------------
"$sc" gen-certs a b >/dev/null 2>&1
check "gen-certs with two directories exits 2" test $? -eq 2
"$sc" send --force localhost x >/dev/null 2>&1
check "--force with another command exits 2" test $? -eq 2
touch "$tmp/a-file"
"$sc" gen-certs "$tmp/a-file" >/dev/null 2>"$tmp/notdir.err"
check "gen-certs into a file exits 1" test $? -eq 1
check "and says it is not a directory" grep -q 'not a directory' "$tmp/notdir.err"

finish
