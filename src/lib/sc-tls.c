/* sc-tls.c: TLS mode over GIO's GTlsConnection (see sc-tls.h).
 *
 * What GIO and glib-networking 2.74 (GnuTLS backend) do, and what this file
 * adds:
 * - Chain and host name: GIO verifies the peer's chain against the
 *   connection's GTlsDatabase and, on a client, the server identity.
 *   Anything it does not accept reaches "accept-certificate", where this
 *   file accepts only what the configuration allows (pins standing in for a
 *   missing ca_path; a client with CERT_NONE).
 * - Trust database: a GTlsConnection left with the default database loads
 *   the whole system CA bundle for every connection (measured: 13.7 ms of
 *   CPU for each server connection on this machine, against 0.03 ms with no
 *   database and 0.12 ms with a GTlsFileDatabase). So the context builds the
 *   ca_path database once and every connection gets it, or NULL when nothing
 *   is verified, at construction (set later, GIO would already have loaded
 *   the default one). Only a client without ca_path uses the system store.
 * - Revocation, pins, version and suite policy: GIO has no hook that runs for
 *   a certificate it accepts, and no per-connection version or suite
 *   setting, so these are checked right after the handshake
 *   (check_established); a connection that fails them is refused before any
 *   application data is read.
 * - Versions, suites, groups and tickets for the handshake itself come from
 *   the process-wide GnuTLS priority string (sc_tls_setup_process).
 *   Session tickets, per connection: glib-networking's server never calls
 *   gnutls_session_ticket_enable_server(), so a GIO server issues no tickets
 *   at all (checked: `gnutls-cli --resume` against it makes two full
 *   handshakes); its client resumes with tickets a server sends (outside
 *   test programs: it skips resumption under g_test_init). The only switch
 *   is "%NO_TICKETS" in the priority string, i.e. process-wide.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-tls.h"

#include <string.h>

#include "sc-error.h"
#include "sc-identity-private.h"
#include "sc-limits.h"
#include "sc-x509.h"

/* glib-networking's GnuTLS connection class: its class_init reads the
 * priority variable (initialize_gnutls_priority in gtlsconnection-gnutls.c). */
#define GNUTLS_CONNECTION_TYPE_NAME "GTlsConnectionGnutls"

/* Groups offered: the elliptic curves only (no finite-field groups on
 * TLS 1.3), as issue 5 asks for no weak groups. */
#define PRIORITY_GROUPS \
  ":-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1"
/* No SHA-1 signatures in the handshake; the server picks the suite. */
#define PRIORITY_TAIL ":-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:%SERVER_PRECEDENCE"

/* Sets an SC_ERROR error; returns FALSE. */
static gboolean fail (GError **error, ScError code, const char *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
fail (GError **error, ScError code, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_propagate_error (error, g_error_new_valist (SC_ERROR, code, format, args));
  va_end (args);
  return FALSE;
}

/* --- Cipher suites ------------------------------------------------------ */

static const ScTlsSuite suites[] = {
  { "TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", SC_TLS_VERSION_1_3, NULL, "AES-256-GCM" },
  { "TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", SC_TLS_VERSION_1_3, NULL, "AES-128-GCM" },
  { "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", SC_TLS_VERSION_1_2,
    "ECDHE-ECDSA", "AES-256-GCM" },
  { "ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", SC_TLS_VERSION_1_2,
    "ECDHE-RSA", "AES-256-GCM" },
};

/**
 * sc_tls_suite_lookup: (skip)
 * @name: a suite name, as the configuration writes it or as IANA does
 *
 * Returns: (nullable): the allowed suite of that name, or %NULL
 */
const ScTlsSuite *
sc_tls_suite_lookup (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (suites); i++)
    if (g_strcmp0 (name, suites[i].name) == 0 || g_strcmp0 (name, suites[i].iana) == 0)
      return &suites[i];
  return NULL;
}

/**
 * sc_tls_default_suites: (skip)
 * @min_version: the oldest version allowed
 *
 * The suites allowed when the configuration lists none: every suite of
 * issue 5 that a GnuTLS priority string can allow exactly (AES-128-GCM only
 * when TLS 1.2 is off; see check_suite in sc-tls-config.c).
 *
 * Returns: (transfer none): the suite names, most preferred first
 */
const char *const *
sc_tls_default_suites (ScTlsVersion min_version)
{
  static const char *const tls12[] = { "TLS_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384",
                                       "ECDHE-RSA-AES256-GCM-SHA384", NULL };
  static const char *const tls13[] = { "TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", NULL };

  return min_version == SC_TLS_VERSION_1_3 ? tls13 : tls12;
}

/**
 * sc_tls_suite_names: (skip)
 *
 * Returns: (transfer full): the allowed suite names for a message:
 *   "A", "B", "C" or "D"
 */
char *
sc_tls_suite_names (void)
{
  GString *s = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (suites); i++)
    g_string_append_printf (s, "%s\"%s\"",
                            i == 0                          ? ""
                            : i + 1 < G_N_ELEMENTS (suites) ? ", "
                                                            : " or ",
                            suites[i].name);
  return g_string_free (s, FALSE);
}

static const char *const *
config_suites (ScTlsConfig *config)
{
  const char *const *listed = sc_tls_config_get_cipher_suites (config);

  return listed != NULL ? listed : sc_tls_default_suites (sc_tls_config_get_min_version (config));
}

/* --- The process-wide priority string ------------------------------------ */

/* Appends ":+KEYWORD" once for each distinct keyword that pick() gives. */
static void
append_keywords (GString *p, const char *const *names, const char *(*pick) (const ScTlsSuite *) )
{
  g_autoptr (GPtrArray) done = g_ptr_array_new ();

  for (guint i = 0; names[i] != NULL; i++)
    {
      const ScTlsSuite *suite = sc_tls_suite_lookup (names[i]);
      const char *keyword = suite != NULL ? pick (suite) : NULL;

      if (keyword == NULL || g_ptr_array_find_with_equal_func (done, keyword, g_str_equal, NULL))
        continue;
      g_ptr_array_add (done, (gpointer) keyword);
      g_string_append_printf (p, ":+%s", keyword);
    }
}

static const char *
pick_cipher (const ScTlsSuite *suite)
{
  return suite->cipher;
}

static const char *
pick_kx (const ScTlsSuite *suite)
{
  return suite->kx;
}

/**
 * sc_tls_priority_for_config: (skip)
 * @config: a configuration that sc_tls_config_check() accepts
 *
 * The GnuTLS priority string that makes glib-networking offer exactly what
 * @config allows: TLS 1.3 (and 1.2 with #ScTlsConfig:min-version "1.2"),
 * the ciphers and, for TLS 1.2, the ECDHE key exchanges of its suites in
 * their order, AEAD only, elliptic-curve groups, no SHA-1 signatures, and
 * %NO_TICKETS unless session tickets are on.
 *
 * Returns: (transfer full): the priority string
 */
