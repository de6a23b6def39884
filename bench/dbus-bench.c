/* dbus-bench: D-Bus method-call and signal rates, bare GDBus and through
 * securecommd, on whatever session bus DBUS_SESSION_BUS_ADDRESS names
 * (bench/run starts a private one).
 *
 *   dbus-bench server                   the bare baseline: owns BARE_NAME and
 *                                       implements SendMessage(ss)->(t),
 *                                       Subscribe() and Emit(uu)
 *   dbus-bench info                     waits for securecommd; prints
 *                                       `ready port=P fingerprint=FP`
 *   dbus-bench call --target bare|daemon [--seconds S] [--window W] [--size BYTES]
 *   dbus-bench signals --target bare|daemon --count N [--seconds S] [--size BYTES]
 *
 * `call` keeps --window SendMessage calls in flight for --seconds and
 * prints calls_per_s (to the daemon, the message goes to the first client
 * GetClientIds lists). `signals` calls Subscribe, prints `ready`, and counts
 * MessageReceived signals addressed to it until --count arrived or
 * --seconds passed; from the bare server it asks for them with Emit, from
 * the daemon they come when a SecureComm client sends (bench/run starts
 * one). signals_per_s is counted from the first signal to the last.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "bench-util.h"

#define DAEMON_NAME "io.github.SecureComm1"
#define DAEMON_PATH "/io/github/SecureComm1"
#define DAEMON_IFACE "io.github.SecureComm1.Server"
#define BARE_NAME "io.github.SecureCommBench1"
#define BARE_PATH "/io/github/SecureCommBench1"
#define BARE_IFACE "io.github.SecureCommBench1"
/* signals the bare server emits per main-loop dispatch */
#define EMIT_CHUNK 1000u
/* s: how long `info` waits for the daemon's name */
#define INFO_TIMEOUT_S 30

static const char bare_xml[] = "<node><interface name='" BARE_IFACE "'>"
                               "<method name='SendMessage'><arg type='s' direction='in'/>"
                               "<arg type='s' direction='in'/><arg type='t' direction='out'/>"
                               "</method><method name='Subscribe'/>"
                               "<method name='Emit'><arg type='u' direction='in'/>"
                               "<arg type='u' direction='in'/></method>"
                               "<signal name='MessageReceived'><arg type='s'/><arg type='s'/>"
                               "</signal></interface></node>";

typedef struct
{
  char *target; /* "bare" or "daemon" */
  double seconds;
  int window, size, count;
} Options;

typedef struct
{
  GDBusConnection *conn;
  GMainLoop *loop;
  Options *opt;
  const char *name, *path, *iface;
  char *client_id;
  char *payload;
  guint64 done, in_flight;
  gint64 start_us, first_us, last_us, deadline_us;
  GError *error;
} Bench;

/* ---- the bare server ------------------------------------------------------ */

typedef struct
{
  GDBusConnection *conn;
  char *destination;
  GVariant *params;
  guint left;
} Emission;

static gboolean
emit_chunk (gpointer data)
{
  Emission *e = data;

  for (guint i = 0; i < EMIT_CHUNK && e->left > 0; i++, e->left--)
    g_dbus_connection_emit_signal (e->conn, e->destination, BARE_PATH, BARE_IFACE,
                                   "MessageReceived", e->params, NULL);
  if (e->left > 0)
    return G_SOURCE_CONTINUE;
  g_free (e->destination);
  g_variant_unref (e->params);
  g_free (e);
  return G_SOURCE_REMOVE;
}

static void
bare_method (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
             const char *method, GVariant *params, GDBusMethodInvocation *invocation, gpointer data)
{
  static guint64 next_id = 1;
  Emission *e;
  guint count, size;
  g_autofree char *text = NULL;

  if (strcmp (method, "SendMessage") == 0)
    {
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(t)", next_id++));
      return;
    }
  if (strcmp (method, "Emit") == 0)
    {
      g_variant_get (params, "(uu)", &count, &size);
      text = (char *) bench_payload_new (size);
      e = g_new0 (Emission, 1);
      e->conn = conn;
      e->destination = g_strdup (sender);
      e->params = g_variant_ref_sink (g_variant_new ("(ss)", "anon-0000000000000000", text));
      e->left = count;
      g_idle_add (emit_chunk, e);
    }
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static void
on_bare_name (GDBusConnection *conn, const char *name, gpointer data)
{
  bench_ready (0, "name=" BARE_NAME);
}

static int
run_server (void)
{
  static const GDBusInterfaceVTable vtable = { bare_method, NULL, NULL, { 0 } };
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) conn = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_autoptr (GDBusNodeInfo) info = NULL;
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);

  if (conn != NULL)
    info = g_dbus_node_info_new_for_xml (bare_xml, &error);
  if (info == NULL
      || !g_dbus_connection_register_object (conn, BARE_PATH, info->interfaces[0], &vtable, NULL,
                                             NULL, &error))
    {
      g_printerr ("dbus-bench server: %s\n", error->message);
      return 1;
    }
  g_bus_own_name_on_connection (conn, BARE_NAME, G_BUS_NAME_OWNER_FLAGS_NONE, on_bare_name, NULL,
                                NULL, NULL);
  g_main_loop_run (loop);
  return 0;
}

