/* sc-session.c: the SecureComm session state machine (PROTOCOL.md 3 to 8).
 *
 * Layout of this file: session life cycle and failure; the record layer
 * (seal, open, input framing); the handshake, one consume_/send_ pair per
 * message in flight order; application content; timers.
 *
 * Secrets live in one secure-memory block (ScSecrets) per session. Each
 * intermediate secret is wiped as soon as the secrets derived from it exist,
 * and fail() wipes the whole block on any fatal error, so every exit path
 * leaves no key behind.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-protocol-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== life cycle ======================================================== */

const char *
sc_strerror (int err)
{
  switch ((ScStatus) err)
    {
    case SC_OK:
      return "success";
    case SC_ERR_NOMEM:
      return "out of memory";
    case SC_ERR_INVALID_ARG:
      return "invalid argument or configuration";
    case SC_ERR_INVALID_STATE:
      return "operation not valid in this session state";
    case SC_ERR_DECODE:
      return "malformed protocol data";
    case SC_ERR_UNEXPECTED:
      return "unexpected protocol message";
    case SC_ERR_DECRYPT:
      return "record authentication failed";
    case SC_ERR_AUTH:
      return "handshake authentication failed";
    case SC_ERR_UNTRUSTED:
      return "peer identity not trusted";
    case SC_ERR_AUTH_REQUIRED:
      return "server requires client authentication";
    case SC_ERR_VERSION:
      return "no common protocol version";
    case SC_ERR_STALE:
      return "handshake timestamp outside the allowed clock skew";
    case SC_ERR_BAD_KEY:
      return "invalid public key";
    case SC_ERR_RECORD_OVERFLOW:
      return "record too large";
    case SC_ERR_MESSAGE_TOO_LARGE:
      return "message too large";
    case SC_ERR_KEY_EXHAUSTED:
      return "traffic key usage limit reached";
    case SC_ERR_TIMEOUT:
      return "timed out";
    case SC_ERR_TRUNCATED:
      return "connection closed without a close message";
    case SC_ERR_PEER_ALERT:
      return "peer reported an error";
    case SC_ERR_CLOSED:
      return "session closed";
    case SC_ERR_RANDOM:
      return "random source failed";
    case SC_ERR_INTERNAL:
      return "internal error";
    default:
      return "unknown error";
    }
}

void
sc_session_config_init (ScSessionConfig *config, ScRole role)
{
  memset (config, 0, sizeof *config);
  config->role = role;
  config->client_auth = SC_CLIENT_AUTH_NONE;
  config->binding_type = SC_BINDING_NONE;
  config->limits = (ScLimits) {
    .max_message_size = SC_DEFAULT_MAX_MESSAGE_SIZE,
    .max_skew_ms = SC_DEFAULT_MAX_SKEW_MS,
    .handshake_timeout_ms = SC_DEFAULT_HANDSHAKE_TIMEOUT_MS,
    .rekey_after_records = SC_DEFAULT_REKEY_AFTER_RECORDS,
    .reject_after_records = SC_REJECT_AFTER_RECORDS,
    .rekey_after_bytes = SC_DEFAULT_REKEY_AFTER_BYTES,
    .reject_after_bytes = SC_REJECT_AFTER_BYTES,
    .rekey_after_ms = SC_DEFAULT_REKEY_AFTER_MS,
    .heartbeat_interval_ms = SC_DEFAULT_HEARTBEAT_INTERVAL_MS,
    .heartbeat_missed = SC_DEFAULT_HEARTBEAT_MISSED,
  };
  config->ticket_lifetime_s = SC_DEFAULT_TICKET_LIFETIME_S;
}

