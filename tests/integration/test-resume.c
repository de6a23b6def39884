/* test-resume.c: streams that survive broken connections, end to end.
 *
 * A real ScServer and a real ScClient on 127.0.0.1, with a test proxy
 * between them that forwards bytes and cuts the TCP connection (both
 * directions at once) at a chosen point of each connection. The client
 * reconnects by itself and resumes; the test checks what a user would:
 * every message sent on either side arrives exactly once and in order, the
 * resumptions made no signature (sc_p256_sign_count), and the client went
 * through reconnecting and back to connected each time.
 *
 * Where each connection is cut: after the resumption ticket has passed
 * (the proxy counts the server's records: the NewSessionTicket is its 5th
 * record after a full handshake and its 3rd after a resumed one,
 * PROTOCOL.md 4.7), then after N more bytes in one direction, N varying
 * from a few bytes to several records and alternating the direction, so
 * that cuts land inside record headers, bodies, fragments and ACKs.
 *
 * And a stream taken over by a full handshake (a new client with the same
 * key) while a server thread sends to the client as fast as it can: every
 * message the server accepted arrives (the sender could find the old
 * stream just before the takeover and queue into its dead outbox), and
 * each replaced client closes for good instead of taking the stream back
 * (its connection ends with the server's CLOSE, not a reset).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "sc-client.h"
#include "sc-crypto.h"
#include "sc-error.h"
#include "sc-server.h"
#include "tests/sc-test-net.h"
#include "tests/sc-test-wait.h"

/* messages each way, at least: the test goes on sending until every cut
 * of the list has happened, however the threads were scheduled */
#define N_MESSAGES 300

typedef struct
{
  gboolean s2c; /* count bytes server to client (else client to server) */
  gsize bytes;  /* cut after this many bytes past the ticket */
} Cut;

static const Cut cuts[] = {
  { TRUE, 1 },    { FALSE, 3 },    { TRUE, 29 },   { FALSE, 37 },   { TRUE, 100 },
  { FALSE, 150 }, { TRUE, 333 },   { FALSE, 512 }, { TRUE, 777 },   { FALSE, 1024 },
  { TRUE, 1500 }, { FALSE, 2222 }, { TRUE, 4096 }, { FALSE, 5000 }, { TRUE, 8191 },
};

/* ---- the proxy ----------------------------------------------------------- */

typedef struct Proxy Proxy;

typedef struct
{
  Proxy *proxy;
  GSocket *client, *server;
  guint index; /* connection number */
  gboolean resumed_expected;
  GMutex lock;
  gboolean cut_armed; /* the ticket has passed: count towards the cut */
  gsize counted;
  gboolean closed;
  guint s2c_records;
  /* s2c record parsing: header bytes seen and body bytes left */
  guint8 hdr[4];
  guint hdr_have;
  gsize body_left;
  gint refs;
} Pipe;

struct Proxy
{
  GSocket *listener;
  guint16 port, upstream;
  GThread *thread;
  gint n_connections; /* atomic */
  gint n_cuts;        /* atomic */
  gboolean stop;
};

static void
pipe_unref (Pipe *p)
{
  if (!g_atomic_int_dec_and_test (&p->refs))
    return;
  g_object_unref (p->client);
  g_object_unref (p->server);
  g_mutex_clear (&p->lock);
  g_free (p);
}

/* With the lock held: closes both sockets, once. */
static void
pipe_close_locked (Pipe *p)
{
  if (p->closed)
    return;
  p->closed = TRUE;
  g_socket_shutdown (p->client, TRUE, TRUE, NULL);
  g_socket_shutdown (p->server, TRUE, TRUE, NULL);
}

/* Counts the server's records in buf; arms the cut once the ticket is past. */
static void
count_s2c_records (Pipe *p, const guint8 *buf, gsize len)
{
  guint ticket_record = p->index == 0 ? 5 : 3;

  for (gsize i = 0; i < len;)
    {
      if (p->body_left > 0)
        {
          gsize n = MIN (p->body_left, len - i);

          p->body_left -= n;
          i += n;
          if (p->body_left == 0 && ++p->s2c_records == ticket_record)
            p->cut_armed = TRUE;
          continue;
        }
      p->hdr[p->hdr_have++] = buf[i++];
      if (p->hdr_have == 4)
        {
          p->body_left = ((gsize) p->hdr[2] << 8) | p->hdr[3];
          p->hdr_have = 0;
        }
    }
}

