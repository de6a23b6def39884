/* test-wycheproof.c: runs the sc-crypto module against Project Wycheproof vectors.
 *
 * The JSON files are read from $SC_WYCHEPROOF_DIR (set by tests/meson.build);
 * they are never copied into the tree. When a file is missing the test is
 * skipped, unless SC_REQUIRE_WYCHEPROOF=1, in which case it fails.
 *
 * Policy: "valid" vectors must succeed with exactly the stated output;
 * "invalid" ones must be rejected; "acceptable" ones must be rejected too,
 * because our encodings are strict (compressed points, odd ASN.1).
 *
 * Every failing vector is reported with its tcId, flags and comment, and the
 * run goes on so that one pass lists all of them.
 *
 * AES-256-GCM runs through both of sc-crypto's implementations: nettle's, and
 * GnuTLS's once sc_aead_enable_bulk ran (for messages of SC_AEAD_BULK_MIN bytes
 * or more), each in place and with separate buffers. This program defines
 * gnutls_aead_cipher_encrypt/decrypt itself (see "Which implementation ran"),
 * so that each case asserts which implementation it went through.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-crypto.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <gnutls/crypto.h>
#include <json-glib/json-glib.h>

/* Outcome counts for one file. */
typedef struct
{
  const char *name;           /* short name used in messages, e.g. "aes_gcm" */
  guint valid_ok;             /* valid: accepted with the expected output */
  guint invalid_rejected;     /* invalid: rejected */
  guint acceptable_rejected;  /* acceptable: rejected (our strict policy) */
  guint filtered;             /* not for us (other key or IV sizes) */
  guint library_false_reject; /* valid, rejected by a documented library limit */
  guint failures;             /* vectors that broke the policy */
  gconstpointer data;         /* the test case's parameters, for its VectorFunc */
} Tally;

typedef void (*VectorFunc) (JsonObject *group, JsonObject *test, Tally *tally);

/* ---------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* "tcId 12 flags [A, B] (comment)" for failure messages; g_free it. */
static char *
describe (JsonObject *test)
{
  GString *s = g_string_new (NULL);
  JsonNode *flags = json_object_get_member (test, "flags");
  guint i;

  g_string_append_printf (s, "tcId %" G_GINT64_FORMAT " flags [",
                          json_object_get_int_member_with_default (test, "tcId", -1));
  if (flags != NULL && JSON_NODE_HOLDS_ARRAY (flags))
    {
      JsonArray *arr = json_node_get_array (flags);

      for (i = 0; i < json_array_get_length (arr); i++)
        g_string_append_printf (s, "%s%s", i > 0 ? ", " : "",
                                json_array_get_string_element (arr, i));
    }
  g_string_append_printf (s, "] (%s)",
                          json_object_get_string_member_with_default (test, "comment", ""));
  return g_string_free (s, FALSE);
}

/* Reports one vector that broke the policy and keeps going. */
static void G_GNUC_PRINTF (3, 4) vector_fail (Tally *tally, JsonObject *test, const char *fmt, ...)
{
  g_autofree char *desc = describe (test);
  g_autofree char *why = NULL;
  va_list ap;

  va_start (ap, fmt);
  why = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  tally->failures++;
  g_test_message ("FAIL wycheproof %s %s: %s", tally->name, desc, why);
  g_test_fail ();
}

/* nettle 3.8's ecdsa_verify does not handle u1 G == u2 Y (its
 * ecc-ecdsa-verify.c says so) and rejects the one valid Wycheproof vector
 * built for it (tcId 427, flag PointDuplication). A false reject, never a
 * false accept: we report it by id rather than patch the library. Any other
 * valid vector that is rejected is a failure. */
static gboolean
known_library_false_reject (const Tally *tally, JsonObject *test)
{
  return g_str_equal (tally->name, "ecdsa_p256_sha256")
         && json_object_get_int_member_with_default (test, "tcId", -1) == 427;
}

/* Records the outcome of one vector. rc is 0 when our code accepted it;
 * output_ok says whether the output matched (only looked at for valid
 * vectors); step names the call that decided rc. */
static void
record (Tally *tally, JsonObject *test, int rc, gboolean output_ok, const char *step)
{
  const char *result = json_object_get_string_member_with_default (test, "result", "");

  if (g_str_equal (result, "valid") && rc == 0 && output_ok)
    tally->valid_ok++;
  else if (g_str_equal (result, "invalid") && rc != 0)
    tally->invalid_rejected++;
  else if (g_str_equal (result, "acceptable") && rc != 0)
    tally->acceptable_rejected++;
  else if (g_str_equal (result, "valid") && rc == 0)
    vector_fail (tally, test, "valid vector gave the wrong output (%s)", step);
  else if (g_str_equal (result, "valid") && known_library_false_reject (tally, test))
    tally->library_false_reject++;
  else if (g_str_equal (result, "valid"))
    vector_fail (tally, test, "valid vector rejected by %s with %d", step, rc);
  else
    vector_fail (tally, test, "%s vector accepted (%s); the policy is to reject it", result, step);
}

