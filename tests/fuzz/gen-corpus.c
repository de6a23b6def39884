/* gen-corpus.c: writes the seed corpora of the fuzz targets from real
 * protocol bytes.
 *
 * Usage: gen-corpus DIR   (normally tests/fuzz/corpus)
 * Writes DIR/handshake/seed-*, DIR/record/seed-* and DIR/content/seed-*,
 * overwriting seeds of the same name and leaving other files alone. Built by
 * meson, not run as a test: the output is committed (see README.md).
 *
 * The sessions are the deterministic peers of fuzz-peers.c, so what is
 * recorded here replays byte for byte in the targets: a recorded client
 * stream takes fuzz-record's fresh server through the whole handshake, and
 * the transcribed handshake records verify in fuzz-content.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "fuzz-peers.h"

#include <errno.h>
#include <string.h>

static const char *out_dir;
static guint n_written;

/* ==== output ============================================================ */

static void
write_seed (const char *target, const char *name, const uint8_t *data, size_t len)
{
  g_autofree char *dir = g_build_filename (out_dir, target, NULL);
  g_autofree char *file = g_strconcat ("seed-", name, NULL);
  g_autofree char *path = g_build_filename (dir, file, NULL);
  g_autoptr (GError) error = NULL;

  if (g_mkdir_with_parents (dir, 0755) != 0)
    g_error ("mkdir %s: %s", dir, g_strerror (errno));
  if (!g_file_set_contents (path, (const char *) data, (gssize) len, &error))
    g_error ("%s", error->message);
  n_written++;
}

/* A seed of the form  prefix || data. */
static void
write_prefixed (const char *target, const char *name, const uint8_t *prefix, size_t plen,
                const uint8_t *data, size_t len)
{
  g_autoptr (GByteArray) b = g_byte_array_new ();

  g_byte_array_append (b, prefix, (guint) plen);
  g_byte_array_append (b, data, (guint) len);
  write_seed (target, name, b->data, b->len);
}

static void
write_hs (const char *name, uint8_t selector, const uint8_t *data, size_t len)
{
  write_prefixed ("handshake", name, &selector, 1, data, len);
}

/* fuzz-content items: (u8 type, u16 len, content). */
static void
put_item (GByteArray *items, uint8_t type, const void *content, size_t len)
{
  uint8_t hdr[3] = { type };

  sc_put_u16 (hdr + 1, (uint16_t) len);
  g_byte_array_append (items, hdr, sizeof hdr);
  g_byte_array_append (items, content, (guint) len);
}

/* ==== recorded conversations =========================================== */

typedef struct
{
  TestPeer client, server;
  GByteArray *c2s, *s2c; /* every byte each side sent, in order */
  size_t c2s_hs, s2c_hs; /* how much of it was the handshake */
} Conv;

static void
deliver (TestPeer *from, TestPeer *to, GByteArray *log)
{
  g_autoptr (GByteArray) copy = g_byte_array_new ();

  g_byte_array_append (copy, from->out.data, (guint) from->out.len);
  g_byte_array_append (log, from->out.data, (guint) from->out.len);
  fuzz_drop_output (from);
  g_assert_cmpint (sc_session_recv (to->s, copy->data, copy->len, &to->out), ==, SC_OK);
}

static void
conv_pump (Conv *v)
{
  while (v->client.out.len > 0 || v->server.out.len > 0)
    {
      if (v->client.out.len > 0)
        deliver (&v->client, &v->server, v->c2s);
      if (v->server.out.len > 0)
        deliver (&v->server, &v->client, v->s2c);
    }
}

static void
conv_init (Conv *v, unsigned variant)
{
  fuzz_peers_init (&v->client, &v->server, variant);
  fuzz_peers_advance (&v->client, &v->server, FUZZ_STAGE_HELLO_SENT);
  v->c2s = g_byte_array_new ();
  v->s2c = g_byte_array_new ();
  conv_pump (v);
  g_assert_cmpint (sc_session_get_state (v->client.s), ==, SC_STATE_CONNECTED);
  g_assert_cmpint (sc_session_get_state (v->server.s), ==, SC_STATE_CONNECTED);
  v->c2s_hs = v->c2s->len;
  v->s2c_hs = v->s2c->len;
}

