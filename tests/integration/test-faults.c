/* test-faults.c: securecommd under bad input and misbehaving peers.
 *
 * Each case does one wrong thing to the real daemon (see itest.h) and then
 * checks that it still serves: the client connected before still exchanges
 * messages, and a fresh client connects and exchanges messages.
 *
 * How a closed connection is told from a slow one without timing: where it
 * matters, the daemon runs with a handshake timeout far longer than the
 * hang guard, so a connection it closes within the guard was closed for
 * the fault, not by the timer; where the timer is the point, the daemon's
 * alert record says "timeout".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "itest.h"
#include "sc-protocol.h"
#include "sc-wire.h"

/* The handshake timer cannot fire within the hang guard (600000 ms is the
 * most the configuration allows). */
#define CONFIG_NO_HANDSHAKE_TIMEOUT "{\"sessions\": {\"handshake_timeout_ms\": 600000}}"
#define CONFIG_LIMIT_3_NO_HANDSHAKE_TIMEOUT \
  "{\"sessions\": {\"handshake_timeout_ms\": 600000, \"max_per_source\": 3}}"

/* ---- raw connections ---------------------------------------------------- */

static GSocketConnection *
raw_connect (ItFixture *fx)
{
  g_autoptr (GSocketClient) sock_client = g_socket_client_new ();
  g_autoptr (GError) error = NULL;
  GSocketConnection *conn = g_socket_client_connect_to_host (sock_client, "127.0.0.1", fx->port,
                                                             NULL, &error);

  g_assert_no_error (error);
  /* A hang guard only: a read that times out means the daemon kept the
   * connection open. */
  g_socket_set_timeout (g_socket_connection_get_socket (conn), IT_GUARD_S);
  return conn;
}

static void
raw_write (GSocketConnection *conn, const void *data, gsize len)
{
  g_autoptr (GError) error = NULL;

  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)), data, len, NULL,
                             NULL, &error);
  g_assert_no_error (error);
}

/* Reads until the daemon closes the connection (end of stream, or a reset)
 * and returns what it sent before. */
static GBytes *
read_until_closed (GSocketConnection *conn)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (conn));
  g_autoptr (GByteArray) got = g_byte_array_new ();
  guint8 buf[4096];

  for (;;)
    {
      g_autoptr (GError) error = NULL;
      gssize n = g_input_stream_read (in, buf, sizeof buf, NULL, &error);

      if (n > 0)
        {
          g_byte_array_append (got, buf, (guint) n);
          continue;
        }
      if (n < 0)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
            g_error ("the daemon kept the connection open for %d s (hang guard)", IT_GUARD_S);
          it_note ("the connection ended with: %s", error->message);
        }
      break;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&got));
}

/* The bytes of one plaintext alert record (PROTOCOL.md 3.1). */
static GBytes *
alert_record (guint8 code)
{
  guint8 rec[SC_RECORD_HEADER_LEN + SC_ALERT_LEN];

  sc_wire_put_record_header (rec, SC_RECORD_ALERT, SC_ALERT_LEN);
  rec[SC_RECORD_HEADER_LEN] = code;
  return g_bytes_new (rec, sizeof rec);
}

static void
assert_alert (GBytes *got, guint8 code)
{
  g_autoptr (GBytes) want = alert_record (code);

  g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got),
                   g_bytes_get_data (want, NULL), g_bytes_get_size (want));
}

/* ---- a real ClientHello, from the protocol core --------------------------- */

static uint64_t
wall_ms (void *user)
{
  return (uint64_t) (g_get_real_time () / 1000);
}

static uint64_t
mono_ms (void *user)
{
  return (uint64_t) (g_get_monotonic_time () / 1000);
}

static int
refuse_server (void *user, const ScPeerIdentity *peer)
{
  return -1;
}

static GBytes *
client_hello (void)
{
  ScProtoCtx ctx = {
    .wall_ms = wall_ms,
    .mono_ms = mono_ms,
    .random = sc_random_system,
    .verify_peer = refuse_server,
  };
  ScSessionConfig config;
  ScSession *session;
  ScBuffer out;
  GBytes *hello;
  int err = 0;

  sc_session_config_init (&config, SC_ROLE_CLIENT);
  session = sc_session_new (&config, &ctx, &err);
  g_assert_nonnull (session);
  sc_buffer_init (&out);
  g_assert_cmpint (sc_session_start (session, &out), ==, SC_OK);
  g_assert_cmpuint (out.len, >, SC_RECORD_HEADER_LEN + 1);
  hello = g_bytes_new (out.data, out.len);
  sc_buffer_clear (&out);
  sc_session_free (session);
  return hello;
}

