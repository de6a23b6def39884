/* itest.c: the harness of the securecommd integration tests (see itest.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "itest.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>

/* ---- small things ------------------------------------------------------- */

static const char *
need_env (const char *name)
{
  const char *value = g_getenv (name);

  if (value == NULL || value[0] == '\0')
    g_error ("%s is not set: run the integration tests through meson test", name);
  return value;
}

/**
 * it_init:
 *
 * g_test_init (), after choosing GIO's dummy proxy resolver for this
 * process and its children: the connections go to 127.0.0.1 and need no
 * proxy, and the libproxy module (C++) aborts under AddressSanitizer when
 * GSocketClient asks it (its __cxa_throw cannot be intercepted).
 */
void
it_init (int *argc, char ***argv)
{
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  g_test_init (argc, argv, NULL);
}

/* The private bus's dbus-daemon, while a fixture is up. */
static volatile sig_atomic_t bus_pid;

/* A failed assertion aborts the test process. GTestDBus's watcher would
 * then wait for the orphaned dbus-daemon, which holds the test's output
 * open: stop the bus here so that the failure is reported at once. */
static void
on_fatal_signal (int sig)
{
  if (bus_pid > 0)
    kill ((pid_t) bus_pid, SIGKILL);
  raise (sig); /* SA_RESETHAND: the default action now */
}

static void
catch_fatal_signals (void)
{
  struct sigaction sa;

  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_fatal_signal;
  sa.sa_flags = (int) SA_RESETHAND;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGABRT, &sa, NULL);
  sigaction (SIGTRAP, &sa, NULL);
}

static void
note_bus_pid (ItFixture *fx)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      fx->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
      "GetConnectionUnixProcessID", g_variant_new ("(s)", "org.freedesktop.DBus"),
      G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, IT_GUARD_S * 1000, NULL, &error);
  guint32 pid = 0;

  if (reply == NULL)
    {
      it_note ("cannot learn the bus's pid: %s", error->message);
      return;
    }
  g_variant_get (reply, "(u)", &pid);
  bus_pid = (sig_atomic_t) pid;
  catch_fatal_signals ();
}

typedef struct
{
  const char *config;
  ItTestFunc func;
  GTestFunc plain;
} ItCase;

/* Each case runs in a process of its own (g_test_trap_subprocess ()): a
 * case that crashes, or whose daemon does, fails alone, and the cases
 * after it still run. Its stderr (where a failure and the daemon's
 * output are printed) is the test's. */
