/* sc-identity.h: a long-term P-256 identity, kept in secure memory and
 * stored on disk as an encrypted PKCS#8 key file.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * SC_IDENTITY_FINGERPRINT_LEN:
 *
 * The length of a fingerprint string (sc_identity_get_fingerprint()):
 * 64 lowercase hex digits, without the terminating NUL.
 */
#define SC_IDENTITY_FINGERPRINT_LEN 64

#define SC_TYPE_IDENTITY (sc_identity_get_type ())
G_DECLARE_FINAL_TYPE (ScIdentity, sc_identity, SC, IDENTITY, GObject)

ScIdentity *sc_identity_generate (GError **error);
ScIdentity *sc_identity_load (const char *path, const char *passphrase, GError **error);
ScIdentity *sc_identity_load_or_create (const char *path, const char *passphrase,
                                        gboolean *out_created, GError **error);
gboolean sc_identity_save (ScIdentity *self, const char *path, const char *passphrase,
                           GError **error);

const char *sc_identity_get_fingerprint (ScIdentity *self);
GBytes *sc_identity_get_public_key (ScIdentity *self);

char *sc_fingerprint_from_spki (const guint8 *spki, gsize len);

/**
 * ScPassphrase:
 *
 * A passphrase string, for g_auto(): `g_auto (ScPassphrase) pass = sc_passphrase_read (...)`
 * wipes and frees it at the end of the scope with sc_passphrase_free().
 */
typedef char *ScPassphrase;

char *sc_passphrase_read (const char *passphrase_file, const char *credential_name,
                          const char *env_var, GError **error);
void sc_passphrase_free (char *passphrase);

G_DEFINE_AUTO_CLEANUP_FREE_FUNC (ScPassphrase, sc_passphrase_free, NULL)

G_END_DECLS
