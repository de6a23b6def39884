/* fuzz-config.c: securecommd's configuration loader (sc_daemon_config_load_data)
 * on arbitrary bytes. Beyond crashes, leaks and undefined behaviour it
 * checks the loader's contract: it either succeeds with no error, or fails
 * with an SC_ERROR_CONFIG error that names the file, and a failed load
 * leaves the configuration as it was.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "fuzz.h"

#include <string.h>

#include "sc-daemon-config.h"
#include "sc-error.h"

#define FUZZ_CONFIG_NAME "fuzz.json"

static void
check_unchanged (const ScDaemonConfig *before, const ScDaemonConfig *after)
{
  if (before->heartbeat_missed != after->heartbeat_missed
      || before->max_clients != after->max_clients || before->tls != after->tls
      || g_strcmp0 (before->client_auth, after->client_auth) != 0
      || !g_strv_equal ((const char *const *) before->listen, (const char *const *) after->listen))
    {
      fprintf (stderr, "a failed load changed the configuration\n");
      abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (ScDaemonConfig) config = sc_daemon_config_new ();
  g_autoptr (ScDaemonConfig) before = sc_daemon_config_copy (config);
  g_autoptr (GError) error = NULL;
  gboolean ok;

  ok = sc_daemon_config_load_data (config, (const char *) data, (gssize) size, FUZZ_CONFIG_NAME,
                                   &error);
  if (ok != (error == NULL))
    abort ();
  if (!ok)
    {
      if (!g_error_matches (error, SC_ERROR, SC_ERROR_CONFIG)
          || strstr (error->message, FUZZ_CONFIG_NAME) == NULL)
        {
          fprintf (stderr, "unexpected error: %s\n", error->message);
          abort ();
        }
      check_unchanged (before, config);
    }
  else if (config->listen == NULL || config->listen[0] == NULL)
    abort (); /* a loaded configuration always has an address */
  if (fuzz_verbose ())
    fprintf (stderr, "%s\n", ok ? "loaded" : error->message);
  return 0;
}
