/* test-config.c: securecommd's JSON configuration (src/daemon/sc-daemon-config.c).
 *
 * Defaults; a file that sets every key; every class of error, each with the
 * exact message (file, JSON path, reason); the shipped example files; the
 * "tls" section and --tls-config files, read by the library's ScTlsConfig.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <libintl.h>
#include <locale.h>
#include <string.h>

#include "sc-daemon-config.h"
#include "sc-error.h"
#include "sc-limits.h"

#define FP_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FP_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* Holds server.crt, server.key, ca.crt and crl.pem (write_tls_files): the
 * folder relative TLS file names in error_cases are read from, and the one
 * the man page's examples name. */
static char *tls_files_dir;

/* A file under $SC_SOURCE_DIR (set by tests/meson.build). */
static char *
source_file (const char *relative)
{
  const char *dir = g_getenv ("SC_SOURCE_DIR");

  if (dir == NULL)
    dir = g_test_get_dir (G_TEST_DIST);
  return g_build_filename (dir, relative, NULL);
}

/* A fresh temporary folder; removed by the caller with remove_tree(). */
static char *
make_temp_dir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("sc-config-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
write_file (const char *path, const char *contents)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

/* Files with these names, in a folder of their own: the TLS checks want the
 * files a configuration names to exist (their content is checked when the
 * daemon loads them, not here). */
static void
write_tls_files (const char *dir)
{
  const char *names[] = { "server.crt", "server.key", "ca.crt", "crl.pem" };

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (dir, names[i], NULL);

      write_file (path, "not checked here\n");
    }
}

/* Removes dir and everything under it. */
static void
remove_tree (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
        remove_tree (path);
      else
        g_unlink (path);
    }
  g_rmdir (dir);
}

static void
test_defaults (void)
{
  g_autoptr (ScDaemonConfig) c = NULL;
  g_autofree char *state_dir = NULL, *key = NULL;

  g_unsetenv ("STATE_DIRECTORY");
  c = sc_daemon_config_new ();
  state_dir = g_build_filename (g_get_user_state_dir (), "securecomm", NULL);
  key = g_build_filename (state_dir, "identity.key", NULL);
  g_assert_cmpuint (g_strv_length (c->listen), ==, 1);
  g_assert_cmpstr (c->listen[0], ==, "localhost:12345");
  g_assert_cmpstr (c->state_dir, ==, state_dir);
  g_assert_cmpstr (c->identity_key, ==, key);
  g_assert_null (c->passphrase_file);
  g_assert_cmpstr (c->passphrase_env, ==, "SECURECOMMD_PASSPHRASE");
  g_assert_cmpstr (c->passphrase_credential, ==, "securecommd-passphrase");
  g_assert_cmpuint (c->workers, ==, 0);
  g_assert_cmpuint (c->heartbeat_interval_ms, ==, SC_DEFAULT_HEARTBEAT_INTERVAL_MS);
  g_assert_cmpuint (c->heartbeat_missed, ==, 3);
  g_assert_cmpuint (c->handshake_timeout_ms, ==, 10000);
  g_assert_cmpuint (c->idle_timeout_ms, ==, 0);
  g_assert_cmpuint (c->max_clients, ==, 10000);
  g_assert_cmpuint (c->max_handshakes, ==, 256);
  g_assert_cmpuint (c->max_per_source, ==, 64);
  g_assert_cmpuint (c->max_message_size, ==, 1024 * 1024);
  g_assert_cmpuint (c->rekey_after_records, ==, SC_DEFAULT_REKEY_AFTER_RECORDS);
  g_assert_cmpuint (c->rekey_after_bytes, ==, SC_DEFAULT_REKEY_AFTER_BYTES);
  g_assert_cmpuint (c->rekey_after_ms, ==, SC_DEFAULT_REKEY_AFTER_MS);
  g_assert_cmpuint (c->max_skew_ms, ==, SC_DEFAULT_MAX_SKEW_MS);
  g_assert_cmpstr (c->client_auth, ==, "optional");
  g_assert_null (c->allowed_clients);
  g_assert_false (c->log_messages);
  g_assert_nonnull (c->tls);
  g_assert_false (sc_tls_config_get_enabled (c->tls));
  g_assert_null (sc_tls_config_get_cert_path (c->tls));
  g_assert_null (sc_tls_config_get_key_path (c->tls));
  g_assert_null (sc_tls_config_get_ca_path (c->tls));
  g_assert_cmpint (sc_tls_config_get_verify_mode (c->tls), ==, SC_TLS_VERIFY_REQUIRED);
  g_assert_cmpint (sc_tls_config_get_min_version (c->tls), ==, SC_TLS_VERSION_1_2);
  g_assert_null (sc_tls_config_get_cipher_suites (c->tls));
  g_assert_null (sc_tls_config_get_crl_path (c->tls));
  g_assert_null (sc_tls_config_get_pinned_spki_sha256 (c->tls));
  g_assert_false (sc_tls_config_get_session_tickets (c->tls));
}

/* systemd's StateDirectory= sets $STATE_DIRECTORY, a colon-separated list. */
static void
test_defaults_state_directory_env (void)
{
  g_autoptr (ScDaemonConfig) c = NULL;

  g_setenv ("STATE_DIRECTORY", "/var/lib/securecomm:/var/lib/other", TRUE);
  c = sc_daemon_config_new ();
  g_unsetenv ("STATE_DIRECTORY");
  g_assert_cmpstr (c->state_dir, ==, "/var/lib/securecomm");
  g_assert_cmpstr (c->identity_key, ==, "/var/lib/securecomm/identity.key");
}

