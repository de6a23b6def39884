/* sc-tls-config.c: the seed's TLSConfig, as a GObject, and its JSON file.
 *
 * An ScTlsConfig only holds values: every property is construct-only, so a
 * configuration never changes under the connections that use it. The files
 * it names are read by sc-tls.c (ScTlsContext), once per configuration.
 *
 * Loading (sc_tls_config_new_from_file, or the "tls" section of
 * securecommd.json through sc_tls_config_new_from_json_object) is strict:
 * an unknown or duplicate key, a value of the wrong type, a bad choice, an
 * unknown cipher suite, a malformed pin, and, when TLS is enabled, a named
 * file that is missing or unreadable are SC_ERROR_CONFIG errors worded
 * "FILE: KEY: reason", as securecommd.json's are. sc_tls_config_check() makes
 * the same value checks on a configuration built in code.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-tls-config-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "sc-error.h"
#include "sc-tls.h"

/* Characters of a string value quoted back in an error message. */
#define MAX_QUOTED 40
/* Hex digits of a SHA-256 pin. */
#define PIN_HEX_LEN 64
/* GIO's scheme for certificates and keys on a PKCS #11 token (RFC 7512). */
#define PKCS11_SCHEME "pkcs11:"

struct _ScTlsConfig
{
  GObject parent_instance;
  gboolean enabled;
  char *cert_path;
  char *key_path;
  char *ca_path;
  ScTlsVerifyMode verify_mode;
  ScTlsVersion min_version;
  char **cipher_suites;      /* NULL: sc_tls_default_suites (min_version) */
  char **pinned_spki_sha256; /* NULL: no pins */
  gboolean session_tickets;
  char *crl_path;
  char *server_name;
};

G_DEFINE_TYPE (ScTlsConfig, sc_tls_config, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (ScTlsVerifyMode, sc_tls_verify_mode,
                    G_DEFINE_ENUM_VALUE (SC_TLS_VERIFY_NONE, "none"),
                    G_DEFINE_ENUM_VALUE (SC_TLS_VERIFY_OPTIONAL, "optional"),
                    G_DEFINE_ENUM_VALUE (SC_TLS_VERIFY_REQUIRED, "required"))

G_DEFINE_ENUM_TYPE (ScTlsVersion, sc_tls_version,
                    G_DEFINE_ENUM_VALUE (SC_TLS_VERSION_1_2, "tls-1-2"),
                    G_DEFINE_ENUM_VALUE (SC_TLS_VERSION_1_3, "tls-1-3"))

/* The JSON values of the enum properties, indexed by enum value. (The nicks
 * name the values in GObject introspection: TlsVerifyMode.REQUIRED,
 * TlsVersion.TLS_1_2; "1.2" could not be one.) */
static const char *const verify_mode_names[] = { "CERT_NONE", "CERT_OPTIONAL", "CERT_REQUIRED",
                                                 NULL };
static const char *const min_version_names[] = { "1.2", "1.3", NULL };

enum
{
  PROP_0,
  PROP_ENABLED,
  PROP_CERT_PATH,
  PROP_KEY_PATH,
  PROP_CA_PATH,
  PROP_VERIFY_MODE,
  PROP_MIN_VERSION,
  PROP_CIPHER_SUITES,
  PROP_PINNED_SPKI_SHA256,
  PROP_SESSION_TICKETS,
  PROP_CRL_PATH,
  PROP_SERVER_NAME,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

/* The JSON key of each property, in the seed's spelling. */
static const char *const json_keys[N_PROPS] = {
  [PROP_ENABLED] = "enabled",
  [PROP_CERT_PATH] = "cert_path",
  [PROP_KEY_PATH] = "key_path",
  [PROP_CA_PATH] = "ca_path",
  [PROP_VERIFY_MODE] = "verify_mode",
  [PROP_MIN_VERSION] = "min_version",
  [PROP_CIPHER_SUITES] = "cipher_suites",
  [PROP_PINNED_SPKI_SHA256] = "pinned_spki_sha256",
  [PROP_SESSION_TICKETS] = "session_tickets",
  [PROP_CRL_PATH] = "crl_path",
  [PROP_SERVER_NAME] = "server_name",
};

/* --- GObject ------------------------------------------------------------ */

static void
sc_tls_config_finalize (GObject *object)
{
  ScTlsConfig *self = SC_TLS_CONFIG (object);

  g_free (self->cert_path);
  g_free (self->key_path);
  g_free (self->ca_path);
  g_strfreev (self->cipher_suites);
  g_strfreev (self->pinned_spki_sha256);
  g_free (self->crl_path);
  g_free (self->server_name);
  G_OBJECT_CLASS (sc_tls_config_parent_class)->finalize (object);
}

/* The string member behind a string property, or NULL. */
static char **
string_member (ScTlsConfig *self, guint id)
{
  switch (id)
    {
    case PROP_CERT_PATH:
      return &self->cert_path;
    case PROP_KEY_PATH:
      return &self->key_path;
    case PROP_CA_PATH:
      return &self->ca_path;
    case PROP_CRL_PATH:
      return &self->crl_path;
    case PROP_SERVER_NAME:
      return &self->server_name;
    default:
      return NULL;
    }
}

/* The string-array member behind a GStrv property, or NULL. */
static char ***
strv_member (ScTlsConfig *self, guint id)
{
  if (id == PROP_CIPHER_SUITES)
    return &self->cipher_suites;
  if (id == PROP_PINNED_SPKI_SHA256)
    return &self->pinned_spki_sha256;
  return NULL;
}

static void
sc_tls_config_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  ScTlsConfig *self = SC_TLS_CONFIG (object);
  char **string = string_member (self, id);
  char ***strv = strv_member (self, id);

  if (string != NULL)
    g_value_set_string (value, *string);
  else if (strv != NULL)
    g_value_set_boxed (value, *strv);
  else if (id == PROP_ENABLED)
    g_value_set_boolean (value, self->enabled);
  else if (id == PROP_SESSION_TICKETS)
    g_value_set_boolean (value, self->session_tickets);
  else if (id == PROP_VERIFY_MODE)
    g_value_set_enum (value, self->verify_mode);
  else if (id == PROP_MIN_VERSION)
    g_value_set_enum (value, self->min_version);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
}

static void
sc_tls_config_set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  ScTlsConfig *self = SC_TLS_CONFIG (object);
  char **string = string_member (self, id);
  char ***strv = strv_member (self, id);

  if (string != NULL)
    {
      g_free (*string);
      *string = g_value_dup_string (value);
    }
  else if (strv != NULL)
    {
      g_strfreev (*strv);
      *strv = g_value_dup_boxed (value);
    }
  else if (id == PROP_ENABLED)
    self->enabled = g_value_get_boolean (value);
  else if (id == PROP_SESSION_TICKETS)
    self->session_tickets = g_value_get_boolean (value);
  else if (id == PROP_VERIFY_MODE)
    self->verify_mode = g_value_get_enum (value);
  else if (id == PROP_MIN_VERSION)
    self->min_version = g_value_get_enum (value);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
}

