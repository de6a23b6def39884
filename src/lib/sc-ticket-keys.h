/* sc-ticket-keys.h: a server's rotating resumption ticket keys (private).
 *
 * docs/PROTOCOL.md 4.7.4: a new random key every ticket lifetime; tickets
 * are sealed under the newest and accepted under the newest and the one
 * before, so every ticket can be used for its whole lifetime and no key is
 * older than two lifetimes. Keys live in secure memory and never on disk: a
 * restarted server has new keys and its old tickets fall back to full
 * handshakes.
 *
 * A snapshot is an immutable GBytes (secure memory, wiped when the last
 * reference goes) holding ScTicketKey[n], newest first, that one session
 * borrows for its lifetime while rotation makes new snapshots.
 *
 * Thread-safe.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

#include "sc-protocol.h"

G_BEGIN_DECLS

typedef struct _ScTicketKeyring ScTicketKeyring;

ScTicketKeyring *sc_ticket_keyring_new (guint lifetime_s);
void sc_ticket_keyring_free (ScTicketKeyring *ring);
/* The keys for a new session, rotated first if due. NULL if the random
 * source or secure memory failed (the session then issues no ticket). */
GBytes *sc_ticket_keyring_snapshot (ScTicketKeyring *ring);
guint sc_ticket_keyring_get_lifetime (ScTicketKeyring *ring);

G_END_DECLS
