/* The statistics history of the SQLite backend: 10-second points written in batches,
 * rollups into the 1-minute and 1-hour tiers, range queries, and retention. The schema is
 * migrations/0003_history.sql. */

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "store/sqlite-internal.h"
#include "store/store.h"

#define LOG_MODULE "store"

/* Cached statements of this file, by purpose (indexes into the connection's extra cache). */
typedef enum {
    HSTMT_SERIES_UPSERT,
    HSTMT_POINT_INSERT,
    HSTMT_WATERMARK_GET,
    HSTMT_WATERMARK_SET,
    HSTMT_OLDEST_10S,
    HSTMT_OLDEST_1M,
    HSTMT_ROLLUP_1M,
    HSTMT_ROLLUP_1H,
    HSTMT_SERIES_BY_ID,
    HSTMT_SERIES_BY_NAME,
    HSTMT_QUERY_10S,
    HSTMT_QUERY_1M,
    HSTMT_QUERY_1H,
    HSTMT_SERIES_FIND,
    HSTMT_PRUNE_10S,
    HSTMT_PRUNE_1M,
    HSTMT_PRUNE_1H,
    HSTMT_PRUNE_SERIES,
    HSTMT_SIZE_10S,
    HSTMT_SIZE_1M,
    HSTMT_SIZE_1H,
    HSTMT_ROWS_10S,
    HSTMT_ROWS_1M,
    HSTMT_ROWS_1H,
    HSTMT_COUNT
} hstmt_id_t;

_Static_assert(HSTMT_COUNT <= IM__SQLITE_EXTRA_STMT_MAX, "too many cached history statements");

/* The point columns after series_id, in the order of im_store_history_point_t. */
#define POINT_COLUMNS                                                                              \
    "t, samples, cpu_min, cpu_max, cpu_avg, memory_min, memory_max, memory_avg, "                  \
    "network_rx_rate_min, network_rx_rate_max, network_rx_rate_avg, "                              \
    "network_tx_rate_min, network_tx_rate_max, network_tx_rate_avg, "                              \
    "block_read_rate_min, block_read_rate_max, block_read_rate_avg, "                              \
    "block_write_rate_min, block_write_rate_max, block_write_rate_avg, "                           \
    "pids_min, pids_max, pids_avg, memory_limit, network_rx, network_tx, block_read, block_write"

/* One gauge of a rollup: min of mins, max of maxes, mean weighted by samples, rounded to
 * `digits` decimals. */
#define GAUGE_ROLLUP(name, digits)                                                                 \
    "min(p." name "_min) AS " name "_min, max(p." name "_max) AS " name "_max, "                   \
    "round(sum(p." name "_avg * p.samples) / sum(p.samples), " digits ") AS " name "_avg, "

/* Rolls the points of tier src in [?1, ?2) up into buckets of `width` seconds in tier dst.
 * The counters come from the latest src point of each bucket, joined back by its time.
 * CROSS JOIN makes SQLite loop over history_series outside, so every read is a range scan
 * of one series' primary key. Without it the planner may scan the whole tier. */
