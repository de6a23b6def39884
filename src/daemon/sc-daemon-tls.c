/* sc-daemon-tls.c: securecommd's TLS mode (see sc-daemon-tls.h).
 *
 * Start-up (sc_daemon_tls_prepare): the GnuTLS priority (versions, suites,
 * groups, tickets) is process-wide and read once, when glib-networking makes
 * its first TLS connection; sc_tls_setup_process() sets it, so it runs before
 * the server, the D-Bus connection or a file monitor starts a thread. Then
 * every file (certificate, key, CA, CRL) is loaded once as the server will
 * load it, so that --check-config and the start-up refuse a broken one.
 *
 * Reload (sc_daemon_tls_reload): on SIGHUP, and when a watched file changes,
 * the configuration is read again from the same source and handed to
 * sc_server_reload_tls(): new handshakes use the new certificate, established
 * sessions keep theirs; a broken file is refused with a warning naming it,
 * and the old certificate stays. TLS cannot be turned on or off, and the
 * process-wide priority cannot change, without a restart: both are logged.
 *
 * Watching: editors and tools such as certbot or `mv` replace a file rather
 * than write into it, and Kubernetes swaps a "..data" symbolic link, so the
 * folder of each file is watched, not the file. Any event for a watched
 * name (or a "..name") restarts a SC_DAEMON_TLS_DEBOUNCE_MS timer; when it
 * fires, the files' stat() data (through symbolic links) is compared with
 * what was loaded, and only a real change reloads.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-daemon-tls.h"

#include <glib/gi18n.h>
#include <sys/stat.h>

#include "sc-tls.h"

struct _ScDaemonTls
{
  ScServer *server;
  ScTlsConfig *config; /* the one in use */
  ScDaemonTlsReadFunc read;
  gpointer user_data;
  GPtrArray *monitors; /* GFileMonitor *, one per folder */
  char *stamp;         /* the files' stat() data when they were last loaded */
  guint debounce_id;
};

/**
 * sc_daemon_tls_prepare:
 * @config: the TLS configuration securecommd starts with
 * @error: return location for an error naming the file and the reason
 *
 * When @config enables TLS: sets the process-wide TLS priority from it
 * (call before any thread starts) and loads its files as a server would.
 *
 * Returns: whether the server can run with @config
 */
gboolean
sc_daemon_tls_prepare (ScTlsConfig *config, GError **error)
{
  g_autoptr (ScTlsContext) ctx = NULL;

  if (!sc_tls_config_get_enabled (config))
    return TRUE;
  if (!sc_tls_setup_process (config, error))
    return FALSE;
  ctx = sc_tls_context_new (config, SC_TLS_ROLE_SERVER, error);
  return ctx != NULL;
}

/* --- The files --------------------------------------------------------- */

static gboolean
is_file_path (const char *path)
{
  return path != NULL && g_ascii_strncasecmp (path, "pkcs11:", 7) != 0;
}

/* The files of config that live on disk: certificate, key, CA, CRL. */
static GPtrArray *
config_files (ScTlsConfig *config)
{
  const char *paths[] = { sc_tls_config_get_cert_path (config), sc_tls_config_get_key_path (config),
                          sc_tls_config_get_ca_path (config), sc_tls_config_get_crl_path (config) };
  GPtrArray *files = g_ptr_array_new ();

  for (gsize i = 0; i < G_N_ELEMENTS (paths); i++)
    if (is_file_path (paths[i]))
      g_ptr_array_add (files, (gpointer) paths[i]);
  return files;
}

/* What stat() says of every file (following symbolic links): a changed
 * file, or a link pointed elsewhere, gives another string. */
