/* Compose projects: the list grouped from container labels, a container's compose file,
 * and start/stop/restart/pull of a whole project through the Engine API. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
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
#include "engine/stream.h"
#include "http/stream.h"
#include "store/store.h"

#define LOG_MODULE "compose"
/* Time limit of one image pull. */
#define PULL_TIMEOUT_MS 600000
/* A streamed pull sends a comment after this much silence. Besides keeping proxies from
 * closing it, the write is how the server notices a client that left while the engine was
 * silent (a waiting stream is suspended), so this bounds how long a cancelled pull runs on. */
#define PULL_KEEPALIVE_MS 5000
/* Progress events past this many queued bytes replace the oldest ones with a dropped event. */
#define PULL_QUEUE_MAX ((size_t)1024 * 1024)
/* Streamed pulls running at once, server-wide. Each one has a thread and an engine
 * connection of its own and occupies no HTTP worker, so without this cap the only bound
 * would be the server's connection limit. */
#define MAX_STREAMED_PULLS 16
#define NOT_PULLABLE                                                                               \
    "the container was created from an image id, not a repository name, so there is nothing "      \
    "to pull"

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

/* Returns the image reference a container was created with (Config.Image), because the
 * list shows the image id instead once the tag points at other content. NULL when the
 * container is gone or the engine fails; the caller frees the result. */
static char *configured_image(struct im_engine *engine, const char *id)
{
    char err[512] = "";
    json_t *inspect = NULL;
    if (im_container_inspect(engine, id, &inspect, err, sizeof(err)) != IM_OK) {
        im_log_warn(LOG_MODULE, "cannot read the image of container %s: %s", id, err);
        return NULL;
    }
    const char *image =
        json_string_value(json_object_get(json_object_get(inspect, "Config"), "Image"));
    char *copy = image ? im_strdup(image) : NULL;
    json_decref(inspect);
    return copy;
}

/* Returns the distinct image references of the project's containers, in list order (a new
 * array). A reference that is an image id stays in, and the pull reports it as failed
 * without contacting a registry. */
static json_t *project_images(struct im_engine *engine, json_t *items, const char *project)
{
    json_t *images = json_array();
    json_t *seen = json_object();
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *p = json_string_value(json_object_get(item, "compose_project"));
        const char *id = json_string_value(json_object_get(item, "container_id"));
        if (!p || strcmp(p, project) != 0 || !id) {
            continue;
        }
        char *image = configured_image(engine, id);
        const char *listed = json_string_value(json_object_get(item, "image"));
        const char *chosen = image ? image : listed;
        if (chosen && !json_object_get(seen, chosen)) {
            json_object_set_new(seen, chosen, json_true());
            json_array_append_new(images, json_string(chosen));
        }
        free(image);
    }
    json_decref(seen);
    return images;
}

/* Returns true for an image id (sha256:HEX), which names no repository to pull from. */
static bool is_image_id(const char *image)
{
    return strncmp(image, "sha256:", 7) == 0;
}

/* Returns the Engine API path that pulls image. The caller frees it. */
static char *pull_path(const char *image)
{
    char *ref = im_pull_image_ref(image);
    im_buf_t path;
    im_buf_init(&path);
    im_buf_append(&path, "/images/create?fromImage=", 25);
    im_engine_url_escape(&path, ref);
    free(ref);
    return im_buf_detach(&path, NULL);
}

/* Pulls each distinct image of the project through the engine and reports per image, as one
 * JSON response after every pull has finished. The request keeps its HTTP worker thread
 * meanwhile; clients that send Accept: text/event-stream get the streamed pull instead. */
