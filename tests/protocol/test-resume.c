/* test-resume.c: session resumption in the protocol core (PROTOCOL.md 4.7).
 *
 * A client and a server in one process with deterministic randomness and
 * clocks: full handshakes that issue tickets, resumed handshakes that sign
 * nothing and carry the stream's message ids over, and every way a ticket
 * can be unusable (each falls back to a full handshake or fails as the spec
 * says).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "harness.h"

#include <string.h>

typedef struct
{
  TestPeer client;
  TestPeer server;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  test_peer_init (&f->client, SC_ROLE_CLIENT, "client", GPOINTER_TO_INT (data));
  test_peer_init (&f->server, SC_ROLE_SERVER, "server", TRUE);
  if (GPOINTER_TO_INT (data))
    f->server.cfg.client_auth = SC_CLIENT_AUTH_REQUIRED;
  test_peer_enable_tickets (&f->server);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  test_peer_clear (&f->client);
  test_peer_clear (&f->server);
}

static void
send_text (TestPeer *p, const char *text, uint64_t expect_id)
{
  uint64_t id = 0;

  g_assert_cmpint (sc_session_send (p->s, (const uint8_t *) text, strlen (text), &id, &p->out), ==,
                   SC_OK);
  g_assert_cmpuint (id, ==, expect_id);
}

static void
assert_last_message (TestPeer *p, const char *text, uint64_t id)
{
  GBytes *b;

  g_assert_cmpuint (p->messages->len, >, 0);
  b = g_ptr_array_index (p->messages, p->messages->len - 1);
  g_assert_cmpmem (g_bytes_get_data (b, NULL), g_bytes_get_size (b), text, strlen (text));
  g_assert_cmpuint (g_array_index (p->message_ids, guint64, p->message_ids->len - 1), ==, id);
}

/* Both peers start over on a new "connection" and run the handshake. */
static int
reconnect (Fixture *f)
{
  test_peer_restart (&f->client);
  test_peer_restart (&f->server);
  g_assert_cmpint (sc_session_start (f->client.s, &f->client.out), ==, SC_OK);
  return test_pump (&f->client, &f->server);
}

/* A full handshake, one message each way, and the ticket in the client. */
static void
first_session (Fixture *f)
{
  test_connect (&f->client, &f->server);
  g_assert_true (f->client.have_ticket);
  g_assert_false (f->client.resumed);
  send_text (&f->client, "c1", 1);
  send_text (&f->server, "s1", 1);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_OK);
}

static void
assert_connected (Fixture *f)
{
  g_assert_cmpint (sc_session_get_state (f->client.s), ==, SC_STATE_CONNECTED);
  g_assert_cmpint (sc_session_get_state (f->server.s), ==, SC_STATE_CONNECTED);
}

/* The resumed handshake signs nothing, sends no Identity, keeps both
 * identities, and the message ids go on from where the stream was. */
static void
test_resume_basic (Fixture *f, gconstpointer data)
{
  uint64_t signs;
  const ScPeerIdentity *server_id, *client_id;
  uint8_t server_fp[SC_SHA256_LEN];
  guint verify_before = f->client.verify_calls;

  first_session (f);
  memcpy (server_fp, sc_session_peer_identity (f->client.s)->fingerprint, sizeof server_fp);
  signs = sc_p256_sign_count ();
  g_assert_cmpint (reconnect (f), ==, SC_OK);
  assert_connected (f);
  g_assert_cmpuint (sc_p256_sign_count (), ==, signs);
  g_assert_true (f->client.resumed);
  g_assert_true (f->server.resumed);
  g_assert_cmpuint (f->server.generation, ==, 2);
  g_assert_cmpuint (f->server.resume_calls, ==, 1);
  g_assert_cmpuint (f->client.verify_calls, ==, verify_before + 2); /* trust checked again */
  server_id = sc_session_peer_identity (f->client.s);
  g_assert_nonnull (server_id);
  g_assert_true (server_id->resumed);
  g_assert_cmpmem (server_id->fingerprint, SC_SHA256_LEN, server_fp, SC_SHA256_LEN);
  client_id = sc_session_peer_identity (f->server.s);
  if (GPOINTER_TO_INT (data))
    {
      uint8_t spki[SC_P256_SPKI_LEN];

      g_assert_nonnull (client_id);
      sc_p256_spki_encode (f->client.identity.pub, spki);
      g_assert_cmpmem (client_id->spki, sizeof spki, spki, sizeof spki);
    }
  else
    g_assert_null (client_id);
  send_text (&f->client, "c2", 2);
  send_text (&f->server, "s2", 2);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_OK);
  assert_last_message (&f->server, "c2", 2);
  assert_last_message (&f->client, "s2", 2);
  g_assert_cmpuint (f->client.tickets, ==, 2); /* a fresh ticket each time */
}

