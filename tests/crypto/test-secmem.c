/* test-secmem.c: the secure-memory slab allocator (sc_secure_alloc): blocks
 * are distinct, zeroed, aligned and wiped on free; slab pages keep the
 * protections (locked, no core dump, wiped in a forked child); arenas grow,
 * and past the last one blocks get mappings of their own.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sc-crypto.h"

/* AddressSanitizer turns mlock into a no-op that reports success. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED_MLOCK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED_MLOCK 1
#endif
#endif
#ifndef SANITIZED_MLOCK
#define SANITIZED_MLOCK 0
#endif

/* bytes: what one session keeps in secure memory (ScSecrets), the size
 * the slabs are tuned for. */
#define SESSION_SECRETS_LEN 9528

static gboolean
all_zero (const guint8 *p, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if (p[i] != 0)
      return FALSE;
  return TRUE;
}

typedef struct
{
  guint8 *p;
  gsize len;
} Block;

static int
block_cmp (gconstpointer a, gconstpointer b)
{
  const Block *x = a, *y = b;

  return x->p < y->p ? -1 : x->p > y->p;
}

/* Allocates n blocks of pseudo-random sizes up to max_len, each filled
 * with its index after checking that it came zeroed and aligned. */
static Block *
alloc_many (guint n, gsize max_len, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  Block *b = g_new0 (Block, n);

  for (guint i = 0; i < n; i++)
    {
      b[i].len = (gsize) g_rand_int_range (rand, 1, (gint32) max_len + 1);
      b[i].p = sc_secure_alloc (b[i].len);
      g_assert_nonnull (b[i].p);
      g_assert_cmpuint ((guintptr) b[i].p % 16, ==, 0);
      g_assert_true (all_zero (b[i].p, b[i].len));
      memset (b[i].p, (int) (i & 0xff) | 1, b[i].len);
    }
  g_rand_free (rand);
  return b;
}

static void
free_many (Block *b, guint n)
{
  for (guint i = 0; i < n; i++)
    sc_secure_free (b[i].p, b[i].len);
  g_free (b);
}

/* Thousands of blocks of many sizes: all live at once, none overlaps
 * another, each keeps what was written to it; freeing all of them leaves
 * no block behind. */
static void
test_many_blocks_distinct_and_intact (void)
{
  enum
  {
    N = 3000
  };
  ScSecureStats before, during, after;
  Block *b, *sorted;

  sc_secure_get_stats (&before);
  b = alloc_many (N, 12000, 1);
  sc_secure_get_stats (&during);
  g_assert_cmpuint (during.slab_blocks, ==, before.slab_blocks + N);
  sorted = g_memdup2 (b, N * sizeof *b);
  qsort (sorted, N, sizeof *sorted, block_cmp);
  for (guint i = 1; i < N; i++)
    g_assert_true (sorted[i - 1].p + sorted[i - 1].len <= sorted[i].p);
  for (guint i = 0; i < N; i++)
    for (gsize j = 0; j < b[i].len; j++)
      g_assert_cmpuint (b[i].p[j], ==, (i & 0xff) | 1);
  g_free (sorted);
  free_many (b, N);
  sc_secure_get_stats (&after);
  g_assert_cmpuint (after.slab_blocks, ==, before.slab_blocks);
  g_assert_cmpuint (after.direct_blocks, ==, before.direct_blocks);
}

/* Small blocks share pages: 1000 sessions' secrets take less than 10 KiB
 * of slab each, not three pages each. */
static void
test_session_secrets_packed (void)
{
  enum
  {
    N = 1000
  };
  ScSecureStats before, during;
  void *p[N];

  sc_secure_get_stats (&before);
  for (guint i = 0; i < N; i++)
    p[i] = sc_secure_alloc (SESSION_SECRETS_LEN);
  sc_secure_get_stats (&during);
  g_assert_cmpuint (during.direct_blocks, ==, before.direct_blocks);
  g_assert_cmpuint (during.slab_bytes - before.slab_bytes, <, (gsize) N * 10 * 1024);
  for (guint i = 0; i < N; i++)
    sc_secure_free (p[i], SESSION_SECRETS_LEN);
}

/* A freed block is all zeros at once (read through the stale pointer:
 * its slab stays in use because a neighbour is still live), and the block
 * handed out next from that slab starts zeroed. */
