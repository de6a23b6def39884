/* fuzz.h: what every fuzz target in tests/fuzz shares.
 *
 * Each target is one file defining LLVMFuzzerTestOneInput. It is linked
 * either with libFuzzer (-Dfuzzing=true, clang) or with replay.c, a plain
 * main() that runs the target over a corpus directory under meson test.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The libFuzzer entry point. Returns 0 (libFuzzer reserves other values). */
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* fuzz-handshake: the first input byte, modulo FUZZ_HS_N, selects the parser
 * that gets the rest. */
enum
{
  FUZZ_HS_HANDSHAKE = 0,    /* sc_wire_parse_handshake */
  FUZZ_HS_CLIENT_HELLO = 1, /* sc_wire_parse_client_hello (body) */
  FUZZ_HS_SERVER_HELLO = 2, /* sc_wire_parse_server_hello (body) */
  FUZZ_HS_IDENTITY = 3,     /* sc_wire_parse_identity (body), then the key decoders */
  FUZZ_HS_VERIFY = 4,       /* sc_wire_parse_verify (body) */
  FUZZ_HS_FINISHED = 5,     /* sc_wire_parse_finished (body) */
  FUZZ_HS_RECORD = 6,       /* sc_wire_parse_record_header (first 4 bytes) */
  FUZZ_HS_FRAGMENT = 7,     /* sc_wire_parse_fragment (MESSAGE content) */
  FUZZ_HS_U64 = 8,          /* sc_wire_parse_u64_content (ACK, PING, PONG) */
  FUZZ_HS_U8 = 9,           /* sc_wire_parse_u8_content (KEY_UPDATE, CLOSE, ERROR) */
  FUZZ_HS_SPKI = 10,        /* sc_p256_spki_decode */
  FUZZ_HS_X509 = 11,        /* sc_x509_p256_pubkey */
  FUZZ_HS_SIG_DER = 12,     /* sc_p256_sig_from_der, and sig_to_der for 64 bytes */
  FUZZ_HS_POINT = 13,       /* sc_p256_point_check */
  FUZZ_HS_NEW_TICKET = 14,  /* sc_wire_parse_new_session_ticket (body) */
  FUZZ_HS_N
};

/* Whether SC_FUZZ_VERBOSE is set: the targets then describe on stderr how
 * each input ended (for writing seeds and reading crashes). */
static inline int
fuzz_verbose (void)
{
  static int v = -1;

  if (v < 0)
    v = getenv ("SC_FUZZ_VERBOSE") != NULL;
  return v;
}

/* A property the target checks. Unlike assert() it stays on in every build
 * type; a violation prints where and aborts, which libFuzzer reports as a
 * crash and replay.c as a failed test. */
#define FUZZ_CHECK(cond) ((cond) ? (void) 0 : fuzz_fail (__FILE__, __LINE__, #cond))

__attribute__ ((noreturn)) static inline void
fuzz_fail (const char *file, int line, const char *what)
{
  fprintf (stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
  abort ();
}