/* How much of a chunk may pass before the cut, or all of it. */
static gsize
allowed_locked (Pipe *p, gboolean s2c, gsize len, gboolean *cut_now)
{
  const Cut *cut = p->index < G_N_ELEMENTS (cuts) ? &cuts[p->index] : NULL;
  gsize room;

  *cut_now = FALSE;
  if (cut == NULL || !p->cut_armed || cut->s2c != s2c)
    return len;
  room = cut->bytes - p->counted;
  if (len < room)
    {
      p->counted += len;
      return len;
    }
  *cut_now = TRUE;
  return room;
}

typedef struct
{
  Pipe *pipe;
  gboolean s2c;
} Direction;

static gssize
send_all (GSocket *to, const guint8 *buf, gsize len)
{
  gsize done = 0;

  while (done < len)
    {
      gssize n = g_socket_send (to, (const gchar *) buf + done, len - done, NULL, NULL);

      if (n <= 0)
        return -1;
      done += (gsize) n;
    }
  return (gssize) done;
}

static gpointer
forward_main (gpointer data)
{
  Direction *d = data;
  Pipe *p = d->pipe;
  GSocket *from = d->s2c ? p->server : p->client, *to = d->s2c ? p->client : p->server;
  guint8 buf[4096];

  for (;;)
    {
      gssize n = g_socket_receive (from, (gchar *) buf, sizeof buf, NULL, NULL);
      gsize pass;
      gboolean cut_now, armed_before;

      if (n <= 0)
        break;
      g_mutex_lock (&p->lock);
      armed_before = p->cut_armed;
      pass = allowed_locked (p, d->s2c, (gsize) n, &cut_now);
      if (d->s2c && !armed_before)
        count_s2c_records (p, buf, pass);
      g_mutex_unlock (&p->lock);
      if (pass > 0 && send_all (to, buf, pass) < 0)
        break;
      if (cut_now)
        {
          g_atomic_int_inc (&p->proxy->n_cuts);
          break;
        }
    }
  g_mutex_lock (&p->lock);
  pipe_close_locked (p);
  g_mutex_unlock (&p->lock);
  pipe_unref (p);
  g_free (d);
  return NULL;
}

static GSocket *
connect_upstream (guint16 port)
{
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, port);
  GSocket *s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                             NULL);

  if (s == NULL || !g_socket_connect (s, addr, NULL, NULL))
    g_clear_object (&s);
  return s;
}

static gpointer
proxy_main (gpointer data)
{
  Proxy *proxy = data;

  for (;;)
    {
      GSocket *c = g_socket_accept (proxy->listener, NULL, NULL);
      Pipe *p;

      if (c == NULL || proxy->stop)
        {
          g_clear_object (&c);
          return NULL;
        }
      p = g_new0 (Pipe, 1);
      p->proxy = proxy;
      p->client = c;
      p->server = connect_upstream (proxy->upstream);
      p->index = (guint) g_atomic_int_add (&proxy->n_connections, 1);
      g_mutex_init (&p->lock);
      if (p->server == NULL)
        {
          g_object_unref (c);
          g_mutex_clear (&p->lock);
          g_free (p);
          continue;
        }
      p->refs = 2;
      for (int dir = 0; dir < 2; dir++)
        {
          Direction *d = g_new0 (Direction, 1);

          d->pipe = p;
          d->s2c = dir == 1;
          g_thread_unref (g_thread_new ("proxy-pipe", forward_main, d));
        }
    }
}

static Proxy *
proxy_new (guint16 upstream)
{
  Proxy *proxy = g_new0 (Proxy, 1);

  proxy->upstream = upstream;
  proxy->listener = sc_test_listen_loopback (&proxy->port);
  proxy->thread = g_thread_new ("proxy", proxy_main, proxy);
  return proxy;
}

