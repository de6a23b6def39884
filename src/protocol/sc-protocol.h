/* sc-protocol.h: the sans-I/O SecureComm protocol core.
 *
 * A ScSession is one end of one SecureComm connection. It never touches a
 * socket, a clock or a random source of its own: the host feeds it received
 * bytes (sc_session_recv), asks it to send (sc_session_send), lets time pass
 * (sc_session_tick), and writes out whatever the session appended to the
 * caller-owned ScBuffer. Events (handshake done, message, acknowledgement,
 * close) come back through ScProtoCtx.event. docs/PROTOCOL.md is the
 * specification this code follows.
 *
 * Errors are negative SC_ERR_* codes. After any error except SC_ERR_INVALID_ARG
 * and SC_ERR_MESSAGE_TOO_LARGE from sc_session_send, the session is dead:
 * every later call returns the same error, all keys are already wiped, and
 * the output buffer holds an alert for the peer when one could be sent.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sc-crypto.h"
#include "sc-limits.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum
{
  SC_OK = 0,
  SC_ERR_NOMEM = -1,              /* out of memory */
  SC_ERR_INVALID_ARG = -2,        /* API misuse: bad argument or configuration */
  SC_ERR_INVALID_STATE = -3,      /* API misuse: call not valid in this state */
  SC_ERR_DECODE = -4,             /* malformed record, message or field */
  SC_ERR_UNEXPECTED = -5,         /* well-formed but not valid in this state */
  SC_ERR_DECRYPT = -6,            /* a record failed authentication (any cause) */
  SC_ERR_AUTH = -7,               /* bad handshake signature or Finished */
  SC_ERR_UNTRUSTED = -8,          /* peer identity refused by local policy */
  SC_ERR_AUTH_REQUIRED = -9,      /* server requires a client identity */
  SC_ERR_VERSION = -10,           /* no common protocol version */
  SC_ERR_STALE = -11,             /* hello timestamp outside the allowed skew */
  SC_ERR_BAD_KEY = -12,           /* invalid public point or key encoding */
  SC_ERR_RECORD_OVERFLOW = -13,   /* record longer than the protocol allows */
  SC_ERR_MESSAGE_TOO_LARGE = -14, /* message over the receiver's limit */
  SC_ERR_KEY_EXHAUSTED = -15,     /* a traffic key reached its reject-after limit */
  SC_ERR_TIMEOUT = -16,           /* handshake or heartbeat timeout */
  SC_ERR_TRUNCATED = -17,         /* the stream ended without a close */
  SC_ERR_PEER_ALERT = -18,        /* the peer reported an error and closed */
  SC_ERR_CLOSED = -19,            /* the session was closed cleanly */
  SC_ERR_RANDOM = -20,            /* the random source failed */
  SC_ERR_INTERNAL = -21,          /* a crypto library call failed unexpectedly */
} ScStatus;

/* Returns a short English description of an SC_ERR_* code. */
const char *sc_strerror (int err);

typedef enum
{
  SC_ROLE_CLIENT,
  SC_ROLE_SERVER,
} ScRole;

typedef enum
{
  SC_CLIENT_AUTH_NONE = 0,
  SC_CLIENT_AUTH_OPTIONAL = 1,
  SC_CLIENT_AUTH_REQUIRED = 2,
} ScClientAuth;

/* Channel binding types (docs/PROTOCOL.md 5.4). */
typedef enum
{
  SC_BINDING_NONE = 0,
  SC_BINDING_TLS_EXPORTER = 1,
  SC_BINDING_TLS_UNIQUE = 2,
} ScBindingType;

/* Close reasons carried in a CLOSE record (docs/PROTOCOL.md 6.5). */
typedef enum
{
  SC_CLOSE_NORMAL = 0,
  SC_CLOSE_GOING_AWAY = 1,
  SC_CLOSE_IDLE = 2,
} ScCloseReason;

/* Wire alert codes (docs/PROTOCOL.md 8). */
typedef enum
{
  SC_ALERT_DECODE_ERROR = 1,
  SC_ALERT_UNEXPECTED_MESSAGE = 2,
  SC_ALERT_BAD_RECORD = 3,
  SC_ALERT_HANDSHAKE_FAILURE = 4,
  SC_ALERT_PROTOCOL_VERSION = 5,
  SC_ALERT_STALE = 6,
  SC_ALERT_ILLEGAL_PARAMETER = 7,
  SC_ALERT_RECORD_OVERFLOW = 8,
  SC_ALERT_MESSAGE_TOO_LARGE = 9,
  SC_ALERT_KEY_EXHAUSTED = 10,
  SC_ALERT_TIMEOUT = 11,
  SC_ALERT_INTERNAL_ERROR = 12,
  SC_ALERT_AUTH_REQUIRED = 13,
} ScAlert;

