/* sc-test-client: a minimal SecureComm client for the integration tests.
 *
 *   sc-test-client HOST PORT FINGERPRINT
 *
 * Connects with libsecurecomm, trusting exactly the server key FINGERPRINT,
 * and prints one line per event on stdout (flushed at once):
 *
 *   connected            the secure session is up (the client does not
 *                        know the id the server gave it)
 *   received TEXT        a message from the server (newlines as \n)
 *   closed               the session ended (the server closed it, or
 *                        stdin reached its end and we closed it)
 *
 * Each line read from stdin is sent to the server as a message. At the end
 * of stdin the client closes the session and exits. Exit status: 0 after a
 * session that ended either way, 1 when the connection or handshake failed,
 * 2 on a usage error. The tests kill it (SIGKILL) and stop it (SIGSTOP) to
 * play a peer that vanishes or hangs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <stdio.h>
#include <stdlib.h>

#include "sc-client.h"

typedef struct
{
  ScClient *client;
  GMainLoop *loop;
  GDataInputStream *input;
  GCancellable *cancellable;
} App;

static void
say (const char *what, const char *text)
{
  if (text != NULL)
    printf ("%s %s\n", what, text);
  else
    printf ("%s\n", what);
  fflush (stdout);
}

static void
on_message (ScClient *client, GBytes *message, gpointer data)
{
  gsize len;
  const char *bytes = g_bytes_get_data (message, &len);
  g_autoptr (GString) line = g_string_sized_new (len);

  /* One line per message: escape the backslash and the newline only. */
  for (gsize i = 0; i < len; i++)
    {
      if (bytes[i] == '\\')
        g_string_append (line, "\\\\");
      else if (bytes[i] == '\n')
        g_string_append (line, "\\n");
      else
        g_string_append_c (line, bytes[i]);
    }
  say ("received", line->str);
}

static void
on_state_changed (ScClient *client, ScClientState old_state, ScClientState new_state, gpointer data)
{
  App *app = data;

  if (new_state != SC_CLIENT_STATE_CLOSED)
    return;
  say ("closed", NULL);
  g_main_loop_quit (app->loop);
}

static void
on_error (ScClient *client, GError *error, gpointer data)
{
  g_printerr ("sc-test-client: %s\n", error->message);
}

static void read_next_line (App *app);

static void
on_line (GObject *source, GAsyncResult *result, gpointer data)
{
  App *app = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source),
                                                                     result, NULL, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (line == NULL)
    {
      /* End of stdin (or unreadable): finish the session. */
      g_main_loop_quit (app->loop);
      return;
    }
  if (!sc_client_send_message (app->client, line, &error))
    g_printerr ("sc-test-client: cannot send: %s\n", error->message);
  read_next_line (app);
}

static void
read_next_line (App *app)
{
  g_data_input_stream_read_line_async (app->input, G_PRIORITY_DEFAULT, app->cancellable, on_line,
                                       app);
}

static int
run (App *app, const char *host, guint16 port)
{
  g_autoptr (GError) error = NULL;

  if (!sc_client_establish_secure_session (app->client, host, port, NULL, &error))
    {
      g_printerr ("sc-test-client: cannot connect to %s:%u: %s\n", host, port, error->message);
      return 1;
    }
  say ("connected", NULL);
  sc_client_start_listening (app->client);
  read_next_line (app);
  g_main_loop_run (app->loop);
  g_cancellable_cancel (app->cancellable);
  sc_client_shutdown (app->client);
  /* Let the queued signal emissions and the cancelled read finish. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  return 0;
}

int
main (int argc, char **argv)
{
  App app = { 0 };
  g_autoptr (GInputStream) in = NULL;
  guint64 port;
  int ret;

  if (argc != 4 || !g_ascii_string_to_unsigned (argv[2], 10, 1, 65535, &port, NULL))
    {
      g_printerr ("usage: sc-test-client HOST PORT FINGERPRINT\n");
      return 2;
    }
  app.client = sc_client_new (NULL);
  sc_client_set_pinned_fingerprint (app.client, argv[3]);
  /* A scripted client: a lost session ends it (the reconnect tests drive
   * ScClient directly). */
  sc_client_set_reconnect (app.client, FALSE, 0, 0, 0);
  g_signal_connect (app.client, "message-received", G_CALLBACK (on_message), &app);
  g_signal_connect (app.client, "state-changed", G_CALLBACK (on_state_changed), &app);
  g_signal_connect (app.client, "error", G_CALLBACK (on_error), &app);
  app.loop = g_main_loop_new (NULL, FALSE);
  app.cancellable = g_cancellable_new ();
  in = g_unix_input_stream_new (0, FALSE);
  app.input = g_data_input_stream_new (in);

  ret = run (&app, argv[1], (guint16) port);

  g_object_unref (app.input);
  g_object_unref (app.cancellable);
  g_main_loop_unref (app.loop);
  g_object_unref (app.client);
  return ret;
}
