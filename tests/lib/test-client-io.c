/* test-client-io.c: what ScClients share in a process, over real sockets.
 *
 * A real ScServer on 127.0.0.1 (echoing, or sending on its own) and real
 * ScClients in the same process:
 *   - many clients at once run on a few shared I/O threads (counted by
 *     name in /proc/self/task), each exchanges messages, shutting one down
 *     leaves the others working, and the threads end after the last
 *     client is gone;
 *   - a message handler gets every message once, in order, in the I/O
 *     thread, may send from there, and its destroy notify runs once;
 *   - clients with equivalent TLS configurations share one TLS context,
 *     and a CA file changed on disk gives a new one (a client made after
 *     the change uses the new trust store at once).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "sc-certgen.h"
#include "sc-client.h"
#include "sc-crypto.h"
#include "sc-error.h"
#include "sc-server.h"
#include "sc-tls.h"

/* s: a wait longer than this is a hang, not slowness. */
#define GUARD_S 60
/* clients alive at once in the sharing test */
#define N_CLIENTS 50
/* messages each client sends per round */
#define N_ROUND 5
/* messages the server sends to the handler's client */
#define N_HANDLED 300
/* the name the shared I/O threads carry (sc-client.c) */
#define IO_THREAD_NAME "sc-client-io"

/* ---- helpers ------------------------------------------------------------- */

static guint
count_io_threads (void)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_strdup_printf ("/proc/self/task/%s/comm", name);
      g_autofree char *comm = NULL;

      if (g_file_get_contents (path, &comm, NULL, NULL)
          && g_str_equal (g_strchomp (comm), IO_THREAD_NAME))
        n++;
    }
  return n;
}

typedef gboolean (*Predicate) (gpointer data);

/* Iterates the default context until done (data) holds; fails after
 * GUARD_S, which only a hang reaches. */
static void
iterate_until (Predicate done, gpointer data, const char *what)
{
  gint64 deadline = g_get_monotonic_time () + GUARD_S * G_TIME_SPAN_SECOND;

  while (!done (data))
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("timed out waiting for %s", what);
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (2000);
    }
}

static gboolean
no_io_threads (gpointer data)
{
  return count_io_threads () == 0;
}

/* The server sends back whatever it gets. */
static void
on_server_echo (ScServer *server, const char *client_id, GBytes *message, gpointer data)
{
  g_autoptr (GError) error = NULL;

  if (!sc_server_send_bytes (server, client_id, message, NULL, &error))
    g_error ("echo: %s", error->message);
}

