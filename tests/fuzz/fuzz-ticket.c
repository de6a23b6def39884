/* fuzz-ticket.c: the server's resumption ticket parser (PROTOCOL.md 4.7.4,
 * 4.7.5), past the AEAD.
 *
 * A ticket is opened with AES-256-GCM before anything in it is read, so
 * random tickets never reach the contents parser. Here the target plays
 * the server that sealed it: mode 0 seals the input as TicketContents under
 * the server's ticket key (so the checks of 4.7.5 see fuzzer-chosen
 * plaintext: format, lengths, times, identities); mode 1 hands the input to
 * the server as a ticket as it came from the wire (key id lookup, lengths,
 * tag). Checks: an accepted ticket has a client identity type 0..2 whose
 * SPKI decodes and matches its fingerprint, and the resumption secret is
 * the one sealed; a refused ticket leaves no secret behind.
 *
 * Input: byte 0 mode (bit 0), then the contents or the ticket.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "fuzz.h"
#include "harness.h"

#include <string.h>

#define CONTENTS_PSK_OFFSET 33 /* PROTOCOL.md 4.7.4 */

static TestPeer server;
static gboolean ready;

static void
setup (void)
{
  if (ready)
    return;
  test_peer_init (&server, SC_ROLE_SERVER, "server", TRUE);
  test_peer_enable_tickets (&server);
  test_peer_start (&server);
  ready = TRUE;
}

/* ticket = key_id || nonce || AES-256-GCM(key, nonce, aad key_id, contents) */
static size_t
seal (const uint8_t *contents, size_t len, uint8_t *ticket)
{
  const ScTicketKey *key = &server.ticket_keys[0];
  uint8_t *nonce = ticket + SC_TICKET_KEY_ID_LEN;
  ScAead aead;

  memcpy (ticket, key->id, SC_TICKET_KEY_ID_LEN);
  memset (nonce, 0x5a, SC_AES256_GCM_NONCE_LEN);
  sc_aead_set_key (&aead, key->key);
  sc_aead_seal (&aead, nonce, ticket, SC_TICKET_KEY_ID_LEN, contents, len,
                nonce + SC_AES256_GCM_NONCE_LEN);
  sc_aead_clear (&aead);
  return SC_TICKET_KEY_ID_LEN + SC_AES256_GCM_NONCE_LEN + len + SC_AES256_GCM_TAG_LEN;
}

static void
check_accepted (const ScOpenedTicket *t, const uint8_t *contents, size_t len, int sealed)
{
  uint8_t pub[SC_P256_POINT_LEN], fp[SC_SHA256_LEN];

  FUZZ_CHECK (t->client.type <= 2 && t->client.resumed);
  if (t->client.type != 0)
    {
      FUZZ_CHECK (sc_p256_spki_decode (t->client.spki, SC_P256_SPKI_LEN, pub) == 0);
      sc_sha256 (t->client.spki, SC_P256_SPKI_LEN, fp);
      FUZZ_CHECK (memcmp (fp, t->client.fingerprint, sizeof fp) == 0);
    }
  if (sealed)
    {
      FUZZ_CHECK (len > CONTENTS_PSK_OFFSET + SC_RESUMPTION_PSK_LEN);
      FUZZ_CHECK (memcmp (server.s->sec->psk, contents + CONTENTS_PSK_OFFSET, SC_RESUMPTION_PSK_LEN)
                  == 0);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const uint8_t zero[SC_RESUMPTION_PSK_LEN];
  uint8_t ticket[SC_MAX_TICKET_LEN + 64];
  const uint8_t *p;
  size_t n, ticket_len;
  ScOpenedTicket t;
  int sealed;

  if (size < 1)
    return 0;
  setup ();
  sealed = (data[0] & 1) == 0;
  p = data + 1;
  n = size - 1;
  if (sealed)
    {
      if (n > SC_MAX_TICKET_LEN)
        return 0;
      ticket_len = seal (p, n, ticket);
    }
  else
    {
      if (n > sizeof ticket)
        return 0;
      memcpy (ticket, p, n);
      ticket_len = n;
    }
  memset (server.s->sec->psk, 0, SC_RESUMPTION_PSK_LEN);
  if (sc_resume_open_ticket (server.s, ticket, ticket_len, &t))
    {
      check_accepted (&t, p, n, sealed);
      sc_memzero (server.s->sec->psk, SC_RESUMPTION_PSK_LEN);
    }
  else
    FUZZ_CHECK (memcmp (server.s->sec->psk, zero, sizeof zero) == 0);
  return 0;
}
