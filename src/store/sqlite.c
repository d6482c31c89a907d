/* The SQLite backend of the store, and im_store_open, which picks a backend by URL scheme.
 *
 * Concurrency: a fixed pool of connections, each opened in multi-thread mode and used by
 * one thread at a time. A call borrows a connection for its duration. Calls that write
 * also hold write_lock, taken before the connection is borrowed, so that writers queue in
 * the process instead of spinning in SQLite's busy handler. WAL mode lets readers run
 * beside the single writer. */

#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/log.h"
#include "store/migrations.h"
#include "store/sqlite-internal.h"

#define LOG_MODULE "store"

/* Connections per store. HTTP workers beyond this many wait for a free one. */
#define POOL_SIZE 4
/* How long a connection retries a locked database before it reports SQLITE_BUSY. */
#define BUSY_TIMEOUT_MS 5000

/* Every prepared statement that a connection may cache, by purpose. */
typedef enum {
    STMT_BEGIN,
    STMT_BEGIN_IMMEDIATE,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_PING,
    STMT_CHECKPOINT,
    STMT_SCHEMA_VERSION,
    STMT_MIGRATION_RECORD,
    STMT_USER_COUNT,
    STMT_USER_INSERT,
    STMT_USER_BY_ID,
    STMT_USER_BY_NAME,
    STMT_USER_LIST_COUNT,
    STMT_USER_LIST,
    STMT_USER_UPDATE,
    STMT_USER_DELETE,
    STMT_USER_TOUCH_LOGIN,
    STMT_SESSION_INSERT,
    STMT_SESSION_GET,
    STMT_SESSION_REVOKE,
    STMT_SESSION_REVOKE_USER,
    STMT_SESSION_PURGE,
    STMT_REFRESH_INSERT,
    STMT_REFRESH_GET,
    STMT_REFRESH_SPEND,
    STMT_REFRESH_SPENT_AT,
    STMT_REFRESH_PURGE,
    STMT_AUDIT_INSERT,
    STMT_AUDIT_COUNT,
    STMT_AUDIT_LIST,
    STMT_GROUP_INSERT,
    STMT_GROUP_GET,
    STMT_GROUP_LIST,
    STMT_GROUP_DELETE,
    STMT_MEMBER_INSERT,
    STMT_MEMBER_DELETE,
    STMT_MEMBER_LIST,
    STMT_SETTING_GET,
    STMT_SETTING_SET,
    STMT_AUDIT_PURGE,
    STMT_TOTP_GET,
    STMT_TOTP_REPLACE,
    STMT_TOTP_ENABLE,
    STMT_TOTP_ACCEPT_STEP,
    STMT_TOTP_DELETE,
    STMT_RECOVERY_DELETE,
    STMT_RECOVERY_INSERT,
    STMT_RECOVERY_USE,
    STMT_API_TOKEN_INSERT,
    STMT_API_TOKEN_GET,
    STMT_API_TOKEN_LIST,
    STMT_API_TOKEN_REVOKE,
    STMT_API_TOKEN_TOUCH,
    STMT_COUNT
} stmt_id_t;

#define USER_COLUMNS                                                                               \
    "id, username, email, password_hash, role, is_active, created_at, updated_at, "                \
    "coalesce(last_login_at, 0)"

/* NULL parameters match every row, so one statement serves every combination of filters. */
#define USER_FILTER " WHERE (?1 IS NULL OR is_active = ?1) AND (?2 IS NULL OR role = ?2)"

#define AUDIT_COLUMNS                                                                              \
    "id, timestamp, coalesce(user_id, 0), username, action, target_type, target_id, "              \
    "ip_address, user_agent, success, error_message, details"

#define AUDIT_FILTER                                                                               \
    " WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR action = ?2)"                          \
    " AND (?3 IS NULL OR target_id = ?3) AND (?4 IS NULL OR timestamp >= ?4)"                      \
    " AND (?5 IS NULL OR timestamp <= ?5) AND (?6 IS NULL OR success = ?6)"

#define SESSION_COLUMNS "id, user_id, created_at, expires_at, revoked_at, ip_address, user_agent"

#define GROUP_COLUMNS "id, name, description, color, created_at, updated_at"

#define API_TOKEN_COLUMNS                                                                          \
    "id, user_id, name, token_hash, prefix, created_at, expires_at, last_used_at, revoked_at"

static const char *const statement_sql[STMT_COUNT] = {
    [STMT_BEGIN] = "BEGIN",
    [STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_PING] = "SELECT 1",
    [STMT_CHECKPOINT] = "PRAGMA wal_checkpoint(TRUNCATE)",
    [STMT_SCHEMA_VERSION] = "SELECT coalesce(max(version), 0) FROM schema_migrations",
    [STMT_MIGRATION_RECORD] =
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",

    [STMT_USER_COUNT] = "SELECT count(*) FROM users",
    [STMT_USER_INSERT] = "INSERT INTO users (username, email, password_hash, role, is_active, "
                         "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [STMT_USER_BY_ID] = "SELECT " USER_COLUMNS " FROM users WHERE id = ?1",
    [STMT_USER_BY_NAME] = "SELECT " USER_COLUMNS " FROM users WHERE username = ?1",
    [STMT_USER_LIST_COUNT] = "SELECT count(*) FROM users" USER_FILTER,
    [STMT_USER_LIST] =
        "SELECT " USER_COLUMNS " FROM users" USER_FILTER " ORDER BY id LIMIT ?3 OFFSET ?4",
    [STMT_USER_UPDATE] = "UPDATE users SET email = ?2, password_hash = ?3, role = ?4, "
                         "is_active = ?5, updated_at = ?6 WHERE id = ?1",
    [STMT_USER_DELETE] = "DELETE FROM users WHERE id = ?1",
    [STMT_USER_TOUCH_LOGIN] = "UPDATE users SET last_login_at = ?2 WHERE id = ?1",

    [STMT_SESSION_INSERT] =
        "INSERT INTO sessions (" SESSION_COLUMNS ") VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)",
    [STMT_SESSION_GET] = "SELECT " SESSION_COLUMNS " FROM sessions WHERE id = ?1",
    /* The CASE keeps the first revocation time, and the row still counts as changed. */
    [STMT_SESSION_REVOKE] = "UPDATE sessions SET revoked_at = "
                            "CASE WHEN revoked_at = 0 THEN ?2 ELSE revoked_at END WHERE id = ?1",
    [STMT_SESSION_REVOKE_USER] = "UPDATE sessions SET revoked_at = ?3 WHERE user_id = ?1 "
                                 "AND revoked_at = 0 AND (?2 IS NULL OR id <> ?2)",
    [STMT_SESSION_PURGE] = "DELETE FROM sessions WHERE expires_at <= ?1",

    /* Selecting from sessions inserts nothing unless the session belongs to the user. */
    [STMT_REFRESH_INSERT] =
        "INSERT INTO refresh_tokens (token_hash, session_id, user_id, issued_at, expires_at) "
        "SELECT ?1, id, user_id, ?4, ?5 FROM sessions WHERE id = ?2 AND user_id = ?3",
    [STMT_REFRESH_GET] =
        "SELECT r.token_hash, r.session_id, r.user_id, r.issued_at, r.expires_at, r.spent_at, "
        "r.replaced_by, s.expires_at, s.revoked_at FROM refresh_tokens r "
        "JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = ?1",
    /* The compare-and-set of rotation: only an unspent token of a live session changes. */
    [STMT_REFRESH_SPEND] = "UPDATE refresh_tokens SET spent_at = ?3, replaced_by = ?2 "
                           "WHERE token_hash = ?1 AND spent_at = 0 AND expires_at > ?3 AND EXISTS "
                           "(SELECT 1 FROM sessions s WHERE s.id = refresh_tokens.session_id "
                           "AND s.revoked_at = 0 AND s.expires_at > ?3)",
    [STMT_REFRESH_SPENT_AT] = "SELECT spent_at FROM refresh_tokens WHERE token_hash = ?1",
    [STMT_REFRESH_PURGE] = "DELETE FROM refresh_tokens WHERE expires_at <= ?1",

    [STMT_AUDIT_INSERT] =
        "INSERT INTO audit_log (timestamp, user_id, username, action, target_type, target_id, "
        "ip_address, user_agent, success, error_message, details) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [STMT_AUDIT_COUNT] = "SELECT count(*) FROM audit_log" AUDIT_FILTER,
    [STMT_AUDIT_LIST] = "SELECT " AUDIT_COLUMNS " FROM audit_log" AUDIT_FILTER
                        " ORDER BY timestamp DESC, id DESC LIMIT ?7 OFFSET ?8",

    [STMT_GROUP_INSERT] = "INSERT INTO groups (name, description, color, created_at, "
                          "updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_GROUP_GET] = "SELECT " GROUP_COLUMNS " FROM groups WHERE id = ?1",
    [STMT_GROUP_LIST] = "SELECT " GROUP_COLUMNS " FROM groups ORDER BY name",
    [STMT_GROUP_DELETE] = "DELETE FROM groups WHERE id = ?1",
    [STMT_MEMBER_INSERT] = "INSERT INTO group_members (group_id, container_name) "
                           "VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    [STMT_MEMBER_DELETE] = "DELETE FROM group_members WHERE group_id = ?1 AND container_name = ?2",
    [STMT_MEMBER_LIST] = "SELECT container_name FROM group_members WHERE group_id = ?1 "
                         "ORDER BY container_name",

    [STMT_SETTING_GET] = "SELECT value FROM settings WHERE key = ?1",
    [STMT_SETTING_SET] = "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                         "updated_at = excluded.updated_at",

    [STMT_AUDIT_PURGE] = "DELETE FROM audit_log WHERE timestamp < ?1",

    [STMT_TOTP_GET] = "SELECT user_id, secret, enabled_at, last_step, created_at FROM user_totp "
                      "WHERE user_id = ?1",
    [STMT_TOTP_REPLACE] = "INSERT OR REPLACE INTO user_totp (user_id, secret, enabled_at, "
                          "last_step, created_at) VALUES (?1, ?2, 0, 0, ?3)",
    [STMT_TOTP_ENABLE] = "UPDATE user_totp SET enabled_at = ?2, last_step = ?3 "
                         "WHERE user_id = ?1 AND enabled_at = 0",
    /* The compare-and-set that makes every code single-use. */
    [STMT_TOTP_ACCEPT_STEP] =
        "UPDATE user_totp SET last_step = ?2 WHERE user_id = ?1 AND last_step < ?2",
    [STMT_TOTP_DELETE] = "DELETE FROM user_totp WHERE user_id = ?1",
    [STMT_RECOVERY_DELETE] = "DELETE FROM totp_recovery_codes WHERE user_id = ?1",
    [STMT_RECOVERY_INSERT] =
        "INSERT INTO totp_recovery_codes (user_id, code_hash, used_at) VALUES (?1, ?2, 0)",
    [STMT_RECOVERY_USE] = "UPDATE totp_recovery_codes SET used_at = ?3 "
                          "WHERE user_id = ?1 AND code_hash = ?2 AND used_at = 0",

    [STMT_API_TOKEN_INSERT] = "INSERT INTO api_tokens (user_id, name, token_hash, prefix, "
                              "created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [STMT_API_TOKEN_GET] = "SELECT " API_TOKEN_COLUMNS " FROM api_tokens WHERE token_hash = ?1",
    [STMT_API_TOKEN_LIST] =
        "SELECT " API_TOKEN_COLUMNS " FROM api_tokens WHERE user_id = ?1 ORDER BY id DESC",
    [STMT_API_TOKEN_REVOKE] = "UPDATE api_tokens SET revoked_at = ?3 "
                              "WHERE id = ?2 AND user_id = ?1 AND revoked_at = 0",
    [STMT_API_TOKEN_TOUCH] = "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
};

