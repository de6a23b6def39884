/* sc-channel.h: one SecureComm session driven over a GIOStream (private).
 *
 * A ScChannel owns a stream (a plain GSocketConnection or a GTlsConnection:
 * both are just pollable GIOStreams here) and a protocol session, and runs
 * in one GMainContext. It reads everything available on each wake-up,
 * feeds it to the session, and writes what the session produced in as few
 * writes as it can. Timers come from sc_session_tick.
 *
 * Thread safety: sc_channel_send, sc_channel_close and the getters may be
 * called from any thread; the session is guarded by a mutex and the I/O
 * happens in the channel's context. Callbacks run in the channel's context,
 * never with the mutex held.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "sc-protocol.h"

G_BEGIN_DECLS

/* ms, bytes: how long, and for how much input, a connection that ended
 * cleanly waits for the peer to close its side before the socket is
 * closed (sc-channel.c, lingering). Inside TLS, writing close_notify first
 * may take as long again before it is given up. */
#define SC_CHANNEL_CLOSE_LINGER_MS 2000
#define SC_CHANNEL_CLOSE_LINGER_BYTES (1u << 20)
/* ms: the longest a channel's stream takes to close after its end. */
#define SC_CHANNEL_CLOSE_MAX_MS (2 * SC_CHANNEL_CLOSE_LINGER_MS)

typedef struct _ScChannel ScChannel;

typedef struct
{
  /* The handshake completed; the peer identity is known. */
  void (*handshake_done) (ScChannel *channel, gpointer user_data);
  /* A whole message arrived. */
  void (*message) (ScChannel *channel, guint64 id, GBytes *message, gpointer user_data);
  /* The peer acknowledged every message up to id. */
  void (*acked) (ScChannel *channel, guint64 id, gpointer user_data);
  /* The channel is finished and its stream closed. error is NULL after a
   * clean close by either side; reason says what happened in words. Called
   * exactly once. */
  void (*closed) (ScChannel *channel, const GError *error, const char *reason, gpointer user_data);
  /* Clients: a resumption ticket arrived; take it with sc_channel_take_ticket. */
  void (*ticket) (ScChannel *channel, gpointer user_data);
  /* Servers with ticket keys: may this stream be resumed (ScProtoCtx.resume)?
   * Runs synchronously in the channel's context with the channel's lock
   * held: it must not call into any channel. */
  int (*resume) (ScChannel *channel, const ScResumeRequest *request, guint64 *server_recv_id,
                 gpointer user_data);
} ScChannelCallbacks;

/* What the handshake established, beyond the peer identity. */
typedef struct
{
  gboolean resumed;
  guint64 peer_recv_id;               /* resumed: the highest message id the peer had delivered */
  guint8 stream_id[SC_STREAM_ID_LEN]; /* servers: the stream and the generation */
  guint32 generation;                 /*   of the ticket issued for it */
} ScChannelHandshake;

typedef struct
{
  guint64 connected_since_us; /* UNIX time */
  guint64 last_activity_us;   /* UNIX time of the last authenticated record */
  ScSessionInfo session;
  gboolean authenticated;
  char fingerprint[2 * SC_SHA256_LEN + 1]; /* empty when anonymous */
  /* a byte went out or came in: the connection under the channel was made
   * (a socket whose connect is still pending takes no byte) */
  gboolean transport_up;
} ScChannelInfo;

/* TCP_NODELAY on a TCP socket (nothing on other kinds). */
void sc_socket_set_nodelay (GSocket *socket);

/* config and its borrowed pointers (identity, chain) must outlive the
 * channel. verify_peer may be NULL for servers. */
ScChannel *sc_channel_new (GIOStream *stream, GMainContext *context, const ScSessionConfig *config,
                           int (*verify_peer) (void *user, const ScPeerIdentity *peer),
                           const ScChannelCallbacks *callbacks, gpointer user_data, GError **error);
ScChannel *sc_channel_ref (ScChannel *channel);
/* Keeps data alive as long as the channel (for memory that config points
 * into, such as ticket keys); destroy runs when the channel is freed. */
void sc_channel_hold (ScChannel *channel, gpointer data, GDestroyNotify destroy);
/* After handshake_done: resumption and stream details. */
void sc_channel_get_handshake (ScChannel *channel, ScChannelHandshake *out);
/* Clients: moves the latest ticket, with its secret and the server identity
 * it stands for, into dest (caller's secure memory). FALSE if none. */
