/* sc-limits.h: every limit of the SecureComm protocol core, in one place.
 *
 * Each constant states its unit and why it has the value it has. Values that
 * a deployment may tune are defaults here and can be lowered (never raised
 * past the hard maximum) through ScSessionConfig.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sc-crypto.h"

/* Protocol version numbers carried in the hellos (docs/PROTOCOL.md 4.1). */
#define SC_VERSION_1 0x01u
/* At most this many versions in a ClientHello: bounds the parser. */
#define SC_MAX_OFFERED_VERSIONS 8u

/* Record layer (docs/PROTOCOL.md 3). */
#define SC_RECORD_HEADER_LEN 4u /* bytes: type, version, length (u16) */
#define SC_RECORD_VERSION 0x01u /* the record header's version byte */
/* bytes: most content one record carries. 2^14, as TLS (RFC 8446 5.1), so a
 * record fits the usual socket buffers and a reader needs 16 KiB at most. */
#define SC_MAX_RECORD_PLAINTEXT 16384u
/* bytes: most body a protected record may have: content, inner type, tag. */
#define SC_MAX_PROTECTED_BODY (SC_MAX_RECORD_PLAINTEXT + 1u + SC_AES256_GCM_TAG_LEN)
/* bytes: least body a protected record may have: inner type and tag. */
#define SC_MIN_PROTECTED_BODY (1u + SC_AES256_GCM_TAG_LEN)
#define SC_ALERT_LEN 1u /* bytes: a plaintext ALERT's body */
/* bytes: the largest whole record on the wire. */
#define SC_MAX_RECORD_LEN (SC_RECORD_HEADER_LEN + SC_MAX_PROTECTED_BODY)

/* Handshake messages (docs/PROTOCOL.md 4). */
#define SC_HS_HEADER_LEN 4u /* bytes: type (u8), length (u24) */
/* bytes: a handshake message travels in one record. */
#define SC_MAX_HANDSHAKE_MSG (SC_MAX_RECORD_PLAINTEXT - SC_HS_HEADER_LEN)
#define SC_RANDOM_LEN 32u /* bytes of hello random, as TLS */
/* certificates: longest X.509 chain accepted in an Identity message. A leaf,
 * two intermediates and slack; longer chains are a misconfiguration. */
#define SC_MAX_CERT_CHAIN 8u
#define SC_MAX_EXTENSIONS 16u                   /* extensions per hello */
#define SC_SIG_SCHEME_ECDSA_P256_SHA256 0x0403u /* same code point as TLS 1.3 */

/* Messages (docs/PROTOCOL.md 6). */
#define SC_MESSAGE_HEADER_LEN 16u /* bytes: id u64, total u32, offset u32 */
#define SC_MAX_FRAGMENT (SC_MAX_RECORD_PLAINTEXT - SC_MESSAGE_HEADER_LEN)
/* bytes: default largest message a peer accepts (the 1 MiB). */
#define SC_DEFAULT_MAX_MESSAGE_SIZE (1u << 20)
/* bytes: the configurable ceiling. Reassembly buffers are allocated per
 * message, so this bounds memory an authenticated peer can make us hold. */
#define SC_MAX_MESSAGE_SIZE_LIMIT (64u << 20)

/* Freshness (docs/PROTOCOL.md 4.3). */
/* ms: default allowed clock difference for hello timestamps: 5 minutes, the
 * Kerberos default clock skew (RFC 4120 recommends a few minutes); tight enough to
 * reject stale flights, loose enough for machines with ordinary NTP drift. */
#define SC_DEFAULT_MAX_SKEW_MS (5u * 60u * 1000u)
#define SC_MAX_SKEW_LIMIT_MS (24u * 3600u * 1000u) /* ms: configurable ceiling */
/* ms: a handshake not done within this time fails (slowloris). 10 s covers
 * several round trips on a slow mobile link. */
#define SC_DEFAULT_HANDSHAKE_TIMEOUT_MS (10u * 1000u)

/* Key rotation (docs/PROTOCOL.md 7). AES-GCM may protect about 2^24.5
 * full-size records per key with a 2^-57 margin (RFC 8446 section 5.5). */
/* records: hard ceiling per traffic key, below 2^24.5 by a factor of 1.4.
 * A receiver fails the session when a key is used for more. */
#define SC_REJECT_AFTER_RECORDS (1ull << 24)
/* records: default rotation point, a quarter of the hard limit, so a key
 * update is sent long before the limit even with records in flight. */
#define SC_DEFAULT_REKEY_AFTER_RECORDS (1ull << 22)
/* bytes of content: hard ceiling per traffic key. 2^36 = 64 GiB, below the
 * 2^24.5 x 2^14 byte bound of RFC 8446 5.5 by a factor of 5.6. */
#define SC_REJECT_AFTER_BYTES (1ull << 36)
/* bytes of content: default rotation point, 1 GiB. */
#define SC_DEFAULT_REKEY_AFTER_BYTES (1ull << 30)
/* ms: default rotation by age: 120 s, WireGuard's REKEY_AFTER_TIME, which
 * bounds how much traffic one compromised traffic key exposes. */
#define SC_DEFAULT_REKEY_AFTER_MS (120u * 1000u)

/* Heartbeats (docs/PROTOCOL.md 6.3). */
/* ms: default ping interval. 30 s: well under common NAT and firewall idle
 * timeouts for TCP (RFC 5382 REQ-5 asks for at least 2 h, but consumer
 * devices often use minutes), and cheap: one 29-byte record each way. */
#define SC_DEFAULT_HEARTBEAT_INTERVAL_MS (30u * 1000u)
/* pings: unanswered pings after which the peer is declared dead; 3 tolerates
 * a burst of loss or a stalled peer for about 90 s before giving up. */
#define SC_DEFAULT_HEARTBEAT_MISSED 3u
#define SC_PING_LEN 8u /* bytes of ping/pong payload */

/* Channel binding (docs/PROTOCOL.md 5.4). */
#define SC_MAX_CHANNEL_BINDING 64u /* bytes: tls-exporter uses 32 */

/* Session resumption (docs/PROTOCOL.md 4.7). */
#define SC_STREAM_ID_LEN 16u      /* bytes: random id of a message stream */
#define SC_TICKET_KEY_ID_LEN 8u   /* bytes: names the ticket key a ticket is sealed under */
#define SC_RESUMPTION_PSK_LEN 32u /* bytes: the resumption secret, a SHA-256 output */
/* bytes: longest ticket a client accepts and sends. Ours are 225 bytes at
 * most (PROTOCOL.md 4.7.4); the slack lets a server change its format. */
#define SC_MAX_TICKET_LEN 512u
/* s: longest ticket lifetime. One day, below TLS 1.3's seven (RFC 8446
 * 4.6.1): a ticket lets its holder skip the signature of a full handshake,
 * and the server must keep the stream's undelivered messages that long. */
#define SC_MAX_TICKET_LIFETIME_S (24u * 3600u)
/* s: default ticket lifetime, one hour: long enough to ride out a network
 * change or a daemon restart by the client's reconnect loop, short enough to
 * bound how long a server holds a vanished client's messages. */
#define SC_DEFAULT_TICKET_LIFETIME_S 3600u
/* keys: ticket keys a server accepts at once: the current one and those
 * before it that may still have live tickets. */
#define SC_MAX_TICKET_KEYS 4u
