#!/bin/bash
# test-tls-matrix.sh: securecommd in TLS mode, checked from outside with the
# clients and the scanner administrators use: openssl s_client, gnutls-cli,
# sslscan, and our own `securecomm --tls-config`. Real sockets on 127.0.0.1,
# the daemon on a private session bus (dbus-run-session).
#
# The PKI: `securecomm gen-certs` for the good certificates, certtool for
# the bad ones (tls-lib.sh make_pki): expired, not yet valid, wrong host
# name, signed by an untrusted CA, revoked in a CRL, the wrong extended key
# usage (a clientAuth-only certificate as a server's, a serverAuth-only one
# as a client's).
#
# What is proved, against a daemon with verify_mode CERT_REQUIRED, a CRL
# and min_version "1.2":
#   - our client: `securecomm send --tls-config` needs no --pin once the
#     server's certificate is verified; a --pin, a known-hosts entry or a
#     pinned_spki_sha256 that does not match is refused (status 3), a
#     matching one accepted; no client certificate is refused; a TLS
#     configuration that verifies nothing does not stand in for a pin;
#     errors in the --tls-config file, or in a file it names, name the file
#     and the key (status 1);
#   - openssl s_client and gnutls-cli: the good client certificate (from
#     either trusted CA) completes the handshake on TLS 1.3 with
#     AES-256-GCM, and on TLS 1.2 with ECDHE-ECDSA-AES256-GCM-SHA384; no
#     client certificate, each bad client certificate, TLS 1.0 and 1.1, weak
#     or non-AES-256 suites on TLS 1.2, TLS_AES_128_GCM_SHA256 and ChaCha20
#     on TLS 1.3 are refused, the daemon logging why; after every refusal
#     the daemon still serves a `securecomm send`;
#   - sslscan finds only TLS 1.2 and 1.3, only the allowed suites
#     (TLS_AES_256_GCM_SHA384, ECDHE-ECDSA-AES256-GCM-SHA384,
#     ECDHE-RSA-AES256-GCM-SHA384), only the groups x25519, P-256, P-384 and
#     P-521, no insecure renegotiation, no Heartbleed;
# against a daemon with min_version "1.3": TLS 1.2 refused (s_client and
# gnutls-cli), TLS_AES_128_GCM_SHA256 and TLS_AES_256_GCM_SHA384 accepted,
# and sslscan finds TLS 1.3 alone with only those two suites;
# and our client against daemons presenting each bad server certificate:
# status 3 and a message that says what is wrong (a control daemon with a
# good certificate of the same CA: status 0).
#
# An outside client is judged accepted when the daemon logs its established
# TLS connection (version, suite, peer subject) while the client is still
# connected, refused when the daemon drops it and the client then ends by
# itself (tls-lib.sh try_client). Waits are hang guards, not timing
# assertions. Prints TAP (the plan at the end). Skips as a whole when a tool
# is missing, unless SC_REQUIRE_TLS_TOOLS=1.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u

# shellcheck source-path=SCRIPTDIR source=tls-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/tls-lib.sh"

tls_require dbus-run-session dbus-daemon mkfifo openssl gnutls-cli certtool sslscan
exec_on_private_bus "$@"

: "${daemon:?set SC_TLS_SECURECOMMD}" "${sc:?set SC_TLS_SECURECOMM}" "${ctl:?set SC_TLS_SECURECOMMCTL}"

