/* nettle-bench: what AES-256-GCM costs nettle itself on 100-byte records,
 * the floor under any message rate. One record = seal on one side and
 * open (with the tag compared in constant time) on the other, each under a
 * fresh nonce (a static IV XOR the sequence number, as TLS 1.3 and
 * SecureComm do) and a 4-byte record header as associated data.
 *
 *   nettle-bench [--size BYTES] [--seconds S]
 *
 * Prints `result records_per_s=... mb_per_s=... generic_records_per_s=...`:
 * the first through nettle's gcm_aes256_* functions, the second through the
 * generic gcm_* functions with aes256_encrypt as a callback (the way
 * src/crypto/sc-crypto.c calls them), so the two can be compared.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <nettle/gcm.h>
#include <nettle/memops.h>
#include <string.h>

#include "bench-util.h"

#define NONCE_LEN 12
#define TAG_LEN 16
#define AD_LEN 4
#define MAX_RECORD 16384

typedef struct
{
  struct gcm_aes256_ctx seal, open;
  guint8 iv[NONCE_LEN];
  guint64 seq;
  gsize size;
  guint8 *plain, *wire, *back;
} Records;

static void
nonce_for (const Records *r, guint8 nonce[NONCE_LEN])
{
  memcpy (nonce, r->iv, NONCE_LEN);
  for (int i = 0; i < 8; i++)
    nonce[NONCE_LEN - 1 - i] ^= (guint8) (r->seq >> (8 * i));
}

/* One record through gcm_aes256_*; FALSE if the tag did not verify. */
static gboolean
record_gcm_aes256 (Records *r)
{
  guint8 nonce[NONCE_LEN], ad[AD_LEN] = { 0x17, 0x01, 0, (guint8) r->size }, tag[TAG_LEN];

  nonce_for (r, nonce);
  gcm_aes256_set_iv (&r->seal, NONCE_LEN, nonce);
  gcm_aes256_update (&r->seal, AD_LEN, ad);
  gcm_aes256_encrypt (&r->seal, r->size, r->wire, r->plain);
  gcm_aes256_digest (&r->seal, TAG_LEN, r->wire + r->size);

  gcm_aes256_set_iv (&r->open, NONCE_LEN, nonce);
  gcm_aes256_update (&r->open, AD_LEN, ad);
  gcm_aes256_decrypt (&r->open, r->size, r->back, r->wire);
  gcm_aes256_digest (&r->open, TAG_LEN, tag);
  r->seq++;
  return memeql_sec (tag, r->wire + r->size, TAG_LEN);
}

static void
aes256_cb (const void *ctx, size_t len, uint8_t *dst, const uint8_t *src)
{
  aes256_encrypt (ctx, len, dst, src);
}

/* The same record through the generic gcm_* functions and a callback. */
static gboolean
record_generic (Records *r)
{
  guint8 nonce[NONCE_LEN], ad[AD_LEN] = { 0x17, 0x01, 0, (guint8) r->size }, tag[TAG_LEN];
  struct gcm_ctx st;

  nonce_for (r, nonce);
  gcm_set_iv (&st, &r->seal.key, NONCE_LEN, nonce);
  gcm_update (&st, &r->seal.key, AD_LEN, ad);
  gcm_encrypt (&st, &r->seal.key, &r->seal.cipher, aes256_cb, r->size, r->wire, r->plain);
  gcm_digest (&st, &r->seal.key, &r->seal.cipher, aes256_cb, TAG_LEN, r->wire + r->size);

  gcm_set_iv (&st, &r->open.key, NONCE_LEN, nonce);
  gcm_update (&st, &r->open.key, AD_LEN, ad);
  gcm_decrypt (&st, &r->open.key, &r->open.cipher, aes256_cb, r->size, r->back, r->wire);
  gcm_digest (&st, &r->open.key, &r->open.cipher, aes256_cb, TAG_LEN, tag);
  r->seq++;
  return memeql_sec (tag, r->wire + r->size, TAG_LEN);
}

/* Records per second of one way of doing it, over seconds. */
static double
rate (Records *r, gboolean (*record) (Records *), double seconds, gboolean *ok)
{
  gint64 start = bench_now_us (), end = start + (gint64) (seconds * 1e6), now;
  guint64 n = 0;

  do
    {
      for (int i = 0; i < 1024; i++)
        *ok &= record (r);
      n += 1024;
      now = bench_now_us ();
    }
  while (now < end);
  return n / ((now - start) / 1e6);
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  gint64 size = 100;
  double seconds = 2, fast, generic;
  gboolean ok = TRUE;
  const GOptionEntry entries[] = {
    { "size", 0, 0, G_OPTION_ARG_INT64, &size, "Record plaintext bytes", "BYTES" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "Run time of each form", "S" },
    { NULL }
  };
  guint8 key[32];
  Records r = { 0 };

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || size < 1 || size > MAX_RECORD)
    {
      g_printerr ("nettle-bench: %s\n", error ? error->message : "--size: 1 to 16384");
      return 2;
    }
  for (guint i = 0; i < sizeof key; i++)
    key[i] = (guint8) g_random_int ();
  for (guint i = 0; i < NONCE_LEN; i++)
    r.iv[i] = (guint8) g_random_int ();
  gcm_aes256_set_key (&r.seal, key);
  gcm_aes256_set_key (&r.open, key);
  r.size = (gsize) size;
  r.plain = bench_payload_new (r.size);
  r.wire = g_malloc (r.size + TAG_LEN);
  r.back = g_malloc (r.size);
  fast = rate (&r, record_gcm_aes256, seconds / 2, &ok);
  generic = rate (&r, record_generic, seconds / 2, &ok);
  ok &= memcmp (r.back, r.plain, r.size) == 0;
  bench_result ("records_per_s=%.1f mb_per_s=%.3f generic_records_per_s=%.1f verified=%d", fast,
                fast * r.size / 1e6, generic, ok);
  g_free (r.plain);
  g_free (r.wire);
  g_free (r.back);
  return ok ? 0 : 1;
}
