/* sc-crypto.h: the only door to cryptographic primitives in SecureComm.
 *
 * Everything here wraps nettle/hogweed or GnuTLS; nothing is implemented by hand.
 * No other module includes nettle or GnuTLS crypto headers. Opaque contexts are
 * fixed-size byte arrays so that callers can embed them (for instance in a
 * secure-memory block) without seeing library types; sc-crypto.c checks the
 * sizes at compile time.
 *
 * Error convention: functions return 0 on success and a negative SC_CRYPTO_E*
 * code on failure. On failure every output buffer is zeroed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Sizes, in bytes. */
#define SC_SHA256_LEN 32
#define SC_HMAC_SHA256_LEN 32
#define SC_HKDF_SHA256_MAX_OUTPUT (255 * SC_SHA256_LEN) /* RFC 5869 section 2.3 */
#define SC_P256_SCALAR_LEN 32
#define SC_P256_COORD_LEN 32
#define SC_P256_POINT_LEN 65   /* SEC1 uncompressed: 0x04 || X || Y */
#define SC_P256_SHARED_LEN 32  /* ECDH output: the X coordinate */
#define SC_P256_SIG_LEN 64     /* fixed-size r || s, each 32 bytes big-endian */
#define SC_P256_SIG_DER_MAX 72 /* SEQUENCE { INTEGER r, INTEGER s }, worst case */
#define SC_P256_SPKI_LEN 91    /* DER SubjectPublicKeyInfo of a P-256 key */
#define SC_AES256_GCM_KEY_LEN 32
#define SC_AES256_GCM_NONCE_LEN 12
#define SC_AES256_GCM_TAG_LEN 16

/* Error codes (negative). */
#define SC_CRYPTO_EINVAL -1    /* bad argument: length, NULL, out of range */
#define SC_CRYPTO_EPOINT -2    /* public point not on the curve or badly encoded */
#define SC_CRYPTO_EVERIFY -3   /* signature, MAC or AEAD tag check failed */
#define SC_CRYPTO_ERANDOM -4   /* the random source failed */
#define SC_CRYPTO_EENCODING -5 /* DER or SPKI encoding rejected */
#define SC_CRYPTO_EINTERNAL -6 /* library failure that should not happen */

/* A source of random bytes. Returns 0 on success, negative on failure.
 * The protocol core injects one so tests are deterministic; production code
 * passes sc_random_system. */
typedef int (*ScRandomFunc) (void *user, uint8_t *out, size_t len);

/* Fills out with bytes from GnuTLS's CSPRNG (GNUTLS_RND_KEY). user is unused. */
int sc_random_system (void *user, uint8_t *out, size_t len);
/* Convenience: sc_random_system (NULL, out, len). */
int sc_random_bytes (uint8_t *out, size_t len);

/* ---------------------------------------------------------------------------
 * Secret hygiene
 * ------------------------------------------------------------------------ */

/* Zeroes len bytes in a way the compiler may not elide (explicit_bzero). */
void sc_memzero (void *p, size_t len);

/* Constant-time equality of two buffers of the same length: true if equal.
 * Running time depends only on len. */
bool sc_memeq_ct (const void *a, const void *b, size_t len);

/* Secure memory for key material: pages locked into RAM with mlock() where
 * RLIMIT_MEMLOCK allows (a failure to lock is not an error, see
 * sc_secure_locked_ok), excluded from core dumps (MADV_DONTDUMP), zeroed in
 * a forked child (MADV_WIPEONFORK), zeroed on allocation and wiped on free.
 * Blocks of up to SC_SECURE_SLAB_MAX_BLOCK bytes share pages (slabs of one
 * size class) and are 16-byte aligned; bigger ones get whole pages of their
 * own. Thread-safe. Returns NULL only when out of memory. */
void *sc_secure_alloc (size_t len);
/* Wipes and releases a block from sc_secure_alloc. len must be the length
 * passed to sc_secure_alloc. NULL is allowed. A pointer that is not a live
 * block (a double free) aborts the process. */
void sc_secure_free (void *p, size_t len);
/* Whether all secure memory so far could be locked into RAM. */
bool sc_secure_locked_ok (void);

/* bytes: the largest block served from slabs; a session's keys (about
 * 9.5 KB) fit. */
#define SC_SECURE_SLAB_MAX_BLOCK (16 * 1024)
/* Address ranges reserved for slabs at most, each 1 GiB by default; past
 * them every block gets its own mapping. */
#define SC_SECURE_MAX_ARENAS 64

/* What the secure allocator holds, for tests and diagnostics. */
typedef struct
{
  size_t arenas;        /* address ranges reserved for slabs */
  size_t slabs;         /* slabs with pages in use */
  size_t slab_bytes;    /*   and their size */
  size_t slab_blocks;   /* live blocks in slabs */
  size_t direct_blocks; /* live blocks with a mapping of their own */
  size_t direct_bytes;  /*   and the size of those mappings */
} ScSecureStats;

