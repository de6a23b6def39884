/* sc-tls.h: TLS mode over GIO, shared by ScServer and ScClient (internal).
 *
 * An ScTlsContext is everything one ScTlsConfig needs, loaded once: the
 * certificate and key, the trust database built from ca_path, the CRL, the
 * pins. It is immutable and reference counted, so every connection (in any
 * thread) shares it, and a reload builds a new one while established
 * connections keep theirs.
 *
 * A connection goes through three calls:
 *   1. sc_tls_server_wrap() or sc_tls_client_wrap() makes the
 *      GTlsConnection around a base stream;
 *   2. sc_tls_handshake() (or _async/_finish) runs the TLS handshake, then the
 *      checks GIO does not make (revocation, pins, version and suite
 *      policy) and logs what was negotiated; on failure the caller drops the
 *      connection;
 *   3. sc_tls_get_binding() gives the channel binding that the SecureComm
 *      handshake mixes into its transcript (docs/PROTOCOL.md 5.4).
 *
 * What is process-wide: glib-networking's GnuTLS backend reads its priority
 * string (versions, suites, groups, tickets) from G_TLS_GNUTLS_PRIORITY once,
 * when the first TLS connection of the process is created; GIO has no
 * per-connection setting for any of it. sc_tls_setup_process() sets that
 * variable from a configuration and must run before any TLS connection
 * exists. The version and suite policy is also checked on every connection
 * after its handshake, so that it holds where the variable could not be set
 * (another library made a TLS connection first) or after a reload changed it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "sc-protocol.h"
#include "sc-tls-config.h"

G_BEGIN_DECLS

/* The environment variable glib-networking's GnuTLS backend reads. */
#define SC_TLS_PRIORITY_ENV "G_TLS_GNUTLS_PRIORITY"

/* One cipher suite that TLS mode allows (issue 5: TLS 1.3 AES-GCM, TLS 1.2
 * ECDHE with AES-256-GCM only). */
typedef struct
{
  const char *name;     /* as the configuration writes it (OpenSSL names, as the seed) */
  const char *iana;     /* as g_tls_connection_get_ciphersuite_name() reports it */
  ScTlsVersion version; /* SC_TLS_VERSION_1_2 or _1_3: the only version it runs on */
  const char *kx;       /* GnuTLS priority keyword of the key exchange; NULL on TLS 1.3 */
  const char *cipher;   /* GnuTLS priority keyword of the cipher */
} ScTlsSuite;

const ScTlsSuite *sc_tls_suite_lookup (const char *name);
const char *const *sc_tls_default_suites (ScTlsVersion min_version);
char *sc_tls_suite_names (void);

typedef enum
{
  SC_TLS_ROLE_SERVER,
  SC_TLS_ROLE_CLIENT,
} ScTlsRole;

typedef struct _ScTlsContext ScTlsContext;

ScTlsContext *sc_tls_context_new (ScTlsConfig *config, ScTlsRole role, GError **error);
/* The same, shared with every caller whose configuration and files are
 * equivalent now (see sc-tls.c). */
ScTlsContext *sc_tls_context_new_shared (ScTlsConfig *config, ScTlsRole role, GError **error);
ScTlsContext *sc_tls_context_ref (ScTlsContext *ctx);
void sc_tls_context_unref (ScTlsContext *ctx);
ScTlsConfig *sc_tls_context_get_config (ScTlsContext *ctx);
GTlsCertificate *sc_tls_context_get_certificate (ScTlsContext *ctx);

GIOStream *sc_tls_server_wrap (ScTlsContext *ctx, GIOStream *base, GError **error);
GIOStream *sc_tls_client_wrap (ScTlsContext *ctx, GIOStream *base,
                               GSocketConnectable *server_identity, GError **error);

gboolean sc_tls_handshake (GTlsConnection *conn, GCancellable *cancellable, GError **error);
void sc_tls_handshake_async (GTlsConnection *conn, int io_priority, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);
gboolean sc_tls_handshake_finish (GTlsConnection *conn, GAsyncResult *result, GError **error);

gboolean sc_tls_get_binding (GTlsConnection *conn, ScBindingType *type, guint8 *out, gsize *len,
                             GError **error);

char *sc_tls_priority_for_config (ScTlsConfig *config);
gboolean sc_tls_setup_process (ScTlsConfig *config, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ScTlsContext, sc_tls_context_unref)

G_END_DECLS
