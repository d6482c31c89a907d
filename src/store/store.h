#ifndef IM_STORE_STORE_H
#define IM_STORE_STORE_H

/* The persistent store: users, login sessions, refresh tokens, the audit log, container
 * groups and settings. A backend (SQLite now, PostgreSQL later) fills an im_store_ops_t
 * table, and callers go through the im_store_* wrappers below, never through the table.
 *
 * Every operation is thread-safe and returns IM_OK or a negative IM_E* code.
 *   IM_ENOTFOUND     the row does not exist
 *   IM_ECONFLICT     a unique key is taken
 *   IM_EINVAL        a value is too long for its field or fails a CHECK constraint
 *   IM_EUNAVAILABLE  the database stays locked or cannot be written
 *   IM_ERR           any other failure
 * The store logs unexpected failures under the "store" module, so callers only pass the
 * code on. All times are Unix seconds. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

/* Byte limits of the text fields that the record structs below keep in fixed arrays.
 * Writes reject longer values with IM_EINVAL, except for the fields documented as cut. */
#define IM_STORE_USERNAME_MIN          3
#define IM_STORE_USERNAME_MAX          50
#define IM_STORE_EMAIL_MAX             254
#define IM_STORE_PASSWORD_HASH_MAX     127
#define IM_STORE_ROLE_MAX              15
#define IM_STORE_SESSION_ID_MAX        127
#define IM_STORE_IP_ADDRESS_MAX        63
#define IM_STORE_USER_AGENT_MAX        255
#define IM_STORE_TOKEN_HASH_LEN        64
#define IM_STORE_GROUP_NAME_MAX        100
#define IM_STORE_GROUP_DESCRIPTION_MAX 500
#define IM_STORE_GROUP_COLOR_MAX       31
#define IM_STORE_TOTP_SECRET_MAX       127
#define IM_STORE_API_TOKEN_NAME_MAX    100
#define IM_STORE_API_TOKEN_PREFIX_MAX  15
/* Maximum rows in one page of a list operation. */
#define IM_STORE_PAGE_LIMIT_MAX 1000

/* A tri-state filter on a boolean column. The zero value matches every row. */
typedef enum {
    IM_STORE_BOOL_ANY = 0,
    IM_STORE_BOOL_TRUE = 1,
    IM_STORE_BOOL_FALSE = 2,
} im_store_bool_filter_t;

/* A user account. role is "admin", "operator" or "viewer", and the schema rejects others. */
typedef struct {
    int64_t id;
    char username[IM_STORE_USERNAME_MAX + 1];
    char email[IM_STORE_EMAIL_MAX + 1];
    char password_hash[IM_STORE_PASSWORD_HASH_MAX + 1];
    char role[IM_STORE_ROLE_MAX + 1];
    bool is_active;
    int64_t created_at;
    int64_t updated_at;
    int64_t last_login_at; /* 0: never logged in */
} im_store_user_t;

/* Filters and paging for im_store_user_list. Rows come in ascending id order. */
typedef struct {
    im_store_bool_filter_t is_active;
    const char *role; /* NULL: any role */
    int64_t offset;   /* >= 0 */
    int64_t limit;    /* 1..IM_STORE_PAGE_LIMIT_MAX */
} im_store_user_filter_t;

/* One page of users plus the number of rows that match the filter across all pages. */
typedef struct {
    im_store_user_t *users; /* owned by the page; free with im_store_user_page_release */
    size_t count;
    int64_t total;
} im_store_user_page_t;

/* One login, which is also one family of refresh tokens. */
typedef struct {
    char id[IM_STORE_SESSION_ID_MAX + 1]; /* random text chosen by the caller */
    int64_t user_id;
    int64_t created_at;
    int64_t expires_at;
    int64_t revoked_at; /* 0: active */
    /* Informational: the store cuts longer values at a UTF-8 character boundary. */
    char ip_address[IM_STORE_IP_ADDRESS_MAX + 1];
    char user_agent[IM_STORE_USER_AGENT_MAX + 1];
} im_store_session_t;

/* A stored refresh token, known only by the SHA-256 hex of its token id. */
typedef struct {
    char token_hash[IM_STORE_TOKEN_HASH_LEN + 1];
    char session_id[IM_STORE_SESSION_ID_MAX + 1];
    int64_t user_id;
    int64_t issued_at;
    int64_t expires_at;
    int64_t spent_at;                              /* 0: not rotated yet */
    char replaced_by[IM_STORE_TOKEN_HASH_LEN + 1]; /* hash of the successor, or "" */
    int64_t session_expires_at;                    /* read from the session */
    int64_t session_revoked_at;                    /* read from the session, 0: active */
} im_store_refresh_token_t;

