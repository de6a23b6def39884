/* test-poller.c: the epoll-backed event source of the channels (sc-poller.h):
 * edge-triggered descriptors, the deadline heap, wake-ups from any thread,
 * and watches destroyed while a dispatch is under way. Real pipes and
 * socket pairs in a private GMainContext; no timing assertions.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sc-poller.h"

/* s: a test that waits longer than this for an event fails instead of
 * hanging (a bound, not a measurement). */
#define TEST_WAIT_LIMIT_S 20

typedef struct
{
  GMainContext *context;
  ScPoller *poller;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->context = g_main_context_new ();
  f->poller = sc_poller_get (f->context, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->poller);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_assert_cmpuint (sc_poller_get_n_watches (f->poller), ==, 0);
  sc_poller_unref (f->poller);
  while (g_main_context_iteration (f->context, FALSE))
    ;
  g_main_context_unref (f->context);
}

static gboolean
limit_reached (gpointer data)
{
  g_error ("no event within %d s", TEST_WAIT_LIMIT_S);
  return G_SOURCE_REMOVE;
}

/* Iterates the context (blocking) until *done says so. */
static void
iterate_until (Fixture *f, const gboolean *done)
{
  GSource *limit = g_timeout_source_new_seconds (TEST_WAIT_LIMIT_S);

  g_source_set_callback (limit, limit_reached, NULL, NULL);
  g_source_attach (limit, f->context);
  while (!*done)
    g_main_context_iteration (f->context, TRUE);
  g_source_destroy (limit);
  g_source_unref (limit);
}

/* Iterates without blocking until nothing is left to dispatch. */
static void
iterate_pending (Fixture *f)
{
  for (int i = 0; i < 100 && g_main_context_iteration (f->context, FALSE); i++)
    ;
}

static void
make_pipe (int fds[2])
{
  g_assert_cmpint (pipe (fds), ==, 0);
  for (int i = 0; i < 2; i++)
    {
      g_assert_cmpint (fcntl (fds[i], F_SETFL, O_NONBLOCK), ==, 0);
      g_assert_cmpint (fcntl (fds[i], F_SETFD, FD_CLOEXEC), ==, 0);
    }
}

/* ---- descriptors -------------------------------------------------------- */

typedef struct
{
  ScPollerWatch *watch;
  int fd;
  guint calls;
  guint events;
  gsize bytes;
  gboolean eof;
} Reader;

/* Reads until the pipe would block, as the edge-triggered contract asks. */
static void
reader_cb (ScPollerWatch *watch, guint events, gpointer data)
{
  Reader *r = data;
  char buf[64];
  gssize n;

  g_assert_true (watch == r->watch);
  r->calls++;
  r->events |= events;
  while ((n = read (r->fd, buf, sizeof buf)) > 0)
    r->bytes += (gsize) n;
  if (n == 0)
    r->eof = TRUE;
  else
    g_assert_cmpint (errno, ==, EAGAIN);
}

#define N_PIPES 300

/* Of many watched pipes, exactly those written to are reported, each once
 * per write however many bytes, and nothing more until new bytes come. */
