/* sc-outbox.c: see sc-outbox.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-outbox.h"

#include <string.h>

#include "sc-error.h"

typedef struct
{
  guint64 id;      /* 0: not sent yet */
  GBytes *message; /* a large message; NULL: its bytes are in the store */
  gsize pos;       /* a copied message: the store position of its first byte */
  gsize len;
} Entry;

/* Entries live in a ring, oldest first: the `sent` first ones went out, the
 * rest did not. No allocation per message (a GQueue cost two: the entry and
 * its link); the ring goes when the outbox empties, so an idle stream holds
 * none.
 *
 * The copied messages' bytes live in the store, in entry order. Positions
 * count the bytes ever stored, so that compacting the store moves no entry:
 * store[0] is at position store_base, the bytes before store_head belong to
 * entries already dropped (reclaimed at the next compaction), and the next
 * message goes at store_tail. The store goes with the ring. */
struct _ScOutbox
{
  Entry *ring;
  guint cap;  /* entries the ring holds; 0 when it is not allocated */
  guint head; /* index of the oldest entry */
  guint len;  /* entries held */
  guint sent; /* of which sent, at the front */
  guint max_messages;
  gsize max_bytes;
  gsize bytes;
  guint8 *store;
  gsize store_cap;  /* bytes; 0 when it is not allocated */
  gsize store_base; /* position of store[0] */
  gsize store_head; /* position of the oldest byte still needed */
  gsize store_tail; /* position after the newest byte */
};

/* The ring starts at this many entries and doubles. */
#define SC_OUTBOX_RING_MIN 16u
/* bytes: the store starts this large and doubles. Small enough for a
 * small-bin allocation: a sender whose outbox empties after every message
 * (one request, one reply) allocates it each time, and a large-bin request
 * makes malloc consolidate its fast bins first. */
#define SC_OUTBOX_STORE_MIN 512u

static Entry *
entry_at (ScOutbox *self, guint i)
{
  return &self->ring[(self->head + i) % self->cap];
}

/* The bytes of an entry (valid until the store is compacted or grown). */
static const guint8 *
entry_data (ScOutbox *self, const Entry *e)
{
  if (e->message != NULL)
    return g_bytes_get_data (e->message, NULL);
  if (e->len == 0)
    return (const guint8 *) ""; /* the store may not even exist */
  return self->store + (e->pos - self->store_base);
}

/* Lets go of a dropped entry's message; a copied one's bytes are reclaimed
 * once nothing older is held (front), or at once when it was the newest. */
static void
entry_release (ScOutbox *self, const Entry *e, gboolean front)
{
  self->bytes -= e->len;
  if (e->message != NULL)
    g_bytes_unref (e->message);
  else if (e->pos + e->len == self->store_tail)
    self->store_tail = e->pos;
  else if (front)
    self->store_head = e->pos + e->len;
}

static void
ring_release_if_empty (ScOutbox *self)
{
  if (self->len > 0)
    return;
  g_clear_pointer (&self->ring, g_free);
  self->cap = self->head = self->sent = 0;
  g_clear_pointer (&self->store, g_free);
  self->store_cap = self->store_base = self->store_head = self->store_tail = 0;
}

static void
ring_grow (ScOutbox *self)
{
  guint cap = MAX (SC_OUTBOX_RING_MIN, self->cap * 2);
  Entry *ring = g_new (Entry, cap);

  for (guint i = 0; i < self->len; i++)
    ring[i] = *entry_at (self, i);
  g_free (self->ring);
  self->ring = ring;
  self->cap = cap;
  self->head = 0;
}

/* Makes room for len more bytes at the store's tail. The bytes still
 * needed move to the front when that leaves at least half the store free
 * (so each byte moves a bounded number of times), else the store doubles. */
static void
store_reserve (ScOutbox *self, gsize len)
{
  gsize live = self->store_tail - self->store_head;
  gsize cap = self->store_cap;
  guint8 *store;

  if (self->store_tail - self->store_base + len <= cap)
    return;
  if (live + len <= cap / 2)
    memmove (self->store, self->store + (self->store_head - self->store_base), live);
  else
    {
      cap = MAX (SC_OUTBOX_STORE_MIN, cap);
      while (cap / 2 < live + len)
        cap *= 2;
      store = g_malloc (cap);
      if (live > 0)
        memcpy (store, self->store + (self->store_head - self->store_base), live);
      g_free (self->store);
      self->store = store;
      self->store_cap = cap;
    }
  self->store_base = self->store_head;
}

