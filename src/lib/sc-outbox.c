/* sc-outbox.c: see sc-outbox.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-outbox.h"

#include "sc-error.h"

typedef struct
{
  guint64 id; /* 0: not sent yet */
  GBytes *message;
} Entry;

/* Entries live in a ring, oldest first: the `sent` first ones went out, the
 * rest did not. No allocation per message (a GQueue cost two: the entry and
 * its link); the ring goes when the outbox empties, so an idle stream holds
 * none. */
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
};

/* The ring starts at this many entries and doubles. */
#define SC_OUTBOX_RING_MIN 16u

static Entry *
entry_at (ScOutbox *self, guint i)
{
  return &self->ring[(self->head + i) % self->cap];
}

static void
ring_release_if_empty (ScOutbox *self)
{
  if (self->len > 0)
    return;
  g_clear_pointer (&self->ring, g_free);
  self->cap = self->head = self->sent = 0;
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
    g_bytes_unref (entry_at (self, i)->message);
  g_free (self->ring);
  g_free (self);
}

gboolean
sc_outbox_push (ScOutbox *self, GBytes *message, GError **error)
{
  gsize len = g_bytes_get_size (message);

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
  if (self->len == self->cap)
    ring_grow (self);
  self->len++;
  *entry_at (self, self->len - 1) = (Entry) { 0, g_bytes_ref (message) };
  self->bytes += len;
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
      self->bytes -= g_bytes_get_size (e->message);
      g_bytes_unref (e->message);
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

GBytes *
sc_outbox_peek_unsent (ScOutbox *self)
{
  return self->sent < self->len ? entry_at (self, self->sent)->message : NULL;
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
  self->bytes -= g_bytes_get_size (e->message);
  g_bytes_unref (e->message);
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