static void
conv_clear (Conv *v)
{
  g_byte_array_unref (v->c2s);
  g_byte_array_unref (v->s2c);
  fuzz_peers_clear (&v->client, &v->server);
}

/* One side talks; the other only answers automatically (ACK, PONG, the
 * answer to a requested key update), so the talker's stream replays exactly
 * into a lone receiver that sends nothing of its own. */
static void
conv_talk (Conv *v, TestPeer *talker, gboolean big)
{
  static const char hello[] = "hello, SecureComm";
  g_autofree uint8_t *blob = g_malloc (SC_MAX_FRAGMENT + 600);
  uint32_t next;

  for (size_t i = 0; i < SC_MAX_FRAGMENT + 600; i++)
    blob[i] = (uint8_t) (i * 7 + 3);
  g_assert_cmpint (
      sc_session_send (talker->s, (const uint8_t *) hello, sizeof hello - 1, NULL, &talker->out),
      ==, SC_OK);
  g_assert_cmpint (sc_session_send (talker->s, NULL, 0, NULL, &talker->out), ==, SC_OK);
  conv_pump (v);
  if (big) /* two fragments */
    g_assert_cmpint (sc_session_send (talker->s, blob, SC_MAX_FRAGMENT + 600, NULL, &talker->out),
                     ==, SC_OK);
  g_assert_cmpint (sc_session_key_update (talker->s, TRUE, &talker->out), ==, SC_OK);
  conv_pump (v);
  g_assert_cmpint (sc_session_send (talker->s, blob, 300, NULL, &talker->out), ==, SC_OK);
  talker->mono_ms += SC_DEFAULT_HEARTBEAT_INTERVAL_MS; /* a PING, and its PONG */
  g_assert_cmpint (sc_session_tick (talker->s, &talker->out, &next), ==, SC_OK);
  conv_pump (v);
  g_assert_cmpint (sc_session_close (talker->s, SC_CLOSE_NORMAL, &talker->out), ==, SC_OK);
  conv_pump (v);
}

/* ==== fuzz-record seeds ================================================= */

/* flags, no chunk sizes (the whole stream in one call), stream. */
static void
write_record (const char *name, uint8_t flags, const uint8_t *sizes, uint8_t n_sizes,
              const uint8_t *stream, size_t len)
{
  g_autoptr (GByteArray) b = g_byte_array_new ();

  g_byte_array_append (b, &flags, 1);
  g_byte_array_append (b, &n_sizes, 1);
  g_byte_array_append (b, sizes, n_sizes);
  g_byte_array_append (b, stream, (guint) len);
  write_seed ("record", name, b->data, b->len);
}

