/* sc-test-wait.h: waiting for an event in a test without asserting a time.
 *
 * SC_TEST_GUARD_S bounds every wait only against a hang: a test that
 * reaches it has failed, however slow the machine.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

/* s: a wait longer than this is a hang, not slowness. */
#define SC_TEST_GUARD_S 60

/* Iterates the thread-default main context until done (data) holds, or
 * fails the test after SC_TEST_GUARD_S naming what it waited for. */
static inline void
sc_test_iterate_until (gboolean (*done) (gpointer), gpointer data, const char *what)
{
  gint64 deadline = g_get_monotonic_time () + SC_TEST_GUARD_S * G_USEC_PER_SEC;

  while (!done (data))
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("still waiting after %d s for %s", SC_TEST_GUARD_S, what);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
}
