/* gio-bench.h: the GIO baselines, plain TCP and GTlsConnection.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "bench-util.h"

G_BEGIN_DECLS

typedef enum
{
  GIO_BENCH_SINK,      /* count frames until every client has gone */
  GIO_BENCH_ECHO,      /* send every frame back */
  GIO_BENCH_HANDSHAKE, /* count TLS handshakes; read until the client closes */
} GioBenchServerMode;

typedef enum
{
  GIO_BENCH_RATE,       /* frames of size bytes, as fast as possible, for seconds */
  GIO_BENCH_BULK,       /* count frames of size bytes */
  GIO_BENCH_RTT,        /* ping-pong of size bytes: count samples, at most seconds */
  GIO_BENCH_HANDSHAKES, /* connect, TLS handshake, close, for seconds */
} GioBenchClientMode;

typedef struct
{
  gboolean tls;
  GTlsCertificate *certificate; /* server */
  GTlsDatabase *database;       /* built once, shared by every connection */
  guint port;
  guint clients; /* server: how many to wait for (0: run until killed); client: threads */
  GioBenchServerMode server_mode;
  GioBenchClientMode client_mode;
  gsize size;
  gboolean nodelay; /* TCP_NODELAY on both ends */
  gboolean batch;   /* client: as many frames per write as fit in GIO_BENCH_BATCH_BYTES */
  double seconds;
  guint64 count;
  char *samples_path;
} GioBenchOptions;

/* bytes: what one batched write carries at most (frames are whole). */
#define GIO_BENCH_BATCH_BYTES 65536u
/* Round trips before the samples start counting (or the first tenth of
 * the allowed time, if that ends sooner). */
#define GIO_BENCH_RTT_WARMUP 200u

int gio_bench_server_run (GioBenchOptions *opt);
int gio_bench_client_run (GioBenchOptions *opt);
/* Forces TLS 1.3 without session tickets (every handshake is full): call
 * before the first TLS object exists. */
void gio_bench_tls_setup (void);
/* A TLS connection over base with the shared database (and, for a server,
 * the certificate) set from the start. */
GIOStream *gio_bench_tls_wrap (GioBenchOptions *opt, GIOStream *base, gboolean server,
                               GError **error);
void gio_bench_set_nodelay (GSocketConnection *conn);
gboolean gio_bench_tls_check_version (GTlsConnection *tls, GError **error);

G_END_DECLS
