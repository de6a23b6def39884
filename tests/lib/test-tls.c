/* test-tls.c: TLS mode (sc-tls.c) over real sockets on 127.0.0.1, with
 * certificates that certtool (gnutls-bin) makes for the test, and
 * gnutls-cli as the outside client where a peer must do what our own
 * configuration cannot (an old version, a suite we do not allow).
 *
 * The test process sets its GnuTLS priority once (sc_tls_setup_process with
 * the default configuration), as securecommd does; the tests that need
 * another process-wide priority run in a subprocess.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "sc-error.h"
#include "sc-tls.h"
#include "sc-x509.h"

/* s: a pair that does not finish by then is a failure, not a hang. */
#define PAIR_TIMEOUT_S 30

static char *cert_dir; /* made once by make_certificates() */

/* --- Certificates ------------------------------------------------------- */

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

static void
make_key (const char *name)
{
  g_autofree char *out = g_strdup_printf ("--outfile=%s.key", name);
  const char *args[] = { "--generate-privkey", "--key-type=ecdsa", "--curve=secp256r1", out, NULL };

  run_certtool (args);
}

/* name.crt for name.key (or key.key), from template, signed by ca (or
 * self-signed when ca is NULL). */
static void
make_cert (const char *name, const char *key, const char *ca, const char *template)
{
  g_autofree char *tmpl = g_strdup_printf ("%s.tmpl", name);
  g_autofree char *tmpl_path = cpath (tmpl);
  g_autofree char *load_key = g_strdup_printf ("--load-privkey=%s.key", key != NULL ? key : name);
  g_autofree char *load_ca = g_strdup_printf ("--load-ca-certificate=%s.crt", ca);
  g_autofree char *load_ca_key = g_strdup_printf ("--load-ca-privkey=%s.key", ca);
  g_autofree char *tmpl_arg = g_strdup_printf ("--template=%s", tmpl);
  g_autofree char *out = g_strdup_printf ("--outfile=%s.crt", name);
  const char *signed_args[] = {
    "--generate-certificate", load_key, load_ca, load_ca_key, tmpl_arg, out, NULL
  };
  const char *self_args[] = { "--generate-self-signed", load_key, tmpl_arg, out, NULL };

  g_assert_true (g_file_set_contents (tmpl_path, template, -1, NULL));
  run_certtool (ca != NULL ? signed_args : self_args);
}

#define CA_TEMPLATE "ca\ncert_signing_key\ncrl_signing_key\nexpiration_days = 30\n"
#define SERVER_TEMPLATE(serial)                                                \
  "cn = \"localhost\"\ndns_name = \"localhost\"\nip_address = \"127.0.0.1\"\n" \
  "tls_www_server\nsigning_key\nexpiration_days = 30\nserial = " serial "\n"
#define CLIENT_TEMPLATE(serial) \
  "cn = \"client\"\ntls_www_client\nsigning_key\nexpiration_days = 30\nserial = " serial "\n"

static void
make_crl (const char *name, const char *ca, const char *revoked)
{
  g_autofree char *load_ca = g_strdup_printf ("--load-ca-certificate=%s.crt", ca);
  g_autofree char *load_ca_key = g_strdup_printf ("--load-ca-privkey=%s.key", ca);
  g_autofree char *load_revoked = g_strdup_printf ("--load-certificate=%s", revoked);
  g_autofree char *out = g_strdup_printf ("--outfile=%s", name);
  g_autofree char *tmpl = cpath ("crl.tmpl");
  const char *args[] = { "--generate-crl",      load_ca_key, load_ca, load_revoked,
                         "--template=crl.tmpl", out,         NULL };

  g_assert_true (g_file_set_contents (tmpl, "crl_next_update = 30\ncrl_number = 1\n", -1, NULL));
  run_certtool (args);
}

/* Appends file b to file a's text into out. */
static void
concat_files (const char *out, const char *a, const char *b)
{
  g_autofree char *pa = cpath (a), *pb = cpath (b), *po = cpath (out);
  g_autofree char *ta = NULL, *tb = NULL, *both = NULL;

  g_assert_true (g_file_get_contents (pa, &ta, NULL, NULL));
  g_assert_true (g_file_get_contents (pb, &tb, NULL, NULL));
  both = g_strconcat (ta, tb, NULL);
  g_assert_true (g_file_set_contents (po, both, -1, NULL));
}

