/* test-tls-config.c: ScTlsConfig and its JSON file: the seed's example loads,
 * every key reaches its property, every error names the file, the key and
 * the reason; and the GnuTLS priority string a configuration gives offers
 * exactly the suites it allows (as gnutls-cli lists them).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "sc-error.h"
#include "sc-tls-config-private.h"
#include "sc-tls.h"
#include "sc-x509.h"

#define FP_A "3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"

typedef struct
{
  char *dir; /* a temporary folder with test_certs/{server.crt,server.key,ca.crt,crl.pem} */
} Fixture;

static void
write_file (const char *path, const char *text)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

static char *
source_file (const char *relative)
{
  return g_build_filename (g_getenv ("SC_SOURCE_DIR"), relative, NULL);
}

static void
fixture_set_up (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *certs = NULL;
  const char *names[] = { "server.crt", "server.key", "ca.crt", "crl.pem" };

  fx->dir = g_dir_make_tmp ("sc-tls-config-XXXXXX", &error);
  g_assert_no_error (error);
  certs = g_build_filename (fx->dir, "test_certs", NULL);
  g_assert_cmpint (g_mkdir (certs, 0700), ==, 0);
  /* Loading checks that the files can be read, not what they hold. */
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (certs, names[i], NULL);

      write_file (path, "placeholder\n");
    }
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static void
fixture_tear_down (Fixture *fx, gconstpointer data)
{
  remove_tree (fx->dir);
  g_free (fx->dir);
}

/* Writes json to tls.json in the fixture and loads it. */
static ScTlsConfig *
load_json (Fixture *fx, const char *json, char **path_out, GError **error)
{
  g_autofree char *path = g_build_filename (fx->dir, "tls.json", NULL);
  ScTlsConfig *config;

  write_file (path, json);
  config = sc_tls_config_new_from_file (path, error);
  if (path_out != NULL)
    *path_out = g_steal_pointer (&path);
  return config;
}

static char *
cert_path (Fixture *fx, const char *name)
{
  return g_build_filename (fx->dir, "test_certs", name, NULL);
}

/* data/tls_config.example.json, the seed's file, loads as it is: relative
 * names are taken from its folder, the rest are defaults. */
static void
test_seed_example_loads (Fixture *fx, gconstpointer data)
{
  g_autofree char *seed_path = source_file ("data/tls_config.example.json");
  g_autofree char *seed = NULL, *crt = cert_path (fx, "server.crt");
  g_autofree char *key = cert_path (fx, "server.key"), *ca = cert_path (fx, "ca.crt");
  g_autoptr (GError) error = NULL;
  g_autoptr (ScTlsConfig) config = NULL;

  g_file_get_contents (seed_path, &seed, NULL, &error);
  g_assert_no_error (error);
  config = load_json (fx, seed, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (sc_tls_config_get_enabled (config));
  g_assert_cmpstr (sc_tls_config_get_cert_path (config), ==, crt);
  g_assert_cmpstr (sc_tls_config_get_key_path (config), ==, key);
  g_assert_cmpstr (sc_tls_config_get_ca_path (config), ==, ca);
  g_assert_cmpint (sc_tls_config_get_verify_mode (config), ==, SC_TLS_VERIFY_REQUIRED);
  g_assert_cmpint (sc_tls_config_get_min_version (config), ==, SC_TLS_VERSION_1_2);
  g_assert_null (sc_tls_config_get_cipher_suites (config));
  g_assert_null (sc_tls_config_get_pinned_spki_sha256 (config));
  g_assert_false (sc_tls_config_get_session_tickets (config));
  g_assert_null (sc_tls_config_get_crl_path (config));
  g_assert_null (sc_tls_config_get_server_name (config));
}

/* Every key of the format reaches its property; PKCS #11 URIs are kept as
 * they are while file names are made absolute. */
static void
test_every_key_reaches_its_property (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ScTlsConfig) config = NULL;
  g_autofree char *ca = cert_path (fx, "ca.crt"), *crl = cert_path (fx, "crl.pem");
  const char
      *json = "{\"enabled\": true, \"cert_path\": \"pkcs11:token=t;object=c\",\n"
              " \"key_path\": \"pkcs11:token=t;object=k\", \"ca_path\": \"test_certs/ca.crt\",\n"
              " \"verify_mode\": \"CERT_OPTIONAL\", \"min_version\": \"1.3\",\n"
              " \"cipher_suites\": [\"TLS_AES_128_GCM_SHA256\", \"TLS_AES_256_GCM_SHA384\"],\n"
              " \"pinned_spki_sha256\": [\"" FP_A "\"], \"session_tickets\": true,\n"
              " \"crl_path\": \"test_certs/crl.pem\", \"server_name\": \"securecomm.example\"}";
  const char *const *suites;

  config = load_json (fx, json, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sc_tls_config_get_cert_path (config), ==, "pkcs11:token=t;object=c");
  g_assert_cmpstr (sc_tls_config_get_key_path (config), ==, "pkcs11:token=t;object=k");
  g_assert_cmpstr (sc_tls_config_get_ca_path (config), ==, ca);
  g_assert_cmpint (sc_tls_config_get_verify_mode (config), ==, SC_TLS_VERIFY_OPTIONAL);
  g_assert_cmpint (sc_tls_config_get_min_version (config), ==, SC_TLS_VERSION_1_3);
  suites = sc_tls_config_get_cipher_suites (config);
  g_assert_cmpuint (g_strv_length ((char **) suites), ==, 2);
  g_assert_cmpstr (suites[0], ==, "TLS_AES_128_GCM_SHA256");
  g_assert_cmpstr (sc_tls_config_get_pinned_spki_sha256 (config)[0], ==, FP_A);
  g_assert_true (sc_tls_config_get_session_tickets (config));
  g_assert_cmpstr (sc_tls_config_get_crl_path (config), ==, crl);
  g_assert_cmpstr (sc_tls_config_get_server_name (config), ==, "securecomm.example");
}

