/* sc-bench.h: SecureComm through libsecurecomm, for bench/run.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "bench-util.h"
#include "securecomm.h"

G_BEGIN_DECLS

typedef enum
{
  SC_BENCH_RATE,       /* messages of size bytes for seconds (or count of them) */
  SC_BENCH_BULK,       /* count messages of size bytes (sc_client_send_bytes) */
  SC_BENCH_RTT,        /* ping-pong: count samples, at most seconds */
  SC_BENCH_HANDSHAKES, /* new client, handshake, shutdown, for seconds */
  SC_BENCH_IDLE,       /* hold many idle sessions (sc-bench-idle.c) */
  SC_BENCH_SINK,       /* stay connected and count what the server sends */
  SC_BENCH_RESUME,     /* ScChannel handshakes, resumed (sc-bench-resume.c) */
  SC_BENCH_FULL,       /* the same loop, every handshake full */
} ScBenchMode;

typedef struct
{
  guint port;
  char *pin;                         /* client: the server key's fingerprint */
  char *tls_cert, *tls_key, *tls_ca; /* TLS mode: server cert and key; client CA */
  /* server */
  gboolean echo;
  gboolean use_signal; /* count in message-received, not in a message handler */
  guint clients;       /* server: to wait for (0: until SIGTERM); client: in parallel */
  guint workers, max_clients, max_per_source, max_handshakes, max_message_size;
  /* client */
  ScBenchMode mode;
  gsize size;
  double seconds;
  double flush_seconds; /* senders: how long to wait for the last acknowledgement */
  guint64 count;
  gboolean bytes_api; /* sc_client_send_bytes instead of sc_client_send_message */
  char *samples_path;
  /* idle */
  guint sessions, threads, sources, window;
  int server_pid;
} ScBenchOptions;

/* Round trips before the samples start counting (or the first tenth of
 * the allowed time, if that ends sooner). */
#define SC_BENCH_RTT_WARMUP 200u
/* ms: the longest a sender waits for room in the outbox before it tries
 * again (sc_client_wait_for_room returns as soon as there is room). */
#define SC_BENCH_ROOM_WAIT_MS 100u

int sc_bench_server_run (ScBenchOptions *opt);
int sc_bench_client_run (ScBenchOptions *opt);
int sc_bench_idle_run (ScBenchOptions *opt);
int sc_bench_resume_run (ScBenchOptions *opt);
/* The TLS configuration the options ask for, or NULL for none. */
ScTlsConfig *sc_bench_tls_config (ScBenchOptions *opt, gboolean server);
/* Prints why and returns BENCH_EXIT_SKIP when error says the library does
 * not support what was asked (TLS mode today); else prints it, returns 1. */
int sc_bench_fail (const char *what, const GError *error);

G_END_DECLS
