/* sc-daemon-config.c: securecommd's JSON configuration, loaded strictly.
 *
 * Three passes over a file:
 *  1. a lexical check (strict_json_check) that holds the text to RFC 8259,
 *     because json-glib 1.6 accepts more: comments, single-quoted strings,
 *     hexadecimal and leading-zero numbers, unknown escapes, lone UTF-16
 *     surrogates, \u0000 (which cuts a string short), a second document after
 *     the first, and integers past 64 bits (which wrap: -18446744073709551615
 *     reads as 1);
 *  2. json-glib builds the tree; its "object-member" signal sees every member,
 *     including the duplicates that json_object_set_member() drops silently,
 *     so duplicates are recorded there and reported by JSON path afterwards;
 *  3. a table-driven walk (root_keys and the section tables) that checks
 *     each key's type and range into a copy of the configuration, then the
 *     checks that involve several keys. Only a fully valid file replaces the
 *     caller's configuration, so a bad reload leaves the running one intact.
 *     The "tls" section is the library's format (the seed's tls_config.json):
 *     sc_tls_config_new_from_json_object() reads it, with the same wording of
 *     errors, and check_tls_server() adds what a server needs.
 *
 * Every error is SC_ERROR_CONFIG: "FILE: JSON.PATH: reason" for a key,
 * "FILE:LINE:COLUMN: reason" for the syntax.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-daemon-config.h"

#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>

#include "sc-error.h"
#include "sc-limits.h"
#include "sc-tls-config-private.h"

/* Deeper nesting is never valid here (the schema has two levels); the bound
 * also keeps json-glib's and our recursion shallow. */
#define MAX_DEPTH 16
/* Characters of a string value quoted back in an error message. */
#define MAX_QUOTED 40

#define CONFIG_OFFSET(field) G_STRUCT_OFFSET (ScDaemonConfig, field)

/* The string and string-array members, for copy and free. */
static const gsize string_fields[] = {
  CONFIG_OFFSET (state_dir),
  CONFIG_OFFSET (identity_key),
  CONFIG_OFFSET (passphrase_file),
  CONFIG_OFFSET (passphrase_env),
  CONFIG_OFFSET (passphrase_credential),
  CONFIG_OFFSET (client_auth),
};
static const gsize strv_fields[] = {
  CONFIG_OFFSET (listen),
  CONFIG_OFFSET (allowed_clients),
};

#define STRING_FIELD(c, off) G_STRUCT_MEMBER (char *, (c), (off))
#define STRV_FIELD(c, off) G_STRUCT_MEMBER (char **, (c), (off))

/* --- Defaults, copy, free --------------------------------------------- */

/* $STATE_DIRECTORY (set by systemd's StateDirectory=; the first of a
 * colon-separated list), else $XDG_STATE_HOME/securecomm. */
static char *
default_state_dir (void)
{
  const char *env = g_getenv ("STATE_DIRECTORY");
  const char *colon;

  if (env == NULL || env[0] == '\0')
    return g_build_filename (g_get_user_state_dir (), "securecomm", NULL);
  colon = strchr (env, ':');
  return colon != NULL ? g_strndup (env, (gsize) (colon - env)) : g_strdup (env);
}

static char *
default_identity_key (const char *state_dir)
{
  return g_build_filename (state_dir, "identity.key", NULL);
}

/**
 * sc_daemon_config_new:
 *
 * Returns: (transfer full): a configuration holding every default
 */
ScDaemonConfig *
sc_daemon_config_new (void)
{
  ScDaemonConfig *c = g_new0 (ScDaemonConfig, 1);
  const char *listen[] = { SC_DAEMON_DEFAULT_HOST ":" G_STRINGIFY (SC_DAEMON_DEFAULT_PORT), NULL };

  c->listen = g_strdupv ((char **) listen);
  c->state_dir = default_state_dir ();
  c->identity_key = default_identity_key (c->state_dir);
  c->passphrase_env = g_strdup ("SECURECOMMD_PASSPHRASE");
  c->passphrase_credential = g_strdup ("securecommd-passphrase");
  c->heartbeat_interval_ms = SC_DEFAULT_HEARTBEAT_INTERVAL_MS;
  c->heartbeat_missed = SC_DEFAULT_HEARTBEAT_MISSED;
  c->handshake_timeout_ms = SC_DEFAULT_HANDSHAKE_TIMEOUT_MS;
  c->max_clients = 10000;
  c->max_handshakes = 256;
  c->max_per_source = 64;
  c->max_message_size = SC_DEFAULT_MAX_MESSAGE_SIZE;
  c->rekey_after_records = SC_DEFAULT_REKEY_AFTER_RECORDS;
  c->rekey_after_bytes = SC_DEFAULT_REKEY_AFTER_BYTES;
  c->rekey_after_ms = SC_DEFAULT_REKEY_AFTER_MS;
  c->max_skew_ms = SC_DEFAULT_MAX_SKEW_MS;
  c->client_auth = g_strdup ("optional");
  c->tls = sc_tls_config_new (FALSE, NULL, NULL, NULL, SC_TLS_VERIFY_REQUIRED);
  return c;
}

/**
 * sc_daemon_config_copy:
 * @config: a configuration
 *
 * Returns: (transfer full): a deep copy of @config
 */
ScDaemonConfig *
sc_daemon_config_copy (const ScDaemonConfig *config)
{
  ScDaemonConfig *c = g_memdup2 (config, sizeof *config);

  for (gsize i = 0; i < G_N_ELEMENTS (string_fields); i++)
    STRING_FIELD (c, string_fields[i]) = g_strdup (STRING_FIELD (config, string_fields[i]));
  for (gsize i = 0; i < G_N_ELEMENTS (strv_fields); i++)
    STRV_FIELD (c, strv_fields[i]) = g_strdupv (STRV_FIELD (config, strv_fields[i]));
  c->tls = g_object_ref (config->tls); /* immutable: shared */
  return c;
}