static void
sc_tls_config_class_init (ScTlsConfigClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = sc_tls_config_finalize;
  object_class->get_property = sc_tls_config_get_property;
  object_class->set_property = sc_tls_config_set_property;

  /**
   * ScTlsConfig:enabled:
   *
   * Whether connections run inside TLS ("enabled").
   */
  props[PROP_ENABLED] = g_param_spec_boolean ("enabled", NULL, NULL, FALSE, flags);
  /**
   * ScTlsConfig:cert-path:
   *
   * The certificate chain, PEM, leaf first ("cert_path"), or a PKCS #11 URI.
   */
  props[PROP_CERT_PATH] = g_param_spec_string ("cert-path", NULL, NULL, NULL, flags);
  /**
   * ScTlsConfig:key-path:
   *
   * The private key of the certificate, PEM ("key_path"), or a PKCS #11 URI.
   */
  props[PROP_KEY_PATH] = g_param_spec_string ("key-path", NULL, NULL, NULL, flags);
  /**
   * ScTlsConfig:ca-path:
   *
   * The CA certificates (PEM) that verify the peer ("ca_path"). A client
   * without one uses the system's trust store.
   */
  props[PROP_CA_PATH] = g_param_spec_string ("ca-path", NULL, NULL, NULL, flags);
  /**
   * ScTlsConfig:verify-mode:
   *
   * How the peer's certificate is verified ("verify_mode").
   */
  props[PROP_VERIFY_MODE] = g_param_spec_enum ("verify-mode", NULL, NULL, SC_TYPE_TLS_VERIFY_MODE,
                                               SC_TLS_VERIFY_REQUIRED, flags);
  /**
   * ScTlsConfig:min-version:
   *
   * The oldest TLS version accepted ("min_version").
   */
  props[PROP_MIN_VERSION] = g_param_spec_enum ("min-version", NULL, NULL, SC_TYPE_TLS_VERSION,
                                               SC_TLS_VERSION_1_2, flags);
  /**
   * ScTlsConfig:cipher-suites:
   *
   * The cipher suites allowed, most preferred first ("cipher_suites"), or
   * %NULL for the defaults of #ScTlsConfig:min-version.
   */
  props[PROP_CIPHER_SUITES] = g_param_spec_boxed ("cipher-suites", NULL, NULL, G_TYPE_STRV, flags);
  /**
   * ScTlsConfig:pinned-spki-sha256:
   *
   * The peer keys accepted, as lowercase hex SHA-256 of their DER
   * SubjectPublicKeyInfo ("pinned_spki_sha256"), or %NULL for any.
   */
  props[PROP_PINNED_SPKI_SHA256] = g_param_spec_boxed ("pinned-spki-sha256", NULL, NULL,
                                                       G_TYPE_STRV, flags);
  /**
   * ScTlsConfig:session-tickets:
   *
   * Whether TLS session tickets may be used ("session_tickets").
   */
  props[PROP_SESSION_TICKETS] = g_param_spec_boolean ("session-tickets", NULL, NULL, FALSE, flags);
  /**
   * ScTlsConfig:crl-path:
   *
   * A certificate revocation list (PEM or DER) signed by a CA of
   * #ScTlsConfig:ca-path ("crl_path").
   */
  props[PROP_CRL_PATH] = g_param_spec_string ("crl-path", NULL, NULL, NULL, flags);
  /**
   * ScTlsConfig:server-name:
   *
   * For clients: the name the server's certificate must carry, when it is not
   * the host connected to ("server_name").
   */
  props[PROP_SERVER_NAME] = g_param_spec_string ("server-name", NULL, NULL, NULL, flags);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
sc_tls_config_init (ScTlsConfig *self)
{
  self->verify_mode = SC_TLS_VERIFY_REQUIRED;
  self->min_version = SC_TLS_VERSION_1_2;
}

/* --- Value checks ------------------------------------------------------- */

/* Where an error happened, for "NAME: PREFIXKEY: reason". */
typedef struct
{
  const char *name;   /* the file, or NULL */
  const char *prefix; /* "tls." inside securecommd.json, else "" */
} ErrCtx;

static gboolean fail (const ErrCtx *ec, const char *key, GError **error, const char *format, ...)
    G_GNUC_PRINTF (4, 5);

/* Sets an SC_ERROR_CONFIG error "NAME: PREFIXKEY: reason"; returns FALSE. */
static gboolean
fail (const ErrCtx *ec, const char *key, GError **error, const char *format, ...)
{
  g_autofree char *reason = NULL;
  va_list args;

  va_start (args, format);
  reason = g_strdup_vprintf (format, args);
  va_end (args);
  if (ec->name != NULL)
    g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "%s: %s%s: %s", ec->name, ec->prefix, key,
                 reason);
  else
    g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "%s%s: %s", ec->prefix, key, reason);
  return FALSE;
}