char *
sc_tls_priority_for_config (ScTlsConfig *config)
{
  const char *const *names;
  GString *p;

  g_return_val_if_fail (SC_IS_TLS_CONFIG (config), NULL);
  names = config_suites (config);
  p = g_string_new ("NORMAL:-VERS-ALL:+VERS-TLS1.3");
  if (sc_tls_config_get_min_version (config) == SC_TLS_VERSION_1_2)
    g_string_append (p, ":+VERS-TLS1.2");
  g_string_append (p, ":-CIPHER-ALL");
  append_keywords (p, names, pick_cipher);
  g_string_append (p, ":-MAC-ALL:+AEAD:-KX-ALL");
  append_keywords (p, names, pick_kx);
  g_string_append (p, PRIORITY_GROUPS PRIORITY_TAIL);
  if (!sc_tls_config_get_session_tickets (config))
    g_string_append (p, ":%NO_TICKETS");
  return g_string_free (p, FALSE);
}

/* Whether glib-networking has read its priority already: it does so in the
 * class_init of its connection class, so the class exists from then on. */
static gboolean
priority_already_read (void)
{
  GType type = g_type_from_name (GNUTLS_CONNECTION_TYPE_NAME);

  return type != 0 && g_type_class_peek (type) != NULL;
}

/**
 * sc_tls_setup_process: (skip)
 * @config: the TLS configuration of the process
 * @error: return location for an %SC_ERROR_CONFIG error
 *
 * Sets G_TLS_GNUTLS_PRIORITY to sc_tls_priority_for_config(), so that every
 * TLS handshake of the process offers and accepts only what @config allows.
 * Call it once at startup, before any thread and any TLS connection exists
 * (g_setenv() is not thread-safe, and glib-networking reads the variable
 * once, when it makes its first connection). It fails when the variable is
 * already set to something else, or when a TLS connection already exists;
 * calling it again with a configuration that gives the same string is fine.
 *
 * Returns: whether the process now uses @config's priority string
 */
gboolean
sc_tls_setup_process (ScTlsConfig *config, GError **error)
{
  g_autofree char *want = NULL;
  const char *have = g_getenv (SC_TLS_PRIORITY_ENV);
  size_t offset;

  g_return_val_if_fail (SC_IS_TLS_CONFIG (config), FALSE);
  if (!sc_tls_config_check (config, error))
    return FALSE;
  want = sc_tls_priority_for_config (config);
  if (sc_x509_priority_check (want, &offset) < 0)
    return fail (error, SC_ERROR_CONFIG, "this GnuTLS refuses the priority string \"%s\" at \"%s\"",
                 want, want + offset);
  if (have != NULL && g_str_equal (have, want))
    return TRUE;
  if (have != NULL)
    return fail (error, SC_ERROR_CONFIG,
                 "%s is set to \"%s\" in the environment, but the TLS configuration "
                 "needs \"%s\": unset it",
                 SC_TLS_PRIORITY_ENV, have, want);
  if (priority_already_read ())
    return fail (error, SC_ERROR_CONFIG,
                 "a TLS connection was made before the TLS configuration was applied: "
                 "the versions and cipher suites of this process can no longer change");
  g_setenv (SC_TLS_PRIORITY_ENV, want, TRUE);
  g_info ("TLS priority for this process: %s", want);
  if (sc_tls_config_get_session_tickets (config))
    g_info ("TLS session_tickets: clients resume with servers that issue tickets; a GIO server "
            "(glib-networking 2.74) issues none, so securecommd's handshakes are all full ones");
  return TRUE;
}

/* --- The context -------------------------------------------------------- */

struct _ScTlsContext
{
  gatomicrefcount ref;
  char *cache_key; /* in the shared cache under this key, or NULL */
  ScTlsConfig *config;
  ScTlsRole role;
  GTlsCertificate *certificate; /* NULL: none */
  GTlsDatabase *database;       /* ca_path's; NULL: none (server) or the system's (client) */
  ScX509Crl *crl;               /* NULL: none */
  guint8 (*pins)[SC_SHA256_LEN];
  gsize n_pins;
  GTlsAuthenticationMode auth_mode; /* servers */
  char **suites_iana;               /* allowed suites, as GIO names them */
};

/* Warns (but loads) when the own certificate is outside its validity. */
static void
log_certificate_dates (GTlsCertificate *cert, const char *path)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr (GDateTime) after = g_tls_certificate_get_not_valid_after (cert);
  g_autofree char *when = after != NULL ? g_date_time_format_iso8601 (after) : NULL;

  if (after != NULL && g_date_time_compare (after, now) < 0)
    g_message ("TLS certificate %s expired on %s: peers will refuse it", path, when);
}

/* A PKCS #11 URI as it may be logged: without the PIN of pin-value. */
static char *
uri_for_log (const char *uri)
{
  const char *pin = uri != NULL ? strstr (uri, "pin-value=") : NULL;
  const char *end;

  if (pin == NULL)
    return g_strdup (uri != NULL ? uri : "(none)");
  end = strchr (pin, '&');
  return g_strdup_printf ("%.*spin-value=(hidden)%s", (int) (pin - uri), uri, end ? end : "");
}

/* A key in a token: glib-networking would hand GnuTLS a certificate
 * without a usable key (a wrong PIN, a missing object) and the first
 * handshake would crash inside GnuTLS; so it signs for us once now. */
static gboolean
check_pkcs11_key (const GByteArray *der, ScTlsConfig *config, GError **error)
{
  g_autofree char *shown = uri_for_log (sc_tls_config_get_key_path (config));
  int ret = sc_x509_pkcs11_key_matches (der->data, der->len, sc_tls_config_get_key_path (config));

  if (ret == 0)
    return TRUE;
  g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "key_path %s: %s", shown,
               ret == SC_CRYPTO_EVERIFY ? "not the key of the certificate in cert_path"
               : ret == SC_CRYPTO_EKEY_UNAVAILABLE
                   ? "the token does not let us use this key (no such object, a wrong PIN, or "
                     "no PKCS #11 module for the token)"
                   : "cannot check this key against cert_path");
  return FALSE;
}

