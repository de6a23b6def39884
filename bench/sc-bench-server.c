/* sc-bench-server.c: an ScServer whose message handler counts (and with
 * --echo answers) every message: by default the handler of
 * sc_server_set_message_handler(), called in the server's I/O worker
 * threads (several at once with several clients, hence the atomic
 * counters); with --signal the message-received signal, emitted in the
 * main context where this runs its GMainLoop. Either way what is counted
 * is what an application's handler would have had.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-bench.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct
{
  ScBenchOptions *opt;
  ScServer *server;
  GMainLoop *loop;
  /* Updated by the handler, in any worker; read after the last client
   * disconnected (every message of a client is handled before that). */
  _Atomic guint64 msgs, bytes, echo_failures;
  _Atomic gint64 first_us, last_us;
  guint done; /* clients that disconnected */
} Server;

static void
report (Server *s)
{
  guint64 msgs = atomic_load (&s->msgs), bytes = atomic_load (&s->bytes);
  double secs = (atomic_load (&s->last_us) - atomic_load (&s->first_us)) / 1e6;

  bench_result ("msgs=%" G_GUINT64_FORMAT " bytes=%" G_GUINT64_FORMAT
                " seconds=%.6f msgs_per_s=%.1f mb_per_s=%.3f echo_failures=%" G_GUINT64_FORMAT,
                msgs, bytes, secs, secs > 0 ? msgs / secs : 0, secs > 0 ? bytes / secs / 1e6 : 0,
                (guint64) atomic_load (&s->echo_failures));
}

/* The message handler (in a worker) or the message-received signal (in the
 * main context, with --signal). */
static void
on_message (ScServer *server, const char *client_id, GBytes *message, gpointer data)
{
  Server *s = data;
  gint64 now = bench_now_us (), none = 0;

  if (atomic_load_explicit (&s->first_us, memory_order_relaxed) == 0)
    atomic_compare_exchange_strong_explicit (&s->first_us, &none, now, memory_order_relaxed,
                                             memory_order_relaxed);
  atomic_store_explicit (&s->last_us, now, memory_order_relaxed);
  atomic_fetch_add_explicit (&s->msgs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit (&s->bytes, g_bytes_get_size (message), memory_order_relaxed);
  if (s->opt->echo && !sc_server_send_bytes (server, client_id, message, NULL, NULL))
    atomic_fetch_add_explicit (&s->echo_failures, 1, memory_order_relaxed);
}

static void
on_disconnected (ScServer *server, const char *client_id, const char *reason, gpointer data)
{
  Server *s = data;

  if (++s->done < s->opt->clients)
    return;
  report (s);
  g_main_loop_quit (s->loop);
}

/* SIGTERM: leave at once. Closing thousands of idle sessions one by one
 * is not what is measured. */
static gboolean
on_term (gpointer data)
{
  fflush (stdout);
  _exit (0);
  return G_SOURCE_REMOVE;
}

static void
apply_limits (ScServer *server, ScBenchOptions *opt)
{
  if (opt->workers > 0)
    g_object_set (server, "workers", opt->workers, NULL);
  if (opt->max_clients > 0)
    g_object_set (server, "max-clients", opt->max_clients, NULL);
  if (opt->max_per_source > 0)
    g_object_set (server, "max-per-source", opt->max_per_source, NULL);
  if (opt->max_handshakes > 0)
    g_object_set (server, "max-handshakes", opt->max_handshakes, NULL);
  if (opt->max_message_size > 0)
    g_object_set (server, "max-message-size", opt->max_message_size, NULL);
}

int
sc_bench_server_run (ScBenchOptions *opt)
{
  g_autoptr (ScTlsConfig) tls = sc_bench_tls_config (opt, TRUE);
  g_autoptr (GError) error = NULL;
  g_autofree char *extra = NULL;
  Server s = { .opt = opt };

  s.server = sc_server_new ("127.0.0.1", 0, tls);
  apply_limits (s.server, opt);
  if (opt->use_signal)
    g_signal_connect (s.server, "message-received", G_CALLBACK (on_message), &s);
  else
    sc_server_set_message_handler (s.server, on_message, &s, NULL);
  /* Only a server that waits for its clients to leave listens for it: a
   * signal nobody is connected to costs the main context nothing. */
  if (opt->clients > 0)
    g_signal_connect (s.server, "client-disconnected", G_CALLBACK (on_disconnected), &s);
  if (!sc_server_start (s.server, &error))
    return sc_bench_fail ("cannot start the server", error);
  s.loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGTERM, on_term, &s);
  extra = g_strdup_printf ("fingerprint=%s pid=%d",
                           sc_identity_get_fingerprint (sc_server_get_identity (s.server)),
                           (int) getpid ());
  bench_ready (sc_server_get_port (s.server), extra);
  g_main_loop_run (s.loop);
  sc_server_shutdown (s.server);
  g_object_unref (s.server);
  g_main_loop_unref (s.loop);
  return 0;
}