/**
 * sc_daemon_config_free:
 * @config: (nullable): a configuration
 *
 * Frees @config and everything it holds.
 */
void
sc_daemon_config_free (ScDaemonConfig *config)
{
  if (config == NULL)
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (string_fields); i++)
    g_free (STRING_FIELD (config, string_fields[i]));
  for (gsize i = 0; i < G_N_ELEMENTS (strv_fields); i++)
    g_strfreev (STRV_FIELD (config, strv_fields[i]));
  g_clear_object (&config->tls);
  g_free (config);
}

/* Moves the identity key along with the state directory when it is still
 * the default one of old_state_dir. */
static void
follow_state_dir (ScDaemonConfig *config, const char *old_state_dir)
{
  g_autofree char *old_default = default_identity_key (old_state_dir);

  if (g_strcmp0 (config->identity_key, old_default) != 0)
    return;
  g_free (config->identity_key);
  config->identity_key = default_identity_key (config->state_dir);
}

/**
 * sc_daemon_config_set_state_dir:
 * @config: a configuration
 * @state_dir: the new state directory (securecommd --state-dir)
 *
 * Sets the state directory. An identity key that was the default one
 * (`identity.key` in the old state directory) moves along with it.
 */
void
sc_daemon_config_set_state_dir (ScDaemonConfig *config, const char *state_dir)
{
  g_autofree char *old = NULL;

  g_return_if_fail (config != NULL && state_dir != NULL);
  old = g_steal_pointer (&config->state_dir);
  config->state_dir = g_strdup (state_dir);
  follow_state_dir (config, old);
}

/* --- Pass 1: strict JSON lexical check -------------------------------- */

typedef struct
{
  const char *name; /* for messages */
  const char *end;
  const char *p; /* the current character */
  const char *line_start;
  guint line;
} Lexer;

static gboolean
lex_fail (Lexer *lx, const char *at, GError **error, const char *reason)
{
  glong column = g_utf8_strlen (lx->line_start, at - lx->line_start) + 1;

  g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "%s:%u:%ld: %s", lx->name, lx->line, column,
               reason);
  return FALSE;
}

/* The value of the four hex digits at p, or -1. */
static int
hex4 (const char *p, const char *end)
{
  int v = 0;

  if (end - p < 4)
    return -1;
  for (int i = 0; i < 4; i++)
    {
      int d = g_ascii_xdigit_value (p[i]);

      if (d < 0)
        return -1;
      v = v * 16 + d;
    }
  return v;
}

/* Checks the \u escape at lx->p (pointing at the 'u'), surrogate pairs
 * included, and steps past it. */
static gboolean
lex_unicode_escape (Lexer *lx, GError **error)
{
  const char *at = lx->p - 1;
  int u = hex4 (lx->p + 1, lx->end);

  if (u < 0)
    return lex_fail (lx, at, error, _ ("invalid escape sequence in a string"));
  if (u == 0)
    return lex_fail (lx, at, error, _ ("\\u0000 is not allowed in a string"));
  lx->p += 5;
  if (u >= 0xdc00 && u <= 0xdfff)
    return lex_fail (lx, at, error, _ ("unpaired UTF-16 surrogate in a string"));
  if (u >= 0xd800 && u <= 0xdbff)
    {
      int lo = lx->end - lx->p >= 6 && lx->p[0] == '\\' && lx->p[1] == 'u'
                   ? hex4 (lx->p + 2, lx->end)
                   : -1;

      if (lo < 0xdc00 || lo > 0xdfff)
        return lex_fail (lx, at, error, _ ("unpaired UTF-16 surrogate in a string"));
      lx->p += 6;
    }
  return TRUE;
}

/* Steps over the string starting at lx->p (a '"'). */
static gboolean
lex_string (Lexer *lx, GError **error)
{
  const char *open = lx->p++;

  while (lx->p < lx->end && *lx->p != '"')
    {
      guchar ch = (guchar) *lx->p;

      if (ch < 0x20)
        return lex_fail (lx, lx->p, error,
                         _ ("control character in a string (write it as an escape such as \\n)"));
      if (ch != '\\')
        {
          lx->p++;
          continue;
        }
      if (++lx->p == lx->end)
        break;
      if (*lx->p == 'u')
        {
          if (!lex_unicode_escape (lx, error))
            return FALSE;
          continue;
        }
      if (strchr ("\"\\/bfnrt", *lx->p) == NULL || *lx->p == '\0')
        return lex_fail (lx, lx->p - 1, error, _ ("invalid escape sequence in a string"));
      lx->p++;
    }
  if (lx->p == lx->end)
    return lex_fail (lx, open, error, _ ("unterminated string"));
  lx->p++;
  return TRUE;
}

static const char *
skip_digits (const char *p, const char *end)
{
  while (p < end && g_ascii_isdigit (*p))
    p++;
  return p;
}

/* The end of the RFC 8259 number at p, or NULL. *integer: no fraction and
 * no exponent. */
static const char *
scan_number (const char *p, const char *end, gboolean *integer)
{
  const char *digits;

  *integer = TRUE;
  if (p < end && *p == '-')
    p++;
  if (p < end && *p == '0')
    p++;
  else if (p < end && *p >= '1' && *p <= '9')
    p = skip_digits (p, end);
  else
    return NULL;
  if (p < end && *p == '.')
    {
      *integer = FALSE;
      digits = ++p;
      if ((p = skip_digits (p, end)) == digits)
        return NULL;
    }
  if (p < end && (*p == 'e' || *p == 'E'))
    {
      *integer = FALSE;
      if (++p < end && (*p == '+' || *p == '-'))
        p++;
      digits = p;
      if ((p = skip_digits (p, end)) == digits)
        return NULL;
    }
  /* "0x10", "01", "1.2.3", "1e5e5" */
  if (p < end && (g_ascii_isalnum (*p) || *p == '.' || *p == '_'))
    return NULL;
  return p;
}

