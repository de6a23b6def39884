/* scale-probe.c: what one main-loop iteration costs with many idle
 * descriptors and timers attached, through ScPoller (one epoll source per
 * context, as the channels use it) or through one GSource per descriptor
 * and per timer (as the channels did before).
 *
 *   scale-probe --mode poller|gsource --fds N --timers M --rounds K
 *
 * N idle socket pairs (2N descriptors: keep N below half the descriptor
 * limit) are watched for reading, M far-off deadlines are armed (watches
 * with no descriptor, or GLib timeout sources), and one more socket pair
 * is the active one: each round writes one byte to it and iterates the
 * context until its callback has read it. A round is one wake-up of the
 * loop; its duration is what an active client's message pays for the idle
 * ones. Prints
 *
 *   result mode=M fds=N timers=M rounds=K p50_us=.. p99_us=.. mean_us=..
 *
 * Not run by meson test (it measures). Until bench/meson.build lists it,
 * build it from a configured tree BUILD:
 *
 *   cc -O2 -IBUILD -I. -Isrc/lib -Isrc/protocol -Isrc/crypto \
 *      $(pkg-config --cflags gio-2.0 gio-unix-2.0) bench/scale-probe.c -o scale-probe \
 *      BUILD/src/lib/libsecurecomm-internal.a $(pkg-config --libs gio-2.0 gio-unix-2.0)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sc-poller.h"

/* s: the far-off deadlines (they never fire during a run) */
#define PROBE_TIMER_BASE_S 3600

typedef struct
{
  int fd;
  guint reads;
} Active;

static void
drain (int fd)
{
  char buf[64];

  while (read (fd, buf, sizeof buf) > 0)
    ;
}

static void
active_poll_cb (ScPollerWatch *watch, guint events, gpointer data)
{
  Active *a = data;

  drain (a->fd);
  a->reads++;
}

static gboolean
active_fd_cb (int fd, GIOCondition cond, gpointer data)
{
  Active *a = data;

  drain (a->fd);
  a->reads++;
  return G_SOURCE_CONTINUE;
}

static void
idle_poll_cb (ScPollerWatch *watch, guint events, gpointer data)
{
}

static gboolean
idle_fd_cb (int fd, GIOCondition cond, gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
never_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static void
socket_pair (int sv[2])
{
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
    {
      fprintf (stderr, "scale-probe: socketpair: %s (raise the descriptor limit?)\n",
               g_strerror (errno));
      exit (1);
    }
}

int
main (int argc, char **argv)
{
  g_autofree char *mode = NULL;
  int n_fds = 0, n_timers = 0, rounds = 2000;
  GOptionEntry entries[] = {
    { "mode", 0, 0, G_OPTION_ARG_STRING, &mode, "poller or gsource", "MODE" },
    { "fds", 0, 0, G_OPTION_ARG_INT, &n_fds, "Idle socket pairs", "N" },
    { "timers", 0, 0, G_OPTION_ARG_INT, &n_timers, "Idle deadlines", "M" },
    { "rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "Wake-ups measured", "K" },
    { NULL },
  };
  g_autoptr (GOptionContext) opts = g_option_context_new ("- main-loop iteration cost");
  g_autoptr (GError) error = NULL;
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (ScPoller) poller = NULL;
  g_autofree double *us = NULL;
  gboolean use_poller;
  int active_sv[2];
  Active active = { 0 };
  double sum = 0;
  gint64 now = g_get_monotonic_time ();

  g_option_context_add_main_entries (opts, entries, NULL);
  if (!g_option_context_parse (opts, &argc, &argv, &error) || n_fds < 0 || n_timers < 0
      || rounds < 1 || mode == NULL
      || (!g_str_equal (mode, "poller") && !g_str_equal (mode, "gsource")))
    {
      fprintf (stderr, "usage: scale-probe --mode poller|gsource [--fds N] [--timers M] "
                       "[--rounds K]\n");
      return 2;
    }
  use_poller = g_str_equal (mode, "poller");
  g_main_context_push_thread_default (context);
  if (use_poller)
    poller = sc_poller_get (context, NULL);
  for (int i = 0; i < n_fds; i++)
    {
      int sv[2];

      socket_pair (sv);
      if (use_poller)
        sc_poller_watch_set_fd (sc_poller_watch_new (poller, idle_poll_cb, NULL), sv[0], NULL);
      else
        {
          GSource *s = g_unix_fd_source_new (sv[0], G_IO_IN);

          g_source_set_callback (s, G_SOURCE_FUNC (idle_fd_cb), NULL, NULL);
          g_source_attach (s, context);
          g_source_unref (s);
        }
    }
  for (int i = 0; i < n_timers; i++)
    {
      gint64 due = now + (PROBE_TIMER_BASE_S + i % 1000) * G_USEC_PER_SEC;

      if (use_poller)
        sc_poller_watch_set_deadline (sc_poller_watch_new (poller, idle_poll_cb, NULL), due);
      else
        {
          GSource *s = g_timeout_source_new_seconds (PROBE_TIMER_BASE_S + i % 1000);

          g_source_set_callback (s, never_cb, NULL, NULL);
          g_source_attach (s, context);
          g_source_unref (s);
        }
    }
  socket_pair (active_sv);
  active.fd = active_sv[0];
  if (use_poller)
    sc_poller_watch_set_fd (sc_poller_watch_new (poller, active_poll_cb, &active), active.fd, NULL);
  else
    {
      GSource *s = g_unix_fd_source_new (active.fd, G_IO_IN);

      g_source_set_callback (s, G_SOURCE_FUNC (active_fd_cb), &active, NULL);
      g_source_attach (s, context);
      g_source_unref (s);
    }
  while (g_main_context_iteration (context, FALSE))
    ;

  us = g_new (double, rounds);
  for (int r = 0; r < rounds; r++)
    {
      guint before = active.reads;
      gint64 t0 = g_get_monotonic_time ();

      if (write (active_sv[1], "x", 1) != 1)
        return 1;
      while (active.reads == before)
        g_main_context_iteration (context, TRUE);
      us[r] = (double) (g_get_monotonic_time () - t0);
      sum += us[r];
    }
  qsort (us, (size_t) rounds, sizeof *us, cmp_double);
  printf ("result mode=%s fds=%d timers=%d rounds=%d p50_us=%.1f p99_us=%.1f mean_us=%.1f\n", mode,
          n_fds, n_timers, rounds, us[rounds / 2], us[(int) (rounds * 0.99)], sum / rounds);
  /* The idle watches and descriptors go with the process. */
  return 0;
}