/* Announcements of connections that never completed a handshake would be
 * waiting here after a round trip to the daemon. */
static void
assert_no_stray_clients (ItFixture *fx)
{
  g_auto (GStrv) ids = it_get_client_ids (fx);

  g_assert_nonnull (ids);
  it_drain ();
  g_assert_cmpuint (it_count_signals (fx, "ClientConnected", NULL), ==, 0);
}

/* ---- garbage ------------------------------------------------------------- */

static void
send_garbage (ItFixture *fx, const char *what, const void *data, gsize len, guint8 alert)
{
  g_autoptr (GSocketConnection) conn = raw_connect (fx);
  g_autoptr (GBytes) got = NULL;

  it_note ("garbage: %s", what);
  raw_write (conn, data, len);
  got = read_until_closed (conn);
  it_note ("the daemon sent %" G_GSIZE_FORMAT " bytes, then closed", g_bytes_get_size (got));
  /* The daemon says why before it closes (when its alert was not lost to
   * a reset of the connection, which is a close too). */
  if (g_bytes_get_size (got) > 0)
    assert_alert (got, alert);
  g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
}

static void
test_garbage_closed (ItFixture *fx, gconstpointer data)
{
  static const char http[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  g_autoptr (GRand) rand = g_rand_new_with_seed (20240601);
  guint8 oversized[SC_RECORD_HEADER_LEN + 2] = { 0 };
  guint8 early[SC_RECORD_HEADER_LEN + 32] = { 0 };
  guint8 noise[256];
  ItClient *a = it_connect (fx, NULL);

  /* A handshake record longer than any record may be. */
  sc_wire_put_record_header (oversized, SC_RECORD_HANDSHAKE, 0xffff);
  /* A protected record before any keys exist. */
  sc_wire_put_record_header (early, SC_RECORD_PROTECTED, sizeof early - SC_RECORD_HEADER_LEN);
  for (gsize i = 0; i < sizeof noise; i++)
    noise[i] = (guint8) g_rand_int_range (rand, 0, 256);
  send_garbage (fx, "an HTTP request", http, strlen (http), SC_ALERT_DECODE_ERROR);
  send_garbage (fx, "an oversized record", oversized, sizeof oversized, SC_ALERT_RECORD_OVERFLOW);
  send_garbage (fx, "a protected record before the handshake", early, sizeof early,
                SC_ALERT_UNEXPECTED_MESSAGE);
  send_garbage (fx, "random bytes", noise, sizeof noise, SC_ALERT_DECODE_ERROR);
  assert_no_stray_clients (fx);
  it_assert_serving (fx, a);
}

/* ---- handshakes that stop half way ----------------------------------------- */

static void
test_half_handshake_times_out (ItFixture *fx, gconstpointer data)
{
  g_autoptr (GBytes) hello = client_hello ();
  g_autoptr (GSocketConnection) silent = NULL, half = NULL;
  g_autoptr (GBytes) got_silent = NULL, got_half = NULL;
  ItClient *a = it_connect (fx, NULL);

  silent = raw_connect (fx); /* connects and says nothing */
  half = raw_connect (fx);   /* sends half a ClientHello */
  raw_write (half, g_bytes_get_data (hello, NULL), g_bytes_get_size (hello) / 2);

  /* Closed by the handshake timer (the configuration's 1000 ms), which the
   * daemon's alert names. */
  got_silent = read_until_closed (silent);
  assert_alert (got_silent, SC_ALERT_TIMEOUT);
  got_half = read_until_closed (half);
  assert_alert (got_half, SC_ALERT_TIMEOUT);
  assert_no_stray_clients (fx);
  it_assert_serving (fx, a);
}

/* ---- too many connections from one address -------------------------------- */

static void
test_max_per_source (ItFixture *fx, gconstpointer data)
{
  g_autofree char *reason = NULL;
  ItClient *allowed[3];

  /* The configuration allows 3 connections from one address. */
  for (int i = 0; i < 3; i++)
    allowed[i] = it_connect (fx, NULL);

  /* More clients are refused... */
  for (int i = 0; i < 6; i++)
    {
      g_autoptr (GError) error = NULL;
      ItClient *extra = it_client_new (fx, NULL, NULL);

      g_assert_false (
          sc_client_establish_secure_session (extra->client, "127.0.0.1", fx->port, NULL, &error));
      g_assert_nonnull (error);
      it_note ("extra client %d: %s", i, error->message);
      g_assert_cmpint (sc_client_get_state (extra->client), ==, SC_CLIENT_STATE_CLOSED);
    }
  /* ...and so are raw connections: closed without a word (with no
   * handshake timer running, only the refusal closes them). */
  for (int i = 0; i < 4; i++)
    {
      g_autoptr (GSocketConnection) conn = raw_connect (fx);
      g_autoptr (GBytes) got = read_until_closed (conn);

      g_assert_cmpuint (g_bytes_get_size (got), ==, 0);
    }
  assert_no_stray_clients (fx);

  /* The allowed ones still work. */
  for (int i = 0; i < 3; i++)
    it_exchange (fx, allowed[i]);
  it_assert_client_ids (fx,
                        (const char *[]) { allowed[0]->id, allowed[1]->id, allowed[2]->id, NULL });

  /* One leaves: its place is free again for a fresh client. */
  reason = it_client_close (fx, allowed[2]);
  g_assert_cmpstr (reason, ==, "closed by peer");
  it_assert_serving (fx, allowed[0]);
}

/* ---- a pin that does not match -------------------------------------------- */

static void
test_wrong_pin_refused (ItFixture *fx, gconstpointer data)
{
  g_autofree char *wrong = g_strdup (fx->fingerprint);
  g_autoptr (GError) error = NULL;
  ItClient *a = it_connect (fx, NULL);
  ItClient *x;

  wrong[0] = wrong[0] == '0' ? '1' : '0';
  x = it_client_new (fx, NULL, wrong);
  g_assert_false (
      sc_client_establish_secure_session (x->client, "127.0.0.1", fx->port, NULL, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_UNTRUSTED);
  assert_no_stray_clients (fx);
  it_assert_serving (fx, a);
}

/* ---- peers that vanish or hang -------------------------------------------- */

typedef struct
{
  GSubprocess *proc;
  GDataInputStream *out;
  char *id;
  gboolean exited;
} Helper;

static void
on_helper_exit (GObject *source, GAsyncResult *result, gpointer data)
{
  Helper *h = data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  h->exited = TRUE;
}

/* Runs sc-test-client and learns the id the daemon gave it. */
static void
helper_start (ItFixture *fx, Helper *h)
{
  g_autofree char *line = NULL;
  ItSignal *s;

  h->proc = it_spawn_test_client (fx, &h->out);
  g_subprocess_wait_async (h->proc, NULL, on_helper_exit, h);
  line = it_read_line (fx, h->out);
  g_assert_cmpstr (line, ==, "connected");
  s = it_take_signal (fx, "ClientConnected", NULL);
  g_variant_get_child (s->params, 0, "s", &h->id);
}

/* Waits for the helper to end; its exit status, or -1 after a signal. */
static int
helper_finish (ItFixture *fx, Helper *h)
{
  int status;

  IT_WAIT (fx, h->exited);
  status = g_subprocess_get_if_exited (h->proc) ? g_subprocess_get_exit_status (h->proc) : -1;
  g_clear_object (&h->out);
  g_clear_object (&h->proc);
  g_free (h->id);
  return status;
}

static void
test_client_killed (ItFixture *fx, gconstpointer data)
{
  Helper h = { 0 };
  g_autofree char *reason = NULL;
  ItClient *a = it_connect (fx, NULL);

  helper_start (fx, &h);
  g_subprocess_force_exit (h.proc); /* SIGKILL: no close message */
  reason = it_take_disconnect_reason (fx, h.id);
  g_assert_nonnull (strstr (reason, "closed without a close message"));
  g_assert_cmpint (helper_finish (fx, &h), ==, -1);
  it_assert_client_ids (fx, (const char *[]) { a->id, NULL });
  it_assert_serving (fx, a);
}

static void
test_client_stopped_heartbeat (ItFixture *fx, gconstpointer data)
{
  Helper h = { 0 };
  g_autofree char *reason = NULL;
  g_autofree char *line = NULL;
  ItClient *a = it_connect (fx, NULL);

  helper_start (fx, &h);
  g_subprocess_send_signal (h.proc, SIGSTOP); /* connected, but silent */
  reason = it_take_disconnect_reason (fx, h.id);
  g_assert_cmpstr (reason, ==, "heartbeat timeout");
  it_assert_client_ids (fx, (const char *[]) { a->id, NULL });

  /* Woken up, the helper finds its session over and ends cleanly. */
  g_subprocess_send_signal (h.proc, SIGCONT);
  g_output_stream_close (g_subprocess_get_stdin_pipe (h.proc), NULL, NULL);
  line = it_read_line (fx, h.out);
  g_assert_cmpstr (line, ==, "closed");
  g_assert_cmpint (helper_finish (fx, &h), ==, 0);
  it_assert_serving (fx, a);
}

/* ---- main ----------------------------------------------------------------- */

static gboolean
has_received (ItFixture *fx, const char *id, const char *text)
{
  for (guint i = 0; i < fx->signals->len; i++)
    {
      ItSignal *s = fx->signals->pdata[i];
      const char *sid, *msg;

      if (g_strcmp0 (s->name, "MessageReceived") != 0)
        continue;
      g_variant_get (s->params, "(&s&s)", &sid, &msg);
      if (g_strcmp0 (sid, id) == 0 && g_strcmp0 (msg, text) == 0)
        return TRUE;
    }
  return FALSE;
}

/* The daemon is killed (no close message) and started again: the client
 * notices, reconnects by itself, and what was sent meanwhile (kept in its
 * outbox) reaches the new daemon. The new daemon has new ticket keys, so
 * this is a full handshake: the old stream is gone. */
static void
test_daemon_restart_client_reconnects (ItFixture *fx, gconstpointer data)
{
  g_autoptr (ScIdentity) key = sc_identity_generate (NULL);
  g_autofree char *id = g_strdup_printf ("key-%.32s", sc_identity_get_fingerprint (key));
  g_autoptr (GError) error = NULL;
  ItClient *c = it_connect (fx, key);
  guint connected_before;

  sc_client_set_reconnect (c->client, TRUE, 50, 400, IT_GUARD_S * 1000);
  it_exchange (fx, c);
  it_restart_daemon (fx);
  it_client_wait_passed_state (fx, c, SC_CLIENT_STATE_RECONNECTING);
  connected_before = 0;
  for (guint i = 0; i < c->states->len; i++)
    connected_before += g_array_index (c->states, ScClientState, i) == SC_CLIENT_STATE_CONNECTED;
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *text = g_strdup_printf ("sent while away %u", i);

      g_assert_true (sc_client_send_message (c->client, text, &error));
      g_assert_no_error (error);
    }
  g_assert_true (sc_client_flush (c->client, IT_GUARD_S * 1000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (sc_client_get_outbox_length (c->client), ==, 0);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *text = g_strdup_printf ("sent while away %u", i);

      IT_WAIT (fx, has_received (fx, id, text));
    }
  IT_WAIT (fx, c->states->len > 0
                   && g_array_index (c->states, ScClientState, c->states->len - 1)
                          == SC_CLIENT_STATE_CONNECTED);
  g_assert_cmpuint (connected_before, >=, 1);
  it_assert_client_ids (fx, (const char *[]) { id, NULL });
}

#define ADD(path, config, func) it_add (path, config, func)

int
main (int argc, char **argv)
{
  it_init (&argc, &argv);

  ADD ("/faults/garbage-closed", CONFIG_NO_HANDSHAKE_TIMEOUT, test_garbage_closed);
  ADD ("/faults/half-handshake-times-out", IT_CONFIG_SMALL_LIMITS, test_half_handshake_times_out);
  ADD ("/faults/max-per-source-refuses-extra", CONFIG_LIMIT_3_NO_HANDSHAKE_TIMEOUT,
       test_max_per_source);
  ADD ("/faults/wrong-pin-refused", NULL, test_wrong_pin_refused);
  ADD ("/faults/client-killed-closed-without-close", NULL, test_client_killed);
  ADD ("/faults/daemon-killed-and-restarted-client-reconnects", NULL,
       test_daemon_restart_client_reconnects);
  ADD ("/faults/client-stopped-heartbeat-timeout", IT_CONFIG_SMALL_LIMITS,
       test_client_stopped_heartbeat);
  return g_test_run ();
}