/* "value", escaped and cut at MAX_QUOTED characters. */
static char *
quote (const char *value)
{
  g_autofree char *escaped = g_strescape (value, NULL);

  if (g_utf8_strlen (escaped, -1) <= MAX_QUOTED)
    return g_strdup_printf ("\"%s\"", escaped);
  *g_utf8_offset_to_pointer (escaped, MAX_QUOTED) = '\0';
  return g_strdup_printf ("\"%s\"…", escaped);
}

static gboolean
is_pkcs11_uri (const char *path)
{
  return path != NULL && g_ascii_strncasecmp (path, PKCS11_SCHEME, strlen (PKCS11_SCHEME)) == 0;
}

/* NULL when path names a regular file this process can read, else why not. */
static char *
file_problem (const char *path)
{
  struct stat st;
  int fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0);
  int saved;

  if (fd < 0)
    {
      saved = errno;
      return g_strdup_printf ("cannot read %s: %s", path, g_strerror (saved));
    }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      return g_strdup_printf ("%s is not a regular file", path);
    }
  close (fd);
  return NULL;
}

static gboolean
check_file (const ErrCtx *ec, const char *key, const char *path, gboolean uri_ok, GError **error)
{
  g_autofree char *problem = NULL;

  if (path == NULL || (uri_ok && is_pkcs11_uri (path)))
    return TRUE;
  if (path[0] == '\0')
    return fail (ec, key, error, "must not be empty");
  if ((problem = file_problem (path)) == NULL)
    return TRUE;
  return fail (ec, key, error, "%s", problem);
}

static gboolean
check_files (ScTlsConfig *self, const ErrCtx *ec, GError **error)
{
  if (self->cert_path != NULL && self->key_path == NULL && !is_pkcs11_uri (self->cert_path))
    return fail (ec, "key_path", error, "must be set with %scert_path", ec->prefix);
  if (self->key_path != NULL && self->cert_path == NULL)
    return fail (ec, "cert_path", error, "must be set with %skey_path", ec->prefix);
  if (self->crl_path != NULL && self->ca_path == NULL)
    return fail (ec, "crl_path", error,
                 "needs %sca_path: the CRL is checked against the CA that signed it", ec->prefix);
  return check_file (ec, "cert_path", self->cert_path, TRUE, error)
         && check_file (ec, "key_path", self->key_path, TRUE, error)
         && check_file (ec, "ca_path", self->ca_path, FALSE, error)
         && check_file (ec, "crl_path", self->crl_path, FALSE, error);
}

