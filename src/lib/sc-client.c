/* sc-client.c: the seed's Client as a GObject.
 *
 * The session runs in a private I/O thread with its own GMainContext, as
 * the seed's client ran its listener in a thread: the blocking
 * establish_secure_session() can wait for the handshake while the caller's
 * context is not iterated. Signals are emitted in the thread-default main
 * context of the thread that created the client.
 *
 * This is the client the daemon milestone needs. Automatic reconnection,
 * session resumption, the outbox and known-hosts trust are the client
 * milestone's work.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-client.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "sc-channel.h"
#include "sc-error.h"
#include "sc-identity-private.h"

/* messages kept while nobody listens; past it the oldest are dropped and
 * the error signal says how many. */
#define SC_CLIENT_MAX_PENDING 1024

G_DEFINE_ENUM_TYPE (ScClientState, sc_client_state,
                    G_DEFINE_ENUM_VALUE (SC_CLIENT_STATE_DISCONNECTED, "disconnected"),
                    G_DEFINE_ENUM_VALUE (SC_CLIENT_STATE_CONNECTING, "connecting"),
                    G_DEFINE_ENUM_VALUE (SC_CLIENT_STATE_HANDSHAKING, "handshaking"),
                    G_DEFINE_ENUM_VALUE (SC_CLIENT_STATE_CONNECTED, "connected"),
                    G_DEFINE_ENUM_VALUE (SC_CLIENT_STATE_RECONNECTING, "reconnecting"),
                    G_DEFINE_ENUM_VALUE (SC_CLIENT_STATE_CLOSED, "closed"))

struct _ScClient
{
  GObject parent_instance;
  ScTlsConfig *tls_config;
  ScIdentity *identity;
  char *pinned;
  gboolean accept_any;
  char *known_hosts;    /* path of the known-hosts file, or NULL */
  char *host_port;      /* "host:port" of this connection */
  char *known_fp;       /* what known_hosts says for host_port */
  gboolean record_host; /* first use: record the key once connected */
  ScSessionConfig session_config;

  GMainContext *user_context; /* where signals are emitted */
  GMainContext *io_context;
  GMainLoop *io_loop;
  GThread *io_thread;

  GMutex lock; /* guards the fields below */
  GCond cond;
  ScChannel *channel;
  ScClientState state;
  GError *error; /* why the session ended or failed */
  char server_fingerprint[2 * SC_SHA256_LEN + 1];
  char refused_key[2 * SC_SHA256_LEN + 1]; /* written by the trust check only */
  guint64 last_acked;
  guint64 last_sent; /* id of the newest message queued */
  gboolean listening;
  GQueue pending; /* GBytes received while not listening */
};

G_DEFINE_TYPE (ScClient, sc_client, G_TYPE_OBJECT)

