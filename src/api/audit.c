/* Audit-log recording for handlers, GET /api/v1/audit-logs (JSON or CSV) and retention. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "core/log.h"
#include "store/store.h"

#define AUDIT_PAGE_SIZE_DEFAULT 50
#define AUDIT_PAGE_SIZE_MAX     100
#define AUDIT_PAGE_MAX          1000000
/* A CSV export contains at most this many rows, newest first. X-Total-Count gives the full
 * count. */
#define AUDIT_CSV_MAX_ROWS    100000
#define AUDIT_FILTER_TEXT_MAX 256

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

void im_api_audit_apply_retention(struct im_store *store, int days)
{
    int64_t deleted = 0;
    int rc = im_store_audit_purge(store, im_now() - (int64_t)days * 86400, &deleted);
    if (rc != IM_OK) {
        im_log_warn("audit",
                    "cannot delete audit rows older than %d days (error %d); retrying "
                    "at the next maintenance run",
                    days, rc);
    } else if (deleted > 0) {
        im_log_info("audit", "deleted %lld audit rows older than AUDIT_RETENTION_DAYS=%d",
                    (long long)deleted, days);
    }
}

/* Reads an optional RFC 3339 query value into unix seconds (0 when absent). Sends 422 and
 * returns false when it is invalid. */
static bool query_time(im_request_t *req, const char *name, int64_t *out)
{
    const char *text = im_req_query(req, name);
    *out = 0;
    if (!text) {
        return true;
    }
    int64_t nanos = 0;
    if (!im_time_parse_rfc3339(text, &nanos) || nanos <= 0) {
        im_resp_invalid(req, "query", name,
                        "invalid timestamp: expected RFC 3339 such as 2026-01-02T03:04:05Z");
        return false;
    }
    *out = nanos / 1000000000;
    return true;
}

/* Reads an optional text filter; sends 422 and returns false when it is too long. */
static bool query_text(im_request_t *req, const char *name, const char **out)
{
    *out = im_req_query(req, name);
    if (*out && (strlen(*out) == 0 || strlen(*out) > AUDIT_FILTER_TEXT_MAX)) {
        im_resp_invalid(req, "query", name, "must be 1 to %d characters", AUDIT_FILTER_TEXT_MAX);
        return false;
    }
    return true;
}

/* Parses the filters shared by the JSON and CSV forms. Sends an error and returns false
 * when one is invalid. */
static bool parse_filter(im_request_t *req, im_store_audit_filter_t *filter)
{
    memset(filter, 0, sizeof(*filter));
    int64_t user_id = 0;
    if (!im_req_query_int(req, "user_id", 1, INT64_MAX, 0, &user_id)) {
        return false;
    }
    filter->user_id = user_id;
    if (!query_text(req, "action", &filter->action) ||
        !query_text(req, "container_id", &filter->target_id)) {
        return false;
    }
    if (!query_time(req, "since", &filter->since) || !query_time(req, "until", &filter->until)) {
        return false;
    }
    if (filter->since && filter->until && filter->since > filter->until) {
        im_resp_invalid(req, "query", "until", "must not be earlier than since");
        return false;
    }
    if (im_req_query(req, "success")) {
        bool success = false;
        if (!im_req_query_bool(req, "success", false, &success)) {
            return false;
        }
        filter->success = success ? IM_STORE_BOOL_TRUE : IM_STORE_BOOL_FALSE;
    }
    return true;
}

static json_t *text_or_null(const char *text)
{
    return text ? json_string(text) : json_null();
}

static json_t *entry_json(const im_store_audit_entry_t *entry)
{
    char when[32];
    im_time_iso8601(entry->timestamp, when);
    json_t *details = entry->details ? json_loads(entry->details, 0, NULL) : NULL;
    return json_pack(
        "{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o}", "id", (json_int_t)entry->id,
        "timestamp", when, "user_id", entry->user_id ? json_integer(entry->user_id) : json_null(),
        "username", text_or_null(entry->username), "action", text_or_null(entry->action),
        "target_type", text_or_null(entry->target_type), "target_id",
        text_or_null(entry->target_id), "ip_address", text_or_null(entry->ip_address), "user_agent",
        text_or_null(entry->user_agent), "success", entry->success, "error_message",
        text_or_null(entry->error_message), "details", details ? details : json_null());
}

/* Appends one CSV field: always quoted, inner quotes doubled, and a leading character
 * that a spreadsheet would read as a formula (= + - @, tab, carriage return) prefixed with
 * an apostrophe so that the cell stays text. */
