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

struct _ScOutbox
{
  GQueue entries;      /* Entry *, oldest first */
  GList *first_unsent; /* link of the oldest unsent entry, or NULL */
  guint max_messages;
  gsize max_bytes;
  gsize bytes;
};

static void
entry_free (Entry *e)
{
  g_bytes_unref (e->message);
  g_free (e);
}

ScOutbox *
sc_outbox_new (guint max_messages, gsize max_bytes)
{
  ScOutbox *self = g_new0 (ScOutbox, 1);

  g_queue_init (&self->entries);
  self->max_messages = max_messages;
  self->max_bytes = max_bytes;
  return self;
}

void
sc_outbox_free (ScOutbox *self)
{
  if (self == NULL)
    return;
  g_queue_clear_full (&self->entries, (GDestroyNotify) entry_free);
  g_free (self);
}

gboolean
sc_outbox_push (ScOutbox *self, GBytes *message, GError **error)
{
  Entry *e;
  gsize len = g_bytes_get_size (message);

  if (self->entries.length >= self->max_messages)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_BUSY,
                   "the outbox is full: %u messages wait for the peer's acknowledgement",
                   self->entries.length);
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
  e = g_new0 (Entry, 1);
  e->message = g_bytes_ref (message);
  g_queue_push_tail (&self->entries, e);
  if (self->first_unsent == NULL)
    self->first_unsent = self->entries.tail;
  self->bytes += len;
  return TRUE;
}

void
sc_outbox_ack (ScOutbox *self, guint64 acked)
{
  GList *head;

  while ((head = self->entries.head) != NULL && head != self->first_unsent)
    {
      Entry *e = head->data;

      if (e->id > acked)
        break;
      self->bytes -= g_bytes_get_size (e->message);
      entry_free (g_queue_pop_head (&self->entries));
    }
}

void
sc_outbox_unsend_all (ScOutbox *self)
{
  for (GList *l = self->entries.head; l != NULL; l = l->next)
    ((Entry *) l->data)->id = 0;
  self->first_unsent = self->entries.head;
}

GBytes *
sc_outbox_peek_unsent (ScOutbox *self)
{
  return self->first_unsent != NULL ? ((Entry *) self->first_unsent->data)->message : NULL;
}

void
sc_outbox_mark_sent (ScOutbox *self, guint64 id)
{
  g_return_if_fail (self->first_unsent != NULL);
  ((Entry *) self->first_unsent->data)->id = id;
  self->first_unsent = self->first_unsent->next;
}

void
sc_outbox_drop_unsent (ScOutbox *self)
{
  GList *link = self->first_unsent;
  Entry *e;

  g_return_if_fail (link != NULL);
  e = link->data;
  self->first_unsent = link->next;
  self->bytes -= g_bytes_get_size (e->message);
  g_queue_delete_link (&self->entries, link);
  entry_free (e);
}

guint
sc_outbox_length (ScOutbox *self)
{
  return self->entries.length;
}

gsize
sc_outbox_bytes (ScOutbox *self)
{
  return self->bytes;
}

guint64
sc_outbox_last_sent_id (ScOutbox *self)
{
  GList *l = self->first_unsent != NULL ? self->first_unsent->prev : self->entries.tail;

  return l != NULL ? ((Entry *) l->data)->id : 0;
}
