/* test-daemon.c: securecommd's D-Bus contract, end to end.
 *
 * Every case runs the real daemon on a private bus (see itest.h) and talks
 * to it over D-Bus as dbus/io.github.SecureComm1.Server.xml documents, with
 * real libsecurecomm clients on 127.0.0.1 on the other side.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "itest.h"
#include "sc-limits.h"

/* ---- helpers ------------------------------------------------------------- */

static char *
key_id (ScIdentity *key)
{
  return g_strdup_printf ("key-%.32s", sc_identity_get_fingerprint (key));
}

static ScIdentity *
new_key (void)
{
  g_autoptr (GError) error = NULL;
  ScIdentity *key = sc_identity_generate (&error);

  g_assert_no_error (error);
  return key;
}

static void
client_send (ItClient *c, const char *text)
{
  g_autoptr (GError) error = NULL;

  sc_client_send_message (c->client, text, &error);
  g_assert_no_error (error);
}

static char *
take_message (ItFixture *fx, const char *client_id)
{
  ItSignal *s = it_take_signal (fx, "MessageReceived", client_id);
  char *text = NULL;

  g_assert_true (g_variant_is_of_type (s->params, G_VARIANT_TYPE ("(ss)")));
  g_variant_get_child (s->params, 1, "s", &text);
  return text;
}

/* A call from @conn that the daemon answers: every signal the daemon sent
 * before it has reached @conn's connection once this returns (a bus keeps
 * the order of one sender's messages), and it_drain() dispatches them. */
static void
round_trip (ItFixture *fx, GDBusConnection *conn)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = it_call (fx, conn, "GetClientIds", NULL, "(as)", &error);

  g_assert_no_error (error);
  g_assert_nonnull (reply);
  it_drain ();
}

static void
call_expect_error (ItFixture *fx, const char *method, GVariant *params, const char *short_name,
                   gint code)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = it_call (fx, NULL, method, params, NULL, &error);

  g_assert_null (reply);
  it_assert_remote_error (error, short_name);
  /* The name maps back to the library's domain (sc-error.h). */
  g_assert_error (error, SC_ERROR, code);
}

static GVariant *
get_client_info (ItFixture *fx, const char *id)
{
  g_autoptr (GVariant)
      reply = it_call_ok (fx, "GetClientInfo", g_variant_new ("(s)", id), "(a{sv})");

  return g_variant_get_child_value (reply, 0);
}

/* The value of a property read from the daemon now, not the proxy's cache. */
static GVariant *
get_property (ItFixture *fx, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      fx->conn, IT_BUS_NAME, IT_PATH, "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", IT_IFACE, name), G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE,
      IT_GUARD_S * 1000, NULL, &error);
  GVariant *value = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return value;
}

/* Counts the signals of the daemon's interface that reach another
 * connection, by member name. */
static void
count_signal (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
              const char *name, GVariant *params, gpointer data)
{
  GHashTable *counts = data;

  g_hash_table_insert (
      counts, g_strdup (name),
      GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (counts, name)) + 1));
}

static guint
count_of (GHashTable *counts, const char *name)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (counts, name));
}

static guint
count_all (GHashTable *counts)
{
  GHashTableIter iter;
  gpointer value;
  guint n = 0;

  g_hash_table_iter_init (&iter, counts);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    n += GPOINTER_TO_UINT (value);
  return n;
}

typedef struct
{
  const char *key;
  const char *type;
} InfoKey;

/* As dbus/io.github.SecureComm1.Server.xml documents GetClientInfo. */
static const InfoKey info_keys[] = {
  { "address", "s" },
  { "authenticated", "b" },
  { "fingerprint", "s" },
  { "connected-since", "x" },
  { "last-activity", "x" },
  { "messages-sent", "t" },
  { "messages-received", "t" },
  { "bytes-sent", "t" },
  { "bytes-received", "t" },
  { "send-epoch", "u" },
  { "receive-epoch", "u" },
  { "protocol-version", "y" },
  { "tls", "b" },
};

static void
assert_info_keys (GVariant *info)
{
  g_assert_cmpuint (g_variant_n_children (info), ==, G_N_ELEMENTS (info_keys));
  for (gsize i = 0; i < G_N_ELEMENTS (info_keys); i++)
    {
      g_autoptr (GVariant) v = g_variant_lookup_value (info, info_keys[i].key, NULL);

      g_assert_nonnull (v);
      g_assert_cmpstr (g_variant_get_type_string (v), ==, info_keys[i].type);
    }
}