/* Statements run once per connection or once per store, outside the cache. */
static const char SQL_JOURNAL_MODE_WAL[] = "PRAGMA journal_mode = WAL";
static const char SQL_JOURNAL_MODE_DELETE[] = "PRAGMA journal_mode = DELETE";
/* In WAL mode, synchronous=NORMAL keeps commits across application crashes. A power loss
 * or OS crash may roll back the last commits but does not corrupt the file (SQLite
 * documentation of PRAGMA synchronous). journal_size_limit truncates the WAL back to
 * 64 MiB after a checkpoint. cache_size caps each connection's page cache at 256 KiB
 * instead of SQLite's 2 MiB, so the pool keeps at most 1 MiB of cached pages instead of 8
 * as the history tables grow. A page that falls out is read again from the kernel's page
 * cache; bench/history_query.sh measures the 24-hour query with the cap. */
static const char SQL_CONNECTION_SETUP[] = "PRAGMA foreign_keys = ON;"
                                           "PRAGMA synchronous = NORMAL;"
                                           "PRAGMA journal_size_limit = 67108864;"
                                           "PRAGMA cache_size = -256;";
static const char SQL_SCHEMA_MIGRATIONS_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)";

typedef struct im__sqlite_conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[STMT_COUNT]; /* prepared on first use, finalized at close */
    sqlite3_stmt *extra_stmts[IM__SQLITE_EXTRA_STMT_MAX]; /* im__sqlite_extra_stmt's cache */
} conn_t;

typedef struct {
    struct im_store base; /* must stay first: the ops cast im_store_t * to this type */
    char *path;
    pthread_mutex_t write_lock; /* taken before pool_lock, never after */
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    conn_t conns[POOL_SIZE];
    conn_t *idle[POOL_SIZE];
    int idle_count;
} sqlite_store_t;

static sqlite_store_t *store_of(im_store_t *base)
{
    return (sqlite_store_t *)base;
}

static void set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- errors ---------------------------------------------------------------------------- */

/* Maps a failed SQLite result code (extended codes are on) to an IM_E* code. Constraint
 * failures are outcomes that callers expect and handle, so only they skip the error log. */
static int sql_fail(const conn_t *conn, int rc, const char *op)
{
    const char *message = sqlite3_errmsg(conn->db);

    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        im_log_debug(LOG_MODULE, "%s: %s", op, message);
        return IM_ECONFLICT;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        im_log_debug(LOG_MODULE, "%s: %s", op, message);
        return IM_ENOTFOUND;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        im_log_debug(LOG_MODULE, "%s: %s", op, message);
        return IM_EINVAL;
    default:
        break;
    }

    im_log_error(LOG_MODULE, "%s failed: %s (SQLite error %d)", op, message, rc);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
        return IM_EUNAVAILABLE;
    default:
        return IM_ERR;
    }
}

/* Rejects a missing string or one longer than max bytes, naming the field in the debug log. */
static int check_text(const char *value, size_t max, const char *field, const char *op)
{
    if (!value) {
        im_log_debug(LOG_MODULE, "%s: %s is missing", op, field);
        return IM_EINVAL;
    }
    if (strnlen(value, max + 1) > max) {
        im_log_debug(LOG_MODULE, "%s: %s is longer than %zu bytes", op, field, max);
        return IM_EINVAL;
    }
    return IM_OK;
}

/* Returns true when value is exactly 64 lowercase hex digits, the form of a token hash. */
static bool is_token_hash(const char *value)
{
    if (!value) {
        return false;
    }
    for (size_t i = 0; i < IM_STORE_TOKEN_HASH_LEN; i++) {
        char c = value[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return value[IM_STORE_TOKEN_HASH_LEN] == '\0';
}

/* Returns the length of the longest prefix of text that fits in max bytes and does not
 * end inside a UTF-8 sequence. */
static size_t utf8_prefix_len(const char *text, size_t max)
{
    size_t len = strnlen(text, max + 1);
    if (len <= max) {
        return len;
    }
    len = max;
    while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80) {
        len--;
    }
    return len;
}

static int check_page(int64_t offset, int64_t limit, const char *op)
{
    if (offset < 0 || limit < 1 || limit > IM_STORE_PAGE_LIMIT_MAX) {
        im_log_debug(LOG_MODULE, "%s: offset %lld or limit %lld out of range", op,
                     (long long)offset, (long long)limit);
        return IM_EINVAL;
    }
    return IM_OK;
}

/* ---- connection pool --------------------------------------------------------------------- */

static conn_t *conn_borrow(sqlite_store_t *store)
{
    pthread_mutex_lock(&store->pool_lock);
    while (store->idle_count == 0) {
        pthread_cond_wait(&store->pool_cond, &store->pool_lock);
    }
    conn_t *conn = store->idle[--store->idle_count];
    pthread_mutex_unlock(&store->pool_lock);
    return conn;
}

static void conn_return(sqlite_store_t *store, conn_t *conn)
{
    pthread_mutex_lock(&store->pool_lock);
    store->idle[store->idle_count++] = conn;
    pthread_cond_signal(&store->pool_cond);
    pthread_mutex_unlock(&store->pool_lock);
}

/* Takes the write lock and then a connection. Release both with writer_release. */
static conn_t *writer_acquire(sqlite_store_t *store)
{
    pthread_mutex_lock(&store->write_lock);
    return conn_borrow(store);
}

static void writer_release(sqlite_store_t *store, conn_t *conn)
{
    conn_return(store, conn);
    pthread_mutex_unlock(&store->write_lock);
}

/* ---- statements -------------------------------------------------------------------------- */

/* Returns the connection's cached statement, preparing it on first use. */
static int stmt_get(conn_t *conn, stmt_id_t id, sqlite3_stmt **out, const char *op)
{
    if (!conn->stmts[id]) {
        int rc = sqlite3_prepare_v3(conn->db, statement_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &conn->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            return sql_fail(conn, rc, op);
        }
    }
    *out = conn->stmts[id];
    return IM_OK;
}

/* Makes a cached statement ready for its next use. Text bound with SQLITE_STATIC points
 * into the caller's memory, so the bindings are cleared before the operation returns. */
static void stmt_done(sqlite3_stmt *stmt)
{
    if (stmt) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
}

/* The bind helpers do nothing once *rc contains an error, so a run of binds needs one
 * check at the end. */
static void bind_int64(sqlite3_stmt *stmt, int index, int64_t value, int *rc)
{
    if (*rc == SQLITE_OK) {
        *rc = sqlite3_bind_int64(stmt, index, value);
    }
}

/* Binds NULL for a NULL string. */
static void bind_text(sqlite3_stmt *stmt, int index, const char *value, int *rc)
{
    if (*rc != SQLITE_OK) {
        return;
    }
    if (value) {
        *rc = sqlite3_bind_text(stmt, index, value, -1, SQLITE_STATIC);
    } else {
        *rc = sqlite3_bind_null(stmt, index);
    }
}

static void bind_text_len(sqlite3_stmt *stmt, int index, const char *value, size_t len, int *rc)
{
    if (*rc == SQLITE_OK) {
        *rc = sqlite3_bind_text(stmt, index, value, (int)len, SQLITE_STATIC);
    }
}

/* Binds NULL for 0, so that the "?N IS NULL" filters match every row. */
static void bind_int64_or_null(sqlite3_stmt *stmt, int index, int64_t value, int *rc)
{
    if (*rc != SQLITE_OK) {
        return;
    }
    if (value) {
        *rc = sqlite3_bind_int64(stmt, index, value);
    } else {
        *rc = sqlite3_bind_null(stmt, index);
    }
}

static void bind_bool_filter(sqlite3_stmt *stmt, int index, im_store_bool_filter_t filter, int *rc)
{
    if (*rc != SQLITE_OK) {
        return;
    }
    if (filter == IM_STORE_BOOL_TRUE) {
        *rc = sqlite3_bind_int(stmt, index, 1);
    } else if (filter == IM_STORE_BOOL_FALSE) {
        *rc = sqlite3_bind_int(stmt, index, 0);
    } else {
        *rc = sqlite3_bind_null(stmt, index);
    }
}

/* bind_fn binds a statement's parameters from ctx. */
typedef void (*bind_fn_t)(sqlite3_stmt *stmt, const void *ctx, int *brc);

/* read_row copies the current row of a statement into the element at row. */
typedef void (*row_reader_t)(sqlite3_stmt *stmt, void *row);

static int binds_checked(const conn_t *conn, int rc, const char *op)
{
    if (rc != SQLITE_OK) {
        return sql_fail(conn, rc, op);
    }
    return IM_OK;
}

/* Steps a statement that returns no rows. */
static int step_done(const conn_t *conn, sqlite3_stmt *stmt, const char *op)
{
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
        return sql_fail(conn, rc, op);
    }
    return IM_OK;
}

/* Steps a statement to its next row: IM_OK on a row, IM_ENOTFOUND when there is none. */
static int step_row(const conn_t *conn, sqlite3_stmt *stmt, const char *op)
{
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        return IM_OK;
    }
    if (rc == SQLITE_DONE) {
        return IM_ENOTFOUND;
    }
    return sql_fail(conn, rc, op);
}

/* Runs one of the cached statements that take no parameters and return no rows. */
static int run_simple(conn_t *conn, stmt_id_t id, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc = stmt_get(conn, id, &stmt, op);
    if (rc == IM_OK) {
        rc = step_done(conn, stmt, op);
    }
    stmt_done(stmt);
    return rc;
}

/* Rolls back the transaction that is still open, if any, so that the connection returns
 * to the pool outside a transaction. */
static void tx_abort(conn_t *conn, const char *op)
{
    if (!sqlite3_get_autocommit(conn->db)) {
        (void)run_simple(conn, STMT_ROLLBACK, op);
    }
}

static void column_copy(sqlite3_stmt *stmt, int column, char *dst, size_t dst_size)
{
    const unsigned char *text = sqlite3_column_text(stmt, column);
    im_strlcpy(dst, text ? (const char *)text : "", dst_size);
}

/* Returns a heap copy of a text column, or NULL when the column is NULL. */
static char *column_dup(sqlite3_stmt *stmt, int column)
{
    const unsigned char *text = sqlite3_column_text(stmt, column);
    return text ? im_strdup((const char *)text) : NULL;
}

/* Stores a heap copy of column 0, or NULL for a NULL value, in the char * at row. */
static void read_text_dup(sqlite3_stmt *stmt, void *row)
{
    char **text = row;
    *text = column_dup(stmt, 0);
}

/* Steps a single-row, single-integer query such as a count. */
static int query_int64(conn_t *conn, sqlite3_stmt *stmt, int64_t *out, const char *op)
{
    int rc = step_row(conn, stmt, op);
    if (rc == IM_OK) {
        *out = sqlite3_column_int64(stmt, 0);
    }
    return rc;
}

/* Parameters for the binders below: an id, up to two texts and a time. */
typedef struct {
    int64_t id;
    int64_t when;
    const char *text;
    const char *second_text;
} id_args_t;

static void bind_id(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const id_args_t *args = ctx;
    bind_int64(stmt, 1, args->id, brc);
}

static void bind_id_when(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const id_args_t *args = ctx;
    bind_int64(stmt, 1, args->id, brc);
    bind_int64(stmt, 2, args->when, brc);
}

static void bind_text_when(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const id_args_t *args = ctx;
    bind_text(stmt, 1, args->text, brc);
    bind_int64(stmt, 2, args->when, brc);
}

static void bind_text_only(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const id_args_t *args = ctx;
    bind_text(stmt, 1, args->text, brc);
}

static void bind_id_text(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const id_args_t *args = ctx;
    bind_int64(stmt, 1, args->id, brc);
    bind_text(stmt, 2, args->text, brc);
}

static void bind_when_only(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const id_args_t *args = ctx;
    bind_int64(stmt, 1, args->when, brc);
}

static void bind_id_text_when(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const id_args_t *args = ctx;
    bind_int64(stmt, 1, args->id, brc);
    bind_text(stmt, 2, args->text, brc);
    bind_int64(stmt, 3, args->when, brc);
}

static void bind_id_text_pair(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const id_args_t *args = ctx;
    bind_int64(stmt, 1, args->id, brc);
    bind_text(stmt, 2, args->text, brc);
    bind_text(stmt, 3, args->second_text, brc);
}

