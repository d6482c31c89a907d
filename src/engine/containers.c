#include "engine/containers.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/engine.h"

#define LOG_MODULE "engine"

#define LABEL_COMPOSE_PROJECT     "com.docker.compose.project"
#define LABEL_COMPOSE_SERVICE     "com.docker.compose.service"
#define LABEL_COMPOSE_FILES       "com.docker.compose.project.config_files"
#define LABEL_COMPOSE_WORKING_DIR "com.docker.compose.project.working_dir"

#define SHORT_ID_LEN         12
#define PRUNE_TIMEOUT_MS     300000L
#define STOP_GRACE_MS        30000L
#define DEFAULT_STOP_WAIT_S  60L
#define CPU_QUOTA_MIN        1000
#define CPU_QUOTA_MAX        1000000000
#define RESTART_RETRIES_MAX  1000000
#define PRUNE_LABEL_MAX      256
#define AMBIGUOUS_LIST_LIMIT 10

/* ---- small JSON helpers ------------------------------------------------------------------ */

static const char *get_string(json_t *object, const char *key)
{
    return json_string_value(json_object_get(object, key));
}

static json_t *string_or_null(const char *value)
{
    return value ? json_string(value) : json_null();
}

/* Empty strings, which the engine uses for "not set", become null. */
static json_t *nonempty_or_null(const char *value)
{
    return (value && value[0]) ? json_string(value) : json_null();
}

static json_t *integer_or_null(json_t *value)
{
    return json_is_integer(value) ? json_integer(json_integer_value(value)) : json_null();
}

/* Returns a new reference to value, or null when it is missing. */
static json_t *copy_or_null(json_t *value)
{
    return value ? json_incref(value) : json_null();
}

static json_t *object_or_empty(json_t *value)
{
    return json_is_object(value) ? json_deep_copy(value) : json_object();
}

/* Converts the engine's RFC 3339 time (nanoseconds, Z) into ISO-8601 seconds with a Z. The
 * engine writes "0001-01-01T00:00:00Z" for "never", which becomes null. */
static json_t *engine_time(const char *text)
{
    int64_t nanos = 0;
    char iso[32];

    if (!text || !text[0] || im_str_starts_with(text, "0001-01-01")) {
        return json_null();
    }
    if (!im_time_parse_rfc3339(text, &nanos)) {
        return json_null();
    }
    int64_t seconds = nanos / 1000000000;
    if (nanos < 0 && nanos % 1000000000 != 0) {
        seconds--; // floor, for times before 1970
    }
    im_time_iso8601(seconds, iso);
    return json_string(iso);
}

static json_t *unix_time(json_t *value)
{
    char iso[32];

    if (!json_is_integer(value)) {
        return json_null();
    }
    im_time_iso8601(json_integer_value(value), iso);
    return json_string(iso);
}

static const char *strip_slash(const char *name)
{
    return (name && name[0] == '/') ? name + 1 : name;
}

/* ---- mapping: shared parts --------------------------------------------------------------- */

const char *im_container_health_from_status(const char *status_text)
{
    if (!status_text) {
        return NULL;
    }
    if (strstr(status_text, "(unhealthy)")) {
        return "unhealthy";
    }
    if (strstr(status_text, "(healthy)")) {
        return "healthy";
    }
    if (strstr(status_text, "(health: starting)")) {
        return "starting";
    }
    return NULL;
}

bool im_container_env_name_is_secret(const char *name)
{
    static const char *const markers[] = {"PASSWORD", "SECRET", "TOKEN", "KEY"};

    for (size_t i = 0; name && i < IM_ARRAY_LEN(markers); i++) {
        if (strcasestr(name, markers[i])) {
            return true;
        }
    }
    return false;
}

char *im_container_compose_file(json_t *labels)
{
    const char *files = get_string(labels, LABEL_COMPOSE_FILES);
    const char *working_dir = get_string(labels, LABEL_COMPOSE_WORKING_DIR);

    if (!files || !files[0]) {
        return NULL;
    }
    // docker-compose joins several -f files with commas; the first is the main file.
    size_t first_len = strcspn(files, ",");
    char *first = im_strndup(files, first_len);
    if (first[0] == '/' || !working_dir || !working_dir[0]) {
        return first;
    }

    const char *relative = first;
    while (im_str_starts_with(relative, "./")) {
        relative += 2;
    }
    size_t dir_len = strlen(working_dir);
    const char *separator = (dir_len > 0 && working_dir[dir_len - 1] == '/') ? "" : "/";
    char *joined = im_asprintf("%s%s%s", working_dir, separator, relative);
    free(first);
    return joined;
}

static void add_compose_fields(json_t *out, json_t *labels)
{
    char *compose_file = im_container_compose_file(labels);

    json_object_set_new(out, "compose_project",
                        nonempty_or_null(get_string(labels, LABEL_COMPOSE_PROJECT)));
    json_object_set_new(out, "compose_service",
                        nonempty_or_null(get_string(labels, LABEL_COMPOSE_SERVICE)));
    json_object_set_new(out, "compose_file", string_or_null(compose_file));
    free(compose_file);
}

static json_t *make_port(const char *ip, json_t *private_port, json_t *public_port,
                         const char *type)
{
    json_t *port = json_object();

    json_object_set_new(port, "ip", nonempty_or_null(ip));
    json_object_set_new(port, "private_port", private_port);
    json_object_set_new(port, "public_port", public_port);
    json_object_set_new(port, "type", string_or_null(type));
    return port;
}

/* ---- mapping: list items ----------------------------------------------------------------- */

/* Picks the container's own name from Names, skipping link aliases such as "/web/db". */
static const char *list_item_name(json_t *names)
{
    json_t *entry = NULL;
    size_t index = 0;
    const char *fallback = NULL;

    json_array_foreach(names, index, entry)
    {
        const char *name = strip_slash(json_string_value(entry));
        if (!name) {
            continue;
        }
        if (!fallback) {
            fallback = name;
        }
        if (!strchr(name, '/')) {
            return name;
        }
    }
    return fallback;
}

static json_t *map_list_ports(json_t *ports)
{
    json_t *out = json_array();
    json_t *entry = NULL;
    size_t index = 0;

    json_array_foreach(ports, index, entry)
    {
        json_array_append_new(out, make_port(get_string(entry, "IP"),
                                             integer_or_null(json_object_get(entry, "PrivatePort")),
                                             integer_or_null(json_object_get(entry, "PublicPort")),
                                             get_string(entry, "Type")));
    }
    return out;
}

/* Returns image without the default registry prefix, as the docker CLI shows it. Podman
 * (4.3) reports images by their fully qualified name, docker.io/library/busybox:latest,
 * where Docker reports busybox:latest. */
static const char *short_image_name(const char *image)
{
    static const char *const prefixes[] = {"docker.io/library/", "docker.io/"};
    for (size_t i = 0; image && i < IM_ARRAY_LEN(prefixes); i++) {
        if (im_str_starts_with(image, prefixes[i])) {
            return image + strlen(prefixes[i]);
        }
    }
    return image;
}