static gboolean
check_pins (ScTlsConfig *self, const ErrCtx *ec, GError **error)
{
  for (guint i = 0; self->pinned_spki_sha256 != NULL && self->pinned_spki_sha256[i] != NULL; i++)
    {
      const char *pin = self->pinned_spki_sha256[i];
      g_autofree char *key = g_strdup_printf ("pinned_spki_sha256[%u]", i);
      g_autofree char *got = NULL;

      if (strlen (pin) == PIN_HEX_LEN && strspn (pin, "0123456789abcdef") == PIN_HEX_LEN)
        continue;
      got = quote (pin);
      return fail (ec, key, error,
                   "must be a SHA-256 fingerprint: 64 lowercase hexadecimal digits (got %s)", got);
    }
  if (self->pinned_spki_sha256 != NULL && self->pinned_spki_sha256[0] == NULL)
    return fail (ec, "pinned_spki_sha256", error,
                 "must not be an empty array (leave the key out for the default)");
  return TRUE;
}

/* One listed suite: known, not listed twice, and runnable with min_version. */
static gboolean
check_suite (ScTlsConfig *self, guint i, const ErrCtx *ec, GError **error)
{
  const char *name = self->cipher_suites[i];
  const ScTlsSuite *suite = sc_tls_suite_lookup (name);
  g_autofree char *key = g_strdup_printf ("cipher_suites[%u]", i);
  g_autofree char *got = quote (name);
  g_autofree char *known = NULL;

  if (suite == NULL)
    {
      known = sc_tls_suite_names ();
      return fail (ec, key, error, "must be one of %s (got %s)", known, got);
    }
  for (guint j = 0; j < i; j++)
    if (sc_tls_suite_lookup (self->cipher_suites[j]) == suite)
      return fail (ec, key, error, "%s is listed twice", got);
  if (suite->version == SC_TLS_VERSION_1_2 && self->min_version == SC_TLS_VERSION_1_3)
    return fail (ec, key, error, "%s is a TLS 1.2 suite, but %smin_version is \"1.3\"", got,
                 ec->prefix);
  /* glib-networking takes one GnuTLS priority string, whose cipher list
   * applies to every version: AES-128-GCM for TLS 1.3 would also bring
   * ECDHE-*-AES128-GCM-SHA256 to TLS 1.2, which issue 5 does not allow. */
  if (suite->version == SC_TLS_VERSION_1_3 && self->min_version == SC_TLS_VERSION_1_2
      && g_strcmp0 (suite->cipher, "AES-128-GCM") == 0)
    return fail (ec, key, error,
                 "%s needs %smin_version \"1.3\": GnuTLS cannot enable AES-128-GCM for TLS 1.3 "
                 "without enabling it for TLS 1.2, where only AES-256-GCM is allowed",
                 got, ec->prefix);
  return TRUE;
}

/* Each version the configuration allows has a suite to run. */
static gboolean
check_suite_versions (ScTlsConfig *self, const ErrCtx *ec, GError **error)
{
  gboolean tls12 = FALSE, tls13 = FALSE;

  for (guint i = 0; self->cipher_suites[i] != NULL; i++)
    {
      if (sc_tls_suite_lookup (self->cipher_suites[i])->version == SC_TLS_VERSION_1_3)
        tls13 = TRUE;
      else
        tls12 = TRUE;
    }
  if (!tls13)
    return fail (ec, "cipher_suites", error, "must list a TLS 1.3 suite (TLS_AES_256_GCM_SHA384)");
  if (!tls12 && self->min_version == SC_TLS_VERSION_1_2)
    return fail (ec, "cipher_suites", error,
                 "lists no TLS 1.2 suite: add ECDHE-ECDSA-AES256-GCM-SHA384 or "
                 "ECDHE-RSA-AES256-GCM-SHA384, or set %smin_version to \"1.3\"",
                 ec->prefix);
  return TRUE;
}

static gboolean
check_suites (ScTlsConfig *self, const ErrCtx *ec, GError **error)
{
  if (self->cipher_suites == NULL)
    return TRUE;
  if (self->cipher_suites[0] == NULL)
    return fail (ec, "cipher_suites", error,
                 "must not be an empty array (leave the key out for the default)");
  for (guint i = 0; self->cipher_suites[i] != NULL; i++)
    if (!check_suite (self, i, ec, error))
      return FALSE;
  return check_suite_versions (self, ec, error);
}

/* A DNS name (as far as it can be told without resolving it) or an IP
 * address. */