static void bind_text_pair_when(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const id_args_t *args = ctx;
    bind_text(stmt, 1, args->text, brc);
    bind_text(stmt, 2, args->second_text, brc);
    bind_int64(stmt, 3, args->when, brc);
}

/* Runs a cached statement that returns no rows, with the parameters that bind_fn binds from
 * ctx, inside the caller's transaction if there is one. */
static int run_bound(conn_t *conn, stmt_id_t id, bind_fn_t bind_fn, const void *ctx, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc = stmt_get(conn, id, &stmt, op);
    if (rc == IM_OK) {
        int brc = SQLITE_OK;
        bind_fn(stmt, ctx, &brc);
        rc = binds_checked(conn, brc, op);
    }
    if (rc == IM_OK) {
        rc = step_done(conn, stmt, op);
    }
    stmt_done(stmt);
    return rc;
}

/* Prepares a statement outside the per-connection cache. The caller finalizes it. */
static int prepare_uncached(conn_t *conn, const char *sql, sqlite3_stmt **out, const char *op)
{
    int rc = sqlite3_prepare_v2(conn->db, sql, -1, out, NULL);
    if (rc != SQLITE_OK) {
        *out = NULL;
        return sql_fail(conn, rc, op);
    }
    return IM_OK;
}

/* Prepares sql, runs it once with the parameters that bind_fn binds from ctx, and finalizes
 * it. For statements that run too rarely to keep prepared on every connection. */
static int run_uncached(conn_t *conn, const char *sql, bind_fn_t bind_fn, const void *ctx,
                        const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc = prepare_uncached(conn, sql, &stmt, op);
    if (rc) {
        return rc;
    }
    int brc = SQLITE_OK;
    bind_fn(stmt, ctx, &brc);
    rc = binds_checked(conn, brc, op);
    if (rc == IM_OK) {
        rc = step_done(conn, stmt, op);
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* Runs a cached query with the parameters that bind_fn binds from ctx, and copies its
 * first row into out with read_row. Returns IM_ENOTFOUND when the query returns no row. */
static int read_one(sqlite_store_t *store, stmt_id_t id, bind_fn_t bind_fn, const void *ctx,
                    row_reader_t read_row, void *out, const char *op)
{
    conn_t *conn = conn_borrow(store);
    sqlite3_stmt *stmt = NULL;
    int rc = stmt_get(conn, id, &stmt, op);
    if (rc) {
        goto out;
    }
    int brc = SQLITE_OK;
    bind_fn(stmt, ctx, &brc);
    rc = binds_checked(conn, brc, op);
    if (rc == IM_OK) {
        rc = step_row(conn, stmt, op);
    }
    if (rc == IM_OK) {
        read_row(stmt, out);
    }

out:
    stmt_done(stmt);
    conn_return(store, conn);
    return rc;
}

/* Reads every row of a cached query into a growing array of row_size elements. bind_fn may
 * be NULL for a query without parameters. On failure *rows may hold the first *count rows,
 * which the caller releases. */
static int read_all(sqlite_store_t *store, stmt_id_t id, bind_fn_t bind_fn, const void *ctx,
                    row_reader_t read_row, size_t row_size, void **rows, size_t *count,
                    const char *op)
{
    conn_t *conn = conn_borrow(store);
    sqlite3_stmt *stmt = NULL;
    size_t capacity = 0;

    int rc = stmt_get(conn, id, &stmt, op);
    if (rc == IM_OK && bind_fn) {
        int brc = SQLITE_OK;
        bind_fn(stmt, ctx, &brc);
        rc = binds_checked(conn, brc, op);
    }
    while (rc == IM_OK) {
        rc = step_row(conn, stmt, op);
        if (rc) {
            break;
        }
        if (*count == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            *rows = im_realloc(*rows, capacity * row_size);
        }
        read_row(stmt, (char *)*rows + *count * row_size);
        (*count)++;
    }
    if (rc == IM_ENOTFOUND) {
        rc = IM_OK;
    }
    stmt_done(stmt);
    conn_return(store, conn);
    return rc;
}

/* Runs one write statement and stores the number of rows it changed in *changes and, when
 * rowid is not NULL, the rowid of the last insert on the connection in *rowid. */
static int write_stmt_rowid(sqlite_store_t *store, stmt_id_t id, bind_fn_t bind_fn, const void *ctx,
                            int *changes, int64_t *rowid, const char *op)
{
    conn_t *conn = writer_acquire(store);
    *changes = 0;
    int rc = run_bound(conn, id, bind_fn, ctx, op);
    if (rc == IM_OK) {
        *changes = sqlite3_changes(conn->db);
        if (rowid) {
            *rowid = sqlite3_last_insert_rowid(conn->db);
        }
    }
    writer_release(store, conn);
    return rc;
}

/* Runs one write statement and stores the number of rows it changed in *changes. */
static int write_stmt(sqlite_store_t *store, stmt_id_t id, bind_fn_t bind_fn, const void *ctx,
                      int *changes, const char *op)
{
    return write_stmt_rowid(store, id, bind_fn, ctx, changes, NULL, op);
}

/* Runs a write statement that must change a row. Returns IM_ENOTFOUND when it changes
 * none. */
static int write_one(sqlite_store_t *store, stmt_id_t id, bind_fn_t bind_fn, const void *ctx,
                     const char *op)
{
    int changes = 0;
    int rc = write_stmt(store, id, bind_fn, ctx, &changes, op);
    if (rc == IM_OK && changes == 0) {
        rc = IM_ENOTFOUND;
    }
    return rc;
}

/* A paged list: a count statement and a list statement that share the filter parameters
 * that bind_filter binds. The list statement also takes LIMIT at parameter limit_index and
 * OFFSET at the parameter after it. */
typedef struct {
    stmt_id_t count_id;
    stmt_id_t list_id;
    bind_fn_t bind_filter;
    const void *filter;
    int limit_index;
    int64_t offset;
    int64_t limit;
    row_reader_t read_row;
    size_t row_size; /* bytes per element of the rows array */
} page_query_t;

/* Reads the rows of a page into a new array of capacity elements, counting them in *count. */
static int read_page_rows(conn_t *conn, sqlite3_stmt *stmt, const page_query_t *query,
                          int64_t capacity, void **rows, size_t *count, const char *op)
{
    *rows = im_calloc((size_t)capacity, query->row_size);
    for (;;) {
        int rc = step_row(conn, stmt, op);
        if (rc == IM_ENOTFOUND) {
            return IM_OK;
        }
        if (rc) {
            return rc;
        }
        /* Both queries read one snapshot, so this bound only guards the array. */
        if ((int64_t)*count == capacity) {
            return IM_OK;
        }
        query->read_row(stmt, (char *)*rows + *count * query->row_size);
        (*count)++;
    }
}

/* Counts the rows that match a filter and reads one page of them. Both queries run in one
 * read transaction, so that the total and the page come from the same snapshot. On
 * failure *rows may hold the first *count rows, which the caller releases. */
static int read_page(sqlite_store_t *store, const page_query_t *query, void **rows, size_t *count,
                     int64_t *total, const char *op)
{
    sqlite3_stmt *count_stmt = NULL;
    sqlite3_stmt *list_stmt = NULL;

    int rc = check_page(query->offset, query->limit, op);
    if (rc) {
        return rc;
    }

    conn_t *conn = conn_borrow(store);
    rc = run_simple(conn, STMT_BEGIN, op);
    if (rc) {
        goto out;
    }
    rc = stmt_get(conn, query->count_id, &count_stmt, op);
    if (rc) {
        goto out;
    }
    int brc = SQLITE_OK;
    query->bind_filter(count_stmt, query->filter, &brc);
    rc = binds_checked(conn, brc, op);
    if (rc == IM_OK) {
        rc = query_int64(conn, count_stmt, total, op);
    }
    if (rc) {
        goto out;
    }

    rc = stmt_get(conn, query->list_id, &list_stmt, op);
    if (rc) {
        goto out;
    }
    query->bind_filter(list_stmt, query->filter, &brc);
    bind_int64(list_stmt, query->limit_index, query->limit, &brc);
    bind_int64(list_stmt, query->limit_index + 1, query->offset, &brc);
    rc = binds_checked(conn, brc, op);
    if (rc) {
        goto out;
    }
    int64_t remaining = *total > query->offset ? *total - query->offset : 0;
    rc = read_page_rows(conn, list_stmt, query, remaining < query->limit ? remaining : query->limit,
                        rows, count, op);
    if (rc == IM_OK) {
        rc = run_simple(conn, STMT_COMMIT, op);
    }

out:
    stmt_done(count_stmt);
    stmt_done(list_stmt);
    if (rc) {
        tx_abort(conn, op);
    }
    conn_return(store, conn);
    return rc;
}

/* ---- opening ----------------------------------------------------------------------------- */

/* Creates the missing folders on the way to path, each with mode 0700. */
static int make_parent_dirs(const char *path, char *err, size_t errlen)
{
    int rc = IM_OK;
    char *copy = im_strdup(path);

    for (char *p = copy + 1; *p; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
            set_error(err, errlen, "cannot create database folder %s: %s", copy, strerror(errno));
            rc = IM_EUNAVAILABLE;
            goto out;
        }
        *p = '/';
    }

out:
    free(copy);
    return rc;
}

/* Creates the database file with mode 0600 before SQLite opens it, because SQLite would
 * create it with the umask's mode. The -wal and -shm files copy the database file's mode. */
static int create_private_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        set_error(err, errlen, "cannot open database file %s: %s", path, strerror(errno));
        return IM_EUNAVAILABLE;
    }

    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077)) {
        im_log_warn(LOG_MODULE,
                    "database file %s has mode %03o, so other local users may read it; "
                    "run chmod 600 on it",
                    path, (unsigned)(st.st_mode & 0777));
    }
    close(fd);
    return IM_OK;
}

/* Runs a PRAGMA that returns one text row and copies that row into out. */
static int pragma_text(sqlite3 *db, const char *sql, char *out, size_t out_size)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    if (rc == SQLITE_ROW) {
        column_copy(stmt, 0, out, out_size);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

static int conn_open(conn_t *conn, const char *path, bool first, char *err, size_t errlen)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &conn->db, flags, NULL);
    if (rc != SQLITE_OK) {
        set_error(err, errlen, "cannot open database %s: %s", path,
                  conn->db ? sqlite3_errmsg(conn->db) : sqlite3_errstr(rc));
        return IM_EUNAVAILABLE;
    }
    sqlite3_extended_result_codes(conn->db, 1);
    sqlite3_busy_timeout(conn->db, BUSY_TIMEOUT_MS);

    /* The journal mode is stored in the database file, so one connection sets it. */
    if (first) {
        char mode[16] = "";
        rc = pragma_text(conn->db, SQL_JOURNAL_MODE_WAL, mode, sizeof(mode));
        if (rc != SQLITE_OK || strcmp(mode, "wal") != 0) {
            set_error(err, errlen, "cannot switch database %s to WAL mode: %s", path,
                      rc != SQLITE_OK ? sqlite3_errmsg(conn->db) : mode);
            return IM_EUNAVAILABLE;
        }
    }

    rc = sqlite3_exec(conn->db, SQL_CONNECTION_SETUP, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        set_error(err, errlen, "cannot configure database %s: %s", path, sqlite3_errmsg(conn->db));
        return IM_EUNAVAILABLE;
    }
    return IM_OK;
}

static void conn_close(conn_t *conn)
{
    for (int i = 0; i < STMT_COUNT; i++) {
        sqlite3_finalize(conn->stmts[i]);
        conn->stmts[i] = NULL;
    }
    for (int i = 0; i < IM__SQLITE_EXTRA_STMT_MAX; i++) {
        sqlite3_finalize(conn->extra_stmts[i]);
        conn->extra_stmts[i] = NULL;
    }
    if (conn->db && sqlite3_close(conn->db) != SQLITE_OK) {
        im_log_error(LOG_MODULE, "closing the database failed: %s", sqlite3_errmsg(conn->db));
    }
    conn->db = NULL;
}