#define ROLLUP_SQL(src, dst, width)                                                                \
    "INSERT OR REPLACE INTO history_" dst " (series_id, " POINT_COLUMNS ") "                       \
    "SELECT g.series_id, g.bucket, g.samples, g.cpu_min, g.cpu_max, g.cpu_avg, "                   \
    "g.memory_min, g.memory_max, g.memory_avg, "                                                   \
    "g.network_rx_rate_min, g.network_rx_rate_max, g.network_rx_rate_avg, "                        \
    "g.network_tx_rate_min, g.network_tx_rate_max, g.network_tx_rate_avg, "                        \
    "g.block_read_rate_min, g.block_read_rate_max, g.block_read_rate_avg, "                        \
    "g.block_write_rate_min, g.block_write_rate_max, g.block_write_rate_avg, "                     \
    "g.pids_min, g.pids_max, g.pids_avg, "                                                         \
    "l.memory_limit, l.network_rx, l.network_tx, l.block_read, l.block_write "                     \
    "FROM (SELECT p.series_id, p.t / " width " * " width " AS bucket, max(p.t) AS last_t, "        \
    "sum(p.samples) AS samples, " GAUGE_ROLLUP("cpu", "2") GAUGE_ROLLUP("memory", "0")             \
        GAUGE_ROLLUP("network_rx_rate", "0") GAUGE_ROLLUP("network_tx_rate", "0")                  \
            GAUGE_ROLLUP("block_read_rate", "0") GAUGE_ROLLUP("block_write_rate", "0")             \
                GAUGE_ROLLUP("pids", "2") "0 AS unused "                                           \
                                          "FROM history_series s CROSS JOIN history_" src " p "    \
                                          "ON p.series_id = s.id AND p.t >= ?1 AND p.t < ?2 "      \
                                          "GROUP BY p.series_id, bucket) g "                       \
                                          "JOIN history_" src                                      \
                                          " l ON l.series_id = g.series_id AND l.t = g.last_t"

/* The oldest point of a tier, found per series through the primary key. */
#define OLDEST_SQL(tier)                                                                           \
    "SELECT min(t) FROM (SELECT (SELECT min(t) FROM history_" tier                                 \
    " WHERE series_id = s.id) AS t FROM history_series s)"

#define QUERY_SQL(tier)                                                                            \
    "SELECT " POINT_COLUMNS " FROM history_" tier                                                  \
    " WHERE series_id = ?1 AND t >= ?2 AND t < ?3 ORDER BY t"

/* The IN list lets SQLite delete by a primary key range per series rather than scan. */
#define PRUNE_SQL(tier)                                                                            \
    "DELETE FROM history_" tier " WHERE series_id IN (SELECT id FROM history_series) AND t < ?1"

/* The bytes of a tier's table, from the dbstat virtual table (absent when SQLite is built
 * without SQLITE_ENABLE_DBSTAT_VTAB). */
#define SIZE_SQL(tier) "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = 'history_" tier "'"

#define ROWS_SQL(tier) "SELECT count(*) FROM history_" tier