/* With "enabled": false the files are not looked at. */
static void
test_disabled_config_does_not_need_its_files (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ScTlsConfig)
      config = load_json (fx, "{\"enabled\": false, \"cert_path\": \"nowhere.crt\"}", NULL, &error);

  g_assert_no_error (error);
  g_assert_false (sc_tls_config_get_enabled (config));
}

/* JSON, and the message after "FILE: ". */
typedef struct
{
  const char *name;
  const char *json;
  const char *message; /* %s: the fixture's folder */
} BadCase;

static const BadCase bad_cases[] = {
  { "unknown-key", "{\"enabled\": true, \"verify\": \"CERT_NONE\"}", "verify: unknown key" },
  { "duplicate-key", "{\"enabled\": false, \"enabled\": true}", "enabled: duplicate key" },
  { "bool-as-string", "{\"enabled\": \"true\"}", "enabled: must be true or false (got \"true\")" },
  { "bool-as-null", "{\"session_tickets\": null}",
    "session_tickets: must be true or false (got null)" },
  { "path-as-number", "{\"cert_path\": 5}", "cert_path: must be a string (got 5)" },
  { "path-empty", "{\"ca_path\": \"\"}", "ca_path: must not be empty" },
  { "verify-mode-lowercase", "{\"verify_mode\": \"cert_none\"}",
    "verify_mode: must be \"CERT_NONE\", \"CERT_OPTIONAL\" or \"CERT_REQUIRED\" (got "
    "\"cert_none\")" },
  { "min-version-1.1", "{\"min_version\": \"1.1\"}",
    "min_version: must be \"1.2\" or \"1.3\" (got \"1.1\")" },
  { "min-version-number", "{\"min_version\": 1.3}",
    "min_version: must be \"1.2\" or \"1.3\" (got 1.3)" },
  { "suites-not-array", "{\"cipher_suites\": \"TLS_AES_256_GCM_SHA384\"}",
    "cipher_suites: must be an array of strings (got \"TLS_AES_256_GCM_SHA384\")" },
  { "suites-empty", "{\"cipher_suites\": []}",
    "cipher_suites: must not be an empty array (leave the key out for the default)" },
  { "suite-unknown", "{\"cipher_suites\": [\"TLS_AES_256_GCM_SHA384\", \"RC4-MD5\"]}",
    "cipher_suites[1]: must be one of \"TLS_AES_256_GCM_SHA384\", \"TLS_AES_128_GCM_SHA256\", "
    "\"ECDHE-ECDSA-AES256-GCM-SHA384\" or \"ECDHE-RSA-AES256-GCM-SHA384\" (got \"RC4-MD5\")" },
  { "suite-cbc-refused", "{\"cipher_suites\": [\"ECDHE-RSA-AES256-SHA384\"]}",
    "cipher_suites[0]: must be one of \"TLS_AES_256_GCM_SHA384\", \"TLS_AES_128_GCM_SHA256\", "
    "\"ECDHE-ECDSA-AES256-GCM-SHA384\" or \"ECDHE-RSA-AES256-GCM-SHA384\" (got "
    "\"ECDHE-RSA-AES256-SHA384\")" },
  { "suite-twice",
    "{\"cipher_suites\": [\"TLS_AES_256_GCM_SHA384\", \"ECDHE-RSA-AES256-GCM-SHA384\", "
    "\"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\"]}",
    "cipher_suites[2]: \"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\" is listed twice" },
  { "suite-tls12-with-min-1.3",
    "{\"min_version\": \"1.3\", \"cipher_suites\": [\"TLS_AES_256_GCM_SHA384\", "
    "\"ECDHE-RSA-AES256-GCM-SHA384\"]}",
    "cipher_suites[1]: \"ECDHE-RSA-AES256-GCM-SHA384\" is a TLS 1.2 suite, but min_version is "
    "\"1.3\"" },
  { "suite-aes128-with-min-1.2",
    "{\"cipher_suites\": [\"TLS_AES_128_GCM_SHA256\", \"ECDHE-RSA-AES256-GCM-SHA384\"]}",
    "cipher_suites[0]: \"TLS_AES_128_GCM_SHA256\" needs min_version \"1.3\": GnuTLS cannot "
    "enable AES-128-GCM for TLS 1.3 without enabling it for TLS 1.2, where only AES-256-GCM is "
    "allowed" },
  { "suites-without-tls13", "{\"cipher_suites\": [\"ECDHE-RSA-AES256-GCM-SHA384\"]}",
    "cipher_suites: must list a TLS 1.3 suite (TLS_AES_256_GCM_SHA384)" },
  { "suites-without-tls12", "{\"cipher_suites\": [\"TLS_AES_256_GCM_SHA384\"]}",
    "cipher_suites: lists no TLS 1.2 suite: add ECDHE-ECDSA-AES256-GCM-SHA384 or "
    "ECDHE-RSA-AES256-GCM-SHA384, or set min_version to \"1.3\"" },
  { "pin-short", "{\"pinned_spki_sha256\": [\"abc\"]}",
    "pinned_spki_sha256[0]: must be a SHA-256 fingerprint: 64 lowercase hexadecimal digits (got "
    "\"abc\")" },
  { "pin-not-string", "{\"pinned_spki_sha256\": [\"" FP_A "\", 7]}",
    "pinned_spki_sha256[1]: must be a string (got 7)" },
  { "server-name-with-space", "{\"server_name\": \"bad name\"}",
    "server_name: must be a host name or an IP address (got \"bad name\")" },
  { "cert-file-missing",
    "{\"enabled\": true, \"cert_path\": \"test_certs/missing.crt\", \"key_path\": "
    "\"test_certs/server.key\"}",
    "cert_path: cannot read %s/test_certs/missing.crt: No such file or directory" },
  { "key-is-a-directory",
    "{\"enabled\": true, \"cert_path\": \"test_certs/server.crt\", \"key_path\": \"test_certs\"}",
    "key_path: %s/test_certs is not a regular file" },
  { "ca-file-missing", "{\"enabled\": true, \"ca_path\": \"nowhere/ca.crt\"}",
    "ca_path: cannot read %s/nowhere/ca.crt: No such file or directory" },
  { "crl-file-missing",
    "{\"enabled\": true, \"ca_path\": \"test_certs/ca.crt\", \"crl_path\": \"crl.pem\"}",
    "crl_path: cannot read %s/crl.pem: No such file or directory" },
  { "key-without-cert", "{\"enabled\": true, \"key_path\": \"test_certs/server.key\"}",
    "cert_path: must be set with key_path" },
  { "cert-without-key", "{\"enabled\": true, \"cert_path\": \"test_certs/server.crt\"}",
    "key_path: must be set with cert_path" },
  { "crl-without-ca", "{\"enabled\": true, \"crl_path\": \"test_certs/crl.pem\"}",
    "crl_path: needs ca_path: the CRL is checked against the CA that signed it" },
};