tmp=$(mktemp -d /tmp/sc-tls-matrix.XXXXXX) || exit 1
cleanup () {
  exec 4>&- 2>/dev/null
  [[ -n $daemon_pid ]] && kill -KILL "$daemon_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

make_pki "$tmp/pki"
good=$pki/good

# ---- configurations -------------------------------------------------------------
crl="\"crl_path\": \"$pki/crl.pem\""
tls_json "$tmp/d12.tls.json" "$good/server.crt" "$good/server.key" \
  '"verify_mode": "CERT_REQUIRED"' "$crl"
tls_json "$tmp/d13.tls.json" "$good/server.crt" "$good/server.key" \
  '"verify_mode": "CERT_REQUIRED"' "$crl" '"min_version": "1.3"'
tls_json "$tmp/client.json" "$good/client.crt" "$good/client.key" "$crl"
tls_json "$tmp/client-nocert.json" "" "" "$crl"
tls_json "$tmp/client-verify-none.json" "$good/client.crt" "$good/client.key" \
  '"verify_mode": "CERT_NONE"'
tls_json "$tmp/client-spki-ok.json" "$good/client.crt" "$good/client.key" \
  "\"pinned_spki_sha256\": [\"$(spki_sha256 "$good/server.crt")\"]"
other_spki=$(spki_sha256 "$pki/good2-server.crt")
tls_json "$tmp/client-spki-bad.json" "$good/client.crt" "$good/client.key" \
  "\"pinned_spki_sha256\": [\"$other_spki\"]"

# still_serving NAME WHAT: after WHAT, a good `securecomm send` still works.
still_serving () {
  run "serve-$1" "$sc" send --quiet --tls-config "$tmp/client.json" "127.0.0.1:$port" "after $1"
  expect "the daemon still serves after $2 (securecomm send --tls-config exits 0)" 0 "serve-$1"
}

# ---- the daemon: CERT_REQUIRED, a CRL, min_version 1.2 ------------------------------
start_daemon d12 "$tmp/d12.tls.json"
target=127.0.0.1:$port
run status "$ctl" status
expect "securecommctl status reports TLS on" 0 status '^TLS: +yes$'
fp=$(sed -n 's/^Server fingerprint: *\([0-9a-f]\{64\}\)$/\1/p' "$tmp/status.out")
[[ -n $fp ]] || bail_out "no fingerprint in securecommctl status" "$tmp/status.out" \
  "$tmp/status.err"

# ---- our client ---------------------------------------------------------------------
start=$(log_size)
run send "$sc" send --tls-config "$tmp/client.json" "$target" "hello over TLS"
expect "securecomm send --tls-config with a verified server certificate needs no pin: exit 0" \
  0 send '^securecomm: 1 message acknowledged$'
check "the daemon logged the session's TLS 1.3 connection, suite and client subject" \
  grep -Eq 'TLS 1\.3, TLS_AES_256_GCM_SHA384, peer certificate "O=SecureComm,CN=client"' \
  <(tail -c +$((start + 1)) "$daemon_log")
run pin-ok "$sc" send --quiet --tls-config "$tmp/client.json" --pin "$fp" "$target" x
expect "--tls-config with the daemon's --pin: exit 0" 0 pin-ok
wrong=$(printf '%064d' 0)
run pin-bad "$sc" send --tls-config "$tmp/client.json" --pin "$wrong" "$target" x
expect "--tls-config does not override a wrong --pin: exit 3 naming both keys" 3 pin-bad \
  "the server's key $fp does not match the pinned fingerprint $wrong"
printf '%s %s\n' "$target" "$wrong" >"$tmp/known_hosts"
run kh-bad "$sc" send --tls-config "$tmp/client.json" --known-hosts "$tmp/known_hosts" "$target" x
expect "--tls-config does not override a changed key in --known-hosts: exit 3" 3 kh-bad "$fp"
run spki-ok "$sc" send --quiet --tls-config "$tmp/client-spki-ok.json" "$target" x
expect "pinned_spki_sha256 with the server certificate's key: exit 0" 0 spki-ok
run spki-bad "$sc" send --tls-config "$tmp/client-spki-bad.json" "$target" x
expect "pinned_spki_sha256 with another key: exit 3, naming the server's key" 3 spki-bad \
  "certificate key [0-9a-f]{64} is not in pinned_spki_sha256"
still_serving spki-bad "a pin mismatch"
run nocert "$sc" send --tls-config "$tmp/client-nocert.json" "$target" x
expect "our client without a client certificate is refused by CERT_REQUIRED: exit 3" 3 nocert \
  'TLS'
still_serving nocert "our client without a certificate"
run verify-none "$sc" send --tls-config "$tmp/client-verify-none.json" "$target" x
expect "a TLS configuration with CERT_NONE is no way to trust the server: exit 3" 3 \
  verify-none 'no way to trust the server'
run no-file "$sc" send --tls-config "$tmp/missing.json" "$target" x
expect "a missing --tls-config file: exit 1, naming it" 1 no-file "$tmp/missing\\.json"
printf '{ "enabled": true, "frobnicate": 1 }\n' >"$tmp/unknown-key.json"
run unknown-key "$sc" send --tls-config "$tmp/unknown-key.json" "$target" x
expect "an unknown key in --tls-config: exit 1, naming the file and the key" 1 unknown-key \
  "$tmp/unknown-key\\.json: frobnicate: unknown key"
printf '{ "enabled": "yes" }\n' >"$tmp/wrong-type.json"
run wrong-type "$sc" send --tls-config "$tmp/wrong-type.json" "$target" x
expect "a value of the wrong type in --tls-config: exit 1, naming the file and the key" 1 \
  wrong-type "$tmp/wrong-type\\.json: enabled: must be true or false"
printf 'not a certificate\n' >"$tmp/garbage.pem"
printf '{ "enabled": true, "ca_path": "garbage.pem" }\n' >"$tmp/bad-ca.json"
run bad-ca "$sc" send --tls-config "$tmp/bad-ca.json" "$target" x
expect "a ca_path that holds no certificate: exit 1, naming the --tls-config file and the key" 1 \
  bad-ca "$tmp/bad-ca\\.json: ca_path $tmp/garbage\\.pem: "
run tls-usage "$sc" gen-certs --tls-config "$tmp/client.json" "$tmp/unused"
expect "--tls-config with gen-certs is a usage error: exit 2" 2 tls-usage \
  '--tls-config applies to send, listen and connect only'

# ---- outside clients ----------------------------------------------------------------
s_client=(openssl s_client -connect "$target" -servername localhost -CAfile "$pki/trust.pem"
  -verify_return_error)
s_good=("${s_client[@]}" -cert "$good/client.crt" -key "$good/client.key")
# Old versions need OpenSSL's security level 0 to be offered at all.
s_old=(-cipher 'DEFAULT@SECLEVEL=0')
gnutls=(gnutls-cli --x509cafile "$pki/trust.pem" -p "$port" localhost)
g_good=("${gnutls[@]}" --x509certfile "$good/client.crt" --x509keyfile "$good/client.key")
logged_tls13='TLS 1\.3, TLS_AES_256_GCM_SHA384, peer certificate "O=SecureComm,CN=client"'

try_client s-good "${s_good[@]}"
expect_outcome "s_client with the good client certificate: handshake completes (TLS 1.3, AES-256-GCM)" \
  s-good accepted 'Verify return code: 0 \(ok\)' 'New, TLSv1\.3, Cipher is TLS_AES_256_GCM_SHA384' \
  "$logged_tls13"
try_client s-good2 "${s_client[@]}" -cert "$pki/good2-client.crt" -key "$pki/good2-client.key"
expect_outcome "s_client with a good client certificate of the second CA: accepted" s-good2 \
  accepted 'Verify return code: 0 \(ok\)' 'peer certificate "CN=client"'
try_client s-tls12 "${s_good[@]}" -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384
expect_outcome "s_client -tls1_2 with ECDHE-ECDSA-AES256-GCM-SHA384: accepted" s-tls12 accepted \
  'New, TLSv1\.2, Cipher is ECDHE-ECDSA-AES256-GCM-SHA384' 'Verify return code: 0 \(ok\)' \
  'TLS 1\.2, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'
try_client s-tls13 "${s_good[@]}" -tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384
expect_outcome "s_client -tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384: accepted" s-tls13 \
  accepted 'New, TLSv1\.3, Cipher is TLS_AES_256_GCM_SHA384' "$logged_tls13"

# refused_case NAME WHAT DAEMON_REASON CMD...: the daemon refuses CMD,
# logging DAEMON_REASON, and still serves afterwards.
refused_case () {
  local name=$1 what=$2 reason=$3
  shift 3
  try_client "$name" "$@"
  expect_outcome "$what: refused, the daemon says why" "$name" refused "$reason"
  still_serving "$name" "$what"
}

refused_case s-nocert "s_client without a client certificate" \
  'peer did not send a certificate' "${s_client[@]}"
for bad in expired:'peer certificate: expired' notyet:'peer certificate: not valid yet' \
  otherca:'peer certificate: not signed by a trusted CA' revoked:'is revoked by the CRL in' \
  serverauth:'is not for TLS clients \(extended key usage\)'; do
  name=${bad%%:*}
  refused_case "s-$name" "s_client with the $name client certificate" "${bad#*:}" \
    "${s_client[@]}" -cert "$pki/$name-client.crt" -key "$pki/$name-client.key"
done
refused_case s-tls11 "s_client -tls1_1" 'unsupported version' "${s_good[@]}" -tls1_1 "${s_old[@]}"
refused_case s-tls10 "s_client -tls1" 'unsupported version' "${s_good[@]}" -tls1 "${s_old[@]}"
for suite in ECDHE-ECDSA-AES128-SHA AES128-GCM-SHA256 ECDHE-ECDSA-AES128-GCM-SHA256 \
  ECDHE-ECDSA-CHACHA20-POLY1305 ECDHE-ECDSA-AES256-SHA384; do
  refused_case "s-$suite" "s_client -tls1_2 -cipher $suite" 'No supported cipher suites' \
    "${s_good[@]}" -tls1_2 -cipher "$suite"
done
for suite in TLS_AES_128_GCM_SHA256 TLS_CHACHA20_POLY1305_SHA256; do
  refused_case "s-$suite" "s_client -tls1_3 -ciphersuites $suite (min_version 1.2)" \
    'No supported cipher suites' "${s_good[@]}" -tls1_3 -ciphersuites "$suite"
done

try_client g-good "${g_good[@]}"
expect_outcome "gnutls-cli with the good client certificate: handshake completes" g-good \
  accepted '^- Handshake was completed' '\(TLS1\.3-X\.509\).*\(AES-256-GCM\)' "$logged_tls13"
try_client g-tls13 "${g_good[@]}" --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM'
expect_outcome "gnutls-cli TLS 1.3 with AES-256-GCM only: accepted" g-tls13 accepted \
  '^- Handshake was completed' "$logged_tls13"
refused_case g-nocert "gnutls-cli without a client certificate" \
  'peer did not send a certificate' "${gnutls[@]}"
for bad in expired:'peer certificate: expired' otherca:'peer certificate: not signed by a trusted CA' \
  revoked:'is revoked by the CRL in' serverauth:'is not for TLS clients'; do
  name=${bad%%:*}
  refused_case "g-$name" "gnutls-cli with the $name client certificate" "${bad#*:}" \
    "${gnutls[@]}" --x509certfile "$pki/$name-client.crt" --x509keyfile "$pki/$name-client.key"
done
refused_case g-tls11 "gnutls-cli --priority NORMAL:-VERS-ALL:+VERS-TLS1.1" 'unsupported version' \
  "${g_good[@]}" --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.1'
refused_case g-tls10 "gnutls-cli --priority NORMAL:-VERS-ALL:+VERS-TLS1.0" 'unsupported version' \
  "${g_good[@]}" --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.0'
refused_case g-weak12 "gnutls-cli TLS 1.2 with AES-128 (GCM, CBC) only" \
  'No supported cipher suites' "${g_good[@]}" \
  --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-128-CBC:+SHA1'
refused_case g-chacha12 "gnutls-cli TLS 1.2 with ChaCha20-Poly1305 only" \
  'No supported cipher suites' "${g_good[@]}" \
  --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305'

# ---- the scan -------------------------------------------------------------------------
# scan NAME MIN: sslscan of the daemon (with the good client certificate,
# which CERT_REQUIRED needs for TLS 1.2); findings: any version but
# TLS 1.2 (only when MIN is 1.2) and 1.3, any suite outside the allowed set,
# any group but x25519, P-256, P-384 and P-521 or under 128 bits, insecure
# renegotiation, Heartbleed. The scan must also have seen what is allowed
# (else it found nothing because it tested nothing).
scan () {
  local name=$1 min=$2 xml=$tmp/$1.xml findings=() line v cipher gname bits versions
  local allowed=' TLS_AES_256_GCM_SHA384 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-RSA-AES256-GCM-SHA384 '
  local want=(TLS_AES_256_GCM_SHA384 ECDHE-ECDSA-AES256-GCM-SHA384)
  if [[ $min == 1.3 ]]; then
    allowed=' TLS_AES_256_GCM_SHA384 TLS_AES_128_GCM_SHA256 '
    want=(TLS_AES_256_GCM_SHA384 TLS_AES_128_GCM_SHA256)
  fi
  sslscan --no-colour --xml="$xml" --certs="$good/client.crt" --pk="$good/client.key" \
    "$target" >"$tmp/$name.out" 2>&1
  if [[ ! -s $xml ]] || ! grep -q '<protocol ' "$xml"; then
    not_ok "sslscan ($name) ran" "$(cat "$tmp/$name.out")"
    return
  fi
  while IFS= read -r line; do
    v=$(sed -n 's/.*type="\([a-z]*\)" version="\([0-9.]*\)" enabled="1".*/\1 \2/p' <<<"$line")
    case $v in
      '' | 'tls 1.3') ;;
      'tls 1.2') [[ $min == 1.2 ]] || findings+=("protocol TLSv1.2 enabled with min_version 1.3") ;;
      *) findings+=("protocol $v enabled") ;;
    esac
  done < <(grep '<protocol ' "$xml")
  while IFS= read -r cipher; do
    [[ $allowed == *" $cipher "* ]] || findings+=("cipher suite $cipher accepted")
  done < <(sed -n 's/.*<cipher .* cipher="\([^"]*\)".*/\1/p' "$xml")
  while IFS= read -r line; do
    gname=$(sed -n 's/.* name="\([^"]*\)".*/\1/p' <<<"$line")
    bits=$(sed -n 's/.* bits="\([0-9]*\)".*/\1/p' <<<"$line")
    case $gname in
      x25519 | 'secp256r1 (NIST P-256)' | 'secp384r1 (NIST P-384)' | 'secp521r1 (NIST P-521)')
        [[ ${bits:-0} -ge 128 ]] || findings+=("group $gname with $bits bits") ;;
      *) findings+=("group $gname ($bits bits) accepted") ;;
    esac
  done < <(grep '<group ' "$xml")
  grep -q '<renegotiation supported="1" secure="0"' "$xml" && findings+=("insecure renegotiation")
  grep -q 'vulnerable="1"' "$xml" && findings+=("Heartbleed")
  versions="TLS 1.3 only"
  [[ $min == 1.2 ]] && versions="TLS 1.2 and 1.3 only"
  if [[ ${#findings[@]} -eq 0 ]]; then
    ok "sslscan ($name) finds $versions, the allowed suites only and strong groups only"
  else
    not_ok "sslscan ($name) finds $versions, the allowed suites only and strong groups only" \
      "${findings[@]}" "$(cat "$tmp/$name.out")"
  fi
  for cipher in "${want[@]}"; do
    check "sslscan ($name) saw the allowed suite $cipher" grep -q "cipher=\"$cipher\"" "$xml"
  done
  check "sslscan ($name) saw the groups (x25519 at least)" grep -q '<group .*name="x25519"' "$xml"
  still_serving "$name" "the scan"
}
scan scan-12 1.2

# ---- min_version 1.3 ------------------------------------------------------------------
stop_daemon
start_daemon d13 "$tmp/d13.tls.json"
target=127.0.0.1:$port
s_client=(openssl s_client -connect "$target" -servername localhost -CAfile "$pki/trust.pem"
  -verify_return_error)
s_good=("${s_client[@]}" -cert "$good/client.crt" -key "$good/client.key")
g_good=(gnutls-cli --x509cafile "$pki/trust.pem" -p "$port" localhost
  --x509certfile "$good/client.crt" --x509keyfile "$good/client.key")
run send13 "$sc" send --quiet --tls-config "$tmp/client.json" "$target" "hello 1.3"
expect "min_version 1.3: securecomm send --tls-config exits 0" 0 send13
refused_case s13-tls12 "min_version 1.3: s_client -tls1_2 (ECDHE-ECDSA-AES256-GCM-SHA384)" \
  'unsupported version|No supported cipher suites' \
  "${s_good[@]}" -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384
refused_case g13-tls12 "min_version 1.3: gnutls-cli with TLS 1.2 only" \
  'unsupported version|No supported cipher suites' \
  "${g_good[@]}" --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2'
try_client s13-128 "${s_good[@]}" -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256
expect_outcome "min_version 1.3: s_client TLS_AES_128_GCM_SHA256 accepted" s13-128 accepted \
  'New, TLSv1\.3, Cipher is TLS_AES_128_GCM_SHA256' 'TLS 1\.3, TLS_AES_128_GCM_SHA256, '
try_client s13-256 "${s_good[@]}" -tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384
expect_outcome "min_version 1.3: s_client TLS_AES_256_GCM_SHA384 accepted" s13-256 accepted \
  'New, TLSv1\.3, Cipher is TLS_AES_256_GCM_SHA384' "$logged_tls13"
refused_case s13-chacha "min_version 1.3: s_client TLS_CHACHA20_POLY1305_SHA256" \
  'No supported cipher suites' "${s_good[@]}" -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256
scan scan-13 1.3
stop_daemon

# ---- our client against bad server certificates ---------------------------------------
# One daemon (no bus) per certificate, each with CERT_REQUIRED; our client
# trusts both CAs and has the CRL.
for bad in good2:'' expired:'peer certificate: expired' notyet:'peer certificate: not valid yet' \
  wronghost:'peer certificate: does not name the host' \
  otherca:'peer certificate: not signed by a trusted CA' \
  revoked:'certificate "CN=localhost" \(serial [0-9a-f]+, issuer "[^"]*CN=SecureComm Test CA 2"\) is revoked by the CRL' \
  clientauth:'certificate "CN=localhost" is not for TLS servers \(extended key usage\)'; do
  name=${bad%%:*}
  tls_json "$tmp/srv-$name.json" "$pki/$name-server.crt" "$pki/$name-server.key" \
    '"verify_mode": "CERT_REQUIRED"'
  start_daemon "srv-$name" "$tmp/srv-$name.json" --no-bus
  run "bad-$name" "$sc" send --tls-config "$tmp/client.json" "127.0.0.1:$port" x
  if [[ $name == good2 ]]; then
    expect "control: a daemon with a good certificate of the second CA is accepted: exit 0" 0 \
      "bad-$name" 'acknowledged'
  else
    expect "our client refuses a server with the $name certificate: exit 3, saying why" 3 \
      "bad-$name" "^securecomm: TLS .*${bad#*:}"
  fi
  stop_daemon
done

finish
