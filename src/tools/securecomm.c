/* securecomm: the SecureComm command-line client.
 *
 *   securecomm send   [OPTIONS] HOST[:PORT] MESSAGE...
 *   securecomm listen [OPTIONS] HOST[:PORT]
 *   securecomm connect [OPTIONS] HOST[:PORT]
 *
 * Thin over ScClient. Exit codes: 0 success, 1 the session failed or a
 * message was not acknowledged, 2 usage error.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <gio/gunixinputstream.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdio.h>
#include <unistd.h>

#include "sc-client.h"
#include "sc-error.h"
#include "sc-identity.h"

#define DEFAULT_PORT 12345
/* ms `send` waits for the acknowledgements before it gives up. */
#define SEND_ACK_TIMEOUT_MS 30000

enum
{
  EXIT_OK = 0,
  EXIT_FAILED = 1,
  EXIT_USAGE = 2,
};

typedef struct
{
  char *pin;
  char *known_hosts;
  gboolean insecure;
  char *identity;
  char *passphrase_file;
  gboolean json;
  int count;
  gboolean quiet;
  gboolean version;
} Options;

typedef struct
{
  Options opt;
  ScClient *client;
  GMainLoop *loop;
  int received;
  int exit_code;
} Tool;

static GOptionEntry *
common_entries (Options *o)
{
  GOptionEntry entries[] = {
    { "pin", 0, 0, G_OPTION_ARG_STRING, &o->pin,
      N_ ("Trust only the server key with this SHA-256 fingerprint (hex)"), N_ ("FINGERPRINT") },
    { "known-hosts", 0, 0, G_OPTION_ARG_FILENAME, &o->known_hosts,
      N_ ("Trust on first use: record each server's key in FILE, refuse a changed one"),
      N_ ("FILE") },
    { "insecure-accept-any", 0, 0, G_OPTION_ARG_NONE, &o->insecure,
      N_ ("Trust any server key (encrypted but open to a man in the middle)"), NULL },
    { "identity", 'i', 0, G_OPTION_ARG_FILENAME, &o->identity,
      N_ ("Prove this identity key (created if missing)"), N_ ("FILE") },
    { "passphrase-file", 0, 0, G_OPTION_ARG_FILENAME, &o->passphrase_file,
      N_ ("Passphrase of the identity key (else $SECURECOMM_PASSPHRASE)"), N_ ("FILE") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &o->json, N_ ("Print messages as JSON lines"), NULL },
    { "count", 'n', 0, G_OPTION_ARG_INT, &o->count, N_ ("listen: exit after this many messages"),
      N_ ("N") },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet, N_ ("Print no state changes"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &o->version, N_ ("Print the version and exit"), NULL },
    { NULL }
  };

  return g_memdup2 (entries, sizeof entries);
}

static gboolean
split_target (const char *target, char **host, guint16 *port, GError **error)
{
  g_autoptr (GSocketConnectable) addr = g_network_address_parse (target, DEFAULT_PORT, error);

  if (addr == NULL)
    return FALSE;
  *host = g_strdup (g_network_address_get_hostname (G_NETWORK_ADDRESS (addr)));
  *port = g_network_address_get_port (G_NETWORK_ADDRESS (addr));
  return TRUE;
}

static void
on_state_changed (ScClient *client, ScClientState old_state, ScClientState new_state, gpointer data)
{
  Tool *t = data;
  g_autoptr (GEnumClass) klass = g_type_class_ref (SC_TYPE_CLIENT_STATE);

  if (!t->opt.quiet)
    g_printerr ("securecomm: %s\n", g_enum_get_value (klass, new_state)->value_nick);
  if (new_state == SC_CLIENT_STATE_CLOSED && t->loop != NULL)
    g_main_loop_quit (t->loop);
}

static void
on_error (ScClient *client, GError *error, gpointer data)
{
  Tool *t = data;

  g_printerr ("securecomm: %s\n", error->message);
  t->exit_code = EXIT_FAILED;
}

