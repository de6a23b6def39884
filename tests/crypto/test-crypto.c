/* test-crypto.c: unit tests for the sc-crypto module.
 *
 * Known-answer vectors come from the RFCs and the GCM specification named at
 * each test; the rest checks the contract of sc-crypto.h (strictness, error
 * codes, zeroed outputs on failure).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-crypto.h"

#include <string.h>
#include <time.h>

#include <glib.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* P-256 domain values, big-endian. */
#define P256_N_HEX "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"
#define P256_P_HEX "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"
#define P256_GX_HEX "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
#define P256_GY_HEX "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
/* p - Gy: the y coordinate of -G. */
#define P256_NEG_GY_HEX "b01cbd1c01e58065711814b583f061e9d431cca994cea1313449bf97c840ae0a"
/* A point with x = 0 (y = sqrt (b) mod p): on the curve, so (p, y) satisfies
 * the curve equation modulo p and only the range check can reject it. */
#define P256_X0_Y_HEX "66485c780e2f83d72433bd5d84a06bb6541c2af31dae871728bf856a174f93f4"

/* Decodes hex into a new buffer (g_free it); aborts the test on bad input. */
static guint8 *
unhex (const char *hex, gsize *len_out)
{
  gsize n = strlen (hex);
  guint8 *buf;
  gsize i;

  g_assert_cmpuint (n % 2, ==, 0);
  buf = g_malloc0 (n / 2 + 1);
  for (i = 0; i < n / 2; i++)
    {
      int hi = g_ascii_xdigit_value (hex[2 * i]);
      int lo = g_ascii_xdigit_value (hex[2 * i + 1]);

      g_assert_true (hi >= 0 && lo >= 0);
      buf[i] = (guint8) (hi << 4 | lo);
    }
  if (len_out != NULL)
    *len_out = n / 2;
  return buf;
}

/* Decodes hex of exactly len bytes into out. */
static void
unhex_into (const char *hex, guint8 *out, gsize len)
{
  gsize n;
  guint8 *buf = unhex (hex, &n);

  g_assert_cmpuint (n, ==, len);
  memcpy (out, buf, len);
  g_free (buf);
}

static gboolean
all_zero (const guint8 *p, gsize len)
{
  gsize i;

  for (i = 0; i < len; i++)
    if (p[i] != 0)
      return FALSE;
  return TRUE;
}

/* Builds the SEC1 point 04 || x || y from hex coordinates. */
static void
make_point (const char *x_hex, const char *y_hex, guint8 pt[SC_P256_POINT_LEN])
{
  pt[0] = 0x04;
  unhex_into (x_hex, pt + 1, SC_P256_COORD_LEN);
  unhex_into (y_hex, pt + 1 + SC_P256_COORD_LEN, SC_P256_COORD_LEN);
}

/* ---------------------------------------------------------------------------
 * Deterministic random sources
 * ------------------------------------------------------------------------ */

/* A counter RNG: the stream is SHA-256 (seed || block counter), block after
 * block, so two instances with the same seed give the same bytes. */
typedef struct
{
  guint32 seed;
  guint32 block;
} CounterRng;

static int
counter_rng (void *user, uint8_t *out, size_t len)
{
  CounterRng *c = user;
  size_t done = 0;

  while (done < len)
    {
      guint8 in[8], block[SC_SHA256_LEN];
      size_t n = MIN (len - done, sizeof block);

      memcpy (in, &c->seed, 4);
      memcpy (in + 4, &c->block, 4);
      c->block++;
      sc_sha256 (in, sizeof in, block);
      memcpy (out + done, block, n);
      done += n;
    }
  return 0;
}

static int
failing_rng (void *user, uint8_t *out, size_t len)
{
  memset (out, 0xa5, len);
  return -1;
}

/* Always 0xff: every candidate scalar is >= n, so nettle would draw forever. */
static int
stuck_rng (void *user, uint8_t *out, size_t len)
{
  memset (out, 0xff, len);
  return 0;
}

/* ---------------------------------------------------------------------------
 * Hashes, MAC, KDF
 * ------------------------------------------------------------------------ */

/* FIPS 180-2 "abc"; peek must not disturb the running context. */
static void
test_sha256 (void)
{
  guint8 want[SC_SHA256_LEN], got[SC_SHA256_LEN], early[SC_SHA256_LEN];
  ScSha256 ctx;

  unhex_into ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want,
              sizeof want);
  sc_sha256 ((const guint8 *) "abc", 3, got);
  g_assert_cmpmem (got, sizeof got, want, sizeof want);

  sc_sha256_init (&ctx);
  sc_sha256_update (&ctx, (const guint8 *) "ab", 2);
  sc_sha256_peek (&ctx, early);
  sc_sha256_update (&ctx, (const guint8 *) "c", 1);
  sc_sha256_peek (&ctx, got);
  g_assert_cmpmem (got, sizeof got, want, sizeof want);
  sc_sha256 ((const guint8 *) "ab", 2, want);
  g_assert_cmpmem (early, sizeof early, want, sizeof want);
  sc_sha256_clear (&ctx);
  g_assert_true (all_zero (ctx.opaque.bytes, sizeof ctx.opaque.bytes));
}

