/* test-channel.c: ScChannel moving between main contexts, and its clean
 * close lingering in another context's reaper (sc-channel.h).
 *
 * A client channel and a server channel talk over a socket pair, each in a
 * context of its own that the test iterates by hand, so that what is read
 * when, and which context runs which callback, is decided here and not by
 * a scheduler.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gio.h>
#include <sys/socket.h>

#include "sc-channel.h"
#include "sc-identity-private.h"
#include "sc-identity.h"

/* messages the server sends right after its handshake */
#define N_MESSAGES 3

typedef struct
{
  GMainContext *expected; /* the context callbacks must run in */
  gboolean handshake_done;
  GPtrArray *messages; /* char *, in arrival order */
  guint wrong_context; /* callbacks run outside `expected` */
  gboolean closed;
  gboolean closed_with_error;
  guint messages_when_closed;
} Side;

static void
check_context (Side *side)
{
  if (!g_main_context_is_owner (side->expected))
    side->wrong_context++;
}

static void
on_handshake_done (ScChannel *channel, gpointer data)
{
  Side *side = data;

  check_context (side);
  side->handshake_done = TRUE;
}

/* The server's: sends N_MESSAGES, then closes, all at once. */
static void
on_server_handshake_done (ScChannel *channel, gpointer data)
{
  on_handshake_done (channel, data);
  for (guint i = 0; i < N_MESSAGES; i++)
    {
      g_autofree char *text = g_strdup_printf ("message %u", i);
      g_autoptr (GError) error = NULL;

      g_assert_true (sc_channel_send (channel, (const guint8 *) text, strlen (text), NULL, &error));
      g_assert_no_error (error);
    }
  sc_channel_close (channel, SC_CLOSE_NORMAL, "done");
}

static void
on_message (ScChannel *channel, guint64 id, GBytes *message, gpointer data)
{
  Side *side = data;
  gsize len;
  const char *text = g_bytes_get_data (message, &len);

  check_context (side);
  g_ptr_array_add (side->messages, g_strndup (text, len));
}

static void
on_closed (ScChannel *channel, const GError *error, const char *reason, gpointer data)
{
  Side *side = data;

  check_context (side);
  side->closed = TRUE;
  side->closed_with_error = error != NULL;
  side->messages_when_closed = side->messages->len;
}

static int
accept_any (void *user, const ScPeerIdentity *peer)
{
  return 0;
}

static ScChannel *
channel_over (int fd, GMainContext *context, const ScSessionConfig *config,
              const ScChannelCallbacks *callbacks, Side *side)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) socket = g_socket_new_from_fd (fd, &error);
  g_autoptr (GSocketConnection) conn = NULL;
  ScChannel *channel;

  g_assert_no_error (error);
  conn = g_socket_connection_factory_create_connection (socket);
  channel = sc_channel_new (G_IO_STREAM (conn), context, config, accept_any, callbacks, side,
                            &error);
  g_assert_no_error (error);
  g_assert_nonnull (channel);
  return channel;
}

/* A client channel and a server channel over a socket pair, each in its
 * own context, not started yet. */
typedef struct
{
  ScIdentity *identity; /* the server's: its key must outlive the channels */
  ScChannel *client, *server;
} Pair;

static void
pair_init (Pair *pair, GMainContext *client_ctx, const ScChannelCallbacks *client_callbacks,
           Side *client, GMainContext *server_ctx, const ScChannelCallbacks *server_callbacks,
           Side *server)
{
  g_autoptr (GError) error = NULL;
  ScSessionConfig client_config, server_config;
  int fds[2];

  pair->identity = sc_identity_generate (&error);
  g_assert_no_error (error);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  sc_session_config_init (&client_config, SC_ROLE_CLIENT);
  sc_session_config_init (&server_config, SC_ROLE_SERVER);
  server_config.identity = sc_identity_get_key (pair->identity);
  pair->client = channel_over (fds[0], client_ctx, &client_config, client_callbacks, client);
  pair->server = channel_over (fds[1], server_ctx, &server_config, server_callbacks, server);
}

static guint64
messages_received (ScChannel *channel)
{
  ScChannelInfo info;

  sc_channel_get_info (channel, &info);
  return info.session.messages_received;
}

