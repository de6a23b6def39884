/* securecommctl: control a running securecommd over D-Bus.
 *
 *   securecommctl [--system|--session] [--json] COMMAND [ARGS...]
 *
 * Thin over GDBus: every command is one call of the interface
 * io.github.SecureComm1.Server (dbus/io.github.SecureComm1.Server.xml, the
 * contract) with an explicit reply type. `monitor` subscribes and prints the
 * unicast signals. Exit codes: 0 success, 1 the daemon reported an error
 * (or went away during monitor), 2 usage error, 3 the daemon could not be
 * reached or the caller is not allowed to call it: nothing was done.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#define SC_BUS_NAME "io.github.SecureComm1"
#define SC_OBJECT_PATH "/io/github/SecureComm1"
#define SC_INTERFACE "io.github.SecureComm1.Server"
#define SC_ERROR_PREFIX "io.github.SecureComm1.Error."

/* Exit codes, as securecommctl(1) documents them. */
enum
{
  EXIT_OK = 0,
  EXIT_FAILED = 1,
  EXIT_USAGE = 2,
  EXIT_NO_DAEMON = 3,
};

typedef struct
{
  gboolean system_bus;
  gboolean session_bus;
  gboolean json;
  gboolean version;
} Options;

typedef struct
{
  Options opt;
  GDBusConnection *bus;
  /* monitor */
  GMainLoop *loop;
  char *owner;        /* the daemon's unique name, while it is on the bus */
  GError *loop_error; /* why the loop ended, NULL for a signal */
} Ctl;

typedef gboolean (*CommandFunc) (Ctl *ctl, char **args, GError **error);

typedef struct
{
  const char *name;
  int n_args;
  const char *synopsis; /* its arguments, for the usage message */
  CommandFunc run;
} Command;

/* ---- output helpers ------------------------------------------------------ */

/* Text from the daemon (messages, reasons, addresses) is shown on a terminal:
 * control characters (C0, DEL, C1) and the backslash are escaped so that a
 * peer cannot move the cursor or fake a line, and every event stays one line. */
static char *
escape_text (const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1); /* D-Bus strings are; errors may not be */
  GString *out = g_string_sized_new (strlen (valid));

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c == '\\')
        g_string_append (out, "\\\\");
      else if (c == '\n')
        g_string_append (out, "\\n");
      else if (c == '\t')
        g_string_append (out, "\\t");
      else if (c == '\r')
        g_string_append (out, "\\r");
      else if (g_unichar_iscntrl (c))
        g_string_append_printf (out, c < 0x80 ? "\\x%02x" : "\\u%04x", c);
      else
        g_string_append_unichar (out, c);
    }
  return g_string_free (out, FALSE);
}

/* UNIX microseconds as ISO 8601 in local time, to the second. */
static char *
format_time (gint64 usec)
{
  g_autoptr (GDateTime) dt = NULL;

  if (usec <= 0)
    return g_strdup (_ ("never"));
  dt = g_date_time_new_from_unix_local (usec / G_USEC_PER_SEC);
  if (dt == NULL)
    return g_strdup_printf ("%" G_GINT64_FORMAT " µs", usec);
  return g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S%:z");
}

static const char *
yes_no (gboolean value)
{
  return value ? _ ("yes") : _ ("no");
}

/* Prints label/value rows with the values aligned, labels counted in
 * characters so that translations line up too. */
typedef struct
{
  GPtrArray *labels; /* const char * (translated) */
  GPtrArray *values; /* char *, owned */
} Table;

static void
table_init (Table *t)
{
  t->labels = g_ptr_array_new ();
  t->values = g_ptr_array_new_with_free_func (g_free);
}

/* Takes @value. */
static void
table_add (Table *t, const char *label, char *value)
{
  g_ptr_array_add (t->labels, (gpointer) label);
  g_ptr_array_add (t->values, value);
}

