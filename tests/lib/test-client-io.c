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
 *     the change uses the new trust store at once);
 *   - a sender whose outbox is full (SC_ERROR_BUSY) can wait for room:
 *     the wait times out while nothing is acknowledged and ends when an
 *     acknowledgement makes room;
 *   - shutting down is safe against a concurrent establish (also while
 *     every I/O thread is busy) and during a TLS handshake, and dropping a
 *     client's last reference in a message handler (its own or another
 *     client's, on the same I/O thread) shuts it down in the background;
 *   - a shutdown right after establish is a clean close for the server,
 *     and the client's socket is closed in the end; a refused or timed-out
 *     connection says it could not connect.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sc-certgen.h"
#include "sc-client.h"
#include "sc-crypto.h"
#include "sc-error.h"
#include "sc-server.h"
#include "sc-tls.h"
#include "tests/sc-test-net.h"
#include "tests/sc-test-proc.h"
#include "tests/sc-test-wait.h"

/* clients alive at once in the sharing test */
#define N_CLIENTS 50
/* messages each client sends per round */
#define N_ROUND 5
/* threads that establish those clients at the same time */
#define N_ESTABLISHERS 5
/* messages the server sends to the handler's client */
#define N_HANDLED 300
/* the name the shared I/O threads carry (sc-client.c) */
#define IO_THREAD_NAME "sc-client-io"

/* ---- helpers ------------------------------------------------------------- */

/* Whether the thread of /proc/self/task/TID carries the I/O threads' name. */
static gboolean
is_io_thread (const char *task, gpointer unused)
{
  g_autofree char *path = g_build_filename (task, "comm", NULL);
  g_autofree char *comm = NULL;

  return g_file_get_contents (path, &comm, NULL, NULL)
         && g_str_equal (g_strchomp (comm), IO_THREAD_NAME);
}

static guint
count_io_threads_once (void)
{
  return sc_test_count_proc_entries ("/proc/self/task", is_io_thread, NULL);
}

/* Reading /proc/self/task can skip a thread while others exit (the
 * directory is read by position), so the most of a few readings. */
static guint
count_io_threads (void)
{
  guint n = 0;

  for (guint i = 0; i < 3; i++)
    n = MAX (n, count_io_threads_once ());
  return n;
}

static gboolean
no_io_threads (gpointer data)
{
  return count_io_threads () == 0;
}

static gboolean
at_least_io_threads (gpointer data)
{
  return count_io_threads () >= GPOINTER_TO_UINT (data);
}

/* The I/O threads once at least n carry their name: a thread names itself
 * when it starts to run, and a synchronous establish does not wait for its
 * client's I/O thread to run (the session moves to its context). */
