/* gio-bench-server.c: the baseline server. One GSocketService, async
 * streams, one GMainLoop: each connection reads into a buffer and parses
 * length-prefixed frames; a frame counts when it is whole (the handler
 * "has" it). Echo mode queues each frame back with one async write at a
 * time. In TLS mode each connection is first a GTlsServerConnection whose
 * async handshake must finish; the database is the one built at start.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "gio-bench.h"

#include <glib-unix.h>
#include <signal.h>
#include <string.h>

/* bytes: one read */
#define READ_CHUNK (256u * 1024u)

typedef struct
{
  GioBenchOptions *opt;
  GMainLoop *loop;
  guint64 frames, bytes, handshakes;
  gint64 first_us, last_us;
  guint done; /* clients that closed */
  gboolean tls13_seen, other_tls_seen;
} Server;

typedef struct
{
  Server *server;
  GIOStream *stream;
  guint8 *buf;
  guint8 header[BENCH_FRAME_HEADER];
  gsize header_have;
  gsize remaining;     /* payload bytes still to come of the current frame */
  GByteArray *frame;   /* echo mode: the current frame, header included */
  GByteArray *pending; /* echo mode: frames waiting for the write */
  GByteArray *writing; /* echo mode: the frames being written */
} Conn;

static void conn_read (Conn *conn);

static void
conn_free (Conn *conn)
{
  g_object_unref (conn->stream);
  g_free (conn->buf);
  g_byte_array_unref (conn->frame);
  g_byte_array_unref (conn->pending);
  g_clear_pointer (&conn->writing, g_byte_array_unref);
  g_free (conn);
}

static void
server_report (Server *s)
{
  double secs = (s->last_us - s->first_us) / 1e6;

  bench_result ("frames=%" G_GUINT64_FORMAT " bytes=%" G_GUINT64_FORMAT
                " seconds=%.6f msgs_per_s=%.1f mb_per_s=%.3f tls13=%d",
                s->frames, s->bytes, secs, secs > 0 ? s->frames / secs : 0,
                secs > 0 ? s->bytes / secs / 1e6 : 0, s->tls13_seen && !s->other_tls_seen);
}

/* The client closed: the connection is over. */
static void
conn_done (Conn *conn)
{
  Server *s = conn->server;

  g_io_stream_close (conn->stream, NULL, NULL);
  conn_free (conn);
  s->done++;
  if (s->opt->clients > 0 && s->done == s->opt->clients)
    {
      server_report (s);
      g_main_loop_quit (s->loop);
    }
}

static void on_written (GObject *source, GAsyncResult *result, gpointer data);

static void
echo_flush (Conn *conn)
{
  GOutputStream *out = g_io_stream_get_output_stream (conn->stream);

  if (conn->writing != NULL || conn->pending->len == 0)
    return;
  conn->writing = conn->pending;
  conn->pending = g_byte_array_new ();
  g_output_stream_write_all_async (out, conn->writing->data, conn->writing->len, G_PRIORITY_DEFAULT,
                                   NULL, on_written, conn);
}

