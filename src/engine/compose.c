#include "engine/compose.h"

#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "core/util.h"
#include "engine/containers.h"

#define MAX_DEPTH 64
#define MAX_NODES 100000

static const char *label(json_t *labels, const char *key)
{
    return json_string_value(json_object_get(labels, key));
}

bool im_compose_name_is_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > 63 ||
        !(islower((unsigned char)name[0]) || isdigit((unsigned char)name[0]))) {
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_' && *p != '-') {
            return false;
        }
    }
    return true;
}

/* Returns the service entry named name in project's services array, creating it. */
static json_t *service_entry(json_t *services, const char *name)
{
    size_t i;
    json_t *service;
    json_array_foreach(services, i, service)
    {
        if (strcmp(json_string_value(json_object_get(service, "name")), name) == 0) {
            return service;
        }
    }
    service = json_pack("{s:s, s:[], s:[], s:i}", "name", name, "containers", "container_ids",
                        "running", 0);
    json_array_append_new(services, service);
    return service;
}

static int compare_by_name(const void *a, const void *b)
{
    json_t *const *x = a, *const *y = b;
    const char *nx = json_string_value(json_object_get(*x, "name"));
    const char *ny = json_string_value(json_object_get(*y, "name"));
    if (!nx) {
        nx = json_string_value(json_object_get(*x, "project_name"));
        ny = json_string_value(json_object_get(*y, "project_name"));
    }
    return strcmp(nx ? nx : "", ny ? ny : "");
}

/* Sorts a JSON array of objects by "name" (or "project_name") in place. */
static void sort_array(json_t *array)
{
    size_t n = json_array_size(array);
    json_t **items = im_calloc(n ? n : 1, sizeof(*items));
    for (size_t i = 0; i < n; i++) {
        items[i] = json_incref(json_array_get(array, i));
    }
    qsort(items, n, sizeof(*items), compare_by_name);
    json_array_clear(array);
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(array, items[i]);
    }
    free(items);
}

static json_t *project_entry(json_t *projects, const char *name, json_t *item)
{
    json_t *project = json_object_get(projects, name);
    if (project) {
        return project;
    }
    json_t *labels = json_object_get(item, "labels");
    const char *workdir = label(labels, "com.docker.compose.project.working_dir");
    json_t *files = json_array();
    const char *config_files = label(labels, "com.docker.compose.project.config_files");
    if (config_files) {
        char *copy = im_strdup(config_files);
        char *save = NULL;
        for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
            json_array_append_new(files, json_string(f));
        }
        free(copy);
    }
    project = json_pack("{s:s, s:O, s:s?, s:o, s:[], s:s, s:i, s:i}", "project_name", name,
                        "compose_file_path", json_object_get(item, "compose_file"), "working_dir",
                        workdir, "config_files", files, "services", "status", "stopped",
                        "containers_total", 0, "containers_running", 0);
    json_object_set_new(projects, name, project);
    return project;
}

json_t *im_compose_projects(json_t *items)
{
    json_t *projects = json_object();
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *name = json_string_value(json_object_get(item, "compose_project"));
        if (!name) {
            continue;
        }
        json_t *project = project_entry(projects, name, item);
        const char *service_name = json_string_value(json_object_get(item, "compose_service"));
        json_t *service = service_entry(json_object_get(project, "services"),
                                        service_name ? service_name : "(unknown)");
        json_array_append(json_object_get(service, "containers"), json_object_get(item, "name"));
        json_array_append(json_object_get(service, "container_ids"),
                          json_object_get(item, "container_id"));
        const char *state = json_string_value(json_object_get(item, "status"));
        bool running = state && strcmp(state, "running") == 0;
        json_t *total = json_object_get(project, "containers_total");
        json_integer_set(total, json_integer_value(total) + 1);
        if (running) {
            json_t *count = json_object_get(service, "running");
            json_integer_set(count, json_integer_value(count) + 1);
            json_t *project_running = json_object_get(project, "containers_running");
            json_integer_set(project_running, json_integer_value(project_running) + 1);
        }
    }
    json_t *list = json_array();
    const char *key;
    json_t *project;
    json_object_foreach(projects, key, project)
    {
        json_int_t total = json_integer_value(json_object_get(project, "containers_total"));
        json_int_t running = json_integer_value(json_object_get(project, "containers_running"));
        const char *status = "partial";
        if (running == 0) {
            status = "stopped";
        } else if (running == total) {
            status = "running";
        }
        json_object_set_new(project, "status", json_string(status));
        sort_array(json_object_get(project, "services"));
        json_array_append(list, project);
    }
    json_decref(projects);
    sort_array(list);
    return list;
}