enum
{
  SIGNAL_MESSAGE_RECEIVED,
  SIGNAL_ERROR,
  SIGNAL_STATE_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* ==== signals in the user's context ===================================== */

typedef struct
{
  ScClient *client;
  guint signal;
  GBytes *message;
  GError *error;
  ScClientState old_state, new_state;
} ClientEvent;

static void
client_event_free (ClientEvent *ev)
{
  g_object_unref (ev->client);
  g_clear_pointer (&ev->message, g_bytes_unref);
  g_clear_error (&ev->error);
  g_free (ev);
}

static gboolean
emit_in_user_context (gpointer data)
{
  ClientEvent *ev = data;

  if (ev->signal == SIGNAL_MESSAGE_RECEIVED)
    g_signal_emit (ev->client, signals[ev->signal], 0, ev->message);
  else if (ev->signal == SIGNAL_ERROR)
    g_signal_emit (ev->client, signals[ev->signal], 0, ev->error);
  else
    g_signal_emit (ev->client, signals[ev->signal], 0, ev->old_state, ev->new_state);
  return G_SOURCE_REMOVE;
}

static void
post (ScClient *self, ClientEvent *ev)
{
  ev->client = g_object_ref (self);
  g_main_context_invoke_full (self->user_context, G_PRIORITY_DEFAULT, emit_in_user_context, ev,
                              (GDestroyNotify) client_event_free);
}

/* With the lock held: moves to a new state and reports it. */
static void
set_state_locked (ScClient *self, ScClientState state)
{
  ClientEvent *ev;

  if (self->state == state)
    return;
  ev = g_new0 (ClientEvent, 1);
  ev->signal = SIGNAL_STATE_CHANGED;
  ev->old_state = self->state;
  ev->new_state = state;
  self->state = state;
  g_cond_broadcast (&self->cond);
  post (self, ev);
}

static void
post_message (ScClient *self, GBytes *message)
{
  ClientEvent *ev = g_new0 (ClientEvent, 1);

  ev->signal = SIGNAL_MESSAGE_RECEIVED;
  ev->message = g_bytes_ref (message);
  post (self, ev);
}

static void
post_error (ScClient *self, const GError *error)
{
  ClientEvent *ev = g_new0 (ClientEvent, 1);

  ev->signal = SIGNAL_ERROR;
  ev->error = g_error_copy (error);
  post (self, ev);
}

static void known_hosts_record (ScClient *self, const char *fingerprint);

/* ==== channel callbacks (I/O thread) =================================== */

static void
on_handshake_done (ScChannel *channel, gpointer data)
{
  ScClient *self = data;
  ScChannelInfo info;

  sc_channel_get_info (channel, &info);
  if (self->record_host)
    known_hosts_record (self, info.fingerprint);
  g_mutex_lock (&self->lock);
  memcpy (self->server_fingerprint, info.fingerprint, sizeof self->server_fingerprint);
  set_state_locked (self, SC_CLIENT_STATE_CONNECTED);
  g_mutex_unlock (&self->lock);
}

static void
on_message (ScChannel *channel, guint64 id, GBytes *message, gpointer data)
{
  ScClient *self = data;
  gboolean listening;

  g_mutex_lock (&self->lock);
  listening = self->listening;
  if (!listening)
    {
      g_queue_push_tail (&self->pending, g_bytes_ref (message));
      if (g_queue_get_length (&self->pending) > SC_CLIENT_MAX_PENDING)
        g_bytes_unref (g_queue_pop_head (&self->pending));
    }
  g_mutex_unlock (&self->lock);
  if (listening)
    post_message (self, message);
}

static void
on_acked (ScChannel *channel, guint64 id, gpointer data)
{
  ScClient *self = data;

  g_mutex_lock (&self->lock);
  self->last_acked = id;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static void
on_closed (ScChannel *channel, const GError *error, const char *reason, gpointer data)
{
  ScClient *self = data;

  g_mutex_lock (&self->lock);
  if (self->error == NULL && self->refused_key[0] != '\0' && self->pinned == NULL
      && self->known_fp != NULL)
    self->error = g_error_new (SC_ERROR, SC_ERROR_UNTRUSTED,
                               "the server at %s presented the key %s, but %s records %s for "
                               "it; if its key changed on purpose, delete that line",
                               self->host_port, self->refused_key, self->known_hosts,
                               self->known_fp);
  if (self->error == NULL && self->refused_key[0] != '\0')
    self->error = g_error_new (SC_ERROR, SC_ERROR_UNTRUSTED,
                               "the server's key %s does not match the pinned fingerprint %s",
                               self->refused_key, self->pinned ? self->pinned : "(none)");
  if (self->error == NULL)
    self->error = error ? g_error_copy (error)
                        : g_error_new (SC_ERROR, SC_ERROR_CLOSED, "connection %s", reason);
  set_state_locked (self, SC_CLIENT_STATE_CLOSED);
  g_mutex_unlock (&self->lock);
  if (error != NULL)
    post_error (self, self->error);
}

static const ScChannelCallbacks channel_callbacks = {
  .handshake_done = on_handshake_done,
  .message = on_message,
  .acked = on_acked,
  .closed = on_closed,
};

/* Trust: the pinned fingerprint, or anything when told so. Runs in the I/O
 * thread with the channel's lock held, so it takes no other lock: it only
 * notes the refused key, which on_closed (same thread, later) reports. */
static int
verify_server (void *data, const ScPeerIdentity *peer)
{
  ScClient *self = data;
  char hex[2 * SC_SHA256_LEN + 1];

  sc_hex_format (peer->fingerprint, SC_SHA256_LEN, hex);
  if (self->pinned != NULL)
    {
      if (g_ascii_strcasecmp (self->pinned, hex) == 0)
        return 0;
    }
  else if (self->known_fp != NULL)
    {
      if (g_ascii_strcasecmp (self->known_fp, hex) == 0)
        return 0;
    }
  else if (self->record_host || self->accept_any)
    return 0; /* first use of a known-hosts file: on_handshake_done records it */
  memcpy (self->refused_key, hex, sizeof hex);
  return -1;
}

/* ==== establishing ====================================================== */

static gpointer
io_main (gpointer data)
{
  ScClient *self = data;

  g_main_context_push_thread_default (self->io_context);
  g_main_loop_run (self->io_loop);
  g_main_context_pop_thread_default (self->io_context);
  return NULL;
}

static gboolean
check_ready (ScClient *self, GError **error)
{
  if (self->tls_config != NULL && sc_tls_config_get_enabled (self->tls_config))
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_NOT_SUPPORTED,
                           "TLS mode is not available in this version of securecomm");
      return FALSE;
    }
  if (self->pinned == NULL && self->known_hosts == NULL && !self->accept_any)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_UNTRUSTED,
                           "no way to trust the server: pin its fingerprint "
                           "(sc_client_set_pinned_fingerprint) or use a known-hosts file");
      return FALSE;
    }
  if (self->state != SC_CLIENT_STATE_DISCONNECTED)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_FAILED,
                           "this client has already been connected; make a new one");
      return FALSE;
    }
  return TRUE;
}