static gboolean
lex_number (Lexer *lx, GError **error)
{
  gboolean integer;
  const char *start = lx->p;
  const char *end = scan_number (start, lx->end, &integer);
  g_autofree char *text = NULL;

  if (end == NULL)
    return lex_fail (lx, start, error, _ ("malformed number"));
  text = g_strndup (start, (gsize) (end - start));
  if (integer && !g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, NULL, NULL))
    return lex_fail (lx, start, error, _ ("integer out of range"));
  lx->p = end;
  return TRUE;
}

/* true, false, null: nothing else is a word in JSON. */
static gboolean
lex_word (Lexer *lx, GError **error)
{
  const char *start = lx->p;
  g_autofree char *word = NULL;
  g_autofree char *reason = NULL;

  while (lx->p < lx->end && (g_ascii_isalnum (*lx->p) || *lx->p == '_'))
    lx->p++;
  word = g_strndup (start, (gsize) (lx->p - start));
  if (g_str_equal (word, "true") || g_str_equal (word, "false") || g_str_equal (word, "null"))
    return TRUE;
  reason = g_strdup_printf (_ ("unexpected word “%s” (only true, false and null are allowed)"),
                            word);
  return lex_fail (lx, start, error, reason);
}

static gboolean
lex_other (Lexer *lx, GError **error)
{
  gunichar ch = g_utf8_get_char (lx->p);
  g_autofree char *reason = NULL;

  if (ch == '/' || ch == '#')
    return lex_fail (lx, lx->p, error, _ ("comments are not allowed in JSON"));
  if (ch == '\'')
    return lex_fail (lx, lx->p, error, _ ("single-quoted strings are not allowed in JSON"));
  if (ch < 0x80 && g_ascii_isalpha ((char) ch))
    return lex_word (lx, error);
  if (ch == '-' || (ch < 0x80 && g_ascii_isdigit ((char) ch)))
    return lex_number (lx, error);
  reason = g_strdup_printf (_ ("unexpected character U+%04X"), ch);
  return lex_fail (lx, lx->p, error, reason);
}

/* Brackets and the end of the document; *depth counts open brackets, and
 * *done is set when the top-level value is closed. */
static gboolean
lex_bracket (Lexer *lx, int *depth, gboolean *done, GError **error)
{
  char ch = *lx->p;
  g_autofree char *reason = NULL;

  if (ch == '{' || ch == '[')
    {
      if (++*depth > MAX_DEPTH)
        {
          reason = g_strdup_printf (_ ("nested deeper than %d levels"), MAX_DEPTH);
          return lex_fail (lx, lx->p, error, reason);
        }
    }
  else if (--*depth == 0)
    *done = TRUE;
  lx->p++;
  return TRUE;
}

/* One token at lx->p (not whitespace). */
static gboolean
lex_token (Lexer *lx, int *depth, gboolean *done, GError **error)
{
  if (*done)
    return lex_fail (lx, lx->p, error, _ ("more data after the end of the JSON document"));
  switch (*lx->p)
    {
    case '{':
    case '[':
    case '}':
    case ']':
      return lex_bracket (lx, depth, done, error);
    case ':':
    case ',':
      lx->p++;
      return TRUE;
    case '"':
      return lex_string (lx, error);
    default:
      return lex_other (lx, error);
    }
}

/* Counts the line when lx->p is at a newline. */
static void
lex_count_line (Lexer *lx)
{
  if (*lx->p != '\n')
    return;
  lx->line++;
  lx->line_start = lx->p + 1;
}

static gboolean
strict_json_check (const char *data, gsize len, const char *name, GError **error)
{
  Lexer lx = { name, data + len, data, data, 1 };
  const char *bad;
  int depth = 0;
  gboolean done = FALSE;

  if (!g_utf8_validate_len (data, len, &bad))
    {
      for (; lx.p < bad; lx.p++)
        lex_count_line (&lx);
      return lex_fail (&lx, bad, error, _ ("not valid UTF-8"));
    }
  while (lx.p < lx.end)
    {
      lex_count_line (&lx);
      if (*lx.p == ' ' || *lx.p == '\t' || *lx.p == '\r' || *lx.p == '\n')
        lx.p++;
      else if (!lex_token (&lx, &depth, &done, error))
        return FALSE;
    }
  return TRUE;
}

/* --- Pass 2: json-glib, and duplicate keys ----------------------------- */

typedef struct
{
  GHashTable *seen; /* JsonObject* being parsed -> set of member names */
  GPtrArray *dups;  /* Dup*, in document order */
} DupWatch;

typedef struct
{
  JsonObject *object; /* a reference, so that the address stays unique */
  char *name;
} Dup;

static void
dup_free (gpointer data)
{
  Dup *dup = data;

  json_object_unref (dup->object);
  g_free (dup->name);
  g_free (dup);
}

static void
on_object_member (JsonParser *parser, JsonObject *object, const char *name, gpointer data)
{
  DupWatch *watch = data;
  GHashTable *names = g_hash_table_lookup (watch->seen, object);
  Dup *dup;

  if (names == NULL)
    {
      names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (watch->seen, object, names);
    }
  if (g_hash_table_add (names, g_strdup (name)))
    return;
  dup = g_new0 (Dup, 1);
  dup->object = json_object_ref (object);
  dup->name = g_strdup (name);
  g_ptr_array_add (watch->dups, dup);
}

/* An object is complete: its address may be reused after it is freed. */
static void
on_object_end (JsonParser *parser, JsonObject *object, gpointer data)
{
  DupWatch *watch = data;

  g_hash_table_remove (watch->seen, object);
}

/* Appends a key to a JSON path: a.b, or a["odd key"] when not an identifier. */
static void
path_append_key (GString *path, const char *key)
{
  gboolean plain = key[0] != '\0';
  g_autofree char *escaped = NULL;

  for (const char *p = key; *p != '\0'; p++)
    plain = plain && (g_ascii_isalnum (*p) || *p == '_' || *p == '-');
  if (plain)
    {
      g_string_append_printf (path, "%s%s", path->len > 0 ? "." : "", key);
      return;
    }
  escaped = g_strescape (key, NULL);
  g_string_append_printf (path, "[\"%s\"]", escaped);
}

