/* sc-test-proc.h: what /proc says of the test process.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

/* The entries of a /proc directory ("/proc/self/task": the threads,
 * "/proc/self/fd": the open descriptors) for which keep (the entry's path,
 * data) holds, or all of them when keep is NULL ("/proc/self/fd" then
 * leaves out the directory's own descriptor, open while it is read). */
static inline guint
sc_test_count_proc_entries (const char *dir_path, gboolean (*keep) (const char *, gpointer),
                            gpointer data)
{
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = keep != NULL ? g_build_filename (dir_path, name, NULL) : NULL;

      if (keep == NULL || keep (path, data))
        n++;
    }
  return keep == NULL && g_str_has_suffix (dir_path, "/fd") ? n - 1 : n;
}