static void
table_print_and_clear (Table *t)
{
  glong width = 0;

  for (guint i = 0; i < t->labels->len; i++)
    width = MAX (width, g_utf8_strlen (t->labels->pdata[i], -1));
  for (guint i = 0; i < t->labels->len; i++)
    {
      const char *label = t->labels->pdata[i];

      g_print ("%s:%*s %s\n", label, (int) (width - g_utf8_strlen (label, -1)), "",
               (const char *) t->values->pdata[i]);
    }
  g_ptr_array_unref (t->labels);
  g_ptr_array_unref (t->values);
}

/* ---- errors --------------------------------------------------------------- */

/* What a D-Bus error means for the user: words and a hint, by error name. */
static const char *
error_hint (const Ctl *ctl, const char *name)
{
  static const struct
  {
    const char *name;
    const char *hint;
  } hints[] = {
    { SC_ERROR_PREFIX "UnknownClient",
      N_ ("no client with that id; “securecommctl clients” lists them") },
    { SC_ERROR_PREFIX "MessageTooLarge",
      N_ ("the message is larger than the client accepts; send it in parts") },
    { SC_ERROR_PREFIX "InvalidMessage", N_ ("the daemon refused the message as invalid") },
    { SC_ERROR_PREFIX "NotConnected",
      N_ ("the client's connection is not established (any more)") },
    { SC_ERROR_PREFIX "Limit", N_ ("a limit of the daemon was reached; try again later") },
    { SC_ERROR_PREFIX "Busy", N_ ("the daemon is busy; try again later") },
    { "org.freedesktop.DBus.Error.NoReply", N_ ("securecommd did not answer in time") },
    { "org.freedesktop.DBus.Error.UnknownMethod",
      N_ ("the daemon does not know this call: is it an older securecommd?") },
    { "org.freedesktop.DBus.Error.UnknownObject",
      N_ ("the bus name's owner does not export the securecommd interface") },
    { "org.freedesktop.DBus.Error.UnknownInterface",
      N_ ("the bus name's owner does not export the securecommd interface") },
  };

  if (g_strcmp0 (name, "org.freedesktop.DBus.Error.ServiceUnknown") == 0
      || g_strcmp0 (name, "org.freedesktop.DBus.Error.NameHasNoOwner") == 0)
    return ctl->opt.system_bus ? _ ("securecommd is not running on the system bus (try --session)")
                               : _ ("securecommd is not running on the session bus (try --system)");
  if (g_strcmp0 (name, "org.freedesktop.DBus.Error.AccessDenied") == 0
      || g_strcmp0 (name, SC_ERROR_PREFIX "AccessDenied") == 0)
    return ctl->opt.system_bus ? _ ("not allowed: on the system bus only root and the group "
                                    "securecomm may call securecommd")
                               : _ ("not allowed by the session bus or the daemon");
  for (guint i = 0; i < G_N_ELEMENTS (hints); i++)
    if (g_strcmp0 (name, hints[i].name) == 0)
      return _ (hints[i].hint);
  return NULL;
}

/* Prints @error in words: the hint for its D-Bus error name when there is
 * one, then the name and the daemon's own message. */
static void
print_error (const Ctl *ctl, const GError *error)
{
  g_autofree char *name = g_dbus_error_get_remote_error (error);
  g_autoptr (GError) copy = g_error_copy (error);
  g_autofree char *message = NULL;
  const char *hint;

  g_dbus_error_strip_remote_error (copy);
  message = escape_text (copy->message);
  if (name != NULL)
    hint = error_hint (ctl, name);
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    hint = _ ("securecommd did not answer in time");
  else
    hint = NULL;
  if (hint != NULL && name != NULL)
    g_printerr ("securecommctl: %s\n  (%s: %s)\n", hint, name, message);
  else if (hint != NULL)
    g_printerr ("securecommctl: %s\n  (%s)\n", hint, message);
  else if (name != NULL)
    g_printerr ("securecommctl: %s (%s)\n", message, name);
  else
    g_printerr ("securecommctl: %s\n", message);
}

/* ---- calls --------------------------------------------------------------- */

/* Calls METHOD of the interface and returns its reply, checked against
 * @reply_type by GDBus. Takes a floating @params. A call never starts the
 * daemon by bus activation when @no_auto_start. */