static bool
limits_valid (const ScLimits *l)
{
  return l->max_message_size >= 1 && l->max_message_size <= SC_MAX_MESSAGE_SIZE_LIMIT
         && l->max_skew_ms <= SC_MAX_SKEW_LIMIT_MS && l->reject_after_records >= 2
         && l->reject_after_records <= SC_REJECT_AFTER_RECORDS && l->rekey_after_records >= 1
         && l->rekey_after_records < l->reject_after_records
         && l->reject_after_bytes <= SC_REJECT_AFTER_BYTES
         && l->rekey_after_bytes >= 1
         /* a key may carry one more full record after its rekey point */
         && l->reject_after_bytes > SC_MAX_RECORD_PLAINTEXT
         && l->rekey_after_bytes <= l->reject_after_bytes - SC_MAX_RECORD_PLAINTEXT
         && l->heartbeat_missed >= 1;
}

/* A chain must fit one Identity message, every certificate present, and
 * the leaf must carry the identity key. */
static bool
chain_valid (const ScSessionConfig *c)
{
  uint8_t pub[SC_P256_POINT_LEN];
  size_t total = 2 + 1; /* auth_request, identity_type, n_certs */

  if (c->n_certs == 0)
    return true;
  if (c->identity == NULL || c->n_certs > SC_MAX_CERT_CHAIN || c->cert_chain == NULL
      || c->cert_chain_lens == NULL)
    return false;
  for (size_t i = 0; i < c->n_certs; i++)
    {
      if (c->cert_chain[i] == NULL || c->cert_chain_lens[i] == 0
          || c->cert_chain_lens[i] > SC_MAX_HANDSHAKE_MSG)
        return false;
      total += 3 + c->cert_chain_lens[i]; /* bounded terms: no wrap */
    }
  if (total > SC_MAX_HANDSHAKE_MSG)
    return false;
  if (sc_x509_p256_pubkey (c->cert_chain[0], c->cert_chain_lens[0], pub) != 0)
    return false;
  return memcmp (pub, c->identity->pub, sizeof pub) == 0;
}

/* The identity's public point must be its private scalar's. */
static bool
identity_valid (const ScP256Key *key)
{
  ScP256Key check;
  bool ok;

  ok = sc_p256_key_from_scalar (&check, key->d) == 0
       && memcmp (check.pub, key->pub, sizeof check.pub) == 0;
  sc_p256_key_clear (&check);
  return ok;
}

/* Ticket keys only for servers; a resumption only for clients, with a
 * ticket of a sane size, an authenticated server identity, and the same
 * identity of ours the ticket was issued to (PROTOCOL.md 4.7). */
static bool
resumption_valid (const ScSessionConfig *c)
{
  const ScResumption *r = c->resumption;
  uint8_t fp[SC_SHA256_LEN] = { 0 };

  if (c->n_ticket_keys > 0
      && (c->role != SC_ROLE_SERVER || c->ticket_keys == NULL
          || c->n_ticket_keys > SC_MAX_TICKET_KEYS || c->ticket_lifetime_s == 0
          || c->ticket_lifetime_s > SC_MAX_TICKET_LIFETIME_S))
    return false;
  if (r == NULL)
    return true;
  if (c->role != SC_ROLE_CLIENT || r->ticket_len == 0 || r->ticket_len > SC_MAX_TICKET_LEN
      || r->server.type == 0 || r->server.type > 2)
    return false;
  if (c->identity != NULL)
    {
      uint8_t spki[SC_P256_SPKI_LEN];

      sc_p256_spki_encode (c->identity->pub, spki);
      sc_sha256 (spki, sizeof spki, fp);
    }
  return memcmp (fp, r->client_fingerprint, sizeof fp) == 0;
}

static bool
config_valid (const ScSessionConfig *c, const ScProtoCtx *x)
{
  if (x->wall_ms == NULL || x->mono_ms == NULL || x->random == NULL)
    return false;
  if (c->role != SC_ROLE_CLIENT && c->role != SC_ROLE_SERVER)
    return false;
  if (c->role == SC_ROLE_SERVER && c->identity == NULL)
    return false;
  if (c->role == SC_ROLE_CLIENT && x->verify_peer == NULL)
    return false;
  if (c->identity != NULL && !c->identity_checked && !identity_valid (c->identity))
    return false;
  if ((unsigned) c->client_auth > SC_CLIENT_AUTH_REQUIRED
      || (unsigned) c->binding_type > SC_BINDING_TLS_UNIQUE
      || c->binding_len > SC_MAX_CHANNEL_BINDING
      || (c->binding_type == SC_BINDING_NONE) != (c->binding_len == 0)
      || (c->binding_len > 0 && c->binding == NULL))
    return false;
  return limits_valid (&c->limits) && chain_valid (c) && resumption_valid (c);
}

