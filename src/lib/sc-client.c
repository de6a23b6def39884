/* sc-client.c: the seed's Client as a GObject.
 *
 * The session runs in an I/O thread, as the seed's client ran its listener
 * in a thread: the blocking establish_secure_session() can wait for the
 * handshake while the caller's context is not iterated. The clients of a
 * process share a few such threads (one GMainContext each), started with
 * the first client and ended a little after the last one is shut down, so
 * that a client costs no thread of its own. Signals are emitted in the
 * thread-default main context of the thread that created the client; a
 * message handler (sc_client_set_message_handler) runs in the I/O thread.
 *
 * The client keeps a stream going (docs/PROTOCOL.md 4.7): every message
 * stays in the outbox until the server acknowledges it; when the connection
 * is lost the client reconnects by itself with exponential backoff and
 * jitter, presents its resumption ticket, and sends again exactly what the
 * server lacks. It gives up after a configurable time, and never on its own
 * after a trust or protocol failure, which a retry would not cure.
 *
 * Locks: send_lock serialises the senders of the outbox with
 * sc_channel_send, so that message ids follow outbox order; lock (with
 * cond) guards the state and the outbox. Acknowledgements take lock only
 * (an ACK that overtakes a sender between sc_channel_send and marking the
 * entry sent is applied again then: mark_sent_locked). Order: send_lock,
 * then a channel's lock or lock; never a channel call with lock held;
 * io_workers_lock is taken alone.
 *
 * Nothing in an I/O thread waits for an I/O thread (any client's): a
 * shutdown or a last unref there goes to a thread of its own
 * (shutdown_in_background). Shutdown waits until the I/O thread is done
 * with the client: no attempt (TCP or TLS) under way, no channel left;
 * once shutting_down is set no attempt starts and no channel is made.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-client.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "sc-channel.h"
#include "sc-error.h"
#include "sc-event-queue.h"
#include "sc-identity-private.h"
#include "sc-outbox.h"
#include "sc-poller.h"
#include "sc-tls.h"

/* messages kept while nobody listens; past it the oldest are dropped and
 * the error signal says how many. */
#define SC_CLIENT_MAX_PENDING 1024
/* ms: first reconnect delay; each next one doubles, up to the cap. 250 ms
 * rides out a daemon restart without hammering a server that is down. */
#define SC_CLIENT_DEFAULT_BACKOFF_INITIAL_MS 250u
/* ms: longest delay between reconnect attempts. */
#define SC_CLIENT_DEFAULT_BACKOFF_MAX_MS 30000u
/* ms: give up reconnecting after this long without a session: 5 min. */
#define SC_CLIENT_DEFAULT_GIVE_UP_MS (5u * 60u * 1000u)

/* I/O threads: the clients of a process share at most this many (and no
 * more than the machine has cores), each running one GMainContext whose
 * single epoll source (sc-poller.h) serves all its clients' channels. A new
 * client goes to the thread with the fewest clients. */
#define SC_CLIENT_IO_MAX_WORKERS 4u
/* ms: how long an I/O thread without clients waits for a new one before it
 * ends. A program that makes one short-lived client after another (one
 * handshake each) keeps its thread instead of starting one per client. */
#define SC_CLIENT_IO_LINGER_MS 1000u
/* Threads that run asynchronous establishes at once (each blocks until its
 * session is up or has failed); more wait for one of them. */
#define SC_CLIENT_ESTABLISH_THREADS 64

G_DEFINE_ENUM_TYPE (ScClientState, sc_client_state,
                    G_DEFINE_ENUM_VALUE (SC_CLIENT_STATE_DISCONNECTED, "disconnected"),
                    G_DEFINE_ENUM_VALUE (SC_CLIENT_STATE_CONNECTING, "connecting"),
                    G_DEFINE_ENUM_VALUE (SC_CLIENT_STATE_HANDSHAKING, "handshaking"),
                    G_DEFINE_ENUM_VALUE (SC_CLIENT_STATE_CONNECTED, "connected"),
                    G_DEFINE_ENUM_VALUE (SC_CLIENT_STATE_RECONNECTING, "reconnecting"),
                    G_DEFINE_ENUM_VALUE (SC_CLIENT_STATE_CLOSED, "closed"))

/* ==== the shared I/O threads =========================================== */

/* A wake-up of a client's shutdown that its I/O thread gives on entering
 * poll() (client_unlock, io_worker_poll). */
typedef struct
{
  GCond *cond;
  gint pending; /* atomic: queued, not given yet */
} DeferredWake;

/* One I/O thread and its context. The thread owns the struct: it frees it
 * when its loop ends, which only the thread itself decides (after lingering
 * without clients), so no thread ever joins another or itself. */
typedef struct
{
  GMainContext *context;
  GMainLoop *loop;
  ScPoller *poller;     /* kept for the thread's life, not made per connection */
  guint clients;        /* attached clients; guarded by io_workers_lock */
  GSource *linger;      /* the linger timer while armed; io_workers_lock */
  gint64 idle_since_us; /* when the last client left; io_workers_lock */
  gint polling;         /* atomic: the thread waits in poll(), no callback runs */
  /* io_worker_sync: waiters, and the thread's entries into poll() while
   * anyone waits, under quiet_lock */
  gint quiet_waiters; /* atomic */
  guint64 quiet_entries;
  GMutex quiet_lock;
  GCond quiet_cond;
  GPtrArray *deferred_wakes; /* DeferredWake *, given on entering poll(); the thread's own */
} IoWorker;

static GMutex io_workers_lock;
static IoWorker *io_workers[SC_CLIENT_IO_MAX_WORKERS]; /* io_workers_lock */

/* Set in every I/O thread. */
static GPrivate in_io_worker;

/* Whether the calling thread is one of the I/O threads (any client's):
 * there, nothing may wait for an I/O thread. */
static gboolean
in_io_thread (void)
{
  return g_private_get (&in_io_worker) != NULL;
}

static gpointer
io_worker_main (gpointer data)
{
  IoWorker *w = data;

  g_private_set (&in_io_worker, w);
  g_main_context_push_thread_default (w->context);
  g_main_loop_run (w->loop);
  /* Out of io_workers (io_worker_linger_done): no client attaches any more.
   * What is still queued (a stream's close finishing, a last callback that
   * frees a channel) runs now instead of never. */
  while (g_main_context_iteration (w->context, FALSE))
    ;
  g_clear_pointer (&w->poller, sc_poller_unref);
  g_main_context_pop_thread_default (w->context);
  g_main_loop_unref (w->loop);
  g_main_context_unref (w->context); /* clients that are still around keep theirs */
  g_ptr_array_unref (w->deferred_wakes);
  g_mutex_clear (&w->quiet_lock);
  g_cond_clear (&w->quiet_cond);
  g_free (w);
  return NULL;
}

/* In the worker's thread, SC_CLIENT_IO_LINGER_MS after the timer was armed
 * and every as long again while it stays armed: ends the thread once it has
 * been without clients for the linger time. The timer is armed by the
 * first client to leave and stays armed while clients come and go (a
 * program making one short-lived client after another does not attach and
 * destroy a source, two wake-ups of the thread, per client); it goes when
 * it finds clients attached, and the next one to leave arms it again. */
static gboolean
io_worker_linger_done (gpointer data)
{
  IoWorker *w = data;
  gboolean again = FALSE;

  g_mutex_lock (&io_workers_lock);
  if (w->clients > 0)
    g_clear_pointer (&w->linger, g_source_unref);
  else if (g_get_monotonic_time () - w->idle_since_us
               < (gint64) SC_CLIENT_IO_LINGER_MS * G_TIME_SPAN_MILLISECOND
           || sc_channel_lingering (w->context) > 0)
    again = TRUE; /* (closes handed to its reaper end within SC_CHANNEL_CLOSE_LINGER_MS) */
  else
    {
      for (guint i = 0; i < G_N_ELEMENTS (io_workers); i++)
        if (io_workers[i] == w)
          io_workers[i] = NULL;
      g_clear_pointer (&w->linger, g_source_unref);
      g_main_loop_quit (w->loop);
    }
  g_mutex_unlock (&io_workers_lock);
  return again ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* The poll function of every I/O thread's context (called in that thread
 * only, between two dispatches: whatever callback ran has returned). It
 * wakes the shutdowns that a callback deferred (client_unlock), then notes
 * that the thread waits, so that io_worker_sync need not wake it to know
 * that none of its callbacks runs, and releases those that wait for it. */
static gint
io_worker_poll (GPollFD *fds, guint n_fds, gint timeout_ms)
{
  IoWorker *w = g_private_get (&in_io_worker);
  gint ready;

  if (w != NULL)
    {
      for (guint i = 0; i < w->deferred_wakes->len; i++)
        {
          DeferredWake *dw = g_ptr_array_index (w->deferred_wakes, i);

          g_cond_broadcast (dw->cond);
          g_atomic_int_set (&dw->pending, FALSE); /* the last touch: the client may go now */
        }
      g_ptr_array_set_size (w->deferred_wakes, 0);
      /* a session that moves here while the thread sleeps sets its
       * deadline without waking it, unless it comes before the timeout */
      if (w->poller != NULL)
        sc_poller_note_poll_timeout (w->poller, timeout_ms);
      /* polling before quiet_waiters, io_worker_sync the other way round
       * (both sequentially consistent): one of the two sees the other */
      g_atomic_int_set (&w->polling, TRUE);
      if (g_atomic_int_get (&w->quiet_waiters) > 0)
        {
          g_mutex_lock (&w->quiet_lock);
          w->quiet_entries++;
          g_cond_broadcast (&w->quiet_cond);
          g_mutex_unlock (&w->quiet_lock);
        }
    }
  ready = g_poll (fds, n_fds, timeout_ms);
  if (w != NULL)
    g_atomic_int_set (&w->polling, FALSE);
  return ready;
}

static IoWorker *
io_worker_new (void)
{
  IoWorker *w = g_new0 (IoWorker, 1);

  w->context = g_main_context_new ();
  g_mutex_init (&w->quiet_lock);
  g_cond_init (&w->quiet_cond);
  w->deferred_wakes = g_ptr_array_new ();
  g_main_context_set_poll_func (w->context, io_worker_poll);
  w->loop = g_main_loop_new (w->context, FALSE);
  w->poller = sc_poller_get (w->context, NULL); /* else each channel makes its own */
  g_thread_unref (g_thread_new ("sc-client-io", io_worker_main, w)); /* detached */
  return w;
}