static void
make_certificates (void)
{
  const char *keys[] = { "ca", "other-ca", "server", "client", "selfsigned" };
  g_autoptr (GError) error = NULL;

  cert_dir = g_dir_make_tmp ("sc-tls-XXXXXX", &error);
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    make_key (keys[i]);
  make_cert ("ca", NULL, NULL, "cn = \"SecureComm Test CA\"\n" CA_TEMPLATE);
  make_cert ("other-ca", NULL, NULL, "cn = \"Other CA\"\n" CA_TEMPLATE);
  make_cert ("server", NULL, "ca", SERVER_TEMPLATE ("4097"));
  make_cert ("server-other-ca", "server", "other-ca", SERVER_TEMPLATE ("4098"));
  make_cert ("server-wrong-host", "server", "ca",
             "cn = \"wrong.example\"\ndns_name = \"wrong.example\"\ntls_www_server\nsigning_key\n"
             "expiration_days = 30\nserial = 4099\n");
  make_cert ("server-expired", "server", "ca",
             "cn = \"localhost\"\ndns_name = \"localhost\"\ntls_www_server\nsigning_key\n"
             "activation_date = \"2020-01-01 00:00:00\"\nexpiration_date = \"2020-12-31 "
             "00:00:00\"\nserial = 4100\n");
  make_cert ("server-revoked", "server", "ca", SERVER_TEMPLATE ("4101"));
  make_cert ("server-not-yet-valid", "server", "ca",
             "cn = \"localhost\"\ndns_name = \"localhost\"\ntls_www_server\nsigning_key\n"
             "activation_date = \"2099-01-01 00:00:00\"\nexpiration_date = \"2099-12-31 "
             "00:00:00\"\nserial = 4103\n");
  make_cert ("server-client-usage", "server", "ca",
             "cn = \"localhost\"\ndns_name = \"localhost\"\ntls_www_client\nsigning_key\n"
             "expiration_days = 30\nserial = 4104\n");
  make_cert ("selfsigned", NULL, NULL, SERVER_TEMPLATE ("4102"));
  make_cert ("client", NULL, "ca", CLIENT_TEMPLATE ("8193"));
  make_cert ("client-revoked", "client", "ca", CLIENT_TEMPLATE ("8194"));
  make_cert ("client-other-ca", "client", "other-ca", CLIENT_TEMPLATE ("8195"));
  concat_files ("revoked.pem", "server-revoked.crt", "client-revoked.crt");
  make_crl ("crl.pem", "ca", "revoked.pem");
  make_crl ("crl-other-ca.pem", "other-ca", "server-revoked.crt");
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

/* The lowercase hex SHA-256 of the SPKI of name.crt. */
static char *
pin_of (const char *name)
{
  g_autofree char *file = g_strdup_printf ("%s.crt", name);
  g_autofree char *path = cpath (file);
  g_autoptr (GError) error = NULL;
  g_autoptr (GTlsCertificate) cert = g_tls_certificate_new_from_file (path, &error);
  g_autoptr (GByteArray) der = NULL;
  g_autoptr (GString) hex = g_string_new (NULL);
  guint8 digest[SC_SHA256_LEN];

  g_assert_no_error (error);
  g_object_get (cert, "certificate", &der, NULL);
  g_assert_cmpint (sc_x509_spki_sha256 (der->data, der->len, digest), ==, 0);
  for (gsize i = 0; i < sizeof digest; i++)
    g_string_append_printf (hex, "%02x", digest[i]);
  return g_string_free (g_steal_pointer (&hex), FALSE);
}

/* --- Configurations ----------------------------------------------------- */

typedef struct
{
  const char *cert;   /* base name of the .crt, or NULL */
  const char *key;    /* base name of the .key; NULL: the same as cert */
  const char *ca;     /* base name of the CA .crt, or NULL */
  const char *crl;    /* file name of the CRL, or NULL */
  const char *verify; /* "CERT_NONE", "CERT_OPTIONAL"; NULL: "CERT_REQUIRED" */
  ScTlsVersion min_version;
  const char *const *suites;
  const char *pin; /* lowercase hex, or NULL */
} Spec;

static ScTlsVerifyMode
verify_mode_of (const char *name)
{
  if (g_strcmp0 (name, "CERT_NONE") == 0)
    return SC_TLS_VERIFY_NONE;
  if (g_strcmp0 (name, "CERT_OPTIONAL") == 0)
    return SC_TLS_VERIFY_OPTIONAL;
  return SC_TLS_VERIFY_REQUIRED;
}

static ScTlsConfig *
config_for (const Spec *s)
{
  g_autofree char *crt_name = s->cert != NULL ? g_strdup_printf ("%s.crt", s->cert) : NULL;
  g_autofree char *key_name = s->cert != NULL
                                  ? g_strdup_printf ("%s.key", s->key != NULL ? s->key : s->cert)
                                  : NULL;
  g_autofree char *ca_name = s->ca != NULL ? g_strdup_printf ("%s.crt", s->ca) : NULL;
  g_autofree char *crt = crt_name != NULL ? cpath (crt_name) : NULL;
  g_autofree char *key = key_name != NULL ? cpath (key_name) : NULL;
  g_autofree char *ca = ca_name != NULL ? cpath (ca_name) : NULL;
  g_autofree char *crl = s->crl != NULL ? cpath (s->crl) : NULL;
  const char *pins[] = { s->pin, NULL };

  return g_object_new (SC_TYPE_TLS_CONFIG, "enabled", TRUE, "cert-path", crt, "key-path", key,
                       "ca-path", ca, "crl-path", crl, "verify-mode", verify_mode_of (s->verify),
                       "min-version", s->min_version, "cipher-suites", s->suites,
                       "pinned-spki-sha256", s->pin != NULL ? pins : NULL, NULL);
}

static ScTlsContext *
context_for (const Spec *s, ScTlsRole role)
{
  g_autoptr (ScTlsConfig) config = config_for (s);
  g_autoptr (GError) error = NULL;
  ScTlsContext *ctx = sc_tls_context_new (config, role, &error);

  g_assert_no_error (error);
  return ctx;
}

/* The server every client test talks to: the good certificate, no client
 * certificate asked for. */
static const Spec plain_server = { .cert = "server", .verify = "CERT_NONE" };
/* A client that trusts the test CA. */
static const Spec plain_client = { .ca = "ca" };

/* --- A server and a client over 127.0.0.1 ------------------------------- */

typedef struct
{
  /* in */
  ScTlsContext *server_ctx;
  ScTlsContext *client_ctx;
  const char *host; /* the name the client checks; NULL: "localhost" */
  /* out */
  GIOStream *server_base, *client_base;
  GTlsConnection *server, *client; /* NULL after a failure */
  GError *server_error, *client_error;
  /* running */
  GMainLoop *loop;
  int pending;
  guint16 port;
} Pair;

static void
pair_side_done (Pair *p)
{
  if (--p->pending == 0)
    g_main_loop_quit (p->loop);
}

/* A failed side closes its socket, as ScServer and ScClient drop it, so the
 * other side sees the end of the connection. */
static void
side_failed (GTlsConnection **conn, GIOStream *base)
{
  g_clear_object (conn);
  g_io_stream_close (base, NULL, NULL);
}

/* Either side's handshake is done. */
static void
on_handshake (GObject *source, GAsyncResult *result, gpointer data)
{
  Pair *p = data;
  gboolean server = source == G_OBJECT (p->server);

  if (!sc_tls_handshake_finish (G_TLS_CONNECTION (source), result,
                                server ? &p->server_error : &p->client_error))
    side_failed (server ? &p->server : &p->client, server ? p->server_base : p->client_base);
  pair_side_done (p);
}

static void
on_accepted (GObject *source, GAsyncResult *result, gpointer data)
{
  Pair *p = data;
  g_autoptr (GError) error = NULL;
  GSocketConnection *conn = g_socket_listener_accept_finish (G_SOCKET_LISTENER (source), result,
                                                             NULL, &error);

  g_assert_no_error (error);
  p->server_base = G_IO_STREAM (conn);
  p->server = G_TLS_CONNECTION (sc_tls_server_wrap (p->server_ctx, p->server_base, &error));
  g_assert_no_error (error);
  sc_tls_handshake_async (p->server, G_PRIORITY_DEFAULT, NULL, on_handshake, p);
}

static void
on_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  Pair *p = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnectable) identity = NULL;
  GSocketConnection *conn = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result,
                                                            &error);

  g_assert_no_error (error);
  p->client_base = G_IO_STREAM (conn);
  identity = g_network_address_new (p->host != NULL ? p->host : "localhost", p->port);
  p->client = G_TLS_CONNECTION (
      sc_tls_client_wrap (p->client_ctx, p->client_base, identity, &error));
  g_assert_no_error (error);
  sc_tls_handshake_async (p->client, G_PRIORITY_DEFAULT, NULL, on_handshake, p);
}

