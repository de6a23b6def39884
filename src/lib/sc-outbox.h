/* sc-outbox.h: messages kept until the peer acknowledges them (private).
 *
 * Both ends of a stream keep what they sent in an outbox until the peer's
 * cumulative ACK covers it (docs/PROTOCOL.md 4.7.7). Entries are in send
 * order: the sent ones (with their message ids) first, then those not sent
 * yet (id 0), queued while there was no connection. After a resumption the
 * ones the peer already delivered are dropped and the rest go out again with
 * the same ids; after a full handshake every entry goes out again as a new
 * message.
 *
 * Small messages (up to SC_OUTBOX_COPY_MAX bytes) are copied into one byte
 * store that the outbox owns, in send order, instead of being held as one
 * GBytes each: pushing one costs a copy instead of an allocation, and an
 * acknowledgement (usually in another thread) frees nothing per message.
 * Larger ones are held by reference, without a copy.
 *
 * Not thread-safe: the owner serialises access.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* messages: default outbox bound per stream. One message per entry; at
 * 1024 a client that writes faster than the peer acknowledges learns of it
 * (SC_ERROR_BUSY) long before memory matters. */
#define SC_OUTBOX_DEFAULT_MAX_MESSAGES 8192u
/* bytes: default bound on the payload an outbox holds: 16 MiB, sixteen
 * messages of the default 1 MiB maximum size. */
#define SC_OUTBOX_DEFAULT_MAX_BYTES (16u << 20)

/* bytes: messages up to this size are copied into the outbox's byte store;
 * larger ones are held as a reference to their GBytes. A copy of 1 KiB costs
 * less than the allocation it saves, and the store (at most max_messages of
 * them live) stays a small fraction of max_bytes. */
#define SC_OUTBOX_COPY_MAX 1024u

typedef struct _ScOutbox ScOutbox;

ScOutbox *sc_outbox_new (guint max_messages, gsize max_bytes);
void sc_outbox_free (ScOutbox *outbox);

/* Appends a message not sent yet. A full outbox is SC_ERROR_BUSY, naming
 * the limit; nothing is dropped. */
gboolean sc_outbox_push (ScOutbox *outbox, GBytes *message, GError **error);
/* The same for a message given as bytes (copied). */
gboolean sc_outbox_push_data (ScOutbox *outbox, const guint8 *data, gsize len, GError **error);
/* Drops every sent entry with id <= acked. */
void sc_outbox_ack (ScOutbox *outbox, guint64 acked);
/* Forgets the ids of every entry: all are to be sent again, in order. */
void sc_outbox_unsend_all (ScOutbox *outbox);
/* The oldest entry not sent yet: FALSE if there is none. *data stays valid
 * until the next push, drop or free (an acknowledgement drops sent entries
 * only, and moves nothing). */
gboolean sc_outbox_peek_unsent (ScOutbox *outbox, const guint8 **data, gsize *len);
/* Entries not sent yet. */
guint sc_outbox_unsent_length (ScOutbox *outbox);
/* Records that the oldest unsent entry went out under id. */
void sc_outbox_mark_sent (ScOutbox *outbox, guint64 id);
/* Drops the oldest unsent entry (it could not be sent at all). */
void sc_outbox_drop_unsent (ScOutbox *outbox);

/* Whether a push of len bytes would be taken now. */
gboolean sc_outbox_has_room (ScOutbox *outbox, gsize len);
guint sc_outbox_length (ScOutbox *outbox);
gsize sc_outbox_bytes (ScOutbox *outbox);
/* The highest id of a sent entry still held, or 0. */
guint64 sc_outbox_last_sent_id (ScOutbox *outbox);

G_END_DECLS