static gboolean
check_server_name (ScTlsConfig *self, const ErrCtx *ec, GError **error)
{
  const char *name = self->server_name;
  g_autofree char *got = NULL;
  gboolean ok;

  if (name == NULL || g_hostname_is_ip_address (name))
    return TRUE;
  ok = name[0] != '\0' && name[0] != '-' && name[0] != '.' && strstr (name, "..") == NULL
       && strspn (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
              == strlen (name);
  if (ok)
    return TRUE;
  got = quote (name);
  return fail (ec, "server_name", error, "must be a host name or an IP address (got %s)", got);
}

static gboolean
check_config (ScTlsConfig *self, const ErrCtx *ec, GError **error)
{
  if (!check_suites (self, ec, error) || !check_pins (self, ec, error)
      || !check_server_name (self, ec, error))
    return FALSE;
  return !self->enabled || check_files (self, ec, error);
}

/**
 * sc_tls_config_check:
 * @self: a #ScTlsConfig
 * @error: return location for an %SC_ERROR_CONFIG error
 *
 * Checks the values of @self as sc_tls_config_new_from_file() checks a file:
 * known cipher suites that fit #ScTlsConfig:min-version, well-formed pins and
 * server name, and, when TLS is enabled, a key with the certificate, a CA
 * file with the CRL, and files that exist and can be read. The error message
 * names the key (in the JSON spelling) and the reason.
 *
 * Returns: whether @self is valid
 */
gboolean
sc_tls_config_check (ScTlsConfig *self, GError **error)
{
  ErrCtx ec = { NULL, "" };

  g_return_val_if_fail (SC_IS_TLS_CONFIG (self), FALSE);
  return check_config (self, &ec, error);
}

/* --- JSON --------------------------------------------------------------- */

/* What a node holds, for "(got ...)". */
static char *
describe (JsonNode *node)
{
  GType type;

  if (JSON_NODE_HOLDS_OBJECT (node))
    return g_strdup ("an object");
  if (JSON_NODE_HOLDS_ARRAY (node))
    return g_strdup ("an array");
  if (JSON_NODE_HOLDS_NULL (node))
    return g_strdup ("null");
  type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
  if (type == G_TYPE_DOUBLE)
    return g_strdup_printf ("%g", json_node_get_double (node));
  if (type == G_TYPE_BOOLEAN)
    return g_strdup (json_node_get_boolean (node) ? "true" : "false");
  return quote (json_node_get_string (node));
}

static gboolean
node_is (JsonNode *node, GType type)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

/* The property of a JSON key, or 0. */
static guint
prop_for_key (const char *key)
{
  for (guint id = 1; id < N_PROPS; id++)
    if (g_str_equal (json_keys[id], key))
      return id;
  return 0;
}

/* A non-empty UTF-8 string from node, or NULL after setting the error. */
static const char *
get_string (JsonNode *node, const ErrCtx *ec, const char *key, GError **error)
{
  g_autofree char *got = NULL;
  const char *s;

  if (!node_is (node, G_TYPE_STRING))
    {
      got = describe (node);
      fail (ec, key, error, "must be a string (got %s)", got);
      return NULL;
    }
  s = json_node_get_string (node);
  if (!g_utf8_validate (s, -1, NULL))
    fail (ec, key, error, "not valid UTF-8");
  else if (s[0] == '\0')
    fail (ec, key, error, "must not be empty");
  else
    return s;
  return NULL;
}

/* "a", "b" or "c" */
static char *
choices_text (const char *const *names)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; names[i] != NULL; i++)
    {
      if (i > 0)
        g_string_append (s, names[i + 1] != NULL ? ", " : " or ");
      g_string_append_printf (s, "\"%s\"", names[i]);
    }
  return g_string_free (s, FALSE);
}

static gboolean
set_enum (GParamSpec *pspec, JsonNode *node, GValue *value, const ErrCtx *ec, const char *key,
          GError **error)
{
  const char *const *names = pspec == props[PROP_VERIFY_MODE] ? verify_mode_names
                                                              : min_version_names;
  g_autofree char *choices = NULL, *got = NULL;

  for (guint i = 0; node_is (node, G_TYPE_STRING) && names[i] != NULL; i++)
    if (g_str_equal (names[i], json_node_get_string (node)))
      {
        g_value_set_enum (value, (int) i);
        return TRUE;
      }
  choices = choices_text (names);
  got = describe (node);
  return fail (ec, key, error, "must be %s (got %s)", choices, got);
}

static gboolean
set_strv (JsonNode *node, GValue *value, const ErrCtx *ec, const char *key, GError **error)
{
  JsonArray *array = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_autofree char *got = NULL;

  if (array == NULL)
    {
      got = describe (node);
      return fail (ec, key, error, "must be an array of strings (got %s)", got);
    }
  if (json_array_get_length (array) == 0)
    return fail (ec, key, error, "must not be an empty array (leave the key out for the default)");
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      g_autofree char *item_key = g_strdup_printf ("%s[%u]", key, i);
      const char *s = get_string (json_array_get_element (array, i), ec, item_key, error);

      if (s == NULL)
        return FALSE;
      g_strv_builder_add (builder, s);
    }
  g_value_take_boxed (value, g_strv_builder_end (builder));
  return TRUE;
}

