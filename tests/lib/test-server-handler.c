/* test-server-handler.c: ScServer's direct message handler
 * (sc_server_set_message_handler) over real sockets on 127.0.0.1, with real
 * ScClients. The handler runs in the server's I/O worker threads: it gets
 * every message once, in order, with its sender's id; it may answer with
 * sc_server_send_bytes() and end the connection with
 * sc_server_close_client_connection() from inside; its destroy notify
 * runs; and while it is set the message-received signal is not emitted.
 * No timing assertions: waits are for events, bounded only against hangs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "sc-client.h"
#include "sc-error.h"
#include "sc-server.h"
#include "tests/sc-test-wait.h"

#define N_MESSAGES 2000
#define N_CLIENTS 3
#define CLOSE_ME "close me"
/* messages: echoes in flight at once, well under the outbox's limit */
#define ECHO_WINDOW 200

/* What the handler saw; it runs in worker threads, so under a lock. */
typedef struct
{
  GMutex lock;
  GHashTable *by_id;    /* client id -> GPtrArray of message texts */
  guint n_handled;      /* messages */
  gboolean main_thread; /* the handler ran in the main thread */
  gboolean echo;        /* send each message back */
  guint echo_failures;
  gboolean close_result; /* what close_client_connection returned */
  gboolean closed;       /* CLOSE_ME was handled */
  guint destroyed;       /* the destroy notify ran */
  GThread *main;
  /* main context only: */
  GPtrArray *connected;    /* client ids, from client-connected */
  GPtrArray *disconnected; /* client ids, from client-disconnected */
  GPtrArray *reasons;      /* their reasons */
  guint signalled;         /* message-received emissions */
} Seen;

static Seen *
seen_new (void)
{
  Seen *seen = g_new0 (Seen, 1);

  g_mutex_init (&seen->lock);
  seen->by_id = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) g_ptr_array_unref);
  seen->main = g_thread_self ();
  seen->connected = g_ptr_array_new_with_free_func (g_free);
  seen->disconnected = g_ptr_array_new_with_free_func (g_free);
  seen->reasons = g_ptr_array_new_with_free_func (g_free);
  return seen;
}

static void
seen_free (Seen *seen)
{
  g_hash_table_unref (seen->by_id);
  g_ptr_array_unref (seen->connected);
  g_ptr_array_unref (seen->disconnected);
  g_ptr_array_unref (seen->reasons);
  g_mutex_clear (&seen->lock);
  g_free (seen);
}

static void
seen_destroyed (gpointer data)
{
  Seen *seen = data;

  g_atomic_int_inc (&seen->destroyed);
}

static guint
handled (Seen *seen)
{
  guint n;

  g_mutex_lock (&seen->lock);
  n = seen->n_handled;
  g_mutex_unlock (&seen->lock);
  return n;
}

static void
record (Seen *seen, const char *client_id, const char *text)
{
  GPtrArray *texts;

  g_mutex_lock (&seen->lock);
  texts = g_hash_table_lookup (seen->by_id, client_id);
  if (texts == NULL)
    {
      texts = g_ptr_array_new_with_free_func (g_free);
      g_hash_table_insert (seen->by_id, g_strdup (client_id), texts);
    }
  g_ptr_array_add (texts, g_strdup (text));
  seen->n_handled++;
  if (g_thread_self () == seen->main)
    seen->main_thread = TRUE;
  g_mutex_unlock (&seen->lock);
}

/* The handler under test: records, and echoes or closes when asked. */
static void
on_handler (ScServer *server, const char *client_id, GBytes *message, gpointer data)
{
  Seen *seen = data;
  gsize len;
  const char *bytes = g_bytes_get_data (message, &len);
  g_autofree char *text = g_strndup (bytes, len);

  g_autoptr (GError) error = NULL;

  if (seen->echo && !sc_server_send_bytes (server, client_id, message, NULL, &error))
    {
      g_printerr ("# echo failed: %s\n", error->message);
      g_atomic_int_inc (&seen->echo_failures);
    }
  if (strcmp (text, CLOSE_ME) == 0)
    {
      gboolean ok = sc_server_close_client_connection (server, client_id, NULL);

      g_mutex_lock (&seen->lock);
      seen->close_result = ok;
      seen->closed = TRUE;
      g_mutex_unlock (&seen->lock);
    }
  record (seen, client_id, text);
}

