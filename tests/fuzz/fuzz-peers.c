/* fuzz-peers.c: see fuzz-peers.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "fuzz-peers.h"

#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* ==== the server's certificate ========================================== */

/* A self-signed certificate for the server's identity key, made once per
 * process. Every field is fixed and the signature is RFC 6979 (reproducible),
 * so the DER is the same in gen-corpus and in every fuzz process: recorded
 * handshakes that carry it still verify. */
static uint8_t *server_cert;
static size_t server_cert_len;

static void
make_server_cert (const ScP256Key *key)
{
  gnutls_x509_privkey_t xkey;
  gnutls_privkey_t pkey;
  gnutls_x509_crt_t crt;
  gnutls_datum_t x = { (unsigned char *) key->pub + 1, SC_P256_COORD_LEN };
  gnutls_datum_t y = { (unsigned char *) key->pub + 1 + SC_P256_COORD_LEN, SC_P256_COORD_LEN };
  gnutls_datum_t k = { (unsigned char *) key->d, SC_P256_SCALAR_LEN };
  gnutls_datum_t der = { NULL, 0 };
  const time_t not_before = 1767139200; /* 2025-12-31T00:00:00Z */

  g_assert_cmpint (gnutls_x509_privkey_init (&xkey), ==, 0);
  g_assert_cmpint (
      gnutls_x509_privkey_import_ecc_raw (xkey, GNUTLS_ECC_CURVE_SECP256R1, &x, &y, &k), ==, 0);
  g_assert_cmpint (gnutls_privkey_init (&pkey), ==, 0);
  g_assert_cmpint (gnutls_privkey_import_x509 (pkey, xkey, 0), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_version (crt, 3), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_serial (crt, "\x01", 1), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_activation_time (crt, not_before), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_expiration_time (crt, not_before + 3650 * 86400), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0,
                                                  "fuzz.securecomm.test", 20),
                   ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_key (crt, xkey), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_privkey_sign (crt, crt, pkey, GNUTLS_DIG_SHA256,
                                                 GNUTLS_PRIVKEY_FLAG_REPRODUCIBLE),
                   ==, 0);
  g_assert_cmpint (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_DER, &der), ==, 0);
  server_cert = g_memdup2 (der.data, der.size);
  server_cert_len = der.size;
  gnutls_free (der.data);
  gnutls_x509_crt_deinit (crt);
  gnutls_privkey_deinit (pkey);
  gnutls_x509_privkey_deinit (xkey);
}

/* ==== peers ============================================================= */

void
fuzz_peers_init (TestPeer *client, TestPeer *server, unsigned variant)
{
  static const ScClientAuth auth[] = { SC_CLIENT_AUTH_NONE, SC_CLIENT_AUTH_OPTIONAL,
                                       SC_CLIENT_AUTH_OPTIONAL, SC_CLIENT_AUTH_REQUIRED };
  static const uint8_t *chain[2];
  static size_t chain_lens[2];
  unsigned a = variant & FUZZ_VARIANT_AUTH_MASK;

  test_peer_init (client, SC_ROLE_CLIENT, "client", a >= 2);
  test_peer_init (server, SC_ROLE_SERVER, "server", TRUE);
  server->cfg.client_auth = auth[a];
  if (variant & FUZZ_VARIANT_CHAIN)
    {
      if (server_cert == NULL)
        make_server_cert (&server->identity);
      /* Leaf and a stand-in intermediate: the core checks only the leaf. */
      chain[0] = chain[1] = server_cert;
      chain_lens[0] = chain_lens[1] = server_cert_len;
      server->cfg.cert_chain = chain;
      server->cfg.cert_chain_lens = chain_lens;
      server->cfg.n_certs = 2;
    }
}

void
fuzz_drop_output (TestPeer *p)
{
  sc_buffer_consume (&p->out, p->out.len);
}

