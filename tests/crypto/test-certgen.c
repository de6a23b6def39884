/* test-certgen.c: the test PKI of sc-certgen.h, checked with GnuTLS.
 *
 * Each test generates a PKI into a fresh temporary directory and reads the
 * files back as a TLS peer would: the chain verifies against ca.crt for the
 * right purpose, the names match, the extensions say what sc-certgen.h
 * promises, the keys belong to the certificates, the file modes are exact,
 * and existing files are replaced only when forced.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-certgen.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define SERVER_DN "CN=localhost,O=SecureComm"
#define CLIENT_DN "CN=client,O=SecureComm"
#define CA_DN "CN=SecureComm Test CA,O=SecureComm"

static const char *const all_files[] = {
  SC_CERTGEN_CA_CERT,     SC_CERTGEN_SERVER_CERT, SC_CERTGEN_SERVER_KEY,
  SC_CERTGEN_CLIENT_CERT, SC_CERTGEN_CLIENT_KEY,
};

typedef struct
{
  char *tmp;     /* the temporary directory, removed afterwards */
  char *dir;     /* tmp/pki, where the PKI is written */
  time_t before; /* the clock just before generating */
  time_t after;  /* and just after */
} Fixture;

/* ---- helpers -------------------------------------------------------------- */

static void
rm_rf (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    {
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          if (g_file_test (child, G_FILE_TEST_IS_DIR)
              && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
            rm_rf (child);
          else
            g_unlink (child);
        }
      g_dir_close (dir);
    }
  g_rmdir (path);
}

static int
generate (const char *dir, gboolean force, char msg[SC_CERTGEN_MSG_LEN])
{
  return sc_certgen_write_test_pki (dir, force, msg, SC_CERTGEN_MSG_LEN);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  char msg[SC_CERTGEN_MSG_LEN];
  g_autoptr (GError) error = NULL;
  int rc;

  f->tmp = g_dir_make_tmp ("sc-certgen-XXXXXX", &error);
  g_assert_no_error (error);
  f->dir = g_build_filename (f->tmp, "pki", NULL);
  f->before = time (NULL);
  rc = generate (f->dir, FALSE, msg);
  f->after = time (NULL);
  g_assert_cmpstr (msg, ==, "");
  g_assert_cmpint (rc, ==, 0);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  rm_rf (f->tmp);
  g_free (f->dir);
  g_free (f->tmp);
}

static char *
path_of (const Fixture *f, const char *name)
{
  return g_build_filename (f->dir, name, NULL);
}

static char *
read_file (const Fixture *f, const char *name, gsize *len)
{
  g_autofree char *path = path_of (f, name);
  g_autoptr (GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, len, &error);
  g_assert_no_error (error);
  return contents;
}

static unsigned
mode_of (const char *path)
{
  struct stat st;

  g_assert_cmpint (lstat (path, &st), ==, 0);
  return st.st_mode & 07777;
}

static unsigned
mode_in (const Fixture *f, const char *name)
{
  g_autofree char *path = path_of (f, name);

  return mode_of (path);
}

static gnutls_x509_crt_t
load_crt (const Fixture *f, const char *name)
{
  gsize len;
  g_autofree char *pem = read_file (f, name, &len);
  gnutls_datum_t d = { (unsigned char *) pem, (unsigned) len };
  gnutls_x509_crt_t crt;

  g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_import (crt, &d, GNUTLS_X509_FMT_PEM), ==, 0);
  return crt;
}

static gnutls_x509_privkey_t
load_key (const Fixture *f, const char *name)
{
  gsize len;
  g_autofree char *pem = read_file (f, name, &len);
  gnutls_datum_t d = { (unsigned char *) pem, (unsigned) len };
  gnutls_x509_privkey_t key;

  g_assert_cmpint (gnutls_x509_privkey_init (&key), ==, 0);
  /* Unencrypted PKCS#8: no password, GNUTLS_PKCS_PLAIN. */
  g_assert_cmpint (
      gnutls_x509_privkey_import_pkcs8 (key, &d, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN), ==,
      0);
  gnutls_memset (pem, 0, len);
  return key;
}