/* A client's I/O thread: the one with the fewest clients, or a new one
 * while there are fewer than the limit and every running one is busy. */
static IoWorker *
io_worker_acquire (void)
{
  static gsize cores; /* g_get_num_processors reads /sys each time */
  guint limit;
  IoWorker *best = NULL;
  guint free_slot;

  if (g_once_init_enter (&cores))
    g_once_init_leave (&cores, g_get_num_processors ());
  limit = MIN (SC_CLIENT_IO_MAX_WORKERS, (guint) cores);
  free_slot = limit;
  g_mutex_lock (&io_workers_lock);
  for (guint i = 0; i < limit; i++)
    if (io_workers[i] == NULL)
      free_slot = MIN (free_slot, i);
    else if (best == NULL || io_workers[i]->clients < best->clients)
      best = io_workers[i];
  if (best == NULL || (best->clients > 0 && free_slot < limit))
    best = io_workers[free_slot] = io_worker_new ();
  best->clients++; /* an armed linger timer finds it and goes */
  g_mutex_unlock (&io_workers_lock);
  return best;
}

/* The client no longer uses w; the last one arms the linger timer unless
 * it is armed already. */
static void
io_worker_release (IoWorker *w)
{
  g_mutex_lock (&io_workers_lock);
  if (--w->clients == 0)
    w->idle_since_us = g_get_monotonic_time ();
  if (w->clients == 0 && w->linger == NULL)
    {
      w->linger = g_timeout_source_new (SC_CLIENT_IO_LINGER_MS);
      g_source_set_callback (w->linger, io_worker_linger_done, w, NULL);
      g_source_attach (w->linger, w->context);
    }
  g_mutex_unlock (&io_workers_lock);
}

/* Waits until whatever the I/O thread is dispatching now has returned: a
 * callback that was already running when a client shut down may still
 * touch it. At once when the thread waits in poll(); else when it next
 * enters poll(), which it does without being woken. Not from the I/O
 * thread itself. */
static void
io_worker_sync (IoWorker *w)
{
  guint64 entries;

  if (g_atomic_int_get (&w->polling))
    return;
  g_mutex_lock (&w->quiet_lock);
  entries = w->quiet_entries;
  g_atomic_int_inc (&w->quiet_waiters);
  while (!g_atomic_int_get (&w->polling) && w->quiet_entries == entries)
    g_cond_wait (&w->quiet_cond, &w->quiet_lock);
  g_atomic_int_add (&w->quiet_waiters, -1);
  g_mutex_unlock (&w->quiet_lock);
}

/* ==== the establishing threads ========================================== */

/* sc_client_establish_secure_session runs the connection and the handshake
 * in the calling thread, in a context of its own, and hands the session to
 * the I/O thread once it is up (sc_channel_move): the caller sleeps once,
 * waiting for the server's answer, where a hand-off to the I/O thread and
 * back costs two wake-ups of each thread more (docs/DESIGN-datapath.md).
 * The context and its poller are kept for the thread's next establish. */
typedef struct
{
  GMainContext *context;
  ScPoller *poller;
} EstablishLoop;

static void
establish_loop_free (gpointer data)
{
  EstablishLoop *loop = data;

  g_clear_pointer (&loop->poller, sc_poller_unref);
  g_main_context_unref (loop->context);
  g_free (loop);
}

static GPrivate establish_loop = G_PRIVATE_INIT (establish_loop_free);

/* The calling thread's establish context, made on first use; NULL when no
 * epoll descriptor can be had. */
static EstablishLoop *
establish_loop_get (GError **error)
{
  EstablishLoop *loop = g_private_get (&establish_loop);

  if (loop == NULL)
    {
      g_autoptr (GMainContext) context = g_main_context_new ();
      ScPoller *poller = sc_poller_get (context, error);

      if (poller == NULL)
        return NULL;
      loop = g_new0 (EstablishLoop, 1);
      loop->context = g_steal_pointer (&context);
      loop->poller = poller;
      g_private_set (&establish_loop, loop);
    }
  return loop;
}

/* ==== the client ======================================================== */

/* A message handler with its data, shared by the client and the call under
 * way in the I/O thread, so that replacing it waits for nothing and its
 * destroy notify runs once, after the last call has returned. */
typedef struct
{
  gatomicrefcount ref;
  ScClientMessageHandler func;
  gpointer data;
  GDestroyNotify destroy;
} MessageHandler;

static MessageHandler *
message_handler_ref (MessageHandler *handler)
{
  g_atomic_ref_count_inc (&handler->ref);
  return handler;
}

static void
message_handler_unref (MessageHandler *handler)
{
  if (handler == NULL || !g_atomic_ref_count_dec (&handler->ref))
    return;
  if (handler->destroy != NULL)
    handler->destroy (handler->data);
  g_free (handler);
}

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
  IoWorker *io_worker;        /* the shared I/O thread; NULL after shutdown */
  GMainContext *io_context;   /* its context (a reference of our own) */

  ScTlsContext *tls;  /* TLS mode */
  gboolean trust_tls; /* no pin: the server is who TLS authenticated */
  char *host;         /* where to (re)connect */
  guint16 port;
  gboolean reconnect; /* reconnect by itself after a loss */
  guint backoff_initial_ms, backoff_max_ms, give_up_ms;

  GMutex send_lock;       /* serialises the outbox with sc_channel_send */
  GMutex lock;            /* guards the fields below */
  GCond cond;             /* waited on with wait_locked; woken with wake_waiters_locked */
  guint waiters;          /* threads waiting on cond */
  gboolean wake;          /* cond to be broadcast when lock is released */
  DeferredWake deferred;  /* the wake-up of a shutdown queued in the I/O thread */
  gboolean deferred_idle; /*   queued once the I/O thread's work for us was over */
  ScChannel *channel;
  ScClientState state;
  GError *error; /* why the session ended or failed */
  char server_fingerprint[2 * SC_SHA256_LEN + 1];
  char refused_key[2 * SC_SHA256_LEN + 1]; /* written by the trust check only */
  guint64 last_acked;
  MessageHandler *handler; /* NULL: messages go to the signal */
  gboolean listening;
  GQueue pending; /* GBytes received while not listening */
  gboolean ever_connected;
  gboolean shutting_down;
  gboolean attempt_running;     /* from start_attempt until a channel or a failure */
  guint attempt;                /* reconnect attempts since the loss */
  gint64 lost_at_us;            /* monotonic time of the loss */
  GSource *retry_source;        /* the next attempt, in the I/O context */
  GCancellable *connect_cancel; /* the reconnections'; shutdown cancels it */
  /* establish's attempt's: the caller's cancellable and shutdown cancel it
   * (NULL outside establish, so a reconnection never inherits a cancel) */
  GCancellable *establish_cancel;
  gboolean establish_cancelled; /* the caller's cancellable fired during establish */
  ScChannel *establishing;      /* the channel establish drives in its own thread */
  gboolean channel_in_io;       /* channel runs in the I/O thread (not establish's yet) */
  guint resumptions, full_handshakes;

  /* The stream (PROTOCOL.md 4.7); outbox changes hold lock, and sending ones
   * send_lock too (acknowledgements do not: see mark_sent_locked). */
  ScOutbox *outbox;
  guint64 recv_id;          /* highest message id delivered from the server */
  ScResumption *resumption; /* secure memory: the latest ticket */

  ScEventQueue *events; /* signals on their way to the user's context */
  gboolean have_ticket;
  gint64 ticket_expires_us; /* monotonic */
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

/* ==== the client's lock and condition ================================== */

static gboolean io_busy_locked (ScClient *self);

/* With the lock held: whoever waits on the condition looks again once the
 * lock is released. Costs nothing when nobody waits (an acknowledgement,
 * a state change nobody waits for), and the broadcast comes after the
 * unlock, so that a woken thread does not block on the lock at once. */
static void
wake_waiters_locked (ScClient *self)
{
  if (self->waiters > 0)
    self->wake = TRUE;
}

/* Releases the lock, then wakes the waiters if something changed for them.
 * The condition outlives the broadcast: a thread other than the I/O thread
 * holds a reference, and shutdown waits for the I/O thread's dispatch to
 * return (io_worker_sync). */
static void
client_unlock (ScClient *self)
{
  gboolean wake = self->wake;
  IoWorker *w = g_private_get (&in_io_worker);

  self->wake = FALSE;
  if (wake && self->shutting_down && w != NULL && w == g_atomic_pointer_get (&self->io_worker))
    {
      /* Shutdown waits: the client's I/O thread wakes it when it next
       * enters poll(), once the callback that runs now has returned. When
       * that callback ended the client's work there (io_busy_locked), the
       * woken shutdown need not wait for it (io_worker_sync) with a second
       * sleep. The client lives until the wake-up is given: shutdown waits
       * for it, or in io_worker_sync for that same entry. */
      self->deferred_idle = !io_busy_locked (self);
      if (!g_atomic_int_get (&self->deferred.pending))
        {
          g_atomic_int_set (&self->deferred.pending, TRUE);
          g_ptr_array_add (w->deferred_wakes, &self->deferred);
        }
      g_mutex_unlock (&self->lock);
      return;
    }
  g_mutex_unlock (&self->lock);
  if (wake)
    g_cond_broadcast (&self->cond);
}

/* With the lock held: waits for a wake-up (or until the monotonic
 * deadline_us, unless it is negative); FALSE when the deadline passed. A
 * wake-up this thread owes others is given first. */
static gboolean
wait_locked (ScClient *self, gint64 deadline_us)
{
  gboolean woken = TRUE;

  if (self->wake)
    {
      self->wake = FALSE;
      g_cond_broadcast (&self->cond);
    }
  self->waiters++;
  if (deadline_us < 0)
    g_cond_wait (&self->cond, &self->lock);
  else
    woken = g_cond_wait_until (&self->cond, &self->lock, deadline_us);
  self->waiters--;
  return woken;
}

