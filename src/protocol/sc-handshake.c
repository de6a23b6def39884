/* sc-handshake.c: the SecureComm handshake (PROTOCOL.md 4 and 5).
 *
 *   client                                   server
 *   ClientHello            -------->
 *                          <--------         ServerHello
 *                                            {Identity} {Verify} {Finished}
 *   {Identity} {Verify}
 *   {Finished}             -------->
 *                          <--------         [NewSessionTicket]
 *   [messages]             <------->         [messages]
 *
 * A resumed handshake (PROTOCOL.md 4.7) leaves out Identity and Verify: the
 * ClientHello carries a ticket, the ServerHello accepts it, and the
 * resumption secret enters the key schedule next to a fresh ECDH.
 *
 * Each message has a send_ function (build, add to the transcript, emit) and
 * a consume_ function (parse strictly, check, add to the transcript, advance
 * the state), in flight order.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-protocol-private.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t supported_versions[] = { SC_VERSION_1 };
static const char server_sig_context[] = "SecureComm v1 server signature";
static const char client_sig_context[] = "SecureComm v1 client signature";
/* bytes: a signed content: the longer context string, 0x00, TH. */
#define SC_SIG_CONTENT_MAX (sizeof server_sig_context + SC_SHA256_LEN)
static const uint8_t zeros[SC_SECRET_LEN];

static int
random_bytes (ScSession *s, uint8_t *out, size_t len)
{
  return s->ctx.random (s->ctx.user, out, len) == 0 ? SC_OK : SC_ERR_RANDOM;
}

static void
transcript_hash (const ScSession *s, uint8_t th[SC_SHA256_LEN])
{
  sc_sha256_peek (&s->transcript, th);
}

/* Checks a hello timestamp against our clock (PROTOCOL.md 4.3). */
static int
check_fresh (ScSession *s, uint64_t ts)
{
  uint64_t now = s->ctx.wall_ms (s->ctx.user);
  uint64_t diff = now > ts ? now - ts : ts - now;

  return diff <= s->cfg.limits.max_skew_ms ? SC_OK : SC_ERR_STALE;
}

/* ---- key schedule (PROTOCOL.md 5.2) ------------------------------------ */

/* early = HKDF-Extract(0, psk or 0); hs = HKDF-Extract(Derive(early,
 * "derived"), ecdh). Wipes the shared secret and the psk. */
static int
derive_handshake_secret (ScSession *s, const uint8_t *peer_share)
{
  uint8_t shared[SC_P256_SHARED_LEN], early[SC_SECRET_LEN], derived[SC_SECRET_LEN];
  uint8_t empty_hash[SC_SHA256_LEN];
  int ret = SC_ERR_BAD_KEY;

  if (sc_p256_ecdh (&s->sec->eph, peer_share, SC_P256_POINT_LEN, shared) != 0)
    goto out;
  sc_session_keylog (s, "ecdh_shared", shared);
  sc_sha256 (zeros, 0, empty_hash);
  if (s->resumed)
    sc_session_keylog (s, "resumption_psk", s->sec->psk);
  sc_hkdf_sha256_extract (zeros, sizeof zeros, s->resumed ? s->sec->psk : zeros, SC_SECRET_LEN,
                          early);
  ret = sc_expand_label (early, "derived", empty_hash, sizeof empty_hash, derived, sizeof derived);
  if (ret != SC_OK)
    goto out;
  sc_hkdf_sha256_extract (derived, sizeof derived, shared, sizeof shared, s->sec->hs);
  sc_session_keylog (s, "handshake_secret", s->sec->hs);
out:
  sc_p256_key_clear (&s->sec->eph); /* the ephemeral key is used once */
  sc_memzero (s->sec->psk, SC_SECRET_LEN);
  sc_memzero (shared, sizeof shared);
  sc_memzero (early, sizeof early);
  sc_memzero (derived, sizeof derived);
  return ret;
}

/* c_hs and s_hs from hs and TH(ClientHello..ServerHello); installs the
 * handshake keys for both directions. */
