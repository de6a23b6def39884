/* sc-event-queue.c: events from any thread, delivered in one main context.
 *
 * Two arrays of inline events: producers append to `pending`; a drain
 * swaps it for an empty one under the lock and delivers the batch without
 * it, then keeps the emptied array for the next swap. Steady traffic thus
 * allocates nothing per event, and the lock is held for a copy only.
 *
 * The queue is reference counted between its owner and a scheduled drain,
 * so that sc_event_queue_free() may be called at any time.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-event-queue.h"

/* events: initial room of each array. */
#define SC_EVENT_QUEUE_INITIAL 64
/* events: an array that held a larger batch is freed after delivery rather
 * than kept, so that one burst does not pin its memory for good. */
#define SC_EVENT_QUEUE_KEEP_MAX 4096

struct _ScEventQueue
{
  gatomicrefcount ref;
  GMainContext *context;
  gsize event_size;
  ScEventQueueFunc deliver;
  GDestroyNotify free_event;
  gpointer owner;

  GMutex lock;     /* guards the four below */
  GArray *pending; /* events posted, not yet taken by a drain */
  GArray *spare;   /* an empty array for the next swap, or NULL */
  gboolean scheduled;
  gboolean freed; /* sc_event_queue_free() was called */
};

static GArray *
event_array_new (ScEventQueue *queue)
{
  return g_array_sized_new (FALSE, FALSE, (guint) queue->event_size, SC_EVENT_QUEUE_INITIAL);
}

static gpointer
event_at (ScEventQueue *queue, GArray *events, guint i)
{
  return events->data + (gsize) i * queue->event_size;
}

/* Releases what the events of a batch own. */
static void
clear_events (ScEventQueue *queue, GArray *events, guint from)
{
  if (queue->free_event != NULL)
    for (guint i = from; i < events->len; i++)
      queue->free_event (event_at (queue, events, i));
  g_array_set_size (events, 0);
}

static void
queue_unref (ScEventQueue *queue)
{
  if (!g_atomic_ref_count_dec (&queue->ref))
    return;
  g_clear_pointer (&queue->pending, g_array_unref);
  g_clear_pointer (&queue->spare, g_array_unref);
  g_main_context_unref (queue->context);
  g_mutex_clear (&queue->lock);
  g_free (queue);
}

/* The drain's destroy notify: what post() took for it. */
static void
drain_done (gpointer data)
{
  ScEventQueue *queue = data;

  if (queue->owner != NULL)
    g_object_unref (queue->owner);
  queue_unref (queue);
}

/* Takes the whole pending batch and leaves an empty array in its place. */
static GArray *
take_batch (ScEventQueue *queue)
{
  GArray *batch;

  g_mutex_lock (&queue->lock);
  batch = queue->pending;
  queue->pending = queue->spare != NULL ? queue->spare : event_array_new (queue);
  queue->spare = NULL;
  queue->scheduled = FALSE;
  g_mutex_unlock (&queue->lock);
  return batch;
}

/* Keeps an emptied batch array for the next swap, unless it grew large. */
static void
give_back (ScEventQueue *queue, GArray *batch, guint delivered)
{
  g_mutex_lock (&queue->lock);
  if (queue->spare == NULL && !queue->freed && delivered <= SC_EVENT_QUEUE_KEEP_MAX)
    {
      queue->spare = batch;
      batch = NULL;
    }
  g_mutex_unlock (&queue->lock);
  if (batch != NULL)
    g_array_unref (batch);
}

/* In the queue's context: delivers every event queued by now, in order.
 * A queue freed meanwhile (by a deliver function) delivers no more. */
static gboolean
drain (gpointer data)
{
  ScEventQueue *queue = data;
  GArray *batch = take_batch (queue);
  guint n = batch->len, i;

  for (i = 0; i < n && !g_atomic_int_get (&queue->freed); i++)
    {
      gpointer event = event_at (queue, batch, i);

      queue->deliver (queue->owner, event);
      if (queue->free_event != NULL)
        queue->free_event (event);
    }
  clear_events (queue, batch, i);
  give_back (queue, batch, n);
  return G_SOURCE_REMOVE;
}

/* Always a source attached to the context, never g_main_context_invoke():
 * that runs the drain at once when the posting thread owns the context, or
 * can acquire it because it is that thread's default (any thread that has
 * pushed no context of its own, such as a GTask worker, counts the global
 * default as its own). Events would then be delivered synchronously, in
 * the wrong thread, inside whatever lock the poster holds. */
static void
schedule_drain (ScEventQueue *queue)
{
  GSource *source = g_idle_source_new ();

  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, drain, queue, drain_done);
  g_source_set_static_name (source, "[securecomm] event queue");
  g_source_attach (source, queue->context);
  g_source_unref (source);
}

/*
 * sc_event_queue_new:
 * @context: where events are delivered
 * @event_size: the size of one event, in bytes
 * @deliver: called in @context for each event, in order
 * @free_event: (nullable): releases what an event owns (not the event)
 * @owner: (nullable): a #GObject kept alive while a drain is scheduled
 *
 * Returns: (transfer full): a new queue; free it with sc_event_queue_free()
 */
ScEventQueue *
sc_event_queue_new (GMainContext *context, gsize event_size, ScEventQueueFunc deliver,
                    GDestroyNotify free_event, gpointer owner)
{
  ScEventQueue *queue;

  g_return_val_if_fail (context != NULL, NULL);
  g_return_val_if_fail (event_size > 0 && event_size <= G_MAXUINT, NULL);
  g_return_val_if_fail (deliver != NULL, NULL);
  g_return_val_if_fail (owner == NULL || G_IS_OBJECT (owner), NULL);
  queue = g_new0 (ScEventQueue, 1);
  g_atomic_ref_count_init (&queue->ref);
  g_mutex_init (&queue->lock);
  queue->context = g_main_context_ref (context);
  queue->event_size = event_size;
  queue->deliver = deliver;
  queue->free_event = free_event;
  queue->owner = owner;
  queue->pending = event_array_new (queue);
  return queue;
}

/*
 * sc_event_queue_post:
 * @queue: a queue
 * @event: the event: event_size bytes, copied; the queue takes what they own
 *
 * Queues @event for the queue's context, from any thread, but not after
 * sc_event_queue_free(). The first event after a drain schedules the next
 * drain.
 */
void
sc_event_queue_post (ScEventQueue *queue, gconstpointer event)
{
  gboolean schedule;

  g_mutex_lock (&queue->lock);
  g_array_append_vals (queue->pending, event, 1);
  schedule = !queue->scheduled;
  queue->scheduled = TRUE;
  if (schedule)
    {
      g_atomic_ref_count_inc (&queue->ref);
      if (queue->owner != NULL)
        g_object_ref (queue->owner);
    }
  g_mutex_unlock (&queue->lock);
  if (schedule)
    schedule_drain (queue);
}

/*
 * sc_event_queue_free:
 * @queue: (nullable): a queue
 *
 * Drops the events still queued, releasing what they own. A drain already
 * scheduled runs but delivers nothing more.
 */
void
sc_event_queue_free (ScEventQueue *queue)
{
  GArray *pending;

  if (queue == NULL)
    return;
  g_mutex_lock (&queue->lock);
  g_atomic_int_set (&queue->freed, TRUE);
  pending = queue->pending;
  queue->pending = event_array_new (queue);
  g_mutex_unlock (&queue->lock);
  clear_events (queue, pending, 0);
  g_array_unref (pending);
  queue_unref (queue);
}
