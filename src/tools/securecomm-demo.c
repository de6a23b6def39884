/* securecomm-demo.c: a SecureComm client and server talking in memory.
 *
 * Both ends are sans-I/O ScSessions (src/protocol) in one process; this
 * program is their host: it supplies the real clocks and the system random
 * source, moves the bytes each session writes into the other one, and prints
 * every record on the wire and every event, step by step:
 *
 *   1. identities: a server and a client P-256 key; each side pins the
 *      other's SHA-256 key fingerprint;
 *   2. the handshake, with client authentication required by the server;
 *   3. a short message each way;
 *   4. a 100 KiB message, fragmented into several records;
 *   5. a key update in each direction, both asking the peer to follow;
 *   6. a message under the new keys, then a clean close.
 *
 * Every step checks what arrived, so the program exits non-zero when anything
 * does not work as specified. Keys are never printed, only fingerprints.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "sc-protocol.h"
#include "sc-wire.h"

#define DEMO_LARGE_SIZE (100u * 1024u) /* bytes: more than six full records */
#define DEMO_MAX_ROUNDS 64u            /* pump rounds before we call it a livelock */
#define DEMO_FP_SHOWN 8u               /* fingerprint bytes printed (16 hex digits) */
#define DEMO_SUMMARY \
  "Runs a SecureComm client and server in memory and shows each step of their conversation."

typedef struct _Demo Demo;

/* One end of the connection and what its event callback has seen. */
typedef struct
{
  Demo *demo;
  const char *name;
  ScSession *session;
  ScBuffer out;                       /* bytes this end wants to send */
  ScP256Key *identity;                /* in secure memory */
  uint8_t fingerprint[SC_SHA256_LEN]; /* of our own key */
  uint8_t pinned[SC_SHA256_LEN];      /* the only peer key we accept */
  gboolean handshake_done;
  gboolean closed;
  /* The last message that arrived, and its id. */
  GByteArray *received;
  uint64_t received_id;
  uint64_t acked;
  guint records_sent;
} DemoPeer;

struct _Demo
{
  gboolean quiet;
  DemoPeer client;
  DemoPeer server;
};

static GQuark
demo_error_quark (void)
{
  return g_quark_from_static_string ("securecomm-demo-error-quark");
}

static void say (const Demo *demo, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
say (const Demo *demo, const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;

  if (demo->quiet)
    return;
  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_print ("%s\n", text);
}

/* Turns a negative SC_ERR_* code into a GError saying what failed. */
static gboolean
fail_sc (GError **error, const char *what, int err)
{
  g_set_error (error, demo_error_quark (), -err, "%s: %s", what, sc_strerror (err));
  return FALSE;
}

static gboolean
fail_check (GError **error, const char *what)
{
  g_set_error (error, demo_error_quark (), 0, "check failed: %s", what);
  return FALSE;
}

/* ---- host services: clocks, trust, events ------------------------------- */

static uint64_t
demo_wall_ms (void *user)
{
  return (uint64_t) (g_get_real_time () / 1000);
}

static uint64_t
demo_mono_ms (void *user)
{
  return (uint64_t) (g_get_monotonic_time () / 1000);
}

/* "1a2b3c4d5e6f7081..": enough of a fingerprint to tell keys apart. */
static char *
fingerprint_short (const uint8_t fp[SC_SHA256_LEN])
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < DEMO_FP_SHOWN; i++)
    g_string_append_printf (s, "%02x", fp[i]);
  g_string_append (s, "..");
  return g_string_free (s, FALSE);
}

/* Trust policy: the peer's key fingerprint must be the pinned one. */
static int
demo_verify_peer (void *user, const ScPeerIdentity *peer)
{
  DemoPeer *self = user;
  g_autofree char *fp = fingerprint_short (peer->fingerprint);
  bool ok = sc_memeq_ct (peer->fingerprint, self->pinned, SC_SHA256_LEN);

  say (self->demo, "  %s: peer key %s %s", self->name, fp,
       ok ? "matches the pinned fingerprint" : "is NOT the pinned key: refused");
  return ok ? 0 : -1;
}