static void
on_signal_message (ScServer *server, const char *client_id, GBytes *message, gpointer data)
{
  Seen *seen = data;
  gsize len;
  const char *bytes = g_bytes_get_data (message, &len);
  g_autofree char *text = g_strndup (bytes, len);

  seen->signalled++;
  record (seen, client_id, text);
}

static void
on_connected (ScServer *server, const char *client_id, gpointer data)
{
  g_ptr_array_add (((Seen *) data)->connected, g_strdup (client_id));
}

static void
on_disconnected (ScServer *server, const char *client_id, const char *reason, gpointer data)
{
  Seen *seen = data;

  g_ptr_array_add (seen->disconnected, g_strdup (client_id));
  g_ptr_array_add (seen->reasons, g_strdup (reason));
}

/* ---- set-up -------------------------------------------------------------- */

static ScServer *
server_new (Seen *seen, gboolean with_handler)
{
  ScServer *server = sc_server_new ("127.0.0.1", 0, NULL);
  g_autoptr (GError) error = NULL;

  g_object_set (server, "workers", 2, NULL);
  if (with_handler)
    sc_server_set_message_handler (server, on_handler, seen, seen_destroyed);
  g_signal_connect (server, "message-received", G_CALLBACK (on_signal_message), seen);
  g_signal_connect (server, "client-connected", G_CALLBACK (on_connected), seen);
  g_signal_connect (server, "client-disconnected", G_CALLBACK (on_disconnected), seen);
  g_assert_true (sc_server_start (server, &error));
  g_assert_no_error (error);
  return server;
}

static void
on_client_message (ScClient *client, GBytes *message, gpointer data)
{
  gsize len;
  const char *bytes = g_bytes_get_data (message, &len);

  g_ptr_array_add (data, g_strndup (bytes, len));
}

/* A connected client; what the server sends it lands in received. */
static ScClient *
client_new (ScServer *server, GPtrArray *received)
{
  ScClient *client = sc_client_new (NULL);
  g_autoptr (GError) error = NULL;

  sc_client_set_pinned_fingerprint (client,
                                    sc_identity_get_fingerprint (sc_server_get_identity (server)));
  sc_client_set_reconnect (client, FALSE, 0, 0, 0);
  if (received != NULL)
    g_signal_connect (client, "message-received", G_CALLBACK (on_client_message), received);
  sc_client_start_listening (client);
  g_assert_true (sc_client_establish_secure_session (client, "127.0.0.1",
                                                     sc_server_get_port (server), NULL, &error));
  g_assert_no_error (error);
  return client;
}

typedef struct
{
  Seen *seen;
  guint want;
  GPtrArray *array;
} Until;

static gboolean
handled_reached (gpointer data)
{
  Until *u = data;

  return handled (u->seen) >= u->want;
}

static gboolean
array_reached (gpointer data)
{
  Until *u = data;

  return u->array->len >= u->want;
}

static void
send_range (ScClient *client, const char *prefix, guint from, guint to)
{
  for (guint i = from; i < to; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *text = g_strdup_printf ("%s %u", prefix, i);

      while (!sc_client_send_message (client, text, &error))
        {
          /* a full outbox: let the acknowledgements in, then again */
          g_assert_error (error, SC_ERROR, SC_ERROR_BUSY);
          g_clear_error (&error);
          g_main_context_iteration (NULL, FALSE);
          g_usleep (1000);
        }
    }
}

static void
send_numbered (ScClient *client, const char *prefix, guint n)
{
  send_range (client, prefix, 0, n);
}

static void
assert_numbered (GPtrArray *got, const char *prefix, guint n)
{
  g_assert_nonnull (got);
  g_assert_cmpuint (got->len, ==, n);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *want = g_strdup_printf ("%s %u", prefix, i);

      g_assert_cmpstr (got->pdata[i], ==, want);
    }
}

/* Closes the clients and waits until the server has reported each gone:
 * everything a connection delivered comes before its disconnection. */
