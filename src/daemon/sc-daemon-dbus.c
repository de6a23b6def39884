/* sc-daemon-dbus.c: securecommd's D-Bus control interface.
 *
 * The skeleton comes from dbus/io.github.SecureComm1.Server.xml through
 * gdbus-codegen. Method handlers answer at once and never block the bus.
 * SendMessage is answered in GDBus's worker thread (send_message_filter).
 * MessageReceived, ClientConnected and ClientDisconnected carry private
 * data, so they are not emitted through the skeleton (which broadcasts):
 * each is sent as a unicast signal to every caller that called Subscribe()
 * and has not left the bus, as systemd's Manager.Subscribe does.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-daemon-dbus.h"

#include "sc-dbus-generated.h"
#include "sc-error.h"

#include <string.h>

#define SC_DBUS_PATH "/io/github/SecureComm1"
#define SC_DBUS_INTERFACE "io.github.SecureComm1.Server"
/* Most subscribers at once: each costs a name watch and a copy of every
 * message; a runaway client must not make the daemon fan out without end. */
#define SC_DBUS_MAX_SUBSCRIBERS 64

struct _ScDaemonDbus
{
  GDBusConnection *connection;
  ScServer *server;
  ScDbusServer *skeleton;
  GHashTable *subscribers; /* unique name -> watch id */
  ScDaemonShutdownFunc shutdown_cb;
  gpointer user_data;
  gulong handlers[3];
  guint filter_id;
};

/* ---- unicast signals ---------------------------------------------------- */

static void
emit_to_subscribers (ScDaemonDbus *self, const char *signal, GVariant *params)
{
  GHashTableIter iter;
  const char *name;

  g_variant_ref_sink (params);
  g_hash_table_iter_init (&iter, self->subscribers);
  while (g_hash_table_iter_next (&iter, (gpointer *) &name, NULL))
    {
      g_autoptr (GError) error = NULL;

      if (!g_dbus_connection_emit_signal (self->connection, name, SC_DBUS_PATH, SC_DBUS_INTERFACE,
                                          signal, params, &error))
        g_warning ("cannot send %s to %s: %s", signal, name, error->message);
    }
  g_variant_unref (params);
}

static void
on_message_received (ScServer *server, const char *client_id, GBytes *message, gpointer data)
{
  ScDaemonDbus *self = data;
  gsize len;
  const char *text = g_bytes_get_data (message, &len);
  g_autofree char *valid = g_utf8_make_valid (text ? text : "", (gssize) len);

  emit_to_subscribers (self, "MessageReceived", g_variant_new ("(ss)", client_id, valid));
}

static void
update_client_count (ScDaemonDbus *self)
{
  sc_dbus_server_set_client_count (self->skeleton, sc_server_get_client_count (self->server));
}

static void
on_client_connected (ScServer *server, const char *client_id, gpointer data)
{
  ScDaemonDbus *self = data;
  g_autoptr (GVariant) info = sc_server_get_client_info (server, client_id, NULL);

  update_client_count (self);
  /* In this handler ScServer answers for the announced connection even if
   * the client is already gone again (its ClientDisconnected follows); an
   * empty dict only if the info cannot be had at all. */
  if (info == NULL)
    info = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
  emit_to_subscribers (self, "ClientConnected", g_variant_new ("(s@a{sv})", client_id, info));
}

static void
on_client_disconnected (ScServer *server, const char *client_id, const char *reason, gpointer data)
{
  ScDaemonDbus *self = data;

  update_client_count (self);
  emit_to_subscribers (self, "ClientDisconnected", g_variant_new ("(ss)", client_id, reason));
}

/* ---- subscriptions ------------------------------------------------------ */

static void
on_subscriber_vanished (GDBusConnection *connection, const char *name, gpointer data)
{
  ScDaemonDbus *self = data;

  g_debug ("subscriber %s left the bus", name);
  g_hash_table_remove (self->subscribers, name);
}

static void
unwatch (gpointer id)
{
  g_bus_unwatch_name (GPOINTER_TO_UINT (id));
}

static gboolean
handle_subscribe (ScDbusServer *skeleton, GDBusMethodInvocation *invocation, gpointer data)
{
  ScDaemonDbus *self = data;
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  guint watch;

  if (sender == NULL)
    {
      g_dbus_method_invocation_return_error_literal (invocation, SC_ERROR, SC_ERROR_FAILED,
                                                     "Subscribe needs a message bus");
      return TRUE;
    }
  if (!g_hash_table_contains (self->subscribers, sender))
    {
      if (g_hash_table_size (self->subscribers) >= SC_DBUS_MAX_SUBSCRIBERS)
        {
          g_dbus_method_invocation_return_error (invocation, SC_ERROR, SC_ERROR_LIMIT,
                                                 "at most %u subscribers", SC_DBUS_MAX_SUBSCRIBERS);
          return TRUE;
        }
      watch = g_bus_watch_name_on_connection (self->connection, sender,
                                              G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
                                              on_subscriber_vanished, self, NULL);
      g_hash_table_insert (self->subscribers, g_strdup (sender), GUINT_TO_POINTER (watch));
      g_info ("%s subscribed", sender);
    }
  sc_dbus_server_complete_subscribe (skeleton, invocation);
  return TRUE;
}

