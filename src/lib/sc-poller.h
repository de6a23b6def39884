/* sc-poller.h: one epoll-backed event source per GMainContext (private).
 *
 * GLib's main loop polls every descriptor attached to a context and walks
 * every GSource on each iteration, so a context with one source per
 * connection costs O(connections) per iteration even when all of them are
 * idle (docs/DESIGN-scale.md has the measurements). An ScPoller is one
 * GSource per context that wraps one epoll descriptor (edge-triggered) and
 * one binary min-heap of deadlines for every watch of that context: an
 * iteration costs O(ready descriptors + expired deadlines + wake-ups), and
 * the context polls one descriptor however many connections it carries.
 *
 * A watch is what one connection owns: at most one descriptor (readable
 * always asked for, writable on request), one deadline and a wake-up flag.
 * Its callback runs in the context's thread, from the poller's dispatch,
 * with no lock held, with the events that happened since the last call:
 *
 *   - SC_POLLER_IN, SC_POLLER_OUT, SC_POLLER_ERROR are edge-triggered: the
 *     callback must read (or write) until the descriptor would block, or
 *     wake itself (sc_poller_watch_wake) to go on in the next iteration;
 *   - SC_POLLER_TIMER: the deadline passed; it is cleared, set a new one;
 *   - SC_POLLER_WAKE: sc_poller_watch_wake was called since the last call.
 *
 * Each dispatch handles at most SC_POLLER_BATCH descriptors, deadlines and
 * wake-ups, then lets the context's other sources run. The dispatch is
 * re-entrant: a callback may iterate the context (events for a watch that
 * waits in the outer dispatch's batch are added to it there).
 *
 * Thread safety: every function may be called from any thread. A watch
 * destroyed from the context's own thread gets no callback afterwards,
 * even one already collected by the dispatch under way; from another
 * thread a callback may be running while sc_poller_watch_destroy returns.
 *
 * Linux only (epoll).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* events per dispatch, of each kind: descriptors, deadlines, wake-ups.
 * 64 keeps one dispatch short (64 heartbeats are about 1 ms of work) so an
 * active connection waits for at most that many others. */
#define SC_POLLER_BATCH 64

typedef enum
{
  SC_POLLER_IN = 1 << 0,    /* readable, or the peer closed its side */
  SC_POLLER_OUT = 1 << 1,   /* writable (only while asked for) */
  SC_POLLER_ERROR = 1 << 2, /* an error or a hang-up on the descriptor */
  SC_POLLER_TIMER = 1 << 3, /* the deadline passed */
  SC_POLLER_WAKE = 1 << 4,  /* sc_poller_watch_wake */
} ScPollerEvents;

typedef struct _ScPoller ScPoller;
typedef struct _ScPollerWatch ScPollerWatch;

typedef void (*ScPollerFunc) (ScPollerWatch *watch, guint events, gpointer user_data);

/* The poller of context (NULL: the global default context), made and
 * attached on first use; one per context. Returns a reference: the poller
 * stays attached while someone holds one. NULL only when no epoll
 * descriptor can be had (the descriptor limit). */
ScPoller *sc_poller_get (GMainContext *context, GError **error);
ScPoller *sc_poller_ref (ScPoller *poller);
void sc_poller_unref (ScPoller *poller);
/* For a custom poll function of the poller's context
 * (g_main_context_set_poll_func), called in the context's thread just
 * before it polls for at most timeout_ms (-1: no limit): a deadline set from
 * another thread meanwhile wakes the context only if it is earlier than the
 * end of that poll (the context prepares again when it wakes, and sees the
 * deadline then). Without it, any deadline earlier than the poller's own
 * wakes the context. */
void sc_poller_note_poll_timeout (ScPoller *poller, gint timeout_ms);
/* Watches that exist (not yet destroyed). */
guint sc_poller_get_n_watches (ScPoller *poller);

/* A new watch with no descriptor and no deadline. It keeps the poller
 * alive until destroyed. */
ScPollerWatch *sc_poller_watch_new (ScPoller *poller, ScPollerFunc func, gpointer user_data);
/* Watches fd (a socket, pipe, eventfd...) for reading, edge-triggered.
 * Once per watch. The caller keeps fd open until the watch is destroyed. */
gboolean sc_poller_watch_set_fd (ScPollerWatch *watch, int fd, GError **error);
/* Asks for SC_POLLER_OUT (edge-triggered) or stops asking. If the
 * descriptor is writable when asked, the event comes at once. */
void sc_poller_watch_want_out (ScPollerWatch *watch, gboolean want);
/* Monotonic time (g_get_monotonic_time) at which SC_POLLER_TIMER is due,
 * or -1 for none. Replaces the previous deadline. */
void sc_poller_watch_set_deadline (ScPollerWatch *watch, gint64 deadline_us);
/* The callback runs with SC_POLLER_WAKE in the next iteration (several
 * wake-ups before it runs count as one). */
void sc_poller_watch_wake (ScPollerWatch *watch);
/* Stops watching (the descriptor is left open) and frees the watch. */
void sc_poller_watch_destroy (ScPollerWatch *watch);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ScPoller, sc_poller_unref)

G_END_DECLS