/* Decodes the hex string member of obj; a missing member or bad hex fails
 * the test. The buffer always has at least one byte; g_free it. */
static guint8 *
get_hex (JsonObject *obj, const char *member, gsize *len)
{
  const char *hex = json_object_get_string_member_with_default (obj, member, NULL);
  gsize n, i;
  guint8 *buf;

  g_assert_nonnull (hex);
  n = strlen (hex);
  g_assert_cmpuint (n % 2, ==, 0);
  buf = g_malloc0 (n / 2 + 1);
  for (i = 0; i < n / 2; i++)
    {
      int hi = g_ascii_xdigit_value (hex[2 * i]);
      int lo = g_ascii_xdigit_value (hex[2 * i + 1]);

      g_assert_true (hi >= 0 && lo >= 0);
      buf[i] = (guint8) (hi << 4 | lo);
    }
  *len = n / 2;
  return buf;
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

static gboolean
bytes_equal (const guint8 *a, gsize a_len, const guint8 *b, gsize b_len)
{
  return a_len == b_len && memcmp (a, b, a_len) == 0;
}

/* Marks the test skipped, or failed under SC_REQUIRE_WYCHEPROOF=1. */
static void
vectors_missing (const char *where, const char *why)
{
  if (g_strcmp0 (g_getenv ("SC_REQUIRE_WYCHEPROOF"), "1") == 0)
    g_test_fail_printf ("Wycheproof vectors not found at %s: %s (SC_REQUIRE_WYCHEPROOF=1)", where,
                        why);
  else
    g_test_skip_printf ("Wycheproof vectors not found at %s: %s", where, why);
}

/* Loads and parses one vector file; NULL once the test is skipped/failed. */
static JsonParser *
load_vectors (const char *file)
{
  const char *dir = g_getenv ("SC_WYCHEPROOF_DIR");
  g_autofree char *path = NULL;
  g_autoptr (GError) error = NULL;
  JsonParser *parser;

  if (dir == NULL || *dir == '\0')
    {
      vectors_missing ("$SC_WYCHEPROOF_DIR", "the variable is not set");
      return NULL;
    }
  path = g_build_filename (dir, file, NULL);
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_autofree char *why = g_strdup_printf ("%s is missing", file);

      vectors_missing (dir, why);
      return NULL;
    }
  parser = json_parser_new ();
  if (!json_parser_load_from_file (parser, path, &error))
    {
      g_test_fail_printf ("cannot parse %s: %s", path, error->message);
      g_object_unref (parser);
      return NULL;
    }
  return parser;
}

/* Prints the per-file counts: a TAP comment on stdout, and a fuller line
 * through g_test_message. */
static void
report (const Tally *t, const char *file)
{
  printf ("# wycheproof %s: %u valid ok, %u invalid rejected, %u acceptable rejected, "
          "%u valid rejected by a documented library limit\n",
          t->name, t->valid_ok, t->invalid_rejected, t->acceptable_rejected,
          t->library_false_reject);
  fflush (stdout);
  g_test_message ("%s: %u vectors passed (%u valid ok, %u invalid rejected, "
                  "%u acceptable rejected), %u failed, %u filtered out",
                  file, t->valid_ok + t->invalid_rejected + t->acceptable_rejected, t->valid_ok,
                  t->invalid_rejected, t->acceptable_rejected, t->failures, t->filtered);
}

/* Runs func on every test of every group of file; data goes to func in
 * tally->data. FALSE when the file could not be read (the test is then
 * skipped or failed). */
static gboolean
run_file (const char *file, const char *name, VectorFunc func, gconstpointer data)
{
  JsonParser *parser = load_vectors (file);
  Tally tally = { .name = name, .data = data };
  JsonObject *root;
  JsonArray *groups;
  guint g, i;

  if (parser == NULL)
    return FALSE;
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  root = json_node_get_object (json_parser_get_root (parser));
  groups = json_object_get_array_member (root, "testGroups");
  for (g = 0; g < json_array_get_length (groups); g++)
    {
      JsonObject *group = json_array_get_object_element (groups, g);
      JsonArray *tests = json_object_get_array_member (group, "tests");

      for (i = 0; i < json_array_get_length (tests); i++)
        func (group, json_array_get_object_element (tests, i), &tally);
    }
  report (&tally, file);
  if (tally.failures > 0)
    g_test_fail_printf ("%s: %u vector(s) failed, see the messages above", file, tally.failures);
  else if (tally.valid_ok == 0 || tally.invalid_rejected == 0)
    g_test_fail_printf ("%s: no valid or no invalid vector was run", file);
  g_object_unref (parser);
  return TRUE;
}

