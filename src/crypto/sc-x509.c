/* sc-x509.c: X.509 questions and TLS priority checks for the TLS layer, over
 * GnuTLS.
 *
 * Every GnuTLS object is created and freed inside one call: nothing here
 * keeps GnuTLS state between calls, except the plain-memory copy of CRL
 * entries in ScX509Crl, which is read-only once built.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-x509.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* RFC 5280 4.1.2.2: serial numbers are at most 20 octets. Read buffers are
 * larger so that a longer one is seen and refused rather than cut. */
#define SERIAL_MAX 20
#define SERIAL_READ_MAX 64

/* One revoked serial number, without leading zero octets. */
typedef struct
{
  uint8_t bytes[SERIAL_MAX];
  size_t len;
} Serial;

/* One CRL: its issuer's raw DN and its serials, sorted by serial_cmp. */
typedef struct
{
  uint8_t *issuer;
  size_t issuer_len;
  Serial *serials;
  size_t n_serials;
  int64_t next_update;
} CrlItem;

struct ScX509Crl
{
  CrlItem *items;
  size_t n_items;
};

/* ---------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Points d at buf; false when len does not fit a GnuTLS datum. */
static bool
datum_of (gnutls_datum_t *d, const uint8_t *buf, size_t len)
{
  if (buf == NULL || len == 0 || len > UINT_MAX)
    return false;
  d->data = (unsigned char *) buf; /* GnuTLS only reads it */
  d->size = (unsigned int) len;
  return true;
}

/* An imported DER certificate, or NULL. */
static gnutls_x509_crt_t
crt_from_der (const uint8_t *der, size_t len)
{
  gnutls_x509_crt_t crt = NULL;
  gnutls_datum_t in;

  if (!datum_of (&in, der, len) || gnutls_x509_crt_init (&crt) < 0)
    return NULL;
  if (gnutls_x509_crt_import (crt, &in, GNUTLS_X509_FMT_DER) < 0)
    {
      gnutls_x509_crt_deinit (crt);
      return NULL;
    }
  return crt;
}

/* Copies a serial number without its leading zero octets (the DER sign
 * octet, or padding) into s; false when it is longer than SERIAL_MAX. */
static bool
serial_set (Serial *s, const uint8_t *bytes, size_t len)
{
  while (len > 1 && bytes[0] == 0)
    {
      bytes++;
      len--;
    }
  if (len == 0 || len > SERIAL_MAX)
    return false;
  memcpy (s->bytes, bytes, len);
  s->len = len;
  return true;
}

/* Orders by length, then bytes: equal serials compare equal. */
static int
serial_cmp (const void *a, const void *b)
{
  const Serial *x = a, *y = b;

  if (x->len != y->len)
    return x->len < y->len ? -1 : 1;
  return memcmp (x->bytes, y->bytes, x->len);
}

/* The serial number of an imported certificate. */
static bool
crt_serial (gnutls_x509_crt_t crt, Serial *s)
{
  uint8_t buf[SERIAL_READ_MAX];
  size_t len = sizeof buf;

  return gnutls_x509_crt_get_serial (crt, buf, &len) >= 0 && serial_set (s, buf, len);
}

/* ---------------------------------------------------------------------------
 * Certificates and keys
 * ------------------------------------------------------------------------ */

int
sc_x509_spki_sha256 (const uint8_t *cert, size_t cert_len, uint8_t out[SC_SHA256_LEN])
{
  gnutls_x509_crt_t crt;
  gnutls_pubkey_t pub = NULL;
  gnutls_datum_t spki = { NULL, 0 };
  int ret = SC_CRYPTO_EENCODING;

  if (out == NULL)
    return SC_CRYPTO_EINVAL;
  sc_memzero (out, SC_SHA256_LEN);
  if ((crt = crt_from_der (cert, cert_len)) == NULL)
    return SC_CRYPTO_EENCODING;
  if (gnutls_pubkey_init (&pub) < 0)
    {
      pub = NULL;
      ret = SC_CRYPTO_EINTERNAL;
      goto out;
    }
  if (gnutls_pubkey_import_x509 (pub, crt, 0) < 0
      || gnutls_pubkey_export2 (pub, GNUTLS_X509_FMT_DER, &spki) < 0)
    goto out;
  sc_sha256 (spki.data, spki.size, out);
  ret = 0;
out:
  gnutls_free (spki.data);
  if (pub != NULL)
    gnutls_pubkey_deinit (pub);
  gnutls_x509_crt_deinit (crt);
  return ret;
}

