#ifndef IM_API_STATS_INTERNAL_H
#define IM_API_STATS_INTERNAL_H

/* Helpers shared by the statistics handlers in stats.c, stats_history.c and
 * stats_processes.c. Each function is defined in stats.c unless its comment names another
 * file. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "collect/collector.h"
#include "http/http.h"

/* Returns the latest snapshot (release it with im_collector_release), or NULL after
 * sending a 503 when the collector is not running. */
const im_collector_snapshot_t *im__stats_acquire(im_request_t *req);

/* Finds a container by full id, unique id prefix (4+ hex digits) or name. */
const im_sampler_figures_t *im__stats_find_container(const im_collector_snapshot_t *snapshot,
                                                     const char *ref);

/* Finds ref in *snapshot. When the snapshot lacks it but the engine has it (its create
 * event is not applied yet), makes the collector read that container and replaces
 * *snapshot (which may become NULL) with the newer one. Returns NULL when neither has it,
 * with the engine's error code (IM_ENOTFOUND for an unknown container) and message. */
const im_sampler_figures_t *im__stats_find_or_read(im_request_t *req,
                                                   const im_collector_snapshot_t **snapshot,
                                                   const char *ref, int *rc, char *err,
                                                   size_t errlen);

/* Resolves the {id} path parameter in *snapshot, reading a container the engine has but
 * the snapshot lacks as im__stats_find_or_read() does. Returns false after sending a 422,
 * 404 or the engine's error. */
bool im__stats_resolve(im_request_t *req, const im_collector_snapshot_t **snapshot,
                       const im_sampler_figures_t **out);

/* Resolves the {id} path parameter through the engine into id and name (buffers of
 * IM_CONTAINER_ID_SIZE and IM_CONTAINER_NAME_SIZE). Returns false after sending the error. */
bool im__stats_resolve_engine(im_request_t *req, char *id, char *name);

/* Reads the period query parameter (5m, 15m, 1h, 6h, 24h, 7d or 30d; fallback when absent)
 * into its name and length. Returns false after sending a 422. (stats_history.c) */
bool im__stats_read_period(im_request_t *req, const char *fallback, const char **name,
                           int64_t *seconds);

/* Stores in *mean the mean of metric ("cpu", "memory" or "network") of a live container
 * over the period that ends now, weighted by samples, from the same points as its history.
 * *found is false when there is no point. Returns IM_OK or the store's error.
 * (stats_history.c) */
int im__stats_history_mean(im_request_t *req, const im_sampler_figures_t *f, int64_t period_seconds,
                           const char *metric, double *mean, bool *found);

/* Sends body (reference stolen) as a 200 JSON response with 15 significant digits. */
void im__stats_send_json(im_request_t *req, json_t *body);

/* Returns value rounded to 2 decimals as a JSON real. */
json_t *im__stats_rounded(double value);

#endif
