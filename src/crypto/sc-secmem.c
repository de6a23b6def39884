/* sc-secmem.c: wiping and secure memory for key material.
 *
 * Small blocks (up to SC_SECURE_SLAB_MAX_BLOCK bytes) come from slabs: runs
 * of a few pages that hold many blocks of one size class, so that a
 * session's 9.5 KB of keys costs 9.5 KB, not three whole pages, and a
 * server with 10^5 sessions does not make 10^5 mappings. Every slab page
 * has the protections each block used to have on its own: excluded from
 * core dumps (MADV_DONTDUMP), zeroed in a forked child (MADV_WIPEONFORK),
 * locked into RAM where RLIMIT_MEMLOCK allows. A block is wiped when it is
 * freed, so a free block is all zeros and is handed out as it is; a slab
 * whose blocks are all free keeps its pages for the next allocation of its
 * class (one per class) or gives them back to the kernel.
 *
 * Slabs are carved from arenas: address ranges reserved up front
 * (PROT_NONE: no memory behind them) and made readable and writable one
 * slab at a time. The arena's page table maps a page to its slab, so a
 * free finds the slab in O(1), and the bookkeeping (free bitmaps, lists)
 * lives in the normal heap: it is no secret, and a child after fork, whose
 * slab pages read as zeros, still frees correctly.
 *
 * Bigger blocks, and every block once SC_SECURE_MAX_ARENAS arenas are full,
 * get a mapping of their own, as before. A failure to lock is not an
 * error: it is remembered (sc_secure_locked_ok) and the memory is used
 * unlocked. One mutex guards the allocator.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-crypto.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* bytes: blocks are multiples of this, and start at multiples of it (as
 * malloc's do on 64-bit systems). */
#define SECMEM_ALIGN 16
/* pages: the most one slab spans (64 KiB with 4 KiB pages). */
#define SLAB_MAX_PAGES 16
/* A slab size is good enough when at most 1/16 of it is left over. */
#define SLAB_WASTE_DIVISOR 16
/* bytes: the default arena, reserved (not allocated) at a time: 1 GiB holds
 * about 110,000 sessions' keys; more arenas follow as needed. */
#define ARENA_DEFAULT_BYTES (sizeof (void *) >= 8 ? (size_t) 1 << 30 : (size_t) 32 << 20)

typedef struct SizeClass SizeClass;
typedef struct Slab Slab;

typedef enum
{
  SLAB_FULL,    /* on no list */
  SLAB_PARTIAL, /* on cls->partial */
  SLAB_EMPTY,   /* on cls->empty */
} SlabState;

struct Slab
{
  SizeClass *cls;
  Slab *prev, *next;
  uint8_t *base; /* cls->pages pages in an arena */
  SlabState state;
  bool populated; /* its pages are in use (false: given back, reads as 0) */
  uint32_t n_free;
  uint64_t free_bits[]; /* bit i set: block i is free */
};

struct SizeClass
{
  SizeClass *next;
  size_t stride;     /* block size */
  size_t pages;      /* per slab */
  uint32_t per_slab; /* blocks */
  Slab *partial;     /* some blocks free */
  Slab *empty;       /* every block free; populated ones first */
};

typedef struct
{
  uint8_t *base;
  size_t n_pages;
  size_t used_pages; /* slabs are carved from the start */
  Slab **page_slab;  /* the slab each used page belongs to */
} Arena;

static pthread_mutex_t secmem_lock = PTHREAD_MUTEX_INITIALIZER;
static Arena arenas[SC_SECURE_MAX_ARENAS];
static unsigned n_arenas;
static size_t arena_bytes; /* 0: ARENA_DEFAULT_BYTES */
static bool arenas_failed; /* a reservation failed: stop trying */
static SizeClass *classes;
static ScSecureStats stats;

/* Set once any memory could not be locked; never cleared. */
static atomic_bool lock_failed = false;

void
sc_memzero (void *p, size_t len)
{
  if (p != NULL && len > 0)
    explicit_bzero (p, len);
}

