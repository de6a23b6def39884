/* sc-protocol-private.h: what the files of the protocol core share.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sc-keyschedule.h"
#include "sc-protocol.h"
#include "sc-wire.h"

/* Every secret of one session, in one secure-memory block. */
typedef struct
{
  ScP256Key eph;                   /* ephemeral key, wiped after ECDH */
  uint8_t hs[SC_SECRET_LEN];       /* handshake secret, until master exists */
  uint8_t c_hs[SC_SECRET_LEN];     /* handshake traffic secrets, until both */
  uint8_t s_hs[SC_SECRET_LEN];     /*   Finished messages are done */
  uint8_t c_ap[SC_SECRET_LEN];     /* first application secrets, until */
  uint8_t s_ap[SC_SECRET_LEN];     /*   installed */
  uint8_t exporter[SC_SECRET_LEN]; /* exporter master secret */
  uint8_t psk[SC_SECRET_LEN];      /* resumption secret in use, until early */
  uint8_t master[SC_SECRET_LEN];   /* master secret, until res is derived */
  uint8_t res[SC_SECRET_LEN];      /* this session's resumption secret */
  ScTrafficKey send;
  ScTrafficKey recv;
} ScSecrets;

struct ScSession
{
  ScSessionConfig cfg;
  ScProtoCtx ctx;
  ScState state;
  int error;
  uint8_t peer_alert;
  bool alerting;            /* sealing our last record: an alert */
  bool peer_protected_seen; /* a protected record from the peer opened */
  bool no_alert;            /* failing on a received alert: send none back */
  unsigned in_callback;     /* > 0 while the host's callbacks run */
  ScSecrets *sec;           /* NULL once wiped */
  ScSha256 transcript;
  uint8_t version;
  uint64_t hs_started_ms;
  uint64_t now_ms; /* the clock as read in this call (sc_session_now) */
  bool now_valid;

  /* Resumption (PROTOCOL.md 4.7). */
  bool offered_ticket;                 /* client: our ClientHello carried a ticket */
  bool resumed;                        /* this handshake resumed a stream */
  uint8_t stream_id[SC_STREAM_ID_LEN]; /* server: the stream's id */
  uint32_t generation;                 /*   and its ticket generation */

  /* The peer. */
  uint8_t auth_request; /* client: what the server asked of us */
  uint8_t peer_pub[SC_P256_POINT_LEN];
  ScPeerIdentity peer;
  bool have_peer;
  uint8_t *peer_msg;   /* copy of the peer's Identity body until */
  size_t peer_msg_len; /*   its Verify is checked */
  uint32_t peer_max_message;

  /* Input: at most one partial record. */
  uint8_t *inbuf;
  size_t inlen;

  /* Messages (PROTOCOL.md 6). */
  uint64_t last_sent_id;
  uint64_t last_recv_id;
  uint64_t peer_acked;
  uint64_t ack_sent;
  uint8_t *reasm;        /* message being reassembled (sc_message_free frees it) */
  bool reasm_delivering; /* its event runs: sc_session_take_message may take it */
  uint64_t reasm_id;
  uint32_t reasm_total;
  uint32_t reasm_have;
  uint64_t messages_sent, messages_received, bytes_sent, bytes_received;

  /* Heartbeats (PROTOCOL.md 6.3). */
  uint64_t last_rx_ms;
  uint64_t next_ping_ms;
  uint64_t pings_sent;
  uint64_t pings_answered;
};

/* sc-session.c */
void sc_session_wipe (ScSession *s);
int sc_session_check_callable (const ScSession *s);
int sc_session_verify_peer (ScSession *s, const ScPeerIdentity *peer);
int sc_session_fail (ScSession *s, int err, ScBuffer *out);
void sc_session_emit (ScSession *s, const ScEvent *ev);
void sc_session_keylog (ScSession *s, const char *label, const uint8_t *secret);
uint64_t sc_session_now (ScSession *s);
void sc_session_clock_reset (ScSession *s);
int sc_session_seal (ScSession *s, uint8_t type, const uint8_t *a, size_t alen, const uint8_t *b,
                     size_t blen, ScBuffer *out);
int sc_session_send_plaintext_handshake (ScSession *s, const ScBuffer *msg, ScBuffer *out);
int sc_session_send_protected_handshake (ScSession *s, const ScBuffer *msg, ScBuffer *out);
int sc_session_send_key_update (ScSession *s, bool update_peer, ScBuffer *out);
int sc_session_send_ack (ScSession *s, ScBuffer *out);
void sc_session_log_traffic_secret (ScSession *s, const ScTrafficKey *tk, bool sending);

/* sc-handshake.c */
int sc_handshake_process_plaintext (ScSession *s, const uint8_t *msg, size_t len, ScBuffer *out);
int sc_handshake_process_protected (ScSession *s, const uint8_t *msg, size_t len, ScBuffer *out);

/* sc-resume.c */
typedef struct
{
  uint8_t stream_id[SC_STREAM_ID_LEN];
  uint32_t generation;
  ScPeerIdentity client;
} ScOpenedTicket;

int sc_resume_send_ticket (ScSession *s, ScBuffer *out);
int sc_resume_consume_ticket (ScSession *s, const uint8_t *content, size_t len);
bool sc_resume_open_ticket (ScSession *s, const uint8_t *ticket, size_t len, ScOpenedTicket *t);

/* sc-content.c */
int sc_content_process (ScSession *s, uint8_t type, const uint8_t *content, size_t len,
                        ScBuffer *out);
int sc_content_fragment (ScSession *s, const ScFragment *f);