static int
derive_handshake_traffic (ScSession *s)
{
  uint8_t th[SC_SHA256_LEN];
  bool client = s->cfg.role == SC_ROLE_CLIENT;
  uint64_t now = sc_session_now (s);
  int ret;

  transcript_hash (s, th);
  ret = sc_expand_label (s->sec->hs, "c hs traffic", th, sizeof th, s->sec->c_hs, SC_SECRET_LEN);
  if (ret == SC_OK)
    ret = sc_expand_label (s->sec->hs, "s hs traffic", th, sizeof th, s->sec->s_hs, SC_SECRET_LEN);
  if (ret != SC_OK)
    return ret;
  sc_session_keylog (s, "c_hs_traffic", s->sec->c_hs);
  sc_session_keylog (s, "s_hs_traffic", s->sec->s_hs);
  ret = sc_traffic_key_install (&s->sec->send, client ? s->sec->c_hs : s->sec->s_hs, now);
  if (ret == SC_OK)
    ret = sc_traffic_key_install (&s->sec->recv, client ? s->sec->s_hs : s->sec->c_hs, now);
  return ret;
}

/* master = HKDF-Extract(Derive(hs, "derived"), 0); the application traffic
 * secrets and the exporter secret from TH(..server Finished), as in TLS 1.3
 * (PROTOCOL.md 5.2). Called once the server's Finished is sent or checked;
 * installs the server-to-client direction at once, so that the server can
 * send alerts that the client reads while the client's flight is on its way.
 * Wipes hs; master stays for the resumption secret (enter_connected). */
static int
derive_application_secrets (ScSession *s)
{
  uint8_t th[SC_SHA256_LEN], empty_hash[SC_SHA256_LEN], derived[SC_SECRET_LEN];
  uint8_t *master = s->sec->master;
  ScSecrets *sec = s->sec;
  bool client = s->cfg.role == SC_ROLE_CLIENT;
  int ret;

  transcript_hash (s, th);
  sc_sha256 (zeros, 0, empty_hash);
  ret = sc_expand_label (sec->hs, "derived", empty_hash, sizeof empty_hash, derived,
                         sizeof derived);
  if (ret != SC_OK)
    goto out;
  sc_hkdf_sha256_extract (derived, sizeof derived, zeros, sizeof zeros, master);
  sc_session_keylog (s, "master_secret", master);
  ret = sc_expand_label (master, "c ap traffic", th, sizeof th, sec->c_ap, SC_SECRET_LEN);
  if (ret == SC_OK)
    ret = sc_expand_label (master, "s ap traffic", th, sizeof th, sec->s_ap, SC_SECRET_LEN);
  if (ret == SC_OK)
    ret = sc_expand_label (master, "exp master", th, sizeof th, sec->exporter, SC_SECRET_LEN);
  if (ret != SC_OK)
    goto out;
  sc_session_keylog (s, "exporter_secret", sec->exporter);
  ret = sc_traffic_key_install (client ? &sec->recv : &sec->send, sec->s_ap, sc_session_now (s));
  if (ret == SC_OK)
    sc_session_log_traffic_secret (s, client ? &sec->recv : &sec->send, !client);
out:
  sc_memzero (sec->hs, SC_SECRET_LEN);
  sc_memzero (sec->s_ap, SC_SECRET_LEN);
  sc_memzero (derived, sizeof derived);
  return ret;
}

/* res = Derive-Secret(master, "res master", TH(CH..client Finished)), the
 * secret a ticket from this session resumes with. Wipes master. */
static int
derive_resumption_secret (ScSession *s)
{
  uint8_t th[SC_SHA256_LEN];
  int ret;

  transcript_hash (s, th);
  ret = sc_expand_label (s->sec->master, "res master", th, sizeof th, s->sec->res, SC_SECRET_LEN);
  sc_memzero (s->sec->master, SC_SECRET_LEN);
  if (ret == SC_OK)
    sc_session_keylog (s, "resumption_secret", s->sec->res);
  return ret;
}

/* Server: a full handshake starts a stream, a resumed one continues it
 * under the next ticket generation (set when the ticket was accepted). */
static int
assign_stream (ScSession *s)
{
  if (s->cfg.role != SC_ROLE_SERVER || s->resumed)
    return SC_OK;
  s->generation = 1;
  return random_bytes (s, s->stream_id, sizeof s->stream_id);
}

/* The handshake is complete: the client-to-server application key goes in,
 * the handshake traffic secrets go out; a server with ticket keys sends a
 * ticket at once. */
