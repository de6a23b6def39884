/* securecomm.h: the public API of libsecurecomm-1, in one header.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#define SECURECOMM_INSIDE
#include "sc-client.h"
#include "sc-error.h"
#include "sc-identity.h"
#include "sc-server.h"
#include "sc-tls-config.h"
#undef SECURECOMM_INSIDE
