/* sc-test-proc.h: what /proc says of the test process.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

/* The entries of a /proc directory: "/proc/self/task" counts the threads,
 * "/proc/self/fd" the open descriptors (its own, while it reads, excepted). */
static inline guint
sc_test_count_proc_entries (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  gboolean fds = g_str_has_suffix (path, "/fd");
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return fds ? n - 1 : n;
}