json_t *im_compose_find(json_t *projects, const char *name)
{
    size_t i;
    json_t *project;
    json_array_foreach(projects, i, project)
    {
        if (strcmp(json_string_value(json_object_get(project, "project_name")), name) == 0) {
            return project;
        }
    }
    return NULL;
}

static bool yaml_name(const char *path)
{
    return im_str_ends_with(path, ".yml") || im_str_ends_with(path, ".yaml");
}

static void add_candidate(json_t *out, const char *workdir, const char *file)
{
    char *path;
    if (file[0] == '/') {
        path = im_strdup(file);
    } else if (workdir && workdir[0] == '/') {
        path = im_asprintf("%s/%s", workdir, file);
    } else {
        return; /* a relative file without a working directory cannot be placed */
    }
    if (yaml_name(path)) {
        json_array_append_new(out, json_string(path));
    }
    free(path);
}

json_t *im_compose_candidate_files(json_t *labels)
{
    json_t *out = json_array();
    const char *workdir = label(labels, "com.docker.compose.project.working_dir");
    const char *files = label(labels, "com.docker.compose.project.config_files");
    if (files && *files) {
        char *copy = im_strdup(files);
        char *save = NULL;
        for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
            add_candidate(out, workdir, f);
        }
        free(copy);
        return out;
    }
    static const char *defaults[] = {"compose.yaml", "compose.yml", "docker-compose.yml",
                                     "docker-compose.yaml"};
    for (size_t i = 0; i < IM_ARRAY_LEN(defaults); i++) {
        add_candidate(out, workdir, defaults[i]);
    }
    return out;
}

typedef struct {
    yaml_document_t *doc;
    size_t emitted;
} convert_t;

static json_t *convert_node(convert_t *c, yaml_node_t *node, int depth)
{
    if (!node || depth > MAX_DEPTH || ++c->emitted > MAX_NODES) {
        return NULL;
    }
    switch (node->type) {
    case YAML_SCALAR_NODE:
        return json_stringn((const char *)node->data.scalar.value, node->data.scalar.length);
    case YAML_SEQUENCE_NODE: {
        json_t *array = json_array();
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            json_t *child = convert_node(c, yaml_document_get_node(c->doc, *it), depth + 1);
            if (!child) {
                json_decref(array);
                return NULL;
            }
            json_array_append_new(array, child);
        }
        return array;
    }
    case YAML_MAPPING_NODE: {
        json_t *object = json_object();
        for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
             pair < node->data.mapping.pairs.top; pair++) {
            yaml_node_t *key = yaml_document_get_node(c->doc, pair->key);
            json_t *value = convert_node(c, yaml_document_get_node(c->doc, pair->value), depth + 1);
            if (!key || key->type != YAML_SCALAR_NODE || !value) {
                json_decref(value);
                json_decref(object);
                return NULL;
            }
            char *name = im_strndup((const char *)key->data.scalar.value, key->data.scalar.length);
            json_object_set_new(object, name, value);
            free(name);
        }
        return object;
    }
    default:
        return NULL;
    }
}

/* Returns the keys of a mapping as an array (for networks and volumes). */
static json_t *keys_of(json_t *object)
{
    json_t *names = json_array();
    const char *key;
    json_t *value;
    json_object_foreach(object, key, value)
    {
        json_array_append_new(names, json_string(key));
    }
    return names;
}