/* Whether the private key of cert is the one for its public key. */
static gboolean
check_key_matches (GTlsCertificate *cert, ScTlsConfig *config, GError **error)
{
  g_autoptr (GByteArray) der = NULL;
  g_autoptr (GByteArray) key = NULL;
  const char *key_path = sc_tls_config_get_key_path (config);
  int ret;

  g_object_get (cert, "certificate", &der, "private-key", &key, NULL);
  if (der != NULL && key == NULL && key_path != NULL
      && g_ascii_strncasecmp (key_path, "pkcs11:", 7) == 0)
    return check_pkcs11_key (der, config, error);
  if (der == NULL || key == NULL)
    return TRUE;
  ret = sc_x509_key_matches (der->data, der->len, key->data, key->len);
  sc_memzero (key->data, key->len);
  if (ret == 0)
    return TRUE;
  g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "key_path %s: %s",
               sc_tls_config_get_key_path (config),
               ret == SC_CRYPTO_EVERIFY ? "not the key of the certificate in cert_path"
                                        : "not a private key GnuTLS can read");
  return FALSE;
}

/* The certificate and key, or NULL (with *error unset when there is none). */
static GTlsCertificate *
load_certificate (ScTlsConfig *config, GError **error)
{
  const char *cert_path = sc_tls_config_get_cert_path (config);
  const char *key_path = sc_tls_config_get_key_path (config);
  g_autoptr (GTlsCertificate) cert = NULL;
  g_autoptr (GError) local = NULL;

  if (cert_path == NULL)
    return NULL;
  if (g_ascii_strncasecmp (cert_path, "pkcs11:", 7) == 0)
    cert = g_tls_certificate_new_from_pkcs11_uris (cert_path, key_path, &local);
  else
    cert = g_tls_certificate_new_from_files (cert_path, key_path, &local);
  if (cert == NULL)
    {
      g_autofree char *shown = uri_for_log (key_path);

      g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "cert_path %s, key_path %s: %s", cert_path,
                   shown, local->message);
      return NULL;
    }
  if (!check_key_matches (cert, config, error))
    return NULL;
  log_certificate_dates (cert, cert_path);
  return g_steal_pointer (&cert);
}

/* The database of ca_path, or NULL (with *error unset when there is none). */
static GTlsDatabase *
load_database (ScTlsConfig *config, GError **error)
{
  const char *ca_path = sc_tls_config_get_ca_path (config);
  g_autofree char *absolute = NULL; /* GTlsFileDatabase wants one */
  g_autoptr (GError) local = NULL;
  GTlsDatabase *database;
  GList *certs;

  if (ca_path == NULL)
    return NULL;
  absolute = g_canonicalize_filename (ca_path, NULL);
  certs = g_tls_certificate_list_new_from_file (absolute, &local);
  if (certs == NULL)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "ca_path %s: %s", ca_path,
                   local != NULL ? local->message : "holds no certificate");
      return NULL;
    }
  g_list_free_full (certs, g_object_unref);
  database = g_tls_file_database_new (absolute, &local);
  if (database == NULL)
    g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "ca_path %s: %s", ca_path, local->message);
  return database;
}

static void
log_crl_age (ScX509Crl *crl, const char *path)
{
  gint64 next = sc_x509_crl_next_update (crl);
  g_autoptr (GDateTime) when = next >= 0 ? g_date_time_new_from_unix_utc (next) : NULL;
  g_autofree char *text = when != NULL ? g_date_time_format_iso8601 (when) : NULL;

  if (when != NULL && next < g_get_real_time () / G_USEC_PER_SEC)
    g_message ("CRL %s was due to be replaced on %s: it may miss recent revocations", path, text);
  g_debug ("CRL %s lists %zu revoked certificates", path, sc_x509_crl_count (crl));
}

/* The CRL of crl_path, checked against ca_path, or NULL (error unset when
 * there is none). */
static ScX509Crl *
load_crl (ScTlsConfig *config, GError **error)
{
  const char *crl_path = sc_tls_config_get_crl_path (config);
  const char *ca_path = sc_tls_config_get_ca_path (config);
  g_autofree char *crl_data = NULL, *ca_data = NULL;
  g_autoptr (GError) local = NULL;
  gsize crl_len, ca_len, bad = 0;
  ScX509Crl *crl = NULL;
  int ret;

  if (crl_path == NULL)
    return NULL;
  if (!g_file_get_contents (crl_path, &crl_data, &crl_len, &local)
      || !g_file_get_contents (ca_path, &ca_data, &ca_len, &local))
    {
      g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "crl_path %s: %s", crl_path, local->message);
      return NULL;
    }
  ret = sc_x509_crl_new ((const guint8 *) crl_data, crl_len, (const guint8 *) ca_data, ca_len, &crl,
                         &bad);
  if (ret == SC_CRYPTO_EVERIFY)
    g_set_error (error, SC_ERROR, SC_ERROR_CONFIG,
                 "crl_path %s: CRL %zu in the file is not signed by a CA of ca_path %s", crl_path,
                 bad + 1, ca_path);
  else if (ret < 0)
    g_set_error (error, SC_ERROR, SC_ERROR_CONFIG,
                 "crl_path %s: not a certificate revocation list (PEM or DER)", crl_path);
  else
    log_crl_age (crl, crl_path);
  return crl;
}

static void
load_pins (ScTlsContext *ctx)
{
  const char *const *pins = sc_tls_config_get_pinned_spki_sha256 (ctx->config);

  ctx->n_pins = pins != NULL ? g_strv_length ((char **) pins) : 0;
  ctx->pins = g_malloc0_n (ctx->n_pins, SC_SHA256_LEN);
  for (gsize i = 0; i < ctx->n_pins; i++)
    for (gsize j = 0; j < SC_SHA256_LEN; j++) /* checked: 64 lowercase hex digits */
      ctx->pins[i][j] = (guint8) (g_ascii_xdigit_value (pins[i][2 * j]) << 4
                                  | g_ascii_xdigit_value (pins[i][2 * j + 1]));
}

static void
load_policy (ScTlsContext *ctx)
{
  const char *const *names = config_suites (ctx->config);
  g_autoptr (GStrvBuilder) iana = g_strv_builder_new ();

  for (guint i = 0; names[i] != NULL; i++)
    g_strv_builder_add (iana, sc_tls_suite_lookup (names[i])->iana);
  ctx->suites_iana = g_strv_builder_end (iana);
  switch (sc_tls_config_get_verify_mode (ctx->config))
    {
    case SC_TLS_VERIFY_NONE:
      ctx->auth_mode = G_TLS_AUTHENTICATION_NONE;
      break;
    case SC_TLS_VERIFY_OPTIONAL:
      ctx->auth_mode = G_TLS_AUTHENTICATION_REQUESTED;
      break;
    case SC_TLS_VERIFY_REQUIRED:
    default:
      ctx->auth_mode = G_TLS_AUTHENTICATION_REQUIRED;
      break;
    }
}