/* Where the last signal @name for @client_id is in the order of arrival. */
static guint
signal_index (ItFixture *fx, const char *name, const char *client_id)
{
  guint found = G_MAXUINT;

  for (guint i = 0; i < fx->signals->len; i++)
    {
      ItSignal *s = fx->signals->pdata[i];
      const char *id = NULL;

      g_variant_get_child (s->params, 0, "&s", &id);
      if (g_str_equal (s->name, name) && g_str_equal (id, client_id))
        found = i;
    }
  g_assert_cmpuint (found, !=, G_MAXUINT);
  return found;
}

/* ---- GetClientIds ---------------------------------------------------------- */

static void
test_client_ids_list_connected (ItFixture *fx, gconstpointer data)
{
  g_autoptr (ScIdentity) key = new_key ();
  g_autofree char *expected_key_id = key_id (key);
  g_autofree char *reason = NULL;
  ItClient *a, *b, *k;

  it_assert_client_ids (fx, (const char *[]) { NULL });
  a = it_connect (fx, NULL);
  it_assert_client_ids (fx, (const char *[]) { a->id, NULL });
  b = it_connect (fx, NULL);
  g_assert_cmpstr (a->id, !=, b->id);
  k = it_connect (fx, key);
  g_assert_cmpstr (k->id, ==, expected_key_id);
  it_assert_client_ids (fx, (const char *[]) { a->id, b->id, k->id, NULL });

  reason = it_client_close (fx, b);
  g_assert_cmpstr (reason, ==, "closed by peer");
  it_assert_client_ids (fx, (const char *[]) { a->id, k->id, NULL });
}

static void
test_client_ids_key_id_stable (ItFixture *fx, gconstpointer data)
{
  g_autoptr (ScIdentity) key = new_key ();
  g_autofree char *expected = key_id (key);
  g_autofree char *first_anon = NULL;
  ItClient *c;

  /* The first connection and two reconnections get the same id. */
  for (int i = 0; i < 3; i++)
    {
      g_autofree char *reason = NULL;

      c = it_connect (fx, key);
      g_assert_cmpstr (c->id, ==, expected);
      it_assert_client_ids (fx, (const char *[]) { expected, NULL });
      it_exchange (fx, c);
      reason = it_client_close (fx, c);
      g_assert_cmpstr (reason, ==, "closed by peer");
      it_assert_client_ids (fx, (const char *[]) { NULL });
    }
  /* An anonymous client gets a new id on each connection. */
  c = it_connect (fx, NULL);
  first_anon = g_strdup (c->id);
  g_free (it_client_close (fx, c));
  c = it_connect (fx, NULL);
  g_assert_cmpstr (c->id, !=, first_anon);
}

static void
test_client_ids_key_replaced (ItFixture *fx, gconstpointer data)
{
  g_autoptr (ScIdentity) key = new_key ();
  g_autofree char *id = key_id (key);
  g_autofree char *reason = NULL;
  g_autoptr (GError) error = NULL;
  ItClient *old = it_connect (fx, key);
  ItClient *new = it_client_new (fx, key, NULL);
  ItSignal *s;

  /* The same key again while connected: the new connection takes the id. */
  sc_client_establish_secure_session (new->client, "127.0.0.1", fx->port, NULL, &error);
  g_assert_no_error (error);
  reason = it_take_disconnect_reason (fx, id);
  g_assert_cmpstr (reason, ==, "replaced by a new connection");
  s = it_take_signal (fx, "ClientConnected", id);
  /* In that order: a subscriber that tracks ids by the signals still
   * knows the client afterwards. */
  g_assert_true (signal_index (fx, "ClientDisconnected", id)
                 < signal_index (fx, "ClientConnected", id));
  g_assert_nonnull (s);
  new->id = g_strdup (id);
  it_client_wait_state (fx, old, SC_CLIENT_STATE_CLOSED);
  g_assert_cmpuint (old->errors->len, ==, 0);
  it_assert_client_ids (fx, (const char *[]) { id, NULL });
  it_exchange (fx, new);
  g_assert_cmpuint (old->received->len, ==, 0);
}

/* ---- SendMessage ----------------------------------------------------------- */