static GVariant *
call_full (Ctl *ctl, const char *interface, const char *method, GVariant *params,
           const char *reply_type, gboolean no_auto_start, GError **error)
{
  return g_dbus_connection_call_sync (
      ctl->bus, SC_BUS_NAME, SC_OBJECT_PATH, interface, method, params, G_VARIANT_TYPE (reply_type),
      no_auto_start ? G_DBUS_CALL_FLAGS_NO_AUTO_START : G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
}

static GVariant *
call (Ctl *ctl, const char *method, GVariant *params, const char *reply_type, GError **error)
{
  return call_full (ctl, SC_INTERFACE, method, params, reply_type, FALSE, error);
}

/* ---- status, clients, info ----------------------------------------------- */

static char *
lookup_string (GVariant *dict, const char *key)
{
  g_autoptr (GVariant) v = g_variant_lookup_value (dict, key, G_VARIANT_TYPE_STRING);

  return v != NULL ? escape_text (g_variant_get_string (v, NULL)) : g_strdup ("?");
}

static char *
format_addresses (GVariant *props)
{
  g_autoptr (GVariant)
      v = g_variant_lookup_value (props, "ListenAddresses", G_VARIANT_TYPE_STRING_ARRAY);
  g_autofree const char **addrs = NULL;
  g_autofree char *joined = NULL;

  if (v == NULL)
    return g_strdup ("?");
  addrs = g_variant_get_strv (v, NULL);
  if (addrs[0] == NULL)
    return g_strdup (_ ("none"));
  joined = g_strjoinv (", ", (char **) addrs);
  return escape_text (joined);
}

static gboolean
cmd_status (Ctl *ctl, char **args, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GVariant) tls = NULL;
  g_autoptr (GVariant) count = NULL;
  Table t;

  reply = call_full (ctl, "org.freedesktop.DBus.Properties", "GetAll",
                     g_variant_new ("(s)", SC_INTERFACE), "(a{sv})", FALSE, error);
  if (reply == NULL)
    return FALSE;
  props = g_variant_get_child_value (reply, 0);
  tls = g_variant_lookup_value (props, "TlsEnabled", G_VARIANT_TYPE_BOOLEAN);
  count = g_variant_lookup_value (props, "ClientCount", G_VARIANT_TYPE_UINT32);
  table_init (&t);
  /* Translators: the labels of `securecommctl status`, shown with a colon. */
  table_add (&t, _ ("Version"), lookup_string (props, "Version"));
  table_add (&t, _ ("Listening on"), format_addresses (props));
  table_add (&t, _ ("TLS"), g_strdup (tls != NULL ? yes_no (g_variant_get_boolean (tls)) : "?"));
  table_add (&t, _ ("Connected clients"),
             count != NULL ? g_strdup_printf ("%u", g_variant_get_uint32 (count)) : g_strdup ("?"));
  table_add (&t, _ ("Server fingerprint"), lookup_string (props, "ServerFingerprint"));
  table_print_and_clear (&t);
  return TRUE;
}

static gboolean
cmd_clients (Ctl *ctl, char **args, GError **error)
{
  g_autoptr (GVariant) reply = call (ctl, "GetClientIds", NULL, "(as)", error);
  g_autoptr (GVariantIter) iter = NULL;
  const char *id;

  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(as)", &iter);
  while (g_variant_iter_next (iter, "&s", &id))
    {
      g_autofree char *safe = escape_text (id);

      g_print ("%s\n", safe);
    }
  return TRUE;
}

typedef enum
{
  FIELD_TEXT,
  FIELD_FLAG,
  FIELD_TIME,
  FIELD_NUMBER,
} FieldKind;