static void
close_clients (Seen *seen, ScClient **clients, guint n)
{
  Until u = { seen, n, seen->disconnected };

  for (guint i = 0; i < n; i++)
    sc_client_shutdown (clients[i]);
  sc_test_iterate_until (array_reached, &u, "the server to see every client go");
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
finish (ScServer *server, Seen *seen, ScClient **clients, guint n)
{
  sc_server_shutdown (server);
  for (guint i = 0; i < n; i++)
    {
      g_signal_handlers_disconnect_by_data (clients[i], seen);
      g_object_unref (clients[i]);
    }
  g_signal_handlers_disconnect_by_data (server, seen);
  g_object_unref (server);
}

/* ---- the cases ----------------------------------------------------------- */

/* Several clients at once: the handler gets every message of each exactly
 * once, in the order it was sent, under the id the client-connected signal
 * announced, never in the main thread; the signal is not emitted. */
static void
test_every_message_once_in_order (void)
{
  Seen *seen = seen_new ();
  ScServer *server = server_new (seen, TRUE);
  ScClient *clients[N_CLIENTS];
  Until u = { seen, N_CLIENTS * N_MESSAGES, NULL };

  for (guint c = 0; c < N_CLIENTS; c++)
    clients[c] = client_new (server, NULL);
  for (guint c = 0; c < N_CLIENTS; c++)
    send_numbered (clients[c], "m", N_MESSAGES);
  sc_test_iterate_until (handled_reached, &u, "every message at the handler");
  close_clients (seen, clients, N_CLIENTS);

  g_assert_cmpuint (handled (seen), ==, N_CLIENTS * N_MESSAGES);
  g_assert_cmpuint (seen->connected->len, ==, N_CLIENTS);
  g_assert_cmpuint (g_hash_table_size (seen->by_id), ==, N_CLIENTS);
  for (guint c = 0; c < N_CLIENTS; c++)
    assert_numbered (g_hash_table_lookup (seen->by_id, seen->connected->pdata[c]), "m", N_MESSAGES);
  g_assert_false (seen->main_thread);
  g_assert_cmpuint (seen->signalled, ==, 0);
  finish (server, seen, clients, N_CLIENTS);
  g_assert_cmpuint (seen->destroyed, ==, 1);
  seen_free (seen);
}

/* The handler answers each message with sc_server_send_bytes(): the
 * client gets every one back, in order. */
static void
test_echo_from_handler (void)
{
  Seen *seen = seen_new ();
  ScServer *server;
  g_autoptr (GPtrArray) received = g_ptr_array_new_with_free_func (g_free);
  ScClient *client;
  Until u = { seen, N_MESSAGES, received };

  seen->echo = TRUE;
  server = server_new (seen, TRUE);
  client = client_new (server, received);
  /* In windows: a window of echoes fits the client's outbox at the server
   * (a full one refuses with SC_ERROR_BUSY, which is not tested here). */
  for (guint sent = 0; sent < N_MESSAGES; sent += ECHO_WINDOW)
    {
      send_range (client, "echo", sent, sent + ECHO_WINDOW);
      u.want = sent + ECHO_WINDOW;
      sc_test_iterate_until (array_reached, &u, "a window of echoes at the client");
    }
  assert_numbered (received, "echo", N_MESSAGES);
  g_assert_cmpuint (g_atomic_int_get (&seen->echo_failures), ==, 0);
  close_clients (seen, &client, 1);
  finish (server, seen, &client, 1);
  seen_free (seen);
}

static gboolean
client_closed (gpointer data)
{
  return sc_client_get_state (data) == SC_CLIENT_STATE_CLOSED;
}

static gboolean
server_saw_close (gpointer data)
{
  return ((Seen *) data)->disconnected->len >= 1;
}

/* The handler ends the connection of the client that asked: the call
 * succeeds, the client is closed and the server reports why. */
static void
test_close_from_handler (void)
{
  Seen *seen = seen_new ();
  ScServer *server = server_new (seen, TRUE);
  ScClient *client = client_new (server, NULL);
  g_autoptr (GError) error = NULL;

  g_assert_true (sc_client_send_message (client, "hello", &error));
  g_assert_true (sc_client_send_message (client, CLOSE_ME, &error));
  g_assert_no_error (error);
  sc_test_iterate_until (client_closed, client, "the client to be closed");
  sc_test_iterate_until (server_saw_close, seen, "the server to report the client gone");
  g_mutex_lock (&seen->lock);
  g_assert_true (seen->closed);
  g_assert_true (seen->close_result);
  g_mutex_unlock (&seen->lock);
  g_assert_cmpstr (seen->reasons->pdata[0], ==, "closed by the server");
  g_assert_cmpuint (sc_server_get_client_count (server), ==, 0);
  finish (server, seen, &client, 1);
  seen_free (seen);
}

/* client-connected of a client already gone again: its handler still gets
 * the client's info (what a D-Bus ClientConnected carries), not an error. */
static void
on_connected_info (ScServer *server, const char *client_id, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) info = sc_server_get_client_info (server, client_id, &error);
  const char *address = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (info);
  g_assert_true (g_variant_lookup (info, "address", "&s", &address));
  g_assert_true (g_str_has_prefix (address, "127.0.0.1:"));
  (*(guint *) data)++;
}

