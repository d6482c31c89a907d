/* Process and filesystem statistics: a container's processes (the engine's top), the
 * filesystems mounted in a container, and the host's top processes read from /proc. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/stats-internal.h"
#include "app.h"
#include "collect/host.h"
#include "core/log.h"
#include "core/util.h"
#include "engine/containers.h"
#include "engine/engine.h"

/* How long the host processes endpoint waits between its two readings of CPU times. */
#define PROCESS_SAMPLE_MS 200
/* Processes read at most. procfs lists processes by pid, so a host with more shows the
 * ones with the lowest pids. */
#define PROCESS_MAX 8192

/* ---- container processes ---------------------------------------------------------------- */

static void get_container_processes(im_request_t *req)
{
    char id[IM_CONTAINER_ID_SIZE];
    char name[IM_CONTAINER_NAME_SIZE];
    char err[1024] = "";
    char path[160];
    json_t *top = NULL;

    if (!im__stats_resolve_engine(req, id, name)) {
        return;
    }
    snprintf(path, sizeof(path), "/containers/%s/top", id);
    int rc = im_engine_get_json(im_req_app(req)->engine, path, &top, err, sizeof(err));
    if (rc != IM_OK) {
        /* The engine returns 409 for a container that is not running. */
        im_resp_from_rc(req, rc, err);
        return;
    }
    json_t *titles = json_object_get(top, "Titles");
    json_t *processes = json_object_get(top, "Processes");
    json_t *body = json_pack("{s:s, s:s, s:O, s:O}", "container_id", id, "container_name",
                             name[0] == '/' ? name + 1 : name, "titles",
                             json_is_array(titles) ? titles : json_array(), "processes",
                             json_is_array(processes) ? processes : json_array());
    json_decref(top);
    im__stats_send_json(req, body);
}

/* ---- container filesystems -------------------------------------------------------------- */

