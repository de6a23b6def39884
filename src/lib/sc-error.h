/* sc-error.h: the one GError domain of libsecurecomm.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * SC_ERROR:
 *
 * The error domain of libsecurecomm. Every code is registered as a D-Bus
 * error name `io.github.SecureComm1.Error.<Name>`, so an error crosses the
 * bus (g_dbus_method_invocation_return_gerror()) and comes back on the other
 * side with this domain and the same code.
 */
#define SC_ERROR (sc_error_quark ())

/**
 * SC_TYPE_ERROR:
 *
 * The #GType of #ScError.
 */
#define SC_TYPE_ERROR (sc_error_get_type ())

/**
 * ScError:
 * @SC_ERROR_FAILED: a failure with no more specific code
 *   (`io.github.SecureComm1.Error.Failed`)
 * @SC_ERROR_UNKNOWN_CLIENT: no connected client has this id (`UnknownClient`)
 * @SC_ERROR_MESSAGE_TOO_LARGE: the message is over the peer's or our size limit
 *   (`MessageTooLarge`)
 * @SC_ERROR_INVALID_MESSAGE: the message is malformed or not allowed (`InvalidMessage`)
 * @SC_ERROR_NOT_CONNECTED: the connection is not established (yet, or any more)
 *   (`NotConnected`)
 * @SC_ERROR_PROTOCOL: the peer broke the protocol, or the protocol core refused a
 *   call (`Protocol`)
 * @SC_ERROR_AUTH_FAILED: a handshake signature, Finished or record failed
 *   authentication (`AuthFailed`)
 * @SC_ERROR_UNTRUSTED: the peer's identity is not trusted by local policy (`Untrusted`)
 * @SC_ERROR_TIMEOUT: a handshake or heartbeat timed out (`Timeout`)
 * @SC_ERROR_CLOSED: the connection was closed, cleanly or not (`Closed`)
 * @SC_ERROR_CONFIG: a configuration value is invalid (`Config`)
 * @SC_ERROR_KEY_FILE: a key file is missing, unsafe or malformed (`KeyFile`)
 * @SC_ERROR_PASSPHRASE: no passphrase was given, or it does not decrypt the key
 *   (`Passphrase`)
 * @SC_ERROR_BUSY: the operation cannot be done now; try again later (`Busy`)
 * @SC_ERROR_LIMIT: a configured or protocol limit was reached (`Limit`)
 * @SC_ERROR_NOT_SUPPORTED: the operation is not supported (`NotSupported`)
 *
 * Error codes of the %SC_ERROR domain, with the last part of their D-Bus
 * error names. New codes are only ever added at the end.
 */
typedef enum
{
  SC_ERROR_FAILED,
  SC_ERROR_UNKNOWN_CLIENT,
  SC_ERROR_MESSAGE_TOO_LARGE,
  SC_ERROR_INVALID_MESSAGE,
  SC_ERROR_NOT_CONNECTED,
  SC_ERROR_PROTOCOL,
  SC_ERROR_AUTH_FAILED,
  SC_ERROR_UNTRUSTED,
  SC_ERROR_TIMEOUT,
  SC_ERROR_CLOSED,
  SC_ERROR_CONFIG,
  SC_ERROR_KEY_FILE,
  SC_ERROR_PASSPHRASE,
  SC_ERROR_BUSY,
  SC_ERROR_LIMIT,
  SC_ERROR_NOT_SUPPORTED,
} ScError;

GQuark sc_error_quark (void);
GType sc_error_get_type (void);

void sc_error_set_from_protocol (GError **error, int sc_err, const char *context);

G_END_DECLS