json_t *im_container_map_list_item(json_t *item)
{
    const char *id = get_string(item, "Id");
    json_t *labels = json_object_get(item, "Labels");

    if (!id || !id[0]) {
        return NULL;
    }

    json_t *out = json_object();
    char *short_id = im_strndup(id, SHORT_ID_LEN);
    const char *state_text = get_string(item, "Status");

    json_object_set_new(out, "container_id", json_string(id));
    json_object_set_new(out, "short_id", json_string(short_id));
    json_object_set_new(out, "name",
                        string_or_null(list_item_name(json_object_get(item, "Names"))));
    json_object_set_new(out, "image", string_or_null(short_image_name(get_string(item, "Image"))));
    json_object_set_new(out, "image_id", string_or_null(get_string(item, "ImageID")));
    json_object_set_new(out, "status", string_or_null(get_string(item, "State")));
    json_object_set_new(out, "state_text", string_or_null(state_text));
    json_object_set_new(out, "health", string_or_null(im_container_health_from_status(state_text)));
    json_object_set_new(out, "created", unix_time(json_object_get(item, "Created")));
    json_object_set_new(out, "ports", map_list_ports(json_object_get(item, "Ports")));
    json_object_set_new(out, "labels", object_or_empty(labels));
    add_compose_fields(out, labels);
    // The API layer fills group_ids from the store's group membership.
    json_object_set_new(out, "group_ids", json_array());
    // The collector fills these from its latest sample.
    json_object_set_new(out, "cpu_usage", json_null());
    json_object_set_new(out, "memory_usage", json_null());
    json_object_set_new(out, "memory_limit", json_null());

    free(short_id);
    return out;
}

/* ---- mapping: detail --------------------------------------------------------------------- */

static json_t *map_environment(json_t *env, bool mask_secrets)
{
    json_t *out = json_array();
    json_t *entry = NULL;
    size_t index = 0;

    json_array_foreach(env, index, entry)
    {
        const char *text = json_string_value(entry);
        if (!text) {
            continue;
        }
        const char *equals = strchr(text, '=');
        size_t name_len = equals ? (size_t)(equals - text) : strlen(text);
        char *name = im_strndup(text, name_len);
        const char *value = equals ? equals + 1 : "";
        if (mask_secrets && im_container_env_name_is_secret(name)) {
            value = IM_CONTAINER_MASK;
        }

        json_t *variable = json_object();
        json_object_set_new(variable, "name", json_string(name));
        json_object_set_new(variable, "value", json_string(value));
        json_array_append_new(out, variable);
        free(name);
    }
    return out;
}

/* Parses a port key such as "80/tcp" into a number and a protocol. */
static json_t *parse_port_key(const char *key, const char **type)
{
    int64_t number = 0;
    const char *slash = strchr(key, '/');
    char digits[8] = "";
    size_t len = slash ? (size_t)(slash - key) : strlen(key);

    *type = slash ? slash + 1 : "tcp";
    if (len == 0 || len >= sizeof(digits)) {
        return json_null();
    }
    memcpy(digits, key, len);
    if (!im_parse_int64(digits, 0, 65535, &number)) {
        return json_null();
    }
    return json_integer(number);
}

static json_t *host_port(const char *text)
{
    int64_t number = 0;

    if (!text || !im_parse_int64(text, 0, 65535, &number)) {
        return json_null();
    }
    return json_integer(number);
}

/* Maps a {"80/tcp": [{HostIp, HostPort}] | null} object, as found in NetworkSettings.Ports
 * and HostConfig.PortBindings. An exposed port without bindings gives one entry with a null
 * ip and public_port. */
static json_t *map_port_map(json_t *ports)
{
    json_t *out = json_array();
    const char *key = NULL;
    json_t *bindings = NULL;

    json_object_foreach(ports, key, bindings)
    {
        const char *type = NULL;
        json_t *private_port = parse_port_key(key, &type);
        if (json_array_size(bindings) == 0) {
            json_array_append_new(out, make_port(NULL, private_port, json_null(), type));
            continue;
        }
        json_t *binding = NULL;
        size_t index = 0;
        json_array_foreach(bindings, index, binding)
        {
            json_array_append_new(out,
                                  make_port(get_string(binding, "HostIp"), json_copy(private_port),
                                            host_port(get_string(binding, "HostPort")), type));
        }
        json_decref(private_port);
    }
    return out;
}

/* A running container's ports come from NetworkSettings; a stopped one has none there, so
 * its configured bindings are shown instead. */
static json_t *map_detail_ports(json_t *inspect)
{
    json_t *runtime = json_object_get(json_object_get(inspect, "NetworkSettings"), "Ports");

    if (json_object_size(runtime) > 0) {
        return map_port_map(runtime);
    }
    return map_port_map(json_object_get(json_object_get(inspect, "HostConfig"), "PortBindings"));
}

static json_t *map_mounts(json_t *mounts)
{
    json_t *out = json_array();
    json_t *entry = NULL;
    size_t index = 0;

    json_array_foreach(mounts, index, entry)
    {
        json_t *mount = json_object();
        json_object_set_new(mount, "type", string_or_null(get_string(entry, "Type")));
        json_object_set_new(mount, "name", nonempty_or_null(get_string(entry, "Name")));
        json_object_set_new(mount, "source", string_or_null(get_string(entry, "Source")));
        json_object_set_new(mount, "destination", string_or_null(get_string(entry, "Destination")));
        json_object_set_new(mount, "mode", string_or_null(get_string(entry, "Mode")));
        json_object_set_new(mount, "rw", json_boolean(json_is_true(json_object_get(entry, "RW"))));
        json_array_append_new(out, mount);
    }
    return out;
}

static json_t *map_networks(json_t *networks)
{
    json_t *out = json_array();
    const char *name = NULL;
    json_t *settings = NULL;

    json_object_foreach(networks, name, settings)
    {
        json_t *network = json_object();
        json_object_set_new(network, "name", json_string(name));
        json_object_set_new(network, "ip_address",
                            nonempty_or_null(get_string(settings, "IPAddress")));
        json_object_set_new(network, "gateway", nonempty_or_null(get_string(settings, "Gateway")));
        json_object_set_new(network, "mac_address",
                            nonempty_or_null(get_string(settings, "MacAddress")));
        json_array_append_new(out, network);
    }
    return out;
}

/* The engine gives health-check durations in nanoseconds, 0 meaning its default. */
static json_t *duration_seconds(json_t *nanos)
{
    if (!json_is_integer(nanos) || json_integer_value(nanos) <= 0) {
        return json_null();
    }
    return json_real((double)json_integer_value(nanos) / 1e9);
}

static json_t *map_health_log(json_t *log)
{
    json_t *out = json_array();
    json_t *entry = NULL;
    size_t index = 0;

    json_array_foreach(log, index, entry)
    {
        json_t *probe = json_object();
        json_object_set_new(probe, "start", engine_time(get_string(entry, "Start")));
        json_object_set_new(probe, "end", engine_time(get_string(entry, "End")));
        json_object_set_new(probe, "exit_code",
                            integer_or_null(json_object_get(entry, "ExitCode")));
        json_object_set_new(probe, "output", string_or_null(get_string(entry, "Output")));
        json_array_append_new(out, probe);
    }
    return out;
}

/* Combines the configured check (Config.Healthcheck) with its latest results (State.Health).
 * Returns null when the container has no health check or disables it with ["NONE"]. */