static int
enter_connected (ScSession *s, ScBuffer *out)
{
  ScEvent ev = { .type = SC_EVENT_HANDSHAKE_DONE };
  ScSecrets *sec = s->sec;
  bool client = s->cfg.role == SC_ROLE_CLIENT;
  int ret;

  ret = sc_traffic_key_install (client ? &sec->send : &sec->recv, sec->c_ap, sc_session_now (s));
  sc_memzero (sec->c_ap, SC_SECRET_LEN);
  sc_memzero (sec->c_hs, SC_SECRET_LEN);
  sc_memzero (sec->s_hs, SC_SECRET_LEN);
  if (ret == SC_OK)
    ret = derive_resumption_secret (s);
  if (ret == SC_OK)
    ret = assign_stream (s);
  if (ret != SC_OK)
    return ret;
  sc_session_log_traffic_secret (s, client ? &sec->send : &sec->recv, client);
  s->state = SC_STATE_CONNECTED;
  s->last_rx_ms = sc_session_now (s);
  s->next_ping_ms = s->last_rx_ms + s->cfg.limits.heartbeat_interval_ms;
  ev.resumed = s->resumed;
  ev.id = s->peer_acked;
  if (!client)
    {
      ev.stream_id = s->stream_id;
      ev.generation = s->generation;
    }
  sc_session_emit (s, &ev);
  if (!client && s->cfg.n_ticket_keys > 0)
    return sc_resume_send_ticket (s, out);
  if (!client)
    sc_memzero (sec->res, SC_SECRET_LEN); /* no tickets: nothing to keep it for */
  return SC_OK;
}

/* ---- hellos (PROTOCOL.md 4.2, 4.3) ------------------------------------- */

/* Our ephemeral key, random and hello; the caller adds it to the wire. */
static int
build_hello (ScSession *s, uint8_t type, const uint8_t *versions, size_t n, const ScBuffer *ext,
             ScBuffer *msg)
{
  uint8_t random[SC_RANDOM_LEN];

  if (sc_p256_keygen (&s->sec->eph, s->ctx.random, s->ctx.user) != 0
      || random_bytes (s, random, sizeof random) != SC_OK)
    return SC_ERR_RANDOM;
  sc_session_keylog (s,
                     s->cfg.role == SC_ROLE_CLIENT ? "c_ephemeral_private" : "s_ephemeral_private",
                     s->sec->eph.d);
  return sc_wire_build_hello (msg, type, versions, n, random, s->ctx.wall_ms (s->ctx.user),
                              s->sec->eph.pub, s->cfg.limits.max_message_size, ext->data, ext->len);
}

int
sc_session_start (ScSession *s, ScBuffer *out)
{
  const ScResumption *res = s->cfg.resumption;
  ScBuffer msg, ext;
  int ret = SC_OK;

  if (s->in_callback > 0 || s->state != SC_STATE_CLIENT_START)
    return s->state == SC_STATE_FAILED ? s->error : SC_ERR_INVALID_STATE;
  sc_session_clock_reset (s);
  sc_buffer_init (&msg);
  sc_buffer_init (&ext);
  if (res != NULL)
    {
      ret = sc_wire_build_resumption_ticket (&ext, res->ticket, res->ticket_len, res->recv_id);
      s->offered_ticket = true;
    }
  if (ret == SC_OK)
    ret = build_hello (s, SC_HS_CLIENT_HELLO, supported_versions, sizeof supported_versions, &ext,
                       &msg);
  if (ret == SC_OK)
    ret = sc_session_send_plaintext_handshake (s, &msg, out);
  sc_buffer_clear (&msg);
  sc_buffer_clear (&ext);
  if (ret != SC_OK)
    return sc_session_fail (s, ret, out);
  s->hs_started_ms = sc_session_now (s);
  s->state = SC_STATE_CLIENT_WAIT_SERVER_HELLO;
  return SC_OK;
}

/* The first version in the client's list that we support (client order). */
static uint8_t
select_version (const ScHello *ch)
{
  for (size_t i = 0; i < ch->n_versions; i++)
    for (size_t j = 0; j < sizeof supported_versions; j++)
      if (ch->versions[i] == supported_versions[j])
        return ch->versions[i];
  return 0;
}

/* Checks shared by both hellos: freshness and the key share. */
static int
check_hello (ScSession *s, const ScHello *h)
{
  int ret = check_fresh (s, h->timestamp_ms);

  if (ret != SC_OK)
    return ret;
  if (sc_p256_point_check (h->key_share, SC_P256_POINT_LEN) != 0)
    return SC_ERR_BAD_KEY;
  s->peer_max_message = h->max_message_size;
  return SC_OK;
}

static int send_server_flight (ScSession *s, ScBuffer *out);

/* Whether the host lets this opened ticket resume its stream; the trust
 * policy is asked again, as it may have changed since the ticket was
 * issued (PROTOCOL.md 4.7.5). */