static char *
dn_of (gnutls_x509_crt_t crt, gboolean issuer)
{
  gnutls_datum_t d = { NULL, 0 };
  char *s;

  if (issuer)
    g_assert_cmpint (gnutls_x509_crt_get_issuer_dn3 (crt, &d, 0), ==, 0);
  else
    g_assert_cmpint (gnutls_x509_crt_get_dn3 (crt, &d, 0), ==, 0);
  s = g_strndup ((const char *) d.data, d.size);
  gnutls_free (d.data);
  return s;
}

/* The chain crt <- ca.crt verified as a TLS peer does, for purpose (an
 * extKeyUsage OID) and, when not NULL, hostname. Returns GnuTLS's status
 * bits (0: trusted). */
static unsigned
verify_chain (const Fixture *f, gnutls_x509_crt_t crt, const char *purpose, const char *hostname)
{
  gnutls_x509_trust_list_t list;
  gnutls_x509_crt_t ca = load_crt (f, SC_CERTGEN_CA_CERT);
  gnutls_typed_vdata_st data[2] = {
    { GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *) purpose, 0 },
    { GNUTLS_DT_DNS_HOSTNAME, (unsigned char *) hostname, 0 },
  };
  unsigned status = ~0u;

  g_assert_cmpint (gnutls_x509_trust_list_init (&list, 0), ==, 0);
  g_assert_cmpint (gnutls_x509_trust_list_add_cas (list, &ca, 1, 0), ==, 1); /* list owns ca */
  g_assert_cmpint (
      gnutls_x509_trust_list_verify_crt2 (list, &crt, 1, data, hostname ? 2 : 1, 0, &status, NULL),
      ==, 0);
  gnutls_x509_trust_list_deinit (list, 1);
  return status;
}

/* Whether the key's signature over a fixed text verifies under the
 * certificate's public key: the key is the certificate's. */
static gboolean
key_signs_for (gnutls_x509_privkey_t x509_key, gnutls_x509_crt_t crt)
{
  static const char text[] = "sc-certgen test";
  const gnutls_datum_t data = { (unsigned char *) text, sizeof text - 1 };
  gnutls_privkey_t key;
  gnutls_pubkey_t pub;
  gnutls_datum_t sig = { NULL, 0 };
  int rc;

  g_assert_cmpint (gnutls_privkey_init (&key), ==, 0);
  g_assert_cmpint (gnutls_privkey_import_x509 (key, x509_key, 0), ==, 0);
  g_assert_cmpint (gnutls_pubkey_init (&pub), ==, 0);
  g_assert_cmpint (gnutls_pubkey_import_x509 (pub, crt, 0), ==, 0);
  g_assert_cmpint (gnutls_privkey_sign_data (key, GNUTLS_DIG_SHA256, 0, &data, &sig), ==, 0);
  rc = gnutls_pubkey_verify_data2 (pub, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &sig);
  gnutls_free (sig.data);
  gnutls_pubkey_deinit (pub);
  gnutls_privkey_deinit (key);
  return rc >= 0;
}

static gboolean
has_purpose (gnutls_x509_crt_t crt, const char *oid)
{
  for (unsigned i = 0;; i++)
    {
      char buf[128];
      size_t len = sizeof buf;
      int rc = gnutls_x509_crt_get_key_purpose_oid (crt, i, buf, &len, NULL);

      if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
        return FALSE;
      g_assert_cmpint (rc, ==, 0);
      if (strcmp (buf, oid) == 0)
        return TRUE;
    }
}

static unsigned
count_purposes (gnutls_x509_crt_t crt)
{
  unsigned i = 0;

  for (;; i++)
    {
      char buf[128];
      size_t len = sizeof buf;

      if (gnutls_x509_crt_get_key_purpose_oid (crt, i, buf, &len, NULL) < 0)
        return i;
    }
}

/* Checks basicConstraints (present, critical, CA as given) and keyUsage
 * (critical, exactly usage). */
static void
assert_constraints (gnutls_x509_crt_t crt, unsigned ca, unsigned usage)
{
  unsigned critical = 0;
  unsigned got_ca = 2;
  int pathlen = 0;
  unsigned got_usage = 0;

  g_assert_cmpint (gnutls_x509_crt_get_basic_constraints (crt, &critical, &got_ca, &pathlen), >=,
                   0);
  g_assert_cmpuint (got_ca, ==, ca);
  g_assert_cmpuint (critical, ==, 1);
  critical = 0;
  g_assert_cmpint (gnutls_x509_crt_get_key_usage (crt, &got_usage, &critical), >=, 0);
  g_assert_cmpuint (got_usage, ==, usage);
  g_assert_cmpuint (critical, ==, 1);
}