/* ---------------------------------------------------------------------------
 * Which implementation ran
 *
 * sc-crypto is a static library linked into this program, so its calls to
 * gnutls_aead_cipher_encrypt/decrypt bind to the definitions below, which
 * count them and forward to GnuTLS's own (the next definition, RTLD_NEXT).
 * Without this a context that went on through nettle (sc_aead_seal falls
 * back to nettle when GnuTLS fails) would pass every comparison: both
 * implementations compute the same function.
 * ------------------------------------------------------------------------ */

static guint gnutls_seals; /* gnutls_aead_cipher_encrypt calls that succeeded */
static guint gnutls_opens; /* gnutls_aead_cipher_decrypt calls, whatever the result */

static void *
next_symbol (const char *name)
{
  void *sym = dlsym (RTLD_NEXT, name);

  if (sym == NULL)
    g_error ("dlsym (RTLD_NEXT, %s): %s", name, dlerror ());
  return sym;
}

int
gnutls_aead_cipher_encrypt (gnutls_aead_cipher_hd_t handle, const void *nonce, size_t nonce_len,
                            const void *auth, size_t auth_len, size_t tag_size, const void *ptext,
                            size_t ptext_len, void *ctext, size_t *ctext_len)
{
  static __typeof__ (gnutls_aead_cipher_encrypt) *real;
  int ret;

  if (real == NULL)
    real = (__typeof__ (real)) next_symbol ("gnutls_aead_cipher_encrypt");
  ret = real (handle, nonce, nonce_len, auth, auth_len, tag_size, ptext, ptext_len, ctext,
              ctext_len);
  if (ret == 0)
    gnutls_seals++;
  return ret;
}

int
gnutls_aead_cipher_decrypt (gnutls_aead_cipher_hd_t handle, const void *nonce, size_t nonce_len,
                            const void *auth, size_t auth_len, size_t tag_size, const void *ctext,
                            size_t ctext_len, void *ptext, size_t *ptext_len)
{
  static __typeof__ (gnutls_aead_cipher_decrypt) *real;

  if (real == NULL)
    real = (__typeof__ (real)) next_symbol ("gnutls_aead_cipher_decrypt");
  gnutls_opens++;
  return real (handle, nonce, nonce_len, auth, auth_len, tag_size, ctext, ctext_len, ptext,
               ptext_len);
}

/* ---------------------------------------------------------------------------
 * AES-256-GCM: seal must give ct || tag; open must succeed or fail per result
 *
 * Each vector runs through four contexts: nettle's and GnuTLS's ("bulk",
 * sc_aead_enable_bulk), each with separate buffers and in place (out == in
 * for sealing and for opening). SC_AEAD_BULK_MIN is a compile-time constant
 * (256): a bulk context hands only messages of 256 bytes or more to GnuTLS,
 * and each vector asserts which implementation ran. In the current
 * aes_gcm_test.json only five AES-256 vectors (valid ones, 256 to 513 bytes)
 * are that long and every invalid one is shorter, so GnuTLS rejecting bad
 * tags, ciphertexts and AAD is proven by the /aead-bulk/ cases below.
 * ------------------------------------------------------------------------ */

typedef struct
{
  const char *name; /* tally name */
  gboolean bulk;    /* sc_aead_enable_bulk ran on the context */
  gboolean in_place;
} AeadMode;

static const AeadMode aead_modes[] = {
  { "aes_gcm", FALSE, FALSE },
  { "aes_gcm_in_place", FALSE, TRUE },
  { "aes_gcm_gnutls_bulk", TRUE, FALSE },
  { "aes_gcm_gnutls_bulk_in_place", TRUE, TRUE },
};

/* A context keyed with key, through GnuTLS for long messages when bulk. */
static ScAead *
aead_new (const guint8 key[SC_AES256_GCM_KEY_LEN], gboolean bulk)
{
  ScAead *aead = sc_secure_alloc (sizeof *aead);

  g_assert_nonnull (aead);
  sc_aead_set_key (aead, key);
  if (bulk)
    g_assert_cmpint (sc_aead_enable_bulk (aead), ==, 0);
  return aead;
}

static void
aead_free (ScAead *aead)
{
  sc_aead_clear (aead);
  sc_secure_free (aead, sizeof *aead);
}