int
sc_x509_serial_hex (const uint8_t *cert, size_t cert_len, char out[SC_X509_SERIAL_HEX_MAX])
{
  static const char digits[] = "0123456789abcdef";
  gnutls_x509_crt_t crt;
  Serial s;
  bool ok;

  if (out == NULL)
    return SC_CRYPTO_EINVAL;
  memset (out, 0, SC_X509_SERIAL_HEX_MAX);
  if ((crt = crt_from_der (cert, cert_len)) == NULL)
    return SC_CRYPTO_EENCODING;
  ok = crt_serial (crt, &s);
  gnutls_x509_crt_deinit (crt);
  if (!ok)
    return SC_CRYPTO_EENCODING;
  for (size_t i = 0; i < s.len; i++)
    {
      out[2 * i] = digits[s.bytes[i] >> 4];
      out[2 * i + 1] = digits[s.bytes[i] & 0x0f];
    }
  return 0;
}

int
sc_x509_allows_purpose (const uint8_t *cert, size_t cert_len, ScX509Purpose purpose)
{
  const char *wanted = purpose == SC_X509_PURPOSE_TLS_SERVER ? GNUTLS_KP_TLS_WWW_SERVER
                                                             : GNUTLS_KP_TLS_WWW_CLIENT;
  gnutls_x509_crt_t crt;
  char oid[128];
  size_t len;
  int ret = 0;

  if ((crt = crt_from_der (cert, cert_len)) == NULL)
    return SC_CRYPTO_EENCODING;
  for (unsigned i = 0;; i++)
    {
      len = sizeof oid;
      ret = gnutls_x509_crt_get_key_purpose_oid (crt, i, oid, &len, NULL);
      if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
        {
          ret = i == 0; /* no extension: any purpose; else none matched */
          break;
        }
      if (ret < 0)
        {
          ret = SC_CRYPTO_EENCODING;
          break;
        }
      if (strcmp (oid, wanted) == 0 || strcmp (oid, GNUTLS_KP_ANY) == 0)
        {
          ret = 1;
          break;
        }
    }
  gnutls_x509_crt_deinit (crt);
  return ret;
}

/* The SHA-256 key ID (a hash of the public key parameters) of a public key. */
static bool
pubkey_id (gnutls_pubkey_t pub, uint8_t id[SC_SHA256_LEN])
{
  size_t len = SC_SHA256_LEN;

  return gnutls_pubkey_get_key_id (pub, GNUTLS_KEYID_USE_SHA256, id, &len) >= 0
         && len == SC_SHA256_LEN;
}

