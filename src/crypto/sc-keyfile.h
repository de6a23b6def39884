/* sc-keyfile.h: P-256 private keys encrypted at rest, as PKCS#8 PEM.
 *
 * The file format is the one OpenSSL and GnuTLS write for
 * `openssl genpkey -aes256` or `certtool --to-p8`: an "ENCRYPTED PRIVATE KEY"
 * PEM block holding an EncryptedPrivateKeyInfo (RFC 5958 section 3) whose
 * content is a PrivateKeyInfo of an id-ecPublicKey key on prime256v1
 * (RFC 5915). Keys are written with PBES2 (RFC 8018): PBKDF2-HMAC-SHA256 and
 * AES-256-CBC, with GnuTLS's iteration count. Unencrypted keys are never
 * written and never read.
 *
 * Error convention as in sc-crypto.h: 0 on success, a negative
 * SC_CRYPTO_E* code on failure, outputs zeroed on failure.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <stddef.h>

#include "sc-crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The passphrase does not decrypt the key file. Kept here rather than in
 * sc-crypto.h because only key files have passphrases.
 * Limitation: GnuTLS reports a decrypted key that it cannot parse at all
 * (a curve it does not know, such as secp256k1 or brainpool, or explicit
 * curve parameters) exactly as it reports a wrong passphrase, since with
 * AES-CBC a wrong passphrase also yields such bytes now and then; those files
 * give SC_CRYPTO_EPASSPHRASE, not SC_CRYPTO_EPOINT. Key types GnuTLS knows
 * (RSA, DSA, Ed25519, X25519, P-384, ...) give SC_CRYPTO_EPOINT. */
#define SC_CRYPTO_EPASSPHRASE -7

/* Encrypts key under passphrase and encodes it as PEM "ENCRYPTED PRIVATE KEY".
 * On success *pem_out is a NUL-terminated string allocated with malloc (the
 * caller frees it with free) and *len_out its length without the NUL.
 * A NULL or empty passphrase is refused with SC_CRYPTO_EINVAL: keys are
 * always encrypted at rest. */
int sc_keyfile_encode (const ScP256Key *key, const char *passphrase, char **pem_out,
                       size_t *len_out);

/* Decrypts a PEM "ENCRYPTED PRIVATE KEY" of len bytes (no NUL needed) into
 * key_out. The text must hold exactly one PEM block, that one, optionally
 * surrounded by whitespace. Returns:
 *   SC_CRYPTO_EPASSPHRASE  the passphrase does not decrypt the file (see
 *                          the limitation above);
 *   SC_CRYPTO_EPOINT       the key is not an ECDSA key on P-256;
 *   SC_CRYPTO_EENCODING    anything else is wrong with the file (not PEM,
 *                          not encrypted PKCS#8, truncated, inconsistent
 *                          private and public parts);
 *   SC_CRYPTO_EINVAL       NULL arguments or an empty passphrase. */
int sc_keyfile_decode (const char *pem, size_t len, const char *passphrase, ScP256Key *key_out);

#ifdef __cplusplus
}
#endif