static void
proxy_free (Proxy *proxy)
{
  g_autoptr (GSocket) poke = NULL;

  proxy->stop = TRUE;
  poke = connect_upstream (proxy->port); /* wakes the accept */
  g_thread_join (proxy->thread);
  g_object_unref (proxy->listener);
  g_free (proxy);
}

/* ---- the test ------------------------------------------------------------ */

typedef struct
{
  GPtrArray *at_server; /* char *, in arrival order */
  GPtrArray *at_client;
  char *client_id;
  guint reconnecting, connected;
  guint sent; /* messages sent each way */
} Seen;

static void
on_server_message (ScServer *server, const char *id, GBytes *message, gpointer data)
{
  Seen *seen = data;
  gsize len;
  const char *text = g_bytes_get_data (message, &len);

  g_ptr_array_add (seen->at_server, g_strndup (text, len));
}

static void
on_client_connected (ScServer *server, const char *id, gpointer data)
{
  Seen *seen = data;

  if (seen->client_id == NULL)
    seen->client_id = g_strdup (id);
  else
    g_assert_cmpstr (seen->client_id, ==, id); /* a resumed stream keeps its id */
}

static void
on_client_message (ScClient *client, GBytes *message, gpointer data)
{
  Seen *seen = data;
  gsize len;
  const char *text = g_bytes_get_data (message, &len);

  g_ptr_array_add (seen->at_client, g_strndup (text, len));
}

static void
on_state (ScClient *client, ScClientState old_state, ScClientState new_state, gpointer data)
{
  Seen *seen = data;

  if (new_state == SC_CLIENT_STATE_RECONNECTING && old_state == SC_CLIENT_STATE_CONNECTED)
    seen->reconnecting++;
  if (new_state == SC_CLIENT_STATE_CONNECTED)
    seen->connected++;
}

static gboolean
all_arrived (gpointer data)
{
  Seen *seen = data;

  return seen->at_server->len >= seen->sent && seen->at_client->len >= seen->sent;
}

/* Connected again after every cut: the first connection plus one per cut. */
static gboolean
reconnected_after_each_cut (gpointer data)
{
  Seen *seen = data;

  return seen->connected == G_N_ELEMENTS (cuts) + 1;
}

static gboolean
have_id (gpointer data)
{
  return ((Seen *) data)->client_id != NULL;
}

static void
assert_exactly_once_in_order (GPtrArray *got, const char *prefix, guint sent)
{
  g_assert_cmpuint (got->len, ==, sent);
  for (guint i = 0; i < got->len; i++)
    {
      g_autofree char *want = g_strdup_printf ("%s %u", prefix, i);

      g_assert_cmpstr (got->pdata[i], ==, want);
    }
}

/* Every message of both sides arrives once and in order across cuts at
 * every point of the list; each reconnection resumes without a signature. */
