/* sc-channel.c: one SecureComm session driven over a GIOStream.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-channel.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "sc-error.h"
#include "sc-identity-private.h"
#include "sc-poller.h"

/* bytes: what one read asks for: 16 whole records. One buffer per thread,
 * so its size costs nothing per session; one whole record per read (17 KiB)
 * split nearly every record of a bulk transfer across two reads (a copy and
 * an allocation for the partial record) and cost a syscall and a TCP window
 * update per record. */
#define SC_CHANNEL_READ_CHUNK (16 * SC_MAX_RECORD_LEN)
/* reads, and bytes, per wake-up before yielding to the other channels of
 * the context, so that one fast peer cannot starve the rest; the channel
 * then wakes itself to go on in the next iteration. (Through TLS one read
 * gives at most one TLS record, 16 KiB.) */
#define SC_CHANNEL_READS_PER_WAKEUP 64
#define SC_CHANNEL_BYTES_PER_WAKEUP (1u << 20)
/* bytes: most ciphertext queued for a peer that does not read. Past it
 * sc_channel_send fails with SC_ERROR_BUSY: the caller sees the back
 * pressure instead of the daemon growing without bound. 8 MiB holds eight
 * maximum-size messages. */
#define SC_CHANNEL_MAX_QUEUED (8u << 20)
/* bytes: output buffers at least this large are kept once written out, for
 * the next messages, until the channel has carried no message for
 * SC_CHANNEL_BUFFER_LINGER_MS. Freeing and allocating a 1 MiB buffer per
 * message made the kernel map and zero fresh pages for every message (a page
 * fault per 4 KiB: more CPU than sealing it). Smaller buffers (handshakes,
 * heartbeats, acknowledgements) go at once, so an idle channel holds none. */
#define SC_CHANNEL_BUFFER_KEEP_MIN (64u << 10)
/* ms: see SC_CHANNEL_BUFFER_KEEP_MIN. */
#define SC_CHANNEL_BUFFER_LINGER_MS 1000
/* ms: how often the lingering closes handed to a reaper
 * (sc_channel_linger_later) are looked at: how long a socket may stay open
 * after the peer closed its side, in exchange for no wake-up per close. */
#define SC_CHANNEL_LINGER_CHECK_MS 50

typedef struct
{
  GList link; /* in ScChannel.events: no separate allocation per event */
  ScEventType type;
  gboolean in_message; /* data[] holds message's bytes: the event is freed with it */
  guint64 id;
  GBytes *message;
  gsize len;     /* of data[] */
  guint8 data[]; /* a one-record message's bytes, copied with the event */
} ChannelEvent;

/* The copied bytes are as aligned as g_bytes_new's would be for any
 * reader that casts them. */
G_STATIC_ASSERT (G_STRUCT_OFFSET (ChannelEvent, data) % 8 == 0);

struct _ScChannel
{
  gatomicrefcount ref;
  GMutex lock; /* guards session, outbuf, events, flags below */
  GMainContext *context;
  GIOStream *stream;
  GPollableInputStream *in;
  GPollableOutputStream *out;
  ScSession *session;
  ScBuffer outbuf;    /* records the session produced, not yet being written */
  ScBuffer wbuf;      /* records being written: wbuf.data[woff..len) are left. */
  gsize woff;         /*   Never moved: no copy per partial write */
  gboolean writing;   /* the context writes from wbuf without the lock */
  gboolean drop_wbuf; /* drop wbuf once that write returns */
  ScSessionConfig config;
  int (*verify_peer) (void *user, const ScPeerIdentity *peer);
  ScChannelCallbacks callbacks;
  gpointer user_data;
  GQueue events;         /* ChannelEvent, dispatched outside the lock */
  int fd;                /* the socket under the stream (and under TLS) */
  gboolean plain_socket; /* the stream is the socket connection itself */
  ScPoller *poller;
  ScPollerWatch *watch;          /* NULL once finished */
  gboolean running;              /* the socket is watched: started in the context */
  gboolean reading;              /* running and not closing */
  gboolean want_out;             /* output is waiting for the socket */
  gboolean read_more;            /* a read loop stopped before the stream would block */
  gboolean flush_pending;        /* a wake-up is queued; it holds a reference */
  guint dispatching;             /* channel_process runs callbacks (nested: depth) */
  gboolean hold_after_handshake; /* events after HANDSHAKE_DONE wait for sc_channel_move */
  gboolean holding;              /*   and handshake_done has been dispatched: they wait */
  gboolean started;              /* sc_channel_start ran: the loop holds a ref */
  gboolean handshake_done;
  gboolean closing;             /* flush, then close the stream */
  gboolean finished;            /* `closed` was called (or is about to be) */
  gint stream_closed;           /* atomic: the stream is closed, after any lingering */
  GMainContext *linger_context; /* sc_channel_linger_later's, or NULL */
  char *close_reason;
  GError *error;
  char *peer_address;
  gint64 connected_since_us;
  gint64 last_activity_us;
  guint idle_timeout_ms;       /* 0: none */
  gint64 last_message_mono_us; /* a message sent or received */
  gboolean message_seen;       /* one was, since last_message_mono_us was set */
  gboolean streaming;          /* messages flow: written buffers are kept */
  char fingerprint[2 * SC_SHA256_LEN + 1];
  gboolean authenticated;
  gboolean transport_up; /* a write or a read moved a byte */
  ScChannelHandshake hs;
  ScResumption *ticket; /* secure memory; the latest ticket, until taken */
  guint32 ticket_lifetime_s;
  int peer_close_reason;
  gpointer held;
  GDestroyNotify held_destroy;
};

static void channel_process (ScChannel *self);

/* ---- the protocol context ---------------------------------------------- */

static uint64_t
ctx_wall_ms (void *user)
{
  return (uint64_t) (g_get_real_time () / 1000);
}

static uint64_t
ctx_mono_ms (void *user)
{
  return (uint64_t) (g_get_monotonic_time () / 1000);
}

static int
ctx_verify (void *user, const ScPeerIdentity *peer)
{
  ScChannel *self = user;

  return self->verify_peer != NULL ? self->verify_peer (self->user_data, peer) : 0;
}

static int
ctx_resume (void *user, const ScResumeRequest *request, uint64_t *server_recv_id)
{
  ScChannel *self = user;
  guint64 id = 0;
  int ret;

  if (self->callbacks.resume == NULL)
    return -1;
  ret = self->callbacks.resume (self, request, &id, self->user_data);
  *server_recv_id = id;
  return ret;
}

/* A ticket with its secret goes to secure memory at once; the event only
 * says it is there. */
static void
keep_ticket (ScChannel *self, ScSession *session, const ScEvent *ev)
{
  const ScPeerIdentity *server = sc_session_peer_identity (session);

  if (self->ticket == NULL)
    self->ticket = sc_secure_alloc (sizeof *self->ticket);
  if (self->ticket == NULL || server == NULL || ev->len > sizeof self->ticket->ticket)
    return;
  memcpy (self->ticket->ticket, ev->data, ev->len);
  self->ticket->ticket_len = ev->len;
  memcpy (self->ticket->psk, ev->secret, SC_RESUMPTION_PSK_LEN);
  self->ticket->server = *server;
  self->ticket_lifetime_s = ev->lifetime_s;
}

