/* securecommd: the SecureComm daemon.
 *
 * Thin over libsecurecomm: parse options and the configuration, load (or
 * create) the identity key, start a ScServer, export it on D-Bus, and run
 * the main loop until SIGTERM, SIGINT or Shutdown(). SIGHUP reloads what
 * can change at run time: the allowed client keys, the idle timeout and the
 * TLS certificate (which sc-daemon-tls.c also reloads when its files change).
 * In TLS mode the process-wide TLS settings are applied before any thread
 * starts (sc_daemon_tls_prepare).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include "sc-daemon-config.h"
#include "sc-daemon-dbus.h"
#include "sc-daemon-tls.h"
#include "sc-error.h"
#include "sc-identity.h"
#include "sc-server.h"

#define SC_BUS_NAME "io.github.SecureComm1"

/* Exit codes, as securecommd(8) documents them. */
enum
{
  EXIT_OK = 0,
  EXIT_RUNTIME = 1,
  EXIT_USAGE = 2,
};

typedef enum
{
  BUS_SESSION,
  BUS_SYSTEM,
  BUS_NONE,
} BusKind;

typedef struct
{
  char *config_path;
  char *tls_config_path;
  char *host;
  int port;
  gboolean system_bus, session_bus, no_bus;
  char *state_dir;
  gboolean check_config;
  gboolean verbose;
  gboolean version;
} Options;

typedef struct
{
  Options opt;
  BusKind bus;
  ScDaemonConfig *config;
  ScServer *server;
  GMainLoop *loop;
  guint name_id;
  ScDaemonDbus *dbus;
  ScDaemonTls *tls;
  int exit_code;
} Daemon;

static void
options_clear (Options *opt)
{
  g_clear_pointer (&opt->config_path, g_free);
  g_clear_pointer (&opt->tls_config_path, g_free);
  g_clear_pointer (&opt->host, g_free);
  g_clear_pointer (&opt->state_dir, g_free);
}

static gboolean
parse_options (Options *opt, int *argc, char ***argv, GError **error)
{
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &opt->config_path,
      N_ ("Configuration file (JSON, see securecommd.json(5))"), N_ ("FILE") },
    { "tls-config", 0, 0, G_OPTION_ARG_FILENAME, &opt->tls_config_path,
      N_ ("TLS settings (a tls_config.json file); replace the configuration's \"tls\" section"),
      N_ ("FILE") },
    { "host", 0, 0, G_OPTION_ARG_STRING, &opt->host,
      N_ ("Listen on this host or address (default: localhost)"), N_ ("HOST") },
    { "port", 'p', 0, G_OPTION_ARG_INT, &opt->port,
      N_ ("Listen on this TCP port (default: 12345; 0: any free port)"), N_ ("PORT") },
    { "system", 0, 0, G_OPTION_ARG_NONE, &opt->system_bus, N_ ("Use the system bus"), NULL },
    { "session", 0, 0, G_OPTION_ARG_NONE, &opt->session_bus,
      N_ ("Use the session bus (the default)"), NULL },
    { "no-bus", 0, 0, G_OPTION_ARG_NONE, &opt->no_bus, N_ ("Do not use D-Bus at all"), NULL },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt->state_dir, N_ ("Keep the identity key here"),
      N_ ("DIR") },
    { "check-config", 0, 0, G_OPTION_ARG_NONE, &opt->check_config,
      N_ ("Check the configuration and exit"), NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt->verbose, N_ ("Log debug messages"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &opt->version, N_ ("Print the version and exit"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);

  opt->port = -1;
  g_option_context_set_summary (ctx, _ ("The SecureComm daemon: accepts encrypted, authenticated "
                                        "SecureComm sessions and is controlled over D-Bus."));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (ctx, argc, argv, error))
    return FALSE;
  if (opt->system_bus + opt->session_bus + opt->no_bus > 1)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           _ ("--system, --session and --no-bus exclude each other"));
      return FALSE;
    }
  if (opt->port != -1 && (opt->port < 0 || opt->port > 65535))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _ ("--port must be from 0 (any free port) to 65535 (got %d)"), opt->port);
      return FALSE;
    }
  return TRUE;
}

/* Splits "host:port" or "[v6]:port"; the config loader validated it. */
static gboolean
split_address (const char *addr, char **host, guint16 *port)
{
  g_autoptr (GSocketConnectable) c = g_network_address_parse (addr, SC_DAEMON_DEFAULT_PORT, NULL);

  if (c == NULL)
    return FALSE;
  *host = g_strdup (g_network_address_get_hostname (G_NETWORK_ADDRESS (c)));
  *port = g_network_address_get_port (G_NETWORK_ADDRESS (c));
  return TRUE;
}

