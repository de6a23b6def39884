/* sc-server.h: the seed's Server.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "sc-identity.h"
#include "sc-tls-config.h"

G_BEGIN_DECLS

/**
 * ScClientAuthMode:
 * @SC_CLIENT_AUTH_MODE_NONE: clients are not asked for an identity
 * @SC_CLIENT_AUTH_MODE_OPTIONAL: clients may prove an identity key
 * @SC_CLIENT_AUTH_MODE_REQUIRED: clients must prove an identity key
 *
 * Whether a #ScServer asks its clients to authenticate.
 */
typedef enum
{
  SC_CLIENT_AUTH_MODE_NONE,
  SC_CLIENT_AUTH_MODE_OPTIONAL,
  SC_CLIENT_AUTH_MODE_REQUIRED,
} ScClientAuthMode;

GType sc_client_auth_mode_get_type (void) G_GNUC_CONST;
#define SC_TYPE_CLIENT_AUTH_MODE (sc_client_auth_mode_get_type ())

#define SC_TYPE_SERVER (sc_server_get_type ())
G_DECLARE_FINAL_TYPE (ScServer, sc_server, SC, SERVER, GObject)

/**
 * ScServerMessageHandler:
 * @server: the server
 * @client_id: the sender's client id
 * @message: the message
 * @user_data: the data given to sc_server_set_message_handler()
 *
 * Takes one message from a client, in the I/O worker thread that read it;
 * see sc_server_set_message_handler() for what it may do.
 */
typedef void (*ScServerMessageHandler) (ScServer *server, const char *client_id, GBytes *message,
                                        gpointer user_data);

ScServer *sc_server_new (const char *host, guint16 port, ScTlsConfig *tls_config);

void sc_server_add_address (ScServer *self, const char *host, guint16 port);
void sc_server_set_identity (ScServer *self, ScIdentity *identity);
void sc_server_set_message_handler (ScServer *self, ScServerMessageHandler handler,
                                    gpointer user_data, GDestroyNotify destroy);
ScIdentity *sc_server_get_identity (ScServer *self);
gboolean sc_server_reload_tls (ScServer *self, ScTlsConfig *config, GError **error);
void sc_server_set_allowed_clients (ScServer *self, const char *const *fingerprints);

gboolean sc_server_start (ScServer *self, GError **error);
void sc_server_shutdown (ScServer *self);
gboolean sc_server_is_running (ScServer *self);
guint16 sc_server_get_port (ScServer *self);
GStrv sc_server_get_listen_addresses (ScServer *self);

GStrv sc_server_get_client_ids (ScServer *self);
guint sc_server_get_client_count (ScServer *self);
GVariant *sc_server_get_client_info (ScServer *self, const char *client_id, GError **error);
gboolean sc_server_send_message (ScServer *self, const char *client_id, const char *message,
                                 GError **error);
gboolean sc_server_send_bytes (ScServer *self, const char *client_id, GBytes *message,
                               guint64 *out_message_id, GError **error);
gboolean sc_server_close_client_connection (ScServer *self, const char *client_id, GError **error);

G_END_DECLS
