#ifndef IM_ENGINE_CONTAINERS_H
#define IM_ENGINE_CONTAINERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/util.h"

struct im_engine;

/*
 * Container operations on top of the Engine API client, and the pure functions that turn
 * the engine's JSON into the shapes of InfraMon's HTTP API. The mapping functions never
 * touch the engine, so they are tested on recorded replies.
 */

#define IM_CONTAINER_ID_SIZE    65  /* 64 hex digits and a NUL */
#define IM_CONTAINER_NAME_SIZE  256 /* a name without its leading slash, truncated to fit */
#define IM_CONTAINER_REF_MAX    128
#define IM_CONTAINER_PREFIX_MIN 4 /* hex digits an id prefix needs */
/* The engine rejects memory limits below 6 MiB. */
#define IM_CONTAINER_MEMORY_MIN       ((int64_t)6 * 1024 * 1024)
#define IM_CONTAINER_STOP_TIMEOUT_MAX 3600 /* seconds */
#define IM_CONTAINER_MASK             "********"

/* ---- mapping (pure) ---------------------------------------------------------------------- */

/* Maps one item of GET /containers/json to the API's list item: container_id, short_id,
 * name, image, image_id, status, state_text, health, created, ports, labels,
 * compose_project, compose_service, compose_file, group_ids ([]), and cpu_usage,
 * memory_usage, memory_limit (null, for the collector to fill). Returns a new reference, or
 * NULL when the item has no Id. */
json_t *im_container_map_list_item(json_t *item);

/* Maps GET /containers/{id}/json to the API's container detail. With mask_secrets the
 * values of secret-looking environment variables are replaced by IM_CONTAINER_MASK.
 * Returns a new reference, or NULL when the document has no Id. */
json_t *im_container_map_detail(json_t *inspect, bool mask_secrets);

/* Returns a deep copy of an inspect document in which the Config.Env values of the names
 * that im_container_env_name_is_secret() accepts are masked. */
json_t *im_container_mask_inspect(json_t *inspect);

/* Maps GET /containers/{id}/changes (an array, or null for no changes) to
 * {container_id, changes: [{path, kind, change}]} with change modified, added or deleted
 * for Kind 0, 1 or 2. Entries of another Kind get change "unknown". */
json_t *im_container_map_diff(const char *container_id, json_t *changes);

/* Returns "healthy", "unhealthy" or "starting" from the health note in the engine's
 * Status text ("Up 5 minutes (healthy)"), or NULL when there is none. */
const char *im_container_health_from_status(const char *status_text);

/* Returns true when an environment variable's name contains PASSWORD, SECRET, TOKEN or
 * KEY, in any case. */
bool im_container_env_name_is_secret(const char *name);

/* Returns the first compose file named by the com.docker.compose.project.config_files label,
 * made absolute against com.docker.compose.project.working_dir when it is relative; NULL
 * when the labels have none. The caller frees the result. The path is joined as text and
 * not checked against the file system. */
char *im_container_compose_file(json_t *labels);

/* ---- input checks (pure) ----------------------------------------------------------------- */

/* Returns true for a container reference made of [A-Za-z0-9_.-], 1 to 128 characters, not
 * starting with a dot or a dash (callers strip one leading slash first). */
bool im_container_ref_is_valid(const char *ref);

/* Returns true for a new container name: 1 to 128 characters matching
 * ^[A-Za-z0-9][A-Za-z0-9_.-]*$. */
bool im_container_name_is_valid(const char *name);

/* Checks a signal for kill: a Linux signal name with or without "SIG" in any case (TERM,
 * SIGKILL, RTMIN+3) or a number from 1 to 64. Writes the form sent to the engine ("SIGTERM",
 * "9") into out and returns true, or returns false. */
bool im_container_signal_normalize(const char *signal, char out[16]);

/* ---- listing and filtering --------------------------------------------------------------- */

/* Filters of GET /containers. NULL or "" leaves a filter out. */
typedef struct {
    const char *status; /* an engine state, or "stopped" for exited, created and dead */
    const char *search; /* case-insensitive substring of name, image, id or compose names */
    const char *compose_project;
    bool has_group_id;
    int64_t group_id;
} im_container_filter_t;

/* Returns true when status is one the status filter accepts. */
bool im_container_status_filter_is_valid(const char *status);

/* Returns true when a mapped list item passes every filter. */
bool im_container_matches(json_t *item, const im_container_filter_t *filter);

/* Lists containers (all of them, or only running and paused ones as the engine's default
 * list does) as mapped list items in *out, a new array. */
int im_container_list(struct im_engine *e, bool all, json_t **out, char *err,
                      size_t errlen) IM_WARN_UNUSED;

/* ---- resolution -------------------------------------------------------------------------- */

/* Fetches the inspect document of the container that ref names: a full id, a unique id
 * prefix of at least 4 hex digits, or a name with or without its leading slash. An exact
 * name wins over an id prefix, as in the docker CLI.
 * Returns IM_EINVAL for a malformed ref, IM_ENOTFOUND when nothing matches, IM_ECONFLICT
 * for an ambiguous prefix (err lists the matching short ids and names), or the engine's
 * failure. *out is a new reference on success. */
int im_container_inspect(struct im_engine *e, const char *ref, json_t **out, char *err,
                         size_t errlen) IM_WARN_UNUSED;

/* Resolves ref as im_container_inspect() does and copies the full id and the name (without
 * its leading slash) out. */
int im_container_resolve(struct im_engine *e, const char *ref,
                         char out_full_id[IM_CONTAINER_ID_SIZE],
                         char out_name[IM_CONTAINER_NAME_SIZE], char *err,
                         size_t errlen) IM_WARN_UNUSED;