/* GDestroyNotify over sc_message_free (wipes and frees a taken message). */
static void
message_free_cb (gpointer message)
{
  sc_message_free (message);
}

/* The free function of a GBytes over an event's data[]: wipes the message
 * (as sc_message_free does a reassembled one) and frees the event. */
static void
event_message_free (gpointer data)
{
  ChannelEvent *ce = data;

  sc_memzero (ce->data, ce->len);
  g_free (ce);
}

/* A new event for ev. A message reassembled from several records is handed
 * over as it is (wiped when the last reference goes); a one-record one is
 * copied out of the session's record buffer (only valid during the call)
 * into the event's own allocation, which its GBytes then owns (and wipes
 * when the last reference goes): one allocation fewer per message. */
static ChannelEvent *
channel_event_new (ScSession *session, const ScEvent *ev)
{
  guint8 *owned = ev->type == SC_EVENT_MESSAGE ? sc_session_take_message (session) : NULL;
  gboolean copy = ev->type == SC_EVENT_MESSAGE && owned == NULL;
  ChannelEvent *ce = g_malloc (sizeof *ce + (copy ? ev->len : 0));

  *ce = (ChannelEvent) { .link.data = ce, .type = ev->type, .id = ev->id };
  if (owned != NULL)
    ce->message = g_bytes_new_with_free_func (owned, ev->len, message_free_cb, owned);
  else if (copy)
    {
      if (ev->len > 0)
        memcpy (ce->data, ev->data, ev->len);
      ce->len = ev->len;
      ce->message = g_bytes_new_with_free_func (ce->data, ev->len, event_message_free, ce);
      ce->in_message = TRUE;
    }
  return ce;
}

/* Session events arrive with the lock held: queue them for dispatch after
 * unlock. */
static void
ctx_event (void *user, ScSession *session, const ScEvent *ev)
{
  ScChannel *self = user;
  ChannelEvent *ce = channel_event_new (session, ev);

  if (ev->type == SC_EVENT_MESSAGE)
    self->message_seen = TRUE;
  if (ev->type == SC_EVENT_TICKET)
    keep_ticket (self, session, ev);
  if (ev->type == SC_EVENT_CLOSED)
    self->peer_close_reason = ev->reason;
  if (ev->type == SC_EVENT_HANDSHAKE_DONE)
    {
      const ScPeerIdentity *peer = sc_session_peer_identity (session);

      self->hs.resumed = ev->resumed;
      self->hs.peer_recv_id = ev->id;
      if (ev->stream_id != NULL)
        memcpy (self->hs.stream_id, ev->stream_id, SC_STREAM_ID_LEN);
      self->hs.generation = ev->generation;
      self->handshake_done = TRUE;
      self->authenticated = peer != NULL;
      if (peer != NULL)
        sc_hex_format (peer->fingerprint, SC_SHA256_LEN, self->fingerprint);
    }
  g_queue_push_tail_link (&self->events, &ce->link);
}

static void
channel_event_free (ChannelEvent *ce)
{
  if (ce->in_message)
    {
      g_bytes_unref (ce->message); /* frees ce with the last reference */
      return;
    }
  g_clear_pointer (&ce->message, g_bytes_unref);
  g_free (ce);
}

/* Takes the oldest event of a queue, or NULL. */
static ChannelEvent *
channel_event_pop (GQueue *queue)
{
  GList *link = g_queue_pop_head_link (queue);

  return link != NULL ? link->data : NULL;
}

/* With the lock held: puts the events of rest (not dispatched) back in
 * front of those queued since, in order. */
static void
requeue_events_locked (ScChannel *self, GQueue *rest)
{
  GList *link;

  while ((link = g_queue_pop_tail_link (rest)) != NULL)
    g_queue_push_head_link (&self->events, link);
}

/* ---- life cycle -------------------------------------------------------- */

/* The socket connection under stream (under any TLS layers), or NULL. */
static GSocketConnection *
base_connection (GIOStream *stream)
{
  g_autoptr (GIOStream) base = g_object_ref (stream);

  while (G_IS_TLS_CONNECTION (base))
    {
      GIOStream *inner = NULL;

      g_object_get (base, "base-io-stream", &inner, NULL);
      g_object_unref (base);
      base = inner;
    }
  if (!G_IS_SOCKET_CONNECTION (base))
    return NULL;
  return G_SOCKET_CONNECTION (g_steal_pointer (&base));
}

/* Records leave in one write per wake-up (flush_locked), so Nagle's
 * algorithm would only hold the last one back until the peer's delayed
 * ACK, 40 ms on Linux: every request-reply exchange would pay it. Both
 * ends also call this before a TLS handshake, whose last flight and the
 * SecureComm hello leave in separate writes. */
void
sc_socket_set_nodelay (GSocket *socket)
{
  GSocketFamily family = g_socket_get_family (socket);
  GSocketProtocol protocol = g_socket_get_protocol (socket);

  /* (a socket GLib made itself says DEFAULT: for a stream, TCP) */
  if (g_socket_get_socket_type (socket) == G_SOCKET_TYPE_STREAM
      && (protocol == G_SOCKET_PROTOCOL_TCP || protocol == G_SOCKET_PROTOCOL_DEFAULT)
      && (family == G_SOCKET_FAMILY_IPV4 || family == G_SOCKET_FAMILY_IPV6))
    (void) g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
}

static char *
describe_peer (GSocketConnection *conn)
{
  g_autoptr (GSocketAddress) addr = NULL;
  GInetAddress *inet;
  g_autofree char *host = NULL;

  addr = g_socket_connection_get_remote_address (conn, NULL);
  if (!G_IS_INET_SOCKET_ADDRESS (addr))
    return NULL;
  inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (addr));
  host = g_inet_address_to_string (inet);
  if (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", host,
                            g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (addr)));
  return g_strdup_printf ("%s:%u", host,
                          g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (addr)));
}

static void on_poll (ScPollerWatch *watch, guint events, gpointer data);

ScChannel *
sc_channel_new (GIOStream *stream, GMainContext *context, const ScSessionConfig *config,
                int (*verify_peer) (void *user, const ScPeerIdentity *peer),
                const ScChannelCallbacks *callbacks, gpointer user_data, GError **error)
{
  g_autoptr (GSocketConnection) conn = NULL;
  g_autoptr (ScPoller) poller = NULL;
  ScChannel *self;
  ScProtoCtx ctx = {
    .wall_ms = ctx_wall_ms,
    .mono_ms = ctx_mono_ms,
    .random = sc_random_system,
    .event = ctx_event,
    .verify_peer = ctx_verify,
    .resume = ctx_resume,
  };
  int err = 0;

  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);
  if (!G_IS_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (stream))
      || !G_IS_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (stream)))
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_NOT_SUPPORTED, "the stream is not pollable");
      return NULL;
    }
  conn = base_connection (stream);
  if (conn == NULL)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_NOT_SUPPORTED,
                           "the stream does not run over a socket");
      return NULL;
    }
  poller = sc_poller_get (context, error);
  if (poller == NULL)
    return NULL;
  sc_socket_set_nodelay (g_socket_connection_get_socket (conn));
  self = g_new0 (ScChannel, 1);
  g_atomic_ref_count_init (&self->ref);
  g_mutex_init (&self->lock);
  g_queue_init (&self->events);
  sc_buffer_init (&self->outbuf);
  sc_buffer_init (&self->wbuf);
  self->context = g_main_context_ref (context);
  self->stream = g_object_ref (stream);
  self->in = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (stream));
  self->out = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (stream));
  self->config = *config;
  self->verify_peer = verify_peer;
  self->callbacks = *callbacks;
  self->user_data = user_data;
  self->peer_address = describe_peer (conn);
  self->fd = g_socket_get_fd (g_socket_connection_get_socket (conn));
  self->plain_socket = G_IO_STREAM (conn) == stream
                       && g_socket_get_socket_type (g_socket_connection_get_socket (conn))
                              == G_SOCKET_TYPE_STREAM;
  self->poller = g_steal_pointer (&poller);
  self->watch = sc_poller_watch_new (self->poller, on_poll, self);
  self->peer_close_reason = -1;
  self->connected_since_us = g_get_real_time ();
  self->last_message_mono_us = g_get_monotonic_time ();
  self->last_activity_us = self->connected_since_us;
  ctx.user = self;
  self->session = sc_session_new (config, &ctx, &err);
  if (self->session == NULL)
    {
      sc_error_set_from_protocol (error, err, "cannot create the session");
      sc_channel_unref (self);
      return NULL;
    }
  return self;
}