static size_t
page_size (void)
{
  static size_t cached;

  if (cached == 0)
    {
      long ps = sysconf (_SC_PAGESIZE);

      cached = ps > 0 ? (size_t) ps : 4096;
    }
  return cached;
}

/* The protections of every secure page: no core dump, zero in a child,
 * locked (EPERM, ENOMEM over RLIMIT_MEMLOCK and EAGAIN are the expected
 * failures; none of them is fatal). */
static void
protect_pages (void *p, size_t span)
{
#ifdef MADV_WIPEONFORK
  /* A forked child gets zero pages, not our keys (Linux >= 4.14). */
  (void) madvise (p, span, MADV_WIPEONFORK);
#endif
#ifdef MADV_DONTDUMP
  (void) madvise (p, span, MADV_DONTDUMP);
#endif
  if (mlock (p, span) != 0)
    atomic_store (&lock_failed, true);
}

/* ---- blocks with a mapping of their own --------------------------------- */

/* The mapping size for a block of len bytes: len rounded up to whole pages,
 * at least one page. Returns 0 if that overflows. */
static size_t
direct_span (size_t len)
{
  size_t page = page_size ();

  if (len == 0)
    len = 1;
  if (len > SIZE_MAX - (page - 1))
    return 0;
  return (len + page - 1) / page * page;
}