int
sc_x509_key_matches (const uint8_t *cert, size_t cert_len, const uint8_t *key, size_t key_len)
{
  gnutls_x509_crt_t crt;
  gnutls_privkey_t priv = NULL;
  gnutls_pubkey_t from_cert = NULL, from_key = NULL;
  gnutls_datum_t in;
  uint8_t id_cert[SC_SHA256_LEN], id_key[SC_SHA256_LEN];
  int ret = SC_CRYPTO_EENCODING;

  if ((crt = crt_from_der (cert, cert_len)) == NULL || !datum_of (&in, key, key_len))
    goto out;
  if (gnutls_privkey_init (&priv) < 0 || gnutls_pubkey_init (&from_cert) < 0
      || gnutls_pubkey_init (&from_key) < 0)
    {
      ret = SC_CRYPTO_EINTERNAL;
      goto out;
    }
  if (gnutls_privkey_import_x509_raw (priv, &in, GNUTLS_X509_FMT_DER, NULL, 0) < 0
      || gnutls_pubkey_import_privkey (from_key, priv, 0, 0) < 0
      || gnutls_pubkey_import_x509 (from_cert, crt, 0) < 0 || !pubkey_id (from_cert, id_cert)
      || !pubkey_id (from_key, id_key))
    goto out;
  ret = memcmp (id_cert, id_key, SC_SHA256_LEN) == 0 ? 0 : SC_CRYPTO_EVERIFY;
out:
  if (from_key != NULL)
    gnutls_pubkey_deinit (from_key);
  if (from_cert != NULL)
    gnutls_pubkey_deinit (from_cert);
  if (priv != NULL)
    gnutls_privkey_deinit (priv); /* clears the key's integers */
  if (crt != NULL)
    gnutls_x509_crt_deinit (crt);
  return ret;
}

/* A PKCS #11 private key proves it is the certificate's by signing: the
 * token never shows the key itself. */
int
sc_x509_pkcs11_key_matches (const uint8_t *cert, size_t cert_len, const char *key_uri)
{
  static const uint8_t probe[] = "SecureComm PKCS #11 key check";
  gnutls_x509_crt_t crt;
  gnutls_privkey_t priv = NULL;
  gnutls_pubkey_t pub = NULL;
  gnutls_datum_t data = { (unsigned char *) probe, sizeof probe - 1 }, sig = { NULL, 0 };
  int ret = SC_CRYPTO_EENCODING, algo;

  if ((crt = crt_from_der (cert, cert_len)) == NULL || key_uri == NULL)
    goto out;
  if (gnutls_privkey_init (&priv) < 0 || gnutls_pubkey_init (&pub) < 0)
    {
      ret = SC_CRYPTO_EINTERNAL;
      goto out;
    }
  ret = SC_CRYPTO_EKEY_UNAVAILABLE;
  if (gnutls_privkey_import_url (priv, key_uri, 0) < 0)
    goto out; /* no such object, wrong PIN, no module */
  ret = SC_CRYPTO_EVERIFY;
  algo = gnutls_pubkey_import_x509 (pub, crt, 0) < 0
             ? -1
             : (int) gnutls_pk_to_sign (gnutls_pubkey_get_pk_algorithm (pub, NULL),
                                        GNUTLS_DIG_SHA256);
  if (algo < 0
      || gnutls_privkey_sign_data2 (priv, (gnutls_sign_algorithm_t) algo, 0, &data, &sig) < 0
      || gnutls_pubkey_verify_data2 (pub, (gnutls_sign_algorithm_t) algo, 0, &data, &sig) < 0)
    goto out;
  ret = 0;
out:
  gnutls_free (sig.data);
  if (pub != NULL)
    gnutls_pubkey_deinit (pub);
  if (priv != NULL)
    gnutls_privkey_deinit (priv);
  if (crt != NULL)
    gnutls_x509_crt_deinit (crt);
  return ret;
}

/* ---------------------------------------------------------------------------
 * Certificate revocation lists
 * ------------------------------------------------------------------------ */