static void sqlite_close(im_store_t *base)
{
    sqlite_store_t *store = store_of(base);

    for (int i = 0; i < POOL_SIZE; i++) {
        conn_close(&store->conns[i]);
    }
    pthread_cond_destroy(&store->pool_cond);
    pthread_mutex_destroy(&store->pool_lock);
    pthread_mutex_destroy(&store->write_lock);
    free(store->path);
    free(store);
}

/* ---- TOTP secret re-encryption ------------------------------------------------------------- */

/* These two prepare their statements on each call instead of caching them: they run once
 * per TOTP row at start and after a key change, not per request. */
static int sqlite_totp_secret_replace(im_store_t *base, int64_t user_id, const char *old_secret,
                                      const char *new_secret)
{
    static const char sql[] = "UPDATE user_totp SET secret = ?3 WHERE user_id = ?1 AND secret = ?2";
    const char *op = "totp_secret_replace";
    int rc = check_text(new_secret, IM_STORE_TOTP_SECRET_MAX, "secret", op);
    if (rc) {
        return rc;
    }
    sqlite_store_t *store = store_of(base);
    conn_t *conn = writer_acquire(store);
    id_args_t args = {.id = user_id, .text = old_secret, .second_text = new_secret};
    rc = run_uncached(conn, sql, bind_id_text_pair, &args, op);
    if (rc == IM_OK && sqlite3_changes(conn->db) == 0) {
        rc = IM_ECONFLICT;
    }
    writer_release(store, conn);
    return rc;
}

static int sqlite_totp_user_ids(im_store_t *base, int64_t **ids, size_t *count)
{
    static const char sql[] = "SELECT user_id FROM user_totp ORDER BY user_id";
    const char *op = "totp_user_ids";
    *ids = NULL;
    *count = 0;
    sqlite_store_t *store = store_of(base);
    conn_t *conn = conn_borrow(store);
    sqlite3_stmt *stmt = NULL;
    int rc = IM_OK;
    int src = sqlite3_prepare_v2(conn->db, sql, -1, &stmt, NULL);
    if (src != SQLITE_OK) {
        rc = sql_fail(conn, src, op);
        goto out;
    }
    size_t capacity = 0;
    while ((rc = step_row(conn, stmt, op)) == IM_OK) {
        if (*count == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            *ids = im_realloc(*ids, capacity * sizeof(**ids));
        }
        (*ids)[(*count)++] = sqlite3_column_int64(stmt, 0);
    }
    if (rc == IM_ENOTFOUND) {
        rc = IM_OK;
    }
out:
    sqlite3_finalize(stmt);
    conn_return(store, conn);
    if (rc) {
        free(*ids);
        *ids = NULL;
        *count = 0;
    }
    return rc;
}

static const im_store_ops_t sqlite_ops;

static int sqlite_open(const char *path, im_store_t **out, char *err, size_t errlen)
{
    sqlite_store_t *store = im_calloc(1, sizeof(*store));
    store->base.ops = &sqlite_ops;
    store->path = im_strdup(path);
    pthread_mutex_init(&store->write_lock, NULL);
    pthread_mutex_init(&store->pool_lock, NULL);
    pthread_cond_init(&store->pool_cond, NULL);

    int rc = make_parent_dirs(path, err, errlen);
    if (rc) {
        goto out;
    }
    rc = create_private_file(path, err, errlen);
    if (rc) {
        goto out;
    }
    for (int i = 0; i < POOL_SIZE; i++) {
        rc = conn_open(&store->conns[i], path, i == 0, err, errlen);
        if (rc) {
            goto out;
        }
        store->idle[store->idle_count++] = &store->conns[i];
    }

    /* Migrations and im_store_schema_version both read this table, so it exists from the
     * start even in a database that has never been migrated. */
    if (sqlite3_exec(store->conns[0].db, SQL_SCHEMA_MIGRATIONS_TABLE, NULL, NULL, NULL) !=
        SQLITE_OK) {
        set_error(err, errlen, "cannot create schema_migrations in %s: %s", path,
                  sqlite3_errmsg(store->conns[0].db));
        rc = IM_EUNAVAILABLE;
        goto out;
    }
    im_log_info(LOG_MODULE, "opened SQLite database %s (SQLite %s, %d connections)", path,
                sqlite3_libversion(), POOL_SIZE);

out:
    if (rc) {
        sqlite_close(&store->base);
        store = NULL;
    }
    *out = store ? &store->base : NULL;
    return rc;
}

/* ---- schema ------------------------------------------------------------------------------ */

static int read_schema_version(conn_t *conn, int *version)
{
    sqlite3_stmt *stmt = NULL;
    int64_t value = 0;
    int rc = stmt_get(conn, STMT_SCHEMA_VERSION, &stmt, "schema_version");
    if (rc == IM_OK) {
        rc = query_int64(conn, stmt, &value, "schema_version");
    }
    stmt_done(stmt);
    *version = (int)value;
    return rc;
}

static int sqlite_schema_version(im_store_t *base, int *version)
{
    sqlite_store_t *store = store_of(base);
    conn_t *conn = conn_borrow(store);
    int rc = read_schema_version(conn, version);
    conn_return(store, conn);
    return rc;
}

/* Applies one migration and records it, in a single transaction. */
static int apply_migration(conn_t *conn, const im_migration_t *migration)
{
    const char *op = "migrate";
    char *message = NULL;

    int rc = run_simple(conn, STMT_BEGIN_IMMEDIATE, op);
    if (rc) {
        goto out;
    }
    /* sqlite3_exec runs every statement of the migration file. The text is compiled into
     * the binary and contains no values from outside. */
    int src = sqlite3_exec(conn->db, migration->sql, NULL, NULL, &message);
    if (src != SQLITE_OK) {
        im_log_error(LOG_MODULE, "migration %s failed: %s", migration->name,
                     message ? message : sqlite3_errstr(src));
        rc = IM_ERR;
        goto out;
    }

    id_args_t record = {.id = migration->version, .text = migration->name, .when = im_now()};
    rc = run_bound(conn, STMT_MIGRATION_RECORD, bind_id_text_when, &record, op);
    if (rc == IM_OK) {
        rc = run_simple(conn, STMT_COMMIT, op);
    }
    if (rc == IM_OK) {
        im_log_info(LOG_MODULE, "applied migration %s (schema version %d)", migration->name,
                    migration->version);
    }

out:
    sqlite3_free(message);
    if (rc) {
        tx_abort(conn, op);
    }
    return rc;
}

static int sqlite_migrate(im_store_t *base, int *version)
{
    sqlite_store_t *store = store_of(base);
    conn_t *conn = writer_acquire(store);
    int latest = im_migrations_count > 0 ? im_migrations[im_migrations_count - 1].version : 0;
    int current = 0;

    int rc = read_schema_version(conn, &current);
    if (rc) {
        goto out;
    }
    if (current > latest) {
        im_log_error(LOG_MODULE,
                     "database schema version %d is newer than this build supports (%d); "
                     "run a newer inframon or restore an older backup",
                     current, latest);
        rc = IM_ECONFLICT;
        goto out;
    }
    for (int i = 0; i < im_migrations_count; i++) {
        if (im_migrations[i].version <= current) {
            continue;
        }
        rc = apply_migration(conn, &im_migrations[i]);
        if (rc) {
            goto out;
        }
        current = im_migrations[i].version;
    }

out:
    writer_release(store, conn);
    if (version) {
        *version = current;
    }
    return rc;
}

static int sqlite_ping(im_store_t *base)
{
    sqlite_store_t *store = store_of(base);
    conn_t *conn = conn_borrow(store);
    sqlite3_stmt *stmt = NULL;
    int rc = stmt_get(conn, STMT_PING, &stmt, "ping");
    if (rc == IM_OK) {
        rc = step_row(conn, stmt, "ping");
    }
    stmt_done(stmt);
    conn_return(store, conn);
    return rc;
}

static int sqlite_maintenance(im_store_t *base)
{
    const char *op = "wal_checkpoint";
    sqlite_store_t *store = store_of(base);
    conn_t *conn = writer_acquire(store);
    sqlite3_stmt *stmt = NULL;

    int rc = stmt_get(conn, STMT_CHECKPOINT, &stmt, op);
    if (rc == IM_OK) {
        rc = step_row(conn, stmt, op);
    }
    /* The row is (busy, WAL frames, frames checkpointed). busy is 1 when a reader kept an
     * old snapshot for the whole busy timeout, so the WAL could not be reset this time. */
    if (rc == IM_OK && sqlite3_column_int(stmt, 0) != 0) {
        im_log_warn(LOG_MODULE,
                    "WAL checkpoint of %s could not finish because readers were active "
                    "(%d of %d frames copied); the next run retries",
                    store->path, sqlite3_column_int(stmt, 2), sqlite3_column_int(stmt, 1));
    }
    stmt_done(stmt);
    writer_release(store, conn);
    return rc;
}

/* ---- backup ------------------------------------------------------------------------------ */

/* Copies the live database into dst with the online backup API. Writers wait on
 * write_lock for the whole copy, because a copy done in steps restarts on every write. */
static int copy_database(sqlite_store_t *store, sqlite3 *dst)
{
    conn_t *conn = writer_acquire(store);
    int rc = IM_OK;

    sqlite3_backup *backup = sqlite3_backup_init(dst, "main", conn->db, "main");
    if (!backup) {
        im_log_error(LOG_MODULE, "backup of %s failed to start: %s", store->path,
                     sqlite3_errmsg(dst));
        rc = IM_ERR;
        goto out;
    }
    int step = sqlite3_backup_step(backup, -1);
    int finish = sqlite3_backup_finish(backup);
    if (step != SQLITE_DONE || finish != SQLITE_OK) {
        im_log_error(LOG_MODULE, "backup of %s failed: %s", store->path, sqlite3_errmsg(dst));
        rc = IM_ERR;
    }

out:
    writer_release(store, conn);
    return rc;
}

