/* test-session.c: a client and a server in one process, passing buffers.
 *
 * Positive cases prove the handshake, messages of every size class, key
 * rotation by each trigger, heartbeats and close. Negative cases each expect
 * one specific error and a dead session: every tampering, replay, reorder,
 * drop, truncation, identity and freshness failure of docs/PROTOCOL.md 8.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "harness.h"

#include <gnutls/x509.h>
#include <string.h>
#include <time.h>

typedef struct
{
  TestPeer client;
  TestPeer server;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  test_peer_init (&f->client, SC_ROLE_CLIENT, "client", FALSE);
  test_peer_init (&f->server, SC_ROLE_SERVER, "server", TRUE);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  test_peer_clear (&f->client);
  test_peer_clear (&f->server);
}

/* Asserts a dead session with this error. */
static void
assert_failed (TestPeer *p, int err)
{
  ScSessionInfo info;
  uint8_t byte = 0;

  sc_session_get_info (p->s, &info);
  g_assert_cmpint (info.state, ==, SC_STATE_FAILED);
  g_assert_cmpint (info.error, ==, err);
  /* Dead means dead: later calls keep failing the same way. */
  g_assert_cmpint (sc_session_recv (p->s, &byte, 1, &p->out), ==, err);
  g_assert_cmpint (sc_session_send (p->s, &byte, 1, NULL, &p->out), ==, err);
}

/* The receiver got our alert: it fails with SC_ERR_PEER_ALERT and the code. */
static void
assert_alerted (TestPeer *from, TestPeer *to, uint8_t alert)
{
  ScSessionInfo info;

  g_assert_cmpuint (from->out.len, >, 0);
  g_assert_cmpint (test_pump (from, to), ==, SC_ERR_PEER_ALERT);
  sc_session_get_info (to->s, &info);
  g_assert_cmpint (info.peer_alert, ==, alert);
}

/* ==== handshakes ======================================================== */

static void
test_handshake_server_auth (Fixture *f, gconstpointer data)
{
  uint8_t fp[SC_SHA256_LEN], spki[SC_P256_SPKI_LEN];
  const ScPeerIdentity *peer;
  ScSessionInfo info;

  test_connect (&f->client, &f->server);
  sc_p256_spki_encode (f->server.identity.pub, spki);
  sc_sha256 (spki, sizeof spki, fp);
  peer = sc_session_peer_identity (f->client.s);
  g_assert_nonnull (peer);
  g_assert_cmpint (peer->type, ==, 1);
  g_assert_cmpmem (peer->fingerprint, sizeof fp, fp, sizeof fp);
  g_assert_cmpuint (f->client.verify_calls, ==, 1);
  g_assert_null (sc_session_peer_identity (f->server.s)); /* anonymous client */
  g_assert_cmpuint (f->client.handshakes_done, ==, 1);
  g_assert_cmpuint (f->server.handshakes_done, ==, 1);
  sc_session_get_info (f->client.s, &info);
  g_assert_cmpuint (info.version, ==, SC_VERSION_1);
}

static void
test_handshake_mutual (Fixture *f, gconstpointer data)
{
  uint8_t fp[SC_SHA256_LEN], spki[SC_P256_SPKI_LEN];
  const ScPeerIdentity *peer;

  test_peer_clear (&f->client);
  test_peer_init (&f->client, SC_ROLE_CLIENT, "client", TRUE);
  f->server.cfg.client_auth = SC_CLIENT_AUTH_REQUIRED;
  test_connect (&f->client, &f->server);
  sc_p256_spki_encode (f->client.identity.pub, spki);
  sc_sha256 (spki, sizeof spki, fp);
  peer = sc_session_peer_identity (f->server.s);
  g_assert_nonnull (peer);
  g_assert_cmpmem (peer->fingerprint, sizeof fp, fp, sizeof fp);
  g_assert_cmpuint (f->server.verify_calls, ==, 1);
}

static void
test_handshake_optional_anonymous (Fixture *f, gconstpointer data)
{
  f->server.cfg.client_auth = SC_CLIENT_AUTH_OPTIONAL;
  test_connect (&f->client, &f->server);
  g_assert_null (sc_session_peer_identity (f->server.s));
  g_assert_cmpuint (f->server.verify_calls, ==, 0);
}

static void
test_handshake_required_missing (Fixture *f, gconstpointer data)
{
  f->server.cfg.client_auth = SC_CLIENT_AUTH_REQUIRED;
  test_peer_start (&f->client);
  test_peer_start (&f->server);
  sc_session_start (f->client.s, &f->client.out);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_ERR_AUTH_REQUIRED);
  assert_failed (&f->client, SC_ERR_AUTH_REQUIRED);
  assert_alerted (&f->client, &f->server, SC_ALERT_AUTH_REQUIRED);
}

static void
test_handshake_pin_mismatch (Fixture *f, gconstpointer data)
{
  f->client.pin_set = TRUE;
  memset (f->client.pin, 0xab, sizeof f->client.pin);
  test_peer_start (&f->client);
  test_peer_start (&f->server);
  sc_session_start (f->client.s, &f->client.out);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_ERR_UNTRUSTED);
  assert_failed (&f->client, SC_ERR_UNTRUSTED);
  assert_alerted (&f->client, &f->server, SC_ALERT_HANDSHAKE_FAILURE);
  assert_failed (&f->server, SC_ERR_PEER_ALERT);
}

static void
test_handshake_pin_match (Fixture *f, gconstpointer data)
{
  uint8_t spki[SC_P256_SPKI_LEN];

  sc_p256_spki_encode (f->server.identity.pub, spki);
  sc_sha256 (spki, sizeof spki, f->client.pin);
  f->client.pin_set = TRUE;
  test_connect (&f->client, &f->server);
}

/* The client policy refuses a client identity: same alert as a bad key. */
static void
test_handshake_client_untrusted (Fixture *f, gconstpointer data)
{
  test_peer_clear (&f->client);
  test_peer_init (&f->client, SC_ROLE_CLIENT, "client", TRUE);
  f->server.cfg.client_auth = SC_CLIENT_AUTH_REQUIRED;
  f->server.pin_set = TRUE;
  memset (f->server.pin, 0x01, sizeof f->server.pin);
  test_peer_start (&f->client);
  test_peer_start (&f->server);
  sc_session_start (f->client.s, &f->client.out);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_ERR_UNTRUSTED);
  assert_failed (&f->server, SC_ERR_UNTRUSTED);
  assert_alerted (&f->server, &f->client, SC_ALERT_HANDSHAKE_FAILURE);
}

/* ==== messages ========================================================== */

static GBytes *
pattern (gsize len, guint8 salt)
{
  guint8 *p = g_malloc (len ? len : 1);

  for (gsize i = 0; i < len; i++)
    p[i] = (guint8) (i * 31 + salt + (i >> 8));
  return g_bytes_new_take (p, len);
}

static void
send_and_check (TestPeer *from, TestPeer *to, gsize len)
{
  g_autoptr (GBytes) msg = pattern (len, (guint8) len);
  guint before = to->messages->len;
  uint64_t id = 0;
  gsize n;
  const uint8_t *data = g_bytes_get_data (msg, &n);

  g_assert_cmpint (sc_session_send (from->s, data, n, &id, &from->out), ==, SC_OK);
  g_assert_cmpint (test_pump (from, to), ==, SC_OK);
  g_assert_cmpuint (to->messages->len, ==, before + 1);
  g_assert_true (g_bytes_equal (g_ptr_array_index (to->messages, before), msg));
  g_assert_cmpuint (g_array_index (to->message_ids, guint64, before), ==, id);
  g_assert_cmpuint (from->acked, ==, id); /* acknowledged cumulatively */
}

static void
test_message_sizes (Fixture *f, gconstpointer data)
{
  const gsize sizes[] = { 0,
                          1,
                          100,
                          SC_MAX_FRAGMENT,
                          SC_MAX_FRAGMENT + 1,
                          16384,
                          16385,
                          65536,
                          SC_DEFAULT_MAX_MESSAGE_SIZE };
  ScSessionInfo info;

  test_connect (&f->client, &f->server);
  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      send_and_check (&f->client, &f->server, sizes[i]);
      send_and_check (&f->server, &f->client, sizes[i]);
    }
  sc_session_get_info (f->client.s, &info);
  g_assert_cmpuint (info.messages_sent, ==, G_N_ELEMENTS (sizes));
  g_assert_cmpuint (info.messages_received, ==, G_N_ELEMENTS (sizes));
}

/* Records split at every byte boundary still reassemble. */
static void
test_message_byte_by_byte (Fixture *f, gconstpointer data)
{
  g_autoptr (GBytes) msg = pattern (40000, 7);
  gsize n;
  const uint8_t *p = g_bytes_get_data (msg, &n);

  test_connect (&f->client, &f->server);
  g_assert_cmpint (sc_session_send (f->client.s, p, n, NULL, &f->client.out), ==, SC_OK);
  for (size_t i = 0; i < f->client.out.len; i++)
    g_assert_cmpint (sc_session_recv (f->server.s, f->client.out.data + i, 1, &f->server.out), ==,
                     SC_OK);
  g_assert_cmpuint (f->server.messages->len, ==, 1);
  g_assert_true (g_bytes_equal (g_ptr_array_index (f->server.messages, 0), msg));
}

/* Many messages in one batch: in order, one cumulative acknowledgement. */
static void
test_message_batch_ack (Fixture *f, gconstpointer data)
{
  GPtrArray *acks;

  test_connect (&f->client, &f->server);
  for (guint i = 0; i < 50; i++)
    g_assert_cmpint (sc_session_send (f->client.s, (const uint8_t *) "x", 1, NULL, &f->client.out),
                     ==, SC_OK);
  sc_session_recv (f->server.s, f->client.out.data, f->client.out.len, &f->server.out);
  sc_buffer_consume (&f->client.out, f->client.out.len);
  acks = test_split_records (&f->server.out);
  g_assert_cmpuint (acks->len, ==, 1);
  g_ptr_array_unref (acks);
  g_assert_cmpint (test_pump (&f->server, &f->client), ==, SC_OK);
  g_assert_cmpuint (f->client.acked, ==, 50);
  for (guint i = 0; i < 50; i++)
    g_assert_cmpuint (g_array_index (f->server.message_ids, guint64, i), ==, i + 1);
}

static void
test_message_too_large_local (Fixture *f, gconstpointer data)
{
  g_autofree uint8_t *big = g_malloc0 (SC_DEFAULT_MAX_MESSAGE_SIZE + 1);

  test_connect (&f->client, &f->server);
  g_assert_cmpint (
      sc_session_send (f->client.s, big, SC_DEFAULT_MAX_MESSAGE_SIZE + 1, NULL, &f->client.out), ==,
      SC_ERR_MESSAGE_TOO_LARGE);
  /* Refused before anything was sent; the session lives on. */
  g_assert_cmpuint (f->client.out.len, ==, 0);
  send_and_check (&f->client, &f->server, 10);
}