/* A growable byte buffer owned by the caller. The session appends records to
 * it; the caller writes data[0..len) to the stream and calls
 * sc_buffer_consume for what was written. */
typedef struct
{
  uint8_t *data;
  size_t len;
  size_t cap;
} ScBuffer;

void sc_buffer_init (ScBuffer *buf);
/* Frees the storage (ciphertext only: nothing secret to wipe). */
void sc_buffer_clear (ScBuffer *buf);
/* Drops the first n bytes (n <= len). */
void sc_buffer_consume (ScBuffer *buf, size_t n);
/* Makes room for extra more bytes: SC_OK or SC_ERR_NOMEM. */
int sc_buffer_reserve (ScBuffer *buf, size_t extra);

/* The identity a peer presented, as handed to the verify_peer callback and
 * kept after the handshake. */
typedef struct
{
  uint8_t type;                            /* 0 none, 1 raw key, 2 X.509 chain */
  uint8_t spki[SC_P256_SPKI_LEN];          /* the peer's key as SubjectPublicKeyInfo */
  uint8_t fingerprint[SC_SHA256_LEN];      /* SHA-256 of spki */
  size_t n_certs;                          /* type 2: the chain, leaf first */
  const uint8_t *certs[SC_MAX_CERT_CHAIN]; /* valid only during the callback */
  size_t cert_lens[SC_MAX_CERT_CHAIN];
  bool resumed; /* known from a resumption ticket, not from a signature now */
} ScPeerIdentity;

/* A server ticket key (docs/PROTOCOL.md 4.7.4). Keep it in secure memory. */
typedef struct
{
  uint8_t id[SC_TICKET_KEY_ID_LEN];
  uint8_t key[SC_AES256_GCM_KEY_LEN];
} ScTicketKey;

/* What a client keeps between connections to resume a stream
 * (docs/PROTOCOL.md 4.7). Holds a secret: keep it in secure memory and wipe
 * it when done. */
typedef struct
{
  uint8_t psk[SC_RESUMPTION_PSK_LEN];
  uint8_t ticket[SC_MAX_TICKET_LEN];
  size_t ticket_len;
  /* Our identity's fingerprint when the ticket was issued (all zero when
   * we had none): a ticket is only offered with the same identity. */
  uint8_t client_fingerprint[SC_SHA256_LEN];
  ScPeerIdentity server; /* as authenticated by the full handshake */
  uint64_t recv_id;      /* highest message id delivered from the server */
  uint64_t sent_id;      /* highest message id sent to the server */
} ScResumption;

/* A server's question to its host: may this stream be resumed? */
typedef struct
{
  const uint8_t *stream_id;     /* SC_STREAM_ID_LEN bytes */
  uint32_t generation;          /* the ticket's; the host knows the current one */
  const ScPeerIdentity *client; /* from the ticket; type 0: anonymous */
  uint64_t client_recv_id;      /* highest message id the client delivered */
} ScResumeRequest;

typedef enum
{
  SC_EVENT_HANDSHAKE_DONE, /* keys are in place; sending is allowed */
  SC_EVENT_MESSAGE,        /* a whole message arrived: id, data, len */
  SC_EVENT_ACKED,          /* the peer has every message up to id */
  SC_EVENT_KEY_UPDATE,     /* a traffic key rotated: epoch, sending (bool) */
  SC_EVENT_CLOSED,         /* the peer closed cleanly: reason */
  SC_EVENT_TICKET,         /* client: a resumption ticket arrived */
} ScEventType;

/* Event fields, by type (pointers are valid only during the callback):
 * HANDSHAKE_DONE: resumed; id = the highest message id the peer had received
 *   (0 after a full handshake; after a resumption, messages above it must be
 *   sent again); servers: stream_id and generation of the ticket they issue.
 * MESSAGE: id, data, len.  ACKED: id.  KEY_UPDATE: epoch, sending.
 * CLOSED: reason.  TICKET: data, len (the ticket), secret (the
 *   SC_RESUMPTION_PSK_LEN-byte resumption secret: copy it to secure memory),
 *   lifetime_s. */