static void
test_wiped_on_free (void)
{
  guint8 *keep = sc_secure_alloc (64);
  guint8 *a = sc_secure_alloc (64);
  guint8 *again;

  memset (a, 0x5a, 64);
  sc_secure_free (a, 64);
  g_assert_true (all_zero (a, 64));
  again = sc_secure_alloc (64);
  g_assert_true (all_zero (again, 64));
  sc_secure_free (again, 64);
  sc_secure_free (keep, 64);
}

/* Every size up to the slab limit is 16-byte aligned, zero sizes too. */
static void
test_alignment_every_size (void)
{
  for (gsize len = 0; len <= 1100; len++)
    {
      guint8 *p = sc_secure_alloc (len);

      g_assert_nonnull (p);
      g_assert_cmpuint ((guintptr) p % 16, ==, 0);
      memset (p, 0xff, len);
      sc_secure_free (p, len);
    }
}

/* Past SC_SECURE_SLAB_MAX_BLOCK a block has a mapping of its own, which
 * works the same way. */
static void
test_large_blocks_direct (void)
{
  ScSecureStats before, during, after;
  gsize len = SC_SECURE_SLAB_MAX_BLOCK + 1;
  guint8 *p;

  sc_secure_get_stats (&before);
  p = sc_secure_alloc (len);
  g_assert_nonnull (p);
  g_assert_true (all_zero (p, len));
  memset (p, 1, len);
  sc_secure_get_stats (&during);
  g_assert_cmpuint (during.direct_blocks, ==, before.direct_blocks + 1);
  sc_secure_free (p, len);
  sc_secure_get_stats (&after);
  g_assert_cmpuint (after.direct_blocks, ==, before.direct_blocks);
}

/* The VmFlags of the mapping that holds p (from /proc/self/smaps), or
 * NULL where there is no /proc. */
static char *
vm_flags_of (const void *p)
{
  g_autofree char *smaps = NULL;
  g_auto (GStrv) lines = NULL;
  gboolean inside = FALSE;

  if (!g_file_get_contents ("/proc/self/smaps", &smaps, NULL, NULL))
    return NULL;
  lines = g_strsplit (smaps, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      unsigned long lo, hi;

      if (sscanf (lines[i], "%lx-%lx ", &lo, &hi) == 2 && strchr (lines[i], ' ') != NULL
          && g_ascii_isxdigit (lines[i][0]))
        inside = (guintptr) p >= lo && (guintptr) p < hi;
      else if (inside && g_str_has_prefix (lines[i], "VmFlags:"))
        return g_strconcat (lines[i] + strlen ("VmFlags:"), " ", NULL);
    }
  return NULL;
}

/* Slab pages keep the protections each block used to have alone: no core
 * dump (dd), wiped in a child (wf), locked (lo) when locking worked. */
static void
test_slab_pages_protected (void)
{
  guint8 *p = sc_secure_alloc (SESSION_SECRETS_LEN);
  g_autofree char *flags = vm_flags_of (p);

  if (flags == NULL)
    {
      sc_secure_free (p, SESSION_SECRETS_LEN);
      g_test_skip ("no /proc/self/smaps");
      return;
    }
  g_test_message ("VmFlags:%s", flags);
  g_assert_nonnull (strstr (flags, " dd "));
#ifdef MADV_WIPEONFORK
  g_assert_nonnull (strstr (flags, " wf "));
#endif
  if (sc_secure_locked_ok () && !SANITIZED_MLOCK)
    g_assert_nonnull (strstr (flags, " lo "));
  sc_secure_free (p, SESSION_SECRETS_LEN);
}

/* A forked child sees zeros where the parent keeps a secret. */
static void
test_child_sees_zeros (void)
{
  guint8 *p = sc_secure_alloc (SESSION_SECRETS_LEN);
  int status = 0;
  pid_t pid;

  memset (p, 0x77, SESSION_SECRETS_LEN);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    _exit (all_zero (p, SESSION_SECRETS_LEN) ? 0 : 1);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
#ifdef MADV_WIPEONFORK
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
#endif
  g_assert_cmpuint (p[0], ==, 0x77); /* the parent's stays */
  sc_secure_free (p, SESSION_SECRETS_LEN);
}

typedef struct
{
  guint32 seed;
} ThreadArg;

