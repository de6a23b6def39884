/* harness.c: see harness.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "harness.h"

#include <string.h>

int
test_rng_fill (void *user, uint8_t *out, size_t len)
{
  TestRng *r = user;

  while (len > 0)
    {
      uint8_t block[SC_SHA256_LEN], ctr[8];
      ScSha256 h;
      size_t n = len < sizeof block ? len : sizeof block;

      sc_put_u64 (ctr, r->counter++);
      sc_sha256_init (&h);
      sc_sha256_update (&h, (const uint8_t *) r->seed, strlen (r->seed));
      sc_sha256_update (&h, ctr, sizeof ctr);
      sc_sha256_peek (&h, block);
      memcpy (out, block, n);
      out += n;
      len -= n;
    }
  return 0;
}

static int
peer_random (void *user, uint8_t *out, size_t len)
{
  return test_rng_fill (&((TestPeer *) user)->rng, out, len);
}

static uint64_t
peer_wall (void *user)
{
  return ((TestPeer *) user)->wall_ms;
}

static uint64_t
peer_mono (void *user)
{
  return ((TestPeer *) user)->mono_ms;
}

static void
peer_event (void *user, ScSession *s, const ScEvent *ev)
{
  TestPeer *p = user;

  switch (ev->type)
    {
    case SC_EVENT_HANDSHAKE_DONE:
      p->handshakes_done++;
      p->resumed = ev->resumed;
      p->peer_recv_at_handshake = ev->id;
      if (ev->stream_id != NULL)
        {
          p->have_stream = TRUE;
          memcpy (p->stream_id, ev->stream_id, SC_STREAM_ID_LEN);
          p->generation = ev->generation;
        }
      break;
    case SC_EVENT_TICKET:
      g_assert_cmpuint (ev->len, <=, sizeof p->resumption.ticket);
      memcpy (p->resumption.ticket, ev->data, ev->len);
      p->resumption.ticket_len = ev->len;
      memcpy (p->resumption.psk, ev->secret, SC_RESUMPTION_PSK_LEN);
      p->resumption.server = *sc_session_peer_identity (s);
      p->have_ticket = TRUE;
      p->tickets++;
      break;
    case SC_EVENT_MESSAGE:
      g_ptr_array_add (p->messages, g_bytes_new (ev->data, ev->len));
      g_array_append_val (p->message_ids, ev->id);
      if (p->take_messages)
        {
          uint8_t *owned = sc_session_take_message (s);

          /* the event's own bytes, and only once */
          g_assert_true (owned == NULL || owned == ev->data);
          g_assert_null (sc_session_take_message (s));
          sc_message_free (owned);
        }
      break;
    case SC_EVENT_ACKED:
      p->acked = ev->id;
      break;
    case SC_EVENT_KEY_UPDATE:
      if (ev->sending)
        p->key_updates_sent++;
      else
        p->key_updates_received++;
      break;
    case SC_EVENT_CLOSED:
      p->closed_reason = ev->reason;
      break;
    default:
      g_assert_not_reached ();
    }
}

/* The server's stream store: one stream, resumable at its current
 * generation, and only if the client cannot have more than we sent. */
static int
peer_resume (void *user, const ScResumeRequest *req, uint64_t *server_recv_id)
{
  TestPeer *p = user;

  p->resume_calls++;
  p->last_request = *req;
  if (!p->have_stream || memcmp (req->stream_id, p->stream_id, SC_STREAM_ID_LEN) != 0
      || req->generation != p->generation || req->client_recv_id > p->stream_sent_id)
    return -1;
  *server_recv_id = p->stream_recv_id;
  return 0;
}

static int
peer_verify (void *user, const ScPeerIdentity *id)
{
  TestPeer *p = user;

  p->verify_calls++;
  p->last_peer = *id;
  g_clear_pointer (&p->last_leaf, g_bytes_unref);
  if (id->n_certs > 0)
    p->last_leaf = g_bytes_new (id->certs[0], id->cert_lens[0]);
  if (p->pin_set && memcmp (p->pin, id->fingerprint, sizeof p->pin) != 0)
    return -1;
  return 0;
}

char *
test_hex (const uint8_t *p, size_t len)
{
  GString *s = g_string_sized_new (len * 2 + 1);

  for (size_t i = 0; i < len; i++)
    g_string_append_printf (s, "%02x", p[i]);
  return g_string_free (s, FALSE);
}

