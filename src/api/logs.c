/* Container logs: GET /containers/{id}/logs (JSON, Server-Sent Events follow, or a text
 * download) and GET /logs for several containers merged in time order. */
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "app.h"
#include "core/log.h"
#include "core/util.h"
#include "engine/compose.h"
#include "engine/containers.h"
#include "engine/demux.h"
#include "engine/engine.h"
#include "engine/stream.h"
#include "http/stream.h"
#include "store/store.h"

#define LOG_MODULE   "logs"
#define ERROR_SIZE   1024
#define DEFAULT_TAIL "100"
#define TAIL_MAX     10000000
#define SEARCH_MAX   256
/* Total regexec time one request may spend; past it, matching stops and the reply reports it. */
#define SEARCH_BUDGET_NS ((int64_t)2 * 1000 * 1000 * 1000)
/* A JSON reply keeps at most this much text, dropping the oldest lines beyond it. */
#define JSON_MAX_BYTES ((size_t)32 * 1024 * 1024)
#define MERGE_MAX      20
#define KEEPALIVE_MS   20000
/* Follow streams drop their oldest events past this; downloads pause the engine instead. */
#define FOLLOW_QUEUE_MAX   ((size_t)4 * 1024 * 1024)
#define DOWNLOAD_QUEUE_MAX ((size_t)4 * 1024 * 1024)
#define FLUSH_BYTES        (64 * 1024)
#define TIMESTAMP_SIZE     40

/* ---- the selection ----------------------------------------------------------------------- */

typedef struct {
    bool want_stdout;
    bool want_stderr;
    bool timestamps;
    bool follow;
    bool download;
    char tail[16];
    int64_t since_ns; /* 0: none */
    int64_t until_ns; /* 0: none */
    int64_t after_ns; /* Last-Event-ID: skip lines before it; 0: none */
    int64_t after_count; /* Last-Event-ID: lines stamped exactly after_ns to skip */
    const char *search;
    bool use_regex;
    regex_t regex;
    bool merged; /* GET /logs: tag every line with its container, even for one container */
} log_query_t;

/* One line as it came from the engine, after the timestamp was split off. */
typedef struct {
    im_stream_kind_t stream;
    int64_t ts_ns;
    char timestamp[TIMESTAMP_SIZE];
    const char *text;
    size_t len;
} log_line_t;

typedef struct {
    char id[IM_CONTAINER_ID_SIZE];
    char name[IM_CONTAINER_NAME_SIZE];
    bool tty;
} container_ref_t;

/* Parses Unix seconds ("1700000000" or "1700000000.5") or RFC 3339 into nanoseconds. */
static bool parse_time(const char *text, int64_t *out)
{
    const char *dot = strchr(text, '.');
    char whole[24];
    int64_t seconds = 0;
    int64_t nanos = 0;

    if (im_time_parse_rfc3339(text, out)) {
        return true;
    }
    size_t whole_len = dot ? (size_t)(dot - text) : strlen(text);
    if (whole_len == 0 || whole_len >= sizeof(whole)) {
        return false;
    }
    memcpy(whole, text, whole_len);
    whole[whole_len] = '\0';
    if (!im_parse_int64(whole, 0, 9999999999LL, &seconds)) {
        return false;
    }
    if (dot) {
        const char *frac = dot + 1;
        size_t digits = strlen(frac);
        if (digits == 0 || digits > 9) {
            return false;
        }
        for (size_t i = 0; i < 9; i++) {
            char c = i < digits ? frac[i] : '0';
            if (c < '0' || c > '9') {
                return false;
            }
            nanos = nanos * 10 + (c - '0');
        }
    }
    *out = seconds * 1000000000LL + nanos;
    return true;
}

static bool read_time_param(im_request_t *req, const char *name, int64_t *out)
{
    const char *text = im_req_query(req, name);

    *out = 0;
    if (!text || !text[0]) {
        return true;
    }
    if (!parse_time(text, out)) {
        im_resp_invalid(req, "query", name,
                        "must be an RFC 3339 time (2026-01-02T03:04:05Z) or Unix seconds, "
                        "got \"%.64s\"",
                        text);
        return false;
    }
    return true;
}

/* Returns true when the pattern has a back-reference (\1 to \9), which glibc's matcher
 * supports in extended syntax by backtracking with exponential worst cases. */
static bool has_back_reference(const char *pattern)
{
    for (const char *p = pattern; *p; p++) {
        if (*p == '\\') {
            if (p[1] >= '1' && p[1] <= '9') {
                return true;
            }
            if (p[1]) {
                p++;
            }
        }
    }
    return false;
}

static bool read_search(im_request_t *req, log_query_t *q)
{
    bool regex = false;

    if (!im_req_query_bool(req, "regex", false, &regex)) {
        return false;
    }
    q->search = im_req_query(req, "search");
    if (!q->search || !q->search[0]) {
        q->search = NULL;
        return true;
    }
    if (strlen(q->search) > SEARCH_MAX) {
        im_resp_invalid(req, "query", "search", "must be at most %d characters", SEARCH_MAX);
        return false;
    }
    if (!regex) {
        return true;
    }
    if (has_back_reference(q->search)) {
        im_resp_invalid(req, "query", "search",
                        "back-references (\\1 to \\9) are not allowed in a regex search");
        return false;
    }
    int error = regcomp(&q->regex, q->search, REG_EXTENDED | REG_NOSUB);
    if (error) {
        char message[256];
        regerror(error, &q->regex, message, sizeof(message));
        im_resp_invalid(req, "query", "search", "invalid POSIX extended regex: %s", message);
        return false;
    }
    q->use_regex = true;
    return true;
}

