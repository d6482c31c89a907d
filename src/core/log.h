#ifndef IM_CORE_LOG_H
#define IM_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* Leveled logging to stderr, one line per message, as text or as JSON objects. */
typedef enum {
    IM_LOG_DEBUG = 0,
    IM_LOG_INFO = 1,
    IM_LOG_WARN = 2,
    IM_LOG_ERROR = 3,
} im_log_level_t;

typedef enum {
    IM_LOG_TEXT = 0,
    IM_LOG_JSON = 1,
} im_log_format_t;

/* Sets the minimum level and the line format; safe to call before any thread starts. */
void im_log_setup(im_log_level_t level, im_log_format_t format);
/* Parses "debug|info|warning|warn|error" (any case). */
bool im_log_parse_level(const char *text, im_log_level_t *out);
bool im_log_level_enabled(im_log_level_t level);

void im_log_write(im_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The level check happens before the arguments are formatted. */
#define im_log(level, module, ...)                                                                 \
    do {                                                                                           \
        if (im_log_level_enabled(level)) {                                                         \
            im_log_write(level, module, __VA_ARGS__);                                              \
        }                                                                                          \
    } while (0)
#define im_log_debug(module, ...) im_log(IM_LOG_DEBUG, module, __VA_ARGS__)
#define im_log_info(module, ...)  im_log(IM_LOG_INFO, module, __VA_ARGS__)
#define im_log_warn(module, ...)  im_log(IM_LOG_WARN, module, __VA_ARGS__)
#define im_log_error(module, ...) im_log(IM_LOG_ERROR, module, __VA_ARGS__)

/* One access-log entry, written at info level under the "access" module. */
typedef struct {
    const char *request_id;
    const char *client_ip;
    const char *user; /* NULL when unauthenticated */
    const char *method;
    const char *path; /* the path only: the query string may carry secrets */
    unsigned status;
    uint64_t bytes;
    double duration_ms;
    const char *user_agent;
} im_access_entry_t;

void im_log_access(const im_access_entry_t *entry);

#endif