/* An audit event to record. Every string may be NULL, which is stored as NULL. details,
 * when given, must be valid JSON text. */
typedef struct {
    int64_t timestamp; /* 0: now */
    int64_t user_id;   /* 0: no user */
    const char *username;
    const char *action;
    const char *target_type;
    const char *target_id;
    const char *ip_address;
    const char *user_agent;
    bool success;
    const char *error_message;
    const char *details;
} im_store_audit_event_t;

/* A recorded audit event. The strings are NULL where the event had none. */
typedef struct {
    int64_t id;
    int64_t timestamp;
    int64_t user_id; /* 0: no user */
    char *username;
    char *action;
    char *target_type;
    char *target_id;
    char *ip_address;
    char *user_agent;
    bool success;
    char *error_message;
    char *details;
} im_store_audit_entry_t;

/* Filters and paging for im_store_audit_list. Zero or NULL fields match everything.
 * Rows come newest first. */
typedef struct {
    int64_t user_id;
    const char *action;
    const char *target_id;
    int64_t since; /* timestamp >= since */
    int64_t until; /* timestamp <= until */
    im_store_bool_filter_t success;
    int64_t offset; /* >= 0 */
    int64_t limit;  /* 1..IM_STORE_PAGE_LIMIT_MAX */
} im_store_audit_filter_t;

/* One page of audit entries plus the number of rows that match across all pages. */
typedef struct {
    im_store_audit_entry_t *entries; /* free with im_store_audit_page_release */
    size_t count;
    int64_t total;
} im_store_audit_page_t;

/* A named group of containers. */
typedef struct {
    int64_t id;
    char name[IM_STORE_GROUP_NAME_MAX + 1]; /* unique, case-insensitive for ASCII */
    char description[IM_STORE_GROUP_DESCRIPTION_MAX + 1];
    char color[IM_STORE_GROUP_COLOR_MAX + 1];
    int64_t created_at;
    int64_t updated_at;
} im_store_group_t;

/* Every group, ordered by name. */
typedef struct {
    im_store_group_t *groups; /* free with im_store_group_list_release */
    size_t count;
} im_store_group_list_t;

/* A list of strings. The list owns items and each string in it. */
typedef struct {
    char **items;
    size_t count;
} im_store_strings_t;

/* A user's TOTP second factor. A row exists from setup on; it protects logins only once
 * enabled_at is set. */
typedef struct {
    int64_t user_id;
    char secret[IM_STORE_TOTP_SECRET_MAX + 1]; /* sealed (auth/seal.h), or base32 in old rows */
    int64_t enabled_at;                        /* 0: set up but not confirmed yet */
    int64_t last_step;                         /* time step of the last accepted code */
    int64_t created_at;
} im_store_totp_t;

/* A personal API token, known only by the SHA-256 hex of the token text. */
typedef struct {
    int64_t id;
    int64_t user_id;
    char name[IM_STORE_API_TOKEN_NAME_MAX + 1];
    char token_hash[IM_STORE_TOKEN_HASH_LEN + 1];
    char prefix[IM_STORE_API_TOKEN_PREFIX_MAX + 1]; /* the first characters, for display */
    int64_t created_at;
    int64_t expires_at;
    int64_t last_used_at; /* 0: never used */
    int64_t revoked_at;   /* 0: active */
} im_store_api_token_t;

/* The API tokens of one user, newest first. */
typedef struct {
    im_store_api_token_t *tokens; /* free with im_store_api_token_list_release */
    size_t count;
} im_store_api_token_list_t;

/* Resolutions of the history tiers. */
typedef enum {
    IM_STORE_TIER_10S = 0, /* 10-second points, kept RETENTION_RAW_HOURS */
    IM_STORE_TIER_1M = 1,  /* 1-minute points, kept 7 days */
    IM_STORE_TIER_1H = 2,  /* 1-hour points, kept RETENTION_DAYS */
} im_store_tier_t;

#define IM_STORE_TIER_COUNT 3
/* The container_id of the host's series. */
#define IM_STORE_HOST_SERIES        ""
#define IM_STORE_CONTAINER_ID_MAX   64
#define IM_STORE_CONTAINER_NAME_MAX 255

/* The min, max and mean of one gauge over the samples of a point. */
typedef struct {
    double min;
    double max;
    double avg;
} im_store_gauge_t;

