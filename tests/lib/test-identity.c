/* test-identity.c: encrypted key files (sc-keyfile), ScIdentity and its
 * files, and where passphrases come from.
 *
 * Foreign key files (RSA, Ed25519, P-384, unencrypted PKCS#8) are made with
 * GnuTLS in the test; fingerprints are checked against GnuTLS's own SPKI
 * export and, when the openssl program is installed, against
 * `openssl pkey -pubout -outform DER` and keys written by `openssl genpkey`.
 * Every test works in its own temporary directory.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "sc-error.h"
#include "sc-identity-private.h"
#include "sc-keyfile.h"

#define PASS "correct horse battery staple"
#define PEM_HEADER "-----BEGIN ENCRYPTED PRIVATE KEY-----"

typedef struct
{
  char *dir;
} Fixture;

/* Removes path, and everything under it when it is a directory; never
 * follows symbolic links. */
static void
rm_rf (const char *path)
{
  GStatBuf st;

  if (g_lstat (path, &st) != 0)
    return;
  if (S_ISDIR (st.st_mode))
    {
      g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      g_chmod (path, 0700);
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          rm_rf (child);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) err = NULL;

  f->dir = g_dir_make_tmp ("sc-test-identity-XXXXXX", &err);
  g_assert_no_error (err);
  g_unsetenv ("CREDENTIALS_DIRECTORY");
  g_unsetenv ("SC_TEST_PASSPHRASE");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  rm_rf (f->dir);
  g_free (f->dir);
  g_unsetenv ("CREDENTIALS_DIRECTORY");
  g_unsetenv ("SC_TEST_PASSPHRASE");
}

static char *
fixture_path (Fixture *f, const char *name)
{
  return g_build_filename (f->dir, name, NULL);
}

/* Writes data to path with exactly this mode. */
static void
write_file (const char *path, const void *data, gsize len, int mode)
{
  g_autoptr (GError) err = NULL;

  g_file_set_contents_full (path, data, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT, mode, &err);
  g_assert_no_error (err);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
}

static int
file_mode (const char *path)
{
  GStatBuf st;

  g_assert_cmpint (g_lstat (path, &st), ==, 0);
  return st.st_mode & 07777;
}

static void
assert_message_contains (const GError *err, const char *needle)
{
  if (strstr (err->message, needle) == NULL)
    g_error ("error message “%s” does not contain “%s”", err->message, needle);
}

/* ---------------------------------------------------------------------------
 * Key files made with GnuTLS
 * ------------------------------------------------------------------------ */

/* A GnuTLS key exported as PKCS#8 PEM with flags (a cipher, or
 * GNUTLS_PKCS_PLAIN). */
static char *
gnutls_key_pem (gnutls_x509_privkey_t key, const char *pass, unsigned flags)
{
  gnutls_datum_t out = { NULL, 0 };
  char *pem;

  g_assert_cmpint (gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_PEM, pass, flags, &out),
                   ==, 0);
  pem = g_strndup ((const char *) out.data, out.size);
  gnutls_free (out.data);
  return pem;
}

/* A new key of algorithm algo (bits as gnutls_x509_privkey_generate takes
 * them), as encrypted PKCS#8 PEM under pass. */
static char *
foreign_key_pem (gnutls_pk_algorithm_t algo, unsigned bits, const char *pass)
{
  gnutls_x509_privkey_t key;
  char *pem;

  g_assert_cmpint (gnutls_x509_privkey_init (&key), ==, 0);
  g_assert_cmpint (gnutls_x509_privkey_generate (key, algo, bits, 0), ==, 0);
  pem = gnutls_key_pem (key, pass, GNUTLS_PKCS_PBES2_AES_256);
  gnutls_x509_privkey_deinit (key);
  return pem;
}

/* A GnuTLS key object holding x, y and k. */
static gnutls_x509_privkey_t
gnutls_key_from_raw (const guint8 *x, const guint8 *y, const guint8 *k)
{
  gnutls_x509_privkey_t key;
  gnutls_datum_t dx = { (unsigned char *) x, 32 };
  gnutls_datum_t dy = { (unsigned char *) y, 32 };
  gnutls_datum_t dk = { (unsigned char *) k, 32 };

  g_assert_cmpint (gnutls_x509_privkey_init (&key), ==, 0);
  g_assert_cmpint (
      gnutls_x509_privkey_import_ecc_raw (key, GNUTLS_ECC_CURVE_SECP256R1, &dx, &dy, &dk), ==, 0);
  return key;
}

static void
new_key (ScP256Key *key)
{
  g_assert_cmpint (sc_p256_keygen (key, sc_random_system, NULL), ==, 0);
}

static gboolean
all_zero (const void *p, gsize len)
{
  const guint8 *b = p;
  gsize i;

  for (i = 0; i < len; i++)
    if (b[i] != 0)
      return FALSE;
  return TRUE;
}

/* ---------------------------------------------------------------------------
 * sc_keyfile_encode / sc_keyfile_decode
 * ------------------------------------------------------------------------ */

/* encode then decode gives back the same key; the file is PBES2 with
 * AES-256 and GnuTLS reads it as the same key. */
static void
test_keyfile_roundtrip (void)
{
  ScP256Key key, back;
  char *pem = NULL;
  size_t len = 0;
  gnutls_datum_t datum;
  unsigned schema = 0, cipher = 0, iter = 0;
  g_autofree char *padded = NULL;

  new_key (&key);
  g_assert_cmpint (sc_keyfile_encode (&key, PASS, &pem, &len), ==, 0);
  g_assert_nonnull (pem);
  g_assert_cmpuint (strlen (pem), ==, len);
  g_assert_true (g_str_has_prefix (pem, PEM_HEADER));
  g_assert_null (strstr (pem, "-----BEGIN PRIVATE KEY"));

  datum.data = (unsigned char *) pem;
  datum.size = (unsigned) len;
  g_assert_cmpint (
      gnutls_pkcs8_info (&datum, GNUTLS_X509_FMT_PEM, &schema, &cipher, NULL, NULL, &iter, NULL),
      >=, 0);
  g_assert_cmpuint (schema, ==, GNUTLS_PKCS_PBES2_AES_256);
  g_assert_cmpuint (iter, >=, 100000);

  memset (&back, 0xaa, sizeof back);
  g_assert_cmpint (sc_keyfile_decode (pem, len, PASS, &back), ==, 0);
  g_assert_cmpmem (back.d, sizeof back.d, key.d, sizeof key.d);
  g_assert_cmpmem (back.pub, sizeof back.pub, key.pub, sizeof key.pub);

  /* Surrounding whitespace is fine; the NUL is not needed. */
  padded = g_strdup_printf ("\n  %s\n\n", pem);
  g_assert_cmpint (sc_keyfile_decode (padded, strlen (padded), PASS, &back), ==, 0);
  g_assert_cmpmem (back.d, sizeof back.d, key.d, sizeof key.d);

  sc_memzero (pem, len);
  free (pem);
  sc_p256_key_clear (&key);
  sc_p256_key_clear (&back);
}

