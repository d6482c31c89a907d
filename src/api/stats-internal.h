#ifndef IM_API_STATS_INTERNAL_H
#define IM_API_STATS_INTERNAL_H

/* Helpers that stats.c shares with the other statistics handlers (stats_history.c,
 * stats_processes.c). */

#include <jansson.h>
#include <stdbool.h>

#include "collect/collector.h"
#include "http/http.h"

/* Returns the latest snapshot (release it with im_collector_release), or NULL after
 * sending a 503 when the collector is not running. */
const im_collector_snapshot_t *im__stats_acquire(im_request_t *req);

/* Finds a container by full id, unique id prefix (4+ hex digits) or name. */
const im_sampler_figures_t *im__stats_find_container(const im_collector_snapshot_t *snapshot,
                                                     const char *ref);

/* Resolves the {id} path parameter in the snapshot. Returns false after sending a 422 or
 * 404. */
bool im__stats_resolve(im_request_t *req, const im_collector_snapshot_t *snapshot,
                       const im_sampler_figures_t **out);

/* Resolves the {id} path parameter through the engine into id and name (buffers of
 * IM_CONTAINER_ID_SIZE and IM_CONTAINER_NAME_SIZE). Returns false after sending the error. */
bool im__stats_resolve_engine(im_request_t *req, char *id, char *name);

/* Sends body (reference stolen) as a 200 JSON response with 15 significant digits. */
void im__stats_send_json(im_request_t *req, json_t *body);

/* Returns value rounded to 2 decimals as a JSON real. */
json_t *im__stats_rounded(double value);

#endif