/* One history point: the samples taken in [time, time + the tier's resolution). */
typedef struct {
    int64_t time;                     /* bucket start, Unix seconds */
    int64_t samples;                  /* collector readings aggregated into the point, >= 1 */
    im_store_gauge_t cpu;             /* percent of one core: 100 is one core */
    im_store_gauge_t memory;          /* bytes in use, without the inactive file cache */
    im_store_gauge_t network_rx_rate; /* bytes per second */
    im_store_gauge_t network_tx_rate;
    im_store_gauge_t block_read_rate;
    im_store_gauge_t block_write_rate;
    im_store_gauge_t pids;
    /* The last value in the bucket. Counters are totals since the container started. */
    uint64_t memory_limit; /* 0: no limit */
    uint64_t network_rx;
    uint64_t network_tx;
    uint64_t block_read;
    uint64_t block_write;
} im_store_history_point_t;

/* One 10-second point of one series, as the collector queues it. */
typedef struct {
    char container_id[IM_STORE_CONTAINER_ID_MAX + 1]; /* IM_STORE_HOST_SERIES: the host */
    char name[IM_STORE_CONTAINER_NAME_MAX + 1];       /* container name; "host" for the host */
    im_store_history_point_t point;
} im_store_history_record_t;

/* What im_store_history_query reads. Exactly one of container_id and name is set. */
typedef struct {
    const char *container_id; /* a full id, or IM_STORE_HOST_SERIES; NULL: match by name */
    const char *name;         /* every series that carries this name; NULL: match by id */
    im_store_tier_t tier;
    int64_t since; /* points with since <= time < until */
    int64_t until;
} im_store_history_query_t;

/* Points of one query in ascending time order. Series that share a name may have points
 * with the same time. */
typedef struct {
    im_store_history_point_t *points; /* free with im_store_history_points_release */
    size_t count;
} im_store_history_points_t;

/* A known series: the history of one container (or the host). */
typedef struct {
    char container_id[IM_STORE_CONTAINER_ID_MAX + 1];
    char name[IM_STORE_CONTAINER_NAME_MAX + 1];
    int64_t first_seen;
    int64_t last_seen;
} im_store_history_series_t;

/* Cut-off times for im_store_history_prune: points older than each are deleted. 0 leaves
 * that tier alone. */
typedef struct {
    int64_t before[IM_STORE_TIER_COUNT]; /* indexed by im_store_tier_t */
} im_store_history_cutoffs_t;

/* Rows that one prune deleted, by tier, and the series left without points. */
typedef struct {
    int64_t points[IM_STORE_TIER_COUNT];
    int64_t series;
} im_store_history_pruned_t;

struct im_store;
typedef struct im_store im_store_t;