static const char *const hstmt_sql[HSTMT_COUNT] = {
    [HSTMT_SERIES_UPSERT] =
        "INSERT INTO history_series (container_id, name, first_seen, last_seen) "
        "VALUES (?1, ?2, ?3, ?3) ON CONFLICT (container_id) DO UPDATE SET name = excluded.name, "
        "last_seen = max(last_seen, excluded.last_seen) RETURNING id",
    [HSTMT_POINT_INSERT] = "INSERT OR REPLACE INTO history_10s (series_id, " POINT_COLUMNS
                           ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
                           "?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, "
                           "?27, ?28, ?29)",
    [HSTMT_WATERMARK_GET] = "SELECT until FROM history_rollup WHERE tier = ?1",
    [HSTMT_WATERMARK_SET] = "INSERT INTO history_rollup (tier, until) VALUES (?1, ?2) "
                            "ON CONFLICT (tier) DO UPDATE SET until = excluded.until",
    [HSTMT_OLDEST_10S] = OLDEST_SQL("10s"),
    [HSTMT_OLDEST_1M] = OLDEST_SQL("1m"),
    [HSTMT_ROLLUP_1M] = ROLLUP_SQL("10s", "1m", "60"),
    [HSTMT_ROLLUP_1H] = ROLLUP_SQL("1m", "1h", "3600"),
    [HSTMT_SERIES_BY_ID] = "SELECT id FROM history_series WHERE container_id = ?1",
    [HSTMT_SERIES_BY_NAME] = "SELECT id FROM history_series WHERE name = ?1 AND container_id <> ''",
    [HSTMT_QUERY_10S] = QUERY_SQL("10s"),
    [HSTMT_QUERY_1M] = QUERY_SQL("1m"),
    [HSTMT_QUERY_1H] = QUERY_SQL("1h"),
    /* kind 0: exact id, 1: name, 2: id prefix; the caller decides from the first rows. */
    [HSTMT_SERIES_FIND] =
        "SELECT container_id, name, first_seen, last_seen, "
        "CASE WHEN container_id = ?1 THEN 0 WHEN name = ?1 THEN 1 ELSE 2 END AS kind "
        "FROM history_series WHERE container_id <> '' AND (container_id = ?1 OR name = ?1 OR "
        "(length(?1) >= 4 AND substr(container_id, 1, length(?1)) = ?1)) "
        "ORDER BY kind, last_seen DESC LIMIT 2",
    [HSTMT_PRUNE_10S] = PRUNE_SQL("10s"),
    [HSTMT_PRUNE_1M] = PRUNE_SQL("1m"),
    [HSTMT_PRUNE_1H] = PRUNE_SQL("1h"),
    [HSTMT_PRUNE_SERIES] =
        "DELETE FROM history_series WHERE container_id <> '' "
        "AND NOT EXISTS (SELECT 1 FROM history_10s WHERE series_id = history_series.id) "
        "AND NOT EXISTS (SELECT 1 FROM history_1m WHERE series_id = history_series.id) "
        "AND NOT EXISTS (SELECT 1 FROM history_1h WHERE series_id = history_series.id)",
    [HSTMT_SIZE_10S] = SIZE_SQL("10s"),
    [HSTMT_SIZE_1M] = SIZE_SQL("1m"),
    [HSTMT_SIZE_1H] = SIZE_SQL("1h"),
    [HSTMT_ROWS_10S] = ROWS_SQL("10s"),
    [HSTMT_ROWS_1M] = ROWS_SQL("1m"),
    [HSTMT_ROWS_1H] = ROWS_SQL("1h"),
};

/* Per-tier statements, indexed by im_store_tier_t. */
static const hstmt_id_t query_stmt[IM_STORE_TIER_COUNT] = {HSTMT_QUERY_10S, HSTMT_QUERY_1M,
                                                           HSTMT_QUERY_1H};
static const hstmt_id_t prune_stmt[IM_STORE_TIER_COUNT] = {HSTMT_PRUNE_10S, HSTMT_PRUNE_1M,
                                                           HSTMT_PRUNE_1H};
static const hstmt_id_t size_stmt[IM_STORE_TIER_COUNT] = {HSTMT_SIZE_10S, HSTMT_SIZE_1M,
                                                          HSTMT_SIZE_1H};
static const hstmt_id_t rows_stmt[IM_STORE_TIER_COUNT] = {HSTMT_ROWS_10S, HSTMT_ROWS_1M,
                                                          HSTMT_ROWS_1H};

/* ---- statement helpers ----------------------------------------------------------------- */

static int hstmt(im__sqlite_conn_t *conn, hstmt_id_t id, sqlite3_stmt **out)
{
    return im__sqlite_extra_stmt(conn, (int)id, hstmt_sql[id], out);
}

/* Runs a statement that returns one integer (NULL reads as 0 and sets *is_null). */
static int query_int64(im__sqlite_conn_t *conn, hstmt_id_t id, const char *text, int64_t value,
                       int64_t *out, bool *is_null, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc = hstmt(conn, id, &stmt);
    int src = SQLITE_OK;

    if (rc) {
        return rc;
    }
    if (text) {
        src = sqlite3_bind_text(stmt, 1, text, -1, SQLITE_STATIC);
    } else if (sqlite3_bind_parameter_count(stmt) > 0) {
        src = sqlite3_bind_int64(stmt, 1, value);
    }
    if (src == SQLITE_OK) {
        src = sqlite3_step(stmt);
    }
    if (src == SQLITE_ROW) {
        *out = sqlite3_column_int64(stmt, 0);
        if (is_null) {
            *is_null = sqlite3_column_type(stmt, 0) == SQLITE_NULL;
        }
        rc = IM_OK;
    } else if (src == SQLITE_DONE) {
        rc = IM_ENOTFOUND;
    } else {
        rc = im__sqlite_fail(conn, src, op);
    }
    im__sqlite_stmt_done(stmt);
    return rc;
}