static gboolean
handle_unsubscribe (ScDbusServer *skeleton, GDBusMethodInvocation *invocation, gpointer data)
{
  ScDaemonDbus *self = data;
  const char *sender = g_dbus_method_invocation_get_sender (invocation);

  if (sender != NULL && g_hash_table_remove (self->subscribers, sender))
    g_info ("%s unsubscribed", sender);
  sc_dbus_server_complete_unsubscribe (skeleton, invocation);
  return TRUE;
}

/* ---- methods ------------------------------------------------------------ */

static gboolean
handle_get_client_ids (ScDbusServer *skeleton, GDBusMethodInvocation *invocation, gpointer data)
{
  ScDaemonDbus *self = data;
  g_auto (GStrv) ids = sc_server_get_client_ids (self->server);

  sc_dbus_server_complete_get_client_ids (skeleton, invocation, (const char *const *) ids);
  return TRUE;
}

static gboolean
handle_send_message (ScDbusServer *skeleton, GDBusMethodInvocation *invocation,
                     const char *client_id, const char *message, gpointer data)
{
  ScDaemonDbus *self = data;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;
  guint64 id = 0;

  /* D-Bus strings are valid UTF-8 already: the bus refuses anything else
   * (the error InvalidMessage covers library callers). */
  bytes = g_bytes_new (message, strlen (message));
  if (!sc_server_send_bytes (self->server, client_id, bytes, &id, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return TRUE;
    }
  sc_dbus_server_complete_send_message (skeleton, invocation, id);
  return TRUE;
}

static gboolean
handle_close_client_connection (ScDbusServer *skeleton, GDBusMethodInvocation *invocation,
                                const char *client_id, gpointer data)
{
  ScDaemonDbus *self = data;
  g_autoptr (GError) error = NULL;

  if (!sc_server_close_client_connection (self->server, client_id, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return TRUE;
    }
  g_info ("%s closed client %s", g_dbus_method_invocation_get_sender (invocation), client_id);
  sc_dbus_server_complete_close_client_connection (skeleton, invocation);
  return TRUE;
}

static gboolean
handle_get_client_info (ScDbusServer *skeleton, GDBusMethodInvocation *invocation,
                        const char *client_id, gpointer data)
{
  ScDaemonDbus *self = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) info = sc_server_get_client_info (self->server, client_id, &error);

  if (info == NULL)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return TRUE;
    }
  sc_dbus_server_complete_get_client_info (skeleton, invocation, info);
  return TRUE;
}

static gboolean
handle_shutdown (ScDbusServer *skeleton, GDBusMethodInvocation *invocation, gpointer data)
{
  ScDaemonDbus *self = data;

  g_info ("%s asked for shutdown", g_dbus_method_invocation_get_sender (invocation));
  sc_dbus_server_complete_shutdown (skeleton, invocation);
  self->shutdown_cb (self->user_data);
  return TRUE;
}

/* ---- SendMessage in the connection's thread ------------------------------ */

/* SendMessage, the one method called at a high rate, is answered by a
 * connection filter in GDBus's worker thread as the call comes off the bus:
 * no hop to the main thread and its loop per call (an eventfd write, an
 * idle source, the invocation object and the skeleton's dispatch: about a
 * fifth of the daemon's CPU per call, measured with perf stat per thread).
 * sc_server_send_bytes is safe from any thread and never waits for the
 * network. Only an exact match (method call, path, interface, member,
 * signature "ss") is taken: anything else, errors included, goes the
 * normal way. The bus's policy has run before the call reaches us, and
 * GDBus has checked the signature and that the strings are UTF-8.
 * Consequence for a caller that pipelines calls without waiting for the
 * replies: a SendMessage queued behind a CloseClientConnection to the same
 * client is answered first. */