/* ==== signals in the user's context ===================================== */

/* A signal on its way to the user's context (stored inline in the
 * ScEventQueue; what it points to belongs to the queue once posted). */
typedef struct
{
  guint signal;
  GBytes *message;
  GError *error;
  ScClientState old_state, new_state;
} ClientEvent;

static void
client_event_clear (gpointer data)
{
  ClientEvent *ev = data;

  g_clear_pointer (&ev->message, g_bytes_unref);
  g_clear_error (&ev->error);
}

/* In the user's context: one queued signal. */
static void
emit_in_user_context (gpointer owner, gpointer data)
{
  ScClient *self = owner;
  ClientEvent *ev = data;

  if (ev->signal == SIGNAL_MESSAGE_RECEIVED)
    g_signal_emit (self, signals[ev->signal], 0, ev->message);
  else if (ev->signal == SIGNAL_ERROR)
    g_signal_emit (self, signals[ev->signal], 0, ev->error);
  else
    g_signal_emit (self, signals[ev->signal], 0, ev->old_state, ev->new_state);
}

/* Queues a signal for the user's context; one wake-up takes all queued. */
static void
post (ScClient *self, const ClientEvent *ev)
{
  sc_event_queue_post (self->events, ev);
}

/* With the lock held: moves to a new state and reports it. */
static void
set_state_locked (ScClient *self, ScClientState state)
{
  ClientEvent ev = { .signal = SIGNAL_STATE_CHANGED, .old_state = self->state, .new_state = state };

  if (self->state == state)
    return;
  self->state = state;
  /* Nobody waits for a handshake to begin: not establish, which waits for
   * its end, nor shutdown, for which the client is busy either way. */
  if (state != SC_CLIENT_STATE_HANDSHAKING)
    wake_waiters_locked (self);
  post (self, &ev);
}

static void
post_message (ScClient *self, GBytes *message)
{
  ClientEvent ev = { .signal = SIGNAL_MESSAGE_RECEIVED, .message = g_bytes_ref (message) };

  post (self, &ev);
}

static void
post_error (ScClient *self, const GError *error)
{
  ClientEvent ev = { .signal = SIGNAL_ERROR, .error = g_error_copy (error) };

  post (self, &ev);
}

static void known_hosts_record (ScClient *self, const char *fingerprint);

/* ==== the stream: outbox and resumption ================================= */

/* With lock held: the oldest unsent entry went out as message id. The I/O
 * thread takes acknowledgements without send_lock, so one that covers id
 * may have come in between sc_channel_send and this call: it is applied
 * again now, or the entry would wait for the next one. */
static void
mark_sent_locked (ScClient *self, guint64 id)
{
  sc_outbox_mark_sent (self->outbox, id);
  if (id <= self->last_acked)
    {
      sc_outbox_ack (self->outbox, self->last_acked);
      wake_waiters_locked (self);
    }
}

/* With send_lock held: sends the outbox's unsent entries in order on the
 * channel. After a resumption they get the ids they had (the session
 * continues from the server's recv_id); after a full handshake new ones.
 * When the server does not read (the channel's queue is full) the rest
 * waits: the next acknowledgement or send pumps again. */
static void
pump_outbox (ScClient *self, ScChannel *channel)
{
  for (;;)
    {
      g_autoptr (GError) error = NULL;
      guint64 id = 0;
      gsize len;
      const guint8 *data;
      gboolean have;

      /* What peek gives stays put without the lock: only a push (under
       * send_lock, which we hold) moves the outbox's bytes. */
      g_mutex_lock (&self->lock);
      have = sc_outbox_peek_unsent (self->outbox, &data, &len);
      client_unlock (self);
      if (!have)
        return;
      if (!sc_channel_send (channel, data, len, &id, &error))
        {
          if (!g_error_matches (error, SC_ERROR, SC_ERROR_MESSAGE_TOO_LARGE))
            return; /* busy, or the channel is going away: sent later */
          g_mutex_lock (&self->lock);
          sc_outbox_drop_unsent (self->outbox);
          client_unlock (self);
          g_warning ("dropped a queued message the server does not accept: %s", error->message);
          continue;
        }
      g_mutex_lock (&self->lock);
      mark_sent_locked (self, id);
      client_unlock (self);
    }
}

/* A new session is up: a resumed one drops what the server already has and
 * sends the rest again under the same ids; a full one starts a new stream,
 * and the outbox goes out again as new messages (at least once). */
static void
restart_stream (ScClient *self, ScChannel *channel)
{
  ScChannelHandshake hs;

  sc_channel_get_handshake (channel, &hs);
  g_mutex_lock (&self->send_lock);
  g_mutex_lock (&self->lock);
  if (hs.resumed)
    {
      sc_outbox_ack (self->outbox, hs.peer_recv_id);
      self->last_acked = hs.peer_recv_id;
      self->resumptions++;
    }
  else
    {
      self->recv_id = 0;
      self->last_acked = 0;
      self->full_handshakes++;
    }
  self->have_ticket = FALSE; /* spent, or of the old stream */
  sc_outbox_unsend_all (self->outbox);
  if (hs.resumed) /* the outbox shrank: sc_client_flush looks again */
    wake_waiters_locked (self);
  client_unlock (self);
  g_debug ("%s handshake with %s; %u message(s) to send again", hs.resumed ? "resumed" : "full",
           self->host_port, sc_outbox_length (self->outbox));
  pump_outbox (self, channel);
  g_mutex_unlock (&self->send_lock);
}

/* ==== channel callbacks (I/O thread) =================================== */

static void
on_handshake_done (ScChannel *channel, gpointer data)
{
  ScClient *self = data;
  ScChannelInfo info;

  sc_channel_get_info (channel, &info);
  if (self->record_host)
    {
      known_hosts_record (self, info.fingerprint);
      self->record_host = FALSE;
      g_free (self->known_fp);
      self->known_fp = g_strdup (info.fingerprint);
    }
  restart_stream (self, channel);
  g_mutex_lock (&self->lock);
  memcpy (self->server_fingerprint, info.fingerprint, sizeof self->server_fingerprint);
  self->ever_connected = TRUE;
  self->attempt = 0;
  set_state_locked (self, SC_CLIENT_STATE_CONNECTED);
  client_unlock (self);
}

/* Delivers a message once: after a resumption the server may send again
 * what we already have (it cannot know what arrived after its last check),
 * and those are dropped by id. */
static void
on_message (ScChannel *channel, guint64 id, GBytes *message, gpointer data)
{
  ScClient *self = data;
  MessageHandler *handler = NULL;
  gboolean listening;

  g_mutex_lock (&self->lock);
  if (id <= self->recv_id)
    {
      client_unlock (self);
      g_debug ("dropped message %" G_GUINT64_FORMAT ": already delivered", id);
      return;
    }
  self->recv_id = id;
  if (self->handler != NULL)
    handler = message_handler_ref (self->handler);
  listening = self->listening;
  if (handler == NULL && !listening)
    {
      g_queue_push_tail (&self->pending, g_bytes_ref (message));
      if (g_queue_get_length (&self->pending) > SC_CLIENT_MAX_PENDING)
        g_bytes_unref (g_queue_pop_head (&self->pending));
    }
  client_unlock (self);
  if (handler != NULL)
    {
      handler->func (self, message, handler->data); /* here, in order, no lock held */
      message_handler_unref (handler);
    }
  else if (listening)
    post_message (self, message);
}

static void
on_acked (ScChannel *channel, guint64 id, gpointer data)
{
  ScClient *self = data;
  gboolean waiting;

  /* Without send_lock: a sender holds it while it encrypts, and the I/O
   * thread need not wait for that (mark_sent_locked covers the overlap). */
  g_mutex_lock (&self->lock);
  sc_outbox_ack (self->outbox, id);
  self->last_acked = id;
  waiting = sc_outbox_unsent_length (self->outbox) > 0;
  wake_waiters_locked (self);
  client_unlock (self);
  if (!waiting)
    return;
  g_mutex_lock (&self->send_lock);
  pump_outbox (self, channel); /* the server reads again: what waited goes */
  g_mutex_unlock (&self->send_lock);
}

static void
on_ticket (ScChannel *channel, gpointer data)
{
  ScClient *self = data;
  guint32 lifetime = 0;

  g_mutex_lock (&self->lock);
  self->have_ticket = sc_channel_take_ticket (channel, self->resumption, &lifetime);
  self->ticket_expires_us = g_get_monotonic_time () + (gint64) lifetime * G_TIME_SPAN_SECOND;
  client_unlock (self);
}

/* The trust failure in words, naming both keys, or NULL. */
static GError *
trust_error_locked (ScClient *self)
{
  if (self->refused_key[0] == '\0')
    return NULL;
  if (self->pinned == NULL && self->known_fp != NULL)
    return g_error_new (SC_ERROR, SC_ERROR_UNTRUSTED,
                        "the server at %s presented the key %s, but %s records %s for it; if "
                        "its key changed on purpose, delete that line",
                        self->host_port, self->refused_key, self->known_hosts, self->known_fp);
  return g_error_new (SC_ERROR, SC_ERROR_UNTRUSTED,
                      "the server's key %s does not match the pinned fingerprint %s",
                      self->refused_key, self->pinned ? self->pinned : "(none)");
}

/* Whether a lost session is worth another attempt: transport trouble and a
 * server going away are; a refused identity, a broken protocol, or a server
 * that closed us on purpose are not. */
static gboolean
worth_retrying (ScChannel *channel, const GError *error)
{
  if (error == NULL)
    return sc_channel_get_peer_close_reason (channel) == SC_CLOSE_GOING_AWAY;
  if (error->domain == G_IO_ERROR || error->domain == G_RESOLVER_ERROR)
    return TRUE;
  return error->domain == SC_ERROR
         && (error->code == SC_ERROR_CLOSED || error->code == SC_ERROR_TIMEOUT
             || error->code == SC_ERROR_NOT_CONNECTED);
}

static void schedule_retry_locked (ScClient *self, const GError *error);
static GError *connect_error_locked (ScClient *self, const ScChannelInfo *info,
                                     const GError *error);

