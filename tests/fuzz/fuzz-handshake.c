/* fuzz-handshake.c: the wire parsers of sc-wire.h and the key and signature
 * decoders of sc-crypto.h, called directly.
 *
 * Input: one selector byte (taken modulo FUZZ_HS_N), then the bytes the
 * selected parser gets. Besides memory safety, each parser is checked for
 * what its contract promises:
 *  - round trip: whatever a strict parser accepts, the matching builder
 *    re-encodes to exactly the same bytes, and parsing those gives the same
 *    fields (hellos without extensions, Identity, record and handshake
 *    headers, SPKI, DER signatures);
 *  - the pointers a parser hands out lie inside the input, and the values it
 *    accepts are within the documented limits.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "fuzz.h"

#include <string.h>

#include "sc-wire.h"

/* p[0..n) lies within data[0..len). */
static int
inside (const uint8_t *p, size_t n, const uint8_t *data, size_t len)
{
  return p >= data && n <= len && (size_t) (p - data) <= len - n;
}

/* buf holds exactly one handshake message of this type whose body is
 * body[0..len). */
static void
check_message_is (const ScBuffer *buf, uint8_t type, const uint8_t *body, size_t len)
{
  uint8_t t = 0;
  const uint8_t *b = NULL;
  size_t n = 0;

  FUZZ_CHECK (sc_wire_parse_handshake (buf->data, buf->len, &t, &b, &n) == SC_OK);
  FUZZ_CHECK (t == type);
  FUZZ_CHECK (n == len);
  FUZZ_CHECK (memcmp (b, body, len) == 0);
}

static void
fuzz_handshake_header (const uint8_t *data, size_t len)
{
  uint8_t type = 0;
  const uint8_t *body = NULL;
  size_t body_len = 0;

  if (sc_wire_parse_handshake (data, len, &type, &body, &body_len) != SC_OK)
    return;
  FUZZ_CHECK (len == SC_HS_HEADER_LEN + body_len);
  FUZZ_CHECK (body == data + SC_HS_HEADER_LEN);
  FUZZ_CHECK (body_len <= SC_MAX_HANDSHAKE_MSG);
  FUZZ_CHECK (type == data[0]);
}

static void
check_hello_fields (const ScHello *a, const ScHello *b)
{
  FUZZ_CHECK (a->n_versions == b->n_versions);
  FUZZ_CHECK (memcmp (a->versions, b->versions, a->n_versions) == 0);
  FUZZ_CHECK (memcmp (a->random, b->random, SC_RANDOM_LEN) == 0);
  FUZZ_CHECK (a->timestamp_ms == b->timestamp_ms);
  FUZZ_CHECK (memcmp (a->key_share, b->key_share, SC_P256_POINT_LEN) == 0);
  FUZZ_CHECK (a->max_message_size == b->max_message_size);
  FUZZ_CHECK (a->n_extensions == b->n_extensions);
  for (size_t i = 0; i < a->n_extensions; i++)
    {
      FUZZ_CHECK (a->ext_types[i] == b->ext_types[i] && a->ext_lens[i] == b->ext_lens[i]);
      FUZZ_CHECK (memcmp (a->ext_data[i], b->ext_data[i], a->ext_lens[i]) == 0);
    }
}

/* The resumption extensions' data: a parse that succeeds builds back to the
 * same bytes. */
static void
fuzz_extensions (const ScHello *h)
{
  for (size_t i = 0; i < h->n_extensions; i++)
    {
      const uint8_t *ticket = NULL;
      size_t ticket_len = 0;
      uint64_t id = 0;
      ScBuffer buf;

      sc_buffer_init (&buf);
      if (h->ext_types[i] == SC_EXT_RESUMPTION_TICKET
          && sc_wire_parse_resumption_ticket (h->ext_data[i], h->ext_lens[i], &ticket, &ticket_len,
                                              &id)
                 == SC_OK)
        {
          FUZZ_CHECK (ticket_len >= 1 && ticket_len <= SC_MAX_TICKET_LEN);
          FUZZ_CHECK (sc_wire_build_resumption_ticket (&buf, ticket, ticket_len, id) == SC_OK);
        }
      else if (h->ext_types[i] == SC_EXT_RESUMPTION_ACCEPT
               && sc_wire_parse_resumption_accept (h->ext_data[i], h->ext_lens[i], &id) == SC_OK)
        FUZZ_CHECK (sc_wire_build_resumption_accept (&buf, id) == SC_OK);
      if (buf.len > 0)
        FUZZ_CHECK (buf.len == 4u + h->ext_lens[i]
                    && memcmp (buf.data + 4, h->ext_data[i], h->ext_lens[i]) == 0);
      sc_buffer_clear (&buf);
    }
}

/* Both hellos: limits, then the round trip through sc_wire_build_hello with
 * the extension block as parsed (it ends the body). */