/* The resumed keys are new: the resumption secret and fresh ECDH shares
 * both feed them; and the psk and master secret are wiped. */
static void
test_resume_fresh_keys (Fixture *f, gconstpointer data)
{
  uint8_t first[SC_SECRET_LEN], psk[SC_SECRET_LEN], zero[SC_SECRET_LEN] = { 0 };

  first_session (f);
  memcpy (first, test_peer_secret (&f->client, "handshake_secret"), sizeof first);
  memcpy (psk, f->client.resumption.psk, sizeof psk);
  g_assert_cmpmem (psk, sizeof psk, test_peer_secret (&f->client, "resumption_secret"),
                   SC_SECRET_LEN);
  g_array_set_size (f->client.secrets, 0);
  g_assert_cmpint (reconnect (f), ==, SC_OK);
  g_assert_true (f->client.resumed);
  g_assert_nonnull (test_peer_secret (&f->client, "resumption_psk"));
  g_assert_cmpmem (test_peer_secret (&f->client, "resumption_psk"), SC_SECRET_LEN, psk, sizeof psk);
  g_assert_true (memcmp (test_peer_secret (&f->client, "handshake_secret"), first, sizeof first)
                 != 0);
  g_assert_cmpmem (f->client.s->sec->psk, SC_SECRET_LEN, zero, sizeof zero);
  g_assert_cmpmem (f->client.s->sec->master, SC_SECRET_LEN, zero, sizeof zero);
  g_assert_cmpmem (f->server.s->sec->psk, SC_SECRET_LEN, zero, sizeof zero);
  g_assert_cmpmem (f->server.s->sec->res, SC_SECRET_LEN, zero, sizeof zero);
}

/* A message that never reached the server is sent again after the
 * resumption with its own id; one that did is not: exactly once. */
static void
test_resume_redelivery (Fixture *f, gconstpointer data)
{
  first_session (f);
  send_text (&f->client, "c2", 2);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_OK);
  send_text (&f->client, "c3", 3); /* lost with the connection */
  sc_buffer_consume (&f->client.out, f->client.out.len);
  g_assert_cmpint (reconnect (f), ==, SC_OK);
  g_assert_true (f->client.resumed);
  g_assert_cmpuint (f->client.peer_recv_at_handshake, ==, 2);
  g_assert_cmpuint (f->server.last_request.client_recv_id, ==, 1);
  send_text (&f->client, "c3", 3);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_OK);
  g_assert_cmpuint (f->server.messages->len, ==, 3);
  assert_last_message (&f->server, "c3", 3);
}

/* Two resumptions in a row: each uses the ticket of the one before. */
static void
test_resume_twice (Fixture *f, gconstpointer data)
{
  first_session (f);
  g_assert_cmpint (reconnect (f), ==, SC_OK);
  g_assert_true (f->client.resumed);
  g_assert_cmpint (reconnect (f), ==, SC_OK);
  g_assert_true (f->client.resumed);
  g_assert_cmpuint (f->server.generation, ==, 3);
}

/* A full handshake after a refused ticket: a new stream, ids from 1, and
 * the signatures a full handshake makes. */
static void
assert_full_handshake (Fixture *f, uint64_t signs_before)
{
  assert_connected (f);
  g_assert_false (f->client.resumed);
  g_assert_false (f->server.resumed);
  g_assert_cmpuint (sc_p256_sign_count (), >, signs_before);
  send_text (&f->client, "new", 1);
  g_assert_cmpint (test_pump (&f->client, &f->server), ==, SC_OK);
  assert_last_message (&f->server, "new", 1);
}

static void
test_ticket_forged (Fixture *f, gconstpointer data)
{
  uint64_t signs;

  first_session (f);
  /* Right key id, random sealed part: fails authentication. */
  test_rng_fill (&f->client.rng, f->client.resumption.ticket + SC_TICKET_KEY_ID_LEN,
                 f->client.resumption.ticket_len - SC_TICKET_KEY_ID_LEN);
  signs = sc_p256_sign_count ();
  g_assert_cmpint (reconnect (f), ==, SC_OK);
  assert_full_handshake (f, signs);
  g_assert_cmpuint (f->server.resume_calls, ==, 0);
}

/* A flipped bit anywhere in the ticket (key id, nonce, sealed contents,
 * tag) means a full handshake; each full handshake brings a new ticket,
 * which the next round corrupts elsewhere. */