static void
record_seeds_for (unsigned variant)
{
  static const uint8_t split[] = { 5, 1, 200, 0 };
  static const uint8_t bytewise[] = { 1 };
  uint8_t v = (uint8_t) (variant << 2);
  g_autofree char *name = NULL;
  Conv c;

  /* The client talks: its stream drives a fresh server and a connected one. */
  conv_init (&c, variant);
  conv_talk (&c, &c.client, variant == 0);
  name = g_strdup_printf ("server-v%u-whole", variant);
  write_record (name, v | FUZZ_TO_SERVER_HANDSHAKE, NULL, 0, c.c2s->data, c.c2s->len);
  g_free (name);
  name = g_strdup_printf ("server-v%u-app", variant);
  write_record (name, v | FUZZ_TO_SERVER_CONNECTED, NULL, 0, c.c2s->data + c.c2s_hs,
                c.c2s->len - c.c2s_hs);
  if (variant == 0)
    {
      /* the host takes the two-fragment message (fuzz-record's bit 7) */
      write_record ("server-v0-app-taken", v | FUZZ_TO_SERVER_CONNECTED | 0x80, NULL, 0,
                    c.c2s->data + c.c2s_hs, c.c2s->len - c.c2s_hs);
      write_record ("server-v0-hs-split", v | FUZZ_TO_SERVER_HANDSHAKE, split, sizeof split,
                    c.c2s->data, c.c2s_hs);
      write_record ("server-v0-hs-bytewise", v | FUZZ_TO_SERVER_HANDSHAKE | 0x40, bytewise,
                    sizeof bytewise, c.c2s->data, c.c2s_hs);
    }
  conv_clear (&c);
  /* The server talks: its stream drives a client that sent its hello. */
  conv_init (&c, variant);
  conv_talk (&c, &c.server, FALSE);
  g_free (name);
  name = g_strdup_printf ("client-v%u-whole", variant);
  write_record (name, v | FUZZ_TO_CLIENT_HANDSHAKE, NULL, 0, c.s2c->data, c.s2c->len);
  g_free (name);
  name = g_strdup_printf ("client-v%u-app", variant);
  write_record (name, v | FUZZ_TO_CLIENT_CONNECTED | 0x20, split, sizeof split,
                c.s2c->data + c.s2c_hs, c.s2c->len - c.s2c_hs);
  conv_clear (&c);
}

static void
record_edge_seeds (void)
{
  static const uint8_t alert[] = { SC_RECORD_ALERT, SC_RECORD_VERSION, 0, 1, SC_ALERT_STALE };
  static const uint8_t bad_version[] = { SC_RECORD_HANDSHAKE, 2, 0, 4, 1, 0, 0, 0 };
  static const uint8_t overflow[] = { SC_RECORD_PROTECTED, SC_RECORD_VERSION, 0x40, 0x12 };
  static const uint8_t early_protected[] = {
    SC_RECORD_PROTECTED, SC_RECORD_VERSION, 0, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
  };
  static const uint8_t empty_hello[] = {
    SC_RECORD_HANDSHAKE, SC_RECORD_VERSION, 0, 4, SC_HS_CLIENT_HELLO, 0, 0, 0
  };

  write_record ("edge-alert", FUZZ_TO_SERVER_HANDSHAKE, NULL, 0, alert, sizeof alert);
  write_record ("edge-bad-version", FUZZ_TO_CLIENT_HANDSHAKE, NULL, 0, bad_version,
                sizeof bad_version);
  write_record ("edge-overflow", FUZZ_TO_SERVER_CONNECTED, NULL, 0, overflow, sizeof overflow);
  write_record ("edge-early-protected", FUZZ_TO_SERVER_HANDSHAKE, NULL, 0, early_protected,
                sizeof early_protected);
  write_record ("edge-empty-hello", FUZZ_TO_SERVER_HANDSHAKE, NULL, 0, empty_hello,
                sizeof empty_hello);
  write_record ("edge-alert-connected", FUZZ_TO_CLIENT_CONNECTED, NULL, 0, alert, sizeof alert);
}

/* ==== fuzz-content seeds ================================================ */

/* Opens each record of stream as the channel's receiver would, turns it into
 * an item, and lets the receiver take it, so the channel follows its keys.
 * Handshake messages found on the way go to *hs_msgs (for fuzz-handshake). */
static void
transcribe (FuzzChannel *ch, const uint8_t *stream, size_t len, GByteArray *items,
            GPtrArray *hs_msgs)
{
  g_autoptr (GByteArray) pt = g_byte_array_new ();
  size_t off = 0;

  while (off < len)
    {
      size_t n = SC_RECORD_HEADER_LEN + sc_get_u16 (stream + off + 2);

      g_assert_true (fuzz_channel_open (ch, stream + off, n, pt));
      put_item (items, pt->data[0], pt->data + 1, pt->len - 1);
      if (hs_msgs != NULL && pt->data[0] == SC_CONTENT_HANDSHAKE)
        g_ptr_array_add (hs_msgs, g_bytes_new (pt->data + 1, pt->len - 1));
      g_assert_cmpint (sc_session_recv (ch->rx->s, stream + off, n, &ch->rx->out), ==, SC_OK);
      fuzz_channel_sync (ch);
      off += n;
    }
}

