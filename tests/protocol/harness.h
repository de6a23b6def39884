/* harness.h: two in-memory SecureComm peers with deterministic randomness
 * and clocks that the test controls, and a MITM that can rewrite protected
 * records with keys learnt through the key log.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

#include "sc-protocol-private.h"

/* Deterministic random source: block i = SHA-256(seed || u64 i), big-endian i. */
typedef struct
{
  char seed[64];
  uint64_t counter;
} TestRng;

int test_rng_fill (void *user, uint8_t *out, size_t len);

typedef struct
{
  const char *secret_name;
  uint8_t secret[SC_SECRET_LEN];
} TestSecret;

typedef struct TestPeer
{
  ScSession *s;
  ScSessionConfig cfg;
  ScP256Key identity;
  ScBuffer out; /* produced, not yet delivered */
  TestRng rng;
  uint64_t wall_ms;
  uint64_t mono_ms;
  GPtrArray *messages; /* GBytes of every SC_EVENT_MESSAGE */
  /* The event also takes each message it may own (sc_session_take_message:
   * a reassembled one) and frees it at once, as a host that keeps it would
   * later: the session must not touch it again. */
  gboolean take_messages;
  GArray *message_ids; /* guint64 */
  uint64_t acked;
  guint handshakes_done;
  guint key_updates_sent, key_updates_received;
  int closed_reason; /* -1 until SC_EVENT_CLOSED */
  /* Trust policy: pin the peer's fingerprint when pin_set. */
  gboolean pin_set;
  uint8_t pin[SC_SHA256_LEN];
  guint verify_calls;
  ScPeerIdentity last_peer; /* cert pointers are stale after the callback: */
  GBytes *last_leaf;        /*   a copy of the leaf certificate, if any */
  /* Key log: name -> secret, in order. */
  GArray *secrets; /* TestSecret */
  GString *trace;  /* keylog lines "label = hex\n" */
  /* Resumption. Clients keep the last ticket; test_peer_restart offers it. */
  ScResumption resumption;
  gboolean have_ticket;
  guint tickets;
  gboolean resumed; /* the last handshake resumed */
  uint64_t peer_recv_at_handshake;
  /* Servers: ticket keys and the one stream they remember. */
  ScTicketKey ticket_keys[2];
  gboolean have_stream;
  uint8_t stream_id[SC_STREAM_ID_LEN];
  uint32_t generation;
  uint64_t stream_sent_id, stream_recv_id;
  guint resume_calls;
  ScResumeRequest last_request;
} TestPeer;

/* Makes a peer: identity from SHA-256("identity:" seed) when with_identity. */
void test_peer_init (TestPeer *p, ScRole role, const char *seed, gboolean with_identity);
/* Creates the session from p->cfg (tweak cfg between init and this). */
void test_peer_start (TestPeer *p);
void test_peer_clear (TestPeer *p);
/* Servers: issue tickets under ticket_keys[0] (and accept [1] too). */
void test_peer_enable_tickets (TestPeer *p);
/* Ends the session as a lost connection would (no close) and starts a new
 * one: the stream's message ids are remembered, and a client offers its
 * ticket if it has one. */
void test_peer_restart (TestPeer *p);
/* A secret logged under name, or NULL. */
const uint8_t *test_peer_secret (const TestPeer *p, const char *name);

/* Delivers everything pending from one peer to the other, back and forth,
 * until neither has output. Returns the first error (from the receiver). */
int test_pump (TestPeer *a, TestPeer *b);
/* A connected client/server pair with default options. */
void test_connect (TestPeer *client, TestPeer *server);

/* Splits buf into records; returns a GPtrArray of GBytes. */
GPtrArray *test_split_records (const ScBuffer *buf);

/* Rewrites one protected record sealed under `secret` with sequence number
 * seq: decrypts, lets edit() change the plaintext (inner type first), and
 * re-encrypts. The result replaces the record. */
typedef void (*TestEditFunc) (GByteArray *plaintext, gpointer user);
GBytes *test_rewrite_record (GBytes *record, const uint8_t *secret, uint64_t seq, TestEditFunc edit,
                             gpointer user);

/* Hex helpers. */
char *test_hex (const uint8_t *p, size_t len);