/* A peer that ignores our announced limit is cut off. */
static void
test_message_too_large_remote (Fixture *f, gconstpointer data)
{
  g_autofree uint8_t *big = g_malloc0 (SC_DEFAULT_MAX_MESSAGE_SIZE + 1);

  test_connect (&f->client, &f->server);
  f->client.s->peer_max_message = SC_DEFAULT_MAX_MESSAGE_SIZE * 2; /* lie to ourselves */
  g_assert_cmpint (
      sc_session_send (f->client.s, big, SC_DEFAULT_MAX_MESSAGE_SIZE + 1, NULL, &f->client.out), ==,
      SC_OK);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_ERR_MESSAGE_TOO_LARGE);
  assert_failed (&f->server, SC_ERR_MESSAGE_TOO_LARGE);
  assert_alerted (&f->server, &f->client, SC_ALERT_MESSAGE_TOO_LARGE);
}

/* A self-signed X.509 certificate for a P-256 key pair, DER. */
static GBytes *
make_cert (const ScP256Key *key, const char *cn)
{
  gnutls_x509_privkey_t pk;
  gnutls_x509_crt_t crt;
  gnutls_datum_t x = { (unsigned char *) key->pub + 1, 32 };
  gnutls_datum_t y = { (unsigned char *) key->pub + 33, 32 };
  gnutls_datum_t k = { (unsigned char *) key->d, 32 };
  gnutls_datum_t out = { NULL, 0 };
  time_t now = time (NULL);
  GBytes *der;

  g_assert_cmpint (gnutls_x509_privkey_init (&pk), ==, 0);
  g_assert_cmpint (gnutls_x509_privkey_import_ecc_raw (pk, GNUTLS_ECC_CURVE_SECP256R1, &x, &y, &k),
                   ==, 0);
  g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_version (crt, 3), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_serial (crt, "\x01", 1), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_activation_time (crt, now - 60), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_expiration_time (crt, now + 3600), ==, 0);
  g_assert_cmpint (
      gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen (cn)), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_key (crt, pk), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_sign2 (crt, crt, pk, GNUTLS_DIG_SHA256, 0), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_DER, &out), ==, 0);
  der = g_bytes_new (out.data, out.size);
  gnutls_free (out.data);
  gnutls_x509_crt_deinit (crt);
  gnutls_x509_privkey_deinit (pk);
  return der;
}

/* Identity type 2: the server presents a chain; the client's policy sees it
 * whole and the protocol uses the leaf's key. */
static void
test_handshake_cert_chain (Fixture *f, gconstpointer data)
{
  TestPeer ca;
  g_autoptr (GBytes) leaf = make_cert (&f->server.identity, "server");
  g_autoptr (GBytes) root = NULL;
  const uint8_t *chain[2];
  size_t lens[2];
  uint8_t spki[SC_P256_SPKI_LEN], fp[SC_SHA256_LEN];

  test_peer_init (&ca, SC_ROLE_SERVER, "ca", TRUE);
  root = make_cert (&ca.identity, "ca");
  chain[0] = g_bytes_get_data (leaf, &lens[0]);
  chain[1] = g_bytes_get_data (root, &lens[1]);
  f->server.cfg.cert_chain = chain;
  f->server.cfg.cert_chain_lens = lens;
  f->server.cfg.n_certs = 2;
  test_connect (&f->client, &f->server);
  g_assert_cmpint (f->client.last_peer.type, ==, 2);
  g_assert_cmpuint (f->client.last_peer.n_certs, ==, 2);
  g_assert_true (g_bytes_equal (f->client.last_leaf, leaf));
  sc_p256_spki_encode (f->server.identity.pub, spki);
  sc_sha256 (spki, sizeof spki, fp);
  g_assert_cmpmem (sc_session_peer_identity (f->client.s)->fingerprint, sizeof fp, fp, sizeof fp);
  send_and_check (&f->client, &f->server, 100);
  test_peer_clear (&ca);
}

static uint64_t
zero_clock (void *user)
{
  return 0;
}

/* A chain whose leaf is not the identity key is a configuration error. */
static void
test_cert_chain_wrong_leaf (Fixture *f, gconstpointer data)
{
  TestPeer other;
  g_autoptr (GBytes) leaf = NULL;
  const uint8_t *chain[1];
  size_t lens[1];
  ScProtoCtx ctx = { .wall_ms = zero_clock, .mono_ms = zero_clock, .random = sc_random_system };
  int err = 0;

  test_peer_init (&other, SC_ROLE_SERVER, "other", TRUE);
  leaf = make_cert (&other.identity, "other");
  chain[0] = g_bytes_get_data (leaf, &lens[0]);
  f->server.cfg.cert_chain = chain;
  f->server.cfg.cert_chain_lens = lens;
  f->server.cfg.n_certs = 1;
  g_assert_null (sc_session_new (&f->server.cfg, &ctx, &err));
  g_assert_cmpint (err, ==, SC_ERR_INVALID_ARG);
  test_peer_clear (&other);
}

/* ==== key rotation ====================================================== */

static void
exchange_some (Fixture *f, guint n, gsize len)
{
  for (guint i = 0; i < n; i++)
    {
      send_and_check (&f->client, &f->server, len);
      send_and_check (&f->server, &f->client, len);
    }
}

static void
assert_epochs (TestPeer *p, guint send, guint recv)
{
  ScSessionInfo info;

  sc_session_get_info (p->s, &info);
  g_assert_cmpuint (info.send_epoch, ==, send);
  g_assert_cmpuint (info.recv_epoch, ==, recv);
}

static void
test_rekey_records (Fixture *f, gconstpointer data)
{
  f->client.cfg.limits.rekey_after_records = 5;
  test_connect (&f->client, &f->server);
  /* 12 one-record messages: a key carries 5 of them, then KEY_UPDATE. */
  for (guint i = 0; i < 12; i++)
    send_and_check (&f->client, &f->server, 10);
  assert_epochs (&f->client, 2, 0);
  assert_epochs (&f->server, 0, 2);
  g_assert_cmpuint (f->server.key_updates_received, ==, 2);
}

static void
test_rekey_bytes (Fixture *f, gconstpointer data)
{
  f->server.cfg.limits.rekey_after_bytes = 3000;
  test_connect (&f->client, &f->server);
  /* 4 x (1000 + 16 header) bytes: the fourth record is sealed after 3048. */
  for (guint i = 0; i < 4; i++)
    send_and_check (&f->server, &f->client, 1000);
  assert_epochs (&f->server, 1, 0);
  assert_epochs (&f->client, 0, 1);
}

static void
test_rekey_time (Fixture *f, gconstpointer data)
{
  uint32_t next = 0;

  f->client.cfg.limits.heartbeat_interval_ms = 0;
  test_connect (&f->client, &f->server);
  f->client.mono_ms += SC_DEFAULT_REKEY_AFTER_MS - 1;
  g_assert_cmpint (sc_session_tick (f->client.s, &f->client.out, &next), ==, SC_OK);
  g_assert_cmpuint (next, ==, 1);
  assert_epochs (&f->client, 0, 0);
  f->client.mono_ms += 1;
  g_assert_cmpint (sc_session_tick (f->client.s, &f->client.out, &next), ==, SC_OK);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_OK);
  assert_epochs (&f->client, 1, 0);
  assert_epochs (&f->server, 0, 1);
  exchange_some (f, 2, 100);
}

static void
test_rekey_requested (Fixture *f, gconstpointer data)
{
  test_connect (&f->client, &f->server);
  g_assert_cmpint (sc_session_key_update (f->client.s, TRUE, &f->client.out), ==, SC_OK);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_OK);
  assert_epochs (&f->client, 1, 1);
  assert_epochs (&f->server, 1, 1);
  exchange_some (f, 2, 100);
}

/* A key used past the receiver's reject-after limit kills the session. */
static void
test_rekey_reject_after (Fixture *f, gconstpointer data)
{
  f->server.cfg.limits.reject_after_records = 8;
  f->server.cfg.limits.rekey_after_records = 4;
  test_connect (&f->client, &f->server);
  for (guint i = 0; i < 9; i++)
    sc_session_send (f->client.s, (const uint8_t *) "m", 1, NULL, &f->client.out);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_ERR_KEY_EXHAUSTED);
  assert_failed (&f->server, SC_ERR_KEY_EXHAUSTED);
  g_assert_cmpuint (f->server.messages->len, ==, 8);
  assert_alerted (&f->server, &f->client, SC_ALERT_KEY_EXHAUSTED);
}

/* ==== heartbeats, timeouts, close ======================================= */

static void
test_heartbeat (Fixture *f, gconstpointer data)
{
  uint32_t next = 0;

  test_connect (&f->client, &f->server);
  g_assert_cmpint (sc_session_tick (f->client.s, &f->client.out, &next), ==, SC_OK);
  g_assert_cmpuint (next, ==, SC_DEFAULT_HEARTBEAT_INTERVAL_MS);
  g_assert_cmpuint (f->client.out.len, ==, 0);
  for (guint i = 0; i < 10; i++)
    {
      f->client.mono_ms += SC_DEFAULT_HEARTBEAT_INTERVAL_MS;
      g_assert_cmpint (sc_session_tick (f->client.s, &f->client.out, &next), ==, SC_OK);
      g_assert_cmpuint (f->client.out.len, >, 0);                      /* a ping */
      g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_OK); /* and its pong */
    }
  g_assert_cmpuint (f->client.s->pings_answered, ==, 10);
}

static void
test_heartbeat_dead_peer (Fixture *f, gconstpointer data)
{
  test_connect (&f->client, &f->server);
  for (guint i = 0; i < SC_DEFAULT_HEARTBEAT_MISSED - 1; i++)
    {
      f->client.mono_ms += SC_DEFAULT_HEARTBEAT_INTERVAL_MS;
      g_assert_cmpint (sc_session_tick (f->client.s, &f->client.out, NULL), ==, SC_OK);
    }
  sc_buffer_consume (&f->client.out, f->client.out.len); /* the peer never answers */
  f->client.mono_ms += SC_DEFAULT_HEARTBEAT_INTERVAL_MS;
  g_assert_cmpint (sc_session_tick (f->client.s, &f->client.out, NULL), ==, SC_ERR_TIMEOUT);
  assert_failed (&f->client, SC_ERR_TIMEOUT);
}

static void
test_handshake_timeout (Fixture *f, gconstpointer data)
{
  test_peer_start (&f->client);
  test_peer_start (&f->server);
  sc_session_start (f->client.s, &f->client.out);
  f->server.mono_ms += SC_DEFAULT_HANDSHAKE_TIMEOUT_MS - 1;
  g_assert_cmpint (sc_session_tick (f->server.s, &f->server.out, NULL), ==, SC_OK);
  f->server.mono_ms += 1;
  g_assert_cmpint (sc_session_tick (f->server.s, &f->server.out, NULL), ==, SC_ERR_TIMEOUT);
  assert_failed (&f->server, SC_ERR_TIMEOUT);
}

static void
test_close (Fixture *f, gconstpointer data)
{
  uint8_t byte = 0;

  test_connect (&f->client, &f->server);
  send_and_check (&f->client, &f->server, 5);
  g_assert_cmpint (sc_session_close (f->client.s, SC_CLOSE_GOING_AWAY, &f->client.out), ==, SC_OK);
  g_assert_cmpint (sc_session_get_state (f->client.s), ==, SC_STATE_CLOSED);
  g_assert_cmpint (sc_session_send (f->client.s, &byte, 1, NULL, &f->client.out), ==,
                   SC_ERR_CLOSED);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_OK);
  g_assert_cmpint (f->server.closed_reason, ==, SC_CLOSE_GOING_AWAY);
  g_assert_cmpint (sc_session_get_state (f->server.s), ==, SC_STATE_CLOSED);
  g_assert_cmpint (sc_session_eof (f->server.s), ==, SC_ERR_CLOSED);
  g_assert_cmpint (sc_session_recv (f->server.s, &byte, 1, &f->server.out), ==, SC_ERR_CLOSED);
}

