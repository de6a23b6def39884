/* sc-certgen.c: a throwaway X.509 PKI for tests, over GnuTLS's X.509 API.
 *
 * Three certificates from one table of profiles (CA, server, client), each
 * on a fresh ECDSA P-256 key and signed with ECDSA-SHA256 by the CA's key
 * (the CA's by itself). The CA's key is never written: nothing else can be
 * issued under this CA once the call returns. Every GnuTLS key object is
 * deinitialised (which clears its integers) and every PEM buffer that held
 * a key is wiped (gnutls_memset) before it is freed, on every path.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE /* mkostemp */

#include "sc-certgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define SECONDS_PER_DAY 86400
#define KEY_MODE 0600
#define CERT_MODE 0644
#define DIR_MODE 0700
/* Room for a key identifier: the SHA-1 ones written here are 20 bytes
 * (RFC 5280 section 4.2.1.2); 64 is the longest GnuTLS makes. */
#define KEY_ID_MAX 64

/* What a certificate is for. */
typedef struct
{
  const char *what;     /* for messages */
  const char *dn;       /* subject, RFC 4514 */
  bool ca;              /* basicConstraints CA:TRUE */
  unsigned key_usage;   /* GNUTLS_KEY_* */
  const char *purpose;  /* extKeyUsage OID, or NULL */
  bool localhost_names; /* SANs DNS:localhost, IP:127.0.0.1, IP:::1 */
} Profile;

enum
{
  ENTITY_CA,
  ENTITY_SERVER,
  ENTITY_CLIENT,
  N_ENTITIES
};

static const Profile profiles[N_ENTITIES] = {
  [ENTITY_CA] = { "CA", "CN=SecureComm Test CA,O=SecureComm", true,
                  GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN, NULL, false },
  [ENTITY_SERVER] = { "server", "CN=localhost,O=SecureComm", false, GNUTLS_KEY_DIGITAL_SIGNATURE,
                      GNUTLS_KP_TLS_WWW_SERVER, true },
  [ENTITY_CLIENT] = { "client", "CN=client,O=SecureComm", false, GNUTLS_KEY_DIGITAL_SIGNATURE,
                      GNUTLS_KP_TLS_WWW_CLIENT, false },
};

/* A key and its certificate. */
typedef struct
{
  gnutls_x509_privkey_t key;
  gnutls_x509_crt_t crt;
} Entity;

/* The files, in the order they are written. */
static const struct
{
  const char *name;
  int entity;
  bool is_key;
} outputs[] = {
  { SC_CERTGEN_CA_CERT, ENTITY_CA, false },         /* 0644 */
  { SC_CERTGEN_SERVER_CERT, ENTITY_SERVER, false }, /* 0644 */
  { SC_CERTGEN_SERVER_KEY, ENTITY_SERVER, true },   /* 0600 */
  { SC_CERTGEN_CLIENT_CERT, ENTITY_CLIENT, false }, /* 0644 */
  { SC_CERTGEN_CLIENT_KEY, ENTITY_CLIENT, true },   /* 0600 */
};

/* ---- messages and errors ------------------------------------------------ */

typedef struct
{
  char *buf;
  size_t len;
} Msg;