static void
test_keyfile_wrong_passphrase (void)
{
  ScP256Key key, back;
  char *pem = NULL;
  size_t len = 0;

  new_key (&key);
  g_assert_cmpint (sc_keyfile_encode (&key, PASS, &pem, &len), ==, 0);
  memset (&back, 0xaa, sizeof back);
  g_assert_cmpint (sc_keyfile_decode (pem, len, "correct horse battery stapler", &back), ==,
                   SC_CRYPTO_EPASSPHRASE);
  g_assert_true (all_zero (&back, sizeof back));
  g_assert_cmpint (sc_keyfile_decode (pem, len, "x", &back), ==, SC_CRYPTO_EPASSPHRASE);
  free (pem);
  sc_p256_key_clear (&key);
}

static void
test_keyfile_empty_passphrase_refused (void)
{
  ScP256Key key, back;
  char *pem = (char *) "not touched";
  size_t len = 99;

  new_key (&key);
  g_assert_cmpint (sc_keyfile_encode (&key, "", &pem, &len), ==, SC_CRYPTO_EINVAL);
  g_assert_null (pem);
  g_assert_cmpuint (len, ==, 0);
  g_assert_cmpint (sc_keyfile_encode (&key, NULL, &pem, &len), ==, SC_CRYPTO_EINVAL);
  g_assert_null (pem);

  g_assert_cmpint (sc_keyfile_encode (&key, PASS, &pem, &len), ==, 0);
  g_assert_cmpint (sc_keyfile_decode (pem, len, "", &back), ==, SC_CRYPTO_EINVAL);
  g_assert_cmpint (sc_keyfile_decode (pem, len, NULL, &back), ==, SC_CRYPTO_EINVAL);
  free (pem);

  /* A key pair whose halves do not match is never written. */
  key.pub[40] ^= 1;
  g_assert_cmpint (sc_keyfile_encode (&key, PASS, &pem, &len), ==, SC_CRYPTO_EINVAL);
  g_assert_null (pem);
  sc_p256_key_clear (&key);
}

/* Correctly encrypted PKCS#8 files of other key types: SC_CRYPTO_EPOINT. */
static void
test_keyfile_not_p256_refused (void)
{
  static const struct
  {
    const char *what;
    gnutls_pk_algorithm_t algo;
    unsigned bits;
  } cases[] = {
    { "Ed25519", GNUTLS_PK_EDDSA_ED25519, 0 },
    { "ECDSA P-384", GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP384R1) },
    { "ECDSA P-521", GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP521R1) },
    { "RSA 2048", GNUTLS_PK_RSA, 2048 },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *pem = foreign_key_pem (cases[i].algo, cases[i].bits, PASS);
      ScP256Key back;

      g_test_message ("%s", cases[i].what);
      memset (&back, 0xaa, sizeof back);
      g_assert_cmpint (sc_keyfile_decode (pem, strlen (pem), PASS, &back), ==, SC_CRYPTO_EPOINT);
      g_assert_true (all_zero (&back, sizeof back));
    }
}

static char *
replace_all (const char *s, const char *from, const char *to)
{
  g_auto (GStrv) parts = g_strsplit (s, from, -1);

  return g_strjoinv (to, parts);
}

/* Unencrypted keys, in every disguise: SC_CRYPTO_EENCODING. */
static void
test_keyfile_unencrypted_refused (void)
{
  ScP256Key key, back;
  gnutls_x509_privkey_t gk;
  g_autofree char *plain = NULL;
  g_autofree char *relabelled = NULL;
  g_autofree char *two_blocks = NULL;
  g_autofree char *encrypted = NULL;
  gnutls_datum_t legacy = { NULL, 0 };
  g_autofree char *legacy_pem = NULL;

  new_key (&key);
  gk = gnutls_key_from_raw (key.pub + 1, key.pub + 33, key.d);
  plain = gnutls_key_pem (gk, NULL, GNUTLS_PKCS_PLAIN);
  encrypted = gnutls_key_pem (gk, PASS, GNUTLS_PKCS_PBES2_AES_256);
  g_assert_cmpint (gnutls_x509_privkey_export2 (gk, GNUTLS_X509_FMT_PEM, &legacy), ==, 0);
  legacy_pem = g_strndup ((const char *) legacy.data, legacy.size);
  gnutls_free (legacy.data);
  gnutls_x509_privkey_deinit (gk);

  /* "-----BEGIN PRIVATE KEY-----": plain PKCS#8. */
  g_assert_true (g_str_has_prefix (plain, "-----BEGIN PRIVATE KEY-----"));
  g_assert_cmpint (sc_keyfile_decode (plain, strlen (plain), PASS, &back), ==, SC_CRYPTO_EENCODING);
  /* "-----BEGIN EC PRIVATE KEY-----": SEC1, unencrypted. */
  g_assert_true (g_str_has_prefix (legacy_pem, "-----BEGIN EC PRIVATE KEY-----"));
  g_assert_cmpint (sc_keyfile_decode (legacy_pem, strlen (legacy_pem), PASS, &back), ==,
                   SC_CRYPTO_EENCODING);
  /* A plain PrivateKeyInfo under the encrypted label. */
  relabelled = replace_all (plain, "PRIVATE KEY", "ENCRYPTED PRIVATE KEY");
  g_assert_true (g_str_has_prefix (relabelled, PEM_HEADER));
  g_assert_cmpint (sc_keyfile_decode (relabelled, strlen (relabelled), PASS, &back), ==,
                   SC_CRYPTO_EENCODING);
  /* A plain key smuggled in before a good encrypted one. */
  two_blocks = g_strconcat (plain, encrypted, NULL);
  g_assert_cmpint (sc_keyfile_decode (two_blocks, strlen (two_blocks), PASS, &back), ==,
                   SC_CRYPTO_EENCODING);
  g_free (two_blocks);
  /* ... or after it. */
  two_blocks = g_strconcat (encrypted, plain, NULL);
  g_assert_cmpint (sc_keyfile_decode (two_blocks, strlen (two_blocks), PASS, &back), ==,
                   SC_CRYPTO_EENCODING);
  g_assert_true (all_zero (&back, sizeof back));
  /* A plain block nested inside the encrypted one. */
  g_free (two_blocks);
  two_blocks = g_strconcat (PEM_HEADER "\n", plain, "-----END ENCRYPTED PRIVATE KEY-----\n", NULL);
  g_assert_cmpint (sc_keyfile_decode (two_blocks, strlen (two_blocks), PASS, &back), ==,
                   SC_CRYPTO_EENCODING);
  /* The good one alone passes. */
  g_assert_cmpint (sc_keyfile_decode (encrypted, strlen (encrypted), PASS, &back), ==, 0);
  g_assert_cmpmem (back.d, sizeof back.d, key.d, sizeof key.d);
  sc_p256_key_clear (&key);
  sc_p256_key_clear (&back);
}

