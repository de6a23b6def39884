#!/usr/bin/env bash
# securecomm keygen and fingerprint: a key made, its fingerprint the same as
# openssl computes from the decrypted key, mode 0600, never overwritten, a
# wrong passphrase refused; exit codes as securecomm(1) says. TAP output.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
# shellcheck source-path=SCRIPTDIR source=../tap-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tap-lib.sh"

sc=${SC_TOOLS_SECURECOMM:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export SECURECOMM_PASSPHRASE=correct-horse
fp=$("$sc" keygen "$tmp/id.key" 2>"$tmp/err")
status=$?
check "keygen exits 0" test "$status" -eq 0
check "keygen prints a 64-hex fingerprint" grep -Eqx '[0-9a-f]{64}' <<<"$fp"
check "the key file is mode 0600" test "$(stat -c %a "$tmp/id.key")" = 600
check "the key file is encrypted PKCS#8" grep -q 'BEGIN ENCRYPTED PRIVATE KEY' "$tmp/id.key"
check "fingerprint prints the same" test "$("$sc" fingerprint "$tmp/id.key")" = "$fp"
if command -v openssl >/dev/null; then
  theirs=$(openssl pkey -in "$tmp/id.key" -passin env:SECURECOMM_PASSPHRASE -pubout \
    -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1)
  check "openssl computes the same fingerprint" test "$theirs" = "$fp"
else
  skip "openssl computes the same fingerprint" "openssl is not installed"
fi
"$sc" keygen "$tmp/id.key" >/dev/null 2>"$tmp/err"
check "keygen refuses to overwrite (exit 1)" test $? -eq 1
check "and says why" grep -q 'exists already' "$tmp/err"
SECURECOMM_PASSPHRASE=wrong "$sc" fingerprint "$tmp/id.key" >/dev/null 2>"$tmp/err"
check "a wrong passphrase exits 1" test $? -eq 1
check "and says so" grep -q 'passphrase' "$tmp/err"
chmod 644 "$tmp/id.key"
"$sc" fingerprint "$tmp/id.key" >/dev/null 2>"$tmp/err"
check "a world-readable key file is refused (exit 1)" test $? -eq 1
"$sc" fingerprint >/dev/null 2>&1
check "a missing argument exits 2" test $? -eq 2
finish