/* The certificate's authority key id is the issuer's subject key id. */
static void
assert_key_ids (gnutls_x509_crt_t crt, gnutls_x509_crt_t issuer)
{
  unsigned char aki[64], ski[64];
  size_t aki_len = sizeof aki, ski_len = sizeof ski;
  unsigned critical = 1;

  g_assert_cmpint (gnutls_x509_crt_get_authority_key_id (crt, aki, &aki_len, &critical), ==, 0);
  g_assert_cmpuint (critical, ==, 0);
  g_assert_cmpint (gnutls_x509_crt_get_subject_key_id (issuer, ski, &ski_len, &critical), ==, 0);
  g_assert_cmpuint (aki_len, ==, 20);
  g_assert_cmpmem (aki, aki_len, ski, ski_len);
  ski_len = sizeof ski;
  g_assert_cmpint (gnutls_x509_crt_get_subject_key_id (crt, ski, &ski_len, &critical), ==, 0);
  g_assert_cmpuint (ski_len, ==, 20);
}

/* ECDSA P-256, signed with ECDSA-SHA256, version 3. */
static void
assert_p256_v3 (gnutls_x509_crt_t crt)
{
  unsigned bits = 0;

  g_assert_cmpint (gnutls_x509_crt_get_version (crt), ==, 3);
  g_assert_cmpint (gnutls_x509_crt_get_pk_algorithm (crt, &bits), ==, GNUTLS_PK_ECDSA);
  g_assert_cmpuint (bits, ==, 256);
  g_assert_cmpint (gnutls_x509_crt_get_signature_algorithm (crt), ==, GNUTLS_SIGN_ECDSA_SHA256);
}

/* ---- the CA ----------------------------------------------------------------- */

