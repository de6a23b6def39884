/* fuzz-peers.h: deterministic sessions for the fuzz targets that drive a
 * ScSession (fuzz-record, fuzz-content) and for gen-corpus.
 *
 * Everything here is deterministic (the harness's seeded RNG and fixed
 * clocks), so a byte stream or item list recorded by gen-corpus from a real
 * conversation replays exactly in a fuzz target set up the same way: the
 * handshake messages verify, the records decrypt.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "fuzz.h"
#include "harness.h"

/* Configuration variants: bits 2..4 of the first input byte of fuzz-record
 * and fuzz-content (see FUZZ_FLAGS_VARIANT). */
#define FUZZ_VARIANT_AUTH_MASK 0x3u /* see fuzz_peers_init */
#define FUZZ_VARIANT_CHAIN 0x4u     /* the server sends an X.509 chain, not a raw key */
#define FUZZ_VARIANT_MASK 0x7u
#define FUZZ_FLAGS_VARIANT(flags) (((unsigned) (flags) >> 2) & FUZZ_VARIANT_MASK)

/* Scenarios: bits 0..1 of the first input byte of fuzz-record and
 * fuzz-content: which session receives the input, and in which phase. Where
 * exactly a handshake-phase session stands differs per target (see there). */
typedef enum
{
  FUZZ_TO_SERVER_HANDSHAKE = 0, /* the server, during its handshake */
  FUZZ_TO_CLIENT_HANDSHAKE = 1, /* the client, during its handshake */
  FUZZ_TO_SERVER_CONNECTED = 2, /* the server, after a real handshake */
  FUZZ_TO_CLIENT_CONNECTED = 3, /* the client, after a real handshake */
} FuzzScenario;
#define FUZZ_FLAGS_SCENARIO(flags) ((FuzzScenario) ((flags) &0x3u))

/* How far fuzz_peers_advance takes the pair. */
typedef enum
{
  FUZZ_STAGE_STARTED,       /* both sessions exist, nothing sent */
  FUZZ_STAGE_HELLO_SENT,    /* client sent its ClientHello: client->out */
  FUZZ_STAGE_SERVER_FLIGHT, /* server took it; ServerHello and flight in server->out */
  FUZZ_STAGE_CLIENT_KEYED,  /* client took the ServerHello only (state
                             * CLIENT_WAIT_IDENTITY); the server's protected
                             * records stay in server->out */
  FUZZ_STAGE_CONNECTED,     /* test_pump'ed to SC_STATE_CONNECTED on both sides */
} FuzzStage;

/* Client "client" and server "server" with the variant's options:
 * auth 0: no client authentication, anonymous client;
 *      1: optional, anonymous client;   2: optional, client with a key;
 *      3: required, client with a key.
 * The sessions are not created yet (fuzz_peers_advance does it). */
void fuzz_peers_init (TestPeer *client, TestPeer *server, unsigned variant);
void fuzz_peers_advance (TestPeer *client, TestPeer *server, FuzzStage stage);
/* fuzz_peers_init and fuzz_peers_advance in one, fast: the first call for a
 * (variant, stage) runs the handshake and keeps the pair; later calls get a
 * deep copy of it (sessions, secrets, buffers), which is what a fresh run
 * would produce, since everything is deterministic, at a fraction of the
 * cost (no P-256 operations). With fresh, runs the handshake anyway. */
void fuzz_peers_setup (TestPeer *client, TestPeer *server, unsigned variant, FuzzStage stage,
                       gboolean fresh);
/* Whether the targets should also check every input against a freshly run
 * handshake: on in replay builds (so meson test proves the snapshots
 * right), off under libFuzzer (SC_FUZZ_LIBFUZZER), where speed matters. */
#ifdef SC_FUZZ_LIBFUZZER
#define FUZZ_CHECK_SNAPSHOTS 0
#else
#define FUZZ_CHECK_SNAPSHOTS 1
#endif
void fuzz_peers_clear (TestPeer *client, TestPeer *server);

/* Discards what a peer has produced; fuzz_take_output hashes it first. */
void fuzz_drop_output (TestPeer *p);
void fuzz_take_output (TestPeer *p, ScSha256 *hash);

/* How a run ended, for comparing two runs of one input. */
typedef struct
{
  ScSessionInfo info;
  guint handshakes_done;
  int closed_reason;
  guint n_messages;
  uint8_t messages[SC_SHA256_LEN]; /* digest of the delivered messages, ids and lengths */
  uint8_t output[SC_SHA256_LEN];   /* digest of everything the session sent */
  size_t consumed;                 /* input bytes used */
} FuzzOutcome;

void fuzz_outcome_take (FuzzOutcome *o, const TestPeer *p, const ScSha256 *output);
/* Aborts unless both runs ended alike; with same_output, down to every byte
 * the session sent. */
void fuzz_outcome_check_same (const FuzzOutcome *a, const FuzzOutcome *b, gboolean same_output);

/* The API contract of a session that has died (sc-protocol.h): once failed,
 * every call returns the same error and no secret is left; once closed,
 * receiving and sending return SC_ERR_CLOSED. Aborts on a violation. */
void fuzz_check_session_contract (TestPeer *p);

/* The sender's side of one direction, kept in step with a receiving session
 * (the "rx"): which traffic key the receiver expects next and its sequence
 * number. Secrets come from the receiver's key log. */
typedef struct
{
  TestPeer *rx;
  char dir; /* 'c' or 's': the direction's sender */
  ScTrafficKey *tk;
  gboolean app;  /* tk is an application traffic key */
  gboolean lost; /* out of step: our records went into a partial record
                      * of raw bytes the receiver holds, not whole */
} FuzzChannel;

/* Starts with the key the receiver uses now: the handshake key, or the first
 * application key once connected. */
void fuzz_channel_init (FuzzChannel *c, TestPeer *rx);
void fuzz_channel_clear (FuzzChannel *c);
/* Appends one PROTECTED record of inner type `type` under the current key
 * (exactly as a real sender would seal it) and counts it. len is at most
 * SC_MAX_RECORD_PLAINTEXT + FUZZ_CONTENT_SLACK. */
#define FUZZ_CONTENT_SLACK 8u
void fuzz_channel_seal (FuzzChannel *c, uint8_t type, const uint8_t *content, size_t len,
                        GByteArray *record);
/* Opens one record a real sender sealed (gen-corpus). Returns FALSE if it
 * does not open. */
gboolean fuzz_channel_open (FuzzChannel *c, const uint8_t *record, size_t len,
                            GByteArray *plaintext);
/* After the receiver has taken a sealed record: follows its key changes (to
 * the application key, or one ratchet step after a KEY_UPDATE) and checks
 * that both sides agree on key and sequence number. Once the receiver holds
 * a partial record (raw bytes fed before), our records no longer line up
 * with its records, and the channel stops checking. */
void fuzz_channel_sync (FuzzChannel *c);