/* Copies the revoked serials of crl into item, sorted. */
static int
crl_item_fill (CrlItem *item, gnutls_x509_crl_t crl)
{
  gnutls_x509_crl_iter_t iter = NULL;
  gnutls_datum_t dn = { NULL, 0 };
  int count = gnutls_x509_crl_get_crt_count (crl);
  uint8_t buf[SERIAL_READ_MAX];
  size_t len = sizeof buf;
  time_t revoked_at;
  int ret;

  if (count < 0 || gnutls_x509_crl_get_raw_issuer_dn (crl, &dn) < 0)
    return SC_CRYPTO_EENCODING;
  item->issuer = malloc (dn.size);
  item->serials = calloc ((size_t) count + 1, sizeof (Serial));
  if (item->issuer == NULL || item->serials == NULL)
    {
      gnutls_free (dn.data);
      return SC_CRYPTO_EINTERNAL;
    }
  memcpy (item->issuer, dn.data, dn.size);
  item->issuer_len = dn.size;
  gnutls_free (dn.data);
  item->next_update = (int64_t) gnutls_x509_crl_get_next_update (crl);
  while ((ret = gnutls_x509_crl_iter_crt_serial (crl, &iter, buf, &len, &revoked_at)) >= 0
         && item->n_serials < (size_t) count)
    {
      if (!serial_set (&item->serials[item->n_serials++], buf, len))
        break;
      len = sizeof buf;
    }
  gnutls_x509_crl_iter_deinit (iter);
  if (ret != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE || item->n_serials != (size_t) count)
    return SC_CRYPTO_EENCODING;
  qsort (item->serials, item->n_serials, sizeof (Serial), serial_cmp);
  return 0;
}

/* A signature that verifies, whatever the CRL's dates say: a CRL past its
 * next update still lists certificates that must stay refused (the caller
 * warns about its age). */
static bool
crl_signed_by (gnutls_x509_crl_t crl, gnutls_x509_crt_t *cas, unsigned n_cas)
{
  const unsigned dates = GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED
                         | GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE;
  unsigned status = 0;

  return gnutls_x509_crl_verify (crl, cas, n_cas, 0, &status) >= 0 && (status & ~dates) == 0;
}

/* Parses one or more PEM CRLs, or else one DER CRL. */
static int
crls_import (const uint8_t *data, size_t len, gnutls_x509_crl_t **crls, unsigned *n)
{
  gnutls_datum_t in;

  if (!datum_of (&in, data, len))
    return SC_CRYPTO_EENCODING;
  if (gnutls_x509_crl_list_import2 (crls, n, &in, GNUTLS_X509_FMT_PEM, 0) >= 0 && *n > 0)
    return 0;
  *n = 0;
  if (gnutls_x509_crl_list_import2 (crls, n, &in, GNUTLS_X509_FMT_DER, 0) >= 0 && *n > 0)
    return 0;
  *n = 0;
  return SC_CRYPTO_EENCODING;
}

static void
crls_free (gnutls_x509_crl_t *crls, unsigned n)
{
  for (unsigned i = 0; i < n; i++)
    gnutls_x509_crl_deinit (crls[i]);
  gnutls_free (crls);
}

static void
cas_free (gnutls_x509_crt_t *cas, unsigned n)
{
  for (unsigned i = 0; i < n; i++)
    gnutls_x509_crt_deinit (cas[i]);
  gnutls_free (cas);
}

/* Fills set from the imported CRLs, checking each one's signature. */
static int
crl_set_fill (ScX509Crl *set, gnutls_x509_crl_t *crls, unsigned n, gnutls_x509_crt_t *cas,
              unsigned n_cas, size_t *bad_index)
{
  int ret;

  set->items = calloc (n, sizeof (CrlItem));
  if (set->items == NULL)
    return SC_CRYPTO_EINTERNAL;
  for (unsigned i = 0; i < n; i++)
    {
      if (!crl_signed_by (crls[i], cas, n_cas))
        {
          *bad_index = i;
          return SC_CRYPTO_EVERIFY;
        }
      set->n_items++;
      if ((ret = crl_item_fill (&set->items[i], crls[i])) < 0)
        return ret;
    }
  return 0;
}