/* The keys of GetClientInfo, in the order shown. */
static const struct
{
  const char *key;
  const char *label;
  FieldKind kind;
} info_fields[] = {
  /* Translators: the labels of `securecommctl info`, shown with a colon. */
  { "address", N_ ("Address"), FIELD_TEXT },
  { "authenticated", N_ ("Authenticated"), FIELD_FLAG },
  { "fingerprint", N_ ("Fingerprint"), FIELD_TEXT },
  { "connected-since", N_ ("Connected since"), FIELD_TIME },
  { "last-activity", N_ ("Last activity"), FIELD_TIME },
  { "messages-sent", N_ ("Messages sent"), FIELD_NUMBER },
  { "messages-received", N_ ("Messages received"), FIELD_NUMBER },
  { "bytes-sent", N_ ("Bytes sent"), FIELD_NUMBER },
  { "bytes-received", N_ ("Bytes received"), FIELD_NUMBER },
  { "send-epoch", N_ ("Send key updates"), FIELD_NUMBER },
  { "receive-epoch", N_ ("Receive key updates"), FIELD_NUMBER },
  { "protocol-version", N_ ("Protocol version"), FIELD_NUMBER },
  { "tls", N_ ("TLS"), FIELD_FLAG },
};

/* Any integer type as a plain decimal number. */
static char *
format_number (GVariant *v)
{
  switch (g_variant_classify (v))
    {
    case G_VARIANT_CLASS_BYTE:
      return g_strdup_printf ("%u", (unsigned) g_variant_get_byte (v));
    case G_VARIANT_CLASS_UINT16:
      return g_strdup_printf ("%u", (unsigned) g_variant_get_uint16 (v));
    case G_VARIANT_CLASS_INT16:
      return g_strdup_printf ("%d", (int) g_variant_get_int16 (v));
    case G_VARIANT_CLASS_UINT32:
      return g_strdup_printf ("%" G_GUINT32_FORMAT, g_variant_get_uint32 (v));
    case G_VARIANT_CLASS_INT32:
      return g_strdup_printf ("%" G_GINT32_FORMAT, g_variant_get_int32 (v));
    case G_VARIANT_CLASS_UINT64:
      return g_strdup_printf ("%" G_GUINT64_FORMAT, g_variant_get_uint64 (v));
    case G_VARIANT_CLASS_INT64:
      return g_strdup_printf ("%" G_GINT64_FORMAT, g_variant_get_int64 (v));
    case G_VARIANT_CLASS_BOOLEAN:
    case G_VARIANT_CLASS_DOUBLE:
    case G_VARIANT_CLASS_STRING:
    case G_VARIANT_CLASS_OBJECT_PATH:
    case G_VARIANT_CLASS_SIGNATURE:
    case G_VARIANT_CLASS_VARIANT:
    case G_VARIANT_CLASS_MAYBE:
    case G_VARIANT_CLASS_ARRAY:
    case G_VARIANT_CLASS_TUPLE:
    case G_VARIANT_CLASS_DICT_ENTRY:
    case G_VARIANT_CLASS_HANDLE:
      break;
    }
  return g_variant_print (v, FALSE);
}

/* One value of GetClientInfo in words; anything of an unexpected type is
 * shown as GVariant text rather than dropped. */
static char *
format_field (FieldKind kind, GVariant *v)
{
  if (kind == FIELD_TEXT && g_variant_is_of_type (v, G_VARIANT_TYPE_STRING))
    return escape_text (g_variant_get_string (v, NULL));
  if (kind == FIELD_FLAG && g_variant_is_of_type (v, G_VARIANT_TYPE_BOOLEAN))
    return g_strdup (yes_no (g_variant_get_boolean (v)));
  if (kind == FIELD_TIME && g_variant_is_of_type (v, G_VARIANT_TYPE_INT64))
    return format_time (g_variant_get_int64 (v));
  if (kind == FIELD_NUMBER)
    return format_number (v);
  return g_variant_print (v, FALSE);
}