ScChannel *
sc_channel_ref (ScChannel *self)
{
  g_atomic_ref_count_inc (&self->ref);
  return self;
}

void
sc_channel_hold (ScChannel *self, gpointer data, GDestroyNotify destroy)
{
  g_return_if_fail (self->held_destroy == NULL);
  self->held = data;
  self->held_destroy = destroy;
}

void
sc_channel_get_handshake (ScChannel *self, ScChannelHandshake *out)
{
  g_mutex_lock (&self->lock);
  *out = self->hs;
  g_mutex_unlock (&self->lock);
}

gboolean
sc_channel_take_ticket (ScChannel *self, ScResumption *dest, guint32 *lifetime_s)
{
  gboolean ok = FALSE;

  g_mutex_lock (&self->lock);
  if (self->ticket != NULL && self->ticket->ticket_len > 0)
    {
      memcpy (dest, self->ticket, sizeof *dest);
      *lifetime_s = self->ticket_lifetime_s;
      sc_memzero (self->ticket, sizeof *self->ticket);
      ok = TRUE;
    }
  g_mutex_unlock (&self->lock);
  return ok;
}

int
sc_channel_get_peer_close_reason (ScChannel *self)
{
  int reason;

  g_mutex_lock (&self->lock);
  reason = self->peer_close_reason;
  g_mutex_unlock (&self->lock);
  return reason;
}

void
sc_channel_unref (ScChannel *self)
{
  ChannelEvent *ce;

  if (!g_atomic_ref_count_dec (&self->ref))
    return;
  /* Finished, or never started: either way no callback is coming. */
  g_clear_pointer (&self->watch, sc_poller_watch_destroy);
  g_clear_pointer (&self->poller, sc_poller_unref);
  sc_session_free (self->session);
  sc_secure_free (self->ticket, sizeof *self->ticket);
  if (self->held_destroy != NULL)
    self->held_destroy (self->held);
  sc_buffer_clear (&self->outbuf);
  sc_buffer_clear (&self->wbuf);
  while ((ce = channel_event_pop (&self->events)) != NULL)
    channel_event_free (ce);
  g_clear_object (&self->stream);
  g_main_context_unref (self->context);
  g_clear_pointer (&self->linger_context, g_main_context_unref);
  g_clear_error (&self->error);
  g_free (self->close_reason);
  g_free (self->peer_address);
  g_mutex_clear (&self->lock);
  g_free (self);
}

/* ---- finishing --------------------------------------------------------- */

/* An asynchronous close of the stream, or of a TLS stream's output. Inside
 * TLS it writes close_notify in a thread of glib-networking's, which waits
 * as long as the peer reads nothing: after SC_CHANNEL_CLOSE_LINGER_MS the
 * write is cancelled (the close then goes on without it). */
typedef struct
{
  ScChannel *channel; /* a reference */
  GCancellable *cancel;
  GSource *timer; /* in the channel's context, as the completion */
} StreamClose;