json_t *im_compose_parse(const char *text, size_t len, char *err, size_t errlen)
{
    if (len > IM_COMPOSE_FILE_MAX_BYTES) {
        snprintf(err, errlen, "compose file larger than %d bytes", IM_COMPOSE_FILE_MAX_BYTES);
        return NULL;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    json_t *out = NULL;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "cannot initialise the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "invalid YAML at line %zu: %s", parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        return NULL;
    }
    convert_t c = {.doc = &doc};
    json_t *root = convert_node(&c, yaml_document_get_root_node(&doc), 0);
    if (c.emitted > MAX_NODES) {
        snprintf(err, errlen, "compose file expands to more than %d nodes", MAX_NODES);
        goto out;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "compose file is not a YAML mapping");
        goto out;
    }
    json_t *services = json_object_get(root, "services");
    services = json_is_object(services) ? json_incref(services) : json_object();
    out = json_pack("{s:o, s:o, s:o}", "services", services, "networks",
                    keys_of(json_object_get(root, "networks")), "volumes",
                    keys_of(json_object_get(root, "volumes")));
out:
    json_decref(root);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return out;
}

char *im_compose_mask_text(const char *text)
{
    /* key (optionally after "- "), then ":" or "=", then the value to the end of the line */
    static const char *pattern =
        "^([[:space:]]*-?[[:space:]]*[\"']?[A-Za-z0-9_.-]*(PASSWORD|SECRET|TOKEN|KEY)"
        "[A-Za-z0-9_.-]*[\"']?[[:space:]]*[:=][[:space:]]*)([^[:space:]#].*)$";
    regex_t re;
    im_buf_t out;
    im_buf_init(&out);
    if (regcomp(&re, pattern, REG_EXTENDED | REG_ICASE | REG_NEWLINE) != 0) {
        im_buf_append(&out, text, strlen(text));
        return im_buf_detach(&out, NULL);
    }
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *copy = im_strndup(line, len);
        regmatch_t m[4];
        if (regexec(&re, copy, 4, m, 0) == 0 && m[3].rm_so >= 0) {
            im_buf_append(&out, copy, (size_t)m[3].rm_so);
            im_buf_append(&out, "********", 8);
        } else {
            im_buf_append(&out, copy, len);
        }
        free(copy);
        if (!end) {
            break;
        }
        im_buf_append(&out, "\n", 1);
        line = end + 1;
    }
    regfree(&re);
    return im_buf_detach(&out, NULL);
}

static bool contains(json_t *array, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0) {
            return true;
        }
    }
    return false;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *im_compose_start_order(json_t *services, json_t *depends)
{
    size_t n = json_array_size(services);
    const char **names = im_calloc(n ? n : 1, sizeof(*names));
    for (size_t i = 0; i < n; i++) {
        names[i] = json_string_value(json_array_get(services, i));
    }
    qsort(names, n, sizeof(*names), compare_strings);
    json_t *order = json_array();
    /* Each round places the first service, by name, whose dependencies are all placed. When
     * no service qualifies, the rest form a cycle, so the first by name is placed anyway. */
    while (json_array_size(order) < n) {
        const char *pick = NULL;
        for (size_t i = 0; i < n && !pick; i++) {
            if (contains(order, names[i])) {
                continue;
            }
            json_t *deps = json_object_get(depends, names[i]);
            bool ready = true;
            size_t k;
            json_t *dep;
            json_array_foreach(deps, k, dep)
            {
                const char *d = json_string_value(dep);
                bool known = false;
                for (size_t j = 0; j < n; j++) {
                    known = known || (d && strcmp(d, names[j]) == 0);
                }
                if (known && !contains(order, d)) {
                    ready = false;
                }
            }
            if (ready) {
                pick = names[i];
            }
        }
        for (size_t i = 0; i < n && !pick; i++) {
            if (!contains(order, names[i])) {
                pick = names[i];
            }
        }
        json_array_append_new(order, json_string(pick));
    }
    free(names);
    return order;
}