void sc_secure_get_stats (ScSecureStats *out);
/* Tests: the size of arenas reserved from now on (0: the default). */
void sc_secure_set_arena_size (size_t bytes);

/* ---------------------------------------------------------------------------
 * SHA-256, HMAC-SHA256, HKDF-SHA256
 * ------------------------------------------------------------------------ */

typedef struct
{
  union
  {
    uint8_t bytes[128];
    uint64_t align;
  } opaque;
} ScSha256;

void sc_sha256_init (ScSha256 *ctx);
void sc_sha256_update (ScSha256 *ctx, const uint8_t *data, size_t len);
/* Writes the digest of everything hashed so far without disturbing ctx, so a
 * running transcript hash can be read at several points. */
void sc_sha256_peek (const ScSha256 *ctx, uint8_t out[SC_SHA256_LEN]);
/* One-shot SHA-256. */
void sc_sha256 (const uint8_t *data, size_t len, uint8_t out[SC_SHA256_LEN]);
/* Wipes the context. */
void sc_sha256_clear (ScSha256 *ctx);

/* One-shot HMAC-SHA256 (RFC 2104). key_len may be anything, including 0. */
void sc_hmac_sha256 (const uint8_t *key, size_t key_len, const uint8_t *data, size_t data_len,
                     uint8_t out[SC_HMAC_SHA256_LEN]);
/* Computes HMAC-SHA256 and compares its first tag_len bytes (1..32) with tag in
 * constant time. Returns 0 if equal, SC_CRYPTO_EVERIFY if not, SC_CRYPTO_EINVAL
 * on a bad tag_len. */
int sc_hmac_sha256_verify (const uint8_t *key, size_t key_len, const uint8_t *data, size_t data_len,
                           const uint8_t *tag, size_t tag_len);

/* HKDF-Extract (RFC 5869 2.2). An empty salt means 32 zero bytes. */
void sc_hkdf_sha256_extract (const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                             size_t ikm_len, uint8_t prk[SC_SHA256_LEN]);
/* HKDF-Expand (RFC 5869 2.3). out_len must be 1..SC_HKDF_SHA256_MAX_OUTPUT,
 * else SC_CRYPTO_EINVAL and nothing is written. */
int sc_hkdf_sha256_expand (const uint8_t prk[SC_SHA256_LEN], const uint8_t *info, size_t info_len,
                           uint8_t *out, size_t out_len);

/* ---------------------------------------------------------------------------
 * AES-256-GCM with 96-bit nonces and 128-bit tags
 * ------------------------------------------------------------------------ */

/* Holds the expanded key (AES schedule and GHASH table): a secret. Keep it in
 * secure memory and call sc_aead_clear when done. */
typedef struct
{
  union
  {
    uint8_t bytes[4480];
    uint64_t align;
  } opaque;
} ScAead;

/* bytes: plaintext length from which a context with bulk enabled runs through
 * GnuTLS's AES-GCM instead of nettle's: the crossover measured on an AES-NI +
 * PCLMUL machine is 150 to 250 bytes (see sc-crypto.c). */
#define SC_AEAD_BULK_MIN 256

/* Keys ctx. Overwrites ctx without looking at it: a context that had bulk
 * enabled must be cleared first. */
void sc_aead_set_key (ScAead *ctx, const uint8_t key[SC_AES256_GCM_KEY_LEN]);
/* From now on, messages of SC_AEAD_BULK_MIN bytes or more are sealed and
 * opened through GnuTLS (same function, about twice the rate on large
 * records). GnuTLS keeps its copy of the key schedule in its own heap (not
 * locked; wiped by GnuTLS when sc_aead_clear releases it). After this, calls
 * on ctx must not run concurrently (the GnuTLS handle holds per-message
 * state). On failure ctx goes on through nettle. Idempotent. */
int sc_aead_enable_bulk (ScAead *ctx);
/* Releases the GnuTLS handle, if any, and wipes ctx. */
void sc_aead_clear (ScAead *ctx);
/* Encrypts pt (pt_len bytes) into out, which receives pt_len bytes of
 * ciphertext followed by the 16-byte tag. out may equal pt (in place).
 * With bulk enabled (sc_aead_enable_bulk), calls on one ctx must not run
 * concurrently, and if GnuTLS fails on an in-place record the process
 * aborts rather than risk sealing twice under one nonce (sc-crypto.c). */
void sc_aead_seal (const ScAead *ctx, const uint8_t nonce[SC_AES256_GCM_NONCE_LEN],
                   const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                   uint8_t *out);
