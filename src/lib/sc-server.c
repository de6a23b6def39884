/* sc-server.c: the seed's Server as a GObject.
 *
 * One GSocketService accepts connections in the first worker thread, so
 * that accepting never waits on the caller's main loop (a client and a
 * server in one thread, as in the seed's examples, must work). Each
 * accepted connection becomes a ScChannel running in one of N worker
 * threads, each with its own GMainContext, chosen round robin. Each worker
 * context has one epoll-backed event source (ScPoller) that carries all its
 * channels, so an iteration costs what is ready, not how many clients there
 * are (docs/DESIGN-scale.md). The registry of clients is guarded by
 * one mutex; every public method is safe from any thread. Signals are
 * emitted in the main context (sc-event-queue.h); a message handler, when
 * set, runs in the worker that read the message.
 *
 * Each client id names a stream (docs/PROTOCOL.md 4.7): the messages to
 * and from one client across reconnections. A stream keeps what was sent
 * to the client in an outbox until acknowledged; when the connection is
 * lost the stream stays, detached, for the ticket lifetime, so that the
 * client can resume it and get what it lacks; messages sent to a detached
 * client wait in the outbox. Messages from the client are delivered once:
 * by id, whatever connection they arrive on.
 *
 * Lock order: a stream's deliver_lock (held while one of its messages is
 * handed to the handler or queued for the signal, so that a connection
 * taking over the stream delivers after the one it replaced has finished),
 * then a stream's send_lock (its outbox), then a channel's lock,
 * then the server lock (the tables), then a stream's ids_lock (its message
 * ids and which connection owns it; innermost: only reference counts are
 * taken under it). The path of a message, in or out, takes the server lock
 * at most once, to find the client. A channel's lock may be held when the
 * server lock is taken (the trust and resume callbacks), never the
 * reverse; no channel is called with the server lock held, and no callback
 * of a channel runs with any of these held, so a message handler may call
 * any method but shutdown.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE /* POLLRDHUP */
#include "config.h"

#include "sc-server.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "sc-channel.h"
#include "sc-error.h"
#include "sc-event-queue.h"
#include "sc-identity-private.h"
#include "sc-marshal.h"
#include "sc-outbox.h"
#include "sc-poller.h"
#include "sc-ticket-keys.h"
#include "sc-tls.h"

/* ms: how long shutdown waits for peers to take their close message before
 * it drops what is still queued. */
#define SC_SERVER_SHUTDOWN_GRACE_MS 2000
/* us: how often shutdown looks whether the last streams have closed */
#define SC_SERVER_CLOSE_POLL_US 1000
/* Upper bound on worker threads, whatever the core count. */
#define SC_SERVER_MAX_WORKERS 64
/* hex digits of the key fingerprint in an authenticated client's id: 128
 * bits, so two keys collide with probability 2^-64 among 2^32 clients. */
#define SC_CLIENT_ID_KEY_HEX 32
/* connections: the listen backlog. GLib's default of 10 overflows under a
 * burst of connections, and each dropped SYN costs the client a 1 s
 * retransmission; the kernel caps it at net.core.somaxconn (4096). */
#define SC_SERVER_LISTEN_BACKLOG 1024
/* tries at a port the kernel chooses that is free on every address of the
 * host (bind_host) */
#define SC_SERVER_BIND_ATTEMPTS 8
/* us: detached streams are swept for expiry at most this often. */
#define SC_SERVER_SWEEP_INTERVAL_US (10 * G_USEC_PER_SEC)

G_DEFINE_ENUM_TYPE (ScClientAuthMode, sc_client_auth_mode,
                    G_DEFINE_ENUM_VALUE (SC_CLIENT_AUTH_MODE_NONE, "none"),
                    G_DEFINE_ENUM_VALUE (SC_CLIENT_AUTH_MODE_OPTIONAL, "optional"),
                    G_DEFINE_ENUM_VALUE (SC_CLIENT_AUTH_MODE_REQUIRED, "required"))

typedef struct
{
  GThread *thread;
  GMainContext *context;
  GMainLoop *loop;
  ScPoller *poller; /* its channels' event source, for the worker's life */
} ScWorker;

typedef struct _ScServerClient ScServerClient;

/* One client's stream. Owned by the tables (by_id, streams) plus a
 * reference from each connection that was attached to it (until that
 * connection ends). */
typedef struct
{
  gatomicrefcount ref;
  char *id;                                  /* the client id (a GRefString) */
  char stream_key[2 * SC_STREAM_ID_LEN + 1]; /* hex stream id */
  guint32 generation;                        /* a ticket with it may resume */
  char fingerprint[2 * SC_SHA256_LEN + 1];   /* the client's key (hex), or empty */
  /* Outermost: one message of the stream delivered at a time. */
  GMutex deliver_lock;
  /* Guards the outbox, and serialises it with sc_channel_send. */
  GMutex send_lock;
  ScOutbox *outbox;
  /* Innermost: guards the message ids, and conn together with the server
   * lock (conn changes with both held, and may be read with either), so
   * that messages are delivered and sent without the server lock. */
  GMutex ids_lock;
  guint64 recv_id;      /* highest message id delivered from the client */
  guint64 sent_id;      /* highest message id sent to the client */
  ScServerClient *conn; /* attached connection, or NULL: detached */
  /* conn is new and catch_up has not put the outbox in order for it yet:
   * senders only queue (a message sent on it now would go out ahead of
   * older ones still to be sent again, under their ids) */
  gboolean catching_up;
  /* Guarded by the server lock: */
  gint64 detached_us; /* monotonic, when conn went away */
  /* Atomic, set once with the server lock held: the tables forgot the
   * stream (it expired, was closed, or a full handshake took its outbox
   * over, holding send_lock). A sender that finds it set under send_lock
   * looks the client up again instead of pushing into a dead outbox. */
  gint dropped;
} ScServerStream;

struct _ScServerClient
{
  ScServer *server; /* not a reference: shutdown outlives every client */
  ScWorker *worker;
  GSocketConnection *conn; /* the TCP connection */
  ScChannel *channel;      /* NULL while the TLS handshake runs */
  char *id;                /* a GRefString, from the handshake until the stream is lost */
  char *source;            /* the peer's address without the port */
  gboolean handshaking;
  /* A reference, once attached; kept (and changed only in the client's
   * worker) until the connection ends, even when another connection takes
   * the stream over: whether this one still owns it is stream->conn. */
  ScServerStream *stream;
  /* TLS mode, until the TLS handshake is done: */
  GIOStream *tls;
  GCancellable *tls_cancel;
  GSource *tls_timeout;
  GSource *hello_wait; /* until the first TLS record is all here (wait_for_hello) */
  gint hello_lowat;    /* the socket's SO_RCVLOWAT while hello_wait waits */
  gboolean timed_out;  /* tls_cancel fired for the handshake timeout */
};

struct _ScServer
{
  GObject parent_instance;
  char *host;
  guint16 port;
  ScTlsConfig *tls_config;
  ScIdentity *identity;
  ScSessionConfig session_config;
  ScClientAuthMode client_auth;
  guint workers_wanted;
  guint idle_timeout_ms;
  guint max_clients, max_handshakes, max_per_source;

  GPtrArray *extra_addresses; /* "host" strings, with extra_ports */
  GArray *extra_ports;        /* guint16 */
  GMainContext *main_context;
  GSocketService *service;
  GPtrArray *listen_addresses; /* char * */
  ScWorker *workers;
  guint n_workers;
  guint next_worker;

  GMutex lock;            /* guards everything below */
  GCond cond;             /* signalled when a client goes away */
  guint waiting_empty;    /* threads waiting on cond (wait_empty_locked) */
  GHashTable *clients;    /* ScServerClient * set: every connection */
  GHashTable *by_id;      /* id -> ScServerStream *, attached or detached */
  GHashTable *streams;    /* hex stream id -> ScServerStream * */
  GHashTable *per_source; /* source -> count */
  guint n_handshakes;
  guint n_attached;
  gint64 last_sweep_us;
  GStrv allowed;           /* fingerprints, or NULL for any */
  guint ticket_lifetime_s; /* 0: no resumption */
  ScTicketKeyring *ticket_keys;
  ScTlsContext *tls; /* TLS mode: replaced by sc_server_reload_tls */

  ScEventQueue *events;                  /* ServerEvent, for the main context */
  const struct _ServerEvent *announcing; /* the client-connected being emitted */
  /* Set before sc_server_start(), read by the workers: */
  ScServerMessageHandler handler;
  gpointer handler_data;
  GDestroyNotify handler_destroy;
};

G_DEFINE_TYPE (ScServer, sc_server, G_TYPE_OBJECT)

