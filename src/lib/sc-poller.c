/* sc-poller.c: one epoll-backed event source per GMainContext.
 *
 * The poller is a GSource with one descriptor in the context's poll set:
 * its epoll descriptor, readable when any watched descriptor is ready.
 * prepare () looks at the wake-up queue and the top of the deadline heap
 * (O(1)); dispatch () takes at most SC_POLLER_BATCH ready descriptors from
 * epoll_wait (0), as many expired deadlines from the heap and as many
 * wake-ups from the queue, merges the events of each watch, and runs the
 * callbacks without the lock. A watch in the batch is referenced until
 * the batch is over, so a callback may destroy any watch, its own included.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-poller.h"

#include <errno.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define NOT_IN_HEAP G_MAXUINT

struct _ScPollerWatch
{
  ScPoller *poller; /* a reference, until destroyed */
  ScPollerFunc func;
  gpointer user_data;
  /* Guarded by the poller's lock: */
  int fd; /* -1: none */
  gboolean want_out;
  gint64 deadline_us; /* -1: none */
  gint64 key_us;      /* its place in the heap: <= deadline_us (see below) */
  guint heap_index;   /* in poller->heap, or NOT_IN_HEAP */
  GList wake_link;    /* in poller->wakes while woken */
  gboolean woken;
  guint batch_events; /* collected by the dispatch under way */
  guint refs;         /* the owner's, and the dispatch's while in its batch */
  gboolean destroyed;
};

struct _ScPoller
{
  GSource source;
  GMainContext *context; /* a reference; the registry's key */
  guint users;           /* guarded by registry_lock */
  int epfd;
  gpointer epfd_tag;
  GMutex lock;     /* guards what follows and the watches' fields */
  GPtrArray *heap; /* ScPollerWatch *, a binary min-heap by key_us */
  GQueue wakes;    /* ScPollerWatch * (by wake_link), in wake-up order */
  guint n_watches;
  /* The time by which the context wakes for us at the latest, as our last
   * prepare told it, or the context's poll function if that is earlier
   * (sc_poller_note_poll_timeout) (G_MININT64: at once; G_MAXINT64: never,
   * or not prepared yet): a deadline set from another thread wakes the
   * context only if it is earlier. */
  gint64 armed_us;
};

/* context -> ScPoller *, one poller per context */
static GMutex registry_lock;
static GHashTable *registry;

/* ---- the deadline heap (poller lock held) ------------------------------- */

static inline ScPollerWatch *
heap_at (ScPoller *self, guint i)
{
  return g_ptr_array_index (self->heap, i);
}

static inline void
heap_put (ScPoller *self, guint i, ScPollerWatch *w)
{
  self->heap->pdata[i] = w;
  w->heap_index = i;
}

static void
heap_up (ScPoller *self, guint i)
{
  ScPollerWatch *w = heap_at (self, i);

  while (i > 0)
    {
      guint parent = (i - 1) / 2;

      if (heap_at (self, parent)->key_us <= w->key_us)
        break;
      heap_put (self, i, heap_at (self, parent));
      i = parent;
    }
  heap_put (self, i, w);
}

static void
heap_down (ScPoller *self, guint i)
{
  ScPollerWatch *w = heap_at (self, i);
  guint n = self->heap->len;

  for (;;)
    {
      guint child = 2 * i + 1;

      if (child >= n)
        break;
      if (child + 1 < n && heap_at (self, child + 1)->key_us < heap_at (self, child)->key_us)
        child++;
      if (heap_at (self, child)->key_us >= w->key_us)
        break;
      heap_put (self, i, heap_at (self, child));
      i = child;
    }
  heap_put (self, i, w);
}

static void
heap_remove (ScPoller *self, ScPollerWatch *w)
{
  guint i = w->heap_index;
  ScPollerWatch *last = heap_at (self, self->heap->len - 1);

  g_ptr_array_set_size (self->heap, self->heap->len - 1);
  w->heap_index = NOT_IN_HEAP;
  if (last == w)
    return;
  heap_put (self, i, last);
  heap_up (self, i);
  heap_down (self, last->heap_index);
}

/* Sets w's deadline (-1: none). A deadline that moves later keeps its
 * place (key_us) in the heap: a connection pushes its heartbeat deadline
 * back on every record, and sifting 10^5 entries each time is what the
 * heap would cost most; the entry is moved when it reaches the top
 * (settle_top_locked). Earlier deadlines move up at once. */