static void
fuzz_hello (const uint8_t *data, size_t len, uint8_t type)
{
  ScHello h, again;
  ScBuffer buf;
  const uint8_t *body = NULL;
  size_t body_len = 0;
  uint8_t t = 0;
  size_t ext_len = 0;
  int ret = type == SC_HS_CLIENT_HELLO ? sc_wire_parse_client_hello (data, len, &h)
                                       : sc_wire_parse_server_hello (data, len, &h);

  if (ret != SC_OK)
    return;
  for (size_t i = 0; i < h.n_extensions; i++)
    {
      FUZZ_CHECK (inside (h.ext_data[i], h.ext_lens[i], data, len));
      ext_len += 4u + h.ext_lens[i];
    }
  FUZZ_CHECK (ext_len <= len);
  fuzz_extensions (&h);
  FUZZ_CHECK (h.n_versions >= 1 && h.n_versions <= SC_MAX_OFFERED_VERSIONS);
  FUZZ_CHECK (h.max_message_size >= 1 && h.max_message_size <= SC_MAX_MESSAGE_SIZE_LIMIT);
  FUZZ_CHECK (h.n_extensions <= SC_MAX_EXTENSIONS);
  FUZZ_CHECK (inside (h.random, SC_RANDOM_LEN, data, len));
  FUZZ_CHECK (inside (h.key_share, SC_P256_POINT_LEN, data, len));
  for (size_t i = 0; i < h.n_versions; i++)
    FUZZ_CHECK (h.versions[i] != 0);
  sc_buffer_init (&buf);
  FUZZ_CHECK (sc_wire_build_hello (&buf, type, h.versions, h.n_versions, h.random, h.timestamp_ms,
                                   h.key_share, h.max_message_size, data + len - ext_len, ext_len)
              == SC_OK);
  /* A strict parser has one encoding per value: the bytes come back. */
  check_message_is (&buf, type, data, len);
  FUZZ_CHECK (sc_wire_parse_handshake (buf.data, buf.len, &t, &body, &body_len) == SC_OK);
  ret = type == SC_HS_CLIENT_HELLO ? sc_wire_parse_client_hello (body, body_len, &again)
                                   : sc_wire_parse_server_hello (body, body_len, &again);
  FUZZ_CHECK (ret == SC_OK);
  check_hello_fields (&h, &again);
  sc_buffer_clear (&buf);
}

/* The key inside an Identity, as the session would extract it; a raw key
 * that decodes must re-encode to the same SPKI. */
static void
check_identity_keys (const ScIdentityMsg *id)
{
  uint8_t pub[SC_P256_POINT_LEN], spki[SC_P256_SPKI_LEN];

  if (id->identity_type == 1 && sc_p256_spki_decode (id->spki, SC_P256_SPKI_LEN, pub) == 0)
    {
      FUZZ_CHECK (sc_p256_point_check (pub, sizeof pub) == 0);
      sc_p256_spki_encode (pub, spki);
      FUZZ_CHECK (memcmp (spki, id->spki, sizeof spki) == 0);
    }
  for (size_t i = 0; id->identity_type == 2 && i < id->n_certs; i++)
    if (sc_x509_p256_pubkey (id->certs[i], id->cert_lens[i], pub) == 0)
      FUZZ_CHECK (sc_p256_point_check (pub, sizeof pub) == 0);
}

static void
check_identity_fields (const ScIdentityMsg *a, const ScIdentityMsg *b)
{
  FUZZ_CHECK (a->auth_request == b->auth_request);
  FUZZ_CHECK (a->identity_type == b->identity_type);
  FUZZ_CHECK (a->n_certs == b->n_certs);
  if (a->identity_type == 1)
    FUZZ_CHECK (memcmp (a->spki, b->spki, SC_P256_SPKI_LEN) == 0);
  for (size_t i = 0; i < a->n_certs; i++)
    {
      FUZZ_CHECK (a->cert_lens[i] == b->cert_lens[i]);
      FUZZ_CHECK (memcmp (a->certs[i], b->certs[i], a->cert_lens[i]) == 0);
    }
}

