/* test-server-tls.c: ScServer in TLS mode against connections that do not
 * start their TLS handshake.
 *
 * glib-networking runs each TLS handshake in a thread of GTask's pool,
 * which then blocks until the peer answers. A server that started the
 * handshake as soon as it accepted would let connections that never send
 * their ClientHello hold those threads until its handshake timeout, and a
 * real client's handshake would queue behind them. The server starts the
 * handshake only once the first TLS record has arrived whole.
 *
 * Without timing: the server's handshake timeout here is 600 s, longer
 * than anything waits here, so the idle connections stay for the whole
 * test. A client that connects after them is accepted after them, so once
 * it is through its handshake, the server has dealt with every one of
 * them; had each started a handshake, each would hold a thread of GTask's
 * pool (which grows by a thread per 100 ms or so while it is full, so the
 * client got through only once it had grown past them: about 6 s for 40,
 * 90 s for 100). So the process's thread count, before the idle
 * connections and after that client, must not grow by anything near their
 * number.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "sc-certgen.h"
#include "sc-client.h"
#include "sc-error.h"
#include "sc-server.h"
#include "sc-tls-config.h"
#include "tests/sc-test-net.h"
#include "tests/sc-test-proc.h"
#include "tests/sc-test-wait.h"

/* connections that never complete a ClientHello */
#define N_IDLE 40
/* threads the process may gain meanwhile (it gains none here): the
 * client's I/O thread, and a few of GTask's pool for the client's and the
 * server's TLS handshakes; fewer than each kind of idle connection
 * (N_IDLE / 5) would hold if it started a handshake */
#define MAX_NEW_THREADS 5
/* the handshake timeout: longer than any wait here (the most allowed) */
#define HANDSHAKE_TIMEOUT_MS 600000
/* the shortest handshake timeout allowed, where the timer is the point */
#define SHORT_TIMEOUT_MS 100
/* bytes the dribbling relay forwards one at a time (more than a ClientHello's
 * record header, and well into its body) */
#define DRIBBLE_BYTES 300

typedef struct
{
  char *dir;
  ScServer *server;
  ScTlsConfig *client_tls;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  char msg[SC_CERTGEN_MSG_LEN];
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autofree char *ca = NULL;
  g_autoptr (ScTlsConfig) server_tls = NULL;
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("sc-server-tls-XXXXXX", NULL);
  if (sc_certgen_write_test_pki (f->dir, FALSE, msg, sizeof msg) != 0)
    g_error ("test PKI: %s", msg);
  cert = g_build_filename (f->dir, SC_CERTGEN_SERVER_CERT, NULL);
  key = g_build_filename (f->dir, SC_CERTGEN_SERVER_KEY, NULL);
  ca = g_build_filename (f->dir, SC_CERTGEN_CA_CERT, NULL);
  server_tls = sc_tls_config_new (TRUE, cert, key, NULL, SC_TLS_VERIFY_NONE);
  f->client_tls = sc_tls_config_new (TRUE, NULL, NULL, ca, SC_TLS_VERIFY_REQUIRED);
  f->server = sc_server_new ("127.0.0.1", 0, server_tls);
  g_object_set (f->server, "handshake-timeout",
                data != NULL ? GPOINTER_TO_UINT (data) : HANDSHAKE_TIMEOUT_MS, "max-per-source",
                4 * N_IDLE, "max-handshakes", 4 * N_IDLE, NULL);
  g_assert_true (sc_server_start (f->server, &error));
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  const char *names[] = { SC_CERTGEN_CA_CERT, SC_CERTGEN_SERVER_CERT, SC_CERTGEN_SERVER_KEY,
                          SC_CERTGEN_CLIENT_CERT, SC_CERTGEN_CLIENT_KEY };

  sc_server_shutdown (f->server);
  g_clear_object (&f->server);
  g_clear_object (&f->client_tls);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (f->dir, names[i], NULL);

      g_unlink (path);
    }
  g_rmdir (f->dir);
  g_free (f->dir);
}

static guint
count_threads (void)
{
  return sc_test_count_proc_entries ("/proc/self/task", NULL, NULL);
}