static void
print_client_info (const char *id, GVariant *info)
{
  g_autoptr (GVariant) value = NULL;
  GVariantIter iter;
  const char *key;
  Table t;

  table_init (&t);
  table_add (&t, _ ("Client"), escape_text (id));
  for (guint i = 0; i < G_N_ELEMENTS (info_fields); i++)
    {
      g_autoptr (GVariant) v = g_variant_lookup_value (info, info_fields[i].key, NULL);

      if (v == NULL)
        continue;
      if (g_str_equal (info_fields[i].key, "fingerprint")
          && g_variant_is_of_type (v, G_VARIANT_TYPE_STRING)
          && *g_variant_get_string (v, NULL) == '\0')
        table_add (&t, _ (info_fields[i].label), g_strdup (_ ("none (anonymous)")));
      else
        table_add (&t, _ (info_fields[i].label), format_field (info_fields[i].kind, v));
    }
  /* Keys a newer daemon added, under their own names. */
  g_variant_iter_init (&iter, info);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      gboolean known = FALSE;

      for (guint i = 0; i < G_N_ELEMENTS (info_fields) && !known; i++)
        known = g_str_equal (key, info_fields[i].key);
      if (!known)
        table_add (&t, key, g_variant_print (value, FALSE));
      g_clear_pointer (&value, g_variant_unref);
    }
  table_print_and_clear (&t);
}

static gboolean
cmd_info (Ctl *ctl, char **args, GError **error)
{
  g_autoptr (GVariant)
      reply = call (ctl, "GetClientInfo", g_variant_new ("(s)", args[0]), "(a{sv})", error);
  g_autoptr (GVariant) info = NULL;

  if (reply == NULL)
    return FALSE;
  info = g_variant_get_child_value (reply, 0);
  print_client_info (args[0], info);
  return TRUE;
}

/* ---- send, close, shutdown ----------------------------------------------- */

static gboolean
cmd_send (Ctl *ctl, char **args, GError **error)
{
  g_autoptr (GVariant)
      reply = call (ctl, "SendMessage", g_variant_new ("(ss)", args[0], args[1]), "(t)", error);
  guint64 message_id;

  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(t)", &message_id);
  g_print ("%" G_GUINT64_FORMAT "\n", message_id);
  return TRUE;
}

static gboolean
cmd_close (Ctl *ctl, char **args, GError **error)
{
  g_autoptr (GVariant)
      reply = call (ctl, "CloseClientConnection", g_variant_new ("(s)", args[0]), "()", error);

  return reply != NULL;
}

/* Never starts the daemon by bus activation only to stop it. */
static gboolean
cmd_shutdown (Ctl *ctl, char **args, GError **error)
{
  g_autoptr (GVariant) reply = call_full (ctl, SC_INTERFACE, "Shutdown", NULL, "()", TRUE, error);

  return reply != NULL;
}

/* ---- monitor -------------------------------------------------------------- */

static char *
now_iso8601 (void)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();

  return g_date_time_format_iso8601 (now);
}

/* The signals `monitor` prints, their types, and the JSON member of their
 * second argument (its name in the interface XML). */
static const struct
{
  const char *name;
  const char *type;
  const char *member;
} monitored_signals[] = {
  { "MessageReceived", "(ss)", "message" },
  { "ClientConnected", "(sa{sv})", "info" },
  { "ClientDisconnected", "(ss)", "reason" },
};

/* One event as a JSON line: {"time", "event", "client_id", MEMBER}. */
static void
print_event_json (const char *signal, const char *member, GVariant *params)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *stamp = now_iso8601 ();
  g_autofree char *line = NULL;
  g_autoptr (GVariant) id = g_variant_get_child_value (params, 0);
  g_autoptr (GVariant) arg = g_variant_get_child_value (params, 1);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "time");
  json_builder_add_string_value (b, stamp);
  json_builder_set_member_name (b, "event");
  json_builder_add_string_value (b, signal);
  json_builder_set_member_name (b, "client_id");
  json_builder_add_string_value (b, g_variant_get_string (id, NULL));
  json_builder_set_member_name (b, member);
  json_builder_add_value (b, json_gvariant_serialize (arg));
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  line = json_generator_to_data (gen, NULL);
  g_print ("%s\n", line);
}