static void
test_cut_connections_resume (void)
{
  g_autoptr (ScServer) server = sc_server_new ("127.0.0.1", 0, NULL);
  g_autoptr (ScClient) client = sc_client_new (NULL);
  g_autoptr (GError) error = NULL;
  Seen seen = { g_ptr_array_new_with_free_func (g_free), g_ptr_array_new_with_free_func (g_free) };
  Proxy *proxy;
  guint64 signs;
  guint cuts_done;

  g_signal_connect (server, "message-received", G_CALLBACK (on_server_message), &seen);
  g_signal_connect (server, "client-connected", G_CALLBACK (on_client_connected), &seen);
  g_assert_true (sc_server_start (server, &error));
  g_assert_no_error (error);
  proxy = proxy_new (sc_server_get_port (server));

  sc_client_set_pinned_fingerprint (client,
                                    sc_identity_get_fingerprint (sc_server_get_identity (server)));
  sc_client_set_reconnect (client, TRUE, 5, 50, SC_TEST_GUARD_S * 1000);
  g_signal_connect (client, "message-received", G_CALLBACK (on_client_message), &seen);
  g_signal_connect (client, "state-changed", G_CALLBACK (on_state), &seen);
  sc_client_start_listening (client);
  g_assert_true (
      sc_client_establish_secure_session (client, "127.0.0.1", proxy->port, NULL, &error));
  g_assert_no_error (error);
  sc_test_iterate_until (have_id, &seen, "the server to announce the client");
  signs = sc_p256_sign_count ();

  /* until N_MESSAGES went each way and every cut happened (a cut needs
   * traffic after the ticket in its direction) */
  for (guint i = 0;
       i < N_MESSAGES || g_atomic_int_get (&proxy->n_cuts) < (gint) G_N_ELEMENTS (cuts); i++)
    {
      g_autofree char *c2s = g_strdup_printf ("c2s %u", i);
      g_autofree char *s2c = g_strdup_printf ("s2c %u", i);

      if (i >= 100 * N_MESSAGES)
        g_error ("only %d of %u cuts after %u messages", g_atomic_int_get (&proxy->n_cuts),
                 (guint) G_N_ELEMENTS (cuts), i);
      seen.sent = i + 1;
      g_assert_true (sc_client_send_message (client, c2s, &error));
      g_assert_no_error (error);
      g_assert_true (sc_server_send_message (server, seen.client_id, s2c, &error));
      g_assert_no_error (error);
      if (i % 8 == 0)
        g_usleep (2000); /* let cuts and reconnections happen in between */
      g_main_context_iteration (NULL, FALSE);
    }
  sc_test_iterate_until (all_arrived, &seen, "every message on both sides");
  sc_test_iterate_until (reconnected_after_each_cut, &seen, "the reconnection after the last cut");
  g_assert_true (sc_client_flush (client, SC_TEST_GUARD_S * 1000, &error));
  g_assert_no_error (error);

  assert_exactly_once_in_order (seen.at_server, "c2s", seen.sent);
  assert_exactly_once_in_order (seen.at_client, "s2c", seen.sent);
  cuts_done = (guint) g_atomic_int_get (&proxy->n_cuts);
  g_test_message ("%u connections, %u cuts, %u resumptions",
                  g_atomic_int_get (&proxy->n_connections), cuts_done,
                  sc_client_get_resumption_count (client));
  g_assert_cmpuint (cuts_done, ==, G_N_ELEMENTS (cuts)); /* every cut did happen */
  g_assert_cmpuint (sc_client_get_resumption_count (client), ==, cuts_done);
  g_assert_cmpuint (seen.reconnecting, ==, cuts_done);
  g_assert_cmpuint (sc_p256_sign_count (), ==, signs); /* no signature after the first */

  sc_client_shutdown (client);
  sc_server_shutdown (server);
  g_signal_handlers_disconnect_by_data (client, &seen); /* emissions may still be queued */
  g_signal_handlers_disconnect_by_data (server, &seen);
  proxy_free (proxy);
  g_ptr_array_unref (seen.at_server);
  g_ptr_array_unref (seen.at_client);
  g_free (seen.client_id);
}

typedef struct
{
  GPtrArray *errors; /* GError * */
  ScClientState state;
} Watch;

static void
on_watch_state (ScClient *client, ScClientState old_state, ScClientState new_state, gpointer data)
{
  ((Watch *) data)->state = new_state;
}

static void
on_watch_error (ScClient *client, const GError *error, gpointer data)
{
  g_ptr_array_add (((Watch *) data)->errors, g_error_copy (error));
}

static gboolean
is_closed (gpointer data)
{
  return ((Watch *) data)->state == SC_CLIENT_STATE_CLOSED;
}

static gboolean
is_reconnecting (gpointer data)
{
  return ((Watch *) data)->state == SC_CLIENT_STATE_RECONNECTING;
}

/* A client connected to a server that then goes away (going_away). */
static ScClient *
client_of_vanished_server (Watch *w, guint give_up_ms)
{
  ScServer *server = sc_server_new ("127.0.0.1", 0, NULL);
  ScClient *client = sc_client_new (NULL);
  g_autoptr (GError) error = NULL;

  g_assert_true (sc_server_start (server, &error));
  sc_client_set_pinned_fingerprint (client,
                                    sc_identity_get_fingerprint (sc_server_get_identity (server)));
  sc_client_set_reconnect (client, TRUE, 20, 100, give_up_ms);
  g_signal_connect (client, "state-changed", G_CALLBACK (on_watch_state), w);
  g_signal_connect (client, "error", G_CALLBACK (on_watch_error), w);
  g_assert_true (sc_client_establish_secure_session (client, "127.0.0.1",
                                                     sc_server_get_port (server), NULL, &error));
  g_assert_no_error (error);
  sc_server_shutdown (server);
  g_object_unref (server);
  sc_test_iterate_until (is_reconnecting, w, "the client to notice and reconnect");
  return client;
}