static void
on_closed (ScChannel *channel, const GError *error, const char *reason, gpointer data)
{
  ScClient *self = data;
  g_autoptr (GError) trust = NULL;
  g_autoptr (GError) why = NULL;
  ScChannelInfo info;

  sc_channel_get_info (channel, &info); /* (not with our lock held) */
  g_mutex_lock (&self->lock);
  if (self->channel == channel)
    g_clear_pointer (&self->channel, sc_channel_unref);
  trust = trust_error_locked (self);
  if (trust != NULL)
    why = g_error_copy (trust);
  else if ((why = connect_error_locked (self, &info, error)) == NULL)
    why = error != NULL ? g_error_copy (error)
                        : g_error_new (SC_ERROR, SC_ERROR_CLOSED, "connection %s", reason);
  if (!self->shutting_down && self->reconnect && self->ever_connected && trust == NULL
      && worth_retrying (channel, error))
    {
      schedule_retry_locked (self, why);
      client_unlock (self);
      return;
    }
  if (self->error == NULL)
    self->error = g_error_copy (why);
  set_state_locked (self, SC_CLIENT_STATE_CLOSED);
  client_unlock (self);
  if (error != NULL || trust != NULL)
    post_error (self, why);
}

static const ScChannelCallbacks channel_callbacks = {
  .handshake_done = on_handshake_done,
  .message = on_message,
  .acked = on_acked,
  .closed = on_closed,
  .ticket = on_ticket,
};

/* Trust: the pinned fingerprint, the known-hosts entry, or anything when
 * told so. Runs in the I/O thread with the channel's lock held, so it takes
 * no other lock: it only notes the refused key, which on_closed (same
 * thread, later) reports. */
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
  else if (self->record_host || self->accept_any || self->trust_tls)
    return 0; /* first use of a known-hosts file: on_handshake_done records it;
               * TLS: the session is bound to the TLS connection whose server
               * certificate was verified (PROTOCOL.md 5.4) */
  memcpy (self->refused_key, hex, sizeof hex);
  return -1;
}

/* ==== connecting (I/O thread) =========================================== */

/* The ticket to offer, if it is still good and belongs to our identity. */
static const ScResumption *
usable_ticket_locked (ScClient *self)
{
  if (!self->have_ticket || g_get_monotonic_time () >= self->ticket_expires_us)
    return NULL;
  memset (self->resumption->client_fingerprint, 0, SC_SHA256_LEN);
  if (self->session_config.identity != NULL)
    {
      uint8_t spki[SC_P256_SPKI_LEN];

      sc_p256_spki_encode (self->session_config.identity->pub, spki);
      sc_sha256 (spki, sizeof spki, self->resumption->client_fingerprint);
    }
  self->resumption->recv_id = self->recv_id;
  self->resumption->sent_id = sc_outbox_last_sent_id (self->outbox);
  if (self->resumption->sent_id < self->last_acked)
    self->resumption->sent_id = self->last_acked; /* everything acked is gone from the outbox */
  return self->resumption;
}

static void attempt_failed (ScClient *self, GError *error);

static GError *
shutting_down_error (void)
{
  return g_error_new_literal (SC_ERROR, SC_ERROR_CLOSED, "the client is shutting down");
}

static gboolean
drop_ref (gpointer data)
{
  g_object_unref (data);
  return G_SOURCE_REMOVE;
}

/* The attempt lets go of its reference. The I/O thread does it in the
 * user's context: were it the last one, dispose would wait in the I/O
 * thread for itself. Establish's thread does it at once: its caller holds
 * one. */
static void
release_from_io (ScClient *self)
{
  if (in_io_thread ())
    g_main_context_invoke (self->user_context, drop_ref, self);
  else
    g_object_unref (self);
}

/* The SecureComm session over the connection (plain, or TLS with its
 * channel binding in the transcript). Takes a reference on self's behalf
 * of nothing: the caller keeps its own. */
static void
start_session (ScClient *self, GIOStream *stream)
{
  g_autoptr (GMainContext) context = NULL;
  GError *error = NULL;
  ScSessionConfig config;
  ScChannel *channel;
  guint8 binding[SC_MAX_CHANNEL_BINDING];
  gsize binding_len = sizeof binding;

  g_mutex_lock (&self->lock);
  config = self->session_config;
  config.resumption = usable_ticket_locked (self);
  client_unlock (self);
  if (G_IS_TLS_CONNECTION (stream))
    {
      if (!sc_tls_get_binding (G_TLS_CONNECTION (stream), &config.binding_type, binding,
                               &binding_len, &error))
        {
          attempt_failed (self, error);
          return;
        }
      config.binding = binding;
      config.binding_len = binding_len;
    }
  g_mutex_lock (&self->lock);
  if (self->shutting_down)
    {
      /* the connection came up while shutting down: no channel for a client
       * that may be gone once shutdown returns; the caller drops stream */
      client_unlock (self);
      attempt_failed (self, shutting_down_error ());
      return;
    }
  if (self->establish_cancelled)
    {
      /* cancelled once the connection was up (no channel to abort yet) */
      client_unlock (self);
      attempt_failed (self, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                 "the connection was cancelled"));
      return;
    }
  self->refused_key[0] = '\0';
  /* in the context of the thread that runs the attempt: the I/O thread's,
   * or establish's own (which then moves it to the I/O thread) */
  context = g_main_context_ref_thread_default ();
  channel = sc_channel_new (stream, context, &config, verify_server, &channel_callbacks, self,
                            &error);
  if (channel == NULL)
    {
      client_unlock (self);
      attempt_failed (self, error);
      return;
    }
  if (!in_io_thread ())
    {
      sc_channel_hold_after_handshake (channel); /* those callbacks run in the I/O thread */
      self->establishing = sc_channel_ref (channel);
    }
  self->channel = sc_channel_ref (channel);
  self->channel_in_io = in_io_thread ();
  self->attempt_running = FALSE; /* the channel is what shutdown waits for now */
  set_state_locked (self, SC_CLIENT_STATE_HANDSHAKING);
  client_unlock (self);
  sc_channel_start (channel);
  sc_channel_unref (channel);
}

/* With the lock held: the running attempt's cancellable (a new reference). */
static GCancellable *
attempt_cancel_locked (ScClient *self)
{
  return g_object_ref (self->establish_cancel != NULL ? self->establish_cancel
                                                      : self->connect_cancel);
}

static void
on_tls_done (GObject *source, GAsyncResult *result, gpointer data)
{
  ScClient *self = data;
  GError *error = NULL;

  if (sc_tls_handshake_finish (G_TLS_CONNECTION (source), result, &error))
    start_session (self, G_IO_STREAM (source));
  else
    attempt_failed (self, error); /* sc-tls's message names the peer */
  release_from_io (self);
}

/* The TCP connection is up (conn) or failed (error): TLS or the session
 * next. Takes conn, error and the reference the attempt holds. */
static void
connection_made (ScClient *self, GSocketConnection *conn_, GError *error)
{
  g_autoptr (GSocketConnection) conn = conn_;
  g_autoptr (GSocketConnectable) where = NULL;
  g_autoptr (GIOStream) tls = NULL;
  g_autoptr (GCancellable) cancel = NULL;

  if (conn == NULL)
    {
      attempt_failed (self, error);
      release_from_io (self);
      return;
    }
  if (self->tls == NULL)
    {
      start_session (self, G_IO_STREAM (conn)); /* the channel sets TCP_NODELAY */
      release_from_io (self);
      return;
    }
  /* from the first byte of the TLS handshake too (sc-channel.c) */
  sc_socket_set_nodelay (g_socket_connection_get_socket (conn));
  where = g_network_address_new (self->host, self->port);
  tls = sc_tls_client_wrap (self->tls, G_IO_STREAM (conn), where, &error);
  if (tls == NULL)
    {
      attempt_failed (self, error);
      release_from_io (self);
      return;
    }
  g_mutex_lock (&self->lock);
  set_state_locked (self, SC_CLIENT_STATE_HANDSHAKING);
  cancel = attempt_cancel_locked (self);
  client_unlock (self);
  sc_tls_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT, cancel, on_tls_done,
                          self); /* keeps the reference */
}

static void
on_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  GError *error = NULL;
  GSocketConnection *conn;

  conn = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), result, &error);
  connection_made (data, conn, error);
}

/* A plain connection to an address literal, from establish's own thread,
 * when the proxy resolver goes direct there (as GSocketClient would ask
 * it): a non-blocking connect, and the session starts on the socket at
 * once. Its ClientHello waits for the connection (the socket becomes
 * writable); a failed connection is its first write's or read's error,
 * and one that never completes ends with the handshake timeout, which is
 * also GSocketClient's connect timeout here (on_closed names either a
 * failed connection). No wait for the connection alone, no GSocketClient,
 * no resolver or cancellable descriptor: that was a third of the client's
 * own work per short-lived session, besides the cryptography
 * (docs/PERFORMANCE.md). FALSE, with nothing done, when this does not
 * apply: GSocketClient connects. TRUE with *conn or *error otherwise. */
static gboolean
connect_direct (ScClient *self, GCancellable *cancel, GSocketConnection **conn, GError **error)
{
  g_autoptr (GInetAddress) inet = NULL;
  g_autoptr (GSocketAddress) addr = NULL;
  g_autoptr (GSocket) socket = NULL;
  g_autofree char *uri = NULL;
  g_auto (GStrv) proxies = NULL;
  g_autoptr (GError) local = NULL;

  if (self->tls != NULL || in_io_thread ()
      || (inet = g_inet_address_new_from_string (self->host)) == NULL)
    return FALSE;
  uri = g_uri_join (G_URI_FLAGS_NONE, "none", NULL, self->host, self->port, "", NULL, NULL);
  /* (cancelled: GSocketClient then fails at once, saying so) */
  proxies = g_proxy_resolver_lookup (g_proxy_resolver_get_default (), uri, cancel, NULL);
  if (proxies == NULL || g_strv_length (proxies) != 1 || strcmp (proxies[0], "direct://") != 0)
    return FALSE;
  addr = g_inet_socket_address_new (inet, self->port);
  socket = g_socket_new (g_inet_address_get_family (inet), G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, &local);
  if (socket != NULL)
    {
      g_socket_set_blocking (socket, FALSE);
      if (g_socket_connect (socket, addr, NULL, &local)
          || g_error_matches (local, G_IO_ERROR, G_IO_ERROR_PENDING))
        {
          *conn = g_socket_connection_factory_create_connection (socket);
          return TRUE;
        }
    }
  g_set_error (error, G_IO_ERROR, local->code, "could not connect to %s: %s", self->host_port,
               local->message);
  return TRUE;
}

