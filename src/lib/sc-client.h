/* sc-client.h: the seed's Client.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "sc-identity.h"
#include "sc-tls-config.h"

G_BEGIN_DECLS

/**
 * ScClientState:
 * @SC_CLIENT_STATE_DISCONNECTED: not connected yet
 * @SC_CLIENT_STATE_CONNECTING: opening the TCP connection
 * @SC_CLIENT_STATE_HANDSHAKING: running the SecureComm handshake
 * @SC_CLIENT_STATE_CONNECTED: the secure session is up
 * @SC_CLIENT_STATE_RECONNECTING: connecting again after a loss
 * @SC_CLIENT_STATE_CLOSED: finished; see the error signal for why
 *
 * The states a #ScClient reports through #ScClient::state-changed.
 */
typedef enum
{
  SC_CLIENT_STATE_DISCONNECTED,
  SC_CLIENT_STATE_CONNECTING,
  SC_CLIENT_STATE_HANDSHAKING,
  SC_CLIENT_STATE_CONNECTED,
  SC_CLIENT_STATE_RECONNECTING,
  SC_CLIENT_STATE_CLOSED,
} ScClientState;

GType sc_client_state_get_type (void) G_GNUC_CONST;
#define SC_TYPE_CLIENT_STATE (sc_client_state_get_type ())

#define SC_TYPE_CLIENT (sc_client_get_type ())
G_DECLARE_FINAL_TYPE (ScClient, sc_client, SC, CLIENT, GObject)

/**
 * ScClientMessageHandler:
 * @client: the client
 * @message: the message (a reference may be kept)
 * @user_data: the data given to sc_client_set_message_handler()
 *
 * Receives the server's messages in the client's I/O thread; see
 * sc_client_set_message_handler() for what it may and may not do.
 */
typedef void (*ScClientMessageHandler) (ScClient *client, GBytes *message, gpointer user_data);

ScClient *sc_client_new (ScTlsConfig *tls_config);

void sc_client_set_identity (ScClient *self, ScIdentity *identity);
void sc_client_set_pinned_fingerprint (ScClient *self, const char *fingerprint);
void sc_client_set_accept_any_server (ScClient *self, gboolean accept_any);
void sc_client_set_known_hosts (ScClient *self, const char *path);
void sc_client_set_reconnect (ScClient *self, gboolean enabled, guint initial_ms, guint max_ms,
                              guint give_up_ms);

gboolean sc_client_establish_secure_session (ScClient *self, const char *host, guint16 port,
                                             GCancellable *cancellable, GError **error);
void sc_client_establish_secure_session_async (ScClient *self, const char *host, guint16 port,
                                               GCancellable *cancellable,
                                               GAsyncReadyCallback callback, gpointer user_data);
gboolean sc_client_establish_secure_session_finish (ScClient *self, GAsyncResult *result,
                                                    GError **error);

gboolean sc_client_send_message (ScClient *self, const char *message, GError **error);
gboolean sc_client_send_bytes (ScClient *self, GBytes *message, guint64 *out_message_id,
                               GError **error);
void sc_client_set_message_handler (ScClient *self, ScClientMessageHandler handler,
                                    gpointer user_data, GDestroyNotify destroy);
void sc_client_start_listening (ScClient *self);
void sc_client_stop_listening (ScClient *self);
void sc_client_shutdown (ScClient *self);
gboolean sc_client_is_connected (ScClient *self);
ScClientState sc_client_get_state (ScClient *self);
const char *sc_client_get_server_fingerprint (ScClient *self);
guint64 sc_client_get_last_acked (ScClient *self);
guint sc_client_get_outbox_length (ScClient *self);
guint sc_client_get_resumption_count (ScClient *self);
gboolean sc_client_flush (ScClient *self, guint timeout_ms, GError **error);
gboolean sc_client_wait_for_room (ScClient *self, gsize size, guint timeout_ms);

G_END_DECLS