static gboolean
no_clients (gpointer data)
{
  return sc_server_get_client_count (data) == 0;
}

static void
test_info_of_a_client_gone_before_announced (void)
{
  g_autoptr (ScServer) server = sc_server_new ("127.0.0.1", 0, NULL);
  g_autoptr (ScClient) client = NULL;
  g_autoptr (GError) error = NULL;
  guint announced = 0;
  gint64 deadline = g_get_monotonic_time () + SC_TEST_GUARD_S * G_USEC_PER_SEC;

  g_signal_connect (server, "client-connected", G_CALLBACK (on_connected_info), &announced);
  g_assert_true (sc_server_start (server, &error));
  g_assert_no_error (error);
  client = client_new (server, NULL);
  sc_client_shutdown (client);
  /* the connection ends in the server's worker while this (main) context
   * has not run yet: client-connected is still queued */
  while (!no_clients (server))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline); /* a hang, not slowness */
      g_usleep (1000);
    }
  sc_test_iterate_until (no_clients, server, "the server to drop the client");
  while (announced == 0)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  g_assert_cmpuint (announced, ==, 1);
  sc_server_shutdown (server);
}

/* The destroy notify runs once when the handler is replaced, and once when
 * the server goes; with the handler unset again, messages come through
 * the message-received signal, in the main thread. */
static void
test_destroy_notify_and_unset (void)
{
  Seen *seen = seen_new ();
  ScServer *server = sc_server_new ("127.0.0.1", 0, NULL);
  ScClient *client;
  Until u = { seen, 10, NULL };

  sc_server_set_message_handler (server, on_handler, seen, seen_destroyed);
  g_assert_cmpuint (seen->destroyed, ==, 0);
  sc_server_set_message_handler (server, NULL, NULL, NULL);
  g_assert_cmpuint (seen->destroyed, ==, 1);
  sc_server_set_message_handler (server, on_handler, seen, seen_destroyed);
  g_object_unref (server);
  g_assert_cmpuint (seen->destroyed, ==, 2);

  server = server_new (seen, FALSE);
  client = client_new (server, NULL);
  send_numbered (client, "sig", 10);
  sc_test_iterate_until (handled_reached, &u, "the signals");
  close_clients (seen, &client, 1);
  g_assert_cmpuint (seen->signalled, ==, 10);
  g_assert_true (seen->main_thread);
  assert_numbered (g_hash_table_lookup (seen->by_id, seen->connected->pdata[0]), "sig", 10);
  finish (server, seen, &client, 1);
  g_assert_cmpuint (seen->destroyed, ==, 2);
  seen_free (seen);
}

int
main (int argc, char **argv)
{
  /* No proxy lookups for 127.0.0.1 (and libproxy aborts under ASan). */
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/server-handler/every-message-once-in-order", test_every_message_once_in_order);
  g_test_add_func ("/server-handler/echo-from-handler", test_echo_from_handler);
  g_test_add_func ("/server-handler/close-from-handler", test_close_from_handler);
  g_test_add_func ("/server-handler/destroy-notify-and-unset", test_destroy_notify_and_unset);
  g_test_add_func ("/server/info-of-a-client-gone-before-announced",
                   test_info_of_a_client_gone_before_announced);
  return g_test_run ();
}