static void
peer_keylog (void *user, const char *label, const uint8_t *secret, size_t len)
{
  TestPeer *p = user;
  TestSecret ts = { .secret_name = g_intern_string (label) };
  g_autofree char *hex = test_hex (secret, len);

  g_assert_cmpuint (len, ==, SC_SECRET_LEN);
  memcpy (ts.secret, secret, len);
  g_array_append_val (p->secrets, ts);
  g_string_append_printf (p->trace, "%s = %s\n", label, hex);
}

void
test_peer_init (TestPeer *p, ScRole role, const char *seed, gboolean with_identity)
{
  memset (p, 0, sizeof *p);
  g_strlcpy (p->rng.seed, seed, sizeof p->rng.seed);
  sc_session_config_init (&p->cfg, role);
  sc_buffer_init (&p->out);
  p->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  p->message_ids = g_array_new (FALSE, FALSE, sizeof (guint64));
  p->secrets = g_array_new (FALSE, FALSE, sizeof (TestSecret));
  p->trace = g_string_new (NULL);
  p->closed_reason = -1;
  p->wall_ms = G_GUINT64_CONSTANT (1767225600000); /* 2026-01-01T00:00:00Z */
  p->mono_ms = 1000000;
  if (with_identity)
    {
      g_autofree char *label = g_strconcat ("identity:", seed, NULL);
      uint8_t d[SC_P256_SCALAR_LEN];

      sc_sha256 ((const uint8_t *) label, strlen (label), d);
      g_assert_cmpint (sc_p256_key_from_scalar (&p->identity, d), ==, 0);
      p->cfg.identity = &p->identity;
    }
}

void
test_peer_start (TestPeer *p)
{
  ScProtoCtx ctx = {
    .wall_ms = peer_wall,
    .mono_ms = peer_mono,
    .random = peer_random,
    .event = peer_event,
    .verify_peer = peer_verify,
    .keylog = peer_keylog,
    .resume = peer_resume,
    .user = p,
  };
  int err = 0;

  sc_session_free (p->s); /* a test may start a peer again */
  sc_buffer_consume (&p->out, p->out.len);
  p->s = sc_session_new (&p->cfg, &ctx, &err);
  g_assert_cmpint (err, ==, SC_OK);
  g_assert_nonnull (p->s);
}

void
test_peer_clear (TestPeer *p)
{
  sc_session_free (p->s);
  sc_buffer_clear (&p->out);
  g_ptr_array_unref (p->messages);
  g_array_unref (p->message_ids);
  g_array_unref (p->secrets);
  g_string_free (p->trace, TRUE);
  g_clear_pointer (&p->last_leaf, g_bytes_unref);
  sc_p256_key_clear (&p->identity);
}

void
test_peer_enable_tickets (TestPeer *p)
{
  for (guint i = 0; i < G_N_ELEMENTS (p->ticket_keys); i++)
    {
      memset (p->ticket_keys[i].id, 'a' + (int) i, SC_TICKET_KEY_ID_LEN);
      test_rng_fill (&p->rng, p->ticket_keys[i].key, SC_AES256_GCM_KEY_LEN);
    }
  p->cfg.ticket_keys = p->ticket_keys;
  p->cfg.n_ticket_keys = G_N_ELEMENTS (p->ticket_keys);
}

void
test_peer_restart (TestPeer *p)
{
  ScSessionInfo info;

  sc_session_get_info (p->s, &info);
  if (p->cfg.role == SC_ROLE_SERVER)
    {
      p->stream_sent_id = info.last_sent_id;
      p->stream_recv_id = info.last_recv_id;
    }
  else
    {
      p->resumption.sent_id = info.last_sent_id;
      p->resumption.recv_id = info.last_recv_id;
      p->cfg.resumption = p->have_ticket ? &p->resumption : NULL;
      if (p->cfg.identity != NULL)
        {
          uint8_t spki[SC_P256_SPKI_LEN];

          sc_p256_spki_encode (p->cfg.identity->pub, spki);
          sc_sha256 (spki, sizeof spki, p->resumption.client_fingerprint);
        }
    }
  p->resumed = FALSE;
  test_peer_start (p);
}

