/* sc-daemon-dbus.h: securecommd's D-Bus control interface.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "sc-server.h"

G_BEGIN_DECLS

typedef struct _ScDaemonDbus ScDaemonDbus;
typedef void (*ScDaemonShutdownFunc) (gpointer user_data);

/* Exports io.github.SecureComm1.Server for server on connection at
 * /io/github/SecureComm1. shutdown_cb runs when a caller asks Shutdown. */
ScDaemonDbus *sc_daemon_dbus_new (GDBusConnection *connection, ScServer *server,
                                  ScDaemonShutdownFunc shutdown_cb, gpointer user_data,
                                  GError **error);
/* Unexports and drops every subscription. */
void sc_daemon_dbus_free (ScDaemonDbus *self);
/* Updates ListenAddresses and TlsEnabled (from the server's "tls-config")
 * after start or reload. */
void sc_daemon_dbus_refresh (ScDaemonDbus *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ScDaemonDbus, sc_daemon_dbus_free)

G_END_DECLS
