/* Operator commands that do not touch the database: `rotate-secret` and `healthcheck`. */
#include "cli_ops.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "engine/wire.h"

#define HEALTHCHECK_TIMEOUT_MS         5000L
#define HEALTHCHECK_CONNECT_TIMEOUT_MS 3000L
#define SECRET_KEY_RANDOM_BYTES             48

int im_cli_rotate_secret(const im_config_t *config, FILE *out)
{
    char key[96];
    im_random_token(key, sizeof(key), SECRET_KEY_RANDOM_BYTES);

    char days[64] = "REFRESH_TOKEN_EXPIRE_DAYS days";
    if (config) {
        snprintf(days, sizeof(days), "%d days (REFRESH_TOKEN_EXPIRE_DAYS)",
                 config->refresh_token_expire_days);
    }
    fprintf(out,
            "New SECRET_KEY (%zu characters, %d random bytes, base64url):\n"
            "\n"
            "    %s\n"
            "\n"
            "To switch to it without logging anyone out:\n"
            "\n"
            "1. Set SECRET_KEY_PREVIOUS to the current SECRET_KEY value. Copy it from your\n"
            "   .env, secret file or environment: this command never prints it.\n"
            "2. Set SECRET_KEY to the new key above. With SECRET_KEY_FILE, write the new key\n"
            "   into that file and put the old one in the file SECRET_KEY_PREVIOUS_FILE names.\n"
            "3. Restart InfraMon. It signs new tokens with the new key and still accepts\n"
            "   tokens signed with the previous key until they expire. At this start it\n"
            "   also re-encrypts every stored TOTP secret under the new key.\n"
            "4. After %s, the longest token lifetime, remove\n"
            "   SECRET_KEY_PREVIOUS and restart again. If a TOTP secret still needs the\n"
            "   previous key then, InfraMon refuses to start and says so.\n",
            strlen(key), SECRET_KEY_RANDOM_BYTES, key, days);
    if (config && config->secret_key_previous) {
        fprintf(stderr,
                "inframon: warning: SECRET_KEY_PREVIOUS is already set, so an earlier rotation "
                "may still be in progress. Replacing it now logs out every user whose tokens "
                "were signed with that older key; wait %s after the last restart, or accept "
                "that.\n",
                days);
    }
    return 0;
}

/* Returns the address to probe for HOST, with a wildcard address replaced by loopback. */
static const char *health_host(const im_config_t *config)
{
    const char *host = config->host;
    if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0') {
        return "127.0.0.1";
    }
    if (strcmp(host, "::") == 0) {
        return "::1";
    }
    return host;
}

static int store_health_status(void *ctx, const im_wire_head_t *head)
{
    int *status = ctx;

    *status = head->status;
    return 0;
}

int im_cli_healthcheck(const im_config_t *config)
{
    const char *host = health_host(config);
    bool ipv6 = strchr(host, ':') != NULL;
    char *host_header = im_asprintf(ipv6 ? "[%s]:%d" : "%s:%d", host, config->port);
    char *url = im_asprintf("http://%s/health", host_header);
    char error[256] = "";
    int status = 0;
    int exit_code = 1;
    bool reusable = false;
    im_wire_conn_t *conn = NULL;
    // The probe connects directly, so an http_proxy in the container's environment never
    // receives it.
    im_wire_target_t target = {.host = host, .port = config->port};

    if (im_wire_connect(&target, HEALTHCHECK_CONNECT_TIMEOUT_MS, &conn, error, sizeof(error)) !=
        IM_OK) {
        fprintf(stderr, "inframon: healthcheck: GET %s failed: %s\n", url, error);
        goto out;
    }
    im_wire_request_t request = {.method = "GET", .target = "/health", .host_header = host_header};
    im_wire_handler_t handler = {.on_head = store_health_status, .ctx = &status};
    im_wire_options_t options = {.deadline_ms = im_monotonic_ms() + HEALTHCHECK_TIMEOUT_MS};
    im_wire_outcome_t outcome =
        im_wire_exchange(conn, &request, &handler, &options, &reusable, error, sizeof(error));
    if (outcome != IM_WIRE_OK) {
        fprintf(stderr, "inframon: healthcheck: GET %s failed: %s\n", url, error);
    } else if (status == 200) {
        printf("healthy: GET %s returned 200\n", url);
        exit_code = 0;
    } else {
        fprintf(stderr, "inframon: healthcheck: GET %s returned %d, expected 200\n", url, status);
    }

out:
    im_wire_close(conn);
    free(url);
    free(host_header);
    return exit_code;
}