/* Reads the known-hosts file ("HOST:PORT FINGERPRINT" lines, # comments)
 * and notes what it says for this connection; without an entry, this is
 * the first use and the key will be recorded. A missing file is empty. */
static gboolean
known_hosts_lookup (ScClient *self, GError **error)
{
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GError) local = NULL;

  g_clear_pointer (&self->known_fp, g_free);
  self->record_host = FALSE;
  if (!g_file_get_contents (self->known_hosts, &contents, NULL, &local))
    {
      if (!g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      contents = g_strdup ("");
    }
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) f = g_strsplit_set (g_strstrip (lines[i]), " \t", -1);

      if (f[0] == NULL || f[0][0] == '\0' || f[0][0] == '#')
        continue;
      if (g_strv_length (f) != 2 || strlen (f[1]) != 2 * SC_SHA256_LEN)
        {
          g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "%s:%u: expected “HOST:PORT FINGERPRINT”",
                       self->known_hosts, i + 1);
          return FALSE;
        }
      if (g_strcmp0 (f[0], self->host_port) == 0)
        {
          self->known_fp = g_strdup (f[1]);
          return TRUE;
        }
    }
  self->record_host = TRUE;
  return TRUE;
}

/* First use: appends this server's key to the known-hosts file. */
static void
known_hosts_record (ScClient *self, const char *fingerprint)
{
  g_autofree char *dir = g_path_get_dirname (self->known_hosts);
  g_autofree char *line = g_strdup_printf ("%s %s\n", self->host_port, fingerprint);
  int fd;

  g_mkdir_with_parents (dir, 0700);
  fd = g_open (self->known_hosts, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 || write (fd, line, strlen (line)) != (gssize) strlen (line))
    g_warning ("cannot record %s in %s: %s", self->host_port, self->known_hosts,
               g_strerror (errno));
  else
    g_info ("recorded %s %s in %s", self->host_port, fingerprint, self->known_hosts);
  if (fd >= 0)
    close (fd);
}

/* Waits (lock held) for the handshake to end either way. */
static gboolean
wait_handshake_locked (ScClient *self, GError **error)
{
  while (self->state == SC_CLIENT_STATE_HANDSHAKING)
    g_cond_wait (&self->cond, &self->lock);
  if (self->state == SC_CLIENT_STATE_CONNECTED)
    return TRUE;
  if (self->error != NULL)
    g_propagate_error (error, g_error_copy (self->error));
  else
    g_set_error_literal (error, SC_ERROR, SC_ERROR_FAILED, "the handshake failed");
  return FALSE;
}