/* RFC 4231 test cases 1 and 2. */
static void
test_hmac_rfc4231 (void)
{
  guint8 key1[20], want[SC_HMAC_SHA256_LEN], got[SC_HMAC_SHA256_LEN];
  const char *jefe_data = "what do ya want for nothing?";

  memset (key1, 0x0b, sizeof key1);
  unhex_into ("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", want,
              sizeof want);
  sc_hmac_sha256 (key1, sizeof key1, (const guint8 *) "Hi There", 8, got);
  g_assert_cmpmem (got, sizeof got, want, sizeof want);

  unhex_into ("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want,
              sizeof want);
  sc_hmac_sha256 ((const guint8 *) "Jefe", 4, (const guint8 *) jefe_data, strlen (jefe_data), got);
  g_assert_cmpmem (got, sizeof got, want, sizeof want);

  g_assert_cmpint (sc_hmac_sha256_verify ((const guint8 *) "Jefe", 4, (const guint8 *) jefe_data,
                                          strlen (jefe_data), want, 32),
                   ==, 0);
  g_assert_cmpint (sc_hmac_sha256_verify ((const guint8 *) "Jefe", 4, (const guint8 *) jefe_data,
                                          strlen (jefe_data), want, 16),
                   ==, 0);
  g_assert_cmpint (sc_hmac_sha256_verify ((const guint8 *) "Jefe", 4, (const guint8 *) jefe_data,
                                          strlen (jefe_data), want, 0),
                   ==, SC_CRYPTO_EINVAL);
  g_assert_cmpint (sc_hmac_sha256_verify ((const guint8 *) "Jefe", 4, (const guint8 *) jefe_data,
                                          strlen (jefe_data), want, 33),
                   ==, SC_CRYPTO_EINVAL);
  want[31] ^= 1;
  g_assert_cmpint (sc_hmac_sha256_verify ((const guint8 *) "Jefe", 4, (const guint8 *) jefe_data,
                                          strlen (jefe_data), want, 32),
                   ==, SC_CRYPTO_EVERIFY);
  /* A flip outside the compared prefix does not matter. */
  g_assert_cmpint (sc_hmac_sha256_verify ((const guint8 *) "Jefe", 4, (const guint8 *) jefe_data,
                                          strlen (jefe_data), want, 31),
                   ==, 0);
}

/* RFC 5869 test cases 1 (with salt and info) and 3 (empty salt and info). */
static void
test_hkdf_rfc5869 (void)
{
  guint8 ikm[22], salt[13], info[10], prk[SC_SHA256_LEN], want_prk[SC_SHA256_LEN];
  guint8 okm[42], want_okm[42];
  guint8 *big;
  gsize i;

  memset (ikm, 0x0b, sizeof ikm);
  for (i = 0; i < sizeof salt; i++)
    salt[i] = (guint8) i;
  for (i = 0; i < sizeof info; i++)
    info[i] = (guint8) (0xf0 + i);

  unhex_into ("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5", want_prk,
              sizeof want_prk);
  unhex_into ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
              "34007208d5b887185865",
              want_okm, sizeof want_okm);
  sc_hkdf_sha256_extract (salt, sizeof salt, ikm, sizeof ikm, prk);
  g_assert_cmpmem (prk, sizeof prk, want_prk, sizeof want_prk);
  g_assert_cmpint (sc_hkdf_sha256_expand (prk, info, sizeof info, okm, sizeof okm), ==, 0);
  g_assert_cmpmem (okm, sizeof okm, want_okm, sizeof want_okm);

  unhex_into ("19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04", want_prk,
              sizeof want_prk);
  unhex_into ("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
              "9d201395faa4b61a96c8",
              want_okm, sizeof want_okm);
  sc_hkdf_sha256_extract (NULL, 0, ikm, sizeof ikm, prk);
  g_assert_cmpmem (prk, sizeof prk, want_prk, sizeof want_prk);
  g_assert_cmpint (sc_hkdf_sha256_expand (prk, NULL, 0, okm, sizeof okm), ==, 0);
  g_assert_cmpmem (okm, sizeof okm, want_okm, sizeof want_okm);

  /* Length limits: 0 and 255 * 32 + 1 are refused without writing. */
  big = g_malloc (SC_HKDF_SHA256_MAX_OUTPUT + 1);
  memset (big, 0x5a, SC_HKDF_SHA256_MAX_OUTPUT + 1);
  g_assert_cmpint (sc_hkdf_sha256_expand (prk, NULL, 0, big, 0), ==, SC_CRYPTO_EINVAL);
  g_assert_cmpint (sc_hkdf_sha256_expand (prk, NULL, 0, big, SC_HKDF_SHA256_MAX_OUTPUT + 1), ==,
                   SC_CRYPTO_EINVAL);
  g_assert_cmpuint (big[0], ==, 0x5a);
  g_assert_cmpint (sc_hkdf_sha256_expand (prk, NULL, 0, big, SC_HKDF_SHA256_MAX_OUTPUT), ==, 0);
  g_assert_cmpmem (big, sizeof okm, want_okm, sizeof want_okm);
  g_assert_cmpuint (big[SC_HKDF_SHA256_MAX_OUTPUT], ==, 0x5a);
  g_free (big);
}

/* ---------------------------------------------------------------------------
 * AES-256-GCM
 * ------------------------------------------------------------------------ */

typedef struct
{
  const char *key, *iv, *pt, *aad, *ct, *tag;
} GcmVector;

/* McGrew and Viega, "The Galois/Counter Mode of Operation", test cases 13,
 * 14, 15 and 16 (the 256-bit key ones with a 96-bit IV). */
static const GcmVector gcm_vectors[] = {
  { "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
    "", "", "", "530f8afbc74536b9a963b4f1c4cb738b" },
  { "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
    "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18",
    "d0d1c8a799996bf0265b98b5d48ab919" },
  { "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
    "",
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
    "b094dac5d93471bdec1a502270e3cc6c" },
  { "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    "feedfacedeadbeeffeedfacedeadbeefabaddad2",
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
    "76fc6ece0f4e1768cddf8853bb2d551b" },
};