/* ---- write ------------------------------------------------------------------------------ */

static int check_record(const im_store_history_record_t *record)
{
    if (record->point.samples < 1 ||
        strnlen(record->container_id, sizeof(record->container_id)) >=
            sizeof(record->container_id) ||
        strnlen(record->name, sizeof(record->name)) >= sizeof(record->name)) {
        im_log_debug(LOG_MODULE, "history_write: invalid record for container %.12s",
                     record->container_id);
        return IM_EINVAL;
    }
    return IM_OK;
}

static int upsert_series(im__sqlite_conn_t *conn, const im_store_history_record_t *record,
                         int64_t *series_id)
{
    const char *op = "history_write";
    sqlite3_stmt *stmt = NULL;
    int rc = hstmt(conn, HSTMT_SERIES_UPSERT, &stmt);
    if (rc) {
        return rc;
    }
    int src = sqlite3_bind_text(stmt, 1, record->container_id, -1, SQLITE_STATIC);
    if (src == SQLITE_OK) {
        src = sqlite3_bind_text(stmt, 2, record->name, -1, SQLITE_STATIC);
    }
    if (src == SQLITE_OK) {
        src = sqlite3_bind_int64(stmt, 3, record->point.time);
    }
    if (src == SQLITE_OK) {
        src = sqlite3_step(stmt);
    }
    if (src == SQLITE_ROW) {
        *series_id = sqlite3_column_int64(stmt, 0);
        src = sqlite3_step(stmt);
    }
    rc = src == SQLITE_DONE ? IM_OK : im__sqlite_fail(conn, src, op);
    im__sqlite_stmt_done(stmt);
    return rc;
}

static int bind_gauge(sqlite3_stmt *stmt, int first, const im_store_gauge_t *gauge)
{
    int rc = sqlite3_bind_double(stmt, first, gauge->min);
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_double(stmt, first + 1, gauge->max);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_double(stmt, first + 2, gauge->avg);
    }
    return rc;
}

static int insert_point(im__sqlite_conn_t *conn, int64_t series_id,
                        const im_store_history_point_t *p)
{
    sqlite3_stmt *stmt = NULL;
    int rc = hstmt(conn, HSTMT_POINT_INSERT, &stmt);
    if (rc) {
        return rc;
    }
    const im_store_gauge_t *gauges[] = {&p->cpu,
                                        &p->memory,
                                        &p->network_rx_rate,
                                        &p->network_tx_rate,
                                        &p->block_read_rate,
                                        &p->block_write_rate,
                                        &p->pids};
    const uint64_t counters[] = {p->memory_limit, p->network_rx, p->network_tx, p->block_read,
                                 p->block_write};
    int src = sqlite3_bind_int64(stmt, 1, series_id);
    int index = 2;
    if (src == SQLITE_OK) {
        src = sqlite3_bind_int64(stmt, index++, p->time);
    }
    if (src == SQLITE_OK) {
        src = sqlite3_bind_int64(stmt, index++, p->samples);
    }
    for (size_t i = 0; i < IM_ARRAY_LEN(gauges) && src == SQLITE_OK; i++, index += 3) {
        src = bind_gauge(stmt, index, gauges[i]);
    }
    /* Counters beyond INT64_MAX do not occur in practice; clamp rather than wrap. */
    for (size_t i = 0; i < IM_ARRAY_LEN(counters) && src == SQLITE_OK; i++) {
        int64_t value = counters[i] > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)counters[i];
        src = sqlite3_bind_int64(stmt, index++, value);
    }
    if (src == SQLITE_OK) {
        src = sqlite3_step(stmt);
    }
    rc = src == SQLITE_DONE ? IM_OK : im__sqlite_fail(conn, src, "history_write");
    im__sqlite_stmt_done(stmt);
    return rc;
}

