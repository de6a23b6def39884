/* test-error.c: the SC_ERROR domain: its GType, its D-Bus error names (both
 * ways and through a serialized D-Bus message), and the mapping from the
 * protocol core's SC_ERR_* codes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <gio/gio.h>

#include "sc-error.h"
#include "sc-protocol.h"

/* The contract, written out independently of sc-error.c. */
static const struct
{
  ScError code;
  const char *dbus_name;
  const char *nick;
} expected_names[] = {
  { SC_ERROR_FAILED, "io.github.SecureComm1.Error.Failed", "failed" },
  { SC_ERROR_UNKNOWN_CLIENT, "io.github.SecureComm1.Error.UnknownClient", "unknown-client" },
  { SC_ERROR_MESSAGE_TOO_LARGE, "io.github.SecureComm1.Error.MessageTooLarge",
    "message-too-large" },
  { SC_ERROR_INVALID_MESSAGE, "io.github.SecureComm1.Error.InvalidMessage", "invalid-message" },
  { SC_ERROR_NOT_CONNECTED, "io.github.SecureComm1.Error.NotConnected", "not-connected" },
  { SC_ERROR_PROTOCOL, "io.github.SecureComm1.Error.Protocol", "protocol" },
  { SC_ERROR_AUTH_FAILED, "io.github.SecureComm1.Error.AuthFailed", "auth-failed" },
  { SC_ERROR_UNTRUSTED, "io.github.SecureComm1.Error.Untrusted", "untrusted" },
  { SC_ERROR_TIMEOUT, "io.github.SecureComm1.Error.Timeout", "timeout" },
  { SC_ERROR_CLOSED, "io.github.SecureComm1.Error.Closed", "closed" },
  { SC_ERROR_CONFIG, "io.github.SecureComm1.Error.Config", "config" },
  { SC_ERROR_KEY_FILE, "io.github.SecureComm1.Error.KeyFile", "key-file" },
  { SC_ERROR_PASSPHRASE, "io.github.SecureComm1.Error.Passphrase", "passphrase" },
  { SC_ERROR_BUSY, "io.github.SecureComm1.Error.Busy", "busy" },
  { SC_ERROR_LIMIT, "io.github.SecureComm1.Error.Limit", "limit" },
  { SC_ERROR_NOT_SUPPORTED, "io.github.SecureComm1.Error.NotSupported", "not-supported" },
};

static void
test_error_quark_name (void)
{
  g_assert_cmpstr (g_quark_to_string (SC_ERROR), ==, "sc-error-quark");
  g_assert_cmpuint (SC_ERROR, ==, g_quark_from_string ("sc-error-quark"));
}

/* Every enum value has the expected nick, and the enum has exactly the
 * codes of the contract (a code added without a D-Bus name fails here). */
static void
test_error_enum_type (void)
{
  g_autoptr (GEnumClass) klass = g_type_class_ref (SC_TYPE_ERROR);
  gsize i;

  g_assert_true (G_TYPE_IS_ENUM (SC_TYPE_ERROR));
  g_assert_cmpstr (g_type_name (SC_TYPE_ERROR), ==, "ScError");
  g_assert_cmpuint (klass->n_values, ==, G_N_ELEMENTS (expected_names));
  for (i = 0; i < G_N_ELEMENTS (expected_names); i++)
    {
      GEnumValue *v = g_enum_get_value (klass, (int) expected_names[i].code);

      g_assert_nonnull (v);
      g_assert_cmpstr (v->value_nick, ==, expected_names[i].nick);
    }
}

/* GError -> D-Bus name -> GError gives back SC_ERROR and the same code. */
static void
test_error_dbus_names (void)
{
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (expected_names); i++)
    {
      g_autoptr (GError) local = NULL;
      g_autofree char *name = NULL;
      g_autoptr (GError) back = NULL;
      g_autofree char *remote = NULL;
      g_autofree char *expected_message = g_strdup_printf ("detail %" G_GSIZE_FORMAT, i);

      local = g_error_new (SC_ERROR, expected_names[i].code, "detail %" G_GSIZE_FORMAT, i);
      name = g_dbus_error_encode_gerror (local);
      g_assert_cmpstr (name, ==, expected_names[i].dbus_name);
      g_assert_true (g_dbus_is_error_name (name));
      back = g_dbus_error_new_for_dbus_error (name, local->message);
      g_assert_error (back, SC_ERROR, (int) expected_names[i].code);
      g_assert_true (g_dbus_error_is_remote_error (back));
      remote = g_dbus_error_get_remote_error (back);
      g_assert_cmpstr (remote, ==, expected_names[i].dbus_name);
      g_assert_true (g_dbus_error_strip_remote_error (back));
      g_assert_cmpstr (back->message, ==, expected_message);
    }
}

/* The same, through a D-Bus error reply serialized to wire bytes and parsed
 * back, as a client of the daemon would receive it. */
