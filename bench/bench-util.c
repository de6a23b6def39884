/* bench-util.c: results, payloads, frames, samples and /proc readers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "bench-util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gint64
bench_now_us (void)
{
  return g_get_monotonic_time ();
}

void
bench_result (const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  printf ("result %s\n", text);
  fflush (stdout);
}

void
bench_ready (guint port, const char *extra)
{
  printf ("ready port=%u%s%s\n", port, extra ? " " : "", extra ? extra : "");
  fflush (stdout);
}

guint8 *
bench_payload_new (gsize len)
{
  guint8 *p = g_malloc (len + 1);

  for (gsize i = 0; i < len; i++)
    p[i] = (guint8) ('a' + i % 26);
  p[len] = '\0';
  return p;
}

void
bench_frame_header (guint8 *out, guint32 len)
{
  out[0] = (guint8) (len >> 24);
  out[1] = (guint8) (len >> 16);
  out[2] = (guint8) (len >> 8);
  out[3] = (guint8) len;
}

guint32
bench_frame_length (const guint8 *h)
{
  return ((guint32) h[0] << 24) | ((guint32) h[1] << 16) | ((guint32) h[2] << 8) | h[3];
}

void
bench_samples_init (BenchSamples *samples)
{
  samples->us = g_array_sized_new (FALSE, FALSE, sizeof (double), 4096);
}

void
bench_samples_clear (BenchSamples *samples)
{
  g_clear_pointer (&samples->us, g_array_unref);
}

void
bench_samples_add (BenchSamples *samples, double us)
{
  g_array_append_val (samples->us, us);
}

static int
compare_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values: the smallest value with at
 * least p of the samples at or below it. */
static double
percentile (GArray *sorted, double p)
{
  gsize rank = (gsize) (p * sorted->len + 0.999999);

  if (rank < 1)
    rank = 1;
  if (rank > sorted->len)
    rank = sorted->len;
  return g_array_index (sorted, double, rank - 1);
}

static gboolean
write_samples (GArray *us, const char *path, GError **error)
{
  g_autoptr (GString) text = g_string_sized_new (us->len * 8);

  for (guint i = 0; i < us->len; i++)
    g_string_append_printf (text, "%.1f\n", g_array_index (us, double, i));
  return g_file_set_contents (path, text->str, (gssize) text->len, error);
}

gboolean
bench_samples_report (BenchSamples *samples, const char *path, GError **error)
{
  GArray *us = samples->us;
  double sum = 0;

  if (us->len == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "no round trip completed");
      return FALSE;
    }
  if (path != NULL && !write_samples (us, path, error))
    return FALSE;
  g_array_sort (us, compare_double);
  for (guint i = 0; i < us->len; i++)
    sum += g_array_index (us, double, i);
  bench_result ("samples=%u p50_us=%.1f p99_us=%.1f p999_us=%.1f mean_us=%.1f max_us=%.1f", us->len,
                percentile (us, 0.50), percentile (us, 0.99), percentile (us, 0.999), sum / us->len,
                g_array_index (us, double, us->len - 1));
  return TRUE;
}

static char *
proc_file (int pid, const char *name)
{
  g_autofree char *path = pid > 0 ? g_strdup_printf ("/proc/%d/%s", pid, name)
                                  : g_strdup_printf ("/proc/self/%s", name);
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  return contents;
}

guint64
bench_rss_kb (int pid)
{
  g_autofree char *status = proc_file (pid, "status");
  const char *line = status ? strstr (status, "\nVmRSS:") : NULL;

  if (line == NULL)
    return 0;
  return g_ascii_strtoull (line + strlen ("\nVmRSS:"), NULL, 10);
}

gboolean
bench_cpu_ticks (int pid, guint64 *ticks)
{
  g_autofree char *stat = proc_file (pid, "stat");
  const char *p = stat ? strrchr (stat, ')') : NULL;
  g_auto (GStrv) fields = NULL;

  if (p == NULL)
    return FALSE;
  /* After "pid (comm)": state is field 3; utime and stime are 14 and 15. */
  fields = g_strsplit (p + 2, " ", 16);
  if (g_strv_length (fields) < 14)
    return FALSE;
  *ticks = g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10);
  return TRUE;
}

GSocketClient *
bench_socket_client_new (const char *local_address)
{
  GSocketClient *client = g_socket_client_new ();

  if (local_address != NULL)
    {
      g_autoptr (GInetAddress) inet = g_inet_address_new_from_string (local_address);
      g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (inet, 0);

      g_socket_client_set_local_address (client, addr);
    }
  return client;
}
