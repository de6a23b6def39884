/* sc-marshal.h: signal marshallers of libsecurecomm's signals (private).
 *
 * Each has a GValue form (for language bindings and emission hooks) and a
 * va_list form (g_signal_set_va_marshaller) for C handlers: without them a
 * signal goes through g_cclosure_marshal_generic_va, which builds a libffi
 * call for every emission. Arguments whose type carries
 * G_SIGNAL_TYPE_STATIC_SCOPE are passed as they are, the others copied for
 * the call, as glib-genmarshal does.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

void sc_marshal_VOID__STRING_BOXED (GClosure *closure, GValue *return_value, guint n_param_values,
                                    const GValue *param_values, gpointer invocation_hint,
                                    gpointer marshal_data);
void sc_marshal_VOID__STRING_BOXEDv (GClosure *closure, GValue *return_value, gpointer instance,
                                     va_list args, gpointer marshal_data, int n_params,
                                     GType *param_types);
void sc_marshal_VOID__STRING_STRING (GClosure *closure, GValue *return_value, guint n_param_values,
                                     const GValue *param_values, gpointer invocation_hint,
                                     gpointer marshal_data);
void sc_marshal_VOID__STRING_STRINGv (GClosure *closure, GValue *return_value, gpointer instance,
                                      va_list args, gpointer marshal_data, int n_params,
                                      GType *param_types);

G_END_DECLS