int im__sqlite_history_write(im_store_t *store, const im_store_history_record_t *records,
                             size_t count)
{
    const char *op = "history_write";

    for (size_t i = 0; i < count; i++) {
        if (check_record(&records[i])) {
            return IM_EINVAL;
        }
    }
    im__sqlite_conn_t *conn = im__sqlite_writer_acquire(store);
    int rc = im__sqlite_begin(conn, true, op);
    for (size_t i = 0; i < count && rc == IM_OK; i++) {
        int64_t series_id = 0;
        rc = upsert_series(conn, &records[i], &series_id);
        if (rc == IM_OK) {
            rc = insert_point(conn, series_id, &records[i].point);
        }
    }
    if (rc == IM_OK) {
        rc = im__sqlite_commit(conn, op);
    }
    if (rc) {
        im__sqlite_tx_abort(conn, op);
    }
    im__sqlite_writer_release(store, conn);
    return rc;
}

/* ---- rollup ----------------------------------------------------------------------------- */

static int64_t floor_to(int64_t t, int64_t width)
{
    return t / width * width;
}

/* Runs a statement that returns no rows with ?1 bound to text (or to first when text is
 * NULL) and ?2 to second. */
static int exec_pair(im__sqlite_conn_t *conn, hstmt_id_t id, const char *text, int64_t first,
                     int64_t second, const char *op)
{
    sqlite3_stmt *stmt = NULL;
    int rc = hstmt(conn, id, &stmt);
    if (rc) {
        return rc;
    }
    int src = text ? sqlite3_bind_text(stmt, 1, text, -1, SQLITE_STATIC)
                   : sqlite3_bind_int64(stmt, 1, first);
    if (src == SQLITE_OK) {
        src = sqlite3_bind_int64(stmt, 2, second);
    }
    if (src == SQLITE_OK) {
        src = sqlite3_step(stmt);
    }
    rc = src == SQLITE_DONE ? IM_OK : im__sqlite_fail(conn, src, op);
    im__sqlite_stmt_done(stmt);
    return rc;
}

/* Finds where a tier's rollup starts: its watermark, else the oldest finer point floored
 * to the bucket width. *found is false when the finer tier has no point at all. */
static int rollup_start(im__sqlite_conn_t *conn, const char *tier, hstmt_id_t oldest_stmt,
                        int64_t width, int64_t *start, bool *found)
{
    const char *op = "history_rollup";
    bool is_null = false;

    *found = true;
    int rc = query_int64(conn, HSTMT_WATERMARK_GET, tier, 0, start, NULL, op);
    if (rc != IM_ENOTFOUND) {
        return rc;
    }
    rc = query_int64(conn, oldest_stmt, NULL, 0, start, &is_null, op);
    *found = rc == IM_OK && !is_null;
    *start = floor_to(*start, width);
    return rc;
}

/* Rolls one tier up in one transaction: buckets of `width` seconds that start in
 * [watermark, floor(until)), with the watermark moved to the end of that range. */
static int rollup_tier(im__sqlite_conn_t *conn, const char *tier, hstmt_id_t oldest_stmt,
                       hstmt_id_t rollup_stmt, int64_t width, int64_t until)
{
    const char *op = "history_rollup";
    int64_t start = 0;
    int64_t end = floor_to(until, width);
    bool found = false;

    int rc = im__sqlite_begin(conn, true, op);
    if (rc == IM_OK) {
        rc = rollup_start(conn, tier, oldest_stmt, width, &start, &found);
    }
    if (rc == IM_OK && found && end > start) {
        rc = exec_pair(conn, rollup_stmt, NULL, start, end, op);
        if (rc == IM_OK) {
            rc = exec_pair(conn, HSTMT_WATERMARK_SET, tier, 0, end, op);
        }
    }
    if (rc == IM_OK) {
        rc = im__sqlite_commit(conn, op);
    }
    if (rc) {
        im__sqlite_tx_abort(conn, op);
    }
    return rc;
}

