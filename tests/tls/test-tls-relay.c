/* test-tls-relay.c: a SecureComm session relayed from one TLS connection
 * into another fails the channel binding (docs/PROTOCOL.md 5.4).
 *
 * A real ScServer in TLS mode (CERT_REQUIRED) on 127.0.0.1, and a relay in
 * front of it that an attacker with a valid certificate, or a
 * TLS-terminating middlebox, would run: it accepts the client's TLS with a
 * certificate valid for localhost and 127.0.0.1 from the CA the client
 * trusts, opens its own TLS connection to the server (with a client
 * certificate of that CA, as the server requires one), and forwards the
 * inner bytes both ways. Both TLS handshakes succeed, so TLS alone lets the
 * relay in; the SecureComm handshake must not, as each end mixes a
 * different TLS connection's binding into its transcript.
 *
 * What is proved:
 *   - control: through the same relay forwarding TCP bytes only (the
 *     client's TLS goes end to end), the session works and a message
 *     arrives; so the relay forwards correctly;
 *   - through the relay terminating TLS with its own certificate, and with
 *     the server's own certificate and key (a middlebox that holds them):
 *     the client's TLS handshake with the relay and the relay's with the
 *     server both succeed, bytes go both ways, yet the client's SecureComm
 *     handshake fails (SC_ERROR_AUTH_FAILED: its first protected record
 *     does not open), the server announces no client and receives no
 *     message;
 *   - the server keeps serving: a client straight to it afterwards succeeds;
 *   - all of this on TLS 1.3 (tls-exporter) and, in a subprocess whose
 *     process-wide priority allows TLS 1.2 only, on TLS 1.2 (tls-unique).
 *
 * Needs certtool (gnutls-bin) for the certificates: skipped without it,
 * unless SC_REQUIRE_TLS_TOOLS=1. Waits are hang guards (SC_TEST_GUARD_S), not
 * timing assertions.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "sc-client.h"
#include "sc-error.h"
#include "sc-identity.h"
#include "sc-server.h"
#include "sc-tls-config.h"
#include "sc-tls.h"
#include "tests/sc-test-net.h"
#include "tests/sc-test-wait.h"

/* The process-wide priority of the TLS 1.2 subprocess: the suite the
 * default configuration allows on TLS 1.2 with an ECDSA certificate. */
#define TLS12_ONLY_PRIORITY \
  "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:-KX-ALL:+ECDHE-ECDSA"

static char *cert_dir;

/* --- Certificates (certtool) -------------------------------------------- */

static char *
cpath (const char *name)
{
  return g_build_filename (cert_dir, name, NULL);
}

