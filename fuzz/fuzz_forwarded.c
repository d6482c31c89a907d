/* Fuzzes client-address resolution: CIDR parsing of TRUSTED_PROXIES entries, address
 * parsing, trusted-proxy matching and the X-Forwarded-For walk. The input is split at the
 * first newline: the part before is a CIDR, the part after an X-Forwarded-For value. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/util.h"
#include "http/forwarded.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = im_strndup((const char *)data, size);
    char *newline = strchr(text, '\n');
    const char *xff = newline ? newline + 1 : "";
    if (newline) {
        *newline = '\0';
    }
    im_config_t config;
    memset(&config, 0, sizeof(config));
    if (im_cidr_parse(text, &config.trusted_proxies[0])) {
        if (config.trusted_proxies[0].prefix < 0 || config.trusted_proxies[0].prefix > 128) {
            abort();
        }
        config.trusted_proxy_count = 1;
    }
    /* A second, fixed entry so that walks pass more than one trusted hop. */
    if (im_cidr_parse("127.0.0.0/8", &config.trusted_proxies[config.trusted_proxy_count])) {
        config.trusted_proxy_count++;
    }
    unsigned char addr[16];
    if (im_ip_parse(text, addr)) {
        (void)im_config_is_trusted_proxy(&config, addr);
    }
    char client_ip[64] = "127.0.0.1";
    im_http_forwarded_client(&config, xff, client_ip, sizeof(client_ip));
    if (!im_ip_parse(client_ip, addr)) {
        abort(); /* the result is always a well-formed address */
    }
    free(text);
    return 0;
}
