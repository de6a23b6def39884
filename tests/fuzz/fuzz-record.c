/* fuzz-record.c: raw wire bytes into a session, split into chunks.
 *
 * Input:
 *   byte 0   flags: bits 0-1 scenario (FuzzScenario), bits 2-4 variant
 *            (fuzz-peers.h), bit 5 chunk sizes x64, bit 6 end with EOF,
 *            bit 7 the receiver's host takes each reassembled message
 *            (sc_session_take_message) and frees it in the event
 *   byte 1   n: number of chunk sizes (n % 17; 0: the whole stream at once)
 *   n bytes  chunk sizes, used in turn; 0 means "all the rest"
 *   rest     the byte stream
 *
 * Scenarios: 0 a fresh server (SERVER_WAIT_CLIENT_HELLO); 1 a client that
 * has sent its ClientHello (CLIENT_WAIT_SERVER_HELLO); 2 and 3 the server
 * and the client of a pair connected by a real handshake (most inputs then
 * end in a record that does not open: that is fine).
 *
 * Everything is deterministic, so a stream that gen-corpus recorded from a
 * real peer replays here: the fuzzer starts from whole handshakes and
 * conversations and mutates them.
 *
 * Checked besides memory safety and leaks: (1) the outcome does not depend
 * on how the stream is split (PROTOCOL.md 3.8): the chunked run and a run
 * with the whole stream in one call end in the same state and error and
 * deliver the same messages; (2) the dead-session contract
 * (fuzz_check_session_contract); (3) in replay builds, a run on a snapshot
 * (fuzz_peers_setup) ends exactly like a run after a fresh handshake.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "fuzz-peers.h"

#include <string.h>

#define FLAG_SCALE 0x20u
#define FLAG_EOF 0x40u
#define FLAG_TAKE 0x80u
#define MAX_SIZES 16u

typedef struct
{
  uint8_t flags;
  const uint8_t *sizes;
  size_t n_sizes;
  const uint8_t *stream;
  size_t len;
} RecordInput;

static gboolean
parse_input (const uint8_t *data, size_t size, RecordInput *in)
{
  if (size < 2)
    return FALSE;
  in->flags = data[0];
  in->n_sizes = data[1] % (MAX_SIZES + 1);
  if (size - 2 < in->n_sizes)
    return FALSE;
  in->sizes = data + 2;
  in->stream = data + 2 + in->n_sizes;
  in->len = size - 2 - in->n_sizes;
  return TRUE;
}

static FuzzStage
stage_for (FuzzScenario scenario)
{
  switch (scenario)
    {
    case FUZZ_TO_SERVER_HANDSHAKE:
      return FUZZ_STAGE_STARTED;
    case FUZZ_TO_CLIENT_HANDSHAKE:
      return FUZZ_STAGE_HELLO_SENT;
    case FUZZ_TO_SERVER_CONNECTED:
    case FUZZ_TO_CLIENT_CONNECTED:
    default:
      return FUZZ_STAGE_CONNECTED;
    }
}

/* The size of chunk i of what is left. */
static size_t
chunk_size (const RecordInput *in, size_t i, size_t left)
{
  size_t n;

  if (in->n_sizes == 0)
    return left;
  n = in->sizes[i % in->n_sizes];
  if (n == 0)
    return left;
  if (in->flags & FLAG_SCALE)
    n *= 64;
  return n < left ? n : left;
}

/* Feeds the stream to the scenario's session, chunked or in one call. */
static void
run (const RecordInput *in, gboolean chunked, gboolean fresh, FuzzOutcome *o)
{
  TestPeer client, server, *rx;
  FuzzScenario scenario = FUZZ_FLAGS_SCENARIO (in->flags);
  ScSha256 output;
  size_t off = 0;
  int ret = SC_OK;

  fuzz_peers_setup (&client, &server, FUZZ_FLAGS_VARIANT (in->flags), stage_for (scenario), fresh);
  rx = scenario == FUZZ_TO_SERVER_HANDSHAKE || scenario == FUZZ_TO_SERVER_CONNECTED ? &server
                                                                                    : &client;
  rx->take_messages = (in->flags & FLAG_TAKE) != 0;
  fuzz_drop_output (rx);
  sc_sha256_init (&output);
  for (size_t i = 0; off < in->len && ret == SC_OK; i++)
    {
      size_t n = chunked ? chunk_size (in, i, in->len - off) : in->len - off;

      ret = sc_session_recv (rx->s, in->stream + off, n, &rx->out);
      fuzz_take_output (rx, &output);
      off += n;
    }
  if (ret == SC_OK && (in->flags & FLAG_EOF))
    ret = sc_session_eof (rx->s);
  fuzz_check_session_contract (rx);
  fuzz_outcome_take (o, rx, &output);
  if (fuzz_verbose ())
    fprintf (stderr, "record: scenario %d %s%s: state %d error %d (%s), %u messages\n", scenario,
             chunked ? "chunked" : "whole", fresh ? " fresh" : "", o->info.state, o->info.error,
             sc_strerror (o->info.error), o->n_messages);
  fuzz_peers_clear (&client, &server);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  RecordInput in;
  FuzzOutcome chunked, whole, fresh;

  if (!parse_input (data, size, &in))
    return 0;
  run (&in, TRUE, FALSE, &chunked);
  if (in.n_sizes > 0)
    {
      /* Acknowledgements are per call, so the bytes sent may differ. */
      run (&in, FALSE, FALSE, &whole);
      fuzz_outcome_check_same (&chunked, &whole, FALSE);
    }
  if (FUZZ_CHECK_SNAPSHOTS)
    {
      run (&in, TRUE, TRUE, &fresh);
      fuzz_outcome_check_same (&chunked, &fresh, TRUE);
    }
  return 0;
}