void
fuzz_take_output (TestPeer *p, ScSha256 *hash)
{
  if (hash != NULL)
    sc_sha256_update (hash, p->out.data, p->out.len);
  fuzz_drop_output (p);
}

void
fuzz_outcome_take (FuzzOutcome *o, const TestPeer *p, const ScSha256 *output)
{
  ScSha256 h;

  memset (o, 0, sizeof *o);
  sc_session_get_info (p->s, &o->info);
  o->handshakes_done = p->handshakes_done;
  o->closed_reason = p->closed_reason;
  o->n_messages = p->messages->len;
  sc_sha256_init (&h);
  for (guint i = 0; i < p->messages->len; i++)
    {
      gsize len;
      const uint8_t *m = g_bytes_get_data (g_ptr_array_index (p->messages, i), &len);
      uint8_t hdr[16];

      sc_put_u64 (hdr, g_array_index (p->message_ids, guint64, i));
      sc_put_u64 (hdr + 8, len);
      sc_sha256_update (&h, hdr, sizeof hdr);
      sc_sha256_update (&h, m, len);
    }
  sc_sha256_peek (&h, o->messages);
  if (output != NULL)
    sc_sha256_peek (output, o->output);
}

void
fuzz_outcome_check_same (const FuzzOutcome *a, const FuzzOutcome *b, gboolean same_output)
{
  FUZZ_CHECK (a->info.state == b->info.state);
  FUZZ_CHECK (a->info.error == b->info.error);
  FUZZ_CHECK (a->info.peer_alert == b->info.peer_alert);
  FUZZ_CHECK (a->info.send_epoch == b->info.send_epoch);
  FUZZ_CHECK (a->info.recv_epoch == b->info.recv_epoch);
  FUZZ_CHECK (a->info.messages_received == b->info.messages_received);
  FUZZ_CHECK (a->info.bytes_received == b->info.bytes_received);
  FUZZ_CHECK (a->handshakes_done == b->handshakes_done);
  FUZZ_CHECK (a->closed_reason == b->closed_reason);
  FUZZ_CHECK (a->n_messages == b->n_messages);
  FUZZ_CHECK (memcmp (a->messages, b->messages, SC_SHA256_LEN) == 0);
  FUZZ_CHECK (a->consumed == b->consumed);
  if (same_output)
    FUZZ_CHECK (memcmp (a->output, b->output, SC_SHA256_LEN) == 0);
}

/* Delivers the first record of from->out to `to`, keeping the rest. */
static void
deliver_first_record (TestPeer *from, TestPeer *to)
{
  size_t n;

  g_assert_cmpuint (from->out.len, >=, SC_RECORD_HEADER_LEN);
  n = SC_RECORD_HEADER_LEN + sc_get_u16 (from->out.data + 2);
  g_assert_cmpuint (from->out.len, >=, n);
  g_assert_cmpint (sc_session_recv (to->s, from->out.data, n, &to->out), ==, SC_OK);
  sc_buffer_consume (&from->out, n);
}

void
fuzz_peers_advance (TestPeer *client, TestPeer *server, FuzzStage stage)
{
  test_peer_start (client);
  test_peer_start (server);
  if (stage == FUZZ_STAGE_STARTED)
    return;
  g_assert_cmpint (sc_session_start (client->s, &client->out), ==, SC_OK);
  if (stage == FUZZ_STAGE_HELLO_SENT)
    return;
  if (stage == FUZZ_STAGE_CONNECTED)
    {
      g_assert_cmpint (test_pump (client, server), ==, SC_OK);
      g_assert_cmpint (sc_session_get_state (client->s), ==, SC_STATE_CONNECTED);
      g_assert_cmpint (sc_session_get_state (server->s), ==, SC_STATE_CONNECTED);
      return;
    }
  deliver_first_record (client, server); /* the ClientHello */
  if (stage == FUZZ_STAGE_CLIENT_KEYED)
    {
      deliver_first_record (server, client); /* the ServerHello */
      g_assert_cmpint (sc_session_get_state (client->s), ==, SC_STATE_CLIENT_WAIT_IDENTITY);
    }
}

