/* sc-content.c: application content and timers (PROTOCOL.md 6 and 7).
 *
 * Messages with ids, fragmentation and reassembly, cumulative
 * acknowledgements, heartbeats, key updates, close; and the session's
 * timers driven by sc_session_tick.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-protocol-private.h"

#include <stdlib.h>
#include <string.h>

/* ---- receiving --------------------------------------------------------- */

/* A reassembly buffer carries its length in front of the message, so that
 * sc_message_free can wipe it after the host took it (sc_session_take_message). */
#define MSG_PREFIX 16u /* bytes: a size_t, padded to keep the message aligned */

static uint8_t *
message_alloc (uint32_t len)
{
  uint8_t *base = malloc (MSG_PREFIX + (size_t) len);

  if (base == NULL)
    return NULL;
  memcpy (base, &(size_t) { len }, sizeof (size_t));
  return base + MSG_PREFIX;
}

void
sc_message_free (uint8_t *message)
{
  uint8_t *base;
  size_t len;

  if (message == NULL)
    return;
  base = message - MSG_PREFIX;
  memcpy (&len, base, sizeof len);
  sc_memzero (message, len);
  free (base);
}

uint8_t *
sc_session_take_message (ScSession *s)
{
  uint8_t *msg = s->reasm_delivering ? s->reasm : NULL;

  if (msg != NULL)
    s->reasm = NULL;
  return msg;
}

static void
deliver (ScSession *s, uint64_t id, const uint8_t *data, size_t len)
{
  ScEvent ev = { .type = SC_EVENT_MESSAGE, .id = id, .data = data, .len = len };

  s->last_recv_id = id;
  s->messages_received++;
  s->bytes_received += len;
  sc_session_emit (s, &ev);
}

/* offset + fragment_len <= total without overflow, and only the fragment
 * that completes a message may be empty (the last rows of PROTOCOL.md 6.1). */
static int
check_fragment_span (const ScFragment *f)
{
  if (f->offset > f->total || f->fragment_len > (size_t) (f->total - f->offset))
    return SC_ERR_DECODE;
  if (f->fragment_len == 0 && f->offset != f->total)
    return SC_ERR_DECODE;
  return SC_OK;
}

/* The first fragment of the next message (PROTOCOL.md 6.1, in the order
 * of its table). */
static int
start_message (ScSession *s, const ScFragment *f)
{
  if (f->id != s->last_recv_id + 1)
    return SC_ERR_DECODE;
  if (f->total > s->cfg.limits.max_message_size)
    return SC_ERR_MESSAGE_TOO_LARGE;
  if (f->offset != 0 || check_fragment_span (f) != SC_OK)
    return SC_ERR_DECODE;
  if (f->fragment_len == f->total)
    {
      deliver (s, f->id, f->fragment, f->fragment_len);
      return SC_OK;
    }
  s->reasm = message_alloc (f->total);
  if (s->reasm == NULL)
    return SC_ERR_NOMEM;
  memcpy (s->reasm, f->fragment, f->fragment_len);
  s->reasm_id = f->id;
  s->reasm_total = f->total;
  s->reasm_have = (uint32_t) f->fragment_len;
  return SC_OK;
}

/* A MESSAGE record's content, parsed. Its fragment may already be in place
 * in the reassembly buffer (opened there by the record layer). */
int
sc_content_fragment (ScSession *s, const ScFragment *f)
{
  uint8_t *dest;

  if (s->reasm == NULL)
    return start_message (s, f);
  if (f->id != s->reasm_id || f->total != s->reasm_total || f->offset != s->reasm_have
      || check_fragment_span (f) != SC_OK)
    return SC_ERR_DECODE;
  dest = s->reasm + s->reasm_have;
  if (f->fragment != dest)
    memcpy (dest, f->fragment, f->fragment_len);
  s->reasm_have += (uint32_t) f->fragment_len;
  if (s->reasm_have == s->reasm_total)
    {
      /* the host may take s->reasm during the event rather than copy it */
      s->reasm_delivering = true;
      deliver (s, s->reasm_id, s->reasm, s->reasm_total);
      s->reasm_delivering = false;
      sc_message_free (s->reasm);
      s->reasm = NULL;
    }
  return SC_OK;
}