static void
test_truncated (Fixture *f, gconstpointer data)
{
  test_connect (&f->client, &f->server);
  sc_session_send (f->client.s, (const uint8_t *) "hello", 5, NULL, &f->client.out);
  /* Half a record, then the stream ends. */
  sc_session_recv (f->server.s, f->client.out.data, f->client.out.len / 2, &f->server.out);
  g_assert_cmpint (sc_session_eof (f->server.s), ==, SC_ERR_TRUNCATED);
  assert_failed (&f->server, SC_ERR_TRUNCATED);
  g_assert_cmpuint (f->server.messages->len, ==, 0);
}

/* Even at a record boundary, an end without CLOSE is a truncation. */
static void
test_truncated_at_boundary (Fixture *f, gconstpointer data)
{
  test_connect (&f->client, &f->server);
  g_assert_cmpint (sc_session_eof (f->server.s), ==, SC_ERR_TRUNCATED);
}

static void
test_exporter (Fixture *f, gconstpointer data)
{
  uint8_t a[32], b[32], c[32];

  test_connect (&f->client, &f->server);
  g_assert_cmpint (sc_session_export (f->client.s, "test", (const uint8_t *) "ctx", 3, a, 32), ==,
                   SC_OK);
  g_assert_cmpint (sc_session_export (f->server.s, "test", (const uint8_t *) "ctx", 3, b, 32), ==,
                   SC_OK);
  g_assert_cmpmem (a, 32, b, 32);
  g_assert_cmpint (sc_session_export (f->server.s, "test2", (const uint8_t *) "ctx", 3, c, 32), ==,
                   SC_OK);
  g_assert_true (memcmp (a, c, 32) != 0);
}

/* ==== tampering with the wire =========================================== */

/* Runs the handshake to the end, then has the client send `n` messages and
 * returns the records without delivering them. */
static GPtrArray *
client_records (Fixture *f, guint n)
{
  GPtrArray *recs;

  test_connect (&f->client, &f->server);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *m = g_strdup_printf ("message %u", i);
      sc_session_send (f->client.s, (const uint8_t *) m, strlen (m), NULL, &f->client.out);
    }
  recs = test_split_records (&f->client.out);
  sc_buffer_consume (&f->client.out, f->client.out.len);
  return recs;
}

static int
feed (TestPeer *to, GBytes *rec)
{
  gsize n;
  const uint8_t *p = g_bytes_get_data (rec, &n);

  return sc_session_recv (to->s, p, n, &to->out);
}

static int
feed_modified (TestPeer *to, GBytes *rec, gsize offset, guint8 xor)
{
  gsize n = g_bytes_get_size (rec);
  g_autofree uint8_t *p = g_memdup2 (g_bytes_get_data (rec, NULL), n);

  p[offset] ^= xor;
  return sc_session_recv (to->s, p, n, &to->out);
}

static void
test_tamper_ciphertext (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) recs = client_records (f, 1);

  g_assert_cmpint (feed_modified (&f->server, recs->pdata[0], SC_RECORD_HEADER_LEN + 3, 0x01), ==,
                   SC_ERR_DECRYPT);
  assert_failed (&f->server, SC_ERR_DECRYPT);
  g_assert_cmpuint (f->server.messages->len, ==, 0);
  assert_alerted (&f->server, &f->client, SC_ALERT_BAD_RECORD);
}

static void
test_tamper_tag (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) recs = client_records (f, 1);
  gsize n = g_bytes_get_size (recs->pdata[0]);

  g_assert_cmpint (feed_modified (&f->server, recs->pdata[0], n - 1, 0x80), ==, SC_ERR_DECRYPT);
  assert_failed (&f->server, SC_ERR_DECRYPT);
}

static void
test_tamper_header (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) recs = client_records (f, 1);

  /* The version byte: not a record of ours. */
  g_assert_cmpint (feed_modified (&f->server, recs->pdata[0], 1, 0x02), ==, SC_ERR_DECODE);
  assert_failed (&f->server, SC_ERR_DECODE);
}

static void
test_tamper_header_type (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) recs = client_records (f, 1);

  /* PROTECTED (0x17) turned into HANDSHAKE (0x16): plaintext after keys. */
  g_assert_cmpint (feed_modified (&f->server, recs->pdata[0], 0, 0x01), ==, SC_ERR_UNEXPECTED);
  assert_failed (&f->server, SC_ERR_UNEXPECTED);
}

static void
test_replay (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) recs = client_records (f, 1);

  g_assert_cmpint (feed (&f->server, recs->pdata[0]), ==, SC_OK);
  g_assert_cmpint (feed (&f->server, recs->pdata[0]), ==, SC_ERR_DECRYPT);
  assert_failed (&f->server, SC_ERR_DECRYPT);
  g_assert_cmpuint (f->server.messages->len, ==, 1);
}

static void
test_reorder (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) recs = client_records (f, 2);

  g_assert_cmpint (feed (&f->server, recs->pdata[1]), ==, SC_ERR_DECRYPT);
  assert_failed (&f->server, SC_ERR_DECRYPT);
  g_assert_cmpuint (f->server.messages->len, ==, 0);
}

static void
test_drop (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) recs = client_records (f, 3);

  g_assert_cmpint (feed (&f->server, recs->pdata[0]), ==, SC_OK);
  g_assert_cmpint (feed (&f->server, recs->pdata[2]), ==, SC_ERR_DECRYPT);
  assert_failed (&f->server, SC_ERR_DECRYPT);
  g_assert_cmpuint (f->server.messages->len, ==, 1);
}

static void
test_oversize_record (Fixture *f, gconstpointer data)
{
  uint8_t hdr[SC_RECORD_HEADER_LEN];

  test_peer_start (&f->server);
  sc_wire_put_record_header (hdr, SC_RECORD_PROTECTED, SC_MAX_PROTECTED_BODY + 1);
  /* Refused on the header alone, before any body arrives. */
  g_assert_cmpint (sc_session_recv (f->server.s, hdr, sizeof hdr, &f->server.out), ==,
                   SC_ERR_RECORD_OVERFLOW);
  assert_failed (&f->server, SC_ERR_RECORD_OVERFLOW);
}

static void
test_oversize_record_connected (Fixture *f, gconstpointer data)
{
  uint8_t hdr[SC_RECORD_HEADER_LEN];

  test_connect (&f->client, &f->server);
  sc_wire_put_record_header (hdr, SC_RECORD_PROTECTED, 0xffff);
  g_assert_cmpint (sc_session_recv (f->server.s, hdr, 2, &f->server.out), ==, SC_OK);
  g_assert_cmpint (sc_session_recv (f->server.s, hdr + 2, 2, &f->server.out), ==,
                   SC_ERR_RECORD_OVERFLOW);
  assert_alerted (&f->server, &f->client, SC_ALERT_RECORD_OVERFLOW);
}

/* Application data under the handshake keys, before the handshake ended. */
static void
test_message_before_handshake (Fixture *f, gconstpointer data)
{
  uint8_t rec[SC_RECORD_HEADER_LEN + 1 + 16 + SC_AES256_GCM_TAG_LEN] = { 0 };

  test_peer_start (&f->server);
  sc_wire_put_record_header (rec, SC_RECORD_PROTECTED, sizeof rec - SC_RECORD_HEADER_LEN);
  g_assert_cmpint (sc_session_recv (f->server.s, rec, sizeof rec, &f->server.out), ==,
                   SC_ERR_UNEXPECTED);
  assert_failed (&f->server, SC_ERR_UNEXPECTED);
}

typedef struct
{
  guint8 type;
  const guint8 *content;
  gsize len;
} Replacement;

static void
replace_plaintext (GByteArray *pt, gpointer user)
{
  const Replacement *r = user;

  g_byte_array_set_size (pt, 0);
  g_byte_array_append (pt, &r->type, 1);
  g_byte_array_append (pt, r->content, r->len);
}

static void
flip_last_byte (GByteArray *pt, gpointer user)
{
  pt->data[pt->len - 1] ^= 0x01;
}

/* Delivers ClientHello, intercepts the server's flight (SH, Identity, Verify,
 * Finished), rewrites record `which` (1..3, sequence which-1 under s_hs)
 * and hands the flight to the client. Returns the client's result. */
static int
server_flight_edited (Fixture *f, guint which, TestEditFunc edit, gpointer user)
{
  g_autoptr (GPtrArray) recs = NULL;
  ScBuffer flight;
  int ret;

  test_peer_start (&f->client);
  test_peer_start (&f->server);
  sc_session_start (f->client.s, &f->client.out);
  ret = sc_session_recv (f->server.s, f->client.out.data, f->client.out.len, &f->server.out);
  g_assert_cmpint (ret, ==, SC_OK);
  sc_buffer_consume (&f->client.out, f->client.out.len);
  recs = test_split_records (&f->server.out);
  sc_buffer_consume (&f->server.out, f->server.out.len);
  g_assert_cmpuint (recs->len, ==, 4);
  if (edit != NULL)
    {
      GBytes *old = recs->pdata[which];

      recs->pdata[which] = test_rewrite_record (old, test_peer_secret (&f->server, "s_hs_traffic"),
                                                which - 1, edit, user);
      g_bytes_unref (old);
    }
  sc_buffer_init (&flight);
  for (guint i = 0; i < recs->len; i++)
    sc_buffer_append (&flight, g_bytes_get_data (recs->pdata[i], NULL),
                      g_bytes_get_size (recs->pdata[i]));
  ret = sc_session_recv (f->client.s, flight.data, flight.len, &f->client.out);
  sc_buffer_clear (&flight);
  return ret;
}

static void
test_bad_signature (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (server_flight_edited (f, 2, flip_last_byte, NULL), ==, SC_ERR_AUTH);
  assert_failed (&f->client, SC_ERR_AUTH);
  assert_alerted (&f->client, &f->server, SC_ALERT_HANDSHAKE_FAILURE);
}

static void
test_bad_finished (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (server_flight_edited (f, 3, flip_last_byte, NULL), ==, SC_ERR_AUTH);
  assert_failed (&f->client, SC_ERR_AUTH);
}

static void
test_unedited_flight_connects (Fixture *f, gconstpointer data)
{
  /* The interception itself is harmless: without edits the client connects. */
  g_assert_cmpint (server_flight_edited (f, 0, NULL, NULL), ==, SC_OK);
  g_assert_cmpint (sc_session_get_state (f->client.s), ==, SC_STATE_CONNECTED);
}

/* The server's Identity swapped for another key's: its signature no longer
 * verifies under the announced key. */
static void
swap_identity (GByteArray *pt, gpointer user)
{
  const ScP256Key *other = user;

  /* inner type, hs header (4), auth_request, type, u16 len, spki */
  g_assert_cmpuint (pt->len, ==, 1 + 4 + 2 + 2 + SC_P256_SPKI_LEN);
  sc_p256_spki_encode (other->pub, pt->data + 1 + 4 + 2 + 2);
}