/* Seals pt into a new buffer of pt_len + 16 bytes, in place or not. */
static guint8 *
aead_seal_new (const ScAead *aead, const guint8 *nonce, const guint8 *aad, gsize aad_len,
               const guint8 *pt, gsize pt_len, gboolean in_place)
{
  guint8 *out = g_malloc (pt_len + SC_AES256_GCM_TAG_LEN);

  if (in_place)
    {
      memcpy (out, pt, pt_len);
      sc_aead_seal (aead, nonce, aad, aad_len, out, pt_len, out);
    }
  else
    sc_aead_seal (aead, nonce, aad, aad_len, pt, pt_len, out);
  return out;
}

/* Opens ct (ct_len >= 16) into *out, a new buffer: the plaintext, or zeros on
 * failure. In place, *out is a copy of ct opened onto itself; otherwise it
 * starts as 0x5a bytes, so that "zeroed" is seen to be written. */
static int
aead_open_new (const ScAead *aead, const guint8 *nonce, const guint8 *aad, gsize aad_len,
               const guint8 *ct, gsize ct_len, gboolean in_place, guint8 **out)
{
  gsize pt_len = ct_len - SC_AES256_GCM_TAG_LEN;

  if (in_place)
    {
      *out = g_memdup2 (ct, ct_len);
      return sc_aead_open (aead, nonce, aad, aad_len, *out, ct_len, *out);
    }
  *out = g_malloc (pt_len > 0 ? pt_len : 1);
  memset (*out, 0x5a, pt_len);
  return sc_aead_open (aead, nonce, aad, aad_len, ct, ct_len, *out);
}

/* Whether a context in mode hands a message of len bytes to GnuTLS. */
static guint
gnutls_expected (gboolean bulk, gsize len)
{
  return bulk && len >= SC_AEAD_BULK_MIN ? 1 : 0;
}

static void
check_aes_gcm (JsonObject *group, JsonObject *test, Tally *tally)
{
  const AeadMode *mode = tally->data;
  gsize key_len, iv_len, aad_len, msg_len, ct_len, tag_len;
  g_autofree guint8 *key = NULL, *iv = NULL, *aad = NULL, *msg = NULL;
  g_autofree guint8 *ct = NULL, *tag = NULL, *wire = NULL, *sealed = NULL, *out = NULL;
  guint seals = gnutls_seals, opens = gnutls_opens;
  ScAead *aead;
  gboolean seal_ok;
  int rc;

  if (json_object_get_int_member_with_default (group, "keySize", 0) != 256
      || json_object_get_int_member_with_default (group, "ivSize", 0) != 96
      || json_object_get_int_member_with_default (group, "tagSize", 0) != 128)
    {
      tally->filtered++;
      return;
    }
  key = get_hex (test, "key", &key_len);
  iv = get_hex (test, "iv", &iv_len);
  aad = get_hex (test, "aad", &aad_len);
  msg = get_hex (test, "msg", &msg_len);
  ct = get_hex (test, "ct", &ct_len);
  tag = get_hex (test, "tag", &tag_len);
  g_assert_cmpuint (key_len, ==, SC_AES256_GCM_KEY_LEN);
  g_assert_cmpuint (iv_len, ==, SC_AES256_GCM_NONCE_LEN);
  g_assert_cmpuint (tag_len, ==, SC_AES256_GCM_TAG_LEN);

  wire = g_malloc (ct_len + tag_len);
  memcpy (wire, ct, ct_len);
  memcpy (wire + ct_len, tag, tag_len);

  aead = aead_new (key, mode->bulk);
  sealed = aead_seal_new (aead, iv, aad, aad_len, msg, msg_len, mode->in_place);
  seal_ok = bytes_equal (sealed, msg_len + SC_AES256_GCM_TAG_LEN, wire, ct_len + tag_len);
  rc = aead_open_new (aead, iv, aad, aad_len, wire, ct_len + tag_len, mode->in_place, &out);
  aead_free (aead);

  if (gnutls_seals - seals != gnutls_expected (mode->bulk, msg_len))
    vector_fail (tally, test, "%u-byte message sealed through %s", (guint) msg_len,
                 gnutls_seals != seals ? "GnuTLS" : "nettle");
  if (gnutls_opens - opens != gnutls_expected (mode->bulk, ct_len))
    vector_fail (tally, test, "%u-byte message opened through %s", (guint) ct_len,
                 gnutls_opens != opens ? "GnuTLS" : "nettle");
  if (rc != 0 && rc != SC_CRYPTO_EVERIFY)
    vector_fail (tally, test, "rejected with %d, not SC_CRYPTO_EVERIFY", rc);
  if (rc != 0 && !all_zero (out, ct_len))
    vector_fail (tally, test, "rejected but the output was not zeroed");
  if (rc == 0 && !seal_ok)
    record (tally, test, rc, FALSE, "seal");
  else
    record (tally, test, rc, bytes_equal (out, ct_len, msg, msg_len), "open");
}