static gboolean
load_config (Daemon *d, GError **error)
{
  d->config = sc_daemon_config_new ();
  if (d->opt.config_path != NULL
      && !sc_daemon_config_load_file (d->config, d->opt.config_path, error))
    return FALSE;
  if (d->opt.tls_config_path != NULL
      && !sc_daemon_config_load_tls_file (d->config, d->opt.tls_config_path, error))
    return FALSE;
  if (d->opt.state_dir != NULL)
    sc_daemon_config_set_state_dir (d->config, d->opt.state_dir);
  if (d->opt.host != NULL || d->opt.port != -1)
    {
      g_autofree char *host = NULL;
      guint16 port = SC_DAEMON_DEFAULT_PORT;
      g_autofree char *addr = NULL;

      if (d->config->listen != NULL && d->config->listen[0] != NULL)
        split_address (d->config->listen[0], &host, &port);
      if (d->opt.host != NULL)
        {
          g_free (host);
          host = g_strdup (d->opt.host);
        }
      if (d->opt.port != -1)
        port = (guint16) d->opt.port;
      addr = strchr (host ? host : SC_DAEMON_DEFAULT_HOST, ':')
                 ? g_strdup_printf ("[%s]:%u", host, port)
                 : g_strdup_printf ("%s:%u", host ? host : SC_DAEMON_DEFAULT_HOST, port);
      g_strfreev (d->config->listen);
      d->config->listen = g_new0 (char *, 2);
      d->config->listen[0] = g_steal_pointer (&addr);
    }
  return TRUE;
}

static ScIdentity *
load_identity (Daemon *d, GError **error)
{
  ScDaemonConfig *c = d->config;
  g_autoptr (ScIdentity) identity = NULL;
  char *passphrase;
  gboolean created = FALSE;

  passphrase = sc_passphrase_read (c->passphrase_file, c->passphrase_credential, c->passphrase_env,
                                   error);
  if (passphrase == NULL)
    return NULL;
  identity = sc_identity_load_or_create (c->identity_key, passphrase, &created, error);
  sc_passphrase_free (passphrase);
  if (identity == NULL)
    return NULL;
  g_message (created ? _ ("created a new identity key %s, fingerprint %s")
                     : _ ("identity key %s, fingerprint %s"),
             c->identity_key, sc_identity_get_fingerprint (identity));
  return g_steal_pointer (&identity);
}

static ScClientAuthMode
client_auth_mode (const char *name)
{
  if (g_strcmp0 (name, "none") == 0)
    return SC_CLIENT_AUTH_MODE_NONE;
  if (g_strcmp0 (name, "required") == 0)
    return SC_CLIENT_AUTH_MODE_REQUIRED;
  return SC_CLIENT_AUTH_MODE_OPTIONAL;
}

static ScServer *
make_server (Daemon *d, ScIdentity *identity)
{
  ScDaemonConfig *c = d->config;
  g_autofree char *host = NULL;
  guint16 port = SC_DAEMON_DEFAULT_PORT;
  ScServer *server;

  if (!split_address (c->listen[0], &host, &port))
    g_assert_not_reached (); /* validated by the config loader */
  server = sc_server_new (host, port, sc_tls_config_get_enabled (c->tls) ? c->tls : NULL);
  for (guint i = 1; c->listen[i] != NULL; i++)
    {
      g_autofree char *h = NULL;
      guint16 p = 0;

      if (split_address (c->listen[i], &h, &p))
        sc_server_add_address (server, h, p);
    }
  g_object_set (server, "identity", identity, "workers", c->workers, "heartbeat-interval",
                c->heartbeat_interval_ms, "heartbeat-missed", c->heartbeat_missed,
                "handshake-timeout", c->handshake_timeout_ms, "idle-timeout", c->idle_timeout_ms,
                "max-clients", c->max_clients, "max-handshakes", c->max_handshakes,
                "max-per-source", c->max_per_source, "max-message-size", c->max_message_size,
                "max-clock-skew", c->max_skew_ms, "rekey-after-time", c->rekey_after_ms,
                "rekey-after-records", c->rekey_after_records, "rekey-after-bytes",
                c->rekey_after_bytes, "client-auth", client_auth_mode (c->client_auth), NULL);
  sc_server_set_allowed_clients (server, (const char *const *) c->allowed_clients);
  return server;
}