static void
test_send_message_reaches_only_its_client (ItFixture *fx, gconstpointer data)
{
  const char *first = "for A: h\xc3\xa9llo \xe2\x9c\x93";
  ItClient *a = it_connect (fx, NULL);
  ItClient *b = it_connect (fx, NULL);

  /* Message ids count from 1 in each session. */
  g_assert_cmpuint (it_send (fx, a->id, first), ==, 1);
  g_assert_cmpuint (it_send (fx, a->id, "second for A"), ==, 2);
  it_client_wait_message (fx, a, "second for A");
  g_assert_cmpuint (a->received->len, ==, 2);
  g_assert_cmpstr (a->received->pdata[0], ==, first);
  g_assert_cmpstr (a->received->pdata[1], ==, "second for A");

  /* Were A's messages misrouted to B, they would be queued ahead of B's own
   * and arrive first. */
  g_assert_cmpuint (it_send (fx, b->id, "for B"), ==, 1);
  it_client_wait_message (fx, b, "for B");
  g_assert_cmpuint (b->received->len, ==, 1);
  g_assert_cmpuint (a->received->len, ==, 2);
}

/* ---- the signals ------------------------------------------------------------ */

static void
test_signals_message_received_in_order (ItFixture *fx, gconstpointer data)
{
  ItClient *a = it_connect (fx, NULL);
  ItClient *b = it_connect (fx, NULL);

  /* Subscribing twice changes nothing: one copy of each signal. */
  g_variant_unref (it_call_ok (fx, "Subscribe", NULL, "()"));
  for (int i = 0; i < 20; i++)
    {
      g_autofree char *ta = g_strdup_printf ("message %02d from A", i);
      g_autofree char *tb = g_strdup_printf ("message %02d from B", i);

      client_send (a, ta);
      if (i < 10)
        client_send (b, tb);
    }
  for (int i = 0; i < 20; i++)
    {
      g_autofree char *want = g_strdup_printf ("message %02d from A", i);
      g_autofree char *got = take_message (fx, a->id);

      g_assert_cmpstr (got, ==, want);
    }
  for (int i = 0; i < 10; i++)
    {
      g_autofree char *want = g_strdup_printf ("message %02d from B", i);
      g_autofree char *got = take_message (fx, b->id);

      g_assert_cmpstr (got, ==, want);
    }
  round_trip (fx, NULL);
  g_assert_cmpuint (it_count_signals (fx, "MessageReceived", NULL), ==, 0);
}

static void
test_signals_message_received_invalid_utf8 (ItFixture *fx, gconstpointer data)
{
  static const char raw[] = "ab\xff\xfe"
                            "cd";
  g_autoptr (GBytes) bytes = g_bytes_new_static (raw, sizeof raw - 1);
  g_autoptr (GError) error = NULL;
  g_autofree char *got = NULL;
  ItClient *a = it_connect (fx, NULL);

  /* D-Bus strings are UTF-8: what is not arrives as U+FFFD. */
  sc_client_send_bytes (a->client, bytes, NULL, &error);
  g_assert_no_error (error);
  got = take_message (fx, a->id);
  g_assert_true (g_utf8_validate (got, -1, NULL));
  g_assert_true (g_str_has_prefix (got, "ab\xef\xbf\xbd"));
  g_assert_true (g_str_has_suffix (got, "\xef\xbf\xbd"
                                        "cd"));
  it_exchange (fx, a);
}

static void
assert_info_address (GVariant *info)
{
  const char *address = NULL;

  g_assert_true (g_variant_lookup (info, "address", "&s", &address));
  g_assert_true (g_str_has_prefix (address, "127.0.0.1:"));
}

static void
test_signals_connected_disconnected (ItFixture *fx, gconstpointer data)
{
  g_autoptr (ScIdentity) key = new_key ();
  g_autofree char *reason_a = NULL, *reason_k = NULL;
  g_autoptr (GVariant) info_a = NULL, info_k = NULL;
  ItClient *a = it_connect (fx, NULL);
  ItClient *k = it_connect (fx, key);
  gboolean authenticated = TRUE;
  const char *fingerprint = NULL;

  /* ClientConnected carries the id and GetClientInfo's dictionary. */
  info_a = g_variant_ref (a->info);
  info_k = g_variant_ref (k->info);
  assert_info_keys (info_a);
  assert_info_keys (info_k);
  assert_info_address (info_a);
  g_assert_true (g_variant_lookup (info_a, "authenticated", "b", &authenticated));
  g_assert_false (authenticated);
  g_assert_true (g_variant_lookup (info_a, "fingerprint", "&s", &fingerprint));
  g_assert_cmpstr (fingerprint, ==, "");
  assert_info_address (info_k);
  g_assert_true (g_variant_lookup (info_k, "authenticated", "b", &authenticated));
  g_assert_true (authenticated);
  g_assert_true (g_variant_lookup (info_k, "fingerprint", "&s", &fingerprint));
  g_assert_cmpstr (fingerprint, ==, sc_identity_get_fingerprint (key));

  /* ClientDisconnected says why. */
  reason_a = it_client_close (fx, a);
  g_assert_cmpstr (reason_a, ==, "closed by peer");
  reason_k = it_client_close (fx, k);
  g_assert_cmpstr (reason_k, ==, "closed by peer");
}