/* Truncations, damaged base64 and DER, trailing junk, garbage. */
static void
test_keyfile_malformed_refused (void)
{
  ScP256Key key, back;
  char *pem = NULL;
  size_t len = 0;
  size_t cut;
  g_autofree char *junk = NULL;
  g_autofree char *short_body = NULL;
  g_autofree char *bad_b64 = NULL;
  guint8 garbage[512];
  char *line;

  new_key (&key);
  g_assert_cmpint (sc_keyfile_encode (&key, PASS, &pem, &len), ==, 0);

  /* Every truncation short of the complete END line (only the final
   * newline may go). */
  g_assert_true (g_str_has_suffix (pem, "-----END ENCRYPTED PRIVATE KEY-----\n"));
  for (cut = 0; cut < len - 1; cut++)
    g_assert_cmpint (sc_keyfile_decode (pem, cut, PASS, &back), ==, SC_CRYPTO_EENCODING);
  /* A body line missing, END line kept: bad DER lengths. */
  short_body = g_strdup (pem);
  line = strchr (short_body, '\n') + 1;
  memmove (line, strchr (line, '\n') + 1, strlen (strchr (line, '\n') + 1) + 1);
  g_assert_cmpint (sc_keyfile_decode (short_body, strlen (short_body), PASS, &back), ==,
                   SC_CRYPTO_EENCODING);
  /* A character that is not base64. */
  bad_b64 = g_strdup (pem);
  bad_b64[strlen (PEM_HEADER) + 5] = '*';
  g_assert_cmpint (sc_keyfile_decode (bad_b64, strlen (bad_b64), PASS, &back), ==,
                   SC_CRYPTO_EENCODING);
  /* Text after the block. */
  junk = g_strconcat (pem, "trailing words\n", NULL);
  g_assert_cmpint (sc_keyfile_decode (junk, strlen (junk), PASS, &back), ==, SC_CRYPTO_EENCODING);
  /* Garbage and nothing. */
  g_assert_cmpint (sc_random_bytes (garbage, sizeof garbage), ==, 0);
  g_assert_cmpint (sc_keyfile_decode ((const char *) garbage, sizeof garbage, PASS, &back), ==,
                   SC_CRYPTO_EENCODING);
  g_assert_cmpint (sc_keyfile_decode ("hello", 5, PASS, &back), ==, SC_CRYPTO_EENCODING);
  g_assert_cmpint (sc_keyfile_decode ("", 0, PASS, &back), ==, SC_CRYPTO_EENCODING);
  g_assert_cmpint (sc_keyfile_decode (NULL, 10, PASS, &back), ==, SC_CRYPTO_EINVAL);
  g_assert_true (all_zero (&back, sizeof back));
  free (pem);
  sc_p256_key_clear (&key);
}

/* A file whose public point is not its scalar's. */
static void
test_keyfile_inconsistent_refused (void)
{
  ScP256Key a, b, back;
  gnutls_x509_privkey_t gk;
  g_autofree char *pem = NULL;

  new_key (&a);
  new_key (&b);
  gk = gnutls_key_from_raw (b.pub + 1, b.pub + 33, a.d);
  pem = gnutls_key_pem (gk, PASS, GNUTLS_PKCS_PBES2_AES_256);
  gnutls_x509_privkey_deinit (gk);
  g_assert_cmpint (sc_keyfile_decode (pem, strlen (pem), PASS, &back), ==, SC_CRYPTO_EENCODING);
  g_assert_true (all_zero (&back, sizeof back));
  sc_p256_key_clear (&a);
  sc_p256_key_clear (&b);
}

/* ---------------------------------------------------------------------------
 * ScIdentity
 * ------------------------------------------------------------------------ */

