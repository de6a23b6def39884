/* zmq-bench: the ZeroMQ peer of case 1, PUSH/PULL over 127.0.0.1 with and
 * without CURVE security.
 *
 *   zmq-bench pull [--curve]      binds a free port, prints `ready port=P
 *                                 [public=Z85]`; counts messages until an
 *                                 empty one, then prints the result
 *   zmq-bench push --port P [--server-key Z85] [--size BYTES] [--seconds S]
 *
 * The rate is counted by the PULL side from its first message to its last.
 * With --curve the PULL side is the CURVE server with a key pair made at
 * start; PUSH makes its own pair and must be given the server's public key.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bench-util.h"

#define Z85_KEY_LEN 40

static int
fail (const char *what)
{
  g_printerr ("zmq-bench: %s: %s\n", what, zmq_strerror (zmq_errno ()));
  return 1;
}

static int
bound_port (void *sock)
{
  char endpoint[256];
  size_t len = sizeof endpoint;
  const char *colon;

  if (zmq_getsockopt (sock, ZMQ_LAST_ENDPOINT, endpoint, &len) != 0)
    return -1;
  colon = strrchr (endpoint, ':');
  return colon ? atoi (colon + 1) : -1;
}

static int
pull_loop (void *sock)
{
  g_autofree guint8 *buf = g_malloc (1 << 20);
  guint64 n = 0, bytes = 0;
  gint64 first = 0, last = 0;
  int len;
  double secs;

  while ((len = zmq_recv (sock, buf, 1 << 20, 0)) > 0)
    {
      last = bench_now_us ();
      if (n++ == 0)
        first = last;
      bytes += (guint64) len;
    }
  if (len < 0)
    return fail ("zmq_recv");
  secs = (last - first) / 1e6;
  bench_result ("msgs=%" G_GUINT64_FORMAT " seconds=%.6f msgs_per_s=%.1f mb_per_s=%.3f", n, secs,
                secs > 0 ? n / secs : 0, secs > 0 ? bytes / secs / 1e6 : 0);
  return 0;
}

static int
run_pull (gboolean curve)
{
  void *zctx = zmq_ctx_new ();
  void *sock = zmq_socket (zctx, ZMQ_PULL);
  char public_key[Z85_KEY_LEN + 1], secret_key[Z85_KEY_LEN + 1];
  g_autofree char *extra = NULL;
  int one = 1, status;

  if (curve)
    {
      if (zmq_curve_keypair (public_key, secret_key) != 0)
        return fail ("zmq_curve_keypair (is libzmq built with CURVE?)");
      zmq_setsockopt (sock, ZMQ_CURVE_SERVER, &one, sizeof one);
      zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, secret_key, Z85_KEY_LEN + 1);
      extra = g_strdup_printf ("public=%s", public_key);
    }
  if (zmq_bind (sock, "tcp://127.0.0.1:*") != 0)
    return fail ("zmq_bind");
  bench_ready ((guint) bound_port (sock), extra);
  status = pull_loop (sock);
  zmq_close (sock);
  zmq_ctx_term (zctx);
  return status;
}

static gboolean
push_curve (void *sock, const char *server_key)
{
  char public_key[Z85_KEY_LEN + 1], secret_key[Z85_KEY_LEN + 1];

  if (strlen (server_key) != Z85_KEY_LEN || zmq_curve_keypair (public_key, secret_key) != 0)
    return FALSE;
  return zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, server_key, Z85_KEY_LEN + 1) == 0
         && zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, public_key, Z85_KEY_LEN + 1) == 0
         && zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, secret_key, Z85_KEY_LEN + 1) == 0;
}

static int
run_push (int port, const char *server_key, gsize size, double seconds)
{
  void *zctx = zmq_ctx_new ();
  void *sock = zmq_socket (zctx, ZMQ_PUSH);
  g_autofree char *endpoint = g_strdup_printf ("tcp://127.0.0.1:%d", port);
  g_autofree guint8 *payload = bench_payload_new (size);
  gint64 deadline = bench_now_us () + (gint64) (seconds * 1e6);
  guint64 sent = 0;

  if (server_key != NULL && !push_curve (sock, server_key))
    return fail ("CURVE keys");
  if (zmq_connect (sock, endpoint) != 0)
    return fail ("zmq_connect");
  while (bench_now_us () < deadline)
    for (int i = 0; i < 256; i++, sent++)
      if (zmq_send (sock, payload, size, 0) < 0)
        return fail ("zmq_send");
  if (zmq_send (sock, "", 0, 0) < 0) /* the end */
    return fail ("zmq_send");
  zmq_close (sock); /* lingers until everything is delivered */
  zmq_ctx_term (zctx);
  bench_result ("sent=%" G_GUINT64_FORMAT, sent);
  return 0;
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new ("pull|push");
  g_autoptr (GError) error = NULL;
  g_autofree char *server_key = NULL;
  gboolean curve = FALSE;
  gint64 size = 100;
  double seconds = 5;
  int port = 0;
  const GOptionEntry entries[] = {
    { "curve", 0, 0, G_OPTION_ARG_NONE, &curve, "pull: be a CURVE server", NULL },
    { "server-key", 0, 0, G_OPTION_ARG_STRING, &server_key, "push: CURVE server key", "Z85" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "push: the PULL side's port", "P" },
    { "size", 0, 0, G_OPTION_ARG_INT64, &size, "push: message bytes", "BYTES" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "push: run time", "S" },
    { NULL }
  };

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2 || size < 1
      || size > (1 << 20))
    {
      g_printerr ("zmq-bench: %s\n", error ? error->message : "usage: zmq-bench pull|push ...");
      return 2;
    }
  if (strcmp (argv[1], "pull") == 0)
    return run_pull (curve);
  if (strcmp (argv[1], "push") == 0)
    return run_push (port, server_key, (gsize) size, seconds);
  g_printerr ("zmq-bench: unknown command %s\n", argv[1]);
  return 2;
}
