/* sc-keyschedule.h: the SecureComm key schedule (PROTOCOL.md 5).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sc-protocol.h"

#define SC_SECRET_LEN SC_SHA256_LEN
/* The prefix every HKDF label carries, for domain separation from TLS 1.3
 * and anything else built on HKDF-Expand-Label. */
#define SC_LABEL_PREFIX "sc1 "

/* HKDF-Expand-Label (PROTOCOL.md 5.1). label is without the prefix. */
int sc_expand_label (const uint8_t secret[SC_SECRET_LEN], const char *label, const uint8_t *context,
                     size_t context_len, uint8_t *out, size_t out_len);

/* One direction's record protection: traffic secret, derived key schedule,
 * static IV and counters. Lives in secure memory. */
typedef struct
{
  uint8_t secret[SC_SECRET_LEN];
  uint8_t iv[SC_AES256_GCM_NONCE_LEN];
  ScAead aead;
  bool active;
  uint64_t seq;      /* records under this key so far */
  uint64_t bytes;    /* content bytes under this key so far */
  uint64_t since_ms; /* monotonic time the key was installed */
  uint32_t epoch;    /* 0 for the first application key, +1 per update */
} ScTrafficKey;

/* Installs secret as a direction's traffic secret: derives key and IV,
 * resets the counters. tk is zeroed memory or a key installed before. */
int sc_traffic_key_install (ScTrafficKey *tk, const uint8_t secret[SC_SECRET_LEN], uint64_t now_ms);
/* Ratchets to the next traffic secret (PROTOCOL.md 7.1), wiping the old. */
int sc_traffic_key_update (ScTrafficKey *tk, uint64_t now_ms);
/* Wipes everything. */
void sc_traffic_key_clear (ScTrafficKey *tk);
/* The per-record nonce: iv XOR the left-padded sequence number. */
void sc_traffic_key_nonce (const ScTrafficKey *tk, uint8_t nonce[SC_AES256_GCM_NONCE_LEN]);