static gpointer
churn_thread (gpointer data)
{
  ThreadArg *arg = data;

  for (int round = 0; round < 20; round++)
    {
      Block *b = alloc_many (200, 2000, arg->seed + (guint32) round);

      for (guint i = 0; i < 200; i++)
        for (gsize j = 0; j < b[i].len; j++)
          g_assert_cmpuint (b[i].p[j], ==, (i & 0xff) | 1);
      free_many (b, 200);
    }
  return NULL;
}

/* Threads allocating and freeing at once never share a block. */
static void
test_threads (void)
{
  GThread *threads[4];
  ThreadArg args[4];

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      args[i].seed = 100 + i * 1000;
      threads[i] = g_thread_new ("churn", churn_thread, &args[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
}

/* Emptied slabs give their pages back, all but one kept per size class. */
static void
test_empty_slabs_released (void)
{
  enum
  {
    N = 600
  };
  ScSecureStats before, during, after;
  void *p[N];

  sc_secure_get_stats (&before);
  for (guint i = 0; i < N; i++)
    p[i] = sc_secure_alloc (4000); /* a size class of its own here */
  sc_secure_get_stats (&during);
  g_assert_cmpuint (during.slabs, >, before.slabs + 10);
  for (guint i = 0; i < N; i++)
    sc_secure_free (p[i], 4000);
  sc_secure_get_stats (&after);
  g_assert_cmpuint (after.slabs, <=, before.slabs + 1);
  /* Pages given back are used again, zeroed. */
  for (guint i = 0; i < N; i++)
    {
      p[i] = sc_secure_alloc (4000);
      g_assert_true (all_zero (p[i], 4000));
    }
  for (guint i = 0; i < N; i++)
    sc_secure_free (p[i], 4000);
}

/* With small arenas (in a child process, so that the setting is fresh):
 * more arenas are reserved as slabs fill them, up to SC_SECURE_MAX_ARENAS;
 * past that every block gets a mapping of its own, and all of them free
 * back to nothing. */
static void
test_arenas_grow_then_fall_back (void)
{
  enum
  {
    N = 1200
  };
  ScSecureStats st;
  Block *b;

  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_passed ();
      return;
    }
  /* 16 pages: one slab of session secrets (7 pages) per arena, twice. */
  sc_secure_set_arena_size (16 * (gsize) sysconf (_SC_PAGESIZE));
  b = g_new0 (Block, N);
  for (guint i = 0; i < N; i++)
    {
      b[i].len = SESSION_SECRETS_LEN;
      b[i].p = sc_secure_alloc (b[i].len);
      g_assert_nonnull (b[i].p);
      memset (b[i].p, 3, b[i].len);
    }
  sc_secure_get_stats (&st);
  g_assert_cmpuint (st.arenas, ==, SC_SECURE_MAX_ARENAS);
  g_assert_cmpuint (st.direct_blocks, >, 0);
  g_assert_cmpuint (st.slab_blocks + st.direct_blocks, ==, N);
  free_many (b, N);
  sc_secure_get_stats (&st);
  g_assert_cmpuint (st.slab_blocks, ==, 0);
  g_assert_cmpuint (st.direct_blocks, ==, 0);
}

/* Freeing a block twice is memory corruption around secrets: the process
 * stops. */
static void
test_double_free_aborts (void)
{
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_failed ();
      return;
    }
  {
    void *keep = sc_secure_alloc (32);
    void *p = sc_secure_alloc (32);

    sc_secure_free (p, 32);
    sc_secure_free (p, 32);
    sc_secure_free (keep, 32);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/secmem/many-blocks-distinct-and-intact", test_many_blocks_distinct_and_intact);
  g_test_add_func ("/secmem/session-secrets-packed", test_session_secrets_packed);
  g_test_add_func ("/secmem/wiped-on-free", test_wiped_on_free);
  g_test_add_func ("/secmem/alignment-every-size", test_alignment_every_size);
  g_test_add_func ("/secmem/large-blocks-direct", test_large_blocks_direct);
  g_test_add_func ("/secmem/slab-pages-protected", test_slab_pages_protected);
  g_test_add_func ("/secmem/child-sees-zeros", test_child_sees_zeros);
  g_test_add_func ("/secmem/threads", test_threads);
  g_test_add_func ("/secmem/empty-slabs-released", test_empty_slabs_released);
  g_test_add_func ("/secmem/arenas-grow-then-fall-back", test_arenas_grow_then_fall_back);
  g_test_add_func ("/secmem/double-free-aborts", test_double_free_aborts);
  return g_test_run ();
}