static gboolean
on_timeout (gpointer data)
{
  g_error ("a TLS handshake did not finish in %d s", PAIR_TIMEOUT_S);
  return G_SOURCE_REMOVE;
}

/* A listener on 127.0.0.1 and a free port. */
static GSocketListener *
listen_loopback (guint16 *port)
{
  g_autoptr (GSocketListener) listener = g_socket_listener_new ();
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;

  g_socket_listener_add_address (listener, any, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                 &bound, &error);
  g_assert_no_error (error);
  *port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  return g_steal_pointer (&listener);
}

/* Runs both handshakes to their end. */
static void
pair_run (Pair *p)
{
  g_autoptr (GSocketListener) listener = listen_loopback (&p->port);
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) target = g_inet_socket_address_new (lo, p->port);
  guint timeout = g_timeout_add_seconds (PAIR_TIMEOUT_S, on_timeout, NULL);

  p->loop = g_main_loop_new (NULL, FALSE);
  p->pending = 2;
  g_socket_listener_accept_async (listener, NULL, on_accepted, p);
  g_socket_client_connect_async (client, G_SOCKET_CONNECTABLE (target), NULL, on_connected, p);
  g_main_loop_run (p->loop);
  g_source_remove (timeout);
  g_main_loop_unref (p->loop);
}

static void
pair_clear (Pair *p)
{
  g_clear_object (&p->server);
  g_clear_object (&p->client);
  g_clear_object (&p->server_base);
  g_clear_object (&p->client_base);
  g_clear_error (&p->server_error);
  g_clear_error (&p->client_error);
  g_clear_pointer (&p->server_ctx, sc_tls_context_unref);
  g_clear_pointer (&p->client_ctx, sc_tls_context_unref);
}

/* Runs a pair of server and client specs. */
static void
pair_run_specs (Pair *p, const Spec *server, const Spec *client)
{
  p->server_ctx = context_for (server, SC_TLS_ROLE_SERVER);
  p->client_ctx = context_for (client, SC_TLS_ROLE_CLIENT);
  pair_run (p);
}

/* Bytes go from the server to the client through the TLS connection. */
static void
assert_data_flows (Pair *p)
{
  g_autoptr (GError) error = NULL;
  char buf[5] = { 0 };
  gsize n = 0;

  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (p->server)), "ping", 4,
                             NULL, NULL, &error);
  g_assert_no_error (error);
  g_input_stream_read_all (g_io_stream_get_input_stream (G_IO_STREAM (p->client)), buf, 4, &n, NULL,
                           &error);
  g_assert_no_error (error);
  g_assert_cmpstr (buf, ==, "ping");
}

static void
assert_refused (const GError *error, int code, const char *words)
{
  g_assert_error (error, SC_ERROR, code);
  if (strstr (error->message, words) == NULL)
    g_error ("\"%s\" not in the error: %s", words, error->message);
}

