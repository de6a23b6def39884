/* sc-daemon-tls.h: securecommd's TLS mode: the start-up checks, and the
 * reload of the certificate on SIGHUP and when its files change on disk.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "sc-server.h"
#include "sc-tls-config.h"

G_BEGIN_DECLS

/* Quiet time after the last change of a watched file before the reload: an
 * editor's save or `mv` of a new certificate comes as several events within
 * a few milliseconds, and a certificate and key replaced one after the other
 * should be loaded together; a quarter of a second still feels immediate. */
#define SC_DAEMON_TLS_DEBOUNCE_MS 200

typedef struct _ScDaemonTls ScDaemonTls;

/* Reads the TLS configuration again, from where the running one came
 * from (--tls-config, else the "tls" section of --config). */
typedef ScTlsConfig *(*ScDaemonTlsReadFunc) (gpointer user_data, GError **error);

gboolean sc_daemon_tls_prepare (ScTlsConfig *config, GError **error);

ScDaemonTls *sc_daemon_tls_new (ScServer *server, ScTlsConfig *config, ScDaemonTlsReadFunc read,
                                gpointer user_data);
void sc_daemon_tls_reload (ScDaemonTls *self, ScTlsConfig *config, const char *trigger);
void sc_daemon_tls_free (ScDaemonTls *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ScDaemonTls, sc_daemon_tls_free)

G_END_DECLS