static void pull_images(im_request_t *req, json_t *images, json_t *results, int *failed)
{
    size_t i;
    json_t *value;
    json_array_foreach(images, i, value)
    {
        const char *image = json_string_value(value);
        if (is_image_id(image)) {
            *failed += 1;
            json_array_append_new(results, json_pack("{s:s, s:b, s:s}", "image", image, "success",
                                                     0, "message", NOT_PULLABLE));
            continue;
        }
        char *path = pull_path(image);
        im_engine_reply_t reply;
        im_engine_reply_init(&reply);
        char err[512] = "";
        int rc = im_engine_request_timeout(im_req_app(req)->engine, "POST", path, NULL,
                                           PULL_TIMEOUT_MS, &reply, err, sizeof(err));
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
        free(path);
    }
}

/* ---- streamed pull ----------------------------------------------------------------------- */

/* A pull streamed as Server-Sent Events, owned by the pull thread. The HTTP stream only sets
 * stop through on_pull_closed. That stays safe because the thread releases the stream, after
 * which on_closed is no longer called, before it frees the job. */
typedef struct {
    atomic_bool stop; /* the client left or the server is stopping */
    im_http_stream_t *stream;
    struct im_engine *engine;
    im_store_t *store;
    json_t *images;
    char *project;
    /* The request's audit fields, copied because the request ends before the pull does. */
    int64_t user_id;
    char *username;
    char *ip_address;
    char *user_agent;
    /* The image being pulled and its progress. */
    const char *image;
    im_pull_progress_t progress;
    im_buf_t pending; /* engine output after the last newline */
} pull_job_t;

static void on_pull_closed(void *ctx)
{
    pull_job_t *job = ctx;
    atomic_store(&job->stop, true);
}

