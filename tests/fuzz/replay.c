/* replay.c: runs a fuzz target over corpus files, without libFuzzer.
 *
 * Usage: replay-<target> PATH...
 * Each PATH is a file or a directory; a directory contributes every regular
 * file in it (not recursively), in name order. The empty input runs first,
 * as libFuzzer does. Output is TAP: "1..N", then "ok N - path" per input. A
 * crash or a failed FUZZ_CHECK aborts the run, and the "# path" comment
 * printed before each input names the culprit. No input at all is a failure:
 * a replay that runs nothing proves nothing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct
{
  char **paths;
  size_t n, cap;
} PathList;

static void
die (const char *what, const char *path)
{
  printf ("Bail out! %s %s: %s\n", what, path, strerror (errno));
  exit (1);
}

static char *
dup_path (const char *dir, const char *name)
{
  size_t n = strlen (dir) + 1 + (name ? strlen (name) : 0) + 1;
  char *p = malloc (n);

  if (p == NULL)
    die ("out of memory for", dir);
  if (name != NULL)
    snprintf (p, n, "%s/%s", dir, name);
  else
    snprintf (p, n, "%s", dir);
  return p;
}

static void
add (PathList *l, char *path)
{
  if (l->n == l->cap)
    {
      char **p;

      l->cap = l->cap ? 2 * l->cap : 64;
      p = realloc (l->paths, l->cap * sizeof *p);
      if (p == NULL)
        die ("out of memory for", path);
      l->paths = p;
    }
  l->paths[l->n++] = path;
}

static int
compare_paths (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Adds the regular files of dir, sorted by name. */
static void
add_dir (PathList *l, const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  size_t first = l->n;

  if (d == NULL)
    die ("cannot open", dir);
  while ((e = readdir (d)) != NULL)
    {
      char *path;
      struct stat st;

      if (e->d_name[0] == '.')
        continue;
      path = dup_path (dir, e->d_name);
      if (stat (path, &st) == 0 && S_ISREG (st.st_mode))
        add (l, path);
      else
        free (path);
    }
  closedir (d);
  qsort (l->paths + first, l->n - first, sizeof *l->paths, compare_paths);
}

/* Reads a whole file into a buffer of exactly its size, so that
 * AddressSanitizer sees any read past the end of the input. */
static uint8_t *
read_file (const char *path, size_t *len)
{
  FILE *f = fopen (path, "rb");
  struct stat st;
  uint8_t *buf;

  if (f == NULL || fstat (fileno (f), &st) != 0)
    die ("cannot read", path);
  *len = (size_t) st.st_size;
  buf = malloc (*len ? *len : 1);
  if (buf == NULL || fread (buf, 1, *len, f) != *len)
    die ("cannot read", path);
  fclose (f);
  return buf;
}

int
main (int argc, char **argv)
{
  PathList l = { NULL, 0, 0 };

  setvbuf (stdout, NULL, _IOLBF, 0);
  for (int i = 1; i < argc; i++)
    {
      struct stat st;

      if (stat (argv[i], &st) != 0)
        die ("cannot stat", argv[i]);
      if (S_ISDIR (st.st_mode))
        add_dir (&l, argv[i]);
      else
        add (&l, dup_path (argv[i], NULL));
    }
  if (l.n == 0)
    {
      printf ("1..1\nnot ok 1 - no corpus inputs given\n");
      return 1;
    }
  printf ("1..%zu\n", l.n + 1);
  printf ("# (empty input)\n");
  LLVMFuzzerTestOneInput ((const uint8_t *) "", 0);
  printf ("ok 1 - (empty input)\n");
  for (size_t i = 0; i < l.n; i++)
    {
      size_t len;
      uint8_t *buf = read_file (l.paths[i], &len);

      printf ("# %s\n", l.paths[i]);
      LLVMFuzzerTestOneInput (buf, len);
      printf ("ok %zu - %s\n", i + 2, l.paths[i]);
      free (buf);
      free (l.paths[i]);
    }
  free (l.paths);
  return 0;
}