static void
run_certtool (const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  int status = -1;

  g_ptr_array_add (argv, (gpointer) "certtool");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  g_spawn_sync (cert_dir, (char **) argv->pdata, NULL,
                G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err, &status,
                &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("certtool %s failed: %s", args[0], err);
}

/* name.key, a new ECDSA P-256 key, and name.crt from template, signed by
 * ca.crt (self-signed when ca is NULL). */
static void
make_cert (const char *name, const char *ca, const char *template)
{
  g_autofree char *tmpl = g_strdup_printf ("%s.tmpl", name);
  g_autofree char *tmpl_path = cpath (tmpl);
  g_autofree char *key_out = g_strdup_printf ("--outfile=%s.key", name);
  g_autofree char *load_key = g_strdup_printf ("--load-privkey=%s.key", name);
  g_autofree char *load_ca = g_strdup_printf ("--load-ca-certificate=%s.crt", ca);
  g_autofree char *load_ca_key = g_strdup_printf ("--load-ca-privkey=%s.key", ca);
  g_autofree char *tmpl_arg = g_strdup_printf ("--template=%s", tmpl);
  g_autofree char *out = g_strdup_printf ("--outfile=%s.crt", name);
  const char *key_args[] = { "--generate-privkey", "--key-type=ecdsa", "--curve=secp256r1", key_out,
                             NULL };
  const char *signed_args[] = {
    "--generate-certificate", load_key, load_ca, load_ca_key, tmpl_arg, out, NULL
  };
  const char *self_args[] = { "--generate-self-signed", load_key, tmpl_arg, out, NULL };

  run_certtool (key_args);
  g_assert_true (g_file_set_contents (tmpl_path, template, -1, NULL));
  run_certtool (ca != NULL ? signed_args : self_args);
}

#define LOCALHOST_SERVER                                                       \
  "cn = \"localhost\"\ndns_name = \"localhost\"\nip_address = \"127.0.0.1\"\n" \
  "tls_www_server\nsigning_key\nexpiration_days = 30\n"

/* The CA that everyone trusts; the server's certificate; the client's; the
 * relay's own server certificate (another key, also valid for localhost)
 * and its client certificate for the server. */
static void
make_certificates (void)
{
  g_autoptr (GError) error = NULL;

  cert_dir = g_dir_make_tmp ("sc-tls-relay-XXXXXX", &error);
  g_assert_no_error (error);
  make_cert ("ca", NULL, "cn = \"Relay test CA\"\nca\ncert_signing_key\nexpiration_days = 30\n");
  make_cert ("server", "ca", LOCALHOST_SERVER "serial = 101\n");
  make_cert ("relay", "ca", LOCALHOST_SERVER "serial = 102\n");
  make_cert ("client", "ca",
             "cn = \"client\"\ntls_www_client\nsigning_key\nexpiration_days = 30\nserial = 103\n");
  make_cert ("relay-client", "ca",
             "cn = \"relay\"\ntls_www_client\nsigning_key\nexpiration_days = 30\nserial = 104\n");
}

static void
remove_certificates (void)
{
  g_autoptr (GDir) dir = g_dir_open (cert_dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = cpath (name);

      g_unlink (path);
    }
  g_rmdir (cert_dir);
}

/* An enabled configuration with base.crt and base.key (or none when base
 * is NULL), trusting ca.crt. */
static ScTlsConfig *
config_for (const char *base, ScTlsVerifyMode verify)
{
  g_autofree char *crt_name = base != NULL ? g_strdup_printf ("%s.crt", base) : NULL;
  g_autofree char *key_name = base != NULL ? g_strdup_printf ("%s.key", base) : NULL;
  g_autofree char *crt = crt_name != NULL ? cpath (crt_name) : NULL;
  g_autofree char *key = key_name != NULL ? cpath (key_name) : NULL;
  g_autofree char *ca = cpath ("ca.crt");

  return sc_tls_config_new (TRUE, crt, key, ca, verify);
}

static ScTlsContext *
context_for (const char *base, ScTlsVerifyMode verify, ScTlsRole role)
{
  g_autoptr (ScTlsConfig) config = config_for (base, verify);
  g_autoptr (GError) error = NULL;
  ScTlsContext *ctx = sc_tls_context_new (config, role, &error);

  g_assert_no_error (error);
  return ctx;
}

/* --- The relay ----------------------------------------------------------- */

typedef enum
{
  RELAY_TCP, /* forwards the bytes of the client's TLS connection */
  RELAY_TLS, /* terminates the client's TLS, opens its own to the server */
} RelayMode;

typedef struct
{
  RelayMode mode;
  ScTlsContext *down_ctx; /* towards the client: the relay's server certificate */
  ScTlsContext *up_ctx;   /* towards the server: the relay's client certificate */
  GSocket *listener;
  guint16 port, upstream;
  GThread *thread;
  gboolean stop;
  /* what happened, atomic */
  gint accepted;
  gint down_tls_ok;  /* the client accepted the relay's certificate */
  gint up_tls_ok;    /* the server accepted the relay's client certificate */
  gint down_version; /* GTlsProtocolVersion of the last client-side TLS */
  gint c2s_bytes, s2c_bytes;
  gint open_conns;
} Relay;

/* One relayed connection: the client's side (down) and the server's (up). */
typedef struct
{
  Relay *relay;
  GSocket *down_socket, *up_socket;
  GIOStream *down, *up; /* the TLS connections, or the plain ones */
  gint refs;
  gint closed;
} Conn;

static void
conn_unref (Conn *c)
{
  if (!g_atomic_int_dec_and_test (&c->refs))
    return;
  g_clear_object (&c->down);
  g_clear_object (&c->up);
  g_clear_object (&c->down_socket);
  g_clear_object (&c->up_socket);
  g_atomic_int_add (&c->relay->open_conns, -1);
  g_free (c);
}

/* Ends both sides, once: a read blocked in the other pump returns. */
static void
conn_close (Conn *c)
{
  if (!g_atomic_int_compare_and_exchange (&c->closed, 0, 1))
    return;
  if (c->down_socket != NULL)
    g_socket_shutdown (c->down_socket, TRUE, TRUE, NULL);
  if (c->up_socket != NULL)
    g_socket_shutdown (c->up_socket, TRUE, TRUE, NULL);
}

typedef struct
{
  Conn *conn;
  GIOStream *from, *to;
  gint *counter;
} Pump;

/* Forwards from one side to the other until either ends. */
static gpointer
pump_main (gpointer data)
{
  Pump *p = data;
  guint8 buf[16384];

  for (;;)
    {
      gssize n = g_input_stream_read (g_io_stream_get_input_stream (p->from), buf, sizeof buf, NULL,
                                      NULL);

      if (n <= 0)
        break;
      /* counted before it is forwarded: the peer may act on these bytes
       * (and the test check the counter) before write_all returns here */
      g_atomic_int_add (p->counter, (gint) n);
      if (!g_output_stream_write_all (g_io_stream_get_output_stream (p->to), buf, (gsize) n, NULL,
                                      NULL, NULL))
        break;
    }
  conn_close (p->conn);
  conn_unref (p->conn);
  g_free (p);
  return NULL;
}

static void
start_pump (Conn *c, GIOStream *from, GIOStream *to, gint *counter)
{
  Pump *p = g_new0 (Pump, 1);

  p->conn = c;
  p->from = from;
  p->to = to;
  p->counter = counter;
  g_atomic_int_inc (&c->refs);
  g_thread_unref (g_thread_new ("relay-pump", pump_main, p));
}

static GSocket *
connect_loopback (guint16 port)
{
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, port);
  GSocket *s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                             NULL);

  if (s == NULL || !g_socket_connect (s, addr, NULL, NULL))
    g_clear_object (&s);
  return s;
}

