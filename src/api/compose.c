/* Compose projects: the list grouped from container labels, a container's compose file,
 * and start/stop/restart/pull of a whole project through the Engine API. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "core/log.h"
#include "core/safefile.h"
#include "core/util.h"
#include "engine/compose.h"
#include "engine/containers.h"
#include "engine/engine.h"

/* Lists every container and groups them; sends the error and returns NULL on failure. */
static json_t *load_projects(im_request_t *req, json_t **items_out)
{
    char err[512] = "";
    json_t *items = NULL;
    int rc = im_container_list(im_req_app(req)->engine, true, &items, err, sizeof(err));
    if (rc != IM_OK) {
        im_resp_from_rc(req, rc, err);
        return NULL;
    }
    json_t *projects = im_compose_projects(items);
    if (items_out) {
        *items_out = items;
    } else {
        json_decref(items);
    }
    return projects;
}

static void list_projects(im_request_t *req)
{
    json_t *projects = load_projects(req, NULL);
    if (projects) {
        im_resp_json(req, 200, projects);
    }
}

static bool path_project(im_request_t *req, const char **name)
{
    *name = im_req_param(req, "name");
    if (!im_compose_name_is_valid(*name)) {
        im_resp_invalid(req, "path", "name",
                        "must be a compose project name: a-z, 0-9, _ and -, 1 to 63 characters");
        return false;
    }
    return true;
}

static void get_project(im_request_t *req)
{
    const char *name;
    if (!path_project(req, &name)) {
        return;
    }
    json_t *projects = load_projects(req, NULL);
    if (!projects) {
        return;
    }
    json_t *project = im_compose_find(projects, name);
    if (!project) {
        im_resp_error(req, 404, "compose project %s not found", name);
    } else {
        im_resp_json(req, 200, json_incref(project));
    }
    json_decref(projects);
}

/* Reads the first compose file the container's labels name that exists under
 * HOST_FS_ROOT. Returns the label path in *path (malloc'd) and the text in *text. */
static int read_compose_file(im_request_t *req, json_t *labels, char **path, char **text,
                             size_t *len, char *err, size_t errlen)
{
    const im_config_t *config = im_req_app(req)->config;
    const char *roots[] = {config->host_fs_root};
    json_t *candidates = im_compose_candidate_files(labels);
    int rc = IM_ENOTFOUND;
    snprintf(err, errlen, "no compose file is named by the container's labels");
    size_t i;
    json_t *candidate;
    json_array_foreach(candidates, i, candidate)
    {
        const char *label_path = json_string_value(candidate);
        const char *root = config->host_fs_root;
        char *host_path =
            strcmp(root, "/") == 0 ? im_strdup(label_path) : im_asprintf("%s%s", root, label_path);
        /* A symlink named compose.yaml must not lead to a file of another kind, such as
         * /etc/shadow: the resolved name must still be a YAML file. */
        char *real = realpath(host_path, NULL);
        if (real && !im_str_ends_with(real, ".yml") && !im_str_ends_with(real, ".yaml")) {
            snprintf(err, errlen, "%s resolves to %s, which is not a .yml or .yaml file",
                     label_path, real);
            free(real);
            free(host_path);
            rc = IM_EFORBIDDEN;
            break;
        }
        free(real);
        rc = im_safefile_read(roots, 1, host_path, IM_COMPOSE_FILE_MAX_BYTES, text, len, err,
                              errlen);
        free(host_path);
        if (rc == IM_OK) {
            *path = im_strdup(label_path);
            break;
        }
        if (rc != IM_ENOTFOUND) {
            break;
        }
    }
    json_decref(candidates);
    return rc;
}

/* Resolves {id} and returns its inspect document, or sends the error and returns NULL. */
static json_t *inspect_param(im_request_t *req)
{
    const char *ref = im_req_param(req, "id");
    if (!im_container_ref_is_valid(ref)) {
        im_resp_invalid(req, "path", "id", "must be a container id, id prefix or name");
        return NULL;
    }
    char err[512] = "";
    json_t *inspect = NULL;
    int rc = im_container_inspect(im_req_app(req)->engine, ref, &inspect, err, sizeof(err));
    if (rc != IM_OK) {
        im_resp_from_rc(req, rc, err);
        return NULL;
    }
    return inspect;
}