static void
write_content (const char *name, uint8_t flags, const GByteArray *items)
{
  write_prefixed ("content", name, &flags, 1, items->data, items->len);
}

/* Scenario 0: the client's protected flight (and a first message) into the
 * server that sent its own flight. */
static void
content_server_handshake (unsigned variant, GPtrArray *hs_msgs)
{
  g_autoptr (GByteArray) items = g_byte_array_new ();
  g_autofree char *name = g_strdup_printf ("server-hs-v%u", variant);
  TestPeer client, server;
  FuzzChannel ch;

  fuzz_peers_init (&client, &server, variant);
  fuzz_peers_advance (&client, &server, FUZZ_STAGE_SERVER_FLIGHT);
  g_assert_cmpint (sc_session_recv (client.s, server.out.data, server.out.len, &client.out), ==,
                   SC_OK);
  fuzz_drop_output (&server);
  g_assert_cmpint (sc_session_send (client.s, (const uint8_t *) "hi", 2, NULL, &client.out), ==,
                   SC_OK);
  fuzz_channel_init (&ch, &server);
  transcribe (&ch, client.out.data, client.out.len, items, hs_msgs);
  g_assert_cmpint (sc_session_get_state (server.s), ==, SC_STATE_CONNECTED);
  write_content (name, (uint8_t) (variant << 2 | FUZZ_TO_SERVER_HANDSHAKE), items);
  fuzz_channel_clear (&ch);
  fuzz_peers_clear (&client, &server);
}

/* Scenario 1: the server's protected flight (and a first message) into the
 * client that took the ServerHello. */
static void
content_client_handshake (unsigned variant, GPtrArray *hs_msgs)
{
  g_autoptr (GByteArray) items = g_byte_array_new ();
  g_autofree char *name = g_strdup_printf ("client-hs-v%u", variant);
  TestPeer client, server;
  FuzzChannel ch;

  fuzz_peers_init (&client, &server, variant);
  fuzz_peers_advance (&client, &server, FUZZ_STAGE_CLIENT_KEYED);
  fuzz_channel_init (&ch, &client);
  transcribe (&ch, server.out.data, server.out.len, items, hs_msgs);
  g_assert_cmpint (sc_session_get_state (client.s), ==, SC_STATE_CONNECTED);
  write_content (name, (uint8_t) (variant << 2 | FUZZ_TO_CLIENT_HANDSHAKE), items);
  fuzz_channel_clear (&ch);
  fuzz_peers_clear (&client, &server);
}

/* MESSAGE content: id, total, offset, fragment. */
static void
put_fragment (GByteArray *items, uint64_t id, uint32_t total, uint32_t offset, const void *frag,
              size_t len)
{
  g_autoptr (GByteArray) c = g_byte_array_new ();
  uint8_t hdr[SC_MESSAGE_HEADER_LEN];

  sc_put_u64 (hdr, id);
  sc_put_u32 (hdr + 8, total);
  sc_put_u32 (hdr + 12, offset);
  g_byte_array_append (c, hdr, sizeof hdr);
  g_byte_array_append (c, frag, (guint) len);
  put_item (items, SC_CONTENT_MESSAGE, c->data, c->len);
}

static void
put_u64_item (GByteArray *items, uint8_t type, uint64_t v)
{
  uint8_t b[8];

  sc_put_u64 (b, v);
  put_item (items, type, b, sizeof b);
}

static void
put_u8_item (GByteArray *items, uint8_t type, uint8_t v)
{
  put_item (items, type, &v, 1);
}

typedef void (*ItemsFunc) (GByteArray *items);