void
fuzz_peers_clear (TestPeer *client, TestPeer *server)
{
  test_peer_clear (client);
  test_peer_clear (server);
}

/* ==== snapshots ========================================================= */

/* A deep copy of a session at a quiet point: no partial record, no message
 * being reassembled, no peer Identity waiting for its Verify. The secrets
 * get their own secure block; ctx.user and cfg.identity point into the new
 * owner. Any other pointer in ScSession is borrowed configuration (the
 * static certificate chain). If ScSession gains a heap member, this must
 * copy it: the replay tests compare every input's outcome on a copy with a
 * fresh run, and AddressSanitizer sees a block freed twice. */
static ScSession *
clone_session (const ScSession *src, TestPeer *owner)
{
  ScSession *s = malloc (sizeof *s);

  g_assert_nonnull (s);
  FUZZ_CHECK (src->inbuf == NULL && src->inlen == 0);
  FUZZ_CHECK (src->reasm == NULL && src->peer_msg == NULL);
  FUZZ_CHECK (src->cfg.binding == NULL && src->peer.n_certs == 0);
  memcpy (s, src, sizeof *s);
  s->ctx.user = owner;
  if (src->cfg.identity != NULL)
    s->cfg.identity = &owner->identity;
  if (src->sec != NULL)
    {
      s->sec = sc_secure_alloc (sizeof *s->sec);
      g_assert_nonnull (s->sec);
      memcpy (s->sec, src->sec, sizeof *s->sec);
    }
  return s;
}

/* A copy of a peer: the harness makes the containers (whatever TestPeer
 * holds now), then the state that matters is copied over. Harness fields
 * not named here keep their initial values; the replay tests would notice
 * if one of them changed an outcome. */
static void
clone_peer (TestPeer *dst, const TestPeer *src)
{
  test_peer_init (dst, src->cfg.role, src->rng.seed, FALSE);
  dst->cfg = src->cfg;
  dst->identity = src->identity;
  if (src->cfg.identity != NULL)
    dst->cfg.identity = &dst->identity;
  dst->rng = src->rng;
  dst->wall_ms = src->wall_ms;
  dst->mono_ms = src->mono_ms;
  g_assert_cmpint (sc_buffer_append (&dst->out, src->out.data, src->out.len), ==, SC_OK);
  for (guint i = 0; i < src->messages->len; i++)
    g_ptr_array_add (dst->messages, g_bytes_ref (g_ptr_array_index (src->messages, i)));
  g_array_append_vals (dst->message_ids, src->message_ids->data, src->message_ids->len);
  dst->acked = src->acked;
  dst->handshakes_done = src->handshakes_done;
  dst->key_updates_sent = src->key_updates_sent;
  dst->key_updates_received = src->key_updates_received;
  dst->closed_reason = src->closed_reason;
  dst->pin_set = src->pin_set;
  memcpy (dst->pin, src->pin, sizeof dst->pin);
  dst->verify_calls = src->verify_calls;
  g_array_append_vals (dst->secrets, src->secrets->data, src->secrets->len);
  g_string_append_len (dst->trace, src->trace->str, (gssize) src->trace->len);
  dst->s = clone_session (src->s, dst);
}

typedef struct
{
  gboolean ready;
  TestPeer client, server;
} Snapshot;

void
fuzz_peers_setup (TestPeer *client, TestPeer *server, unsigned variant, FuzzStage stage,
                  gboolean fresh)
{
  /* Kept for the life of the process (reachable: not a leak). */
  static Snapshot snaps[FUZZ_VARIANT_MASK + 1][FUZZ_STAGE_CONNECTED + 1];
  Snapshot *snap = &snaps[variant & FUZZ_VARIANT_MASK][stage];

  if (fresh)
    {
      fuzz_peers_init (client, server, variant);
      fuzz_peers_advance (client, server, stage);
      return;
    }
  if (!snap->ready)
    {
      fuzz_peers_init (&snap->client, &snap->server, variant);
      fuzz_peers_advance (&snap->client, &snap->server, stage);
      snap->ready = TRUE;
    }
  clone_peer (client, &snap->client);
  clone_peer (server, &snap->server);
}

