/* sc-identity.c: ScIdentity, a long-term P-256 key pair in secure memory,
 * and the files it lives in: the encrypted key file and the passphrase.
 *
 * Files that hold secrets are opened with O_NOFOLLOW and checked with fstat
 * on the opened descriptor (no window between the check and the read): a
 * regular file, owned by the effective user, no permission for group or
 * others. Key files are written to a 0600 temporary file in the same
 * directory, synced and renamed into place, so the key is never readable by
 * anyone else and a crash leaves the old file or the new one, never half.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sc-identity-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "sc-error.h"
#include "sc-keyfile.h"

/* Key files are a few hundred bytes; the bound keeps a wrong path (a log, a
 * device) from making us read without end. */
#define SC_KEY_FILE_MAX (64 * 1024)
/* A passphrase file longer than this is the wrong file. */
#define SC_PASSPHRASE_FILE_MAX 4096

/* What a file holding a secret must look like (see check_file_stat). */
typedef enum
{
  /* Ours: owned by the effective user, no access for group or others. */
  FILE_POLICY_PRIVATE,
  /* A systemd credential: systemd makes it readable by the service user,
   * through ownership or an ACL (which shows as group bits), in a directory
   * only that user can enter. Others must still have no access. */
  FILE_POLICY_CREDENTIAL,
} FilePolicy;

struct _ScIdentity
{
  GObject parent_instance;

  ScP256Key *key; /* sc_secure_alloc */
  guint8 spki[SC_P256_SPKI_LEN];
  char fingerprint[SC_IDENTITY_FINGERPRINT_LEN + 1];
};

enum
{
  PROP_0,
  PROP_FINGERPRINT,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

/**
 * ScIdentity:
 *
 * A long-term ECDSA P-256 identity: the key pair that signs our side of
 * SecureComm handshakes. The private key lives in locked memory excluded
 * from core dumps and is wiped when the object is finalized. Peers know an
 * identity by its fingerprint, the SHA-256 of its public key
 * (sc_identity_get_fingerprint()).
 */
G_DEFINE_FINAL_TYPE (ScIdentity, sc_identity, G_TYPE_OBJECT)

static void
sc_identity_finalize (GObject *object)
{
  ScIdentity *self = SC_IDENTITY (object);

  sc_secure_free (self->key, sizeof *self->key);
  self->key = NULL;
  G_OBJECT_CLASS (sc_identity_parent_class)->finalize (object);
}

static void
sc_identity_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ScIdentity *self = SC_IDENTITY (object);

