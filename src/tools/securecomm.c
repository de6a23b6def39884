/* securecomm: the SecureComm command-line client.
 *
 *   securecomm send    [OPTIONS] HOST[:PORT] MESSAGE...
 *   securecomm listen  [OPTIONS] HOST[:PORT]
 *   securecomm connect [OPTIONS] HOST[:PORT]
 *   securecomm keygen | fingerprint [OPTIONS] KEYFILE
 *   securecomm gen-certs [--force] [DIR]
 *
 * With --tls-config FILE (the seed's tls_config.json) the session runs
 * inside TLS, and a server whose certificate was verified needs no pin: the
 * SecureComm handshake is bound to that TLS connection (PROTOCOL.md 5.4).
 *
 * Thin over ScClient (and, for gen-certs, over sc-certgen.h). Exit codes,
 * as securecomm(1) documents them: 0 success, 1 a failure after the session
 * was up or of a local file (a message not acknowledged, the session lost,
 * a key that cannot be used), 2 usage error, 3 no session: the server could
 * not be reached or its key was not trusted, and nothing was sent.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <gio/gunixinputstream.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sc-certgen.h"
#include "sc-client.h"
#include "sc-error.h"
#include "sc-identity.h"
#include "sc-tls-config.h"

#define DEFAULT_PORT 12345
/* Seconds `send` (and `connect` at the end of its input) waits for the
 * acknowledgements before it gives up, unless --timeout says otherwise; and
 * the longest --timeout, a day, which keeps the milliseconds in a guint. */
#define ACK_TIMEOUT_DEFAULT_S 30
#define ACK_TIMEOUT_MAX_S (24 * 3600)
#define DEFAULT_CERT_DIR "test_certs"

enum
{
  EXIT_OK = 0,
  EXIT_FAILED = 1,
  EXIT_USAGE = 2,
  EXIT_NO_SESSION = 3,
};

typedef struct
{
  char *pin;
  char *known_hosts;
  gboolean insecure;
  char *identity;
  char *passphrase_file;
  char *tls_config;
  gboolean json;
  int count;
  int timeout; /* seconds; 0: ACK_TIMEOUT_DEFAULT_S */
  gboolean quiet;
  gboolean force;
  gboolean version;
} Options;

typedef struct
{
  Options opt;
  ScClient *client;
  GMainLoop *loop; /* listen and connect: runs until the session ends */
  GCancellable *stdin_cancel;
  int received;
  int exit_code;
} Tool;

typedef int (*CommandFunc) (Tool *t, char **args, int n_args, GError **error);

typedef struct
{
  const char *name;
  int min_args;
  int max_args; /* -1: any number */
  CommandFunc run;
} Command;

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
    { "tls-config", 0, 0, G_OPTION_ARG_FILENAME, &o->tls_config,
      N_ ("Run the session inside TLS as FILE says (a tls_config.json file); a verified "
          "server certificate needs no --pin"),
      N_ ("FILE") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &o->json, N_ ("Print messages as JSON lines"), NULL },
    { "count", 'n', 0, G_OPTION_ARG_INT, &o->count, N_ ("listen: exit after this many messages"),
      N_ ("N") },
    { "timeout", 't', 0, G_OPTION_ARG_INT, &o->timeout,
      N_ ("send, connect: wait at most this long for the acknowledgements (default: 30)"),
      N_ ("SECONDS") },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet, N_ ("Print no state changes"), NULL },
    { "force", 'f', 0, G_OPTION_ARG_NONE, &o->force,
      N_ ("gen-certs: replace files that exist already"), NULL },
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

/* Errors of a session in progress (listen, connect). send reports its
 * errors from the calls that fail, so only these are printed here. */
