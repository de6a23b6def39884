/* sc-tls-config.h: the seed's TLSConfig, and the keys TLS mode adds to it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * ScTlsVerifyMode:
 * @SC_TLS_VERIFY_NONE: "CERT_NONE": the peer's certificate is not asked for
 *   (server), or not checked (client).
 * @SC_TLS_VERIFY_OPTIONAL: "CERT_OPTIONAL": checked when presented.
 * @SC_TLS_VERIFY_REQUIRED: "CERT_REQUIRED": a valid certificate is required.
 *
 * How a TLS peer's certificate is verified, with the seed's names (the
 * values of the "verify_mode" key).
 */
typedef enum
{
  SC_TLS_VERIFY_NONE,
  SC_TLS_VERIFY_OPTIONAL,
  SC_TLS_VERIFY_REQUIRED,
} ScTlsVerifyMode;

GType sc_tls_verify_mode_get_type (void) G_GNUC_CONST;
#define SC_TYPE_TLS_VERIFY_MODE (sc_tls_verify_mode_get_type ())

/**
 * ScTlsVersion:
 * @SC_TLS_VERSION_1_2: "1.2": TLS 1.2 and 1.3.
 * @SC_TLS_VERSION_1_3: "1.3": TLS 1.3 only.
 *
 * The oldest TLS version a connection may use: "1.2" or "1.3" as the value
 * of the "min_version" key.
 */
typedef enum
{
  SC_TLS_VERSION_1_2,
  SC_TLS_VERSION_1_3,
} ScTlsVersion;

GType sc_tls_version_get_type (void) G_GNUC_CONST;
#define SC_TYPE_TLS_VERSION (sc_tls_version_get_type ())

#define SC_TYPE_TLS_CONFIG (sc_tls_config_get_type ())
G_DECLARE_FINAL_TYPE (ScTlsConfig, sc_tls_config, SC, TLS_CONFIG, GObject)

ScTlsConfig *sc_tls_config_new (gboolean enabled, const char *cert_path, const char *key_path,
                                const char *ca_path, ScTlsVerifyMode verify_mode);
ScTlsConfig *sc_tls_config_new_from_file (const char *path, GError **error);
gboolean sc_tls_config_check (ScTlsConfig *self, GError **error);

gboolean sc_tls_config_get_enabled (ScTlsConfig *self);
const char *sc_tls_config_get_cert_path (ScTlsConfig *self);
const char *sc_tls_config_get_key_path (ScTlsConfig *self);
const char *sc_tls_config_get_ca_path (ScTlsConfig *self);
ScTlsVerifyMode sc_tls_config_get_verify_mode (ScTlsConfig *self);
ScTlsVersion sc_tls_config_get_min_version (ScTlsConfig *self);
const char *const *sc_tls_config_get_cipher_suites (ScTlsConfig *self);
const char *const *sc_tls_config_get_pinned_spki_sha256 (ScTlsConfig *self);
gboolean sc_tls_config_get_session_tickets (ScTlsConfig *self);
const char *sc_tls_config_get_crl_path (ScTlsConfig *self);
const char *sc_tls_config_get_server_name (ScTlsConfig *self);

G_END_DECLS