enum
{
  SIGNAL_MESSAGE_RECEIVED,
  SIGNAL_CLIENT_CONNECTED,
  SIGNAL_CLIENT_DISCONNECTED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

enum
{
  PROP_0,
  PROP_HOST,
  PROP_PORT,
  PROP_TLS_CONFIG,
  PROP_IDENTITY,
  PROP_CLIENT_AUTH,
  PROP_WORKERS,
  PROP_HEARTBEAT_INTERVAL,
  PROP_HEARTBEAT_MISSED,
  PROP_HANDSHAKE_TIMEOUT,
  PROP_IDLE_TIMEOUT,
  PROP_MAX_CLIENTS,
  PROP_MAX_HANDSHAKES,
  PROP_MAX_PER_SOURCE,
  PROP_MAX_MESSAGE_SIZE,
  PROP_MAX_CLOCK_SKEW,
  PROP_REKEY_AFTER_TIME,
  PROP_REKEY_AFTER_RECORDS,
  PROP_REKEY_AFTER_BYTES,
  PROP_TICKET_LIFETIME,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

/* The guint properties and where they live: table-driven get/set. */
typedef struct
{
  guint prop;
  const char *name;
  const char *blurb;
  guint min, max, def;
  gsize offset;
} UintProp;

#define SESSION_LIMIT(field)                                                              \
  (G_STRUCT_OFFSET (ScServer, session_config) + G_STRUCT_OFFSET (ScSessionConfig, limits) \
   + G_STRUCT_OFFSET (ScLimits, field))

static const UintProp uint_props[] = {
  { PROP_WORKERS, "workers", "Worker threads (0: one per core)", 0, SC_SERVER_MAX_WORKERS, 0,
    G_STRUCT_OFFSET (ScServer, workers_wanted) },
  { PROP_HEARTBEAT_INTERVAL, "heartbeat-interval", "ms between pings (0: none)", 0, 3600000,
    SC_DEFAULT_HEARTBEAT_INTERVAL_MS, SESSION_LIMIT (heartbeat_interval_ms) },
  { PROP_HEARTBEAT_MISSED, "heartbeat-missed", "Silent intervals before a peer is dead", 1, 100,
    SC_DEFAULT_HEARTBEAT_MISSED, SESSION_LIMIT (heartbeat_missed) },
  { PROP_HANDSHAKE_TIMEOUT, "handshake-timeout", "ms a handshake may take", 100, 600000,
    SC_DEFAULT_HANDSHAKE_TIMEOUT_MS, SESSION_LIMIT (handshake_timeout_ms) },
  { PROP_IDLE_TIMEOUT, "idle-timeout", "ms without a message before closing (0: never)", 0,
    G_MAXUINT, 0, G_STRUCT_OFFSET (ScServer, idle_timeout_ms) },
  { PROP_MAX_CLIENTS, "max-clients", "Most connections at once", 1, G_MAXUINT, 10000,
    G_STRUCT_OFFSET (ScServer, max_clients) },
  { PROP_MAX_HANDSHAKES, "max-handshakes", "Most handshakes in progress at once", 1, G_MAXUINT, 256,
    G_STRUCT_OFFSET (ScServer, max_handshakes) },
  { PROP_MAX_PER_SOURCE, "max-per-source", "Most connections from one address", 1, G_MAXUINT, 64,
    G_STRUCT_OFFSET (ScServer, max_per_source) },
  { PROP_MAX_MESSAGE_SIZE, "max-message-size", "Largest message accepted, bytes", 1,
    SC_MAX_MESSAGE_SIZE_LIMIT, SC_DEFAULT_MAX_MESSAGE_SIZE, SESSION_LIMIT (max_message_size) },
  { PROP_MAX_CLOCK_SKEW, "max-clock-skew", "Allowed clock difference, ms", 0, SC_MAX_SKEW_LIMIT_MS,
    SC_DEFAULT_MAX_SKEW_MS, SESSION_LIMIT (max_skew_ms) },
  { PROP_REKEY_AFTER_TIME, "rekey-after-time", "Key age that triggers a key update, ms", 0,
    G_MAXUINT, SC_DEFAULT_REKEY_AFTER_MS, SESSION_LIMIT (rekey_after_ms) },
  { PROP_TICKET_LIFETIME, "ticket-lifetime",
    "s a resumption ticket (and a lost client's stream) lives; 0: no resumption", 0,
    SC_MAX_TICKET_LIFETIME_S, SC_DEFAULT_TICKET_LIFETIME_S,
    G_STRUCT_OFFSET (ScServer, ticket_lifetime_s) },
};

static guint *
uint_field (ScServer *self, const UintProp *p)
{
  return (guint *) G_STRUCT_MEMBER_P (self, p->offset);
}

static const UintProp *
find_uint_prop (guint prop)
{
  for (gsize i = 0; i < G_N_ELEMENTS (uint_props); i++)
    if (uint_props[i].prop == prop)
      return &uint_props[i];
  return NULL;
}

/* ==== events to the main context ======================================= */

/* Stored inline in the event queue: posting a message allocates nothing. */
typedef struct _ServerEvent
{
  guint signal;
  char *id; /* a GRefString reference */
  GBytes *message;
  char *reason;
  GVariant *info; /* client-connected: the connection's info then */
} ServerEvent;

static void
server_event_clear (gpointer data)
{
  ServerEvent *ev = data;

  g_ref_string_release (ev->id);
  g_clear_pointer (&ev->message, g_bytes_unref);
  g_free (ev->reason);
  g_clear_pointer (&ev->info, g_variant_unref);
}

/* In the main context, for each event in order. */
static void
emit_event (gpointer owner, gpointer data)
{
  ScServer *self = owner;
  ServerEvent *ev = data;

  if (ev->signal == SIGNAL_MESSAGE_RECEIVED)
    g_signal_emit (self, signals[ev->signal], 0, ev->id, ev->message);
  else if (ev->signal == SIGNAL_CLIENT_CONNECTED)
    {
      /* a handler asking for the client's info gets it even if the client
       * is already gone again (its client-disconnected follows) */
      self->announcing = ev;
      g_signal_emit (self, signals[ev->signal], 0, ev->id);
      self->announcing = NULL;
    }
  else
    g_signal_emit (self, signals[ev->signal], 0, ev->id, ev->reason);
}

/* From a worker: queue a signal for the main context. One wake-up of the
 * main context takes every event queued by then (a busy client's messages
 * do not cost a wake-up each). Events of one client come from one worker
 * thread and one queue, so they keep their order. ref_id is a GRefString
 * (a stream's or a connection's id): the event takes a reference. */
static void
post_event (ScServer *self, guint signal, const char *ref_id, GBytes *message, const char *reason)
{
  ServerEvent ev;

  /* A signal nobody is connected to costs no wake-up of the main context
   * (a handler connected later sees the events from then on). */
  if (!g_signal_has_handler_pending (self, signals[signal], 0, TRUE))
    return;
  ev = (ServerEvent) {
    .signal = signal,
    .id = g_ref_string_acquire ((char *) ref_id),
    .message = message ? g_bytes_ref (message) : NULL,
    .reason = g_strdup (reason),
  };

  sc_event_queue_post (self->events, &ev);
}

static GVariant *client_info_new (ScChannel *channel);

/* The info goes with the event (not the channel: its keys would live on
 * until the main context runs), so that a client-connected handler gets
 * it even for a client gone again since. */
static void
post_connected (ScServer *self, const char *ref_id, ScChannel *channel)
{
  ServerEvent ev;

  if (!g_signal_has_handler_pending (self, signals[SIGNAL_CLIENT_CONNECTED], 0, TRUE))
    return;
  ev = (ServerEvent) {
    .signal = SIGNAL_CLIENT_CONNECTED,
    .id = g_ref_string_acquire ((char *) ref_id),
    .info = client_info_new (channel),
  };
  sc_event_queue_post (self->events, &ev);
}

/* ==== channel callbacks (worker threads) =============================== */

static char *
client_id_for (ScChannel *channel)
{
  ScChannelInfo info;
  guint8 rnd[8];
  char hex[2 * sizeof rnd + 1];

  sc_channel_get_info (channel, &info);
  if (info.authenticated)
    return g_strdup_printf ("key-%.*s", SC_CLIENT_ID_KEY_HEX, info.fingerprint);
  if (sc_random_bytes (rnd, sizeof rnd) != 0)
    g_error ("the system random source failed");
  sc_hex_format (rnd, sizeof rnd, hex);
  return g_strdup_printf ("anon-%s", hex);
}

/* ---- streams ------------------------------------------------------------- */

static ScServerStream *
stream_ref (ScServerStream *st)
{
  g_atomic_ref_count_inc (&st->ref);
  return st;
}

static void
stream_unref (ScServerStream *st)
{
  if (st == NULL || !g_atomic_ref_count_dec (&st->ref))
    return;
  sc_outbox_free (st->outbox);
  g_mutex_clear (&st->deliver_lock);
  g_mutex_clear (&st->send_lock);
  g_mutex_clear (&st->ids_lock);
  g_ref_string_release (st->id);
  g_free (st);
}

/* With the lock held: forgets a stream (its id and stream id). */
static void
drop_stream_locked (ScServer *self, ScServerStream *st)
{
  g_atomic_int_set (&st->dropped, TRUE);
  if (g_hash_table_lookup (self->by_id, st->id) == st)
    g_hash_table_remove (self->by_id, st->id);
  if (g_hash_table_lookup (self->streams, st->stream_key) == st)
    g_hash_table_remove (self->streams, st->stream_key); /* drops the tables' reference */
}

/* With the server lock held, which comes after send_lock: the outbox is
 * counted only if no sender holds it. */
static void
log_expired (ScServerStream *st)
{
  if (!g_mutex_trylock (&st->send_lock))
    {
      g_info ("the stream of %s expired", st->id);
      return;
    }
  g_info ("the stream of %s expired with %u undelivered message(s)", st->id,
          sc_outbox_length (st->outbox));
  g_mutex_unlock (&st->send_lock);
}

/* With the lock held: detached streams past the ticket lifetime go. */
static void
sweep_streams_locked (ScServer *self)
{
  gint64 now = g_get_monotonic_time ();
  gint64 life = (gint64) self->ticket_lifetime_s * G_USEC_PER_SEC;
  GHashTableIter iter;
  ScServerStream *st;

  if (now - self->last_sweep_us < SC_SERVER_SWEEP_INTERVAL_US)
    return;
  self->last_sweep_us = now;
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &st))
    if (st->conn == NULL && now - st->detached_us >= life)
      {
        log_expired (st);
        if (g_hash_table_lookup (self->by_id, st->id) == st)
          g_hash_table_remove (self->by_id, st->id);
        g_hash_table_iter_remove (&iter);
      }
}

static ScServerStream *
stream_new (const char *id, const ScChannelHandshake *hs, ScChannel *channel)
{
  ScServerStream *st = g_new0 (ScServerStream, 1);
  ScChannelInfo info;

  g_atomic_ref_count_init (&st->ref);
  g_mutex_init (&st->deliver_lock);
  g_mutex_init (&st->send_lock);
  g_mutex_init (&st->ids_lock);
  st->id = g_ref_string_new (id);
  sc_hex_format (hs->stream_id, SC_STREAM_ID_LEN, st->stream_key);
  st->generation = hs->generation;
  st->outbox = sc_outbox_new (SC_OUTBOX_DEFAULT_MAX_MESSAGES, SC_OUTBOX_DEFAULT_MAX_BYTES);
  sc_channel_get_info (channel, &info);
  memcpy (st->fingerprint, info.fingerprint, sizeof st->fingerprint);
  return st;
}

/* With send_lock held: the first unsent outbox entry went under id. */
static void
mark_sent (ScServerStream *st, guint64 id)
{
  sc_outbox_mark_sent (st->outbox, id);
  g_mutex_lock (&st->ids_lock);
  st->sent_id = MAX (st->sent_id, id);
  g_mutex_unlock (&st->ids_lock);
}

/* A reference to the channel of the connection that owns st, or NULL. */
static ScChannel *
stream_channel (ScServerStream *st)
{
  ScChannel *channel = NULL;

  g_mutex_lock (&st->ids_lock);
  if (st->conn != NULL && !st->catching_up) /* freed only after it let go of st, under ids_lock */
    channel = sc_channel_ref (st->conn->channel);
  g_mutex_unlock (&st->ids_lock);
  return channel;
}

/* Whether client is the connection that owns st. */
static gboolean
stream_owned_by (ScServerStream *st, ScServerClient *client)
{
  gboolean owned;

  g_mutex_lock (&st->ids_lock);
  owned = st->conn == client;
  g_mutex_unlock (&st->ids_lock);
  return owned;
}

/* With send_lock held: sends the stream's unsent outbox entries on channel,
 * in order; after a resumption they get back their ids. */
static void
pump_stream (ScServer *self, ScServerStream *st, ScChannel *channel)
{
  for (;;)
    {
      g_autoptr (GError) error = NULL;
      const guint8 *data;
      gsize len;
      guint64 id = 0;

      /* (data stays put: only a push, under send_lock, moves it) */
      if (!sc_outbox_peek_unsent (st->outbox, &data, &len))
        return;
      if (!sc_channel_send (channel, data, len, &id, &error))
        {
          if (!g_error_matches (error, SC_ERROR, SC_ERROR_MESSAGE_TOO_LARGE))
            return; /* busy (the client does not read) or going: sent later */
          g_warning ("dropped a message for %s that it does not accept: %s", st->id,
                     error->message);
          sc_outbox_drop_unsent (st->outbox);
          continue;
        }
      mark_sent (st, id);
    }
}

/* ---- channel callbacks (worker threads) ---------------------------------- */

