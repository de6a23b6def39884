/* sc-wire.c: encoding and strict parsing of SecureComm wire structures.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-wire.h"

#include <stdlib.h>
#include <string.h>

void
sc_reader_init (ScReader *r, const uint8_t *data, size_t len)
{
  r->p = data;
  r->left = len;
  r->failed = false;
}

bool
sc_reader_bytes (ScReader *r, size_t n, const uint8_t **out)
{
  if (r->failed || r->left < n)
    {
      r->failed = true;
      return false;
    }
  *out = r->p;
  r->p += n;
  r->left -= n;
  return true;
}

static bool
reader_uint (ScReader *r, size_t n, uint64_t *v)
{
  const uint8_t *p;
  uint64_t acc = 0;

  if (!sc_reader_bytes (r, n, &p))
    return false;
  for (size_t i = 0; i < n; i++)
    acc = (acc << 8) | p[i];
  *v = acc;
  return true;
}

bool
sc_reader_u8 (ScReader *r, uint8_t *v)
{
  uint64_t x;

  if (!reader_uint (r, 1, &x))
    return false;
  *v = (uint8_t) x;
  return true;
}

bool
sc_reader_u16 (ScReader *r, uint16_t *v)
{
  uint64_t x;

  if (!reader_uint (r, 2, &x))
    return false;
  *v = (uint16_t) x;
  return true;
}

bool
sc_reader_u24 (ScReader *r, uint32_t *v)
{
  uint64_t x;

  if (!reader_uint (r, 3, &x))
    return false;
  *v = (uint32_t) x;
  return true;
}

bool
sc_reader_u32 (ScReader *r, uint32_t *v)
{
  uint64_t x;

  if (!reader_uint (r, 4, &x))
    return false;
  *v = (uint32_t) x;
  return true;
}

bool
sc_reader_u64 (ScReader *r, uint64_t *v)
{
  return reader_uint (r, 8, v);
}

bool
sc_reader_done (const ScReader *r)
{
  return !r->failed && r->left == 0;
}

/* ---- output helpers ---------------------------------------------------- */

void
sc_buffer_init (ScBuffer *buf)
{
  buf->data = NULL;
  buf->len = 0;
  buf->cap = 0;
}

void
sc_buffer_clear (ScBuffer *buf)
{
  free (buf->data);
  sc_buffer_init (buf);
}

void
sc_buffer_consume (ScBuffer *buf, size_t n)
{
  if (n >= buf->len)
    {
      buf->len = 0;
      return;
    }
  memmove (buf->data, buf->data + n, buf->len - n);
  buf->len -= n;
}

int
sc_buffer_reserve (ScBuffer *buf, size_t extra)
{
  size_t need, cap;
  uint8_t *p;

  if (extra > SIZE_MAX - buf->len)
    return SC_ERR_NOMEM;
  need = buf->len + extra;
  if (need <= buf->cap)
    return SC_OK;
  cap = buf->cap ? buf->cap : 4096;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  p = realloc (buf->data, cap);
  if (p == NULL)
    return SC_ERR_NOMEM;
  buf->data = p;
  buf->cap = cap;
  return SC_OK;
}

int
sc_buffer_append (ScBuffer *buf, const void *data, size_t len)
{
  int ret = sc_buffer_reserve (buf, len);

  if (ret == SC_OK && len > 0)
    {
      memcpy (buf->data + buf->len, data, len);
      buf->len += len;
    }
  return ret;
}

void
sc_put_u16 (uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t) (v >> 8);
  p[1] = (uint8_t) v;
}

void
sc_put_u24 (uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t) (v >> 16);
  p[1] = (uint8_t) (v >> 8);
  p[2] = (uint8_t) v;
}

void
sc_put_u32 (uint8_t *p, uint32_t v)
{
  sc_put_u16 (p, (uint16_t) (v >> 16));
  sc_put_u16 (p + 2, (uint16_t) v);
}

void
sc_put_u64 (uint8_t *p, uint64_t v)
{
  sc_put_u32 (p, (uint32_t) (v >> 32));
  sc_put_u32 (p + 4, (uint32_t) v);
}

uint16_t
sc_get_u16 (const uint8_t *p)
{
  return (uint16_t) ((p[0] << 8) | p[1]);
}