static void
items_message (GByteArray *i)
{
  put_fragment (i, 1, 5, 0, "hello", 5);
}

static void
items_fragmented (GByteArray *i)
{
  put_fragment (i, 1, 10, 0, "hello", 5);
  put_u64_item (i, SC_CONTENT_PING, 1); /* other records may come between fragments */
  put_fragment (i, 1, 10, 5, "world", 5);
  put_fragment (i, 2, 0, 0, NULL, 0); /* an empty message */
}

static void
items_ack (GByteArray *i)
{
  put_item (i, 0xf0, "to be acked", 11); /* the receiver sends message 1 */
  put_item (i, 0xf0, "and another", 11);
  put_u64_item (i, SC_CONTENT_ACK, 1);
  put_u64_item (i, SC_CONTENT_ACK, 2);
}

static void
items_ping_pong (GByteArray *i)
{
  static const uint8_t ms[4] = { 0, 0, 0x75, 0x30 }; /* 30 s: the receiver pings */

  put_u64_item (i, SC_CONTENT_PING, 0x0102030405060708u);
  put_item (i, 0xf1, ms, sizeof ms);
  put_u64_item (i, SC_CONTENT_PONG, 1);
}

static void
items_key_update (GByteArray *i)
{
  put_u8_item (i, SC_CONTENT_KEY_UPDATE, 0);
  put_fragment (i, 1, 3, 0, "one", 3);
  put_u8_item (i, SC_CONTENT_KEY_UPDATE, 1); /* the receiver answers */
  put_fragment (i, 2, 3, 0, "two", 3);
  put_u8_item (i, 0xf2, 1); /* the receiver rotates its own key */
}

static void
items_close (GByteArray *i)
{
  put_fragment (i, 1, 5, 0, "bye..", 5);
  put_u8_item (i, SC_CONTENT_CLOSE, SC_CLOSE_GOING_AWAY);
  put_fragment (i, 2, 5, 0, "after", 5); /* never processed */
}

static void
items_errors (GByteArray *i)
{
  put_fragment (i, 1, 100, 0, "partial", 7);
  put_u8_item (i, SC_CONTENT_ERROR, SC_ALERT_INTERNAL_ERROR);
}

static void
items_unknown (GByteArray *i)
{
  put_item (i, 9, "?", 1);
}

static void
items_handshake_after (GByteArray *i)
{
  static const uint8_t finished[4 + 32] = { SC_HS_FINISHED, 0, 0, 32 };

  put_item (i, SC_CONTENT_HANDSHAKE, finished, sizeof finished);
}

static void
items_large (GByteArray *i)
{
  static uint8_t frag[1000];

  put_fragment (i, 1, SC_DEFAULT_MAX_MESSAGE_SIZE, 0, frag, sizeof frag);
  put_fragment (i, 1, SC_DEFAULT_MAX_MESSAGE_SIZE, sizeof frag, frag, sizeof frag);
}

static void
items_too_large (GByteArray *i)
{
  put_fragment (i, 1, SC_DEFAULT_MAX_MESSAGE_SIZE + 1, 0, "x", 1);
}

static void
items_actions (GByteArray *i)
{
  static const uint8_t alert[] = { SC_RECORD_ALERT, SC_RECORD_VERSION, 0, 1, 1 };
  uint8_t split[2 + SC_MESSAGE_HEADER_LEN + 3] = { 7, SC_CONTENT_MESSAGE };

  sc_put_u64 (split + 2, 1);
  sc_put_u32 (split + 10, 3);
  memcpy (split + 2 + SC_MESSAGE_HEADER_LEN, "abc", 3);
  put_item (i, 0xf5, "EXPORTER-test", 13);
  put_item (i, 0xf7, split, sizeof split);
  put_item (i, 0xf3, alert, sizeof alert);
}