static const char full_config[] =
    "{\n"
    "  \"listen\": [\"0.0.0.0:4433\", \"[::1]:4434\", \"host.example:1\"],\n"
    "  \"state_directory\": \"state\",\n"
    "  \"identity\": {\n"
    "    \"key_file\": \"/etc/securecomm/id.key\",\n"
    "    \"passphrase_file\": \"secret/pass\",\n"
    "    \"passphrase_env\": \"MY_PASS_2\",\n"
    "    \"passphrase_credential\": \"my-cred\"\n"
    "  },\n"
    "  \"workers\": 64,\n"
    "  \"sessions\": {\n"
    "    \"heartbeat_interval_ms\": 0, \"heartbeat_missed\": 100,\n"
    "    \"handshake_timeout_ms\": 100, \"idle_timeout_ms\": 604800000,\n"
    "    \"max_clients\": 1000000, \"max_handshakes\": 1, \"max_per_source\": 2,\n"
    "    \"max_message_size\": 67108864, \"max_clock_skew_ms\": 86400000\n"
    "  },\n"
    "  \"rotation\": { \"after_records\": 16777215, \"after_bytes\": 68719460352,\n"
    "                \"after_ms\": 0 },\n"
    "  \"clients\": { \"authentication\": \"required\", \"allowed\": [\"" FP_A "\", \"" FP_B
    "\"] },\n"
    "  \"logging\": { \"message_bodies\": true },\n"
    "  \"tls\": {\n"
    "    \"enabled\": true, \"cert_path\": \"certs/server.crt\",\n"
    "    \"key_path\": \"certs/server.key\",\n"
    "    \"ca_path\": \"certs/ca.crt\", \"verify_mode\": \"CERT_OPTIONAL\",\n"
    "    \"min_version\": \"1.3\",\n"
    "    \"cipher_suites\": [\"TLS_AES_128_GCM_SHA256\", \"TLS_AES_256_GCM_SHA384\"],\n"
    "    \"pinned_spki_sha256\": [\"" FP_B "\"], \"session_tickets\": true,\n"
    "    \"crl_path\": \"../crl.pem\"\n"
    "  }\n"
    "}\n";

/* Every key set to a value that is not its default; relative file names are
 * taken from the file's folder. */
static void
test_full_file (void)
{
  g_autofree char *top = make_temp_dir ();
  g_autofree char *dir = g_build_filename (top, "etc", NULL);
  g_autofree char *certs = g_build_filename (dir, "certs", NULL);
  g_autofree char *path = g_build_filename (dir, "securecommd.json", NULL);
  g_autofree char *expect = NULL;
  const char *const suites[] = { "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", NULL };
  ScTlsConfig *tls;
  g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
  g_autoptr (GError) error = NULL;
  const char *listen[] = { "0.0.0.0:4433", "[::1]:4434", "host.example:1", NULL };
  const char *allowed[] = { FP_A, FP_B, NULL };

  write_tls_files (certs);
  write_tls_files (top); /* crl.pem */
  write_file (path, full_config);
  g_assert_true (sc_daemon_config_load_file (c, path, &error));
  g_assert_no_error (error);
  g_assert_true (g_strv_equal ((const char *const *) c->listen, listen));
  expect = g_build_filename (dir, "state", NULL);
  g_assert_cmpstr (c->state_dir, ==, expect);
  g_assert_cmpstr (c->identity_key, ==, "/etc/securecomm/id.key");
  g_clear_pointer (&expect, g_free);
  expect = g_build_filename (dir, "secret", "pass", NULL);
  g_assert_cmpstr (c->passphrase_file, ==, expect);
  g_assert_cmpstr (c->passphrase_env, ==, "MY_PASS_2");
  g_assert_cmpstr (c->passphrase_credential, ==, "my-cred");
  g_assert_cmpuint (c->workers, ==, 64);
  g_assert_cmpuint (c->heartbeat_interval_ms, ==, 0);
  g_assert_cmpuint (c->heartbeat_missed, ==, 100);
  g_assert_cmpuint (c->handshake_timeout_ms, ==, 100);
  g_assert_cmpuint (c->idle_timeout_ms, ==, 604800000);
  g_assert_cmpuint (c->max_clients, ==, 1000000);
  g_assert_cmpuint (c->max_handshakes, ==, 1);
  g_assert_cmpuint (c->max_per_source, ==, 2);
  g_assert_cmpuint (c->max_message_size, ==, SC_MAX_MESSAGE_SIZE_LIMIT);
  g_assert_cmpuint (c->max_skew_ms, ==, SC_MAX_SKEW_LIMIT_MS);
  g_assert_cmpuint (c->rekey_after_records, ==, SC_REJECT_AFTER_RECORDS - 1);
  g_assert_cmpuint (c->rekey_after_bytes, ==, SC_REJECT_AFTER_BYTES - SC_MAX_RECORD_PLAINTEXT);
  g_assert_cmpuint (c->rekey_after_ms, ==, 0);
  g_assert_cmpstr (c->client_auth, ==, "required");
  g_assert_true (g_strv_equal ((const char *const *) c->allowed_clients, allowed));
  g_assert_true (c->log_messages);
  tls = c->tls;
  g_assert_true (sc_tls_config_get_enabled (tls));
  g_clear_pointer (&expect, g_free);
  expect = g_build_filename (certs, "server.crt", NULL);
  g_assert_cmpstr (sc_tls_config_get_cert_path (tls), ==, expect);
  g_clear_pointer (&expect, g_free);
  expect = g_build_filename (certs, "server.key", NULL);
  g_assert_cmpstr (sc_tls_config_get_key_path (tls), ==, expect);
  g_clear_pointer (&expect, g_free);
  expect = g_build_filename (certs, "ca.crt", NULL);
  g_assert_cmpstr (sc_tls_config_get_ca_path (tls), ==, expect);
  g_assert_cmpint (sc_tls_config_get_verify_mode (tls), ==, SC_TLS_VERIFY_OPTIONAL);
  g_assert_cmpint (sc_tls_config_get_min_version (tls), ==, SC_TLS_VERSION_1_3);
  g_assert_true (g_strv_equal (sc_tls_config_get_cipher_suites (tls), suites));
  g_assert_cmpuint (g_strv_length ((char **) sc_tls_config_get_pinned_spki_sha256 (tls)), ==, 1);
  g_assert_cmpstr (sc_tls_config_get_pinned_spki_sha256 (tls)[0], ==, FP_B);
  g_assert_true (sc_tls_config_get_session_tickets (tls));
  g_clear_pointer (&expect, g_free);
  expect = g_build_filename (top, "crl.pem", NULL);
  g_assert_cmpstr (sc_tls_config_get_crl_path (tls), ==, expect);
  remove_tree (top);
}

/* A configuration file named by a relative path: its relative file names
 * are taken from its folder, made absolute. */
static void
test_relative_config_path (void)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *sub = g_build_filename (dir, "etc", NULL);
  g_autofree char *path = g_build_filename (sub, "securecommd.json", NULL);
  g_autofree char *cwd = g_get_current_dir ();
  g_autofree char *expect = g_build_filename (sub, "keys", "id.key", NULL);
  g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir (sub, 0700), ==, 0);
  write_file (path, "{\"identity\": {\"key_file\": \"keys/id.key\"}}");
  g_assert_cmpint (g_chdir (dir), ==, 0);
  g_assert_true (sc_daemon_config_load_file (c, "etc/securecommd.json", &error));
  g_assert_cmpint (g_chdir (cwd), ==, 0);
  g_assert_no_error (error);
  g_assert_cmpstr (c->identity_key, ==, expect);
  g_unlink (path);
  g_rmdir (sub);
  g_rmdir (dir);
}