static void container_compose_info(im_request_t *req)
{
    json_t *inspect = inspect_param(req);
    if (!inspect) {
        return;
    }
    json_t *labels = json_object_get(json_object_get(inspect, "Config"), "Labels");
    const char *project = json_string_value(json_object_get(labels, "com.docker.compose.project"));
    if (!project) {
        im_resp_error(req, 404, "container is not part of a compose project");
        json_decref(inspect);
        return;
    }
    json_t *projects = load_projects(req, NULL);
    if (projects) {
        json_t *entry = im_compose_find(projects, project);
        json_t *services = json_array();
        size_t i;
        json_t *service;
        json_array_foreach(json_object_get(entry, "services"), i, service)
        {
            json_array_append(services, json_object_get(service, "name"));
        }
        json_t *files = im_compose_candidate_files(labels);
        im_resp_json(
            req, 200,
            json_pack("{s:O, s:O, s:s, s:s?, s:o}", "container_id", json_object_get(inspect, "Id"),
                      "compose_file_path",
                      json_array_size(files) ? json_array_get(files, 0) : json_null(),
                      "project_name", project, "service",
                      json_string_value(json_object_get(labels, "com.docker.compose.service")),
                      "services", services));
        json_decref(files);
        json_decref(projects);
    }
    json_decref(inspect);
}

static void container_compose_file(im_request_t *req)
{
    json_t *inspect = inspect_param(req);
    if (!inspect) {
        return;
    }
    json_t *labels = json_object_get(json_object_get(inspect, "Config"), "Labels");
    char *path = NULL, *text = NULL;
    size_t len = 0;
    char err[512] = "";
    int rc = read_compose_file(req, labels, &path, &text, &len, err, sizeof(err));
    json_decref(inspect);
    if (rc != IM_OK) {
        im_log_info("compose", "request %s: compose file not served: %s", im_req_id(req), err);
        im_resp_from_rc(req, rc == IM_EFORBIDDEN ? IM_ENOTFOUND : rc, err);
        return;
    }
    /* Compose files often hold passwords in plain text: only admins see the raw file. */
    if (!im_req_has_role(req, IM_ROLE_ADMIN)) {
        char *masked = im_compose_mask_text(text);
        free(text);
        text = masked;
        len = strlen(text);
    }
    json_t *parsed = im_compose_parse(text, len, err, sizeof(err));
    json_t *body = json_pack("{s:s, s:s%}", "path", path, "content", text, len);
    if (parsed) {
        json_object_update(body, parsed);
        json_decref(parsed);
    } else {
        json_object_set_new(body, "services", json_object());
        json_object_set_new(body, "networks", json_array());
        json_object_set_new(body, "volumes", json_array());
        json_object_set_new(body, "parse_error", json_string(err));
    }
    free(path);
    free(text);
    im_resp_json(req, 200, body);
}

/* Returns {service: [dependency names]} from the project's compose file when readable,
 * else from the com.docker.compose.depends_on labels ("db:service_started:false,..."). */