/* The transcript starts with the channel-binding block (PROTOCOL.md 5.4). */
static void
transcript_start (ScSession *s)
{
  uint8_t block[2] = { (uint8_t) s->cfg.binding_type, (uint8_t) s->cfg.binding_len };

  sc_sha256_init (&s->transcript);
  sc_sha256_update (&s->transcript, block, sizeof block);
  if (s->cfg.binding_len > 0)
    sc_sha256_update (&s->transcript, s->cfg.binding, s->cfg.binding_len);
}

ScSession *
sc_session_new (const ScSessionConfig *config, const ScProtoCtx *ctx, int *err)
{
  ScSession *s;

  *err = SC_ERR_INVALID_ARG;
  if (config == NULL || ctx == NULL || !config_valid (config, ctx))
    return NULL;
  *err = SC_ERR_NOMEM;
  s = calloc (1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->sec = sc_secure_alloc (sizeof *s->sec);
  if (s->sec == NULL)
    {
      free (s);
      return NULL;
    }
  s->cfg = *config;
  s->ctx = *ctx;
  s->state = config->role == SC_ROLE_CLIENT ? SC_STATE_CLIENT_START
                                            : SC_STATE_SERVER_WAIT_CLIENT_HELLO;
  s->hs_started_ms = ctx->mono_ms (ctx->user);
  transcript_start (s);
  *err = SC_OK;
  return s;
}

/* Wipes and frees every secret and every buffer that may hold plaintext. */
void
sc_session_wipe (ScSession *s)
{
  if (s->sec != NULL)
    {
      sc_aead_clear (&s->sec->send.aead);
      sc_aead_clear (&s->sec->recv.aead);
      sc_secure_free (s->sec, sizeof *s->sec);
      s->sec = NULL;
    }
  sc_message_free (s->reasm);
  s->reasm = NULL;
  if (s->peer_msg != NULL)
    {
      sc_memzero (s->peer_msg, s->peer_msg_len);
      free (s->peer_msg);
      s->peer_msg = NULL;
    }
  free (s->inbuf);
  s->inbuf = NULL;
  s->inlen = 0;
  sc_sha256_clear (&s->transcript);
}

void
sc_session_free (ScSession *s)
{
  if (s == NULL)
    return;
  sc_session_wipe (s);
  free (s);
}

/* The host's callbacks run with in_callback raised: a callback that calls
 * back into the session gets SC_ERR_INVALID_STATE instead of changing state
 * under the caller's feet. */
void
sc_session_emit (ScSession *s, const ScEvent *ev)
{
  if (s->ctx.event != NULL)
    {
      s->in_callback++;
      s->ctx.event (s->ctx.user, s, ev);
      s->in_callback--;
    }
}

int
sc_session_verify_peer (ScSession *s, const ScPeerIdentity *peer)
{
  int ret = 0;

  if (s->ctx.verify_peer != NULL)
    {
      s->in_callback++;
      ret = s->ctx.verify_peer (s->ctx.user, peer);
      s->in_callback--;
    }
  return ret;
}

void
sc_session_keylog (ScSession *s, const char *label, const uint8_t *secret)
{
  if (s->ctx.keylog != NULL)
    s->ctx.keylog (s->ctx.user, label, secret, SC_SECRET_LEN);
}

/* The monotonic clock, read at most once per call into the session: a call
 * handles one batch of input, one message or one tick, and everything in it
 * happens at one instant (as when ngtcp2's host passes `ts` to each call).
 * Saves a clock read per record. Every public entry that may reach here
 * starts with sc_session_clock_reset. */
uint64_t
sc_session_now (ScSession *s)
{
  if (!s->now_valid)
    {
      s->now_ms = s->ctx.mono_ms (s->ctx.user);
      s->now_valid = true;
    }
  return s->now_ms;
}

void
sc_session_clock_reset (ScSession *s)
{
  s->now_valid = false;
}

static uint8_t
alert_for (int err)
{
  switch ((ScStatus) err)
    {
    case SC_ERR_DECODE:
      return SC_ALERT_DECODE_ERROR;
    case SC_ERR_UNEXPECTED:
      return SC_ALERT_UNEXPECTED_MESSAGE;
    case SC_ERR_DECRYPT:
      return SC_ALERT_BAD_RECORD;
    case SC_ERR_AUTH:
    case SC_ERR_UNTRUSTED:
      return SC_ALERT_HANDSHAKE_FAILURE;
    case SC_ERR_AUTH_REQUIRED:
      return SC_ALERT_AUTH_REQUIRED;
    case SC_ERR_VERSION:
      return SC_ALERT_PROTOCOL_VERSION;
    case SC_ERR_STALE:
      return SC_ALERT_STALE;
    case SC_ERR_BAD_KEY:
      return SC_ALERT_ILLEGAL_PARAMETER;
    case SC_ERR_RECORD_OVERFLOW:
      return SC_ALERT_RECORD_OVERFLOW;
    case SC_ERR_MESSAGE_TOO_LARGE:
      return SC_ALERT_MESSAGE_TOO_LARGE;
    case SC_ERR_KEY_EXHAUSTED:
      return SC_ALERT_KEY_EXHAUSTED;
    case SC_ERR_TIMEOUT:
      return SC_ALERT_TIMEOUT;
    case SC_ERR_NOMEM:
    case SC_ERR_RANDOM:
    case SC_ERR_INTERNAL:
      return SC_ALERT_INTERNAL_ERROR;
    case SC_OK:
    case SC_ERR_INVALID_ARG:
    case SC_ERR_INVALID_STATE:
    case SC_ERR_TRUNCATED:
    case SC_ERR_PEER_ALERT:
    case SC_ERR_CLOSED:
    default:
      return 0; /* nothing to tell the peer */
    }
}

/* The one way a session dies (PROTOCOL.md 8): tell the peer once, with a
 * protected ERROR when a sending key exists and a plaintext ALERT before, then
 * wipe everything. Returns err for the caller to pass on. */
int
sc_session_fail (ScSession *s, int err, ScBuffer *out)
{
  uint8_t alert = alert_for (err);

  if (s->state == SC_STATE_FAILED)
    return s->error;
  if (alert != 0 && out != NULL && !s->no_alert)
    {
      if (s->sec != NULL && s->sec->send.active)
        {
          s->alerting = true; /* bypasses the usage limits for this one record */
          (void) sc_session_seal (s, SC_CONTENT_ERROR, &alert, 1, NULL, 0, out);
        }
      else if (sc_buffer_reserve (out, SC_RECORD_HEADER_LEN + 1) == SC_OK)
        {
          sc_wire_put_record_header (out->data + out->len, SC_RECORD_ALERT, 1);
          out->data[out->len + SC_RECORD_HEADER_LEN] = alert;
          out->len += SC_RECORD_HEADER_LEN + 1;
        }
    }
  sc_session_wipe (s);
  s->state = SC_STATE_FAILED;
  s->error = err;
  return err;
}

/* A session that cannot take calls any more answers with why; so does one
 * whose host is inside a callback. */
int
sc_session_check_callable (const ScSession *s)
{
  if (s->in_callback > 0)
    return SC_ERR_INVALID_STATE;
  if (s->state == SC_STATE_FAILED)
    return s->error;
  if (s->state == SC_STATE_CLOSED)
    return SC_ERR_CLOSED;
  return SC_OK;
}

/* ==== record layer ====================================================== */

/* Whether our sending key is due for rotation (PROTOCOL.md 7.2). */
static bool
rekey_due (ScSession *s)
{
  const ScTrafficKey *tk = &s->sec->send;
  const ScLimits *l = &s->cfg.limits;

  if (s->state != SC_STATE_CONNECTED)
    return false;
  return tk->seq >= l->rekey_after_records || tk->bytes >= l->rekey_after_bytes
         || (l->rekey_after_ms > 0 && sc_session_now (s) - tk->since_ms >= l->rekey_after_ms);
}

void
sc_session_log_traffic_secret (ScSession *s, const ScTrafficKey *tk, bool sending)
{
  char label[32];
  bool client_dir = sending == (s->cfg.role == SC_ROLE_CLIENT);

  snprintf (label, sizeof label, "%s_ap_traffic_%u", client_dir ? "c" : "s", tk->epoch);
  sc_session_keylog (s, label, tk->secret);
}

/* Sends KEY_UPDATE under the current key, then ratchets it (PROTOCOL.md 7.1). */
int
sc_session_send_key_update (ScSession *s, bool update_peer, ScBuffer *out)
{
  uint8_t flag = update_peer ? 1 : 0;
  ScEvent ev = { .type = SC_EVENT_KEY_UPDATE, .sending = true };
  int ret;

  ret = sc_session_seal (s, SC_CONTENT_KEY_UPDATE, &flag, 1, NULL, 0, out);
  if (ret != SC_OK)
    return ret;
  if (sc_traffic_key_update (&s->sec->send, sc_session_now (s)) != SC_OK)
    return SC_ERR_INTERNAL;
  sc_session_log_traffic_secret (s, &s->sec->send, true);
  ev.epoch = s->sec->send.epoch;
  sc_session_emit (s, &ev);
  return SC_OK;
}

/* Appends one protected record whose content is a || b (PROTOCOL.md 3.5):
 * header, then AES-256-GCM over inner type || content with the header as
 * associated data, sealed in place in out. */
int
sc_session_seal (ScSession *s, uint8_t type, const uint8_t *a, size_t alen, const uint8_t *b,
                 size_t blen, ScBuffer *out)
{
  ScTrafficKey *tk = &s->sec->send;
  size_t clen = alen + blen, body = 1 + clen + SC_AES256_GCM_TAG_LEN;
  uint8_t nonce[SC_AES256_GCM_NONCE_LEN], *p;
  int ret;

  if (type != SC_CONTENT_KEY_UPDATE && type != SC_CONTENT_ERROR && type != SC_CONTENT_CLOSE
      && rekey_due (s))
    {
      ret = sc_session_send_key_update (s, false, out);
      if (ret != SC_OK)
        return ret;
    }
  if (!s->alerting
      && (tk->seq >= s->cfg.limits.reject_after_records
          || tk->bytes + clen > s->cfg.limits.reject_after_bytes))
    return SC_ERR_KEY_EXHAUSTED;
  if (clen > SC_MAX_RECORD_PLAINTEXT)
    return SC_ERR_INVALID_ARG;
  ret = sc_buffer_reserve (out, SC_RECORD_HEADER_LEN + body);
  if (ret != SC_OK)
    return ret;
  if (1 + clen >= SC_AEAD_BULK_MIN && s->state == SC_STATE_CONNECTED)
    (void) sc_aead_enable_bulk (&tk->aead); /* GnuTLS's faster GCM; on failure, nettle's */
  p = out->data + out->len;
  sc_wire_put_record_header (p, SC_RECORD_PROTECTED, (uint16_t) body);
  p[SC_RECORD_HEADER_LEN] = type;
  if (alen > 0)
    memcpy (p + SC_RECORD_HEADER_LEN + 1, a, alen);
  if (blen > 0)
    memcpy (p + SC_RECORD_HEADER_LEN + 1 + alen, b, blen);
  sc_traffic_key_nonce (tk, nonce);
  sc_aead_seal (&tk->aead, nonce, p, SC_RECORD_HEADER_LEN, p + SC_RECORD_HEADER_LEN, 1 + clen,
                p + SC_RECORD_HEADER_LEN);
  tk->seq++;
  tk->bytes += clen;
  out->len += SC_RECORD_HEADER_LEN + body;
  return SC_OK;
}

int
sc_session_send_plaintext_handshake (ScSession *s, const ScBuffer *msg, ScBuffer *out)
{
  uint8_t hdr[SC_RECORD_HEADER_LEN];
  int ret;

  sc_wire_put_record_header (hdr, SC_RECORD_HANDSHAKE, (uint16_t) msg->len);
  ret = sc_buffer_append (out, hdr, sizeof hdr);
  if (ret == SC_OK)
    ret = sc_buffer_append (out, msg->data, msg->len);
  sc_sha256_update (&s->transcript, msg->data, msg->len);
  return ret;
}

int
sc_session_send_protected_handshake (ScSession *s, const ScBuffer *msg, ScBuffer *out)
{
  sc_sha256_update (&s->transcript, msg->data, msg->len);
  return sc_session_seal (s, SC_CONTENT_HANDSHAKE, msg->data, msg->len, NULL, 0, out);
}

/* Decrypts one protected record into pt (PROTOCOL.md 3.5); its header
 * passed record_acceptable. *pt_len excludes the tag. */
static int
open_record (ScSession *s, const uint8_t *rec, size_t rec_len, uint8_t *pt, size_t *pt_len)
{
  ScTrafficKey *tk = &s->sec->recv;
  uint8_t nonce[SC_AES256_GCM_NONCE_LEN];
  size_t body = rec_len - SC_RECORD_HEADER_LEN;

  if (body - SC_AES256_GCM_TAG_LEN >= SC_AEAD_BULK_MIN && s->state == SC_STATE_CONNECTED)
    (void) sc_aead_enable_bulk (&tk->aead); /* as in sc_session_seal */
  sc_traffic_key_nonce (tk, nonce);
  if (sc_aead_open (&tk->aead, nonce, rec, SC_RECORD_HEADER_LEN, rec + SC_RECORD_HEADER_LEN, body,
                    pt)
      != 0)
    return SC_ERR_DECRYPT;
  *pt_len = body - SC_AES256_GCM_TAG_LEN;
  tk->seq++;
  tk->bytes += *pt_len - 1;
  s->last_rx_ms = sc_session_now (s); /* one clock read per batch */
  s->peer_protected_seen = true;
  return SC_OK;
}

/* PROTOCOL.md 3.3 steps 1 to 6, on the 4 header bytes alone, before any of
 * the body is read. */
static int
record_acceptable (ScSession *s, const uint8_t hdr[SC_RECORD_HEADER_LEN], ScRecordHeader *h)
{
  const ScTrafficKey *tk = &s->sec->recv;
  int ret;

  if (hdr[0] == SC_RECORD_ALERT)
    s->no_alert = true; /* whatever is wrong with it, we answer no alert */
  ret = sc_wire_parse_record_header (hdr, h);
  if (ret != SC_OK)
    return ret;
  switch (h->type)
    {
    case SC_RECORD_ALERT:
      /* Plaintext alerts count until the peer's first protected record
       * opened: a client that refuses the ServerHello has no keys yet. */
      return s->peer_protected_seen ? SC_ERR_UNEXPECTED : SC_OK;
    case SC_RECORD_HANDSHAKE:
      return tk->active ? SC_ERR_UNEXPECTED : SC_OK;
    case SC_RECORD_PROTECTED:
    default:
      if (!tk->active)
        return SC_ERR_UNEXPECTED;
      if (tk->seq >= s->cfg.limits.reject_after_records
          || tk->bytes + (h->length - SC_MIN_PROTECTED_BODY) > s->cfg.limits.reject_after_bytes)
        return SC_ERR_KEY_EXHAUSTED;
      return SC_OK;
    }
}

/* bytes: inner type and MESSAGE header, in front of a fragment. */
#define FRAGMENT_PREFIX (1u + SC_MESSAGE_HEADER_LEN)

/* Whether a protected record of len bytes, while a message is being
 * reassembled, can be opened straight into the reassembly buffer: large
 * enough to be worth it, and if it is the next fragment (it almost always
 * is), the fragment fits where it belongs. */
static bool
opens_in_place (const ScSession *s, size_t len)
{
  size_t pt_len = len - SC_RECORD_HEADER_LEN - SC_AES256_GCM_TAG_LEN;

  return s->reasm != NULL && s->state == SC_STATE_CONNECTED && pt_len >= SC_AEAD_BULK_MIN
         && s->reasm_have >= FRAGMENT_PREFIX
         && pt_len - FRAGMENT_PREFIX <= (size_t) (s->reasm_total - s->reasm_have);
}

/* Opens a record (opens_in_place) into the reassembly buffer, at the place
 * its fragment belongs, saving the FRAGMENT_PREFIX bytes of the message the
 * inner type and MESSAGE header land on: the fragment is decrypted where it
 * stays, with no copy. The header is parsed, the saved bytes put back, and
 * the fragment goes through every check of PROTOCOL.md 6.1 as any other.
 * Anything else (authenticated but not the next fragment) is copied out and
 * processed as usual, and the bytes it left past the message's end wiped. */
static int
process_in_place (ScSession *s, const uint8_t *rec, size_t len, ScBuffer *out)
{
  uint8_t *dest = s->reasm + s->reasm_have - FRAGMENT_PREFIX;
  uint8_t saved[FRAGMENT_PREFIX], pt[SC_MAX_PROTECTED_BODY];
  size_t pt_len = 0;
  ScFragment f;
  bool fragment;
  int ret;

  memcpy (saved, dest, sizeof saved);
  ret = open_record (s, rec, len, dest, &pt_len);
  fragment = ret == SC_OK && dest[0] == SC_CONTENT_MESSAGE;
  if (fragment)
    ret = sc_wire_parse_fragment (dest + 1, pt_len - 1, &f);
  else if (ret == SC_OK)
    memcpy (pt, dest, pt_len);
  memcpy (dest, saved, sizeof saved);
  sc_memzero (saved, sizeof saved);
  if (ret != SC_OK)
    return ret; /* the session fails and wipes the buffer */
  if (fragment)
    return sc_content_fragment (s, &f);
  sc_memzero (dest + FRAGMENT_PREFIX, pt_len - FRAGMENT_PREFIX);
  ret = sc_content_process (s, pt[0], pt + 1, pt_len - 1, out);
  sc_memzero (pt, pt_len);
  return ret;
}

/* One whole record whose header passed record_acceptable. */
static int
process_record (ScSession *s, const uint8_t *rec, size_t len, ScBuffer *out)
{
  uint8_t pt[SC_MAX_PROTECTED_BODY];
  size_t pt_len = 0;
  int ret;

  switch (rec[0])
    {
    case SC_RECORD_ALERT:
      s->peer_alert = rec[SC_RECORD_HEADER_LEN];
      return SC_ERR_PEER_ALERT;
    case SC_RECORD_HANDSHAKE:
      return sc_handshake_process_plaintext (s, rec + SC_RECORD_HEADER_LEN,
                                             len - SC_RECORD_HEADER_LEN, out);
    case SC_RECORD_PROTECTED:
    default:
      if (opens_in_place (s, len))
        return process_in_place (s, rec, len, out);
      ret = open_record (s, rec, len, pt, &pt_len);
      if (ret == SC_OK)
        ret = sc_content_process (s, pt[0], pt + 1, pt_len - 1, out);
      sc_memzero (pt, pt_len);
      return ret;
    }
}

/* Takes whatever is left of the current partial record from data into
 * s->inbuf. Returns bytes used, or a negative error. */
static long
buffer_partial (ScSession *s, const uint8_t *data, size_t len)
{
  size_t want, take;
  ScRecordHeader h;
  int ret;

  /* The buffer holds the header alone until the header is known, then
   * grows to exactly the record: a partial record costs its own size, not
   * SC_MAX_RECORD_LEN (a server may hold thousands of them at once). */
  if (s->inbuf == NULL)
    {
      s->inbuf = malloc (SC_RECORD_HEADER_LEN);
      if (s->inbuf == NULL)
        return SC_ERR_NOMEM;
    }
  want = SC_RECORD_HEADER_LEN;
  if (s->inlen >= SC_RECORD_HEADER_LEN)
    want += sc_get_u16 (s->inbuf + 2);
  take = want - s->inlen < len ? want - s->inlen : len;
  memcpy (s->inbuf + s->inlen, data, take);
  s->inlen += take;
  if (s->inlen == SC_RECORD_HEADER_LEN)
    {
      uint8_t *grown;

      ret = record_acceptable (s, s->inbuf, &h);
      if (ret != SC_OK)
        return ret;
      grown = realloc (s->inbuf, SC_RECORD_HEADER_LEN + (size_t) h.length);
      if (grown == NULL)
        return SC_ERR_NOMEM;
      s->inbuf = grown;
    }
  return (long) take;
}

static bool
alive (const ScSession *s)
{
  return s->state != SC_STATE_FAILED && s->state != SC_STATE_CLOSED;
}

/* Consumes the input: whole records straight from data, partial ones through
 * s->inbuf (at most one record, allocated to its size). */
static int
consume_input (ScSession *s, const uint8_t *data, size_t len, ScBuffer *out)
{
  ScRecordHeader h;
  long took;
  int ret;

  while (len > 0 && alive (s))
    {
      if (s->inlen == 0 && len >= SC_RECORD_HEADER_LEN)
        {
          ret = record_acceptable (s, data, &h);
          if (ret != SC_OK)
            return ret;
          if (len >= SC_RECORD_HEADER_LEN + (size_t) h.length)
            {
              size_t n = SC_RECORD_HEADER_LEN + (size_t) h.length;

              ret = process_record (s, data, n, out);
              if (ret != SC_OK)
                return ret;
              data += n;
              len -= n;
              continue;
            }
        }
      took = buffer_partial (s, data, len);
      if (took < 0)
        return (int) took;
      data += took;
      len -= (size_t) took;
      if (s->inlen > SC_RECORD_HEADER_LEN
          && s->inlen == SC_RECORD_HEADER_LEN + (size_t) sc_get_u16 (s->inbuf + 2))
        {
          s->inlen = 0;
          ret = process_record (s, s->inbuf, SC_RECORD_HEADER_LEN + sc_get_u16 (s->inbuf + 2), out);
          if (ret != SC_OK)
            return ret;
        }
    }
  return SC_OK;
}

/* Cumulative acknowledgement, one per batch of input (PROTOCOL.md 6.2). */
int
sc_session_send_ack (ScSession *s, ScBuffer *out)
{
  uint8_t v[8];

  if (s->state != SC_STATE_CONNECTED || s->last_recv_id <= s->ack_sent)
    return SC_OK;
  sc_put_u64 (v, s->last_recv_id);
  s->ack_sent = s->last_recv_id;
  return sc_session_seal (s, SC_CONTENT_ACK, v, sizeof v, NULL, 0, out);
}

int
sc_session_recv (ScSession *s, const uint8_t *data, size_t len, ScBuffer *out)
{
  int ret = sc_session_check_callable (s);

  if (ret != SC_OK)
    return ret;
  if (s->state == SC_STATE_CLIENT_START)
    return SC_ERR_INVALID_STATE;
  sc_session_clock_reset (s);
  ret = consume_input (s, data, len, out);
  if (ret == SC_OK)
    ret = sc_session_send_ack (s, out);
  if (ret != SC_OK)
    return sc_session_fail (s, ret, out);
  if (s->inlen == 0 && s->inbuf != NULL)
    {
      free (s->inbuf); /* only ever held one record's ciphertext or public hello */
      s->inbuf = NULL;
    }
  if (s->state == SC_STATE_CLOSED)
    sc_session_wipe (s);
  return SC_OK; /* a CLOSE processed now shows as an event and the state */
}

int
sc_session_eof (ScSession *s)
{
  int ret = sc_session_check_callable (s);

  if (ret != SC_OK)
    return ret;
  return sc_session_fail (s, SC_ERR_TRUNCATED, NULL);
}