/* --- Handshakes --------------------------------------------------------- */

/* CERT_REQUIRED on the server, both chains from the test CA: the handshake
 * works both ways, on TLS 1.3 with an allowed suite, each side sees the
 * other's certificate, and data flows. */
static void
test_good_chain_mutual_auth_accepted (void)
{
  const Spec server = { .cert = "server", .ca = "ca", .verify = "CERT_REQUIRED" };
  const Spec client = { .cert = "client", .ca = "ca" };
  Pair p = { 0 };
  g_autofree char *suite = NULL, *client_subject = NULL;

  pair_run_specs (&p, &server, &client);
  g_assert_no_error (p.server_error);
  g_assert_no_error (p.client_error);
  g_assert_cmpint (g_tls_connection_get_protocol_version (p.client), ==,
                   G_TLS_PROTOCOL_VERSION_TLS_1_3);
  suite = g_tls_connection_get_ciphersuite_name (p.server);
  g_assert_cmpstr (suite, ==, "TLS_AES_256_GCM_SHA384");
  client_subject = g_tls_certificate_get_subject_name (
      g_tls_connection_get_peer_certificate (p.server));
  g_assert_cmpstr (client_subject, ==, "CN=client");
  assert_data_flows (&p);
  pair_clear (&p);
}

static void
run_bad_server (const char *cert, const char *host, int code, const char *words)
{
  const Spec server = { .cert = cert, .key = "server", .verify = "CERT_NONE" };
  Pair p = { .host = host };

  pair_run_specs (&p, &server, &plain_client);
  g_assert_null (p.client);
  assert_refused (p.client_error, code, words);
  pair_clear (&p);
}

static void
test_wrong_hostname_refused (void)
{
  run_bad_server ("server-wrong-host", NULL, SC_ERROR_UNTRUSTED, "does not name the host");
}

static void
test_server_name_other_than_certificate_refused (void)
{
  run_bad_server ("server", "securecomm.example", SC_ERROR_UNTRUSTED, "does not name the host");
}

static void
test_other_ca_refused (void)
{
  run_bad_server ("server-other-ca", NULL, SC_ERROR_UNTRUSTED, "not signed by a trusted CA");
}

static void
test_expired_refused (void)
{
  run_bad_server ("server-expired", NULL, SC_ERROR_UNTRUSTED, "expired");
}

static void
test_not_yet_valid_refused (void)
{
  run_bad_server ("server-not-yet-valid", NULL, SC_ERROR_UNTRUSTED, "not valid yet");
}

/* A certificate for TLS clients only (extended key usage clientAuth): GIO
 * takes it; the check after the handshake does not. */
static void
test_server_with_client_key_usage_refused (void)
{
  run_bad_server ("server-client-usage", NULL, SC_ERROR_UNTRUSTED,
                  "certificate \"CN=localhost\" is not for TLS servers (extended key usage)");
}

/* CERT_REQUIRED: a client without a certificate is refused in the TLS
 * handshake (on TLS 1.3 the client's side of it may complete first). */
static void
test_cert_required_without_client_cert_refused (void)
{
  const Spec server = { .cert = "server", .ca = "ca", .verify = "CERT_REQUIRED" };
  Pair p = { 0 };

  pair_run_specs (&p, &server, &plain_client);
  g_assert_null (p.server);
  assert_refused (p.server_error, SC_ERROR_UNTRUSTED, "TLS handshake from 127.0.0.1");
  pair_clear (&p);
}

static void
test_cert_required_other_ca_client_refused (void)
{
  const Spec server = { .cert = "server", .ca = "ca", .verify = "CERT_REQUIRED" };
  const Spec client = { .cert = "client-other-ca", .key = "client", .ca = "ca" };
  Pair p = { 0 };

  pair_run_specs (&p, &server, &client);
  g_assert_null (p.server);
  assert_refused (p.server_error, SC_ERROR_UNTRUSTED, "not signed by a trusted CA");
  pair_clear (&p);
}

/* A server certificate (extended key usage serverAuth) offered by a
 * client. */
static void
test_cert_required_server_certificate_from_client_refused (void)
{
  const Spec server = { .cert = "server", .ca = "ca", .verify = "CERT_REQUIRED" };
  const Spec client = { .cert = "server", .ca = "ca" };
  Pair p = { 0 };

  pair_run_specs (&p, &server, &client);
  g_assert_null (p.server);
  assert_refused (p.server_error, SC_ERROR_UNTRUSTED,
                  "certificate \"CN=localhost\" is not for TLS clients (extended key usage)");
  pair_clear (&p);
}

/* CERT_OPTIONAL: no certificate is fine. */
static void
test_cert_optional_without_client_cert_accepted (void)
{
  const Spec server = { .cert = "server", .ca = "ca", .verify = "CERT_OPTIONAL" };
  Pair p = { 0 };

  pair_run_specs (&p, &server, &plain_client);
  g_assert_no_error (p.server_error);
  g_assert_no_error (p.client_error);
  g_assert_null (g_tls_connection_get_peer_certificate (p.server));
  assert_data_flows (&p);
  pair_clear (&p);
}