static void
test_many_fds_only_ready_reported (Fixture *f, gconstpointer data)
{
  int fds[N_PIPES][2];
  Reader readers[N_PIPES] = { 0 };
  gboolean done = FALSE;
  guint expected = 0, seen;

  for (guint i = 0; i < N_PIPES; i++)
    {
      g_autoptr (GError) error = NULL;

      make_pipe (fds[i]);
      readers[i].fd = fds[i][0];
      readers[i].watch = sc_poller_watch_new (f->poller, reader_cb, &readers[i]);
      g_assert_true (sc_poller_watch_set_fd (readers[i].watch, fds[i][0], &error));
      g_assert_no_error (error);
    }
  g_assert_cmpuint (sc_poller_get_n_watches (f->poller), ==, N_PIPES);
  for (guint i = 0; i < N_PIPES; i += 7)
    {
      g_assert_cmpint (write (fds[i][1], "abc", 3), ==, 3);
      expected++;
    }
  while (!done) /* more than SC_POLLER_BATCH: several dispatches */
    {
      seen = 0;
      g_main_context_iteration (f->context, TRUE);
      for (guint i = 0; i < N_PIPES; i++)
        seen += readers[i].calls;
      done = seen == expected;
    }
  iterate_pending (f);
  for (guint i = 0; i < N_PIPES; i++)
    {
      g_assert_cmpuint (readers[i].calls, ==, i % 7 == 0 ? 1 : 0);
      g_assert_cmpuint (readers[i].bytes, ==, i % 7 == 0 ? 3 : 0);
      if (i % 7 == 0)
        g_assert_true (readers[i].events & SC_POLLER_IN);
    }
  /* New bytes: a new edge. */
  g_assert_cmpint (write (fds[7][1], "x", 1), ==, 1);
  while (readers[7].calls < 2)
    g_main_context_iteration (f->context, TRUE);
  g_assert_cmpuint (readers[7].bytes, ==, 4);
  for (guint i = 0; i < N_PIPES; i++)
    {
      sc_poller_watch_destroy (readers[i].watch);
      close (fds[i][0]);
      close (fds[i][1]);
    }
}

/* The writer closing its end shows as an event, and the read sees EOF. */
static void
test_hangup_reported (Fixture *f, gconstpointer data)
{
  int fds[2];
  Reader r = { 0 };

  make_pipe (fds);
  r.fd = fds[0];
  r.watch = sc_poller_watch_new (f->poller, reader_cb, &r);
  g_assert_true (sc_poller_watch_set_fd (r.watch, fds[0], NULL));
  close (fds[1]);
  iterate_until (f, &r.eof);
  g_assert_true (r.events & (SC_POLLER_IN | SC_POLLER_ERROR));
  sc_poller_watch_destroy (r.watch);
  close (fds[0]);
}

typedef struct
{
  ScPollerWatch *watch;
  guint out_events;
} Writer;

static void
writer_cb (ScPollerWatch *watch, guint events, gpointer data)
{
  Writer *w = data;

  if (events & SC_POLLER_OUT)
    w->out_events++;
}

/* Writability comes only while asked for, and asking again re-arms it. */
static void
test_want_out_rearms (Fixture *f, gconstpointer data)
{
  int sv[2];
  Writer w = { 0 };
  gboolean done = FALSE;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), ==, 0);
  w.watch = sc_poller_watch_new (f->poller, writer_cb, &w);
  g_assert_true (sc_poller_watch_set_fd (w.watch, sv[0], NULL));
  iterate_pending (f);
  g_assert_cmpuint (w.out_events, ==, 0); /* not asked for */
  sc_poller_watch_want_out (w.watch, TRUE);
  while (!done)
    {
      g_main_context_iteration (f->context, TRUE);
      done = w.out_events == 1;
    }
  iterate_pending (f);
  g_assert_cmpuint (w.out_events, ==, 1); /* edge-triggered: once */
  sc_poller_watch_want_out (w.watch, FALSE);
  sc_poller_watch_want_out (w.watch, TRUE);
  done = FALSE;
  while (!done)
    {
      g_main_context_iteration (f->context, TRUE);
      done = w.out_events == 2;
    }
  sc_poller_watch_destroy (w.watch);
  close (sv[0]);
  close (sv[1]);
}

/* ---- deadlines ---------------------------------------------------------- */

#define N_TIMERS 200

typedef struct
{
  ScPollerWatch *watch;
  gint64 deadline_us;
  guint fired;
  GArray *order; /* of gint64 deadlines, shared */
  guint rearm;   /* times to set a new deadline from the callback */
} Timer;

static void
timer_cb (ScPollerWatch *watch, guint events, gpointer data)
{
  Timer *t = data;

  g_assert_true (events & SC_POLLER_TIMER);
  /* Never early. */
  g_assert_cmpint (g_get_monotonic_time (), >=, t->deadline_us);
  t->fired++;
  if (t->order != NULL)
    g_array_append_val (t->order, t->deadline_us);
  if (t->rearm > 0)
    {
      t->rearm--;
      t->deadline_us = g_get_monotonic_time () + 1000;
      sc_poller_watch_set_deadline (watch, t->deadline_us);
    }
}