static size_t format_pull_drop_marker(char *buf, size_t size, uint64_t dropped)
{
    int n = snprintf(buf, size, "event: dropped\ndata: {\"dropped\":%llu}\n\n",
                     (unsigned long long)dropped);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* Writes one event; data is stolen. Returns 0, or 1 when the client has gone. */
static int send_event(pull_job_t *job, const char *name, json_t *data)
{
    char *text = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    char *event = im_asprintf("event: %s\ndata: %s\n\n", name, text ? text : "{}");
    int rc = im_http_stream_write(job->stream, event, strlen(event));
    free(event);
    free(text);
    return rc == IM_OK ? 0 : 1;
}

/* Turns each complete line of engine output into a progress event. */
static int pull_data(void *ctx, const char *data, size_t len)
{
    pull_job_t *job = ctx;
    if (atomic_load(&job->stop)) {
        return 1;
    }
    im_buf_append(&job->pending, data, len);
    size_t start = 0;
    for (size_t i = 0; i < job->pending.len; i++) {
        if (job->pending.data[i] != '\n') {
            continue;
        }
        json_t *event =
            im_pull_progress_apply(&job->progress, job->pending.data + start, i - start);
        start = i + 1;
        if (!event) {
            continue;
        }
        json_object_set_new(event, "image", json_string(job->image));
        if (send_event(job, "progress", event)) {
            return 1;
        }
    }
    size_t rest = job->pending.len - start;
    memmove(job->pending.data, job->pending.data + start, rest);
    job->pending.len = rest;
    return 0;
}

static int pull_idle(void *ctx)
{
    pull_job_t *job = ctx;
    if (atomic_load(&job->stop) || !im_http_stream_is_open(job->stream)) {
        return 1;
    }
    if (im_http_stream_idle_ms(job->stream) >= PULL_KEEPALIVE_MS) {
        static const char keepalive[] = ": keepalive\n\n";
        return im_http_stream_write(job->stream, keepalive, strlen(keepalive)) == IM_OK ? 0 : 1;
    }
    return 0;
}

/* Pulls one image and returns its result object, or NULL when the client left. */
static json_t *pull_one(pull_job_t *job, const char *image)
{
    char err[512] = "";
    if (is_image_id(image)) {
        return json_pack("{s:s, s:b, s:s}", "image", image, "success", 0, "message", NOT_PULLABLE);
    }
    char *path = pull_path(image);
    im_engine_stream_callbacks_t cb = {.on_data = pull_data, .on_idle = pull_idle, .ctx = job};

    job->image = image;
    im_pull_progress_init(&job->progress);
    im_buf_reset(&job->pending);
    int rc = im_engine_stream_run(job->engine, "POST", path, NULL, PULL_TIMEOUT_MS, &cb, err,
                                  sizeof(err));
    free(path);
    bool client_left = atomic_load(&job->stop) || !im_http_stream_is_open(job->stream);
    if (rc == IM_ECONFLICT && client_left) {
        im_pull_progress_release(&job->progress);
        return NULL;
    }
    /* A failure can come as a non-2xx reply (err) or inside a 200 stream (progress.error). */
    const char *message = job->progress.error[0] ? job->progress.error : err;
    bool ok = rc == IM_OK && !job->progress.error[0];
    json_t *result = json_pack("{s:s, s:b, s:s}", "image", image, "success", ok, "message",
                               ok ? (job->progress.status[0] ? job->progress.status : "pulled")
                                  : (message[0] ? message : "pull failed"));
    im_pull_progress_release(&job->progress);
    return result;
}

/* Streamed pulls whose thread has not finished yet. */
static atomic_int running_pulls;

static void pull_job_free(pull_job_t *job)
{
    json_decref(job->images);
    im_buf_release(&job->pending);
    free(job->project);
    free(job->username);
    free(job->ip_address);
    free(job->user_agent);
    free(job);
}

static void audit_pull(pull_job_t *job, bool success, const char *error_message)
{
    im_store_audit_event_t event = {
        .user_id = job->user_id,
        .username = job->username,
        .action = "compose.pull",
        .target_type = "compose_project",
        .target_id = job->project,
        .ip_address = job->ip_address,
        .user_agent = job->user_agent,
        .success = success,
        .error_message = error_message,
    };
    if (im_store_audit_insert(job->store, &event) != IM_OK) {
        im_log_error(LOG_MODULE, "cannot record compose.pull of project %s in the audit log",
                     job->project);
    }
}

static void *pull_thread(void *arg)
{
    pull_job_t *job = arg;
    json_t *results = json_array();
    int failed = 0;
    bool left = false;
    size_t i;
    json_t *value;

    json_array_foreach(job->images, i, value)
    {
        json_t *result = pull_one(job, json_string_value(value));
        if (!result) {
            left = true;
            break;
        }
        failed += !json_is_true(json_object_get(result, "success"));
        send_event(job, "result", json_incref(result));
        json_array_append_new(results, result);
    }
    if (left) {
        im_log_info(LOG_MODULE, "pull of compose project %s cancelled: the client left",
                    job->project);
        audit_pull(job, false, "cancelled: the client disconnected");
    } else {
        audit_pull(job, failed == 0, failed ? "one or more images failed" : NULL);
        send_event(job, "summary",
                   json_pack("{s:b, s:s, s:s, s:i, s:i, s:o}", "success", failed == 0, "project",
                             job->project, "action", "pull", "total", (int)json_array_size(results),
                             "failed", failed, "results", json_incref(results)));
    }
    json_decref(results);
    im_http_stream_end(job->stream);
    im_http_stream_release(job->stream);
    pull_job_free(job);
    atomic_fetch_sub(&running_pulls, 1);
    return NULL;
}

static bool wants_event_stream(im_request_t *req)
{
    const char *accept = im_req_header(req, "Accept");
    return accept && strstr(accept, "text/event-stream");
}

/* Responds with a text/event-stream of progress, result and summary events and pulls the
 * images on a thread of its own, so no HTTP worker waits for the engine. images is stolen. */
static void stream_pull(im_request_t *req, json_t *images, const char *project)
{
    if (atomic_fetch_add(&running_pulls, 1) >= MAX_STREAMED_PULLS) {
        atomic_fetch_sub(&running_pulls, 1);
        json_decref(images);
        im_api_audit(req, "compose.pull", "compose_project", project, false,
                     "too many streamed pulls running");
        im_resp_header(req, "Retry-After", "5");
        im_resp_error(req, 503, "too many streamed pulls are running (%d); retry in 5 s",
                      MAX_STREAMED_PULLS);
        return;
    }
    const im_principal_t *who = im_req_principal(req);
    const char *user_agent = im_req_user_agent(req);
    pull_job_t *job = im_calloc(1, sizeof(*job));
    atomic_init(&job->stop, false);
    job->engine = im_req_app(req)->engine;
    job->store = im_req_app(req)->store;
    job->images = images;
    job->project = im_strdup(project);
    job->user_id = who ? who->user_id : 0;
    job->username = who ? im_strdup(who->username) : NULL;
    job->ip_address = im_req_client_ip(req) ? im_strdup(im_req_client_ip(req)) : NULL;
    job->user_agent = user_agent ? im_strdup(user_agent) : NULL;
    im_buf_init(&job->pending);

    im_http_stream_options_t opts = {
        .content_type = "text/event-stream",
        .policy = IM_HTTP_STREAM_DROP_OLDEST,
        .max_queued = PULL_QUEUE_MAX,
        .format_drop_marker = format_pull_drop_marker,
        .on_closed = on_pull_closed,
        .ctx = job,
    };
    im_resp_header(req, "X-Accel-Buffering", "no");
    job->stream = im_http_stream_respond(req, &opts);
    static const char hello[] = ": stream open\n\n";
    (void)im_http_stream_write(job->stream, hello, strlen(hello));

    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&thread, &attr, pull_thread, job);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        im_log_error(LOG_MODULE, "cannot start the pull thread of project %s: %s", project,
                     strerror(rc));
        send_event(job, "error", json_pack("{s:s}", "message", "cannot start the pull"));
        im_http_stream_end(job->stream);
        im_http_stream_release(job->stream);
        pull_job_free(job);
        atomic_fetch_sub(&running_pulls, 1);
    }
}

