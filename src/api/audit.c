/* Audit-log recording for handlers. */
#include "api/api.h"
#include "app.h"
#include "core/log.h"
#include "store/store.h"

void im_api_audit(im_request_t *req, const char *action, const char *target_type,
                  const char *target_id, bool success, const char *error_message)
{
    const im_principal_t *who = im_req_principal(req);
    im_store_audit_event_t event = {
        .user_id = who ? who->user_id : 0,
        .username = who ? who->username : NULL,
        .action = action,
        .target_type = target_type,
        .target_id = target_id,
        .ip_address = im_req_client_ip(req),
        .user_agent = im_req_user_agent(req),
        .success = success,
        .error_message = error_message,
    };
    int rc = im_store_audit_insert(im_req_app(req)->store, &event);
    if (rc != IM_OK) {
        im_log_error("audit", "request %s: cannot record %s on %s %s (error %d)", im_req_id(req),
                     action, target_type ? target_type : "-", target_id ? target_id : "-", rc);
    }
}