static gboolean
is_lower_hex (const char *s, gsize len)
{
  gsize i;

  if (strlen (s) != len)
    return FALSE;
  for (i = 0; i < len; i++)
    if (!g_ascii_isdigit (s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
      return FALSE;
  return TRUE;
}

static void
test_identity_save_load_roundtrip (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fixture_path (f, "id.pem");
  g_autoptr (ScIdentity) id = NULL;
  g_autoptr (ScIdentity) back = NULL;
  g_autoptr (GBytes) pub = NULL;
  g_autoptr (GBytes) pub_back = NULL;
  g_autoptr (GError) err = NULL;
  g_autofree char *fp_prop = NULL;

  id = sc_identity_generate (&err);
  g_assert_no_error (err);
  g_assert_true (is_lower_hex (sc_identity_get_fingerprint (id), SC_IDENTITY_FINGERPRINT_LEN));
  g_object_get (id, "fingerprint", &fp_prop, NULL);
  g_assert_cmpstr (fp_prop, ==, sc_identity_get_fingerprint (id));

  g_assert_true (sc_identity_save (id, path, PASS, &err));
  g_assert_no_error (err);
  back = sc_identity_load (path, PASS, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (sc_identity_get_fingerprint (back), ==, sc_identity_get_fingerprint (id));
  pub = sc_identity_get_public_key (id);
  pub_back = sc_identity_get_public_key (back);
  g_assert_cmpuint (g_bytes_get_size (pub), ==, 91);
  g_assert_true (g_bytes_equal (pub, pub_back));
  g_assert_cmpmem (sc_identity_get_key (back), sizeof (ScP256Key), sc_identity_get_key (id),
                   sizeof (ScP256Key));
}

/* Two identities differ; an identity made from a key keeps it. */
static void
test_identity_generate_distinct (void)
{
  g_autoptr (ScIdentity) a = sc_identity_generate (NULL);
  g_autoptr (ScIdentity) b = sc_identity_generate (NULL);
  g_autoptr (ScIdentity) c = sc_identity_new_from_key (sc_identity_get_key (a));

  g_assert_cmpstr (sc_identity_get_fingerprint (a), !=, sc_identity_get_fingerprint (b));
  g_assert_cmpstr (sc_identity_get_fingerprint (a), ==, sc_identity_get_fingerprint (c));
}

/* The file is 0600 whatever the umask, no temporary file is left, and a
 * second save replaces the first (also when the path was a symbolic link,
 * whose target stays untouched). */
static void
test_identity_save_mode_0600 (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fixture_path (f, "id.pem");
  g_autofree char *target = fixture_path (f, "target");
  g_autoptr (ScIdentity) a = sc_identity_generate (NULL);
  g_autoptr (ScIdentity) b = sc_identity_generate (NULL);
  g_autoptr (ScIdentity) back = NULL;
  g_autoptr (GError) err = NULL;
  g_autoptr (GDir) dir = NULL;
  g_autofree char *target_contents = NULL;
  mode_t old_umask = umask (0);

  g_assert_true (sc_identity_save (a, path, PASS, &err));
  umask (old_umask);
  g_assert_no_error (err);
  g_assert_cmpint (file_mode (path), ==, 0600);

  g_assert_true (sc_identity_save (b, path, PASS, &err));
  g_assert_no_error (err);
  g_assert_cmpint (file_mode (path), ==, 0600);
  back = sc_identity_load (path, PASS, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (sc_identity_get_fingerprint (back), ==, sc_identity_get_fingerprint (b));

  dir = g_dir_open (f->dir, 0, NULL);
  g_assert_cmpstr (g_dir_read_name (dir), ==, "id.pem");
  g_assert_null (g_dir_read_name (dir));

  /* Saving over a symbolic link replaces the link, not its target. */
  write_file (target, "keep me", 7, 0644);
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (symlink (target, path), ==, 0);
  g_assert_true (sc_identity_save (a, path, PASS, &err));
  g_assert_no_error (err);
  g_assert_true (g_file_get_contents (target, &target_contents, NULL, NULL));
  g_assert_cmpstr (target_contents, ==, "keep me");
  g_assert_cmpint (file_mode (path), ==, 0600);
}

static void
test_identity_save_errors (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fixture_path (f, "no/such/dir/id.pem");
  g_autoptr (ScIdentity) id = sc_identity_generate (NULL);
  g_autoptr (GError) err = NULL;

  g_assert_false (sc_identity_save (id, path, PASS, &err));
  g_assert_error (err, SC_ERROR, SC_ERROR_KEY_FILE);
  g_clear_error (&err);
  g_assert_false (sc_identity_save (id, f->dir, PASS, &err));
  g_assert_error (err, SC_ERROR, SC_ERROR_KEY_FILE);
}

/* Saves a fresh identity to name in the fixture directory; returns the path. */
static char *
saved_identity (Fixture *f, const char *name, ScIdentity **out)
{
  char *path = fixture_path (f, name);
  g_autoptr (ScIdentity) id = sc_identity_generate (NULL);
  g_autoptr (GError) err = NULL;

  g_assert_true (sc_identity_save (id, path, PASS, &err));
  g_assert_no_error (err);
  if (out != NULL)
    *out = g_steal_pointer (&id);
  return path;
}

static void
test_identity_load_refuses_modes (Fixture *f, gconstpointer data)
{
  static const int bad_modes[] = { 0644, 0640, 0604, 0660, 0610, 0601, 0400 | 0040 };
  g_autofree char *path = saved_identity (f, "id.pem", NULL);
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (bad_modes); i++)
    {
      g_autoptr (ScIdentity) id = NULL;
      g_autoptr (GError) err = NULL;
      g_autofree char *mode = g_strdup_printf ("%04o", bad_modes[i]);

      g_assert_cmpint (g_chmod (path, bad_modes[i]), ==, 0);
      id = sc_identity_load (path, PASS, &err);
      g_assert_null (id);
      g_assert_error (err, SC_ERROR, SC_ERROR_KEY_FILE);
      assert_message_contains (err, path);
      assert_message_contains (err, mode);
      assert_message_contains (err, "chmod 600");
    }
  /* 0400 and 0600 are fine. */
  for (i = 0; i < 2; i++)
    {
      g_autoptr (ScIdentity) id = NULL;
      g_autoptr (GError) err = NULL;

      g_assert_cmpint (g_chmod (path, i == 0 ? 0400 : 0600), ==, 0);
      id = sc_identity_load (path, PASS, &err);
      g_assert_no_error (err);
      g_assert_nonnull (id);
    }
}

static void
test_identity_load_refuses_symlink (Fixture *f, gconstpointer data)
{
  g_autofree char *path = saved_identity (f, "id.pem", NULL);
  g_autofree char *link = fixture_path (f, "link.pem");
  g_autoptr (ScIdentity) id = NULL;
  g_autoptr (GError) err = NULL;

  g_assert_cmpint (symlink (path, link), ==, 0);
  id = sc_identity_load (link, PASS, &err);
  g_assert_null (id);
  g_assert_error (err, SC_ERROR, SC_ERROR_KEY_FILE);
  assert_message_contains (err, link);
  assert_message_contains (err, "symbolic link");
}

/* A directory, a FIFO (which must not block the open) and a device. */
static void
test_identity_load_refuses_non_regular (Fixture *f, gconstpointer data)
{
  g_autofree char *fifo = fixture_path (f, "fifo");
  const char *paths[] = { f->dir, fifo, "/dev/null" };
  gsize i;

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  for (i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr (ScIdentity) id = NULL;
      g_autoptr (GError) err = NULL;

      id = sc_identity_load (paths[i], PASS, &err);
      g_assert_null (id);
      g_assert_error (err, SC_ERROR, SC_ERROR_KEY_FILE);
      assert_message_contains (err, paths[i]);
      assert_message_contains (err, "not a regular file");
    }
}

static void
test_identity_load_refuses_other_owner (Fixture *f, gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autoptr (ScIdentity) id = NULL;
  g_autoptr (GError) err = NULL;

  if (geteuid () != 0)
    {
      g_test_skip ("making a file owned by another user needs root");
      return;
    }
  path = saved_identity (f, "id.pem", NULL);
  g_assert_cmpint (chown (path, 65534, 65534), ==, 0);
  g_assert_cmpint (file_mode (path), ==, 0600);
  id = sc_identity_load (path, PASS, &err);
  g_assert_null (id);
  g_assert_error (err, SC_ERROR, SC_ERROR_KEY_FILE);
  assert_message_contains (err, path);
  assert_message_contains (err, "owned by uid 65534");
}

static void
test_identity_load_refuses_large_file (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fixture_path (f, "big.pem");
  g_autofree char *big = g_malloc (64 * 1024 + 1);
  g_autoptr (ScIdentity) id = NULL;
  g_autoptr (GError) err = NULL;

  memset (big, 'A', 64 * 1024 + 1);
  write_file (path, big, 64 * 1024 + 1, 0600);
  id = sc_identity_load (path, PASS, &err);
  g_assert_null (id);
  g_assert_error (err, SC_ERROR, SC_ERROR_KEY_FILE);
  assert_message_contains (err, path);
  assert_message_contains (err, "larger than 65536 bytes");
}

static void
test_identity_load_missing_file (Fixture *f, gconstpointer data)
{
  g_autofree char *path = fixture_path (f, "none.pem");
  g_autoptr (ScIdentity) id = NULL;
  g_autoptr (GError) err = NULL;

  id = sc_identity_load (path, PASS, &err);
  g_assert_null (id);
  g_assert_error (err, SC_ERROR, SC_ERROR_KEY_FILE);
  assert_message_contains (err, path);
}

static void
test_identity_load_wrong_passphrase (Fixture *f, gconstpointer data)
{
  g_autofree char *path = saved_identity (f, "id.pem", NULL);
  g_autoptr (ScIdentity) id = NULL;
  g_autoptr (GError) err = NULL;

  id = sc_identity_load (path, "not " PASS, &err);
  g_assert_null (id);
  g_assert_error (err, SC_ERROR, SC_ERROR_PASSPHRASE);
  assert_message_contains (err, path);
}

static void
test_identity_load_bad_contents (Fixture *f, gconstpointer data)
{
  g_autofree char *ed = fixture_path (f, "ed25519.pem");
  g_autofree char *junk = fixture_path (f, "junk.pem");
  g_autofree char *ed_pem = foreign_key_pem (GNUTLS_PK_EDDSA_ED25519, 0, PASS);
  const char *paths[] = { ed, junk };
  gsize i;

  write_file (ed, ed_pem, strlen (ed_pem), 0600);
  write_file (junk, "hello\n", 6, 0600);
  for (i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr (ScIdentity) id = NULL;
      g_autoptr (GError) err = NULL;

      id = sc_identity_load (paths[i], PASS, &err);
      g_assert_null (id);
      g_assert_error (err, SC_ERROR, SC_ERROR_KEY_FILE);
      assert_message_contains (err, paths[i]);
    }
}

static void
test_identity_empty_passphrase_refused (Fixture *f, gconstpointer data)
{
  g_autoptr (ScIdentity) id = NULL;
  g_autofree char *path = saved_identity (f, "id.pem", &id);
  g_autofree char *fresh = fixture_path (f, "fresh.pem");
  const char *passes[] = { "", NULL };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (passes); i++)
    {
      g_autoptr (GError) err = NULL;
      g_autoptr (ScIdentity) loaded = NULL;

      g_assert_false (sc_identity_save (id, fresh, passes[i], &err));
      g_assert_error (err, SC_ERROR, SC_ERROR_PASSPHRASE);
      g_clear_error (&err);
      loaded = sc_identity_load (path, passes[i], &err);
      g_assert_error (err, SC_ERROR, SC_ERROR_PASSPHRASE);
      g_clear_error (&err);
      g_assert_null (sc_identity_load_or_create (fresh, passes[i], NULL, &err));
      g_assert_error (err, SC_ERROR, SC_ERROR_PASSPHRASE);
      g_assert_false (g_file_test (fresh, G_FILE_TEST_EXISTS));
    }
}

/* Creates the file (and its 0700 parents) once, then loads the same key. */
static void
test_identity_load_or_create (Fixture *f, gconstpointer data)
{
  g_autofree char *parent = fixture_path (f, "state");
  g_autofree char *subdir = g_build_filename (parent, "keys", NULL);
  g_autofree char *path = g_build_filename (subdir, "id.pem", NULL);
  g_autoptr (ScIdentity) first = NULL;
  g_autoptr (ScIdentity) second = NULL;
  g_autoptr (GError) err = NULL;
  gboolean created = FALSE;

  first = sc_identity_load_or_create (path, PASS, &created, &err);
  g_assert_no_error (err);
  g_assert_true (created);
  g_assert_cmpint (file_mode (path), ==, 0600);
  g_assert_cmpint (file_mode (subdir), ==, 0700);
  g_assert_cmpint (file_mode (parent), ==, 0700);

  second = sc_identity_load_or_create (path, PASS, &created, &err);
  g_assert_no_error (err);
  g_assert_false (created);
  g_assert_cmpstr (sc_identity_get_fingerprint (second), ==, sc_identity_get_fingerprint (first));
  g_clear_object (&second);
  second = sc_identity_load_or_create (path, PASS, NULL, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (sc_identity_get_fingerprint (second), ==, sc_identity_get_fingerprint (first));
}

/* An existing file that cannot be loaded is an error, never replaced; a
 * dangling symbolic link is not followed to create a file. */
static void
test_identity_load_or_create_keeps_existing (Fixture *f, gconstpointer data)
{
  g_autofree char *path = saved_identity (f, "id.pem", NULL);
  g_autofree char *link = fixture_path (f, "dangling.pem");
  g_autofree char *nowhere = fixture_path (f, "nowhere.pem");
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autoptr (ScIdentity) id = NULL;
  g_autoptr (GError) err = NULL;
  gboolean created = TRUE;

  g_assert_true (g_file_get_contents (path, &before, NULL, NULL));
  g_assert_cmpint (g_chmod (path, 0644), ==, 0);
  id = sc_identity_load_or_create (path, PASS, &created, &err);
  g_assert_null (id);
  g_assert_false (created);
  g_assert_error (err, SC_ERROR, SC_ERROR_KEY_FILE);
  g_assert_true (g_file_get_contents (path, &after, NULL, NULL));
  g_assert_cmpstr (before, ==, after);
  g_clear_error (&err);

  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  id = sc_identity_load_or_create (path, "wrong", &created, &err);
  g_assert_null (id);
  g_assert_error (err, SC_ERROR, SC_ERROR_PASSPHRASE);
  g_clear_error (&err);

  g_assert_cmpint (symlink (nowhere, link), ==, 0);
  id = sc_identity_load_or_create (link, PASS, &created, &err);
  g_assert_null (id);
  g_assert_error (err, SC_ERROR, SC_ERROR_KEY_FILE);
  g_assert_false (g_file_test (nowhere, G_FILE_TEST_EXISTS));
}

/* GnuTLS decrypts the saved file and exports the public key itself: the
 * same SPKI, whose SHA-256 (GLib's, not ours) is the fingerprint. */
static void
test_identity_fingerprint_gnutls (Fixture *f, gconstpointer data)
{
  g_autoptr (ScIdentity) id = NULL;
  g_autofree char *path = saved_identity (f, "id.pem", &id);
  g_autofree char *pem = NULL;
  g_autoptr (GBytes) ours = sc_identity_get_public_key (id);
  g_autoptr (GBytes) theirs = NULL;
  g_autofree char *hash = NULL;
  gsize len = 0;
  gnutls_datum_t in, der = { NULL, 0 };
  gnutls_x509_privkey_t xk;
  gnutls_privkey_t pk;
  gnutls_pubkey_t pub;

  g_assert_true (g_file_get_contents (path, &pem, &len, NULL));
  in.data = (unsigned char *) pem;
  in.size = (unsigned) len;
  g_assert_cmpint (gnutls_x509_privkey_init (&xk), ==, 0);
  g_assert_cmpint (gnutls_x509_privkey_import_pkcs8 (xk, &in, GNUTLS_X509_FMT_PEM, PASS, 0), ==, 0);
  g_assert_cmpint (gnutls_privkey_init (&pk), ==, 0);
  g_assert_cmpint (gnutls_privkey_import_x509 (pk, xk, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE), ==, 0);
  g_assert_cmpint (gnutls_pubkey_init (&pub), ==, 0);
  g_assert_cmpint (gnutls_pubkey_import_privkey (pub, pk, 0, 0), ==, 0);
  g_assert_cmpint (gnutls_pubkey_export2 (pub, GNUTLS_X509_FMT_DER, &der), ==, 0);
  theirs = g_bytes_new (der.data, der.size);
  hash = g_compute_checksum_for_data (G_CHECKSUM_SHA256, der.data, der.size);
  gnutls_free (der.data);
  gnutls_pubkey_deinit (pub);
  gnutls_privkey_deinit (pk);

  g_assert_true (g_bytes_equal (ours, theirs));
  g_assert_cmpstr (hash, ==, sc_identity_get_fingerprint (id));
  g_free (hash);
  hash = sc_fingerprint_from_spki (g_bytes_get_data (theirs, NULL), g_bytes_get_size (theirs));
  g_assert_cmpstr (hash, ==, sc_identity_get_fingerprint (id));
}

/* Runs argv; the test fails if it does not exit with 0. */
static void
run_or_fail (const char *const *argv)
{
  g_autoptr (GError) err = NULL;
  g_autofree char *out = NULL;
  g_autofree char *errout = NULL;
  int status = 0;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               &errout, &status, &err));
  g_assert_no_error (err);
  if (!g_spawn_check_wait_status (status, &err))
    g_error ("%s failed: %s\n%s", argv[0], err->message, errout);
}

/* SHA-256 (GLib's) of what `openssl pkey -pubout -outform DER` prints for
 * the key file path. */
static char *
openssl_fingerprint (Fixture *f, const char *path, const char *passfile)
{
  g_autofree char *pubder = fixture_path (f, "pub.der");
  g_autofree char *passin = g_strconcat ("file:", passfile, NULL);
  const char *argv[] = { "openssl", "pkey",     "-in", path,   "-passin", passin,
                         "-pubout", "-outform", "DER", "-out", pubder,    NULL };
  g_autofree char *der = NULL;
  gsize len = 0;

  run_or_fail (argv);
  g_assert_true (g_file_get_contents (pubder, &der, &len, NULL));
  g_assert_cmpuint (len, ==, 91);
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guint8 *) der, len);
}