typedef struct
{
  ScEventType type;
  uint64_t id;
  const uint8_t *data;
  size_t len;
  uint32_t epoch;
  bool sending;
  uint8_t reason;
  bool resumed;
  const uint8_t *stream_id;
  uint32_t generation;
  const uint8_t *secret;
  uint32_t lifetime_s;
} ScEvent;

typedef struct ScSession ScSession;

/* Everything the session asks of its host. */
typedef struct
{
  /* UNIX time in milliseconds, for hello timestamps. */
  uint64_t (*wall_ms) (void *user);
  /* A monotonic clock in milliseconds, for timers. */
  uint64_t (*mono_ms) (void *user);
  /* Random bytes for ephemeral keys, randoms and signatures. */
  ScRandomFunc random;
  /* Events; may be NULL to ignore them. Must not call back into the session
   * except for sc_session_get_* and sc_session_peer_identity. */
  void (*event) (void *user, ScSession *session, const ScEvent *event);
  /* Decides whether an authenticated peer identity is trusted: return 0 to
   * accept, anything else to refuse (SC_ERR_UNTRUSTED). Called after the
   * peer's signature has been checked. Required for clients; for servers
   * NULL accepts any client that proves possession of its key. */
  int (*verify_peer) (void *user, const ScPeerIdentity *peer);
  /* Optional key log for test vectors and debugging (like SSLKEYLOGFILE):
   * called with each derived secret. Leave NULL in production. */
  void (*keylog) (void *user, const char *label, const uint8_t *secret, size_t len);
  /* Servers with ticket keys: whether the stream a valid ticket names may be
   * resumed. Return 0 and set *server_recv_id (the highest message id we
   * delivered from this client) to resume; anything else makes it a full
   * handshake. NULL: never resume. Same rules as event for re-entry. */
  int (*resume) (void *user, const ScResumeRequest *request, uint64_t *server_recv_id);
  void *user;
} ScProtoCtx;

/* Tunable limits; sc_session_config_init sets the defaults of sc-limits.h. */
typedef struct
{
  uint32_t max_message_size;      /* bytes we accept, <= SC_MAX_MESSAGE_SIZE_LIMIT */
  uint32_t max_skew_ms;           /* <= SC_MAX_SKEW_LIMIT_MS */
  uint32_t handshake_timeout_ms;  /* 0: no timeout */
  uint64_t rekey_after_records;   /* 1 .. reject_after_records - 1 */
  uint64_t reject_after_records;  /* 2 .. SC_REJECT_AFTER_RECORDS */
  uint64_t rekey_after_bytes;     /* 1 .. reject_after_bytes - SC_MAX_RECORD_PLAINTEXT */
  uint64_t reject_after_bytes;    /* SC_MAX_RECORD_PLAINTEXT + 1 .. SC_REJECT_AFTER_BYTES */
  uint32_t rekey_after_ms;        /* 0: no rotation by age */
  uint32_t heartbeat_interval_ms; /* 0: no heartbeats */
  uint32_t heartbeat_missed;      /* >= 1 */
} ScLimits;

typedef struct
{
  ScRole role;
  /* Our long-term identity: required for servers, optional for clients.
   * Borrowed: must outlive the session. */
  const ScP256Key *identity;
  /* The caller vouches that identity->pub is the public point of
   * identity->d (it made the key with sc_p256_keygen or
   * sc_p256_key_from_scalar, or checked it on loading, and nothing changed
   * it since): sc_session_new then skips that check, a scalar
   * multiplication per session (a server's whole key generation again).
   * false (the default): every new session checks. */
  bool identity_checked;
  /* Optional X.509 chain for the identity, leaf first (DER). Borrowed. The
   * leaf's key must be the identity's. Without it the raw key is sent. */
  const uint8_t *const *cert_chain;
  const size_t *cert_chain_lens;
  size_t n_certs;
  /* Servers: whether clients must prove an identity. */
  ScClientAuth client_auth;
  /* Channel binding of an outer TLS connection, or SC_BINDING_NONE. */
  ScBindingType binding_type;
  const uint8_t *binding;
  size_t binding_len;
  ScLimits limits;
  /* Servers: ticket keys, the first one seals new tickets; none: no
   * tickets are issued and none accepted. Borrowed. */
  const ScTicketKey *ticket_keys;
  size_t n_ticket_keys;       /* <= SC_MAX_TICKET_KEYS */
  uint32_t ticket_lifetime_s; /* 1 .. SC_MAX_TICKET_LIFETIME_S */
  /* Clients: a stream to resume, or NULL for a full handshake. Borrowed. */
  const ScResumption *resumption;
} ScSessionConfig;