/* A path, taken from base_dir when relative (PKCS #11 URIs as they are). */
static gboolean
set_path (JsonNode *node, GValue *value, const char *base_dir, const ErrCtx *ec, const char *key,
          GError **error)
{
  const char *s = get_string (node, ec, key, error);

  if (s == NULL)
    return FALSE;
  if (base_dir != NULL && !is_pkcs11_uri (s))
    g_value_take_string (value, g_canonicalize_filename (s, base_dir));
  else
    g_value_set_string (value, s);
  return TRUE;
}

/* Converts node into value, of the type of pspec. */
static gboolean
set_value (GParamSpec *pspec, JsonNode *node, GValue *value, const char *base_dir, const ErrCtx *ec,
           const char *key, GError **error)
{
  GType type = G_PARAM_SPEC_VALUE_TYPE (pspec);
  g_autofree char *got = NULL;

  g_value_init (value, type);
  if (G_TYPE_IS_ENUM (type))
    return set_enum (pspec, node, value, ec, key, error);
  if (type == G_TYPE_STRV)
    return set_strv (node, value, ec, key, error);
  if (type == G_TYPE_STRING && g_str_has_suffix (key, "_path"))
    return set_path (node, value, base_dir, ec, key, error);
  if (type == G_TYPE_STRING)
    {
      const char *s = get_string (node, ec, key, error);

      if (s != NULL)
        g_value_set_string (value, s);
      return s != NULL;
    }
  if (node_is (node, G_TYPE_BOOLEAN))
    {
      g_value_set_boolean (value, json_node_get_boolean (node));
      return TRUE;
    }
  got = describe (node);
  return fail (ec, key, error, "must be true or false (got %s)", got);
}

/* The properties an object sets, in names[] and values[] (n of them). */
typedef struct
{
  const char *names[N_PROPS];
  GValue values[N_PROPS];
  guint n;
} PropSet;

static void
prop_set_clear (PropSet *set)
{
  for (guint i = 0; i < set->n; i++)
    g_value_unset (&set->values[i]);
  set->n = 0;
}

static gboolean
collect_props (JsonObject *object, const char *base_dir, const ErrCtx *ec, PropSet *set,
               GError **error)
{
  g_autoptr (GList) members = json_object_get_members (object);
  guint seen = 0; /* bit per property: json_object_set_member keeps only the last duplicate */

  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *key = l->data;
      guint id = prop_for_key (key);

      if (id == 0)
        return fail (ec, key, error, "unknown key");
      if (seen & (1u << id))
        return fail (ec, key, error, "duplicate key");
      seen |= 1u << id;
      set->names[set->n] = g_param_spec_get_name (props[id]);
      if (!set_value (props[id], json_object_get_member (object, key), &set->values[set->n++],
                      base_dir, ec, key, error))
        return FALSE;
    }
  return TRUE;
}

static ScTlsConfig *
config_from_object (JsonObject *object, const char *base_dir, const ErrCtx *ec, GError **error)
{
  PropSet set = { .n = 0 };
  g_autoptr (ScTlsConfig) config = NULL;
  gpointer klass = g_type_class_ref (SC_TYPE_TLS_CONFIG); /* fills props[] */

  if (collect_props (object, base_dir, ec, &set, error))
    config = SC_TLS_CONFIG (
        g_object_new_with_properties (SC_TYPE_TLS_CONFIG, set.n, set.names, set.values));
  prop_set_clear (&set);
  g_type_class_unref (klass);
  if (config == NULL || !check_config (config, ec, error))
    return NULL;
  return g_steal_pointer (&config);
}

/**
 * sc_tls_config_new_from_json_object: (skip)
 * @object: the JSON object of the configuration
 * @base_dir: (nullable): the folder relative file names are taken from, or
 *   %NULL to keep them as they are
 * @name_for_errors: (nullable): how error messages name the file
 * @key_prefix: (nullable): put before every key in error messages ("tls.")
 * @error: return location for an %SC_ERROR_CONFIG error
 *
 * Private: a configuration from a JSON object, checked as
 * sc_tls_config_new_from_file() checks a file. Duplicate keys must have been
 * looked for by the parser: a #JsonObject keeps only one of them.
 *
 * Returns: (transfer full) (nullable): the configuration, or %NULL
 */
ScTlsConfig *
sc_tls_config_new_from_json_object (JsonObject *object, const char *base_dir,
                                    const char *name_for_errors, const char *key_prefix,
                                    GError **error)
{
  ErrCtx ec = { name_for_errors, key_prefix != NULL ? key_prefix : "" };

  g_return_val_if_fail (object != NULL, NULL);
  return config_from_object (object, base_dir, &ec, error);
}