/* The relay's TLS towards the client, then its own towards the server.
 * Returns whether both handshakes succeeded. */
static gboolean
terminate_tls (Conn *c)
{
  Relay *r = c->relay;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnectable) server = g_network_address_new ("localhost", r->upstream);
  GIOStream *plain_down = c->down, *plain_up = c->up;

  c->down = sc_tls_server_wrap (r->down_ctx, plain_down, &error);
  g_object_unref (plain_down);
  if (c->down == NULL || !sc_tls_handshake (G_TLS_CONNECTION (c->down), NULL, &error))
    {
      g_test_message ("relay: TLS with the client failed: %s", error->message);
      g_object_unref (plain_up);
      c->up = NULL;
      return FALSE;
    }
  g_atomic_int_inc (&r->down_tls_ok);
  g_atomic_int_set (&r->down_version,
                    (gint) g_tls_connection_get_protocol_version (G_TLS_CONNECTION (c->down)));
  c->up = sc_tls_client_wrap (r->up_ctx, plain_up, server, &error);
  g_object_unref (plain_up);
  if (c->up == NULL || !sc_tls_handshake (G_TLS_CONNECTION (c->up), NULL, &error))
    {
      g_test_message ("relay: TLS with the server failed: %s", error->message);
      return FALSE;
    }
  g_atomic_int_inc (&r->up_tls_ok);
  return TRUE;
}