static void
test_aes_gcm (gconstpointer data)
{
  const AeadMode *mode = data;
  guint opens = gnutls_opens;

  if (!run_file ("aes_gcm_test.json", mode->name, check_aes_gcm, mode))
    return;
  printf ("# wycheproof %s: %u vectors opened through GnuTLS\n", mode->name, gnutls_opens - opens);
  if (mode->bulk)
    g_assert_cmpuint (gnutls_opens - opens, >, 0);
  else
    g_assert_cmpuint (gnutls_opens - opens, ==, 0);
}

/* ---------------------------------------------------------------------------
 * AES-256-GCM, GnuTLS (bulk) against nettle around the threshold and beyond:
 * random key, nonce, AAD and plaintext for each length, GLib's test seed
 * (reported in the TAP header; --seed replays it).
 * ------------------------------------------------------------------------ */

static const gsize cross_lengths[] = { 0, 1, 255, 256, 257, 1000, 16384, 65536 + 13 };

typedef struct
{
  guint8 key[SC_AES256_GCM_KEY_LEN];
  guint8 nonce[SC_AES256_GCM_NONCE_LEN];
  guint8 *aad; /* 1 to 48 bytes: there is always one to flip */
  gsize aad_len;
  guint8 *pt;
  gsize len;
  ScAead *nettle, *bulk;
} Cross;

static void
random_fill (guint8 *p, gsize len)
{
  for (gsize i = 0; i < len; i++)
    p[i] = (guint8) g_test_rand_int_range (0, 256);
}

static void
cross_init (Cross *c, gsize len)
{
  random_fill (c->key, sizeof c->key);
  random_fill (c->nonce, sizeof c->nonce);
  c->aad_len = (gsize) g_test_rand_int_range (1, 49);
  c->aad = g_malloc (c->aad_len);
  random_fill (c->aad, c->aad_len);
  c->len = len;
  c->pt = g_malloc (len > 0 ? len : 1);
  random_fill (c->pt, len);
  c->nettle = aead_new (c->key, FALSE);
  c->bulk = aead_new (c->key, TRUE);
}

static void
cross_clear (Cross *c)
{
  aead_free (c->nettle);
  aead_free (c->bulk);
  g_free (c->aad);
  g_free (c->pt);
}

/* Seals c's plaintext with aead, asserting how many GnuTLS seals it took. */
static guint8 *
cross_seal (const Cross *c, const ScAead *aead, gboolean in_place, guint gnutls_calls)
{
  guint seals = gnutls_seals;
  guint8 *out = aead_seal_new (aead, c->nonce, c->aad, c->aad_len, c->pt, c->len, in_place);

  g_assert_cmpuint (gnutls_seals - seals, ==, gnutls_calls);
  return out;
}

/* Opens ct (c->len + 16 bytes) with aead; asserts the result, how many GnuTLS
 * opens it took, and the output: c's plaintext, or zeros on failure. */
static void
cross_open (const Cross *c, const ScAead *aead, const guint8 *nonce, const guint8 *aad,
            const guint8 *ct, gboolean in_place, int want_rc, guint gnutls_calls)
{
  guint opens = gnutls_opens;
  g_autofree guint8 *out = NULL;
  int rc = aead_open_new (aead, nonce, aad, c->aad_len, ct, c->len + SC_AES256_GCM_TAG_LEN,
                          in_place, &out);

  g_assert_cmpint (rc, ==, want_rc);
  g_assert_cmpuint (gnutls_opens - opens, ==, gnutls_calls);
  if (rc == 0)
    g_assert_cmpmem (out, c->len, c->pt, c->len);
  else
    g_assert_true (all_zero (out, c->len));
}

/* Bulk and nettle contexts give the same ciphertext and tag, in place or
 * not; from SC_AEAD_BULK_MIN bytes the bulk one sealed through GnuTLS. */
static void
test_bulk_seals_as_nettle (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cross_lengths); i++)
    {
      Cross c;
      gsize n = cross_lengths[i] + SC_AES256_GCM_TAG_LEN;
      guint via = gnutls_expected (TRUE, cross_lengths[i]);
      g_autofree guint8 *by_nettle = NULL, *by_nettle_in_place = NULL;
      g_autofree guint8 *by_bulk = NULL, *by_bulk_in_place = NULL;

      cross_init (&c, cross_lengths[i]);
      by_nettle = cross_seal (&c, c.nettle, FALSE, 0);
      by_nettle_in_place = cross_seal (&c, c.nettle, TRUE, 0);
      by_bulk = cross_seal (&c, c.bulk, FALSE, via);
      by_bulk_in_place = cross_seal (&c, c.bulk, TRUE, via);
      g_assert_cmpmem (by_bulk, n, by_nettle, n);
      g_assert_cmpmem (by_bulk_in_place, n, by_nettle, n);
      g_assert_cmpmem (by_nettle_in_place, n, by_nettle, n);
      cross_clear (&c);
    }
}