static char *
files_stamp (ScTlsConfig *config)
{
  g_autoptr (GPtrArray) files = config_files (config);
  GString *s = g_string_new (NULL);
  struct stat st;

  for (guint i = 0; i < files->len; i++)
    {
      if (stat (g_ptr_array_index (files, i), &st) != 0)
        {
          g_string_append (s, "-;");
          continue;
        }
      g_string_append_printf (s, "%ju:%ju:%jd:%jd.%09ld:%jd.%09ld;", (uintmax_t) st.st_dev,
                              (uintmax_t) st.st_ino, (intmax_t) st.st_size,
                              (intmax_t) st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                              (intmax_t) st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
    }
  return g_string_free (s, FALSE);
}

/* Whether two configurations name the same files. */
static gboolean
same_files (ScTlsConfig *a, ScTlsConfig *b)
{
  return g_strcmp0 (sc_tls_config_get_cert_path (a), sc_tls_config_get_cert_path (b)) == 0
         && g_strcmp0 (sc_tls_config_get_key_path (a), sc_tls_config_get_key_path (b)) == 0
         && g_strcmp0 (sc_tls_config_get_ca_path (a), sc_tls_config_get_ca_path (b)) == 0
         && g_strcmp0 (sc_tls_config_get_crl_path (a), sc_tls_config_get_crl_path (b)) == 0;
}

/* --- Reload ------------------------------------------------------------ */

static const char *const *
effective_suites (ScTlsConfig *config)
{
  const char *const *listed = sc_tls_config_get_cipher_suites (config);

  return listed != NULL ? listed : sc_tls_default_suites (sc_tls_config_get_min_version (config));
}

/* The keys that set the process-wide priority and differ, "" if none. */
static char *
process_wide_changes (ScTlsConfig *old, ScTlsConfig *fresh)
{
  GString *keys = g_string_new (NULL);

  if (sc_tls_config_get_min_version (old) != sc_tls_config_get_min_version (fresh))
    g_string_append (keys, "min_version");
  if (!g_strv_equal (effective_suites (old), effective_suites (fresh)))
    g_string_append_printf (keys, "%scipher_suites", keys->len > 0 ? ", " : "");
  if (sc_tls_config_get_session_tickets (old) != sc_tls_config_get_session_tickets (fresh))
    g_string_append_printf (keys, "%ssession_tickets", keys->len > 0 ? ", " : "");
  return g_string_free (keys, FALSE);
}

static void
warn_restart_needed (ScTlsConfig *old, ScTlsConfig *fresh, const char *trigger)
{
  g_autofree char *keys = process_wide_changes (old, fresh);

  if (keys[0] == '\0')
    return;
  g_warning (_ ("%s: TLS %s changed: the versions and cipher suites that handshakes offer are set "
                "for the whole process at start-up, so they change only with a restart; until "
                "then each new TLS connection is checked against the new min_version and "
                "cipher_suites after its handshake (a tightening applies now, a loosening does "
                "not)"),
             trigger, keys);
}

/* Whether TLS is on in both, after saying why not when it changed. */
static gboolean
check_still_enabled (ScDaemonTls *self, ScTlsConfig *fresh, const char *trigger)
{
  gboolean was = sc_tls_config_get_enabled (self->config);
  gboolean now = sc_tls_config_get_enabled (fresh);

  if (was && !now)
    g_warning (_ ("%s: TLS is now disabled in the configuration, but cannot be turned off while "
                  "securecommd runs: TLS stays on until a restart"),
               trigger);
  else if (!was && now)
    g_warning (_ ("%s: TLS is now enabled in the configuration, but cannot be turned on while "
                  "securecommd runs: restart it"),
               trigger);
  return was && now;
}

static void
log_reloaded (ScTlsConfig *config, const char *trigger)
{
  const char *path = sc_tls_config_get_cert_path (config);
  g_autoptr (GTlsCertificate)
      cert = is_file_path (path) ? g_tls_certificate_new_from_file (path, NULL) : NULL;
  g_autofree char *subject = cert != NULL ? g_tls_certificate_get_subject_name (cert) : NULL;

  if (subject != NULL)
    g_info (_ ("TLS certificate reloaded: %s (%s; %s)"), subject, path, trigger);
  else
    g_info (_ ("TLS certificate reloaded: %s (%s)"), path, trigger);
}

static void watch (ScDaemonTls *self);

/**
 * sc_daemon_tls_reload:
 * @self: the daemon's TLS state
 * @config: the configuration read again
 * @trigger: what caused the reload, for the log: "SIGHUP", ...
 *
 * Hands @config to the server: on success new handshakes use its files; on
 * failure a warning names the file and the reason and the running
 * certificate stays.
 */
void
sc_daemon_tls_reload (ScDaemonTls *self, ScTlsConfig *config, const char *trigger)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *stamp = NULL;
  gboolean moved;

  if (!check_still_enabled (self, config, trigger))
    return;
  warn_restart_needed (self->config, config, trigger);
  stamp = files_stamp (config); /* before loading: a change during it reloads again */
  g_free (self->stamp);
  self->stamp = g_steal_pointer (&stamp);
  if (!sc_server_reload_tls (self->server, config, &error))
    {
      g_warning (_ ("%s: TLS certificate not reloaded, the current one stays in use: %s"), trigger,
                 error->message);
      return;
    }
  moved = !same_files (self->config, config);
  g_set_object (&self->config, config);
  log_reloaded (config, trigger);
  if (moved)
    watch (self);
}