/* ---- helpers -------------------------------------------------------------- */

static gboolean
bench_init (Bench *b, Options *opt, GError **error)
{
  gboolean daemon = g_strcmp0 (opt->target, "daemon") == 0;

  if (!daemon && g_strcmp0 (opt->target, "bare") != 0)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--target must be bare or daemon");
      return FALSE;
    }
  b->opt = opt;
  b->name = daemon ? DAEMON_NAME : BARE_NAME;
  b->path = daemon ? DAEMON_PATH : BARE_PATH;
  b->iface = daemon ? DAEMON_IFACE : BARE_IFACE;
  b->payload = (char *) bench_payload_new ((gsize) opt->size);
  b->loop = g_main_loop_new (NULL, FALSE);
  b->conn = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, error);
  return b->conn != NULL;
}

static void
bench_clear (Bench *b)
{
  g_clear_object (&b->conn);
  g_clear_pointer (&b->loop, g_main_loop_unref);
  g_free (b->payload);
  g_free (b->client_id);
  g_clear_error (&b->error);
}

static GVariant *
call_sync (Bench *b, const char *method, GVariant *params, const char *reply, GError **error)
{
  return g_dbus_connection_call_sync (b->conn, b->name, b->path, b->iface, method, params,
                                      reply ? G_VARIANT_TYPE (reply) : NULL,
                                      G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, error);
}

/* The daemon's first client, or a made-up id for the bare server. */
static gboolean
find_client (Bench *b, GError **error)
{
  g_autoptr (GVariant) ids = NULL;
  g_autofree const char **strv = NULL;

  if (strcmp (b->name, BARE_NAME) == 0)
    {
      b->client_id = g_strdup ("anon-0000000000000000");
      return TRUE;
    }
  ids = call_sync (b, "GetClientIds", NULL, "(as)", error);
  if (ids == NULL)
    return FALSE;
  g_variant_get (ids, "(^a&s)", &strv);
  if (strv[0] == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "the daemon has no client");
      return FALSE;
    }
  b->client_id = g_strdup (strv[0]);
  return TRUE;
}

/* ---- method calls --------------------------------------------------------- */

static void call_one (Bench *b);

static void
on_reply (GObject *source, GAsyncResult *result, gpointer data)
{
  Bench *b = data;
  g_autoptr (GVariant)
      reply = g_dbus_connection_call_finish (b->conn, result, b->error ? NULL : &b->error);

  b->in_flight--;
  if (reply != NULL)
    {
      b->done++;
      b->last_us = bench_now_us ();
    }
  if (reply != NULL && b->last_us < b->deadline_us)
    call_one (b);
  else if (b->in_flight == 0)
    g_main_loop_quit (b->loop);
}

static void
call_one (Bench *b)
{
  b->in_flight++;
  g_dbus_connection_call (b->conn, b->name, b->path, b->iface, "SendMessage",
                          g_variant_new ("(ss)", b->client_id, b->payload), G_VARIANT_TYPE ("(t)"),
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, on_reply, b);
}

static int
run_call (Bench *b)
{
  double secs;

  if (!find_client (b, &b->error))
    return 1;
  b->start_us = bench_now_us ();
  b->deadline_us = b->start_us + (gint64) (b->opt->seconds * 1e6);
  for (int i = 0; i < b->opt->window; i++)
    call_one (b);
  g_main_loop_run (b->loop);
  if (b->error != NULL)
    return 1;
  secs = (b->last_us - b->start_us) / 1e6;
  bench_result ("calls=%" G_GUINT64_FORMAT " seconds=%.6f calls_per_s=%.1f", b->done, secs,
                secs > 0 ? b->done / secs : 0);
  return 0;
}

/* ---- signals -------------------------------------------------------------- */

static void
on_signal (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
           const char *signal, GVariant *params, gpointer data)
{
  Bench *b = data;

  b->last_us = bench_now_us ();
  if (b->done++ == 0)
    b->first_us = b->last_us;
  if (b->done >= (guint64) b->opt->count)
    g_main_loop_quit (b->loop);
}

