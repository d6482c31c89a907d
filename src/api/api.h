#ifndef IM_API_API_H
#define IM_API_API_H

#include <stdbool.h>

#include "http/http.h"

/* Route tables, one per resource; each ends with an entry whose method is NULL. */
extern const im_route_t im_api_health_routes[];
extern const im_route_t im_api_auth_routes[];
extern const im_route_t im_api_audit_routes[];
extern const im_route_t im_api_user_routes[];
extern const im_route_t im_api_container_routes[];
extern const im_route_t im_api_docker_routes[];
extern const im_route_t im_api_system_routes[];
extern const im_route_t im_api_logs_routes[];
extern const im_route_t im_api_exec_routes[];

/* Single-use terminal tickets of POST /containers/{id}/shell (api/exec.c). */
typedef struct im_terminal_tickets im_terminal_tickets_t;
im_terminal_tickets_t *im_api_terminal_tickets_new(void);
void im_api_terminal_tickets_free(im_terminal_tickets_t *tickets);
extern const im_route_t im_api_openapi_routes[];
extern const im_route_t im_api_compose_routes[];
extern const im_route_t im_api_event_routes[];
extern const im_route_t im_api_stats_routes[];
extern const im_route_t im_api_metrics_routes[];
extern const im_route_t im_api_history_routes[];
extern const im_route_t im_api_process_routes[];
extern const im_route_t im_api_settings_routes[];

extern const im_route_t im_api_group_routes[];

/* Container group membership (api/groups.c): an in-memory copy of the store's member names,
 * reloaded after each membership write through the groups API, so that container lists add
 * group_ids without a database query per request. */
typedef struct im_group_index im_group_index_t;
im_group_index_t *im_api_group_index_new(void);
void im_api_group_index_free(im_group_index_t *index);
/* Returns a new reference to an object that maps each member container name to an array of
 * group ids, and stores the membership generation in *generation. The generation changes on
 * every membership write. Returns NULL when the store cannot be read. */
json_t *im_api_group_members(im_request_t *req, uint64_t *generation);
/* Sets group_ids of every container list item in items (modified in place) from members,
 * the object im_api_group_members returns (NULL: every item gets []). */
void im_api_group_ids_fill(json_t *items, json_t *members);

/* Returns true for the engine states that container counts call stopped: exited, created
 * and dead (api/containers.c). NULL gives false. */
bool im_api_status_is_stopped(const char *status);

struct im_store;
/* Deletes audit rows older than days days and logs how many went; logs a failure. */
void im_api_audit_apply_retention(struct im_store *store, int days);

/* Records one audit-log row for the current request: who (from the principal), from
 * where (client IP, user agent), what (action and target) and the outcome. */
void im_api_audit(im_request_t *req, const char *action, const char *target_type,
                  const char *target_id, bool success, const char *error_message);

/* Allow-list checks shared by the users API and the command line. */
bool im_api_valid_username(const char *name);
bool im_api_valid_email(const char *email);

#endif
