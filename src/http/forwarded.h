#ifndef IM_HTTP_FORWARDED_H
#define IM_HTTP_FORWARDED_H

#include <stddef.h>

#include "core/config.h"

/* Resolves the client address behind a trusted proxy from its X-Forwarded-For value.
 * On entry client_ip holds the socket peer (already known to be a trusted proxy); on exit
 * it holds the right-most hop that is not in TRUSTED_PROXIES, or the last well-formed
 * hop when every hop is trusted or a malformed hop stops the walk. A value longer than
 * 2048 bytes is ignored and client_ip is left unchanged. */
void im_http_forwarded_client(const im_config_t *config, const char *xff, char *client_ip,
                              size_t size);

#endif