/* Expired deadlines fire in deadline order, across several dispatches;
 * moved deadlines fire at their new time, cleared ones never. */
static void
test_timers_fire_in_deadline_order (Fixture *f, gconstpointer data)
{
  g_autoptr (GArray) order = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autofree Timer *t = g_new0 (Timer, N_TIMERS);
  GRand *rand = g_rand_new_with_seed (6);
  gint64 base = g_get_monotonic_time () - 10 * G_USEC_PER_SEC;
  guint cleared = 0, fired = 0;

  for (guint i = 0; i < N_TIMERS; i++)
    {
      t[i].order = order;
      t[i].watch = sc_poller_watch_new (f->poller, timer_cb, &t[i]);
      t[i].deadline_us = base + g_rand_int_range (rand, 0, 1000000);
      sc_poller_watch_set_deadline (t[i].watch, t[i].deadline_us);
    }
  /* Move some earlier, some later (still in the past), clear some. */
  for (guint i = 0; i < N_TIMERS; i += 3)
    {
      t[i].deadline_us = base + g_rand_int_range (rand, 0, 1000000);
      sc_poller_watch_set_deadline (t[i].watch, t[i].deadline_us);
    }
  for (guint i = 1; i < N_TIMERS; i += 10)
    {
      sc_poller_watch_set_deadline (t[i].watch, -1);
      cleared++;
    }
  while (order->len < N_TIMERS - cleared)
    g_main_context_iteration (f->context, TRUE);
  iterate_pending (f);
  g_assert_cmpuint (order->len, ==, N_TIMERS - cleared);
  for (guint i = 1; i < order->len; i++)
    g_assert_cmpint (g_array_index (order, gint64, i - 1), <=, g_array_index (order, gint64, i));
  for (guint i = 0; i < N_TIMERS; i++)
    {
      g_assert_cmpuint (t[i].fired, ==, i % 10 == 1 ? 0 : 1);
      fired += t[i].fired;
      sc_poller_watch_destroy (t[i].watch);
    }
  g_assert_cmpuint (fired, ==, order->len);
  g_rand_free (rand);
}

/* A future deadline fires once it passes (the context sleeps until then),
 * and a callback may set its next deadline. */
static void
test_timer_rearms_from_callback (Fixture *f, gconstpointer data)
{
  Timer t = { .rearm = 3 };
  gboolean done = FALSE;

  t.watch = sc_poller_watch_new (f->poller, timer_cb, &t);
  t.deadline_us = g_get_monotonic_time () + 2000;
  sc_poller_watch_set_deadline (t.watch, t.deadline_us);
  while (!done)
    {
      g_main_context_iteration (f->context, TRUE);
      done = t.fired == 4;
    }
  iterate_pending (f);
  g_assert_cmpuint (t.fired, ==, 4);
  sc_poller_watch_destroy (t.watch);
}

/* Deadlines moved later (which keep their old place in the heap until it
 * comes up) fire at their new time, never at the old one, and in order. */