static void
on_error (ScClient *client, GError *error, gpointer data)
{
  Tool *t = data;

  if (t->loop == NULL)
    return;
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
  if (t->opt.count > 0 && t->received >= t->opt.count && t->loop != NULL)
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

/* Adds what to do to an error of establishing the session, when there is
 * something to say. */
static void
explain_session_error (Tool *t, const char *target, GError **error)
{
  const GError *e = *error;
  g_autofree char *hint = NULL;

  if (g_error_matches (e, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)
      || g_error_matches (e, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)
      || g_error_matches (e, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE)
      || g_error_matches (e, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE))
    hint = g_strdup_printf (_ ("is securecommd running and listening on %s? "
                               "(securecommctl status shows where it listens)"),
                            target);
  else if (g_error_matches (e, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND))
    hint = g_strdup (_ ("check the host name"));
  else if (g_error_matches (e, SC_ERROR, SC_ERROR_UNTRUSTED) && t->opt.pin != NULL)
    hint = g_strdup (_ ("if the server's key changed on purpose, pin the new one "
                        "(securecommctl status shows it on the server's machine)"));
  else if (g_error_matches (e, SC_ERROR, SC_ERROR_UNTRUSTED) && t->opt.tls_config != NULL)
    hint = g_strdup_printf (_ ("the server was not trusted as the TLS configuration %s says"),
                            t->opt.tls_config);
  if (hint != NULL)
    {
      g_autofree char *message = g_strdup_printf ("%s; %s", (*error)->message, hint);

      g_free ((*error)->message);
      (*error)->message = g_steal_pointer (&message);
    }
}

/* Whether tls authenticates the server by its certificate (which then
 * stands in for a pin: the session is bound to that TLS connection). */
static gboolean
tls_verifies_server (ScTlsConfig *tls)
{
  return tls != NULL && sc_tls_config_get_enabled (tls)
         && sc_tls_config_get_verify_mode (tls) != SC_TLS_VERIFY_NONE;
}

/* Loads --tls-config into *tls (left NULL without it) and checks that there
 * is a way to trust the server. Returns EXIT_OK, EXIT_FAILED when the TLS
 * configuration cannot be used (the error names the file and the key), or
 * EXIT_NO_SESSION. */
static int
prepare_trust (Tool *t, ScTlsConfig **tls, GError **error)
{
  if (t->opt.tls_config != NULL
      && (*tls = sc_tls_config_new_from_file (t->opt.tls_config, error)) == NULL)
    return EXIT_FAILED;
  if (t->opt.pin == NULL && t->opt.known_hosts == NULL && !t->opt.insecure
      && !tls_verifies_server (*tls))
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_UNTRUSTED,
                           _ ("no way to trust the server: give --pin FINGERPRINT "
                              "(securecommctl status shows the daemon's), --known-hosts FILE "
                              "(trust on first use), --tls-config FILE (a TLS configuration that "
                              "verifies the server's certificate) or, for a test, "
                              "--insecure-accept-any"));
      return EXIT_NO_SESSION;
    }
  return EXIT_OK;
}

/* The exit status of a session that could not be established: EXIT_FAILED
 * when a file that --tls-config names could be read but not used (a broken
 * certificate), else EXIT_NO_SESSION. */
static int
session_failed (Tool *t, const char *target, GError **error)
{
  if (g_error_matches (*error, SC_ERROR, SC_ERROR_CONFIG) && t->opt.tls_config != NULL)
    {
      g_prefix_error (error, "%s: ", t->opt.tls_config);
      return EXIT_FAILED;
    }
  explain_session_error (t, target, error);
  return EXIT_NO_SESSION;
}

/* Opens the session to target. Returns EXIT_OK, EXIT_FAILED when the
 * identity key or the TLS configuration cannot be used, or
 * EXIT_NO_SESSION. */
static int
open_session (Tool *t, const char *target, GError **error)
{
  g_autofree char *host = NULL;
  g_autoptr (ScTlsConfig) tls = NULL;
  guint16 port = DEFAULT_PORT;
  gboolean ok;
  int ret = prepare_trust (t, &tls, error);

  if (ret != EXIT_OK)
    return ret;
  if (!split_target (target, &host, &port, error))
    return EXIT_USAGE;
  t->client = sc_client_new (tls);
  sc_client_set_pinned_fingerprint (t->client, t->opt.pin);
  sc_client_set_accept_any_server (t->client, t->opt.insecure);
  sc_client_set_known_hosts (t->client, t->opt.known_hosts);
  g_signal_connect (t->client, "state-changed", G_CALLBACK (on_state_changed), t);
  g_signal_connect (t->client, "error", G_CALLBACK (on_error), t);
  g_signal_connect (t->client, "message-received", G_CALLBACK (on_message), t);
  if (!set_identity (t, error))
    return EXIT_FAILED;
  ok = sc_client_establish_secure_session (t->client, host, port, NULL, error);
  while (g_main_context_iteration (NULL, FALSE))
    ; /* report the state changes so far, in order */
  return ok ? EXIT_OK : session_failed (t, target, error);
}

