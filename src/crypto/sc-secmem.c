/* sc-secmem.c: wiping and page-backed secure memory for key material.
 *
 * Each block is its own anonymous mapping, rounded up to whole pages,
 * excluded from core dumps and locked into RAM where RLIMIT_MEMLOCK allows.
 * A failure to lock is not an error: it is remembered (sc_secure_locked_ok)
 * and the block is used unlocked.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-crypto.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Set once any block could not be locked; never cleared. */
static atomic_bool lock_failed = false;

void
sc_memzero (void *p, size_t len)
{
  if (p != NULL && len > 0)
    explicit_bzero (p, len);
}

/* The mapping size for a block of len bytes: len rounded up to whole pages,
 * at least one page. Returns 0 if that overflows. */
static size_t
secure_span (size_t len)
{
  long page_size = sysconf (_SC_PAGESIZE);
  size_t page = page_size > 0 ? (size_t) page_size : 4096;

  if (len == 0)
    len = 1;
  if (len > SIZE_MAX - (page - 1))
    return 0;
  return (len + page - 1) / page * page;
}

void *
sc_secure_alloc (size_t len)
{
  size_t span = secure_span (len);
  void *p;

  if (span == 0)
    return NULL;
  /* Anonymous mappings are zero-filled by the kernel. */
  p = mmap (NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return NULL;
#ifdef MADV_WIPEONFORK
  /* A forked child gets zero pages, not our keys (Linux >= 4.14). */
  (void) madvise (p, span, MADV_WIPEONFORK);
#endif
#ifdef MADV_DONTDUMP
  (void) madvise (p, span, MADV_DONTDUMP);
#endif
  /* EPERM, ENOMEM (over RLIMIT_MEMLOCK) and EAGAIN are the expected
   * failures; none of them is fatal. */
  if (mlock (p, span) != 0)
    atomic_store (&lock_failed, true);
  return p;
}

void
sc_secure_free (void *p, size_t len)
{
  size_t span;
  int saved_errno;

  if (p == NULL)
    return;
  saved_errno = errno;
  span = secure_span (len);
  explicit_bzero (p, span);
  (void) munlock (p, span);
  (void) munmap (p, span);
  errno = saved_errno;
}

bool
sc_secure_locked_ok (void)
{
  return !atomic_load (&lock_failed);
}