static void say (Msg *m, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
say (Msg *m, const char *fmt, ...)
{
  va_list ap;

  if (m->buf == NULL || m->len == 0)
    return;
  va_start (ap, fmt);
  vsnprintf (m->buf, m->len, fmt, ap);
  va_end (ap);
}

/* Reports a GnuTLS failure and maps it to an SC_CRYPTO_E* code. */
static int
gnutls_failed (Msg *m, const char *what, const char *step, int gnutls_err)
{
  say (m, "cannot make the %s certificate: %s: %s", what, step, gnutls_strerror (gnutls_err));
  return gnutls_err == GNUTLS_E_RANDOM_FAILED ? SC_CRYPTO_ERANDOM : SC_CRYPTO_EINTERNAL;
}

/* Reports a failed system call on path (errno) and returns SC_CERTGEN_EIO. */
static int
io_failed (Msg *m, const char *step, const char *path)
{
  say (m, "cannot %s %s: %s", step, path, strerror (errno));
  return SC_CERTGEN_EIO;
}

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

/* ---- certificates ------------------------------------------------------- */

/* A random serial of SC_CERTGEN_SERIAL_LEN bytes that DER encodes as a
 * positive INTEGER of exactly that length: top bit clear, next bit set. */
static int
set_serial (gnutls_x509_crt_t crt)
{
  uint8_t serial[SC_CERTGEN_SERIAL_LEN];

  if (sc_random_bytes (serial, sizeof serial) != 0)
    return GNUTLS_E_RANDOM_FAILED;
  serial[0] = (uint8_t) ((serial[0] & 0x7f) | 0x40);
  return gnutls_x509_crt_set_serial (crt, serial, sizeof serial);
}

static int
set_validity (gnutls_x509_crt_t crt)
{
  time_t now = time (NULL);
  int rc = gnutls_x509_crt_set_activation_time (crt, now - SC_CERTGEN_BACKDATE_S);

  if (rc >= 0)
    rc = gnutls_x509_crt_set_expiration_time (
        crt, now + (time_t) SC_CERTGEN_VALIDITY_DAYS * SECONDS_PER_DAY);
  return rc;
}

/* SANs DNS:localhost, IP:127.0.0.1 and IP:::1. */
static int
set_localhost_names (gnutls_x509_crt_t crt)
{
  static const char dns[] = "localhost";
  struct in_addr v4;
  struct in6_addr v6;
  int rc;

  if (inet_pton (AF_INET, "127.0.0.1", &v4) != 1 || inet_pton (AF_INET6, "::1", &v6) != 1)
    return GNUTLS_E_INTERNAL_ERROR;
  rc = gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_DNSNAME, dns, sizeof dns - 1,
                                             GNUTLS_FSAN_APPEND);
  if (rc >= 0)
    rc = gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_IPADDRESS, &v4, sizeof v4,
                                               GNUTLS_FSAN_APPEND);
  if (rc >= 0)
    rc = gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_IPADDRESS, &v6, sizeof v6,
                                               GNUTLS_FSAN_APPEND);
  return rc;
}

/* Subject key id from key, authority key id from the issuer's key. */
static int
set_key_ids (gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, gnutls_x509_privkey_t issuer_key)
{
  unsigned char id[KEY_ID_MAX];
  size_t id_len = sizeof id;
  int rc = gnutls_x509_privkey_get_key_id (key, GNUTLS_KEYID_USE_SHA1, id, &id_len);

  if (rc >= 0)
    rc = gnutls_x509_crt_set_subject_key_id (crt, id, id_len);
  id_len = sizeof id;
  if (rc >= 0)
    rc = gnutls_x509_privkey_get_key_id (issuer_key, GNUTLS_KEYID_USE_SHA1, id, &id_len);
  if (rc >= 0)
    rc = gnutls_x509_crt_set_authority_key_id (crt, id, id_len);
  return rc;
}

/* Everything but the signature, as the profile says. */
static int
fill_certificate (gnutls_x509_crt_t crt, const Profile *p, gnutls_x509_privkey_t key,
                  gnutls_x509_privkey_t issuer_key)
{
  int rc = gnutls_x509_crt_set_version (crt, 3);

  if (rc >= 0)
    rc = set_serial (crt);
  if (rc >= 0)
    rc = set_validity (crt);
  if (rc >= 0)
    rc = gnutls_x509_crt_set_dn (crt, p->dn, NULL);
  if (rc >= 0)
    rc = gnutls_x509_crt_set_key (crt, key);
  if (rc >= 0)
    rc = gnutls_x509_crt_set_basic_constraints (crt, p->ca ? 1 : 0, -1); /* critical */
  if (rc >= 0)
    rc = gnutls_x509_crt_set_key_usage (crt, p->key_usage); /* critical */
  if (rc >= 0 && p->purpose != NULL)
    rc = gnutls_x509_crt_set_key_purpose_oid (crt, p->purpose, 0);
  if (rc >= 0 && p->localhost_names)
    rc = set_localhost_names (crt);
  if (rc >= 0)
    rc = set_key_ids (crt, key, issuer_key);
  return rc;
}