static void
test_aead_vectors (void)
{
  gsize v;

  for (v = 0; v < G_N_ELEMENTS (gcm_vectors); v++)
    {
      const GcmVector *t = &gcm_vectors[v];
      gsize pt_len, aad_len, ct_len, tag_len;
      guint8 key[SC_AES256_GCM_KEY_LEN], iv[SC_AES256_GCM_NONCE_LEN];
      guint8 *pt = unhex (t->pt, &pt_len), *aad = unhex (t->aad, &aad_len);
      guint8 *ct = unhex (t->ct, &ct_len), *tag = unhex (t->tag, &tag_len);
      guint8 *out = g_malloc0 (pt_len + SC_AES256_GCM_TAG_LEN);
      guint8 *back = g_malloc0 (pt_len + 1);
      ScAead *aead = sc_secure_alloc (sizeof *aead);

      g_test_message ("GCM vector %" G_GSIZE_FORMAT, v);
      unhex_into (t->key, key, sizeof key);
      unhex_into (t->iv, iv, sizeof iv);
      sc_aead_set_key (aead, key);
      sc_aead_seal (aead, iv, aad, aad_len, pt, pt_len, out);
      g_assert_cmpmem (out, pt_len, ct, ct_len);
      g_assert_cmpmem (out + pt_len, SC_AES256_GCM_TAG_LEN, tag, tag_len);
      g_assert_cmpint (
          sc_aead_open (aead, iv, aad, aad_len, out, pt_len + SC_AES256_GCM_TAG_LEN, back), ==, 0);
      g_assert_cmpmem (back, pt_len, pt, pt_len);
      sc_aead_clear (aead);
      g_assert_true (all_zero (aead->opaque.bytes, sizeof aead->opaque.bytes));
      sc_secure_free (aead, sizeof *aead);
      g_free (pt);
      g_free (aad);
      g_free (ct);
      g_free (tag);
      g_free (out);
      g_free (back);
    }
}

/* Opens buf (len bytes) and checks that it fails with EVERIFY and that the
 * plaintext output was zeroed. */
static void
assert_open_fails (const ScAead *aead, const guint8 *nonce, const guint8 *aad, gsize aad_len,
                   const guint8 *buf, gsize len)
{
  guint8 *out = g_malloc (len);

  memset (out, 0x77, len);
  g_assert_cmpint (sc_aead_open (aead, nonce, aad, aad_len, buf, len, out), ==, SC_CRYPTO_EVERIFY);
  g_assert_true (all_zero (out, len - SC_AES256_GCM_TAG_LEN));
  g_free (out);
}

static void
test_aead_roundtrip (void)
{
  guint8 key[SC_AES256_GCM_KEY_LEN], nonce[SC_AES256_GCM_NONCE_LEN], aad[20];
  guint8 msg[100], buf[100 + SC_AES256_GCM_TAG_LEN], copy[sizeof buf];
  guint8 empty_ct[SC_AES256_GCM_TAG_LEN];
  ScAead *aead = sc_secure_alloc (sizeof *aead);
  gsize i;

  g_assert_cmpint (sc_random_bytes (key, sizeof key), ==, 0);
  g_assert_cmpint (sc_random_bytes (nonce, sizeof nonce), ==, 0);
  g_assert_cmpint (sc_random_bytes (aad, sizeof aad), ==, 0);
  g_assert_cmpint (sc_random_bytes (msg, sizeof msg), ==, 0);
  sc_aead_set_key (aead, key);

  /* In place: seal msg inside buf, then open buf onto itself. */
  memcpy (buf, msg, sizeof msg);
  sc_aead_seal (aead, nonce, aad, sizeof aad, buf, sizeof msg, buf);
  g_assert_true (memcmp (buf, msg, sizeof msg) != 0);
  memcpy (copy, buf, sizeof buf);
  g_assert_cmpint (sc_aead_open (aead, nonce, aad, sizeof aad, buf, sizeof buf, buf), ==, 0);
  g_assert_cmpmem (buf, sizeof msg, msg, sizeof msg);

  /* Each tampering: one bit of ciphertext, tag, AAD or nonce. */
  for (i = 0; i < sizeof copy; i += 7)
    {
      copy[i] ^= 0x01;
      assert_open_fails (aead, nonce, aad, sizeof aad, copy, sizeof copy);
      copy[i] ^= 0x01;
    }
  copy[sizeof copy - 1] ^= 0x80;
  assert_open_fails (aead, nonce, aad, sizeof aad, copy, sizeof copy);
  copy[sizeof copy - 1] ^= 0x80;
  aad[3] ^= 0x10;
  assert_open_fails (aead, nonce, aad, sizeof aad, copy, sizeof copy);
  assert_open_fails (aead, nonce, aad, sizeof aad - 1, copy, sizeof copy);
  aad[3] ^= 0x10;
  nonce[11] ^= 0x01;
  assert_open_fails (aead, nonce, aad, sizeof aad, copy, sizeof copy);
  nonce[11] ^= 0x01;
  /* Truncated: the tag moves, so the check fails. */
  assert_open_fails (aead, nonce, aad, sizeof aad, copy, sizeof copy - 1);

  /* 0-byte plaintext, no AAD: output is the tag alone. */
  sc_aead_seal (aead, nonce, NULL, 0, NULL, 0, empty_ct);
  g_assert_cmpint (sc_aead_open (aead, nonce, NULL, 0, empty_ct, sizeof empty_ct, NULL), ==, 0);
  empty_ct[0] ^= 1;
  g_assert_cmpint (sc_aead_open (aead, nonce, NULL, 0, empty_ct, sizeof empty_ct, NULL), ==,
                   SC_CRYPTO_EVERIFY);
  g_assert_cmpint (sc_aead_open (aead, nonce, NULL, 0, empty_ct, sizeof empty_ct - 1, buf), ==,
                   SC_CRYPTO_EINVAL);

  sc_aead_clear (aead);
  sc_secure_free (aead, sizeof *aead);
}

/* ---------------------------------------------------------------------------
 * P-256
 * ------------------------------------------------------------------------ */

