/* sc-keyfile.c: P-256 private keys as encrypted PKCS#8 PEM, over GnuTLS.
 *
 * GnuTLS does the PKCS#8, PBES2 and PEM work; this file decides what is
 * accepted: one "ENCRYPTED PRIVATE KEY" block, an ECDSA key on P-256 whose
 * public point is the one its scalar gives. Every GnuTLS datum that held key
 * material is wiped (gnutls_memset) before gnutls_free, and the GnuTLS key
 * object is deinitialised (which clears its integers) on every path.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-keyfile.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define PEM_LABEL "ENCRYPTED PRIVATE KEY"
#define PEM_BEGIN "-----BEGIN " PEM_LABEL "-----"
#define PEM_END "-----END " PEM_LABEL "-----"

/* The cipher written: PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC. */
#define KEYFILE_CIPHER GNUTLS_PKCS_PBES2_AES_256

/* SEC1 uncompressed point tag. */
#define SEC1_UNCOMPRESSED 0x04

/* Wipes and frees a datum allocated by GnuTLS; leaves it empty. */
static void
wipe_datum (gnutls_datum_t *d)
{
  if (d->data != NULL)
    {
      gnutls_memset (d->data, 0, d->size);
      gnutls_free (d->data);
    }
  d->data = NULL;
  d->size = 0;
}

/* The offset of the first needle in hay[0..len), or SIZE_MAX. */
static size_t
find (const char *hay, size_t len, const char *needle)
{
  size_t n = strlen (needle);
  size_t i;

  for (i = 0; n <= len && i <= len - n; i++)
    if (memcmp (hay + i, needle, n) == 0)
      return i;
  return SIZE_MAX;
}

static bool
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Whether text is exactly one "ENCRYPTED PRIVATE KEY" PEM block, with only
 * whitespace around it. GnuTLS would take the first block of the right label
 * anywhere in the text; a file that also holds other blocks (an unencrypted
 * key, say) is refused instead. */
static bool
pem_framing_ok (const char *text, size_t len)
{
  size_t start = 0;
  size_t end;
  size_t i;

  while (start < len && is_space (text[start]))
    start++;
  if (len - start < strlen (PEM_BEGIN) || memcmp (text + start, PEM_BEGIN, strlen (PEM_BEGIN)) != 0)
    return false;
  if (find (text + start + 1, len - start - 1, "-----BEGIN") != SIZE_MAX)
    return false;
  end = find (text + start, len - start, PEM_END);
  if (end == SIZE_MAX)
    return false;
  for (i = start + end + strlen (PEM_END); i < len; i++)
    if (!is_space (text[i]))
      return false;
  return true;
}

/* Copies a big-endian GnuTLS integer into out (32 bytes), dropping leading
 * zero bytes and left-padding. Returns false if it does not fit. */
static bool
int_to_32 (const gnutls_datum_t *d, uint8_t out[32])
{
  size_t i = 0;
  size_t n;

  while (i < d->size && d->data[i] == 0)
    i++;
  n = d->size - i;
  if (n > 32)
    return false;
  memset (out, 0, 32);
  if (n > 0)
    memcpy (out + 32 - n, d->data + i, n);
  return true;
}

/* Whether key->pub is the public point of key->d. */
static bool
key_consistent (const ScP256Key *key)
{
  ScP256Key check;
  bool ok;

  ok = sc_p256_key_from_scalar (&check, key->d) == 0
       && sc_memeq_ct (check.pub, key->pub, SC_P256_POINT_LEN);
  sc_p256_key_clear (&check);
  return ok;
}

/* A new GnuTLS key object holding key. The datums point into key: nothing
 * to wipe here; GnuTLS copies the values into integers that
 * gnutls_x509_privkey_deinit clears. */
static int
key_to_gnutls (const ScP256Key *key, gnutls_x509_privkey_t *out)
{
  gnutls_datum_t x = { (unsigned char *) key->pub + 1, SC_P256_COORD_LEN };
  gnutls_datum_t y = { (unsigned char *) key->pub + 1 + SC_P256_COORD_LEN, SC_P256_COORD_LEN };
  gnutls_datum_t k = { (unsigned char *) key->d, SC_P256_SCALAR_LEN };

  if (gnutls_x509_privkey_init (out) < 0)
    {
      *out = NULL;
      return SC_CRYPTO_EINTERNAL;
    }
  if (gnutls_x509_privkey_import_ecc_raw (*out, GNUTLS_ECC_CURVE_SECP256R1, &x, &y, &k) < 0)
    {
      gnutls_x509_privkey_deinit (*out);
      *out = NULL;
      return SC_CRYPTO_EINTERNAL;
    }
  return 0;
}

int
sc_keyfile_encode (const ScP256Key *key, const char *passphrase, char **pem_out, size_t *len_out)
{
  gnutls_x509_privkey_t pk = NULL;
  gnutls_datum_t out = { NULL, 0 };
  int ret;

  if (pem_out != NULL)
    *pem_out = NULL;
  if (len_out != NULL)
    *len_out = 0;
  if (key == NULL || pem_out == NULL || len_out == NULL || passphrase == NULL
      || passphrase[0] == '\0' || !key_consistent (key))
    return SC_CRYPTO_EINVAL;
  ret = key_to_gnutls (key, &pk);
  if (ret != 0)
    goto out;
  ret = SC_CRYPTO_EINTERNAL;
  if (gnutls_x509_privkey_export2_pkcs8 (pk, GNUTLS_X509_FMT_PEM, passphrase, KEYFILE_CIPHER, &out)
      < 0)
    goto out;
  *pem_out = malloc ((size_t) out.size + 1);
  if (*pem_out == NULL)
    goto out;
  memcpy (*pem_out, out.data, out.size);
  (*pem_out)[out.size] = '\0';
  *len_out = out.size;
  ret = 0;
out:
  wipe_datum (&out);
  if (pk != NULL)
    gnutls_x509_privkey_deinit (pk);
  return ret;
}

