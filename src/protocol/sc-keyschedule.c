/* sc-keyschedule.c: HKDF-Expand-Label and traffic keys (PROTOCOL.md 5, 7).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-keyschedule.h"

#include "sc-wire.h"

#include <string.h>

/* HkdfLabel = u16 length || u8 label_len || "sc1 " label || u8 ctx_len || ctx,
 * then HKDF-Expand (PROTOCOL.md 5.1). */
/* bytes: the largest HkdfLabel: u16 length, u8 and up to 255 label bytes,
 * u8 and up to 255 context bytes. */
#define SC_HKDF_LABEL_MAX (2 + 1 + 255 + 1 + 255)

int
sc_expand_label (const uint8_t secret[SC_SECRET_LEN], const char *label, const uint8_t *context,
                 size_t context_len, uint8_t *out, size_t out_len)
{
  uint8_t info[SC_HKDF_LABEL_MAX];
  size_t label_len = strlen (label);
  size_t full_len = sizeof SC_LABEL_PREFIX - 1 + label_len;
  size_t n = 0;
  int ret;

  if (full_len > 255 || context_len > 255 || out_len > UINT16_MAX)
    return SC_ERR_INVALID_ARG;
  sc_put_u16 (info, (uint16_t) out_len);
  n = 2;
  info[n++] = (uint8_t) full_len;
  memcpy (info + n, SC_LABEL_PREFIX, sizeof SC_LABEL_PREFIX - 1);
  n += sizeof SC_LABEL_PREFIX - 1;
  memcpy (info + n, label, label_len);
  n += label_len;
  info[n++] = (uint8_t) context_len;
  if (context_len > 0)
    memcpy (info + n, context, context_len);
  n += context_len;
  ret = sc_hkdf_sha256_expand (secret, info, n, out, out_len) == 0 ? SC_OK : SC_ERR_INVALID_ARG;
  sc_memzero (info, sizeof info); /* the context may be a transcript hash */
  return ret;
}

int
sc_traffic_key_install (ScTrafficKey *tk, const uint8_t secret[SC_SECRET_LEN], uint64_t now_ms)
{
  uint8_t key[SC_AES256_GCM_KEY_LEN];
  int ret;

  if (tk->secret != secret)
    memcpy (tk->secret, secret, SC_SECRET_LEN);
  ret = sc_expand_label (tk->secret, "key", NULL, 0, key, sizeof key);
  if (ret == SC_OK)
    ret = sc_expand_label (tk->secret, "iv", NULL, 0, tk->iv, sizeof tk->iv);
  if (ret == SC_OK)
    {
      sc_aead_clear (&tk->aead); /* the key it replaces may hold a GnuTLS handle */
      sc_aead_set_key (&tk->aead, key);
      tk->active = true;
      tk->seq = 0;
      tk->bytes = 0;
      tk->since_ms = now_ms;
    }
  sc_memzero (key, sizeof key);
  return ret;
}

int
sc_traffic_key_update (ScTrafficKey *tk, uint64_t now_ms)
{
  uint8_t next[SC_SECRET_LEN];
  int ret;

  ret = sc_expand_label (tk->secret, "traffic upd", NULL, 0, next, sizeof next);
  if (ret == SC_OK)
    {
      sc_traffic_key_clear (tk);
      ret = sc_traffic_key_install (tk, next, now_ms);
      tk->epoch++;
    }
  sc_memzero (next, sizeof next);
  return ret;
}

void
sc_traffic_key_clear (ScTrafficKey *tk)
{
  uint32_t epoch = tk->epoch;

  sc_aead_clear (&tk->aead);
  sc_memzero (tk, sizeof *tk);
  tk->epoch = epoch;
}

void
sc_traffic_key_nonce (const ScTrafficKey *tk, uint8_t nonce[SC_AES256_GCM_NONCE_LEN])
{
  memcpy (nonce, tk->iv, SC_AES256_GCM_NONCE_LEN);
  for (int i = 0; i < 8; i++)
    nonce[SC_AES256_GCM_NONCE_LEN - 1 - i] ^= (uint8_t) (tk->seq >> (8 * i));
}