static void
on_written (GObject *source, GAsyncResult *result, gpointer data)
{
  Conn *conn = data;
  g_autoptr (GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    g_printerr ("gio-bench server: write failed: %s\n", error->message);
  g_clear_pointer (&conn->writing, g_byte_array_unref);
  echo_flush (conn);
}

/* A whole frame of len payload bytes arrived. */
static void
on_frame (Conn *conn, gsize len)
{
  Server *s = conn->server;
  gint64 now = bench_now_us ();

  if (s->frames == 0)
    s->first_us = now;
  s->last_us = now;
  s->frames++;
  s->bytes += len;
  if (s->opt->server_mode == GIO_BENCH_ECHO)
    {
      g_byte_array_append (conn->pending, conn->frame->data, conn->frame->len);
      echo_flush (conn);
    }
  g_byte_array_set_size (conn->frame, 0);
}

/* Feeds n received bytes to the frame parser. */
static void
conn_parse (Conn *conn, const guint8 *p, gsize n)
{
  gboolean echo = conn->server->opt->server_mode == GIO_BENCH_ECHO;

  while (n > 0)
    {
      if (conn->header_have < BENCH_FRAME_HEADER)
        {
          gsize take = MIN (n, BENCH_FRAME_HEADER - conn->header_have);

          memcpy (conn->header + conn->header_have, p, take);
          conn->header_have += take;
          p += take, n -= take;
          if (conn->header_have < BENCH_FRAME_HEADER)
            return;
          conn->remaining = bench_frame_length (conn->header);
          if (echo)
            g_byte_array_append (conn->frame, conn->header, BENCH_FRAME_HEADER);
        }
      else
        {
          gsize take = MIN (n, conn->remaining);

          if (echo)
            g_byte_array_append (conn->frame, p, take);
          conn->remaining -= take;
          p += take, n -= take;
        }
      if (conn->header_have == BENCH_FRAME_HEADER && conn->remaining == 0)
        {
          on_frame (conn, bench_frame_length (conn->header));
          conn->header_have = 0;
        }
    }
}

static void
on_read (GObject *source, GAsyncResult *result, gpointer data)
{
  Conn *conn = data;
  g_autoptr (GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (n <= 0)
    {
      if (n < 0)
        g_printerr ("gio-bench server: read failed: %s\n", error->message);
      conn_done (conn);
      return;
    }
  conn_parse (conn, conn->buf, (gsize) n);
  conn_read (conn);
}

static void
conn_read (Conn *conn)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (conn->stream), conn->buf, READ_CHUNK,
                             G_PRIORITY_DEFAULT, NULL, on_read, conn);
}

static void
on_handshake (GObject *source, GAsyncResult *result, gpointer data)
{
  Conn *conn = data;
  Server *s = conn->server;
  g_autoptr (GError) error = NULL;

  if (!g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), result, &error))
    {
      g_printerr ("gio-bench server: handshake failed: %s\n", error->message);
      conn_done (conn);
      return;
    }
  if (gio_bench_tls_check_version (G_TLS_CONNECTION (source), NULL))
    s->tls13_seen = TRUE;
  else
    s->other_tls_seen = TRUE;
  s->handshakes++;
  conn_read (conn);
}

static Conn *
conn_new (Server *s, GIOStream *stream)
{
  Conn *conn = g_new0 (Conn, 1);

  conn->server = s;
  conn->stream = stream;
  conn->buf = g_malloc (READ_CHUNK);
  conn->frame = g_byte_array_new ();
  conn->pending = g_byte_array_new ();
  return conn;
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *sock, GObject *source, gpointer data)
{
  Server *s = data;
  g_autoptr (GError) error = NULL;
  GIOStream *tls;

  if (s->opt->nodelay)
    gio_bench_set_nodelay (sock);
  if (!s->opt->tls)
    {
      conn_read (conn_new (s, G_IO_STREAM (g_object_ref (sock))));
      return TRUE;
    }
  tls = gio_bench_tls_wrap (s->opt, G_IO_STREAM (sock), TRUE, &error);
  if (tls == NULL)
    {
      g_printerr ("gio-bench server: %s\n", error->message);
      return TRUE;
    }
  g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT, NULL, on_handshake,
                                    conn_new (s, tls));
  return TRUE;
}

static gboolean
on_term (gpointer data)
{
  Server *s = data;

  if (s->opt->server_mode == GIO_BENCH_HANDSHAKE)
    bench_result ("handshakes=%" G_GUINT64_FORMAT, s->handshakes);
  g_main_loop_quit (s->loop);
  return G_SOURCE_REMOVE;
}

int
gio_bench_server_run (GioBenchOptions *opt)
{
  g_autoptr (GSocketService) service = g_socket_service_new ();
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) want = g_inet_socket_address_new (lo, (guint16) opt->port);
  g_autoptr (GSocketAddress) got = NULL;
  g_autoptr (GError) error = NULL;
  Server s = { .opt = opt };

  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (service), want, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, NULL, &got, &error))
    {
      g_printerr ("gio-bench server: %s\n", error->message);
      return 1;
    }
  s.loop = g_main_loop_new (NULL, FALSE);
  g_signal_connect (service, "incoming", G_CALLBACK (on_incoming), &s);
  g_socket_service_start (service);
  g_unix_signal_add (SIGTERM, on_term, &s);
  bench_ready (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (got)), NULL);
  g_main_loop_run (s.loop);
  g_socket_service_stop (service);
  g_main_loop_unref (s.loop);
  return 0;
}