static void
test_p256_key_from_scalar (void)
{
  guint8 d[SC_P256_SCALAR_LEN], want[SC_P256_POINT_LEN];
  ScP256Key key;
  guint8 *n = unhex (P256_N_HEX, NULL);
  int i;

  /* d = 1 gives G, d = n - 1 gives -G. */
  memset (d, 0, sizeof d);
  d[31] = 1;
  g_assert_cmpint (sc_p256_key_from_scalar (&key, d), ==, 0);
  make_point (P256_GX_HEX, P256_GY_HEX, want);
  g_assert_cmpmem (key.pub, sizeof key.pub, want, sizeof want);
  g_assert_cmpmem (key.d, sizeof key.d, d, sizeof d);

  memcpy (d, n, sizeof d);
  d[31] -= 1;
  g_assert_cmpint (sc_p256_key_from_scalar (&key, d), ==, 0);
  make_point (P256_GX_HEX, P256_NEG_GY_HEX, want);
  g_assert_cmpmem (key.pub, sizeof key.pub, want, sizeof want);

  /* Aliasing: the scalar may live inside the key itself. */
  g_assert_cmpint (sc_p256_key_from_scalar (&key, key.d), ==, 0);
  g_assert_cmpmem (key.pub, sizeof key.pub, want, sizeof want);

  /* 0, n, n + 1 and 2^256 - 1 are rejected and the key is zeroed. */
  for (i = 0; i < 4; i++)
    {
      if (i == 0)
        memset (d, 0, sizeof d);
      else if (i == 3)
        memset (d, 0xff, sizeof d);
      else
        {
          memcpy (d, n, sizeof d);
          d[31] += (guint8) (i - 1);
        }
      memset (&key, 0x33, sizeof key);
      g_assert_cmpint (sc_p256_key_from_scalar (&key, d), ==, SC_CRYPTO_EINVAL);
      g_assert_true (all_zero ((const guint8 *) &key, sizeof key));
    }
  sc_p256_key_clear (&key);
  g_free (n);
}

static void
test_p256_point_check (void)
{
  guint8 pt[SC_P256_POINT_LEN + 1];
  guint8 bad[SC_P256_POINT_LEN];
  guint8 prefixes[] = { 0x00, 0x02, 0x03, 0x05, 0x06, 0x07, 0x44 };
  gsize i;

  make_point (P256_GX_HEX, P256_GY_HEX, pt);
  pt[SC_P256_POINT_LEN] = 0;
  g_assert_cmpint (sc_p256_point_check (pt, SC_P256_POINT_LEN), ==, 0);
  g_assert_cmpint (sc_p256_point_check (pt, SC_P256_POINT_LEN + 1), ==, SC_CRYPTO_EPOINT);
  g_assert_cmpint (sc_p256_point_check (pt, SC_P256_POINT_LEN - 1), ==, SC_CRYPTO_EPOINT);
  g_assert_cmpint (sc_p256_point_check (pt, 33), ==, SC_CRYPTO_EPOINT);
  g_assert_cmpint (sc_p256_point_check (pt, 0), ==, SC_CRYPTO_EPOINT);
  g_assert_cmpint (sc_p256_point_check (NULL, SC_P256_POINT_LEN), ==, SC_CRYPTO_EPOINT);

  for (i = 0; i < G_N_ELEMENTS (prefixes); i++)
    {
      memcpy (bad, pt, sizeof bad);
      bad[0] = prefixes[i];
      g_assert_cmpint (sc_p256_point_check (bad, sizeof bad), ==, SC_CRYPTO_EPOINT);
    }
  /* Compressed G (0x02 || X, even y... either parity) is refused. */
  memcpy (bad, pt, 33);
  bad[0] = 0x03;
  g_assert_cmpint (sc_p256_point_check (bad, 33), ==, SC_CRYPTO_EPOINT);

  /* Off the curve: y + 1. */
  memcpy (bad, pt, sizeof bad);
  bad[64] ^= 0x01;
  g_assert_cmpint (sc_p256_point_check (bad, sizeof bad), ==, SC_CRYPTO_EPOINT);
  /* The "point at infinity" as all zeros. */
  memset (bad, 0, sizeof bad);
  bad[0] = 0x04;
  g_assert_cmpint (sc_p256_point_check (bad, sizeof bad), ==, SC_CRYPTO_EPOINT);

  /* (0, y) is on the curve; (p, y) is the same point modulo p but x >= p. */
  make_point ("0000000000000000000000000000000000000000000000000000000000000000", P256_X0_Y_HEX,
              bad);
  g_assert_cmpint (sc_p256_point_check (bad, sizeof bad), ==, 0);
  make_point (P256_P_HEX, P256_X0_Y_HEX, bad);
  g_assert_cmpint (sc_p256_point_check (bad, sizeof bad), ==, SC_CRYPTO_EPOINT);
  /* y = p, y = 2^256 - 1. */
  make_point (P256_GX_HEX, P256_P_HEX, bad);
  g_assert_cmpint (sc_p256_point_check (bad, sizeof bad), ==, SC_CRYPTO_EPOINT);
  memset (bad + 33, 0xff, 32);
  g_assert_cmpint (sc_p256_point_check (bad, sizeof bad), ==, SC_CRYPTO_EPOINT);
}