/* One iteration of context as the thread-default one, as in the threads
 * that run channels (a stream's asynchronous close reports there). */
static gboolean
iterate (GMainContext *context, gboolean may_block)
{
  gboolean dispatched;

  g_main_context_push_thread_default (context);
  dispatched = g_main_context_iteration (context, may_block);
  g_main_context_pop_thread_default (context);
  return dispatched;
}

/* Drops both channels and runs what the server's context has left. */
static void
pair_clear (Pair *pair, GMainContext *server_ctx)
{
  sc_channel_unref (pair->client);
  sc_channel_unref (pair->server);
  while (iterate (server_ctx, FALSE))
    ;
  g_object_unref (pair->identity);
}

/* Runs both contexts until *cond (bounded by a deadline that only guards
 * against a hang). */
static void
iterate_both_until (GMainContext *a, GMainContext *b, gboolean *cond, const char *what)
{
  gint64 give_up = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;

  while (!*cond)
    {
      if (g_get_monotonic_time () > give_up)
        g_error ("still waiting after 60 s for %s", what);
      iterate (a, FALSE);
      iterate (b, FALSE);
    }
}

/* A client channel made to hold what follows its handshake reports the
 * handshake in its first context and nothing else there: the server's
 * messages and its CLOSE are read (and acknowledged) but wait, and the
 * channel does not finish, however long that context runs. Once moved,
 * the new context reports the messages, in order, and then the end, a
 * clean one. */
static void
test_held_events_are_reported_after_the_move (void)
{
  g_autoptr (GMainContext) server_ctx = g_main_context_new ();
  g_autoptr (GMainContext) first_ctx = g_main_context_new ();
  g_autoptr (GMainContext) second_ctx = g_main_context_new ();
  g_autoptr (GError) error = NULL;
  static const ScChannelCallbacks client_callbacks = {
    .handshake_done = on_handshake_done,
    .message = on_message,
    .closed = on_closed,
  };
  static const ScChannelCallbacks server_callbacks = {
    .handshake_done = on_server_handshake_done,
    .message = on_message,
    .closed = on_closed,
  };
  Side client = { .expected = first_ctx, .messages = g_ptr_array_new_with_free_func (g_free) };
  Side server = { .expected = server_ctx, .messages = g_ptr_array_new_with_free_func (g_free) };
  Pair pair;
  ScChannel *c, *s;
  gint64 give_up;

  pair_init (&pair, first_ctx, &client_callbacks, &client, server_ctx, &server_callbacks, &server);
  c = pair.client;
  s = pair.server;
  sc_channel_hold_after_handshake (c);
  sc_channel_start (c);
  sc_channel_start (s);

  iterate_both_until (first_ctx, server_ctx, &server.closed, "the server to send and close");
  g_assert_false (server.closed_with_error);
  g_assert_true (client.handshake_done);

  /* Everything has arrived: the client's context reads it all, and
   * reports none of it. */
  give_up = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;
  while (messages_received (c) < N_MESSAGES)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, give_up);
      iterate (first_ctx, TRUE);
    }
  while (iterate (first_ctx, FALSE))
    ;
  g_assert_cmpuint (client.messages->len, ==, 0);
  g_assert_false (client.closed);
  g_assert_false (sc_channel_is_done (c));

  client.expected = second_ctx;
  g_assert_true (sc_channel_move (c, second_ctx, &error));
  g_assert_no_error (error);
  /* nothing is left for the first context to run */
  while (iterate (first_ctx, FALSE))
    ;
  g_assert_cmpuint (client.messages->len, ==, 0);

  give_up = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;
  while (!client.closed || !sc_channel_is_done (c))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, give_up);
      iterate (second_ctx, TRUE);
    }
  g_assert_cmpuint (client.messages->len, ==, N_MESSAGES);
  for (guint i = 0; i < N_MESSAGES; i++)
    {
      g_autofree char *want = g_strdup_printf ("message %u", i);

      g_assert_cmpstr (g_ptr_array_index (client.messages, i), ==, want);
    }
  g_assert_cmpuint (client.messages_when_closed, ==, N_MESSAGES); /* the end comes last */
  g_assert_false (client.closed_with_error);
  g_assert_cmpuint (client.wrong_context, ==, 0);
  g_assert_cmpuint (server.wrong_context, ==, 0);

  pair_clear (&pair, server_ctx);
  g_ptr_array_unref (client.messages);
  g_ptr_array_unref (server.messages);
}

