/* GET /api/v1/settings: the server's effective configuration for administrators, with
 * secrets redacted exactly as `inframon config` prints them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "core/config.h"
#include "core/log.h"

/* Turns the KEY=value lines of im_config_print into [{name, value, redacted}]. Printing and
 * parsing the same text keeps one redaction rule for the command line and the API. */
static json_t *settings_json(const im_config_t *config)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) {
        return NULL;
    }
    im_config_print(config, out);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    json_t *list = json_array();
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *equals = strchr(line, '=');
        if (!equals) {
            continue;
        }
        *equals = '\0';
        const char *value = equals + 1;
        json_array_append_new(list, json_pack("{s:s, s:s, s:b}", "name", line, "value", value,
                                              "redacted", strstr(value, "redacted") != NULL));
    }
    explicit_bzero(text, len);
    free(text);
    return list;
}

static void get_settings(im_request_t *req)
{
    const im_app_t *app = im_req_app(req);
    json_t *list = settings_json(app->config);
    if (!list) {
        im_log_error("settings", "request %s: cannot format the configuration", im_req_id(req));
        im_resp_error(req, 500, "cannot format the configuration: out of memory");
        return;
    }
    im_resp_json(req, 200,
                 json_pack("{s:o, s:s, s:b}", "settings", list, "version", IM_VERSION,
                           "secret_key_generated", app->config->secret_key_generated));
}

const im_route_t im_api_settings_routes[] = {
    {"GET", "/api/v1/settings", IM_ROLE_ADMIN, get_settings,
     "The effective configuration, secrets redacted (admin)"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL, NULL},
};