static void
test_p256_ecdh (void)
{
  ScP256Key *a = sc_secure_alloc (sizeof *a);
  ScP256Key *b = sc_secure_alloc (sizeof *b);
  guint8 s1[SC_P256_SHARED_LEN], s2[SC_P256_SHARED_LEN], bad[SC_P256_POINT_LEN];

  g_assert_cmpint (sc_p256_keygen (a, sc_random_system, NULL), ==, 0);
  g_assert_cmpint (sc_p256_keygen (b, sc_random_system, NULL), ==, 0);
  g_assert_true (memcmp (a->d, b->d, SC_P256_SCALAR_LEN) != 0);
  g_assert_cmpint (sc_p256_point_check (a->pub, sizeof a->pub), ==, 0);
  g_assert_cmpint (sc_p256_point_check (b->pub, sizeof b->pub), ==, 0);

  g_assert_cmpint (sc_p256_ecdh (a, b->pub, sizeof b->pub, s1), ==, 0);
  g_assert_cmpint (sc_p256_ecdh (b, a->pub, sizeof a->pub, s2), ==, 0);
  g_assert_cmpmem (s1, sizeof s1, s2, sizeof s2);
  g_assert_false (all_zero (s1, sizeof s1));

  /* A peer point off the curve, or badly sized, is refused; shared zeroed. */
  memcpy (bad, b->pub, sizeof bad);
  bad[40] ^= 0x04;
  g_assert_cmpint (sc_p256_ecdh (a, bad, sizeof bad, s1), ==, SC_CRYPTO_EPOINT);
  g_assert_true (all_zero (s1, sizeof s1));
  memset (s1, 0x11, sizeof s1);
  g_assert_cmpint (sc_p256_ecdh (a, b->pub, 64, s1), ==, SC_CRYPTO_EPOINT);
  g_assert_true (all_zero (s1, sizeof s1));

  /* A key whose scalar is out of range. */
  memset (a->d, 0, sizeof a->d);
  g_assert_cmpint (sc_p256_ecdh (a, b->pub, sizeof b->pub, s1), ==, SC_CRYPTO_EINVAL);
  g_assert_true (all_zero (s1, sizeof s1));

  sc_p256_key_clear (a);
  g_assert_true (all_zero ((const guint8 *) a, sizeof *a));
  sc_secure_free (a, sizeof *a);
  sc_secure_free (b, sizeof *b);
}

static void
test_p256_ecdsa (void)
{
  ScP256Key key;
  guint8 sig[SC_P256_SIG_LEN], sig2[SC_P256_SIG_LEN], bad[SC_P256_SIG_LEN];
  guint8 pub_bad[SC_P256_POINT_LEN];
  guint8 msg[] = "attack at dawn";
  guint8 *n = unhex (P256_N_HEX, NULL);
  gsize i;

  g_assert_cmpint (sc_p256_keygen (&key, sc_random_system, NULL), ==, 0);
  g_assert_cmpint (sc_p256_sign (&key, msg, sizeof msg, sc_random_system, NULL, sig), ==, 0);
  g_assert_cmpint (sc_p256_verify (key.pub, msg, sizeof msg, sig), ==, 0);

  /* Fresh nonces give different signatures, both valid. */
  g_assert_cmpint (sc_p256_sign (&key, msg, sizeof msg, sc_random_system, NULL, sig2), ==, 0);
  g_assert_true (memcmp (sig, sig2, sizeof sig) != 0);
  g_assert_cmpint (sc_p256_verify (key.pub, msg, sizeof msg, sig2), ==, 0);

  /* Any flipped bit in the message or the signature breaks it. */
  msg[3] ^= 0x01;
  g_assert_cmpint (sc_p256_verify (key.pub, msg, sizeof msg, sig), ==, SC_CRYPTO_EVERIFY);
  msg[3] ^= 0x01;
  for (i = 0; i < sizeof sig; i += 5)
    {
      memcpy (bad, sig, sizeof bad);
      bad[i] ^= 0x20;
      g_assert_cmpint (sc_p256_verify (key.pub, msg, sizeof msg, bad), ==, SC_CRYPTO_EVERIFY);
    }
  /* r or s out of [1, n-1]. */
  memcpy (bad, sig, sizeof bad);
  memset (bad, 0, 32);
  g_assert_cmpint (sc_p256_verify (key.pub, msg, sizeof msg, bad), ==, SC_CRYPTO_EVERIFY);
  memcpy (bad + 32, n, 32);
  memcpy (bad, sig, 32);
  g_assert_cmpint (sc_p256_verify (key.pub, msg, sizeof msg, bad), ==, SC_CRYPTO_EVERIFY);
  /* A bad public key is reported as such. */
  memcpy (pub_bad, key.pub, sizeof pub_bad);
  pub_bad[64] ^= 1;
  g_assert_cmpint (sc_p256_verify (pub_bad, msg, sizeof msg, sig), ==, SC_CRYPTO_EPOINT);

  sc_p256_key_clear (&key);
  g_free (n);
}

/* Signing with injected random sources, and an empty message. */
static void
test_p256_ecdsa_rng (void)
{
  ScP256Key key;
  guint8 sig[SC_P256_SIG_LEN], sig2[SC_P256_SIG_LEN];
  guint8 msg[] = "attack at dawn";
  CounterRng rng1 = { 7, 0 }, rng2 = { 7, 0 };

  g_assert_cmpint (sc_p256_keygen (&key, sc_random_system, NULL), ==, 0);

  /* Empty message. */
  g_assert_cmpint (sc_p256_sign (&key, NULL, 0, sc_random_system, NULL, sig), ==, 0);
  g_assert_cmpint (sc_p256_verify (key.pub, NULL, 0, sig), ==, 0);

  /* Same injected random stream, same signature. */
  g_assert_cmpint (sc_p256_sign (&key, msg, sizeof msg, counter_rng, &rng1, sig), ==, 0);
  g_assert_cmpint (sc_p256_sign (&key, msg, sizeof msg, counter_rng, &rng2, sig2), ==, 0);
  g_assert_cmpmem (sig, sizeof sig, sig2, sizeof sig2);

  /* A failing random source: ERANDOM, nothing leaks out. */
  memset (sig, 0x44, sizeof sig);
  g_assert_cmpint (sc_p256_sign (&key, msg, sizeof msg, failing_rng, NULL, sig), ==,
                   SC_CRYPTO_ERANDOM);
  g_assert_true (all_zero (sig, sizeof sig));

  /* A stuck source (always the same bytes) that claims success: the hedged
   * nonce still differs per message, so two signatures do not share k (r)
   * and both verify. Without hedging both would use one k and reveal d. */
  {
    static const guint8 other[] = "retreat at dusk";

    g_assert_cmpint (sc_p256_sign (&key, msg, sizeof msg, stuck_rng, NULL, sig), ==, 0);
    g_assert_cmpint (sc_p256_sign (&key, other, sizeof other, stuck_rng, NULL, sig2), ==, 0);
    g_assert_cmpint (sc_p256_verify (key.pub, msg, sizeof msg, sig), ==, 0);
    g_assert_cmpint (sc_p256_verify (key.pub, other, sizeof other, sig2), ==, 0);
    g_assert_true (memcmp (sig, sig2, SC_P256_SCALAR_LEN) != 0);
  }

  sc_p256_key_clear (&key);
}