/* --- Watching ---------------------------------------------------------- */

static gboolean
on_quiet (gpointer data)
{
  ScDaemonTls *self = data;
  g_autofree char *stamp = files_stamp (self->config);
  g_autoptr (ScTlsConfig) fresh = NULL;
  g_autoptr (GError) error = NULL;
  /* Translators: what caused a TLS reload, shown before a colon */
  const char *trigger = _ ("TLS files changed");

  self->debounce_id = 0;
  if (g_strcmp0 (stamp, self->stamp) == 0)
    {
      g_debug ("TLS files touched, but not changed: nothing to reload");
      return G_SOURCE_REMOVE;
    }
  fresh = self->read (self->user_data, &error);
  if (fresh == NULL)
    {
      g_warning (_ ("%s: the TLS configuration cannot be read again, the current certificate "
                    "stays in use: %s"),
                 trigger, error->message);
      g_free (self->stamp);
      self->stamp = g_steal_pointer (&stamp);
      return G_SOURCE_REMOVE;
    }
  sc_daemon_tls_reload (self, fresh, trigger);
  return G_SOURCE_REMOVE;
}

/* Whether name, in the folder dir, is one of the files or what a symbolic
 * link of them may go through ("..data", as Kubernetes mounts secrets). */
static gboolean
is_watched_name (ScDaemonTls *self, GFile *dir, const char *name)
{
  g_autoptr (GPtrArray) files = config_files (self->config);

  if (g_str_has_prefix (name, ".."))
    return TRUE;
  for (guint i = 0; i < files->len; i++)
    {
      g_autoptr (GFile) file = g_file_new_for_path (g_ptr_array_index (files, i));
      g_autoptr (GFile) parent = g_file_get_parent (file);
      g_autofree char *base = g_file_get_basename (file);

      if (g_file_equal (parent, dir) && g_str_equal (base, name))
        return TRUE;
    }
  return FALSE;
}

/* Events that can leave new content under a name; a file deleted or moved
 * away is about to be replaced (or the reload would only fail). */
static gboolean
may_bring_content (GFileMonitorEvent event)
{
  return event == G_FILE_MONITOR_EVENT_CHANGED || event == G_FILE_MONITOR_EVENT_CHANGES_DONE_HINT
         || event == G_FILE_MONITOR_EVENT_CREATED || event == G_FILE_MONITOR_EVENT_MOVED_IN
         || event == G_FILE_MONITOR_EVENT_RENAMED;
}

