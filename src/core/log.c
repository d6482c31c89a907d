#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "engine/demux.h"

static im_log_level_t min_level = IM_LOG_INFO;
static im_log_format_t line_format = IM_LOG_TEXT;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_names[] = {"debug", "info", "warn", "error"};

/* Returns text as a JSON string with invalid UTF-8 replaced by U+FFFD, or JSON null for NULL.
 * json_pack fails on invalid UTF-8, which would drop the whole log line. */
static json_t *log_string(const char *text)
{
    if (!text) {
        return json_null();
    }
    json_t *value = json_string(text);
    if (value) {
        return value;
    }
    im_buf_t clean;
    im_buf_init(&clean);
    im_utf8_sanitize(&clean, text, strlen(text));
    value = json_string(clean.data ? clean.data : "");
    im_buf_release(&clean);
    return value;
}

void im_log_setup(im_log_level_t level, im_log_format_t format)
{
    min_level = level;
    line_format = format;
}

bool im_log_parse_level(const char *text, im_log_level_t *out)
{
    static const struct {
        const char *name;
        im_log_level_t level;
    } names[] = {{"debug", IM_LOG_DEBUG},
                 {"info", IM_LOG_INFO},
                 {"warning", IM_LOG_WARN},
                 {"warn", IM_LOG_WARN},
                 {"error", IM_LOG_ERROR}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(text, names[i].name) == 0) {
            *out = names[i].level;
            return true;
        }
    }
    return false;
}

bool im_log_level_enabled(im_log_level_t level)
{
    return level >= min_level;
}

static void format_time(char out[40])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

static void emit(const char *line)
{
    pthread_mutex_lock(&write_lock);
    fputs(line, stderr);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&write_lock);
}

void im_log_write(im_log_level_t level, const char *module, const char *fmt, ...)
{
    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);

    char when[40];
    format_time(when);
    if (line_format == IM_LOG_JSON) {
        json_t *obj =
            json_pack("{s:s, s:s, s:i, s:s, s:o}", "time", when, "level", level_names[level], "pid",
                      (int)getpid(), "module", module, "msg", log_string(message));
        char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        if (text) {
            emit(text);
        }
        free(text);
        json_decref(obj);
        return;
    }
    char line[2300];
    snprintf(line, sizeof(line), "%s %-5s [%d] %s: %s", when, level_names[level], (int)getpid(),
             module, message);
    emit(line);
}

void im_log_access(const im_access_entry_t *e)
{
    if (!im_log_level_enabled(IM_LOG_INFO)) {
        return;
    }
    char when[40];
    format_time(when);
    if (line_format == IM_LOG_JSON) {
        json_t *obj = json_pack(
            "{s:s, s:s, s:i, s:s, s:s, s:s, s:o, s:s, s:o, s:i, s:I, s:f, s:o}", "time", when,
            "level", "info", "pid", (int)getpid(), "module", "access", "request_id", e->request_id,
            "client_ip", e->client_ip, "user", log_string(e->user), "method", e->method, "path",
            log_string(e->path), "status", (int)e->status, "bytes", (json_int_t)e->bytes,
            "duration_ms", e->duration_ms, "user_agent", log_string(e->user_agent));
        char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        if (text) {
            emit(text);
        }
        free(text);
        json_decref(obj);
        return;
    }
    /* Escape nothing here: the path was validated as printable by the HTTP layer. */
    char line[2300];
    snprintf(line, sizeof(line), "%s info  [%d] access: %s %s %s %s %s %u %llu %.1fms", when,
             (int)getpid(), e->request_id, e->client_ip, e->user ? e->user : "-", e->method,
             e->path, e->status, (unsigned long long)e->bytes, e->duration_ms);
    emit(line);
}