/* Decodes the octal escapes (\040 for a space) that mountinfo uses, in place. */
static void unescape_mount_field(char *text)
{
    char *out = text;
    for (char *in = text; *in; in++) {
        if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
            in[3] >= '0' && in[3] <= '7') {
            *out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
            in += 3;
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
}

/* Splits a mountinfo line into its mount point, filesystem type and source. Returns false
 * for a malformed line. */
static bool parse_mountinfo_line(char *line, char **mount_point, char **fstype, char **source)
{
    char *save = NULL;
    char *field = strtok_r(line, " \n", &save);
    int index = 0;

    *mount_point = *fstype = *source = NULL;
    /* Fields: id parent major:minor root mount_point options [optional...] - type source. */
    for (; field; field = strtok_r(NULL, " \n", &save), index++) {
        if (index == 4) {
            *mount_point = field;
        } else if (index > 5 && strcmp(field, "-") == 0) {
            *fstype = strtok_r(NULL, " \n", &save);
            *source = strtok_r(NULL, " \n", &save);
            break;
        }
    }
    if (!*mount_point || !*fstype || !*source) {
        return false;
    }
    unescape_mount_field(*mount_point);
    unescape_mount_field(*source);
    return true;
}

/* Returns true for a mount to list: the container's root, and every other mount of a
 * filesystem that keeps data, except single bind-mounted files such as /etc/hosts. */
static bool is_listed_mount(const char *root_path, const char *mount_point, const char *fstype)
{
    char path[1024];
    struct stat st;

    if (strcmp(mount_point, "/") == 0) {
        return true;
    }
    if (im_host_fstype_is_virtual(fstype)) {
        return false;
    }
    snprintf(path, sizeof(path), "%s%s", root_path, mount_point);
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static json_t *usage_json(const im_host_fs_usage_t *usage, bool known)
{
    if (!known) {
        return json_pack("{s:n, s:n, s:n, s:n}", "total", "used", "free", "percent");
    }
    return json_pack("{s:I, s:I, s:I, s:o}", "total", (json_int_t)usage->total, "used",
                     (json_int_t)usage->used, "free", (json_int_t)usage->free, "percent",
                     im__stats_rounded(usage->percent));
}

/* Lists the filesystems mounted in the namespace of process pid, with their usage seen
 * through <proc>/<pid>/root. */
static int container_filesystems(const char *proc_root, int64_t pid, json_t **out, char *err,
                                 size_t errlen)
{
    char path[600];
    char root_path[600];
    char line[4096];

    snprintf(path, sizeof(path), "%s/%" PRId64 "/mountinfo", proc_root, pid);
    snprintf(root_path, sizeof(root_path), "%s/%" PRId64 "/root", proc_root, pid);
    FILE *file = fopen(path, "re");
    if (!file) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return IM_EUNAVAILABLE;
    }
    json_t *items = json_array();
    while (fgets(line, sizeof(line), file)) {
        char *mount_point = NULL;
        char *fstype = NULL;
        char *source = NULL;
        if (!parse_mountinfo_line(line, &mount_point, &fstype, &source) ||
            !is_listed_mount(root_path, mount_point, fstype)) {
            continue;
        }
        im_host_fs_usage_t usage;
        char statfs_err[256];
        bool known =
            im_host_statfs(root_path, mount_point, &usage, statfs_err, sizeof(statfs_err)) == IM_OK;
        json_t *item = json_pack("{s:s, s:s, s:s}", "mount_point", mount_point, "source", source,
                                 "type", fstype);
        json_t *usage_fields = usage_json(&usage, known);
        json_object_update(item, usage_fields);
        json_decref(usage_fields);
        json_array_append_new(items, item);
    }
    fclose(file);
    *out = items;
    return IM_OK;
}

static void get_container_filesystem(im_request_t *req)
{
    im_app_t *app = im_req_app(req);
    char id[IM_CONTAINER_ID_SIZE];
    char name[IM_CONTAINER_NAME_SIZE];
    char err[1024] = "";
    char path[160];
    json_t *inspect = NULL;
    json_t *items = NULL;

    if (!im__stats_resolve_engine(req, id, name)) {
        return;
    }
    snprintf(path, sizeof(path), "/containers/%s/json", id);
    int rc = im_engine_get_json(app->engine, path, &inspect, err, sizeof(err));
    if (rc != IM_OK) {
        im_resp_from_rc(req, rc, err);
        return;
    }
    json_t *state = json_object_get(inspect, "State");
    int64_t pid = json_integer_value(json_object_get(state, "Pid"));
    bool running = json_is_true(json_object_get(state, "Running"));
    json_decref(inspect);
    if (!running || pid <= 0) {
        im_resp_error(req, 409, "container %s is not running, so its filesystems are not mounted",
                      id);
        return;
    }
    // NOTE: this reads the engine host's /proc, so it works only when the engine runs on
    // the same host as InfraMon (or HOST_PROC mounts that host's /proc).
    rc = container_filesystems(app->config->host_proc, pid, &items, err, sizeof(err));
    if (rc != IM_OK) {
        im_log_warn("stats", "container %.12s filesystems: %s", id, err);
        im_resp_error(req, 503,
                      "cannot read the filesystems of container %s: %s; the engine must run on "
                      "this host and HOST_PROC must be its /proc",
                      id, err);
        return;
    }
    im__stats_send_json(req, items);
}

/* ---- host processes --------------------------------------------------------------------- */

typedef struct {
    int pid;
    char name[64];
    char state;
    unsigned uid;
    uint64_t cpu_ticks; /* utime + stime */
    uint64_t start_ticks;
    uint64_t rss_bytes;
    double cpu_percent;
} process_t;

/* Reads <proc>/<pid>/stat and the Uid line of status. Returns false when the process is
 * gone or the files are malformed. */
static bool read_process(const char *proc_root, int pid, long page_size, process_t *out)
{
    char path[600];
    char text[2048];

    snprintf(path, sizeof(path), "%s/%d/stat", proc_root, pid);
    FILE *file = fopen(path, "re");
    if (!file) {
        return false;
    }
    size_t len = fread(text, 1, sizeof(text) - 1, file);
    fclose(file);
    text[len] = '\0';
    /* The name is in parentheses and may itself contain spaces and parentheses. */
    char *open = strchr(text, '(');
    char *close = strrchr(text, ')');
    if (!open || !close || close < open) {
        return false;
    }
    memset(out, 0, sizeof(*out));
    out->pid = pid;
    size_t name_len = (size_t)(close - open - 1);
    if (name_len >= sizeof(out->name)) {
        name_len = sizeof(out->name) - 1;
    }
    memcpy(out->name, open + 1, name_len);
    unsigned long long utime = 0, stime = 0, start = 0;
    long long rss = 0;
    /* After the name: state (3), then fields 4..24; utime 14, stime 15, starttime 22, rss 24. */
    int n = sscanf(close + 2,
                   "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
                   "%*d %llu %*u %lld",
                   &out->state, &utime, &stime, &start, &rss);
    if (n != 5) {
        return false;
    }
    out->cpu_ticks = utime + stime;
    out->start_ticks = start;
    out->rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page_size : 0;

    snprintf(path, sizeof(path), "%s/%d/status", proc_root, pid);
    file = fopen(path, "re");
    if (file) {
        while (fgets(text, sizeof(text), file)) {
            if (sscanf(text, "Uid: %u", &out->uid) == 1) {
                break;
            }
        }
        fclose(file);
    }
    return true;
}

/* Reads every process under proc_root in directory order, at most PROCESS_MAX. */
static size_t read_processes(const char *proc_root, process_t **out)
{
    long page_size = sysconf(_SC_PAGESIZE);
    DIR *dir = opendir(proc_root);
    size_t count = 0;
    size_t capacity = 0;

    *out = NULL;
    if (!dir) {
        return 0;
    }
    struct dirent *entry;
    while ((entry = readdir(dir)) && count < PROCESS_MAX) {
        if (!isdigit((unsigned char)entry->d_name[0])) {
            continue;
        }
        if (count == capacity) {
            capacity = capacity ? capacity * 2 : 256;
            *out = im_realloc(*out, capacity * sizeof(**out));
        }
        if (read_process(proc_root, atoi(entry->d_name), page_size, &(*out)[count])) {
            count++;
        }
    }
    closedir(dir);
    return count;
}

static int compare_pid(const void *a, const void *b)
{
    return ((const process_t *)a)->pid - ((const process_t *)b)->pid;
}

static int compare_cpu(const void *a, const void *b)
{
    double x = ((const process_t *)a)->cpu_percent;
    double y = ((const process_t *)b)->cpu_percent;
    if (x != y) {
        return x < y ? 1 : -1;
    }
    return compare_pid(a, b);
}

static int compare_memory(const void *a, const void *b)
{
    uint64_t x = ((const process_t *)a)->rss_bytes;
    uint64_t y = ((const process_t *)b)->rss_bytes;
    if (x != y) {
        return x < y ? 1 : -1;
    }
    return compare_pid(a, b);
}

/* Sets each process's CPU percent (100 is one core) from the CPU ticks it used between the
 * two readings. A process absent from the first reading started in between, so its whole
 * CPU time counts. */
static void compute_cpu(process_t *first, size_t first_count, process_t *second,
                        size_t second_count, double elapsed_seconds)
{
    long ticks_per_second = sysconf(_SC_CLK_TCK);
    size_t j = 0;

    if (ticks_per_second <= 0 || elapsed_seconds <= 0) {
        return;
    }
    qsort(first, first_count, sizeof(*first), compare_pid);
    qsort(second, second_count, sizeof(*second), compare_pid);
    for (size_t i = 0; i < second_count; i++) {
        while (j < first_count && first[j].pid < second[i].pid) {
            j++;
        }
        uint64_t before = 0;
        if (j < first_count && first[j].pid == second[i].pid &&
            first[j].start_ticks == second[i].start_ticks) {
            before = first[j].cpu_ticks;
        }
        uint64_t used = second[i].cpu_ticks > before ? second[i].cpu_ticks - before : 0;
        second[i].cpu_percent = (double)used / (double)ticks_per_second / elapsed_seconds * 100.0;
    }
}

static json_t *process_json(const process_t *p, uint64_t memory_total, int64_t boot_time,
                            long ticks_per_second)
{
    char username[64];
    char created[32];
    struct passwd pw;
    struct passwd *found = NULL;
    char pw_buffer[1024];

    if (getpwuid_r(p->uid, &pw, pw_buffer, sizeof(pw_buffer), &found) == 0 && found) {
        im_strlcpy(username, found->pw_name, sizeof(username));
    } else {
        snprintf(username, sizeof(username), "%u", p->uid);
    }
    int64_t start =
        boot_time +
        (ticks_per_second > 0 ? (int64_t)(p->start_ticks / (uint64_t)ticks_per_second) : 0);
    im_time_iso8601(start, created);
    char state[2] = {p->state, '\0'};
    return json_pack(
        "{s:i, s:s, s:s, s:s, s:o, s:o, s:I, s:s}", "pid", p->pid, "name", p->name, "username",
        username, "status", state, "cpu_percent", im__stats_rounded(p->cpu_percent),
        "memory_percent",
        im__stats_rounded(memory_total ? (double)p->rss_bytes * 100.0 / (double)memory_total : 0.0),
        "memory_rss", (json_int_t)p->rss_bytes, "create_time", created);
}

static void get_system_processes(im_request_t *req)
{
    im_app_t *app = im_req_app(req);
    const char *proc_root = app->config->host_proc;
    const char *order_by = im_req_query(req, "order_by");
    int64_t limit = 0;
    process_t *first = NULL;
    process_t *second = NULL;

    if (!im_req_query_int(req, "limit", 1, 100, 20, &limit)) {
        return;
    }
    if (!order_by || !order_by[0]) {
        order_by = "cpu";
    }
    if (strcmp(order_by, "cpu") != 0 && strcmp(order_by, "memory") != 0 &&
        strcmp(order_by, "pid") != 0) {
        im_resp_invalid(req, "query", "order_by", "must be cpu, memory or pid");
        return;
    }
    int64_t started = im_monotonic_ms();
    size_t first_count = read_processes(proc_root, &first);
    struct timespec pause = {0, PROCESS_SAMPLE_MS * 1000000L};
    nanosleep(&pause, NULL);
    size_t count = read_processes(proc_root, &second);
    double elapsed = (double)(im_monotonic_ms() - started) / 1000.0;
    if (count == 0) {
        free(first);
        free(second);
        im_resp_error(req, 503, "cannot read processes under HOST_PROC %s", proc_root);
        return;
    }
    compute_cpu(first, first_count, second, count, elapsed);
    free(first);

    int (*compare)(const void *, const void *) = strcmp(order_by, "cpu") == 0      ? compare_cpu
                                                 : strcmp(order_by, "memory") == 0 ? compare_memory
                                                                                   : compare_pid;
    qsort(second, count, sizeof(*second), compare);

    uint64_t memory_total = 0;
    const im_collector_snapshot_t *snapshot =
        app->collector ? im_collector_acquire(app->collector) : NULL;
    if (snapshot) {
        memory_total =
            (uint64_t)json_integer_value(json_object_get(snapshot->system, "memory_total"));
        im_collector_release(snapshot);
    }
    double uptime = 0;
    char err[256];
    if (im_host_read_uptime(proc_root, &uptime, err, sizeof(err)) != IM_OK) {
        uptime = 0;
    }
    int64_t boot_time = im_now() - (int64_t)uptime;
    long ticks_per_second = sysconf(_SC_CLK_TCK);
    json_t *items = json_array();
    for (size_t i = 0; i < count && i < (size_t)limit; i++) {
        json_array_append_new(items,
                              process_json(&second[i], memory_total, boot_time, ticks_per_second));
    }
    free(second);
    im__stats_send_json(req, json_pack("{s:o, s:I, s:s, s:I, s:i}", "processes", items, "total",
                                       (json_int_t)count, "order_by", order_by, "limit",
                                       (json_int_t)limit, "sample_ms", PROCESS_SAMPLE_MS));
}

const im_route_t im_api_process_routes[] = {
    {"GET", "/api/v1/stats/containers/{id}/processes", IM_ROLE_VIEWER, get_container_processes,
     "Processes of a running container, from the engine's top"},
    {"GET", "/api/v1/stats/containers/{id}/filesystem", IM_ROLE_VIEWER, get_container_filesystem,
     "Filesystems mounted in a running container, with their usage"},
    {"GET", "/api/v1/stats/system/processes", IM_ROLE_VIEWER, get_system_processes,
     "Host processes by CPU, memory or pid: limit, order_by"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL, NULL},
};