static void
test_signals_unicast_to_subscribers (ItFixture *fx, gconstpointer data)
{
  g_autoptr (GDBusConnection) other = it_bus_connect (fx);
  g_autoptr (GHashTable)
      iface_counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GHashTable)
      prop_counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *text = NULL;
  guint sub_iface, sub_props;
  ItClient *a;

  /* A connection that listens for the interface's signals from anyone,
   * and for PropertiesChanged, but never calls Subscribe(). */
  sub_iface = g_dbus_connection_signal_subscribe (other, NULL, IT_IFACE, NULL, NULL, NULL,
                                                  G_DBUS_SIGNAL_FLAGS_NONE, count_signal,
                                                  iface_counts, NULL);
  sub_props = g_dbus_connection_signal_subscribe (
      other, NULL, "org.freedesktop.DBus.Properties", "PropertiesChanged", IT_PATH, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, count_signal, prop_counts, NULL);
  round_trip (fx, other); /* its match rules are in place */

  a = it_connect (fx, NULL);
  client_send (a, "private words");
  text = take_message (fx, a->id);
  g_assert_cmpstr (text, ==, "private words");
  /* The control: broadcast signals do reach it (ClientCount changed). */
  IT_WAIT (fx, count_of (prop_counts, "PropertiesChanged") > 0);
  /* The daemon sent ClientConnected and MessageReceived before it answers
   * this call: a copy meant for `other` would be there by now. */
  round_trip (fx, other);
  g_assert_cmpuint (count_all (iface_counts), ==, 0);

  g_free (it_client_close (fx, a));
  round_trip (fx, other);
  g_assert_cmpuint (count_all (iface_counts), ==, 0);

  g_dbus_connection_signal_unsubscribe (other, sub_iface);
  g_dbus_connection_signal_unsubscribe (other, sub_props);
  g_dbus_connection_close_sync (other, NULL, NULL);
  it_drain ();
}

static void
test_signals_unsubscribe_stops_them (ItFixture *fx, gconstpointer data)
{
  g_autoptr (GDBusConnection) other = it_bus_connect (fx);
  g_autoptr (GHashTable)
      other_counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *text = NULL;
  guint sub, mark;
  ItClient *a;

  /* A second subscriber keeps receiving: it tells when the daemon sent. */
  sub = g_dbus_connection_signal_subscribe (other, NULL, IT_IFACE, NULL, IT_PATH, NULL,
                                            G_DBUS_SIGNAL_FLAGS_NONE, count_signal, other_counts,
                                            NULL);
  reply = it_call (fx, other, "Subscribe", NULL, "()", &error);
  g_assert_no_error (error);
  a = it_connect (fx, NULL);
  IT_WAIT (fx, count_of (other_counts, "ClientConnected") == 1);

  g_variant_unref (it_call_ok (fx, "Unsubscribe", NULL, "()"));
  mark = fx->signals->len;
  client_send (a, "after Unsubscribe");
  IT_WAIT (fx, count_of (other_counts, "MessageReceived") == 1);
  sc_client_shutdown (a->client);
  IT_WAIT (fx, count_of (other_counts, "ClientDisconnected") == 1);
  round_trip (fx, NULL);
  g_assert_cmpuint (fx->signals->len, ==, mark);

  /* Subscribing again brings them back. */
  g_variant_unref (it_call_ok (fx, "Subscribe", NULL, "()"));
  a = it_connect (fx, NULL);
  client_send (a, "subscribed again");
  text = take_message (fx, a->id);
  g_assert_cmpstr (text, ==, "subscribed again");

  g_dbus_connection_signal_unsubscribe (other, sub);
  g_dbus_connection_close_sync (other, NULL, NULL);
  it_drain ();
}

static void
on_gone (GDBusConnection *conn, const char *name, gpointer data)
{
  *(gboolean *) data = TRUE;
}

/* A subscriber that leaves the bus is dropped: more come and go than the
 * daemon keeps at once (SC_DBUS_MAX_SUBSCRIBERS, 64, in sc-daemon-dbus.c),
 * and a new one can still subscribe, and receives. */
#define SUBSCRIBERS_THAT_LEAVE 80