/* The backend operations. The contract of each one is on its im_store_* wrapper below. */
typedef struct {
    const char *name;
    void (*close)(im_store_t *store);
    int (*migrate)(im_store_t *store, int *version);
    int (*schema_version)(im_store_t *store, int *version);
    int (*ping)(im_store_t *store);
    int (*maintenance)(im_store_t *store);
    int (*backup)(im_store_t *store, const char *path, bool overwrite);

    int (*user_count)(im_store_t *store, int64_t *count);
    int (*user_create)(im_store_t *store, im_store_user_t *user);
    int (*user_get_by_id)(im_store_t *store, int64_t id, im_store_user_t *out);
    int (*user_get_by_name)(im_store_t *store, const char *username, im_store_user_t *out);
    int (*user_list)(im_store_t *store, const im_store_user_filter_t *filter,
                     im_store_user_page_t *page);
    int (*user_update)(im_store_t *store, im_store_user_t *user);
    int (*user_delete)(im_store_t *store, int64_t id);
    int (*user_touch_login)(im_store_t *store, int64_t id, int64_t when);

    int (*session_create)(im_store_t *store, const im_store_session_t *session);
    int (*session_get)(im_store_t *store, const char *id, im_store_session_t *out);
    int (*session_revoke)(im_store_t *store, const char *id, int64_t when);
    int (*session_revoke_user)(im_store_t *store, int64_t user_id, const char *except_session_id,
                               int64_t when);

    int (*refresh_insert)(im_store_t *store, const im_store_refresh_token_t *token);
    int (*refresh_get)(im_store_t *store, const char *token_hash, im_store_refresh_token_t *out);
    int (*refresh_spend)(im_store_t *store, const char *token_hash, const char *replaced_by,
                         int64_t when);
    int (*refresh_purge_expired)(im_store_t *store, int64_t now, int64_t *deleted);

    int (*audit_insert)(im_store_t *store, const im_store_audit_event_t *event);
    int (*audit_list)(im_store_t *store, const im_store_audit_filter_t *filter,
                      im_store_audit_page_t *page);

    int (*group_create)(im_store_t *store, im_store_group_t *group);
    int (*group_get)(im_store_t *store, int64_t id, im_store_group_t *out);
    int (*group_list)(im_store_t *store, im_store_group_list_t *list);
    int (*group_delete)(im_store_t *store, int64_t id);
    int (*group_member_add)(im_store_t *store, int64_t group_id, const char *container_name);
    int (*group_member_remove)(im_store_t *store, int64_t group_id, const char *container_name);
    int (*group_member_list)(im_store_t *store, int64_t group_id, im_store_strings_t *names);

    int (*setting_get)(im_store_t *store, const char *key, char **value);
    int (*setting_set)(im_store_t *store, const char *key, const char *value, int64_t when);

    int (*audit_purge)(im_store_t *store, int64_t before, int64_t *deleted);

    int (*totp_get)(im_store_t *store, int64_t user_id, im_store_totp_t *out);
    int (*totp_setup)(im_store_t *store, const im_store_totp_t *totp);
    int (*totp_enable)(im_store_t *store, int64_t user_id, int64_t when, int64_t step,
                       const char *const *code_hashes, size_t code_count);
    int (*totp_accept_step)(im_store_t *store, int64_t user_id, int64_t step);
    int (*totp_delete)(im_store_t *store, int64_t user_id);
    int (*totp_recovery_use)(im_store_t *store, int64_t user_id, const char *code_hash,
                             int64_t when);

    int (*api_token_create)(im_store_t *store, im_store_api_token_t *token);
    int (*api_token_get)(im_store_t *store, const char *token_hash, im_store_api_token_t *out);
    int (*api_token_list)(im_store_t *store, int64_t user_id, im_store_api_token_list_t *list);
    int (*api_token_revoke)(im_store_t *store, int64_t user_id, int64_t id, int64_t when);
    int (*api_token_touch)(im_store_t *store, int64_t id, int64_t when);

    int (*group_update)(im_store_t *store, im_store_group_t *group,
                        const im_store_strings_t *members);
    int (*totp_secret_replace)(im_store_t *store, int64_t user_id, const char *old_secret,
                               const char *new_secret);
    int (*totp_user_ids)(im_store_t *store, int64_t **ids, size_t *count);
    int (*history_write)(im_store_t *store, const im_store_history_record_t *records, size_t count);
    int (*history_rollup)(im_store_t *store, int64_t until);
    int (*history_query)(im_store_t *store, const im_store_history_query_t *query,
                         im_store_history_points_t *out);
    int (*history_series_find)(im_store_t *store, const char *ref, im_store_history_series_t *out);
    int (*history_prune)(im_store_t *store, const im_store_history_cutoffs_t *cutoffs,
                         im_store_history_pruned_t *out);
    int (*history_size)(im_store_t *store, im_store_tier_t tier, int64_t *bytes, int64_t *rows);
} im_store_ops_t;

/* The base of every backend's store object; a backend embeds it as its first member. */
struct im_store {
    const im_store_ops_t *ops;
};

/* Opens the database that database_url names and returns the store in *out.
 *   sqlite:///./data/inframon.db   the relative path ./data/inframon.db
 *   sqlite:////var/lib/x.db        the absolute path /var/lib/x.db
 *   postgresql://...               IM_EINVAL for now: that backend is not built yet
 * Missing folders of a SQLite path are created with mode 0700 and a new database file
 * with mode 0600. Opening does not migrate: call im_store_migrate next. On failure returns
 * IM_EINVAL (bad URL) or IM_EUNAVAILABLE (cannot open) and writes the reason to err,
 * which never contains the URL's password. */
int im_store_open(const char *database_url, im_store_t **out, char *err,
                  size_t errlen) IM_WARN_UNUSED;

/* Opens the store like im_store_open, but fails with IM_ENOTFOUND and a message naming the
 * path when DATABASE_URL names a SQLite file that does not exist, instead of creating an
 * empty database. For offline commands that read or change existing data. */
int im_store_open_existing(const char *database_url, im_store_t **out, char *err,
                           size_t errlen) IM_WARN_UNUSED;

/* Closes every connection and frees the store. No other call may be running. NULL is
 * accepted. */
static inline void im_store_close(im_store_t *store)
{
    if (store) {
        store->ops->close(store);
    }
}

/* Applies every embedded migration newer than the database, each in one transaction, and
 * stores the resulting schema version in *version (may be NULL). Running it again is a
 * no-op. Returns IM_ECONFLICT when the database is newer than this binary. */
static inline IM_WARN_UNUSED int im_store_migrate(im_store_t *store, int *version)
{
    return store->ops->migrate(store, version);
}