/* message with its "%s" (if any) replaced by dir. */
static char *
expand_dir (const char *message, const char *dir)
{
  g_auto (GStrv) parts = g_strsplit (message, "%s", 2);

  return g_strjoinv (dir, parts);
}

static void
test_bad_case (Fixture *fx, gconstpointer data)
{
  const BadCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (ScTlsConfig) config = NULL;
  g_autofree char *path = NULL, *expected = NULL, *message = NULL;

  config = load_json (fx, c->json, &path, &error);
  g_assert_null (config);
  g_assert_error (error, SC_ERROR, SC_ERROR_CONFIG);
  message = expand_dir (c->message, fx->dir);
  expected = g_strdup_printf ("%s: %s", path, message);
  g_assert_cmpstr (error->message, ==, expected);
}

/* A key file this user cannot read (root reads everything: skipped). */
static void
test_unreadable_key_named (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ScTlsConfig) config = NULL;
  g_autofree char *key = cert_path (fx, "server.key"), *path = NULL, *expected = NULL;

  if (geteuid () == 0)
    {
      g_test_skip ("root can read a file whatever its mode");
      return;
    }
  g_assert_cmpint (g_chmod (key, 0), ==, 0);
  config = load_json (fx,
                      "{\"enabled\": true, \"cert_path\": \"test_certs/server.crt\", "
                      "\"key_path\": \"test_certs/server.key\"}",
                      &path, &error);
  g_assert_error (error, SC_ERROR, SC_ERROR_CONFIG);
  expected = g_strdup_printf ("%s: key_path: cannot read %s: %s", path, key, g_strerror (EACCES));
  g_assert_cmpstr (error->message, ==, expected);
}