static void
subscribe_and_leave (ItFixture *fx)
{
  g_autoptr (GDBusConnection) conn = it_bus_connect (fx);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  gboolean gone = FALSE;
  guint watch;

  reply = it_call (fx, conn, "Subscribe", NULL, "()", &error);
  g_assert_no_error (error);
  watch = g_bus_watch_name_on_connection (fx->conn, g_dbus_connection_get_unique_name (conn),
                                          G_BUS_NAME_WATCHER_FLAGS_NONE, NULL, on_gone, &gone,
                                          NULL);
  g_dbus_connection_close_sync (conn, NULL, &error);
  g_assert_no_error (error);
  /* The bus told every watcher, the daemon included, that it left. */
  IT_WAIT (fx, gone);
  g_bus_unwatch_name (watch);
}

static void
test_signals_departed_subscriber_dropped (ItFixture *fx, gconstpointer data)
{
  g_autoptr (GDBusConnection) last = NULL;
  g_autoptr (GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  guint sub;
  ItClient *a;

  for (int i = 0; i < SUBSCRIBERS_THAT_LEAVE; i++)
    subscribe_and_leave (fx);
  /* Signals to the departed went nowhere, and did not disturb the rest. */
  a = it_connect (fx, NULL);
  it_exchange (fx, a);

  last = it_bus_connect (fx);
  sub = g_dbus_connection_signal_subscribe (last, NULL, IT_IFACE, NULL, IT_PATH, NULL,
                                            G_DBUS_SIGNAL_FLAGS_NONE, count_signal, counts, NULL);
  reply = it_call (fx, last, "Subscribe", NULL, "()", &error);
  g_assert_no_error (error);
  client_send (a, "to the last subscriber");
  IT_WAIT (fx, count_of (counts, "MessageReceived") == 1);
  g_dbus_connection_signal_unsubscribe (last, sub);
  g_dbus_connection_close_sync (last, NULL, NULL);
  it_drain ();
}

/* ---- CloseClientConnection --------------------------------------------------- */

static void
test_close_client_connection (ItFixture *fx, gconstpointer data)
{
  g_autofree char *reason = NULL;
  ItClient *a = it_connect (fx, NULL);
  ItClient *b = it_connect (fx, NULL);

  g_variant_unref (it_call_ok (fx, "CloseClientConnection", g_variant_new ("(s)", a->id), "()"));
  reason = it_take_disconnect_reason (fx, a->id);
  g_assert_cmpstr (reason, ==, "closed by the server");
  /* The client saw a clean close: state CLOSED without an error. */
  it_client_wait_state (fx, a, SC_CLIENT_STATE_CLOSED);
  g_assert_cmpuint (a->errors->len, ==, 0);
  it_assert_client_ids (fx, (const char *[]) { b->id, NULL });
  it_exchange (fx, b);
  /* It is gone: closing it again is an error. */
  call_expect_error (fx, "CloseClientConnection", g_variant_new ("(s)", a->id), "UnknownClient",
                     SC_ERROR_UNKNOWN_CLIENT);
}

/* ---- GetClientInfo --------------------------------------------------------- */

static guint64
info_t (GVariant *info, const char *key)
{
  guint64 v = 0;

  g_assert_true (g_variant_lookup (info, key, "t", &v));
  return v;
}

static gint64
info_x (GVariant *info, const char *key)
{
  gint64 v = 0;

  g_assert_true (g_variant_lookup (info, key, "x", &v));
  return v;
}

static void
test_get_client_info (ItFixture *fx, gconstpointer data)
{
  static const char *const up[] = { "one", "two!", "three..." };
  static const char *const down[] = { "x", "yy" };
  g_autoptr (ScIdentity) key = new_key ();
  g_autoptr (GVariant) info = NULL, info_k = NULL;
  gint64 before = g_get_real_time ();
  ItClient *a = it_connect (fx, NULL);
  ItClient *k = it_connect (fx, key);
  guint64 up_bytes = 0, down_bytes = 0;
  gboolean b = TRUE;
  guint32 u = 1;
  guchar y = 0;
  const char *s = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (up); i++)
    {
      g_autofree char *got = NULL;

      client_send (a, up[i]);
      got = take_message (fx, a->id);
      g_assert_cmpstr (got, ==, up[i]);
      up_bytes += strlen (up[i]);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (down); i++)
    {
      it_send (fx, a->id, down[i]);
      it_client_wait_message (fx, a, down[i]);
      down_bytes += strlen (down[i]);
    }

  info = get_client_info (fx, a->id);
  assert_info_keys (info);
  assert_info_address (info);
  g_assert_true (g_variant_lookup (info, "authenticated", "b", &b));
  g_assert_false (b);
  g_assert_true (g_variant_lookup (info, "fingerprint", "&s", &s));
  g_assert_cmpstr (s, ==, "");
  g_assert_cmpint (info_x (info, "connected-since"), >=, before);
  g_assert_cmpint (info_x (info, "last-activity"), >=, info_x (info, "connected-since"));
  g_assert_cmpint (info_x (info, "last-activity"), <=, g_get_real_time ());
  g_assert_cmpuint (info_t (info, "messages-sent"), ==, G_N_ELEMENTS (down));
  g_assert_cmpuint (info_t (info, "messages-received"), ==, G_N_ELEMENTS (up));
  g_assert_cmpuint (info_t (info, "bytes-sent"), ==, down_bytes);
  g_assert_cmpuint (info_t (info, "bytes-received"), ==, up_bytes);
  g_assert_true (g_variant_lookup (info, "send-epoch", "u", &u));
  g_assert_cmpuint (u, ==, 0);
  g_assert_true (g_variant_lookup (info, "receive-epoch", "u", &u));
  g_assert_cmpuint (u, ==, 0);
  g_assert_true (g_variant_lookup (info, "protocol-version", "y", &y));
  g_assert_cmpuint (y, ==, SC_VERSION_1);
  g_assert_true (g_variant_lookup (info, "tls", "b", &b));
  g_assert_false (b);

  info_k = get_client_info (fx, k->id);
  assert_info_keys (info_k);
  g_assert_true (g_variant_lookup (info_k, "authenticated", "b", &b));
  g_assert_true (b);
  g_assert_true (g_variant_lookup (info_k, "fingerprint", "&s", &s));
  g_assert_cmpstr (s, ==, sc_identity_get_fingerprint (key));
  g_assert_cmpuint (info_t (info_k, "messages-sent"), ==, 0);
  g_assert_cmpuint (info_t (info_k, "messages-received"), ==, 0);
}