static int
consume_fragment (ScSession *s, const uint8_t *c, size_t len)
{
  ScFragment f;
  int ret = sc_wire_parse_fragment (c, len, &f);

  return ret == SC_OK ? sc_content_fragment (s, &f) : ret;
}

static int
consume_ack (ScSession *s, const uint8_t *c, size_t len)
{
  uint64_t id;
  ScEvent ev = { .type = SC_EVENT_ACKED };

  if (sc_wire_parse_u64_content (c, len, &id) != SC_OK || id > s->last_sent_id
      || id < s->peer_acked)
    return SC_ERR_DECODE;
  if (id > s->peer_acked)
    {
      s->peer_acked = id;
      ev.id = id;
      sc_session_emit (s, &ev);
    }
  return SC_OK;
}

/* A PONG must answer a ping we sent and that is still unanswered. */
static int
consume_pong (ScSession *s, const uint8_t *c, size_t len)
{
  uint64_t n;

  if (sc_wire_parse_u64_content (c, len, &n) != SC_OK || n <= s->pings_answered
      || n > s->pings_sent)
    return SC_ERR_DECODE;
  s->pings_answered = n;
  return SC_OK;
}

static int
consume_key_update (ScSession *s, const uint8_t *c, size_t len, ScBuffer *out)
{
  uint8_t requested;
  ScEvent ev = { .type = SC_EVENT_KEY_UPDATE, .sending = false };

  if (sc_wire_parse_u8_content (c, len, &requested) != SC_OK || requested > 1)
    return SC_ERR_DECODE;
  if (sc_traffic_key_update (&s->sec->recv, sc_session_now (s)) != SC_OK)
    return SC_ERR_INTERNAL;
  sc_session_log_traffic_secret (s, &s->sec->recv, false);
  ev.epoch = s->sec->recv.epoch;
  sc_session_emit (s, &ev);
  return requested ? sc_session_send_key_update (s, false, out) : SC_OK;
}

/* CLOSE: the peer is done; wipe everything and report why. */
static int
consume_close (ScSession *s, const uint8_t *c, size_t len)
{
  uint8_t reason;
  ScEvent ev = { .type = SC_EVENT_CLOSED };

  if (sc_wire_parse_u8_content (c, len, &reason) != SC_OK)
    return SC_ERR_DECODE;
  ev.reason = reason;
  s->state = SC_STATE_CLOSED;
  sc_session_emit (s, &ev);
  return SC_OK;
}

static int
process_connected (ScSession *s, uint8_t type, const uint8_t *c, size_t len, ScBuffer *out)
{
  switch ((ScContentType) type)
    {
    case SC_CONTENT_MESSAGE:
      return consume_fragment (s, c, len);
    case SC_CONTENT_ACK:
      return consume_ack (s, c, len);
    case SC_CONTENT_PING:
      if (len != SC_PING_LEN)
        return SC_ERR_DECODE;
      return sc_session_seal (s, SC_CONTENT_PONG, c, len, NULL, 0, out);
    case SC_CONTENT_PONG:
      return consume_pong (s, c, len);
    case SC_CONTENT_KEY_UPDATE:
      return consume_key_update (s, c, len, out);
    case SC_CONTENT_CLOSE:
      return consume_close (s, c, len);
    case SC_CONTENT_HANDSHAKE:
      return sc_resume_consume_ticket (s, c, len); /* the only post-handshake message */
    case SC_CONTENT_ERROR:
    default:
      return SC_ERR_DECODE;
    }
}

int
sc_content_process (ScSession *s, uint8_t type, const uint8_t *c, size_t len, ScBuffer *out)
{
  if (type == SC_CONTENT_ERROR)
    {
      s->no_alert = true; /* never an alert in answer to an alert */
      if (sc_wire_parse_u8_content (c, len, &s->peer_alert) != SC_OK)
        return SC_ERR_DECODE;
      return SC_ERR_PEER_ALERT;
    }
  if (type < SC_CONTENT_HANDSHAKE || type > SC_CONTENT_ERROR)
    return SC_ERR_DECODE;
  if (s->state == SC_STATE_CONNECTED)
    return process_connected (s, type, c, len, out);
  if (type == SC_CONTENT_HANDSHAKE)
    return sc_handshake_process_protected (s, c, len, out);
  return SC_ERR_UNEXPECTED; /* application content before the handshake ended */
}