static void
print_message (Tool *t, GBytes *message)
{
  gsize len;
  const char *data = g_bytes_get_data (message, &len);
  g_autofree char *text = g_utf8_make_valid (data ? data : "", (gssize) len);

  if (t->opt.json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      g_autoptr (JsonGenerator) gen = json_generator_new ();
      g_autoptr (JsonNode) root = NULL;
      g_autofree char *line = NULL;

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "message");
      json_builder_add_string_value (b, text);
      json_builder_set_member_name (b, "bytes");
      json_builder_add_int_value (b, (gint64) len);
      json_builder_end_object (b);
      root = json_builder_get_root (b);
      json_generator_set_root (gen, root);
      line = json_generator_to_data (gen, NULL);
      g_print ("%s\n", line);
    }
  else
    g_print ("%s\n", text);
  fflush (stdout);
}

static void
on_message (ScClient *client, GBytes *message, gpointer data)
{
  Tool *t = data;

  print_message (t, message);
  t->received++;
  if (t->opt.count > 0 && t->received >= t->opt.count)
    g_main_loop_quit (t->loop);
}

/* Loads or creates the client identity named by --identity. */
static gboolean
set_identity (Tool *t, GError **error)
{
  g_autoptr (ScIdentity) identity = NULL;
  char *passphrase;
  gboolean created = FALSE;

  if (t->opt.identity == NULL)
    return TRUE;
  passphrase = sc_passphrase_read (t->opt.passphrase_file, "securecomm-passphrase",
                                   "SECURECOMM_PASSPHRASE", error);
  if (passphrase == NULL)
    return FALSE;
  identity = sc_identity_load_or_create (t->opt.identity, passphrase, &created, error);
  sc_passphrase_free (passphrase);
  if (identity == NULL)
    return FALSE;
  if (created && !t->opt.quiet)
    g_printerr (_ ("securecomm: created identity %s, fingerprint %s\n"), t->opt.identity,
                sc_identity_get_fingerprint (identity));
  sc_client_set_identity (t->client, identity);
  return TRUE;
}

static gboolean
connect_client (Tool *t, const char *target, GError **error)
{
  g_autofree char *host = NULL;
  guint16 port = DEFAULT_PORT;

  if (t->opt.pin == NULL && t->opt.known_hosts == NULL && !t->opt.insecure)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_UNTRUSTED,
                           _ ("no way to trust the server: give --pin FINGERPRINT "
                              "(securecommctl status shows the daemon's), --known-hosts FILE "
                              "(trust on first use) or, for a test, --insecure-accept-any"));
      return FALSE;
    }
  if (!split_target (target, &host, &port, error))
    return FALSE;
  t->client = sc_client_new (NULL);
  sc_client_set_pinned_fingerprint (t->client, t->opt.pin);
  sc_client_set_accept_any_server (t->client, t->opt.insecure);
  sc_client_set_known_hosts (t->client, t->opt.known_hosts);
  g_signal_connect (t->client, "state-changed", G_CALLBACK (on_state_changed), t);
  g_signal_connect (t->client, "error", G_CALLBACK (on_error), t);
  g_signal_connect (t->client, "message-received", G_CALLBACK (on_message), t);
  if (!set_identity (t, error))
    return FALSE;
  return sc_client_establish_secure_session (t->client, host, port, NULL, error);
}

/* ---- subcommands --------------------------------------------------------- */

static int
cmd_send (Tool *t, int argc, char **argv, GError **error)
{
  /* argv: program, "send", HOST[:PORT], MESSAGE... */
  for (int i = 3; i < argc; i++)
    if (!sc_client_send_message (t->client, argv[i], error))
      return EXIT_FAILED;
  if (!sc_client_flush (t->client, SEND_ACK_TIMEOUT_MS, error))
    return EXIT_FAILED;
  if (!t->opt.quiet)
    g_printerr (_ ("securecomm: %d message(s) acknowledged\n"), argc - 3);
  return EXIT_OK;
}