/* One event as a line of text: the local time, then what happened. */
static void
print_event_text (const char *signal, GVariant *params)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%H:%M:%S");
  g_autoptr (GVariant) id_v = g_variant_get_child_value (params, 0);
  g_autoptr (GVariant) arg = g_variant_get_child_value (params, 1);
  g_autofree char *id = escape_text (g_variant_get_string (id_v, NULL));
  g_autofree char *text = NULL;

  if (g_str_equal (signal, "ClientConnected"))
    {
      g_autofree char *address = lookup_string (arg, "address");

      /* Translators: a monitor line: the time, a client id, its address. */
      g_print (_ ("%s %s connected from %s\n"), stamp, id, address);
      return;
    }
  text = escape_text (g_variant_get_string (arg, NULL));
  if (g_str_equal (signal, "MessageReceived"))
    /* Translators: a monitor line: the time, a client id, the message. */
    g_print (_ ("%s message from %s: %s\n"), stamp, id, text);
  else
    /* Translators: a monitor line: the time, a client id, the reason (in
     * English, from the daemon). */
    g_print (_ ("%s %s disconnected: %s\n"), stamp, id, text);
}

static void
on_signal (GDBusConnection *bus, const char *sender, const char *path, const char *interface,
           const char *signal, GVariant *params, gpointer data)
{
  Ctl *ctl = data;

  /* Only the daemon's own signals: a unicast signal could come from anyone. */
  if (ctl->owner == NULL || g_strcmp0 (sender, ctl->owner) != 0)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (monitored_signals); i++)
    {
      if (!g_str_equal (signal, monitored_signals[i].name)
          || !g_variant_is_of_type (params, G_VARIANT_TYPE (monitored_signals[i].type)))
        continue;
      if (ctl->opt.json)
        print_event_json (signal, monitored_signals[i].member, params);
      else
        print_event_text (signal, params);
      fflush (stdout);
      return;
    }
}

static void
on_name_appeared (GDBusConnection *bus, const char *name, const char *owner, gpointer data)
{
  Ctl *ctl = data;

  g_free (ctl->owner);
  ctl->owner = g_strdup (owner);
}

static void
on_name_vanished (GDBusConnection *bus, const char *name, gpointer data)
{
  Ctl *ctl = data;

  /* No owner yet: Subscribe() may have started the daemon by bus
   * activation, and its name appears next. */
  if (ctl->owner == NULL)
    return;
  g_clear_pointer (&ctl->owner, g_free);
  if (ctl->loop_error == NULL)
    g_set_error_literal (&ctl->loop_error, G_IO_ERROR, G_IO_ERROR_CLOSED,
                         _ ("securecommd left the bus; the monitor ends"));
  g_main_loop_quit (ctl->loop);
}

static gboolean
on_quit_signal (gpointer data)
{
  Ctl *ctl = data;

  g_main_loop_quit (ctl->loop);
  return G_SOURCE_CONTINUE;
}

static void
on_bus_closed (GDBusConnection *bus, gboolean remote_peer_vanished, GError *error, gpointer data)
{
  Ctl *ctl = data;

  if (ctl->loop_error == NULL)
    g_set_error_literal (&ctl->loop_error, G_IO_ERROR, G_IO_ERROR_CLOSED,
                         _ ("the connection to the message bus was closed; the monitor ends"));
  g_main_loop_quit (ctl->loop);
}

/* Prints events until SIGINT or SIGTERM, then unsubscribes; or until the
 * daemon or the bus goes away, which is an error. */
static gboolean
monitor_run (Ctl *ctl, GError **error)
{
  guint sigint = g_unix_signal_add (SIGINT, on_quit_signal, ctl);
  guint sigterm = g_unix_signal_add (SIGTERM, on_quit_signal, ctl);
  gulong closed = g_signal_connect (ctl->bus, "closed", G_CALLBACK (on_bus_closed), ctl);
  g_autoptr (GVariant) reply = NULL;

  /* On standard error, so that the events alone go to standard output; and
   * only now that a signal ends the monitor cleanly. */
  g_printerr (_ ("securecommctl: subscribed to securecommd; Ctrl+C ends the monitor\n"));
  g_main_loop_run (ctl->loop);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  g_signal_handler_disconnect (ctl->bus, closed);
  if (ctl->loop_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&ctl->loop_error));
      return FALSE;
    }
  reply = call_full (ctl, SC_INTERFACE, "Unsubscribe", NULL, "()", TRUE, error);
  return reply != NULL;
}

/* Sets up the match for the signals and the watch on the daemon, then
 * subscribes: the signals are unicast to subscribers, so the match must be
 * in place before Subscribe() returns. */