/* Opens ct (ct_len bytes, the last 16 of which are the tag) into out, which
 * receives ct_len - 16 bytes. out may equal ct. The tag is checked in
 * constant time; on failure out is zeroed and SC_CRYPTO_EVERIFY returned.
 * ct_len < 16 is SC_CRYPTO_EINVAL. */
int sc_aead_open (const ScAead *ctx, const uint8_t nonce[SC_AES256_GCM_NONCE_LEN],
                  const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                  uint8_t *out);

/* ---------------------------------------------------------------------------
 * P-256: keys, ECDH, ECDSA
 * ------------------------------------------------------------------------ */

/* A P-256 key pair: the private scalar and the public point. A secret. */
typedef struct
{
  uint8_t d[SC_P256_SCALAR_LEN];  /* private scalar, big-endian, 1 <= d < n */
  uint8_t pub[SC_P256_POINT_LEN]; /* 0x04 || X || Y */
} ScP256Key;

/* Generates a fresh key pair using rng. */
int sc_p256_keygen (ScP256Key *key, ScRandomFunc rng, void *rng_user);
/* Builds a key pair from a 32-byte big-endian scalar; rejects 0 and >= n. */
int sc_p256_key_from_scalar (ScP256Key *key, const uint8_t d[SC_P256_SCALAR_LEN]);
/* Wipes a key pair. */
void sc_p256_key_clear (ScP256Key *key);

/* Strict check of a SEC1 public point: exactly 65 bytes, 0x04 prefix, both
 * coordinates < p, and on the curve. Compressed points and the point at
 * infinity are rejected. Returns 0 or SC_CRYPTO_EPOINT. */
int sc_p256_point_check (const uint8_t *point, size_t len);

/* ECDH: shared = X coordinate of d * peer. The peer point is fully validated
 * first (sc_p256_point_check). Returns 0, SC_CRYPTO_EPOINT or SC_CRYPTO_EINVAL. */
int sc_p256_ecdh (const ScP256Key *key, const uint8_t *peer, size_t peer_len,
                  uint8_t shared[SC_P256_SHARED_LEN]);

/* How many signatures sc_p256_sign has made in this process. */
uint64_t sc_p256_sign_count (void);
/* ECDSA over SHA-256 of msg, signature as fixed-size r || s. */
int sc_p256_sign (const ScP256Key *key, const uint8_t *msg, size_t msg_len, ScRandomFunc rng,
                  void *rng_user, uint8_t sig[SC_P256_SIG_LEN]);
/* Verifies a fixed-size r || s signature over SHA-256 of msg. r and s must be
 * in [1, n-1]. Returns 0, SC_CRYPTO_EVERIFY or SC_CRYPTO_EPOINT (bad key). */
int sc_p256_verify (const uint8_t pub[SC_P256_POINT_LEN], const uint8_t *msg, size_t msg_len,
                    const uint8_t sig[SC_P256_SIG_LEN]);
/* Strict DER (not BER) ECDSA-Sig-Value to fixed-size r || s: rejects
 * non-minimal integers, negative values, trailing bytes, long-form lengths
 * where short form fits, and r or s >= 2^256. Returns 0 or SC_CRYPTO_EENCODING. */
int sc_p256_sig_from_der (const uint8_t *der, size_t der_len, uint8_t sig[SC_P256_SIG_LEN]);
/* Fixed-size r || s to DER; der must hold SC_P256_SIG_DER_MAX bytes. */
int sc_p256_sig_to_der (const uint8_t sig[SC_P256_SIG_LEN], uint8_t *der, size_t *der_len);

/* The DER SubjectPublicKeyInfo of a P-256 public point (id-ecPublicKey with
 * namedCurve prime256v1, uncompressed point): exactly SC_P256_SPKI_LEN bytes. */
void sc_p256_spki_encode (const uint8_t pub[SC_P256_POINT_LEN], uint8_t spki[SC_P256_SPKI_LEN]);
/* Strict inverse: accepts exactly the encoding sc_p256_spki_encode produces,
 * with a valid point. Returns 0, SC_CRYPTO_EENCODING or SC_CRYPTO_EPOINT. */
int sc_p256_spki_decode (const uint8_t *spki, size_t len, uint8_t pub[SC_P256_POINT_LEN]);

/* ---------------------------------------------------------------------------
 * X.509 (GnuTLS): what the protocol core needs of a certificate
 * ------------------------------------------------------------------------ */

/* Parses one DER certificate and extracts its subject public key as a P-256
 * point. Fails with SC_CRYPTO_EENCODING for a malformed certificate and
 * SC_CRYPTO_EPOINT for a key that is not ECDSA P-256. No chain or validity
 * check happens here: that is the caller's trust policy. */
int sc_x509_p256_pubkey (const uint8_t *der, size_t der_len, uint8_t pub[SC_P256_POINT_LEN]);

#ifdef __cplusplus
}
#endif