static void
run_case (gconstpointer data)
{
  const ItCase *c = data;

  if (g_test_subprocess () && c->plain != NULL)
    {
      c->plain ();
      return;
    }
  if (g_test_subprocess ())
    {
      ItFixture fx;

      memset (&fx, 0, sizeof fx);
      it_setup (&fx, c->config);
      c->func (&fx, c->config);
      it_teardown (&fx, c->config);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  if (!g_test_trap_has_passed ())
    g_test_fail_printf ("the case failed in its process (see above)");
}

void
it_add (const char *path, const char *config, ItTestFunc func)
{
  ItCase *c = g_new0 (ItCase, 1);

  c->config = config;
  c->func = func;
  g_test_add_data_func_full (path, c, run_case, g_free);
}

void
it_add_func (const char *path, GTestFunc func)
{
  ItCase *c = g_new0 (ItCase, 1);

  c->plain = func;
  g_test_add_data_func_full (path, c, run_case, g_free);
}

static gboolean
tick (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

gint64
it_deadline (void)
{
  return g_get_monotonic_time () + IT_GUARD_S * G_USEC_PER_SEC;
}

void
it_iterate (ItFixture *fx, gint64 deadline, const char *what, const char *loc)
{
  g_autofree char *msg = NULL;

  if (fx != NULL && fx->daemon_exited && !fx->expect_exit)
    msg = g_strdup_printf ("securecommd exited while waiting for: %s", what);
  else if (g_get_monotonic_time () > deadline)
    msg = g_strdup_printf ("still waiting after %d s (hang guard) for: %s", IT_GUARD_S, what);
  if (msg != NULL)
    {
      if (fx != NULL)
        it_dump_log (fx);
      g_assertion_message (G_LOG_DOMAIN, loc, 0, "IT_WAIT", msg);
    }
  g_main_context_iteration (NULL, TRUE);
}

void
it_note (const char *format, ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("# %s\n", text);
}

void
it_drain (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
rm_rf (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        rm_rf (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

/* ---- the daemon process --------------------------------------------------- */

static void
child_setup (gpointer data)
{
  /* Children die with the test: a failed assertion leaves nothing behind. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/**
 * it_launcher_new:
 *
 * A launcher for the daemon and the helper clients: the current
 * environment (which holds the private bus address once the fixture is
 * up), warnings fatal, the daemon's passphrase, and death with the test.
 */
GSubprocessLauncher *
it_launcher_new (void)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);

  g_subprocess_launcher_setenv (launcher, "G_DEBUG", "fatal-warnings", TRUE);
  g_subprocess_launcher_setenv (launcher, "SECURECOMMD_PASSPHRASE", "integration test", TRUE);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  return launcher;
}

static void
on_daemon_exit (GObject *source, GAsyncResult *result, gpointer data)
{
  ItFixture *fx = data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  fx->daemon_exited = TRUE;
}

static void
start_daemon (ItFixture *fx)
{
  g_autoptr (GSubprocessLauncher) launcher = it_launcher_new ();
  g_autofree char *state_dir = g_build_filename (fx->dir, "state", NULL);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *port = g_strdup_printf ("%u", fx->port); /* 0 at first: any */

  g_subprocess_launcher_set_flags (launcher, G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_stdout_file_path (launcher, fx->log_path);
  g_ptr_array_add (argv, (char *) need_env ("SC_SECURECOMMD"));
  g_ptr_array_add (argv, "--session");
  g_ptr_array_add (argv, "--port");
  g_ptr_array_add (argv, port);
  g_ptr_array_add (argv, "--state-dir");
  g_ptr_array_add (argv, state_dir);
  g_ptr_array_add (argv, "--verbose");
  if (fx->config_path != NULL)
    {
      g_ptr_array_add (argv, "--config");
      g_ptr_array_add (argv, fx->config_path);
    }
  g_ptr_array_add (argv, NULL);
  fx->daemon = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_wait_async (fx->daemon, NULL, on_daemon_exit, fx);
}

char *
it_read_log (ItFixture *fx)
{
  char *text = NULL;

  if (!g_file_get_contents (fx->log_path, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

void
it_dump_log (ItFixture *fx)
{
  g_autofree char *log = it_read_log (fx);

  g_printerr ("---- securecommd output (%s) ----\n%s---- end of securecommd output ----\n",
              fx->log_path, log);
}

void
it_wait_daemon_exit (ItFixture *fx)
{
  fx->expect_exit = TRUE;
  IT_WAIT (fx, fx->daemon_exited);
}

/* -1 when the daemon did not exit normally (a signal, an abort). */
int
it_daemon_exit_status (ItFixture *fx)
{
  g_assert_true (fx->daemon_exited);
  if (!g_subprocess_get_if_exited (fx->daemon))
    return -1;
  return g_subprocess_get_exit_status (fx->daemon);
}

/* ---- the bus ------------------------------------------------------------- */

GDBusConnection *
it_bus_connect (ItFixture *fx)
{
  g_autoptr (GError) error = NULL;
  GDBusConnection *conn = g_dbus_connection_new_for_address_sync (
      g_test_dbus_get_bus_address (fx->bus),
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);

  g_assert_no_error (error);
  return conn;
}

static void
on_name_appeared (GDBusConnection *conn, const char *name, const char *owner, gpointer data)
{
  ItFixture *fx = data;

  g_free (fx->daemon_unique_name);
  fx->daemon_unique_name = g_strdup (owner);
}

static void
on_name_vanished (GDBusConnection *conn, const char *name, gpointer data)
{
  ItFixture *fx = data;

  /* Also called at once when the name has no owner yet. */
  if (fx->daemon_unique_name != NULL)
    fx->name_vanished = TRUE;
}

static void
on_signal (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
           const char *name, GVariant *params, gpointer data)
{
  ItFixture *fx = data;
  ItSignal *s = g_new0 (ItSignal, 1);

  s->name = g_strdup (name);
  s->params = g_variant_ref (params);
  g_ptr_array_add (fx->signals, s);
}

static void
it_signal_free (ItSignal *s)
{
  g_free (s->name);
  g_variant_unref (s->params);
  g_free (s);
}

/* The port of the 127.0.0.1 entry of ListenAddresses. */
static guint16
loopback_port (GDBusProxy *proxy)
{
  g_autoptr (GVariant) v = g_dbus_proxy_get_cached_property (proxy, "ListenAddresses");
  g_autofree const char **addrs = NULL;
  guint64 port = 0;

  g_assert_nonnull (v);
  addrs = g_variant_get_strv (v, NULL);
  for (guint i = 0; addrs[i] != NULL; i++)
    if (g_str_has_prefix (addrs[i], "127.0.0.1:"))
      g_assert_true (
          g_ascii_string_to_unsigned (addrs[i] + strlen ("127.0.0.1:"), 10, 1, 65535, &port, NULL));
  if (port == 0)
    g_error ("ListenAddresses has no 127.0.0.1 entry: %s", g_variant_print (v, FALSE));
  return (guint16) port;
}

static void
connect_to_daemon (ItFixture *fx)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) fp = NULL;

  fx->name_watch = g_bus_watch_name_on_connection (fx->conn, IT_BUS_NAME,
                                                   G_BUS_NAME_WATCHER_FLAGS_NONE, on_name_appeared,
                                                   on_name_vanished, fx, NULL);
  IT_WAIT (fx, fx->daemon_unique_name != NULL);
  fx->proxy = g_dbus_proxy_new_sync (fx->conn, G_DBUS_PROXY_FLAGS_NONE, NULL, IT_BUS_NAME, IT_PATH,
                                     IT_IFACE, NULL, &error);
  g_assert_no_error (error);
  fx->port = loopback_port (fx->proxy);
  fp = g_dbus_proxy_get_cached_property (fx->proxy, "ServerFingerprint");
  g_assert_nonnull (fp);
  fx->fingerprint = g_variant_dup_string (fp, NULL);
  g_assert_cmpuint (strlen (fx->fingerprint), ==, SC_IDENTITY_FINGERPRINT_LEN);
  /* Signals from the daemon's connection only, whatever their destination. */
  fx->signal_sub = g_dbus_connection_signal_subscribe (
      fx->conn, fx->daemon_unique_name, IT_IFACE, NULL, IT_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
      on_signal, fx, NULL);
  g_variant_unref (it_call_ok (fx, "Subscribe", NULL, "()"));
}

void
it_setup (ItFixture *fx, gconstpointer config_json)
{
  g_autoptr (GError) error = NULL;

  sc_error_quark (); /* maps io.github.SecureComm1.Error.* back to SC_ERROR */
  fx->dir = g_dir_make_tmp ("sc-itest-XXXXXX", &error);
  g_assert_no_error (error);
  fx->log_path = g_build_filename (fx->dir, "DAEMON.log", NULL);
  if (config_json != NULL)
    {
      fx->config_path = g_build_filename (fx->dir, "securecommd.json", NULL);
      g_file_set_contents (fx->config_path, config_json, -1, &error);
      g_assert_no_error (error);
    }
  fx->signals = g_ptr_array_new_with_free_func ((GDestroyNotify) it_signal_free);
  fx->clients = g_ptr_array_new ();
  fx->tick = g_timeout_source_new (100);
  g_source_set_callback (fx->tick, tick, NULL, NULL);
  g_source_attach (fx->tick, NULL);

  fx->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (fx->bus);
  fx->conn = it_bus_connect (fx);
  note_bus_pid (fx);
  start_daemon (fx);
  connect_to_daemon (fx);
}

/**
 * it_restart_daemon:
 *
 * Kills the daemon with SIGKILL (no close messages, no cleanup) and starts
 * it again on the same port with the same state directory, hence the same
 * identity; the fixture follows the new process on the bus.
 */
void
it_restart_daemon (ItFixture *fx)
{
  g_autofree char *old_fp = g_strdup (fx->fingerprint);
  guint16 port = fx->port;

  fx->expect_exit = TRUE;
  g_subprocess_send_signal (fx->daemon, SIGKILL);
  IT_WAIT (fx, fx->daemon_exited);
  g_assert_cmpint (g_subprocess_get_term_sig (fx->daemon), ==, SIGKILL);
  IT_WAIT (fx, fx->name_vanished);
  g_dbus_connection_signal_unsubscribe (fx->conn, fx->signal_sub);
  g_bus_unwatch_name (fx->name_watch);
  g_clear_object (&fx->proxy);
  g_clear_object (&fx->daemon);
  g_clear_pointer (&fx->daemon_unique_name, g_free);
  g_clear_pointer (&fx->fingerprint, g_free);
  fx->daemon_exited = FALSE;
  fx->name_vanished = FALSE;
  start_daemon (fx);
  fx->expect_exit = FALSE;
  connect_to_daemon (fx);
  g_assert_cmpuint (fx->port, ==, port);
  g_assert_cmpstr (fx->fingerprint, ==, old_fp);
}

static void
it_client_free (ItClient *c)
{
  g_signal_handlers_disconnect_by_data (c->client, c);
  g_object_unref (c->client); /* shuts the client down */
  g_free (c->id);
  g_clear_pointer (&c->info, g_variant_unref);
  g_ptr_array_unref (c->received);
  g_array_unref (c->states);
  g_ptr_array_unref (c->errors);
  g_free (c);
}

/* Fails the current case without stopping it; says why on stderr. */
void
it_fail (const char *format, ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("FAILED: %s\n", text);
  g_test_fail_printf ("%s", text);
}

/* Fails the case unless the daemon exited with status 0 (under
 * AddressSanitizer, a leak makes it exit otherwise). */
void
it_check_daemon_exit (ItFixture *fx)
{
  int status = it_daemon_exit_status (fx);

  if (status == 0)
    return;
  if (status > 0)
    it_fail ("securecommd exited with status %d, not 0: see its output", status);
  else
    it_fail ("securecommd was killed by signal %d: see its output",
             g_subprocess_get_term_sig (fx->daemon));
}

static void
stop_daemon (ItFixture *fx)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;

  if (fx->daemon_exited)
    return;
  reply = it_call (fx, NULL, "Shutdown", NULL, "()", &error);
  if (reply == NULL)
    {
      it_fail ("Shutdown() at teardown failed: %s", error->message);
      g_subprocess_send_signal (fx->daemon, SIGTERM);
    }
  it_wait_daemon_exit (fx);
  it_check_daemon_exit (fx);
}

void
it_teardown (ItFixture *fx, gconstpointer config_json)
{
  stop_daemon (fx);
  if (g_test_failed ())
    it_dump_log (fx);
  for (guint i = 0; i < fx->clients->len; i++)
    it_client_free (fx->clients->pdata[i]);
  g_ptr_array_unref (fx->clients);
  it_drain (); /* the clients' last queued signal emissions */
  g_clear_object (&fx->proxy);
  if (fx->signal_sub != 0)
    g_dbus_connection_signal_unsubscribe (fx->conn, fx->signal_sub);
  if (fx->name_watch != 0)
    g_bus_unwatch_name (fx->name_watch);
  g_dbus_connection_close_sync (fx->conn, NULL, NULL);
  g_clear_object (&fx->conn);
  it_drain ();
  g_test_dbus_down (fx->bus);
  bus_pid = 0;
  g_clear_object (&fx->bus);
  g_clear_object (&fx->daemon);
  g_source_destroy (fx->tick);
  g_source_unref (fx->tick);
  g_ptr_array_unref (fx->signals);
  rm_rf (fx->dir);
  g_free (fx->dir);
  g_free (fx->config_path);
  g_free (fx->log_path);
  g_free (fx->daemon_unique_name);
  g_free (fx->fingerprint);
}

/* ---- calls --------------------------------------------------------------- */

GVariant *
it_call (ItFixture *fx, GDBusConnection *conn, const char *method, GVariant *params,
         const char *reply_type, GError **error)
{
  return g_dbus_connection_call_sync (conn != NULL ? conn : fx->conn, IT_BUS_NAME, IT_PATH,
                                      IT_IFACE, method, params,
                                      reply_type ? G_VARIANT_TYPE (reply_type) : NULL,
                                      G_DBUS_CALL_FLAGS_NONE, IT_GUARD_S * 1000, NULL, error);
}

GVariant *
it_call_ok (ItFixture *fx, const char *method, GVariant *params, const char *reply_type)
{
  g_autoptr (GError) error = NULL;
  GVariant *reply = it_call (fx, NULL, method, params, reply_type, &error);

  g_assert_no_error (error);
  return reply;
}

void
it_assert_remote_error (const GError *error, const char *short_name)
{
  g_autofree char *expected = g_strconcat (IT_ERROR_PREFIX, short_name, NULL);
  g_autofree char *remote = NULL;

  g_assert_nonnull (error);
  g_assert_true (g_dbus_error_is_remote_error (error));
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, expected);
}

char **
it_get_client_ids (ItFixture *fx)
{
  g_autoptr (GVariant) reply = it_call_ok (fx, "GetClientIds", NULL, "(as)");
  char **ids = NULL;

  g_variant_get (reply, "(^as)", &ids);
  return ids;
}

static int
cmp_str (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

void
it_assert_client_ids (ItFixture *fx, const char *const *expected)
{
  g_auto (GStrv) got = it_get_client_ids (fx);
  g_auto (GStrv) want = g_strdupv ((char **) expected);

  qsort (got, g_strv_length (got), sizeof (char *), cmp_str);
  qsort (want, g_strv_length (want), sizeof (char *), cmp_str);
  g_assert_cmpstrv (got, want);
}

guint64
it_send (ItFixture *fx, const char *id, const char *text)
{
  g_autoptr (GVariant)
      reply = it_call_ok (fx, "SendMessage", g_variant_new ("(ss)", id, text), "(t)");
  guint64 msg_id = 0;

  g_variant_get (reply, "(t)", &msg_id);
  g_assert_cmpuint (msg_id, >, 0);
  return msg_id;
}

/* ---- signals ------------------------------------------------------------- */

static ItSignal *
find_signal (ItFixture *fx, const char *name, const char *client_id)
{
  for (guint i = 0; i < fx->signals->len; i++)
    {
      ItSignal *s = fx->signals->pdata[i];
      const char *id = NULL;

      if (s->taken || !g_str_equal (s->name, name))
        continue;
      g_variant_get_child (s->params, 0, "&s", &id);
      if (client_id == NULL || g_str_equal (id, client_id))
        return s;
    }
  return NULL;
}

/**
 * it_take_signal:
 *
 * Waits for the first signal @name (for @client_id, or any) not taken yet,
 * in the order they arrived, and marks it taken.
 */
ItSignal *
it_take_signal (ItFixture *fx, const char *name, const char *client_id)
{
  ItSignal *s = NULL;

  IT_WAIT (fx, (s = find_signal (fx, name, client_id)) != NULL);
  s->taken = TRUE;
  return s;
}

guint
it_count_signals (ItFixture *fx, const char *name, const char *client_id)
{
  guint n = 0;

  for (guint i = 0; i < fx->signals->len; i++)
    {
      ItSignal *s = fx->signals->pdata[i];
      const char *id = NULL;

      g_variant_get_child (s->params, 0, "&s", &id);
      if (!s->taken && g_str_equal (s->name, name)
          && (client_id == NULL || g_str_equal (id, client_id)))
        n++;
    }
  return n;
}

char *
it_take_disconnect_reason (ItFixture *fx, const char *client_id)
{
  ItSignal *s = it_take_signal (fx, "ClientDisconnected", client_id);
  char *reason = NULL;

  g_assert_true (g_variant_is_of_type (s->params, G_VARIANT_TYPE ("(ss)")));
  g_variant_get_child (s->params, 1, "s", &reason);
  return reason;
}

/* ---- clients ------------------------------------------------------------- */

static void
on_client_message (ScClient *client, GBytes *message, gpointer data)
{
  ItClient *c = data;
  gsize len;
  const char *bytes = g_bytes_get_data (message, &len);

  g_ptr_array_add (c->received, g_strndup (bytes ? bytes : "", len));
}

static void
on_client_state (ScClient *client, ScClientState old_state, ScClientState new_state, gpointer data)
{
  ItClient *c = data;

  g_array_append_val (c->states, new_state);
}

static void
on_client_error (ScClient *client, GError *error, gpointer data)
{
  ItClient *c = data;

  it_note ("client %s: error signal: %s", c->id ? c->id : "(no id)", error->message);
  g_ptr_array_add (c->errors, g_error_copy (error));
}

/**
 * it_client_new:
 * @identity: (nullable): the client's identity key, or %NULL for anonymous
 * @pin: (nullable): the server fingerprint to trust; %NULL: the daemon's
 *
 * A listening ScClient, not connected yet, freed at teardown.
 */
ItClient *
it_client_new (ItFixture *fx, ScIdentity *identity, const char *pin)
{
  ItClient *c = g_new0 (ItClient, 1);

  c->client = sc_client_new (NULL);
  c->received = g_ptr_array_new_with_free_func (g_free);
  c->states = g_array_new (FALSE, FALSE, sizeof (ScClientState));
  c->errors = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);
  sc_client_set_pinned_fingerprint (c->client, pin != NULL ? pin : fx->fingerprint);
  if (identity != NULL)
    sc_client_set_identity (c->client, identity);
  g_signal_connect (c->client, "message-received", G_CALLBACK (on_client_message), c);
  g_signal_connect (c->client, "state-changed", G_CALLBACK (on_client_state), c);
  g_signal_connect (c->client, "error", G_CALLBACK (on_client_error), c);
  sc_client_start_listening (c->client);
  g_ptr_array_add (fx->clients, c);
  return c;
}

static gboolean
is_hex (const char *s, gsize len)
{
  return strlen (s) == len && strspn (s, "0123456789abcdef") == len;
}

/**
 * it_connect:
 * @identity: (nullable): the client's identity key
 *
 * Connects a new client and waits until the daemon announces it; the id
 * in ClientConnected must have the documented form.
 */
ItClient *
it_connect (ItFixture *fx, ScIdentity *identity)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *expected = NULL;
  ItClient *c = it_client_new (fx, identity, NULL);
  ItSignal *s;

  if (identity != NULL)
    expected = g_strdup_printf ("key-%.32s", sc_identity_get_fingerprint (identity));
  sc_client_establish_secure_session (c->client, "127.0.0.1", fx->port, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sc_client_get_server_fingerprint (c->client), ==, fx->fingerprint);
  /* The next announcement is this client's: clients connect one by one. */
  s = it_take_signal (fx, "ClientConnected", NULL);
  g_assert_true (g_variant_is_of_type (s->params, G_VARIANT_TYPE ("(sa{sv})")));
  g_variant_get (s->params, "(s@a{sv})", &c->id, &c->info);
  if (expected != NULL)
    g_assert_cmpstr (c->id, ==, expected);
  else
    {
      g_assert_true (g_str_has_prefix (c->id, "anon-"));
      g_assert_true (is_hex (c->id + strlen ("anon-"), 16));
    }
  return c;
}

static gboolean
has_message (ItClient *c, const char *text)
{
  for (guint i = 0; i < c->received->len; i++)
    if (g_str_equal (c->received->pdata[i], text))
      return TRUE;
  return FALSE;
}

void
it_client_wait_message (ItFixture *fx, ItClient *c, const char *text)
{
  IT_WAIT (fx, has_message (c, text));
}

static gboolean
has_state (ItClient *c, ScClientState state)
{
  for (guint i = 0; i < c->states->len; i++)
    if (g_array_index (c->states, ScClientState, i) == state)
      return TRUE;
  return FALSE;
}

/* Waits for the state-changed signal into @state. */
void
it_client_wait_state (ItFixture *fx, ItClient *c, ScClientState state)
{
  IT_WAIT (fx, has_state (c, state));
  g_assert_cmpint (sc_client_get_state (c->client), ==, state);
}

/* Waits until the client has been in @state, whatever it is in now (a
 * reconnecting client moves on by itself). */
void
it_client_wait_passed_state (ItFixture *fx, ItClient *c, ScClientState state)
{
  IT_WAIT (fx, has_state (c, state));
}

static ItSignal *
find_message (ItFixture *fx, const char *client_id, const char *text)
{
  for (guint i = 0; i < fx->signals->len; i++)
    {
      ItSignal *s = fx->signals->pdata[i];
      const char *id = NULL, *msg = NULL;

      if (s->taken || !g_str_equal (s->name, "MessageReceived"))
        continue;
      g_variant_get (s->params, "(&s&s)", &id, &msg);
      if (g_str_equal (id, client_id) && g_str_equal (msg, text))
        return s;
    }
  return NULL;
}

/**
 * it_exchange:
 *
 * One message each way between the daemon and @c: SendMessage arrives at
 * the client, and what the client sends arrives as MessageReceived.
 */
void
it_exchange (ItFixture *fx, ItClient *c)
{
  static guint n;
  g_autofree char *down = g_strdup_printf ("to client %s #%u", c->id, ++n);
  g_autofree char *up = g_strdup_printf ("from client %s #%u", c->id, n);
  g_autoptr (GError) error = NULL;
  ItSignal *s = NULL;

  it_send (fx, c->id, down);
  it_client_wait_message (fx, c, down);
  sc_client_send_message (c->client, up, &error);
  g_assert_no_error (error);
  IT_WAIT (fx, (s = find_message (fx, c->id, up)) != NULL);
  s->taken = TRUE;
}

/* Closes @c from its side; returns the reason of its ClientDisconnected. */
char *
it_client_close (ItFixture *fx, ItClient *c)
{
  sc_client_shutdown (c->client);
  return it_take_disconnect_reason (fx, c->id);
}

/**
 * it_assert_serving:
 * @existing: (nullable): a client connected before
 *
 * The daemon still serves: @existing still exchanges messages, and a fresh
 * client connects, exchanges messages and leaves cleanly.
 */
void
it_assert_serving (ItFixture *fx, ItClient *existing)
{
  ItClient *fresh;
  g_autofree char *reason = NULL;

  if (existing != NULL)
    it_exchange (fx, existing);
  fresh = it_connect (fx, NULL);
  it_exchange (fx, fresh);
  reason = it_client_close (fx, fresh);
  g_assert_cmpstr (reason, ==, "closed by peer");
}

/* ---- sc-test-client ------------------------------------------------------ */

/* Runs sc-test-client against the daemon: its stdin is a pipe (closing it
 * ends the client), its stdout is returned as a line reader in @out. */
GSubprocess *
it_spawn_test_client (ItFixture *fx, GDataInputStream **out)
{
  g_autoptr (GSubprocessLauncher) launcher = it_launcher_new ();
  g_autofree char *port = g_strdup_printf ("%u", fx->port);
  g_autoptr (GError) error = NULL;
  GSubprocess *child;

  g_subprocess_launcher_set_flags (launcher,
                                   G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  child = g_subprocess_launcher_spawn (launcher, &error, need_env ("SC_TEST_CLIENT"), "127.0.0.1",
                                       port, fx->fingerprint, NULL);
  g_assert_no_error (error);
  *out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (child));
  return child;
}

typedef struct
{
  gboolean done;
  char *line;
} LineRead;

static void
on_line (GObject *source, GAsyncResult *result, gpointer data)
{
  LineRead *r = data;

  r->line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL,
                                                       NULL);
  r->done = TRUE;
}

/* The next line, or NULL at the end of the stream. */
char *
it_read_line (ItFixture *fx, GDataInputStream *in)
{
  LineRead r = { FALSE, NULL };

  g_data_input_stream_read_line_async (in, G_PRIORITY_DEFAULT, NULL, on_line, &r);
  IT_WAIT (fx, r.done);
  return r.line;
}