static void
test_ticket_corrupted (Fixture *f, gconstpointer data)
{
  first_session (f);
  for (gsize i = 0; i < f->client.resumption.ticket_len; i += 11)
    {
      uint64_t signs = sc_p256_sign_count ();

      f->client.resumption.ticket[i] ^= 0x01;
      g_assert_cmpint (reconnect (f), ==, SC_OK);
      assert_full_handshake (f, signs);
      g_assert_true (f->client.have_ticket);
    }
  g_assert_cmpuint (f->server.resume_calls, ==, 0);
  /* Uncorrupted, the latest ticket resumes. */
  g_assert_cmpint (reconnect (f), ==, SC_OK);
  g_assert_true (f->server.resumed);
}

static void
test_ticket_expired (Fixture *f, gconstpointer data)
{
  uint64_t signs;

  first_session (f);
  f->server.wall_ms += (uint64_t) SC_DEFAULT_TICKET_LIFETIME_S * 1000u; /* exactly at expiry */
  f->client.wall_ms = f->server.wall_ms;
  signs = sc_p256_sign_count ();
  g_assert_cmpint (reconnect (f), ==, SC_OK);
  assert_full_handshake (f, signs);
}

static void
test_ticket_just_before_expiry (Fixture *f, gconstpointer data)
{
  first_session (f);
  f->server.wall_ms += (uint64_t) SC_DEFAULT_TICKET_LIFETIME_S * 1000u - 1;
  f->client.wall_ms = f->server.wall_ms;
  g_assert_cmpint (reconnect (f), ==, SC_OK);
  g_assert_true (f->server.resumed);
}

/* A ticket used once cannot be used again: the stream moved on. */
static void
test_ticket_replayed (Fixture *f, gconstpointer data)
{
  ScResumption old;
  uint64_t signs;

  first_session (f);
  old = f->client.resumption;
  g_assert_cmpint (reconnect (f), ==, SC_OK);
  g_assert_true (f->server.resumed);
  old.sent_id = f->client.resumption.sent_id;
  old.recv_id = f->client.resumption.recv_id;
  f->client.resumption = old;
  signs = sc_p256_sign_count ();
  g_assert_cmpint (reconnect (f), ==, SC_OK);
  g_assert_cmpuint (f->server.resume_calls, ==, 2); /* asked, refused */
  assert_full_handshake (f, signs);
  sc_memzero (&old, sizeof old);
}

/* A ticket belongs to the identity it was issued to: a client with
 * another identity cannot even offer it. */
static void
test_ticket_other_client_identity (Fixture *f, gconstpointer data)
{
  ScProtoCtx ctx = { 0 };
  ScSession *s;
  ScSessionConfig cfg;
  ScP256Key other;
  uint8_t d[SC_P256_SCALAR_LEN];
  int err = 0;

  first_session (f);
  test_peer_restart (&f->client); /* records the ids and our fingerprint */
  cfg = f->client.cfg;
  memset (d, 0x42, sizeof d);
  g_assert_cmpint (sc_p256_key_from_scalar (&other, d), ==, 0);
  cfg.identity = &other;
  ctx = (ScProtoCtx) { .wall_ms = f->client.s->ctx.wall_ms,
                       .mono_ms = f->client.s->ctx.mono_ms,
                       .random = f->client.s->ctx.random,
                       .verify_peer = f->client.s->ctx.verify_peer,
                       .user = &f->client };
  s = sc_session_new (&cfg, &ctx, &err);
  g_assert_null (s);
  g_assert_cmpint (err, ==, SC_ERR_INVALID_ARG);
  sc_p256_key_clear (&other);
}

/* A ticket sealed by one server identity is not honoured by another, even
 * one that shares the ticket keys. */
static void
test_ticket_other_server_identity (Fixture *f, gconstpointer data)
{
  uint8_t d[SC_P256_SCALAR_LEN];
  uint64_t signs;

  first_session (f);
  memset (d, 0x17, sizeof d);
  g_assert_cmpint (sc_p256_key_from_scalar (&f->server.identity, d), ==, 0);
  f->client.pin_set = FALSE;
  signs = sc_p256_sign_count ();
  g_assert_cmpint (reconnect (f), ==, SC_OK);
  g_assert_cmpuint (f->server.resume_calls, ==, 0);
  assert_full_handshake (f, signs);
}

/* Key rotation: a ticket under the previous key still opens while that key
 * is configured, and not once it is retired. */
