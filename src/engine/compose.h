#ifndef IM_ENGINE_COMPOSE_H
#define IM_ENGINE_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Compose projects as the engine reports them: grouped from the com.docker.compose.* labels
 * of its containers, so a project whose files are gone still appears. */

#define IM_COMPOSE_FILE_MAX_BYTES (1024 * 1024)

/* Groups mapped container list items (from im_container_list with all=true) into the
 * contract's project list: [{project_name, compose_file_path, working_dir, config_files,
 * services: [{name, containers: [names], container_ids, running}], status}], sorted by
 * name. status is running when every container runs, stopped when none does, else
 * partial. Returns a new array. */
json_t *im_compose_projects(json_t *items);

/* Returns the project entry named name from im_compose_projects' output (borrowed), or
 * NULL. */
json_t *im_compose_find(json_t *projects, const char *name);

/* Returns true when name is a valid compose project name: [a-z0-9][a-z0-9_-]*, 1..63. */
bool im_compose_name_is_valid(const char *name);

/* Lists the candidate compose files of a container from its labels, each an absolute host
 * path: every entry of com.docker.compose.project.config_files (relative ones resolved
 * against the working_dir label), or, when that label is absent, compose.yaml,
 * compose.yml, docker-compose.yml and docker-compose.yaml in the working directory.
 * Only names ending in .yml or .yaml are returned. Returns a new array of strings. */
json_t *im_compose_candidate_files(json_t *labels);

/* Parses compose YAML into {services: {name: {...}}, networks: [...], volumes: [...]}
 * with every scalar as a string. The input is bounded by IM_COMPOSE_FILE_MAX_BYTES, the
 * nesting by 64 levels and the output by 100,000 nodes, so alias bombs fail. Returns NULL
 * with err set when the text is not a YAML mapping. */
json_t *im_compose_parse(const char *text, size_t len, char *err, size_t errlen);

/* Replaces the values of secret-looking keys (names containing PASSWORD, SECRET, TOKEN or
 * KEY) in compose text, in "KEY: value", "KEY=value" and "- KEY=value" forms, with
 * "********". Returns a new malloc'd string. */
char *im_compose_mask_text(const char *text);

/* Orders service names so that each comes after the services it depends on (from the
 * parsed file's depends_on, else the com.docker.compose.depends_on label), breaking ties
 * and cycles by name. services is an array of names; depends is an object mapping a name
 * to an array of names (may be NULL). Returns a new array. */
json_t *im_compose_start_order(json_t *services, json_t *depends);

/* ---- image pull progress ----------------------------------------------------------------- */

/* The state of one image pull, fed with the JSON messages that the engine's POST
 * /images/create streams: {"status", "id" (layer), "progressDetail": {"current", "total"},
 * "error", "errorDetail": {"message"}}. */
typedef struct {
    json_t *layers;   /* layer id -> [current, total] in bytes */
    char status[256]; /* status text of the latest message without a layer id */
    char error[512];  /* the engine's error message; empty while none came */
} im_pull_progress_t;

void im_pull_progress_init(im_pull_progress_t *progress);
void im_pull_progress_release(im_pull_progress_t *progress);

/* Applies one message of len bytes and returns the progress event for it as a new object:
 * {status, layer (null for image-wide messages), current, total (the layer's bytes, null when
 * the engine gave none), image_current, image_total (sums over the layers with a known
 * size), error (null or the message)}. Returns NULL for text that is not a JSON object. */
json_t *im_pull_progress_apply(im_pull_progress_t *progress, const char *message, size_t len);

/* Returns the reference to pass as fromImage, with ":latest" added when image names no tag
 * or digest, because without a tag the engine pulls every tag of the repository. The caller
 * frees the result. */
char *im_pull_image_ref(const char *image);

#endif