/* Writes a standalone copy of the live database into the existing file tmp_path. */
static int write_backup_file(sqlite_store_t *store, const char *tmp_path)
{
    sqlite3 *dst = NULL;
    int rc = IM_OK;

    if (sqlite3_open_v2(tmp_path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        im_log_error(LOG_MODULE, "cannot open backup file %s: %s", tmp_path,
                     dst ? sqlite3_errmsg(dst) : "out of memory");
        rc = IM_ERR;
        goto out;
    }
    rc = copy_database(store, dst);
    if (rc) {
        goto out;
    }
    /* The copy carries the WAL flag of the live file. Rollback-journal mode makes the
     * backup one self-contained file that needs no -wal or -shm beside it. */
    char mode[16] = "";
    if (pragma_text(dst, SQL_JOURNAL_MODE_DELETE, mode, sizeof(mode)) != SQLITE_OK ||
        strcmp(mode, "delete") != 0) {
        im_log_error(LOG_MODULE, "cannot set rollback-journal mode on backup %s: %s", tmp_path,
                     sqlite3_errmsg(dst));
        rc = IM_ERR;
    }

out:
    if (dst && sqlite3_close(dst) != SQLITE_OK) {
        im_log_error(LOG_MODULE, "closing backup file %s failed: %s", tmp_path,
                     sqlite3_errmsg(dst));
        rc = IM_ERR;
    }
    return rc;
}

/* Flushes a file or folder to disk. */
static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Flushes the folder that contains path, so that a rename into it survives a crash. */
static void fsync_parent_folder(const char *path)
{
    char *folder = im_strdup(path);
    char *slash = strrchr(folder, '/');
    if (!slash) {
        im_strlcpy(folder, ".", strlen(folder) + 1);
    } else if (slash == folder) {
        slash[1] = '\0';
    } else {
        *slash = '\0';
    }
    if (fsync_path(folder, O_RDONLY | O_DIRECTORY) != 0) {
        im_log_warn(LOG_MODULE, "cannot flush folder %s after backup: %s", folder, strerror(errno));
    }
    free(folder);
}

/* Moves tmp_path to path. Without overwrite, link() makes the check for an existing path
 * and the move one atomic step. */
static int install_backup(const char *tmp_path, const char *path, bool overwrite)
{
    if (overwrite) {
        if (rename(tmp_path, path) != 0) {
            im_log_error(LOG_MODULE, "cannot rename backup %s to %s: %s", tmp_path, path,
                         strerror(errno));
            return IM_ERR;
        }
        return IM_OK;
    }
    if (link(tmp_path, path) != 0) {
        int error = errno;
        if (error == EEXIST) {
            im_log_warn(LOG_MODULE, "backup target %s already exists; not overwriting it", path);
            return IM_ECONFLICT;
        }
        im_log_error(LOG_MODULE, "cannot link backup %s to %s: %s", tmp_path, path,
                     strerror(error));
        return IM_ERR;
    }
    unlink(tmp_path);
    return IM_OK;
}

/* Returns true when path names the live database file itself. */
static bool is_live_database(const sqlite_store_t *store, const struct stat *target)
{
    struct stat live;
    return stat(store->path, &live) == 0 && live.st_dev == target->st_dev &&
           live.st_ino == target->st_ino;
}

static int sqlite_backup(im_store_t *base, const char *path, bool overwrite)
{
    sqlite_store_t *store = store_of(base);
    char *tmp_path = NULL;
    bool installed = false;
    int rc = IM_OK;

    if (!path || !*path) {
        im_log_error(LOG_MODULE, "backup failed: the target path is empty");
        return IM_EINVAL;
    }
    struct stat target;
    if (stat(path, &target) == 0) {
        if (is_live_database(store, &target)) {
            im_log_error(LOG_MODULE, "backup target %s is the live database itself", path);
            return IM_EINVAL;
        }
        if (!overwrite) {
            im_log_warn(LOG_MODULE, "backup target %s already exists; not overwriting it", path);
            return IM_ECONFLICT;
        }
    }

    /* mkstemp creates the file with mode 0600, which the copy keeps. */
    tmp_path = im_asprintf("%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp_path);
    if (fd < 0) {
        im_log_error(LOG_MODULE, "cannot create backup file %s: %s", tmp_path, strerror(errno));
        rc = IM_ERR;
        goto out;
    }
    close(fd);

    rc = write_backup_file(store, tmp_path);
    if (rc) {
        goto out;
    }
    if (fsync_path(tmp_path, O_RDONLY) != 0) {
        im_log_error(LOG_MODULE, "cannot flush backup %s: %s", tmp_path, strerror(errno));
        rc = IM_ERR;
        goto out;
    }
    rc = install_backup(tmp_path, path, overwrite);
    if (rc) {
        goto out;
    }
    installed = true;
    fsync_parent_folder(path);
    im_log_info(LOG_MODULE, "backed up %s to %s", store->path, path);

out:
    if (tmp_path && !installed) {
        unlink(tmp_path);
    }
    free(tmp_path);
    return rc;
}

/* ---- users ------------------------------------------------------------------------------- */

static void read_user(sqlite3_stmt *stmt, void *row)
{
    im_store_user_t *user = row;
    memset(user, 0, sizeof(*user));
    user->id = sqlite3_column_int64(stmt, 0);
    column_copy(stmt, 1, user->username, sizeof(user->username));
    column_copy(stmt, 2, user->email, sizeof(user->email));
    column_copy(stmt, 3, user->password_hash, sizeof(user->password_hash));
    column_copy(stmt, 4, user->role, sizeof(user->role));
    user->is_active = sqlite3_column_int(stmt, 5) != 0;
    user->created_at = sqlite3_column_int64(stmt, 6);
    user->updated_at = sqlite3_column_int64(stmt, 7);
    user->last_login_at = sqlite3_column_int64(stmt, 8);
}

/* Checks the fields that both create and update write. */
static int check_user_fields(const im_store_user_t *user, const char *op)
{
    int rc = check_text(user->email, IM_STORE_EMAIL_MAX, "email", op);
    if (rc == IM_OK) {
        rc = check_text(user->password_hash, IM_STORE_PASSWORD_HASH_MAX, "password_hash", op);
    }
    if (rc == IM_OK) {
        rc = check_text(user->role, IM_STORE_ROLE_MAX, "role", op);
    }
    return rc;
}

static int sqlite_user_count(im_store_t *base, int64_t *count)
{
    sqlite_store_t *store = store_of(base);
    conn_t *conn = conn_borrow(store);
    sqlite3_stmt *stmt = NULL;
    int rc = stmt_get(conn, STMT_USER_COUNT, &stmt, "user_count");
    if (rc == IM_OK) {
        rc = query_int64(conn, stmt, count, "user_count");
    }
    stmt_done(stmt);
    conn_return(store, conn);
    return rc;
}

static void bind_user_insert(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const im_store_user_t *user = ctx;
    bind_text(stmt, 1, user->username, brc);
    bind_text(stmt, 2, user->email, brc);
    bind_text(stmt, 3, user->password_hash, brc);
    bind_text(stmt, 4, user->role, brc);
    bind_int64(stmt, 5, user->is_active ? 1 : 0, brc);
    bind_int64(stmt, 6, user->created_at, brc);
    bind_int64(stmt, 7, user->updated_at, brc);
}

static int sqlite_user_create(im_store_t *base, im_store_user_t *user)
{
    const char *op = "user_create";
    int64_t now = im_now();
    im_store_user_t row = *user;
    row.created_at = row.created_at ? row.created_at : now;
    row.updated_at = row.updated_at ? row.updated_at : now;

    int rc = check_text(user->username, IM_STORE_USERNAME_MAX, "username", op);
    if (rc == IM_OK) {
        rc = check_user_fields(user, op);
    }
    if (rc) {
        return rc;
    }

    int changes = 0;
    int64_t id = 0;
    rc = write_stmt_rowid(store_of(base), STMT_USER_INSERT, bind_user_insert, &row, &changes, &id,
                          op);
    if (rc == IM_OK) {
        user->id = id;
        user->created_at = row.created_at;
        user->updated_at = row.updated_at;
    }
    return rc;
}

static int sqlite_user_get_by_id(im_store_t *base, int64_t id, im_store_user_t *out)
{
    id_args_t args = {.id = id};
    return read_one(store_of(base), STMT_USER_BY_ID, bind_id, &args, read_user, out,
                    "user_get_by_id");
}

static int sqlite_user_get_by_name(im_store_t *base, const char *username, im_store_user_t *out)
{
    if (!username) {
        return IM_EINVAL;
    }
    id_args_t args = {.text = username};
    return read_one(store_of(base), STMT_USER_BY_NAME, bind_text_only, &args, read_user, out,
                    "user_get_by_name");
}

static void bind_user_filter(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const im_store_user_filter_t *filter = ctx;
    bind_bool_filter(stmt, 1, filter->is_active, brc);
    bind_text(stmt, 2, filter->role, brc);
}

static int sqlite_user_list(im_store_t *base, const im_store_user_filter_t *filter,
                            im_store_user_page_t *page)
{
    const page_query_t query = {
        .count_id = STMT_USER_LIST_COUNT,
        .list_id = STMT_USER_LIST,
        .bind_filter = bind_user_filter,
        .filter = filter,
        .limit_index = 3,
        .offset = filter->offset,
        .limit = filter->limit,
        .read_row = read_user,
        .row_size = sizeof(*page->users),
    };
    void *rows = NULL;

    memset(page, 0, sizeof(*page));
    int rc = read_page(store_of(base), &query, &rows, &page->count, &page->total, "user_list");
    page->users = rows;
    if (rc) {
        im_store_user_page_release(page);
    }
    return rc;
}

void im_store_user_page_release(im_store_user_page_t *page)
{
    free(page->users);
    memset(page, 0, sizeof(*page));
}

static void bind_user_update(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const im_store_user_t *user = ctx;
    bind_int64(stmt, 1, user->id, brc);
    bind_text(stmt, 2, user->email, brc);
    bind_text(stmt, 3, user->password_hash, brc);
    bind_text(stmt, 4, user->role, brc);
    bind_int64(stmt, 5, user->is_active ? 1 : 0, brc);
    bind_int64(stmt, 6, user->updated_at, brc);
}

static int sqlite_user_update(im_store_t *base, im_store_user_t *user)
{
    const char *op = "user_update";
    int rc = check_user_fields(user, op);
    if (rc) {
        return rc;
    }
    im_store_user_t row = *user;
    if (!row.updated_at) {
        row.updated_at = im_now();
    }
    rc = write_one(store_of(base), STMT_USER_UPDATE, bind_user_update, &row, op);
    if (rc == IM_OK) {
        user->updated_at = row.updated_at;
    }
    return rc;
}

static int sqlite_user_delete(im_store_t *base, int64_t id)
{
    id_args_t args = {.id = id};
    return write_one(store_of(base), STMT_USER_DELETE, bind_id, &args, "user_delete");
}

static int sqlite_user_touch_login(im_store_t *base, int64_t id, int64_t when)
{
    id_args_t args = {.id = id, .when = when ? when : im_now()};
    return write_one(store_of(base), STMT_USER_TOUCH_LOGIN, bind_id_when, &args,
                     "user_touch_login");
}

/* ---- sessions ---------------------------------------------------------------------------- */

static void bind_session(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const im_store_session_t *session = ctx;
    bind_text(stmt, 1, session->id, brc);
    bind_int64(stmt, 2, session->user_id, brc);
    bind_int64(stmt, 3, session->created_at ? session->created_at : im_now(), brc);
    bind_int64(stmt, 4, session->expires_at, brc);
    bind_text_len(stmt, 5, session->ip_address,
                  utf8_prefix_len(session->ip_address, IM_STORE_IP_ADDRESS_MAX), brc);
    bind_text_len(stmt, 6, session->user_agent,
                  utf8_prefix_len(session->user_agent, IM_STORE_USER_AGENT_MAX), brc);
}

static int sqlite_session_create(im_store_t *base, const im_store_session_t *session)
{
    const char *op = "session_create";
    int rc = check_text(session->id, IM_STORE_SESSION_ID_MAX, "session id", op);
    if (rc) {
        return rc;
    }
    if (!session->id[0]) {
        im_log_debug(LOG_MODULE, "%s: session id is empty", op);
        return IM_EINVAL;
    }
    return write_one(store_of(base), STMT_SESSION_INSERT, bind_session, session, op);
}

static void read_session(sqlite3_stmt *stmt, void *row)
{
    im_store_session_t *session = row;
    memset(session, 0, sizeof(*session));
    column_copy(stmt, 0, session->id, sizeof(session->id));
    session->user_id = sqlite3_column_int64(stmt, 1);
    session->created_at = sqlite3_column_int64(stmt, 2);
    session->expires_at = sqlite3_column_int64(stmt, 3);
    session->revoked_at = sqlite3_column_int64(stmt, 4);
    column_copy(stmt, 5, session->ip_address, sizeof(session->ip_address));
    column_copy(stmt, 6, session->user_agent, sizeof(session->user_agent));
}

static int sqlite_session_get(im_store_t *base, const char *id, im_store_session_t *out)
{
    if (!id) {
        return IM_EINVAL;
    }
    id_args_t args = {.text = id};
    return read_one(store_of(base), STMT_SESSION_GET, bind_text_only, &args, read_session, out,
                    "session_get");
}

static int sqlite_session_revoke(im_store_t *base, const char *id, int64_t when)
{
    if (!id || when <= 0) {
        return IM_EINVAL;
    }
    id_args_t args = {.text = id, .when = when};
    return write_one(store_of(base), STMT_SESSION_REVOKE, bind_text_when, &args, "session_revoke");
}

static int sqlite_session_revoke_user(im_store_t *base, int64_t user_id,
                                      const char *except_session_id, int64_t when)
{
    const char *op = "session_revoke_user";
    if (when <= 0) {
        return IM_EINVAL;
    }
    id_args_t args = {.id = user_id, .text = except_session_id, .when = when};
    int changes = 0;
    return write_stmt(store_of(base), STMT_SESSION_REVOKE_USER, bind_id_text_when, &args, &changes,
                      op);
}

/* ---- refresh tokens ---------------------------------------------------------------------- */

static void bind_refresh(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const im_store_refresh_token_t *token = ctx;
    bind_text(stmt, 1, token->token_hash, brc);
    bind_text(stmt, 2, token->session_id, brc);
    bind_int64(stmt, 3, token->user_id, brc);
    bind_int64(stmt, 4, token->issued_at ? token->issued_at : im_now(), brc);
    bind_int64(stmt, 5, token->expires_at, brc);
}

static int sqlite_refresh_insert(im_store_t *base, const im_store_refresh_token_t *token)
{
    const char *op = "refresh_insert";
    if (!is_token_hash(token->token_hash)) {
        im_log_debug(LOG_MODULE, "%s: token_hash is not 64 lowercase hex digits", op);
        return IM_EINVAL;
    }
    int rc = check_text(token->session_id, IM_STORE_SESSION_ID_MAX, "session id", op);
    if (rc) {
        return rc;
    }
    return write_one(store_of(base), STMT_REFRESH_INSERT, bind_refresh, token, op);
}

static void read_refresh_token(sqlite3_stmt *stmt, void *row)
{
    im_store_refresh_token_t *token = row;
    memset(token, 0, sizeof(*token));
    column_copy(stmt, 0, token->token_hash, sizeof(token->token_hash));
    column_copy(stmt, 1, token->session_id, sizeof(token->session_id));
    token->user_id = sqlite3_column_int64(stmt, 2);
    token->issued_at = sqlite3_column_int64(stmt, 3);
    token->expires_at = sqlite3_column_int64(stmt, 4);
    token->spent_at = sqlite3_column_int64(stmt, 5);
    column_copy(stmt, 6, token->replaced_by, sizeof(token->replaced_by));
    token->session_expires_at = sqlite3_column_int64(stmt, 7);
    token->session_revoked_at = sqlite3_column_int64(stmt, 8);
}

static int sqlite_refresh_get(im_store_t *base, const char *token_hash,
                              im_store_refresh_token_t *out)
{
    const char *op = "refresh_get";
    if (!is_token_hash(token_hash)) {
        im_log_debug(LOG_MODULE, "%s: token_hash is not 64 lowercase hex digits", op);
        return IM_EINVAL;
    }
    id_args_t args = {.text = token_hash};
    return read_one(store_of(base), STMT_REFRESH_GET, bind_text_only, &args, read_refresh_token,
                    out, op);
}

/* After a spend that changed nothing, distinguishes reuse (IM_ECONFLICT) from a token that
 * is missing, expired or revoked (IM_ENOTFOUND). */
static int classify_failed_spend(conn_t *conn, const char *token_hash, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int64_t spent_at = 0;
    int rc = stmt_get(conn, STMT_REFRESH_SPENT_AT, &stmt, op);
    if (rc) {
        goto out;
    }
    int brc = SQLITE_OK;
    bind_text(stmt, 1, token_hash, &brc);
    rc = binds_checked(conn, brc, op);
    if (rc == IM_OK) {
        rc = query_int64(conn, stmt, &spent_at, op);
    }
    if (rc == IM_OK) {
        rc = spent_at != 0 ? IM_ECONFLICT : IM_ENOTFOUND;
    }

out:
    stmt_done(stmt);
    return rc;
}

static int sqlite_refresh_spend(im_store_t *base, const char *token_hash, const char *replaced_by,
                                int64_t when)
{
    const char *op = "refresh_spend";
    if (!replaced_by) {
        replaced_by = "";
    }
    if (!is_token_hash(token_hash) || (*replaced_by && !is_token_hash(replaced_by)) || when <= 0) {
        im_log_debug(LOG_MODULE, "%s: invalid token hash or time", op);
        return IM_EINVAL;
    }

    sqlite_store_t *store = store_of(base);
    conn_t *conn = writer_acquire(store);
    /* An immediate transaction makes the update and the follow-up read one step, even
     * against another process (such as the inframon CLI) writing the same file. */
    int rc = run_simple(conn, STMT_BEGIN_IMMEDIATE, op);
    if (rc) {
        goto out;
    }
    id_args_t args = {.text = token_hash, .second_text = replaced_by, .when = when};
    rc = run_bound(conn, STMT_REFRESH_SPEND, bind_text_pair_when, &args, op);
    if (rc == IM_OK && sqlite3_changes(conn->db) == 0) {
        rc = classify_failed_spend(conn, token_hash, op);
    }
    if (rc == IM_OK || rc == IM_ECONFLICT || rc == IM_ENOTFOUND) {
        int commit = run_simple(conn, STMT_COMMIT, op);
        rc = commit ? commit : rc;
    }

out:
    tx_abort(conn, op);
    writer_release(store, conn);
    return rc;
}

static int sqlite_refresh_purge_expired(im_store_t *base, int64_t now, int64_t *deleted)
{
    const char *op = "refresh_purge_expired";
    sqlite_store_t *store = store_of(base);
    conn_t *conn = writer_acquire(store);
    sqlite3_stmt *tokens = NULL;
    sqlite3_stmt *sessions = NULL;
    int64_t token_count = 0;

    int rc = run_simple(conn, STMT_BEGIN_IMMEDIATE, op);
    if (rc == IM_OK) {
        rc = stmt_get(conn, STMT_REFRESH_PURGE, &tokens, op);
    }
    if (rc == IM_OK) {
        rc = stmt_get(conn, STMT_SESSION_PURGE, &sessions, op);
    }
    if (rc) {
        goto out;
    }
    int brc = SQLITE_OK;
    bind_int64(tokens, 1, now, &brc);
    bind_int64(sessions, 1, now, &brc);
    rc = binds_checked(conn, brc, op);
    if (rc == IM_OK) {
        rc = step_done(conn, tokens, op);
    }
    if (rc == IM_OK) {
        token_count = sqlite3_changes(conn->db);
        rc = step_done(conn, sessions, op);
    }
    if (rc == IM_OK) {
        rc = run_simple(conn, STMT_COMMIT, op);
    }

out:
    stmt_done(tokens);
    stmt_done(sessions);
    tx_abort(conn, op);
    writer_release(store, conn);
    if (deleted) {
        *deleted = rc == IM_OK ? token_count : 0;
    }
    return rc;
}

/* ---- audit log --------------------------------------------------------------------------- */

static void bind_audit_event(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const im_store_audit_event_t *event = ctx;
    bind_int64(stmt, 1, event->timestamp ? event->timestamp : im_now(), brc);
    bind_int64_or_null(stmt, 2, event->user_id, brc);
    bind_text(stmt, 3, event->username, brc);
    bind_text(stmt, 4, event->action, brc);
    bind_text(stmt, 5, event->target_type, brc);
    bind_text(stmt, 6, event->target_id, brc);
    bind_text(stmt, 7, event->ip_address, brc);
    bind_text(stmt, 8, event->user_agent, brc);
    bind_int64(stmt, 9, event->success ? 1 : 0, brc);
    bind_text(stmt, 10, event->error_message, brc);
    bind_text(stmt, 11, event->details, brc);
}

static int sqlite_audit_insert(im_store_t *base, const im_store_audit_event_t *event)
{
    return write_one(store_of(base), STMT_AUDIT_INSERT, bind_audit_event, event, "audit_insert");
}

static void bind_audit_filter(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const im_store_audit_filter_t *filter = ctx;
    bind_int64_or_null(stmt, 1, filter->user_id, brc);
    bind_text(stmt, 2, filter->action, brc);
    bind_text(stmt, 3, filter->target_id, brc);
    bind_int64_or_null(stmt, 4, filter->since, brc);
    bind_int64_or_null(stmt, 5, filter->until, brc);
    bind_bool_filter(stmt, 6, filter->success, brc);
}

static void read_audit_entry(sqlite3_stmt *stmt, void *row)
{
    im_store_audit_entry_t *entry = row;
    entry->id = sqlite3_column_int64(stmt, 0);
    entry->timestamp = sqlite3_column_int64(stmt, 1);
    entry->user_id = sqlite3_column_int64(stmt, 2);
    entry->username = column_dup(stmt, 3);
    entry->action = column_dup(stmt, 4);
    entry->target_type = column_dup(stmt, 5);
    entry->target_id = column_dup(stmt, 6);
    entry->ip_address = column_dup(stmt, 7);
    entry->user_agent = column_dup(stmt, 8);
    entry->success = sqlite3_column_int(stmt, 9) != 0;
    entry->error_message = column_dup(stmt, 10);
    entry->details = column_dup(stmt, 11);
}

static int sqlite_audit_list(im_store_t *base, const im_store_audit_filter_t *filter,
                             im_store_audit_page_t *page)
{
    const page_query_t query = {
        .count_id = STMT_AUDIT_COUNT,
        .list_id = STMT_AUDIT_LIST,
        .bind_filter = bind_audit_filter,
        .filter = filter,
        .limit_index = 7,
        .offset = filter->offset,
        .limit = filter->limit,
        .read_row = read_audit_entry,
        .row_size = sizeof(*page->entries),
    };
    void *rows = NULL;

    memset(page, 0, sizeof(*page));
    int rc = read_page(store_of(base), &query, &rows, &page->count, &page->total, "audit_list");
    page->entries = rows;
    if (rc) {
        im_store_audit_page_release(page);
    }
    return rc;
}

void im_store_audit_page_release(im_store_audit_page_t *page)
{
    for (size_t i = 0; i < page->count; i++) {
        im_store_audit_entry_t *entry = &page->entries[i];
        free(entry->username);
        free(entry->action);
        free(entry->target_type);
        free(entry->target_id);
        free(entry->ip_address);
        free(entry->user_agent);
        free(entry->error_message);
        free(entry->details);
    }
    free(page->entries);
    memset(page, 0, sizeof(*page));
}

/* ---- groups ------------------------------------------------------------------------------ */

static void read_group(sqlite3_stmt *stmt, void *row)
{
    im_store_group_t *group = row;
    memset(group, 0, sizeof(*group));
    group->id = sqlite3_column_int64(stmt, 0);
    column_copy(stmt, 1, group->name, sizeof(group->name));
    column_copy(stmt, 2, group->description, sizeof(group->description));
    column_copy(stmt, 3, group->color, sizeof(group->color));
    group->created_at = sqlite3_column_int64(stmt, 4);
    group->updated_at = sqlite3_column_int64(stmt, 5);
}

static void bind_group(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const im_store_group_t *group = ctx;
    bind_text(stmt, 1, group->name, brc);
    bind_text(stmt, 2, group->description, brc);
    bind_text(stmt, 3, group->color, brc);
    bind_int64(stmt, 4, group->created_at, brc);
    bind_int64(stmt, 5, group->updated_at, brc);
}

/* The fixed arrays bound the lengths, so these checks catch a missing terminator. */
static int check_group_fields(const im_store_group_t *group, const char *op)
{
    int rc = check_text(group->name, IM_STORE_GROUP_NAME_MAX, "name", op);
    if (rc == IM_OK) {
        rc = check_text(group->description, IM_STORE_GROUP_DESCRIPTION_MAX, "description", op);
    }
    if (rc == IM_OK) {
        rc = check_text(group->color, IM_STORE_GROUP_COLOR_MAX, "color", op);
    }
    return rc;
}

static int sqlite_group_create(im_store_t *base, im_store_group_t *group)
{
    const char *op = "group_create";
    int rc = check_group_fields(group, op);
    if (rc) {
        return rc;
    }

    im_store_group_t row = *group;
    int64_t now = im_now();
    row.created_at = row.created_at ? row.created_at : now;
    row.updated_at = row.updated_at ? row.updated_at : now;

    int changes = 0;
    rc = write_stmt_rowid(store_of(base), STMT_GROUP_INSERT, bind_group, &row, &changes, &row.id,
                          op);
    if (rc == IM_OK) {
        *group = row;
    }
    return rc;
}

static int sqlite_group_get(im_store_t *base, int64_t id, im_store_group_t *out)
{
    id_args_t args = {.id = id};
    return read_one(store_of(base), STMT_GROUP_GET, bind_id, &args, read_group, out, "group_get");
}

static int sqlite_group_list(im_store_t *base, im_store_group_list_t *list)
{
    void *rows = NULL;

    memset(list, 0, sizeof(*list));
    int rc = read_all(store_of(base), STMT_GROUP_LIST, NULL, NULL, read_group,
                      sizeof(*list->groups), &rows, &list->count, "group_list");
    list->groups = rows;
    if (rc) {
        im_store_group_list_release(list);
    }
    return rc;
}

void im_store_group_list_release(im_store_group_list_t *list)
{
    free(list->groups);
    memset(list, 0, sizeof(*list));
}

static int sqlite_group_delete(im_store_t *base, int64_t id)
{
    id_args_t args = {.id = id};
    return write_one(store_of(base), STMT_GROUP_DELETE, bind_id, &args, "group_delete");
}

static int sqlite_group_member_add(im_store_t *base, int64_t group_id, const char *container_name)
{
    if (!container_name || !*container_name) {
        return IM_EINVAL;
    }
    /* An existing member changes no row, which counts as success. A missing group fails
     * the foreign key, which maps to IM_ENOTFOUND. */
    id_args_t args = {.id = group_id, .text = container_name};
    int changes = 0;
    return write_stmt(store_of(base), STMT_MEMBER_INSERT, bind_id_text, &args, &changes,
                      "group_member_add");
}

static int sqlite_group_member_remove(im_store_t *base, int64_t group_id,
                                      const char *container_name)
{
    if (!container_name) {
        return IM_EINVAL;
    }
    id_args_t args = {.id = group_id, .text = container_name};
    return write_one(store_of(base), STMT_MEMBER_DELETE, bind_id_text, &args,
                     "group_member_remove");
}

static int sqlite_group_member_list(im_store_t *base, int64_t group_id, im_store_strings_t *names)
{
    id_args_t args = {.id = group_id};
    void *rows = NULL;

    memset(names, 0, sizeof(*names));
    int rc = read_all(store_of(base), STMT_MEMBER_LIST, bind_id, &args, read_text_dup,
                      sizeof(*names->items), &rows, &names->count, "group_member_list");
    names->items = rows;
    if (rc) {
        im_store_strings_release(names);
    }
    return rc;
}

void im_store_strings_release(im_store_strings_t *strings)
{
    for (size_t i = 0; i < strings->count; i++) {
        free(strings->items[i]);
    }
    free(strings->items);
    memset(strings, 0, sizeof(*strings));
}

/* ---- group update ------------------------------------------------------------------------ */

static const char SQL_GROUP_UPDATE[] =
    "UPDATE groups SET name = ?2, description = ?3, color = ?4, updated_at = ?5 WHERE id = ?1";
static const char SQL_GROUP_MEMBERS_CLEAR[] = "DELETE FROM group_members WHERE group_id = ?1";

static void bind_group_update(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const im_store_group_t *group = ctx;
    bind_int64(stmt, 1, group->id, brc);
    bind_text(stmt, 2, group->name, brc);
    bind_text(stmt, 3, group->description, brc);
    bind_text(stmt, 4, group->color, brc);
    bind_int64(stmt, 5, group->updated_at, brc);
}

/* The group update statements run only on edits, so they are not in the per-connection
 * cache. */
static int update_group_row(conn_t *conn, const im_store_group_t *group, const char *op)
{
    int rc = run_uncached(conn, SQL_GROUP_UPDATE, bind_group_update, group, op);
    if (rc == IM_OK && sqlite3_changes(conn->db) == 0) {
        rc = IM_ENOTFOUND;
    }
    return rc;
}

static int replace_group_members(conn_t *conn, int64_t group_id, const im_store_strings_t *members,
                                 const char *op)
{
    id_args_t clear = {.id = group_id};
    int rc = run_uncached(conn, SQL_GROUP_MEMBERS_CLEAR, bind_id, &clear, op);

    for (size_t i = 0; rc == IM_OK && i < members->count; i++) {
        const char *name = members->items[i];
        if (!name || !*name) {
            return IM_EINVAL;
        }
        id_args_t member = {.id = group_id, .text = name};
        rc = run_bound(conn, STMT_MEMBER_INSERT, bind_id_text, &member, op);
    }
    return rc;
}

static int sqlite_group_update(im_store_t *base, im_store_group_t *group,
                               const im_store_strings_t *members)
{
    const char *op = "group_update";
    int rc = check_group_fields(group, op);
    if (rc) {
        return rc;
    }
    if (!group->updated_at) {
        group->updated_at = im_now();
    }

    sqlite_store_t *store = store_of(base);
    conn_t *conn = writer_acquire(store);
    rc = run_simple(conn, STMT_BEGIN_IMMEDIATE, op);
    if (rc == IM_OK) {
        rc = update_group_row(conn, group, op);
    }
    if (rc == IM_OK && members) {
        rc = replace_group_members(conn, group->id, members, op);
    }
    if (rc == IM_OK) {
        rc = run_simple(conn, STMT_COMMIT, op);
    }
    tx_abort(conn, op);
    writer_release(store, conn);
    return rc;
}

/* ---- settings ---------------------------------------------------------------------------- */

static int sqlite_setting_get(im_store_t *base, const char *key, char **value)
{
    *value = NULL;
    if (!key) {
        return IM_EINVAL;
    }
    id_args_t args = {.text = key};
    return read_one(store_of(base), STMT_SETTING_GET, bind_text_only, &args, read_text_dup, value,
                    "setting_get");
}

static int sqlite_setting_set(im_store_t *base, const char *key, const char *value, int64_t when)
{
    const char *op = "setting_set";
    if (!key || !value) {
        return IM_EINVAL;
    }
    id_args_t args = {.text = key, .second_text = value, .when = when ? when : im_now()};
    int changes = 0;
    return write_stmt(store_of(base), STMT_SETTING_SET, bind_text_pair_when, &args, &changes, op);
}

/* ---- audit retention --------------------------------------------------------------------- */

static int sqlite_audit_purge(im_store_t *base, int64_t before, int64_t *deleted)
{
    id_args_t args = {.when = before};
    int changes = 0;
    int rc = write_stmt(store_of(base), STMT_AUDIT_PURGE, bind_when_only, &args, &changes,
                        "audit_purge");
    if (deleted) {
        *deleted = rc == IM_OK ? changes : 0;
    }
    return rc;
}

/* ---- TOTP -------------------------------------------------------------------------------- */

static void read_totp(sqlite3_stmt *stmt, void *row)
{
    im_store_totp_t *totp = row;
    memset(totp, 0, sizeof(*totp));
    totp->user_id = sqlite3_column_int64(stmt, 0);
    column_copy(stmt, 1, totp->secret, sizeof(totp->secret));
    totp->enabled_at = sqlite3_column_int64(stmt, 2);
    totp->last_step = sqlite3_column_int64(stmt, 3);
    totp->created_at = sqlite3_column_int64(stmt, 4);
}

static int sqlite_totp_get(im_store_t *base, int64_t user_id, im_store_totp_t *out)
{
    id_args_t args = {.id = user_id};
    return read_one(store_of(base), STMT_TOTP_GET, bind_id, &args, read_totp, out, "totp_get");
}

/* Runs a statement whose only parameter is a user id inside the caller's transaction. */
static int run_for_user(conn_t *conn, stmt_id_t id, int64_t user_id, const char *op)
{
    id_args_t args = {.id = user_id};
    return run_bound(conn, id, bind_id, &args, op);
}

static int sqlite_totp_setup(im_store_t *base, const im_store_totp_t *totp)
{
    const char *op = "totp_setup";
    int rc = check_text(totp->secret, IM_STORE_TOTP_SECRET_MAX, "secret", op);
    if (rc) {
        return rc;
    }
    sqlite_store_t *store = store_of(base);
    conn_t *conn = writer_acquire(store);
    rc = run_simple(conn, STMT_BEGIN_IMMEDIATE, op);
    if (rc == IM_OK) {
        rc = run_for_user(conn, STMT_RECOVERY_DELETE, totp->user_id, op);
    }
    if (rc == IM_OK) {
        id_args_t args = {.id = totp->user_id,
                          .text = totp->secret,
                          .when = totp->created_at ? totp->created_at : im_now()};
        rc = run_bound(conn, STMT_TOTP_REPLACE, bind_id_text_when, &args, op);
    }
    if (rc == IM_OK) {
        rc = run_simple(conn, STMT_COMMIT, op);
    }
    tx_abort(conn, op);
    writer_release(store, conn);
    return rc;
}

static int insert_recovery_codes(conn_t *conn, int64_t user_id, const char *const *code_hashes,
                                 size_t code_count, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc = stmt_get(conn, STMT_RECOVERY_INSERT, &stmt, op);
    for (size_t i = 0; rc == IM_OK && i < code_count; i++) {
        if (!is_token_hash(code_hashes[i])) {
            rc = IM_EINVAL;
            break;
        }
        int brc = SQLITE_OK;
        bind_int64(stmt, 1, user_id, &brc);
        bind_text(stmt, 2, code_hashes[i], &brc);
        rc = binds_checked(conn, brc, op);
        if (rc == IM_OK) {
            rc = step_done(conn, stmt, op);
        }
        stmt_done(stmt);
    }
    stmt_done(stmt);
    return rc;
}

typedef struct {
    int64_t user_id;
    int64_t when;
    int64_t step;
} totp_enable_args_t;

static void bind_totp_enable(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const totp_enable_args_t *args = ctx;
    bind_int64(stmt, 1, args->user_id, brc);
    bind_int64(stmt, 2, args->when, brc);
    bind_int64(stmt, 3, args->step, brc);
}

static int sqlite_totp_enable(im_store_t *base, int64_t user_id, int64_t when, int64_t step,
                              const char *const *code_hashes, size_t code_count)
{
    const char *op = "totp_enable";
    sqlite_store_t *store = store_of(base);
    conn_t *conn = writer_acquire(store);
    int rc = run_simple(conn, STMT_BEGIN_IMMEDIATE, op);
    if (rc == IM_OK) {
        totp_enable_args_t args = {user_id, when ? when : im_now(), step};
        rc = run_bound(conn, STMT_TOTP_ENABLE, bind_totp_enable, &args, op);
    }
    if (rc == IM_OK && sqlite3_changes(conn->db) == 0) {
        rc = IM_ENOTFOUND;
    }
    if (rc == IM_OK) {
        rc = run_for_user(conn, STMT_RECOVERY_DELETE, user_id, op);
    }
    if (rc == IM_OK) {
        rc = insert_recovery_codes(conn, user_id, code_hashes, code_count, op);
    }
    if (rc == IM_OK) {
        rc = run_simple(conn, STMT_COMMIT, op);
    }
    tx_abort(conn, op);
    writer_release(store, conn);
    return rc;
}

static int sqlite_totp_accept_step(im_store_t *base, int64_t user_id, int64_t step)
{
    const char *op = "totp_accept_step";
    sqlite_store_t *store = store_of(base);
    id_args_t args = {.id = user_id, .when = step};
    int changes = 0;
    int rc = write_stmt(store, STMT_TOTP_ACCEPT_STEP, bind_id_when, &args, &changes, op);
    if (rc == IM_OK && changes == 0) {
        im_store_totp_t row;
        rc = sqlite_totp_get(base, user_id, &row);
        rc = rc == IM_OK ? IM_ECONFLICT : rc;
    }
    return rc;
}

static int sqlite_totp_delete(im_store_t *base, int64_t user_id)
{
    const char *op = "totp_delete";
    sqlite_store_t *store = store_of(base);
    conn_t *conn = writer_acquire(store);
    int rc = run_simple(conn, STMT_BEGIN_IMMEDIATE, op);
    if (rc == IM_OK) {
        rc = run_for_user(conn, STMT_RECOVERY_DELETE, user_id, op);
    }
    if (rc == IM_OK) {
        rc = run_for_user(conn, STMT_TOTP_DELETE, user_id, op);
    }
    if (rc == IM_OK && sqlite3_changes(conn->db) == 0) {
        rc = IM_ENOTFOUND;
    }
    if (rc == IM_OK) {
        rc = run_simple(conn, STMT_COMMIT, op);
    }
    tx_abort(conn, op);
    writer_release(store, conn);
    return rc;
}

static int sqlite_totp_recovery_use(im_store_t *base, int64_t user_id, const char *code_hash,
                                    int64_t when)
{
    if (!is_token_hash(code_hash)) {
        return IM_EINVAL;
    }
    id_args_t args = {.id = user_id, .text = code_hash, .when = when ? when : im_now()};
    return write_one(store_of(base), STMT_RECOVERY_USE, bind_id_text_when, &args,
                     "totp_recovery_use");
}

/* ---- API tokens -------------------------------------------------------------------------- */

static void read_api_token(sqlite3_stmt *stmt, void *row)
{
    im_store_api_token_t *token = row;
    memset(token, 0, sizeof(*token));
    token->id = sqlite3_column_int64(stmt, 0);
    token->user_id = sqlite3_column_int64(stmt, 1);
    column_copy(stmt, 2, token->name, sizeof(token->name));
    column_copy(stmt, 3, token->token_hash, sizeof(token->token_hash));
    column_copy(stmt, 4, token->prefix, sizeof(token->prefix));
    token->created_at = sqlite3_column_int64(stmt, 5);
    token->expires_at = sqlite3_column_int64(stmt, 6);
    token->last_used_at = sqlite3_column_int64(stmt, 7);
    token->revoked_at = sqlite3_column_int64(stmt, 8);
}

static void bind_api_token_insert(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const im_store_api_token_t *token = ctx;
    bind_int64(stmt, 1, token->user_id, brc);
    bind_text(stmt, 2, token->name, brc);
    bind_text(stmt, 3, token->token_hash, brc);
    bind_text(stmt, 4, token->prefix, brc);
    bind_int64(stmt, 5, token->created_at, brc);
    bind_int64(stmt, 6, token->expires_at, brc);
}

static int sqlite_api_token_create(im_store_t *base, im_store_api_token_t *token)
{
    const char *op = "api_token_create";
    int rc = check_text(token->name, IM_STORE_API_TOKEN_NAME_MAX, "name", op);
    if (rc == IM_OK) {
        rc = check_text(token->prefix, IM_STORE_API_TOKEN_PREFIX_MAX, "prefix", op);
    }
    if (rc == IM_OK && !is_token_hash(token->token_hash)) {
        rc = IM_EINVAL;
    }
    if (rc) {
        return rc;
    }
    im_store_api_token_t row = *token;
    row.created_at = row.created_at ? row.created_at : im_now();
    int changes = 0;
    int64_t id = 0;
    rc = write_stmt_rowid(store_of(base), STMT_API_TOKEN_INSERT, bind_api_token_insert, &row,
                          &changes, &id, op);
    if (rc == IM_OK) {
        token->id = id;
        token->created_at = row.created_at;
    }
    return rc;
}

static int sqlite_api_token_get(im_store_t *base, const char *token_hash, im_store_api_token_t *out)
{
    if (!is_token_hash(token_hash)) {
        return IM_ENOTFOUND;
    }
    id_args_t args = {.text = token_hash};
    return read_one(store_of(base), STMT_API_TOKEN_GET, bind_text_only, &args, read_api_token, out,
                    "api_token_get");
}

static int sqlite_api_token_list(im_store_t *base, int64_t user_id, im_store_api_token_list_t *list)
{
    id_args_t args = {.id = user_id};
    void *rows = NULL;

    memset(list, 0, sizeof(*list));
    int rc = read_all(store_of(base), STMT_API_TOKEN_LIST, bind_id, &args, read_api_token,
                      sizeof(*list->tokens), &rows, &list->count, "api_token_list");
    list->tokens = rows;
    if (rc) {
        im_store_api_token_list_release(list);
    }
    return rc;
}

void im_store_api_token_list_release(im_store_api_token_list_t *list)
{
    free(list->tokens);
    memset(list, 0, sizeof(*list));
}

typedef struct {
    int64_t user_id;
    int64_t id;
    int64_t when;
} revoke_args_t;

static void bind_api_token_revoke(sqlite3_stmt *stmt, const void *ctx, int *brc)
{
    const revoke_args_t *args = ctx;
    bind_int64(stmt, 1, args->user_id, brc);
    bind_int64(stmt, 2, args->id, brc);
    bind_int64(stmt, 3, args->when, brc);
}

static int sqlite_api_token_revoke(im_store_t *base, int64_t user_id, int64_t id, int64_t when)
{
    revoke_args_t args = {user_id, id, when ? when : im_now()};
    return write_one(store_of(base), STMT_API_TOKEN_REVOKE, bind_api_token_revoke, &args,
                     "api_token_revoke");
}

static int sqlite_api_token_touch(im_store_t *base, int64_t id, int64_t when)
{
    id_args_t args = {.id = id, .when = when ? when : im_now()};
    return write_one(store_of(base), STMT_API_TOKEN_TOUCH, bind_id_when, &args, "api_token_touch");
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static const im_store_ops_t sqlite_ops = {
    .name = "sqlite",
    .close = sqlite_close,
    .migrate = sqlite_migrate,
    .schema_version = sqlite_schema_version,
    .ping = sqlite_ping,
    .maintenance = sqlite_maintenance,
    .backup = sqlite_backup,
    .user_count = sqlite_user_count,
    .user_create = sqlite_user_create,
    .user_get_by_id = sqlite_user_get_by_id,
    .user_get_by_name = sqlite_user_get_by_name,
    .user_list = sqlite_user_list,
    .user_update = sqlite_user_update,
    .user_delete = sqlite_user_delete,
    .user_touch_login = sqlite_user_touch_login,
    .session_create = sqlite_session_create,
    .session_get = sqlite_session_get,
    .session_revoke = sqlite_session_revoke,
    .session_revoke_user = sqlite_session_revoke_user,
    .refresh_insert = sqlite_refresh_insert,
    .refresh_get = sqlite_refresh_get,
    .refresh_spend = sqlite_refresh_spend,
    .refresh_purge_expired = sqlite_refresh_purge_expired,
    .audit_insert = sqlite_audit_insert,
    .audit_list = sqlite_audit_list,
    .group_create = sqlite_group_create,
    .group_get = sqlite_group_get,
    .group_list = sqlite_group_list,
    .group_delete = sqlite_group_delete,
    .group_member_add = sqlite_group_member_add,
    .group_member_remove = sqlite_group_member_remove,
    .group_member_list = sqlite_group_member_list,
    .setting_get = sqlite_setting_get,
    .setting_set = sqlite_setting_set,
    .audit_purge = sqlite_audit_purge,
    .totp_get = sqlite_totp_get,
    .totp_setup = sqlite_totp_setup,
    .totp_enable = sqlite_totp_enable,
    .totp_accept_step = sqlite_totp_accept_step,
    .totp_delete = sqlite_totp_delete,
    .totp_recovery_use = sqlite_totp_recovery_use,
    .api_token_create = sqlite_api_token_create,
    .api_token_get = sqlite_api_token_get,
    .api_token_list = sqlite_api_token_list,
    .api_token_revoke = sqlite_api_token_revoke,
    .api_token_touch = sqlite_api_token_touch,
    .group_update = sqlite_group_update,
    .totp_secret_replace = sqlite_totp_secret_replace,
    .totp_user_ids = sqlite_totp_user_ids,
    .history_write = im__sqlite_history_write,
    .history_rollup = im__sqlite_history_rollup,
    .history_query = im__sqlite_history_query,
    .history_series_find = im__sqlite_history_series_find,
    .history_prune = im__sqlite_history_prune,
    .history_size = im__sqlite_history_size,
};

/* ---- shared with the other backend files (sqlite-internal.h) ---------------------------- */

im__sqlite_conn_t *im__sqlite_reader_acquire(im_store_t *store)
{
    return conn_borrow(store_of(store));
}

void im__sqlite_reader_release(im_store_t *store, im__sqlite_conn_t *conn)
{
    conn_return(store_of(store), conn);
}

im__sqlite_conn_t *im__sqlite_writer_acquire(im_store_t *store)
{
    return writer_acquire(store_of(store));
}

void im__sqlite_writer_release(im_store_t *store, im__sqlite_conn_t *conn)
{
    writer_release(store_of(store), conn);
}

sqlite3 *im__sqlite_conn_db(im__sqlite_conn_t *conn)
{
    return conn->db;
}

int im__sqlite_extra_stmt(im__sqlite_conn_t *conn, int index, const char *sql, sqlite3_stmt **out)
{
    if (!conn->extra_stmts[index]) {
        int rc = sqlite3_prepare_v3(conn->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                    &conn->extra_stmts[index], NULL);
        if (rc != SQLITE_OK) {
            return sql_fail(conn, rc, "prepare");
        }
    }
    *out = conn->extra_stmts[index];
    return IM_OK;
}

int im__sqlite_begin(im__sqlite_conn_t *conn, bool immediate, const char *op)
{
    return run_simple(conn, immediate ? STMT_BEGIN_IMMEDIATE : STMT_BEGIN, op);
}

int im__sqlite_commit(im__sqlite_conn_t *conn, const char *op)
{
    return run_simple(conn, STMT_COMMIT, op);
}

void im__sqlite_tx_abort(im__sqlite_conn_t *conn, const char *op)
{
    tx_abort(conn, op);
}

void im__sqlite_stmt_done(sqlite3_stmt *stmt)
{
    stmt_done(stmt);
}

int im__sqlite_fail(im__sqlite_conn_t *conn, int rc, const char *op)
{
    return sql_fail(conn, rc, op);
}

/* Returns the file path of a sqlite:///PATH URL (possibly empty), or NULL for another URL. */
static const char *sqlite_url_path(const char *database_url)
{
    static const char sqlite_prefix[] = "sqlite:///";

    if (!database_url || !im_str_starts_with(database_url, sqlite_prefix)) {
        return NULL;
    }
    return database_url + strlen(sqlite_prefix);
}

int im_store_open_existing(const char *database_url, im_store_t **out, char *err, size_t errlen)
{
    const char *path = sqlite_url_path(database_url);

    *out = NULL;
    if (path) {
        if (*path && access(path, F_OK) != 0 && errno == ENOENT) {
            set_error(err, errlen,
                      "no database at %s (DATABASE_URL %s): run this command where the server "
                      "runs, or set DATABASE_URL to the server's database file",
                      path, database_url);
            return IM_ENOTFOUND;
        }
    }
    return im_store_open(database_url, out, err, errlen);
}

/* NOTE: im_store_open and the *_release helpers do not depend on SQLite. They belong in a
 * store.c once the PostgreSQL backend exists. */
int im_store_open(const char *database_url, im_store_t **out, char *err, size_t errlen)
{
    const char *path = sqlite_url_path(database_url);

    *out = NULL;
    if (!database_url || !*database_url) {
        set_error(err, errlen, "DATABASE_URL is empty; expected sqlite:///PATH");
        return IM_EINVAL;
    }
    if (path) {
        if (!*path) {
            set_error(err, errlen, "DATABASE_URL %s has no file path; expected sqlite:///PATH",
                      database_url);
            return IM_EINVAL;
        }
        return sqlite_open(path, out, err, errlen);
    }
    if (im_str_starts_with(database_url, "sqlite:")) {
        set_error(err, errlen,
                  "invalid DATABASE_URL %s; expected sqlite:///relative/path.db or "
                  "sqlite:////absolute/path.db",
                  database_url);
        return IM_EINVAL;
    }
    if (im_str_starts_with(database_url, "postgresql://") ||
        im_str_starts_with(database_url, "postgres://")) {
        set_error(err, errlen,
                  "DATABASE_URL is postgresql://, but the PostgreSQL backend is not built yet; "
                  "use sqlite:///PATH");
        return IM_EINVAL;
    }
    /* Only the scheme is quoted: the rest of a URL may contain a password. */
    size_t scheme_len = strcspn(database_url, ":");
    set_error(err, errlen,
              "unsupported DATABASE_URL scheme \"%.*s\"; expected sqlite:/// or postgresql://",
              (int)(scheme_len < 32 ? scheme_len : 32), database_url);
    return IM_EINVAL;
}
