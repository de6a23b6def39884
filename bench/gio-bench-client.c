/* gio-bench-client.c: the baseline client, plain blocking GIO in one
 * thread per connection: frames written with g_output_stream_write_all,
 * one write per frame or as many whole frames per write as fit in
 * GIO_BENCH_BATCH_BYTES.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "gio-bench.h"

#include <string.h>

typedef struct
{
  GioBenchOptions *opt;
  guint64 sent;
  GError *error;
} Worker;

static GIOStream *
connect_stream (GioBenchOptions *opt, GError **error)
{
  g_autoptr (GSocketClient) client = bench_socket_client_new (NULL);
  g_autoptr (GSocketConnection) sock = NULL;
  g_autoptr (GIOStream) tls = NULL;

  sock = g_socket_client_connect_to_host (client, "127.0.0.1", (guint16) opt->port, NULL, error);
  if (sock == NULL)
    return NULL;
  if (opt->nodelay)
    gio_bench_set_nodelay (sock);
  if (!opt->tls)
    return G_IO_STREAM (g_steal_pointer (&sock));
  tls = gio_bench_tls_wrap (opt, G_IO_STREAM (sock), FALSE, error);
  if (tls == NULL)
    return NULL;
  if (!g_tls_connection_handshake (G_TLS_CONNECTION (tls), NULL, error)
      || !gio_bench_tls_check_version (G_TLS_CONNECTION (tls), error))
    return NULL;
  return g_steal_pointer (&tls);
}

/* n frames of size bytes, back to back, ready to write. */
static guint8 *
frames_new (gsize size, gsize n, const guint8 *payload)
{
  guint8 *buf = g_malloc (n * (BENCH_FRAME_HEADER + size));

  for (gsize i = 0; i < n; i++)
    {
      guint8 *f = buf + i * (BENCH_FRAME_HEADER + size);

      bench_frame_header (f, (guint32) size);
      memcpy (f + BENCH_FRAME_HEADER, payload, size);
    }
  return buf;
}

/* Rate and bulk: frames until the deadline (rate) or the count (bulk). */
static gboolean
send_frames (GioBenchOptions *opt, GOutputStream *out, guint64 *sent, GError **error)
{
  gsize frame = BENCH_FRAME_HEADER + opt->size;
  gsize per_write = opt->batch ? MAX (1, GIO_BENCH_BATCH_BYTES / frame) : 1;
  g_autofree guint8 *payload = bench_payload_new (opt->size);
  g_autofree guint8 *buf = frames_new (opt->size, per_write, payload);
  gint64 deadline = bench_now_us () + (gint64) (opt->seconds * 1e6);
  gboolean bulk = opt->client_mode == GIO_BENCH_BULK;

  while (bulk ? *sent < opt->count : bench_now_us () < deadline)
    {
      gsize n = bulk ? MIN (per_write, opt->count - *sent) : per_write;

      /* Each message is copied into its frame, as an application would. */
      for (gsize i = 0; i < n; i++)
        memcpy (buf + i * frame + BENCH_FRAME_HEADER, payload, opt->size);
      if (!g_output_stream_write_all (out, buf, n * frame, NULL, NULL, error))
        return FALSE;
      *sent += n;
    }
  return TRUE;
}

static gpointer
sender_thread (gpointer data)
{
  Worker *w = data;
  g_autoptr (GIOStream) stream = connect_stream (w->opt, &w->error);

  if (stream == NULL)
    return NULL;
  if (send_frames (w->opt, g_io_stream_get_output_stream (stream), &w->sent, &w->error))
    g_io_stream_close (stream, NULL, &w->error);
  return NULL;
}

static int
run_senders (GioBenchOptions *opt)
{
  guint n = MAX (1, opt->clients);
  g_autofree Worker *workers = g_new0 (Worker, n);
  g_autofree GThread **threads = g_new0 (GThread *, n);
  guint64 sent = 0;
  int status = 0;

  for (guint i = 0; i < n; i++)
    {
      workers[i].opt = opt;
      threads[i] = g_thread_new ("sender", sender_thread, &workers[i]);
    }
  for (guint i = 0; i < n; i++)
    {
      g_thread_join (threads[i]);
      sent += workers[i].sent;
      if (workers[i].error != NULL)
        {
          g_printerr ("gio-bench client: %s\n", workers[i].error->message);
          g_error_free (workers[i].error);
          status = 1;
        }
    }
  bench_result ("sent=%" G_GUINT64_FORMAT, sent);
  return status;
}

static gboolean
read_frame (GInputStream *in, guint8 *buf, gsize size, GError **error)
{
  guint8 header[BENCH_FRAME_HEADER];

  if (!g_input_stream_read_all (in, header, sizeof header, NULL, NULL, error)
      || !g_input_stream_read_all (in, buf, bench_frame_length (header), NULL, NULL, error))
    return FALSE;
  return TRUE;
}

static int
run_rtt (GioBenchOptions *opt)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GIOStream) stream = connect_stream (opt, &error);
  g_autofree guint8 *payload = bench_payload_new (opt->size);
  g_autofree guint8 *frame = frames_new (opt->size, 1, payload);
  g_autofree guint8 *reply = g_malloc (opt->size);
  BenchSamples samples;
  gint64 deadline = bench_now_us () + (gint64) (opt->seconds * 1e6);
  gint64 warm_until = bench_now_us () + (gint64) (opt->seconds * 1e5);
  gboolean ok = stream != NULL;

  bench_samples_init (&samples);
  for (guint64 i = 0; ok && samples.us->len < opt->count && bench_now_us () < deadline; i++)
    {
      gint64 t0 = bench_now_us ();

      ok = g_output_stream_write_all (g_io_stream_get_output_stream (stream), frame,
                                      BENCH_FRAME_HEADER + opt->size, NULL, NULL, &error)
           && read_frame (g_io_stream_get_input_stream (stream), reply, opt->size, &error);
      if (ok && (i >= GIO_BENCH_RTT_WARMUP || t0 >= warm_until))
        bench_samples_add (&samples, (double) (bench_now_us () - t0));
    }
  if (ok)
    ok = bench_samples_report (&samples, opt->samples_path, &error);
  bench_samples_clear (&samples);
  if (!ok)
    g_printerr ("gio-bench client: %s\n", error->message);
  return ok ? 0 : 1;
}

static int
run_handshakes (GioBenchOptions *opt)
{
  gint64 start = bench_now_us (), deadline = start + (gint64) (opt->seconds * 1e6);
  guint64 n = 0;

  while (bench_now_us () < deadline)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GIOStream) stream = connect_stream (opt, &error);

      if (stream == NULL || !g_io_stream_close (stream, NULL, &error))
        {
          g_printerr ("gio-bench client: %s\n", error->message);
          return 1;
        }
      n++;
    }
  bench_result ("handshakes=%" G_GUINT64_FORMAT " seconds=%.6f per_s=%.1f", n,
                (bench_now_us () - start) / 1e6, n / ((bench_now_us () - start) / 1e6));
  return 0;
}

int
gio_bench_client_run (GioBenchOptions *opt)
{
  switch (opt->client_mode)
    {
    case GIO_BENCH_RATE:
    case GIO_BENCH_BULK:
      return run_senders (opt);
    case GIO_BENCH_RTT:
      return run_rtt (opt);
    case GIO_BENCH_HANDSHAKES:
      return run_handshakes (opt);
    default:
      break;
    }
  return 2;
}
