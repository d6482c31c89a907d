/* Liveness, readiness and the service description at the root. */
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "core/util.h"
#include "engine/engine.h"
#include "http/static.h"
#include "store/store.h"

static void get_health(im_request_t *req)
{
    im_resp_json(req, 200, json_pack("{s:s, s:s}", "status", "healthy", "version", IM_VERSION));
}

/* Checks the database and the engine; 503 names the failing part and what was tried. */
static void get_ready(im_request_t *req)
{
    im_app_t *app = im_req_app(req);
    char err[512] = "";
    json_t *body = json_object();
    bool ready = true;

    if (im_store_ping(app->store) == IM_OK) {
        json_object_set_new(body, "database", json_string("ok"));
    } else {
        json_object_set_new(body, "database", json_string("unreachable"));
        ready = false;
    }
    if (im_engine_ping(app->engine, err, sizeof(err)) == IM_OK) {
        json_object_set_new(body, "engine", json_string("ok"));
    } else {
        json_object_set_new(body, "engine", json_string("unreachable"));
        json_object_set_new(body, "engine_error", json_string(err));
        ready = false;
    }
    json_object_set_new(body, "engine_address", json_string(im_engine_address(app->engine)));
    json_object_set_new(body, "status", json_string(ready ? "ready" : "not ready"));
    im_resp_json(req, ready ? 200 : 503, body);
}

/* The web UI, unless the client asks for JSON (Accept: application/json). */
static void get_root(im_request_t *req)
{
    const char *accept = im_req_header(req, "Accept");
    if (!accept || !strstr(accept, "application/json")) {
        im_http_static_index(req);
        return;
    }
    im_resp_json(req, 200,
                 json_pack("{s:s, s:s, s:s, s:s}", "name", "InfraMon", "version", IM_VERSION,
                           "description", "Self-hosted Docker monitoring and management server",
                           "api_docs", "/api/docs"));
}

const im_route_t im_api_health_routes[] = {
    {"GET", "/health", IM_ROLE_PUBLIC, get_health, "Liveness: 200 while the server runs"},
    {"GET", "/api/v1/health", IM_ROLE_PUBLIC, get_health, "Liveness: 200 while the server runs"},
    {"GET", "/ready", IM_ROLE_PUBLIC, get_ready, "Readiness: database and engine reachable"},
    {"GET", "/", IM_ROLE_PUBLIC, get_root,
     "The web UI, or the server name and version for Accept: application/json"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL},
};