static void query_release(log_query_t *q)
{
    if (q->use_regex) {
        regfree(&q->regex);
        q->use_regex = false;
    }
}

/* Parses an event id: "T" for the first line stamped T (nanoseconds), "T-N" for the Nth.
 * Podman stamps lines to the whole second, so several lines share T. */
static bool parse_event_id(const char *id, int64_t *ts_ns, int64_t *position)
{
    char text[48];
    im_strlcpy(text, id, sizeof(text));
    char *dash = strchr(text, '-');
    *position = 1;
    if (dash) {
        *dash = '\0';
        if (!im_parse_int64(dash + 1, 1, INT64_MAX, position)) {
            return false;
        }
    }
    return strlen(id) < sizeof(text) && im_parse_int64(text, 1, INT64_MAX, ts_ns);
}

/* Reads and checks every query parameter; false after sending a 422. */
static bool read_query(im_request_t *req, log_query_t *q)
{
    const char *tail = im_req_query(req, "tail");
    const char *last_event_id = im_req_header(req, "Last-Event-ID");

    memset(q, 0, sizeof(*q));
    if (!im_req_query_bool(req, "stdout", true, &q->want_stdout) ||
        !im_req_query_bool(req, "stderr", true, &q->want_stderr) ||
        !im_req_query_bool(req, "timestamps", false, &q->timestamps) ||
        !im_req_query_bool(req, "follow", false, &q->follow) ||
        !im_req_query_bool(req, "download", false, &q->download) ||
        !read_time_param(req, "since", &q->since_ns) ||
        !read_time_param(req, "until", &q->until_ns)) {
        return false;
    }
    if (!last_event_id) {
        last_event_id = im_req_query(req, "last_event_id");
    }
    if (last_event_id && !parse_event_id(last_event_id, &q->after_ns, &q->after_count)) {
        im_resp_invalid(req, "header", "Last-Event-ID",
                        "must be the id of an event of this stream: nanoseconds, optionally "
                        "followed by -N");
        return false;
    }
    if (!q->want_stdout && !q->want_stderr) {
        im_resp_invalid(req, "query", "stdout", "at least one of stdout and stderr must be true");
        return false;
    }
    int64_t tail_lines = 0;
    if (tail && strcmp(tail, "all") != 0 && !im_parse_int64(tail, 0, TAIL_MAX, &tail_lines)) {
        im_resp_invalid(req, "query", "tail", "must be all or a number from 0 to %d", TAIL_MAX);
        return false;
    }
    // A resume needs every line after its point, so tail only applies when asked for.
    bool resuming = q->after_ns || q->since_ns;
    im_strlcpy(q->tail, tail ? tail : (resuming ? "all" : DEFAULT_TAIL), sizeof(q->tail));
    if (q->after_ns && q->after_ns + 1 > q->since_ns) {
        q->since_ns = q->after_ns;
    }
    if (q->follow && q->download) {
        im_resp_invalid(req, "query", "download", "cannot be combined with follow");
        return false;
    }
    return read_search(req, q);
}

static char *engine_logs_path(const char *id, const log_query_t *q, bool follow, int64_t since_ns,
                              const char *tail)
{
    im_buf_t path;

    im_buf_init(&path);
    im_buf_appendf(&path,
                   "/containers/%s/logs?stdout=%d&stderr=%d&timestamps=1&follow=%d&tail=", id,
                   q->want_stdout, q->want_stderr, follow);
    im_engine_url_escape(&path, tail);
    if (since_ns > 0) {
        im_buf_appendf(&path, "&since=%lld.%09lld", (long long)(since_ns / 1000000000LL),
                       (long long)(since_ns % 1000000000LL));
    }
    if (q->until_ns > 0) {
        im_buf_appendf(&path, "&until=%lld.%09lld", (long long)(q->until_ns / 1000000000LL),
                       (long long)(q->until_ns % 1000000000LL));
    }
    return im_buf_detach(&path, NULL);
}

/* ---- per-line filtering ------------------------------------------------------------------ */

typedef struct {
    const log_query_t *q;
    int64_t after_ns;
    /* Lines stamped exactly after_ns to skip before passing later ones; 0 skips them all.
     * Podman 4.3 stamps log lines to the whole second, so several lines share a stamp and a
     * merged follow must skip only those its backlog already sent.
     * NOTE: the backlog counts only lines that matched the search, so a searched merged
     * follow on Podman can repeat a matching line of the backlog's last second. */
    int64_t after_count;
    int64_t skipped_at_after;
    /* The stamp of the latest line read and its position among the lines with that stamp
     * (1 for the first), which make up its event id. */
    int64_t position_ts_ns;
    int64_t position;
    int64_t search_spent_ns;
    bool search_exhausted;
} line_filter_t;

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Splits the engine's "TIMESTAMP text" into *out. Returns false for a line without one. */
static bool split_timestamp(im_stream_kind_t stream, const char *line, size_t len, log_line_t *out)
{
    const char *space = memchr(line, ' ', len);
    size_t ts_len = space ? (size_t)(space - line) : len;

    out->stream = stream;
    out->ts_ns = 0;
    out->timestamp[0] = '\0';
    out->text = line;
    out->len = len;
    if (ts_len == 0 || ts_len >= TIMESTAMP_SIZE) {
        return false;
    }
    memcpy(out->timestamp, line, ts_len);
    out->timestamp[ts_len] = '\0';
    if (!im_time_parse_rfc3339(out->timestamp, &out->ts_ns)) {
        out->timestamp[0] = '\0';
        out->ts_ns = 0;
        return false;
    }
    out->text = space ? space + 1 : line + len;
    out->len = space ? len - ts_len - 1 : 0;
    return true;
}

