/* fuzz-content.c: protected records with chosen plaintext, past the AEAD.
 *
 * A random byte stream almost never opens as a record, so fuzz-record
 * reaches little of what lies behind the AEAD. Here the target plays the
 * sender: it seals each item of the input under the traffic key the
 * receiving session expects (learnt from the key log, sequence number kept
 * in step, ratcheted after each KEY_UPDATE the receiver accepts, exactly as
 * test_rewrite_record seals) and feeds the record to the session. That
 * reaches the inner-content parsers and state: MESSAGE fragments and
 * reassembly, ACK, PING/PONG, KEY_UPDATE, CLOSE, ERROR, unknown types, and in
 * the handshake scenarios the protected Identity, Verify and Finished.
 *
 * Input:
 *   byte 0   flags: bits 0-1 scenario, bits 2-4 variant (fuzz-peers.h),
 *            bit 5 the receiver's host takes each reassembled message
 *            (sc_session_take_message) and frees it in the event
 *   items    (u8 type, u16 len, content[len]); a short last item is cut
 *            to what is left
 *
 * Scenarios: 0 the server after the real ClientHello (keys: c_hs_traffic,
 * then c_ap_traffic_N); 1 the client after the real ServerHello
 * (s_hs_traffic, then s_ap_traffic_N); 2 and 3 the server and the client of
 * a connected pair (test_connect-style, deterministic).
 *
 * An item with type < 0xf0 becomes one protected record of that inner type.
 * Types 0xf0..0xf7 are actions of the receiving session's host instead, so
 * that the fuzzer can make valid ACKs (the receiver must have sent
 * messages), valid PONGs (it must have sent pings), and so on:
 *   0xf0 send content as a message   0xf1 advance the clock by u32 ms, tick
 *   0xf2 key update (content[0] & 1: ask the peer too)
 *   0xf3 content as raw wire bytes   0xf4 close (reason content[0])
 *   0xf5 export (label = content)    0xf6 EOF
 *   0xf7 a record (type content[1], content content[2..]) fed in two parts
 *        split at content[0] (partial-record buffering of protected records)
 * Stops at the first error. Checks the channel stays in step
 * (fuzz_channel_sync), that an ERROR record gets no alert in reply, and the
 * dead-session contract; in replay builds, that
 * a run on a snapshot (fuzz_peers_setup) ends exactly like a run after a
 * fresh handshake.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "fuzz-peers.h"

#include <string.h>

#define FLAG_TAKE 0x20u

enum
{
  ACT_SEND = 0xf0,
  ACT_TICK = 0xf1,
  ACT_KEY_UPDATE = 0xf2,
  ACT_RAW = 0xf3,
  ACT_CLOSE = 0xf4,
  ACT_EXPORT = 0xf5,
  ACT_EOF = 0xf6,
  ACT_SPLIT = 0xf7,
};

typedef struct
{
  TestPeer client, server;
  TestPeer *rx;
  FuzzChannel ch;
  GByteArray *rec;
  ScSha256 output; /* everything the receiver sent */
} Ctx;

static void
setup (Ctx *x, uint8_t flags, gboolean fresh)
{
  FuzzScenario scenario = FUZZ_FLAGS_SCENARIO (flags);
  gboolean to_server = scenario == FUZZ_TO_SERVER_HANDSHAKE || scenario == FUZZ_TO_SERVER_CONNECTED;
  FuzzStage stage = FUZZ_STAGE_CONNECTED;

  if (scenario == FUZZ_TO_SERVER_HANDSHAKE)
    stage = FUZZ_STAGE_SERVER_FLIGHT;
  else if (scenario == FUZZ_TO_CLIENT_HANDSHAKE)
    stage = FUZZ_STAGE_CLIENT_KEYED;
  fuzz_peers_setup (&x->client, &x->server, FUZZ_FLAGS_VARIANT (flags), stage, fresh);
  x->rx = to_server ? &x->server : &x->client;
  x->rx->take_messages = (flags & FLAG_TAKE) != 0;
  fuzz_drop_output (x->rx);
  sc_sha256_init (&x->output);
  fuzz_channel_init (&x->ch, x->rx);
  x->rec = g_byte_array_new ();
  if (stage == FUZZ_STAGE_CONNECTED) /* both ends derived the same key */
    FUZZ_CHECK (memcmp (test_peer_secret (&x->client, "c_ap_traffic_0"),
                        test_peer_secret (&x->server, "c_ap_traffic_0"), SC_SECRET_LEN)
                == 0);
}

static void
teardown (Ctx *x)
{
  g_byte_array_unref (x->rec);
  fuzz_channel_clear (&x->ch);
  fuzz_peers_clear (&x->client, &x->server);
}

static int
recv_bytes (Ctx *x, const uint8_t *p, size_t n)
{
  int ret = sc_session_recv (x->rx->s, p, n, &x->rx->out);

  fuzz_take_output (x->rx, &x->output);
  return ret;
}