/* Stores the highest applied migration version in *version, 0 for a new database. */
static inline IM_WARN_UNUSED int im_store_schema_version(im_store_t *store, int *version)
{
    return store->ops->schema_version(store, version);
}

/* Runs SELECT 1 to check that the database responds. */
static inline IM_WARN_UNUSED int im_store_ping(im_store_t *store)
{
    return store->ops->ping(store);
}

/* Checkpoints the write-ahead log and truncates it, for the server to call on a timer.
 * A checkpoint that readers keep from finishing is logged as a warning and still
 * returns IM_OK. */
static inline IM_WARN_UNUSED int im_store_maintenance(im_store_t *store)
{
    return store->ops->maintenance(store);
}

/* Writes a consistent copy of the live database to path (mode 0600) while writes wait.
 * The copy goes to a temporary file in the same folder that is then renamed into place.
 * Returns IM_ECONFLICT when path exists and overwrite is false, and IM_EINVAL when path
 * is the live database itself. */
static inline IM_WARN_UNUSED int im_store_backup(im_store_t *store, const char *path,
                                                 bool overwrite)
{
    return store->ops->backup(store, path, overwrite);
}

/* Counts all users, active or not. */
static inline IM_WARN_UNUSED int im_store_user_count(im_store_t *store, int64_t *count)
{
    return store->ops->user_count(store, count);
}

/* Inserts a user and fills user->id. created_at and updated_at default to now when 0.
 * Returns IM_ECONFLICT when the username or the email is taken (ASCII case ignored) and
 * IM_EINVAL when the schema rejects a value (role, username length). */
static inline IM_WARN_UNUSED int im_store_user_create(im_store_t *store, im_store_user_t *user)
{
    return store->ops->user_create(store, user);
}

static inline IM_WARN_UNUSED int im_store_user_get_by_id(im_store_t *store, int64_t id,
                                                         im_store_user_t *out)
{
    return store->ops->user_get_by_id(store, id, out);
}

/* Looks a user up by username, ignoring ASCII case. Returns IM_ENOTFOUND when none. */
static inline IM_WARN_UNUSED int im_store_user_get_by_name(im_store_t *store, const char *username,
                                                           im_store_user_t *out)
{
    return store->ops->user_get_by_name(store, username, out);
}

/* Fills *page with the users that match filter, read in one snapshot together with the
 * total. Returns IM_EINVAL when the offset or limit is out of range. */
static inline IM_WARN_UNUSED int im_store_user_list(im_store_t *store,
                                                    const im_store_user_filter_t *filter,
                                                    im_store_user_page_t *page)
{
    return store->ops->user_list(store, filter, page);
}

/* Frees the rows of a page and leaves it empty. */
void im_store_user_page_release(im_store_user_page_t *page);

/* Writes email, password_hash, role, is_active and updated_at of the user with user->id.
 * updated_at defaults to now when 0 and is written back. The username never changes.
 * Returns IM_ENOTFOUND, IM_ECONFLICT (email taken) or IM_EINVAL as for create. */
static inline IM_WARN_UNUSED int im_store_user_update(im_store_t *store, im_store_user_t *user)
{
    return store->ops->user_update(store, user);
}

/* Deletes a user together with its sessions and refresh tokens. Audit rows stay. */
static inline IM_WARN_UNUSED int im_store_user_delete(im_store_t *store, int64_t id)
{
    return store->ops->user_delete(store, id);
}

/* Sets last_login_at. Returns IM_ENOTFOUND when the user does not exist. */
static inline IM_WARN_UNUSED int im_store_user_touch_login(im_store_t *store, int64_t id,
                                                           int64_t when)
{
    return store->ops->user_touch_login(store, id, when);
}

/* Inserts an active session (revoked_at is ignored and stored as 0). Returns IM_ENOTFOUND
 * when the user does not exist and IM_ECONFLICT when the id is taken. */
static inline IM_WARN_UNUSED int im_store_session_create(im_store_t *store,
                                                         const im_store_session_t *session)
{
    return store->ops->session_create(store, session);
}

static inline IM_WARN_UNUSED int im_store_session_get(im_store_t *store, const char *id,
                                                      im_store_session_t *out)
{
    return store->ops->session_get(store, id, out);
}

/* Marks a session revoked at `when` (> 0), which makes every refresh token in it unusable.
 * Revoking it again keeps the first time. Returns IM_ENOTFOUND when there is no such
 * session. */
static inline IM_WARN_UNUSED int im_store_session_revoke(im_store_t *store, const char *id,
                                                         int64_t when)
{
    return store->ops->session_revoke(store, id, when);
}