static void
test_wrong_server_identity (Fixture *f, gconstpointer data)
{
  TestPeer other;

  test_peer_init (&other, SC_ROLE_SERVER, "impostor", TRUE);
  g_assert_cmpint (server_flight_edited (f, 1, swap_identity, &other.identity), ==, SC_ERR_AUTH);
  assert_failed (&f->client, SC_ERR_AUTH);
  test_peer_clear (&other);
}

static void
test_bad_client_finished (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) recs = NULL;
  g_autoptr (GBytes) forged = NULL;

  g_assert_cmpint (server_flight_edited (f, 0, NULL, NULL), ==, SC_OK);
  recs = test_split_records (&f->client.out);
  sc_buffer_consume (&f->client.out, f->client.out.len);
  g_assert_cmpuint (recs->len, ==, 1);
  forged = test_rewrite_record (recs->pdata[0], test_peer_secret (&f->client, "c_hs_traffic"), 0,
                                flip_last_byte, NULL);
  g_assert_cmpint (feed (&f->server, forged), ==, SC_ERR_AUTH);
  assert_failed (&f->server, SC_ERR_AUTH);
}

/* A MESSAGE sealed correctly under the client's handshake key in place of
 * its Finished: authentic, but application data before the handshake ended. */
static void
test_message_under_handshake_key (Fixture *f, gconstpointer data)
{
  guint8 frag[SC_MESSAGE_HEADER_LEN + 2] = { 0 };
  Replacement r = { SC_CONTENT_MESSAGE, frag, sizeof frag };
  g_autoptr (GPtrArray) recs = NULL;
  g_autoptr (GBytes) forged = NULL;

  sc_put_u64 (frag, 1);
  sc_put_u32 (frag + 8, 2);
  g_assert_cmpint (server_flight_edited (f, 0, NULL, NULL), ==, SC_OK);
  recs = test_split_records (&f->client.out); /* the client's Finished */
  sc_buffer_consume (&f->client.out, f->client.out.len);
  g_assert_cmpuint (recs->len, ==, 1);
  forged = test_rewrite_record (recs->pdata[0], test_peer_secret (&f->client, "c_hs_traffic"), 0,
                                replace_plaintext, &r);
  g_assert_cmpint (feed (&f->server, forged), ==, SC_ERR_UNEXPECTED);
  assert_failed (&f->server, SC_ERR_UNEXPECTED);
  g_assert_cmpuint (f->server.messages->len, ==, 0);
}

/* ==== hellos: versions, freshness, key shares ========================== */

typedef void (*HelloEdit) (ScHello *h, uint8_t *versions, size_t *n_versions, uint8_t *share,
                           uint64_t *ts);

/* Rebuilds the client's ClientHello with edits and returns the server's
 * result for it. */
static int
client_hello_edited (Fixture *f, HelloEdit edit)
{
  ScHello h;
  const uint8_t *body;
  size_t body_len;
  uint8_t type, versions[SC_MAX_OFFERED_VERSIONS], share[SC_P256_POINT_LEN], random[32];
  size_t n;
  uint64_t ts;
  ScBuffer msg, rec;
  uint8_t hdr[SC_RECORD_HEADER_LEN];
  int ret;

  test_peer_start (&f->client);
  test_peer_start (&f->server);
  sc_session_start (f->client.s, &f->client.out);
  g_assert_cmpint (sc_wire_parse_handshake (f->client.out.data + SC_RECORD_HEADER_LEN,
                                            f->client.out.len - SC_RECORD_HEADER_LEN, &type, &body,
                                            &body_len),
                   ==, SC_OK);
  g_assert_cmpint (sc_wire_parse_client_hello (body, body_len, &h), ==, SC_OK);
  n = h.n_versions;
  memcpy (versions, h.versions, n);
  memcpy (share, h.key_share, sizeof share);
  memcpy (random, h.random, sizeof random);
  ts = h.timestamp_ms;
  edit (&h, versions, &n, share, &ts);
  sc_buffer_init (&msg);
  sc_buffer_init (&rec);
  g_assert_cmpint (sc_wire_build_hello (&msg, SC_HS_CLIENT_HELLO, versions, n, random, ts, share,
                                        h.max_message_size, NULL, 0),
                   ==, SC_OK);
  sc_wire_put_record_header (hdr, SC_RECORD_HANDSHAKE, (uint16_t) msg.len);
  sc_buffer_append (&rec, hdr, sizeof hdr);
  sc_buffer_append (&rec, msg.data, msg.len);
  sc_buffer_consume (&f->client.out, f->client.out.len);
  ret = sc_session_recv (f->server.s, rec.data, rec.len, &f->server.out);
  sc_buffer_clear (&msg);
  sc_buffer_clear (&rec);
  return ret;
}

static void
edit_nothing (ScHello *h, uint8_t *v, size_t *n, uint8_t *share, uint64_t *ts)
{
}

static void
edit_add_version (ScHello *h, uint8_t *v, size_t *n, uint8_t *share, uint64_t *ts)
{
  v[(*n)++] = 0x7f; /* an attacker's change to the offer */
}

static void
edit_only_unknown_version (ScHello *h, uint8_t *v, size_t *n, uint8_t *share, uint64_t *ts)
{
  v[0] = 0x02;
  *n = 1;
}

static void
edit_stale (ScHello *h, uint8_t *v, size_t *n, uint8_t *share, uint64_t *ts)
{
  *ts -= SC_DEFAULT_MAX_SKEW_MS + 1;
}

static void
edit_future (ScHello *h, uint8_t *v, size_t *n, uint8_t *share, uint64_t *ts)
{
  *ts += SC_DEFAULT_MAX_SKEW_MS + 1;
}

static void
edit_skew_edge (ScHello *h, uint8_t *v, size_t *n, uint8_t *share, uint64_t *ts)
{
  *ts -= SC_DEFAULT_MAX_SKEW_MS; /* exactly at the limit: accepted */
}

static void
edit_off_curve (ScHello *h, uint8_t *v, size_t *n, uint8_t *share, uint64_t *ts)
{
  share[SC_P256_POINT_LEN - 1] ^= 0x01;
}

static void
edit_compressed (ScHello *h, uint8_t *v, size_t *n, uint8_t *share, uint64_t *ts)
{
  share[0] = 0x02;
}

static void
edit_zero_point (ScHello *h, uint8_t *v, size_t *n, uint8_t *share, uint64_t *ts)
{
  memset (share + 1, 0, SC_P256_POINT_LEN - 1);
}

static void
test_hello_rebuilt_ok (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (client_hello_edited (f, edit_nothing), ==, SC_OK);
  g_assert_cmpint (client_hello_edited (f, edit_nothing), ==, SC_OK);
}

/* The offer changed in transit. The handshake keys are derived from the
 * transcript the server saw, so the client cannot even open the server's
 * flight (and the signature would fail next): the session dies. */
static void
test_version_downgrade (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (client_hello_edited (f, edit_add_version), ==, SC_OK);
  g_assert_cmpint (test_pump (&f->server, &f->client), ==, SC_ERR_DECRYPT);
  assert_failed (&f->client, SC_ERR_DECRYPT);
  g_assert_cmpuint (f->client.handshakes_done, ==, 0);
}

static void
test_version_none_common (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (client_hello_edited (f, edit_only_unknown_version), ==, SC_ERR_VERSION);
  assert_failed (&f->server, SC_ERR_VERSION);
  /* Before keys, the alert travels in plaintext. */
  g_assert_cmpuint (f->server.out.data[0], ==, SC_RECORD_ALERT);
  assert_alerted (&f->server, &f->client, SC_ALERT_PROTOCOL_VERSION);
}

typedef struct
{
  guint8 version;
} SetVersion;

/* The server answers with a version the client never offered. */
static void
test_version_not_offered (Fixture *f, gconstpointer data)
{
  test_peer_start (&f->client);
  test_peer_start (&f->server);
  sc_session_start (f->client.s, &f->client.out);
  sc_session_recv (f->server.s, f->client.out.data, f->client.out.len, &f->server.out);
  sc_buffer_consume (&f->client.out, f->client.out.len);
  /* ServerHello body starts after record header (4) and hs header (4). */
  f->server.out.data[SC_RECORD_HEADER_LEN + SC_HS_HEADER_LEN] = 0x02;
  g_assert_cmpint (test_pump (&f->server, &f->client), ==, SC_ERR_VERSION);
  assert_failed (&f->client, SC_ERR_VERSION);
}

static void
test_stale_timestamp (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (client_hello_edited (f, edit_stale), ==, SC_ERR_STALE);
  assert_failed (&f->server, SC_ERR_STALE);
  assert_alerted (&f->server, &f->client, SC_ALERT_STALE);
}

static void
test_future_timestamp (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (client_hello_edited (f, edit_future), ==, SC_ERR_STALE);
}

static void
test_skew_edge (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (client_hello_edited (f, edit_skew_edge), ==, SC_OK);
}

/* The client checks the server's clock too. */
static void
test_stale_server_hello (Fixture *f, gconstpointer data)
{
  f->server.wall_ms -= SC_DEFAULT_MAX_SKEW_MS + 1;
  f->server.cfg.limits.max_skew_ms = 2 * SC_DEFAULT_MAX_SKEW_MS; /* the server is lax */
  test_peer_start (&f->client);
  test_peer_start (&f->server);
  sc_session_start (f->client.s, &f->client.out);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_ERR_STALE);
  assert_failed (&f->client, SC_ERR_STALE);
}

static void
test_off_curve_point (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (client_hello_edited (f, edit_off_curve), ==, SC_ERR_BAD_KEY);
  assert_failed (&f->server, SC_ERR_BAD_KEY);
  assert_alerted (&f->server, &f->client, SC_ALERT_ILLEGAL_PARAMETER);
}

static void
test_compressed_point (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (client_hello_edited (f, edit_compressed), ==, SC_ERR_BAD_KEY);
}

static void
test_zero_point (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (client_hello_edited (f, edit_zero_point), ==, SC_ERR_BAD_KEY);
}

/* ==== fragments and content rules ====================================== */

static void
test_bad_message_id (Fixture *f, gconstpointer data)
{
  guint8 frag[SC_MESSAGE_HEADER_LEN + 1] = { 0 };
  Replacement r = { SC_CONTENT_MESSAGE, frag, sizeof frag };
  g_autoptr (GPtrArray) recs = client_records (f, 1);
  g_autoptr (GBytes) forged = NULL;

  sc_put_u64 (frag, 2); /* skips id 1 */
  sc_put_u32 (frag + 8, 1);
  forged = test_rewrite_record (recs->pdata[0], test_peer_secret (&f->client, "c_ap_traffic_0"), 0,
                                replace_plaintext, &r);
  g_assert_cmpint (feed (&f->server, forged), ==, SC_ERR_DECODE);
  assert_failed (&f->server, SC_ERR_DECODE);
}

static void
test_unknown_inner_type (Fixture *f, gconstpointer data)
{
  Replacement r = { 0x42, (const guint8 *) "x", 1 };
  g_autoptr (GPtrArray) recs = client_records (f, 1);
  g_autoptr (GBytes) forged = test_rewrite_record (
      recs->pdata[0], test_peer_secret (&f->client, "c_ap_traffic_0"), 0, replace_plaintext, &r);

  g_assert_cmpint (feed (&f->server, forged), ==, SC_ERR_DECODE);
}

