/* sc-x509.h: what the TLS layer (src/lib/sc-tls.c) needs of X.509 and of
 * GnuTLS's TLS policy, without including GnuTLS itself.
 *
 * GIO hands certificates over as DER bytes; this module answers questions
 * about them that GIO does not: the hash of the public key (for pins), the
 * serial number, whether a private key belongs to a certificate, and whether
 * a certificate is listed in a certificate revocation list. It also checks
 * GnuTLS priority strings, which glib-networking takes from the environment.
 *
 * Error convention as in sc-crypto.h: 0 (or a documented non-negative value)
 * on success, a negative SC_CRYPTO_E* code on failure, outputs zeroed on
 * failure.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sc-crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest serial number RFC 5280 4.1.2.2 allows (20 octets), as lowercase
 * hex with its NUL. */
#define SC_X509_SERIAL_HEX_MAX (2 * 20 + 1)

/* SHA-256 of the certificate's DER SubjectPublicKeyInfo, for any key type
 * (the value that pinned_spki_sha256 lists and that `gnutls-cli` prints as
 * "Public Key ID: sha256:"). cert is one DER certificate. */
int sc_x509_spki_sha256 (const uint8_t *cert, size_t cert_len, uint8_t out[SC_SHA256_LEN]);

/* The certificate's serial number in lowercase hex, without leading zero
 * octets (at least "00"). out holds SC_X509_SERIAL_HEX_MAX bytes. Serials
 * longer than 20 octets are SC_CRYPTO_EENCODING. */
int sc_x509_serial_hex (const uint8_t *cert, size_t cert_len, char out[SC_X509_SERIAL_HEX_MAX]);

/* What a TLS peer's certificate is used for (RFC 5280 4.2.1.12). */
typedef enum
{
  SC_X509_PURPOSE_TLS_SERVER, /* id-kp-serverAuth */
  SC_X509_PURPOSE_TLS_CLIENT, /* id-kp-clientAuth */
} ScX509Purpose;

/* Whether cert (DER) may be used for purpose: 1 when it has no extended key
 * usage extension (any purpose) or lists the purpose or anyExtendedKeyUsage,
 * 0 when it lists only others, SC_CRYPTO_EENCODING when it does not parse.
 * (GnuTLS checks this only when asked, and glib-networking does not ask.) */
int sc_x509_allows_purpose (const uint8_t *cert, size_t cert_len, ScX509Purpose purpose);

/* Whether key (a DER private key: PKCS#8 unencrypted or PKCS#1/SEC1) holds
 * the private half of the public key in cert (DER). Returns 0 when it does,
 * SC_CRYPTO_EVERIFY when it does not, SC_CRYPTO_EENCODING when either does
 * not parse. The key is parsed into GnuTLS structures that are cleared
 * before they are freed. */
int sc_x509_key_matches (const uint8_t *cert, size_t cert_len, const uint8_t *key, size_t key_len);

/* A PKCS #11 key that cannot be used at all (sc_x509_pkcs11_key_matches). */
#define SC_CRYPTO_EKEY_UNAVAILABLE -30

/* The same for a key in a PKCS #11 token, by its URI (a PIN may be in it:
 * pin-value or pin-source): it signs a probe that cert's public key must
 * verify. 0 when it does, SC_CRYPTO_EVERIFY when it does not,
 * SC_CRYPTO_EKEY_UNAVAILABLE when the key cannot be used at all (no such
 * object, a wrong PIN, no module), SC_CRYPTO_EENCODING for a bad cert. */
int sc_x509_pkcs11_key_matches (const uint8_t *cert, size_t cert_len, const char *key_uri);

/* ---------------------------------------------------------------------------
 * Certificate revocation lists
 * ------------------------------------------------------------------------ */

/* A set of CRLs parsed once and then only read: every lookup works on a copy
 * of the (issuer, serial) pairs in plain memory, so one ScX509Crl may be
 * shared by any number of threads. */
typedef struct ScX509Crl ScX509Crl;

/* Parses crl (one or more PEM "X509 CRL" blocks, or one DER CRL) and checks
 * the signature of each against the certificates in ca_pem (PEM, the
 * contents of a CA file). Returns 0 and *out, or SC_CRYPTO_EENCODING (not a
 * CRL, or the CA file holds no certificate), SC_CRYPTO_EVERIFY (a CRL is not
 * signed by any of the CAs; *bad_index is then its position, from 0). */
int sc_x509_crl_new (const uint8_t *crl, size_t crl_len, const uint8_t *ca_pem, size_t ca_len,
                     ScX509Crl **out, size_t *bad_index);
void sc_x509_crl_free (ScX509Crl *crl);
/* How many revoked certificates the set lists, over all its CRLs. */
size_t sc_x509_crl_count (const ScX509Crl *crl);
/* The earliest "next update" time of the set's CRLs, in seconds since the
 * Unix epoch, or -1 when none gives one. */
int64_t sc_x509_crl_next_update (const ScX509Crl *crl);
/* Whether the certificate cert (DER) is listed: 1 when one of the CRLs of
 * its issuer lists its serial number, 0 when not, SC_CRYPTO_EENCODING when
 * cert does not parse. */
int sc_x509_crl_lookup (const ScX509Crl *crl, const uint8_t *cert, size_t cert_len);

/* ---------------------------------------------------------------------------
 * GnuTLS priority strings
 * ------------------------------------------------------------------------ */

/* Whether GnuTLS accepts priority (gnutls_priority_init2). Returns 0, or
 * SC_CRYPTO_EINVAL with *err_offset at the first character it refused. */
int sc_x509_priority_check (const char *priority, size_t *err_offset);

#ifdef __cplusplus
}
#endif
