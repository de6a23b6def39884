/* sc-event-queue.h: events from any thread, delivered in one main context
 * (private).
 *
 * ScServer and ScClient emit their signals in the application's main
 * context while the events come from I/O threads. An ScEventQueue carries
 * them across: sc_event_queue_post() copies an event (a small struct of
 * event_size bytes, stored inline: no allocation per event once the
 * queue has grown) and, if no drain is pending, attaches an idle source to
 * the context: never a synchronous delivery, even when the posting thread
 * owns the context (it may hold a lock the handlers need). The drain
 * delivers every event queued by
 * then, in the order posted, so a busy producer costs one wake-up of the
 * context per batch rather than per event. Events posted by one thread are
 * delivered in the order that thread posted them.
 *
 * What an event points to (strings, GBytes, GError) belongs to the queue
 * once posted: free_event releases it after delivery, or when the queue is
 * freed with the event still undelivered. free_event must not free the
 * event itself (it lives in the queue's storage).
 *
 * A scheduled drain holds a reference on owner (a GObject, or NULL), so
 * that the object the deliver function emits on outlives it; the owner
 * frees the queue in its finalize.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef struct _ScEventQueue ScEventQueue;

/* Delivers one event in the queue's context. owner is the one given to
 * sc_event_queue_new(); event is valid during the call only. */
typedef void (*ScEventQueueFunc) (gpointer owner, gpointer event);

ScEventQueue *sc_event_queue_new (GMainContext *context, gsize event_size, ScEventQueueFunc deliver,
                                  GDestroyNotify free_event, gpointer owner);
/* Any thread: copies event_size bytes from event and takes what they own. */
void sc_event_queue_post (ScEventQueue *queue, gconstpointer event);
/* Drops (with free_event) what is still undelivered; a drain scheduled
 * already then delivers nothing. */
void sc_event_queue_free (ScEventQueue *queue);

G_END_DECLS