int
sc_x509_crl_new (const uint8_t *crl, size_t crl_len, const uint8_t *ca_pem, size_t ca_len,
                 ScX509Crl **out, size_t *bad_index)
{
  gnutls_x509_crl_t *crls = NULL;
  gnutls_x509_crt_t *cas = NULL;
  unsigned n_crls = 0, n_cas = 0;
  gnutls_datum_t ca_in;
  ScX509Crl *set = NULL;
  size_t bad = 0;
  int ret;

  if (out == NULL)
    return SC_CRYPTO_EINVAL;
  *out = NULL;
  if ((ret = crls_import (crl, crl_len, &crls, &n_crls)) < 0)
    goto out;
  ret = SC_CRYPTO_EENCODING;
  if (!datum_of (&ca_in, ca_pem, ca_len)
      || gnutls_x509_crt_list_import2 (&cas, &n_cas, &ca_in, GNUTLS_X509_FMT_PEM, 0) < 0
      || n_cas == 0)
    goto out;
  if ((set = calloc (1, sizeof *set)) == NULL)
    {
      ret = SC_CRYPTO_EINTERNAL;
      goto out;
    }
  if ((ret = crl_set_fill (set, crls, n_crls, cas, n_cas, &bad)) < 0)
    goto out;
  *out = set;
  set = NULL;
out:
  if (bad_index != NULL)
    *bad_index = bad;
  sc_x509_crl_free (set);
  cas_free (cas, n_cas);
  crls_free (crls, n_crls);
  return ret;
}

void
sc_x509_crl_free (ScX509Crl *crl)
{
  if (crl == NULL)
    return;
  for (size_t i = 0; i < crl->n_items; i++)
    {
      free (crl->items[i].issuer);
      free (crl->items[i].serials);
    }
  free (crl->items);
  free (crl);
}

size_t
sc_x509_crl_count (const ScX509Crl *crl)
{
  size_t n = 0;

  for (size_t i = 0; crl != NULL && i < crl->n_items; i++)
    n += crl->items[i].n_serials;
  return n;
}

int64_t
sc_x509_crl_next_update (const ScX509Crl *crl)
{
  int64_t earliest = -1;

  for (size_t i = 0; crl != NULL && i < crl->n_items; i++)
    {
      int64_t t = crl->items[i].next_update;

      if (t >= 0 && (earliest < 0 || t < earliest))
        earliest = t;
    }
  return earliest;
}

int
sc_x509_crl_lookup (const ScX509Crl *crl, const uint8_t *cert, size_t cert_len)
{
  gnutls_x509_crt_t crt;
  gnutls_datum_t issuer = { NULL, 0 };
  Serial s;
  int found = 0;

  if (crl == NULL)
    return SC_CRYPTO_EINVAL;
  if ((crt = crt_from_der (cert, cert_len)) == NULL)
    return SC_CRYPTO_EENCODING;
  if (!crt_serial (crt, &s) || gnutls_x509_crt_get_raw_issuer_dn (crt, &issuer) < 0)
    {
      gnutls_x509_crt_deinit (crt);
      return SC_CRYPTO_EENCODING;
    }
  for (size_t i = 0; i < crl->n_items && !found; i++)
    {
      const CrlItem *item = &crl->items[i];

      if (item->issuer_len == issuer.size && memcmp (item->issuer, issuer.data, issuer.size) == 0)
        found = bsearch (&s, item->serials, item->n_serials, sizeof (Serial), serial_cmp) != NULL;
    }
  gnutls_free (issuer.data);
  gnutls_x509_crt_deinit (crt);
  return found;
}

/* ---------------------------------------------------------------------------
 * Priority strings
 * ------------------------------------------------------------------------ */

int
sc_x509_priority_check (const char *priority, size_t *err_offset)
{
  gnutls_priority_t cache = NULL;
  const char *err = NULL;

  if (err_offset != NULL)
    *err_offset = 0;
  if (priority == NULL)
    return SC_CRYPTO_EINVAL;
  if (gnutls_priority_init2 (&cache, priority, &err, 0) < 0)
    {
      if (err_offset != NULL && err != NULL && err >= priority)
        *err_offset = (size_t) (err - priority);
      return SC_CRYPTO_EINVAL;
    }
  gnutls_priority_deinit (cache);
  return 0;
}