int im__sqlite_history_rollup(im_store_t *store, int64_t until)
{
    im__sqlite_conn_t *conn = im__sqlite_writer_acquire(store);
    int rc = rollup_tier(conn, "1m", HSTMT_OLDEST_10S, HSTMT_ROLLUP_1M, 60, until);
    im__sqlite_writer_release(store, conn);
    if (rc) {
        return rc;
    }
    /* The 1-hour tier reads the 1-minute tier, which is now complete up to floor(until, 60),
     * so every hour that ends by floor(until, 3600) is complete too. */
    conn = im__sqlite_writer_acquire(store);
    rc = rollup_tier(conn, "1h", HSTMT_OLDEST_1M, HSTMT_ROLLUP_1H, 3600, until);
    im__sqlite_writer_release(store, conn);
    return rc;
}

/* ---- query ------------------------------------------------------------------------------ */

void im_store_history_points_release(im_store_history_points_t *points)
{
    free(points->points);
    points->points = NULL;
    points->count = 0;
}

static void read_gauge(sqlite3_stmt *stmt, int first, im_store_gauge_t *gauge)
{
    gauge->min = sqlite3_column_double(stmt, first);
    gauge->max = sqlite3_column_double(stmt, first + 1);
    gauge->avg = sqlite3_column_double(stmt, first + 2);
}

static void read_point(sqlite3_stmt *stmt, im_store_history_point_t *p)
{
    p->time = sqlite3_column_int64(stmt, 0);
    p->samples = sqlite3_column_int64(stmt, 1);
    read_gauge(stmt, 2, &p->cpu);
    read_gauge(stmt, 5, &p->memory);
    read_gauge(stmt, 8, &p->network_rx_rate);
    read_gauge(stmt, 11, &p->network_tx_rate);
    read_gauge(stmt, 14, &p->block_read_rate);
    read_gauge(stmt, 17, &p->block_write_rate);
    read_gauge(stmt, 20, &p->pids);
    p->memory_limit = (uint64_t)sqlite3_column_int64(stmt, 23);
    p->network_rx = (uint64_t)sqlite3_column_int64(stmt, 24);
    p->network_tx = (uint64_t)sqlite3_column_int64(stmt, 25);
    p->block_read = (uint64_t)sqlite3_column_int64(stmt, 26);
    p->block_write = (uint64_t)sqlite3_column_int64(stmt, 27);
}

/* Appends the points of one series to out, growing its array as needed. */
static int query_series(im__sqlite_conn_t *conn, int64_t series_id,
                        const im_store_history_query_t *query, im_store_history_points_t *out,
                        size_t *capacity)
{
    const char *op = "history_query";
    sqlite3_stmt *stmt = NULL;
    int rc = hstmt(conn, query_stmt[query->tier], &stmt);
    if (rc) {
        return rc;
    }
    int src = sqlite3_bind_int64(stmt, 1, series_id);
    if (src == SQLITE_OK) {
        src = sqlite3_bind_int64(stmt, 2, query->since);
    }
    if (src == SQLITE_OK) {
        src = sqlite3_bind_int64(stmt, 3, query->until);
    }
    while (src == SQLITE_OK || src == SQLITE_ROW) {
        src = sqlite3_step(stmt);
        if (src != SQLITE_ROW) {
            break;
        }
        if (out->count == *capacity) {
            *capacity = *capacity ? *capacity * 2 : 256;
            out->points = im_realloc(out->points, *capacity * sizeof(*out->points));
        }
        read_point(stmt, &out->points[out->count++]);
    }
    rc = src == SQLITE_DONE ? IM_OK : im__sqlite_fail(conn, src, op);
    im__sqlite_stmt_done(stmt);
    return rc;
}