static void
test_ca_is_self_signed_ca (Fixture *f, gconstpointer data)
{
  gnutls_x509_crt_t ca = load_crt (f, SC_CERTGEN_CA_CERT);
  g_autofree char *subject = dn_of (ca, FALSE);
  g_autofree char *issuer = dn_of (ca, TRUE);
  unsigned status = ~0u;

  g_assert_cmpstr (subject, ==, CA_DN);
  g_assert_cmpstr (issuer, ==, CA_DN);
  assert_p256_v3 (ca);
  assert_constraints (ca, 1, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
  assert_key_ids (ca, ca);
  g_assert_cmpuint (count_purposes (ca), ==, 0);
  /* Its signature is its own. */
  g_assert_cmpint (gnutls_x509_crt_verify (ca, &ca, 1, 0, &status), ==, 0);
  g_assert_cmpuint (status, ==, 0);
  gnutls_x509_crt_deinit (ca);
}

/* ---- the server ------------------------------------------------------------- */

static void
test_server_chain_verifies_for_localhost (Fixture *f, gconstpointer data)
{
  gnutls_x509_crt_t crt = load_crt (f, SC_CERTGEN_SERVER_CERT);
  gnutls_x509_crt_t ca = load_crt (f, SC_CERTGEN_CA_CERT);
  g_autofree char *subject = dn_of (crt, FALSE);
  g_autofree char *issuer = dn_of (crt, TRUE);

  g_assert_cmpstr (subject, ==, SERVER_DN);
  g_assert_cmpstr (issuer, ==, CA_DN);
  assert_p256_v3 (crt);
  g_assert_cmpuint (verify_chain (f, crt, GNUTLS_KP_TLS_WWW_SERVER, "localhost"), ==, 0);
  g_assert_cmpuint (verify_chain (f, crt, GNUTLS_KP_TLS_WWW_SERVER, "127.0.0.1"), ==, 0);
  g_assert_cmpuint (verify_chain (f, crt, GNUTLS_KP_TLS_WWW_SERVER, "::1"), ==, 0);
  assert_key_ids (crt, ca);
  gnutls_x509_crt_deinit (ca);
  gnutls_x509_crt_deinit (crt);
}

static void
test_server_names_match_only_localhost (Fixture *f, gconstpointer data)
{
  gnutls_x509_crt_t crt = load_crt (f, SC_CERTGEN_SERVER_CERT);
  static const unsigned char v4[4] = { 127, 0, 0, 1 };
  static const unsigned char v4_other[4] = { 127, 0, 0, 2 };
  static const unsigned char v6[16] = { [15] = 1 };
  unsigned status;

  g_assert_true (gnutls_x509_crt_check_hostname2 (crt, "localhost", 0));
  g_assert_true (gnutls_x509_crt_check_hostname2 (crt, "LOCALHOST", 0));
  g_assert_true (gnutls_x509_crt_check_ip (crt, v4, sizeof v4, 0));
  g_assert_true (gnutls_x509_crt_check_ip (crt, v6, sizeof v6, 0));
  g_assert_false (gnutls_x509_crt_check_hostname2 (crt, "example.com", 0));
  g_assert_false (gnutls_x509_crt_check_hostname2 (crt, "localhost.example.com", 0));
  g_assert_false (gnutls_x509_crt_check_ip (crt, v4_other, sizeof v4_other, 0));
  status = verify_chain (f, crt, GNUTLS_KP_TLS_WWW_SERVER, "example.com");
  g_assert_cmpuint (status & GNUTLS_CERT_UNEXPECTED_OWNER, !=, 0);
  g_assert_cmpuint (status & GNUTLS_CERT_INVALID, !=, 0);
  gnutls_x509_crt_deinit (crt);
}

static void
test_server_usages (Fixture *f, gconstpointer data)
{
  gnutls_x509_crt_t crt = load_crt (f, SC_CERTGEN_SERVER_CERT);

  assert_constraints (crt, 0, GNUTLS_KEY_DIGITAL_SIGNATURE);
  g_assert_true (has_purpose (crt, GNUTLS_KP_TLS_WWW_SERVER));
  g_assert_cmpuint (count_purposes (crt), ==, 1);
  /* Not a client certificate. */
  g_assert_cmpuint (
      verify_chain (f, crt, GNUTLS_KP_TLS_WWW_CLIENT, NULL) & GNUTLS_CERT_PURPOSE_MISMATCH, !=, 0);
  gnutls_x509_crt_deinit (crt);
}

/* ---- the client ------------------------------------------------------------- */

static void
test_client_chain_verifies_for_client_auth_only (Fixture *f, gconstpointer data)
{
  gnutls_x509_crt_t crt = load_crt (f, SC_CERTGEN_CLIENT_CERT);
  gnutls_x509_crt_t ca = load_crt (f, SC_CERTGEN_CA_CERT);
  g_autofree char *subject = dn_of (crt, FALSE);

  g_assert_cmpstr (subject, ==, CLIENT_DN);
  assert_p256_v3 (crt);
  assert_constraints (crt, 0, GNUTLS_KEY_DIGITAL_SIGNATURE);
  assert_key_ids (crt, ca);
  g_assert_true (has_purpose (crt, GNUTLS_KP_TLS_WWW_CLIENT));
  g_assert_cmpuint (count_purposes (crt), ==, 1);
  g_assert_cmpuint (verify_chain (f, crt, GNUTLS_KP_TLS_WWW_CLIENT, NULL), ==, 0);
  g_assert_cmpuint (
      verify_chain (f, crt, GNUTLS_KP_TLS_WWW_SERVER, NULL) & GNUTLS_CERT_PURPOSE_MISMATCH, !=, 0);
  g_assert_false (gnutls_x509_crt_check_hostname2 (crt, "localhost", 0));
  gnutls_x509_crt_deinit (ca);
  gnutls_x509_crt_deinit (crt);
}

/* ---- keys ------------------------------------------------------------------- */

static void
test_keys_are_unencrypted_pkcs8_p256 (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < 2; i++)
    {
      const char *name = i == 0 ? SC_CERTGEN_SERVER_KEY : SC_CERTGEN_CLIENT_KEY;
      gsize len;
      g_autofree char *pem = read_file (f, name, &len);
      gnutls_x509_privkey_t key;
      unsigned bits = 0;

      g_assert_true (g_str_has_prefix (pem, "-----BEGIN PRIVATE KEY-----\n"));
      g_assert_nonnull (strstr (pem, "-----END PRIVATE KEY-----"));
      g_assert_null (strstr (pem + 1, "-----BEGIN")); /* one block */
      key = load_key (f, name);
      g_assert_cmpint (gnutls_x509_privkey_get_pk_algorithm2 (key, &bits), ==, GNUTLS_PK_ECDSA);
      g_assert_cmpuint (bits, ==, 256);
      g_assert_cmpint (gnutls_x509_privkey_verify_params (key), ==, 0);
      gnutls_memset (pem, 0, len);
      gnutls_x509_privkey_deinit (key);
    }
}