/* What a role needs beyond what sc_tls_config_check() checks. */
static gboolean
check_role (ScTlsConfig *config, ScTlsRole role, GError **error)
{
  ScTlsVerifyMode mode = sc_tls_config_get_verify_mode (config);

  if (!sc_tls_config_get_enabled (config))
    return fail (error, SC_ERROR_CONFIG, "enabled: TLS is not enabled");
  if (role == SC_TLS_ROLE_CLIENT)
    {
      if (mode == SC_TLS_VERIFY_NONE)
        g_message ("TLS verify_mode CERT_NONE: servers' certificates are not checked%s",
                   sc_tls_config_get_pinned_spki_sha256 (config) != NULL ? " (pins still are)"
                                                                         : "");
      return TRUE;
    }
  if (sc_tls_config_get_cert_path (config) == NULL)
    return fail (error, SC_ERROR_CONFIG, "cert_path: a TLS server needs a certificate and its key");
  if (mode != SC_TLS_VERIFY_NONE && sc_tls_config_get_ca_path (config) == NULL
      && sc_tls_config_get_pinned_spki_sha256 (config) == NULL)
    return fail (error, SC_ERROR_CONFIG,
                 "verify_mode: %s needs ca_path or pinned_spki_sha256 to check client "
                 "certificates against",
                 mode == SC_TLS_VERIFY_REQUIRED ? "CERT_REQUIRED" : "CERT_OPTIONAL");
  return TRUE;
}

/* Says when the process-wide priority does not match config's. */
static void
log_priority_mismatch (ScTlsConfig *config)
{
  g_autofree char *want = sc_tls_priority_for_config (config);
  const char *have = g_getenv (SC_TLS_PRIORITY_ENV);

  if (have == NULL)
    g_debug ("%s is not set: TLS versions and suites are checked after each handshake only",
             SC_TLS_PRIORITY_ENV);
  else if (!g_str_equal (have, want))
    g_message ("TLS min_version, cipher_suites or session_tickets differ from the process's "
               "(set at startup): handshakes follow the process's until a restart; "
               "min_version and cipher_suites are still enforced after each handshake");
}

static gboolean
context_load (ScTlsContext *ctx, GError **error)
{
  GError *local = NULL;

  ctx->certificate = load_certificate (ctx->config, &local);
  if (local == NULL)
    ctx->database = load_database (ctx->config, &local);
  if (local == NULL)
    ctx->crl = load_crl (ctx->config, &local);
  if (local != NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  load_pins (ctx);
  load_policy (ctx);
  log_priority_mismatch (ctx->config);
  return TRUE;
}

/* --- Contexts shared by equivalent configurations ----------------------- */

/* Contexts by cache_key, without a reference: an entry goes when its last
 * reference does. A cached context's count only drops to zero under
 * context_cache_lock, so a lookup never revives one being freed. */
static GMutex context_cache_lock;
static GHashTable *context_cache; /* char * -> ScTlsContext * */

/* Drops a reference; TRUE when it was the last (the context is then out
 * of the cache and is to be freed). */
static gboolean
context_release (ScTlsContext *ctx)
{
  gboolean last;

  if (ctx->cache_key == NULL)
    return g_atomic_ref_count_dec (&ctx->ref);
  g_mutex_lock (&context_cache_lock);
  last = g_atomic_ref_count_dec (&ctx->ref);
  if (last && g_hash_table_lookup (context_cache, ctx->cache_key) == ctx)
    g_hash_table_remove (context_cache, ctx->cache_key);
  g_mutex_unlock (&context_cache_lock);
  return last;
}

/* Appends what a file holds to the key: its path as given and as
 * canonical (GTlsFileDatabase resolves it against the working directory),
 * and the SHA-256 of its contents, so that any change on disk (within the
 * same mtime tick too) makes a new key. A file that cannot be read gives
 * FALSE: no sharing, and sc_tls_context_new reports why. */
static gboolean
key_add_file (GString *key, const char *field, const char *path)
{
  g_autofree char *absolute = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *digest = NULL;
  gsize len = 0;

  g_string_append_printf (key, "\n%s=", field);
  if (path == NULL)
    return TRUE;
  if (g_ascii_strncasecmp (path, "pkcs11:", 7) == 0)
    {
      g_string_append (key, path); /* a token object, no file */
      return TRUE;
    }
  if (!g_file_get_contents (path, &contents, &len, NULL))
    return FALSE;
  digest = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, len);
  sc_memzero (contents, len); /* the key file's contents are a secret */
  absolute = g_canonicalize_filename (path, NULL);
  g_string_append_printf (key, "%s (%s) sha256:%s", path, absolute, digest);
  return TRUE;
}

static void
key_add_strv (GString *key, const char *field, const char *const *values)
{
  g_string_append_printf (key, "\n%s=", field);
  for (guint i = 0; values != NULL && values[i] != NULL; i++)
    g_string_append_printf (key, "%s,", values[i]);
}

/* Everything sc-tls reads from config (every getter), and what its files
 * hold; NULL when a file cannot be read. */
static char *
context_cache_key (ScTlsConfig *config, ScTlsRole role)
{
  g_autoptr (GString) key = g_string_new (NULL);
  const char *name = sc_tls_config_get_server_name (config);

  g_string_append_printf (key, "role=%d enabled=%d verify=%d min=%d tickets=%d\nname=%s", role,
                          sc_tls_config_get_enabled (config),
                          sc_tls_config_get_verify_mode (config),
                          sc_tls_config_get_min_version (config),
                          sc_tls_config_get_session_tickets (config), name ? name : "(none)");
  key_add_strv (key, "suites", sc_tls_config_get_cipher_suites (config));
  key_add_strv (key, "pins", sc_tls_config_get_pinned_spki_sha256 (config));
  if (!key_add_file (key, "cert", sc_tls_config_get_cert_path (config))
      || !key_add_file (key, "key", sc_tls_config_get_key_path (config))
      || !key_add_file (key, "ca", sc_tls_config_get_ca_path (config))
      || !key_add_file (key, "crl", sc_tls_config_get_crl_path (config)))
    return NULL;
  return g_string_free (g_steal_pointer (&key), FALSE);
}

/**
 * sc_tls_context_new_shared: (skip)
 * @config: an enabled TLS configuration
 * @role: whether connections made with it are servers or clients
 * @error: return location for an %SC_ERROR_CONFIG error
 *
 * Like sc_tls_context_new(), but shares the context with every caller
 * whose configuration is equivalent: the same settings, and files with
 * the same paths and the same contents now (each file is read and hashed
 * on every call, so a file changed on disk gives a new context and never
 * the old trust store; they are hashed again after loading, and a context
 * whose files changed while it was loaded is not shared). Contexts are
 * immutable, so sharing them across threads is safe; one lives as long as
 * someone holds it. For clients, which would otherwise parse the CA file
 * for every connection.
 *
 * Returns: (transfer full): the context, or %NULL on error
 */
