/* sc-certgen.h: a throwaway X.509 PKI for tests, written with GnuTLS.
 *
 * The seed's generate_test_certs: a self-signed CA, a server certificate for
 * localhost, 127.0.0.1 and ::1, and a client certificate, all on ECDSA P-256
 * keys, written as PEM into one directory:
 *
 *   ca.crt       CA:TRUE (critical), keyUsage keyCertSign, cRLSign (critical)
 *   server.crt   CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1,
 *                keyUsage digitalSignature, extKeyUsage serverAuth, CA:FALSE
 *   client.crt   CN=client, keyUsage digitalSignature, extKeyUsage
 *                clientAuth, CA:FALSE
 *   server.key, client.key
 *                unencrypted PKCS#8 "PRIVATE KEY" PEM: test keys, never an
 *                identity (identities are encrypted at rest, sc-keyfile.h)
 *
 * Every certificate has a random positive 16-byte serial, a subject key id
 * and an authority key id, is signed with ECDSA-SHA256, and is valid from an
 * hour ago (SC_CERTGEN_BACKDATE_S, for clocks a little behind) for
 * SC_CERTGEN_VALIDITY_DAYS.
 *
 * Files: keys mode 0600, certificates 0644, whatever the umask; a missing
 * directory is created with mode 0700 (its parents too). Existing files are
 * never replaced unless force is set: without it, the call fails before
 * anything is generated or written when any of the five names exists (a
 * symlink too, dangling or not), and each file is created with O_EXCL. With
 * force, each file is written under a temporary name in the directory and
 * renamed over the old one, so a symlink there is replaced, never written
 * through.
 *
 * Error convention as in sc-crypto.h (0, or a negative code), and a message
 * for people in a caller-provided buffer.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "sc-crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The file names, inside the directory. */
#define SC_CERTGEN_CA_CERT "ca.crt"
#define SC_CERTGEN_SERVER_CERT "server.crt"
#define SC_CERTGEN_SERVER_KEY "server.key"
#define SC_CERTGEN_CLIENT_CERT "client.crt"
#define SC_CERTGEN_CLIENT_KEY "client.key"

/* 825 days: the longest validity the CA/Browser Forum baseline allowed
 * TLS server certificates from 2018 to 2020, and still the limit Apple's
 * platforms enforce for locally trusted server certificates. Long enough
 * that a test PKI does not expire under a project, short enough that a
 * leaked one does. */
#define SC_CERTGEN_VALIDITY_DAYS 825
/* Seconds the validity starts before now, so that a peer whose clock is a
 * little behind accepts the certificates at once. */
#define SC_CERTGEN_BACKDATE_S 3600
/* Bytes of randomness in a serial number (RFC 5280 section 4.1.2.2 allows
 * at most 20 octets; CA/B Forum asks for 64 bits of entropy at least). */
#define SC_CERTGEN_SERIAL_LEN 16
/* A buffer this large holds any message sc_certgen_write_test_pki writes. */
#define SC_CERTGEN_MSG_LEN 512

/* Error codes besides SC_CRYPTO_EINVAL, SC_CRYPTO_ERANDOM and
 * SC_CRYPTO_EINTERNAL. A range of their own, away from the codes other
 * modules add next to SC_CRYPTO_E*. */
#define SC_CERTGEN_EEXIST -20 /* a file exists already and force is not set */
#define SC_CERTGEN_EIO -21    /* the directory or a file could not be written */

/* Generates the test PKI and writes the five files into dir (created when
 * missing). Returns 0, or:
 *   SC_CERTGEN_EEXIST    a file is there already and force is false (no file
 *                        was touched);
 *   SC_CERTGEN_EIO       the directory or a file could not be made or written
 *                        (files written before the failure stay);
 *   SC_CRYPTO_ERANDOM, SC_CRYPTO_EINTERNAL
 *                        key generation, signing or encoding failed;
 *   SC_CRYPTO_EINVAL     dir is NULL or empty.
 * On failure, when msg is not NULL, a message naming the file and the cause
 * is written into msg (at most msg_len bytes, NUL-terminated); on success
 * msg holds the empty string. */
int sc_certgen_write_test_pki (const char *dir, bool force, char *msg, size_t msg_len);

#ifdef __cplusplus
}
#endif