static void
on_message (DemoPeer *self, const ScEvent *ev)
{
  g_byte_array_set_size (self->received, 0);
  g_byte_array_append (self->received, ev->data, (guint) ev->len);
  self->received_id = ev->id;
  if (ev->len <= 64)
    say (self->demo, "  %s: message #%" G_GUINT64_FORMAT " (%zu bytes): \"%.*s\"", self->name,
         ev->id, ev->len, (int) ev->len, (const char *) ev->data);
  else
    say (self->demo, "  %s: message #%" G_GUINT64_FORMAT " (%zu bytes)", self->name, ev->id,
         ev->len);
}

static void
demo_event (void *user, ScSession *session, const ScEvent *ev)
{
  DemoPeer *self = user;

  switch (ev->type)
    {
    case SC_EVENT_HANDSHAKE_DONE:
      self->handshake_done = TRUE;
      say (self->demo, "  %s: handshake done", self->name);
      break;
    case SC_EVENT_MESSAGE:
      on_message (self, ev);
      break;
    case SC_EVENT_ACKED:
      self->acked = ev->id;
      say (self->demo, "  %s: peer acknowledged messages up to #%" G_GUINT64_FORMAT, self->name,
           ev->id);
      break;
    case SC_EVENT_KEY_UPDATE:
      say (self->demo, "  %s: %s key now at epoch %u", self->name,
           ev->sending ? "sending" : "receiving", ev->epoch);
      break;
    case SC_EVENT_CLOSED:
      self->closed = TRUE;
      say (self->demo, "  %s: peer closed the session (reason %u)", self->name, ev->reason);
      break;
    case SC_EVENT_TICKET:
      say (self->demo, "  %s: resumption ticket (%zu bytes, %u s)", self->name, ev->len,
           ev->lifetime_s);
      break;
    default:
      break;
    }
}

/* ---- moving bytes ------------------------------------------------------- */

static const char *
record_type_name (uint8_t type)
{
  switch (type)
    {
    case SC_RECORD_HANDSHAKE:
      return "HANDSHAKE";
    case SC_RECORD_PROTECTED:
      return "PROTECTED";
    case SC_RECORD_ALERT:
      return "ALERT";
    default:
      return "UNKNOWN";
    }
}

/* The plaintext handshake message a HANDSHAKE record carries. */
static const char *
handshake_name (const uint8_t *body, size_t len)
{
  if (len == 0)
    return "";
  switch (body[0])
    {
    case SC_HS_CLIENT_HELLO:
      return " (ClientHello)";
    case SC_HS_SERVER_HELLO:
      return " (ServerHello)";
    default:
      return "";
    }
}

/* Length of the whole record at the start of data, or all of data when the
 * header is incomplete (the receiver buffers partial records itself). */
static size_t
record_len (const uint8_t *data, size_t len)
{
  if (len < SC_RECORD_HEADER_LEN)
    return len;
  return MIN (len, SC_RECORD_HEADER_LEN + (size_t) sc_get_u16 (data + 2));
}

static void
show_record (const DemoPeer *from, const DemoPeer *to, const uint8_t *rec, size_t len)
{
  const char *extra = "";

  if (len >= SC_RECORD_HEADER_LEN && rec[0] == SC_RECORD_HANDSHAKE)
    extra = handshake_name (rec + SC_RECORD_HEADER_LEN, len - SC_RECORD_HEADER_LEN);
  say (from->demo, "    %s -> %s  %-9s %5zu bytes%s", from->name, to->name,
       record_type_name (rec[0]), len, extra);
}

/* Delivers everything `from` has queued to `to`, one record at a time. */
static int
transfer (DemoPeer *from, DemoPeer *to)
{
  size_t off = 0;
  int ret = SC_OK;

  while (off < from->out.len && ret == SC_OK)
    {
      const uint8_t *rec = from->out.data + off;
      size_t n = record_len (rec, from->out.len - off);

      show_record (from, to, rec, n);
      from->records_sent++;
      ret = sc_session_recv (to->session, rec, n, &to->out);
      off += n;
    }
  sc_buffer_consume (&from->out, off);
  return ret;
}

