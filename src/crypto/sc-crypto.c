/* sc-crypto.c: SecureComm's cryptographic primitives over nettle/hogweed and GnuTLS.
 *
 * Conventions used throughout this file:
 * - Every function that takes a secret into a local (scalars, GMP integers,
 *   HMAC or GCM state, shared secrets) wipes it on every exit path, through a
 *   single "out:" label where there is more than one exit.
 * - GMP integers that hold secrets are allocated for 256 bits up front
 *   (mpz_init_secret) so that GMP never reallocates them and leaves an
 *   unwiped copy behind; mpz_clear_secret wipes the limbs before freeing.
 * - On failure every output buffer is zeroed (see sc-crypto.h).
 * - NULL with a length of 0 is accepted for input buffers; it is replaced by a
 *   pointer to an empty array before it reaches a library.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-crypto.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmp.h>
#include <nettle/aes.h>
#include <nettle/bignum.h>
#include <nettle/dsa.h>
#include <nettle/ecc-curve.h>
#include <nettle/ecc.h>
#include <nettle/ecdsa.h>
#include <nettle/gcm.h>
#include <nettle/hkdf.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* The opaque contexts of sc-crypto.h must hold the nettle structures. */
_Static_assert(sizeof (struct sha256_ctx) <= sizeof (((ScSha256 *) 0)->opaque),
               "ScSha256 too small for struct sha256_ctx");
_Static_assert(_Alignof(struct sha256_ctx) <= _Alignof(ScSha256),
               "ScSha256 under-aligned for struct sha256_ctx");
_Static_assert(SC_SHA256_LEN == SHA256_DIGEST_SIZE, "SHA-256 size");
_Static_assert(SC_AES256_GCM_KEY_LEN == AES256_KEY_SIZE, "AES-256 key size");
_Static_assert(SC_AES256_GCM_TAG_LEN == GCM_DIGEST_SIZE, "GCM tag size");

/* Limbs of a 256-bit GMP integer. */
#define SECRET_LIMBS ((256 + GMP_NUMB_BITS - 1) / GMP_NUMB_BITS)

/* SEC1 uncompressed point tag. */
#define SEC1_UNCOMPRESSED 0x04

/* Most draws that one nettle call may take from an injected random source;
 * see rng_adapter. */
#define RNG_MAX_CALLS 64

/* bytes of stack cleared after the nettle calls that keep secrets in their
 * own scratch (TMP_ALLOC: the ECDSA nonce, scalar multiplication
 * intermediates, the HMAC key pads). Their scratch for P-256 and SHA-256 is
 * well under 4 KiB; 8 KiB leaves room. */
#define STACK_WIPE_LEN 8192

/* Clears the stack below the caller, where the nettle call it just made
 * left its temporaries. noinline: it must run in a frame of its own. */
static void __attribute__ ((noinline)) wipe_callee_stack (void)
{
  uint8_t area[STACK_WIPE_LEN];

  sc_memzero (area, sizeof area);
  __asm__ __volatile__("" : : "r"(area) : "memory");
}