ScOutbox *
sc_outbox_new (guint max_messages, gsize max_bytes)
{
  ScOutbox *self = g_new0 (ScOutbox, 1);

  self->max_messages = max_messages;
  self->max_bytes = max_bytes;
  return self;
}

void
sc_outbox_free (ScOutbox *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < self->len; i++)
    if (entry_at (self, i)->message != NULL)
      g_bytes_unref (entry_at (self, i)->message);
  g_free (self->ring);
  g_free (self->store);
  g_free (self);
}

/* A full outbox is SC_ERROR_BUSY, naming the limit. */
static gboolean
check_room (ScOutbox *self, gsize len, GError **error)
{
  if (self->len >= self->max_messages)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_BUSY,
                   "the outbox is full: %u messages wait for the peer's acknowledgement",
                   self->len);
      return FALSE;
    }
  if (len > self->max_bytes - self->bytes)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_BUSY,
                   "the outbox is full: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
                   " bytes wait for the peer's acknowledgement",
                   self->bytes, self->max_bytes);
      return FALSE;
    }
  return TRUE;
}

/* Appends an unsent entry: a copy of data in the store when it is small,
 * else message (a new one over a copy of data when NULL). */
static void
append (ScOutbox *self, GBytes *message, const guint8 *data, gsize len)
{
  Entry e = { .len = len };

  if (len <= SC_OUTBOX_COPY_MAX)
    {
      store_reserve (self, len);
      e.pos = self->store_tail;
      if (len > 0)
        memcpy (self->store + (e.pos - self->store_base), data, len);
      self->store_tail += len;
    }
  else
    e.message = message != NULL ? g_bytes_ref (message) : g_bytes_new (data, len);
  if (self->len == self->cap)
    ring_grow (self);
  self->len++;
  *entry_at (self, self->len - 1) = e;
  self->bytes += len;
}

gboolean
sc_outbox_push (ScOutbox *self, GBytes *message, GError **error)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (message, &len);

  if (!check_room (self, len, error))
    return FALSE;
  append (self, message, data, len);
  return TRUE;
}

gboolean
sc_outbox_push_data (ScOutbox *self, const guint8 *data, gsize len, GError **error)
{
  if (!check_room (self, len, error))
    return FALSE;
  append (self, NULL, data, len);
  return TRUE;
}

void
sc_outbox_ack (ScOutbox *self, guint64 acked)
{
  while (self->sent > 0)
    {
      Entry *e = entry_at (self, 0);

      if (e->id > acked)
        break;
      entry_release (self, e, TRUE);
      self->head = (self->head + 1) % self->cap;
      self->len--;
      self->sent--;
    }
  ring_release_if_empty (self);
}

void
sc_outbox_unsend_all (ScOutbox *self)
{
  for (guint i = 0; i < self->len; i++)
    entry_at (self, i)->id = 0;
  self->sent = 0;
}

gboolean
sc_outbox_peek_unsent (ScOutbox *self, const guint8 **data, gsize *len)
{
  const Entry *e;

  if (self->sent == self->len)
    return FALSE;
  e = entry_at (self, self->sent);
  *data = entry_data (self, e);
  *len = e->len;
  return TRUE;
}

guint
sc_outbox_unsent_length (ScOutbox *self)
{
  return self->len - self->sent;
}

void
sc_outbox_mark_sent (ScOutbox *self, guint64 id)
{
  g_return_if_fail (self->sent < self->len);
  entry_at (self, self->sent)->id = id;
  self->sent++;
}

void
sc_outbox_drop_unsent (ScOutbox *self)
{
  Entry *e;

  g_return_if_fail (self->sent < self->len);
  e = entry_at (self, self->sent);
  entry_release (self, e, self->sent == 0);
  /* rare (a message the peer refuses): close the gap behind it */
  for (guint i = self->sent; i + 1 < self->len; i++)
    *entry_at (self, i) = *entry_at (self, i + 1);
  self->len--;
  ring_release_if_empty (self);
}

gboolean
sc_outbox_has_room (ScOutbox *self, gsize len)
{
  return self->len < self->max_messages && len <= self->max_bytes - self->bytes;
}

guint
sc_outbox_length (ScOutbox *self)
{
  return self->len;
}

gsize
sc_outbox_bytes (ScOutbox *self)
{
  return self->bytes;
}

guint64
sc_outbox_last_sent_id (ScOutbox *self)
{
  return self->sent > 0 ? entry_at (self, self->sent - 1)->id : 0;
}