/* One accepted connection, in its own thread. */
static gpointer
conn_main (gpointer data)
{
  Conn *c = data;
  Relay *r = c->relay;

  c->up_socket = connect_loopback (r->upstream);
  g_assert_nonnull (c->up_socket);
  c->down = G_IO_STREAM (g_socket_connection_factory_create_connection (c->down_socket));
  c->up = G_IO_STREAM (g_socket_connection_factory_create_connection (c->up_socket));
  if (r->mode == RELAY_TCP || terminate_tls (c))
    {
      start_pump (c, c->down, c->up, &r->c2s_bytes);
      start_pump (c, c->up, c->down, &r->s2c_bytes);
    }
  else
    conn_close (c);
  conn_unref (c);
  return NULL;
}

static gpointer
relay_main (gpointer data)
{
  Relay *r = data;

  for (;;)
    {
      GSocket *s = g_socket_accept (r->listener, NULL, NULL);
      Conn *c;

      if (s == NULL || g_atomic_int_get (&r->stop))
        {
          g_clear_object (&s);
          return NULL;
        }
      g_atomic_int_inc (&r->accepted);
      g_atomic_int_inc (&r->open_conns);
      c = g_new0 (Conn, 1);
      c->relay = r;
      c->down_socket = s;
      c->refs = 1;
      g_thread_unref (g_thread_new ("relay-conn", conn_main, c));
    }
}

/* A relay on 127.0.0.1 in front of upstream. In RELAY_TLS mode it shows
 * the client down_cert (a base name) and the server relay-client. */
static Relay *
relay_new (RelayMode mode, guint16 upstream, const char *down_cert)
{
  Relay *r = g_new0 (Relay, 1);

  r->mode = mode;
  r->upstream = upstream;
  if (mode == RELAY_TLS)
    {
      r->down_ctx = context_for (down_cert, SC_TLS_VERIFY_NONE, SC_TLS_ROLE_SERVER);
      r->up_ctx = context_for ("relay-client", SC_TLS_VERIFY_REQUIRED, SC_TLS_ROLE_CLIENT);
    }
  r->listener = sc_test_listen_loopback (&r->port);
  r->thread = g_thread_new ("relay", relay_main, r);
  return r;
}

static gboolean
relay_idle (gpointer data)
{
  return g_atomic_int_get (&((Relay *) data)->open_conns) == 0;
}

static void sc_test_iterate_until (gboolean (*done) (gpointer), gpointer data, const char *what);

static void
relay_free (Relay *r)
{
  g_autoptr (GSocket) poke = NULL;

  g_atomic_int_set (&r->stop, TRUE);
  poke = connect_loopback (r->port); /* wakes the accept */
  g_thread_join (r->thread);
  sc_test_iterate_until (relay_idle, r, "the relay's connections to end");
  g_object_unref (r->listener);
  g_clear_pointer (&r->down_ctx, sc_tls_context_unref);
  g_clear_pointer (&r->up_ctx, sc_tls_context_unref);
  g_free (r);
}

/* --- The server and the client ------------------------------------------- */

typedef struct
{
  ScServer *server;
  GPtrArray *messages; /* char *, as received */
  guint connected;     /* client-connected signals */
} Srv;

static void
on_message (ScServer *server, const char *id, GBytes *message, gpointer data)
{
  Srv *s = data;
  gsize len;
  const char *text = g_bytes_get_data (message, &len);

  g_ptr_array_add (s->messages, g_strndup (text, len));
}

static void
on_connected (ScServer *server, const char *id, gpointer data)
{
  ((Srv *) data)->connected++;
}

/* The server: TLS with the server certificate, CERT_REQUIRED. */
static void
srv_start (Srv *s)
{
  g_autoptr (ScTlsConfig) config = config_for ("server", SC_TLS_VERIFY_REQUIRED);
  g_autoptr (GError) error = NULL;

  s->server = sc_server_new ("127.0.0.1", 0, config);
  s->messages = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (s->server, "message-received", G_CALLBACK (on_message), s);
  g_signal_connect (s->server, "client-connected", G_CALLBACK (on_connected), s);
  g_assert_true (sc_server_start (s->server, &error));
  g_assert_no_error (error);
}