static json_t *map_healthcheck(json_t *config, json_t *state)
{
    json_t *test = json_object_get(config, "Test");
    json_t *health = json_object_get(state, "Health");
    const char *first = json_string_value(json_array_get(test, 0));

    if ((!json_is_array(test) || (first && strcmp(first, "NONE") == 0)) && !health) {
        return json_null();
    }

    json_t *out = json_object();
    json_object_set_new(out, "test", copy_or_null(json_is_array(test) ? test : NULL));
    json_object_set_new(out, "interval_seconds",
                        duration_seconds(json_object_get(config, "Interval")));
    json_object_set_new(out, "timeout_seconds",
                        duration_seconds(json_object_get(config, "Timeout")));
    json_object_set_new(out, "start_period_seconds",
                        duration_seconds(json_object_get(config, "StartPeriod")));
    json_object_set_new(out, "retries", integer_or_null(json_object_get(config, "Retries")));
    json_object_set_new(out, "status", nonempty_or_null(get_string(health, "Status")));
    json_object_set_new(out, "failing_streak",
                        integer_or_null(json_object_get(health, "FailingStreak")));
    json_object_set_new(out, "log", map_health_log(json_object_get(health, "Log")));
    return out;
}

static json_t *map_restart_policy(json_t *policy)
{
    json_t *out = json_object();

    json_object_set_new(out, "name", nonempty_or_null(get_string(policy, "Name")));
    json_object_set_new(out, "maximum_retry_count",
                        integer_or_null(json_object_get(policy, "MaximumRetryCount")));
    return out;
}

static json_t *detail_health(json_t *state)
{
    const char *status = get_string(json_object_get(state, "Health"), "Status");

    if (!status || strcmp(status, "none") == 0 || !status[0]) {
        return json_null();
    }
    return json_string(status);
}

static void add_detail_state(json_t *out, json_t *inspect)
{
    json_t *state = json_object_get(inspect, "State");

    json_object_set_new(out, "status", string_or_null(get_string(state, "Status")));
    json_object_set_new(out, "health", detail_health(state));
    json_object_set_new(out, "created", engine_time(get_string(inspect, "Created")));
    json_object_set_new(out, "started_at", engine_time(get_string(state, "StartedAt")));
    json_object_set_new(out, "finished_at", engine_time(get_string(state, "FinishedAt")));
    json_object_set_new(out, "exit_code", integer_or_null(json_object_get(state, "ExitCode")));
    json_object_set_new(out, "restart_count",
                        integer_or_null(json_object_get(inspect, "RestartCount")));
    json_object_set_new(out, "oom_killed",
                        json_boolean(json_is_true(json_object_get(state, "OOMKilled"))));
    json_object_set_new(out, "pid", integer_or_null(json_object_get(state, "Pid")));
}

static void add_detail_config(json_t *out, json_t *config, bool mask_secrets)
{
    json_object_set_new(out, "image",
                        string_or_null(short_image_name(get_string(config, "Image"))));
    json_object_set_new(out, "command", copy_or_null(json_object_get(config, "Cmd")));
    json_object_set_new(out, "entrypoint", copy_or_null(json_object_get(config, "Entrypoint")));
    json_object_set_new(out, "working_dir", nonempty_or_null(get_string(config, "WorkingDir")));
    json_object_set_new(out, "user", nonempty_or_null(get_string(config, "User")));
    json_object_set_new(out, "hostname", nonempty_or_null(get_string(config, "Hostname")));
    json_object_set_new(out, "tty", json_boolean(json_is_true(json_object_get(config, "Tty"))));
    json_object_set_new(out, "open_stdin",
                        json_boolean(json_is_true(json_object_get(config, "OpenStdin"))));
    json_object_set_new(out, "environment",
                        map_environment(json_object_get(config, "Env"), mask_secrets));
    json_object_set_new(out, "labels", object_or_empty(json_object_get(config, "Labels")));
}

static void add_detail_resources(json_t *out, json_t *host_config)
{
    json_object_set_new(out, "restart_policy",
                        map_restart_policy(json_object_get(host_config, "RestartPolicy")));
    json_object_set_new(out, "memory_limit",
                        integer_or_null(json_object_get(host_config, "Memory")));
    json_object_set_new(out, "memory_swap",
                        integer_or_null(json_object_get(host_config, "MemorySwap")));
    json_object_set_new(out, "cpu_shares",
                        integer_or_null(json_object_get(host_config, "CpuShares")));
    json_object_set_new(out, "cpu_period",
                        integer_or_null(json_object_get(host_config, "CpuPeriod")));
    json_object_set_new(out, "cpu_quota",
                        integer_or_null(json_object_get(host_config, "CpuQuota")));
}

json_t *im_container_map_detail(json_t *inspect, bool mask_secrets)
{
    const char *id = get_string(inspect, "Id");
    json_t *config = json_object_get(inspect, "Config");

    if (!id || !id[0]) {
        return NULL;
    }

    json_t *out = json_object();
    char *short_id = im_strndup(id, SHORT_ID_LEN);

    json_object_set_new(out, "container_id", json_string(id));
    json_object_set_new(out, "short_id", json_string(short_id));
    json_object_set_new(out, "name", string_or_null(strip_slash(get_string(inspect, "Name"))));
    json_object_set_new(out, "image_id", string_or_null(get_string(inspect, "Image")));
    add_detail_state(out, inspect);
    add_detail_config(out, config, mask_secrets);
    add_detail_resources(out, json_object_get(inspect, "HostConfig"));
    json_object_set_new(out, "ports", map_detail_ports(inspect));
    json_object_set_new(out, "mounts", map_mounts(json_object_get(inspect, "Mounts")));
    json_object_set_new(
        out, "networks",
        map_networks(json_object_get(json_object_get(inspect, "NetworkSettings"), "Networks")));
    json_object_set_new(
        out, "healthcheck",
        map_healthcheck(json_object_get(config, "Healthcheck"), json_object_get(inspect, "State")));
    add_compose_fields(out, json_object_get(config, "Labels"));
    // The API layer fills group_ids from the store's group membership.
    json_object_set_new(out, "group_ids", json_array());

    free(short_id);
    return out;
}

json_t *im_container_mask_inspect(json_t *inspect)
{
    json_t *copy = json_deep_copy(inspect);
    json_t *env = json_object_get(json_object_get(copy, "Config"), "Env");
    json_t *entry = NULL;
    size_t index = 0;

    json_array_foreach(env, index, entry)
    {
        const char *text = json_string_value(entry);
        const char *equals = text ? strchr(text, '=') : NULL;
        if (!equals) {
            continue;
        }
        char *name = im_strndup(text, (size_t)(equals - text));
        if (im_container_env_name_is_secret(name)) {
            char *masked = im_asprintf("%s=%s", name, IM_CONTAINER_MASK);
            json_array_set_new(env, index, json_string(masked));
            free(masked);
        }
        free(name);
    }
    return copy;
}

json_t *im_container_map_diff(const char *container_id, json_t *changes)
{
    static const char *const kinds[] = {"modified", "added", "deleted"};
    json_t *out = json_object();
    json_t *list = json_array();
    json_t *entry = NULL;
    size_t index = 0;

    json_array_foreach(changes, index, entry)
    {
        json_t *kind = json_object_get(entry, "Kind");
        json_int_t kind_value = json_is_integer(kind) ? json_integer_value(kind) : -1;
        const char *change = "unknown";
        if (kind_value >= 0 && kind_value < (json_int_t)IM_ARRAY_LEN(kinds)) {
            change = kinds[kind_value];
        }

        json_t *item = json_object();
        json_object_set_new(item, "path", string_or_null(get_string(entry, "Path")));
        json_object_set_new(item, "kind", integer_or_null(kind));
        json_object_set_new(item, "change", json_string(change));
        json_array_append_new(list, item);
    }
    json_object_set_new(out, "container_id", json_string(container_id));
    json_object_set_new(out, "changes", list);
    return out;
}

/* ---- input checks ------------------------------------------------------------------------ */

static bool is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