/**
 * sc_client_establish_secure_session:
 * @self: a #ScClient
 * @host: the server's host name or address
 * @port: its TCP port
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Connects and runs the SecureComm handshake, blocking until the session is
 * up or has failed.
 *
 * Returns: %TRUE when connected
 */
gboolean
sc_client_establish_secure_session (ScClient *self, const char *host, guint16 port,
                                    GCancellable *cancellable, GError **error)
{
  g_autoptr (GSocketClient) sock_client = g_socket_client_new ();
  g_autoptr (GSocketConnection) conn = NULL;
  gboolean ok;

  g_return_val_if_fail (SC_IS_CLIENT (self), FALSE);
  if (!check_ready (self, error))
    return FALSE;
  g_free (self->host_port);
  self->host_port = strchr (host, ':') ? g_strdup_printf ("[%s]:%u", host, port)
                                       : g_strdup_printf ("%s:%u", host, port);
  if (self->known_hosts != NULL && self->pinned == NULL && !known_hosts_lookup (self, error))
    return FALSE;
  g_mutex_lock (&self->lock);
  set_state_locked (self, SC_CLIENT_STATE_CONNECTING);
  g_mutex_unlock (&self->lock);
  conn = g_socket_client_connect_to_host (sock_client, host, port, cancellable, error);
  g_mutex_lock (&self->lock);
  if (conn == NULL)
    {
      set_state_locked (self, SC_CLIENT_STATE_CLOSED);
      g_mutex_unlock (&self->lock);
      return FALSE;
    }
  if (self->identity != NULL)
    self->session_config.identity = sc_identity_get_key (self->identity);
  self->channel = sc_channel_new (G_IO_STREAM (conn), self->io_context, &self->session_config,
                                  verify_server, &channel_callbacks, self, error);
  if (self->channel == NULL)
    {
      set_state_locked (self, SC_CLIENT_STATE_CLOSED);
      g_mutex_unlock (&self->lock);
      return FALSE;
    }
  set_state_locked (self, SC_CLIENT_STATE_HANDSHAKING);
  g_mutex_unlock (&self->lock); /* lock order: never the client's, then a channel's */
  sc_channel_start (self->channel);
  g_mutex_lock (&self->lock);
  ok = wait_handshake_locked (self, error);
  g_mutex_unlock (&self->lock);
  return ok;
}

