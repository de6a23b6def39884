/* bench-versions: the versions of the libraries the benchmarks ran with,
 * as the run-time libraries report them, for docs/PERFORMANCE.md.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib.h>
#include <gnutls/gnutls.h>
#include <nettle/version.h>
#include <stdio.h>
#ifdef HAVE_ZMQ
#include <zmq.h>
#endif

int
main (void)
{
  printf ("glib=%u.%u.%u\n", glib_major_version, glib_minor_version, glib_micro_version);
  printf ("gnutls=%s\n", gnutls_check_version (NULL));
  printf ("nettle=%d.%d\n", nettle_version_major (), nettle_version_minor ());
#ifdef HAVE_ZMQ
  {
    int major, minor, patch;

    zmq_version (&major, &minor, &patch);
    printf ("zmq=%d.%d.%d\n", major, minor, patch);
  }
#else
  printf ("zmq=not built\n");
#endif
  return 0;
}