static gboolean
stream_close_timeout (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

static StreamClose *
stream_close_new (ScChannel *self)
{
  StreamClose *op = g_new0 (StreamClose, 1);

  op->channel = sc_channel_ref (self);
  op->cancel = g_cancellable_new ();
  op->timer = g_timeout_source_new (SC_CHANNEL_CLOSE_LINGER_MS);
  g_source_set_callback (op->timer, stream_close_timeout, op->cancel, NULL);
  g_source_attach (op->timer, self->context);
  return op;
}

/* Frees op (in the context, so the timer cannot be running) and gives
 * back its reference to the channel. */
static ScChannel *
stream_close_free (StreamClose *op)
{
  ScChannel *channel = op->channel;

  g_source_destroy (op->timer);
  g_source_unref (op->timer);
  g_object_unref (op->cancel);
  g_free (op);
  return channel;
}

static void
on_stream_closed (GObject *source, GAsyncResult *result, gpointer data)
{
  ScChannel *self = stream_close_free (data);

  /* A close error changes nothing: the channel is over either way. */
  g_io_stream_close_finish (G_IO_STREAM (source), result, NULL);
  g_atomic_int_set (&self->stream_closed, TRUE);
  sc_channel_unref (self);
}

/* In the context: closes the stream at once (no lingering). */
static void
close_stream_now (ScChannel *self)
{
  StreamClose *op;

  if (self->plain_socket)
    {
      /* closing a socket does not block: no task, no timer (for a server,
       * whose clients close first, this was a tenth of its own work per
       * connection besides the cryptography) */
      (void) g_io_stream_close (self->stream, NULL, NULL);
      g_atomic_int_set (&self->stream_closed, TRUE);
      return;
    }
  op = stream_close_new (self);
  g_io_stream_close_async (self->stream, G_PRIORITY_DEFAULT, op->cancel, on_stream_closed, op);
}

/* A connection that ended cleanly is not closed at once: closing a
 * socket with input still unread (the peer's acknowledgements, written
 * while our CLOSE was on its way) makes the kernel answer with a reset,
 * and a reset makes the peer's kernel throw away what it had not read yet,
 * our CLOSE included: the peer then sees a lost connection where there was
 * a clean close (a replaced client would reconnect and take its stream
 * back). So: no more output (FIN after the CLOSE record), then whatever
 * comes in is read and dropped until the peer closes its side, at most
 * SC_CHANNEL_CLOSE_LINGER_MS and SC_CHANNEL_CLOSE_LINGER_BYTES, then the
 * stream is closed. The channel has already reported its end; nothing read
 * here reaches the session. Only when this side closed first (see
 * channel_finish). Inside TLS, the TLS output is closed first (its
 * close_notify after our CLOSE), and the lingering reads the socket under
 * it: what the peer still sends is dropped unread by TLS too. */
typedef struct
{
  ScChannel *channel;     /* a reference, dropped with the last source */
  GSocket *socket;        /* borrowed: the stream holds it */
  GSource *input, *timer; /* borrowed: the context holds them (none in a reaper) */
  guint sources;          /* holders whose release has not run: sources, a reaper */
  gboolean closed;
  gsize drained;
  gint64 deadline_us; /* monotonic: the linger ends by then */
} Linger;

/* Closes the stream once (its socket; a TLS stream's output is closed
 * already, so nothing is written and closing does not block). */
static void
linger_close (Linger *linger)
{
  if (linger->closed)
    return;
  linger->closed = TRUE;
  (void) g_io_stream_close (linger->channel->stream, NULL, NULL);
  g_atomic_int_set (&linger->channel->stream_closed, TRUE);
}

/* Each holder's release (a source's destroy notify: also when the context
 * goes away with the sources still attached, a worker that stopped). */
static void
linger_release (gpointer data)
{
  Linger *linger = data;

  if (--linger->sources > 0)
    return;
  linger_close (linger);
  sc_channel_unref (linger->channel);
  g_free (linger);
}

static void
linger_end (Linger *linger)
{
  GSource *input = linger->input, *timer = linger->timer;

  linger_close (linger);
  g_source_destroy (input); /* the destroy notifies free linger */
  g_source_destroy (timer);
}

/* Reads and drops what the peer sent; TRUE once the lingering is over: the
 * peer closed, failed, or talks too much. */
static gboolean
linger_drain (Linger *linger)
{
  guint8 buf[4096];

  for (;;)
    {
      g_autoptr (GError) error = NULL;
      gssize n = g_socket_receive_with_blocking (linger->socket, (gchar *) buf, sizeof buf, FALSE,
                                                 NULL, &error);

      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return FALSE;
      if (n <= 0 || (linger->drained += (gsize) n) >= SC_CHANNEL_CLOSE_LINGER_BYTES)
        return TRUE;
    }
}

static gboolean
linger_input (GSocket *socket, GIOCondition condition, gpointer data)
{
  if (!linger_drain (data))
    return G_SOURCE_CONTINUE;
  linger_end (data);
  return G_SOURCE_REMOVE;
}

static gboolean
linger_timeout (gpointer data)
{
  linger_end (data);
  return G_SOURCE_REMOVE;
}

/* ---- lingering in a reaper ---------------------------------------------- */

/* A context's lingering closes that are looked at every
 * SC_CHANNEL_LINGER_CHECK_MS (sc_channel_linger_later) instead of watched:
 * one timer for all of them, attached while any is left, so that handing
 * one over from another thread does not wake the context (only the one
 * that attaches the timer does), and its end (the peer's close) does not
 * wake it either. */
typedef struct
{
  GMainContext *context; /* not a reference: the entry goes with the timer */
  GSource *timer;
  GQueue lingers; /* Linger *, oldest first: by deadline */
} Reaper;

static GMutex reapers_lock;
static GHashTable *reapers; /* GMainContext * -> Reaper *, while its timer is attached */

/* The timer, in the reaper's context. */
static gboolean
reaper_check (gpointer data)
{
  Reaper *reaper = data;
  GQueue work;
  gint64 now = g_get_monotonic_time ();
  gboolean again;
  Linger *linger;

  g_mutex_lock (&reapers_lock);
  work = reaper->lingers;
  g_queue_init (&reaper->lingers);
  g_mutex_unlock (&reapers_lock);
  for (GList *l = work.head, *next; l != NULL; l = next)
    {
      next = l->next;
      linger = l->data;
      if (linger_drain (linger) || now >= linger->deadline_us)
        {
          g_queue_delete_link (&work, l);
          linger_release (linger);
        }
    }
  g_mutex_lock (&reapers_lock);
  /* the survivors are older than what came in meanwhile */
  while ((linger = g_queue_pop_tail (&work)) != NULL)
    g_queue_push_head (&reaper->lingers, linger);
  again = reaper->lingers.length > 0;
  if (!again)
    g_hash_table_remove (reapers, reaper->context); /* the next hand-over makes a new one */
  g_mutex_unlock (&reapers_lock);
  return again ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* The timer's destroy notify: also when the context goes away with
 * lingers left, which then close at once. */
static void
reaper_free (gpointer data)
{
  Reaper *reaper = data;
  Linger *linger;

  g_mutex_lock (&reapers_lock);
  if (reapers != NULL && g_hash_table_lookup (reapers, reaper->context) == reaper)
    g_hash_table_remove (reapers, reaper->context);
  g_mutex_unlock (&reapers_lock);
  while ((linger = g_queue_pop_head (&reaper->lingers)) != NULL)
    linger_release (linger);
  g_free (reaper);
}

guint
sc_channel_lingering (GMainContext *context)
{
  Reaper *reaper;
  guint n = 0;

  g_mutex_lock (&reapers_lock);
  if (reapers != NULL && (reaper = g_hash_table_lookup (reapers, context)) != NULL)
    n = reaper->lingers.length;
  g_mutex_unlock (&reapers_lock);
  return n;
}

/* Hands linger (its holder count includes the reaper) to context's reaper. */
static void
reaper_add (GMainContext *context, Linger *linger)
{
  Reaper *reaper;

  g_mutex_lock (&reapers_lock);
  if (reapers == NULL)
    reapers = g_hash_table_new (NULL, NULL);
  reaper = g_hash_table_lookup (reapers, context);
  if (reaper == NULL)
    {
      reaper = g_new0 (Reaper, 1);
      reaper->context = context;
      g_queue_init (&reaper->lingers);
      reaper->timer = g_timeout_source_new (SC_CHANNEL_LINGER_CHECK_MS);
      g_source_set_static_name (reaper->timer, "sc-channel-reaper");
      g_source_set_callback (reaper->timer, reaper_check, reaper, reaper_free);
      g_hash_table_insert (reapers, context, reaper);
      g_source_attach (reaper->timer, context); /* (the context's lock, not ours, inside) */
      g_source_unref (reaper->timer);
    }
  g_queue_push_tail (&reaper->lingers, linger);
  g_mutex_unlock (&reapers_lock);
}

/* The socket under the stream: a socket connection's own, or the one under
 * a TLS connection; NULL for any other stream. */
static GSocket *
stream_socket (GIOStream *stream)
{
  g_autoptr (GIOStream) base = NULL;

  if (G_IS_SOCKET_CONNECTION (stream))
    return g_socket_connection_get_socket (G_SOCKET_CONNECTION (stream));
  if (!G_IS_TLS_CONNECTION (stream))
    return NULL;
  g_object_get (stream, "base-io-stream", &base, NULL);
  /* the TLS connection keeps its base stream, and the base its socket */
  return G_IS_SOCKET_CONNECTION (base) ? g_socket_connection_get_socket (G_SOCKET_CONNECTION (base))
                                       : NULL;
}

/* In the context: no more output on the socket, then lingers on it until
 * linger_end closes the stream (in the reaper of the context that
 * sc_channel_linger_later named, if any); or closes it at once when the
 * socket cannot be shut down. Takes a reference for the close. */
static void
linger_on (ScChannel *self, GSocket *socket)
{
  Linger *linger;
  GMainContext *later;

  if (!g_socket_shutdown (socket, FALSE, TRUE, NULL))
    {
      close_stream_now (self);
      return;
    }
  linger = g_new0 (Linger, 1);
  linger->channel = sc_channel_ref (self);
  linger->socket = socket;
  linger->deadline_us = g_get_monotonic_time ()
                        + (gint64) SC_CHANNEL_CLOSE_LINGER_MS * G_TIME_SPAN_MILLISECOND;
  g_mutex_lock (&self->lock);
  later = g_steal_pointer (&self->linger_context); /* the linger holds us: no cycle */
  g_mutex_unlock (&self->lock);
  if (later != NULL)
    {
      /* what the peer sent before its close may be there already */
      linger->sources = 1;
      if (linger_drain (linger))
        linger_release (linger);
      else
        reaper_add (later, linger);
      g_main_context_unref (later);
      return;
    }
  linger->sources = 2;
  linger->input = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (linger->input, G_SOURCE_FUNC (linger_input), linger, linger_release);
  linger->timer = g_timeout_source_new (SC_CHANNEL_CLOSE_LINGER_MS);
  g_source_set_callback (linger->timer, linger_timeout, linger, linger_release);
  g_source_attach (linger->input, self->context);
  g_source_attach (linger->timer, self->context);
  g_source_unref (linger->input);
  g_source_unref (linger->timer);
}

/* A TLS stream's output is closed (close_notify written, in a thread of
 * glib-networking's; in the context now): lingers on the socket. */
static void
on_tls_output_closed (GObject *source, GAsyncResult *result, gpointer data)
{
  ScChannel *self = stream_close_free (data);

  /* a failure (or the timer's cancel) changes nothing: the socket is shut
   * down and drained anyway */
  g_output_stream_close_finish (G_OUTPUT_STREAM (source), result, NULL);
  linger_on (self, stream_socket (self->stream));
  sc_channel_unref (self);
}

/* In the context: closes the stream, after lingering (if asked to) when it
 * runs over a socket. Takes a reference for the close. */
static void
close_stream (ScChannel *self, gboolean linger_first)
{
  GSocket *socket = linger_first ? stream_socket (self->stream) : NULL;

  StreamClose *op;

  if (socket == NULL)
    close_stream_now (self);
  else if (G_IS_TLS_CONNECTION (self->stream))
    {
      op = stream_close_new (self);
      g_output_stream_close_async (g_io_stream_get_output_stream (self->stream), G_PRIORITY_DEFAULT,
                                   op->cancel, on_tls_output_closed, op);
    }
  else
    linger_on (self, socket);
}

/* Runs in the context: stops every source, closes the stream and reports.
 * Takes the lock itself. */
static void
channel_finish (ScChannel *self)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *reason = NULL;
  gboolean flush_ref, started, linger;

  g_mutex_lock (&self->lock);
  if (self->finished)
    {
      g_mutex_unlock (&self->lock);
      return;
    }
  self->finished = TRUE;
  self->reading = FALSE;
  /* In the context: no callback comes after this, queued wake-up included,
   * so its reference is ours to drop. */
  g_clear_pointer (&self->watch, sc_poller_watch_destroy);
  flush_ref = self->flush_pending;
  self->flush_pending = FALSE;
  started = self->started;
  error = g_steal_pointer (&self->error);
  reason = g_strdup (self->close_reason ? self->close_reason : "closed");
  /* lingers when we closed first: a peer that sent its CLOSE sends nothing
   * after it, and we read up to it, so closing at once leaves nothing
   * unread; and not before the handshake, when no CLOSE is sent */
  linger = error == NULL && self->peer_close_reason < 0 && self->handshake_done;
  g_mutex_unlock (&self->lock);

  close_stream (self, linger);
  if (self->callbacks.closed != NULL)
    self->callbacks.closed (self, error, reason, self->user_data);
  if (flush_ref)
    sc_channel_unref (self);
  if (started)
    sc_channel_unref (self); /* the reference the running channel held */
}

/* With the lock held: records why the channel ends (the first reason wins)
 * and stops reading: nothing the peer sends now matters. */
static void
set_end_locked (ScChannel *self, GError *error, const char *reason)
{
  self->reading = FALSE;
  if (self->close_reason == NULL)
    {
      self->close_reason = g_strdup (reason);
      self->error = error;
    }
  else if (error != NULL)
    g_error_free (error);
  self->closing = TRUE;
}

/* With the lock held: the session failed with a protocol error. */
static void
set_failed_locked (ScChannel *self, int err)
{
  GError *error = NULL;
  const char *reason = sc_strerror (err);

  if (err == SC_ERR_TIMEOUT)
    reason = self->handshake_done ? "heartbeat timeout" : "handshake timeout";
  if (err == SC_ERR_CLOSED)
    {
      set_end_locked (self, NULL, "closed by peer");
      return;
    }
  sc_error_set_from_protocol (&error, err, reason);
  set_end_locked (self, error, reason);
}

/* ---- writing ----------------------------------------------------------- */

/* With the lock held: asks the poller for writability, or stops asking. */
static void
want_out_locked (ScChannel *self, gboolean want)
{
  if (self->want_out == want || self->watch == NULL)
    return;
  self->want_out = want;
  sc_poller_watch_want_out (self->watch, want);
}

/* With the lock held: bytes queued for the peer and not written yet. */
static gsize
queued_locked (ScChannel *self)
{
  return self->outbuf.len + (self->wbuf.len - self->woff);
}

/* With the lock held: drops everything queued (the buffers hold sealed
 * records only: nothing to wipe) and frees the buffers. */
static void
drop_output_locked (ScChannel *self)
{
  sc_buffer_clear (&self->outbuf);
  if (self->writing)
    {
      self->drop_wbuf = TRUE; /* in use: the writer drops it */
      return;
    }
  sc_buffer_clear (&self->wbuf);
  self->woff = 0;
}

/* With the lock held, everything written: empties the buffers, keeping
 * large ones for a while (SC_CHANNEL_BUFFER_KEEP_MIN), and small ones too
 * while messages flow: a small buffer freed after each write and allocated
 * again for the next batch (4 KiB, a large-bin request) made malloc
 * consolidate every chunk the batch's messages had freed (a receiver's
 * acknowledgement after each read: 6-8% of a busy server worker). */
static void
output_done_locked (ScChannel *self)
{
  self->outbuf.len = 0;
  self->wbuf.len = 0;
  self->woff = 0;
  if (self->streaming)
    return; /* release_buffers_locked frees them once the flow stops */
  if (self->outbuf.cap < SC_CHANNEL_BUFFER_KEEP_MIN)
    sc_buffer_clear (&self->outbuf);
  if (self->wbuf.cap < SC_CHANNEL_BUFFER_KEEP_MIN)
    sc_buffer_clear (&self->wbuf);
}

/* With the lock held: frees kept buffers once everything is written and no
 * message went either way for SC_CHANNEL_BUFFER_LINGER_MS; else lowers
 * *next_ms to when to look again. */
static void
release_buffers_locked (ScChannel *self, gint64 now, uint32_t *next_ms)
{
  gint64 left_us = self->last_message_mono_us + SC_CHANNEL_BUFFER_LINGER_MS * 1000 - now;

  if (!self->streaming && self->outbuf.cap < SC_CHANNEL_BUFFER_KEEP_MIN
      && self->wbuf.cap < SC_CHANNEL_BUFFER_KEEP_MIN)
    return; /* none kept: small ones go when written */
  if (left_us <= 0 && queued_locked (self) == 0)
    {
      drop_output_locked (self);
      self->streaming = FALSE;
      return;
    }
  if (left_us <= 0)
    left_us = SC_CHANNEL_BUFFER_LINGER_MS * 1000; /* still writing: look again later */
  *next_ms = MIN (*next_ms, (uint32_t) ((left_us + 999) / 1000));
}

/* With the lock held, wbuf written out: what the session produced since
 * becomes wbuf, and the old wbuf's storage takes the next records. FALSE
 * when there is nothing more. */
static gboolean
next_output_locked (ScChannel *self)
{
  ScBuffer done = self->wbuf;

  if (self->outbuf.len == 0)
    return FALSE;
  self->wbuf = self->outbuf;
  self->woff = 0;
  done.len = 0;
  self->outbuf = done;
  return TRUE;
}

/* With the lock held, in the context: one write from wbuf, with the lock
 * released around it, so that other threads seal the next records (into
 * outbuf) while the kernel copies these: a bulk sender's sealing and its
 * writes overlap instead of taking turns. wbuf is only touched by the
 * context meanwhile; sc_channel_abort leaves it to drop_wbuf. Only the
 * context writes to the stream. */
static gssize
write_locked (ScChannel *self, GError **error)
{
  const guint8 *data = self->wbuf.data + self->woff;
  gsize len = self->wbuf.len - self->woff;
  gssize n;

  self->writing = TRUE;
  g_mutex_unlock (&self->lock);
  n = g_pollable_output_stream_write_nonblocking (self->out, data, len, NULL, error);
  g_mutex_lock (&self->lock);
  self->writing = FALSE;
  if (n > 0)
    self->transport_up = TRUE;
  return n;
}

/* With the lock held: writes as much as the stream takes now, and waits for
 * writability for the rest. Returns FALSE on a write error. */
static gboolean
flush_locked (ScChannel *self)
{
  while (self->woff < self->wbuf.len || next_output_locked (self))
    {
      g_autoptr (GError) error = NULL;
      gssize n = write_locked (self, &error);

      if (self->drop_wbuf)
        {
          self->drop_wbuf = FALSE; /* sc_channel_abort: nothing more goes out */
          drop_output_locked (self);
          continue;
        }
      if (n > 0)
        {
          self->woff += (gsize) n;
          continue;
        }
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          want_out_locked (self, TRUE);
          return TRUE;
        }
      set_end_locked (self, g_steal_pointer (&error), "write failed");
      drop_output_locked (self);
      want_out_locked (self, FALSE);
      return FALSE;
    }
  /* Everything is written: small buffers go (they hold sealed records
   * only) rather than keep 4 KiB or more for each of thousands of idle
   * channels; the next send allocates again. */
  output_done_locked (self);
  want_out_locked (self, FALSE);
  return TRUE;
}