static GSocketConnection *
raw_connect (guint16 port)
{
  g_autoptr (GSocketClient) sock = g_socket_client_new ();
  g_autoptr (GError) error = NULL;
  GSocketConnection *conn = g_socket_client_connect_to_host (sock, "127.0.0.1", port, NULL, &error);

  g_assert_no_error (error);
  return conn;
}

static void
raw_send (GSocketConnection *conn, const void *data, gsize len)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                                            data, len, NULL, NULL, &error));
  g_assert_no_error (error);
}

/* A TLS client establishes a session and exchanges a message. */
static void
assert_tls_client_works (Fixture *f, guint16 port)
{
  g_autoptr (ScClient) client = sc_client_new (f->client_tls);
  g_autoptr (GError) error = NULL;

  g_assert_true (sc_client_establish_secure_session (client, "127.0.0.1", port, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (sc_client_send_message (client, "through TLS", &error));
  g_assert_no_error (error);
  g_assert_true (sc_client_flush (client, SC_TEST_GUARD_S * 1000, &error)); /* acknowledged */
  g_assert_no_error (error);
  sc_client_shutdown (client);
}

/* The server closes conn (EOF, or a reset where it left our bytes unread),
 * rather than this side's read timing out. */
static void
assert_closed_by_server (GSocketConnection *conn)
{
  GSocket *socket = g_socket_connection_get_socket (conn);
  g_autoptr (GError) error = NULL;
  gchar byte;

  g_socket_set_timeout (socket, SC_TEST_GUARD_S);
  g_assert_cmpint (g_socket_receive (socket, &byte, 1, NULL, &error), <=, 0);
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT));
}

/* Connections that send nothing, one byte, a whole record header, a header
 * and part of its body, or a whole record that holds only the start of a
 * ClientHello hold no handshake thread (see the top), and a TLS client
 * still gets through. Then each shuts its side down, the server closes
 * every one, and it still serves. */
static void
test_idle_connections_do_not_starve_handshakes (Fixture *f, gconstpointer data)
{
  static const guint8 header[] = { 22, 3, 1, 0x02, 0x00 }; /* handshake, 512 bytes */
  static const guint8 body[100] = { 1 };
  /* one record of 4 bytes: a ClientHello header that says 256 bytes follow */
  static const guint8 hello_start[] = { 22, 3, 1, 0, 4, 1, 0, 1, 0 };
  guint16 port = sc_server_get_port (f->server);
  g_autoptr (GPtrArray) idle = g_ptr_array_new_with_free_func (g_object_unref);
  guint threads_before;

  assert_tls_client_works (f, port); /* the threads a handshake starts, once */
  threads_before = count_threads ();
  for (guint i = 0; i < N_IDLE; i++)
    {
      GSocketConnection *conn = raw_connect (port);

      switch (i % 5)
        {
        case 4:
          raw_send (conn, hello_start, sizeof hello_start);
          break;
        case 1:
          raw_send (conn, header, 1);
          break;
        case 2:
          raw_send (conn, header, sizeof header);
          break;
        case 3:
          raw_send (conn, header, sizeof header);
          raw_send (conn, body, sizeof body);
          break;
        default:
          break;
        }
      g_ptr_array_add (idle, conn);
    }
  assert_tls_client_works (f, port);
  g_test_message ("threads: %u before the idle connections, %u after the client", threads_before,
                  count_threads ());
  g_assert_cmpuint (count_threads (), <, threads_before + MAX_NEW_THREADS);
  for (guint i = 0; i < idle->len; i++)
    g_assert_true (g_socket_shutdown (g_socket_connection_get_socket (g_ptr_array_index (idle, i)),
                                      FALSE, TRUE, NULL));
  for (guint i = 0; i < idle->len; i++)
    assert_closed_by_server (g_ptr_array_index (idle, i));
  assert_tls_client_works (f, port);
}

/* Forwards one connection to the server: the client's first DRIBBLE_BYTES
 * one byte per write (each its own segment), the rest as it comes. */