static int compare_point_time(const void *a, const void *b)
{
    int64_t x = ((const im_store_history_point_t *)a)->time;
    int64_t y = ((const im_store_history_point_t *)b)->time;
    return (x > y) - (x < y);
}

/* Series ids that a query names: one for an id, any number for a name. */
#define QUERY_SERIES_MAX 64

static int find_series_ids(im__sqlite_conn_t *conn, const im_store_history_query_t *query,
                           int64_t *ids, size_t *count)
{
    sqlite3_stmt *stmt = NULL;
    bool by_name = query->container_id == NULL;
    int rc = hstmt(conn, by_name ? HSTMT_SERIES_BY_NAME : HSTMT_SERIES_BY_ID, &stmt);
    if (rc) {
        return rc;
    }
    *count = 0;
    int src =
        sqlite3_bind_text(stmt, 1, by_name ? query->name : query->container_id, -1, SQLITE_STATIC);
    while (src == SQLITE_OK || src == SQLITE_ROW) {
        src = sqlite3_step(stmt);
        if (src == SQLITE_ROW && *count < QUERY_SERIES_MAX) {
            ids[(*count)++] = sqlite3_column_int64(stmt, 0);
        }
    }
    rc = src == SQLITE_DONE ? IM_OK : im__sqlite_fail(conn, src, "history_query");
    im__sqlite_stmt_done(stmt);
    return rc;
}

int im__sqlite_history_query(im_store_t *store, const im_store_history_query_t *query,
                             im_store_history_points_t *out)
{
    int64_t ids[QUERY_SERIES_MAX];
    size_t id_count = 0;
    size_t capacity = 0;

    out->points = NULL;
    out->count = 0;
    if ((query->container_id == NULL) == (query->name == NULL) || query->tier < 0 ||
        query->tier >= IM_STORE_TIER_COUNT) {
        return IM_EINVAL;
    }
    im__sqlite_conn_t *conn = im__sqlite_reader_acquire(store);
    /* One read transaction, so that several series are read from one snapshot. */
    int rc = im__sqlite_begin(conn, false, "history_query");
    if (rc == IM_OK) {
        rc = find_series_ids(conn, query, ids, &id_count);
    }
    for (size_t i = 0; i < id_count && rc == IM_OK; i++) {
        rc = query_series(conn, ids[i], query, out, &capacity);
    }
    if (rc == IM_OK) {
        rc = im__sqlite_commit(conn, "history_query");
    }
    if (rc) {
        im__sqlite_tx_abort(conn, "history_query");
        im_store_history_points_release(out);
    }
    im__sqlite_reader_release(store, conn);
    if (rc == IM_OK && id_count > 1) {
        qsort(out->points, out->count, sizeof(*out->points), compare_point_time);
    }
    return rc;
}

int im__sqlite_history_series_find(im_store_t *store, const char *ref,
                                   im_store_history_series_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int kinds[2] = {0, 0};
    int rows = 0;

    if (!ref || !ref[0]) {
        return IM_ENOTFOUND;
    }
    im__sqlite_conn_t *conn = im__sqlite_reader_acquire(store);
    int rc = hstmt(conn, HSTMT_SERIES_FIND, &stmt);
    if (rc == IM_OK) {
        int src = sqlite3_bind_text(stmt, 1, ref, -1, SQLITE_STATIC);
        while (src == SQLITE_OK || src == SQLITE_ROW) {
            src = sqlite3_step(stmt);
            if (src != SQLITE_ROW) {
                break;
            }
            if (rows == 0) {
                const unsigned char *id = sqlite3_column_text(stmt, 0);
                const unsigned char *name = sqlite3_column_text(stmt, 1);
                im_strlcpy(out->container_id, id ? (const char *)id : "",
                           sizeof(out->container_id));
                im_strlcpy(out->name, name ? (const char *)name : "", sizeof(out->name));
                out->first_seen = sqlite3_column_int64(stmt, 2);
                out->last_seen = sqlite3_column_int64(stmt, 3);
            }
            kinds[rows++] = sqlite3_column_int(stmt, 4);
        }
        rc = src == SQLITE_DONE ? IM_OK : im__sqlite_fail(conn, src, "history_series_find");
    }
    im__sqlite_stmt_done(stmt);
    im__sqlite_reader_release(store, conn);
    if (rc) {
        return rc;
    }
    /* An id prefix must be unique; an exact id or a name wins over prefix matches. */
    if (rows == 0 || (kinds[0] == 2 && rows > 1)) {
        return IM_ENOTFOUND;
    }
    return IM_OK;
}

