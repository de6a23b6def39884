/* sc-bench-server.c: an ScServer whose message-received handler counts
 * (and with --echo answers) every message. Signals arrive in the main
 * context, where this runs its GMainLoop: what is counted is what an
 * application's handler would have had.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-bench.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct
{
  ScBenchOptions *opt;
  ScServer *server;
  GMainLoop *loop;
  guint64 msgs, bytes, echo_failures;
  gint64 first_us, last_us;
  guint done; /* clients that disconnected */
} Server;

static void
report (Server *s)
{
  double secs = (s->last_us - s->first_us) / 1e6;

  bench_result ("msgs=%" G_GUINT64_FORMAT " bytes=%" G_GUINT64_FORMAT
                " seconds=%.6f msgs_per_s=%.1f mb_per_s=%.3f echo_failures=%" G_GUINT64_FORMAT,
                s->msgs, s->bytes, secs, secs > 0 ? s->msgs / secs : 0,
                secs > 0 ? s->bytes / secs / 1e6 : 0, s->echo_failures);
}

static void
on_message (ScServer *server, const char *client_id, GBytes *message, gpointer data)
{
  Server *s = data;
  gint64 now = bench_now_us ();

  if (s->msgs == 0)
    s->first_us = now;
  s->last_us = now;
  s->msgs++;
  s->bytes += g_bytes_get_size (message);
  if (s->opt->echo && !sc_server_send_bytes (server, client_id, message, NULL, NULL))
    s->echo_failures++;
}

static void
on_disconnected (ScServer *server, const char *client_id, const char *reason, gpointer data)
{
  Server *s = data;

  if (s->opt->clients == 0 || ++s->done < s->opt->clients)
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
  g_signal_connect (s.server, "message-received", G_CALLBACK (on_message), &s);
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