static bool
host_allows_resume (ScSession *s, const ScOpenedTicket *t, uint64_t client_recv_id,
                    uint64_t *server_recv_id)
{
  ScResumeRequest req = { .stream_id = t->stream_id,
                          .generation = t->generation,
                          .client = &t->client,
                          .client_recv_id = client_recv_id };
  int ret;

  if (t->client.type == 0 && s->cfg.client_auth == SC_CLIENT_AUTH_REQUIRED)
    return false;
  if (t->client.type != 0 && sc_session_verify_peer (s, &t->client) != 0)
    return false;
  s->in_callback++;
  ret = s->ctx.resume (s->ctx.user, &req, server_recv_id);
  s->in_callback--;
  return ret == 0;
}

/* Server: a ticket in the ClientHello resumes its stream when everything
 * checks out, and is ignored otherwise (a full handshake follows). Only a
 * malformed extension is an error. On success the session continues the
 * stream's message ids and the next ticket generation. */
static int
try_resume (ScSession *s, const ScHello *ch, uint64_t *server_recv_id)
{
  int i = sc_hello_find_extension (ch, SC_EXT_RESUMPTION_TICKET);
  const uint8_t *ticket;
  size_t ticket_len;
  uint64_t client_recv_id;
  ScOpenedTicket t;
  int ret;

  if (i < 0)
    return SC_OK;
  ret = sc_wire_parse_resumption_ticket (ch->ext_data[i], ch->ext_lens[i], &ticket, &ticket_len,
                                         &client_recv_id);
  if (ret != SC_OK || s->cfg.n_ticket_keys == 0 || s->ctx.resume == NULL)
    return ret;
  if (!sc_resume_open_ticket (s, ticket, ticket_len, &t))
    return SC_OK;
  if (!host_allows_resume (s, &t, client_recv_id, server_recv_id))
    {
      sc_memzero (s->sec->psk, SC_SECRET_LEN);
      return SC_OK;
    }
  s->resumed = true;
  memcpy (s->stream_id, t.stream_id, sizeof s->stream_id);
  s->generation = t.generation + 1;
  s->peer = t.client;
  s->have_peer = t.client.type != 0;
  s->last_sent_id = s->peer_acked = client_recv_id;
  s->last_recv_id = s->ack_sent = *server_recv_id;
  return SC_OK;
}

/* Server: ClientHello in, ServerHello and the encrypted flight out. */
static int
consume_client_hello (ScSession *s, const uint8_t *msg, size_t len, const uint8_t *body,
                      size_t body_len, ScBuffer *out)
{
  ScHello ch;
  ScBuffer sh, ext;
  uint64_t server_recv_id = 0;
  int ret = sc_wire_parse_client_hello (body, body_len, &ch);

  if (ret != SC_OK)
    return ret;
  s->version = select_version (&ch);
  if (s->version == 0)
    return SC_ERR_VERSION;
  ret = check_hello (s, &ch);
  if (ret == SC_OK)
    ret = try_resume (s, &ch, &server_recv_id);
  if (ret != SC_OK)
    return ret;
  sc_sha256_update (&s->transcript, msg, len);
  sc_buffer_init (&sh);
  sc_buffer_init (&ext);
  if (s->resumed)
    ret = sc_wire_build_resumption_accept (&ext, server_recv_id);
  if (ret == SC_OK)
    ret = build_hello (s, SC_HS_SERVER_HELLO, &s->version, 1, &ext, &sh);
  if (ret == SC_OK)
    ret = sc_session_send_plaintext_handshake (s, &sh, out);
  sc_buffer_clear (&sh);
  sc_buffer_clear (&ext);
  if (ret == SC_OK)
    ret = derive_handshake_secret (s, ch.key_share);
  if (ret == SC_OK)
    ret = derive_handshake_traffic (s);
  if (ret == SC_OK)
    ret = send_server_flight (s, out);
  return ret;
}

/* Client: the ServerHello's extensions. The only one a server may send is
 * resumption_accept, and only when we offered a ticket; it names the
 * highest message id the server delivered, which cannot exceed what we sent
 * on the stream. */