static void
test_pin_mismatch_refused (void)
{
  g_autofree char *other = pin_of ("client");
  const Spec client = { .ca = "ca", .pin = other };
  Pair p = { 0 };

  pair_run_specs (&p, &plain_server, &client);
  g_assert_null (p.client);
  assert_refused (p.client_error, SC_ERROR_UNTRUSTED, "is not in pinned_spki_sha256");
  pair_clear (&p);
}

static void
test_pin_match_accepted (void)
{
  g_autofree char *pin = pin_of ("server");
  const Spec client = { .ca = "ca", .pin = pin };
  Pair p = { 0 };

  pair_run_specs (&p, &plain_server, &client);
  g_assert_no_error (p.client_error);
  assert_data_flows (&p);
  pair_clear (&p);
}

/* Pins without ca_path stand in for a CA: a self-signed server certificate
 * with the pinned key is accepted, one with another key is not. */
static void
test_pin_without_ca_accepts_self_signed (void)
{
  g_autofree char *pin = pin_of ("selfsigned");
  g_autofree char *other = pin_of ("server");
  const Spec server = { .cert = "selfsigned", .verify = "CERT_NONE" };
  const Spec good = { .pin = pin };
  const Spec bad = { .pin = other };
  Pair p = { 0 }, q = { 0 };

  pair_run_specs (&p, &server, &good);
  g_assert_no_error (p.client_error);
  assert_data_flows (&p);
  pair_run_specs (&q, &server, &bad);
  assert_refused (q.client_error, SC_ERROR_UNTRUSTED, "not signed by a trusted CA");
  pair_clear (&p);
  pair_clear (&q);
}

static void
test_crl_revoked_server_refused (void)
{
  const Spec server = { .cert = "server-revoked", .key = "server", .verify = "CERT_NONE" };
  const Spec client = { .ca = "ca", .crl = "crl.pem" };
  Pair p = { 0 };

  pair_run_specs (&p, &server, &client);
  g_assert_null (p.client);
  assert_refused (p.client_error, SC_ERROR_UNTRUSTED,
                  "certificate \"CN=localhost\" (serial 1005, issuer \"CN=SecureComm Test CA\") "
                  "is revoked by the CRL in");
  pair_clear (&p);
}

static void
test_crl_revoked_client_refused (void)
{
  const Spec server = { .cert = "server", .ca = "ca", .crl = "crl.pem", .verify = "CERT_REQUIRED" };
  const Spec good = { .cert = "client", .ca = "ca" };
  const Spec revoked = { .cert = "client-revoked", .key = "client", .ca = "ca" };
  Pair p = { 0 }, q = { 0 };

  pair_run_specs (&p, &server, &good);
  g_assert_no_error (p.server_error);
  pair_run_specs (&q, &server, &revoked);
  g_assert_null (q.server);
  assert_refused (q.server_error, SC_ERROR_UNTRUSTED, "(serial 2002, issuer");
  pair_clear (&p);
  pair_clear (&q);
}

/* --- Channel binding ---------------------------------------------------- */

typedef struct
{
  ScBindingType type;
  guint8 data[64];
  gsize len;
} Binding;

static void
get_binding (GTlsConnection *conn, Binding *b)
{
  g_autoptr (GError) error = NULL;

  b->len = sizeof b->data;
  g_assert_true (sc_tls_get_binding (conn, &b->type, b->data, &b->len, &error));
  g_assert_no_error (error);
}

/* Both ends of one connection get the same binding; another connection a
 * different one. Returns the type seen. */
static ScBindingType
check_bindings (gsize expected_len)
{
  Binding s1, c1, s2, c2;
  Pair p = { 0 }, q = { 0 };

  pair_run_specs (&p, &plain_server, &plain_client);
  pair_run_specs (&q, &plain_server, &plain_client);
  g_assert_no_error (p.client_error);
  g_assert_no_error (q.client_error);
  get_binding (p.server, &s1);
  get_binding (p.client, &c1);
  get_binding (q.server, &s2);
  get_binding (q.client, &c2);
  g_assert_cmpint (s1.type, ==, c1.type);
  g_assert_cmpuint (s1.len, ==, expected_len);
  g_assert_cmpmem (s1.data, s1.len, c1.data, c1.len);
  g_assert_cmpmem (s2.data, s2.len, c2.data, c2.len);
  g_assert_false (s1.len == s2.len && memcmp (s1.data, s2.data, s1.len) == 0);
  pair_clear (&p);
  pair_clear (&q);
  return s1.type;
}

static void
test_binding_tls13_exporter_equal_per_connection (void)
{
  g_assert_cmpint (check_bindings (32), ==, SC_BINDING_TLS_EXPORTER);
}