/* The order n of the P-256 group, big-endian (FIPS 186-4 D.1.2.3). */
static const uint8_t p256_order[SC_P256_SCALAR_LEN] = {
  0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

/* DER SubjectPublicKeyInfo up to the point:
 * SEQUENCE(89) { SEQUENCE(19) { OID id-ecPublicKey, OID prime256v1 },
 *                BIT STRING(66) { 0 unused bits, <65-byte point> } } */
static const uint8_t p256_spki_prefix[SC_P256_SPKI_LEN - SC_P256_POINT_LEN] = {
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
  0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
};

/* Stands in for NULL input buffers of length 0. */
static const uint8_t empty_buf[1];

/* p, or a valid pointer when p is NULL and len is 0 (libraries may pass it
 * to memcpy). A NULL with a non-zero length is passed on as it is. */
static const uint8_t *
nz (const uint8_t *p, size_t len)
{
  return p == NULL && len == 0 ? empty_buf : p;
}

/* ---------------------------------------------------------------------------
 * Randomness and comparison
 * ------------------------------------------------------------------------ */

int
sc_random_system (void *user, uint8_t *out, size_t len)
{
  (void) user;
  if (len == 0)
    return 0;
  if (out == NULL)
    return SC_CRYPTO_EINVAL;
  if (gnutls_rnd (GNUTLS_RND_KEY, out, len) < 0)
    {
      sc_memzero (out, len);
      return SC_CRYPTO_ERANDOM;
    }
  return 0;
}

int
sc_random_bytes (uint8_t *out, size_t len)
{
  return sc_random_system (NULL, out, len);
}

bool
sc_memeq_ct (const void *a, const void *b, size_t len)
{
  if (len == 0)
    return true;
  return memeql_sec (a, b, len) != 0;
}

/* ---------------------------------------------------------------------------
 * SHA-256, HMAC-SHA256, HKDF-SHA256
 * ------------------------------------------------------------------------ */

static struct sha256_ctx *
sha_of (ScSha256 *ctx)
{
  return (struct sha256_ctx *) (void *) ctx->opaque.bytes;
}

void
sc_sha256_init (ScSha256 *ctx)
{
  sc_memzero (ctx, sizeof *ctx);
  sha256_init (sha_of (ctx));
}

void
sc_sha256_update (ScSha256 *ctx, const uint8_t *data, size_t len)
{
  sha256_update (sha_of (ctx), len, nz (data, len));
}

/* Finishes a copy of the context, so ctx itself keeps running. */
void
sc_sha256_peek (const ScSha256 *ctx, uint8_t out[SC_SHA256_LEN])
{
  struct sha256_ctx copy;

  memcpy (&copy, ctx->opaque.bytes, sizeof copy);
  sha256_digest (&copy, SC_SHA256_LEN, out);
  sc_memzero (&copy, sizeof copy);
}

void
sc_sha256 (const uint8_t *data, size_t len, uint8_t out[SC_SHA256_LEN])
{
  struct sha256_ctx ctx;

  sha256_init (&ctx);
  sha256_update (&ctx, len, nz (data, len));
  sha256_digest (&ctx, SC_SHA256_LEN, out);
  sc_memzero (&ctx, sizeof ctx);
}

void
sc_sha256_clear (ScSha256 *ctx)
{
  sc_memzero (ctx, sizeof *ctx);
}

/* Exact-type adapters for nettle's generic hash callbacks (calling the
 * hmac_sha256_* functions through a cast pointer would be undefined). */
static void
hmac_update_cb (void *ctx, size_t len, const uint8_t *data)
{
  hmac_sha256_update (ctx, len, data);
}

static void
hmac_digest_cb (void *ctx, size_t len, uint8_t *out)
{
  hmac_sha256_digest (ctx, len, out);
}

void
sc_hmac_sha256 (const uint8_t *key, size_t key_len, const uint8_t *data, size_t data_len,
                uint8_t out[SC_HMAC_SHA256_LEN])
{
  struct hmac_sha256_ctx hmac;

  hmac_sha256_set_key (&hmac, key_len, nz (key, key_len));
  hmac_sha256_update (&hmac, data_len, nz (data, data_len));
  hmac_sha256_digest (&hmac, SC_HMAC_SHA256_LEN, out);
  sc_memzero (&hmac, sizeof hmac);
  wipe_callee_stack ();
}

int
sc_hmac_sha256_verify (const uint8_t *key, size_t key_len, const uint8_t *data, size_t data_len,
                       const uint8_t *tag, size_t tag_len)
{
  uint8_t mac[SC_HMAC_SHA256_LEN];
  int ret;

  if (tag == NULL || tag_len == 0 || tag_len > SC_HMAC_SHA256_LEN)
    return SC_CRYPTO_EINVAL;
  sc_hmac_sha256 (key, key_len, data, data_len, mac);
  ret = memeql_sec (mac, tag, tag_len) ? 0 : SC_CRYPTO_EVERIFY;
  sc_memzero (mac, sizeof mac);
  return ret;
}

/* PRK = HMAC-SHA256 (salt, IKM). An empty salt is HashLen zero bytes, which
 * HMAC pads to the same block as an empty key; it is spelled out anyway. */
void
sc_hkdf_sha256_extract (const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                        uint8_t prk[SC_SHA256_LEN])
{
  static const uint8_t zero_salt[SC_SHA256_LEN];
  struct hmac_sha256_ctx hmac;

  if (salt_len == 0)
    {
      salt = zero_salt;
      salt_len = sizeof zero_salt;
    }
  hmac_sha256_set_key (&hmac, salt_len, salt);
  hkdf_extract (&hmac, hmac_update_cb, hmac_digest_cb, SC_SHA256_LEN, ikm_len, nz (ikm, ikm_len),
                prk);
  sc_memzero (&hmac, sizeof hmac);
  wipe_callee_stack ();
}

/* OKM = T(1) || T(2) || ... truncated to out_len, with
 * T(i) = HMAC-SHA256 (PRK, T(i-1) || info || i). */
int
sc_hkdf_sha256_expand (const uint8_t prk[SC_SHA256_LEN], const uint8_t *info, size_t info_len,
                       uint8_t *out, size_t out_len)
{
  struct hmac_sha256_ctx hmac;

  if (prk == NULL || out == NULL || out_len == 0 || out_len > SC_HKDF_SHA256_MAX_OUTPUT)
    return SC_CRYPTO_EINVAL;
  hmac_sha256_set_key (&hmac, SC_SHA256_LEN, prk);
  hkdf_expand (&hmac, hmac_update_cb, hmac_digest_cb, SC_SHA256_LEN, info_len, nz (info, info_len),
               out_len, out);
  sc_memzero (&hmac, sizeof hmac);
  wipe_callee_stack ();
  return 0;
}

/* ---------------------------------------------------------------------------
 * AES-256-GCM
 *
 * The ScAead holds an AeadState: a struct gcm_aes256_ctx keyed by
 * gcm_aes256_set_key, the key itself, and once sc_aead_enable_bulk ran a
 * GnuTLS AEAD handle for the same key. nettle's per-message state (IV,
 * counter, GHASH accumulator) lives in a local struct gcm_ctx driven through
 * the generic gcm_* functions with the context's key and cipher members, so
 * nettle's sealing and opening never write to the shared key context.
 *
 * Why two implementations: on AES-NI + PCLMUL machines GnuTLS's stitched
 * AES-GCM runs at about 2.3x nettle 3.8's rate on 16 KiB records (4.0 against
 * 1.8 GB/s measured here, 2-core AMD EPYC), while nettle is faster below
 * about 200 bytes (129 against 167 ns for a 117-byte record): GnuTLS's
 * per-call overhead. Both compute the same function (the Wycheproof tests
 * run through both).
 * ------------------------------------------------------------------------ */

typedef struct
{
  struct gcm_aes256_ctx gcm;
  uint8_t key[SC_AES256_GCM_KEY_LEN];
  gnutls_aead_cipher_hd_t bulk; /* NULL until sc_aead_enable_bulk */
  bool bulk_failed;             /* GnuTLS refused this key once: nettle only */
} AeadState;

_Static_assert(sizeof (AeadState) <= sizeof (((ScAead *) 0)->opaque),
               "ScAead too small for AeadState");
_Static_assert(_Alignof(AeadState) <= _Alignof(ScAead), "ScAead under-aligned for AeadState");

static AeadState *
state_of (ScAead *ctx)
{
  return (AeadState *) (void *) ctx->opaque.bytes;
}

static const AeadState *
state_of_const (const ScAead *ctx)
{
  return (const AeadState *) (const void *) ctx->opaque.bytes;
}

/* Exact-type adapter: nettle_cipher_func over aes256_encrypt. */
static void
aes256_encrypt_cb (const void *ctx, size_t len, uint8_t *dst, const uint8_t *src)
{
  aes256_encrypt (ctx, len, dst, src);
}

void
sc_aead_set_key (ScAead *ctx, const uint8_t key[SC_AES256_GCM_KEY_LEN])
{
  AeadState *st = state_of (ctx);

  sc_memzero (ctx, sizeof *ctx);
  gcm_aes256_set_key (&st->gcm, key);
  memcpy (st->key, key, sizeof st->key);
}

int
sc_aead_enable_bulk (ScAead *ctx)
{
  AeadState *st = state_of (ctx);
  gnutls_datum_t key = { st->key, sizeof st->key };

  if (st->bulk != NULL)
    return 0;
  if (st->bulk_failed) /* not again for every record */
    return SC_CRYPTO_EINTERNAL;
  if (gnutls_aead_cipher_init (&st->bulk, GNUTLS_CIPHER_AES_256_GCM, &key) < 0)
    {
      st->bulk = NULL;
      st->bulk_failed = true;
      return SC_CRYPTO_EINTERNAL;
    }
  return 0;
}

void
sc_aead_clear (ScAead *ctx)
{
  AeadState *st = state_of (ctx);

  if (st->bulk != NULL)
    gnutls_aead_cipher_deinit (st->bulk); /* GnuTLS wipes its key context */
  sc_memzero (ctx, sizeof *ctx);
}

/* Whether a message of len bytes goes through GnuTLS. */
static bool
use_bulk (const AeadState *st, size_t len)
{
  return st->bulk != NULL && len >= SC_AEAD_BULK_MIN;
}

/* Starts a message: state = IV setup + GHASH over the AAD. */
static void
aead_start (const struct gcm_aes256_ctx *g, struct gcm_ctx *st,
            const uint8_t nonce[SC_AES256_GCM_NONCE_LEN], const uint8_t *aad, size_t aad_len)
{
  gcm_set_iv (st, &g->key, SC_AES256_GCM_NONCE_LEN, nonce);
  gcm_update (st, &g->key, aad_len, nz (aad, aad_len));
}

/* GnuTLS seals in place or out of place. It fails only on misuse, before
 * writing (GnuTLS 3.7), and then the caller seals through nettle instead:
 * the same bytes. But that is GnuTLS's behaviour, not its contract: had it
 * written part of an in-place record before failing, sealing again would
 * encrypt ciphertext under the same nonce, which gives back the plaintext
 * with a valid tag. So an in-place failure stops the process (fail closed:
 * never plaintext on the wire); out of place, pt is intact and nettle
 * seals it. */
static bool
bulk_seal (const AeadState *st, const uint8_t nonce[SC_AES256_GCM_NONCE_LEN], const uint8_t *aad,
           size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *out)
{
  size_t out_len = pt_len + SC_AES256_GCM_TAG_LEN;

  return gnutls_aead_cipher_encrypt (st->bulk, nonce, SC_AES256_GCM_NONCE_LEN, nz (aad, aad_len),
                                     aad_len, SC_AES256_GCM_TAG_LEN, pt, pt_len, out, &out_len)
             == 0
         && out_len == pt_len + SC_AES256_GCM_TAG_LEN;
}

void
sc_aead_seal (const ScAead *ctx, const uint8_t nonce[SC_AES256_GCM_NONCE_LEN], const uint8_t *aad,
              size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *out)
{
  const AeadState *s = state_of_const (ctx);
  const struct gcm_aes256_ctx *g = &s->gcm;
  struct gcm_ctx st;

  if (use_bulk (s, pt_len))
    {
      uintptr_t o = (uintptr_t) out, p = (uintptr_t) pt;

      if (bulk_seal (s, nonce, aad, aad_len, pt, pt_len, out))
        return;
      if (o < p + pt_len && p < o + pt_len + SC_AES256_GCM_TAG_LEN) /* they overlap */
        abort ();
    }
  aead_start (g, &st, nonce, aad, aad_len);
  gcm_encrypt (&st, &g->key, &g->cipher, aes256_encrypt_cb, pt_len, out, nz (pt, pt_len));
  gcm_digest (&st, &g->key, &g->cipher, aes256_encrypt_cb, SC_AES256_GCM_TAG_LEN, out + pt_len);
  sc_memzero (&st, sizeof st);
}

/* GnuTLS checks the tag in constant time (gnutls_memcmp) but leaves what it
 * decrypted in out when the tag is wrong: zero it, as nettle's path does. */
static int
bulk_open (const AeadState *st, const uint8_t nonce[SC_AES256_GCM_NONCE_LEN], const uint8_t *aad,
           size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *out)
{
  size_t pt_len = ct_len - SC_AES256_GCM_TAG_LEN, out_len = pt_len;

  if (gnutls_aead_cipher_decrypt (st->bulk, nonce, SC_AES256_GCM_NONCE_LEN, nz (aad, aad_len),
                                  aad_len, SC_AES256_GCM_TAG_LEN, ct, ct_len, out, &out_len)
          < 0
      || out_len != pt_len)
    {
      sc_memzero (out, pt_len);
      return SC_CRYPTO_EVERIFY;
    }
  return 0;
}

int
sc_aead_open (const ScAead *ctx, const uint8_t nonce[SC_AES256_GCM_NONCE_LEN], const uint8_t *aad,
              size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *out)
{
  const AeadState *s = state_of_const (ctx);
  const struct gcm_aes256_ctx *g = &s->gcm;
  struct gcm_ctx st;
  uint8_t tag[SC_AES256_GCM_TAG_LEN];
  uint8_t want[SC_AES256_GCM_TAG_LEN];
  uint8_t dummy[1];
  size_t pt_len;
  int ret;

  if (ct == NULL || ct_len < SC_AES256_GCM_TAG_LEN)
    return SC_CRYPTO_EINVAL;
  pt_len = ct_len - SC_AES256_GCM_TAG_LEN;
  if (out == NULL && pt_len > 0)
    return SC_CRYPTO_EINVAL;
  if (use_bulk (s, pt_len))
    return bulk_open (s, nonce, aad, aad_len, ct, ct_len, out);
  if (out == NULL)
    out = dummy;
  /* Copy the tag first: with out == ct it must not be read after decrypting. */
  memcpy (tag, ct + pt_len, sizeof tag);
  aead_start (g, &st, nonce, aad, aad_len);
  gcm_decrypt (&st, &g->key, &g->cipher, aes256_encrypt_cb, pt_len, out, ct);
  gcm_digest (&st, &g->key, &g->cipher, aes256_encrypt_cb, sizeof want, want);
  ret = memeql_sec (want, tag, sizeof tag) ? 0 : SC_CRYPTO_EVERIFY;
  if (ret != 0)
    sc_memzero (out, pt_len);
  sc_memzero (&st, sizeof st);
  sc_memzero (want, sizeof want);
  return ret;
}

/* ---------------------------------------------------------------------------
 * P-256 helpers
 * ------------------------------------------------------------------------ */

static const struct ecc_curve *
p256 (void)
{
  return nettle_get_secp_256r1 ();
}

/* An integer with room for 256 bits reserved up front: values up to 256 bits
 * never make GMP reallocate, so no stale copy of a secret is left behind. */
static void
mpz_init_secret (mpz_t z)
{
  mpz_init2 (z, 256);
}

/* Wipes the limbs reserved by mpz_init_secret, then frees them. */
static void
mpz_clear_secret (mpz_t z)
{
  mp_limb_t *limbs = mpz_limbs_modify (z, SECRET_LIMBS);

  sc_memzero (limbs, SECRET_LIMBS * sizeof (mp_limb_t));
  mpz_clear (z);
}

/* Wipes and frees a scalar (nettle's ecc_scalar_clear does not wipe). */
static void
ecc_scalar_clear_secret (struct ecc_scalar *s)
{
  sc_memzero (s->p, (size_t) ecc_size (s->ecc) * sizeof (mp_limb_t));
  ecc_scalar_clear (s);
}

/* Wipes and frees a point that was derived from a secret (x and y limbs). */
static void
ecc_point_clear_secret (struct ecc_point *pt)
{
  sc_memzero (pt->p, 2 * (size_t) ecc_size (pt->ecc) * sizeof (mp_limb_t));
  ecc_point_clear (pt);
}

static bool
is_zero_32 (const uint8_t v[32])
{
  uint8_t acc = 0;
  size_t i;

  for (i = 0; i < 32; i++)
    acc |= v[i];
  return acc == 0;
}

/* Whether a public big-endian value is in [1, n-1] (not constant time). */
static bool
in_order_range (const uint8_t v[SC_P256_SCALAR_LEN])
{
  return !is_zero_32 (v) && memcmp (v, p256_order, SC_P256_SCALAR_LEN) < 0;
}

/* Loads a big-endian scalar into s. Returns non-zero iff 1 <= d < n. */
static int
scalar_load (struct ecc_scalar *s, const uint8_t d[SC_P256_SCALAR_LEN])
{
  mpz_t z;
  int ok;

  mpz_init_secret (z);
  nettle_mpz_set_str_256_u (z, SC_P256_SCALAR_LEN, d);
  ok = ecc_scalar_set (s, z);
  mpz_clear_secret (z);
  return ok;
}

/* Loads a SEC1 uncompressed point into pt. Returns non-zero iff it is
 * exactly 65 bytes, starts with 0x04, has both coordinates < p and lies on
 * the curve (the last two are checked by ecc_point_set). */
static int
point_load (struct ecc_point *pt, const uint8_t *bytes, size_t len)
{
  mpz_t x, y;
  int ok;

  if (bytes == NULL || len != SC_P256_POINT_LEN || bytes[0] != SEC1_UNCOMPRESSED)
    return 0;
  mpz_init2 (x, 256);
  mpz_init2 (y, 256);
  nettle_mpz_set_str_256_u (x, SC_P256_COORD_LEN, bytes + 1);
  nettle_mpz_set_str_256_u (y, SC_P256_COORD_LEN, bytes + 1 + SC_P256_COORD_LEN);
  ok = ecc_point_set (pt, x, y);
  mpz_clear (x);
  mpz_clear (y);
  return ok;
}

/* Writes pt as 0x04 || X || Y. The temporaries are wiped because pt may be a
 * secret (an ECDH result). */
static void
point_store (const struct ecc_point *pt, uint8_t out[SC_P256_POINT_LEN])
{
  mpz_t x, y;

  mpz_init_secret (x);
  mpz_init_secret (y);
  ecc_point_get (pt, x, y);
  out[0] = SEC1_UNCOMPRESSED;
  nettle_mpz_get_str_256 (SC_P256_COORD_LEN, out + 1, x);
  nettle_mpz_get_str_256 (SC_P256_COORD_LEN, out + 1 + SC_P256_COORD_LEN, y);
  mpz_clear_secret (x);
  mpz_clear_secret (y);
}

/* Bridges an ScRandomFunc to nettle_random_func, which cannot fail. nettle
 * draws until the bytes give a scalar in [1, n-1]; so once the source fails
 * (or has been asked RNG_MAX_CALLS times, against a source stuck on a value
 * out of range) the adapter records the failure and hands out 0x01 bytes,
 * which end nettle's loop at once. The caller must then discard the result. */
typedef struct
{
  ScRandomFunc rng;
  void *user;
  unsigned calls;
  bool failed;
} RngAdapter;

static void
rng_adapter (void *ctx, size_t len, uint8_t *dst)
{
  RngAdapter *a = ctx;

  if (!a->failed && (++a->calls > RNG_MAX_CALLS || a->rng (a->user, dst, len) != 0))
    a->failed = true;
  if (a->failed)
    memset (dst, 0x01, len);
}

/* ---------------------------------------------------------------------------
 * P-256 keys and ECDH
 * ------------------------------------------------------------------------ */

int
sc_p256_keygen (ScP256Key *key, ScRandomFunc rng, void *rng_user)
{
  RngAdapter adapter = { rng, rng_user, 0, false };
  struct ecc_scalar s;
  struct ecc_point pub;
  mpz_t z;
  int ret = SC_CRYPTO_ERANDOM;

  if (key == NULL)
    return SC_CRYPTO_EINVAL;
  sc_memzero (key, sizeof *key);
  if (rng == NULL)
    return SC_CRYPTO_EINVAL;
  ecc_scalar_init (&s, p256 ());
  ecc_point_init (&pub, p256 ());
  mpz_init_secret (z);
  ecdsa_generate_keypair (&pub, &s, &adapter, rng_adapter);
  wipe_callee_stack ();
  if (adapter.failed)
    goto out;
  ecc_scalar_get (&s, z);
  nettle_mpz_get_str_256 (SC_P256_SCALAR_LEN, key->d, z);
  point_store (&pub, key->pub);
  ret = 0;
out:
  if (ret != 0)
    sc_memzero (key, sizeof *key);
  mpz_clear_secret (z);
  ecc_point_clear (&pub);
  ecc_scalar_clear_secret (&s);
  return ret;
}

/* pub = d * G. d may point into key (for instance key->d). */
int
sc_p256_key_from_scalar (ScP256Key *key, const uint8_t d[SC_P256_SCALAR_LEN])
{
  struct ecc_scalar s;
  struct ecc_point pub;
  int ret = SC_CRYPTO_EINVAL;

  if (key == NULL)
    return SC_CRYPTO_EINVAL;
  if (d == NULL)
    {
      sc_memzero (key, sizeof *key);
      return SC_CRYPTO_EINVAL;
    }
  ecc_scalar_init (&s, p256 ());
  ecc_point_init (&pub, p256 ());
  if (!scalar_load (&s, d))
    goto out;
  ecc_point_mul_g (&pub, &s);
  memmove (key->d, d, SC_P256_SCALAR_LEN);
  point_store (&pub, key->pub);
  ret = 0;
out:
  if (ret != 0)
    sc_memzero (key, sizeof *key);
  ecc_point_clear (&pub);
  ecc_scalar_clear_secret (&s);
  return ret;
}

void
sc_p256_key_clear (ScP256Key *key)
{
  if (key != NULL)
    sc_memzero (key, sizeof *key);
}

int
sc_p256_point_check (const uint8_t *point, size_t len)
{
  struct ecc_point pt;
  int ok;

  if (point == NULL || len != SC_P256_POINT_LEN || point[0] != SEC1_UNCOMPRESSED)
    return SC_CRYPTO_EPOINT;
  ecc_point_init (&pt, p256 ());
  ok = point_load (&pt, point, len);
  ecc_point_clear (&pt);
  return ok ? 0 : SC_CRYPTO_EPOINT;
}

/* shared = X (d * peer), after full validation of peer. On a prime-order
 * curve with 1 <= d < n and a valid peer the product is never infinity. */
int
sc_p256_ecdh (const ScP256Key *key, const uint8_t *peer, size_t peer_len,
              uint8_t shared[SC_P256_SHARED_LEN])
{
  struct ecc_scalar s;
  struct ecc_point peer_pt, prod;
  uint8_t prod_bytes[SC_P256_POINT_LEN];
  int ret = SC_CRYPTO_EPOINT;

  if (shared == NULL)
    return SC_CRYPTO_EINVAL;
  sc_memzero (shared, SC_P256_SHARED_LEN);
  if (key == NULL)
    return SC_CRYPTO_EINVAL;
  ecc_scalar_init (&s, p256 ());
  ecc_point_init (&peer_pt, p256 ());
  ecc_point_init (&prod, p256 ());
  if (!point_load (&peer_pt, peer, peer_len))
    goto out;
  ret = SC_CRYPTO_EINVAL;
  if (!scalar_load (&s, key->d))
    goto out;
  ecc_point_mul (&prod, &s, &peer_pt);
  wipe_callee_stack ();
  point_store (&prod, prod_bytes);
  memcpy (shared, prod_bytes + 1, SC_P256_SHARED_LEN);
  ret = 0;
out:
  sc_memzero (prod_bytes, sizeof prod_bytes);
  ecc_point_clear_secret (&prod);
  ecc_point_clear (&peer_pt);
  ecc_scalar_clear_secret (&s);
  return ret;
}

/* ---------------------------------------------------------------------------
 * ECDSA
 * ------------------------------------------------------------------------ */

/* The ECDSA nonce source: hedged. Each 32-byte block nettle asks for is
 * HMAC-SHA256 (d, "SecureComm hedged nonce" || u32 block || 32 bytes from
 * rng || SHA-256 (msg)), so a random source that repeats (a fork without
 * reseeding, a test source left in place) still gives a different, secret k
 * per message instead of leaking d after two signatures; with a good source
 * k is as random as before (the approach of hedged signatures, see
 * draft-irtf-cfrg-det-sigs-with-noise). Failures propagate as before. */
typedef struct
{
  RngAdapter base;
  const uint8_t *d;
  const uint8_t *digest;
  uint32_t block;
} HedgedNonce;

static const char hedge_label[] = "SecureComm hedged nonce";

static void
hedged_nonce (void *ctx, size_t len, uint8_t *dst)
{
  HedgedNonce *h = ctx;
  uint8_t msg[sizeof hedge_label - 1 + 4 + 32 + SC_SHA256_LEN], block[SC_SHA256_LEN];

  while (len > 0)
    {
      size_t n = len < sizeof block ? len : sizeof block;

      memcpy (msg, hedge_label, sizeof hedge_label - 1);
      msg[sizeof hedge_label - 1] = (uint8_t) (h->block >> 24);
      msg[sizeof hedge_label] = (uint8_t) (h->block >> 16);
      msg[sizeof hedge_label + 1] = (uint8_t) (h->block >> 8);
      msg[sizeof hedge_label + 2] = (uint8_t) h->block;
      h->block++;
      rng_adapter (&h->base, 32, msg + sizeof hedge_label - 1 + 4);
      memcpy (msg + sizeof hedge_label - 1 + 4 + 32, h->digest, SC_SHA256_LEN);
      sc_hmac_sha256 (h->d, SC_P256_SCALAR_LEN, msg, sizeof msg, block);
      memcpy (dst, block, n);
      dst += n;
      len -= n;
    }
  sc_memzero (msg, sizeof msg);
  sc_memzero (block, sizeof block);
}

/* (r, s) = ECDSA-Sign (d, SHA-256 (msg)) with a hedged nonce (above).
 * A failing rng yields ERANDOM and the signature is wiped. */
/* Signatures made by this process: lets tests prove that a resumed
 * handshake signs nothing. */
static uint64_t sign_count;

uint64_t
sc_p256_sign_count (void)
{
  return __atomic_load_n (&sign_count, __ATOMIC_RELAXED);
}

int
sc_p256_sign (const ScP256Key *key, const uint8_t *msg, size_t msg_len, ScRandomFunc rng,
              void *rng_user, uint8_t sig[SC_P256_SIG_LEN])
{
  HedgedNonce hedge = { { rng, rng_user, 0, false }, NULL, NULL, 0 };
  struct ecc_scalar s;
  struct dsa_signature rs;
  uint8_t digest[SC_SHA256_LEN];
  int ret = SC_CRYPTO_EINVAL;

  if (sig == NULL)
    return SC_CRYPTO_EINVAL;
  sc_memzero (sig, SC_P256_SIG_LEN);
  if (key == NULL || rng == NULL || (msg == NULL && msg_len > 0))
    return SC_CRYPTO_EINVAL;
  ecc_scalar_init (&s, p256 ());
  mpz_init_secret (rs.r);
  mpz_init_secret (rs.s);
  sc_sha256 (msg, msg_len, digest);
  if (!scalar_load (&s, key->d))
    goto out;
  hedge.d = key->d;
  hedge.digest = digest;
  __atomic_fetch_add (&sign_count, 1, __ATOMIC_RELAXED);
  ecdsa_sign (&s, &hedge, hedged_nonce, sizeof digest, digest, &rs);
  wipe_callee_stack ();
  ret = SC_CRYPTO_ERANDOM;
  if (hedge.base.failed)
    goto out;
  nettle_mpz_get_str_256 (SC_P256_SCALAR_LEN, sig, rs.r);
  nettle_mpz_get_str_256 (SC_P256_SCALAR_LEN, sig + SC_P256_SCALAR_LEN, rs.s);
  ret = 0;
out:
  sc_memzero (digest, sizeof digest);
  mpz_clear_secret (rs.r);
  mpz_clear_secret (rs.s);
  ecc_scalar_clear_secret (&s);
  return ret;
}

int
sc_p256_verify (const uint8_t pub[SC_P256_POINT_LEN], const uint8_t *msg, size_t msg_len,
                const uint8_t sig[SC_P256_SIG_LEN])
{
  struct ecc_point pt;
  struct dsa_signature rs;
  uint8_t digest[SC_SHA256_LEN];
  int ret = SC_CRYPTO_EPOINT;

  if (sig == NULL || (msg == NULL && msg_len > 0))
    return SC_CRYPTO_EINVAL;
  ecc_point_init (&pt, p256 ());
  dsa_signature_init (&rs);
  if (!point_load (&pt, pub, SC_P256_POINT_LEN))
    goto out;
  ret = SC_CRYPTO_EVERIFY;
  if (!in_order_range (sig) || !in_order_range (sig + SC_P256_SCALAR_LEN))
    goto out;
  nettle_mpz_set_str_256_u (rs.r, SC_P256_SCALAR_LEN, sig);
  nettle_mpz_set_str_256_u (rs.s, SC_P256_SCALAR_LEN, sig + SC_P256_SCALAR_LEN);
  sc_sha256 (msg, msg_len, digest);
  /* nettle 3.8 rejects the valid signatures whose verification meets
   * u1 G == u2 Y (a doubling its addition does not handle; Wycheproof ECDSA
   * tcId 427). That is a false reject with probability about 2^-256 for
   * honest signatures and never a false accept; we do not patch around the
   * library with arithmetic of our own. */
  if (ecdsa_verify (&pt, sizeof digest, digest, &rs))
    ret = 0;
out:
  dsa_signature_clear (&rs);
  ecc_point_clear (&pt);
  return ret;
}

/* ---------------------------------------------------------------------------
 * DER ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }
 *
 * A hand-written strict parser: for P-256 the whole encoding is at most 72
 * bytes, so every length fits the short form and anything else (long form,
 * indefinite length) is rejected by the range checks.
 * ------------------------------------------------------------------------ */

/* Reads the DER INTEGER at der[*pos] into out (32 bytes, left-padded). It
 * must be non-negative, minimally encoded and below 2^256. Returns false on
 * any violation; on success advances *pos past it. */
static bool
der_read_uint256 (const uint8_t *der, size_t der_len, size_t *pos, uint8_t out[32])
{
  size_t p = *pos;
  size_t n;

  if (der_len - p < 2 || der[p] != 0x02)
    return false;
  n = der[p + 1];
  p += 2;
  if (n == 0 || n > 33 || der_len - p < n)
    return false;
  if (der[p] & 0x80)
    return false; /* negative */
  if (n > 1 && der[p] == 0x00 && !(der[p + 1] & 0x80))
    return false; /* non-minimal leading zero */
  if (n > 1 && der[p] == 0x00)
    {
      p++;
      n--;
    }
  if (n > 32)
    return false; /* >= 2^256 */
  memset (out, 0, 32);
  memcpy (out + 32 - n, der + p, n);
  *pos = p + n;
  return true;
}

int
sc_p256_sig_from_der (const uint8_t *der, size_t der_len, uint8_t sig[SC_P256_SIG_LEN])
{
  size_t pos = 2;

  if (sig == NULL)
    return SC_CRYPTO_EINVAL;
  sc_memzero (sig, SC_P256_SIG_LEN);
  if (der == NULL || der_len < 8 || der_len > SC_P256_SIG_DER_MAX)
    goto bad;
  if (der[0] != 0x30 || (size_t) der[1] != der_len - 2)
    goto bad;
  if (!der_read_uint256 (der, der_len, &pos, sig)
      || !der_read_uint256 (der, der_len, &pos, sig + SC_P256_SCALAR_LEN) || pos != der_len)
    goto bad;
  if (is_zero_32 (sig) || is_zero_32 (sig + SC_P256_SCALAR_LEN))
    goto bad;
  return 0;
bad:
  sc_memzero (sig, SC_P256_SIG_LEN);
  return SC_CRYPTO_EENCODING;
}

/* Writes v (32 bytes big-endian, not zero) as a minimal DER INTEGER: leading
 * zero bytes dropped, one 0x00 added when the top bit is set. Returns the
 * number of bytes written (at most 35). */
static size_t
der_write_uint256 (const uint8_t v[32], uint8_t *out)
{
  size_t i = 0;
  size_t n, pad;

  while (i < 31 && v[i] == 0)
    i++;
  n = 32 - i;
  pad = (v[i] & 0x80) ? 1 : 0;
  out[0] = 0x02;
  out[1] = (uint8_t) (n + pad);
  out[2] = 0x00;
  memcpy (out + 2 + pad, v + i, n);
  return 2 + pad + n;
}

int
sc_p256_sig_to_der (const uint8_t sig[SC_P256_SIG_LEN], uint8_t *der, size_t *der_len)
{
  size_t body;

  if (der_len != NULL)
    *der_len = 0;
  if (der == NULL || der_len == NULL)
    return SC_CRYPTO_EINVAL;
  sc_memzero (der, SC_P256_SIG_DER_MAX);
  if (sig == NULL || is_zero_32 (sig) || is_zero_32 (sig + SC_P256_SCALAR_LEN))
    return SC_CRYPTO_EINVAL;
  body = der_write_uint256 (sig, der + 2);
  body += der_write_uint256 (sig + SC_P256_SCALAR_LEN, der + 2 + body);
  der[0] = 0x30;
  der[1] = (uint8_t) body;
  *der_len = body + 2;
  return 0;
}

/* ---------------------------------------------------------------------------
 * SubjectPublicKeyInfo
 * ------------------------------------------------------------------------ */

void
sc_p256_spki_encode (const uint8_t pub[SC_P256_POINT_LEN], uint8_t spki[SC_P256_SPKI_LEN])
{
  memcpy (spki, p256_spki_prefix, sizeof p256_spki_prefix);
  memcpy (spki + sizeof p256_spki_prefix, pub, SC_P256_POINT_LEN);
}

int
sc_p256_spki_decode (const uint8_t *spki, size_t len, uint8_t pub[SC_P256_POINT_LEN])
{
  const uint8_t *point;

  if (pub == NULL)
    return SC_CRYPTO_EINVAL;
  sc_memzero (pub, SC_P256_POINT_LEN);
  if (spki == NULL || len != SC_P256_SPKI_LEN
      || memcmp (spki, p256_spki_prefix, sizeof p256_spki_prefix) != 0)
    return SC_CRYPTO_EENCODING;
  point = spki + sizeof p256_spki_prefix;
  if (sc_p256_point_check (point, SC_P256_POINT_LEN) != 0)
    return SC_CRYPTO_EPOINT;
  memcpy (pub, point, SC_P256_POINT_LEN);
  return 0;
}

/* ---------------------------------------------------------------------------
 * X.509
 * ------------------------------------------------------------------------ */

/* Copies a big-endian GnuTLS integer into out (32 bytes): leading zero bytes
 * (GnuTLS may add a sign byte) are dropped and the rest left-padded. Returns
 * false if it does not fit. */
static bool
coord_to_32 (const gnutls_datum_t *d, uint8_t out[SC_P256_COORD_LEN])
{
  size_t i = 0;
  size_t n;

  while (i < d->size && d->data[i] == 0)
    i++;
  n = d->size - i;
  if (n > SC_P256_COORD_LEN)
    return false;
  memset (out, 0, SC_P256_COORD_LEN);
  if (n > 0)
    memcpy (out + SC_P256_COORD_LEN - n, d->data + i, n);
  return true;
}

/* The outer SEQUENCE of a certificate in DER: tag 0x30 and a length in its
 * shortest form that covers exactly the rest of the input. GnuTLS 3.7
 * accepts a padded long-form length here; two parsers must not disagree on
 * which bytes are the certificate. */
static bool
der_outer_minimal (const uint8_t *der, size_t len)
{
  size_t n, body = 0, hdr;

  if (len < 2 || der[0] != 0x30)
    return false;
  if (der[1] < 0x80)
    return (size_t) der[1] + 2 == len;
  n = der[1] & 0x7f;
  if (n == 0 || n > sizeof (size_t) || len < 2 + n || der[2] == 0)
    return false;
  for (size_t i = 0; i < n; i++)
    body = (body << 8) | der[2 + i];
  hdr = 2 + n;
  if (body < 0x80 || (n > 1 && body < ((size_t) 1 << (8 * (n - 1)))))
    return false; /* a shorter form would do */
  return body == len - hdr;
}

/* Extracts the P-256 public point of an imported certificate into pt. */
static int
x509_get_point (gnutls_x509_crt_t crt, uint8_t pt[SC_P256_POINT_LEN])
{
  gnutls_datum_t x = { NULL, 0 };
  gnutls_datum_t y = { NULL, 0 };
  gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
  int ret = SC_CRYPTO_EPOINT;

  if (gnutls_x509_crt_get_pk_algorithm (crt, NULL) != GNUTLS_PK_ECDSA)
    goto out;
  if (gnutls_x509_crt_get_pk_ecc_raw (crt, &curve, &x, &y) < 0
      || curve != GNUTLS_ECC_CURVE_SECP256R1)
    goto out;
  pt[0] = SEC1_UNCOMPRESSED;
  if (!coord_to_32 (&x, pt + 1) || !coord_to_32 (&y, pt + 1 + SC_P256_COORD_LEN))
    goto out;
  if (sc_p256_point_check (pt, SC_P256_POINT_LEN) == 0)
    ret = 0;
out:
  gnutls_free (x.data);
  gnutls_free (y.data);
  return ret;
}

int
sc_x509_p256_pubkey (const uint8_t *der, size_t der_len, uint8_t pub[SC_P256_POINT_LEN])
{
  gnutls_x509_crt_t crt = NULL;
  gnutls_datum_t in;
  uint8_t pt[SC_P256_POINT_LEN];
  int ret = SC_CRYPTO_EENCODING;

  if (pub == NULL)
    return SC_CRYPTO_EINVAL;
  sc_memzero (pub, SC_P256_POINT_LEN);
  if (der == NULL || der_len == 0 || der_len > UINT_MAX)
    return SC_CRYPTO_EENCODING;
  in.data = (unsigned char *) der; /* GnuTLS only reads it */
  in.size = (unsigned int) der_len;
  if (gnutls_x509_crt_init (&crt) < 0)
    {
      crt = NULL;
      ret = SC_CRYPTO_EINTERNAL;
      goto out;
    }
  if (!der_outer_minimal (der, der_len)
      || gnutls_x509_crt_import (crt, &in, GNUTLS_X509_FMT_DER) < 0)
    goto out;
  ret = x509_get_point (crt, pt);
  if (ret == 0)
    memcpy (pub, pt, SC_P256_POINT_LEN);
out:
  if (crt != NULL)
    gnutls_x509_crt_deinit (crt);
  return ret;
}