static void
test_ack_beyond_sent (Fixture *f, gconstpointer data)
{
  guint8 ack[8];
  Replacement r = { SC_CONTENT_ACK, ack, sizeof ack };
  g_autoptr (GPtrArray) recs = client_records (f, 1);
  g_autoptr (GBytes) forged = NULL;

  sc_put_u64 (ack, 5); /* the server has sent nothing */
  forged = test_rewrite_record (recs->pdata[0], test_peer_secret (&f->client, "c_ap_traffic_0"), 0,
                                replace_plaintext, &r);
  g_assert_cmpint (feed (&f->server, forged), ==, SC_ERR_DECODE);
}

static void
test_unsolicited_pong (Fixture *f, gconstpointer data)
{
  guint8 pong[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
  Replacement r = { SC_CONTENT_PONG, pong, sizeof pong };
  g_autoptr (GPtrArray) recs = client_records (f, 1);
  g_autoptr (GBytes) forged = test_rewrite_record (
      recs->pdata[0], test_peer_secret (&f->client, "c_ap_traffic_0"), 0, replace_plaintext, &r);

  g_assert_cmpint (feed (&f->server, forged), ==, SC_ERR_DECODE);
}

static void
test_handshake_after_connected (Fixture *f, gconstpointer data)
{
  guint8 fin[4 + 32] = { SC_HS_FINISHED, 0, 0, 32 };
  Replacement r = { SC_CONTENT_HANDSHAKE, fin, sizeof fin };
  g_autoptr (GPtrArray) recs = client_records (f, 1);
  g_autoptr (GBytes) forged = test_rewrite_record (
      recs->pdata[0], test_peer_secret (&f->client, "c_ap_traffic_0"), 0, replace_plaintext, &r);

  g_assert_cmpint (feed (&f->server, forged), ==, SC_ERR_UNEXPECTED);
}

/* ==== large messages: opened in place, handed over without a copy ====== */

/* A record of a message being reassembled whose plaintext (inner type,
 * MESSAGE header, fragment) is SC_AEAD_BULK_MIN bytes or more, once at least
 * IN_PLACE_PREFIX bytes of the message arrived, is opened straight into the
 * reassembly buffer (sc-session.c, opens_in_place): the cases below cut
 * messages on both sides of each of those limits. */
#define IN_PLACE_PREFIX (1u + SC_MESSAGE_HEADER_LEN)
/* bytes: the shortest fragment whose record is opened in place */
#define IN_PLACE_MIN_FRAGMENT (SC_AEAD_BULK_MIN - IN_PLACE_PREFIX)

/* A protected record as the holder of secret seals it as its record number
 * seq: inner type, then content. */
static GBytes *
forge_record (const uint8_t *secret, uint64_t seq, guint8 type, const guint8 *content, gsize len)
{
  ScTrafficKey *tk = g_malloc0 (sizeof *tk);
  gsize body = 1 + len + SC_AES256_GCM_TAG_LEN;
  guint8 *rec = g_malloc (SC_RECORD_HEADER_LEN + body);
  g_autofree guint8 *pt = g_malloc (1 + len);
  uint8_t nonce[SC_AES256_GCM_NONCE_LEN];

  g_assert_nonnull (secret);
  g_assert_cmpuint (body, <=, SC_MAX_PROTECTED_BODY);
  g_assert_cmpint (sc_traffic_key_install (tk, secret, 0), ==, SC_OK);
  tk->seq = seq;
  sc_traffic_key_nonce (tk, nonce);
  pt[0] = type;
  if (len > 0)
    memcpy (pt + 1, content, len);
  sc_wire_put_record_header (rec, SC_RECORD_PROTECTED, (uint16_t) body);
  sc_aead_seal (&tk->aead, nonce, rec, SC_RECORD_HEADER_LEN, pt, 1 + len,
                rec + SC_RECORD_HEADER_LEN);
  sc_traffic_key_clear (tk);
  g_free (tk);
  return g_bytes_new_take (rec, SC_RECORD_HEADER_LEN + body);
}

/* A MESSAGE record with this header and fragment (PROTOCOL.md 6.1). */
static GBytes *
forge_fragment (const uint8_t *secret, uint64_t seq, uint64_t id, uint32_t total, uint32_t offset,
                const guint8 *fragment, gsize len)
{
  g_autofree guint8 *content = g_malloc (SC_MESSAGE_HEADER_LEN + len);

  sc_put_u64 (content, id);
  sc_put_u32 (content + 8, total);
  sc_put_u32 (content + 12, offset);
  if (len > 0)
    memcpy (content + SC_MESSAGE_HEADER_LEN, fragment, len);
  return forge_record (secret, seq, SC_CONTENT_MESSAGE, content, SC_MESSAGE_HEADER_LEN + len);
}

/* The records the client seals for one message of len bytes, not delivered. */
static GPtrArray *
client_message_records (Fixture *f, GBytes *msg)
{
  gsize n;
  const uint8_t *p = g_bytes_get_data (msg, &n);
  GPtrArray *recs;

  g_assert_cmpuint (f->client.out.len, ==, 0);
  g_assert_cmpint (sc_session_send (f->client.s, p, n, NULL, &f->client.out), ==, SC_OK);
  recs = test_split_records (&f->client.out);
  sc_buffer_consume (&f->client.out, f->client.out.len);
  return recs;
}

/* Asserts that to holds exactly one message, msg. */
static void
assert_one_message (TestPeer *to, GBytes *msg)
{
  g_assert_cmpuint (to->messages->len, ==, 1);
  g_assert_true (g_bytes_equal (g_ptr_array_index (to->messages, 0), msg));
}

/* Messages of several records whose last record is just under, at and over
 * the in-place threshold arrive intact, each way, delivered in one batch. */
static void
test_in_place_sizes_intact (Fixture *f, gconstpointer data)
{
  const gsize sizes[] = {
    2 * SC_MAX_FRAGMENT + 100,                       /* last record opened by copy */
    3 * SC_MAX_FRAGMENT + IN_PLACE_MIN_FRAGMENT - 1, /* last record just too short */
    3 * SC_MAX_FRAGMENT + IN_PLACE_MIN_FRAGMENT,     /* every record after the first */
    4 * SC_MAX_FRAGMENT + 1000,
    5 * SC_MAX_FRAGMENT, /* a multiple of the fragment size */
    SC_DEFAULT_MAX_MESSAGE_SIZE - 1,
  };

  test_connect (&f->client, &f->server);
  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      send_and_check (&f->client, &f->server, sizes[i]);
      send_and_check (&f->server, &f->client, sizes[i]);
    }
}

/* The same message intact when its records arrive one call each, and when
 * they straddle calls (cut every 1000 bytes: opened from the partial-record
 * buffer). */
static void
test_in_place_split_delivery_intact (Fixture *f, gconstpointer data)
{
  g_autoptr (GBytes) msg = pattern (3 * SC_MAX_FRAGMENT + 5000, 3);
  g_autoptr (GBytes) msg2 = pattern (3 * SC_MAX_FRAGMENT + 5000, 4);
  g_autoptr (GPtrArray) recs = NULL;
  gsize n;
  const uint8_t *p;

  test_connect (&f->client, &f->server);
  recs = client_message_records (f, msg);
  g_assert_cmpuint (recs->len, ==, 4);
  for (guint i = 0; i < recs->len; i++)
    g_assert_cmpint (feed (&f->server, recs->pdata[i]), ==, SC_OK);
  assert_one_message (&f->server, msg);

  p = g_bytes_get_data (msg2, &n);
  g_assert_cmpint (sc_session_send (f->client.s, p, n, NULL, &f->client.out), ==, SC_OK);
  for (gsize off = 0; off < f->client.out.len; off += 1000)
    g_assert_cmpint (sc_session_recv (f->server.s, f->client.out.data + off,
                                      MIN (1000, f->client.out.len - off), &f->server.out),
                     ==, SC_OK);
  g_assert_cmpuint (f->server.messages->len, ==, 2);
  g_assert_true (g_bytes_equal (g_ptr_array_index (f->server.messages, 1), msg2));
}

/* Fragment boundaries a sender may choose (PROTOCOL.md 6.1), validly
 * sealed: around IN_PLACE_PREFIX bytes received (the saved bytes are the
 * whole message so far), around the shortest in-place fragment, and a
 * fragment that ends exactly at the message's end. All arrive intact. */
static void
test_in_place_fragment_cuts_intact (Fixture *f, gconstpointer data)
{
  const guint cuts[][4] = {
    /* fragment sizes, 0-terminated; the last one fills the message */
    { IN_PLACE_PREFIX, 4000 - IN_PLACE_PREFIX, 0 },
    { IN_PLACE_PREFIX - 1, 4000 - IN_PLACE_PREFIX + 1, 0 },
    { 1, IN_PLACE_MIN_FRAGMENT, 4000 - 1 - IN_PLACE_MIN_FRAGMENT, 0 },
    { IN_PLACE_PREFIX, IN_PLACE_MIN_FRAGMENT - 1, IN_PLACE_MIN_FRAGMENT,
      4000 - IN_PLACE_PREFIX - 2 * IN_PLACE_MIN_FRAGMENT + 1 },
    { 300, IN_PLACE_MIN_FRAGMENT, IN_PLACE_MIN_FRAGMENT, 4000 - 300 - 2 * IN_PLACE_MIN_FRAGMENT },
  };
  const uint8_t *secret;
  uint64_t seq;

  test_connect (&f->client, &f->server);
  secret = test_peer_secret (&f->client, "c_ap_traffic_0");
  seq = f->server.s->sec->recv.seq;
  for (guint c = 0; c < G_N_ELEMENTS (cuts); c++)
    {
      g_autoptr (GBytes) msg = pattern (4000, (guint8) c);
      const guint8 *m = g_bytes_get_data (msg, NULL);
      guint32 offset = 0;

      for (guint k = 0; k < G_N_ELEMENTS (cuts[c]) && cuts[c][k] > 0; k++)
        {
          g_autoptr (GBytes)
              rec = forge_fragment (secret, seq++, c + 1, 4000, offset, m + offset, cuts[c][k]);

          g_assert_cmpint (feed (&f->server, rec), ==, SC_OK);
          offset += cuts[c][k];
        }
      g_assert_cmpuint (offset, ==, 4000);
      g_assert_cmpuint (f->server.messages->len, ==, c + 1);
      g_assert_true (g_bytes_equal (g_ptr_array_index (f->server.messages, c), msg));
    }
}

/* The fixture's peers afresh, connected. */
static void
reconnect (Fixture *f)
{
  fixture_teardown (f, NULL);
  fixture_setup (f, NULL);
  test_connect (&f->client, &f->server);
}

/* A sender whose key is due for rotation puts a KEY_UPDATE between the
 * fragments of a message (sc_session_seal): the receiver ratchets its key
 * (and the GnuTLS context with it) mid-message, and the message arrives
 * intact. */
static void
test_in_place_key_update_between_fragments (Fixture *f, gconstpointer data)
{
  g_autoptr (GBytes) msg = pattern (6 * SC_MAX_FRAGMENT + 999, 10);
  g_autoptr (GPtrArray) recs = NULL;
  guint key_updates = 0;

  f->client.cfg.limits.rekey_after_bytes = 2 * SC_MAX_FRAGMENT;
  test_connect (&f->client, &f->server);
  recs = client_message_records (f, msg);
  for (guint i = 1; i + 1 < recs->len; i++)
    if (g_bytes_get_size (recs->pdata[i]) < SC_AEAD_BULK_MIN)
      key_updates++; /* a KEY_UPDATE: everything else is a full fragment */
  g_assert_cmpuint (key_updates, >=, 2);
  for (guint i = 0; i < recs->len; i++)
    g_assert_cmpint (feed (&f->server, recs->pdata[i]), ==, SC_OK);
  g_assert_cmpuint (f->server.key_updates_received, ==, key_updates);
  assert_one_message (&f->server, msg);
}