static int
seal_and_feed (Ctx *x, uint8_t type, const uint8_t *c, size_t len, size_t split)
{
  /* The record starts at a record boundary, in step with the receiver. */
  gboolean aligned = x->rx->s->inlen == 0 && !x->ch.lost;
  int ret;

  g_byte_array_set_size (x->rec, 0);
  fuzz_channel_seal (&x->ch, type, c, len, x->rec);
  if (split > 0)
    {
      split %= x->rec->len;
      ret = recv_bytes (x, x->rec->data, split);
      if (ret == SC_OK)
        ret = recv_bytes (x, x->rec->data + split, x->rec->len - split);
    }
  else
    ret = sc_session_recv (x->rx->s, x->rec->data, x->rec->len, &x->rx->out);
  /* Never an alert in answer to an alert (PROTOCOL.md 8.2, 8.3): an ERROR
   * record, well-formed or not, gets no reply. One too long to be a record
   * is refused from its header, before its type is known: that one is
   * answered (record_overflow), rightly. */
  if (type == SC_CONTENT_ERROR && split == 0 && aligned && 1 + len <= SC_MAX_RECORD_PLAINTEXT)
    FUZZ_CHECK (x->rx->out.len == 0);
  fuzz_take_output (x->rx, &x->output);
  if (ret == SC_OK)
    fuzz_channel_sync (&x->ch);
  return ret;
}

static int
act_tick (Ctx *x, const uint8_t *c, size_t len)
{
  uint32_t ms = 0, next = 0;

  for (size_t i = 0; i < len && i < 4; i++)
    ms = ms << 8 | c[i];
  x->rx->mono_ms += ms;
  return sc_session_tick (x->rx->s, &x->rx->out, &next);
}

static int
act_export (Ctx *x, const uint8_t *c, size_t len)
{
  g_autofree char *label = g_strndup ((const char *) c, len);
  uint8_t a[32], b[32];
  int ret = sc_session_export (x->rx->s, label, c, len, a, sizeof a);

  if (ret == SC_OK)
    {
      /* Same label and context, same output. */
      FUZZ_CHECK (sc_session_export (x->rx->s, label, c, len, b, sizeof b) == SC_OK);
      FUZZ_CHECK (memcmp (a, b, sizeof a) == 0);
    }
  return ret;
}

/* One item. Returns FALSE to stop. */
static gboolean
item (Ctx *x, uint8_t type, const uint8_t *c, size_t len)
{
  int ret;

  switch (type)
    {
    case ACT_SEND: /* an empty message as a host would send it: no buffer */
      ret = sc_session_send (x->rx->s, len > 0 ? c : NULL, len, NULL, &x->rx->out);
      break;
    case ACT_TICK:
      ret = act_tick (x, c, len);
      break;
    case ACT_KEY_UPDATE:
      ret = sc_session_key_update (x->rx->s, len > 0 && (c[0] & 1), &x->rx->out);
      break;
    case ACT_RAW:
      ret = recv_bytes (x, c, len);
      break;
    case ACT_CLOSE:
      ret = sc_session_close (x->rx->s, len > 0 ? c[0] : 0, &x->rx->out);
      break;
    case ACT_EXPORT:
      ret = act_export (x, c, len);
      break;
    case ACT_EOF:
      ret = sc_session_eof (x->rx->s);
      break;
    case ACT_SPLIT:
      if (len < 2)
        return FALSE;
      ret = seal_and_feed (x, c[1], c + 2, len - 2, c[0] + 1u);
      break;
    default:
      ret = seal_and_feed (x, type, c, len, 0);
      break;
    }
  fuzz_take_output (x->rx, &x->output);
  /* API errors that leave the session alive (a message over the peer's
   * limit, an export before connecting) do not stop the input. */
  if (ret != SC_OK)
    {
      ScState st = sc_session_get_state (x->rx->s);

      return st != SC_STATE_FAILED && st != SC_STATE_CLOSED;
    }
  return TRUE;
}

/* Runs the items; returns how the receiver ended. */
static void
run (const uint8_t *data, size_t size, gboolean fresh, FuzzOutcome *o)
{
  Ctx x;
  size_t off = 1;

  setup (&x, data[0], fresh);
  while (size - off >= 3)
    {
      uint8_t type = data[off];
      size_t len = sc_get_u16 (data + off + 1);

      off += 3;
      if (len > size - off)
        len = size - off;
      if (len > SC_MAX_RECORD_PLAINTEXT + FUZZ_CONTENT_SLACK)
        len = SC_MAX_RECORD_PLAINTEXT + FUZZ_CONTENT_SLACK;
      if (!item (&x, type, data + off, len))
        break;
      off += len;
    }
  fuzz_check_session_contract (x.rx);
  fuzz_outcome_take (o, x.rx, &x.output);
  o->consumed = off;
  if (fuzz_verbose ())
    fprintf (stderr,
             "content: scenario %d%s: %zu of %zu bytes used, state %d error %d (%s), "
             "%u messages, recv epoch %u\n",
             FUZZ_FLAGS_SCENARIO (data[0]), fresh ? " fresh" : "", off, size, o->info.state,
             o->info.error, sc_strerror (o->info.error), o->n_messages, o->info.recv_epoch);
  teardown (&x);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FuzzOutcome snap, fresh;

  if (size < 1)
    return 0;
  run (data, size, FALSE, &snap);
  if (FUZZ_CHECK_SNAPSHOTS)
    {
      run (data, size, TRUE, &fresh);
      fuzz_outcome_check_same (&snap, &fresh, TRUE);
    }
  return 0;
}