static ScServer *
start_server (gboolean echo)
{
  g_autoptr (ScServer) server = sc_server_new ("127.0.0.1", 0, NULL);
  g_autoptr (GError) error = NULL;

  g_object_set (server, "max-per-source", 4 * N_CLIENTS, NULL);
  if (echo)
    g_signal_connect (server, "message-received", G_CALLBACK (on_server_echo), NULL);
  g_assert_true (sc_server_start (server, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&server);
}

static ScClient *
connect_client (ScServer *server)
{
  g_autoptr (ScClient) client = sc_client_new (NULL);
  g_autoptr (GError) error = NULL;

  sc_client_set_pinned_fingerprint (client,
                                    sc_identity_get_fingerprint (sc_server_get_identity (server)));
  g_assert_true (sc_client_establish_secure_session (client, "127.0.0.1",
                                                     sc_server_get_port (server), NULL, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&client);
}

/* ---- many clients, a few threads ---------------------------------------- */

typedef struct
{
  ScClient *client;
  guint index;
  GPtrArray *got; /* char *, in arrival order */
} Peer;

static void
on_peer_message (ScClient *client, GBytes *message, gpointer data)
{
  Peer *peer = data;
  gsize len;
  const char *text = g_bytes_get_data (message, &len);

  g_ptr_array_add (peer->got, g_strndup (text, len));
}

typedef struct
{
  Peer *peers;
  guint want; /* messages each live peer must have */
} Round;

static gboolean
round_done (gpointer data)
{
  Round *r = data;

  for (guint i = 0; i < N_CLIENTS; i++)
    if (r->peers[i].client != NULL && r->peers[i].got->len < r->want)
      return FALSE;
  return TRUE;
}

/* Every live peer sends N_ROUND numbered messages; the echoes come back
 * to the right peer, in order. */
static void
exchange_round (Peer *peers, guint round)
{
  Round r = { peers, (round + 1) * N_ROUND };

  for (guint i = 0; i < N_CLIENTS; i++)
    for (guint k = 0; k < N_ROUND && peers[i].client != NULL; k++)
      {
        g_autofree char *text = g_strdup_printf ("client %u round %u message %u", i, round, k);
        g_autoptr (GError) error = NULL;

        g_assert_true (sc_client_send_message (peers[i].client, text, &error));
        g_assert_no_error (error);
      }
  iterate_until (round_done, &r, "every client's echoes");
  for (guint i = 0; i < N_CLIENTS; i++)
    for (guint k = 0; k < N_ROUND && peers[i].client != NULL; k++)
      {
        g_autofree char *want = g_strdup_printf ("client %u round %u message %u", i, round, k);

        g_assert_cmpuint (peers[i].got->len, ==, r.want);
        g_assert_cmpstr (g_ptr_array_index (peers[i].got, round * N_ROUND + k), ==, want);
      }
}

/* N_CLIENTS clients alive at once use at most one I/O thread per core (and
 * never more than four), each one's messages come back to it alone, shutting
 * one down leaves the rest connected and working, and the threads are gone
 * once the last client is. */
static void
test_many_clients_share_io_threads_which_end_after_the_last (void)
{
  g_autoptr (ScServer) server = start_server (TRUE);
  Peer peers[N_CLIENTS];
  guint threads;

  g_assert_cmpuint (count_io_threads (), ==, 0);
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      peers[i] = (Peer) { connect_client (server), i, g_ptr_array_new_with_free_func (g_free) };
      g_signal_connect (peers[i].client, "message-received", G_CALLBACK (on_peer_message),
                        &peers[i]);
      sc_client_start_listening (peers[i].client);
    }
  threads = count_io_threads ();
  g_test_message ("%u clients on %u I/O thread(s)", N_CLIENTS, threads);
  g_assert_cmpuint (threads, >=, 1);
  g_assert_cmpuint (threads, <=, MIN (4, g_get_num_processors ()));
  exchange_round (peers, 0);

  /* One goes; the others do not notice. */
  sc_client_shutdown (peers[0].client);
  g_assert_cmpint (sc_client_get_state (peers[0].client), ==, SC_CLIENT_STATE_CLOSED);
  g_clear_object (&peers[0].client);
  for (guint i = 1; i < N_CLIENTS; i++)
    g_assert_cmpint (sc_client_get_state (peers[i].client), ==, SC_CLIENT_STATE_CONNECTED);
  exchange_round (peers, 1);
  g_assert_cmpuint (count_io_threads (), >=, 1);

  /* Half are shut down explicitly, half only dropped (dispose closes them). */
  for (guint i = 1; i < N_CLIENTS; i++)
    {
      if (i % 2 == 0)
        sc_client_shutdown (peers[i].client);
      g_clear_object (&peers[i].client);
    }
  iterate_until (no_io_threads, NULL, "the I/O threads to end after the last client");
  g_assert_cmpuint (count_io_threads (), ==, 0);
  for (guint i = 0; i < N_CLIENTS; i++)
    g_ptr_array_unref (peers[i].got);

  /* And a new client starts a thread again. */
  {
    g_autoptr (ScClient) again = connect_client (server);

    g_assert_cmpuint (count_io_threads (), ==, 1);
    sc_client_shutdown (again);
  }
  iterate_until (no_io_threads, NULL, "the I/O thread to end again");
}

/* ---- the message handler ------------------------------------------------- */

typedef struct
{
  GMutex lock;
  GThread *main_thread;
  GPtrArray *got;         /* char *, in arrival order */
  guint wrong_thread;     /* calls in the thread that created the client */
  guint send_failures;    /* replies from within the handler refused */
  guint signals;          /* message-received emissions (should be none) */
  guint destroyed;        /* destroy notify calls */
  GHashTable *server_got; /* the replies the server received */
  char *client_id;        /* the server's id for the client */
} Handled;

static void
on_handled (ScClient *client, GBytes *message, gpointer data)
{
  Handled *h = data;
  gsize len;
  const char *text = g_bytes_get_data (message, &len);
  g_autofree char *reply = g_strdup_printf ("reply to %.*s", (int) len, text);
  g_autoptr (GError) error = NULL;

  g_mutex_lock (&h->lock);
  g_ptr_array_add (h->got, g_strndup (text, len));
  if (g_thread_self () == h->main_thread)
    h->wrong_thread++;
  g_mutex_unlock (&h->lock);
  if (!sc_client_send_message (client, reply, &error)) /* from the I/O thread */
    {
      g_mutex_lock (&h->lock);
      h->send_failures++;
      g_mutex_unlock (&h->lock);
    }
}

static void
on_handled_signal (ScClient *client, GBytes *message, gpointer data)
{
  Handled *h = data;

  g_mutex_lock (&h->lock);
  h->signals++;
  g_mutex_unlock (&h->lock);
}

static void
handled_destroy (gpointer data)
{
  Handled *h = data;

  g_mutex_lock (&h->lock);
  h->destroyed++;
  g_mutex_unlock (&h->lock);
}

static void
on_server_reply (ScServer *server, const char *client_id, GBytes *message, gpointer data)
{
  Handled *h = data;
  gsize len;
  const char *text = g_bytes_get_data (message, &len);

  g_hash_table_add (h->server_got, g_strndup (text, len));
}

static void
on_handled_client_connected (ScServer *server, const char *client_id, gpointer data)
{
  Handled *h = data;

  g_free (h->client_id);
  h->client_id = g_strdup (client_id);
}

static gboolean
have_client_id (gpointer data)
{
  return ((Handled *) data)->client_id != NULL;
}

static gboolean
all_replies_in (gpointer data)
{
  return g_hash_table_size (((Handled *) data)->server_got) >= N_HANDLED;
}

/* Every message reaches the handler exactly once and in order, in the I/O
 * thread and not as a signal; a reply sent from within the handler reaches
 * the server; unsetting the handler runs its destroy notify once. */
static void
test_handler_gets_each_message_once_in_order_and_may_send (void)
{
  g_autoptr (ScServer) server = start_server (FALSE);
  g_autoptr (ScClient) client = sc_client_new (NULL);
  g_autoptr (GError) error = NULL;
  Handled h = { .main_thread = g_thread_self () };

  g_mutex_init (&h.lock);
  h.got = g_ptr_array_new_with_free_func (g_free);
  h.server_got = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_signal_connect (server, "message-received", G_CALLBACK (on_server_reply), &h);
  g_signal_connect (server, "client-connected", G_CALLBACK (on_handled_client_connected), &h);
  sc_client_set_pinned_fingerprint (client,
                                    sc_identity_get_fingerprint (sc_server_get_identity (server)));
  sc_client_set_message_handler (client, on_handled, &h, handled_destroy);
  g_signal_connect (client, "message-received", G_CALLBACK (on_handled_signal), &h);
  sc_client_start_listening (client);
  g_assert_true (sc_client_establish_secure_session (client, "127.0.0.1",
                                                     sc_server_get_port (server), NULL, &error));
  g_assert_no_error (error);
  iterate_until (have_client_id, &h, "the server to announce the client");

  for (guint i = 0; i < N_HANDLED; i++)
    {
      g_autofree char *text = g_strdup_printf ("message %u", i);

      g_assert_true (sc_server_send_message (server, h.client_id, text, &error));
      g_assert_no_error (error);
    }
  iterate_until (all_replies_in, &h, "the replies sent from the handler");

  g_mutex_lock (&h.lock);
  g_assert_cmpuint (h.got->len, ==, N_HANDLED);
  for (guint i = 0; i < N_HANDLED; i++)
    {
      g_autofree char *want = g_strdup_printf ("message %u", i);
      g_autofree char *reply = g_strdup_printf ("reply to message %u", i);

      g_assert_cmpstr (g_ptr_array_index (h.got, i), ==, want);
      g_assert_true (g_hash_table_contains (h.server_got, reply));
    }
  g_assert_cmpuint (h.wrong_thread, ==, 0);
  g_assert_cmpuint (h.send_failures, ==, 0);
  g_assert_cmpuint (h.destroyed, ==, 0);
  g_mutex_unlock (&h.lock);
  while (g_main_context_iteration (NULL, FALSE)) /* anything queued for the signal */
    ;
  g_assert_cmpuint (h.signals, ==, 0);

  /* Unset: destroy runs once; the signal path takes over again. */
  sc_client_set_message_handler (client, NULL, NULL, NULL);
  g_assert_cmpuint (h.destroyed, ==, 1);
  sc_client_shutdown (client);
  g_clear_object (&client);
  g_assert_cmpuint (h.destroyed, ==, 1);

  g_ptr_array_unref (h.got);
  g_hash_table_unref (h.server_got);
  g_free (h.client_id);
  g_mutex_clear (&h.lock);
}

static void
on_finalized (gpointer data, GObject *where_the_object_was)
{
  *(gboolean *) data = TRUE;
}

static gboolean
is_true (gpointer data)
{
  return *(gboolean *) data;
}

/* A handler still set when the client is finalized is destroyed then, once. */
static void
test_handler_destroyed_once_at_finalize (void)
{
  g_autoptr (ScServer) server = start_server (TRUE);
  Handled h = { .main_thread = g_thread_self () };
  gboolean finalized = FALSE;
  ScClient *client;

  g_mutex_init (&h.lock);
  h.got = g_ptr_array_new_with_free_func (g_free);
  client = connect_client (server);
  sc_client_set_message_handler (client, on_handled, &h, handled_destroy);
  sc_client_set_message_handler (client, on_handled, &h, handled_destroy); /* replaces: 1 */
  g_assert_cmpuint (h.destroyed, ==, 1);
  sc_client_shutdown (client);
  g_object_weak_ref (G_OBJECT (client), on_finalized, &finalized);
  g_object_unref (client); /* queued signals hold it until they are emitted */
  iterate_until (is_true, &finalized, "the client to be finalized");
  g_assert_cmpuint (h.destroyed, ==, 2);
  g_ptr_array_unref (h.got);
  g_mutex_clear (&h.lock);
}

/* ---- the UTF-8 check of sc_client_send_message --------------------------- */

/* sc_client_send_message refuses exactly what g_utf8_validate refuses,
 * wherever the non-ASCII sequence sits relative to its word-at-a-time
 * ASCII scan (a client that is not connected: good text is then
 * NOT_CONNECTED, bad text INVALID_MESSAGE). */
static void
test_send_message_refuses_exactly_invalid_utf8 (void)
{
  static const char *const sequences[] = {
    "\xc3\xa9",         /* é */
    "\xe2\x9c\x93",     /* ✓ */
    "\xf0\x9f\x94\x92", /* 🔒 */
    "\xff",             /* never in UTF-8 */
    "\xc3",             /* truncated */
    "\xc0\x80",         /* overlong NUL */
    "\xed\xa0\x80",     /* a surrogate */
    "\xf4\x90\x80\x80", /* past U+10FFFF */
    "\x80",             /* a lone continuation byte */
  };
  g_autoptr (ScClient) client = sc_client_new (NULL);

  for (guint k = 0; k < G_N_ELEMENTS (sequences); k++)
    for (guint before = 0; before < 20; before++)
      for (guint after = 0; after < 10; after += 9)
        {
          g_autofree char *pad1 = g_strnfill (before, 'a');
          g_autofree char *pad2 = g_strnfill (after, 'z');
          g_autofree char *text = g_strconcat (pad1, sequences[k], pad2, NULL);
          g_autoptr (GError) error = NULL;

          g_assert_false (sc_client_send_message (client, text, &error));
          if (g_utf8_validate (text, -1, NULL))
            g_assert_error (error, SC_ERROR, SC_ERROR_NOT_CONNECTED);
          else
            g_assert_error (error, SC_ERROR, SC_ERROR_INVALID_MESSAGE);
        }
}

/* ---- shared TLS contexts ------------------------------------------------- */

static void
remove_dir (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_unlink (path);
    }
  g_rmdir (dir);
}