/* A counter RNG makes key generation reproducible; failures are reported. */
static void
test_p256_keygen_deterministic (void)
{
  CounterRng rng1 = { 42, 0 }, rng2 = { 42, 0 }, rng3 = { 42, 0 };
  ScP256Key k1, k2, k3;
  guint8 stream[SC_P256_SCALAR_LEN];

  g_assert_cmpint (sc_p256_keygen (&k1, counter_rng, &rng1), ==, 0);
  g_assert_cmpint (sc_p256_keygen (&k2, counter_rng, &rng2), ==, 0);
  g_assert_cmpmem (&k1, sizeof k1, &k2, sizeof k2);
  /* nettle takes the scalar straight from the first 32 bytes (in range). */
  counter_rng (&rng3, stream, sizeof stream);
  g_assert_cmpmem (k1.d, sizeof k1.d, stream, sizeof stream);
  g_assert_cmpint (sc_p256_key_from_scalar (&k3, k1.d), ==, 0);
  g_assert_cmpmem (&k1, sizeof k1, &k3, sizeof k3);

  g_assert_cmpint (sc_p256_keygen (&k1, failing_rng, NULL), ==, SC_CRYPTO_ERANDOM);
  g_assert_true (all_zero ((const guint8 *) &k1, sizeof k1));
  g_assert_cmpint (sc_p256_keygen (&k1, stuck_rng, NULL), ==, SC_CRYPTO_ERANDOM);
  g_assert_true (all_zero ((const guint8 *) &k1, sizeof k1));
  g_assert_cmpint (sc_p256_keygen (&k1, NULL, NULL), ==, SC_CRYPTO_EINVAL);

  sc_p256_key_clear (&k1);
  sc_p256_key_clear (&k2);
  sc_p256_key_clear (&k3);
}

static void
test_p256_spki (void)
{
  ScP256Key key;
  guint8 spki[SC_P256_SPKI_LEN], bad[SC_P256_SPKI_LEN + 1], pub[SC_P256_POINT_LEN];
  static const guint8 flips[] = { 0x01, 0x80, 0xff };
  gsize i, f;

  g_assert_cmpint (sc_p256_keygen (&key, sc_random_system, NULL), ==, 0);
  sc_p256_spki_encode (key.pub, spki);
  g_assert_cmpuint (spki[0], ==, 0x30);
  g_assert_cmpmem (spki + SC_P256_SPKI_LEN - SC_P256_POINT_LEN, SC_P256_POINT_LEN, key.pub,
                   SC_P256_POINT_LEN);
  g_assert_cmpint (sc_p256_spki_decode (spki, sizeof spki, pub), ==, 0);
  g_assert_cmpmem (pub, sizeof pub, key.pub, sizeof key.pub);

  /* Every single modified byte of the DER prefix is an encoding error. */
  for (i = 0; i < SC_P256_SPKI_LEN - SC_P256_POINT_LEN; i++)
    for (f = 0; f < G_N_ELEMENTS (flips); f++)
      {
        memcpy (bad, spki, sizeof spki);
        bad[i] ^= flips[f];
        memset (pub, 0x11, sizeof pub);
        g_assert_cmpint (sc_p256_spki_decode (bad, sizeof spki, pub), ==, SC_CRYPTO_EENCODING);
        g_assert_true (all_zero (pub, sizeof pub));
      }
  /* The point's own 0x04 and its coordinates are checked as a point. */
  memcpy (bad, spki, sizeof spki);
  bad[SC_P256_SPKI_LEN - SC_P256_POINT_LEN] = 0x02;
  g_assert_cmpint (sc_p256_spki_decode (bad, sizeof spki, pub), ==, SC_CRYPTO_EPOINT);
  memcpy (bad, spki, sizeof spki);
  bad[SC_P256_SPKI_LEN - 1] ^= 0x01;
  g_assert_cmpint (sc_p256_spki_decode (bad, sizeof spki, pub), ==, SC_CRYPTO_EPOINT);
  /* Wrong lengths. */
  memcpy (bad, spki, sizeof spki);
  bad[SC_P256_SPKI_LEN] = 0;
  g_assert_cmpint (sc_p256_spki_decode (bad, sizeof spki + 1, pub), ==, SC_CRYPTO_EENCODING);
  g_assert_cmpint (sc_p256_spki_decode (bad, sizeof spki - 1, pub), ==, SC_CRYPTO_EENCODING);
  g_assert_cmpint (sc_p256_spki_decode (NULL, 0, pub), ==, SC_CRYPTO_EENCODING);
  sc_p256_key_clear (&key);
}

/* Checks that der (hex) is refused by sc_p256_sig_from_der. */
static void
assert_der_rejected (const char *hex)
{
  gsize len;
  guint8 *der = unhex (hex, &len);
  guint8 sig[SC_P256_SIG_LEN];

  g_test_message ("DER must be rejected: %s", hex);
  memset (sig, 0x22, sizeof sig);
  g_assert_cmpint (sc_p256_sig_from_der (der, len, sig), ==, SC_CRYPTO_EENCODING);
  g_assert_true (all_zero (sig, sizeof sig));
  g_free (der);
}

