/* test-event-queue.c: the queue that carries ScServer's (and ScClient's)
 * events from I/O threads to the application's main context
 * (sc-event-queue.h): order, one wake-up per batch, producers in other
 * threads, the owner kept alive while a drain is scheduled, and undelivered
 * events released when the queue is freed. A private GMainContext that no
 * thread owns, so that every drain is a queued source the test runs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib-object.h>

#include "sc-event-queue.h"

#define N_THREADS 4
#define PER_THREAD 20000

typedef struct
{
  guint producer;
  guint seq;
  char *payload; /* owned by the event: freed by free_event */
} TestEvent;

typedef struct
{
  GMainContext *context;
  ScEventQueue *queue;
  GArray *delivered; /* TestEvent copies, payload NULL */
  guint freed;       /* payloads released */
  guint free_at;     /* deliver frees the queue at this count (0: never) */
  gpointer expected_owner;
} Fixture;

static Fixture *current; /* deliver and free_event find the fixture here */

static void
test_deliver (gpointer owner, gpointer data)
{
  TestEvent *ev = data;
  TestEvent copy = { ev->producer, ev->seq, NULL };

  g_assert_true (owner == current->expected_owner);
  g_assert_nonnull (ev->payload); /* not released before delivery */
  g_array_append_val (current->delivered, copy);
  if (current->free_at > 0 && current->delivered->len == current->free_at)
    g_clear_pointer (&current->queue, sc_event_queue_free);
}

static void
test_free_event (gpointer data)
{
  TestEvent *ev = data;

  g_clear_pointer (&ev->payload, g_free);
  g_atomic_int_inc (&current->freed);
}

static void
post (ScEventQueue *queue, guint producer, guint seq)
{
  TestEvent ev = { producer, seq, g_strdup_printf ("%u/%u", producer, seq) };

  sc_event_queue_post (queue, &ev);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  current = f;
  f->context = g_main_context_new ();
  f->delivered = g_array_new (FALSE, FALSE, sizeof (TestEvent));
  f->queue = sc_event_queue_new (f->context, sizeof (TestEvent), test_deliver, test_free_event,
                                 NULL);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->queue, sc_event_queue_free);
  while (g_main_context_iteration (f->context, FALSE))
    ;
  g_main_context_unref (f->context);
  g_array_unref (f->delivered);
  current = NULL;
}

static TestEvent *
delivered_at (Fixture *f, guint i)
{
  return &g_array_index (f->delivered, TestEvent, i);
}

/* Events come out in the order they went in, each once, and nothing is
 * delivered before the context runs. */
static void
test_order_kept (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < 1000; i++)
    post (f->queue, 0, i);
  g_assert_cmpuint (f->delivered->len, ==, 0);
  while (g_main_context_iteration (f->context, FALSE))
    ;
  g_assert_cmpuint (f->delivered->len, ==, 1000);
  for (guint i = 0; i < 1000; i++)
    g_assert_cmpuint (delivered_at (f, i)->seq, ==, i);
  g_assert_cmpuint (f->freed, ==, 1000);
}

/* Everything posted before the context runs is taken by one dispatch: the
 * context has nothing left to do after one iteration. */
static void
test_one_wakeup_drains_batch (Fixture *f, gconstpointer data)
{
  for (guint round = 1; round <= 3; round++)
    {
      for (guint i = 0; i < 500; i++)
        post (f->queue, 0, i);
      g_assert_true (g_main_context_pending (f->context));
      g_assert_true (g_main_context_iteration (f->context, FALSE));
      g_assert_cmpuint (f->delivered->len, ==, 500 * round);
      g_assert_false (g_main_context_pending (f->context));
    }
}

/* A post from the thread that owns the context (here: the global default
 * context, which any thread that pushed no context of its own can acquire)
 * is delivered by the next iteration, never inside sc_event_queue_post:
 * the poster may hold a lock that the signal handlers take. */
static void
test_never_delivered_inside_post (Fixture *f, gconstpointer data)
{
  ScEventQueue *queue = sc_event_queue_new (g_main_context_default (), sizeof (TestEvent),
                                            test_deliver, test_free_event, NULL);

  g_assert_true (g_main_context_acquire (g_main_context_default ()));
  post (queue, 0, 0);
  g_assert_cmpuint (f->delivered->len, ==, 0);
  g_main_context_release (g_main_context_default ());
  post (queue, 0, 1); /* not owned, but acquirable: the same */
  g_assert_cmpuint (f->delivered->len, ==, 0);
  while (f->delivered->len < 2)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (delivered_at (f, 1)->seq, ==, 1);
  sc_event_queue_free (queue);
}

