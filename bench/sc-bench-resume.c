/* sc-bench-resume.c: handshakes per second through ScChannel, resumed with
 * the ticket of the previous connection or (--full) full every time.
 *
 * ScClient resumes only when its connection is lost, so this drives
 * ScChannel (what ScClient wraps) itself: connect, handshake, take the
 * server's ticket, then drop the connection without a CLOSE, as a lost
 * connection looks, so that the server keeps the stream; the next
 * connection presents the ticket. With --full each connection is closed
 * cleanly and the next handshake is full: the same loop, so the two
 * figures compare like with like. One connection at a time, for --seconds:
 *
 *   result handshakes=N resumed=R seconds=S per_s=P
 *
 * where per_s counts the handshakes of the kind asked for. Exit status 77
 * when the server issues no tickets (resumption off).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-bench.h"

#include <string.h>

#include "sc-channel.h"
#include "sc-identity-private.h"

/* s: how long one handshake (and its ticket) may take before we give up */
#define RESUME_GUARD_S 10

typedef struct
{
  ScBenchOptions *opt;
  GMainContext *context;
  ScSessionConfig config;
  ScResumption *ticket; /* secure memory */
  gboolean have_ticket;
  guint64 full, resumed;
  /* the current connection */
  gboolean handshaken, ticket_arrived, closed;
  char *close_reason;
} Resumer;

static int
verify_server (void *data, const ScPeerIdentity *peer)
{
  Resumer *r = data;
  char hex[2 * SC_SHA256_LEN + 1];

  sc_hex_format (peer->fingerprint, SC_SHA256_LEN, hex);
  return g_ascii_strcasecmp (hex, r->opt->pin) == 0 ? 0 : -1;
}

static void
on_handshake_done (ScChannel *channel, gpointer data)
{
  ((Resumer *) data)->handshaken = TRUE;
}

static void
on_ticket (ScChannel *channel, gpointer data)
{
  ((Resumer *) data)->ticket_arrived = TRUE;
}

static void
on_closed (ScChannel *channel, const GError *error, const char *reason, gpointer data)
{
  Resumer *r = data;

  r->closed = TRUE;
  g_free (r->close_reason);
  r->close_reason = g_strdup (reason);
}

static const ScChannelCallbacks resume_callbacks = {
  .handshake_done = on_handshake_done,
  .ticket = on_ticket,
  .closed = on_closed,
};

/* Runs the context until done () or the guard time (a ticking source in
 * the context wakes it to look at the clock). */
static gboolean
iterate_until (Resumer *r, gboolean (*done) (Resumer *))
{
  gint64 guard = bench_now_us () + RESUME_GUARD_S * G_USEC_PER_SEC;

  while (!done (r) && bench_now_us () < guard)
    g_main_context_iteration (r->context, TRUE);
  return done (r);
}

static gboolean
tick (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
handshake_settled (Resumer *r)
{
  return r->closed || (r->handshaken && (r->opt->mode != SC_BENCH_RESUME || r->ticket_arrived));
}

static gboolean
is_closed (Resumer *r)
{
  return r->closed;
}

/* After the handshake: count it, keep the ticket, end the connection. */
static void
finish_connection (Resumer *r, ScChannel *channel)
{
  ScChannelHandshake hs;
  guint32 lifetime;

  sc_channel_get_handshake (channel, &hs);
  if (hs.resumed)
    r->resumed++;
  else
    r->full++;
  if (r->opt->mode == SC_BENCH_RESUME)
    {
      r->have_ticket = sc_channel_take_ticket (channel, r->ticket, &lifetime);
      r->ticket->recv_id = r->ticket->sent_id = 0; /* no messages on this stream */
      sc_channel_abort (channel, "dropped on purpose, to resume");
    }
  else
    sc_channel_close (channel, SC_CLOSE_NORMAL, "done");
  iterate_until (r, is_closed);
}

static gboolean
one_handshake (Resumer *r, GSocketClient *sock_client, GSocketConnectable *server, GError **error)
{
  g_autoptr (GSocketConnection) conn = g_socket_client_connect (sock_client, server, NULL, error);
  g_autoptr (ScChannel) channel = NULL;

  if (conn == NULL)
    return FALSE;
  r->config.resumption = r->have_ticket ? r->ticket : NULL;
  r->handshaken = r->ticket_arrived = r->closed = FALSE;
  channel = sc_channel_new (G_IO_STREAM (conn), r->context, &r->config, verify_server,
                            &resume_callbacks, r, error);
  if (channel == NULL)
    return FALSE;
  sc_channel_start (channel);
  if (!iterate_until (r, handshake_settled) || !r->handshaken || r->closed)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "no handshake%s: %s",
                   r->handshaken ? " ticket" : "", r->close_reason ? r->close_reason : "timeout");
      if (!r->closed)
        sc_channel_abort (channel, "bench: gave up");
      iterate_until (r, is_closed);
      return FALSE;
    }
  finish_connection (r, channel);
  return TRUE;
}

static int
run_loop (Resumer *r)
{
  g_autoptr (GSocketClient) sock_client = bench_socket_client_new (NULL);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) server = g_inet_socket_address_new (lo, (guint16) r->opt->port);
  gint64 start = bench_now_us (), deadline = start + (gint64) (r->opt->seconds * 1e6);
  gboolean resume = r->opt->mode == SC_BENCH_RESUME;
  double secs;

  while (bench_now_us () < deadline)
    {
      g_autoptr (GError) error = NULL;

      if (!one_handshake (r, sock_client, G_SOCKET_CONNECTABLE (server), &error))
        return sc_bench_fail ("handshake", error);
      if (resume && !r->have_ticket)
        {
          g_printerr ("sc-bench: the server issued no resumption ticket\n");
          return BENCH_EXIT_SKIP;
        }
    }
  secs = (bench_now_us () - start) / 1e6;
  bench_result (
      "handshakes=%" G_GUINT64_FORMAT " resumed=%" G_GUINT64_FORMAT " seconds=%.6f per_s=%.1f",
      r->full + r->resumed, r->resumed, secs, (resume ? r->resumed : r->full + r->resumed) / secs);
  return 0;
}

int
sc_bench_resume_run (ScBenchOptions *opt)
{
  Resumer r = { .opt = opt };
  GSource *ticker = g_timeout_source_new (100);
  int status;

  if (strlen (opt->pin) != 2 * SC_SHA256_LEN)
    {
      g_source_unref (ticker);
      return sc_bench_fail ("--pin", NULL);
    }
  r.context = g_main_context_new ();
  g_main_context_push_thread_default (r.context);
  g_source_set_callback (ticker, tick, NULL, NULL);
  g_source_attach (ticker, r.context);
  sc_session_config_init (&r.config, SC_ROLE_CLIENT);
  r.ticket = sc_secure_alloc (sizeof *r.ticket);
  status = r.ticket != NULL ? run_loop (&r) : 1;
  sc_secure_free (r.ticket, sizeof *r.ticket);
  g_free (r.close_reason);
  g_source_destroy (ticker);
  g_source_unref (ticker);
  g_main_context_pop_thread_default (r.context);
  g_main_context_unref (r.context);
  return status;
}