const uint8_t *
test_peer_secret (const TestPeer *p, const char *name)
{
  for (guint i = 0; i < p->secrets->len; i++)
    {
      const TestSecret *ts = &g_array_index (p->secrets, TestSecret, i);

      if (g_strcmp0 (ts->secret_name, name) == 0)
        return ts->secret;
    }
  return NULL;
}

/* Delivers from's pending output to to. */
static int
deliver (TestPeer *from, TestPeer *to)
{
  ScBuffer copy;
  int ret;

  if (from->out.len == 0)
    return SC_OK;
  sc_buffer_init (&copy);
  sc_buffer_append (&copy, from->out.data, from->out.len);
  sc_buffer_consume (&from->out, from->out.len);
  ret = sc_session_recv (to->s, copy.data, copy.len, &to->out);
  sc_buffer_clear (&copy);
  return ret;
}

int
test_pump (TestPeer *a, TestPeer *b)
{
  for (int rounds = 0; rounds < 64; rounds++)
    {
      int ret;

      if (a->out.len == 0 && b->out.len == 0)
        return SC_OK;
      ret = deliver (a, b);
      if (ret != SC_OK)
        return ret;
      ret = deliver (b, a);
      if (ret != SC_OK)
        return ret;
    }
  g_assert_not_reached ();
  return SC_ERR_INTERNAL;
}

void
test_connect (TestPeer *client, TestPeer *server)
{
  test_peer_start (client);
  test_peer_start (server);
  g_assert_cmpint (sc_session_start (client->s, &client->out), ==, SC_OK);
  g_assert_cmpint (test_pump (client, server), ==, SC_OK);
  g_assert_cmpint (sc_session_get_state (client->s), ==, SC_STATE_CONNECTED);
  g_assert_cmpint (sc_session_get_state (server->s), ==, SC_STATE_CONNECTED);
}

GPtrArray *
test_split_records (const ScBuffer *buf)
{
  GPtrArray *recs = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  size_t off = 0;

  while (off < buf->len)
    {
      size_t n;

      g_assert_cmpuint (buf->len - off, >=, SC_RECORD_HEADER_LEN);
      n = SC_RECORD_HEADER_LEN + sc_get_u16 (buf->data + off + 2);
      g_assert_cmpuint (buf->len - off, >=, n);
      g_ptr_array_add (recs, g_bytes_new (buf->data + off, n));
      off += n;
    }
  return recs;
}

GBytes *
test_rewrite_record (GBytes *record, const uint8_t *secret, uint64_t seq, TestEditFunc edit,
                     gpointer user)
{
  ScTrafficKey *tk = g_malloc0 (sizeof *tk);
  gsize len;
  const uint8_t *rec = g_bytes_get_data (record, &len);
  GByteArray *pt = g_byte_array_sized_new (len);
  uint8_t nonce[SC_AES256_GCM_NONCE_LEN], hdr[SC_RECORD_HEADER_LEN];
  GByteArray *outrec;

  g_assert_nonnull (secret);
  g_assert_cmpint (sc_traffic_key_install (tk, secret, 0), ==, SC_OK);
  tk->seq = seq;
  sc_traffic_key_nonce (tk, nonce);
  g_byte_array_set_size (pt, len - SC_RECORD_HEADER_LEN - SC_AES256_GCM_TAG_LEN);
  g_assert_cmpint (sc_aead_open (&tk->aead, nonce, rec, SC_RECORD_HEADER_LEN,
                                 rec + SC_RECORD_HEADER_LEN, len - SC_RECORD_HEADER_LEN, pt->data),
                   ==, 0);
  edit (pt, user);
  outrec = g_byte_array_sized_new (SC_RECORD_HEADER_LEN + pt->len + SC_AES256_GCM_TAG_LEN);
  sc_wire_put_record_header (hdr, SC_RECORD_PROTECTED,
                             (uint16_t) (pt->len + SC_AES256_GCM_TAG_LEN));
  g_byte_array_append (outrec, hdr, sizeof hdr);
  g_byte_array_set_size (outrec, SC_RECORD_HEADER_LEN + pt->len + SC_AES256_GCM_TAG_LEN);
  sc_aead_seal (&tk->aead, nonce, hdr, sizeof hdr, pt->data, pt->len,
                outrec->data + SC_RECORD_HEADER_LEN);
  sc_traffic_key_clear (tk);
  g_free (tk);
  g_byte_array_unref (pt);
  return g_byte_array_free_to_bytes (outrec);
}
