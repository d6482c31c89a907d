/* Operator commands that do not touch the database: `rotate-secret` and `healthcheck`. */
#include "cli_ops.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/util.h"

#define HEALTHCHECK_TIMEOUT_SECONDS         5L
#define HEALTHCHECK_CONNECT_TIMEOUT_SECONDS 3L
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

/* Builds the /health URL for HOST and PORT, with a wildcard address replaced by loopback. */
static char *health_url(const im_config_t *config)
{
    const char *host = config->host;
    if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0') {
        host = "127.0.0.1";
    } else if (strcmp(host, "::") == 0) {
        host = "::1";
    }
    if (strchr(host, ':')) {
        return im_asprintf("http://[%s]:%d/health", host, config->port);
    }
    return im_asprintf("http://%s:%d/health", host, config->port);
}

static size_t discard_body(char *data, size_t size, size_t count, void *user)
{
    return size * count;
}

int im_cli_healthcheck(const im_config_t *config)
{
    char *url = health_url(config);
    char error[CURL_ERROR_SIZE] = "";
    long status = 0;
    int exit_code = 1;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "inframon: healthcheck: libcurl initialisation failed\n");
        goto out;
    }
    CURL *curl = curl_easy_init();
    if (!curl) {
        fprintf(stderr, "inframon: healthcheck: libcurl initialisation failed\n");
        goto cleanup;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    /* An http_proxy in the container's environment must not receive the probe. */
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, HEALTHCHECK_TIMEOUT_SECONDS);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, HEALTHCHECK_CONNECT_TIMEOUT_SECONDS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        fprintf(stderr, "inframon: healthcheck: GET %s failed: %s\n", url,
                error[0] ? error : curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200) {
            printf("healthy: GET %s returned 200\n", url);
            exit_code = 0;
        } else {
            fprintf(stderr, "inframon: healthcheck: GET %s returned %ld, expected 200\n", url,
                    status);
        }
    }
    curl_easy_cleanup(curl);

cleanup:
    curl_global_cleanup();
out:
    free(url);
    return exit_code;
}