static void
establish_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  ScClient *self = source;
  GError *error = NULL;
  char *host = g_object_get_data (G_OBJECT (task), "host");
  guint16 port = (guint16) GPOINTER_TO_UINT (data);

  if (sc_client_establish_secure_session (self, host, port, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/**
 * sc_client_establish_secure_session_async:
 * @self: a #ScClient
 * @host: the server's host name or address
 * @port: its TCP port
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the session is up or has failed
 * @user_data: data for @callback
 *
 * The asynchronous form of sc_client_establish_secure_session().
 */
void
sc_client_establish_secure_session_async (ScClient *self, const char *host, guint16 port,
                                          GCancellable *cancellable, GAsyncReadyCallback callback,
                                          gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, sc_client_establish_secure_session_async);
  g_task_set_task_data (task, GUINT_TO_POINTER ((guint) port), NULL);
  g_object_set_data_full (G_OBJECT (task), "host", g_strdup (host), g_free);
  g_task_run_in_thread (task, establish_thread);
}

/**
 * sc_client_establish_secure_session_finish:
 * @self: a #ScClient
 * @result: the result
 * @error: return location for a #GError
 *
 * Returns: %TRUE when connected
 */
gboolean
sc_client_establish_secure_session_finish (ScClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ==== using the session ================================================= */

static ScChannel *
ref_channel (ScClient *self, GError **error)
{
  ScChannel *channel = NULL;

  g_mutex_lock (&self->lock);
  if (self->channel != NULL && self->state == SC_CLIENT_STATE_CONNECTED)
    channel = sc_channel_ref (self->channel);
  g_mutex_unlock (&self->lock);
  if (channel == NULL)
    g_set_error_literal (error, SC_ERROR, SC_ERROR_NOT_CONNECTED, "not connected");
  return channel;
}

/**
 * sc_client_send_bytes:
 * @self: a #ScClient
 * @message: the message
 * @out_message_id: (out) (optional): its protocol message id
 * @error: return location for a #GError
 *
 * Encrypts and queues a message for the server.
 *
 * Returns: %TRUE if queued
 */
gboolean
sc_client_send_bytes (ScClient *self, GBytes *message, guint64 *out_message_id, GError **error)
{
  g_autoptr (ScChannel) channel = NULL;
  gsize len;
  const guint8 *data;
  guint64 id = 0;

  g_return_val_if_fail (SC_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (message != NULL, FALSE);
  channel = ref_channel (self, error);
  if (channel == NULL)
    return FALSE;
  data = g_bytes_get_data (message, &len);
  if (!sc_channel_send (channel, data, len, &id, error))
    return FALSE;
  g_mutex_lock (&self->lock);
  self->last_sent = MAX (self->last_sent, id);
  g_mutex_unlock (&self->lock);
  if (out_message_id != NULL)
    *out_message_id = id;
  return TRUE;
}

/**
 * sc_client_flush:
 * @self: a #ScClient
 * @timeout_ms: how long to wait at most, in milliseconds
 * @error: return location for a #GError
 *
 * Blocks until the server has acknowledged every message sent so far, the
 * connection ends, or @timeout_ms passes.
 *
 * Returns: %TRUE when everything sent was acknowledged
 */
gboolean
sc_client_flush (ScClient *self, guint timeout_ms, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
  gboolean ok;

  g_return_val_if_fail (SC_IS_CLIENT (self), FALSE);
  g_mutex_lock (&self->lock);
  while (self->last_acked < self->last_sent && self->state == SC_CLIENT_STATE_CONNECTED)
    if (!g_cond_wait_until (&self->cond, &self->lock, deadline))
      break;
  ok = self->last_acked >= self->last_sent;
  if (!ok && self->state != SC_CLIENT_STATE_CONNECTED && self->error != NULL)
    g_propagate_prefixed_error (
        error, g_error_copy (self->error),
        "%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " messages acknowledged: ", self->last_acked,
        self->last_sent);
  else if (!ok)
    g_set_error (error, SC_ERROR, SC_ERROR_TIMEOUT,
                 "%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " messages acknowledged after %u ms",
                 self->last_acked, self->last_sent, timeout_ms);
  g_mutex_unlock (&self->lock);
  return ok;
}

/**
 * sc_client_send_message:
 * @self: a #ScClient
 * @message: the message, UTF-8 text
 * @error: return location for a #GError
 *
 * The seed's send_message(message).
 *
 * Returns: %TRUE if queued
 */
gboolean
sc_client_send_message (ScClient *self, const char *message, GError **error)
{
  g_autoptr (GBytes) bytes = NULL;

  g_return_val_if_fail (message != NULL, FALSE);
  if (!g_utf8_validate (message, -1, NULL))
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_INVALID_MESSAGE,
                           "the message is not valid UTF-8");
      return FALSE;
    }
  bytes = g_bytes_new (message, strlen (message));
  return sc_client_send_bytes (self, bytes, NULL, error);
}

/**
 * sc_client_start_listening:
 * @self: a #ScClient
 *
 * From now on, every message from the server is emitted as
 * #ScClient::message-received, starting with those that arrived before.
 */
void
sc_client_start_listening (ScClient *self)
{
  GQueue pending = G_QUEUE_INIT;
  GBytes *message;

  g_return_if_fail (SC_IS_CLIENT (self));
  g_mutex_lock (&self->lock);
  self->listening = TRUE;
  pending = self->pending;
  g_queue_init (&self->pending);
  g_mutex_unlock (&self->lock);
  while ((message = g_queue_pop_head (&pending)) != NULL)
    {
      post_message (self, message);
      g_bytes_unref (message);
    }
}

/**
 * sc_client_stop_listening:
 * @self: a #ScClient
 *
 * Stops emitting messages; later ones are kept (up to a bound) until
 * listening starts again.
 */
void
sc_client_stop_listening (ScClient *self)
{
  g_return_if_fail (SC_IS_CLIENT (self));
  g_mutex_lock (&self->lock);
  self->listening = FALSE;
  g_mutex_unlock (&self->lock);
}

/**
 * sc_client_shutdown:
 * @self: a #ScClient
 *
 * Sends a close message, waits for the connection to end and stops the
 * I/O thread. The client cannot be used afterwards.
 */
void
sc_client_shutdown (ScClient *self)
{
  g_autoptr (ScChannel) channel = NULL;

  g_return_if_fail (SC_IS_CLIENT (self));
  g_mutex_lock (&self->lock);
  if (self->channel != NULL && self->state != SC_CLIENT_STATE_CLOSED)
    channel = sc_channel_ref (self->channel);
  g_mutex_unlock (&self->lock);
  if (channel != NULL)
    sc_channel_close (channel, SC_CLOSE_NORMAL, "closed by the client");
  g_mutex_lock (&self->lock);
  while (channel != NULL && self->state != SC_CLIENT_STATE_CLOSED)
    g_cond_wait (&self->cond, &self->lock);
  set_state_locked (self, SC_CLIENT_STATE_CLOSED);
  g_mutex_unlock (&self->lock);
  if (self->io_thread != NULL)
    {
      sc_main_loop_quit_later (self->io_loop);
      g_thread_join (self->io_thread);
      self->io_thread = NULL;
      while (g_main_context_iteration (self->io_context, FALSE))
        ;
    }
}

/**
 * sc_client_is_connected:
 * @self: a #ScClient
 *
 * Returns: whether the secure session is up
 */
gboolean
sc_client_is_connected (ScClient *self)
{
  g_return_val_if_fail (SC_IS_CLIENT (self), FALSE);
  return sc_client_get_state (self) == SC_CLIENT_STATE_CONNECTED;
}

/**
 * sc_client_get_state:
 * @self: a #ScClient
 *
 * Returns: the current state
 */
ScClientState
sc_client_get_state (ScClient *self)
{
  ScClientState state;

  g_return_val_if_fail (SC_IS_CLIENT (self), SC_CLIENT_STATE_CLOSED);
  g_mutex_lock (&self->lock);
  state = self->state;
  g_mutex_unlock (&self->lock);
  return state;
}

/**
 * sc_client_get_server_fingerprint:
 * @self: a #ScClient
 *
 * Returns: (nullable): the server key's fingerprint once connected
 */
const char *
sc_client_get_server_fingerprint (ScClient *self)
{
  g_return_val_if_fail (SC_IS_CLIENT (self), NULL);
  return self->server_fingerprint[0] ? self->server_fingerprint : NULL;
}

/**
 * sc_client_get_last_acked:
 * @self: a #ScClient
 *
 * Returns: the highest message id the server has acknowledged
 */
guint64
sc_client_get_last_acked (ScClient *self)
{
  guint64 id;

  g_return_val_if_fail (SC_IS_CLIENT (self), 0);
  g_mutex_lock (&self->lock);
  id = self->last_acked;
  g_mutex_unlock (&self->lock);
  return id;
}

/**
 * sc_client_set_identity:
 * @self: a #ScClient
 * @identity: (nullable): the key to prove when the server asks
 *
 * Sets the client's identity; call before connecting.
 */
void
sc_client_set_identity (ScClient *self, ScIdentity *identity)
{
  g_return_if_fail (SC_IS_CLIENT (self));
  g_set_object (&self->identity, identity);
}

/**
 * sc_client_set_pinned_fingerprint:
 * @self: a #ScClient
 * @fingerprint: (nullable): the server key's lowercase hex SHA-256
 *
 * Trusts exactly the server key with this fingerprint.
 */
void
sc_client_set_pinned_fingerprint (ScClient *self, const char *fingerprint)
{
  g_return_if_fail (SC_IS_CLIENT (self));
  g_free (self->pinned);
  self->pinned = g_strdup (fingerprint);
}

/**
 * sc_client_set_known_hosts:
 * @self: a #ScClient
 * @path: (nullable): a known-hosts file
 *
 * Trusts servers the way ssh does: the first key a HOST:PORT presents is
 * recorded in @path; later connections must present the same key, and a
 * different one is refused with an error that names both. A pinned
 * fingerprint takes precedence.
 */
void
sc_client_set_known_hosts (ScClient *self, const char *path)
{
  g_return_if_fail (SC_IS_CLIENT (self));
  g_free (self->known_hosts);
  self->known_hosts = g_strdup (path);
}

/**
 * sc_client_set_accept_any_server:
 * @self: a #ScClient
 * @accept_any: whether to trust any server key
 *
 * Without a pin, trusts whatever key the server presents. The session is
 * still encrypted but an active attacker can sit in the middle: for tests
 * and first contact only.
 */
void
sc_client_set_accept_any_server (ScClient *self, gboolean accept_any)
{
  g_return_if_fail (SC_IS_CLIENT (self));
  self->accept_any = accept_any;
}

/* ==== GObject =========================================================== */

static void
sc_client_dispose (GObject *object)
{
  ScClient *self = SC_CLIENT (object);

  if (self->io_thread != NULL)
    sc_client_shutdown (self);
  G_OBJECT_CLASS (sc_client_parent_class)->dispose (object);
}

static void
sc_client_finalize (GObject *object)
{
  ScClient *self = SC_CLIENT (object);

  g_clear_pointer (&self->channel, sc_channel_unref);
  g_clear_object (&self->tls_config);
  g_clear_object (&self->identity);
  g_free (self->pinned);
  g_free (self->known_hosts);
  g_free (self->host_port);
  g_free (self->known_fp);
  g_clear_error (&self->error);
  g_queue_clear_full (&self->pending, (GDestroyNotify) g_bytes_unref);
  g_main_loop_unref (self->io_loop);
  g_main_context_unref (self->io_context);
  g_main_context_unref (self->user_context);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (sc_client_parent_class)->finalize (object);
}

static void
sc_client_class_init (ScClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sc_client_dispose;
  object_class->finalize = sc_client_finalize;

  /**
   * ScClient::message-received:
   * @client: the client
   * @message: the message
   *
   * A message from the server, while listening.
   */
  signals[SIGNAL_MESSAGE_RECEIVED] = g_signal_new ("message-received", G_TYPE_FROM_CLASS (klass),
                                                   G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                   G_TYPE_NONE, 1, G_TYPE_BYTES);
  /**
   * ScClient::error:
   * @client: the client
   * @error: what went wrong
   *
   * The seed's error handler.
   */
  signals[SIGNAL_ERROR] = g_signal_new ("error", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
  /**
   * ScClient::state-changed:
   * @client: the client
   * @old_state: the previous state
   * @new_state: the new state
   *
   * The seed's state-change handler.
   */
  signals[SIGNAL_STATE_CHANGED] = g_signal_new ("state-changed", G_TYPE_FROM_CLASS (klass),
                                                G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                                2, SC_TYPE_CLIENT_STATE, SC_TYPE_CLIENT_STATE);
}

static void
sc_client_init (ScClient *self)
{
  sc_session_config_init (&self->session_config, SC_ROLE_CLIENT);
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->pending);
  self->user_context = g_main_context_ref_thread_default ();
  self->io_context = g_main_context_new ();
  self->io_loop = g_main_loop_new (self->io_context, FALSE);
  self->io_thread = g_thread_new ("sc-client-io", io_main, self);
}

/**
 * sc_client_new:
 * @tls_config: (nullable): TLS configuration, or %NULL for none
 *
 * The seed's Client(tls_config).
 *
 * Returns: (transfer full): a new #ScClient
 */
ScClient *
sc_client_new (ScTlsConfig *tls_config)
{
  ScClient *self = g_object_new (SC_TYPE_CLIENT, NULL);

  if (tls_config != NULL)
    self->tls_config = g_object_ref (tls_config);
  return self;
}