ScTlsContext *
sc_tls_context_new_shared (ScTlsConfig *config, ScTlsRole role, GError **error)
{
  g_autofree char *key = NULL;
  g_autofree char *again = NULL;
  ScTlsContext *ctx;

  g_return_val_if_fail (SC_IS_TLS_CONFIG (config), NULL);
  key = context_cache_key (config, role);
  if (key == NULL)
    return sc_tls_context_new (config, role, error);
  g_mutex_lock (&context_cache_lock);
  ctx = context_cache != NULL ? g_hash_table_lookup (context_cache, key) : NULL;
  if (ctx != NULL)
    g_atomic_ref_count_inc (&ctx->ref);
  g_mutex_unlock (&context_cache_lock);
  if (ctx != NULL)
    return ctx;
  ctx = sc_tls_context_new (config, role, error);
  if (ctx == NULL)
    return NULL;
  /* The files are read again to load them: if one changed in between, ctx
   * may hold contents other than those key hashed, and a later return to
   * those contents would find it. Such a context is not shared. */
  again = context_cache_key (config, role);
  if (g_strcmp0 (again, key) != 0)
    {
      g_debug ("TLS files changed while they were loaded: the context is not shared");
      return ctx;
    }
  g_mutex_lock (&context_cache_lock);
  if (context_cache == NULL)
    context_cache = g_hash_table_new (g_str_hash, g_str_equal);
  if (!g_hash_table_contains (context_cache, key)) /* else another thread won: keep ours apart */
    {
      ctx->cache_key = g_steal_pointer (&key);
      g_hash_table_insert (context_cache, ctx->cache_key, ctx);
    }
  g_mutex_unlock (&context_cache_lock);
  return ctx;
}

/**
 * sc_tls_context_new: (skip)
 * @config: an enabled TLS configuration
 * @role: whether connections made with it are servers or clients
 * @error: return location for an %SC_ERROR_CONFIG error
 *
 * Checks @config and loads what it names: the certificate and key, the
 * trust database of ca_path, the CRL (whose signature must be by a CA of
 * ca_path), the pins. Every file is read here and never again, so calling
 * this again (on SIGHUP, or when a file changes) picks up new files; when a
 * file is broken, the error names it and the reason, and the caller keeps
 * the context it has.
 *
 * Returns: (transfer full): the context, or %NULL on error
 */
ScTlsContext *
sc_tls_context_new (ScTlsConfig *config, ScTlsRole role, GError **error)
{
  g_autoptr (ScTlsContext) ctx = NULL;

  g_return_val_if_fail (SC_IS_TLS_CONFIG (config), NULL);
  if (!sc_tls_config_check (config, error) || !check_role (config, role, error))
    return NULL;
  ctx = g_new0 (ScTlsContext, 1);
  g_atomic_ref_count_init (&ctx->ref);
  ctx->config = g_object_ref (config);
  ctx->role = role;
  if (!context_load (ctx, error))
    return NULL;
  return g_steal_pointer (&ctx);
}

/**
 * sc_tls_context_ref: (skip)
 * @ctx: a context
 *
 * Returns: (transfer full): @ctx
 */
ScTlsContext *
sc_tls_context_ref (ScTlsContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, NULL);
  g_atomic_ref_count_inc (&ctx->ref);
  return ctx;
}

/**
 * sc_tls_context_unref: (skip)
 * @ctx: (transfer full): a context
 */
void
sc_tls_context_unref (ScTlsContext *ctx)
{
  if (ctx == NULL || !context_release (ctx))
    return;
  g_free (ctx->cache_key);
  g_clear_object (&ctx->config);
  g_clear_object (&ctx->certificate);
  g_clear_object (&ctx->database);
  g_clear_pointer (&ctx->crl, sc_x509_crl_free);
  g_free (ctx->pins);
  g_strfreev (ctx->suites_iana);
  g_free (ctx);
}

/**
 * sc_tls_context_get_config: (skip)
 * @ctx: a context
 *
 * Returns: (transfer none): the configuration @ctx was built from
 */
ScTlsConfig *
sc_tls_context_get_config (ScTlsContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, NULL);
  return ctx->config;
}

/**
 * sc_tls_context_get_certificate: (skip)
 * @ctx: a context
 *
 * Returns: (transfer none) (nullable): the certificate @ctx presents
 */
GTlsCertificate *
sc_tls_context_get_certificate (ScTlsContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, NULL);
  return ctx->certificate;
}

/* --- Per connection ----------------------------------------------------- */

/* What a wrapped connection carries: its context, and the certificate
 * errors GIO found (written during the handshake, read after it). */
typedef struct
{
  ScTlsContext *ctx;
  char *peer; /* the peer's address, for log lines */
  gint cert_errors;
} ConnState;

static GQuark
conn_state_quark (void)
{
  return g_quark_from_static_string ("sc-tls-conn-state");
}

static void
conn_state_free (gpointer data)
{
  ConnState *st = data;

  sc_tls_context_unref (st->ctx);
  g_free (st->peer);
  g_free (st);
}

static ConnState *
conn_state (GTlsConnection *conn)
{
  return g_object_get_qdata (G_OBJECT (conn), conn_state_quark ());
}

/* Whether the leaf certificate's key is one of the pins. */
static gboolean
pin_matches (ScTlsContext *ctx, GTlsCertificate *cert)
{
  g_autoptr (GByteArray) der = NULL;
  guint8 digest[SC_SHA256_LEN];

  g_object_get (cert, "certificate", &der, NULL);
  if (der == NULL || sc_x509_spki_sha256 (der->data, der->len, digest) < 0)
    return FALSE;
  for (gsize i = 0; i < ctx->n_pins; i++)
    if (memcmp (ctx->pins[i], digest, sizeof digest) == 0)
      return TRUE;
  return FALSE;
}

/* Whether to take a peer certificate that GIO found errors in (or, on a
 * server, any client certificate): only where the configuration says chain
 * errors do not count. Runs in the handshake's context, possibly in another
 * thread: it reads only immutable state. */
