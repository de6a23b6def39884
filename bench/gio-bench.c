/* gio-bench: the GIO baselines of bench/run.
 *
 *   gio-bench server [--tls --cert FILE --key FILE --ca FILE] [--echo | --handshake]
 *                    [--clients N] [--nodelay]
 *   gio-bench client --port P [--tls --ca FILE] --mode rate|bulk|rtt|handshakes
 *                    [--size BYTES] [--batch] [--seconds S] [--count N] [--clients N]
 *                    [--samples FILE] [--nodelay]
 *
 * The server prints `ready port=P`, then, once --clients clients have
 * closed, `result frames=... msgs_per_s=... mb_per_s=...` counted from its
 * first whole frame to its last. Clients print their own result line:
 * rtt: percentiles; handshakes: handshakes per second of this process.
 *
 * TLS is TLS 1.3 only, without session tickets so every handshake is full,
 * with the server's ECDSA P-256 certificate, and with one GTlsDatabase
 * built from --ca at start and given to every connection when it is
 * constructed (glib-networking 2.74 otherwise loads the system's default
 * database for each new connection, about 20 ms here). --nodelay sets
 * TCP_NODELAY (bench/run sets it on both ends; without it a TLS 1.3
 * handshake waits out Nagle's algorithm against delayed ACKs, ~40 ms).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "gio-bench.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

void
gio_bench_tls_setup (void)
{
  /* glib-networking reads this once, when the GnuTLS backend starts. */
  g_setenv ("G_TLS_GNUTLS_PRIORITY", "NORMAL:-VERS-ALL:+VERS-TLS1.3:%NO_TICKETS", TRUE);
}

gboolean
gio_bench_tls_check_version (GTlsConnection *tls, GError **error)
{
  if (g_tls_connection_get_protocol_version (tls) == G_TLS_PROTOCOL_VERSION_TLS_1_3)
    return TRUE;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the TLS version is not 1.3");
  return FALSE;
}

void
gio_bench_set_nodelay (GSocketConnection *conn)
{
  g_autoptr (GError) error = NULL;

  if (!g_socket_set_option (g_socket_connection_get_socket (conn), IPPROTO_TCP, TCP_NODELAY, 1,
                            &error))
    g_printerr ("gio-bench: TCP_NODELAY: %s\n", error->message);
}

GIOStream *
gio_bench_tls_wrap (GioBenchOptions *opt, GIOStream *base, gboolean server, GError **error)
{
  GTlsBackend *backend = g_tls_backend_get_default ();
  g_autoptr (GSocketConnectable) identity = NULL;

  /* The database goes in at construction: glib-networking 2.74 loads the
   * system's default database while constructing a connection whose
   * database is unset, even if one is set right after (about 20 ms here). */
  if (server)
    return g_initable_new (g_tls_backend_get_server_connection_type (backend), NULL, error,
                           "base-io-stream", base, "certificate", opt->certificate, "database",
                           opt->database, NULL);
  identity = g_network_address_new ("127.0.0.1", (guint16) opt->port);
  return g_initable_new (g_tls_backend_get_client_connection_type (backend), NULL, error,
                         "base-io-stream", base, "server-identity", identity, "database",
                         opt->database, NULL);
}

static gboolean
parse_mode (const char *text, GioBenchClientMode *mode, GError **error)
{
  static const char *const names[] = { "rate", "bulk", "rtt", "handshakes" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_strcmp0 (text, names[i]) == 0)
      {
        *mode = (GioBenchClientMode) i;
        return TRUE;
      }
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "unknown --mode %s",
               text ? text : "(none)");
  return FALSE;
}

static gboolean
load_tls (GioBenchOptions *opt, gboolean server, const char *cert, const char *key, const char *ca,
          GError **error)
{
  if (!opt->tls)
    return TRUE;
  if (ca == NULL || (server && (cert == NULL || key == NULL)))
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--tls needs --ca (and --cert and --key for the server)");
      return FALSE;
    }
  gio_bench_tls_setup ();
  opt->database = g_tls_file_database_new (ca, error);
  if (opt->database == NULL)
    return FALSE;
  if (server)
    opt->certificate = g_tls_certificate_new_from_files (cert, key, error);
  return !server || opt->certificate != NULL;
}