static char *
write_pki (const char *dir, gboolean force)
{
  char msg[SC_CERTGEN_MSG_LEN];
  int rc = sc_certgen_write_test_pki (dir, force, msg, sizeof msg);

  if (rc != 0)
    g_error ("test PKI: %s", msg);
  return g_build_filename (dir, SC_CERTGEN_CA_CERT, NULL);
}

/* Equivalent configurations (separate objects) share a context; another
 * setting does not; a CA file rewritten on disk gives a new context. */
static void
test_tls_context_shared_until_ca_file_changes (void)
{
  g_autofree char *dir = g_dir_make_tmp ("sc-client-io-XXXXXX", NULL);
  g_autofree char *ca = write_pki (dir, FALSE);
  g_autoptr (ScTlsConfig) a = sc_tls_config_new (TRUE, NULL, NULL, ca, SC_TLS_VERIFY_REQUIRED);
  g_autoptr (ScTlsConfig) b = sc_tls_config_new (TRUE, NULL, NULL, ca, SC_TLS_VERIFY_REQUIRED);
  g_autoptr (ScTlsConfig) other = sc_tls_config_new (TRUE, NULL, NULL, ca, SC_TLS_VERIFY_NONE);
  g_autoptr (GError) error = NULL;
  g_autoptr (ScTlsContext) ctx_a = sc_tls_context_new_shared (a, SC_TLS_ROLE_CLIENT, &error);
  g_autoptr (ScTlsContext) ctx_b = sc_tls_context_new_shared (b, SC_TLS_ROLE_CLIENT, &error);
  g_autoptr (ScTlsContext) ctx_other = NULL;
  g_autoptr (ScTlsContext) ctx_new = NULL;
  g_autoptr (ScTlsContext) ctx_new2 = NULL;
  g_autofree char *ca_again = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (ctx_a);
  g_assert_true (ctx_a == ctx_b);
  ctx_other = sc_tls_context_new_shared (other, SC_TLS_ROLE_CLIENT, &error);
  g_assert_no_error (error);
  g_assert_true (ctx_other != ctx_a);

  ca_again = write_pki (dir, TRUE); /* a new CA, same path */
  ctx_new = sc_tls_context_new_shared (b, SC_TLS_ROLE_CLIENT, &error);
  g_assert_no_error (error);
  g_assert_true (ctx_new != ctx_a);
  ctx_new2 = sc_tls_context_new_shared (a, SC_TLS_ROLE_CLIENT, &error);
  g_assert_true (ctx_new2 == ctx_new);

  /* A file that cannot be read is the same error as without sharing. */
  g_assert_cmpint (g_unlink (ca), ==, 0);
  g_assert_null (sc_tls_context_new_shared (a, SC_TLS_ROLE_CLIENT, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_CONFIG);
  remove_dir (dir);
}

static ScTlsConfig *
client_tls_config (const char *dir)
{
  g_autofree char *ca = g_build_filename (dir, SC_CERTGEN_CA_CERT, NULL);

  return sc_tls_config_new (TRUE, NULL, NULL, ca, SC_TLS_VERIFY_REQUIRED);
}

static gboolean
tls_connect (ScServer *server, const char *dir, GError **error)
{
  g_autoptr (ScTlsConfig) config = client_tls_config (dir);
  g_autoptr (ScClient) client = sc_client_new (config);
  gboolean ok;

  ok = sc_client_establish_secure_session (client, "127.0.0.1", sc_server_get_port (server), NULL,
                                           error);
  sc_client_shutdown (client);
  return ok;
}

/* Two TLS clients trust the server through the CA file; once the CA file
 * is replaced by another CA's, the next client refuses the same server: it
 * did not reuse the trust store it had before. */
static void
test_tls_client_after_ca_change_uses_new_trust_store (void)
{
  g_autofree char *dir = g_dir_make_tmp ("sc-client-io-XXXXXX", NULL);
  g_autofree char *ca = write_pki (dir, FALSE);
  g_autofree char *cert = g_build_filename (dir, SC_CERTGEN_SERVER_CERT, NULL);
  g_autofree char *key = g_build_filename (dir, SC_CERTGEN_SERVER_KEY, NULL);
  g_autoptr (ScTlsConfig)
      server_tls = sc_tls_config_new (TRUE, cert, key, NULL, SC_TLS_VERIFY_NONE);
  g_autoptr (ScServer) server = sc_server_new ("127.0.0.1", 0, server_tls);
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_test (ca, G_FILE_TEST_IS_REGULAR));
  g_assert_true (sc_server_start (server, &error));
  g_assert_no_error (error);
  g_assert_true (tls_connect (server, dir, &error));
  g_assert_no_error (error);
  g_assert_true (tls_connect (server, dir, &error));
  g_assert_no_error (error);

  g_free (write_pki (dir, TRUE)); /* the server keeps its loaded certificate */
  g_assert_false (tls_connect (server, dir, &error));
  g_assert_nonnull (error);
  g_test_message ("refused as it should be: %s", error->message);

  sc_server_shutdown (server);
  remove_dir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  g_test_add_func ("/client/io/many-clients-share-io-threads-which-end-after-the-last",
                   test_many_clients_share_io_threads_which_end_after_the_last);
  g_test_add_func ("/client/handler/gets-each-message-once-in-order-and-may-send",
                   test_handler_gets_each_message_once_in_order_and_may_send);
  g_test_add_func ("/client/handler/destroyed-once-at-finalize",
                   test_handler_destroyed_once_at_finalize);
  g_test_add_func ("/client/send/refuses-exactly-invalid-utf8",
                   test_send_message_refuses_exactly_invalid_utf8);
  g_test_add_func ("/client/tls/context-shared-until-ca-file-changes",
                   test_tls_context_shared_until_ca_file_changes);
  g_test_add_func ("/client/tls/client-after-ca-change-uses-new-trust-store",
                   test_tls_client_after_ca_change_uses_new_trust_store);
  return g_test_run ();
}