void sc_session_config_init (ScSessionConfig *config, ScRole role);

/* Session states (docs/PROTOCOL.md 4.6). */
typedef enum
{
  SC_STATE_CLIENT_START,
  SC_STATE_CLIENT_WAIT_SERVER_HELLO,
  SC_STATE_CLIENT_WAIT_IDENTITY,
  SC_STATE_CLIENT_WAIT_VERIFY,
  SC_STATE_CLIENT_WAIT_FINISHED,
  SC_STATE_SERVER_WAIT_CLIENT_HELLO,
  SC_STATE_SERVER_WAIT_IDENTITY,
  SC_STATE_SERVER_WAIT_VERIFY,
  SC_STATE_SERVER_WAIT_FINISHED,
  SC_STATE_CONNECTED,
  SC_STATE_CLOSED,
  SC_STATE_FAILED,
} ScState;

/* Creates a session. ctx is copied. Returns NULL and sets *err on a bad
 * configuration (SC_ERR_INVALID_ARG) or when out of memory. */
ScSession *sc_session_new (const ScSessionConfig *config, const ScProtoCtx *ctx, int *err);
/* Wipes every secret and frees the session. NULL is allowed. */
void sc_session_free (ScSession *session);

/* Client: appends the ClientHello to out. Call once, before anything else. */
int sc_session_start (ScSession *session, ScBuffer *out);
/* Processes len received bytes (any split of the stream), appending what must
 * be sent in answer (handshake flights, acknowledgements, pongs) to out. */
int sc_session_recv (ScSession *session, const uint8_t *data, size_t len, ScBuffer *out);
/* The transport reached end of stream. Returns SC_ERR_CLOSED after a clean
 * close and SC_ERR_TRUNCATED otherwise. */
int sc_session_eof (ScSession *session);
/* Queues one message (len <= the peer's limit), fragmented as needed. On
 * success *id (may be NULL) receives its message id. */
int sc_session_send (ScSession *session, const uint8_t *msg, size_t len, uint64_t *id,
                     ScBuffer *out);
/* Lets timers run: handshake timeout, heartbeats, rotation by age. Returns the
 * ms until the next timer is due in *next_ms (UINT32_MAX: none). */
int sc_session_tick (ScSession *session, ScBuffer *out, uint32_t *next_ms);
/* Rotates our sending key now; with update_peer the peer rotates its own too. */
int sc_session_key_update (ScSession *session, bool update_peer, ScBuffer *out);
/* Sends CLOSE and ends the session (state SC_STATE_CLOSED). */
int sc_session_close (ScSession *session, ScCloseReason reason, ScBuffer *out);

/* Keying material exporter (docs/PROTOCOL.md 5.3), connected sessions only. */
int sc_session_export (ScSession *session, const char *label, const uint8_t *context,
                       size_t context_len, uint8_t *out, size_t out_len);

typedef struct
{
  ScState state;
  uint8_t version;
  uint32_t send_epoch, recv_epoch; /* key updates so far, each way */
  uint64_t messages_sent, messages_received;
  uint64_t bytes_sent, bytes_received; /* message bytes */
  uint64_t last_acked;                 /* highest message id the peer acknowledged */
  int error;                           /* the fatal error, or 0 */
  uint8_t peer_alert;                  /* alert code the peer sent, or 0 */
  bool resumed;                        /* the handshake resumed a stream */
  uint64_t last_sent_id;               /* highest message id sent */
  uint64_t last_recv_id;               /* highest message id delivered */
} ScSessionInfo;

void sc_session_get_info (const ScSession *session, ScSessionInfo *info);
/* Only during an SC_EVENT_MESSAGE callback: takes the message's storage when
 * the session reassembled it in a buffer of its own (a message of several
 * records), so that the host need not copy it. Returns the event's data, now
 * the caller's to release with sc_message_free; NULL when the data is only
 * lent for the callback (copy it then). */
uint8_t *sc_session_take_message (ScSession *session);
/* Wipes and frees a message taken with sc_session_take_message. NULL is
 * allowed. */
void sc_message_free (uint8_t *message);
/* The peer's authenticated identity, or NULL before it is known or when the
 * peer (a client) presented none. */
const ScPeerIdentity *sc_session_peer_identity (const ScSession *session);
ScState sc_session_get_state (const ScSession *session);

#ifdef __cplusplus
}
#endif