/* Round trip of r || s through DER, checking the DER length. */
static void
assert_der_roundtrip (const guint8 sig[SC_P256_SIG_LEN], gsize want_len)
{
  guint8 der[SC_P256_SIG_DER_MAX], back[SC_P256_SIG_LEN];
  gsize der_len = 0;

  g_assert_cmpint (sc_p256_sig_to_der (sig, der, &der_len), ==, 0);
  if (want_len > 0)
    g_assert_cmpuint (der_len, ==, want_len);
  g_assert_cmpint (sc_p256_sig_from_der (der, der_len, back), ==, 0);
  g_assert_cmpmem (back, sizeof back, sig, SC_P256_SIG_LEN);
}

static void
test_p256_der (void)
{
  guint8 sig[SC_P256_SIG_LEN], der[SC_P256_SIG_DER_MAX];
  gsize der_len, i;

  for (i = 0; i < 32; i++)
    {
      g_assert_cmpint (sc_random_bytes (sig, sizeof sig), ==, 0);
      assert_der_roundtrip (sig, 0);
    }
  /* Both top bits set: two 33-byte integers, the 72-byte worst case. */
  memset (sig, 0xff, sizeof sig);
  assert_der_roundtrip (sig, SC_P256_SIG_DER_MAX);
  /* Both equal to 1: the 8-byte minimum. */
  memset (sig, 0, sizeof sig);
  sig[31] = 1;
  sig[63] = 1;
  assert_der_roundtrip (sig, 8);
  /* 0x7f.. and 0x0080..: no pad, and one zero byte dropped then one added. */
  memset (sig, 0x7f, 32);
  memset (sig + 32, 0, 32);
  sig[33] = 0x80;
  assert_der_roundtrip (sig, 2 + 34 + 34);
  /* Zero r or s cannot be encoded. */
  memset (sig, 0, 32);
  g_assert_cmpint (sc_p256_sig_to_der (sig, der, &der_len), ==, SC_CRYPTO_EINVAL);
  g_assert_cmpuint (der_len, ==, 0);
}

/* sc_p256_sig_from_der accepts DER only. */
static void
test_p256_der_strict (void)
{
  guint8 sig[SC_P256_SIG_LEN];
  gsize der_len;
  guint8 *good = unhex ("3006020101020102", &der_len);

  /* Known good: SEQUENCE { 1, 2 }. */
  g_assert_cmpint (sc_p256_sig_from_der (good, der_len, sig), ==, 0);
  g_assert_cmpuint (sig[31], ==, 1);
  g_assert_cmpuint (sig[63], ==, 2);
  g_free (good);

  assert_der_rejected ("");
  assert_der_rejected ("300602010102010200");   /* trailing byte */
  assert_der_rejected ("3007020101020102");     /* length too long */
  assert_der_rejected ("3005020101020102");     /* length too short */
  assert_der_rejected ("308106020101020102");   /* long-form length */
  assert_der_rejected ("3106020101020102");     /* SET, not SEQUENCE */
  assert_der_rejected ("3006030101020102");     /* BIT STRING, not INTEGER */
  assert_der_rejected ("300702020001020102");   /* 00 01: non-minimal r */
  assert_der_rejected ("3006020181020102");     /* negative r */
  assert_der_rejected ("3006020100020102");     /* r = 0 */
  assert_der_rejected ("3006020101020100");     /* s = 0 */
  assert_der_rejected ("30050200020102");       /* empty INTEGER */
  assert_der_rejected ("30080201010201020000"); /* junk inside the SEQUENCE */
  assert_der_rejected ("30800201010201020000"); /* indefinite length */
  assert_der_rejected ("300702810101020102");   /* long-form INTEGER length */
  /* r = 2^256 (33 bytes with a non-zero top byte). */
  assert_der_rejected ("3026022101"
                       "0000000000000000000000000000000000000000000000000000000000000000"
                       "020101");
  /* 34-byte r with two leading zero bytes. */
  assert_der_rejected ("30270222"
                       "0000"
                       "ff00000000000000000000000000000000000000000000000000000000000000"
                       "020101");
}

/* ---------------------------------------------------------------------------
 * X.509
 * ------------------------------------------------------------------------ */

/* A self-signed certificate for key, in DER (g_free it). */
static guint8 *
make_cert (gnutls_x509_privkey_t key, gnutls_digest_algorithm_t dig, gsize *len)
{
  gnutls_x509_crt_t crt;
  gnutls_datum_t out = { NULL, 0 };
  time_t now = time (NULL);
  guint8 *der;

  g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_version (crt, 3), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_serial (crt, "\x01", 1), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_activation_time (crt, now), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_expiration_time (crt, now + 3600), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, "test", 4),
                   ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_key (crt, key), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_sign2 (crt, crt, key, dig, 0), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_DER, &out), ==, 0);
  der = g_memdup2 (out.data, out.size);
  *len = out.size;
  gnutls_free (out.data);
  gnutls_x509_crt_deinit (crt);
  return der;
}