/* With the server lock held: which connection owns the stream. */
static void
set_conn_locked (ScServerStream *st, ScServerClient *conn)
{
  g_mutex_lock (&st->ids_lock);
  st->conn = conn;
  st->catching_up = conn != NULL; /* until catch_up */
  g_mutex_unlock (&st->ids_lock);
}

/* With the lock held: the connection that owned st lets go of it. Its
 * reference to st stays until it ends (its worker may be delivering a
 * message of st right now); it no longer has an id, so its end is not
 * reported again. */
static void
unlink_conn_locked (ScServer *self, ScServerStream *st, ScChannel **old_channel)
{
  if (st->conn == NULL)
    return;
  *old_channel = sc_channel_ref (st->conn->channel);
  g_clear_pointer (&st->conn->id, g_ref_string_release);
  set_conn_locked (st, NULL);
  self->n_attached--;
}

/* A resumed handshake: the stream the ticket named takes the connection
 * (an old, half-open connection of it is let go). NULL if the stream
 * expired in between. */
static ScServerStream *
attach_resumed_locked (ScServer *self, const ScChannelHandshake *hs, ScChannel **old_channel)
{
  char key[2 * SC_STREAM_ID_LEN + 1];
  ScServerStream *st;

  sc_hex_format (hs->stream_id, SC_STREAM_ID_LEN, key);
  st = g_hash_table_lookup (self->streams, key);
  if (st == NULL)
    return NULL;
  unlink_conn_locked (self, st, old_channel);
  st->generation = hs->generation;
  return st;
}

/* A full handshake: a new stream. The client's previous stream, if any
 * (same key), ends: its connection is closed and its undelivered messages
 * move to the new stream, to be sent again (at least once). The caller
 * holds prev's send_lock. */
static ScServerStream *
attach_new_locked (ScServer *self, ScServerClient *client, const char *id,
                   const ScChannelHandshake *hs, ScServerStream *prev, ScChannel **old_channel)
{
  ScServerStream *st = stream_new (id, hs, client->channel);

  if (prev != NULL && g_hash_table_lookup (self->by_id, id) == prev)
    {
      ScOutbox *swap = st->outbox;

      unlink_conn_locked (self, prev, old_channel);
      st->outbox = prev->outbox;
      prev->outbox = swap;
      drop_stream_locked (self, prev);
    }
  g_hash_table_insert (self->streams, st->stream_key, st);
  g_hash_table_insert (self->by_id, st->id, st);
  return st;
}

/* The connection that lost its stream to this one is closed (after the
 * lock is released: no channel call under it). id is the stream's. */
static void
close_previous (ScServer *self, const char *id, ScChannel *old_channel, gboolean resumed)
{
  const char *why = resumed ? "resumed on a new connection" : "replaced by a new connection";

  g_info ("client %s reconnected: closing its previous connection", id);
  post_event (self, SIGNAL_CLIENT_DISCONNECTED, id, NULL, why);
  sc_channel_close (old_channel, SC_CLOSE_NORMAL, why);
  sc_channel_unref (old_channel);
}

/* The new connection catches up: after a resumption what the client
 * already has is dropped and the rest goes again under the same ids; after
 * a full handshake everything left goes as new messages. */
static void
catch_up (ScServer *self, ScServerStream *st, ScChannel *channel, const ScChannelHandshake *hs)
{
  g_mutex_lock (&st->send_lock);
  if (hs->resumed)
    sc_outbox_ack (st->outbox, hs->peer_recv_id);
  sc_outbox_unsend_all (st->outbox);
  g_mutex_lock (&st->ids_lock);
  if (!hs->resumed)
    st->sent_id = 0;
  st->catching_up = FALSE; /* senders (who wait for send_lock) may send on it now */
  g_mutex_unlock (&st->ids_lock);
  pump_stream (self, st, channel);
  g_mutex_unlock (&st->send_lock);
}

static void
on_handshake_done (ScChannel *channel, gpointer data)
{
  ScServerClient *client = data;
  ScServer *self = client->server;
  g_autofree char *new_id = client_id_for (channel);
  ScChannelHandshake hs;
  ScChannel *old_channel = NULL;
  ScServerStream *st, *prev = NULL;

  sc_channel_get_handshake (channel, &hs);
  /* A full handshake may take over the outbox of the client's previous
   * stream: that stream's send_lock is held while it moves. */
  g_mutex_lock (&self->lock);
  if (!hs.resumed && (prev = g_hash_table_lookup (self->by_id, new_id)) != NULL)
    stream_ref (prev);
  g_mutex_unlock (&self->lock);
  if (prev != NULL)
    g_mutex_lock (&prev->send_lock);
  g_mutex_lock (&self->lock);
  client->handshaking = FALSE;
  self->n_handshakes--;
  st = hs.resumed ? attach_resumed_locked (self, &hs, &old_channel)
                  : attach_new_locked (self, client, new_id, &hs, prev, &old_channel);
  if (st != NULL)
    {
      set_conn_locked (st, client);
      client->stream = stream_ref (st);
      client->id = g_ref_string_acquire (st->id);
      self->n_attached++;
    }
  g_mutex_unlock (&self->lock);
  if (prev != NULL)
    {
      g_mutex_unlock (&prev->send_lock);
      stream_unref (prev);
    }
  if (old_channel != NULL) /* only when a stream was taken over: st is set */
    close_previous (self, st->id, old_channel, hs.resumed);
  if (st == NULL)
    {
      sc_channel_close (channel, SC_CLOSE_GOING_AWAY, "its stream expired meanwhile");
      return;
    }
  catch_up (self, st, channel, &hs);
  g_info ("client %s %s from %s", st->id, hs.resumed ? "resumed its stream" : "connected",
          sc_channel_get_peer_address (channel));
  post_connected (self, st->id, channel);
}

/* Delivers a message once: by id within the stream, whichever connection
 * it came on; a connection that no longer owns the stream delivers
 * nothing. client->stream changes only in this thread; the check and the
 * update of recv_id hold the stream's ids_lock, not the server lock. */
static void
on_message (ScChannel *channel, guint64 msg_id, GBytes *message, gpointer data)
{
  ScServerClient *client = data;
  ScServer *self = client->server;
  ScServerStream *st = client->stream;
  gboolean owner = FALSE, fresh = FALSE;

  if (st == NULL)
    return;
  /* Held through the delivery: a connection that took the stream over
   * meanwhile waits here, so the handler of one client never runs twice
   * at once and messages keep their order across a takeover. */
  g_mutex_lock (&st->deliver_lock);
  g_mutex_lock (&st->ids_lock);
  owner = st->conn == client;
  fresh = owner && msg_id > st->recv_id;
  if (fresh)
    st->recv_id = msg_id;
  g_mutex_unlock (&st->ids_lock);
  /* No log line per message: structured logging formats it even when
   * debug output is off, and that was 7% of a busy server's time. The
   * client's reference keeps st, and so its id, alive during the call. */
  if (!fresh)
    g_debug ("dropped message %" G_GUINT64_FORMAT ": %s", msg_id,
             owner ? "already delivered" : "its connection was replaced");
  else if (self->handler != NULL)
    self->handler (self, st->id, message, self->handler_data);
  else
    post_event (self, SIGNAL_MESSAGE_RECEIVED, st->id, message, NULL);
  g_mutex_unlock (&st->deliver_lock);
}

static void
on_acked (ScChannel *channel, guint64 msg_id, gpointer data)
{
  ScServerClient *client = data;
  ScServer *self = client->server;
  ScServerStream *st = NULL;

  /* Only the connection that owns the stream pumps it. client->stream
   * changes only in this thread. */
  if (client->stream == NULL || !stream_owned_by (client->stream, client))
    return;
  st = stream_ref (client->stream);
  g_mutex_lock (&st->send_lock);
  if (stream_owned_by (st, client)) /* (a connection replaced meanwhile pumps nothing) */
    {
      sc_outbox_ack (st->outbox, msg_id);
      pump_stream (self, st, channel); /* it reads again: what waited goes */
    }
  g_mutex_unlock (&st->send_lock);
  stream_unref (st);
}

/* Under the new channel's lock: may the ticket's stream be resumed? Only
 * at its current generation (each ticket once), by the identity it was
 * issued to, and if the client cannot have more than we sent. */
static int
on_resume (ScChannel *channel, const ScResumeRequest *req, guint64 *server_recv_id, gpointer data)
{
  ScServerClient *client = data;
  ScServer *self = client->server;
  char key[2 * SC_STREAM_ID_LEN + 1], fp[2 * SC_SHA256_LEN + 1] = "";
  ScServerStream *st;
  int ret = -1;

  sc_hex_format (req->stream_id, SC_STREAM_ID_LEN, key);
  if (req->client->type != 0)
    sc_hex_format (req->client->fingerprint, SC_SHA256_LEN, fp);
  g_mutex_lock (&self->lock);
  st = g_hash_table_lookup (self->streams, key);
  if (st != NULL && st->generation == req->generation
      && sc_memeq_ct (st->fingerprint, fp, sizeof fp))
    {
      g_mutex_lock (&st->ids_lock);
      if (req->client_recv_id <= st->sent_id)
        {
          *server_recv_id = st->recv_id;
          ret = 0;
        }
      g_mutex_unlock (&st->ids_lock);
    }
  g_mutex_unlock (&self->lock);
  g_debug ("resumption of stream %.8s... %s", key, ret == 0 ? "accepted" : "refused");
  return ret;
}

static void
release_source_locked (ScServer *self, const char *source)
{
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_source, source));

  if (n <= 1)
    g_hash_table_remove (self->per_source, source);
  else
    g_hash_table_insert (self->per_source, g_strdup (source), GUINT_TO_POINTER (n - 1));
}

/* With the lock held: the connection of a stream is gone. A lost
 * connection leaves the stream for the client to resume (when tickets are
 * on); a clean close by either side ends it. */
static void
detach_locked (ScServer *self, ScServerClient *client, gboolean lost)
{
  ScServerStream *st = client->stream;

  if (st == NULL)
    return;
  if (st->conn == client)
    {
      set_conn_locked (st, NULL);
      st->detached_us = g_get_monotonic_time ();
      self->n_attached--;
      if (!lost || self->ticket_keys == NULL)
        drop_stream_locked (self, st);
    }
  g_clear_pointer (&client->stream, stream_unref);
}

static void
on_closed (ScChannel *channel, const GError *error, const char *reason, gpointer data)
{
  ScServerClient *client = data;
  ScServer *self = client->server;
  char *id;
  gboolean lost = error != NULL && sc_channel_get_peer_close_reason (channel) < 0;

  g_mutex_lock (&self->lock);
  if (client->handshaking)
    self->n_handshakes--;
  detach_locked (self, client, lost);
  id = g_steal_pointer (&client->id);
  release_source_locked (self, client->source);
  g_hash_table_remove (self->clients, client); /* frees client */
  if (self->waiting_empty)
    g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  if (id != NULL)
    {
      g_info ("client %s disconnected: %s", id, reason);
      post_event (self, SIGNAL_CLIENT_DISCONNECTED, id, NULL, reason);
      g_ref_string_release (id);
    }
  else
    g_info ("connection from %s ended before its handshake: %s",
            sc_channel_get_peer_address (channel) ? sc_channel_get_peer_address (channel) : "?",
            reason);
}