/* ---- D-Bus --------------------------------------------------------------- */

static void
request_shutdown (gpointer data)
{
  Daemon *d = data;

  g_main_loop_quit (d->loop);
}

static void
on_bus_acquired (GDBusConnection *connection, const char *name, gpointer data)
{
  Daemon *d = data;
  g_autoptr (GError) error = NULL;

  d->dbus = sc_daemon_dbus_new (connection, d->server, request_shutdown, d, &error);
  if (d->dbus == NULL)
    {
      g_critical (_ ("cannot export the D-Bus interface: %s"), error->message);
      d->exit_code = EXIT_RUNTIME;
      g_main_loop_quit (d->loop);
    }
}

static void
on_name_acquired (GDBusConnection *connection, const char *name, gpointer data)
{
  g_message (_ ("owns the bus name %s"), name);
}

static void
on_name_lost (GDBusConnection *connection, const char *name, gpointer data)
{
  Daemon *d = data;

  if (connection == NULL)
    g_critical (_ ("cannot connect to the message bus"));
  else
    g_critical (_ ("cannot own the bus name %s (another securecommd running?)"), name);
  d->exit_code = EXIT_RUNTIME;
  g_main_loop_quit (d->loop);
}

/* ---- signals -------------------------------------------------------------- */

static gboolean
on_sigterm (gpointer data)
{
  Daemon *d = data;

  g_message (_ ("shutting down"));
  g_main_loop_quit (d->loop);
  return G_SOURCE_CONTINUE;
}

/* The TLS configuration read again from where it came from at start-up:
 * --tls-config, else the "tls" section of --config. */
static ScTlsConfig *
read_tls (gpointer data, GError **error)
{
  Daemon *d = data;
  g_autoptr (ScDaemonConfig) fresh = sc_daemon_config_new ();

  if (d->opt.tls_config_path != NULL)
    {
      if (!sc_daemon_config_load_tls_file (fresh, d->opt.tls_config_path, error))
        return NULL;
    }
  else if (d->opt.config_path != NULL
           && !sc_daemon_config_load_file (fresh, d->opt.config_path, error))
    return NULL;
  return g_object_ref (fresh->tls);
}

/* Reloads what --config sets that can change at run time; returns the
 * file's configuration, or NULL when it has an error. */
static ScDaemonConfig *
reload_config_file (Daemon *d)
{
  g_autoptr (ScDaemonConfig) fresh = sc_daemon_config_new ();
  g_autoptr (GError) error = NULL;

  if (!sc_daemon_config_load_file (fresh, d->opt.config_path, &error))
    {
      g_warning (_ ("SIGHUP: keeping the running configuration: %s"), error->message);
      return NULL;
    }
  sc_server_set_allowed_clients (d->server, (const char *const *) fresh->allowed_clients);
  g_object_set (d->server, "idle-timeout", fresh->idle_timeout_ms, NULL);
  g_message (_ ("SIGHUP: reloaded %s (allowed clients, idle timeout, TLS certificate; the rest "
                "needs a restart)"),
             d->opt.config_path);
  return g_steal_pointer (&fresh);
}

static gboolean
on_sighup (gpointer data)
{
  Daemon *d = data;
  g_autoptr (ScDaemonConfig) fresh = NULL;
  g_autoptr (ScTlsConfig) tls = NULL;
  g_autoptr (GError) error = NULL;

  if (d->opt.config_path == NULL && d->opt.tls_config_path == NULL)
    {
      g_message (_ ("SIGHUP: no configuration file to reload"));
      return G_SOURCE_CONTINUE;
    }
  if (d->opt.config_path != NULL)
    fresh = reload_config_file (d);
  if (d->opt.tls_config_path != NULL)
    tls = read_tls (d, &error);
  else if (fresh != NULL)
    tls = g_object_ref (fresh->tls);
  else
    return G_SOURCE_CONTINUE; /* the file's error is logged */
  if (tls == NULL)
    g_warning (_ ("%s: TLS certificate not reloaded, the current one stays in use: %s"), "SIGHUP",
               error->message);
  else
    sc_daemon_tls_reload (d->tls, tls, "SIGHUP");
  return G_SOURCE_CONTINUE;
}

/* ---- logging --------------------------------------------------------------- */

static gboolean verbose_logging;

