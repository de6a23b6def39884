/* test-outbox.c: the outbox that keeps sent messages until acknowledged
 * (sc-outbox.h): send order and contents kept while small messages are
 * copied into its byte store (compacted and grown under a random mix of
 * pushes, sends, acknowledgements and drops, checked against a model),
 * large messages held by reference without a copy, what peek returns
 * unmoved by acknowledgements, and the limits.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "sc-error.h"
#include "sc-outbox.h"

/* operations in the random mix, and the seed that makes it repeatable */
#define MIX_STEPS 200000
#define MIX_SEED 20261126
/* bytes: the largest message of the mix, past SC_OUTBOX_COPY_MAX */
#define MIX_MAX_LEN (SC_OUTBOX_COPY_MAX + 200)

typedef struct
{
  guint32 seq; /* the message's contents are derived from it */
  gsize len;
  guint64 id; /* 0: not sent */
} Model;

/* Message seq's bytes: every byte depends on seq and its position. */
static void
fill (guint8 *buf, guint32 seq, gsize len)
{
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) (seq * 131u + i * 7u);
}

static void
assert_message (const guint8 *data, gsize len, const Model *m)
{
  g_autofree guint8 *want = g_malloc (MAX (m->len, 1));

  g_assert_cmpuint (len, ==, m->len);
  fill (want, m->seq, m->len);
  g_assert_true (len == 0 || memcmp (data, want, len) == 0);
}

