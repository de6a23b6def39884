/* sc-ticket-keys.c: see sc-ticket-keys.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-ticket-keys.h"

#include <string.h>

struct _ScTicketKeyring
{
  GMutex lock;
  guint lifetime_s;
  GBytes *current;   /* ScTicketKey[1 or 2], newest first */
  gint64 created_us; /* monotonic time the newest key was made */
};

typedef struct
{
  ScTicketKey keys[2];
} KeyPair;

static void
secure_pair_free (gpointer p)
{
  sc_secure_free (p, sizeof (KeyPair));
}

/* A new snapshot: a fresh key, then the newest of the old one. */
static GBytes *
rotate (GBytes *old)
{
  KeyPair *pair = sc_secure_alloc (sizeof *pair);
  gsize n = 1;

  if (pair == NULL)
    return NULL;
  if (sc_random_bytes (pair->keys[0].id, sizeof pair->keys[0].id) != 0
      || sc_random_bytes (pair->keys[0].key, sizeof pair->keys[0].key) != 0)
    {
      sc_secure_free (pair, sizeof *pair);
      return NULL;
    }
  if (old != NULL)
    {
      memcpy (&pair->keys[1], g_bytes_get_data (old, NULL), sizeof (ScTicketKey));
      n = 2;
    }
  return g_bytes_new_with_free_func (pair, n * sizeof (ScTicketKey), secure_pair_free, pair);
}

ScTicketKeyring *
sc_ticket_keyring_new (guint lifetime_s)
{
  ScTicketKeyring *ring = g_new0 (ScTicketKeyring, 1);

  g_mutex_init (&ring->lock);
  ring->lifetime_s = lifetime_s;
  return ring;
}

void
sc_ticket_keyring_free (ScTicketKeyring *ring)
{
  if (ring == NULL)
    return;
  g_clear_pointer (&ring->current, g_bytes_unref);
  g_mutex_clear (&ring->lock);
  g_free (ring);
}

GBytes *
sc_ticket_keyring_snapshot (ScTicketKeyring *ring)
{
  gint64 now = g_get_monotonic_time ();
  GBytes *snap = NULL;

  g_mutex_lock (&ring->lock);
  if (ring->current == NULL || now - ring->created_us >= (gint64) ring->lifetime_s * G_USEC_PER_SEC)
    {
      GBytes *next = rotate (ring->current);

      if (next != NULL)
        {
          g_clear_pointer (&ring->current, g_bytes_unref);
          ring->current = next;
          ring->created_us = now;
          g_debug ("new resumption ticket key");
        }
    }
  if (ring->current != NULL)
    snap = g_bytes_ref (ring->current);
  g_mutex_unlock (&ring->lock);
  return snap;
}

guint
sc_ticket_keyring_get_lifetime (ScTicketKeyring *ring)
{
  return ring->lifetime_s;
}