/* TLS 1.2 needs its own process: the priority is process-wide. */
static void
test_binding_tls12_unique_equal_per_connection (void)
{
  if (g_test_subprocess ())
    {
      g_setenv (SC_TLS_PRIORITY_ENV, "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM",
                TRUE);
      g_assert_cmpint (check_bindings (12), ==, SC_BINDING_TLS_UNIQUE);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* --- Versions and suites, against gnutls-cli ---------------------------- */

typedef struct
{
  Pair pair; /* server side only */
  char *output;
  gboolean cli_ok;
} CliRun;

static void
on_cli_done (GObject *source, GAsyncResult *result, gpointer data)
{
  CliRun *r = data;
  g_autoptr (GError) error = NULL;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &r->output, NULL, &error);
  g_assert_no_error (error);
  r->cli_ok = g_subprocess_get_successful (G_SUBPROCESS (source));
  pair_side_done (&r->pair);
}

/* Runs gnutls-cli with priority against a server with spec. */
static void
run_gnutls_cli (CliRun *r, const Spec *server, const char *priority)
{
  g_autoptr (GSocketListener) listener = listen_loopback (&r->pair.port);
  g_autofree char *port = g_strdup_printf ("%u", r->pair.port);
  g_autofree char *ca = cpath ("ca.crt");
  g_autoptr (GSubprocess) cli = NULL;
  g_autoptr (GError) error = NULL;
  guint timeout = g_timeout_add_seconds (PAIR_TIMEOUT_S, on_timeout, NULL);

  r->pair.server_ctx = context_for (server, SC_TLS_ROLE_SERVER);
  r->pair.loop = g_main_loop_new (NULL, FALSE);
  r->pair.pending = 2;
  g_socket_listener_accept_async (listener, NULL, on_accepted, &r->pair);
  cli = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                              | G_SUBPROCESS_FLAGS_STDERR_MERGE,
                          &error, "gnutls-cli", "--x509cafile", ca, "--priority", priority, "-p",
                          port, "localhost", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (cli, "", NULL, on_cli_done, r);
  g_main_loop_run (r->pair.loop);
  g_source_remove (timeout);
  g_main_loop_unref (r->pair.loop);
}

static void
cli_run_clear (CliRun *r)
{
  pair_clear (&r->pair);
  g_free (r->output);
}

static gboolean
have_gnutls_cli (void)
{
  g_autofree char *path = g_find_program_in_path ("gnutls-cli");

  if (path == NULL)
    g_test_skip ("gnutls-cli (gnutls-bin) is not installed");
  return path != NULL;
}

#define TLS12_ONLY "NORMAL:-VERS-ALL:+VERS-TLS1.2"

/* min_version "1.3" when the process allows 1.2 (a reload, or no
 * sc_tls_setup_process): the connection is refused right after the
 * handshake. */
static void
test_min_version_13_refuses_tls12_peer_after_handshake (void)
{
  const Spec server = { .cert = "server",
                        .verify = "CERT_NONE",
                        .min_version = SC_TLS_VERSION_1_3 };
  CliRun r = { 0 };

  if (!have_gnutls_cli ())
    return;
  run_gnutls_cli (&r, &server, TLS12_ONLY);
  g_assert_null (r.pair.server);
  assert_refused (r.pair.server_error, SC_ERROR_PROTOCOL,
                  "TLS 1.2 was negotiated, but min_version is 1.3");
  cli_run_clear (&r);
}

/* A suite the process allows but this configuration does not: refused after
 * the handshake. */
static void
test_disallowed_suite_refused_after_handshake (void)
{
  const char *rsa_only[] = { "TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", NULL };
  const Spec server = { .cert = "server", .verify = "CERT_NONE", .suites = rsa_only };
  CliRun r = { 0 };

  if (!have_gnutls_cli ())
    return;
  run_gnutls_cli (&r, &server, TLS12_ONLY);
  g_assert_null (r.pair.server);
  assert_refused (r.pair.server_error, SC_ERROR_PROTOCOL,
                  "cipher suite TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 was negotiated, but "
                  "cipher_suites does not allow it");
  cli_run_clear (&r);
}

/* The process-wide priority refuses, in the handshake itself, a TLS 1.2
 * client that offers only AES-128-GCM, and a TLS 1.1 client. */
static void
test_process_priority_refuses_weak_peers_in_handshake (void)
{
  const char *weak[] = { TLS12_ONLY ":-CIPHER-ALL:+AES-128-GCM", "NORMAL:-VERS-ALL:+VERS-TLS1.1" };

  if (!have_gnutls_cli ())
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (weak); i++)
    {
      CliRun r = { 0 };

      run_gnutls_cli (&r, &plain_server, weak[i]);
      if (r.cli_ok || strstr (r.output, "Handshake was completed") != NULL)
        g_error ("gnutls-cli --priority %s was not refused:\n%s", weak[i], r.output);
      assert_refused (r.pair.server_error, SC_ERROR_PROTOCOL, "TLS handshake from 127.0.0.1");
      cli_run_clear (&r);
    }
}

/* In a process set up for min_version "1.3", a TLS 1.2-only gnutls-cli is
 * refused in the handshake itself, and a default one gets TLS 1.3. */
static void
test_process_min_version_13_refuses_tls12_in_handshake (void)
{
  const Spec server = { .cert = "server",
                        .verify = "CERT_NONE",
                        .min_version = SC_TLS_VERSION_1_3 };
  g_autoptr (ScTlsConfig) config = NULL;
  g_autoptr (GError) error = NULL;
  CliRun old = { 0 }, good = { 0 };

  if (!have_gnutls_cli ())
    return;
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }
  g_unsetenv (SC_TLS_PRIORITY_ENV); /* the parent's; no TLS has run here yet */
  config = config_for (&server);
  g_assert_true (sc_tls_setup_process (config, &error));
  g_assert_no_error (error);
  run_gnutls_cli (&old, &server, TLS12_ONLY);
  g_assert_false (old.cli_ok);
  assert_refused (old.pair.server_error, SC_ERROR_PROTOCOL, "TLS handshake from 127.0.0.1");
  run_gnutls_cli (&good, &server, "NORMAL");
  g_assert_no_error (good.pair.server_error);
  g_assert_nonnull (strstr (good.output, "(TLS1.3-X.509)"));
  cli_run_clear (&old);
  cli_run_clear (&good);
}