static gboolean
on_accept_certificate (GTlsConnection *conn, GTlsCertificate *peer, GTlsCertificateFlags errors,
                       gpointer data)
{
  ConnState *st = data;
  ScTlsContext *ctx = st->ctx;

  g_atomic_int_set (&st->cert_errors, (gint) errors);
  /* A server is asked about every client certificate, valid or not (see
   * GTlsConnection::accept-certificate) */
  if (errors == 0)
    return TRUE;
  if (ctx->role == SC_TLS_ROLE_CLIENT
      && sc_tls_config_get_verify_mode (ctx->config) == SC_TLS_VERIFY_NONE)
    return TRUE; /* pins, if any, are checked after the handshake */
  /* Pins without ca_path stand in for a CA: the certificate may be
   * self-signed, but must be in its validity period and name the host. */
  return errors == G_TLS_CERTIFICATE_UNKNOWN_CA && ctx->n_pins > 0
         && sc_tls_config_get_ca_path (ctx->config) == NULL && pin_matches (ctx, peer);
}

/* The address at the other end of base, for log lines (taken when the
 * connection is wrapped: once the peer has gone, the socket cannot tell). */
static char *
peer_name (GIOStream *base)
{
  g_autoptr (GSocketAddress) address = NULL;

  if (G_IS_SOCKET_CONNECTION (base))
    address = g_socket_connection_get_remote_address (G_SOCKET_CONNECTION (base), NULL);
  if (address != NULL)
    return g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (address));
  return g_strdup ("the peer");
}

static void
attach_state (GObject *conn, ScTlsContext *ctx, GIOStream *base)
{
  ConnState *st = g_new0 (ConnState, 1);

  st->ctx = sc_tls_context_ref (ctx);
  st->peer = peer_name (base);
  g_object_set_qdata_full (conn, conn_state_quark (), st, conn_state_free);
  g_signal_connect (conn, "accept-certificate", G_CALLBACK (on_accept_certificate), st);
}

static GTlsBackend *
tls_backend (GError **error)
{
  GTlsBackend *backend = g_tls_backend_get_default ();

  if (g_tls_backend_supports_tls (backend))
    return backend;
  g_set_error_literal (error, SC_ERROR, SC_ERROR_NOT_SUPPORTED,
                       "TLS is not available: GIO has no TLS backend (install glib-networking)");
  return NULL;
}

/**
 * sc_tls_server_wrap: (skip)
 * @ctx: a server context
 * @base: the accepted connection
 * @error: return location for an error
 *
 * Makes the server side of a TLS connection over @base, with @ctx's
 * certificate, trust database and authentication mode. Run the handshake
 * with sc_tls_handshake().
 *
 * Returns: (transfer full): the #GTlsServerConnection, or %NULL on error
 */
GIOStream *
sc_tls_server_wrap (ScTlsContext *ctx, GIOStream *base, GError **error)
{
  GTlsBackend *backend;
  GObject *conn;

  g_return_val_if_fail (ctx != NULL && ctx->role == SC_TLS_ROLE_SERVER, NULL);
  g_return_val_if_fail (G_IS_IO_STREAM (base), NULL);
  if ((backend = tls_backend (error)) == NULL)
    return NULL;
  /* "database" at construction, even NULL: see the top of this file */
  conn = g_initable_new (g_tls_backend_get_server_connection_type (backend), NULL, error,
                         "base-io-stream", base, "certificate", ctx->certificate, "database",
                         ctx->database, "authentication-mode", ctx->auth_mode, NULL);
  if (conn == NULL)
    return NULL;
  attach_state (conn, ctx, base);
  return G_IO_STREAM (conn);
}

/**
 * sc_tls_client_wrap: (skip)
 * @ctx: a client context
 * @base: the connection to the server
 * @server_identity: (nullable): the host connected to; the server's
 *   certificate must name it (or the configuration's server_name, which
 *   takes its place)
 * @error: return location for an error
 *
 * Makes the client side of a TLS connection over @base: the server's chain
 * is checked against ca_path (or the system's trust store when there is
 * none), its name against @server_identity, and its key against the pins.
 * @ctx's certificate, if any, is offered when the server asks for one.
 *
 * Returns: (transfer full): the #GTlsClientConnection, or %NULL on error
 */
GIOStream *
sc_tls_client_wrap (ScTlsContext *ctx, GIOStream *base, GSocketConnectable *server_identity,
                    GError **error)
{
  const char *server_name;
  g_autoptr (GSocketConnectable) identity = NULL;
  GTlsBackend *backend;
  GObject *conn;
  GType type;

  g_return_val_if_fail (ctx != NULL && ctx->role == SC_TLS_ROLE_CLIENT, NULL);
  g_return_val_if_fail (G_IS_IO_STREAM (base), NULL);
  server_name = sc_tls_config_get_server_name (ctx->config);
  g_return_val_if_fail (server_name != NULL || server_identity != NULL, NULL);
  if ((backend = tls_backend (error)) == NULL)
    return NULL;
  identity = server_name != NULL ? g_network_address_new (server_name, 0)
                                 : g_object_ref (server_identity);
  type = g_tls_backend_get_client_connection_type (backend);
  if (ctx->database != NULL)
    conn = g_initable_new (type, NULL, error, "base-io-stream", base, "server-identity", identity,
                           "certificate", ctx->certificate, "database", ctx->database, NULL);
  else /* leave the default: the system's trust store */
    conn = g_initable_new (type, NULL, error, "base-io-stream", base, "server-identity", identity,
                           "certificate", ctx->certificate, NULL);
  if (conn == NULL)
    return NULL;
  attach_state (conn, ctx, base);
  return G_IO_STREAM (conn);
}

/* --- After the handshake ------------------------------------------------ */

static const char *
version_name (GTlsProtocolVersion version)
{
  switch (version)
    {
    case G_TLS_PROTOCOL_VERSION_TLS_1_2:
      return "TLS 1.2";
    case G_TLS_PROTOCOL_VERSION_TLS_1_3:
      return "TLS 1.3";
    case G_TLS_PROTOCOL_VERSION_UNKNOWN:
    case G_TLS_PROTOCOL_VERSION_SSL_3_0:
    case G_TLS_PROTOCOL_VERSION_TLS_1_0:
    case G_TLS_PROTOCOL_VERSION_TLS_1_1:
    case G_TLS_PROTOCOL_VERSION_DTLS_1_0:
    case G_TLS_PROTOCOL_VERSION_DTLS_1_2:
    default:
      return "an older or unknown TLS version";
    }
}

