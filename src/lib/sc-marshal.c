/* sc-marshal.c: signal marshallers for two pointer arguments, in the shape
 * glib-genmarshal gives them (hand-written: its output does not build with
 * -Werror=unused-parameter).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "sc-marshal.h"

typedef void (*ScMarshalFunc_VOID__PTR_PTR) (gpointer data1, gpointer arg1, gpointer arg2,
                                             gpointer data2);

/* How one argument is held for the call: copied unless static scope. */
typedef enum
{
  ARG_STRING,
  ARG_BOXED,
} ArgKind;

static gboolean
is_static (GType type)
{
  return (type & G_SIGNAL_TYPE_STATIC_SCOPE) != 0;
}

static gpointer
arg_copy (ArgKind kind, GType type, gpointer arg)
{
  if (arg == NULL || is_static (type))
    return arg;
  if (kind == ARG_STRING)
    return g_strdup (arg);
  return g_boxed_copy (type & ~G_SIGNAL_TYPE_STATIC_SCOPE, arg);
}

static void
arg_free (ArgKind kind, GType type, gpointer arg)
{
  if (arg == NULL || is_static (type))
    return;
  if (kind == ARG_STRING)
    g_free (arg);
  else
    g_boxed_free (type & ~G_SIGNAL_TYPE_STATIC_SCOPE, arg);
}

static void
call (GClosure *closure, gpointer instance, gpointer marshal_data, gpointer arg1, gpointer arg2)
{
  GCClosure *cc = (GCClosure *) closure;
  ScMarshalFunc_VOID__PTR_PTR callback = (ScMarshalFunc_VOID__PTR_PTR) (marshal_data
                                                                            ? marshal_data
                                                                            : cc->callback);

  if (G_CCLOSURE_SWAP_DATA (closure))
    callback (closure->data, arg1, arg2, instance);
  else
    callback (instance, arg1, arg2, closure->data);
}

/* The va_list form for two pointer arguments of the given kinds. */
static void
marshal_ptr_ptr_v (GClosure *closure, gpointer instance, va_list args, gpointer marshal_data,
                   GType *param_types, ArgKind kind1, ArgKind kind2)
{
  gpointer arg1, arg2;
  va_list args_copy;

  G_VA_COPY (args_copy, args);
  arg1 = arg_copy (kind1, param_types[0], va_arg (args_copy, gpointer));
  arg2 = arg_copy (kind2, param_types[1], va_arg (args_copy, gpointer));
  va_end (args_copy);
  call (closure, instance, marshal_data, arg1, arg2);
  arg_free (kind1, param_types[0], arg1);
  arg_free (kind2, param_types[1], arg2);
}

void
sc_marshal_VOID__STRING_BOXED (GClosure *closure, G_GNUC_UNUSED GValue *return_value,
                               guint n_param_values, const GValue *param_values,
                               G_GNUC_UNUSED gpointer invocation_hint, gpointer marshal_data)
{
  g_return_if_fail (n_param_values == 3);
  call (closure, g_value_peek_pointer (&param_values[0]), marshal_data,
        (gpointer) g_value_get_string (&param_values[1]), g_value_get_boxed (&param_values[2]));
}

void
sc_marshal_VOID__STRING_BOXEDv (GClosure *closure, G_GNUC_UNUSED GValue *return_value,
                                gpointer instance, va_list args, gpointer marshal_data,
                                G_GNUC_UNUSED int n_params, GType *param_types)
{
  marshal_ptr_ptr_v (closure, instance, args, marshal_data, param_types, ARG_STRING, ARG_BOXED);
}

void
sc_marshal_VOID__STRING_STRING (GClosure *closure, G_GNUC_UNUSED GValue *return_value,
                                guint n_param_values, const GValue *param_values,
                                G_GNUC_UNUSED gpointer invocation_hint, gpointer marshal_data)
{
  g_return_if_fail (n_param_values == 3);
  call (closure, g_value_peek_pointer (&param_values[0]), marshal_data,
        (gpointer) g_value_get_string (&param_values[1]),
        (gpointer) g_value_get_string (&param_values[2]));
}

void
sc_marshal_VOID__STRING_STRINGv (GClosure *closure, G_GNUC_UNUSED GValue *return_value,
                                 gpointer instance, va_list args, gpointer marshal_data,
                                 G_GNUC_UNUSED int n_params, GType *param_types)
{
  marshal_ptr_ptr_v (closure, instance, args, marshal_data, param_types, ARG_STRING, ARG_STRING);
}