static void
test_keys_match_their_certificates (Fixture *f, gconstpointer data)
{
  gnutls_x509_privkey_t server_key = load_key (f, SC_CERTGEN_SERVER_KEY);
  gnutls_x509_privkey_t client_key = load_key (f, SC_CERTGEN_CLIENT_KEY);
  gnutls_x509_crt_t server = load_crt (f, SC_CERTGEN_SERVER_CERT);
  gnutls_x509_crt_t client = load_crt (f, SC_CERTGEN_CLIENT_CERT);
  gnutls_x509_crt_t ca = load_crt (f, SC_CERTGEN_CA_CERT);

  g_assert_true (key_signs_for (server_key, server));
  g_assert_true (key_signs_for (client_key, client));
  /* And not the others' (so the check above can fail). */
  g_assert_false (key_signs_for (server_key, client));
  g_assert_false (key_signs_for (client_key, server));
  g_assert_false (key_signs_for (server_key, ca));
  g_assert_false (key_signs_for (client_key, ca));
  gnutls_x509_crt_deinit (ca);
  gnutls_x509_crt_deinit (client);
  gnutls_x509_crt_deinit (server);
  gnutls_x509_privkey_deinit (client_key);
  gnutls_x509_privkey_deinit (server_key);
}

/* ---- serials and validity --------------------------------------------------- */

static void
test_serials_random_positive_16_bytes (Fixture *f, gconstpointer data)
{
  guint8 serials[3][32];

  for (guint i = 0; i < 3; i++)
    {
      const char *name = i == 0   ? SC_CERTGEN_CA_CERT
                         : i == 1 ? SC_CERTGEN_SERVER_CERT
                                  : SC_CERTGEN_CLIENT_CERT;
      gnutls_x509_crt_t crt = load_crt (f, name);
      size_t len = sizeof serials[i];

      g_assert_cmpint (gnutls_x509_crt_get_serial (crt, serials[i], &len), ==, 0);
      g_assert_cmpuint (len, ==, SC_CERTGEN_SERIAL_LEN);
      g_assert_cmpuint (serials[i][0] & 0x80, ==, 0); /* positive */
      g_assert_cmpuint (serials[i][0], !=, 0);        /* minimal DER: all 16 bytes count */
      gnutls_x509_crt_deinit (crt);
    }
  g_assert_true (memcmp (serials[0], serials[1], SC_CERTGEN_SERIAL_LEN) != 0);
  g_assert_true (memcmp (serials[0], serials[2], SC_CERTGEN_SERIAL_LEN) != 0);
  g_assert_true (memcmp (serials[1], serials[2], SC_CERTGEN_SERIAL_LEN) != 0);
}

static void
test_validity_backdated_for_825_days (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < G_N_ELEMENTS (all_files); i++)
    {
      gnutls_x509_crt_t crt;
      time_t from, until;

      if (g_str_has_suffix (all_files[i], ".key"))
        continue;
      crt = load_crt (f, all_files[i]);
      from = gnutls_x509_crt_get_activation_time (crt);
      until = gnutls_x509_crt_get_expiration_time (crt);
      g_assert_cmpint (from, >=, f->before - SC_CERTGEN_BACKDATE_S);
      g_assert_cmpint (from, <=, f->after - SC_CERTGEN_BACKDATE_S);
      g_assert_cmpint (until - from, ==,
                       (time_t) SC_CERTGEN_VALIDITY_DAYS * 86400 + SC_CERTGEN_BACKDATE_S);
      gnutls_x509_crt_deinit (crt);
    }
}

/* ---- files ------------------------------------------------------------------ */