static int
check_server_extensions (ScSession *s, const ScHello *sh, bool *accepted, uint64_t *server_recv_id)
{
  int i = sc_hello_find_extension (sh, SC_EXT_RESUMPTION_ACCEPT);

  *accepted = false;
  if (sh->n_extensions == 0)
    return SC_OK;
  if (i < 0 || sh->n_extensions != 1 || !s->offered_ticket)
    return SC_ERR_UNEXPECTED;
  if (sc_wire_parse_resumption_accept (sh->ext_data[i], sh->ext_lens[i], server_recv_id) != SC_OK)
    return SC_ERR_DECODE;
  if (*server_recv_id > s->cfg.resumption->sent_id)
    return SC_ERR_DECODE;
  *accepted = true;
  return SC_OK;
}

/* Client: the server accepted our ticket: the stored server identity and
 * the stream's message ids carry over. */
static void
resume_stream (ScSession *s, uint64_t server_recv_id)
{
  const ScResumption *res = s->cfg.resumption;

  s->resumed = true;
  memcpy (s->sec->psk, res->psk, SC_SECRET_LEN);
  s->peer = res->server;
  s->peer.resumed = true;
  s->peer.n_certs = 0;
  memset (s->peer.certs, 0, sizeof s->peer.certs);
  s->last_sent_id = s->peer_acked = server_recv_id;
  s->last_recv_id = s->ack_sent = res->recv_id;
}

/* Client: ServerHello in; handshake keys out. */
static int
consume_server_hello (ScSession *s, const uint8_t *msg, size_t len, const uint8_t *body,
                      size_t body_len)
{
  ScHello sh;
  bool accepted;
  uint64_t server_recv_id = 0;
  int ret = sc_wire_parse_server_hello (body, body_len, &sh);

  if (ret != SC_OK)
    return ret;
  if (memchr (supported_versions, sh.versions[0], sizeof supported_versions) == NULL)
    return SC_ERR_VERSION; /* not a version we offered */
  ret = check_server_extensions (s, &sh, &accepted, &server_recv_id);
  if (ret == SC_OK)
    ret = check_hello (s, &sh);
  if (ret != SC_OK)
    return ret;
  s->version = sh.versions[0];
  sc_sha256_update (&s->transcript, msg, len);
  if (accepted)
    resume_stream (s, server_recv_id);
  ret = derive_handshake_secret (s, sh.key_share);
  if (ret == SC_OK)
    ret = derive_handshake_traffic (s);
  if (ret == SC_OK)
    s->state = s->resumed ? SC_STATE_CLIENT_WAIT_FINISHED : SC_STATE_CLIENT_WAIT_IDENTITY;
  return ret;
}

int
sc_handshake_process_plaintext (ScSession *s, const uint8_t *msg, size_t len, ScBuffer *out)
{
  uint8_t type;
  const uint8_t *body;
  size_t body_len;
  int ret = sc_wire_parse_handshake (msg, len, &type, &body, &body_len);

  if (ret != SC_OK)
    return ret;
  if (s->state == SC_STATE_SERVER_WAIT_CLIENT_HELLO && type == SC_HS_CLIENT_HELLO)
    return consume_client_hello (s, msg, len, body, body_len, out);
  if (s->state == SC_STATE_CLIENT_WAIT_SERVER_HELLO && type == SC_HS_SERVER_HELLO)
    return consume_server_hello (s, msg, len, body, body_len);
  return SC_ERR_UNEXPECTED;
}

/* ---- Identity, Verify, Finished (PROTOCOL.md 4.4 to 4.6) --------------- */

static int
send_identity (ScSession *s, uint8_t auth_request, ScBuffer *out)
{
  ScIdentityMsg id = { .auth_request = auth_request };
  uint8_t spki[SC_P256_SPKI_LEN];
  ScBuffer msg;
  int ret;

  if (s->cfg.identity == NULL)
    id.identity_type = 0;
  else if (s->cfg.n_certs > 0)
    {
      id.identity_type = 2;
      id.n_certs = s->cfg.n_certs;
      for (size_t i = 0; i < id.n_certs; i++)
        {
          id.certs[i] = s->cfg.cert_chain[i];
          id.cert_lens[i] = s->cfg.cert_chain_lens[i];
        }
    }
  else
    {
      id.identity_type = 1;
      sc_p256_spki_encode (s->cfg.identity->pub, spki);
      id.spki = spki;
    }
  sc_buffer_init (&msg);
  ret = sc_wire_build_identity (&msg, &id);
  if (ret == SC_OK)
    ret = sc_session_send_protected_handshake (s, &msg, out);
  sc_buffer_clear (&msg);
  return ret;
}