/* Checks the framing and decodes the base64 of the one PEM block into der
 * (a GnuTLS allocation: wipe_datum it). */
static int
pem_to_der (const char *pem, size_t len, gnutls_datum_t *der)
{
  gnutls_datum_t in;

  der->data = NULL;
  der->size = 0;
  if (!pem_framing_ok (pem, len))
    return SC_CRYPTO_EENCODING;
  in.data = (unsigned char *) pem; /* GnuTLS only reads it */
  in.size = (unsigned int) len;
  if (gnutls_pem_base64_decode2 (PEM_LABEL, &in, der) < 0)
    {
      der->data = NULL;
      der->size = 0;
      return SC_CRYPTO_EENCODING;
    }
  return 0;
}

/* Decrypts an EncryptedPrivateKeyInfo (DER) into pk. With a password and
 * no GNUTLS_PKCS_PLAIN flag GnuTLS parses the DER as encrypted only, so a
 * plain PrivateKeyInfo fails here as malformed. */
static int
import_encrypted (gnutls_x509_privkey_t pk, const gnutls_datum_t *der, const char *passphrase)
{
  int r = gnutls_x509_privkey_import_pkcs8 (pk, der, GNUTLS_X509_FMT_DER, passphrase, 0);

  if (r >= 0)
    return 0;
  switch (r)
    {
    case GNUTLS_E_DECRYPTION_FAILED:
      return SC_CRYPTO_EPASSPHRASE;
    case GNUTLS_E_UNKNOWN_PK_ALGORITHM:
    case GNUTLS_E_ECC_UNSUPPORTED_CURVE:
      return SC_CRYPTO_EPOINT;
    case GNUTLS_E_MEMORY_ERROR:
      return SC_CRYPTO_EINTERNAL;
    default:
      return SC_CRYPTO_EENCODING;
    }
}

/* Takes the P-256 key out of pk: rebuilds it from the scalar and checks that
 * the public point is the file's. */
static int
extract_p256 (gnutls_x509_privkey_t pk, ScP256Key *key)
{
  gnutls_datum_t x = { NULL, 0 };
  gnutls_datum_t y = { NULL, 0 };
  gnutls_datum_t k = { NULL, 0 };
  gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
  uint8_t d[SC_P256_SCALAR_LEN];
  uint8_t pub[SC_P256_POINT_LEN];
  int ret = SC_CRYPTO_EPOINT;

  memset (d, 0, sizeof d);
  if (gnutls_x509_privkey_get_pk_algorithm2 (pk, NULL) != GNUTLS_PK_ECDSA)
    goto out;
  if (gnutls_x509_privkey_export_ecc_raw (pk, &curve, &x, &y, &k) < 0
      || curve != GNUTLS_ECC_CURVE_SECP256R1)
    goto out;
  ret = SC_CRYPTO_EENCODING;
  pub[0] = SEC1_UNCOMPRESSED;
  if (!int_to_32 (&x, pub + 1) || !int_to_32 (&y, pub + 1 + SC_P256_COORD_LEN)
      || !int_to_32 (&k, d))
    goto out;
  if (sc_p256_key_from_scalar (key, d) != 0)
    goto out;
  if (!sc_memeq_ct (key->pub, pub, SC_P256_POINT_LEN))
    {
      sc_p256_key_clear (key);
      goto out;
    }
  ret = 0;
out:
  sc_memzero (d, sizeof d);
  wipe_datum (&k);
  wipe_datum (&x);
  wipe_datum (&y);
  return ret;
}

int
sc_keyfile_decode (const char *pem, size_t len, const char *passphrase, ScP256Key *key_out)
{
  gnutls_x509_privkey_t pk = NULL;
  gnutls_datum_t der = { NULL, 0 };
  int ret;

  if (key_out == NULL)
    return SC_CRYPTO_EINVAL;
  sc_memzero (key_out, sizeof *key_out);
  if (pem == NULL || passphrase == NULL || passphrase[0] == '\0')
    return SC_CRYPTO_EINVAL;
  if (len == 0 || len > UINT_MAX)
    return SC_CRYPTO_EENCODING;
  ret = pem_to_der (pem, len, &der);
  if (ret != 0)
    goto out;
  if (gnutls_x509_privkey_init (&pk) < 0)
    {
      pk = NULL;
      ret = SC_CRYPTO_EINTERNAL;
      goto out;
    }
  ret = import_encrypted (pk, &der, passphrase);
  if (ret == 0)
    ret = extract_p256 (pk, key_out);
out:
  wipe_datum (&der);
  if (pk != NULL)
    gnutls_x509_privkey_deinit (pk);
  if (ret != 0)
    sc_memzero (key_out, sizeof *key_out);
  return ret;
}
