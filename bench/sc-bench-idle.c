/* sc-bench-idle.c: many idle SecureComm sessions from one process.
 *
 * An ScClient costs a thread, so the idle sessions are ScChannels (the
 * library's own session driver, which ScClient wraps) spread over
 * --threads worker threads, each with its own GMainContext, so that no
 * client context polls more than sessions/threads sockets. Connections
 * come from --sources local addresses 127.0.0.2, 127.0.0.3, ... and at
 * most --window connections are being set up at once (ScServer listens
 * with GLib's default backlog of 10: more at once overflow it, and each
 * dropped SYN costs the client a 1 s retransmission). Connecting stops
 * at --sessions sessions or after --seconds, whichever comes first; then
 * the server's VmRSS (from /proc/PID/status) and its CPU use over
 * IDLE_CPU_WINDOW_S are read and printed:
 *
 *   result sessions=N failed=F connect_s=S rss_before_kb=A rss_after_kb=B
 *          rss_per_session_b=R server_cpu_pct=C
 *
 * The sessions then stay, answering heartbeats, until SIGTERM.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-bench.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sc-channel.h"

/* consecutive connect failures after which a thread stops trying */
#define IDLE_MAX_CONNECT_FAILURES 50
/* s: how long the server's CPU use is sampled once the sessions are up */
#define IDLE_CPU_WINDOW_S 3

typedef struct _IdleRun IdleRun;

typedef struct
{
  IdleRun *run;
  guint index;
  GMainContext *context;
  GThread *thread;
  guint target;
  guint opened, in_flight, up, failed, lost;
  guint connect_failures;
  GPtrArray *channels; /* ScChannel, for the life of the process */
} IdleWorker;

typedef struct
{
  IdleWorker *worker;
  gboolean handshaken;
} IdleSession;

struct _IdleRun
{
  ScBenchOptions *opt;
  ScSessionConfig config;
  guint8 pin[SC_SHA256_LEN];
  gint64 deadline_us;
  guint window; /* per thread */
  GMutex lock;
  GCond cond;
  guint connecting; /* workers still connecting */
};

static int
verify_server (void *data, const ScPeerIdentity *peer)
{
  IdleSession *session = data;

  return memcmp (peer->fingerprint, session->worker->run->pin, SC_SHA256_LEN) == 0 ? 0 : -1;
}

static void
on_handshake_done (ScChannel *channel, gpointer data)
{
  IdleSession *session = data;

  session->handshaken = TRUE;
  session->worker->in_flight--;
  session->worker->up++;
}

static void
on_closed (ScChannel *channel, const GError *error, const char *reason, gpointer data)
{
  IdleSession *session = data;
  IdleWorker *w = session->worker;

  if (session->handshaken)
    {
      w->up--;
      w->lost++;
    }
  else
    {
      w->in_flight--;
      w->failed++;
    }
  g_printerr ("sc-bench idle: a session ended: %s\n", reason);
}

static const ScChannelCallbacks idle_callbacks = {
  .handshake_done = on_handshake_done,
  .closed = on_closed,
};

/* Opens one more connection and starts its handshake. */
static void
open_one (IdleWorker *w, GSocketClient *sock_client, GSocketConnectable *server)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnection) conn = g_socket_client_connect (sock_client, server, NULL, &error);
  IdleSession *session;
  ScChannel *channel;

  w->opened++;
  if (conn == NULL)
    {
      if (w->connect_failures++ == 0)
        g_printerr ("sc-bench idle: connect: %s\n", error->message);
      w->failed++;
      return;
    }
  w->connect_failures = 0;
  session = g_new0 (IdleSession, 1);
  session->worker = w;
  channel = sc_channel_new (G_IO_STREAM (conn), w->context, &w->run->config, verify_server,
                            &idle_callbacks, session, &error);
  if (channel == NULL)
    {
      g_printerr ("sc-bench idle: %s\n", error->message);
      g_free (session);
      w->failed++;
      return;
    }
  g_ptr_array_add (w->channels, channel);
  w->in_flight++;
  sc_channel_start (channel);
}

static gboolean
worker_may_open (IdleWorker *w)
{
  return w->opened < w->target && w->in_flight < w->run->window
         && w->connect_failures < IDLE_MAX_CONNECT_FAILURES
         && bench_now_us () < w->run->deadline_us;
}

