/* sc-bench: SecureComm through libsecurecomm, for bench/run.
 *
 *   sc-bench server [--echo] [--signal] [--clients N] [--workers N] [--max-clients N]
 *                   [--max-per-source N] [--max-handshakes N] [--max-message-size N]
 *                   [--tls-cert FILE --tls-key FILE]
 *   sc-bench client --port P --pin FINGERPRINT --mode MODE [--signal] [--size BYTES] [--seconds S]
 *                   [--count N] [--clients N] [--bytes] [--samples FILE] [--tls-ca FILE]
 *                   [--flush-timeout S]
 *   sc-bench client --mode idle --port P --pin FP --sessions N [--threads T]
 *                   [--sources A] [--window W] [--server-pid PID] [--seconds CONNECT_S]
 *
 * MODE is rate, bulk, rtt, handshakes, idle, sink, resume or full (the
 * last two: handshakes through ScChannel, resumed or full every time). The server is an
 * ScServer on 127.0.0.1 (a free port) with a fresh identity; it prints
 * `ready port=P fingerprint=FP pid=PID`, then, after --clients clients
 * have disconnected, the messages its message handler got, from the first
 * to the last. With --echo the handler sends each message back with
 * sc_server_send_bytes. The handler is sc_server_set_message_handler's, in
 * the server's I/O threads; with --signal it is the message-received
 * signal, in the main context; --signal does the same for the client of
 * the rtt mode (sc_client_set_message_handler otherwise). Exit status 77 means the library does not
 * support what was asked (TLS mode, today): bench/run prints n/a.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-bench.h"

#include <stdlib.h>
#include <string.h>

ScTlsConfig *
sc_bench_tls_config (ScBenchOptions *opt, gboolean server)
{
  if (server ? opt->tls_cert == NULL : opt->tls_ca == NULL)
    return NULL;
  return sc_tls_config_new (TRUE, server ? opt->tls_cert : NULL, server ? opt->tls_key : NULL,
                            server ? NULL : opt->tls_ca,
                            server ? SC_TLS_VERIFY_NONE : SC_TLS_VERIFY_REQUIRED);
}

int
sc_bench_fail (const char *what, const GError *error)
{
  if (g_error_matches (error, SC_ERROR, SC_ERROR_NOT_SUPPORTED))
    {
      g_printerr ("sc-bench: %s: not supported by this libsecurecomm: %s\n", what, error->message);
      return BENCH_EXIT_SKIP;
    }
  g_printerr ("sc-bench: %s: %s\n", what, error ? error->message : "failed");
  return 1;
}

static gboolean
parse_mode (const char *text, ScBenchMode *mode, GError **error)
{
  static const char *const names[] = { "rate", "bulk", "rtt",    "handshakes",
                                       "idle", "sink", "resume", "full" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_strcmp0 (text, names[i]) == 0)
      {
        *mode = (ScBenchMode) i;
        return TRUE;
      }
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "unknown --mode %s",
               text ? text : "(none)");
  return FALSE;
}

typedef struct
{
  int port, clients, workers, max_clients, max_per_source, max_handshakes, max_message_size;
  int sessions, threads, sources, window;
  gint64 size, count;
  char *mode;
} RawOptions;

static GOptionEntry *
entries_new (ScBenchOptions *opt, RawOptions *raw)
{
  const GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &raw->port, "Server port (client)", "P" },
    { "pin", 0, 0, G_OPTION_ARG_STRING, &opt->pin, "Server key fingerprint (client)", "FP" },
    { "tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &opt->tls_cert, "TLS mode: server cert", "FILE" },
    { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &opt->tls_key, "TLS mode: server key", "FILE" },
    { "tls-ca", 0, 0, G_OPTION_ARG_FILENAME, &opt->tls_ca, "TLS mode: client's CA", "FILE" },
    { "echo", 0, 0, G_OPTION_ARG_NONE, &opt->echo, "Server: send messages back", NULL },
    { "signal", 0, 0, G_OPTION_ARG_NONE, &opt->use_signal,
      "Server, and the rtt client: take messages from message-received, not a handler", NULL },
    { "clients", 0, 0, G_OPTION_ARG_INT, &raw->clients, "Clients (server: to wait for)", "N" },
    { "workers", 0, 0, G_OPTION_ARG_INT, &raw->workers, "Server worker threads", "N" },
    { "max-clients", 0, 0, G_OPTION_ARG_INT, &raw->max_clients, "Server limit", "N" },
    { "max-per-source", 0, 0, G_OPTION_ARG_INT, &raw->max_per_source, "Server limit", "N" },
    { "max-handshakes", 0, 0, G_OPTION_ARG_INT, &raw->max_handshakes, "Server limit", "N" },
    { "max-message-size", 0, 0, G_OPTION_ARG_INT, &raw->max_message_size, "Server limit", "N" },
    { "mode", 0, 0, G_OPTION_ARG_STRING, &raw->mode, "What the client does", "MODE" },
    { "size", 0, 0, G_OPTION_ARG_INT64, &raw->size, "Message bytes", "BYTES" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &opt->seconds, "Run time (at most)", "S" },
    { "count", 0, 0, G_OPTION_ARG_INT64, &raw->count, "Messages or samples", "N" },
    { "flush-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &opt->flush_seconds,
      "Senders: wait this long for the last acknowledgement", "S" },
    { "bytes", 0, 0, G_OPTION_ARG_NONE, &opt->bytes_api, "Use sc_client_send_bytes", NULL },
    { "samples", 0, 0, G_OPTION_ARG_FILENAME, &opt->samples_path, "Write RTT samples", "FILE" },
    { "sessions", 0, 0, G_OPTION_ARG_INT, &raw->sessions, "Idle sessions to open", "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &raw->threads, "Idle: client threads", "T" },
    { "sources", 0, 0, G_OPTION_ARG_INT, &raw->sources, "Idle: 127.0.0.x sources", "A" },
    { "window", 0, 0, G_OPTION_ARG_INT, &raw->window, "Idle: connections set up at once", "W" },
    { "server-pid", 0, 0, G_OPTION_ARG_INT, &opt->server_pid, "Idle: read its RSS", "PID" },
    { NULL }
  };

  return g_memdup2 (entries, sizeof entries);
}

static gboolean
check_options (ScBenchOptions *opt, const RawOptions *raw, gboolean server, GError **error)
{
  if (raw->port < 0 || raw->port > 65535 || raw->clients < 0 || raw->workers < 0
      || raw->max_clients < 0 || raw->max_per_source < 0 || raw->max_handshakes < 0
      || raw->max_message_size < 0 || raw->size < 1 || raw->size > (64 << 20) || raw->count < 1
      || raw->sessions < 0 || raw->threads < 1 || raw->sources < 1 || raw->sources > 250
      || raw->window < 1 || opt->seconds <= 0 || opt->flush_seconds <= 0)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "a number is out of range");
      return FALSE;
    }
  opt->port = (guint) raw->port;
  opt->clients = (guint) raw->clients;
  opt->workers = (guint) raw->workers;
  opt->max_clients = (guint) raw->max_clients;
  opt->max_per_source = (guint) raw->max_per_source;
  opt->max_handshakes = (guint) raw->max_handshakes;
  opt->max_message_size = (guint) raw->max_message_size;
  opt->size = (gsize) raw->size;
  opt->count = (guint64) raw->count;
  opt->sessions = (guint) raw->sessions;
  opt->threads = (guint) raw->threads;
  opt->sources = (guint) raw->sources;
  opt->window = (guint) raw->window;
  if (server)
    return TRUE;
  if (opt->pin == NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--pin is required");
      return FALSE;
    }
  return parse_mode (raw->mode, &opt->mode, error);
}

static gboolean
parse_options (ScBenchOptions *opt, gboolean server, int *argc, char ***argv, GError **error)
{
  RawOptions raw = { .clients = 1,
                     .size = 100,
                     .count = G_MAXINT64,
                     .sessions = 19000,
                     .threads = 8,
                     .sources = 10,
                     .window = 8 };
  g_autofree GOptionEntry *entries = entries_new (opt, &raw);
  g_autoptr (GOptionContext) ctx = g_option_context_new (server ? "server" : "client");
  gboolean ok;

  opt->seconds = 5;
  /* At most 8 MiB are queued per client (SC_ERROR_BUSY past that): seconds
   * of work even on a slow machine. */
  opt->flush_seconds = 30;
  g_option_context_add_main_entries (ctx, entries, NULL);
  ok = g_option_context_parse (ctx, argc, argv, error) && check_options (opt, &raw, server, error);
  g_free (raw.mode);
  return ok;
}