/* ---- timers ------------------------------------------------------------ */

/* With the lock held: the deadline passed; the session's timers run (and
 * channel_process re-arms them). */
static void
on_timer_locked (ScChannel *self)
{
  int ret = self->closing ? SC_OK : sc_session_tick (self->session, &self->outbuf, NULL);

  if (ret != SC_OK)
    set_failed_locked (self, ret);
}

/* With the lock held: closes a connected session that has carried no
 * message for idle_timeout_ms; else lowers *next_ms to when it would.
 * Messages are stamped here, after each wake-up that saw one, rather than
 * with a clock read per message. */
static gboolean
check_idle_locked (ScChannel *self, gint64 now, uint32_t *next_ms)
{
  gint64 idle_us;

  if (self->message_seen)
    {
      self->last_message_mono_us = now;
      self->message_seen = FALSE;
      self->streaming = TRUE;
    }
  if (self->idle_timeout_ms == 0 || !self->handshake_done)
    return FALSE;
  idle_us = now - self->last_message_mono_us;
  if (idle_us >= (gint64) self->idle_timeout_ms * 1000)
    {
      sc_session_close (self->session, SC_CLOSE_IDLE, &self->outbuf);
      set_end_locked (self, NULL, "idle timeout");
      return TRUE;
    }
  *next_ms = MIN (*next_ms,
                  (uint32_t) (((gint64) self->idle_timeout_ms * 1000 - idle_us + 999) / 1000));
  return FALSE;
}