/* Moves bytes both ways until neither side has anything left to say. */
static gboolean
pump (Demo *demo, GError **error)
{
  int ret;

  for (guint rounds = 0; rounds < DEMO_MAX_ROUNDS; rounds++)
    {
      if (demo->client.out.len == 0 && demo->server.out.len == 0)
        return TRUE;
      ret = transfer (&demo->client, &demo->server);
      if (ret != SC_OK)
        return fail_sc (error, "server", ret);
      ret = transfer (&demo->server, &demo->client);
      if (ret != SC_OK)
        return fail_sc (error, "client", ret);
    }
  return fail_check (error, "the peers kept talking forever");
}

/* ---- setting up --------------------------------------------------------- */

static gboolean
make_identity (DemoPeer *peer, GError **error)
{
  uint8_t spki[SC_P256_SPKI_LEN];
  g_autofree char *fp = NULL;
  int ret;

  peer->identity = sc_secure_alloc (sizeof *peer->identity);
  if (peer->identity == NULL)
    return fail_sc (error, "identity key", SC_ERR_NOMEM);
  ret = sc_p256_keygen (peer->identity, sc_random_system, NULL);
  if (ret != 0)
    return fail_sc (error, "identity key", SC_ERR_RANDOM);
  sc_p256_spki_encode (peer->identity->pub, spki);
  sc_sha256 (spki, sizeof spki, peer->fingerprint);
  fp = fingerprint_short (peer->fingerprint);
  say (peer->demo, "  %s identity: P-256 key, SHA-256 fingerprint %s", peer->name, fp);
  return TRUE;
}

static gboolean
make_session (DemoPeer *peer, ScRole role, GError **error)
{
  ScSessionConfig config;
  ScProtoCtx ctx = {
    .wall_ms = demo_wall_ms,
    .mono_ms = demo_mono_ms,
    .random = sc_random_system,
    .event = demo_event,
    .verify_peer = demo_verify_peer,
    .user = peer,
  };
  int err = SC_OK;

  sc_session_config_init (&config, role);
  config.identity = peer->identity;
  if (role == SC_ROLE_SERVER)
    config.client_auth = SC_CLIENT_AUTH_REQUIRED;
  peer->session = sc_session_new (&config, &ctx, &err);
  if (peer->session == NULL)
    return fail_sc (error, peer->name, err);
  return TRUE;
}

static void
peer_init (DemoPeer *peer, Demo *demo, const char *name)
{
  peer->demo = demo;
  peer->name = name;
  sc_buffer_init (&peer->out);
  peer->received = g_byte_array_new ();
}

static void
peer_clear (DemoPeer *peer)
{
  sc_session_free (peer->session);
  sc_buffer_clear (&peer->out);
  if (peer->identity != NULL)
    sc_secure_free (peer->identity, sizeof *peer->identity);
  g_byte_array_unref (peer->received);
}

/* ---- the steps ---------------------------------------------------------- */

static gboolean
step_identities (Demo *demo, GError **error)
{
  say (demo, "== 1. Identities");
  if (!make_identity (&demo->server, error) || !make_identity (&demo->client, error))
    return FALSE;
  /* Out of band, each side learns the other's fingerprint and pins it. */
  memcpy (demo->client.pinned, demo->server.fingerprint, SC_SHA256_LEN);
  memcpy (demo->server.pinned, demo->client.fingerprint, SC_SHA256_LEN);
  say (demo, "  the client pins the server's fingerprint; the server requires client auth"
             " and pins the client's");
  return make_session (&demo->server, SC_ROLE_SERVER, error)
         && make_session (&demo->client, SC_ROLE_CLIENT, error);
}

static gboolean
check_peer_identity (DemoPeer *self, const DemoPeer *expected, GError **error)
{
  const ScPeerIdentity *id = sc_session_peer_identity (self->session);

  if (id == NULL || !sc_memeq_ct (id->fingerprint, expected->fingerprint, SC_SHA256_LEN))
    return fail_check (error, "peer identity after the handshake");
  return TRUE;
}