static void
fuzz_identity (const uint8_t *data, size_t len)
{
  ScIdentityMsg id, again;
  ScBuffer buf;
  const uint8_t *body = NULL;
  size_t body_len = 0;
  uint8_t t = 0;

  if (sc_wire_parse_identity (data, len, &id) != SC_OK)
    return;
  FUZZ_CHECK (id.auth_request <= SC_CLIENT_AUTH_REQUIRED);
  FUZZ_CHECK (id.identity_type <= 2);
  FUZZ_CHECK (id.identity_type != 1 || inside (id.spki, SC_P256_SPKI_LEN, data, len));
  FUZZ_CHECK (id.identity_type == 2 ? id.n_certs >= 1 && id.n_certs <= SC_MAX_CERT_CHAIN
                                    : id.n_certs == 0);
  for (size_t i = 0; i < id.n_certs; i++)
    FUZZ_CHECK (id.cert_lens[i] > 0 && inside (id.certs[i], id.cert_lens[i], data, len));
  check_identity_keys (&id);
  sc_buffer_init (&buf);
  /* Every parsed Identity fits one handshake message, so the builder must
   * take it. */
  FUZZ_CHECK (sc_wire_build_identity (&buf, &id) == SC_OK);
  check_message_is (&buf, SC_HS_IDENTITY, data, len);
  FUZZ_CHECK (sc_wire_parse_handshake (buf.data, buf.len, &t, &body, &body_len) == SC_OK);
  FUZZ_CHECK (sc_wire_parse_identity (body, body_len, &again) == SC_OK);
  check_identity_fields (&id, &again);
  sc_buffer_clear (&buf);
}

static void
fuzz_verify_finished (const uint8_t *data, size_t len, int verify)
{
  const uint8_t *p = NULL;

  if (verify)
    {
      if (sc_wire_parse_verify (data, len, &p) != SC_OK)
        return;
      FUZZ_CHECK (len == 2 + SC_P256_SIG_LEN && p == data + 2);
      FUZZ_CHECK (sc_get_u16 (data) == SC_SIG_SCHEME_ECDSA_P256_SHA256);
      return;
    }
  if (sc_wire_parse_finished (data, len, &p) != SC_OK)
    return;
  FUZZ_CHECK (len == SC_HMAC_SHA256_LEN && p == data);
}

/* The header's limits (PROTOCOL.md 3.3), and the round trip. */
static void
fuzz_record_header (const uint8_t *data, size_t len)
{
  ScRecordHeader h;
  uint8_t hdr[SC_RECORD_HEADER_LEN];

  if (len < SC_RECORD_HEADER_LEN || sc_wire_parse_record_header (data, &h) != SC_OK)
    return;
  switch (h.type)
    {
    case SC_RECORD_ALERT:
      FUZZ_CHECK (h.length == 1);
      break;
    case SC_RECORD_HANDSHAKE:
      FUZZ_CHECK (h.length >= SC_HS_HEADER_LEN && h.length <= SC_MAX_RECORD_PLAINTEXT);
      break;
    case SC_RECORD_PROTECTED:
      FUZZ_CHECK (h.length >= 1 + SC_AES256_GCM_TAG_LEN && h.length <= SC_MAX_PROTECTED_BODY);
      break;
    default:
      fuzz_fail (__FILE__, __LINE__, "unknown record type accepted");
    }
  sc_wire_put_record_header (hdr, h.type, h.length);
  FUZZ_CHECK (memcmp (hdr, data, sizeof hdr) == 0);
}

/* MESSAGE content: the parser reads the 16-byte header; the fragment is the
 * rest, in place. (The rules between fragments are the receiver's,
 * PROTOCOL.md 6.1: fuzz-content exercises those.) */
static void
fuzz_fragment (const uint8_t *data, size_t len)
{
  ScFragment f;

  if (sc_wire_parse_fragment (data, len, &f) != SC_OK)
    return;
  FUZZ_CHECK (len >= SC_MESSAGE_HEADER_LEN);
  FUZZ_CHECK (f.id == sc_get_u64 (data));
  FUZZ_CHECK (f.total == (uint32_t) (sc_get_u64 (data + 4) & 0xffffffffu));
  FUZZ_CHECK (f.offset == (uint32_t) (sc_get_u64 (data + 8) & 0xffffffffu));
  FUZZ_CHECK (f.fragment == data + SC_MESSAGE_HEADER_LEN);
  FUZZ_CHECK (f.fragment_len == len - SC_MESSAGE_HEADER_LEN);
}

static void
fuzz_small_contents (const uint8_t *data, size_t len, int wide)
{
  uint64_t v64 = 0;
  uint8_t v8 = 0;

  if (wide && sc_wire_parse_u64_content (data, len, &v64) == SC_OK)
    FUZZ_CHECK (len == 8 && v64 == sc_get_u64 (data));
  if (!wide && sc_wire_parse_u8_content (data, len, &v8) == SC_OK)
    FUZZ_CHECK (len == 1 && v8 == data[0]);
}

/* sc_p256_spki_decode accepts exactly what sc_p256_spki_encode writes. */
static void
fuzz_spki (const uint8_t *data, size_t len)
{
  uint8_t pub[SC_P256_POINT_LEN], spki[SC_P256_SPKI_LEN];

  if (sc_p256_spki_decode (data, len, pub) != 0)
    return;
  FUZZ_CHECK (len == SC_P256_SPKI_LEN);
  sc_p256_spki_encode (pub, spki);
  FUZZ_CHECK (memcmp (spki, data, len) == 0);
}