/* While the server is away, messages wait in the outbox; a full outbox is
 * an error the caller sees (nothing dropped), and flush says how many wait. */
static void
test_outbox_full_is_an_error (void)
{
  Watch w = { g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free), 0 };
  g_autoptr (ScClient) client = client_of_vanished_server (&w, 0);
  g_autoptr (GError) error = NULL;
  guint queued = 0;

  while (sc_client_send_message (client, "waiting", &error))
    queued++;
  g_assert_error (error, SC_ERROR, SC_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, "outbox is full"));
  g_assert_cmpuint (queued, ==, sc_client_get_outbox_length (client));
  g_assert_cmpuint (queued, >, 0);
  g_clear_error (&error);
  g_assert_false (sc_client_flush (client, 50, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_TIMEOUT);
  sc_client_shutdown (client);
  g_signal_handlers_disconnect_by_data (client, &w); /* emissions may still be queued */
  g_ptr_array_unref (w.errors);
}

/* Past the give-up time the client stops, closed, and says why. */
static void
test_give_up_reconnecting (void)
{
  Watch w = { g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free), 0 };
  g_autoptr (ScClient) client = client_of_vanished_server (&w, 300);
  g_autoptr (GError) error = NULL;
  const GError *last;

  sc_test_iterate_until (is_closed, &w, "the client to give up");
  g_assert_cmpuint (w.errors->len, >, 0);
  last = w.errors->pdata[w.errors->len - 1];
  g_assert_error (last, SC_ERROR, SC_ERROR_CLOSED);
  g_assert_nonnull (strstr (last->message, "gave up reconnecting"));
  g_assert_false (sc_client_send_message (client, "too late", &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_NOT_CONNECTED);
  sc_client_shutdown (client);
  g_signal_handlers_disconnect_by_data (client, &w);
  g_ptr_array_unref (w.errors);
}

/* ---- a full handshake taking a stream over while the server sends ------- */

/* clients of one key that replace each other while the server sends */
#define N_TAKEOVERS 20

/* What the clients of the key received, in their I/O threads. */
typedef struct
{
  GMutex lock;
  GHashTable *got; /* message texts */
} Received;

static void
on_taken_over_message (ScClient *client, GBytes *message, gpointer data)
{
  Received *r = data;
  gsize len;
  const char *text = g_bytes_get_data (message, &len);

  g_mutex_lock (&r->lock);
  g_hash_table_add (r->got, g_strndup (text, len));
  g_mutex_unlock (&r->lock);
}

/* The server sends m0, m1, ... to the key's client id until told to stop;
 * a message counts once the server took it (SC_ERROR_BUSY: try again). */
typedef struct
{
  ScServer *server;
  const char *client_id;
  gint stop; /* atomic */
  guint accepted;
} TakeoverSender;

static gpointer
takeover_sender (gpointer data)
{
  TakeoverSender *s = data;

  while (!g_atomic_int_get (&s->stop))
    {
      g_autoptr (GError) error = NULL;
      char text[32];

      g_snprintf (text, sizeof text, "m%u", s->accepted);
      if (sc_server_send_message (s->server, s->client_id, text, &error))
        s->accepted++;
      else
        {
          g_assert_error (error, SC_ERROR, SC_ERROR_BUSY);
          g_thread_yield ();
        }
    }
  return NULL;
}

typedef struct
{
  Received *received;
  guint want;
} AllReceived;

static gboolean
all_received (gpointer data)
{
  AllReceived *a = data;
  gboolean all = TRUE;

  g_mutex_lock (&a->received->lock);
  for (guint i = 0; i < a->want && all; i++)
    {
      char text[32];

      g_snprintf (text, sizeof text, "m%u", i);
      all = g_hash_table_contains (a->received->got, text);
    }
  g_mutex_unlock (&a->received->lock);
  return all;
}