/* With the lock held: runs the session's timers and re-arms ours for the
 * next one: one deadline in the poller's heap, moved on each call. */
static void
rearm_timer_locked (ScChannel *self)
{
  uint32_t next_ms = UINT32_MAX;
  int ret = sc_session_tick (self->session, &self->outbuf, &next_ms);
  gint64 now = g_get_monotonic_time ();

  if (ret != SC_OK)
    {
      set_failed_locked (self, ret);
      return;
    }
  if (check_idle_locked (self, now, &next_ms))
    return;
  release_buffers_locked (self, now, &next_ms);
  sc_poller_watch_set_deadline (self->watch,
                                next_ms == UINT32_MAX ? -1 : now + (gint64) next_ms * 1000);
}

/* ---- reading ----------------------------------------------------------- */

/* With the lock held: feeds one read's bytes to the session. */
static void
feed_locked (ScChannel *self, const guint8 *data, gsize len)
{
  int ret = sc_session_recv (self->session, data, len, &self->outbuf);

  if (ret != SC_OK)
    set_failed_locked (self, ret);
  else if (sc_session_get_state (self->session) == SC_STATE_CLOSED)
    set_end_locked (self, NULL, "closed by peer");
  self->last_activity_us = g_get_real_time ();
}

/* With the lock held: the peer closed the stream. */
static void
eof_locked (ScChannel *self)
{
  int ret = sc_session_eof (self->session);

  if (ret == SC_ERR_CLOSED)
    set_end_locked (self, NULL, "closed by peer");
  else
    set_failed_locked (self, ret);
}

/* The buffer reads go into: one per thread, so that an idle channel holds
 * none. It only ever holds what the socket (or the TLS layer) gave: records
 * still sealed, or public handshake messages; the session opens records
 * into its own buffer. */
static GPrivate read_chunk = G_PRIVATE_INIT (g_free);

static guint8 *
read_chunk_get (void)
{
  guint8 *buf = g_private_get (&read_chunk);

  if (buf == NULL)
    {
      buf = g_malloc (SC_CHANNEL_READ_CHUNK);
      g_private_set (&read_chunk, buf);
    }
  return buf;
}

/* Reads until the stream would block, feeding the session. The poller is
 * edge-triggered: it reports new bytes once, and GnuTLS may hold records it
 * already took from the socket, so stopping earlier could leave input
 * unread with no wake-up to come. After SC_CHANNEL_READS_PER_WAKEUP reads
 * or SC_CHANNEL_BYTES_PER_WAKEUP bytes the channel wakes itself to go on in
 * the next iteration. In the context. */