bool im_container_ref_is_valid(const char *ref)
{
    size_t len = ref ? strlen(ref) : 0;

    if (len == 0 || len > IM_CONTAINER_REF_MAX || ref[0] == '.' || ref[0] == '-') {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_name_char(ref[i])) {
            return false;
        }
    }
    return true;
}

bool im_container_name_is_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;

    if (len == 0 || len > IM_CONTAINER_REF_MAX || !isalnum((unsigned char)name[0])) {
        return false;
    }
    for (size_t i = 1; i < len; i++) {
        if (!is_name_char(name[i])) {
            return false;
        }
    }
    return true;
}

static bool is_hex(const char *text)
{
    if (!text || !text[0]) {
        return false;
    }
    for (const char *p = text; *p; p++) {
        if (!isxdigit((unsigned char)*p)) {
            return false;
        }
    }
    return true;
}

/* Real-time signals: RTMIN, RTMIN+1..RTMIN+15, RTMAX-14..RTMAX-1 and RTMAX, as the engine
 * names them on Linux. */
static bool is_realtime_signal(const char *name)
{
    int64_t offset = 0;

    if (strcmp(name, "RTMIN") == 0 || strcmp(name, "RTMAX") == 0) {
        return true;
    }
    if (im_str_starts_with(name, "RTMIN+")) {
        return im_parse_int64(name + 6, 1, 15, &offset);
    }
    if (im_str_starts_with(name, "RTMAX-")) {
        return im_parse_int64(name + 6, 1, 14, &offset);
    }
    return false;
}