static const ScChannelCallbacks channel_callbacks = {
  .handshake_done = on_handshake_done,
  .message = on_message,
  .acked = on_acked,
  .closed = on_closed,
  .resume = on_resume,
};

/* Trust policy for client identities: the allowed list, when there is one. */
static int
verify_client (void *data, const ScPeerIdentity *peer)
{
  ScServerClient *client = data;
  ScServer *self = client->server;
  char hex[2 * SC_SHA256_LEN + 1];
  int ret = 0;

  sc_hex_format (peer->fingerprint, SC_SHA256_LEN, hex);
  g_mutex_lock (&self->lock);
  if (self->allowed != NULL && !g_strv_contains ((const char *const *) self->allowed, hex))
    ret = -1;
  g_mutex_unlock (&self->lock);
  if (ret != 0)
    g_message ("refused client key %s: not in the allowed list", hex);
  return ret;
}

static void
server_client_free (ScServerClient *client)
{
  if (client->hello_wait != NULL)
    g_source_destroy (client->hello_wait);
  g_clear_pointer (&client->hello_wait, g_source_unref);
  if (client->tls_timeout != NULL)
    g_source_destroy (client->tls_timeout);
  g_clear_pointer (&client->tls_timeout, g_source_unref);
  g_clear_object (&client->tls_cancel);
  g_clear_object (&client->tls);
  g_clear_object (&client->conn);
  g_clear_pointer (&client->stream, stream_unref);
  g_clear_pointer (&client->channel, sc_channel_unref);
  g_clear_pointer (&client->id, g_ref_string_release);
  g_free (client->source);
  g_free (client);
}

/* ==== accepting ========================================================= */

static char *
source_of (GSocketConnection *conn)
{
  g_autoptr (GSocketAddress) addr = g_socket_connection_get_remote_address (conn, NULL);

  if (!G_IS_INET_SOCKET_ADDRESS (addr))
    return g_strdup ("unknown");
  return g_inet_address_to_string (
      g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (addr)));
}

/* Admission control: returns NULL to accept, else why not. */
static const char *
admit_locked (ScServer *self, const char *source)
{
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_source, source));

  if (g_hash_table_size (self->clients) >= self->max_clients)
    return "too many clients";
  if (self->n_handshakes >= self->max_handshakes)
    return "too many handshakes in progress";
  if (n >= self->max_per_source)
    return "too many connections from this address";
  g_hash_table_insert (self->per_source, g_strdup (source), GUINT_TO_POINTER (n + 1));
  self->n_handshakes++;
  return NULL;
}

/* What a channel's session config points into, kept with the channel. */
typedef struct
{
  GBytes *ticket_keys;
  guint8 binding[SC_MAX_CHANNEL_BINDING];
} ChannelHold;

static void
channel_hold_free (ChannelHold *hold)
{
  g_clear_pointer (&hold->ticket_keys, g_bytes_unref);
  g_free (hold);
}