static void
heap_set_deadline (ScPoller *self, ScPollerWatch *w, gint64 deadline_us)
{
  w->deadline_us = deadline_us;
  if (deadline_us < 0)
    {
      if (w->heap_index != NOT_IN_HEAP)
        heap_remove (self, w);
      return;
    }
  if (w->heap_index == NOT_IN_HEAP)
    {
      w->key_us = deadline_us;
      g_ptr_array_add (self->heap, w);
      w->heap_index = self->heap->len - 1;
      heap_up (self, w->heap_index);
    }
  else if (deadline_us < w->key_us)
    {
      w->key_us = deadline_us;
      heap_up (self, w->heap_index);
    }
}

/* Moves entries whose deadline went later than their key to their
 * deadline, until the top's key is its deadline; at most max moves.
 * Returns FALSE if it stopped at max. */
static gboolean
settle_top_locked (ScPoller *self, guint max)
{
  for (guint i = 0; i < max; i++)
    {
      ScPollerWatch *top;

      if (self->heap->len == 0)
        return TRUE;
      top = heap_at (self, 0);
      if (top->key_us == top->deadline_us)
        return TRUE;
      top->key_us = top->deadline_us;
      heap_down (self, 0);
    }
  return FALSE;
}

/* ---- the GSource -------------------------------------------------------- */

/* The earliest deadline, or -1 (or a little earlier than the earliest,
 * if many keys are stale: the dispatch then settles them). */
static gint64
next_deadline_locked (ScPoller *self)
{
  settle_top_locked (self, SC_POLLER_BATCH);
  return self->heap->len > 0 ? heap_at (self, 0)->key_us : -1;
}

static gboolean
poller_prepare (GSource *source, gint *timeout)
{
  ScPoller *self = (ScPoller *) source;
  gboolean ready = FALSE;
  gint64 next;

  *timeout = -1;
  g_mutex_lock (&self->lock);
  next = next_deadline_locked (self);
  self->armed_us = G_MAXINT64;
  if (self->wakes.length > 0)
    ready = TRUE;
  else if (next >= 0)
    {
      gint64 now = g_source_get_time (source);

      if (next <= now)
        ready = TRUE;
      else /* rounded up: waking early would only spin */
        {
          *timeout = (gint) MIN ((next - now + 999) / 1000, G_MAXINT);
          self->armed_us = next;
        }
    }
  if (ready)
    self->armed_us = G_MININT64;
  g_mutex_unlock (&self->lock);
  if (ready)
    *timeout = 0;
  return ready;
}

static gboolean
poller_check (GSource *source)
{
  ScPoller *self = (ScPoller *) source;
  gboolean ready;
  gint64 next;

  if (g_source_query_unix_fd (source, self->epfd_tag) != 0)
    return TRUE;
  g_mutex_lock (&self->lock);
  next = next_deadline_locked (self);
  ready = self->wakes.length > 0 || (next >= 0 && next <= g_source_get_time (source));
  g_mutex_unlock (&self->lock);
  return ready;
}

static guint
events_from_epoll (guint32 ev)
{
  guint events = 0;

  if (ev & (EPOLLIN | EPOLLRDHUP))
    events |= SC_POLLER_IN;
  if (ev & EPOLLOUT)
    events |= SC_POLLER_OUT;
  if (ev & (EPOLLERR | EPOLLHUP))
    events |= SC_POLLER_ERROR;
  return events;
}

/* A dispatch's watches: at most SC_POLLER_BATCH of each kind of event. */
typedef struct
{
  guint n;
  ScPollerWatch *watches[3 * SC_POLLER_BATCH];
} Batch;

/* With the lock held: adds events for w to the batch (once per watch; a
 * watch already in the batch of an outer dispatch gets them there). */
static void
collect_locked (Batch *batch, ScPollerWatch *w, guint events)
{
  if (w->destroyed || events == 0)
    return;
  if (w->batch_events == 0)
    {
      g_assert (batch->n < G_N_ELEMENTS (batch->watches));
      batch->watches[batch->n++] = w;
      w->refs++;
    }
  w->batch_events |= events;
}

/* With the lock held: the ready descriptors, the expired deadlines and the
 * wake-ups, at most SC_POLLER_BATCH of each. epoll_wait runs under the
 * lock so that no watch it names can be destroyed before it is counted. */
static void
collect_batch_locked (ScPoller *self, Batch *batch, gint64 now)
{
  struct epoll_event ev[SC_POLLER_BATCH];
  int ready = epoll_wait (self->epfd, ev, SC_POLLER_BATCH, 0);

  for (int i = 0; i < ready; i++)
    collect_locked (batch, ev[i].data.ptr, events_from_epoll (ev[i].events));
  for (guint i = 0; i < SC_POLLER_BATCH && settle_top_locked (self, SC_POLLER_BATCH); i++)
    {
      ScPollerWatch *w = self->heap->len > 0 ? heap_at (self, 0) : NULL;

      if (w == NULL || w->deadline_us > now)
        break;
      heap_set_deadline (self, w, -1);
      collect_locked (batch, w, SC_POLLER_TIMER);
    }
  for (guint i = 0; i < SC_POLLER_BATCH && self->wakes.length > 0; i++)
    {
      ScPollerWatch *w = g_queue_pop_head_link (&self->wakes)->data;

      w->woken = FALSE;
      collect_locked (batch, w, SC_POLLER_WAKE);
    }
}