/* content = context string || 0x00 || TH (PROTOCOL.md 4.5). */
static size_t
signature_content (const ScSession *s, bool server_signs, uint8_t *content)
{
  const char *ctx = server_signs ? server_sig_context : client_sig_context;
  size_t n = strlen (ctx);

  memcpy (content, ctx, n);
  content[n] = 0;
  transcript_hash (s, content + n + 1);
  return n + 1 + SC_SHA256_LEN;
}

static int
send_verify (ScSession *s, ScBuffer *out)
{
  uint8_t content[SC_SIG_CONTENT_MAX];
  uint8_t msg[SC_HS_HEADER_LEN + 2 + SC_P256_SIG_LEN];
  size_t n = signature_content (s, s->cfg.role == SC_ROLE_SERVER, content);
  ScBuffer view;

  msg[0] = SC_HS_VERIFY;
  sc_put_u24 (msg + 1, 2 + SC_P256_SIG_LEN);
  sc_put_u16 (msg + 4, SC_SIG_SCHEME_ECDSA_P256_SHA256);
  switch (sc_p256_sign (s->cfg.identity, content, n, s->ctx.random, s->ctx.user, msg + 6))
    {
    case 0:
      break;
    case SC_CRYPTO_ERANDOM:
      return SC_ERR_RANDOM;
    default:
      return SC_ERR_INTERNAL;
    }
  view = (ScBuffer) { .data = msg, .len = sizeof msg, .cap = sizeof msg };
  return sc_session_send_protected_handshake (s, &view, out);
}

/* verify_data = HMAC(HKDF-Expand-Label(base, "finished", "", 32), TH). */
static int
finished_mac (ScSession *s, const uint8_t *base, uint8_t mac[SC_HMAC_SHA256_LEN])
{
  uint8_t key[SC_SECRET_LEN], th[SC_SHA256_LEN];
  int ret = sc_expand_label (base, "finished", NULL, 0, key, sizeof key);

  if (ret == SC_OK)
    {
      transcript_hash (s, th);
      sc_hmac_sha256 (key, sizeof key, th, sizeof th, mac);
    }
  sc_memzero (key, sizeof key);
  return ret;
}

static int
send_finished (ScSession *s, ScBuffer *out)
{
  uint8_t msg[SC_HS_HEADER_LEN + SC_HMAC_SHA256_LEN];
  const uint8_t *base = s->cfg.role == SC_ROLE_SERVER ? s->sec->s_hs : s->sec->c_hs;
  ScBuffer view = { .data = msg, .len = sizeof msg, .cap = sizeof msg };
  int ret;

  msg[0] = SC_HS_FINISHED;
  sc_put_u24 (msg + 1, SC_HMAC_SHA256_LEN);
  ret = finished_mac (s, base, msg + SC_HS_HEADER_LEN);
  if (ret == SC_OK)
    ret = sc_session_send_protected_handshake (s, &view, out);
  return ret;
}

/* Server: {Identity} {Verify} {Finished}; a resumed handshake sends only
 * {Finished} and expects only the client's. */
static int
send_server_flight (ScSession *s, ScBuffer *out)
{
  int ret = SC_OK;

  if (!s->resumed)
    ret = send_identity (s, (uint8_t) s->cfg.client_auth, out);
  if (ret == SC_OK && !s->resumed)
    ret = send_verify (s, out);
  if (ret == SC_OK)
    ret = send_finished (s, out);
  if (ret == SC_OK)
    ret = derive_application_secrets (s);
  if (ret == SC_OK)
    s->state = s->cfg.client_auth != SC_CLIENT_AUTH_NONE && !s->resumed
                   ? SC_STATE_SERVER_WAIT_IDENTITY
                   : SC_STATE_SERVER_WAIT_FINISHED;
  return ret;
}

/* Client, after the server's Finished: our identity if asked, our Finished,
 * then application keys. */
static int
send_client_flight (ScSession *s, ScBuffer *out)
{
  int ret = SC_OK;

  if (s->auth_request != SC_CLIENT_AUTH_NONE)
    {
      ret = send_identity (s, 0, out);
      if (ret == SC_OK && s->cfg.identity != NULL)
        ret = send_verify (s, out);
    }
  if (ret == SC_OK)
    ret = send_finished (s, out);
  if (ret == SC_OK)
    ret = enter_connected (s, out);
  return ret;
}

/* The peer's public key from its Identity message: the raw SPKI or the
 * leaf certificate's key. */