/* Revokes every active session of a user except except_session_id (NULL: all of them). */
static inline IM_WARN_UNUSED int im_store_session_revoke_user(im_store_t *store, int64_t user_id,
                                                              const char *except_session_id,
                                                              int64_t when)
{
    return store->ops->session_revoke_user(store, user_id, except_session_id, when);
}

/* Inserts an unspent refresh token into a session. token_hash must be 64 lowercase hex
 * digits (IM_EINVAL otherwise). Returns IM_ENOTFOUND unless the session exists and
 * belongs to token->user_id, and IM_ECONFLICT when the hash is already stored. */
static inline IM_WARN_UNUSED int im_store_refresh_insert(im_store_t *store,
                                                         const im_store_refresh_token_t *token)
{
    return store->ops->refresh_insert(store, token);
}

/* Reads a refresh token with its session's expiry and revocation time. */
static inline IM_WARN_UNUSED int im_store_refresh_get(im_store_t *store, const char *token_hash,
                                                      im_store_refresh_token_t *out)
{
    return store->ops->refresh_get(store, token_hash, out);
}

/* Marks a token spent at `when` (> 0) and records replaced_by (a token hash, or NULL or
 * "" for none), as one compare-and-set. Only one of several concurrent calls on the same
 * token succeeds. Returns IM_ECONFLICT when the token was already spent, which is how
 * reuse of a rotated token shows, and IM_ENOTFOUND when no token has that hash, or it or
 * its session has expired by `when`, or its session is revoked. */
static inline IM_WARN_UNUSED int im_store_refresh_spend(im_store_t *store, const char *token_hash,
                                                        const char *replaced_by, int64_t when)
{
    return store->ops->refresh_spend(store, token_hash, replaced_by, when);
}

/* Deletes refresh tokens and sessions (with their tokens) that expired at or before now.
 * *deleted (may be NULL) gets the number of refresh tokens removed. */
static inline IM_WARN_UNUSED int im_store_refresh_purge_expired(im_store_t *store, int64_t now,
                                                                int64_t *deleted)
{
    return store->ops->refresh_purge_expired(store, now, deleted);
}

/* Appends an event to the audit log. Returns IM_EINVAL when details is not valid JSON. */
static inline IM_WARN_UNUSED int im_store_audit_insert(im_store_t *store,
                                                       const im_store_audit_event_t *event)
{
    return store->ops->audit_insert(store, event);
}

/* Fills *page with the audit entries that match filter, read in one snapshot together
 * with the total. Returns IM_EINVAL when the offset or limit is out of range. */
static inline IM_WARN_UNUSED int im_store_audit_list(im_store_t *store,
                                                     const im_store_audit_filter_t *filter,
                                                     im_store_audit_page_t *page)
{
    return store->ops->audit_list(store, filter, page);
}

void im_store_audit_page_release(im_store_audit_page_t *page);

/* Inserts a group and fills group->id. created_at and updated_at default to now when 0.
 * Returns IM_ECONFLICT when the name is taken (ASCII case ignored). */
static inline IM_WARN_UNUSED int im_store_group_create(im_store_t *store, im_store_group_t *group)
{
    return store->ops->group_create(store, group);
}

static inline IM_WARN_UNUSED int im_store_group_get(im_store_t *store, int64_t id,
                                                    im_store_group_t *out)
{
    return store->ops->group_get(store, id, out);
}

static inline IM_WARN_UNUSED int im_store_group_list(im_store_t *store, im_store_group_list_t *list)
{
    return store->ops->group_list(store, list);
}

void im_store_group_list_release(im_store_group_list_t *list);

/* Deletes a group and its memberships. Returns IM_ENOTFOUND when there is no such group. */
static inline IM_WARN_UNUSED int im_store_group_delete(im_store_t *store, int64_t id)
{
    return store->ops->group_delete(store, id);
}

/* Adds a container name to a group. Adding it twice is not an error. Returns
 * IM_ENOTFOUND when the group does not exist. */
static inline IM_WARN_UNUSED int im_store_group_member_add(im_store_t *store, int64_t group_id,
                                                           const char *container_name)
{
    return store->ops->group_member_add(store, group_id, container_name);
}

/* Removes a container name from a group. Returns IM_ENOTFOUND when it was not a member. */
static inline IM_WARN_UNUSED int im_store_group_member_remove(im_store_t *store, int64_t group_id,
                                                              const char *container_name)
{
    return store->ops->group_member_remove(store, group_id, container_name);
}

/* Fills *names with the container names of a group in name order (empty for a group
 * that does not exist). */