static void
push_model (ScOutbox *outbox, GArray *model, guint32 seq, gsize len, gboolean as_bytes)
{
  g_autofree guint8 *buf = g_malloc (MAX (len, 1));
  g_autoptr (GError) error = NULL;
  Model m = { seq, len, 0 };
  gboolean ok;

  fill (buf, seq, len);
  if (as_bytes)
    {
      g_autoptr (GBytes) bytes = g_bytes_new (buf, len);
      ok = sc_outbox_push (outbox, bytes, &error);
    }
  else
    ok = sc_outbox_push_data (outbox, buf, len, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  g_array_append_val (model, m);
}

/* A random mix, checked after every step against the model: what is
 * queued, in order, with its contents and its byte count. */
static void
test_outbox_random_mix_keeps_order_and_contents (void)
{
  ScOutbox *outbox = sc_outbox_new (G_MAXUINT, G_MAXSIZE);
  g_autoptr (GArray) model = g_array_new (FALSE, FALSE, sizeof (Model));
  g_autoptr (GRand) rand = g_rand_new_with_seed (MIX_SEED);
  guint sent = 0;
  guint32 seq = 0;
  guint64 next_id = 1;
  gsize bytes = 0;
  const guint8 *data;
  gsize len;

  for (guint step = 0; step < MIX_STEPS; step++)
    {
      gint32 op = g_rand_int_range (rand, 0, 100);

      if (op < 50)
        {
          gsize n = g_rand_boolean (rand) ? (gsize) g_rand_int_range (rand, 0, 200)
                                          : (gsize) g_rand_int_range (rand, 0, MIX_MAX_LEN);

          push_model (outbox, model, seq++, n, g_rand_int_range (rand, 0, 4) == 0);
          bytes += n;
        }
      else if (op < 80 && sc_outbox_peek_unsent (outbox, &data, &len))
        {
          Model *m = &g_array_index (model, Model, sent);

          assert_message (data, len, m);
          m->id = next_id++;
          sc_outbox_mark_sent (outbox, m->id);
          sent++;
        }
      else if (op < 97 && sent > 0)
        {
          guint n = (guint) g_rand_int_range (rand, 1, (gint32) sent + 1);
          guint64 acked = g_array_index (model, Model, n - 1).id;

          for (guint i = 0; i < n; i++)
            bytes -= g_array_index (model, Model, i).len;
          g_array_remove_range (model, 0, n);
          sent -= n;
          sc_outbox_ack (outbox, acked);
        }
      else if (op < 99 && sent < model->len)
        {
          bytes -= g_array_index (model, Model, sent).len;
          g_array_remove_index (model, sent);
          sc_outbox_drop_unsent (outbox);
        }
      else
        {
          for (guint i = 0; i < model->len; i++)
            g_array_index (model, Model, i).id = 0;
          sent = 0;
          sc_outbox_unsend_all (outbox);
        }
      g_assert_cmpuint (sc_outbox_length (outbox), ==, model->len);
      g_assert_cmpuint (sc_outbox_unsent_length (outbox), ==, model->len - sent);
      g_assert_cmpuint (sc_outbox_bytes (outbox), ==, bytes);
    }
  /* everything left goes out in order with what it held */
  for (guint i = 0; i < model->len; i++)
    g_array_index (model, Model, i).id = 0;
  sc_outbox_unsend_all (outbox);
  for (guint i = 0; i < model->len; i++)
    {
      g_assert_true (sc_outbox_peek_unsent (outbox, &data, &len));
      assert_message (data, len, &g_array_index (model, Model, i));
      sc_outbox_mark_sent (outbox, next_id++);
    }
  g_assert_false (sc_outbox_peek_unsent (outbox, &data, &len));
  sc_outbox_ack (outbox, next_id);
  g_assert_cmpuint (sc_outbox_length (outbox), ==, 0);
  g_assert_cmpuint (sc_outbox_bytes (outbox), ==, 0);
  sc_outbox_free (outbox);
}

/* A large message is held by reference: peek gives the GBytes' own bytes. */
static void
test_outbox_large_message_not_copied (void)
{
  ScOutbox *outbox = sc_outbox_new (SC_OUTBOX_DEFAULT_MAX_MESSAGES, SC_OUTBOX_DEFAULT_MAX_BYTES);
  g_autofree guint8 *buf = g_malloc0 (SC_OUTBOX_COPY_MAX + 1);
  g_autoptr (GBytes) large = g_bytes_new_static (buf, SC_OUTBOX_COPY_MAX + 1);
  const guint8 *data;
  gsize len;

  g_assert_true (sc_outbox_push (outbox, large, NULL));
  g_assert_true (sc_outbox_peek_unsent (outbox, &data, &len));
  g_assert_true (data == buf);
  g_assert_cmpuint (len, ==, SC_OUTBOX_COPY_MAX + 1);
  sc_outbox_free (outbox);
}

/* Acknowledgements (another thread's, in ScClient) do not move the bytes
 * a sender is sealing from. */
static void
test_outbox_peek_unmoved_by_ack (void)
{
  ScOutbox *outbox = sc_outbox_new (SC_OUTBOX_DEFAULT_MAX_MESSAGES, SC_OUTBOX_DEFAULT_MAX_BYTES);
  g_autoptr (GArray) model = g_array_new (FALSE, FALSE, sizeof (Model));
  const guint8 *before, *after;
  gsize len;

  for (guint32 i = 0; i < 64; i++)
    push_model (outbox, model, i, 100, FALSE);
  for (guint64 id = 1; id <= 63; id++)
    {
      g_assert_true (sc_outbox_peek_unsent (outbox, &before, &len));
      sc_outbox_mark_sent (outbox, id);
    }
  g_assert_true (sc_outbox_peek_unsent (outbox, &before, &len));
  sc_outbox_ack (outbox, 63);
  g_assert_true (sc_outbox_peek_unsent (outbox, &after, &len));
  g_assert_true (before == after);
  assert_message (after, len, &g_array_index (model, Model, 63));
  sc_outbox_free (outbox);
}

/* A full outbox says SC_ERROR_BUSY, by count and by bytes, and takes
 * nothing; an acknowledgement makes room again. */
static void
test_outbox_limits_busy (void)
{
  ScOutbox *outbox = sc_outbox_new (2, 250);
  g_autoptr (GError) error = NULL;
  guint8 buf[200] = { 0 };

  g_assert_true (sc_outbox_push_data (outbox, buf, 100, NULL));
  g_assert_false (sc_outbox_push_data (outbox, buf, 200, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_BUSY);
  g_clear_error (&error);
  g_assert_true (sc_outbox_push_data (outbox, buf, 150, NULL));
  g_assert_false (sc_outbox_has_room (outbox, 0));
  g_assert_false (sc_outbox_push_data (outbox, buf, 0, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_BUSY);
  g_assert_cmpuint (sc_outbox_bytes (outbox), ==, 250);
  sc_outbox_mark_sent (outbox, 1);
  sc_outbox_ack (outbox, 1);
  g_assert_true (sc_outbox_has_room (outbox, 100));
  g_assert_false (sc_outbox_has_room (outbox, 101));
  sc_outbox_free (outbox);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/outbox/random-mix-keeps-order-and-contents",
                   test_outbox_random_mix_keeps_order_and_contents);
  g_test_add_func ("/outbox/large-message-not-copied", test_outbox_large_message_not_copied);
  g_test_add_func ("/outbox/peek-unmoved-by-ack", test_outbox_peek_unmoved_by_ack);
  g_test_add_func ("/outbox/limits-busy", test_outbox_limits_busy);
  return g_test_run ();
}