static void
on_changed (GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event,
            gpointer data)
{
  ScDaemonTls *self = data;
  /* a rename within the folder: the new name is other */
  GFile *target = event == G_FILE_MONITOR_EVENT_RENAMED && other != NULL ? other : file;
  g_autoptr (GFile) dir = g_file_get_parent (target);
  g_autofree char *name = g_file_get_basename (target);

  if (!may_bring_content (event) || dir == NULL || !is_watched_name (self, dir, name))
    return;
  g_debug ("TLS file %s changed (event %d): reloading in %u ms unless it changes again", name,
           (int) event, SC_DAEMON_TLS_DEBOUNCE_MS);
  g_clear_handle_id (&self->debounce_id, g_source_remove);
  self->debounce_id = g_timeout_add (SC_DAEMON_TLS_DEBOUNCE_MS, on_quiet, self);
}

static void
unwatch (ScDaemonTls *self)
{
  for (guint i = 0; i < self->monitors->len; i++)
    g_signal_handlers_disconnect_by_data (g_ptr_array_index (self->monitors, i), self);
  g_ptr_array_set_size (self->monitors, 0);
}

static gboolean
watching_dir (ScDaemonTls *self, GFile *dir)
{
  for (guint i = 0; i < self->monitors->len; i++)
    if (g_file_equal (g_object_get_data (g_ptr_array_index (self->monitors, i), "dir"), dir))
      return TRUE;
  return FALSE;
}

static void
watch_dir (ScDaemonTls *self, GFile *dir)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_file_get_path (dir);
  GFileMonitor *monitor = g_file_monitor_directory (dir, G_FILE_MONITOR_WATCH_MOVES, NULL, &error);

  if (monitor == NULL)
    {
      g_warning (_ ("cannot watch %s for new TLS certificates (SIGHUP still reloads them): %s"),
                 path, error->message);
      return;
    }
  g_object_set_data_full (G_OBJECT (monitor), "dir", g_object_ref (dir), g_object_unref);
  g_signal_connect (monitor, "changed", G_CALLBACK (on_changed), self);
  g_ptr_array_add (self->monitors, monitor);
  g_debug ("watching %s for TLS file changes", path);
}

/* Watches the folder of each of the configuration's files. */
static void
watch (ScDaemonTls *self)
{
  g_autoptr (GPtrArray) files = config_files (self->config);

  unwatch (self);
  for (guint i = 0; i < files->len; i++)
    {
      g_autoptr (GFile) file = g_file_new_for_path (g_ptr_array_index (files, i));
      g_autoptr (GFile) dir = g_file_get_parent (file);

      if (dir != NULL && !watching_dir (self, dir))
        watch_dir (self, dir);
    }
}

/* --- Life cycle -------------------------------------------------------- */

/**
 * sc_daemon_tls_new:
 * @server: the running server
 * @config: the TLS configuration it runs with
 * @read: reads the configuration again, on a change of its files
 * @user_data: for @read
 *
 * When @config enables TLS, watches its files (in the thread-default main
 * context) and reloads them when they change.
 *
 * Returns: (transfer full): the daemon's TLS state
 */
ScDaemonTls *
sc_daemon_tls_new (ScServer *server, ScTlsConfig *config, ScDaemonTlsReadFunc read,
                   gpointer user_data)
{
  ScDaemonTls *self = g_new0 (ScDaemonTls, 1);

  self->server = g_object_ref (server);
  self->config = g_object_ref (config);
  self->read = read;
  self->user_data = user_data;
  self->monitors = g_ptr_array_new_with_free_func (g_object_unref);
  self->stamp = files_stamp (config);
  if (sc_tls_config_get_enabled (config))
    watch (self);
  return self;
}

void
sc_daemon_tls_free (ScDaemonTls *self)
{
  if (self == NULL)
    return;
  g_clear_handle_id (&self->debounce_id, g_source_remove);
  unwatch (self);
  g_ptr_array_unref (self->monitors);
  g_free (self->stamp);
  g_object_unref (self->config);
  g_object_unref (self->server);
  g_free (self);
}