static void
test_not_an_object_refused (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL, *expected = NULL;
  g_autoptr (ScTlsConfig) config = load_json (fx, "[true]", &path, &error);

  g_assert_null (config);
  g_assert_error (error, SC_ERROR, SC_ERROR_CONFIG);
  expected = g_strdup_printf ("%s: the top level must be a JSON object", path);
  g_assert_cmpstr (error->message, ==, expected);
}

/* A syntax error names the file, the line and the column. */
static void
test_syntax_error_names_file_and_line (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL, *prefix = NULL;
  g_autoptr (ScTlsConfig) config = load_json (fx, "{\n\"enabled\": tru\n}", &path, &error);

  g_assert_null (config);
  g_assert_error (error, SC_ERROR, SC_ERROR_CONFIG);
  prefix = g_strdup_printf ("%s:2:", path);
  g_assert_true (g_str_has_prefix (error->message, prefix));
}

static void
test_missing_config_file_named (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (fx->dir, "absent.json", NULL);
  g_autoptr (ScTlsConfig) config = sc_tls_config_new_from_file (path, &error);

  g_assert_null (config);
  g_assert_error (error, SC_ERROR, SC_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, path));
}

/* securecommd.json's "tls" section: errors carry the file and "tls.". */
static void
test_embedded_section_names_prefixed_key (Fixture *fx, gconstpointer data)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (ScTlsConfig) good = NULL, bad = NULL;
  JsonObject *root, *tls;

  json_parser_load_from_data (parser,
                              "{\"good\": {\"enabled\": true, \"ca_path\": \"test_certs/ca.crt\"},"
                              " \"bad\": {\"enabled\": true, \"crl_path\": \"x\"}}",
                              -1, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  tls = json_object_get_object_member (root, "good");
  good = sc_tls_config_new_from_json_object (tls, fx->dir, "securecommd.json", "tls.", &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (sc_tls_config_get_ca_path (good), fx->dir));
  tls = json_object_get_object_member (root, "bad");
  bad = sc_tls_config_new_from_json_object (tls, fx->dir, "securecommd.json", "tls.", &error);
  g_assert_null (bad);
  g_assert_error (error, SC_ERROR, SC_ERROR_CONFIG);
  g_assert_cmpstr (error->message, ==,
                   "securecommd.json: tls.crl_path: needs tls.ca_path: the CRL is checked "
                   "against the CA that signed it");
}