static char *
path_join (const char *path, const char *key)
{
  GString *s = g_string_new (path);

  path_append_key (s, key);
  return g_string_free (s, FALSE);
}

/* Finds target in the tree under node and leaves its JSON path in path. */
static gboolean
find_object (JsonNode *node, JsonObject *target, GString *path)
{
  gsize mark = path->len;

  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          g_string_append_printf (path, "[%u]", i);
          if (find_object (json_array_get_element (array, i), target, path))
            return TRUE;
          g_string_truncate (path, mark);
        }
    }
  else if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *object = json_node_get_object (node);
      g_autoptr (GList) members = json_object_get_members (object);

      if (object == target)
        return TRUE;
      for (GList *l = members; l != NULL; l = l->next)
        {
          path_append_key (path, l->data);
          if (find_object (json_object_get_member (object, l->data), target, path))
            return TRUE;
          g_string_truncate (path, mark);
        }
    }
  return FALSE;
}

/* The JSON path of the first duplicate key still in the tree, or NULL. */
static char *
first_duplicate (DupWatch *watch, JsonNode *root)
{
  for (guint i = 0; i < watch->dups->len; i++)
    {
      Dup *dup = g_ptr_array_index (watch->dups, i);
      g_autoptr (GString) path = g_string_new (NULL);

      if (find_object (root, dup->object, path))
        {
          path_append_key (path, dup->name);
          return g_string_free (g_steal_pointer (&path), FALSE);
        }
    }
  return NULL;
}

/* json-glib names the input "<data>"; put our name in its place. */
static void
set_parse_error (GError **error, const GError *parse_error, const char *name)
{
  const char *msg = parse_error->message;

  if (g_str_has_prefix (msg, "<data>:"))
    g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "%s%s", name, msg + strlen ("<data>"));
  else
    g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "%s: %s", name, msg);
}

/* Parses data; on success returns the parser and, in *dup_path, the path of
 * a duplicate key or NULL. */
static JsonParser *
parse_json (const char *data, gsize len, const char *name, char **dup_path, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local = NULL;
  DupWatch watch = {
    g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_hash_table_unref),
    g_ptr_array_new_with_free_func (dup_free),
  };
  gboolean ok;

  g_signal_connect (parser, "object-member", G_CALLBACK (on_object_member), &watch);
  g_signal_connect (parser, "object-end", G_CALLBACK (on_object_end), &watch);
  ok = json_parser_load_from_data (parser, data, (gssize) len, &local);
  g_signal_handlers_disconnect_by_data (parser, &watch);
  if (ok && json_parser_get_root (parser) != NULL)
    *dup_path = first_duplicate (&watch, json_parser_get_root (parser));
  g_hash_table_unref (watch.seen);
  g_ptr_array_unref (watch.dups);
  if (!ok)
    {
      set_parse_error (error, local, name);
      return NULL;
    }
  return g_steal_pointer (&parser);
}

/* --- Pass 3: the schema ------------------------------------------------ */

typedef struct
{
  const char *name;     /* for messages */
  const char *base_dir; /* relative paths are taken from here; NULL: kept */
  ScDaemonConfig *config;
} LoadCtx;

/* Checks a string value; returns NULL when it is valid, else the reason. */
typedef char *(*CheckFunc) (const char *value);

typedef enum
{
  KEY_SECTION, /* an object: ->section */
  KEY_UINT,    /* guint, ->min..->max, or 0 when ->zero_ok */
  KEY_UINT64,  /* guint64, the same */
  KEY_BOOL,
  KEY_STRING, /* char *: one of ->choices, or checked by ->check */
  KEY_PATH,   /* char *: a file name, made absolute from the file's folder */
  KEY_STRV,   /* char **: a non-empty array, each element checked by ->check */
  KEY_TLS,    /* ScTlsConfig *: an object in the library's format (sc-tls-config.c) */
} KeyType;

typedef struct KeySpec KeySpec;
struct KeySpec
{
  const char *name;
  KeyType type;
  gsize offset;
  guint64 min, max;
  gboolean zero_ok;
  const char *const *choices;
  CheckFunc check;
  const KeySpec *section;
};

static gboolean
fail (LoadCtx *ctx, const char *path, GError **error, const char *reason)
{
  g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "%s: %s: %s", ctx->name, path, reason);
  return FALSE;
}

static char *
quote (const char *value)
{
  g_autofree char *escaped = g_strescape (value, NULL);

  if (g_utf8_strlen (escaped, -1) <= MAX_QUOTED)
    return g_strdup_printf ("\"%s\"", escaped);
  *g_utf8_offset_to_pointer (escaped, MAX_QUOTED) = '\0';
  return g_strdup_printf ("\"%s\"…", escaped);
}

static char *
describe_double (double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  g_ascii_dtostr (buf, sizeof buf, v);
  if (strpbrk (buf, ".eEn") == NULL) /* 1.0 reads as "1": show it is not an integer */
    return g_strconcat (buf, ".0", NULL);
  return g_strdup (buf);
}

/* What a node holds, for "(got ...)". */
static char *
describe (JsonNode *node)
{
  GType type;

  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT:
      /* Translators: what a JSON value is, shown as "(got %s)" */
      return g_strdup (_ ("an object"));
    case JSON_NODE_ARRAY:
      /* Translators: what a JSON value is, shown as "(got %s)" */
      return g_strdup (_ ("an array"));
    case JSON_NODE_NULL:
      return g_strdup ("null");
    case JSON_NODE_VALUE:
      break;
    }
  type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
  if (type == G_TYPE_DOUBLE)
    return describe_double (json_node_get_double (node));
  if (type == G_TYPE_BOOLEAN)
    return g_strdup (json_node_get_boolean (node) ? "true" : "false");
  return quote (json_node_get_string (node));
}

