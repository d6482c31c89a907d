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