static GDBusMessage *
send_message_filter (GDBusConnection *connection, GDBusMessage *message, gboolean incoming,
                     gpointer data)
{
  ScServer *server = data; /* the filter's own reference: it may run after removal */
  g_autoptr (GDBusMessage) reply = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;
  const char *client_id, *text;
  guint64 id = 0;

  if (!incoming || g_dbus_message_get_message_type (message) != G_DBUS_MESSAGE_TYPE_METHOD_CALL
      || g_strcmp0 (g_dbus_message_get_member (message), "SendMessage") != 0
      || g_strcmp0 (g_dbus_message_get_path (message), SC_DBUS_PATH) != 0
      || g_strcmp0 (g_dbus_message_get_interface (message), SC_DBUS_INTERFACE) != 0
      || g_strcmp0 (g_dbus_message_get_signature (message), "ss") != 0)
    return message;
  g_variant_get (g_dbus_message_get_body (message), "(&s&s)", &client_id, &text);
  bytes = g_bytes_new (text, strlen (text));
  if (sc_server_send_bytes (server, client_id, bytes, &id, &error))
    {
      reply = g_dbus_message_new_method_reply (message);
      g_dbus_message_set_body (reply, g_variant_new ("(t)", id));
    }
  else
    {
      g_autofree char *name = g_dbus_error_encode_gerror (error);

      reply = g_dbus_message_new_method_error_literal (message, name, error->message);
    }
  if (!(g_dbus_message_get_flags (message) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED))
    g_dbus_connection_send_message (connection, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, NULL);
  g_object_unref (message);
  return NULL;
}

/* ---- life cycle --------------------------------------------------------- */

/* Whether the server runs every connection inside TLS: its configuration,
 * which a reload replaces but never turns off or on. */
static gboolean
server_tls_enabled (ScServer *server)
{
  g_autoptr (ScTlsConfig) tls = NULL;

  g_object_get (server, "tls-config", &tls, NULL);
  return tls != NULL && sc_tls_config_get_enabled (tls);
}

void
sc_daemon_dbus_refresh (ScDaemonDbus *self)
{
  g_auto (GStrv) addrs = sc_server_get_listen_addresses (self->server);

  sc_dbus_server_set_listen_addresses (self->skeleton, (const char *const *) addrs);
  sc_dbus_server_set_tls_enabled (self->skeleton, server_tls_enabled (self->server));
  sc_dbus_server_set_server_fingerprint (
      self->skeleton, sc_identity_get_fingerprint (sc_server_get_identity (self->server)));
  update_client_count (self);
}

static void
connect_handlers (ScDaemonDbus *self)
{
  g_signal_connect (self->skeleton, "handle-get-client-ids", G_CALLBACK (handle_get_client_ids),
                    self);
  g_signal_connect (self->skeleton, "handle-send-message", G_CALLBACK (handle_send_message), self);
  g_signal_connect (self->skeleton, "handle-close-client-connection",
                    G_CALLBACK (handle_close_client_connection), self);
  g_signal_connect (self->skeleton, "handle-get-client-info", G_CALLBACK (handle_get_client_info),
                    self);
  g_signal_connect (self->skeleton, "handle-subscribe", G_CALLBACK (handle_subscribe), self);
  g_signal_connect (self->skeleton, "handle-unsubscribe", G_CALLBACK (handle_unsubscribe), self);
  g_signal_connect (self->skeleton, "handle-shutdown", G_CALLBACK (handle_shutdown), self);
  self->handlers[0] = g_signal_connect (self->server, "message-received",
                                        G_CALLBACK (on_message_received), self);
  self->handlers[1] = g_signal_connect (self->server, "client-connected",
                                        G_CALLBACK (on_client_connected), self);
  self->handlers[2] = g_signal_connect (self->server, "client-disconnected",
                                        G_CALLBACK (on_client_disconnected), self);
}

ScDaemonDbus *
sc_daemon_dbus_new (GDBusConnection *connection, ScServer *server, ScDaemonShutdownFunc shutdown_cb,
                    gpointer user_data, GError **error)
{
  ScDaemonDbus *self = g_new0 (ScDaemonDbus, 1);

  sc_error_quark (); /* registers the D-Bus error names */
  self->connection = g_object_ref (connection);
  self->server = g_object_ref (server);
  self->shutdown_cb = shutdown_cb;
  self->user_data = user_data;
  self->subscribers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, unwatch);
  self->skeleton = sc_dbus_server_skeleton_new ();
  sc_dbus_server_set_version (self->skeleton, PACKAGE_VERSION);
  connect_handlers (self);
  sc_daemon_dbus_refresh (self);
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->skeleton), connection,
                                         SC_DBUS_PATH, error))
    {
      sc_daemon_dbus_free (self);
      return NULL;
    }
  self->filter_id = g_dbus_connection_add_filter (connection, send_message_filter,
                                                  g_object_ref (server), g_object_unref);
  return self;
}

void
sc_daemon_dbus_free (ScDaemonDbus *self)
{
  if (self == NULL)
    return;
  if (self->filter_id != 0)
    g_dbus_connection_remove_filter (self->connection, self->filter_id);
  for (guint i = 0; i < G_N_ELEMENTS (self->handlers); i++)
    g_clear_signal_handler (&self->handlers[i], self->server);
  if (g_dbus_interface_skeleton_get_connection (G_DBUS_INTERFACE_SKELETON (self->skeleton)))
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->skeleton));
  g_hash_table_unref (self->subscribers);
  g_object_unref (self->skeleton);
  g_object_unref (self->server);
  g_object_unref (self->connection);
  g_free (self);
}
