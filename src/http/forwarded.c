/* X-Forwarded-For resolution, kept free of libmicrohttpd so the fuzz target can call it. */
#include "http/forwarded.h"

#include <ctype.h>
#include <string.h>

#include "core/util.h"

#define MAX_FORWARDED_LENGTH 2048

void im_http_forwarded_client(const im_config_t *config, const char *xff, char *client_ip,
                              size_t size)
{
    if (!xff || strlen(xff) > MAX_FORWARDED_LENGTH) {
        return;
    }
    char copy[MAX_FORWARDED_LENGTH + 1];
    im_strlcpy(copy, xff, sizeof(copy));
    /* Walk from the right: every hop added by a trusted proxy is skipped. */
    for (;;) {
        char *comma = strrchr(copy, ',');
        char *candidate = comma ? comma + 1 : copy;
        while (isspace((unsigned char)*candidate)) {
            candidate++;
        }
        char *end = candidate + strlen(candidate);
        while (end > candidate && isspace((unsigned char)end[-1])) {
            *--end = '\0';
        }
        unsigned char addr[16];
        if (!im_ip_parse(candidate, addr)) {
            return; /* a malformed hop: keep the last address we could trust */
        }
        im_strlcpy(client_ip, candidate, size);
        if (!im_config_is_trusted_proxy(config, addr) || !comma) {
            return;
        }
        *comma = '\0';
    }
}
