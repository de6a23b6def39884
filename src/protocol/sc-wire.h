/* sc-wire.h: encoding and strict parsing of SecureComm wire structures.
 *
 * Pure functions over byte arrays: no state, no allocation, no secrets. Each
 * structure of docs/PROTOCOL.md has a parse function (rejects anything that is
 * not exactly well-formed: short input, trailing bytes, out-of-range values)
 * and a build function that appends to a ScBuffer. The fuzz targets in
 * tests/fuzz call the parsers directly.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sc-protocol.h"

/* Outer record types (PROTOCOL.md 3.1). */
#define SC_RECORD_ALERT 0x15u
#define SC_RECORD_HANDSHAKE 0x16u
#define SC_RECORD_PROTECTED 0x17u

/* Inner content types of protected records (PROTOCOL.md 3.7). */
typedef enum
{
  SC_CONTENT_HANDSHAKE = 1,
  SC_CONTENT_MESSAGE = 2,
  SC_CONTENT_ACK = 3,
  SC_CONTENT_PING = 4,
  SC_CONTENT_PONG = 5,
  SC_CONTENT_KEY_UPDATE = 6,
  SC_CONTENT_CLOSE = 7,
  SC_CONTENT_ERROR = 8,
} ScContentType;

/* Handshake message types (PROTOCOL.md 4.1). */
typedef enum
{
  SC_HS_CLIENT_HELLO = 1,
  SC_HS_SERVER_HELLO = 2,
  SC_HS_IDENTITY = 3,
  SC_HS_VERIFY = 4,
  SC_HS_FINISHED = 5,
  SC_HS_NEW_SESSION_TICKET = 6,
} ScHandshakeType;
#define SC_HS_LAST_TYPE 6u

/* Hello extension types (PROTOCOL.md 4.2.3). */
#define SC_EXT_RESUMPTION_TICKET 0x0001u
#define SC_EXT_RESUMPTION_ACCEPT 0x0002u

/* A bounds-checked reader. Every get function fails (returns false) once the
 * reader has run out, and the reader stays failed. */
typedef struct
{
  const uint8_t *p;
  size_t left;
  bool failed;
} ScReader;

void sc_reader_init (ScReader *r, const uint8_t *data, size_t len);
bool sc_reader_u8 (ScReader *r, uint8_t *v);
bool sc_reader_u16 (ScReader *r, uint16_t *v);
bool sc_reader_u24 (ScReader *r, uint32_t *v);
bool sc_reader_u32 (ScReader *r, uint32_t *v);
bool sc_reader_u64 (ScReader *r, uint64_t *v);
/* Points *out at the next n bytes (no copy). */
bool sc_reader_bytes (ScReader *r, size_t n, const uint8_t **out);
/* True when everything was read and nothing failed. */
bool sc_reader_done (const ScReader *r);

/* Appending to a ScBuffer; these return SC_OK or SC_ERR_NOMEM
 * (sc_buffer_reserve: sc-protocol.h). */
int sc_buffer_append (ScBuffer *buf, const void *data, size_t len);
void sc_put_u16 (uint8_t *p, uint16_t v);
void sc_put_u24 (uint8_t *p, uint32_t v);
void sc_put_u32 (uint8_t *p, uint32_t v);
void sc_put_u64 (uint8_t *p, uint64_t v);
uint16_t sc_get_u16 (const uint8_t *p);
uint32_t sc_get_u32 (const uint8_t *p);
uint64_t sc_get_u64 (const uint8_t *p);

/* Record header (PROTOCOL.md 3.1). */
typedef struct
{
  uint8_t type;
  uint16_t length;
} ScRecordHeader;

/* Parses and checks a 4-byte header: known type, version 1, length within
 * the limit for that type. Returns SC_OK, SC_ERR_DECODE or
 * SC_ERR_RECORD_OVERFLOW. */
int sc_wire_parse_record_header (const uint8_t hdr[SC_RECORD_HEADER_LEN], ScRecordHeader *out);
void sc_wire_put_record_header (uint8_t hdr[SC_RECORD_HEADER_LEN], uint8_t type, uint16_t len);

/* A handshake message header: type and body (PROTOCOL.md 4.1). The body must
 * fill the rest of data exactly. */
int sc_wire_parse_handshake (const uint8_t *data, size_t len, uint8_t *type, const uint8_t **body,
                             size_t *body_len);