static int
identity_key (const ScIdentityMsg *id, uint8_t pub[SC_P256_POINT_LEN])
{
  int ret;

  if (id->identity_type == 1) /* any SPKI that is not ours: illegal_parameter */
    return sc_p256_spki_decode (id->spki, SC_P256_SPKI_LEN, pub) == 0 ? SC_OK : SC_ERR_BAD_KEY;
  ret = sc_x509_p256_pubkey (id->certs[0], id->cert_lens[0], pub);
  switch (ret)
    {
    case 0:
      return SC_OK;
    case SC_CRYPTO_EENCODING:
      return SC_ERR_DECODE; /* not a certificate */
    case SC_CRYPTO_EPOINT:
      return SC_ERR_BAD_KEY;
    default:
      return SC_ERR_INTERNAL;
    }
}

/* Identity in: parse, extract the key, keep a copy of the body until the
 * signature over it is checked. */
static int
consume_identity (ScSession *s, const uint8_t *msg, size_t len, const uint8_t *body,
                  size_t body_len)
{
  ScIdentityMsg id;
  bool server = s->cfg.role == SC_ROLE_SERVER;
  int ret = sc_wire_parse_identity (body, body_len, &id);

  if (ret != SC_OK)
    return ret;
  if (server ? id.auth_request != 0 : id.identity_type == 0)
    return SC_ERR_DECODE; /* clients ask nothing; servers always identify */
  sc_sha256_update (&s->transcript, msg, len);
  if (id.identity_type == 0)
    {
      if (s->cfg.client_auth == SC_CLIENT_AUTH_REQUIRED)
        return SC_ERR_AUTH_REQUIRED;
      s->state = SC_STATE_SERVER_WAIT_FINISHED;
      return SC_OK;
    }
  ret = identity_key (&id, s->peer_pub);
  if (ret != SC_OK)
    return ret;
  if (!server)
    {
      /* Once the key is validated: asked for an identity we lack, there
       * is no point going on (PROTOCOL.md 4.4). */
      s->auth_request = id.auth_request;
      if (id.auth_request == SC_CLIENT_AUTH_REQUIRED && s->cfg.identity == NULL)
        return SC_ERR_AUTH_REQUIRED;
    }
  s->peer_msg = malloc (body_len);
  if (s->peer_msg == NULL)
    return SC_ERR_NOMEM;
  memcpy (s->peer_msg, body, body_len);
  s->peer_msg_len = body_len;
  s->state = server ? SC_STATE_SERVER_WAIT_VERIFY : SC_STATE_CLIENT_WAIT_VERIFY;
  return SC_OK;
}

/* Applies the host's trust policy to the now authenticated identity. */
static int
trust_peer (ScSession *s)
{
  ScIdentityMsg id;
  ScPeerIdentity *p = &s->peer;

  if (sc_wire_parse_identity (s->peer_msg, s->peer_msg_len, &id) != SC_OK)
    return SC_ERR_INTERNAL;
  memset (p, 0, sizeof *p);
  p->type = id.identity_type;
  sc_p256_spki_encode (s->peer_pub, p->spki);
  sc_sha256 (p->spki, sizeof p->spki, p->fingerprint);
  p->n_certs = id.n_certs;
  for (size_t i = 0; i < id.n_certs; i++)
    {
      p->certs[i] = id.certs[i];
      p->cert_lens[i] = id.cert_lens[i];
    }
  if (sc_session_verify_peer (s, p) != 0)
    return SC_ERR_UNTRUSTED;
  /* The chain dies with the copy; what stays is the key and fingerprint. */
  p->n_certs = 0;
  memset (p->certs, 0, sizeof p->certs);
  s->have_peer = true;
  return SC_OK;
}

/* Verify in: the signature over TH(..Identity), then trust. */
static int
consume_verify (ScSession *s, const uint8_t *msg, size_t len, const uint8_t *body, size_t body_len)
{
  uint8_t content[SC_SIG_CONTENT_MAX];
  const uint8_t *sig;
  size_t n;
  int ret = sc_wire_parse_verify (body, body_len, &sig);

  if (ret != SC_OK)
    return ret;
  n = signature_content (s, s->cfg.role == SC_ROLE_CLIENT, content);
  if (sc_p256_verify (s->peer_pub, content, n, sig) != 0)
    return SC_ERR_AUTH;
  ret = trust_peer (s);
  sc_memzero (s->peer_msg, s->peer_msg_len);
  free (s->peer_msg);
  s->peer_msg = NULL;
  if (ret != SC_OK)
    return ret;
  sc_sha256_update (&s->transcript, msg, len);
  s->state = s->cfg.role == SC_ROLE_CLIENT ? SC_STATE_CLIENT_WAIT_FINISHED
                                           : SC_STATE_SERVER_WAIT_FINISHED;
  return SC_OK;
}