/* Generates into tmp/NAME/sub under umask and checks every mode. */
static void
assert_modes_under_umask (const Fixture *f, const char *name, mode_t mask)
{
  g_autofree char *parent = g_build_filename (f->tmp, name, NULL);
  g_autofree char *nested = g_build_filename (parent, "sub", NULL);
  char msg[SC_CERTGEN_MSG_LEN];
  mode_t old = umask (mask);
  int rc = generate (nested, FALSE, msg);

  umask (old);
  g_assert_cmpstr (msg, ==, "");
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpuint (mode_of (parent), ==, 0700);
  g_assert_cmpuint (mode_of (nested), ==, 0700);
  for (guint i = 0; i < G_N_ELEMENTS (all_files); i++)
    {
      g_autofree char *path = g_build_filename (nested, all_files[i], NULL);

      g_assert_cmpuint (mode_of (path), ==, g_str_has_suffix (all_files[i], ".key") ? 0600 : 0644);
    }
}

static void
test_modes_exact_whatever_the_umask (Fixture *f, gconstpointer data)
{
  /* The fixture's files, under the test's umask. */
  g_assert_cmpuint (mode_of (f->dir), ==, 0700);
  for (guint i = 0; i < G_N_ELEMENTS (all_files); i++)
    g_assert_cmpuint (mode_in (f, all_files[i]), ==,
                      g_str_has_suffix (all_files[i], ".key") ? 0600 : 0644);
  /* Umask 0 opens nothing more; umask 0277 closes nothing the owner needs
   * (the directories, parents included, must still be 0700). */
  assert_modes_under_umask (f, "open-umask", 0);
  assert_modes_under_umask (f, "closed-umask", 0277);
}

static void
test_existing_directory_keeps_its_mode (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = g_build_filename (f->tmp, "open", NULL);
  char msg[SC_CERTGEN_MSG_LEN];

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  g_assert_cmpint (chmod (dir, 0755), ==, 0);
  g_assert_cmpint (generate (dir, FALSE, msg), ==, 0);
  g_assert_cmpuint (mode_of (dir), ==, 0755);
}

/* Without force: any one existing name refuses the whole call, before a
 * single file is written, and leaves the existing files as they were. */