/* A connection that failed before it was made, so before the session came
 * up (in on_closed, the lock held; info is the channel's): the error says
 * so, with the code of the connection's failure; NULL when the connection
 * was made (a byte went either way) and failed later. Only a connect_direct
 * connection gets here unmade: GSocketClient's are made before the channel
 * starts. */
static GError *
connect_error_locked (ScClient *self, const ScChannelInfo *info, const GError *error)
{
  if (self->ever_connected || error == NULL || info->transport_up)
    return NULL;
  if (error->domain == G_IO_ERROR
      && (error->code == G_IO_ERROR_CONNECTION_REFUSED || error->code == G_IO_ERROR_HOST_UNREACHABLE
          || error->code == G_IO_ERROR_NETWORK_UNREACHABLE || error->code == G_IO_ERROR_TIMED_OUT))
    return g_error_new (G_IO_ERROR, error->code, "could not connect to %s: %s", self->host_port,
                        error->message);
  /* not one byte went out (the ClientHello waits for the connection): the
   * connection never completed, as opposed to a server that is silent */
  if (g_error_matches (error, SC_ERROR, SC_ERROR_TIMEOUT))
    return g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "could not connect to %s: timed out",
                        self->host_port);
  return NULL;
}

/* Starts one connection attempt: in the I/O thread (a reconnection), or
 * in establish's own thread. */
static gboolean
start_attempt (gpointer data)
{
  ScClient *self = data;
  g_autoptr (GSocketClient) sock = NULL;
  GSocketConnection *conn = NULL;
  GError *error = NULL;
  GCancellable *cancel;

  g_mutex_lock (&self->lock);
  g_clear_pointer (&self->retry_source, g_source_unref);
  if (self->shutting_down)
    {
      /* shutdown waits for CONNECTING to end: end it (establish too) */
      client_unlock (self);
      attempt_failed (self, shutting_down_error ());
      return G_SOURCE_REMOVE;
    }
  self->attempt_running = TRUE;
  set_state_locked (self, SC_CLIENT_STATE_CONNECTING);
  cancel = attempt_cancel_locked (self);
  client_unlock (self);
  if (connect_direct (self, cancel, &conn, &error))
    {
      connection_made (g_object_ref (self), conn, error);
      g_object_unref (cancel);
      return G_SOURCE_REMOVE;
    }
  sock = g_socket_client_new ();
  g_socket_client_set_timeout (sock, SC_DEFAULT_HANDSHAKE_TIMEOUT_MS / 1000);
  if (in_io_thread () || !g_hostname_is_ip_address (self->host))
    g_socket_client_connect_to_host_async (sock, self->host, self->port, cancel, on_connected,
                                           g_object_ref (self));
  else
    {
      /* establish's own thread, which may block, and one address (TLS, or
       * a proxy): the synchronous connect takes fewer main-loop passes
       * (cancel still ends it). Not for a name: the asynchronous connect
       * tries the next of its addresses after 250 ms (Happy Eyeballs), the
       * synchronous one only after the whole timeout. */
      conn = g_socket_client_connect_to_host (sock, self->host, self->port, cancel, &error);
      connection_made (g_object_ref (self), conn, error);
    }
  g_object_unref (cancel);
  return G_SOURCE_REMOVE;
}

/* The next delay: exponential from the initial one, capped, with "equal
 * jitter" (half fixed, half random) so that many clients cut off together
 * do not come back together. */
static guint
backoff_ms (ScClient *self)
{
  guint64 delay = self->backoff_initial_ms;

  for (guint i = 1; i < self->attempt && delay < self->backoff_max_ms; i++)
    delay *= 2;
  delay = MIN (delay, (guint64) self->backoff_max_ms);
  return (guint) (delay / 2 + (guint64) g_random_int_range (0, (gint32) (delay / 2 + 1)));
}

/* With the lock held: after a loss or a failed attempt, the next attempt,
 * or the end when the give-up time has passed. */
static void
schedule_retry_locked (ScClient *self, const GError *why)
{
  gint64 now = g_get_monotonic_time ();
  guint delay;

  if (self->state == SC_CLIENT_STATE_CONNECTED || self->attempt == 0)
    {
      self->lost_at_us = now;
      g_info ("lost the session with %s (%s); reconnecting", self->host_port, why->message);
    }
  if (self->give_up_ms > 0 && now - self->lost_at_us >= (gint64) self->give_up_ms * 1000)
    {
      g_clear_error (&self->error);
      self->error = g_error_new (SC_ERROR, SC_ERROR_CLOSED,
                                 "gave up reconnecting to %s after %u attempts in %u s: %s",
                                 self->host_port, self->attempt,
                                 (guint) ((now - self->lost_at_us) / G_USEC_PER_SEC), why->message);
      set_state_locked (self, SC_CLIENT_STATE_CLOSED);
      post_error (self, self->error);
      return;
    }
  self->attempt++;
  delay = backoff_ms (self);
  set_state_locked (self, SC_CLIENT_STATE_RECONNECTING);
  self->retry_source = g_timeout_source_new (delay);
  g_source_set_callback (self->retry_source, start_attempt, self, NULL);
  g_source_attach (self->retry_source, self->io_context);
  g_debug ("reconnect attempt %u in %u ms", self->attempt, delay);
}

/* A connection attempt failed before it had a channel (or was refused
 * because the client is shutting down). */
static void
attempt_failed (ScClient *self, GError *error)
{
  g_mutex_lock (&self->lock);
  self->attempt_running = FALSE;
  wake_waiters_locked (self); /* shutdown waits for it, in any state */
  if (!self->shutting_down && self->reconnect && self->ever_connected)
    schedule_retry_locked (self, error);
  else
    {
      if (self->error == NULL)
        self->error = g_error_copy (error);
      set_state_locked (self, SC_CLIENT_STATE_CLOSED);
    }
  client_unlock (self);
  g_error_free (error);
}

/* ==== establishing ====================================================== */

/* With the lock held: whether establish may start: never connected, not
 * shut down (its I/O thread may be gone). */
static gboolean
check_unused_locked (ScClient *self, GError **error)
{
  if (self->shutting_down || g_atomic_pointer_get (&self->io_worker) == NULL)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_CLOSED, "the client is shutting down");
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

static gboolean
check_ready (ScClient *self, GError **error)
{
  gboolean ok;

  if (self->tls_config != NULL && sc_tls_config_get_enabled (self->tls_config) && self->tls == NULL)
    {
      g_autoptr (GError) local = NULL;

      self->tls = sc_tls_context_new_shared (self->tls_config, SC_TLS_ROLE_CLIENT, error);
      if (self->tls == NULL)
        return FALSE;
      if (!sc_tls_setup_process (self->tls_config, &local))
        g_warning ("%s; versions and cipher suites are checked after each TLS handshake",
                   local->message);
      self->trust_tls = sc_tls_config_get_verify_mode (self->tls_config) != SC_TLS_VERIFY_NONE;
    }
  if (self->pinned == NULL && self->known_hosts == NULL && !self->accept_any && !self->trust_tls)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_UNTRUSTED,
                           "no way to trust the server: pin its fingerprint "
                           "(sc_client_set_pinned_fingerprint), use a known-hosts file, or "
                           "verify its TLS certificate (a TLS configuration with verify_mode "
                           "CERT_REQUIRED)");
      return FALSE;
    }
  g_mutex_lock (&self->lock);
  ok = check_unused_locked (self, error);
  client_unlock (self);
  return ok;
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

/* Runs the first connection attempt in the calling thread (the I/O
 * thread's work for it: connect, TLS, handshake) in loop's context, until
 * the session is up or has failed; then hands the session to the I/O
 * thread. The callbacks that come after handshake_done (messages, acks,
 * the ticket, the end) are held until the channel has moved, so that a
 * message handler runs in the I/O thread as always. A concurrent shutdown
 * cancels the attempt or closes the channel, which wakes this context. */
static gboolean on_establish_cancelled (GCancellable *cancellable, gpointer data);

static gboolean
establish_here (ScClient *self, EstablishLoop *loop, GError **error)
{
  g_autoptr (ScChannel) channel = NULL;
  g_autoptr (GError) local = NULL;
  gboolean connected, cancelled;
  GSource *cancelled_source;

  g_main_context_push_thread_default (loop->context);
  g_mutex_lock (&self->lock);
  cancelled_source = g_cancellable_source_new (self->establish_cancel);
  client_unlock (self);
  g_source_set_callback (cancelled_source, G_SOURCE_FUNC (on_establish_cancelled), self, NULL);
  g_source_attach (cancelled_source, loop->context);
  start_attempt (self);
  g_mutex_lock (&self->lock);
  while (self->state == SC_CLIENT_STATE_CONNECTING || self->state == SC_CLIENT_STATE_HANDSHAKING)
    {
      client_unlock (self);
      g_main_context_iteration (loop->context, TRUE);
      g_mutex_lock (&self->lock);
    }
  g_source_destroy (cancelled_source); /* (not dispatching: this thread runs it) */
  g_source_unref (cancelled_source);
  connected = self->state == SC_CLIENT_STATE_CONNECTED;
  channel = g_steal_pointer (&self->establishing);
  /* before any reconnection can start; forward_cancel does nothing now */
  g_clear_object (&self->establish_cancel);
  cancelled = self->establish_cancelled;
  self->establish_cancelled = FALSE;
  if (!connected)
    {
      if (cancelled)
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
      else if (self->error != NULL)
        g_propagate_error (error, g_error_copy (self->error));
      else
        g_set_error_literal (error, SC_ERROR, SC_ERROR_FAILED, "the handshake failed");
    }
  client_unlock (self);
  if (connected && !sc_channel_move (channel, self->io_context, &local))
    {
      /* not for the I/O thread's poller, which exists already: never */
      sc_channel_abort (channel, local->message);
      g_propagate_error (error, g_steal_pointer (&local));
      connected = FALSE;
    }
  if (connected)
    {
      /* from now on a shutdown may take it back (close_here) */
      g_mutex_lock (&self->lock);
      if (self->channel == channel)
        self->channel_in_io = TRUE;
      client_unlock (self);
    }
  /* What the attempt left here (a failed channel closing its stream, a
   * lingering close after a shutdown) ends before the context is left:
   * nothing iterates it until this thread's next establish. */
  while (channel != NULL && !connected && !sc_channel_is_done (channel))
    g_main_context_iteration (loop->context, TRUE);
  while (g_main_context_pending (loop->context))
    g_main_context_iteration (loop->context, FALSE);
  g_main_context_pop_thread_default (loop->context);
  return connected;
}