static gboolean
parse_options (GioBenchOptions *opt, gboolean server, int *argc, char ***argv, GError **error)
{
  g_autofree char *cert = NULL, *key = NULL, *ca = NULL, *mode = NULL;
  gboolean echo = FALSE, handshake = FALSE;
  gint64 size = 100, count = G_MAXINT64;
  int port = 0, clients = 1;
  const GOptionEntry entries[] = {
    { "tls", 0, 0, G_OPTION_ARG_NONE, &opt->tls, "Inside GTlsConnection", NULL },
    { "cert", 0, 0, G_OPTION_ARG_FILENAME, &cert, "Server certificate (PEM)", "FILE" },
    { "key", 0, 0, G_OPTION_ARG_FILENAME, &key, "Server key (PEM)", "FILE" },
    { "ca", 0, 0, G_OPTION_ARG_FILENAME, &ca, "Trusted CA (PEM)", "FILE" },
    { "echo", 0, 0, G_OPTION_ARG_NONE, &echo, "Server: send every frame back", NULL },
    { "handshake", 0, 0, G_OPTION_ARG_NONE, &handshake, "Server: count handshakes", NULL },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "Port (server: 0 for any)", "P" },
    { "clients", 0, 0, G_OPTION_ARG_INT, &clients, "Clients (server: to wait for)", "N" },
    { "mode", 0, 0, G_OPTION_ARG_STRING, &mode, "rate, bulk, rtt or handshakes", "MODE" },
    { "size", 0, 0, G_OPTION_ARG_INT64, &size, "Message bytes", "BYTES" },
    { "batch", 0, 0, G_OPTION_ARG_NONE, &opt->batch, "Batched writes", NULL },
    { "nodelay", 0, 0, G_OPTION_ARG_NONE, &opt->nodelay, "Set TCP_NODELAY", NULL },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &opt->seconds, "Run time (rtt: at most)", "S" },
    { "count", 0, 0, G_OPTION_ARG_INT64, &count, "Messages (bulk) or samples (rtt)", "N" },
    { "samples", 0, 0, G_OPTION_ARG_FILENAME, &opt->samples_path, "Write RTT samples", "FILE" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (server ? "server" : "client");

  opt->seconds = 5;
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, argc, argv, error))
    return FALSE;
  if (size < 1 || size > (1 << 30) || count < 1 || clients < 0 || port < 0 || port > 65535)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "bad number");
      return FALSE;
    }
  opt->size = (gsize) size;
  opt->count = (guint64) count;
  opt->port = (guint) port;
  opt->clients = (guint) clients;
  opt->server_mode = echo ? GIO_BENCH_ECHO : handshake ? GIO_BENCH_HANDSHAKE : GIO_BENCH_SINK;
  if (!server && !parse_mode (mode, &opt->client_mode, error))
    return FALSE;
  return load_tls (opt, server, cert, key, ca, error);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  GioBenchOptions opt = { 0 };
  gboolean server;
  int status;

  if (argc < 2 || (strcmp (argv[1], "server") != 0 && strcmp (argv[1], "client") != 0))
    {
      g_printerr ("usage: gio-bench server|client [OPTION...] (--help for the options)\n");
      return 2;
    }
  /* 127.0.0.1 only: no proxy lookup. */
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  server = strcmp (argv[1], "server") == 0;
  argv[1] = argv[0];
  argc--, argv++;
  if (!parse_options (&opt, server, &argc, &argv, &error))
    {
      g_printerr ("gio-bench: %s\n", error->message);
      return 2;
    }
  status = server ? gio_bench_server_run (&opt) : gio_bench_client_run (&opt);
  g_clear_object (&opt.database);
  g_clear_object (&opt.certificate);
  g_free (opt.samples_path);
  return status;
}