static void csv_field(im_buf_t *out, const char *text, bool last)
{
    im_buf_append(out, "\"", 1);
    if (text && (text[0] == '=' || text[0] == '+' || text[0] == '-' || text[0] == '@' ||
                 text[0] == '\t' || text[0] == '\r')) {
        im_buf_append(out, "'", 1);
    }
    for (const char *p = text ? text : ""; *p; p++) {
        if (*p == '"') {
            im_buf_append(out, "\"\"", 2);
        } else {
            im_buf_append(out, p, 1);
        }
    }
    im_buf_append(out, last ? "\"\r\n" : "\",", last ? 3 : 2);
}

static void csv_row(im_buf_t *out, const im_store_audit_entry_t *entry)
{
    char id[24], when[32], user_id[24];
    snprintf(id, sizeof(id), "%lld", (long long)entry->id);
    im_time_iso8601(entry->timestamp, when);
    snprintf(user_id, sizeof(user_id), "%lld", (long long)entry->user_id);
    csv_field(out, id, false);
    csv_field(out, when, false);
    csv_field(out, entry->user_id ? user_id : "", false);
    csv_field(out, entry->username, false);
    csv_field(out, entry->action, false);
    csv_field(out, entry->target_type, false);
    csv_field(out, entry->target_id, false);
    csv_field(out, entry->ip_address, false);
    csv_field(out, entry->user_agent, false);
    csv_field(out, entry->success ? "true" : "false", false);
    csv_field(out, entry->error_message, false);
    csv_field(out, entry->details, true);
}

static void send_csv(im_request_t *req, im_store_audit_filter_t *filter)
{
    im_buf_t out;
    im_buf_init(&out);
    im_buf_appendf(&out, "id,timestamp,user_id,username,action,target_type,target_id,"
                         "ip_address,user_agent,success,error_message,details\r\n");
    int64_t total = 0;
    int rc = IM_OK;
    filter->limit = IM_STORE_PAGE_LIMIT_MAX;
    for (filter->offset = 0; filter->offset < AUDIT_CSV_MAX_ROWS; filter->offset += filter->limit) {
        im_store_audit_page_t page;
        rc = im_store_audit_list(im_req_app(req)->store, filter, &page);
        if (rc != IM_OK) {
            break;
        }
        total = page.total;
        for (size_t i = 0; i < page.count; i++) {
            csv_row(&out, &page.entries[i]);
        }
        size_t count = page.count;
        im_store_audit_page_release(&page);
        if ((int64_t)count < filter->limit) {
            break;
        }
    }
    if (rc != IM_OK) {
        im_buf_release(&out);
        im_resp_from_rc(req, IM_EUNAVAILABLE, "audit export failed: database error");
        return;
    }
    char count_text[24];
    snprintf(count_text, sizeof(count_text), "%lld", (long long)total);
    im_resp_header(req, "X-Total-Count", count_text);
    im_resp_header(req, "Content-Disposition", "attachment; filename=\"audit-log.csv\"");
    im_resp_bytes(req, 200, "text/csv; charset=utf-8", out.data, out.len);
    im_buf_release(&out);
}

static void get_audit_logs(im_request_t *req)
{
    im_store_audit_filter_t filter;
    if (!parse_filter(req, &filter)) {
        return;
    }
    const char *format = im_req_query(req, "format");
    if (format && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
        im_resp_invalid(req, "query", "format", "must be json or csv");
        return;
    }
    if (format && strcmp(format, "csv") == 0) {
        send_csv(req, &filter);
        return;
    }
    int64_t page_number = 1, page_size = AUDIT_PAGE_SIZE_DEFAULT;
    if (!im_req_query_int(req, "page", 1, AUDIT_PAGE_MAX, 1, &page_number) ||
        !im_req_query_int(req, "page_size", 1, AUDIT_PAGE_SIZE_MAX, AUDIT_PAGE_SIZE_DEFAULT,
                          &page_size)) {
        return;
    }
    filter.offset = (page_number - 1) * page_size;
    filter.limit = page_size;
    im_store_audit_page_t page;
    int rc = im_store_audit_list(im_req_app(req)->store, &filter, &page);
    if (rc != IM_OK) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "audit query failed: database error");
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < page.count; i++) {
        json_array_append_new(items, entry_json(&page.entries[i]));
    }
    json_t *reply =
        json_pack("{s:o, s:I, s:I, s:I}", "items", items, "total", (json_int_t)page.total, "page",
                  (json_int_t)page_number, "page_size", (json_int_t)page_size);
    im_store_audit_page_release(&page);
    im_resp_json(req, 200, reply);
}

const im_route_t im_api_audit_routes[] = {
    {"GET", "/api/v1/audit-logs", IM_ROLE_ADMIN, get_audit_logs,
     "Audit log entries with filters and paging; format=csv downloads them"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL},
};
