/* p256-bench: what the public-key operations of a SecureComm handshake cost,
 * through the functions the protocol core calls (src/crypto/sc-crypto.c over
 * nettle's P-256), and from them the CPU floor of a full and of a resumed
 * handshake.
 *
 *   p256-bench [--seconds S]
 *
 * Prints `result keygen_us=... ecdh_us=... sign_us=... verify_us=...
 * full_us=... resumed_us=... resumed_ratio_max=...` where, for the handshakes
 * bench/run measures (anonymous clients, the server proving its key,
 * docs/PROTOCOL.md 4 and 4.7):
 *
 *   full    = 2 keygen + 2 ECDH + 1 sign + 1 verify   (both ends together)
 *   resumed = 2 keygen + 2 ECDH                       (fresh ECDH: forward secrecy)
 *
 * and resumed_ratio_max = full_us / resumed_us: the most resumed handshakes
 * per second can gain over full ones when client and server share the CPU,
 * even if everything else (sockets, hashing, threads) cost nothing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "bench-util.h"
#include "sc-crypto.h"

#define BATCH 64

typedef struct
{
  ScP256Key mine, peer;
  guint8 msg[128], sig[SC_P256_SIG_LEN], shared[SC_P256_SHARED_LEN];
  gboolean ok;
} Ops;

static void
op_keygen (Ops *o)
{
  o->ok &= sc_p256_keygen (&o->mine, sc_random_system, NULL) == 0;
}

static void
op_ecdh (Ops *o)
{
  o->ok &= sc_p256_ecdh (&o->mine, o->peer.pub, SC_P256_POINT_LEN, o->shared) == 0;
}

static void
op_sign (Ops *o)
{
  o->ok &= sc_p256_sign (&o->mine, o->msg, sizeof o->msg, sc_random_system, NULL, o->sig) == 0;
}

static void
op_verify (Ops *o)
{
  o->ok &= sc_p256_verify (o->mine.pub, o->msg, sizeof o->msg, o->sig) == 0;
}

/* Microseconds one call of op takes, over about seconds of calls. */
static double
cost_us (Ops *o, void (*op) (Ops *), double seconds)
{
  gint64 start = bench_now_us (), end = start + (gint64) (seconds * 1e6), now;
  guint64 n = 0;

  do
    {
      for (int i = 0; i < BATCH; i++)
        op (o);
      n += BATCH;
      now = bench_now_us ();
    }
  while (now < end);
  return (double) (now - start) / (double) n;
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  double seconds = 1, keygen, ecdh, sign, verify, full, resumed;
  const GOptionEntry entries[] = {
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "Run time of each operation", "S" }, { NULL }
  };
  Ops o = { .ok = TRUE };

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || seconds <= 0)
    {
      g_printerr ("p256-bench: %s\n", error ? error->message : "--seconds: more than 0");
      return 2;
    }
  memset (o.msg, 0x5c, sizeof o.msg);
  if (sc_p256_keygen (&o.mine, sc_random_system, NULL) != 0
      || sc_p256_keygen (&o.peer, sc_random_system, NULL) != 0)
    {
      g_printerr ("p256-bench: key generation failed\n");
      return 1;
    }
  keygen = cost_us (&o, op_keygen, seconds);
  ecdh = cost_us (&o, op_ecdh, seconds);
  /* Sign with the key the last keygen left, then verify that signature. */
  sign = cost_us (&o, op_sign, seconds);
  verify = cost_us (&o, op_verify, seconds);
  sc_p256_key_clear (&o.mine);
  sc_p256_key_clear (&o.peer);
  if (!o.ok)
    {
      g_printerr ("p256-bench: an operation failed\n");
      return 1;
    }
  full = 2 * keygen + 2 * ecdh + sign + verify;
  resumed = 2 * keygen + 2 * ecdh;
  g_print ("result keygen_us=%.2f ecdh_us=%.2f sign_us=%.2f verify_us=%.2f full_us=%.2f "
           "resumed_us=%.2f resumed_ratio_max=%.3f\n",
           keygen, ecdh, sign, verify, full, resumed, full / resumed);
  return 0;
}
