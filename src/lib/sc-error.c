/* sc-error.c: the SC_ERROR domain, its D-Bus error names, and the mapping
 * from the protocol core's SC_ERR_* codes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-error.h"

#include <gio/gio.h>

#include "sc-protocol.h"

#define SC_DBUS_ERROR_PREFIX "io.github.SecureComm1.Error."

/* Indexed by ScError. */
static const GDBusErrorEntry sc_error_entries[] = {
  { SC_ERROR_FAILED, SC_DBUS_ERROR_PREFIX "Failed" },
  { SC_ERROR_UNKNOWN_CLIENT, SC_DBUS_ERROR_PREFIX "UnknownClient" },
  { SC_ERROR_MESSAGE_TOO_LARGE, SC_DBUS_ERROR_PREFIX "MessageTooLarge" },
  { SC_ERROR_INVALID_MESSAGE, SC_DBUS_ERROR_PREFIX "InvalidMessage" },
  { SC_ERROR_NOT_CONNECTED, SC_DBUS_ERROR_PREFIX "NotConnected" },
  { SC_ERROR_PROTOCOL, SC_DBUS_ERROR_PREFIX "Protocol" },
  { SC_ERROR_AUTH_FAILED, SC_DBUS_ERROR_PREFIX "AuthFailed" },
  { SC_ERROR_UNTRUSTED, SC_DBUS_ERROR_PREFIX "Untrusted" },
  { SC_ERROR_TIMEOUT, SC_DBUS_ERROR_PREFIX "Timeout" },
  { SC_ERROR_CLOSED, SC_DBUS_ERROR_PREFIX "Closed" },
  { SC_ERROR_CONFIG, SC_DBUS_ERROR_PREFIX "Config" },
  { SC_ERROR_KEY_FILE, SC_DBUS_ERROR_PREFIX "KeyFile" },
  { SC_ERROR_PASSPHRASE, SC_DBUS_ERROR_PREFIX "Passphrase" },
  { SC_ERROR_BUSY, SC_DBUS_ERROR_PREFIX "Busy" },
  { SC_ERROR_LIMIT, SC_DBUS_ERROR_PREFIX "Limit" },
  { SC_ERROR_NOT_SUPPORTED, SC_DBUS_ERROR_PREFIX "NotSupported" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (sc_error_entries) == SC_ERROR_NOT_SUPPORTED + 1);

/**
 * sc_error_quark:
 *
 * The error domain of libsecurecomm. The first call registers every
 * #ScError with its D-Bus error name (g_dbus_error_register_error_domain()).
 *
 * Returns: the #GQuark of %SC_ERROR
 */
GQuark
sc_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("sc-error-quark", &quark, sc_error_entries,
                                      G_N_ELEMENTS (sc_error_entries));
  return (GQuark) quark;
}

/* clang-format off */
G_DEFINE_ENUM_TYPE (ScError, sc_error,
  G_DEFINE_ENUM_VALUE (SC_ERROR_FAILED, "failed"),
  G_DEFINE_ENUM_VALUE (SC_ERROR_UNKNOWN_CLIENT, "unknown-client"),
  G_DEFINE_ENUM_VALUE (SC_ERROR_MESSAGE_TOO_LARGE, "message-too-large"),
  G_DEFINE_ENUM_VALUE (SC_ERROR_INVALID_MESSAGE, "invalid-message"),
  G_DEFINE_ENUM_VALUE (SC_ERROR_NOT_CONNECTED, "not-connected"),
  G_DEFINE_ENUM_VALUE (SC_ERROR_PROTOCOL, "protocol"),
  G_DEFINE_ENUM_VALUE (SC_ERROR_AUTH_FAILED, "auth-failed"),
  G_DEFINE_ENUM_VALUE (SC_ERROR_UNTRUSTED, "untrusted"),
  G_DEFINE_ENUM_VALUE (SC_ERROR_TIMEOUT, "timeout"),
  G_DEFINE_ENUM_VALUE (SC_ERROR_CLOSED, "closed"),
  G_DEFINE_ENUM_VALUE (SC_ERROR_CONFIG, "config"),
  G_DEFINE_ENUM_VALUE (SC_ERROR_KEY_FILE, "key-file"),
  G_DEFINE_ENUM_VALUE (SC_ERROR_PASSPHRASE, "passphrase"),
  G_DEFINE_ENUM_VALUE (SC_ERROR_BUSY, "busy"),
  G_DEFINE_ENUM_VALUE (SC_ERROR_LIMIT, "limit"),
  G_DEFINE_ENUM_VALUE (SC_ERROR_NOT_SUPPORTED, "not-supported"))
/* clang-format on */

/* The ScError for an SC_ERR_* code. Decryption and handshake
 * authentication failures share one code, like they share one alert. */
static ScError
code_from_protocol (int sc_err)
{
  switch ((ScStatus) sc_err)
    {
    case SC_ERR_DECRYPT:
    case SC_ERR_AUTH:
      return SC_ERROR_AUTH_FAILED;
    case SC_ERR_UNTRUSTED:
      return SC_ERROR_UNTRUSTED;
    case SC_ERR_TIMEOUT:
      return SC_ERROR_TIMEOUT;
    case SC_ERR_CLOSED:
    case SC_ERR_TRUNCATED:
    case SC_ERR_PEER_ALERT:
      return SC_ERROR_CLOSED;
    case SC_ERR_MESSAGE_TOO_LARGE:
      return SC_ERROR_MESSAGE_TOO_LARGE;
    case SC_ERR_KEY_EXHAUSTED:
      return SC_ERROR_LIMIT;
    case SC_OK:
    case SC_ERR_NOMEM:
    case SC_ERR_INVALID_ARG:
    case SC_ERR_INVALID_STATE:
    case SC_ERR_DECODE:
    case SC_ERR_UNEXPECTED:
    case SC_ERR_AUTH_REQUIRED:
    case SC_ERR_VERSION:
    case SC_ERR_STALE:
    case SC_ERR_BAD_KEY:
    case SC_ERR_RECORD_OVERFLOW:
    case SC_ERR_RANDOM:
    case SC_ERR_INTERNAL:
      return SC_ERROR_PROTOCOL;
    }
  return SC_ERROR_PROTOCOL; /* a code this version does not know */
}

/**
 * sc_error_set_from_protocol:
 * @error: (nullable): return location for a #GError, or %NULL
 * @sc_err: a negative `SC_ERR_*` code of the protocol core
 * @context: (nullable): what was being done, as a short phrase, or %NULL
 *
 * Sets @error in the %SC_ERROR domain for an error code of the protocol
 * core, with the message "@context: <description of @sc_err>".
 *
 * The mapping: record decryption and handshake authentication failures give
 * %SC_ERROR_AUTH_FAILED; an untrusted peer %SC_ERROR_UNTRUSTED; timeouts
 * %SC_ERROR_TIMEOUT; a clean close, a truncated stream or a peer alert
 * %SC_ERROR_CLOSED; an oversized message %SC_ERROR_MESSAGE_TOO_LARGE; an
 * exhausted traffic key %SC_ERROR_LIMIT; everything else %SC_ERROR_PROTOCOL.
 */
void
sc_error_set_from_protocol (GError **error, int sc_err, const char *context)
{
  g_return_if_fail (sc_err < 0);

  if (context != NULL)
    g_set_error (error, SC_ERROR, code_from_protocol (sc_err), "%s: %s", context,
                 sc_strerror (sc_err));
  else
    g_set_error_literal (error, SC_ERROR, code_from_protocol (sc_err), sc_strerror (sc_err));
}