static void
test_x509 (void)
{
  ScP256Key key;
  gnutls_x509_privkey_t pk;
  gnutls_datum_t x, y, k;
  guint8 pub[SC_P256_POINT_LEN];
  guint8 *der;
  gsize der_len;

  /* A P-256 certificate for a key of ours: the point comes back. */
  g_assert_cmpint (sc_p256_keygen (&key, sc_random_system, NULL), ==, 0);
  x.data = key.pub + 1;
  x.size = 32;
  y.data = key.pub + 33;
  y.size = 32;
  k.data = key.d;
  k.size = 32;
  g_assert_cmpint (gnutls_x509_privkey_init (&pk), ==, 0);
  g_assert_cmpint (gnutls_x509_privkey_import_ecc_raw (pk, GNUTLS_ECC_CURVE_SECP256R1, &x, &y, &k),
                   ==, 0);
  der = make_cert (pk, GNUTLS_DIG_SHA256, &der_len);
  gnutls_x509_privkey_deinit (pk);
  g_assert_cmpint (sc_x509_p256_pubkey (der, der_len, pub), ==, 0);
  g_assert_cmpmem (pub, sizeof pub, key.pub, sizeof key.pub);

  /* The outer length in a padded long form (0x83 00 hi lo where 0x82 hi lo
   * is the DER form): BER, not DER, so refused. */
  {
    g_autofree guint8 *padded = g_malloc (der_len + 1);

    g_assert_cmpuint (der[1], ==, 0x82);
    padded[0] = 0x30;
    padded[1] = 0x83;
    padded[2] = 0x00;
    memcpy (padded + 3, der + 2, der_len - 2);
    g_assert_cmpint (sc_x509_p256_pubkey (padded, der_len + 1, pub), ==, SC_CRYPTO_EENCODING);
  }

  /* Truncated or garbled DER. */
  memset (pub, 0x11, sizeof pub);
  g_assert_cmpint (sc_x509_p256_pubkey (der, der_len / 2, pub), ==, SC_CRYPTO_EENCODING);
  g_assert_true (all_zero (pub, sizeof pub));
  der[0] = 0x31;
  g_assert_cmpint (sc_x509_p256_pubkey (der, der_len, pub), ==, SC_CRYPTO_EENCODING);
  g_assert_cmpint (sc_x509_p256_pubkey (NULL, 0, pub), ==, SC_CRYPTO_EENCODING);
  g_free (der);

  /* Other key types: P-384 and Ed25519. */
  g_assert_cmpint (gnutls_x509_privkey_init (&pk), ==, 0);
  g_assert_cmpint (gnutls_x509_privkey_generate (
                       pk, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP384R1), 0),
                   ==, 0);
  der = make_cert (pk, GNUTLS_DIG_SHA384, &der_len);
  gnutls_x509_privkey_deinit (pk);
  g_assert_cmpint (sc_x509_p256_pubkey (der, der_len, pub), ==, SC_CRYPTO_EPOINT);
  g_free (der);

  g_assert_cmpint (gnutls_x509_privkey_init (&pk), ==, 0);
  g_assert_cmpint (gnutls_x509_privkey_generate (pk, GNUTLS_PK_EDDSA_ED25519, 0, 0), ==, 0);
  der = make_cert (pk, GNUTLS_DIG_SHA512, &der_len);
  gnutls_x509_privkey_deinit (pk);
  g_assert_cmpint (sc_x509_p256_pubkey (der, der_len, pub), ==, SC_CRYPTO_EPOINT);
  g_assert_true (all_zero (pub, sizeof pub));
  g_free (der);

  sc_p256_key_clear (&key);
}

/* ---------------------------------------------------------------------------
 * Memory, comparison, randomness
 * ------------------------------------------------------------------------ */

static void
test_secure_alloc (void)
{
  static const gsize sizes[] = { 0, 1, 31, 4096, 5000, 70000 };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      gsize n = sizes[i];
      guint8 *p = sc_secure_alloc (n);

      g_assert_nonnull (p);
      g_assert_true (all_zero (p, n));
      memset (p, 0xa5, n);
      sc_secure_free (p, n);
    }
  sc_secure_free (NULL, 10);
  g_test_message ("secure memory locked: %s", sc_secure_locked_ok () ? "yes" : "no");
}

static void
test_memzero_memeq (void)
{
  guint8 a[64], b[64];

  memset (a, 0x5c, sizeof a);
  sc_memzero (a, sizeof a);
  g_assert_true (all_zero (a, sizeof a));
  sc_memzero (NULL, 0);

  memset (a, 0x42, sizeof a);
  memcpy (b, a, sizeof b);
  g_assert_true (sc_memeq_ct (a, b, sizeof a));
  g_assert_true (sc_memeq_ct (a, b, 0));
  b[0] ^= 0x01;
  g_assert_false (sc_memeq_ct (a, b, sizeof a));
  g_assert_true (sc_memeq_ct (a + 1, b + 1, sizeof a - 1));
  b[0] ^= 0x01;
  b[63] ^= 0x80;
  g_assert_false (sc_memeq_ct (a, b, sizeof a));
  g_assert_true (sc_memeq_ct (a, b, sizeof a - 1));
}

static void
test_random (void)
{
  guint8 a[32], b[32];

  memset (a, 0, sizeof a);
  memset (b, 0, sizeof b);
  g_assert_cmpint (sc_random_bytes (a, sizeof a), ==, 0);
  g_assert_cmpint (sc_random_system (NULL, b, sizeof b), ==, 0);
  g_assert_false (all_zero (a, sizeof a));
  g_assert_true (memcmp (a, b, sizeof a) != 0);
  g_assert_cmpint (sc_random_bytes (NULL, 0), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/sha256", test_sha256);
  g_test_add_func ("/crypto/hmac/rfc4231", test_hmac_rfc4231);
  g_test_add_func ("/crypto/hkdf/rfc5869", test_hkdf_rfc5869);
  g_test_add_func ("/crypto/aead/vectors", test_aead_vectors);
  g_test_add_func ("/crypto/aead/roundtrip", test_aead_roundtrip);
  g_test_add_func ("/crypto/p256/key-from-scalar", test_p256_key_from_scalar);
  g_test_add_func ("/crypto/p256/point-check", test_p256_point_check);
  g_test_add_func ("/crypto/p256/ecdh", test_p256_ecdh);
  g_test_add_func ("/crypto/p256/ecdsa", test_p256_ecdsa);
  g_test_add_func ("/crypto/p256/ecdsa-rng", test_p256_ecdsa_rng);
  g_test_add_func ("/crypto/p256/keygen-deterministic", test_p256_keygen_deterministic);
  g_test_add_func ("/crypto/p256/spki", test_p256_spki);
  g_test_add_func ("/crypto/p256/der", test_p256_der);
  g_test_add_func ("/crypto/p256/der-strict", test_p256_der_strict);
  g_test_add_func ("/crypto/x509", test_x509);
  g_test_add_func ("/crypto/secmem", test_secure_alloc);
  g_test_add_func ("/crypto/memzero-memeq", test_memzero_memeq);
  g_test_add_func ("/crypto/random", test_random);

  return g_test_run ();
}