static void
test_ticket_key_rotation (Fixture *f, gconstpointer data)
{
  uint64_t signs;

  first_session (f); /* sealed under key 0 */
  f->server.ticket_keys[1] = f->server.ticket_keys[0];
  memset (f->server.ticket_keys[0].id, 'z', SC_TICKET_KEY_ID_LEN);
  test_rng_fill (&f->server.rng, f->server.ticket_keys[0].key, SC_AES256_GCM_KEY_LEN);
  g_assert_cmpint (reconnect (f), ==, SC_OK);
  g_assert_true (f->server.resumed); /* previous key, still accepted */
  /* The new ticket is under the new key; retire both old keys. */
  g_assert_cmpmem (f->client.resumption.ticket, SC_TICKET_KEY_ID_LEN, "zzzzzzzz",
                   SC_TICKET_KEY_ID_LEN);
  f->server.cfg.n_ticket_keys = 1;
  memset (f->server.ticket_keys[0].id, 'y', SC_TICKET_KEY_ID_LEN);
  signs = sc_p256_sign_count ();
  g_assert_cmpint (reconnect (f), ==, SC_OK);
  assert_full_handshake (f, signs);
}

/* The server's trust policy is asked again: a client it no longer trusts
 * gets no resumption (and then no full handshake either). */
static void
test_resume_trust_revoked_server (Fixture *f, gconstpointer data)
{
  first_session (f);
  f->server.pin_set = TRUE;
  memset (f->server.pin, 0xee, sizeof f->server.pin);
  g_assert_cmpint (reconnect (f), ==, SC_ERR_UNTRUSTED);
  g_assert_false (f->server.resumed);
  g_assert_cmpint (sc_session_get_state (f->server.s), ==, SC_STATE_FAILED);
}

/* And the client's: a pin that no longer matches the stored server
 * identity fails the resumed handshake with untrusted. */
static void
test_resume_trust_revoked_client (Fixture *f, gconstpointer data)
{
  first_session (f);
  f->client.pin_set = TRUE;
  memset (f->client.pin, 0xee, sizeof f->client.pin);
  test_peer_restart (&f->client);
  test_peer_restart (&f->server);
  g_assert_cmpint (sc_session_start (f->client.s, &f->client.out), ==, SC_OK);
  test_pump (&f->client, &f->server);
  g_assert_cmpint (sc_session_get_state (f->client.s), ==, SC_STATE_FAILED);
  g_assert_cmpint (f->client.s->error, ==, SC_ERR_UNTRUSTED);
}

/* Without ticket keys a server issues no tickets and ignores offered ones. */
static void
test_no_ticket_keys (Fixture *f, gconstpointer data)
{
  f->server.cfg.n_ticket_keys = 0;
  f->server.cfg.ticket_keys = NULL;
  test_connect (&f->client, &f->server);
  g_assert_false (f->client.have_ticket);
}

/* A server that claims to have delivered more than the client ever sent is
 * lying or broken: decode_error. */
static void
test_server_recv_id_too_high (Fixture *f, gconstpointer data)
{
  first_session (f);
  test_peer_restart (&f->client);
  test_peer_restart (&f->server);
  f->server.stream_recv_id = 5; /* the client sent 1 */
  g_assert_cmpint (sc_session_start (f->client.s, &f->client.out), ==, SC_OK);
  test_pump (&f->client, &f->server);
  g_assert_cmpint (f->client.s->error, ==, SC_ERR_DECODE);
}

/* The server's hello, rebuilt with the given extension block. */
static ScBuffer
server_hello_with (const ScBuffer *server_out, const uint8_t *ext, size_t ext_len)
{
  const uint8_t *body;
  size_t body_len;
  uint8_t type, hdr[SC_RECORD_HEADER_LEN];
  ScHello h;
  ScBuffer msg, rec;

  g_assert_cmpint (sc_wire_parse_handshake (server_out->data + SC_RECORD_HEADER_LEN,
                                            sc_get_u16 (server_out->data + 2), &type, &body,
                                            &body_len),
                   ==, SC_OK);
  g_assert_cmpint (sc_wire_parse_server_hello (body, body_len, &h), ==, SC_OK);
  sc_buffer_init (&msg);
  sc_buffer_init (&rec);
  g_assert_cmpint (sc_wire_build_hello (&msg, SC_HS_SERVER_HELLO, h.versions, 1, h.random,
                                        h.timestamp_ms, h.key_share, h.max_message_size, ext,
                                        ext_len),
                   ==, SC_OK);
  sc_wire_put_record_header (hdr, SC_RECORD_HANDSHAKE, (uint16_t) msg.len);
  sc_buffer_append (&rec, hdr, sizeof hdr);
  sc_buffer_append (&rec, msg.data, msg.len);
  sc_buffer_clear (&msg);
  return rec;
}