/* Why the negotiated version or suite is not allowed, or NULL. */
static char *
policy_problem (ScTlsContext *ctx, GTlsConnection *conn)
{
  GTlsProtocolVersion version = g_tls_connection_get_protocol_version (conn);
  g_autofree char *suite = g_tls_connection_get_ciphersuite_name (conn);
  gboolean tls12_ok = sc_tls_config_get_min_version (ctx->config) == SC_TLS_VERSION_1_2;

  if (version != G_TLS_PROTOCOL_VERSION_TLS_1_3
      && !(version == G_TLS_PROTOCOL_VERSION_TLS_1_2 && tls12_ok))
    return g_strdup_printf ("%s was negotiated, but min_version is %s", version_name (version),
                            tls12_ok ? "1.2" : "1.3");
  if (suite == NULL || !g_strv_contains ((const char *const *) ctx->suites_iana, suite))
    return g_strdup_printf ("cipher suite %s was negotiated, but cipher_suites does not allow it",
                            suite != NULL ? suite : "(unknown)");
  return NULL;
}

/* Why one certificate of the peer's chain is revoked, or NULL. */
static char *
revocation_problem (ScTlsContext *ctx, GTlsCertificate *cert)
{
  g_autoptr (GByteArray) der = NULL;
  g_autofree char *subject = NULL, *issuer = NULL;
  char serial[SC_X509_SERIAL_HEX_MAX];

  g_object_get (cert, "certificate", &der, NULL);
  if (der == NULL || sc_x509_crl_lookup (ctx->crl, der->data, der->len) == 0)
    return NULL;
  if (sc_x509_serial_hex (der->data, der->len, serial) < 0)
    g_strlcpy (serial, "?", sizeof serial);
  subject = g_tls_certificate_get_subject_name (cert);
  issuer = g_tls_certificate_get_issuer_name (cert);
  return g_strdup_printf ("certificate \"%s\" (serial %s, issuer \"%s\") is revoked by the CRL "
                          "in %s",
                          subject != NULL ? subject : "?", serial, issuer != NULL ? issuer : "?",
                          sc_tls_config_get_crl_path (ctx->config));
}

/* Why the leaf's extended key usage does not allow the peer's role, or
 * NULL. GIO (glib-networking 2.74) verifies the chain without a purpose. */
static char *
purpose_problem (ScTlsContext *ctx, GTlsCertificate *peer, GByteArray *der)
{
  gboolean peer_is_server = ctx->role == SC_TLS_ROLE_CLIENT;
  g_autofree char *subject = NULL;

  if (sc_x509_allows_purpose (der->data, der->len,
                              peer_is_server ? SC_X509_PURPOSE_TLS_SERVER
                                             : SC_X509_PURPOSE_TLS_CLIENT)
      == 1)
    return NULL;
  subject = g_tls_certificate_get_subject_name (peer);
  return g_strdup_printf ("certificate \"%s\" is not for TLS %s (extended key usage)",
                          subject != NULL ? subject : "?", peer_is_server ? "servers" : "clients");
}

/* Why the peer's certificate is refused (wrong purpose, revoked, not
 * pinned), or NULL. */
static char *
certificate_problem (ScTlsContext *ctx, GTlsCertificate *peer)
{
  char *problem = NULL;
  g_autoptr (GByteArray) der = NULL;
  guint8 digest[SC_SHA256_LEN];
  char hex[2 * SC_SHA256_LEN + 1] = "?";

  g_object_get (peer, "certificate", &der, NULL);
  if (der == NULL)
    return g_strdup ("the peer's certificate cannot be read");
  problem = purpose_problem (ctx, peer, der);
  for (GTlsCertificate *c = peer; ctx->crl != NULL && c != NULL && problem == NULL;
       c = g_tls_certificate_get_issuer (c))
    problem = revocation_problem (ctx, c);
  if (problem != NULL || ctx->n_pins == 0 || pin_matches (ctx, peer))
    return problem;
  if (sc_x509_spki_sha256 (der->data, der->len, digest) == 0)
    sc_hex_format (digest, sizeof digest, hex);
  return g_strdup_printf ("certificate key %s is not in pinned_spki_sha256", hex);
}

static void
log_established (ScTlsContext *ctx, GTlsConnection *conn, GTlsCertificate *peer, const char *who)
{
  g_autofree char *suite = g_tls_connection_get_ciphersuite_name (conn);
  g_autofree char *subject = peer != NULL ? g_tls_certificate_get_subject_name (peer) : NULL;

  g_info (
      "TLS %s %s: %s, %s, peer certificate %s%s%s", ctx->role == SC_TLS_ROLE_SERVER ? "from" : "to",
      who, version_name (g_tls_connection_get_protocol_version (conn)), suite,
      subject != NULL ? "\"" : "", subject != NULL ? subject : "none", subject != NULL ? "\"" : "");
}

/* The checks GIO does not make; logs and refuses what fails them. */
static gboolean
check_established (ConnState *st, GTlsConnection *conn, GError **error)
{
  ScTlsContext *ctx = st->ctx;
  GTlsCertificate *peer = g_tls_connection_get_peer_certificate (conn);
  const char *who = st->peer;
  g_autofree char *problem = policy_problem (ctx, conn);
  ScError code = SC_ERROR_PROTOCOL;

  if (problem == NULL && peer == NULL && ctx->role == SC_TLS_ROLE_CLIENT)
    problem = g_strdup ("the server sent no certificate");
  if (problem == NULL && peer != NULL && (problem = certificate_problem (ctx, peer)) != NULL)
    code = SC_ERROR_UNTRUSTED;
  if (problem == NULL)
    {
      log_established (ctx, conn, peer, who);
      return TRUE;
    }
  g_message ("refused TLS connection %s %s: %s", ctx->role == SC_TLS_ROLE_SERVER ? "from" : "to",
             who, problem);
  g_set_error (error, SC_ERROR, code, "TLS connection %s %s refused: %s",
               ctx->role == SC_TLS_ROLE_SERVER ? "from" : "to", who, problem);
  return FALSE;
}

/* "not signed by a trusted CA, expired" */
static char *
describe_cert_errors (GTlsCertificateFlags flags)
{
  static const struct
  {
    GTlsCertificateFlags flag;
    const char *text;
  } texts[] = {
    { G_TLS_CERTIFICATE_UNKNOWN_CA, "not signed by a trusted CA" },
    { G_TLS_CERTIFICATE_BAD_IDENTITY, "does not name the host" },
    { G_TLS_CERTIFICATE_NOT_ACTIVATED, "not valid yet" },
    { G_TLS_CERTIFICATE_EXPIRED, "expired" },
    { G_TLS_CERTIFICATE_REVOKED, "revoked" },
    { G_TLS_CERTIFICATE_INSECURE, "uses an insecure algorithm" },
    { G_TLS_CERTIFICATE_GENERIC_ERROR, "invalid" },
  };
  GString *s = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (texts); i++)
    if (flags & texts[i].flag)
      g_string_append_printf (s, "%s%s", s->len > 0 ? ", " : "", texts[i].text);
  return g_string_free (s, FALSE);
}