/* A flipped bit in the third of four records (opened in place), in its
 * inner type and MESSAGE header, in its fragment or in its tag, fails
 * with the code a flipped bit in a one-record message gets
 * (SC_ERR_DECRYPT), nothing is delivered, the reassembly buffer is gone,
 * and the session takes no more input: not even the rest of the message. */
static void
test_in_place_tampered_fragment_fails_as_small (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) small = client_records (f, 1);
  int small_rc = feed_modified (&f->server, small->pdata[0], SC_RECORD_HEADER_LEN + 3, 0x01);
  const gsize where[] = { SC_RECORD_HEADER_LEN,
                          SC_RECORD_HEADER_LEN + 5,
                          SC_RECORD_HEADER_LEN + IN_PLACE_PREFIX - 1,
                          SC_RECORD_HEADER_LEN + IN_PLACE_PREFIX,
                          8000,
                          0 /* the tag */ };

  g_assert_cmpint (small_rc, ==, SC_ERR_DECRYPT);
  for (gsize i = 0; i < G_N_ELEMENTS (where); i++)
    {
      g_autoptr (GBytes) msg = pattern (3 * SC_MAX_FRAGMENT + 3000, 9);
      g_autoptr (GPtrArray) recs = NULL;
      gsize n, pos;

      reconnect (f);
      recs = client_message_records (f, msg);
      g_assert_cmpuint (recs->len, ==, 4);
      n = g_bytes_get_size (recs->pdata[2]);
      pos = where[i] > 0 ? where[i] : n - 1;
      g_assert_cmpint (feed (&f->server, recs->pdata[0]), ==, SC_OK);
      g_assert_cmpint (feed (&f->server, recs->pdata[1]), ==, SC_OK);
      g_assert_nonnull (f->server.s->reasm);
      g_assert_cmpint (feed_modified (&f->server, recs->pdata[2], pos, 0x10), ==, small_rc);
      g_assert_null (f->server.s->reasm);
      g_assert_cmpint (feed (&f->server, recs->pdata[2]), ==, small_rc);
      g_assert_cmpint (feed (&f->server, recs->pdata[3]), ==, small_rc);
      assert_failed (&f->server, small_rc);
      g_assert_cmpuint (f->server.messages->len, ==, 0);
      assert_alerted (&f->server, &f->client, SC_ALERT_BAD_RECORD);
    }
}

/* How a forged third fragment departs from the message being reassembled. */
typedef enum
{
  BAD_OFFSET_AHEAD,  /* offset one past what arrived */
  BAD_OFFSET_BEHIND, /* offset one short of it */
  BAD_OFFSET_START,  /* offset 0 again */
  BAD_ID_NEXT,       /* the next message's id */
  BAD_ID_SAME_START, /* a new message, first fragment, mid-message */
  BAD_TOTAL_MORE,    /* total one more */
  BAD_TOTAL_LESS,    /* total one less */
  BAD_TOO_LONG,      /* right header, fragment one byte past the end */
} BadFragment;

/* Records 0 and 1 of a 3-fragment message as sent, then a validly sealed
 * third record whose fragment header (or length) is wrong: refused with
 * SC_ERR_DECODE, nothing delivered, the buffer freed, the session dead. */
static void
test_in_place_bad_fragment_rejected (Fixture *f, gconstpointer data)
{
  BadFragment bad = GPOINTER_TO_INT (data);
  const guint32 total = 2 * SC_MAX_FRAGMENT + 2000, have = 2 * SC_MAX_FRAGMENT;
  g_autoptr (GBytes) msg = pattern (total, 5);
  const guint8 *m = g_bytes_get_data (msg, NULL);
  g_autoptr (GPtrArray) recs = NULL;
  g_autoptr (GBytes) forged = NULL;
  g_autofree guint8 *longer = g_malloc0 (total - have + 1);
  uint64_t id = 1;
  guint32 tot = total, offset = have;
  const guint8 *frag = m + have;
  gsize len = total - have;

  test_connect (&f->client, &f->server);
  recs = client_message_records (f, msg);
  g_assert_cmpuint (recs->len, ==, 3);
  g_assert_cmpint (feed (&f->server, recs->pdata[0]), ==, SC_OK);
  g_assert_cmpint (feed (&f->server, recs->pdata[1]), ==, SC_OK);
  switch (bad)
    {
    case BAD_OFFSET_AHEAD:
      offset++;
      len--; /* still ends at the end */
      break;
    case BAD_OFFSET_BEHIND:
      offset--;
      break;
    case BAD_OFFSET_START:
      offset = 0;
      break;
    case BAD_ID_NEXT:
      id++;
      break;
    case BAD_ID_SAME_START:
      id++;
      offset = 0;
      tot = (guint32) len;
      break;
    case BAD_TOTAL_MORE:
      tot++;
      break;
    case BAD_TOTAL_LESS:
      tot--;
      len--;
      break;
    case BAD_TOO_LONG:
    default:
      memcpy (longer, frag, len);
      frag = longer;
      len++;
      break;
    }
  forged = forge_fragment (test_peer_secret (&f->client, "c_ap_traffic_0"), 2, id, tot, offset,
                           frag, len);
  g_assert_cmpint (feed (&f->server, forged), ==, SC_ERR_DECODE);
  g_assert_null (f->server.s->reasm);
  assert_failed (&f->server, SC_ERR_DECODE);
  g_assert_cmpuint (f->server.messages->len, ==, 0);
}

/* The same forged third fragment with nothing wrong is accepted: the
 * rejections above come from the header alone. */
static void
test_in_place_forged_fragment_accepted (Fixture *f, gconstpointer data)
{
  const guint32 total = 2 * SC_MAX_FRAGMENT + 2000, have = 2 * SC_MAX_FRAGMENT;
  g_autoptr (GBytes) msg = pattern (total, 5);
  g_autoptr (GPtrArray) recs = NULL;
  g_autoptr (GBytes) forged = NULL;

  test_connect (&f->client, &f->server);
  recs = client_message_records (f, msg);
  g_assert_cmpint (feed (&f->server, recs->pdata[0]), ==, SC_OK);
  g_assert_cmpint (feed (&f->server, recs->pdata[1]), ==, SC_OK);
  forged = forge_fragment (test_peer_secret (&f->client, "c_ap_traffic_0"), 2, 1, total, have,
                           (const guint8 *) g_bytes_get_data (msg, NULL) + have, total - have);
  g_assert_cmpint (feed (&f->server, forged), ==, SC_OK);
  assert_one_message (&f->server, msg);
}

/* A NewSessionTicket handshake message of ticket_len bytes, as content. */
static GBytes *
ticket_content (gsize ticket_len)
{
  g_autofree guint8 *ticket = g_malloc (ticket_len);
  ScBuffer buf;
  GBytes *out;

  memset (ticket, 0xab, ticket_len);
  sc_buffer_init (&buf);
  g_assert_cmpint (sc_wire_build_new_session_ticket (&buf, 600, ticket, ticket_len), ==, SC_OK);
  out = g_bytes_new (buf.data, buf.len);
  sc_buffer_clear (&buf);
  return out;
}

/* A large record of another type (a 400-byte NewSessionTicket, which a
 * server must refuse) between two fragments of a message fails as it does
 * outside a message: SC_ERR_UNEXPECTED both times. */
static void
test_in_place_large_handshake_refused_as_outside (Fixture *f, gconstpointer data)
{
  g_autoptr (GBytes) nst = ticket_content (400);
  g_autoptr (GBytes) msg = pattern (3 * SC_MAX_FRAGMENT, 6);
  g_autoptr (GPtrArray) recs = NULL;
  g_autoptr (GBytes) alone = NULL, between = NULL;
  gsize n;
  const guint8 *c = g_bytes_get_data (nst, &n);
  int outside;

  g_assert_cmpuint (1 + n, >=, SC_AEAD_BULK_MIN);
  test_connect (&f->client, &f->server);
  alone = forge_record (test_peer_secret (&f->client, "c_ap_traffic_0"), 0, SC_CONTENT_HANDSHAKE, c,
                        n);
  outside = feed (&f->server, alone);
  g_assert_cmpint (outside, ==, SC_ERR_UNEXPECTED);

  reconnect (f);
  recs = client_message_records (f, msg);
  between = forge_record (test_peer_secret (&f->client, "c_ap_traffic_0"), 2, SC_CONTENT_HANDSHAKE,
                          c, n);
  g_assert_cmpint (feed (&f->server, recs->pdata[0]), ==, SC_OK);
  g_assert_cmpint (feed (&f->server, recs->pdata[1]), ==, SC_OK);
  g_assert_cmpint (feed (&f->server, between), ==, outside);
  g_assert_null (f->server.s->reasm);
  assert_failed (&f->server, outside);
  g_assert_cmpuint (f->server.messages->len, ==, 0);
}

/* A large valid record of another type between two fragments (a
 * NewSessionTicket to a client) is processed, and the message around it
 * still arrives intact: the bytes it was opened onto are put back. */
static void
test_in_place_large_ticket_between_fragments (Fixture *f, gconstpointer data)
{
  g_autoptr (GBytes) nst = ticket_content (SC_MAX_TICKET_LEN);
  const guint32 total = 3 * SC_MAX_FRAGMENT + 700;
  g_autoptr (GBytes) msg = pattern (total, 8);
  const guint8 *m = g_bytes_get_data (msg, NULL);
  const uint8_t *secret;
  uint64_t seq;
  gsize n;
  const guint8 *c = g_bytes_get_data (nst, &n);

  test_connect (&f->client, &f->server);
  secret = test_peer_secret (&f->server, "s_ap_traffic_0");
  seq = f->client.s->sec->recv.seq;
  for (guint32 off = 0; off < total; off += SC_MAX_FRAGMENT)
    {
      g_autoptr (GBytes) frag = forge_fragment (secret, seq++, 1, total, off, m + off,
                                                MIN (SC_MAX_FRAGMENT, total - off));

      g_assert_cmpint (feed (&f->client, frag), ==, SC_OK);
      if (off > 0 && off < total - SC_MAX_FRAGMENT)
        {
          g_autoptr (GBytes) ticket = forge_record (secret, seq++, SC_CONTENT_HANDSHAKE, c, n);

          g_assert_cmpint (feed (&f->client, ticket), ==, SC_OK);
        }
    }
  g_assert_cmpuint (f->client.tickets, ==, 2);
  g_assert_cmpuint (f->client.resumption.ticket_len, ==, SC_MAX_TICKET_LEN);
  g_assert_cmpuint (f->client.resumption.ticket[SC_MAX_TICKET_LEN - 1], ==, 0xab);
  assert_one_message (&f->client, msg);
  g_assert_cmpint (sc_session_get_state (f->client.s), ==, SC_STATE_CONNECTED);
}