static gboolean
poller_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
  ScPoller *self = (ScPoller *) source;
  Batch batch;

  batch.n = 0;
  g_mutex_lock (&self->lock);
  collect_batch_locked (self, &batch, g_get_monotonic_time ());
  g_mutex_unlock (&self->lock);

  for (guint i = 0; i < batch.n; i++)
    {
      ScPollerWatch *w = batch.watches[i];
      guint events;

      g_mutex_lock (&self->lock);
      events = w->destroyed ? 0 : w->batch_events;
      w->batch_events = 0;
      g_mutex_unlock (&self->lock);
      if (events != 0)
        w->func (w, events, w->user_data);
    }

  g_mutex_lock (&self->lock);
  for (guint i = 0; i < batch.n; i++)
    {
      ScPollerWatch *w = batch.watches[i];

      w->batch_events = 0;
      if (--w->refs == 0)
        g_free (w);
    }
  g_mutex_unlock (&self->lock);
  return G_SOURCE_CONTINUE;
}

static void
poller_finalize (GSource *source)
{
  ScPoller *self = (ScPoller *) source;

  g_warn_if_fail (self->n_watches == 0);
  close (self->epfd);
  g_ptr_array_unref (self->heap);
  g_mutex_clear (&self->lock);
  g_main_context_unref (self->context);
}

static GSourceFuncs poller_funcs = {
  poller_prepare, poller_check, poller_dispatch, poller_finalize, NULL, NULL,
};

/* ---- the registry ------------------------------------------------------- */

static ScPoller *
poller_new (GMainContext *context, GError **error)
{
  int epfd = epoll_create1 (EPOLL_CLOEXEC);
  ScPoller *self;

  if (epfd < 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "epoll_create1: %s",
                   g_strerror (saved));
      return NULL;
    }
  self = (ScPoller *) g_source_new (&poller_funcs, sizeof (ScPoller));
  g_source_set_static_name (&self->source, "sc-poller");
  /* A source that may not recurse has its descriptor taken out of the
   * poll set for each dispatch and put back after, and each change writes
   * to the context's wake-up descriptor: two syscalls and one more loop
   * iteration per dispatch. The dispatch below is re-entrant instead. */
  g_source_set_can_recurse (&self->source, TRUE);
  self->context = g_main_context_ref (context);
  self->epfd = epfd;
  self->epfd_tag = g_source_add_unix_fd (&self->source, epfd, G_IO_IN);
  g_mutex_init (&self->lock);
  self->heap = g_ptr_array_new ();
  g_queue_init (&self->wakes);
  self->armed_us = G_MAXINT64;
  g_source_attach (&self->source, context);
  return self;
}

ScPoller *
sc_poller_get (GMainContext *context, GError **error)
{
  ScPoller *self;

  if (context == NULL)
    context = g_main_context_default ();
  g_mutex_lock (&registry_lock);
  if (registry == NULL)
    registry = g_hash_table_new (NULL, NULL);
  self = g_hash_table_lookup (registry, context);
  if (self == NULL && (self = poller_new (context, error)) != NULL)
    g_hash_table_insert (registry, context, self);
  if (self != NULL)
    self->users++;
  g_mutex_unlock (&registry_lock);
  return self;
}

ScPoller *
sc_poller_ref (ScPoller *self)
{
  g_mutex_lock (&registry_lock);
  g_assert (self->users > 0);
  self->users++;
  g_mutex_unlock (&registry_lock);
  return self;
}

void
sc_poller_unref (ScPoller *self)
{
  gboolean last;

  g_mutex_lock (&registry_lock);
  g_assert (self->users > 0);
  last = --self->users == 0;
  if (last)
    g_hash_table_remove (registry, self->context);
  g_mutex_unlock (&registry_lock);
  if (!last)
    return;
  g_source_destroy (&self->source);
  g_source_unref (&self->source);
}