/* ---- typed errors ------------------------------------------------------------ */

static void
test_errors_unknown_client (ItFixture *fx, gconstpointer data)
{
  ItClient *a = it_connect (fx, NULL);
  g_autofree char *almost = g_strconcat (a->id, "0", NULL);
  const char *const bad_ids[] = {
    "anon-0000000000000000",
    "key-00000000000000000000000000000000",
    "",
    almost,
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad_ids); i++)
    {
      call_expect_error (fx, "SendMessage", g_variant_new ("(ss)", bad_ids[i], "hello"),
                         "UnknownClient", SC_ERROR_UNKNOWN_CLIENT);
      call_expect_error (fx, "CloseClientConnection", g_variant_new ("(s)", bad_ids[i]),
                         "UnknownClient", SC_ERROR_UNKNOWN_CLIENT);
      call_expect_error (fx, "GetClientInfo", g_variant_new ("(s)", bad_ids[i]), "UnknownClient",
                         SC_ERROR_UNKNOWN_CLIENT);
    }
  /* The daemon keeps serving, and the client was not touched. */
  g_assert_cmpuint (a->received->len, ==, 0);
  it_exchange (fx, a);
  it_assert_client_ids (fx, (const char *[]) { a->id, NULL });
}

static void
test_errors_message_too_large (ItFixture *fx, gconstpointer data)
{
  /* ScClient announces the default limit, SC_DEFAULT_MAX_MESSAGE_SIZE. */
  const gsize limit = SC_DEFAULT_MAX_MESSAGE_SIZE;
  g_autofree char *big = g_malloc (limit + 2);
  ItClient *a = it_connect (fx, NULL);
  const char *got;

  memset (big, 'y', limit + 1);
  big[limit + 1] = '\0';
  call_expect_error (fx, "SendMessage", g_variant_new ("(ss)", a->id, big), "MessageTooLarge",
                     SC_ERROR_MESSAGE_TOO_LARGE);
  /* The session lives on; a message of exactly the limit goes through. */
  g_assert_cmpint (sc_client_get_state (a->client), ==, SC_CLIENT_STATE_CONNECTED);
  big[limit] = '\0';
  it_send (fx, a->id, big);
  IT_WAIT (fx, a->received->len == 1);
  got = a->received->pdata[0];
  g_assert_cmpuint (strlen (got), ==, limit);
  g_assert_true (strspn (got, "y") == limit);
  g_assert_cmpuint (a->errors->len, ==, 0);
  it_exchange (fx, a);
}

/* ---- properties ----------------------------------------------------------- */