static void
read_available (ScChannel *self)
{
  guint8 *buf = read_chunk_get ();
  gsize total = 0;

  for (int i = 0; i < SC_CHANNEL_READS_PER_WAKEUP && total < SC_CHANNEL_BYTES_PER_WAKEUP; i++)
    {
      g_autoptr (GError) error = NULL;
      gboolean reading;
      gssize n;

      g_mutex_lock (&self->lock);
      reading = self->reading;
      g_mutex_unlock (&self->lock);
      if (!reading)
        return;
      n = g_pollable_input_stream_read_nonblocking (self->in, buf, SC_CHANNEL_READ_CHUNK, NULL,
                                                    &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return;
      g_mutex_lock (&self->lock);
      if (n > 0)
        {
          self->transport_up = TRUE;
          feed_locked (self, buf, (gsize) n);
          total += (gsize) n;
        }
      else if (n == 0 || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
        eof_locked (self); /* a reset (a killed peer with bytes unread) is an end too */
      else
        set_end_locked (self, g_steal_pointer (&error), "read failed");
      g_mutex_unlock (&self->lock);
      /* A short read from a stream socket emptied its receive queue: what
       * arrives later is a new edge. (Not through TLS: GnuTLS hands out
       * one record per read and may hold more.) Saves the read that would
       * only say EAGAIN. */
      if (n > 0 && n < SC_CHANNEL_READ_CHUNK && self->plain_socket)
        return;
    }
  g_mutex_lock (&self->lock);
  if (self->reading)
    {
      self->read_more = TRUE;
      sc_poller_watch_wake (self->watch);
    }
  g_mutex_unlock (&self->lock);
}

/* With the lock held, in the context, on the first wake-up after
 * sc_channel_start: a client sends its ClientHello, and the socket joins
 * the poller. Returns TRUE: read at once, for bytes may be waiting already
 * (in the socket, or in GnuTLS after the TLS handshake) with no edge left
 * to report them. */
static gboolean
start_locked (ScChannel *self)
{
  g_autoptr (GError) error = NULL;
  int ret = SC_OK;

  self->running = TRUE;
  self->reading = !self->closing;
  if (self->config.role == SC_ROLE_CLIENT && !self->closing)
    ret = sc_session_start (self->session, &self->outbuf);
  if (ret != SC_OK)
    set_failed_locked (self, ret);
  if (!sc_poller_watch_set_fd (self->watch, self->fd, &error))
    set_end_locked (self, g_steal_pointer (&error), "cannot watch the socket");
  return self->reading;
}

/* The poller's callback: what happened to the socket, the deadline, or a
 * wake-up (start, a flush for sends from any thread, more to read). */
static void
on_poll (ScPollerWatch *watch, guint events, gpointer data)
{
  ScChannel *self = data;
  gboolean flush_ref = FALSE, read_now = FALSE;

  g_mutex_lock (&self->lock);
  if (events & SC_POLLER_WAKE)
    {
      flush_ref = self->flush_pending; /* the reference the wake-up held */
      self->flush_pending = FALSE;
      if (self->started && !self->running && !self->finished)
        read_now = start_locked (self);
      read_now |= self->read_more;
      self->read_more = FALSE;
    }
  if (events & (SC_POLLER_IN | SC_POLLER_ERROR))
    read_now = TRUE;
  if ((events & (SC_POLLER_OUT | SC_POLLER_ERROR)) && !self->finished)
    flush_locked (self);
  if ((events & SC_POLLER_TIMER) && !self->finished)
    on_timer_locked (self);
  g_mutex_unlock (&self->lock);
  if (read_now)
    read_available (self);
  channel_process (self);
  if (flush_ref)
    sc_channel_unref (self);
}

/* ---- after every wake-up ----------------------------------------------- */

/* Flushes, re-arms the timer, dispatches queued events, and finishes the
 * channel once it is closing and everything is written. In the context. */
static void
channel_process (ScChannel *self)
{
  GQueue events = G_QUEUE_INIT;
  ChannelEvent *ce;
  gboolean dispatch, done;

  sc_channel_ref (self);
  g_mutex_lock (&self->lock);
  if (!self->finished && !self->closing)
    rearm_timer_locked (self);
  if (!self->holding)
    {
      events = self->events;
      g_queue_init (&self->events);
    }
  /* With events to dispatch, the flush waits until their callbacks have
   * run: what they send (a reply to a message) leaves in the same write as
   * the acknowledgement the session has just sealed, and needs no wake-up
   * and no main-loop iteration of its own (schedule_flush_locked). A
   * callback that blocks holds the acknowledgement back as long. */
  dispatch = events.length > 0;
  if (dispatch)
    self->dispatching++;
  else if (!self->finished)
    flush_locked (self);
  g_mutex_unlock (&self->lock);

  while ((ce = channel_event_pop (&events)) != NULL)
    {
      if (ce->type == SC_EVENT_HANDSHAKE_DONE && self->hold_after_handshake)
        {
          /* the rest waits for the context the channel moves to */
          g_mutex_lock (&self->lock);
          self->holding = TRUE;
          requeue_events_locked (self, &events);
          g_mutex_unlock (&self->lock);
        }
      if (ce->type == SC_EVENT_HANDSHAKE_DONE && self->callbacks.handshake_done)
        self->callbacks.handshake_done (self, self->user_data);
      else if (ce->type == SC_EVENT_MESSAGE && self->callbacks.message)
        self->callbacks.message (self, ce->id, ce->message, self->user_data);
      else if (ce->type == SC_EVENT_ACKED && self->callbacks.acked)
        self->callbacks.acked (self, ce->id, self->user_data);
      else if (ce->type == SC_EVENT_TICKET && self->callbacks.ticket)
        self->callbacks.ticket (self, self->user_data);
      channel_event_free (ce);
    }
  g_mutex_lock (&self->lock);
  if (dispatch && --self->dispatching == 0 && !self->finished)
    flush_locked (self); /* under the lock that ends dispatching: no send is missed */
  /* held events are reported before the end, in the next context */
  done = self->closing && !self->finished && !self->holding
         && (queued_locked (self) == 0 || self->error != NULL);
  g_mutex_unlock (&self->lock);
  if (done)
    channel_finish (self);
  sc_channel_unref (self);
}

void
sc_channel_start (ScChannel *self)
{
  /* The running channel holds a reference until channel_finish. */
  gboolean again, finished;

  g_mutex_lock (&self->lock);
  again = self->started;
  finished = self->finished;
  if (!again && !finished)
    {
      self->started = TRUE;
      sc_channel_ref (self);
      sc_poller_watch_wake (self->watch);
    }
  g_mutex_unlock (&self->lock);
  g_return_if_fail (!again);
}

void
sc_channel_hold_after_handshake (ScChannel *self)
{
  g_mutex_lock (&self->lock);
  g_warn_if_fail (!self->started);
  self->hold_after_handshake = TRUE;
  g_mutex_unlock (&self->lock);
}

gboolean
sc_channel_move (ScChannel *self, GMainContext *context, GError **error)
{
  g_autoptr (ScPoller) poller = sc_poller_get (context, error);
  g_autoptr (GError) local = NULL;
  ScPollerWatch *watch;

  if (poller == NULL)
    return FALSE;
  g_mutex_lock (&self->lock);
  /* (in another thread, the context's may be dispatching: see the header) */
  if (self->dispatching > 0 && g_main_context_is_owner (self->context))
    {
      g_mutex_unlock (&self->lock);
      g_critical ("sc_channel_move() called from a callback of the channel");
      g_set_error_literal (error, SC_ERROR, SC_ERROR_FAILED,
                           "a channel cannot move from its callbacks");
      return FALSE;
    }
  if (self->finished)
    {
      /* over: what is left of it (a lingering close) stays where it runs */
      g_mutex_unlock (&self->lock);
      return TRUE;
    }
  /* The old watch calls nothing any more once destroyed in its own
   * context's thread; in another thread, the caller waits for that
   * thread's dispatch under way (see the header). The new one is watched
   * by the new context's thread at once (epoll reports a descriptor that
   * is ready when it is added): a callback there waits for the lock until
   * the move is complete. */
  sc_poller_watch_destroy (self->watch);
  self->watch = watch = sc_poller_watch_new (poller, on_poll, self);
  if (self->running && !sc_poller_watch_set_fd (watch, self->fd, &local))
    set_end_locked (self, g_steal_pointer (&local), "cannot watch the socket");
  sc_poller_unref (self->poller);
  self->poller = g_steal_pointer (&poller);
  g_main_context_unref (self->context);
  self->context = g_main_context_ref (context);
  if (self->want_out)
    sc_poller_watch_want_out (watch, TRUE);
  if (!self->closing)
    rearm_timer_locked (self);
  /* One pass in the new context if anything waits for it: events that
   * were held, a wake-up that was queued on the old watch (flush_pending,
   * holding a reference: it is this one now), output, a close, records
   * GnuTLS may hold. Otherwise the socket's next bytes wake the new
   * context, and nothing is done twice: the usual case after a handshake,
   * which leaves nothing behind on a plain connection. */
  if (self->events.length > 0 || self->flush_pending || queued_locked (self) > 0 || self->closing
      || !self->plain_socket || (self->started && !self->running))
    {
      self->read_more = self->running;
      sc_poller_watch_wake (watch);
    }
  self->hold_after_handshake = FALSE;
  self->holding = FALSE;
  g_mutex_unlock (&self->lock);
  return TRUE;
}

/* ---- from any thread --------------------------------------------------- */

/* With the lock held: makes sure the context flushes soon. Sends made in
 * the same main-loop iteration share one flush, so their records leave in
 * one write. The queued wake-up holds a reference. */
static void
schedule_flush_locked (ScChannel *self)
{
  if (self->flush_pending || self->finished || self->dispatching > 0)
    return; /* dispatching: channel_process flushes after the callbacks */
  self->flush_pending = TRUE;
  sc_channel_ref (self);
  sc_poller_watch_wake (self->watch);
}

gboolean
sc_channel_send (ScChannel *self, const guint8 *data, gsize len, guint64 *out_id, GError **error)
{
  uint64_t id = 0;
  int ret;

  g_mutex_lock (&self->lock);
  if (self->closing || self->finished)
    ret = SC_ERR_CLOSED;
  else if (queued_locked (self) > SC_CHANNEL_MAX_QUEUED)
    {
      gsize queued = queued_locked (self);

      g_mutex_unlock (&self->lock);
      g_set_error (error, SC_ERROR, SC_ERROR_BUSY,
                   "the peer is not reading: %u bytes already queued for it", (unsigned) queued);
      return FALSE;
    }
  else
    ret = sc_session_send (self->session, data, len, &id, &self->outbuf);
  if (ret == SC_OK)
    {
      self->message_seen = TRUE; /* the context stamps the time */
      schedule_flush_locked (self);
    }
  else if (ret != SC_ERR_MESSAGE_TOO_LARGE && ret != SC_ERR_INVALID_STATE && ret != SC_ERR_CLOSED)
    {
      set_failed_locked (self, ret); /* the session died sending */
      schedule_flush_locked (self);
    }
  g_mutex_unlock (&self->lock);
  if (ret == SC_ERR_INVALID_STATE || ret == SC_ERR_CLOSED)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_NOT_CONNECTED,
                           ret == SC_ERR_CLOSED ? "the connection is closed"
                                                : "the handshake has not completed");
      return FALSE;
    }
  if (ret != SC_OK)
    {
      sc_error_set_from_protocol (error, ret, "cannot send");
      return FALSE;
    }
  if (out_id != NULL)
    *out_id = id;
  return TRUE;
}