static inline IM_WARN_UNUSED int im_store_group_member_list(im_store_t *store, int64_t group_id,
                                                            im_store_strings_t *names)
{
    return store->ops->group_member_list(store, group_id, names);
}

void im_store_strings_release(im_store_strings_t *strings);

/* Stores a copy of the setting's value in *value, which the caller frees with free().
 * Returns IM_ENOTFOUND when the key is not set. */
static inline IM_WARN_UNUSED int im_store_setting_get(im_store_t *store, const char *key,
                                                      char **value)
{
    return store->ops->setting_get(store, key, value);
}

/* Inserts or replaces a setting. `when` is stored as its updated_at (0: now). */
static inline IM_WARN_UNUSED int im_store_setting_set(im_store_t *store, const char *key,
                                                      const char *value, int64_t when)
{
    return store->ops->setting_set(store, key, value, when);
}

/* Deletes audit rows older than `before` (timestamp < before). *deleted (may be NULL)
 * gets the number of rows removed. */
static inline IM_WARN_UNUSED int im_store_audit_purge(im_store_t *store, int64_t before,
                                                      int64_t *deleted)
{
    return store->ops->audit_purge(store, before, deleted);
}

/* Reads the TOTP row of a user. Returns IM_ENOTFOUND when the user never set one up. */
static inline IM_WARN_UNUSED int im_store_totp_get(im_store_t *store, int64_t user_id,
                                                   im_store_totp_t *out)
{
    return store->ops->totp_get(store, user_id, out);
}

/* Stores a new, not yet enabled secret for totp->user_id, replacing any earlier row and
 * deleting the user's recovery codes. Returns IM_ENOTFOUND when the user does not exist. */
static inline IM_WARN_UNUSED int im_store_totp_setup(im_store_t *store, const im_store_totp_t *totp)
{
    return store->ops->totp_setup(store, totp);
}

/* Enables a set-up secret at `when`, records `step` as used, and replaces the user's
 * recovery codes with code_hashes (SHA-256 hex each), all in one transaction. Returns
 * IM_ENOTFOUND when there is no row or it is already enabled. */
static inline IM_WARN_UNUSED int im_store_totp_enable(im_store_t *store, int64_t user_id,
                                                      int64_t when, int64_t step,
                                                      const char *const *code_hashes,
                                                      size_t code_count)
{
    return store->ops->totp_enable(store, user_id, when, step, code_hashes, code_count);
}

/* Records step as the last accepted code step, as one compare-and-set. Returns
 * IM_ECONFLICT when a code of this step or a later one was accepted already (a replay)
 * and IM_ENOTFOUND when the user has no TOTP row. */
static inline IM_WARN_UNUSED int im_store_totp_accept_step(im_store_t *store, int64_t user_id,
                                                           int64_t step)
{
    return store->ops->totp_accept_step(store, user_id, step);
}

/* Deletes a user's TOTP row and recovery codes. Returns IM_ENOTFOUND when there was none. */
static inline IM_WARN_UNUSED int im_store_totp_delete(im_store_t *store, int64_t user_id)
{
    return store->ops->totp_delete(store, user_id);
}

/* Marks an unused recovery code used at `when`. Returns IM_ENOTFOUND when the user has no
 * unused code with that hash. */
static inline IM_WARN_UNUSED int im_store_totp_recovery_use(im_store_t *store, int64_t user_id,
                                                            const char *code_hash, int64_t when)
{
    return store->ops->totp_recovery_use(store, user_id, code_hash, when);
}

/* Inserts an API token and fills token->id. created_at defaults to now when 0. Returns
 * IM_EINVAL for a bad hash or name, IM_ENOTFOUND when the user does not exist and
 * IM_ECONFLICT when the hash is already stored. */
static inline IM_WARN_UNUSED int im_store_api_token_create(im_store_t *store,
                                                           im_store_api_token_t *token)
{
    return store->ops->api_token_create(store, token);
}

/* Reads an API token by its hash, revoked and expired ones included. */
static inline IM_WARN_UNUSED int im_store_api_token_get(im_store_t *store, const char *token_hash,
                                                        im_store_api_token_t *out)
{
    return store->ops->api_token_get(store, token_hash, out);
}

static inline IM_WARN_UNUSED int im_store_api_token_list(im_store_t *store, int64_t user_id,
                                                         im_store_api_token_list_t *list)
{
    return store->ops->api_token_list(store, user_id, list);
}

void im_store_api_token_list_release(im_store_api_token_list_t *list);

/* Revokes token id of user_id at `when`. Returns IM_ENOTFOUND when that user has no
 * active token with that id. */