/* ==== the dead-session contract ========================================= */

void
fuzz_check_session_contract (TestPeer *p)
{
  ScSessionInfo info;
  uint8_t byte = 0;
  uint32_t next = 0;
  size_t before = p->out.len;

  sc_session_get_info (p->s, &info);
  if (info.state == SC_STATE_CLOSED)
    {
      FUZZ_CHECK (p->s->sec == NULL);
      FUZZ_CHECK (sc_session_recv (p->s, &byte, 1, &p->out) == SC_ERR_CLOSED);
      FUZZ_CHECK (sc_session_send (p->s, &byte, 1, NULL, &p->out) == SC_ERR_CLOSED);
      FUZZ_CHECK (sc_session_eof (p->s) == SC_ERR_CLOSED);
      FUZZ_CHECK (p->out.len == before);
      return;
    }
  if (info.state != SC_STATE_FAILED)
    {
      FUZZ_CHECK (info.error == 0);
      return;
    }
  FUZZ_CHECK (info.error < 0);
  FUZZ_CHECK (p->s->sec == NULL); /* every key wiped */
  FUZZ_CHECK (p->s->reasm == NULL && p->s->peer_msg == NULL && p->s->inbuf == NULL);
  FUZZ_CHECK (sc_session_recv (p->s, &byte, 1, &p->out) == info.error);
  FUZZ_CHECK (sc_session_send (p->s, &byte, 1, NULL, &p->out) == info.error);
  FUZZ_CHECK (sc_session_tick (p->s, &p->out, &next) == info.error);
  FUZZ_CHECK (sc_session_key_update (p->s, TRUE, &p->out) == info.error);
  FUZZ_CHECK (sc_session_close (p->s, SC_CLOSE_NORMAL, &p->out) == info.error);
  FUZZ_CHECK (sc_session_eof (p->s) == info.error);
  FUZZ_CHECK (p->out.len == before); /* nothing more goes out */
  sc_session_get_info (p->s, &info);
  FUZZ_CHECK (info.state == SC_STATE_FAILED);
}

/* ==== channels ========================================================== */

/* The receiver's logged secret for this direction: the handshake traffic
 * secret, or the application traffic secret of an epoch. */
static const uint8_t *
rx_secret (const FuzzChannel *c, gboolean app, guint epoch)
{
  char name[32];
  const uint8_t *secret;

  if (app)
    g_snprintf (name, sizeof name, "%c_ap_traffic_%u", c->dir, epoch);
  else
    g_snprintf (name, sizeof name, "%c_hs_traffic", c->dir);
  secret = test_peer_secret (c->rx, name);
  FUZZ_CHECK (secret != NULL);
  return secret;
}

static void
install (FuzzChannel *c, const uint8_t *secret, gboolean app)
{
  sc_traffic_key_clear (c->tk);
  g_assert_cmpint (sc_traffic_key_install (c->tk, secret, 0), ==, SC_OK);
  c->app = app;
}

void
fuzz_channel_init (FuzzChannel *c, TestPeer *rx)
{
  c->rx = rx;
  c->dir = rx->cfg.role == SC_ROLE_SERVER ? 'c' : 's';
  c->tk = g_malloc0 (sizeof *c->tk);
  c->app = FALSE;
  c->lost = FALSE;
  if (sc_session_get_state (rx->s) == SC_STATE_CONNECTED)
    install (c, rx_secret (c, TRUE, 0), TRUE);
  else
    install (c, rx_secret (c, FALSE, 0), FALSE);
}

