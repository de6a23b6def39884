/* sc-daemon-config.h: securecommd's JSON configuration, loaded strictly.
 *
 * The file layout, every key, its type, default and range are documented in
 * securecommd.json(5) (docs/securecommd.json.5.in). Anything the loader does
 * not understand is an SC_ERROR_CONFIG error whose message names the file,
 * the JSON path of the key and the reason.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

#include "sc-tls-config.h"

G_BEGIN_DECLS

/* The default listen address, and the port when only a host is given on the
 * command line. */
#define SC_DAEMON_DEFAULT_HOST "localhost"
#define SC_DAEMON_DEFAULT_PORT 12345

typedef struct
{
  char **listen;               /* "host:port" or "[v6]:port"; default { "localhost:12345" } */
  char *state_dir;             /* default: $STATE_DIRECTORY, else user state dir/securecomm */
  char *identity_key;          /* default: <state_dir>/identity.key */
  char *passphrase_file;       /* NULL: use the credential, then the environment */
  char *passphrase_env;        /* default "SECURECOMMD_PASSPHRASE" */
  char *passphrase_credential; /* default "securecommd-passphrase" */
  guint workers;               /* 0 = one per core; max 64 */
  guint heartbeat_interval_ms; /* 0 = off; else 1000..3600000 */
  guint heartbeat_missed;      /* 1..100 */
  guint handshake_timeout_ms;  /* 100..600000 */
  guint idle_timeout_ms;       /* 0 = none; else 1000..604800000 */
  guint max_clients;           /* 1..1000000 */
  guint max_handshakes;        /* concurrent handshakes; 1..100000 */
  guint max_per_source;        /* connections per source address; 1..1000000 */
  guint max_message_size;      /* bytes; 1..SC_MAX_MESSAGE_SIZE_LIMIT */
  guint64 rekey_after_records; /* 1..SC_REJECT_AFTER_RECORDS - 1 */
  guint64 rekey_after_bytes;   /* 1..SC_REJECT_AFTER_BYTES - SC_MAX_RECORD_PLAINTEXT */
  guint rekey_after_ms;        /* 0 = no rotation by age; else 1000..86400000 */
  guint max_skew_ms;           /* 1000..SC_MAX_SKEW_LIMIT_MS */
  char *client_auth;           /* "none" | "optional" | "required"; default "optional" */
  char **allowed_clients;      /* lowercase hex SHA-256 fingerprints; NULL = any */
  gboolean log_messages;       /* default FALSE: never log message bodies */
  /* "tls": the seed's tls_config.json keys as the library reads them
   * (sc_tls_config_new_from_json_object), or a --tls-config file. Never
   * NULL (a disabled configuration by default); immutable, so copies share
   * it, and a section in a file replaces it as a whole. */
  ScTlsConfig *tls;
} ScDaemonConfig;

ScDaemonConfig *sc_daemon_config_new (void);
ScDaemonConfig *sc_daemon_config_copy (const ScDaemonConfig *config);
void sc_daemon_config_free (ScDaemonConfig *config);

gboolean sc_daemon_config_load_file (ScDaemonConfig *config, const char *path, GError **error);
gboolean sc_daemon_config_load_data (ScDaemonConfig *config, const char *json, gssize len,
                                     const char *name_for_errors, GError **error);

gboolean sc_daemon_config_load_tls_file (ScDaemonConfig *config, const char *path, GError **error);

void sc_daemon_config_set_state_dir (ScDaemonConfig *config, const char *state_dir);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ScDaemonConfig, sc_daemon_config_free)

G_END_DECLS