static gboolean
node_is (JsonNode *node, GType type)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

static gboolean
apply_uint (LoadCtx *ctx, const KeySpec *spec, JsonNode *node, const char *path, GError **error)
{
  gint64 v = node_is (node, G_TYPE_INT64) ? json_node_get_int (node) : -1;
  g_autofree char *got = NULL, *lo = NULL, *hi = NULL, *reason = NULL;

  if (v >= 0
      && (((guint64) v >= spec->min && (guint64) v <= spec->max) || (v == 0 && spec->zero_ok)))
    {
      if (spec->type == KEY_UINT64)
        G_STRUCT_MEMBER (guint64, ctx->config, spec->offset) = (guint64) v;
      else
        G_STRUCT_MEMBER (guint, ctx->config, spec->offset) = (guint) v;
      return TRUE;
    }
  got = describe (node);
  lo = g_strdup_printf ("%" G_GUINT64_FORMAT, spec->min);
  hi = g_strdup_printf ("%" G_GUINT64_FORMAT, spec->max);
  if (spec->zero_ok)
    /* Translators: the last %s is the value found: 5, "text", null, "an object"... */
    reason = g_strdup_printf (_ ("must be 0 or an integer from %s to %s (got %s)"), lo, hi, got);
  else
    /* Translators: the last %s is the value found: 5, "text", null, "an object"... */
    reason = g_strdup_printf (_ ("must be an integer from %s to %s (got %s)"), lo, hi, got);
  return fail (ctx, path, error, reason);
}

static gboolean
apply_bool (LoadCtx *ctx, const KeySpec *spec, JsonNode *node, const char *path, GError **error)
{
  g_autofree char *got = NULL, *reason = NULL;

  if (node_is (node, G_TYPE_BOOLEAN))
    {
      G_STRUCT_MEMBER (gboolean, ctx->config, spec->offset) = json_node_get_boolean (node);
      return TRUE;
    }
  got = describe (node);
  reason = g_strdup_printf (_ ("must be true or false (got %s)"), got);
  return fail (ctx, path, error, reason);
}

/* "a", "b" or "c" */
static char *
choices_text (const char *const *choices)
{
  GString *s = g_string_new (NULL);

  for (gsize i = 0; choices[i] != NULL; i++)
    {
      if (i > 0)
        /* Translators: before the last item of a list: "a", "b" or "c" */
        g_string_append (s, choices[i + 1] != NULL ? ", " : _ (" or "));
      g_string_append_printf (s, "\"%s\"", choices[i]);
    }
  return g_string_free (s, FALSE);
}

/* NULL when value may be stored under spec, else why not. */
static char *
check_string (const KeySpec *spec, const char *value)
{
  g_autofree char *list = NULL, *got = NULL;

  if (spec->choices != NULL)
    {
      if (g_strv_contains (spec->choices, value))
        return NULL;
      list = choices_text (spec->choices);
      got = quote (value);
      /* Translators: the first %s is a list of choices: "a", "b" or "c" */
      return g_strdup_printf (_ ("must be %s (got %s)"), list, got);
    }
  if (value[0] == '\0')
    return g_strdup (_ ("must not be empty"));
  return spec->check != NULL ? spec->check (value) : NULL;
}

/* A string from node, checked; NULL after setting the error. */
static const char *
get_string (LoadCtx *ctx, const KeySpec *spec, JsonNode *node, const char *path, GError **error)
{
  g_autofree char *got = NULL, *reason = NULL;
  const char *value;

  if (!node_is (node, G_TYPE_STRING))
    {
      got = describe (node);
      reason = g_strdup_printf (_ ("must be a string (got %s)"), got);
      fail (ctx, path, error, reason);
      return NULL;
    }
  value = json_node_get_string (node);
  if (!g_utf8_validate (value, -1, NULL))
    reason = g_strdup (_ ("not valid UTF-8"));
  else
    reason = check_string (spec, value);
  if (reason != NULL)
    {
      fail (ctx, path, error, reason);
      return NULL;
    }
  return value;
}

static gboolean
apply_string (LoadCtx *ctx, const KeySpec *spec, JsonNode *node, const char *path, GError **error)
{
  const char *value = get_string (ctx, spec, node, path, error);
  char **field;

  if (value == NULL)
    return FALSE;
  field = &G_STRUCT_MEMBER (char *, ctx->config, spec->offset);
  g_free (*field);
  if (spec->type == KEY_PATH && ctx->base_dir != NULL)
    *field = g_canonicalize_filename (value, ctx->base_dir);
  else
    *field = g_strdup (value);
  return TRUE;
}

static gboolean
apply_strv (LoadCtx *ctx, const KeySpec *spec, JsonNode *node, const char *path, GError **error)
{
  g_autofree char *got = NULL, *reason = NULL;
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  JsonArray *array = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  char ***field = &G_STRUCT_MEMBER (char **, ctx->config, spec->offset);

  if (array == NULL)
    {
      got = describe (node);
      reason = g_strdup_printf (_ ("must be an array of strings (got %s)"), got);
      return fail (ctx, path, error, reason);
    }
  if (json_array_get_length (array) == 0)
    return fail (ctx, path, error,
                 _ ("must not be an empty array (leave the key out for the default)"));
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      g_autofree char *item_path = g_strdup_printf ("%s[%u]", path, i);
      const char *value = get_string (ctx, spec, json_array_get_element (array, i), item_path,
                                      error);

      if (value == NULL)
        return FALSE;
      g_strv_builder_add (builder, value);
    }
  g_strfreev (*field);
  *field = g_strv_builder_end (builder);
  return TRUE;
}

static gboolean walk_object (LoadCtx *ctx, JsonObject *object, const KeySpec *table,
                             const char *path, GError **error);