/* Advances the position of a line stamped ts_ns among the lines with the same stamp. */
static void note_position(line_filter_t *f, int64_t ts_ns)
{
    if (!ts_ns) {
        return;
    }
    if (ts_ns == f->position_ts_ns) {
        f->position++;
    } else {
        f->position_ts_ns = ts_ns;
        f->position = 1;
    }
}

/* Returns true when the line passes the resume point, the time range and the search. */
static bool line_selected(line_filter_t *f, const log_line_t *line)
{
    const log_query_t *q = f->q;

    if (f->after_ns && line->ts_ns && line->ts_ns < f->after_ns) {
        return false;
    }
    if (f->after_ns && line->ts_ns == f->after_ns &&
        (f->after_count == 0 || f->skipped_at_after++ < f->after_count)) {
        return false;
    }
    if (q->until_ns && line->ts_ns > q->until_ns) {
        return false;
    }
    if (!q->search) {
        return true;
    }
    if (!q->use_regex) {
        return memmem(line->text, line->len, q->search, strlen(q->search)) != NULL;
    }
    if (f->search_exhausted) {
        return false;
    }
    int64_t started = monotonic_ns();
    // line->text is NUL-terminated at len by the demultiplexer.
    bool match = regexec(&q->regex, line->text, 0, NULL, 0) == 0;
    f->search_spent_ns += monotonic_ns() - started;
    if (f->search_spent_ns > SEARCH_BUDGET_NS) {
        f->search_exhausted = true;
    }
    return match;
}

static const char *stream_name(im_stream_kind_t stream)
{
    return stream == IM_STREAM_STDERR ? "stderr" : "stdout";
}

static json_t *line_json(const log_line_t *line, const container_ref_t *tag)
{
    json_t *item = json_object();

    json_object_set_new(item, "stream", json_string(stream_name(line->stream)));
    json_object_set_new(item, "timestamp",
                        line->timestamp[0] ? json_string(line->timestamp) : json_null());
    json_object_set_new(item, "text", json_stringn(line->text, line->len));
    if (tag) {
        json_object_set_new(item, "container_id", json_string(tag->id));
        json_object_set_new(item, "container_name", json_string(tag->name));
    }
    return item;
}

/* ---- resolving containers ---------------------------------------------------------------- */

static bool resolve_container(im_request_t *req, const char *ref, container_ref_t *out)
{
    char err[ERROR_SIZE] = "";
    json_t *inspect = NULL;
    const char *bare = (ref && ref[0] == '/') ? ref + 1 : ref;

    if (!im_container_ref_is_valid(bare)) {
        im_resp_invalid(req, "path", "id",
                        "must be a container name, full id or id prefix of at least %d hex "
                        "digits, got \"%.64s\"",
                        IM_CONTAINER_PREFIX_MIN, ref ? ref : "");
        return false;
    }
    int rc = im_container_inspect(im_req_app(req)->engine, ref, &inspect, err, sizeof(err));
    if (rc) {
        im_resp_from_rc(req, rc, err);
        return false;
    }
    const char *id = json_string_value(json_object_get(inspect, "Id"));
    const char *name = json_string_value(json_object_get(inspect, "Name"));
    json_t *tty = json_object_get(json_object_get(inspect, "Config"), "Tty");
    im_strlcpy(out->id, id ? id : "", sizeof(out->id));
    im_strlcpy(out->name, name && name[0] == '/' ? name + 1 : (name ? name : ""),
               sizeof(out->name));
    out->tty = json_is_true(tty);
    json_decref(inspect);
    return true;
}

/* ---- collecting lines (JSON replies and the backlog of merged follows) -------------------- */

typedef struct {
    im_stream_kind_t stream;
    int64_t ts_ns;
    char timestamp[TIMESTAMP_SIZE];
    char *text;
    size_t len;
    int source;
    size_t seq; /* arrival order, so that sorting keeps lines of equal time in order */
} stored_line_t;

typedef struct {
    stored_line_t *items;
    size_t start; /* index of the oldest kept line */
    size_t count; /* total appended, kept lines are [start, count) */
    size_t cap;
    size_t bytes;
    bool truncated;
} line_store_t;

static void store_push(line_store_t *store, const log_line_t *line, int source)
{
    if (store->count == store->cap) {
        // Compact before growing so that dropped lines do not keep their slots.
        if (store->start > 0) {
            memmove(store->items, store->items + store->start,
                    (store->count - store->start) * sizeof(*store->items));
            store->count -= store->start;
            store->start = 0;
        }
        if (store->count == store->cap) {
            store->cap = store->cap ? store->cap * 2 : 1024;
            store->items = im_realloc(store->items, store->cap * sizeof(*store->items));
        }
    }
    stored_line_t *item = &store->items[store->count++];
    item->stream = line->stream;
    item->ts_ns = line->ts_ns;
    memcpy(item->timestamp, line->timestamp, sizeof(item->timestamp));
    item->text = im_strndup(line->text, line->len);
    item->len = line->len;
    item->source = source;
    item->seq = store->count;
    // Count a line's fixed overhead too, so that many short lines are bounded as well.
    store->bytes += line->len + sizeof(*item);
    while (store->bytes > JSON_MAX_BYTES && store->start < store->count) {
        stored_line_t *oldest = &store->items[store->start++];
        store->bytes -= oldest->len + sizeof(*oldest);
        free(oldest->text);
        store->truncated = true;
    }
}