static json_t *project_dependencies(im_request_t *req, json_t *items, const char *project)
{
    json_t *depends = json_object();
    json_t *labels = NULL;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *p = json_string_value(json_object_get(item, "compose_project"));
        const char *service = json_string_value(json_object_get(item, "compose_service"));
        if (!p || strcmp(p, project) != 0 || !service) {
            continue;
        }
        labels = json_object_get(item, "labels");
        const char *text =
            json_string_value(json_object_get(labels, "com.docker.compose.depends_on"));
        if (text && *text && !json_object_get(depends, service)) {
            json_t *names = json_array();
            char *copy = im_strdup(text);
            char *save = NULL;
            for (char *d = strtok_r(copy, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
                char *colon = strchr(d, ':');
                if (colon) {
                    *colon = '\0';
                }
                json_array_append_new(names, json_string(d));
            }
            free(copy);
            json_object_set_new(depends, service, names);
        }
    }
    if (!labels) {
        return depends;
    }
    char *path = NULL, *text = NULL;
    size_t len = 0;
    char err[512];
    if (read_compose_file(req, labels, &path, &text, &len, err, sizeof(err)) != IM_OK) {
        return depends;
    }
    json_t *parsed = im_compose_parse(text, len, err, sizeof(err));
    const char *name;
    json_t *definition;
    json_object_foreach(json_object_get(parsed, "services"), name, definition)
    {
        json_t *on = json_object_get(definition, "depends_on");
        json_t *names = json_array();
        if (json_is_array(on)) {
            json_array_extend(names, on);
        } else if (json_is_object(on)) {
            const char *dep;
            json_t *ignored;
            json_object_foreach(on, dep, ignored)
            {
                json_array_append_new(names, json_string(dep));
            }
        }
        json_object_set_new(depends, name, names);
    }
    json_decref(parsed);
    free(path);
    free(text);
    return depends;
}

/* Runs action on every container of the services in order; appends one result each. */
static void run_on_services(im_request_t *req, json_t *project, json_t *order,
                            im_container_action_t action, json_t *results, int *failed)
{
    struct im_engine *engine = im_req_app(req)->engine;
    im_container_action_options_t opts = {.timeout = 10};
    size_t i;
    json_t *service_name;
    json_array_foreach(order, i, service_name)
    {
        size_t k;
        json_t *service;
        json_array_foreach(json_object_get(project, "services"), k, service)
        {
            if (!json_equal(json_object_get(service, "name"), service_name)) {
                continue;
            }
            json_t *ids = json_object_get(service, "container_ids");
            json_t *names = json_object_get(service, "containers");
            for (size_t c = 0; c < json_array_size(ids); c++) {
                const char *id = json_string_value(json_array_get(ids, c));
                const char *name = json_string_value(json_array_get(names, c));
                char err[512] = "";
                int rc = im_container_action(engine, id, name, action, &opts, err, sizeof(err));
                /* Starting a running container or stopping a stopped one is already done. */
                bool ok = rc == IM_OK || rc == IM_ECONFLICT;
                const char *message = err;
                if (rc == IM_OK) {
                    message = im_container_action_past(action);
                } else if (rc == IM_ECONFLICT) {
                    message = "no change needed";
                }
                *failed += !ok;
                json_array_append_new(results,
                                      json_pack("{s:s, s:O, s:s, s:b, s:s}", "container", name,
                                                "service", service_name, "container_id", id,
                                                "success", ok, "message", message));
            }
        }
    }
}

static json_t *reversed(json_t *array)
{
    json_t *out = json_array();
    for (size_t i = json_array_size(array); i > 0; i--) {
        json_array_append(out, json_array_get(array, i - 1));
    }
    return out;
}

/* Pulls each distinct image of the project through the engine and reports per image.
 * NOTE: the result comes back as one JSON response when every pull has finished, not as a
 * per-image progress stream, and the request keeps an HTTP worker thread busy meanwhile. */
static void pull_images(im_request_t *req, json_t *items, const char *project, json_t *results,
                        int *failed)
{
    json_t *seen = json_object();
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *p = json_string_value(json_object_get(item, "compose_project"));
        const char *image = json_string_value(json_object_get(item, "image"));
        if (!p || strcmp(p, project) != 0 || !image || json_object_get(seen, image)) {
            continue;
        }
        json_object_set_new(seen, image, json_true());
        im_buf_t path;
        im_buf_init(&path);
        im_buf_append(&path, "/images/create?fromImage=", 25);
        im_engine_url_escape(&path, image);
        im_engine_reply_t reply;
        im_engine_reply_init(&reply);
        char err[512] = "";
        int rc = im_engine_request_timeout(im_req_app(req)->engine, "POST", path.data, NULL, 600000,
                                           &reply, err, sizeof(err));
        if (rc == IM_OK) {
            rc = im_engine_reply_rc(&reply, err, sizeof(err));
        }
        /* The engine streams progress as JSON lines; an error can arrive after a 200. */
        if (rc == IM_OK && reply.body.data && strstr(reply.body.data, "\"error\"")) {
            const char *at = strstr(reply.body.data, "\"error\"");
            snprintf(err, sizeof(err), "%.300s", at);
            rc = IM_EUPSTREAM;
        }
        *failed += rc != IM_OK;
        json_array_append_new(results,
                              json_pack("{s:s, s:b, s:s}", "image", image, "success", rc == IM_OK,
                                        "message", rc == IM_OK ? "pulled" : err));
        im_engine_reply_release(&reply);
        im_buf_release(&path);
    }
    json_decref(seen);
}

