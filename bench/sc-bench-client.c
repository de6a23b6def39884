/* sc-bench-client.c: ScClients doing what the seed's users do. Senders
 * call sc_client_send_message (or, with --bytes, sc_client_send_bytes) in
 * a loop, waiting with sc_client_wait_for_room when the library reports
 * back pressure (SC_ERROR_BUSY), then wait for every message to be
 * acknowledged before shutting down. The round-trip client sends the next
 * ping from its message handler, in the client's I/O thread
 * (sc_client_set_message_handler); with --signal from its message-received
 * signal handler in the main thread, one thread hop more per round trip.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-bench.h"

#include <glib-unix.h>
#include <signal.h>

static ScClient *
connect_client (ScBenchOptions *opt, GError **error)
{
  g_autoptr (ScTlsConfig) tls = sc_bench_tls_config (opt, FALSE);
  g_autoptr (ScClient) client = sc_client_new (tls);

  sc_client_set_pinned_fingerprint (client, opt->pin);
  if (!sc_client_establish_secure_session (client, "127.0.0.1", (guint16) opt->port, NULL, error))
    return NULL;
  return g_steal_pointer (&client);
}

/* One message, retried while the library says it is busy. */
static gboolean
send_one (ScBenchOptions *opt, ScClient *client, const char *text, GBytes *bytes, guint64 *busy,
          GError **error)
{
  for (;;)
    {
      g_autoptr (GError) local = NULL;
      gboolean ok = opt->bytes_api ? sc_client_send_bytes (client, bytes, NULL, &local)
                                   : sc_client_send_message (client, text, &local);

      if (ok)
        return TRUE;
      if (!g_error_matches (local, SC_ERROR, SC_ERROR_BUSY))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      (*busy)++;
      /* until an acknowledgement makes room (a bound, not a guess) */
      sc_client_wait_for_room (client, opt->size, SC_BENCH_ROOM_WAIT_MS);
    }
}

typedef struct
{
  ScBenchOptions *opt;
  guint64 sent, busy;
  GError *error;
  int status;
} Sender;

static gboolean
send_all (Sender *w, ScClient *client)
{
  ScBenchOptions *opt = w->opt;
  g_autofree guint8 *payload = bench_payload_new (opt->size);
  g_autoptr (GBytes) bytes = g_bytes_new_static (payload, opt->size);
  gint64 deadline = bench_now_us () + (gint64) (opt->seconds * 1e6);
  gboolean counted = opt->mode == SC_BENCH_BULK || opt->count != (guint64) G_MAXINT64;

  while (counted ? w->sent < opt->count : bench_now_us () < deadline)
    {
      if (!send_one (opt, client, (const char *) payload, bytes, &w->busy, &w->error))
        return FALSE;
      w->sent++;
    }
  return sc_client_flush (client, (guint) (opt->flush_seconds * 1000), &w->error);
}

static gpointer
sender_thread (gpointer data)
{
  Sender *w = data;
  g_autoptr (ScClient) client = connect_client (w->opt, &w->error);

  if (client == NULL)
    return NULL;
  send_all (w, client);
  sc_client_shutdown (client);
  return NULL;
}

static int
run_senders (ScBenchOptions *opt)
{
  guint n = MAX (1, opt->clients);
  g_autofree Sender *senders = g_new0 (Sender, n);
  g_autofree GThread **threads = g_new0 (GThread *, n);
  guint64 sent = 0, busy = 0;
  int status = 0;

  for (guint i = 0; i < n; i++)
    {
      senders[i].opt = opt;
      threads[i] = g_thread_new ("sender", sender_thread, &senders[i]);
    }
  for (guint i = 0; i < n; i++)
    {
      g_thread_join (threads[i]);
      sent += senders[i].sent;
      busy += senders[i].busy;
      if (senders[i].error != NULL)
        {
          status = MAX (status, sc_bench_fail ("sender", senders[i].error));
          g_error_free (senders[i].error);
        }
    }
  bench_result ("sent=%" G_GUINT64_FORMAT " busy_waits=%" G_GUINT64_FORMAT, sent, busy);
  return status;
}

/* ---- round trips ------------------------------------------------------- */

typedef struct
{
  ScBenchOptions *opt;
  ScClient *client;
  GMainLoop *loop;
  GBytes *ping;
  BenchSamples samples;
  guint64 round;
  gint64 sent_us, warm_until_us, deadline_us;
  gint stopped; /* atomic: the guard fired, pongs are ignored */
  GError *error;
} Pinger;

static void
ping (Pinger *p)
{
  p->sent_us = bench_now_us ();
  if (!sc_client_send_bytes (p->client, p->ping, NULL, &p->error))
    g_main_loop_quit (p->loop);
}

static gboolean
on_guard (gpointer data)
{
  Pinger *p = data;

  if (g_atomic_int_compare_and_exchange (&p->stopped, 0, 1))
    g_set_error_literal (&p->error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "no answer from the server");
  g_main_loop_quit (p->loop);
  return G_SOURCE_REMOVE;
}