gboolean sc_channel_take_ticket (ScChannel *channel, ScResumption *dest, guint32 *lifetime_s);
/* The CLOSE reason the peer sent (ScCloseReason), or -1 if it sent none. */
int sc_channel_get_peer_close_reason (ScChannel *channel);
void sc_channel_unref (ScChannel *channel);

/* Starts reading (and for clients sends the ClientHello). Call from any
 * thread; the work happens in the channel's context. */
void sc_channel_start (ScChannel *channel);
/* Before sc_channel_start: the callbacks for the events that come after
 * handshake_done (messages, acks, tickets, and closed) wait until the
 * channel has moved (sc_channel_move), and then run in the new context. For
 * a handshake driven in one thread whose session then lives in another. */
void sc_channel_hold_after_handshake (ScChannel *channel);
/* Moves the channel to context: from now on its work and its callbacks run
 * there. Not from the channel's callbacks. From the thread of the channel's
 * current context (between two of its iterations), nothing of the channel
 * runs there any more when this returns. From another thread, while that
 * thread runs the context, a callback that had started there may still be
 * running (or about to touch the channel) when this returns: the caller
 * must wait until that thread has ended its dispatch under way (for
 * instance until it next polls) before it runs context or relies on the
 * callbacks being over. A finished channel stays where it is (TRUE), and
 * so does what is left of it (a lingering close). FALSE when the new
 * context has no poller (no epoll descriptor to be had): the channel then
 * stays where it is. If the new poller cannot watch the socket, the channel
 * ends there with that error. */
gboolean sc_channel_move (ScChannel *channel, GMainContext *context, GError **error);
/* Queues a message; the id is the protocol's. Fails with SC_ERROR_* codes. */
gboolean sc_channel_send (ScChannel *channel, const guint8 *data, gsize len, guint64 *out_id,
                          GError **error);
/* Sends CLOSE (when connected), flushes, closes the stream. reason is what
 * `closed` will report. */
void sc_channel_close (ScChannel *channel, ScCloseReason code, const char *reason);
/* Closes a connected channel after idle_timeout_ms without a message either
 * way (0: never). */
void sc_channel_set_idle_timeout (ScChannel *channel, guint idle_timeout_ms);
/* Finishes at once, dropping unsent output (shutdown of a stuck peer), and
 * events held for sc_channel_move. */
void sc_channel_abort (ScChannel *channel, const char *reason);
/* Whether the channel has finished and closed its stream, after any
 * lingering: nothing of it is left in its context. */
gboolean sc_channel_is_done (ScChannel *channel);
/* Once the channel's clean close lingers on its socket (waiting for the
 * peer to close its side: SC_CHANNEL_CLOSE_LINGER_MS), the lingering goes
 * on in context (NULL: the channel's own, at once, as by default), where
 * the socket is looked at every SC_CHANNEL_LINGER_CHECK_MS (sc-channel.c)
 * instead of watched: for a channel whose own context is about to be left
 * (a thread that closed it and does not come back), without a wake-up of
 * context per close. Call before the close. */
void sc_channel_linger_later (ScChannel *channel, GMainContext *context);
/* How many closes linger in context's reaper (sc_channel_linger_later):
 * a thread that runs context and is about to end waits for them. (A
 * close that a reaper checks at this moment is not counted.) */
guint sc_channel_lingering (GMainContext *context);
/* Rotates our sending key now; with update_peer the peer rotates too. */
gboolean sc_channel_key_update (ScChannel *channel, gboolean update_peer, GError **error);

void sc_channel_get_info (ScChannel *channel, ScChannelInfo *info);
/* The peer's address as "host:port", or NULL. */
const char *sc_channel_get_peer_address (ScChannel *channel);
gboolean sc_channel_is_connected (ScChannel *channel);
GIOStream *sc_channel_get_stream (ScChannel *channel);

/* Quits a loop that another thread runs, even if that thread has not
 * started running it yet: g_main_loop_quit () before g_main_loop_run ()
 * is lost, a queued idle source in the loop's context is not. */
void sc_main_loop_quit_later (GMainLoop *loop);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ScChannel, sc_channel_unref)

G_END_DECLS