static void
items_eof_close (GByteArray *i)
{
  put_fragment (i, 1, 2, 0, "ok", 2);
  put_u8_item (i, 0xf4, SC_CLOSE_NORMAL);
  put_item (i, 0xf6, NULL, 0);
}

static void
content_connected_seeds (void)
{
  static const struct
  {
    const char *name;
    ItemsFunc fn;
  } seeds[] = {
    { "message", items_message },
    { "fragmented", items_fragmented },
    { "ack", items_ack },
    { "ping-pong", items_ping_pong },
    { "key-update", items_key_update },
    { "close", items_close },
    { "error", items_errors },
    { "unknown-type", items_unknown },
    { "handshake-after", items_handshake_after },
    { "large", items_large },
    { "too-large", items_too_large },
    { "actions", items_actions },
    { "eof-close", items_eof_close },
  };

  for (size_t k = 0; k < G_N_ELEMENTS (seeds); k++)
    {
      g_autoptr (GByteArray) items = g_byte_array_new ();
      g_autofree char *to_server = g_strconcat ("server-", seeds[k].name, NULL);
      g_autofree char *to_client = g_strconcat ("client-", seeds[k].name, NULL);

      seeds[k].fn (items);
      write_content (to_server, FUZZ_TO_SERVER_CONNECTED, items);
      if (seeds[k].fn == items_fragmented) /* the host takes the message (bit 5) */
        write_content ("server-fragmented-taken", FUZZ_TO_SERVER_CONNECTED | 0x20, items);
      if (k % 3 == 0) /* the client's side of the same code: a few suffice */
        write_content (to_client, FUZZ_TO_CLIENT_CONNECTED, items);
    }
}

/* ==== fuzz-handshake seeds ============================================== */

/* The body of the handshake message in the first record of stream. */
static GBytes *
first_hello (const GByteArray *stream)
{
  const uint8_t *msg = stream->data + SC_RECORD_HEADER_LEN;
  size_t len = sc_get_u16 (stream->data + 2);

  return g_bytes_new (msg, len);
}

static void
hs_seeds_hellos (void)
{
  g_autoptr (GBytes) ch = NULL;
  g_autoptr (GBytes) sh = NULL;
  g_autoptr (GByteArray) ext = g_byte_array_new ();
  static const uint8_t exts[] = { 0, 10, 0, 1, 0, 0, 0, 2, 0, 2, 0xab, 0xcd };
  const uint8_t *p;
  gsize n;
  Conv c;

  conv_init (&c, 0);
  ch = first_hello (c.c2s);
  sh = first_hello (c.s2c);
  p = g_bytes_get_data (ch, &n);
  write_hs ("handshake-message", FUZZ_HS_HANDSHAKE, p, n);
  write_hs ("client-hello", FUZZ_HS_CLIENT_HELLO, p + SC_HS_HEADER_LEN, n - SC_HS_HEADER_LEN);
  /* The same hello with two extensions (the builder cannot round-trip it). */
  g_byte_array_append (ext, p + SC_HS_HEADER_LEN, (guint) (n - SC_HS_HEADER_LEN - 2));
  g_byte_array_append (ext, exts, sizeof exts);
  write_hs ("client-hello-extensions", FUZZ_HS_CLIENT_HELLO, ext->data, ext->len);
  p = g_bytes_get_data (sh, &n);
  write_hs ("server-hello", FUZZ_HS_SERVER_HELLO, p + SC_HS_HEADER_LEN, n - SC_HS_HEADER_LEN);
  write_hs ("record-handshake", FUZZ_HS_RECORD, c.s2c->data, SC_RECORD_HEADER_LEN);
  write_hs ("record-protected", FUZZ_HS_RECORD, c.s2c->data + SC_RECORD_HEADER_LEN + n,
            SC_RECORD_HEADER_LEN);
  write_hs ("point", FUZZ_HS_POINT, c.server.identity.pub, SC_P256_POINT_LEN);
  conv_clear (&c);
}