bool im_container_signal_normalize(const char *signal, char out[16])
{
    static const char *const names[] = {
        "ABRT", "ALRM",   "BUS",  "CHLD",   "CLD",   "CONT", "FPE",  "HUP",  "ILL",
        "INT",  "IO",     "IOT",  "KILL",   "PIPE",  "POLL", "PROF", "PWR",  "QUIT",
        "SEGV", "STKFLT", "STOP", "SYS",    "TERM",  "TRAP", "TSTP", "TTIN", "TTOU",
        "URG",  "USR1",   "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    };
    char upper[16];
    int64_t number = 0;
    size_t len = signal ? strlen(signal) : 0;

    if (len == 0 || len >= sizeof(upper)) {
        return false;
    }
    if (im_parse_int64(signal, 1, 64, &number)) {
        snprintf(out, 16, "%d", (int)number);
        return true;
    }
    for (size_t i = 0; i <= len; i++) {
        upper[i] = (char)toupper((unsigned char)signal[i]);
    }
    const char *name = im_str_starts_with(upper, "SIG") ? upper + 3 : upper;
    bool known = is_realtime_signal(name);
    for (size_t i = 0; !known && i < IM_ARRAY_LEN(names); i++) {
        known = strcmp(name, names[i]) == 0;
    }
    if (!known) {
        return false;
    }
    snprintf(out, 16, "SIG%.12s", name); // the longest name is RTMIN+15
    return true;
}

/* ---- listing and filtering --------------------------------------------------------------- */

static bool is_stopped_state(const char *status)
{
    return status && (strcmp(status, "exited") == 0 || strcmp(status, "created") == 0 ||
                      strcmp(status, "dead") == 0);
}

bool im_container_status_filter_is_valid(const char *status)
{
    static const char *const states[] = {"running", "exited",   "paused", "restarting",
                                         "created", "removing", "dead",   "stopped"};

    for (size_t i = 0; status && i < IM_ARRAY_LEN(states); i++) {
        if (strcmp(status, states[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool field_contains(json_t *item, const char *key, const char *needle)
{
    const char *value = get_string(item, key);

    return value && strcasestr(value, needle);
}

static bool matches_search(json_t *item, const char *search)
{
    static const char *const fields[] = {"name", "image", "container_id", "compose_project",
                                         "compose_service"};

    for (size_t i = 0; i < IM_ARRAY_LEN(fields); i++) {
        if (field_contains(item, fields[i], search)) {
            return true;
        }
    }
    return false;
}

static bool in_group(json_t *item, int64_t group_id)
{
    json_t *entry = NULL;
    size_t index = 0;

    json_array_foreach(json_object_get(item, "group_ids"), index, entry)
    {
        if (json_is_integer(entry) && json_integer_value(entry) == group_id) {
            return true;
        }
    }
    return false;
}

bool im_container_matches(json_t *item, const im_container_filter_t *filter)
{
    const char *status = get_string(item, "status");

    if (filter->status && filter->status[0]) {
        bool wanted = strcmp(filter->status, "stopped") == 0
                          ? is_stopped_state(status)
                          : (status && strcmp(status, filter->status) == 0);
        if (!wanted) {
            return false;
        }
    }
    if (filter->search && filter->search[0] && !matches_search(item, filter->search)) {
        return false;
    }
    if (filter->compose_project && filter->compose_project[0]) {
        const char *project = get_string(item, "compose_project");
        if (!project || strcmp(project, filter->compose_project) != 0) {
            return false;
        }
    }
    if (filter->has_group_id && !in_group(item, filter->group_id)) {
        return false;
    }
    return true;
}

int im_container_list(struct im_engine *e, bool all, json_t **out, char *err, size_t errlen)
{
    json_t *raw = NULL;
    json_t *entry = NULL;
    size_t index = 0;
    int rc = im_engine_get_json(e, all ? "/containers/json?all=1" : "/containers/json", &raw, err,
                                errlen);

    *out = NULL;
    if (rc) {
        return rc;
    }
    if (!json_is_array(raw)) {
        snprintf(err, errlen, "the engine's container list is not a JSON array");
        json_decref(raw);
        return IM_EUPSTREAM;
    }

    json_t *items = json_array();
    json_array_foreach(raw, index, entry)
    {
        json_t *item = im_container_map_list_item(entry);
        if (item) {
            json_array_append_new(items, item);
        }
    }
    json_decref(raw);
    *out = items;
    return IM_OK;
}

/* ---- resolution -------------------------------------------------------------------------- */

/* Checks that the container the engine resolved ref to is one InfraMon's rules allow: the
 * engine also accepts id prefixes shorter than IM_CONTAINER_PREFIX_MIN. */
static bool is_acceptable_match(const char *ref, json_t *inspect)
{
    const char *id = get_string(inspect, "Id");
    const char *name = strip_slash(get_string(inspect, "Name"));

    if (!id) {
        return false;
    }
    if (name && strcmp(name, ref) == 0) {
        return true;
    }
    return strlen(ref) >= IM_CONTAINER_PREFIX_MIN && strncmp(id, ref, strlen(ref)) == 0;
}

static void describe_matches(json_t *list, const char *prefix, im_buf_t *text, size_t *count,
                             const char **only_id)
{
    json_t *entry = NULL;
    size_t index = 0;

    json_array_foreach(list, index, entry)
    {
        const char *id = get_string(entry, "Id");
        if (!id || strncmp(id, prefix, strlen(prefix)) != 0) {
            continue;
        }
        (*count)++;
        *only_id = id;
        if (*count > AMBIGUOUS_LIST_LIMIT) {
            continue;
        }
        const char *name = list_item_name(json_object_get(entry, "Names"));
        im_buf_appendf(text, "%s%.12s (%s)", *count > 1 ? ", " : "", id, name ? name : "unnamed");
    }
}

/* Resolves an id prefix from the full list, after the engine failed to (it reports an
 * ambiguous prefix as a server error). */
static int resolve_prefix_from_list(struct im_engine *e, const char *prefix,
                                    char full_id[IM_CONTAINER_ID_SIZE], char *err, size_t errlen)
{
    json_t *list = NULL;
    im_buf_t matches;
    size_t count = 0;
    const char *only_id = NULL;
    int rc = im_engine_get_json(e, "/containers/json?all=1", &list, err, errlen);

    im_buf_init(&matches);
    if (rc) {
        goto out;
    }
    describe_matches(list, prefix, &matches, &count, &only_id);
    if (count == 0) {
        snprintf(err, errlen, "container \"%s\" not found", prefix);
        rc = IM_ENOTFOUND;
    } else if (count > 1) {
        snprintf(err, errlen,
                 "container id prefix \"%s\" is ambiguous: it matches %zu containers: %s%s; "
                 "give more digits or the name",
                 prefix, count, matches.data, count > AMBIGUOUS_LIST_LIMIT ? ", ..." : "");
        rc = IM_ECONFLICT;
    } else {
        im_strlcpy(full_id, only_id, IM_CONTAINER_ID_SIZE);
    }

out:
    im_buf_release(&matches);
    json_decref(list);
    return rc;
}

static int fetch_inspect(struct im_engine *e, const char *ref, im_engine_reply_t *reply, char *err,
                         size_t errlen)
{
    char *path = im_asprintf("/containers/%s/json", ref); // ref is URL-safe after the check
    int rc = im_engine_request(e, "GET", path, NULL, reply, err, errlen);

    free(path);
    return rc;
}

static int parse_inspect(const im_engine_reply_t *reply, json_t **out, char *err, size_t errlen)
{
    *out = im_engine_reply_json(reply);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        snprintf(err, errlen, "the engine's inspect reply is not a JSON object");
        return IM_EUPSTREAM;
    }
    return IM_OK;
}

int im_container_inspect(struct im_engine *e, const char *ref, json_t **out, char *err,
                         size_t errlen)
{
    int rc = IM_OK;
    im_engine_reply_t reply;
    char full_id[IM_CONTAINER_ID_SIZE] = "";
    const char *bare = strip_slash(ref);

    *out = NULL;
    im_engine_reply_init(&reply);
    if (!im_container_ref_is_valid(bare)) {
        snprintf(err, errlen,
                 "invalid container reference \"%.140s\": use a name, a full id or an id prefix "
                 "of at least %d hex digits (1 to %d characters of A-Z a-z 0-9 _ . -, not "
                 "starting with . or -)",
                 ref ? ref : "", IM_CONTAINER_PREFIX_MIN, IM_CONTAINER_REF_MAX);
        rc = IM_EINVAL;
        goto out;
    }

    rc = fetch_inspect(e, bare, &reply, err, errlen);
    if (rc) {
        goto out;
    }
    if (reply.status == 200) {
        rc = parse_inspect(&reply, out, err, errlen);
        if (rc == IM_OK && !is_acceptable_match(bare, *out)) {
            json_decref(*out);
            *out = NULL;
            snprintf(err, errlen,
                     "container \"%s\" not found (an id prefix needs at least %d hex digits)", bare,
                     IM_CONTAINER_PREFIX_MIN);
            rc = IM_ENOTFOUND;
        }
        goto out;
    }
    if (reply.status == 404) {
        snprintf(err, errlen, "container \"%s\" not found", bare);
        rc = IM_ENOTFOUND;
        goto out;
    }
    if (is_hex(bare) && strlen(bare) < IM_CONTAINER_PREFIX_MIN) {
        // The engine tried it as an id prefix (and found several); InfraMon does not.
        snprintf(err, errlen,
                 "container \"%s\" not found (an id prefix needs at least %d hex digits)", bare,
                 IM_CONTAINER_PREFIX_MIN);
        rc = IM_ENOTFOUND;
        goto out;
    }
    if (!is_hex(bare)) {
        rc = im_engine_reply_rc(&reply, err, errlen);
        goto out;
    }

    // Most likely an ambiguous prefix: find out from the list which containers it matches.
    rc = resolve_prefix_from_list(e, bare, full_id, err, errlen);
    if (rc) {
        goto out;
    }
    rc = fetch_inspect(e, full_id, &reply, err, errlen);
    if (rc) {
        goto out;
    }
    rc = im_engine_reply_rc(&reply, err, errlen);
    if (rc == IM_OK) {
        rc = parse_inspect(&reply, out, err, errlen);
    }

out:
    im_engine_reply_release(&reply);
    return rc;
}

int im_container_resolve(struct im_engine *e, const char *ref,
                         char out_full_id[IM_CONTAINER_ID_SIZE],
                         char out_name[IM_CONTAINER_NAME_SIZE], char *err, size_t errlen)
{
    json_t *inspect = NULL;
    int rc = im_container_inspect(e, ref, &inspect, err, errlen);

    if (rc) {
        return rc;
    }
    const char *id = get_string(inspect, "Id");
    const char *name = strip_slash(get_string(inspect, "Name"));
    im_strlcpy(out_full_id, id ? id : "", IM_CONTAINER_ID_SIZE);
    im_strlcpy(out_name, name ? name : out_full_id, IM_CONTAINER_NAME_SIZE);
    json_decref(inspect);
    return IM_OK;
}

/* ---- actions ----------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *past;
} action_info_t;

static const action_info_t action_table[] = {
    [IM_CONTAINER_START] = {"start", "started"},       [IM_CONTAINER_STOP] = {"stop", "stopped"},
    [IM_CONTAINER_RESTART] = {"restart", "restarted"}, [IM_CONTAINER_PAUSE] = {"pause", "paused"},
    [IM_CONTAINER_UNPAUSE] = {"unpause", "unpaused"},  [IM_CONTAINER_KILL] = {"kill", "killed"},
    [IM_CONTAINER_REMOVE] = {"remove", "removed"},
};

const char *im_container_action_name(im_container_action_t action)
{
    return (size_t)action < IM_ARRAY_LEN(action_table) ? action_table[action].name : "unknown";
}

const char *im_container_action_past(im_container_action_t action)
{
    return (size_t)action < IM_ARRAY_LEN(action_table) ? action_table[action].past : "unknown";
}

bool im_container_action_parse(const char *name, im_container_action_t *out)
{
    for (size_t i = 0; name && i < IM_ARRAY_LEN(action_table); i++) {
        if (strcmp(name, action_table[i].name) == 0) {
            *out = (im_container_action_t)i;
            return true;
        }
    }
    return false;
}

/* Copies text into out with every occurrence of needle replaced by replacement. */
static void replace_all(const char *text, const char *needle, const char *replacement, char *out,
                        size_t outlen)
{
    im_buf_t buf;
    size_t needle_len = strlen(needle);

    im_buf_init(&buf);
    im_buf_append(&buf, "", 0);
    while (needle_len > 0 && *text) {
        const char *hit = strstr(text, needle);
        if (!hit) {
            break;
        }
        im_buf_append(&buf, text, (size_t)(hit - text));
        im_buf_append(&buf, replacement, strlen(replacement));
        text = hit + needle_len;
    }
    im_buf_append(&buf, text, strlen(text));
    im_strlcpy(out, buf.data, outlen);
    im_buf_release(&buf);
}

/* Engine messages that mean "the container's state forbids this", whatever the HTTP status.
 * Docker 20.10 returns a 500 for unpause of a running container, for example. */
static const struct {
    const char *engine_text;
    const char *state; /* completes "container NAME ..." */
} state_conflicts[] = {
    {"is not running", "is not running"}, {"is already paused", "is already paused"},
    {"is not paused", "is not paused"},   {"paused container", "is paused; unpause it first"},
    {"is restarting", "is restarting"},
};

/* Turns a failed action reply into a status code and a message naming the container. */
static int action_failure(im_container_action_t action, const char *id, const char *name,
                          const im_engine_reply_t *reply, char *err, size_t errlen)
{
    char message[512];
    char readable[512];

    if (reply->status == 304) {
        const char *state = action == IM_CONTAINER_STOP ? "not running" : "already running";
        snprintf(err, errlen, "container %s is %s", name, state);
        return IM_ECONFLICT;
    }

    int rc = im_engine_reply_rc(reply, message, sizeof(message));
    for (size_t i = 0; i < IM_ARRAY_LEN(state_conflicts); i++) {
        if (strstr(message, state_conflicts[i].engine_text)) {
            snprintf(err, errlen, "container %s %s", name, state_conflicts[i].state);
            return IM_ECONFLICT;
        }
    }
    if (rc == IM_ENOTFOUND) {
        snprintf(err, errlen, "container %s not found", name);
        return rc;
    }
    // Engine messages name the full id; the name reads better.
    replace_all(message, id, name, readable, sizeof(readable));
    snprintf(err, errlen, "failed to %s container %s: %s", im_container_action_name(action), name,
             readable);
    return rc;
}

static long wait_timeout_ms(const im_container_action_options_t *opts)
{
    long wait_s = (opts && opts->timeout >= 0) ? opts->timeout : DEFAULT_STOP_WAIT_S;

    // NOTE: with no timeout given, the engine uses the container's own StopTimeout, which
    // may exceed DEFAULT_STOP_WAIT_S; the request then times out while the stop goes on.
    return wait_s * 1000 + STOP_GRACE_MS;
}

/* Builds the method, path and timeout of an action; IM_EINVAL for an invalid option. */
static int build_action_request(const char *id, im_container_action_t action,
                                const im_container_action_options_t *opts, const char **method,
                                im_buf_t *path, long *timeout_ms, char *err, size_t errlen)
{
    char signal[16] = "SIGKILL";

    *method = "POST";
    *timeout_ms = IM_ENGINE_DEFAULT_TIMEOUT_MS;
    im_buf_appendf(path, "/containers/%s", id);

    switch (action) {
    case IM_CONTAINER_STOP:
    case IM_CONTAINER_RESTART:
        if (opts && (opts->timeout < -1 || opts->timeout > IM_CONTAINER_STOP_TIMEOUT_MAX)) {
            snprintf(err, errlen, "invalid timeout %d: expected 0 to %d seconds", opts->timeout,
                     IM_CONTAINER_STOP_TIMEOUT_MAX);
            return IM_EINVAL;
        }
        im_buf_appendf(path, "/%s", im_container_action_name(action));
        if (opts && opts->timeout >= 0) {
            im_buf_appendf(path, "?t=%d", opts->timeout);
        }
        *timeout_ms = wait_timeout_ms(opts);
        return IM_OK;
    case IM_CONTAINER_KILL:
        if (opts && opts->signal && !im_container_signal_normalize(opts->signal, signal)) {
            snprintf(err, errlen,
                     "invalid signal \"%.32s\": expected a signal name such as SIGTERM or TERM, "
                     "or a number from 1 to 64",
                     opts->signal);
            return IM_EINVAL;
        }
        im_buf_appendf(path, "/kill?signal=%s", signal);
        return IM_OK;
    case IM_CONTAINER_REMOVE:
        *method = "DELETE";
        im_buf_appendf(path, "?force=%d&v=%d", opts && opts->force, opts && opts->volumes);
        return IM_OK;
    case IM_CONTAINER_START:
    case IM_CONTAINER_PAUSE:
    case IM_CONTAINER_UNPAUSE:
        im_buf_appendf(path, "/%s", im_container_action_name(action));
        return IM_OK;
    }
    snprintf(err, errlen, "unknown container action %d", (int)action);
    return IM_EINVAL;
}

int im_container_action(struct im_engine *e, const char *id, const char *name,
                        im_container_action_t action, const im_container_action_options_t *opts,
                        char *err, size_t errlen)
{
    int rc = IM_OK;
    const char *method = NULL;
    long timeout_ms = 0;
    im_buf_t path;
    im_engine_reply_t reply;

    im_buf_init(&path);
    im_engine_reply_init(&reply);
    rc = build_action_request(id, action, opts, &method, &path, &timeout_ms, err, errlen);
    if (rc) {
        goto out;
    }
    rc = im_engine_request_timeout(e, method, path.data, NULL, timeout_ms, &reply, err, errlen);
    if (rc) {
        goto out;
    }
    if (reply.status < 200 || reply.status >= 300) {
        rc = action_failure(action, id, name, &reply, err, errlen);
    }

out:
    im_engine_reply_release(&reply);
    im_buf_release(&path);
    return rc;
}

int im_container_rename(struct im_engine *e, const char *id, const char *name, const char *new_name,
                        char *err, size_t errlen)
{
    int rc = IM_OK;
    im_buf_t path;
    im_engine_reply_t reply;
    char message[512];

    im_buf_init(&path);
    im_engine_reply_init(&reply);
    if (!im_container_name_is_valid(new_name)) {
        snprintf(err, errlen,
                 "invalid container name \"%.140s\": expected 1 to %d characters matching "
                 "^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                 new_name ? new_name : "", IM_CONTAINER_REF_MAX);
        rc = IM_EINVAL;
        goto out;
    }

    im_buf_appendf(&path, "/containers/%s/rename?name=", id);
    im_engine_url_escape(&path, new_name);
    rc = im_engine_request(e, "POST", path.data, NULL, &reply, err, errlen);
    if (rc) {
        goto out;
    }
    rc = im_engine_reply_rc(&reply, message, sizeof(message));
    if (rc == IM_ECONFLICT) {
        snprintf(err, errlen, "container name \"%s\" is already in use", new_name);
    } else if (rc == IM_ENOTFOUND) {
        snprintf(err, errlen, "container %s not found", name);
    } else if (rc) {
        snprintf(err, errlen, "failed to rename container %s to %s: %s", name, new_name, message);
    }

out:
    im_engine_reply_release(&reply);
    im_buf_release(&path);
    return rc;
}

/* ---- update ------------------------------------------------------------------------------ */

static int invalid_field(char field[32], const char *name, char *err, size_t errlen,
                         const char *message)
{
    im_strlcpy(field, name, 32);
    snprintf(err, errlen, "%s", message);
    return IM_EINVAL;
}

static int parse_integer_field(json_t *value, const char *name, int64_t *out, char field[32],
                               char *err, size_t errlen)
{
    if (!json_is_integer(value)) {
        return invalid_field(field, name, err, errlen, "expected an integer");
    }
    *out = json_integer_value(value);
    return IM_OK;
}

static bool is_restart_policy_name(const char *name)
{
    static const char *const names[] = {"no", "always", "unless-stopped", "on-failure"};

    for (size_t i = 0; name && i < IM_ARRAY_LEN(names); i++) {
        if (strcmp(name, names[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Accepts "always", "on-failure:3" or {name, maximum_retry_count}. */
static int parse_restart_policy(json_t *value, im_container_update_t *out, char field[32],
                                char *err, size_t errlen)
{
    char name[32] = "";
    int64_t retries = 0;

    if (json_is_string(value)) {
        const char *text = json_string_value(value);
        const char *colon = strchr(text, ':');
        size_t name_len = colon ? (size_t)(colon - text) : strlen(text);
        if (name_len < sizeof(name)) {
            memcpy(name, text, name_len);
            name[name_len] = '\0';
        }
        if (colon && !im_parse_int64(colon + 1, 0, RESTART_RETRIES_MAX, &retries)) {
            return invalid_field(field, "restart_policy", err, errlen,
                                 "the retry count after ':' must be a number from 0 to 1000000");
        }
    } else if (json_is_object(value)) {
        const char *text = get_string(value, "name");
        json_t *count = json_object_get(value, "maximum_retry_count");
        im_strlcpy(name, text ? text : "", sizeof(name));
        if (count && !json_is_null(count) &&
            (!json_is_integer(count) || json_integer_value(count) < 0 ||
             json_integer_value(count) > RESTART_RETRIES_MAX)) {
            return invalid_field(field, "restart_policy", err, errlen,
                                 "maximum_retry_count must be an integer from 0 to 1000000");
        }
        retries = json_integer_value(count);
    } else {
        return invalid_field(field, "restart_policy", err, errlen,
                             "expected a policy name or {name, maximum_retry_count}");
    }

    if (!is_restart_policy_name(name)) {
        return invalid_field(field, "restart_policy", err, errlen,
                             "the policy must be no, always, unless-stopped or on-failure");
    }
    if (retries > 0 && strcmp(name, "on-failure") != 0) {
        return invalid_field(field, "restart_policy", err, errlen,
                             "a maximum retry count is only allowed with on-failure");
    }
    out->has_restart_policy = true;
    im_strlcpy(out->restart_policy, name, sizeof(out->restart_policy));
    out->restart_max_retries = retries;
    return IM_OK;
}

static int check_update_ranges(const im_container_update_t *u, char field[32], char *err,
                               size_t errlen)
{
    if (u->has_memory_limit && u->memory_limit != 0 &&
        (u->memory_limit < IM_CONTAINER_MEMORY_MIN || u->memory_limit > INT64_MAX / 4)) {
        return invalid_field(field, "memory_limit", err, errlen,
                             "the memory limit must be 0 (no limit) or at least 6291456 bytes "
                             "(6 MiB)");
    }
    if (u->has_cpu_shares && u->cpu_shares != 0 && (u->cpu_shares < 2 || u->cpu_shares > 1024)) {
        return invalid_field(field, "cpu_shares", err, errlen,
                             "cpu_shares must be 0 (the default weight) or from 2 to 1024");
    }
    if (u->has_cpu_quota && u->cpu_quota != 0 && u->cpu_quota != -1 &&
        (u->cpu_quota < CPU_QUOTA_MIN || u->cpu_quota > CPU_QUOTA_MAX)) {
        return invalid_field(field, "cpu_quota", err, errlen,
                             "cpu_quota must be 0 or -1 (no quota) or from 1000 to 1000000000 "
                             "microseconds");
    }
    return IM_OK;
}

int im_container_update_parse(json_t *body, im_container_update_t *out, char field[32], char *err,
                              size_t errlen)
{
    const char *key = NULL;
    json_t *value = NULL;
    int rc = IM_OK;

    memset(out, 0, sizeof(*out));
    field[0] = '\0';
    if (!json_is_object(body)) {
        return invalid_field(field, "body", err, errlen, "expected a JSON object");
    }

    json_object_foreach(body, key, value)
    {
        if (json_is_null(value)) {
            continue; // null leaves the setting as it is
        }
        if (strcmp(key, "memory_limit") == 0) {
            out->has_memory_limit = true;
            rc = parse_integer_field(value, key, &out->memory_limit, field, err, errlen);
        } else if (strcmp(key, "cpu_shares") == 0) {
            out->has_cpu_shares = true;
            rc = parse_integer_field(value, key, &out->cpu_shares, field, err, errlen);
        } else if (strcmp(key, "cpu_quota") == 0) {
            out->has_cpu_quota = true;
            rc = parse_integer_field(value, key, &out->cpu_quota, field, err, errlen);
        } else if (strcmp(key, "restart_policy") == 0) {
            rc = parse_restart_policy(value, out, field, err, errlen);
        } else {
            rc = invalid_field(field, key, err, errlen,
                               "unknown field; expected memory_limit, cpu_shares, cpu_quota or "
                               "restart_policy");
        }
        if (rc) {
            return rc;
        }
    }

    if (!out->has_memory_limit && !out->has_cpu_shares && !out->has_cpu_quota &&
        !out->has_restart_policy) {
        return invalid_field(field, "body", err, errlen,
                             "nothing to update: give memory_limit, cpu_shares, cpu_quota or "
                             "restart_policy");
    }
    return check_update_ranges(out, field, err, errlen);
}

/* Adds Memory and MemorySwap to the update body, based on the container's current limits. */
static int add_memory_update(struct im_engine *e, const char *id, const char *name,
                             int64_t memory_limit, json_t *body, char *err, size_t errlen)
{
    json_t *inspect = NULL;
    int rc = im_container_inspect(e, id, &inspect, err, errlen);

    if (rc) {
        return rc;
    }
    json_t *host_config = json_object_get(inspect, "HostConfig");
    int64_t current_memory = json_integer_value(json_object_get(host_config, "Memory"));
    int64_t current_swap = json_integer_value(json_object_get(host_config, "MemorySwap"));
    json_decref(inspect);

    if (memory_limit == 0) {
        if (current_memory == 0) {
            return IM_OK; // already unlimited
        }
        snprintf(err, errlen,
                 "the engine cannot remove the memory limit (%lld bytes) of container %s; set a "
                 "larger limit or recreate the container without one",
                 (long long)current_memory, name);
        return IM_EINVAL;
    }

    int64_t swap = -1; // unlimited
    if (current_memory > 0 && current_swap > 0) {
        swap = memory_limit + (current_swap - current_memory);
    }
    json_object_set_new(body, "Memory", json_integer(memory_limit));
    json_object_set_new(body, "MemorySwap", json_integer(swap));
    return IM_OK;
}

static json_t *restart_policy_json(const im_container_update_t *update)
{
    json_t *policy = json_object();

    json_object_set_new(policy, "Name", json_string(update->restart_policy));
    json_object_set_new(policy, "MaximumRetryCount", json_integer(update->restart_max_retries));
    return policy;
}

int im_container_update(struct im_engine *e, const char *id, const char *name,
                        const im_container_update_t *update, char *err, size_t errlen)
{
    int rc = IM_OK;
    json_t *body = json_object();
    char *body_text = NULL;
    char *path = NULL;
    char message[512];
    im_engine_reply_t reply;

    im_engine_reply_init(&reply);
    if (update->has_memory_limit) {
        rc = add_memory_update(e, id, name, update->memory_limit, body, err, errlen);
        if (rc) {
            goto out;
        }
    }
    if (update->has_cpu_shares) {
        // In an update 0 means "unchanged" to the engine, so the default weight is sent.
        int64_t shares = update->cpu_shares ? update->cpu_shares : 1024;
        json_object_set_new(body, "CpuShares", json_integer(shares));
    }
    if (update->has_cpu_quota) {
        int64_t quota = update->cpu_quota > 0 ? update->cpu_quota : -1;
        json_object_set_new(body, "CpuQuota", json_integer(quota));
    }
    if (update->has_restart_policy) {
        json_object_set_new(body, "RestartPolicy", restart_policy_json(update));
    }
    if (json_object_size(body) == 0) {
        goto out; // only "no memory limit" on a container that has none
    }

    body_text = json_dumps(body, JSON_COMPACT);
    path = im_asprintf("/containers/%s/update", id);
    rc = im_engine_request(e, "POST", path, body_text, &reply, err, errlen);
    if (rc) {
        goto out;
    }
    rc = im_engine_reply_rc(&reply, message, sizeof(message));
    if (rc == IM_ENOTFOUND) {
        snprintf(err, errlen, "container %s not found", name);
    } else if (rc) {
        char readable[512];
        replace_all(message, id, name, readable, sizeof(readable));
        snprintf(err, errlen, "failed to update container %s: %s", name, readable);
    }

out:
    im_engine_reply_release(&reply);
    free(path);
    free(body_text);
    json_decref(body);
    return rc;
}

int im_container_diff(struct im_engine *e, const char *id, json_t **out, char *err, size_t errlen)
{
    json_t *changes = NULL;
    char *path = im_asprintf("/containers/%s/changes", id);
    int rc = im_engine_get_json(e, path, &changes, err, errlen);

    *out = NULL;
    if (rc == IM_OK) {
        *out = im_container_map_diff(id, changes);
    }
    json_decref(changes);
    free(path);
    return rc;
}

/* ---- prune ------------------------------------------------------------------------------- */

bool im_prune_label_is_valid(const char *label)
{
    size_t len = label ? strlen(label) : 0;

    if (len == 0 || len > PRUNE_LABEL_MAX || label[0] == '=') {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)label[i];
        if (c < 0x20 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

/* A Go duration of whole hours, minutes and seconds, such as "24h" or "1h30m". */
static bool is_simple_duration(const char *text)
{
    const char *p = text;

    if (!*p) {
        return false;
    }
    while (*p) {
        if (!isdigit((unsigned char)*p)) {
            return false;
        }
        while (isdigit((unsigned char)*p)) {
            p++;
        }
        if (*p != 'h' && *p != 'm' && *p != 's') {
            return false;
        }
        p++;
    }
    return true;
}

bool im_prune_until_is_valid(const char *until)
{
    int64_t value = 0;

    if (!until || !until[0] || strlen(until) > 64) {
        return false;
    }
    return im_parse_int64(until, 0, INT64_MAX, &value) || im_time_parse_rfc3339(until, &value) ||
           is_simple_duration(until);
}

static const struct {
    const char *path;
    const char *engine_key;
    const char *output_key;
    bool has_space;
} prune_table[] = {
    [IM_PRUNE_CONTAINERS] = {"/containers/prune", "ContainersDeleted", "deleted_containers", true},
    [IM_PRUNE_IMAGES] = {"/images/prune", "ImagesDeleted", "deleted_images", true},
    [IM_PRUNE_NETWORKS] = {"/networks/prune", "NetworksDeleted", "deleted_networks", false},
    [IM_PRUNE_VOLUMES] = {"/volumes/prune", "VolumesDeleted", "deleted_volumes", true},
};

static int build_prune_filters(im_prune_target_t target, const im_prune_options_t *opts,
                               json_t **out, char *err, size_t errlen)
{
    json_t *filters = json_object();

    *out = NULL;
    if (opts && opts->label && opts->label[0]) {
        if (!im_prune_label_is_valid(opts->label)) {
            snprintf(err, errlen,
                     "invalid filter_label: expected key or key=value, 1 to %d printable "
                     "characters",
                     PRUNE_LABEL_MAX);
            json_decref(filters);
            return IM_EINVAL;
        }
        json_object_set_new(filters, "label", json_pack("[s]", opts->label));
    }
    if (opts && opts->until && opts->until[0]) {
        if (target == IM_PRUNE_VOLUMES || !im_prune_until_is_valid(opts->until)) {
            snprintf(err, errlen, "%s",
                     target == IM_PRUNE_VOLUMES
                         ? "filter_until is not supported for volumes"
                         : "invalid filter_until: expected Unix seconds, an RFC 3339 time or a "
                           "duration such as 24h or 1h30m");
            json_decref(filters);
            return IM_EINVAL;
        }
        json_object_set_new(filters, "until", json_pack("[s]", opts->until));
    }
    if (target == IM_PRUNE_IMAGES) {
        bool all = opts && opts->all_images;
        json_object_set_new(filters, "dangling", json_pack("[s]", all ? "false" : "true"));
    }
    // NOTE: from API 1.42 the engine prunes only anonymous volumes unless an "all" filter
    // is given; named volumes are deliberately left alone here.
    *out = filters;
    return IM_OK;
}

/* ImagesDeleted contains {Untagged} and {Deleted} objects, passed on in lower case. */
static json_t *map_deleted_images(json_t *deleted)
{
    json_t *out = json_array();
    json_t *entry = NULL;
    size_t index = 0;

    json_array_foreach(deleted, index, entry)
    {
        json_t *item = json_object();
        const char *untagged = get_string(entry, "Untagged");
        const char *removed = get_string(entry, "Deleted");
        if (untagged) {
            json_object_set_new(item, "untagged", json_string(untagged));
        }
        if (removed) {
            json_object_set_new(item, "deleted", json_string(removed));
        }
        json_array_append_new(out, item);
    }
    return out;
}

static json_t *map_prune_reply(im_prune_target_t target, json_t *reply)
{
    json_t *out = json_object();
    json_t *deleted = json_object_get(reply, prune_table[target].engine_key);

    if (target == IM_PRUNE_IMAGES) {
        json_object_set_new(out, prune_table[target].output_key, map_deleted_images(deleted));
    } else {
        // The engine sends null instead of an empty list.
        json_object_set_new(out, prune_table[target].output_key,
                            json_is_array(deleted) ? json_deep_copy(deleted) : json_array());
    }
    if (prune_table[target].has_space) {
        json_t *space = json_object_get(reply, "SpaceReclaimed");
        json_object_set_new(out, "space_reclaimed",
                            json_integer(json_is_integer(space) ? json_integer_value(space) : 0));
    }
    return out;
}

int im_prune(struct im_engine *e, im_prune_target_t target, const im_prune_options_t *opts,
             json_t **out, char *err, size_t errlen)
{
    int rc = IM_OK;
    json_t *filters = NULL;
    json_t *reply_json = NULL;
    char *filters_text = NULL;
    im_buf_t path;
    im_engine_reply_t reply;

    *out = NULL;
    im_buf_init(&path);
    im_engine_reply_init(&reply);
    if ((size_t)target >= IM_ARRAY_LEN(prune_table)) {
        snprintf(err, errlen, "unknown prune target %d", (int)target);
        rc = IM_EINVAL;
        goto out;
    }
    rc = build_prune_filters(target, opts, &filters, err, errlen);
    if (rc) {
        goto out;
    }

    im_buf_append(&path, prune_table[target].path, strlen(prune_table[target].path));
    if (json_object_size(filters) > 0) {
        filters_text = json_dumps(filters, JSON_COMPACT);
        im_buf_append(&path, "?filters=", strlen("?filters="));
        im_engine_url_escape(&path, filters_text);
    }
    rc = im_engine_request_timeout(e, "POST", path.data, NULL, PRUNE_TIMEOUT_MS, &reply, err,
                                   errlen);
    if (rc) {
        goto out;
    }
    rc = im_engine_reply_rc(&reply, err, errlen);
    if (rc) {
        goto out;
    }
    reply_json = im_engine_reply_json(&reply);
    *out = map_prune_reply(target, reply_json);

out:
    json_decref(reply_json);
    free(filters_text);
    json_decref(filters);
    im_engine_reply_release(&reply);
    im_buf_release(&path);
    return rc;
}
