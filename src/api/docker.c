/* /api/v1/docker/info and /docker/version (the engine's own documents, passed through), and
 * the image, network and volume prune endpoints (admin, audited). */
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "core/util.h"
#include "engine/containers.h"
#include "engine/engine.h"

#define ERROR_SIZE 1024

static void send_engine_document(im_request_t *req, const char *path)
{
    json_t *document = NULL;
    char err[ERROR_SIZE] = "";
    int rc = im_engine_get_json(im_req_app(req)->engine, path, &document, err, sizeof(err));

    if (rc) {
        // A 4xx from the engine here is not the caller's fault.
        im_resp_from_rc(req, rc == IM_EINVAL || rc == IM_ENOTFOUND ? IM_EUPSTREAM : rc, err);
        return;
    }
    im_resp_json(req, 200, document);
}

static void get_docker_info(im_request_t *req)
{
    send_engine_document(req, "/info");
}

static void get_docker_version(im_request_t *req)
{
    send_engine_document(req, "/version");
}

/* Reads filter_label and filter_until (when the target takes it); false after a 422. */
static bool read_prune_filters(im_request_t *req, bool with_until, im_prune_options_t *opts)
{
    opts->label = im_req_query(req, "filter_label");
    opts->until = NULL;
    if (opts->label && opts->label[0] && !im_prune_label_is_valid(opts->label)) {
        im_resp_invalid(req, "query", "filter_label",
                        "must be key or key=value, 1 to 256 printable characters");
        return false;
    }
    if (!with_until) {
        if (im_req_query(req, "filter_until")) {
            im_resp_invalid(req, "query", "filter_until",
                            "is not supported for volumes by the engine");
            return false;
        }
        return true;
    }
    opts->until = im_req_query(req, "filter_until");
    if (opts->until && opts->until[0] && !im_prune_until_is_valid(opts->until)) {
        im_resp_invalid(req, "query", "filter_until",
                        "must be Unix seconds, an RFC 3339 time or a duration such as 24h");
        return false;
    }
    return true;
}

static void run_prune(im_request_t *req, im_prune_target_t target, const char *audit_action,
                      const char *target_type)
{
    im_prune_options_t opts = {0};
    char err[ERROR_SIZE] = "";
    json_t *result = NULL;

    if (!read_prune_filters(req, target != IM_PRUNE_VOLUMES, &opts)) {
        im_api_audit(req, audit_action, target_type, NULL, false, "invalid query parameter");
        return;
    }
    if (target == IM_PRUNE_IMAGES && !im_req_query_bool(req, "all", false, &opts.all_images)) {
        im_api_audit(req, audit_action, target_type, NULL, false, "invalid query parameter");
        return;
    }

    int rc = im_prune(im_req_app(req)->engine, target, &opts, &result, err, sizeof(err));
    im_api_audit(req, audit_action, target_type, NULL, rc == IM_OK, rc ? err : NULL);
    if (rc) {
        im_resp_from_rc(req, rc, err);
        return;
    }
    json_object_set_new(result, "success", json_true());
    im_resp_json(req, 200, result);
}

static void prune_images(im_request_t *req)
{
    run_prune(req, IM_PRUNE_IMAGES, "image.prune", "image");
}

static void prune_networks(im_request_t *req)
{
    run_prune(req, IM_PRUNE_NETWORKS, "network.prune", "network");
}

static void prune_volumes(im_request_t *req)
{
    run_prune(req, IM_PRUNE_VOLUMES, "volume.prune", "volume");
}

const im_route_t im_api_docker_routes[] = {
    {"GET", "/api/v1/docker/info", IM_ROLE_VIEWER, get_docker_info,
     "The engine's system information"},
    {"GET", "/api/v1/docker/version", IM_ROLE_VIEWER, get_docker_version, "The engine's version"},
    {"POST", "/api/v1/images/prune", IM_ROLE_ADMIN, prune_images, "Remove unused images"},
    {"POST", "/api/v1/networks/prune", IM_ROLE_ADMIN, prune_networks, "Remove unused networks"},
    {"POST", "/api/v1/volumes/prune", IM_ROLE_ADMIN, prune_volumes, "Remove unused volumes"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL},
};