/* Finished in: constant-time check of the peer's MAC over TH(..Verify). */
static int
consume_finished (ScSession *s, const uint8_t *msg, size_t len, const uint8_t *body,
                  size_t body_len, ScBuffer *out)
{
  uint8_t expect[SC_HMAC_SHA256_LEN];
  const uint8_t *mac;
  bool client = s->cfg.role == SC_ROLE_CLIENT;
  int ret = sc_wire_parse_finished (body, body_len, &mac);

  if (ret != SC_OK)
    return ret;
  ret = finished_mac (s, client ? s->sec->s_hs : s->sec->c_hs, expect);
  if (ret == SC_OK && !sc_memeq_ct (expect, mac, sizeof expect))
    ret = SC_ERR_AUTH;
  sc_memzero (expect, sizeof expect);
  if (ret != SC_OK)
    return ret;
  sc_sha256_update (&s->transcript, msg, len);
  if (!client)
    return enter_connected (s, out);
  if (s->resumed)
    {
      /* Our trust policy, again, for the identity the ticket stands for
       * (PROTOCOL.md 4.7.6). */
      if (sc_session_verify_peer (s, &s->peer) != 0)
        return SC_ERR_UNTRUSTED;
      s->have_peer = true;
    }
  ret = derive_application_secrets (s);
  return ret == SC_OK ? send_client_flight (s, out) : ret;
}

int
sc_handshake_process_protected (ScSession *s, const uint8_t *msg, size_t len, ScBuffer *out)
{
  uint8_t type;
  const uint8_t *body;
  size_t body_len;
  int ret = sc_wire_parse_handshake (msg, len, &type, &body, &body_len);

  if (ret != SC_OK)
    return ret;
  switch (s->state)
    {
    case SC_STATE_CLIENT_WAIT_IDENTITY:
    case SC_STATE_SERVER_WAIT_IDENTITY:
      if (type == SC_HS_IDENTITY)
        return consume_identity (s, msg, len, body, body_len);
      break;
    case SC_STATE_CLIENT_WAIT_VERIFY:
    case SC_STATE_SERVER_WAIT_VERIFY:
      if (type == SC_HS_VERIFY)
        return consume_verify (s, msg, len, body, body_len);
      break;
    case SC_STATE_CLIENT_WAIT_FINISHED:
    case SC_STATE_SERVER_WAIT_FINISHED:
      if (type == SC_HS_FINISHED)
        return consume_finished (s, msg, len, body, body_len, out);
      break;
    case SC_STATE_CLIENT_START:
    case SC_STATE_CLIENT_WAIT_SERVER_HELLO:
    case SC_STATE_SERVER_WAIT_CLIENT_HELLO:
    case SC_STATE_CONNECTED:
    case SC_STATE_CLOSED:
    case SC_STATE_FAILED:
    default:
      break;
    }
  return SC_ERR_UNEXPECTED;
}

/* ---- exporter (PROTOCOL.md 5.3) ---------------------------------------- */

int
sc_session_export (ScSession *s, const char *label, const uint8_t *context, size_t context_len,
                   uint8_t *out, size_t out_len)
{
  uint8_t empty_hash[SC_SHA256_LEN], ctx_hash[SC_SHA256_LEN], tmp[SC_SECRET_LEN];
  int ret;

  if (s->state == SC_STATE_FAILED)
    return s->error; /* a dead session answers with why */
  if (s->state != SC_STATE_CONNECTED)
    return SC_ERR_INVALID_STATE;
  if (label == NULL || out_len == 0 || out_len > SC_HKDF_SHA256_MAX_OUTPUT
      || (context == NULL && context_len > 0))
    return SC_ERR_INVALID_ARG;
  sc_sha256 (zeros, 0, empty_hash);
  sc_sha256 (context != NULL ? context : zeros, context_len, ctx_hash);
  ret = sc_expand_label (s->sec->exporter, label, empty_hash, sizeof empty_hash, tmp, sizeof tmp);
  if (ret == SC_OK)
    ret = sc_expand_label (tmp, "exporter", ctx_hash, sizeof ctx_hash, out, out_len);
  sc_memzero (tmp, sizeof tmp);
  return ret;
}