/* ---- sessions ------------------------------------------------------------ */

static guint
ack_timeout_ms (const Tool *t)
{
  return (guint) (t->opt.timeout > 0 ? t->opt.timeout : ACK_TIMEOUT_DEFAULT_S) * 1000u;
}

/* send HOST[:PORT] MESSAGE...: exit 0 only once every message is
 * acknowledged. */
static int
cmd_send (Tool *t, char **args, int n_args, GError **error)
{
  int n_messages = n_args - 1;
  int ret = open_session (t, args[0], error);

  if (ret != EXIT_OK)
    return ret;
  for (int i = 1; i < n_args; i++)
    if (!sc_client_send_message (t->client, args[i], error))
      {
        g_prefix_error (error, _ ("message %d of %d not sent: "), i, n_messages);
        return EXIT_FAILED;
      }
  if (!sc_client_flush (t->client, ack_timeout_ms (t), error))
    {
      g_prefix_error (error, _ ("not every message was acknowledged, so the server may not "
                                "have them all: "));
      return EXIT_FAILED;
    }
  if (!t->opt.quiet)
    g_printerr (ngettext ("securecomm: %d message acknowledged\n",
                          "securecomm: %d messages acknowledged\n", (unsigned long) n_messages),
                n_messages);
  return EXIT_OK;
}

/* listen HOST[:PORT]: prints messages until the session ends (or --count). */
static int
cmd_listen (Tool *t, char **args, int n_args, GError **error)
{
  int ret = open_session (t, args[0], error);

  if (ret != EXIT_OK)
    return ret;
  t->loop = g_main_loop_new (NULL, FALSE);
  sc_client_start_listening (t->client);
  if (sc_client_is_connected (t->client))
    g_main_loop_run (t->loop);
  if (t->opt.count > 0 && t->received < t->opt.count)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_CLOSED,
                   _ ("the session ended after %d of %d messages"), t->received, t->opt.count);
      return EXIT_FAILED;
    }
  return t->exit_code;
}

static void on_stdin_line (GObject *source, GAsyncResult *result, gpointer data);

static void
read_next_line (Tool *t, GDataInputStream *in)
{
  g_data_input_stream_read_line_async (in, G_PRIORITY_DEFAULT, t->stdin_cancel, on_stdin_line, t);
}