/* Duplicate keys, which a JsonObject drops silently: the names met so far
 * in each object being parsed, and the first name met twice. */
typedef struct
{
  GHashTable *seen; /* JsonObject* -> set of member names */
  char *dup;
} DupWatch;

static void
on_object_member (JsonParser *parser, JsonObject *object, const char *name, gpointer data)
{
  DupWatch *watch = data;
  GHashTable *names = g_hash_table_lookup (watch->seen, object);

  if (names == NULL)
    {
      names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (watch->seen, object, names);
    }
  if (!g_hash_table_add (names, g_strdup (name)) && watch->dup == NULL)
    watch->dup = g_strdup (name);
}

/* An object is complete: its address may be reused once it is freed. */
static void
on_object_end (JsonParser *parser, JsonObject *object, gpointer data)
{
  DupWatch *watch = data;

  g_hash_table_remove (watch->seen, object);
}

static gboolean
parse_watching_dups (JsonParser *parser, const char *data, gsize len, char **dup, GError **error)
{
  DupWatch watch = { g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_hash_table_unref),
                     NULL };
  gboolean ok;

  g_signal_connect (parser, "object-member", G_CALLBACK (on_object_member), &watch);
  g_signal_connect (parser, "object-end", G_CALLBACK (on_object_end), &watch);
  ok = json_parser_load_from_data (parser, data, (gssize) len, error);
  g_signal_handlers_disconnect_by_data (parser, &watch);
  g_hash_table_unref (watch.seen);
  *dup = watch.dup;
  return ok;
}

/* The root object of a file, or NULL after setting the error. */
static JsonObject *
parse_root (JsonParser *parser, const char *data, gsize len, const ErrCtx *ec, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *dup = NULL;
  JsonNode *root;

  if (!parse_watching_dups (parser, data, len, &dup, &local))
    {
      /* json-glib names the text "<data>": put the file's name there */
      if (g_str_has_prefix (local->message, "<data>:"))
        g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "%s%s", ec->name,
                     local->message + strlen ("<data>"));
      else
        g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "%s: %s", ec->name, local->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "%s: the top level must be a JSON object",
                   ec->name);
      return NULL;
    }
  if (dup != NULL)
    {
      fail (ec, dup, error, "duplicate key");
      return NULL;
    }
  return json_node_get_object (root);
}

/**
 * sc_tls_config_new_from_file:
 * @path: a JSON file: the seed's tls_config.json
 * @error: return location for an %SC_ERROR_CONFIG error
 *
 * Loads a TLS configuration in the seed's format,
 * `{"enabled": true, "cert_path": ..., "key_path": ..., "ca_path": ...}`,
 * with the keys "verify_mode" ("CERT_NONE", "CERT_OPTIONAL" or
 * "CERT_REQUIRED"), "min_version" ("1.2" or "1.3"), "cipher_suites",
 * "pinned_spki_sha256", "session_tickets", "crl_path" and "server_name".
 * Relative file names are taken from the folder that holds @path. An
 * unknown or duplicate key, a value of the wrong type and, when "enabled" is
 * true, a file that cannot be read are errors whose message names the file,
 * the key and the reason.
 *
 * Returns: (transfer full): the configuration, or %NULL on error
 */
ScTlsConfig *
sc_tls_config_new_from_file (const char *path, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local = NULL;
  g_autofree char *data = NULL, *absolute = NULL, *dir = NULL;
  ErrCtx ec = { path, "" };
  JsonObject *root;
  gsize len;

  g_return_val_if_fail (path != NULL, NULL);
  if (!g_file_get_contents (path, &data, &len, &local))
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_CONFIG, local->message);
      return NULL;
    }
  if ((root = parse_root (parser, data, len, &ec, error)) == NULL)
    return NULL;
  absolute = g_canonicalize_filename (path, NULL);
  dir = g_path_get_dirname (absolute);
  return config_from_object (root, dir, &ec, error);
}

/* --- Constructor and getters -------------------------------------------- */

/**
 * sc_tls_config_new:
 * @enabled: whether connections run inside TLS
 * @cert_path: (nullable): certificate file (PEM)
 * @key_path: (nullable): private key file (PEM)
 * @ca_path: (nullable): CA certificates that verify the peer (PEM)
 * @verify_mode: how the peer's certificate is verified
 *
 * The seed's TLSConfig(enabled, cert_path, key_path, ca_path, verify_mode).
 * The other settings keep their defaults; set them as construct properties
 * with g_object_new().
 *
 * Returns: (transfer full): a new #ScTlsConfig
 */
ScTlsConfig *
sc_tls_config_new (gboolean enabled, const char *cert_path, const char *key_path,
                   const char *ca_path, ScTlsVerifyMode verify_mode)
{
  return g_object_new (SC_TYPE_TLS_CONFIG, "enabled", enabled, "cert-path", cert_path, "key-path",
                       key_path, "ca-path", ca_path, "verify-mode", verify_mode, NULL);
}