/* Each context opens what the other sealed, in place or not. */
static void
test_bulk_and_nettle_open_each_other (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cross_lengths); i++)
    {
      Cross c;
      guint via = gnutls_expected (TRUE, cross_lengths[i]);
      g_autofree guint8 *by_nettle = NULL, *by_bulk = NULL;

      cross_init (&c, cross_lengths[i]);
      by_nettle = cross_seal (&c, c.nettle, FALSE, 0);
      by_bulk = cross_seal (&c, c.bulk, FALSE, via);
      for (int in_place = 0; in_place <= 1; in_place++)
        {
          cross_open (&c, c.bulk, c.nonce, c.aad, by_nettle, in_place, 0, via);
          cross_open (&c, c.nettle, c.nonce, c.aad, by_bulk, in_place, 0, 0);
        }
      cross_clear (&c);
    }
}

/* Where cross_flip flips a bit. */
typedef enum
{
  FLIP_CIPHERTEXT_OR_TAG,
  FLIP_AAD,
  FLIP_NONCE,
} FlipWhere;

/* Opens c's sealed message with one bit flipped at byte pos of where, with
 * both contexts, in place and not: each must fail with SC_CRYPTO_EVERIFY
 * and a zeroed output, the bulk one through GnuTLS from the threshold. */
static void
cross_flip (const Cross *c, guint8 *sealed, FlipWhere where, gsize pos)
{
  guint8 nonce[SC_AES256_GCM_NONCE_LEN];
  g_autofree guint8 *aad = g_memdup2 (c->aad, c->aad_len);
  guint8 *target = where == FLIP_AAD ? aad : where == FLIP_NONCE ? nonce : sealed;
  guint8 bit = (guint8) (1u << g_test_rand_int_range (0, 8));
  guint via = gnutls_expected (TRUE, c->len);

  memcpy (nonce, c->nonce, sizeof nonce);
  target[pos] ^= bit;
  for (int in_place = 0; in_place <= 1; in_place++)
    {
      cross_open (c, c->nettle, nonce, aad, sealed, in_place, SC_CRYPTO_EVERIFY, 0);
      cross_open (c, c->bulk, nonce, aad, sealed, in_place, SC_CRYPTO_EVERIFY, via);
    }
  if (where == FLIP_CIPHERTEXT_OR_TAG)
    sealed[pos] ^= bit; /* back as sealed */
}

/* Every byte of short messages; on long ones the block edges, the middle, the
 * last block and random bytes of the ciphertext. The tag, AAD and nonce are
 * short: each of their bytes. */
static void
test_bulk_and_nettle_reject_flipped_bit (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cross_lengths); i++)
    {
      Cross c;
      g_autofree guint8 *sealed = NULL;
      gsize len = cross_lengths[i];

      cross_init (&c, len);
      sealed = cross_seal (&c, c.nettle, FALSE, 0);
      if (len <= 1000)
        for (gsize pos = 0; pos < len; pos++)
          cross_flip (&c, sealed, FLIP_CIPHERTEXT_OR_TAG, pos);
      else
        {
          const gsize edges[] = { 0, 1, 15, 16, 17, len / 2, len - 17, len - 16, len - 1 };

          for (gsize k = 0; k < G_N_ELEMENTS (edges); k++)
            cross_flip (&c, sealed, FLIP_CIPHERTEXT_OR_TAG, edges[k]);
          for (int k = 0; k < 16; k++)
            cross_flip (&c, sealed, FLIP_CIPHERTEXT_OR_TAG,
                        (gsize) g_test_rand_int_range (0, (gint32) len));
        }
      for (gsize pos = len; pos < len + SC_AES256_GCM_TAG_LEN; pos++)
        cross_flip (&c, sealed, FLIP_CIPHERTEXT_OR_TAG, pos);
      for (gsize pos = 0; pos < c.aad_len; pos++)
        cross_flip (&c, sealed, FLIP_AAD, pos);
      for (gsize pos = 0; pos < SC_AES256_GCM_NONCE_LEN; pos++)
        cross_flip (&c, sealed, FLIP_NONCE, pos);
      /* and unflipped, it still opens: the flips were the only cause */
      cross_open (&c, c.bulk, c.nonce, c.aad, sealed, FALSE, 0, gnutls_expected (TRUE, len));
      cross_clear (&c);
    }
}

/* ---------------------------------------------------------------------------
 * ECDH P-256
 * ------------------------------------------------------------------------ */