/* A host that takes every message it can (sc_session_take_message). */
typedef struct
{
  GPtrArray *taken;     /* uint8_t * from sc_session_take_message, or NULL */
  GPtrArray *reported;  /* GBytes: the event's bytes, copied in the event */
  GArray *same_pointer; /* gboolean: taken == ev->data */
  GArray *second_take;  /* gboolean: a second take in the same event gave NULL */
} Taker;

static Taker taker;

static void
taking_event (void *user, ScSession *s, const ScEvent *ev)
{
  uint8_t *msg;
  gboolean same, second_null;

  if (ev->type != SC_EVENT_MESSAGE)
    return;
  g_ptr_array_add (taker.reported, g_bytes_new (ev->data, ev->len));
  msg = sc_session_take_message (s);
  same = msg == ev->data;
  second_null = sc_session_take_message (s) == NULL;
  g_ptr_array_add (taker.taken, msg);
  g_array_append_val (taker.same_pointer, same);
  g_array_append_val (taker.second_take, second_null);
}

static void
taker_start (Fixture *f)
{
  taker.taken = g_ptr_array_new_with_free_func ((GDestroyNotify) sc_message_free);
  taker.reported = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  taker.same_pointer = g_array_new (FALSE, FALSE, sizeof (gboolean));
  taker.second_take = g_array_new (FALSE, FALSE, sizeof (gboolean));
  test_connect (&f->client, &f->server);
  f->server.s->ctx.event = taking_event;
}

static void
taker_stop (void)
{
  g_ptr_array_unref (taker.taken);
  g_ptr_array_unref (taker.reported);
  g_array_unref (taker.same_pointer);
  g_array_unref (taker.second_take);
  memset (&taker, 0, sizeof taker);
}

/* sc_session_take_message in the event of a message of several records
 * returns the event's own data (no copy) with the bytes sent, once; the
 * session neither wipes nor frees it after the event (the bytes are still
 * there when the host reads them later; under ASan any use after free or
 * double free fails), and the next large message gets a buffer of its own. */
static void
test_take_message_is_event_data (Fixture *f, gconstpointer data)
{
  g_autoptr (GBytes) one = pattern (3 * SC_MAX_FRAGMENT + 300, 1);
  g_autoptr (GBytes) two = pattern (2 * SC_MAX_FRAGMENT + 1, 2);
  GBytes *sent[2] = { one, two };
  gsize n;
  const uint8_t *p;

  taker_start (f);
  for (guint i = 0; i < G_N_ELEMENTS (sent); i++)
    {
      p = g_bytes_get_data (sent[i], &n);
      g_assert_cmpint (sc_session_send (f->client.s, p, n, NULL, &f->client.out), ==, SC_OK);
    }
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_OK);
  g_assert_cmpuint (taker.taken->len, ==, 2);
  for (guint i = 0; i < G_N_ELEMENTS (sent); i++)
    {
      const uint8_t *taken = g_ptr_array_index (taker.taken, i);

      g_assert_nonnull (taken);
      g_assert_true (g_array_index (taker.same_pointer, gboolean, i));
      g_assert_true (g_array_index (taker.second_take, gboolean, i));
      g_assert_true (g_bytes_equal (g_ptr_array_index (taker.reported, i), sent[i]));
      g_assert_cmpmem (taken, g_bytes_get_size (sent[i]), g_bytes_get_data (sent[i], NULL),
                       g_bytes_get_size (sent[i]));
    }
  g_assert_true (g_ptr_array_index (taker.taken, 0) != g_ptr_array_index (taker.taken, 1));
  g_assert_null (f->server.s->reasm);
  /* the session goes on */
  g_assert_cmpint (sc_session_send (f->server.s, (const uint8_t *) "on", 2, NULL, &f->server.out),
                   ==, SC_OK);
  g_assert_cmpint (test_pump (&f->server, &f->client), ==, SC_OK);
  g_assert_cmpuint (f->client.messages->len, ==, 1);
  taker_stop (); /* sc_message_free on each */
}

/* A message of one record is only lent: sc_session_take_message gives NULL
 * in its event (and the event still reports the bytes); so does a call
 * outside any event, even in the middle of a message, which then completes
 * intact. */
static void
test_take_message_null_when_lent (Fixture *f, gconstpointer data)
{
  g_autoptr (GBytes) small = pattern (SC_MAX_FRAGMENT, 3);
  g_autoptr (GBytes) large = pattern (2 * SC_MAX_FRAGMENT + 500, 4);
  g_autoptr (GPtrArray) recs = NULL;
  gsize n;
  const uint8_t *p = g_bytes_get_data (small, &n);

  taker_start (f);
  g_assert_null (sc_session_take_message (f->server.s));
  g_assert_cmpint (sc_session_send (f->client.s, p, n, NULL, &f->client.out), ==, SC_OK);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_OK);
  g_assert_cmpuint (taker.taken->len, ==, 1);
  g_assert_null (g_ptr_array_index (taker.taken, 0));
  g_assert_true (g_bytes_equal (g_ptr_array_index (taker.reported, 0), small));

  recs = client_message_records (f, large);
  g_assert_cmpuint (recs->len, ==, 3);
  g_assert_cmpint (feed (&f->server, recs->pdata[0]), ==, SC_OK);
  g_assert_cmpint (feed (&f->server, recs->pdata[1]), ==, SC_OK);
  g_assert_nonnull (f->server.s->reasm);
  g_assert_null (sc_session_take_message (f->server.s));
  g_assert_nonnull (f->server.s->reasm);
  g_assert_cmpint (feed (&f->server, recs->pdata[2]), ==, SC_OK);
  g_assert_cmpuint (taker.taken->len, ==, 2);
  g_assert_nonnull (g_ptr_array_index (taker.taken, 1));
  g_assert_cmpmem (g_ptr_array_index (taker.taken, 1), g_bytes_get_size (large),
                   g_bytes_get_data (large, NULL), g_bytes_get_size (large));
  taker_stop ();
}

/* A host that does not take a message leaves it to the session, which frees
 * it after the event (ASan's leak check fails otherwise) and reassembles the
 * next one in a new buffer. */
static void
test_untaken_message_freed_by_session (Fixture *f, gconstpointer data)
{
  test_connect (&f->client, &f->server);
  send_and_check (&f->client, &f->server, 3 * SC_MAX_FRAGMENT + 1);
  g_assert_null (f->server.s->reasm);
  send_and_check (&f->client, &f->server, 2 * SC_MAX_FRAGMENT + 1);
  g_assert_null (f->server.s->reasm);
  sc_message_free (NULL); /* allowed */
}

/* ==== configuration ===================================================== */

static void
test_config_rejected (Fixture *f, gconstpointer data)
{
  ScSessionConfig c;
  ScProtoCtx ctx = { 0 };
  int err = 0;

  sc_session_config_init (&c, SC_ROLE_SERVER);
  g_assert_null (sc_session_new (&c, &ctx, &err)); /* no clocks, no identity */
  g_assert_cmpint (err, ==, SC_ERR_INVALID_ARG);
  f->server.cfg.limits.rekey_after_records = f->server.cfg.limits.reject_after_records;
  g_assert_null (sc_session_new (&f->server.cfg, &ctx, &err));
  g_assert_cmpint (err, ==, SC_ERR_INVALID_ARG);
}

/* ==== alerts, callbacks, header-time checks (review findings) ========== */

/* A plaintext ALERT after protected records: refused, and nothing is sent
 * back: never an alert in answer to an alert (PROTOCOL.md 8.2). */
static void
test_alert_late_plaintext (Fixture *f, gconstpointer data)
{
  uint8_t alert[5] = { SC_RECORD_ALERT, 1, 0, 1, SC_ALERT_HANDSHAKE_FAILURE };

  test_connect (&f->client, &f->server);
  g_assert_cmpint (sc_session_recv (f->server.s, alert, sizeof alert, &f->server.out), ==,
                   SC_ERR_UNEXPECTED);
  g_assert_cmpuint (f->server.out.len, ==, 0);
}

static void
test_alert_malformed (Fixture *f, gconstpointer data)
{
  uint8_t two[6] = { SC_RECORD_ALERT, 1, 0, 2, 1, 1 };
  uint8_t huge[4] = { SC_RECORD_ALERT, 1, 0x50, 0x00 };

  test_peer_start (&f->server);
  g_assert_cmpint (sc_session_recv (f->server.s, two, sizeof two, &f->server.out), ==,
                   SC_ERR_DECODE);
  g_assert_cmpuint (f->server.out.len, ==, 0);
  test_peer_start (&f->server);
  g_assert_cmpint (sc_session_recv (f->server.s, huge, sizeof huge, &f->server.out), ==,
                   SC_ERR_RECORD_OVERFLOW);
  g_assert_cmpuint (f->server.out.len, ==, 0);
}

/* An early plaintext ALERT is the peer's verdict: reported, not answered. */
static void
test_alert_early (Fixture *f, gconstpointer data)
{
  uint8_t alert[5] = { SC_RECORD_ALERT, 1, 0, 1, SC_ALERT_PROTOCOL_VERSION };
  ScSessionInfo info;

  test_peer_start (&f->server);
  g_assert_cmpint (sc_session_recv (f->server.s, alert, sizeof alert, &f->server.out), ==,
                   SC_ERR_PEER_ALERT);
  sc_session_get_info (f->server.s, &info);
  g_assert_cmpint (info.peer_alert, ==, SC_ALERT_PROTOCOL_VERSION);
  g_assert_cmpuint (f->server.out.len, ==, 0);
}

static void
test_error_malformed (Fixture *f, gconstpointer data)
{
  guint8 two[2] = { 1, 2 };
  Replacement r = { SC_CONTENT_ERROR, two, sizeof two };
  g_autoptr (GPtrArray) recs = client_records (f, 1);
  g_autoptr (GBytes) forged = test_rewrite_record (
      recs->pdata[0], test_peer_secret (&f->client, "c_ap_traffic_0"), 0, replace_plaintext, &r);

  g_assert_cmpint (feed (&f->server, forged), ==, SC_ERR_DECODE);
  g_assert_cmpuint (f->server.out.len, ==, 0);
}

/* A callback that calls back into the session is refused, not obeyed. */
static int reentry_result;

static void
reentering_event (void *user, ScSession *s, const ScEvent *ev)
{
  ScBuffer scratch;

  if (ev->type != SC_EVENT_KEY_UPDATE || ev->sending)
    return;
  sc_buffer_init (&scratch);
  reentry_result = sc_session_close (s, SC_CLOSE_NORMAL, &scratch);
  sc_buffer_clear (&scratch);
}

static void
test_callback_reentry_refused (Fixture *f, gconstpointer data)
{
  test_connect (&f->client, &f->server);
  f->server.s->ctx.event = reentering_event;
  reentry_result = 0;
  g_assert_cmpint (sc_session_key_update (f->client.s, TRUE, &f->client.out), ==, SC_OK);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_OK);
  g_assert_cmpint (reentry_result, ==, SC_ERR_INVALID_STATE);
  g_assert_cmpint (sc_session_get_state (f->server.s), ==, SC_STATE_CONNECTED);
  assert_epochs (&f->server, 1, 1);
}

/* Checks that need only the header fail before the body arrives. */
static void
test_header_checked_early (Fixture *f, gconstpointer data)
{
  uint8_t hdr[4] = { SC_RECORD_PROTECTED, 1, 0x40, 0x11 };

  test_peer_start (&f->server);
  g_assert_cmpint (sc_session_recv (f->server.s, hdr, sizeof hdr, &f->server.out), ==,
                   SC_ERR_UNEXPECTED);
}