/* resumption_accept to a client that offered no ticket: unexpected. */
static void
test_accept_without_offer (Fixture *f, gconstpointer data)
{
  ScBuffer ext, sh;

  test_peer_start (&f->client);
  test_peer_start (&f->server);
  g_assert_cmpint (sc_session_start (f->client.s, &f->client.out), ==, SC_OK);
  g_assert_cmpint (
      sc_session_recv (f->server.s, f->client.out.data, f->client.out.len, &f->server.out), ==,
      SC_OK);
  sc_buffer_init (&ext);
  g_assert_cmpint (sc_wire_build_resumption_accept (&ext, 0), ==, SC_OK);
  sh = server_hello_with (&f->server.out, ext.data, ext.len);
  g_assert_cmpint (sc_session_recv (f->client.s, sh.data, sh.len, &f->client.out), ==,
                   SC_ERR_UNEXPECTED);
  sc_buffer_clear (&ext);
  sc_buffer_clear (&sh);
}

/* A ClientHello whose resumption_ticket extension is malformed is a
 * decode_error, not a silent full handshake. */
static void
test_malformed_ticket_extension (Fixture *f, gconstpointer data)
{
  static const uint8_t bad[][14] = {
    { 0x00, 0x01, 0x00, 0x02, 0x00, 0x00 },                            /* empty ticket */
    { 0x00, 0x01, 0x00, 0x0a, 0x00, 0x01, 0xaa, 0, 0, 0, 0, 0, 0, 0 }, /* id short by one */
  };
  static const size_t lens[] = { 6, 14 };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      uint8_t random[SC_RANDOM_LEN] = { 0 }, version = SC_VERSION_1, hdr[SC_RECORD_HEADER_LEN];
      ScBuffer msg, rec;
      size_t n = lens[i] < sizeof bad[i] ? lens[i] : sizeof bad[i];

      test_peer_start (&f->client);
      test_peer_start (&f->server);
      g_assert_cmpint (sc_session_start (f->client.s, &f->client.out), ==, SC_OK);
      sc_buffer_init (&msg);
      sc_buffer_init (&rec);
      g_assert_cmpint (sc_wire_build_hello (&msg, SC_HS_CLIENT_HELLO, &version, 1, random,
                                            f->server.wall_ms, f->server.identity.pub,
                                            SC_DEFAULT_MAX_MESSAGE_SIZE, bad[i], n),
                       ==, SC_OK);
      sc_wire_put_record_header (hdr, SC_RECORD_HANDSHAKE, (uint16_t) msg.len);
      sc_buffer_append (&rec, hdr, sizeof hdr);
      sc_buffer_append (&rec, msg.data, msg.len);
      g_assert_cmpint (sc_session_recv (f->server.s, rec.data, rec.len, &f->server.out), ==,
                       SC_ERR_DECODE);
      sc_buffer_clear (&msg);
      sc_buffer_clear (&rec);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn, mutual)                                                        \
  g_test_add ("/resume/" path, Fixture, GINT_TO_POINTER (mutual), fixture_setup, fn, \
              fixture_teardown)
  ADD ("basic/anonymous-client", test_resume_basic, FALSE);
  ADD ("basic/mutual", test_resume_basic, TRUE);
  ADD ("fresh-keys-and-wiped-psk", test_resume_fresh_keys, TRUE);
  ADD ("redelivery-exactly-once", test_resume_redelivery, FALSE);
  ADD ("twice", test_resume_twice, TRUE);
  ADD ("ticket/forged", test_ticket_forged, TRUE);
  ADD ("ticket/corrupted", test_ticket_corrupted, TRUE);
  ADD ("ticket/expired", test_ticket_expired, TRUE);
  ADD ("ticket/just-before-expiry", test_ticket_just_before_expiry, TRUE);
  ADD ("ticket/replayed", test_ticket_replayed, TRUE);
  ADD ("ticket/other-client-identity", test_ticket_other_client_identity, TRUE);
  ADD ("ticket/other-server-identity", test_ticket_other_server_identity, TRUE);
  ADD ("ticket/key-rotation", test_ticket_key_rotation, TRUE);
  ADD ("trust-revoked/server", test_resume_trust_revoked_server, TRUE);
  ADD ("trust-revoked/client", test_resume_trust_revoked_client, TRUE);
  ADD ("no-ticket-keys", test_no_ticket_keys, FALSE);
  ADD ("server-recv-id-too-high", test_server_recv_id_too_high, FALSE);
  ADD ("accept-without-offer", test_accept_without_offer, FALSE);
  ADD ("malformed-ticket-extension", test_malformed_ticket_extension, FALSE);
#undef ADD
  return g_test_run ();
}