/* An admitted connection that will not become a session after all. */
static void
drop_client (ScServer *self, ScServerClient *client, const char *why)
{
  g_message ("dropped the connection from %s: %s", client->source, why);
  g_io_stream_close (G_IO_STREAM (client->conn), NULL, NULL);
  g_mutex_lock (&self->lock);
  release_source_locked (self, client->source);
  self->n_handshakes--;
  g_hash_table_remove (self->clients, client); /* frees client */
  if (self->waiting_empty)
    g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

/* The SecureComm session of an admitted client, over the plain connection
 * or its TLS connection (whose channel binding then enters the transcript,
 * PROTOCOL.md 5.4), in the client's worker. */
static gboolean
start_channel (ScServer *self, ScServerClient *client, GIOStream *stream, GError **error)
{
  ChannelHold *hold = g_new0 (ChannelHold, 1);
  ScSessionConfig config = self->session_config;
  ScChannel *channel;

  if (self->ticket_keys != NULL
      && (hold->ticket_keys = sc_ticket_keyring_snapshot (self->ticket_keys)) != NULL)
    {
      config.ticket_keys = g_bytes_get_data (hold->ticket_keys, NULL);
      config.n_ticket_keys = g_bytes_get_size (hold->ticket_keys) / sizeof (ScTicketKey);
    }
  if (G_IS_TLS_CONNECTION (stream))
    {
      gsize len = sizeof hold->binding;

      if (!sc_tls_get_binding (G_TLS_CONNECTION (stream), &config.binding_type, hold->binding, &len,
                               error))
        {
          channel_hold_free (hold);
          return FALSE;
        }
      config.binding = hold->binding;
      config.binding_len = len;
    }
  channel = sc_channel_new (stream, client->worker->context, &config, verify_client,
                            &channel_callbacks, client, error);
  if (channel == NULL)
    {
      channel_hold_free (hold);
      return FALSE;
    }
  sc_channel_hold (channel, hold, (GDestroyNotify) channel_hold_free);
  if (self->idle_timeout_ms > 0)
    sc_channel_set_idle_timeout (channel, self->idle_timeout_ms);
  g_mutex_lock (&self->lock);
  client->channel = channel;
  g_mutex_unlock (&self->lock);
  sc_channel_start (channel);
  return TRUE;
}

static void
on_tls_done (GObject *source, GAsyncResult *result, gpointer data)
{
  ScServerClient *client = data;
  ScServer *self = client->server;
  g_autoptr (GError) error = NULL;

  if (client->tls_timeout != NULL)
    g_source_destroy (client->tls_timeout);
  g_clear_pointer (&client->tls_timeout, g_source_unref);
  if (!sc_tls_handshake_finish (G_TLS_CONNECTION (source), result, &error)
      || !start_channel (self, client, client->tls, &error))
    {
      g_autofree char *why = g_strdup_printf ("TLS: %s", error->message);

      drop_client (self, client, why);
    }
}

static gboolean
on_tls_timeout (gpointer data)
{
  ScServerClient *client = data;

  client->timed_out = TRUE;
  g_cancellable_cancel (client->tls_cancel); /* on_tls_done (or on_hello_readable) drops it */
  return G_SOURCE_REMOVE;
}

/* The TLS record header (RFC 8446 5.1): type, legacy version, length; and
 * the handshake message header (4.): type, 24-bit length. */
#define TLS_RECORD_HEADER_LEN 5
#define TLS_CONTENT_HANDSHAKE 22
#define TLS_MAX_PLAINTEXT_RECORD 16384
#define TLS_HANDSHAKE_HEADER_LEN 4
#define TLS_CLIENT_HELLO 1
/* The most bytes (records with their headers) waited for before the TLS
 * handshake starts: a ClientHello is one record of a few hundred bytes to
 * a few KiB; one said to need more is refused. */
#define SC_TLS_MAX_CLIENT_HELLO_BYTES (64 * 1024)

/* With no SO_RCVLOWAT, poll() reports a socket readable from its first
 * byte. */
#define SOCKET_DEFAULT_RCVLOWAT 1

/* hello_bytes_wanted: start the handshake now; or refuse the connection */
#define HELLO_START 0
#define HELLO_REFUSE G_MAXSIZE

static gboolean
set_rcvlowat (GSocket *socket, gint bytes)
{
  return g_socket_set_option (socket, SOL_SOCKET, SO_RCVLOWAT, bytes, NULL);
}

static void
start_tls_handshake (ScServerClient *client)
{
  sc_tls_handshake_async (G_TLS_CONNECTION (client->tls), G_PRIORITY_DEFAULT, client->tls_cancel,
                          on_tls_done, client);
}

/* The first bytes of the stream, buf[0..have): how many must have arrived
 * before the TLS handshake may start without waiting for the peer: the
 * records that carry the whole ClientHello message (it may span records,
 * and a record may hold only its start). HELLO_START when they are all
 * here, or when the bytes are no handshake that GnuTLS would wait on (it
 * refuses them at once); HELLO_REFUSE when the ClientHello would need more
 * than SC_TLS_MAX_CLIENT_HELLO_BYTES. */
static gsize
hello_bytes_wanted (const guint8 *buf, gsize have)
{
  guint8 msg_header[TLS_HANDSHAKE_HEADER_LEN];
  gsize header_have = 0, payload = 0, pos = 0, msg_len = 0;

  for (;;)
    {
      gsize len;

      if (have < pos + TLS_RECORD_HEADER_LEN)
        return pos + TLS_RECORD_HEADER_LEN;
      len = (gsize) buf[pos + 3] << 8 | buf[pos + 4];
      if (buf[pos] != TLS_CONTENT_HANDSHAKE || len == 0 || len > TLS_MAX_PLAINTEXT_RECORD)
        return HELLO_START;
      if (pos + TLS_RECORD_HEADER_LEN + len > SC_TLS_MAX_CLIENT_HELLO_BYTES)
        return HELLO_REFUSE;
      if (have < pos + TLS_RECORD_HEADER_LEN + len)
        return pos + TLS_RECORD_HEADER_LEN + len;
      for (gsize i = 0; i < len && header_have < sizeof msg_header; i++)
        msg_header[header_have++] = buf[pos + TLS_RECORD_HEADER_LEN + i];
      payload += len;
      pos += TLS_RECORD_HEADER_LEN + len;
      if (header_have < sizeof msg_header)
        continue;
      if (msg_header[0] != TLS_CLIENT_HELLO)
        return HELLO_START;
      msg_len = (gsize) msg_header[1] << 16 | (gsize) msg_header[2] << 8 | msg_header[3];
      if (TLS_HANDSHAKE_HEADER_LEN + msg_len > SC_TLS_MAX_CLIENT_HELLO_BYTES)
        return HELLO_REFUSE;
      if (payload >= TLS_HANDSHAKE_HEADER_LEN + msg_len)
        return HELLO_START;
    }
}

/* Whether the peer has shut its side down (or the connection failed). */
static gboolean
peer_closed (GSocket *socket)
{
  struct pollfd pfd = { .fd = g_socket_get_fd (socket), .events = POLLRDHUP };

  return poll (&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* Ends the wait for the ClientHello and starts the TLS handshake; returns
 * what hello_wait's callback returns. */
static gboolean
hello_wait_end (ScServerClient *client, GSocket *socket)
{
  (void) set_rcvlowat (socket, SOCKET_DEFAULT_RCVLOWAT);
  g_clear_pointer (&client->hello_wait, g_source_unref);
  start_tls_handshake (client);
  return G_SOURCE_REMOVE;
}

/* hello_wait's callback, in the client's worker: the socket is readable
 * (SO_RCVLOWAT: as many bytes as asked for have arrived, or the peer
 * closed or failed, or the kernel is short of receive memory), or
 * tls_cancel fired (the handshake timeout, or shutdown). */
static gboolean
on_hello_readable (GSocket *socket, GIOCondition condition, gpointer data)
{
  ScServerClient *client = data;
  g_autofree guint8 *buf = NULL;
  const char *why = NULL;
  gssize have;
  gsize want, room;

  if (g_cancellable_is_cancelled (client->tls_cancel))
    why = client->timed_out ? "TLS: no whole ClientHello within the handshake timeout"
                            : "TLS: the server shut down before the ClientHello";
  else
    {
      room = CLAMP ((gsize) g_socket_get_available_bytes (socket), 1,
                    SC_TLS_MAX_CLIENT_HELLO_BYTES);
      buf = g_malloc (room);
      have = recv (g_socket_get_fd (socket), buf, room, MSG_PEEK | MSG_DONTWAIT);
      if (have < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return G_SOURCE_CONTINUE;
      if (have <= 0)
        why = have == 0 ? "TLS: closed before its ClientHello"
                        : "TLS: the connection failed before its ClientHello";
      else if ((want = hello_bytes_wanted (buf, (gsize) have)) == HELLO_START)
        {
          /* all here (or nothing worth waiting for): the handshake reads it at once */
          return hello_wait_end (client, socket);
        }
      else if (want == HELLO_REFUSE)
        why = "TLS: a ClientHello over " G_STRINGIFY (SC_TLS_MAX_CLIENT_HELLO_BYTES) " bytes";
      else if (peer_closed (socket))
        why = "TLS: closed before its ClientHello was complete";
      else if ((gint) want == client->hello_lowat || !set_rcvlowat (socket, (gint) want))
        {
          /* readable though short of the mark, the peer still there: the
           * kernel is short of receive memory (or its window of our
           * buffer): no waiting on the mark now; GnuTLS waits instead */
          return hello_wait_end (client, socket);
        }
      else
        {
          client->hello_lowat = (gint) want;
          return G_SOURCE_CONTINUE;
        }
    }
  g_clear_pointer (&client->hello_wait, g_source_unref);
  drop_client (client->server, client, why); /* frees client */
  return G_SOURCE_REMOVE;
}

/* Before the TLS handshake: glib-networking runs each handshake in a
 * thread of GTask's small pool, which blocks there while it waits for the
 * peer; connections that sent nothing would each hold one until the
 * handshake timeout, and other clients' handshakes would queue behind them
 * (60 idle connections delayed a TLS client by 9 s). So the handshake
 * starts only once the whole ClientHello is here (hello_bytes_wanted). The
 * socket's SO_RCVLOWAT makes poll() wait for it without waking per
 * segment; the handshake timeout covers the wait. */
static void
wait_for_hello (ScServerClient *client)
{
  GSocket *socket = g_socket_connection_get_socket (client->conn);

  if (!set_rcvlowat (socket, TLS_RECORD_HEADER_LEN))
    {
      start_tls_handshake (client); /* (never on Linux) */
      return;
    }
  client->hello_lowat = TLS_RECORD_HEADER_LEN;
  client->hello_wait = g_socket_create_source (socket, G_IO_IN, client->tls_cancel);
  g_source_set_callback (client->hello_wait, G_SOURCE_FUNC (on_hello_readable), client, NULL);
  g_source_attach (client->hello_wait, client->worker->context);
}

/* In the client's worker: the TLS handshake, under the handshake timeout. */
static gboolean
begin_tls (gpointer data)
{
  ScServerClient *client = data;
  guint timeout_ms = client->server->session_config.limits.handshake_timeout_ms;

  if (timeout_ms > 0)
    {
      client->tls_timeout = g_timeout_source_new (timeout_ms);
      g_source_set_callback (client->tls_timeout, on_tls_timeout, client, NULL);
      g_source_attach (client->tls_timeout, client->worker->context);
    }
  wait_for_hello (client);
  return G_SOURCE_REMOVE;
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *conn, GObject *source_object,
             gpointer data)
{
  ScServer *self = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (ScTlsContext) tls = NULL;
  ScServerClient *client = g_new0 (ScServerClient, 1);
  const char *refused;

  client->server = self;
  client->conn = g_object_ref (conn);
  client->source = source_of (conn);
  client->handshaking = TRUE;
  client->worker = &self->workers[self->next_worker++ % self->n_workers];
  g_mutex_lock (&self->lock);
  sweep_streams_locked (self);
  refused = admit_locked (self, client->source);
  if (refused == NULL)
    g_hash_table_add (self->clients, client);
  if (self->tls != NULL)
    tls = sc_tls_context_ref (self->tls);
  g_mutex_unlock (&self->lock);
  if (refused != NULL)
    {
      g_message ("refused a connection from %s: %s", client->source, refused);
      g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
      server_client_free (client);
      return TRUE;
    }
  g_debug ("connection from %s", client->source);
  if (tls == NULL)
    {
      if (!start_channel (self, client, G_IO_STREAM (conn), &error)) /* sets TCP_NODELAY */
        drop_client (self, client, error->message);
      return TRUE;
    }
  /* from the first byte of the TLS handshake too (sc-channel.c) */
  sc_socket_set_nodelay (g_socket_connection_get_socket (conn));
  client->tls = sc_tls_server_wrap (tls, G_IO_STREAM (conn), &error);
  if (client->tls == NULL)
    {
      drop_client (self, client, error->message);
      return TRUE;
    }
  client->tls_cancel = g_cancellable_new ();
  g_main_context_invoke (client->worker->context, begin_tls, client);
  return TRUE;
}

/* ==== start and shutdown ================================================ */

static gpointer
worker_main (gpointer data)
{
  ScWorker *worker = data;

  g_main_context_push_thread_default (worker->context);
  g_main_loop_run (worker->loop);
  g_main_context_pop_thread_default (worker->context);
  return NULL;
}

static void
start_workers (ScServer *self)
{
  self->n_workers = self->workers_wanted ? self->workers_wanted
                                         : MIN (g_get_num_processors (), SC_SERVER_MAX_WORKERS);
  self->workers = g_new0 (ScWorker, self->n_workers);
  for (guint i = 0; i < self->n_workers; i++)
    {
      g_autofree char *name = g_strdup_printf ("sc-worker-%u", i);
      ScWorker *w = &self->workers[i];

      w->context = g_main_context_new ();
      w->loop = g_main_loop_new (w->context, FALSE);
      /* NULL only without a descriptor for epoll: each channel then fails
       * to start with the reason. */
      w->poller = sc_poller_get (w->context, NULL);
      w->thread = g_thread_new (name, worker_main, w);
    }
}

static void
stop_workers (ScServer *self)
{
  for (guint i = 0; i < self->n_workers; i++)
    {
      ScWorker *w = &self->workers[i];

      sc_main_loop_quit_later (w->loop);
      g_thread_join (w->thread);
      /* Run what the channels left behind (stream closes, idles). */
      while (g_main_context_iteration (w->context, FALSE))
        ;
      g_clear_pointer (&w->poller, sc_poller_unref);
      g_main_loop_unref (w->loop);
      g_main_context_unref (w->context);
    }
  g_clear_pointer (&self->workers, g_free);
  self->n_workers = 0;
}

static char *
format_address (GInetSocketAddress *addr)
{
  g_autofree char *host = g_inet_address_to_string (g_inet_socket_address_get_address (addr));

  if (g_inet_address_get_family (g_inet_socket_address_get_address (addr)) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", host, g_inet_socket_address_get_port (addr));
  return g_strdup_printf ("%s:%u", host, g_inet_socket_address_get_port (addr));
}

/* A socket listening on addr:port (port 0: the kernel chooses). */
static GSocket *
listen_on (GInetAddress *addr, guint16 port, GError **error)
{
  g_autoptr (GSocketAddress) want = g_inet_socket_address_new (addr, port);
  g_autoptr (GSocket) sock = g_socket_new (g_inet_address_get_family (addr), G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_TCP, error);

  if (sock == NULL)
    return NULL;
  g_socket_set_listen_backlog (sock, SC_SERVER_LISTEN_BACKLOG);
  if (!g_socket_bind (sock, want, TRUE, error) || !g_socket_listen (sock, error))
    return NULL;
  return g_steal_pointer (&sock);
}

/* Binds every address host resolves to (localhost: 127.0.0.1 and ::1), all
 * on one port; with port 0 the first bind picks it, and *port says which.
 * That port may be taken on the next address (a connection's own port on
 * 127.0.0.1, when ::1 picked it): then every address tries again with a
 * new one, SC_SERVER_BIND_ATTEMPTS times. An address that cannot be bound
 * otherwise is left out (logged). Succeeds when at least one address could
 * be bound. */
static gboolean
bind_host (ScServer *self, const char *hostname, guint16 *port, GError **error)
{
  g_autoptr (GResolver) resolver = g_resolver_get_default ();
  g_autolist (GInetAddress) addrs = NULL;
  g_autoptr (GError) last = NULL;

  addrs = g_resolver_lookup_by_name (resolver, hostname, NULL, error);
  if (addrs == NULL)
    return FALSE;
  for (guint attempt = 0; attempt < SC_SERVER_BIND_ATTEMPTS; attempt++)
    {
      g_autoptr (GPtrArray) socks = g_ptr_array_new_with_free_func (g_object_unref);
      guint16 chosen = *port;
      gboolean again = FALSE;

      g_clear_error (&last);
      for (GList *l = addrs; l != NULL; l = l->next)
        {
          g_autoptr (GError) local = NULL;
          g_autofree char *text = NULL;
          GSocket *sock = listen_on (l->data, chosen, &local);

          if (sock != NULL)
            {
              g_autoptr (GSocketAddress) got = g_socket_get_local_address (sock, NULL);

              if (got != NULL)
                chosen = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (got));
              g_ptr_array_add (socks, sock);
              continue;
            }
          again = *port == 0 && socks->len > 0
                  && g_error_matches (local, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
          if (again)
            break;
          text = g_inet_address_to_string (l->data);
          g_message ("cannot listen on %s: %s", text, local->message);
          g_clear_error (&last);
          last = g_steal_pointer (&local);
        }
      if (again)
        continue;
      if (socks->len == 0)
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&last),
                                      "cannot listen on %s: ", hostname);
          return FALSE;
        }
      for (guint i = 0; i < socks->len; i++)
        {
          GSocket *sock = socks->pdata[i];
          g_autoptr (GSocketAddress) got = g_socket_get_local_address (sock, error);

          if (got == NULL
              || !g_socket_listener_add_socket (G_SOCKET_LISTENER (self->service), sock, NULL,
                                                error))
            return FALSE;
          g_ptr_array_add (self->listen_addresses, format_address (G_INET_SOCKET_ADDRESS (got)));
        }
      *port = chosen;
      return TRUE;
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
               "cannot listen on %s: no port was free on all of its addresses in %u attempts",
               hostname, SC_SERVER_BIND_ATTEMPTS);
  return FALSE;
}

/* The main address, then any added with sc_server_add_address(). */
static gboolean
bind_addresses (ScServer *self, GError **error)
{
  if (!bind_host (self, self->host, &self->port, error))
    return FALSE;
  for (guint i = 0; i < self->extra_addresses->len; i++)
    {
      guint16 port = g_array_index (self->extra_ports, guint16, i);

      if (!bind_host (self, self->extra_addresses->pdata[i], &port, error))
        return FALSE;
    }
  return TRUE;
}

/* Runs func (data) in a worker's thread and waits for it. */
typedef struct
{
  GSourceFunc func;
  gpointer data;
  GMutex lock;
  GCond cond;
  gboolean done;
} WorkerCall;

static gboolean
worker_call_run (gpointer data)
{
  WorkerCall *call = data;

  call->func (call->data);
  g_mutex_lock (&call->lock);
  call->done = TRUE;
  g_cond_signal (&call->cond);
  g_mutex_unlock (&call->lock);
  return G_SOURCE_REMOVE;
}

static void
run_in_worker (ScWorker *worker, GSourceFunc func, gpointer data)
{
  WorkerCall call = { func, data };

  g_mutex_init (&call.lock);
  g_cond_init (&call.cond);
  g_main_context_invoke (worker->context, worker_call_run, &call);
  g_mutex_lock (&call.lock);
  while (!call.done)
    g_cond_wait (&call.cond, &call.lock);
  g_mutex_unlock (&call.lock);
  g_mutex_clear (&call.lock);
  g_cond_clear (&call.cond);
}

/* In the acceptor thread: its context becomes the service's. */
static gboolean
service_start_cb (gpointer data)
{
  g_socket_service_start (G_SOCKET_SERVICE (data));
  return G_SOURCE_REMOVE;
}

static gboolean
service_stop_cb (gpointer data)
{
  g_socket_service_stop (G_SOCKET_SERVICE (data));
  g_socket_listener_close (G_SOCKET_LISTENER (data));
  return G_SOURCE_REMOVE;
}

/**
 * sc_server_start:
 * @self: a #ScServer
 * @error: return location for a #GError
 *
 * Binds the listening addresses and starts accepting clients. Without an
 * identity set with sc_server_set_identity(), an ephemeral one is made.
 * Signals are emitted in the thread-default main context of the caller
 * (of the first call, if the server is started again after a shutdown);
 * a message handler (sc_server_set_message_handler()) runs in the I/O
 * worker threads.
 *
 * Returns: %TRUE when the server listens
 */
gboolean
sc_server_start (ScServer *self, GError **error)
{
  g_return_val_if_fail (SC_IS_SERVER (self), FALSE);
  g_return_val_if_fail (self->service == NULL, FALSE);

  if (self->tls_config != NULL && sc_tls_config_get_enabled (self->tls_config))
    {
      g_autoptr (GError) local = NULL;

      self->tls = sc_tls_context_new (self->tls_config, SC_TLS_ROLE_SERVER, error);
      if (self->tls == NULL)
        return FALSE;
      /* Versions and suites for the whole process (glib-networking reads
       * them once); sc-tls checks them per connection as well. */
      if (!sc_tls_setup_process (self->tls_config, &local))
        g_warning ("%s; versions and cipher suites are checked after each TLS handshake",
                   local->message);
    }
  if (self->identity == NULL)
    {
      self->identity = sc_identity_generate (error);
      if (self->identity == NULL)
        return FALSE;
    }
  self->session_config.identity = sc_identity_get_key (self->identity);
  self->session_config.identity_checked = TRUE; /* ScIdentity builds it from its scalar */
  self->session_config.client_auth = (ScClientAuth) self->client_auth;
  if (self->ticket_lifetime_s > 0)
    {
      self->session_config.ticket_lifetime_s = self->ticket_lifetime_s;
      self->ticket_keys = sc_ticket_keyring_new (self->ticket_lifetime_s);
    }
  /* Both kept across a restart: what the last run left still goes where
   * it was headed, and signals stay in one context. */
  if (self->events == NULL)
    {
      self->main_context = g_main_context_ref_thread_default ();
      self->events = sc_event_queue_new (self->main_context, sizeof (ServerEvent), emit_event,
                                         server_event_clear, self);
    }
  self->service = g_socket_service_new (); /* listen_on sets each socket's backlog */
  g_socket_service_stop (self->service);   /* new services start active; not here */
  self->listen_addresses = g_ptr_array_new_with_free_func (g_free);
  if (!bind_addresses (self, error))
    {
      g_clear_object (&self->service);
      g_clear_pointer (&self->listen_addresses, g_ptr_array_unref);
      g_clear_pointer (&self->main_context, g_main_context_unref);
      return FALSE;
    }
  start_workers (self);
  g_signal_connect (self->service, "incoming", G_CALLBACK (on_incoming), self);
  run_in_worker (&self->workers[0], service_start_cb, self->service);
  g_info ("listening on port %u with %u workers; identity %s", self->port, self->n_workers,
          sc_identity_get_fingerprint (self->identity));
  return TRUE;
}

/* Waits (lock held) until every client is gone or the deadline passes. */
static gboolean
wait_empty_locked (ScServer *self, gint64 deadline)
{
  gboolean empty = TRUE;

  self->waiting_empty++;
  while (g_hash_table_size (self->clients) > 0)
    if (!g_cond_wait_until (&self->cond, &self->lock, deadline))
      {
        empty = g_hash_table_size (self->clients) == 0;
        break;
      }
  self->waiting_empty--;
  return empty;
}

static GPtrArray *
ref_channels_locked (ScServer *self)
{
  GPtrArray *channels = g_ptr_array_new_with_free_func ((GDestroyNotify) sc_channel_unref);
  GHashTableIter iter;
  ScServerClient *client;

  g_hash_table_iter_init (&iter, self->clients);
  while (g_hash_table_iter_next (&iter, (gpointer *) &client, NULL))
    if (client->channel != NULL)
      g_ptr_array_add (channels, sc_channel_ref (client->channel));
    else if (client->tls_cancel != NULL)
      g_cancellable_cancel (client->tls_cancel); /* a TLS handshake: stop it */
  return channels;
}

/* The channels have ended; their streams close after that in the workers'
 * contexts (TLS close_notify, lingering): waits for them, at most
 * SC_CHANNEL_CLOSE_MAX_MS, before the workers stop, or their sockets would
 * stay open in contexts that nothing runs any more. */
static void
wait_streams_closed (GPtrArray *channels)
{
  gint64 deadline = g_get_monotonic_time () + SC_CHANNEL_CLOSE_MAX_MS * G_TIME_SPAN_MILLISECOND;

  for (guint i = 0; i < channels->len; i++)
    while (!sc_channel_is_done (channels->pdata[i]) && g_get_monotonic_time () < deadline)
      g_usleep (SC_SERVER_CLOSE_POLL_US);
}

/**
 * sc_server_shutdown:
 * @self: a #ScServer
 *
 * Stops accepting, sends every client a close message, waits briefly for
 * them to be written, wipes every session's keys and stops the workers.
 */
void
sc_server_shutdown (ScServer *self)
{
  g_autoptr (GPtrArray) channels = NULL;
  g_autoptr (GPtrArray) all = g_ptr_array_new_with_free_func ((GDestroyNotify) sc_channel_unref);
  gint64 deadline = g_get_monotonic_time () + SC_SERVER_SHUTDOWN_GRACE_MS * G_TIME_SPAN_MILLISECOND;

  g_return_if_fail (SC_IS_SERVER (self));
  if (self->service == NULL)
    return;
  run_in_worker (&self->workers[0], service_stop_cb, self->service);
  g_mutex_lock (&self->lock);
  channels = ref_channels_locked (self);
  g_mutex_unlock (&self->lock);
  for (guint i = 0; i < channels->len; i++)
    {
      sc_channel_close (channels->pdata[i], SC_CLOSE_GOING_AWAY, "server shutting down");
      g_ptr_array_add (all, sc_channel_ref (channels->pdata[i]));
    }
  g_mutex_lock (&self->lock);
  if (!wait_empty_locked (self, deadline))
    {
      g_ptr_array_unref (channels);
      channels = ref_channels_locked (self);
      g_mutex_unlock (&self->lock);
      for (guint i = 0; i < channels->len; i++)
        {
          sc_channel_abort (channels->pdata[i], "server shutting down");
          g_ptr_array_add (all, sc_channel_ref (channels->pdata[i]));
        }
      g_mutex_lock (&self->lock);
      wait_empty_locked (self, G_MAXINT64);
    }
  g_hash_table_remove_all (self->by_id);
  g_hash_table_remove_all (self->streams); /* undelivered messages die with the server */
  g_mutex_unlock (&self->lock);
  wait_streams_closed (all);
  stop_workers (self);
  g_clear_pointer (&self->ticket_keys, sc_ticket_keyring_free);
  g_clear_pointer (&self->tls, sc_tls_context_unref);
  g_clear_object (&self->service);
  g_clear_pointer (&self->listen_addresses, g_ptr_array_unref);
  g_info ("stopped");
}

/* ==== queries and commands (any thread) ================================ */

/* A reference to the channel of a connected client, or NULL and an error. */
static ScChannel *
lookup_live_channel (ScServer *self, const char *client_id)
{
  ScServerStream *st;
  ScServerClient *client;
  ScChannel *channel = NULL;

  g_mutex_lock (&self->lock);
  st = client_id ? g_hash_table_lookup (self->by_id, client_id) : NULL;
  client = st != NULL ? st->conn : NULL;
  if (client != NULL)
    channel = sc_channel_ref (client->channel);
  g_mutex_unlock (&self->lock);
  return channel;
}

static ScChannel *
lookup_channel (ScServer *self, const char *client_id, GError **error)
{
  ScChannel *channel = lookup_live_channel (self, client_id);

  if (channel == NULL)
    g_set_error (error, SC_ERROR, SC_ERROR_UNKNOWN_CLIENT, "no client with id “%s”",
                 client_id ? client_id : "");
  return channel;
}

/**
 * sc_server_get_client_ids:
 * @self: a #ScServer
 *
 * Returns: (transfer full): the ids of the connected clients (whose
 *   handshake completed); a client whose connection was lost and that may
 *   still resume is not listed, but sc_server_send_message() queues for it
 */
GStrv
sc_server_get_client_ids (ScServer *self)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  GHashTableIter iter;
  const char *id;
  ScServerStream *st;

  g_return_val_if_fail (SC_IS_SERVER (self), NULL);
  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->by_id);
  while (g_hash_table_iter_next (&iter, (gpointer *) &id, (gpointer *) &st))
    if (st->conn != NULL)
      g_strv_builder_add (builder, id);
  g_mutex_unlock (&self->lock);
  return g_strv_builder_end (builder);
}