static void
on_stdin_line (GObject *source, GAsyncResult *result, gpointer data)
{
  Tool *t = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source),
                                                                result, NULL, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* the session ended first */
  if (line == NULL)
    {
      if (error != NULL)
        {
          g_printerr (_ ("securecomm: cannot read standard input: %s\n"), error->message);
          t->exit_code = EXIT_FAILED;
        }
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

/* connect HOST[:PORT]: each line of standard input is sent, each message
 * received printed, until the input ends or the session does; then every
 * line sent must have been acknowledged. */
static int
cmd_connect (Tool *t, char **args, int n_args, GError **error)
{
  g_autoptr (GInputStream) raw = NULL;
  g_autoptr (GDataInputStream) in = NULL;
  int ret = open_session (t, args[0], error);

  if (ret != EXIT_OK)
    return ret;
  raw = g_unix_input_stream_new (STDIN_FILENO, FALSE);
  in = g_data_input_stream_new (raw);
  t->loop = g_main_loop_new (NULL, FALSE);
  t->stdin_cancel = g_cancellable_new ();
  sc_client_start_listening (t->client);
  read_next_line (t, in);
  if (sc_client_is_connected (t->client))
    g_main_loop_run (t->loop);
  g_cancellable_cancel (t->stdin_cancel);
  if (t->exit_code == EXIT_OK && !sc_client_flush (t->client, ack_timeout_ms (t), error))
    {
      g_prefix_error (error, _ ("not every line was acknowledged: "));
      return EXIT_FAILED;
    }
  return t->exit_code;
}

/* ---- keys and certificates ------------------------------------------------ */

/* The passphrase for keygen and fingerprint, as for --identity. */
static char *
read_passphrase (Tool *t, GError **error)
{
  return sc_passphrase_read (t->opt.passphrase_file, "securecomm-passphrase",
                             "SECURECOMM_PASSPHRASE", error);
}

/* keygen FILE: a new identity key, never over an existing file. */
static int
cmd_keygen (Tool *t, char **args, int n_args, GError **error)
{
  const char *path = args[0];
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
cmd_fingerprint (Tool *t, char **args, int n_args, GError **error)
{
  g_autoptr (ScIdentity) identity = NULL;
  char *passphrase = read_passphrase (t, error);

  if (passphrase == NULL)
    return EXIT_FAILED;
  identity = sc_identity_load (args[0], passphrase, error);
  sc_passphrase_free (passphrase);
  if (identity == NULL)
    return EXIT_FAILED;
  g_print ("%s\n", sc_identity_get_fingerprint (identity));
  return EXIT_OK;
}

/* gen-certs [DIR]: the seed's generate_test_certs (sc-certgen.h). */
static int
cmd_gen_certs (Tool *t, char **args, int n_args, GError **error)
{
  const char *dir = n_args > 0 ? args[0] : DEFAULT_CERT_DIR;
  char msg[SC_CERTGEN_MSG_LEN];
  int rc = sc_certgen_write_test_pki (dir, t->opt.force, msg, sizeof msg);

  if (rc == SC_CERTGEN_EEXIST)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_KEY_FILE,
                   _ ("%s; nothing was written (give --force to replace the files)"), msg);
      return EXIT_FAILED;
    }
  if (rc != 0)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_FAILED, msg);
      return EXIT_FAILED;
    }
  if (!t->opt.quiet)
    g_printerr (_ ("securecomm: wrote %s, %s, %s, %s and %s in %s (the keys are not encrypted: "
                   "for tests only)\n"),
                SC_CERTGEN_CA_CERT, SC_CERTGEN_SERVER_CERT, SC_CERTGEN_SERVER_KEY,
                SC_CERTGEN_CLIENT_CERT, SC_CERTGEN_CLIENT_KEY, dir);
  return EXIT_OK;
}

/* ---- options and main ----------------------------------------------------- */

static const Command commands[] = {
  { "send", 2, -1, cmd_send },
  { "listen", 1, 1, cmd_listen },
  { "connect", 1, 1, cmd_connect },
  { "keygen", 1, 1, cmd_keygen },
  { "fingerprint", 1, 1, cmd_fingerprint },
  { "gen-certs", 0, 1, cmd_gen_certs },
};

static const char usage_description[] = N_ (
    "Commands:\n"
    "  send HOST[:PORT] MESSAGE...  send messages; exit 0 once all are acknowledged\n"
    "  listen HOST[:PORT]           print incoming messages, one per line\n"
    "  connect HOST[:PORT]          send each line typed, print what arrives;\n"
    "                               state changes go to standard error\n"
    "  keygen FILE                  make a new identity key, encrypted with the\n"
    "                               passphrase (--passphrase-file or\n"
    "                               $SECURECOMM_PASSPHRASE); print its fingerprint\n"
    "  fingerprint FILE             print the fingerprint of an identity key\n"
    "  gen-certs [DIR]              write a test CA, server and client certificates\n"
    "                               and unencrypted keys into DIR (test_certs)\n"
    "\n"
    "The port defaults to 12345. Sessions need a way to trust the server: --pin\n"
    "with the fingerprint that “securecommctl status” shows, --known-hosts, or\n"
    "--tls-config with a TLS configuration that verifies the server's certificate.\n"
    "Put -- before a MESSAGE that starts with a dash.\n"
    "\n"
    "Examples:\n"
    "  securecomm send --pin FINGERPRINT localhost \"Hello, secure world!\"\n"
    "  securecomm listen --pin FINGERPRINT --json server.example.org:4433\n"
    "  securecomm connect --known-hosts ~/.config/securecomm/known_hosts [::1]:12345\n"
    "  securecomm send --tls-config tls_config.json localhost:4433 \"Hello\"\n"
    "  securecomm gen-certs --force /tmp/pki\n"
    "\n"
    "Exit status: 0 success; 1 failure after the session was up (a message not\n"
    "acknowledged, the session lost) or of a local file; 2 usage error; 3 no\n"
    "session: the server could not be reached or was not trusted, nothing was sent.");