typedef struct
{
  GSocket *listener;
  guint16 server_port;
  guint16 port;
  gsize dribbled; /* read after the thread has ended */
  GThread *thread;
} Relay;

static gboolean
pump (GSocket *from, GSocket *to, gsize one_at_a_time, gsize *done)
{
  guint8 buf[4096];
  gssize n = g_socket_receive (from, (gchar *) buf, one_at_a_time > 0 ? 1 : sizeof buf, NULL, NULL);

  if (n <= 0)
    return FALSE;
  if (one_at_a_time > 0)
    {
      (*done)++;
      g_usleep (200); /* so that each byte leaves as a segment of its own */
    }
  for (gssize off = 0; off < n;)
    {
      gssize w = g_socket_send (to, (const gchar *) buf + off, (gsize) (n - off), NULL, NULL);

      if (w <= 0)
        return FALSE;
      off += w;
    }
  return TRUE;
}

static gpointer
relay_main (gpointer data)
{
  Relay *r = data;
  g_autoptr (GSocket) client = g_socket_accept (r->listener, NULL, NULL);
  g_autoptr (GSocketConnection) server = raw_connect (r->server_port);
  GSocket *to_server = g_socket_connection_get_socket (server);
  gboolean open = TRUE;

  g_assert_nonnull (client);
  g_socket_set_option (to_server, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  while (open)
    {
      GPollFD fds[2] = { { g_socket_get_fd (client), G_IO_IN, 0 },
                         { g_socket_get_fd (to_server), G_IO_IN, 0 } };

      if (g_poll (fds, 2, SC_TEST_GUARD_S * 1000) <= 0)
        break;
      if (fds[0].revents != 0)
        open = pump (client, to_server, r->dribbled < DRIBBLE_BYTES, &r->dribbled);
      if (open && fds[1].revents != 0)
        open = pump (to_server, client, 0, NULL);
    }
  return NULL;
}

static void
relay_start (Relay *r, guint16 server_port)
{
  r->server_port = server_port;
  r->listener = sc_test_listen_loopback (&r->port);
  r->thread = g_thread_new ("relay", relay_main, r);
}

/* A ClientHello that arrives a byte at a time (its header split, its body
 * in many segments) still starts the handshake, which completes. */
static void
test_client_hello_in_pieces_is_waited_for (Fixture *f, gconstpointer data)
{
  Relay relay = { 0 };

  relay_start (&relay, sc_server_get_port (f->server));
  assert_tls_client_works (f, relay.port);
  g_thread_join (relay.thread); /* the client closed: the relay ends */
  g_assert_cmpuint (relay.dribbled, ==, DRIBBLE_BYTES);
  g_object_unref (relay.listener);
}

/* The handshake timeout still ends a connection whose ClientHello never
 * comes whole: the server closes it. (A client's handshake against this
 * server's 100 ms timeout would race it: the other tests show the server
 * serving.) */
static void
test_handshake_timeout_ends_the_wait (Fixture *f, gconstpointer data)
{
  static const guint8 header[] = { 22, 3, 1, 0x02, 0x00 };
  g_autoptr (GSocketConnection) quiet = raw_connect (sc_server_get_port (f->server));
  g_autoptr (GSocketConnection) partial = raw_connect (sc_server_get_port (f->server));

  raw_send (partial, header, sizeof header);
  assert_closed_by_server (quiet);
  assert_closed_by_server (partial);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* no libproxy: under ASan its C++ exceptions abort the process */
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  g_test_add ("/server/tls/idle-connections-do-not-starve-handshakes", Fixture, NULL,
              fixture_set_up, test_idle_connections_do_not_starve_handshakes, fixture_tear_down);
  g_test_add ("/server/tls/client-hello-in-pieces-is-waited-for", Fixture, NULL, fixture_set_up,
              test_client_hello_in_pieces_is_waited_for, fixture_tear_down);
  g_test_add ("/server/tls/handshake-timeout-ends-the-wait", Fixture,
              GUINT_TO_POINTER (SHORT_TIMEOUT_MS), fixture_set_up,
              test_handshake_timeout_ends_the_wait, fixture_tear_down);
  return g_test_run ();
}