static char *
write_passfile (Fixture *f)
{
  char *passfile = fixture_path (f, "pass.txt");

  write_file (passfile, PASS "\n", strlen (PASS) + 1, 0600);
  return passfile;
}

/* OpenSSL decrypts our file and computes the same fingerprint. */
static void
test_identity_fingerprint_openssl (Fixture *f, gconstpointer data)
{
  g_autofree char *openssl = g_find_program_in_path ("openssl");
  g_autoptr (ScIdentity) id = NULL;
  g_autofree char *path = NULL;
  g_autofree char *passfile = NULL;
  g_autofree char *fp = NULL;

  if (openssl == NULL)
    {
      g_test_skip ("openssl is not installed");
      return;
    }
  path = saved_identity (f, "id.pem", &id);
  passfile = write_passfile (f);
  fp = openssl_fingerprint (f, path, passfile);
  g_assert_cmpstr (fp, ==, sc_identity_get_fingerprint (id));
}

/* A key written by `openssl genpkey -aes256` loads, with the fingerprint
 * OpenSSL computes. */
static void
test_identity_openssl_key_loads (Fixture *f, gconstpointer data)
{
  g_autofree char *openssl = g_find_program_in_path ("openssl");
  g_autofree char *path = fixture_path (f, "openssl.pem");
  g_autofree char *passfile = NULL;
  g_autofree char *passout = NULL;
  g_autofree char *fp = NULL;
  g_autoptr (ScIdentity) id = NULL;
  g_autoptr (GError) err = NULL;

  if (openssl == NULL)
    {
      g_test_skip ("openssl is not installed");
      return;
    }
  passfile = write_passfile (f);
  passout = g_strconcat ("file:", passfile, NULL);
  {
    const char *argv[] = { "openssl", "genpkey",  "-algorithm",
                           "EC",      "-pkeyopt", "ec_paramgen_curve:P-256",
                           "-aes256", "-pass",    passout,
                           "-out",    path,       NULL };

    run_or_fail (argv);
  }
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  id = sc_identity_load (path, PASS, &err);
  g_assert_no_error (err);
  fp = openssl_fingerprint (f, path, passfile);
  g_assert_cmpstr (fp, ==, sc_identity_get_fingerprint (id));
}