/* --- The process priority ----------------------------------------------- */

/* Another G_TLS_GNUTLS_PRIORITY in the environment is an error. */
static void
test_setup_refuses_conflicting_environment (void)
{
  g_autoptr (ScTlsConfig) config = sc_tls_config_new (TRUE, NULL, NULL, NULL, SC_TLS_VERIFY_NONE);
  g_autoptr (GError) error = NULL;

  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }
  g_setenv (SC_TLS_PRIORITY_ENV, "NORMAL", TRUE);
  g_assert_false (sc_tls_setup_process (config, &error));
  assert_refused (error, SC_ERROR_CONFIG, "G_TLS_GNUTLS_PRIORITY is set to \"NORMAL\"");
}

/* Once a TLS connection exists, the priority can no longer change. */
static void
test_setup_refuses_after_first_connection (void)
{
  g_autoptr (ScTlsConfig) config = sc_tls_config_new (TRUE, NULL, NULL, NULL, SC_TLS_VERIFY_NONE);
  g_autoptr (ScTlsContext) ctx = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GIOStream) base = NULL, tls = NULL;
  g_autoptr (GSocket) socket = NULL;

  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }
  g_unsetenv (SC_TLS_PRIORITY_ENV);
  ctx = context_for (&plain_server, SC_TLS_ROLE_SERVER);
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  base = G_IO_STREAM (g_socket_connection_factory_create_connection (socket));
  tls = sc_tls_server_wrap (ctx, base, &error);
  g_assert_no_error (error);
  g_assert_false (sc_tls_setup_process (config, &error));
  assert_refused (error, SC_ERROR_CONFIG, "a TLS connection was made before");
}

/* The same configuration again is fine (the tools and the library may both
 * call it). */
static void
test_setup_again_with_same_config_accepted (void)
{
  g_autoptr (ScTlsConfig) config = sc_tls_config_new (TRUE, NULL, NULL, NULL, SC_TLS_VERIFY_NONE);
  g_autoptr (GError) error = NULL;

  g_assert_true (sc_tls_setup_process (config, &error));
  g_assert_no_error (error);
}

/* --- Contexts and reload ------------------------------------------------ */

static void
assert_context_refused (const Spec *spec, ScTlsRole role, const char *words)
{
  g_autoptr (ScTlsConfig) config = config_for (spec);
  g_autoptr (GError) error = NULL;
  g_autoptr (ScTlsContext) ctx = sc_tls_context_new (config, role, &error);

  g_assert_null (ctx);
  assert_refused (error, SC_ERROR_CONFIG, words);
}

static void
test_context_key_of_other_certificate_refused (void)
{
  const Spec spec = { .cert = "server", .key = "client", .verify = "CERT_NONE" };

  assert_context_refused (&spec, SC_TLS_ROLE_SERVER,
                          "client.key: not the key of the certificate in cert_path");
}

static void
test_context_crl_of_other_ca_refused (void)
{
  const Spec spec = { .ca = "ca", .crl = "crl-other-ca.pem" };

  assert_context_refused (&spec, SC_TLS_ROLE_CLIENT,
                          "crl-other-ca.pem: CRL 1 in the file is "
                          "not signed by a CA of ca_path");
}

static void
test_context_server_without_certificate_refused (void)
{
  const Spec spec = { .ca = "ca", .verify = "CERT_NONE" };

  assert_context_refused (&spec, SC_TLS_ROLE_SERVER, "cert_path: a TLS server needs a certificate");
}

static void
test_context_server_verify_without_ca_or_pins_refused (void)
{
  const Spec spec = { .cert = "server", .verify = "CERT_REQUIRED" };

  assert_context_refused (&spec, SC_TLS_ROLE_SERVER,
                          "verify_mode: CERT_REQUIRED needs ca_path or pinned_spki_sha256");
}

static void
copy_file (const char *from, const char *to)
{
  g_autofree char *a = cpath (from), *b = cpath (to), *text = NULL;
  gsize len;

  g_assert_true (g_file_get_contents (a, &text, &len, NULL));
  g_assert_true (g_file_set_contents (b, text, (gssize) len, NULL));
}

/* Hot reload: a new context reads the files again; a broken file is refused
 * with its name while the old context keeps working. */
static void
test_reload_new_certificate_and_broken_file (void)
{
  const Spec spec = { .cert = "live", .key = "server", .verify = "CERT_NONE" };
  g_autoptr (ScTlsContext) old = NULL, renewed = NULL, broken = NULL;
  g_autoptr (ScTlsConfig) config = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *live = cpath ("live.crt");
  g_autofree char *old_subject = NULL, *new_subject = NULL;
  Pair p = { 0 };

  copy_file ("server.crt", "live.crt");
  old = context_for (&spec, SC_TLS_ROLE_SERVER);
  copy_file ("server-wrong-host.crt", "live.crt");
  renewed = context_for (&spec, SC_TLS_ROLE_SERVER);
  old_subject = g_tls_certificate_get_subject_name (sc_tls_context_get_certificate (old));
  new_subject = g_tls_certificate_get_subject_name (sc_tls_context_get_certificate (renewed));
  g_assert_cmpstr (old_subject, ==, "CN=localhost");
  g_assert_cmpstr (new_subject, ==, "CN=wrong.example");
  g_assert_true (g_file_set_contents (live, "-----BEGIN CERTIFICATE-----\nbroken\n", -1, NULL));
  config = config_for (&spec);
  broken = sc_tls_context_new (config, SC_TLS_ROLE_SERVER, &error);
  g_assert_null (broken);
  assert_refused (error, SC_ERROR_CONFIG, live);
  p.server_ctx = sc_tls_context_ref (old);
  p.client_ctx = context_for (&plain_client, SC_TLS_ROLE_CLIENT);
  pair_run (&p);
  g_assert_no_error (p.client_error);
  pair_clear (&p);
  g_unlink (live);
}

