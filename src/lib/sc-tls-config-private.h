/* sc-tls-config-private.h: loading an ScTlsConfig from a JSON tree that
 * another configuration file embeds (securecommd.json's "tls" section).
 * Internal: it shows json-glib types, which the public API does not.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "sc-tls-config.h"

G_BEGIN_DECLS

ScTlsConfig *sc_tls_config_new_from_json_object (JsonObject *object, const char *base_dir,
                                                 const char *name_for_errors,
                                                 const char *key_prefix, GError **error);

G_END_DECLS