  switch (prop_id)
    {
    case PROP_FINGERPRINT:
      g_value_set_string (value, self->fingerprint);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
sc_identity_class_init (ScIdentityClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = sc_identity_finalize;
  object_class->get_property = sc_identity_get_property;

  /**
   * ScIdentity:fingerprint:
   *
   * The lowercase hex SHA-256 of the DER SubjectPublicKeyInfo.
   */
  props[PROP_FINGERPRINT] = g_param_spec_string ("fingerprint", NULL, NULL, NULL,
                                                 G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
sc_identity_init (ScIdentity *self)
{
  self->key = sc_secure_alloc (sizeof *self->key);
  if (self->key == NULL)
    g_error ("Out of memory for an identity key");
}

void
sc_hex_format (const guint8 *data, gsize len, char *out)
{
  static const char digits[] = "0123456789abcdef";

  for (gsize i = 0; i < len; i++)
    {
      out[2 * i] = digits[data[i] >> 4];
      out[2 * i + 1] = digits[data[i] & 0x0f];
    }
  out[2 * len] = '\0';
}

/* Writes the lowercase hex SHA-256 of data into out (NUL-terminated). */
static void
hex_sha256 (const guint8 *data, gsize len, char out[SC_IDENTITY_FINGERPRINT_LEN + 1])
{
  guint8 digest[SC_SHA256_LEN];

  sc_sha256 (data, len, digest);
  sc_hex_format (digest, sizeof digest, out);
}

/* Derives the SPKI and the fingerprint once self->key is in place. */
static void
identity_key_changed (ScIdentity *self)
{
  sc_p256_spki_encode (self->key->pub, self->spki);
  hex_sha256 (self->spki, sizeof self->spki, self->fingerprint);
}

/**
 * sc_identity_new_from_key: (skip)
 * @key: a P-256 key pair
 *
 * Private: an identity holding a copy of @key, rebuilt from its scalar.
 *
 * Returns: (transfer full) (nullable): the identity, or %NULL if @key is
 *   not a valid key pair
 */
ScIdentity *
sc_identity_new_from_key (const ScP256Key *key)
{
  g_autoptr (ScIdentity) self = NULL;

  g_return_val_if_fail (key != NULL, NULL);

  self = g_object_new (SC_TYPE_IDENTITY, NULL);
  if (sc_p256_key_from_scalar (self->key, key->d) != 0
      || !sc_memeq_ct (self->key->pub, key->pub, SC_P256_POINT_LEN))
    {
      g_critical ("%s: not a valid P-256 key pair", G_STRFUNC);
      return NULL;
    }
  identity_key_changed (self);
  return g_steal_pointer (&self);
}

/**
 * sc_identity_generate:
 * @error: return location for a #GError, or %NULL
 *
 * Generates a new identity from the system's CSPRNG.
 *
 * Returns: (transfer full): a new identity, or %NULL with @error set
 */
ScIdentity *
sc_identity_generate (GError **error)
{
  g_autoptr (ScIdentity) self = NULL;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (SC_TYPE_IDENTITY, NULL);
  if (sc_p256_keygen (self->key, sc_random_system, NULL) != 0)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_FAILED,
                           "Could not generate an identity key: the random source failed");
      return NULL;
    }
  identity_key_changed (self);
  return g_steal_pointer (&self);
}

/* ---------------------------------------------------------------------------
 * Reading files that hold secrets
 * ------------------------------------------------------------------------ */

/* Wipes len bytes of buf and frees it. */
static void
wipe_free (char *buf, gsize len)
{
  if (buf == NULL)
    return;
  sc_memzero (buf, len);
  g_free (buf);
}

/* Checks what fstat said of the opened file path against policy. */
static gboolean
check_file_stat (const char *path, const struct stat *st, FilePolicy policy, int code,
                 GError **error)
{
  mode_t forbidden = policy == FILE_POLICY_PRIVATE ? (S_IRWXG | S_IRWXO) : S_IRWXO;

  if (!S_ISREG (st->st_mode))
    {
      g_set_error (error, SC_ERROR, code, "Refusing %s: not a regular file", path);
      return FALSE;
    }
  if (policy == FILE_POLICY_PRIVATE && st->st_uid != geteuid ())
    {
      g_set_error (error, SC_ERROR, code,
                   "Refusing %s: it is owned by uid %u, not by uid %u that runs this program", path,
                   (unsigned) st->st_uid, (unsigned) geteuid ());
      return FALSE;
    }
  if ((st->st_mode & forbidden) != 0)
    {
      g_set_error (error, SC_ERROR, code,
                   "Refusing %s: its mode %04o gives access to %s; run “chmod 600 %s”", path,
                   (unsigned) (st->st_mode & 07777),
                   policy == FILE_POLICY_PRIVATE ? "group or others" : "others", path);
      return FALSE;
    }
  return TRUE;
}

/* Opens path read-only, not following a symbolic link in its last component
 * and not blocking on a FIFO, and checks the opened file (check_file_stat).
 * Returns the descriptor, or -1 with error set in SC_ERROR with code. */
static int
open_checked (const char *path, FilePolicy policy, int code, GError **error)
{
  struct stat st;
  int fd;
  int saved;

  fd = g_open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    {
      saved = errno;
      if (saved == ELOOP)
        g_set_error (error, SC_ERROR, code,
                     "Refusing %s: it is a symbolic link; give the path of the file itself", path);
      else
        g_set_error (error, SC_ERROR, code, "Could not open %s: %s", path, g_strerror (saved));
      return -1;
    }
  if (fstat (fd, &st) != 0)
    {
      saved = errno;
      g_set_error (error, SC_ERROR, code, "Could not stat %s: %s", path, g_strerror (saved));
      close (fd);
      return -1;
    }
  if (!check_file_stat (path, &st, policy, code, error))
    {
      close (fd);
      return -1;
    }
  return fd;
}

/* Reads the whole of a checked file (open_checked) of at most max bytes into
 * a new NUL-terminated buffer; *len_out receives its length. The caller
 * wipes it: wipe_free (buf, *len_out). */
static char *
read_private_file (const char *path, FilePolicy policy, gsize max, int code, gsize *len_out,
                   GError **error)
{
  int fd = open_checked (path, policy, code, error);
  char *buf;
  gsize len = 0;
  int saved = 0;

  if (fd < 0)
    return NULL;
  buf = g_malloc0 (max + 1);
  while (len <= max)
    {
      gssize n = read (fd, buf + len, max + 1 - len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          saved = n < 0 ? errno : 0;
          break;
        }
      len += (gsize) n;
    }
  close (fd);
  if (saved != 0 || len > max)
    {
      if (saved != 0)
        g_set_error (error, SC_ERROR, code, "Could not read %s: %s", path, g_strerror (saved));
      else
        g_set_error (error, SC_ERROR, code, "Refusing %s: larger than %" G_GSIZE_FORMAT " bytes",
                     path, max);
      wipe_free (buf, max + 1);
      return NULL;
    }
  *len_out = len;
  return buf;
}

/* ---------------------------------------------------------------------------
 * Key files
 * ------------------------------------------------------------------------ */

static gboolean
check_passphrase (const char *passphrase, GError **error)
{
  if (passphrase != NULL && passphrase[0] != '\0')
    return TRUE;
  g_set_error_literal (error, SC_ERROR, SC_ERROR_PASSPHRASE,
                       "An empty passphrase is not allowed: identity keys are always encrypted "
                       "at rest");
  return FALSE;
}

/* Sets error for an sc_keyfile_decode failure on path. */
static void
set_decode_error (GError **error, int ret, const char *path)
{
  switch (ret)
    {
    case SC_CRYPTO_EPASSPHRASE:
      /* GnuTLS cannot tell a wrong passphrase from a key type it cannot
       * parse (sc-keyfile.h), so the message names both. */
      g_set_error (error, SC_ERROR, SC_ERROR_PASSPHRASE,
                   "The passphrase does not decrypt %s (or the file holds a key type GnuTLS "
                   "cannot read; identity keys are ECDSA P-256)",
                   path);
      break;
    case SC_CRYPTO_EPOINT:
      g_set_error (error, SC_ERROR, SC_ERROR_KEY_FILE, "%s does not hold an ECDSA P-256 key", path);
      break;
    case SC_CRYPTO_EENCODING:
      g_set_error (error, SC_ERROR, SC_ERROR_KEY_FILE,
                   "%s is not an encrypted PKCS#8 key (PEM “ENCRYPTED PRIVATE KEY”) or is "
                   "damaged",
                   path);
      break;
    default:
      g_set_error (error, SC_ERROR, SC_ERROR_FAILED, "Could not decode %s: internal error", path);
    }
}

/**
 * sc_identity_load:
 * @path: (type filename): the encrypted key file
 * @passphrase: the passphrase of the key file
 * @error: return location for a #GError, or %NULL
 *
 * Loads an identity from an encrypted PKCS#8 PEM file, such as
 * sc_identity_save() or `openssl genpkey -algorithm EC -pkeyopt
 * ec_paramgen_curve:P-256 -aes256` write.
 *
 * The file must be a regular file (not a symbolic link) owned by the
 * effective user, with no permission for group or others, and at most
 * 64 KiB long; otherwise %SC_ERROR_KEY_FILE. A passphrase that does not
 * decrypt it gives %SC_ERROR_PASSPHRASE; a file that is not an encrypted
 * P-256 key gives %SC_ERROR_KEY_FILE.
 *
 * Returns: (transfer full): the identity, or %NULL with @error set
 */
ScIdentity *
sc_identity_load (const char *path, const char *passphrase, GError **error)
{
  g_autoptr (ScIdentity) self = NULL;
  char *buf;
  gsize len = 0;
  int ret;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_passphrase (passphrase, error))
    return NULL;
  buf = read_private_file (path, FILE_POLICY_PRIVATE, SC_KEY_FILE_MAX, SC_ERROR_KEY_FILE, &len,
                           error);
  if (buf == NULL)
    return NULL;
  self = g_object_new (SC_TYPE_IDENTITY, NULL);
  ret = sc_keyfile_decode (buf, len, passphrase, self->key);
  wipe_free (buf, len);
  if (ret != 0)
    {
      set_decode_error (error, ret, path);
      return NULL;
    }
  identity_key_changed (self);
  g_debug ("Loaded identity %s from %s", self->fingerprint, path);
  return g_steal_pointer (&self);
}

/* ---------------------------------------------------------------------------
 * Writing key files
 * ------------------------------------------------------------------------ */

static gboolean
write_all (int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      gssize n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* Makes a rename in dir durable. A failure only weakens durability, so it
 * is logged, not returned. */
static void
sync_dir (const char *dir)
{
  int fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

  if (fd < 0 || fsync (fd) != 0)
    g_debug ("Could not sync directory %s: %s", dir, g_strerror (errno));
  if (fd >= 0)
    close (fd);
}

/* Writes data to a new 0600 file tmp (O_CREAT|O_EXCL: never an existing
 * file, never another mode) and syncs it. */
static gboolean
write_temp_file (char *tmpl, const char *data, gsize len, GError **error)
{
  int fd = g_mkstemp_full (tmpl, O_WRONLY | O_CLOEXEC, 0600);
  int saved;

  if (fd < 0)
    {
      saved = errno;
      g_set_error (error, SC_ERROR, SC_ERROR_KEY_FILE, "Could not create %s: %s", tmpl,
                   g_strerror (saved));
      return FALSE;
    }
  /* The umask may only have removed bits; make the mode exact. */
  if (fchmod (fd, 0600) != 0 || !write_all (fd, data, len) || fsync (fd) != 0)
    {
      saved = errno;
      close (fd);
      g_set_error (error, SC_ERROR, SC_ERROR_KEY_FILE, "Could not write %s: %s", tmpl,
                   g_strerror (saved));
      return FALSE;
    }
  if (close (fd) != 0)
    {
      saved = errno;
      g_set_error (error, SC_ERROR, SC_ERROR_KEY_FILE, "Could not write %s: %s", tmpl,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* Moves tmp to path: rename (atomic replace) or, without replace, link
 * (atomic, fails with EEXIST if path exists, reported through *out_exists). */
static gboolean
commit_temp_file (const char *tmp, const char *path, gboolean replace, gboolean *out_exists,
                  GError **error)
{
  int r = replace ? g_rename (tmp, path) : link (tmp, path);
  int saved = errno;

  if (r == 0)
    {
      if (!replace)
        g_unlink (tmp);
      return TRUE;
    }
  if (out_exists != NULL)
    *out_exists = saved == EEXIST;
  g_set_error (error, SC_ERROR, SC_ERROR_KEY_FILE, "Could not write %s: %s", path,
               g_strerror (saved));
  return FALSE;
}

/* Writes data to path atomically through a temporary file in the same
 * directory; the file is 0600 from its creation on. */
static gboolean
write_private_file (const char *path, const char *data, gsize len, gboolean replace,
                    gboolean *out_exists, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *tmp = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);

  if (!write_temp_file (tmp, data, len, error))
    {
      g_unlink (tmp);
      return FALSE;
    }
  if (!commit_temp_file (tmp, path, replace, out_exists, error))
    {
      g_unlink (tmp);
      return FALSE;
    }
  sync_dir (dir);
  return TRUE;
}

/* Encrypts the key under passphrase and writes it to path. */
static gboolean
identity_write (ScIdentity *self, const char *path, const char *passphrase, gboolean replace,
                gboolean *out_exists, GError **error)
{
  char *pem = NULL;
  size_t len = 0;
  gboolean ok;

  if (!check_passphrase (passphrase, error))
    return FALSE;
  if (sc_keyfile_encode (self->key, passphrase, &pem, &len) != 0)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_FAILED, "Could not encrypt the identity key for %s",
                   path);
      return FALSE;
    }
  ok = write_private_file (path, pem, len, replace, out_exists, error);
  sc_memzero (pem, len);
  free (pem);
  return ok;
}

/**
 * sc_identity_save:
 * @self: an identity
 * @path: (type filename): where to write the key file
 * @passphrase: the passphrase to encrypt it with; must not be empty
 * @error: return location for a #GError, or %NULL
 *
 * Writes the identity as an encrypted PKCS#8 PEM file (PBES2:
 * PBKDF2-HMAC-SHA256 and AES-256-CBC) that OpenSSL and GnuTLS can read.
 * The file is replaced atomically: a temporary file in the same directory,
 * created with mode 0600, is written, synced and renamed over @path. The
 * key is never readable by group or others, not even for a moment.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
sc_identity_save (ScIdentity *self, const char *path, const char *passphrase, GError **error)
{
  g_return_val_if_fail (SC_IS_IDENTITY (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return identity_write (self, path, passphrase, TRUE, NULL, error);
}

/* Creates the directory of path, and any missing parents, with mode 0700. */
static gboolean
make_parent_dir (const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  int saved;

  if (g_mkdir_with_parents (dir, 0700) == 0)
    return TRUE;
  saved = errno;
  g_set_error (error, SC_ERROR, SC_ERROR_KEY_FILE, "Could not create directory %s: %s", dir,
               g_strerror (saved));
  return FALSE;
}

/* Generates an identity and writes it to path, which must not exist. If it
 * appeared meanwhile (another process won the race), loads that one. */
static ScIdentity *
identity_create (const char *path, const char *passphrase, gboolean *out_created, GError **error)
{
  g_autoptr (ScIdentity) self = NULL;
  g_autoptr (GError) local_error = NULL;
  gboolean exists = FALSE;

  if (!check_passphrase (passphrase, error) || !make_parent_dir (path, error))
    return NULL;
  self = sc_identity_generate (error);
  if (self == NULL)
    return NULL;
  if (!identity_write (self, path, passphrase, FALSE, &exists, &local_error))
    {
      if (exists)
        return sc_identity_load (path, passphrase, error);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  g_debug ("Created identity %s in %s", self->fingerprint, path);
  if (out_created != NULL)
    *out_created = TRUE;
  return g_steal_pointer (&self);
}

/**
 * sc_identity_load_or_create:
 * @path: (type filename): the encrypted key file
 * @passphrase: the passphrase of the key file; must not be empty
 * @out_created: (out) (optional): set to %TRUE when a new identity was created
 * @error: return location for a #GError, or %NULL
 *
 * Loads the identity in @path (see sc_identity_load()) or, when @path does
 * not exist, generates a new one and saves it there, creating the missing
 * directories with mode 0700. An existing file is never overwritten, even
 * when another process creates it at the same moment.
 *
 * Returns: (transfer full): the identity, or %NULL with @error set
 */
ScIdentity *
sc_identity_load_or_create (const char *path, const char *passphrase, gboolean *out_created,
                            GError **error)
{
  GStatBuf st;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (out_created != NULL)
    *out_created = FALSE;
  if (g_lstat (path, &st) != 0 && errno == ENOENT)
    return identity_create (path, passphrase, out_created, error);
  return sc_identity_load (path, passphrase, error);
}

/* ---------------------------------------------------------------------------
 * Accessors
 * ------------------------------------------------------------------------ */

/**
 * sc_identity_get_fingerprint:
 * @self: an identity
 *
 * The fingerprint of the identity: the SHA-256 of its DER
 * SubjectPublicKeyInfo in lowercase hex (%SC_IDENTITY_FINGERPRINT_LEN
 * characters), the same as
 * `openssl pkey -pubout -outform DER | sha256sum` prints.
 *
 * Returns: (transfer none): the fingerprint, valid as long as @self
 */
const char *
sc_identity_get_fingerprint (ScIdentity *self)
{
  g_return_val_if_fail (SC_IS_IDENTITY (self), NULL);

  return self->fingerprint;
}

/**
 * sc_identity_get_public_key:
 * @self: an identity
 *
 * The public key as a DER SubjectPublicKeyInfo (91 bytes: id-ecPublicKey,
 * prime256v1, uncompressed point).
 *
 * Returns: (transfer full): the SubjectPublicKeyInfo
 */
GBytes *
sc_identity_get_public_key (ScIdentity *self)
{
  g_return_val_if_fail (SC_IS_IDENTITY (self), NULL);

  return g_bytes_new (self->spki, sizeof self->spki);
}

/**
 * sc_identity_get_key: (skip)
 * @self: an identity
 *
 * Private: the key pair, for the protocol core.
 *
 * Returns: (transfer none): the key pair, valid as long as @self
 */
const ScP256Key *
sc_identity_get_key (ScIdentity *self)
{
  g_return_val_if_fail (SC_IS_IDENTITY (self), NULL);

  return self->key;
}

/**
 * sc_fingerprint_from_spki:
 * @spki: (array length=len): a DER SubjectPublicKeyInfo
 * @len: the length of @spki
 *
 * The fingerprint of any public key: the SHA-256 of @spki in lowercase hex.
 * @spki is hashed as it is, not parsed.
 *
 * Returns: (transfer full): the fingerprint (%SC_IDENTITY_FINGERPRINT_LEN
 *   characters)
 */
char *
sc_fingerprint_from_spki (const guint8 *spki, gsize len)
{
  char *fingerprint;

  g_return_val_if_fail (spki != NULL || len == 0, NULL);

  fingerprint = g_malloc (SC_IDENTITY_FINGERPRINT_LEN + 1);
  hex_sha256 (spki, len, fingerprint);
  return fingerprint;
}

/* ---------------------------------------------------------------------------
 * Passphrases
 * ------------------------------------------------------------------------ */

/**
 * sc_passphrase_free:
 * @passphrase: (nullable) (transfer full): a passphrase from sc_passphrase_read()
 *
 * Wipes and frees a passphrase.
 */
void
sc_passphrase_free (char *passphrase)
{
  if (passphrase == NULL)
    return;
  sc_memzero (passphrase, strlen (passphrase));
  g_free (passphrase);
}

/* The passphrase in a file checked by policy: its content without one
 * trailing newline (LF or CRLF). Empty or NUL-containing content is refused. */
static char *
passphrase_from_file (const char *path, FilePolicy policy, GError **error)
{
  gsize len = 0;
  gsize n;
  char *buf;
  char *pass = NULL;

  buf = read_private_file (path, policy, SC_PASSPHRASE_FILE_MAX, SC_ERROR_PASSPHRASE, &len, error);
  if (buf == NULL)
    return NULL;
  n = len;
  if (n > 0 && buf[n - 1] == '\n')
    n--;
  if (n > 0 && buf[n - 1] == '\r')
    n--;
  if (n == 0)
    g_set_error (error, SC_ERROR, SC_ERROR_PASSPHRASE, "The passphrase file %s is empty", path);
  else if (memchr (buf, '\0', n) != NULL)
    g_set_error (error, SC_ERROR, SC_ERROR_PASSPHRASE, "The passphrase file %s contains a NUL byte",
                 path);
  else
    pass = g_strndup (buf, n);
  wipe_free (buf, len);
  return pass;
}

/* Reads the systemd credential name into *out. No credentials directory,
 * or no such credential in it, is not an error: TRUE with *out NULL. */
static gboolean
passphrase_from_credentials (const char *name, char **out, GError **error)
{
  const char *dir = g_getenv ("CREDENTIALS_DIRECTORY");
  g_autofree char *path = NULL;
  GStatBuf st;

  *out = NULL;
  if (dir == NULL || dir[0] == '\0')
    return TRUE;
  path = g_build_filename (dir, name, NULL);
  if (g_lstat (path, &st) != 0 && errno == ENOENT)
    return TRUE;
  *out = passphrase_from_file (path, FILE_POLICY_CREDENTIAL, error);
  return *out != NULL;
}

static gboolean
credential_name_valid (const char *name)
{
  return name[0] != '\0' && strchr (name, '/') == NULL && strcmp (name, ".") != 0
         && strcmp (name, "..") != 0;
}

/**
 * sc_passphrase_read:
 * @passphrase_file: (nullable) (type filename): a file holding the passphrase
 * @credential_name: (nullable): the name of a systemd credential holding it
 * @env_var: (nullable): an environment variable holding it
 * @error: return location for a #GError, or %NULL
 *
 * Finds the passphrase of a key file, from the first of these that is given:
 *
 * 1. @passphrase_file: a regular file owned by the effective user with no
 *    permission for group or others; one trailing newline is stripped.
 *    When given, it is the only source tried.
 * 2. `$CREDENTIALS_DIRECTORY/@credential_name`: a systemd credential
 *    (`LoadCredential=`, `LoadCredentialEncrypted=`, `SetCredential=`);
 *    one trailing newline is stripped.
 * 3. The environment variable @env_var, if set and not empty. The
 *    environment is the least private of the three (other processes of the
 *    same user can read it); prefer a file or a credential.
 *
 * None of them gives %SC_ERROR_PASSPHRASE; so does an unsafe, empty or
 * unreadable file.
 *
 * Returns: (transfer full): the passphrase; free it with
 *   sc_passphrase_free(), which wipes it
 */
char *
sc_passphrase_read (const char *passphrase_file, const char *credential_name, const char *env_var,
                    GError **error)
{
  const char *value;
  char *pass = NULL;

  g_return_val_if_fail (credential_name == NULL || credential_name_valid (credential_name), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (passphrase_file != NULL)
    return passphrase_from_file (passphrase_file, FILE_POLICY_PRIVATE, error);
  if (credential_name != NULL && !passphrase_from_credentials (credential_name, &pass, error))
    return NULL;
  if (pass != NULL)
    return pass;
  value = env_var != NULL ? g_getenv (env_var) : NULL;
  if (value != NULL && value[0] != '\0')
    return g_strdup (value);
  g_set_error (error, SC_ERROR, SC_ERROR_PASSPHRASE,
               "No passphrase for the identity key: give a passphrase file (mode 0600), "
               "the systemd credential “%s” (LoadCredential=), or the environment variable %s",
               credential_name != NULL ? credential_name : "(none configured)",
               env_var != NULL ? env_var : "(none configured)");
  return NULL;
}