static void
worker_connect (IdleWorker *w)
{
  IdleRun *run = w->run;
  g_autofree char *local = g_strdup_printf ("127.0.0.%u", 2 + w->index % run->opt->sources);
  g_autoptr (GSocketClient) sock_client = bench_socket_client_new (local);
  g_autoptr (GSocketConnectable) server = NULL;
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);

  server = G_SOCKET_CONNECTABLE (g_inet_socket_address_new (lo, (guint16) run->opt->port));
  for (;;)
    {
      while (worker_may_open (w))
        open_one (w, sock_client, server);
      if (w->in_flight == 0 && !worker_may_open (w))
        break;
      g_main_context_iteration (w->context, TRUE);
    }
}

static gpointer
worker_main (gpointer data)
{
  IdleWorker *w = data;

  g_main_context_push_thread_default (w->context);
  worker_connect (w);
  g_mutex_lock (&w->run->lock);
  w->run->connecting--;
  g_cond_broadcast (&w->run->cond);
  g_mutex_unlock (&w->run->lock);
  for (;;) /* answer heartbeats until the process ends */
    g_main_context_iteration (w->context, TRUE);
  return NULL;
}

static gboolean
parse_pin (const char *hex, guint8 out[SC_SHA256_LEN])
{
  if (hex == NULL || strlen (hex) != 2 * SC_SHA256_LEN)
    return FALSE;
  for (guint i = 0; i < SC_SHA256_LEN; i++)
    {
      int hi = g_ascii_xdigit_value (hex[2 * i]), lo = g_ascii_xdigit_value (hex[2 * i + 1]);

      if (hi < 0 || lo < 0)
        return FALSE;
      out[i] = (guint8) (hi << 4 | lo);
    }
  return TRUE;
}

static double
server_cpu_pct (int pid)
{
  guint64 t0, t1;
  gint64 start = bench_now_us ();

  if (pid <= 0 || !bench_cpu_ticks (pid, &t0))
    return -1;
  g_usleep (IDLE_CPU_WINDOW_S * G_USEC_PER_SEC);
  if (!bench_cpu_ticks (pid, &t1))
    return -1;
  return 100.0 * (t1 - t0) / sysconf (_SC_CLK_TCK) / ((bench_now_us () - start) / 1e6);
}

static void
report (IdleRun *run, IdleWorker *workers, guint64 rss_before, gint64 start_us)
{
  guint up = 0, failed = 0, lost = 0;
  double connect_s = (bench_now_us () - start_us) / 1e6;
  guint64 rss_after;

  g_usleep (G_USEC_PER_SEC); /* let the server settle */
  rss_after = bench_rss_kb (run->opt->server_pid);
  for (guint i = 0; i < run->opt->threads; i++)
    {
      up += workers[i].up; /* read racily: the counts are settled now */
      failed += workers[i].failed;
      lost += workers[i].lost;
    }
  bench_result ("sessions=%u failed=%u lost=%u connect_s=%.3f rss_before_kb=%" G_GUINT64_FORMAT
                " rss_after_kb=%" G_GUINT64_FORMAT " rss_per_session_b=%.0f server_cpu_pct=%.2f",
                up, failed, lost, connect_s, rss_before, rss_after,
                up > 0 && rss_after > rss_before ? (rss_after - rss_before) * 1024.0 / up : 0,
                server_cpu_pct (run->opt->server_pid));
}

static gboolean
on_term (gpointer data)
{
  fflush (stdout);
  _exit (0);
  return G_SOURCE_REMOVE;
}

int
sc_bench_idle_run (ScBenchOptions *opt)
{
  IdleRun run = { .opt = opt };
  g_autofree IdleWorker *workers = g_new0 (IdleWorker, opt->threads);
  guint64 rss_before = bench_rss_kb (opt->server_pid);
  gint64 start = bench_now_us ();
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);

  if (!parse_pin (opt->pin, run.pin))
    return sc_bench_fail ("--pin", NULL);
  sc_session_config_init (&run.config, SC_ROLE_CLIENT);
  run.deadline_us = start + (gint64) (opt->seconds * 1e6);
  run.window = MAX (1, opt->window / opt->threads);
  g_mutex_init (&run.lock);
  g_cond_init (&run.cond);
  run.connecting = opt->threads;
  for (guint i = 0; i < opt->threads; i++)
    {
      workers[i] = (IdleWorker) {
        .run = &run, .index = i, .context = g_main_context_new (), .channels = g_ptr_array_new ()
      };
      workers[i].target = opt->sessions / opt->threads + (i < opt->sessions % opt->threads);
      workers[i].thread = g_thread_new ("idle", worker_main, &workers[i]);
    }
  g_mutex_lock (&run.lock);
  while (run.connecting > 0)
    g_cond_wait (&run.cond, &run.lock);
  g_mutex_unlock (&run.lock);
  report (&run, workers, rss_before, start);
  g_unix_signal_add (SIGTERM, on_term, NULL);
  g_main_loop_run (loop);
  return 0;
}