/* Loads the BigInt "private" member as a key. Wycheproof scalars may carry a
 * leading 00 (two's complement) or be shorter than 32 bytes. Every private
 * key in these files is in [1, n-1], so a refusal is a failure. */
static gboolean
load_private (JsonObject *test, Tally *tally, ScP256Key *key)
{
  gsize len, off = 0;
  g_autofree guint8 *raw = get_hex (test, "private", &len);
  guint8 d[SC_P256_SCALAR_LEN];
  int rc;

  while (len - off > SC_P256_SCALAR_LEN && raw[off] == 0)
    off++;
  if (len - off > SC_P256_SCALAR_LEN)
    {
      vector_fail (tally, test, "private key longer than 32 bytes");
      return FALSE;
    }
  memset (d, 0, sizeof d);
  memcpy (d + sizeof d - (len - off), raw + off, len - off);
  rc = sc_p256_key_from_scalar (key, d);
  sc_memzero (d, sizeof d);
  if (rc != 0)
    vector_fail (tally, test, "sc_p256_key_from_scalar refused the private key: %d", rc);
  return rc == 0;
}

/* Runs ECDH with the given peer point (or with decode_rc != 0, records the
 * rejection by the decoder). */
static void
ecdh_and_record (JsonObject *test, Tally *tally, const guint8 *peer, gsize peer_len, int decode_rc,
                 const char *decode_step)
{
  ScP256Key key;
  guint8 shared[SC_P256_SHARED_LEN];
  gsize want_len;
  g_autofree guint8 *want = get_hex (test, "shared", &want_len);
  int rc;

  if (!load_private (test, tally, &key))
    return;
  if (decode_rc != 0)
    {
      sc_p256_key_clear (&key);
      record (tally, test, decode_rc, FALSE, decode_step);
      return;
    }
  memset (shared, 0x5a, sizeof shared);
  rc = sc_p256_ecdh (&key, peer, peer_len, shared);
  sc_p256_key_clear (&key);
  if (rc != 0 && !all_zero (shared, sizeof shared))
    vector_fail (tally, test, "rejected but the shared secret was not zeroed");
  record (tally, test, rc, bytes_equal (shared, sizeof shared, want, want_len), "ecdh");
}

/* Peer key as a raw SEC1 point. */
static void
check_ecdh_ecpoint (JsonObject *group, JsonObject *test, Tally *tally)
{
  gsize pub_len;
  g_autofree guint8 *pub = get_hex (test, "public", &pub_len);

  ecdh_and_record (test, tally, pub, pub_len, 0, NULL);
}

static void
test_ecdh_ecpoint (void)
{
  run_file ("ecdh_secp256r1_ecpoint_test.json", "ecdh_ecpoint", check_ecdh_ecpoint, NULL);
}

/* Peer key as a DER SubjectPublicKeyInfo, through sc_p256_spki_decode. */
static void
check_ecdh_spki (JsonObject *group, JsonObject *test, Tally *tally)
{
  gsize spki_len;
  g_autofree guint8 *spki = get_hex (test, "public", &spki_len);
  guint8 pub[SC_P256_POINT_LEN];
  int rc;

  rc = sc_p256_spki_decode (spki, spki_len, pub);
  if (rc != 0 && !all_zero (pub, sizeof pub))
    vector_fail (tally, test, "SPKI rejected but the output was not zeroed");
  ecdh_and_record (test, tally, pub, sizeof pub, rc, "spki_decode");
}

static void
test_ecdh_spki (void)
{
  run_file ("ecdh_secp256r1_test.json", "ecdh_spki", check_ecdh_spki, NULL);
}

/* ---------------------------------------------------------------------------
 * ECDSA P-256 / SHA-256 with DER signatures
 * ------------------------------------------------------------------------ */

static void
check_ecdsa (JsonObject *group, JsonObject *test, Tally *tally)
{
  JsonObject *pk = json_object_get_object_member (group, "publicKey");
  gsize pub_len, msg_len, der_len;
  g_autofree guint8 *pub = get_hex (pk, "uncompressed", &pub_len);
  g_autofree guint8 *msg = get_hex (test, "msg", &msg_len);
  g_autofree guint8 *der = get_hex (test, "sig", &der_len);
  guint8 sig[SC_P256_SIG_LEN];
  int rc;

  g_assert_cmpuint (pub_len, ==, SC_P256_POINT_LEN);
  memset (sig, 0x5a, sizeof sig);
  rc = sc_p256_sig_from_der (der, der_len, sig);
  if (rc != 0)
    {
      if (!all_zero (sig, sizeof sig))
        vector_fail (tally, test, "DER rejected but the output was not zeroed");
      record (tally, test, rc, FALSE, "sig_from_der");
      return;
    }
  rc = sc_p256_verify (pub, msg, msg_len, sig);
  record (tally, test, rc, TRUE, "verify");
}