static gboolean
step_handshake (Demo *demo, GError **error)
{
  ScSessionInfo info;
  g_autofree char *server_fp = fingerprint_short (demo->server.fingerprint);
  g_autofree char *client_fp = fingerprint_short (demo->client.fingerprint);
  int ret;

  say (demo, "\n== 2. Handshake (ECDHE P-256, ECDSA P-256 identities, HKDF-SHA256)");
  ret = sc_session_start (demo->client.session, &demo->client.out);
  if (ret != SC_OK)
    return fail_sc (error, "client start", ret);
  if (!pump (demo, error))
    return FALSE;
  if (!demo->client.handshake_done || !demo->server.handshake_done)
    return fail_check (error, "both sides finished the handshake");
  if (!check_peer_identity (&demo->client, &demo->server, error)
      || !check_peer_identity (&demo->server, &demo->client, error))
    return FALSE;
  sc_session_get_info (demo->client.session, &info);
  say (demo, "  connected: protocol version %u, AES-256-GCM records", info.version);
  say (demo, "  server is %s, client is %s (both authenticated)", server_fp, client_fp);
  return TRUE;
}

/* Sends msg from `from`, delivers it, and checks `to` got exactly it and
 * that `from` saw it acknowledged. */
static gboolean
exchange (Demo *demo, DemoPeer *from, DemoPeer *to, const uint8_t *msg, size_t len, GError **error)
{
  uint64_t id = 0;
  guint before = from->records_sent;
  int ret;

  ret = sc_session_send (from->session, msg, len, &id, &from->out);
  if (ret != SC_OK)
    return fail_sc (error, from->name, ret);
  if (!pump (demo, error))
    return FALSE;
  if (to->received_id != id || to->received->len != len
      || memcmp (to->received->data, msg, len) != 0)
    return fail_check (error, "the message arrived intact");
  if (from->acked != id)
    return fail_check (error, "the message was acknowledged");
  say (demo, "  %s sent message #%" G_GUINT64_FORMAT " in %u record(s); delivered intact",
       from->name, id, from->records_sent - before);
  return TRUE;
}

static gboolean
step_messages (Demo *demo, GError **error)
{
  static const char hello[] = "Hello, secure world!";
  static const char reply[] = "Hello, client. Loud and clear.";
  const uint8_t *h = (const uint8_t *) hello, *r = (const uint8_t *) reply;

  say (demo, "\n== 3. Messages");
  return exchange (demo, &demo->client, &demo->server, h, strlen (hello), error)
         && exchange (demo, &demo->server, &demo->client, r, strlen (reply), error);
}

static gboolean
step_large (Demo *demo, GError **error)
{
  g_autofree uint8_t *big = g_malloc (DEMO_LARGE_SIZE);
  guint before = demo->client.records_sent;

  say (demo, "\n== 4. A 100 KiB message (at most %u bytes of content per record)",
       SC_MAX_RECORD_PLAINTEXT);
  for (size_t i = 0; i < DEMO_LARGE_SIZE; i++)
    big[i] = (uint8_t) (i * 31u + 7u);
  if (!exchange (demo, &demo->client, &demo->server, big, DEMO_LARGE_SIZE, error))
    return FALSE;
  /* records_sent counts the message's fragments; the ACK comes from the server. */
  if (demo->client.records_sent - before < 2)
    return fail_check (error, "a 100 KiB message is fragmented");
  return TRUE;
}

static void
show_epochs (const Demo *demo)
{
  ScSessionInfo c, s;

  sc_session_get_info (demo->client.session, &c);
  sc_session_get_info (demo->server.session, &s);
  say (demo, "  epochs: client send %u / recv %u, server send %u / recv %u", c.send_epoch,
       c.recv_epoch, s.send_epoch, s.recv_epoch);
}