static void
on_properties_changed (GDBusProxy *proxy, GVariant *changed, GStrv invalidated, gpointer data)
{
  GArray *counts = data;
  guint32 n;

  if (g_variant_lookup (changed, "ClientCount", "u", &n))
    g_array_append_val (counts, n);
}

static guint32
last_count (GArray *counts)
{
  return counts->len > 0 ? g_array_index (counts, guint32, counts->len - 1) : G_MAXUINT32;
}

static void
wait_client_count (ItFixture *fx, GArray *counts, guint32 n)
{
  g_autoptr (GVariant) now = NULL;

  IT_WAIT (fx, last_count (counts) == n);
  now = get_property (fx, "ClientCount");
  g_assert_cmpuint (g_variant_get_uint32 (now), ==, n);
}

static void
test_properties (ItFixture *fx, gconstpointer data)
{
  g_autoptr (GArray) counts = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_autoptr (GVariant) version = get_property (fx, "Version");
  g_autoptr (GVariant) tls = get_property (fx, "TlsEnabled");
  g_autoptr (GVariant) count = get_property (fx, "ClientCount");
  g_autoptr (GVariant) fp = get_property (fx, "ServerFingerprint");
  g_autofree char *loopback = g_strdup_printf ("127.0.0.1:%u", fx->port);
  g_autoptr (GVariant) addrs = get_property (fx, "ListenAddresses");
  g_autofree const char **addr_list = g_variant_get_strv (addrs, NULL);
  ItClient *a, *b;

  g_assert_cmpstr (g_variant_get_string (version, NULL), ==, g_getenv ("SC_PROJECT_VERSION"));
  g_assert_false (g_variant_get_boolean (tls));
  g_assert_cmpuint (g_variant_get_uint32 (count), ==, 0);
  g_assert_true (g_strv_contains (addr_list, loopback));
  g_assert_cmpuint (strspn (g_variant_get_string (fp, NULL), "0123456789abcdef"), ==,
                    SC_IDENTITY_FINGERPRINT_LEN);

  /* ClientCount follows the clients, with PropertiesChanged each time. */
  g_signal_connect (fx->proxy, "g-properties-changed", G_CALLBACK (on_properties_changed), counts);
  a = it_connect (fx, NULL);
  wait_client_count (fx, counts, 1);
  b = it_connect (fx, NULL);
  wait_client_count (fx, counts, 2);
  g_free (it_client_close (fx, a));
  wait_client_count (fx, counts, 1);
  g_free (it_client_close (fx, b));
  wait_client_count (fx, counts, 0);
  g_signal_handlers_disconnect_by_data (fx->proxy, counts);
}

/* ---- stopping ------------------------------------------------------------ */

/* The daemon says it is going away: its clients start reconnecting (it
 * may be restarting), without an error. */
static void
assert_clean_stop (ItFixture *fx, ItClient *a, ItClient *b)
{
  it_client_wait_passed_state (fx, a, SC_CLIENT_STATE_RECONNECTING);
  it_client_wait_passed_state (fx, b, SC_CLIENT_STATE_RECONNECTING);
  /* A close message, not a broken connection. */
  g_assert_cmpuint (a->errors->len, ==, 0);
  g_assert_cmpuint (b->errors->len, ==, 0);
  it_wait_daemon_exit (fx);
  IT_WAIT (fx, fx->name_vanished);
  it_check_daemon_exit (fx);
}

static void
test_shutdown_method (ItFixture *fx, gconstpointer data)
{
  ItClient *a = it_connect (fx, NULL);
  ItClient *b = it_connect (fx, NULL);

  fx->expect_exit = TRUE;
  g_variant_unref (it_call_ok (fx, "Shutdown", NULL, "()"));
  assert_clean_stop (fx, a, b);
}

static void
test_shutdown_sigterm (ItFixture *fx, gconstpointer data)
{
  ItClient *a = it_connect (fx, NULL);
  ItClient *b = it_connect (fx, NULL);

  fx->expect_exit = TRUE;
  g_subprocess_send_signal (fx->daemon, SIGTERM);
  assert_clean_stop (fx, a, b);
}

/* ---- --check-config ---------------------------------------------------------- */

typedef struct
{
  gboolean done;
  char *out, *err;
} Communicated;

static void
on_communicated (GObject *source, GAsyncResult *result, gpointer data)
{
  Communicated *c = data;
  g_autoptr (GError) error = NULL;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &c->out, &c->err, &error);
  g_assert_no_error (error);
  c->done = TRUE;
}

/* Runs securecommd --check-config on a file holding @json; returns the
 * exit status and what it printed. */