static void
test_timer_moved_later_not_early (Fixture *f, gconstpointer data)
{
  g_autoptr (GArray) order = g_array_new (FALSE, FALSE, sizeof (gint64));
  Timer t[3] = { { .order = order }, { .order = order }, { .order = order } };
  gint64 now = g_get_monotonic_time ();

  for (guint i = 0; i < G_N_ELEMENTS (t); i++)
    {
      t[i].watch = sc_poller_watch_new (f->poller, timer_cb, &t[i]);
      sc_poller_watch_set_deadline (t[i].watch, now + 1000);
    }
  /* Later, later still, and back earlier than the first new time. */
  t[0].deadline_us = now + 30000;
  t[1].deadline_us = now + 50000;
  t[2].deadline_us = now + 20000;
  sc_poller_watch_set_deadline (t[0].watch, now + 40000);
  sc_poller_watch_set_deadline (t[0].watch, t[0].deadline_us);
  sc_poller_watch_set_deadline (t[1].watch, t[1].deadline_us);
  sc_poller_watch_set_deadline (t[2].watch, now + 60000);
  sc_poller_watch_set_deadline (t[2].watch, t[2].deadline_us);
  while (order->len < G_N_ELEMENTS (t))
    g_main_context_iteration (f->context, TRUE);
  g_assert_cmpint (g_array_index (order, gint64, 0), ==, t[2].deadline_us);
  g_assert_cmpint (g_array_index (order, gint64, 1), ==, t[0].deadline_us);
  g_assert_cmpint (g_array_index (order, gint64, 2), ==, t[1].deadline_us);
  for (guint i = 0; i < G_N_ELEMENTS (t); i++)
    {
      g_assert_cmpuint (t[i].fired, ==, 1);
      sc_poller_watch_destroy (t[i].watch);
    }
}

/* ---- destroying watches during a dispatch ------------------------------- */

typedef struct
{
  ScPollerWatch *watch;
  ScPollerWatch **victims; /* destroyed by this one's callback */
  guint n_victims;
  gboolean self_destroy;
  guint calls;
} Killer;

static void
killer_cb (ScPollerWatch *watch, guint events, gpointer data)
{
  Killer *k = data;

  k->calls++;
  for (guint i = 0; i < k->n_victims; i++)
    if (k->victims[i] != NULL)
      {
        sc_poller_watch_destroy (k->victims[i]);
        k->victims[i] = NULL;
      }
  if (k->self_destroy)
    {
      sc_poller_watch_destroy (k->watch);
      k->watch = NULL;
    }
}

/* Every watch is due in the same dispatch (expired deadlines, ready
 * descriptors, wake-ups); the first to run destroys all the others and
 * itself: none of the others runs, and nothing is touched after its free
 * (ASan watches that). */
static void
test_destroy_during_dispatch (Fixture *f, gconstpointer data)
{
  enum
  {
    N = 12
  };
  Killer k[N] = { 0 };
  ScPollerWatch *victims[N];
  int fds[N][2];
  gint64 past = g_get_monotonic_time () - G_USEC_PER_SEC;
  guint calls = 0;

  for (guint i = 0; i < N; i++)
    {
      k[i].watch = sc_poller_watch_new (f->poller, killer_cb, &k[i]);
      make_pipe (fds[i]);
      if (i % 3 == 0)
        sc_poller_watch_set_deadline (k[i].watch, past);
      else if (i % 3 == 1)
        {
          g_assert_true (sc_poller_watch_set_fd (k[i].watch, fds[i][0], NULL));
          g_assert_cmpint (write (fds[i][1], "z", 1), ==, 1);
        }
      else
        sc_poller_watch_wake (k[i].watch);
    }
  /* Whichever runs first destroys every watch, itself included. */
  for (guint j = 0; j < N; j++)
    victims[j] = k[j].watch;
  for (guint i = 0; i < N; i++)
    {
      k[i].victims = victims;
      k[i].n_victims = N;
    }
  while (calls == 0)
    {
      g_main_context_iteration (f->context, TRUE);
      calls = 0;
      for (guint i = 0; i < N; i++)
        calls += k[i].calls;
    }
  iterate_pending (f);
  g_assert_cmpuint (calls, ==, 1);
  g_assert_cmpuint (sc_poller_get_n_watches (f->poller), ==, 0);
  for (guint i = 0; i < N; i++)
    {
      close (fds[i][0]);
      close (fds[i][1]);
    }
}

/* A watch destroying itself from its callback, with more events pending in
 * the same dispatch for it, gets no second call. */