/* ---- image pull progress ----------------------------------------------------------------- */

void im_pull_progress_init(im_pull_progress_t *progress)
{
    memset(progress, 0, sizeof(*progress));
    progress->layers = json_object();
}

void im_pull_progress_release(im_pull_progress_t *progress)
{
    json_decref(progress->layers);
    memset(progress, 0, sizeof(*progress));
}

/* Statuses after which a layer counts as fully transferred. */
static bool layer_status_is_done(const char *status)
{
    static const char *const done[] = {"Download complete", "Pull complete", "Already exists",
                                       "Verifying Checksum"};
    for (size_t i = 0; status && i < IM_ARRAY_LEN(done); i++) {
        if (strcmp(status, done[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Records the byte counts of a layer message. Extraction progress is left out, because it
 * counts the same layer again in uncompressed bytes. */
static void update_layer(im_pull_progress_t *progress, const char *layer, const char *status,
                         json_t *detail)
{
    json_t *counts = json_object_get(progress->layers, layer);
    if (!counts) {
        counts = json_pack("[I, I]", (json_int_t)0, (json_int_t)0);
        json_object_set_new(progress->layers, layer, counts);
    }
    json_int_t total = json_integer_value(json_array_get(counts, 1));
    if (status && strcmp(status, "Downloading") == 0) {
        json_t *current = json_object_get(detail, "current");
        json_t *new_total = json_object_get(detail, "total");
        if (json_is_integer(new_total) && json_integer_value(new_total) > 0) {
            total = json_integer_value(new_total);
            json_array_set_new(counts, 1, json_integer(total));
        }
        if (json_is_integer(current)) {
            json_array_set_new(counts, 0, json_integer(json_integer_value(current)));
        }
    } else if (layer_status_is_done(status) && total > 0) {
        json_array_set_new(counts, 0, json_integer(total));
    }
}

json_t *im_pull_progress_apply(im_pull_progress_t *progress, const char *message, size_t len)
{
    json_t *parsed = json_loadb(message, len, 0, NULL);
    if (!json_is_object(parsed)) {
        json_decref(parsed);
        return NULL;
    }
    const char *status = json_string_value(json_object_get(parsed, "status"));
    const char *layer = json_string_value(json_object_get(parsed, "id"));
    json_t *detail = json_object_get(parsed, "progressDetail");
    const char *error = json_string_value(
        json_object_get(json_object_get(parsed, "errorDetail"), "message"));
    if (!error) {
        error = json_string_value(json_object_get(parsed, "error"));
    }

    if (error) {
        im_strlcpy(progress->error, error, sizeof(progress->error));
    }
    if (layer && status) {
        update_layer(progress, layer, status, detail);
    } else if (status) {
        im_strlcpy(progress->status, status, sizeof(progress->status));
    }

    json_int_t image_current = 0;
    json_int_t image_total = 0;
    const char *key = NULL;
    json_t *counts = NULL;
    json_object_foreach(progress->layers, key, counts)
    {
        json_int_t total = json_integer_value(json_array_get(counts, 1));
        if (total > 0) {
            image_current += json_integer_value(json_array_get(counts, 0));
            image_total += total;
        }
    }
    json_t *current = json_object_get(detail, "current");
    json_t *total = json_object_get(detail, "total");
    json_t *event = json_pack(
        "{s:s?, s:s?, s:O, s:O, s:I, s:I, s:s?}", "status", status, "layer", layer, "current",
        json_is_integer(current) ? current : json_null(), "total",
        json_is_integer(total) ? total : json_null(), "image_current", image_current,
        "image_total", image_total, "error", error);
    json_decref(parsed);
    return event;
}

char *im_pull_image_ref(const char *image)
{
    const char *last_slash = strrchr(image, '/');
    const char *name = last_slash ? last_slash + 1 : image;
    if (strchr(image, '@') || strchr(name, ':')) {
        return im_strdup(image);
    }
    return im_asprintf("%s:latest", image);
}