static void
test_refuses_to_overwrite_without_force (Fixture *f, gconstpointer data)
{
  g_autofree char *only = g_build_filename (f->tmp, "only", NULL);
  g_autofree char *only_key = g_build_filename (only, SC_CERTGEN_CLIENT_KEY, NULL);
  g_autofree char *only_ca = g_build_filename (only, SC_CERTGEN_CA_CERT, NULL);
  gsize len_before, len_after;
  g_autofree char *before = read_file (f, SC_CERTGEN_SERVER_KEY, &len_before);
  g_autofree char *after = NULL;
  char msg[SC_CERTGEN_MSG_LEN];

  g_assert_cmpint (generate (f->dir, FALSE, msg), ==, SC_CERTGEN_EEXIST);
  g_assert_nonnull (strstr (msg, "exists already"));
  g_assert_nonnull (strstr (msg, f->dir));
  after = read_file (f, SC_CERTGEN_SERVER_KEY, &len_after);
  g_assert_cmpmem (before, len_before, after, len_after);

  /* One file, even a dangling symlink, is enough; nothing else appears. */
  g_assert_cmpint (g_mkdir (only, 0700), ==, 0);
  g_assert_cmpint (symlink ("/nonexistent/sc-certgen", only_key), ==, 0);
  g_assert_cmpint (generate (only, FALSE, msg), ==, SC_CERTGEN_EEXIST);
  g_assert_nonnull (strstr (msg, only_key));
  g_assert_false (g_file_test (only_ca, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test ("/nonexistent/sc-certgen", G_FILE_TEST_EXISTS));
}

/* With force: a new PKI replaces the old, a key that had been opened up is
 * 0600 again, and a symlink in the way is replaced, not written through. */
static void
test_force_replaces_files_and_symlinks (Fixture *f, gconstpointer data)
{
  g_autofree char *key = path_of (f, SC_CERTGEN_SERVER_KEY);
  g_autofree char *client_key = path_of (f, SC_CERTGEN_CLIENT_KEY);
  g_autofree char *outside = g_build_filename (f->tmp, "outside", NULL);
  gsize len_before, len_after, len_ca_before, len_ca_after;
  g_autofree char *before = read_file (f, SC_CERTGEN_SERVER_KEY, &len_before);
  g_autofree char *ca_before = read_file (f, SC_CERTGEN_CA_CERT, &len_ca_before);
  g_autofree char *after = NULL;
  g_autofree char *ca_after = NULL;
  g_autofree char *outside_after = NULL;
  char msg[SC_CERTGEN_MSG_LEN];

  g_assert_cmpint (chmod (key, 0644), ==, 0);
  g_assert_true (g_file_set_contents (outside, "untouched", -1, NULL));
  g_assert_cmpint (g_unlink (client_key), ==, 0);
  g_assert_cmpint (symlink (outside, client_key), ==, 0);

  g_assert_cmpint (generate (f->dir, TRUE, msg), ==, 0);
  g_assert_cmpstr (msg, ==, "");
  after = read_file (f, SC_CERTGEN_SERVER_KEY, &len_after);
  ca_after = read_file (f, SC_CERTGEN_CA_CERT, &len_ca_after);
  g_assert_false (len_before == len_after && memcmp (before, after, len_after) == 0);
  g_assert_false (len_ca_before == len_ca_after && memcmp (ca_before, ca_after, len_ca_after) == 0);
  g_assert_cmpuint (mode_of (key), ==, 0600);
  g_assert_false (g_file_test (client_key, G_FILE_TEST_IS_SYMLINK));
  g_assert_cmpuint (mode_of (client_key), ==, 0600);
  g_assert_true (g_file_get_contents (outside, &outside_after, NULL, NULL));
  g_assert_cmpstr (outside_after, ==, "untouched");
  gnutls_memset (before, 0, len_before);
  gnutls_memset (after, 0, len_after);
}

/* No temporary files are left behind by a forced run. */
static void
test_force_leaves_no_temporary_files (Fixture *f, gconstpointer data)
{
  char msg[SC_CERTGEN_MSG_LEN];
  GDir *dir;
  guint n = 0;

  g_assert_cmpint (generate (f->dir, TRUE, msg), ==, 0);
  dir = g_dir_open (f->dir, 0, NULL);
  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  g_dir_close (dir);
  g_assert_cmpuint (n, ==, G_N_ELEMENTS (all_files));
}

static void
test_bad_directory_is_an_error (Fixture *f, gconstpointer data)
{
  g_autofree char *file = g_build_filename (f->tmp, "a-file", NULL);
  char msg[SC_CERTGEN_MSG_LEN];

  g_assert_true (g_file_set_contents (file, "x", -1, NULL));
  g_assert_cmpint (generate (file, FALSE, msg), ==, SC_CERTGEN_EIO);
  g_assert_nonnull (strstr (msg, file));
  g_assert_cmpint (generate (file, TRUE, msg), ==, SC_CERTGEN_EIO);
  g_assert_cmpint (generate ("", FALSE, msg), ==, SC_CRYPTO_EINVAL);
  g_assert_cmpint (sc_certgen_write_test_pki (NULL, FALSE, NULL, 0), ==, SC_CRYPTO_EINVAL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/certgen/ca/self-signed-ca", test_ca_is_self_signed_ca);
  ADD ("/certgen/server/chain-verifies-for-localhost", test_server_chain_verifies_for_localhost);
  ADD ("/certgen/server/names-match-only-localhost", test_server_names_match_only_localhost);
  ADD ("/certgen/server/usages", test_server_usages);
  ADD ("/certgen/client/chain-verifies-for-client-auth-only",
       test_client_chain_verifies_for_client_auth_only);
  ADD ("/certgen/keys/unencrypted-pkcs8-p256", test_keys_are_unencrypted_pkcs8_p256);
  ADD ("/certgen/keys/match-their-certificates", test_keys_match_their_certificates);
  ADD ("/certgen/serials/random-positive-16-bytes", test_serials_random_positive_16_bytes);
  ADD ("/certgen/validity/backdated-for-825-days", test_validity_backdated_for_825_days);
  ADD ("/certgen/files/modes-exact-whatever-the-umask", test_modes_exact_whatever_the_umask);
  ADD ("/certgen/files/existing-directory-keeps-its-mode", test_existing_directory_keeps_its_mode);
  ADD ("/certgen/files/refuses-to-overwrite-without-force",
       test_refuses_to_overwrite_without_force);
  ADD ("/certgen/files/force-replaces-files-and-symlinks", test_force_replaces_files_and_symlinks);
  ADD ("/certgen/files/force-leaves-no-temporary-files", test_force_leaves_no_temporary_files);
  ADD ("/certgen/files/bad-directory-is-an-error", test_bad_directory_is_an_error);
#undef ADD
  return g_test_run ();
}