static int
cmd_listen (Tool *t)
{
  t->loop = g_main_loop_new (NULL, FALSE);
  sc_client_start_listening (t->client);
  if (sc_client_is_connected (t->client))
    g_main_loop_run (t->loop);
  return t->opt.count > 0 && t->received < t->opt.count ? EXIT_FAILED : t->exit_code;
}

static void on_stdin_line (GObject *source, GAsyncResult *result, gpointer data);

static void
read_next_line (Tool *t, GDataInputStream *in)
{
  g_data_input_stream_read_line_async (in, G_PRIORITY_DEFAULT, NULL, on_stdin_line, t);
}

static void
on_stdin_line (GObject *source, GAsyncResult *result, gpointer data)
{
  Tool *t = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source),
                                                                result, NULL, &error);

  if (line == NULL)
    {
      if (error != NULL)
        g_printerr ("securecomm: %s\n", error->message);
      g_main_loop_quit (t->loop); /* end of input: done */
      return;
    }
  if (!sc_client_send_message (t->client, line, &error))
    {
      g_printerr ("securecomm: %s\n", error->message);
      t->exit_code = EXIT_FAILED;
      g_main_loop_quit (t->loop);
      return;
    }
  read_next_line (t, G_DATA_INPUT_STREAM (source));
}

static int
cmd_connect (Tool *t, GError **error)
{
  g_autoptr (GInputStream) raw = g_unix_input_stream_new (STDIN_FILENO, FALSE);
  g_autoptr (GDataInputStream) in = g_data_input_stream_new (raw);

  t->loop = g_main_loop_new (NULL, FALSE);
  sc_client_start_listening (t->client);
  read_next_line (t, in);
  g_main_loop_run (t->loop);
  if (t->exit_code == EXIT_OK && sc_client_is_connected (t->client)
      && !sc_client_flush (t->client, SEND_ACK_TIMEOUT_MS, error))
    return EXIT_FAILED;
  return t->exit_code;
}

/* The passphrase for keygen and fingerprint, as for --identity. */
static char *
read_passphrase (Tool *t, GError **error)
{
  return sc_passphrase_read (t->opt.passphrase_file, "securecomm-passphrase",
                             "SECURECOMM_PASSPHRASE", error);
}

/* keygen FILE: a new identity key, never over an existing file. */
static int
cmd_keygen (Tool *t, const char *path, GError **error)
{
  g_autoptr (ScIdentity) identity = NULL;
  char *passphrase;
  gboolean ok;

  if (g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, SC_ERROR, SC_ERROR_KEY_FILE,
                   _ ("%s exists already; remove it first to replace the key"), path);
      return EXIT_FAILED;
    }
  passphrase = read_passphrase (t, error);
  if (passphrase == NULL)
    return EXIT_FAILED;
  identity = sc_identity_generate (error);
  ok = identity != NULL && sc_identity_save (identity, path, passphrase, error);
  sc_passphrase_free (passphrase);
  if (!ok)
    return EXIT_FAILED;
  g_print ("%s\n", sc_identity_get_fingerprint (identity));
  return EXIT_OK;
}

/* fingerprint FILE: the SHA-256 of the key's SubjectPublicKeyInfo. */
static int
cmd_fingerprint (Tool *t, const char *path, GError **error)
{
  g_autoptr (ScIdentity) identity = NULL;
  char *passphrase = read_passphrase (t, error);

  if (passphrase == NULL)
    return EXIT_FAILED;
  identity = sc_identity_load (path, passphrase, error);
  sc_passphrase_free (passphrase);
  if (identity == NULL)
    return EXIT_FAILED;
  g_print ("%s\n", sc_identity_get_fingerprint (identity));
  return EXIT_OK;
}