static gboolean
apply_section (LoadCtx *ctx, const KeySpec *spec, JsonNode *node, const char *path, GError **error)
{
  g_autofree char *got = NULL, *reason = NULL;

  if (JSON_NODE_HOLDS_OBJECT (node))
    return walk_object (ctx, json_node_get_object (node), spec->section, path, error);
  got = describe (node);
  reason = g_strdup_printf (_ ("must be an object (got %s)"), got);
  return fail (ctx, path, error, reason);
}

/* The "tls" section, read by the library as a whole: its absent keys take
 * ScTlsConfig's defaults, not the values an earlier file gave. */
static gboolean
apply_tls (LoadCtx *ctx, const KeySpec *spec, JsonNode *node, const char *path, GError **error)
{
  g_autofree char *got = NULL, *reason = NULL, *prefix = NULL;
  ScTlsConfig **field = &G_STRUCT_MEMBER (ScTlsConfig *, ctx->config, spec->offset);
  ScTlsConfig *tls;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      got = describe (node);
      reason = g_strdup_printf (_ ("must be an object (got %s)"), got);
      return fail (ctx, path, error, reason);
    }
  prefix = g_strconcat (path, ".", NULL);
  tls = sc_tls_config_new_from_json_object (json_node_get_object (node), ctx->base_dir, ctx->name,
                                            prefix, error);
  if (tls == NULL)
    return FALSE;
  g_clear_object (field);
  *field = tls;
  return TRUE;
}

static gboolean
apply_key (LoadCtx *ctx, const KeySpec *spec, JsonNode *node, const char *path, GError **error)
{
  switch (spec->type)
    {
    case KEY_SECTION:
      return apply_section (ctx, spec, node, path, error);
    case KEY_UINT:
    case KEY_UINT64:
      return apply_uint (ctx, spec, node, path, error);
    case KEY_BOOL:
      return apply_bool (ctx, spec, node, path, error);
    case KEY_STRING:
    case KEY_PATH:
      return apply_string (ctx, spec, node, path, error);
    case KEY_STRV:
      return apply_strv (ctx, spec, node, path, error);
    case KEY_TLS:
      return apply_tls (ctx, spec, node, path, error);
    }
  g_assert_not_reached ();
}

static gboolean
walk_object (LoadCtx *ctx, JsonObject *object, const KeySpec *table, const char *path,
             GError **error)
{
  g_autoptr (GList) members = json_object_get_members (object);

  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;
      g_autofree char *key_path = path_join (path, name);
      const KeySpec *spec = table;

      while (spec->name != NULL && !g_str_equal (spec->name, name))
        spec++;
      if (spec->name == NULL)
        return fail (ctx, key_path, error, _ ("unknown key"));
      if (!apply_key (ctx, spec, json_object_get_member (object, name), key_path, error))
        return FALSE;
    }
  return TRUE;
}

/* --- Value checks ------------------------------------------------------ */

/* A DNS name as far as it can be told without resolving it. */
static gboolean
hostname_valid (const char *host)
{
  if (host[0] == '\0' || host[0] == '-' || host[0] == '.' || strstr (host, "..") != NULL)
    return FALSE;
  for (const char *p = host; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '.')
      return FALSE;
  return TRUE;
}

/* "::1:80": an IPv6 address before the last colon, without brackets. */
static gboolean
unbracketed_ipv6 (const char *value, const char *last_colon)
{
  g_autofree char *host = g_strndup (value, (gsize) (last_colon - value));

  return strchr (host, ':') != NULL && g_hostname_is_ip_address (host);
}

/* "host:port" or "[IPv6]:port" with a numeric port 1..65535, in
 * g_network_address_parse()'s syntax, minus what it also accepts: service
 * names, a missing port, an empty or bracketed non-IPv6 host. */
static char *
check_listen (const char *value)
{
  g_autoptr (GSocketConnectable) address = g_network_address_parse (value, 0, NULL);
  const char *colon = strrchr (value, ':');
  const char *host = address != NULL ? g_network_address_get_hostname (G_NETWORK_ADDRESS (address))
                                     : NULL;
  g_autofree char *got = quote (value);
  gboolean bracketed = value[0] == '[';

  if (address != NULL && colon != NULL && colon[1] != '\0'
      && strspn (colon + 1, "0123456789") == strlen (colon + 1)
      && g_network_address_get_port (G_NETWORK_ADDRESS (address)) != 0
      && (bracketed ? strchr (host, ':') != NULL && g_hostname_is_ip_address (host)
                    : g_hostname_is_ip_address (host) || hostname_valid (host)))
    return NULL;
  if (!bracketed && colon != NULL && unbracketed_ipv6 (value, colon))
    return g_strdup_printf (_ ("an IPv6 address needs brackets, as in [::1]:12345 (got %s)"), got);
  return g_strdup_printf (_ ("must be host:port or [IPv6 address]:port with a port from 1 to "
                             "65535 (got %s)"),
                          got);
}

static char *
check_fingerprint (const char *value)
{
  g_autofree char *got = NULL;

  if (strlen (value) == 64 && strspn (value, "0123456789abcdef") == 64)
    return NULL;
  got = quote (value);
  return g_strdup_printf (_ ("must be a SHA-256 fingerprint: 64 lowercase hexadecimal digits "
                             "(got %s)"),
                          got);
}