/* In the main thread (message-received) or the I/O thread (the handler). */
static void
on_pong (ScClient *client, GBytes *message, gpointer data)
{
  Pinger *p = data;
  gint64 now = bench_now_us ();

  if (g_atomic_int_get (&p->stopped))
    return;
  if (p->round++ >= SC_BENCH_RTT_WARMUP || now >= p->warm_until_us)
    bench_samples_add (&p->samples, (double) (now - p->sent_us));
  if (p->samples.us->len >= p->opt->count || now >= p->deadline_us)
    {
      g_atomic_int_set (&p->stopped, 1);
      g_main_loop_quit (p->loop);
    }
  else
    ping (p);
}

static int
run_rtt (ScBenchOptions *opt, gboolean use_signal)
{
  g_autofree guint8 *payload = bench_payload_new (opt->size);
  Pinger p = { .opt = opt };
  int status = 0;

  p.client = connect_client (opt, &p.error);
  if (p.client == NULL)
    return sc_bench_fail ("cannot connect", p.error);
  p.loop = g_main_loop_new (NULL, FALSE);
  p.ping = g_bytes_new_static (payload, opt->size);
  bench_samples_init (&p.samples);
  if (use_signal)
    {
      g_signal_connect (p.client, "message-received", G_CALLBACK (on_pong), &p);
      sc_client_start_listening (p.client);
    }
  else
    sc_client_set_message_handler (p.client, on_pong, &p, NULL);
  p.deadline_us = bench_now_us () + (gint64) (opt->seconds * 1e6);
  p.warm_until_us = bench_now_us () + (gint64) (opt->seconds * 1e5);
  /* Only a guard against a server that stopped answering. */
  g_timeout_add_seconds ((guint) opt->seconds + 30, on_guard, &p);
  ping (&p);
  g_main_loop_run (p.loop);
  sc_client_set_message_handler (p.client, NULL, NULL, NULL);
  sc_client_shutdown (p.client); /* no handler call is under way after it */
  if (p.error != NULL || !bench_samples_report (&p.samples, opt->samples_path, &p.error))
    status = sc_bench_fail ("round trips", p.error);
  g_object_unref (p.client);
  g_bytes_unref (p.ping);
  bench_samples_clear (&p.samples);
  g_main_loop_unref (p.loop);
  g_clear_error (&p.error);
  return status;
}

/* ---- handshakes -------------------------------------------------------- */

static int
run_handshakes (ScBenchOptions *opt)
{
  gint64 start = bench_now_us (), deadline = start + (gint64) (opt->seconds * 1e6);
  guint64 n = 0;
  double secs;

  while (bench_now_us () < deadline)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (ScClient) client = connect_client (opt, &error);

      if (client == NULL)
        return sc_bench_fail ("handshake", error);
      sc_client_shutdown (client);
      g_clear_object (&client);
      /* What the client queued for this thread's context (its state
       * changes) holds it until emitted, as an application's loop would. */
      while (g_main_context_iteration (NULL, FALSE))
        ;
      n++;
    }
  secs = (bench_now_us () - start) / 1e6;
  bench_result ("handshakes=%" G_GUINT64_FORMAT " seconds=%.6f per_s=%.1f", n, secs, n / secs);
  return 0;
}

/* ---- sink: a client that stays and counts ------------------------------ */

/* The daemon's SendMessage case sends to it: it counts in its message
 * handler, in the I/O thread, so that it takes as little of the machine
 * as it can from the daemon being measured (--signal: in the signal). */
typedef struct
{
  GMainLoop *loop;
  gsize received; /* atomic (pointer-sized) */
} Sink;

static void
on_sink_message (ScClient *client, GBytes *message, gpointer data)
{
  g_atomic_pointer_add (&((Sink *) data)->received, 1);
}

static gboolean
on_sink_term (gpointer data)
{
  g_main_loop_quit (((Sink *) data)->loop);
  return G_SOURCE_REMOVE;
}

static int
run_sink (ScBenchOptions *opt)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ScClient) client = connect_client (opt, &error);
  Sink sink = { 0 };

  if (client == NULL)
    return sc_bench_fail ("cannot connect", error);
  sink.loop = g_main_loop_new (NULL, FALSE);
  if (opt->use_signal)
    g_signal_connect (client, "message-received", G_CALLBACK (on_sink_message), &sink);
  else
    sc_client_set_message_handler (client, on_sink_message, &sink, NULL);
  sc_client_start_listening (client);
  g_unix_signal_add (SIGTERM, on_sink_term, &sink);
  bench_ready (opt->port, "connected=1");
  g_main_loop_run (sink.loop);
  sc_client_shutdown (client);
  bench_result ("received=%" G_GUINT64_FORMAT, (guint64) g_atomic_pointer_get (&sink.received));
  g_main_loop_unref (sink.loop);
  return 0;
}

int
sc_bench_client_run (ScBenchOptions *opt)
{
  switch (opt->mode)
    {
    case SC_BENCH_RATE:
    case SC_BENCH_BULK:
      return run_senders (opt);
    case SC_BENCH_RTT:
      return run_rtt (opt, opt->use_signal);
    case SC_BENCH_HANDSHAKES:
      return run_handshakes (opt);
    case SC_BENCH_SINK:
      return run_sink (opt);
    case SC_BENCH_IDLE:
    case SC_BENCH_RESUME:
    case SC_BENCH_FULL:
    default:
      break;
    }
  return 2;
}