static guint
count_io_threads_at_least (guint n)
{
  sc_test_iterate_until (at_least_io_threads, GUINT_TO_POINTER (n), "the I/O threads to be named");
  return count_io_threads ();
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

static gboolean
peer_got_one (gpointer data)
{
  return ((Peer *) data)->got->len > 0;
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
  sc_test_iterate_until (round_done, &r, "every client's echoes");
  for (guint i = 0; i < N_CLIENTS; i++)
    for (guint k = 0; k < N_ROUND && peers[i].client != NULL; k++)
      {
        g_autofree char *want = g_strdup_printf ("client %u round %u message %u", i, round, k);

        g_assert_cmpuint (peers[i].got->len, ==, r.want);
        g_assert_cmpstr (g_ptr_array_index (peers[i].got, round * N_ROUND + k), ==, want);
      }
}

typedef struct
{
  ScServer *server;
  Peer *peers;
  guint first; /* connects peers[first], then every N_ESTABLISHERS-th */
} Establisher;

static gpointer
establish_every_nth (gpointer data)
{
  Establisher *e = data;

  for (guint i = e->first; i < N_CLIENTS; i += N_ESTABLISHERS)
    e->peers[i].client = connect_client (e->server);
  return NULL;
}

/* N_CLIENTS clients, established by N_ESTABLISHERS threads at once (each
 * runs its handshakes in a context of its own and hands the sessions to the
 * shared I/O threads), use at most one I/O thread per core (and never more
 * than four), each one's messages come back to it alone, shutting one down
 * leaves the rest connected and working, and the threads are gone once the
 * last client is. */
static void
test_many_clients_share_io_threads_which_end_after_the_last (void)
{
  g_autoptr (ScServer) server = start_server (TRUE);
  Peer peers[N_CLIENTS];
  Establisher establishers[N_ESTABLISHERS];
  GThread *threads_of[N_ESTABLISHERS];
  guint threads;

  g_assert_cmpuint (count_io_threads (), ==, 0);
  for (guint i = 0; i < N_CLIENTS; i++)
    peers[i] = (Peer) { NULL, i, g_ptr_array_new_with_free_func (g_free) };
  for (guint t = 0; t < N_ESTABLISHERS; t++)
    {
      establishers[t] = (Establisher) { server, peers, t };
      threads_of[t] = g_thread_new ("establish", establish_every_nth, &establishers[t]);
    }
  for (guint t = 0; t < N_ESTABLISHERS; t++)
    g_thread_join (threads_of[t]);
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      g_assert_cmpint (sc_client_get_state (peers[i].client), ==, SC_CLIENT_STATE_CONNECTED);
      g_signal_connect (peers[i].client, "message-received", G_CALLBACK (on_peer_message),
                        &peers[i]);
      sc_client_start_listening (peers[i].client);
    }
  threads = count_io_threads_at_least (1);
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
  sc_test_iterate_until (no_io_threads, NULL, "the I/O threads to end after the last client");
  g_assert_cmpuint (count_io_threads (), ==, 0);
  for (guint i = 0; i < N_CLIENTS; i++)
    g_ptr_array_unref (peers[i].got);

  /* And a new client starts a thread again. */
  {
    g_autoptr (ScClient) again = connect_client (server);

    g_assert_cmpuint (count_io_threads_at_least (1), ==, 1);
    sc_client_shutdown (again);
  }
  sc_test_iterate_until (no_io_threads, NULL, "the I/O thread to end again");
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
  sc_test_iterate_until (have_client_id, &h, "the server to announce the client");

  for (guint i = 0; i < N_HANDLED; i++)
    {
      g_autofree char *text = g_strdup_printf ("message %u", i);

      g_assert_true (sc_server_send_message (server, h.client_id, text, &error));
      g_assert_no_error (error);
    }
  sc_test_iterate_until (all_replies_in, &h, "the replies sent from the handler");

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
  sc_test_iterate_until (is_true, &finalized, "the client to be finalized");
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

/* ---- a server's close reaches a busy client as a close ------------------ */

#define N_CLOSE_TRIALS 12

typedef struct
{
  ScClient *client;
  gint stop; /* atomic */
  gint sent; /* atomic */
  gint done; /* atomic: the thread stopped sending */
} Talker;

/* Sends until the client refuses (closed) or is told to stop; waits for
 * room when the outbox is full. */
static gpointer
talk (gpointer data)
{
  Talker *t = data;
  static const char msg[] =
      "0123456789012345678901234567890123456789012345678901234567890123456789";

  while (!g_atomic_int_get (&t->stop))
    {
      g_autoptr (GError) error = NULL;

      if (sc_client_send_message (t->client, msg, &error))
        g_atomic_int_inc (&t->sent);
      else if (g_error_matches (error, SC_ERROR, SC_ERROR_BUSY))
        (void) sc_client_wait_for_room (t->client, sizeof msg, 100);
      else
        break;
    }
  g_atomic_int_set (&t->done, TRUE);
  return NULL;
}

/* The talker has sent a good many messages (or stopped: the test fails). */
static gboolean
talker_busy (gpointer data)
{
  Talker *t = data;

  return g_atomic_int_get (&t->sent) >= 1000 || g_atomic_int_get (&t->done);
}

typedef struct
{
  GArray *states; /* ScClientState, in order */
} StatesSeen;

static void
on_state_seen (ScClient *client, ScClientState old_state, ScClientState new_state, gpointer data)
{
  StatesSeen *seen = data;

  g_array_append_val (seen->states, new_state);
}

static gboolean
ended_or_lost (gpointer data)
{
  StatesSeen *seen = data;

  for (guint i = 0; i < seen->states->len; i++)
    {
      ScClientState st = g_array_index (seen->states, ScClientState, i);

      if (st == SC_CLIENT_STATE_CLOSED || st == SC_CLIENT_STATE_RECONNECTING)
        return TRUE;
    }
  return FALSE;
}

static void
on_last_id (ScServer *server, const char *client_id, gpointer data)
{
  char **last = data;

  g_free (*last);
  *last = g_strdup (client_id);
}

/* The server closes a client that is sending as fast as it can, so the
 * server's socket has input it will never read when it closes. The
 * client must see the server's CLOSE (state CLOSED, no reconnection), not
 * a lost connection: a reset would make its kernel drop the CLOSE. */
static void
assert_server_close_is_clean (ScServer *server, ScTlsConfig *client_tls)
{
  for (guint trial = 0; trial < N_CLOSE_TRIALS; trial++)
    {
      g_autoptr (ScClient) client = sc_client_new (client_tls);
      g_autoptr (GError) error = NULL;
      g_autofree char *id = NULL;
      StatesSeen seen = { g_array_new (FALSE, FALSE, sizeof (ScClientState)) };
      Talker talker = { client, FALSE, 0, FALSE };
      gulong sig = g_signal_connect (server, "client-connected", G_CALLBACK (on_last_id), &id);
      GThread *thread;

      if (client_tls == NULL)
        sc_client_set_pinned_fingerprint (
            client, sc_identity_get_fingerprint (sc_server_get_identity (server)));
      sc_client_set_reconnect (client, TRUE, 5, 50, SC_TEST_GUARD_S * 1000);
      g_signal_connect (client, "state-changed", G_CALLBACK (on_state_seen), &seen);
      g_assert_true (sc_client_establish_secure_session (
          client, "127.0.0.1", sc_server_get_port (server), NULL, &error));
      g_assert_no_error (error);
      while (id == NULL)
        g_main_context_iteration (NULL, TRUE);
      thread = g_thread_new ("talker", talk, &talker);
      sc_test_iterate_until (talker_busy, &talker, "the client to send 1000 messages");
      g_assert_false (g_atomic_int_get (&talker.done));
      g_assert_true (sc_server_close_client_connection (server, id, &error));
      g_assert_no_error (error);
      sc_test_iterate_until (ended_or_lost, &seen, "the client to see the end");
      g_atomic_int_set (&talker.stop, TRUE);
      g_thread_join (thread);
      for (guint i = 0; i < seen.states->len; i++)
        g_assert_cmpint (g_array_index (seen.states, ScClientState, i), !=,
                         SC_CLIENT_STATE_RECONNECTING);
      sc_client_shutdown (client);
      g_signal_handler_disconnect (server, sig);
      g_array_unref (seen.states);
    }
}

static void
test_server_close_reaches_busy_client_plain (void)
{
  g_autoptr (ScServer) server = start_server (FALSE);

  assert_server_close_is_clean (server, NULL);
  sc_server_shutdown (server);
}

static void
test_server_close_reaches_busy_client_tls (void)
{
  g_autofree char *dir = g_dir_make_tmp ("sc-client-io-XXXXXX", NULL);
  g_autofree char *cert = g_build_filename (dir, SC_CERTGEN_SERVER_CERT, NULL);
  g_autofree char *key = g_build_filename (dir, SC_CERTGEN_SERVER_KEY, NULL);
  g_autoptr (ScTlsConfig) server_tls = NULL;
  g_autoptr (ScTlsConfig) client_tls = NULL;
  g_autoptr (ScServer) server = NULL;
  g_autoptr (GError) error = NULL;

  g_free (write_pki (dir, FALSE));
  server_tls = sc_tls_config_new (TRUE, cert, key, NULL, SC_TLS_VERIFY_NONE);
  client_tls = client_tls_config (dir);
  server = sc_server_new ("127.0.0.1", 0, server_tls);
  g_assert_true (sc_server_start (server, &error));
  g_assert_no_error (error);
  assert_server_close_is_clean (server, client_tls);
  sc_server_shutdown (server);
  remove_dir (dir);
}

/* ---- shutting down against everything else ------------------------------ */

/* How many I/O threads the clients may use (sc-client.c). */
static guint
io_thread_limit (void)
{
  return MIN (4, g_get_num_processors ());
}

/* Every client id the server announced, in order. */
static void
on_any_client_connected (ScServer *server, const char *client_id, gpointer data)
{
  g_ptr_array_add (data, g_strdup (client_id));
}

typedef struct
{
  GPtrArray *ids;
  guint want;
} Ids;

static gboolean
have_ids (gpointer data)
{
  Ids *ids = data;

  return ids->ids->len >= ids->want;
}

/* Holds the I/O threads that enter it (in a message handler) until opened. */
typedef struct
{
  GMutex lock;
  GCond cond;
  guint entered;
  gboolean open;
} Gate;

static void
on_gate_message (ScClient *client, GBytes *message, gpointer data)
{
  Gate *gate = data;

  g_mutex_lock (&gate->lock);
  gate->entered++;
  g_cond_broadcast (&gate->cond);
  while (!gate->open)
    g_cond_wait (&gate->cond, &gate->lock);
  g_mutex_unlock (&gate->lock);
}

static void
gate_open (Gate *gate)
{
  g_mutex_lock (&gate->lock);
  gate->open = TRUE;
  g_cond_broadcast (&gate->cond);
  g_mutex_unlock (&gate->lock);
}

static gboolean
gate_full (gpointer data)
{
  Gate *gate = data;
  guint entered;

  g_mutex_lock (&gate->lock);
  entered = gate->entered;
  g_mutex_unlock (&gate->lock);
  return entered >= io_thread_limit ();
}

/* Connects one client per I/O thread (each starts its own: the first
 * clients never share while a slot is free), whose handler is the gate;
 * ids gets their ids at the server. Returns the clients. */
static GPtrArray *
connect_blockers (ScServer *server, Gate *gate, GPtrArray *ids)
{
  GPtrArray *blockers = g_ptr_array_new_with_free_func (g_object_unref);
  Ids want = { ids, io_thread_limit () };
  gulong sig = g_signal_connect (server, "client-connected", G_CALLBACK (on_any_client_connected),
                                 ids);

  sc_test_iterate_until (no_io_threads, NULL, "the I/O threads of earlier tests to end");
  for (guint i = 0; i < io_thread_limit (); i++)
    {
      ScClient *client = connect_client (server);

      sc_client_set_message_handler (client, on_gate_message, gate, NULL);
      g_ptr_array_add (blockers, client);
    }
  g_assert_cmpuint (count_io_threads_at_least (io_thread_limit ()), ==, io_thread_limit ());
  sc_test_iterate_until (have_ids, &want, "the server to announce the blockers");
  g_signal_handler_disconnect (server, sig);
  return blockers;
}

/* Holds every I/O thread in the gate (a message to each blocker). */
static void
hold_io_threads (ScServer *server, Gate *gate, GPtrArray *ids)
{
  for (guint i = 0; i < ids->len; i++)
    {
      g_autoptr (GError) error = NULL;

      g_assert_true (sc_server_send_message (server, g_ptr_array_index (ids, i), "hold", &error));
      g_assert_no_error (error);
    }
  sc_test_iterate_until (gate_full, gate, "every I/O thread to enter the gate");
}

/* Both of the above. */
static GPtrArray *
block_all_io_threads (ScServer *server, Gate *gate)
{
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  GPtrArray *blockers = connect_blockers (server, gate, ids);

  hold_io_threads (server, gate, ids);
  return blockers;
}

static void
shut_down_all (GPtrArray *clients)
{
  for (guint i = 0; i < clients->len; i++)
    sc_client_shutdown (g_ptr_array_index (clients, i));
  g_ptr_array_unref (clients);
}

/* A thread's kernel id, so that its state can be read in /proc. */
static gint
current_tid (void)
{
  return (gint) syscall (SYS_gettid);
}

/* Whether the thread sleeps (in a wait: here, for the client's condition). */
static gboolean
thread_sleeps (gint tid)
{
  g_autofree char *path = g_strdup_printf ("/proc/self/task/%d/stat", tid);
  g_autofree char *stat = NULL;
  const char *end;

  if (!g_file_get_contents (path, &stat, NULL, NULL) || (end = strrchr (stat, ')')) == NULL)
    return FALSE;
  return end[1] == ' ' && end[2] == 'S';
}

typedef struct
{
  ScClient *client;
  guint16 port;
  GCancellable *cancel; /* establish's, or NULL */
  gint tid;
  gboolean done; /* atomic */
  GError *error;
  gboolean ok;
} Call;

static gpointer
establish_in_thread (gpointer data)
{
  Call *call = data;

  call->ok = sc_client_establish_secure_session (call->client, "127.0.0.1", call->port,
                                                 call->cancel, &call->error);
  g_atomic_int_set (&call->done, TRUE);
  return NULL;
}

static gpointer
shutdown_in_thread (gpointer data)
{
  Call *call = data;

  g_atomic_int_set (&call->tid, current_tid ());
  sc_client_shutdown (call->client);
  g_atomic_int_set (&call->done, TRUE);
  return NULL;
}

static gboolean
call_done (gpointer data)
{
  return g_atomic_int_get (&((Call *) data)->done);
}

static gboolean
call_waits (gpointer data)
{
  Call *call = data;
  gint tid = g_atomic_int_get (&call->tid);

  for (guint i = 0; i < 3; i++) /* asleep three times in a row: waiting */
    {
      if (tid == 0 || !thread_sleeps (tid))
        return FALSE;
      g_usleep (1000);
    }
  return TRUE;
}

typedef struct
{
  ScClient *client;
  ScClientState state;
} StateIs;

static gboolean
state_is (gpointer data)
{
  StateIs *s = data;

  return sc_client_get_state (s->client) == s->state;
}

static void
on_error_seen (ScClient *client, const GError *error, gpointer data)
{
  GError **seen = data;

  if (*seen == NULL)
    *seen = g_error_copy (error);
}

static gboolean
error_seen (gpointer data)
{
  return *(GError **) data != NULL;
}

/* establish's cancellable ends the SecureComm handshake (here waiting for
 * a server that never answers) with G_IO_ERROR_CANCELLED: the channel was
 * aborted for the cancel (the client's error signal says so), not ended by
 * the handshake timer. One cancelled beforehand ends establish at once. A
 * cancel after the session is up changes nothing: the session stays. */
static void
test_establish_cancel_ends_handshake_not_session (void)
{
  g_autoptr (GError) ended = NULL;
  g_autoptr (ScServer) server = start_server (FALSE);
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  g_autoptr (GCancellable) early = g_cancellable_new ();
  g_autoptr (GCancellable) late = g_cancellable_new ();
  g_autoptr (ScClient) client = sc_client_new (NULL);
  g_autoptr (ScClient) cancelled = sc_client_new (NULL);
  g_autoptr (ScClient) kept = sc_client_new (NULL);
  g_autoptr (GError) error = NULL;
  const char *fingerprint = sc_identity_get_fingerprint (sc_server_get_identity (server));
  guint16 silent_port;
  g_autoptr (GSocket) listener = sc_test_listen_loopback (&silent_port) /* never answers */;
  Call establish = { 0 };
  StateIs handshaking = { client, SC_CLIENT_STATE_HANDSHAKING };
  GThread *t;

  /* during the SecureComm handshake */
  sc_client_set_accept_any_server (client, TRUE);
  g_signal_connect (client, "error", G_CALLBACK (on_error_seen), &ended);
  establish = (Call) { .client = client, .port = silent_port, .cancel = cancel };
  t = g_thread_new ("establish", establish_in_thread, &establish);
  sc_test_iterate_until (state_is, &handshaking, "establish to send its ClientHello");
  g_cancellable_cancel (cancel);
  sc_test_iterate_until (call_done, &establish, "establish to return");
  g_thread_join (t);
  g_assert_false (establish.ok);
  g_assert_error (establish.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&establish.error);
  g_assert_cmpint (sc_client_get_state (client), ==, SC_CLIENT_STATE_CLOSED);
  sc_test_iterate_until (error_seen, &ended, "the client's error signal");
  g_test_message ("the channel ended: %s", ended->message);
  g_assert_error (ended, SC_ERROR, SC_ERROR_CLOSED); /* not SC_ERROR_TIMEOUT */

  /* before it starts */
  sc_client_set_pinned_fingerprint (cancelled, fingerprint);
  g_cancellable_cancel (early);
  g_assert_false (sc_client_establish_secure_session (cancelled, "127.0.0.1",
                                                      sc_server_get_port (server), early, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_cmpint (sc_client_get_state (cancelled), ==, SC_CLIENT_STATE_CLOSED);

  /* after the session is up */
  sc_client_set_pinned_fingerprint (kept, fingerprint);
  g_assert_true (sc_client_establish_secure_session (kept, "127.0.0.1", sc_server_get_port (server),
                                                     late, &error));
  g_assert_no_error (error);
  g_cancellable_cancel (late);
  g_assert_true (sc_client_send_message (kept, "after the cancel", &error));
  g_assert_no_error (error);
  g_assert_true (sc_client_flush (kept, SC_TEST_GUARD_S * 1000, &error)); /* acknowledged */
  g_assert_no_error (error);
  g_assert_cmpint (sc_client_get_state (kept), ==, SC_CLIENT_STATE_CONNECTED);
  sc_client_shutdown (kept);
  sc_server_shutdown (server);
  g_assert_true (g_socket_close (listener, &error));
  g_assert_no_error (error);
}

/* establish() runs the attempt in its own thread: here against a listener
 * that accepts but never answers, so the handshake waits. shutdown() from
 * another thread closes the channel, which wakes establish's context:
 * establish returns SC_ERROR_CLOSED while every I/O thread is still held
 * (it needs none of them), and shutdown returns once it may let go of its
 * I/O thread. A client shut down before it connects refuses to connect,
 * even after its I/O thread has ended. */
static void
test_shutdown_racing_establish_ends_both (void)
{
  g_autoptr (ScServer) server = start_server (FALSE);
  guint16 silent_port;
  g_autoptr (GSocket) listener = sc_test_listen_loopback (&silent_port) /* never answers */;
  Gate gate = { .open = FALSE };
  GPtrArray *blockers;
  g_autoptr (ScClient) client = NULL;
  g_autoptr (ScClient) unused = NULL;
  g_autoptr (GError) error = NULL;
  Call establish = { 0 }, shutdown = { 0 };
  StateIs handshaking;
  GThread *t1, *t2;

  g_mutex_init (&gate.lock);
  g_cond_init (&gate.cond);
  blockers = block_all_io_threads (server, &gate);
  client = sc_client_new (NULL); /* on one of the held threads */
  sc_client_set_accept_any_server (client, TRUE);
  establish = (Call) { .client = client, .port = silent_port };
  t1 = g_thread_new ("establish", establish_in_thread, &establish);
  handshaking = (StateIs) { client, SC_CLIENT_STATE_HANDSHAKING };
  sc_test_iterate_until (state_is, &handshaking, "establish to send its ClientHello");
  shutdown = (Call) { .client = client };
  t2 = g_thread_new ("shutdown", shutdown_in_thread, &shutdown);
  sc_test_iterate_until (call_done, &establish, "establish to return");
  g_assert_false (establish.ok);
  g_assert_error (establish.error, SC_ERROR, SC_ERROR_CLOSED);
  g_test_message ("establish: %s", establish.error->message);
  g_clear_error (&establish.error);
  gate_open (&gate); /* shutdown may wait for its I/O thread's dispatch to return */
  sc_test_iterate_until (call_done, &shutdown, "shutdown to return");
  g_thread_join (t1);
  g_thread_join (t2);
  g_assert_cmpint (sc_client_get_state (client), ==, SC_CLIENT_STATE_CLOSED);
  shut_down_all (blockers);

  /* Shut down first, I/O thread gone: establish refuses, no hang. */
  unused = sc_client_new (NULL);
  sc_client_set_accept_any_server (unused, TRUE);
  sc_client_shutdown (unused);
  g_clear_object (&client);
  sc_test_iterate_until (no_io_threads, NULL, "the I/O threads to end");
  g_assert_false (sc_client_establish_secure_session (unused, "127.0.0.1",
                                                      sc_server_get_port (server), NULL, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_CLOSED);
  g_assert_true (g_socket_close (listener, NULL));
  g_mutex_clear (&gate.lock);
  g_cond_clear (&gate.cond);
}

static void
on_finalized_atomic (gpointer data, GObject *where_the_object_was)
{
  g_atomic_int_set ((gint *) data, TRUE);
}

static gboolean
is_true_atomic (gpointer data)
{
  return g_atomic_int_get ((gint *) data);
}

/* A TLS handshake is under way (the "server" is a listening socket that
 * never answers) when shutdown() is called, and the I/O threads are busy:
 * shutdown waits until the attempt has ended (cancelled), so establish
 * reports the cancellation, never a close that shutdown made while the
 * handshake was still running; and once shutdown has returned the I/O
 * thread has let go of the client: dropping the last reference finalizes
 * it as soon as the caller's context has run what is queued. */
static void
test_shutdown_during_tls_handshake_waits_for_it (void)
{
  g_autoptr (ScServer) server = start_server (FALSE);
  guint16 silent_port;
  g_autoptr (GSocket) listener = sc_test_listen_loopback (&silent_port) /* never answers */;
  g_autoptr (ScTlsConfig) tls = sc_tls_config_new (TRUE, NULL, NULL, NULL, SC_TLS_VERIFY_NONE);
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  Gate gate = { .open = FALSE };
  GPtrArray *blockers;
  ScClient *client;
  Call establish = { 0 }, shutdown = { 0 };
  StateIs handshaking;
  gint finalized = FALSE;
  GThread *t1, *t2;

  g_mutex_init (&gate.lock);
  g_cond_init (&gate.cond);
  blockers = connect_blockers (server, &gate, ids);
  client = sc_client_new (tls);
  sc_client_set_accept_any_server (client, TRUE);
  establish = (Call) { .client = client, .port = silent_port };
  t1 = g_thread_new ("establish", establish_in_thread, &establish);
  handshaking = (StateIs) { client, SC_CLIENT_STATE_HANDSHAKING };
  sc_test_iterate_until (state_is, &handshaking, "the TLS handshake to start");
  hold_io_threads (server, &gate, ids); /* its end cannot be handled now */
  shutdown = (Call) { .client = client };
  t2 = g_thread_new ("shutdown", shutdown_in_thread, &shutdown);
  sc_test_iterate_until (call_waits, &shutdown, "shutdown to wait");
  gate_open (&gate);
  sc_test_iterate_until (call_done, &shutdown, "shutdown to return");
  sc_test_iterate_until (call_done, &establish, "establish to return");
  g_thread_join (t1);
  g_thread_join (t2);
  g_assert_false (establish.ok);
  g_test_message ("establish: %s", establish.error->message);
  g_assert_error (establish.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&establish.error);
  g_assert_cmpint (sc_client_get_state (client), ==, SC_CLIENT_STATE_CLOSED);
  g_object_weak_ref (G_OBJECT (client), on_finalized_atomic, &finalized);
  g_object_unref (client);
  while (g_main_context_iteration (NULL, FALSE)) /* queued signals and the I/O reference */
    ;
  g_assert_true (g_atomic_int_get (&finalized));
  shut_down_all (blockers);
  sc_test_iterate_until (no_io_threads, NULL, "the I/O threads to end");
  g_assert_true (g_socket_close (listener, &error));
  g_assert_no_error (error);
  g_mutex_clear (&gate.lock);
  g_cond_clear (&gate.cond);
}

/* A handler that drops the last reference to a client: its own, or
 * another client's (victim). */
typedef struct
{
  ScClient *victim; /* the reference to drop */
  gint dropped;     /* atomic */
} Dropper;

static void
on_drop_message (ScClient *client, GBytes *message, gpointer data)
{
  Dropper *d = data;

  if (g_atomic_int_compare_and_exchange (&d->dropped, FALSE, TRUE))
    g_object_unref (d->victim); /* in the I/O thread */
}

static gboolean
no_server_clients (gpointer data)
{
  return sc_server_get_client_count (data) == 0;
}

static void
send_to_all (ScServer *server, GPtrArray *ids)
{
  for (guint i = 0; i < ids->len; i++)
    {
      g_autoptr (GError) error = NULL;

      g_assert_true (sc_server_send_message (server, g_ptr_array_index (ids, i), "go", &error));
      g_assert_no_error (error);
    }
}

/* The client's own handler drops its last reference: the client is shut
 * down in the background (the server sees it go), finalized, and lets go
 * of its I/O thread, which then ends. */
static void
test_last_unref_in_own_handler_shuts_down_in_background (void)
{
  g_autoptr (ScServer) server = start_server (FALSE);
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  Ids want = { ids, 1 };
  Dropper d = { NULL, FALSE };
  gint finalized = FALSE;

  sc_test_iterate_until (no_io_threads, NULL, "the I/O threads of earlier tests to end");
  g_signal_connect (server, "client-connected", G_CALLBACK (on_any_client_connected), ids);
  d.victim = connect_client (server); /* the handler owns this reference */
  g_object_weak_ref (G_OBJECT (d.victim), on_finalized_atomic, &finalized);
  sc_client_set_message_handler (d.victim, on_drop_message, &d, NULL);
  sc_test_iterate_until (have_ids, &want, "the server to announce the client");
  send_to_all (server, ids);
  sc_test_iterate_until (is_true_atomic, &finalized, "the client to be finalized");
  sc_test_iterate_until (no_server_clients, server, "the server to see the client go");
  sc_test_iterate_until (no_io_threads, NULL, "the I/O thread to end");
}

/* Client b's handler drops the last reference to client a, which runs on
 * the same I/O thread (the first client per thread and the one after
 * every thread has one share the first thread): a is shut down in the
 * background and finalized; b still works. */
static void
test_last_unref_in_other_clients_handler_shuts_down_in_background (void)
{
  g_autoptr (ScServer) server = start_server (FALSE);
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) fillers = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (ScClient) b = NULL;
  Ids want = { ids, 2 };
  Dropper d = { NULL, FALSE };
  gint finalized = FALSE;
  g_autoptr (GError) error = NULL;

  sc_test_iterate_until (no_io_threads, NULL, "the I/O threads of earlier tests to end");
  g_signal_connect (server, "client-connected", G_CALLBACK (on_any_client_connected), ids);
  d.victim = connect_client (server); /* first thread */
  for (guint i = 1; i < io_thread_limit (); i++)
    g_ptr_array_add (fillers, sc_client_new (NULL)); /* one on each other thread */
  /* b shares the first thread with a */
  b = connect_client (server);
  g_assert_cmpuint (count_io_threads_at_least (io_thread_limit ()), ==, io_thread_limit ());
  g_object_weak_ref (G_OBJECT (d.victim), on_finalized_atomic, &finalized);
  sc_client_set_message_handler (b, on_drop_message, &d, NULL);
  sc_test_iterate_until (have_ids, &want, "the server to announce both clients");
  send_to_all (server, ids); /* a has no handler: its message waits */
  sc_test_iterate_until (is_true_atomic, &finalized, "client a to be finalized");
  g_assert_true (sc_client_send_message (b, "still here", &error));
  g_assert_no_error (error);
  g_assert_true (sc_client_flush (b, SC_TEST_GUARD_S * 1000, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sc_client_get_state (b), ==, SC_CLIENT_STATE_CONNECTED);
  sc_client_shutdown (b);
  g_clear_object (&b);
  g_clear_pointer (&fillers, g_ptr_array_unref);
  sc_test_iterate_until (no_server_clients, server, "the server to see both go");
  sc_test_iterate_until (no_io_threads, NULL, "the I/O threads to end");
}

/* g_test_expect_message() does not see structured logging (GLib 2.74):
 * while expecting, the writer counts the critical warning of a shutdown in
 * an I/O thread instead of aborting on it. */
static gint expect_io_critical; /* atomic */
static gint io_criticals;       /* atomic */

static GLogWriterOutput
test_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  for (gsize i = 0; i < n_fields && (level & G_LOG_LEVEL_CRITICAL); i++)
    if (g_str_equal (fields[i].key, "MESSAGE") && fields[i].length < 0
        && strstr (fields[i].value, "called in an ScClient I/O thread") != NULL
        && g_atomic_int_get (&expect_io_critical))
      {
        g_atomic_int_inc (&io_criticals);
        return G_LOG_WRITER_HANDLED;
      }
  return g_log_writer_default (level, fields, n_fields, data);
}

static void
on_shutdown_message (ScClient *client, GBytes *message, gpointer data)
{
  gint *called = data;

  if (g_atomic_int_compare_and_exchange (called, FALSE, TRUE))
    sc_client_shutdown (client); /* not allowed here: done in the background */
}

static gboolean
client_closed (gpointer data)
{
  StateIs closed = { data, SC_CLIENT_STATE_CLOSED };

  return state_is (&closed);
}

/* sc_client_shutdown() from the client's own handler is refused with a
 * critical warning, and the shutdown completes anyway, in the background:
 * the client ends closed, the server sees it go, and it lets go of its
 * I/O thread, which ends. */
static void
test_shutdown_in_handler_completes_in_background (void)
{
  g_autoptr (ScServer) server = start_server (FALSE);
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (ScClient) client = NULL;
  Ids want = { ids, 1 };
  gint called = FALSE;

  sc_test_iterate_until (no_io_threads, NULL, "the I/O threads of earlier tests to end");
  g_signal_connect (server, "client-connected", G_CALLBACK (on_any_client_connected), ids);
  client = connect_client (server);
  sc_client_set_message_handler (client, on_shutdown_message, &called, NULL);
  sc_test_iterate_until (have_ids, &want, "the server to announce the client");
  g_atomic_int_set (&expect_io_critical, TRUE);
  send_to_all (server, ids);
  sc_test_iterate_until (client_closed, client, "the client to be closed");
  sc_test_iterate_until (no_server_clients, server, "the server to see the client go");
  g_atomic_int_set (&expect_io_critical, FALSE);
  g_assert_cmpint (g_atomic_int_get (&io_criticals), ==, 1);
  g_clear_object (&client);
  sc_test_iterate_until (no_io_threads, NULL, "the I/O thread to end");
}

/* ---- waiting for room in the outbox --------------------------------------- */

/* A server message handler that holds every call at the gate until it
 * opens. The server acknowledges what it read only after the handlers of
 * that read have returned, so while it holds, nothing is acknowledged. */
static void
on_gated_server_message (ScServer *server, const char *client_id, GBytes *message, gpointer data)
{
  on_gate_message (NULL, message, data);
}

typedef struct
{
  ScClient *client;
  gboolean room;
} RoomWait;

static gpointer
wait_for_room_thread (gpointer data)
{
  RoomWait *w = data;

  w->room = sc_client_wait_for_room (w->client, 4, 60000);
  return NULL;
}

static void
test_wait_for_room_until_acknowledged (void)
{
  g_autoptr (ScServer) server = sc_server_new ("127.0.0.1", 0, NULL);
  g_autoptr (ScClient) client = NULL;
  g_autoptr (GError) error = NULL;
  Gate gate = { .open = FALSE };
  RoomWait w = { NULL, FALSE };
  GThread *thread;
  guint queued = 0;

  g_mutex_init (&gate.lock);
  g_cond_init (&gate.cond);
  sc_server_set_message_handler (server, on_gated_server_message, &gate, NULL);
  g_assert_true (sc_server_start (server, &error));
  g_assert_no_error (error);
  client = connect_client (server);

  /* The first message stops in the handler: the outbox fills up. */
  while (sc_client_send_message (client, "fill", &error))
    queued++;
  g_assert_error (error, SC_ERROR, SC_ERROR_BUSY);
  g_clear_error (&error);
  g_assert_cmpuint (queued, >, 0);
  g_assert_cmpuint (sc_client_get_outbox_length (client), ==, queued);

  /* Nothing can be acknowledged: the wait ends at its timeout, no room. */
  g_assert_false (sc_client_wait_for_room (client, 4, 20));
  g_assert_false (sc_client_send_message (client, "still full", &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_BUSY);
  g_clear_error (&error);

  /* A waiting sender wakes when an acknowledgement makes room. */
  w.client = client;
  thread = g_thread_new ("room", wait_for_room_thread, &w);
  gate_open (&gate);
  g_thread_join (thread);
  g_assert_true (w.room);
  g_assert_true (sc_client_send_message (client, "room again", &error));
  g_assert_no_error (error);
  g_assert_true (sc_client_flush (client, 60000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (sc_client_get_outbox_length (client), ==, 0);

  sc_client_shutdown (client);
  sc_server_shutdown (server);
  g_mutex_clear (&gate.lock);
  g_cond_clear (&gate.cond);
}

/* ---- establishing asynchronously --------------------------------------- */

static void
on_established (GObject *source, GAsyncResult *result, gpointer data)
{
  Call *call = data;

  call->ok = sc_client_establish_secure_session_finish (SC_CLIENT (source), result, &call->error);
  g_atomic_int_set (&call->done, TRUE);
}

/* The asynchronous establish (a thread of GLib's pool runs the attempt)
 * reports in the caller's context, and the session works: an echo comes
 * back to the signal. */
static void
test_establish_async_reports_in_callers_context (void)
{
  g_autoptr (ScServer) server = start_server (TRUE);
  g_autoptr (ScClient) client = sc_client_new (NULL);
  g_autoptr (GError) error = NULL;
  Peer peer = { client, 0, g_ptr_array_new_with_free_func (g_free) };
  Call call = { .client = client };

  sc_client_set_pinned_fingerprint (client,
                                    sc_identity_get_fingerprint (sc_server_get_identity (server)));
  g_signal_connect (client, "message-received", G_CALLBACK (on_peer_message), &peer);
  sc_client_start_listening (client);
  sc_client_establish_secure_session_async (client, "127.0.0.1", sc_server_get_port (server), NULL,
                                            on_established, &call);
  sc_test_iterate_until (call_done, &call, "the asynchronous establish to finish");
  g_assert_no_error (call.error);
  g_assert_true (call.ok);
  g_assert_true (sc_client_is_connected (client));
  g_assert_true (sc_client_send_message (client, "echo me", &error));
  g_assert_no_error (error);
  sc_test_iterate_until (peer_got_one, &peer, "the echo");
  g_assert_cmpstr (g_ptr_array_index (peer.got, 0), ==, "echo me");
  sc_client_shutdown (client);
  g_ptr_array_unref (peer.got);
}

/* ---- connecting and closing ----------------------------------------------- */

/* short-lived clients in the clean-close test */
#define N_SHORT_LIVED 20

/* Sockets the process has open (listening, connected, lingering): not
 * the descriptors of contexts and pollers, which a first client makes and
 * the process keeps. */
static gboolean
is_socket (const char *fd_path, gpointer unused)
{
  g_autofree char *target = g_file_read_link (fd_path, NULL);

  return target != NULL && g_str_has_prefix (target, "socket:");
}

static guint
count_open_sockets (void)
{
  return sc_test_count_proc_entries ("/proc/self/fd", is_socket, NULL);
}

typedef struct
{
  GPtrArray *reasons; /* char *, from client-disconnected */
  guint sockets_before;
} Ends;

static void
on_end_seen (ScServer *server, const char *client_id, const char *reason, gpointer data)
{
  g_ptr_array_add (((Ends *) data)->reasons, g_strdup (reason));
}

static gboolean
all_ends_seen (gpointer data)
{
  return ((Ends *) data)->reasons->len >= N_SHORT_LIVED + 1;
}

static gboolean
sockets_back (gpointer data)
{
  return count_open_sockets () <= ((Ends *) data)->sockets_before;
}

/* Clients that establish and shut down at once (the session goes to the
 * I/O thread and comes back to the caller's for the close, racing the
 * server's ticket): the server sees each one close cleanly (it read our
 * CLOSE: not a lost connection, whose stream it would keep for a
 * resumption), and every client socket gets closed in the end (after the
 * server closed its side, by the I/O thread's reaper), although nothing
 * of the client is left to run it but the I/O thread. */
static void
test_shutdown_is_a_clean_close_and_releases_the_socket (void)
{
  g_autoptr (ScServer) server = NULL;
  Ends ends = { NULL, 0 };

  if (!g_test_subprocess ())
    {
      /* alone in a process: no socket of an earlier test still lingers */
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }
  server = start_server (FALSE);
  ends.reasons = g_ptr_array_new_with_free_func (g_free);

  g_signal_connect (server, "client-disconnected", G_CALLBACK (on_end_seen), &ends);
  ends.sockets_before = count_open_sockets (); /* the server's listening ones */
  for (guint i = 0; i < N_SHORT_LIVED + 1; i++)
    {
      g_autoptr (ScClient) client = connect_client (server);

      sc_client_shutdown (client);
    }
  sc_test_iterate_until (all_ends_seen, &ends, "the server to see every client go");
  for (guint i = 0; i < ends.reasons->len; i++)
    g_assert_cmpstr (g_ptr_array_index (ends.reasons, i), ==, "closed by peer");
  /* the server closed its ends on reading our CLOSE; the reaper ours */
  sc_test_iterate_until (sockets_back, &ends, "every connection's sockets to be closed");
  sc_server_shutdown (server);
  g_ptr_array_unref (ends.reasons);
}

/* A port with nothing listening: establish fails at once, saying it could
 * not connect, with the code a caller tells apart (the command-line tool
 * adds its hint to it). */
static void
test_establish_refused_says_could_not_connect (void)
{
  g_autoptr (ScClient) client = sc_client_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *where = NULL;
  guint16 port;

  /* a port the kernel just gave out, and nothing listens on it now */
  g_object_unref (sc_test_listen_loopback (&port));
  where = g_strdup_printf ("could not connect to 127.0.0.1:%u", port);
  sc_client_set_accept_any_server (client, TRUE);
  g_assert_false (sc_client_establish_secure_session (client, "127.0.0.1", port, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_nonnull (strstr (error->message, where));
  g_assert_cmpint (sc_client_get_state (client), ==, SC_CLIENT_STATE_CLOSED);
  sc_client_shutdown (client);
}

/* A connection that never completes (the listener's backlog is full: the
 * kernel drops the SYNs) ends with the handshake timeout, reported as the
 * connection timing out, as GSocketClient's own timeout would; meanwhile,
 * in another thread, a connection that completes to a server that never
 * answers ends with the same timeout reported as the handshake's, not as
 * a failed connection. Takes SC_DEFAULT_HANDSHAKE_TIMEOUT_MS. */
static void
test_establish_connect_timeout_says_could_not_connect (void)
{
  g_autoptr (ScClient) client = sc_client_new (NULL);
  g_autoptr (ScClient) silent_client = sc_client_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) listener = NULL;
  g_autoptr (GSocket) silent_listener = NULL;
  Call silent = { 0 };
  GThread *silent_thread;
  g_autoptr (GSocket) queued = NULL;
  g_autoptr (GSocketAddress) at = NULL;
  g_autofree char *where = NULL;
  guint16 port;

  {
    g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
    g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);

    listener = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                             &error);
    g_assert_no_error (error);
    g_socket_set_listen_backlog (listener, 0); /* one queued connection fills it */
    g_assert_true (g_socket_bind (listener, any, TRUE, &error));
    g_assert_true (g_socket_listen (listener, &error));
    g_assert_no_error (error);
  }
  at = g_socket_get_local_address (listener, &error);
  g_assert_no_error (error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (at));
  queued = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_connect (queued, at, NULL, &error));
  g_assert_no_error (error);
  silent_listener = sc_test_listen_loopback (&silent.port);
  silent.client = silent_client;
  sc_client_set_accept_any_server (silent_client, TRUE);
  silent_thread = g_thread_new ("silent", establish_in_thread, &silent);
  where = g_strdup_printf ("could not connect to 127.0.0.1:%u", port);
  sc_client_set_accept_any_server (client, TRUE);
  g_assert_false (sc_client_establish_secure_session (client, "127.0.0.1", port, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_nonnull (strstr (error->message, where));
  sc_client_shutdown (client);
  g_thread_join (silent_thread);
  g_assert_false (silent.ok);
  g_assert_error (silent.error, SC_ERROR, SC_ERROR_TIMEOUT);
  sc_client_shutdown (silent_client);
  g_clear_error (&silent.error);
}

/* Out of descriptors when the first client starts an I/O thread (its
 * context gets the last one, its epoll source none): the client still
 * shuts down, and the thread (which then runs without its poller) keeps
 * working and ends, instead of crashing when it next sleeps with a
 * timeout. In a subprocess: it lowers its descriptor limit. */
static void
test_io_thread_without_poller (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (GArray) taken = g_array_new (FALSE, FALSE, sizeof (int));
      struct rlimit lim;
      int fd;

      /* what the client takes first (the signals' context) is there */
      g_main_context_default ();
      g_type_ensure (SC_TYPE_CLIENT);
      g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &lim), ==, 0);
      lim.rlim_cur = MIN (lim.rlim_cur,
                          (rlim_t) sc_test_count_proc_entries ("/proc/self/fd", NULL, NULL) + 64);
      g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &lim), ==, 0);
      while ((fd = dup (0)) >= 0) /* every descriptor taken... */
        g_array_append_val (taken, fd);
      g_assert_cmpuint (taken->len, >, 0);
      close (g_array_index (taken, int, --taken->len)); /* ...but one: for the I/O context */
      {
        g_autoptr (ScClient) client = sc_client_new (NULL);

        sc_client_shutdown (client); /* the thread now sleeps with its linger timeout */
        g_usleep (200 * 1000);
      }
      for (guint i = 0; i < taken->len; i++) /* (LeakSanitizer needs some at exit) */
        close (g_array_index (taken, int, i));
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  g_log_set_writer_func (test_log_writer, NULL, NULL);
  g_test_init (&argc, &argv, NULL);
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  g_test_add_func ("/client/io/many-clients-share-io-threads-which-end-after-the-last",
                   test_many_clients_share_io_threads_which_end_after_the_last);
  g_test_add_func ("/client/establish/async-reports-in-callers-context",
                   test_establish_async_reports_in_callers_context);
  g_test_add_func ("/client/handler/gets-each-message-once-in-order-and-may-send",
                   test_handler_gets_each_message_once_in_order_and_may_send);
  g_test_add_func ("/client/handler/destroyed-once-at-finalize",
                   test_handler_destroyed_once_at_finalize);
  g_test_add_func ("/client/send/refuses-exactly-invalid-utf8",
                   test_send_message_refuses_exactly_invalid_utf8);
  g_test_add_func ("/client/send/wait-for-room-until-acknowledged",
                   test_wait_for_room_until_acknowledged);
  g_test_add_func ("/client/tls/context-shared-until-ca-file-changes",
                   test_tls_context_shared_until_ca_file_changes);
  g_test_add_func ("/client/tls/client-after-ca-change-uses-new-trust-store",
                   test_tls_client_after_ca_change_uses_new_trust_store);
  g_test_add_func ("/client/establish/cancel-ends-handshake-not-session",
                   test_establish_cancel_ends_handshake_not_session);
  g_test_add_func ("/client/close/server-close-reaches-busy-client/plain",
                   test_server_close_reaches_busy_client_plain);
  g_test_add_func ("/client/close/server-close-reaches-busy-client/tls",
                   test_server_close_reaches_busy_client_tls);
  g_test_add_func ("/client/shutdown/racing-establish-ends-both",
                   test_shutdown_racing_establish_ends_both);
  g_test_add_func ("/client/shutdown/during-tls-handshake-waits-for-it",
                   test_shutdown_during_tls_handshake_waits_for_it);
  g_test_add_func ("/client/shutdown/last-unref-in-own-handler-shuts-down-in-background",
                   test_last_unref_in_own_handler_shuts_down_in_background);
  g_test_add_func ("/client/shutdown/last-unref-in-other-clients-handler-shuts-down-in-background",
                   test_last_unref_in_other_clients_handler_shuts_down_in_background);
  g_test_add_func ("/client/shutdown/in-handler-completes-in-background",
                   test_shutdown_in_handler_completes_in_background);
  g_test_add_func ("/client/shutdown/is-a-clean-close-and-releases-the-socket",
                   test_shutdown_is_a_clean_close_and_releases_the_socket);
  g_test_add_func ("/client/establish/refused-says-could-not-connect",
                   test_establish_refused_says_could_not_connect);
  g_test_add_func ("/client/establish/connect-timeout-says-could-not-connect",
                   test_establish_connect_timeout_says_could_not_connect);
  g_test_add_func ("/client/io/thread-without-poller", test_io_thread_without_poller);
  return g_test_run ();
}