/**
 * sc_server_get_client_count:
 * @self: a #ScServer
 *
 * Returns: how many clients completed their handshake and are connected
 */
guint
sc_server_get_client_count (ScServer *self)
{
  guint n;

  g_return_val_if_fail (SC_IS_SERVER (self), 0);
  g_mutex_lock (&self->lock);
  n = self->n_attached;
  g_mutex_unlock (&self->lock);
  return n;
}

/* What sc_server_get_client_info() says of a connection. */
static GVariant *
client_info_new (ScChannel *channel)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  ScChannelInfo info;
  const char *addr;

  sc_channel_get_info (channel, &info);
  addr = sc_channel_get_peer_address (channel);
  g_variant_dict_insert (&dict, "address", "s", addr ? addr : "");
  g_variant_dict_insert (&dict, "authenticated", "b", info.authenticated);
  g_variant_dict_insert (&dict, "fingerprint", "s", info.fingerprint);
  g_variant_dict_insert (&dict, "connected-since", "x", (gint64) info.connected_since_us);
  g_variant_dict_insert (&dict, "last-activity", "x", (gint64) info.last_activity_us);
  g_variant_dict_insert (&dict, "messages-sent", "t", (guint64) info.session.messages_sent);
  g_variant_dict_insert (&dict, "messages-received", "t", (guint64) info.session.messages_received);
  g_variant_dict_insert (&dict, "bytes-sent", "t", (guint64) info.session.bytes_sent);
  g_variant_dict_insert (&dict, "bytes-received", "t", (guint64) info.session.bytes_received);
  g_variant_dict_insert (&dict, "send-epoch", "u", info.session.send_epoch);
  g_variant_dict_insert (&dict, "receive-epoch", "u", info.session.recv_epoch);
  g_variant_dict_insert (&dict, "protocol-version", "y", info.session.version);
  g_variant_dict_insert (&dict, "tls", "b", G_IS_TLS_CONNECTION (sc_channel_get_stream (channel)));
  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