static const char usage_summary[] = N_ (
    "Commands:\n"
    "  send HOST[:PORT] MESSAGE...  send messages; exit 0 once all are acknowledged\n"
    "  listen HOST[:PORT]           print incoming messages, one per line\n"
    "  connect HOST[:PORT]          send each line typed, print what arrives\n"
    "  keygen FILE                  make a new identity key, encrypted with the\n"
    "                               passphrase (--passphrase-file or\n"
    "                               $SECURECOMM_PASSPHRASE); print its fingerprint\n"
    "  fingerprint FILE             print the fingerprint of an identity key\n"
    "\n"
    "The port defaults to 12345. Exit status: 0 success, 1 the session failed or a\n"
    "message was not acknowledged, 2 usage error.");

static int
parse (Tool *t, int *argc, char ***argv)
{
  g_autofree GOptionEntry *entries = common_entries (&t->opt);
  g_autoptr (GOptionContext) ctx = g_option_context_new (_ ("COMMAND HOST[:PORT] [MESSAGE...]"));
  g_autoptr (GError) error = NULL;

  g_option_context_set_summary (ctx, _ ("SecureComm client: end-to-end encrypted messages."));
  g_option_context_set_description (ctx, _ (usage_summary));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (ctx, argc, argv, &error))
    {
      g_printerr ("securecomm: %s\n", error->message);
      return EXIT_USAGE;
    }
  if (t->opt.version)
    return -1;
  if (*argc < 3 || (g_strcmp0 ((*argv)[1], "send") == 0 && *argc < 4)
      || (g_strcmp0 ((*argv)[1], "send") != 0 && *argc != 3))
    {
      g_autofree char *help = g_option_context_get_help (ctx, TRUE, NULL);

      g_printerr ("%s", help);
      return EXIT_USAGE;
    }
  return EXIT_OK;
}

int
main (int argc, char **argv)
{
  Tool t = { 0 };
  g_autoptr (GError) error = NULL;
  const char *cmd;
  int ret;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  ret = parse (&t, &argc, &argv);
  if (ret == -1)
    {
      g_print ("securecomm %s\n", PACKAGE_VERSION);
      ret = EXIT_OK;
    }
  if (ret != EXIT_OK || t.opt.version)
    {
      g_free (t.opt.pin);
      g_free (t.opt.known_hosts);
      g_free (t.opt.identity);
      g_free (t.opt.passphrase_file);
      return ret;
    }
  cmd = argv[1];
  if (g_strcmp0 (cmd, "keygen") == 0)
    ret = cmd_keygen (&t, argv[2], &error);
  else if (g_strcmp0 (cmd, "fingerprint") == 0)
    ret = cmd_fingerprint (&t, argv[2], &error);
  else if (g_strcmp0 (cmd, "send") != 0 && g_strcmp0 (cmd, "listen") != 0
           && g_strcmp0 (cmd, "connect") != 0)
    {
      g_printerr (_ ("securecomm: unknown command “%s”; see securecomm --help\n"), cmd);
      ret = EXIT_USAGE;
    }
  else if (!connect_client (&t, argv[2], &error))
    ret = EXIT_FAILED;
  else if (g_strcmp0 (cmd, "send") == 0)
    ret = cmd_send (&t, argc, argv, &error);
  else if (g_strcmp0 (cmd, "listen") == 0)
    ret = cmd_listen (&t);
  else
    ret = cmd_connect (&t, &error);
  if (error != NULL)
    g_printerr ("securecomm: %s\n", error->message);
  if (t.client != NULL)
    sc_client_shutdown (t.client);
  while (g_main_context_iteration (NULL, FALSE))
    ; /* the last state changes */
  g_clear_object (&t.client);
  g_clear_pointer (&t.loop, g_main_loop_unref);
  g_free (t.opt.pin);
  g_free (t.opt.known_hosts);
  g_free (t.opt.identity);
  g_free (t.opt.passphrase_file);
  return ret;
}