/* Keys written by `openssl genpkey` that are not P-256 are refused: as
 * SC_CRYPTO_EPOINT when GnuTLS can parse them; curves GnuTLS does not know
 * and explicit curve parameters look like a wrong passphrase to GnuTLS
 * (sc-keyfile.h), and the identity error says both. */
static void
test_identity_openssl_foreign_keys_refused (Fixture *f, gconstpointer data)
{
  static const struct
  {
    const char *name;
    const char *args[5];
    int expected;
  } cases[] = {
    { "p384.pem",
      { "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", NULL },
      SC_CRYPTO_EPOINT },
    { "x25519.pem", { "-algorithm", "X25519", NULL }, SC_CRYPTO_EPOINT },
    { "ed448.pem", { "-algorithm", "ED448", NULL }, SC_CRYPTO_EPOINT },
    { "secp256k1.pem",
      { "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1", NULL },
      SC_CRYPTO_EPASSPHRASE },
  };
  g_autofree char *openssl = g_find_program_in_path ("openssl");
  gsize i;

  if (openssl == NULL)
    {
      g_test_skip ("openssl is not installed");
      return;
    }
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = fixture_path (f, cases[i].name);
      g_autoptr (GPtrArray) argv = g_ptr_array_new ();
      g_autofree char *pem = NULL;
      g_autoptr (ScIdentity) id = NULL;
      g_autoptr (GError) err = NULL;
      ScP256Key back;
      gsize len = 0;
      gsize j;

      g_ptr_array_add (argv, (gpointer) "openssl");
      g_ptr_array_add (argv, (gpointer) "genpkey");
      for (j = 0; cases[i].args[j] != NULL; j++)
        g_ptr_array_add (argv, (gpointer) cases[i].args[j]);
      g_ptr_array_add (argv, (gpointer) "-aes256");
      g_ptr_array_add (argv, (gpointer) "-pass");
      g_ptr_array_add (argv, (gpointer) "pass:" PASS);
      g_ptr_array_add (argv, (gpointer) "-out");
      g_ptr_array_add (argv, path);
      g_ptr_array_add (argv, NULL);
      run_or_fail ((const char *const *) argv->pdata);
      g_assert_true (g_file_get_contents (path, &pem, &len, NULL));
      g_test_message ("%s", cases[i].name);
      g_assert_cmpint (sc_keyfile_decode (pem, len, PASS, &back), ==, cases[i].expected);

      g_assert_cmpint (g_chmod (path, 0600), ==, 0);
      id = sc_identity_load (path, PASS, &err);
      g_assert_null (id);
      g_assert_true (g_error_matches (err, SC_ERROR, SC_ERROR_KEY_FILE)
                     || g_error_matches (err, SC_ERROR, SC_ERROR_PASSPHRASE));
      assert_message_contains (err, "P-256");
    }
}