/* ECDSA-SHA256 by the issuer (issuer_crt may be crt itself). */
static int
sign_certificate (gnutls_x509_crt_t crt, gnutls_x509_crt_t issuer_crt,
                  gnutls_x509_privkey_t issuer_key)
{
  gnutls_privkey_t signer = NULL;
  int rc = gnutls_privkey_init (&signer);

  if (rc >= 0)
    rc = gnutls_privkey_import_x509 (signer, issuer_key, 0); /* borrows issuer_key */
  if (rc >= 0)
    rc = gnutls_x509_crt_privkey_sign (crt, issuer_crt, signer, GNUTLS_DIG_SHA256, 0);
  if (signer != NULL)
    gnutls_privkey_deinit (signer);
  return rc;
}

/* A new P-256 key and its certificate, signed by issuer (NULL: by itself). */
static int
make_entity (Entity *e, const Profile *p, const Entity *issuer, Msg *m)
{
  gnutls_x509_privkey_t issuer_key;
  gnutls_x509_crt_t issuer_crt;
  int rc;

  rc = gnutls_x509_privkey_init (&e->key);
  if (rc < 0)
    return gnutls_failed (m, p->what, "a key", rc);
  rc = gnutls_x509_privkey_generate (e->key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0);
  if (rc < 0)
    return gnutls_failed (m, p->what, "generating its P-256 key", rc);
  rc = gnutls_x509_crt_init (&e->crt);
  if (rc < 0)
    return gnutls_failed (m, p->what, "a certificate", rc);
  issuer_key = issuer != NULL ? issuer->key : e->key;
  issuer_crt = issuer != NULL ? issuer->crt : e->crt;
  rc = fill_certificate (e->crt, p, e->key, issuer_key);
  if (rc < 0)
    return gnutls_failed (m, p->what, "its fields", rc);
  rc = sign_certificate (e->crt, issuer_crt, issuer_key);
  if (rc < 0)
    return gnutls_failed (m, p->what, "signing it", rc);
  return 0;
}

static void
clear_entity (Entity *e)
{
  if (e->crt != NULL)
    gnutls_x509_crt_deinit (e->crt);
  if (e->key != NULL)
    gnutls_x509_privkey_deinit (e->key); /* clears the key's integers */
  e->crt = NULL;
  e->key = NULL;
}

/* ---- files -------------------------------------------------------------- */

static int
join_path (char *out, size_t out_len, const char *dir, const char *name, Msg *m)
{
  int n = snprintf (out, out_len, "%s/%s", dir, name);

  if (n < 0 || (size_t) n >= out_len)
    {
      say (m, "the path %s/%s is too long", dir, name);
      return SC_CERTGEN_EIO;
    }
  return 0;
}

/* Fails with SC_CERTGEN_EEXIST when any output file (or a symlink by its
 * name, dangling or not) is already in dir. */
static int
check_absent (const char *dir, Msg *m)
{
  char path[PATH_MAX];
  struct stat st;
  int rc;

  for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++)
    {
      rc = join_path (path, sizeof path, dir, outputs[i].name, m);
      if (rc != 0)
        return rc;
      if (lstat (path, &st) == 0)
        {
          say (m, "%s exists already", path);
          return SC_CERTGEN_EEXIST;
        }
      if (errno != ENOENT && errno != ENOTDIR)
        return io_failed (m, "check", path);
    }
  return 0;
}

/* mkdir -p with mode DIR_MODE for every directory it creates. */
static int
make_directory (const char *dir, Msg *m)
{
  char path[PATH_MAX];
  size_t len = strlen (dir);
  struct stat st;

  if (len >= sizeof path)
    {
      say (m, "the path %s is too long", dir);
      return SC_CERTGEN_EIO;
    }
  memcpy (path, dir, len + 1);
  for (size_t i = 1; i <= len; i++)
    {
      if (path[i] != '/' && path[i] != '\0')
        continue;
      path[i] = '\0';
      if (mkdir (path, DIR_MODE) == 0)
        {
          if (chmod (path, DIR_MODE) != 0) /* exactly 0700, whatever the umask */
            return io_failed (m, "set the mode of", path);
        }
      else if (errno != EEXIST)
        return io_failed (m, "create the directory", path);
      path[i] = dir[i];
    }
  if (stat (dir, &st) != 0)
    return io_failed (m, "use the directory", dir);
  if (!S_ISDIR (st.st_mode))
    {
      say (m, "%s is not a directory", dir);
      return SC_CERTGEN_EIO;
    }
  return 0;
}

