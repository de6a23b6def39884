/* bench-util.h: what every bench/ program shares.
 *
 * Each program prints its figures as one line on stdout that bench/run
 * parses:
 *
 *   result KEY=VALUE KEY=VALUE ...
 *
 * and a server, once it listens, prints `ready port=N ...` first. Both are
 * flushed at once. Diagnostics go to stderr. Times are microseconds of the
 * monotonic clock. Frames of the GIO baselines are a 4-byte big-endian
 * length followed by that many bytes.
 *
 * Benchmarks measure; nothing here asserts a time.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Exit status of a case that cannot run here (bench/run prints "n/a"). */
#define BENCH_EXIT_SKIP 77
/* Bytes of a frame header of the GIO baselines. */
#define BENCH_FRAME_HEADER 4u

gint64 bench_now_us (void);

/* Prints "result " and the formatted text as one line, flushed. */
void bench_result (const char *format, ...) G_GNUC_PRINTF (1, 2);
/* Prints "ready port=PORT" plus extra (may be NULL), flushed. */
void bench_ready (guint port, const char *extra);

/* ASCII text of len bytes (valid UTF-8, no NUL): the message payload. */
guint8 *bench_payload_new (gsize len);
/* Writes the frame header for len bytes into out[4]. */
void bench_frame_header (guint8 *out, guint32 len);
/* The length a frame header announces. */
guint32 bench_frame_length (const guint8 *header);

/* Round-trip samples in microseconds. */
typedef struct
{
  GArray *us; /* double */
} BenchSamples;

void bench_samples_init (BenchSamples *samples);
void bench_samples_clear (BenchSamples *samples);
void bench_samples_add (BenchSamples *samples, double us);
/* Prints the result line (samples, p50, p99, p999, mean, max in us) and,
 * when path is not NULL, writes every sample, one per line, to path. */
gboolean bench_samples_report (BenchSamples *samples, const char *path, GError **error);

/* VmRSS of a process in KiB (0 if unknown), and its user + system CPU time
 * in clock ticks (FALSE if unknown). pid 0: this process. */
guint64 bench_rss_kb (int pid);
gboolean bench_cpu_ticks (int pid, guint64 *ticks);

/* A GSocketClient bound to a local address (NULL: any). */
GSocketClient *bench_socket_client_new (const char *local_address);

G_END_DECLS