static char *
check_env_name (const char *value)
{
  g_autofree char *got = NULL;

  if (!g_ascii_isdigit (value[0])
      && strspn (value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
             == strlen (value))
    return NULL;
  got = quote (value);
  return g_strdup_printf (_ ("must be an environment variable name: letters, digits and _, "
                             "not starting with a digit (got %s)"),
                          got);
}

/* systemd's credential names are file names (credential_name_valid()). */
static char *
check_credential_name (const char *value)
{
  g_autofree char *got = NULL;

  if (strchr (value, '/') == NULL && strlen (value) <= 255 && !g_str_equal (value, ".")
      && !g_str_equal (value, ".."))
    return NULL;
  got = quote (value);
  return g_strdup_printf (_ ("must be a credential name: a file name without “/” (got %s)"), got);
}

static const char *const client_auth_choices[] = { "none", "optional", "required", NULL };

/* clang-format off */
#define K_SECTION(n, table) { .name = n, .type = KEY_SECTION, .section = table }
#define K_UINT(n, f, lo, hi) \
  { .name = n, .type = KEY_UINT, .offset = CONFIG_OFFSET (f), .min = lo, .max = hi }
#define K_UINT_OR_0(n, f, lo, hi) \
  { .name = n, .type = KEY_UINT, .offset = CONFIG_OFFSET (f), .min = lo, .max = hi, \
    .zero_ok = TRUE }
#define K_UINT64(n, f, lo, hi) \
  { .name = n, .type = KEY_UINT64, .offset = CONFIG_OFFSET (f), .min = lo, .max = hi }
#define K_BOOL(n, f) { .name = n, .type = KEY_BOOL, .offset = CONFIG_OFFSET (f) }
#define K_STRING(n, f, fn) \
  { .name = n, .type = KEY_STRING, .offset = CONFIG_OFFSET (f), .check = fn }
#define K_CHOICE(n, f, list) \
  { .name = n, .type = KEY_STRING, .offset = CONFIG_OFFSET (f), .choices = list }
#define K_PATH(n, f) { .name = n, .type = KEY_PATH, .offset = CONFIG_OFFSET (f) }
#define K_STRV(n, f, fn) { .name = n, .type = KEY_STRV, .offset = CONFIG_OFFSET (f), .check = fn }
#define K_TLS(n, f) { .name = n, .type = KEY_TLS, .offset = CONFIG_OFFSET (f) }
#define K_END { .name = NULL }
/* clang-format on */

static const KeySpec identity_keys[] = {
  K_PATH ("key_file", identity_key),
  K_PATH ("passphrase_file", passphrase_file),
  K_STRING ("passphrase_env", passphrase_env, check_env_name),
  K_STRING ("passphrase_credential", passphrase_credential, check_credential_name),
  K_END,
};

static const KeySpec session_keys[] = {
  K_UINT_OR_0 ("heartbeat_interval_ms", heartbeat_interval_ms, 1000, 3600000),
  K_UINT ("heartbeat_missed", heartbeat_missed, 1, 100),
  K_UINT ("handshake_timeout_ms", handshake_timeout_ms, 100, 600000),
  K_UINT_OR_0 ("idle_timeout_ms", idle_timeout_ms, 1000, 604800000),
  K_UINT ("max_clients", max_clients, 1, 1000000),
  K_UINT ("max_handshakes", max_handshakes, 1, 100000),
  K_UINT ("max_per_source", max_per_source, 1, 1000000),
  K_UINT ("max_message_size", max_message_size, 1, SC_MAX_MESSAGE_SIZE_LIMIT),
  K_UINT ("max_clock_skew_ms", max_skew_ms, 1000, SC_MAX_SKEW_LIMIT_MS),
  K_END,
};

/* The ranges ScLimits accepts with the hard limits of sc-limits.h. */
static const KeySpec rotation_keys[] = {
  K_UINT64 ("after_records", rekey_after_records, 1, SC_REJECT_AFTER_RECORDS - 1),
  K_UINT64 ("after_bytes", rekey_after_bytes, 1, SC_REJECT_AFTER_BYTES - SC_MAX_RECORD_PLAINTEXT),
  K_UINT_OR_0 ("after_ms", rekey_after_ms, 1000, 86400000),
  K_END,
};

static const KeySpec client_keys[] = {
  K_CHOICE ("authentication", client_auth, client_auth_choices),
  K_STRV ("allowed", allowed_clients, check_fingerprint),
  K_END,
};

static const KeySpec logging_keys[] = {
  K_BOOL ("message_bodies", log_messages),
  K_END,
};

static const KeySpec root_keys[] = {
  K_STRV ("listen", listen, check_listen),
  K_PATH ("state_directory", state_dir),
  K_SECTION ("identity", identity_keys),
  K_UINT ("workers", workers, 0, 64),
  K_SECTION ("sessions", session_keys),
  K_SECTION ("rotation", rotation_keys),
  K_SECTION ("clients", client_keys),
  K_SECTION ("logging", logging_keys),
  K_TLS ("tls", tls),
  K_END,
};

/* --- Checks across keys ------------------------------------------------ */

static gboolean
check_clients (LoadCtx *ctx, GError **error)
{
  const ScDaemonConfig *c = ctx->config;
  g_autofree char *reason = NULL;

  if (c->allowed_clients == NULL || g_str_equal (c->client_auth, "required"))
    return TRUE;
  /* Translators: keep the key names and "required" as they are */
  reason = g_strdup_printf (_ ("needs clients.authentication \"required\": with \"%s\", clients "
                               "without an identity would bypass the list"),
                            c->client_auth);
  return fail (ctx, "clients.allowed", error, reason);
}

/* What a TLS server needs beyond what the library checks for any role
 * (sc-tls.c's check_role, said here with the file and key): a certificate,
 * and something to check client certificates against unless it asks for
 * none. prefix is "tls." inside securecommd.json, "" in a --tls-config
 * file. */
static gboolean
check_tls_server (ScTlsConfig *tls, const char *name, const char *prefix, GError **error)
{
  ScTlsVerifyMode mode = sc_tls_config_get_verify_mode (tls);
  g_autofree char *reason = NULL;

  if (!sc_tls_config_get_enabled (tls))
    return TRUE;
  if (sc_tls_config_get_cert_path (tls) == NULL)
    {
      /* Translators: %s is "tls." or nothing, before the key name "enabled" */
      reason = g_strdup_printf (_ ("must be set when %senabled is true"), prefix);
      g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "%s: %scert_path: %s", name, prefix, reason);
      return FALSE;
    }
  if (mode == SC_TLS_VERIFY_NONE || sc_tls_config_get_ca_path (tls) != NULL
      || sc_tls_config_get_pinned_spki_sha256 (tls) != NULL)
    return TRUE;
  /* Translators: the first %s is CERT_REQUIRED or CERT_OPTIONAL, the others "tls." or nothing */
  reason = g_strdup_printf (_ ("%s needs %sca_path or %spinned_spki_sha256 to check client "
                               "certificates against"),
                            mode == SC_TLS_VERIFY_REQUIRED ? "CERT_REQUIRED" : "CERT_OPTIONAL",
                            prefix, prefix);
  g_set_error (error, SC_ERROR, SC_ERROR_CONFIG, "%s: %sverify_mode: %s", name, prefix, reason);
  return FALSE;
}