/* A configuration built in code is checked the same way before use. */
static void
test_check_refuses_bad_properties (void)
{
  const char *suites[] = { "TLS_CHACHA20_POLY1305_SHA256", NULL };
  g_autoptr (ScTlsConfig) config = g_object_new (SC_TYPE_TLS_CONFIG, "cipher-suites", suites, NULL);
  g_autoptr (ScTlsConfig) plain = sc_tls_config_new (FALSE, NULL, NULL, NULL, SC_TLS_VERIFY_NONE);
  g_autoptr (GError) error = NULL;

  g_assert_true (sc_tls_config_check (plain, &error));
  g_assert_no_error (error);
  g_assert_false (sc_tls_config_check (config, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_CONFIG);
  g_assert_true (g_str_has_prefix (error->message, "cipher_suites[0]: must be one of "));
}

/* sc_tls_config_new() keeps the seed's five arguments and defaults the
 * rest. */
static void
test_seed_constructor_defaults (void)
{
  g_autoptr (ScTlsConfig)
      config = sc_tls_config_new (TRUE, "c.pem", "k.pem", "ca.pem", SC_TLS_VERIFY_OPTIONAL);
  ScTlsVerifyMode mode;

  g_object_get (config, "verify-mode", &mode, NULL);
  g_assert_cmpint (mode, ==, SC_TLS_VERIFY_OPTIONAL);
  g_assert_cmpstr (sc_tls_config_get_key_path (config), ==, "k.pem");
  g_assert_cmpint (sc_tls_config_get_min_version (config), ==, SC_TLS_VERSION_1_2);
  g_assert_false (sc_tls_config_get_session_tickets (config));
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

/* The TLS 1.x suites `gnutls-cli --list --priority P` shows, sorted. */
static char *
gnutls_cli_suites (const char *priority)
{
  const char *argv[] = { "gnutls-cli", "--list", "--priority", priority, NULL };
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  int status = -1;

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                NULL, &out, NULL, &status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "TLS_"))
      g_ptr_array_add (names, g_strndup (lines[i], strcspn (lines[i], " \t")));
  g_ptr_array_sort (names, compare_strings);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

typedef struct
{
  const char *json_min; /* "1.2" or "1.3" */
  gboolean tickets;     /* session_tickets */
  const char *priority; /* expected string */
  const char *suites;   /* what gnutls-cli lists for it, sorted */
} PriorityCase;

static const PriorityCase priority_cases[] = {
  { "1.2", FALSE,
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:-MAC-ALL:+AEAD:-KX-ALL:"
    "+ECDHE-ECDSA:+ECDHE-RSA:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
    "+GROUP-SECP521R1:-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:%SERVER_PRECEDENCE:%NO_TICKETS",
    "TLS_AES_256_GCM_SHA384 TLS_ECDHE_ECDSA_AES_256_GCM_SHA384 TLS_ECDHE_RSA_AES_256_GCM_SHA384" },
  { "1.3", TRUE,
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:-MAC-ALL:+AEAD:-KX-ALL:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:-SIGN-RSA-SHA1:"
    "-SIGN-ECDSA-SHA1:%SERVER_PRECEDENCE",
    "TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384" },
};

/* The default suites of each min_version give a priority string that GnuTLS
 * accepts and that offers exactly issue 5's suites. */
static void
test_priority_offers_only_allowed_suites (gconstpointer data)
{
  const PriorityCase *c = data;
  g_autoptr (ScTlsConfig) config = g_object_new (
      SC_TYPE_TLS_CONFIG, "min-version",
      g_str_equal (c->json_min, "1.3") ? SC_TLS_VERSION_1_3 : SC_TLS_VERSION_1_2, "session-tickets",
      c->tickets, NULL);
  g_autofree char *priority = sc_tls_priority_for_config (config);
  g_autofree char *listed = NULL;
  g_autofree char *cli = g_find_program_in_path ("gnutls-cli");
  size_t offset = 0;

  g_assert_cmpstr (priority, ==, c->priority);
  g_assert_cmpint (sc_x509_priority_check (priority, &offset), ==, 0);
  if (cli == NULL)
    {
      g_test_skip ("gnutls-cli (gnutls-bin) is not installed");
      return;
    }
  listed = gnutls_cli_suites (priority);
  g_assert_cmpstr (listed, ==, c->suites);
}

/* An ECDHE-RSA-only TLS 1.2 list keeps ECDHE-ECDSA out of the handshake. */
static void
test_priority_follows_listed_suites (void)
{
  const char *suites[] = { "TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", NULL };
  g_autoptr (ScTlsConfig) config = g_object_new (SC_TYPE_TLS_CONFIG, "cipher-suites", suites, NULL);
  g_autofree char *priority = sc_tls_priority_for_config (config);
  g_autofree char *cli = g_find_program_in_path ("gnutls-cli");
  g_autofree char *listed = NULL;

  g_assert_nonnull (strstr (priority, ":-KX-ALL:+ECDHE-RSA:-GROUP-ALL"));
  if (cli == NULL)
    {
      g_test_skip ("gnutls-cli (gnutls-bin) is not installed");
      return;
    }
  listed = gnutls_cli_suites (priority);
  g_assert_cmpstr (listed, ==, "TLS_AES_256_GCM_SHA384 TLS_ECDHE_RSA_AES_256_GCM_SHA384");
}

static void
test_priority_check_points_at_error (void)
{
  size_t offset = 0;

  g_assert_cmpint (sc_x509_priority_check ("NORMAL:+NO-SUCH-THING", &offset), ==, SC_CRYPTO_EINVAL);
  g_assert_cmpuint (offset, ==, strlen ("NORMAL:"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD_FX(path, fn, data) \
  g_test_add ("/tls-config/" path, Fixture, data, fixture_set_up, fn, fixture_tear_down)
  ADD_FX ("seed-example-loads", test_seed_example_loads, NULL);
  ADD_FX ("every-key-reaches-its-property", test_every_key_reaches_its_property, NULL);
  ADD_FX ("disabled-config-does-not-need-its-files", test_disabled_config_does_not_need_its_files,
          NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/tls-config/error-names-key/%s", bad_cases[i].name);

      g_test_add (path, Fixture, &bad_cases[i], fixture_set_up, test_bad_case, fixture_tear_down);
    }
  ADD_FX ("error-names-key/unreadable-key", test_unreadable_key_named, NULL);
  ADD_FX ("error/not-an-object", test_not_an_object_refused, NULL);
  ADD_FX ("error/syntax-names-file-and-line", test_syntax_error_names_file_and_line, NULL);
  ADD_FX ("error/missing-config-file-named", test_missing_config_file_named, NULL);
  ADD_FX ("embedded-section-names-prefixed-key", test_embedded_section_names_prefixed_key, NULL);
#undef ADD_FX
  g_test_add_func ("/tls-config/check-refuses-bad-properties", test_check_refuses_bad_properties);
  g_test_add_func ("/tls-config/seed-constructor-defaults", test_seed_constructor_defaults);
  g_test_add_data_func ("/tls-config/priority/min-1.2-offers-only-allowed-suites",
                        &priority_cases[0], test_priority_offers_only_allowed_suites);
  g_test_add_data_func ("/tls-config/priority/min-1.3-with-tickets-offers-only-tls13-gcm",
                        &priority_cases[1], test_priority_offers_only_allowed_suites);
  g_test_add_func ("/tls-config/priority/follows-listed-suites",
                   test_priority_follows_listed_suites);
  g_test_add_func ("/tls-config/priority/check-points-at-error",
                   test_priority_check_points_at_error);
  return g_test_run ();
}