/* Both directions must agree: what one side sends with, the other reads with. */
static gboolean
epochs_agree (const Demo *demo, uint32_t at_least)
{
  ScSessionInfo c, s;

  sc_session_get_info (demo->client.session, &c);
  sc_session_get_info (demo->server.session, &s);
  return c.send_epoch == s.recv_epoch && s.send_epoch == c.recv_epoch && c.send_epoch >= at_least
         && s.send_epoch >= at_least;
}

static gboolean
key_update (Demo *demo, DemoPeer *peer, GError **error)
{
  int ret;

  say (demo, "  %s rotates its sending key and asks the peer to do the same", peer->name);
  ret = sc_session_key_update (peer->session, true, &peer->out);
  if (ret != SC_OK)
    return fail_sc (error, peer->name, ret);
  if (!pump (demo, error))
    return FALSE;
  show_epochs (demo);
  return TRUE;
}

static gboolean
step_key_update (Demo *demo, GError **error)
{
  static const char after[] = "Still here, under fresh keys.";

  say (demo, "\n== 5. Key updates");
  show_epochs (demo);
  if (!key_update (demo, &demo->client, error) || !key_update (demo, &demo->server, error))
    return FALSE;
  if (!epochs_agree (demo, 2))
    return fail_check (error, "both directions rotated twice");
  return exchange (demo, &demo->server, &demo->client, (const uint8_t *) after, strlen (after),
                   error);
}

static gboolean
step_close (Demo *demo, GError **error)
{
  ScSessionInfo info;
  int ret;

  say (demo, "\n== 6. Close");
  ret = sc_session_close (demo->client.session, SC_CLOSE_NORMAL, &demo->client.out);
  if (ret != SC_OK)
    return fail_sc (error, "client close", ret);
  if (!pump (demo, error))
    return FALSE;
  if (!demo->server.closed || sc_session_eof (demo->server.session) != SC_ERR_CLOSED
      || sc_session_eof (demo->client.session) != SC_ERR_CLOSED)
    return fail_check (error, "a clean close on both sides");
  sc_session_get_info (demo->server.session, &info);
  say (demo, "  closed cleanly on both sides");
  say (demo, "  server received %" G_GUINT64_FORMAT " messages, %" G_GUINT64_FORMAT " bytes",
       info.messages_received, info.bytes_received);
  return TRUE;
}

typedef gboolean (*DemoStep) (Demo *demo, GError **error);

static gboolean
run_demo (Demo *demo, GError **error)
{
  static const DemoStep steps[] = {
    step_identities, step_handshake, step_messages, step_large, step_key_update, step_close,
  };

  for (gsize i = 0; i < G_N_ELEMENTS (steps); i++)
    {
      if (!steps[i](demo, error))
        return FALSE;
    }
  return TRUE;
}

/* ---- main --------------------------------------------------------------- */

static gboolean
parse_options (int *argc, char ***argv, gboolean *quiet, gboolean *version, GError **error)
{
  GOptionEntry entries[] = {
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, quiet, "Print nothing unless something fails", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, version, "Print the version and exit", NULL },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) context = g_option_context_new (NULL);

  g_option_context_set_summary (context, DEMO_SUMMARY);
  g_option_context_add_main_entries (context, entries, NULL);
  return g_option_context_parse (context, argc, argv, error);
}

int
main (int argc, char **argv)
{
  Demo demo = { 0 };
  g_autoptr (GError) error = NULL;
  gboolean version = FALSE;
  gboolean ok;

  setlocale (LC_ALL, "");
  if (!parse_options (&argc, &argv, &demo.quiet, &version, &error))
    {
      g_printerr ("securecomm-demo: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      g_print ("securecomm-demo %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }
  peer_init (&demo.client, &demo, "client");
  peer_init (&demo.server, &demo, "server");
  ok = run_demo (&demo, &error);
  peer_clear (&demo.client);
  peer_clear (&demo.server);
  if (!ok)
    {
      g_printerr ("securecomm-demo: %s\n", error->message);
      return EXIT_FAILURE;
    }
  say (&demo, "\nAll steps succeeded.");
  return EXIT_SUCCESS;
}