static gboolean
on_deadline (gpointer data)
{
  g_main_loop_quit (((Bench *) data)->loop);
  return G_SOURCE_REMOVE;
}

static int
run_signals (Bench *b)
{
  g_autoptr (GVariant) r = NULL;
  double secs;

  g_dbus_connection_signal_subscribe (b->conn, NULL, b->iface, "MessageReceived", b->path, NULL,
                                      G_DBUS_SIGNAL_FLAGS_NONE, on_signal, b, NULL);
  r = call_sync (b, "Subscribe", NULL, NULL, &b->error);
  if (r == NULL)
    return 1;
  g_clear_pointer (&r, g_variant_unref);
  bench_ready (0, "subscribed=1");
  if (strcmp (b->name, BARE_NAME) == 0)
    r = call_sync (b, "Emit", g_variant_new ("(uu)", (guint) b->opt->count, (guint) b->opt->size),
                   NULL, &b->error);
  if (strcmp (b->name, BARE_NAME) == 0 && r == NULL)
    return 1;
  g_timeout_add ((guint) (b->opt->seconds * 1000), on_deadline, b);
  g_main_loop_run (b->loop);
  secs = (b->last_us - b->first_us) / 1e6;
  bench_result ("signals=%" G_GUINT64_FORMAT " seconds=%.6f signals_per_s=%.1f", b->done, secs,
                secs > 0 ? b->done / secs : 0);
  return 0;
}

/* ---- info ----------------------------------------------------------------- */

static char *
get_property (Bench *b, const char *name, GError **error)
{
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      b->conn, b->name, b->path, "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", b->iface, name), G_VARIANT_TYPE ("(v)"),
      G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, error);
  g_autoptr (GVariant) value = NULL;

  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(v)", &value);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE ("as")))
    {
      g_autofree const char **addrs = g_variant_get_strv (value, NULL);

      return g_strdup (addrs[0]);
    }
  return g_variant_dup_string (value, NULL);
}

static int
run_info (Bench *b)
{
  gint64 deadline = bench_now_us () + INFO_TIMEOUT_S * G_USEC_PER_SEC;
  g_autofree char *addr = NULL, *fp = NULL, *extra = NULL;
  const char *colon;

  while ((addr = get_property (b, "ListenAddresses", NULL)) == NULL && bench_now_us () < deadline)
    g_usleep (50000);
  fp = get_property (b, "ServerFingerprint", &b->error);
  if (addr == NULL || fp == NULL || (colon = strrchr (addr, ':')) == NULL)
    {
      if (b->error == NULL)
        g_set_error_literal (&b->error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "no daemon on the bus");
      return 1;
    }
  extra = g_strdup_printf ("fingerprint=%s", fp);
  bench_ready ((guint) atoi (colon + 1), extra);
  return 0;
}

int
main (int argc, char **argv)
{
  Options opt = { .seconds = 5, .window = 32, .size = 100, .count = 100000 };
  const GOptionEntry entries[] = {
    { "target", 0, 0, G_OPTION_ARG_STRING, &opt.target, "bare or daemon", "WHO" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &opt.seconds, "Run time (at most)", "S" },
    { "window", 0, 0, G_OPTION_ARG_INT, &opt.window, "Calls in flight", "W" },
    { "size", 0, 0, G_OPTION_ARG_INT, &opt.size, "Message bytes", "BYTES" },
    { "count", 0, 0, G_OPTION_ARG_INT, &opt.count, "Signals to wait for", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("server|info|call|signals");
  g_autoptr (GError) error = NULL;
  Bench b = { 0 };
  int status = 2;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2 || opt.window < 1
      || opt.size < 1 || opt.count < 1)
    {
      g_printerr ("dbus-bench: %s\n", error ? error->message : "bad arguments (see --help)");
      return 2;
    }
  if (strcmp (argv[1], "server") == 0)
    return run_server ();
  if (strcmp (argv[1], "info") == 0 && !opt.target)
    opt.target = g_strdup ("daemon");
  if (bench_init (&b, &opt, &b.error))
    {
      if (strcmp (argv[1], "info") == 0)
        status = run_info (&b);
      else if (strcmp (argv[1], "call") == 0)
        status = run_call (&b);
      else if (strcmp (argv[1], "signals") == 0)
        status = run_signals (&b);
    }
  if (b.error != NULL)
    {
      g_printerr ("dbus-bench %s: %s\n", argv[1], b.error->message);
      status = 1;
    }
  bench_clear (&b);
  g_free (opt.target);
  return status;
}