/* ---- sending ----------------------------------------------------------- */

static int
check_sendable (const ScSession *s)
{
  if (s->in_callback > 0)
    return SC_ERR_INVALID_STATE;
  if (s->state == SC_STATE_FAILED)
    return s->error;
  if (s->state == SC_STATE_CLOSED)
    return SC_ERR_CLOSED;
  if (s->state != SC_STATE_CONNECTED)
    return SC_ERR_INVALID_STATE;
  return SC_OK;
}

/* Bytes a message of len bytes takes on the wire: its records with their
 * headers and tags. */
static size_t
send_size (size_t len)
{
  size_t records = len == 0 ? 1 : (len + SC_MAX_FRAGMENT - 1) / SC_MAX_FRAGMENT;

  return len + records * (SC_RECORD_HEADER_LEN + 1 + SC_MESSAGE_HEADER_LEN + SC_AES256_GCM_TAG_LEN);
}

int
sc_session_send (ScSession *s, const uint8_t *msg, size_t len, uint64_t *id, ScBuffer *out)
{
  uint8_t hdr[SC_MESSAGE_HEADER_LEN];
  size_t offset = 0;
  int ret = check_sendable (s);

  if (ret != SC_OK)
    return ret;
  sc_session_clock_reset (s);
  if (msg == NULL && len > 0)
    return SC_ERR_INVALID_ARG;
  if (len > s->peer_max_message)
    return SC_ERR_MESSAGE_TOO_LARGE; /* the session lives on */
  /* Room for every record at once: one allocation, not a growth (and a
   * copy of what is queued) every few records. A failure here is not one:
   * sealing reserves what each record needs. */
  (void) sc_buffer_reserve (out, send_size (len));
  s->last_sent_id++;
  sc_put_u64 (hdr, s->last_sent_id);
  sc_put_u32 (hdr + 8, (uint32_t) len);
  do
    {
      size_t n = len - offset < SC_MAX_FRAGMENT ? len - offset : SC_MAX_FRAGMENT;

      sc_put_u32 (hdr + 12, (uint32_t) offset);
      ret = sc_session_seal (s, SC_CONTENT_MESSAGE, hdr, sizeof hdr, n > 0 ? msg + offset : NULL, n,
                             out);
      if (ret != SC_OK)
        return sc_session_fail (s, ret, out);
      offset += n;
    }
  while (offset < len);
  s->messages_sent++;
  s->bytes_sent += len;
  if (id != NULL)
    *id = s->last_sent_id;
  return SC_OK;
}

int
sc_session_key_update (ScSession *s, bool update_peer, ScBuffer *out)
{
  int ret = check_sendable (s);

  if (ret != SC_OK)
    return ret;
  sc_session_clock_reset (s);
  ret = sc_session_send_key_update (s, update_peer, out);
  return ret == SC_OK ? SC_OK : sc_session_fail (s, ret, out);
}

int
sc_session_close (ScSession *s, ScCloseReason reason, ScBuffer *out)
{
  uint8_t r = (uint8_t) reason;
  int ret = SC_OK;

  if (s->in_callback > 0)
    return SC_ERR_INVALID_STATE;
  if (s->state == SC_STATE_FAILED)
    return s->error;
  if (s->state == SC_STATE_CLOSED)
    return SC_OK;
  sc_session_clock_reset (s);
  if (s->state == SC_STATE_CONNECTED)
    ret = sc_session_seal (s, SC_CONTENT_CLOSE, &r, 1, NULL, 0, out);
  if (ret != SC_OK)
    return sc_session_fail (s, ret, out);
  s->state = SC_STATE_CLOSED;
  sc_session_wipe (s);
  return SC_OK;
}

/* ---- timers ------------------------------------------------------------ */

static bool
handshaking (const ScSession *s)
{
  return s->state != SC_STATE_CONNECTED && s->state != SC_STATE_CLOSED
         && s->state != SC_STATE_FAILED && s->state != SC_STATE_CLIENT_START;
}