/* The server's handshake_done for the lingering test: nothing (the client
 * closes first). */
static void
on_quiet_server_handshake_done (ScChannel *channel, gpointer data)
{
  on_handshake_done (channel, data);
}

/* A client channel whose clean close lingers in another context's reaper
 * (sc_channel_linger_later): its own context reports the end once CLOSE
 * is written and has nothing left to run; the reaper holds the socket
 * until the peer has closed its side (peer_closes), or until
 * SC_CHANNEL_CLOSE_LINGER_MS has passed without that, and closes it while
 * only the reaper's context runs. The peer sees a clean close either way. */
static void
test_close_lingers_in_the_reaper (gconstpointer data)
{
  gboolean peer_closes = GPOINTER_TO_INT (data);
  g_autoptr (GMainContext) server_ctx = g_main_context_new ();
  g_autoptr (GMainContext) client_ctx = g_main_context_new ();
  g_autoptr (GMainContext) reaper_ctx = g_main_context_new ();
  static const ScChannelCallbacks client_callbacks = {
    .handshake_done = on_handshake_done,
    .message = on_message,
    .closed = on_closed,
  };
  static const ScChannelCallbacks server_callbacks = {
    .handshake_done = on_quiet_server_handshake_done,
    .message = on_message,
    .closed = on_closed,
  };
  Side client = { .expected = client_ctx, .messages = g_ptr_array_new_with_free_func (g_free) };
  Side server = { .expected = server_ctx, .messages = g_ptr_array_new_with_free_func (g_free) };
  Pair pair;
  ScChannel *c;
  gint64 give_up;

  pair_init (&pair, client_ctx, &client_callbacks, &client, server_ctx, &server_callbacks, &server);
  c = pair.client;
  sc_channel_start (c);
  sc_channel_start (pair.server);
  iterate_both_until (client_ctx, server_ctx, &server.handshake_done, "the handshake");
  iterate_both_until (client_ctx, server_ctx, &client.handshake_done, "the client's handshake");

  sc_channel_linger_later (c, reaper_ctx);
  sc_channel_close (c, SC_CLOSE_NORMAL, "done");
  give_up = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;
  while (!client.closed)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, give_up);
      iterate (client_ctx, TRUE);
    }
  g_assert_false (client.closed_with_error);
  /* handed over at once: the peer has not run since, so it has not closed */
  g_assert_cmpuint (sc_channel_lingering (reaper_ctx), ==, 1);
  g_assert_false (sc_channel_is_done (c));
  while (iterate (client_ctx, FALSE))
    ;

  if (peer_closes)
    {
      /* the peer reads our CLOSE and closes its side */
      iterate_both_until (server_ctx, reaper_ctx, &server.closed, "the peer to close");
      g_assert_false (server.closed_with_error);
    }
  give_up = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;
  while (!sc_channel_is_done (c))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, give_up);
      iterate (reaper_ctx, TRUE);
    }
  g_assert_cmpuint (sc_channel_lingering (reaper_ctx), ==, 0);
  if (!peer_closes)
    {
      /* the peer, run only now, still finds our CLOSE: a clean end */
      iterate_both_until (server_ctx, reaper_ctx, &server.closed, "the peer to see the close");
      g_assert_false (server.closed_with_error);
    }
  /* the reaper's timer went with the last close: nothing is left there */
  g_assert_false (g_main_context_pending (reaper_ctx));
  g_assert_cmpuint (client.wrong_context, ==, 0);

  pair_clear (&pair, server_ctx);
  g_ptr_array_unref (client.messages);
  g_ptr_array_unref (server.messages);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/channel/move/held-events-are-reported-after-the-move",
                   test_held_events_are_reported_after_the_move);
  g_test_add_data_func ("/channel/close/lingers-in-the-reaper/peer-closes", GINT_TO_POINTER (TRUE),
                        test_close_lingers_in_the_reaper);
  g_test_add_data_func ("/channel/close/lingers-in-the-reaper/peer-never-closes",
                        GINT_TO_POINTER (FALSE), test_close_lingers_in_the_reaper);
  return g_test_run ();
}