/* ---- retention and size ----------------------------------------------------------------- */

static int prune_one(im__sqlite_conn_t *conn, hstmt_id_t id, int64_t before, int64_t *deleted)
{
    const char *op = "history_prune";
    sqlite3_stmt *stmt = NULL;
    int rc = im__sqlite_begin(conn, true, op);
    if (rc == IM_OK) {
        rc = hstmt(conn, id, &stmt);
    }
    if (rc == IM_OK) {
        int src = SQLITE_OK;
        if (sqlite3_bind_parameter_count(stmt) > 0) {
            src = sqlite3_bind_int64(stmt, 1, before);
        }
        if (src == SQLITE_OK) {
            src = sqlite3_step(stmt);
        }
        rc = src == SQLITE_DONE ? IM_OK : im__sqlite_fail(conn, src, op);
        if (rc == IM_OK) {
            *deleted = sqlite3_changes(im__sqlite_conn_db(conn));
        }
    }
    im__sqlite_stmt_done(stmt);
    if (rc == IM_OK) {
        rc = im__sqlite_commit(conn, op);
    }
    if (rc) {
        im__sqlite_tx_abort(conn, op);
    }
    return rc;
}

int im__sqlite_history_prune(im_store_t *store, const im_store_history_cutoffs_t *cutoffs,
                             im_store_history_pruned_t *out)
{
    im_store_history_pruned_t pruned = {{0, 0, 0}, 0};
    int rc = IM_OK;

    /* Each tier takes the write lock on its own, so that other writers get in between. */
    for (int tier = 0; tier < IM_STORE_TIER_COUNT && rc == IM_OK; tier++) {
        if (cutoffs->before[tier] <= 0) {
            continue;
        }
        im__sqlite_conn_t *conn = im__sqlite_writer_acquire(store);
        rc = prune_one(conn, prune_stmt[tier], cutoffs->before[tier], &pruned.points[tier]);
        im__sqlite_writer_release(store, conn);
    }
    if (rc == IM_OK) {
        im__sqlite_conn_t *conn = im__sqlite_writer_acquire(store);
        rc = prune_one(conn, HSTMT_PRUNE_SERIES, 0, &pruned.series);
        im__sqlite_writer_release(store, conn);
    }
    if (out) {
        *out = pruned;
    }
    return rc;
}

int im__sqlite_history_size(im_store_t *store, im_store_tier_t tier, int64_t *bytes, int64_t *rows)
{
    if (tier < 0 || tier >= IM_STORE_TIER_COUNT) {
        return IM_EINVAL;
    }
    im__sqlite_conn_t *conn = im__sqlite_reader_acquire(store);
    int rc = query_int64(conn, rows_stmt[tier], NULL, 0, rows, NULL, "history_size");
    if (rc == IM_OK) {
        sqlite3_stmt *stmt = NULL;
        /* Preparing fails with "no such table" when SQLite lacks the dbstat table. */
        if (sqlite3_prepare_v2(im__sqlite_conn_db(conn), hstmt_sql[size_stmt[tier]], -1, &stmt,
                               NULL) != SQLITE_OK) {
            rc = IM_EUNAVAILABLE;
        } else {
            sqlite3_finalize(stmt);
            rc = query_int64(conn, size_stmt[tier], NULL, 0, bytes, NULL, "history_size");
        }
    }
    im__sqlite_reader_release(store, conn);
    return rc;
}
