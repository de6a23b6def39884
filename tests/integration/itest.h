/* itest.h: the harness of the securecommd integration tests.
 *
 * Each test case gets a fixture (ItFixture) that runs the REAL securecommd
 * binary on a private session bus (GTestDBus), listening on 127.0.0.1 on a
 * port the kernel picked, with its own state directory and, when the test
 * asks for one, a configuration file. The fixture's own bus connection
 * has called Subscribe() and records every signal the daemon sends it.
 * Clients are real ScClients of libsecurecomm, pinned to the daemon's
 * ServerFingerprint.
 *
 * Waits are for events, never for time: IT_WAIT (fx, condition) iterates
 * the main context until the condition holds. Its bound (IT_GUARD_S) only
 * turns a hang into a failure; nothing asserts how long anything took.
 *
 * Each case runs in a process of its own (it_add (), over
 * g_test_trap_subprocess ()), so a case that crashes, or whose daemon
 * does, fails alone; diagnostics go to stderr (it_note ()), which is shown.
 *
 * At teardown the daemon is stopped with Shutdown() and must exit with
 * status 0: under AddressSanitizer a leak in the daemon fails the test that
 * caused it. The daemon runs with G_DEBUG=fatal-warnings, so a warning from
 * it is a failure too. Its output (--verbose) goes to DAEMON.log in the
 * test's directory and is printed when a test fails.
 *
 * Environment (set by tests/integration/meson.build): SC_SECURECOMMD, the
 * daemon binary; SC_TEST_CLIENT, the sc-test-client binary;
 * SC_PROJECT_VERSION, the meson project version.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "sc-client.h"
#include "sc-error.h"
#include "sc-identity.h"

G_BEGIN_DECLS

#define IT_BUS_NAME "io.github.SecureComm1"
#define IT_PATH "/io/github/SecureComm1"
#define IT_IFACE "io.github.SecureComm1.Server"
#define IT_ERROR_PREFIX "io.github.SecureComm1.Error."

/* s: how long a wait may last before the test is declared hung. A guard
 * against hangs only, generous for AddressSanitizer builds on busy CI
 * (where a whole case takes about a second). */
#define IT_GUARD_S 30

/* A configuration small enough to see the timers fire within a test. */
#define IT_CONFIG_SMALL_LIMITS                                                 \
  "{\"sessions\": {\"heartbeat_interval_ms\": 1000, \"heartbeat_missed\": 2, " \
  "\"handshake_timeout_ms\": 1000, \"max_per_source\": 3}}"

typedef struct
{
  char *name;
  GVariant *params;
  gboolean taken;
} ItSignal;

typedef struct
{
  ScClient *client;
  char *id;            /* from ClientConnected; NULL until known */
  GVariant *info;      /* a{sv} from ClientConnected */
  GPtrArray *received; /* char *: messages from the daemon, in order */
  GArray *states;      /* ScClientState: every new state, in order */
  GPtrArray *errors;   /* GError *: the client's "error" signal */
} ItClient;

typedef struct
{
  char *dir;         /* the test's temporary directory */
  char *config_path; /* NULL: the daemon runs on its defaults */
  char *log_path;
  GTestDBus *bus;
  GDBusConnection *conn; /* subscribed; records signals */
  GDBusProxy *proxy;
  GSubprocess *daemon;
  gboolean daemon_exited;
  gboolean expect_exit; /* the test stops the daemon itself */
  char *daemon_unique_name;
  gboolean name_vanished;
  guint name_watch;
  char *fingerprint;
  guint16 port;
  GPtrArray *signals; /* ItSignal *, in arrival order */
  guint signal_sub;
  GPtrArray *clients; /* ItClient *, owned */
  GSource *tick;      /* wakes IT_WAIT up now and then */
} ItFixture;

/* g_test_init () and the environment every process of the tests shares. */
void it_init (int *argc, char ***argv);

/* Adds a test case that runs with a fixture around it, in a process of its
 * own; @config is the daemon's configuration (JSON) or NULL. */
typedef void (*ItTestFunc) (ItFixture *fx, gconstpointer config);
void it_add (const char *path, const char *config, ItTestFunc func);
/* The same without a fixture. */
void it_add_func (const char *path, GTestFunc func);

void it_setup (ItFixture *fx, gconstpointer config_json);
void it_teardown (ItFixture *fx, gconstpointer config_json);

/* Waits. */
gint64 it_deadline (void);
void it_iterate (ItFixture *fx, gint64 deadline, const char *what, const char *loc);
#define IT_WAIT(fx, cond)                               \
  G_STMT_START                                          \
  {                                                     \
    gint64 it_deadline_ = it_deadline ();               \
    while (!(cond))                                     \
      it_iterate ((fx), it_deadline_, #cond, G_STRLOC); \
  }                                                     \
  G_STMT_END
/* A note on stderr: each case runs in a process whose stdout is not
 * shown, so this is where diagnostics go. */
void it_note (const char *format, ...) G_GNUC_PRINTF (1, 2);

/* Runs whatever is already pending in the main context. */
void it_drain (void);

/* The daemon. */
GSubprocessLauncher *it_launcher_new (void);
char *it_read_log (ItFixture *fx);
void it_dump_log (ItFixture *fx);
void it_wait_daemon_exit (ItFixture *fx);
/* SIGKILLs the daemon and starts it again: same port, same identity. */
void it_restart_daemon (ItFixture *fx);
int it_daemon_exit_status (ItFixture *fx);
void it_check_daemon_exit (ItFixture *fx);
void it_fail (const char *format, ...) G_GNUC_PRINTF (1, 2);

/* D-Bus. */
GDBusConnection *it_bus_connect (ItFixture *fx);
GVariant *it_call (ItFixture *fx, GDBusConnection *conn, const char *method, GVariant *params,
                   const char *reply_type, GError **error);
GVariant *it_call_ok (ItFixture *fx, const char *method, GVariant *params, const char *reply_type);
void it_assert_remote_error (const GError *error, const char *short_name);
char **it_get_client_ids (ItFixture *fx);
void it_assert_client_ids (ItFixture *fx, const char *const *expected);
guint64 it_send (ItFixture *fx, const char *id, const char *text);

/* Signals the fixture's connection received. */
ItSignal *it_take_signal (ItFixture *fx, const char *name, const char *client_id);
guint it_count_signals (ItFixture *fx, const char *name, const char *client_id);
char *it_take_disconnect_reason (ItFixture *fx, const char *client_id);

/* Clients. */
ItClient *it_client_new (ItFixture *fx, ScIdentity *identity, const char *pin);
ItClient *it_connect (ItFixture *fx, ScIdentity *identity);
void it_client_wait_message (ItFixture *fx, ItClient *c, const char *text);
void it_client_wait_state (ItFixture *fx, ItClient *c, ScClientState state);
void it_client_wait_passed_state (ItFixture *fx, ItClient *c, ScClientState state);
void it_exchange (ItFixture *fx, ItClient *c);
char *it_client_close (ItFixture *fx, ItClient *c);
void it_assert_serving (ItFixture *fx, ItClient *existing);

/* Helper processes (sc-test-client). */
GSubprocess *it_spawn_test_client (ItFixture *fx, GDataInputStream **out);
char *it_read_line (ItFixture *fx, GDataInputStream *in);

G_END_DECLS