static void
test_ecdsa (void)
{
  run_file ("ecdsa_secp256r1_sha256_test.json", "ecdsa_p256_sha256", check_ecdsa, NULL);
}

/* ---------------------------------------------------------------------------
 * HKDF-SHA256: extract then expand; oversized outputs must be refused
 * ------------------------------------------------------------------------ */

static void
check_hkdf (JsonObject *group, JsonObject *test, Tally *tally)
{
  gsize ikm_len, salt_len, info_len, okm_len;
  g_autofree guint8 *ikm = get_hex (test, "ikm", &ikm_len);
  g_autofree guint8 *salt = get_hex (test, "salt", &salt_len);
  g_autofree guint8 *info = get_hex (test, "info", &info_len);
  g_autofree guint8 *okm = get_hex (test, "okm", &okm_len);
  g_autofree guint8 *out = NULL;
  gint64 size_member = json_object_get_int_member_with_default (test, "size", -1);
  gsize size;
  guint8 prk[SC_SHA256_LEN];
  int rc;

  /* Sizes in the file are small (at most 255 * 32 + 1). */
  if (size_member < 0 || size_member > 65536)
    {
      vector_fail (tally, test, "unexpected size %" G_GINT64_FORMAT, size_member);
      return;
    }
  size = (gsize) size_member;
  out = g_malloc0 (size + 1);
  sc_hkdf_sha256_extract (salt, salt_len, ikm, ikm_len, prk);
  rc = sc_hkdf_sha256_expand (prk, info, info_len, out, size);
  sc_memzero (prk, sizeof prk);
  if (rc != 0 && !all_zero (out, size))
    vector_fail (tally, test, "expand refused but wrote output");
  record (tally, test, rc, bytes_equal (out, size, okm, okm_len), "expand");
}

static void
test_hkdf (void)
{
  run_file ("hkdf_sha256_test.json", "hkdf_sha256", check_hkdf, NULL);
}

/* ---------------------------------------------------------------------------
 * HMAC-SHA256: verify with the group's tag size, and recompute valid tags
 * ------------------------------------------------------------------------ */

static void
check_hmac (JsonObject *group, JsonObject *test, Tally *tally)
{
  gint64 tag_bits = json_object_get_int_member_with_default (group, "tagSize", -1);
  gsize key_len, msg_len, tag_len;
  g_autofree guint8 *key = get_hex (test, "key", &key_len);
  g_autofree guint8 *msg = get_hex (test, "msg", &msg_len);
  g_autofree guint8 *tag = get_hex (test, "tag", &tag_len);
  guint8 mac[SC_HMAC_SHA256_LEN];
  int rc;

  g_assert_true (tag_bits > 0 && tag_bits <= 256 && tag_bits % 8 == 0);
  if (tag_len != (gsize) tag_bits / 8)
    rc = SC_CRYPTO_EINVAL; /* a tag of the wrong size is a rejection */
  else
    rc = sc_hmac_sha256_verify (key, key_len, msg, msg_len, tag, tag_len);
  sc_hmac_sha256 (key, key_len, msg, msg_len, mac);
  record (tally, test, rc, tag_len <= sizeof mac && memcmp (mac, tag, tag_len) == 0, "verify");
}

static void
test_hmac (void)
{
  run_file ("hmac_sha256_test.json", "hmac_sha256", check_hmac, NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_data_func ("/wycheproof/aes-gcm", &aead_modes[0], test_aes_gcm);
  g_test_add_data_func ("/wycheproof/aes-gcm-in-place", &aead_modes[1], test_aes_gcm);
  g_test_add_data_func ("/wycheproof/aes-gcm-gnutls-bulk", &aead_modes[2], test_aes_gcm);
  g_test_add_data_func ("/wycheproof/aes-gcm-gnutls-bulk-in-place", &aead_modes[3], test_aes_gcm);
  g_test_add_func ("/aead-bulk/gnutls-seals-as-nettle", test_bulk_seals_as_nettle);
  g_test_add_func ("/aead-bulk/gnutls-and-nettle-open-each-other",
                   test_bulk_and_nettle_open_each_other);
  g_test_add_func ("/aead-bulk/flipped-bit-rejected-and-zeroed-by-both",
                   test_bulk_and_nettle_reject_flipped_bit);
  g_test_add_func ("/wycheproof/ecdh-ecpoint", test_ecdh_ecpoint);
  g_test_add_func ("/wycheproof/ecdh-spki", test_ecdh_spki);
  g_test_add_func ("/wycheproof/ecdsa", test_ecdsa);
  g_test_add_func ("/wycheproof/hkdf", test_hkdf);
  g_test_add_func ("/wycheproof/hmac", test_hmac);

  return g_test_run ();
}