static void
srv_stop (Srv *s)
{
  sc_server_shutdown (s->server);
  g_clear_object (&s->server);
  g_ptr_array_unref (s->messages);
}

/* Runs what the main context has for the server now. */
static void
drain_main_context (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

typedef struct
{
  Srv *srv;
  guint want;
} MessageWait;

static gboolean
have_messages (gpointer data)
{
  MessageWait *w = data;

  return w->srv->messages->len >= w->want;
}

/* A client that trusts the CA (no pin: the server's certificate is its
 * trust, PROTOCOL.md 5.4) sends text to 127.0.0.1:port. Returns whether
 * the session came up and the message was acknowledged. */
static gboolean
client_send (guint16 port, const char *text, GError **error)
{
  g_autoptr (ScTlsConfig) config = config_for ("client", SC_TLS_VERIFY_REQUIRED);
  g_autoptr (ScClient) client = sc_client_new (config);
  gboolean ok;

  ok = sc_client_establish_secure_session (client, "127.0.0.1", port, NULL, error)
       && sc_client_send_message (client, text, error)
       && sc_client_flush (client, SC_TEST_GUARD_S * 1000, error);
  sc_client_shutdown (client);
  return ok;
}

/* A session straight to the server works and its message arrives. */
static void
assert_direct_session_works (Srv *s, const char *text)
{
  g_autoptr (GError) error = NULL;
  MessageWait w = { s, s->messages->len + 1 };

  g_assert_true (client_send (sc_server_get_port (s->server), text, &error));
  g_assert_no_error (error);
  sc_test_iterate_until (have_messages, &w, "the server to receive the direct message");
  g_assert_cmpstr (g_ptr_array_index (s->messages, s->messages->len - 1), ==, text);
}

/* --- Tests ---------------------------------------------------------------- */

/* Control: the relay forwarding TCP bytes carries a working session. */
static void
check_tcp_relay_carries_session (void)
{
  Srv s = { 0 };
  Relay *r;
  g_autoptr (GError) error = NULL;
  MessageWait w = { &s, 1 };

  srv_start (&s);
  r = relay_new (RELAY_TCP, sc_server_get_port (s.server), NULL);
  g_assert_true (client_send (r->port, "through a TCP relay", &error));
  g_assert_no_error (error);
  sc_test_iterate_until (have_messages, &w, "the server to receive the relayed message");
  g_assert_cmpstr (g_ptr_array_index (s.messages, 0), ==, "through a TCP relay");
  g_assert_cmpint (g_atomic_int_get (&r->accepted), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&r->c2s_bytes), >, 0);
  g_assert_cmpint (g_atomic_int_get (&r->s2c_bytes), >, 0);
  relay_free (r);
  srv_stop (&s);
}

/* The relay terminates TLS showing down_cert: both TLS handshakes succeed
 * and bytes flow both ways, but the SecureComm handshake fails; the server
 * sees no client and no message, and serves a direct client afterwards.
 * Returns the TLS version the client negotiated with the relay. */
static GTlsProtocolVersion
check_terminating_relay_fails (const char *down_cert)
{
  Srv s = { 0 };
  Relay *r;
  g_autoptr (GError) error = NULL;
  GTlsProtocolVersion version;

  srv_start (&s);
  r = relay_new (RELAY_TLS, sc_server_get_port (s.server), down_cert);
  g_assert_false (client_send (r->port, "must not arrive", &error));
  g_assert_nonnull (error);
  g_test_message ("through the TLS-terminating relay (%s certificate): %s (%s %d)", down_cert,
                  error->message, g_quark_to_string (error->domain), error->code);
  /* the SecureComm handshake's authentication failed (the first protected
   * record does not open: PROTOCOL.md 5.4), not TLS nor the connection */
  g_assert_error (error, SC_ERROR, SC_ERROR_AUTH_FAILED);
  g_assert_cmpint (g_atomic_int_get (&r->accepted), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&r->down_tls_ok), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&r->up_tls_ok), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&r->c2s_bytes), >, 0); /* the ClientHello went through */
  g_assert_cmpint (g_atomic_int_get (&r->s2c_bytes), >, 0); /* and the ServerHello came back */
  version = (GTlsProtocolVersion) g_atomic_int_get (&r->down_version);
  relay_free (r);
  drain_main_context ();
  g_assert_cmpuint (s.connected, ==, 0);
  g_assert_cmpuint (s.messages->len, ==, 0);
  assert_direct_session_works (&s, "straight to the server");
  g_assert_cmpuint (s.connected, ==, 1);
  srv_stop (&s);
  return version;
}