static gpointer
producer_main (gpointer data)
{
  ScEventQueue *queue = current->queue;
  guint producer = GPOINTER_TO_UINT (data);

  for (guint i = 0; i < PER_THREAD; i++)
    post (queue, producer, i);
  return NULL;
}

/* Producers in other threads, while the context drains: every event
 * arrives once, and each producer's events in the order it posted them. */
static void
test_posted_from_threads (Fixture *f, gconstpointer data)
{
  GThread *threads[N_THREADS];
  guint next[N_THREADS] = { 0 };

  for (guint t = 0; t < N_THREADS; t++)
    threads[t] = g_thread_new ("producer", producer_main, GUINT_TO_POINTER (t));
  while (f->delivered->len < N_THREADS * PER_THREAD)
    g_main_context_iteration (f->context, TRUE);
  for (guint t = 0; t < N_THREADS; t++)
    g_thread_join (threads[t]);
  while (g_main_context_iteration (f->context, FALSE))
    ;
  g_assert_cmpuint (f->delivered->len, ==, N_THREADS * PER_THREAD);
  for (guint i = 0; i < f->delivered->len; i++)
    {
      TestEvent *ev = delivered_at (f, i);

      g_assert_cmpuint (ev->producer, <, N_THREADS);
      g_assert_cmpuint (ev->seq, ==, next[ev->producer]);
      next[ev->producer]++;
    }
  g_assert_cmpuint (f->freed, ==, N_THREADS * PER_THREAD);
}

/* Freeing the queue releases what undelivered events own and delivers
 * none of them, though their drain was already scheduled. */
static void
test_free_drops_pending (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < 100; i++)
    post (f->queue, 0, i);
  g_clear_pointer (&f->queue, sc_event_queue_free);
  g_assert_cmpuint (f->freed, ==, 100);
  while (g_main_context_iteration (f->context, FALSE))
    ;
  g_assert_cmpuint (f->delivered->len, ==, 0);
}

/* A deliver function that frees the queue: the rest of the batch is
 * released, not delivered. */
static void
test_free_while_delivering (Fixture *f, gconstpointer data)
{
  f->free_at = 3;
  for (guint i = 0; i < 10; i++)
    post (f->queue, 0, i);
  while (g_main_context_iteration (f->context, FALSE))
    ;
  g_assert_null (f->queue);
  g_assert_cmpuint (f->delivered->len, ==, 3);
  g_assert_cmpuint (f->freed, ==, 10);
}

/* A scheduled drain keeps the owner alive: the owner's last reference may
 * go while events wait, and they are still delivered to it. */
static void
test_owner_kept_alive (Fixture *f, gconstpointer data)
{
  GObject *owner = g_object_new (G_TYPE_OBJECT, NULL);

  g_object_add_weak_pointer (owner, (gpointer *) &owner);
  g_clear_pointer (&f->queue, sc_event_queue_free);
  f->expected_owner = owner;
  f->queue = sc_event_queue_new (f->context, sizeof (TestEvent), test_deliver, test_free_event,
                                 owner);
  post (f->queue, 0, 0);
  g_object_unref (owner);
  g_assert_nonnull (owner); /* the drain's reference */
  while (g_main_context_iteration (f->context, FALSE))
    ;
  g_assert_cmpuint (f->delivered->len, ==, 1);
  g_assert_null (owner); /* the drain ran and let go */
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/event-queue/order-kept", test_order_kept);
  ADD ("/event-queue/one-wakeup-drains-batch", test_one_wakeup_drains_batch);
  ADD ("/event-queue/posted-from-threads", test_posted_from_threads);
  ADD ("/event-queue/free-drops-pending", test_free_drops_pending);
  ADD ("/event-queue/free-while-delivering", test_free_while_delivering);
  ADD ("/event-queue/owner-kept-alive", test_owner_kept_alive);
  ADD ("/event-queue/never-delivered-inside-post", test_never_delivered_inside_post);
#undef ADD
  return g_test_run ();
}