/**
 * sc_tls_config_get_enabled:
 * @self: a #ScTlsConfig
 *
 * Returns: whether TLS is on
 */
gboolean
sc_tls_config_get_enabled (ScTlsConfig *self)
{
  g_return_val_if_fail (SC_IS_TLS_CONFIG (self), FALSE);
  return self->enabled;
}

/**
 * sc_tls_config_get_cert_path:
 * @self: a #ScTlsConfig
 *
 * Returns: (nullable): the certificate path
 */
const char *
sc_tls_config_get_cert_path (ScTlsConfig *self)
{
  g_return_val_if_fail (SC_IS_TLS_CONFIG (self), NULL);
  return self->cert_path;
}

/**
 * sc_tls_config_get_key_path:
 * @self: a #ScTlsConfig
 *
 * Returns: (nullable): the private key path
 */
const char *
sc_tls_config_get_key_path (ScTlsConfig *self)
{
  g_return_val_if_fail (SC_IS_TLS_CONFIG (self), NULL);
  return self->key_path;
}

/**
 * sc_tls_config_get_ca_path:
 * @self: a #ScTlsConfig
 *
 * Returns: (nullable): the CA file path
 */
const char *
sc_tls_config_get_ca_path (ScTlsConfig *self)
{
  g_return_val_if_fail (SC_IS_TLS_CONFIG (self), NULL);
  return self->ca_path;
}

/**
 * sc_tls_config_get_verify_mode:
 * @self: a #ScTlsConfig
 *
 * Returns: the verification mode
 */
ScTlsVerifyMode
sc_tls_config_get_verify_mode (ScTlsConfig *self)
{
  g_return_val_if_fail (SC_IS_TLS_CONFIG (self), SC_TLS_VERIFY_REQUIRED);
  return self->verify_mode;
}

/**
 * sc_tls_config_get_min_version:
 * @self: a #ScTlsConfig
 *
 * Returns: the oldest TLS version accepted
 */
ScTlsVersion
sc_tls_config_get_min_version (ScTlsConfig *self)
{
  g_return_val_if_fail (SC_IS_TLS_CONFIG (self), SC_TLS_VERSION_1_2);
  return self->min_version;
}

/**
 * sc_tls_config_get_cipher_suites:
 * @self: a #ScTlsConfig
 *
 * Returns: (transfer none) (nullable) (array zero-terminated=1): the cipher
 *   suites allowed, or %NULL for the defaults: TLS_AES_256_GCM_SHA384,
 *   ECDHE-ECDSA-AES256-GCM-SHA384 and ECDHE-RSA-AES256-GCM-SHA384 with
 *   #ScTlsConfig:min-version "1.2"; TLS_AES_256_GCM_SHA384 and
 *   TLS_AES_128_GCM_SHA256 with "1.3"
 */
const char *const *
sc_tls_config_get_cipher_suites (ScTlsConfig *self)
{
  g_return_val_if_fail (SC_IS_TLS_CONFIG (self), NULL);
  return (const char *const *) self->cipher_suites;
}

/**
 * sc_tls_config_get_pinned_spki_sha256:
 * @self: a #ScTlsConfig
 *
 * Returns: (transfer none) (nullable) (array zero-terminated=1): the pinned
 *   keys (lowercase hex SHA-256 of their SubjectPublicKeyInfo), or %NULL
 */
const char *const *
sc_tls_config_get_pinned_spki_sha256 (ScTlsConfig *self)
{
  g_return_val_if_fail (SC_IS_TLS_CONFIG (self), NULL);
  return (const char *const *) self->pinned_spki_sha256;
}

/**
 * sc_tls_config_get_session_tickets:
 * @self: a #ScTlsConfig
 *
 * Returns: whether TLS session tickets may be used
 */
gboolean
sc_tls_config_get_session_tickets (ScTlsConfig *self)
{
  g_return_val_if_fail (SC_IS_TLS_CONFIG (self), FALSE);
  return self->session_tickets;
}

/**
 * sc_tls_config_get_crl_path:
 * @self: a #ScTlsConfig
 *
 * Returns: (nullable): the certificate revocation list path
 */
const char *
sc_tls_config_get_crl_path (ScTlsConfig *self)
{
  g_return_val_if_fail (SC_IS_TLS_CONFIG (self), NULL);
  return self->crl_path;
}

/**
 * sc_tls_config_get_server_name:
 * @self: a #ScTlsConfig
 *
 * Returns: (nullable): the name a client checks the server's certificate
 *   against, when it is not the host it connects to
 */
const char *
sc_tls_config_get_server_name (ScTlsConfig *self)
{
  g_return_val_if_fail (SC_IS_TLS_CONFIG (self), NULL);
  return self->server_name;
}