static GOptionContext *
make_context (GOptionEntry *entries)
{
  GOptionContext *ctx = g_option_context_new (_ ("COMMAND [ARGUMENTS...]"));

  g_option_context_set_summary (ctx, _ ("SecureComm client: end-to-end encrypted messages."));
  g_option_context_set_description (ctx, _ (usage_description));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  return ctx;
}

static int
usage_error (const char *message)
{
  g_printerr ("securecomm: %s\n%s\n", message, _ ("Try “securecomm --help”."));
  return EXIT_USAGE;
}

/* GOption stops at "--" but leaves it in argv: drop the first one, so that
 * `send HOST -- -MESSAGE` works. */
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

/* Checks the command line; on success *command is the command to run. */
static int
check_arguments (const Options *o, int argc, char **argv, const Command **command)
{
  g_autofree char *msg = NULL;
  int n_args = argc - 2;

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
  if (n_args < (*command)->min_args || ((*command)->max_args >= 0 && n_args > (*command)->max_args))
    {
      msg = g_strdup_printf (_ ("wrong number of arguments for %s"), argv[1]);
      return usage_error (msg);
    }
  if (o->force && (*command)->run != cmd_gen_certs)
    return usage_error (_ ("--force applies to gen-certs only"));
  if (o->tls_config != NULL && (*command)->run != cmd_send && (*command)->run != cmd_listen
      && (*command)->run != cmd_connect)
    return usage_error (_ ("--tls-config applies to send, listen and connect only"));
  if (o->count < 0 || (o->count > 0 && (*command)->run != cmd_listen))
    return usage_error (_ ("--count takes a positive number and applies to listen only"));
  if (o->timeout < 0 || o->timeout > ACK_TIMEOUT_MAX_S
      || (o->timeout > 0 && (*command)->run != cmd_send && (*command)->run != cmd_connect))
    return usage_error (_ ("--timeout takes 1 to 86400 seconds and applies to send and "
                           "connect only"));
  return EXIT_OK;
}

static void
tool_clear (Tool *t)
{
  if (t->client != NULL)
    sc_client_shutdown (t->client);
  while (g_main_context_iteration (NULL, FALSE))
    ; /* the last state changes */
  g_clear_object (&t->client);
  g_clear_object (&t->stdin_cancel);
  g_clear_pointer (&t->loop, g_main_loop_unref);
  g_free (t->opt.pin);
  g_free (t->opt.known_hosts);
  g_free (t->opt.identity);
  g_free (t->opt.passphrase_file);
  g_free (t->opt.tls_config);
}

int
main (int argc, char **argv)
{
  Tool t = { 0 };
  g_autofree GOptionEntry *entries = common_entries (&t.opt);
  g_autoptr (GOptionContext) ctx = make_context (entries);
  g_autoptr (GError) error = NULL;
  const Command *command = NULL;
  int ret;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    ret = usage_error (error->message);
  else if (t.opt.version)
    {
      g_print ("securecomm %s\n", PACKAGE_VERSION);
      ret = EXIT_OK;
    }
  else
    {
      drop_double_dash (&argc, argv);
      ret = check_arguments (&t.opt, argc, argv, &command);
    }
  if (ret == EXIT_OK && command != NULL)
    {
      ret = command->run (&t, argv + 2, argc - 2, &error);
      if (error != NULL)
        g_printerr ("securecomm: %s\n", error->message);
    }
  tool_clear (&t);
  return ret;
}