/* The caller's cancellable fired during establish (in the cancelling
 * thread): it cancels the attempt's cancellable, which ends the connection
 * and the TLS handshake, and wakes establish's thread, where
 * on_establish_cancelled ends the SecureComm handshake. Once establish has
 * ended it does nothing, and reconnections never see this cancel. */
static void
forward_cancel (GCancellable *cancellable, gpointer data)
{
  ScClient *self = data;
  g_autoptr (GCancellable) cancel = NULL;

  g_mutex_lock (&self->lock);
  if (self->establish_cancel != NULL)
    {
      self->establish_cancelled = TRUE; /* for a channel that start_session is about to make */
      cancel = g_object_ref (self->establish_cancel);
    }
  client_unlock (self);
  if (cancel != NULL)
    g_cancellable_cancel (cancel);
}

/* In establish's thread (a source on the attempt's cancellable), between
 * two dispatches: a channel still in its handshake is aborted there, by
 * the thread that runs it, so that a handshake completing meanwhile cannot
 * be; once the session is up, nothing happens. Shutdown cancels too: it
 * closes the channel itself. */
static gboolean
on_establish_cancelled (GCancellable *cancellable, gpointer data)
{
  ScClient *self = data;
  g_autoptr (ScChannel) channel = NULL;

  g_mutex_lock (&self->lock);
  if (self->establish_cancelled && self->establishing != NULL
      && self->state == SC_CLIENT_STATE_HANDSHAKING)
    channel = sc_channel_ref (self->establishing);
  client_unlock (self);
  if (channel != NULL)
    sc_channel_abort (channel, "the handshake was cancelled");
  return G_SOURCE_REMOVE;
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
 * up or has failed. The connection and the handshake run in the calling
 * thread (in a main context of its own, not the thread-default one); the
 * session then moves to the client's I/O thread, where the message handler
 * runs. @cancellable ends any stage (the connection, the TLS handshake,
 * the SecureComm handshake), and establish then fails with
 * %G_IO_ERROR_CANCELLED; once the session is up it has no effect, on the
 * session or on later reconnections. sc_client_shutdown() from another
 * thread ends any stage too.
 *
 * Returns: %TRUE when connected
 */
gboolean
sc_client_establish_secure_session (ScClient *self, const char *host, guint16 port,
                                    GCancellable *cancellable, GError **error)
{
  EstablishLoop *loop;
  gulong handler = 0;
  gboolean ok;

  g_return_val_if_fail (SC_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (host != NULL, FALSE);
  if (in_io_thread ())
    {
      g_critical ("sc_client_establish_secure_session() called in an ScClient I/O thread: it "
                  "would wait for such a thread");
      g_set_error_literal (error, SC_ERROR, SC_ERROR_FAILED,
                           "not from an ScClient I/O thread (a message handler)");
      return FALSE;
    }
  if (!check_ready (self, error))
    return FALSE;
  loop = establish_loop_get (error);
  if (loop == NULL)
    return FALSE;
  g_free (self->host_port);
  self->host_port = strchr (host, ':') ? g_strdup_printf ("[%s]:%u", host, port)
                                       : g_strdup_printf ("%s:%u", host, port);
  if (self->known_hosts != NULL && self->pinned == NULL && !known_hosts_lookup (self, error))
    return FALSE;
  g_free (self->host);
  self->host = g_strdup (host);
  self->port = port;
  if (self->identity != NULL)
    {
      self->session_config.identity = sc_identity_get_key (self->identity);
      self->session_config.identity_checked = TRUE; /* ScIdentity builds it from its scalar */
    }
  g_mutex_lock (&self->lock);
  if (!check_unused_locked (self, error)) /* again: a shutdown or establish meanwhile */
    {
      client_unlock (self);
      return FALSE;
    }
  set_state_locked (self, SC_CLIENT_STATE_CONNECTING);
  self->establish_cancel = g_cancellable_new ();
  self->establish_cancelled = FALSE;
  client_unlock (self);
  /* (at once when already cancelled; disconnecting waits for a running call) */
  if (cancellable != NULL)
    handler = g_cancellable_connect (cancellable, G_CALLBACK (forward_cancel), self, NULL);
  ok = establish_here (self, loop, error);
  if (handler != 0)
    g_cancellable_disconnect (cancellable, handler);
  return ok;
}

/* An asynchronous establish, in a thread of establish_pool: the
 * synchronous one, which blocks that thread until the session is up. */
static void
establish_in_pool (gpointer data, gpointer unused)
{
  g_autoptr (GTask) task = data;
  ScClient *self = g_task_get_source_object (task);
  GError *error = NULL;
  char *host = g_object_get_data (G_OBJECT (task), "host");
  guint16 port = (guint16) GPOINTER_TO_UINT (g_task_get_task_data (task));

  if (sc_client_establish_secure_session (self, host, port, g_task_get_cancellable (task), &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/* The threads of asynchronous establishes: as many as are waiting, not
 * GTask's pool (g_task_run_in_thread), whose threads glib-networking's TLS
 * handshakes and GIO's resolver need: establishes that each held one of
 * its few threads while waiting for a TLS handshake queued behind them
 * starved it (32 at once to a server in the same process: 11 connected,
 * the rest timed out; now all 32. 64 TLS clients of one process to a
 * server in another: 1.35 s before, 0.28 s now). At most
 * SC_CLIENT_ESTABLISH_THREADS at once, the rest queued; idle threads end
 * after the pool's idle time. */
static GThreadPool *
establish_pool (void)
{
  static GThreadPool *pool;

  if (g_once_init_enter (&pool))
    g_once_init_leave (&pool, g_thread_pool_new (establish_in_pool, NULL,
                                                 SC_CLIENT_ESTABLISH_THREADS, FALSE, NULL));
  return pool;
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
 * The asynchronous form of sc_client_establish_secure_session(): that runs
 * in a thread of the library's (not GTask's pool), and @callback is called
 * in the thread-default main context of the caller.
 */
void
sc_client_establish_secure_session_async (ScClient *self, const char *host, guint16 port,
                                          GCancellable *cancellable, GAsyncReadyCallback callback,
                                          gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, sc_client_establish_secure_session_async);
  /* a cancel once the session is up changes nothing (as for the
   * synchronous call): finish reports what establish returned */
  g_task_set_check_cancellable (task, FALSE);
  g_task_set_task_data (task, GUINT_TO_POINTER ((guint) port), NULL);
  g_object_set_data_full (G_OBJECT (task), "host", g_strdup (host), g_free);
  /* A thread that cannot be started leaves the task queued for the next
   * free one; there is always one unless none could ever be started. */
  (void) g_thread_pool_push (establish_pool (), g_steal_pointer (&task), NULL);
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

/* With send_lock held, message (data, len) just pushed: sends what waits in
 * the outbox, in order. only: the message is the one unsent entry, sent from
 * the caller's bytes. A message the server does not take at all (over its
 * size limit) comes back out of the outbox as the caller's error; *id is its
 * message id if it went out now, else 0. */
static gboolean
send_now (ScClient *self, ScChannel *channel, const guint8 *data, gsize len, gboolean only,
          guint64 *id, GError **error)
{
  if (only)
    {
      g_autoptr (GError) local = NULL;

      if (sc_channel_send (channel, data, len, id, &local))
        {
          g_mutex_lock (&self->lock);
          mark_sent_locked (self, *id);
          client_unlock (self);
          return TRUE;
        }
      *id = 0;
      if (g_error_matches (local, SC_ERROR, SC_ERROR_MESSAGE_TOO_LARGE))
        {
          g_mutex_lock (&self->lock);
          sc_outbox_drop_unsent (self->outbox);
          client_unlock (self);
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      return TRUE; /* busy or going away: it waits in the outbox */
    }
  pump_outbox (self, channel); /* older messages wait: keep the order */
  return TRUE;
}

static ScChannel *
ref_channel_locked (ScClient *self)
{
  if (self->channel != NULL && self->state == SC_CLIENT_STATE_CONNECTED)
    return sc_channel_ref (self->channel);
  return NULL;
}

/* Queues a message (message, or when NULL a copy of data) and sends it at
 * once when connected: see sc_client_send_bytes. */
static gboolean
send_message (ScClient *self, GBytes *message, const guint8 *data, gsize len,
              guint64 *out_message_id, GError **error)
{
  g_autoptr (ScChannel) channel = NULL;
  ScClientState state;
  gboolean only, pushed;
  guint64 id = 0;

  g_mutex_lock (&self->send_lock);
  g_mutex_lock (&self->lock);
  state = self->state;
  if (state == SC_CLIENT_STATE_DISCONNECTED || state == SC_CLIENT_STATE_CLOSED
      || (!self->ever_connected && state != SC_CLIENT_STATE_CONNECTED))
    {
      client_unlock (self);
      g_mutex_unlock (&self->send_lock);
      g_set_error_literal (error, SC_ERROR, SC_ERROR_NOT_CONNECTED,
                           state == SC_CLIENT_STATE_CLOSED ? "the session is closed"
                                                           : "not connected");
      return FALSE;
    }
  pushed = message != NULL ? sc_outbox_push (self->outbox, message, error)
                           : sc_outbox_push_data (self->outbox, data, len, error);
  if (!pushed)
    {
      client_unlock (self);
      g_mutex_unlock (&self->send_lock);
      return FALSE;
    }
  channel = ref_channel_locked (self);
  only = sc_outbox_unsent_length (self->outbox) == 1;
  client_unlock (self);
  if (channel != NULL && !send_now (self, channel, data, len, only, &id, error))
    {
      g_mutex_unlock (&self->send_lock);
      return FALSE;
    }
  g_mutex_unlock (&self->send_lock);
  if (out_message_id != NULL)
    *out_message_id = id;
  return TRUE;
}

/**
 * sc_client_send_bytes:
 * @self: a #ScClient
 * @message: the message
 * @out_message_id: (out) (optional): its message id in the stream, or 0
 *   while it waits for a connection
 * @error: return location for a #GError
 *
 * Queues a message for the server: it is encrypted and sent at once when
 * connected, and kept in the outbox until the server acknowledges it, so a
 * lost connection loses nothing: it is sent again after the reconnection.
 * While reconnecting the message waits in the outbox. A full outbox is
 * %SC_ERROR_BUSY and the message is not queued: sc_client_wait_for_room()
 * waits until an acknowledgement makes room.
 *
 * Returns: %TRUE if queued
 */
gboolean
sc_client_send_bytes (ScClient *self, GBytes *message, guint64 *out_message_id, GError **error)
{
  gsize len;
  const guint8 *data;

  g_return_val_if_fail (SC_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (message != NULL, FALSE);
  data = g_bytes_get_data (message, &len);
  return send_message (self, message, data, len, out_message_id, error);
}

/**
 * sc_client_flush:
 * @self: a #ScClient
 * @timeout_ms: how long to wait at most, in milliseconds
 * @error: return location for a #GError
 *
 * Blocks until the server has acknowledged every message queued so far
 * (the outbox is empty), the client is closed, or @timeout_ms passes.
 * Reconnections in between are waited out.
 *
 * Returns: %TRUE when everything queued was acknowledged
 */
gboolean
sc_client_flush (ScClient *self, guint timeout_ms, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
  guint waiting;

  g_return_val_if_fail (SC_IS_CLIENT (self), FALSE);
  g_mutex_lock (&self->lock);
  while (sc_outbox_length (self->outbox) > 0 && self->state != SC_CLIENT_STATE_CLOSED)
    if (!wait_locked (self, deadline))
      break;
  waiting = sc_outbox_length (self->outbox);
  if (waiting > 0 && self->state == SC_CLIENT_STATE_CLOSED && self->error != NULL)
    g_propagate_prefixed_error (error, g_error_copy (self->error),
                                "%u message(s) not acknowledged: ", waiting);
  else if (waiting > 0 && self->state == SC_CLIENT_STATE_CLOSED)
    g_set_error (error, SC_ERROR, SC_ERROR_CLOSED,
                 "%u message(s) not acknowledged: the client is closed", waiting);
  else if (waiting > 0)
    g_set_error (error, SC_ERROR, SC_ERROR_TIMEOUT,
                 "%u message(s) not acknowledged after %u ms (%s)", waiting, timeout_ms,
                 self->state == SC_CLIENT_STATE_CONNECTED ? "connected" : "reconnecting");
  client_unlock (self);
  return waiting == 0;
}

/**
 * sc_client_wait_for_room:
 * @self: a #ScClient
 * @size: bytes of the message to be sent
 * @timeout_ms: how long to wait at most, in milliseconds
 *
 * Blocks until the outbox can take a message of @size bytes (the server
 * acknowledged enough of what it holds), the client is closed, or
 * @timeout_ms passes: what a sender does after %SC_ERROR_BUSY, instead of
 * sleeping for a guessed time. Another thread may still fill the outbox
 * first: send, and on %SC_ERROR_BUSY wait again. Not in the message
 * handler (the I/O thread, which brings the acknowledgements).
 *
 * Returns: %TRUE if there is room now
 */
gboolean
sc_client_wait_for_room (ScClient *self, gsize size, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
  gboolean room;

  g_return_val_if_fail (SC_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (!in_io_thread (), FALSE);
  g_mutex_lock (&self->lock);
  while (!(room = sc_outbox_has_room (self->outbox, size)) && self->state != SC_CLIENT_STATE_CLOSED)
    if (!wait_locked (self, deadline))
      {
        room = sc_outbox_has_room (self->outbox, size);
        break;
      }
  client_unlock (self);
  return room;
}

/* Whether text (NUL-terminated, *len set to its length) is valid UTF-8,
 * as g_utf8_validate (text, -1, NULL) says. The ASCII prefix is checked
 * eight bytes at a time and only the rest goes to GLib, whose validator
 * costs about seven instructions a byte (a tenth of a small message's
 * whole cost). */
static gboolean
utf8_check (const char *text, gsize *len)
{
  gsize n = strlen (text);
  gsize i = 0;

  *len = n;
  for (; i + sizeof (guint64) <= n; i += sizeof (guint64))
    {
      guint64 word;

      memcpy (&word, text + i, sizeof word);
      if (word & G_GUINT64_CONSTANT (0x8080808080808080))
        break;
    }
  for (; i < n && (guchar) text[i] < 0x80; i++)
    ;
  return i == n || g_utf8_validate_len (text + i, n - i, NULL); /* i: after ASCII */
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
  gsize len;

  g_return_val_if_fail (SC_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (message != NULL, FALSE);
  if (!utf8_check (message, &len))
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_INVALID_MESSAGE,
                           "the message is not valid UTF-8");
      return FALSE;
    }
  return send_message (self, NULL, (const guint8 *) message, len, NULL, error);
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
  client_unlock (self);
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
  client_unlock (self);
}

/**
 * sc_client_set_message_handler:
 * @self: a #ScClient
 * @handler: (nullable) (scope notified) (closure user_data) (destroy destroy):
 *   called with each message from the server, or %NULL to go back to the
 *   #ScClient::message-received signal
 * @user_data: data for @handler
 * @destroy: (nullable): frees @user_data once @handler is no longer used
 *
 * Hands every message from the server straight to @handler, in the
 * client's I/O thread, instead of emitting #ScClient::message-received in
 * the context that created the client: no hop to another thread, no
 * queue. While a handler is set the signal is not emitted for the
 * messages it receives, and sc_client_start_listening() and
 * sc_client_stop_listening() do not affect it; messages held back before
 * it was set (while not listening) stay for the signal. Set it before
 * connecting to see every message.
 *
 * @handler is called in the client's I/O thread (shared with other clients
 * of the process), in the order the server sent the messages, and never
 * concurrently with itself. Within a stream each message arrives exactly
 * once, resumptions included; after a full handshake (the server lost the
 * stream, or the ticket was refused), messages the server had sent but
 * not yet seen acknowledged may arrive again (docs/PROTOCOL.md 4.7.7).
 *
 * @handler must not iterate the thread's main context (the thread-default
 * one there: a nested g_main_context_iteration() would run other clients'
 * callbacks, and their shutdowns would take it for an idle thread).
 *
 * @handler must not block: sc_client_send_message() and
 * sc_client_send_bytes() are safe in it (they do not wait; an
 * %SC_ERROR_BUSY there must not be waited out, as this thread is the one
 * that drains the queue). Not from an #ScClient I/O thread, that is not
 * from any client's handler or callback (this client's or another's: the
 * clients of a process share these threads): sc_client_flush(),
 * sc_client_wait_for_room() and
 * sc_client_establish_secure_session() (they would wait for the thread
 * that runs them), and sc_client_shutdown() (it logs a critical warning
 * and shuts the client down in the background). Dropping the last
 * reference to a client there is safe: that client is then shut down in
 * the background, in a thread of its own, and finalized after. @message
 * may be kept with g_bytes_ref().
 *
 * Replacing or unsetting the handler is safe from any thread, also from
 * within @handler; @destroy runs once, when the handler was replaced or
 * the client finalized and no call to it is under way (in the thread that
 * made the last call or replaced it). With a %NULL @handler, @destroy (if
 * any) is called on @user_data at once.
 */
void
sc_client_set_message_handler (ScClient *self, ScClientMessageHandler handler, gpointer user_data,
                               GDestroyNotify destroy)
{
  MessageHandler *fresh = NULL;
  MessageHandler *old;

  g_return_if_fail (SC_IS_CLIENT (self));
  if (handler != NULL)
    {
      fresh = g_new0 (MessageHandler, 1);
      g_atomic_ref_count_init (&fresh->ref);
      fresh->func = handler;
      fresh->data = user_data;
      fresh->destroy = destroy;
    }
  else if (destroy != NULL)
    destroy (user_data);
  g_mutex_lock (&self->lock);
  old = self->handler;
  self->handler = fresh;
  client_unlock (self);
  message_handler_unref (old);
}

/* Where shutting down would wait for an I/O thread from an I/O thread: a
 * thread of its own does it, holding a reference until it is done. */
static gpointer
shutdown_thread (gpointer data)
{
  ScClient *self = data;

  sc_client_shutdown (self);
  g_object_unref (self); /* maybe the last: dispose, out of the I/O thread */
  return NULL;
}

static void
shutdown_in_background (ScClient *self)
{
  g_thread_unref (g_thread_new ("sc-client-close", shutdown_thread, g_object_ref (self)));
}

/* With the lock held: whether the I/O thread still works for the client:
 * a connection attempt (TCP or TLS) under way, one about to start, or a
 * channel that has not reported its end. */
static gboolean
io_busy_locked (ScClient *self)
{
  return self->attempt_running || self->state == SC_CLIENT_STATE_CONNECTING
         || (self->channel != NULL && self->state != SC_CLIENT_STATE_CLOSED);
}

/* Shutdown of a connected session over a plain socket, from an application
 * thread: the channel comes back from the I/O thread into this thread's
 * establish context, where the close runs. What is left after it, waiting
 * for the server to close its side (SC_CHANNEL_CLOSE_LINGER_MS), goes to
 * the I/O thread's reaper (sc_channel_linger_later), which looks at it with
 * others now and then. Neither wakes the I/O thread: a close there cost it
 * two wake-ups (the close, then the server's answer) and this thread one
 * more, which for a short-lived client was a third of the client's work
 * per connection besides the handshake (docs/PERFORMANCE.md). FALSE
 * (nothing done) when this thread has no establish context to be had: the
 * caller closes in the I/O thread. Not in an I/O thread, not twice for a
 * client. */
static gboolean
close_here (ScClient *self, ScChannel *channel)
{
  EstablishLoop *loop = establish_loop_get (NULL);

  if (loop == NULL)
    return FALSE;
  /* owned from here on, so that nothing done here (the move's deadline, the
   * close's flush) wakes the context through its wake-up descriptor */
  if (!g_main_context_acquire (loop->context))
    return FALSE; /* (not reached: only this thread runs it) */
  /* before the move: a close that an I/O-thread callback under way makes
   * (a second shutdown's) lingers there too, not in this context */
  sc_channel_linger_later (channel, self->io_context);
  if (!sc_channel_move (channel, loop->context, NULL))
    {
      g_main_context_release (loop->context);
      return FALSE;
    }
  /* A callback of the channel that the I/O thread had begun has returned
   * once it polls again: from here on, only this thread runs the channel. */
  io_worker_sync (self->io_worker);
  g_main_context_push_thread_default (loop->context);
  sc_channel_close (channel, SC_CLOSE_NORMAL, "closed by the client");
  g_mutex_lock (&self->lock);
  while (io_busy_locked (self)) /* on_closed, run here: at once, once CLOSE is written */
    {
      client_unlock (self);
      g_main_context_iteration (loop->context, TRUE);
      g_mutex_lock (&self->lock);
    }
  client_unlock (self);
  while (g_main_context_pending (loop->context))
    g_main_context_iteration (loop->context, FALSE);
  g_main_context_pop_thread_default (loop->context);
  g_main_context_release (loop->context);
  return TRUE;
}

/**
 * sc_client_shutdown:
 * @self: a #ScClient
 *
 * Sends a close message, waits for the connection to end and lets go of
 * the I/O thread (the clients of a process share a few; the last client
 * to let go of one ends it one to three seconds later, once the closes it
 * was given have ended). A connected session over a plain socket is
 * closed in the calling thread; the I/O thread then waits, without being
 * woken for it, for the server to close its side (at most
 * two seconds). A connection attempt or TLS
 * handshake under way is cancelled and waited for, and a concurrent
 * sc_client_establish_secure_session() fails with %SC_ERROR_CLOSED. The
 * client cannot be used afterwards. Other clients are not affected.
 *
 * Not from an #ScClient I/O thread, that is from any client's message
 * handler or any callback run there (the clients of a process share these
 * threads): it would wait for such a thread. If called there anyway, it
 * logs a critical warning, returns at once and the shutdown completes in
 * the background, in a thread of its own that holds a reference to the
 * client until it is done.
 */
void
sc_client_shutdown (ScClient *self)
{
  g_autoptr (ScChannel) channel = NULL;
  IoWorker *worker;
  gboolean idle, here;

  g_return_if_fail (SC_IS_CLIENT (self));
  if (in_io_thread ())
    {
      g_critical ("sc_client_shutdown() called in an ScClient I/O thread (from a message "
                  "handler?): it would wait for such a thread; shutting down in the background");
      shutdown_in_background (self);
      return;
    }
  g_mutex_lock (&self->lock);
  /* the first shutdown of a connected plain session closes it here */
  here = !self->shutting_down && self->state == SC_CLIENT_STATE_CONNECTED && self->channel != NULL
         && self->channel_in_io && self->tls == NULL;
  self->shutting_down = TRUE;
  g_cancellable_cancel (self->connect_cancel);
  if (self->establish_cancel != NULL)
    g_cancellable_cancel (self->establish_cancel);
  if (self->retry_source != NULL)
    {
      g_source_destroy (self->retry_source);
      g_clear_pointer (&self->retry_source, g_source_unref);
    }
  if (self->channel != NULL)
    channel = sc_channel_ref (self->channel);
  client_unlock (self);
  if (channel != NULL && !(here && close_here (self, channel)))
    sc_channel_close (channel, SC_CLOSE_NORMAL, "closed by the client");
  g_mutex_lock (&self->lock);
  while (io_busy_locked (self)) /* no channel is made after shutting_down: start_session */
    wait_locked (self, -1);
  /* The I/O thread ended its work for us and has since entered poll(),
   * having woken us: none of our callbacks runs there any more. */
  idle = self->deferred_idle && !g_atomic_int_get (&self->deferred.pending);
  set_state_locked (self, SC_CLIENT_STATE_CLOSED);
  client_unlock (self);
  worker = g_atomic_pointer_exchange (&self->io_worker, NULL);
  if (worker != NULL)
    {
      if (!idle)
        io_worker_sync (worker);
      io_worker_release (worker);
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
  client_unlock (self);
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
 * sc_client_get_outbox_length:
 * @self: a #ScClient
 *
 * Returns: how many messages wait for the server's acknowledgement
 */
guint
sc_client_get_outbox_length (ScClient *self)
{
  guint n;

  g_return_val_if_fail (SC_IS_CLIENT (self), 0);
  g_mutex_lock (&self->lock);
  n = sc_outbox_length (self->outbox);
  client_unlock (self);
  return n;
}

/**
 * sc_client_get_resumption_count:
 * @self: a #ScClient
 *
 * Returns: how many reconnections resumed the stream with a ticket (no
 *   signatures, nothing delivered twice)
 */
guint
sc_client_get_resumption_count (ScClient *self)
{
  guint n;

  g_return_val_if_fail (SC_IS_CLIENT (self), 0);
  g_mutex_lock (&self->lock);
  n = self->resumptions;
  client_unlock (self);
  return n;
}

/**
 * sc_client_set_reconnect:
 * @self: a #ScClient
 * @enabled: whether to reconnect by itself after a lost connection
 * @initial_ms: the first delay; each next one doubles (0: the default, 250)
 * @max_ms: the longest delay (0: the default, 30000)
 * @give_up_ms: give up after this long without a session, then the state
 *   is closed and #ScClient::error says why (0: never)
 *
 * Sets the reconnection policy. Delays get "equal jitter": each is between
 * half and all of its nominal value. Reconnection is on by default and only
 * follows a lost connection: the first connection, a refused server key or
 * a protocol error end the client at once. Call before connecting.
 */
void
sc_client_set_reconnect (ScClient *self, gboolean enabled, guint initial_ms, guint max_ms,
                         guint give_up_ms)
{
  g_return_if_fail (SC_IS_CLIENT (self));
  g_mutex_lock (&self->lock);
  self->reconnect = enabled;
  self->backoff_initial_ms = initial_ms > 0 ? initial_ms : SC_CLIENT_DEFAULT_BACKOFF_INITIAL_MS;
  self->backoff_max_ms = MAX (max_ms > 0 ? max_ms : SC_CLIENT_DEFAULT_BACKOFF_MAX_MS,
                              self->backoff_initial_ms);
  self->give_up_ms = give_up_ms;
  client_unlock (self);
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
  client_unlock (self);
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

  if (g_atomic_pointer_get (&self->io_worker) != NULL)
    {
      if (in_io_thread ())
        {
          /* The last reference went in an I/O thread (a handler): shutting
           * down here would wait for this thread or another I/O thread.
           * The client lives on until a thread of its own has shut it
           * down; its last unref there disposes it again. */
          g_debug ("last reference to a client dropped in an I/O thread: shutting down in the "
                   "background");
          shutdown_in_background (self);
          return;
        }
      sc_client_shutdown (self);
    }
  G_OBJECT_CLASS (sc_client_parent_class)->dispose (object);
}

static void
sc_client_finalize (GObject *object)
{
  ScClient *self = SC_CLIENT (object);

  g_clear_pointer (&self->channel, sc_channel_unref);
  g_clear_object (&self->connect_cancel);
  g_clear_object (&self->establish_cancel);
  g_clear_pointer (&self->tls, sc_tls_context_unref);
  sc_outbox_free (self->outbox);
  sc_secure_free (self->resumption, sizeof *self->resumption);
  g_free (self->host);
  g_mutex_clear (&self->send_lock);
  g_clear_pointer (&self->events, sc_event_queue_free);
  g_clear_object (&self->tls_config);
  g_clear_object (&self->identity);
  g_free (self->pinned);
  g_free (self->known_hosts);
  g_free (self->host_port);
  g_free (self->known_fp);
  g_clear_error (&self->error);
  g_queue_clear_full (&self->pending, (GDestroyNotify) g_bytes_unref);
  message_handler_unref (self->handler);
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
  g_mutex_init (&self->send_lock);
  g_mutex_init (&self->lock);
  self->outbox = sc_outbox_new (SC_OUTBOX_DEFAULT_MAX_MESSAGES, SC_OUTBOX_DEFAULT_MAX_BYTES);
  self->resumption = sc_secure_alloc (sizeof *self->resumption);
  if (self->resumption == NULL)
    g_error ("out of secure memory");
  self->connect_cancel = g_cancellable_new ();
  self->reconnect = TRUE;
  self->backoff_initial_ms = SC_CLIENT_DEFAULT_BACKOFF_INITIAL_MS;
  self->backoff_max_ms = SC_CLIENT_DEFAULT_BACKOFF_MAX_MS;
  self->give_up_ms = SC_CLIENT_DEFAULT_GIVE_UP_MS;
  g_cond_init (&self->cond);
  self->deferred.cond = &self->cond;
  g_queue_init (&self->pending);
  self->user_context = g_main_context_ref_thread_default ();
  self->events = sc_event_queue_new (self->user_context, sizeof (ClientEvent), emit_in_user_context,
                                     client_event_clear, self);
  self->io_worker = io_worker_acquire ();
  self->io_context = g_main_context_ref (self->io_worker->context);
}

/**
 * sc_client_new:
 * @tls_config: (nullable): TLS configuration, or %NULL for none
 *
 * The seed's Client(tls_config). The client's connection runs in an I/O
 * thread that the clients of the process share (at most one per core, and
 * four at most); its signals are emitted in the thread-default main context
 * of the calling thread. Clients whose TLS configurations are equivalent
 * (same settings, same file contents) share the loaded certificates and
 * trust store; a file changed on disk is read again by the next client.
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