/* Identity, Verify and Finished bodies from the transcribed handshakes. */
static void
hs_seeds_messages (GPtrArray *msgs)
{
  uint8_t sig_der[SC_P256_SIG_DER_MAX];
  size_t der_len;

  for (guint i = 0; i < msgs->len; i++)
    {
      gsize n;
      const uint8_t *m = g_bytes_get_data (g_ptr_array_index (msgs, i), &n);
      const uint8_t *body = m + SC_HS_HEADER_LEN;
      g_autofree char *name = NULL;

      switch (m[0])
        {
        case SC_HS_IDENTITY:
          name = g_strdup_printf ("identity-%u", i);
          write_hs (name, FUZZ_HS_IDENTITY, body, n - SC_HS_HEADER_LEN);
          if (body[1] == 1) /* the raw key alone */
            write_hs ("spki", FUZZ_HS_SPKI, body + 4, SC_P256_SPKI_LEN);
          if (body[1] == 2) /* the leaf alone */
            write_hs ("x509", FUZZ_HS_X509, body + 6,
                      (size_t) body[3] << 16 | (size_t) body[4] << 8 | body[5]);
          break;
        case SC_HS_VERIFY:
          name = g_strdup_printf ("verify-%u", i);
          write_hs (name, FUZZ_HS_VERIFY, body, n - SC_HS_HEADER_LEN);
          write_hs ("sig-raw", FUZZ_HS_SIG_DER, body + 2, SC_P256_SIG_LEN);
          g_assert_cmpint (sc_p256_sig_to_der (body + 2, sig_der, &der_len), ==, 0);
          write_hs ("sig-der", FUZZ_HS_SIG_DER, sig_der, der_len);
          break;
        case SC_HS_FINISHED:
          write_hs ("finished", FUZZ_HS_FINISHED, body, n - SC_HS_HEADER_LEN);
          break;
        default:
          g_assert_not_reached ();
        }
    }
}

static void
hs_seeds_small (void)
{
  static const uint8_t alert[] = { SC_RECORD_ALERT, SC_RECORD_VERSION, 0, 1 };
  uint8_t frag[SC_MESSAGE_HEADER_LEN + 3];
  uint8_t u64[8];
  uint8_t u8 = 1;

  sc_put_u64 (frag, 1);
  sc_put_u32 (frag + 8, 10);
  sc_put_u32 (frag + 12, 7);
  memcpy (frag + SC_MESSAGE_HEADER_LEN, "xyz", 3);
  sc_put_u64 (u64, 42);
  write_hs ("record-alert", FUZZ_HS_RECORD, alert, sizeof alert);
  write_hs ("fragment", FUZZ_HS_FRAGMENT, frag, sizeof frag);
  write_hs ("u64", FUZZ_HS_U64, u64, sizeof u64);
  write_hs ("u8", FUZZ_HS_U8, &u8, 1);
}

int
main (int argc, char **argv)
{
  g_autoptr (GPtrArray) hs_msgs = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  if (argc != 2)
    {
      g_printerr ("usage: %s CORPUS-DIR\n", argv[0]);
      return 2;
    }
  out_dir = argv[1];
  for (unsigned v = 0; v <= FUZZ_VARIANT_MASK; v++)
    if (v <= 4 || v == 7)
      record_seeds_for (v);
  record_edge_seeds ();
  /* Handshake messages for fuzz-handshake: an anonymous client's Identity
   * (v1), a client's raw key and Verify (v2), the server's raw key (v0) and
   * its X.509 chain (v4). */
  for (unsigned v = 0; v <= 4; v++)
    {
      content_server_handshake (v, v == 1 || v == 2 ? hs_msgs : NULL);
      content_client_handshake (v, v == 0 || v == 4 ? hs_msgs : NULL);
    }
  content_connected_seeds ();
  hs_seeds_hellos ();
  hs_seeds_messages (hs_msgs);
  hs_seeds_small ();
  g_print ("%u seeds written under %s\n", n_written, out_dir);
  return 0;
}