static void
test_self_destroy_in_callback (Fixture *f, gconstpointer data)
{
  int fds[2];
  Killer k = { .self_destroy = TRUE };

  make_pipe (fds);
  k.watch = sc_poller_watch_new (f->poller, killer_cb, &k);
  g_assert_true (sc_poller_watch_set_fd (k.watch, fds[0], NULL));
  g_assert_cmpint (write (fds[1], "z", 1), ==, 1);
  sc_poller_watch_set_deadline (k.watch, g_get_monotonic_time () - 1);
  sc_poller_watch_wake (k.watch);
  while (k.calls == 0)
    g_main_context_iteration (f->context, TRUE);
  g_assert_cmpint (write (fds[1], "z", 1), ==, 1);
  iterate_pending (f);
  g_assert_cmpuint (k.calls, ==, 1);
  close (fds[0]);
  close (fds[1]);
}

/* ---- wake-ups ----------------------------------------------------------- */

typedef struct
{
  ScPollerWatch *watch;
  guint wakes;
} Waker;

static void
waker_cb (ScPollerWatch *watch, guint events, gpointer data)
{
  Waker *w = data;

  g_assert_cmpuint (events, ==, SC_POLLER_WAKE);
  w->wakes++;
}

static gpointer
wake_thread (gpointer data)
{
  sc_poller_watch_wake (data);
  return NULL;
}

/* Wake-ups before the callback runs count as one; one from another thread
 * wakes a context asleep in poll. */
static void
test_wake_coalesces_and_crosses_threads (Fixture *f, gconstpointer data)
{
  Waker w = { 0 };
  gboolean done = FALSE;
  GThread *thread;

  w.watch = sc_poller_watch_new (f->poller, waker_cb, &w);
  sc_poller_watch_wake (w.watch);
  sc_poller_watch_wake (w.watch);
  sc_poller_watch_wake (w.watch);
  iterate_pending (f);
  g_assert_cmpuint (w.wakes, ==, 1);

  g_main_context_acquire (f->context); /* the other thread is not the owner */
  thread = g_thread_new ("waker", wake_thread, w.watch);
  while (!done)
    {
      g_main_context_iteration (f->context, TRUE);
      done = w.wakes == 2;
    }
  g_thread_join (thread);
  g_main_context_release (f->context);
  sc_poller_watch_destroy (w.watch);
}

/* A watch destroyed while woken is not called. */
static void
test_destroy_while_woken (Fixture *f, gconstpointer data)
{
  Waker w = { 0 };

  w.watch = sc_poller_watch_new (f->poller, waker_cb, &w);
  sc_poller_watch_wake (w.watch);
  sc_poller_watch_destroy (w.watch);
  iterate_pending (f);
  g_assert_cmpuint (w.wakes, ==, 0);
}

/* One poller per context; each its own. */
static void
test_one_poller_per_context (Fixture *f, gconstpointer data)
{
  g_autoptr (GMainContext) other = g_main_context_new ();
  g_autoptr (ScPoller) again = sc_poller_get (f->context, NULL);
  g_autoptr (ScPoller) elsewhere = sc_poller_get (other, NULL);

  g_assert_true (again == f->poller);
  g_assert_true (elsewhere != f->poller);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, func) g_test_add (name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/poller/fd/many-only-ready-reported", test_many_fds_only_ready_reported);
  ADD ("/poller/fd/hangup-reported", test_hangup_reported);
  ADD ("/poller/fd/want-out-rearms", test_want_out_rearms);
  ADD ("/poller/timer/fire-in-deadline-order", test_timers_fire_in_deadline_order);
  ADD ("/poller/timer/rearm-from-callback", test_timer_rearms_from_callback);
  ADD ("/poller/timer/moved-later-not-early", test_timer_moved_later_not_early);
  ADD ("/poller/destroy/others-during-dispatch", test_destroy_during_dispatch);
  ADD ("/poller/destroy/self-in-callback", test_self_destroy_in_callback);
  ADD ("/poller/destroy/while-woken", test_destroy_while_woken);
  ADD ("/poller/wake/coalesces-and-crosses-threads", test_wake_coalesces_and_crosses_threads);
  ADD ("/poller/context/one-per-context", test_one_poller_per_context);
#undef ADD
  return g_test_run ();
}