static void
test_error_dbus_message_roundtrip (void)
{
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (expected_names); i++)
    {
      g_autoptr (GError) local = g_error_new_literal (SC_ERROR, expected_names[i].code, "why");
      g_autofree char *name = g_dbus_error_encode_gerror (local);
      g_autoptr (GDBusMessage) call = NULL;
      g_autoptr (GDBusMessage) reply = NULL;
      g_autoptr (GDBusMessage) parsed = NULL;
      g_autoptr (GError) back = NULL;
      g_autoptr (GError) err = NULL;
      g_autofree guchar *blob = NULL;
      gsize blob_len = 0;

      call = g_dbus_message_new_method_call ("io.github.SecureComm1", "/io/github/SecureComm1",
                                             "io.github.SecureComm1.Daemon", "Send");
      g_dbus_message_set_serial (call, 7);
      reply = g_dbus_message_new_method_error_literal (call, name, local->message);
      g_dbus_message_set_serial (reply, 8);
      blob = g_dbus_message_to_blob (reply, &blob_len, G_DBUS_CAPABILITY_FLAGS_NONE, &err);
      g_assert_no_error (err);
      parsed = g_dbus_message_new_from_blob (blob, blob_len, G_DBUS_CAPABILITY_FLAGS_NONE, &err);
      g_assert_no_error (err);
      g_assert_cmpint (g_dbus_message_get_message_type (parsed), ==, G_DBUS_MESSAGE_TYPE_ERROR);
      g_assert_cmpstr (g_dbus_message_get_error_name (parsed), ==, expected_names[i].dbus_name);
      g_assert_true (g_dbus_message_to_gerror (parsed, &back));
      g_assert_error (back, SC_ERROR, (int) expected_names[i].code);
      g_dbus_error_strip_remote_error (back);
      g_assert_cmpstr (back->message, ==, "why");
    }
}

/* Each SC_ERR_* code, with the ScError it must map to. */
static const struct
{
  int sc_err;
  ScError code;
} protocol_map[] = {
  { SC_ERR_NOMEM, SC_ERROR_PROTOCOL },
  { SC_ERR_INVALID_ARG, SC_ERROR_PROTOCOL },
  { SC_ERR_INVALID_STATE, SC_ERROR_PROTOCOL },
  { SC_ERR_DECODE, SC_ERROR_PROTOCOL },
  { SC_ERR_UNEXPECTED, SC_ERROR_PROTOCOL },
  { SC_ERR_DECRYPT, SC_ERROR_AUTH_FAILED },
  { SC_ERR_AUTH, SC_ERROR_AUTH_FAILED },
  { SC_ERR_UNTRUSTED, SC_ERROR_UNTRUSTED },
  { SC_ERR_AUTH_REQUIRED, SC_ERROR_PROTOCOL },
  { SC_ERR_VERSION, SC_ERROR_PROTOCOL },
  { SC_ERR_STALE, SC_ERROR_PROTOCOL },
  { SC_ERR_BAD_KEY, SC_ERROR_PROTOCOL },
  { SC_ERR_RECORD_OVERFLOW, SC_ERROR_PROTOCOL },
  { SC_ERR_MESSAGE_TOO_LARGE, SC_ERROR_MESSAGE_TOO_LARGE },
  { SC_ERR_KEY_EXHAUSTED, SC_ERROR_LIMIT },
  { SC_ERR_TIMEOUT, SC_ERROR_TIMEOUT },
  { SC_ERR_TRUNCATED, SC_ERROR_CLOSED },
  { SC_ERR_PEER_ALERT, SC_ERROR_CLOSED },
  { SC_ERR_CLOSED, SC_ERROR_CLOSED },
  { SC_ERR_RANDOM, SC_ERROR_PROTOCOL },
  { SC_ERR_INTERNAL, SC_ERROR_PROTOCOL },
  { -1000, SC_ERROR_PROTOCOL }, /* a code from a newer core */
};

static void
test_error_from_protocol (void)
{
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (protocol_map); i++)
    {
      g_autoptr (GError) err = NULL;
      g_autoptr (GError) bare = NULL;
      g_autofree char *expected = g_strdup_printf ("reading from 192.0.2.1: %s",
                                                   sc_strerror (protocol_map[i].sc_err));

      sc_error_set_from_protocol (&err, protocol_map[i].sc_err, "reading from 192.0.2.1");
      g_assert_error (err, SC_ERROR, (int) protocol_map[i].code);
      g_assert_cmpstr (err->message, ==, expected);

      sc_error_set_from_protocol (&bare, protocol_map[i].sc_err, NULL);
      g_assert_error (bare, SC_ERROR, (int) protocol_map[i].code);
      g_assert_cmpstr (bare->message, ==, sc_strerror (protocol_map[i].sc_err));
    }
  /* A NULL GError ** is allowed, as everywhere in GLib. */
  sc_error_set_from_protocol (NULL, SC_ERR_AUTH, "ignored");
}

/* The mapping covers every code of sc-protocol.h: no SC_ERR_* between
 * SC_ERR_INTERNAL and -1 is missing from the table above. */
static void
test_error_from_protocol_complete (void)
{
  int code;

  for (code = SC_ERR_INTERNAL; code < 0; code++)
    {
      gboolean found = FALSE;
      gsize i;

      for (i = 0; i < G_N_ELEMENTS (protocol_map); i++)
        found = found || protocol_map[i].sc_err == code;
      g_assert_true (found);
    }
}

static void
test_error_from_protocol_success_is_a_bug (void)
{
  g_autoptr (GError) err = NULL;

  g_test_expect_message ("securecomm", G_LOG_LEVEL_CRITICAL, "*sc_err < 0*");
  sc_error_set_from_protocol (&err, SC_OK, "nothing went wrong");
  g_test_assert_expected_messages ();
  g_assert_null (err);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/lib/error/quark-name", test_error_quark_name);
  g_test_add_func ("/lib/error/enum-type", test_error_enum_type);
  g_test_add_func ("/lib/error/dbus-names", test_error_dbus_names);
  g_test_add_func ("/lib/error/dbus-message-roundtrip", test_error_dbus_message_roundtrip);
  g_test_add_func ("/lib/error/from-protocol", test_error_from_protocol);
  g_test_add_func ("/lib/error/from-protocol-complete", test_error_from_protocol_complete);
  g_test_add_func ("/lib/error/from-protocol-success-is-a-bug",
                   test_error_from_protocol_success_is_a_bug);

  return g_test_run ();
}