static void project_action(im_request_t *req)
{
    const char *name;
    if (!path_project(req, &name)) {
        return;
    }
    const char *action = im_req_param(req, "action");
    if (strcmp(action, "start") != 0 && strcmp(action, "stop") != 0 &&
        strcmp(action, "restart") != 0 && strcmp(action, "pull") != 0) {
        im_resp_invalid(req, "path", "action", "must be start, stop, restart or pull");
        return;
    }
    json_t *items = NULL;
    json_t *projects = load_projects(req, &items);
    if (!projects) {
        return;
    }
    json_t *project = im_compose_find(projects, name);
    if (!project) {
        im_resp_error(req, 404, "compose project %s not found", name);
        goto out;
    }
    json_t *results = json_array();
    int failed = 0;
    if (strcmp(action, "pull") == 0) {
        pull_images(req, items, name, results, &failed);
    } else {
        json_t *services = json_array();
        size_t i;
        json_t *service;
        json_array_foreach(json_object_get(project, "services"), i, service)
        {
            json_array_append(services, json_object_get(service, "name"));
        }
        json_t *depends = project_dependencies(req, items, name);
        json_t *order = im_compose_start_order(services, depends);
        json_t *stop_order = reversed(order);
        if (strcmp(action, "stop") == 0 || strcmp(action, "restart") == 0) {
            run_on_services(req, project, stop_order, IM_CONTAINER_STOP, results, &failed);
        }
        if (strcmp(action, "start") == 0 || strcmp(action, "restart") == 0) {
            run_on_services(req, project, order, IM_CONTAINER_START, results, &failed);
        }
        json_decref(stop_order);
        json_decref(order);
        json_decref(depends);
        json_decref(services);
    }
    char audit_action[32];
    snprintf(audit_action, sizeof(audit_action), "compose.%s", action);
    im_api_audit(req, audit_action, "compose_project", name, failed == 0,
                 failed ? "one or more containers or images failed" : NULL);
    im_resp_json(req, 200,
                 json_pack("{s:b, s:s++, s:s, s:s, s:i, s:i, s:o}", "success", failed == 0,
                           "message", "compose ", action,
                           failed ? " finished with failures" : " done", "project", name, "action",
                           action, "total", (int)json_array_size(results), "failed", failed,
                           "results", results));
out:
    json_decref(projects);
    json_decref(items);
}

const im_route_t im_api_compose_routes[] = {
    {"GET", "/api/v1/compose/projects", IM_ROLE_VIEWER, list_projects,
     "Compose projects grouped from container labels"},
    {"GET", "/api/v1/compose/projects/{name}", IM_ROLE_VIEWER, get_project, "One compose project"},
    {"POST", "/api/v1/compose/projects/{name}/{action}", IM_ROLE_OPERATOR, project_action,
     "Start, stop, restart or pull a whole project"},
    {"GET", "/api/v1/containers/{id}/compose/info", IM_ROLE_VIEWER, container_compose_info,
     "The compose project of a container"},
    {"GET", "/api/v1/containers/{id}/compose/file", IM_ROLE_VIEWER, container_compose_file,
     "The compose file a container's labels name (secrets masked unless admin)"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL, NULL},
};