/* ClientHello and ServerHello (PROTOCOL.md 4.2, 4.3). */
typedef struct
{
  uint8_t n_versions; /* ClientHello: offered; ServerHello: 1 */
  uint8_t versions[SC_MAX_OFFERED_VERSIONS];
  const uint8_t *random; /* SC_RANDOM_LEN bytes */
  uint64_t timestamp_ms;
  const uint8_t *key_share; /* SC_P256_POINT_LEN bytes, not yet validated */
  uint32_t max_message_size;
  size_t n_extensions;
  uint16_t ext_types[SC_MAX_EXTENSIONS];
  const uint8_t *ext_data[SC_MAX_EXTENSIONS];
  uint16_t ext_lens[SC_MAX_EXTENSIONS];
} ScHello;

/* The index of extension type in a parsed hello, or -1. */
int sc_hello_find_extension (const ScHello *hello, uint16_t type);

int sc_wire_parse_client_hello (const uint8_t *body, size_t len, ScHello *out);
int sc_wire_parse_server_hello (const uint8_t *body, size_t len, ScHello *out);
/* Appends a whole handshake message (header included). For a ServerHello
 * only versions[0] is used. ext is the encoded extension list (the bytes
 * after extensions_length), ext_len bytes, possibly none. */
int sc_wire_build_hello (ScBuffer *buf, uint8_t msg_type, const uint8_t *versions,
                         size_t n_versions, const uint8_t random[SC_RANDOM_LEN],
                         uint64_t timestamp_ms, const uint8_t key_share[SC_P256_POINT_LEN],
                         uint32_t max_message_size, const uint8_t *ext, size_t ext_len);

/* resumption_ticket extension data (PROTOCOL.md 4.7.2). */
int sc_wire_parse_resumption_ticket (const uint8_t *data, size_t len, const uint8_t **ticket,
                                     size_t *ticket_len, uint64_t *recv_id);
/* Appends a whole resumption_ticket extension (type, length, data). */
int sc_wire_build_resumption_ticket (ScBuffer *buf, const uint8_t *ticket, size_t ticket_len,
                                     uint64_t recv_id);
/* resumption_accept extension data: exactly one u64. */
int sc_wire_parse_resumption_accept (const uint8_t *data, size_t len, uint64_t *recv_id);
int sc_wire_build_resumption_accept (ScBuffer *buf, uint64_t recv_id);

/* NewSessionTicket (PROTOCOL.md 4.7.3). */
int sc_wire_parse_new_session_ticket (const uint8_t *body, size_t len, uint32_t *lifetime_s,
                                      const uint8_t **ticket, size_t *ticket_len);
int sc_wire_build_new_session_ticket (ScBuffer *buf, uint32_t lifetime_s, const uint8_t *ticket,
                                      size_t ticket_len);

/* Identity (PROTOCOL.md 4.4). */
typedef struct
{
  uint8_t auth_request;
  uint8_t identity_type; /* 0 none, 1 raw key, 2 chain */
  const uint8_t *spki;   /* type 1 */
  size_t n_certs;        /* type 2 */
  const uint8_t *certs[SC_MAX_CERT_CHAIN];
  size_t cert_lens[SC_MAX_CERT_CHAIN];
} ScIdentityMsg;

int sc_wire_parse_identity (const uint8_t *body, size_t len, ScIdentityMsg *out);
int sc_wire_build_identity (ScBuffer *buf, const ScIdentityMsg *id);

/* Verify (PROTOCOL.md 4.5): the scheme is checked, *sig points at 64 bytes. */
int sc_wire_parse_verify (const uint8_t *body, size_t len, const uint8_t **sig);
/* Finished: *mac points at 32 bytes. */
int sc_wire_parse_finished (const uint8_t *body, size_t len, const uint8_t **mac);

/* MESSAGE content header (PROTOCOL.md 6.1). */
typedef struct
{
  uint64_t id;
  uint32_t total;
  uint32_t offset;
  const uint8_t *fragment;
  size_t fragment_len;
} ScFragment;

int sc_wire_parse_fragment (const uint8_t *content, size_t len, ScFragment *out);
/* Fixed-size contents: ACK (u64), PING/PONG (8 bytes), KEY_UPDATE, CLOSE and
 * ERROR (u8). */
int sc_wire_parse_u64_content (const uint8_t *content, size_t len, uint64_t *v);
int sc_wire_parse_u8_content (const uint8_t *content, size_t len, uint8_t *v);