/**
 * sc_server_get_client_info:
 * @self: a #ScServer
 * @client_id: a client id
 * @error: return location for a #GError
 *
 * What the server knows of a client's session, as the a{sv} dictionary of
 * the D-Bus method GetClientInfo. In a #ScServer::client-connected handler
 * it answers for the client announced even if its connection has ended
 * since (as it was when the handshake completed; the
 * #ScServer::client-disconnected signal follows).
 *
 * Returns: (transfer full): a floating-free #GVariant of type a{sv}, or %NULL
 */
GVariant *
sc_server_get_client_info (ScServer *self, const char *client_id, GError **error)
{
  g_autoptr (ScChannel) channel = lookup_live_channel (self, client_id);

  if (channel != NULL)
    return client_info_new (channel);
  /* in a client-connected handler: the client announced, even if gone */
  if (g_main_context_is_owner (self->main_context) && self->announcing != NULL
      && g_strcmp0 (self->announcing->id, client_id) == 0)
    return g_variant_ref (self->announcing->info);
  g_set_error (error, SC_ERROR, SC_ERROR_UNKNOWN_CLIENT, "no client with id “%s”",
               client_id ? client_id : "");
  return NULL;
}

/**
 * sc_server_send_bytes:
 * @self: a #ScServer
 * @client_id: a client id
 * @message: the message
 * @out_message_id: (out) (optional): the protocol message id it was sent under
 * @error: return location for a #GError
 *
 * Encrypts and queues @message for one client. Safe from any thread. The
 * message stays in the client's outbox until the client acknowledges it;
 * if the connection is lost it is sent again when the client resumes. A
 * client whose connection was lost (but may resume) gets it then; its
 * message id is 0 until it is sent. A full outbox is %SC_ERROR_BUSY.
 *
 * Returns: %TRUE if queued
 */
gboolean
sc_server_send_bytes (ScServer *self, const char *client_id, GBytes *message,
                      guint64 *out_message_id, GError **error)
{
  ScServerStream *st = NULL;
  g_autoptr (ScChannel) channel = NULL;
  g_autoptr (GError) local = NULL;
  guint64 id = 0;
  gboolean ok = TRUE;

  g_return_val_if_fail (SC_IS_SERVER (self), FALSE);
  g_return_val_if_fail (message != NULL, FALSE);
  for (;;)
    {
      g_mutex_lock (&self->lock);
      if (client_id != NULL && (st = g_hash_table_lookup (self->by_id, client_id)) != NULL)
        stream_ref (st);
      g_mutex_unlock (&self->lock);
      if (st == NULL)
        {
          g_set_error (error, SC_ERROR, SC_ERROR_UNKNOWN_CLIENT, "no client with id “%s”",
                       client_id ? client_id : "");
          return FALSE;
        }
      g_mutex_lock (&st->send_lock);
      /* A full handshake of the same client may have taken the stream's
       * outbox over since the lookup (it holds send_lock to do so): the
       * message goes to the stream that replaced it, not into the old
       * one's, which nobody would ever send. */
      if (!g_atomic_int_get (&st->dropped))
        break;
      g_mutex_unlock (&st->send_lock);
      g_clear_pointer (&st, stream_unref);
    }
  ok = sc_outbox_push (st->outbox, message, error);
  if (ok)
    channel = stream_channel (st);
  if (ok && channel != NULL && sc_outbox_unsent_length (st->outbox) > 1)
    {
      /* Older messages wait (the client was not reading): keep the order. */
      pump_stream (self, st, channel);
      g_clear_pointer (&channel, sc_channel_unref);
    }
  if (ok && channel != NULL)
    {
      const guint8 *data;
      gsize len;

      data = g_bytes_get_data (message, &len);
      if (sc_channel_send (channel, data, len, &id, &local))
        mark_sent (st, id);
      else if (g_error_matches (local, SC_ERROR, SC_ERROR_MESSAGE_TOO_LARGE))
        {
          sc_outbox_drop_unsent (st->outbox);
          g_propagate_error (error, g_steal_pointer (&local));
          ok = FALSE;
        }
      /* else the connection is going: the message waits for the next one */
    }
  g_mutex_unlock (&st->send_lock);
  stream_unref (st);
  if (ok && out_message_id != NULL)
    *out_message_id = id;
  return ok;
}

/**
 * sc_server_send_message:
 * @self: a #ScServer
 * @client_id: a client id
 * @message: the message, UTF-8 text
 * @error: return location for a #GError
 *
 * The seed's send_message(client_id, message).
 *
 * Returns: %TRUE if queued
 */
gboolean
sc_server_send_message (ScServer *self, const char *client_id, const char *message, GError **error)
{
  g_autoptr (GBytes) bytes = NULL;

  g_return_val_if_fail (message != NULL, FALSE);
  if (!g_utf8_validate (message, -1, NULL))
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_INVALID_MESSAGE,
                           "the message is not valid UTF-8");
      return FALSE;
    }
  bytes = g_bytes_new (message, strlen (message)); /* the outbox keeps it */
  return sc_server_send_bytes (self, client_id, bytes, NULL, error);
}

/**
 * sc_server_close_client_connection:
 * @self: a #ScServer
 * @client_id: a client id
 * @error: return location for a #GError
 *
 * Sends the client a close message and ends its connection.
 *
 * Returns: %TRUE if the client existed
 */
gboolean
sc_server_close_client_connection (ScServer *self, const char *client_id, GError **error)
{
  g_autoptr (ScChannel) channel = NULL;

  ScServerStream *st;
  gboolean dropped = FALSE;

  g_return_val_if_fail (SC_IS_SERVER (self), FALSE);
  /* A client that lost its connection and may resume: forget its stream. */
  g_mutex_lock (&self->lock);
  st = client_id != NULL ? g_hash_table_lookup (self->by_id, client_id) : NULL;
  if (st != NULL && st->conn == NULL)
    {
      drop_stream_locked (self, st);
      dropped = TRUE;
    }
  g_mutex_unlock (&self->lock);
  if (dropped)
    return TRUE;
  channel = lookup_channel (self, client_id, error);
  if (channel == NULL)
    return FALSE;
  sc_channel_close (channel, SC_CLOSE_NORMAL, "closed by the server");
  return TRUE;
}

/**
 * sc_server_reload_tls:
 * @self: a #ScServer
 * @config: the new TLS configuration
 * @error: return location for a #GError
 *
 * Loads @config's certificate, key, CA and CRL again, for a certificate
 * renewed on disk: new TLS handshakes use them, established sessions keep
 * running. On failure (an unreadable or broken file: the error names it)
 * the current ones stay in use. Versions and cipher suites are fixed for
 * the process when the first TLS connection is made (glib-networking reads
 * them once); a stricter setting still applies, as every handshake is
 * checked against the configuration.
 *
 * Returns: %TRUE when the new configuration is in use
 */
gboolean
sc_server_reload_tls (ScServer *self, ScTlsConfig *config, GError **error)
{
  ScTlsContext *ctx, *old;

  g_return_val_if_fail (SC_IS_SERVER (self), FALSE);
  g_return_val_if_fail (SC_IS_TLS_CONFIG (config), FALSE);
  if (!sc_tls_config_get_enabled (config))
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_CONFIG,
                           "TLS cannot be turned off by a reload: restart the server");
      return FALSE;
    }
  ctx = sc_tls_context_new (config, SC_TLS_ROLE_SERVER, error);
  if (ctx == NULL)
    return FALSE;
  g_mutex_lock (&self->lock);
  if (self->tls == NULL)
    {
      g_mutex_unlock (&self->lock);
      sc_tls_context_unref (ctx);
      g_set_error_literal (error, SC_ERROR, SC_ERROR_CONFIG,
                           "TLS cannot be turned on by a reload: restart the server");
      return FALSE;
    }
  old = self->tls;
  self->tls = ctx;
  g_set_object (&self->tls_config, config);
  g_mutex_unlock (&self->lock);
  sc_tls_context_unref (old);
  g_info ("TLS configuration reloaded");
  return TRUE;
}

/* ==== GObject =========================================================== */

static void
sc_server_dispose (GObject *object)
{
  sc_server_shutdown (SC_SERVER (object));
  G_OBJECT_CLASS (sc_server_parent_class)->dispose (object);
}

static void
sc_server_finalize (GObject *object)
{
  ScServer *self = SC_SERVER (object);

  g_free (self->host);
  g_ptr_array_unref (self->extra_addresses);
  g_array_unref (self->extra_ports);
  g_clear_object (&self->tls_config);
  g_clear_object (&self->identity);
  g_hash_table_unref (self->clients);
  g_hash_table_unref (self->by_id);
  g_hash_table_unref (self->streams);
  g_hash_table_unref (self->per_source);
  g_strfreev (self->allowed);
  g_clear_pointer (&self->main_context, g_main_context_unref);
  g_mutex_clear (&self->lock);
  g_clear_pointer (&self->events, sc_event_queue_free);
  if (self->handler_destroy != NULL)
    self->handler_destroy (self->handler_data);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (sc_server_parent_class)->finalize (object);
}

static void
sc_server_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  ScServer *self = SC_SERVER (object);
  const UintProp *up = find_uint_prop (id);

  if (up != NULL)
    {
      g_value_set_uint (value, *uint_field (self, up));
      return;
    }
  switch (id)
    {
    case PROP_HOST:
      g_value_set_string (value, self->host);
      break;
    case PROP_PORT:
      g_value_set_uint (value, self->port);
      break;
    case PROP_TLS_CONFIG:
      g_value_set_object (value, self->tls_config);
      break;
    case PROP_IDENTITY:
      g_value_set_object (value, self->identity);
      break;
    case PROP_CLIENT_AUTH:
      g_value_set_enum (value, self->client_auth);
      break;
    case PROP_REKEY_AFTER_RECORDS:
      g_value_set_uint64 (value, self->session_config.limits.rekey_after_records);
      break;
    case PROP_REKEY_AFTER_BYTES:
      g_value_set_uint64 (value, self->session_config.limits.rekey_after_bytes);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
    }
}