/* ---------------------------------------------------------------------------
 * sc_passphrase_read
 * ------------------------------------------------------------------------ */

/* file > $CREDENTIALS_DIRECTORY/<name> > environment. */
static void
test_passphrase_precedence (Fixture *f, gconstpointer data)
{
  g_autofree char *file = fixture_path (f, "pass.txt");
  g_autofree char *creds = fixture_path (f, "creds");
  g_autofree char *cred = g_build_filename (creds, "sc-passphrase", NULL);
  g_autoptr (GError) err = NULL;

  write_file (file, "from-file\n", 10, 0600);
  g_assert_cmpint (g_mkdir (creds, 0700), ==, 0);
  write_file (cred, "from-credential\n", 16, 0400);
  g_setenv ("CREDENTIALS_DIRECTORY", creds, TRUE);
  g_setenv ("SC_TEST_PASSPHRASE", "from-env", TRUE);

  {
    g_auto (ScPassphrase)
        p = sc_passphrase_read (file, "sc-passphrase", "SC_TEST_PASSPHRASE", &err);
    g_assert_no_error (err);
    g_assert_cmpstr (p, ==, "from-file");
  }
  {
    g_auto (ScPassphrase)
        p = sc_passphrase_read (NULL, "sc-passphrase", "SC_TEST_PASSPHRASE", &err);
    g_assert_no_error (err);
    g_assert_cmpstr (p, ==, "from-credential");
  }
  {
    /* The credential directory without this credential: on to the environment. */
    g_auto (ScPassphrase) p = sc_passphrase_read (NULL, "other-name", "SC_TEST_PASSPHRASE", &err);
    g_assert_no_error (err);
    g_assert_cmpstr (p, ==, "from-env");
  }
  g_unsetenv ("CREDENTIALS_DIRECTORY");
  {
    g_auto (ScPassphrase)
        p = sc_passphrase_read (NULL, "sc-passphrase", "SC_TEST_PASSPHRASE", &err);
    g_assert_no_error (err);
    g_assert_cmpstr (p, ==, "from-env");
  }
}

/* A passphrase file that group or others can read is refused, with no
 * fallback to the other sources. */
static void
test_passphrase_file_refused_if_readable (Fixture *f, gconstpointer data)
{
  static const int bad_modes[] = { 0644, 0640, 0604, 0620 };
  g_autofree char *file = fixture_path (f, "pass.txt");
  g_autofree char *link = fixture_path (f, "pass-link.txt");
  gsize i;

  write_file (file, "secret\n", 7, 0600);
  g_setenv ("SC_TEST_PASSPHRASE", "from-env", TRUE);
  for (i = 0; i < G_N_ELEMENTS (bad_modes); i++)
    {
      g_autoptr (GError) err = NULL;
      char *p;

      g_assert_cmpint (g_chmod (file, bad_modes[i]), ==, 0);
      p = sc_passphrase_read (file, NULL, "SC_TEST_PASSPHRASE", &err);
      g_assert_null (p);
      g_assert_error (err, SC_ERROR, SC_ERROR_PASSPHRASE);
      assert_message_contains (err, file);
      assert_message_contains (err, "chmod 600");
    }
  g_assert_cmpint (g_chmod (file, 0600), ==, 0);
  g_assert_cmpint (symlink (file, link), ==, 0);
  {
    g_autoptr (GError) err = NULL;

    g_assert_null (sc_passphrase_read (link, NULL, NULL, &err));
    g_assert_error (err, SC_ERROR, SC_ERROR_PASSPHRASE);
    assert_message_contains (err, link);
  }
}

/* One trailing LF or CRLF is stripped; nothing else is. */
static void
test_passphrase_newline_stripped (Fixture *f, gconstpointer data)
{
  static const struct
  {
    const char *contents;
    const char *expected; /* NULL: refused */
  } cases[] = {
    { "abc", "abc" },       { "abc\n", "abc" }, { "abc\r\n", "abc" }, { "abc\n\n", "abc\n" },
    { " a b \n", " a b " }, { "", NULL },       { "\n", NULL },       { "\r\n", NULL },
  };
  g_autofree char *file = fixture_path (f, "pass.txt");
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) err = NULL;
      g_auto (ScPassphrase) p = NULL;

      write_file (file, cases[i].contents, strlen (cases[i].contents), 0600);
      p = sc_passphrase_read (file, NULL, NULL, &err);
      if (cases[i].expected != NULL)
        {
          g_assert_no_error (err);
          g_assert_cmpstr (p, ==, cases[i].expected);
        }
      else
        {
          g_assert_null (p);
          g_assert_error (err, SC_ERROR, SC_ERROR_PASSPHRASE);
        }
    }
  {
    g_autoptr (GError) err = NULL;

    write_file (file, "a\0b\n", 4, 0600);
    g_assert_null (sc_passphrase_read (file, NULL, NULL, &err));
    g_assert_error (err, SC_ERROR, SC_ERROR_PASSPHRASE);
  }
}

/* A credential may be group-readable (systemd's ACL fallback shows so) but
 * not world-readable. */