static void
test_tcp_relay_carries_a_working_session (void)
{
  check_tcp_relay_carries_session ();
}

static void
test_relay_with_own_valid_certificate_fails_binding_tls13 (void)
{
  g_assert_cmpint (check_terminating_relay_fails ("relay"), ==, G_TLS_PROTOCOL_VERSION_TLS_1_3);
}

static void
test_middlebox_with_server_certificate_fails_binding_tls13 (void)
{
  g_assert_cmpint (check_terminating_relay_fails ("server"), ==, G_TLS_PROTOCOL_VERSION_TLS_1_3);
}

/* In the TLS 1.2 subprocess, ScServer and ScClient warn that the
 * environment's priority is not their configuration's: expected there, as
 * it is set on purpose. Any other warning is counted, and fails the test. */
static gint unexpected_warnings;

static GLogWriterOutput
tls12_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  for (gsize i = 0; i < n_fields && (level & G_LOG_LEVEL_WARNING); i++)
    if (g_str_equal (fields[i].key, "MESSAGE") && fields[i].length < 0
        && strstr (fields[i].value, SC_TLS_PRIORITY_ENV) == NULL)
      g_atomic_int_inc (&unexpected_warnings);
  return g_log_writer_default (level, fields, n_fields, data);
}

/* TLS 1.2 (tls-unique) needs its own process: the priority is
 * process-wide. The control and both relays, in one subprocess. */
static void
test_relays_on_tls12_fail_binding (void)
{
  if (g_test_subprocess ())
    {
      g_setenv (SC_TLS_PRIORITY_ENV, TLS12_ONLY_PRIORITY, TRUE);
      g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
      g_log_set_writer_func (tls12_log_writer, NULL, NULL);
      check_tcp_relay_carries_session ();
      g_assert_cmpint (check_terminating_relay_fails ("relay"), ==, G_TLS_PROTOCOL_VERSION_TLS_1_2);
      g_assert_cmpint (check_terminating_relay_fails ("server"), ==,
                       G_TLS_PROTOCOL_VERSION_TLS_1_2);
      g_assert_cmpint (g_atomic_int_get (&unexpected_warnings), ==, 0);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  g_autofree char *certtool = g_find_program_in_path ("certtool");
  int ret;

  g_test_init (&argc, &argv, NULL);
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  if (certtool == NULL)
    {
      if (g_strcmp0 (g_getenv ("SC_REQUIRE_TLS_TOOLS"), "1") == 0)
        g_error ("certtool (gnutls-bin) is not installed (SC_REQUIRE_TLS_TOOLS=1)");
      g_test_skip ("certtool (gnutls-bin) is not installed");
      return g_test_run ();
    }
  make_certificates ();
  g_test_add_func ("/tls/relay/tcp-relay-carries-a-working-session",
                   test_tcp_relay_carries_a_working_session);
  g_test_add_func ("/tls/relay/tls13/relay-with-own-valid-certificate-fails-binding",
                   test_relay_with_own_valid_certificate_fails_binding_tls13);
  g_test_add_func ("/tls/relay/tls13/middlebox-with-server-certificate-fails-binding",
                   test_middlebox_with_server_certificate_fails_binding_tls13);
  g_test_add_func ("/tls/relay/tls12/relays-fail-binding", test_relays_on_tls12_fail_binding);
  ret = g_test_run ();
  remove_certificates ();
  return ret;
}