/* Connection events are logged at info level and must reach the journal
 * (or stderr) without G_MESSAGES_DEBUG; debug messages only with
 * --verbose. Under systemd the records go to journald, structured. */
static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  if ((level & G_LOG_LEVEL_DEBUG) && !verbose_logging)
    return G_LOG_WRITER_HANDLED;
  if (g_log_writer_is_journald (fileno (stderr)))
    return g_log_writer_journald (level, fields, n_fields, data);
  return g_log_writer_standard_streams (level, fields, n_fields, data);
}

/* ---- main ----------------------------------------------------------------- */

/* What --check-config checked, for its message. */
static char *
checked_files (const Options *opt)
{
  if (opt->config_path != NULL && opt->tls_config_path != NULL)
    return g_strdup_printf ("%s, %s", opt->config_path, opt->tls_config_path);
  if (opt->config_path != NULL || opt->tls_config_path != NULL)
    return g_strdup (opt->config_path != NULL ? opt->config_path : opt->tls_config_path);
  return g_strdup (_ ("(defaults)"));
}

/* The process-wide TLS settings, and a check of every TLS file; the error
 * names the configuration file it came from. */
static gboolean
prepare_tls (Daemon *d, GError **error)
{
  const char *source = d->opt.tls_config_path != NULL ? d->opt.tls_config_path : d->opt.config_path;

  if (sc_daemon_tls_prepare (d->config->tls, error))
    return TRUE;
  g_prefix_error (error, "%s: TLS: ", source != NULL ? source : "securecommd");
  return FALSE;
}

static int
run (Daemon *d)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ScIdentity) identity = load_identity (d, &error);

  if (identity == NULL)
    {
      g_printerr ("securecommd: %s\n", error->message);
      return EXIT_RUNTIME;
    }
  d->server = make_server (d, identity);
  if (!sc_server_start (d->server, &error))
    {
      g_printerr ("securecommd: %s\n", error->message);
      return EXIT_RUNTIME;
    }
  d->tls = sc_daemon_tls_new (d->server, d->config->tls, read_tls, d);
  d->loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGTERM, on_sigterm, d);
  g_unix_signal_add (SIGINT, on_sigterm, d);
  g_unix_signal_add (SIGHUP, on_sighup, d);
  if (d->bus != BUS_NONE)
    d->name_id = g_bus_own_name (d->bus == BUS_SYSTEM ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION,
                                 SC_BUS_NAME, G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE, on_bus_acquired,
                                 on_name_acquired, on_name_lost, d, NULL);
  g_main_loop_run (d->loop);
  g_clear_pointer (&d->tls, sc_daemon_tls_free);
  sc_server_shutdown (d->server);
  g_clear_pointer (&d->dbus, sc_daemon_dbus_free);
  if (d->name_id != 0)
    g_bus_unown_name (d->name_id); /* releases the name */
  return d->exit_code;
}

int
main (int argc, char **argv)
{
  Daemon d = { 0 };
  g_autoptr (GError) error = NULL;
  int ret;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  if (!parse_options (&d.opt, &argc, &argv, &error))
    {
      g_printerr ("securecommd: %s\n%s\n", error->message, _ ("Try “securecommd --help”."));
      options_clear (&d.opt);
      return EXIT_USAGE;
    }
  if (d.opt.version)
    {
      g_print ("securecommd %s\n", PACKAGE_VERSION);
      options_clear (&d.opt);
      return EXIT_OK;
    }
  verbose_logging = d.opt.verbose;
  g_log_set_writer_func (log_writer, NULL, NULL);
  d.bus = d.opt.system_bus ? BUS_SYSTEM : d.opt.no_bus ? BUS_NONE : BUS_SESSION;
  /* TLS first thing after the configuration: no thread may run yet. */
  if (!load_config (&d, &error) || !prepare_tls (&d, &error))
    {
      g_printerr ("securecommd: %s\n", error->message);
      sc_daemon_config_free (d.config);
      options_clear (&d.opt);
      return EXIT_USAGE;
    }
  if (d.opt.check_config)
    {
      g_autofree char *checked = checked_files (&d.opt);

      g_print (_ ("%s: the configuration is valid\n"), checked);
      sc_daemon_config_free (d.config);
      options_clear (&d.opt);
      return EXIT_OK;
    }
  ret = run (&d);
  g_clear_object (&d.server);
  g_clear_pointer (&d.loop, g_main_loop_unref);
  sc_daemon_config_free (d.config);
  options_clear (&d.opt);
  return ret;
}