/* Absent keys keep the values the configuration had. */
static void
test_absent_keys_keep_values (void)
{
  g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
  g_autoptr (ScDaemonConfig) before = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (sc_daemon_config_load_data (c,
                                             "{\"workers\": 4, \"sessions\": "
                                             "{\"max_clients\": 7}}",
                                             -1, "a", &error));
  g_assert_no_error (error);
  before = sc_daemon_config_copy (c);
  g_assert_true (sc_daemon_config_load_data (c, "{ }", -1, "b", &error));
  g_assert_true (
      sc_daemon_config_load_data (c, "{\"sessions\": {\"max_handshakes\": 9}}", -1, "c", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (c->workers, ==, 4);
  g_assert_cmpuint (c->max_clients, ==, 7);
  g_assert_cmpuint (c->max_handshakes, ==, 9);
  g_assert_cmpuint (c->max_per_source, ==, before->max_per_source);
  g_assert_cmpstr (c->listen[0], ==, before->listen[0]);
  g_assert_cmpstr (c->state_dir, ==, before->state_dir);
}

/* The default identity key lives in the state directory and follows it;
 * one that was set explicitly stays. */
static void
test_identity_follows_state_dir (void)
{
  g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (
      sc_daemon_config_load_data (c, "{\"state_directory\": \"/srv/sc\"}", -1, "a", &error));
  g_assert_no_error (error);
  g_assert_cmpstr (c->identity_key, ==, "/srv/sc/identity.key");
  sc_daemon_config_set_state_dir (c, "/run/sc");
  g_assert_cmpstr (c->state_dir, ==, "/run/sc");
  g_assert_cmpstr (c->identity_key, ==, "/run/sc/identity.key");
  /* Set in the same file as the state directory, even to the old default. */
  g_assert_true (sc_daemon_config_load_data (c,
                                             "{\"identity\": {\"key_file\": "
                                             "\"/run/sc/identity.key\"}, "
                                             "\"state_directory\": \"/x\"}",
                                             -1, "b", &error));
  g_assert_no_error (error);
  g_assert_cmpstr (c->identity_key, ==, "/run/sc/identity.key");
  g_assert_cmpstr (c->state_dir, ==, "/x");
  sc_daemon_config_set_state_dir (c, "/y");
  g_assert_cmpstr (c->identity_key, ==, "/run/sc/identity.key");
}

typedef struct
{
  const char *test; /* test path suffix */
  const char *json;
  const char *message; /* the exact error message, for the name "t.json" */
} ErrorCase;

static const ErrorCase error_cases[] = {
  /* Unknown keys, at every level. */
  { "unknown/root", "{\"listn\": []}", "t.json: listn: unknown key" },
  { "unknown/section", "{\"sessions\": {\"heartbeat_mised\": 3}}",
    "t.json: sessions.heartbeat_mised: unknown key" },
  { "unknown/tls", "{\"tls\": {\"enabled\": false, \"verify\": \"CERT_NONE\"}}",
    "t.json: tls.verify: unknown key" },
  { "unknown/odd-name", "{\"clients\": {\"a.b\\n\": 1}}",
    "t.json: clients[\"a.b\\n\"]: unknown key" },
  /* Numbers: type, sign, fraction, range. */
  { "range/zero", "{\"sessions\": {\"heartbeat_missed\": 0}}",
    "t.json: sessions.heartbeat_missed: must be an integer from 1 to 100 (got 0)" },
  { "range/high", "{\"sessions\": {\"heartbeat_missed\": 101}}",
    "t.json: sessions.heartbeat_missed: must be an integer from 1 to 100 (got 101)" },
  { "range/negative", "{\"sessions\": {\"max_clients\": -1}}",
    "t.json: sessions.max_clients: must be an integer from 1 to 1000000 (got -1)" },
  { "range/workers", "{\"workers\": 65}",
    "t.json: workers: must be an integer from 0 to 64 (got 65)" },
  { "range/off-or-range", "{\"sessions\": {\"heartbeat_interval_ms\": 999}}",
    "t.json: sessions.heartbeat_interval_ms: must be 0 or an integer from 1000 to 3600000 "
    "(got 999)" },
  { "range/idle", "{\"sessions\": {\"idle_timeout_ms\": 604800001}}",
    "t.json: sessions.idle_timeout_ms: must be 0 or an integer from 1000 to 604800000 "
    "(got 604800001)" },
  { "range/handshake", "{\"sessions\": {\"handshake_timeout_ms\": 99}}",
    "t.json: sessions.handshake_timeout_ms: must be an integer from 100 to 600000 (got 99)" },
  { "range/message-size", "{\"sessions\": {\"max_message_size\": 67108865}}",
    "t.json: sessions.max_message_size: must be an integer from 1 to 67108864 (got 67108865)" },
  { "range/skew", "{\"sessions\": {\"max_clock_skew_ms\": 0}}",
    "t.json: sessions.max_clock_skew_ms: must be an integer from 1000 to 86400000 (got 0)" },
  { "range/after-records", "{\"rotation\": {\"after_records\": 16777216}}",
    "t.json: rotation.after_records: must be an integer from 1 to 16777215 (got 16777216)" },
  { "range/after-bytes", "{\"rotation\": {\"after_bytes\": 68719476736}}",
    "t.json: rotation.after_bytes: must be an integer from 1 to 68719460352 (got 68719476736)" },
  { "range/after-ms", "{\"rotation\": {\"after_ms\": 86400001}}",
    "t.json: rotation.after_ms: must be 0 or an integer from 1000 to 86400000 (got 86400001)" },
  { "type/string-for-number", "{\"sessions\": {\"heartbeat_missed\": \"3\"}}",
    "t.json: sessions.heartbeat_missed: must be an integer from 1 to 100 (got \"3\")" },
  { "type/float-for-integer", "{\"sessions\": {\"heartbeat_missed\": 3.0}}",
    "t.json: sessions.heartbeat_missed: must be an integer from 1 to 100 (got 3.0)" },
  { "type/exponent-for-integer", "{\"sessions\": {\"max_clients\": 1e3}}",
    "t.json: sessions.max_clients: must be an integer from 1 to 1000000 (got 1000.0)" },
  { "type/fraction", "{\"workers\": 2.5}",
    "t.json: workers: must be an integer from 0 to 64 (got 2.5)" },
  { "type/bool-for-number", "{\"workers\": true}",
    "t.json: workers: must be an integer from 0 to 64 (got true)" },
  { "type/null-for-number", "{\"workers\": null}",
    "t.json: workers: must be an integer from 0 to 64 (got null)" },
  { "type/number-for-bool", "{\"logging\": {\"message_bodies\": 1}}",
    "t.json: logging.message_bodies: must be true or false (got 1)" },
  { "type/string-for-bool", "{\"tls\": {\"enabled\": \"true\"}}",
    "t.json: tls.enabled: must be true or false (got \"true\")" },
  { "type/tls-not-object", "{\"tls\": [\"enabled\"]}",
    "t.json: tls: must be an object (got an array)" },
  { "type/number-for-string", "{\"state_directory\": 5}",
    "t.json: state_directory: must be a string (got 5)" },
  { "type/null-for-string", "{\"identity\": {\"passphrase_file\": null}}",
    "t.json: identity.passphrase_file: must be a string (got null)" },
  { "type/array-for-section", "{\"sessions\": []}",
    "t.json: sessions: must be an object (got an array)" },
  { "type/string-for-array", "{\"listen\": \"localhost:1\"}",
    "t.json: listen: must be an array of strings (got \"localhost:1\")" },
  { "type/object-in-array", "{\"listen\": [\"localhost:1\", {}]}",
    "t.json: listen[1]: must be a string (got an object)" },
  { "type/empty-array", "{\"clients\": {\"allowed\": []}}",
    "t.json: clients.allowed: must not be an empty array (leave the key out for the default)" },
  { "type/empty-string", "{\"state_directory\": \"\"}",
    "t.json: state_directory: must not be empty" },
  /* Listen addresses. */
  { "listen/no-port", "{\"listen\": [\"localhost\"]}",
    "t.json: listen[0]: must be host:port or [IPv6 address]:port with a port from 1 to 65535 "
    "(got \"localhost\")" },
  { "listen/port-0", "{\"listen\": [\"localhost:0\"]}",
    "t.json: listen[0]: must be host:port or [IPv6 address]:port with a port from 1 to 65535 "
    "(got \"localhost:0\")" },
  { "listen/port-65536", "{\"listen\": [\"localhost:1\", \"localhost:65536\"]}",
    "t.json: listen[1]: must be host:port or [IPv6 address]:port with a port from 1 to 65535 "
    "(got \"localhost:65536\")" },
  { "listen/service-name", "{\"listen\": [\"localhost:http\"]}",
    "t.json: listen[0]: must be host:port or [IPv6 address]:port with a port from 1 to 65535 "
    "(got \"localhost:http\")" },
  { "listen/no-host", "{\"listen\": [\":80\"]}",
    "t.json: listen[0]: must be host:port or [IPv6 address]:port with a port from 1 to 65535 "
    "(got \":80\")" },
  { "listen/bad-host", "{\"listen\": [\"a b:80\"]}",
    "t.json: listen[0]: must be host:port or [IPv6 address]:port with a port from 1 to 65535 "
    "(got \"a b:80\")" },
  { "listen/bracketed-name", "{\"listen\": [\"[localhost]:80\"]}",
    "t.json: listen[0]: must be host:port or [IPv6 address]:port with a port from 1 to 65535 "
    "(got \"[localhost]:80\")" },
  { "listen/ipv6-without-brackets", "{\"listen\": [\"::1:80\"]}",
    "t.json: listen[0]: an IPv6 address needs brackets, as in [::1]:12345 (got \"::1:80\")" },
  /* Fingerprints and names. */
  { "fingerprint/uppercase",
    "{\"clients\": {\"authentication\": \"required\", \"allowed\": [\"" FP_A "\", \""
    "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"
    "\"]}}",
    "t.json: clients.allowed[1]: must be a SHA-256 fingerprint: 64 lowercase hexadecimal digits "
    "(got \"ABCDEF0123456789ABCDEF0123456789ABCDEF01\"…)" },
  { "fingerprint/short", "{\"tls\": {\"pinned_spki_sha256\": [\"abc\"]}}",
    "t.json: tls.pinned_spki_sha256[0]: must be a SHA-256 fingerprint: 64 lowercase "
    "hexadecimal digits (got \"abc\")" },
  { "choice/authentication", "{\"clients\": {\"authentication\": \"maybe\"}}",
    "t.json: clients.authentication: must be \"none\", \"optional\" or \"required\" "
    "(got \"maybe\")" },
  { "choice/verify-mode", "{\"tls\": {\"verify_mode\": \"cert_none\"}}",
    "t.json: tls.verify_mode: must be \"CERT_NONE\", \"CERT_OPTIONAL\" or \"CERT_REQUIRED\" "
    "(got \"cert_none\")" },
  { "choice/min-version", "{\"tls\": {\"min_version\": \"1.1\"}}",
    "t.json: tls.min_version: must be \"1.2\" or \"1.3\" (got \"1.1\")" },
  { "name/env", "{\"identity\": {\"passphrase_env\": \"1PASS\"}}",
    "t.json: identity.passphrase_env: must be an environment variable name: letters, digits "
    "and _, not starting with a digit (got \"1PASS\")" },
  { "name/credential", "{\"identity\": {\"passphrase_credential\": \"../x\"}}",
    "t.json: identity.passphrase_credential: must be a credential name: a file name without "
    "“/” (got \"../x\")" },
  /* Duplicate keys, which json-glib would drop silently. */
  { "duplicate/root", "{\"workers\": 1, \"listen\": [\"a:1\"], \"workers\": 2}",
    "t.json: workers: duplicate key" },
  { "duplicate/section", "{\"sessions\": {\"max_clients\": 1, \"max_clients\": 1}}",
    "t.json: sessions.max_clients: duplicate key" },
  { "duplicate/whole-section", "{\"tls\": {}, \"logging\": {}, \"tls\": {}}",
    "t.json: tls: duplicate key" },
  { "duplicate/inside-replaced-section",
    "{\"tls\": {\"enabled\": false, \"enabled\": true}, \"tls\": {}}",
    "t.json: tls: duplicate key" },
  /* The top level. */
  { "root/array", "[]", "t.json: the top level must be a JSON object (got an array)" },
  { "root/number", "5", "t.json: the top level must be a JSON object (got 5)" },
  { "root/string", "\"x\"", "t.json: the top level must be a JSON object (got \"x\")" },
  { "root/empty", "", "t.json: the top level must be a JSON object (got an empty document)" },
  { "root/blank", " \n ", "t.json: the top level must be a JSON object (got an empty document)" },
  /* Syntax that json-glib would accept but JSON does not. */
  { "syntax/block-comment", "{\"workers\": 1 /* x */}",
    "t.json:1:15: comments are not allowed in JSON" },
  { "syntax/line-comment", "{\n  // x\n  \"workers\": 1\n}",
    "t.json:2:3: comments are not allowed in JSON" },
  { "syntax/hash-comment", "{\n\t# x\n}", "t.json:2:2: comments are not allowed in JSON" },
  { "syntax/single-quotes", "{'workers': 1}",
    "t.json:1:2: single-quoted strings are not allowed in JSON" },
  { "syntax/hex", "{\"workers\": 0x10}", "t.json:1:13: malformed number" },
  { "syntax/leading-zero", "{\"workers\": 01}", "t.json:1:13: malformed number" },
  { "syntax/leading-dot", "{\"workers\": .5}", "t.json:1:13: unexpected character U+002E" },
  { "syntax/trailing-dot", "{\"workers\": 1.}", "t.json:1:13: malformed number" },
  { "syntax/plus", "{\"workers\": +1}", "t.json:1:13: unexpected character U+002B" },
  { "syntax/int-too-large", "{\"rotation\": {\"after_bytes\": 18446744073709551616}}",
    "t.json:1:30: integer out of range" },
  { "syntax/int-wraps-to-1", "{\"workers\": -18446744073709551615}",
    "t.json:1:13: integer out of range" },
  { "syntax/nan", "{\"workers\": NaN}",
    "t.json:1:13: unexpected word “NaN” (only true, false and null are allowed)" },
  { "syntax/nul-escape", "{\"state_directory\": \"/a\\u0000b\"}",
    "t.json:1:24: \\u0000 is not allowed in a string" },
  { "syntax/lone-surrogate", "{\"state_directory\": \"\\udc00\"}",
    "t.json:1:22: unpaired UTF-16 surrogate in a string" },
  { "syntax/high-surrogate-alone", "{\"state_directory\": \"\\ud800x\"}",
    "t.json:1:22: unpaired UTF-16 surrogate in a string" },
  { "syntax/bad-escape", "{\"state_directory\": \"\\q\"}",
    "t.json:1:22: invalid escape sequence in a string" },
  { "syntax/raw-tab", "{\"state_directory\": \"a\tb\"}",
    "t.json:1:23: control character in a string (write it as an escape such as \\n)" },
  { "syntax/unterminated", "{\"state_directory\": \"abc", "t.json:1:21: unterminated string" },
  { "syntax/second-document", "{\"workers\": 1}\n{\"workers\": 2}",
    "t.json:2:1: more data after the end of the JSON document" },
  { "syntax/invalid-utf8", "{\"state_directory\": \"\xff\"}", "t.json:1:22: not valid UTF-8" },
  { "syntax/bom", "\xef\xbb\xbf{}", "t.json:1:1: unexpected character U+FEFF" },
  { "syntax/non-ascii-letter", "{\n  \"workers\": \xc5\x81}",
    "t.json:2:14: unexpected character U+0141" },
  { "syntax/invalid-utf8-in-string-line-3", "{\n\n \"state_directory\": \"ok\xc3\x28\"}",
    "t.json:3:24: not valid UTF-8" },
  { "syntax/too-deep", "{\"a\": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}",
    "t.json:1:22: nested deeper than 16 levels" },
  /* Checks across keys. */
  { "cross/allowed-needs-required", "{\"clients\": {\"allowed\": [\"" FP_A "\"]}}",
    "t.json: clients.allowed: needs clients.authentication \"required\": with \"optional\", "
    "clients without an identity would bypass the list" },
  /* The "tls" section: the library's checks (sc-tls-config.c), then the
   * server's. Run in a folder holding server.crt, server.key and ca.crt. */
  { "tls/raw-priority-refused", "{\"tls\": {\"priority\": \"NORMAL:+VERS-TLS1.0\"}}",
    "t.json: tls.priority: unknown key" },
  { "tls/unknown-suite",
    "{\"tls\": {\"cipher_suites\": [\"TLS_AES_256_GCM_SHA384\", \"ECDHE-RSA-AES128-SHA\"]}}",
    "t.json: tls.cipher_suites[1]: must be one of \"TLS_AES_256_GCM_SHA384\", "
    "\"TLS_AES_128_GCM_SHA256\", \"ECDHE-ECDSA-AES256-GCM-SHA384\" or "
    "\"ECDHE-RSA-AES256-GCM-SHA384\" (got \"ECDHE-RSA-AES128-SHA\")" },
  { "tls/priority-string-as-suite", "{\"tls\": {\"cipher_suites\": [\"NORMAL:+ARCFOUR-128\"]}}",
    "t.json: tls.cipher_suites[0]: must be one of \"TLS_AES_256_GCM_SHA384\", "
    "\"TLS_AES_128_GCM_SHA256\", \"ECDHE-ECDSA-AES256-GCM-SHA384\" or "
    "\"ECDHE-RSA-AES256-GCM-SHA384\" (got \"NORMAL:+ARCFOUR-128\")" },
  { "tls/tls12-suite-with-min-1.3",
    "{\"tls\": {\"min_version\": \"1.3\", \"cipher_suites\": [\"TLS_AES_256_GCM_SHA384\", "
    "\"ECDHE-RSA-AES256-GCM-SHA384\"]}}",
    "t.json: tls.cipher_suites[1]: \"ECDHE-RSA-AES256-GCM-SHA384\" is a TLS 1.2 suite, but "
    "tls.min_version is \"1.3\"" },
  { "tls/empty-suites", "{\"tls\": {\"cipher_suites\": []}}",
    "t.json: tls.cipher_suites: must not be an empty array (leave the key out for the default)" },
  { "tls/missing-file",
    "{\"tls\": {\"enabled\": true, \"cert_path\": \"absent.crt\", \"key_path\": "
    "\"server.key\", \"ca_path\": \"ca.crt\"}}",
    "t.json: tls.cert_path: cannot read absent.crt: No such file or directory" },
  { "tls/missing-file-only-when-enabled",
    "{\"tls\": {\"enabled\": true, \"cert_path\": \"server.crt\", \"key_path\": "
    "\"server.key\", \"ca_path\": \"absent-ca.crt\"}}",
    "t.json: tls.ca_path: cannot read absent-ca.crt: No such file or directory" },
  { "tls/cert-needs-key", "{\"tls\": {\"enabled\": true, \"cert_path\": \"server.crt\"}}",
    "t.json: tls.key_path: must be set with tls.cert_path" },
  { "tls/key-needs-cert", "{\"tls\": {\"enabled\": true, \"key_path\": \"server.key\"}}",
    "t.json: tls.cert_path: must be set with tls.key_path" },
  { "tls/crl-needs-ca",
    "{\"tls\": {\"enabled\": true, \"cert_path\": \"server.crt\", \"key_path\": "
    "\"server.key\", \"crl_path\": \"server.crt\", \"verify_mode\": \"CERT_NONE\"}}",
    "t.json: tls.crl_path: needs tls.ca_path: the CRL is checked against the CA that signed it" },
  { "tls/empty-path", "{\"tls\": {\"cert_path\": \"\"}}",
    "t.json: tls.cert_path: must not be empty" },
  { "cross/tls-needs-cert", "{\"tls\": {\"enabled\": true}}",
    "t.json: tls.cert_path: must be set when tls.enabled is true" },
  { "cross/tls-verify-needs-ca",
    "{\"tls\": {\"enabled\": true, \"cert_path\": \"server.crt\", "
    "\"key_path\": \"server.key\"}}",
    "t.json: tls.verify_mode: CERT_REQUIRED needs tls.ca_path or tls.pinned_spki_sha256 to check "
    "client certificates against" },
  { "cross/tls-optional-needs-ca",
    "{\"tls\": {\"enabled\": true, \"cert_path\": \"server.crt\", "
    "\"key_path\": \"server.key\", \"verify_mode\": \"CERT_OPTIONAL\"}}",
    "t.json: tls.verify_mode: CERT_OPTIONAL needs tls.ca_path or tls.pinned_spki_sha256 to check "
    "client certificates against" },
};

/* Each error: SC_ERROR_CONFIG, the exact message, and the configuration
 * untouched (the loader works on a copy). */
static void
test_error (gconstpointer data)
{
  const ErrorCase *tc = data;
  g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *cwd = g_get_current_dir ();
  ScTlsConfig *tls = c->tls;
  gboolean ok;

  c->workers = 3;
  g_assert_cmpint (g_chdir (tls_files_dir), ==, 0);
  ok = sc_daemon_config_load_data (c, tc->json, -1, "t.json", &error);
  g_assert_cmpint (g_chdir (cwd), ==, 0);
  g_assert_false (ok);
  g_assert_error (error, SC_ERROR, SC_ERROR_CONFIG);
  g_assert_cmpstr (error->message, ==, tc->message);
  g_assert_cmpuint (c->workers, ==, 3);
  g_assert_true (c->tls == tls);
}

/* json-glib's own syntax errors carry our name and a position. */
static void
test_error_json_syntax (void)
{
  const char *cases[] = { "{\"workers\": 1,}", "{\"workers\" 1}", "{\"listen\": [\"a:1\",]}", "{",
                          "{\"workers\": 1}}" };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
      g_autoptr (GError) error = NULL;

      g_assert_false (sc_daemon_config_load_data (c, cases[i], -1, "t.json", &error));
      g_assert_error (error, SC_ERROR, SC_ERROR_CONFIG);
      g_test_message ("%s -> %s", cases[i], error->message);
      g_assert_true (g_str_has_prefix (error->message, "t.json:1:"));
    }
}

/* A bad file leaves every field as it was: a failed SIGHUP reload keeps
 * the running configuration. */
static void
test_error_leaves_config_unchanged (void)
{
  g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
  g_autoptr (GError) error = NULL;

  g_assert_false (sc_daemon_config_load_data (c,
                                              "{\"listen\": [\"a:1\"], \"state_directory\": "
                                              "\"/z\", \"sessions\": {\"max_clients\": 5, "
                                              "\"max_handshakes\": 0}}",
                                              -1, "t", &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_CONFIG);
  g_assert_cmpstr (c->listen[0], ==, "localhost:12345");
  g_assert_cmpuint (c->max_clients, ==, 10000);
  g_assert_true (g_str_has_suffix (c->state_dir, "/securecomm"));
}

static void
test_missing_file (void)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *path = g_build_filename (dir, "absent.json", NULL);
  g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
  g_autoptr (GError) error = NULL;

  g_assert_false (sc_daemon_config_load_file (c, path, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, path));
  g_rmdir (dir);
}

/* Errors in a file name the file. */
static void
test_file_error_names_file (void)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *path = g_build_filename (dir, "securecommd.json", NULL);
  g_autofree char *expect = NULL;
  g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
  g_autoptr (GError) error = NULL;

  write_file (path, "{\n  \"sessions\": {\n    \"heartbeat_missed\": 0\n  }\n}\n");
  g_assert_false (sc_daemon_config_load_file (c, path, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_CONFIG);
  expect = g_strdup_printf ("%s: sessions.heartbeat_missed: must be an integer from 1 to 100 "
                            "(got 0)",
                            path);
  g_assert_cmpstr (error->message, ==, expect);
  g_unlink (path);
  g_rmdir (dir);
}

static void
assert_numbers_equal (const ScDaemonConfig *a, const ScDaemonConfig *b)
{
  g_assert_cmpuint (a->workers, ==, b->workers);
  g_assert_cmpuint (a->heartbeat_interval_ms, ==, b->heartbeat_interval_ms);
  g_assert_cmpuint (a->heartbeat_missed, ==, b->heartbeat_missed);
  g_assert_cmpuint (a->handshake_timeout_ms, ==, b->handshake_timeout_ms);
  g_assert_cmpuint (a->idle_timeout_ms, ==, b->idle_timeout_ms);
  g_assert_cmpuint (a->max_clients, ==, b->max_clients);
  g_assert_cmpuint (a->max_handshakes, ==, b->max_handshakes);
  g_assert_cmpuint (a->max_per_source, ==, b->max_per_source);
  g_assert_cmpuint (a->max_message_size, ==, b->max_message_size);
  g_assert_cmpuint (a->rekey_after_records, ==, b->rekey_after_records);
  g_assert_cmpuint (a->rekey_after_bytes, ==, b->rekey_after_bytes);
  g_assert_cmpuint (a->rekey_after_ms, ==, b->rekey_after_ms);
  g_assert_cmpuint (a->max_skew_ms, ==, b->max_skew_ms);
}

/* data/securecommd.example.json loads and spells out the defaults. */
static void
test_example_config (void)
{
  g_autofree char *path = source_file ("data/securecommd.example.json");
  g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
  g_autoptr (ScDaemonConfig) defaults = sc_daemon_config_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (sc_daemon_config_load_file (c, path, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (c->state_dir, ==, "/var/lib/securecomm");
  g_assert_cmpstr (c->identity_key, ==, "/var/lib/securecomm/identity.key");
  /* Everything else as sc_daemon_config_new() has it. */
  sc_daemon_config_set_state_dir (defaults, "/var/lib/securecomm");
  g_assert_true (
      g_strv_equal ((const char *const *) c->listen, (const char *const *) defaults->listen));
  g_assert_cmpstr (c->passphrase_env, ==, defaults->passphrase_env);
  g_assert_cmpstr (c->passphrase_credential, ==, defaults->passphrase_credential);
  g_assert_null (c->passphrase_file);
  assert_numbers_equal (c, defaults);
  g_assert_cmpstr (c->client_auth, ==, defaults->client_auth);
  g_assert_null (c->allowed_clients);
  g_assert_false (c->log_messages);
  g_assert_false (sc_tls_config_get_enabled (c->tls));
  g_assert_cmpint (sc_tls_config_get_verify_mode (c->tls), ==,
                   sc_tls_config_get_verify_mode (defaults->tls));
  g_assert_cmpint (sc_tls_config_get_min_version (c->tls), ==,
                   sc_tls_config_get_min_version (defaults->tls));
  g_assert_null (sc_tls_config_get_cipher_suites (c->tls));
  g_assert_false (sc_tls_config_get_session_tickets (c->tls));
}

/* data/tls_config.example.json, the seed's format, is a valid "tls" section,
 * both as given (relative paths kept, read from the working folder) and
 * from a file (taken from its folder), and a valid --tls-config file. */
static void
test_seed_tls_section (void)
{
  g_autofree char *seed_path = source_file ("data/tls_config.example.json");
  g_autofree char *seed = NULL, *json = NULL, *expect = NULL;
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *certs = g_build_filename (dir, "test_certs", NULL);
  g_autofree char *path = g_build_filename (dir, "securecommd.json", NULL);
  g_autofree char *cwd = g_get_current_dir ();
  g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
  g_autoptr (ScDaemonConfig) f = sc_daemon_config_new ();
  g_autoptr (GError) error = NULL;
  gboolean ok;

  g_file_get_contents (seed_path, &seed, NULL, &error);
  g_assert_no_error (error);
  write_tls_files (certs);
  json = g_strdup_printf ("{\"tls\": %s}", seed);
  g_assert_cmpint (g_chdir (dir), ==, 0);
  ok = sc_daemon_config_load_data (c, json, -1, "seed", &error);
  g_assert_cmpint (g_chdir (cwd), ==, 0);
  g_assert_no_error (error);
  g_assert_true (ok);
  g_assert_true (sc_tls_config_get_enabled (c->tls));
  g_assert_cmpstr (sc_tls_config_get_cert_path (c->tls), ==, "test_certs/server.crt");
  g_assert_cmpstr (sc_tls_config_get_key_path (c->tls), ==, "test_certs/server.key");
  g_assert_cmpstr (sc_tls_config_get_ca_path (c->tls), ==, "test_certs/ca.crt");
  g_assert_cmpint (sc_tls_config_get_verify_mode (c->tls), ==, SC_TLS_VERIFY_REQUIRED);
  write_file (path, json);
  g_assert_true (sc_daemon_config_load_file (f, path, &error));
  g_assert_no_error (error);
  expect = g_build_filename (certs, "server.key", NULL);
  g_assert_cmpstr (sc_tls_config_get_key_path (f->tls), ==, expect);
  /* The seed's file itself, as --tls-config reads it. */
  write_file (path, seed);
  g_clear_pointer (&f, sc_daemon_config_free);
  f = sc_daemon_config_new ();
  g_assert_true (sc_daemon_config_load_tls_file (f, path, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (sc_tls_config_get_key_path (f->tls), ==, expect);
  remove_tree (dir);
}

/* securecommd --tls-config FILE: the keys at the top level, errors that
 * name the file and the key without "tls.", and a failed load that leaves
 * the configuration's TLS settings as they were. */
static void
test_tls_file (void)
{
  g_autofree char *dir = make_temp_dir ();
  g_autofree char *path = g_build_filename (dir, "tls_config.json", NULL);
  g_autofree char *expect = NULL;
  g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
  g_autoptr (GError) error = NULL;
  ScTlsConfig *before;
  const struct
  {
    const char *json, *message; /* message after "PATH: " */
  } bad[] = {
    { "{\"enabled\": true}", "cert_path: must be set when enabled is true" },
    { "{\"enabled\": true, \"cert_path\": \"server.crt\", \"key_path\": \"server.key\"}",
      "verify_mode: CERT_REQUIRED needs ca_path or pinned_spki_sha256 to check client "
      "certificates against" },
    { "{\"priority\": \"NORMAL\"}", "priority: unknown key" },
    { "{\"tls\": {\"enabled\": true}}", "tls: unknown key" },
    { "{\"enabled\": true, \"enabled\": false}", "enabled: duplicate key" },
  };

  write_tls_files (dir);
  write_file (path, "{\"enabled\": true, \"cert_path\": \"server.crt\", \"key_path\": "
                    "\"server.key\", \"ca_path\": \"ca.crt\", \"min_version\": \"1.3\"}");
  g_assert_true (sc_daemon_config_load_tls_file (c, path, &error));
  g_assert_no_error (error);
  g_assert_true (sc_tls_config_get_enabled (c->tls));
  g_assert_cmpint (sc_tls_config_get_min_version (c->tls), ==, SC_TLS_VERSION_1_3);
  expect = g_build_filename (dir, "ca.crt", NULL);
  g_assert_cmpstr (sc_tls_config_get_ca_path (c->tls), ==, expect);
  before = c->tls;
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *message = g_strdup_printf ("%s: %s", path, bad[i].message);

      write_file (path, bad[i].json);
      g_assert_false (sc_daemon_config_load_tls_file (c, path, &error));
      g_assert_error (error, SC_ERROR, SC_ERROR_CONFIG);
      g_assert_cmpstr (error->message, ==, message);
      g_assert_true (c->tls == before);
      g_clear_error (&error);
    }
  remove_tree (dir);
}

/* A "tls" section replaces the TLS settings as a whole (the library reads
 * it as one ScTlsConfig), while a file without one keeps them. */
static void
test_tls_section_replaces_whole (void)
{
  g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (
      sc_daemon_config_load_data (c, "{\"tls\": {\"min_version\": \"1.3\"}}", -1, "a", &error));
  g_assert_no_error (error);
  g_assert_cmpint (sc_tls_config_get_min_version (c->tls), ==, SC_TLS_VERSION_1_3);
  g_assert_true (sc_daemon_config_load_data (c, "{\"workers\": 2}", -1, "b", &error));
  g_assert_cmpint (sc_tls_config_get_min_version (c->tls), ==, SC_TLS_VERSION_1_3);
  g_assert_true (
      sc_daemon_config_load_data (c, "{\"tls\": {\"session_tickets\": true}}", -1, "c", &error));
  g_assert_no_error (error);
  g_assert_cmpint (sc_tls_config_get_min_version (c->tls), ==, SC_TLS_VERSION_1_2);
  g_assert_true (sc_tls_config_get_session_tickets (c->tls));
}

/* Every JSON example in securecommd.json(5) (an .EX/.EE block that starts
 * with "{") is a valid configuration; the TLS files it names in
 * @sysconfdir@/securecomm/tls are read from tls_files_dir. */
static void
test_man_page_examples (void)
{
  g_autofree char *path = source_file ("docs/securecommd.json.5.in");
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) blocks = NULL;
  guint n = 0;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  blocks = g_strsplit (text, "\n.EX\n", -1);
  for (guint i = 1; blocks[i] != NULL; i++)
    {
      g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
      g_autoptr (GString) json = NULL;
      char *end = strstr (blocks[i], "\n.EE\n");

      g_assert_nonnull (end);
      if (blocks[i][0] != '{')
        continue;
      json = g_string_new_len (blocks[i], end - blocks[i]);
      g_string_replace (json, "\\-", "-", 0); /* troff's minus sign */
      g_string_replace (json, "@sysconfdir@/securecomm/tls", tls_files_dir, 0);
      g_assert_true (sc_daemon_config_load_data (c, json->str, -1, "man page example", &error));
      g_assert_no_error (error);
      n++;
    }
  g_assert_cmpuint (n, ==, 3);
}

/* A copy shares nothing with its original. */
static void
test_copy (void)
{
  g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
  g_autoptr (ScDaemonConfig) copy = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (sc_daemon_config_load_data (c,
                                             "{\"tls\": {\"crl_path\": \"/c\", "
                                             "\"pinned_spki_sha256\": [\"" FP_A "\"]}}",
                                             -1, "t", &error));
  g_assert_no_error (error);
  copy = sc_daemon_config_copy (c);
  g_assert_true (copy->listen != c->listen && copy->state_dir != c->state_dir);
  /* The TLS settings are an immutable object: shared, with a reference. */
  g_assert_true (copy->tls == c->tls);
  g_clear_pointer (&c, sc_daemon_config_free);
  g_assert_cmpstr (copy->listen[0], ==, "localhost:12345");
  g_assert_cmpstr (sc_tls_config_get_crl_path (copy->tls), ==, "/c");
  g_assert_cmpstr (sc_tls_config_get_pinned_spki_sha256 (copy->tls)[0], ==, FP_A);
  sc_daemon_config_free (NULL);
}

/* The German catalogue that po/ builds (<build>/po/de/LC_MESSAGES), when
 * the C library honours $LANGUAGE under C.UTF-8. */
static void
test_translation (void)
{
  g_autofree char *locale_dir = g_test_build_filename (G_TEST_BUILT, "..", "..", "po", NULL);
  g_autofree char *mo = g_build_filename (locale_dir, "de", "LC_MESSAGES", GETTEXT_PACKAGE ".mo",
                                          NULL);
  g_autoptr (ScDaemonConfig) c = sc_daemon_config_new ();
  g_autoptr (GError) error = NULL;

  if (!g_file_test (mo, G_FILE_TEST_EXISTS) || setlocale (LC_ALL, "C.UTF-8") == NULL)
    {
      g_test_skip ("no German catalogue built, or no C.UTF-8 locale");
      return;
    }
  bindtextdomain (GETTEXT_PACKAGE, locale_dir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  g_setenv ("LANGUAGE", "de", TRUE);
  g_assert_false (sc_daemon_config_load_data (c, "{\"sessions\": {\"heartbeat_missed\": 0}}", -1,
                                              "t.json", &error));
  g_unsetenv ("LANGUAGE");
  setlocale (LC_ALL, "C");
  g_assert_cmpstr (error->message, ==,
                   "t.json: sessions.heartbeat_missed: muss eine ganze Zahl "
                   "von 1 bis 100 sein (angegeben: 0)");
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  tls_files_dir = make_temp_dir ();
  write_tls_files (tls_files_dir);
  g_test_add_func ("/config/defaults", test_defaults);
  g_test_add_func ("/config/defaults/state-directory-env", test_defaults_state_directory_env);
  g_test_add_func ("/config/full-file", test_full_file);
  g_test_add_func ("/config/relative-config-path", test_relative_config_path);
  g_test_add_func ("/config/absent-keys-keep-values", test_absent_keys_keep_values);
  g_test_add_func ("/config/identity-follows-state-dir", test_identity_follows_state_dir);
  for (gsize i = 0; i < G_N_ELEMENTS (error_cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("/config/error/%s", error_cases[i].test);

      g_test_add_data_func (name, &error_cases[i], test_error);
    }
  g_test_add_func ("/config/error/json-glib-syntax", test_error_json_syntax);
  g_test_add_func ("/config/error/leaves-config-unchanged", test_error_leaves_config_unchanged);
  g_test_add_func ("/config/error/missing-file", test_missing_file);
  g_test_add_func ("/config/error/names-file", test_file_error_names_file);
  g_test_add_func ("/config/example-config-loads", test_example_config);
  g_test_add_func ("/config/seed-tls-config-is-tls-section", test_seed_tls_section);
  g_test_add_func ("/config/tls-config-file", test_tls_file);
  g_test_add_func ("/config/tls-section-replaces-whole", test_tls_section_replaces_whole);
  g_test_add_func ("/config/man-page-examples-load", test_man_page_examples);
  g_test_add_func ("/config/copy-is-deep", test_copy);
  g_test_add_func ("/config/translation/de", test_translation);
  ret = g_test_run ();
  remove_tree (tls_files_dir);
  g_free (tls_files_dir);
  return ret;
}