int
main (int argc, char **argv)
{
  g_autoptr (ScTlsConfig) defaults = sc_tls_config_new (TRUE, NULL, NULL, NULL, SC_TLS_VERIFY_NONE);
  g_autoptr (GError) error = NULL;
  g_autofree char *certtool = g_find_program_in_path ("certtool");
  int ret;

  g_test_init (&argc, &argv, NULL);
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  if (certtool == NULL)
    {
      g_test_skip ("certtool (gnutls-bin) is not installed");
      return g_test_run ();
    }
  if (!g_test_subprocess () && !sc_tls_setup_process (defaults, &error))
    g_error ("%s", error->message);
  make_certificates ();

  g_test_add_func ("/tls/handshake/good-chain-mutual-auth-accepted",
                   test_good_chain_mutual_auth_accepted);
  g_test_add_func ("/tls/refused/wrong-hostname", test_wrong_hostname_refused);
  g_test_add_func ("/tls/refused/server-name-other-than-certificate",
                   test_server_name_other_than_certificate_refused);
  g_test_add_func ("/tls/refused/server-signed-by-other-ca", test_other_ca_refused);
  g_test_add_func ("/tls/refused/server-expired", test_expired_refused);
  g_test_add_func ("/tls/refused/server-not-yet-valid", test_not_yet_valid_refused);
  g_test_add_func ("/tls/refused/server-with-client-only-key-usage",
                   test_server_with_client_key_usage_refused);
  g_test_add_func ("/tls/refused/cert-required-without-client-cert",
                   test_cert_required_without_client_cert_refused);
  g_test_add_func ("/tls/refused/cert-required-client-of-other-ca",
                   test_cert_required_other_ca_client_refused);
  g_test_add_func ("/tls/refused/cert-required-client-with-server-only-key-usage",
                   test_cert_required_server_certificate_from_client_refused);
  g_test_add_func ("/tls/handshake/cert-optional-without-client-cert-accepted",
                   test_cert_optional_without_client_cert_accepted);
  g_test_add_func ("/tls/refused/pin-mismatch", test_pin_mismatch_refused);
  g_test_add_func ("/tls/handshake/pin-match-accepted", test_pin_match_accepted);
  g_test_add_func ("/tls/handshake/pin-without-ca-accepts-only-pinned-self-signed",
                   test_pin_without_ca_accepts_self_signed);
  g_test_add_func ("/tls/refused/server-revoked-by-crl", test_crl_revoked_server_refused);
  g_test_add_func ("/tls/refused/client-revoked-by-crl", test_crl_revoked_client_refused);
  g_test_add_func ("/tls/binding/tls13-exporter-equal-on-both-ends-differs-across-connections",
                   test_binding_tls13_exporter_equal_per_connection);
  g_test_add_func ("/tls/binding/tls12-unique-equal-on-both-ends-differs-across-connections",
                   test_binding_tls12_unique_equal_per_connection);
  g_test_add_func ("/tls/version/min-1.3-refuses-tls12-peer-after-handshake",
                   test_min_version_13_refuses_tls12_peer_after_handshake);
  g_test_add_func ("/tls/version/process-min-1.3-refuses-tls12-peer-in-handshake",
                   test_process_min_version_13_refuses_tls12_in_handshake);
  g_test_add_func ("/tls/suites/disallowed-suite-refused-after-handshake",
                   test_disallowed_suite_refused_after_handshake);
  g_test_add_func ("/tls/suites/process-priority-refuses-weak-peers-in-handshake",
                   test_process_priority_refuses_weak_peers_in_handshake);
  g_test_add_func ("/tls/setup/refuses-conflicting-environment",
                   test_setup_refuses_conflicting_environment);
  g_test_add_func ("/tls/setup/refuses-after-first-connection",
                   test_setup_refuses_after_first_connection);
  g_test_add_func ("/tls/setup/same-config-again-accepted",
                   test_setup_again_with_same_config_accepted);
  g_test_add_func ("/tls/context/key-of-other-certificate-refused",
                   test_context_key_of_other_certificate_refused);
  g_test_add_func ("/tls/context/crl-of-other-ca-refused", test_context_crl_of_other_ca_refused);
  g_test_add_func ("/tls/context/server-without-certificate-refused",
                   test_context_server_without_certificate_refused);
  g_test_add_func ("/tls/context/server-verify-without-ca-or-pins-refused",
                   test_context_server_verify_without_ca_or_pins_refused);
  g_test_add_func ("/tls/context/reload-reads-new-certificate-refuses-broken-file",
                   test_reload_new_certificate_and_broken_file);
  ret = g_test_run ();
  remove_certificates ();
  return ret;
}
