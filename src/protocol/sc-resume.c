/* sc-resume.c: resumption tickets (PROTOCOL.md 4.7).
 *
 * A ticket is the server's own note to itself, sealed under a ticket key
 * only the server holds: which stream it resumes, the resumption secret,
 * both identities and when it expires. The client stores it opaquely and
 * presents it in its next ClientHello. This file seals and opens tickets
 * and handles the NewSessionTicket message; the handshake decides what to
 * do with an opened ticket.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-protocol-private.h"

#include <string.h>

/* TicketContents offsets (PROTOCOL.md 4.7.4). */
enum
{
  T_FORMAT = 0,
  T_ISSUED = 1,
  T_LIFETIME = 9,
  T_STREAM = 13,
  T_GENERATION = 29,
  T_PSK = 33,
  T_SERVER_FP = 65,
  T_CLIENT_TYPE = 97,
  T_CLIENT_SPKI = 98,
  T_LEN_ANON = T_CLIENT_SPKI,
  T_LEN_MAX = T_CLIENT_SPKI + SC_P256_SPKI_LEN,
};
#define SC_TICKET_FORMAT 1u
#define T_SEAL_OVERHEAD (SC_TICKET_KEY_ID_LEN + SC_AES256_GCM_NONCE_LEN + SC_AES256_GCM_TAG_LEN)

static void
own_fingerprint (const ScSession *s, uint8_t fp[SC_SHA256_LEN])
{
  uint8_t spki[SC_P256_SPKI_LEN];

  sc_p256_spki_encode (s->cfg.identity->pub, spki);
  sc_sha256 (spki, sizeof spki, fp);
}

/* TicketContents for this session under psk; returns its length. */
static size_t
build_contents (const ScSession *s, const uint8_t psk[SC_RESUMPTION_PSK_LEN], uint8_t pt[T_LEN_MAX])
{
  const ScPeerIdentity *client = s->have_peer ? &s->peer : NULL;

  pt[T_FORMAT] = SC_TICKET_FORMAT;
  sc_put_u64 (pt + T_ISSUED, s->ctx.wall_ms (s->ctx.user));
  sc_put_u32 (pt + T_LIFETIME, s->cfg.ticket_lifetime_s);
  memcpy (pt + T_STREAM, s->stream_id, SC_STREAM_ID_LEN);
  sc_put_u32 (pt + T_GENERATION, s->generation);
  memcpy (pt + T_PSK, psk, SC_RESUMPTION_PSK_LEN);
  own_fingerprint (s, pt + T_SERVER_FP);
  pt[T_CLIENT_TYPE] = client != NULL ? client->type : 0;
  if (client == NULL)
    return T_LEN_ANON;
  memcpy (pt + T_CLIENT_SPKI, client->spki, SC_P256_SPKI_LEN);
  return T_LEN_MAX;
}

/* ticket = key_id || nonce || AES-256-GCM(key, nonce, aad = key_id, contents). */
static int
seal_ticket (ScSession *s, const uint8_t psk[SC_RESUMPTION_PSK_LEN], uint8_t *ticket,
             size_t *ticket_len)
{
  const ScTicketKey *key = &s->cfg.ticket_keys[0];
  uint8_t pt[T_LEN_MAX];
  uint8_t *nonce = ticket + SC_TICKET_KEY_ID_LEN;
  size_t n = build_contents (s, psk, pt);
  ScAead aead;
  int ret = SC_OK;

  memcpy (ticket, key->id, SC_TICKET_KEY_ID_LEN);
  if (s->ctx.random (s->ctx.user, nonce, SC_AES256_GCM_NONCE_LEN) != 0)
    ret = SC_ERR_RANDOM;
  else
    {
      sc_aead_set_key (&aead, key->key);
      sc_aead_seal (&aead, nonce, ticket, SC_TICKET_KEY_ID_LEN, pt, n,
                    nonce + SC_AES256_GCM_NONCE_LEN);
      sc_aead_clear (&aead);
      *ticket_len = n + T_SEAL_OVERHEAD;
    }
  sc_memzero (pt, sizeof pt);
  return ret;
}

/* Server, once connected: NewSessionTicket under the application key. The
 * resumption secret goes into the ticket and out of memory. */
int
sc_resume_send_ticket (ScSession *s, ScBuffer *out)
{
  uint8_t ticket[T_LEN_MAX + T_SEAL_OVERHEAD];
  size_t ticket_len = 0;
  ScBuffer msg;
  int ret;

  ret = seal_ticket (s, s->sec->res, ticket, &ticket_len);
  sc_memzero (s->sec->res, SC_SECRET_LEN);
  if (ret != SC_OK)
    return ret;
  sc_buffer_init (&msg);
  ret = sc_wire_build_new_session_ticket (&msg, s->cfg.ticket_lifetime_s, ticket, ticket_len);
  if (ret == SC_OK)
    ret = sc_session_seal (s, SC_CONTENT_HANDSHAKE, msg.data, msg.len, NULL, 0, out);
  sc_buffer_clear (&msg);
  return ret;
}