void
sc_channel_set_idle_timeout (ScChannel *self, guint idle_timeout_ms)
{
  g_mutex_lock (&self->lock);
  self->idle_timeout_ms = idle_timeout_ms;
  g_mutex_unlock (&self->lock);
}

/* Drops whatever is still queued and finishes now: for a peer that does not
 * read while we shut down. */
void
sc_channel_abort (ScChannel *self, const char *reason)
{
  g_mutex_lock (&self->lock);
  if (!self->finished)
    {
      ChannelEvent *ce;

      set_end_locked (self, g_error_new_literal (SC_ERROR, SC_ERROR_CLOSED, reason), reason);
      drop_output_locked (self);
      if (self->holding)
        {
          /* what was held for another context goes unreported */
          while ((ce = channel_event_pop (&self->events)) != NULL)
            channel_event_free (ce);
          self->holding = FALSE;
        }
      schedule_flush_locked (self);
    }
  g_mutex_unlock (&self->lock);
}

gboolean
sc_channel_is_done (ScChannel *self)
{
  return g_atomic_int_get (&self->stream_closed);
}

void
sc_channel_linger_later (ScChannel *self, GMainContext *context)
{
  g_mutex_lock (&self->lock);
  if (self->linger_context != context)
    {
      g_clear_pointer (&self->linger_context, g_main_context_unref);
      self->linger_context = context != NULL ? g_main_context_ref (context) : NULL;
    }
  g_mutex_unlock (&self->lock);
}

void
sc_channel_close (ScChannel *self, ScCloseReason code, const char *reason)
{
  g_mutex_lock (&self->lock);
  if (!self->closing && !self->finished)
    {
      int ret = sc_session_close (self->session, code, &self->outbuf);

      if (ret != SC_OK && ret != SC_ERR_CLOSED)
        set_failed_locked (self, ret);
      else
        set_end_locked (self, NULL, reason);
      schedule_flush_locked (self);
    }
  g_mutex_unlock (&self->lock);
}

gboolean
sc_channel_key_update (ScChannel *self, gboolean update_peer, GError **error)
{
  int ret;

  g_mutex_lock (&self->lock);
  ret = self->closing ? SC_ERR_CLOSED
                      : sc_session_key_update (self->session, update_peer, &self->outbuf);
  if (ret == SC_OK)
    schedule_flush_locked (self);
  g_mutex_unlock (&self->lock);
  if (ret != SC_OK)
    {
      sc_error_set_from_protocol (error, ret, "cannot update the keys");
      return FALSE;
    }
  return TRUE;
}

void
sc_channel_get_info (ScChannel *self, ScChannelInfo *info)
{
  memset (info, 0, sizeof *info);
  g_mutex_lock (&self->lock);
  info->connected_since_us = (guint64) self->connected_since_us;
  info->last_activity_us = (guint64) self->last_activity_us;
  sc_session_get_info (self->session, &info->session);
  info->authenticated = self->authenticated;
  memcpy (info->fingerprint, self->fingerprint, sizeof info->fingerprint);
  info->transport_up = self->transport_up;
  g_mutex_unlock (&self->lock);
}

const char *
sc_channel_get_peer_address (ScChannel *self)
{
  return self->peer_address;
}

gboolean
sc_channel_is_connected (ScChannel *self)
{
  gboolean connected;

  g_mutex_lock (&self->lock);
  connected = !self->closing && !self->finished
              && sc_session_get_state (self->session) == SC_STATE_CONNECTED;
  g_mutex_unlock (&self->lock);
  return connected;
}

GIOStream *
sc_channel_get_stream (ScChannel *self)
{
  return self->stream;
}

static gboolean
quit_loop_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

void
sc_main_loop_quit_later (GMainLoop *loop)
{
  GSource *idle = g_idle_source_new ();

  g_source_set_callback (idle, quit_loop_cb, g_main_loop_ref (loop),
                         (GDestroyNotify) g_main_loop_unref);
  g_source_attach (idle, g_main_loop_get_context (loop));
  g_source_unref (idle);
}