void
fuzz_channel_clear (FuzzChannel *c)
{
  sc_traffic_key_clear (c->tk);
  g_free (c->tk);
  c->tk = NULL;
}

void
fuzz_channel_seal (FuzzChannel *c, uint8_t type, const uint8_t *content, size_t len,
                   GByteArray *record)
{
  uint8_t hdr[SC_RECORD_HEADER_LEN], nonce[SC_AES256_GCM_NONCE_LEN];
  size_t body = 1 + len + SC_AES256_GCM_TAG_LEN;
  guint start = record->len;
  uint8_t *p;

  g_assert_cmpuint (len, <=, SC_MAX_RECORD_PLAINTEXT + FUZZ_CONTENT_SLACK);
  sc_wire_put_record_header (hdr, SC_RECORD_PROTECTED, (uint16_t) body);
  g_byte_array_set_size (record, start + SC_RECORD_HEADER_LEN + (guint) body);
  p = record->data + start;
  memcpy (p, hdr, sizeof hdr);
  p[SC_RECORD_HEADER_LEN] = type;
  if (len > 0)
    memcpy (p + SC_RECORD_HEADER_LEN + 1, content, len);
  sc_traffic_key_nonce (c->tk, nonce);
  sc_aead_seal (&c->tk->aead, nonce, hdr, sizeof hdr, p + SC_RECORD_HEADER_LEN, 1 + len,
                p + SC_RECORD_HEADER_LEN);
  c->tk->seq++;
}

gboolean
fuzz_channel_open (FuzzChannel *c, const uint8_t *record, size_t len, GByteArray *plaintext)
{
  uint8_t nonce[SC_AES256_GCM_NONCE_LEN];

  if (len < SC_RECORD_HEADER_LEN + 1 + SC_AES256_GCM_TAG_LEN || record[0] != SC_RECORD_PROTECTED)
    return FALSE;
  g_byte_array_set_size (plaintext, (guint) (len - SC_RECORD_HEADER_LEN - SC_AES256_GCM_TAG_LEN));
  sc_traffic_key_nonce (c->tk, nonce);
  if (sc_aead_open (&c->tk->aead, nonce, record, SC_RECORD_HEADER_LEN,
                    record + SC_RECORD_HEADER_LEN, len - SC_RECORD_HEADER_LEN, plaintext->data)
      != 0)
    return FALSE;
  c->tk->seq++;
  return TRUE;
}

void
fuzz_channel_sync (FuzzChannel *c)
{
  ScSessionInfo info;
  ScSession *s = c->rx->s;

  if (s->inlen != 0)
    c->lost = TRUE;
  sc_session_get_info (s, &info);
  if (c->lost || s->sec == NULL || (info.state != SC_STATE_CONNECTED && c->app))
    return; /* out of step, dead or closed: nothing more to follow */
  if (!c->app && info.state == SC_STATE_CONNECTED)
    install (c, rx_secret (c, TRUE, 0), TRUE);
  if (c->app && info.recv_epoch != c->tk->epoch)
    {
      /* One KEY_UPDATE, one ratchet step (PROTOCOL.md 7.1), to the secret
       * the receiver logged for the new epoch. */
      FUZZ_CHECK (info.recv_epoch == c->tk->epoch + 1);
      g_assert_cmpint (sc_traffic_key_update (c->tk, 0), ==, SC_OK);
      FUZZ_CHECK (memcmp (c->tk->secret, rx_secret (c, TRUE, c->tk->epoch), SC_SECRET_LEN) == 0);
    }
  /* Implicit sequence numbers: both ends count the same records. */
  FUZZ_CHECK (s->sec->recv.active);
  FUZZ_CHECK (s->sec->recv.seq == c->tk->seq);
  FUZZ_CHECK (s->sec->recv.epoch == c->tk->epoch);
  FUZZ_CHECK (memcmp (s->sec->recv.secret, c->tk->secret, SC_SECRET_LEN) == 0);
}