/* Project actions running on their HTTP worker now: start, stop, restart, and pulls without
 * Accept: text/event-stream. Each keeps its worker busy until it ends (a stop waits up to
 * 10 s per container, a pull up to PULL_TIMEOUT_MS per image), and a worker also serves the
 * other connections assigned to it. */
static atomic_int running_worker_actions;

/* Takes a place for a project action on this worker, leaving at least half of the HTTP
 * workers free (one action at least, so HTTP_THREADS=1 still allows one). Returns false
 * after sending 503. */
static bool enter_worker_action(im_request_t *req, const char *project, const char *action)
{
    int limit = im_config_http_threads(im_req_app(req)->config) / 2;
    if (limit < 1) {
        limit = 1;
    }
    if (atomic_fetch_add(&running_worker_actions, 1) < limit) {
        return true;
    }
    atomic_fetch_sub(&running_worker_actions, 1);
    char audit_action[32];
    snprintf(audit_action, sizeof(audit_action), "compose.%s", action);
    im_api_audit(req, audit_action, "compose_project", project, false,
                 "too many project actions holding HTTP workers");
    im_resp_header(req, "Retry-After", "5");
    im_resp_error(req, 503,
                  "%d compose project actions are running, each holding an HTTP worker; retry in "
                  "5 s%s",
                  limit,
                  strcmp(action, "pull") == 0
                      ? ", or send Accept: text/event-stream to stream the pull on its own thread"
                      : "");
    return false;
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
    if (strcmp(action, "pull") == 0 && wants_event_stream(req)) {
        stream_pull(req, project_images(im_req_app(req)->engine, items, name), name);
        goto out;
    }
    if (!enter_worker_action(req, name, action)) {
        goto out;
    }
    json_t *results = json_array();
    int failed = 0;
    if (strcmp(action, "pull") == 0) {
        json_t *images = project_images(im_req_app(req)->engine, items, name);
        pull_images(req, images, results, &failed);
        json_decref(images);
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
    atomic_fetch_sub(&running_worker_actions, 1);
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