static void
options_clear (ScBenchOptions *opt)
{
  g_free (opt->pin);
  g_free (opt->tls_cert);
  g_free (opt->tls_key);
  g_free (opt->tls_ca);
  g_free (opt->samples_path);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  ScBenchOptions opt = { 0 };
  gboolean server;
  int status;

  if (argc < 2 || (strcmp (argv[1], "server") != 0 && strcmp (argv[1], "client") != 0))
    {
      g_printerr ("usage: sc-bench server|client [OPTION...] (--help for the options)\n");
      return 2;
    }
  /* 127.0.0.1 only: no proxy lookup (GIO's libproxy module is slow to ask). */
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  server = strcmp (argv[1], "server") == 0;
  argv[1] = argv[0];
  argc--, argv++;
  if (!parse_options (&opt, server, &argc, &argv, &error))
    {
      g_printerr ("sc-bench: %s\n", error->message);
      return 2;
    }
  if (server)
    status = sc_bench_server_run (&opt);
  else if (opt.mode == SC_BENCH_IDLE)
    status = sc_bench_idle_run (&opt);
  else if (opt.mode == SC_BENCH_RESUME || opt.mode == SC_BENCH_FULL)
    status = sc_bench_resume_run (&opt);
  else
    status = sc_bench_client_run (&opt);
  options_clear (&opt);
  return status;
}