/* Turns GIO's handshake error into ours, naming the peer and what was wrong
 * with its certificate. Takes local. */
static gboolean
handshake_failed (ConnState *st, GTlsConnection *conn, GError *local, GError **error)
{
  GTlsCertificateFlags flags = (GTlsCertificateFlags) g_atomic_int_get (&st->cert_errors);
  const char *who = st->peer;
  g_autofree char *what = flags != 0 ? describe_cert_errors (flags) : NULL;
  gboolean cert = flags != 0 || g_error_matches (local, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE)
                  || g_error_matches (local, G_TLS_ERROR, G_TLS_ERROR_CERTIFICATE_REQUIRED);

  if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED)
      || g_error_matches (local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  g_set_error (error, SC_ERROR, cert ? SC_ERROR_UNTRUSTED : SC_ERROR_PROTOCOL,
               "TLS handshake %s %s failed: %s%s%s",
               st->ctx->role == SC_TLS_ROLE_SERVER ? "from" : "with", who, local->message,
               what != NULL ? "; peer certificate: " : "", what != NULL ? what : "");
  g_info ("%s", (*error)->message);
  g_error_free (local);
  return FALSE;
}

/**
 * sc_tls_handshake: (skip)
 * @conn: a connection from sc_tls_server_wrap() or sc_tls_client_wrap()
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for an error
 *
 * Runs the TLS handshake, then checks what GIO does not: the negotiated
 * version and suite against the configuration, the peer's chain against the
 * CRL, its key against the pins. Logs the version, suite and peer subject
 * at info level, and refusals at message level. Certificate problems are
 * %SC_ERROR_UNTRUSTED, others %SC_ERROR_PROTOCOL; cancellation and timeouts
 * stay %G_IO_ERROR. On error, drop the connection.
 *
 * Returns: whether the connection may carry the SecureComm protocol
 */
gboolean
sc_tls_handshake (GTlsConnection *conn, GCancellable *cancellable, GError **error)
{
  ConnState *st;
  GError *local = NULL;

  g_return_val_if_fail (G_IS_TLS_CONNECTION (conn), FALSE);
  g_return_val_if_fail ((st = conn_state (conn)) != NULL, FALSE);
  if (!g_tls_connection_handshake (conn, cancellable, &local))
    return handshake_failed (st, conn, local, error);
  return check_established (st, conn, error);
}

static void
on_handshake_done (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GTask) task = data;
  GTlsConnection *conn = G_TLS_CONNECTION (source);
  ConnState *st = conn_state (conn);
  GError *local = NULL, *error = NULL;

  if (!g_tls_connection_handshake_finish (conn, result, &local))
    handshake_failed (st, conn, local, &error);
  else
    check_established (st, conn, &error);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * sc_tls_handshake_async: (skip)
 * @conn: a connection from sc_tls_server_wrap() or sc_tls_client_wrap()
 * @io_priority: the I/O priority
 * @cancellable: (nullable): a #GCancellable
 * @callback: called in the thread-default main context when done
 * @user_data: for @callback
 *
 * sc_tls_handshake() without blocking.
 */
void
sc_tls_handshake_async (GTlsConnection *conn, int io_priority, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;

  g_return_if_fail (G_IS_TLS_CONNECTION (conn) && conn_state (conn) != NULL);
  task = g_task_new (conn, cancellable, callback, user_data);
  g_task_set_source_tag (task, sc_tls_handshake_async);
  g_tls_connection_handshake_async (conn, io_priority, cancellable, on_handshake_done, task);
}

/**
 * sc_tls_handshake_finish: (skip)
 * @conn: the connection
 * @result: the result given to the callback
 * @error: return location for an error
 *
 * Returns: what sc_tls_handshake() would have
 */
gboolean
sc_tls_handshake_finish (GTlsConnection *conn, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, conn), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == sc_tls_handshake_async, FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- Channel binding ---------------------------------------------------- */

/**
 * sc_tls_get_binding: (skip)
 * @conn: a connection after sc_tls_handshake()
 * @type: (out): the binding type
 * @out: (out caller-allocates): receives the binding data
 * @len: (inout): the room in @out (%SC_MAX_CHANNEL_BINDING is enough);
 *   then the length of the data
 * @error: return location for an %SC_ERROR_PROTOCOL error
 *
 * The channel binding of docs/PROTOCOL.md 5.4: tls-exporter (RFC 9266, 32
 * bytes) on TLS 1.3, tls-unique (RFC 5929, the first Finished, 12 bytes) on
 * TLS 1.2. Both ends of one connection get the same value; two connections
 * never do.
 *
 * Returns: whether @type, @out and @len were set
 */
gboolean
sc_tls_get_binding (GTlsConnection *conn, ScBindingType *type, guint8 *out, gsize *len,
                    GError **error)
{
  GTlsProtocolVersion version;
  GTlsChannelBindingType gio_type;
  g_autoptr (GByteArray) data = g_byte_array_new ();
  g_autoptr (GError) local = NULL;

  g_return_val_if_fail (G_IS_TLS_CONNECTION (conn) && type != NULL && out != NULL, FALSE);
  g_return_val_if_fail (len != NULL, FALSE);
  version = g_tls_connection_get_protocol_version (conn);
  if (version != G_TLS_PROTOCOL_VERSION_TLS_1_3 && version != G_TLS_PROTOCOL_VERSION_TLS_1_2)
    return fail (error, SC_ERROR_PROTOCOL, "no channel binding for %s (handshake not done?)",
                 version_name (version));
  gio_type = version == G_TLS_PROTOCOL_VERSION_TLS_1_3 ? G_TLS_CHANNEL_BINDING_TLS_EXPORTER
                                                       : G_TLS_CHANNEL_BINDING_TLS_UNIQUE;
  if (!g_tls_connection_get_channel_binding_data (conn, gio_type, data, &local))
    return fail (error, SC_ERROR_PROTOCOL, "no TLS channel binding: %s", local->message);
  if (data->len == 0 || data->len > *len || data->len > SC_MAX_CHANNEL_BINDING)
    return fail (error, SC_ERROR_PROTOCOL,
                 "TLS channel binding of %u bytes does not fit %" G_GSIZE_FORMAT, data->len,
                 MIN (*len, (gsize) SC_MAX_CHANNEL_BINDING));
  memcpy (out, data->data, data->len);
  *len = data->len;
  *type = version == G_TLS_PROTOCOL_VERSION_TLS_1_3 ? SC_BINDING_TLS_EXPORTER
                                                    : SC_BINDING_TLS_UNIQUE;
  return TRUE;
}
