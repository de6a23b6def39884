/* sc-identity-private.h: what the rest of libsecurecomm needs of an
 * ScIdentity and the public API does not show: the key itself.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sc-crypto.h"
#include "sc-identity.h"

G_BEGIN_DECLS

ScIdentity *sc_identity_new_from_key (const ScP256Key *key);
const ScP256Key *sc_identity_get_key (ScIdentity *self);
/* Lowercase hex of data into out, which holds 2 * len + 1 bytes. */
void sc_hex_format (const guint8 *data, gsize len, char *out);

G_END_DECLS
