/* sc-tls-config.c: the seed's TLSConfig, as a GObject.
 *
 * This milestone carries the fields; the TLS transport that uses them
 * (GTlsServerConnection / GTlsClientConnection, the JSON loader and the
 * extra keys) is the TLS milestone's work. Until then ScServer and
 * ScClient refuse an enabled configuration with SC_ERROR_NOT_SUPPORTED
 * rather than run without the TLS the caller asked for.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-tls-config.h"

struct _ScTlsConfig
{
  GObject parent_instance;
  gboolean enabled;
  char *cert_path;
  char *key_path;
  char *ca_path;
  ScTlsVerifyMode verify_mode;
};

G_DEFINE_TYPE (ScTlsConfig, sc_tls_config, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_ENABLED,
  PROP_CERT_PATH,
  PROP_KEY_PATH,
  PROP_CA_PATH,
  PROP_VERIFY_MODE,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static void
sc_tls_config_finalize (GObject *object)
{
  ScTlsConfig *self = SC_TLS_CONFIG (object);

  g_free (self->cert_path);
  g_free (self->key_path);
  g_free (self->ca_path);
  G_OBJECT_CLASS (sc_tls_config_parent_class)->finalize (object);
}

static void
sc_tls_config_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  ScTlsConfig *self = SC_TLS_CONFIG (object);

  switch (id)
    {
    case PROP_ENABLED:
      g_value_set_boolean (value, self->enabled);
      break;
    case PROP_CERT_PATH:
      g_value_set_string (value, self->cert_path);
      break;
    case PROP_KEY_PATH:
      g_value_set_string (value, self->key_path);
      break;
    case PROP_CA_PATH:
      g_value_set_string (value, self->ca_path);
      break;
    case PROP_VERIFY_MODE:
      g_value_set_int (value, self->verify_mode);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
    }
}

static void
sc_tls_config_set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  ScTlsConfig *self = SC_TLS_CONFIG (object);

  switch (id)
    {
    case PROP_ENABLED:
      self->enabled = g_value_get_boolean (value);
      break;
    case PROP_CERT_PATH:
      g_free (self->cert_path);
      self->cert_path = g_value_dup_string (value);
      break;
    case PROP_KEY_PATH:
      g_free (self->key_path);
      self->key_path = g_value_dup_string (value);
      break;
    case PROP_CA_PATH:
      g_free (self->ca_path);
      self->ca_path = g_value_dup_string (value);
      break;
    case PROP_VERIFY_MODE:
      self->verify_mode = (ScTlsVerifyMode) g_value_get_int (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
    }
}

static void
sc_tls_config_class_init (ScTlsConfigClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = sc_tls_config_finalize;
  object_class->get_property = sc_tls_config_get_property;
  object_class->set_property = sc_tls_config_set_property;
  props[PROP_ENABLED] = g_param_spec_boolean ("enabled", NULL, NULL, FALSE, flags);
  props[PROP_CERT_PATH] = g_param_spec_string ("cert-path", NULL, NULL, NULL, flags);
  props[PROP_KEY_PATH] = g_param_spec_string ("key-path", NULL, NULL, NULL, flags);
  props[PROP_CA_PATH] = g_param_spec_string ("ca-path", NULL, NULL, NULL, flags);
  props[PROP_VERIFY_MODE] = g_param_spec_int ("verify-mode", NULL, NULL, SC_TLS_VERIFY_NONE,
                                              SC_TLS_VERIFY_REQUIRED, SC_TLS_VERIFY_REQUIRED,
                                              flags);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
sc_tls_config_init (ScTlsConfig *self)
{
  self->verify_mode = SC_TLS_VERIFY_REQUIRED;
}

/**
 * sc_tls_config_new:
 * @enabled: whether connections run inside TLS
 * @cert_path: (nullable): certificate file (PEM)
 * @key_path: (nullable): private key file (PEM)
 * @ca_path: (nullable): CA certificates that verify the peer (PEM)
 * @verify_mode: how the peer's certificate is verified
 *
 * The seed's TLSConfig(enabled, cert_path, key_path, ca_path, verify_mode).
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