static void
test_passphrase_credential_permissions (Fixture *f, gconstpointer data)
{
  g_autofree char *cred = fixture_path (f, "sc-passphrase");
  g_autoptr (GError) err = NULL;
  char *p;

  g_setenv ("CREDENTIALS_DIRECTORY", f->dir, TRUE);
  g_setenv ("SC_TEST_PASSPHRASE", "from-env", TRUE);
  write_file (cred, "cred\n", 5, 0440);
  p = sc_passphrase_read (NULL, "sc-passphrase", "SC_TEST_PASSPHRASE", &err);
  g_assert_no_error (err);
  g_assert_cmpstr (p, ==, "cred");
  sc_passphrase_free (p);

  g_assert_cmpint (g_chmod (cred, 0444), ==, 0);
  p = sc_passphrase_read (NULL, "sc-passphrase", "SC_TEST_PASSPHRASE", &err);
  g_assert_null (p);
  g_assert_error (err, SC_ERROR, SC_ERROR_PASSPHRASE);
  assert_message_contains (err, cred);
}

static void
test_passphrase_none_lists_the_ways (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) err = NULL;
  char *p;

  g_setenv ("SC_TEST_PASSPHRASE", "", TRUE); /* empty counts as unset */
  p = sc_passphrase_read (NULL, "sc-passphrase", "SC_TEST_PASSPHRASE", &err);
  g_assert_null (p);
  g_assert_error (err, SC_ERROR, SC_ERROR_PASSPHRASE);
  assert_message_contains (err, "passphrase file");
  assert_message_contains (err, "sc-passphrase");
  assert_message_contains (err, "SC_TEST_PASSPHRASE");
  sc_passphrase_free (NULL);
}

/* The whole chain as securecommd will use it: passphrase from a
 * credential, identity created, then loaded again. */
static void
test_passphrase_with_identity (Fixture *f, gconstpointer data)
{
  g_autofree char *cred = fixture_path (f, "sc-passphrase");
  g_autofree char *path = fixture_path (f, "state/id.pem");
  g_autoptr (GError) err = NULL;
  g_auto (ScPassphrase) pass = NULL;
  g_autoptr (ScIdentity) a = NULL;
  g_autoptr (ScIdentity) b = NULL;

  write_file (cred, "s3cret passphrase\n", 18, 0400);
  g_setenv ("CREDENTIALS_DIRECTORY", f->dir, TRUE);
  pass = sc_passphrase_read (NULL, "sc-passphrase", NULL, &err);
  g_assert_no_error (err);
  a = sc_identity_load_or_create (path, pass, NULL, &err);
  g_assert_no_error (err);
  b = sc_identity_load (path, "s3cret passphrase", &err);
  g_assert_no_error (err);
  g_assert_cmpstr (sc_identity_get_fingerprint (a), ==, sc_identity_get_fingerprint (b));
}

#define ADD_FIXTURE_TEST(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/lib/keyfile/roundtrip", test_keyfile_roundtrip);
  g_test_add_func ("/lib/keyfile/wrong-passphrase", test_keyfile_wrong_passphrase);
  g_test_add_func ("/lib/keyfile/empty-passphrase-refused", test_keyfile_empty_passphrase_refused);
  g_test_add_func ("/lib/keyfile/not-p256-refused", test_keyfile_not_p256_refused);
  g_test_add_func ("/lib/keyfile/unencrypted-refused", test_keyfile_unencrypted_refused);
  g_test_add_func ("/lib/keyfile/malformed-refused", test_keyfile_malformed_refused);
  g_test_add_func ("/lib/keyfile/inconsistent-refused", test_keyfile_inconsistent_refused);

  g_test_add_func ("/lib/identity/generate-distinct", test_identity_generate_distinct);
  ADD_FIXTURE_TEST ("/lib/identity/save-load-roundtrip", test_identity_save_load_roundtrip);
  ADD_FIXTURE_TEST ("/lib/identity/save-mode-0600", test_identity_save_mode_0600);
  ADD_FIXTURE_TEST ("/lib/identity/save-errors", test_identity_save_errors);
  ADD_FIXTURE_TEST ("/lib/identity/load-refuses-group-other-modes",
                    test_identity_load_refuses_modes);
  ADD_FIXTURE_TEST ("/lib/identity/load-refuses-symlink", test_identity_load_refuses_symlink);
  ADD_FIXTURE_TEST ("/lib/identity/load-refuses-non-regular",
                    test_identity_load_refuses_non_regular);
  ADD_FIXTURE_TEST ("/lib/identity/load-refuses-other-owner",
                    test_identity_load_refuses_other_owner);
  ADD_FIXTURE_TEST ("/lib/identity/load-refuses-large-file", test_identity_load_refuses_large_file);
  ADD_FIXTURE_TEST ("/lib/identity/load-missing-file", test_identity_load_missing_file);
  ADD_FIXTURE_TEST ("/lib/identity/load-wrong-passphrase", test_identity_load_wrong_passphrase);
  ADD_FIXTURE_TEST ("/lib/identity/load-bad-contents", test_identity_load_bad_contents);
  ADD_FIXTURE_TEST ("/lib/identity/empty-passphrase-refused",
                    test_identity_empty_passphrase_refused);
  ADD_FIXTURE_TEST ("/lib/identity/load-or-create", test_identity_load_or_create);
  ADD_FIXTURE_TEST ("/lib/identity/load-or-create-keeps-existing",
                    test_identity_load_or_create_keeps_existing);
  ADD_FIXTURE_TEST ("/lib/identity/fingerprint-gnutls", test_identity_fingerprint_gnutls);
  ADD_FIXTURE_TEST ("/lib/identity/fingerprint-openssl", test_identity_fingerprint_openssl);
  ADD_FIXTURE_TEST ("/lib/identity/openssl-key-loads", test_identity_openssl_key_loads);
  ADD_FIXTURE_TEST ("/lib/identity/openssl-foreign-keys-refused",
                    test_identity_openssl_foreign_keys_refused);

  ADD_FIXTURE_TEST ("/lib/passphrase/precedence", test_passphrase_precedence);
  ADD_FIXTURE_TEST ("/lib/passphrase/file-refused-if-readable",
                    test_passphrase_file_refused_if_readable);
  ADD_FIXTURE_TEST ("/lib/passphrase/newline-stripped", test_passphrase_newline_stripped);
  ADD_FIXTURE_TEST ("/lib/passphrase/credential-permissions",
                    test_passphrase_credential_permissions);
  ADD_FIXTURE_TEST ("/lib/passphrase/none-lists-the-ways", test_passphrase_none_lists_the_ways);
  ADD_FIXTURE_TEST ("/lib/passphrase/with-identity", test_passphrase_with_identity);

  return g_test_run ();
}