static uint64_t
min_u64 (uint64_t a, uint64_t b)
{
  return a < b ? a : b;
}

/* Heartbeats: a PING each interval; dead after `missed` silent intervals. */
static int
tick_heartbeat (ScSession *s, uint64_t now, uint64_t *due, ScBuffer *out)
{
  const ScLimits *l = &s->cfg.limits;
  uint64_t dead_at = s->last_rx_ms + (uint64_t) l->heartbeat_interval_ms * l->heartbeat_missed;
  uint8_t ping[SC_PING_LEN];
  int ret;

  if (l->heartbeat_interval_ms == 0)
    return SC_OK;
  if (now >= dead_at)
    return SC_ERR_TIMEOUT;
  if (now >= s->next_ping_ms)
    {
      sc_put_u64 (ping, ++s->pings_sent);
      ret = sc_session_seal (s, SC_CONTENT_PING, ping, sizeof ping, NULL, 0, out);
      if (ret != SC_OK)
        return ret;
      s->next_ping_ms = now + l->heartbeat_interval_ms;
    }
  *due = min_u64 (*due, min_u64 (dead_at, s->next_ping_ms));
  return SC_OK;
}

/* Rotation by age of our sending key (PROTOCOL.md 7.2). */
static int
tick_rekey (ScSession *s, uint64_t now, uint64_t *due, ScBuffer *out)
{
  uint32_t after = s->cfg.limits.rekey_after_ms;
  int ret;

  if (after == 0)
    return SC_OK;
  if (now - s->sec->send.since_ms >= after)
    {
      ret = sc_session_send_key_update (s, false, out);
      if (ret != SC_OK)
        return ret;
    }
  *due = min_u64 (*due, s->sec->send.since_ms + after);
  return SC_OK;
}

int
sc_session_tick (ScSession *s, ScBuffer *out, uint32_t *next_ms)
{
  uint64_t now, due = UINT64_MAX;
  uint32_t timeout = s->cfg.limits.handshake_timeout_ms;
  int ret = SC_OK;

  if (next_ms != NULL)
    *next_ms = UINT32_MAX;
  if (s->in_callback > 0)
    return SC_ERR_INVALID_STATE;
  if (s->state == SC_STATE_FAILED)
    return s->error;
  sc_session_clock_reset (s);
  now = sc_session_now (s);
  if (handshaking (s) && timeout > 0)
    {
      if (now - s->hs_started_ms >= timeout)
        return sc_session_fail (s, SC_ERR_TIMEOUT, out);
      due = s->hs_started_ms + timeout;
    }
  if (s->state == SC_STATE_CONNECTED)
    {
      ret = tick_heartbeat (s, now, &due, out);
      if (ret == SC_OK)
        ret = tick_rekey (s, now, &due, out);
    }
  if (ret != SC_OK)
    return sc_session_fail (s, ret, out);
  if (next_ms != NULL && due != UINT64_MAX)
    *next_ms = due - now > UINT32_MAX ? UINT32_MAX : (uint32_t) (due - now);
  return SC_OK;
}

/* ---- inspection -------------------------------------------------------- */

void
sc_session_get_info (const ScSession *s, ScSessionInfo *info)
{
  memset (info, 0, sizeof *info);
  info->state = s->state;
  info->version = s->version;
  if (s->sec != NULL)
    {
      info->send_epoch = s->sec->send.epoch;
      info->recv_epoch = s->sec->recv.epoch;
    }
  info->messages_sent = s->messages_sent;
  info->messages_received = s->messages_received;
  info->bytes_sent = s->bytes_sent;
  info->bytes_received = s->bytes_received;
  info->last_acked = s->peer_acked;
  info->resumed = s->resumed;
  info->last_sent_id = s->last_sent_id;
  info->last_recv_id = s->last_recv_id;
  info->error = s->state == SC_STATE_FAILED ? s->error : 0;
  info->peer_alert = s->peer_alert;
}

const ScPeerIdentity *
sc_session_peer_identity (const ScSession *s)
{
  return s->have_peer ? &s->peer : NULL;
}

ScState
sc_session_get_state (const ScSession *s)
{
  return s->state;
}