static gboolean
cmd_monitor (Ctl *ctl, char **args, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  guint sub, watch;
  gboolean ok = FALSE;

  ctl->loop = g_main_loop_new (NULL, FALSE);
  sub = g_dbus_connection_signal_subscribe (ctl->bus, SC_BUS_NAME, SC_INTERFACE, NULL,
                                            SC_OBJECT_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                            on_signal, ctl, NULL);
  watch = g_bus_watch_name_on_connection (ctl->bus, SC_BUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                          on_name_appeared, on_name_vanished, ctl, NULL);
  reply = call (ctl, "Subscribe", NULL, "()", error);
  if (reply != NULL)
    ok = monitor_run (ctl, error);
  g_bus_unwatch_name (watch);
  g_dbus_connection_signal_unsubscribe (ctl->bus, sub);
  return ok;
}

/* ---- options and main ----------------------------------------------------- */

static const Command commands[] = {
  { "status", 0, "", cmd_status },
  { "clients", 0, "", cmd_clients },
  /* Translators: the arguments of a command, as in the --help text. */
  { "info", 1, N_ ("ID"), cmd_info },
  { "send", 2, N_ ("ID MESSAGE"), cmd_send },
  { "close", 1, N_ ("ID"), cmd_close },
  { "monitor", 0, "", cmd_monitor },
  { "shutdown", 0, "", cmd_shutdown },
};

static const char usage_description[] = N_ (
    "Commands:\n"
    "  status            show the daemon's version, listening addresses, whether TLS\n"
    "                    is on, how many clients are connected, and the fingerprint\n"
    "                    of its identity key (for clients to --pin)\n"
    "  clients           list the ids of the connected clients, one per line\n"
    "  info ID           show what the daemon knows of client ID: address,\n"
    "                    authentication, times (local time), counters, key updates\n"
    "  send ID MESSAGE   send the text MESSAGE to client ID; print its message id\n"
    "  close ID          close the connection of client ID\n"
    "  monitor           print messages from clients, connections and\n"
    "                    disconnections as they happen, one line each (with --json,\n"
    "                    as JSON lines), until interrupted or the daemon exits\n"
    "  shutdown          close every session and stop the daemon\n"
    "\n"
    "The daemon on the session bus is the default; --system talks to the system\n"
    "service. Put -- before a MESSAGE that starts with a dash.\n"
    "\n"
    "Examples:\n"
    "  securecommctl status\n"
    "  securecommctl --system clients\n"
    "  securecommctl send anon-0123456789abcdef \"The server restarts at noon.\"\n"
    "  securecommctl monitor --json\n"
    "\n"
    "Exit status: 0 success; 1 the daemon reported an error (or went away during\n"
    "monitor); 2 usage error; 3 the daemon could not be reached or refused the\n"
    "caller, nothing was done.");