/* Whether the document sets section.key. */
static gboolean
document_sets (JsonObject *root, const char *section, const char *key)
{
  JsonNode *node = json_object_get_member (root, section);

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node)
         && json_object_has_member (json_node_get_object (node), key);
}

/* --- Loading ------------------------------------------------------------ */

/* The parsed root object, or NULL after setting the error. */
static JsonObject *
root_object (LoadCtx *ctx, JsonParser *parser, GError **error)
{
  JsonNode *root = json_parser_get_root (parser);
  /* Translators: what the file holds, shown as "(got %s)" */
  g_autofree char *got = root != NULL ? describe (root) : g_strdup (_ ("an empty document"));

  if (root != NULL && JSON_NODE_HOLDS_OBJECT (root))
    return json_node_get_object (root);
  g_set_error (error, SC_ERROR, SC_ERROR_CONFIG,
               _ ("%s: the top level must be a JSON object (got %s)"), ctx->name, got);
  return NULL;
}

static gboolean
load (ScDaemonConfig *config, const char *data, gsize len, LoadCtx *ctx, GError **error)
{
  g_autoptr (ScDaemonConfig) tmp = sc_daemon_config_copy (config);
  g_autoptr (JsonParser) parser = NULL;
  g_autofree char *dup_path = NULL;
  JsonObject *root;
  ScDaemonConfig swap;

  if (!strict_json_check (data, len, ctx->name, error))
    return FALSE;
  if ((parser = parse_json (data, len, ctx->name, &dup_path, error)) == NULL)
    return FALSE;
  if ((root = root_object (ctx, parser, error)) == NULL)
    return FALSE;
  if (dup_path != NULL)
    return fail (ctx, dup_path, error, _ ("duplicate key"));
  ctx->config = tmp;
  if (!walk_object (ctx, root, root_keys, "", error))
    return FALSE;
  if (!document_sets (root, "identity", "key_file"))
    follow_state_dir (tmp, config->state_dir);
  if (!check_clients (ctx, error) || !check_tls_server (tmp->tls, ctx->name, "tls.", error))
    return FALSE;
  /* Commit: config takes the new values, tmp the old ones to free. */
  swap = *config;
  *config = *tmp;
  *tmp = swap;
  return TRUE;
}

/**
 * sc_daemon_config_load_data:
 * @config: the configuration to update
 * @json: the JSON text
 * @len: its length in bytes, or -1 when nul-terminated
 * @name_for_errors: (nullable): how error messages name the text
 * @error: return location for an %SC_ERROR_CONFIG error
 *
 * Sets the keys @json gives in @config; the others keep their values.
 * Relative file names are kept as they are. On error @config is unchanged.
 *
 * Returns: whether @json is a valid configuration
 */
gboolean
sc_daemon_config_load_data (ScDaemonConfig *config, const char *json, gssize len,
                            const char *name_for_errors, GError **error)
{
  LoadCtx ctx = { name_for_errors != NULL ? name_for_errors : "<config>", NULL, NULL };

  g_return_val_if_fail (config != NULL && json != NULL, FALSE);
  return load (config, json, len < 0 ? strlen (json) : (gsize) len, &ctx, error);
}

/**
 * sc_daemon_config_load_file:
 * @config: the configuration to update
 * @path: the JSON file
 * @error: return location for an %SC_ERROR_CONFIG error
 *
 * As sc_daemon_config_load_data(), with relative file names in the file
 * taken from the folder that holds it.
 *
 * Returns: whether @path could be read and is a valid configuration
 */
gboolean
sc_daemon_config_load_file (ScDaemonConfig *config, const char *path, GError **error)
{
  g_autofree char *data = NULL;
  g_autofree char *absolute = NULL;
  g_autofree char *dir = NULL;
  g_autoptr (GError) local = NULL;
  gsize len;
  LoadCtx ctx = { path, NULL, NULL };

  g_return_val_if_fail (config != NULL && path != NULL, FALSE);
  if (!g_file_get_contents (path, &data, &len, &local))
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_CONFIG, local->message);
      return FALSE;
    }
  absolute = g_canonicalize_filename (path, NULL);
  dir = g_path_get_dirname (absolute);
  ctx.base_dir = dir;
  return load (config, data, len, &ctx, error);
}

/**
 * sc_daemon_config_load_tls_file:
 * @config: the configuration to update
 * @path: a TLS configuration file: the seed's tls_config.json (securecommd
 *   --tls-config)
 * @error: return location for an %SC_ERROR_CONFIG error
 *
 * Replaces @config's TLS settings with those of @path, read by
 * sc_tls_config_new_from_file() (the keys of the "tls" section, at the top
 * level; relative file names taken from the folder that holds @path) and
 * checked for a server as the section is. On error @config is unchanged.
 *
 * Returns: whether @path could be read and is a valid TLS configuration
 */
gboolean
sc_daemon_config_load_tls_file (ScDaemonConfig *config, const char *path, GError **error)
{
  g_autoptr (ScTlsConfig) tls = NULL;

  g_return_val_if_fail (config != NULL && path != NULL, FALSE);
  tls = sc_tls_config_new_from_file (path, error);
  if (tls == NULL || !check_tls_server (tls, path, "", error))
    return FALSE;
  g_set_object (&config->tls, tls);
  return TRUE;
}