static inline IM_WARN_UNUSED int im_store_api_token_revoke(im_store_t *store, int64_t user_id,
                                                           int64_t id, int64_t when)
{
    return store->ops->api_token_revoke(store, user_id, id, when);
}

/* Sets last_used_at. Returns IM_ENOTFOUND when the token does not exist. */
static inline IM_WARN_UNUSED int im_store_api_token_touch(im_store_t *store, int64_t id,
                                                          int64_t when)
{
    return store->ops->api_token_touch(store, id, when);
}

/* Writes name, description and color of group->id and sets updated_at (now when 0, stored
 * back into group). When members is not NULL, the group's member names become exactly
 * that list, in the same transaction. Returns IM_ENOTFOUND when there is no such group,
 * IM_ECONFLICT when another group has the name (ASCII case ignored) and IM_EINVAL for an
 * empty member name. */
static inline IM_WARN_UNUSED int im_store_group_update(im_store_t *store, im_store_group_t *group,
                                                       const im_store_strings_t *members)
{
    return store->ops->group_update(store, group, members);
}

/* Replaces the stored secret of user_id's TOTP row with new_secret when it still equals
 * old_secret (a re-encryption that must not undo a concurrent setup). Returns IM_OK,
 * IM_ECONFLICT when the row no longer has old_secret or is gone, or IM_EINVAL for a
 * secret over IM_STORE_TOTP_SECRET_MAX bytes. */
static inline IM_WARN_UNUSED int im_store_totp_secret_replace(im_store_t *store, int64_t user_id,
                                                              const char *old_secret,
                                                              const char *new_secret)
{
    return store->ops->totp_secret_replace(store, user_id, old_secret, new_secret);
}

/* Lists the ids of users with a TOTP row, enabled or not, in *ids (malloc'd, free it). */
static inline IM_WARN_UNUSED int im_store_totp_user_ids(im_store_t *store, int64_t **ids,
                                                        size_t *count)
{
    return store->ops->totp_user_ids(store, ids, count);
}

/* Inserts 10-second points in one transaction, creating the series of a new container and
 * updating its name and last_seen. A point that exists already (same series and time) is
 * replaced. Returns IM_EINVAL, and writes nothing, when a record has samples < 1 or an id
 * or name too long for its field. */
static inline IM_WARN_UNUSED int
im_store_history_write(im_store_t *store, const im_store_history_record_t *records, size_t count)
{
    return store->ops->history_write(store, records, count);
}

/* Rolls 10-second points up into 1-minute points and those into 1-hour points, for every
 * bucket that ends at or before `until` and starts at or after the tier's watermark (its
 * previous `until`; the oldest point on the first run). A rolled-up point keeps the min of
 * the mins, the max of the maxes, the mean weighted by samples and the counters of the
 * latest finer point. Each tier is one transaction. */
static inline IM_WARN_UNUSED int im_store_history_rollup(im_store_t *store, int64_t until)
{
    return store->ops->history_rollup(store, until);
}

/* Reads the points of one tier in [since, until) for a container id, or for every series
 * that carries a name, in ascending time order. An unknown id or name gives no points. */
static inline IM_WARN_UNUSED int im_store_history_query(im_store_t *store,
                                                        const im_store_history_query_t *query,
                                                        im_store_history_points_t *out)
{
    return store->ops->history_query(store, query, out);
}

void im_store_history_points_release(im_store_history_points_t *points);

/* Finds a container's series by full id, unique id prefix (4+ characters) or name (the
 * series seen last wins), for containers that the engine no longer lists. Returns
 * IM_ENOTFOUND when none matches or a prefix is ambiguous. */
static inline IM_WARN_UNUSED int im_store_history_series_find(im_store_t *store, const char *ref,
                                                              im_store_history_series_t *out)
{
    return store->ops->history_series_find(store, ref, out);
}

/* Deletes the points of each tier older than its cut-off, then the container series that
 * have no point left in any tier (the host's series stays). Each tier is one transaction.
 * out (may be NULL) gets the counts. */
static inline IM_WARN_UNUSED int im_store_history_prune(im_store_t *store,
                                                        const im_store_history_cutoffs_t *cutoffs,
                                                        im_store_history_pruned_t *out)
{
    return store->ops->history_prune(store, cutoffs, out);
}

/* Stores the bytes of the database pages that one tier's table uses (from SQLite's dbstat
 * table) and its row count. Returns IM_EUNAVAILABLE when SQLite was built without dbstat. */
static inline IM_WARN_UNUSED int im_store_history_size(im_store_t *store, im_store_tier_t tier,
                                                       int64_t *bytes, int64_t *rows)
{
    return store->ops->history_size(store, tier, bytes, rows);
}

#endif