static GOptionContext *
make_context (Options *o)
{
  const GOptionEntry entries[] = {
    { "system", 0, 0, G_OPTION_ARG_NONE, &o->system_bus,
      N_ ("Talk to the daemon on the system bus"), NULL },
    { "session", 0, 0, G_OPTION_ARG_NONE, &o->session_bus,
      N_ ("Talk to the daemon on the session bus (the default)"), NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &o->json, N_ ("monitor: print events as JSON lines"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &o->version, N_ ("Print the version and exit"), NULL },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new (_ ("COMMAND [ARGUMENTS...]"));

  g_option_context_set_summary (ctx, _ ("Control a running SecureComm daemon (securecommd) "
                                        "over D-Bus."));
  g_option_context_set_description (ctx, _ (usage_description));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  return ctx;
}

static gboolean
usage_error (const char *message)
{
  g_printerr ("securecommctl: %s\n%s\n", message, _ ("Try “securecommctl --help”."));
  return FALSE;
}

/* Checks the command line; on success *@command is the command to run. */
static gboolean
check_arguments (const Options *o, int argc, char **argv, const Command **command)
{
  g_autofree char *msg = NULL;

  if (o->system_bus && o->session_bus)
    return usage_error (_ ("--system and --session exclude each other"));
  if (argc < 2)
    return usage_error (_ ("no command given"));
  for (guint i = 0; i < G_N_ELEMENTS (commands) && *command == NULL; i++)
    if (g_str_equal (argv[1], commands[i].name))
      *command = &commands[i];
  if (*command == NULL)
    {
      msg = g_strdup_printf (_ ("unknown command “%s”"), argv[1]);
      return usage_error (msg);
    }
  if (argc - 2 != (*command)->n_args)
    {
      if ((*command)->n_args == 0)
        msg = g_strdup_printf (_ ("“%s” takes no arguments"), argv[1]);
      else
        msg = g_strdup_printf (_ ("wrong number of arguments; usage: securecommctl %s %s"), argv[1],
                               _ ((*command)->synopsis));
      return usage_error (msg);
    }
  if (o->json && (*command)->run != cmd_monitor)
    return usage_error (_ ("--json applies to monitor only"));
  for (int i = 2; i < argc; i++)
    if (!g_utf8_validate (argv[i], -1, NULL))
      return usage_error (_ ("arguments must be UTF-8 text"));
  return TRUE;
}

/* GOption stops at "--" but leaves it in argv: drop the first one, so that
 * `send ID -- -MESSAGE` works. */
static void
drop_double_dash (int *argc, char **argv)
{
  for (int i = 1; i < *argc; i++)
    if (g_str_equal (argv[i], "--"))
      {
        memmove (&argv[i], &argv[i + 1], (size_t) (*argc - i) * sizeof (char *));
        (*argc)--;
        return;
      }
}

/* EXIT_NO_DAEMON when the call did not reach the daemon or was refused
 * before it did anything (no such name on the bus, access denied); else
 * EXIT_FAILED. */
static int
exit_code_for (const GError *error)
{
  static const char *const not_reached[] = {
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
    "org.freedesktop.DBus.Error.AccessDenied",
    SC_ERROR_PREFIX "AccessDenied",
  };
  g_autofree char *name = g_dbus_error_get_remote_error (error);

  for (guint i = 0; name != NULL && i < G_N_ELEMENTS (not_reached); i++)
    if (g_str_equal (name, not_reached[i]))
      return EXIT_NO_DAEMON;
  return EXIT_FAILED;
}

static int
run (Ctl *ctl, const Command *command, char **args)
{
  g_autoptr (GError) error = NULL;
  GBusType type = ctl->opt.system_bus ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION;

  ctl->bus = g_bus_get_sync (type, NULL, &error);
  if (ctl->bus == NULL)
    {
      g_printerr (ctl->opt.system_bus
                      ? _ ("securecommctl: cannot connect to the system bus: %s\n")
                      : _ ("securecommctl: cannot connect to the session bus: %s\n"),
                  error->message);
      return EXIT_NO_DAEMON;
    }
  /* A bus that goes away is an error to report, not a reason to be killed
   * (GDBus raises SIGTERM by default). */
  g_dbus_connection_set_exit_on_close (ctl->bus, FALSE);
  if (!command->run (ctl, args, &error))
    {
      print_error (ctl, error);
      return exit_code_for (error);
    }
  return EXIT_OK;
}

int
main (int argc, char **argv)
{
  Ctl ctl = { 0 };
  g_autoptr (GOptionContext) ctx = NULL;
  g_autoptr (GError) error = NULL;
  const Command *command = NULL;
  int ret;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  ctx = make_context (&ctl.opt);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      usage_error (error->message);
      return EXIT_USAGE;
    }
  if (ctl.opt.version)
    {
      g_print ("securecommctl %s\n", PACKAGE_VERSION);
      return EXIT_OK;
    }
  drop_double_dash (&argc, argv);
  if (!check_arguments (&ctl.opt, argc, argv, &command))
    return EXIT_USAGE;
  ret = run (&ctl, command, argv + 2);
  g_clear_object (&ctl.bus);
  g_clear_pointer (&ctl.loop, g_main_loop_unref);
  g_free (ctl.owner);
  g_clear_error (&ctl.loop_error);
  return ret;
}