static void
fuzz_x509 (const uint8_t *data, size_t len)
{
  uint8_t pub[SC_P256_POINT_LEN];

  if (sc_x509_p256_pubkey (data, len, pub) == 0)
    FUZZ_CHECK (sc_p256_point_check (pub, sizeof pub) == 0);
}

/* Strict DER has one encoding per signature: from_der then to_der gives the
 * input back; and every r || s with both halves non-zero survives to_der
 * then from_der. */
static void
fuzz_sig_der (const uint8_t *data, size_t len)
{
  uint8_t sig[SC_P256_SIG_LEN], back[SC_P256_SIG_LEN], der[SC_P256_SIG_DER_MAX];
  size_t der_len = 0;

  if (sc_p256_sig_from_der (data, len, sig) == 0)
    {
      FUZZ_CHECK (sc_p256_sig_to_der (sig, der, &der_len) == 0);
      FUZZ_CHECK (der_len == len && memcmp (der, data, len) == 0);
    }
  if (len != SC_P256_SIG_LEN)
    return;
  if (sc_p256_sig_to_der (data, der, &der_len) != 0)
    return;
  FUZZ_CHECK (der_len <= SC_P256_SIG_DER_MAX);
  FUZZ_CHECK (sc_p256_sig_from_der (der, der_len, back) == 0);
  FUZZ_CHECK (memcmp (back, data, SC_P256_SIG_LEN) == 0);
}

static void
fuzz_point (const uint8_t *data, size_t len)
{
  uint8_t spki[SC_P256_SPKI_LEN], pub[SC_P256_POINT_LEN];

  if (sc_p256_point_check (data, len) != 0)
    return;
  FUZZ_CHECK (len == SC_P256_POINT_LEN && data[0] == 0x04);
  sc_p256_spki_encode (data, spki);
  FUZZ_CHECK (sc_p256_spki_decode (spki, sizeof spki, pub) == 0);
  FUZZ_CHECK (memcmp (pub, data, SC_P256_POINT_LEN) == 0);
}

/* NewSessionTicket body: limits, and the round trip. */
static void
fuzz_new_session_ticket (const uint8_t *data, size_t len)
{
  uint32_t lifetime = 0;
  const uint8_t *ticket = NULL;
  size_t ticket_len = 0;
  ScBuffer buf;

  if (sc_wire_parse_new_session_ticket (data, len, &lifetime, &ticket, &ticket_len) != SC_OK)
    return;
  FUZZ_CHECK (lifetime >= 1 && lifetime <= SC_MAX_TICKET_LIFETIME_S);
  FUZZ_CHECK (ticket_len >= 1 && ticket_len <= SC_MAX_TICKET_LEN);
  FUZZ_CHECK (inside (ticket, ticket_len, data, len));
  sc_buffer_init (&buf);
  FUZZ_CHECK (sc_wire_build_new_session_ticket (&buf, lifetime, ticket, ticket_len) == SC_OK);
  check_message_is (&buf, SC_HS_NEW_SESSION_TICKET, data, len);
  sc_buffer_clear (&buf);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *p;
  size_t n;

  if (size < 1)
    return 0;
  p = data + 1;
  n = size - 1;
  switch (data[0] % FUZZ_HS_N)
    {
    case FUZZ_HS_HANDSHAKE:
      fuzz_handshake_header (p, n);
      break;
    case FUZZ_HS_CLIENT_HELLO:
      fuzz_hello (p, n, SC_HS_CLIENT_HELLO);
      break;
    case FUZZ_HS_SERVER_HELLO:
      fuzz_hello (p, n, SC_HS_SERVER_HELLO);
      break;
    case FUZZ_HS_IDENTITY:
      fuzz_identity (p, n);
      break;
    case FUZZ_HS_VERIFY:
      fuzz_verify_finished (p, n, 1);
      break;
    case FUZZ_HS_FINISHED:
      fuzz_verify_finished (p, n, 0);
      break;
    case FUZZ_HS_RECORD:
      fuzz_record_header (p, n);
      break;
    case FUZZ_HS_FRAGMENT:
      fuzz_fragment (p, n);
      break;
    case FUZZ_HS_U64:
      fuzz_small_contents (p, n, 1);
      break;
    case FUZZ_HS_U8:
      fuzz_small_contents (p, n, 0);
      break;
    case FUZZ_HS_SPKI:
      fuzz_spki (p, n);
      break;
    case FUZZ_HS_X509:
      fuzz_x509 (p, n);
      break;
    case FUZZ_HS_SIG_DER:
      fuzz_sig_der (p, n);
      break;
    case FUZZ_HS_POINT:
      fuzz_point (p, n);
      break;
    case FUZZ_HS_NEW_TICKET:
      fuzz_new_session_ticket (p, n);
      break;
    default:
      break;
    }
  return 0;
}