static int
check_config (const char *json, char **path_out, char **out, char **err)
{
  g_autoptr (GSubprocessLauncher) launcher = it_launcher_new ();
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("sc-itest-check-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "securecommd.json", NULL);
  Communicated c = { FALSE, NULL, NULL };

  g_assert_no_error (error);
  g_file_set_contents (path, json, -1, &error);
  g_assert_no_error (error);
  g_subprocess_launcher_set_flags (launcher,
                                   G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  proc = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("SC_SECURECOMMD"),
                                      "--check-config", "--config", path, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, on_communicated, &c);
  IT_WAIT (NULL, c.done);
  g_subprocess_wait (proc, NULL, &error);
  g_assert_no_error (error);
  g_unlink (path);
  g_rmdir (dir);
  g_printerr ("securecommd --check-config: stdout:\n%s\nstderr:\n%s\n", c.out, c.err);
  *path_out = g_steal_pointer (&path);
  *out = c.out;
  *err = c.err;
  /* -1: killed by a signal (an abort under AddressSanitizer, say) */
  return g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : -1;
}

static void
test_check_config_valid (void)
{
  g_autofree char *path = NULL, *out = NULL, *err = NULL;
  int status = check_config (IT_CONFIG_SMALL_LIMITS, &path, &out, &err);

  g_assert_nonnull (strstr (out, path));
  g_assert_nonnull (strstr (out, "the configuration is valid"));
  g_assert_cmpint (status, ==, 0);
}

static void
test_check_config_unknown_key (void)
{
  g_autofree char *path = NULL, *out = NULL, *err = NULL;
  int status = check_config ("{\"sessions\": {\"heartbeat_interval_ms\": 1000, "
                             "\"heartbeat_intervall_ms\": 1000}}",
                             &path, &out, &err);

  g_assert_cmpint (status, ==, 2);
  g_assert_nonnull (strstr (err, path));
  g_assert_nonnull (strstr (err, "sessions.heartbeat_intervall_ms"));
  g_assert_nonnull (strstr (err, "unknown key"));
  g_assert_null (strstr (out, "valid"));
}

static void
test_check_config_out_of_range (void)
{
  g_autofree char *path = NULL, *out = NULL, *err = NULL;
  int status = check_config ("{\"sessions\": {\"heartbeat_missed\": 0}}", &path, &out, &err);

  g_assert_cmpint (status, ==, 2);
  g_assert_nonnull (strstr (err, path));
  g_assert_nonnull (strstr (err, "sessions.heartbeat_missed"));
}

/* ---- main ----------------------------------------------------------------- */

#define ADD(path, func) it_add (path, NULL, func)

int
main (int argc, char **argv)
{
  it_init (&argc, &argv);

  ADD ("/daemon/client-ids/list-connected", test_client_ids_list_connected);
  ADD ("/daemon/client-ids/key-id-stable-across-reconnects", test_client_ids_key_id_stable);
  ADD ("/daemon/client-ids/key-reconnect-replaces-old-connection", test_client_ids_key_replaced);
  ADD ("/daemon/send-message/reaches-only-its-client", test_send_message_reaches_only_its_client);
  ADD ("/daemon/signals/message-received-in-order", test_signals_message_received_in_order);
  ADD ("/daemon/signals/message-received-invalid-utf8-replaced",
       test_signals_message_received_invalid_utf8);
  ADD ("/daemon/signals/connected-disconnected", test_signals_connected_disconnected);
  ADD ("/daemon/signals/unicast-to-subscribers-only", test_signals_unicast_to_subscribers);
  ADD ("/daemon/signals/unsubscribe-stops-them", test_signals_unsubscribe_stops_them);
  ADD ("/daemon/signals/departed-subscriber-dropped", test_signals_departed_subscriber_dropped);
  ADD ("/daemon/close-client-connection", test_close_client_connection);
  ADD ("/daemon/get-client-info", test_get_client_info);
  ADD ("/daemon/errors/unknown-client", test_errors_unknown_client);
  ADD ("/daemon/errors/message-too-large", test_errors_message_too_large);
  ADD ("/daemon/properties", test_properties);
  ADD ("/daemon/shutdown/method-closes-clients-exits-0", test_shutdown_method);
  ADD ("/daemon/shutdown/sigterm-closes-clients-exits-0", test_shutdown_sigterm);
  it_add_func ("/daemon/check-config/valid-exits-0", test_check_config_valid);
  it_add_func ("/daemon/check-config/unknown-key-exits-2", test_check_config_unknown_key);
  it_add_func ("/daemon/check-config/out-of-range-exits-2", test_check_config_out_of_range);
  return g_test_run ();
}