static bool
write_all (int fd, const unsigned char *data, size_t len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      data += n;
      len -= (size_t) n;
    }
  return true;
}

/* Writes data into the open, new file fd with exactly mode, then closes it.
 * On failure errno says why. */
static bool
fill_file (int fd, const gnutls_datum_t *data, mode_t mode)
{
  bool ok = fchmod (fd, mode) == 0 && write_all (fd, data->data, data->size) && fsync (fd) == 0;
  int saved = errno;

  if (close (fd) != 0 && ok)
    return false;
  errno = saved;
  return ok;
}

/* Writes one file. Without force the file is created with O_EXCL, so an
 * existing one (or a symlink) is never followed nor replaced. With force it
 * is written under a temporary name and renamed over the old one, which
 * replaces a symlink rather than writing through it. */
static int
write_file (const char *dir, const char *name, const gnutls_datum_t *data, mode_t mode, bool force,
            Msg *m)
{
  char path[PATH_MAX];
  char tmp[PATH_MAX];
  char tmp_name[NAME_MAX];
  const char *created = force ? tmp : path;
  int fd;
  int rc = join_path (path, sizeof path, dir, name, m);

  snprintf (tmp_name, sizeof tmp_name, ".%s.XXXXXX", name);
  if (rc == 0)
    rc = join_path (tmp, sizeof tmp, dir, tmp_name, m);
  if (rc != 0)
    return rc;
  fd = force ? mkostemp (tmp, O_CLOEXEC)
             : open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, KEY_MODE);
  if (fd < 0 && !force && errno == EEXIST)
    {
      say (m, "%s exists already", path);
      return SC_CERTGEN_EEXIST;
    }
  if (fd < 0)
    return io_failed (m, "create", force ? tmp : path);
  if (!fill_file (fd, data, mode) || (force && rename (tmp, path) != 0))
    {
      rc = io_failed (m, "write", path);
      unlink (created);
      return rc;
    }
  return 0;
}

/* The PEM of one output: the certificate, or the key as unencrypted PKCS#8. */
static int
export_output (const Entity *e, bool is_key, gnutls_datum_t *out)
{
  if (is_key)
    return gnutls_x509_privkey_export2_pkcs8 (e->key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                              out);
  return gnutls_x509_crt_export2 (e->crt, GNUTLS_X509_FMT_PEM, out);
}

static int
write_outputs (const char *dir, const Entity *entities, bool force, Msg *m)
{
  int rc = 0;

  for (size_t i = 0; rc == 0 && i < sizeof outputs / sizeof outputs[0]; i++)
    {
      gnutls_datum_t pem = { NULL, 0 };
      int grc = export_output (&entities[outputs[i].entity], outputs[i].is_key, &pem);

      if (grc < 0)
        rc = gnutls_failed (m, profiles[outputs[i].entity].what, "encoding it as PEM", grc);
      else
        rc = write_file (dir, outputs[i].name, &pem, outputs[i].is_key ? KEY_MODE : CERT_MODE,
                         force, m);
      wipe_datum (&pem); /* a key's PEM is key material */
    }
  return rc;
}

/* ---- the API ------------------------------------------------------------ */

int
sc_certgen_write_test_pki (const char *dir, bool force, char *msg, size_t msg_len)
{
  Msg m = { msg, msg_len };
  Entity entities[N_ENTITIES];
  int rc = 0;

  memset (entities, 0, sizeof entities);
  say (&m, "%s", "");
  if (dir == NULL || dir[0] == '\0')
    {
      say (&m, "no directory given");
      return SC_CRYPTO_EINVAL;
    }
  if (!force)
    rc = check_absent (dir, &m);
  for (int i = 0; rc == 0 && i < N_ENTITIES; i++)
    rc = make_entity (&entities[i], &profiles[i], i == ENTITY_CA ? NULL : &entities[ENTITY_CA], &m);
  if (rc == 0)
    rc = make_directory (dir, &m);
  if (rc == 0)
    rc = write_outputs (dir, entities, force, &m);
  for (int i = 0; i < N_ENTITIES; i++)
    clear_entity (&entities[i]);
  return rc;
}
