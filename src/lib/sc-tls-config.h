/* sc-tls-config.h: the seed's TLSConfig.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * ScTlsVerifyMode:
 * @SC_TLS_VERIFY_NONE: "CERT_NONE": the peer's certificate is not asked for.
 * @SC_TLS_VERIFY_OPTIONAL: "CERT_OPTIONAL": checked when presented.
 * @SC_TLS_VERIFY_REQUIRED: "CERT_REQUIRED": a valid certificate is required.
 *
 * How a TLS peer's certificate is verified, with the seed's names.
 */
typedef enum
{
  SC_TLS_VERIFY_NONE,
  SC_TLS_VERIFY_OPTIONAL,
  SC_TLS_VERIFY_REQUIRED,
} ScTlsVerifyMode;

#define SC_TYPE_TLS_CONFIG (sc_tls_config_get_type ())
G_DECLARE_FINAL_TYPE (ScTlsConfig, sc_tls_config, SC, TLS_CONFIG, GObject)

ScTlsConfig *sc_tls_config_new (gboolean enabled, const char *cert_path, const char *key_path,
                                const char *ca_path, ScTlsVerifyMode verify_mode);
gboolean sc_tls_config_get_enabled (ScTlsConfig *self);
const char *sc_tls_config_get_cert_path (ScTlsConfig *self);
const char *sc_tls_config_get_key_path (ScTlsConfig *self);
const char *sc_tls_config_get_ca_path (ScTlsConfig *self);
ScTlsVerifyMode sc_tls_config_get_verify_mode (ScTlsConfig *self);

G_END_DECLS