static void *
direct_alloc (size_t len)
{
  size_t span = direct_span (len);
  void *p;

  if (span == 0)
    return NULL;
  /* Anonymous mappings are zero-filled by the kernel. */
  p = mmap (NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return NULL;
  protect_pages (p, span);
  pthread_mutex_lock (&secmem_lock);
  stats.direct_blocks++;
  stats.direct_bytes += span;
  pthread_mutex_unlock (&secmem_lock);
  return p;
}

static void
direct_free (void *p, size_t len)
{
  size_t span = direct_span (len);

  explicit_bzero (p, span);
  (void) munlock (p, span);
  (void) munmap (p, span);
  pthread_mutex_lock (&secmem_lock);
  stats.direct_blocks--;
  stats.direct_bytes -= span;
  pthread_mutex_unlock (&secmem_lock);
}

/* ---- arenas (lock held) ------------------------------------------------- */

static bool
arena_reserve_locked (void)
{
  size_t page = page_size ();
  size_t bytes = arena_bytes != 0 ? arena_bytes : ARENA_DEFAULT_BYTES;
  Arena *a;
  void *base;

  if (n_arenas == SC_SECURE_MAX_ARENAS || arenas_failed)
    return false;
  bytes = (bytes + page - 1) / page * page;
  /* PROT_NONE: no memory, and no commit charge until a slab is made
   * writable. */
  base = mmap (NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED)
    {
      arenas_failed = true;
      return false;
    }
  a = &arenas[n_arenas];
  a->page_slab = calloc (bytes / page, sizeof *a->page_slab);
  if (a->page_slab == NULL)
    {
      munmap (base, bytes);
      return false;
    }
  a->base = base;
  a->n_pages = bytes / page;
  a->used_pages = 0;
  n_arenas++;
  stats.arenas = n_arenas;
  return true;
}

/* The slab that p lies in, or NULL if p is not in an arena. */
static Slab *
slab_of_locked (const void *p)
{
  const uint8_t *b = p;

  for (unsigned i = 0; i < n_arenas; i++)
    if (b >= arenas[i].base && b < arenas[i].base + arenas[i].n_pages * page_size ())
      {
        Slab *s = arenas[i].page_slab[(size_t) (b - arenas[i].base) / page_size ()];

        if (s == NULL)
          abort (); /* in an arena, but in no slab: not ours to free */
        return s;
      }
  return NULL;
}

/* ---- slabs (lock held) -------------------------------------------------- */

static void
list_remove (Slab **head, Slab *s)
{
  if (s->prev != NULL)
    s->prev->next = s->next;
  else
    *head = s->next;
  if (s->next != NULL)
    s->next->prev = s->prev;
  s->prev = s->next = NULL;
}

static void
list_push (Slab **head, Slab *s)
{
  s->prev = NULL;
  s->next = *head;
  if (*head != NULL)
    (*head)->prev = s;
  *head = s;
}

/* Moves s to the list its state names. */
static void
slab_set_state (Slab *s, SlabState state)
{
  if (s->state == SLAB_PARTIAL)
    list_remove (&s->cls->partial, s);
  else if (s->state == SLAB_EMPTY)
    list_remove (&s->cls->empty, s);
  s->state = state;
  if (state == SLAB_PARTIAL)
    list_push (&s->cls->partial, s);
  else if (state == SLAB_EMPTY)
    list_push (&s->cls->empty, s);
}

static size_t
slab_span (const SizeClass *cls)
{
  return cls->pages * page_size ();
}

/* Marks every block of s free. */
static void
slab_fill_bits (Slab *s)
{
  uint32_t n = s->cls->per_slab;

  memset (s->free_bits, 0, (n + 63) / 64 * sizeof (uint64_t));
  for (uint32_t i = 0; i < n; i++)
    s->free_bits[i / 64] |= (uint64_t) 1 << (i % 64);
  s->n_free = n;
}

/* A new slab for cls, carved from an arena (a new one if need be). */
static Slab *
slab_new_locked (SizeClass *cls)
{
  Arena *a = n_arenas > 0 ? &arenas[n_arenas - 1] : NULL;
  size_t words = (cls->per_slab + 63) / 64;
  Slab *s;

  if ((a == NULL || a->n_pages - a->used_pages < cls->pages) && arena_reserve_locked ())
    a = &arenas[n_arenas - 1];
  if (a == NULL || a->n_pages - a->used_pages < cls->pages)
    return NULL;
  s = calloc (1, sizeof *s + words * sizeof (uint64_t));
  if (s == NULL)
    return NULL;
  s->base = a->base + a->used_pages * page_size ();
  if (mprotect (s->base, slab_span (cls), PROT_READ | PROT_WRITE) != 0)
    {
      free (s);
      return NULL;
    }
  for (size_t i = 0; i < cls->pages; i++)
    a->page_slab[a->used_pages + i] = s;
  a->used_pages += cls->pages;
  protect_pages (s->base, slab_span (cls));
  s->cls = cls;
  s->populated = true;
  s->state = SLAB_FULL;
  slab_fill_bits (s);
  stats.slabs++;
  stats.slab_bytes += slab_span (cls);
  return s;
}

/* Gives the pages of an empty slab back to the kernel; they read as zeros
 * when used again. Its blocks were wiped when freed. */
static void
slab_release_locked (Slab *s)
{
  (void) munlock (s->base, slab_span (s->cls));
  (void) madvise (s->base, slab_span (s->cls), MADV_DONTNEED);
  s->populated = false;
  stats.slabs--;
  stats.slab_bytes -= slab_span (s->cls);
}

static void
slab_populate_locked (Slab *s)
{
  if (mlock (s->base, slab_span (s->cls)) != 0)
    atomic_store (&lock_failed, true);
  s->populated = true;
  stats.slabs++;
  stats.slab_bytes += slab_span (s->cls);
}

/* ---- size classes (lock held) ------------------------------------------- */

/* Pages per slab for blocks of stride bytes: the fewest that leave at most
 * 1/SLAB_WASTE_DIVISOR over, else the least waste per block. */
static size_t
class_pages (size_t stride)
{
  size_t page = page_size (), best = 0;
  double best_waste = 2;

  for (size_t p = (stride + page - 1) / page; p <= SLAB_MAX_PAGES; p++)
    {
      size_t span = p * page, left = span % stride;
      double waste = (double) left / (double) (span - left);

      if (left * SLAB_WASTE_DIVISOR <= span)
        return p;
      if (waste < best_waste)
        {
          best_waste = waste;
          best = p;
        }
    }
  return best;
}

static SizeClass *
class_for_locked (size_t stride)
{
  SizeClass *cls;

  for (cls = classes; cls != NULL; cls = cls->next)
    if (cls->stride == stride)
      return cls;
  cls = calloc (1, sizeof *cls);
  if (cls == NULL)
    return NULL;
  cls->stride = stride;
  cls->pages = class_pages (stride);
  cls->per_slab = (uint32_t) (cls->pages * page_size () / stride);
  cls->next = classes;
  classes = cls;
  return cls;
}

/* ---- slab blocks -------------------------------------------------------- */

static void *
slab_alloc_locked (size_t len)
{
  size_t stride = ((len == 0 ? 1 : len) + SECMEM_ALIGN - 1) / SECMEM_ALIGN * SECMEM_ALIGN;
  SizeClass *cls = class_for_locked (stride);
  Slab *s;
  uint32_t i = 0;

  if (cls == NULL)
    return NULL;
  s = cls->partial != NULL ? cls->partial : cls->empty;
  if (s == NULL && (s = slab_new_locked (cls)) == NULL)
    return NULL;
  if (!s->populated)
    slab_populate_locked (s);
  while (s->free_bits[i / 64] == 0)
    i += 64;
  i += (uint32_t) __builtin_ctzll (s->free_bits[i / 64]);
  s->free_bits[i / 64] &= ~((uint64_t) 1 << (i % 64));
  s->n_free--;
  slab_set_state (s, s->n_free == 0 ? SLAB_FULL : SLAB_PARTIAL);
  stats.slab_blocks++;
  return s->base + (size_t) i * stride;
}

/* Keeps one populated empty slab per class for the next allocation; the
 * pages of any other go back to the kernel. */
static void
slab_emptied_locked (Slab *s)
{
  Slab *head = s->cls->empty;

  if (head == NULL || !head->populated)
    {
      slab_set_state (s, SLAB_EMPTY); /* the one kept, first on the list */
      return;
    }
  slab_release_locked (s);
  slab_set_state (s, SLAB_FULL); /* off its list; then behind the kept one */
  s->state = SLAB_EMPTY;
  s->prev = head;
  s->next = head->next;
  if (head->next != NULL)
    head->next->prev = s;
  head->next = s;
}

static void
slab_free_locked (Slab *s, void *p)
{
  size_t off = (size_t) ((uint8_t *) p - s->base);
  uint32_t i = (uint32_t) (off / s->cls->stride);

  /* Not a block we handed out, or one freed already: memory corruption,
   * and secrets may be involved. Stop. */
  if (off % s->cls->stride != 0 || i >= s->cls->per_slab
      || (s->free_bits[i / 64] & ((uint64_t) 1 << (i % 64))) != 0)
    abort ();
  explicit_bzero (p, s->cls->stride);
  s->free_bits[i / 64] |= (uint64_t) 1 << (i % 64);
  s->n_free++;
  stats.slab_blocks--;
  if (s->n_free == s->cls->per_slab)
    slab_emptied_locked (s);
  else if (s->state == SLAB_FULL)
    slab_set_state (s, SLAB_PARTIAL);
}

/* ---- the API ------------------------------------------------------------ */

void *
sc_secure_alloc (size_t len)
{
  void *p = NULL;

  if (len <= SC_SECURE_SLAB_MAX_BLOCK)
    {
      pthread_mutex_lock (&secmem_lock);
      p = slab_alloc_locked (len);
      pthread_mutex_unlock (&secmem_lock);
    }
  return p != NULL ? p : direct_alloc (len);
}

void
sc_secure_free (void *p, size_t len)
{
  int saved_errno;
  Slab *s;

  if (p == NULL)
    return;
  saved_errno = errno;
  pthread_mutex_lock (&secmem_lock);
  s = slab_of_locked (p);
  if (s != NULL)
    slab_free_locked (s, p);
  pthread_mutex_unlock (&secmem_lock);
  if (s == NULL)
    direct_free (p, len);
  errno = saved_errno;
}

bool
sc_secure_locked_ok (void)
{
  return !atomic_load (&lock_failed);
}

void
sc_secure_get_stats (ScSecureStats *out)
{
  pthread_mutex_lock (&secmem_lock);
  *out = stats;
  pthread_mutex_unlock (&secmem_lock);
}

void
sc_secure_set_arena_size (size_t bytes)
{
  pthread_mutex_lock (&secmem_lock);
  arena_bytes = bytes;
  pthread_mutex_unlock (&secmem_lock);
}