static gboolean
client_is_closed (gpointer data)
{
  return sc_client_get_state (SC_CLIENT (data)) == SC_CLIENT_STATE_CLOSED;
}

static gboolean
has_a_client (gpointer data)
{
  return sc_server_get_client_count (SC_SERVER (data)) > 0;
}

static ScClient *
client_of_key (ScServer *server, ScIdentity *key, Received *r)
{
  ScClient *client = sc_client_new (NULL);
  g_autoptr (GError) error = NULL;

  sc_client_set_identity (client, key);
  sc_client_set_pinned_fingerprint (client,
                                    sc_identity_get_fingerprint (sc_server_get_identity (server)));
  sc_client_set_message_handler (client, on_taken_over_message, r, NULL);
  g_assert_true (sc_client_establish_secure_session (client, "127.0.0.1",
                                                     sc_server_get_port (server), NULL, &error));
  g_assert_no_error (error);
  return client;
}

/* A client that connects again with a full handshake (a new ScClient, same
 * key) takes its stream over: its undelivered messages move to the new
 * stream and go again. A message the server accepts while that happens,
 * from a sender that looked the client up just before, is not lost in the
 * old stream's outbox: every accepted message reaches a client of the key
 * (at least once: PROTOCOL.md 4.7.7). */
static void
test_takeover_loses_nothing_sent_meanwhile (void)
{
  g_autoptr (ScServer) server = sc_server_new ("127.0.0.1", 0, NULL);
  g_autoptr (ScIdentity) key = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) ids = NULL;
  Received r = { .got = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL) };
  TakeoverSender s = { .server = server };
  AllReceived want = { &r, 0 };
  ScClient *client;
  GThread *thread;

  g_mutex_init (&r.lock);
  key = sc_identity_generate (&error);
  g_assert_no_error (error);
  g_assert_true (sc_server_start (server, &error));
  g_assert_no_error (error);
  client = client_of_key (server, key, &r);
  sc_test_iterate_until (has_a_client, server, "the server to attach the client");
  ids = sc_server_get_client_ids (server);
  g_assert_cmpuint (g_strv_length (ids), ==, 1);
  s.client_id = ids[0];
  thread = g_thread_new ("takeover-sender", takeover_sender, &s);
  for (guint i = 0; i < N_TAKEOVERS; i++)
    {
      ScClient *next = client_of_key (server, key, &r);

      /* The server ends the connection it replaced once the new one owns
       * the stream, with a clean CLOSE, not a reset: the replaced client
       * (reconnection on, the default) ends instead of reconnecting and
       * taking its stream back. (A client that said goodbye first would
       * have ended its stream, and what was queued for it with it.) */
      sc_test_iterate_until (client_is_closed, client, "the replaced connection to close");
      sc_client_shutdown (client);
      g_object_unref (client);
      client = next;
    }
  g_atomic_int_set (&s.stop, TRUE);
  g_thread_join (thread);
  g_test_message ("%u messages accepted across %u takeovers", s.accepted, N_TAKEOVERS);
  g_assert_cmpuint (s.accepted, >, 0);
  want.want = s.accepted;
  sc_test_iterate_until (all_received, &want, "every accepted message to arrive");
  sc_client_shutdown (client);
  g_object_unref (client);
  sc_server_shutdown (server);
  g_hash_table_unref (r.got);
  g_mutex_clear (&r.lock);
}

int
main (int argc, char **argv)
{
  /* No proxy lookups for 127.0.0.1 (and libproxy aborts under ASan). */
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/resume/cut-connections-resume-exactly-once", test_cut_connections_resume);
  g_test_add_func ("/resume/outbox-full-is-an-error", test_outbox_full_is_an_error);
  g_test_add_func ("/resume/give-up-reconnecting", test_give_up_reconnecting);
  g_test_add_func ("/resume/takeover-loses-nothing-sent-meanwhile",
                   test_takeover_loses_nothing_sent_meanwhile);
  return g_test_run ();
}