static void store_release(line_store_t *store)
{
    for (size_t i = store->start; i < store->count; i++) {
        free(store->items[i].text);
    }
    free(store->items);
    memset(store, 0, sizeof(*store));
}

static int compare_lines(const void *a, const void *b)
{
    const stored_line_t *x = a;
    const stored_line_t *y = b;

    if (x->ts_ns != y->ts_ns) {
        return x->ts_ns < y->ts_ns ? -1 : 1;
    }
    if (x->source != y->source) {
        return x->source - y->source;
    }
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

typedef struct {
    line_filter_t filter;
    line_store_t *store;
    int source;
    im_demux_t demux;
    bool tty;
} collect_ctx_t;

static int collect_line(void *ctx, im_stream_kind_t stream, const char *text, size_t len,
                        bool complete)
{
    collect_ctx_t *c = ctx;
    log_line_t line;

    split_timestamp(stream, text, len, &line);
    if (line_selected(&c->filter, &line)) {
        store_push(c->store, &line, c->source);
    }
    return 0;
}

static int collect_response(void *ctx, long status, const char *content_type)
{
    collect_ctx_t *c = ctx;

    c->demux.mode = im_demux_mode_for(content_type, c->tty);
    return 0;
}

static int collect_data(void *ctx, const char *data, size_t len)
{
    collect_ctx_t *c = ctx;
    int rc = im_demux_feed(&c->demux, data, len);
    return rc == IM_EINVAL ? 1 : 0;
}

/* Reads the selected lines of one container (follow off) into store. Returns false after
 * sending an error. */
static bool collect_container(im_request_t *req, const log_query_t *q, const container_ref_t *c,
                              int source, line_store_t *store, bool *search_exhausted)
{
    char err[ERROR_SIZE] = "";
    collect_ctx_t ctx = {.filter = {.q = q, .after_ns = q->after_ns, .after_count = q->after_count},
                         .store = store,
                         .source = source,
                         .tty = c->tty};
    im_engine_stream_callbacks_t cb = {
        .on_response = collect_response, .on_data = collect_data, .ctx = &ctx};
    char *path = engine_logs_path(c->id, q, false, q->since_ns, q->tail);

    im_demux_init_lines(&ctx.demux, IM_DEMUX_AUTO, 0, collect_line, &ctx);
    im_demux_strip_continuation(&ctx.demux);
    int rc = im_engine_stream_run(im_req_app(req)->engine, "GET", path, NULL,
                                  IM_ENGINE_DEFAULT_TIMEOUT_MS, &cb, err, sizeof(err));
    if (rc == IM_OK && im_demux_finish(&ctx.demux) == IM_EINVAL) {
        im_log_warn(LOG_MODULE, "the log stream of %s ended inside a frame", c->name);
    } else if (rc == IM_ECONFLICT) {
        snprintf(err, sizeof(err),
                 "the engine's log stream for %s is not a valid multiplexed "
                 "stream",
                 c->name);
        rc = IM_EUPSTREAM;
    }
    im_demux_release(&ctx.demux);
    free(path);
    *search_exhausted = *search_exhausted || ctx.filter.search_exhausted;
    if (rc) {
        im_resp_from_rc(req, rc, err);
        return false;
    }
    return true;
}

static void send_json_lines(im_request_t *req, const log_query_t *q, const container_ref_t *refs,
                            size_t ref_count, line_store_t *store, bool search_exhausted)
{
    json_t *lines = json_array();
    im_buf_t text;
    bool merged = q->merged || ref_count > 1;

    im_buf_init(&text);
    im_buf_append(&text, "", 0);
    for (size_t i = store->start; i < store->count; i++) {
        stored_line_t *s = &store->items[i];
        log_line_t line = {.stream = s->stream, .ts_ns = s->ts_ns, .text = s->text, .len = s->len};
        memcpy(line.timestamp, s->timestamp, sizeof(line.timestamp));
        json_array_append_new(lines, line_json(&line, merged ? &refs[s->source] : NULL));
        if (merged) {
            im_buf_appendf(&text, "[%s] ", refs[s->source].name);
        }
        if (s->timestamp[0] && q->timestamps) {
            im_buf_appendf(&text, "%s ", s->timestamp);
        }
        im_buf_append(&text, s->text, s->len);
        im_buf_append(&text, "\n", 1);
    }
    json_t *body = json_object();
    json_object_set_new(body, "logs", json_stringn(text.data, text.len));
    json_object_set_new(body, "lines", lines);
    json_object_set_new(body, "truncated", json_boolean(store->truncated));
    json_object_set_new(body, "search_truncated", json_boolean(search_exhausted));
    if (merged) {
        json_t *ids = json_array();
        for (size_t i = 0; i < ref_count; i++) {
            json_array_append_new(ids, json_pack("{s:s, s:s}", "container_id", refs[i].id,
                                                 "container_name", refs[i].name));
        }
        json_object_set_new(body, "containers", ids);
    } else {
        json_object_set_new(body, "container_id", json_string(refs[0].id));
        json_object_set_new(body, "container_name", json_string(refs[0].name));
    }
    im_buf_release(&text);
    im_resp_json(req, 200, body);
}

/* ---- streaming (follow and download) ----------------------------------------------------- */

typedef struct follow follow_t;

typedef struct {
    follow_t *follow;
    container_ref_t ref;
    line_filter_t filter;
    im_demux_t demux;
    im_buf_t out; /* formatted lines not yet handed to the HTTP stream */
    bool failed;
} source_t;

struct follow {
    atomic_int refs; /* one per source thread and one for the handler while it sets up */
    atomic_bool stop;
    im_http_stream_t *stream;
    log_query_t query;
    bool merged;
    bool download;
    size_t source_count;
    source_t *sources;
    pthread_mutex_t lock; /* guards end_reason */
    char end_reason[256];
};

static size_t format_drop_marker(char *buf, size_t size, uint64_t dropped)
{
    int n = snprintf(buf, size, "event: dropped\ndata: {\"dropped\":%llu}\n\n",
                     (unsigned long long)dropped);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static void on_client_closed(void *ctx)
{
    follow_t *f = ctx;
    atomic_store(&f->stop, true);
}

static void follow_unref(follow_t *f)
{
    if (atomic_fetch_sub(&f->refs, 1) != 1) {
        return;
    }
    if (!f->download) {
        char *reason = im_asprintf("event: end\ndata: {\"reason\":\"%s\"}\n\n",
                                   f->end_reason[0] ? f->end_reason : "container stopped");
        (void)im_http_stream_write(f->stream, reason, strlen(reason));
        free(reason);
    }
    im_http_stream_end(f->stream);
    im_http_stream_release(f->stream);
    for (size_t i = 0; i < f->source_count; i++) {
        im_demux_release(&f->sources[i].demux);
        im_buf_release(&f->sources[i].out);
    }
    query_release(&f->query);
    pthread_mutex_destroy(&f->lock);
    free(f->sources);
    free(f);
}

static int flush_source(source_t *s)
{
    if (s->out.len == 0) {
        return 0;
    }
    int rc = im_http_stream_write(s->follow->stream, s->out.data, s->out.len);
    im_buf_reset(&s->out);
    return rc == IM_OK ? 0 : 1;
}

static void append_json_string(im_buf_t *out, const char *text, size_t len)
{
    json_t *value = json_stringn(text, len);
    char *encoded = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
    im_buf_append(out, encoded, strlen(encoded));
    free(encoded);
    json_decref(value);
}

static void format_event(source_t *s, const log_line_t *line)
{
    im_buf_t *out = &s->out;

    if (line->ts_ns && s->filter.position > 1 && s->filter.position_ts_ns == line->ts_ns) {
        im_buf_appendf(out, "id: %lld-%lld\n", (long long)line->ts_ns,
                       (long long)s->filter.position);
    } else if (line->ts_ns) {
        im_buf_appendf(out, "id: %lld\n", (long long)line->ts_ns);
    }
    im_buf_appendf(out, "data: {\"stream\":\"%s\",\"timestamp\":", stream_name(line->stream));
    if (line->timestamp[0]) {
        im_buf_appendf(out, "\"%s\"", line->timestamp);
    } else {
        im_buf_append(out, "null", 4);
    }
    im_buf_append(out, ",\"text\":", 8);
    append_json_string(out, line->text, line->len);
    if (s->follow->merged) {
        im_buf_appendf(out, ",\"container_id\":\"%s\",\"container_name\":", s->ref.id);
        append_json_string(out, s->ref.name, strlen(s->ref.name));
    }
    im_buf_append(out, "}\n\n", 3);
}

/* Formats a line of a download. A piece of an over-long line and a last line without a
 * newline get none, so the download has the container's bytes as `docker logs` prints
 * them (apart from invalid UTF-8, which is replaced). */
static void format_text(source_t *s, const log_line_t *line, bool complete)
{
    im_buf_t *out = &s->out;

    if (s->follow->merged) {
        im_buf_appendf(out, "[%s] ", s->ref.name);
    }
    if (s->follow->query.timestamps && line->timestamp[0]) {
        im_buf_appendf(out, "%s ", line->timestamp);
    }
    im_buf_append(out, line->text, line->len);
    if (complete) {
        im_buf_append(out, "\n", 1);
    }
}

static int stream_line(void *ctx, im_stream_kind_t stream, const char *text, size_t len,
                       bool complete)
{
    source_t *s = ctx;
    log_line_t line;

    split_timestamp(stream, text, len, &line);
    note_position(&s->filter, line.ts_ns);
    if (!line_selected(&s->filter, &line)) {
        return 0;
    }
    if (s->follow->download) {
        format_text(s, &line, complete);
    } else {
        format_event(s, &line);
    }
    return s->out.len >= FLUSH_BYTES ? flush_source(s) : 0;
}

static int stream_response(void *ctx, long status, const char *content_type)
{
    source_t *s = ctx;

    s->demux.mode = im_demux_mode_for(content_type, s->ref.tty);
    return 0;
}

static int stream_data(void *ctx, const char *data, size_t len)
{
    source_t *s = ctx;

    if (atomic_load(&s->follow->stop)) {
        return 1;
    }
    int rc = im_demux_feed(&s->demux, data, len);
    if (rc == IM_EINVAL) {
        s->failed = true;
        return 1;
    }
    if (rc != IM_OK) {
        return 1;
    }
    // A follow flushes at the end of every read so that a new line goes out at once. A
    // download ends by itself, so it hands on FLUSH_BYTES at a time (and the rest at the
    // end), which wakes the HTTP thread once per 64 KiB instead of once per engine read.
    return s->follow->download && s->out.len < FLUSH_BYTES ? 0 : flush_source(s);
}

static int stream_idle(void *ctx)
{
    source_t *s = ctx;
    follow_t *f = s->follow;

    if (atomic_load(&f->stop) || !im_http_stream_is_open(f->stream)) {
        return 1;
    }
    if (!f->download && im_http_stream_idle_ms(f->stream) >= KEEPALIVE_MS) {
        static const char keepalive[] = ": keepalive\n\n";
        if (im_http_stream_write(f->stream, keepalive, strlen(keepalive)) != IM_OK) {
            return 1;
        }
    }
    return 0;
}

static void stream_end(void *ctx, int rc, const char *err)
{
    source_t *s = ctx;
    follow_t *f = s->follow;

    if (rc == IM_OK) {
        if (im_demux_finish(&s->demux) == IM_EINVAL) {
            im_log_warn(LOG_MODULE, "the log stream of %s ended inside a frame", s->ref.name);
        }
        flush_source(s);
    } else if (rc != IM_ECONFLICT || s->failed) {
        im_log_warn(LOG_MODULE, "log stream of container %s ended: %s", s->ref.name,
                    s->failed ? "the engine's stream is not a valid multiplexed stream" : err);
        pthread_mutex_lock(&f->lock);
        snprintf(f->end_reason, sizeof(f->end_reason), "engine stream failed");
        pthread_mutex_unlock(&f->lock);
    }
    follow_unref(f);
}

/* Starts one engine stream per source; a source that cannot start is logged and skipped. */
static void start_sources(follow_t *f, struct im_engine *engine, bool follow_mode)
{
    for (size_t i = 0; i < f->source_count; i++) {
        source_t *s = &f->sources[i];
        char err[ERROR_SIZE] = "";
        int64_t since = s->filter.after_ns ? s->filter.after_ns : f->query.since_ns;
        const char *tail = s->filter.after_ns || f->merged ? "all" : f->query.tail;
        char *path = engine_logs_path(s->ref.id, &f->query, follow_mode, since, tail);
        // The engine sends the lines stamped `since` again, so positions count afresh.
        s->filter.position_ts_ns = 0;
        s->filter.position = 0;
        s->filter.skipped_at_after = 0;
        im_engine_stream_callbacks_t cb = {.on_response = stream_response,
                                           .on_data = stream_data,
                                           .on_idle = stream_idle,
                                           .on_end = stream_end,
                                           .ctx = s};
        atomic_fetch_add(&f->refs, 1);
        if (im_engine_stream_start(engine, "GET", path, NULL, 0, &cb, err, sizeof(err)) != IM_OK) {
            im_log_error(LOG_MODULE, "cannot follow the log of %s: %s", s->ref.name, err);
            atomic_fetch_sub(&f->refs, 1);
        }
        free(path);
    }
}

static follow_t *follow_new(const log_query_t *q, const container_ref_t *refs, size_t count,
                            bool download)
{
    follow_t *f = im_calloc(1, sizeof(*f));

    atomic_init(&f->refs, 1);
    atomic_init(&f->stop, false);
    f->query = *q; // the follow owns the compiled regex now
    f->merged = q->merged || count > 1;
    f->download = download;
    f->source_count = count;
    f->sources = im_calloc(count, sizeof(*f->sources));
    pthread_mutex_init(&f->lock, NULL);
    for (size_t i = 0; i < count; i++) {
        source_t *s = &f->sources[i];
        s->follow = f;
        s->ref = refs[i];
        s->filter.q = &f->query;
        s->filter.after_ns = q->after_ns;
        s->filter.after_count = q->after_count;
        im_buf_init(&s->out);
        im_demux_init_lines(&s->demux, IM_DEMUX_AUTO, 0, stream_line, s);
        im_demux_strip_continuation(&s->demux);
    }
    return f;
}

/* Writes lines already collected (the time-ordered backlog of a merged follow) into the
 * stream in store order and moves each source's resume point past them. */
static void write_backlog(follow_t *f, line_store_t *store, int64_t collected_at_ns)
{
    // Each line is formatted into its source's buffer and moved at once to one shared
    // buffer, because flushing per source would send every line of the first container
    // before those of the second.
    im_buf_t backlog;
    im_buf_init(&backlog);
    // A source without backlog lines follows from the start of the second in which the
    // backlog was read, so that a line stamped to the whole second (Podman) is not lost.
    int64_t read_second_ns = collected_at_ns - collected_at_ns % 1000000000LL;
    for (size_t i = 0; i < f->source_count; i++) {
        if (f->sources[i].filter.after_ns < read_second_ns) {
            f->sources[i].filter.after_ns = read_second_ns - 1;
            f->sources[i].filter.after_count = 0;
        }
    }
    for (size_t i = store->start; i < store->count; i++) {
        stored_line_t *item = &store->items[i];
        source_t *s = &f->sources[item->source];
        log_line_t line = {
            .stream = item->stream, .ts_ns = item->ts_ns, .text = item->text, .len = item->len};
        memcpy(line.timestamp, item->timestamp, sizeof(line.timestamp));
        note_position(&s->filter, item->ts_ns);
        if (f->download) {
            format_text(s, &line, true);
        } else {
            format_event(s, &line);
        }
        if (item->ts_ns > s->filter.after_ns) {
            s->filter.after_ns = item->ts_ns;
            s->filter.after_count = 1;
        } else if (item->ts_ns == s->filter.after_ns && s->filter.after_count > 0) {
            s->filter.after_count++;
        }
        im_buf_append(&backlog, s->out.data, s->out.len);
        im_buf_reset(&s->out);
        if (backlog.len >= FLUSH_BYTES) {
            (void)im_http_stream_write(f->stream, backlog.data, backlog.len);
            im_buf_reset(&backlog);
        }
    }
    if (backlog.len > 0) {
        (void)im_http_stream_write(f->stream, backlog.data, backlog.len);
    }
    im_buf_release(&backlog);
}

static void respond_streaming(im_request_t *req, log_query_t *q, const container_ref_t *refs,
                              size_t count)
{
    bool download = q->download;
    follow_t *f = follow_new(q, refs, count, download);
    im_http_stream_options_t opts = {
        .content_type = download ? "text/plain; charset=utf-8" : "text/event-stream",
        .policy = download ? IM_HTTP_STREAM_BLOCK : IM_HTTP_STREAM_DROP_OLDEST,
        .max_queued = download ? DOWNLOAD_QUEUE_MAX : FOLLOW_QUEUE_MAX,
        .format_drop_marker = download ? NULL : format_drop_marker,
        .on_closed = on_client_closed,
        .ctx = f,
    };

    memset(q, 0, sizeof(*q)); // the regex moved into the follow
    if (download) {
        char disposition[IM_CONTAINER_NAME_SIZE + 64];
        snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s.log\"",
                 f->merged ? "containers" : refs[0].name);
        im_resp_header(req, "Content-Disposition", disposition);
    } else {
        im_resp_header(req, "X-Accel-Buffering", "no");
    }
    f->stream = im_http_stream_respond(req, &opts);
    if (!download) {
        static const char hello[] = ": stream open\n\n";
        (void)im_http_stream_write(f->stream, hello, strlen(hello));
    }
    start_sources(f, im_req_app(req)->engine, !download);
    follow_unref(f); // the handler's reference; the source threads hold theirs
}

/* ---- handlers ---------------------------------------------------------------------------- */

static bool check_download_role(im_request_t *req, const log_query_t *q)
{
    if (q->download && !im_req_has_role(req, IM_ROLE_OPERATOR)) {
        im_resp_error(req, 403, "downloading logs requires the operator role; you have %s",
                      im_role_name(im_req_principal(req)->role));
        return false;
    }
    return true;
}

static void serve_logs(im_request_t *req, log_query_t *q, container_ref_t *refs, size_t count)
{
    line_store_t store = {0};
    bool search_exhausted = false;

    if (q->download) {
        im_api_audit(req, "container.logs.download", "container", refs[0].id, true, NULL);
    }
    // One container of GET /containers/{id}/logs streams straight from the engine. Merged
    // requests read a time-ordered backlog first, so their sources follow with tail=all.
    if ((q->download || q->follow) && count == 1 && !q->merged) {
        respond_streaming(req, q, refs, count);
        return;
    }
    // Merged: read each container's selection, sort by time, then stream or reply.
    int64_t collected_at_ns = im_now_ms() * 1000000LL;
    for (size_t i = 0; i < count; i++) {
        if (!collect_container(req, q, &refs[i], (int)i, &store, &search_exhausted)) {
            goto out;
        }
    }
    /* store.items is NULL while no line was read, and qsort must not get a NULL array. */
    if (q->merged && store.count > store.start) {
        qsort(store.items + store.start, store.count - store.start, sizeof(*store.items),
              compare_lines);
    }
    if (!q->follow && !q->download) {
        send_json_lines(req, q, refs, count, &store, search_exhausted);
        goto out;
    }
    bool download = q->download;
    follow_t *f = follow_new(q, refs, count, download);
    memset(q, 0, sizeof(*q)); // the regex moved into the follow
    im_http_stream_options_t opts = {
        .content_type = download ? "text/plain; charset=utf-8" : "text/event-stream",
        .policy = download ? IM_HTTP_STREAM_BLOCK : IM_HTTP_STREAM_DROP_OLDEST,
        // The backlog is queued from this handler, before the client can read: a merged
        // download queues it whole (the store above caps it at JSON_MAX_BYTES).
        .max_queued = download ? SIZE_MAX : FOLLOW_QUEUE_MAX,
        .format_drop_marker = download ? NULL : format_drop_marker,
        .on_closed = on_client_closed,
        .ctx = f,
    };
    if (download) {
        im_resp_header(req, "Content-Disposition", "attachment; filename=\"containers.log\"");
    }
    f->stream = im_http_stream_respond(req, &opts);
    // NOTE: a merged follow's backlog larger than FOLLOW_QUEUE_MAX loses its oldest lines
    // (replaced by a dropped event), because it is queued before the client reads.
    write_backlog(f, &store, collected_at_ns);
    if (!download) {
        start_sources(f, im_req_app(req)->engine, true);
    }
    follow_unref(f);

out:
    store_release(&store);
}

static void container_logs(im_request_t *req)
{
    log_query_t q;
    container_ref_t ref;

    if (!read_query(req, &q)) {
        return;
    }
    if (check_download_role(req, &q) && resolve_container(req, im_req_param(req, "id"), &ref)) {
        serve_logs(req, &q, &ref, 1);
    }
    query_release(&q);
}

typedef struct {
    im_request_t *req;
    const char *field; /* the query parameter that selected the containers */
    container_ref_t *refs;
    size_t count;
    bool failed;
} id_list_t;

/* Resolves ref and appends it to the list; on failure sends the error and marks the list
 * failed. */
static void add_ref(id_list_t *list, const char *ref)
{
    if (list->count == MERGE_MAX) {
        im_resp_invalid(list->req, "query", list->field,
                        "selects more than %d containers; name at most %d with container_ids",
                        MERGE_MAX, MERGE_MAX);
        list->failed = true;
        return;
    }
    if (!resolve_container(list->req, ref, &list->refs[list->count])) {
        list->failed = true;
        return;
    }
    list->count++;
}

static void add_ids(id_list_t *list, const char *value)
{
    char *copy = im_strdup(value);
    char *save = NULL;

    for (char *tok = strtok_r(copy, ",", &save); tok && !list->failed;
         tok = strtok_r(NULL, ",", &save)) {
        if (tok[0]) {
            add_ref(list, tok);
        }
    }
    free(copy);
}

/* Resolves one container_ids value (comma-separated; the parameter may repeat). */
static void collect_ids(void *ctx, const char *value)
{
    id_list_t *list = ctx;

    if (value && !list->failed) {
        add_ids(list, value);
    }
}

/* Selects every container, running or not, whose compose project label is name. */
static void select_project(id_list_t *list, const char *name)
{
    char err[ERROR_SIZE] = "";
    json_t *items = NULL;
    json_t *item = NULL;
    size_t i = 0;

    if (!im_compose_name_is_valid(name)) {
        im_resp_invalid(list->req, "query", "compose_project",
                        "must be a compose project name: a-z, 0-9, _ and -, 1 to 63 characters");
        list->failed = true;
        return;
    }
    int rc = im_container_list(im_req_app(list->req)->engine, true, &items, err, sizeof(err));
    if (rc) {
        im_resp_from_rc(list->req, rc, err);
        list->failed = true;
        return;
    }
    json_array_foreach(items, i, item)
    {
        const char *project = json_string_value(json_object_get(item, "compose_project"));
        const char *id = json_string_value(json_object_get(item, "container_id"));
        if (project && id && strcmp(project, name) == 0 && !list->failed) {
            add_ref(list, id);
        }
    }
    json_decref(items);
    if (!list->failed && list->count == 0) {
        im_resp_error(list->req, 404, "compose project %s not found: no container has its label",
                      name);
        list->failed = true;
    }
}

/* Selects the members of a group that exist now; names that no container has are skipped. */
static void select_group(id_list_t *list, const char *group_text)
{
    im_store_t *store = im_req_app(list->req)->store;
    int64_t group_id = 0;
    im_store_group_t group;
    im_store_strings_t names = {0};

    if (!im_parse_int64(group_text, 1, INT64_MAX, &group_id)) {
        im_resp_invalid(list->req, "query", "group_id", "must be a positive integer group id");
        list->failed = true;
        return;
    }
    int rc = im_store_group_get(store, group_id, &group);
    if (rc == IM_OK) {
        rc = im_store_group_member_list(store, group_id, &names);
    }
    if (rc) {
        im_resp_from_rc(list->req, rc == IM_ENOTFOUND ? rc : IM_EUNAVAILABLE,
                        rc == IM_ENOTFOUND ? "group not found" : "cannot read the group");
        list->failed = true;
        return;
    }
    for (size_t i = 0; i < names.count && !list->failed; i++) {
        char id[IM_CONTAINER_ID_SIZE];
        char name[IM_CONTAINER_NAME_SIZE];
        char err[ERROR_SIZE] = "";
        rc = im_container_resolve(im_req_app(list->req)->engine, names.items[i], id, name, err,
                                  sizeof(err));
        if (rc == IM_OK) {
            add_ref(list, id);
        } else if (rc != IM_ENOTFOUND) {
            im_resp_from_rc(list->req, rc, err);
            list->failed = true;
        }
    }
    if (!list->failed && list->count == 0) {
        im_resp_error(list->req, 404, "no member of group %s exists as a container right now",
                      group.name);
        list->failed = true;
    }
    im_store_strings_release(&names);
}

static void merged_logs(im_request_t *req)
{
    log_query_t q;
    container_ref_t refs[MERGE_MAX];
    id_list_t list = {.req = req, .field = "container_ids", .refs = refs};
    const char *project = im_req_query(req, "compose_project");
    const char *group = im_req_query(req, "group_id");
    bool by_ids = im_req_query(req, "container_ids") != NULL;

    if (!read_query(req, &q)) {
        return;
    }
    q.merged = true;
    if (!check_download_role(req, &q)) {
        goto out;
    }
    if ((int)by_ids + (project != NULL) + (group != NULL) != 1) {
        im_resp_invalid(req, "query", "container_ids",
                        "give exactly one of container_ids (container ids or names, "
                        "comma-separated), compose_project or group_id");
        goto out;
    }
    if (project) {
        list.field = "compose_project";
        select_project(&list, project);
    } else if (group) {
        list.field = "group_id";
        select_group(&list, group);
    } else {
        im_req_query_each(req, "container_ids", collect_ids, &list);
    }
    if (list.failed) {
        goto out;
    }
    if (list.count == 0) {
        im_resp_invalid(req, "query", "container_ids",
                        "is required: one or more container ids or names, comma-separated");
        goto out;
    }
    serve_logs(req, &q, refs, list.count);

out:
    query_release(&q);
}

const im_route_t im_api_logs_routes[] = {
    {"GET", "/api/v1/containers/{id}/logs", IM_ROLE_VIEWER, container_logs,
     "Container logs; follow streams Server-Sent Events, download a text file"},
    {"GET", "/api/v1/logs", IM_ROLE_VIEWER, merged_logs,
     "Logs of several containers (by ids, compose project or group) merged in time order"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL},
};