void
sc_poller_note_poll_timeout (ScPoller *self, gint timeout_ms)
{
  gint64 until;

  if (timeout_ms < 0)
    return;
  until = g_get_monotonic_time () + (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
  g_mutex_lock (&self->lock);
  if (until < self->armed_us)
    self->armed_us = until; /* (the next prepare sets it afresh) */
  g_mutex_unlock (&self->lock);
}

guint
sc_poller_get_n_watches (ScPoller *self)
{
  guint n;

  g_mutex_lock (&self->lock);
  n = self->n_watches;
  g_mutex_unlock (&self->lock);
  return n;
}

/* ---- watches ------------------------------------------------------------ */

ScPollerWatch *
sc_poller_watch_new (ScPoller *poller, ScPollerFunc func, gpointer user_data)
{
  ScPollerWatch *w = g_new0 (ScPollerWatch, 1);

  w->poller = sc_poller_ref (poller);
  w->func = func;
  w->user_data = user_data;
  w->fd = -1;
  w->deadline_us = -1;
  w->key_us = -1;
  w->heap_index = NOT_IN_HEAP;
  w->wake_link.data = w;
  w->refs = 1;
  g_mutex_lock (&poller->lock);
  poller->n_watches++;
  g_mutex_unlock (&poller->lock);
  return w;
}

/* With the lock held: what epoll is to report for w. */
static guint32
epoll_mask (const ScPollerWatch *w)
{
  return EPOLLIN | EPOLLRDHUP | EPOLLET | (w->want_out ? EPOLLOUT : 0);
}

gboolean
sc_poller_watch_set_fd (ScPollerWatch *w, int fd, GError **error)
{
  ScPoller *self = w->poller;
  struct epoll_event ev = { 0 };
  int ret, saved = 0;

  g_return_val_if_fail (fd >= 0, FALSE);
  g_mutex_lock (&self->lock);
  if (w->fd >= 0 || w->destroyed)
    {
      g_mutex_unlock (&self->lock);
      g_critical ("sc_poller_watch_set_fd: the watch has a descriptor or is destroyed");
      return FALSE;
    }
  ev.events = epoll_mask (w);
  ev.data.ptr = w;
  ret = epoll_ctl (self->epfd, EPOLL_CTL_ADD, fd, &ev);
  if (ret == 0)
    w->fd = fd;
  else
    saved = errno;
  g_mutex_unlock (&self->lock);
  if (ret != 0)
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "epoll_ctl: %s",
                 g_strerror (saved));
  return ret == 0;
}

void
sc_poller_watch_want_out (ScPollerWatch *w, gboolean want)
{
  ScPoller *self = w->poller;

  g_mutex_lock (&self->lock);
  if (!w->destroyed && w->want_out != !!want)
    {
      w->want_out = !!want;
      if (w->fd >= 0)
        {
          struct epoll_event ev = { .events = epoll_mask (w), .data.ptr = w };

          /* Fails only for a descriptor closed under us; its owner learns
           * that from its next read or write. */
          (void) epoll_ctl (self->epfd, EPOLL_CTL_MOD, w->fd, &ev);
        }
    }
  g_mutex_unlock (&self->lock);
}

void
sc_poller_watch_set_deadline (ScPollerWatch *w, gint64 deadline_us)
{
  ScPoller *self = w->poller;
  gboolean earliest = FALSE;

  g_mutex_lock (&self->lock);
  if (!w->destroyed && w->deadline_us != deadline_us)
    {
      heap_set_deadline (self, w, deadline_us);
      earliest = w->heap_index == 0 && deadline_us >= 0 && deadline_us < self->armed_us;
    }
  g_mutex_unlock (&self->lock);
  /* The context may be asleep with a longer timeout (it wakes by
   * armed_us anyway: then this deadline is seen in time). */
  if (earliest && !g_main_context_is_owner (self->context))
    g_main_context_wakeup (self->context);
}

void
sc_poller_watch_wake (ScPollerWatch *w)
{
  ScPoller *self = w->poller;
  gboolean first = FALSE;

  g_mutex_lock (&self->lock);
  if (!w->destroyed && !w->woken)
    {
      w->woken = TRUE;
      first = self->wakes.length == 0;
      g_queue_push_tail_link (&self->wakes, &w->wake_link);
    }
  g_mutex_unlock (&self->lock);
  /* Whoever makes the queue non-empty wakes the context, unless it is the
   * context's own thread, which looks at the queue before it sleeps. */
  if (first && !g_main_context_is_owner (self->context))
    g_main_context_wakeup (self->context);
}

void
sc_poller_watch_destroy (ScPollerWatch *w)
{
  ScPoller *self;
  gboolean last;

  if (w == NULL)
    return;
  self = w->poller;
  g_mutex_lock (&self->lock);
  g_assert (!w->destroyed);
  w->destroyed = TRUE;
  if (w->fd >= 0)
    (void) epoll_ctl (self->epfd, EPOLL_CTL_DEL, w->fd, NULL);
  if (w->heap_index != NOT_IN_HEAP)
    heap_remove (self, w);
  if (w->woken)
    g_queue_unlink (&self->wakes, &w->wake_link);
  w->woken = FALSE;
  self->n_watches--;
  last = --w->refs == 0;
  g_mutex_unlock (&self->lock);
  if (last)
    g_free (w);
  sc_poller_unref (self);
}