/* ---- actions ----------------------------------------------------------------------------- */

typedef enum {
    IM_CONTAINER_START,
    IM_CONTAINER_STOP,
    IM_CONTAINER_RESTART,
    IM_CONTAINER_PAUSE,
    IM_CONTAINER_UNPAUSE,
    IM_CONTAINER_KILL,
    IM_CONTAINER_REMOVE,
} im_container_action_t;

typedef struct {
    int timeout;        /* stop and restart: seconds before SIGKILL, 0..3600; -1: the
                           container's own stop timeout */
    const char *signal; /* kill: checked by im_container_signal_normalize(); NULL: SIGKILL */
    bool force;         /* remove: kill a running container first */
    bool volumes;       /* remove: also remove its anonymous volumes */
} im_container_action_options_t;

/* Returns "start", "stop", ... for an action. */
const char *im_container_action_name(im_container_action_t action);
/* Returns "started", "stopped", ... for messages. */
const char *im_container_action_past(im_container_action_t action);
/* Parses an action name; returns false for an unknown name. */
bool im_container_action_parse(const char *name, im_container_action_t *out);

/* Runs an action on a resolved container (id and name from im_container_resolve()).
 * Returns IM_ECONFLICT when the container's state forbids the action, with a message such as
 * "container web is not running". That covers the engine's 304 and 409, and its "is not
 * paused" error. Returns IM_ENOTFOUND when the container no longer exists, IM_EINVAL for an
 * invalid option or another 4xx, IM_EUPSTREAM for a 5xx (both with the engine's message), and
 * IM_EUNAVAILABLE when the engine cannot be reached. */
int im_container_action(struct im_engine *e, const char *id, const char *name,
                        im_container_action_t action, const im_container_action_options_t *opts,
                        char *err, size_t errlen) IM_WARN_UNUSED;

/* Renames a resolved container. IM_EINVAL for a name that im_container_name_is_valid()
 * rejects, IM_ECONFLICT when the name is taken. */
int im_container_rename(struct im_engine *e, const char *id, const char *name, const char *new_name,
                        char *err, size_t errlen) IM_WARN_UNUSED;

/* Resource and restart-policy changes of PATCH /containers/{id}. Zero has the meaning it has
 * when a container is created: memory_limit 0 is no limit, cpu_shares 0 the default weight
 * (1024), cpu_quota 0 no quota. */
typedef struct {
    bool has_memory_limit;
    int64_t memory_limit; /* bytes: 0, or at least IM_CONTAINER_MEMORY_MIN */
    bool has_cpu_shares;
    int64_t cpu_shares; /* 0, or 2..1024 (the kernel's minimum weight is 2) */
    bool has_cpu_quota;
    int64_t cpu_quota; /* microseconds per CPU period: 0 or -1 for none, or at least 1000 */
    bool has_restart_policy;
    char restart_policy[16];     /* no, always, unless-stopped or on-failure */
    int64_t restart_max_retries; /* on-failure only */
} im_container_update_t;

/* Reads and checks the JSON body of PATCH /containers/{id}: memory_limit, cpu_shares,
 * cpu_quota (integers) and restart_policy (a name, "on-failure:N", or
 * {name, maximum_retry_count}). On an invalid value it returns IM_EINVAL, names the field in
 * field and explains in err. An empty update is invalid too (field "body"). */
int im_container_update_parse(json_t *body, im_container_update_t *out, char field[32], char *err,
                              size_t errlen) IM_WARN_UNUSED;

/* Applies an update to a resolved container. A new memory limit keeps the container's swap
 * allowance (its MemorySwap minus Memory), or allows unlimited swap when it had no swap limit,
 * because the engine rejects a memory limit above the old swap limit. Removing an existing
 * memory limit returns IM_EINVAL, since the engine cannot do it without recreating the
 * container. */
int im_container_update(struct im_engine *e, const char *id, const char *name,
                        const im_container_update_t *update, char *err,
                        size_t errlen) IM_WARN_UNUSED;

/* Fetches the changes of a resolved container's file system, mapped with
 * im_container_map_diff(). */
int im_container_diff(struct im_engine *e, const char *id, json_t **out, char *err,
                      size_t errlen) IM_WARN_UNUSED;

/* ---- prune ------------------------------------------------------------------------------- */

typedef enum {
    IM_PRUNE_CONTAINERS,
    IM_PRUNE_IMAGES,
    IM_PRUNE_NETWORKS,
    IM_PRUNE_VOLUMES,
} im_prune_target_t;

typedef struct {
    const char *label; /* "key" or "key=value"; NULL or "": none */
    const char *until; /* Unix seconds, RFC 3339 or a duration such as "24h" or "1h30m"
                          (containers, images and networks); NULL or "": none */
    bool all_images;   /* images: also unused tagged images, not only dangling ones */
} im_prune_options_t;

/* Returns true for a label filter: 1 to 256 printable ASCII characters, not starting with
 * "=". */
bool im_prune_label_is_valid(const char *label);

/* Returns true for an until filter in one of the forms im_prune_options_t lists. */
bool im_prune_until_is_valid(const char *until);

/* Removes unused objects of one kind. *out is a new object: {deleted_containers,
 * space_reclaimed}, {deleted_images ([{untagged} or {deleted}]), space_reclaimed},
 * {deleted_networks} or {deleted_volumes, space_reclaimed}. IM_EINVAL for an invalid
 * filter, or for until with volumes (the engine has no such filter for them). */
int im_prune(struct im_engine *e, im_prune_target_t target, const im_prune_options_t *opts,
             json_t **out, char *err, size_t errlen) IM_WARN_UNUSED;

#endif