/* Client, connected: a NewSessionTicket from the server goes to the host
 * with the resumption secret of this session. */
int
sc_resume_consume_ticket (ScSession *s, const uint8_t *c, size_t len)
{
  uint8_t type;
  const uint8_t *body, *ticket;
  size_t body_len, ticket_len;
  uint32_t lifetime;
  ScEvent ev = { .type = SC_EVENT_TICKET };
  int ret = sc_wire_parse_handshake (c, len, &type, &body, &body_len);

  if (ret != SC_OK)
    return ret;
  if (type != SC_HS_NEW_SESSION_TICKET || s->cfg.role != SC_ROLE_CLIENT)
    return SC_ERR_UNEXPECTED;
  ret = sc_wire_parse_new_session_ticket (body, body_len, &lifetime, &ticket, &ticket_len);
  if (ret != SC_OK)
    return ret;
  ev.data = ticket;
  ev.len = ticket_len;
  ev.secret = s->sec->res;
  ev.lifetime_s = lifetime;
  sc_session_emit (s, &ev);
  return SC_OK;
}

/* Finds the ticket key named by the ticket's first bytes. */
static const ScTicketKey *
find_key (const ScSession *s, const uint8_t *ticket)
{
  for (size_t i = 0; i < s->cfg.n_ticket_keys; i++)
    if (memcmp (s->cfg.ticket_keys[i].id, ticket, SC_TICKET_KEY_ID_LEN) == 0)
      return &s->cfg.ticket_keys[i];
  return NULL;
}

/* The checks of PROTOCOL.md 4.7.5 on opened contents; fills t. */
static bool
contents_usable (ScSession *s, const uint8_t *pt, size_t n, ScOpenedTicket *t)
{
  uint8_t fp[SC_SHA256_LEN];
  uint64_t now = s->ctx.wall_ms (s->ctx.user), issued = sc_get_u64 (pt + T_ISSUED);
  uint32_t lifetime = sc_get_u32 (pt + T_LIFETIME);
  uint8_t ctype = pt[T_CLIENT_TYPE];

  if (pt[T_FORMAT] != SC_TICKET_FORMAT || ctype > 2 || n != (ctype == 0 ? T_LEN_ANON : T_LEN_MAX))
    return false;
  if (lifetime == 0 || lifetime > SC_MAX_TICKET_LIFETIME_S)
    return false;
  /* Issued in the future (beyond the skew we allow hellos) or expired. */
  if (issued > now + s->cfg.limits.max_skew_ms || now - issued >= (uint64_t) lifetime * 1000u)
    return false;
  own_fingerprint (s, fp);
  if (!sc_memeq_ct (fp, pt + T_SERVER_FP, sizeof fp))
    return false; /* sealed for another identity of ours */
  memset (t, 0, sizeof *t);
  memcpy (t->stream_id, pt + T_STREAM, SC_STREAM_ID_LEN);
  t->generation = sc_get_u32 (pt + T_GENERATION);
  t->client.type = ctype;
  t->client.resumed = true;
  if (ctype != 0)
    {
      uint8_t pub[SC_P256_POINT_LEN];

      if (sc_p256_spki_decode (pt + T_CLIENT_SPKI, SC_P256_SPKI_LEN, pub) != 0)
        return false;
      memcpy (t->client.spki, pt + T_CLIENT_SPKI, SC_P256_SPKI_LEN);
      sc_sha256 (t->client.spki, SC_P256_SPKI_LEN, t->client.fingerprint);
    }
  return true;
}

/* Server: opens a ticket. Returns true and the contents in t (the
 * resumption secret in s->sec->psk) when it is authentic, ours and fresh;
 * false for anything else, which means a full handshake. */
bool
sc_resume_open_ticket (ScSession *s, const uint8_t *ticket, size_t len, ScOpenedTicket *t)
{
  uint8_t pt[SC_MAX_TICKET_LEN];
  const ScTicketKey *key;
  size_t n;
  ScAead aead;
  bool ok = false;

  if (len < T_SEAL_OVERHEAD + T_LEN_ANON || len > T_SEAL_OVERHEAD + T_LEN_MAX)
    return false;
  key = find_key (s, ticket);
  if (key == NULL)
    return false; /* unknown or retired key */
  n = len - T_SEAL_OVERHEAD;
  sc_aead_set_key (&aead, key->key);
  if (sc_aead_open (&aead, ticket + SC_TICKET_KEY_ID_LEN, ticket, SC_TICKET_KEY_ID_LEN,
                    ticket + SC_TICKET_KEY_ID_LEN + SC_AES256_GCM_NONCE_LEN,
                    n + SC_AES256_GCM_TAG_LEN, pt)
      == 0)
    ok = contents_usable (s, pt, n, t);
  sc_aead_clear (&aead);
  if (ok)
    memcpy (s->sec->psk, pt + T_PSK, SC_RESUMPTION_PSK_LEN);
  sc_memzero (pt, sizeof pt);
  return ok;
}