/* A record that would take its key past the byte limit is refused on its
 * header, before it is read or opened. */
static void
test_header_key_exhausted (Fixture *f, gconstpointer data)
{
  g_autofree uint8_t *big = g_malloc0 (SC_MAX_FRAGMENT);
  g_autoptr (GPtrArray) recs = NULL;

  f->server.cfg.limits.reject_after_bytes = SC_MAX_RECORD_PLAINTEXT + 100;
  f->server.cfg.limits.rekey_after_bytes = 100;
  test_connect (&f->client, &f->server);
  sc_session_send (f->client.s, big, 1000, NULL, &f->client.out);
  sc_session_send (f->client.s, big, SC_MAX_FRAGMENT, NULL, &f->client.out);
  recs = test_split_records (&f->client.out);
  g_assert_cmpint (feed (&f->server, recs->pdata[0]), ==, SC_OK);
  g_assert_cmpint (sc_session_recv (f->server.s, g_bytes_get_data (recs->pdata[1], NULL),
                                    SC_RECORD_HEADER_LEN, &f->server.out),
                   ==, SC_ERR_KEY_EXHAUSTED);
}

static void
test_handshake_type_range (Fixture *f, gconstpointer data)
{
  uint8_t bad[8] = { SC_RECORD_HANDSHAKE, 1, 0, 4, 9, 0, 0, 0 };
  uint8_t reserved[8] = { SC_RECORD_HANDSHAKE, 1, 0, 4, SC_HS_NEW_SESSION_TICKET, 0, 0, 0 };

  test_peer_start (&f->server);
  g_assert_cmpint (sc_session_recv (f->server.s, bad, sizeof bad, &f->server.out), ==,
                   SC_ERR_DECODE);
  test_peer_start (&f->server);
  g_assert_cmpint (sc_session_recv (f->server.s, reserved, sizeof reserved, &f->server.out), ==,
                   SC_ERR_UNEXPECTED);
}

/* The first fragment is checked against our limit before its offset. */
static void
test_fragment_check_order (Fixture *f, gconstpointer data)
{
  guint8 frag[SC_MESSAGE_HEADER_LEN + 1] = { 0 };
  Replacement r = { SC_CONTENT_MESSAGE, frag, sizeof frag };
  g_autoptr (GPtrArray) recs = client_records (f, 1);
  g_autoptr (GBytes) forged = NULL;

  sc_put_u64 (frag, 1);
  sc_put_u32 (frag + 8, SC_DEFAULT_MAX_MESSAGE_SIZE + 1);
  sc_put_u32 (frag + 12, 1);
  forged = test_rewrite_record (recs->pdata[0], test_peer_secret (&f->client, "c_ap_traffic_0"), 0,
                                replace_plaintext, &r);
  g_assert_cmpint (feed (&f->server, forged), ==, SC_ERR_MESSAGE_TOO_LARGE);
}

/* A configured key pair whose halves do not match is refused. */
static void
test_config_mismatched_identity (Fixture *f, gconstpointer data)
{
  ScProtoCtx ctx = { .wall_ms = zero_clock, .mono_ms = zero_clock, .random = sc_random_system };
  int err = 0;

  f->server.identity.pub[SC_P256_POINT_LEN - 1] ^= 1;
  g_assert_null (sc_session_new (&f->server.cfg, &ctx, &err));
  g_assert_cmpint (err, ==, SC_ERR_INVALID_ARG);
}

static void
test_config_chain_lengths (Fixture *f, gconstpointer data)
{
  ScProtoCtx ctx = { .wall_ms = zero_clock, .mono_ms = zero_clock, .random = sc_random_system };
  g_autoptr (GBytes) leaf = make_cert (&f->server.identity, "server");
  const uint8_t *chain[2];
  size_t lens[2];
  int err = 0;

  chain[0] = g_bytes_get_data (leaf, &lens[0]);
  chain[1] = chain[0];
  lens[1] = SIZE_MAX - 8; /* would wrap a naive sum */
  f->server.cfg.cert_chain = chain;
  f->server.cfg.cert_chain_lens = lens;
  f->server.cfg.n_certs = 2;
  g_assert_null (sc_session_new (&f->server.cfg, &ctx, &err));
  lens[1] = 20000; /* too long for one Identity message */
  g_assert_null (sc_session_new (&f->server.cfg, &ctx, &err));
  chain[1] = NULL;
  lens[1] = 10;
  g_assert_null (sc_session_new (&f->server.cfg, &ctx, &err));
  g_assert_cmpint (err, ==, SC_ERR_INVALID_ARG);
}

#define ADD(path, fn) \
  g_test_add ("/session/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
#define ADD_BAD(name, bad)                                                               \
  g_test_add ("/session/message/in-place/fragment-" name "-rejected", Fixture,           \
              GINT_TO_POINTER (bad), fixture_setup, test_in_place_bad_fragment_rejected, \
              fixture_teardown)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("handshake/server-auth", test_handshake_server_auth);
  ADD ("handshake/mutual", test_handshake_mutual);
  ADD ("handshake/optional-anonymous", test_handshake_optional_anonymous);
  ADD ("handshake/required-missing", test_handshake_required_missing);
  ADD ("handshake/pin-match", test_handshake_pin_match);
  ADD ("handshake/pin-mismatch", test_handshake_pin_mismatch);
  ADD ("handshake/client-untrusted", test_handshake_client_untrusted);
  ADD ("handshake/timeout", test_handshake_timeout);
  ADD ("handshake/cert-chain", test_handshake_cert_chain);
  ADD ("handshake/cert-chain-wrong-leaf", test_cert_chain_wrong_leaf);
  ADD ("handshake/intercepted-unedited", test_unedited_flight_connects);
  ADD ("handshake/bad-signature", test_bad_signature);
  ADD ("handshake/bad-server-finished", test_bad_finished);
  ADD ("handshake/bad-client-finished", test_bad_client_finished);
  ADD ("handshake/wrong-server-identity", test_wrong_server_identity);
  ADD ("hello/rebuilt-ok", test_hello_rebuilt_ok);
  ADD ("hello/version-downgrade", test_version_downgrade);
  ADD ("hello/version-none-common", test_version_none_common);
  ADD ("hello/version-not-offered", test_version_not_offered);
  ADD ("hello/stale-timestamp", test_stale_timestamp);
  ADD ("hello/future-timestamp", test_future_timestamp);
  ADD ("hello/skew-edge-accepted", test_skew_edge);
  ADD ("hello/stale-server-hello", test_stale_server_hello);
  ADD ("hello/off-curve-point", test_off_curve_point);
  ADD ("hello/compressed-point", test_compressed_point);
  ADD ("hello/zero-point", test_zero_point);
  ADD ("message/sizes", test_message_sizes);
  ADD ("message/byte-by-byte", test_message_byte_by_byte);
  ADD ("message/batch-ack", test_message_batch_ack);
  ADD ("message/too-large-local", test_message_too_large_local);
  ADD ("message/too-large-remote", test_message_too_large_remote);
  ADD ("message/before-handshake", test_message_before_handshake);
  ADD ("message/under-handshake-key", test_message_under_handshake_key);
  ADD ("message/bad-id", test_bad_message_id);
  ADD ("record/tamper-ciphertext", test_tamper_ciphertext);
  ADD ("record/tamper-tag", test_tamper_tag);
  ADD ("record/tamper-header-version", test_tamper_header);
  ADD ("record/tamper-header-type", test_tamper_header_type);
  ADD ("record/replay", test_replay);
  ADD ("record/reorder", test_reorder);
  ADD ("record/drop", test_drop);
  ADD ("record/truncated", test_truncated);
  ADD ("record/truncated-at-boundary", test_truncated_at_boundary);
  ADD ("record/oversize", test_oversize_record);
  ADD ("record/oversize-connected", test_oversize_record_connected);
  ADD ("record/unknown-inner-type", test_unknown_inner_type);
  ADD ("content/ack-beyond-sent", test_ack_beyond_sent);
  ADD ("content/unsolicited-pong", test_unsolicited_pong);
  ADD ("content/handshake-after-connected", test_handshake_after_connected);
  ADD ("rekey/records", test_rekey_records);
  ADD ("rekey/bytes", test_rekey_bytes);
  ADD ("rekey/time", test_rekey_time);
  ADD ("rekey/requested", test_rekey_requested);
  ADD ("rekey/reject-after-limit", test_rekey_reject_after);
  ADD ("heartbeat/ping-pong", test_heartbeat);
  ADD ("heartbeat/dead-peer", test_heartbeat_dead_peer);
  ADD ("close/clean", test_close);
  ADD ("exporter/agree", test_exporter);
  ADD ("config/rejected", test_config_rejected);
  ADD ("config/mismatched-identity", test_config_mismatched_identity);
  ADD ("config/chain-lengths", test_config_chain_lengths);
  ADD ("alert/late-plaintext-not-answered", test_alert_late_plaintext);
  ADD ("alert/malformed-not-answered", test_alert_malformed);
  ADD ("alert/early-reported", test_alert_early);
  ADD ("alert/malformed-error-not-answered", test_error_malformed);
  ADD ("callback/reentry-refused", test_callback_reentry_refused);
  ADD ("record/header-checked-early", test_header_checked_early);
  ADD ("record/header-key-exhausted", test_header_key_exhausted);
  ADD ("hello/handshake-type-range", test_handshake_type_range);
  ADD ("message/fragment-check-order", test_fragment_check_order);
  ADD ("message/in-place/sizes-around-threshold-intact", test_in_place_sizes_intact);
  ADD ("message/in-place/record-per-call-and-straddling-calls-intact",
       test_in_place_split_delivery_intact);
  ADD ("message/in-place/fragment-cuts-around-limits-intact", test_in_place_fragment_cuts_intact);
  ADD ("message/in-place/key-update-between-fragments-intact",
       test_in_place_key_update_between_fragments);
  ADD ("message/in-place/tampered-middle-record-fails-as-small-record",
       test_in_place_tampered_fragment_fails_as_small);
  ADD ("message/in-place/forged-unchanged-fragment-accepted",
       test_in_place_forged_fragment_accepted);
  ADD_BAD ("offset-ahead", BAD_OFFSET_AHEAD);
  ADD_BAD ("offset-behind", BAD_OFFSET_BEHIND);
  ADD_BAD ("offset-zero", BAD_OFFSET_START);
  ADD_BAD ("id-next", BAD_ID_NEXT);
  ADD_BAD ("new-message-mid-message", BAD_ID_SAME_START);
  ADD_BAD ("total-more", BAD_TOTAL_MORE);
  ADD_BAD ("total-less", BAD_TOTAL_LESS);
  ADD_BAD ("one-byte-past-end", BAD_TOO_LONG);
  ADD ("message/in-place/large-handshake-refused-as-outside-a-message",
       test_in_place_large_handshake_refused_as_outside);
  ADD ("message/in-place/large-ticket-between-fragments-message-intact",
       test_in_place_large_ticket_between_fragments);
  ADD ("message/take/returns-event-data-caller-owns-it", test_take_message_is_event_data);
  ADD ("message/take/null-for-one-record-and-outside-event", test_take_message_null_when_lent);
  ADD ("message/take/untaken-freed-by-session", test_untaken_message_freed_by_session);
  return g_test_run ();
}