uint32_t
sc_get_u32 (const uint8_t *p)
{
  return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

uint64_t
sc_get_u64 (const uint8_t *p)
{
  uint64_t v = 0;

  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

/* ---- records ----------------------------------------------------------- */

/* The header checks of PROTOCOL.md 3.3 steps 1 to 4, in that order. */
int
sc_wire_parse_record_header (const uint8_t hdr[SC_RECORD_HEADER_LEN], ScRecordHeader *out)
{
  uint16_t len = sc_get_u16 (hdr + 2);

  if (hdr[0] != SC_RECORD_ALERT && hdr[0] != SC_RECORD_HANDSHAKE && hdr[0] != SC_RECORD_PROTECTED)
    return SC_ERR_DECODE;
  if (hdr[1] != SC_RECORD_VERSION)
    return SC_ERR_DECODE;
  switch (hdr[0])
    {
    case SC_RECORD_ALERT:
      if (len > SC_MAX_RECORD_PLAINTEXT)
        return SC_ERR_RECORD_OVERFLOW;
      if (len != SC_ALERT_LEN)
        return SC_ERR_DECODE;
      break;
    case SC_RECORD_HANDSHAKE:
      if (len > SC_MAX_RECORD_PLAINTEXT)
        return SC_ERR_RECORD_OVERFLOW;
      if (len < SC_HS_HEADER_LEN)
        return SC_ERR_DECODE;
      break;
    case SC_RECORD_PROTECTED:
      if (len > SC_MAX_PROTECTED_BODY)
        return SC_ERR_RECORD_OVERFLOW;
      if (len < SC_MIN_PROTECTED_BODY)
        return SC_ERR_DECODE;
      break;
    default:
      return SC_ERR_DECODE;
    }
  out->type = hdr[0];
  out->length = len;
  return SC_OK;
}

void
sc_wire_put_record_header (uint8_t hdr[SC_RECORD_HEADER_LEN], uint8_t type, uint16_t len)
{
  hdr[0] = type;
  hdr[1] = SC_RECORD_VERSION;
  sc_put_u16 (hdr + 2, len);
}

int
sc_wire_parse_handshake (const uint8_t *data, size_t len, uint8_t *type, const uint8_t **body,
                         size_t *body_len)
{
  ScReader r;
  uint32_t n;

  sc_reader_init (&r, data, len);
  if (!sc_reader_u8 (&r, type) || !sc_reader_u24 (&r, &n))
    return SC_ERR_DECODE;
  /* Types 0 and past the last reserved one are malformed (PROTOCOL.md 4.1);
   * a reserved type is well-formed but unexpected, which the caller says. */
  if (*type == 0 || *type > SC_HS_LAST_TYPE)
    return SC_ERR_DECODE;
  if (n > SC_MAX_HANDSHAKE_MSG || n != r.left)
    return SC_ERR_DECODE;
  *body = r.p;
  *body_len = n;
  return SC_OK;
}

/* ---- hellos ------------------------------------------------------------ */

/* Extensions: u16 total, then (u16 type, u16 len, data) filling it exactly;
 * at most SC_MAX_EXTENSIONS, no duplicate types (PROTOCOL.md 4.2.3). The
 * contents are the handshake's to interpret. */
static int
parse_extensions (ScReader *r, ScHello *out)
{
  uint16_t total;
  const uint8_t *block;
  ScReader er;

  if (!sc_reader_u16 (r, &total) || !sc_reader_bytes (r, total, &block))
    return SC_ERR_DECODE;
  sc_reader_init (&er, block, total);
  out->n_extensions = 0;
  while (er.left > 0)
    {
      uint16_t type, len;
      const uint8_t *data;

      if (!sc_reader_u16 (&er, &type) || !sc_reader_u16 (&er, &len)
          || !sc_reader_bytes (&er, len, &data))
        return SC_ERR_DECODE;
      if (out->n_extensions == SC_MAX_EXTENSIONS)
        return SC_ERR_DECODE;
      for (size_t i = 0; i < out->n_extensions; i++)
        if (out->ext_types[i] == type)
          return SC_ERR_DECODE;
      out->ext_types[out->n_extensions] = type;
      out->ext_data[out->n_extensions] = data;
      out->ext_lens[out->n_extensions] = len;
      out->n_extensions++;
    }
  return SC_OK;
}

int
sc_hello_find_extension (const ScHello *hello, uint16_t type)
{
  for (size_t i = 0; i < hello->n_extensions; i++)
    if (hello->ext_types[i] == type)
      return (int) i;
  return -1;
}

/* The fields both hellos share after the version part. */
static int
parse_hello_tail (ScReader *r, ScHello *out)
{
  if (!sc_reader_bytes (r, SC_RANDOM_LEN, &out->random) || !sc_reader_u64 (r, &out->timestamp_ms)
      || !sc_reader_bytes (r, SC_P256_POINT_LEN, &out->key_share)
      || !sc_reader_u32 (r, &out->max_message_size))
    return SC_ERR_DECODE;
  if (out->max_message_size == 0 || out->max_message_size > SC_MAX_MESSAGE_SIZE_LIMIT)
    return SC_ERR_DECODE;
  if (parse_extensions (r, out) != SC_OK || !sc_reader_done (r))
    return SC_ERR_DECODE;
  return SC_OK;
}

int
sc_wire_parse_client_hello (const uint8_t *body, size_t len, ScHello *out)
{
  ScReader r;
  const uint8_t *v;

  memset (out, 0, sizeof *out);
  sc_reader_init (&r, body, len);
  if (!sc_reader_u8 (&r, &out->n_versions))
    return SC_ERR_DECODE;
  if (out->n_versions == 0 || out->n_versions > SC_MAX_OFFERED_VERSIONS
      || !sc_reader_bytes (&r, out->n_versions, &v))
    return SC_ERR_DECODE;
  for (size_t i = 0; i < out->n_versions; i++)
    {
      if (v[i] == 0)
        return SC_ERR_DECODE;
      for (size_t j = 0; j < i; j++)
        if (v[j] == v[i])
          return SC_ERR_DECODE;
      out->versions[i] = v[i];
    }
  return parse_hello_tail (&r, out);
}

int
sc_wire_parse_server_hello (const uint8_t *body, size_t len, ScHello *out)
{
  ScReader r;

  memset (out, 0, sizeof *out);
  sc_reader_init (&r, body, len);
  out->n_versions = 1;
  if (!sc_reader_u8 (&r, &out->versions[0]) || out->versions[0] == 0)
    return SC_ERR_DECODE;
  return parse_hello_tail (&r, out);
}

int
sc_wire_build_hello (ScBuffer *buf, uint8_t msg_type, const uint8_t *versions, size_t n_versions,
                     const uint8_t random[SC_RANDOM_LEN], uint64_t timestamp_ms,
                     const uint8_t key_share[SC_P256_POINT_LEN], uint32_t max_message_size,
                     const uint8_t *ext, size_t ext_len)
{
  size_t vlen = msg_type == SC_HS_CLIENT_HELLO ? 1 + n_versions : 1;
  size_t body = vlen + SC_RANDOM_LEN + 8 + SC_P256_POINT_LEN + 4 + 2 + ext_len;
  uint8_t *p;
  int ret;

  if (n_versions == 0 || n_versions > SC_MAX_OFFERED_VERSIONS || ext_len > UINT16_MAX
      || body > SC_MAX_HANDSHAKE_MSG)
    return SC_ERR_INVALID_ARG;
  ret = sc_buffer_reserve (buf, SC_HS_HEADER_LEN + body);
  if (ret != SC_OK)
    return ret;
  p = buf->data + buf->len;
  *p++ = msg_type;
  sc_put_u24 (p, (uint32_t) body);
  p += 3;
  if (msg_type == SC_HS_CLIENT_HELLO)
    *p++ = (uint8_t) n_versions;
  memcpy (p, versions, vlen - (msg_type == SC_HS_CLIENT_HELLO ? 1 : 0));
  p += vlen - (msg_type == SC_HS_CLIENT_HELLO ? 1 : 0);
  memcpy (p, random, SC_RANDOM_LEN);
  p += SC_RANDOM_LEN;
  sc_put_u64 (p, timestamp_ms);
  p += 8;
  memcpy (p, key_share, SC_P256_POINT_LEN);
  p += SC_P256_POINT_LEN;
  sc_put_u32 (p, max_message_size);
  p += 4;
  sc_put_u16 (p, (uint16_t) ext_len);
  p += 2;
  if (ext_len > 0)
    memcpy (p, ext, ext_len);
  buf->len += SC_HS_HEADER_LEN + body;
  return SC_OK;
}

/* ---- resumption (PROTOCOL.md 4.7) --------------------------------------- */

/* opaque ticket<1..SC_MAX_TICKET_LEN> (u16 length), then uint64 recv_id. */
int
sc_wire_parse_resumption_ticket (const uint8_t *data, size_t len, const uint8_t **ticket,
                                 size_t *ticket_len, uint64_t *recv_id)
{
  ScReader r;
  uint16_t n;

  sc_reader_init (&r, data, len);
  if (!sc_reader_u16 (&r, &n) || n == 0 || n > SC_MAX_TICKET_LEN || !sc_reader_bytes (&r, n, ticket)
      || !sc_reader_u64 (&r, recv_id) || !sc_reader_done (&r))
    return SC_ERR_DECODE;
  *ticket_len = n;
  return SC_OK;
}

int
sc_wire_build_resumption_ticket (ScBuffer *buf, const uint8_t *ticket, size_t ticket_len,
                                 uint64_t recv_id)
{
  uint8_t hdr[6], id[8];
  int ret;

  if (ticket_len == 0 || ticket_len > SC_MAX_TICKET_LEN)
    return SC_ERR_INVALID_ARG;
  sc_put_u16 (hdr, SC_EXT_RESUMPTION_TICKET);
  sc_put_u16 (hdr + 2, (uint16_t) (2 + ticket_len + 8));
  sc_put_u16 (hdr + 4, (uint16_t) ticket_len);
  sc_put_u64 (id, recv_id);
  ret = sc_buffer_append (buf, hdr, sizeof hdr);
  if (ret == SC_OK)
    ret = sc_buffer_append (buf, ticket, ticket_len);
  if (ret == SC_OK)
    ret = sc_buffer_append (buf, id, sizeof id);
  return ret;
}

int
sc_wire_parse_resumption_accept (const uint8_t *data, size_t len, uint64_t *recv_id)
{
  return sc_wire_parse_u64_content (data, len, recv_id);
}

int
sc_wire_build_resumption_accept (ScBuffer *buf, uint64_t recv_id)
{
  uint8_t ext[4 + 8];

  sc_put_u16 (ext, SC_EXT_RESUMPTION_ACCEPT);
  sc_put_u16 (ext + 2, 8);
  sc_put_u64 (ext + 4, recv_id);
  return sc_buffer_append (buf, ext, sizeof ext);
}

/* uint32 lifetime_s (1..SC_MAX_TICKET_LIFETIME_S), opaque ticket<1..512>. */
int
sc_wire_parse_new_session_ticket (const uint8_t *body, size_t len, uint32_t *lifetime_s,
                                  const uint8_t **ticket, size_t *ticket_len)
{
  ScReader r;
  uint16_t n;

  sc_reader_init (&r, body, len);
  if (!sc_reader_u32 (&r, lifetime_s) || *lifetime_s == 0 || *lifetime_s > SC_MAX_TICKET_LIFETIME_S
      || !sc_reader_u16 (&r, &n) || n == 0 || n > SC_MAX_TICKET_LEN
      || !sc_reader_bytes (&r, n, ticket) || !sc_reader_done (&r))
    return SC_ERR_DECODE;
  *ticket_len = n;
  return SC_OK;
}

int
sc_wire_build_new_session_ticket (ScBuffer *buf, uint32_t lifetime_s, const uint8_t *ticket,
                                  size_t ticket_len)
{
  uint8_t hdr[SC_HS_HEADER_LEN + 4 + 2];
  int ret;

  if (ticket_len == 0 || ticket_len > SC_MAX_TICKET_LEN)
    return SC_ERR_INVALID_ARG;
  hdr[0] = SC_HS_NEW_SESSION_TICKET;
  sc_put_u24 (hdr + 1, (uint32_t) (4 + 2 + ticket_len));
  sc_put_u32 (hdr + 4, lifetime_s);
  sc_put_u16 (hdr + 8, (uint16_t) ticket_len);
  ret = sc_buffer_append (buf, hdr, sizeof hdr);
  if (ret == SC_OK)
    ret = sc_buffer_append (buf, ticket, ticket_len);
  return ret;
}

/* ---- identity, verify, finished --------------------------------------- */

static int
parse_chain (ScReader *r, ScIdentityMsg *out)
{
  uint8_t n;

  if (!sc_reader_u8 (r, &n) || n == 0 || n > SC_MAX_CERT_CHAIN)
    return SC_ERR_DECODE;
  for (size_t i = 0; i < n; i++)
    {
      uint32_t clen;

      if (!sc_reader_u24 (r, &clen) || clen == 0 || !sc_reader_bytes (r, clen, &out->certs[i]))
        return SC_ERR_DECODE;
      out->cert_lens[i] = clen;
    }
  out->n_certs = n;
  return SC_OK;
}

int
sc_wire_parse_identity (const uint8_t *body, size_t len, ScIdentityMsg *out)
{
  ScReader r;
  uint16_t spki_len;

  memset (out, 0, sizeof *out);
  sc_reader_init (&r, body, len);
  if (!sc_reader_u8 (&r, &out->auth_request) || !sc_reader_u8 (&r, &out->identity_type))
    return SC_ERR_DECODE;
  if (out->auth_request > SC_CLIENT_AUTH_REQUIRED)
    return SC_ERR_DECODE;
  switch (out->identity_type)
    {
    case 0:
      break;
    case 1:
      if (!sc_reader_u16 (&r, &spki_len) || spki_len != SC_P256_SPKI_LEN
          || !sc_reader_bytes (&r, spki_len, &out->spki))
        return SC_ERR_DECODE;
      break;
    case 2:
      if (parse_chain (&r, out) != SC_OK)
        return SC_ERR_DECODE;
      break;
    default:
      return SC_ERR_DECODE;
    }
  return sc_reader_done (&r) ? SC_OK : SC_ERR_DECODE;
}

int
sc_wire_build_identity (ScBuffer *buf, const ScIdentityMsg *id)
{
  size_t body = 2;
  uint8_t *p;
  int ret;

  if (id->identity_type == 1)
    body += 2 + SC_P256_SPKI_LEN;
  else if (id->identity_type == 2)
    {
      body += 1;
      if (id->n_certs == 0 || id->n_certs > SC_MAX_CERT_CHAIN)
        return SC_ERR_INVALID_ARG;
      for (size_t i = 0; i < id->n_certs; i++)
        {
          /* each term is bounded first, so the sum cannot wrap */
          if (id->cert_lens[i] == 0 || id->cert_lens[i] > SC_MAX_HANDSHAKE_MSG)
            return SC_ERR_INVALID_ARG;
          body += 3 + id->cert_lens[i];
        }
    }
  if (body > SC_MAX_HANDSHAKE_MSG)
    return SC_ERR_INVALID_ARG;
  ret = sc_buffer_reserve (buf, SC_HS_HEADER_LEN + body);
  if (ret != SC_OK)
    return ret;
  p = buf->data + buf->len;
  *p++ = SC_HS_IDENTITY;
  sc_put_u24 (p, (uint32_t) body);
  p += 3;
  *p++ = id->auth_request;
  *p++ = id->identity_type;
  if (id->identity_type == 1)
    {
      sc_put_u16 (p, SC_P256_SPKI_LEN);
      memcpy (p + 2, id->spki, SC_P256_SPKI_LEN);
    }
  else if (id->identity_type == 2)
    {
      *p++ = (uint8_t) id->n_certs;
      for (size_t i = 0; i < id->n_certs; i++)
        {
          sc_put_u24 (p, (uint32_t) id->cert_lens[i]);
          memcpy (p + 3, id->certs[i], id->cert_lens[i]);
          p += 3 + id->cert_lens[i];
        }
    }
  buf->len += SC_HS_HEADER_LEN + body;
  return SC_OK;
}

int
sc_wire_parse_verify (const uint8_t *body, size_t len, const uint8_t **sig)
{
  ScReader r;
  uint16_t scheme;

  sc_reader_init (&r, body, len);
  if (!sc_reader_u16 (&r, &scheme) || scheme != SC_SIG_SCHEME_ECDSA_P256_SHA256
      || !sc_reader_bytes (&r, SC_P256_SIG_LEN, sig) || !sc_reader_done (&r))
    return SC_ERR_DECODE;
  return SC_OK;
}

int
sc_wire_parse_finished (const uint8_t *body, size_t len, const uint8_t **mac)
{
  if (len != SC_HMAC_SHA256_LEN)
    return SC_ERR_DECODE;
  *mac = body;
  return SC_OK;
}

/* ---- application content ---------------------------------------------- */

int
sc_wire_parse_fragment (const uint8_t *content, size_t len, ScFragment *out)
{
  ScReader r;

  sc_reader_init (&r, content, len);
  if (!sc_reader_u64 (&r, &out->id) || !sc_reader_u32 (&r, &out->total)
      || !sc_reader_u32 (&r, &out->offset))
    return SC_ERR_DECODE;
  /* The rules between fragments are the receiver's (PROTOCOL.md 6.1, in
   * the order of its table); a record holds at most SC_MAX_FRAGMENT. */
  out->fragment = r.p;
  out->fragment_len = r.left;
  return SC_OK;
}

int
sc_wire_parse_u64_content (const uint8_t *content, size_t len, uint64_t *v)
{
  if (len != sizeof (uint64_t))
    return SC_ERR_DECODE;
  *v = sc_get_u64 (content);
  return SC_OK;
}

int
sc_wire_parse_u8_content (const uint8_t *content, size_t len, uint8_t *v)
{
  if (len != 1)
    return SC_ERR_DECODE;
  *v = content[0];
  return SC_OK;
}