static void
sc_server_set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  ScServer *self = SC_SERVER (object);
  const UintProp *up = find_uint_prop (id);

  if (up != NULL)
    {
      *uint_field (self, up) = g_value_get_uint (value);
      return;
    }
  switch (id)
    {
    case PROP_HOST:
      g_free (self->host);
      self->host = g_value_dup_string (value);
      break;
    case PROP_PORT:
      self->port = (guint16) g_value_get_uint (value);
      break;
    case PROP_TLS_CONFIG:
      g_set_object (&self->tls_config, g_value_get_object (value));
      break;
    case PROP_IDENTITY:
      g_set_object (&self->identity, g_value_get_object (value));
      break;
    case PROP_CLIENT_AUTH:
      self->client_auth = g_value_get_enum (value);
      break;
    case PROP_REKEY_AFTER_RECORDS:
      self->session_config.limits.rekey_after_records = g_value_get_uint64 (value);
      break;
    case PROP_REKEY_AFTER_BYTES:
      self->session_config.limits.rekey_after_bytes = g_value_get_uint64 (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
    }
}

static void
install_properties (GObjectClass *object_class)
{
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
  GParamFlags construct = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;

  props[PROP_HOST] = g_param_spec_string ("host", NULL, "Host name or address to listen on",
                                          "localhost", construct);
  props[PROP_PORT] = g_param_spec_uint ("port", NULL, "TCP port (0: any free port)", 0, 65535,
                                        12345, construct);
  props[PROP_TLS_CONFIG] = g_param_spec_object ("tls-config", NULL, "TLS configuration",
                                                SC_TYPE_TLS_CONFIG, construct);
  props[PROP_IDENTITY] = g_param_spec_object ("identity", NULL, "The server's identity key",
                                              SC_TYPE_IDENTITY, rw);
  props[PROP_CLIENT_AUTH] = g_param_spec_enum (
      "client-auth", NULL, "Whether clients must authenticate", sc_client_auth_mode_get_type (),
      SC_CLIENT_AUTH_MODE_OPTIONAL, rw);
  props[PROP_REKEY_AFTER_RECORDS] = g_param_spec_uint64 (
      "rekey-after-records", NULL, "Records under one key before a key update", 1,
      SC_REJECT_AFTER_RECORDS - 1, SC_DEFAULT_REKEY_AFTER_RECORDS, rw);
  props[PROP_REKEY_AFTER_BYTES] = g_param_spec_uint64 (
      "rekey-after-bytes", NULL, "Bytes under one key before a key update", 1,
      SC_REJECT_AFTER_BYTES - SC_MAX_RECORD_PLAINTEXT, SC_DEFAULT_REKEY_AFTER_BYTES, rw);
  for (gsize i = 0; i < G_N_ELEMENTS (uint_props); i++)
    {
      const UintProp *p = &uint_props[i];

      props[p->prop] = g_param_spec_uint (p->name, NULL, p->blurb, p->min, p->max, p->def, rw);
    }
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
sc_server_class_init (ScServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sc_server_dispose;
  object_class->finalize = sc_server_finalize;
  object_class->get_property = sc_server_get_property;
  object_class->set_property = sc_server_set_property;
  install_properties (object_class);

  /**
   * ScServer::message-received:
   * @server: the server
   * @client_id: the sender
   * @message: the message
   *
   * A client sent a message. Emitted in the main context of the thread that
   * called sc_server_start(), in the order each client sent its messages,
   * once per message; not emitted when a handler is set with
   * sc_server_set_message_handler().
   *
   * The arguments are valid during the emission: a handler that keeps
   * them takes a copy (g_strdup(), g_bytes_ref()).
   */
  signals[SIGNAL_MESSAGE_RECEIVED] = g_signal_new (
      "message-received", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
      sc_marshal_VOID__STRING_BOXED, G_TYPE_NONE, 2, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE,
      G_TYPE_BYTES | G_SIGNAL_TYPE_STATIC_SCOPE);
  g_signal_set_va_marshaller (signals[SIGNAL_MESSAGE_RECEIVED], G_TYPE_FROM_CLASS (klass),
                              sc_marshal_VOID__STRING_BOXEDv);
  /**
   * ScServer::client-connected:
   * @server: the server
   * @client_id: the new client
   *
   * A client completed its handshake.
   */
  signals[SIGNAL_CLIENT_CONNECTED] = g_signal_new (
      "client-connected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
      g_cclosure_marshal_VOID__STRING, G_TYPE_NONE, 1, G_TYPE_STRING);
  g_signal_set_va_marshaller (signals[SIGNAL_CLIENT_CONNECTED], G_TYPE_FROM_CLASS (klass),
                              g_cclosure_marshal_VOID__STRINGv);
  /**
   * ScServer::client-disconnected:
   * @server: the server
   * @client_id: the client
   * @reason: why, in words
   *
   * A connected client went away.
   */
  signals[SIGNAL_CLIENT_DISCONNECTED] = g_signal_new (
      "client-disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
      sc_marshal_VOID__STRING_STRING, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  g_signal_set_va_marshaller (signals[SIGNAL_CLIENT_DISCONNECTED], G_TYPE_FROM_CLASS (klass),
                              sc_marshal_VOID__STRING_STRINGv);
}

static void
sc_server_init (ScServer *self)
{
  sc_session_config_init (&self->session_config, SC_ROLE_SERVER);
  for (gsize i = 0; i < G_N_ELEMENTS (uint_props); i++)
    *uint_field (self, &uint_props[i]) = uint_props[i].def;
  self->client_auth = SC_CLIENT_AUTH_MODE_OPTIONAL;
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->clients = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) server_client_free, NULL);
  self->by_id = g_hash_table_new (g_str_hash, g_str_equal);
  self->streams = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) stream_unref);
  self->per_source = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->extra_addresses = g_ptr_array_new_with_free_func (g_free);
  self->extra_ports = g_array_new (FALSE, FALSE, sizeof (guint16));
}

/**
 * sc_server_add_address:
 * @self: a #ScServer
 * @host: another host name or address to listen on
 * @port: its port (0: any free one)
 *
 * Listens on one more address besides the one given to sc_server_new().
 * Call before sc_server_start().
 */
void
sc_server_add_address (ScServer *self, const char *host, guint16 port)
{
  g_return_if_fail (SC_IS_SERVER (self));
  g_return_if_fail (self->service == NULL);
  g_ptr_array_add (self->extra_addresses, g_strdup (host));
  g_array_append_val (self->extra_ports, port);
}

/**
 * sc_server_new:
 * @host: host name or address to listen on ("localhost": 127.0.0.1 and ::1)
 * @port: TCP port, or 0 for any free one (see sc_server_get_port())
 * @tls_config: (nullable): TLS configuration, or %NULL for none
 *
 * The seed's Server(host, port, tls_config).
 *
 * Returns: (transfer full): a new #ScServer
 */
ScServer *
sc_server_new (const char *host, guint16 port, ScTlsConfig *tls_config)
{
  return g_object_new (SC_TYPE_SERVER, "host", host ? host : "localhost", "port", (guint) port,
                       "tls-config", tls_config, NULL);
}

/**
 * sc_server_set_identity:
 * @self: a #ScServer
 * @identity: the identity key to present
 *
 * Sets the long-term identity; call before sc_server_start().
 */
void
sc_server_set_identity (ScServer *self, ScIdentity *identity)
{
  g_return_if_fail (SC_IS_SERVER (self));
  g_return_if_fail (self->service == NULL);
  g_object_set (self, "identity", identity, NULL);
}

/**
 * sc_server_set_message_handler:
 * @self: a #ScServer
 * @handler: (nullable) (scope notified) (closure user_data) (destroy destroy):
 *   called for each message, or %NULL to use the #ScServer::message-received
 *   signal again
 * @user_data: data for @handler
 * @destroy: (nullable): frees @user_data when the handler is replaced or the
 *   server finalized
 *
 * The seed's message handler, called directly: each message a client sends
 * is given to @handler in the I/O worker thread that read it, without a
 * hop to the main context. Call before sc_server_start().
 *
 * While a handler is set, #ScServer::message-received is not emitted for
 * messages (the handler takes them); #ScServer::client-connected and
 * #ScServer::client-disconnected are emitted as before, in the main
 * context, so a handler may see a client's first messages before the
 * client-connected signal is emitted.
 *
 * Thread contract: @handler is called for each message exactly once within
 * the client's stream (resumptions included), in the order the client sent
 * them; after a full handshake (the stream was lost) messages the client
 * had not seen acknowledged may come again (docs/PROTOCOL.md 4.7.7). Calls
 * for one client never overlap, even when a new connection takes the
 * stream over while a call for the old one runs (the new one waits for
 * it); calls for different clients may run at the same time in different
 * threads. It runs with no lock of the server held: it may
 * call sc_server_send_bytes(), sc_server_send_message(),
 * sc_server_close_client_connection() and the getters, for any client. It
 * must not block (every client of its worker waits meanwhile), and must
 * not call sc_server_shutdown() or drop the last reference to @self. The
 * handler is called until sc_server_shutdown() returns; @client_id and
 * @message are valid during the call (g_bytes_ref() keeps the message).
 */
void
sc_server_set_message_handler (ScServer *self, ScServerMessageHandler handler, gpointer user_data,
                               GDestroyNotify destroy)
{
  GDestroyNotify old_destroy;
  gpointer old_data;

  g_return_if_fail (SC_IS_SERVER (self));
  g_return_if_fail (self->service == NULL);
  old_destroy = self->handler_destroy;
  old_data = self->handler_data;
  self->handler = handler;
  self->handler_data = user_data;
  self->handler_destroy = destroy;
  if (old_destroy != NULL)
    old_destroy (old_data);
}

/**
 * sc_server_get_identity:
 * @self: a #ScServer
 *
 * Returns: (transfer none) (nullable): the identity, once set or started
 */
ScIdentity *
sc_server_get_identity (ScServer *self)
{
  g_return_val_if_fail (SC_IS_SERVER (self), NULL);
  return self->identity;
}

/**
 * sc_server_set_allowed_clients:
 * @self: a #ScServer
 * @fingerprints: (nullable) (array zero-terminated=1): lowercase hex SHA-256
 *   key fingerprints, or %NULL to accept any client key
 *
 * Which client identities are let in. Takes effect for new handshakes.
 */
void
sc_server_set_allowed_clients (ScServer *self, const char *const *fingerprints)
{
  g_return_if_fail (SC_IS_SERVER (self));
  g_mutex_lock (&self->lock);
  g_strfreev (self->allowed);
  self->allowed = g_strdupv ((char **) fingerprints);
  g_mutex_unlock (&self->lock);
}

/**
 * sc_server_is_running:
 * @self: a #ScServer
 *
 * Returns: whether the server is started
 */
gboolean
sc_server_is_running (ScServer *self)
{
  g_return_val_if_fail (SC_IS_SERVER (self), FALSE);
  return self->service != NULL;
}

/**
 * sc_server_get_port:
 * @self: a #ScServer
 *
 * Returns: the port, the one actually bound once started
 */
guint16
sc_server_get_port (ScServer *self)
{
  g_return_val_if_fail (SC_IS_SERVER (self), 0);
  return self->port;
}

/**
 * sc_server_get_listen_addresses:
 * @self: a #ScServer
 *
 * Returns: (transfer full): the bound addresses as "host:port"
 */
GStrv
sc_server_get_listen_addresses (ScServer *self)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  g_return_val_if_fail (SC_IS_SERVER (self), NULL);
  for (guint i = 0; self->listen_addresses && i < self->listen_addresses->len; i++)
    g_strv_builder_add (builder, self->listen_addresses->pdata[i]);
  return g_strv_builder_end (builder);
}
